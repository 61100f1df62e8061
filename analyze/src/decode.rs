//! Decoding the perf records in a strobe file.

use crate::AnalyzeError;
use byteorder::LittleEndian;
use linux_perf_event_reader::{
    get_record_id, Endianness, EventRecord, PerfEventAttr, RawData, RawEventRecord,
    RecordIdParseInfo, RecordParseInfo, RecordType,
};
use std::collections::HashMap;
use strobe_record::format::reader::StrobeFile;
use strobe_record::format::records::{RawRecord, RecordIter};
use strobe_record::format::{SessionMeta, NO_CPU};

/// One event of a recording, as the decoder knows it.
#[derive(Debug, Clone)]
pub struct EventInfo {
    /// The user's name for it.
    pub name: String,
    /// Its attribute.
    pub attr: PerfEventAttr,
    parse_info: RecordParseInfo,
}

/// Decodes records with the attribute of the event that produced them.
#[derive(Debug, Clone)]
pub struct Decoder {
    events: Vec<EventInfo>,
    by_id: HashMap<u64, usize>,
    id_info: RecordIdParseInfo,
}

/// A decoded record and what it came with.
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    /// Index of the event in [`Decoder::events`].
    pub event: usize,
    /// The CPU whose buffer held the record, if any.
    pub cpu: Option<u32>,
    /// The record.
    pub record: EventRecord<'a>,
}

/// Counts from a decoding pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Records decoded.
    pub records: u64,
    /// Records that did not decode (counted and skipped).
    pub malformed: u64,
    /// Chunks whose payload was damaged (counted and skipped).
    pub damaged_chunks: u64,
}

impl Decoder {
    /// A decoder for the events of `session`.
    pub fn new(session: &SessionMeta) -> Result<Self, AnalyzeError> {
        let mut events = Vec::new();
        let mut by_id = HashMap::new();
        for (index, meta) in session.events.iter().enumerate() {
            let bytes = meta
                .attr_bytes()
                .ok_or_else(|| AnalyzeError::BadAttribute(meta.name.clone()))?;
            let (attr, _) = PerfEventAttr::parse::<_, LittleEndian>(&bytes[..])
                .map_err(|_| AnalyzeError::BadAttribute(meta.name.clone()))?;
            let parse_info = RecordParseInfo::new(&attr, Endianness::LittleEndian);
            for &id in &meta.ids {
                by_id.insert(id, index);
            }
            events.push(EventInfo {
                name: meta.name.clone(),
                attr,
                parse_info,
            });
        }
        let first = events.first().ok_or(AnalyzeError::NoEvents)?;
        let id_info = RecordIdParseInfo::new(&first.attr);
        Ok(Decoder {
            events,
            by_id,
            id_info,
        })
    }

    /// The recording's events.
    pub fn events(&self) -> &[EventInfo] {
        &self.events
    }

    /// The event that produced a record: with several events, the one its
    /// identifier names; with one, that one.
    pub fn event_of(&self, raw: &RawRecord<'_>) -> usize {
        if self.events.len() == 1 {
            return 0;
        }
        get_record_id::<LittleEndian>(
            RecordType(raw.kind),
            RawData::Single(raw.body()),
            &self.id_info,
        )
        .and_then(|id| self.by_id.get(&id).copied())
        .unwrap_or(0)
    }

    fn raw_event_record<'a>(&self, raw: &RawRecord<'a>, event: usize) -> RawEventRecord<'a> {
        RawEventRecord::new(
            RecordType(raw.kind),
            raw.misc,
            RawData::Single(raw.body()),
            self.events[event].parse_info,
        )
    }

    /// A record's event and timestamp, without decoding the rest of it.
    pub fn peek(&self, raw: &RawRecord<'_>) -> (usize, Option<u64>) {
        let event = self.event_of(raw);
        (event, self.raw_event_record(raw, event).timestamp())
    }

    /// Decodes a record known (from [`Decoder::peek`]) to come from `event`.
    pub fn decode_as<'a>(
        &self,
        raw: &RawRecord<'a>,
        event: usize,
        cpu: Option<u32>,
    ) -> Option<Decoded<'a>> {
        let record = parse_record(&self.raw_event_record(raw, event))?;
        Some(Decoded { event, cpu, record })
    }

    /// Decodes one record.
    pub fn decode<'a>(&self, raw: &RawRecord<'a>, cpu: Option<u32>) -> Option<Decoded<'a>> {
        self.decode_as(raw, self.event_of(raw), cpu)
    }

    /// Calls `f` with every record of `file`, chunk by chunk in write order.
    /// Damaged chunks and malformed records are counted and skipped.
    pub fn for_each<'a>(
        &self,
        file: &StrobeFile<'a>,
        mut f: impl FnMut(Decoded<'_>),
    ) -> DecodeStats {
        let mut stats = DecodeStats::default();
        for chunk in file.record_chunks() {
            let Ok(payload) = file.payload(chunk) else {
                stats.damaged_chunks += 1;
                continue;
            };
            let cpu = (chunk.header.cpu != NO_CPU).then_some(chunk.header.cpu);
            let mut records = RecordIter::new(&payload);
            for raw in records.by_ref() {
                match self.decode(&raw, cpu) {
                    Some(decoded) => {
                        stats.records += 1;
                        f(decoded);
                    }
                    None => stats.malformed += 1,
                }
            }
            if records.malformed > 0 {
                stats.malformed += 1;
            }
        }
        stats
    }
}

/// Parses a record with `linux-perf-event-reader`, first defusing what it
/// would panic on instead of returning an error: an MMAP2 record whose
/// build-id length byte says more than 20 bytes (seen in perf.data files
/// perf wrote) is read without its build-id, so the mapping is kept.
/// `None` means malformed.
pub(crate) fn parse_record<'a>(
    record: &linux_perf_event_reader::RawEventRecord<'a>,
) -> Option<linux_perf_event_reader::EventRecord<'a>> {
    const MMAP2: u32 = 10;
    const MISC_MMAP_BUILD_ID: u16 = 1 << 14;
    // pid, tid, addr, len, pgoff come before the build-id length.
    const BUILD_ID_LEN_AT: usize = 4 + 4 + 8 + 8 + 8;
    if record.record_type.0 == MMAP2 && record.misc & MISC_MMAP_BUILD_ID != 0 {
        let len = record
            .data
            .get(BUILD_ID_LEN_AT..BUILD_ID_LEN_AT + 1)
            .map(|b| b.as_slice()[0]);
        if len.is_none_or(|len| len > 20) {
            let without_build_id = linux_perf_event_reader::RawEventRecord {
                misc: record.misc & !MISC_MMAP_BUILD_ID,
                ..record.clone()
            };
            return without_build_id.parse().ok();
        }
    }
    record.parse().ok()
}

#[cfg(test)]
mod parse_tests {
    use super::*;
    use linux_perf_event_reader::{RawData, RawEventRecord, RecordParseInfo, RecordType};

    #[test]
    fn an_mmap2_record_with_a_too_long_build_id_is_read_without_it_not_a_panic() {
        let mut body = vec![0u8; 4 + 4 + 8 + 8 + 8];
        body.push(21); // build-id length
        body.extend([0u8; 3 + 20 + 4 + 4]);
        body.extend(b"/bin/x\0\0");
        let attr = linux_perf_event_reader::PerfEventAttr::parse::<_, byteorder::LittleEndian>(
            &strobe_probe::EventAttr::new(1, 0)
                .sample_id_all(true)
                .to_bytes()[..],
        )
        .unwrap()
        .0;
        let info = RecordParseInfo::new(&attr, linux_perf_event_reader::Endianness::LittleEndian);
        let record = RawEventRecord::new(RecordType(10), 1 << 14, RawData::Single(&body), info);
        match parse_record(&record) {
            Some(linux_perf_event_reader::EventRecord::Mmap2(m)) => {
                assert_eq!(m.path.as_slice().as_ref(), b"/bin/x");
            }
            other => panic!("{other:?}"),
        }
        body[4 + 4 + 8 + 8 + 8] = 20;
        let record = RawEventRecord::new(RecordType(10), 1 << 14, RawData::Single(&body), info);
        assert!(parse_record(&record).is_some());
    }
}
