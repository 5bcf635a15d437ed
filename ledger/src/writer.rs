//! Building and signing submissions: the writer's side.

use crate::crypto::SigningKey;
use tl_schemas::{
    Envelope, Meaning, Reference, SignedSubmission, Subject, Submission, SubmissionId, TrialId,
    UtcMicros, SUBMISSION_VERSION,
};

/// What a writer wants to submit, before it is signed.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Whom it is about.
    pub subject: Subject,
    /// The event.
    pub envelope: Envelope,
    /// What the signature means.
    pub meaning: Meaning,
    /// Records it cites.
    pub cites: Vec<Reference>,
    /// The registry position the author relies on.
    pub min_registry_seq: u64,
    /// The submission id; choose it once and reuse it on retries.
    pub submission_id: SubmissionId,
    /// The author's clock.
    pub client_time: UtcMicros,
}

impl Draft {
    /// A draft with a random submission id, the current time, no citations.
    pub fn new(subject: Subject, envelope: Envelope) -> Self {
        Draft {
            subject,
            envelope,
            meaning: Meaning::Authored,
            cites: Vec::new(),
            min_registry_seq: 0,
            submission_id: SubmissionId(rand::random()),
            client_time: UtcMicros::now(),
        }
    }

    /// Signs the draft for `trial` with `key`.
    pub fn sign(self, trial: &TrialId, key: &SigningKey) -> SignedSubmission {
        let submission = Submission {
            version: SUBMISSION_VERSION,
            trial_id: trial.clone(),
            submission_id: self.submission_id,
            subject: self.subject,
            envelope: self.envelope,
            author: key.key_id(),
            meaning: self.meaning,
            client_time: self.client_time,
            min_registry_seq: self.min_registry_seq,
            cites: self.cites,
        };
        let signature = key.sign(&submission.signing_message());
        SignedSubmission {
            submission,
            signature,
        }
    }
}
