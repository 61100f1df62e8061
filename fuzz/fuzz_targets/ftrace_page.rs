//! Fuzzes the ftrace ring-buffer page decoder: any bytes, read as a page of
//! either layout, must decode to events or stop at an error, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strobe_probe::tracefs::page::{summarize, Page, PageLayout};

fuzz_target!(|data: &[u8]| {
    for layout in [
        PageLayout::default_64bit(),
        PageLayout::default_64bit().with_big_endian(true),
    ] {
        let _ = summarize(&layout, data);
        if let Ok(page) = Page::parse(&layout, data) {
            let _ = page.missed_events();
            for event in page.events() {
                if event.is_err() {
                    break;
                }
            }
        }
    }
});
