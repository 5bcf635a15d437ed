#![forbid(unsafe_code)]
//! The test harness: a small deterministic trial on the embedded log, with an example domain
//! rule, and helpers to read, tamper with and forge records.
//!
//! Everything is derived from fixed seeds (keys, submission ids, the clock), so a test that
//! fails fails the same way every time.

pub mod kafka;
pub mod python;

use std::path::{Path, PathBuf};
use tl_ledger::reason::{Reason, Refusal};
use tl_ledger::rules::{DomainRules, RuleContext};
use tl_ledger::sequencer::{seal_unchecked, Outcome};
use tl_ledger::trust::TrustFile;
use tl_ledger::verify::PartitionInput;
use tl_ledger::writer::Draft;
use tl_ledger::{EmbeddedLedger, SigningKey};
use tl_schemas::events::{envelope_of, KeyEnrolled, KeyRevoked};
use tl_schemas::roles::Authority;
use tl_schemas::{
    Envelope, Link, Record, RecordBody, Reference, Role, SignedSubmission, Subject, SubmissionId,
    TrialId, UtcMicros, RECORD_VERSION, SIG_ALG_ED25519_ZIP215,
};

/// Private-use event type of the example rules: a free-text note about a patient or cohort.
pub const NOTE: u16 = 0xF001;
/// Private-use event type of the example rules: closes a subject; nothing may follow it.
pub const CLOSE: u16 = 0xF002;

/// The example domain rules the core is tested with: notes by labs or investigators about
/// patients and cohorts, and a `Close` after which the subject accepts nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExampleRules;

/// The example rules' per-subject state.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubjectStatus {
    /// Set by `Close`.
    pub closed: bool,
}

impl DomainRules for ExampleRules {
    type SubjectState = SubjectStatus;

    fn authority(&self, event_type: u16) -> Option<Authority> {
        match event_type {
            NOTE => Some(Authority::Roles(&[Role::Lab, Role::Investigator])),
            CLOSE => Some(Authority::Roles(&[Role::Investigator])),
            _ => None,
        }
    }

    fn check(&self, state: &SubjectStatus, ctx: &RuleContext<'_>) -> Result<(), Refusal> {
        let t = ctx.submission.envelope.event_type;
        if (t == NOTE || t == CLOSE) && ctx.submission.subject == Subject::Trial {
            return Err(Refusal::new(
                Reason::DomainRule,
                "notes are about patients or cohorts, not the trial",
            ));
        }
        if state.closed {
            return Err(Refusal::new(
                Reason::DomainRule,
                format!(
                    "{} is closed: nothing may follow Close",
                    ctx.submission.subject
                ),
            ));
        }
        Ok(())
    }

    fn apply(&self, state: &mut SubjectStatus, ctx: &RuleContext<'_>) {
        if ctx.submission.envelope.event_type == CLOSE {
            state.closed = true;
        }
    }
}

/// A key from a one-byte seed.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

/// The fixed keys of a test trial.
pub struct Keys {
    /// Trial root.
    pub root: SigningKey,
    /// Enrolled sequencer.
    pub sequencer: SigningKey,
    /// Admin.
    pub admin: SigningKey,
    /// Lab.
    pub lab: SigningKey,
    /// Investigator.
    pub investigator: SigningKey,
    /// Enrolled, then revoked.
    pub revoked: SigningKey,
    /// Never enrolled.
    pub outsider: SigningKey,
}

impl Keys {
    /// The fixed keys.
    pub fn fixed() -> Self {
        Keys {
            root: key(1),
            sequencer: key(2),
            admin: key(3),
            lab: key(4),
            investigator: key(5),
            revoked: key(6),
            outsider: key(7),
        }
    }
}

/// A test trial on the embedded log.
pub struct TestTrial {
    /// The data folder (the embedded store lives in `dir/ledger`).
    pub dir: PathBuf,
    /// Trial id.
    pub trial: TrialId,
    /// Keys.
    pub keys: Keys,
    /// The open ledger (holds the writer lock).
    pub ledger: EmbeddedLedger<ExampleRules>,
    /// Simulated clock, microseconds.
    pub clock: i64,
    /// Counter for deterministic submission ids.
    pub counter: u64,
}

impl TestTrial {
    /// Creates a trial in `dir`: root, sequencer, then admin, lab, investigator and a key that
    /// is revoked straight away.
    pub fn create(dir: &Path, trial: &str, partitions: u32) -> Self {
        let keys = Keys::fixed();
        let trial = TrialId::new(trial).expect("valid trial id");
        let clock = 1_764_000_000_000_000;
        let ledger = EmbeddedLedger::create(
            &dir.join("ledger"),
            &trial,
            partitions,
            "test trial",
            &keys.root,
            keys.sequencer.clone(),
            ExampleRules,
            UtcMicros(clock),
        )
        .expect("create ledger");
        TrustFile::new(&trial, keys.root.public_key(), partitions)
            .write(&dir.join("trust.json"))
            .expect("trust file");
        let mut t = TestTrial {
            dir: dir.to_path_buf(),
            trial,
            keys,
            ledger,
            clock,
            counter: 0,
        };
        for (k, name, role) in [
            (t.keys.admin.clone(), "Admin A", Role::Admin),
            (t.keys.lab.clone(), "Lab L", Role::Lab),
            (t.keys.investigator.clone(), "Dr I", Role::Investigator),
            (t.keys.revoked.clone(), "Dr Gone", Role::Investigator),
        ] {
            let env = envelope_of(&KeyEnrolled {
                public_key: k.public_key(),
                name: name.into(),
                role,
            });
            t.expect_sealed(Subject::Trial, env, &t.keys.root.clone(), vec![]);
        }
        let env = envelope_of(&KeyRevoked {
            key: t.keys.revoked.key_id(),
            reason: "left the trial".into(),
        });
        t.expect_sealed(Subject::Trial, env, &t.keys.root.clone(), vec![]);
        t
    }

    /// Reopens an existing trial's ledger (after `create` in another process or an earlier drop).
    pub fn open(dir: &Path, trial: &str) -> Self {
        let keys = Keys::fixed();
        let trust = TrustFile::read(&dir.join("trust.json")).expect("trust file");
        let (ledger, _) = EmbeddedLedger::open(
            &dir.join("ledger"),
            &trust,
            ExampleRules,
            keys.sequencer.clone(),
        )
        .expect("open ledger");
        // Submission ids must not repeat across reopenings: start the counter past anything an
        // earlier session of this ledger could have used.
        let total: u64 = (0..ledger.state().partition_count())
            .map(|p| ledger.state().len(p))
            .sum();
        TestTrial {
            dir: dir.to_path_buf(),
            trial: TrialId::new(trial).unwrap(),
            keys,
            ledger,
            clock: 1_764_000_100_000_000,
            counter: (1 << 40) + total * 1_000_000,
        }
    }

    /// A signed submission with a deterministic id and time.
    pub fn draft(
        &mut self,
        subject: Subject,
        envelope: Envelope,
        author: &SigningKey,
        cites: Vec<Reference>,
    ) -> SignedSubmission {
        self.counter += 1;
        self.clock += 1_000_000;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.counter.to_be_bytes());
        id[8..].copy_from_slice(&author.key_id().0[..8]);
        let mut d = Draft::new(subject, envelope);
        d.submission_id = SubmissionId(id);
        d.client_time = UtcMicros(self.clock);
        d.cites = cites;
        d.sign(&self.trial, author)
    }

    /// Submits a signed submission at the simulated time.
    pub fn submit(&mut self, s: SignedSubmission) -> Outcome {
        self.ledger
            .submit_decoded(s, UtcMicros(self.clock))
            .expect("submit")
    }

    /// Submits and insists it is sealed; returns a reference to the new record.
    pub fn expect_sealed(
        &mut self,
        subject: Subject,
        env: Envelope,
        author: &SigningKey,
        cites: Vec<Reference>,
    ) -> Reference {
        let s = self.draft(subject, env, author, cites);
        match self.submit(s) {
            Outcome::Sealed(s) => Reference {
                partition: s.record.body.partition,
                seq: s.record.body.seq,
                hash: s.hash,
            },
            other => panic!("expected a sealed record, got {other:?}"),
        }
    }

    /// A note about a subject.
    pub fn note(&mut self, subject: &str, author: &SigningKey, cites: Vec<Reference>) -> Reference {
        let env = Envelope::new(NOTE, 1, format!("note {}", self.counter).into_bytes());
        self.expect_sealed(Subject::parse(subject).unwrap(), env, author, cites)
    }

    /// Every partition's record bytes, from the store.
    pub fn records(&self) -> Vec<Vec<Vec<u8>>> {
        let log = self.ledger.log();
        (0..log.partition_count())
            .map(|p| log.read(p, 0, usize::MAX).expect("read"))
            .collect()
    }

    /// Replaces every partition's records (freshly framed with valid checksums).
    pub fn rewrite(&mut self, parts: &[Vec<Vec<u8>>]) {
        for (p, recs) in parts.iter().enumerate() {
            self.ledger
                .log_mut()
                .rewrite_partition(p as u32, recs)
                .expect("rewrite partition");
        }
    }

    /// Verifies what is stored, as `verify` does, against the pinned root.
    pub fn verify_stored(&self, pinned_root: [u8; 32]) -> tl_ledger::Report {
        let inputs = tl_ledger::log::read_embedded_for_verify(&self.dir.join("ledger"))
            .expect("read for verify");
        tl_ledger::verify_ledger(&self.trial, pinned_root, &inputs, ExampleRules)
    }

    /// Forges a record at the end of its subject's partition, properly linked and sealed by
    /// `sealer` but *not validated*: what a broken or compromised sequencer could write.
    pub fn forge(
        &self,
        signed: SignedSubmission,
        sealer: &SigningKey,
        tweak: impl FnOnce(&mut RecordBody),
    ) -> (u32, Vec<u8>) {
        let state = self.ledger.state();
        let p = state.partition_of(&signed.submission.subject);
        let ps = state.partition(p).unwrap();
        let mut body = RecordBody {
            version: RECORD_VERSION,
            partition: p,
            seq: state.len(p),
            prev_hash: state.head_hash(p),
            subject_prev: ps.subjects.get(&signed.submission.subject).map(|h| h.last),
            ordering_time: UtcMicros(self.clock + 1),
            registry_seq: state.registry().position(),
            submission: signed,
            sequencer: sealer.key_id(),
            seal_alg: SIG_ALG_ED25519_ZIP215,
        };
        tweak(&mut body);
        (p, seal_unchecked(&self.trial, body, sealer))
    }
}

impl TestTrial {
    /// Forges a record (see [`TestTrial::forge`]) and appends it to the stored ledger behind
    /// the sequencer's back. Returns its partition and position.
    pub fn append_forged(
        &mut self,
        signed: SignedSubmission,
        sealer: &SigningKey,
        tweak: impl FnOnce(&mut RecordBody),
    ) -> (u32, u64) {
        let (p, bytes) = self.forge(signed, sealer, tweak);
        let n = self.ledger.log().len(p);
        self.ledger
            .log_mut()
            .append(p, &[bytes])
            .expect("append forged record");
        (p, n)
    }
}

/// The reason code and detail of a refusal; panics (failing the test) on any other outcome.
pub fn refused(o: tl_ledger::Outcome) -> (String, String) {
    match o {
        tl_ledger::Outcome::Refused(r) => (r.reason.code().to_string(), r.detail),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A fresh test trial with 4 partitions in its own temporary folder (kept alive by the
/// returned guard).
pub fn given_a_trial(trial: &str) -> (tempfile::TempDir, TestTrial) {
    let dir = temp_dir();
    let t = TestTrial::create(dir.path(), trial, 4);
    (dir, t)
}

/// In-memory verification of record bytes (the frame layer passes by construction).
pub fn verify_parts(trial: &TrialId, root: [u8; 32], parts: &[Vec<Vec<u8>>]) -> tl_ledger::Report {
    let inputs: Vec<PartitionInput> = parts
        .iter()
        .map(|r| PartitionInput::clean(r.clone()))
        .collect();
    tl_ledger::verify_ledger(trial, root, &inputs, ExampleRules)
}

/// Decodes record bytes (test convenience).
pub fn decode(bytes: &[u8]) -> Record {
    tl_schemas::decode(bytes).expect("record decodes")
}

/// The link of a record reference.
pub fn link(r: &Reference) -> Link {
    Link {
        seq: r.seq,
        hash: r.hash,
    }
}

/// A fresh temporary folder under the target dir, removed on drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tl-test-")
        .tempdir()
        .expect("temp dir")
}
