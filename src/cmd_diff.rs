//! `strobe diff`: two recordings (per symbol, like `perf diff`) or two
//! results files (per metric, with a significance test and a verdict).

use crate::cli::DiffArgs;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use strobe_analyze::compare::{self, CompareOptions};
use strobe_analyze::diff::{self, Compute, DiffOptions, InputNames};
use strobe_analyze::filter::Filter;
use strobe_analyze::input::Recording;
use strobe_analyze::report::SortKey;
use strobe_analyze::results::ResultsFile;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Markdown,
    Json,
}

pub fn run(args: DiffArgs) -> Result<i32> {
    let format = match (args.json, args.format.as_str()) {
        (true, _) | (false, "json") => Format::Json,
        (false, "text") => Format::Text,
        (false, "markdown" | "md") => Format::Markdown,
        (false, other) => bail!("--format {other}: expected text, markdown or json"),
    };
    let base = read(&args.base)?;
    let new = read(&args.new)?;
    match (ResultsFile::sniff(&base), ResultsFile::sniff(&new)) {
        (true, true) => diff_results(&args, &base, &new, format),
        (false, false) => diff_recordings(&args, format),
        (base_is_results, _) => {
            let (results, recording) = if base_is_results {
                (&args.base, &args.new)
            } else {
                (&args.new, &args.base)
            };
            bail!(
                "{} is a results file and {} is not: diff compares two recordings or two results files",
                results.display(),
                recording.display()
            )
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    // Only the start is needed to tell the kinds apart; recordings are
    // mapped again by the recording reader.
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .take(1 << 16)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(head)
}

fn diff_results(args: &DiffArgs, base_head: &[u8], new_head: &[u8], format: Format) -> Result<i32> {
    let load = |path: &Path, head: &[u8]| -> Result<ResultsFile> {
        let bytes = if head.len() < 1 << 16 {
            head.to_vec()
        } else {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        };
        ResultsFile::parse(&bytes).with_context(|| format!("{}", path.display()))
    };
    let base = load(&args.base, base_head)?;
    let mut new = load(&args.new, new_head)?;
    if let Some((base_name, new_name)) = ResultsFile::align_single_names(&base, &mut new) {
        eprintln!("strobe: comparing `{new_name}` (new) with `{base_name}` (base)");
    }
    let options = CompareOptions {
        noise_threshold_percent: args.noise,
        confidence: args.confidence,
    };
    let comparison = compare::compare(&base, &new, &options)?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => compare::write_text(&mut out, &comparison)?,
        Format::Markdown => compare::write_markdown(&mut out, &comparison)?,
        Format::Json => compare::write_json(&mut out, &comparison)?,
    }
    out.flush()?;
    if let Some(pct) = args.fail_on_regression {
        let regressions = comparison.regressions_over(pct);
        if !regressions.is_empty() {
            let names: Vec<String> = regressions
                .iter()
                .map(|m| match m.change_percent {
                    Some(change) => format!("{} {} ({change:+.1}%)", m.name, m.metric),
                    None => format!("{} {}", m.name, m.metric),
                })
                .collect();
            eprintln!(
                "strobe: {} regressed by more than {pct}% with significance: {}",
                if names.len() == 1 {
                    "a metric"
                } else {
                    "metrics"
                },
                names.join(", ")
            );
            return Ok(1);
        }
    }
    Ok(0)
}

fn diff_recordings(args: &DiffArgs, format: Format) -> Result<i32> {
    if args.fail_on_regression.is_some() {
        bail!("--fail-on-regression compares results files (strobe stat --json, strobe bench --json), not recordings");
    }
    let compute = Compute::parse(&args.compute).map_err(anyhow::Error::msg)?;
    let sort = SortKey::parse_list(&args.sort).map_err(anyhow::Error::msg)?;
    let base_file = crate::recording_file::MappedFile::open(&args.base)?;
    let new_file = crate::recording_file::MappedFile::open(&args.new)?;
    let spec = args.filter.spec();
    let filter_for = |recording: &Recording<'_>| -> Result<Filter> {
        let origin = match recording.start_time {
            Some(time) => time,
            None if spec.time.is_some() => crate::cmd_report::first_sample_time(recording)?,
            None => 0,
        };
        Ok(Filter::new(&spec, origin)?)
    };
    base_file.with_recording(|base, _| {
        new_file.with_recording(|new, _| {
            let options = DiffOptions {
                compute,
                sort: sort.clone(),
                base_filter: filter_for(base)?,
                new_filter: filter_for(new)?,
                ..DiffOptions::default()
            };
            let result = diff::diff(base, new, &options)?;
            let (base_name, new_name) = (
                args.base.display().to_string(),
                args.new.display().to_string(),
            );
            let names = InputNames {
                base: &base_name,
                new: &new_name,
            };
            let mut out = std::io::stdout().lock();
            match format {
                Format::Text => diff::write_text(&mut out, &result, &names)?,
                Format::Markdown => diff::write_markdown(&mut out, &result, &names)?,
                Format::Json => diff::write_json(&mut out, &result, &names)?,
            }
            out.flush()?;
            Ok(0)
        })
    })
}
