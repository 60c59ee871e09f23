//! The stop button. In the project's kernel, Jupyter's interrupt arrives as SIGINT (the kernel
//! spec's `interrupt_mode` is "signal" and `scripts/kernel.sh` keeps evcxr itself out of its
//! way). A loop that can stop cleanly calls [`listen`] and checks the [`Listening`] value it gets
//! after every batch (`fit`, `evaluate`, 07's t-SNE and maps): an interrupt while one listens asks
//! it to stop, and the kernel keeps every variable. Every interrupt is judged by one rule,
//! [`action`]: any other running cell (a learner's own `loop {}`), or a second interrupt while one
//! is pending, ends the user-code process as evcxr's own interrupt does (variables are lost, the
//! kernel stays usable); an interrupt while no cell runs, or while that cannot be known, is
//! ignored. The signal handler applies the part of the rule it can; whether a cell runs is for a
//! watcher thread to see once the handler has returned (evcxr's runtime waits in `read` on
//! standard input between cells). The handler is installed by the crate's load hook on Linux only
//! ([`crate::device`]); elsewhere nothing here is installed and Jupyter's interrupt does what the
//! kernel does without it.
//!
//! evcxr links this crate into every cell's library, so each library has its own copy of these
//! statics: each one installs its handler when it is loaded, and the cell that runs is always the
//! newest, so the handler and the loop that listens see the same state. The watcher is one per
//! process: libraries find it by an abstract Unix socket named after the process, never through
//! the environment, and every descriptor is close-on-exec, so a child process a cell starts
//! inherits none of it.

use anyhow::Result;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// This library's stoppable work in one word, so that the handler and [`listen`] never see half
/// an update: [`ONE_LOOP`] per running stoppable loop (they nest: `fit` validates with
/// `evaluate_loss`), plus [`REQUESTED`] once a stop was asked for.
static STATE: AtomicUsize = AtomicUsize::new(0);
/// The bit of [`STATE`] that says a stop was requested.
const REQUESTED: usize = 1;
/// What one running stoppable loop adds to [`STATE`].
const ONE_LOOP: usize = 2;

/// Changes [`STATE`] atomically; returns the state before.
fn update(change: impl Fn(usize) -> usize) -> usize {
    match STATE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| Some(change(s))) {
        Ok(before) | Err(before) => before,
    }
}

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

/// A stretch of stoppable work: while one lives, an interrupt asks it to stop instead of ending
/// the process, and [`Listening::check`] says so. Only [`listen`] makes one, so a loop cannot
/// check without listening. Dropping the outermost one forgets a pending request.
#[must_use = "the loop is stoppable only while this value lives"]
pub struct Listening(());

/// Starts a stoppable stretch of work (see [`Listening`]). The first one forgets an old request
/// in the same atomic step that makes the loop count, so no press in between is lost.
pub fn listen() -> Listening {
    update(|s| match s < ONE_LOOP {
        true => ONE_LOOP,
        false => s + ONE_LOOP,
    });
    Listening(())
}

impl Listening {
    /// `Err(Stopped)` when a stop was requested; called between batches.
    pub fn check(&self, what: &str, done: usize, total: usize) -> Result<()> {
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
}

impl Drop for Listening {
    fn drop(&mut self) {
        update(|s| match s < 2 * ONE_LOOP {
            true => 0,
            false => s - ONE_LOOP,
        });
    }
}

/// True once the stop button was pressed during the current stoppable work.
pub fn requested() -> bool {
    STATE.load(Ordering::SeqCst) & REQUESTED != 0
}

/// Asks the running stoppable work to stop, as the interrupt does (for tests and programs); a
/// request while nothing listens is forgotten by the next [`listen`].
pub fn request() {
    update(|s| s | REQUESTED);
}

/// The [`Stopped`] inside an error, if that is what it is.
pub fn as_stopped(err: &anyhow::Error) -> Option<&Stopped> {
    err.downcast_ref::<Stopped>()
}

/// What is known about the cell when an interrupt is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Not looked at yet: the signal handler cannot look (it may be running on the main thread).
    NotSeenYet,
    /// The main thread runs a cell.
    Running,
    /// The main thread waits for the next cell.
    Idle,
    /// It cannot be known here (no readable `/proc/self/task/*/syscall`).
    Unknown,
}

/// What to do with one interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing: no cell is running, or none is known to run.
    Ignore,
    /// A stoppable loop listens: ask it to stop after its batch.
    AskToStop,
    /// Look at the cell outside the signal handler, then decide again.
    LookAtTheCell,
    /// A cell runs that cannot stop cleanly: end the user-code process, as evcxr's own interrupt
    /// does.
    EndProcess,
}

/// The rule for one interrupt, used by the signal handler (with [`Cell::NotSeenYet`]) and by the
/// watcher (with what it saw): a listening loop that was not asked yet is asked to stop; otherwise
/// only a cell known to be running is ended.
pub fn action(listening: bool, already_requested: bool, cell: Cell) -> Action {
    match (listening && !already_requested, cell) {
        (true, _) => Action::AskToStop,
        (false, Cell::NotSeenYet) => Action::LookAtTheCell,
        (false, Cell::Running) => Action::EndProcess,
        (false, Cell::Idle | Cell::Unknown) => Action::Ignore,
    }
}

/// The handler's part of the rule, in one atomic step on [`STATE`]: asks a listening loop to stop
/// and returns `AskToStop`, or returns `LookAtTheCell` with (listening, already requested) as
/// they were.
#[cfg(target_os = "linux")]
fn on_press() -> (Action, bool, bool) {
    let mut seen = (Action::Ignore, false, false);
    let _ = STATE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
        let (listening, asked) = (s >= ONE_LOOP, s & REQUESTED != 0);
        seen = (action(listening, asked, Cell::NotSeenYet), listening, asked);
        (seen.0 == Action::AskToStop).then_some(s | REQUESTED)
    });
    seen
}

#[cfg(target_os = "linux")]
pub use unix::install_handler;

#[cfg(target_os = "linux")]
mod unix {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicI32;
    use std::time::Duration;

    /// What the user-code process says when an interrupt ends it (one write, signal-safe).
    const ENDED: &[u8] =
        b"\nStopped: this cell had no safe stopping point, so the kernel ended it \
and its variables are lost (types, functions and :dep lines stay). fit, evaluate and 07's \
t-SNE and maps stop after their current batch and keep everything.\n";
    /// What the watcher says when it cannot tell a running cell from the time between cells.
    const UNKNOWN: &str = "\nStop ignored: whether a cell is running cannot be read here \
(no /proc/self/task/*/syscall), so nothing was ended. fit, evaluate and 07's t-SNE and maps \
stop on the button; to end any other cell, restart the kernel.";
    /// Names another file to read instead of `/proc/self/task/<pid>/syscall` (tests point it at
    /// a missing file to play a system without it).
    pub const SYSCALL_FILE_ENV: &str = "MNIST_STOP_SYSCALL_FILE";
    /// How often, and how far apart, the watcher looks at the main thread after a press.
    const LOOKS: (usize, Duration) = (20, Duration::from_millis(10));

    /// Where this library's handler sends a byte to wake the watcher (-1: no watcher).
    static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

    /// Installs the SIGINT handler for this process (replacing any earlier one), and starts the
    /// watcher thread if this process has none yet.
    pub fn install_handler() {
        WAKE_FD.store(connect_watcher(), Ordering::SeqCst);
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

    /// The handler: [`on_press`] asks a listening loop to stop; anything else goes to the watcher
    /// with the state as the press found it.
    extern "C" fn on_interrupt(_: libc::c_int) {
        keeping_errno(|| {
            if let (Action::LookAtTheCell, listening, asked) = on_press() {
                let byte = [u8::from(listening) | (u8::from(asked) << 1)];
                let fd = WAKE_FD.load(Ordering::SeqCst);
                // SAFETY: send is async-signal-safe; the socket does not block; the buffer is ours.
                unsafe { libc::send(fd, byte.as_ptr().cast(), 1, libc::MSG_DONTWAIT) };
            }
        })
    }

    /// Runs `work` and gives the thread its `errno` back as it was (a signal handler must).
    pub(super) fn keeping_errno(work: impl FnOnce()) {
        // SAFETY: __errno_location returns this thread's errno, valid for the thread's life.
        let errno = unsafe { libc::__errno_location() };
        // SAFETY: reading and writing this thread's errno.
        let saved = unsafe { *errno };
        work();
        // SAFETY: as above.
        unsafe { *errno = saved };
    }

    /// This process's watcher: found by its name, or started here with its thread. Returns this
    /// library's sending socket connected to it (-1 when there is none).
    fn connect_watcher() -> i32 {
        let address = watcher_address();
        let receiver = datagram_socket(0);
        // SAFETY: binding a socket of ours to an address that lives through the call.
        if receiver >= 0 && unsafe { bind_or_connect(receiver, &address, true) } {
            let file = syscall_file();
            let spawned = std::thread::Builder::new()
                .name("mnist-stop-watcher".into())
                .spawn(move || watch(receiver, &file));
            if spawned.is_err() {
                return -1;
            }
        } else if receiver >= 0 {
            // SAFETY: closing the socket made above (the name is taken: a watcher exists).
            unsafe { libc::close(receiver) };
        }
        let sender = datagram_socket(libc::SOCK_NONBLOCK);
        // SAFETY: connecting a socket of ours.
        if sender >= 0 && unsafe { bind_or_connect(sender, &address, false) } {
            return sender;
        }
        -1
    }

    /// A close-on-exec Unix datagram socket (-1 on failure).
    fn datagram_socket(flags: i32) -> i32 {
        // SAFETY: socket has no memory preconditions.
        unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | flags,
                0,
            )
        }
    }

    /// The abstract socket address of this process's watcher: the process id and its start time
    /// make the name, so no other process (in another PID namespace, say) shares it.
    fn watcher_address() -> (libc::sockaddr_un, libc::socklen_t) {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let started = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| start_time(&stat))
            .unwrap_or_default();
        let name = format!("mnist-stop-watcher-{pid}-{started}");
        // SAFETY: an all-zero sockaddr_un is valid; a leading zero byte makes the name abstract.
        let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (slot, &b) in address.sun_path[1..].iter_mut().zip(name.as_bytes()) {
            *slot = b as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sa_family_t>() + 1 + name.len();
        (address, len as libc::socklen_t)
    }

    /// The process's start time (field 22 of `/proc/self/stat`).
    pub(super) fn start_time(stat: &str) -> Option<u64> {
        let after_name = &stat[stat.rfind(')')? + 1..]; // the name may hold spaces
        after_name.split_whitespace().nth(19)?.parse().ok()
    }

    /// Binds (`bind` true) or connects `socket` to `address`; true on success.
    ///
    /// # Safety
    /// `socket` must be a Unix socket descriptor owned by the caller.
    unsafe fn bind_or_connect(
        socket: i32,
        address: &(libc::sockaddr_un, libc::socklen_t),
        bind: bool,
    ) -> bool {
        let ptr = (&address.0 as *const libc::sockaddr_un).cast::<libc::sockaddr>();
        let done = match bind {
            true => libc::bind(socket, ptr, address.1),
            false => libc::connect(socket, ptr, address.1),
        };
        done == 0
    }

    /// The file that says what the main thread waits on (see [`SYSCALL_FILE_ENV`]).
    fn syscall_file() -> PathBuf {
        match std::env::var_os(SYSCALL_FILE_ENV) {
            Some(file) => PathBuf::from(file),
            // SAFETY: getpid has no preconditions.
            None => PathBuf::from(format!("/proc/self/task/{}/syscall", unsafe {
                libc::getpid()
            })),
        }
    }

    /// For each press the handler passed on: looks at the main thread, then applies [`action`].
    fn watch(receiver: i32, file: &Path) {
        block_interrupts_here();
        let mut byte = [0u8; 1];
        // SAFETY: receives one byte into a buffer of ours, from a socket this thread owns.
        while unsafe { libc::recv(receiver, byte.as_mut_ptr().cast(), 1, 0) } == 1 {
            let cell = look(file);
            match action(byte[0] & 1 != 0, byte[0] & 2 != 0, cell) {
                Action::EndProcess => end_process(),
                Action::Ignore if cell == Cell::Unknown => eprintln!("{UNKNOWN}"),
                _ => {}
            }
        }
    }

    /// Keeps SIGINT off the calling thread, so that the handler never runs on the watcher.
    fn block_interrupts_here() {
        // SAFETY: a signal set of ours, changed only through sigemptyset and sigaddset.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
    }

    /// What the main thread does, seen in `file` over [`LOOKS`]: waiting on standard input at
    /// any look (once the handler, which may run on it, has returned) is [`Cell::Idle`]; an
    /// unreadable file is [`Cell::Unknown`].
    pub(super) fn look(file: &Path) -> Cell {
        for _ in 0..LOOKS.0 {
            match std::fs::read(file) {
                Err(_) => return Cell::Unknown,
                Ok(line) if waits_on_stdin(&line) => return Cell::Idle,
                Ok(_) => std::thread::sleep(LOOKS.1),
            }
        }
        Cell::Running
    }

    /// Ends the user-code process as evcxr's own interrupt does (evcxr starts a new one).
    fn end_process() {
        // SAFETY: write and _exit have no memory preconditions; the buffer is a constant.
        unsafe {
            libc::write(2, ENDED.as_ptr().cast(), ENDED.len());
            libc::_exit(130);
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
        fn without_the_syscall_file_a_press_between_cells_is_ignored() {
            let dir = tempfile::tempdir().unwrap();
            let missing = dir.path().join("no-proc-here");
            assert_eq!(look(&missing), Cell::Unknown);
            assert_eq!(action(false, false, look(&missing)), Action::Ignore);
            let idle = dir.path().join("idle");
            std::fs::write(&idle, format!("{} 0x0 0x7ffd 0x2000", libc::SYS_read)).unwrap();
            assert_eq!(look(&idle), Cell::Idle);
            let busy = dir.path().join("busy");
            std::fs::write(&busy, "running").unwrap();
            assert_eq!(look(&busy), Cell::Running);
        }

        #[test]
        fn the_handler_keeps_errno() {
            // SAFETY: this thread's errno.
            unsafe { *libc::__errno_location() = 1234 };
            keeping_errno(|| {
                // SAFETY: closing a descriptor that is not open fails with EBADF, harmlessly.
                assert_eq!(unsafe { libc::close(-1) }, -1);
            });
            // SAFETY: as above.
            assert_eq!(unsafe { *libc::__errno_location() }, 1234);
        }

        #[test]
        fn the_start_time_is_read_past_a_name_with_spaces() {
            let stat = "42 (a b) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2";
            assert_eq!(start_time(stat), Some(98765));
            assert_eq!(start_time("garbage"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_decides_every_press() {
        use {Action::*, Cell::*};
        for cell in [NotSeenYet, Running, Idle, Unknown] {
            assert_eq!(action(true, false, cell), AskToStop, "{cell:?}");
        }
        assert_eq!(action(true, true, NotSeenYet), LookAtTheCell);
        assert_eq!(action(false, false, NotSeenYet), LookAtTheCell);
        assert_eq!(action(true, true, Running), EndProcess);
        assert_eq!(action(false, false, Running), EndProcess);
        assert_eq!(action(false, false, Idle), Ignore);
        assert_eq!(action(false, false, Unknown), Ignore);
        assert_eq!(action(true, true, Unknown), Ignore);
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
