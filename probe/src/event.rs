//! An open perf event: the file descriptor and the operations on it.

use crate::attr::EventAttr;
use crate::{sys, Result};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// An open perf event. Closing it (dropping) stops it.
#[derive(Debug)]
pub struct PerfEvent {
    fd: OwnedFd,
    id: u64,
}

impl PerfEvent {
    /// Opens `attr` for task `pid` (-1: every task) on `cpu` (-1: any CPU).
    /// `name` is used in error messages.
    pub fn open(attr: &EventAttr, name: &str, pid: i32, cpu: i32) -> Result<Self> {
        Self::open_in_group(attr, name, pid, cpu, None)
    }

    /// Opens `attr` as a member of `leader`'s group (the PMU schedules the
    /// group's events together), or as a leader itself when `leader` is
    /// `None`.
    pub fn open_in_group(
        attr: &EventAttr,
        name: &str,
        pid: i32,
        cpu: i32,
        leader: Option<&PerfEvent>,
    ) -> Result<Self> {
        use std::os::fd::AsRawFd;
        let group_fd = leader.map_or(-1, |l| l.fd.as_raw_fd());
        let fd = sys::perf_event_open(attr.raw(), pid, cpu, group_fd, || {
            let who = if pid == -1 {
                "all tasks".to_string()
            } else {
                format!("pid {pid}")
            };
            let whr = if cpu == -1 {
                "any CPU".to_string()
            } else {
                format!("CPU {cpu}")
            };
            format!("{name}, {who}, {whr}")
        })?;
        let id = sys::event_id(fd.as_fd())?;
        Ok(PerfEvent { fd, id })
    }

    /// The kernel's id for this event, found in its records.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Starts counting or sampling.
    pub fn enable(&self) -> Result<()> {
        sys::enable(self.fd.as_fd())
    }

    /// Stops counting or sampling.
    pub fn disable(&self) -> Result<()> {
        sys::disable(self.fd.as_fd())
    }

    /// Reads the counter: `read_format` decides what the kernel writes.
    pub fn read_counter(&self, buf: &mut [u64]) -> Result<usize> {
        sys::read_counter(self.fd.as_fd(), buf)
    }

    /// Sends this event's records to `target`'s ring buffer (same CPU).
    pub fn redirect_to(&self, target: &PerfEvent) -> Result<()> {
        sys::set_output(self.fd.as_fd(), target.fd.as_fd())
    }
}

impl AsFd for PerfEvent {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
