//! Writing strobe files: chunks appended in order, or, in flight-recorder
//! mode, written round a bounded ring that overwrites the oldest chunks.

use super::records::RunStats;
use super::*;
use std::collections::VecDeque;
use std::io;

/// Somewhere chunks can be written at an offset: a file, or memory in tests.
pub trait Sink {
    /// Writes all of `buf` at `offset`, extending the sink if needed.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Cuts or extends the sink to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for std::fs::File {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }
}

impl Sink for Vec<u8> {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let end = offset as usize + buf.len();
        if self.len() < end {
            self.resize(end, 0);
        }
        self[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.resize(len as usize, 0);
        Ok(())
    }
}

/// zstd level for data chunks: level 1 compresses perf records about 3-5x
/// at several hundred MB/s, which keeps compression off the critical path.
const DATA_ZSTD_LEVEL: i32 = 1;
/// zstd level for metadata, written once.
const META_ZSTD_LEVEL: i32 = 3;
/// Bytes kept free at the end of a ring for the trailer, index and footer,
/// so that a finished ring file stays within the size the user asked for:
/// a sixteenth of the ring, at least 64 KiB and at most 16 MiB. Half of it
/// bounds the index; the rest is for the trailer.
pub fn ring_tail_reserve(ring_size: u64) -> u64 {
    (ring_size / 16).clamp(64 << 10, 16 << 20)
}

/// Writes a strobe file to a [`Sink`].
#[derive(Debug)]
pub struct FileWriter<S: Sink> {
    sink: S,
    header: FileHeader,
    pos: u64,
    seq: u64,
    compress_data: bool,
    /// Chunks written before the data ring (metadata), never overwritten.
    fixed: Vec<IndexEntry>,
    /// Data chunks still in the file, oldest first, with their lengths.
    live: VecDeque<(IndexEntry, u64)>,
    ring: Option<RingState>,
    /// The end of the furthest data chunk ever written.
    extent: u64,
    /// Offset of a footer that is now on disk and must be invalidated
    /// before more data goes into the file.
    footer_at: Option<u64>,
    /// Set by [`FileWriter::begin_data`]; chunks before it are never overwritten.
    data_started: bool,
    data_chunks_written: u64,
    scratch: Vec<u8>,
    compressor: Option<Compressor>,
}

/// A zstd context kept across chunks, so each chunk does not pay for one.
struct Compressor(zstd::bulk::Compressor<'static>);

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compressor")
    }
}

#[derive(Debug, Clone, Copy)]
struct RingState {
    size: u64,
    /// Bytes kept free after `end` for the trailer, index and footer.
    reserve: u64,
    start: u64,
    end: u64,
    wrapped: bool,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The sink refused the bytes.
    #[error("writing the recording failed: {0}")]
    Io(#[from] io::Error),
    /// A ring is too small for its metadata and a few drains of data.
    #[error(
        "the ring of {ring_kib} KiB leaves {data_kib} KiB for data after {metadata_kib} KiB of metadata, \
         and needs at least {needed_kib} KiB (four drains of every buffer): use a larger --ring or a smaller -m"
    )]
    RingTooSmall {
        /// The ring's size.
        ring_kib: u64,
        /// What is left for data chunks.
        data_kib: u64,
        /// What the metadata took.
        metadata_kib: u64,
        /// What data chunks need at least.
        needed_kib: u64,
    },
    /// Metadata was written after a ring's data had started; the ring
    /// would overwrite it.
    #[error("metadata must be written before a flight-recorder ring's data starts")]
    MetadataAfterData,
    /// A chunk would be larger than a ring (or the format) can hold.
    #[error("a chunk of {len} bytes does not fit: {why}")]
    TooLarge {
        /// The chunk's size.
        len: u64,
        /// Why it does not fit.
        why: String,
    },
}

impl<S: Sink> FileWriter<S> {
    /// Starts a file. `ring_size` makes it a flight-recorder ring of at most
    /// that many bytes; `compress_data` compresses record chunks with zstd.
    pub fn create(
        mut sink: S,
        realtime_ns: u64,
        ring_size: Option<u64>,
        compress_data: bool,
    ) -> Result<Self, WriteError> {
        let header = FileHeader {
            header_size: FILE_HEADER_SIZE as u32,
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            flags: if ring_size.is_some() { FLAG_RING } else { 0 },
            ring_start: 0,
            ring_end: 0,
            created_realtime_ns: realtime_ns,
        };
        sink.write_all_at(&header.encode(), 0)?;
        sink.set_len(FILE_HEADER_SIZE as u64)?;
        Ok(FileWriter {
            sink,
            header,
            pos: FILE_HEADER_SIZE as u64,
            seq: 0,
            compress_data,
            fixed: Vec::new(),
            live: VecDeque::new(),
            ring: ring_size.map(|size| RingState {
                size,
                reserve: ring_tail_reserve(size),
                start: 0,
                end: 0,
                wrapped: false,
            }),
            extent: FILE_HEADER_SIZE as u64,
            footer_at: None,
            data_started: false,
            data_chunks_written: 0,
            scratch: Vec::new(),
            compressor: None,
        })
    }

    /// Writes a metadata chunk (session, kallsyms, modules). Metadata comes
    /// before any data chunk and is never overwritten.
    pub fn write_meta(
        &mut self,
        kind: ChunkKind,
        payload: &[u8],
        compress: bool,
    ) -> Result<(), WriteError> {
        if self.data_started && self.ring.is_some() {
            return Err(WriteError::MetadataAfterData);
        }
        let entry = self.write_chunk(
            kind,
            NO_CPU,
            payload,
            compress.then_some(META_ZSTD_LEVEL),
            &RunStats::default(),
            None,
        )?;
        self.fixed.push(entry.0);
        self.extent = self.pos;
        Ok(())
    }

    /// Ends the metadata section. In ring mode, the data ring starts here and
    /// must hold at least `min_chunk_room` bytes (a few of the largest chunks).
    pub fn begin_data(&mut self, min_chunk_room: u64) -> Result<(), WriteError> {
        if let Some(ring) = &mut self.ring {
            let end = ring.size.saturating_sub(ring.reserve);
            if end < self.pos + min_chunk_room {
                return Err(WriteError::RingTooSmall {
                    ring_kib: ring.size >> 10,
                    data_kib: end.saturating_sub(self.pos) >> 10,
                    metadata_kib: self.pos >> 10,
                    needed_kib: min_chunk_room >> 10,
                });
            }
            ring.start = self.pos;
            ring.end = end;
            self.header.ring_start = ring.start;
            self.header.ring_end = ring.end;
            self.sink.write_all_at(&self.header.encode(), 0)?;
        }
        self.data_started = true;
        Ok(())
    }

    /// Writes one chunk of perf records drained from `cpu` (or [`NO_CPU`]).
    /// Before [`FileWriter::begin_data`], the chunk is placed with the
    /// metadata and a ring never overwrites it (records synthesized at start).
    pub fn write_records(
        &mut self,
        kind: ChunkKind,
        cpu: u32,
        payload: &[u8],
        stats: &RunStats,
    ) -> Result<(), WriteError> {
        if payload.is_empty() {
            return Ok(());
        }
        let level = self.compress_data.then_some(DATA_ZSTD_LEVEL);
        if !self.data_started {
            let (entry, _) = self.write_chunk(kind, cpu, payload, level, stats, None)?;
            self.fixed.push(entry);
            self.extent = self.pos;
            return Ok(());
        }
        let placed = self.write_chunk(kind, cpu, payload, level, stats, self.ring)?;
        self.data_chunks_written += 1;
        self.live.push_back(placed);
        Ok(())
    }

    fn write_chunk(
        &mut self,
        kind: ChunkKind,
        cpu: u32,
        payload: &[u8],
        zstd_level: Option<i32>,
        stats: &RunStats,
        ring: Option<RingState>,
    ) -> Result<(IndexEntry, u64), WriteError> {
        if payload.len() > MAX_CHUNK_PAYLOAD {
            return Err(WriteError::TooLarge {
                len: payload.len() as u64,
                why: "chunks hold at most 256 MiB".into(),
            });
        }
        let mut compression = Compression::None;
        let mut stored: &[u8] = payload;
        if let Some(level) = zstd_level {
            self.scratch.clear();
            self.scratch
                .reserve(zstd::zstd_safe::compress_bound(payload.len()));
            if self.compressor.is_none() {
                self.compressor = Some(Compressor(zstd::bulk::Compressor::new(level)?));
            }
            let compressor = &mut self.compressor.as_mut().expect("set above").0;
            compressor.set_compression_level(level)?;
            // Compression failing is not an error: the chunk is stored as is.
            if compressor
                .compress_to_buffer(payload, &mut self.scratch)
                .is_ok()
                && self.scratch.len() < payload.len()
            {
                compression = Compression::Zstd;
                stored = &self.scratch;
            }
        }
        let header = ChunkHeader {
            kind,
            compression,
            cpu,
            seq: self.seq,
            time_start: stats.time_start.unwrap_or(0),
            time_end: stats.time_end.unwrap_or(0),
            records: stats.records.min(u32::MAX as u64) as u32,
            samples: stats.samples.min(u32::MAX as u64) as u32,
            lost: (stats.lost_events + stats.lost_samples).min(u32::MAX as u64) as u32,
            stored_len: stored.len() as u32,
            raw_len: payload.len() as u32,
            payload_crc: crc32c::crc32c(stored),
        };
        let len = header.total_len();
        if let Some(mut ring) = ring {
            if len > ring.end - ring.start {
                return Err(WriteError::TooLarge {
                    len,
                    why: "it is larger than the whole ring".into(),
                });
            }
            if self.pos + len > ring.end {
                self.pos = ring.start;
                ring.wrapped = true;
                self.ring = Some(ring);
            }
            // Forget every chunk this one overwrites. They are not always at
            // the front: after a wrap, older chunks near the end of the ring
            // can sit before the newest ones in the list.
            let (start, end) = (self.pos, self.pos + len);
            let mut newest_overwritten = None;
            self.live.retain(|(e, l)| {
                let overwritten = e.offset < end && start < e.offset + l;
                if overwritten {
                    newest_overwritten = newest_overwritten.max(Some(e.seq));
                }
                !overwritten
            });
            // Chunks older than one just overwritten would leave a hole in
            // time: a ring keeps only the newest unbroken run.
            if let Some(newest) = newest_overwritten {
                while self.live.front().is_some_and(|(e, _)| e.seq < newest) {
                    self.live.pop_front();
                }
            }
            // Keep the index within its share of the tail reserve, so a ring
            // of many small chunks still ends within its size; chunks dropped
            // here are the oldest and stay readable by a scan.
            let max_indexed = (ring.reserve / 2 / INDEX_ENTRY_SIZE as u64) as usize;
            while self.live.len() >= max_indexed {
                self.live.pop_front();
            }
        }
        if let Some(footer) = self.footer_at.take() {
            // A snapshot left a footer; once more data arrives it would
            // describe a stale index, so it must not be found.
            self.sink.write_all_at(&[0u8; 8], footer)?;
        }
        let offset = self.pos;
        self.sink.write_all_at(&header.encode(), offset)?;
        self.sink
            .write_all_at(stored, offset + CHUNK_HEADER_SIZE as u64)?;
        let padding = len - CHUNK_HEADER_SIZE as u64 - stored.len() as u64;
        if padding > 0 {
            self.sink
                .write_all_at(&[0u8; 8][..padding as usize], offset + len - padding)?;
        }
        // The trailer and index take the number of the next data chunk
        // without using it up, so data chunks are numbered without gaps,
        // and a trailer is current exactly when no chunk has a number >= its own.
        if !matches!(kind, ChunkKind::Trailer | ChunkKind::Index) {
            self.seq += 1;
        }
        self.pos += len;
        self.extent = self.extent.max(self.pos);
        let entry = IndexEntry {
            offset,
            seq: header.seq,
            time_start: header.time_start,
            time_end: header.time_end,
            cpu,
            kind,
        };
        Ok((entry, len))
    }

    /// Data chunks written so far (in a ring, including overwritten ones).
    pub fn data_chunks_written(&self) -> u64 {
        self.data_chunks_written
    }

    /// Whether the ring has overwritten old chunks.
    pub fn ring_wrapped(&self) -> bool {
        self.ring.is_some_and(|r| r.wrapped)
    }

    /// Bytes the file occupies now.
    pub fn len(&self) -> u64 {
        self.extent
    }

    /// Whether nothing but the header has been written.
    pub fn is_empty(&self) -> bool {
        self.extent <= FILE_HEADER_SIZE as u64
    }

    /// Writes the trailer, the index and the footer after the furthest data,
    /// leaving a consistent file. Recording may go on afterwards (a
    /// flight-recorder snapshot); the next data chunk invalidates the footer.
    pub fn finish(&mut self, trailer: &TrailerMeta) -> Result<u64, WriteError> {
        let resume_at = self.pos;
        self.pos = self.extent;
        let json = serde_json::to_vec(trailer).map_err(io::Error::other)?;
        let (trailer_entry, _) = self.write_chunk(
            ChunkKind::Trailer,
            NO_CPU,
            &json,
            Some(META_ZSTD_LEVEL),
            &RunStats::default(),
            None,
        )?;
        let mut entries: Vec<IndexEntry> = self
            .fixed
            .iter()
            .copied()
            .chain(self.live.iter().map(|(e, _)| *e))
            .collect();
        entries.push(trailer_entry);
        entries.sort_by_key(|e| e.seq);
        let mut index = Vec::with_capacity(entries.len() * INDEX_ENTRY_SIZE);
        for e in &entries {
            e.encode_into(&mut index);
        }
        let (index_entry, _) = self.write_chunk(
            ChunkKind::Index,
            NO_CPU,
            &index,
            Some(META_ZSTD_LEVEL),
            &RunStats::default(),
            None,
        )?;
        let footer = Footer {
            index_offset: index_entry.offset,
            trailer_offset: trailer_entry.offset,
        };
        let footer_at = self.pos;
        self.sink.write_all_at(&footer.encode(), footer_at)?;
        let end = footer_at + FOOTER_SIZE as u64;
        self.sink.set_len(end)?;
        self.footer_at = Some(footer_at);
        // The tail is not data: later data chunks may overwrite it.
        self.extent = self.extent.min(trailer_entry.offset);
        self.pos = if self.ring.is_some() {
            resume_at
        } else {
            self.extent
        };
        Ok(end)
    }

    /// The sink, for the caller to flush or close.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// The sink, borrowed.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
}
