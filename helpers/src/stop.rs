//! The stop button. In the project's kernel, Jupyter's interrupt arrives as SIGINT (the kernel
//! spec's `interrupt_mode` is "signal" and `scripts/kernel.sh` keeps evcxr itself out of its
//! way). The handler installed here sets a flag that `fit`, `evaluate` and 07's maps read after
//! every batch, so they end cleanly and the kernel keeps every variable. Any other running cell (a
//! learner's own `loop {}`), or a second interrupt while one is pending, ends the user-code
//! process as evcxr's own interrupt does: variables are lost, the kernel stays usable. An
//! interrupt while no cell runs is ignored.
//!
//! evcxr links this crate into every cell's library, so each library has its own copy of these
//! statics: each one installs its handler when it is loaded, and the cell that runs is always the
//! newest, so the handler and the loop that polls it see the same flag.

use anyhow::Result;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many stoppable loops are running now (they nest: `fit` validates with `evaluate_loss`).
static LISTENERS: AtomicUsize = AtomicUsize::new(0);
/// Set by the interrupt while a stoppable loop runs; cleared when the outermost one ends.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The error a stoppable loop returns when the stop button was pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// What was stopped ("evaluation", "training").
    pub what: String,
    /// Batches done before the stop, and the batches there were.
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

#[cfg(unix)]
pub use unix::install_handler;

#[cfg(unix)]
mod unix {
    use super::*;

    /// What the user-code process says when an interrupt ends it (one write, signal-safe).
    const ENDED: &[u8] =
        b"\nStopped: this cell had no safe stopping point, so the kernel ended it \
and its variables are lost (types, functions and :dep lines stay). fit, evaluate and 07's maps \
stop after their current batch and keep everything.\n";

    /// Installs the SIGINT handler for this process (replacing any earlier one).
    pub fn install_handler() {
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

    extern "C" fn on_interrupt(_: libc::c_int) {
        let listening = LISTENERS.load(Ordering::SeqCst) > 0;
        match action(cell_running(), listening, requested()) {
            Action::Ignore => {}
            Action::AskToStop => request(),
            Action::EndProcess => {
                // SAFETY: write and _exit are async-signal-safe.
                unsafe {
                    libc::write(2, ENDED.as_ptr().cast(), ENDED.len());
                    libc::_exit(130);
                }
            }
        }
    }

    /// False when the process's main thread waits in `read` on standard input: that is evcxr's
    /// runtime between cells. Reads `/proc/self/task/PID/syscall` with signal-safe calls only;
    /// without /proc (not Linux) a cell counts as running.
    fn cell_running() -> bool {
        let mut path = *b"/proc/self/task/0000000000/syscall\0";
        // SAFETY: getpid, open, read and close are async-signal-safe; buffers are ours.
        unsafe {
            write_decimal(&mut path[16..26], libc::getpid() as u64);
            let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY);
            if fd < 0 {
                return true;
            }
            let mut buf = [0u8; 64];
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            n <= 0 || !waits_on_stdin(&buf[..n as usize])
        }
    }

    /// Writes `value` right-aligned into `out`, padded with leading zeros (/proc accepts them).
    fn write_decimal(out: &mut [u8], mut value: u64) {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
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

        #[test]
        fn pads_the_pid() {
            let mut out = *b"0000000000";
            write_decimal(&mut out, 4242);
            assert_eq!(&out, b"0000004242");
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
