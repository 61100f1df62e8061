//! `strobe stat` end to end, on the real kernel: counts of deterministic
//! programs, perf's CSV columns and counts side by side with perf's, JSON,
//! repeats, intervals, per-CPU counts, groups, PMU specs through sysfs, and
//! hardware events on a machine without a PMU. These need root (perf
//! events for any process).

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CSV rows (`-x,`) by event name: the fields of each row.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn csv_count(rows: &[Vec<String>], event: &str) -> f64 {
    let row = rows
        .iter()
        .find(|r| r.get(2).map(String::as_str) == Some(event))
        .unwrap_or_else(|| panic!("no row for {event} in {rows:?}"));
    row[0]
        .parse()
        .unwrap_or_else(|_| panic!("count of {event} is not a number: {row:?}"))
}

fn strobe_stat(args: &[&str], command: &[&str]) -> Output {
    run(strobe().arg("stat").args(args).arg("--").args(command))
}

/// Whether this machine has a CPU PMU the kernel drives.
fn have_cpu_pmu() -> bool {
    Path::new("/sys/bus/event_source/devices/cpu").exists()
        || std::fs::read_dir("/sys/bus/event_source/devices")
            .map(|d| {
                d.flatten().any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("armv8") || name == "cpu_core"
                })
            })
            .unwrap_or(false)
}

#[test]
fn root_stat_page_faults_count_every_fresh_page() {
    if !have_root("root_stat_page_faults_count_every_fresh_page") {
        return;
    }
    let _serial = serial();
    let pages = 5000;
    let touch = workload("touch_pages");
    let out = strobe_stat(
        &["-x,", "-e", "page-faults"],
        &[touch.to_str().unwrap(), &pages.to_string()],
    );
    ok(&out, "strobe stat");
    let rows = csv_rows(&String::from_utf8_lossy(&out.stderr));
    let faults = csv_count(&rows, "page-faults");
    assert!(faults >= pages as f64, "{faults} faults for {pages} pages");
    // And not wildly more: the program itself is small.
    assert!(
        faults < pages as f64 * 1.2,
        "{faults} faults for {pages} pages"
    );
}

#[test]
fn root_stat_context_switches_two_per_round_trip() {
    if !have_root("root_stat_context_switches_two_per_round_trip") {
        return;
    }
    let _serial = serial();
    let rounds = 2000;
    let pingpong = workload("pingpong");
    let out = strobe_stat(
        &["-x,", "-e", "context-switches"],
        &[pingpong.to_str().unwrap(), &rounds.to_string()],
    );
    ok(&out, "strobe stat");
    let rows = csv_rows(&String::from_utf8_lossy(&out.stderr));
    let switches = csv_count(&rows, "context-switches");
    assert!(
        switches >= 2.0 * rounds as f64,
        "{switches} context switches for {rounds} round trips"
    );
}

/// perf stat -x, and strobe stat -x, on the same deterministic programs:
/// the same columns in the same order, and counts within 2%.
#[test]
fn root_stat_csv_and_json_match_perf() {
    if !have_root("root_stat_csv_and_json_match_perf") {
        return;
    }
    let _serial = serial();
    let events = "page-faults,minor-faults,major-faults,context-switches,task-clock";
    let touch = workload("touch_pages");
    let pingpong = workload("pingpong");
    let programs: [Vec<String>; 2] = [
        vec![touch.to_str().unwrap().into(), "4000".into()],
        vec![pingpong.to_str().unwrap().into(), "1500".into()],
    ];
    for program in &programs {
        let argv: Vec<&str> = program.iter().map(String::as_str).collect();
        let perf = run(std::process::Command::new("perf")
            .args(["stat", "-x,", "-e", events, "--"])
            .args(&argv));
        ok(&perf, "perf stat");
        let ours = strobe_stat(&["-x,", "-e", events], &argv);
        ok(&ours, "strobe stat");
        let perf_rows = csv_rows(&String::from_utf8_lossy(&perf.stderr));
        let our_rows = csv_rows(&String::from_utf8_lossy(&ours.stderr));
        assert_eq!(
            perf_rows.len(),
            our_rows.len(),
            "{perf_rows:?}\n{our_rows:?}"
        );
        for (p, o) in perf_rows.iter().zip(&our_rows) {
            assert_eq!(p.len(), o.len(), "columns differ:\n{p:?}\n{o:?}");
            // Unit, event name and percent running are the same words.
            assert_eq!((&p[1], &p[2], &p[4]), (&o[1], &o[2], &o[4]), "{p:?}\n{o:?}");
            // The metric unit too, where perf prints one.
            assert_eq!(p[6], o[6], "metric unit: {p:?}\n{o:?}");
        }
        // What each program makes deterministic: touch_pages its page
        // faults, pingpong its context switches (and its faults, nearly).
        let deterministic: &[&str] = if argv[0].ends_with("touch_pages") {
            &["page-faults", "minor-faults", "major-faults"]
        } else {
            &["context-switches", "major-faults"]
        };
        for &event in deterministic {
            let (p, o) = (csv_count(&perf_rows, event), csv_count(&our_rows, event));
            let tolerance = (p * 0.02).max(2.0);
            assert!(
                (p - o).abs() <= tolerance,
                "{event} of {argv:?}: perf {p}, strobe {o}"
            );
        }

        // JSON: the same counts, in strobe's schema.
        let json = strobe_stat(&["--json", "-e", events], &argv);
        ok(&json, "strobe stat --json");
        let doc: Value = serde_json::from_slice(&json.stderr).unwrap_or_else(|e| {
            panic!(
                "stat --json is not JSON ({e}): {}",
                String::from_utf8_lossy(&json.stderr)
            )
        });
        assert_eq!(doc["schema"], "strobe-results/1");
        assert_eq!(doc["kind"], "stat");
        // The series diff compares: elapsed time, then each event.
        let series: Vec<&str> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["metric"].as_str().unwrap())
            .collect();
        assert_eq!(series[0], "elapsed");
        assert!(series.contains(&"page-faults"), "{series:?}");
        assert!(!doc["host"]["kernel"].as_str().unwrap().is_empty());
        assert_eq!(doc["runs"], 1);
        assert_eq!(doc["exit_status"], 0);
        let listed: Vec<&str> = doc["events"]
            .as_array()
            .expect("events array")
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed, events.split(',').collect::<Vec<_>>());
        for &event in deterministic {
            let e = doc["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == event)
                .unwrap();
            assert_eq!(e["supported"], true);
            let value = e["value"].as_f64().expect("a value");
            let p = csv_count(&perf_rows, event);
            assert!(
                (p - value).abs() <= (p * 0.02).max(2.0),
                "{event} of {argv:?}: perf {p}, strobe --json {value}"
            );
        }
    }
}

#[test]
fn root_stat_hardware_event_without_pmu_is_not_supported() {
    if !have_root("root_stat_hardware_event_without_pmu_is_not_supported") {
        return;
    }
    let out = strobe_stat(&["-e", "cycles,instructions,task-clock"], &["true"]);
    ok(&out, "strobe stat -e cycles");
    let text = String::from_utf8_lossy(&out.stderr);
    let cycles = text
        .lines()
        .find(|l| l.contains("cycles"))
        .unwrap_or_else(|| panic!("no cycles line in:\n{text}"));
    if have_cpu_pmu() {
        assert!(!cycles.contains("<not supported>"), "{text}");
    } else {
        assert!(cycles.contains("<not supported>"), "{text}");
        // The software event next to it still counts.
        assert!(text.contains("msec task-clock"), "{text}");
    }
    // CSV and JSON say the same.
    let csv = strobe_stat(&["-x,", "-e", "cycles"], &["true"]);
    ok(&csv, "strobe stat -x, -e cycles");
    let rows = csv_rows(&String::from_utf8_lossy(&csv.stderr));
    if !have_cpu_pmu() {
        assert_eq!(rows[0][0], "<not supported>", "{rows:?}");
        assert_eq!(rows[0][2], "cycles");
    }
    // A table event that needs the CPU PMU, and a raw one, likewise.
    let raw = strobe_stat(&["-x,", "-e", "r01c0"], &["true"]);
    ok(&raw, "strobe stat -e r01c0");
    if !have_cpu_pmu() {
        let rows = csv_rows(&String::from_utf8_lossy(&raw.stderr));
        assert_eq!(rows[0][0], "<not supported>", "{rows:?}");
    }
}

#[test]
fn root_stat_exits_with_the_command_status() {
    if !have_root("root_stat_exits_with_the_command_status") {
        return;
    }
    let touch = workload("touch_pages");
    let out = strobe_stat(
        &["-e", "page-faults"],
        &[touch.to_str().unwrap(), "10", "3"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Performance counter stats for"), "{text}");
    assert!(text.contains("seconds time elapsed"), "{text}");
}

#[test]
fn root_stat_repeats_with_relative_error() {
    if !have_root("root_stat_repeats_with_relative_error") {
        return;
    }
    let touch = workload("touch_pages");
    let out = strobe_stat(
        &["-r", "4", "-e", "page-faults"],
        &[touch.to_str().unwrap(), "300"],
    );
    ok(&out, "strobe stat -r 4");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("(4 runs)"), "{text}");
    let faults = text.lines().find(|l| l.contains("page-faults")).unwrap();
    assert!(faults.contains("( +-"), "{faults}");
    let json = strobe_stat(
        &["-r", "4", "--json", "-e", "page-faults"],
        &[touch.to_str().unwrap(), "300"],
    );
    ok(&json, "strobe stat -r 4 --json");
    let doc: Value = serde_json::from_slice(&json.stderr).unwrap();
    assert_eq!(doc["runs"], 4);
    let event = &doc["events"][0];
    let values: Vec<f64> = event["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["count"].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 4);
    // The mean is the mean of the runs.
    let mean = values.iter().sum::<f64>() / 4.0;
    assert!((event["value"].as_f64().unwrap() - mean).abs() < 1e-6 * mean.max(1.0));
    assert!(values.iter().all(|&v| v >= 300.0), "{values:?}");
    assert!(event["rel_stderr_percent"].as_f64().is_some());
}

#[test]
fn root_stat_interval_and_per_cpu() {
    if !have_root("root_stat_interval_and_per_cpu") {
        return;
    }
    let out = strobe_stat(
        &["-I", "100", "-x,", "-e", "task-clock"],
        &["sleep", "0.45"],
    );
    ok(&out, "strobe stat -I 100");
    let rows = csv_rows(&String::from_utf8_lossy(&out.stderr));
    assert!(rows.len() >= 4, "{rows:?}");
    // Each row starts with the time since the start, increasing.
    let times: Vec<f64> = rows.iter().map(|r| r[0].trim().parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let out = strobe_stat(&["-a", "-A", "-x,", "-e", "cpu-clock"], &["sleep", "0.2"]);
    ok(&out, "strobe stat -a -A");
    let rows = csv_rows(&String::from_utf8_lossy(&out.stderr));
    assert!(rows.iter().any(|r| r[0] == "CPU0"), "{rows:?}");
    let cpus = rows.iter().filter(|r| r[0].starts_with("CPU")).count();
    let expected = strobe_probe::CpuList::parse(&online)
        .unwrap()
        .as_slice()
        .len();
    assert_eq!(cpus, expected, "{rows:?}");
}

#[test]
fn root_stat_groups_and_sysfs_pmu_terms() {
    if !have_root("root_stat_groups_and_sysfs_pmu_terms") {
        return;
    }
    let touch = workload("touch_pages");
    let out = strobe_stat(
        &["-x,", "-e", "{task-clock,page-faults}:u"],
        &[touch.to_str().unwrap(), "500"],
    );
    ok(&out, "strobe stat with a group");
    let rows = csv_rows(&String::from_utf8_lossy(&out.stderr));
    assert!(csv_count(&rows, "page-faults:u") >= 500.0, "{rows:?}");

    // The msr PMU publishes a tsc alias in sysfs on x86: a PMU spec that
    // goes through sysfs format and events files on the real kernel.
    if Path::new("/sys/bus/event_source/devices/msr/events/tsc").exists() {
        let out = strobe_stat(&["-x,", "-e", "msr/tsc/"], &["sleep", "0.05"]);
        ok(&out, "strobe stat -e msr/tsc/");
        let rows = csv_rows(&String::from_utf8_lossy(&out.stderr));
        assert!(csv_count(&rows, "msr/tsc/") > 0.0, "{rows:?}");
        let out = strobe_stat(&["-x,", "-e", "msr/event=0x0,name=ticks/"], &["true"]);
        ok(&out, "strobe stat -e msr/event=0x0,name=ticks/");
        let rows = csv_rows(&String::from_utf8_lossy(&out.stderr));
        assert!(csv_count(&rows, "ticks") > 0.0, "{rows:?}");
    }
    // A PMU that does not exist is a clear error naming those that do.
    let out = strobe_stat(&["-e", "nosuchpmu/event=1/"], &["true"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nosuchpmu") && err.contains("software"),
        "{err}"
    );
    // A term the PMU lacks, too.
    let out = strobe_stat(&["-e", "software/umask=1/"], &["true"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn root_record_samples_with_modifiers_and_groups() {
    if !have_root("root_record_samples_with_modifiers_and_groups") {
        return;
    }
    let dir = scratch("record_modifiers");
    let data = dir.join("groups.data");
    let touch = workload("touch_pages");
    let out = run(strobe()
        .args([
            "record",
            "-q",
            "-c",
            "100",
            "-e",
            "{page-faults:u,minor-faults}",
            "-o",
        ])
        .arg(&data)
        .arg("--")
        .arg(&touch)
        .arg("2000"));
    ok(&out, "strobe record with a group");
    let events = script_json(&data);
    let faults = events
        .iter()
        .filter(|e| e["event"] == "page-faults:u")
        .count();
    assert!(faults >= 2000 / 100, "{faults} samples of page-faults:u");
    // Leader sampling is refused with a reason, not ignored.
    let out = run(strobe()
        .args(["record", "-e", "{page-faults,minor-faults}:S", "-o"])
        .arg(dir.join("s.data"))
        .args(["--", "true"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(":S"));
}

#[test]
fn list_shows_cpu_tables_with_encodings() {
    let out = run(strobe().args(["list", "cpus", "--json"]));
    ok(&out, "strobe list cpus --json");
    let tables: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "westmere-ep-sp",
        "westmere-ep-dp",
        "westmere-ex",
        "sapphire-rapids",
        "zen3",
        "zen4",
        "armv8-pmuv3",
        "cortex-a53",
        "cortex-a72",
        "neoverse-n1",
        "power9",
        "power10",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // Another CPU's table, with each event's perf_event_attr encoding.
    let out = run(strobe().args([
        "list",
        "pmu",
        "--cpu",
        "westmere-ep-sp",
        "--json",
        "^ARITH\\.DIV$",
    ]));
    ok(&out, "strobe list pmu --cpu westmere-ep-sp");
    let events: Value = serde_json::from_slice(&out.stdout).unwrap();
    let div = &events[0];
    assert_eq!(div["name"], "ARITH.DIV");
    // event 0x14, umask 0x01, edge, inv, cmask 1.
    assert_eq!(div["config"], 0x184_0114);
    assert_eq!(div["config1"], 0);
    // ARM core tables list the common PMUv3 events too.
    let out = run(strobe().args([
        "list",
        "pmu",
        "--cpu",
        "cortex-a53",
        "--json",
        "^CPU_CYCLES$",
    ]));
    ok(&out, "strobe list pmu --cpu cortex-a53");
    let events: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(events[0]["config"], 0x11);
    // An unknown table is an error naming the way to list them.
    let out = run(strobe().args(["list", "pmu", "--cpu", "pentium"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("strobe list cpus"));
}
