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
//! process: libraries find it among the process's own descriptors, as the socket bound to an
//! abstract name that begins with `mnist-stop-watcher-PID-`, never through the environment, and
//! every descriptor is close-on-exec, so a child process a cell starts inherits none of it. On a
//! machine shared by several users nobody else can wake it or pass for it: its two sockets are a
//! connected pair, so the kernel refuses a datagram to them from any other socket; the watcher
//! acts only on a datagram the kernel says this process sent (a child forked with the sending
//! socket is dropped); and a socket another process binds to such a name is not among this
//! process's descriptors.

use anyhow::Result;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// This library's stoppable work in one word, so that the handler and [`listen`] never see half
/// an update: [`ONE_LOOP`] per running stoppable loop (they nest: `fit` validates with
/// `evaluate`), plus [`REQUESTED`] once a stop was asked for.
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
    use std::hash::BuildHasher;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicI32;
    use std::time::Duration;

    /// What the user-code process says when an interrupt ends it (one write, signal-safe).
    const ENDED: &[u8] =
        b"\nStopped: this cell had no safe stopping point, so the kernel ended it \
and its variables are lost (types, functions and :dep lines stay). fit, predict, evaluate and 07's \
t-SNE and maps stop after their current batch and keep everything.\n";
    /// What the watcher says when it cannot tell a running cell from the time between cells.
    const UNKNOWN: &str = "\nStop ignored: whether a cell is running cannot be read here \
(no /proc/self/task/*/syscall), so nothing was ended. fit, predict, evaluate and 07's t-SNE and maps \
stop on the button; to end any other cell, restart the kernel.";
    /// Names another file to read instead of `/proc/self/task/<pid>/syscall` (tests point it at
    /// a missing file to play a system without it).
    pub(crate) const SYSCALL_FILE_ENV: &str = "MNIST_STOP_SYSCALL_FILE";
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

    /// This process's watcher: found among this process's own sockets, or started here with its
    /// thread. Returns the socket whose datagrams wake it (-1 when there is none).
    fn connect_watcher() -> i32 {
        let prefix = watcher_prefix();
        if let Some(sender) = find_watcher(&prefix) {
            return sender;
        }
        let Some((receiver, sender)) = start_watcher(&prefix) else {
            return -1;
        };
        let file = syscall_file();
        // SAFETY: getpid has no preconditions.
        let owner = unsafe { libc::getpid() };
        let spawned = std::thread::Builder::new()
            .name("mnist-stop-watcher".into())
            .spawn(move || watch(receiver, owner, &file));
        if spawned.is_err() {
            // SAFETY: closing the pair made above, which nothing else holds.
            unsafe {
                libc::close(receiver);
                libc::close(sender);
            }
            return -1;
        }
        sender
    }

    /// How every watcher name of this process begins (64 random bits follow).
    fn watcher_prefix() -> String {
        // SAFETY: getpid has no preconditions.
        format!("mnist-stop-watcher-{}-", unsafe { libc::getpid() })
    }

    /// The sending socket of this process's watcher: the socket in this process's own descriptor
    /// table bound to a name that begins with `prefix`. Only that table is trusted: abstract
    /// names are shared by every user of the machine, and a socket another process bound to such
    /// a name is not in it, so it is never taken for the watcher.
    fn find_watcher(prefix: &str) -> Option<i32> {
        own_descriptors()
            .into_iter()
            .find(|&fd| bound_with_prefix(fd, prefix))
    }

    /// A new watcher's (receiving, sending) sockets, or `None`. They are a connected pair, so the
    /// kernel refuses (EPERM) a datagram to either from any other socket, whoever knows the name;
    /// the receiver passes each sender's credentials, so that [`receive`] drops a datagram from a
    /// child forked with the sender. The sender is bound to `prefix` and 64 random bits, which
    /// marks it for [`find_watcher`] and which no other process can guess and bind first.
    fn start_watcher(prefix: &str) -> Option<(i32, i32)> {
        let mut pair = [-1; 2];
        let kind = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC;
        // SAFETY: socketpair writes two descriptors into an array of ours.
        if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, pair.as_mut_ptr()) } != 0 {
            return None;
        }
        // std seeds its hash keys from the system's random source.
        let random = std::collections::hash_map::RandomState::new().hash_one(());
        let address = abstract_address(&format!("{prefix}{random:016x}"));
        let ptr = (&address.0 as *const libc::sockaddr_un).cast::<libc::sockaddr>();
        let on: libc::c_int = 1;
        let size = std::mem::size_of_val(&on) as libc::socklen_t;
        // SAFETY: setsockopt reads an int of ours; bind reads an address that lives through the
        // call; both on sockets of ours.
        let ready = unsafe {
            let on = (&on as *const libc::c_int).cast();
            libc::setsockopt(pair[0], libc::SOL_SOCKET, libc::SO_PASSCRED, on, size) == 0
                && libc::bind(pair[1], ptr, address.1) == 0
        };
        if ready {
            return Some((pair[0], pair[1]));
        }
        // SAFETY: closing the pair made above, which nothing else holds.
        unsafe {
            libc::close(pair[0]);
            libc::close(pair[1]);
        }
        None
    }

    /// The abstract Unix socket address `name` (a leading zero byte makes a name abstract).
    fn abstract_address(name: &str) -> (libc::sockaddr_un, libc::socklen_t) {
        // SAFETY: an all-zero sockaddr_un is valid.
        let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let slots = address.sun_path[1..].iter_mut().zip(name.as_bytes());
        let written = slots.map(|(slot, &b)| *slot = b as libc::c_char).count();
        let len = std::mem::size_of::<libc::sa_family_t>() + 1 + written;
        (address, len as libc::socklen_t)
    }

    /// This process's open descriptors: those listed in `/proc/self/fd`, or without `/proc` every
    /// number below the descriptor limit (at most 65,536).
    fn own_descriptors() -> Vec<i32> {
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            let number = |entry: std::io::Result<std::fs::DirEntry>| {
                entry.ok()?.file_name().to_str()?.parse().ok()
            };
            return entries.filter_map(number).collect();
        }
        // SAFETY: an all-zero rlimit is valid; getrlimit writes into ours (or leaves it zero).
        let limit = unsafe {
            let mut limit: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur.min(1 << 16)
        };
        (0..limit as i32).collect()
    }

    /// True when `fd` is a Unix socket bound to an abstract name that begins with `prefix`.
    fn bound_with_prefix(fd: i32, prefix: &str) -> bool {
        // SAFETY: an all-zero sockaddr_un is valid.
        let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        let ptr = (&mut address as *mut libc::sockaddr_un).cast::<libc::sockaddr>();
        // SAFETY: getsockname writes at most `len` bytes into our address (any descriptor number
        // is fine: one that is not a socket fails).
        if unsafe { libc::getsockname(fd, ptr, &mut len) } != 0
            || address.sun_family != libc::AF_UNIX as libc::sa_family_t
        {
            return false;
        }
        let path_len = (len as usize).saturating_sub(std::mem::size_of::<libc::sa_family_t>());
        let path = &address.sun_path[..path_len.min(address.sun_path.len())];
        let name: Vec<u8> = path.iter().map(|&c| c as u8).collect();
        name.strip_prefix(&[0])
            .is_some_and(|name| name.starts_with(prefix.as_bytes()))
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

    /// For each press the handler of process `owner` passed on (see [`start_watcher`] and
    /// [`receive`]): looks at the main thread, then applies [`action`].
    fn watch(receiver: i32, owner: libc::pid_t, file: &Path) {
        block_interrupts_here();
        while let Ok(press) = receive(receiver, owner) {
            let Some(byte) = press else { continue };
            let cell = look(file);
            match action(byte & 1 != 0, byte & 2 != 0, cell) {
                Action::EndProcess => end_process(),
                Action::Ignore if cell == Cell::Unknown => eprintln!("{UNKNOWN}"),
                _ => {}
            }
        }
    }

    /// Room for exactly one credentials message: a descriptor sent along (SCM_RIGHTS) finds no
    /// room after it, so the kernel never installs one here.
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    const CONTROL: usize =
        unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::ucred>() as u32) } as usize;

    /// Waits for the next datagram on `receiver`: `Ok(Some(byte))` when the kernel says process
    /// `owner` sent it, `Ok(None)` (dropped) when any other process did, such as a child forked
    /// with the sending socket (a sender cannot claim another's pid without CAP_SYS_ADMIN).
    fn receive(receiver: i32, owner: libc::pid_t) -> std::io::Result<Option<u8>> {
        let mut byte = [0u8; 1];
        let mut control = [0u64; CONTROL.div_ceil(8)];
        let mut data = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        // SAFETY: an all-zero msghdr is valid; recvmsg writes at most the lengths given into
        // buffers of ours (`control` is aligned for cmsghdr), and the credentials are read
        // unaligned only when the first header says they are there in full.
        let sender = unsafe {
            let mut message: libc::msghdr = std::mem::zeroed();
            message.msg_iov = &mut data;
            message.msg_iovlen = 1;
            message.msg_control = control.as_mut_ptr().cast();
            message.msg_controllen = CONTROL as _;
            let got = libc::recvmsg(receiver, &mut message, libc::MSG_CMSG_CLOEXEC);
            if got < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let header = libc::CMSG_FIRSTHDR(&message);
            let size = std::mem::size_of::<libc::ucred>() as u32;
            let credentials = !header.is_null()
                && (*header).cmsg_level == libc::SOL_SOCKET
                && (*header).cmsg_type == libc::SCM_CREDENTIALS
                && (*header).cmsg_len as usize >= libc::CMSG_LEN(size) as usize;
            let data = || {
                libc::CMSG_DATA(header)
                    .cast::<libc::ucred>()
                    .read_unaligned()
            };
            (got == 1 && credentials).then(|| data().pid)
        };
        Ok((sender == Some(owner)).then_some(byte[0]))
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

        /// A prefix for a test's own watcher, apart from the process's real one.
        fn test_prefix(test: &str) -> String {
            // SAFETY: getpid has no preconditions.
            format!("mnist-stop-test-{}-{test}-", unsafe { libc::getpid() })
        }

        /// The address `socket` is bound to.
        fn name_of(socket: i32) -> (libc::sockaddr_un, libc::socklen_t) {
            // SAFETY: an all-zero sockaddr_un is valid; getsockname writes at most `len` bytes.
            unsafe {
                let mut address: libc::sockaddr_un = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                let ptr = (&mut address as *mut libc::sockaddr_un).cast();
                assert_eq!(libc::getsockname(socket, ptr, &mut len), 0);
                (address, len)
            }
        }

        /// The byte waiting on `receiver`, if any (what the watcher would act on next).
        fn pending(receiver: i32) -> Option<u8> {
            let mut byte = [0u8; 1];
            // SAFETY: receives at most one byte into a buffer of ours, without waiting.
            let got =
                unsafe { libc::recv(receiver, byte.as_mut_ptr().cast(), 1, libc::MSG_DONTWAIT) };
            (got == 1).then_some(byte[0])
        }

        /// Wakes the watcher through `sender` as the handler does; true when the byte went.
        fn wake(sender: i32, byte: u8) -> bool {
            // SAFETY: sends one byte from a buffer of ours.
            unsafe { libc::send(sender, [byte].as_ptr().cast(), 1, libc::MSG_DONTWAIT) == 1 }
        }

        /// Waits for the child `pid` and returns its exit code.
        fn exit_code(pid: libc::pid_t) -> i32 {
            let mut status = 0;
            // SAFETY: waits for a child of ours, writing into a status of ours.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status), "status {status}");
            libc::WEXITSTATUS(status)
        }

        #[test]
        fn every_library_finds_the_one_watcher() {
            let first = connect_watcher();
            assert!(first >= 0, "no watcher");
            assert_eq!(connect_watcher(), first, "a second watcher was started");
        }

        #[test]
        fn another_process_cannot_wake_the_watcher() {
            let (receiver, sender) = start_watcher(&test_prefix("foreign")).expect("a watcher");
            let (address, len) = name_of(sender);
            let ptr = (&address as *const libc::sockaddr_un).cast::<libc::sockaddr>();
            // SAFETY: after fork the child calls only async-signal-safe functions (socket,
            // sendto, connect, _exit) on memory made before the fork.
            let child = unsafe { libc::fork() };
            if child == 0 {
                // SAFETY: as above. A zero byte says "not listening, not asked": with a cell
                // running, it would end the process.
                unsafe {
                    let other = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0);
                    let sent = libc::sendto(other, [0u8].as_ptr().cast(), 1, 0, ptr, len) == 1;
                    let connected = libc::connect(other, ptr, len) == 0;
                    libc::_exit(i32::from(sent) | (i32::from(connected) << 1));
                }
            }
            assert!(child > 0, "fork failed");
            // 1: a byte went to the watcher; 2: the other process could connect to it.
            assert_eq!(exit_code(child), 0, "another process reached the watcher");
            assert_eq!(
                pending(receiver),
                None,
                "the watcher got another process's byte"
            );
            assert!(wake(sender, 3), "this process could not wake its watcher");
            assert_eq!(pending(receiver), Some(3));
            // SAFETY: closing the test's own pair.
            unsafe {
                libc::close(receiver);
                libc::close(sender);
            }
        }

        #[test]
        fn a_forked_child_cannot_press_through_the_inherited_socket() {
            let (receiver, sender) = start_watcher(&test_prefix("forked")).expect("a watcher");
            // SAFETY: after fork the child calls only async-signal-safe functions (send, _exit)
            // on a descriptor it inherited and a constant.
            let child = unsafe { libc::fork() };
            if child == 0 {
                // SAFETY: as above. A zero byte says "not listening, not asked": with a cell
                // running, the watcher would end the process.
                unsafe {
                    let sent = libc::send(sender, [0u8].as_ptr().cast(), 1, libc::MSG_DONTWAIT);
                    libc::_exit(i32::from(sent != 1));
                }
            }
            assert!(child > 0, "fork failed");
            assert_eq!(exit_code(child), 0, "the child could not send its byte");
            // SAFETY: getpid has no preconditions.
            let this = unsafe { libc::getpid() };
            let decision = receive(receiver, this).expect("the child's datagram");
            assert_eq!(
                decision, None,
                "the watcher accepted the forked child's byte"
            );
            assert!(wake(sender, 0), "this process could not wake its watcher");
            let decision = receive(receiver, this).expect("this process's datagram");
            assert_eq!(decision, Some(0), "the watcher dropped this process's byte");
            // SAFETY: closing the test's own pair.
            unsafe {
                libc::close(receiver);
                libc::close(sender);
            }
        }

        #[test]
        fn a_name_another_process_bound_first_is_not_taken_for_the_watcher() {
            let prefix = test_prefix("squatted");
            let (squatted, len) = abstract_address(&format!("{prefix}0000000000000000"));
            let ptr = (&squatted as *const libc::sockaddr_un).cast::<libc::sockaddr>();
            let mut ready = [-1; 2];
            // SAFETY: pipe2 writes two descriptors into an array of ours.
            assert_eq!(
                unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) },
                0
            );
            // SAFETY: after fork the child calls only async-signal-safe functions (socket, bind,
            // write, pause) on memory made before the fork, until it is killed.
            let squatter = unsafe { libc::fork() };
            if squatter == 0 {
                // SAFETY: as above.
                unsafe {
                    let socket = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0);
                    let bound = [u8::from(libc::bind(socket, ptr, len) == 0)];
                    libc::write(ready[1], bound.as_ptr().cast(), 1);
                    loop {
                        libc::pause();
                    }
                }
            }
            assert!(squatter > 0, "fork failed");
            let mut bound = [0u8; 1];
            // SAFETY: closing our copy of the write end, then reading one byte into ours.
            let read = unsafe {
                libc::close(ready[1]);
                libc::read(ready[0], bound.as_mut_ptr().cast(), 1)
            };
            let found = find_watcher(&prefix);
            let started = start_watcher(&prefix);
            let found_again = find_watcher(&prefix);
            // SAFETY: ending and reaping the squatter, a child of ours.
            unsafe {
                libc::close(ready[0]);
                libc::kill(squatter, libc::SIGKILL);
                libc::waitpid(squatter, std::ptr::null_mut(), 0);
            }
            assert_eq!(
                (read, bound[0]),
                (1, 1),
                "the squatter could not bind its name"
            );
            assert_eq!(
                found, None,
                "the squatter's socket was taken for the watcher"
            );
            let (receiver, sender) = started.expect("a watcher of this process's own");
            assert_eq!(found_again, Some(sender), "the new watcher is not found");
            assert!(wake(sender, 1));
            assert_eq!(pending(receiver), Some(1));
            // SAFETY: closing the test's own pair.
            unsafe {
                libc::close(receiver);
                libc::close(sender);
            }
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
