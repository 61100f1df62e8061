//! Event sources for strobe.
//!
//! This crate is the only place in strobe that talks to the kernel's
//! perf-event interface. Every system call goes through [`sys`], so that its
//! errors name the call that failed and the logic above it can be tested
//! without root. On top of that sit the attribute builder ([`attr`]), the
//! event-spec parser ([`spec`]), CPU lists ([`cpu`]) and the lock-free reader
//! of the kernel's mmap ring buffer ([`ring`]). [`tracefs`] covers the
//! tracing file system: tracepoint formats, filters, instances and the
//! ftrace ring-buffer pages.

#![deny(missing_docs)]

pub mod attr;
pub mod cpu;
pub mod dynamic;
pub mod event;
pub mod pmu;
pub mod ring;
pub mod spec;
pub mod sys;
pub mod tracefs;

pub use attr::{EventAttr, SampleLayout};
pub use cpu::CpuList;
pub use event::PerfEvent;
pub use ring::RingBuffer;
pub use spec::{EventSpec, SpecError};

use std::io;

/// Errors from the event-source layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed; `call` names it and `context` says on what.
    #[error("{call}({context}): {source}{hint}")]
    Syscall {
        /// The system call, e.g. `perf_event_open`.
        call: &'static str,
        /// What it was called on (event name, CPU, pid, path).
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
        /// A sentence telling the user what to do, already prefixed with "; ".
        hint: String,
    },
    /// An event specification could not be parsed.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A CPU list was malformed or named CPUs that are not online.
    #[error("{0}")]
    CpuList(String),
    /// A tracefs file could not be read or written.
    #[error("cannot {action} {}: {source}{hint}", path.display())]
    Tracefs {
        /// What was being done (`read`, `write`, `create instance`).
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
        /// A sentence telling the user what to do, already prefixed with "; ".
        hint: String,
    },
    /// tracefs is neither mounted nor mountable.
    #[error("tracefs is not available: this kernel has no tracing support (CONFIG_TRACING), or it could not be mounted at /sys/kernel/tracing")]
    NoTracefs,
    /// A PMU, its format or one of its terms could not be used; for a file
    /// of a PMU, `context` names it.
    #[error("{}{source}", context.as_ref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Pmu {
        /// The sysfs file or directory, when one is at fault.
        context: Option<String>,
        /// What was wrong.
        source: pmu::PmuError,
    },
    /// No tracepoint matches a `system:event` pattern.
    #[error("no tracepoint matches `{pattern}`{}: `strobe list tracepoint` lists them", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownTracepoint {
        /// The pattern given.
        pattern: String,
        /// The closest tracepoint name, if one is close.
        suggestion: Option<String>,
    },
    /// The kernel has no kprobes; the text says what still works.
    #[error("kprobes are not available: this kernel was built without CONFIG_KPROBES (tracefs has no kprobe_events, sysfs no kprobe PMU); {0}")]
    NoKprobes(&'static str),
    /// The kernel has no uprobes.
    #[error("uprobes are not available: this kernel was built without CONFIG_UPROBE_EVENTS (tracefs has no uprobe_events); tracepoints and software events still work")]
    NoUprobes,
    /// A probe of that name exists.
    #[error("a probe named {0} exists already: delete it with `strobe probe --del {0}`, name the new one (EVENT=FUNC), or add it with --force as EVENT_1")]
    ProbeExists(String),
    /// The kernel refused a probe definition.
    #[error("the kernel refused the probe `{line}`: {reason}")]
    ProbeRejected {
        /// The line written to tracefs.
        line: String,
        /// The kernel's reason, from tracefs `error_log`.
        reason: String,
    },
    /// A probe is in use and cannot be deleted.
    #[error("the probe {0} is in use (a recording or trace has it enabled): stop that first, then delete it")]
    ProbeBusy(String),
    /// A probe definition or target is wrong; the text says how.
    #[error("{0}")]
    Probe(String),
}

impl Error {
    /// The raw OS error number, when this error came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Syscall { source, .. } | Error::Tracefs { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
