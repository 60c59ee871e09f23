//! The stop button's signal handler in a process of its own (a test binary, so that the handler
//! and its watcher are this process's alone): an interrupt while a loop listens asks that loop to
//! stop and nothing else; a second one is passed to the watcher, which here reads a file that
//! says "between cells" and so ends nothing; a child process inherits neither the watcher's
//! socket nor anything about it in its environment. What the watcher does with a running cell,
//! and a press between cells without `/proc`, are checked under the real kernel
//! (scripts/kernel_checks.py). One test in this file: the handler is process-wide.
#![cfg(target_os = "linux")]

use mnist_helpers::stop;
use std::process::Command;

/// Sends SIGINT to the calling thread; the handler has run when this returns.
fn press() {
    // SAFETY: raise has no memory preconditions.
    assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
}

/// The descriptors a child process started now holds, as `readlink` names them (a socket reads
/// `socket:[inode]`), and its environment.
fn what_a_child_inherits() -> String {
    let script = "for fd in /proc/$$/fd/*; do echo \"$fd $(readlink $fd)\"; done; env";
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The variable that points the watcher at another file than `/proc/self/task/*/syscall`.
const SYSCALL_FILE: &str = "MNIST_STOP_SYSCALL_FILE";

#[test]
fn the_handler_asks_a_listening_loop_and_children_inherit_nothing() {
    if std::env::var_os(SYSCALL_FILE).is_none() {
        // This test runs again in a process of its own, started with the watcher pointed at a file
        // that says "between cells" (the process's environment is set at its start, not changed).
        let dir = tempfile::tempdir().unwrap();
        let idle = dir.path().join("syscall");
        std::fs::write(&idle, format!("{} 0x0 0x7ffd 0x2000", libc::SYS_read)).unwrap();
        let name = "the_handler_asks_a_listening_loop_and_children_inherit_nothing";
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(SYSCALL_FILE, &idle)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}{out:?}"
        );
        return;
    }
    let before = what_a_child_inherits();
    stop::install_handler();

    let listening = stop::listen();
    press();
    assert!(
        stop::requested(),
        "the press was not taken by the listening loop"
    );
    let err = listening.check("test", 1, 2).unwrap_err();
    assert!(stop::as_stopped(&err).is_some(), "{err}");
    press(); // a second press: for the watcher, which sees "between cells" and ignores it
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(listening);
    assert!(!stop::requested(), "the request outlived its loop");

    let after = what_a_child_inherits();
    let sockets = |text: &str| text.matches("socket:").count();
    assert_eq!(
        sockets(&after),
        sockets(&before),
        "a socket leaked:\n{after}"
    );
    assert!(
        !after.contains("MNIST_STOP_WAKE"),
        "in the environment:\n{after}"
    );
    assert!(!after.contains("mnist-stop"), "{after}");
}
