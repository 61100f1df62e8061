//! Recordings as the analyzers see them: one ordered stream of samples and
//! side-band records, from a strobe file or from a perf.data file written by
//! perf (told apart by their magic numbers).

use crate::decode::Decoder;
use crate::perf_data_in_place::{sample_fields, InPlaceRecords};
use crate::tracing_data::TracingData;
use crate::AnalyzeError;
use linux_perf_data::{PerfFileReader, PerfFileRecord};
use linux_perf_event_reader::{CpuMode, EventRecord};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use strobe_probe::tracefs::format::TracepointFormat;
use strobe_probe::tracefs::page::{Missed, Page, PageLayout};
use strobe_record::format::reader::{ChunkRef, FormatError, StrobeFile};
use strobe_record::format::records::{RawRecord, RecordIter};
use strobe_record::format::{FILE_MAGIC, NO_CPU};

/// What analyzers consume, in the order to apply it. Borrowed from the
/// record being decoded; consumers copy what they keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// A sample.
    Sample(Sample<'a>),
    /// A thread's command name changed (`exec`: by exec, which also
    /// replaces the process's mappings).
    Comm {
        /// Process.
        pid: i32,
        /// Thread.
        tid: i32,
        /// The new name.
        name: &'a [u8],
        /// Whether exec set it.
        exec: bool,
    },
    /// A new mapping.
    Mmap {
        /// Process.
        pid: i32,
        /// Start address.
        start: u64,
        /// End address (exclusive).
        end: u64,
        /// File offset of the start.
        pgoff: u64,
        /// The mapped file, or a pseudo-name such as `[vdso]`.
        path: &'a [u8],
    },
    /// A new process or thread.
    Fork {
        /// New process.
        pid: i32,
        /// Parent process.
        ppid: i32,
        /// New thread.
        tid: i32,
        /// Parent thread.
        ptid: i32,
    },
}

/// One sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample<'a> {
    /// Index of the event in [`Recording::events`].
    pub event: usize,
    /// Process.
    pub pid: i32,
    /// Thread.
    pub tid: i32,
    /// Instruction pointer.
    pub ip: u64,
    /// Period (weight).
    pub period: u64,
    /// CPU, when known.
    pub cpu: Option<u32>,
    /// Whether the sample was taken in the kernel.
    pub kernel: bool,
    /// Timestamp, ns.
    pub time: u64,
    /// The raw call chain, context markers included.
    pub callchain: &'a [u64],
    /// A tracepoint's payload (perf's `PERF_SAMPLE_RAW`, or an ftrace
    /// event's body), starting at `common_type`; empty for other events.
    pub raw: &'a [u8],
}

/// Which kind of file a recording came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A strobe file.
    Strobe,
    /// A perf.data file.
    PerfData,
}

/// What a pass over a recording counted besides the items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Events reported lost by LOST records.
    pub lost: u64,
    /// Records that did not decode, or damaged chunks (skipped).
    pub malformed: u64,
}

enum Data<'a> {
    Strobe {
        file: &'a StrobeFile<'a>,
        decoder: Option<Decoder>,
        ftrace: Option<FtraceEvents>,
    },
    Perf {
        bytes: &'a [u8],
        /// Whether records may be read in place (see `perf_data_in_place`).
        in_place: bool,
    },
}

/// A recording, ready to be streamed in time order.
pub struct Recording<'a> {
    /// Where it came from.
    pub source: Source,
    /// Event names, by index.
    pub events: Vec<String>,
    /// kallsyms text to resolve kernel addresses with: the file's snapshot
    /// (strobe files) or what the caller supplied (perf.data).
    pub kallsyms: Vec<u8>,
    /// Whether call chains were recorded.
    pub call_graph: bool,
    /// The time of the first record, when known without reading them all.
    pub start_time: Option<u64>,
    /// Build-ids of the files the recording mapped, by path, as recorded.
    pub build_ids: std::collections::HashMap<String, Vec<u8>>,
    /// Each event's tracepoint format, when it is a tracepoint whose format
    /// the recording carries (by index, as [`Recording::events`]).
    pub formats: Vec<Option<Arc<TracepointFormat>>>,
    /// Formats that did not parse: (event, reason).
    pub format_errors: Vec<(String, String)>,
    /// Command names the kernel saved for pids, for threads that no COMM
    /// record names (ftrace recordings; perf.data with tracepoints).
    pub saved_comms: Vec<(i32, String)>,
    data: Data<'a>,
}

/// How to turn the ftrace events of a `strobe trace` recording into samples.
#[derive(Debug)]
struct FtraceEvents {
    layout: PageLayout,
    subbuf_size: usize,
    /// Event index by `common_type`.
    by_id: HashMap<u16, usize>,
    /// Where each event's instruction pointer is (`ip` of function events,
    /// `func` of function_graph's), by event index.
    ip_field: Vec<Option<(usize, usize)>>,
}

impl std::fmt::Debug for Recording<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("source", &self.source)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// Whether `bytes` start like a perf.data file.
pub fn is_perf_data(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PERFILE2") || bytes.starts_with(b"2ELIFREP")
}

/// Whether `bytes` start like a strobe file.
pub fn is_strobe(bytes: &[u8]) -> bool {
    bytes.starts_with(&FILE_MAGIC)
}

/// Turns a decoded record into an item; `chain` is scratch space for the
/// call chain, reused from sample to sample.
fn emit(
    record: EventRecord<'_>,
    default_period: u64,
    event: usize,
    cpu: Option<u32>,
    time: u64,
    chain: &mut Vec<u64>,
    f: &mut dyn FnMut(&Item<'_>),
) {
    fn bytes<'b>(raw: &linux_perf_event_reader::RawData<'b>) -> Cow<'b, [u8]> {
        raw.as_slice()
    }
    match record {
        EventRecord::Sample(s) => {
            chain.clear();
            if let Some(c) = s.callchain {
                chain.extend((0..c.len()).filter_map(|i| c.get(i)));
            }
            let raw = s.raw.map(|r| r.as_slice());
            f(&Item::Sample(Sample {
                raw: raw.as_deref().unwrap_or(&[]),
                event,
                pid: s.pid.unwrap_or(-1),
                tid: s.tid.unwrap_or(-1),
                ip: s.ip.unwrap_or(0),
                period: s.period.unwrap_or(default_period),
                cpu: s.cpu.or(cpu),
                kernel: matches!(s.cpu_mode, CpuMode::Kernel | CpuMode::GuestKernel),
                time,
                callchain: chain,
            }))
        }
        EventRecord::Comm(c) => f(&Item::Comm {
            pid: c.pid,
            tid: c.tid,
            name: &bytes(&c.name),
            exec: c.is_execve,
        }),
        EventRecord::Mmap2(m) => f(&mmap_item(
            m.pid,
            m.address,
            m.length,
            m.page_offset,
            &bytes(&m.path),
        )),
        EventRecord::Mmap(m) => f(&mmap_item(
            m.pid,
            m.address,
            m.length,
            m.page_offset,
            &bytes(&m.path),
        )),
        EventRecord::Fork(f2) => f(&Item::Fork {
            pid: f2.pid,
            ppid: f2.ppid,
            tid: f2.tid,
            ptid: f2.ptid,
        }),
        _ => {}
    }
}

/// MMAP and MMAP2 records carry the same mapping.
fn mmap_item(pid: i32, start: u64, length: u64, pgoff: u64, path: &[u8]) -> Item<'_> {
    Item::Mmap {
        pid,
        start,
        end: start.saturating_add(length),
        pgoff,
        path,
    }
}

/// `PERF_RECORD_LOST_SAMPLES`, which the record parser leaves raw.
const LOST_SAMPLES: u32 = 13;

/// Events a LOST or LOST_SAMPLES record reports lost.
fn lost_in(record: &EventRecord<'_>) -> u64 {
    match record {
        EventRecord::Lost(l) => l.count,
        EventRecord::Raw(raw) if raw.record_type.0 == LOST_SAMPLES => {
            let bytes = raw.data.as_slice();
            bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// The chunks of one CPU, read one after another. Their payloads (checksum
/// checked, decompressed) arrive from a worker thread that runs ahead.
struct CpuCursor<'a> {
    source: PayloadSource<'a>,
    payload: Cow<'a, [u8]>,
    pos: usize,
    cpu: Option<u32>,
}

impl<'a> CpuCursor<'a> {
    /// The record at the cursor, taking the next chunk when one runs out.
    fn current(&mut self, stats: &mut StreamStats) -> Option<RawRecord<'_>> {
        loop {
            if self.pos < self.payload.len() {
                let rest = &self.payload[self.pos..];
                if let Some(record) = RecordIter::new(rest).next() {
                    // Re-borrow from self.payload with the right lifetime.
                    let len = record.bytes.len();
                    let (kind, misc) = (record.kind, record.misc);
                    return Some(RawRecord {
                        kind,
                        misc,
                        bytes: &self.payload[self.pos..self.pos + len],
                    });
                }
                // A malformed record: the rest of this chunk is unreadable.
                stats.malformed += 1;
                self.pos = self.payload.len();
            }
            match self.source.recv().ok()? {
                Ok(payload) => {
                    self.payload = payload;
                    self.pos = 0;
                }
                Err(_) => stats.malformed += 1,
            }
        }
    }
}

impl<'a> Recording<'a> {
    /// A strobe file, ready to stream.
    pub fn from_strobe(file: &'a StrobeFile<'a>) -> Result<Self, AnalyzeError> {
        let ftrace_meta = file.session.ftrace.as_ref();
        // A trace recording may carry no perf events at all.
        let decoder = if file.session.events.is_empty() && ftrace_meta.is_some() {
            None
        } else {
            Some(Decoder::new(&file.session)?)
        };
        let mut events: Vec<String> = decoder
            .iter()
            .flat_map(|d| d.events().iter().map(|e| e.name.clone()))
            .collect();
        let mut formats = Vec::new();
        let mut format_errors = Vec::new();
        for meta in &file.session.events {
            formats.push(
                meta.format
                    .as_deref()
                    .and_then(|text| parse_format(&meta.name, text, &mut format_errors)),
            );
        }
        let ftrace =
            match ftrace_meta {
                Some(meta) => {
                    let layout = PageLayout::parse(&meta.header_page)
                        .map_err(|e| AnalyzeError::Ftrace(e.to_string()))?;
                    let mut by_id = HashMap::new();
                    let mut ip_field = vec![None; events.len()];
                    for event in &meta.events {
                        let format = parse_format(&event.name, &event.format, &mut format_errors);
                        by_id.insert(event.id as u16, events.len());
                        // The function tracers' events (system ftrace) say which
                        // function they are about; other events have no address.
                        ip_field.push(format.as_ref().filter(|f| f.system == "ftrace").and_then(
                            |f| {
                                let field = f.field("ip").or_else(|| f.field("func"))?;
                                Some((field.offset as usize, field.size as usize))
                            },
                        ));
                        events.push(event.name.clone());
                        formats.push(format);
                    }
                    Some(FtraceEvents {
                        layout,
                        subbuf_size: (meta.subbuf_size as usize).max(64),
                        by_id,
                        ip_field,
                    })
                }
                None => None,
            };
        Ok(Recording {
            source: Source::Strobe,
            events,
            kallsyms: file.kallsyms(),
            call_graph: file.session.call_graph,
            start_time: file.totals().time_start,
            build_ids: file
                .trailer
                .iter()
                .flat_map(|t| &t.build_ids)
                .filter_map(|b| {
                    Some((
                        b.path.clone(),
                        strobe_record::format::hex_decode(&b.build_id)?,
                    ))
                })
                .collect(),
            formats,
            format_errors,
            saved_comms: file
                .trailer
                .iter()
                .flat_map(|t| t.saved_comms.iter().cloned())
                .collect(),
            data: Data::Strobe {
                file,
                decoder,
                ftrace,
            },
        })
    }

    /// A perf.data file, ready to stream. perf.data has no kallsyms
    /// snapshot; `kallsyms` is used instead.
    pub fn from_perf_data(bytes: &'a [u8], kallsyms: Vec<u8>) -> Result<Self, AnalyzeError> {
        let reader = PerfFileReader::parse_file(std::io::Cursor::new(bytes))
            .map_err(|e| AnalyzeError::PerfData(e.to_string()))?;
        let attributes = reader.perf_file.event_attributes();
        let events = attributes
            .iter()
            .enumerate()
            .map(|(i, a)| a.name.clone().unwrap_or_else(|| format!("event{i}")))
            .collect();
        let call_graph = attributes.iter().any(|a| {
            a.attr
                .sample_format
                .contains(linux_perf_event_reader::SampleFormat::CALLCHAIN)
        });
        let start_time = reader
            .perf_file
            .sample_time_range()
            .ok()
            .flatten()
            .map(|r| r.first_sample_time);
        // Tracepoint formats: from the tracing data perf saved, matched to
        // the events by id (a tracepoint's attr config).
        let tracing = reader
            .perf_file
            .feature_section_data(linux_perf_data::Feature::TRACING_DATA)
            .map(TracingData::parse);
        let mut format_errors = Vec::new();
        let mut by_id: HashMap<u64, Arc<TracepointFormat>> = HashMap::new();
        let mut saved_comms = Vec::new();
        match tracing {
            Some(Ok(data)) => {
                for (system, text) in &data.formats {
                    if let Some(format) = parse_format(system, text, &mut format_errors) {
                        by_id.insert(format.id as u64, format);
                    }
                }
                saved_comms = data.saved_comms;
            }
            Some(Err(e)) => format_errors.push(("tracing data".into(), e.to_string())),
            None => {}
        }
        let formats = attributes
            .iter()
            .map(|a| match a.attr.type_ {
                linux_perf_event_reader::PerfEventType::Tracepoint(id) => by_id.get(&id).cloned(),
                _ => None,
            })
            .collect();
        let build_ids = reader
            .perf_file
            .build_ids()
            .map(|ids| {
                ids.into_values()
                    .filter_map(|info| Some((String::from_utf8(info.path).ok()?, info.build_id)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Recording {
            source: Source::PerfData,
            events,
            kallsyms,
            call_graph,
            start_time,
            build_ids,
            formats,
            format_errors,
            saved_comms,
            data: Data::Perf {
                bytes,
                in_place: true,
            },
        })
    }

    /// For perf.data: whether records may be read in place from the file
    /// (the default, when the file allows it), or always through
    /// `linux-perf-data`'s reader; both give the same items in the same
    /// order, which the tests check.
    pub fn set_in_place_reading(&mut self, on: bool) {
        if let Data::Perf { in_place, .. } = &mut self.data {
            *in_place = on;
        }
    }

    /// Calls `f` with every item, in time order.
    pub fn for_each(&self, f: impl FnMut(&Item<'_>)) -> Result<StreamStats, AnalyzeError> {
        self.for_each_with_progress(f, &mut |_, _| {})
    }

    /// Like [`Recording::for_each`], telling `progress` now and then how
    /// many of the recording's bytes have been read, and of how many.
    pub fn for_each_with_progress(
        &self,
        mut f: impl FnMut(&Item<'_>),
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<StreamStats, AnalyzeError> {
        match &self.data {
            Data::Strobe {
                file,
                decoder,
                ftrace,
            } => {
                let mut stats = StreamStats::default();
                if let Some(decoder) = decoder {
                    stats = stream_strobe(file, decoder, &mut f, progress);
                }
                if let Some(ftrace) = ftrace {
                    let more = stream_ftrace(file, ftrace, &self.saved_comms, &mut f, progress);
                    stats.lost += more.lost;
                    stats.malformed += more.malformed;
                }
                Ok(stats)
            }
            Data::Perf { bytes, in_place } => stream_perf_data(bytes, *in_place, &mut f, progress),
        }
    }
}

/// Streams a strobe file: records strobe synthesized at the start first,
/// then the per-CPU streams merged by timestamp (each CPU's records are in
/// time order already, so a heap over the CPUs' next records suffices).
fn stream_strobe<'a>(
    file: &StrobeFile<'a>,
    decoder: &Decoder,
    f: &mut dyn FnMut(&Item<'_>),
    progress: &mut dyn FnMut(u64, u64),
) -> StreamStats {
    let total: u64 = file.record_chunks().map(|c| c.header.raw_len as u64).sum();
    let mut stats = StreamStats::default();
    let mut by_cpu: BTreeMap<Option<u32>, Vec<ChunkRef>> = BTreeMap::new();
    for chunk in file.record_chunks() {
        let cpu = (chunk.header.cpu != NO_CPU).then_some(chunk.header.cpu);
        by_cpu.entry(cpu).or_default().push(*chunk);
    }
    // Each CPU's chunks are checked and decompressed on a thread of their
    // own, a couple of chunks ahead of the merge below, which is where the
    // records are decoded in time order. One thread per CPU (not a pool):
    // a thread that served several CPUs could block on one CPU's full
    // channel while the merge waits for another's.
    std::thread::scope(|scope| {
        let mut cursors: Vec<CpuCursor<'a>> = Vec::new();
        for (cpu, chunks) in by_cpu {
            let source = read_ahead(scope, file, chunks);
            cursors.push(CpuCursor {
                source,
                payload: Cow::Borrowed(&[]),
                pos: 0,
                cpu,
            });
        }
        merge(&mut cursors, decoder, f, progress, total, &mut stats);
    });
    stats
}

/// Checks and decompresses one CPU's chunks on a thread of its own, two
/// chunks ahead of the reader of the returned channel.
fn read_ahead<'scope, 'a: 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    file: &'scope StrobeFile<'a>,
    chunks: Vec<ChunkRef>,
) -> PayloadSource<'a> {
    let (sender, source) = sync_channel(2);
    scope.spawn(move || {
        for chunk in &chunks {
            if sender.send(file.payload(chunk)).is_err() {
                break;
            }
        }
    });
    source
}

/// Chunk payloads as a [`read_ahead`] thread sends them.
type PayloadSource<'a> = Receiver<Result<Cow<'a, [u8]>, FormatError>>;

/// Merges the CPUs' record streams by timestamp: a heap holds each CPU's
/// next record time. Records strobe synthesized (no CPU) come first.
fn merge(
    cursors: &mut [CpuCursor<'_>],
    decoder: &Decoder,
    f: &mut dyn FnMut(&Item<'_>),
    progress: &mut dyn FnMut(u64, u64),
    total: u64,
    stats: &mut StreamStats,
) {
    // Each CPU's next record is peeked once (event and time) to place it in
    // the heap, and decoded once when it comes out.
    let peek = |cursor: &mut CpuCursor<'_>, stats: &mut StreamStats, previous: u64| {
        let synthesized = cursor.cpu.is_none();
        let record = cursor.current(stats)?;
        let (event, time) = decoder.peek(&record);
        // Records strobe synthesized (no CPU) describe the start: first.
        Some((
            if synthesized {
                0
            } else {
                time.unwrap_or(previous)
            },
            event,
        ))
    };
    let mut chain = Vec::new();
    let (mut done, mut since_report) = (0u64, 0u64);
    let mut heap = BinaryHeap::new();
    for (i, cursor) in cursors.iter_mut().enumerate() {
        if let Some((time, event)) = peek(cursor, stats, 0) {
            heap.push(Reverse((time, i, event)));
        }
    }
    while let Some(Reverse((time, i, event))) = heap.pop() {
        let cursor = &mut cursors[i];
        let cpu = cursor.cpu;
        let Some(record) = cursor.current(stats) else {
            continue;
        };
        let len = record.bytes.len();
        match decoder.decode_as(&record, event, cpu) {
            Some(decoded) => {
                stats.lost += lost_in(&decoded.record);
                emit(decoded.record, 1, event, cpu, time, &mut chain, f);
            }
            None => stats.malformed += 1,
        }
        cursor.pos += len;
        since_report += len as u64;
        if since_report >= 1 << 20 {
            done += since_report;
            since_report = 0;
            progress(done, total);
        }
        if let Some((next_time, next_event)) = peek(cursor, stats, time) {
            heap.push(Reverse((next_time, i, next_event)));
        }
    }
}

/// Streams a perf.data file in the order perf's round-based sorting gives.
fn stream_perf_data(
    bytes: &[u8],
    in_place: bool,
    f: &mut dyn FnMut(&Item<'_>),
    progress: &mut dyn FnMut(u64, u64),
) -> Result<StreamStats, AnalyzeError> {
    let total = bytes.len() as u64;
    let mut done = 0u64;
    let mut since_report = 0u64;
    let reader = PerfFileReader::parse_file(std::io::Cursor::new(bytes))
        .map_err(|e| AnalyzeError::PerfData(e.to_string()))?;
    let PerfFileReader {
        mut perf_file,
        mut record_iter,
    } = reader;
    let mut stats = StreamStats::default();
    let mut chain = Vec::new();
    // `perf record -c N` leaves PERF_SAMPLE_PERIOD out of the samples: each
    // weighs the attribute's fixed period, as perf reads it.
    let periods: Vec<u64> = perf_file
        .event_attributes()
        .iter()
        .map(|a| match a.attr.sampling_policy {
            linux_perf_event_reader::SamplingPolicy::Period(p) => p.get(),
            _ => 1,
        })
        .collect();
    // The common case is read in place, without copying each record.
    let records = in_place
        .then(|| InPlaceRecords::new(bytes, perf_file.event_attributes()))
        .flatten();
    if let Some(records) = records {
        let section = records.len() as u64;
        let damaged = records.for_each(
            |r| {
                // Samples are read field by field; other records decoded whole.
                if let Some(s) = sample_fields(&r.record, &mut chain) {
                    f(&Item::Sample(Sample {
                        event: r.attr_index,
                        pid: s.pid.unwrap_or(-1),
                        tid: s.tid.unwrap_or(-1),
                        ip: s.ip.unwrap_or(0),
                        period: s
                            .period
                            .unwrap_or_else(|| periods.get(r.attr_index).copied().unwrap_or(1)),
                        cpu: s.cpu,
                        kernel: s.kernel,
                        time: r.time.unwrap_or(0),
                        callchain: &chain,
                        raw: s.raw,
                    }));
                    return;
                }
                match crate::decode::parse_record(&r.record) {
                    Some(parsed) => {
                        stats.lost += lost_in(&parsed);
                        emit(
                            parsed,
                            periods.get(r.attr_index).copied().unwrap_or(1),
                            r.attr_index,
                            None,
                            r.time.unwrap_or(0),
                            &mut chain,
                            f,
                        )
                    }
                    None => stats.malformed += 1,
                }
            },
            &mut |done| progress(done.min(section), section),
        );
        stats.malformed += u64::from(damaged);
        return Ok(stats);
    }
    loop {
        let record = match record_iter.next_record(&mut perf_file) {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(_) => {
                // A damaged record stream: keep what was read.
                stats.malformed += 1;
                break;
            }
        };
        let PerfFileRecord::EventRecord { attr_index, record } = record else {
            continue;
        };
        // Records are about their size in the file: a fair measure of progress.
        since_report += record.data.len() as u64 + 8;
        if since_report >= 1 << 20 {
            done += since_report;
            since_report = 0;
            progress(done.min(total), total);
        }
        let time = record.timestamp().unwrap_or(0);
        match crate::decode::parse_record(&record).ok_or(()) {
            Ok(parsed) => {
                stats.lost += lost_in(&parsed);
                emit(
                    parsed,
                    periods.get(attr_index).copied().unwrap_or(1),
                    attr_index,
                    None,
                    time,
                    &mut chain,
                    f,
                )
            }
            Err(_) => stats.malformed += 1,
        }
    }
    Ok(stats)
}

/// Parses a format the recording carries; one that does not parse is
/// noted, and its events are shown without decoded fields.
fn parse_format(
    name: &str,
    text: &str,
    errors: &mut Vec<(String, String)>,
) -> Option<Arc<TracepointFormat>> {
    let system = name.split(':').next().unwrap_or(name);
    match TracepointFormat::parse(system, text) {
        Ok(format) => Some(Arc::new(format)),
        Err(e) => {
            errors.push((name.to_string(), e.to_string()));
            None
        }
    }
}

/// One CPU's ftrace pages, read event by event.
struct FtraceCursor<'a> {
    source: PayloadSource<'a>,
    payload: Cow<'a, [u8]>,
    /// Next page's offset in the payload.
    page_pos: usize,
    /// The current page's events: (time, offset in payload, length).
    events: Vec<(u64, usize, usize)>,
    next: usize,
    cpu: u32,
}

impl FtraceCursor<'_> {
    /// The next event (time, offset, length), loading pages and chunks as
    /// needed. Damaged pages are counted and skipped.
    fn current(
        &mut self,
        ftrace: &FtraceEvents,
        stats: &mut StreamStats,
    ) -> Option<(u64, usize, usize)> {
        loop {
            if let Some(&event) = self.events.get(self.next) {
                return Some(event);
            }
            self.events.clear();
            self.next = 0;
            if self.page_pos < self.payload.len() {
                let start = self.page_pos;
                let end = (start + ftrace.subbuf_size).min(self.payload.len());
                self.page_pos = end;
                let bytes = &self.payload[start..end];
                let base = bytes.as_ptr() as usize;
                match Page::parse(&ftrace.layout, bytes) {
                    Ok(page) => {
                        match page.missed_events() {
                            Missed::Some(n) => stats.lost += n,
                            Missed::Unknown | Missed::None => {}
                        }
                        for event in page.events() {
                            match event {
                                Ok(e) => {
                                    let offset = e.payload.as_ptr() as usize - base + start;
                                    self.events.push((e.timestamp, offset, e.payload.len()));
                                }
                                Err(_) => {
                                    stats.malformed += 1;
                                    break;
                                }
                            }
                        }
                    }
                    Err(_) => stats.malformed += 1,
                }
                continue;
            }
            match self.source.recv().ok()? {
                Ok(payload) => {
                    self.payload = payload;
                    self.page_pos = 0;
                }
                Err(_) => stats.malformed += 1,
            }
        }
    }
}

/// Streams the ftrace pages of a `strobe trace` recording: the command
/// names saved with it first, then every CPU's events merged by time.
fn stream_ftrace<'a>(
    file: &StrobeFile<'a>,
    ftrace: &FtraceEvents,
    saved_comms: &[(i32, String)],
    f: &mut dyn FnMut(&Item<'_>),
    progress: &mut dyn FnMut(u64, u64),
) -> StreamStats {
    let mut stats = StreamStats::default();
    for (pid, name) in saved_comms {
        f(&Item::Comm {
            pid: *pid,
            tid: *pid,
            name: name.as_bytes(),
            exec: false,
        });
    }
    let total: u64 = file.ftrace_chunks().map(|c| c.header.raw_len as u64).sum();
    let mut by_cpu: BTreeMap<u32, Vec<ChunkRef>> = BTreeMap::new();
    for chunk in file.ftrace_chunks() {
        by_cpu.entry(chunk.header.cpu).or_default().push(*chunk);
    }
    std::thread::scope(|scope| {
        let mut cursors: Vec<FtraceCursor<'a>> = Vec::new();
        for (cpu, chunks) in by_cpu {
            let source = read_ahead(scope, file, chunks);
            cursors.push(FtraceCursor {
                source,
                payload: Cow::Borrowed(&[]),
                page_pos: 0,
                events: Vec::new(),
                next: 0,
                cpu,
            });
        }
        let mut heap = BinaryHeap::new();
        for (i, cursor) in cursors.iter_mut().enumerate() {
            if let Some((time, _, _)) = cursor.current(ftrace, &mut stats) {
                heap.push(Reverse((time, i)));
            }
        }
        let chain: [u64; 0] = [];
        let (mut done, mut since_report) = (0u64, 0u64);
        while let Some(Reverse((time, i))) = heap.pop() {
            let cursor = &mut cursors[i];
            let Some((_, offset, len)) = cursor.current(ftrace, &mut stats) else {
                continue;
            };
            let raw = &cursor.payload[offset..offset + len];
            let id = raw.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
            match id.and_then(|id| ftrace.by_id.get(&id)) {
                Some(&event) => {
                    let tid = raw
                        .get(4..8)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-1);
                    let ip = ftrace.ip_field[event]
                        .and_then(|(at, size)| raw.get(at..at + size))
                        .map(|b| b.iter().rev().fold(0u64, |v, &x| v << 8 | x as u64))
                        .unwrap_or(0);
                    f(&Item::Sample(Sample {
                        event,
                        pid: tid,
                        tid,
                        ip,
                        period: 1,
                        cpu: Some(cursor.cpu),
                        kernel: true,
                        time,
                        callchain: &chain,
                        raw,
                    }));
                }
                None => stats.malformed += 1,
            }
            cursor.next += 1;
            since_report += len as u64 + 4;
            if since_report >= 1 << 20 {
                done += since_report;
                since_report = 0;
                progress(done.min(total), total);
            }
            if let Some((next_time, _, _)) = cursor.current(ftrace, &mut stats) {
                heap.push(Reverse((next_time, i)));
            }
        }
    });
    stats
}
