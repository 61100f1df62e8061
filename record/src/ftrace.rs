//! `strobe trace`: recording through a tracefs instance's ftrace ring buffer.
//!
//! The session creates its own instance (never touching the global tracing
//! state), sets up tracepoints and/or the function tracers in it, and reads
//! each CPU's `trace_pipe_raw` on a thread of its own. A read returns whole
//! ring-buffer pages in the kernel's encoding; the pages are written as
//! [`ChunkKind::FtracePages`] chunks as they are, one chunk per batch of
//! pages of one CPU. The instance is removed when the session ends, and a
//! later session removes instances left by a strobe that was killed.

use crate::format::records::RunStats;
use crate::format::writer::{FileWriter, Sink};
use crate::format::{
    ChunkKind, FtraceCpuStats, FtraceEventMeta, FtraceMeta, SessionMeta, TrailerMeta,
};
use crate::session::Targets;
use crate::workload::Workload;
use crate::{procfs, RecordError};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use strobe_probe::tracefs::format::TracepointFormat;
use strobe_probe::tracefs::page::{self, Missed, PageLayout};
use strobe_probe::tracefs::{lockdown_mode, Instance, Tracefs};
use strobe_probe::{CpuList, EventSpec};

/// What to trace.
#[derive(Debug, Clone, Default)]
pub struct TraceOptions {
    /// Tracepoints, each with its filter.
    pub events: Vec<EventSpec>,
    /// Run the function tracer.
    pub function_tracer: bool,
    /// Run the function_graph tracer (entries and exits, with durations).
    pub graph: bool,
    /// `set_ftrace_filter` globs: trace only these functions.
    pub functions: Vec<String>,
    /// `set_ftrace_notrace` globs: never trace these.
    pub notrace: Vec<String>,
    /// Whom to trace.
    pub targets: Targets,
    /// Ring buffer per CPU, KiB (`buffer_size_kb`); the kernel's default if `None`.
    pub buffer_kb: Option<u64>,
    /// Sub-buffer (page) size, KiB (`buffer_subbuf_size_kb`, Linux 6.8 and
    /// later); the kernel's default (one page) if `None`.
    pub subbuf_kb: Option<u64>,
    /// zstd-compress the page chunks.
    pub compress: bool,
    /// strobe's command line, for the metadata.
    pub command_line: Vec<String>,
    /// Events are printed as they come (`--live`), not stored.
    pub live: bool,
    /// The instance's `trace_clock`; `local` (the kernel's per-CPU
    /// sched_clock, as trace-cmd and perf use by default) if `None`.
    pub clock: Option<String>,
}

/// What a trace produced.
#[derive(Debug, Clone, Default)]
pub struct TraceSummary {
    /// Bytes in the file.
    pub file_bytes: u64,
    /// Events read from the ring buffers.
    pub events: u64,
    /// Pages read.
    pub pages: u64,
    /// Events the kernel overwrote or dropped, over all CPUs
    /// (`per_cpu/cpuN/stats`).
    pub overrun: u64,
    /// Events dropped because a buffer was full.
    pub dropped: u64,
    /// Pages that said events were missed before them.
    pub pages_with_missed_events: u64,
    /// The workload's exit status, if there was one.
    pub exit_status: Option<i32>,
}

/// Pages of one CPU, read in one go.
struct Batch {
    cpu: u32,
    /// A buffer from the [`BufferPool`]; the pages are `buffer[..len]`.
    buffer: Vec<u8>,
    len: usize,
}

impl Batch {
    fn pages(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

/// Batch buffers go back and forth between the readers and the writer
/// instead of being allocated, faulted in and zeroed for every batch: at a
/// few hundred megabytes a second that work is a measurable share of a
/// tracer's cost.
type BufferPool = std::sync::Mutex<Vec<Vec<u8>>>;

/// Tells the caller about pages as they arrive (for `trace --live`).
pub type PageSink<'a> = &'a mut dyn FnMut(u32, &[u8], &PageLayout, usize);

/// A trace in progress.
pub struct TraceSession<S: Sink> {
    instance: Option<Instance>,
    writer: Option<FileWriter<S>>,
    cpus: Vec<u32>,
    layout: PageLayout,
    subbuf_size: usize,
    meta: SessionMeta,
    notices: Vec<String>,
    tracefs: Tracefs,
    /// Processes given with -p, whose exit ends the trace.
    watched: Vec<i32>,
    /// /proc/kallsyms, being read.
    kallsyms: Option<std::thread::JoinHandle<Vec<u8>>>,
    /// Names of the processes running at the start, being read.
    comms: Option<std::thread::JoinHandle<Vec<(i32, String)>>>,
}

impl<S: Sink> std::fmt::Debug for TraceSession<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSession")
            .field("instance", &self.instance)
            .field("cpus", &self.cpus)
            .finish_non_exhaustive()
    }
}

/// Explains a refused function-tracer write: lockdown, or (for the filter
/// files, where EINVAL means a glob matched nothing) an unknown function.
fn tracer_error(e: strobe_probe::Error, what: &str, glob: bool) -> RecordError {
    if e.raw_os_error() == Some(libc::EPERM) {
        if let Some(mode) = lockdown_mode().filter(|m| m != "none") {
            return RecordError::FunctionTracerBlocked(mode);
        }
    }
    if glob && e.raw_os_error() == Some(libc::EINVAL) {
        return RecordError::NoSuchFunction(what.to_string());
    }
    e.into()
}

/// A CPU set as the kernel's bitmap syntax: 32-bit hex groups separated by
/// commas, most significant first (`ff,00000001`).
fn cpumask(cpus: &[u32]) -> String {
    let max = cpus.iter().copied().max().unwrap_or(0);
    let mut groups = vec![0u32; max as usize / 32 + 1];
    for &cpu in cpus {
        groups[cpu as usize / 32] |= 1 << (cpu % 32);
    }
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == 0 {
                format!("{g:x}")
            } else {
                format!("{g:08x}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `per_cpu/cpuN/stats`.
fn parse_cpu_stats(cpu: u32, text: &str) -> FtraceCpuStats {
    let mut stats = FtraceCpuStats {
        cpu,
        ..Default::default()
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<u64>() else {
            continue;
        };
        match key.trim() {
            "entries" => stats.entries = value,
            "overrun" => stats.overrun = value,
            "commit overrun" => stats.commit_overrun = value,
            "dropped events" => stats.dropped_events = value,
            "read events" => stats.read_events = value,
            _ => {}
        }
    }
    stats
}

/// The command names of the processes running now.
fn current_comms() -> Vec<(i32, String)> {
    procfs::all_pids()
        .into_iter()
        .filter_map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid, comm.trim_end().to_string()))
        })
        .collect()
}

impl<S: Sink> TraceSession<S> {
    /// Sets up the instance and, unless `create_sink` is `None` (live
    /// mode), the file. Tracing starts in [`TraceSession::run`].
    pub fn open(
        options: &TraceOptions,
        create_sink: Option<Box<dyn FnOnce() -> std::io::Result<S> + '_>>,
    ) -> Result<Self, RecordError> {
        let tracefs = Tracefs::open()?;
        let instance = tracefs.create_instance("trace")?;
        let notices = Vec::new();
        // A new instance records at once; nothing should reach its buffer
        // before everything is set up.
        instance.write("tracing_on", "0")?;
        if let Some(kb) = options.subbuf_kb {
            // Before buffer_size_kb: changing the sub-buffer size reallocates
            // the buffer.
            let current = instance.read("buffer_subbuf_size_kb").ok();
            if let Err(e) = instance.write("buffer_subbuf_size_kb", &kb.to_string()) {
                let reason = match (current.is_some(), e.raw_os_error()) {
                    (false, _) => {
                        "this kernel has no buffer_subbuf_size_kb; it needs Linux 6.8 or later"
                            .to_string()
                    }
                    (true, Some(libc::EINVAL)) => {
                        "it takes 1 to 128 pages, rounded up to a power of two".to_string()
                    }
                    (true, Some(libc::EPERM)) => {
                        "this kernel does not let the size change, even as root".to_string()
                    }
                    (true, _) => e.to_string(),
                };
                return Err(RecordError::SubbufRefused {
                    kb,
                    reason,
                    current: current.map_or("4".to_string(), |c| c.trim().to_string()),
                });
            }
        }
        if let Some(kb) = options.buffer_kb {
            instance.write("buffer_size_kb", &kb.to_string())?;
        }
        // Printing as events happen: wake the readers for any data, not
        // only once the buffer is half full.
        if options.live {
            let _ = instance.write("buffer_percent", "0");
        }
        // The trace clock: what the user asked for, or the instance default.
        let clocks = instance.read("trace_clock").unwrap_or_default();
        let available: Vec<&str> = clocks
            .split_whitespace()
            .map(|c| c.trim_matches(['[', ']']))
            .collect();
        let clock = match &options.clock {
            Some(asked) if available.contains(&asked.as_str()) => asked.clone(),
            Some(asked) => {
                return Err(RecordError::Trace(format!(
                    "--clock {asked}: this kernel's trace clocks are {}",
                    available.join(", ")
                )))
            }
            // The instance's own default, as trace-cmd and perf use: the
            // cheapest clock to read on every event, and changing the clock
            // costs the kernel an RCU grace period at the start.
            None => "local".to_string(),
        };
        if clock != "local" {
            instance.write("trace_clock", &clock)?;
        }

        let online = CpuList::online()?;
        let cpus = match &options.targets.cpus {
            Some(list) => list.clone().require_within(&online)?,
            None => online,
        };
        if options.targets.cpus.is_some() {
            instance.write("tracing_cpumask", &cpumask(cpus.as_slice()))?;
        }

        for &pid in &options.targets.pids {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return Err(RecordError::NoSuchProcess(pid));
            }
        }
        let mut pids: Vec<i32> = options.targets.pids.clone();
        // The kernel filters by thread id: every thread of each process.
        for &pid in &options.targets.pids {
            pids.extend(procfs::thread_ids(pid).into_iter().filter(|&t| t != pid));
        }
        pids.extend(&options.targets.tids);
        pids.extend(options.targets.workload);
        let follow = !pids.is_empty() && !options.targets.system_wide;
        if follow {
            let list = pids
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            // Children of the traced tasks are traced too, as with perf's
            // inherited events.
            instance.write("options/event-fork", "1")?;
            instance.write("set_event_pid", &list)?;
            if options.function_tracer || options.graph {
                let _ = instance.write("options/function-fork", "1");
                instance
                    .write("set_ftrace_pid", &list)
                    .map_err(|e| tracer_error(e, "set_ftrace_pid", false))?;
            }
        }

        let mut events = Vec::new();
        for spec in &options.events {
            let Some(tracepoint) = &spec.tracepoint else {
                return Err(RecordError::NotATracepoint(spec.name.clone()));
            };
            let dir = Path::new("events")
                .join(&tracepoint.system)
                .join(&tracepoint.name);
            if let Some(filter) = &spec.filter {
                match instance.write(dir.join("filter"), filter) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        let log = instance.read("error_log").unwrap_or_default();
                        return Err(RecordError::FilterRejected {
                            event: spec.name.clone(),
                            rejection: strobe_probe::tracefs::parse_filter_error(&log, filter),
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            instance.write(dir.join("enable"), "1")?;
            events.push(FtraceEventMeta {
                name: tracepoint.to_string(),
                id: spec.config as u32,
                format: tracefs.format_text(tracepoint)?,
                filter: spec.filter.clone(),
            });
        }

        let tracer = if options.graph {
            "function_graph"
        } else if options.function_tracer {
            "function"
        } else {
            "nop"
        };
        if tracer != "nop" {
            for glob in &options.functions {
                instance
                    .append("set_ftrace_filter", glob)
                    .map_err(|e| tracer_error(e, glob, true))?;
            }
            for glob in &options.notrace {
                instance
                    .append("set_ftrace_notrace", glob)
                    .map_err(|e| tracer_error(e, glob, true))?;
            }
            if !instance.available_tracers().iter().any(|t| t == tracer) {
                return Err(RecordError::TracerUnavailable(tracer.to_string()));
            }
            instance
                .write("current_tracer", tracer)
                .map_err(|e| tracer_error(e, tracer, false))?;
            // The tracer's own events (function, funcgraph_entry, ...) are
            // described under events/ftrace.
            for tracepoint in tracefs
                .tracepoints()?
                .into_iter()
                .filter(|t| t.system == "ftrace")
            {
                let format = tracefs.format_text(&tracepoint)?;
                let id = TracepointFormat::parse("ftrace", &format).map_or(0, |f| f.id);
                events.push(FtraceEventMeta {
                    name: tracepoint.to_string(),
                    id,
                    format,
                    filter: None,
                });
            }
        }

        let header_page = tracefs.header_page()?;
        let layout = PageLayout::parse(&header_page)
            .map_err(|e| RecordError::Trace(format!("cannot read events/header_page: {e}")))?;
        let page_size = strobe_probe::sys::page_size();
        let subbuf_size = instance
            .read("buffer_subbuf_size_kb")
            .ok()
            .and_then(|kb| kb.trim().parse::<usize>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(page_size)
            .max(page_size);

        let mut meta = SessionMeta {
            strobe_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: options.command_line.clone(),
            cpus_online: CpuList::online()?.as_slice().len() as u32,
            cpus_recorded: cpus.as_slice().to_vec(),
            pmu: "ftrace".into(),
            target: if follow {
                format!(
                    "pid {}",
                    pids.iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            } else {
                "system-wide".into()
            },
            clock: if clock == "mono" {
                "CLOCK_MONOTONIC".into()
            } else {
                format!("ftrace {clock}")
            },
            start_time_ns: crate::session::monotonic_ns(),
            start_realtime_ns: crate::session::clock_ns(libc::CLOCK_REALTIME),
            page_size: page_size as u32,
            buffer_pages: 0,
            compressed: options.compress,
            notes: notices.clone(),
            ftrace: Some(FtraceMeta {
                header_page,
                header_event: tracefs.header_event()?,
                subbuf_size: subbuf_size as u32,
                clock: clock.clone(),
                tracer: tracer.into(),
                functions: options.functions.clone(),
                notrace: options.notrace.clone(),
                events,
            }),
            ..Default::default()
        };
        procfs::describe_host(&mut meta);
        if let Some(target) = options.targets.workload {
            meta.target = format!(
                "command {} (pid {target})",
                crate::session::workload_text(&options.command_line)
            );
        }

        let writer = match create_sink {
            Some(create) => {
                let sink = create().map_err(|e| RecordError::Write(e.into()))?;
                let mut writer =
                    FileWriter::create(sink, meta.start_realtime_ns, None, options.compress)?;
                let json =
                    serde_json::to_vec(&meta).map_err(|e| RecordError::Trace(e.to_string()))?;
                writer.write_meta(ChunkKind::Session, &json, true)?;
                writer.begin_data(0)?;
                Some(writer)
            }
            None => None,
        };

        // Function addresses, and the kernel addresses in tracepoint fields,
        // are resolved with the whole kallsyms: which will show up is not
        // known until the pages are decoded. Reading it takes a while, so
        // it is read while tracing and written once read (a file that is
        // not a ring may have metadata after data).
        let kallsyms = std::thread::spawn(|| procfs::read_text(Path::new("/proc/kallsyms")));
        // The names of the processes running at the start, for their events
        // (those started later are in saved_cmdlines at the end).
        let comms = std::thread::spawn(current_comms);
        Ok(TraceSession {
            tracefs,
            comms: Some(comms),
            kallsyms: Some(kallsyms),
            instance: Some(instance),
            writer,
            cpus: cpus.as_slice().to_vec(),
            layout,
            subbuf_size,
            meta,
            notices,
            watched: if options.targets.system_wide {
                Vec::new()
            } else {
                options.targets.pids.clone()
            },
        })
    }

    /// Messages about how the trace was set up.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The metadata the file starts with.
    pub fn meta(&self) -> &SessionMeta {
        &self.meta
    }

    /// Traces until `stop` is set or the workload exits, then reads what is
    /// left, writes the trailer, and removes the instance.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        mut workload: Option<&mut Workload>,
        mut live: Option<PageSink<'_>>,
    ) -> Result<TraceSummary, RecordError> {
        let instance = self
            .instance
            .as_ref()
            .ok_or_else(|| RecordError::Trace("the trace already ran".into()))?;
        let mut readers = Vec::new();
        for &cpu in &self.cpus {
            let path = instance
                .root()
                .join(format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags_nonblock()
                .open(&path)
                .map_err(|e| RecordError::Trace(format!("cannot open {}: {e}", path.display())))?;
            readers.push((cpu, file));
        }
        instance.write("tracing_on", "1")?;
        if let Some(w) = workload.as_deref_mut() {
            w.start()?;
        }

        let (sender, batches) = sync_channel::<Batch>(64);
        let finishing = Arc::new(AtomicBool::new(false));
        let pool = BufferPool::default();
        let subbuf = self.subbuf_size;
        let mut summary = TraceSummary::default();
        let result = std::thread::scope(|scope| {
            for (cpu, file) in readers {
                let sender = sender.clone();
                let finishing = finishing.clone();
                let pool = &pool;
                scope.spawn(move || read_cpu(cpu, file, subbuf, &sender, &finishing, pool));
            }
            drop(sender);
            let mut stopped = false;
            loop {
                if !stopped {
                    let workload_done = workload
                        .as_deref_mut()
                        .is_some_and(|w| w.try_wait().is_some());
                    // With -p, the trace ends when every traced process has.
                    let targets_gone = !self.watched.is_empty()
                        && !self
                            .watched
                            .iter()
                            .any(|&pid| crate::session::task_is_alive(pid));
                    let interrupted = stop.load(Ordering::Relaxed);
                    if interrupted || workload_done || targets_gone {
                        stopped = true;
                        // A command is not left running untraced behind us.
                        if interrupted {
                            if let Some(w) = workload.as_deref_mut() {
                                w.terminate();
                            }
                        }
                        // Stop the buffers, then let the readers take what
                        // is left and end.
                        if let Some(instance) = &self.instance {
                            let _ = instance.write("tracing_on", "0");
                        }
                        finishing.store(true, Ordering::Relaxed);
                    }
                }
                if self.kallsyms.as_ref().is_some_and(|t| t.is_finished()) {
                    self.write_kallsyms()?;
                }
                // Short waits: the end of the command is noticed at once.
                match batches.recv_timeout(Duration::from_millis(10)) {
                    Ok(batch) => {
                        self.take_batch(&batch, &mut summary, &mut live)?;
                        if let Ok(mut free) = pool.lock() {
                            free.push(batch.buffer);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            Ok::<(), RecordError>(())
        });
        if let Some(w) = workload {
            if result.is_err() {
                w.terminate();
            }
            summary.exit_status = Some(w.wait());
        }
        result?;

        let instance = self
            .instance
            .take()
            .ok_or_else(|| RecordError::Trace("the trace already ran".into()))?;
        let mut cpu_stats = Vec::new();
        for &cpu in &self.cpus {
            let text = instance
                .read(format!("per_cpu/cpu{cpu}/stats"))
                .unwrap_or_default();
            let stats = parse_cpu_stats(cpu, &text);
            summary.overrun += stats.overrun + stats.commit_overrun;
            summary.dropped += stats.dropped_events;
            cpu_stats.push(stats);
        }
        let mut comms = self
            .comms
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        comms.extend(self.tracefs.saved_cmdlines());
        // Removing an instance takes the kernel a while (RCU grace periods):
        // it goes on while the file is finished.
        let removal = std::thread::spawn(move || instance.remove());
        self.write_kallsyms()?;
        if let Some(writer) = &mut self.writer {
            let trailer = TrailerMeta {
                end_time_ns: crate::session::monotonic_ns(),
                exit_status: summary.exit_status,
                chunks_written: writer.data_chunks_written(),
                ftrace_cpus: cpu_stats,
                saved_comms: comms,
                ..Default::default()
            };
            summary.file_bytes = writer.finish(&trailer)?;
        }
        removal
            .join()
            .map_err(|_| RecordError::Trace("removing the tracefs instance failed".into()))??;
        Ok(summary)
    }

    /// Writes the kallsyms text once its thread has read it.
    fn write_kallsyms(&mut self) -> Result<(), RecordError> {
        let Some(thread) = self.kallsyms.take() else {
            return Ok(());
        };
        let kallsyms = thread.join().unwrap_or_default();
        if let Some(writer) = &mut self.writer {
            if !kallsyms.is_empty() {
                writer.write_meta(ChunkKind::Kallsyms, &kallsyms, true)?;
            }
        }
        Ok(())
    }

    fn take_batch(
        &mut self,
        batch: &Batch,
        summary: &mut TraceSummary,
        live: &mut Option<PageSink<'_>>,
    ) -> Result<(), RecordError> {
        let mut stats = RunStats::default();
        for bytes in batch.pages().chunks(self.subbuf_size) {
            // A page that does not decode is still stored: the reader
            // counts it as damaged, and nothing that was read is lost.
            if let Ok(s) = page::summarize(&self.layout, bytes) {
                stats.records += s.events as u64;
                stats.samples += s.events as u64;
                if s.events > 0 {
                    stats.time_start =
                        Some(stats.time_start.map_or(s.first_ts, |t| t.min(s.first_ts)));
                    stats.time_end = Some(stats.time_end.map_or(s.last_ts, |t| t.max(s.last_ts)));
                }
                match s.missed {
                    Missed::None => {}
                    Missed::Some(n) => {
                        stats.lost_events += n;
                        summary.pages_with_missed_events += 1;
                    }
                    Missed::Unknown => summary.pages_with_missed_events += 1,
                }
            }
            summary.pages += 1;
        }
        summary.events += stats.records;
        if let Some(live) = live {
            live(batch.cpu, batch.pages(), &self.layout, self.subbuf_size);
        }
        if let Some(writer) = &mut self.writer {
            writer.write_records(ChunkKind::FtracePages, batch.cpu, batch.pages(), &stats)?;
        }
        Ok(())
    }
}

/// Most pages read before they are handed to the writer as one chunk.
const PAGES_PER_BATCH: usize = 256;

/// One CPU's reader: waits for data with poll, reads whole sub-buffers
/// until the buffer is empty, and hands them over in batches. Once
/// `finishing` is set (tracing is off), it reads what is left and ends.
fn read_cpu(
    cpu: u32,
    mut file: std::fs::File,
    subbuf: usize,
    sender: &std::sync::mpsc::SyncSender<Batch>,
    finishing: &AtomicBool,
    pool: &BufferPool,
) {
    let batch_bytes = subbuf * PAGES_PER_BATCH;
    // A buffer is zeroed once, when it is first made; after that it keeps
    // its full length and `len` says how much of it this batch filled.
    let take_buffer = || {
        pool.lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_else(|| vec![0u8; batch_bytes])
    };
    let mut buffer = take_buffer();
    let mut len = 0;
    let mut last_read = std::time::Instant::now();
    loop {
        let last_round = finishing.load(Ordering::Relaxed);
        // poll says readable once the buffer is `buffer_percent` full
        // (half, by default), so pages are read whole. A read without
        // that would take a page the writer is still filling, and store
        // it half empty: that is done only once a second, so a trace of
        // rare events still shows them, and at the end.
        if !last_round {
            let ready = strobe_probe::sys::poll_readable(file.as_fd(), 10);
            if !ready
                && last_read.elapsed() < Duration::from_secs(1)
                && !finishing.load(Ordering::Relaxed)
            {
                continue;
            }
        }
        last_read = std::time::Instant::now();
        // Read until the buffer is empty (EAGAIN) or a batch is full, each
        // sub-buffer straight into its place in the batch.
        while len < batch_bytes {
            let slot = &mut buffer[len..len + subbuf];
            match file.read(slot) {
                Ok(0) => break,
                Ok(n) => {
                    // A short read (a partly filled page at the end) is
                    // padded to a whole sub-buffer: the page header's
                    // commit says how much of it is data.
                    slot[n..].fill(0);
                    len += subbuf;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let full = len >= batch_bytes;
        if len > 0 {
            let batch = Batch {
                cpu,
                buffer: std::mem::replace(&mut buffer, take_buffer()),
                len: std::mem::take(&mut len),
            };
            if sender.send(batch).is_err() {
                return;
            }
        }
        if last_round && !full {
            return;
        }
    }
}

trait NonBlocking {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlocking for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stats() {
        let text = "entries: 12\noverrun: 3\ncommit overrun: 1\nbytes: 4096\noldest event ts:  8151.239620\nnow ts:  8153.112402\ndropped events: 7\nread events: 100\n";
        let s = parse_cpu_stats(1, text);
        assert_eq!(
            (
                s.cpu,
                s.entries,
                s.overrun,
                s.commit_overrun,
                s.dropped_events,
                s.read_events
            ),
            (1, 12, 3, 1, 7, 100)
        );
    }

    #[test]
    fn cpumasks() {
        assert_eq!(cpumask(&[0]), "1");
        assert_eq!(cpumask(&[0, 1, 3]), "b");
        assert_eq!(cpumask(&[0, 33]), "2,00000001");
        assert_eq!(cpumask(&[64]), "1,00000000,00000000");
    }
}
