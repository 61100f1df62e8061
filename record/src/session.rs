//! A recording session: opens the events, drains the per-CPU ring buffers
//! into chunks, and writes the trailer when it ends or is snapshotted.
//!
//! The drain loop copies bytes out of each ring and walks record headers to
//! count samples and lost events; it never decodes records. One chunk is one
//! drain of one CPU's buffer.

use crate::format::records::{RecordLayout, RunStats, WalkItem};
use crate::format::writer::{FileWriter, Sink};
use crate::format::{
    hex_encode, BuildId, ChunkKind, CpuTotals, EventMeta, ProbeMeta, SessionMeta, TrailerMeta,
    NO_CPU,
};
use crate::kallsyms::{AddressSet, KallsymsIndex};
use crate::procfs::{self, RecordSynthesizer};
use crate::workload::Workload;
use crate::{buildid, RecordError};
use std::collections::BTreeSet;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use strobe_probe::attr::sample;
use strobe_probe::tracefs::Tracefs;
use strobe_probe::{CpuList, EventSpec, PerfEvent, RingBuffer, SampleLayout};

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Record every task on the CPUs (`-a`).
    pub system_wide: bool,
    /// Restrict to these CPUs (`-C`); all online CPUs otherwise.
    pub cpus: Option<CpuList>,
    /// Existing processes, all their threads (`-p`).
    pub pids: Vec<i32>,
    /// Existing threads (`-t`).
    pub tids: Vec<i32>,
    /// The workload strobe forked (`-- command`).
    pub workload: Option<i32>,
}

impl Targets {
    /// The threads to attach per-task events to: the workload, every
    /// thread of each `-p` process, and each `-t` thread. A process or
    /// thread that does not exist is an error.
    pub fn task_ids(&self) -> Result<Vec<i32>, RecordError> {
        let mut tasks: Vec<i32> = self.workload.into_iter().collect();
        for &pid in &self.pids {
            let tids = procfs::thread_ids(pid);
            if tids.is_empty() {
                return Err(RecordError::NoSuchProcess(pid));
            }
            tasks.extend(tids);
        }
        for &tid in &self.tids {
            if !Path::new(&format!("/proc/{tid}")).exists() {
                return Err(RecordError::NoSuchProcess(tid));
            }
            tasks.push(tid);
        }
        Ok(tasks)
    }
}

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Events, in order; the first carries the side-band records.
    pub events: Vec<EventSpec>,
    /// Whether `events` is strobe's default (so a missing PMU may fall back).
    pub events_defaulted: bool,
    /// What to record.
    pub targets: Targets,
    /// Samples per second (`-F`), unless `period` is set.
    pub frequency: u64,
    /// Sample every N events (`-c`).
    pub period: Option<u64>,
    /// Record frame-pointer call chains (`-g`).
    pub call_graph: bool,
    /// Data pages per CPU buffer (`-m`), a power of two.
    pub buffer_pages: usize,
    /// Flight-recorder ring size in bytes (`--ring`).
    pub ring_size: Option<u64>,
    /// zstd-compress data chunks (`--compress`).
    pub compress: bool,
    /// Keep the whole of /proc/kallsyms rather than the symbols samples need
    /// (`--full-kallsyms`; always so in a ring).
    pub full_kallsyms: bool,
    /// The command line, for the metadata.
    pub command_line: Vec<String>,
}

/// What a finished recording did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Bytes in the file.
    pub file_bytes: u64,
    /// Samples recorded.
    pub samples: u64,
    /// Events lost because a buffer was full.
    pub lost_events: u64,
    /// Samples the kernel dropped for other reasons.
    pub lost_samples: u64,
    /// Times the kernel throttled sampling.
    pub throttled: u64,
    /// Data chunks written.
    pub chunks: u64,
    /// Whether the flight-recorder ring overwrote old data.
    pub ring_wrapped: bool,
    /// The workload's exit code.
    pub exit_status: Option<i32>,
    /// Snapshots taken on request.
    pub snapshots: u64,
}

/// Signals from outside the session (set from signal handlers).
pub struct Controls<'a> {
    /// End the recording (SIGINT, SIGTERM).
    pub stop: &'a AtomicBool,
    /// Write a consistent snapshot and go on (SIGUSR2).
    pub snapshot: &'a AtomicBool,
    /// Called with the snapshot's number (from 1) right after the file was
    /// made consistent, before any more data is written to it: the moment to
    /// copy it. An error ends the recording.
    pub on_snapshot: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
}

impl std::fmt::Debug for Controls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controls")
            .field("stop", &self.stop)
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}

struct CpuBuffer {
    cpu: u32,
    /// The descriptor that owns the ring (the first event opened on the CPU).
    owner_fd: i32,
    ring: RingBuffer,
    last_drain: Instant,
    totals: CpuTotals,
}

/// The kallsyms index and the modules text, read and indexed on a helper
/// thread: /proc/kallsyms takes tens of milliseconds to generate and index,
/// which the drain loop must not wait for.
type KernelSnapshot = JoinHandle<(KallsymsIndex, Vec<u8>)>;

/// An open recording.
pub struct Session<S: Sink> {
    writer: FileWriter<S>,
    events: Vec<PerfEvent>,
    buffers: Vec<CpuBuffer>,
    layout: RecordLayout,
    mapped_paths: BTreeSet<Vec<u8>>,
    kernel_snapshot: Option<KernelSnapshot>,
    /// Set once the kallsyms text has been read (not in ring mode, whose
    /// snapshot is written whole up front).
    kallsyms: Option<KallsymsIndex>,
    kernel_addresses: AddressSet,
    unresolved_kernel_addresses: Vec<u64>,
    watched: Vec<i32>,
    enable_on_exec: bool,
    scratch: Vec<u8>,
    notices: Vec<String>,
    wakeup_bytes: usize,
}

impl<S: Sink> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("events", &self.events.len())
            .field("buffers", &self.buffers.len())
            .finish()
    }
}

/// Time without a drain after which a buffer with anything in it is
/// drained anyway, so a crash loses at most this much.
const MAX_DRAIN_INTERVAL: Duration = Duration::from_millis(250);

pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a valid timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether event `i` is a group member whose leader comes before it (and
/// so should have been opened already).
fn leaders_missing(events: &[EventSpec], i: usize) -> bool {
    let group = events[i].group;
    events[..i].iter().any(|e| e.group == group)
}

pub(crate) fn is_unsupported(err: &strobe_probe::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV)
    )
}

fn max_sample_rate() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The command after `--` in strobe's own command line.
pub(crate) fn workload_text(command_line: &[String]) -> String {
    command_line
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a process (or thread) still runs: some thread of it is neither a
/// zombie nor dead. A process whose main thread exited while others go on
/// shows its main thread as a zombie, so every thread is looked at.
pub(crate) fn task_is_alive(id: i32) -> bool {
    let running = |stat: &str| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X')
    };
    let tids = procfs::thread_ids(id);
    if tids.is_empty() {
        return std::fs::read_to_string(format!("/proc/{id}/stat")).is_ok_and(|s| running(&s));
    }
    tids.iter().any(|tid| {
        std::fs::read_to_string(format!("/proc/{id}/task/{tid}/stat")).is_ok_and(|s| running(&s))
    })
}

impl<S: Sink> Session<S> {
    /// Opens every event, maps the buffers and writes the file's metadata.
    /// Counting starts now, or at exec for a workload.
    /// `create_sink` is called only once every event is open, so a
    /// recording that cannot start leaves no file behind (and renames none).
    pub fn open(
        mut options: RecordOptions,
        create_sink: impl FnOnce() -> std::io::Result<S>,
    ) -> Result<Self, RecordError> {
        let mut notices = Vec::new();
        let online = CpuList::online()?;
        let cpus_given = options.targets.cpus.is_some();
        let cpus = match options.targets.cpus.take() {
            Some(list) => list.require_within(&online)?,
            None => online.clone(),
        };
        let targets = &options.targets;
        let per_task = !targets.system_wide
            && (targets.workload.is_some() || !targets.pids.is_empty() || !targets.tids.is_empty());
        let tasks = if per_task {
            targets.task_ids()?
        } else {
            vec![-1]
        };
        let enable_on_exec = targets.workload.is_some() && !targets.system_wide;

        if options.period.is_none() {
            if let Some(max) = max_sample_rate().filter(|&max| options.frequency > max) {
                notices.push(format!(
                    "-F {} is above the kernel's limit (kernel.perf_event_max_sample_rate = {max}); sampling at {max} Hz",
                    options.frequency
                ));
                options.frequency = max;
            }
        }
        // Each chunk is one CPU's buffer, so samples need not carry the CPU;
        // and with a single event they need not carry its id.
        // A child that inherits a probe PMU's event makes the kernel read
        // the probe's target again through config1, in the memory of the
        // forking process, which after exec no longer holds strobe's string:
        // the fork would fail. So ephemeral probes follow the first process.
        if per_task && options.events.iter().any(|e| e.pmu_probe.is_some()) {
            notices.push(
                "ephemeral probes (kprobe:, uprobe:) follow the traced processes, not the children they start; a probe added with `strobe probe` follows children too".to_string(),
            );
        }
        let mut sample_type = sample::IP | sample::TID | sample::TIME | sample::PERIOD;
        if options.events.len() > 1 {
            sample_type |= sample::IDENTIFIER;
        }
        if options.call_graph {
            sample_type |= sample::CALLCHAIN;
        }
        if options.events.iter().any(|e| e.is_trace_event()) {
            sample_type |= sample::RAW;
        }
        let page_size = strobe_probe::sys::page_size();
        let buffer_bytes = options.buffer_pages * page_size;
        // Wake up when a quarter of the buffer is full: the rest absorbs
        // what arrives while we drain, even when strobe waits for a CPU on a
        // busy machine, and chunks stay large, so their headers cost little.
        let wakeup_bytes = (buffer_bytes / 4).max(page_size / 2);
        let build_attr = |spec: &EventSpec, first: bool, build_id: bool| {
            let mut attr = spec
                .attr()
                .sample_type_bits(sample_type)
                .sample_id_all(true)
                .inherit(per_task && spec.pmu_probe.is_none())
                .enable_on_exec(enable_on_exec)
                .clock(libc::CLOCK_MONOTONIC)
                .wakeup_watermark(wakeup_bytes as u32);
            attr = match spec.period.or(options.period) {
                Some(period) => attr.sample_period(period),
                // Every hit of a tracepoint is a sample, as in perf.
                None if spec.is_trace_event() => attr.sample_period(1),
                None => attr.sample_frequency(options.frequency),
            };
            if first {
                attr = attr.track_side_band(build_id);
            }
            attr
        };

        // Open the first event once to learn what this kernel and machine
        // support: MMAP2 build-ids (5.12+) and a hardware PMU.
        let probe_cpu = cpus.as_slice()[0] as i32;
        let probe_task = tasks[0];
        let mut build_id = true;
        loop {
            let attr = build_attr(&options.events[0], true, build_id);
            match PerfEvent::open(&attr, &options.events[0].name, probe_task, probe_cpu) {
                Ok(_) => break,
                Err(e) if build_id && e.raw_os_error() == Some(libc::EINVAL) => build_id = false,
                Err(e) if is_unsupported(&e) && options.events[0].is_hardware() => {
                    if !options.events_defaulted {
                        return Err(RecordError::NoHardwarePmu(options.events[0].name.clone()));
                    }
                    notices.push(format!(
                        "{} is not supported here (no hardware PMU); sampling cpu-clock instead",
                        options.events[0].name
                    ));
                    options.events = vec![EventSpec::cpu_clock()];
                }
                Err(e) => return Err(e.into()),
            }
        }

        let mut events = Vec::new();
        let mut buffers = Vec::new();
        let mut event_meta: Vec<EventMeta> = Vec::new();
        let tracefs = if options.events.iter().any(|e| e.is_tracepoint()) {
            Some(Tracefs::open()?)
        } else {
            None
        };
        for (i, spec) in options.events.iter().enumerate() {
            let attr = build_attr(spec, i == 0, build_id);
            let format = match (&tracefs, &spec.tracepoint) {
                (Some(fs), Some(tp)) => Some(fs.format_text(tp)?),
                _ => spec.probe_format().map(str::to_string),
            };
            event_meta.push(EventMeta {
                name: spec.name.clone(),
                attr: hex_encode(&attr.to_bytes()),
                ids: Vec::new(),
                format,
                filter: spec.filter.clone(),
            });
        }
        for &cpu in cpus.as_slice() {
            let mut owner: Option<usize> = None;
            for &task in &tasks {
                // Group leaders opened for this CPU and task, by group number.
                let mut leaders: Vec<(u32, usize)> = Vec::new();
                for (i, spec) in options.events.iter().enumerate() {
                    let attr = build_attr(spec, i == 0, build_id);
                    let leader = spec.group.and_then(|g| {
                        leaders
                            .iter()
                            .find(|(group, _)| *group == g)
                            .map(|&(_, index)| &events[index])
                    });
                    if spec.group.is_some()
                        && leader.is_none()
                        && leaders_missing(&options.events, i)
                    {
                        // The leader could not attach (its thread exited).
                        continue;
                    }
                    let event =
                        match PerfEvent::open_in_group(&attr, &spec.name, task, cpu as i32, leader)
                        {
                            Ok(event) => event,
                            // A thread of a -p target may exit while we attach.
                            Err(e)
                                if task != -1
                                    && e.raw_os_error() == Some(libc::ESRCH)
                                    && tasks.len() > 1 =>
                            {
                                continue
                            }
                            Err(e) if is_unsupported(&e) && spec.is_hardware() => {
                                return Err(RecordError::NoHardwarePmu(spec.name.clone()))
                            }
                            Err(e) => return Err(e.into()),
                        };
                    if let Some(filter) = &spec.filter {
                        apply_filter(&event, spec, filter, tracefs.as_ref())?;
                    }
                    event_meta[i].ids.push(event.id());
                    match owner {
                        None => {
                            let ring = RingBuffer::map(event.as_fd(), options.buffer_pages)?;
                            buffers.push(CpuBuffer {
                                cpu,
                                owner_fd: event.as_fd().as_raw_fd(),
                                ring,
                                last_drain: Instant::now(),
                                totals: CpuTotals {
                                    cpu,
                                    ..Default::default()
                                },
                            });
                            owner = Some(events.len());
                        }
                        Some(o) => event.redirect_to(&events[o])?,
                    }
                    if let Some(group) = spec.group.filter(|_| leader.is_none()) {
                        leaders.push((group, events.len()));
                    }
                    events.push(event);
                }
            }
        }
        if events.is_empty() {
            return Err(RecordError::NoSuchProcess(tasks[0]));
        }

        let target_text = if targets.system_wide {
            if cpus_given {
                format!("cpus {cpus}")
            } else {
                "system-wide".to_string()
            }
        } else if targets.workload.is_some() {
            format!("command {}", workload_text(&options.command_line))
        } else if !targets.pids.is_empty() {
            format!(
                "pid {}",
                targets
                    .pids
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        } else if !targets.tids.is_empty() {
            format!(
                "tid {}",
                targets
                    .tids
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        } else {
            "system-wide".to_string()
        };
        let mut meta = SessionMeta {
            strobe_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: options.command_line.clone(),
            cpus_online: online.as_slice().len() as u32,
            cpus_recorded: cpus.as_slice().to_vec(),
            pmu: if options.events.iter().any(|e| e.is_hardware()) {
                "cpu".into()
            } else {
                "software".into()
            },
            target: target_text,
            clock: "CLOCK_MONOTONIC".into(),
            start_time_ns: monotonic_ns(),
            start_realtime_ns: clock_ns(libc::CLOCK_REALTIME),
            page_size: page_size as u32,
            buffer_pages: options.buffer_pages as u32,
            compressed: options.compress,
            ring_size: options.ring_size,
            call_graph: options.call_graph,
            probes: probe_meta(&options.events, tracefs.as_ref()),
            events: event_meta,
            notes: notices.clone(),
            ..Default::default()
        };
        procfs::describe_host(&mut meta);

        let sink = create_sink().map_err(|e| RecordError::Write(e.into()))?;
        let mut writer = FileWriter::create(
            sink,
            meta.start_realtime_ns,
            options.ring_size,
            options.compress,
        )?;
        let session_json =
            serde_json::to_vec(&meta).map_err(|e| RecordError::Workload(e.to_string()))?;
        writer.write_meta(ChunkKind::Session, &session_json, true)?;

        let first_id = meta.events[0].ids[0];
        let mut mapped_paths = BTreeSet::new();
        let synthesize: Vec<i32> = if !per_task {
            procfs::all_pids()
        } else {
            let mut owners = options.targets.pids.clone();
            owners.extend(
                options
                    .targets
                    .tids
                    .iter()
                    .filter_map(|&tid| procfs::process_of_thread(tid)),
            );
            owners.sort_unstable();
            owners.dedup();
            owners
        };
        if !synthesize.is_empty() {
            let mut synth = RecordSynthesizer::new(sample_type, first_id);
            for pid in synthesize {
                for path in synth.process(pid) {
                    mapped_paths.insert(path.into_bytes());
                }
            }
            let stats = RunStats::walk(&synth.out, &RecordLayout::default(), |_| {});
            writer.write_records(ChunkKind::SynthesizedRecords, NO_CPU, &synth.out, &stats)?;
        }

        let snapshot_thread = std::thread::spawn(|| {
            let kallsyms = KallsymsIndex::parse(procfs::read_text(Path::new("/proc/kallsyms")));
            (kallsyms, procfs::read_text(Path::new("/proc/modules")))
        });
        let mut kernel_snapshot = Some(snapshot_thread);
        // Tracepoint fields hold kernel addresses too (call sites, handlers),
        // which the samples' addresses do not cover: keep every symbol.
        let tracepoints = options.events.iter().any(|e| e.is_trace_event());
        if options.ring_size.is_some() || options.full_kallsyms || tracepoints {
            // A ring's metadata must precede the ring, so wait for it here.
            if let Some(thread) = kernel_snapshot.take() {
                let (kallsyms, modules) = thread
                    .join()
                    .unwrap_or_else(|_| (KallsymsIndex::parse(Vec::new()), Vec::new()));
                write_text_chunk(&mut writer, ChunkKind::Kallsyms, kallsyms.full_text())?;
                write_text_chunk(&mut writer, ChunkKind::Modules, &modules)?;
            }
        }
        writer.begin_data(4 * (buffer_bytes as u64 + 4096))?;

        let layout = SampleLayout::new(sample_type);
        let mut watched: Vec<i32> = options.targets.pids.clone();
        watched.extend(&options.targets.tids);
        let session = Session {
            writer,
            events,
            buffers,
            layout: RecordLayout {
                sample_time_offset: layout.sample_time_offset,
                other_time_from_end: layout.other_time_from_end,
                sample_ip_offset: layout.sample_ip_offset,
                sample_callchain_offset: layout.sample_callchain_offset,
            },
            mapped_paths,
            kernel_snapshot,
            kallsyms: None,
            kernel_addresses: AddressSet::default(),
            unresolved_kernel_addresses: Vec::new(),
            watched,
            enable_on_exec,
            scratch: Vec::with_capacity(buffer_bytes),
            notices,
            wakeup_bytes,
        };
        if !session.enable_on_exec {
            for event in &session.events {
                event.enable()?;
            }
        }
        Ok(session)
    }

    /// Messages for the user about how the recording was set up
    /// (a fallback event, a clamped frequency).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Records until `controls.stop` is set, the workload exits, or every
    /// watched process exits; then finishes the file.
    pub fn run(
        mut self,
        controls: &mut Controls<'_>,
        mut workload: Option<&mut Workload>,
    ) -> Result<Summary, RecordError> {
        let mut pollfds: Vec<libc::pollfd> = self
            .buffers
            .iter()
            .map(|b| libc::pollfd {
                fd: b.owner_fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let mut snapshots = 0;
        let mut exit_status = None;
        let mut last_liveness_check = Instant::now();
        loop {
            // SAFETY: pollfds is a valid array of pollfd for its length.
            unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 100) };
            self.drain(false)?;
            if self
                .kernel_snapshot
                .as_ref()
                .is_some_and(|t| t.is_finished())
            {
                self.index_kernel_snapshot()?;
            }
            self.write_needed_kernel_symbols()?;
            if controls.snapshot.swap(false, Ordering::Relaxed) {
                self.drain(true)?;
                // A snapshot must be able to symbolize its kernel samples,
                // even one taken before /proc/kallsyms was read.
                self.index_kernel_snapshot()?;
                self.write_needed_kernel_symbols()?;
                self.writer.finish(&self.trailer(None, true))?;
                snapshots += 1;
                (controls.on_snapshot)(snapshots).map_err(|e| RecordError::Write(e.into()))?;
            }
            if let Some(w) = workload.as_deref_mut() {
                if let Some(code) = w.try_wait() {
                    exit_status = Some(code);
                    break;
                }
            }
            if controls.stop.load(Ordering::Relaxed) {
                break;
            }
            if !self.watched.is_empty()
                && last_liveness_check.elapsed() >= Duration::from_millis(100)
            {
                last_liveness_check = Instant::now();
                if !self.watched.iter().any(|&id| task_is_alive(id)) {
                    break;
                }
            }
        }
        for event in &self.events {
            event.disable()?;
        }
        if let Some(w) = workload {
            if exit_status.is_none() {
                w.terminate();
                exit_status = Some(w.wait());
            }
        }
        self.drain(true)?;
        self.index_kernel_snapshot()?;
        self.write_needed_kernel_symbols()?;
        let trailer = self.trailer(exit_status, false);
        let file_bytes = self.writer.finish(&trailer)?;
        let sum = |f: fn(&CpuTotals) -> u64| self.buffers.iter().map(|b| f(&b.totals)).sum::<u64>();
        Ok(Summary {
            file_bytes,
            samples: sum(|t| t.samples),
            lost_events: sum(|t| t.lost_events),
            lost_samples: sum(|t| t.lost_samples),
            throttled: sum(|t| t.throttled),
            chunks: self.writer.data_chunks_written(),
            ring_wrapped: self.writer.ring_wrapped(),
            exit_status,
            snapshots,
        })
    }

    /// Drains buffers that are full enough or waited long enough (every
    /// buffer with `all`) into one chunk each.
    fn drain(&mut self, all: bool) -> Result<(), RecordError> {
        for buffer in &mut self.buffers {
            let pending = buffer.ring.pending();
            let due = all
                || pending >= self.wakeup_bytes
                || buffer.last_drain.elapsed() >= MAX_DRAIN_INTERVAL;
            if pending == 0 || !due {
                continue;
            }
            self.scratch.clear();
            buffer.ring.drain_into(&mut self.scratch);
            buffer.last_drain = Instant::now();
            let paths = &mut self.mapped_paths;
            let (seen, unresolved) = (
                &mut self.kernel_addresses,
                &mut self.unresolved_kernel_addresses,
            );
            let stats = RunStats::walk(&self.scratch, &self.layout, |item| match item {
                WalkItem::MappedFile(name) => {
                    if name.first() == Some(&b'/') && !paths.contains(name) {
                        paths.insert(name.to_vec());
                    }
                }
                WalkItem::KernelAddress(addr) => {
                    if seen.insert(addr) {
                        unresolved.push(addr);
                    }
                }
            });
            let t = &mut buffer.totals;
            t.records += stats.records;
            t.samples += stats.samples;
            t.lost_events += stats.lost_events;
            t.lost_samples += stats.lost_samples;
            t.throttled += stats.throttled;
            t.bytes += self.scratch.len() as u64;
            self.writer
                .write_records(ChunkKind::Records, buffer.cpu, &self.scratch, &stats)?;
        }
        Ok(())
    }

    /// Waits for the kallsyms and modules text, writes the modules, and
    /// indexes kallsyms so that only the symbols samples need are written.
    fn index_kernel_snapshot(&mut self) -> Result<(), RecordError> {
        let Some(thread) = self.kernel_snapshot.take() else {
            return Ok(());
        };
        let (kallsyms, modules) = thread
            .join()
            .unwrap_or_else(|_| (KallsymsIndex::parse(Vec::new()), Vec::new()));
        write_text_chunk(&mut self.writer, ChunkKind::Modules, &modules)?;
        self.kallsyms = Some(kallsyms);
        Ok(())
    }

    /// Writes the kallsyms lines for kernel addresses seen since last time.
    fn write_needed_kernel_symbols(&mut self) -> Result<(), RecordError> {
        let Some(index) = self.kallsyms.as_mut() else {
            return Ok(());
        };
        if self.unresolved_kernel_addresses.is_empty() {
            return Ok(());
        }
        let lines = index.new_lines_for(&self.unresolved_kernel_addresses);
        self.unresolved_kernel_addresses.clear();
        write_text_chunk(&mut self.writer, ChunkKind::Kallsyms, &lines)
    }

    fn trailer(&self, exit_status: Option<i32>, snapshot: bool) -> TrailerMeta {
        let build_ids = self
            .mapped_paths
            .iter()
            .filter_map(|path| {
                let path = String::from_utf8_lossy(path).into_owned();
                let id = buildid::read_build_id(&path)?;
                Some(BuildId {
                    path,
                    build_id: hex_encode(&id),
                })
            })
            .collect();
        TrailerMeta {
            end_time_ns: monotonic_ns(),
            cpus: self.buffers.iter().map(|b| b.totals.clone()).collect(),
            build_ids,
            exit_status,
            chunks_written: self.writer.data_chunks_written(),
            ring_wrapped: self.writer.ring_wrapped(),
            snapshot,
            ..Default::default()
        }
    }
}

/// Sets a tracepoint's filter on one of its descriptors. The ioctl only
/// says EINVAL for a bad filter, so the reason comes from setting the same
/// filter in a scratch tracefs instance, whose error log explains it.
fn apply_filter(
    event: &PerfEvent,
    spec: &EventSpec,
    filter: &str,
    tracefs: Option<&Tracefs>,
) -> Result<(), RecordError> {
    let Some(tracepoint) = &spec.tracepoint else {
        return Err(RecordError::FilterNeedsTracepoint(spec.name.clone()));
    };
    match strobe_probe::sys::set_filter(event.as_fd(), filter) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let rejection = match tracefs.map(|fs| fs.check_filter(tracepoint, filter)) {
                Some(Ok(Err(rejection))) => rejection,
                _ => strobe_probe::tracefs::FilterRejection {
                    reason: "the kernel rejected the filter".into(),
                    filter: filter.to_string(),
                    position: None,
                },
            };
            Err(RecordError::FilterRejected {
                event: spec.name.clone(),
                rejection,
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn write_text_chunk<S: Sink>(
    writer: &mut FileWriter<S>,
    kind: ChunkKind,
    text: &[u8],
) -> Result<(), RecordError> {
    if !text.is_empty() {
        writer.write_meta(kind, text, text.len() > 512)?;
    }
    Ok(())
}

/// The dynamic probes among `events`: persistent ones (tracepoints that
/// tracefs lists in kprobe_events or uprobe_events) and ephemeral ones
/// (through the kprobe and uprobe PMUs), with each kernel probe's state in
/// debugfs `kprobes/list` now that its events are open.
fn probe_meta(events: &[EventSpec], tracefs: Option<&Tracefs>) -> Vec<ProbeMeta> {
    use strobe_probe::dynamic::{self, ProbeEvents, ProbeKind};
    let existing = tracefs
        .map(|fs| ProbeEvents::new(fs).list())
        .unwrap_or_default();
    let mut probes = Vec::new();
    let mut states = None;
    for spec in events {
        let (kind, user, definition, location) = if let Some(pmu) = &spec.pmu_probe {
            let kind = if spec.config & 1 != 0 {
                ProbeKind::Return
            } else {
                ProbeKind::Entry
            };
            let location =
                (!pmu.user).then(|| (pmu.target.to_string_lossy().into_owned(), spec.config2));
            (kind, pmu.user, spec.name.clone(), location)
        } else if let Some(tp) = &spec.tracepoint {
            let Some(probe) = existing
                .iter()
                .find(|p| p.group == tp.system && p.event == tp.name)
            else {
                continue;
            };
            (
                probe.kind,
                probe.user,
                probe.line(),
                probe.kernel_location(),
            )
        } else {
            continue;
        };
        let state = location.and_then(|(symbol, offset)| {
            let states = states.get_or_insert_with(|| dynamic::kprobe_states().unwrap_or_default());
            dynamic::state_of(states, kind, &symbol, offset).map(|s| s.state())
        });
        let kind = match (user, kind) {
            (false, ProbeKind::Entry) => "kprobe",
            (false, ProbeKind::Return) => "kretprobe",
            (true, ProbeKind::Entry) => "uprobe",
            (true, ProbeKind::Return) => "uretprobe",
        };
        probes.push(ProbeMeta {
            event: spec.name.clone(),
            kind: kind.to_string(),
            definition,
            state,
        });
    }
    probes
}
