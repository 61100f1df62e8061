//! The named event tables shipped with strobe.
