//! `strobe kmem` end to end: record the allocators while `allocs` opens
//! files and makes pipes, then check every total of `kmem stat` against
//! the raw events (`strobe script --json`), and against `perf kmem stat`
//! on perf's own recording. These need root and the kmem tracepoints.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `strobe kmem stat ARGS -i FILE`, its stdout.
fn kmem_stat(file: &Path, args: &[&str]) -> String {
    let out = run(strobe().args(["kmem", "stat", "-i"]).arg(file).args(args));
    ok(&out, "strobe kmem stat");
    String::from_utf8(out.stdout).unwrap()
}

fn kmem_json(file: &Path, args: &[&str]) -> Value {
    let text = kmem_stat(file, &[args, &["--json"]].concat());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"))
}

/// The totals computed from the raw events, with perf kmem's rules
/// written out independently of strobe's: a free counts the last size
/// allocated at its pointer (if any allocation there was seen), and is a
/// ping-pong when it runs on another CPU than that allocation (a freed
/// pointer is on no CPU).
#[derive(Debug, Default, PartialEq)]
struct Expected {
    requested: u64,
    allocated: u64,
    freed: u64,
    allocs: u64,
    pingpong: u64,
    page_allocs: u64,
    page_alloc_bytes: u64,
    page_frees: u64,
    page_free_bytes: u64,
    page_free_only: u64,
    page_failures: u64,
}

fn expected_from_events(events: &[Value], page_size: u64) -> Expected {
    let mut e = Expected::default();
    // ptr -> (last bytes_alloc, CPU of the last allocation or None when freed)
    let mut pointers: HashMap<u64, (u64, Option<u64>)> = HashMap::new();
    let mut live_pages: HashMap<u64, ()> = HashMap::new();
    let num = |v: &Value, name: &str| {
        v["fields"][name]
            .as_u64()
            .or_else(|| v["fields"][name].as_i64().map(|x| x as u64))
            .unwrap_or_else(|| panic!("no field {name} in {v}"))
    };
    for event in events {
        let cpu = event["cpu"].as_u64();
        match event["event"].as_str().unwrap_or("") {
            "kmem:kmalloc"
            | "kmem:kmem_cache_alloc"
            | "kmem:kmalloc_node"
            | "kmem:kmem_cache_alloc_node" => {
                let alloc = num(event, "bytes_alloc");
                e.requested += num(event, "bytes_req");
                e.allocated += alloc;
                e.allocs += 1;
                pointers.insert(num(event, "ptr"), (alloc, cpu));
            }
            "kmem:kfree" | "kmem:kmem_cache_free" => {
                if let Some(p) = pointers.get_mut(&num(event, "ptr")) {
                    e.freed += p.0;
                    if p.1 != cpu {
                        e.pingpong += 1;
                    }
                    p.1 = None;
                }
            }
            "kmem:mm_page_alloc" => {
                let bytes = page_size << num(event, "order");
                e.page_allocs += 1;
                e.page_alloc_bytes += bytes;
                let pfn = num(event, "pfn");
                if pfn == u64::MAX {
                    e.page_failures += 1;
                } else {
                    live_pages.insert(pfn, ());
                }
            }
            "kmem:mm_page_free" => {
                e.page_frees += 1;
                e.page_free_bytes += page_size << num(event, "order");
                if live_pages.remove(&num(event, "pfn")).is_none() {
                    e.page_free_only += 1;
                }
            }
            _ => {}
        }
    }
    e
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Checks `strobe kmem stat --slab --page --caller --json` against the
/// recording's raw events.
fn check_totals_against_events(data: &Path, events: &[Value], with_pages: bool) {
    let page_size = 4096;
    let expected = expected_from_events(events, page_size);
    assert!(expected.allocs > 1000, "too few allocations: {expected:?}");
    let mut args = vec!["--slab", "--caller", "--page-size", "4096"];
    if with_pages {
        args.push("--page");
    }
    let report = kmem_json(data, &args);
    let slab = &report["slab"]["summary"];
    assert_eq!(u(&slab["requested"]), expected.requested, "{slab}");
    assert_eq!(u(&slab["allocated"]), expected.allocated, "{slab}");
    assert_eq!(u(&slab["freed"]), expected.freed, "{slab}");
    assert_eq!(u(&slab["allocs"]), expected.allocs, "{slab}");
    assert_eq!(
        slab["net"].as_i64().unwrap(),
        expected.allocated as i64 - expected.freed as i64
    );
    assert_eq!(u(&slab["wasted"]), expected.allocated - expected.requested);
    let frag = 100.0 - 100.0 * expected.requested as f64 / expected.allocated as f64;
    assert!((slab["fragmentation"].as_f64().unwrap() - frag).abs() < 1e-9);
    // This machine has one NUMA node: no allocation crosses nodes.
    assert_eq!(u(&slab["cross_allocs"]), 0);
    // The call-site table adds up to the summary, and names kernel functions.
    let callers = report["slab"]["callers"].as_array().unwrap();
    let sum = |key: &str| callers.iter().map(|r| u(&r[key])).sum::<u64>();
    assert_eq!(sum("bytes_alloc"), expected.allocated);
    assert_eq!(sum("bytes_req"), expected.requested);
    assert_eq!(sum("hits"), expected.allocs);
    assert_eq!(sum("pingpong"), expected.pingpong);
    let named: Vec<&str> = callers
        .iter()
        .filter_map(|r| r["symbol"].as_str())
        .collect();
    assert!(
        named.len() * 10 >= callers.len() * 9,
        "most call sites resolve: {named:?} of {}",
        callers.len()
    );
    for site in ["alloc_empty_file", "alloc_pipe_info"] {
        assert!(
            named
                .iter()
                .any(|n| n.starts_with(&format!("{site}+")) && n.len() > site.len() + 1),
            "{site}+OFFSET among the call sites: {named:?}"
        );
    }
    if with_pages {
        let page = &report["page"]["summary"];
        assert!(expected.page_allocs > 100, "{expected:?}");
        assert_eq!(u(&page["allocs"]), expected.page_allocs, "{page}");
        assert_eq!(u(&page["alloc_bytes"]), expected.page_alloc_bytes, "{page}");
        assert_eq!(u(&page["frees"]), expected.page_frees, "{page}");
        assert_eq!(u(&page["free_bytes"]), expected.page_free_bytes, "{page}");
        assert_eq!(u(&page["free_only"]), expected.page_free_only, "{page}");
        assert_eq!(u(&page["failures"]), expected.page_failures, "{page}");
        let callers = report["page"]["callers"].as_array().unwrap();
        let hits: u64 = callers.iter().map(|r| u(&r["hits"])).sum();
        assert_eq!(hits, expected.page_allocs - expected.page_failures);
        assert!(
            callers.iter().any(|r| r["symbol"].as_str().is_some()
                && !r["gfp_names"].as_str().unwrap().starts_with("0x")),
            "page call sites and GFP flags by name: {callers:?}"
        );
    }
}

#[test]
fn root_kmem_totals_equal_the_raw_events_of_a_strobe_recording() {
    if !have_root("root_kmem_totals_equal_the_raw_events_of_a_strobe_recording") {
        return;
    }
    let _serial = serial();
    let dir = scratch("kmem_strobe");
    let data = dir.join("kmem.data");
    let allocs = workload("allocs");
    let out = run(strobe()
        .args(["kmem", "record", "--slab", "--page", "-o"])
        .arg(&data)
        .arg("--")
        .arg(&allocs)
        .arg("3000"));
    ok(&out, "strobe kmem record");
    let events = script_json(&data);
    check_totals_against_events(&data, &events, true);
    // The per-pointer table adds up too.
    let report = kmem_json(&data, &["--alloc"]);
    let rows = report["slab"]["allocs"].as_array().unwrap();
    let hits: u64 = rows.iter().map(|r| u(&r["hits"])).sum();
    assert_eq!(hits, u(&report["slab"]["summary"]["allocs"]));
}

/// perf kmem stat's slab summary, by line title.
fn perf_summary(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn root_kmem_stat_agrees_with_perf_kmem_stat_on_perf_data() {
    if !have_root("root_kmem_stat_agrees_with_perf_kmem_stat_on_perf_data") {
        return;
    }
    let _serial = serial();
    let dir = scratch("kmem_perf");
    let data = dir.join("perf.data");
    let allocs = workload("allocs");
    // perf kmem record is system-wide; --page adds mm_page_* with call chains.
    let out = run(Command::new("perf")
        .args(["kmem", "--slab", "--page", "record", "--no-buildid", "-o"])
        .arg(&data)
        .arg("--")
        .arg(&allocs)
        .arg("3000"));
    ok(&out, "perf kmem record");
    // perf kmem takes its options before `stat` only (after it, they are
    // ignored).
    let perf = run(Command::new("perf")
        .args(["kmem", "--slab", "--caller", "-i"])
        .arg(&data)
        .arg("stat"));
    ok(&perf, "perf kmem stat");
    let perf_text = String::from_utf8(perf.stdout).unwrap();
    let theirs = perf_summary(&perf_text);
    let ours_text = kmem_stat(&data, &["--slab", "--caller"]);
    let ours = perf_summary(&ours_text);
    for title in [
        "Total bytes requested",
        "Total bytes allocated",
        "Total bytes freed",
        "Net total bytes allocated",
        "Total bytes wasted on internal fragmentation",
        "Internal fragmentation",
        "Cross CPU allocations",
    ] {
        assert_eq!(
            ours.get(title),
            theirs.get(title),
            "{title}\nperf:\n{perf_text}\nstrobe:\n{ours_text}"
        );
    }
    // The call-site rows are perf's, row for row (order aside: perf breaks
    // ties by its tree's order).
    let rows = |text: &str| {
        let mut rows: Vec<String> = text
            .lines()
            .filter(|l| l.contains('|') && !l.contains("Callsite"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        rows.sort();
        rows
    };
    let (perf_rows, our_rows) = (rows(&perf_text), rows(&ours_text));
    assert!(perf_rows.len() > 10, "{perf_text}");
    assert_eq!(our_rows, perf_rows);
    // perf 6.1 cannot parse this kernel's mm_page_* events (their print
    // format reads vmemmap_base), so the page totals are checked against
    // the raw events of the same perf.data instead.
    let events = script_json(&data);
    check_totals_against_events(&data, &events, true);
}

/// Every item of a recording, as comparable text.
fn items(recording: &strobe_analyze::input::Recording<'_>) -> (Vec<String>, u64, u64) {
    let mut items = Vec::new();
    let stats = recording
        .for_each(|item| items.push(format!("{item:?}")))
        .expect("the recording streams");
    (items, stats.lost, stats.malformed)
}

#[test]
fn root_perf_data_read_in_place_gives_the_crates_items_in_its_order() {
    if !have_root("root_perf_data_read_in_place_gives_the_crates_items_in_its_order") {
        return;
    }
    let _serial = serial();
    let dir = scratch("kmem_in_place");
    let data = dir.join("perf.data");
    // Several events, call chains (the page events), side-band records, and
    // two CPUs' buffers interleaved in rounds.
    let out = run(Command::new("perf")
        .args(["kmem", "--slab", "--page", "record", "--no-buildid", "-o"])
        .arg(&data)
        .arg("--")
        .arg(workload("allocs"))
        .arg("2000"));
    ok(&out, "perf kmem record");
    let bytes = std::fs::read(&data).unwrap();
    let in_place = strobe_analyze::input::Recording::from_perf_data(&bytes, Vec::new()).unwrap();
    let mut through_crate =
        strobe_analyze::input::Recording::from_perf_data(&bytes, Vec::new()).unwrap();
    through_crate.set_in_place_reading(false);
    let (ours, theirs) = (items(&in_place), items(&through_crate));
    assert!(ours.0.len() > 10_000, "{} items", ours.0.len());
    assert_eq!(ours.1, theirs.1, "lost");
    assert_eq!(ours.2, theirs.2, "malformed");
    assert_eq!(ours.0.len(), theirs.0.len());
    for (i, (a, b)) in ours.0.iter().zip(&theirs.0).enumerate() {
        assert_eq!(a, b, "item {i}");
    }
}

#[test]
fn root_kmem_stat_options_after_stat_work_as_before_it() {
    if !have_root("root_kmem_stat_options_after_stat_work_as_before_it") {
        return;
    }
    let _serial = serial();
    let dir = scratch("kmem_options");
    let data = dir.join("kmem.data");
    let out = run(strobe()
        .args(["kmem", "record", "--page", "--slab", "-q", "-o"])
        .arg(&data)
        .arg("--")
        .arg(workload("allocs"))
        .arg("500"));
    ok(&out, "strobe kmem record");
    let before = run(strobe()
        .args([
            "kmem",
            "--slab",
            "--page",
            "--caller",
            "--alloc",
            "-s",
            "hit,bytes",
            "-l",
            "4",
            "-i",
        ])
        .arg(&data)
        .arg("stat"));
    ok(&before, "kmem OPTIONS stat");
    let after = kmem_stat(
        &data,
        &[
            "--page",
            "--caller",
            "--slab",
            "--alloc",
            "-s",
            "hit,bytes",
            "-l",
            "4",
        ],
    );
    assert_eq!(String::from_utf8(before.stdout).unwrap(), after);
    assert!(after.contains("SUMMARY (page allocator)"), "{after}");
    assert!(after.contains("Callsite"), "{after}");
    // -l 4: four rows per table (slab caller, slab pointer, page, page caller).
    let table_rows = after
        .lines()
        .filter(|l| l.contains(" | ") && !l.contains("Callsite"))
        .count();
    assert_eq!(table_rows, 16, "{after}");

    // The report's regex filters: only call sites whose symbol matches.
    let report = kmem_json(&data, &["--caller", "--sym", "^alloc_empty_file$"]);
    let callers = report["slab"]["callers"].as_array().unwrap();
    assert!(!callers.is_empty());
    for row in callers {
        assert!(
            row["symbol"]
                .as_str()
                .unwrap()
                .starts_with("alloc_empty_file+"),
            "{row}"
        );
    }
    assert_eq!(
        u(&report["slab"]["summary"]["allocs"]),
        callers.iter().map(|r| u(&r["hits"])).sum::<u64>()
    );
    // Bad input is one clear line, never a panic.
    for (args, message) in [
        (vec!["-s", "nope"], "-s nope: not a sort key"),
        (vec!["--sym", "(x"], "--sym: invalid regular expression"),
    ] {
        let out = run(strobe().args(["kmem", "stat", "-i"]).arg(&data).args(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn kmem_stat_on_a_recording_without_allocator_events_says_so() {
    let dir = scratch("kmem_missing");
    let garbage = dir.join("not-a-recording");
    std::fs::write(&garbage, b"hello").unwrap();
    let out = run(strobe().args(["kmem", "stat", "-i"]).arg(&garbage));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn root_kmem_stat_without_allocator_events_names_the_command_to_record_them() {
    if !have_root("root_kmem_stat_without_allocator_events_names_the_command_to_record_them") {
        return;
    }
    let _serial = serial();
    let dir = scratch("kmem_no_events");
    let data = dir.join("clock.data");
    let out = run(strobe()
        .args(["record", "-q", "-e", "cpu-clock", "-o"])
        .arg(&data)
        .args(["--", "true"]));
    ok(&out, "strobe record");
    let out = run(strobe().args(["kmem", "stat", "--page", "-i"]).arg(&data));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("strobe kmem record"), "{stderr}");
}
