//! Walking a run of perf_event records in the kernel's encoding, without
//! decoding them: what the collector does to each drained buffer, and what
//! every reader does first.

/// `PERF_RECORD_*` types strobe looks at without decoding.
pub mod kind {
    /// Mapping of executable code, with device/inode or build-id.
    pub const MMAP2: u32 = 10;
    /// A sample.
    pub const SAMPLE: u32 = 9;
    /// Events lost because the ring buffer was full.
    pub const LOST: u32 = 2;
    /// Samples dropped by the kernel for other reasons.
    pub const LOST_SAMPLES: u32 = 13;
    /// The kernel throttled sampling.
    pub const THROTTLE: u32 = 5;
    /// A task's command name.
    pub const COMM: u32 = 3;
}

/// One record: its type, misc bits, and all its bytes (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// `PERF_RECORD_*`.
    pub kind: u32,
    /// `misc` bits of the header.
    pub misc: u16,
    /// The whole record, 8-byte header included.
    pub bytes: &'a [u8],
}

impl<'a> RawRecord<'a> {
    /// The record body, after the 8-byte header.
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[8..]
    }

    fn u64_at(&self, at: usize) -> Option<u64> {
        let b = self.bytes.get(at..at.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

/// Iterates over records in a byte run. It stops, and sets [`RecordIter::
/// malformed`], at a record whose size is smaller than its header or runs past
/// the end; it never panics.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    rest: &'a [u8],
    /// Bytes left over after the last whole record (zero on a well-formed run).
    pub malformed: usize,
}

impl<'a> RecordIter<'a> {
    /// Starts at the first record of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        RecordIter {
            rest: bytes,
            malformed: 0,
        }
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = RawRecord<'a>;

    fn next(&mut self) -> Option<RawRecord<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < 8 {
            self.malformed = self.rest.len();
            self.rest = &[];
            return None;
        }
        let kind = u32::from_le_bytes([self.rest[0], self.rest[1], self.rest[2], self.rest[3]]);
        let misc = u16::from_le_bytes([self.rest[4], self.rest[5]]);
        let size = u16::from_le_bytes([self.rest[6], self.rest[7]]) as usize;
        if size < 8 || size > self.rest.len() {
            self.malformed = self.rest.len();
            self.rest = &[];
            return None;
        }
        let (bytes, rest) = self.rest.split_at(size);
        self.rest = rest;
        Some(RawRecord { kind, misc, bytes })
    }
}

/// Where fixed-position fields sit, for the `sample_type` a recording used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordLayout {
    /// Offset of the time field from the start of a SAMPLE record.
    pub sample_time_offset: Option<usize>,
    /// Offset of the time field counted back from the end of other records
    /// (the sample-id trailer), when `sample_id_all` was set.
    pub other_time_from_end: Option<usize>,
    /// Offset of the instruction pointer in a SAMPLE record.
    pub sample_ip_offset: Option<usize>,
    /// Offset of the call chain in a SAMPLE record.
    pub sample_callchain_offset: Option<usize>,
}

/// Something a walk noticed that the collector keeps track of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkItem<'a> {
    /// The file name of an MMAP2 record.
    MappedFile(&'a [u8]),
    /// A kernel address in a sample's IP or call chain.
    KernelAddress(u64),
}

/// `PERF_RECORD_MISC_KERNEL`, in the low bits of `misc`.
const MISC_CPUMODE_MASK: u16 = 7;
const MISC_KERNEL: u16 = 1;
/// `PERF_CONTEXT_*` call-chain markers.
pub mod context {
    /// Markers are the top 4095 values of u64; nothing at or above this is
    /// an address.
    pub const MARKER_MIN: u64 = u64::MAX - 4094;
    /// `PERF_CONTEXT_KERNEL`: the kernel part of a call chain follows.
    pub const KERNEL: u64 = -128i64 as u64;
    /// `PERF_CONTEXT_USER`: the user-space part of a call chain follows.
    pub const USER: u64 = -512i64 as u64;
}
use context::{MARKER_MIN as CONTEXT_MARKER_MIN, USER as CONTEXT_USER};

/// Whether `addr` is a kernel address (not a call-chain marker).
pub fn is_kernel_address(addr: u64) -> bool {
    // Kernel text lives in the upper half on every 64-bit architecture
    // strobe supports; the context markers above are not addresses.
    addr >> 63 == 1 && addr < CONTEXT_MARKER_MIN
}

impl RecordLayout {
    /// The record's timestamp, if it has one where the layout says.
    pub fn time_of(&self, record: &RawRecord<'_>) -> Option<u64> {
        if record.kind == kind::SAMPLE {
            record.u64_at(self.sample_time_offset?)
        } else if record.kind < 64 {
            // User record types (64 and up) carry no sample-id trailer.
            let from_end = self.other_time_from_end?;
            record.u64_at(record.bytes.len().checked_sub(from_end)?)
        } else {
            None
        }
    }
}

/// What one walk over a run of records found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Records.
    pub records: u64,
    /// SAMPLE records.
    pub samples: u64,
    /// Events lost to a full buffer (sum over LOST records).
    pub lost_events: u64,
    /// Samples lost otherwise (sum over LOST_SAMPLES records).
    pub lost_samples: u64,
    /// THROTTLE records.
    pub throttled: u64,
    /// Earliest non-zero record time.
    pub time_start: Option<u64>,
    /// Latest record time.
    pub time_end: Option<u64>,
    /// Bytes that did not form a whole record.
    pub malformed_bytes: u64,
}

impl RunStats {
    /// Walks `bytes`, telling `notice` of mapped files and kernel addresses.
    pub fn walk<'a>(
        bytes: &'a [u8],
        layout: &RecordLayout,
        mut notice: impl FnMut(WalkItem<'a>),
    ) -> Self {
        let mut stats = RunStats::default();
        let mut iter = RecordIter::new(bytes);
        for record in iter.by_ref() {
            stats.records += 1;
            match record.kind {
                kind::SAMPLE => {
                    stats.samples += 1;
                    notice_kernel_addresses(&record, layout, &mut notice);
                }
                kind::LOST => stats.lost_events += record.u64_at(16).unwrap_or(0),
                kind::LOST_SAMPLES => stats.lost_samples += record.u64_at(8).unwrap_or(0),
                kind::THROTTLE => stats.throttled += 1,
                kind::MMAP2 => {
                    if let Some(name) = mmap2_filename(&record) {
                        notice(WalkItem::MappedFile(name));
                    }
                }
                _ => {}
            }
            if let Some(t) = layout.time_of(&record).filter(|&t| t != 0) {
                stats.time_start = Some(stats.time_start.map_or(t, |s| s.min(t)));
                stats.time_end = Some(stats.time_end.map_or(t, |e| e.max(t)));
            }
        }
        stats.malformed_bytes = iter.malformed as u64;
        stats
    }
}

fn notice_kernel_addresses<'a>(
    record: &RawRecord<'a>,
    layout: &RecordLayout,
    notice: &mut impl FnMut(WalkItem<'a>),
) {
    if record.misc & MISC_CPUMODE_MASK == MISC_KERNEL {
        if let Some(ip) = layout.sample_ip_offset.and_then(|at| record.u64_at(at)) {
            if is_kernel_address(ip) {
                notice(WalkItem::KernelAddress(ip));
            }
        }
    }
    let Some(at) = layout.sample_callchain_offset else {
        return;
    };
    let Some(nr) = record.u64_at(at) else { return };
    // The kernel part of a chain comes first; the user part (after the
    // PERF_CONTEXT_USER marker) has no kernel addresses, so stop there.
    // Bounded by the record's size: u64_at fails past the end.
    for i in 0..nr.min(record.bytes.len() as u64 / 8) as usize {
        match record.u64_at(at + 8 + i * 8) {
            Some(CONTEXT_USER) | None => break,
            Some(addr) if is_kernel_address(addr) => notice(WalkItem::KernelAddress(addr)),
            Some(_) => {}
        }
    }
}

/// The file name of an MMAP2 record (bytes up to the first NUL).
pub fn mmap2_filename<'a>(record: &RawRecord<'a>) -> Option<&'a [u8]> {
    // header 8, pid/tid 8, addr 8, len 8, pgoff 8, inode-or-build-id 24, prot/flags 8.
    let name = record.bytes.get(72..)?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Some(&name[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&kind.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn walk_counts_samples_lost_and_times() {
        let layout = RecordLayout {
            sample_time_offset: Some(8),
            other_time_from_end: Some(8),
            ..Default::default()
        };
        let mut run = record(kind::SAMPLE, &100u64.to_le_bytes());
        run.extend(record(kind::SAMPLE, &50u64.to_le_bytes()));
        let mut lost = Vec::new();
        lost.extend_from_slice(&1u64.to_le_bytes()); // id
        lost.extend_from_slice(&7u64.to_le_bytes()); // lost
        lost.extend_from_slice(&200u64.to_le_bytes()); // trailer: time
        run.extend(record(kind::LOST, &lost));
        let stats = RunStats::walk(&run, &layout, |_| {});
        assert_eq!((stats.records, stats.samples, stats.lost_events), (3, 2, 7));
        assert_eq!((stats.time_start, stats.time_end), (Some(50), Some(200)));
        assert_eq!(stats.malformed_bytes, 0);
    }

    #[test]
    fn walk_notices_kernel_addresses_in_ip_and_callchain() {
        let layout = RecordLayout {
            sample_ip_offset: Some(8),
            sample_callchain_offset: Some(16),
            ..Default::default()
        };
        let mut body = Vec::new();
        body.extend_from_slice(&0xffff_ffff_8100_0010u64.to_le_bytes()); // ip
        body.extend_from_slice(&3u64.to_le_bytes()); // nr
        body.extend_from_slice(&(-128i64 as u64).to_le_bytes()); // PERF_CONTEXT_KERNEL
        body.extend_from_slice(&0xffff_ffff_8100_0020u64.to_le_bytes());
        body.extend_from_slice(&0x40_1000u64.to_le_bytes()); // user address
        let mut run = record(kind::SAMPLE, &body);
        run[4] = 1; // misc: kernel
        let mut seen = Vec::new();
        RunStats::walk(&run, &layout, |item| seen.push(item));
        assert_eq!(
            seen,
            [
                WalkItem::KernelAddress(0xffff_ffff_8100_0010),
                WalkItem::KernelAddress(0xffff_ffff_8100_0020)
            ]
        );
    }

    #[test]
    fn bad_sizes_stop_the_walk() {
        let mut run = record(kind::SAMPLE, &[0; 8]);
        run.extend_from_slice(&[9, 0, 0, 0, 0, 0, 4, 0]); // size 4 < header
        let stats = RunStats::walk(&run, &RecordLayout::default(), |_| {});
        assert_eq!((stats.records, stats.malformed_bytes), (1, 8));
    }
}
