//! The strobe file format, version 1. The specification is
//! `book/src/format.md`; this module and that chapter change together.
//!
//! A file is a [`FileHeader`], then a sequence of chunks, then (when the
//! recording ended cleanly) a trailer chunk, an index chunk and a [`Footer`].
//! Every chunk starts with a [`ChunkHeader`] that carries its own checksum and
//! the checksum of its payload, so a reader can find every intact chunk of a
//! file that was cut short or, in flight-recorder mode, partly overwritten.
//! Chunks are 8-byte aligned. All integers are little-endian.
//!
//! This module is pure: it encodes and decodes byte slices and never does
//! I/O. The [`reader`] never panics on any input and checks every length
//! before it allocates.

pub mod reader;
pub mod records;
pub mod writer;

use serde::{Deserialize, Serialize};

/// The first eight bytes of every strobe file.
pub const FILE_MAGIC: [u8; 8] = *b"\x7fSTROBE\n";
/// The major version this code writes and reads; a reader rejects other majors.
pub const VERSION_MAJOR: u16 = 1;
/// The minor version this code writes; readers accept any minor of their major.
pub const VERSION_MINOR: u16 = 1;
/// Size of the file header.
pub const FILE_HEADER_SIZE: usize = 64;
/// The first four bytes of every chunk header (`"CHNK"`).
pub const CHUNK_MAGIC: u32 = u32::from_le_bytes(*b"CHNK");
/// Size of a chunk header.
pub const CHUNK_HEADER_SIZE: usize = 64;
/// The first eight bytes of the footer.
pub const FOOTER_MAGIC: [u8; 8] = *b"STRBEND\x01";
/// Size of the footer.
pub const FOOTER_SIZE: usize = 32;
/// Size of one index entry.
pub const INDEX_ENTRY_SIZE: usize = 40;
/// The largest payload, stored or decompressed, a chunk may have. Writers
/// never produce more; readers reject more before allocating.
pub const MAX_CHUNK_PAYLOAD: usize = 256 << 20;
/// `cpu` value of chunks that belong to no CPU.
pub const NO_CPU: u32 = u32::MAX;

/// File-header flag: the file is a flight-recorder ring.
pub const FLAG_RING: u32 = 1;

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ChunkKind {
    /// JSON [`SessionMeta`]: written once, first.
    Session,
    /// Lines of `/proc/kallsyms` in its own text format: the whole file
    /// (flight-recorder rings, recordings of tracepoints, traces, and
    /// `--full-kallsyms`), or the symbols covering the kernel addresses
    /// recorded so far (other files, written as they become needed).
    Kallsyms,
    /// The text of `/proc/modules` at the start of the recording.
    Modules,
    /// perf_event records as one drain of one CPU's ring buffer produced them.
    Records,
    /// perf_event records strobe made itself (COMM and MMAP2 from /proc).
    SynthesizedRecords,
    /// Pages of one CPU's ftrace ring buffer, as `trace_pipe_raw` gave them:
    /// whole sub-buffers of [`FtraceMeta::subbuf_size`] bytes each.
    FtracePages,
    /// JSON [`TrailerMeta`]: written when the recording ends or is snapshotted.
    Trailer,
    /// The chunk index: [`IndexEntry`] values.
    Index,
    /// A kind this reader does not know (from a newer minor version); skipped.
    Unknown(u16),
}

impl ChunkKind {
    /// The on-disk code.
    pub fn code(self) -> u16 {
        match self {
            ChunkKind::Session => 1,
            ChunkKind::Kallsyms => 2,
            ChunkKind::Modules => 3,
            ChunkKind::Records => 16,
            ChunkKind::SynthesizedRecords => 17,
            ChunkKind::FtracePages => 18,
            ChunkKind::Trailer => 32,
            ChunkKind::Index => 33,
            ChunkKind::Unknown(code) => code,
        }
    }

    /// Decodes an on-disk code.
    pub fn from_code(code: u16) -> Self {
        match code {
            1 => ChunkKind::Session,
            2 => ChunkKind::Kallsyms,
            3 => ChunkKind::Modules,
            16 => ChunkKind::Records,
            17 => ChunkKind::SynthesizedRecords,
            18 => ChunkKind::FtracePages,
            32 => ChunkKind::Trailer,
            33 => ChunkKind::Index,
            other => ChunkKind::Unknown(other),
        }
    }

    /// Whether the payload is a run of perf_event records.
    pub fn holds_records(self) -> bool {
        matches!(self, ChunkKind::Records | ChunkKind::SynthesizedRecords)
    }

    /// Whether the payload holds recorded events of any encoding (perf
    /// records or ftrace pages).
    pub fn holds_events(self) -> bool {
        self.holds_records() || self == ChunkKind::FtracePages
    }
}

/// How a chunk's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// As is.
    None,
    /// One zstd frame.
    Zstd,
}

impl Compression {
    fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 1,
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// The file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Size of the header; chunks start here. Later minor versions may grow it.
    pub header_size: u32,
    /// Major version.
    pub version_major: u16,
    /// Minor version.
    pub version_minor: u16,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Flight-recorder mode: the byte offset the ring of data chunks starts at.
    pub ring_start: u64,
    /// Flight-recorder mode: the byte offset data chunks never cross.
    pub ring_end: u64,
    /// When the recording started (CLOCK_REALTIME, ns since the epoch).
    pub created_realtime_ns: u64,
}

impl FileHeader {
    /// Encodes the header, with its checksum in the last four bytes.
    pub fn encode(&self) -> [u8; FILE_HEADER_SIZE] {
        let mut b = [0u8; FILE_HEADER_SIZE];
        b[0..8].copy_from_slice(&FILE_MAGIC);
        b[8..10].copy_from_slice(&self.version_major.to_le_bytes());
        b[10..12].copy_from_slice(&self.version_minor.to_le_bytes());
        b[12..16].copy_from_slice(&self.header_size.to_le_bytes());
        b[16..20].copy_from_slice(&self.flags.to_le_bytes());
        b[24..32].copy_from_slice(&self.ring_start.to_le_bytes());
        b[32..40].copy_from_slice(&self.ring_end.to_le_bytes());
        b[40..48].copy_from_slice(&self.created_realtime_ns.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a header; `b` must hold at least [`FILE_HEADER_SIZE`] bytes.
    pub fn decode(b: &[u8]) -> Result<Self, reader::FormatError> {
        use reader::FormatError;
        if b.len() < 8 || b[0..8] != FILE_MAGIC {
            return Err(FormatError::NotStrobe);
        }
        if b.len() < FILE_HEADER_SIZE {
            return Err(FormatError::TruncatedHeader { len: b.len() });
        }
        if crc32c::crc32c(&b[..60]) != u32_at(b, 60) {
            return Err(FormatError::HeaderChecksum);
        }
        let header_size = u32_at(b, 12) as usize;
        if header_size < FILE_HEADER_SIZE {
            return Err(FormatError::HeaderSize(header_size as u32));
        }
        let header = FileHeader {
            header_size: header_size as u32,
            version_major: u16_at(b, 8),
            version_minor: u16_at(b, 10),
            flags: u32_at(b, 16),
            ring_start: u64_at(b, 24),
            ring_end: u64_at(b, 32),
            created_realtime_ns: u64_at(b, 40),
        };
        if header.version_major != VERSION_MAJOR {
            return Err(FormatError::UnsupportedVersion {
                major: header.version_major,
                minor: header.version_minor,
            });
        }
        Ok(header)
    }
}

/// The header in front of every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// What the payload is.
    pub kind: ChunkKind,
    /// How it is stored.
    pub compression: Compression,
    /// The CPU whose buffer it came from, or [`NO_CPU`].
    pub cpu: u32,
    /// Position in write order, from 0; the ring's oldest chunk has the lowest.
    pub seq: u64,
    /// Earliest record time in the chunk (0 when it has no timed record).
    pub time_start: u64,
    /// Latest record time in the chunk.
    pub time_end: u64,
    /// Number of records.
    pub records: u32,
    /// Number of PERF_RECORD_SAMPLE records.
    pub samples: u32,
    /// Events reported lost by LOST and LOST_SAMPLES records in the chunk.
    pub lost: u32,
    /// Payload bytes as stored.
    pub stored_len: u32,
    /// Payload bytes after decompression.
    pub raw_len: u32,
    /// CRC-32C of the stored payload.
    pub payload_crc: u32,
}

impl ChunkHeader {
    /// Bytes the chunk occupies in the file, header and padding included.
    pub fn total_len(&self) -> u64 {
        (CHUNK_HEADER_SIZE as u64 + self.stored_len as u64 + 7) & !7
    }

    /// Encodes the header, with its own checksum at bytes 4..8.
    pub fn encode(&self) -> [u8; CHUNK_HEADER_SIZE] {
        let mut b = [0u8; CHUNK_HEADER_SIZE];
        b[0..4].copy_from_slice(&CHUNK_MAGIC.to_le_bytes());
        b[8..10].copy_from_slice(&self.kind.code().to_le_bytes());
        b[10] = self.compression.code();
        b[12..16].copy_from_slice(&self.cpu.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.time_start.to_le_bytes());
        b[32..40].copy_from_slice(&self.time_end.to_le_bytes());
        b[40..44].copy_from_slice(&self.records.to_le_bytes());
        b[44..48].copy_from_slice(&self.samples.to_le_bytes());
        b[48..52].copy_from_slice(&self.lost.to_le_bytes());
        b[52..56].copy_from_slice(&self.stored_len.to_le_bytes());
        b[56..60].copy_from_slice(&self.raw_len.to_le_bytes());
        b[60..64].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32c::crc32c(&b[8..]);
        b[4..8].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a header if `b` starts with an intact one.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < CHUNK_HEADER_SIZE || u32_at(b, 0) != CHUNK_MAGIC {
            return None;
        }
        if crc32c::crc32c(&b[8..CHUNK_HEADER_SIZE]) != u32_at(b, 4) {
            return None;
        }
        let header = ChunkHeader {
            kind: ChunkKind::from_code(u16_at(b, 8)),
            compression: Compression::from_code(b[10])?,
            cpu: u32_at(b, 12),
            seq: u64_at(b, 16),
            time_start: u64_at(b, 24),
            time_end: u64_at(b, 32),
            records: u32_at(b, 40),
            samples: u32_at(b, 44),
            lost: u32_at(b, 48),
            stored_len: u32_at(b, 52),
            raw_len: u32_at(b, 56),
            payload_crc: u32_at(b, 60),
        };
        if header.stored_len as usize > MAX_CHUNK_PAYLOAD
            || header.raw_len as usize > MAX_CHUNK_PAYLOAD
        {
            return None;
        }
        Some(header)
    }
}

/// One entry of the chunk index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// File offset of the chunk header.
    pub offset: u64,
    /// The chunk's sequence number.
    pub seq: u64,
    /// Its time range.
    pub time_start: u64,
    /// Its time range.
    pub time_end: u64,
    /// Its CPU.
    pub cpu: u32,
    /// Its kind.
    pub kind: ChunkKind,
}

impl IndexEntry {
    /// Appends the encoded entry to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.time_start.to_le_bytes());
        out.extend_from_slice(&self.time_end.to_le_bytes());
        out.extend_from_slice(&self.cpu.to_le_bytes());
        out.extend_from_slice(&self.kind.code().to_le_bytes());
        out.extend_from_slice(&[0, 0]);
    }

    /// Decodes one entry from exactly [`INDEX_ENTRY_SIZE`] bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != INDEX_ENTRY_SIZE {
            return None;
        }
        Some(IndexEntry {
            offset: u64_at(b, 0),
            seq: u64_at(b, 8),
            time_start: u64_at(b, 16),
            time_end: u64_at(b, 24),
            cpu: u32_at(b, 32),
            kind: ChunkKind::from_code(u16_at(b, 36)),
        })
    }
}

/// The footer: the last bytes of a cleanly finished file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// File offset of the index chunk.
    pub index_offset: u64,
    /// File offset of the trailer chunk.
    pub trailer_offset: u64,
}

impl Footer {
    /// Encodes the footer.
    pub fn encode(&self) -> [u8; FOOTER_SIZE] {
        let mut b = [0u8; FOOTER_SIZE];
        b[0..8].copy_from_slice(&FOOTER_MAGIC);
        b[8..16].copy_from_slice(&self.index_offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.trailer_offset.to_le_bytes());
        let crc = crc32c::crc32c(&b[..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes the footer from the last [`FOOTER_SIZE`] bytes of a file.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != FOOTER_SIZE
            || b[0..8] != FOOTER_MAGIC
            || crc32c::crc32c(&b[..24]) != u32_at(b, 24)
        {
            return None;
        }
        Some(Footer {
            index_offset: u64_at(b, 8),
            trailer_offset: u64_at(b, 16),
        })
    }
}

/// One event of the recording, as stored in [`SessionMeta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The event's name: as the user gave it (`cpu-clock`, `cycles:u`), or
    /// `system:event` for each tracepoint a glob expanded to.
    pub name: String,
    /// The `perf_event_attr` the kernel was given, as lowercase hex of its bytes.
    pub attr: String,
    /// The kernel ids of every file descriptor opened for this event.
    pub ids: Vec<u64>,
    /// For a tracepoint, its tracefs `format` file as it was when recording,
    /// so its raw payloads can be decoded on any machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The tracepoint filter the kernel applied, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

impl EventMeta {
    /// The attribute bytes, if `attr` is valid hex.
    pub fn attr_bytes(&self) -> Option<Vec<u8>> {
        hex_decode(&self.attr)
    }
}

/// Metadata known when the recording starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionMeta {
    /// The strobe version that wrote the file.
    pub strobe_version: String,
    /// The strobe command line.
    pub command_line: Vec<String>,
    /// Host name.
    pub hostname: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// `uname -v`.
    pub kernel_version: String,
    /// `uname -m`.
    pub arch: String,
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: String,
    /// CPUs online when the recording started.
    pub cpus_online: u32,
    /// The CPUs recorded.
    pub cpus_recorded: Vec<u32>,
    /// Total memory in KiB.
    pub mem_total_kib: u64,
    /// The PMU that produced the samples (`cpu` or `software`).
    pub pmu: String,
    /// What was recorded: `system-wide`, `cpus 0-1`, `pid 123`, `command ...`.
    pub target: String,
    /// The clock of record timestamps (`CLOCK_MONOTONIC`).
    pub clock: String,
    /// CLOCK_MONOTONIC at the start, in ns, on the same scale as record times.
    pub start_time_ns: u64,
    /// CLOCK_REALTIME at the start, ns since the epoch.
    pub start_realtime_ns: u64,
    /// The system page size.
    pub page_size: u32,
    /// Data pages per CPU ring buffer.
    pub buffer_pages: u32,
    /// Whether data chunks are zstd-compressed.
    pub compressed: bool,
    /// Flight-recorder ring size in bytes, if the file is a ring.
    pub ring_size: Option<u64>,
    /// Whether call chains were recorded.
    pub call_graph: bool,
    /// The events, in the order the user gave them.
    pub events: Vec<EventMeta>,
    /// Messages the user was shown at the start (such as a PMU fallback).
    pub notes: Vec<String>,
    /// For recordings of the ftrace ring buffer (`strobe trace`): how to
    /// read its pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftrace: Option<FtraceMeta>,
    /// The dynamic probes (kprobes, kretprobes, uprobes) among the events,
    /// with their definitions and, for kernel probes, their state when the
    /// recording started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeMeta>,
}

/// A dynamic probe a recording used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeMeta {
    /// The event's name, as in `events`.
    pub event: String,
    /// `kprobe`, `kretprobe`, `uprobe` or `uretprobe`.
    pub kind: String,
    /// The definition: the tracefs line of a persistent probe, or the
    /// `-e` spec of an ephemeral one.
    pub definition: String,
    /// For a kernel probe, its state in debugfs `kprobes/list` once the
    /// events were opened: `OPTIMIZED`, `FTRACE`, `DISABLED`, `GONE` (joined
    /// by `,` when several apply), or `BREAKPOINT`; absent when the kernel
    /// did not list it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// How to decode the ftrace pages of a `strobe trace` recording.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FtraceMeta {
    /// tracefs `events/header_page`: where the page header's fields sit.
    pub header_page: String,
    /// tracefs `events/header_event`: the event header's encoding.
    pub header_event: String,
    /// Bytes per sub-buffer, as read from `trace_pipe_raw`.
    pub subbuf_size: u32,
    /// The instance's `trace_clock` (`mono` is CLOCK_MONOTONIC, as perf's).
    pub clock: String,
    /// The tracer (`nop`, `function`, `function_graph`).
    pub tracer: String,
    /// `set_ftrace_filter` globs the function tracer was limited to.
    pub functions: Vec<String>,
    /// `set_ftrace_notrace` globs.
    pub notrace: Vec<String>,
    /// Every event type the pages can hold, with its format file.
    pub events: Vec<FtraceEventMeta>,
}

/// One event type of an ftrace recording.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FtraceEventMeta {
    /// `system:name`.
    pub name: String,
    /// The id in each event's `common_type`.
    pub id: u32,
    /// The tracefs `format` file.
    pub format: String,
    /// The filter set on it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// Per-CPU counters of an ftrace ring buffer (tracefs `per_cpu/cpuN/stats`)
/// at the end of a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FtraceCpuStats {
    /// The CPU.
    pub cpu: u32,
    /// Events still in the buffer when it was read.
    pub entries: u64,
    /// Events overwritten before they were read (overwrite mode).
    pub overrun: u64,
    /// Events lost to nested writes that overran the commit.
    pub commit_overrun: u64,
    /// Events dropped because the buffer was full (non-overwrite mode).
    pub dropped_events: u64,
    /// Events read from the buffer.
    pub read_events: u64,
}

/// Per-CPU totals in the trailer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuTotals {
    /// The CPU.
    pub cpu: u32,
    /// Records drained from its buffer.
    pub records: u64,
    /// Samples among them.
    pub samples: u64,
    /// Events lost because the buffer was full (LOST records).
    pub lost_events: u64,
    /// Samples the kernel dropped for other reasons (LOST_SAMPLES records).
    pub lost_samples: u64,
    /// THROTTLE records: the kernel slowed sampling down.
    pub throttled: u64,
    /// Bytes drained.
    pub bytes: u64,
}

/// A build-id of a file mapped by a recorded process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildId {
    /// Path as it appeared in MMAP2 records.
    pub path: String,
    /// The GNU build-id note, as lowercase hex.
    pub build_id: String,
}

/// Metadata known when the recording ends (or is snapshotted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrailerMeta {
    /// CLOCK_MONOTONIC at the end, ns.
    pub end_time_ns: u64,
    /// Totals per CPU.
    pub cpus: Vec<CpuTotals>,
    /// Build-ids of the ELF files mapped by recorded processes.
    pub build_ids: Vec<BuildId>,
    /// Exit status of the workload, if strobe started one.
    pub exit_status: Option<i32>,
    /// Data chunks written in total (in a ring, more than the file keeps).
    pub chunks_written: u64,
    /// Whether the flight-recorder ring overwrote old chunks.
    pub ring_wrapped: bool,
    /// Whether this trailer was written by a snapshot while recording went on.
    pub snapshot: bool,
    /// ftrace buffer counters per CPU (`strobe trace` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ftrace_cpus: Vec<FtraceCpuStats>,
    /// Command names the kernel saved for pids (tracefs `saved_cmdlines`),
    /// for events of processes that came and went (`strobe trace` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub saved_comms: Vec<(i32, String)>,
}

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Bytes from lowercase or uppercase hex; `None` if it is not hex.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_header_round_trips_and_detects_damage() {
        let h = ChunkHeader {
            kind: ChunkKind::Records,
            compression: Compression::Zstd,
            cpu: 1,
            seq: 42,
            time_start: 10,
            time_end: 20,
            records: 3,
            samples: 2,
            lost: 1,
            stored_len: 100,
            raw_len: 300,
            payload_crc: 7,
        };
        let mut b = h.encode();
        assert_eq!(ChunkHeader::decode(&b), Some(h));
        assert_eq!(h.total_len(), 168);
        b[20] ^= 1;
        assert_eq!(ChunkHeader::decode(&b), None);
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex_encode(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(hex_decode("00ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(hex_decode("0g"), None);
        assert_eq!(hex_decode("abc"), None);
    }
}
