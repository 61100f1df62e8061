//! Tracepoints end to end: `record -e` with filters, `trace` through a
//! tracefs instance, `script` text and JSON, `list`, and comparison with
//! perf script on perf's own recordings. These need root and tracefs.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn field<'a>(event: &'a Value, name: &str) -> &'a Value {
    &event["fields"][name]
}

fn tracefs_root() -> &'static Path {
    // strobe mounts tracefs when it must; the tests look where it mounts.
    if Path::new("/sys/kernel/tracing/events").is_dir() {
        Path::new("/sys/kernel/tracing")
    } else {
        Path::new("/sys/kernel/debug/tracing")
    }
}

/// The global tracing state `strobe trace` must leave as it found it.
fn global_state() -> (String, String, String, Vec<String>) {
    let _ = run(strobe().args(["list", "tracepoint", "sched:sched_switch"]));
    let root = tracefs_root();
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap_or_default();
    let instances = std::fs::read_dir(root.join("instances"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("strobe-"))
                .collect()
        })
        .unwrap_or_default();
    (
        read("current_tracer"),
        read("set_event"),
        read("tracing_on"),
        instances,
    )
}

#[test]
fn root_tracepoint_filter_records_exactly_the_getppid_calls() {
    if !have_root("root_tracepoint_filter_records_exactly_the_getppid_calls") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_filter");
    let data = dir.join("getppid.data");
    let calls = 4321;
    let out = run(strobe()
        .args([
            "record",
            "-e",
            "raw_syscalls:sys_enter",
            "--filter",
            "id == 110",
            "-o",
        ])
        .arg(&data)
        .arg("--")
        .arg(workload("getppid"))
        .arg(calls.to_string()));
    ok(&out, "strobe record");
    let events = script_json(&data);
    assert_eq!(events.len(), calls, "one event per getppid call, no more");
    for e in &events {
        assert_eq!(e["event"], "raw_syscalls:sys_enter");
        assert_eq!(field(e, "id"), 110);
        assert_eq!(e["comm"], "getppid");
    }
    // The filter is kept in the metadata.
    let info = info_json(&data);
    assert_eq!(info["session"]["events"][0]["filter"], "id == 110");
}

#[test]
fn root_rejected_filter_shows_the_kernels_reason_with_a_caret() {
    if !have_root("root_rejected_filter_shows_the_kernels_reason_with_a_caret") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_bad_filter");
    let out = run(strobe()
        .args([
            "record",
            "-e",
            "raw_syscalls:sys_enter",
            "--filter",
            "idd == 110",
            "-o",
        ])
        .arg(dir.join("x.data"))
        .args(["--", "true"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Field not found"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let filter_line = lines
        .iter()
        .position(|l| l.trim() == "idd == 110")
        .expect("the filter is shown");
    let caret = lines[filter_line + 1];
    assert!(caret.trim() == "^", "a caret line follows: {stderr}");
    assert!(!dir.join("x.data").exists(), "no file is left behind");
    // An event that does not exist gets a suggestion.
    let out = run(strobe()
        .args(["record", "-e", "sched:sched_swich", "-a", "-o"])
        .arg(dir.join("y.data"))
        .args(["--", "true"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did you mean `sched:sched_switch`"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Context switches out of the two pingpong processes, from `script --json`.
fn pingpong_switches(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event"] == "sched:sched_switch" && field(e, "prev_comm") == "pingpong")
        .collect()
}

#[test]
fn root_sched_switch_fields_decode_and_count_two_per_round_trip() {
    if !have_root("root_sched_switch_fields_decode_and_count_two_per_round_trip") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_pingpong");
    let data = dir.join("switch.data");
    let rounds = 3000;
    let out = run(strobe()
        .args(["record", "-e", "sched:sched_switch", "-o"])
        .arg(&data)
        .arg("--")
        .arg(workload("pingpong"))
        .arg(rounds.to_string()));
    ok(&out, "strobe record");
    let events = script_json(&data);
    let switches = pingpong_switches(&events);
    let expected = 2.0 * rounds as f64;
    let ratio = switches.len() as f64 / expected;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{} switches for {rounds} round trips",
        switches.len()
    );
    let pids: std::collections::BTreeSet<i64> = switches
        .iter()
        .map(|e| field(e, "prev_pid").as_i64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "both processes switch out: {pids:?}");
    for e in &switches {
        // The switched-out task is the one the sample belongs to.
        assert_eq!(field(e, "prev_pid").as_i64(), e["tid"].as_i64());
        assert!(field(e, "next_comm")
            .as_str()
            .is_some_and(|c| !c.is_empty()));
        // prev_state prints by name through the print format's __print_flags.
        let trace = e["trace"].as_str().unwrap();
        assert!(
            trace.contains("prev_state=S")
                || trace.contains("prev_state=D")
                || trace.contains("prev_state=R"),
            "{trace}"
        );
        assert!(trace.starts_with("prev_comm=pingpong prev_pid="), "{trace}");
    }
    // The text form is perf script's shape.
    let out = run(strobe()
        .args(["script", "-i"])
        .arg(&data)
        .args(["--comm", "pingpong"]));
    ok(&out, "strobe script");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("prev_comm=pingpong"))
        .expect("a pingpong line");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "pingpong");
    assert!(words[1].parse::<i32>().is_ok(), "{line}");
    assert!(
        words[2].starts_with('[') && words[2].ends_with(']'),
        "{line}"
    );
    assert!(words[3].ends_with(':') && words[3].contains('.'), "{line}");
    assert_eq!(words[4], "sched:sched_switch:");
    // -F picks fields by name, flags by name as well.
    let out = run(strobe()
        .args(["script", "-F", "comm,prev_pid,prev_state,next_comm", "-i"])
        .arg(&data)
        .args(["--comm", "pingpong"]));
    ok(&out, "strobe script -F");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("prev_pid=") && first.contains("next_comm="),
        "{first}"
    );
    // A blocked task's state by its flag's name, as the trace text shows it.
    assert!(
        text.lines().any(|l| l.contains("prev_state=S")),
        "prev_state by name: {text}"
    );
}

#[test]
fn root_trace_matches_record_on_sched_switch() {
    if !have_root("root_trace_matches_record_on_sched_switch") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_trace_vs_record");
    let rounds = 3000;
    let recorded = dir.join("record.data");
    ok(
        &run(strobe()
            .args(["record", "-e", "sched:sched_switch", "-o"])
            .arg(&recorded)
            .arg("--")
            .arg(workload("pingpong"))
            .arg(rounds.to_string())),
        "strobe record",
    );
    let before = global_state();
    let traced = dir.join("trace.data");
    let out = run(strobe()
        .args(["trace", "--clock", "mono", "-e", "sched:sched_switch", "-o"])
        .arg(&traced)
        .arg("--")
        .arg(workload("pingpong"))
        .arg(rounds.to_string()));
    ok(&out, "strobe trace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[ strobe trace: wrote"), "{stderr}");
    assert_eq!(
        global_state(),
        before,
        "the global tracing state is unchanged"
    );
    // The file holds ftrace pages, not perf records.
    let info = info_json(&traced);
    assert_eq!(
        info["session"]["ftrace"]["events"][0]["name"],
        "sched:sched_switch"
    );
    let from_record = script_json(&recorded);
    let from_trace = script_json(&traced);
    let a = pingpong_switches(&from_record);
    let b = pingpong_switches(&from_trace);
    let ratio = b.len() as f64 / a.len() as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "record {} vs trace {}",
        a.len(),
        b.len()
    );
    // The same fields, decoded the same way.
    let keys = |e: &Value| {
        let mut k: Vec<String> = e["fields"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(a[0]), keys(b[0]));
    for e in &b {
        assert_eq!(field(e, "prev_pid").as_i64(), e["tid"].as_i64());
        assert!(e["trace"]
            .as_str()
            .unwrap()
            .starts_with("prev_comm=pingpong"));
    }
    // With --clock mono, times are CLOCK_MONOTONIC, as in strobe record:
    // later than the record run's.
    let last_record = a.last().unwrap()["time"].as_u64().unwrap();
    let first_trace = b[0]["time"].as_u64().unwrap();
    assert!(first_trace > last_record, "trace times follow record times");
}

#[test]
fn root_trace_function_tracer_under_lockdown_fails_in_one_line() {
    if !have_root("root_trace_function_tracer_under_lockdown_fails_in_one_line") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_lockdown");
    let before = global_state();
    let out = run(strobe()
        .args(["trace", "--func", "vfs_read", "-o"])
        .arg(dir.join("f.data"))
        .args(["--", "cat", "/etc/hostname"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lockdown = std::fs::read_to_string("/sys/kernel/security/lockdown").unwrap_or_default();
    assert!(
        lockdown.contains("[integrity]") || lockdown.contains("[confidentiality]"),
        "this test expects the host's kernel lockdown, found {lockdown:?}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("lockdown") && stderr.contains("tracepoints"),
        "{stderr}"
    );
    assert_eq!(global_state(), before, "no instance is left behind");
    assert!(!dir.join("f.data").exists());
}

#[test]
fn root_trace_cleans_up_after_sigint_and_sigkill() {
    if !have_root("root_trace_cleans_up_after_sigint_and_sigkill") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_signals");
    let before = global_state();
    for (signal, name) in [(libc::SIGINT, "int"), (libc::SIGKILL, "kill")] {
        let mut child = strobe()
            .args(["trace", "-e", "sched:sched_switch", "-a", "-q", "-o"])
            .arg(dir.join(format!("{name}.data")))
            .spawn()
            .unwrap();
        // Long enough to have created its instance and started reading.
        std::thread::sleep(std::time::Duration::from_millis(700));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        if signal == libc::SIGINT {
            assert!(status.success(), "SIGINT ends a trace cleanly");
            assert_eq!(global_state(), before, "SIGINT: nothing left behind");
            let events = script_json(&dir.join("int.data"));
            assert!(!events.is_empty());
        } else {
            // The killed run's instance is left; the next run removes it.
            let (_, _, _, left) = global_state();
            assert_eq!(left.len(), 1, "SIGKILL leaves its instance: {left:?}");
            ok(
                &run(strobe()
                    .args(["trace", "-e", "sched:sched_switch", "-q", "-o"])
                    .arg(dir.join("next.data"))
                    .args(["--", "true"])),
                "the next strobe trace",
            );
            assert_eq!(global_state(), before, "the next run cleaned up");
        }
    }
}

#[test]
fn root_kmalloc_gfp_flags_print_by_name() {
    if !have_root("root_kmalloc_gfp_flags_print_by_name") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_kmalloc");
    let data = dir.join("kmalloc.data");
    ok(
        &run(strobe()
            .args(["record", "-e", "kmem:kmalloc", "-a", "-o"])
            .arg(&data)
            .args([
                "--",
                "sh",
                "-c",
                "for i in 1 2 3 4 5; do cat /proc/self/status /etc/passwd >/dev/null; done",
            ])),
        "strobe record",
    );
    let events = script_json(&data);
    assert!(!events.is_empty());
    let named = events
        .iter()
        .filter(|e| e["trace"].as_str().unwrap().contains("gfp_flags=GFP_"))
        .count();
    assert!(
        named * 2 > events.len(),
        "{named} of {} name their gfp flags",
        events.len()
    );
    // call_site prints as the kernel symbol that contains it (%pS), as
    // /proc/kallsyms says.
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let mut symbols: Vec<(u64, &str)> = kallsyms
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let addr = u64::from_str_radix(w.next()?, 16).ok()?;
            let kind = w.next()?;
            matches!(kind, "t" | "T").then_some((addr, w.next()?))
        })
        .collect();
    symbols.sort();
    let mut checked = 0;
    for e in events.iter().take(200) {
        let site = field(e, "call_site").as_u64().unwrap();
        let at = symbols.partition_point(|s| s.0 <= site);
        let (start, name) = symbols[at - 1];
        let offset = format!("+{:#x}", site - start);
        let trace = e["trace"].as_str().unwrap();
        let shown = trace.split("call_site=").nth(1).unwrap();
        let shown = shown.split_whitespace().next().unwrap();
        // Several names can share an address: the offset must agree, and
        // the name when it is the only one there.
        assert!(shown.contains(&offset), "{trace}: expected {name}{offset}");
        if symbols.iter().filter(|s| s.0 == start).count() == 1 {
            assert_eq!(shown, format!("{name}{offset}"), "{trace}");
        }
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn root_script_prints_what_perf_script_prints_on_perf_data() {
    if !have_root("root_script_prints_what_perf_script_prints_on_perf_data") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_vs_perf");
    let data = dir.join("perf.data");
    let workload = format!(
        "{} 200; for i in 1 2 3; do cat /etc/passwd >/dev/null; sleep 0.01; done",
        workload("pingpong").display()
    );
    let out = perf_record(&[
        "-e".as_ref(),
        "sched:sched_switch,sched:sched_wakeup,sched:sched_process_exec,raw_syscalls:sys_enter,raw_syscalls:sys_exit,kmem:kmalloc,kmem:kfree,timer:hrtimer_start,irq:softirq_entry,signal:signal_generate".as_ref(),
        "-a".as_ref(),
        "-o".as_ref(),
        data.as_os_str(),
        "--".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        workload.as_ref(),
    ]);
    ok(&out, "perf record");
    let fields = "comm,tid,cpu,time,event,trace";
    let perf = run(std::process::Command::new("perf")
        .args(["script", "-F", fields, "-i"])
        .arg(&data));
    ok(&perf, "perf script");
    let ours = run(strobe().args(["script", "-F", fields, "-i"]).arg(&data));
    ok(&ours, "strobe script");
    let normalize = |bytes: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect()
    };
    let (perf, ours) = (normalize(&perf.stdout), normalize(&ours.stdout));
    assert!(perf.len() > 1000, "perf printed {} events", perf.len());
    assert_eq!(perf.len(), ours.len(), "the same number of events");
    let differing: Vec<(usize, &String, &String)> = perf
        .iter()
        .zip(&ours)
        .enumerate()
        .filter(|(_, (p, o))| p != o)
        .map(|(i, (p, o))| (i, p, o))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} lines differ; first ones:\n{}",
        differing.len(),
        perf.len(),
        differing
            .iter()
            .take(5)
            .map(|(i, p, o)| format!("#{i}\nperf:   {p}\nstrobe: {o}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn root_list_shows_events_with_descriptions() {
    if !have_root("root_list_shows_events_with_descriptions") {
        return;
    }
    let out = run(strobe().args(["list"]));
    ok(&out, "strobe list");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "cpu-clock",
        "[Software event]",
        "cycles",
        "[Hardware event]",
        "sched:sched_switch",
        "[Tracepoint event]",
    ] {
        assert!(text.contains(needle), "strobe list shows {needle}");
    }
    let out = run(strobe().args(["list", "sched:sched_s*"]));
    ok(&out, "strobe list GLOB");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sched:sched_switch") && !text.contains("cpu-clock"),
        "{text}"
    );
    assert!(
        text.contains("prev_comm"),
        "a tracepoint's line names its fields: {text}"
    );
    let out = run(strobe().args(["list", "--json", "sys_enter_(getppid|getpid)$"]));
    ok(&out, "strobe list REGEX --json");
    let items: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["syscalls:sys_enter_getpid", "syscalls:sys_enter_getppid"]
    );
    assert_eq!(items[0]["type"], 2);
    let out = run(strobe().args(["list", "cache", "--json"]));
    ok(&out, "strobe list cache");
    let items: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items.len(), 32);
    let misses = items
        .iter()
        .find(|i| i["name"] == "L1-dcache-load-misses")
        .unwrap();
    assert_eq!(
        (misses["type"].as_u64(), misses["config"].as_u64()),
        (Some(3), Some(0x10000))
    );
    let out = run(strobe().args(["list", "sw"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("page-faults") && !text.contains("Tracepoint"),
        "{text}"
    );
}

#[test]
fn root_trace_live_prints_events_as_they_happen() {
    if !have_root("root_trace_live_prints_events_as_they_happen") {
        return;
    }
    let _serial = serial();
    let before = global_state();
    let out = run(strobe().args([
        "trace",
        "--live",
        "-e",
        "sched:sched_process_exec",
        "--",
        "sh",
        "-c",
        "ls / >/dev/null; true",
    ]));
    ok(&out, "strobe trace --live");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("filename=/usr/bin/ls") || l.contains("filename=/bin/ls"))
        .unwrap_or_else(|| panic!("the exec of ls is printed: {text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "ls", "{line}");
    assert_eq!(words[4], "sched:sched_process_exec:", "{line}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[ strobe trace:") && stderr.contains("events"),
        "{stderr}"
    );
    assert_eq!(global_state(), before);
}

#[test]
fn root_trace_subbuf_size_takes_effect_or_fails_in_one_line() {
    if !have_root("root_trace_subbuf_size_takes_effect_or_fails_in_one_line") {
        return;
    }
    let _serial = serial();
    let dir = scratch("tp_subbuf");
    let data = dir.join("sub.data");
    let getppid = workload("getppid");
    let out = run(strobe()
        .args([
            "trace",
            "--subbuf-size",
            "8K",
            "-e",
            "raw_syscalls:sys_enter",
        ])
        .args(["--filter", "id == 110", "-o"])
        .arg(&data)
        .arg("--")
        .arg(&getppid)
        .arg("3000"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let instances = std::fs::read_dir("/sys/kernel/tracing/instances")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("strobe-"))
        .count();
    assert_eq!(instances, 0, "no instance is left");
    if out.status.success() {
        // The kernel took the size: the file says so and holds every call.
        let info =
            String::from_utf8_lossy(&run(strobe().arg("info").arg(&data)).stdout).to_string();
        assert!(info.contains("8 KiB sub-buffers"), "{info}");
        let calls = script_json(&data)
            .iter()
            .filter(|e| e["comm"] == "getppid")
            .count();
        assert_eq!(calls, 3000);
    } else {
        // This host's kernel refuses (EPERM, even for the size it has):
        // one line that says so and what to do; nothing written.
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("refused a sub-buffer size of 8 KiB")
                && stderr.contains("leave --subbuf-size out"),
            "{stderr}"
        );
        assert!(!data.exists(), "no file is written");
    }
    // A size that is not one is refused before tracefs is touched.
    let out = run(strobe().args([
        "trace",
        "--subbuf-size",
        "lots",
        "-e",
        "sched:sched_switch",
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--subbuf-size lots"));
}
