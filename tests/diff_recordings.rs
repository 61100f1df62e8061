//! `strobe diff` of two recordings, against `perf diff` and against values
//! recomputed from each recording's own report.
//!
//! - `root_*` tests record real pairs (perf.data with `perf record`, strobe
//!   files with `strobe record`), at a fixed sample period (`-c`), and need
//!   root; under CI=true they never skip.
//! - The golden tests diff two small strobe files written here with known
//!   samples, so the expected text, Markdown and JSON are exact. The golden
//!   files are tests/fixtures/diff/*; STROBE_BLESS=1 rewrites them after an
//!   intended change.
//!
//! The library (`strobe_analyze::diff`) is tested directly and through
//! the command line, `strobe diff [-c COMPUTE] [--sort KEYS] [--format
//! text|markdown|json] [--json] [filters] BASE NEW`, whose output must be
//! the library writers' output, with the inputs named as given.

mod common;

use common::*;
use object::{Object, ObjectSegment, ObjectSymbol};
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use strobe_analyze::diff::{
    self, Compute, DiffOptions, DiffValue, InputNames, RecordingDiff, Status,
};
use strobe_analyze::input::Recording;
use strobe_probe::attr::sample;
use strobe_probe::EventAttr;
use strobe_record::format::reader::StrobeFile;
use strobe_record::format::records::{RecordLayout, RunStats};
use strobe_record::format::writer::FileWriter;
use strobe_record::format::{hex_encode, ChunkKind, EventMeta, SessionMeta, TrailerMeta, NO_CPU};
use strobe_record::procfs::{Mapping, RecordSynthesizer};

/// The computations every comparison runs, as `-c` spells them.
const COMPUTES: [&str; 4] = ["delta-abs", "delta", "ratio", "wdiff:1,2"];

// ---------------------------------------------------------------------------
// Reading recordings and computing the expected values independently.

/// Calls `f` with the recording in the file at `path`, strobe file or perf.data.
fn with_recording<T>(path: &Path, f: impl FnOnce(&Recording<'_>) -> T) -> T {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if strobe_analyze::input::is_perf_data(&bytes) {
        // perf.data has no kallsyms snapshot; perf and strobe read the live one.
        let kallsyms = std::fs::read("/proc/kallsyms").unwrap_or_default();
        let recording = Recording::from_perf_data(&bytes, kallsyms).expect("perf.data parses");
        f(&recording)
    } else {
        let file = StrobeFile::parse(&bytes).expect("the strobe file parses");
        let recording = Recording::from_strobe(&file).expect("the strobe file decodes");
        f(&recording)
    }
}

/// The library's diff of two files.
fn library_diff(base: &Path, new: &Path, options: &DiffOptions) -> RecordingDiff {
    with_recording(base, |b| {
        with_recording(new, |n| diff::diff(b, n, options).expect("the diff builds"))
    })
}

/// One recording's histogram by (dso, sym), from `strobe report --json`:
/// Self period per entry, and the event's total period.
struct Histogram {
    periods: HashMap<(String, String), u64>,
    total: u64,
}

fn histogram(path: &Path) -> Histogram {
    let out = run(strobe()
        .args([
            "report",
            "--json",
            "--no-children",
            "--sort",
            "dso,sym",
            "-i",
        ])
        .arg(path));
    assert!(
        out.status.success(),
        "strobe report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report --json is JSON");
    let event = &report["events"][0];
    let mut periods = HashMap::new();
    for row in event["rows"].as_array().expect("rows") {
        let key = (
            row["dso"].as_str().unwrap().to_string(),
            row["sym"].as_str().unwrap().to_string(),
        );
        *periods.entry(key).or_insert(0) += row["self_period"].as_u64().unwrap();
    }
    Histogram {
        periods,
        total: event["unfiltered_period"].as_u64().unwrap(),
    }
}

/// What an entry's value must be, computed here from the two histograms
/// with perf's formulas (builtin-diff.c): delta = new% - base%, where
/// x% = period * 100.0 / total; ratio = new / (base or 1); wdiff =
/// new * WA - base * WB. `None` where perf shows no value.
fn expected_value(
    compute: &str,
    key: &(String, String),
    base: &Histogram,
    new: &Histogram,
) -> Option<f64> {
    let (b, n) = (base.periods.get(key), new.periods.get(key));
    let percent = |p: u64, total: u64| p as f64 * 100.0 / total as f64;
    let n = *n?;
    match compute {
        "delta" | "delta-abs" => {
            Some(percent(n, new.total) - b.map_or(0.0, |&b| percent(b, base.total)))
        }
        "ratio" => Some(n as f64 / (*b?).max(1) as f64),
        "wdiff:1,2" => Some((n as i128 * 2 - *b? as i128) as f64),
        other => panic!("no formula for {other}"),
    }
}

/// Checks every entry of `diff` against the histograms: one entry per key
/// of either, with the right status, periods, percentages and value.
fn check_against_histograms(compute: &str, d: &RecordingDiff, base: &Histogram, new: &Histogram) {
    let event = &d.events[0];
    assert_eq!((event.base_total, event.new_total), (base.total, new.total));
    let mut keys: Vec<&(String, String)> = base.periods.keys().chain(new.periods.keys()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        event.entries.len(),
        keys.len(),
        "{compute}: one entry per key of either recording"
    );
    for entry in &event.entries {
        let key = (entry.keys[0].clone(), entry.keys[1].clone());
        let (b, n) = (base.periods.get(&key), new.periods.get(&key));
        let status = match (b, n) {
            (Some(_), Some(_)) => Status::Matched,
            (None, Some(_)) => Status::New,
            (Some(_), None) => Status::Vanished,
            (None, None) => panic!("{key:?} is in neither report"),
        };
        assert_eq!(entry.status, status, "{compute} {key:?}");
        assert_eq!(
            (entry.base_period, entry.new_period),
            (b.copied().unwrap_or(0), n.copied().unwrap_or(0)),
            "{key:?}"
        );
        assert_eq!(
            entry.base_percent,
            b.map(|&b| b as f64 * 100.0 / base.total as f64),
            "{key:?}"
        );
        let expected = expected_value(compute, &key, base, new);
        // Ratio and wdiff have no value for a new entry; perf prints N/A.
        let expected = if status == Status::New && !compute.starts_with("delta") {
            None
        } else {
            expected
        };
        assert_eq!(
            entry.value.map(DiffValue::as_f64),
            expected,
            "{compute} {key:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// perf diff's output.

/// One line of `perf diff` output: the baseline and value columns as
/// printed (empty when blank), the shared object and the symbol.
#[derive(Debug, Clone, PartialEq)]
struct PerfLine {
    baseline: String,
    value: String,
    dso: String,
    sym: String,
}

/// `perf diff -c COMPUTE BASE NEW` (perf diff has no --stdio; piped, it
/// prints text), parsed by the column positions of its header line.
fn perf_diff(compute: &str, base: &Path, new: &Path) -> Vec<PerfLine> {
    let out = run(Command::new("perf")
        .args(["diff", "-c", compute])
        .arg(base)
        .arg(new));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "perf diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_perf_text(&text)
}

/// Entry lines of perf diff's (and strobe diff's) text, cut at the column
/// positions of the header: `# Baseline  <value>  Shared Object  Symbol`.
fn parse_perf_text(text: &str) -> Vec<PerfLine> {
    let header = text
        .lines()
        .find(|l| l.starts_with("# Baseline"))
        .unwrap_or_else(|| panic!("no header in:\n{text}"));
    let dso_at = header.find("Shared Object").expect("a dso column");
    let sym_at = header.find("Symbol").expect("a symbol column");
    let value_end = dso_at - 2;
    let field = |line: &str, from: usize, to: usize| -> String {
        line.get(from..to.min(line.len()))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| PerfLine {
            baseline: field(l, 0, 10),
            value: field(l, 10, value_end),
            dso: field(l, dso_at, sym_at),
            sym: field(l, sym_at, usize::MAX),
        })
        .collect()
}

/// Our entry's baseline and value as perf prints them.
fn printed(entry: &diff::DiffEntry) -> (String, String) {
    let baseline = entry
        .base_percent
        .map(|p| format!("{p:.2}%"))
        .unwrap_or_default();
    let value = match (entry.value, entry.status) {
        (Some(DiffValue::Delta(d)), _) => format!("{d:+.2}%"),
        (Some(DiffValue::Ratio(r)), _) => format!("{r:.6}"),
        (Some(DiffValue::WeightedDiff(w)), _) => w.to_string(),
        (None, Status::New) => "N/A".to_string(),
        (None, _) => String::new(),
    };
    (baseline, value)
}

/// Whether perf printed a symbol it could not resolve (a raw address);
/// strobe names those `[unknown]` or by address, so they do not compare.
fn unresolved(line: &PerfLine) -> bool {
    line.sym.contains(" 0x") || line.sym.contains("[unknown]") || line.dso == "[unknown]"
}

/// Checks our diff against perf's lines for every entry both resolve:
/// the same printed baseline and value, and the same relative order.
fn check_against_perf(compute: &str, ours: &RecordingDiff, perf: &[PerfLine]) {
    let entries = &ours.events[0].entries;
    let position = |line: &PerfLine| {
        entries
            .iter()
            .position(|e| e.keys[0] == line.dso && e.keys[1] == line.sym)
    };
    let mut compared = Vec::new();
    let mut missing = Vec::new();
    for line in perf.iter().filter(|l| !unresolved(l)) {
        let Some(at) = position(line) else {
            missing.push(line.clone());
            continue;
        };
        let (baseline, value) = printed(&entries[at]);
        assert_eq!(
            (&baseline, &value),
            (&line.baseline, &line.value),
            "-c {compute}: {} {}: strobe prints {baseline:?} {value:?}, perf {:?} {:?}",
            line.dso,
            line.sym,
            line.baseline,
            line.value
        );
        compared.push((at, line.sym.clone()));
    }
    for hot in ["[.] hot_a", "[.] hot_b"] {
        assert!(
            compared.iter().any(|(_, sym)| sym == hot),
            "-c {compute}: {hot} was not compared; perf printed {perf:#?}"
        );
    }
    // Resolution may differ at the edges (a kernel symbol perf names
    // otherwise), never for most entries.
    assert!(
        missing.len() * 5 <= compared.len(),
        "-c {compute}: strobe lacks {missing:#?}, having compared {compared:?}"
    );
    // Both list the shared entries in the same order.
    let order: Vec<usize> = compared.iter().map(|(at, _)| *at).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(
        order, sorted,
        "-c {compute}: perf's order of the shared entries {compared:?} differs from strobe's"
    );
}

// ---------------------------------------------------------------------------
// Recording real pairs.

/// `perf record -e cpu-clock -c 100000 -o DATA -- sh -c SCRIPT`.
fn perf_record_into(data: &Path, script: &str) {
    let out = perf_record(&[
        "-q".as_ref(),
        "-e".as_ref(),
        "cpu-clock".as_ref(),
        "-c".as_ref(),
        "100000".as_ref(),
        "-o".as_ref(),
        data.as_os_str(),
        "--".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        OsStr::new(script),
    ]);
    assert!(
        out.status.success(),
        "perf record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A baseline that runs cpu_bound alone, and a new run that also copies
/// bytes with dd (new kernel and libc entries) and loses some of the
/// baseline's start-up entries.
fn workload_scripts() -> (String, String) {
    let cpu_bound = workload("cpu_bound");
    (
        format!("{} 0.4", cpu_bound.display()),
        format!(
            "{} 0.6; dd if=/dev/zero of=/dev/null bs=1 count=100000 2>/dev/null",
            cpu_bound.display()
        ),
    )
}

/// `strobe diff ARGS BASE NEW`, which must succeed; its standard output.
fn strobe_diff(args: &[&str], base: &Path, new: &Path) -> String {
    let out = run(strobe().arg("diff").args(args).arg(base).arg(new));
    assert!(
        out.status.success(),
        "strobe diff {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn root_diff_of_perf_data_matches_perf_diff_and_the_reports() {
    if !have_root("root_diff_of_perf_data_matches_perf_diff_and_the_reports") {
        return;
    }
    let _serial = serial();
    let dir = scratch("diff_perf_data");
    let (a, b) = (dir.join("a.data"), dir.join("b.data"));
    let (base_script, new_script) = workload_scripts();
    perf_record_into(&a, &base_script);
    perf_record_into(&b, &new_script);
    let (base, new) = (histogram(&a), histogram(&b));
    assert!(
        base.periods
            .values()
            .chain(new.periods.values())
            .all(|p| p % 100000 == 0),
        "every sample weighs the fixed period (perf record -c leaves PERF_SAMPLE_PERIOD \
         out of the samples; the attribute's sample_period applies): {:?}",
        base.periods
    );
    for compute in COMPUTES {
        let options = DiffOptions {
            compute: Compute::parse(compute).unwrap(),
            ..Default::default()
        };
        let ours = library_diff(&a, &b, &options);
        check_against_histograms(compute, &ours, &base, &new);
        let statuses = |s: Status| ours.events[0].entries.iter().any(|e| e.status == s);
        assert!(
            statuses(Status::Matched) && statuses(Status::New),
            "the pair has matched and new entries"
        );
        check_against_perf(compute, &ours, &perf_diff(compute, &a, &b));
    }
}

#[test]
fn root_strobe_diff_prints_the_library_diff_of_perf_data() {
    if !have_root("root_strobe_diff_prints_the_library_diff_of_perf_data") {
        return;
    }
    let _serial = serial();
    let dir = scratch("diff_cli_perf_data");
    let (a, b) = (dir.join("a.data"), dir.join("b.data"));
    let (base_script, new_script) = workload_scripts();
    perf_record_into(&a, &base_script);
    perf_record_into(&b, &new_script);
    let names = InputNames {
        base: a.to_str().unwrap(),
        new: b.to_str().unwrap(),
    };
    for compute in COMPUTES {
        let options = DiffOptions {
            compute: Compute::parse(compute).unwrap(),
            ..Default::default()
        };
        let ours = library_diff(&a, &b, &options);
        let mut expected = Vec::new();
        diff::write_json(&mut expected, &ours, &names).unwrap();
        let json = strobe_diff(&["-c", compute, "--json"], &a, &b);
        assert_eq!(
            json,
            String::from_utf8(expected).unwrap(),
            "-c {compute} --json"
        );
        let mut expected = Vec::new();
        diff::write_text(&mut expected, &ours, &names).unwrap();
        let text = strobe_diff(&["-c", compute], &a, &b);
        assert_eq!(text, String::from_utf8(expected).unwrap(), "-c {compute}");
        // The text is perf's: the same lines perf prints, where both resolve.
        let perf = perf_diff(compute, &a, &b);
        let mine = parse_perf_text(&text);
        for line in perf.iter().filter(|l| !unresolved(l)) {
            if let Some(m) = mine.iter().find(|m| m.dso == line.dso && m.sym == line.sym) {
                assert_eq!(m, line, "-c {compute}");
            }
        }
    }
    // perf's default computation is delta-abs, and so is strobe's.
    assert_eq!(
        strobe_diff(&[], &a, &b),
        strobe_diff(&["-c", "delta-abs"], &a, &b)
    );
}

#[test]
fn root_strobe_files_diff_like_perf_data_and_with_it() {
    if !have_root("root_strobe_files_diff_like_perf_data_and_with_it") {
        return;
    }
    let _serial = serial();
    let dir = scratch("diff_strobe_files");
    let (a, b, p) = (dir.join("a.data"), dir.join("b.data"), dir.join("p.data"));
    let (base_script, new_script) = workload_scripts();
    for (data, script) in [(&a, &base_script), (&b, &new_script)] {
        let out = run(strobe()
            .args(["record", "-q", "-e", "cpu-clock", "-c", "100000", "-o"])
            .arg(data)
            .args(["--", "sh", "-c", script]));
        assert!(
            out.status.success(),
            "strobe record failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    perf_record_into(&p, &new_script);
    let (base, new, perf_new) = (histogram(&a), histogram(&b), histogram(&p));
    for compute in COMPUTES {
        let options = DiffOptions {
            compute: Compute::parse(compute).unwrap(),
            ..Default::default()
        };
        // strobe files on both sides.
        let ours = library_diff(&a, &b, &options);
        check_against_histograms(compute, &ours, &base, &new);
        let json: Value =
            serde_json::from_str(&strobe_diff(&["-c", compute, "--json"], &a, &b)).unwrap();
        check_json_against_histograms(compute, &json, &base, &new);
        // A strobe file against perf.data: strobe names the event
        // `cpu-clock`, perf `cpu-clock` or `cpu-clock:ppp`; they match.
        let mixed = library_diff(&a, &p, &options);
        assert!(mixed.events[0].in_new, "{:?}", mixed.events[0].event);
        check_against_histograms(compute, &mixed, &base, &perf_new);
        let json: Value =
            serde_json::from_str(&strobe_diff(&["-c", compute, "--json"], &a, &p)).unwrap();
        check_json_against_histograms(compute, &json, &base, &perf_new);
    }
}

/// The JSON diff's entries against the histograms: statuses, periods and
/// values as [`check_against_histograms`] checks the library's.
fn check_json_against_histograms(compute: &str, json: &Value, base: &Histogram, new: &Histogram) {
    assert_eq!(json["schema"], "strobe-diff/1");
    let expected_name = compute.split(':').next().unwrap();
    assert_eq!(json["compute"], expected_name);
    let event = &json["events"][0];
    assert_eq!(event["base_total_period"], base.total);
    assert_eq!(event["new_total_period"], new.total);
    let entries = event["entries"].as_array().unwrap();
    for entry in entries {
        let key = (
            entry["dso"].as_str().unwrap().to_string(),
            entry["sym"].as_str().unwrap().to_string(),
        );
        let status = entry["status"].as_str().unwrap();
        let value = entry["value"].as_f64();
        let expected = expected_value(compute, &key, base, new);
        let expected = if status == "new" && !compute.starts_with("delta") {
            None
        } else {
            expected
        };
        assert_eq!(value, expected, "{compute} {key:?} ({status})");
        assert_eq!(
            entry["base_period"].as_u64(),
            Some(base.periods.get(&key).copied().unwrap_or(0))
        );
    }
    let mut keys: Vec<&(String, String)> = base.periods.keys().chain(new.periods.keys()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(entries.len(), keys.len());
}

// ---------------------------------------------------------------------------
// Golden files, from two strobe files with known samples.

const SAMPLE_TYPE: u64 = sample::IP | sample::TID | sample::TIME | sample::PERIOD;
const PID: i32 = 4242;
const KERNEL_TEXT: u64 = 0xffff_ffff_8100_0000;

/// Where a synthetic sample is taken.
#[derive(Debug, Clone, Copy)]
enum At {
    /// In this function of cpu_bound.
    Function(&'static str),
    /// In the kernel, this far into its text.
    Kernel(u64),
    /// At an address no mapping covers.
    Nowhere,
}

fn sample_record(ip: u64, time: u64, period: u64, kernel: bool) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&9u32.to_le_bytes()); // PERF_RECORD_SAMPLE
    r.extend_from_slice(&(if kernel { 1u16 } else { 2u16 }).to_le_bytes());
    r.extend_from_slice(&40u16.to_le_bytes());
    r.extend_from_slice(&ip.to_le_bytes());
    r.extend_from_slice(&PID.to_le_bytes());
    r.extend_from_slice(&PID.to_le_bytes());
    r.extend_from_slice(&time.to_le_bytes());
    r.extend_from_slice(&period.to_le_bytes());
    r
}

/// Writes a strobe file of "golden" (the cpu_bound binary, mapped as
/// exec'd) with `samples`: (where, how many, period of each), on one
/// cpu-clock event, with two kernel functions in its kallsyms.
fn synthetic_recording(path: &Path, samples: &[(At, usize, u64)]) {
    let binary = workload("cpu_bound");
    let data = std::fs::read(&binary).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    let symbol = |name: &str| {
        elf.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("{name} is not in cpu_bound"))
            .address()
    };
    let exec = elf
        .segments()
        .find(|s| (s.address()..s.address() + s.size()).contains(&symbol("main")))
        .unwrap();
    let attr = EventAttr::new(1, 0)
        .sample_period(1000)
        .sample_type_bits(SAMPLE_TYPE)
        .sample_id_all(true)
        .track_side_band(false);
    let session = SessionMeta {
        strobe_version: "golden".into(),
        events: vec![EventMeta {
            name: "cpu-clock".into(),
            attr: hex_encode(&attr.to_bytes()),
            ids: vec![1],
            format: None,
            filter: None,
        }],
        ..Default::default()
    };
    let mut w = FileWriter::create(std::fs::File::create(path).unwrap(), 0, None, false).unwrap();
    w.write_meta(
        ChunkKind::Session,
        &serde_json::to_vec(&session).unwrap(),
        false,
    )
    .unwrap();
    let kallsyms = format!(
        "{KERNEL_TEXT:016x} T golden_kernel_work\n{:016x} T golden_kernel_next\n",
        KERNEL_TEXT + 0x100
    );
    w.write_meta(ChunkKind::Kallsyms, kallsyms.as_bytes(), false)
        .unwrap();
    let mut synth = RecordSynthesizer::new(SAMPLE_TYPE, 1);
    synth.comm(PID, PID, "golden");
    let (file_offset, _) = exec.file_range();
    synth.mmap2(
        PID,
        &Mapping {
            start: exec.address(),
            end: exec.address() + exec.size(),
            pgoff: file_offset,
            major: 0,
            minor: 0,
            inode: 0,
            path: binary.to_string_lossy().into_owned(),
        },
    );
    w.write_records(
        ChunkKind::SynthesizedRecords,
        NO_CPU,
        &synth.out,
        &RunStats::default(),
    )
    .unwrap();
    w.begin_data(0).unwrap();
    let mut records = Vec::new();
    let mut time = 1_000_000;
    for &(at, count, period) in samples {
        for _ in 0..count {
            time += 1000;
            let (ip, kernel) = match at {
                At::Function(name) => (symbol(name) + 1, false),
                At::Kernel(offset) => (KERNEL_TEXT + offset, true),
                At::Nowhere => (0x10, false),
            };
            records.extend(sample_record(ip, time, period, kernel));
        }
    }
    let layout = RecordLayout {
        sample_time_offset: Some(24),
        other_time_from_end: Some(8),
        sample_ip_offset: Some(8),
        sample_callchain_offset: None,
    };
    let stats = RunStats::walk(&records, &layout, |_| {});
    w.write_records(ChunkKind::Records, 0, &records, &stats)
        .unwrap();
    w.finish(&TrailerMeta::default()).unwrap();
}

/// The golden pair, as base.data and new.data in `dir`:
///
/// | entry              | base (period 1000) | new                          |
/// |--------------------|--------------------|------------------------------|
/// | hot_a              | 7                  | 6 × 1000                     |
/// | hot_b              | 3                  | 4 × 1500                     |
/// | main               | 1                  | (vanished)                   |
/// | caller_a           |                    | 1 × 1000 (new)               |
/// | golden_kernel_work | 2                  | 1 × 1000                     |
/// | golden_kernel_next |                    | 2 × 1000 (new)               |
/// | [unknown]          | 1                  | 1 × 1000                     |
///
/// Totals: 14000 and 17000.
fn golden_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (base, new) = (dir.join("base.data"), dir.join("new.data"));
    synthetic_recording(
        &base,
        &[
            (At::Function("hot_a"), 7, 1000),
            (At::Function("hot_b"), 3, 1000),
            (At::Function("main"), 1, 1000),
            (At::Kernel(0x10), 2, 1000),
            (At::Nowhere, 1, 1000),
        ],
    );
    synthetic_recording(
        &new,
        &[
            (At::Function("hot_a"), 6, 1000),
            (At::Function("hot_b"), 4, 1500),
            (At::Function("caller_a"), 1, 1000),
            (At::Kernel(0x10), 1, 1000),
            (At::Kernel(0x110), 2, 1000),
            (At::Nowhere, 1, 1000),
        ],
    );
    (base, new)
}

fn check_golden(name: &str, actual: &str) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/diff")
        .join(name);
    if std::env::var("STROBE_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("{} is missing; run with STROBE_BLESS=1", golden.display()));
    assert_eq!(
        actual,
        expected,
        "output differs from {} (STROBE_BLESS=1 rewrites it)",
        golden.display()
    );
}

/// The golden outputs: (file, `strobe diff` options, writer).
type Writer = fn(&mut dyn std::io::Write, &RecordingDiff, &InputNames<'_>) -> std::io::Result<()>;

fn golden_cases() -> Vec<(&'static str, Vec<&'static str>, Writer)> {
    vec![
        ("delta-abs.txt", vec![], diff::write_text as Writer),
        (
            "delta-abs.md",
            vec!["--format", "markdown"],
            diff::write_markdown,
        ),
        ("delta-abs.json", vec!["--json"], diff::write_json),
        ("delta.txt", vec!["-c", "delta"], diff::write_text),
        ("ratio.txt", vec!["-c", "ratio"], diff::write_text),
        (
            "ratio.md",
            vec!["-c", "ratio", "--format", "markdown"],
            diff::write_markdown,
        ),
        ("wdiff.txt", vec!["-c", "wdiff:1,2"], diff::write_text),
        (
            "wdiff.json",
            vec!["-c", "wdiff:1,2", "--format", "json"],
            diff::write_json,
        ),
    ]
}

/// The compute option of a golden case's arguments.
fn compute_of(args: &[&str]) -> Compute {
    args.iter()
        .position(|&a| a == "-c")
        .map(|i| Compute::parse(args[i + 1]).unwrap())
        .unwrap_or_default()
}

#[test]
fn diff_writers_match_their_golden_files() {
    let dir = scratch("diff_golden_library");
    let (base, new) = golden_pair(&dir);
    let names = InputNames {
        base: "base.data",
        new: "new.data",
    };
    for (name, args, write) in golden_cases() {
        let options = DiffOptions {
            compute: compute_of(&args),
            ..Default::default()
        };
        let d = library_diff(&base, &new, &options);
        let mut out = Vec::new();
        write(&mut out, &d, &names).unwrap();
        check_golden(name, &String::from_utf8(out).unwrap());
    }
}

#[test]
fn golden_pair_values_are_the_hand_computed_ones() {
    let dir = scratch("diff_golden_values");
    let (base, new) = golden_pair(&dir);
    let wdiff = Compute::WeightedDiff {
        base_weight: 1,
        new_weight: 2,
    };
    let of = |compute: Compute| {
        let d = library_diff(
            &base,
            &new,
            &DiffOptions {
                compute,
                ..Default::default()
            },
        );
        d.events[0]
            .entries
            .iter()
            .map(|e| (e.keys[1].clone(), (e.status, e.value)))
            .collect::<HashMap<_, _>>()
    };
    let (delta, ratio, weighted) = (of(Compute::Delta), of(Compute::Ratio), of(wdiff));
    let pct = |period: f64, total: f64| period * 100.0 / total;
    assert_eq!(
        delta["[.] hot_a"],
        (
            Status::Matched,
            Some(DiffValue::Delta(
                pct(6000.0, 17000.0) - pct(7000.0, 14000.0)
            ))
        )
    );
    assert_eq!(
        ratio["[.] hot_b"],
        (Status::Matched, Some(DiffValue::Ratio(6000.0 / 3000.0)))
    );
    assert_eq!(
        weighted["[k] golden_kernel_work"],
        (
            Status::Matched,
            Some(DiffValue::WeightedDiff(1000 * 2 - 2000))
        )
    );
    assert_eq!(
        delta["[k] golden_kernel_next"],
        (Status::New, Some(DiffValue::Delta(pct(2000.0, 17000.0))))
    );
    assert_eq!(ratio["[.] caller_a"], (Status::New, None));
    assert_eq!(weighted["[.] main"], (Status::Vanished, None));
    assert_eq!(delta.len(), 7);
}

#[test]
fn strobe_diff_prints_the_golden_files() {
    let dir = scratch("diff_golden_cli");
    golden_pair(&dir);
    for (name, args, _) in golden_cases() {
        // Inputs are named as given on the command line.
        let out = run(strobe()
            .current_dir(&dir)
            .arg("diff")
            .args(&args)
            .args(["base.data", "new.data"]));
        assert!(
            out.status.success(),
            "strobe diff {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        check_golden(name, &String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn strobe_diff_sorts_filters_and_rejects_bad_computations() {
    let dir = scratch("diff_cli_options");
    let (base, new) = golden_pair(&dir);
    let json = |args: &[&str]| -> Value {
        serde_json::from_str(&strobe_diff(args, &base, &new)).expect("JSON output")
    };
    // --json is --format json.
    assert_eq!(
        strobe_diff(&["--json"], &base, &new),
        strobe_diff(&["--format", "json"], &base, &new)
    );

    // --sort sym: entries keyed and matched by the symbol alone.
    let by_sym = json(&["--json", "--sort", "sym"]);
    assert_eq!(by_sym["sort"], serde_json::json!(["sym"]));
    let entries = by_sym["events"][0]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7);
    assert!(
        entries.iter().all(|e| e.get("dso").is_none()),
        "{entries:?}"
    );

    // --sort comm,dso,sym: the command joins the keys.
    let by_comm = json(&["--json", "--sort", "comm,dso,sym"]);
    let first = &by_comm["events"][0]["entries"][0];
    assert_eq!(first["comm"], "golden", "{first}");

    // --sym keeps the hot functions; percentages stay shares of all samples.
    let hot = json(&["--json", "--sym", "^hot_", "-c", "delta"]);
    let entries = hot["events"][0]["entries"].as_array().unwrap();
    let syms: Vec<&str> = entries.iter().map(|e| e["sym"].as_str().unwrap()).collect();
    assert_eq!(syms, ["[.] hot_b", "[.] hot_a"]);
    assert_eq!(entries[1]["base_percent"], 50.0);
    assert_eq!(hot["events"][0]["base_total_period"], 14000);
    assert_eq!(hot["base_summary"]["filtered_out_samples"], 4);

    // --dso with text output keeps only the kernel's entries.
    let text = strobe_diff(&["--dso", "kallsyms"], &base, &new);
    let lines = parse_perf_text(&text);
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().all(|l| l.dso == "[kernel.kallsyms]"), "{text}");

    // A computation perf does not know is a one-line error.
    for bad in ["bogus", "wdiff:0,1", "wdiff"] {
        let out = run(strobe().args(["diff", "-c", bad]).arg(&base).arg(&new));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "-c {bad}");
        assert!(
            stderr.contains("unknown computation") || stderr.contains("wdiff takes two nonzero"),
            "-c {bad}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
