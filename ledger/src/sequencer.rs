//! The sequencer: validates submissions in the order of FORMAT.md, then links, back-links and
//! seals them into records. Pure: no I/O. A backend persists what it returns.

use crate::codec::decode_submission;
use crate::crypto::SigningKey;
use crate::reason::{Reason, Refusal};
use crate::registry::Author;
use crate::rules::DomainRules;
use crate::state::{AuthorSignature, LedgerState, RecordSource, ReferenceCheck};
use crate::Error;
use serde::Serialize;
use tl_schemas::record::seal_message;
use tl_schemas::{
    encode, record_hash, Hash32, Record, RecordBody, Sig64, SignedSubmission, UtcMicros,
    RECORD_VERSION, SIG_ALG_ED25519_ZIP215,
};

/// What the sequencer made of a submission.
#[derive(Debug)]
pub enum Outcome {
    /// A new record, sealed. Persist `bytes`; hand out the receipt after it is durable.
    Sealed(Box<Sealed>),
    /// The submission id is already in the ledger with the same content: its original record.
    Duplicate(Receipt),
    /// Refused, with the reason. Nothing was changed.
    Refused(Refusal),
}

/// A freshly sealed record.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The record.
    pub record: Record,
    /// Its canonical bytes, as they go into the log.
    pub bytes: Vec<u8>,
    /// Its record hash.
    pub hash: Hash32,
}

impl Sealed {
    /// The writer's receipt for this record.
    pub fn receipt(&self) -> Receipt {
        Receipt::of(&self.record, self.hash)
    }
}

/// A writer's receipt: where its submission was recorded, the record hash and the sequencer's
/// signature over it. The seal makes a rewritten tail break a signature, not just a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The submission id.
    pub submission_id: String,
    /// Partition of the record.
    pub partition: u32,
    /// Sequence number of the record.
    pub seq: u64,
    /// Record hash (hex).
    pub record_hash: String,
    /// Ordering time (RFC 3339, UTC).
    pub ordering_time: String,
    /// Registry position the record was validated under.
    pub registry_seq: u64,
    /// Sealing key id (hex).
    pub sequencer: String,
    /// Seal (hex): Ed25519 over the seal message of the record hash.
    pub seal: String,
}

impl Receipt {
    /// The receipt of a record.
    pub fn of(record: &Record, hash: Hash32) -> Receipt {
        let b = &record.body;
        Receipt {
            submission_id: b.submission.submission.submission_id.to_hex(),
            partition: b.partition,
            seq: b.seq,
            record_hash: hash.to_hex(),
            ordering_time: b.ordering_time.to_rfc3339(),
            registry_seq: b.registry_seq,
            sequencer: b.sequencer.to_hex(),
            seal: record.seal.to_hex(),
        }
    }
}

/// The sequencer for every partition of one trial (the embedded deployment; on Kafka each
/// instance holds the partitions it is assigned).
pub struct Sequencer<R: DomainRules> {
    /// Chains, registry, subjects: shared with the verifier's logic.
    state: LedgerState<R>,
    /// The key that seals records: a sequencer-role key, or the root key while bootstrapping.
    sealer: SigningKey,
}

impl<R: DomainRules> Sequencer<R> {
    /// A sequencer over `state`, sealing with `sealer`.
    pub fn new(state: LedgerState<R>, sealer: SigningKey) -> Self {
        Sequencer { state, sealer }
    }

    /// The state.
    pub fn state(&self) -> &LedgerState<R> {
        &self.state
    }

    /// The state, to attach or trim the writer's on-disk store.
    pub(crate) fn state_mut(&mut self) -> &mut LedgerState<R> {
        &mut self.state
    }

    /// The state, giving up the sequencer.
    pub(crate) fn into_state(self) -> LedgerState<R> {
        self.state
    }

    /// Changes the sealing key (after bootstrapping with the root key).
    pub fn set_sealer(&mut self, sealer: SigningKey) {
        self.sealer = sealer;
    }

    /// Replays an existing record into the state without re-checking signatures (rebuilding
    /// after a restart from the writer's own committed log). Structural links are still
    /// checked, so a log that does not continue the state is an error, not silently accepted.
    pub fn replay(&mut self, bytes: &[u8], source: &dyn RecordSource) -> Result<(), Error> {
        let (record, body_len) = crate::codec::decode_record(bytes).map_err(Error::corrupt_log)?;
        let hash = record_hash(&bytes[..body_len]);
        let b = &record.body;
        let p = b.partition;
        if p >= self.state.partition_count()
            || b.seq != self.state.len(p)
            || b.prev_hash != self.state.head_hash(p)
        {
            return Err(Error::corrupt_log(Refusal::new(
                Reason::PrevHash,
                format!("record {p}/{} does not continue the chain", b.seq),
            )));
        }
        let sub = &b.submission.submission;
        let author = self
            .state
            .registry()
            .author_at(&sub.author, b.registry_seq)
            .map_err(Error::corrupt_log)?;
        self.state.apply(&record, hash, author, source);
        Ok(())
    }

    /// Orders one submission (canonical bytes of a [`SignedSubmission`]) at time `now`.
    /// `intake_partition` is the partition it arrived on, if the transport has partitions.
    pub fn order(
        &mut self,
        bytes: &[u8],
        intake_partition: Option<u32>,
        now: UtcMicros,
        source: &dyn RecordSource,
    ) -> Result<Outcome, Error> {
        // 1. Decoding and canonical form.
        let signed = match decode_submission(bytes) {
            Ok(s) => s,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        self.order_decoded(signed, intake_partition, now, source)
    }

    /// [`Sequencer::order`] for an already decoded submission.
    pub fn order_decoded(
        &mut self,
        signed: SignedSubmission,
        intake_partition: Option<u32>,
        now: UtcMicros,
        source: &dyn RecordSource,
    ) -> Result<Outcome, Error> {
        self.order_decoded_with(
            signed,
            intake_partition,
            now,
            source,
            AuthorSignature::VerifyNow,
        )
    }

    /// The author signatures of a batch of submissions, verified together on every core
    /// (`verify_many`, the one rule), for [`Sequencer::order_decoded_with`]. A submission whose
    /// author key is not (yet) in the registry gets [`AuthorSignature::VerifyNow`]: it may be
    /// enrolled by an earlier submission of the same batch. A key id names one public key for
    /// good, so a verdict stays right whatever the batch changes in the registry.
    pub fn preverify(&self, batch: &[SignedSubmission]) -> Vec<AuthorSignature> {
        let some: Vec<Option<&SignedSubmission>> = batch.iter().map(Some).collect();
        self.preverify_some(&some)
    }

    /// [`Sequencer::preverify`] for a batch with gaps (`None`: a submission that did not
    /// decode, judged [`AuthorSignature::VerifyNow`] and never verified). The signing messages
    /// are built on every core too: they are as long as the submissions.
    pub fn preverify_some(&self, batch: &[Option<&SignedSubmission>]) -> Vec<AuthorSignature> {
        use rayon::prelude::*;
        let registry = self.state.registry();
        let checks: Vec<Option<crate::crypto::SigCheck>> = batch
            .par_iter()
            .map(|s| {
                let s = (*s)?;
                let public_key = registry.public_key(&s.submission.author)?;
                Some(crate::crypto::SigCheck {
                    public_key,
                    signature: s.signature,
                    message: s.submission.signing_message(),
                })
            })
            .collect();
        let slots: Vec<Option<usize>> = checks
            .iter()
            .scan(0usize, |next, c| {
                Some(c.as_ref().map(|_| {
                    *next += 1;
                    *next - 1
                }))
            })
            .collect();
        let present: Vec<crate::crypto::SigCheck> = checks.into_iter().flatten().collect();
        let verdicts = crate::crypto::verify_many(&present);
        slots
            .into_iter()
            .map(|i| {
                i.map_or(AuthorSignature::VerifyNow, |i| {
                    AuthorSignature::Verdict(verdicts[i])
                })
            })
            .collect()
    }

    /// [`Sequencer::order_decoded`] with the author's signature judged as `signature` says (a
    /// verdict from [`Sequencer::preverify`], or verify now).
    pub fn order_decoded_with(
        &mut self,
        signed: SignedSubmission,
        intake_partition: Option<u32>,
        now: UtcMicros,
        source: &dyn RecordSource,
        signature: AuthorSignature,
    ) -> Result<Outcome, Error> {
        Ok(
            match self.order_unsealed(signed, intake_partition, now, source, signature)? {
                Ordered::Unsealed(u) => {
                    let seal = u.seal_with(&self.sealer, self.state.trial());
                    Outcome::Sealed(Box::new(u.into_sealed(seal)))
                }
                Ordered::Duplicate(r) => Outcome::Duplicate(r),
                Ordered::Refused(r) => Outcome::Refused(r),
            },
        )
    }

    /// The key that seals records (the pipeline signs many seals with it on every core).
    pub fn sealer(&self) -> &SigningKey {
        &self.sealer
    }

    /// Orders, validates, links and hashes one submission and applies it to the state, but
    /// leaves its seal to the caller: [`Unsealed::seal_with`] with [`Sequencer::sealer`], then
    /// [`Unsealed::into_sealed`]. The seal is a signature over the record hash only, so nothing
    /// the state or a later submission checks depends on it; sealing many records at once,
    /// on every core, gives the same bytes as sealing each in turn (Ed25519 is deterministic).
    /// A record held unsealed carries a zero seal until then.
    pub fn order_unsealed(
        &mut self,
        signed: SignedSubmission,
        intake_partition: Option<u32>,
        now: UtcMicros,
        source: &dyn RecordSource,
        signature: AuthorSignature,
    ) -> Result<Ordered, Error> {
        let sub = &signed.submission;
        // 2. The trial and the partition.
        let p = self.state.partition_of(&sub.subject);
        if let Err(r) = self.state.check_placement(p, &signed) {
            return Ok(Ordered::Refused(r));
        }
        if let Some(ip) = intake_partition {
            if ip != p {
                return Ok(Ordered::Refused(Refusal::new(
                    Reason::WrongPartition,
                    format!(
                        "subject {} belongs to partition {p}; it arrived on intake partition {ip}",
                        sub.subject
                    ),
                )));
            }
        }
        // 3. A known submission id returns its original record. An index that cannot be
        // read stops the submission: it might be a duplicate.
        let seen = self
            .state
            .lookup_seen(p, &sub.submission_id)
            .map_err(|e| Error::Io {
                path: "the seen-id index".into(),
                source: std::io::Error::other(e),
            })?;
        if let Some(seq) = seen {
            if let Some(done) = self.duplicate(p, seq, &signed, source)? {
                return Ok(done);
            }
        }
        let registry_seq = self.state.registry().position();
        if sub.min_registry_seq > registry_seq {
            return Ok(Ordered::Refused(Refusal::new(
                Reason::RegistryAhead,
                format!(
                    "the author relies on registry position {}, the ledger is at {registry_seq}",
                    sub.min_registry_seq
                ),
            )));
        }
        let seq = self.state.len(p);
        let last_time = self
            .state
            .partition(p)
            .map_or(UtcMicros(i64::MIN), |ps| ps.last_time);
        let ordering_time = UtcMicros(now.0.max(last_time.0));
        // 4-8.
        let author = match self.state.check_submission(
            p,
            seq,
            &signed,
            registry_seq,
            ordering_time,
            signature,
            ReferenceCheck::Now,
            source,
        ) {
            Ok(a) => a,
            Err(r) => return Ok(Ordered::Refused(r)),
        };
        // Intake only: limits a new submission is held to, never a record already sealed.
        if let Err(r) = self.state.rules().check_intake(sub, ordering_time) {
            return Ok(Ordered::Refused(r));
        }
        self.check_sealer(registry_seq)?;
        let body = self.body(p, seq, signed, ordering_time, registry_seq);
        let body_bytes = encode(&body);
        let record_len = body_bytes.len() + 64;
        if record_len > crate::limits::MAX_INTAKE_RECORD_BYTES {
            return Ok(Ordered::Refused(Refusal::new(
                Reason::RecordTooLarge,
                format!(
                    "the record would be {record_len} bytes, above the {}-byte cap for new records; reference a long document by its SHA-256 digest",
                    crate::limits::MAX_INTAKE_RECORD_BYTES
                ),
            )));
        }
        let hash = record_hash(&body_bytes);
        let record = Record {
            body,
            seal: Sig64([0; 64]),
        };
        self.state.apply(&record, hash, author, source);
        Ok(Ordered::Unsealed(Box::new(Unsealed {
            record,
            body_bytes,
            hash,
        })))
    }

    /// Step 3's answer for a submission id already recorded at `p`/`seq`.
    fn duplicate(
        &self,
        p: u32,
        seq: u64,
        signed: &SignedSubmission,
        source: &dyn RecordSource,
    ) -> Result<Option<Ordered>, Error> {
        let Some(original) = source.record(p, seq) else {
            return Err(Error::corrupt_log(Refusal::new(
                Reason::ReferenceMissing,
                format!("record {p}/{seq} is in the state but cannot be read"),
            )));
        };
        let id = &signed.submission.submission_id;
        if original.body.submission.submission.submission_id != *id {
            // A stale row of the writer's on-disk index (the log is the authority): the id
            // is not recorded there.
            tracing::warn!(
                partition = p,
                seq,
                "the seen-id index names a record of another submission id; ignored"
            );
            return Ok(None);
        }
        if original.body.submission != *signed {
            return Ok(Some(Ordered::Refused(Refusal::new(
                Reason::SubmissionIdConflict,
                format!(
                    "submission id {} is already recorded at {p}/{seq} with other content",
                    signed.submission.submission_id
                ),
            ))));
        }
        let hash = original.hash();
        Ok(Some(Ordered::Duplicate(Receipt::of(&original, hash))))
    }

    /// The sealer must be one a verifier accepts at this position.
    fn check_sealer(&self, registry_seq: u64) -> Result<(), Error> {
        let sealer_id = self.sealer.key_id();
        match self.state.registry().author_at(&sealer_id, registry_seq) {
            Ok(Author::Root) | Ok(Author::Key(tl_schemas::Role::Sequencer)) => Ok(()),
            _ => Err(Error::SealerNotAuthorized {
                key_id: sealer_id.to_hex(),
                position: registry_seq,
            }),
        }
    }

    /// The body of the record `signed` becomes at `p`/`seq`.
    fn body(
        &self,
        p: u32,
        seq: u64,
        signed: SignedSubmission,
        ordering_time: UtcMicros,
        registry_seq: u64,
    ) -> RecordBody {
        let subject_prev = self
            .state
            .partition(p)
            .and_then(|ps| ps.subjects.get(&signed.submission.subject))
            .map(|h| h.last);
        RecordBody {
            version: RECORD_VERSION,
            partition: p,
            seq,
            prev_hash: self.state.head_hash(p),
            subject_prev,
            ordering_time,
            registry_seq,
            submission: signed,
            sequencer: self.sealer.key_id(),
            seal_alg: SIG_ALG_ED25519_ZIP215,
        }
    }
}

/// What [`Sequencer::order_unsealed`] made of a submission.
#[derive(Debug)]
pub enum Ordered {
    /// A new record, applied to the state, its seal still to be signed.
    Unsealed(Box<Unsealed>),
    /// The submission id is already in the ledger with the same content: its original record.
    Duplicate(Receipt),
    /// Refused, with the reason. Nothing was changed.
    Refused(Refusal),
}

/// A record ordered and applied to the state whose seal is not yet signed.
#[derive(Debug, Clone)]
pub struct Unsealed {
    /// The record, with a zero seal.
    pub record: Record,
    /// The canonical bytes of its body.
    pub body_bytes: Vec<u8>,
    /// Its record hash.
    pub hash: Hash32,
}

impl Unsealed {
    /// The seal: `sealer`'s signature over the seal message of the record hash. Thread-safe
    /// and independent of every other record, so a batch's seals are signed in parallel.
    pub fn seal_with(&self, sealer: &SigningKey, trial: &tl_schemas::TrialId) -> Sig64 {
        sealer.sign(&seal_message(trial, &self.hash))
    }

    /// The sealed record: body bytes followed by `seal`.
    pub fn into_sealed(self, seal: Sig64) -> Sealed {
        let Unsealed {
            mut record,
            body_bytes,
            hash,
        } = self;
        record.seal = seal;
        let mut bytes = body_bytes;
        bytes.extend_from_slice(&seal.0);
        Sealed {
            record,
            bytes,
            hash,
        }
    }
}

/// Seals a record *without any validation*, chained to `prev_hash`. For tests that must
/// forge records a broken or compromised sequencer could write, to show verification catches
/// them; never used by the sequencer itself.
pub fn seal_unchecked(
    trial: &tl_schemas::TrialId,
    body: RecordBody,
    sealer: &SigningKey,
) -> Vec<u8> {
    let body_bytes = encode(&body);
    let hash = record_hash(&body_bytes);
    let seal = sealer.sign(&seal_message(trial, &hash));
    let mut bytes = body_bytes;
    bytes.extend_from_slice(&seal.0);
    bytes
}
