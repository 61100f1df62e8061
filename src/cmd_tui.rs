//! `strobe tui`, and `strobe report` on a terminal: the interactive
//! interface of the `strobe-tui` crate, fed by a loader that opens the
//! recording on the interface's loader thread.

use crate::cli::{ReportArgs, TuiArgs};
use anyhow::{Context, Result};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use strobe_analyze::input::{self, Recording};
use strobe_record::format::reader::StrobeFile;
use strobe_tui::app::{CallOrder, SortKey, SORT_PRESETS};

pub fn run(args: TuiArgs) -> Result<i32> {
    let path = crate::recording_file::default_path(args.file.as_ref().or(args.input.as_ref()));
    check_readable(&path)?;
    if args.bench_keys {
        return bench(&path);
    }
    start(&path, Settings::default(), args.test_panic)
}

/// Whether `strobe report` shows the interface: asked for with --tui, or
/// by default on a terminal when nothing asks for text (--stdio, --json,
/// --flamegraph, or a filter, which the interface does not take).
pub fn report_wants_tui(args: &ReportArgs) -> bool {
    if args.tui {
        return true;
    }
    let f = &args.filter;
    let filtered = f.comm.is_some()
        || f.dso.is_some()
        || f.sym.is_some()
        || f.pids.is_some()
        || f.tids.is_some()
        || f.cpus.is_some()
        || f.time.is_some();
    !args.stdio
        && !args.json
        && args.flamegraph.is_none()
        && !filtered
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal()
}

/// `strobe report --tui`: the interface, starting from the report's sort
/// keys, children and call order.
pub fn run_report(args: &ReportArgs) -> Result<i32> {
    let path = crate::recording_file::default_path(args.input.as_ref());
    check_readable(&path)?;
    let sort =
        strobe_analyze::report::SortKey::parse_list(&args.sort).map_err(anyhow::Error::msg)?;
    let names: Vec<&str> = sort.iter().map(|k| k.name()).collect();
    let preset = SORT_PRESETS
        .iter()
        .position(|p| p.iter().map(|k: &SortKey| k.name()).collect::<Vec<_>>() == names);
    let order = match args.call_graph.as_deref() {
        Some(g) if g.starts_with("caller") => CallOrder::Caller,
        _ => CallOrder::Callee,
    };
    let settings = Settings {
        sort: preset.unwrap_or(0),
        children: !args.no_children,
        order,
    };
    start(&path, settings, false)
}

/// Where the interface starts.
struct Settings {
    sort: usize,
    children: bool,
    order: CallOrder,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sort: 0,
            children: true,
            order: CallOrder::Callee,
        }
    }
}

/// A missing or unreadable file is a one-line error before the interface
/// takes the terminal.
fn check_readable(path: &Path) -> Result<()> {
    std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(())
}

fn start(path: &Path, settings: Settings, test_panic: bool) -> Result<i32> {
    let title = path.display().to_string();
    let loader = loader(path.to_path_buf());
    strobe_tui::terminal::run_with(
        title,
        loader,
        strobe_tui::RunOptions {
            panic_after_load: test_panic,
        },
        move |app| {
            app.sort = settings.sort;
            app.children = settings.children;
            app.order = settings.order;
        },
    )?;
    Ok(0)
}

/// The loader: maps the file, reads it as a strobe file or perf.data, and
/// folds it into the interface's model, with the header `strobe info` shows.
fn loader(path: PathBuf) -> strobe_tui::Loader {
    Box::new(move |progress, cancelled| {
        load(&path, progress, cancelled).map_err(|e| {
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message.push_str(&format!(": {cause}"));
                }
            }
            message
        })
    })
}

fn load(
    path: &Path,
    progress: &mut dyn FnMut(strobe_tui::LoadUpdate),
    cancelled: &dyn Fn() -> bool,
) -> Result<strobe_tui::Model> {
    let file = crate::recording_file::MappedFile::open(path)?;
    let bytes: &[u8] = &file.map;
    let mut header = Vec::new();
    let from = |recording: &Recording<'_>, header: &mut Vec<String>| {
        for (event, reason) in &recording.format_errors {
            header.push(format!(
                "# note: the format of {event} does not parse ({reason}); its events show without fields"
            ));
        }
    };
    if input::is_perf_data(bytes) {
        let kallsyms = std::fs::read("/proc/kallsyms").unwrap_or_default();
        let recording = Recording::from_perf_data(bytes, kallsyms)
            .with_context(|| format!("cannot read {}", path.display()))?;
        header.push(format!(
            "# file: {} ({}, perf.data)",
            path.display(),
            crate::units::human_bytes(bytes.len() as u64)
        ));
        for event in &recording.events {
            header.push(format!("# event: {event}"));
        }
        header.push(format!(
            "# call graph: {}",
            if recording.call_graph { "yes" } else { "none" }
        ));
        header.push(
            "# kernel symbols: the running kernel's /proc/kallsyms, as perf report reads them"
                .into(),
        );
        from(&recording, &mut header);
        return Ok(strobe_tui::load(&recording, header, progress, cancelled)?);
    }
    let strobe_file =
        StrobeFile::parse(bytes).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = Vec::new();
    crate::cmd_info::describe(path, false, &mut text)?;
    header.extend(String::from_utf8_lossy(&text).lines().map(str::to_string));
    let recording = Recording::from_strobe(&strobe_file)
        .with_context(|| format!("cannot read {}", path.display()))?;
    from(&recording, &mut header);
    Ok(strobe_tui::load(&recording, header, progress, cancelled)?)
}

/// `--bench-keys`: the benchmark of the interface on a file.
fn bench(path: &Path) -> Result<i32> {
    let result = strobe_tui::bench_keys(loader(path.to_path_buf())).map_err(anyhow::Error::msg)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "samples: {}", result.samples)?;
    writeln!(out, "classes: {}", result.classes)?;
    writeln!(out, "classes merged over time: {}", result.merged)?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    writeln!(
        out,
        "first frame (loading screen): {:.1} ms",
        ms(result.first_frame)
    )?;
    writeln!(
        out,
        "first frame with samples (partial): {:.1} ms",
        ms(result.first_data)
    )?;
    writeln!(
        out,
        "first report frame (loaded): {:.1} ms",
        ms(result.first_report)
    )?;
    let max = result.keys.iter().map(|k| k.1).max().unwrap_or_default();
    let total: std::time::Duration = result.keys.iter().map(|k| k.1).sum();
    for (name, time) in &result.keys {
        writeln!(out, "key {name}: {:.2} ms", ms(*time))?;
    }
    writeln!(
        out,
        "keys: {}, mean {:.2} ms, max {:.2} ms",
        result.keys.len(),
        ms(total) / result.keys.len().max(1) as f64,
        ms(max)
    )?;
    Ok(0)
}
