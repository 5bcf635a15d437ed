use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::embedded::frame::{self, SegmentEnd};
use crate::embedded::{
    encode_frame, EmbeddedLog, EmbeddedReader, PartitionScan, ScanEnd, StoreError, StoreOptions,
    TornTail, FORMAT, MAX_RECORD_LEN, SEGMENT_HEADER_LEN,
};

/// Room for three 10-byte records per segment (16 + 3 * 18 = 70).
const TINY: StoreOptions = StoreOptions { segment_bytes: 70 };

fn rec(i: u64) -> Vec<u8> {
    format!("record-{i:03}").into_bytes() // always 10 bytes
}

fn recs(range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    range.map(rec).collect()
}

fn seg_path(dir: &Path, partition: u32, base: u64) -> PathBuf {
    dir.join(format!("p{partition:05}"))
        .join(frame::segment_file_name(base))
}

fn segment_names(dir: &Path, partition: u32) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join(format!("p{partition:05}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn scan(dir: &Path, partition: u32) -> PartitionScan {
    EmbeddedReader::open(dir).unwrap().scan(partition).unwrap()
}

/// Offset of frame `i` in a segment of 10-byte records starting at its base.
fn frame_offset(i: u64) -> u64 {
    SEGMENT_HEADER_LEN + i * (8 + 10)
}

/// A ledger with one partition and three records, one append each, in one
/// segment; returns the segment path.
fn three_records(dir: &Path) -> PathBuf {
    let mut log = EmbeddedLog::create(dir, 1, StoreOptions::default()).unwrap();
    for i in 0..3 {
        assert_eq!(log.append(0, &[rec(i)]).unwrap(), i);
    }
    seg_path(dir, 0, 0)
}

fn truncate_by(path: &Path, bytes: u64) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - bytes).unwrap();
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

fn patch(path: &Path, offset: u64, f: impl FnOnce(&mut [u8])) {
    let mut bytes = fs::read(path).unwrap();
    f(&mut bytes[offset as usize..]);
    fs::write(path, bytes).unwrap();
}

#[test]
fn frame_layout_is_len_crc_payload() {
    // The standard CRC-32C check value, which pins the polynomial.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    let frame = encode_frame(b"123456789");
    assert_eq!(&frame[..4], &9u32.to_le_bytes());
    assert_eq!(&frame[4..8], &0xE306_9283u32.to_le_bytes());
    assert_eq!(&frame[8..], b"123456789");
}

#[test]
fn round_trip_over_partitions_and_segment_rolls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let mut log = EmbeddedLog::create(&dir, 3, TINY).unwrap();
    assert_eq!(log.partition_count(), 3);
    assert_eq!(log.dir(), dir);

    assert_eq!(log.append(0, &recs(0..2)).unwrap(), 0);
    assert_eq!(log.append(0, &recs(2..9)).unwrap(), 2); // spans three segments
    assert_eq!(log.append(0, &[rec(9)]).unwrap(), 9);
    assert_eq!(log.append(2, &recs(100..105)).unwrap(), 0);
    assert_eq!(log.append(2, &[]).unwrap(), 5);
    assert_eq!((log.len(0), log.len(1), log.len(2)), (10, 0, 5));

    assert_eq!(log.read(0, 0, 100).unwrap(), recs(0..10));
    assert_eq!(log.read(0, 2, 5).unwrap(), recs(2..7)); // crosses two rolls
    assert_eq!(log.read(0, 9, 5).unwrap(), recs(9..10));
    assert!(log.read(0, 10, 5).unwrap().is_empty());
    assert!(log.read(0, 50, 5).unwrap().is_empty());
    assert!(log.read(0, 0, 0).unwrap().is_empty());
    assert!(log.read(1, 0, 10).unwrap().is_empty());
    assert_eq!(log.read(2, 0, 10).unwrap(), recs(100..105));

    // Three records per segment, each file named after its first seq.
    assert_eq!(
        segment_names(&dir, 0),
        [0, 3, 6, 9].map(frame::segment_file_name)
    );
    let second = fs::read(seg_path(&dir, 0, 3)).unwrap();
    assert_eq!(&second[..8], b"TLSEG\0\x01\0");
    assert_eq!(&second[8..16], &3u64.to_le_bytes());
    assert_eq!(
        &second[16..],
        [3, 4, 5].map(|i| encode_frame(&rec(i))).concat()
    );
    assert!(segment_names(&dir, 1).is_empty());

    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta, serde_json::json!({"format": FORMAT, "partitions": 3}));
}

#[test]
fn an_ordered_append_splits_the_order_into_runs_and_refuses_an_order_that_does_not_match() {
    // given batches for partitions 0, 1 and 2 and the order they were sequenced in
    let (a, b, c) = (recs(0..2), recs(10..13), recs(20..21));
    let batches: [(u32, &[Vec<u8>]); 3] = [(0, &a), (1, &b), (2, &c)];
    let by_index: Vec<Option<&[Vec<u8>]>> = vec![Some(&a), Some(&b), Some(&c)];
    let order = [1, 0, 0, 1, 2, 1];
    // then the writes follow it: one per run of one partition's records
    let runs = super::write_runs(&by_index, &order, |p| Some(p as usize)).unwrap();
    assert_eq!(runs, vec![(1, 1), (0, 2), (1, 1), (2, 1), (1, 1)]);

    // when the ledger writes them in that order, the files are those of one batch per
    // partition, and the syncs made them durable (reopened, every record is there)
    let tmp = tempfile::tempdir().unwrap();
    let (ordered, plain) = (tmp.path().join("ordered"), tmp.path().join("plain"));
    let mut by_order = EmbeddedLog::create(&ordered, 3, TINY).unwrap();
    let mut by_partition = EmbeddedLog::create(&plain, 3, TINY).unwrap();
    by_order.append_ordered(&batches, &order).unwrap();
    by_partition.append_partitions(&batches).unwrap();
    drop(by_order);
    let (reopened, _) = EmbeddedLog::open_writer(&ordered, TINY).unwrap();
    for p in 0..3 {
        assert_eq!(
            reopened.read(p, 0, 100).unwrap(),
            by_partition.read(p, 0, 100).unwrap()
        );
    }

    // and an order naming a record too many, too few or an unknown partition is refused
    // before anything is written
    let mut log = reopened;
    let before: Vec<u64> = (0..3).map(|p| log.len(p)).collect();
    for bad in [
        &[1, 0, 0, 1, 2, 1, 1][..],
        &[1, 0, 0, 1, 2],
        &[1, 0, 0, 1, 2, 7],
    ] {
        assert!(matches!(
            log.append_ordered(&batches, bad),
            Err(StoreError::BatchOrder { .. })
        ));
    }
    assert_eq!((0..3).map(|p| log.len(p)).collect::<Vec<_>>(), before);
}

#[test]
fn append_partitions_writes_each_partition_as_append_does_and_checks_everything_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, many) = (tmp.path().join("one"), tmp.path().join("many"));
    let mut by_one = EmbeddedLog::create(&one, 3, TINY).unwrap();
    let mut at_once = EmbeddedLog::create(&many, 3, TINY).unwrap();
    let (a, b) = (recs(0..7), recs(100..102));
    by_one.append(0, &a).unwrap();
    by_one.append(2, &b).unwrap();
    at_once
        .append_partitions(&[(2, b.as_slice()), (0, a.as_slice()), (1, &[])])
        .unwrap();
    // The same records, in the same segment files, byte for byte.
    for p in 0..3 {
        assert_eq!(
            at_once.read(p, 0, 100).unwrap(),
            by_one.read(p, 0, 100).unwrap()
        );
        assert_eq!(segment_names(&many, p), segment_names(&one, p));
        for name in segment_names(&one, p) {
            let part = format!("p{p:05}");
            assert_eq!(
                fs::read(many.join(&part).join(&name)).unwrap(),
                fs::read(one.join(&part).join(&name)).unwrap()
            );
        }
    }
    // Two batches for one partition, an unknown partition, or a bad record anywhere: refused,
    // and nothing is written to any partition.
    let before: Vec<u64> = (0..3).map(|p| at_once.len(p)).collect();
    let c = recs(200..201);
    let refused = [
        at_once.append_partitions(&[(1, c.as_slice()), (1, c.as_slice())]),
        at_once.append_partitions(&[(1, c.as_slice()), (7, c.as_slice())]),
        at_once.append_partitions(&[(1, c.as_slice()), (2, &[Vec::new()])]),
    ];
    assert!(matches!(
        refused[0],
        Err(StoreError::DuplicateBatch { partition: 1 })
    ));
    assert!(matches!(
        refused[1],
        Err(StoreError::NoSuchPartition { .. })
    ));
    assert!(matches!(refused[2], Err(StoreError::EmptyRecord { .. })));
    assert_eq!((0..3).map(|p| at_once.len(p)).collect::<Vec<_>>(), before);
    assert_eq!(scan(&many, 1).records.len(), 0);
}

#[test]
fn record_larger_than_a_segment_gets_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = EmbeddedLog::create(tmp.path(), 1, TINY).unwrap();
    let big = vec![7u8; 500];
    log.append(0, &[rec(0), big.clone(), rec(2)]).unwrap();
    assert_eq!(log.read(0, 0, 3).unwrap(), vec![rec(0), big, rec(2)]);
    assert_eq!(segment_names(tmp.path(), 0).len(), 3);
}

#[test]
fn reopen_preserves_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    {
        let mut log = EmbeddedLog::create(dir, 2, TINY).unwrap();
        log.append(0, &recs(0..8)).unwrap();
        log.append(1, &recs(50..52)).unwrap();
    }
    let (mut log, torn) = EmbeddedLog::open_writer(dir, TINY).unwrap();
    assert!(torn.is_empty());
    assert_eq!(log.partition_count(), 2);
    assert_eq!((log.len(0), log.len(1)), (8, 2));
    assert_eq!(log.read(0, 0, 100).unwrap(), recs(0..8));
    assert_eq!(log.read(1, 0, 100).unwrap(), recs(50..52));

    // Appending resumes in the half-full last segment, then rolls.
    assert_eq!(log.append(0, &recs(8..11)).unwrap(), 8);
    drop(log);
    assert_eq!(
        scan(dir, 0),
        PartitionScan {
            records: recs(0..11),
            end: ScanEnd::Clean
        }
    );
    assert_eq!(
        segment_names(dir, 0),
        [0, 3, 6, 9].map(frame::segment_file_name)
    );
}

#[test]
fn second_writer_is_refused_while_the_first_lives() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = EmbeddedLog::create(dir, 1, StoreOptions::default()).unwrap();

    let err = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap_err();
    let StoreError::Locked { path, holder } = &err else {
        panic!("expected Locked, got {err:?}");
    };
    assert_eq!(path, dir);
    assert_eq!(*holder, Some(std::process::id()));
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        format!(
            "ledger at {} is in use by another writer (pid {}); only one writer may append at a time",
            dir.display(),
            std::process::id()
        )
    );
    // A reader needs no lock.
    assert_eq!(scan(dir, 0).end, ScanEnd::Clean);

    drop(first);
    let (second, _) = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap();
    drop(second);
    EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap();
}

#[test]
fn locked_message_without_a_pid() {
    let err = StoreError::Locked {
        path: PathBuf::from("/x"),
        holder: None,
    };
    assert_eq!(
        err.to_string(),
        "ledger at /x is in use by another writer; only one writer may append at a time"
    );
}

#[test]
fn torn_frame_payload_is_cut_and_appending_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = three_records(dir);
    truncate_by(&path, 3);

    assert_eq!(
        scan(dir, 0),
        PartitionScan {
            records: recs(0..2),
            end: ScanEnd::TornTail { seq: 2, bytes: 15 }
        }
    );
    let (mut log, torn) = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap();
    assert_eq!(
        torn,
        [TornTail {
            partition: 0,
            seq: 2,
            bytes: 15,
            file: path.clone(),
            offset: frame_offset(2),
        }]
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), frame_offset(2));
    assert_eq!(
        scan(dir, 0),
        PartitionScan {
            records: recs(0..2),
            end: ScanEnd::Clean
        }
    );
    assert_eq!(log.len(0), 2);
    assert_eq!(log.append(0, &[rec(2), rec(3)]).unwrap(), 2);
    assert_eq!(log.read(0, 0, 10).unwrap(), recs(0..4));
    drop(log);
    assert_eq!(scan(dir, 0).records, recs(0..4));
}

#[test]
fn torn_frame_header_is_cut_and_appending_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = three_records(dir);
    append_bytes(&path, &encode_frame(&rec(3))[..5]);

    assert_eq!(
        scan(dir, 0),
        PartitionScan {
            records: recs(0..3),
            end: ScanEnd::TornTail { seq: 3, bytes: 5 }
        }
    );
    let (mut log, torn) = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap();
    assert_eq!(
        torn,
        [TornTail {
            partition: 0,
            seq: 3,
            bytes: 5,
            file: path.clone(),
            offset: frame_offset(3),
        }]
    );
    assert_eq!(scan(dir, 0).end, ScanEnd::Clean);
    assert_eq!(log.append(0, &[rec(3)]).unwrap(), 3);
    assert_eq!(log.read(0, 0, 10).unwrap(), recs(0..4));
}

#[test]
fn torn_segment_header_removes_the_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    three_records(dir);
    let stub = seg_path(dir, 0, 3);
    fs::write(&stub, &frame::segment_header(3)[..7]).unwrap();

    assert_eq!(
        scan(dir, 0),
        PartitionScan {
            records: recs(0..3),
            end: ScanEnd::TornTail { seq: 3, bytes: 7 }
        }
    );
    let (mut log, torn) = EmbeddedLog::open_writer(dir, TINY).unwrap();
    assert_eq!(
        torn,
        [TornTail {
            partition: 0,
            seq: 3,
            bytes: 7,
            file: stub.clone(),
            offset: 0,
        }]
    );
    assert!(!stub.exists());
    // TINY has no room left in segment 0, so this recreates segment 3.
    assert_eq!(log.append(0, &[rec(3)]).unwrap(), 3);
    assert_eq!(fs::read(&stub).unwrap().len() as u64, frame_offset(1));
    drop(log);
    assert_eq!(scan(dir, 0).records, recs(0..4));
    assert_eq!(scan(dir, 0).end, ScanEnd::Clean);
}

#[test]
fn flipped_payload_byte_is_corrupt_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    {
        let mut log = EmbeddedLog::create(dir, 2, StoreOptions::default()).unwrap();
        log.append(1, &recs(0..3)).unwrap();
        // A torn tail in another partition must not be cut either.
        log.append(0, &[rec(0)]).unwrap();
    }
    append_bytes(&seg_path(dir, 0, 0), &[1, 2, 3]);
    let path = seg_path(dir, 1, 0);
    patch(&path, frame_offset(1) + 8 + 4, |b| b[0] ^= 0x01);
    let before_1 = fs::read(&path).unwrap();
    let before_0 = fs::read(seg_path(dir, 0, 0)).unwrap();

    let scanned = scan(dir, 1);
    assert_eq!(scanned.records, recs(0..1));
    let ScanEnd::Corrupt { seq, reason } = &scanned.end else {
        panic!("expected Corrupt, got {:?}", scanned.end);
    };
    assert_eq!(*seq, 1);
    assert!(reason.contains("checksum"), "{reason}");

    let err = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap_err();
    let StoreError::Corrupt { partition, seq, .. } = &err else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert_eq!((*partition, *seq), (1, 1));
    assert!(err.is_corruption());
    assert!(err.to_string().contains("partition 1 is corrupt at seq 1"));
    assert_eq!(fs::read(&path).unwrap(), before_1);
    assert_eq!(fs::read(seg_path(dir, 0, 0)).unwrap(), before_0);
}

#[test]
fn invalid_frame_length_is_corrupt_not_torn() {
    for bad_len in [0u32, MAX_RECORD_LEN as u32 + 1, u32::MAX] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = three_records(dir);
        // The last frame: its declared length is impossible, even though
        // it runs past the end of the file.
        patch(&path, frame_offset(2), |b| {
            b[..4].copy_from_slice(&bad_len.to_le_bytes())
        });
        let before = fs::read(&path).unwrap();
        let scanned = scan(dir, 0);
        assert_eq!(scanned.records, recs(0..2));
        assert!(
            matches!(scanned.end, ScanEnd::Corrupt { seq: 2, .. }),
            "{bad_len}: {:?}",
            scanned.end
        );
        let err = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    partition: 0,
                    seq: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), before);
    }
}

/// A length that runs past the end of the segment is a torn append only if no prefix of the
/// bytes after the header matches the stored checksum; otherwise the writer refuses, changing
/// nothing, and names the file, the offset and what it found.
#[test]
fn a_damaged_length_is_refused_not_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = three_records(dir);
    // Frame 0's length now points past the end of the file: its 10 bytes, and frames 1 and 2
    // after them, are all still there.
    patch(&path, frame_offset(0), |b| b[1] ^= 0x10);
    let before = fs::read(&path).unwrap();
    let scanned = scan(dir, 0);
    assert!(scanned.records.is_empty());
    let ScanEnd::Corrupt { seq: 0, reason } = &scanned.end else {
        panic!("expected Corrupt, got {:?}", scanned.end);
    };
    assert!(
        reason.contains("at byte offset 16")
            && reason.contains("first 10 bytes match its checksum, followed by 2 valid frame(s)"),
        "{reason}"
    );
    let err = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                partition: 0,
                seq: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("length field was damaged"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);

    // The last frame too: the matching prefix is everything that remains.
    let tmp = tempfile::tempdir().unwrap();
    let path = three_records(tmp.path());
    patch(&path, frame_offset(2), |b| b[0] ^= 0x80);
    let err = EmbeddedLog::open_writer(tmp.path(), StoreOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("followed by 0 valid frame(s)"),
        "{err}"
    );
}

/// A torn append whose payload happens to contain a prefix matching the stored checksum is
/// refused too (when in doubt, refuse); the operator's `TailRepair` then cuts it, keeping a
/// copy of the bytes beside the segment.
#[test]
fn an_operator_cuts_a_suspect_tail_and_keeps_the_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = three_records(dir);
    // A frame header declaring 100 bytes with the checksum of its first 3: an append torn
    // after 7 payload bytes, indistinguishable from a damaged length.
    let payload = b"abcdefg";
    let mut tail = 100u32.to_le_bytes().to_vec();
    tail.extend_from_slice(&crc32c::crc32c(&payload[..3]).to_le_bytes());
    tail.extend_from_slice(payload);
    append_bytes(&path, &tail);
    let before = fs::read(&path).unwrap();
    assert!(EmbeddedLog::open_writer(dir, StoreOptions::default()).is_err());
    assert_eq!(fs::read(&path).unwrap(), before);

    let repair = crate::embedded::TailRepair::open(dir).unwrap();
    // The lock is held while repairing.
    assert!(matches!(
        EmbeddedLog::open_writer(dir, StoreOptions::default()),
        Err(StoreError::Locked { .. })
    ));
    let [t] = repair.tails() else {
        panic!("{:?}", repair.tails())
    };
    assert_eq!((t.tail.partition, t.tail.seq, t.tail.bytes), (0, 3, 15));
    assert_eq!(t.tail.offset, frame_offset(3));
    assert!(t.damage.as_deref().unwrap().contains("first 3 bytes"));
    let copy = repair.cut(t).unwrap();
    drop(repair);
    assert_eq!(fs::read(&copy).unwrap(), tail);
    assert_eq!(fs::read(&path).unwrap(), before[..frame_offset(3) as usize]);
    let (log, torn) = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap();
    assert!(torn.is_empty());
    assert_eq!(log.read(0, 0, 10).unwrap(), recs(0..3));
}

/// Damage elsewhere than in the tail is not for `TailRepair`: it refuses and changes nothing.
#[test]
fn tail_repair_refuses_damage_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = three_records(dir);
    patch(&path, frame_offset(1) + 8, |b| b[0] ^= 1);
    append_bytes(&path, &[1, 2, 3]);
    let before = fs::read(&path).unwrap();
    let err = crate::embedded::TailRepair::open(dir).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { seq: 1, .. }), "{err:?}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn short_segment_that_is_not_last_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    EmbeddedLog::create(dir, 1, TINY)
        .unwrap()
        .append(0, &recs(0..7))
        .unwrap();
    truncate_by(&seg_path(dir, 0, 3), 4);
    let scanned = scan(dir, 0);
    assert_eq!(scanned.records, recs(0..5));
    assert!(
        matches!(scanned.end, ScanEnd::Corrupt { seq: 5, .. }),
        "{:?}",
        scanned.end
    );
    assert!(matches!(
        EmbeddedLog::open_writer(dir, TINY).unwrap_err(),
        StoreError::Corrupt { seq: 5, .. }
    ));
}

#[test]
fn missing_or_misnamed_segment_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    EmbeddedLog::create(dir, 1, TINY)
        .unwrap()
        .append(0, &recs(0..7))
        .unwrap();
    let middle = seg_path(dir, 0, 3);
    let moved = seg_path(dir, 0, 4);
    fs::rename(&middle, &moved).unwrap();
    let scanned = scan(dir, 0);
    assert_eq!(scanned.records, recs(0..3));
    assert!(
        matches!(scanned.end, ScanEnd::Corrupt { seq: 3, .. }),
        "{:?}",
        scanned.end
    );

    // Named right but with another base in its header.
    fs::rename(&moved, &middle).unwrap();
    patch(&middle, 8, |b| b[..8].copy_from_slice(&4u64.to_le_bytes()));
    let ScanEnd::Corrupt { seq: 3, reason } = scan(dir, 0).end else {
        panic!("expected Corrupt at 3");
    };
    assert!(reason.contains("base seq 4"), "{reason}");

    fs::remove_dir_all(dir.join("p00000")).unwrap();
    assert!(matches!(scan(dir, 0).end, ScanEnd::Corrupt { seq: 0, .. }));
}

#[test]
fn garbage_and_wrong_magic_are_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = three_records(dir);
    for garbage in [
        b"TLSEG\0\x02\0\0\0\0\0\0\0\0\0".to_vec(), // another version
        b"hello".to_vec(),                         // short and foreign
        (0..=255u8).cycle().take(5000).collect(),
    ] {
        fs::write(&path, &garbage).unwrap();
        let scanned = scan(dir, 0);
        assert!(scanned.records.is_empty());
        assert!(
            matches!(scanned.end, ScanEnd::Corrupt { seq: 0, .. }),
            "{:?}",
            scanned.end
        );
        assert!(matches!(
            EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap_err(),
            StoreError::Corrupt { seq: 0, .. }
        ));
        assert_eq!(fs::read(&path).unwrap(), garbage);
    }
}

/// Arbitrary bytes after a valid header must never panic the scanner, and
/// what it reports must be self-consistent.
#[test]
fn scanner_survives_random_bytes() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3000 {
        let mut bytes = frame::segment_header(0).to_vec();
        if round % 3 == 0 {
            bytes.extend(encode_frame(b"valid"));
        }
        let len = (next() % 64) as usize;
        bytes.extend((0..len).map(|_| next() as u8));
        if round % 5 == 0 {
            // A plausible small length, so payload and checksum paths run.
            let at = bytes.len().min(16 + (next() % 8) as usize);
            let len = [(next() % 40) as u8, 0, 0, 0];
            bytes = [&bytes[..at], &len[..], &bytes[at..]].concat();
        }
        let mut count = 0u64;
        let scan = frame::scan_segment(&bytes[..], 0, |_| count += 1).unwrap();
        assert_eq!(scan.offsets.len() as u64, count);
        assert!(scan.valid_len <= bytes.len() as u64);
        if let SegmentEnd::Torn { bytes: torn } = scan.end {
            assert_eq!(scan.valid_len + torn, bytes.len() as u64);
        }
        // Any prefix of a segment is also fine to scan.
        let cut = (next() as usize) % (bytes.len() + 1);
        frame::scan_segment(&bytes[..cut], 0, |_| {}).unwrap();
    }
}

#[test]
fn read_rechecks_frames_damaged_after_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = three_records(dir);
    let (log, _) = EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap();
    patch(&path, frame_offset(2) + 8, |b| b[0] ^= 0x80);
    assert_eq!(log.read(0, 0, 2).unwrap(), recs(0..2));
    let err = log.read(0, 1, 2).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                partition: 0,
                seq: 2,
                ..
            }
        ),
        "{err:?}"
    );

    truncate_by(&path, 20);
    let err = log.read(0, 0, 3).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { seq: 0, .. }), "{err:?}");
}

#[test]
fn rewrite_partition_output_scans_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut log = EmbeddedLog::create(dir, 2, TINY).unwrap();
    log.append(0, &recs(0..8)).unwrap();
    log.append(1, &recs(0..2)).unwrap();

    let mut tampered = recs(0..8);
    tampered[4] = b"record-XXX".to_vec();
    tampered.push(rec(8));
    log.rewrite_partition(0, &tampered).unwrap();

    assert_eq!(log.len(0), 9);
    assert_eq!(log.read(0, 0, 100).unwrap(), tampered);
    assert_eq!(
        scan(dir, 0),
        PartitionScan {
            records: tampered.clone(),
            end: ScanEnd::Clean
        }
    );
    assert_eq!(scan(dir, 1).records, recs(0..2));
    assert_eq!(log.append(0, &[rec(9)]).unwrap(), 9);
    let mut entries: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["LOCK", "meta.json", "p00000", "p00001"]);

    log.rewrite_partition(1, &[]).unwrap();
    assert_eq!(log.len(1), 0);
    drop(log);
    let (log, torn) = EmbeddedLog::open_writer(dir, TINY).unwrap();
    assert!(torn.is_empty());
    assert_eq!(log.read(0, 0, 100).unwrap().len(), 10);
    assert_eq!(scan(dir, 1).end, ScanEnd::Clean);
}

#[test]
fn create_refuses_an_existing_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = EmbeddedLog::create(dir, 1, StoreOptions::default()).unwrap();
    // Refused whether or not the writer is alive.
    let err = EmbeddedLog::create(dir, 1, StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    drop(log);
    let err = EmbeddedLog::create(dir, 4, StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(EmbeddedReader::open(dir).unwrap().partition_count(), 1);
}

#[test]
fn create_validates_partition_count() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [0, 100_001] {
        let err = EmbeddedLog::create(tmp.path(), bad, StoreOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::InvalidConfig { .. }), "{err:?}");
    }
    assert!(!tmp.path().join("meta.json").exists());
}

#[test]
fn a_folder_without_meta_is_not_a_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for err in [
        EmbeddedReader::open(dir).unwrap_err(),
        EmbeddedLog::open_writer(dir, StoreOptions::default()).unwrap_err(),
        EmbeddedReader::open(&dir.join("nowhere")).unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::NotALedger { .. }), "{err:?}");
        assert!(err.to_string().contains("run `trial-ledger init` first"));
    }
    // Opening must not leave a lock file behind in a non-ledger.
    assert!(!dir.join("LOCK").exists());

    fs::write(
        dir.join("meta.json"),
        r#"{"format":"other/v9","partitions":1}"#,
    )
    .unwrap();
    let err = EmbeddedReader::open(dir).unwrap_err();
    assert!(err.to_string().contains("other/v9"), "{err}");
    fs::write(dir.join("meta.json"), "not json").unwrap();
    assert!(matches!(
        EmbeddedReader::open(dir).unwrap_err(),
        StoreError::NotALedger { .. }
    ));
}

#[test]
fn bad_requests_are_refused_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut log = EmbeddedLog::create(dir, 2, StoreOptions::default()).unwrap();
    log.append(0, &[rec(0)]).unwrap();

    let err = log.append(0, &[rec(1), Vec::new()]).unwrap_err();
    assert!(
        matches!(err, StoreError::EmptyRecord { index: 1 }),
        "{err:?}"
    );
    let err = log
        .append(0, &[rec(1), vec![0; MAX_RECORD_LEN + 1]])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::RecordTooLarge { index: 1, .. }),
        "{err:?}"
    );
    assert_eq!(log.len(0), 1);
    assert_eq!(scan(dir, 0).records, recs(0..1));

    let max = vec![1u8; MAX_RECORD_LEN];
    assert_eq!(log.append(1, std::slice::from_ref(&max)).unwrap(), 0);
    assert_eq!(log.read(1, 0, 1).unwrap(), [max]);

    for err in [
        log.append(2, &[rec(0)]).unwrap_err(),
        log.read(2, 0, 1).unwrap_err(),
        EmbeddedReader::open(dir).unwrap().scan(2).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                StoreError::NoSuchPartition {
                    partition: 2,
                    count: 2
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(log.len(2), 0);
}

#[test]
fn lock_file_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let _log = EmbeddedLog::create(tmp.path(), 1, StoreOptions::default()).unwrap();
    let text = fs::read_to_string(tmp.path().join("LOCK")).unwrap();
    assert_eq!(text, std::process::id().to_string());
}

#[test]
fn a_cursor_scan_reads_each_appended_record_once_across_segment_rolls_and_torn_tails() {
    // Given a log with tiny segments and a reader that follows it with a cursor,
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let mut log = EmbeddedLog::create(&dir, 2, TINY).unwrap();
    let reader = EmbeddedReader::open(&dir).unwrap();
    let mut cursor = crate::embedded::ScanCursor::default();
    let mut followed = Vec::new();
    let mut follow = |cursor: &mut crate::embedded::ScanCursor| {
        let scan = reader.scan_from(0, cursor).unwrap();
        assert_eq!(scan.end, ScanEnd::Clean);
        followed.extend(scan.records.clone());
        scan.records
    };
    // when nothing is written, nothing is read;
    assert!(follow(&mut cursor).is_empty());
    // when records are appended in runs that fill, roll and start segments,
    for (from, to) in [(0, 2), (2, 3), (3, 9), (9, 10), (10, 10), (10, 14)] {
        log.append(0, &recs(from..to)).unwrap();
        // then each poll returns exactly the new ones,
        assert_eq!(
            follow(&mut cursor),
            recs(from..to),
            "after appending {from}..{to}"
        );
        assert_eq!(cursor.next_seq(), to);
    }
    // and a poll with nothing new returns nothing.
    assert!(follow(&mut cursor).is_empty());
    assert_eq!(followed, scan(&dir, 0).records);
    drop(log);

    // When the last segment ends in a frame still being written, the cursor stops before it
    let last = seg_path(&dir, 0, 12);
    let frame = encode_frame(&rec(14));
    append_bytes(&last, &frame[..5]);
    let scan = reader.scan_from(0, &mut cursor).unwrap();
    assert_eq!((scan.records.len(), scan.end), (0, ScanEnd::Clean));
    // and reads it once it is complete.
    append_bytes(&last, &frame[5..]);
    assert_eq!(
        reader.scan_from(0, &mut cursor).unwrap().records,
        recs(14..15)
    );

    // A damaged frame after the cursor is reported, with the records before it.
    let mut log = EmbeddedLog::open_writer(&dir, TINY).unwrap().0;
    log.append(1, &recs(0..2)).unwrap();
    drop(log);
    let mut other = crate::embedded::ScanCursor::default();
    assert_eq!(reader.scan_from(1, &mut other).unwrap().records, recs(0..2));
    let mut log = EmbeddedLog::open_writer(&dir, TINY).unwrap().0;
    log.append(1, &recs(2..3)).unwrap();
    drop(log);
    patch(&seg_path(&dir, 1, 0), frame_offset(2) + 9, |b| b[0] ^= 1);
    let scan = reader.scan_from(1, &mut other).unwrap();
    assert!(scan.records.is_empty());
    assert!(
        matches!(scan.end, ScanEnd::Corrupt { seq: 2, .. }),
        "{:?}",
        scan.end
    );
}

/// A partition of 8 ten-byte records in segments of three (bases 0, 3, 6), and the index of
/// its first `n` records.
fn covered_ledger(dir: &Path, n: u64) -> Vec<Vec<crate::embedded::CoveredSegment>> {
    let mut log = EmbeddedLog::create(dir, 1, TINY).unwrap();
    log.append(0, &recs(0..8)).unwrap();
    vec![log.covered(0, n)]
}

#[test]
fn the_covered_index_of_a_prefix_names_its_segments_offsets_and_end() {
    // given 8 records in segments of three
    let tmp = tempfile::tempdir().unwrap();
    let covered = covered_ledger(tmp.path(), 5);
    // then the index of the first 5 is segment 0 whole and two frames of segment 3
    let c = &covered[0];
    assert_eq!(c.len(), 2);
    assert_eq!((c[0].base, c[0].end), (0, frame_offset(3)));
    assert_eq!(c[0].offsets, (0..3).map(frame_offset).collect::<Vec<_>>());
    assert_eq!((c[1].base, c[1].end), (3, frame_offset(2)));
    assert_eq!(c[1].offsets, vec![frame_offset(0), frame_offset(1)]);
}

#[test]
fn a_writer_open_with_a_covered_index_reads_only_the_frames_after_it() {
    // given 8 records, the index of the first 5, and a damaged payload byte in record 1
    // (covered) of the sealed segment 0
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let covered = covered_ledger(dir, 5);
    patch(&seg_path(dir, 0, 0), frame_offset(1) + 8, |b| b[0] ^= 1);
    // when a writer opens with the index
    let (log, torn, ()) =
        EmbeddedLog::open_writer_covered(dir, TINY, &covered, |_, _| Ok::<_, StoreError>(()))
            .unwrap();
    // then the covered frame was not read: the open succeeds with every record indexed, the
    // records after the index read back, and reading the damaged one fails its CRC check
    assert!(torn.is_empty());
    assert_eq!(log.len(0), 8);
    assert_eq!(log.read(0, 5, 10).unwrap(), recs(5..8));
    assert!(log.read(0, 1, 1).is_err());
    drop(log);
    // while an open without the index scans everything and refuses
    let err = EmbeddedLog::open_writer(dir, TINY).unwrap_err();
    assert!(err.is_corruption(), "{err}");
}

#[test]
fn damage_after_the_covered_frames_and_a_torn_tail_are_found_as_without_an_index() {
    // given the index of the first 5 of 8 records, and record 6 damaged
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let covered = covered_ledger(dir, 5);
    patch(&seg_path(dir, 0, 6), frame_offset(0) + 8, |b| b[0] ^= 1);
    // then the open with the index refuses, as without
    let err = EmbeddedLog::open_writer_covered(dir, TINY, &covered, |_, _| Ok::<_, StoreError>(()))
        .unwrap_err();
    assert!(err.is_corruption(), "{err}");
    // and a torn tail after the index is cut as usual
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let covered = covered_ledger(dir, 5);
    truncate_by(&seg_path(dir, 0, 6), 3);
    let (log, torn, ()) =
        EmbeddedLog::open_writer_covered(dir, TINY, &covered, |_, _| Ok::<_, StoreError>(()))
            .unwrap();
    assert_eq!(torn.len(), 1);
    assert_eq!(log.len(0), 7);
}

#[test]
fn an_index_that_does_not_match_the_files_is_not_used() {
    // given the index of the first 5 of 8 records, a damaged covered record, and files that no
    // longer match the index: a sealed covered segment longer than indexed
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let covered = covered_ledger(dir, 5);
    patch(&seg_path(dir, 0, 0), frame_offset(1) + 8, |b| b[0] ^= 1);
    let mut longer = covered.clone();
    longer[0][0].end -= 1;
    // or another base
    let mut other_base = covered.clone();
    other_base[0][1].base = 4;
    for index in [longer, other_base] {
        // when a writer opens with it, then the partition is scanned whole and the damage found
        let err =
            EmbeddedLog::open_writer_covered(dir, TINY, &index, |_, _| Ok::<_, StoreError>(()))
                .unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }
    // and a removed segment after the covered ones is a gap, as without an index
    fs::remove_file(seg_path(dir, 0, 3)).unwrap();
    let err = EmbeddedLog::open_writer_covered(dir, TINY, &covered, |_, _| Ok::<_, StoreError>(()))
        .unwrap_err();
    assert!(err.is_corruption(), "{err}");
}
