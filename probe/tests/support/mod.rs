//! What the root tests of the tracefs parsers share (probe/tests, and
//! analyze/tests through `#[path]`): the CI rule for skipping, and tracefs
//! found or mounted by strobe's own `Tracefs::open`.

#![allow(dead_code)]

use std::path::PathBuf;

/// Whether CI=true, where no root test may skip.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether the test may run: it needs root. Under CI=true a missing
/// privilege is a failure, never a skip.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(!in_ci(), "{test} needs root, and CI=true forbids skipping");
        eprintln!("skipping {test}: needs root");
    }
    root
}

/// tracefs's mount point, mounted by `Tracefs::open` if it was not.
pub fn tracefs() -> PathBuf {
    strobe_probe::tracefs::Tracefs::open()
        .unwrap_or_else(|e| panic!("tracefs: {e}"))
        .root()
        .to_path_buf()
}
