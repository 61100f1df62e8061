//! `strobe script -s`: perf's stock Python scripts against `perf script -s`
//! on the same perf.data, the same scripts on strobe's own recordings,
//! perf's calling rules, errors, and the scripts shipped with strobe.
//! Needs root and perf; under CI=true it never skips.

mod common;

use common::{have_root, perf_record, run, scratch, serial, strobe, workload};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PERF_SCRIPTS: &str = "/usr/lib/perf-core/scripts/python";

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `strobe script -s SCRIPT -i DATA ARGS`, which must succeed.
fn strobe_script(data: &Path, script: &str, args: &[&str]) -> String {
    let out = run(strobe()
        .args(["script", "-i"])
        .arg(data)
        .args(["-s", script])
        .args(args));
    assert!(
        out.status.success(),
        "strobe script -s {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(&out)
}

fn perf_script(data: &Path, script: &str) -> String {
    let out = run(Command::new("perf")
        .args(["script", "-i"])
        .arg(data)
        .args(["-s", script]));
    assert!(
        out.status.success(),
        "perf script -s {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(&out)
}

/// A workload built without debug information, so that neither tool
/// shows inlined frames.
fn build_plain(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/workloads")
        .join(format!("{name}.c"));
    let status = Command::new("cc")
        .args(["-O2", "-fno-omit-frame-pointer", "-no-pie", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc runs");
    assert!(status.success());
    out
}

fn perf_record_ok(args: &[&OsStr]) {
    let out = perf_record(args);
    assert!(
        out.status.success(),
        "perf record: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strobe_record_ok(args: &[&OsStr]) {
    let out = run(strobe().arg("record").arg("-q").args(args));
    assert!(
        out.status.success(),
        "strobe record: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn root_perf_stock_scripts_print_what_perf_script_prints() {
    if !have_root("perf_stock_scripts_print_what_perf_script_prints") {
        return;
    }
    let _serial = serial();
    let dir = scratch("python_stock_scripts");
    let cpu_bound = build_plain(&dir, "cpu_bound");
    let sh = OsStr::new;

    // syscall-counts.py on system calls of a shell pipeline.
    let syscalls = dir.join("syscalls.data");
    perf_record_ok(&[
        sh("-q"),
        sh("-e"),
        sh("raw_syscalls:sys_enter"),
        sh("-o"),
        syscalls.as_os_str(),
        sh("--"),
        sh("sh"),
        sh("-c"),
        sh("ls / > /dev/null; cat /etc/hostname > /dev/null; sleep 0.05"),
    ]);
    let script = format!("{PERF_SCRIPTS}/syscall-counts.py");
    let perf = perf_script(&syscalls, &script);
    let ours = strobe_script(&syscalls, &script, &[]);
    assert!(perf.lines().count() > 10, "{perf}");
    assert_eq!(ours, perf, "syscall-counts.py");

    // stackcollapse.py on call chains, user and kernel.
    let stacks = dir.join("stacks.data");
    perf_record_ok(&[
        sh("-q"),
        sh("-g"),
        sh("-o"),
        stacks.as_os_str(),
        sh("--"),
        cpu_bound.as_os_str(),
        sh("1"),
    ]);
    let script = format!("{PERF_SCRIPTS}/stackcollapse.py");
    let perf = perf_script(&stacks, &script);
    let ours = strobe_script(&stacks, &script, &[]);
    assert!(
        perf.contains("cpu_bound;") && perf.contains(";main;run_workload;caller_a;hot_a "),
        "{perf}"
    );
    assert_eq!(ours, perf, "stackcollapse.py");
    // With its options too.
    let perf_pid = text(&run(Command::new("perf")
        .args(["script", "-i"])
        .arg(&stacks)
        .args(["-s", &script, "--", "--include-pid", "--kernel"])));
    let ours_pid = strobe_script(&stacks, &script, &["--include-pid", "--kernel"]);
    assert!(!perf_pid.is_empty());
    assert_eq!(
        ours_pid, perf_pid,
        "stackcollapse.py --include-pid --kernel"
    );
}

#[test]
fn root_stock_scripts_count_the_same_on_strobe_and_perf_recordings() {
    if !have_root("stock_scripts_count_the_same_on_strobe_and_perf_recordings") {
        return;
    }
    let _serial = serial();
    let dir = scratch("python_same_counts");
    let getppid = build_plain(&dir, "getppid");
    let touch_pages = build_plain(&dir, "touch_pages");
    let sh = OsStr::new;
    let (calls, pages) = ("3000", "2000");
    // Every getppid call; and every page fault, with its call chain: the
    // same events for both tools, whatever else the machine does.
    let mut outputs = Vec::new();
    for tool in ["perf", "strobe"] {
        let syscalls = dir.join(format!("{tool}-syscalls.data"));
        let faults = dir.join(format!("{tool}-faults.data"));
        let syscall_args = [
            sh("-e"),
            sh("raw_syscalls:sys_enter"),
            sh("--filter"),
            sh("id == 110"),
            sh("-o"),
            syscalls.as_os_str(),
            sh("--"),
            getppid.as_os_str(),
            sh(calls),
        ];
        let fault_args = [
            sh("-g"),
            sh("-e"),
            sh("page-faults"),
            sh("-c"),
            sh("1"),
            sh("-o"),
            faults.as_os_str(),
            sh("--"),
            touch_pages.as_os_str(),
            sh(pages),
        ];
        for args in [&syscall_args[..], &fault_args[..]] {
            if tool == "perf" {
                perf_record_ok(&[&[sh("-q")], args].concat());
            } else {
                strobe_record_ok(args);
            }
        }
        // The script's own comm argument counts the program's calls only:
        // a perf recording can hold a call from the process perf forks
        // before it runs the program.
        outputs.push((
            strobe_script(
                &syscalls,
                &format!("{PERF_SCRIPTS}/syscall-counts.py"),
                &["getppid"],
            ),
            strobe_script(&faults, &format!("{PERF_SCRIPTS}/stackcollapse.py"), &[]),
        ));
    }
    let (perf_counts, perf_stacks) = &outputs[0];
    let (our_counts, our_stacks) = &outputs[1];
    assert!(
        perf_counts
            .lines()
            .any(|l| l.split_whitespace().last() == Some(calls)),
        "{perf_counts}"
    );
    assert_eq!(our_counts, perf_counts);
    // The program's own loop faults once per page; the dynamic loader's
    // start-up faults vary with the environment, so only the loop's stack
    // is compared.
    let loop_line = |text: &str| -> String {
        text.lines()
            .find(|l| l.starts_with("touch_pages;") && l.contains(";main "))
            .unwrap_or_else(|| panic!("no stack through main:\n{text}"))
            .to_string()
    };
    assert_eq!(
        loop_line(perf_stacks),
        format!("touch_pages;__libc_start_call_main;main {pages}")
    );
    assert_eq!(loop_line(our_stacks), loop_line(perf_stacks));
}

/// Writes a script into `dir` and runs it over `data`.
fn run_inline(dir: &Path, data: &Path, name: &str, source: &str, env: &[(&str, &str)]) -> Output {
    let script = dir.join(name);
    std::fs::write(&script, source).unwrap();
    let mut cmd = strobe();
    cmd.args(["script", "-i"]).arg(data).arg("-s").arg(&script);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[test]
fn root_perf_calling_rules() {
    if !have_root("perf_calling_rules") {
        return;
    }
    let _serial = serial();
    let dir = scratch("python_rules");
    let sh = OsStr::new;
    // Two threads of one process make getppid calls, and a sched_switch or
    // two happen: every rule has events to show itself on.
    let data = dir.join("rules.data");
    strobe_record_ok(&[
        sh("-e"),
        sh("raw_syscalls:sys_enter"),
        sh("--filter"),
        sh("id == 110"),
        sh("-e"),
        sh("sched:sched_switch"),
        sh("-o"),
        data.as_os_str(),
        sh("--"),
        sh("/usr/bin/python3"),
        sh("-c"),
        sh("import os, threading, time\n\
            t = threading.Thread(target=lambda: [os.getppid() for _ in range(50)])\n\
            t.start(); [os.getppid() for _ in range(50)]; t.join(); time.sleep(0.01)"),
    ]);
    let out = run_inline(
        &dir,
        &data,
        "rules.py",
        r#"
seen = {"with": 0, "without": 0, "tid": 0, "other_tid": 0, "bytes": 0, "str": 0, "unhandled": 0}
def raw_syscalls__sys_enter(event_name, context, common_cpu, common_secs, common_nsecs,
        common_pid, common_comm, common_callchain, id, args, perf_sample_dict):
    seen["with"] += 1
    sample = perf_sample_dict["sample"]
    # common_pid is the thread id, not the process id.
    assert common_pid == sample["tid"], (common_pid, sample)
    if sample["tid"] != sample["pid"]:
        seen["other_tid"] += 1
    # A numeric array is a bytearray; a printable char array is a str.
    assert type(args) is bytearray and len(args) == 48, repr(args)
    seen["bytes"] += 1
    assert id == 110
def sched__sched_switch(event_name, context, common_cpu, common_secs, common_nsecs,
        common_pid, common_comm, common_callchain, prev_comm, prev_pid, prev_prio,
        prev_state, next_comm, next_pid, next_prio):
    # One argument short of perf_sample_dict: none is passed.
    seen["without"] += 1
    assert type(prev_comm) is str and type(next_comm) is str
    seen["str"] += 1
def trace_end():
    print(sorted(seen.items()))
    assert seen["with"] == 100 and seen["other_tid"] == 50, seen
    assert seen["without"] > 0 and seen["str"] == seen["without"], seen
    print("rules hold")
"#,
        &[],
    );
    assert!(
        out.status.success() && text(&out).contains("rules hold"),
        "{}\n{}",
        text(&out),
        String::from_utf8_lossy(&out.stderr)
    );

    // trace_unhandled gets perf_sample_dict only with a fourth argument,
    // and its dictionary holds the common values and the fields.
    for (args, expect_dict) in [
        ("event_name, context, fields", false),
        ("event_name, context, fields, perf_sample_dict", true),
    ] {
        let source = format!(
            "n = 0\ndef trace_unhandled({args}):\n    global n\n    n += 1\n    assert {}\n    assert fields['common_pid'] > 0 and 'common_s' in fields and 'common_comm' in fields\ndef trace_end():\n    print('unhandled', n)\n",
            if expect_dict { "'sample' in perf_sample_dict" } else { "True" },
        );
        let out = run_inline(&dir, &data, "unhandled.py", &source, &[]);
        let stdout = text(&out);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n: u64 = stdout.trim().rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n > 100, "{stdout}");
    }
}

#[test]
fn root_script_errors_show_the_traceback_and_fail() {
    if !have_root("script_errors_show_the_traceback_and_fail") {
        return;
    }
    let _serial = serial();
    let dir = scratch("python_errors");
    let data = dir.join("errors.data");
    let getppid = workload("getppid");
    strobe_record_ok(&[
        OsStr::new("-e"),
        OsStr::new("raw_syscalls:sys_enter"),
        OsStr::new("-o"),
        data.as_os_str(),
        OsStr::new("--"),
        getppid.as_os_str(),
        OsStr::new("10"),
    ]);
    let raising = "def helper(x):\n    raise ValueError('bad id %d' % x)\n\ndef raw_syscalls__sys_enter(event_name, context, cpu, s, ns, pid, comm, chain, id, args):\n    helper(id)\n";
    let out = run_inline(&dir, &data, "raising.py", raising, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Traceback (most recent call last):")
            && stderr.contains("raising.py\", line 5, in raw_syscalls__sys_enter")
            && stderr.contains("line 2, in helper")
            && stderr.contains("ValueError: bad id"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = run_inline(&dir, &data, "syntax.py", "def broken(:\n    pass\n", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("syntax.py\", line 1") && stderr.contains("SyntaxError"),
        "{stderr}"
    );

    // sys.exit passes its status through, and prints a usage text.
    let out = run_inline(
        &dir,
        &data,
        "exits.py",
        "import sys\nsys.exit('usage: exits.py N')\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: exits.py N"));
    let out = run_inline(&dir, &data, "exit3.py", "import sys\nsys.exit(3)\n", &[]);
    assert_eq!(out.status.code(), Some(3));

    // A missing script is one clear line.
    let out = run(strobe()
        .args(["script", "-i"])
        .arg(&data)
        .args(["-s", "no-such-script"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("strobe script -l"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1);
}

#[test]
fn root_strobes_own_helpers_and_api() {
    if !have_root("strobes_own_helpers_and_api") {
        return;
    }
    let _serial = serial();
    let dir = scratch("python_api");
    let data = dir.join("api.data");
    let pingpong = workload("pingpong");
    strobe_record_ok(&[
        OsStr::new("-e"),
        OsStr::new("sched:sched_switch"),
        OsStr::new("-e"),
        OsStr::new("kmem:kmalloc"),
        OsStr::new("-o"),
        data.as_os_str(),
        OsStr::new("--"),
        pingpong.as_os_str(),
        OsStr::new("100"),
    ]);
    // perf's helper modules, strobe's own implementation: flag_str and
    // symbol_str from the define_* calls made for the print formats.
    let helpers = r#"
import os, sys
sys.path.append(os.environ['PERF_EXEC_PATH'] + '/scripts/python/Perf-Trace-Util/lib/Perf/Trace')
from perf_trace_context import *
from Core import *
import Core
states = set()
def sched__sched_switch(event_name, context, cpu, s, ns, pid, comm, chain,
        prev_comm, prev_pid, prev_prio, prev_state, next_comm, next_pid, next_prio):
    states.add(flag_str(event_name, "prev_state", prev_state))
    assert common_pc(context) >= 0 and common_flags(context) >= 0 and common_lock_depth(context) == 0
def trace_end():
    print("helpers from", Core.__file__)
    print("states", sorted(states))
"#;
    let out = run_inline(
        &dir,
        &data,
        "helpers.py",
        helpers,
        &[("STROBE_OWN_HELPERS", "1")],
    );
    let stdout = text(&out);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("helpers from <strobe>/Core.py"), "{stdout}");
    assert!(
        stdout.contains("'S'"),
        "pingpong sleeps in pipe reads: {stdout}"
    );

    // strobe's API: a handler per event, attributes, lazy fields, names.
    let api = r#"
import strobe
counts = {}
@strobe.on("sched:sched_switch")
def switch(e):
    assert e.name == "sched:sched_switch" and e.tid == e.prev_pid
    assert isinstance(e.prev_comm, str) and e.named("prev_state") in ("S", "D", "I", None)
    counts["switch"] = counts.get("switch", 0) + 1
@strobe.on("kmem:*")
def alloc(e):
    assert e.bytes_alloc >= e.bytes_req and e.named("gfp_flags")
    assert "call_site" in e.fields()
    counts["kmem"] = counts.get("kmem", 0) + 1
    try:
        e.no_such_field
        raise SystemExit("no AttributeError")
    except AttributeError as err:
        assert "its fields: call_site" in str(err), err
def trace_end():
    print(sorted(counts.items()))
"#;
    let out = run_inline(&dir, &data, "api.py", api, &[]);
    let stdout = text(&out);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("('switch', ") && stdout.contains("('kmem', "),
        "{stdout}"
    );

    // -g python writes a skeleton that runs.
    let out = run(strobe()
        .current_dir(&dir)
        .args(["script", "-g", "python", "-i"])
        .arg(&data));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let skeleton = std::fs::read_to_string(dir.join("strobe-script.py")).unwrap();
    assert!(skeleton.contains("def sched__sched_switch(event_name, context, common_cpu,"));
    let out = run(strobe()
        .current_dir(&dir)
        .args(["script", "-s", "strobe-script.py", "-i"])
        .arg(&data));
    let stdout = text(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("in trace_begin")
            && stdout.contains("prev_comm=")
            && stdout.contains("in trace_end")
    );
}

#[test]
fn root_shipped_scripts_on_known_workloads() {
    if !have_root("shipped_scripts_on_known_workloads") {
        return;
    }
    let _serial = serial();
    let dir = scratch("python_shipped");
    let sh = OsStr::new;
    let getppid = build_plain(&dir, "getppid");

    let list = text(&run(strobe().args(["script", "-l"])));
    for name in [
        "folded-stacks",
        "offcpu",
        "syscall-latency",
        "syscall-summary",
        "top-functions",
    ] {
        assert!(list.contains(name), "{list}");
    }

    // syscall-summary: exactly the calls the program made.
    let data = dir.join("summary.data");
    strobe_record_ok(&[
        sh("-e"),
        sh("syscalls:sys_enter_getppid"),
        sh("-o"),
        data.as_os_str(),
        sh("--"),
        getppid.as_os_str(),
        sh("2500"),
    ]);
    let out = strobe_script(&data, "syscall-summary", &[]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("getppid ") && l.ends_with(" 2500")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["getppid", "2500"]),
        "{out}"
    );

    // syscall-latency: every getppid call paired with its return.
    let data = dir.join("latency.data");
    strobe_record_ok(&[
        sh("-e"),
        sh("raw_syscalls:sys_enter"),
        sh("--filter"),
        sh("id == 110"),
        sh("-e"),
        sh("raw_syscalls:sys_exit"),
        sh("--filter"),
        sh("id == 110"),
        sh("-o"),
        data.as_os_str(),
        sh("--"),
        getppid.as_os_str(),
        sh("2000"),
    ]);
    let out = strobe_script(&data, "syscall-latency", &[]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["total", "2000"]),
        "{out}"
    );
    let bucket_sum: u64 = out
        .lines()
        .filter(|l| l.contains("->"))
        .map(|l| l.split_whitespace().nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(bucket_sum, 2000, "{out}");

    // top-functions and folded-stacks on the 70/30 workload.
    let cpu_bound = build_plain(&dir, "cpu_bound");
    let data = dir.join("cpu.data");
    strobe_record_ok(&[
        sh("-g"),
        sh("-o"),
        data.as_os_str(),
        sh("--"),
        cpu_bound.as_os_str(),
        sh("1"),
    ]);
    let out = strobe_script(&data, "top-functions", &["3"]);
    let share = |name: &str| -> f64 {
        out.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .and_then(|l| l.trim().split('%').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    assert!(
        (share("hot_a") - 70.0).abs() < 5.0 && (share("hot_b") - 30.0).abs() < 5.0,
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "a header and 3 rows: {out}");
    let folded = strobe_script(&data, "folded-stacks", &[]);
    // The same stacks as perf's stackcollapse.py on the same recording.
    let collapsed = strobe_script(&data, &format!("{PERF_SCRIPTS}/stackcollapse.py"), &[]);
    assert_eq!(folded, collapsed);
    assert!(
        folded.contains("cpu_bound;__libc_start_call_main;main;run_workload;caller_a;hot_a "),
        "{folded}"
    );

    // offcpu: a ping-pong blocks in pipe reads; each wait is attributed.
    // System-wide, as the script says to record: a thread is often switched
    // back in from the idle task, whose switches only -a records.
    let pingpong = workload("pingpong");
    let data = dir.join("offcpu.data");
    strobe_record_ok(&[
        sh("-a"),
        sh("-g"),
        sh("-e"),
        sh("sched:sched_switch"),
        sh("-o"),
        data.as_os_str(),
        sh("--"),
        pingpong.as_os_str(),
        sh("300"),
    ]);
    let out = strobe_script(&data, "offcpu", &[]);
    let read_waits: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("pingpong;") && l.contains("_read;") && l.contains("schedule"))
        .collect();
    assert!(!read_waits.is_empty(), "{out}");
    let total: u64 = read_waits
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(total > 0, "{out}");
}
