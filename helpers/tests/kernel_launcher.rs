//! scripts/kernel.sh: each running kernel gets its own persistent build folder, and a kernel that
//! finds them all taken falls back to evcxr's temporary folder.

#![cfg(target_os = "linux")] // the tests hold locks with util-linux's flock command

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kernel.sh")
}

/// Runs the launcher with `env` standing in for evcxr_jupyter; returns the EVCXR_TMPDIR it got.
fn build_folder(root: &Path) -> Option<String> {
    build_folder_with_path(root, &std::env::var("PATH").unwrap())
}

/// [`build_folder`] with the launcher's PATH set to `path`.
fn build_folder_with_path(root: &Path, path: &str) -> Option<String> {
    let out = Command::new(launcher())
        .arg("/usr/bin/env")
        .env("MNIST_ROOT", root)
        .env("PATH", path)
        .env_remove("EVCXR_TMPDIR")
        .output()
        .expect("run scripts/kernel.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("EVCXR_TMPDIR=").map(str::to_string))
}

/// Holds the lock of build folder `slot` (as a running kernel would) until killed.
fn hold(root: &Path, slot: usize) -> Child {
    let lock = root.join(format!("target/kernels/{slot}.lock"));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // --close: only flock itself holds the lock, so killing it frees the lock.
    let mut child = Command::new("flock")
        .arg("--close")
        .arg(&lock)
        .args(["sleep", "60"])
        .stdout(Stdio::null())
        .spawn()
        .expect("flock");
    // Wait until the lock is taken: a non-blocking attempt fails from then on.
    for _ in 0..200 {
        let free = Command::new("flock")
            .args(["--nonblock", "--conflict-exit-code", "3"])
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap();
        if free.code() == Some(3) {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("lock {slot} was never taken");
}

#[test]
fn kernels_take_free_build_folders_in_turn_then_fall_back() {
    let root = tempfile::tempdir().unwrap();
    let folder = |slot: usize| {
        root.path()
            .join(format!("target/kernels/{slot}"))
            .display()
            .to_string()
    };
    // One kernel at a time: always the first folder, so it stays warm.
    assert_eq!(build_folder(root.path()), Some(folder(0)));
    assert_eq!(build_folder(root.path()), Some(folder(0)));
    let mut holders = Vec::new();
    for slot in 0..4 {
        holders.push(hold(root.path(), slot));
        let expected = (slot < 3).then(|| folder(slot + 1));
        assert_eq!(
            build_folder(root.path()),
            expected,
            "{} folders taken",
            slot + 1
        );
    }
    for mut h in holders {
        h.kill().unwrap();
        h.wait().unwrap();
    }
    assert_eq!(build_folder(root.path()), Some(folder(0)));
}

/// A PATH with the tools the launcher needs but no `flock` command, as on macOS.
fn path_without_flock() -> tempfile::TempDir {
    let bin = tempfile::tempdir().unwrap();
    for tool in [
        "bash", "perl", "mkdir", "cmp", "cp", "mv", "grep", "env", "cat",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let target = String::from_utf8(found.stdout).unwrap();
        std::os::unix::fs::symlink(target.trim(), bin.path().join(tool)).unwrap();
    }
    bin
}

#[test]
fn without_a_flock_command_the_launcher_locks_through_perl() {
    let (root, bin) = (tempfile::tempdir().unwrap(), path_without_flock());
    let path = bin.path().to_str().unwrap();
    let folder = |slot: usize| format!("{}/target/kernels/{slot}", root.path().display());
    assert_eq!(build_folder_with_path(root.path(), path), Some(folder(0)));
    let mut holder = hold(root.path(), 0);
    assert_eq!(
        build_folder_with_path(root.path(), path),
        Some(folder(1)),
        "a lock taken by flock(1) is seen by the perl fallback"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn evcxr_config_notice_is_dropped_and_other_output_kept() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(launcher())
        .args(["/bin/sh", "-c"])
        .arg("echo 'No configuration file found, use the default configuration'; echo kept")
        .env("MNIST_ROOT", root.path())
        .output()
        .expect("run scripts/kernel.sh");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept\n");
}

#[test]
fn kernel_slots_moves_the_build_folders() {
    // A class gives each learner their own build folders (docs/classroom.md).
    let root = tempfile::tempdir().unwrap();
    let slots = tempfile::tempdir().unwrap();
    let out = Command::new(launcher())
        .arg("/usr/bin/env")
        .env("MNIST_ROOT", root.path())
        .env("MNIST_KERNEL_SLOTS", slots.path())
        .env_remove("EVCXR_TMPDIR")
        .output()
        .expect("run scripts/kernel.sh");
    let said = String::from_utf8_lossy(&out.stdout);
    let want = format!("EVCXR_TMPDIR={}/0", slots.path().display());
    assert!(said.lines().any(|l| l == want), "{said}");
    assert!(!root.path().join("target/kernels").exists());
}
