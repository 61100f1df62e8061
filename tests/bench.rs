//! End-to-end tests of `strobe bench`: every benchmark prints perf's layout
//! in both formats, measures what `perf bench` measures (its value within a
//! factor of 2 of perf's, run the same way, on the same machine, at the
//! same time), and bad input gets a one-line error and exit status 1.
//!
//! The comparisons need `perf` (Debian's perf 6.1, `linux-perf`). They do
//! not need root. Under CI=true a missing perf is a failure, not a skip.
//! Loop counts are cut down so the whole file runs in well under a minute;
//! where perf has no such option (futex wake's rounds are perf bench's
//! global `-r`), perf gets the same work its own way.

mod common;

use common::{run, scratch, serial, strobe};
use regex::Regex;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Runs per tool for a comparison; the medians are compared.
const RUNS: usize = 5;

/// `strobe bench ARGS`, which must succeed.
fn strobe_bench(args: &[&str]) -> String {
    let out = run(strobe().arg("bench").args(args));
    assert!(
        out.status.success(),
        "strobe bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `perf bench ARGS`, which must succeed.
fn perf_bench(args: &[&str]) -> String {
    let out = run(Command::new("perf").arg("bench").args(args));
    assert!(
        out.status.success(),
        "perf bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Whether perf is installed. Under CI=true it must be.
fn have_perf(test: &str) -> bool {
    let found = Command::new("perf")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test} needs perf (apt install linux-perf), and CI=true forbids skipping"
        );
        eprintln!("skipping {test}: perf is not installed");
    }
    found
}

/// The text with its numbers, addresses and their padding made uniform,
/// so that two runs of a benchmark, or strobe's and perf's output, compare
/// equal exactly when their layout is the same.
fn shape(text: &str) -> String {
    static PATTERNS: OnceLock<(Regex, Regex)> = OnceLock::new();
    let (address, number) = PATTERNS.get_or_init(|| {
        (
            Regex::new(r"0x[0-9a-f]+").unwrap(),
            Regex::new(r" *\b[0-9]+(\.[0-9]+)?\b").unwrap(),
        )
    });
    let text = address.replace_all(text, "ADDR");
    number.replace_all(&text, " N").into_owned()
}

/// The lines where perf right-aligns a number in 14 columns (`%14lf`,
/// `%14d`, `%14s`) keep their width whatever the number.
fn assert_columns(text: &str) {
    for line in text.lines() {
        for suffix in [" usecs/op", " ops/sec", " GB/sec", " MB/sec", " [sec]"] {
            if line.ends_with(suffix) && !line.contains("operations/sec") {
                let width = if suffix == " [sec]" {
                    // ` %14s: X.XXX [sec]`
                    line.find(": ").expect("a label") + 2
                } else {
                    line.len() - suffix.len()
                };
                let expected = if suffix == " [sec]" { 17 } else { 15 };
                assert_eq!(width, expected, "misaligned line {line:?} in\n{text}");
            }
        }
    }
}

/// The first number on the first line that matches `pattern`'s capture 1.
fn value(text: &str, pattern: &str) -> f64 {
    let re = Regex::new(pattern).unwrap();
    let caps = re
        .captures(text)
        .unwrap_or_else(|| panic!("no {pattern:?} in\n{text}"));
    caps[1]
        .parse()
        .unwrap_or_else(|_| panic!("{:?} is not a number", &caps[1]))
}

/// A rate line of perf's `print_bps`, in bytes per second.
fn rate(text: &str) -> f64 {
    let re = Regex::new(r"(?m)^ +([0-9.]+) (bytes|KB|MB|GB)/sec$").unwrap();
    let caps = re
        .captures(text)
        .unwrap_or_else(|| panic!("no rate in\n{text}"));
    let scale = match &caps[2] {
        "bytes" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        _ => 1024.0 * 1024.0 * 1024.0,
    };
    caps[1].parse::<f64>().unwrap() * scale
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One benchmark run the same way by both tools.
struct Case<'a> {
    /// `strobe bench` arguments.
    strobe: &'a [&'a str],
    /// `perf bench` arguments for the same work.
    perf: &'a [&'a str],
    /// The number a run yields.
    value: fn(&str) -> f64,
}

/// Runs the case `RUNS` times with each tool, interleaved so both see the
/// same machine; checks that strobe's output has perf's layout, and that
/// the medians are within a factor of 2. A busy machine (other builds on a
/// small CI runner) can push one set of runs past that, so a comparison
/// that misses gets one fresh attempt; a real difference misses both.
/// Returns strobe's first output.
fn compare_with_perf(case: &Case) -> String {
    let mut first = None;
    let mut attempts = Vec::new();
    for _ in 0..2 {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..RUNS {
            let strobe_text = strobe_bench(case.strobe);
            let perf_text = perf_bench(case.perf);
            assert_eq!(
                shape(&strobe_text),
                shape(&perf_text),
                "strobe bench {:?} does not have the layout of perf bench {:?}",
                case.strobe,
                case.perf
            );
            assert_columns(&strobe_text);
            ours.push((case.value)(&strobe_text));
            theirs.push((case.value)(&perf_text));
            first.get_or_insert(strobe_text);
        }
        let (ours_median, theirs_median) = (median(ours.clone()), median(theirs.clone()));
        let ratio = ours_median / theirs_median;
        eprintln!(
            "strobe bench {:?}: median {ours_median}, perf {theirs_median}, ratio {ratio:.2}",
            case.strobe
        );
        if (0.5..=2.0).contains(&ratio) {
            return first.unwrap_or_default();
        }
        attempts.push(format!(
            "median {ours_median} vs perf's {theirs_median} (strobe {ours:?}, perf {theirs:?})"
        ));
    }
    panic!(
        "strobe bench {:?} is not within a factor of 2 of perf bench {:?}: {}",
        case.strobe,
        case.perf,
        attempts.join("; then ")
    );
}

/// Checks `-f simple`: the same lines as perf's simple output (where perf
/// has one), ending in a bare number. Returns that number.
fn check_simple(strobe_args: &[&str], perf_args: Option<&[&str]>) -> f64 {
    let mut args = vec!["-f", "simple"];
    args.extend_from_slice(strobe_args);
    let ours = strobe_bench(&args);
    if let Some(perf_args) = perf_args {
        let mut args = vec!["-f", "simple"];
        args.extend_from_slice(perf_args);
        assert_eq!(shape(&ours), shape(&perf_bench(&args)), "{ours}");
    }
    let last = ours.lines().last().unwrap_or_default();
    assert!(
        ours.ends_with('\n') && !last.starts_with(' '),
        "not a bare number: {ours:?}"
    );
    last.parse()
        .unwrap_or_else(|_| panic!("the simple format is not a number: {ours:?}"))
}

const USECS_PER_OP: &str = r"(?m)^ +([0-9.]+) usecs/op$";
const TOTAL_TIME: &str = r"(?m)^ +Total time: ([0-9.]+) \[sec\]$";

#[test]
fn sched_pipe_matches_perf() {
    if !have_perf("sched_pipe_matches_perf") {
        return;
    }
    let _serial = serial();
    for threads in [false, true] {
        let mut args = vec!["sched", "pipe", "-l", "20000"];
        if threads {
            args.push("-T");
        }
        let text = compare_with_perf(&Case {
            strobe: &args,
            perf: &args,
            value: |t| value(t, USECS_PER_OP),
        });
        let kind = if threads { "threads" } else { "processes" };
        assert!(text.starts_with(&format!(
            "# Running 'sched/pipe' benchmark:\n# Executed 20000 pipe operations between two {kind}\n\n"
        )));
        let seconds = check_simple(&args, Some(&args));
        assert!(seconds < 60.0);
    }
}

#[test]
fn sched_messaging_matches_perf() {
    if !have_perf("sched_messaging_matches_perf") {
        return;
    }
    let _serial = serial();
    for variant in [&[][..], &["-t", "-p"]] {
        let mut args = vec!["sched", "messaging", "-g", "4", "-l", "50"];
        args.extend_from_slice(variant);
        let text = compare_with_perf(&Case {
            strobe: &args,
            perf: &args,
            value: |t| value(t, TOTAL_TIME),
        });
        let kind = if variant.is_empty() {
            "processes"
        } else {
            "threads"
        };
        assert!(
            text.contains(&format!("# 4 groups == 160 {kind} run\n")),
            "{text}"
        );
        check_simple(&args, Some(&args));
    }
}

#[test]
fn syscall_basic_matches_perf() {
    if !have_perf("syscall_basic_matches_perf") {
        return;
    }
    let _serial = serial();
    let args = ["syscall", "basic", "-l", "300000"];
    let text = compare_with_perf(&Case {
        strobe: &args,
        perf: &args,
        value: |t| value(t, USECS_PER_OP),
    });
    assert!(
        text.contains("# Executed 300000 getppid() calls\n"),
        "{text}"
    );
    check_simple(&args, Some(&args));
}

#[test]
fn mem_memcpy_matches_perf() {
    if !have_perf("mem_memcpy_matches_perf") {
        return;
    }
    let _serial = serial();
    // perf runs its x86-64 assembly copies too unless told `-f default`;
    // strobe has only the C library's.
    let text = compare_with_perf(&Case {
        strobe: &["mem", "memcpy", "-s", "1MB", "-l", "50"],
        perf: &["mem", "memcpy", "-s", "1MB", "-l", "50", "-f", "default"],
        value: rate,
    });
    assert!(text.contains("# function 'default' (Default memcpy() provided by glibc)\n"));
    assert!(text.contains("# Copying 1MB bytes ...\n"));
    let bytes_per_sec = check_simple(
        &["mem", "memcpy", "-s", "1MB", "-l", "50"],
        Some(&["mem", "memcpy", "-s", "1MB", "-l", "50", "-f", "default"]),
    );
    assert!(bytes_per_sec > 1e8, "{bytes_per_sec}");
}

#[test]
fn mem_memset_matches_perf() {
    if !have_perf("mem_memset_matches_perf") {
        return;
    }
    let _serial = serial();
    compare_with_perf(&Case {
        strobe: &["mem", "memset", "-s", "1MB", "-l", "50"],
        perf: &["mem", "memset", "-s", "1MB", "-l", "50", "-f", "default"],
        value: rate,
    });
    check_simple(
        &["mem", "memset", "-s", "1MB", "-l", "50"],
        Some(&["mem", "memset", "-s", "1MB", "-l", "50", "-f", "default"]),
    );
}

#[test]
fn mem_tiny_sizes_print_a_rate_not_inf() {
    let _serial = serial();
    // perf prints `inf GB/sec` here: a 1KB copy takes less than its
    // microsecond clock can see.
    let text = strobe_bench(&["mem", "memcpy", "-s", "1KB"]);
    assert!(!text.contains("inf"), "{text}");
    assert!(rate(&text) > 0.0, "{text}");
    assert!(text.contains("loop more with -l"), "{text}");
}

#[test]
fn futex_hash_matches_perf() {
    if !have_perf("futex_hash_matches_perf") {
        return;
    }
    let _serial = serial();
    let args = ["futex", "hash", "-r", "1"];
    let text = compare_with_perf(&Case {
        strobe: &args,
        perf: &args,
        value: |t| value(t, r"(?m)^Averaged ([0-9]+) operations/sec"),
    });
    assert!(text.contains("futexes for 1 secs.\n"), "{text}");
    // perf prints the same text in both formats; strobe's simple format is
    // the averaged rate alone.
    let ops = check_simple(&["futex", "hash", "-r", "1", "-s"], None);
    assert!(ops > 1000.0, "{ops}");
}

#[test]
fn futex_wake_matches_perf() {
    if !have_perf("futex_wake_matches_perf") {
        return;
    }
    let _serial = serial();
    // perf repeats the wake-ups `perf bench -r N` times (10 by default);
    // strobe takes the same count as futex wake's own `-r`.
    let text = compare_with_perf(&Case {
        strobe: &["futex", "wake", "-r", "5"],
        perf: &["-r", "5", "futex", "wake"],
        value: |t| {
            value(
                t,
                r"(?m)^Wokeup [0-9]+ of [0-9]+ threads in ([0-9.]+) ms \(\+-",
            )
        },
    });
    assert_eq!(text.matches("[Run ").count(), 5, "{text}");
    let ms = check_simple(&["futex", "wake", "-r", "2"], None);
    assert!(ms > 0.0 && ms < 1000.0, "{ms}");
}

#[test]
fn all_runs_every_benchmark_in_perf_order() {
    let _serial = serial();
    let text = strobe_bench(&["all", "-l", "10", "-r", "1"]);
    let announced: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# Running "))
        .collect();
    assert_eq!(
        announced,
        [
            "sched/messaging benchmark...",
            "sched/pipe benchmark...",
            "syscall/basic benchmark...",
            "mem/memcpy benchmark...",
            "mem/memset benchmark...",
            "futex/hash benchmark...",
            "futex/wake benchmark...",
        ],
        "{text}"
    );
    // perf leaves a blank line after each benchmark.
    assert!(
        text.contains("ops/sec\n\n# Running syscall/basic benchmark...\n"),
        "{text}"
    );
    assert!(text.ends_with(" ms (+-0.00%)\n\n"), "{text}");

    let suite = strobe_bench(&["-f", "simple", "sched", "all", "-l", "10"]);
    let lines: Vec<&str> = suite.lines().collect();
    assert_eq!(lines.len(), 6, "{suite}");
    assert_eq!(lines[0], "# Running sched/messaging benchmark...");
    assert!(lines[1].parse::<f64>().is_ok(), "{suite}");
    assert_eq!(lines[3], "# Running sched/pipe benchmark...");
}

#[test]
fn repeat_runs_and_keeps_every_sample() {
    let _serial = serial();
    let text = strobe_bench(&[
        "--repeat", "3", "-f", "simple", "syscall", "basic", "-l", "1000",
    ]);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.parse::<f64>().is_ok()), "{text}");

    let dir = scratch("bench_repeat_json");
    let path = dir.join("results.json");
    let path_text = path.to_str().unwrap();
    strobe_bench(&[
        "--repeat", "3", "--json", "-o", path_text, "sched", "pipe", "-l", "1000",
    ]);
    let results = strobe_analyze::results::ResultsFile::parse(&std::fs::read(&path).unwrap())
        .expect("a results file");
    assert_eq!(results.kind, "bench");
    assert_eq!(results.results.len(), 1);
    let series = &results.results[0];
    assert_eq!(
        (series.name.as_str(), series.metric.as_str()),
        ("sched/pipe", "usecs/op")
    );
    assert_eq!(series.better, strobe_analyze::results::Better::Lower);
    assert_eq!(series.samples.len(), 3);
    assert!(series.samples.iter().all(|&s| s > 0.0));
}

/// `strobe bench ARGS`, which must fail with status 1 and one line on
/// standard error containing `message`, having printed nothing else.
fn assert_fails(args: &[&str], message: &str) {
    let out: Output = run(strobe().arg("bench").args(args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "strobe bench {args:?}: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "strobe bench {args:?} printed {:?}",
        out.stdout
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.contains(message), "strobe bench {args:?}: {stderr}");
}

#[test]
fn bad_input_is_one_clear_line() {
    assert_fails(
        &["schedd", "pipe"],
        "unknown benchmark suite `schedd`; did you mean `sched`? \
         The suites are sched, syscall, mem, futex and all",
    );
    assert_fails(
        &["sched", "pipes"],
        "unknown benchmark `pipes` in suite `sched`; did you mean `pipe`? \
         sched has messaging, pipe and all",
    );
    assert_fails(
        &["futex", "requeue"],
        "`perf bench futex requeue` is not implemented in strobe; futex has hash, wake and all",
    );
    assert_fails(
        &["sched", "pipe", "-x"],
        "sched/pipe: unknown option `-x`; it takes -l/--loop n, -T/--threaded",
    );
    assert_fails(
        &["sched", "pipe", "-l", "lots"],
        "sched/pipe: `--loop lots`: expected a whole number such as 1000",
    );
    assert_fails(
        &["mem", "memcpy", "-s", "1XB"],
        "mem/memcpy: `-s 1XB` is not a size; give a whole number and a unit of \
         B, KB, MB, GB or TB, like 1MB",
    );
    assert_fails(
        &["mem", "memcpy", "-f", "x86-64-movsb"],
        "mem/memcpy: unknown function `x86-64-movsb`; strobe has only `default`",
    );
    assert_fails(
        &["-f", "bogus", "sched", "pipe"],
        "unknown output format `bogus`; use `default` or `simple`",
    );
    assert_fails(
        &["--repeat", "0", "sched", "pipe"],
        "the repeat count must be at least 1",
    );
}
