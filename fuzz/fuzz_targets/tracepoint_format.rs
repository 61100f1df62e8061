//! Fuzzes the tracepoint format parser and the print-format evaluator: any
//! format text must parse or give an error, and a parsed format must decode
//! and print any payload without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strobe_probe::tracefs::format::{NoSymbols, TracepointFormat};

fuzz_target!(|data: &[u8]| {
    // The input is a format text, then a NUL, then a payload.
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let payload = data.get(split + 1..).unwrap_or(&[]);
    let Ok(format) = TracepointFormat::parse("fuzz", text) else {
        return;
    };
    for field in &format.fields {
        let _ = format.value(field, payload);
    }
    let _ = format.format_event(payload, &NoSymbols);
});
