//! What the sequencer writes to the rejections topic for a refused submission, so that nothing
//! is dropped silently: the reason, where the submission was, and its bytes.
//!
//! The message value is JSON (FORMAT.md §17b): rejections are read by people and by writers
//! waiting for a verdict, and carry the refused bytes in full (hex) for the audit.

use serde::{Deserialize, Serialize};

/// One refused submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Format version of this JSON object; 1.
    pub version: u16,
    /// The submission id, when the bytes decoded far enough to have one (hex).
    pub submission_id: Option<String>,
    /// Stable reason code (FORMAT.md §16), e.g. `wrong-partition`, `malformed`.
    pub reason: String,
    /// What exactly was wrong.
    pub detail: String,
    /// The intake partition it arrived on.
    pub intake_partition: u32,
    /// Its offset there.
    pub intake_offset: i64,
    /// The sequencer's clock when it refused it, microseconds since the Unix epoch (UTC).
    pub refused_at_micros: i64,
    /// The submission's bytes as received (hex), so a refusal can be re-examined.
    pub bytes_hex: String,
}

impl Rejection {
    /// The JSON value written to the topic.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a rejection always serialises")
    }

    /// Parses a rejections-topic value.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
