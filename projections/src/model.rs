//! The trial as the verified records tell it, in memory: every patient's and cohort's records
//! (corrections applied, originals kept) and the latest cohort catalogue.
//!
//! The model is a pure fold over verified records. Each [`TrialModel::apply`] says which
//! subjects the record touched; the views rewrite those subjects' rows from the model, so a
//! view's rows depend only on the records applied, never on how they were batched.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use tl_ledger::compromise::CompromisedSince;
use tl_ledger::stream_verify::VerifiedRecord;
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::events::KeyRevoked;
use tl_schemas::events::{event_type, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::{decode, KeyId, Reference, Subject, UtcMicros};

/// One record of a patient or cohort, with its content as corrected.
#[derive(Clone, Debug)]
pub struct SubjectRecord {
    /// Where it is and its hash.
    pub at: Reference,
    /// Event type.
    pub event_type: u16,
    /// The payload in force: the latest correction's, else the original.
    pub payload: Vec<u8>,
    /// The original payload, when a correction replaced it.
    pub original: Option<Vec<u8>>,
    /// The correction in force, when there is one.
    pub corrected_by: Option<Reference>,
    /// The records it cites (evidence, the approval behind a slot, ...).
    pub cites: Vec<Reference>,
    /// The sequencer's time of the record (`ordering_time`).
    pub time: UtcMicros,
}

/// A `Corrected` record: what it corrects, why, the original and the new content.
#[derive(Clone, Debug)]
pub struct Correction {
    /// The correction's own record.
    pub at: Reference,
    /// The subject of the correction.
    pub subject: String,
    /// The corrected record.
    pub target: Reference,
    /// The corrected record's event type.
    pub event_type: u16,
    /// Why.
    pub reason: String,
    /// The original content, as JSON.
    pub original_json: String,
    /// The corrected content, as JSON.
    pub corrected_json: String,
}

/// What a record touched: the subjects whose rows must be rewritten.
#[derive(Clone, Debug, Default)]
pub struct Touched {
    /// Patients.
    pub patients: BTreeSet<Name>,
    /// Cohorts.
    pub cohorts: BTreeSet<Name>,
    /// Corrections recorded (their own positions).
    pub corrections: Vec<Reference>,
    /// Records newly flagged as signed by a compromised key ([`TrialModel::suspect`]).
    pub suspects: Vec<Reference>,
}

impl Touched {
    /// Adds another record's touches.
    pub fn merge(&mut self, other: Touched) {
        self.patients.extend(other.patients);
        self.cohorts.extend(other.cohorts);
        self.corrections.extend(other.corrections);
        self.suspects.extend(other.suspects);
    }

    /// Adds another record's touches without consuming them (clones only the names not
    /// already present).
    pub fn merge_from(&mut self, other: &Touched) {
        for n in &other.patients {
            if !self.patients.contains(n) {
                self.patients.insert(n.clone());
            }
        }
        for n in &other.cohorts {
            if !self.cohorts.contains(n) {
                self.cohorts.insert(n.clone());
            }
        }
        self.corrections.extend_from_slice(&other.corrections);
        self.suspects.extend_from_slice(&other.suspects);
    }
}

/// A record signed by a key after its recorded compromise (`keys revoke --compromised-since`,
/// [`tl_ledger::compromise`]): it verifies, but a thief may have signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspect {
    /// The record.
    pub at: Reference,
    /// Its author's key.
    pub key: KeyId,
    /// From when the key counts as compromised, as the revocation records it.
    pub since: CompromisedSince,
}

/// The trial in memory.
#[derive(Default)]
pub struct TrialModel {
    /// Each patient's records in ledger order.
    pub patients: BTreeMap<Name, Vec<SubjectRecord>>,
    /// Each cohort's records in ledger order.
    pub cohorts: BTreeMap<Name, Vec<SubjectRecord>>,
    /// Slot decisions about a patient, recorded in cohort partitions: (cohort, record index).
    pub slot_records: HashMap<Name, Vec<(Name, usize)>>,
    /// The latest cohort catalogue and the protocol version that carries it.
    pub catalogue: Option<(u32, CohortCatalogue, Reference)>,
    /// The definitions that catalogue states (format 1, or none: the format-1 ones).
    pub definitions: tl_clinical::Definitions,
    /// Every correction, by its own position.
    pub corrections: BTreeMap<(u32, u64), Correction>,
    /// Where each patient or cohort record is: (partition, seq) -> (subject, index).
    index: HashMap<(u32, u64), (Subject, usize)>,
    /// Records signed by a key after its recorded compromise, by position.
    pub suspect: BTreeMap<(u32, u64), Suspect>,
    /// Keys a revocation marks as compromised, and from when.
    compromised: HashMap<KeyId, CompromisedSince>,
    /// Every record by author: (record, registry position, ordering time). A revocation
    /// flags its key's records retroactively, so the model must know who signed what.
    authored: HashMap<KeyId, Vec<(Reference, u64, UtcMicros)>>,
}

fn reference(v: &VerifiedRecord) -> Reference {
    Reference {
        partition: v.partition,
        seq: v.seq,
        hash: v.hash,
    }
}

impl TrialModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one verified record; returns what it touched.
    pub fn apply(&mut self, v: &VerifiedRecord) -> Touched {
        let mut touched = Touched::default();
        let sub = &v.record.body.submission.submission;
        let at = reference(v);
        let t = sub.envelope.event_type;
        self.note_author(v, &mut touched);
        match &sub.subject {
            Subject::Trial => {
                if t == event_type::KEY_REVOKED {
                    if let Ok(r) = decode::<KeyRevoked>(&sub.envelope.payload) {
                        self.revoked(&r, &mut touched);
                    }
                }
                if t == event_type::PROTOCOL_AMENDED {
                    if let Ok(a) = decode::<ProtocolAmended>(&sub.envelope.payload) {
                        if let Ok(Some((cat, conventions))) =
                            protocol_catalogue(a.document_format, &a.document)
                        {
                            touched
                                .cohorts
                                .extend(cat.cohorts.iter().map(|c| c.cohort_id.clone()));
                            if let Some((_, old, _)) = &self.catalogue {
                                touched
                                    .cohorts
                                    .extend(old.cohorts.iter().map(|c| c.cohort_id.clone()));
                            }
                            self.catalogue = Some((a.protocol_version, cat, at));
                            // New definitions change every treated patient's derived outcome.
                            let defs = tl_clinical::records::definitions(conventions.as_ref());
                            if defs != self.definitions {
                                self.definitions = defs;
                                touched.patients.extend(self.patients.keys().cloned());
                            }
                        }
                    }
                }
            }
            Subject::Patient(name) | Subject::Cohort(name) => {
                let is_patient = matches!(sub.subject, Subject::Patient(_));
                if t == ct::CORRECTED {
                    if let (Ok(c), Some(target)) = (
                        decode::<Corrected>(&sub.envelope.payload),
                        sub.cites.first(),
                    ) {
                        self.correct(at, &sub.subject, *target, c, &mut touched);
                    }
                }
                let list = if is_patient {
                    self.patients.entry(name.clone()).or_default()
                } else {
                    self.cohorts.entry(name.clone()).or_default()
                };
                self.index
                    .insert((at.partition, at.seq), (sub.subject.clone(), list.len()));
                list.push(SubjectRecord {
                    at,
                    event_type: t,
                    payload: sub.envelope.payload.clone(),
                    original: None,
                    corrected_by: None,
                    cites: sub.cites.clone(),
                    time: v.record.body.ordering_time,
                });
                if is_patient {
                    touched.patients.insert(name.clone());
                } else {
                    touched.cohorts.insert(name.clone());
                    let idx = list.len() - 1;
                    let patient = match t {
                        ct::SLOT_ASSIGNED => decode::<SlotAssigned>(&sub.envelope.payload)
                            .ok()
                            .map(|s| s.patient),
                        ct::SLOT_REFUSED => decode::<SlotRefused>(&sub.envelope.payload)
                            .ok()
                            .map(|s| s.patient),
                        _ => None,
                    };
                    if let Some(p) = patient {
                        self.slot_records
                            .entry(p.clone())
                            .or_default()
                            .push((name.clone(), idx));
                        touched.patients.insert(p);
                    }
                }
            }
        }
        touched
    }

    /// Records who signed `v`, and flags it when its key is already marked compromised from a
    /// point it falls after (a record may rely on a registry position before the revocation
    /// and still be sequenced after it).
    fn note_author(&mut self, v: &VerifiedRecord, touched: &mut Touched) {
        let body = &v.record.body;
        let key = body.submission.submission.author;
        let at = reference(v);
        if let Some(since) = self.compromised.get(&key).copied() {
            if since.covers(body.registry_seq, body.ordering_time) {
                self.flag(Suspect { at, key, since }, touched);
            }
        }
        self.authored
            .entry(key)
            .or_default()
            .push((at, body.registry_seq, body.ordering_time));
    }

    /// A revocation: when its reason marks the key compromised, flags the key's records from
    /// that point.
    fn revoked(&mut self, r: &KeyRevoked, touched: &mut Touched) {
        let Some(since) = CompromisedSince::from_reason(&r.reason) else {
            return;
        };
        self.compromised.insert(r.key, since);
        let signed = self.authored.get(&r.key).cloned().unwrap_or_default();
        for (at, registry_seq, time) in signed {
            if since.covers(registry_seq, time) {
                self.flag(
                    Suspect {
                        at,
                        key: r.key,
                        since,
                    },
                    touched,
                );
            }
        }
    }

    /// Flags a record. The rows citing it are not rewritten from here (the model may still
    /// be replaying records a view consumed long ago): each view marks the rows that cite a
    /// newly flagged record itself ([`Touched::suspects`]), whatever its positions.
    fn flag(&mut self, s: Suspect, touched: &mut Touched) {
        let at = s.at;
        if self.suspect.insert((at.partition, at.seq), s).is_none() {
            touched.suspects.push(at);
        }
    }

    /// Whether any of `refs` was signed by a key after its recorded compromise.
    pub fn is_suspect(&self, refs: impl IntoIterator<Item = Reference>) -> bool {
        refs.into_iter()
            .any(|r| self.suspect.contains_key(&(r.partition, r.seq)))
    }

    fn correct(
        &mut self,
        at: Reference,
        subject: &Subject,
        target: Reference,
        c: Corrected,
        touched: &mut Touched,
    ) {
        let Some((target_subject, idx)) = self.index.get(&(target.partition, target.seq)).cloned()
        else {
            return;
        };
        let rec = match &target_subject {
            Subject::Patient(n) => {
                touched.patients.insert(n.clone());
                self.patients.get_mut(n).and_then(|l| l.get_mut(idx))
            }
            Subject::Cohort(n) => {
                touched.cohorts.insert(n.clone());
                self.cohorts.get_mut(n).and_then(|l| l.get_mut(idx))
            }
            Subject::Trial => None,
        };
        let Some(rec) = rec else { return };
        if c.event_type != rec.event_type {
            // A correction must keep the type; one that does not is shown, not applied.
            tracing::warn!(%at, "correction of {} changes its event type; not applied", target);
        }
        let original = rec.original.clone().unwrap_or_else(|| rec.payload.clone());
        let correction = Correction {
            at,
            subject: subject.to_string(),
            target,
            event_type: rec.event_type,
            reason: c.reason.clone(),
            original_json: render(rec.event_type, &original),
            corrected_json: render(c.event_type, &c.payload),
        };
        if c.event_type == rec.event_type {
            rec.original = Some(original);
            rec.payload = c.payload;
            rec.corrected_by = Some(at);
        }
        self.corrections.insert((at.partition, at.seq), correction);
        touched.corrections.push(at);
    }

    /// A cohort's catalogue entry.
    pub fn definition(&self, cohort: &Name) -> Option<&CohortDefinition> {
        self.catalogue
            .as_ref()
            .and_then(|(_, c, _)| c.cohorts.iter().find(|d| &d.cohort_id == cohort))
    }

    /// The slot records (in cohort partitions) about a patient.
    pub fn slots_of(&self, patient: &Name) -> Vec<(&Name, &SubjectRecord)> {
        self.slot_records
            .get(patient)
            .map(|v| {
                v.iter()
                    .filter_map(|(c, i)| Some((c, self.cohorts.get(c)?.get(*i)?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A payload as JSON, for the corrections tables (the type's field names; unknown types as
/// hex).
pub fn render(event_type: u16, payload: &[u8]) -> String {
    macro_rules! as_json {
        ($($c:ident => $ty:ty),* $(,)?) => {
            match event_type {
                $(ct::$c => decode::<$ty>(payload).ok().and_then(|v| serde_json::to_string(&v).ok()),)*
                _ => None,
            }
        };
    }
    as_json!(
        PATIENT_REGISTERED => PatientRegistered,
        CONSENT_RECORDED => ConsentRecorded,
        CONSENT_WITHDRAWN => ConsentWithdrawn,
        SEQUENCING_RESULT_REPORTED => SequencingResultReported,
        MATCH_PROPOSED => MatchProposed,
        MATCH_DECIDED => MatchDecided,
        SLOT_ASSIGNED => SlotAssigned,
        SLOT_REFUSED => SlotRefused,
        PATIENT_ENROLLED => PatientEnrolled,
        DOSE_ADMINISTERED => DoseAdministered,
        DOSE_MODIFIED => DoseModified,
        ADVERSE_EVENT_REPORTED => AdverseEventReported,
        ADVERSE_EVENT_UPDATED => AdverseEventUpdated,
        RESPONSE_ASSESSED => ResponseAssessed,
        TREATMENT_ENDED => TreatmentEnded,
        SURVIVAL_STATUS_RECORDED => SurvivalStatusRecorded,
        DEATH_RECORDED => DeathRecorded,
        COHORT_STAGE_DECIDED => CohortStageDecided,
    )
    .unwrap_or_else(|| serde_json::json!({ "hex": hex_of(payload) }).to_string())
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
