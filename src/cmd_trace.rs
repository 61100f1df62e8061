//! `strobe trace`: the ftrace side, through a tracefs instance of strobe's own.

use crate::cli::TraceArgs;
use crate::output_file::OutputFile;
use crate::signals;
use crate::units::{human_bytes, parse_size};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Write;
use strobe_analyze::symbols::KernelSymbols;
use strobe_probe::tracefs::format::{KernelSymbolizer, TracepointFormat};
use strobe_probe::tracefs::page::{Page, PageLayout};
use strobe_probe::{CpuList, EventSpec};
use strobe_record::format::SessionMeta;
use strobe_record::ftrace::{TraceOptions, TraceSession};
use strobe_record::workload::Workload;
use strobe_record::Targets;

pub fn run(args: TraceArgs) -> Result<i32> {
    let mut events = Vec::new();
    for (list, filter) in &args.event_lists {
        for mut spec in EventSpec::resolve_list(list)? {
            if !spec.is_tracepoint() {
                bail!(
                    "{} is not a tracepoint: `strobe trace -e` takes SYSTEM:EVENT (use `strobe record` for other events)",
                    spec.name
                );
            }
            spec.filter = filter.clone();
            events.push(spec);
        }
    }
    let function_tracer = !args.func.is_empty() || !args.notrace.is_empty() || args.graph;
    if events.is_empty() && !function_tracer {
        bail!("nothing to trace: give tracepoints with -e SYSTEM:EVENT, functions with --func GLOB, or --graph (see `strobe trace --help`)");
    }
    let cpus = args.cpus.as_deref().map(CpuList::parse).transpose()?;
    if !args.pids.is_empty() && !args.command.is_empty() {
        bail!("give either -p or a command after --, not both");
    }
    let buffer_kb = match args.buffer_size.as_deref() {
        Some(text) => Some(
            parse_size(text)
                .filter(|&b| b >= 4096)
                .with_context(|| format!("-b {text}: expected a size such as 4M"))?
                / 1024,
        ),
        None => None,
    };
    let subbuf_kb = match args.subbuf_size.as_deref() {
        Some(text) => Some(
            parse_size(text)
                .filter(|&b| b >= 1024)
                .with_context(|| format!("--subbuf-size {text}: expected a size such as 8K"))?
                .div_ceil(1024),
        ),
        None => None,
    };
    let mut workload = if args.command.is_empty() {
        None
    } else {
        Some(Workload::prepare(&args.command)?)
    };
    signals::install();
    let options = TraceOptions {
        events,
        function_tracer,
        graph: args.graph,
        functions: args.func.clone(),
        notrace: args.notrace.clone(),
        targets: Targets {
            system_wide: (args.all_cpus || cpus.is_some()) && args.pids.is_empty(),
            cpus,
            pids: args.pids.clone(),
            tids: Vec::new(),
            workload: workload.as_ref().map(Workload::pid),
        },
        buffer_kb,
        subbuf_kb,
        compress: args.compress,
        command_line: std::env::args().collect(),
        clock: args.clock.clone(),
        live: args.live,
    };
    let output = OutputFile::new(&args.output);
    let sink: Option<Box<dyn FnOnce() -> std::io::Result<std::fs::File> + '_>> = if args.live {
        None
    } else {
        Some(Box::new(|| output.create()))
    };
    let mut session = match TraceSession::open(&options, sink) {
        Ok(session) => session,
        Err(err) => {
            output.restore();
            return Err(err.into());
        }
    };
    if !args.quiet {
        for notice in session.notices() {
            eprintln!("strobe: {notice}");
        }
    }
    let mut printer = if args.live {
        Some(LivePrinter::new(session.meta()))
    } else {
        None
    };
    let mut print_pages = |cpu: u32, pages: &[u8], layout: &PageLayout, subbuf: usize| {
        if let Some(p) = printer.as_mut() {
            p.print(cpu, pages, layout, subbuf);
        }
    };
    let live: Option<strobe_record::ftrace::PageSink<'_>> = if args.live {
        Some(&mut print_pages)
    } else {
        None
    };
    let summary = match session.run(&signals::STOP, workload.as_mut(), live) {
        Ok(summary) => summary,
        Err(err) => {
            if let Some(w) = workload.as_mut() {
                w.terminate();
                w.wait();
            }
            // A command that could not start leaves things as they were;
            // other failures keep what was written.
            if matches!(err, strobe_record::RecordError::Workload(_)) {
                drop(session);
                output.restore();
            }
            return Err(err.into());
        }
    };
    if !args.quiet {
        let mut line = if args.live {
            format!("[ strobe trace: {} events", summary.events)
        } else {
            format!(
                "[ strobe trace: wrote {} to {}: {} events in {} pages",
                human_bytes(summary.file_bytes),
                output.path().display(),
                summary.events,
                summary.pages
            )
        };
        let lost = summary.overrun + summary.dropped;
        if lost == 0 && summary.pages_with_missed_events == 0 {
            line.push_str(", 0 lost");
        } else {
            line.push_str(&format!(
                "; LOST {} events overrun, {} dropped ({} pages say events were missed): use a larger -b",
                summary.overrun, summary.dropped, summary.pages_with_missed_events
            ));
        }
        line.push_str(" ]");
        eprintln!("{line}");
    }
    Ok(summary.exit_status.unwrap_or(0))
}

/// Prints events as `strobe trace --live` reads them.
struct LivePrinter {
    /// Each event's name and format, by id.
    formats: HashMap<u16, (String, TracepointFormat)>,
    kernel: KernelSymbols,
    comms: HashMap<i32, String>,
    width: usize,
    tracefs: Option<strobe_probe::tracefs::Tracefs>,
}

struct Symbols<'a>(&'a KernelSymbols);

impl KernelSymbolizer for Symbols<'_> {
    fn symbolize(&self, addr: u64) -> Option<(&str, u64)> {
        self.0.lookup_offset(addr)
    }
}

impl LivePrinter {
    fn new(meta: &SessionMeta) -> Self {
        let mut formats = HashMap::new();
        let mut width = 0;
        for event in meta.ftrace.iter().flat_map(|f| &f.events) {
            let system = event.name.split(':').next().unwrap_or("");
            if let Ok(format) = TracepointFormat::parse(system, &event.format) {
                width = width.max(event.name.len());
                formats.insert(event.id as u16, (event.name.clone(), format));
            }
        }
        LivePrinter {
            formats,
            kernel: KernelSymbols::parse(&std::fs::read("/proc/kallsyms").unwrap_or_default()),
            comms: HashMap::new(),
            width,
            tracefs: strobe_probe::tracefs::Tracefs::open().ok(),
        }
    }

    fn print(&mut self, cpu: u32, pages: &[u8], layout: &PageLayout, subbuf: usize) {
        let mut out = std::io::stdout().lock();
        for bytes in pages.chunks(subbuf) {
            let Ok(page) = Page::parse(layout, bytes) else {
                continue;
            };
            for event in page.events().flatten() {
                let raw = event.payload;
                let Some(id) = raw.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]])) else {
                    continue;
                };
                let Some((name, format)) = self.formats.get(&id) else {
                    continue;
                };
                let tid = raw
                    .get(4..8)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(-1);
                let comm = self.comms.entry(tid).or_insert_with(|| {
                    if tid == 0 {
                        return "swapper".to_string();
                    }
                    // A process that has exited since is named by the
                    // kernel's saved command lines.
                    std::fs::read_to_string(format!("/proc/{tid}/comm"))
                        .ok()
                        .or_else(|| {
                            let saved = self.tracefs.as_ref()?.saved_cmdlines();
                            saved
                                .into_iter()
                                .find(|(pid, _)| *pid == tid)
                                .map(|(_, c)| c)
                        })
                        .map(|c| c.trim_end().to_string())
                        .unwrap_or_else(|| format!(":{tid}"))
                });
                let ts = event.timestamp;
                let line = format!(
                    "{comm:>16} {tid:>5} [{cpu:03}] {:>5}.{:06}: {name:>width$}: {}\n",
                    ts / 1_000_000_000,
                    ts % 1_000_000_000 / 1000,
                    format.format_event(raw, &Symbols(&self.kernel)),
                    width = self.width
                );
                if out.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}
