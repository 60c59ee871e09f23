//! The stop button. In the project's kernel, Jupyter's interrupt arrives as SIGINT (the kernel
//! spec's `interrupt_mode` is "signal" and `scripts/kernel.sh` keeps evcxr itself out of its
//! way). The handler installed here sets a flag that `fit`, `evaluate` and 07's maps read after
//! every batch, so they end cleanly and the kernel keeps every variable. Any other running cell (a
//! learner's own `loop {}`), or a second interrupt while one is pending, ends the user-code
//! process as evcxr's own interrupt does: variables are lost, the kernel stays usable. An
//! interrupt while no cell runs is ignored. Only the first case is decided in the signal handler;
//! the others go to a watcher thread, which looks at what the main thread does once the handler
//! has returned (evcxr's runtime waits in `read` on standard input between cells). Linux only.
//!
//! evcxr links this crate into every cell's library, so each library has its own copy of these
//! statics: each one installs its handler when it is loaded, and the cell that runs is always the
//! newest, so the handler and the loop that polls it see the same flag.

use anyhow::Result;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// How many stoppable loops are running now (they nest: `fit` validates with `evaluate_loss`).
static LISTENERS: AtomicUsize = AtomicUsize::new(0);
/// Set by the interrupt while a stoppable loop runs; cleared when the outermost one ends.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The error a stoppable loop returns when the stop button was pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// What was stopped ("evaluation", "training").
    pub what: String,
    /// Batches done before the stop.
    pub done: usize,
    /// Batches in all.
    pub total: usize,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "stopped by the stop button: {} ended after batch {} of {}",
            self.what, self.done, self.total
        )
    }
}

impl std::error::Error for Stopped {}

/// Marks a stretch of work that reads [`check`]: while one is alive, an interrupt asks it to stop
/// instead of ending the process. Dropping the outermost one forgets a pending request.
#[must_use = "the loop is stoppable only while this value lives"]
pub struct Listening(());

/// Starts a stoppable stretch of work (see [`Listening`]).
pub fn listen() -> Listening {
    if LISTENERS.fetch_add(1, Ordering::SeqCst) == 0 {
        REQUESTED.store(false, Ordering::SeqCst);
    }
    Listening(())
}

impl Drop for Listening {
    fn drop(&mut self) {
        if LISTENERS.fetch_sub(1, Ordering::SeqCst) == 1 {
            REQUESTED.store(false, Ordering::SeqCst);
        }
    }
}

/// True once the stop button was pressed during the current stoppable work.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Asks the running stoppable work to stop, as the interrupt does (for tests and programs).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// `Err(Stopped)` when a stop was requested; called between batches.
pub fn check(what: &str, done: usize, total: usize) -> Result<()> {
    if requested() {
        return Err(Stopped {
            what: what.to_string(),
            done,
            total,
        }
        .into());
    }
    Ok(())
}

/// The [`Stopped`] inside an error, if that is what it is.
pub fn as_stopped(err: &anyhow::Error) -> Option<&Stopped> {
    err.downcast_ref::<Stopped>()
}

/// What the handler does with one interrupt, given the process's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// No cell is running: nothing to stop.
    Ignore,
    /// A stoppable loop runs: ask it to stop after its batch.
    AskToStop,
    /// Anything else: end the user-code process, as evcxr's own interrupt does.
    EndProcess,
}

/// The handler's decision (a pure function, so that it can be tested).
pub fn action(cell_running: bool, listening: bool, already_requested: bool) -> Action {
    match (cell_running, listening, already_requested) {
        (false, _, _) => Action::Ignore,
        (true, true, false) => Action::AskToStop,
        _ => Action::EndProcess,
    }
}

#[cfg(target_os = "linux")]
pub use unix::install_handler;

#[cfg(target_os = "linux")]
mod unix {
    use super::*;

    /// What the user-code process says when an interrupt ends it (one write, signal-safe).
    const ENDED: &[u8] =
        b"\nStopped: this cell had no safe stopping point, so the kernel ended it \
and its variables are lost (types, functions and :dep lines stay). fit, evaluate and 07's maps \
stop after their current batch and keep everything.\n";

    /// Process-wide (not per library): the write end of the pipe that wakes the watcher thread.
    const WAKE_ENV: &str = "MNIST_STOP_WAKE_FD";
    /// Where this library's handler writes to wake the watcher (-1: no watcher, end at once).
    static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

    /// Installs the SIGINT handler for this process (replacing any earlier one), and starts the
    /// watcher thread if this process has none yet.
    pub fn install_handler() {
        WAKE_FD.store(watcher_fd(), Ordering::SeqCst);
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid; the handler
        // only touches atomics and calls async-signal-safe functions.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(libc::SIGINT, &act, std::ptr::null_mut());
        }
    }

    /// Asks a stoppable loop to stop; anything else is for the watcher to judge, outside the
    /// handler (the handler may run on the main thread, which then is not in its `read`).
    extern "C" fn on_interrupt(_: libc::c_int) {
        if LISTENERS.load(Ordering::SeqCst) > 0 && !requested() {
            request();
            return;
        }
        let fd = WAKE_FD.load(Ordering::SeqCst);
        // SAFETY: write is async-signal-safe; the buffer is a constant.
        if fd < 0 || unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) } != 1 {
            end_process();
        }
    }

    /// The watcher's pipe (write end): the one this process already has, or a new one with its
    /// thread. The descriptor is kept in the environment, which all of evcxr's cell libraries
    /// share (each library has its own statics).
    fn watcher_fd() -> i32 {
        if let Some(fd) = std::env::var(WAKE_ENV).ok().and_then(|v| v.parse().ok()) {
            return fd;
        }
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return -1;
        }
        let [read_end, write_end] = fds;
        let spawned = std::thread::Builder::new()
            .name("mnist-stop-watcher".into())
            .spawn(move || watch(read_end));
        if spawned.is_err() {
            return -1;
        }
        std::env::set_var(WAKE_ENV, write_end.to_string());
        write_end
    }

    /// For each interrupt that no stoppable loop took: once the main thread is back from the
    /// handler, ends the process if a cell is running; between cells, does nothing.
    fn watch(read_end: i32) {
        let mut byte = [0u8; 1];
        // SAFETY: reads one byte into a buffer of ours.
        while unsafe { libc::read(read_end, byte.as_mut_ptr().cast(), 1) } == 1 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if action(cell_running(), false, false) == Action::EndProcess {
                end_process();
            }
        }
    }

    /// Ends the user-code process as evcxr's own interrupt does (evcxr starts a new one).
    fn end_process() {
        // SAFETY: write and _exit are async-signal-safe.
        unsafe {
            libc::write(2, ENDED.as_ptr().cast(), ENDED.len());
            libc::_exit(130);
        }
    }

    /// False when the process's main thread waits in `read` on standard input: that is evcxr's
    /// runtime between cells. Without /proc (not Linux) a cell counts as running.
    fn cell_running() -> bool {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        std::fs::read(format!("/proc/self/task/{pid}/syscall"))
            .map(|line| !waits_on_stdin(&line))
            .unwrap_or(true)
    }

    /// True for a `syscall` line that says "read on file descriptor 0".
    pub(super) fn waits_on_stdin(line: &[u8]) -> bool {
        let mut fields = line.split(|&b| b == b' ');
        let number = parse_decimal(fields.next().unwrap_or_default());
        number == Some(libc::SYS_read as u64) && fields.next() == Some(b"0x0")
    }

    /// A decimal number from ASCII digits.
    fn parse_decimal(text: &[u8]) -> Option<u64> {
        if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(text.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_the_syscall_line() {
            let read = libc::SYS_read.to_string();
            let idle = format!("{read} 0x0 0x7ffd 0x2000 0x0 0x0 0x0 0x7ffd 0x7f");
            assert!(waits_on_stdin(idle.as_bytes()));
            let other_fd = format!("{read} 0x5 0x7ffd 0x2000 0x0 0x0 0x0 0x7ffd 0x7f");
            assert!(!waits_on_stdin(other_fd.as_bytes()));
            assert!(!waits_on_stdin(b"running"));
            assert!(!waits_on_stdin(
                b"202 0x7f 0x80 0x0 0x0 0x0 0x0 0x7ffd 0x7f"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_decides_by_state() {
        assert_eq!(action(false, true, false), Action::Ignore);
        assert_eq!(action(true, true, false), Action::AskToStop);
        assert_eq!(action(true, true, true), Action::EndProcess);
        assert_eq!(action(true, false, false), Action::EndProcess);
    }

    #[test]
    fn stopped_errors_are_recognised() {
        let err: anyhow::Error = Stopped {
            what: "evaluation".into(),
            done: 3,
            total: 10,
        }
        .into();
        let stopped = as_stopped(&err).expect("a Stopped error");
        assert_eq!((stopped.done, stopped.total), (3, 10));
        assert!(err.to_string().contains("after batch 3 of 10"), "{err}");
        assert!(as_stopped(&anyhow::anyhow!("other")).is_none());
    }
}
