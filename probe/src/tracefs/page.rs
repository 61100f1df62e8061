//! Sub-buffers ("pages") of the kernel's ftrace ring buffer.
//!
//! Each read of `per_cpu/cpuN/trace_pipe_raw` returns one sub-buffer: a small
//! header (a timestamp and a commit word, laid out as tracefs
//! `events/header_page` describes) followed by a data area of compressed
//! event records. A sub-buffer is one page by default; with
//! `buffer_subbuf_size_kb` raised it spans several pages, and its data area
//! is the whole read minus the header, whatever `header_page` says the data
//! size is.
//!
//! Every record starts with a 32-bit word holding `type_len` (5 bits) and
//! `time_delta` (27 bits). On little-endian hosts `type_len` is the low five
//! bits of the word; on big-endian hosts it is the high five bits, because
//! the C bitfield is allocated from the other end. `type_len` says what the
//! record is:
//!
//! | `type_len` | record | size |
//! |---|---|---|
//! | 0 | data; `array[0]` is the length of the body plus its own 4 bytes | 4 + `array[0]` |
//! | 1..=28 | data; the body is `type_len * 4` bytes right after the header word | 4 + 4 * `type_len` |
//! | 29 | padding or a discarded event; `array[0]` is the length after the header word; a zero `time_delta` means the rest of the sub-buffer is unused | 4 + `array[0]` |
//! | 30 | time extend: `(array[0] << 27) + time_delta` is added to the clock | 8 |
//! | 31 | absolute timestamp: `(array[0] << 27) + time_delta` replaces the clock | 8 |
//!
//! An event's time is the sub-buffer's timestamp plus the deltas of every
//! record before it and its own. The commit word holds the number of data
//! bytes committed, and two flags: bit 31 says events were lost before this
//! sub-buffer, bit 30 that their count is stored as a `long` right after the
//! committed data.
//!
//! Everything here is a pure function over bytes: nothing reads files, nothing
//! allocates from a length taken from the data, and malformed input gives a
//! [`PageError`] naming the byte offset, never a panic.

use std::iter::FusedIterator;

/// `type_len` of padding and discarded events.
const TYPE_PADDING: u32 = 29;
/// `type_len` of a time extend.
const TYPE_TIME_EXTEND: u32 = 30;
/// `type_len` of an absolute timestamp.
const TYPE_TIME_STAMP: u32 = 31;

/// Bits of `time_delta` in a record header; longer deltas go to `array[0]`.
const TS_SHIFT: u32 = 27;
const TS_MASK: u32 = (1 << TS_SHIFT) - 1;
/// Absolute timestamps keep only 59 bits; the kernel takes the top five from
/// the clock it already has (`rb_fix_abs_ts` in kernel/trace/ring_buffer.c).
const TS_MSB: u64 = 0xf8 << 56;

/// Commit flag: events were lost between the previous sub-buffer and this one.
const RB_MISSED_EVENTS: u32 = 1 << 31;
/// Commit flag: the number of lost events follows the committed data.
const RB_MISSED_STORED: u32 = 1 << 30;
/// Both flags; the rest of the low 32 bits is the committed length.
const RB_MISSED_MASK: u32 = RB_MISSED_EVENTS | RB_MISSED_STORED;

/// Where the fields of a sub-buffer header sit, from tracefs
/// `events/header_page`, and the byte order of the kernel that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLayout {
    /// Byte offset of the 64-bit timestamp of the first record.
    pub timestamp_offset: usize,
    /// Byte offset of the commit word.
    pub commit_offset: usize,
    /// Size of the commit word: the kernel's `long`, 4 or 8 bytes. A stored
    /// count of lost events has the same size.
    pub commit_size: usize,
    /// Byte offset where the records start.
    pub data_offset: usize,
    /// Whether the kernel that wrote the sub-buffer is big-endian.
    pub big_endian: bool,
}

impl PageLayout {
    /// Parses the text of tracefs `events/header_page`.
    ///
    /// The text does not say the kernel's byte order, so the layout takes the
    /// host's: tracefs is only ever read on the machine whose kernel wrote it.
    /// Use [`PageLayout::with_big_endian`] for sub-buffers from elsewhere.
    pub fn parse(header_page: &str) -> Result<Self, PageError> {
        let mut timestamp = None;
        let mut commit = None;
        let mut data = None;
        for (index, raw) in header_page.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let field = parse_field_line(line).map_err(|reason| PageError::HeaderPageSyntax {
                line: index + 1,
                reason,
            })?;
            let slot = match field.name {
                "timestamp" => &mut timestamp,
                "commit" => &mut commit,
                "data" => &mut data,
                // `overwrite` describes a byte of the commit word that no
                // reader needs, and newer kernels may add fields we can skip.
                _ => continue,
            };
            if slot.is_some() {
                return Err(PageError::HeaderPageSyntax {
                    line: index + 1,
                    reason: format!("field `{}` is described twice", field.name),
                });
            }
            *slot = Some(field);
        }
        let timestamp =
            timestamp.ok_or(PageError::HeaderPageMissingField { field: "timestamp" })?;
        let commit = commit.ok_or(PageError::HeaderPageMissingField { field: "commit" })?;
        let data = data.ok_or(PageError::HeaderPageMissingField { field: "data" })?;
        if timestamp.size != 8 {
            return Err(PageError::InvalidLayout {
                reason: format!(
                    "the timestamp is {} bytes; only 8-byte timestamps exist",
                    timestamp.size
                ),
            });
        }
        let layout = PageLayout {
            timestamp_offset: timestamp.offset,
            commit_offset: commit.offset,
            commit_size: commit.size,
            data_offset: data.offset,
            big_endian: cfg!(target_endian = "big"),
        };
        layout.validate()?;
        Ok(layout)
    }

    /// The layout of every 64-bit kernel: timestamp at 0, an 8-byte commit
    /// word at 8, records from 16, in the host's byte order.
    pub fn default_64bit() -> Self {
        PageLayout {
            timestamp_offset: 0,
            commit_offset: 8,
            commit_size: 8,
            data_offset: 16,
            big_endian: cfg!(target_endian = "big"),
        }
    }

    /// The same layout with the given byte order.
    pub fn with_big_endian(self, big_endian: bool) -> Self {
        PageLayout { big_endian, ..self }
    }

    /// Checks what a hand-made layout could get wrong, so that reading the
    /// header never indexes out of bounds.
    fn validate(&self) -> Result<(), PageError> {
        if self.commit_size != 4 && self.commit_size != 8 {
            return Err(PageError::InvalidLayout {
                reason: format!(
                    "the commit word is {} bytes; a kernel `long` is 4 or 8",
                    self.commit_size
                ),
            });
        }
        let timestamp_end = self.timestamp_offset.checked_add(8);
        let commit_end = self.commit_offset.checked_add(self.commit_size);
        match (timestamp_end, commit_end) {
            (Some(t), Some(c)) if t <= self.data_offset && c <= self.data_offset => Ok(()),
            _ => Err(PageError::InvalidLayout {
                reason: format!(
                    "the timestamp (offset {}) and commit word (offset {}, {} bytes) \
                     must end before the data at offset {}",
                    self.timestamp_offset, self.commit_offset, self.commit_size, self.data_offset
                ),
            }),
        }
    }

    fn read_u32(&self, bytes: &[u8], offset: usize) -> Option<u32> {
        let word: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(word)
        } else {
            u32::from_le_bytes(word)
        })
    }

    fn read_u64(&self, bytes: &[u8], offset: usize) -> Option<u64> {
        let word: [u8; 8] = bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u64::from_be_bytes(word)
        } else {
            u64::from_le_bytes(word)
        })
    }

    /// Reads a kernel `long` (the commit word, the lost-event count).
    fn read_long(&self, bytes: &[u8], offset: usize) -> Option<u64> {
        if self.commit_size == 8 {
            self.read_u64(bytes, offset)
        } else {
            self.read_u32(bytes, offset).map(u64::from)
        }
    }

    /// Splits a record header word into `type_len` and `time_delta`.
    fn split_header(&self, word: u32) -> (u32, u32) {
        if self.big_endian {
            (word >> TS_SHIFT, word & TS_MASK)
        } else {
            (word & 0x1f, word >> 5)
        }
    }
}

/// The usual reason for a partial `events/header_page`: the kernel answers
/// only a read at offset 0 (`show_header_page_file` in
/// kernel/trace/trace_events.c), so a reader that starts with a small probe
/// read, as `std::fs::read_to_string` does, gets the first few bytes only.
const CUT_SHORT: &str =
    " (is the text cut short? tracefs serves this file to a single read() only)";

/// One `field:` line of `events/header_page`.
struct HeaderField<'a> {
    name: &'a str,
    offset: usize,
    size: usize,
}

/// Parses `field: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;`.
fn parse_field_line(line: &str) -> Result<HeaderField<'_>, String> {
    let mut parts = line.split(';').map(str::trim);
    let declaration = parts
        .next()
        .and_then(|first| first.strip_prefix("field:"))
        .ok_or_else(|| format!("expected `field: TYPE NAME;`, found `{line}`"))?;
    // The name is the last word of the C declaration, without any array
    // suffix such as `[4080]`.
    let name = declaration
        .split_whitespace()
        .next_back()
        .map(|word| word.split('[').next().unwrap_or(word))
        .filter(|name| !name.is_empty())
        .ok_or_else(|| format!("no field name in `{line}`"))?;
    let mut offset = None;
    let mut size = None;
    for part in parts {
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "offset" => &mut offset,
            "size" => &mut size,
            _ => continue,
        };
        let value = value.trim();
        *slot = Some(value.parse::<usize>().map_err(|_| {
            format!(
                "`{}` of field `{name}` is not a number: `{value}`",
                key.trim()
            )
        })?);
    }
    Ok(HeaderField {
        name,
        offset: offset.ok_or_else(|| format!("field `{name}` has no offset{CUT_SHORT}"))?,
        size: size.ok_or_else(|| format!("field `{name}` has no size{CUT_SHORT}"))?,
    })
}

/// Whether events were lost before a sub-buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missed {
    /// Nothing was lost.
    #[default]
    None,
    /// This many events were lost (the kernel stored the count).
    Some(u64),
    /// Events were lost, but there was no room in the sub-buffer to say how
    /// many.
    Unknown,
}

/// One sub-buffer, its header checked.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    layout: PageLayout,
    timestamp: u64,
    /// The committed records, without the header.
    data: &'a [u8],
    missed: Missed,
}

impl<'a> Page<'a> {
    /// Reads the header of one sub-buffer, as one read of `trace_pipe_raw`
    /// returned it, and checks that the committed data (and the stored count
    /// of lost events, if the header announces one) fits in `bytes`.
    pub fn parse(layout: &PageLayout, bytes: &'a [u8]) -> Result<Page<'a>, PageError> {
        layout.validate()?;
        let layout = *layout;
        let too_short = PageError::PageTooShort {
            len: bytes.len(),
            header_len: layout.data_offset,
        };
        if bytes.len() < layout.data_offset {
            return Err(too_short);
        }
        let (Some(timestamp), Some(commit)) = (
            layout.read_u64(bytes, layout.timestamp_offset),
            layout.read_long(bytes, layout.commit_offset),
        ) else {
            return Err(too_short);
        };
        // The kernel adds the flags to a signed `long` with int constants, so
        // on 64-bit kernels bit 31 sign-extends into the upper half of the
        // word. Like the kernel's own reader, only the low 32 bits count.
        let commit = commit as u32;
        let committed = (commit & !RB_MISSED_MASK) as usize;
        let available = bytes.len() - layout.data_offset;
        if committed > available {
            return Err(PageError::CommitPastEnd {
                offset: layout.commit_offset,
                committed,
                available,
            });
        }
        let data_end = layout.data_offset + committed;
        let missed = if commit & RB_MISSED_EVENTS == 0 {
            // A stored count without the lost flag is not something the kernel
            // writes; like libtraceevent, only the lost flag decides.
            Missed::None
        } else if commit & RB_MISSED_STORED == 0 {
            Missed::Unknown
        } else {
            let count = layout
                .read_long(bytes, data_end)
                .ok_or(PageError::MissedCountPastEnd {
                    offset: data_end,
                    size: layout.commit_size,
                    len: bytes.len(),
                })?;
            Missed::Some(count)
        };
        Ok(Page {
            layout,
            timestamp,
            data: &bytes[layout.data_offset..data_end],
            missed,
        })
    }

    /// The time of the sub-buffer's first record, in trace-clock units.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Bytes of committed records.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// The committed records, without the header.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Whether events were lost before this sub-buffer.
    pub fn missed_events(&self) -> Missed {
        self.missed
    }

    /// The data events of this sub-buffer with their times. Padding, time
    /// extends and absolute timestamps are consumed on the way.
    pub fn events(&self) -> PageEvents<'a> {
        PageEvents {
            layout: self.layout,
            data: self.data,
            position: 0,
            clock: self.timestamp,
            done: false,
        }
    }
}

/// A data event in a sub-buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEvent<'a> {
    /// When the event happened, in trace-clock units.
    pub timestamp: u64,
    /// The event body, starting at `common_type`. It may end in up to three
    /// bytes of alignment padding; the event's format says how much is real.
    pub payload: &'a [u8],
}

/// Iterator over the data events of a [`Page`]; it ends after the first
/// error.
#[derive(Debug, Clone)]
pub struct PageEvents<'a> {
    layout: PageLayout,
    data: &'a [u8],
    /// Offset of the next record in `data`.
    position: usize,
    /// The time reached by the records read so far.
    clock: u64,
    done: bool,
}

impl<'a> PageEvents<'a> {
    /// Offset in the sub-buffer of an offset in the data area, for errors.
    fn page_offset(&self, position: usize) -> usize {
        self.layout.data_offset.saturating_add(position)
    }

    /// Reads `array[0]` of the record at `position`.
    fn array0(&self, position: usize, kind: &'static str) -> Result<u32, PageError> {
        self.layout
            .read_u32(self.data, position + 4)
            .ok_or(PageError::EventTruncated {
                offset: self.page_offset(position),
                kind,
                need: 8,
                end: self.page_offset(self.data.len()),
            })
    }

    /// Checks that a record of `size` bytes at `position` ends inside the
    /// committed data, and returns where it ends.
    fn record_end(
        &self,
        position: usize,
        size: u64,
        kind: &'static str,
    ) -> Result<usize, PageError> {
        let end = position as u64 + size;
        if end > self.data.len() as u64 {
            return Err(PageError::EventPastCommit {
                offset: self.page_offset(position),
                kind,
                event_end: self.layout.data_offset as u64 + end,
                end: self.page_offset(self.data.len()),
            });
        }
        Ok(end as usize)
    }

    /// Decodes records until the next data event.
    fn next_event(&mut self) -> Result<Option<PageEvent<'a>>, PageError> {
        loop {
            let position = self.position;
            if position >= self.data.len() {
                return Ok(None);
            }
            let header =
                self.layout
                    .read_u32(self.data, position)
                    .ok_or(PageError::EventTruncated {
                        offset: self.page_offset(position),
                        kind: "record",
                        need: 4,
                        end: self.page_offset(self.data.len()),
                    })?;
            let (type_len, delta) = self.layout.split_header(header);
            match type_len {
                TYPE_PADDING => {
                    // A padding record without a delta marks the rest of the
                    // sub-buffer as unused; it has no length of its own.
                    if delta == 0 {
                        return Ok(None);
                    }
                    let length = self.array0(position, "padding")?;
                    if length < 4 {
                        return Err(PageError::EventLengthTooSmall {
                            offset: self.page_offset(position),
                            kind: "padding",
                            length,
                        });
                    }
                    self.position = self.record_end(position, 4 + u64::from(length), "padding")?;
                    // A discarded event keeps its delta, and the records after
                    // it were timed from it. A delta of exactly 1 is the
                    // kernel's marker for "no delta" (end-of-page padding, or
                    // a discarded event that had none), which its own
                    // validator (rb_read_data_buffer) skips too.
                    if delta != 1 {
                        self.clock = self.clock.wrapping_add(u64::from(delta));
                    }
                }
                TYPE_TIME_EXTEND => {
                    let high = self.array0(position, "time extend")?;
                    self.position = position + 8;
                    let extend = (u64::from(high) << TS_SHIFT) | u64::from(delta);
                    self.clock = self.clock.wrapping_add(extend);
                }
                TYPE_TIME_STAMP => {
                    let high = self.array0(position, "absolute timestamp")?;
                    self.position = position + 8;
                    let absolute = (u64::from(high) << TS_SHIFT) | u64::from(delta);
                    self.clock = fix_absolute_timestamp(absolute, self.clock);
                }
                0 => {
                    let length = self.array0(position, "data event")?;
                    // array[0] counts its own four bytes as well as the body.
                    if length < 4 {
                        return Err(PageError::EventLengthTooSmall {
                            offset: self.page_offset(position),
                            kind: "data event",
                            length,
                        });
                    }
                    let body_end =
                        self.record_end(position, 4 + u64::from(length), "data event")?;
                    // Records are 4-byte aligned; the kernel always stores an
                    // aligned length, but libtraceevent rounds it anyway.
                    self.position = body_end.saturating_add(3) & !3;
                    self.clock = self.clock.wrapping_add(u64::from(delta));
                    return Ok(Some(PageEvent {
                        timestamp: self.clock,
                        payload: &self.data[position + 8..body_end],
                    }));
                }
                words => {
                    let end = self.record_end(position, 4 + 4 * u64::from(words), "data event")?;
                    self.position = end;
                    self.clock = self.clock.wrapping_add(u64::from(delta));
                    return Ok(Some(PageEvent {
                        timestamp: self.clock,
                        payload: &self.data[position + 4..end],
                    }));
                }
            }
        }
    }
}

impl<'a> Iterator for PageEvents<'a> {
    type Item = Result<PageEvent<'a>, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_event().transpose();
        if !matches!(result, Some(Ok(_))) {
            self.done = true;
        }
        result
    }
}

impl FusedIterator for PageEvents<'_> {}

/// An absolute timestamp record holds only 59 bits; the top five come from
/// the clock so far, and if that makes the time go backwards the top bits
/// must have just ticked over. This is the kernel's `rb_fix_abs_ts`.
fn fix_absolute_timestamp(absolute: u64, clock: u64) -> u64 {
    if clock & TS_MSB == 0 {
        return absolute;
    }
    let fixed = absolute | (clock & TS_MSB);
    if fixed < clock {
        fixed.wrapping_add(1 << 59)
    } else {
        fixed
    }
}

/// What a collector needs to know about a sub-buffer without keeping its
/// events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSummary {
    /// Time of the first data event, or the sub-buffer's timestamp if it has
    /// none.
    pub first_ts: u64,
    /// Time of the last data event, or the sub-buffer's timestamp if it has
    /// none.
    pub last_ts: u64,
    /// Number of data events (saturating).
    pub events: u32,
    /// Whether events were lost before this sub-buffer.
    pub missed: Missed,
}

/// Decodes a whole sub-buffer and summarizes it; any malformed record is an
/// error.
pub fn summarize(layout: &PageLayout, bytes: &[u8]) -> Result<PageSummary, PageError> {
    let page = Page::parse(layout, bytes)?;
    let mut summary = PageSummary {
        first_ts: page.timestamp(),
        last_ts: page.timestamp(),
        events: 0,
        missed: page.missed_events(),
    };
    for event in page.events() {
        let event = event?;
        if summary.events == 0 {
            summary.first_ts = event.timestamp;
        }
        summary.last_ts = event.timestamp;
        summary.events = summary.events.saturating_add(1);
    }
    Ok(summary)
}

/// Why a sub-buffer or its layout could not be decoded. Offsets count bytes
/// from the start of the sub-buffer, as a hex dump of the read would show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// A line of `events/header_page` could not be parsed.
    #[error("events/header_page, line {line}: {reason}")]
    HeaderPageSyntax {
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// `events/header_page` lacks a field every sub-buffer has.
    #[error(
        "events/header_page does not describe the `{field}` field of the sub-buffer header{}",
        CUT_SHORT
    )]
    HeaderPageMissingField {
        /// The missing field: `timestamp`, `commit` or `data`.
        field: &'static str,
    },
    /// The layout cannot describe a real sub-buffer header.
    #[error("unusable sub-buffer layout: {reason}")]
    InvalidLayout {
        /// What is wrong with it.
        reason: String,
    },
    /// The bytes end before the header does.
    #[error("sub-buffer is {len} bytes, shorter than its {header_len}-byte header")]
    PageTooShort {
        /// Bytes given.
        len: usize,
        /// Bytes of header the layout expects.
        header_len: usize,
    },
    /// The commit word claims more data than the bytes hold.
    #[error(
        "commit word at byte offset {offset} says {committed} bytes of records, \
         but only {available} follow the header (truncated read, or wrong layout or byte order?)"
    )]
    CommitPastEnd {
        /// Offset of the commit word.
        offset: usize,
        /// Committed bytes, flags removed.
        committed: usize,
        /// Bytes after the header.
        available: usize,
    },
    /// The header announces a stored count of lost events that is not there.
    #[error(
        "the count of lost events at byte offset {offset} needs {size} bytes, \
         but the sub-buffer ends at {len}"
    )]
    MissedCountPastEnd {
        /// Where the count should be.
        offset: usize,
        /// Its size (a kernel `long`).
        size: usize,
        /// Length of the sub-buffer.
        len: usize,
    },
    /// A record's header words are cut off by the end of the committed data.
    #[error(
        "{kind} at byte offset {offset} needs {need} bytes of header, \
         but the committed data ends at byte offset {end}"
    )]
    EventTruncated {
        /// Offset of the record.
        offset: usize,
        /// What the record is, as far as it could be read.
        kind: &'static str,
        /// Header bytes the record needs.
        need: usize,
        /// Offset where the committed data ends.
        end: usize,
    },
    /// A record's length word is smaller than the length word itself.
    #[error(
        "{kind} at byte offset {offset} has length {length}, less than its own 4-byte length word"
    )]
    EventLengthTooSmall {
        /// Offset of the record.
        offset: usize,
        /// What the record is.
        kind: &'static str,
        /// The length it declares.
        length: u32,
    },
    /// A record runs past the end of the committed data.
    #[error(
        "{kind} at byte offset {offset} runs to byte offset {event_end}, \
         past the end of the committed data at byte offset {end}"
    )]
    EventPastCommit {
        /// Offset of the record.
        offset: usize,
        /// What the record is.
        kind: &'static str,
        /// Where the record would end.
        event_end: u64,
        /// Offset where the committed data ends.
        end: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `events/header_page` of this x86-64 host.
    const HEADER_PAGE_64: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
        \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
        \tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
        \tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";

    /// `events/header_page` of a 32-bit kernel.
    const HEADER_PAGE_32: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
        \tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;\n\
        \tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
        \tfield: char data;\toffset:12;\tsize:4084;\tsigned:0;\n";

    fn le64() -> PageLayout {
        PageLayout::default_64bit().with_big_endian(false)
    }

    /// Writes sub-buffers the way the kernel does, record by record.
    struct PageBuilder {
        layout: PageLayout,
        size: usize,
        timestamp: u64,
        data: Vec<u8>,
        missed: Option<Option<u64>>,
        /// Whether to write a null padding record right after the committed
        /// data, as the kernel does when fewer than 8 bytes remain.
        null_padding: bool,
        /// Upper 32 bits of a 64-bit commit word, which the kernel's signed
        /// flag arithmetic can set.
        commit_high: u32,
    }

    impl PageBuilder {
        fn new(layout: PageLayout, size: usize, timestamp: u64) -> Self {
            PageBuilder {
                layout,
                size,
                timestamp,
                data: Vec::new(),
                missed: None,
                null_padding: false,
                commit_high: 0,
            }
        }

        fn u32(&mut self, value: u32) {
            let bytes = if self.layout.big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            };
            self.data.extend_from_slice(&bytes);
        }

        fn header(&mut self, type_len: u32, delta: u32) {
            assert!(type_len < 32 && delta <= TS_MASK);
            let word = if self.layout.big_endian {
                (type_len << TS_SHIFT) | delta
            } else {
                type_len | (delta << 5)
            };
            self.u32(word);
        }

        /// A data event with `type_len` = words (body a multiple of 4 bytes).
        fn small(&mut self, delta: u32, body: &[u8]) -> &mut Self {
            assert!(body.len() % 4 == 0 && (4..=112).contains(&body.len()));
            self.header(body.len() as u32 / 4, delta);
            self.data.extend_from_slice(body);
            self
        }

        /// A data event with its length in array[0], padded to 4 bytes.
        fn long(&mut self, delta: u32, body: &[u8]) -> &mut Self {
            self.header(0, delta);
            self.u32(body.len() as u32 + 4);
            self.data.extend_from_slice(body);
            while self.data.len() % 4 != 0 {
                self.data.push(0xee);
            }
            self
        }

        fn extend(&mut self, delta: u64) -> &mut Self {
            self.header(TYPE_TIME_EXTEND, (delta & u64::from(TS_MASK)) as u32);
            self.u32((delta >> TS_SHIFT) as u32);
            self
        }

        fn absolute(&mut self, timestamp: u64) -> &mut Self {
            self.header(TYPE_TIME_STAMP, (timestamp & u64::from(TS_MASK)) as u32);
            self.u32((timestamp >> TS_SHIFT) as u32);
            self
        }

        /// A discarded event or end padding of `total` bytes (at least 8).
        fn padding(&mut self, delta: u32, total: usize) -> &mut Self {
            self.header(TYPE_PADDING, delta);
            self.u32(total as u32 - 4);
            self.data.resize(self.data.len() + total - 8, 0xdd);
            self
        }

        fn missed(&mut self, count: Option<u64>) -> &mut Self {
            self.missed = Some(count);
            self
        }

        fn build(&self) -> Vec<u8> {
            let layout = self.layout;
            let mut page = vec![0u8; self.size];
            let put = |page: &mut [u8], offset: usize, bytes: &[u8]| {
                page[offset..offset + bytes.len()].copy_from_slice(bytes);
            };
            let long = |value: u64| -> Vec<u8> {
                match (layout.commit_size, layout.big_endian) {
                    (8, false) => value.to_le_bytes().to_vec(),
                    (8, true) => value.to_be_bytes().to_vec(),
                    (_, false) => (value as u32).to_le_bytes().to_vec(),
                    (_, true) => (value as u32).to_be_bytes().to_vec(),
                }
            };
            let timestamp = if layout.big_endian {
                self.timestamp.to_be_bytes()
            } else {
                self.timestamp.to_le_bytes()
            };
            put(&mut page, layout.timestamp_offset, &timestamp);
            put(&mut page, layout.data_offset, &self.data);
            let end = layout.data_offset + self.data.len();
            let mut commit = self.data.len() as u32;
            match self.missed {
                None => {}
                Some(None) => commit |= RB_MISSED_EVENTS,
                Some(Some(count)) => {
                    put(&mut page, end, &long(count));
                    commit |= RB_MISSED_EVENTS | RB_MISSED_STORED;
                }
            }
            if self.null_padding {
                // Type 29 with a zero delta right after the committed data.
                let word = if layout.big_endian {
                    (TYPE_PADDING << TS_SHIFT).to_be_bytes()
                } else {
                    TYPE_PADDING.to_le_bytes()
                };
                put(&mut page, end, &word);
            }
            let commit = (u64::from(self.commit_high) << 32) | u64::from(commit);
            put(&mut page, layout.commit_offset, &long(commit));
            page
        }
    }

    fn decode(layout: &PageLayout, bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
        Page::parse(layout, bytes)
            .unwrap()
            .events()
            .map(|event| {
                let event = event.unwrap();
                (event.timestamp, event.payload.to_vec())
            })
            .collect()
    }

    fn body(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
    }

    #[test]
    fn parses_the_host_header_page() {
        let layout = PageLayout::parse(HEADER_PAGE_64).unwrap();
        assert_eq!(layout, PageLayout::default_64bit());
        let layout = PageLayout::parse(HEADER_PAGE_32).unwrap();
        assert_eq!(
            (
                layout.timestamp_offset,
                layout.commit_offset,
                layout.commit_size,
                layout.data_offset
            ),
            (0, 8, 4, 12)
        );
    }

    #[test]
    fn header_page_errors_name_the_problem() {
        let no_commit = HEADER_PAGE_64.replace("commit", "kommit");
        assert_eq!(
            PageLayout::parse(&no_commit),
            Err(PageError::HeaderPageMissingField { field: "commit" })
        );
        let bad_size = HEADER_PAGE_64.replace("size:8;\tsigned:1", "size:2;\tsigned:1");
        assert!(matches!(
            PageLayout::parse(&bad_size),
            Err(PageError::InvalidLayout { .. })
        ));
        let garbage = format!("{HEADER_PAGE_64}\nthis is not a field\n");
        let error = PageLayout::parse(&garbage).unwrap_err();
        assert!(
            matches!(error, PageError::HeaderPageSyntax { line: 6, .. }),
            "{error}"
        );
        let no_offset = HEADER_PAGE_64.replace("offset:16;", "");
        assert!(PageLayout::parse(&no_offset)
            .unwrap_err()
            .to_string()
            .contains("`data` has no offset"));
        let overlap = HEADER_PAGE_64.replace("offset:16;", "offset:12;");
        assert!(matches!(
            PageLayout::parse(&overlap),
            Err(PageError::InvalidLayout { .. })
        ));
    }

    #[test]
    fn every_small_type_len_is_a_data_event_of_that_many_words() {
        let mut builder = PageBuilder::new(le64(), 4096, 1_000);
        let mut expected = Vec::new();
        let mut clock = 1_000;
        for words in 1..=28u32 {
            let payload = body(words as usize * 4, words as u8);
            builder.small(words * 10, &payload);
            clock += u64::from(words) * 10;
            expected.push((clock, payload));
        }
        assert_eq!(decode(&le64(), &builder.build()), expected);
    }

    #[test]
    fn type_len_zero_keeps_its_length_in_array0_including_itself() {
        let mut builder = PageBuilder::new(le64(), 4096, 50);
        builder
            .long(0, &body(200, 1))
            .long(7, &body(13, 2))
            .small(1, &body(8, 3));
        let decoded = decode(&le64(), &builder.build());
        assert_eq!(
            decoded,
            vec![(50, body(200, 1)), (57, body(13, 2)), (58, body(8, 3))]
        );
    }

    #[test]
    fn time_extend_adds_array0_shifted_by_27() {
        let delta = (5u64 << 27) + 12_345;
        let mut builder = PageBuilder::new(le64(), 4096, 100);
        builder
            .small(3, &body(4, 0))
            .extend(delta)
            .small(0, &body(4, 1));
        let decoded = decode(&le64(), &builder.build());
        assert_eq!(decoded[0].0, 103);
        assert_eq!(decoded[1].0, 103 + delta);
    }

    #[test]
    fn absolute_timestamp_replaces_the_clock() {
        let mut builder = PageBuilder::new(le64(), 4096, 100);
        builder
            .small(3, &body(4, 0))
            .absolute(9_999_999)
            .small(2, &body(4, 1));
        let decoded = decode(&le64(), &builder.build());
        assert_eq!(decoded[0].0, 103);
        assert_eq!(decoded[1].0, 10_000_001);
    }

    #[test]
    fn absolute_timestamp_takes_its_top_five_bits_from_the_clock() {
        let page_ts = (0x08u64 << 56) | 1_000;
        let mut builder = PageBuilder::new(le64(), 4096, page_ts);
        builder.absolute(5_000).small(0, &body(4, 0));
        assert_eq!(decode(&le64(), &builder.build())[0].0, (0x08 << 56) | 5_000);
        // An absolute time below the clock's low 59 bits means the top bits
        // ticked over since.
        let mut builder = PageBuilder::new(le64(), 4096, page_ts);
        builder.absolute(500).small(0, &body(4, 0));
        assert_eq!(decode(&le64(), &builder.build())[0].0, (0x10 << 56) | 500);
    }

    #[test]
    fn padding_is_skipped_and_discarded_events_keep_their_delta() {
        let mut builder = PageBuilder::new(le64(), 4096, 0);
        builder
            .small(10, &body(4, 0))
            // A discarded event: its delta counts.
            .padding(20, 24)
            .small(5, &body(4, 1))
            // The marker delta of 1 does not.
            .padding(1, 8)
            .small(5, &body(4, 2));
        let decoded = decode(&le64(), &builder.build());
        let times: Vec<u64> = decoded.iter().map(|e| e.0).collect();
        assert_eq!(times, vec![10, 35, 40]);
    }

    #[test]
    fn null_padding_ends_the_page() {
        let mut builder = PageBuilder::new(le64(), 4096, 0);
        builder.small(1, &body(4, 0));
        // Null padding inside the committed data: everything after it is
        // unused, even bytes that would decode.
        builder.header(TYPE_PADDING, 0);
        builder.small(1, &body(4, 1));
        assert_eq!(decode(&le64(), &builder.build()), vec![(1, body(4, 0))]);
        // And after it, as the kernel leaves it when under 8 bytes remain.
        let mut builder = PageBuilder::new(le64(), 4096, 0);
        builder.small(1, &body(4, 0));
        builder.null_padding = true;
        assert_eq!(decode(&le64(), &builder.build()), vec![(1, body(4, 0))]);
    }

    #[test]
    fn missed_events_with_a_stored_count() {
        let mut builder = PageBuilder::new(le64(), 4096, 7);
        builder.small(0, &body(8, 0)).missed(Some(1234));
        // The kernel's flag arithmetic on a signed long sign-extends bit 31.
        builder.commit_high = u32::MAX;
        let bytes = builder.build();
        let page = Page::parse(&le64(), &bytes).unwrap();
        assert_eq!(page.missed_events(), Missed::Some(1234));
        assert_eq!(page.data_len(), 12);
        assert_eq!(page.events().count(), 1);

        let mut builder = PageBuilder::new(le64(), 4096, 7);
        builder.small(0, &body(8, 0)).missed(None);
        let page_bytes = builder.build();
        let page = Page::parse(&le64(), &page_bytes).unwrap();
        assert_eq!(page.missed_events(), Missed::Unknown);

        let layout32 = PageLayout::parse(HEADER_PAGE_32)
            .unwrap()
            .with_big_endian(false);
        let mut builder = PageBuilder::new(layout32, 4096, 7);
        builder.small(0, &body(8, 0)).missed(Some(99));
        let bytes = builder.build();
        assert_eq!(
            Page::parse(&layout32, &bytes).unwrap().missed_events(),
            Missed::Some(99)
        );
    }

    #[test]
    fn missed_count_must_fit() {
        let mut builder = PageBuilder::new(le64(), 64, 7);
        builder.small(0, &body(8, 0)).missed(Some(5));
        let bytes = builder.build();
        // Cut the read right after the committed data.
        let cut = &bytes[..16 + 12 + 4];
        assert_eq!(
            Page::parse(&le64(), cut).unwrap_err(),
            PageError::MissedCountPastEnd {
                offset: 28,
                size: 8,
                len: 32
            }
        );
    }

    #[test]
    fn an_8k_sub_buffer_has_8k_of_data() {
        let mut builder = PageBuilder::new(le64(), 8192, 1);
        let mut expected = Vec::new();
        let mut clock = 1;
        while builder.data.len() + 112 < 8192 - 16 {
            let payload = body(100, builder.data.len() as u8);
            builder.long(2, &payload);
            clock += 2;
            expected.push((clock, payload));
        }
        assert!(builder.data.len() > 4096);
        let bytes = builder.build();
        assert_eq!(decode(&le64(), &bytes), expected);
        // The same data does not fit one page.
        assert!(matches!(
            Page::parse(&le64(), &bytes[..4096]),
            Err(PageError::CommitPastEnd { .. })
        ));
    }

    #[test]
    fn big_endian_pages_flip_the_header_bitfield() {
        let layout = PageLayout::default_64bit().with_big_endian(true);
        let mut builder = PageBuilder::new(layout, 4096, 0x0102_0304);
        builder
            .small(5, &body(12, 0))
            .extend(1 << 30)
            .long(0, &body(150, 1))
            .missed(Some(3));
        let bytes = builder.build();
        // Bit 31 of the big-endian commit word is in its fifth byte.
        assert_eq!(bytes[12] & 0x80, 0x80);
        let page = Page::parse(&layout, &bytes).unwrap();
        assert_eq!(page.timestamp(), 0x0102_0304);
        assert_eq!(page.missed_events(), Missed::Some(3));
        assert_eq!(
            decode(&layout, &bytes),
            vec![
                (0x0102_0309, body(12, 0)),
                (0x0102_0309 + (1 << 30), body(150, 1))
            ]
        );
    }

    #[test]
    fn malformed_records_give_offsets() {
        let layout = le64();
        let mut builder = PageBuilder::new(layout, 4096, 0);
        builder.small(0, &body(4, 0));
        // A data event claiming more than the committed data.
        builder.header(0, 0);
        builder.u32(4000);
        builder.data.extend_from_slice(&[0; 8]);
        let bytes = builder.build();
        let results: Vec<_> = Page::parse(&layout, &bytes).unwrap().events().collect();
        assert_eq!(results.len(), 2);
        let error = results[1].clone().unwrap_err();
        assert_eq!(
            error,
            PageError::EventPastCommit {
                offset: 24,
                kind: "data event",
                event_end: 24 + 4004,
                end: 16 + 24,
            }
        );
        assert!(error.to_string().contains("byte offset 24"), "{error}");

        // A length word smaller than itself.
        let mut builder = PageBuilder::new(layout, 4096, 0);
        builder.header(0, 0);
        builder.u32(2);
        let bytes = builder.build();
        let first = Page::parse(&layout, &bytes)
            .unwrap()
            .events()
            .next()
            .unwrap();
        assert!(matches!(
            first,
            Err(PageError::EventLengthTooSmall { offset: 16, .. })
        ));

        // A time extend cut by the commit.
        let mut builder = PageBuilder::new(layout, 4096, 0);
        builder.header(TYPE_TIME_EXTEND, 0);
        let bytes = builder.build();
        let first = Page::parse(&layout, &bytes)
            .unwrap()
            .events()
            .next()
            .unwrap();
        assert!(matches!(
            first,
            Err(PageError::EventTruncated {
                offset: 16,
                need: 8,
                ..
            })
        ));

        // Headers and commits that do not fit.
        assert_eq!(
            Page::parse(&layout, &[0; 10]).unwrap_err(),
            PageError::PageTooShort {
                len: 10,
                header_len: 16
            }
        );
        let mut page = vec![0u8; 64];
        page[8..16].copy_from_slice(&100u64.to_le_bytes());
        assert_eq!(
            Page::parse(&layout, &page).unwrap_err(),
            PageError::CommitPastEnd {
                offset: 8,
                committed: 100,
                available: 48
            }
        );
        let weird = PageLayout {
            commit_size: 3,
            ..layout
        };
        assert!(matches!(
            Page::parse(&weird, &page),
            Err(PageError::InvalidLayout { .. })
        ));
        let overflowing = PageLayout {
            timestamp_offset: usize::MAX,
            ..layout
        };
        assert!(matches!(
            Page::parse(&overflowing, &page),
            Err(PageError::InvalidLayout { .. })
        ));
    }

    #[test]
    fn the_iterator_stops_after_an_error() {
        let layout = le64();
        let mut builder = PageBuilder::new(layout, 4096, 0);
        builder.header(0, 0);
        builder.u32(0);
        builder.small(0, &body(4, 0));
        let bytes = builder.build();
        let page = Page::parse(&layout, &bytes).unwrap();
        let mut events = page.events();
        assert!(events.next().unwrap().is_err());
        assert!(events.next().is_none());
        assert!(events.next().is_none());
    }

    #[test]
    fn summarize_counts_and_spans() {
        let mut builder = PageBuilder::new(le64(), 4096, 10);
        builder
            .small(1, &body(4, 0))
            .small(2, &body(4, 0))
            .long(3, &body(40, 0))
            .missed(Some(8));
        assert_eq!(
            summarize(&le64(), &builder.build()),
            Ok(PageSummary {
                first_ts: 11,
                last_ts: 16,
                events: 3,
                missed: Missed::Some(8),
            })
        );
        let empty = PageBuilder::new(le64(), 4096, 42).build();
        assert_eq!(
            summarize(&le64(), &empty),
            Ok(PageSummary {
                first_ts: 42,
                last_ts: 42,
                events: 0,
                missed: Missed::None,
            })
        );
    }

    /// A record for the property tests, with what the decoder should make
    /// of it.
    #[derive(Debug, Clone)]
    enum Record {
        Small { delta: u32, body: Vec<u8> },
        Long { delta: u32, body: Vec<u8> },
        Extend(u64),
        Absolute(u64),
        Discarded { delta: u32, len: usize },
    }

    impl Record {
        fn size(&self) -> usize {
            match self {
                Record::Small { body, .. } => 4 + body.len(),
                Record::Long { body, .. } => 8 + body.len().div_ceil(4) * 4,
                Record::Extend(_) | Record::Absolute(_) => 8,
                Record::Discarded { len, .. } => *len,
            }
        }
    }

    fn record() -> impl Strategy<Value = Record> {
        let delta = prop_oneof![Just(0u32), 0..100u32, 0..=TS_MASK];
        prop_oneof![
            (delta.clone(), 1..=28usize, any::<u8>()).prop_map(|(delta, words, seed)| {
                Record::Small {
                    delta,
                    body: body(words * 4, seed),
                }
            }),
            (delta.clone(), 0..300usize, any::<u8>()).prop_map(|(delta, len, seed)| Record::Long {
                delta,
                body: body(len, seed)
            }),
            (0..(1u64 << 59)).prop_map(Record::Extend),
            (0..(1u64 << 59)).prop_map(Record::Absolute),
            (delta, 2..40usize).prop_map(|(delta, words)| Record::Discarded {
                delta: delta.max(1),
                len: words * 4
            }),
        ]
    }

    /// Random sub-buffers, with the events the decoder must return.
    #[allow(clippy::type_complexity)]
    fn page() -> impl Strategy<Value = (PageLayout, Vec<u8>, Vec<(u64, Vec<u8>)>, Missed)> {
        let layout = (any::<bool>(), any::<bool>()).prop_map(|(wide, big_endian)| {
            if wide {
                PageLayout::default_64bit().with_big_endian(big_endian)
            } else {
                PageLayout {
                    timestamp_offset: 0,
                    commit_offset: 8,
                    commit_size: 4,
                    data_offset: 12,
                    big_endian,
                }
            }
        });
        let missed = prop_oneof![
            Just(Missed::None),
            Just(Missed::Unknown),
            any::<u32>().prop_map(|n| Missed::Some(u64::from(n)))
        ];
        (
            layout,
            prop_oneof![Just(4096usize), Just(8192), Just(16384)],
            prop_oneof![any::<u64>(), 0..(1u64 << 40)],
            proptest::collection::vec(record(), 0..200),
            missed,
            any::<bool>(),
        )
            .prop_map(|(layout, size, timestamp, records, missed, end_padding)| {
                let mut builder = PageBuilder::new(layout, size, timestamp);
                let mut expected = Vec::new();
                let mut clock = timestamp;
                // Room for the stored count of lost events.
                let room = size - layout.data_offset - layout.commit_size;
                for record in records {
                    if builder.data.len() + record.size() > room {
                        break;
                    }
                    match record {
                        Record::Small { delta, body } => {
                            builder.small(delta, &body);
                            clock = clock.wrapping_add(u64::from(delta));
                            expected.push((clock, body));
                        }
                        Record::Long { delta, body } => {
                            builder.long(delta, &body);
                            clock = clock.wrapping_add(u64::from(delta));
                            expected.push((clock, body));
                        }
                        Record::Extend(delta) => {
                            builder.extend(delta);
                            clock = clock.wrapping_add(delta);
                        }
                        Record::Absolute(absolute) => {
                            builder.absolute(absolute);
                            clock = fix_absolute_timestamp(absolute, clock);
                        }
                        Record::Discarded { delta, len } => {
                            builder.padding(delta, len);
                            if delta != 1 {
                                clock = clock.wrapping_add(u64::from(delta));
                            }
                        }
                    }
                }
                if end_padding && room - builder.data.len() >= 8 {
                    let len = (room - builder.data.len()) / 4 * 4;
                    builder.padding(1, len);
                }
                builder.missed = match missed {
                    Missed::None => None,
                    Missed::Unknown => Some(None),
                    Missed::Some(count) => Some(Some(count)),
                };
                (layout, builder.build(), expected, missed)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn decodes_what_was_encoded((layout, bytes, expected, missed) in page()) {
            let page = Page::parse(&layout, &bytes).unwrap();
            prop_assert_eq!(page.missed_events(), missed);
            let decoded: Vec<(u64, Vec<u8>)> = page
                .events()
                .map(|event| event.map(|e| (e.timestamp, e.payload.to_vec())))
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(&decoded, &expected);
            let summary = summarize(&layout, &bytes).unwrap();
            prop_assert_eq!(summary.events as usize, expected.len());
            if let (Some(first), Some(last)) = (expected.first(), expected.last()) {
                prop_assert_eq!((summary.first_ts, summary.last_ts), (first.0, last.0));
            }
        }

        #[test]
        fn truncated_reads_are_errors(
            (layout, bytes, _expected, _missed) in page(),
            cut in any::<prop::sample::Index>(),
        ) {
            let page = Page::parse(&layout, &bytes).unwrap();
            let needed = layout.data_offset + page.data_len();
            let len = cut.index(bytes.len());
            match Page::parse(&layout, &bytes[..len]) {
                Ok(short) => {
                    prop_assert!(len >= needed);
                    prop_assert_eq!(short.data(), page.data());
                }
                Err(_) => prop_assert!(len < needed + layout.commit_size),
            }
        }

        #[test]
        fn shorter_commits_give_a_prefix_then_stop(
            (layout, mut bytes, expected, _missed) in page(),
            cut in any::<prop::sample::Index>(),
        ) {
            let data_len = Page::parse(&layout, &bytes).unwrap().data_len();
            let commit = cut.index(data_len + 1) as u64;
            let word = match (layout.commit_size, layout.big_endian) {
                (8, false) => commit.to_le_bytes().to_vec(),
                (8, true) => commit.to_be_bytes().to_vec(),
                (_, false) => (commit as u32).to_le_bytes().to_vec(),
                (_, true) => (commit as u32).to_be_bytes().to_vec(),
            };
            bytes[layout.commit_offset..layout.commit_offset + word.len()].copy_from_slice(&word);
            let page = Page::parse(&layout, &bytes).unwrap();
            let mut decoded = Vec::new();
            for event in page.events() {
                match event {
                    Ok(event) => decoded.push((event.timestamp, event.payload.to_vec())),
                    Err(_) => break,
                }
            }
            prop_assert!(decoded.len() <= expected.len());
            prop_assert_eq!(&decoded[..], &expected[..decoded.len()]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            big_endian in any::<bool>(),
            wide in any::<bool>(),
        ) {
            let layout = if wide {
                PageLayout::default_64bit()
            } else {
                PageLayout { timestamp_offset: 0, commit_offset: 8, commit_size: 4, data_offset: 12, big_endian }
            }
            .with_big_endian(big_endian);
            if let Ok(page) = Page::parse(&layout, &bytes) {
                prop_assert!(page.events().count() <= page.data_len() / 4 + 1);
            }
            let _ = summarize(&layout, &bytes);
        }

        #[test]
        fn corrupted_pages_never_panic(
            (layout, mut bytes, _expected, _missed) in page(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        ) {
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] ^= value;
            }
            if let Ok(page) = Page::parse(&layout, &bytes) {
                let _ = page.events().count();
            }
        }

        #[test]
        fn arbitrary_header_page_text_never_panics(text in "(field:[ a-z_\\[\\]0-9]*(;[ \t]*(offset|size|signed):[0-9]{0,3})*;?\n){0,6}") {
            let _ = PageLayout::parse(&text);
        }
    }
}
