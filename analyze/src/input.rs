//! Recordings as the analyzers see them: one ordered stream of samples and
//! side-band records, from a strobe file or from a perf.data file written by
//! perf (told apart by their magic numbers).

use crate::decode::Decoder;
use crate::AnalyzeError;
use linux_perf_data::{PerfFileReader, PerfFileRecord};
use linux_perf_event_reader::{CpuMode, EventRecord};
use strobe_record::format::reader::StrobeFile;
use strobe_record::format::FILE_MAGIC;

/// A memory mapping in a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// End address (exclusive).
    pub end: u64,
    /// File offset of the start.
    pub pgoff: u64,
    /// The mapped file, or a pseudo-name such as `[vdso]`.
    pub path: String,
}

/// What analyzers consume, in the order to apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A sample.
    Sample(Sample),
    /// A thread's command name changed (`exec`: by exec, which also
    /// replaces the process's mappings).
    Comm {
        /// Process.
        pid: i32,
        /// Thread.
        tid: i32,
        /// The new name.
        name: String,
        /// Whether exec set it.
        exec: bool,
    },
    /// A new mapping.
    Mmap {
        /// Process.
        pid: i32,
        /// Start address.
        start: u64,
        /// The mapping.
        mapping: Mapping,
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
pub struct Sample {
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
    pub callchain: Vec<u64>,
}

/// Which kind of file a recording came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A strobe file.
    Strobe,
    /// A perf.data file.
    PerfData,
}

/// A recording, decoded and ordered.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Where it came from.
    pub source: Source,
    /// Event names, by index.
    pub events: Vec<String>,
    /// Samples and side-band records, in the order to apply them.
    pub items: Vec<Item>,
    /// kallsyms text to resolve kernel addresses with: the file's snapshot
    /// (strobe files) or what the caller supplied (perf.data).
    pub kallsyms: Vec<u8>,
    /// Whether call chains were recorded.
    pub call_graph: bool,
    /// Events reported lost.
    pub lost: u64,
    /// Records that did not decode, or damaged chunks (skipped).
    pub malformed: u64,
    /// Time of the first sample.
    pub first_sample_time: Option<u64>,
}

/// Whether `bytes` start like a perf.data file.
pub fn is_perf_data(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PERFILE2") || bytes.starts_with(b"2ELIFREP")
}

/// Whether `bytes` start like a strobe file.
pub fn is_strobe(bytes: &[u8]) -> bool {
    bytes.starts_with(&FILE_MAGIC)
}

fn convert(record: EventRecord<'_>, event: usize, cpu: Option<u32>, time: u64) -> Option<Item> {
    let text = |raw: &linux_perf_event_reader::RawData<'_>| String::from_utf8_lossy(&raw.as_slice()).into_owned();
    Some(match record {
        EventRecord::Sample(s) => Item::Sample(Sample {
            event,
            pid: s.pid.unwrap_or(-1),
            tid: s.tid.unwrap_or(-1),
            ip: s.ip.unwrap_or(0),
            period: s.period.unwrap_or(1),
            cpu: s.cpu.or(cpu),
            kernel: matches!(s.cpu_mode, CpuMode::Kernel | CpuMode::GuestKernel),
            time,
            callchain: s.callchain.map(|c| (0..c.len()).filter_map(|i| c.get(i)).collect()).unwrap_or_default(),
        }),
        EventRecord::Comm(c) => Item::Comm { pid: c.pid, tid: c.tid, name: text(&c.name), exec: c.is_execve },
        EventRecord::Mmap2(m) => Item::Mmap {
            pid: m.pid,
            start: m.address,
            mapping: Mapping { end: m.address.saturating_add(m.length), pgoff: m.page_offset, path: text(&m.path) },
        },
        EventRecord::Mmap(m) => Item::Mmap {
            pid: m.pid,
            start: m.address,
            mapping: Mapping { end: m.address.saturating_add(m.length), pgoff: m.page_offset, path: text(&m.path) },
        },
        EventRecord::Fork(f) => Item::Fork { pid: f.pid, ppid: f.ppid, tid: f.tid, ptid: f.ptid },
        _ => return None,
    })
}

/// Decodes a strobe file. Chunks of different CPUs interleave in time, so
/// items are ordered by timestamp; the sort is stable, which keeps the
/// kernel's order within a CPU.
pub fn from_strobe(file: &StrobeFile<'_>) -> Result<Recording, AnalyzeError> {
    let decoder = Decoder::new(&file.session)?;
    let mut timed: Vec<(u64, Item)> = Vec::new();
    let mut lost = 0;
    let stats = decoder.for_each(file, |d| {
        if let EventRecord::Lost(l) = &d.record {
            lost += l.count;
        }
        let time = d.time.unwrap_or(0);
        if let Some(item) = convert(d.record, d.event, d.cpu, time) {
            timed.push((time, item));
        }
    });
    timed.sort_by_key(|(time, _)| *time);
    let first_sample_time = timed.iter().find_map(|(t, i)| matches!(i, Item::Sample(_)).then_some(*t));
    Ok(Recording {
        source: Source::Strobe,
        events: decoder.events().iter().map(|e| e.name.clone()).collect(),
        items: timed.into_iter().map(|(_, item)| item).collect(),
        kallsyms: file.kallsyms(),
        call_graph: file.session.call_graph,
        lost,
        malformed: stats.malformed + stats.damaged_chunks,
        first_sample_time,
    })
}

/// Decodes a perf.data file, in the order perf's own round-based sorting
/// gives. perf.data has no kallsyms snapshot; `kallsyms` is used instead.
pub fn from_perf_data(bytes: &[u8], kallsyms: Vec<u8>) -> Result<Recording, AnalyzeError> {
    let reader = PerfFileReader::parse_file(std::io::Cursor::new(bytes)).map_err(|e| AnalyzeError::PerfData(e.to_string()))?;
    let PerfFileReader { mut perf_file, mut record_iter } = reader;
    let attributes = perf_file.event_attributes();
    let events: Vec<String> = attributes
        .iter()
        .enumerate()
        .map(|(i, a)| a.name.clone().unwrap_or_else(|| format!("event{i}")))
        .collect();
    let call_graph = attributes.iter().any(|a| a.attr.sample_format.contains(linux_perf_event_reader::SampleFormat::CALLCHAIN));
    let mut items = Vec::new();
    let (mut lost, mut malformed) = (0, 0);
    let mut first_sample_time = None;
    loop {
        let record = match record_iter.next_record(&mut perf_file) {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(_) => {
                // A damaged record stream: keep what was read.
                malformed += 1;
                break;
            }
        };
        let PerfFileRecord::EventRecord { attr_index, record } = record else { continue };
        let time = record.timestamp().unwrap_or(0);
        match record.parse() {
            Ok(EventRecord::Lost(l)) => lost += l.count,
            Ok(parsed) => {
                if let Some(item) = convert(parsed, attr_index, None, time) {
                    if matches!(item, Item::Sample(_)) && first_sample_time.is_none() {
                        first_sample_time = Some(time);
                    }
                    items.push(item);
                }
            }
            Err(_) => malformed += 1,
        }
    }
    Ok(Recording { source: Source::PerfData, events, items, kallsyms, call_graph, lost, malformed, first_sample_time })
}
