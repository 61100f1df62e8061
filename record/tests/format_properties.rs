//! Property tests of the file format: whatever is done to a file, the reader
//! returns an error or a partial read, never panics, and never returns a
//! chunk whose checksums fail.

use proptest::prelude::*;
use strobe_record::format::reader::StrobeFile;
use strobe_record::format::records::{RecordLayout, RunStats};
use strobe_record::format::writer::FileWriter;
use strobe_record::format::*;

/// A run of fake SAMPLE records: header + 8-byte time, `n` of them.
fn sample_run(first_time: u64, n: usize) -> Vec<u8> {
    let mut run = Vec::new();
    for i in 0..n {
        run.extend_from_slice(&9u32.to_le_bytes());
        run.extend_from_slice(&0u16.to_le_bytes());
        run.extend_from_slice(&16u16.to_le_bytes());
        run.extend_from_slice(&(first_time + i as u64).to_le_bytes());
    }
    run
}

const LAYOUT: RecordLayout = RecordLayout {
    sample_time_offset: Some(8),
    other_time_from_end: None,
    sample_ip_offset: None,
    sample_callchain_offset: None,
};

/// Writes a file with `chunks` record chunks of `per_chunk` samples each;
/// returns the bytes and the offsets where chunks end.
fn build(
    chunks: usize,
    per_chunk: usize,
    compress: bool,
    ring: Option<u64>,
    finish: bool,
) -> (Vec<u8>, Vec<usize>) {
    build_with_sizes(&vec![per_chunk; chunks], compress, ring, finish)
}

/// Like [`build`], with the number of samples of each chunk given.
fn build_with_sizes(
    sizes: &[usize],
    compress: bool,
    ring: Option<u64>,
    finish: bool,
) -> (Vec<u8>, Vec<usize>) {
    let mut w = FileWriter::create(Vec::new(), 1, ring, compress).unwrap();
    let session = SessionMeta {
        strobe_version: "test".into(),
        ..Default::default()
    };
    w.write_meta(
        ChunkKind::Session,
        &serde_json::to_vec(&session).unwrap(),
        false,
    )
    .unwrap();
    w.write_meta(ChunkKind::Kallsyms, b"ffffffff81000000 T _stext\n", true)
        .unwrap();
    w.begin_data(4096).unwrap();
    let mut boundaries = vec![w.len() as usize];
    for (c, &per_chunk) in sizes.iter().enumerate() {
        let run = sample_run(1000 * (c as u64 + 1), per_chunk);
        let stats = RunStats::walk(&run, &LAYOUT, |_| {});
        w.write_records(ChunkKind::Records, (c % 2) as u32, &run, &stats)
            .unwrap();
        boundaries.push(w.len() as usize);
    }
    if finish {
        w.finish(&TrailerMeta {
            chunks_written: sizes.len() as u64,
            ..Default::default()
        })
        .unwrap();
    }
    (w.into_sink(), boundaries)
}

/// Reads every payload the reader offers and checks the records in it.
fn read_all(bytes: &[u8]) -> Option<(u64, bool)> {
    let file = StrobeFile::parse(bytes).ok()?;
    let mut samples = 0;
    for chunk in file.record_chunks() {
        if let Ok(payload) = file.payload(chunk) {
            let stats = RunStats::walk(&payload, &LAYOUT, |_| {});
            assert_eq!(
                stats.samples, chunk.header.samples as u64,
                "header and payload disagree"
            );
            samples += stats.samples;
        }
    }
    Some((samples, file.recovery.is_some()))
}

#[test]
fn clean_file_round_trips() {
    for compress in [false, true] {
        let (bytes, _) = build(10, 50, compress, None, true);
        let file = StrobeFile::parse(&bytes).unwrap();
        assert!(file.recovery.is_none());
        assert_eq!(file.totals().samples, 500);
        assert_eq!(file.trailer.as_ref().unwrap().chunks_written, 10);
        assert_eq!(file.session.strobe_version, "test");
        assert_eq!(
            &*file.text(ChunkKind::Kallsyms).unwrap(),
            b"ffffffff81000000 T _stext\n"
        );
        assert_eq!(read_all(&bytes), Some((500, false)));
    }
}

#[test]
fn truncation_at_every_chunk_boundary_keeps_every_whole_chunk() {
    let (bytes, boundaries) = build(12, 20, false, None, true);
    for (whole, &cut) in boundaries.iter().enumerate() {
        let (samples, recovered) =
            read_all(&bytes[..cut]).expect("a cut at a boundary is readable");
        assert!(recovered);
        assert_eq!(samples, 20 * whole as u64, "cut at {cut}");
    }
}

#[test]
fn ring_keeps_the_newest_chunks_within_its_size() {
    let ring_size = 256 << 10;
    let (bytes, _) = build(400, 100, false, Some(ring_size), true);
    assert!(
        bytes.len() as u64 <= ring_size,
        "ring file is {} bytes",
        bytes.len()
    );
    let file = StrobeFile::parse(&bytes).unwrap();
    assert!(file.recovery.is_none());
    let seqs: Vec<u64> = file.record_chunks().map(|c| c.header.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // The newest chunk (index 399, 2 metadata chunks before it) is kept.
    assert_eq!(*seqs.last().unwrap(), 401);
    assert!(seqs.len() < 400);
    // The same ring read by scanning (no footer) finds the same chunks.
    let (unfinished, _) = build(400, 100, false, Some(ring_size), false);
    let scanned = StrobeFile::parse(&unfinished).unwrap();
    let scanned_seqs: Vec<u64> = scanned.record_chunks().map(|c| c.header.seq).collect();
    assert_eq!(scanned_seqs, seqs);
}

#[test]
fn a_snapshot_is_consistent_until_more_data_arrives() {
    let mut w = FileWriter::create(Vec::new(), 1, Some(256 << 10), false).unwrap();
    let session = SessionMeta {
        strobe_version: "test".into(),
        ..Default::default()
    };
    w.write_meta(
        ChunkKind::Session,
        &serde_json::to_vec(&session).unwrap(),
        false,
    )
    .unwrap();
    w.begin_data(4096).unwrap();
    let write = |w: &mut FileWriter<Vec<u8>>, c: u64| {
        let run = sample_run(1000 * c, 10);
        let stats = RunStats::walk(&run, &LAYOUT, |_| {});
        w.write_records(ChunkKind::Records, 0, &run, &stats)
            .unwrap();
    };
    for c in 0..5 {
        write(&mut w, c);
    }
    w.finish(&TrailerMeta {
        snapshot: true,
        ..Default::default()
    })
    .unwrap();
    let at_snapshot = w.sink_mut().clone();
    let file = StrobeFile::parse(&at_snapshot).unwrap();
    assert!(file.recovery.is_none());
    assert!(file.trailer.as_ref().unwrap().snapshot);
    assert_eq!(file.totals().samples, 50);

    // More data invalidates the footer; a scan still finds every chunk,
    // and ignores the snapshot's trailer, which no longer describes them.
    write(&mut w, 5);
    let later = w.sink_mut().clone();
    let file = StrobeFile::parse(&later).unwrap();
    assert!(file.recovery.is_some());
    assert!(file.trailer.is_none());
    assert_eq!(file.totals().samples, 60);

    w.finish(&TrailerMeta::default()).unwrap();
    let file = StrobeFile::parse(w.sink_mut()).unwrap();
    assert!(file.recovery.is_none());
    assert!(!file.trailer.as_ref().unwrap().snapshot);
    assert_eq!(file.totals().samples, 60);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A finished ring is always read through its index, whatever the mix
    /// of chunk sizes, and holds exactly the newest chunks without a gap.
    #[test]
    fn finished_rings_read_cleanly_with_any_chunk_sizes(sizes in prop::collection::vec(1usize..3000, 1..300)) {
        let ring_size = 256 << 10;
        let (bytes, _) = build_with_sizes(&sizes, false, Some(ring_size), true);
        prop_assert!(bytes.len() as u64 <= ring_size);
        let file = StrobeFile::parse(&bytes).unwrap();
        prop_assert!(file.recovery.is_none(), "{:?}", file.recovery);
        let seqs: Vec<u64> = file.record_chunks().map(|c| c.header.seq).collect();
        prop_assert_eq!(*seqs.last().unwrap(), sizes.len() as u64 + 1);
        prop_assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap in {:?}", seqs);
    }

    /// A ring of many tiny chunks still ends within its size.
    #[test]
    fn rings_of_tiny_chunks_stay_within_their_size(n in 5000usize..9000) {
        let ring_size = 256 << 10;
        let (bytes, _) = build_with_sizes(&vec![1; n], false, Some(ring_size), true);
        prop_assert!(bytes.len() as u64 <= ring_size, "{} bytes", bytes.len());
        prop_assert!(StrobeFile::parse(&bytes).unwrap().recovery.is_none());
    }

    #[test]
    fn truncation_anywhere_never_panics(cut in 0usize..20_000, compress: bool) {
        let (bytes, _) = build(8, 40, compress, None, true);
        let cut = cut.min(bytes.len());
        let _ = read_all(&bytes[..cut]);
    }

    #[test]
    fn byte_flips_never_panic(flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..20), compress: bool, ring: bool) {
        let (mut bytes, _) = build(30, 40, compress, ring.then_some(160 << 10), true);
        let len = bytes.len();
        for (at, mask) in flips {
            bytes[at % len] ^= mask;
        }
        let _ = read_all(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(tail in prop::collection::vec(any::<u8>(), 0..4096)) {
        let (mut bytes, _) = build(0, 0, false, None, false);
        bytes.extend_from_slice(&tail);
        let _ = read_all(&bytes);
    }
}
