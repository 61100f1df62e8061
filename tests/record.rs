//! End-to-end tests of `strobe record` and `strobe info` on the real kernel.
//! They need root; under CI=true they never skip.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn root_record_workload_captures_its_samples_comm_mmap2_and_exit_status() {
    if !have_root("record_workload") {
        return;
    }
    let _serial = serial();
    let dir = scratch("record_workload");
    let cpu_bound = workload("cpu_bound");
    let data = dir.join("w.data");
    let out = run(strobe()
        .args(["record", "-o"])
        .arg(&data)
        .arg("--")
        .arg(&cpu_bound)
        .args(["0.5", "3"]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "strobe exits with the workload's status; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[ strobe record: wrote"),
        "closing line missing: {stderr}"
    );

    let rec = load(&data);
    let (pid, _, _, _) = rec
        .comms
        .iter()
        .find(|(_, _, comm, _)| comm == "cpu_bound")
        .expect("a COMM record names the workload")
        .clone();
    let own: Vec<_> = rec.samples.iter().filter(|s| s.pid == pid).collect();
    // 0.5 s at 4000 Hz is 2000 samples; allow for start-up and scheduling.
    assert!(
        own.len() > 1000,
        "only {} samples of the workload",
        own.len()
    );
    assert!(
        rec.mmaps
            .iter()
            .any(|(p, path, _)| *p == pid && path == cpu_bound.to_str().unwrap()),
        "no MMAP2 of {} for pid {pid}: {:?}",
        cpu_bound.display(),
        rec.mmaps
    );
    let info = info_json(&data);
    assert_eq!(info["recovered"], false);
    assert_eq!(info["trailer"]["exit_status"], 3);
    assert_eq!(info["samples"].as_u64().unwrap(), rec.samples.len() as u64);
}

#[test]
fn root_record_system_wide_sees_several_processes_both_cpus_and_earlier_processes() {
    if !have_root("record_system_wide") {
        return;
    }
    let _serial = serial();
    let dir = scratch("record_system_wide");
    let sleeper = workload("sleeper");
    let mut earlier = Command::new(&sleeper).arg("3").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (data, _) = record_two_busy(&dir, "a.data", "1", &[]);
    earlier.kill().ok();
    earlier.wait().ok();

    let rec = load(&data);
    let pids: BTreeSet<i32> = rec.samples.iter().map(|s| s.pid).collect();
    assert!(pids.len() > 1, "samples from only {pids:?}");
    let workload_pids: BTreeSet<i32> = rec
        .comms
        .iter()
        .filter(|(_, _, c, _)| c == "cpu_bound")
        .map(|(p, ..)| *p)
        .collect();
    assert!(
        workload_pids.len() >= 2,
        "both workload processes have COMM records: {workload_pids:?}"
    );
    let cpus: BTreeSet<u32> = rec.samples.iter().filter_map(|s| s.cpu).collect();
    assert_eq!(cpus.len(), online_cpus(), "samples from CPUs {cpus:?}");
    let earlier_pid = earlier.id() as i32;
    assert!(
        rec.comms
            .iter()
            .any(|(p, _, c, synth)| *p == earlier_pid && c == "sleeper" && *synth),
        "no synthesized COMM for the process started before the recording"
    );
    assert!(
        rec.mmaps.iter().any(|(p, path, synth)| *p == earlier_pid
            && path == sleeper.to_str().unwrap()
            && *synth),
        "no synthesized MMAP2 for the process started before the recording"
    );
}

#[test]
fn root_record_pid_attaches_and_stops_when_the_process_exits() {
    if !have_root("record_pid") {
        return;
    }
    let _serial = serial();
    let dir = scratch("record_pid");
    let sleeper = workload("sleeper");
    let mut target = Command::new(&sleeper).arg("1.5").spawn().unwrap();
    let pid = target.id() as i32;
    // Reap the target as soon as it exits, as a parent would.
    let reaper = std::thread::spawn(move || target.wait());
    let data = dir.join("p.data");
    let started = Instant::now();
    let out = run(strobe()
        .args(["record", "-p", &pid.to_string(), "-o"])
        .arg(&data));
    let took = started.elapsed();
    reaper.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took < Duration::from_secs(4),
        "strobe did not stop when the process exited ({took:?})"
    );
    let rec = load(&data);
    let own = rec.samples.iter().filter(|s| s.pid == pid).count();
    assert!(own > 50, "only {own} samples of pid {pid}");
    assert!(
        rec.samples.iter().all(|s| s.pid == pid),
        "samples of other processes in a -p recording"
    );
    assert!(rec
        .comms
        .iter()
        .any(|(p, _, c, _)| *p == pid && c == "sleeper"));
}

#[test]
fn root_call_graphs_contain_the_workload_callers() {
    if !have_root("call_graphs") {
        return;
    }
    let _serial = serial();
    let dir = scratch("call_graphs");
    let cpu_bound = workload("cpu_bound");
    let data = dir.join("g.data");
    record_into(&data, &["-g"], &cpu_bound, "0.5");
    let funcs = function_ranges(
        &cpu_bound,
        &[
            "hot_a",
            "hot_b",
            "caller_a",
            "caller_b",
            "run_workload",
            "main",
        ],
    );
    let name_of = |addr: u64| {
        funcs
            .iter()
            .find(|(_, lo, hi)| (*lo..*hi).contains(&addr))
            .map(|(n, ..)| n.as_str())
    };
    let rec = load(&data);
    let pid = rec
        .comms
        .iter()
        .find(|(_, _, c, _)| c == "cpu_bound")
        .expect("workload COMM")
        .0;
    let own: Vec<_> = rec.samples.iter().filter(|s| s.pid == pid).collect();
    let mut in_hot = 0;
    let mut with_caller = 0;
    for s in &own {
        let names: Vec<&str> = s.callchain.iter().filter_map(|&a| name_of(a)).collect();
        match name_of(s.ip) {
            Some("hot_a") => {
                in_hot += 1;
                if names.contains(&"caller_a")
                    && names.contains(&"run_workload")
                    && names.contains(&"main")
                {
                    with_caller += 1;
                }
            }
            Some("hot_b") => {
                in_hot += 1;
                if names.contains(&"caller_b")
                    && names.contains(&"run_workload")
                    && names.contains(&"main")
                {
                    with_caller += 1;
                }
            }
            _ => {}
        }
    }
    assert!(in_hot > 1000, "only {in_hot} samples in hot_a/hot_b");
    // Frame-pointer chains from a sample in hot_X go through caller_X,
    // run_workload and main; allow a few taken in a prologue.
    assert!(
        with_caller * 100 >= in_hot * 95,
        "{with_caller} of {in_hot} hot samples have the full caller chain"
    );
}

#[test]
fn root_sigkilled_recording_is_recovered_by_info() {
    if !have_root("sigkill") {
        return;
    }
    let _serial = serial();
    let dir = scratch("sigkill");
    let cpu_bound = workload("cpu_bound");
    let mut busy = Command::new(&cpu_bound).arg("3").spawn().unwrap();
    let data = dir.join("k.data");
    let mut recorder = strobe()
        .args(["record", "-a", "-g", "-o"])
        .arg(&data)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    recorder.kill().unwrap(); // SIGKILL
    recorder.wait().unwrap();
    busy.kill().ok();
    busy.wait().ok();

    let info = info_json(&data);
    assert_eq!(info["recovered"], true, "{info}");
    let samples = info["samples"].as_u64().unwrap();
    assert!(samples > 1000, "recovered only {samples} samples");
    let text = run(strobe().arg("info").arg(&data));
    assert!(String::from_utf8_lossy(&text.stdout).contains("RECOVERED"));
    // Every recovered sample decodes.
    assert_eq!(load(&data).samples.len() as u64, samples);
}

#[test]
fn root_ring_stays_within_its_size_and_keeps_the_newest_samples() {
    if !have_root("ring") {
        return;
    }
    let _serial = serial();
    let dir = scratch("ring");
    // A 20 us period on two busy CPUs produces roughly 10 MiB a second.
    let (data, _) = record_two_busy(&dir, "r.data", "3", &["-g", "-c", "20000", "--ring", "4M"]);
    let info = info_json(&data);
    let chunk_bound = 128 * 4096 + 64 + 8;
    let size = info["file_size"].as_u64().unwrap();
    assert!(size <= (4 << 20) + chunk_bound, "ring file is {size} bytes");
    assert_eq!(
        info["trailer"]["ring_wrapped"], true,
        "the recording did not overflow the ring"
    );
    assert_eq!(
        info["recovered"], false,
        "a finished ring is read through its index: {}",
        info["recovery"]
    );
    let written: u64 = info["trailer"]["cpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bytes"].as_u64().unwrap())
        .sum();
    assert!(
        written > 3 * (4 << 20),
        "only {written} bytes were produced"
    );
    let rec = load(&data);
    let start = info["session"]["start_time_ns"].as_u64().unwrap();
    let end = info["trailer"]["end_time_ns"].as_u64().unwrap();
    let newest = rec.samples.iter().map(|s| s.time).max().unwrap();
    let oldest = rec
        .samples
        .iter()
        .map(|s| s.time)
        .filter(|&t| t > 0)
        .min()
        .unwrap();
    assert!(
        end - newest < 500_000_000,
        "newest sample {}ms before the end",
        (end - newest) / 1_000_000
    );
    assert!(
        oldest - start > 1_000_000_000,
        "oldest sample only {}ms after the start",
        (oldest - start) / 1_000_000
    );
}

#[test]
fn root_one_page_buffer_reports_lost_events() {
    if !have_root("lost") {
        return;
    }
    let _serial = serial();
    let dir = scratch("lost");
    let (data, out) = record_two_busy(&dir, "l.data", "1", &["-g", "-m", "1", "-c", "10000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LOST"),
        "the closing line does not report losses: {stderr}"
    );
    let info = info_json(&data);
    assert!(info["lost"].as_u64().unwrap() > 0, "{info}");
    let text = String::from_utf8_lossy(&run(strobe().arg("info").arg(&data)).stdout).into_owned();
    let lost_line = text
        .lines()
        .find(|l| l.starts_with("# recorded:"))
        .expect("info has a recorded/lost line");
    assert!(
        lost_line.contains("lost") && !lost_line.contains("lost 0 events (buffer full), 0 samples"),
        "{lost_line}"
    );
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = scratch("bad_input");
    let out = run(strobe()
        .args(["record", "-e", "cpu-clok", "-o"])
        .arg(dir.join("x.data"))
        .args(["--", "true"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("strobe: unknown event `cpu-clok`") && stderr.lines().count() == 1,
        "{stderr}"
    );

    let out = run(strobe()
        .args(["record", "-o"])
        .arg(dir.join("y.data"))
        .args(["--", "/nonexistent/program"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot run `/nonexistent/program`"),
        "{stderr}"
    );
    assert!(
        !dir.join("y.data").exists(),
        "a command that cannot run leaves no recording"
    );

    let junk = dir.join("junk.data");
    std::fs::write(&junk, b"this is not a recording").unwrap();
    let out = run(strobe().arg("info").arg(&junk));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("not a strobe file") && stderr.lines().count() == 1,
        "{stderr}"
    );

    let out = run(strobe().arg("record"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to record"));
}

#[test]
fn root_a_recording_that_cannot_start_keeps_the_previous_file() {
    if !have_root("failed_start") {
        return;
    }
    let dir = scratch("failed_start");
    let data = dir.join("keep.data");
    std::fs::write(&data, b"previous").unwrap();
    // No process has pid 2^22 + 1 (above the kernel's pid_max limit).
    let out = run(strobe().args(["record", "-p", "4194305", "-o"]).arg(&data));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&data).unwrap(), b"previous");
    assert!(!dir.join("keep.data.old").exists());

    // A ring too small for its metadata fails after the file was created.
    let out = run(strobe()
        .args(["record", "--ring", "1M", "-o"])
        .arg(&data)
        .args(["--", "true"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use a larger --ring"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&data).unwrap(), b"previous");
    assert!(!dir.join("keep.data.old").exists());
}

#[test]
fn root_report_attributes_the_workload_split_and_kernel_symbols() {
    if !have_root("report") {
        return;
    }
    let _serial = serial();
    let dir = scratch("report");
    let cpu_bound = workload("cpu_bound");
    let data = dir.join("r.data");
    record_into(&data, &["-g", "-q"], &cpu_bound, "1");
    let out = run(strobe()
        .args(["report", "--stdio", "--no-children", "--sort", "sym", "-i"])
        .arg(&data));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let (hot_a, hot_b) = hot_shares(&text);
    // The workload spends 70% of its time in hot_a and 30% in hot_b.
    assert!((hot_a - 70.0).abs() < 3.0, "hot_a at {hot_a}%:\n{text}");
    assert!((hot_b - 30.0).abs() < 3.0, "hot_b at {hot_b}%:\n{text}");
    assert!(text.starts_with("# Samples: "), "{text}");

    // A syscall-heavy command spends much of its time in the kernel, and
    // those samples resolve to kernel symbols from the file's snapshot.
    let data = dir.join("k.data");
    let out = run(strobe().args(["record", "-q", "-o"]).arg(&data).args([
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1",
        "count=300000",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(strobe()
        .args(["report", "--sort", "dso,sym", "-i"])
        .arg(&data));
    let text = String::from_utf8_lossy(&out.stdout);
    let kernel_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[kernel.kallsyms]"))
        .collect();
    assert!(!kernel_rows.is_empty(), "no kernel rows:\n{text}");
    assert!(
        kernel_rows.iter().all(|l| !l.contains("[k] 0x")),
        "raw kernel addresses:\n{text}"
    );
    let kernel_share: f64 = kernel_rows
        .iter()
        .filter_map(|l| l.trim().split('%').next()?.trim().parse::<f64>().ok())
        .sum();
    assert!(
        kernel_share > 30.0,
        "only {kernel_share}% in the kernel:\n{text}"
    );
}

#[test]
fn root_sigint_ends_a_recording_cleanly_and_the_old_file_is_kept() {
    if !have_root("sigint") {
        return;
    }
    let _serial = serial();
    let dir = scratch("sigint");
    let data = dir.join("s.data");
    std::fs::write(&data, b"earlier recording").unwrap();
    let recorder = strobe()
        .args(["record", "-a", "--full-kallsyms", "-o"])
        .arg(&data)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    // SAFETY: signalling a child we spawned and have not reaped.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    let out = recorder.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("[ strobe record: wrote"));
    assert_eq!(
        std::fs::read(dir.join("s.data.old")).unwrap(),
        b"earlier recording"
    );
    let info = info_json(&data);
    assert_eq!(info["recovered"], false, "{info}");
    // --full-kallsyms keeps the whole table, which has tens of thousands of lines.
    let bytes = std::fs::read(&data).unwrap();
    let file = strobe_record::format::reader::StrobeFile::parse(&bytes).unwrap();
    let lines = file.kallsyms().iter().filter(|&&b| b == b'\n').count();
    assert!(lines > 10_000, "only {lines} kallsyms lines");
}

#[test]
fn root_sigusr2_writes_finished_snapshot_copies_of_a_ring() {
    if !have_root("snapshot") {
        return;
    }
    let _serial = serial();
    let dir = scratch("snapshot");
    let cpu_bound = workload("cpu_bound");
    let mut busy = Command::new(&cpu_bound).arg("4").spawn().unwrap();
    let data = dir.join("f.data");
    let recorder = strobe()
        .args(["record", "-a", "-g", "--ring", "8M", "-o"])
        .arg(&data)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let signal = |sig| {
        // SAFETY: signalling a child we spawned and have not reaped.
        unsafe { libc::kill(recorder.id() as i32, sig) };
    };
    std::thread::sleep(Duration::from_millis(1200));
    signal(libc::SIGUSR2);
    std::thread::sleep(Duration::from_millis(800));
    signal(libc::SIGUSR2);
    std::thread::sleep(Duration::from_millis(800));
    signal(libc::SIGINT);
    let out = recorder.wait_with_output().unwrap();
    busy.kill().ok();
    busy.wait().ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("snapshot 1 written to") && stderr.contains("2 snapshots written"),
        "{stderr}"
    );
    let mut previous_samples = 0;
    for n in 1..=2 {
        let copy = dir.join(format!("f.data.{n}"));
        let info = info_json(&copy);
        assert_eq!(
            info["recovered"], false,
            "snapshot {n} is a finished file: {info}"
        );
        assert_eq!(info["trailer"]["snapshot"], true);
        let samples = info["samples"].as_u64().unwrap();
        assert!(
            samples > previous_samples,
            "snapshot {n} has {samples} samples"
        );
        previous_samples = samples;
    }
    let info = info_json(&data);
    assert_eq!(info["recovered"], false);
    assert_eq!(info["trailer"]["snapshot"], false);
}

/// `strobe report --json` of a recording, parsed.
fn report_json(data: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let out = run(strobe()
        .args(["report", "--json", "-i"])
        .arg(data)
        .args(extra));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report --json prints JSON")
}

fn rows(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["events"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn root_report_children_self_and_filters() {
    if !have_root("report_children") {
        return;
    }
    let _serial = serial();
    let dir = scratch("report_children");
    let cpu_bound = workload("cpu_bound");
    let data = dir.join("c.data");
    record_into(&data, &["-g", "-q"], &cpu_bound, "0.5");

    let report = report_json(&data, &[]);
    assert_eq!(report["schema"], "strobe-report/1");
    assert_eq!(
        report["children"], true,
        "a -g recording reports Children by default"
    );
    let all = rows(&report);
    let self_sum: f64 = all
        .iter()
        .map(|r| r["self_percent"].as_f64().unwrap())
        .sum();
    assert!((self_sum - 100.0).abs() < 0.01, "Self sums to {self_sum}");
    let row = |sym: &str| {
        all.iter()
            .find(|r| r["sym"] == sym)
            .unwrap_or_else(|| panic!("no {sym} row"))
            .clone()
    };
    // main calls everything: its Children is nearly all, its Self nearly nothing.
    let main = row("[.] main");
    assert!(main["children_percent"].as_f64().unwrap() > 95.0, "{main}");
    assert!(main["self_percent"].as_f64().unwrap() < 1.0, "{main}");
    // caller_a's Children covers hot_a's Self.
    let (caller_a, hot_a) = (row("[.] caller_a"), row("[.] hot_a"));
    assert!(
        caller_a["children_percent"].as_f64().unwrap() + 0.5
            >= hot_a["self_percent"].as_f64().unwrap()
    );
    for r in &all {
        assert!(
            r["children_period"].as_u64().unwrap() >= r["self_period"].as_u64().unwrap(),
            "{r}"
        );
    }

    // Filters narrow the rows, compose, and never widen them.
    let only_hot = rows(&report_json(&data, &["--no-children", "--sym", "^hot_"]));
    assert!(!only_hot.is_empty());
    assert!(
        only_hot
            .iter()
            .all(|r| r["sym"].as_str().unwrap().starts_with("[.] hot_")),
        "{only_hot:?}"
    );
    let hot_a_only = rows(&report_json(
        &data,
        &[
            "--no-children",
            "--sym",
            "^hot_",
            "--comm",
            "cpu_bound",
            "--dso",
            "cpu_bound",
        ],
    ));
    assert!(hot_a_only.len() <= only_hot.len());
    assert!(rows(&report_json(&data, &["--comm", "^no-such-command$"])).is_empty());
    let first_half = report_json(&data, &["--no-children", "--time", "0,0.25"]);
    let whole = report_json(&data, &["--no-children"]);
    let (half_n, whole_n) = (
        first_half["events"][0]["samples"].as_u64().unwrap(),
        whole["events"][0]["samples"].as_u64().unwrap(),
    );
    assert!(
        half_n > whole_n / 4 && half_n < whole_n * 3 / 4,
        "{half_n} of {whole_n} samples in the first half"
    );
    // pid 1 (init) never runs the workload.
    assert!(rows(&report_json(&data, &["--pid", "1"])).is_empty());

    // A malformed regular expression is a one-line error pointing at it.
    let out = run(strobe()
        .args(["report", "--sym", "hot_(a", "-i"])
        .arg(&data));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("strobe: --sym: invalid regular expression `hot_(a` at character 5"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Rows of `--stdio --no-children` text output: (percent, comm, dso, sym).
fn stdio_rows(text: &str) -> Vec<(f64, String, String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('%'))
        .filter_map(|l| {
            let (pct, rest) = l.trim_start().split_once('%')?;
            let mut fields = rest.split_whitespace();
            let comm = fields.next()?.to_string();
            let dso = fields.next()?.to_string();
            let sym = fields.collect::<Vec<_>>().join(" ");
            Some((pct.trim().parse().ok()?, comm, dso, sym))
        })
        .collect()
}

#[test]
fn root_report_of_perf_data_matches_perf_report() {
    if !have_root("perf_data") {
        return;
    }
    let _serial = serial();
    let dir = scratch("perf_data");
    let cpu_bound = workload("cpu_bound");
    let data = dir.join("perf.data");
    let script = format!(
        "{} 0.5; dd if=/dev/zero of=/dev/null bs=1 count=200000 2>/dev/null",
        cpu_bound.display()
    );
    let out = perf_record(&[
        "-q".as_ref(),
        "-F".as_ref(),
        "4000".as_ref(),
        "-o".as_ref(),
        data.as_os_str(),
        "--".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
    ]);
    assert!(
        out.status.success(),
        "perf record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = ["--stdio", "--no-children", "--sort", "comm,dso,sym", "-i"];
    let perf = run(Command::new("perf").arg("report").args(args).arg(&data));
    assert!(
        perf.status.success(),
        "perf report failed: {}",
        String::from_utf8_lossy(&perf.stderr)
    );
    let ours = run(strobe().arg("report").args(args).arg(&data));
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let (perf_rows, our_rows) = (
        stdio_rows(&String::from_utf8_lossy(&perf.stdout)),
        stdio_rows(&String::from_utf8_lossy(&ours.stdout)),
    );
    // perf prints unresolved addresses raw; strobe groups them as [unknown].
    // Entries perf prints as 0.00% equal an absent entry to within 0.01.
    let resolved: Vec<_> = perf_rows
        .iter()
        .filter(|(pct, _, _, sym)| {
            *pct >= 0.01 && !sym.contains("[unknown]") && !sym.contains(" 0x")
        })
        .collect();
    assert!(
        resolved.len() >= 5,
        "perf resolved too little to compare: {perf_rows:?}"
    );
    assert!(
        resolved.iter().any(|r| r.3 == "[.] hot_a")
            && resolved.iter().any(|r| r.3.starts_with("[k] ")),
        "{resolved:?}"
    );
    for (pct, comm, dso, sym) in resolved {
        let mine = our_rows
            .iter()
            .find(|r| &r.1 == comm && &r.2 == dso && &r.3 == sym)
            .unwrap_or_else(|| {
                panic!(
                    "perf's entry {comm} {dso} {sym} ({pct}%) is missing from strobe's report:\n{}",
                    String::from_utf8_lossy(&ours.stdout)
                )
            });
        assert!(
            (mine.0 - pct).abs() <= 0.01 + 1e-9,
            "{comm} {dso} {sym}: perf {pct}%, strobe {}%",
            mine.0
        );
    }
}

/// `hot_a` and `hot_b` shares from `report --no-children --sort sym` text.
fn hot_shares(text: &str) -> (f64, f64) {
    let share = |sym: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_end().ends_with(&format!("[.] {sym}")))
            .and_then(|l| l.trim().split('%').next()?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no row for {sym} in:\n{text}"))
    };
    (share("hot_a"), share("hot_b"))
}

#[test]
fn root_stripped_binary_resolves_through_its_debug_file_and_perf_recordings_split_right() {
    if !have_root("stripped") {
        return;
    }
    let _serial = serial();
    let dir = scratch("stripped");
    let cpu_bound = workload("cpu_bound");
    let stripped = dir.join("cpu_bound");
    let debug = dir.join("cpu_bound.debug");
    let ok = |cmd: &mut Command| assert!(run(cmd).status.success(), "{cmd:?} failed");
    ok(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&cpu_bound)
        .arg(&debug));
    ok(Command::new("objcopy")
        .arg("--strip-all")
        .arg(&cpu_bound)
        .arg(&stripped));
    let build_id: String = {
        use object::Object;
        let data = std::fs::read(&stripped).unwrap();
        let elf = object::File::parse(&*data).unwrap();
        elf.build_id()
            .unwrap()
            .expect("the workload has a build-id")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let debug_dir =
        std::path::PathBuf::from(format!("/usr/lib/debug/.build-id/{}", &build_id[..2]));
    let installed = debug_dir.join(format!("{}.debug", &build_id[2..]));
    std::fs::remove_file(&installed).ok();

    let report_of = |binary: &std::path::Path, name: &str| -> String {
        let data = dir.join(name);
        record_into(&data, &["-q"], binary, "0.5");
        let out = run(strobe()
            .args(["report", "--no-children", "--sort", "sym", "-i"])
            .arg(&data));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Without its debug file, the stripped binary has no symbols to show.
    let bare = report_of(&stripped, "bare.data");
    assert!(
        !bare.contains("hot_a"),
        "the stripped binary resolved without its debug file:\n{bare}"
    );

    std::fs::create_dir_all(&debug_dir).unwrap();
    std::fs::copy(&debug, &installed).unwrap();
    let stripped_text = report_of(&stripped, "stripped.data");
    let unstripped_text = report_of(&cpu_bound, "unstripped.data");
    std::fs::remove_file(&installed).ok();
    let (a, b) = hot_shares(&stripped_text);
    let (ua, ub) = hot_shares(&unstripped_text);
    assert!(
        (a - 70.0).abs() < 3.0 && (b - 30.0).abs() < 3.0,
        "stripped: {a}/{b}\n{stripped_text}"
    );
    assert!(
        (ua - 70.0).abs() < 3.0 && (ub - 30.0).abs() < 3.0,
        "unstripped: {ua}/{ub}"
    );

    // The same split on perf's own recording of the workload.
    let perf_data = dir.join("perf.data");
    let out = perf_record(&[
        "-q".as_ref(),
        "-F".as_ref(),
        "4000".as_ref(),
        "-o".as_ref(),
        perf_data.as_os_str(),
        "--".as_ref(),
        cpu_bound.as_os_str(),
        "0.5".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "perf record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(strobe()
        .args(["report", "--no-children", "--sort", "sym", "-i"])
        .arg(&perf_data));
    let text = String::from_utf8_lossy(&out.stdout);
    let (pa, pb) = hot_shares(&text);
    assert!(
        (pa - 70.0).abs() < 3.0 && (pb - 30.0).abs() < 3.0,
        "perf's recording: {pa}/{pb}\n{text}"
    );
}

#[test]
fn root_call_graph_shows_inlined_frames_with_source_lines() {
    if !have_root("inline") {
        return;
    }
    let _serial = serial();
    let dir = scratch("inline");
    let cpu_bound = workload("cpu_bound");
    let data = dir.join("i.data");
    record_into(&data, &["-g", "-q"], &cpu_bound, "0.5");
    // burn() is a static inline function that -O2 inlines into hot_a and hot_b.
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/workloads/cpu_bound.c"
    ))
    .unwrap();
    let burn_body = source
        .lines()
        .position(|l| l.contains("burn("))
        .expect("burn is defined")
        + 1;
    let out = run(strobe()
        .args(["report", "--no-children", "-g", "callee", "-i"])
        .arg(&data));
    let text = String::from_utf8_lossy(&out.stdout);
    let under_hot_a: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.ends_with("[.] hot_a"))
        .skip(1)
        .take(8)
        .collect();
    let inline_line = under_hot_a
        .iter()
        .find(|l| l.contains("burn (inlined) cpu_bound.c:"))
        .unwrap_or_else(|| panic!("no inlined burn frame under hot_a:\n{text}"));
    let line: usize = inline_line
        .rsplit(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        line > burn_body && line < burn_body + 15,
        "burn's source line {line} is not in its body (from line {burn_body})"
    );
    let after = under_hot_a
        .iter()
        .position(|l| l.contains("burn (inlined)"))
        .unwrap();
    assert!(
        under_hot_a[after + 1].trim() == "hot_a" && under_hot_a[after + 2].trim() == "caller_a",
        "{under_hot_a:#?}"
    );

    // A flame graph draws the same stacks.
    let svg = dir.join("flame.svg");
    let out = run(strobe()
        .args(["report", "-g", "none", "--flamegraph"])
        .arg(&svg)
        .arg("-i")
        .arg(&data));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<?xml") && svg.contains("<svg"),
        "not an SVG"
    );
    for frame in [
        "<title>cpu_bound (",
        "<title>main (",
        "<title>caller_a (",
        "<title>hot_a (",
        "<title>burn (inlined) cpu_bound.c:",
    ] {
        assert!(svg.contains(frame), "the flame graph has no {frame} frame");
    }

    // In caller order the tree starts at the outermost frame.
    let out = run(strobe()
        .args(["report", "--no-children", "-g", "caller,0", "-i"])
        .arg(&data));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text
        .lines()
        .skip_while(|l| !l.ends_with("[.] hot_a"))
        .find(|l| l.contains("---"))
        .unwrap();
    assert!(
        !first.contains("burn"),
        "caller order starts from the outside: {first}"
    );
}

#[test]
fn root_jit_code_resolves_through_its_perf_map() {
    if !have_root("jit") {
        return;
    }
    let _serial = serial();
    let dir = scratch("jit");
    let jit = workload("jit");
    let data = dir.join("j.data");
    record_into(&data, &["-q"], &jit, "0.5");
    let pid = load(&data)
        .comms
        .iter()
        .find(|(_, _, c, _)| c == "jit")
        .expect("COMM of the workload")
        .0;
    let out = run(strobe()
        .args(["report", "--no-children", "--sort", "dso,sym", "-i"])
        .arg(&data));
    std::fs::remove_file(format!("/tmp/perf-{pid}.map")).ok();
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.ends_with("[.] jit_spin_loop"))
        .unwrap_or_else(|| panic!("no JIT symbol:\n{text}"));
    assert!(row.contains(&format!("perf-{pid}.map")), "{row}");
    let share: f64 = row
        .trim()
        .split('%')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(share > 80.0, "the JIT loop has only {share}%:\n{text}");
}
