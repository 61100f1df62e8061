//! Golden-file tests of `strobe report` text and JSON output, on a
//! recording built here with known records, so the expected output is exact.
//! Set STROBE_BLESS=1 to rewrite the golden files after an intended change.

mod common;

use common::*;
use object::{Object, ObjectSegment, ObjectSymbol};
use std::path::{Path, PathBuf};
use strobe_probe::attr::sample;
use strobe_probe::EventAttr;
use strobe_record::format::records::{RecordLayout, RunStats};
use strobe_record::format::writer::FileWriter;
use strobe_record::format::{hex_encode, ChunkKind, EventMeta, SessionMeta, TrailerMeta, NO_CPU};
use strobe_record::procfs::{Mapping, RecordSynthesizer};

const SAMPLE_TYPE: u64 = sample::IP | sample::TID | sample::TIME | sample::PERIOD;
const PID: i32 = 4242;
const KERNEL_TEXT: u64 = 0xffff_ffff_8100_0000;

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

/// A recording of "golden" (the bundled cpu_bound binary): 7 samples in
/// hot_a, 3 in hot_b, 1 in main, 2 in a kernel function, 1 nowhere.
fn golden_recording(dir: &Path) -> PathBuf {
    let binary = workload("cpu_bound");
    let data = std::fs::read(&binary).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    let symbol = |name: &str| {
        elf.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap()
            .address()
    };
    let exec = elf
        .segments()
        .find(|s| {
            elf.symbols().any(|sym| {
                sym.name() == Ok("main")
                    && (s.address()..s.address() + s.size()).contains(&sym.address())
            })
        })
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
    let path = dir.join("golden.data");
    let mut w = FileWriter::create(std::fs::File::create(&path).unwrap(), 0, None, false).unwrap();
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
    let mut run = Vec::new();
    let mut time = 1_000_000;
    let mut add = |ip: u64, kernel: bool| {
        time += 1000;
        run.extend(sample_record(ip, time, 1000, kernel));
    };
    (0..7).for_each(|_| add(symbol("hot_a") + 1, false));
    (0..3).for_each(|_| add(symbol("hot_b") + 1, false));
    add(symbol("main") + 1, false);
    (0..2).for_each(|_| add(KERNEL_TEXT + 0x10, true));
    add(0x10, false); // no mapping there
    let layout = RecordLayout {
        sample_time_offset: Some(24),
        other_time_from_end: Some(8),
        sample_ip_offset: Some(8),
        sample_callchain_offset: None,
    };
    let stats = RunStats::walk(&run, &layout, |_| {});
    w.write_records(ChunkKind::Records, 0, &run, &stats)
        .unwrap();
    w.finish(&TrailerMeta::default()).unwrap();
    path
}

fn check_golden(name: &str, actual: &str) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("STROBE_BLESS").as_deref() == Ok("1") {
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

#[test]
fn report_text_and_json_match_their_golden_files() {
    let dir = scratch("golden");
    let data = golden_recording(&dir);
    for (name, args) in [
        ("report-default.txt", vec!["report", "--stdio"]),
        (
            "report-sym-n.txt",
            vec!["report", "--stdio", "--sort", "sym", "-n"],
        ),
        (
            "report-dso-filter.txt",
            vec![
                "report",
                "--stdio",
                "--sort",
                "dso,sym",
                "--dso",
                "cpu_bound",
            ],
        ),
        ("report.json", vec!["report", "--json"]),
    ] {
        let out = run(strobe().args(&args).arg("-i").arg(&data));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The binary's path depends on the build directory; the DSO column
        // shows only its name, so the output does not.
        check_golden(name, &String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn report_json_follows_the_schema_in_the_book() {
    let dir = scratch("golden_schema");
    let data = golden_recording(&dir);
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/schemas/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
    let validator =
        jsonschema::validator_for(&schema).expect("the book's schema is a valid JSON Schema");
    for args in [
        vec!["--json"],
        vec!["--json", "--no-children", "--sort", "pid,tid,cpu,srcline"],
        vec!["--json", "-g", "caller"],
    ] {
        let out = run(strobe().arg("report").args(&args).arg("-i").arg(&data));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{args:?} output breaks the schema: {errors:#?}"
        );
    }
    // The schema is not vacuous: a row without its percentages is rejected.
    let bad = serde_json::json!({"schema": "strobe-report/1", "sort": ["sym"], "children": false, "lost": 0,
        "unresolved_samples": 0, "filtered_out_samples": 0,
        "events": [{"event": "e", "samples": 1, "period": 1, "rows": [{"sym": "x"}]}]});
    assert!(!validator.is_valid(&bad));
}
