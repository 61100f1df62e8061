//! `strobe bench`: the micro-benchmarks of `perf bench`, with perf's
//! definitions, defaults and output, so that a number from strobe and one
//! from perf on the same machine measure the same thing.
//!
//! The suites follow perf 6.1's `tools/perf/bench/`:
//!
//! | benchmark | what it measures | series (better) |
//! |---|---|---|
//! | `sched messaging` | groups of senders spraying receivers over socketpairs or pipes (hackbench) | `seconds` (lower) |
//! | `sched pipe` | two tasks passing a token over two pipes | `usecs/op` (lower) |
//! | `syscall basic` | a `getppid()` loop | `usecs/op` (lower) |
//! | `mem memcpy`, `mem memset` | the C library's `memcpy`/`memset` on a buffer | `GB/sec` (higher) |
//! | `futex hash` | threads making futex calls that fail, stressing the kernel's futex hash | `ops/sec` (higher) |
//! | `futex wake` | one thread waking threads blocked on one futex | `msec` (lower) |
//!
//! A benchmark takes its own options the way perf's does (`sched pipe -l
//! 1000`, `mem memcpy -s 4KB`). [`run`] runs it, writes perf's text for each
//! run to the writer it is given, and returns one [`Series`] with a sample
//! per run; the binary turns those into a results file. Nothing here
//! prints: all output goes to that writer.
//!
//! Where strobe departs from perf, it is on purpose and written down where
//! it happens; the user-facing list is in `book/src/commands/bench.md`.
//! The main ones: times come from the monotonic nanosecond clock rather
//! than `gettimeofday`, so a short `mem` run gives a rate instead of
//! `inf`; the `futex` benchmarks, which print the same text whatever the
//! format in perf, print a bare number in the simple format; and `mem`
//! implements only perf's `default` function (the C library's).

mod futex;
mod mem;
mod options;
mod sched;
mod sys;
mod syscall;

use crate::results::{Better, Series};
use options::{OptionDef, ParsedOptions};
use std::io::{self, Write};
use std::str::FromStr;

/// Which benchmark to run, with its own options as the user typed them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BenchSpec {
    /// The suite: `sched`, `syscall`, `mem`, `futex`, or `all` for every
    /// benchmark.
    pub suite: String,
    /// The benchmark in the suite (`pipe`), or `all` for the whole suite.
    /// Empty with suite `all`.
    pub name: String,
    /// The benchmark's options, perf-style (`["-l", "1000"]`).
    pub args: Vec<String>,
}

impl BenchSpec {
    /// A spec from its parts.
    pub fn new(suite: impl Into<String>, name: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            suite: suite.into(),
            name: name.into(),
            args,
        }
    }
}

/// perf bench's output formats (`-f`, `--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// perf's labelled text: a header, totals, rates.
    #[default]
    Default,
    /// perf's bare result: one number per run, what perf's `simple` prints.
    Simple,
}

impl FromStr for OutputFormat {
    type Err = BenchError;

    fn from_str(text: &str) -> Result<Self, BenchError> {
        match text {
            "default" => Ok(Self::Default),
            "simple" => Ok(Self::Simple),
            other => Err(BenchError::UnknownFormat(other.to_string())),
        }
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// No such suite.
    #[error("unknown benchmark suite `{suite}`; {}", suite_hint(.suggestion))]
    UnknownSuite {
        /// What the user typed.
        suite: String,
        /// The closest suite name, if one is close.
        suggestion: Option<String>,
    },
    /// No such benchmark in the suite.
    #[error("unknown benchmark `{name}` in suite `{suite}`; {}", bench_hint(.suite, .suggestion))]
    UnknownBench {
        /// The suite.
        suite: String,
        /// What the user typed.
        name: String,
        /// The closest benchmark name in the suite, if one is close.
        suggestion: Option<String>,
    },
    /// A suite was named without a benchmark.
    #[error("name a benchmark of suite `{suite}`: {}", bench_names(.suite))]
    NoBench {
        /// The suite.
        suite: String,
    },
    /// perf has this suite or benchmark; strobe does not (yet).
    #[error("{}", not_implemented(.suite, .name))]
    NotImplemented {
        /// The suite.
        suite: String,
        /// The benchmark, or empty when the whole suite is missing.
        name: String,
    },
    /// A benchmark option is unknown, malformed or out of range. The
    /// message names the benchmark and what it accepts.
    #[error("{0}")]
    BadOption(String),
    /// `-f` named no format.
    #[error("unknown output format `{0}`; use `default` or `simple`")]
    UnknownFormat(String),
    /// `--repeat 0`.
    #[error("the repeat count must be at least 1")]
    BadRepeat,
    /// The buffers of a `mem` benchmark could not be allocated.
    #[error("cannot allocate {bytes} bytes for the {bench} buffers; use a smaller size (-s)")]
    Alloc {
        /// The benchmark.
        bench: &'static str,
        /// Bytes of one buffer.
        bytes: u64,
    },
    /// A system call the benchmark needs failed.
    #[error("{call} failed: {error}{}", syscall_hint(.error))]
    Syscall {
        /// The call, like `socketpair()`.
        call: &'static str,
        /// What the kernel said.
        error: io::Error,
    },
    /// A worker process or thread failed.
    #[error("a {role} failed: {reason}")]
    Worker {
        /// The worker, like `sched/messaging receiver`.
        role: &'static str,
        /// Why.
        reason: String,
    },
    /// `mem -c`: the cycles counter could not be opened or read.
    #[error("-c: cannot count cycles: {0}; leave -c out to time with the clock (virtual machines often have no cycles counter)")]
    Counter(String),
    /// Writing the output failed (a closed pipe, a full disk).
    #[error("cannot write the benchmark output: {0}")]
    Output(io::Error),
}

impl From<io::Error> for BenchError {
    fn from(error: io::Error) -> Self {
        Self::Output(error)
    }
}

fn suite_hint(suggestion: &Option<String>) -> String {
    let suites = SUITES
        .iter()
        .map(|s| s.0)
        .chain(["all"])
        .collect::<Vec<_>>();
    match suggestion {
        Some(s) => format!("did you mean `{s}`? The suites are {}", join_and(&suites)),
        None => format!("the suites are {}", join_and(&suites)),
    }
}

fn bench_hint(suite: &str, suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`? {suite} has {}", bench_names(suite)),
        None => format!("{suite} has {}", bench_names(suite)),
    }
}

fn bench_names(suite: &str) -> String {
    let names: Vec<&str> = BENCHES
        .iter()
        .filter(|b| b.suite == suite)
        .map(|b| b.name)
        .chain(["all"])
        .collect();
    join_and(&names)
}

fn not_implemented(suite: &str, name: &str) -> String {
    if name.is_empty() {
        let suites = SUITES
            .iter()
            .map(|s| s.0)
            .chain(["all"])
            .collect::<Vec<_>>();
        format!(
            "perf's `{suite}` suite is not implemented in strobe; the suites are {}",
            join_and(&suites)
        )
    } else {
        format!(
            "`perf bench {suite} {name}` is not implemented in strobe; {suite} has {}",
            bench_names(suite)
        )
    }
}

fn syscall_hint(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => {
            " (too many open files: raise the limit with `ulimit -n`, or use fewer groups with -g)"
        }
        Some(libc::EAGAIN) => {
            " (too many processes or threads: raise `ulimit -u`, or use fewer groups or threads)"
        }
        Some(libc::ENOMEM) => " (out of memory)",
        Some(libc::EPERM) => " (not permitted: -m needs CAP_IPC_LOCK or a larger `ulimit -l`)",
        _ => "",
    }
}

/// `a, b and c`.
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A benchmark, as strobe knows it.
struct BenchDef {
    suite: &'static str,
    name: &'static str,
    /// perf's one-line summary.
    description: &'static str,
    options: &'static [OptionDef],
    /// The series this benchmark fills: metric, unit, direction.
    metric: &'static str,
    unit: &'static str,
    better: Better,
    /// Reads the options into a runnable benchmark.
    configure: fn(&ParsedOptions) -> Result<Box<dyn Runner>, BenchError>,
}

impl BenchDef {
    /// `sched/pipe`.
    fn path(&self) -> String {
        format!("{}/{}", self.suite, self.name)
    }
}

/// A benchmark with its options read.
trait Runner {
    /// Runs the benchmark once, writes perf's text for the run to `out`,
    /// and returns the run's value of the benchmark's metric.
    fn run_once(&self, format: OutputFormat, out: &mut dyn Write) -> Result<f64, BenchError>;

    /// The metric, unit and direction of the value, when the options
    /// change them from the benchmark's (`mem -c` counts cycles per byte).
    fn metric(&self) -> Option<(&'static str, &'static str, Better)> {
        None
    }
}

/// The suites, with perf's one-line summaries, in perf's order.
const SUITES: &[(&str, &str)] = &[
    ("sched", "Scheduler and IPC benchmarks"),
    ("syscall", "System call benchmarks"),
    ("mem", "Memory access benchmarks"),
    ("futex", "Futex stressing benchmarks"),
];

/// Every benchmark, in perf's order (which `all` follows).
const BENCHES: &[BenchDef] = &[
    sched::MESSAGING,
    sched::PIPE,
    syscall::BASIC,
    mem::MEMCPY,
    mem::MEMSET,
    futex::HASH,
    futex::WAKE,
];

/// perf 6.1's suites that strobe does not have.
const PERF_ONLY_SUITES: &[&str] = &["numa", "epoll", "internals", "breakpoint", "uprobe"];

/// perf 6.1's (and later perfs') benchmarks in strobe's suites that strobe
/// does not have.
const PERF_ONLY_BENCHES: &[(&str, &str)] = &[
    ("sched", "seccomp-notify"),
    ("syscall", "getpgid"),
    ("syscall", "fork"),
    ("syscall", "execve"),
    ("mem", "find_bit"),
    ("futex", "wake-parallel"),
    ("futex", "requeue"),
    ("futex", "lock-pi"),
];

/// The options `all` takes: each goes to every benchmark with an option of
/// the same letter, so one short run of everything is one command.
static ALL_OPTIONS: &[OptionDef] = &[
    OptionDef::value(
        'l',
        "loops",
        "n",
        "Loops of every benchmark that counts loops (sched, syscall, mem)",
    ),
    OptionDef::value(
        'r',
        "runtime",
        "n",
        "Seconds of futex hash, and wake rounds of futex wake",
    ),
];

/// The suites strobe has, with their summaries, in perf's order.
pub fn suites() -> Vec<(&'static str, &'static str)> {
    SUITES.to_vec()
}

/// Every benchmark: `(suite, name, description)`, in perf's order.
pub fn list() -> Vec<(&'static str, &'static str, &'static str)> {
    BENCHES
        .iter()
        .map(|b| (b.suite, b.name, b.description))
        .collect()
}

/// Writes perf's listing: the suites when `suite` is `None`
/// (`perf bench`), or one suite's benchmarks (`perf bench sched`).
pub fn write_list(suite: Option<&str>, out: &mut dyn Write) -> Result<(), BenchError> {
    match suite {
        None => {
            writeln!(
                out,
                "        # List of all available benchmark collections:\n"
            )?;
            for (name, summary) in SUITES.iter().chain(&[("all", "All benchmarks")]) {
                writeln!(out, "{name:>14}: {summary}")?;
            }
            writeln!(out)?;
        }
        Some(suite) => {
            find_suite(suite)?;
            writeln!(
                out,
                "\n        # List of available benchmarks for collection '{suite}':\n"
            )?;
            for bench in BENCHES.iter().filter(|b| b.suite == suite) {
                writeln!(out, "{:>14}: {}", bench.name, bench.description)?;
            }
            let all = SUITE_ALL_SUMMARIES
                .iter()
                .find(|(s, _)| *s == suite)
                .map_or("Run all benchmarks of the suite", |(_, d)| d);
            writeln!(out, "{:>14}: {all}\n", "all")?;
        }
    }
    Ok(())
}

/// perf's summaries of each suite's `all`.
const SUITE_ALL_SUMMARIES: &[(&str, &str)] = &[
    ("sched", "Run all scheduler benchmarks"),
    ("syscall", "Run all syscall benchmarks"),
    ("mem", "Run all memory access benchmarks"),
    ("futex", "Run all futex benchmarks"),
];

/// Checks a spec without running it: the suite, the benchmark and its
/// options. The binary calls it before creating an output file.
pub fn check(spec: &BenchSpec) -> Result<(), BenchError> {
    plan(spec).map(|_| ())
}

/// Runs a benchmark `repeat` times (or a suite, or everything, for `all`),
/// writing perf's text for every run to `out`, and returns one series per
/// benchmark with one sample per run.
///
/// With `-h` or `--help` among the options, writes the benchmark's usage
/// instead and returns no series.
pub fn run(
    spec: &BenchSpec,
    repeat: usize,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<Vec<Series>, BenchError> {
    if repeat == 0 {
        return Err(BenchError::BadRepeat);
    }
    let plan = plan(spec)?;
    if let Some(usage) = plan.help {
        out.write_all(usage.as_bytes())?;
        return Ok(Vec::new());
    }
    let mut series = Vec::new();
    for (def, runner) in &plan.runs {
        let mut samples = Vec::with_capacity(repeat);
        if plan.collection {
            // perf's `run_collection` announces each benchmark this way,
            // whatever the format, and leaves a blank line after it.
            writeln!(out, "# Running {} benchmark...", def.path())?;
        } else if format == OutputFormat::Default {
            writeln!(out, "# Running '{}' benchmark:", def.path())?;
        }
        out.flush()?;
        for round in 0..repeat {
            if round > 0 && format == OutputFormat::Default {
                writeln!(out)?;
            }
            samples.push(runner.run_once(format, out)?);
            out.flush()?;
        }
        if plan.collection {
            writeln!(out)?;
        }
        let (metric, unit, better) = runner
            .metric()
            .unwrap_or((def.metric, def.unit, def.better));
        series.push(Series {
            name: def.path(),
            metric: metric.to_string(),
            unit: unit.to_string(),
            better,
            samples,
        });
    }
    Ok(series)
}

/// Runs every benchmark, like `perf bench all`. `args` may hold `-l N`
/// (the loop count of every benchmark that has one) and `-r N` (futex
/// hash's seconds and futex wake's rounds), to make the whole run short.
pub fn run_all(
    args: &[String],
    repeat: usize,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<Vec<Series>, BenchError> {
    run(
        &BenchSpec::new("all", "", args.to_vec()),
        repeat,
        format,
        out,
    )
}

/// What [`run`] will do.
struct Plan {
    /// The usage text, when the options asked for help.
    help: Option<String>,
    /// Whether this is a collection (`all`, `SUITE all`): perf announces
    /// each benchmark differently then.
    collection: bool,
    runs: Vec<(&'static BenchDef, Box<dyn Runner>)>,
}

fn plan(spec: &BenchSpec) -> Result<Plan, BenchError> {
    if spec.suite == "all" {
        // The binary may hand `all`'s options over as a benchmark name.
        let args: Vec<String> = (!spec.name.is_empty())
            .then(|| spec.name.clone())
            .into_iter()
            .chain(spec.args.iter().cloned())
            .collect();
        return plan_collection(None, &args);
    }
    let suite = find_suite(&spec.suite)?;
    if spec.name.is_empty() {
        return Err(BenchError::NoBench {
            suite: suite.to_string(),
        });
    }
    if spec.name == "all" {
        return plan_collection(Some(suite), &spec.args);
    }
    let def = find_bench(suite, &spec.name)?;
    let parsed = options::parse(&def.path(), def.options, &spec.args)?;
    if parsed.help {
        return Ok(Plan {
            help: Some(options::usage(
                &format!("strobe bench {} {}", def.suite, def.name),
                def.options,
            )),
            collection: false,
            runs: Vec::new(),
        });
    }
    let runner = (def.configure)(&parsed)?;
    Ok(Plan {
        help: None,
        collection: false,
        runs: vec![(def, runner)],
    })
}

fn plan_collection(suite: Option<&'static str>, args: &[String]) -> Result<Plan, BenchError> {
    let label = suite.map_or("all".to_string(), |s| format!("{s}/all"));
    let parsed = options::parse(&label, ALL_OPTIONS, args)?;
    if parsed.help {
        let command = suite.map_or("strobe bench all".to_string(), |s| {
            format!("strobe bench {s} all")
        });
        return Ok(Plan {
            help: Some(options::usage(&command, ALL_OPTIONS)),
            collection: true,
            runs: Vec::new(),
        });
    }
    let mut runs = Vec::new();
    for def in BENCHES
        .iter()
        .filter(|b| suite.is_none_or(|s| b.suite == s))
    {
        let mut bench_args = Vec::new();
        for (letter, long) in [('l', "loops"), ('r', "runtime")] {
            let takes_it = def.options.iter().any(|o| o.short == Some(letter));
            if let (true, Some(value)) = (takes_it, parsed.value(long)) {
                bench_args.push(format!("-{letter}"));
                bench_args.push(value.to_string());
            }
        }
        let bench_parsed = options::parse(&def.path(), def.options, &bench_args)?;
        runs.push((def, (def.configure)(&bench_parsed)?));
    }
    Ok(Plan {
        help: None,
        collection: true,
        runs,
    })
}

fn find_suite(name: &str) -> Result<&'static str, BenchError> {
    if let Some((suite, _)) = SUITES.iter().find(|(s, _)| *s == name) {
        return Ok(suite);
    }
    if PERF_ONLY_SUITES.contains(&name) {
        return Err(BenchError::NotImplemented {
            suite: name.to_string(),
            name: String::new(),
        });
    }
    let names = SUITES.iter().map(|s| s.0).chain(["all"]);
    Err(BenchError::UnknownSuite {
        suite: name.to_string(),
        suggestion: closest(name, names),
    })
}

fn find_bench(suite: &'static str, name: &str) -> Result<&'static BenchDef, BenchError> {
    let in_suite = || BENCHES.iter().filter(move |b| b.suite == suite);
    if let Some(def) = in_suite().find(|b| b.name == name) {
        return Ok(def);
    }
    if PERF_ONLY_BENCHES.contains(&(suite, name)) {
        return Err(BenchError::NotImplemented {
            suite: suite.to_string(),
            name: name.to_string(),
        });
    }
    Err(BenchError::UnknownBench {
        suite: suite.to_string(),
        name: name.to_string(),
        suggestion: closest(name, in_suite().map(|b| b.name).chain(["all"])),
    })
}

/// The candidate closest to `typed`, if it is close enough to be a typo:
/// an edit distance of at most 2 (1 for short names), or a prefix.
fn closest<'a>(typed: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = if typed.len() <= 4 { 1 } else { 2 };
    candidates
        .filter_map(|c| {
            let distance = strobe_probe::spec::edit_distance(typed, c);
            let prefix = typed.len() >= 2 && c.starts_with(typed);
            (distance <= limit || prefix).then_some((distance, c))
        })
        .min()
        .map(|(_, c)| c.to_string())
}

/// Helpers for the text the suites write, in the C formats perf uses.
mod text {
    use std::time::Duration;

    /// perf's `%lu.%03lu` of a `timeval` difference: whole seconds, then
    /// milliseconds truncated.
    pub fn seconds_ms(elapsed: Duration) -> String {
        format!("{}.{:03}", elapsed.as_secs(), elapsed.subsec_millis())
    }

    /// perf's ` %14s: %lu.%03lu [sec]` total-time line, without the newline.
    pub fn total_time(elapsed: Duration) -> String {
        format!(" {:>14}: {} [sec]", "Total time", seconds_ms(elapsed))
    }

    /// perf's `(int)(loops / seconds)`, truncated.
    pub fn ops_per_sec(loops: u64, elapsed: Duration) -> u64 {
        let seconds = elapsed.as_secs_f64();
        if seconds > 0.0 {
            (loops as f64 / seconds) as u64
        } else {
            0
        }
    }

    /// The mean and perf's relative standard error (`rel_stddev_stats` of
    /// `stddev_stats`: the standard deviation of the mean, as a percentage
    /// of the mean), of `values`.
    pub fn mean_and_rel_error(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        if values.is_empty() {
            return (0.0, 0.0);
        }
        let mean = values.iter().sum::<f64>() / n;
        if values.len() < 2 || mean == 0.0 {
            return (mean, 0.0);
        }
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, 100.0 * (variance / n).sqrt() / mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(suite: &str, name: &str, args: &[&str]) -> BenchSpec {
        BenchSpec::new(suite, name, args.iter().map(|s| s.to_string()).collect())
    }

    fn error(spec: &BenchSpec) -> String {
        match check(spec) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{spec:?} was accepted"),
        }
    }

    #[test]
    fn list_in_perf_order() {
        let names: Vec<String> = list().iter().map(|(s, n, _)| format!("{s}/{n}")).collect();
        assert_eq!(
            names,
            [
                "sched/messaging",
                "sched/pipe",
                "syscall/basic",
                "mem/memcpy",
                "mem/memset",
                "futex/hash",
                "futex/wake"
            ]
        );
        let mut text = Vec::new();
        write_list(Some("sched"), &mut text).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "\n        # List of available benchmarks for collection 'sched':\n\n\
             \x20    messaging: Benchmark for scheduling and IPC\n\
             \x20         pipe: Benchmark for pipe() between two processes\n\
             \x20          all: Run all scheduler benchmarks\n\n"
        );
        let mut text = Vec::new();
        write_list(None, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("         sched: Scheduler and IPC benchmarks\n"));
        assert!(text.contains("           all: All benchmarks\n"));
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        assert_eq!(
            error(&spec("schd", "pipe", &[])),
            "unknown benchmark suite `schd`; did you mean `sched`? \
             The suites are sched, syscall, mem, futex and all"
        );
        assert_eq!(
            error(&spec("bogus", "pipe", &[])),
            "unknown benchmark suite `bogus`; the suites are sched, syscall, mem, futex and all"
        );
        assert_eq!(
            error(&spec("sched", "pipes", &[])),
            "unknown benchmark `pipes` in suite `sched`; did you mean `pipe`? \
             sched has messaging, pipe and all"
        );
        assert_eq!(
            error(&spec("mem", "memcp", &[])),
            "unknown benchmark `memcp` in suite `mem`; did you mean `memcpy`? \
             mem has memcpy, memset and all"
        );
        assert_eq!(
            error(&spec("futex", "requeue", &[])),
            "`perf bench futex requeue` is not implemented in strobe; futex has hash, wake and all"
        );
        assert_eq!(
            error(&spec("numa", "mem", &[])),
            "perf's `numa` suite is not implemented in strobe; \
             the suites are sched, syscall, mem, futex and all"
        );
        assert_eq!(
            error(&spec("sched", "", &[])),
            "name a benchmark of suite `sched`: messaging, pipe and all"
        );
        assert_eq!(
            closest("syscal", ["sched", "syscall"].into_iter()),
            Some("syscall".into())
        );
        assert_eq!(closest("x", ["sched", "syscall"].into_iter()), None);
        assert_eq!(strobe_probe::spec::edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn options_are_checked_before_running() {
        assert_eq!(
            error(&spec("sched", "pipe", &["-x"])),
            "sched/pipe: unknown option `-x`; it takes -l/--loop n, -T/--threaded"
        );
        assert_eq!(
            error(&spec("mem", "memcpy", &["-s", "1XB"])),
            "mem/memcpy: `-s 1XB` is not a size; give a whole number and a unit of \
             B, KB, MB, GB or TB, like 1MB"
        );
        assert_eq!(
            error(&spec("all", "", &["-T"])),
            "all: unknown option `-T`; it takes -l/--loops n, -r/--runtime n"
        );
        assert!(check(&spec("all", "-l", &["10", "-r", "1"])).is_ok());
        assert!(check(&spec("futex", "all", &["-r", "1"])).is_ok());
        assert_eq!(
            "bogus".parse::<OutputFormat>().unwrap_err().to_string(),
            "unknown output format `bogus`; use `default` or `simple`"
        );
        assert_eq!(
            "simple".parse::<OutputFormat>().unwrap(),
            OutputFormat::Simple
        );
    }

    #[test]
    fn help_writes_usage_and_runs_nothing() {
        let mut text = Vec::new();
        let series = run(
            &spec("sched", "pipe", &["-h"]),
            1,
            OutputFormat::Default,
            &mut text,
        )
        .unwrap();
        assert!(series.is_empty());
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "\n Usage: strobe bench sched pipe <options>\n\n\
             \x20   -l, --loop <n>        Specify number of loops\n\
             \x20   -T, --threaded        Specify threads/process based task setup\n\n"
        );
        assert!(matches!(
            run(
                &spec("sched", "pipe", &[]),
                0,
                OutputFormat::Default,
                &mut Vec::new()
            ),
            Err(BenchError::BadRepeat)
        ));
    }

    #[test]
    fn repeated_runs_fill_one_series() {
        let mut text = Vec::new();
        let series = run(
            &spec("syscall", "basic", &["-l", "1000"]),
            3,
            OutputFormat::Simple,
            &mut text,
        )
        .unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].name, "syscall/basic");
        assert_eq!(series[0].metric, "usecs/op");
        assert_eq!(series[0].better, Better::Lower);
        assert_eq!(series[0].samples.len(), 3);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().all(|l| l.parse::<f64>().is_ok()), "{text}");
    }

    #[test]
    fn collections_announce_each_benchmark() {
        let mut text = Vec::new();
        let series = run(
            &spec("mem", "all", &["-l", "2"]),
            1,
            OutputFormat::Default,
            &mut text,
        )
        .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(series.len(), 2);
        assert!(text.starts_with("# Running mem/memcpy benchmark...\n# function 'default'"));
        assert!(
            text.contains("GB/sec\n\n# Running mem/memset benchmark...\n"),
            "{text}"
        );
        assert!(text.ends_with("/sec\n\n"), "{text}");
    }

    #[test]
    fn perf_statistics() {
        let (mean, rel) = text::mean_and_rel_error(&[3231744.0, 3295232.0]);
        assert_eq!(mean as u64, 3263488);
        // perf printed (+- 0.97%) for these two threads.
        assert_eq!(format!("{rel:.2}"), "0.97");
        assert_eq!(text::mean_and_rel_error(&[5.0]), (5.0, 0.0));
        let pipe_run = std::time::Duration::from_micros(5_816_233);
        assert_eq!(text::ops_per_sec(1_000_000, pipe_run), 171932);
        assert_eq!(text::ops_per_sec(5, std::time::Duration::ZERO), 0);
        assert_eq!(
            text::total_time(std::time::Duration::from_micros(5_816_233)),
            "     Total time: 5.816 [sec]"
        );
    }
}
