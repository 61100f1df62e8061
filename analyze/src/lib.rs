//! Analysis of recordings: decoding records, and (as they are built) the
//! report, script, diff and kmem engines.
//!
//! Decoding goes through `linux-perf-event-reader`, the same parser for
//! strobe files and perf.data, so both kinds of recording flow through one
//! pipeline.

#![deny(missing_docs)]

pub mod bench;
pub mod compare;
pub mod decode;
pub mod diff;
pub mod filter;
pub mod input;
pub mod kmem;
mod perf_data_in_place;
pub mod python;
pub mod report;
pub mod results;
pub mod script;
pub mod stat;
pub mod symbols;
pub mod tracing_data;

pub use linux_perf_event_reader as perf_records;

/// Errors from analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The file could not be read.
    #[error(transparent)]
    Format(#[from] strobe_record::format::reader::FormatError),
    /// An event attribute in the metadata does not parse.
    #[error("the attribute of event `{0}` is malformed")]
    BadAttribute(String),
    /// The recording lists no events.
    #[error("the recording lists no events")]
    NoEvents,
    /// The ftrace metadata of a trace recording is unusable.
    #[error("cannot read the ftrace pages of this recording: {0}")]
    Ftrace(String),
    /// Writing the output failed (a closed pipe, a full disk).
    #[error(transparent)]
    Output(std::io::Error),
    /// A perf.data file could not be read.
    #[error("cannot read the perf.data file: {0}")]
    PerfData(String),
    /// The recording lacks what `strobe kmem` analyzes.
    #[error("{0}")]
    Kmem(String),
}
