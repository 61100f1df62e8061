//! The one funnel for system calls on perf-event file descriptors.
//!
//! Nothing else in strobe calls `perf_event_open`, `ioctl` or `mmap` on a perf
//! event directly. Each wrapper turns a failure into [`Error::Syscall`] that
//! names the call, what it was made on, and, for the errors users meet in
//! practice, what to do about it.

use crate::{Error, Result};
use perf_event_open_sys as sys;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// The raw kernel attribute structure.
pub type RawAttr = sys::bindings::perf_event_attr;

/// The header page of a perf mmap ring buffer.
pub type MmapPage = sys::bindings::perf_event_mmap_page;

fn syscall_error(call: &'static str, context: String, source: io::Error) -> Error {
    let hint = match source.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            format!(
                "; not permitted (kernel.perf_event_paranoid is {paranoid}): run as root, \
                 or lower it with `sysctl kernel.perf_event_paranoid=-1`"
            )
        }
        Some(libc::ESRCH) => "; no such process or thread".into(),
        Some(libc::EMFILE) => "; too many open files: raise the limit with `ulimit -n`".into(),
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV) => {
            "; this event is not supported by this kernel or machine".into()
        }
        Some(libc::ENOMEM) if call == "mmap" => {
            "; the ring buffer could not be mapped: use a smaller -m, or raise \
             kernel.perf_event_mlock_kb"
                .into()
        }
        _ => String::new(),
    };
    Error::Syscall {
        call,
        context,
        source,
        hint,
    }
}

/// Opens a perf event. `context` describes the event for error messages.
pub fn perf_event_open(
    attr: &RawAttr,
    pid: i32,
    cpu: i32,
    group_fd: i32,
    context: impl FnOnce() -> String,
) -> Result<OwnedFd> {
    let mut attr = *attr;
    // SAFETY: `attr` is a valid, initialised perf_event_attr whose `size`
    // field describes it; the kernel only reads it (and may write `size` back
    // on E2BIG, which our local copy absorbs).
    let fd = unsafe {
        sys::perf_event_open(
            &mut attr,
            pid,
            cpu,
            group_fd,
            sys::bindings::PERF_FLAG_FD_CLOEXEC as _,
        )
    };
    if fd < 0 {
        return Err(syscall_error(
            "perf_event_open",
            context(),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check(ret: libc::c_int, call: &'static str, context: impl FnOnce() -> String) -> Result<()> {
    if ret < 0 {
        Err(syscall_error(call, context(), io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

/// Reads a counting event into `buf` (as many u64 words as its
/// `read_format` produces); returns the number of words read.
pub fn read_counter(fd: BorrowedFd<'_>, buf: &mut [u64]) -> Result<usize> {
    // SAFETY: `buf` is valid for writes of its whole length in bytes.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            std::mem::size_of_val(buf),
        )
    };
    if n < 0 {
        return Err(syscall_error(
            "read",
            "perf counter".into(),
            io::Error::last_os_error(),
        ));
    }
    Ok(n as usize / 8)
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn enable(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: plain ioctl on a descriptor we hold a borrow of.
    let ret = unsafe { sys::ioctls::ENABLE(fd.as_raw_fd(), 0) };
    check(ret, "ioctl(PERF_EVENT_IOC_ENABLE)", || {
        format!("fd {}", fd.as_raw_fd())
    })
}

/// `PERF_EVENT_IOC_DISABLE`.
pub fn disable(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: plain ioctl on a descriptor we hold a borrow of.
    let ret = unsafe { sys::ioctls::DISABLE(fd.as_raw_fd(), 0) };
    check(ret, "ioctl(PERF_EVENT_IOC_DISABLE)", || {
        format!("fd {}", fd.as_raw_fd())
    })
}

/// `PERF_EVENT_IOC_ID`: the kernel's id for the event, as found in samples.
pub fn event_id(fd: BorrowedFd<'_>) -> Result<u64> {
    let mut id = 0u64;
    // SAFETY: the kernel writes one u64 through the pointer, which is valid.
    let ret = unsafe { sys::ioctls::ID(fd.as_raw_fd(), &mut id) };
    check(ret, "ioctl(PERF_EVENT_IOC_ID)", || {
        format!("fd {}", fd.as_raw_fd())
    })?;
    Ok(id)
}

/// `PERF_EVENT_IOC_SET_OUTPUT`: send `fd`'s records to `target`'s ring buffer.
pub fn set_output(fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: plain ioctl on two descriptors we hold borrows of.
    let ret = unsafe { sys::ioctls::SET_OUTPUT(fd.as_raw_fd(), target.as_raw_fd()) };
    check(ret, "ioctl(PERF_EVENT_IOC_SET_OUTPUT)", || {
        format!("fd {} -> fd {}", fd.as_raw_fd(), target.as_raw_fd())
    })
}

/// Maps `len` bytes of a perf event's ring buffer, read-write and shared.
pub fn mmap_ring(fd: BorrowedFd<'_>, len: usize) -> Result<NonNull<u8>> {
    // SAFETY: we ask for a fresh shared mapping of a perf fd; the kernel
    // validates the length and the result is checked below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(syscall_error(
            "mmap",
            format!("perf ring buffer of {} KiB", len / 1024),
            io::Error::last_os_error(),
        ));
    }
    NonNull::new(ptr.cast()).ok_or_else(|| {
        syscall_error(
            "mmap",
            "perf ring buffer".into(),
            io::Error::from_raw_os_error(libc::EFAULT),
        )
    })
}

/// Unmaps a ring buffer mapped by [`mmap_ring`].
///
/// # Safety
/// `ptr` and `len` must come from one successful [`mmap_ring`] call, and no
/// reference into the mapping may outlive this call.
pub unsafe fn munmap_ring(ptr: NonNull<u8>, len: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        libc::munmap(ptr.as_ptr().cast(), len);
    }
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as usize
    } else {
        4096
    }
}

/// Waits up to `timeout_ms` for `fd` to be readable; false on timeout or
/// error (the caller reads anyway when it must).
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> bool {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pollfd, 1, timeout_ms) > 0 }
}

/// Mounts tracefs at `target` (which must exist).
pub fn mount_tracefs(target: &std::path::Path) -> Result<()> {
    mount_fs("tracefs", target)
}

/// Mounts a pseudo file system (`tracefs`, `securityfs`, `debugfs`) of
/// type `fstype` at `target`.
pub fn mount_fs(fstype: &str, target: &std::path::Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target_c = std::ffi::CString::new(target.as_os_str().as_bytes()).map_err(|_| {
        syscall_error(
            "mount",
            target.display().to_string(),
            io::Error::from_raw_os_error(libc::EINVAL),
        )
    })?;
    let fstype_c = std::ffi::CString::new(fstype).map_err(|_| {
        syscall_error(
            "mount",
            fstype.to_string(),
            io::Error::from_raw_os_error(libc::EINVAL),
        )
    })?;
    // SAFETY: every pointer is a valid NUL-terminated string for the call.
    let ret = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target_c.as_ptr(),
            fstype_c.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    check(ret, "mount", || format!("{fstype} on {}", target.display()))
}

/// `PERF_EVENT_IOC_SET_FILTER`: a tracepoint's ftrace filter.
pub fn set_filter(fd: BorrowedFd<'_>, filter: &str) -> Result<()> {
    let c_filter = std::ffi::CString::new(filter).map_err(|_| {
        syscall_error(
            "ioctl(PERF_EVENT_IOC_SET_FILTER)",
            format!("filter `{filter}`"),
            io::Error::from_raw_os_error(libc::EINVAL),
        )
    })?;
    // SAFETY: the kernel reads a NUL-terminated string through the pointer.
    let ret = unsafe { sys::ioctls::SET_FILTER(fd.as_raw_fd(), c_filter.as_ptr() as *mut _) };
    check(ret, "ioctl(PERF_EVENT_IOC_SET_FILTER)", || {
        format!("filter `{filter}`")
    })
}
