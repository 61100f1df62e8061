//! tracefs: the kernel's tracing file system.
//!
//! [`format`] parses tracepoint `format` files, [`print_fmt`] evaluates their
//! print formats, and [`page`] decodes the pages of the ftrace ring buffer.
//! All three are pure functions over bytes. The file-system side (finding and
//! mounting tracefs, instances, filters) lives in this module.

pub mod format;
pub mod page;
pub mod print_fmt;
