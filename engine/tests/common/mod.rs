//! Shared test helpers: the real MNIST directory and running the `mnist` binary.
#![allow(dead_code)]

use mnist_helpers::config::project_path;
use mnist_helpers::data::{load_mnist, Mnist, DEFAULT_DATA_DIR};
use std::path::PathBuf;
use std::process::{Command, Output};

/// The real MNIST data, which the test command's setup fetches and verifies first.
pub fn real_mnist() -> Mnist {
    let dir = project_path(DEFAULT_DATA_DIR);
    load_mnist(&dir).unwrap_or_else(|e| panic!("real MNIST needed ({e:#}); run ./scripts/setup.sh"))
}

/// The data directory of the real MNIST files.
pub fn data_dir() -> PathBuf {
    project_path(DEFAULT_DATA_DIR)
}

/// Runs the `mnist` binary with `args`.
pub fn mnist(args: &[&str]) -> Output {
    mnist_with_env(args, &[])
}

/// Runs the `mnist` binary with `args` and the environment variables `vars` set.
pub fn mnist_with_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist"))
        .args(args)
        .envs(vars.iter().copied())
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run mnist")
}

/// Asserts a failed run printed one error line naming `needle`, and no panic or backtrace.
pub fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected, got: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{stderr:?} should mention {needle:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}
