//! Parses every tracepoint format file of the running kernel.
//!
//! Needs root (tracefs is root-only). Under CI=true it never skips: a
//! missing privilege is a failure.
//!
//! Every file must parse. Print fmts may fail where libtraceevent fails too
//! (helper functions it does not know, statement expressions); the test
//! lists those, and fails if they are more than a few percent, which would
//! mean the parser, not the kernel, is at fault.

use std::fs;
use std::path::{Path, PathBuf};
use strobe_probe::tracefs::format::{NoSymbols, TracepointFormat};

mod support;
use support::{have_root, tracefs};

/// (system, event, path of its format file), sorted.
fn format_files(events: &Path) -> Vec<(String, String, PathBuf)> {
    let mut files = Vec::new();
    for system in fs::read_dir(events).expect("read events/") {
        let system = system.expect("events/ entry").path();
        if !system.is_dir() {
            continue;
        }
        let system_name = system.file_name().unwrap().to_string_lossy().into_owned();
        for event in fs::read_dir(&system).expect("read a system directory") {
            let event = event.expect("system entry").path();
            let format = event.join("format");
            if format.is_file() {
                let event_name = event.file_name().unwrap().to_string_lossy().into_owned();
                files.push((system_name.clone(), event_name, format));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_host_format_parses() {
    if !have_root("every_host_format_parses") {
        return;
    }
    let events = tracefs().join("events");
    let files = format_files(&events);
    assert!(
        !files.is_empty(),
        "no format files under {}",
        events.display()
    );

    let mut file_failures = Vec::new();
    let mut print_failures = Vec::new();
    for (system, event, path) in &files {
        let text =
            fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let format = match TracepointFormat::parse(system, &text) {
            Ok(format) => format,
            Err(e) => {
                file_failures.push(format!("{system}:{event}: {e}"));
                continue;
            }
        };
        assert_eq!(&format.name, event, "{}", path.display());
        if let Ok(id) = fs::read_to_string(path.with_file_name("id")) {
            assert_eq!(id.trim(), format.id.to_string(), "{}", path.display());
        }
        if let Err(reason) = &format.print {
            print_failures.push(format!("{system}:{event}: {reason}"));
        }
        // Formatting a zeroed record, and a record cut short, must not panic.
        let len = format
            .fields
            .iter()
            .map(|f| (f.offset + f.size) as usize)
            .max()
            .unwrap_or(0);
        let zeros = vec![0u8; len];
        let _ = format.format_event(&zeros, &NoSymbols);
        let _ = format.format_event(&zeros[..len / 2], &NoSymbols);
        for field in &format.fields {
            let _ = format.value(field, &zeros);
        }
    }

    eprintln!(
        "{} format files; {} failed to parse; {} print fmts failed to parse (perf prints those events as [FAILED TO PARSE]):",
        files.len(),
        file_failures.len(),
        print_failures.len()
    );
    for failure in &print_failures {
        eprintln!("  {failure}");
    }
    assert!(
        file_failures.is_empty(),
        "format files that did not parse:\n{}",
        file_failures.join("\n")
    );
    assert!(
        print_failures.len() * 100 <= files.len() * 3,
        "{} of {} print fmts failed to parse",
        print_failures.len(),
        files.len()
    );
}
