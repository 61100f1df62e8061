//! `strobe report`: the histogram, printed as perf prints it.

use crate::cli::ReportArgs;
use anyhow::{Context, Result};
use serde_json::json;
use std::io::Write;
use strobe_analyze::filter::Filter;
use strobe_analyze::report::{self, Report, ReportOptions, SortKey};
use std::path::{Path, PathBuf};

use strobe_analyze::input::{self, Item, Recording};
use strobe_record::format::reader::StrobeFile;

pub fn run(args: ReportArgs) -> Result<i32> {
    let sort = SortKey::parse_list(&args.sort).map_err(anyhow::Error::msg)?;
    let path = match &args.input {
        Some(path) => path.clone(),
        None if Path::new("strobe.data").exists() || !Path::new("perf.data").exists() => PathBuf::from("strobe.data"),
        None => PathBuf::from("perf.data"),
    };
    let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: a read-only private mapping; strobe never writes a file it reads.
    let map = unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
    let strobe_file;
    let recording = if input::is_perf_data(&map) {
        // perf.data keeps no kallsyms snapshot; perf itself reads the live
        // one (or its build-id cache), so do the same.
        let kallsyms = std::fs::read("/proc/kallsyms").unwrap_or_default();
        Recording::from_perf_data(&map, kallsyms).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        strobe_file = StrobeFile::parse(&map).with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(r) = &strobe_file.recovery {
            eprintln!("strobe: {} was not finished ({}); reading the {} chunks recovered", path.display(), r.reason, r.chunks_found);
        }
        Recording::from_strobe(&strobe_file)?
    };
    let origin = match recording.start_time {
        Some(time) => time,
        // Only a time window needs the first sample's time; find it then.
        None if args.filter.time.is_some() => first_sample_time(&recording)?,
        None => 0,
    };
    let filter = Filter::new(&args.filter.spec(), origin)?;
    let options = ReportOptions { sort, children: !args.no_children, filter };
    let report = report::build(&recording, &options)?;
    let lost = report.lost;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report_json(&report, lost, &args))?;
        writeln!(out)?;
    } else {
        print_report(&mut out, &report, lost, &args)?;
    }
    if report.malformed > 0 {
        eprintln!("strobe: skipped {} malformed records or damaged chunks", report.malformed);
    }
    Ok(0)
}

/// The time of a recording's first sample (a pass over it).
fn first_sample_time(recording: &Recording<'_>) -> Result<u64> {
    let mut first = None;
    recording.for_each(|item| {
        if let (None, Item::Sample(s)) = (first, item) {
            first = Some(s.time);
        }
    })?;
    Ok(first.unwrap_or(0))
}

/// `4K`-style counts, as perf prints the sample total.
fn short_count(n: u64) -> String {
    if n >= 10_000_000 {
        format!("{}M", n / 1_000_000)
    } else if n >= 10_000 {
        format!("{}K", n / 1000)
    } else {
        n.to_string()
    }
}

fn print_report(out: &mut impl Write, report: &Report, lost: u64, args: &ReportArgs) -> std::io::Result<()> {
    for event in &report.events {
        writeln!(out, "# Samples: {} of event '{}'", short_count(event.total_samples), event.event)?;
        writeln!(out, "# Event count (approx.): {}", event.total_period)?;
        if lost > 0 {
            writeln!(out, "# Lost events: {lost}")?;
        }
        writeln!(out, "#")?;
        let rows: Vec<_> = event
            .rows
            .iter()
            .filter(|r| percent(r.children_period.max(r.period), event.total_period) >= args.percent_limit)
            .collect();
        let mut widths: Vec<usize> = report.sort.iter().map(|k| k.header().len()).collect();
        for row in &rows {
            for (w, key) in widths.iter_mut().zip(&row.keys) {
                *w = (*w).max(key.chars().count());
            }
        }
        let (mut header, mut dots) = if report.children {
            (String::from("# Children      Self"), String::from("# ........  ........"))
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
                    percent(row.children_period, event.total_period),
                    percent(row.period, event.total_period)
                )
            } else {
                format!("{:>9.2}%", percent(row.period, event.total_period))
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
        }
        writeln!(out)?;
    }
    if report.unresolved > 0 {
        let what = if report.unresolved == 1 { "sample had an address" } else { "samples had addresses" };
        writeln!(out, "# {} {what} that resolved to no symbol ([unknown])", report.unresolved)?;
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
            let rows: Vec<serde_json::Value> = event
                .rows
                .iter()
                .filter(|r| percent(r.children_period.max(r.period), event.total_period) >= args.percent_limit)
                .map(|row| {
                    let mut obj = serde_json::Map::new();
                    for (name, value) in keys.iter().zip(&row.keys) {
                        obj.insert((*name).to_string(), json!(value));
                    }
                    obj.insert("self_percent".into(), json!(percent(row.period, event.total_period)));
                    obj.insert("self_period".into(), json!(row.period));
                    obj.insert("samples".into(), json!(row.samples));
                    if report.children {
                        obj.insert("children_percent".into(), json!(percent(row.children_period, event.total_period)));
                        obj.insert("children_period".into(), json!(row.children_period));
                    }
                    serde_json::Value::Object(obj)
                })
                .collect();
            json!({
                "event": event.event,
                "samples": event.total_samples,
                "period": event.total_period,
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

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}
