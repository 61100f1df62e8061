//! Fuzzes the strobe file reader: any bytes must give an error or a file
//! whose every chunk payload can be asked for without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strobe_record::format::reader::StrobeFile;
use strobe_record::format::records::{RecordLayout, RunStats};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = StrobeFile::parse(data) else {
        return;
    };
    let layout = RecordLayout {
        sample_time_offset: Some(24),
        other_time_from_end: Some(8),
        sample_ip_offset: Some(8),
        sample_callchain_offset: Some(40),
    };
    for chunk in &file.chunks {
        if let Ok(payload) = file.payload(chunk) {
            RunStats::walk(&payload, &layout, |_| {});
        }
    }
    let _ = file.kallsyms();
    let _ = file.totals();
});
