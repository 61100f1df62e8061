//! The collector and the strobe file format.
//!
//! [`format`] is the on-disk format: a writer over any [`format::writer::Sink`]
//! and a pure reader over bytes. It depends on nothing else in strobe, so
//! analyzers can read files without pulling in the collector.

#![deny(missing_docs)]

pub mod format;
