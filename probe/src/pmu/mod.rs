//! Hardware PMUs.
//!
//! [`format`] turns `name=value` terms into config bits, following a PMU's
//! sysfs `format/` files; [`sysfs`] discovers the PMUs the kernel offers
//! (their type numbers, formats and event aliases); [`tables`] holds the
//! named event tables strobe ships for x86, ARM and POWER CPUs, and detects
//! which one this machine's CPU uses.

pub mod format;
pub mod sysfs;
pub mod tables;

pub use format::{Encoding, PmuFormat, Term, TermFormat};

/// Why a PMU term, format or table could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PmuError {
    /// A format file's content is not `configN:lo-hi[,lo-hi...]`.
    #[error("malformed PMU format for term `{term}`: `{text}` (expected e.g. config:0-7)")]
    BadFormat {
        /// The term.
        term: String,
        /// What the format file said.
        text: String,
    },
    /// A term is not `name`, `name=number`.
    #[error("malformed PMU term `{0}`: expected name=value, with a decimal or 0x value")]
    BadTerm(String),
    /// The PMU has no such term.
    #[error("unknown term `{term}`: this PMU's terms are {}", known.join(", "))]
    UnknownTerm {
        /// The term given.
        term: String,
        /// The PMU's terms.
        known: Vec<String>,
    },
    /// A value does not fit its term's bits.
    #[error("value {value:#x} does not fit term `{term}`, which has {bits} bits")]
    ValueTooWide {
        /// The term.
        term: String,
        /// The value given.
        value: u64,
        /// The term's width.
        bits: u32,
    },
    /// No PMU of that name is in sysfs.
    #[error("no PMU named `{name}` (this machine has: {}): `strobe list pmu` lists them with their events", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    NoSuchPmu {
        /// The name asked for.
        name: String,
        /// The PMUs that are there, sorted.
        available: Vec<String>,
    },
    /// An event alias leaves a term for the user to give (sysfs writes it
    /// `term=?`, as in `ldlat=?`), and the event did not give it.
    #[error("event `{pmu}/{alias}/` needs a value for `{term}`, which the PMU leaves to you: give it beside the event, as in `{pmu}/{alias},{term}=<value>/`")]
    MissingTermValue {
        /// The PMU.
        pmu: String,
        /// The alias.
        alias: String,
        /// The term it needs.
        term: String,
    },
}
