//! `strobe record`.

use crate::cli::RecordArgs;
use crate::output_file::OutputFile;
use crate::signals;
use crate::units::{human_bytes, parse_size};
use anyhow::{bail, Context, Result};
use strobe_probe::spec::EventResolver;
use strobe_probe::EventSpec;
use strobe_record::workload::Workload;
use strobe_record::{Controls, RecordOptions, Session};

/// Default per-CPU buffer: 128 pages (512 KiB with 4 KiB pages), perf's default for root.
const DEFAULT_BUFFER_PAGES: usize = 128;

fn buffer_pages(arg: Option<&str>) -> Result<usize> {
    let Some(arg) = arg else {
        return Ok(DEFAULT_BUFFER_PAGES);
    };
    let page = strobe_probe::sys::page_size() as u64;
    let pages = if arg.chars().all(|c| c.is_ascii_digit()) {
        arg.parse::<u64>().ok()
    } else {
        parse_size(arg).map(|bytes| bytes / page)
    };
    // A drain of a whole buffer must fit in one chunk; 128 MiB per CPU is
    // far more than any recording needs.
    let max_pages = (128 << 20) / page;
    match pages {
        Some(n) if n >= 1 && n.is_power_of_two() && n <= max_pages => Ok(n as usize),
        _ => bail!("-m {arg}: the buffer must be a power of two pages (1, 2, 4, ...) up to 128M, or a size such as 512K"),
    }
}

pub fn run(args: RecordArgs) -> Result<i32> {
    if let Some(mode) = args.call_graph_mode.as_deref() {
        if mode != "fp" {
            bail!("--call-graph {mode}: only `fp` (frame pointers) is supported so far");
        }
    }
    let mut resolver = EventResolver::new();
    if let Some(name) = args.event_table.as_deref() {
        let table = strobe_probe::pmu::tables::table(name).with_context(|| {
            format!("--event-table {name}: no such table; `strobe list cpus` names them")
        })?;
        resolver = resolver.with_table(Some(table));
    }
    let mut events = Vec::new();
    for (list, filter) in &args.event_lists {
        let mut specs = resolver.resolve_list(list)?;
        if let Some(spec) = specs.iter().find(|s| s.sample_read) {
            bail!(
                "{}: leader sampling (:S) is not supported by strobe record yet; \
                 drop the S to sample each event of the group on its own",
                spec.name
            );
        }
        if let Some(filter) = filter {
            for spec in &mut specs {
                spec.filter = Some(filter.clone());
            }
        }
        events.extend(specs);
    }
    let events_defaulted = events.is_empty();
    if events_defaulted {
        events.push(EventSpec::parse("cycles").expect("cycles is a known event"));
    }
    let mut targets = args.target.targets(&args.command, "record")?;
    let ring_size = match args.ring.as_deref() {
        Some(text) => Some(
            parse_size(text)
                .with_context(|| format!("--ring {text}: expected a size such as 64M"))?,
        ),
        None => None,
    };

    let mut workload = if args.command.is_empty() {
        None
    } else {
        Some(Workload::prepare(&args.command)?)
    };
    targets.workload = workload.as_ref().map(Workload::pid);
    // After the fork, so the held child keeps the default signal actions.
    signals::install();
    let options = RecordOptions {
        events,
        events_defaulted,
        targets,
        frequency: args.freq,
        period: args.period,
        call_graph: args.call_graph || args.call_graph_mode.is_some(),
        buffer_pages: buffer_pages(args.mmap_pages.as_deref())?,
        ring_size,
        compress: args.compress,
        full_kallsyms: args.full_kallsyms,
        command_line: std::env::args().collect(),
    };

    let output_file = OutputFile::new(&args.output);
    let output = &args.output;
    let session = match Session::open(options, || output_file.create()) {
        Ok(session) => session,
        Err(err) => {
            output_file.restore();
            return Err(err.into());
        }
    };
    if !args.quiet {
        for notice in session.notices() {
            eprintln!("strobe: {notice}");
        }
    }
    if let Some(w) = workload.as_mut() {
        if let Err(err) = w.start() {
            drop(session);
            output_file.restore();
            return Err(err.into());
        }
    }
    // Each snapshot is copied while the recording file is consistent, so it
    // stays a finished file however long the recording goes on.
    let quiet = args.quiet;
    let mut copy_snapshot = |n: u64| -> std::io::Result<()> {
        let mut copy = output.clone().into_os_string();
        copy.push(format!(".{n}"));
        std::fs::copy(output, &copy)?;
        if !quiet {
            eprintln!("strobe: snapshot {n} written to {}", copy.to_string_lossy());
        }
        Ok(())
    };
    let mut controls = Controls {
        stop: &signals::STOP,
        snapshot: &signals::SNAPSHOT,
        on_snapshot: &mut copy_snapshot,
    };
    let summary = match session.run(&mut controls, workload.as_mut()) {
        Ok(summary) => summary,
        Err(err) => {
            // Do not leave the command running unprofiled behind us.
            if let Some(w) = workload.as_mut() {
                w.terminate();
                w.wait();
            }
            return Err(err.into());
        }
    };

    if !args.quiet {
        let mut line = format!(
            "[ strobe record: wrote {} to {}: {} samples",
            human_bytes(summary.file_bytes),
            output.display(),
            summary.samples
        );
        let lost = summary.lost_events + summary.lost_samples;
        if lost == 0 {
            line.push_str(", 0 lost");
        } else {
            line.push_str(&format!(
                "; LOST {lost} events ({} buffer full, {} dropped by the kernel): use a larger -m or a lower -F",
                summary.lost_events, summary.lost_samples
            ));
        }
        if summary.throttled > 0 {
            line.push_str(&format!("; throttled {} times", summary.throttled));
        }
        if summary.ring_wrapped {
            line.push_str("; ring wrapped, oldest data overwritten");
        }
        match summary.snapshots {
            0 => {}
            1 => line.push_str("; 1 snapshot written"),
            n => line.push_str(&format!("; {n} snapshots written")),
        }
        line.push_str(" ]");
        eprintln!("{line}");
    }
    Ok(summary.exit_status.unwrap_or(0))
}
