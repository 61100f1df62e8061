//! The collector and the strobe file format.
//!
//! [`format`] is the on-disk format: a writer over any [`format::writer::Sink`]
//! and a pure reader over bytes. It depends on nothing else in strobe, so
//! analyzers can read files without pulling in the collector.
//!
//! [`session`] is the collector: it opens events through `strobe-probe`,
//! drains the per-CPU ring buffers into chunks, synthesizes side-band records
//! from /proc ([`procfs`]) and records build-ids ([`buildid`]). [`workload`]
//! starts the command being profiled. [`counting`] is counting mode, for
//! `strobe stat`.

#![deny(missing_docs)]

pub mod buildid;
pub mod counting;
pub mod format;
pub mod ftrace;
pub mod kallsyms;
pub mod procfs;
pub mod session;
pub mod workload;

pub use session::{Controls, RecordOptions, Session, Summary, Targets};

/// Errors from the collector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Opening or driving an event failed.
    #[error(transparent)]
    Probe(#[from] strobe_probe::Error),
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] format::writer::WriteError),
    /// The workload could not be started.
    #[error("{0}")]
    Workload(String),
    /// A hardware event was asked for on a machine without a PMU.
    #[error("event `{0}` needs a hardware PMU, and this machine has none (a VM?): use a software event such as cpu-clock")]
    NoHardwarePmu(String),
    /// A -p or -t target does not exist.
    #[error("no such process or thread: {0}")]
    NoSuchProcess(i32),
    /// The kernel rejected a tracepoint filter.
    #[error("the filter for {event} was rejected: {rejection}")]
    FilterRejected {
        /// The event the filter was for.
        event: String,
        /// The kernel's reason and where in the filter.
        rejection: strobe_probe::tracefs::FilterRejection,
    },
    /// The function tracers are refused because the kernel is in lockdown.
    #[error("the function tracer is blocked by kernel lockdown ({0} mode, /sys/kernel/security/lockdown): tracepoints (-e) still work; --func needs a kernel booted without lockdown")]
    FunctionTracerBlocked(String),
    /// A `--func`/`--notrace` glob matched no traceable function.
    #[error(
        "no traceable function matches `{0}`: available_filter_functions in tracefs lists them"
    )]
    NoSuchFunction(String),
    /// The kernel has no such tracer for an instance.
    #[error("this kernel offers no {0} tracer to tracefs instances (it needs CONFIG_FUNCTION_GRAPH_TRACER, and Linux 6.11 or later for instances)")]
    TracerUnavailable(String),
    /// The kernel refused `--subbuf-size`.
    #[error("the kernel refused a sub-buffer size of {kb} KiB ({reason}): leave --subbuf-size out to trace with the kernel's {current} KiB sub-buffers")]
    SubbufRefused {
        /// The size asked for.
        kb: u64,
        /// Why, as far as tracefs tells.
        reason: String,
        /// The instance's size, which tracing keeps.
        current: String,
    },
    /// Setting up or reading a trace failed.
    #[error("{0}")]
    Trace(String),
    /// `strobe trace -e` named an event that is not a tracepoint.
    #[error("{0} is not a tracepoint: `strobe trace -e` takes SYSTEM:EVENT (use `strobe record` for other events)")]
    NotATracepoint(String),
    /// `--filter` followed an event that is not a tracepoint.
    #[error("--filter applies to tracepoints, and {0} is not one: put --filter after a `-e system:event`")]
    FilterNeedsTracepoint(String),
}
