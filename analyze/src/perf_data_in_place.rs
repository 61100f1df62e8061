//! perf.data's records read in place, in perf's round-by-round time order.
//!
//! `linux-perf-data`'s record iterator reads through `std::io::Read`: it
//! copies every record into a buffer of its own and sorts the records of a
//! round by value. On a mapped file that copy is the largest cost of a pass
//! over millions of small tracepoint records, so this module sorts only
//! (time, offset) keys and hands out records that borrow the mapping. The
//! order is the crate's exactly: its `Sorter` rules (records of a round
//! whose time is at most the previous round's latest go out at the end of
//! the round, sorted by time then file offset; the rest wait for the next
//! round, or for the end). Record decoding stays with
//! `linux-perf-event-reader`.
//!
//! Only the common case is handled: a little-endian file whose records
//! need no decompression or auxtrace data, whose events can be told apart
//! as the crate tells them apart. For anything else [`InPlaceRecords::new`]
//! returns `None` and the caller uses the crate's iterator.

use linux_perf_data::AttributeDescription;
use linux_perf_event_reader::{
    get_record_id, get_record_identifier, get_record_timestamp, Endianness, RawData,
    RawEventRecord, RecordIdParseInfo, RecordParseInfo, RecordType, SampleFormat,
};
use rustc_hash::FxHashMap;

type Le = byteorder::LittleEndian;

/// `PERF_RECORD_FINISHED_ROUND`.
const FINISHED_ROUND: u32 = 68;
/// `PERF_RECORD_AUXTRACE`: its data follows the record, outside its size.
const AUXTRACE: u32 = 71;
/// `PERF_RECORD_COMPRESSED` and `PERF_RECORD_COMPRESSED2`.
const COMPRESSED: [u32; 2] = [81, 83];

/// How a record's event is found.
#[derive(Debug)]
enum IdMode {
    OnlyOne,
    Same(RecordIdParseInfo),
    Identifier(bool),
}

/// The records of a perf.data file's data section, in time order.
#[derive(Debug)]
pub(crate) struct InPlaceRecords<'a> {
    data: &'a [u8],
    parse_infos: Vec<RecordParseInfo>,
    id_mode: IdMode,
    attr_by_id: FxHashMap<u64, usize>,
}

/// A record ready to decode: its event's index, its time, its bytes.
pub(crate) struct InPlaceRecord<'a> {
    /// The index of its event's attribute.
    pub attr_index: usize,
    /// Its timestamp, if it has one.
    pub time: Option<u64>,
    /// The record, borrowing the file.
    pub record: RawEventRecord<'a>,
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> InPlaceRecords<'a> {
    /// The data section of `file` (a whole perf.data file), or `None` when
    /// it needs the general reader.
    pub(crate) fn new(file: &'a [u8], attributes: &[AttributeDescription]) -> Option<Self> {
        if !file.starts_with(b"PERFILE2") || attributes.is_empty() {
            return None;
        }
        // perf_file_header: magic, size, attr_size, attrs {offset, size},
        // data {offset, size}, ...
        let offset = usize::try_from(u64_at(file, 40)?).ok()?;
        let size = usize::try_from(u64_at(file, 48)?).ok()?;
        let data = file.get(offset..offset.checked_add(size)?)?;
        let parse_infos: Vec<RecordParseInfo> = attributes
            .iter()
            .map(|a| RecordParseInfo::new(&a.attr, Endianness::LittleEndian))
            .collect();
        let id_mode = if attributes.len() == 1 {
            IdMode::OnlyOne
        } else if parse_infos
            .iter()
            .all(|p| p.id_parse_info == parse_infos[0].id_parse_info)
        {
            IdMode::Same(parse_infos[0].id_parse_info)
        } else if attributes
            .iter()
            .all(|a| a.attr.sample_format.contains(SampleFormat::IDENTIFIER))
        {
            IdMode::Identifier(
                attributes[0]
                    .attr
                    .flags
                    .contains(linux_perf_event_reader::AttrFlags::SAMPLE_ID_ALL),
            )
        } else {
            return None;
        };
        let mut attr_by_id = FxHashMap::default();
        for (index, attribute) in attributes.iter().enumerate() {
            for id in &attribute.event_ids {
                attr_by_id.insert(*id, index);
            }
        }
        let records = InPlaceRecords {
            data,
            parse_infos,
            id_mode,
            attr_by_id,
        };
        // Records this reader cannot take apart in place send the whole
        // file to the general reader; finding them costs one walk of the
        // record headers.
        let mut at = 0;
        while let Some((kind, _, size)) = records.header(at) {
            if kind == AUXTRACE || COMPRESSED.contains(&kind) {
                return None;
            }
            at += size;
        }
        Some(records)
    }

    /// The data section's length, for progress.
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// The record header at `at`: type, misc, size (at least 8).
    fn header(&self, at: usize) -> Option<(u32, u16, usize)> {
        let h = self.data.get(at..at + 8)?;
        let kind = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let misc = u16::from_le_bytes([h[4], h[5]]);
        let size = usize::from(u16::from_le_bytes([h[6], h[7]]));
        (size >= 8 && at + size <= self.data.len()).then_some((kind, misc, size))
    }

    fn attr_index(&self, kind: RecordType, body: RawData<'_>) -> usize {
        let id = match &self.id_mode {
            IdMode::OnlyOne => return 0,
            IdMode::Same(info) => get_record_id::<Le>(kind, body, info),
            IdMode::Identifier(sample_id_all) => {
                get_record_identifier::<Le>(kind, body, *sample_id_all)
            }
        };
        id.and_then(|id| self.attr_by_id.get(&id).copied())
            .unwrap_or(0)
    }

    fn record_at(&self, at: usize) -> Option<InPlaceRecord<'a>> {
        let (kind, misc, size) = self.header(at)?;
        let body = RawData::Single(&self.data[at + 8..at + size]);
        let kind = RecordType(kind);
        let attr_index = self.attr_index(kind, body);
        let parse_info = self.parse_infos[attr_index];
        Some(InPlaceRecord {
            attr_index,
            time: get_record_timestamp::<Le>(kind, body, &parse_info),
            record: RawEventRecord::new(kind, misc, body, parse_info),
        })
    }

    /// Calls `f` with every builtin record in order, and `progress` with
    /// the bytes read so far now and then. Returns whether the section
    /// ended in a damaged record header (the records before it were read).
    pub(crate) fn for_each(
        &self,
        mut f: impl FnMut(InPlaceRecord<'a>),
        progress: &mut dyn FnMut(u64),
    ) -> bool {
        // (time, offset): `None` sorts before every time, as in the crate.
        let mut incoming: Vec<(Option<u64>, usize)> = Vec::new();
        let mut prev_max: (Option<u64>, usize) = (None, 0);
        let mut cur_max = prev_max;
        let mut at_most_prev = 0usize;
        let mut since_report = 0usize;
        let mut emit = |keys: &mut Vec<(Option<u64>, usize)>, n: usize| {
            for &(_, offset) in &keys[..n] {
                if let Some(record) = self.record_at(offset) {
                    f(record);
                }
            }
            keys.drain(..n);
        };
        let mut at = 0;
        let damaged = loop {
            let Some((kind, _, size)) = self.header(at) else {
                break at < self.data.len();
            };
            since_report += size;
            if since_report >= 1 << 20 {
                progress(at as u64);
                since_report = 0;
            }
            if kind == FINISHED_ROUND {
                if at_most_prev > 0 {
                    // The keys are unique (offsets differ), so any sort gives
                    // the crate's order; a round is a few runs already in
                    // order (one per CPU buffer), which the stable sort finds.
                    incoming.sort();
                    emit(&mut incoming, at_most_prev);
                }
                prev_max = cur_max;
                at_most_prev = incoming.len();
            } else if kind < 64 {
                let body = RawData::Single(&self.data[at + 8..at + size]);
                let record_type = RecordType(kind);
                let info = &self.parse_infos[self.attr_index(record_type, body)];
                let key = (get_record_timestamp::<Le>(record_type, body, info), at);
                if key <= prev_max {
                    at_most_prev += 1;
                } else if key > cur_max {
                    cur_max = key;
                }
                incoming.push(key);
            }
            at += size;
        };
        incoming.sort();
        let n = incoming.len();
        emit(&mut incoming, n);
        damaged
    }
}

/// The fields of a SAMPLE record that analyzers use, read at the offsets
/// its `sample_format` gives, without building the crate's full
/// `SampleRecord` (whose size makes moving it the larger cost for small
/// tracepoint samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SampleFields<'a> {
    pub pid: Option<i32>,
    pub tid: Option<i32>,
    pub ip: Option<u64>,
    pub time: Option<u64>,
    pub cpu: Option<u32>,
    pub period: Option<u64>,
    pub kernel: bool,
    pub raw: &'a [u8],
}

/// `PERF_RECORD_MISC_CPUMODE_MASK` and the kernel modes in it.
const CPUMODE_MASK: u16 = 7;
const MISC_KERNEL: u16 = 1;
const MISC_GUEST_KERNEL: u16 = 4;

/// Reads a SAMPLE record's fields up to its raw payload, putting its call
/// chain into `chain`. `None` for other records, for samples with READ
/// values (of variable layout), and for a record too short for its format:
/// the caller decodes those the general way.
pub(crate) fn sample_fields<'a>(
    record: &RawEventRecord<'a>,
    chain: &mut Vec<u64>,
) -> Option<SampleFields<'a>> {
    if record.record_type != RecordType::SAMPLE {
        return None;
    }
    let format = record.parse_info.sample_format;
    if format.contains(SampleFormat::READ) {
        return None;
    }
    let RawData::Single(bytes) = record.data else {
        return None;
    };
    let mut at = 0usize;
    let mut next = |n: usize| -> Option<&'a [u8]> {
        let field = bytes.get(at..at.checked_add(n)?)?;
        at += n;
        Some(field)
    };
    let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
    let has = |bit: SampleFormat| format.contains(bit);
    if has(SampleFormat::IDENTIFIER) {
        next(8)?;
    }
    let ip = if has(SampleFormat::IP) {
        Some(u64_of(next(8)?))
    } else {
        None
    };
    let (pid, tid) = if has(SampleFormat::TID) {
        let b = next(8)?;
        (Some(u32_of(&b[..4]) as i32), Some(u32_of(&b[4..]) as i32))
    } else {
        (None, None)
    };
    let time = if has(SampleFormat::TIME) {
        Some(u64_of(next(8)?))
    } else {
        None
    };
    for bit in [
        SampleFormat::ADDR,
        SampleFormat::ID,
        SampleFormat::STREAM_ID,
    ] {
        if has(bit) {
            next(8)?;
        }
    }
    let cpu = if has(SampleFormat::CPU) {
        Some(u32_of(&next(8)?[..4]))
    } else {
        None
    };
    let period = if has(SampleFormat::PERIOD) {
        Some(u64_of(next(8)?))
    } else {
        None
    };
    chain.clear();
    if has(SampleFormat::CALLCHAIN) {
        let n = usize::try_from(u64_of(next(8)?)).ok()?;
        let addresses = next(n.checked_mul(8)?)?;
        chain.extend(addresses.chunks_exact(8).map(u64_of));
    }
    let raw = if has(SampleFormat::RAW) {
        let n = u32_of(next(4)?) as usize;
        next(n)?
    } else {
        &[]
    };
    let mode = record.misc & CPUMODE_MASK;
    Some(SampleFields {
        pid,
        tid,
        ip,
        time,
        cpu,
        period,
        kernel: mode == MISC_KERNEL || mode == MISC_GUEST_KERNEL,
        raw,
    })
}
