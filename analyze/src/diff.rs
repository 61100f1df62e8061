//! `strobe diff` of two recordings: their histograms, matched entry by
//! entry and compared the way `perf diff` compares them.
//!
//! Each recording is reduced to a [`Report`] by the report engine (Self
//! periods only, keyed by the sort keys, by default shared object and
//! symbol), so addresses resolve exactly as `strobe report` resolves them.
//! Entries of the two recordings are matched by the text of their keys: a
//! symbol by its name, not its address, because the two recordings may come
//! from different builds of the program, as in perf.
//!
//! Each matched pair gets one of perf's computations (`perf diff -c`):
//!
//! - delta: the entry's share of its event's period in the new recording
//!   minus its share in the baseline, in percentage points. `delta-abs`,
//!   perf's default, shows the same number but ranks by its magnitude;
//! - ratio: new period / baseline period;
//! - wdiff:WB,WA: new period × WA − baseline period × WB.
//!
//! An entry found only in the new recording is [`Status::New`] (perf shows
//! an empty baseline); one found only in the baseline is
//! [`Status::Vanished`] (perf shows no value). Events are matched by name;
//! a baseline event the new recording lacks has only vanished entries, and
//! events only in the new recording are listed, not compared (perf ignores
//! them).
//!
//! Nothing here prints: [`write_text`], [`write_markdown`] and
//! [`write_json`] write to the `Write` they are given.

use crate::filter::Filter;
use crate::input::Recording;
use crate::report::{self, EventReport, Report, ReportOptions, SortKey};
use crate::AnalyzeError;
use rustc_hash::FxHashMap;
use serde_json::json;
use std::cmp::Ordering;
use std::io::{self, Write};

/// The schema name and version in every JSON diff's `schema` key.
pub const SCHEMA: &str = "strobe-diff/1";

/// What is computed for each pair of entries (`-c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compute {
    /// New percentage minus baseline percentage, largest first.
    Delta,
    /// The same value as [`Compute::Delta`], ranked by its magnitude:
    /// perf's default.
    #[default]
    DeltaAbs,
    /// New period divided by baseline period.
    Ratio,
    /// `new_period * new_weight - base_period * base_weight`.
    WeightedDiff {
        /// The baseline's weight (perf's w1, the first number of `wdiff:w1,w2`).
        base_weight: i64,
        /// The new recording's weight (perf's w2).
        new_weight: i64,
    },
}

impl Compute {
    /// Parses perf's spelling: `delta`, `delta-abs`, `ratio` or
    /// `wdiff:WB,WA` with two nonzero integer weights.
    pub fn parse(text: &str) -> Result<Compute, String> {
        let (name, argument) = match text.split_once(':') {
            Some((name, argument)) => (name, Some(argument)),
            None => (text, None),
        };
        let compute = match name {
            "delta" => Compute::Delta,
            "delta-abs" => Compute::DeltaAbs,
            "ratio" => Compute::Ratio,
            "wdiff" => {
                let bad = || {
                    format!(
                        "-c {text}: wdiff takes two nonzero integer weights, \
                         baseline's then new's, as in wdiff:1,2"
                    )
                };
                let (base, new) = argument.and_then(|a| a.split_once(',')).ok_or_else(bad)?;
                let weight = |w: &str| w.trim().parse::<i64>().ok().filter(|&w| w != 0);
                return match (weight(base), weight(new)) {
                    (Some(base_weight), Some(new_weight)) => Ok(Compute::WeightedDiff {
                        base_weight,
                        new_weight,
                    }),
                    _ => Err(bad()),
                };
            }
            other => {
                return Err(format!(
                    "unknown computation `{other}`: use delta, delta-abs, ratio or wdiff:WB,WA"
                ))
            }
        };
        match argument {
            Some(argument) => Err(format!(
                "-c {text}: {name} takes no argument (`:{argument}`)"
            )),
            None => Ok(compute),
        }
    }

    /// The computation's name, as `-c` takes it, without wdiff's weights.
    pub fn name(self) -> &'static str {
        match self {
            Compute::Delta => "delta",
            Compute::DeltaAbs => "delta-abs",
            Compute::Ratio => "ratio",
            Compute::WeightedDiff { .. } => "wdiff",
        }
    }

    /// The column header perf gives it.
    pub fn header(self) -> &'static str {
        match self {
            Compute::Delta => "Delta",
            Compute::DeltaAbs => "Delta Abs",
            Compute::Ratio => "Ratio",
            Compute::WeightedDiff { .. } => "Weighted diff",
        }
    }

    /// perf's width of the column: at least the header's.
    fn width(self) -> usize {
        match self {
            Compute::Delta => 7,
            Compute::DeltaAbs => 9,
            Compute::Ratio | Compute::WeightedDiff { .. } => 14,
        }
    }

    /// Whether an entry only in the new recording has a value: a delta
    /// needs no baseline, a ratio or weighted diff of nothing means nothing.
    fn defined_for_new(self) -> bool {
        matches!(self, Compute::Delta | Compute::DeltaAbs)
    }
}

impl std::fmt::Display for Compute {
    /// The full spelling, weights included: `wdiff:1,2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compute::WeightedDiff {
                base_weight,
                new_weight,
            } => write!(f, "wdiff:{base_weight},{new_weight}"),
            other => f.write_str(other.name()),
        }
    }
}

/// What percentages are shares of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Percentage {
    /// Of the period of all the event's samples, filtered out or not (perf's
    /// default).
    #[default]
    Absolute,
    /// Of the period of the samples the filter passed.
    Relative,
}

impl Percentage {
    /// The name `--percentage` takes.
    pub fn name(self) -> &'static str {
        match self {
            Percentage::Absolute => "absolute",
            Percentage::Relative => "relative",
        }
    }
}

/// How to diff two recordings.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// What to compute per entry.
    pub compute: Compute,
    /// The keys entries are made of and matched by (perf diff's default is
    /// shared object, symbol).
    pub sort: Vec<SortKey>,
    /// What percentages are shares of.
    pub percentage: Percentage,
    /// Which samples of the baseline count. Built with the baseline's first
    /// sample time as origin, since `--time` windows are relative to it.
    pub base_filter: Filter,
    /// Which samples of the new recording count, built with its own origin.
    pub new_filter: Filter,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            compute: Compute::default(),
            sort: vec![SortKey::Dso, SortKey::Sym],
            percentage: Percentage::default(),
            base_filter: Filter::default(),
            new_filter: Filter::default(),
        }
    }
}

/// Which recordings an entry was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In both.
    Matched,
    /// Only in the new recording.
    New,
    /// Only in the baseline.
    Vanished,
}

impl Status {
    /// The name JSON output uses.
    pub fn name(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::New => "new",
            Status::Vanished => "vanished",
        }
    }
}

/// The computed value of an entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiffValue {
    /// Percentage points (for [`Compute::Delta`] and [`Compute::DeltaAbs`]).
    Delta(f64),
    /// New period over baseline period.
    Ratio(f64),
    /// Weighted difference of the periods, saturated at the `i64` range.
    WeightedDiff(i64),
}

impl DiffValue {
    /// The value as a float, whatever its kind.
    pub fn as_f64(self) -> f64 {
        match self {
            DiffValue::Delta(v) | DiffValue::Ratio(v) => v,
            DiffValue::WeightedDiff(v) => v as f64,
        }
    }
}

/// One line of the diff: an entry of either recording.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffEntry {
    /// The values of the sort keys, in order, as the report prints them.
    pub keys: Vec<String>,
    /// Which recordings have the entry.
    pub status: Status,
    /// Summed period of the entry's samples in the baseline (0 if new).
    pub base_period: u64,
    /// Summed period in the new recording (0 if vanished).
    pub new_period: u64,
    /// Samples in the baseline.
    pub base_samples: u64,
    /// Samples in the new recording.
    pub new_samples: u64,
    /// Share of the baseline event's period, in percent; `None` if new.
    pub base_percent: Option<f64>,
    /// Share of the new event's period, in percent; `None` if vanished.
    pub new_percent: Option<f64>,
    /// The computed value: `None` for a vanished entry, and for a new one
    /// unless the computation is a delta (perf shows `N/A` there).
    pub value: Option<DiffValue>,
}

/// The diff of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDiff {
    /// The event's name in the baseline.
    pub event: String,
    /// Whether the new recording has this event; without it every entry
    /// vanished.
    pub in_new: bool,
    /// What baseline percentages divide by (per [`Percentage`]).
    pub base_total: u64,
    /// What new percentages divide by.
    pub new_total: u64,
    /// Baseline samples that passed the filter.
    pub base_samples: u64,
    /// New samples that passed the filter.
    pub new_samples: u64,
    /// Entries, in perf's order for the computation.
    pub entries: Vec<DiffEntry>,
}

/// What reading one recording counted besides its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSummary {
    /// Samples whose address resolved to no symbol.
    pub unresolved: u64,
    /// Samples the filter left out.
    pub filtered_out: u64,
    /// Records that did not decode, or damaged chunks.
    pub malformed: u64,
    /// Events reported lost by LOST records.
    pub lost: u64,
    /// Files whose build-id differs from the recorded one.
    pub stale_files: Vec<String>,
}

impl InputSummary {
    fn of(report: &Report) -> Self {
        InputSummary {
            unresolved: report.unresolved,
            filtered_out: report.filtered_out,
            malformed: report.malformed,
            lost: report.lost,
            stale_files: report.stale_files.clone(),
        }
    }
}

/// The diff of two recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingDiff {
    /// What was computed.
    pub compute: Compute,
    /// The keys of every entry.
    pub sort: Vec<SortKey>,
    /// What percentages are shares of.
    pub percentage: Percentage,
    /// One diff per baseline event, in the baseline's order.
    pub events: Vec<EventDiff>,
    /// Events only the new recording has; not compared.
    pub new_only_events: Vec<String>,
    /// What reading the baseline counted.
    pub base: InputSummary,
    /// What reading the new recording counted.
    pub new: InputSummary,
}

/// The names the writers show for the two inputs (usually their paths).
#[derive(Debug, Clone, Copy)]
pub struct InputNames<'a> {
    /// The baseline.
    pub base: &'a str,
    /// The new recording.
    pub new: &'a str,
}

/// The report options a diff builds each side's histogram with: Self
/// periods only, no call graphs.
pub fn report_options(sort: &[SortKey], filter: Filter) -> ReportOptions {
    ReportOptions {
        sort: sort.to_vec(),
        children: false,
        filter,
        call_graph: None,
        folded: false,
    }
}

/// Diffs two recordings, reading each once.
pub fn diff(
    base: &Recording<'_>,
    new: &Recording<'_>,
    options: &DiffOptions,
) -> Result<RecordingDiff, AnalyzeError> {
    let base_report = report::build(
        base,
        &report_options(&options.sort, options.base_filter.clone()),
    )?;
    let new_report = report::build(
        new,
        &report_options(&options.sort, options.new_filter.clone()),
    )?;
    Ok(diff_reports(
        &base_report,
        &new_report,
        options.compute,
        options.percentage,
    ))
}

/// Diffs two reports built with the same sort keys ([`report_options`]
/// gives the options to build them with, for a caller that wants
/// [`report::build_with_progress`]). Only Self periods are compared.
pub fn diff_reports(
    base: &Report,
    new: &Report,
    compute: Compute,
    percentage: Percentage,
) -> RecordingDiff {
    let mut used = vec![false; new.events.len()];
    let events = base
        .events
        .iter()
        .map(|event| {
            let pair = matching_event(&event.event, &new.events, &mut used);
            diff_event(event, pair, &base.sort, compute, percentage)
        })
        .collect();
    let new_only_events = new
        .events
        .iter()
        .zip(&used)
        .filter(|(_, &used)| !used)
        .map(|(event, _)| event.event.clone())
        .collect();
    RecordingDiff {
        compute,
        sort: base.sort.clone(),
        percentage,
        events,
        new_only_events,
        base: InputSummary::of(base),
        new: InputSummary::of(new),
    }
}

/// An event name without perf's modifier suffix (`cycles:ppp` is
/// `cycles`): perf matches events by type and config, not modifiers, and
/// writes the modifiers it applied into the name. A tracepoint's
/// `system:name` keeps its colon, since a name is not all modifier letters.
fn without_modifiers(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((event, modifiers))
            if !modifiers.is_empty() && modifiers.chars().all(|c| "ukhHGIpPSDWeb".contains(c)) =>
        {
            event
        }
        _ => name,
    }
}

/// The first unused event of `events` named `name`, or failing that with
/// the same name once modifiers are stripped; marks it used.
fn matching_event<'r>(
    name: &str,
    events: &'r [EventReport],
    used: &mut [bool],
) -> Option<&'r EventReport> {
    let unused = |i: usize| used.get(i) == Some(&false);
    let find = |matches: &dyn Fn(&EventReport) -> bool| {
        events
            .iter()
            .enumerate()
            .find(|&(i, e)| unused(i) && matches(e))
    };
    let (index, event) = find(&|e| e.event == name)
        .or_else(|| find(&|e| without_modifiers(&e.event) == without_modifiers(name)))?;
    if let Some(flag) = used.get_mut(index) {
        *flag = true;
    }
    Some(event)
}

/// A report's rows summed by the text of their keys. The report keeps
/// apart rows whose keys print the same (one symbol name in two shared
/// objects under `--sort sym`); perf diff matches and merges them by name.
fn rows_by_key(event: &EventReport) -> FxHashMap<&[String], (u64, u64)> {
    let mut rows: FxHashMap<&[String], (u64, u64)> = FxHashMap::default();
    for row in &event.rows {
        let sums = rows.entry(row.keys.as_slice()).or_default();
        sums.0 += row.period;
        sums.1 += row.samples;
    }
    rows
}

/// perf's percentage: `period * 100.0 / total`, computed in that order so
/// values (and the ties among them) are the ones perf gets. Zero when there
/// is nothing to divide by, where perf would divide by zero.
fn percent(period: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        period as f64 * 100.0 / total as f64
    }
}

/// What an entry is ranked by: perf computes the value even where it does
/// not show it (a new entry's ratio is its new period over 1).
#[derive(Debug, Clone, Copy)]
enum Rank {
    Float(f64),
    Int(i64),
}

fn diff_event(
    base: &EventReport,
    new: Option<&EventReport>,
    sort: &[SortKey],
    compute: Compute,
    percentage: Percentage,
) -> EventDiff {
    let total = |event: &EventReport| match percentage {
        Percentage::Absolute => event.unfiltered_period,
        Percentage::Relative => event.total_period,
    };
    let base_total = total(base);
    let new_total = new.map_or(0, total);
    let base_rows = rows_by_key(base);
    let new_rows = new.map(rows_by_key).unwrap_or_default();
    let mut ranked: Vec<(DiffEntry, Option<Rank>)> =
        Vec::with_capacity(base_rows.len() + new_rows.len());
    for (&keys, &(base_period, base_samples)) in &base_rows {
        let pair = new_rows.get(keys).copied();
        ranked.push(entry(
            keys,
            Some((base_period, base_samples)),
            pair,
            (base_total, new_total),
            compute,
        ));
    }
    for (&keys, &counts) in &new_rows {
        if !base_rows.contains_key(keys) {
            ranked.push(entry(
                keys,
                None,
                Some(counts),
                (base_total, new_total),
                compute,
            ));
        }
    }
    ranked.sort_by(|a, b| perf_order(a, b, sort, compute));
    EventDiff {
        event: base.event.clone(),
        in_new: new.is_some(),
        base_total,
        new_total,
        base_samples: base.total_samples,
        new_samples: new.map_or(0, |e| e.total_samples),
        entries: ranked.into_iter().map(|(entry, _)| entry).collect(),
    }
}

/// One entry from its (period, samples) on each side, with its rank.
fn entry(
    keys: &[String],
    base: Option<(u64, u64)>,
    new: Option<(u64, u64)>,
    (base_total, new_total): (u64, u64),
    compute: Compute,
) -> (DiffEntry, Option<Rank>) {
    let status = match (base, new) {
        (Some(_), Some(_)) => Status::Matched,
        (None, _) => Status::New,
        (Some(_), None) => Status::Vanished,
    };
    let (base_period, base_samples) = base.unwrap_or_default();
    let (new_period, new_samples) = new.unwrap_or_default();
    // perf computes against a baseline entry of period 0 for a new entry.
    let (value, rank) = match status {
        Status::Vanished => (None, None),
        Status::Matched | Status::New => {
            let (value, rank) = match compute {
                Compute::Delta | Compute::DeltaAbs => {
                    let delta = percent(new_period, new_total) - percent(base_period, base_total);
                    let rank = if compute == Compute::DeltaAbs {
                        delta.abs()
                    } else {
                        delta
                    };
                    (DiffValue::Delta(delta), Rank::Float(rank))
                }
                Compute::Ratio => {
                    // perf's `he->stat.period ?: 1`.
                    let ratio = new_period as f64 / base_period.max(1) as f64;
                    (DiffValue::Ratio(ratio), Rank::Float(ratio))
                }
                Compute::WeightedDiff {
                    base_weight,
                    new_weight,
                } => {
                    let wide = new_period as i128 * new_weight as i128
                        - base_period as i128 * base_weight as i128;
                    let wdiff = wide.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                    (DiffValue::WeightedDiff(wdiff), Rank::Int(wdiff))
                }
            };
            let shown = status == Status::Matched || compute.defined_for_new();
            (shown.then_some(value), Some(rank))
        }
    };
    let entry = DiffEntry {
        keys: keys.to_vec(),
        status,
        base_period,
        new_period,
        base_samples,
        new_samples,
        base_percent: base.map(|_| percent(base_period, base_total)),
        new_percent: new.map(|_| percent(new_period, new_total)),
        value,
    };
    (entry, rank)
}

/// perf diff's output order, from its sort functions:
///
/// 1. entries with a value in the new recording before vanished ones; for
///    ratio and wdiff, matched entries before new ones too;
/// 2. by the computed value, largest first (its magnitude for delta-abs);
/// 3. by baseline period, largest first;
/// 4. by the keys, ascending (a symbol by its name, without `[k]`/`[.]`).
fn perf_order(
    (a, a_rank): &(DiffEntry, Option<Rank>),
    (b, b_rank): &(DiffEntry, Option<Rank>),
    sort: &[SortKey],
    compute: Compute,
) -> Ordering {
    let group = |e: &DiffEntry| match e.status {
        Status::Matched => 0,
        Status::New if compute.defined_for_new() => 0,
        Status::New => 1,
        Status::Vanished => 2,
    };
    let by_rank = match (a_rank, b_rank) {
        // Descending; equal floats (and the impossible NaN) tie, as perf's
        // cmp_doubles has them.
        (Some(Rank::Float(x)), Some(Rank::Float(y))) => y.partial_cmp(x).unwrap_or(Ordering::Equal),
        (Some(Rank::Int(x)), Some(Rank::Int(y))) => y.cmp(x),
        _ => Ordering::Equal,
    };
    group(a)
        .cmp(&group(b))
        .then(by_rank)
        .then(b.base_period.cmp(&a.base_period))
        .then_with(|| compare_keys(&a.keys, &b.keys, sort))
}

/// Keys in perf's ascending order for each: symbols by name, pids and tids
/// by number, the rest as text; then as plain text, so the order is total.
fn compare_keys(a: &[String], b: &[String], sort: &[SortKey]) -> Ordering {
    fn symbol_name(text: &str) -> &str {
        text.strip_prefix("[k] ")
            .or_else(|| text.strip_prefix("[.] "))
            .unwrap_or(text)
    }
    fn leading_number(text: &str) -> Option<i64> {
        text.split(':').next()?.parse().ok()
    }
    let by_kind = a
        .iter()
        .zip(b)
        .zip(sort)
        .map(|((x, y), key)| match key {
            SortKey::Sym => symbol_name(x).cmp(symbol_name(y)),
            SortKey::Pid | SortKey::Tid => match (leading_number(x), leading_number(y)) {
                (Some(m), Some(n)) => m.cmp(&n),
                _ => x.cmp(y),
            },
            _ => x.cmp(y),
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal);
    by_kind.then_with(|| a.cmp(b))
}

/// A percentage as perf prints it: two decimals.
fn percent_text(value: f64) -> String {
    format!("{value:.2}%")
}

/// The computed column's text, as perf prints it (its colour printers,
/// which it uses whenever columns are not separated by `-t`, colours or
/// not): signed delta with two decimals, ratio with six, weighted diff as
/// an integer, `N/A` for the ratio or weighted diff of a new entry, blank
/// for a vanished one.
fn value_text(entry: &DiffEntry) -> String {
    match (entry.value, entry.status) {
        (Some(DiffValue::Delta(d)), _) => format!("{d:+.2}%"),
        (Some(DiffValue::Ratio(r)), _) => format!("{r:.6}"),
        (Some(DiffValue::WeightedDiff(w)), _) => w.to_string(),
        (None, Status::New) => "N/A".to_string(),
        (None, _) => String::new(),
    }
}

/// Writes the diff as `perf diff --stdio` lays it out: per event a header,
/// then `Baseline`, the computed column and the keys. The data-files
/// block (perf's `-v`) names the inputs.
pub fn write_text(
    out: &mut dyn Write,
    diff: &RecordingDiff,
    names: &InputNames<'_>,
) -> io::Result<()> {
    let mut first = true;
    for event in diff.events.iter().filter(|e| !e.entries.is_empty()) {
        if !first {
            writeln!(out)?;
        }
        first = false;
        writeln!(out, "# Event '{}'", event.event)?;
        writeln!(out, "#")?;
        writeln!(out, "# Data files:")?;
        writeln!(out, "#  [0] {} (Baseline)", names.base)?;
        if event.in_new {
            writeln!(out, "#  [1] {}", names.new)?;
        } else {
            writeln!(out, "#  [1] {} (has no such event)", names.new)?;
        }
        writeln!(out, "#")?;
        let value_width = diff.compute.width();
        let mut widths: Vec<usize> = diff.sort.iter().map(|k| k.header().len()).collect();
        for entry in &event.entries {
            for (width, key) in widths.iter_mut().zip(&entry.keys) {
                *width = (*width).max(key.chars().count());
            }
        }
        let mut header = format!("# Baseline  {:>value_width$}", diff.compute.header());
        let mut dots = format!("# ........  {}", ".".repeat(value_width));
        for (i, (key, width)) in diff.sort.iter().zip(&widths).enumerate() {
            header.push_str("  ");
            dots.push_str("  ");
            if i + 1 == widths.len() {
                header.push_str(key.header());
                dots.push_str(&".".repeat(key.header().len().max(20)));
            } else {
                header.push_str(&format!("{:<width$}", key.header()));
                dots.push_str(&".".repeat(*width));
            }
        }
        writeln!(out, "{header}")?;
        writeln!(out, "{dots}")?;
        writeln!(out, "#")?;
        for entry in &event.entries {
            let baseline = entry.base_percent.map(percent_text).unwrap_or_default();
            let mut line = format!("  {baseline:>8}  {:>value_width$}", value_text(entry));
            for (i, (key, width)) in entry.keys.iter().zip(&widths).enumerate() {
                line.push_str("  ");
                if i + 1 == widths.len() {
                    line.push_str(key);
                } else {
                    line.push_str(&format!("{key:<width$}"));
                }
            }
            writeln!(out, "{line}")?;
        }
    }
    if first {
        writeln!(out, "# No samples in either recording.")?;
    }
    if !diff.new_only_events.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "# Only in {}, not compared: {}",
            names.new,
            diff.new_only_events.join(", ")
        )?;
    }
    Ok(())
}

/// Text as a Markdown code span, safe inside a table cell: backticks
/// fence it (more of them than it holds), and pipes are escaped, which
/// tables need even inside code.
fn markdown_code(text: &str) -> String {
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('|', "\\|"))
}

/// One sentence on what the computed column means.
fn compute_meaning(compute: Compute) -> String {
    match compute {
        Compute::Delta => "Delta: the entry's share of the event's period in the new recording \
                           minus its share in the baseline, in percentage points; largest first."
            .to_string(),
        Compute::DeltaAbs => "Delta Abs: the entry's share of the event's period in the new \
                              recording minus its share in the baseline, in percentage points; \
                              largest change either way first."
            .to_string(),
        Compute::Ratio => "Ratio: the entry's period in the new recording divided by its period \
                           in the baseline; largest first."
            .to_string(),
        Compute::WeightedDiff {
            base_weight,
            new_weight,
        } => format!(
            "Weighted diff: the entry's period in the new recording times {new_weight} minus \
             its period in the baseline times {base_weight}; largest first."
        ),
    }
}

/// Writes the diff as Markdown (a section per event, one table each), for
/// pull-request comments and CI summaries.
pub fn write_markdown(
    out: &mut dyn Write,
    diff: &RecordingDiff,
    names: &InputNames<'_>,
) -> io::Result<()> {
    writeln!(out, "## Recording diff")?;
    writeln!(out)?;
    writeln!(
        out,
        "Baseline {}, new {}. {}",
        markdown_code(names.base),
        markdown_code(names.new),
        compute_meaning(diff.compute)
    )?;
    for event in diff.events.iter().filter(|e| !e.entries.is_empty()) {
        writeln!(out)?;
        writeln!(out, "### Event {}", markdown_code(&event.event))?;
        writeln!(out)?;
        if event.in_new {
            writeln!(
                out,
                "Samples compared: {} in the baseline, {} in the new recording; \
                 percentages are of total periods {} and {}.",
                event.base_samples, event.new_samples, event.base_total, event.new_total
            )?;
        } else {
            writeln!(
                out,
                "Samples compared: {} in the baseline; percentages are of its total period {}. \
                 The new recording has no such event.",
                event.base_samples, event.base_total
            )?;
        }
        writeln!(out)?;
        let mut header = format!("| Baseline | New | {} |", diff.compute.header());
        let mut rule = String::from("|---:|---:|---:|");
        for key in &diff.sort {
            header.push_str(&format!(" {} |", key.header()));
            rule.push_str("---|");
        }
        writeln!(out, "{header}")?;
        writeln!(out, "{rule}")?;
        for entry in &event.entries {
            let base = match entry.base_percent {
                Some(p) => percent_text(p),
                None => "*new*".to_string(),
            };
            let new = match entry.new_percent {
                Some(p) => percent_text(p),
                None => "*vanished*".to_string(),
            };
            let mut line = format!("| {base} | {new} | {} |", value_text(entry));
            for key in &entry.keys {
                line.push_str(&format!(" {} |", markdown_code(key)));
            }
            writeln!(out, "{line}")?;
        }
    }
    if !diff.new_only_events.is_empty() {
        writeln!(out)?;
        let events: Vec<String> = diff
            .new_only_events
            .iter()
            .map(|e| markdown_code(e))
            .collect();
        writeln!(
            out,
            "Only in the new recording, not compared: {}.",
            events.join(", ")
        )?;
    }
    Ok(())
}

/// The diff as a JSON value (schema `strobe-diff/1`, described in
/// book/src/commands/diff.md).
pub fn to_json(diff: &RecordingDiff, names: &InputNames<'_>) -> serde_json::Value {
    let key_names: Vec<&str> = diff.sort.iter().map(|k| k.name()).collect();
    let events: Vec<serde_json::Value> = diff
        .events
        .iter()
        .map(|event| {
            let entries: Vec<serde_json::Value> = event
                .entries
                .iter()
                .map(|entry| {
                    let mut object = serde_json::Map::new();
                    for (name, value) in key_names.iter().zip(&entry.keys) {
                        object.insert((*name).to_string(), json!(value));
                    }
                    object.insert("status".into(), json!(entry.status.name()));
                    object.insert("base_period".into(), json!(entry.base_period));
                    object.insert("new_period".into(), json!(entry.new_period));
                    object.insert("base_samples".into(), json!(entry.base_samples));
                    object.insert("new_samples".into(), json!(entry.new_samples));
                    object.insert("base_percent".into(), json!(entry.base_percent));
                    object.insert("new_percent".into(), json!(entry.new_percent));
                    let value = match entry.value {
                        Some(DiffValue::Delta(v) | DiffValue::Ratio(v)) => json!(v),
                        Some(DiffValue::WeightedDiff(v)) => json!(v),
                        None => serde_json::Value::Null,
                    };
                    object.insert("value".into(), value);
                    serde_json::Value::Object(object)
                })
                .collect();
            json!({
                "event": event.event,
                "in_new": event.in_new,
                "base_total_period": event.base_total,
                "new_total_period": event.new_total,
                "base_samples": event.base_samples,
                "new_samples": event.new_samples,
                "entries": entries,
            })
        })
        .collect();
    let weights = match diff.compute {
        Compute::WeightedDiff {
            base_weight,
            new_weight,
        } => json!({ "base": base_weight, "new": new_weight }),
        _ => serde_json::Value::Null,
    };
    let summary = |s: &InputSummary| {
        json!({
            "unresolved_samples": s.unresolved,
            "filtered_out_samples": s.filtered_out,
            "malformed": s.malformed,
            "lost": s.lost,
            "stale_files": s.stale_files,
        })
    };
    json!({
        "schema": SCHEMA,
        "base": names.base,
        "new": names.new,
        "compute": diff.compute.name(),
        "weights": weights,
        "sort": key_names,
        "percentage": diff.percentage.name(),
        "events": events,
        "new_only_events": diff.new_only_events,
        "base_summary": summary(&diff.base),
        "new_summary": summary(&diff.new),
    })
}

/// Writes [`to_json`]'s value, pretty-printed, with a final newline.
pub fn write_json(
    out: &mut dyn Write,
    diff: &RecordingDiff,
    names: &InputNames<'_>,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_json(diff, names))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Row;

    fn row(keys: &[&str], period: u64, samples: u64) -> Row {
        Row {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            period,
            children_period: period,
            samples,
            call_tree: None,
        }
    }

    fn event(name: &str, rows: Vec<Row>) -> EventReport {
        let total: u64 = rows.iter().map(|r| r.period).sum();
        EventReport {
            event: name.to_string(),
            total_period: total,
            total_samples: rows.iter().map(|r| r.samples).sum(),
            unfiltered_period: total,
            rows,
        }
    }

    fn report(events: Vec<EventReport>) -> Report {
        Report {
            sort: vec![SortKey::Dso, SortKey::Sym],
            events,
            ..Default::default()
        }
    }

    /// The baseline: hot_a 700, hot_b 300 (of 1000 + 30 elsewhere).
    fn base() -> Report {
        report(vec![event(
            "cycles",
            vec![
                row(&["prog", "[.] hot_a"], 700, 7),
                row(&["prog", "[.] hot_b"], 270, 3),
                row(&["prog", "[.] main"], 20, 2),
                row(&["[kernel.kallsyms]", "[k] gone"], 10, 1),
            ],
        )])
    }

    /// The new one: hot_b grew, `fresh` appeared, `gone` vanished.
    fn new() -> Report {
        report(vec![event(
            "cycles",
            vec![
                row(&["prog", "[.] hot_a"], 1000, 10),
                row(&["prog", "[.] hot_b"], 900, 9),
                row(&["prog", "[.] main"], 40, 4),
                row(&["[kernel.kallsyms]", "[k] fresh"], 60, 6),
            ],
        )])
    }

    fn names(d: &EventDiff) -> Vec<&str> {
        d.entries.iter().map(|e| e.keys[1].as_str()).collect()
    }

    #[test]
    fn computations_parse_as_perf_spells_them() {
        assert_eq!(Compute::parse("delta"), Ok(Compute::Delta));
        assert_eq!(Compute::parse("delta-abs"), Ok(Compute::DeltaAbs));
        assert_eq!(Compute::parse("ratio"), Ok(Compute::Ratio));
        assert_eq!(
            Compute::parse("wdiff:1,-2"),
            Ok(Compute::WeightedDiff {
                base_weight: 1,
                new_weight: -2
            })
        );
        assert_eq!(
            Compute::parse("wdiff:3,4").map(|c| c.to_string()),
            Ok("wdiff:3,4".to_string())
        );
        for bad in [
            "wdiff",
            "wdiff:1",
            "wdiff:0,1",
            "wdiff:a,2",
            "ratio:2",
            "cycles",
            "",
        ] {
            assert!(Compute::parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(Compute::parse("wdiff:0,1")
            .unwrap_err()
            .contains("two nonzero integer weights"));
        assert_eq!(Compute::default(), Compute::DeltaAbs);
    }

    #[test]
    fn delta_abs_ranks_by_magnitude_and_puts_vanished_last() {
        let d = diff_reports(&base(), &new(), Compute::DeltaAbs, Percentage::Absolute);
        let event = &d.events[0];
        assert_eq!((event.base_total, event.new_total), (1000, 2000));
        // hot_a 70% -> 50% (-20), hot_b 27% -> 45% (+18), fresh +3,
        // main 2% -> 2% (0), gone vanished.
        assert_eq!(
            names(event),
            [
                "[.] hot_a",
                "[.] hot_b",
                "[k] fresh",
                "[.] main",
                "[k] gone"
            ]
        );
        let by_name = |name: &str| event.entries.iter().find(|e| e.keys[1] == name).unwrap();
        let hot_a = by_name("[.] hot_a");
        assert_eq!(hot_a.status, Status::Matched);
        assert_eq!(
            (hot_a.base_percent, hot_a.new_percent),
            (Some(70.0), Some(50.0))
        );
        assert_eq!(hot_a.value, Some(DiffValue::Delta(50.0 - 70.0)));
        let fresh = by_name("[k] fresh");
        assert_eq!(fresh.status, Status::New);
        assert_eq!((fresh.base_percent, fresh.base_period), (None, 0));
        assert_eq!(fresh.value, Some(DiffValue::Delta(3.0)));
        let gone = by_name("[k] gone");
        assert_eq!(
            (gone.status, gone.value, gone.new_percent),
            (Status::Vanished, None, None)
        );
        assert!(d.new_only_events.is_empty());
    }

    #[test]
    fn delta_ranks_by_signed_value() {
        let d = diff_reports(&base(), &new(), Compute::Delta, Percentage::Absolute);
        assert_eq!(
            names(&d.events[0]),
            [
                "[.] hot_b",
                "[k] fresh",
                "[.] main",
                "[.] hot_a",
                "[k] gone"
            ]
        );
    }

    #[test]
    fn ratio_shows_no_value_for_new_entries_and_ranks_them_after_matched_ones() {
        let d = diff_reports(&base(), &new(), Compute::Ratio, Percentage::Absolute);
        let event = &d.events[0];
        // hot_b 900/270, main 40/20, hot_a 1000/700; fresh (60/1) after
        // the matched ones, then gone.
        assert_eq!(
            names(event),
            [
                "[.] hot_b",
                "[.] main",
                "[.] hot_a",
                "[k] fresh",
                "[k] gone"
            ]
        );
        assert_eq!(
            event.entries[0].value,
            Some(DiffValue::Ratio(900.0 / 270.0))
        );
        assert_eq!(event.entries[3].value, None);
        assert_eq!(value_text(&event.entries[3]), "N/A");
        assert_eq!(value_text(&event.entries[4]), "");
        assert_eq!(value_text(&event.entries[1]), "2.000000");
    }

    #[test]
    fn new_entries_rank_among_themselves_by_their_hidden_value() {
        let mut new = new();
        new.events[0].rows.push(row(&["prog", "[.] bigger"], 80, 8));
        new.events[0].rows.push(row(&["prog", "[.] smaller"], 5, 1));
        let wdiff = Compute::WeightedDiff {
            base_weight: 1,
            new_weight: 2,
        };
        for compute in [Compute::Ratio, wdiff] {
            let d = diff_reports(&base(), &new, compute, Percentage::Absolute);
            let order = names(&d.events[0]);
            assert_eq!(
                &order[3..],
                ["[.] bigger", "[k] fresh", "[.] smaller", "[k] gone"],
                "{compute}"
            );
        }
    }

    #[test]
    fn weighted_diff_is_perf_formula_and_saturates() {
        let wdiff = Compute::WeightedDiff {
            base_weight: 1,
            new_weight: 2,
        };
        let d = diff_reports(&base(), &new(), wdiff, Percentage::Absolute);
        let event = &d.events[0];
        // hot_a 1000*2-700, hot_b 900*2-270, main 40*2-20.
        let values: Vec<Option<DiffValue>> = event.entries.iter().map(|e| e.value).collect();
        assert_eq!(
            values,
            [
                Some(DiffValue::WeightedDiff(1530)),
                Some(DiffValue::WeightedDiff(1300)),
                Some(DiffValue::WeightedDiff(60)),
                None,
                None
            ]
        );
        let huge = Compute::WeightedDiff {
            base_weight: 1,
            new_weight: i64::MAX,
        };
        let d = diff_reports(&base(), &new(), huge, Percentage::Absolute);
        assert_eq!(
            d.events[0].entries[0].value,
            Some(DiffValue::WeightedDiff(i64::MAX))
        );
        // A zero prints as one, as perf prints it.
        let zero = DiffEntry {
            value: Some(DiffValue::WeightedDiff(0)),
            ..d.events[0].entries[0].clone()
        };
        assert_eq!(value_text(&zero), "0");
    }

    #[test]
    fn ratio_of_a_zero_period_baseline_divides_by_one() {
        let base = report(vec![event("cycles", vec![row(&["p", "[.] f"], 0, 1)])]);
        let new = report(vec![event("cycles", vec![row(&["p", "[.] f"], 7, 1)])]);
        let d = diff_reports(&base, &new, Compute::Ratio, Percentage::Absolute);
        assert_eq!(d.events[0].entries[0].value, Some(DiffValue::Ratio(7.0)));
        assert_eq!(d.events[0].entries[0].base_percent, Some(0.0));
    }

    #[test]
    fn ties_fall_back_to_baseline_period_then_keys_by_symbol_name() {
        let base = report(vec![event(
            "e",
            vec![
                row(&["b.so", "[.] same"], 10, 1),
                row(&["a.so", "[.] zeta"], 20, 2),
                row(&["a.so", "[k] alpha"], 20, 2),
                row(&["z.so", "[.] left"], 50, 5),
            ],
        )]);
        // Every share stays put, so every delta is 0.
        let d = diff_reports(&base, &base, Compute::Delta, Percentage::Absolute);
        assert_eq!(
            d.events[0]
                .entries
                .iter()
                .map(|e| e.keys.join(" "))
                .collect::<Vec<_>>(),
            [
                "z.so [.] left",
                "a.so [k] alpha",
                "a.so [.] zeta",
                "b.so [.] same"
            ]
        );
    }

    #[test]
    fn rows_printing_the_same_keys_are_merged() {
        let mut base = report(vec![event(
            "e",
            vec![row(&["[.] main"], 10, 1), row(&["[.] main"], 30, 3)],
        )]);
        base.sort = vec![SortKey::Sym];
        let mut new = report(vec![event("e", vec![row(&["[.] main"], 10, 1)])]);
        new.sort = vec![SortKey::Sym];
        let d = diff_reports(&base, &new, Compute::Ratio, Percentage::Absolute);
        let entries = &d.events[0].entries;
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].base_period, entries[0].base_samples), (40, 4));
        assert_eq!(entries[0].value, Some(DiffValue::Ratio(0.25)));
    }

    #[test]
    fn events_match_by_name_then_without_modifiers() {
        let base = report(vec![
            event("cycles:ppp", vec![row(&["p", "[.] f"], 10, 1)]),
            event("sched:sched_switch", vec![row(&["p", "[.] f"], 10, 1)]),
            event("page-faults", vec![row(&["p", "[.] f"], 10, 1)]),
        ]);
        let new = report(vec![
            event("instructions", vec![row(&["p", "[.] f"], 10, 1)]),
            event("sched:sched_wakeup", vec![]),
            event("cycles", vec![row(&["p", "[.] f"], 20, 1)]),
        ]);
        assert_eq!(
            without_modifiers("sched:sched_switch"),
            "sched:sched_switch"
        );
        assert_eq!(without_modifiers("cycles:u"), "cycles");
        let d = diff_reports(&base, &new, Compute::DeltaAbs, Percentage::Absolute);
        assert_eq!(d.events.len(), 3);
        assert!(d.events[0].in_new);
        assert_eq!(d.events[0].new_total, 20);
        assert!(!d.events[1].in_new, "tracepoints differ by name");
        assert_eq!(d.events[1].entries[0].status, Status::Vanished);
        assert!(!d.events[2].in_new);
        assert_eq!(d.new_only_events, ["instructions", "sched:sched_wakeup"]);
    }

    #[test]
    fn percentages_are_absolute_or_relative_to_the_filtered_period() {
        let mut base = base();
        base.events[0].unfiltered_period = 2000;
        let absolute = diff_reports(&base, &new(), Compute::Delta, Percentage::Absolute);
        let relative = diff_reports(&base, &new(), Compute::Delta, Percentage::Relative);
        let hot_a = |d: &RecordingDiff| {
            d.events[0]
                .entries
                .iter()
                .find(|e| e.keys[1] == "[.] hot_a")
                .unwrap()
                .base_percent
        };
        assert_eq!(hot_a(&absolute), Some(35.0));
        assert_eq!(hot_a(&relative), Some(70.0));
        assert_eq!(absolute.events[0].base_total, 2000);
    }

    #[test]
    fn text_has_perf_layout() {
        let d = diff_reports(&base(), &new(), Compute::DeltaAbs, Percentage::Absolute);
        let mut out = Vec::new();
        let names = InputNames {
            base: "a.data",
            new: "b.data",
        };
        write_text(&mut out, &d, &names).unwrap();
        let expected = "\
# Event 'cycles'
#
# Data files:
#  [0] a.data (Baseline)
#  [1] b.data
#
# Baseline  Delta Abs  Shared Object      Symbol
# ........  .........  .................  ....................
#
    70.00%    -20.00%  prog               [.] hot_a
    27.00%    +18.00%  prog               [.] hot_b
               +3.00%  [kernel.kallsyms]  [k] fresh
     2.00%     +0.00%  prog               [.] main
     1.00%             [kernel.kallsyms]  [k] gone
";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let wdiff = Compute::WeightedDiff {
            base_weight: 1,
            new_weight: 2,
        };
        let mut out = Vec::new();
        write_text(
            &mut out,
            &diff_reports(&base(), &new(), wdiff, Percentage::Absolute),
            &names,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("# Baseline   Weighted diff  Shared Object"),
            "{text}"
        );
        assert!(
            text.contains("\n                       N/A  [kernel.kallsyms]  [k] fresh\n"),
            "{text}"
        );
    }

    #[test]
    fn markdown_escapes_cells_and_marks_new_and_vanished() {
        let mut new = new();
        new.events[0]
            .rows
            .push(row(&["prog", "[.] operator|"], 1, 1));
        new.events.push(event("extra", vec![]));
        let d = diff_reports(&base(), &new, Compute::Ratio, Percentage::Absolute);
        let mut out = Vec::new();
        let names = InputNames {
            base: "a.data",
            new: "b`x.data",
        };
        write_markdown(&mut out, &d, &names).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("new ``b`x.data``."), "{text}");
        assert!(
            text.contains(
                "| Baseline | New | Ratio | Shared Object | Symbol |\n|---:|---:|---:|---|---|\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("| 27.00% | 45.00% | 3.333333 | `prog` | `[.] hot_b` |"),
            "{text}"
        );
        assert!(
            text.contains("| *new* | 0.05% | N/A | `prog` | `[.] operator\\|` |"),
            "{text}"
        );
        assert!(
            text.contains("| 1.00% | *vanished* |  | `[kernel.kallsyms]` | `[k] gone` |"),
            "{text}"
        );
        assert!(
            text.ends_with("Only in the new recording, not compared: `extra`.\n"),
            "{text}"
        );
    }

    #[test]
    fn json_keys_rows_by_sort_key_and_keeps_integers_exact() {
        let wdiff = Compute::WeightedDiff {
            base_weight: 3,
            new_weight: 1,
        };
        let d = diff_reports(&base(), &new(), wdiff, Percentage::Absolute);
        let names = InputNames {
            base: "a.data",
            new: "b.data",
        };
        let mut out = Vec::new();
        write_json(&mut out, &d, &names).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["compute"], "wdiff");
        assert_eq!(value["weights"], json!({"base": 3, "new": 1}));
        assert_eq!(value["sort"], json!(["dso", "sym"]));
        let entries = value["events"][0]["entries"].as_array().unwrap();
        let hot_b = entries.iter().find(|e| e["sym"] == "[.] hot_b").unwrap();
        assert_eq!(hot_b["value"], json!(900 - 3 * 270));
        assert!(hot_b["value"].is_i64());
        assert_eq!(hot_b["status"], "matched");
        let fresh = entries.iter().find(|e| e["sym"] == "[k] fresh").unwrap();
        assert_eq!(
            (&fresh["status"], &fresh["value"], &fresh["base_percent"]),
            (&json!("new"), &json!(null), &json!(null))
        );
        assert_eq!(fresh["dso"], "[kernel.kallsyms]");
    }
}
