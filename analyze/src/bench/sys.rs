//! Every system call the benchmarks make, behind safe functions.
//!
//! The benchmarks measure the kernel, so they call it directly (`pipe2`,
//! `fork`, `futex`, `getppid`) rather than through `std` wrappers that add
//! work or hide the call. Keeping the `unsafe` here leaves the suites as
//! plain Rust, and gives every failure one shape: an [`io::Error`] from
//! `errno`, which [`syscall_error`] names.
//!
//! Code that runs in a forked child must be async-signal-safe: the parent
//! may have other threads (a test harness, a progress thread), and one of
//! them may have held the allocator's lock at the moment of `fork`. So the
//! functions a child uses ([`read_exact`], [`write_all`], [`wait_readable`])
//! never allocate, not even for their errors.

use super::BenchError;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU32;

/// Wraps a failed call's error with the call's name and a hint.
pub(crate) fn syscall_error(call: &'static str, error: io::Error) -> BenchError {
    BenchError::Syscall { call, error }
}

/// The result of a call that returns -1 and sets `errno`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A pipe, `(read end, write end)`. Close-on-exec, so a command that
/// another thread of this process starts meanwhile does not inherit it.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), BenchError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })
        .map_err(|e| syscall_error("pipe()", e))?;
    // SAFETY: pipe2 succeeded, so both are open descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected pair of Unix stream sockets, close-on-exec.
pub(crate) fn socketpair() -> Result<(OwnedFd, OwnedFd), BenchError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })
    .map_err(|e| syscall_error("socketpair()", e))?;
    // SAFETY: socketpair succeeded, so both are open descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads exactly `buf.len()` bytes, as the benchmarks' loops do: a short
/// read is continued, end of file is an error. Async-signal-safe.
pub(crate) fn read_exact(fd: RawFd, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is valid for writes of `rest.len()` bytes.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match n {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n if n < 0 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            n => done += n as usize,
        }
    }
    Ok(())
}

/// Writes all of `buf`, continuing short writes. Async-signal-safe.
pub(crate) fn write_all(fd: RawFd, buf: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &buf[done..];
        // SAFETY: `rest` is valid for reads of `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        } else {
            done += n as usize;
        }
    }
    Ok(())
}

/// Blocks until `fd` is readable (or its other end is closed).
/// Async-signal-safe.
pub(crate) fn wait_readable(fd: RawFd) -> io::Result<()> {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        match check(unsafe { libc::poll(&mut pollfd, 1, -1) }) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `getppid(2)`, the call `syscall basic` measures. glibc does not cache
/// it, so every call enters the kernel.
#[inline(never)]
pub(crate) fn getppid() -> libc::pid_t {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() }
}

/// Processes forked to run a piece of a benchmark. Dropping the set kills
/// and reaps whatever is still running, so an error part-way through a
/// benchmark leaves neither stray processes nor zombies behind.
#[derive(Debug, Default)]
pub(crate) struct Children {
    pids: Vec<libc::pid_t>,
}

impl Children {
    /// Forks a child that runs `work` and exits with 0, or with the
    /// `errno` of the error `work` returned (255 for an error without one).
    ///
    /// The child asks the kernel to kill it when this thread exits, so a
    /// child blocked on a pipe does not outlive a benchmark whose parent
    /// was killed.
    ///
    /// # Safety
    ///
    /// `work` runs in a copy of this process with one thread. It must be
    /// async-signal-safe: no allocation, no locks, no output through `std`.
    pub unsafe fn spawn(
        &mut self,
        work: impl FnOnce() -> io::Result<()>,
    ) -> Result<libc::pid_t, BenchError> {
        // Reserve first: pushing after the fork must not fail.
        self.pids.reserve(1);
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child only runs `work` (async-signal-safe by this
        // function's contract) and async-signal-safe calls, then _exit.
        let pid = check(unsafe { libc::fork() }).map_err(|e| syscall_error("fork()", e))?;
        if pid == 0 {
            // SAFETY: prctl, getppid and _exit are async-signal-safe.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The parent may have died before the prctl took effect.
                if libc::getppid() != parent {
                    libc::_exit(255);
                }
                let code = match work() {
                    Ok(()) => 0,
                    Err(e) => e.raw_os_error().map_or(255, |errno| errno.clamp(1, 254)),
                };
                libc::_exit(code);
            }
        }
        self.pids.push(pid);
        Ok(pid)
    }

    /// How many children are running.
    pub fn len(&self) -> usize {
        self.pids.len()
    }

    /// Waits for every child, in the order they were started. `role`
    /// names them in the error of one that failed.
    pub fn wait_all(&mut self, role: &'static str) -> Result<(), BenchError> {
        let mut failure = None;
        for pid in std::mem::take(&mut self.pids) {
            let status = wait(pid)?;
            if failure.is_none() {
                failure = child_failure(role, status);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: `pid` is a child of ours that has not been reaped,
            // so the number still names it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for pid in std::mem::take(&mut self.pids) {
            let _ = wait(pid);
        }
    }
}

/// Waits for one child; returns its wait status.
fn wait(pid: libc::pid_t) -> Result<libc::c_int, BenchError> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid place for the wait status.
        match check(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(status),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(syscall_error("waitpid()", e)),
        }
    }
}

/// The error for a child that did not exit with 0, or `None`.
fn child_failure(role: &'static str, status: libc::c_int) -> Option<BenchError> {
    let reason = if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => return None,
            255 => "it exited with status 255".to_string(),
            errno => io::Error::from_raw_os_error(errno).to_string(),
        }
    } else if libc::WIFSIGNALED(status) {
        format!("it was killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("it stopped with wait status {status:#x}")
    };
    Some(BenchError::Worker { role, reason })
}

/// The CPUs this process may run on, in order. perf uses the online CPUs;
/// these are the same unless `taskset` or a cpuset restricts strobe, where
/// pinning to an online CPU outside the set would fail.
pub(crate) fn allowed_cpus() -> Result<Vec<usize>, BenchError> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes of its size.
    check(unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) })
        .map_err(|e| syscall_error("sched_getaffinity()", e))?;
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the size of the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        return Ok(vec![0]);
    }
    Ok(cpus)
}

/// Pins the calling thread to one CPU, as perf pins each futex worker.
pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: callers pass CPUs from allowed_cpus, below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    check(unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) }).map(|_| ())
}

/// Starts a thread the way perf starts its futex waiters: `pthread_create`
/// with the CPU affinity set in the attributes, so it is pinned from its
/// first instruction.
///
/// # Safety
///
/// `arg` must stay valid until the thread has been [`join`]ed, and
/// `start` must not unwind.
pub(crate) unsafe fn spawn_pinned(
    cpu: usize,
    start: extern "C-unwind" fn(*mut libc::c_void) -> *mut libc::c_void,
    arg: *mut libc::c_void,
) -> io::Result<libc::pthread_t> {
    // SAFETY: "C-unwind" and "C" have the same calling convention; the
    // difference is only whether an unwind may leave the function, which
    // pthread_exit's forced unwind does and glibc's start_thread allows.
    let start: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void =
        unsafe { std::mem::transmute(start) };
    // SAFETY: an all-zero pthread_attr_t is what pthread_attr_init
    // overwrites; an all-zero cpu_set_t is a valid empty set.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: callers pass CPUs from allowed_cpus, below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `attr` is initialised before use and destroyed after;
    // `set` is a valid cpu_set_t of the size given; the caller vouches for
    // `start` and `arg`.
    let ret = unsafe {
        libc::pthread_attr_init(&mut attr);
        let mut ret =
            libc::pthread_attr_setaffinity_np(&mut attr, std::mem::size_of_val(&set), &set);
        if ret == 0 {
            ret = libc::pthread_create(&mut thread, &attr, start, arg);
        }
        libc::pthread_attr_destroy(&mut attr);
        ret
    };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(thread)
}

/// Waits for a thread from [`spawn_pinned`] to end.
pub(crate) fn join(thread: libc::pthread_t) -> io::Result<()> {
    // SAFETY: `thread` came from spawn_pinned and is joined only once
    // (callers give up the value).
    let ret = unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

/// Ends the calling thread with `pthread_exit`, as perf's futex waiters
/// end. glibc implements it by unwinding the thread's stack, which costs
/// tens of microseconds; when a woken waiter runs on the waker's CPU that
/// cost lands inside perf's measured wake-up time, so strobe pays it too.
///
/// # Safety
///
/// Every frame of the calling thread must be free of pending destructors
/// (a "plain old frame"): the unwinding is forced, and Rust defines it only
/// across such frames. Call it from the `extern "C"` start routine given to
/// [`spawn_pinned`], with nothing but references and `Copy` values live.
pub(crate) unsafe fn exit_thread() -> ! {
    // SAFETY: the caller guarantees the frames it unwinds are plain.
    unsafe { libc::pthread_exit(std::ptr::null_mut()) }
}

/// `FUTEX_WAIT` on `word` while it holds `expected`, with no timeout.
/// `private` adds `FUTEX_PRIVATE_FLAG`, perf's default.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, private: bool) -> io::Result<()> {
    let op = libc::FUTEX_WAIT | if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    // SAFETY: `word` is a live, aligned 32-bit atomic for the whole call;
    // the timeout is null (wait forever) and the other arguments unused.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            expected,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `FUTEX_WAKE`: wakes up to `count` waiters on `word`; returns how many
/// it woke.
pub(crate) fn futex_wake(word: &AtomicU32, count: u32, private: bool) -> io::Result<u32> {
    let op = libc::FUTEX_WAKE | if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    let count = libc::c_int::try_from(count).unwrap_or(libc::c_int::MAX);
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE reads
    // only the address.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            count,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(u32::try_from(ret).unwrap_or(0))
    }
}

/// Locks the process's memory (`-m`, perf's `mlockall`); the guard
/// unlocks it, since a library must not leave its caller pinned in RAM.
#[derive(Debug)]
pub(crate) struct MemoryLock(());

impl MemoryLock {
    pub fn new() -> Result<Self, BenchError> {
        // SAFETY: mlockall has no memory-safety preconditions.
        check(unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) })
            .map_err(|e| syscall_error("mlockall()", e))?;
        Ok(Self(()))
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        // SAFETY: munlockall has no preconditions.
        unsafe { libc::munlockall() };
    }
}

/// The C library's `memcpy`, as a pointer the optimizer cannot see
/// through: called directly, the compiler would know what memcpy does and
/// could drop copies whose result nobody reads, or inline its own.
pub(crate) fn libc_memcpy(
) -> unsafe extern "C" fn(*mut libc::c_void, *const libc::c_void, usize) -> *mut libc::c_void {
    std::hint::black_box(libc::memcpy)
}

/// The C library's `memset`, hidden from the optimizer the same way.
pub(crate) fn libc_memset(
) -> unsafe extern "C" fn(*mut libc::c_void, libc::c_int, usize) -> *mut libc::c_void {
    std::hint::black_box(libc::memset)
}
