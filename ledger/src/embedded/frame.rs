//! The on-disk byte format: segment headers, frames, and the scanner that
//! reads a segment back.
//!
//! Everything here works on bytes and `Read`ers, not on the folder layout,
//! so the format rules can be tested on in-memory buffers and the scanner can
//! be fed arbitrary garbage.

use std::fmt;
use std::io::{self, Read};

/// Marks a file as a segment of this format and version, so a stray or
/// foreign file is reported as damage rather than parsed as frames.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TLSEG\0\x01\0";

/// Magic plus the base sequence number.
pub const SEGMENT_HEADER_LEN: u64 = 16;

/// Payload length plus checksum, each a little-endian u32.
pub const FRAME_HEADER_LEN: u64 = 8;

/// The largest record a frame may carry. The bound lets a reader reject a
/// damaged length before allocating for it.
pub const MAX_RECORD_LEN: usize = 16 * 1024 * 1024;

/// Frames one record: length, CRC-32C of the payload, payload.
///
/// Public so tamper tests and forensic tools can build frames that pass the
/// checksum; the caller is responsible for `payload` being non-empty and at
/// most [`MAX_RECORD_LEN`] bytes, otherwise readers reject the frame.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame_len(payload.len()) as usize);
    encode_frame_into(&mut out, payload);
    out
}

/// Appends a frame to `out`, so a batch is built in one buffer and written
/// with one system call.
pub(crate) fn encode_frame_into(out: &mut Vec<u8>, payload: &[u8]) {
    // Callers validate the length first; saturating keeps an oversized
    // payload from wrapping into a plausible small length.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Bytes a record occupies on disk.
pub(crate) fn frame_len(payload_len: usize) -> u64 {
    FRAME_HEADER_LEN + payload_len as u64
}

/// The 16 bytes that open a segment whose first record is `base`.
pub(crate) fn segment_header(base: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..].copy_from_slice(&base.to_le_bytes());
    header
}

/// File name of the segment starting at `base`; zero padding makes the
/// names sort in sequence order for anyone listing the folder.
pub(crate) fn segment_file_name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// Inverse of [`segment_file_name`]; `None` for anything that is not exactly
/// such a name, so stray files are never mistaken for segments.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Why a complete frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameFault {
    InvalidLength(u32),
    ChecksumMismatch { stored: u32, computed: u32 },
}

impl fmt::Display for FrameFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameFault::InvalidLength(len) => write!(
                f,
                "frame declares a payload of {len} bytes (valid: 1 to {MAX_RECORD_LEN})"
            ),
            FrameFault::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:08x}, payload gives {computed:08x})"
            ),
        }
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameHeader {
    pub(crate) len: u32,
    pub(crate) crc: u32,
}

impl FrameHeader {
    pub(crate) fn parse(bytes: [u8; FRAME_HEADER_LEN as usize]) -> FrameHeader {
        let [l0, l1, l2, l3, c0, c1, c2, c3] = bytes;
        FrameHeader {
            len: u32::from_le_bytes([l0, l1, l2, l3]),
            crc: u32::from_le_bytes([c0, c1, c2, c3]),
        }
    }

    /// The payload length, if it is one a writer could have produced.
    pub(crate) fn payload_len(self) -> Result<usize, FrameFault> {
        match usize::try_from(self.len) {
            Ok(len) if (1..=MAX_RECORD_LEN).contains(&len) => Ok(len),
            _ => Err(FrameFault::InvalidLength(self.len)),
        }
    }

    pub(crate) fn check(self, payload: &[u8]) -> Result<(), FrameFault> {
        let computed = crc32c::crc32c(payload);
        if computed == self.crc {
            Ok(())
        } else {
            Err(FrameFault::ChecksumMismatch {
                stored: self.crc,
                computed,
            })
        }
    }
}

/// Decodes the single frame that must fill `buf` exactly; used when reading
/// through the index, where the frame boundaries are already known, so any
/// mismatch is damage that happened after the scan.
pub(crate) fn decode_exact(buf: &[u8]) -> Result<&[u8], String> {
    let Some((head, payload)) = buf.split_first_chunk::<{ FRAME_HEADER_LEN as usize }>() else {
        return Err(format!("frame is only {} bytes", buf.len()));
    };
    let header = FrameHeader::parse(*head);
    let len = header.payload_len().map_err(|fault| fault.to_string())?;
    if len != payload.len() {
        return Err(format!(
            "frame declares {len} payload bytes but the index has {}",
            payload.len()
        ));
    }
    header.check(payload).map_err(|fault| fault.to_string())?;
    Ok(payload)
}

/// How a scanned segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SegmentEnd {
    /// Ends exactly after a complete, valid frame (or after the header).
    Clean,
    /// Ends part-way through a segment header or a frame; `bytes` is how
    /// many bytes follow the last complete frame.
    Torn { bytes: u64 },
    /// A frame's length runs past the end of the segment, but a prefix of
    /// the bytes after its header matches its checksum: the frame was
    /// complete and its length field is damaged, which no crash explains.
    /// `bytes` follow the last valid frame; only an operator may cut them.
    DamagedLength {
        seq: u64,
        bytes: u64,
        reason: String,
    },
    /// A complete frame or the header is invalid at record `seq`.
    Corrupt { seq: u64, reason: String },
}

/// The result of scanning one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    /// File offset of each complete, valid frame, in order.
    pub(crate) offsets: Vec<u64>,
    /// Bytes up to the end of the last complete, valid frame (0 when even
    /// the segment header is incomplete).
    pub(crate) valid_len: u64,
    pub(crate) end: SegmentEnd,
}

/// Scans a segment expected to start at record `base`, calling `on_record`
/// for each valid payload in order. Stops at the first problem; never
/// panics, and never allocates more than about twice the largest payload
/// actually present (at most one maximal payload), whatever the length fields
/// say.
pub(crate) fn scan_segment<R: Read>(
    mut input: R,
    base: u64,
    on_record: impl FnMut(&[u8]),
) -> io::Result<SegmentScan> {
    let expected_header = segment_header(base);
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    let got = read_full(&mut input, &mut header)?;
    if header[..got] != expected_header[..got] {
        let reason = if header[..got.min(8)] != SEGMENT_MAGIC[..got.min(8)] {
            "not a segment file (bad magic)".to_string()
        } else if got == header.len() {
            format!(
                "segment header says base seq {}, but its file name says {base}",
                u64::from_le_bytes(header[8..].try_into().unwrap_or_default())
            )
        } else {
            format!("partial segment header does not match base seq {base}")
        };
        return Ok(SegmentScan {
            offsets: Vec::new(),
            valid_len: 0,
            end: SegmentEnd::Corrupt { seq: base, reason },
        });
    }
    if got < header.len() {
        return Ok(SegmentScan {
            offsets: Vec::new(),
            valid_len: 0,
            end: SegmentEnd::Torn { bytes: got as u64 },
        });
    }

    scan_frames(input, base, Vec::new(), SEGMENT_HEADER_LEN, on_record)
}

/// Scans the frames of a segment of base `base` from file offset `pos`, where `input` is
/// positioned, after the frames whose offsets are `offsets` (taken as valid, unread: the
/// frames a writer snapshot covers, FORMAT.md §17). Same ends and bounds as [`scan_segment`].
pub(crate) fn scan_frames<R: Read>(
    mut input: R,
    base: u64,
    mut offsets: Vec<u64>,
    mut pos: u64,
    mut on_record: impl FnMut(&[u8]),
) -> io::Result<SegmentScan> {
    let mut payload = Vec::new();
    let end = loop {
        let seq = base + offsets.len() as u64;
        let mut head = [0u8; FRAME_HEADER_LEN as usize];
        let got = read_full(&mut input, &mut head)?;
        if got == 0 {
            break SegmentEnd::Clean;
        }
        if got < head.len() {
            break SegmentEnd::Torn { bytes: got as u64 };
        }
        let header = FrameHeader::parse(head);
        let len = match header.payload_len() {
            Ok(len) => len,
            Err(fault) => {
                break SegmentEnd::Corrupt {
                    seq,
                    reason: fault.to_string(),
                }
            }
        };
        // Read at most `len` bytes, growing the buffer only as bytes arrive: a damaged length
        // field must not make the scanner allocate 16 MiB for a segment that has 100 bytes
        // left (found by the `frame_scan` fuzz target).
        payload.clear();
        let got = (&mut input).take(len as u64).read_to_end(&mut payload)?;
        if got < len {
            let bytes = FRAME_HEADER_LEN + got as u64;
            break match overrun(header.crc, len, &payload[..got]) {
                None => SegmentEnd::Torn { bytes },
                Some(reason) => SegmentEnd::DamagedLength { seq, bytes, reason },
            };
        }
        if let Err(fault) = header.check(&payload) {
            break SegmentEnd::Corrupt {
                seq,
                reason: fault.to_string(),
            };
        }
        on_record(&payload);
        offsets.push(pos);
        pos += frame_len(len);
    };
    Ok(SegmentScan {
        offsets,
        valid_len: pos,
        end,
    })
}

/// What [`scan_segment_bytes`] found in a segment held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedSegment {
    /// The payloads of the complete, valid frames, in order.
    pub records: Vec<Vec<u8>>,
    /// Bytes up to the end of the last complete, valid frame.
    pub valid_len: u64,
    /// How the segment ends (clean, torn, damaged length or corrupt, with the reason), as
    /// the scanner reports it.
    pub end: String,
}

/// Scans segment bytes held in memory with the same scanner the store uses on its files, so
/// fuzzers and forensic tools can feed it arbitrary bytes without a folder.
pub fn scan_segment_bytes(bytes: &[u8], base: u64) -> ScannedSegment {
    let mut records = Vec::new();
    // Reading from a slice never fails, so the `io::Result` is always `Ok`.
    match scan_segment(bytes, base, |r| records.push(r.to_vec())) {
        Ok(scan) => ScannedSegment {
            records,
            valid_len: scan.valid_len,
            end: format!("{:?}", scan.end),
        },
        Err(e) => ScannedSegment {
            records,
            valid_len: 0,
            end: format!("read error: {e}"),
        },
    }
}

/// Tells a torn append from a damaged length, for a frame that declares
/// `len` payload bytes of which only `rest` (all bytes to the end of the
/// segment) are present. A torn append wrote a prefix of the payload whose
/// checksum is over all `len` bytes, so no prefix of `rest` matches `crc`
/// (except by a 2^-32 chance per prefix). If one does, the frame was
/// complete at that length: returns what was found, for the operator.
///
/// The checksum is extended one byte at a time, so this is O(`rest`).
fn overrun(crc: u32, len: usize, rest: &[u8]) -> Option<String> {
    let mut running = 0;
    let matched = rest.iter().enumerate().find_map(|(i, byte)| {
        running = crc32c::crc32c_append(running, std::slice::from_ref(byte));
        (running == crc).then_some(i + 1)
    })?;
    let (frames, trailing) = valid_frames(&rest[matched..]);
    Some(format!(
        "frame declares {len} payload bytes but only {} remain in the segment, and its first \
         {matched} bytes match its checksum, followed by {frames} valid frame(s) and {trailing} \
         other byte(s): its length field was damaged, this is not an interrupted append",
        rest.len()
    ))
}

/// How many valid frames `bytes` starts with, and how many bytes follow them.
fn valid_frames(mut bytes: &[u8]) -> (usize, usize) {
    let mut frames = 0;
    while let Some((head, rest)) = bytes.split_first_chunk::<{ FRAME_HEADER_LEN as usize }>() {
        let header = FrameHeader::parse(*head);
        let Some(payload) = header.payload_len().ok().and_then(|len| rest.get(..len)) else {
            break;
        };
        if header.check(payload).is_err() {
            break;
        }
        frames += 1;
        bytes = &rest[payload.len()..];
    }
    (frames, bytes.len())
}

/// Like `read_exact`, but a short input is an answer (how much there was),
/// not an error: at the end of a segment that is how a torn tail shows.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
