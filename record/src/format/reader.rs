//! Reading strobe files: a pure function of the bytes.
//!
//! [`StrobeFile::parse`] takes the whole file as a byte slice (the caller
//! maps or reads it) and never panics. A cleanly finished file is read
//! through its footer and index. A file without a valid footer (killed,
//! cut by a full disk, or damaged) is scanned chunk by chunk: every chunk
//! whose header and payload checksums hold is kept, damaged bytes are
//! skipped and counted, and [`StrobeFile::recovery`] says what happened.

use super::*;
use std::borrow::Cow;

/// Why a file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The magic number is wrong.
    #[error("not a strobe file (bad magic number)")]
    NotStrobe,
    /// The file is shorter than its header.
    #[error("the file is truncated: {len} bytes, shorter than the 64-byte header")]
    TruncatedHeader {
        /// Bytes present.
        len: usize,
    },
    /// The header checksum does not match.
    #[error("the file header is damaged (checksum mismatch)")]
    HeaderChecksum,
    /// The header's own size field is impossible.
    #[error("the file header is damaged (header size {0} is below 64)")]
    HeaderSize(u32),
    /// A major version this reader does not know.
    #[error("strobe file version {major}.{minor} is not supported by this strobe (reads 1.x); upgrade strobe")]
    UnsupportedVersion {
        /// Major.
        major: u16,
        /// Minor.
        minor: u16,
    },
    /// No intact session chunk: the recording died before it wrote one.
    #[error("the file has no intact session metadata; nothing was recorded")]
    NoSession,
    /// The session metadata is not valid JSON of the expected shape.
    #[error("the session metadata is malformed: {0}")]
    BadMetadata(String),
    /// A chunk's payload fails its checksum.
    #[error("chunk at offset {offset} is damaged (payload checksum mismatch)")]
    PayloadChecksum {
        /// File offset of the chunk.
        offset: u64,
    },
    /// A chunk's payload does not decompress to its stated length.
    #[error("chunk at offset {offset} does not decompress: {reason}")]
    Decompress {
        /// File offset of the chunk.
        offset: u64,
        /// zstd's reason.
        reason: String,
    },
    /// A chunk lies (partly) outside the file.
    #[error("chunk at offset {offset} runs past the end of the file")]
    OutOfBounds {
        /// File offset of the chunk.
        offset: u64,
    },
}

/// An intact chunk found in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    /// File offset of the chunk header.
    pub offset: u64,
    /// The header.
    pub header: ChunkHeader,
}

/// How a file without a valid footer was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Why the index could not be used.
    pub reason: String,
    /// Bytes that belonged to no intact chunk.
    pub unreadable_bytes: u64,
    /// Intact chunks found by the scan.
    pub chunks_found: usize,
}

/// Totals over the chunks a file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkTotals {
    /// Record chunks.
    pub chunks: u64,
    /// Records.
    pub records: u64,
    /// Samples.
    pub samples: u64,
    /// Lost events and lost samples.
    pub lost: u64,
    /// Uncompressed record bytes.
    pub raw_bytes: u64,
    /// Stored record bytes.
    pub stored_bytes: u64,
    /// Earliest record time.
    pub time_start: Option<u64>,
    /// Latest record time.
    pub time_end: Option<u64>,
}

/// A parsed strobe file.
#[derive(Debug, Clone)]
pub struct StrobeFile<'a> {
    data: &'a [u8],
    /// The file header.
    pub header: FileHeader,
    /// Every intact chunk except the trailer and index, in write order.
    pub chunks: Vec<ChunkRef>,
    /// The session metadata.
    pub session: SessionMeta,
    /// The trailer, if the recording ended (or was snapshotted) cleanly.
    pub trailer: Option<TrailerMeta>,
    /// Set when the file was read by scanning rather than through its index.
    pub recovery: Option<Recovery>,
}

fn slice(data: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    data.get(start..end)
}

fn chunk_at(data: &[u8], offset: u64) -> Option<ChunkRef> {
    let header = ChunkHeader::decode(slice(data, offset, CHUNK_HEADER_SIZE as u64)?)?;
    slice(data, offset, header.total_len())?;
    Some(ChunkRef { offset, header })
}

fn stored_payload<'a>(data: &'a [u8], chunk: &ChunkRef) -> Result<&'a [u8], FormatError> {
    let offset = chunk.offset;
    let stored = slice(
        data,
        offset + CHUNK_HEADER_SIZE as u64,
        chunk.header.stored_len as u64,
    )
    .ok_or(FormatError::OutOfBounds { offset })?;
    if crc32c::crc32c(stored) != chunk.header.payload_crc {
        return Err(FormatError::PayloadChecksum { offset });
    }
    Ok(stored)
}

fn decode_payload<'a>(data: &'a [u8], chunk: &ChunkRef) -> Result<Cow<'a, [u8]>, FormatError> {
    let stored = stored_payload(data, chunk)?;
    let offset = chunk.offset;
    match chunk.header.compression {
        Compression::None => Ok(Cow::Borrowed(stored)),
        Compression::Zstd => {
            // raw_len was bounded by MAX_CHUNK_PAYLOAD when the header was decoded.
            let raw =
                zstd::bulk::decompress(stored, chunk.header.raw_len as usize).map_err(|e| {
                    FormatError::Decompress {
                        offset,
                        reason: e.to_string(),
                    }
                })?;
            if raw.len() != chunk.header.raw_len as usize {
                return Err(FormatError::Decompress {
                    offset,
                    reason: format!("{} bytes instead of {}", raw.len(), chunk.header.raw_len),
                });
            }
            Ok(Cow::Owned(raw))
        }
    }
}

/// In a ring, keeps the chunks before the ring and, of those in it, only the
/// newest run of consecutive numbers: an older chunk that survived past the
/// point where the ring wrapped is separated from it by overwritten data.
fn keep_newest_unbroken_run(chunks: &mut Vec<ChunkRef>, ring_start: u64) {
    let mut in_ring: Vec<u64> = chunks
        .iter()
        .filter(|c| c.offset >= ring_start)
        .map(|c| c.header.seq)
        .collect();
    in_ring.sort_unstable();
    let mut oldest_kept = in_ring.last().copied().unwrap_or(0);
    for pair in in_ring.windows(2).rev() {
        if pair[1] != pair[0] + 1 {
            break;
        }
        oldest_kept = pair[0];
    }
    chunks.retain(|c| c.offset < ring_start || c.header.seq >= oldest_kept);
}

impl<'a> StrobeFile<'a> {
    /// Parses a whole file.
    pub fn parse(data: &'a [u8]) -> Result<Self, FormatError> {
        let header = FileHeader::decode(data)?;
        let (mut chunks, trailer, recovery) =
            match Self::read_index(data, header.header_size as u64) {
                Ok((chunks, trailer)) => (chunks, Some(trailer), None),
                Err(reason) => Self::scan(data, reason),
            };
        let session_chunk = chunks
            .iter()
            .find(|c| c.header.kind == ChunkKind::Session)
            .copied()
            .ok_or(FormatError::NoSession)?;
        let session_bytes = decode_payload(data, &session_chunk)?;
        let session: SessionMeta = serde_json::from_slice(&session_bytes)
            .map_err(|e| FormatError::BadMetadata(e.to_string()))?;
        chunks.retain(|c| !matches!(c.header.kind, ChunkKind::Trailer | ChunkKind::Index));
        if header.flags & FLAG_RING != 0 {
            keep_newest_unbroken_run(&mut chunks, header.ring_start);
        }
        Ok(StrobeFile {
            data,
            header,
            chunks,
            session,
            trailer,
            recovery,
        })
    }

    /// Reads the chunk list through the footer and index; `Err` says why not.
    fn read_index(data: &[u8], header_size: u64) -> Result<(Vec<ChunkRef>, TrailerMeta), String> {
        let footer_start = data
            .len()
            .checked_sub(FOOTER_SIZE)
            .filter(|&s| s >= FILE_HEADER_SIZE);
        let footer = footer_start
            .and_then(|s| Footer::decode(&data[s..]))
            .ok_or("the recording did not finish (no footer): it was killed, or the disk filled")?;
        let index = chunk_at(data, footer.index_offset).ok_or("the index chunk is damaged")?;
        let trailer =
            chunk_at(data, footer.trailer_offset).ok_or("the trailer chunk is damaged")?;
        if index.header.kind != ChunkKind::Index || trailer.header.kind != ChunkKind::Trailer {
            return Err("the footer points at the wrong chunks".into());
        }
        let index_bytes = decode_payload(data, &index).map_err(|e| e.to_string())?;
        let trailer_bytes = decode_payload(data, &trailer).map_err(|e| e.to_string())?;
        let trailer_meta: TrailerMeta = serde_json::from_slice(&trailer_bytes)
            .map_err(|e| format!("the trailer is malformed: {e}"))?;
        if index_bytes.len() % INDEX_ENTRY_SIZE != 0 {
            return Err("the index has a partial entry".into());
        }
        let mut chunks = Vec::with_capacity(index_bytes.len() / INDEX_ENTRY_SIZE);
        for raw in index_bytes.chunks_exact(INDEX_ENTRY_SIZE) {
            let entry = IndexEntry::decode(raw).ok_or("the index is malformed")?;
            let chunk = chunk_at(data, entry.offset)
                .filter(|c| c.header.seq == entry.seq && c.offset >= header_size)
                .ok_or_else(|| {
                    format!("the index names a damaged chunk at offset {}", entry.offset)
                })?;
            chunks.push(chunk);
        }
        chunks.sort_by_key(|c| c.header.seq);
        Ok((chunks, trailer_meta))
    }

    /// Finds every intact chunk by walking the file, resynchronising on
    /// 8-byte boundaries after damage.
    fn scan(data: &[u8], reason: String) -> (Vec<ChunkRef>, Option<TrailerMeta>, Option<Recovery>) {
        let mut chunks = Vec::new();
        let mut offset = FileHeader::decode(data)
            .map_or(FILE_HEADER_SIZE as u64, |h| (h.header_size as u64 + 7) & !7);
        let mut unreadable = 0u64;
        let end = data.len() as u64;
        while offset + CHUNK_HEADER_SIZE as u64 <= end {
            let intact = chunk_at(data, offset).filter(|c| stored_payload(data, c).is_ok());
            match intact {
                Some(chunk) => {
                    offset += chunk.header.total_len();
                    chunks.push(chunk);
                }
                None => {
                    offset += 8;
                    unreadable += 8;
                }
            }
        }
        unreadable += end.saturating_sub(offset);
        chunks.sort_by_key(|c| c.header.seq);
        // A trailer carries the number of the next chunk; it describes the
        // whole recording only if no chunk came after it (a ring may still
        // hold the trailer of an earlier snapshot).
        let next_seq = chunks
            .iter()
            .filter(|c| !matches!(c.header.kind, ChunkKind::Trailer | ChunkKind::Index))
            .map(|c| c.header.seq + 1)
            .max()
            .unwrap_or(0);
        let trailer = chunks
            .iter()
            .filter(|c| c.header.kind == ChunkKind::Trailer && c.header.seq >= next_seq)
            .max_by_key(|c| c.offset)
            .and_then(|c| decode_payload(data, c).ok())
            .and_then(|bytes| serde_json::from_slice::<TrailerMeta>(&bytes).ok());
        let recovery = Recovery {
            reason,
            unreadable_bytes: unreadable,
            chunks_found: chunks.len(),
        };
        (chunks, trailer, Some(recovery))
    }

    /// The payload of a chunk, decompressed and checked.
    pub fn payload(&self, chunk: &ChunkRef) -> Result<Cow<'a, [u8]>, FormatError> {
        decode_payload(self.data, chunk)
    }

    /// The text of the first chunk of `kind` (kallsyms, modules), if intact.
    pub fn text(&self, kind: ChunkKind) -> Option<Cow<'a, [u8]>> {
        let chunk = self.chunks.iter().find(|c| c.header.kind == kind)?;
        self.payload(chunk).ok()
    }

    /// The kallsyms snapshot: the text of every intact kallsyms chunk, in
    /// write order. A complete snapshot is one chunk; a recording that kept
    /// only the symbols its samples need writes them as they appear.
    pub fn kallsyms(&self) -> Vec<u8> {
        let mut text = Vec::new();
        for chunk in self
            .chunks
            .iter()
            .filter(|c| c.header.kind == ChunkKind::Kallsyms)
        {
            if let Ok(payload) = self.payload(chunk) {
                text.extend_from_slice(&payload);
            }
        }
        text
    }

    /// The chunks holding perf records, in write order.
    pub fn record_chunks(&self) -> impl Iterator<Item = &ChunkRef> + '_ {
        self.chunks.iter().filter(|c| c.header.kind.holds_records())
    }

    /// The chunks holding ftrace pages, in write order.
    pub fn ftrace_chunks(&self) -> impl Iterator<Item = &ChunkRef> + '_ {
        self.chunks
            .iter()
            .filter(|c| c.header.kind == ChunkKind::FtracePages)
    }

    /// Totals from the event chunks' headers (no payload is read).
    pub fn totals(&self) -> ChunkTotals {
        let mut t = ChunkTotals::default();
        for c in self.chunks.iter().filter(|c| c.header.kind.holds_events()) {
            let h = &c.header;
            t.chunks += 1;
            t.records += h.records as u64;
            t.samples += h.samples as u64;
            t.lost += h.lost as u64;
            t.raw_bytes += h.raw_len as u64;
            t.stored_bytes += h.stored_len as u64;
            if h.time_start != 0 {
                t.time_start = Some(t.time_start.map_or(h.time_start, |s| s.min(h.time_start)));
            }
            if h.time_end != 0 {
                t.time_end = Some(t.time_end.map_or(h.time_end, |e| e.max(h.time_end)));
            }
        }
        t
    }

    /// The file's size in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the file is empty (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
