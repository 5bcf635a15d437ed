//! Phase 6 of verification: the checkpoints the ledger stores for each partition (the
//! embedded checkpoint files, or the checkpoints topic) get the held-checkpoint checks of
//! FORMAT.md §17a against the valid prefixes, so a partition cut at a record boundary, or a
//! checkpoint whose signature was damaged, fails plain `verify`.

use super::replay::Verification;
use crate::audit::{check_held, sequencer_keys, HeldOutcome, SequencerKey};
use crate::checkpoint::{partition_origin, SignedCheckpoint};
use crate::reason::{Reason, Refusal};
use crate::rules::DomainRules;
use tl_schemas::Hash32;

impl<R: DomainRules> Verification<'_, R> {
    /// Checks every stored checkpoint of every partition of the trial. A failure is reported
    /// at the partition's valid length (after its last valid record), except a rewritten
    /// history, reported at the size of the largest stored checkpoint the partition still
    /// extends (its valid prefix ends there).
    pub(super) fn check_checkpoints(&mut self) {
        if self.inputs.iter().all(|i| i.checkpoints.is_empty()) {
            return;
        }
        let leaves: Vec<Vec<Hash32>> = self
            .decoded
            .iter()
            .zip(&self.valid_len)
            .map(|(part, &n)| {
                part.iter()
                    .take(n as usize)
                    .map_while(|d| d.as_ref().ok().map(|d| d.hash))
                    .collect()
            })
            .collect();
        // Keys enrolled in the valid registry: whatever their later status (§17a, check 2).
        let registry = &self.inputs[0].records[..self.registry_len as usize];
        let keys = sequencer_keys(self.trial, registry);
        let trial_partitions = self.state.partition_count() as usize;
        for p in 0..self.inputs.len().min(trial_partitions) {
            if let Some((seq, r)) = self.first_bad_checkpoint(p as u32, &leaves, &keys) {
                self.note(p as u32, seq, r);
            }
        }
    }

    /// The lowest-placed failure among partition `p`'s stored checkpoints, in entry order.
    fn first_bad_checkpoint(
        &self,
        p: u32,
        leaves: &[Vec<Hash32>],
        keys: &[SequencerKey],
    ) -> Option<(u64, Refusal)> {
        let origin = partition_origin(self.trial, p);
        let n = leaves[p as usize].len() as u64;
        let mut notes: Vec<(&str, &SignedCheckpoint)> = Vec::new();
        let mut worst: Option<(u64, Refusal)> = None;
        let mut keep = |seq: u64, r: Refusal| {
            if worst.as_ref().is_none_or(|(s, _)| *s > seq) {
                worst = Some((seq, r));
            }
        };
        for entry in &self.inputs[p as usize].checkpoints {
            match &entry.note {
                Err(e) => keep(n, invalid(format!("{}: {e}", entry.at))),
                Ok(note) if note.unverified().origin != origin => keep(
                    n,
                    invalid(format!(
                        "{}: a checkpoint of {:?} among those of {origin:?}",
                        entry.at,
                        note.unverified().origin
                    )),
                ),
                Ok(note) => notes.push((entry.at.as_str(), note)),
            }
        }
        let held: Vec<SignedCheckpoint> = notes.iter().map(|(_, n)| (*n).clone()).collect();
        let checks = check_held(self.trial, leaves, keys, &held);
        let extended: Vec<u64> = checks
            .iter()
            .filter(|c| c.outcome == HeldOutcome::Extended)
            .map(|c| c.size)
            .collect();
        for ((at, _), c) in notes.iter().zip(&checks) {
            let detail = format!(
                "{at}: checkpoint of size {} (root {}): {}",
                c.size, c.root, c.detail
            );
            match c.outcome {
                HeldOutcome::Extended => {}
                HeldOutcome::Invalid => keep(n, invalid(detail)),
                HeldOutcome::Truncated => keep(n, not_extended(detail)),
                HeldOutcome::Rewritten => {
                    let k = extended.iter().copied().filter(|&s| s < c.size).max();
                    keep(k.unwrap_or(0), not_extended(detail));
                }
            }
        }
        worst
    }
}

fn invalid(detail: String) -> Refusal {
    Refusal::new(Reason::CheckpointInvalid, detail)
}

fn not_extended(detail: String) -> Refusal {
    Refusal::new(Reason::CheckpointNotExtended, detail)
}
