//! Comparing two results files (`strobe diff BASE NEW`): for each series the
//! two files share, whether the new samples are better, worse, or not
//! distinguishable from the base ones.
//!
//! Benchmarks are noisy and usually have few runs (5 to 10 a side), so a
//! difference of means alone would fail CI on noise. Each matched series is
//! tested with Welch's t-test, and a change is called a regression or an
//! improvement only when it is both significant at the chosen confidence
//! and larger than a noise threshold; everything else is unchanged. The
//! method, and why it was chosen, is in `book/src/results-diff.md`.
//!
//! [`compare`] does the statistics and returns a [`Comparison`];
//! [`write_text`], [`write_markdown`] and [`write_json`] render one. Nothing
//! here prints or reads files.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;
use statrs::function::beta::checked_beta_reg;

use crate::results::{series_key, Better, Host, ResultsFile, Series};

/// The schema name and version of [`write_json`]'s document.
pub const JSON_SCHEMA: &str = "strobe-results-diff/1";

/// How strict the comparison is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Changes of the mean smaller than this, in percent of the base mean,
    /// are unchanged whatever the test says: a significant 0.5% change is
    /// real but rarely worth failing a build over, and the run-to-run drift
    /// of a machine (frequency, cache placement) is of that size. At least
    /// 0.
    pub noise_threshold_percent: f64,
    /// The confidence level of the test and of the interval of the change,
    /// strictly between 0 and 1: 0.95 calls a change significant when the
    /// 95% confidence interval of the difference excludes zero.
    pub confidence: f64,
}

impl Default for CompareOptions {
    /// 2% noise threshold, 95% confidence.
    fn default() -> Self {
        CompareOptions {
            noise_threshold_percent: 2.0,
            confidence: 0.95,
        }
    }
}

/// Why options were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The confidence level is not strictly between 0 and 1.
    #[error("the confidence level must be between 0 and 1, such as 0.95 for 95%; got {0}")]
    Confidence(f64),
    /// The noise threshold is negative or not a number.
    #[error("the noise threshold must be a percentage of 0 or more, such as 2; got {0}")]
    NoiseThreshold(f64),
}

/// What the comparison concluded about one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Significantly better, by more than the noise threshold.
    Improved,
    /// Significantly worse, by more than the noise threshold.
    Regressed,
    /// Not significant, or within the noise threshold.
    Unchanged,
    /// In both files, but not testable.
    Inconclusive(Inconclusive),
    /// Only the base file has this series (a benchmark removed or renamed).
    OnlyInBase,
    /// Only the new file has this series (a benchmark added).
    OnlyInNew,
}

/// Why a series in both files could not be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inconclusive {
    /// A side has fewer than two samples, so its noise is unknown. The
    /// means and the change are still reported, for a look, not a verdict.
    TooFewSamples,
    /// The two files give the series different units, so the numbers do
    /// not compare.
    UnitChanged,
    /// The two files disagree on which direction is better.
    BetterChanged,
    /// A sample or a statistic is not a finite number (values beyond the
    /// range of a double).
    NotFinite,
}

impl Verdict {
    /// The verdict as written in every output format: `improved`,
    /// `regressed`, `unchanged`, `inconclusive`, `only_in_base`,
    /// `only_in_new`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive(_) => "inconclusive",
            Verdict::OnlyInBase => "only_in_base",
            Verdict::OnlyInNew => "only_in_new",
        }
    }

    /// Why a verdict is inconclusive, if it is.
    pub fn reason(&self) -> Option<Inconclusive> {
        match self {
            Verdict::Inconclusive(reason) => Some(*reason),
            _ => None,
        }
    }

    /// The words for a reader: `regressed`, `only in base`,
    /// `inconclusive (fewer than 2 samples)`.
    fn label(&self) -> String {
        match self {
            Verdict::OnlyInBase => "only in base".to_string(),
            Verdict::OnlyInNew => "only in new".to_string(),
            Verdict::Inconclusive(reason) => format!("inconclusive ({})", reason.describe()),
            other => other.as_str().to_string(),
        }
    }
}

impl Inconclusive {
    /// The reason as written in JSON: `too_few_samples`, `unit_changed`,
    /// `better_changed`, `not_finite`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Inconclusive::TooFewSamples => "too_few_samples",
            Inconclusive::UnitChanged => "unit_changed",
            Inconclusive::BetterChanged => "better_changed",
            Inconclusive::NotFinite => "not_finite",
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Inconclusive::TooFewSamples => "fewer than 2 samples",
            Inconclusive::UnitChanged => "the unit changed",
            Inconclusive::BetterChanged => "the better direction changed",
            Inconclusive::NotFinite => "values out of range",
        }
    }
}

/// The samples of one side, summarized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleStats {
    /// The number of samples, at least 1.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (with n - 1); `None` for a single
    /// sample.
    pub std_dev: Option<f64>,
}

impl SampleStats {
    /// The statistics of `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<SampleStats> {
        let n = samples.len();
        if n == 0 {
            return None;
        }
        let mean = samples.iter().sum::<f64>() / n as f64;
        // Two passes (deviations from the mean) rather than the sum of
        // squares: the latter cancels catastrophically for large counts
        // with small spread, such as cycles in the billions varying by
        // thousands.
        let std_dev = (n >= 2).then(|| {
            let squares: f64 = samples.iter().map(|x| (x - mean) * (x - mean)).sum();
            (squares / (n - 1) as f64).sqrt()
        });
        Some(SampleStats { n, mean, std_dev })
    }

    fn is_finite(&self) -> bool {
        self.mean.is_finite() && self.std_dev.is_none_or(f64::is_finite)
    }
}

/// One series compared across the two files.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricComparison {
    /// The benchmark or command (`sched/pipe`).
    pub name: String,
    /// The metric (`usecs/op`, `task-clock`).
    pub metric: String,
    /// The unit of the samples, as the base file gives it (the new file's
    /// for a series only in the new file).
    pub unit: String,
    /// Which direction is better, likewise.
    pub better: Better,
    /// The base samples; `None` when the base file lacks the series or it
    /// has no samples there.
    pub base: Option<SampleStats>,
    /// The new samples, likewise.
    pub new: Option<SampleStats>,
    /// `(new mean - base mean) / |base mean| * 100`. `None` when a side has
    /// no samples, when the units differ, or when the base mean is zero and
    /// the new one is not (a change no percentage expresses; it counts as
    /// larger than any threshold).
    pub change_percent: Option<f64>,
    /// The confidence interval of the change at the chosen confidence, in
    /// percent of the base mean: the interval of the difference of means
    /// divided by the base mean. `None` when untested or the base mean is
    /// zero.
    pub ci_percent: Option<(f64, f64)>,
    /// The two-sided p-value of Welch's t-test; `None` when untested.
    pub p_value: Option<f64>,
    /// The conclusion.
    pub verdict: Verdict,
}

impl MetricComparison {
    /// Whether the change is larger than `pct` percent either way (a change
    /// from a zero base mean is larger than any).
    fn change_exceeds(&self, pct: f64) -> bool {
        self.change_percent.is_none_or(|c| c.abs() > pct)
    }
}

/// Two results files compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every series of either file: those of the base file in its order,
    /// then those only the new file has, in its order.
    pub metrics: Vec<MetricComparison>,
    /// Where the base ran.
    pub base_host: Host,
    /// Where the new ran.
    pub new_host: Host,
    /// The options the comparison used.
    pub options: CompareOptions,
}

/// How many series got each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerdictCounts {
    /// [`Verdict::Regressed`].
    pub regressed: usize,
    /// [`Verdict::Improved`].
    pub improved: usize,
    /// [`Verdict::Unchanged`].
    pub unchanged: usize,
    /// [`Verdict::Inconclusive`].
    pub inconclusive: usize,
    /// [`Verdict::OnlyInBase`].
    pub only_in_base: usize,
    /// [`Verdict::OnlyInNew`].
    pub only_in_new: usize,
}

impl Comparison {
    /// The series that regressed (significantly, and by more than the noise
    /// threshold) by more than `pct` percent: what `--fail-on-regression
    /// PCT` fails on. Series in one file only, and inconclusive ones, are
    /// never regressions.
    pub fn regressions_over(&self, pct: f64) -> Vec<&MetricComparison> {
        self.metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Regressed && m.change_exceeds(pct))
            .collect()
    }

    /// How many series got each verdict.
    pub fn counts(&self) -> VerdictCounts {
        let mut counts = VerdictCounts::default();
        for m in &self.metrics {
            match m.verdict {
                Verdict::Regressed => counts.regressed += 1,
                Verdict::Improved => counts.improved += 1,
                Verdict::Unchanged => counts.unchanged += 1,
                Verdict::Inconclusive(_) => counts.inconclusive += 1,
                Verdict::OnlyInBase => counts.only_in_base += 1,
                Verdict::OnlyInNew => counts.only_in_new += 1,
            }
        }
        counts
    }
}

/// Compares every series of `new` with the series of `base` of the same
/// name and metric. A name and metric that occur more than once in a file
/// pair up in order: the first with the first.
pub fn compare(
    base: &ResultsFile,
    new: &ResultsFile,
    options: &CompareOptions,
) -> Result<Comparison, CompareError> {
    if !(options.confidence > 0.0 && options.confidence < 1.0) {
        return Err(CompareError::Confidence(options.confidence));
    }
    let noise = options.noise_threshold_percent;
    if !(noise >= 0.0 && noise.is_finite()) {
        return Err(CompareError::NoiseThreshold(noise));
    }
    let mut unmatched_new: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, series) in new.results.iter().enumerate().rev() {
        unmatched_new.entry(series_key(series)).or_default().push(i);
    }
    let mut matched = vec![false; new.results.len()];
    let mut metrics = Vec::with_capacity(base.results.len().max(new.results.len()));
    for series in &base.results {
        // The indices were pushed in reverse, so pop gives the first
        // unmatched occurrence.
        let partner = unmatched_new
            .get_mut(&series_key(series))
            .and_then(Vec::pop);
        match partner {
            Some(i) => {
                matched[i] = true;
                metrics.push(compare_series(series, &new.results[i], options));
            }
            None => metrics.push(one_sided(series, Verdict::OnlyInBase)),
        }
    }
    for (series, _) in new.results.iter().zip(&matched).filter(|(_, m)| !**m) {
        metrics.push(one_sided(series, Verdict::OnlyInNew));
    }
    Ok(Comparison {
        metrics,
        base_host: base.host.clone(),
        new_host: new.host.clone(),
        options: *options,
    })
}

fn one_sided(series: &Series, verdict: Verdict) -> MetricComparison {
    let stats = SampleStats::of(&series.samples);
    let (base, new) = match verdict {
        Verdict::OnlyInNew => (None, stats),
        _ => (stats, None),
    };
    MetricComparison {
        name: series.name.clone(),
        metric: series.metric.clone(),
        unit: series.unit.clone(),
        better: series.better,
        base,
        new,
        change_percent: None,
        ci_percent: None,
        p_value: None,
        verdict,
    }
}

/// The outcome of Welch's test on one pair of sides.
struct Welch {
    /// The confidence interval of `new mean - base mean`.
    ci: (f64, f64),
    p_value: f64,
}

fn compare_series(base: &Series, new: &Series, options: &CompareOptions) -> MetricComparison {
    let base_stats = SampleStats::of(&base.samples);
    let new_stats = SampleStats::of(&new.samples);
    let mut result = MetricComparison {
        name: base.name.clone(),
        metric: base.metric.clone(),
        unit: base.unit.clone(),
        better: base.better,
        base: base_stats,
        new: new_stats,
        change_percent: None,
        ci_percent: None,
        p_value: None,
        verdict: Verdict::Inconclusive(Inconclusive::TooFewSamples),
    };
    if base.unit != new.unit {
        // Numbers in different units would give a meaningless change, so
        // none is shown.
        result.verdict = Verdict::Inconclusive(Inconclusive::UnitChanged);
        return result;
    }
    let (Some(b), Some(n)) = (base_stats, new_stats) else {
        return result;
    };
    if !(b.is_finite() && n.is_finite()) {
        result.verdict = Verdict::Inconclusive(Inconclusive::NotFinite);
        return result;
    }
    let difference = n.mean - b.mean;
    // Relative to |base| so that the sign of the change is the sign of the
    // difference even for a metric with negative values.
    let relative = |x: f64| (b.mean != 0.0).then(|| x / b.mean.abs() * 100.0);
    result.change_percent = if difference == 0.0 {
        Some(0.0)
    } else {
        relative(difference)
    };
    if base.better != new.better {
        result.verdict = Verdict::Inconclusive(Inconclusive::BetterChanged);
        return result;
    }
    let Some(welch) = welch(&b, &n, options.confidence) else {
        // Fewer than two samples on a side (or a statistic out of range):
        // the means are shown, with no verdict.
        let too_few = b.std_dev.is_none() || n.std_dev.is_none();
        if !too_few {
            result.verdict = Verdict::Inconclusive(Inconclusive::NotFinite);
        }
        return result;
    };
    result.ci_percent = relative(welch.ci.0).zip(relative(welch.ci.1));
    result.p_value = Some(welch.p_value);
    // Significant when the interval excludes zero; equivalent to p below
    // 1 - confidence, but decided on the interval the reader sees, so that
    // an interval touching zero is never called significant by rounding.
    let significant = welch.ci.0 > 0.0 || welch.ci.1 < 0.0;
    result.verdict = if significant && result.change_exceeds(options.noise_threshold_percent) {
        let worse = match base.better {
            Better::Lower => difference > 0.0,
            Better::Higher => difference < 0.0,
        };
        if worse {
            Verdict::Regressed
        } else {
            Verdict::Improved
        }
    } else {
        Verdict::Unchanged
    };
    result
}

/// Welch's t-test of `new mean - base mean` and its confidence interval;
/// `None` when a side has fewer than two samples or a statistic is not
/// finite.
fn welch(base: &SampleStats, new: &SampleStats, confidence: f64) -> Option<Welch> {
    let (base_sd, new_sd) = (base.std_dev?, new.std_dev?);
    let difference = new.mean - base.mean;
    // The variances of the two means. Welch's test does not assume them
    // equal: a change to the code often changes the spread as well as the
    // mean, and Student's pooled test is then wrong in either direction.
    let base_var = base_sd * base_sd / base.n as f64;
    let new_var = new_sd * new_sd / new.n as f64;
    let var = base_var + new_var;
    if var == 0.0 {
        // Both sides are constant (a deterministic count): nothing in the
        // data suggests noise, so the difference is taken as exact and the
        // noise threshold alone decides.
        let p_value = if difference == 0.0 { 1.0 } else { 0.0 };
        return Some(Welch {
            ci: (difference, difference),
            p_value,
        });
    }
    let se = var.sqrt();
    // Welch–Satterthwaite degrees of freedom, written with the shares of
    // the variance so that tiny variances do not underflow when squared.
    let (base_share, new_share) = (base_var / var, new_var / var);
    let df = 1.0
        / (base_share * base_share / (base.n - 1) as f64
            + new_share * new_share / (new.n - 1) as f64);
    if !(se.is_finite() && df.is_finite() && df > 0.0) {
        return None;
    }
    let alpha = 1.0 - confidence;
    let half_width = t_critical(alpha, df)? * se;
    let p_value = t_two_sided_p(difference / se, df)?;
    let ci = (difference - half_width, difference + half_width);
    (ci.0.is_finite() && ci.1.is_finite()).then_some(Welch { ci, p_value })
}

/// The two-sided tail probability P(|T| ≥ |t|) of Student's t distribution
/// with `df` degrees of freedom, which is the regularized incomplete beta
/// function I_{df/(df+t²)}(df/2, 1/2). statrs's checked form returns an
/// error where the plain one would panic on an argument out of its domain.
fn t_two_sided_p(t: f64, df: f64) -> Option<f64> {
    let x = df / (df + t * t);
    checked_beta_reg(df / 2.0, 0.5, x)
        .ok()
        .filter(|p| p.is_finite())
}

/// The critical value of a two-sided interval at confidence `1 - alpha`:
/// the t with P(|T| ≥ t) = alpha. It is found by bisection on
/// [`t_two_sided_p`] rather than with statrs's `StudentsT::inverse_cdf`,
/// whose Newton iteration has no bound on its steps and did not return for
/// degrees of freedom in the millions (series with that many samples).
/// Bisection takes about 60 evaluations of the tail, each bounded.
fn t_critical(alpha: f64, df: f64) -> Option<f64> {
    let (mut low, mut high) = (0.0_f64, 1.0_f64);
    while t_two_sided_p(high, df)? > alpha {
        low = high;
        high *= 2.0;
        if !high.is_finite() {
            return None;
        }
    }
    // The bracket is now [high / 2, high] (or [0, 1]): about 53 halvings
    // reach adjacent doubles, where the loop stops; 200 only bound it.
    for _ in 0..200 {
        let middle = low + (high - low) / 2.0;
        if middle <= low || middle >= high {
            break;
        }
        if t_two_sided_p(middle, df)? > alpha {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(high)
}

// -- Output ---------------------------------------------------------------------

/// Writes the comparison for a terminal: the hosts, a summary line, the
/// method, and an aligned table with one row per series.
pub fn write_text(out: &mut dyn Write, comparison: &Comparison) -> io::Result<()> {
    for line in host_lines(comparison) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", summary_line(comparison))?;
    writeln!(out, "{}", method_line(&comparison.options))?;
    writeln!(out)?;
    let rows = table_rows(comparison, |s| s.to_string(), |v| v.label());
    let widths = column_widths(&rows);
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = width - cell.chars().count();
            if COLUMNS[i].numeric {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes the comparison as Markdown ready to paste into a pull request: a
/// summary line, the method, a table with one row per series, and the
/// hosts. Regressions and improvements are in bold.
pub fn write_markdown(out: &mut dyn Write, comparison: &Comparison) -> io::Result<()> {
    writeln!(
        out,
        "**{}** ({})",
        summary_line(comparison),
        method_line(&comparison.options)
    )?;
    writeln!(out)?;
    let rows = table_rows(comparison, markdown_code, |v| match v {
        Verdict::Regressed | Verdict::Improved => format!("**{}**", v.as_str()),
        other => other.label(),
    });
    for (i, row) in rows.iter().enumerate() {
        writeln!(out, "| {} |", row.join(" | "))?;
        if i == 0 {
            let rule: Vec<&str> = COLUMNS
                .iter()
                .map(|c| if c.numeric { "---:" } else { "---" })
                .collect();
            writeln!(out, "| {} |", rule.join(" | "))?;
        }
    }
    let hosts = host_lines(comparison);
    if !hosts.is_empty() {
        writeln!(out)?;
        for line in hosts {
            // A list, so that each host gets a line of its own once
            // rendered (consecutive lines would join into one paragraph).
            writeln!(out, "- {line}")?;
        }
    }
    Ok(())
}

/// Writes the comparison as one JSON document (`strobe-results-diff/1`), indented,
/// and a newline. Absent values are `null`, never left out.
pub fn write_json(out: &mut dyn Write, comparison: &Comparison) -> io::Result<()> {
    // Structs rather than a `json!` map, so that the key order is the
    // order below whatever serde_json features other crates enable.
    #[derive(Serialize)]
    struct Document<'a> {
        schema: &'static str,
        confidence: f64,
        noise_threshold_percent: f64,
        summary: VerdictCounts,
        base_host: &'a Host,
        new_host: &'a Host,
        metrics: Vec<Metric<'a>>,
    }
    #[derive(Serialize)]
    struct Metric<'a> {
        name: &'a str,
        metric: &'a str,
        unit: &'a str,
        better: Better,
        verdict: &'static str,
        reason: Option<&'static str>,
        change_percent: Option<f64>,
        ci_percent: Option<[f64; 2]>,
        p_value: Option<f64>,
        base_n: usize,
        base_mean: Option<f64>,
        base_std_dev: Option<f64>,
        new_n: usize,
        new_mean: Option<f64>,
        new_std_dev: Option<f64>,
    }
    let doc = Document {
        schema: JSON_SCHEMA,
        confidence: comparison.options.confidence,
        noise_threshold_percent: comparison.options.noise_threshold_percent,
        summary: comparison.counts(),
        base_host: &comparison.base_host,
        new_host: &comparison.new_host,
        metrics: comparison
            .metrics
            .iter()
            .map(|m| Metric {
                name: &m.name,
                metric: &m.metric,
                unit: &m.unit,
                better: m.better,
                verdict: m.verdict.as_str(),
                reason: m.verdict.reason().map(|r| r.as_str()),
                change_percent: m.change_percent,
                ci_percent: m.ci_percent.map(|(lo, hi)| [lo, hi]),
                p_value: m.p_value,
                base_n: m.base.map_or(0, |s| s.n),
                base_mean: m.base.map(|s| s.mean),
                base_std_dev: m.base.and_then(|s| s.std_dev),
                new_n: m.new.map_or(0, |s| s.n),
                new_mean: m.new.map(|s| s.mean),
                new_std_dev: m.new.and_then(|s| s.std_dev),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::from)?;
    writeln!(out)
}

/// A column of the text and Markdown tables.
struct Column {
    title: &'static str,
    /// Right-aligned.
    numeric: bool,
}

const COLUMNS: [Column; 9] = [
    Column {
        title: "benchmark",
        numeric: false,
    },
    Column {
        title: "metric",
        numeric: false,
    },
    Column {
        title: "unit",
        numeric: false,
    },
    Column {
        title: "base (mean ± σ)",
        numeric: true,
    },
    Column {
        title: "new (mean ± σ)",
        numeric: true,
    },
    Column {
        title: "change",
        numeric: true,
    },
    Column {
        title: "CI",
        numeric: false,
    },
    Column {
        title: "p",
        numeric: true,
    },
    Column {
        title: "verdict",
        numeric: false,
    },
];

/// What an absent value shows as.
const NONE: &str = "—";

/// The header row and a row per series; `name` renders names, metrics and
/// units, `verdict` the verdict.
fn table_rows(
    comparison: &Comparison,
    name: impl Fn(&str) -> String,
    verdict: impl Fn(&Verdict) -> String,
) -> Vec<Vec<String>> {
    let confidence = format!(
        "{}% CI",
        format_number(comparison.options.confidence * 100.0)
    );
    let header = COLUMNS
        .iter()
        .map(|c| match c.title {
            "CI" => confidence.clone(),
            title => title.to_string(),
        })
        .collect();
    let mut rows = vec![header];
    for m in &comparison.metrics {
        rows.push(vec![
            name(&m.name),
            name(&m.metric),
            if m.unit.is_empty() {
                String::new()
            } else {
                name(&m.unit)
            },
            m.base.as_ref().map_or(NONE.to_string(), format_stats),
            m.new.as_ref().map_or(NONE.to_string(), format_stats),
            m.change_percent.map_or(NONE.to_string(), format_percent),
            m.ci_percent.map_or(NONE.to_string(), |(lo, hi)| {
                format!("[{}, {}]", format_percent(lo), format_percent(hi))
            }),
            m.p_value.map_or(NONE.to_string(), format_p),
            verdict(&m.verdict),
        ]);
    }
    rows
}

fn column_widths(rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths = vec![0; COLUMNS.len()];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    widths
}

/// `3 regressed, 1 improved, 5 unchanged`, then the other verdicts that
/// occur.
fn summary_line(comparison: &Comparison) -> String {
    let c = comparison.counts();
    let mut parts = vec![
        format!("{} regressed", c.regressed),
        format!("{} improved", c.improved),
        format!("{} unchanged", c.unchanged),
    ];
    for (count, what) in [
        (c.inconclusive, "inconclusive"),
        (c.only_in_base, "only in base"),
        (c.only_in_new, "only in new"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {what}"));
        }
    }
    parts.join(", ")
}

fn method_line(options: &CompareOptions) -> String {
    format!(
        "Welch's t-test at {}% confidence; changes within ±{}% count as unchanged",
        format_number(options.confidence * 100.0),
        format_number(options.noise_threshold_percent)
    )
}

/// `host: ...` when both ran on the same host, else `base: ...` and `new:
/// ...`; nothing when neither file names its host.
fn host_lines(comparison: &Comparison) -> Vec<String> {
    let (base, new) = (&comparison.base_host, &comparison.new_host);
    let empty = Host::default();
    if base == new {
        if *base == empty {
            return Vec::new();
        }
        return vec![format!("host: {}", describe_host(base))];
    }
    let mut lines = vec![
        format!("base: {}", describe_host(base)),
        format!("new: {}", describe_host(new)),
    ];
    // Only the strobe version differing is expected between two builds;
    // anything else means the machines differ, and so may the numbers.
    let machine = |h: &Host| {
        (
            h.hostname.clone(),
            h.kernel.clone(),
            h.arch.clone(),
            h.cpu_model.clone(),
            h.cpus,
        )
    };
    if machine(base) != machine(new) {
        lines.push(
            "note: the two files were measured on different machines or kernels; \
             a change may be the machine's, not the code's"
                .to_string(),
        );
    }
    lines
}

fn describe_host(host: &Host) -> String {
    let mut parts: Vec<String> = [&host.hostname, &host.kernel, &host.arch, &host.cpu_model]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    if host.cpus > 0 {
        parts.push(format!("{} CPUs", host.cpus));
    }
    if !host.strobe_version.is_empty() {
        parts.push(format!("strobe {}", host.strobe_version));
    }
    if parts.is_empty() {
        "unknown".to_string()
    } else {
        parts.join(", ")
    }
}

/// A name as Markdown code, so that `_` and `*` in event names do not turn
/// into emphasis; `|` is escaped even there, as GitHub's tables require.
fn markdown_code(text: &str) -> String {
    let escaped = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {escaped} ``")
    } else {
        format!("`{escaped}`")
    }
}

/// `5.123 ± 0.041`: four significant digits of the larger of the two, the
/// same decimals for both so that they read together.
fn format_stats(stats: &SampleStats) -> String {
    let scale = stats.mean.abs().max(stats.std_dev.unwrap_or(0.0));
    let decimals = if scale > 0.0 && scale.is_finite() {
        (3 - scale.log10().floor() as i64).clamp(0, 9) as usize
    } else {
        0
    };
    match stats.std_dev {
        Some(sd) => format!("{:.*} ± {:.*}", decimals, stats.mean, decimals, sd),
        None => format!("{:.*}", decimals, stats.mean),
    }
}

/// `+10.0%`, `-3.2%`; never `-0.0%`.
fn format_percent(pct: f64) -> String {
    let rounded = (pct * 10.0).round() / 10.0;
    if rounded == 0.0 {
        "+0.0%".to_string()
    } else {
        format!("{rounded:+.1}%")
    }
}

fn format_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

/// A number without trailing zeros: `95`, `99.9`, `2.5`.
fn format_number(x: f64) -> String {
    let text = format!("{x:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::SCHEMA;

    /// splitmix64: a tiny generator whose output is fixed by its seed, so
    /// that the statistical tests below are deterministic.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1]: never 0, whose logarithm Box–Muller takes.
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
        }

        /// Standard normal, by Box–Muller (one of the pair is enough).
        fn gaussian(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }

        /// `n` samples around `mean` with a standard deviation of
        /// `noise_percent` of it.
        fn samples(&mut self, n: usize, mean: f64, noise_percent: f64) -> Vec<f64> {
            (0..n)
                .map(|_| mean * (1.0 + noise_percent / 100.0 * self.gaussian()))
                .collect()
        }
    }

    fn series(name: &str, better: Better, samples: Vec<f64>) -> Series {
        Series {
            name: name.into(),
            metric: "usecs/op".into(),
            unit: "usec/op".into(),
            better,
            samples,
        }
    }

    fn file(results: Vec<Series>) -> ResultsFile {
        ResultsFile {
            schema: SCHEMA.into(),
            kind: "bench".into(),
            host: Host {
                hostname: "ci-1".into(),
                kernel: "6.1.0".into(),
                arch: "x86_64".into(),
                cpu_model: "Example CPU".into(),
                cpus: 8,
                strobe_version: "0.1.0".into(),
            },
            results,
        }
    }

    fn compare_one(base: Series, new: Series) -> MetricComparison {
        let c = compare(
            &file(vec![base]),
            &file(vec![new]),
            &CompareOptions::default(),
        )
        .unwrap();
        assert_eq!(c.metrics.len(), 1);
        c.metrics.into_iter().next().unwrap()
    }

    #[test]
    fn welch_matches_a_reference_implementation() {
        // scipy.stats.ttest_ind(new, base, equal_var=False) on these gives
        // t = 5.691008724276024, df = 7.627302995117721,
        // p = 0.0005458531709267131 and the 95% interval of the
        // difference (0.5420491153396578, 1.2912842179936743).
        let base = [10.1, 10.3, 9.8, 10.0, 10.4, 9.9];
        let new = [10.9, 11.2, 10.7, 11.4, 10.8];
        let w = welch(
            &SampleStats::of(&base).unwrap(),
            &SampleStats::of(&new).unwrap(),
            0.95,
        )
        .unwrap();
        assert!(
            (w.p_value - 0.000_545_853_170_926_713_1).abs() < 1e-9,
            "{}",
            w.p_value
        );
        assert!(
            (w.ci.0 - 0.542_049_115_339_657_8).abs() < 1e-9,
            "{:?}",
            w.ci
        );
        assert!(
            (w.ci.1 - 1.291_284_217_993_674_3).abs() < 1e-9,
            "{:?}",
            w.ci
        );
        // And the critical values themselves: scipy.stats.t.ppf(0.975, 9)
        // and t.ppf(0.995, 2.5).
        assert!((t_critical(0.05, 9.0).unwrap() - 2.262_157_162_798_205).abs() < 1e-9);
        assert!((t_critical(0.01, 2.5).unwrap() - 7.163_728_138_948_783).abs() < 1e-8);
    }

    #[test]
    fn huge_series_are_tested_quickly() {
        // Ten million samples a side give Welch degrees of freedom in the
        // millions, where statrs's own t quantile does not return; the
        // bisection does, with the normal distribution's 1.96.
        let side = |mean| SampleStats {
            n: 10_000_000,
            mean,
            std_dev: Some(1.0),
        };
        let w = welch(&side(100.0), &side(100.001), 0.95).unwrap();
        let half_width = (w.ci.1 - w.ci.0) / 2.0;
        let se = (2.0_f64 / 10_000_000.0).sqrt();
        assert!((half_width / se - 1.959_964).abs() < 1e-5, "{half_width}");
        assert!(w.p_value > 0.02 && w.p_value < 0.03, "{}", w.p_value);
    }

    #[test]
    fn a_ten_percent_slowdown_is_a_regression() {
        // 20 seeds rather than one lucky one: a 10% shift against 2% noise
        // with 10 runs a side is a five-sigma effect, found every time.
        for seed in 0..20 {
            let mut rng = Rng(seed);
            let m = compare_one(
                series("sched/pipe", Better::Lower, rng.samples(10, 100.0, 2.0)),
                series("sched/pipe", Better::Lower, rng.samples(10, 110.0, 2.0)),
            );
            assert_eq!(m.verdict, Verdict::Regressed, "seed {seed}: {m:?}");
            let change = m.change_percent.unwrap();
            assert!((7.0..13.0).contains(&change), "seed {seed}: {change}");
            let (lo, hi) = m.ci_percent.unwrap();
            assert!(0.0 < lo && lo < change && change < hi, "seed {seed}: {m:?}");
            assert!(m.p_value.unwrap() < 0.05);
            assert_eq!((m.base.unwrap().n, m.new.unwrap().n), (10, 10));
        }
    }

    #[test]
    fn a_ten_percent_throughput_gain_is_an_improvement() {
        for seed in 0..20 {
            let mut rng = Rng(1000 + seed);
            let m = compare_one(
                series("mem/memcpy", Better::Higher, rng.samples(10, 5.0, 2.0)),
                series("mem/memcpy", Better::Higher, rng.samples(10, 5.5, 2.0)),
            );
            assert_eq!(m.verdict, Verdict::Improved, "seed {seed}: {m:?}");
            assert!(m.change_percent.unwrap() > 5.0);
        }
        // And a throughput loss regresses.
        let mut rng = Rng(7);
        let m = compare_one(
            series("mem/memcpy", Better::Higher, rng.samples(10, 5.5, 2.0)),
            series("mem/memcpy", Better::Higher, rng.samples(10, 5.0, 2.0)),
        );
        assert_eq!(m.verdict, Verdict::Regressed, "{m:?}");
        assert!(m.change_percent.unwrap() < -5.0);
    }

    /// Of `trials` comparisons of two samples of one distribution (10 runs
    /// a side, 2% noise), how many are unchanged with `options`.
    fn unchanged_of(trials: usize, options: &CompareOptions) -> usize {
        let mut rng = Rng(42);
        (0..trials)
            .filter(|_| {
                let base = file(vec![series(
                    "a",
                    Better::Lower,
                    rng.samples(10, 100.0, 2.0),
                )]);
                let new = file(vec![series(
                    "a",
                    Better::Lower,
                    rng.samples(10, 100.0, 2.0),
                )]);
                compare(&base, &new, options).unwrap().metrics[0].verdict == Verdict::Unchanged
            })
            .count()
    }

    #[test]
    fn the_same_distribution_is_unchanged_in_at_least_95_of_100_trials() {
        let unchanged = unchanged_of(100, &CompareOptions::default());
        assert!(unchanged >= 95, "{unchanged} of 100 unchanged");
    }

    #[test]
    fn the_t_test_alone_is_calibrated() {
        // Without the noise threshold, a false alarm is the test's own
        // error: 1 - confidence, so 95% stay unchanged. Over 2000 trials
        // that is 1900, with a standard deviation of about 10; a test that
        // is too lenient or too strict lands outside 1870..=1930.
        let options = CompareOptions {
            noise_threshold_percent: 0.0,
            ..CompareOptions::default()
        };
        let unchanged = unchanged_of(2000, &options);
        assert!(
            (1870..=1930).contains(&unchanged),
            "{unchanged} of 2000 unchanged"
        );
    }

    #[test]
    fn regressions_over_a_threshold_and_unmatched_series() {
        let mut rng = Rng(3);
        let base = file(vec![
            series("big", Better::Lower, rng.samples(10, 100.0, 1.0)),
            series("small", Better::Lower, rng.samples(10, 100.0, 0.3)),
            series("removed", Better::Lower, rng.samples(10, 100.0, 1.0)),
        ]);
        let new = file(vec![
            series("added", Better::Lower, rng.samples(10, 500.0, 1.0)),
            series("small", Better::Lower, rng.samples(10, 103.0, 0.3)),
            series("big", Better::Lower, rng.samples(10, 110.0, 1.0)),
        ]);
        let c = compare(&base, &new, &CompareOptions::default()).unwrap();
        let names: Vec<(&str, Verdict)> = c
            .metrics
            .iter()
            .map(|m| (m.name.as_str(), m.verdict))
            .collect();
        assert_eq!(
            names,
            [
                ("big", Verdict::Regressed),
                ("small", Verdict::Regressed),
                ("removed", Verdict::OnlyInBase),
                ("added", Verdict::OnlyInNew),
            ]
        );
        let over_5: Vec<&str> = c
            .regressions_over(5.0)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(over_5, ["big"]);
        let over_0: Vec<&str> = c
            .regressions_over(0.0)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(over_0, ["big", "small"]);
        let counts = c.counts();
        assert_eq!(
            (counts.regressed, counts.only_in_base, counts.only_in_new),
            (2, 1, 1)
        );
        let added = &c.metrics[3];
        assert!(added.base.is_none() && added.change_percent.is_none());
        assert!((added.new.unwrap().mean - 500.0).abs() < 10.0);
    }

    #[test]
    fn repeated_keys_pair_in_order() {
        let base = file(vec![
            series("a", Better::Lower, vec![1.0, 1.0]),
            series("a", Better::Lower, vec![2.0, 2.0]),
        ]);
        let new = file(vec![
            series("a", Better::Lower, vec![1.0, 1.0]),
            series("a", Better::Lower, vec![2.0, 2.0]),
            series("a", Better::Lower, vec![3.0, 3.0]),
        ]);
        let c = compare(&base, &new, &CompareOptions::default()).unwrap();
        let verdicts: Vec<Verdict> = c.metrics.iter().map(|m| m.verdict).collect();
        assert_eq!(
            verdicts,
            [Verdict::Unchanged, Verdict::Unchanged, Verdict::OnlyInNew]
        );
        assert_eq!(c.metrics[2].new.unwrap().mean, 3.0);
    }

    #[test]
    fn too_few_samples_is_inconclusive_but_shows_the_means() {
        let m = compare_one(
            series("a", Better::Lower, vec![100.0]),
            series("a", Better::Lower, vec![150.0, 151.0, 149.0]),
        );
        assert_eq!(
            m.verdict,
            Verdict::Inconclusive(Inconclusive::TooFewSamples)
        );
        assert_eq!(m.change_percent, Some(50.0));
        assert_eq!((m.ci_percent, m.p_value), (None, None));
        // No samples at all on a side: no mean either.
        let m = compare_one(
            series("a", Better::Lower, vec![]),
            series("a", Better::Lower, vec![1.0, 2.0]),
        );
        assert_eq!(
            m.verdict,
            Verdict::Inconclusive(Inconclusive::TooFewSamples)
        );
        assert_eq!((m.base, m.change_percent), (None, None));
        let c = compare(
            &file(vec![series("a", Better::Lower, vec![1.0])]),
            &file(vec![series("a", Better::Lower, vec![9.0])]),
            &CompareOptions::default(),
        )
        .unwrap();
        assert!(c.regressions_over(0.0).is_empty());
    }

    #[test]
    fn constant_samples_are_exact() {
        // A deterministic count: equal is unchanged, different by more than
        // the threshold is a change, different by less is not.
        let same = compare_one(
            series("a", Better::Lower, vec![1000.0; 5]),
            series("a", Better::Lower, vec![1000.0; 5]),
        );
        assert_eq!(same.verdict, Verdict::Unchanged);
        assert_eq!((same.change_percent, same.p_value), (Some(0.0), Some(1.0)));
        let more = compare_one(
            series("a", Better::Lower, vec![1000.0; 5]),
            series("a", Better::Lower, vec![1100.0; 5]),
        );
        assert_eq!(more.verdict, Verdict::Regressed);
        assert_eq!(more.p_value, Some(0.0));
        let (lo, hi) = more.ci_percent.unwrap();
        assert!((lo - 10.0).abs() < 1e-9 && (hi - 10.0).abs() < 1e-9);
        let slightly = compare_one(
            series("a", Better::Lower, vec![1000.0; 5]),
            series("a", Better::Lower, vec![1010.0; 5]),
        );
        assert_eq!(slightly.verdict, Verdict::Unchanged);
        // One side constant: Welch's df come from the other side alone.
        let one = compare_one(
            series("a", Better::Lower, vec![1000.0; 5]),
            series(
                "a",
                Better::Lower,
                vec![1100.0, 1102.0, 1098.0, 1101.0, 1099.0],
            ),
        );
        assert_eq!(one.verdict, Verdict::Regressed);
    }

    #[test]
    fn a_zero_base_mean_has_no_percentage() {
        let m = compare_one(
            series("faults", Better::Lower, vec![0.0; 5]),
            series("faults", Better::Lower, vec![3.0, 4.0, 5.0, 4.0, 4.0]),
        );
        assert_eq!(m.verdict, Verdict::Regressed);
        assert_eq!((m.change_percent, m.ci_percent), (None, None));
        assert!(m.p_value.unwrap() < 0.001);
        let c = compare(
            &file(vec![series("faults", Better::Lower, vec![0.0; 5])]),
            &file(vec![series(
                "faults",
                Better::Lower,
                vec![3.0, 4.0, 5.0, 4.0, 4.0],
            )]),
            &CompareOptions::default(),
        )
        .unwrap();
        // Larger than any percentage.
        assert_eq!(c.regressions_over(1e9).len(), 1);
        let zeros = compare_one(
            series("faults", Better::Lower, vec![0.0; 5]),
            series("faults", Better::Lower, vec![0.0; 5]),
        );
        assert_eq!(zeros.verdict, Verdict::Unchanged);
    }

    #[test]
    fn mismatched_units_and_directions_are_inconclusive() {
        let mut other_unit = series("a", Better::Lower, vec![1000.0, 1001.0]);
        other_unit.unit = "nsec/op".into();
        let m = compare_one(series("a", Better::Lower, vec![1.0, 1.1]), other_unit);
        assert_eq!(m.verdict, Verdict::Inconclusive(Inconclusive::UnitChanged));
        assert_eq!(m.change_percent, None);
        let m = compare_one(
            series("a", Better::Lower, vec![1.0, 1.1]),
            series("a", Better::Higher, vec![2.0, 2.1]),
        );
        assert_eq!(
            m.verdict,
            Verdict::Inconclusive(Inconclusive::BetterChanged)
        );
        let m = compare_one(
            series("a", Better::Lower, vec![f64::MAX, f64::MAX]),
            series("a", Better::Lower, vec![1.0, 1.1]),
        );
        assert_eq!(m.verdict, Verdict::Inconclusive(Inconclusive::NotFinite));
    }

    #[test]
    fn bad_options_are_refused() {
        let f = file(vec![]);
        for confidence in [0.0, 1.0, 95.0, -0.5, f64::NAN] {
            let options = CompareOptions {
                confidence,
                ..CompareOptions::default()
            };
            assert!(matches!(
                compare(&f, &f, &options),
                Err(CompareError::Confidence(_))
            ));
        }
        for noise_threshold_percent in [-1.0, f64::NAN, f64::INFINITY] {
            let options = CompareOptions {
                noise_threshold_percent,
                ..CompareOptions::default()
            };
            assert!(matches!(
                compare(&f, &f, &options),
                Err(CompareError::NoiseThreshold(_))
            ));
        }
        // Confidence near its ends still gives an interval, no panic.
        let mut rng = Rng(9);
        let (a, b) = (rng.samples(5, 10.0, 3.0), rng.samples(5, 10.0, 3.0));
        for confidence in [1e-12, 0.999_999_999] {
            let options = CompareOptions {
                confidence,
                ..CompareOptions::default()
            };
            let c = compare(
                &file(vec![series("a", Better::Lower, a.clone())]),
                &file(vec![series("a", Better::Lower, b.clone())]),
                &options,
            )
            .unwrap();
            assert!(c.metrics[0].ci_percent.is_some());
        }
    }

    proptest::proptest! {
        /// Whatever the samples (NaN, infinities, extremes, none) and
        /// options, comparing and writing neither panics nor hangs, and
        /// the JSON parses.
        #[test]
        fn comparing_anything_never_panics(
            base in proptest::collection::vec(proptest::num::f64::ANY, 0..8),
            new in proptest::collection::vec(proptest::num::f64::ANY, 0..8),
            better_lower: bool,
            confidence in proptest::num::f64::ANY,
            noise in proptest::num::f64::ANY,
        ) {
            let better = if better_lower { Better::Lower } else { Better::Higher };
            let options = CompareOptions { noise_threshold_percent: noise, confidence };
            let base = file(vec![series("a", better, base)]);
            let new = file(vec![series("a", better, new)]);
            for options in [options, CompareOptions::default()] {
                let Ok(c) = compare(&base, &new, &options) else { continue };
                for write in [write_text, write_markdown, write_json] {
                    render(write, &c);
                }
                let json: serde_json::Value =
                    serde_json::from_str(&render(write_json, &c)).unwrap();
                proptest::prop_assert_eq!(json["metrics"].as_array().map(Vec::len), Some(1));
            }
        }
    }

    /// A comparison with a row of every kind, from fixed samples.
    fn golden_comparison() -> Comparison {
        let base = file(vec![
            series("sched/pipe", Better::Lower, vec![5.1, 5.2, 5.0, 5.15, 5.05]),
            Series {
                metric: "GB/sec".into(),
                unit: "GB/s".into(),
                ..series(
                    "mem/memcpy",
                    Better::Higher,
                    vec![10.0, 10.2, 9.9, 10.1, 9.8],
                )
            },
            series(
                "sched/messaging",
                Better::Lower,
                vec![3.01, 2.99, 3.02, 2.98, 3.0],
            ),
            series("futex|hash", Better::Lower, vec![7.0]),
            series("retired", Better::Lower, vec![1.0, 1.1]),
        ]);
        let mut new = file(vec![
            series(
                "sched/pipe",
                Better::Lower,
                vec![5.6, 5.75, 5.55, 5.7, 5.65],
            ),
            Series {
                metric: "GB/sec".into(),
                unit: "GB/s".into(),
                ..series(
                    "mem/memcpy",
                    Better::Higher,
                    vec![11.0, 11.3, 10.9, 11.2, 11.1],
                )
            },
            series(
                "sched/messaging",
                Better::Lower,
                vec![3.0, 3.03, 2.97, 3.01, 3.02],
            ),
            series("futex|hash", Better::Lower, vec![7.5, 7.4]),
            series("epoll/wait", Better::Lower, vec![2.0, 2.1]),
        ]);
        new.host.kernel = "6.6.0".into();
        compare(&base, &new, &CompareOptions::default()).unwrap()
    }

    /// Compares `actual` with the golden file `name` under
    /// analyze/tests/golden; `STROBE_BLESS=1` rewrites the file instead.
    fn check_golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var("STROBE_BLESS").as_deref() == Ok("1") {
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run with STROBE_BLESS=1", path.display()));
        assert_eq!(
            actual,
            expected,
            "output differs from {} (STROBE_BLESS=1 rewrites it)",
            path.display()
        );
    }

    fn render(write: fn(&mut dyn Write, &Comparison) -> io::Result<()>, c: &Comparison) -> String {
        let mut out = Vec::new();
        write(&mut out, c).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn golden_comparison_has_every_verdict() {
        let c = golden_comparison();
        let verdicts: Vec<&str> = c.metrics.iter().map(|m| m.verdict.as_str()).collect();
        assert_eq!(
            verdicts,
            [
                "regressed",
                "improved",
                "unchanged",
                "inconclusive",
                "only_in_base",
                "only_in_new"
            ]
        );
    }

    #[test]
    fn markdown_matches_its_golden_file() {
        check_golden("compare.md", &render(write_markdown, &golden_comparison()));
    }

    #[test]
    fn text_matches_its_golden_file() {
        check_golden("compare.txt", &render(write_text, &golden_comparison()));
    }

    #[test]
    fn json_matches_its_golden_file() {
        // The statistics go through libm (logarithms in the t quantile and
        // the beta function), whose last digit may differ between
        // platforms, so the JSON golden is of a comparison with the
        // statistics rounded; the writer is what this checks.
        let mut c = golden_comparison();
        let round = |x: f64| (x * 1e6).round() / 1e6;
        for m in &mut c.metrics {
            m.change_percent = m.change_percent.map(round);
            m.ci_percent = m.ci_percent.map(|(lo, hi)| (round(lo), round(hi)));
            m.p_value = m.p_value.map(round);
            for side in [&mut m.base, &mut m.new].into_iter().flatten() {
                side.mean = round(side.mean);
                side.std_dev = side.std_dev.map(round);
            }
        }
        let text = render(write_json, &c);
        check_golden("compare.json", &text);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["schema"], JSON_SCHEMA);
        assert_eq!(doc["summary"]["regressed"], 1);
        assert_eq!(doc["metrics"][0]["verdict"], "regressed");
        assert_eq!(doc["metrics"][3]["reason"], "too_few_samples");
        assert!(doc["metrics"][4]["new_mean"].is_null());
    }

    #[test]
    fn results_schema_describes_the_results_types() {
        // Every key a ResultsFile serializes is in the book's schema, and
        // every key the schema requires is serialized: the schema and the
        // types change together.
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../book/src/schemas/results.schema.json"))
                .unwrap();
        let doc = serde_json::to_value(file(vec![series("a", Better::Lower, vec![1.0])])).unwrap();
        let check = |schema: &serde_json::Value, value: &serde_json::Value, at: &str| {
            let properties = schema["properties"].as_object().unwrap();
            let object = value.as_object().unwrap();
            for key in object.keys() {
                assert!(
                    properties.contains_key(key),
                    "{at}.{key} is not in the schema"
                );
            }
            for key in schema["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap();
                assert!(
                    object.contains_key(key),
                    "{at}.{key} is required but not written"
                );
            }
        };
        check(&schema, &doc, "$");
        check(&schema["$defs"]["host"], &doc["host"], "$.host");
        check(
            &schema["$defs"]["series"],
            &doc["results"][0],
            "$.results[0]",
        );
        assert_eq!(schema["properties"]["schema"]["const"], SCHEMA);
        assert_eq!(
            schema["$defs"]["series"]["properties"]["better"]["enum"],
            serde_json::json!(["lower", "higher"])
        );
    }
}
