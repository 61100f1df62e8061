//! `strobe stat`: the statistics over counter readings and their output,
//! formatted as `perf stat` (perf 6.1) formats them.
//!
//! The collector reads the counters; this module turns the readings into
//! what the user sees. The binary fills a [`StatResult`] (or an
//! [`Interval`] with `-I`) and calls [`write_result`] (or
//! [`write_interval`]). Nothing here does I/O beyond the writer it is
//! given, so every layout is tested against text captured from perf.
//!
//! Three output formats exist:
//!
//! - text, byte for byte perf's layout, with or without thousands
//!   separators ([`Format::Text`], [`Format::PlainText`]);
//! - CSV (`-x SEP`), perf's column order;
//! - JSON, strobe's own schema (`book/src/schemas/stat.schema.json`): one
//!   document for a whole result, one line per interval.
//!
//! Where perf 6.1 differs from both the perf before it and the perf after
//! it, strobe follows the others: with `-r N` perf 6.1 prints the last
//! run's count (and measures the noise against it), where perf 6.0 and
//! 6.2+ print the mean over the runs. strobe prints the mean.

use crate::results::{Better, Host, Series};
use std::io::{self, Write};

/// What perf prints in place of a count for an event the kernel or the
/// machine cannot count.
const NOT_SUPPORTED: &str = "<not supported>";
/// What perf prints in place of a count for an event that never ran.
const NOT_COUNTED: &str = "<not counted>";
/// Width of the count column.
const COUNT_WIDTH: usize = 18;
/// Width of the event name on a line with a count (perf 6.1's
/// `abs_printout`).
const NAME_WIDTH: usize = 32;
/// Width of the event name on a `<not counted>` line: perf 6.1 widened the
/// name column of counted lines to 32 but not this one, so the two kinds of
/// line do not align, and strobe keeps that to stay byte-identical.
const NAME_WIDTH_UNCOUNTED: usize = 25;
/// Width of the metric column, `" # "` included (perf 6.1's `METRIC_LEN`).
const METRIC_WIDTH: usize = 35;
/// The narrowest unit column perf prints.
const MIN_UNIT_WIDTH: usize = 4;
/// The indentation of a metric that continues on a line of its own
/// (perf's `__new_line_std`).
const CONTINUED_METRIC_INDENT: usize = 49;
/// The extra indentation of such a line when counts are per CPU.
const CONTINUED_METRIC_INDENT_PER_CPU: usize = 8;

/// How often `perf stat -I` repeats the header line: every this many
/// intervals. [`write_interval`] prints it when told to; the caller counts.
pub const INTERVAL_HEADER_EVERY: usize = 25;

/// One counter read: the value and the times the kernel reports with it
/// (`read_format` `TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// The count.
    pub value: u64,
    /// Nanoseconds the counter was enabled.
    pub time_enabled: u64,
    /// Nanoseconds it was on the hardware; less than `time_enabled` when the
    /// kernel multiplexed it with other events.
    pub time_running: u64,
}

/// One count of one event, as perf classifies it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Count {
    /// The event could not be opened: `<not supported>`.
    NotSupported,
    /// The event was open but never ran: `<not counted>`.
    NotCounted {
        /// Nanoseconds it was enabled. When this is not zero the event was
        /// starved by multiplexing, and perf shows `(0.00%)` after it.
        enabled: u64,
    },
    /// The event ran.
    Counted {
        /// The value the kernel returned.
        raw: u64,
        /// The value scaled up for the time the event was not running,
        /// `raw * enabled / running`, truncated as perf truncates it.
        scaled: f64,
        /// Nanoseconds the counter was enabled.
        enabled: u64,
        /// Nanoseconds it was running.
        running: u64,
    },
}

impl Count {
    /// Classifies a reading and scales it the way perf does
    /// (`perf_counts_values__scale`): an event that never ran is not
    /// counted, and one that ran part of the time is scaled up by
    /// `enabled / running`, computed in floating point and truncated to an
    /// integer.
    pub fn from_reading(r: Reading) -> Count {
        if r.time_running == 0 || r.time_enabled == 0 {
            return Count::NotCounted {
                enabled: r.time_enabled,
            };
        }
        let scaled = if r.time_running < r.time_enabled {
            // perf computes `(u64)((double)val * ena / run)`; the cast
            // truncates, and strobe keeps the truncation so that its counts
            // are perf's to the unit.
            (r.value as f64 * r.time_enabled as f64 / r.time_running as f64).trunc()
        } else {
            r.value as f64
        };
        Count::Counted {
            raw: r.value,
            scaled,
            enabled: r.time_enabled,
            running: r.time_running,
        }
    }

    /// The scaled value, when the event was counted.
    pub fn scaled(&self) -> Option<f64> {
        match *self {
            Count::Counted { scaled, .. } => Some(scaled),
            _ => None,
        }
    }

    /// Whether the event could be opened at all.
    pub fn is_supported(&self) -> bool {
        !matches!(self, Count::NotSupported)
    }

    /// The share of its enabled time the event was running, in percent
    /// (`100 * running / enabled`): what perf prints as `(50.00%)` after a
    /// multiplexed event. `None` when the event was not supported, or was
    /// never enabled.
    pub fn percent_running(&self) -> Option<f64> {
        match *self {
            Count::Counted {
                enabled, running, ..
            } if enabled > 0 => Some(100.0 * running as f64 / enabled as f64),
            Count::NotCounted { enabled } if enabled > 0 => Some(0.0),
            _ => None,
        }
    }
}

/// The mean of a series of runs and the standard error of that mean,
/// computed as perf computes them (`update_stats`, `avg_stats`,
/// `stddev_stats`, `rel_stddev_stats`): Welford's running mean, the sample
/// variance divided by the number of runs, and its square root relative to
/// the mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunStats {
    n: u64,
    mean: f64,
    m2: f64,
}

impl RunStats {
    /// No runs yet.
    pub fn new() -> RunStats {
        RunStats::default()
    }

    /// Adds one run's value.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The number of values pushed.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The mean; 0 when nothing was pushed.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The standard error of the mean, `sqrt(s² / n)` with `s²` the sample
    /// variance; 0 for fewer than two values.
    pub fn stddev_of_mean(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let variance = self.m2 / (self.n - 1) as f64;
        (variance / self.n as f64).sqrt()
    }

    /// The standard error relative to the mean, in percent: what perf
    /// prints as `( +-  1.23% )`. 0 when the mean is 0.
    pub fn rel_stderr_percent(&self) -> f64 {
        rel_percent(self.stddev_of_mean(), self.mean)
    }
}

/// perf's `rel_stddev_stats`.
fn rel_percent(stddev: f64, mean: f64) -> f64 {
    if mean != 0.0 {
        100.0 * stddev / mean
    } else {
        0.0
    }
}

/// The counts of one event over every run.
#[derive(Debug, Clone, PartialEq)]
pub struct EventCounts {
    /// The event's name as the user gave it (`cycles`, `cycles:u`,
    /// `sched:sched_switch`). Derived metrics recognise perf's generic
    /// event names in it.
    pub name: String,
    /// The unit (a PMU's sysfs `.unit` file). `None` means none, except for
    /// `task-clock` and `cpu-clock`, which perf always shows in `msec`.
    pub unit: Option<String>,
    /// The factor from the count to the unit (a PMU's sysfs `.scale`
    /// file; 1.0 for most events). Ignored for `task-clock` and `cpu-clock`
    /// when `unit` is `None`: they count nanoseconds and show
    /// milliseconds.
    pub scale: f64,
    /// One count per run (`-r`), each the sum over every CPU and thread.
    pub runs: Vec<Count>,
    /// With `-A`: the count on each CPU, for the last run (perf shows no
    /// other run per CPU either).
    pub per_cpu: Vec<(u32, Count)>,
}

impl EventCounts {
    /// An event with no unit, scale 1 and no counts yet.
    pub fn new(name: impl Into<String>) -> EventCounts {
        EventCounts {
            name: name.into(),
            unit: None,
            scale: 1.0,
            runs: Vec::new(),
            per_cpu: Vec::new(),
        }
    }

    /// The unit shown after the count: `msec` for the clock events (as
    /// perf's `evsel__is_clock` sets it), the sysfs unit otherwise.
    pub fn display_unit(&self) -> &str {
        match (&self.unit, classify(&self.name).0) {
            (Some(unit), _) => unit,
            (None, Kind::Clock) => "msec",
            (None, _) => "",
        }
    }

    /// The factor from counts to [`EventCounts::display_unit`].
    pub fn display_scale(&self) -> f64 {
        match (&self.unit, classify(&self.name).0) {
            (None, Kind::Clock) => 1e-6,
            _ => self.scale,
        }
    }
}

impl From<(String, Count)> for EventCounts {
    /// An event with a single count and no per-CPU counts: what one
    /// interval of `-I` holds.
    fn from((name, count): (String, Count)) -> EventCounts {
        EventCounts {
            runs: vec![count],
            ..EventCounts::new(name)
        }
    }
}

/// What a target is called in the text header, after
/// `Performance counter stats for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A command strobe ran: `'sleep 1'`.
    Command(&'a [String]),
    /// Every CPU (`-a`): `'system wide'`.
    SystemWide,
    /// Some CPUs (`-C 0-1`): `'CPU(s) 0-1'`.
    Cpus(&'a str),
    /// Processes (`-p 12,34`): `process id '12,34'`.
    Processes(&'a str),
    /// Threads (`-t 56`): `thread id '56'`.
    Threads(&'a str),
}

impl Target<'_> {
    /// The words perf uses for the target, quotes included; what goes in
    /// [`StatResult::target`].
    pub fn describe(&self) -> String {
        match self {
            Target::Command(argv) => format!("'{}'", argv.join(" ")),
            Target::SystemWide => "'system wide'".to_string(),
            Target::Cpus(list) => format!("'CPU(s) {list}'"),
            Target::Processes(list) => format!("process id '{list}'"),
            Target::Threads(list) => format!("thread id '{list}'"),
        }
    }
}

/// Everything `strobe stat` measured, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct StatResult {
    /// What was counted, worded as perf words it, quotes included:
    /// `'sleep 1'`, `'system wide'`, `process id '123'`. See
    /// [`Target::describe`].
    pub target: String,
    /// The events, in the order the user gave them.
    pub events: Vec<EventCounts>,
    /// Wall-clock time of each run, in nanoseconds.
    pub wall_ns: Vec<u64>,
    /// User CPU time of the command (`getrusage`), for a single run of a
    /// command; perf prints it only then. `None` otherwise.
    pub user_ns: Option<u64>,
    /// System CPU time of the command, as `user_ns`.
    pub sys_ns: Option<u64>,
    /// The number of runs (`-r`).
    pub runs: usize,
    /// The command's exit status, when there was a command.
    pub exit_status: Option<i32>,
    /// The machine it ran on, for the results file (`--json`).
    pub host: Host,
}

/// The counts of one interval of `-I`.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Time since counting started, in nanoseconds: the timestamp of the
    /// line.
    pub time_ns: u64,
    /// The interval length asked for (`-I` in nanoseconds). perf divides
    /// by this, not by the time that really passed, for `CPUs utilized`,
    /// even for the last, shorter interval; strobe does the same.
    pub interval_ns: u64,
    /// The events, each with exactly one entry in `runs`: what it counted
    /// in this interval. `per_cpu`, with `-A`, likewise.
    pub events: Vec<EventCounts>,
}

/// The output format.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// perf's text layout, with thousands separators (`1,234,567`), as
    /// perf prints it by default in a locale that groups digits
    /// (`en_US.UTF-8`).
    Text,
    /// perf's text layout without thousands separators, as perf prints it
    /// with `--no-big-num` or in the C locale.
    PlainText,
    /// perf's `-x SEP` layout.
    Csv {
        /// The separator between fields.
        separator: String,
    },
    /// strobe's JSON schema (`book/src/schemas/stat.schema.json`).
    Json,
}

/// How a metric's value is printed: perf's printf formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricStyle {
    /// `%8.3f`: CPUs utilized, GHz, `/sec`.
    Fixed3,
    /// `%7.2f ` (a space after it): insn per cycle.
    Ratio,
    /// `%7.2f%%`: the miss ratios.
    Percent,
    /// `%8.3f %%`: cache misses of all cache references.
    SpacedPercent,
}

/// A derived ("shadow") metric: what perf prints after `#`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The value, in `unit`.
    pub value: f64,
    /// What the value measures: `CPUs utilized`, `K/sec`, `GHz`,
    /// `insn per cycle`, `of all branches`.
    pub unit: String,
    /// How perf formats the value.
    pub style: MetricStyle,
}

impl Metric {
    fn new(value: f64, unit: impl Into<String>, style: MetricStyle) -> Metric {
        Metric {
            value,
            unit: unit.into(),
            style,
        }
    }

    /// The value formatted as perf's text output shows it.
    pub fn formatted(&self) -> String {
        let v = self.value;
        match self.style {
            MetricStyle::Fixed3 => format!("{v:8.3}"),
            MetricStyle::Ratio => format!("{v:7.2} "),
            MetricStyle::Percent => format!("{v:7.2}%"),
            MetricStyle::SpacedPercent => format!("{v:8.3} %"),
        }
    }

    /// The value as perf's CSV output shows it: the text form without its
    /// padding and without anything after the number (perf's
    /// `print_metric_csv` keeps the leading digits and dots).
    fn csv_value(&self) -> String {
        self.formatted()
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect()
    }
}

/// The metrics of one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventMetrics {
    /// The metric on the event's own line; `None` leaves the column blank.
    pub main: Option<Metric>,
    /// Metrics perf prints on lines of their own below the event
    /// (`stalled cycles per insn` under `instructions`).
    pub continued: Vec<Metric>,
}

impl EventMetrics {
    /// Every metric, the main one first.
    pub fn all(&self) -> impl Iterator<Item = &Metric> {
        self.main.iter().chain(&self.continued)
    }
}

/// The derived metrics of each event of `r` (aggregated over CPUs, means
/// over runs), in the order of `r.events`.
///
/// A metric that relates two events (`insn per cycle`, the miss ratios)
/// is only given when both were counted, and both carry the same
/// `:u`/`:k` modifiers, as perf pairs them. Rates (`K/sec`, `GHz`) use
/// `task-clock` (or `cpu-clock`) as their time base, and `CPUs utilized`
/// is the clock over the mean wall time.
pub fn derived_metrics(r: &StatResult) -> Vec<EventMetrics> {
    let summaries: Vec<Summary> = r.events.iter().map(|e| summarize(&e.runs)).collect();
    let inputs = metric_inputs(&r.events, summaries.iter().map(Summary::count));
    let wall = wall_stats(&r.wall_ns);
    let wall_mean = (wall.n() > 0).then(|| wall.mean());
    (0..inputs.len())
        .map(|i| metrics_for(i, &inputs, wall_mean))
        .collect()
}

/// Writes a whole result in `format`; `per_cpu` asks for one line per CPU
/// and event (`-A`), where the events carry per-CPU counts (an event
/// without any keeps its aggregate line).
///
/// Text has perf's header, one line per event and the elapsed-time footer,
/// with `seconds user` and `seconds sys` when `user_ns` and `sys_ns` are
/// both given and there was one run. CSV has the event lines only, as perf
/// prints them. JSON is one document and a newline.
pub fn write_result(
    out: &mut dyn Write,
    r: &StatResult,
    format: &Format,
    per_cpu: bool,
) -> io::Result<()> {
    let summaries: Vec<Summary> = r.events.iter().map(|e| summarize(&e.runs)).collect();
    let wall = wall_stats(&r.wall_ns);
    let wall_mean = (wall.n() > 0).then(|| wall.mean());
    if matches!(format, Format::Json) {
        let doc = result_json(r, &summaries, &wall, wall_mean, per_cpu);
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let layout = Layout::new(format, &r.events, r.runs);
    if layout.is_text() {
        write!(out, "\n Performance counter stats for {}", r.target)?;
        if r.runs > 1 {
            write!(out, " ({} runs)", r.runs)?;
        }
        write!(out, ":\n\n")?;
    }
    write_rows(out, "", &r.events, &summaries, wall_mean, per_cpu, &layout)?;
    if layout.is_text() {
        write_footer(out, r, &wall)?;
    }
    Ok(())
}

/// Writes one interval of `-I`: in text, the header line first when
/// `header` is set (perf prints it before the first interval and then
/// every [`INTERVAL_HEADER_EVERY`] intervals); in JSON, one line.
pub fn write_interval(
    out: &mut dyn Write,
    iv: &Interval,
    format: &Format,
    header: bool,
    per_cpu: bool,
) -> io::Result<()> {
    let summaries: Vec<Summary> = iv.events.iter().map(|e| summarize(&e.runs)).collect();
    let wall = Some(iv.interval_ns as f64);
    if matches!(format, Format::Json) {
        let doc = interval_json(iv, &summaries, wall, per_cpu);
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let layout = Layout::new(format, &iv.events, 1);
    if header && layout.is_text() {
        if per_cpu {
            write!(out, "#           time CPU                    counts")?;
        } else {
            write!(out, "#           time             counts")?;
        }
        writeln!(out, " {:>w$} events", "unit", w = layout.unit_width)?;
    }
    let prefix = format!(
        "{:6}.{:09}{}",
        iv.time_ns / 1_000_000_000,
        iv.time_ns % 1_000_000_000,
        layout.separator()
    );
    write_rows(out, &prefix, &iv.events, &summaries, wall, per_cpu, &layout)
}

// ---------------------------------------------------------------------------
// Summaries over runs

/// An event over its runs, as the output shows it.
#[derive(Debug, Clone, Copy)]
enum Summary {
    NotSupported,
    NotCounted {
        enabled: u64,
    },
    Counted {
        /// The scaled counts of the runs in which the event counted.
        stats: RunStats,
        /// The enabled and running times of the last run that counted:
        /// perf prints the last run's, not a mean.
        enabled: u64,
        running: u64,
    },
}

impl Summary {
    /// The mean count, when counted.
    fn count(&self) -> Option<f64> {
        match self {
            Summary::Counted { stats, .. } => Some(stats.mean()),
            _ => None,
        }
    }

    fn of_count(count: &Count) -> Summary {
        summarize(std::slice::from_ref(count))
    }
}

/// Folds the runs of one event. An event that could not be opened is not
/// supported; otherwise the mean is over the runs in which it counted, and
/// it is not counted only when it never counted. (perf 6.1 would show
/// `<not counted>` whenever the last run did not count, and average the
/// other runs with zeros; an event that counted in most runs is better
/// shown with what it counted.)
fn summarize(runs: &[Count]) -> Summary {
    if runs.iter().any(|c| !c.is_supported()) {
        return Summary::NotSupported;
    }
    let mut stats = RunStats::new();
    let mut last_counted = None;
    let mut last_enabled = 0;
    for count in runs {
        match *count {
            Count::Counted {
                scaled,
                enabled,
                running,
                ..
            } => {
                stats.push(scaled);
                last_counted = Some((enabled, running));
            }
            Count::NotCounted { enabled } => last_enabled = enabled,
            Count::NotSupported => {}
        }
    }
    match last_counted {
        Some((enabled, running)) => Summary::Counted {
            stats,
            enabled,
            running,
        },
        None => Summary::NotCounted {
            enabled: last_enabled,
        },
    }
}

fn wall_stats(wall_ns: &[u64]) -> RunStats {
    let mut stats = RunStats::new();
    for &w in wall_ns {
        stats.push(w as f64);
    }
    stats
}

// ---------------------------------------------------------------------------
// Derived metrics

/// The generic events perf derives metrics from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Clock,
    Cycles,
    Instructions,
    Branches,
    BranchMisses,
    CacheReferences,
    CacheMisses,
    StalledFrontend,
    StalledBackend,
    L1dLoads,
    L1dMisses,
    L1iLoads,
    L1iMisses,
    DtlbLoads,
    DtlbMisses,
    ItlbLoads,
    ItlbMisses,
    LlcLoads,
    LlcMisses,
    Other,
}

/// The privilege levels an event counts in. perf pairs events for a ratio
/// only within one context (`evsel_context`), so that `cycles:u` and
/// `instructions:k` make no IPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Context {
    exclude_user: bool,
    exclude_kernel: bool,
    exclude_hv: bool,
    exclude_host: bool,
    exclude_guest: bool,
    exclude_idle: bool,
}

/// The kind of an event and its context, from its name.
fn classify(name: &str) -> (Kind, Context) {
    // `sched:sched_switch` has a colon too; only a suffix made of modifier
    // letters is a modifier.
    let (base, modifiers) = match name.rsplit_once(':') {
        Some((base, m)) if !m.is_empty() && m.chars().all(|c| "ukhIGHpPSDWebR".contains(c)) => {
            (base, m)
        }
        _ => (name, ""),
    };
    let kind = match base {
        "task-clock" | "cpu-clock" => Kind::Clock,
        "cycles" | "cpu-cycles" => Kind::Cycles,
        "instructions" => Kind::Instructions,
        "branches" | "branch-instructions" => Kind::Branches,
        "branch-misses" => Kind::BranchMisses,
        "cache-references" => Kind::CacheReferences,
        "cache-misses" => Kind::CacheMisses,
        "stalled-cycles-frontend" | "idle-cycles-frontend" => Kind::StalledFrontend,
        "stalled-cycles-backend" | "idle-cycles-backend" => Kind::StalledBackend,
        "L1-dcache-loads" => Kind::L1dLoads,
        "L1-dcache-load-misses" => Kind::L1dMisses,
        "L1-icache-loads" => Kind::L1iLoads,
        "L1-icache-load-misses" => Kind::L1iMisses,
        "dTLB-loads" => Kind::DtlbLoads,
        "dTLB-load-misses" => Kind::DtlbMisses,
        "iTLB-loads" => Kind::ItlbLoads,
        "iTLB-load-misses" => Kind::ItlbMisses,
        "LLC-loads" => Kind::LlcLoads,
        "LLC-load-misses" => Kind::LlcMisses,
        _ => Kind::Other,
    };
    let has = |c: char| modifiers.contains(c);
    let mut ctx = Context::default();
    if has('u') || has('k') || has('h') {
        ctx.exclude_user = !has('u');
        ctx.exclude_kernel = !has('k');
        ctx.exclude_hv = !has('h');
    }
    ctx.exclude_host = has('G') && !has('H');
    ctx.exclude_guest = has('H') && !has('G');
    ctx.exclude_idle = has('I');
    (kind, ctx)
}

/// One event as the metric formulas see it.
#[derive(Debug, Clone, Copy)]
struct MetricInput {
    kind: Kind,
    ctx: Context,
    /// The (mean, multiplex-scaled) count, when counted.
    count: Option<f64>,
    /// The factor to the displayed unit.
    scale: f64,
}

impl MetricInput {
    /// The value perf's formulas call `avg`: the count in the displayed
    /// unit.
    fn shown(&self) -> Option<f64> {
        self.count.map(|c| c * self.scale)
    }
}

fn metric_inputs(
    events: &[EventCounts],
    counts: impl Iterator<Item = Option<f64>>,
) -> Vec<MetricInput> {
    events
        .iter()
        .zip(counts)
        .map(|(event, count)| {
            let (kind, ctx) = classify(&event.name);
            MetricInput {
                kind,
                ctx,
                count,
                scale: event.display_scale(),
            }
        })
        .collect()
}

/// The value of the counted events of `kind` in `ctx`, averaged when there
/// are several (perf feeds `task-clock` and `cpu-clock` into one running
/// mean): nanoseconds for the clocks, the displayed value for the rest.
fn base(inputs: &[MetricInput], kind: Kind, ctx: Context) -> Option<f64> {
    let mut stats = RunStats::new();
    for input in inputs.iter().filter(|i| i.kind == kind && i.ctx == ctx) {
        let value = if kind == Kind::Clock {
            input.count
        } else {
            input.shown()
        };
        if let Some(v) = value {
            stats.push(v);
        }
    }
    (stats.n() > 0).then(|| stats.mean())
}

/// perf's `convert_unit_double`: the rate with a K, M or G prefix.
fn per_second(rate: f64) -> (f64, &'static str) {
    let mut value = rate;
    let mut unit = "/sec";
    for prefixed in ["K/sec", "M/sec", "G/sec"] {
        if value > 1000.0 {
            value /= 1000.0;
            unit = prefixed;
        }
    }
    (value, unit)
}

/// The metrics of `inputs[i]`, following perf 6.1's
/// `perf_stat__print_shadow_stats`.
fn metrics_for(i: usize, inputs: &[MetricInput], wall_ns: Option<f64>) -> EventMetrics {
    let this = inputs[i];
    let Some(avg) = this.shown() else {
        return EventMetrics::default();
    };
    let base = |kind| base(inputs, kind, this.ctx);
    // A share of a base count in percent; perf prints 0 when the base
    // counted zero rather than dividing by it.
    let ratio = |kind, unit: &str| {
        base(kind).map(|total| {
            let value = if total != 0.0 {
                avg / total * 100.0
            } else {
                0.0
            };
            Metric::new(value, unit, MetricStyle::Percent)
        })
    };
    let mut metrics = EventMetrics::default();
    metrics.main = match this.kind {
        Kind::Clock => wall_ns
            .filter(|&w| w != 0.0)
            .map(|w| Metric::new(avg / (w * this.scale), "CPUs utilized", MetricStyle::Fixed3)),
        Kind::Instructions => {
            let stalled = base(Kind::StalledFrontend)
                .unwrap_or(0.0)
                .max(base(Kind::StalledBackend).unwrap_or(0.0));
            if stalled != 0.0 && avg != 0.0 {
                metrics.continued.push(Metric::new(
                    stalled / avg,
                    "stalled cycles per insn",
                    MetricStyle::Ratio,
                ));
            }
            base(Kind::Cycles)
                .filter(|&c| c != 0.0)
                .map(|cycles| Metric::new(avg / cycles, "insn per cycle", MetricStyle::Ratio))
        }
        Kind::BranchMisses => ratio(Kind::Branches, "of all branches"),
        Kind::L1dMisses => ratio(Kind::L1dLoads, "of all L1-dcache accesses"),
        Kind::L1iMisses => ratio(Kind::L1iLoads, "of all L1-icache accesses"),
        Kind::DtlbMisses => ratio(Kind::DtlbLoads, "of all dTLB cache accesses"),
        Kind::ItlbMisses => ratio(Kind::ItlbLoads, "of all iTLB cache accesses"),
        Kind::LlcMisses => ratio(Kind::LlcLoads, "of all LL-cache accesses"),
        Kind::CacheMisses => base(Kind::CacheReferences).map(|total| {
            let value = if total != 0.0 {
                avg * 100.0 / total
            } else {
                0.0
            };
            Metric::new(value, "of all cache refs", MetricStyle::SpacedPercent)
        }),
        Kind::StalledFrontend => ratio(Kind::Cycles, "frontend cycles idle"),
        Kind::StalledBackend => ratio(Kind::Cycles, "backend cycles idle"),
        Kind::Cycles => base(Kind::Clock)
            .filter(|&ns| ns != 0.0)
            .map(|ns| Metric::new(avg / ns, "GHz", MetricStyle::Fixed3)),
        Kind::Branches
        | Kind::CacheReferences
        | Kind::L1dLoads
        | Kind::L1iLoads
        | Kind::DtlbLoads
        | Kind::ItlbLoads
        | Kind::LlcLoads
        | Kind::Other => base(Kind::Clock).map(|ns| {
            let (value, unit) = if ns != 0.0 {
                per_second(1e9 * avg / ns)
            } else {
                (0.0, "/sec")
            };
            Metric::new(value, unit, MetricStyle::Fixed3)
        }),
    };
    metrics
}

/// The metrics of every event on CPU `cpu`, from the per-CPU counts.
fn per_cpu_metrics(events: &[EventCounts], cpu: u32, wall_ns: Option<f64>) -> Vec<EventMetrics> {
    let counts = events.iter().map(|e| {
        e.per_cpu
            .iter()
            .find(|(c, _)| *c == cpu)
            .and_then(|(_, count)| count.scaled())
    });
    let inputs = metric_inputs(events, counts);
    (0..inputs.len())
        .map(|i| metrics_for(i, &inputs, wall_ns))
        .collect()
}

// ---------------------------------------------------------------------------
// Text and CSV

/// The text or CSV layout of the lines.
struct Layout {
    csv_separator: Option<String>,
    big_num: bool,
    unit_width: usize,
    runs: usize,
}

impl Layout {
    fn new(format: &Format, events: &[EventCounts], runs: usize) -> Layout {
        // perf widens the unit column to the longest unit of any event.
        let unit_width = events
            .iter()
            .map(|e| e.display_unit().len())
            .fold(MIN_UNIT_WIDTH, usize::max);
        let (csv_separator, big_num) = match format {
            Format::Csv { separator } => (Some(separator.clone()), false),
            Format::PlainText => (None, false),
            Format::Text | Format::Json => (None, true),
        };
        Layout {
            csv_separator,
            big_num,
            unit_width,
            runs,
        }
    }

    fn is_text(&self) -> bool {
        self.csv_separator.is_none()
    }

    /// The separator between fields: perf prints text with a space where
    /// CSV has its separator.
    fn separator(&self) -> &str {
        self.csv_separator.as_deref().unwrap_or(" ")
    }
}

/// One line to print: an event, aggregated or on one CPU.
struct Row<'a> {
    event: &'a EventCounts,
    cpu: Option<u32>,
    summary: Summary,
    metrics: &'a EventMetrics,
    /// The relative error to print with `-r`.
    noise: Option<f64>,
}

fn write_rows(
    out: &mut dyn Write,
    prefix: &str,
    events: &[EventCounts],
    summaries: &[Summary],
    wall_ns: Option<f64>,
    per_cpu: bool,
    layout: &Layout,
) -> io::Result<()> {
    let summary_counts = summaries.iter().map(Summary::count);
    let inputs = metric_inputs(events, summary_counts);
    let metrics: Vec<EventMetrics> = (0..inputs.len())
        .map(|i| metrics_for(i, &inputs, wall_ns))
        .collect();
    let mut cpu_metrics: Vec<(u32, Vec<EventMetrics>)> = Vec::new();
    if per_cpu {
        for event in events {
            for &(cpu, _) in &event.per_cpu {
                if !cpu_metrics.iter().any(|(c, _)| *c == cpu) {
                    cpu_metrics.push((cpu, per_cpu_metrics(events, cpu, wall_ns)));
                }
            }
        }
    }
    let multi_run = layout.runs > 1;
    for (i, event) in events.iter().enumerate() {
        // An event without per-CPU counts (the collector had none for it)
        // still gets its aggregate line rather than vanishing.
        if per_cpu && !event.per_cpu.is_empty() {
            for &(cpu, count) in &event.per_cpu {
                let metrics = &cpu_metrics
                    .iter()
                    .find(|(c, _)| *c == cpu)
                    .expect("every CPU of every event has metrics")
                    .1[i];
                let row = Row {
                    event,
                    cpu: Some(cpu),
                    summary: Summary::of_count(&count),
                    metrics,
                    // perf keeps run statistics only for the aggregate, so
                    // a CPU's noise is always 0.
                    noise: multi_run.then_some(0.0),
                };
                write_row(out, prefix, &row, layout)?;
            }
        } else {
            let summary = summaries[i];
            let noise = multi_run.then(|| match summary {
                Summary::Counted { stats, .. } => stats.rel_stderr_percent(),
                _ => 0.0,
            });
            let row = Row {
                event,
                cpu: None,
                summary,
                metrics: &metrics[i],
                noise,
            };
            write_row(out, prefix, &row, layout)?;
        }
    }
    Ok(())
}

fn write_row(out: &mut dyn Write, prefix: &str, row: &Row<'_>, layout: &Layout) -> io::Result<()> {
    let sep = layout.separator();
    let unit = row.event.display_unit();
    let scale = row.event.display_scale();
    let name = &row.event.name;
    let cpu_column = match (row.cpu, layout.is_text()) {
        (Some(cpu), true) => format!("CPU{cpu:<7}{sep}"),
        (Some(cpu), false) => format!("CPU{cpu}{sep}"),
        (None, _) => String::new(),
    };
    out.write_all(prefix.as_bytes())?;
    out.write_all(cpu_column.as_bytes())?;
    match row.summary {
        Summary::Counted {
            stats,
            enabled,
            running,
        } => {
            let value = format_count(stats.mean() * scale, scale, layout.big_num);
            if layout.is_text() {
                let uw = layout.unit_width;
                write!(out, "{value:>COUNT_WIDTH$} {unit:<uw$} {name:<NAME_WIDTH$}")?;
                write_metric_text(out, row.metrics.main.as_ref())?;
                for metric in &row.metrics.continued {
                    // perf's do_new_line_std.
                    write!(out, "\n{prefix}{cpu_column}")?;
                    if row.cpu.is_some() {
                        write!(out, "{:CONTINUED_METRIC_INDENT_PER_CPU$}", "")?;
                    }
                    write!(out, "{:CONTINUED_METRIC_INDENT$}", "")?;
                    write_metric_text(out, Some(metric))?;
                }
                write_noise_text(out, row.noise)?;
                write_running_text(out, enabled, running)?;
            } else {
                write!(out, "{value}{sep}{unit}{sep}{name}")?;
                write_noise_csv(out, sep, row.noise)?;
                write_running_csv(out, sep, enabled, running)?;
                write_metric_csv(out, sep, row.metrics.main.as_ref())?;
                for metric in &row.metrics.continued {
                    // perf's new_line_csv: the metric under the metric
                    // columns, the others left empty.
                    let empty_fields = 3 + usize::from(row.cpu.is_some());
                    write!(out, "\n{prefix}{cpu_column}{}", sep.repeat(empty_fields))?;
                    write_metric_csv(out, sep, Some(metric))?;
                }
            }
        }
        Summary::NotSupported | Summary::NotCounted { .. } => {
            let label = match row.summary {
                Summary::NotSupported => NOT_SUPPORTED,
                _ => NOT_COUNTED,
            };
            let enabled = match row.summary {
                Summary::NotCounted { enabled } => enabled,
                _ => 0,
            };
            if layout.is_text() {
                let uw = layout.unit_width;
                write!(
                    out,
                    "{label:>COUNT_WIDTH$} {unit:<uw$} {name:<NAME_WIDTH_UNCOUNTED$}"
                )?;
                write_metric_text(out, None)?;
                // The mean of an event that never counted is 0, so perf's
                // relative noise is 0, which the text layout omits.
                write_running_text(out, enabled, 0)?;
            } else {
                write!(out, "{label}{sep}{unit}{sep}{name}")?;
                write_noise_csv(out, sep, row.noise.map(|_| 0.0))?;
                write_running_csv(out, sep, enabled, 0)?;
                write_metric_csv(out, sep, None)?;
            }
        }
    }
    writeln!(out)
}

/// A count as perf prints it: no decimals for integer scales, two for
/// fractional ones (`msec`), with thousands separators when asked.
fn format_count(value: f64, scale: f64, big_num: bool) -> String {
    let text = if scale.floor() != scale {
        format!("{value:.2}")
    } else {
        format!("{value:.0}")
    };
    if big_num {
        group_thousands(&text)
    } else {
        text
    }
}

/// Inserts `,` between groups of three digits of the integer part, as
/// printf's `'` flag does in `en_US`.
fn group_thousands(text: &str) -> String {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = match rest.find('.') {
        Some(dot) => rest.split_at(dot),
        None => (rest, ""),
    };
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_string();
    }
    let mut grouped = String::with_capacity(text.len() + int.len() / 3);
    grouped.push_str(sign);
    for (i, digit) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped.push_str(frac);
    grouped
}

/// perf's `print_metric_std`: `" # "`, the value, and the unit padded to
/// the metric column; a blank column when there is no metric.
fn write_metric_text(out: &mut dyn Write, metric: Option<&Metric>) -> io::Result<()> {
    let Some(metric) = metric else {
        return write!(out, "{:METRIC_WIDTH$}", "");
    };
    let value = metric.formatted();
    let used = 3 + value.len();
    // printf takes a negative width as left-justification of its absolute
    // value; the unit is left-justified anyway.
    let width = (METRIC_WIDTH as isize - used as isize - 1).unsigned_abs();
    write!(out, " # {value} {:<width$}", metric.unit)
}

fn write_noise_text(out: &mut dyn Write, noise: Option<f64>) -> io::Result<()> {
    match noise {
        Some(pct) if pct != 0.0 => write!(out, "  ( +-{pct:6.2}% )"),
        _ => Ok(()),
    }
}

fn write_running_text(out: &mut dyn Write, enabled: u64, running: u64) -> io::Result<()> {
    if running != enabled && enabled != 0 {
        write!(out, "  ({:.2}%)", 100.0 * running as f64 / enabled as f64)?;
    }
    Ok(())
}

fn write_noise_csv(out: &mut dyn Write, sep: &str, noise: Option<f64>) -> io::Result<()> {
    match noise {
        Some(pct) => write!(out, "{sep}{pct:.2}%"),
        None => Ok(()),
    }
}

fn write_running_csv(out: &mut dyn Write, sep: &str, enabled: u64, running: u64) -> io::Result<()> {
    // perf computes this percentage in integer arithmetic
    // (`100 * run / ena` on u64), so 49.99% prints as 49.00.
    let percent = if running != enabled && enabled != 0 {
        (100 * u128::from(running) / u128::from(enabled)) as f64
    } else {
        100.0
    };
    write!(out, "{sep}{running}{sep}{percent:.2}")
}

fn write_metric_csv(out: &mut dyn Write, sep: &str, metric: Option<&Metric>) -> io::Result<()> {
    match metric {
        Some(metric) => write!(out, "{sep}{}{sep}{}", metric.csv_value(), metric.unit),
        None => write!(out, "{sep}{sep}"),
    }
}

/// perf's `get_precision`: two digits more than the first significant
/// digit of the standard error.
fn elapsed_precision(stderr_seconds: f64) -> usize {
    if stderr_seconds > 1.0 {
        return 2;
    }
    let digits = (-stderr_seconds.log10()).ceil();
    // For a zero error perf rounds infinity to an integer, which on x86-64
    // comes out as 0 once narrowed to an int.
    let digits = if digits.is_finite() { digits } else { 0.0 };
    (digits.max(0.0) as usize) + 2
}

fn write_footer(out: &mut dyn Write, r: &StatResult, wall: &RunStats) -> io::Result<()> {
    let mean = wall.mean() / 1e9;
    writeln!(out)?;
    if r.runs <= 1 {
        write!(out, " {mean:17.9} seconds time elapsed")?;
        if let (Some(user), Some(sys)) = (r.user_ns, r.sys_ns) {
            write!(out, "\n\n")?;
            writeln!(out, " {:17.9} seconds user", user as f64 / 1e9)?;
            writeln!(out, " {:17.9} seconds sys", sys as f64 / 1e9)?;
        }
    } else {
        let stderr = wall.stddev_of_mean() / 1e9;
        let p = elapsed_precision(stderr);
        write!(out, " {mean:17.p$} +- {stderr:.p$} seconds time elapsed")?;
        write_noise_text(out, Some(rel_percent(stderr, mean)))?;
    }
    write!(out, "\n\n")
}

// ---------------------------------------------------------------------------
// JSON

/// The schema name and version of a result document.
pub const JSON_SCHEMA: &str = crate::results::SCHEMA;
/// The schema name and version of an interval line.
pub const JSON_INTERVAL_SCHEMA: &str = "strobe-stat-interval/1";

fn number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

fn metrics_json(metrics: &EventMetrics) -> serde_json::Value {
    metrics
        .all()
        .map(|m| serde_json::json!({ "value": number(m.value), "unit": m.unit }))
        .collect::<Vec<_>>()
        .into()
}

fn run_json(count: &Count, scale: f64) -> serde_json::Value {
    match *count {
        Count::Counted {
            raw,
            scaled,
            enabled,
            running,
        } => serde_json::json!({
            "counted": true,
            "raw": raw,
            "count": number(scaled),
            "value": number(scaled * scale),
            "time_enabled": enabled,
            "time_running": running,
        }),
        Count::NotCounted { enabled } => serde_json::json!({
            "counted": false,
            "raw": null,
            "count": null,
            "value": null,
            "time_enabled": enabled,
            "time_running": 0,
        }),
        Count::NotSupported => serde_json::json!({
            "counted": false,
            "raw": null,
            "count": null,
            "value": null,
            "time_enabled": null,
            "time_running": null,
        }),
    }
}

fn event_json(
    event: &EventCounts,
    summary: &Summary,
    metrics: &EventMetrics,
    cpu_metrics: &[(u32, Vec<EventMetrics>)],
    index: usize,
) -> serde_json::Value {
    let scale = event.display_scale();
    let unit = event.display_unit();
    let (count, stderr, rel, counted_runs, enabled, running) = match summary {
        Summary::Counted {
            stats,
            enabled,
            running,
        } => {
            let several = stats.n() > 1;
            (
                number(stats.mean()),
                if several {
                    number(stats.stddev_of_mean() * scale)
                } else {
                    serde_json::Value::Null
                },
                if several {
                    number(stats.rel_stderr_percent())
                } else {
                    serde_json::Value::Null
                },
                stats.n(),
                serde_json::Value::from(*enabled),
                serde_json::Value::from(*running),
            )
        }
        Summary::NotCounted { enabled } => (
            serde_json::Value::Null,
            serde_json::Value::Null,
            serde_json::Value::Null,
            0,
            serde_json::Value::from(*enabled),
            serde_json::Value::from(0),
        ),
        Summary::NotSupported => (
            serde_json::Value::Null,
            serde_json::Value::Null,
            serde_json::Value::Null,
            0,
            serde_json::Value::Null,
            serde_json::Value::Null,
        ),
    };
    let (last_enabled, last_running) = match summary {
        Summary::Counted {
            enabled, running, ..
        } => (*enabled, *running),
        Summary::NotCounted { enabled } => (*enabled, 0),
        Summary::NotSupported => (0, 0),
    };
    let percent_running = if last_enabled > 0 {
        number(100.0 * last_running as f64 / last_enabled as f64)
    } else {
        serde_json::Value::Null
    };
    let per_cpu: Vec<serde_json::Value> = cpu_metrics
        .iter()
        .filter_map(|(cpu, metrics)| {
            let (_, count) = event.per_cpu.iter().find(|(c, _)| c == cpu)?;
            let mut entry = run_json(count, scale);
            let object = entry.as_object_mut()?;
            object.insert("cpu".into(), (*cpu).into());
            object.insert("supported".into(), count.is_supported().into());
            object.insert(
                "percent_running".into(),
                count
                    .percent_running()
                    .map(number)
                    .unwrap_or(serde_json::Value::Null),
            );
            object.insert("metrics".into(), metrics_json(&metrics[index]));
            Some(entry)
        })
        .collect();
    let value = summary
        .count()
        .map(|c| number(c * scale))
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "name": event.name,
        "unit": if unit.is_empty() { serde_json::Value::Null } else { unit.into() },
        "scale": number(scale),
        "supported": !matches!(summary, Summary::NotSupported),
        "counted": matches!(summary, Summary::Counted { .. }),
        "value": value,
        "count": count,
        "stderr": stderr,
        "rel_stderr_percent": rel,
        "counted_runs": counted_runs,
        "time_enabled": enabled,
        "time_running": running,
        "percent_running": percent_running,
        "metrics": metrics_json(metrics),
        "runs": event.runs.iter().map(|c| run_json(c, scale)).collect::<Vec<_>>(),
        "per_cpu": per_cpu,
    })
}

fn events_json(
    events: &[EventCounts],
    summaries: &[Summary],
    wall_ns: Option<f64>,
    per_cpu: bool,
) -> Vec<serde_json::Value> {
    let inputs = metric_inputs(events, summaries.iter().map(Summary::count));
    let mut cpus: Vec<u32> = Vec::new();
    if per_cpu {
        for event in events {
            for &(cpu, _) in &event.per_cpu {
                if !cpus.contains(&cpu) {
                    cpus.push(cpu);
                }
            }
        }
    }
    let cpu_metrics: Vec<(u32, Vec<EventMetrics>)> = cpus
        .iter()
        .map(|&cpu| (cpu, per_cpu_metrics(events, cpu, wall_ns)))
        .collect();
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let metrics = metrics_for(i, &inputs, wall_ns);
            event_json(event, &summaries[i], &metrics, &cpu_metrics, i)
        })
        .collect()
}

fn result_json(
    r: &StatResult,
    summaries: &[Summary],
    wall: &RunStats,
    wall_mean: Option<f64>,
    per_cpu: bool,
) -> serde_json::Value {
    let several = wall.n() > 1;
    serde_json::json!({
        "schema": JSON_SCHEMA,
        "kind": "stat",
        "host": r.host,
        "results": result_series(r),
        "target": r.target,
        "runs": r.runs,
        "exit_status": r.exit_status,
        "wall_time": {
            "mean_ns": number(wall.mean()),
            "stderr_ns": if several { number(wall.stddev_of_mean()) } else { serde_json::Value::Null },
            "rel_stderr_percent": if several { number(wall.rel_stderr_percent()) } else { serde_json::Value::Null },
            "values_ns": r.wall_ns,
        },
        "user_ns": r.user_ns,
        "sys_ns": r.sys_ns,
        "events": events_json(&r.events, summaries, wall_mean, per_cpu),
    })
}

/// The results-schema series of a stat run: the elapsed time and each
/// counted event, every run's value, lower being better (stat counts work
/// and time). Events that never counted have no series.
fn result_series(r: &StatResult) -> Vec<Series> {
    let name = r.target.trim_matches('\'').to_string();
    let mut series = vec![Series {
        name: name.clone(),
        metric: "elapsed".into(),
        unit: "seconds".into(),
        better: Better::Lower,
        samples: r.wall_ns.iter().map(|&ns| ns as f64 / 1e9).collect(),
    }];
    for event in &r.events {
        let scale = event.display_scale();
        let samples: Vec<f64> = event
            .runs
            .iter()
            .filter_map(Count::scaled)
            .map(|v| v * scale)
            .collect();
        if samples.is_empty() {
            continue;
        }
        series.push(Series {
            name: name.clone(),
            metric: event.name.clone(),
            unit: event.display_unit().to_string(),
            better: Better::Lower,
            samples,
        });
    }
    series
}

fn interval_json(
    iv: &Interval,
    summaries: &[Summary],
    wall_ns: Option<f64>,
    per_cpu: bool,
) -> serde_json::Value {
    serde_json::json!({
        "schema": JSON_INTERVAL_SCHEMA,
        "time_ns": iv.time_ns,
        "interval_ns": iv.interval_ns,
        "events": events_json(&iv.events, summaries, wall_ns, per_cpu),
    })
}

#[cfg(test)]
mod tests {
    //! The golden texts below are perf 6.1's own output (Debian's
    //! linux-perf 6.1), captured on a 2-CPU VM without a hardware PMU. Each
    //! names the command that produced it. The inputs are the exact counts
    //! perf read: from `perf stat -v` (which prints each counter's value,
    //! enabled and running times), or from `perf script` on a
    //! `perf stat record` file. The hardware-event goldens come from such a
    //! file whose STAT records were rewritten with synthetic counts and
    //! replayed with `perf stat report`, which prints through the same
    //! display code as a live `perf stat`; that is how the multiplexed
    //! `(50.00%)` and `<not counted> ... (0.00%)` lines were obtained on a
    //! machine that cannot multiplex.

    use super::*;

    fn counted(value: u64, enabled: u64, running: u64) -> Count {
        Count::from_reading(Reading {
            value,
            time_enabled: enabled,
            time_running: running,
        })
    }

    /// Full-time counts, as software events always are.
    fn full(value: u64, ns: u64) -> Count {
        counted(value, ns, ns)
    }

    fn event(name: &str, runs: Vec<Count>) -> EventCounts {
        EventCounts {
            runs,
            ..EventCounts::new(name)
        }
    }

    /// An event read on two CPUs: the aggregate is the sum of the
    /// readings, scaled afterwards, as perf 6.1 aggregates.
    fn two_cpus(name: &str, cpu0: (u64, u64, u64), cpu1: Option<(u64, u64, u64)>) -> EventCounts {
        let cpu1 = cpu1.unwrap_or((0, 0, 0));
        let sum = (cpu0.0 + cpu1.0, cpu0.1 + cpu1.1, cpu0.2 + cpu1.2);
        EventCounts {
            runs: vec![counted(sum.0, sum.1, sum.2)],
            per_cpu: vec![
                (0, counted(cpu0.0, cpu0.1, cpu0.2)),
                (1, counted(cpu1.0, cpu1.1, cpu1.2)),
            ],
            ..EventCounts::new(name)
        }
    }

    fn unsupported_two_cpus(name: &str) -> EventCounts {
        EventCounts {
            runs: vec![Count::NotSupported],
            per_cpu: vec![(0, Count::NotSupported), (1, Count::NotSupported)],
            ..EventCounts::new(name)
        }
    }

    fn render(r: &StatResult, format: &Format, per_cpu: bool) -> String {
        let mut out = Vec::new();
        write_result(&mut out, r, format, per_cpu).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn render_intervals(ivs: &[Interval], format: &Format, per_cpu: bool) -> String {
        let mut out = Vec::new();
        for (i, iv) in ivs.iter().enumerate() {
            write_interval(&mut out, iv, format, i == 0, per_cpu).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn csv() -> Format {
        Format::Csv {
            separator: ",".into(),
        }
    }

    /// Compares line by line first, so that a failure names the line.
    fn assert_golden(actual: &str, expected: &[&str]) {
        let expected = expected.join("\n");
        for (n, (a, e)) in actual.split('\n').zip(expected.split('\n')).enumerate() {
            assert_eq!(a, e, "line {n} differs");
        }
        assert_eq!(actual, expected);
    }

    // -- counts and statistics ---------------------------------------------

    #[test]
    fn multiplexed_reading_is_scaled_and_truncated_like_perf() {
        // perf: (u64)((double)3000000000 * 1234567891 / 617283945)
        // = (u64)6000000004.86... = 6000000004.
        let count = counted(3_000_000_000, 1_234_567_891, 617_283_945);
        assert_eq!(
            count,
            Count::Counted {
                raw: 3_000_000_000,
                scaled: 6_000_000_004.0,
                enabled: 1_234_567_891,
                running: 617_283_945,
            }
        );
        assert_eq!(counted(100, 200, 50).scaled(), Some(400.0));
        // 7 * 3 / 2 = 10.5, truncated.
        assert_eq!(counted(7, 3, 2).scaled(), Some(10.0));
    }

    #[test]
    fn full_time_reading_is_not_scaled() {
        assert_eq!(full(12345, 999).scaled(), Some(12345.0));
        assert_eq!(full(12345, 999).percent_running(), Some(100.0));
    }

    #[test]
    fn reading_that_never_ran_is_not_counted() {
        assert_eq!(counted(0, 500, 0), Count::NotCounted { enabled: 500 });
        assert_eq!(counted(0, 0, 0), Count::NotCounted { enabled: 0 });
        assert_eq!(counted(0, 500, 0).scaled(), None);
        assert_eq!(counted(0, 500, 0).percent_running(), Some(0.0));
        assert_eq!(counted(0, 0, 0).percent_running(), None);
        assert_eq!(Count::NotSupported.percent_running(), None);
        assert!(!Count::NotSupported.is_supported());
    }

    #[test]
    fn percent_running_is_running_over_enabled() {
        assert_eq!(counted(1, 400, 100).percent_running(), Some(25.0));
        let p = counted(1, 1_234_567_891, 925_925_918)
            .percent_running()
            .unwrap();
        assert!((p - 74.999_999_9).abs() < 1e-6, "{p}");
    }

    #[test]
    fn run_stats_match_perfs_formula() {
        // Values 2, 4, 9: mean 5; sample variance ((−3)² + (−1)² + 4²) / 2
        // = 13; variance of the mean 13 / 3; standard error sqrt(13/3).
        let mut stats = RunStats::new();
        for x in [2.0, 4.0, 9.0] {
            stats.push(x);
        }
        assert_eq!(stats.n(), 3);
        assert_eq!(stats.mean(), 5.0);
        let stderr = (13.0f64 / 3.0).sqrt();
        assert!((stats.stddev_of_mean() - stderr).abs() < 1e-12);
        assert!((stats.rel_stderr_percent() - 100.0 * stderr / 5.0).abs() < 1e-12);
        // 41.63%, as the text would show it.
        assert_eq!(format!("{:6.2}", stats.rel_stderr_percent()), " 41.63");
    }

    #[test]
    fn run_stats_of_one_value_or_zero_mean_have_no_error() {
        let mut one = RunStats::new();
        one.push(7.0);
        assert_eq!(one.stddev_of_mean(), 0.0);
        assert_eq!(one.rel_stderr_percent(), 0.0);
        let mut zeros = RunStats::new();
        zeros.push(0.0);
        zeros.push(0.0);
        assert_eq!(zeros.rel_stderr_percent(), 0.0);
        assert_eq!(RunStats::new().mean(), 0.0);
    }

    #[test]
    fn run_stats_of_two_values() {
        // 1 and 2: mean 1.5, s² = 0.5, stderr sqrt(0.25) = 0.5, 33.33%.
        let mut stats = RunStats::new();
        stats.push(1.0);
        stats.push(2.0);
        assert_eq!(stats.stddev_of_mean(), 0.5);
        assert_eq!(format!("{:.2}", stats.rel_stderr_percent()), "33.33");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(group_thousands("6000000004"), "6,000,000,004");
        assert_eq!(group_thousands("2000.00"), "2,000.00");
        assert_eq!(group_thousands("999.99"), "999.99");
        assert_eq!(group_thousands("1234"), "1,234");
        assert_eq!(group_thousands("0"), "0");
        assert_eq!(group_thousands("-1234567"), "-1,234,567");
    }

    #[test]
    fn rates_take_perfs_prefixes() {
        assert_eq!(per_second(999.0), (999.0, "/sec"));
        // perf's test is `> 1000`, so exactly 1000 stays unprefixed and
        // 1,000,000 is `1000.000 K/sec`.
        assert_eq!(per_second(1000.0), (1000.0, "/sec"));
        assert_eq!(per_second(1_000_000.0), (1000.0, "K/sec"));
        assert_eq!(per_second(2_500_000.0), (2.5, "M/sec"));
        assert_eq!(per_second(3e12), (3000.0, "G/sec"));
    }

    #[test]
    fn elapsed_precision_is_two_digits_past_the_error() {
        assert_eq!(elapsed_precision(0.000201), 6);
        assert_eq!(elapsed_precision(0.0665), 4);
        assert_eq!(elapsed_precision(0.5), 3);
        assert_eq!(elapsed_precision(3.0), 2);
        assert_eq!(elapsed_precision(0.0), 2);
    }

    #[test]
    fn event_names_pair_within_one_context() {
        let r = StatResult {
            host: Host::default(),
            target: "'x'".into(),
            events: vec![
                event("cycles:u", vec![full(1000, 10)]),
                event("instructions:k", vec![full(3000, 10)]),
                event("instructions:u", vec![full(2000, 10)]),
                event("sched:sched_switch", vec![full(5, 10)]),
                event("task-clock", vec![full(1_000_000, 1_000_000)]),
            ],
            wall_ns: vec![2_000_000],
            user_ns: None,
            sys_ns: None,
            runs: 1,
            exit_status: None,
        };
        let metrics = derived_metrics(&r);
        assert_eq!(metrics[1].main, None, "cycles:u does not pair with :k");
        let ipc = metrics[2].main.as_ref().unwrap();
        assert_eq!((ipc.value, ipc.unit.as_str()), (2.0, "insn per cycle"));
        // A tracepoint's colon is not a modifier: it gets a rate.
        let rate = metrics[3].main.as_ref().unwrap();
        assert_eq!((rate.value, rate.unit.as_str()), (5.0, "K/sec"));
        let cpus = metrics[4].main.as_ref().unwrap();
        assert_eq!((cpus.value, cpus.unit.as_str()), (0.5, "CPUs utilized"));
    }

    #[test]
    fn ratio_needs_its_base_counted() {
        let r = StatResult {
            host: Host::default(),
            target: "'x'".into(),
            events: vec![
                event("branches", vec![counted(0, 100, 0)]),
                event("branch-misses", vec![full(10, 100)]),
                event("cache-misses", vec![full(10, 100)]),
            ],
            wall_ns: vec![100],
            user_ns: None,
            sys_ns: None,
            runs: 1,
            exit_status: None,
        };
        let metrics = derived_metrics(&r);
        assert_eq!(metrics[1], EventMetrics::default());
        assert_eq!(metrics[2], EventMetrics::default());
    }

    #[test]
    fn an_interval_event_from_a_name_and_a_count() {
        let event = EventCounts::from(("task-clock".to_string(), full(5, 5)));
        assert_eq!(event.runs, [full(5, 5)]);
        assert!(event.per_cpu.is_empty());
        assert_eq!(
            (event.display_unit(), event.display_scale()),
            ("msec", 1e-6)
        );
        let joules = EventCounts {
            unit: Some("Joules".into()),
            scale: 2.3e-10,
            ..EventCounts::new("power/energy-pkg/")
        };
        assert_eq!(
            (joules.display_unit(), joules.display_scale()),
            ("Joules", 2.3e-10)
        );
    }

    #[test]
    fn a_long_unit_widens_the_unit_column() {
        // perf sizes the unit column to the longest unit (at least 4).
        let iv = Interval {
            time_ns: 1_000_000_000,
            interval_ns: 1_000_000_000,
            events: vec![EventCounts {
                unit: Some("Joules".into()),
                scale: 0.5,
                runs: vec![full(3, 10)],
                ..EventCounts::new("power/energy-pkg/")
            }],
        };
        let mut out = Vec::new();
        write_interval(&mut out, &iv, &Format::Text, true, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "#           time             counts   unit events"
        );
        assert!(lines[1].starts_with(
            "     1.000000000               1.50 Joules power/energy-pkg/                "
        ));
    }

    #[test]
    fn target_wording() {
        let argv = vec!["sleep".to_string(), "1".to_string()];
        assert_eq!(Target::Command(&argv).describe(), "'sleep 1'");
        assert_eq!(Target::SystemWide.describe(), "'system wide'");
        assert_eq!(Target::Cpus("0-1").describe(), "'CPU(s) 0-1'");
        assert_eq!(Target::Processes("123").describe(), "process id '123'");
        assert_eq!(Target::Threads("7").describe(), "thread id '7'");
    }

    // -- text, single run ----------------------------------------------------

    /// `perf stat -v -e task-clock,context-switches,cpu-migrations,page-faults,cycles -- sleep 0.1`
    /// in the C locale. `-v` printed `task-clock: 725706 725706 725706`,
    /// `context-switches: 1 ...`, `cpu-migrations: 0 ...`,
    /// `page-faults: 75 ...`, all with the same times.
    const SLEEP_TEXT: &[&str] = &[
        "",
        " Performance counter stats for 'sleep 0.1':",
        "",
        "              0.73 msec task-clock                       #    0.007 CPUs utilized          ",
        "                 1      context-switches                 #    1.378 K/sec                  ",
        "                 0      cpu-migrations                   #    0.000 /sec                   ",
        "                75      page-faults                      #  103.348 K/sec                  ",
        "   <not supported>      cycles                                                      ",
        "",
        "       0.101392509 seconds time elapsed",
        "",
        "       0.001346000 seconds user",
        "       0.000000000 seconds sys",
        "",
        "",
        "",
    ];

    fn sleep_result() -> StatResult {
        let ns = 725_706;
        StatResult {
            host: Host::default(),
            target: Target::Command(&["sleep".into(), "0.1".into()]).describe(),
            events: vec![
                event("task-clock", vec![full(725_706, ns)]),
                event("context-switches", vec![full(1, ns)]),
                event("cpu-migrations", vec![full(0, ns)]),
                event("page-faults", vec![full(75, ns)]),
                event("cycles", vec![Count::NotSupported]),
            ],
            wall_ns: vec![101_392_509],
            user_ns: Some(1_346_000),
            sys_ns: Some(0),
            runs: 1,
            exit_status: Some(0),
        }
    }

    #[test]
    fn text_matches_perf_for_a_command() {
        assert_golden(
            &render(&sleep_result(), &Format::PlainText, false),
            SLEEP_TEXT,
        );
        // Nothing here reaches a thousand.
        assert_golden(&render(&sleep_result(), &Format::Text, false), SLEEP_TEXT);
    }

    /// The recording command `perf stat report` names as the target of the
    /// synthetic hardware-event file.
    const HW_TARGET: &str = "'/usr/bin/perf stat record -o hw.data -a -e task-clock,cycles,instructions,branches,branch-misses,cache-references,cache-misses,L1-dcache-loads,L1-dcache-load-misses,L1-icache-loads,L1-icache-load-misses,dTLB-loads,dTLB-load-misses,iTLB-loads,iTLB-load-misses,LLC-loads,LLC-load-misses,stalled-cycles-frontend,stalled-cycles-backend,context-switches -- sleep 0.2'";

    /// Synthetic counts on two CPUs (value, enabled, running), replayed by
    /// `perf stat report`: CPU 1 counted only task-clock and
    /// context-switches; cycles and LLC-load-misses ran 50% and 75% of the
    /// time on CPU 0; L1-icache-loads was enabled but never ran; the wall
    /// time is 1 s.
    fn hw_result() -> StatResult {
        let t = 1_234_567_891;
        let full0 = |v| (v, t, t);
        StatResult {
            host: Host::default(),
            target: HW_TARGET.into(),
            events: vec![
                two_cpus(
                    "task-clock",
                    full0(1_234_567_891),
                    Some((765_432_109, 765_432_109, 765_432_109)),
                ),
                two_cpus("cycles", (3_000_000_000, t, 617_283_945), None),
                two_cpus("instructions", full0(4_500_000_000), None),
                two_cpus("branches", full0(900_000_000), None),
                two_cpus("branch-misses", full0(12_345_678), None),
                two_cpus("cache-references", full0(50_000_000), None),
                two_cpus("cache-misses", full0(1_234_567), None),
                two_cpus("L1-dcache-loads", full0(1_000_000_000), None),
                two_cpus("L1-dcache-load-misses", full0(33_333_333), None),
                two_cpus("L1-icache-loads", (0, t, 0), None),
                two_cpus("L1-icache-load-misses", full0(777), None),
                two_cpus("dTLB-loads", full0(5_000_000), None),
                two_cpus("dTLB-load-misses", full0(4_321), None),
                two_cpus("iTLB-loads", full0(0), None),
                two_cpus("iTLB-load-misses", full0(10), None),
                two_cpus("LLC-loads", full0(2_000_000), None),
                two_cpus("LLC-load-misses", (500_000, t, 925_925_918), None),
                two_cpus("stalled-cycles-frontend", full0(600_000_000), None),
                two_cpus("stalled-cycles-backend", full0(900_000_000), None),
                two_cpus(
                    "context-switches",
                    full0(47),
                    Some((72, 765_432_109, 765_432_109)),
                ),
            ],
            wall_ns: vec![1_000_000_000],
            user_ns: None,
            sys_ns: None,
            runs: 1,
            exit_status: None,
        }
    }

    /// `perf stat report -i hw1.data` (C locale), with one line changed:
    /// perf prints `#    0.00% of all L1-icache accesses` for
    /// L1-icache-load-misses although L1-icache-loads was not counted;
    /// strobe gives a ratio only when both counts exist, and leaves the
    /// column blank.
    const HW_TEXT: &[&str] = &[
        "",
        " Performance counter stats for '/usr/bin/perf stat record -o hw.data -a -e task-clock,cycles,instructions,branches,branch-misses,cache-references,cache-misses,L1-dcache-loads,L1-dcache-load-misses,L1-icache-loads,L1-icache-load-misses,dTLB-loads,dTLB-load-misses,iTLB-loads,iTLB-load-misses,LLC-loads,LLC-load-misses,stalled-cycles-frontend,stalled-cycles-backend,context-switches -- sleep 0.2':",
        "",
        "           2000.00 msec task-clock                       #    2.000 CPUs utilized          ",
        "        6000000004      cycles                           #    3.000 GHz                      (50.00%)",
        "        4500000000      instructions                     #    0.75  insn per cycle         ",
        "                                                  #    0.20  stalled cycles per insn",
        "         900000000      branches                         #  450.000 M/sec                  ",
        "          12345678      branch-misses                    #    1.37% of all branches        ",
        "          50000000      cache-references                 #   25.000 M/sec                  ",
        "           1234567      cache-misses                     #    2.469 % of all cache refs    ",
        "        1000000000      L1-dcache-loads                  #  500.000 M/sec                  ",
        "          33333333      L1-dcache-load-misses            #    3.33% of all L1-dcache accesses",
        "     <not counted>      L1-icache-loads                                               (0.00%)",
        "               777      L1-icache-load-misses                                              ",
        "           5000000      dTLB-loads                       #    2.500 M/sec                  ",
        "              4321      dTLB-load-misses                 #    0.09% of all dTLB cache accesses",
        "                 0      iTLB-loads                       #    0.000 /sec                   ",
        "                10      iTLB-load-misses                 #    0.00% of all iTLB cache accesses",
        "           2000000      LLC-loads                        # 1000.000 K/sec                  ",
        "            666666      LLC-load-misses                  #   33.33% of all LL-cache accesses  (75.00%)",
        "         600000000      stalled-cycles-frontend          #   10.00% frontend cycles idle   ",
        "         900000000      stalled-cycles-backend           #   15.00% backend cycles idle    ",
        "               119      context-switches                 #   59.500 /sec                   ",
        "",
        "       1.000000000 seconds time elapsed",
        "",
        "",
    ];

    #[test]
    fn text_matches_perf_for_hardware_metrics_and_multiplexing() {
        assert_golden(&render(&hw_result(), &Format::PlainText, false), HW_TEXT);
    }

    /// `LC_ALL=en_US.UTF-8 perf stat report -i hw1.data`: the same, with
    /// perf's default thousands separators (same L1-icache change).
    const HW_TEXT_BIG_NUM: &[&str] = &[
        "          2,000.00 msec task-clock                       #    2.000 CPUs utilized          ",
        "     6,000,000,004      cycles                           #    3.000 GHz                      (50.00%)",
        "     4,500,000,000      instructions                     #    0.75  insn per cycle         ",
        "                                                  #    0.20  stalled cycles per insn",
        "       900,000,000      branches                         #  450.000 M/sec                  ",
        "        12,345,678      branch-misses                    #    1.37% of all branches        ",
        "        50,000,000      cache-references                 #   25.000 M/sec                  ",
        "         1,234,567      cache-misses                     #    2.469 % of all cache refs    ",
        "     1,000,000,000      L1-dcache-loads                  #  500.000 M/sec                  ",
        "        33,333,333      L1-dcache-load-misses            #    3.33% of all L1-dcache accesses",
        "     <not counted>      L1-icache-loads                                               (0.00%)",
        "               777      L1-icache-load-misses                                              ",
        "         5,000,000      dTLB-loads                       #    2.500 M/sec                  ",
        "             4,321      dTLB-load-misses                 #    0.09% of all dTLB cache accesses",
        "                 0      iTLB-loads                       #    0.000 /sec                   ",
        "                10      iTLB-load-misses                 #    0.00% of all iTLB cache accesses",
        "         2,000,000      LLC-loads                        # 1000.000 K/sec                  ",
        "           666,666      LLC-load-misses                  #   33.33% of all LL-cache accesses  (75.00%)",
        "       600,000,000      stalled-cycles-frontend          #   10.00% frontend cycles idle   ",
        "       900,000,000      stalled-cycles-backend           #   15.00% backend cycles idle    ",
        "               119      context-switches                 #   59.500 /sec                   ",
    ];

    #[test]
    fn text_has_perfs_thousands_separators() {
        let text = render(&hw_result(), &Format::Text, false);
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(&lines[3..3 + HW_TEXT_BIG_NUM.len()], HW_TEXT_BIG_NUM);
    }

    /// `perf stat -x, report -i hw1.data` (same L1-icache change: perf has
    /// `0.00,of all L1-icache accesses` where strobe has empty fields).
    const HW_CSV: &[&str] = &[
        "2000.00,msec,task-clock,2000000000,100.00,2.000,CPUs utilized",
        "6000000004,,cycles,617283945,49.00,3.000,GHz",
        "4500000000,,instructions,1234567891,100.00,0.75,insn per cycle",
        ",,,,0.20,stalled cycles per insn",
        "900000000,,branches,1234567891,100.00,450.000,M/sec",
        "12345678,,branch-misses,1234567891,100.00,1.37,of all branches",
        "50000000,,cache-references,1234567891,100.00,25.000,M/sec",
        "1234567,,cache-misses,1234567891,100.00,2.469,of all cache refs",
        "1000000000,,L1-dcache-loads,1234567891,100.00,500.000,M/sec",
        "33333333,,L1-dcache-load-misses,1234567891,100.00,3.33,of all L1-dcache accesses",
        "<not counted>,,L1-icache-loads,0,0.00,,",
        "777,,L1-icache-load-misses,1234567891,100.00,,",
        "5000000,,dTLB-loads,1234567891,100.00,2.500,M/sec",
        "4321,,dTLB-load-misses,1234567891,100.00,0.09,of all dTLB cache accesses",
        "0,,iTLB-loads,1234567891,100.00,0.000,/sec",
        "10,,iTLB-load-misses,1234567891,100.00,0.00,of all iTLB cache accesses",
        "2000000,,LLC-loads,1234567891,100.00,1000.000,K/sec",
        "666666,,LLC-load-misses,925925918,74.00,33.33,of all LL-cache accesses",
        "600000000,,stalled-cycles-frontend,1234567891,100.00,10.00,frontend cycles idle",
        "900000000,,stalled-cycles-backend,1234567891,100.00,15.00,backend cycles idle",
        "119,,context-switches,2000000000,100.00,59.500,/sec",
        "",
    ];

    #[test]
    fn csv_matches_perf_including_truncated_running_percent() {
        assert_golden(&render(&hw_result(), &csv(), false), HW_CSV);
    }

    #[test]
    fn csv_takes_any_separator() {
        // `perf stat -x';' report -i hw1.data`, first lines.
        let format = Format::Csv {
            separator: ";".into(),
        };
        let text = render(&hw_result(), &format, false);
        let lines: Vec<&str> = text.lines().take(4).collect();
        assert_eq!(
            lines,
            [
                "2000.00;msec;task-clock;2000000000;100.00;2.000;CPUs utilized",
                "6000000004;;cycles;617283945;49.00;3.000;GHz",
                "4500000000;;instructions;1234567891;100.00;0.75;insn per cycle",
                ";;;;0.20;stalled cycles per insn",
            ]
        );
    }

    /// `perf stat report -A -i hw1.data` (C locale; same L1-icache change
    /// on CPU0).
    const HW_PER_CPU_TEXT: &[&str] = &[
        "CPU0                  1234.57 msec task-clock                       #    1.235 CPUs utilized          ",
        "CPU1                   765.43 msec task-clock                       #    0.765 CPUs utilized          ",
        "CPU0               6000000004      cycles                           #    4.860 GHz                      (50.00%)",
        "CPU1            <not counted>      cycles                                                      ",
        "CPU0               4500000000      instructions                     #    0.75  insn per cycle         ",
        "CPU0                                                                 #    0.20  stalled cycles per insn",
        "CPU1            <not counted>      instructions                                                ",
        "CPU0                900000000      branches                         #  729.000 M/sec                  ",
        "CPU1            <not counted>      branches                                                    ",
        "CPU0                 12345678      branch-misses                    #    1.37% of all branches        ",
        "CPU1            <not counted>      branch-misses                                               ",
        "CPU0                 50000000      cache-references                 #   40.500 M/sec                  ",
        "CPU1            <not counted>      cache-references                                            ",
        "CPU0                  1234567      cache-misses                     #    2.469 % of all cache refs    ",
        "CPU1            <not counted>      cache-misses                                                ",
        "CPU0               1000000000      L1-dcache-loads                  #  810.000 M/sec                  ",
        "CPU1            <not counted>      L1-dcache-loads                                             ",
        "CPU0                 33333333      L1-dcache-load-misses            #    3.33% of all L1-dcache accesses",
        "CPU1            <not counted>      L1-dcache-load-misses                                       ",
        "CPU0            <not counted>      L1-icache-loads                                               (0.00%)",
        "CPU1            <not counted>      L1-icache-loads                                             ",
        "CPU0                      777      L1-icache-load-misses                                              ",
        "CPU1            <not counted>      L1-icache-load-misses                                       ",
        "CPU0                  5000000      dTLB-loads                       #    4.050 M/sec                  ",
        "CPU1            <not counted>      dTLB-loads                                                  ",
        "CPU0                     4321      dTLB-load-misses                 #    0.09% of all dTLB cache accesses",
        "CPU1            <not counted>      dTLB-load-misses                                            ",
        "CPU0                        0      iTLB-loads                       #    0.000 /sec                   ",
        "CPU1            <not counted>      iTLB-loads                                                  ",
        "CPU0                       10      iTLB-load-misses                 #    0.00% of all iTLB cache accesses",
        "CPU1            <not counted>      iTLB-load-misses                                            ",
        "CPU0                  2000000      LLC-loads                        #    1.620 M/sec                  ",
        "CPU1            <not counted>      LLC-loads                                                   ",
        "CPU0                   666666      LLC-load-misses                  #   33.33% of all LL-cache accesses  (75.00%)",
        "CPU1            <not counted>      LLC-load-misses                                             ",
        "CPU0                600000000      stalled-cycles-frontend          #   10.00% frontend cycles idle   ",
        "CPU1            <not counted>      stalled-cycles-frontend                                     ",
        "CPU0                900000000      stalled-cycles-backend           #   15.00% backend cycles idle    ",
        "CPU1            <not counted>      stalled-cycles-backend                                      ",
        "CPU0                       47      context-switches                 #   38.070 /sec                   ",
        "CPU1                       72      context-switches                 #   94.065 /sec                   ",
        "",
        "       1.000000000 seconds time elapsed",
        "",
        "",
    ];

    #[test]
    fn per_cpu_text_matches_perf() {
        let text = render(&hw_result(), &Format::PlainText, true);
        let body: Vec<&str> = text.split('\n').skip(3).collect();
        assert_eq!(body.join("\n"), HW_PER_CPU_TEXT.join("\n"));
        assert!(text.starts_with(&format!(
            "\n Performance counter stats for {HW_TARGET}:\n\n"
        )));
    }

    /// `perf stat -x, report -A -i hw1.data`, first CPU-1 rows and the
    /// continued metric (perf leaves one more empty field per CPU column).
    #[test]
    fn per_cpu_csv_matches_perf() {
        let text = render(&hw_result(), &csv(), true);
        let lines: Vec<&str> = text.lines().take(7).collect();
        assert_eq!(
            lines,
            [
                "CPU0,1234.57,msec,task-clock,1234567891,100.00,1.235,CPUs utilized",
                "CPU1,765.43,msec,task-clock,765432109,100.00,0.765,CPUs utilized",
                "CPU0,6000000004,,cycles,617283945,49.00,4.860,GHz",
                "CPU1,<not counted>,,cycles,0,100.00,,",
                "CPU0,4500000000,,instructions,1234567891,100.00,0.75,insn per cycle",
                "CPU0,,,,,,0.20,stalled cycles per insn",
                "CPU1,<not counted>,,instructions,0,100.00,,",
            ]
        );
        assert!(text.contains("\nCPU0,<not counted>,,L1-icache-loads,0,0.00,,\n"));
        assert!(text.ends_with(
            "CPU0,47,,context-switches,1234567891,100.00,38.070,/sec\n\
             CPU1,72,,context-switches,765432109,100.00,94.065,/sec\n"
        ));
    }

    /// `LC_ALL=en_US.UTF-8 perf stat record -o a.data -a -A -e task-clock,context-switches,cpu-migrations,page-faults,cycles -- sleep 0.5`;
    /// the inputs are `perf script -i a.data`.
    const SYSTEM_WIDE_PER_CPU: &[&str] = &[
        "",
        " Performance counter stats for 'system wide':",
        "",
        "CPU0                   501.63 msec task-clock                       #    1.000 CPUs utilized          ",
        "CPU1                   501.63 msec task-clock                       #    1.000 CPUs utilized          ",
        "CPU0                      146      context-switches                 #  291.051 /sec                   ",
        "CPU1                      173      context-switches                 #  344.873 /sec                   ",
        "CPU0                       20      cpu-migrations                   #   39.870 /sec                   ",
        "CPU1                       19      cpu-migrations                   #   37.876 /sec                   ",
        "CPU0                      530      page-faults                      #    1.057 K/sec                  ",
        "CPU1                      533      page-faults                      #    1.063 K/sec                  ",
        "CPU0          <not supported>      cycles                                                      ",
        "CPU1          <not supported>      cycles                                                      ",
        "",
        "       0.501620203 seconds time elapsed",
        "",
        "",
    ];

    #[test]
    fn system_wide_per_cpu_text_matches_perf() {
        let same = |v, t| (v, t, t);
        let r = StatResult {
            host: Host::default(),
            target: Target::SystemWide.describe(),
            events: vec![
                two_cpus(
                    "task-clock",
                    same(501_629_461, 501_629_461),
                    Some(same(501_633_406, 501_633_406)),
                ),
                two_cpus(
                    "context-switches",
                    same(146, 501_629_601),
                    Some(same(173, 501_633_216)),
                ),
                two_cpus(
                    "cpu-migrations",
                    same(20, 501_629_121),
                    Some(same(19, 501_632_786)),
                ),
                two_cpus(
                    "page-faults",
                    same(530, 501_628_560),
                    Some(same(533, 501_632_205)),
                ),
                unsupported_two_cpus("cycles"),
            ],
            wall_ns: vec![501_620_203],
            // A system-wide count has no command of its own to time.
            user_ns: None,
            sys_ns: None,
            runs: 1,
            exit_status: Some(0),
        };
        assert_golden(&render(&r, &Format::Text, true), SYSTEM_WIDE_PER_CPU);
    }

    // -- repeated runs ---------------------------------------------------------

    /// `perf stat -r 3 -v -e task-clock,context-switches,cpu-migrations,page-faults,cycles -- sleep 0.1`
    /// read task-clock 867466, 1016478, 759608 ns; context-switches 1, 1,
    /// 1; cpu-migrations 0, 0, 0; page-faults 76, 78, 76, and printed:
    ///
    /// ```text
    ///               0.76 msec task-clock                       #    0.007 CPUs utilized            ( +-  9.80% )
    ///                  1      context-switches                 #    1.135 K/sec                  
    ///                  0      cpu-migrations                   #    0.000 /sec                   
    ///                 76      page-faults                      #   86.248 K/sec                    ( +-  0.88% )
    ///    <not supported>      cycles                                                      
    ///
    ///           0.101791 +- 0.000201 seconds time elapsed  ( +-  0.20% )
    /// ```
    ///
    /// perf 6.1 shows the last run's count (0.76 ms, 76) and measures the
    /// noise and CPUs utilized against it, a regression later perfs fixed;
    /// strobe shows the mean (881184 ns = 0.88 ms, 76.67 ≈ 77) and measures
    /// against the mean (task-clock: stderr 74472 ns = 8.45%; page-faults:
    /// 0.87%; 881184 / 101791000 = 0.009 CPUs; 76.67 / 881184 ns = 87.004
    /// K/sec). The wall times are not in perf's output; these three have
    /// its mean and standard error (0.101791 s, 0.000201 s).
    const REPEATED_TEXT: &[&str] = &[
        "",
        " Performance counter stats for 'sleep 0.1' (3 runs):",
        "",
        "              0.88 msec task-clock                       #    0.009 CPUs utilized            ( +-  8.45% )",
        "                 1      context-switches                 #    1.135 K/sec                  ",
        "                 0      cpu-migrations                   #    0.000 /sec                   ",
        "                77      page-faults                      #   87.004 K/sec                    ( +-  0.87% )",
        "   <not supported>      cycles                                                      ",
        "",
        "          0.101791 +- 0.000201 seconds time elapsed  ( +-  0.20% )",
        "",
        "",
    ];

    fn repeated_result(task_clock: [u64; 3], switches: [u64; 3], faults: [u64; 3]) -> StatResult {
        let runs = |values: [u64; 3]| -> Vec<Count> {
            values
                .iter()
                .zip(task_clock)
                .map(|(&v, ns)| full(v, ns))
                .collect()
        };
        StatResult {
            host: Host::default(),
            target: "'sleep 0.1'".into(),
            events: vec![
                event("task-clock", runs(task_clock)),
                event("context-switches", runs(switches)),
                event("cpu-migrations", runs([0; 3])),
                event("page-faults", runs(faults)),
                event("cycles", vec![Count::NotSupported; 3]),
            ],
            wall_ns: vec![101_791_000 - 348_142, 101_791_000, 101_791_000 + 348_142],
            user_ns: None,
            sys_ns: None,
            runs: 3,
            exit_status: Some(0),
        }
    }

    #[test]
    fn repeated_runs_text_shows_mean_and_noise() {
        let r = repeated_result([867_466, 1_016_478, 759_608], [1; 3], [76, 78, 76]);
        assert_golden(&render(&r, &Format::Text, false), REPEATED_TEXT);
    }

    /// `perf stat -x, -r 3 -v -e task-clock,context-switches,cpu-migrations,page-faults,cycles -- sleep 0.1`
    /// read task-clock 793557, 951823, 968938 ns; context-switches 1, 2,
    /// 1; page-faults 75 each, and printed
    ///
    /// ```text
    /// 0.97,msec,task-clock,5.76%,968938,100.00,0.010,CPUs utilized
    /// 1,,context-switches,33.33%,968938,100.00,1.105,K/sec
    /// 0,,cpu-migrations,0.00%,968938,100.00,0.000,/sec
    /// 75,,page-faults,0.00%,968938,100.00,82.894,K/sec
    /// <not supported>,,cycles,0.00%,0,100.00,,
    /// ```
    ///
    /// With the mean instead of the last run (see above): task-clock
    /// 904772.67 ns = 0.90 ms, noise 6.17%; context-switches 1.33 ≈ 1,
    /// noise 25.00%, 1.474 K/sec. The running time is the last run's, as
    /// in every perf. The wall times here are 101.5 ms each.
    #[test]
    fn repeated_runs_csv_has_the_noise_column() {
        let mut r = repeated_result([793_557, 951_823, 968_938], [1, 2, 1], [75; 3]);
        r.wall_ns = vec![101_500_000; 3];
        assert_golden(
            &render(&r, &csv(), false),
            &[
                "0.90,msec,task-clock,6.17%,968938,100.00,0.009,CPUs utilized",
                "1,,context-switches,25.00%,968938,100.00,1.474,K/sec",
                "0,,cpu-migrations,0.00%,968938,100.00,0.000,/sec",
                "75,,page-faults,0.00%,968938,100.00,82.894,K/sec",
                "<not supported>,,cycles,0.00%,0,100.00,,",
                "",
            ],
        );
    }

    #[test]
    fn repeated_runs_average_only_the_runs_that_counted() {
        let r = StatResult {
            host: Host::default(),
            events: vec![event(
                "page-faults",
                vec![full(10, 5), counted(0, 5, 0), full(20, 5)],
            )],
            ..repeated_result([1; 3], [1; 3], [1; 3])
        };
        let text = render(&r, &csv(), false);
        // Mean of 10 and 20; stderr 5 = 33.33% of 15.
        assert_eq!(text, "15,,page-faults,33.33%,5,100.00,,\n");
    }

    #[test]
    fn multiplexed_line_with_noise_puts_noise_before_running() {
        let r = StatResult {
            host: Host::default(),
            events: vec![event(
                "instructions",
                vec![counted(100, 4, 2), counted(300, 4, 2)],
            )],
            wall_ns: vec![1, 1],
            runs: 2,
            ..sleep_result()
        };
        let text = render(&r, &Format::Text, false);
        // Scaled 200 and 600: mean 400, stderr 200 = 50%; running 2 of 4.
        assert!(
            text.contains(
                "               400      instructions                                                         ( +- 50.00% )  (50.00%)\n"
            ),
            "{text}"
        );
    }

    // -- intervals ---------------------------------------------------------------

    /// `LC_ALL=en_US.UTF-8 perf stat record -o iv.data -I 100 -a -e task-clock,context-switches,cycles -- sleep 0.25`;
    /// the inputs are the differences between consecutive cumulative counts
    /// of `perf script -i iv.data`, summed over the two CPUs.
    const IV_TEXT: &[&str] = &[
        "#           time             counts unit events",
        "     0.100250864             200.96 msec task-clock                       #    2.010 CPUs utilized          ",
        "     0.100250864                 20      context-switches                 #   99.521 /sec                   ",
        "     0.100250864    <not supported>      cycles                                                      ",
        "     0.200849204             201.17 msec task-clock                       #    2.012 CPUs utilized          ",
        "     0.200849204                 21      context-switches                 #  104.389 /sec                   ",
        "     0.200849204    <not supported>      cycles                                                      ",
        "     0.251435800             101.09 msec task-clock                       #    1.011 CPUs utilized          ",
        "     0.251435800                 13      context-switches                 #  128.595 /sec                   ",
        "     0.251435800    <not supported>      cycles                                                      ",
        "",
    ];

    /// One interval of task-clock (value, enabled = running) and
    /// context-switches (value, enabled = running), with cycles not
    /// supported.
    fn interval(time_ns: u64, clock: (u64, u64), switches: (u64, u64)) -> Interval {
        Interval {
            time_ns,
            interval_ns: 100_000_000,
            events: vec![
                event("task-clock", vec![full(clock.0, clock.1)]),
                event("context-switches", vec![full(switches.0, switches.1)]),
                event("cycles", vec![Count::NotSupported]),
            ],
        }
    }

    #[test]
    fn interval_text_matches_perf() {
        let ivs = [
            interval(100_250_864, (200_962_576, 200_961_795), (20, 200_985_882)),
            interval(200_849_204, (201_169_836, 201_169_826), (21, 201_167_801)),
            interval(251_435_800, (101_092_866, 101_092_736), (13, 101_090_473)),
        ];
        assert_golden(&render_intervals(&ivs, &Format::Text, false), IV_TEXT);
    }

    /// `perf stat -x, record -o ivcsv.data -I 100 -a -e task-clock,context-switches,cycles -- sleep 0.15`;
    /// inputs as for `IV_TEXT`.
    const IV_CSV: &[&str] = &[
        "     0.100149023,200.66,msec,task-clock,200658767,100.00,2.007,CPUs utilized",
        "     0.100149023,29,,context-switches,200678015,100.00,144.523,/sec",
        "     0.100149023,<not supported>,,cycles,0,100.00,,",
        "     0.151547514,102.79,msec,task-clock,102789142,100.00,1.028,CPUs utilized",
        "     0.151547514,14,,context-switches,102791867,100.00,136.201,/sec",
        "     0.151547514,<not supported>,,cycles,0,100.00,,",
        "",
    ];

    #[test]
    fn interval_csv_matches_perf() {
        let ivs = [
            interval(100_149_023, (200_659_608, 200_658_767), (29, 200_678_015)),
            interval(151_547_514, (102_789_052, 102_789_142), (14, 102_791_867)),
        ];
        assert_golden(&render_intervals(&ivs, &csv(), false), IV_CSV);
    }

    /// One interval per CPU: task-clock and context-switches on CPUs 0
    /// and 1 as (value, enabled = running), cycles not supported.
    fn interval_per_cpu(
        time_ns: u64,
        clock: [(u64, u64); 2],
        switches: [(u64, u64); 2],
    ) -> Interval {
        let on_cpus = |name: &str, v: [(u64, u64); 2]| {
            two_cpus(
                name,
                (v[0].0, v[0].1, v[0].1),
                Some((v[1].0, v[1].1, v[1].1)),
            )
        };
        Interval {
            time_ns,
            interval_ns: 100_000_000,
            events: vec![
                on_cpus("task-clock", clock),
                on_cpus("context-switches", switches),
                unsupported_two_cpus("cycles"),
            ],
        }
    }

    /// `LC_ALL=en_US.UTF-8 perf stat record -o ivA.data -I 100 -a -A -e task-clock,context-switches,cycles -- sleep 0.15`;
    /// the inputs are `perf script -i ivA.data`.
    const IV_PER_CPU_TEXT: &[&str] = &[
        "#           time CPU                    counts unit events",
        "     0.100185377 CPU0                   100.37 msec task-clock                       #    1.004 CPUs utilized          ",
        "     0.100185377 CPU1                   100.40 msec task-clock                       #    1.004 CPUs utilized          ",
        "     0.100185377 CPU0                       14      context-switches                 #  139.489 /sec                   ",
        "     0.100185377 CPU1                       12      context-switches                 #  119.525 /sec                   ",
        "     0.100185377 CPU0          <not supported>      cycles                                                      ",
        "     0.100185377 CPU1          <not supported>      cycles                                                      ",
        "     0.151624559 CPU0                    51.41 msec task-clock                       #    0.514 CPUs utilized          ",
        "     0.151624559 CPU1                    51.40 msec task-clock                       #    0.514 CPUs utilized          ",
        "     0.151624559 CPU0                        5      context-switches                 #   97.252 /sec                   ",
        "     0.151624559 CPU1                        7      context-switches                 #  136.174 /sec                   ",
        "     0.151624559 CPU0          <not supported>      cycles                                                      ",
        "     0.151624559 CPU1          <not supported>      cycles                                                      ",
        "",
    ];

    #[test]
    fn interval_per_cpu_text_matches_perf() {
        let ivs = [
            interval_per_cpu(
                100_185_377,
                [(100_366_628, 100_365_937), (100_397_435, 100_397_295)],
                [(14, 100_382_802), (12, 100_408_881)],
            ),
            interval_per_cpu(
                151_624_559,
                [(51_413_079, 51_413_250), (51_404_636, 51_404_346)],
                [(5, 51_409_364), (7, 51_395_193)],
            ),
        ];
        assert_golden(
            &render_intervals(&ivs, &Format::Text, true),
            IV_PER_CPU_TEXT,
        );
    }

    /// `perf stat -x, record -o ivAcsv.data -I 100 -A -a -e task-clock,context-switches,cycles -- sleep 0.15`;
    /// the inputs are `perf script -i ivAcsv.data`.
    const IV_PER_CPU_CSV: &[&str] = &[
        "     0.100208791,CPU0,100.40,msec,task-clock,100398235,100.00,1.004,CPUs utilized",
        "     0.100208791,CPU1,100.44,msec,task-clock,100439937,100.00,1.004,CPUs utilized",
        "     0.100208791,CPU0,9,,context-switches,100419036,100.00,89.642,/sec",
        "     0.100208791,CPU1,12,,context-switches,100442421,100.00,119.474,/sec",
        "     0.100208791,CPU0,<not supported>,,cycles,0,100.00,,",
        "     0.100208791,CPU1,<not supported>,,cycles,0,100.00,,",
        "     0.152747875,CPU0,52.42,msec,task-clock,52423769,100.00,0.524,CPUs utilized",
        "     0.152747875,CPU1,52.53,msec,task-clock,52531609,100.00,0.525,CPUs utilized",
        "     0.152747875,CPU0,14,,context-switches,52409938,100.00,267.054,/sec",
        "     0.152747875,CPU1,9,,context-switches,52531148,100.00,171.325,/sec",
        "     0.152747875,CPU0,<not supported>,,cycles,0,100.00,,",
        "     0.152747875,CPU1,<not supported>,,cycles,0,100.00,,",
        "",
    ];

    #[test]
    fn interval_per_cpu_csv_matches_perf() {
        let ivs = [
            interval_per_cpu(
                100_208_791,
                [(100_398_886, 100_398_235), (100_440_087, 100_439_937)],
                [(9, 100_419_036), (12, 100_442_421)],
            ),
            interval_per_cpu(
                152_747_875,
                [(52_423_839, 52_423_769), (52_531_739, 52_531_609)],
                [(14, 52_409_938), (9, 52_531_148)],
            ),
        ];
        assert_golden(&render_intervals(&ivs, &csv(), true), IV_PER_CPU_CSV);
    }

    /// `perf stat -I 100 -e task-clock,context-switches,cpu-migrations,page-faults,cycles -- sleep 0.25`
    /// printed, for an interval in which the sleeping command never ran:
    #[test]
    fn interval_of_an_idle_task_is_not_counted() {
        let iv = Interval {
            time_ns: 200_795_804,
            interval_ns: 100_000_000,
            events: vec![
                event("task-clock", vec![counted(0, 0, 0)]),
                event("context-switches", vec![counted(0, 0, 0)]),
            ],
        };
        let mut out = Vec::new();
        write_interval(&mut out, &iv, &Format::Text, false, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "     0.200795804      <not counted> msec task-clock                                                  \n\
             \x20    0.200795804      <not counted>      context-switches                                            \n"
        );
        let mut out = Vec::new();
        write_interval(&mut out, &iv, &csv(), false, false).unwrap();
        // `perf stat -I 100 -x, ...` on the same kind of interval.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "     0.200795804,<not counted>,msec,task-clock,0,100.00,,\n\
             \x20    0.200795804,<not counted>,,context-switches,0,100.00,,\n"
        );
    }

    // -- JSON ----------------------------------------------------------------------

    const SCHEMA: &str = include_str!("../../book/src/schemas/stat.schema.json");

    /// A small JSON Schema checker for the keywords stat.schema.json uses:
    /// `$ref` (local JSON pointers), `oneOf`, `const`, `type`, `required`,
    /// `properties`, `additionalProperties: false`, `items` and `minimum`.
    fn check(
        root: &serde_json::Value,
        schema: &serde_json::Value,
        value: &serde_json::Value,
        path: &str,
    ) -> Result<(), String> {
        use serde_json::Value;
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = root
                .pointer(reference.trim_start_matches('#'))
                .ok_or_else(|| format!("{path}: unresolved {reference}"))?;
            check(root, target, value, path)?;
        }
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|o| check(root, o, value, path).is_ok())
                .count();
            if matching != 1 {
                return Err(format!("{path}: matches {matching} of oneOf"));
            }
        }
        if let Some(constant) = schema.get("const") {
            if constant != value {
                return Err(format!("{path}: {value} is not {constant}"));
            }
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let ok = types.iter().any(|t| match *t {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "string" => value.is_string(),
                "integer" => value.is_u64() || value.is_i64(),
                "number" => value.is_number(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => false,
            });
            if !ok {
                return Err(format!("{path}: {value} is not {types:?}"));
            }
        }
        if let (Some(min), Some(x)) = (
            schema.get("minimum").and_then(Value::as_f64),
            value.as_f64(),
        ) {
            if x < min {
                return Err(format!("{path}: {x} < {min}"));
            }
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for key in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(key) {
                        return Err(format!("{path}: missing required `{key}`"));
                    }
                }
            }
            for (key, item) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => check(root, sub, item, &format!("{path}.{key}"))?,
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{path}: unexpected `{key}`"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                check(root, items, item, &format!("{path}[{i}]"))?;
            }
        }
        Ok(())
    }

    fn check_against_schema(doc: &serde_json::Value) {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        if let Err(e) = check(&schema, &schema, doc, "$") {
            panic!("{e}\n{doc:#}");
        }
    }

    #[test]
    fn json_result_follows_the_schema() {
        for (r, per_cpu) in [
            (sleep_result(), false),
            (hw_result(), true),
            (
                repeated_result([867_466, 1_016_478, 759_608], [1; 3], [76, 78, 76]),
                false,
            ),
        ] {
            let text = render(&r, &Format::Json, per_cpu);
            assert!(text.ends_with("}\n") && text.matches('\n').count() == 1);
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            check_against_schema(&doc);
        }
    }

    #[test]
    fn json_interval_follows_the_schema() {
        let ivs = [interval_per_cpu(
            100_185_377,
            [(100_366_628, 100_365_937), (100_397_435, 100_397_295)],
            [(14, 100_382_802), (12, 100_408_881)],
        )];
        let text = render_intervals(&ivs, &Format::Json, true);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        check_against_schema(&doc);
        assert_eq!(doc["schema"], JSON_INTERVAL_SCHEMA);
        assert_eq!(doc["events"][0]["per_cpu"][1]["cpu"], 1);
        let metric = &doc["events"][0]["per_cpu"][0]["metrics"][0];
        assert_eq!(metric["unit"], "CPUs utilized");
    }

    #[test]
    fn json_checker_rejects_a_broken_document() {
        let text = render(&sleep_result(), &Format::Json, false);
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        doc.as_object_mut().unwrap().remove("wall_time");
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        assert!(check(&schema, &schema, &doc, "$").is_err());
    }

    #[test]
    fn json_values() {
        let r = repeated_result([867_466, 1_016_478, 759_608], [1; 3], [76, 78, 76]);
        let doc: serde_json::Value =
            serde_json::from_str(&render(&r, &Format::Json, false)).unwrap();
        assert_eq!(doc["schema"], JSON_SCHEMA);
        assert_eq!(doc["target"], "'sleep 0.1'");
        assert_eq!(doc["runs"], 3);
        assert_eq!(doc["wall_time"]["mean_ns"], 101_791_000.0);
        let clock = &doc["events"][0];
        assert_eq!(clock["unit"], "msec");
        assert_eq!(clock["count"], 881_184.0);
        assert!((clock["value"].as_f64().unwrap() - 0.881184).abs() < 1e-12);
        assert_eq!(
            format!("{:.2}", clock["rel_stderr_percent"].as_f64().unwrap()),
            "8.45"
        );
        assert_eq!(clock["runs"][1]["raw"], 1_016_478);
        assert_eq!(clock["metrics"][0]["unit"], "CPUs utilized");
        let cycles = &doc["events"][4];
        assert_eq!(cycles["supported"], false);
        assert_eq!(cycles["counted"], false);
        assert!(cycles["value"].is_null());
        assert_eq!(cycles["unit"], serde_json::Value::Null);
        let faults = &doc["events"][3];
        assert_eq!(faults["metrics"][0]["unit"], "K/sec");
        assert_eq!(faults["per_cpu"], serde_json::json!([]));
    }
}
