//! Starting the command to profile: forked first, held before exec until the
//! counters are attached (so they can be enabled on exec), then released.

use crate::RecordError;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A forked child waiting to exec the workload.
#[derive(Debug)]
pub struct Workload {
    pid: i32,
    program: String,
    go: Option<OwnedFd>,
    exec_error: OwnedFd,
    reaped: Option<i32>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), RecordError> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(RecordError::Workload(format!(
            "pipe2: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Decodes a `waitpid` status the way a shell does: the exit code, or
/// 128 + the signal number.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// Finds `program` as exec would (a path, or a name looked up in PATH) and
/// checks that it can be executed.
fn find_executable(program: &str) -> Result<std::path::PathBuf, RecordError> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let not_found = |why: &str| RecordError::Workload(format!("cannot run `{program}`: {why}"));
    if program.contains('/') {
        let path = std::path::PathBuf::from(program);
        if !path.exists() {
            return Err(not_found("No such file or directory"));
        }
        return if runnable(&path) {
            Ok(path)
        } else {
            Err(not_found("Permission denied (not executable)"))
        };
    }
    let path_var =
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| runnable(candidate))
        .ok_or_else(|| not_found("command not found in PATH"))
}

impl Workload {
    /// Forks a child that will exec `argv` once [`Workload::start`] is called.
    /// A program that cannot be found or run fails here, before anything
    /// else is done.
    pub fn prepare(argv: &[String]) -> Result<Self, RecordError> {
        let program = argv
            .first()
            .ok_or_else(|| RecordError::Workload("no command given after --".into()))?;
        find_executable(program)?;
        let args: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|_| RecordError::Workload("the command contains a NUL byte".into()))?;
        let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        arg_ptrs.push(std::ptr::null());
        let (go_read, go_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        let (unused_in_child_go, unused_in_child_err) =
            (go_write.as_raw_fd(), err_read.as_raw_fd());
        // SAFETY: between fork and exec the child only calls the
        // async-signal-safe read, execvp, write and _exit, on memory
        // prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(RecordError::Workload(format!(
                "fork: {}",
                std::io::Error::last_os_error()
            )));
        }
        if pid == 0 {
            // SAFETY: see above; this is the child.
            unsafe {
                // Close the parent's ends, or the child would hold the go
                // pipe open itself and never see EOF if strobe gives up.
                libc::close(unused_in_child_go);
                libc::close(unused_in_child_err);
                let mut byte = 0u8;
                if libc::read(go_read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) != 1 {
                    libc::_exit(127);
                }
                libc::execvp(arg_ptrs[0], arg_ptrs.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(err_write.as_raw_fd(), (&errno as *const i32).cast(), 4);
                libc::_exit(127);
            }
        }
        drop(go_read);
        drop(err_write);
        Ok(Workload {
            pid,
            program: program.clone(),
            go: Some(go_write),
            exec_error: err_read,
            reaped: None,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Lets the child exec; fails if exec failed (no such command, say).
    pub fn start(&mut self) -> Result<(), RecordError> {
        let go = self
            .go
            .take()
            .ok_or_else(|| RecordError::Workload("the workload was already started".into()))?;
        // SAFETY: writing one byte from a valid buffer to a pipe we own.
        unsafe { libc::write(go.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        drop(go);
        let mut errno = 0i32;
        // SAFETY: reading at most 4 bytes into a 4-byte buffer. The pipe is
        // close-on-exec, so EOF (0 bytes) means exec succeeded.
        let n = unsafe {
            libc::read(
                self.exec_error.as_raw_fd(),
                (&mut errno as *mut i32).cast(),
                4,
            )
        };
        if n == 4 {
            self.wait();
            return Err(RecordError::Workload(format!(
                "cannot run `{}`: {}",
                self.program,
                std::io::Error::from_raw_os_error(errno)
            )));
        }
        Ok(())
    }

    /// The exit code if the child has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> Option<i32> {
        if self.reaped.is_none() {
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            if unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } == self.pid {
                self.reaped = Some(exit_code(status));
            }
        }
        self.reaped
    }

    /// Waits for the child to exit and returns its exit code.
    pub fn wait(&mut self) -> i32 {
        while self.reaped.is_none() {
            let mut status = 0;
            // SAFETY: as in try_wait, blocking.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                self.reaped = Some(exit_code(status));
            } else if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                self.reaped = Some(1);
            }
        }
        self.reaped.unwrap_or(1)
    }

    /// Asks the child to terminate (SIGTERM).
    pub fn terminate(&self) {
        if self.reaped.is_none() {
            // SAFETY: signalling our own, unreaped child.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        if self.go.is_some() {
            // Never started: the child is blocked on the pipe; closing it
            // makes it exit, and we reap it.
            self.go = None;
            self.wait();
        }
    }
}
