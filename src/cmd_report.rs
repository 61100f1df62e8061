//! `strobe report`: the histogram, printed as perf prints it.

use crate::cli::ReportArgs;
use anyhow::{Context, Result};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use strobe_analyze::filter::Filter;
use strobe_analyze::report::{
    self, CallGraphOptions, CallNode, CallOrder, Report, ReportOptions, SortKey,
};

use strobe_analyze::input::{Item, Recording};

pub fn run(args: ReportArgs) -> Result<i32> {
    if crate::cmd_tui::report_wants_tui(&args) {
        return crate::cmd_tui::run_report(&args);
    }
    let sort = SortKey::parse_list(&args.sort).map_err(anyhow::Error::msg)?;
    let path = crate::recording_file::default_path(args.input.as_ref());
    let file = crate::recording_file::MappedFile::open(&path)?;
    file.with_recording(|recording, trailer_lost| {
        report_recording(recording, trailer_lost, &file.map, &args, sort)
    })
}

fn report_recording(
    recording: &Recording<'_>,
    strobe_trailer_lost: Option<u64>,
    map: &memmap2::Mmap,
    args: &ReportArgs,
    sort: Vec<SortKey>,
) -> Result<i32> {
    let path = &args
        .input
        .clone()
        .unwrap_or_else(|| crate::recording_file::default_path(None));
    let origin = match recording.start_time {
        Some(time) => time,
        // Only a time window needs the first sample's time; find it then.
        None if args.filter.time.is_some() => first_sample_time(recording)?,
        None => 0,
    };
    let filter = Filter::new(&args.filter.spec(), origin)?;
    let call_graph = call_graph_options(args.call_graph.as_deref(), args.json)?;
    let options = ReportOptions {
        sort,
        children: !args.no_children,
        filter,
        call_graph,
        folded: args.flamegraph.is_some(),
    };
    let mut progress = Progress::new();
    let mut released = 0usize;
    let report = report::build_with_progress(recording, &options, &mut |done, total| {
        progress.update(done, total);
        released = release_read_pages(map, done, total, released);
    })?;
    progress.finish();
    // A finished strobe file's trailer counts both kinds of loss over the
    // whole recording; otherwise count the loss records streamed.
    let lost = strobe_trailer_lost.unwrap_or(report.lost);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report_json(&report, lost, args))?;
        writeln!(out)?;
    } else {
        print_report(&mut out, &report, lost, args)?;
    }
    if let Some(svg) = &args.flamegraph {
        write_flamegraph(svg, &report, path)?;
    }
    for path in &report.stale_files {
        eprintln!("strobe: {path} changed since the recording (its build-id differs); its samples show as [unknown]");
    }
    if report.malformed > 0 {
        eprintln!(
            "strobe: skipped {} malformed records or damaged chunks",
            report.malformed
        );
    }
    Ok(0)
}

/// Lets the kernel drop the pages of the input that were read more than
/// 32 MiB ago, so a report's memory does not grow with the file: records
/// are read in order, and a page touched again is simply read back from the
/// page cache (the mapping is private and read-only). Returns how far the
/// mapping is released now.
fn release_read_pages(map: &memmap2::Mmap, done: u64, total: u64, released: usize) -> usize {
    const BEHIND: usize = 32 << 20;
    const STEP: usize = 16 << 20;
    if total == 0 {
        return released;
    }
    // Progress is counted in record bytes; scale it to a place in the file.
    let position = (done as f64 / total as f64 * map.len() as f64) as usize;
    let page = 4096;
    let upto = position.saturating_sub(BEHIND) / page * page;
    if upto < released + STEP {
        return released;
    }
    // SAFETY: [0, upto) lies inside the mapping, which stays mapped; pages
    // of a private read-only file mapping dropped here are refilled from the
    // file if touched again, so no borrowed slice is invalidated.
    unsafe { libc::madvise(map.as_ptr() as *mut libc::c_void, upto, libc::MADV_DONTNEED) };
    upto
}

/// A progress bar on stderr, shown only when stderr is a terminal and
/// reading has already taken a second.
struct Progress {
    started: std::time::Instant,
    bar: Option<indicatif::ProgressBar>,
    enabled: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Progress {
            started: std::time::Instant::now(),
            bar: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn update(&mut self, done: u64, total: u64) {
        if !self.enabled || self.started.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message("reading");
            bar
        });
        bar.set_position(done);
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Draws the folded stacks as an SVG flame graph with inferno.
fn write_flamegraph(svg: &Path, report: &Report, input: &Path) -> Result<()> {
    if report.folded.is_empty() {
        anyhow::bail!("--flamegraph: no samples to draw (after filters)");
    }
    let file =
        std::fs::File::create(svg).with_context(|| format!("cannot create {}", svg.display()))?;
    let mut options = inferno::flamegraph::Options::default();
    options.title = format!("strobe report: {}", input.display());
    // Widths are summed sample periods (ns for cpu-clock), as rows weigh them.
    options.count_name = "period".to_string();
    inferno::flamegraph::from_lines(
        &mut options,
        report.folded.iter().map(String::as_str),
        std::io::BufWriter::new(file),
    )
    .with_context(|| format!("cannot draw the flame graph into {}", svg.display()))?;
    Ok(())
}

/// Parses `-g ORDER[,MIN]`; no `-g` means trees in text output only.
fn call_graph_options(spec: Option<&str>, json: bool) -> Result<Option<CallGraphOptions>> {
    let spec = match spec {
        Some(spec) => spec,
        None if json => return Ok(None),
        None => "callee",
    };
    if spec == "none" {
        return Ok(None);
    }
    let (order, min) = spec.split_once(',').unwrap_or((spec, "0.5"));
    let order = match order {
        "callee" | "graph" => CallOrder::Callee,
        "caller" => CallOrder::Caller,
        other => anyhow::bail!("-g {other}: the order is callee or caller (or none)"),
    };
    let min_percent: f64 = min
        .parse()
        .ok()
        .filter(|m: &f64| (0.0..=100.0).contains(m))
        .with_context(|| format!("-g {spec}: the minimum is a percentage such as 0.5"))?;
    Ok(Some(CallGraphOptions { order, min_percent }))
}

/// Writes a call-graph tree under a row, in perf's --stdio shape.
fn print_tree(out: &mut impl Write, root: &CallNode, total: u64) -> std::io::Result<()> {
    const BASE: &str = "            ";
    if root.children.is_empty() {
        return Ok(());
    }
    match root.children.as_slice() {
        [only] => {
            writeln!(out, "{BASE}|")?;
            writeln!(out, "{BASE}---{}", only.frame)?;
            print_continuation(out, only, &format!("{BASE}   "), total)?;
        }
        kids => print_branches(out, kids, BASE, total)?,
    }
    writeln!(out)
}

/// The frames under `node` that continue its line (a single visible next
/// frame; branches below the minimum are not shown), then its branches.
fn print_continuation(
    out: &mut impl Write,
    node: &CallNode,
    indent: &str,
    total: u64,
) -> std::io::Result<()> {
    let mut node = node;
    while let [only] = node.children.as_slice() {
        writeln!(out, "{indent}{}", only.frame)?;
        node = only;
    }
    if node.children.is_empty() {
        return Ok(());
    }
    print_branches(out, &node.children, indent, total)
}

fn print_branches(
    out: &mut impl Write,
    kids: &[CallNode],
    indent: &str,
    total: u64,
) -> std::io::Result<()> {
    for (i, kid) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        let head = format!("--{:.2}%--", percent(kid.period, total));
        writeln!(out, "{indent}|")?;
        writeln!(
            out,
            "{indent}{}{head}{}",
            if last { " " } else { "|" },
            kid.frame
        )?;
        let next = format!(
            "{indent}{}{}",
            if last { " " } else { "|" },
            " ".repeat(head.len())
        );
        print_continuation(out, kid, &next, total)?;
    }
    Ok(())
}

/// The time of a recording's first sample (a pass over it).
pub(crate) fn first_sample_time(recording: &Recording<'_>) -> Result<u64> {
    let mut first = None;
    recording.for_each(|item| {
        if let (None, Item::Sample(s)) = (first, item) {
            first = Some(s.time);
        }
    })?;
    Ok(first.unwrap_or(0))
}

/// `4K`-style counts, exactly as perf abbreviates the sample total: divide
/// by 1000 while the quotient is above 1.
fn short_count(mut n: u64) -> String {
    let mut unit = 0;
    while n / 1000 > 1 && unit < 3 {
        n /= 1000;
        unit += 1;
    }
    match unit {
        0 => n.to_string(),
        u => format!("{n}{}", ['K', 'M', 'G'][u - 1]),
    }
}

fn print_report(
    out: &mut impl Write,
    report: &Report,
    lost: u64,
    args: &ReportArgs,
) -> std::io::Result<()> {
    for event in report.events.iter().filter(|e| e.total_samples > 0) {
        let total = denominator(event, args);
        writeln!(
            out,
            "# Samples: {} of event '{}'",
            short_count(event.total_samples),
            event.event
        )?;
        writeln!(out, "# Event count (approx.): {}", event.total_period)?;
        if lost > 0 {
            writeln!(out, "# Lost events: {lost}")?;
        }
        writeln!(out, "#")?;
        let rows: Vec<_> = event
            .rows
            .iter()
            .filter(|r| percent(r.children_period.max(r.period), total) >= args.percent_limit)
            .collect();
        let mut widths: Vec<usize> = report.sort.iter().map(|k| k.header().len()).collect();
        for row in &rows {
            for (w, key) in widths.iter_mut().zip(&row.keys) {
                *w = (*w).max(key.chars().count());
            }
        }
        let (mut header, mut dots) = if report.children {
            (
                String::from("# Children      Self"),
                String::from("# ........  ........"),
            )
        } else {
            (String::from("# Overhead"), String::from("# ........"))
        };
        if args.show_samples {
            header.push_str("       Samples");
            dots.push_str("  ............");
        }
        for (i, (key, width)) in report.sort.iter().zip(&widths).enumerate() {
            let last = i + 1 == widths.len();
            header.push_str("  ");
            dots.push_str("  ");
            if last {
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
        for row in rows {
            let mut line = if report.children {
                format!(
                    "{:>9.2}%  {:>7.2}%",
                    percent(row.children_period, total),
                    percent(row.period, total)
                )
            } else {
                format!("{:>9.2}%", percent(row.period, total))
            };
            if args.show_samples {
                line.push_str(&format!("  {:>12}", row.samples));
            }
            for (i, (key, width)) in row.keys.iter().zip(&widths).enumerate() {
                line.push_str("  ");
                if i + 1 == widths.len() {
                    line.push_str(key);
                } else {
                    line.push_str(&format!("{key:<width$}"));
                }
            }
            writeln!(out, "{line}")?;
            if let Some(tree) = &row.call_tree {
                print_tree(out, tree, total)?;
            }
        }
        writeln!(out)?;
    }
    if report.unresolved > 0 {
        let what = if report.unresolved == 1 {
            "sample had an address"
        } else {
            "samples had addresses"
        };
        writeln!(
            out,
            "# {} {what} that resolved to no symbol ([unknown])",
            report.unresolved
        )?;
    }
    Ok(())
}

/// The report as JSON; the schema is documented in book/src/commands/report.md.
fn report_json(report: &Report, lost: u64, args: &ReportArgs) -> serde_json::Value {
    let keys: Vec<&str> = report.sort.iter().map(|k| k.name()).collect();
    let events: Vec<serde_json::Value> = report
        .events
        .iter()
        .map(|event| {
            let total = denominator(event, args);
            let rows: Vec<serde_json::Value> = event
                .rows
                .iter()
                .filter(|r| percent(r.children_period.max(r.period), total) >= args.percent_limit)
                .map(|row| {
                    let mut obj = serde_json::Map::new();
                    for (name, value) in keys.iter().zip(&row.keys) {
                        obj.insert((*name).to_string(), json!(value));
                    }
                    obj.insert("self_percent".into(), json!(percent(row.period, total)));
                    obj.insert("self_period".into(), json!(row.period));
                    obj.insert("samples".into(), json!(row.samples));
                    if report.children {
                        obj.insert(
                            "children_percent".into(),
                            json!(percent(row.children_period, total)),
                        );
                        obj.insert("children_period".into(), json!(row.children_period));
                    }
                    if let Some(tree) = &row.call_tree {
                        obj.insert("call_tree".into(), tree_json(tree));
                    }
                    serde_json::Value::Object(obj)
                })
                .collect();
            json!({
                "event": event.event,
                "samples": event.total_samples,
                "period": event.total_period,
                "unfiltered_period": event.unfiltered_period,
                "rows": rows,
            })
        })
        .collect();
    json!({
        "schema": "strobe-report/1",
        "sort": keys,
        "children": report.children,
        "lost": lost,
        "unresolved_samples": report.unresolved,
        "filtered_out_samples": report.filtered_out,
        "events": events,
    })
}

fn tree_json(node: &CallNode) -> serde_json::Value {
    json!({
        "frame": node.frame,
        "period": node.period,
        "children": node.children.iter().map(tree_json).collect::<Vec<_>>(),
    })
}

/// What percentages divide by: all samples' period (absolute, perf's
/// default) or only the period of the samples the filter passed.
fn denominator(event: &strobe_analyze::report::EventReport, args: &ReportArgs) -> u64 {
    if args.percentage == "relative" {
        event.total_period
    } else {
        event.unfiltered_period
    }
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}
