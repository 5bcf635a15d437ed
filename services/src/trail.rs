//! The decision trail of a patient or a cohort (`trial-ledger trail`): every record of the
//! subject, found by following its back-links (`subject_prev`) from the latest record to the
//! first and cross-checked against a forward scan, so a left-out record is detected. For a
//! patient, the references into the cohort's partition are followed too (the slot the
//! enrolment cites, the cohort's later stage decisions), and the patient's best overall
//! response and clinical benefit are derived from the assessments with tl-clinical.
//!
//! Pure over decoded records and the registry: the command adds the inclusion proofs.

use serde::Serialize;
use std::collections::HashMap;
use tl_ledger::registry::{Author, Registry};
use tl_schemas::clinical::{self as c, clinical_type as ct};
use tl_schemas::events::{self as ev, event_type};
use tl_schemas::{decode, Date, Hash32, Record, Subject};

/// A record of the ledger with its hash.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The decoded record.
    pub record: Record,
    /// Its record hash (the Merkle leaf).
    pub hash: Hash32,
}

/// The ledger's records by partition, in sequence order.
pub type Partitions = [Vec<Entry>];

/// Why no trail could be built.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// The subject has no records (an error in the request: exit 2).
    #[error("{0}")]
    Unknown(String),
    /// The back-links disagree with the forward scan, or a reference does not resolve: the
    /// ledger is incomplete or inconsistent (a negative verdict: exit 1).
    #[error("{0}")]
    Incomplete(String),
}

/// A pointer to another record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordRef {
    /// Partition.
    pub partition: u32,
    /// Sequence number.
    pub seq: u64,
    /// Record hash.
    pub record_hash: Hash32,
    /// Its event type name.
    pub event: String,
}

/// Who signed a record.
#[derive(Clone, Debug, Serialize)]
pub struct Signer {
    /// Key id.
    pub key_id: String,
    /// Printed name from the registry ("trial root" for the root key).
    pub name: String,
    /// Role from the registry at the record's registry position, or "trial root".
    pub role: String,
}

/// The 21 CFR 11.50 signature manifestation.
#[derive(Clone, Debug, Serialize)]
pub struct Manifestation {
    /// Printed name of the signer.
    pub printed_name: String,
    /// Date and time of signing (the signer's clock, UTC).
    pub signed_at: String,
    /// Meaning: authored, reviewed or approved.
    pub meaning: String,
}

/// An inclusion proof of a trail record, as the command attaches it.
#[derive(Clone, Debug, Serialize)]
pub struct TrailProof {
    /// The leaf index (the record's seq).
    pub leaf_index: u64,
    /// Tree size proved against.
    pub tree_size: u64,
    /// Root of that tree.
    pub root: Hash32,
    /// Audit path, bottom up.
    pub path: Vec<Hash32>,
    /// Whether the root is a published checkpoint signed by an enrolled sequencer key.
    pub signed: bool,
    /// `checkpoint` or `unsigned-root`.
    pub against: String,
    /// When the record is newer than the latest published checkpoint of its partition.
    pub newer_than_checkpoint: bool,
    /// Whether the proof was checked here.
    pub verified: bool,
    /// The signed checkpoint note, when against one.
    pub checkpoint: Option<String>,
}

/// One record of a trail.
#[derive(Clone, Debug, Serialize)]
pub struct TrailRecord {
    /// Partition.
    pub partition: u32,
    /// Sequence number.
    pub seq: u64,
    /// Record hash.
    pub record_hash: Hash32,
    /// The record's subject.
    pub subject: String,
    /// Event type name.
    pub event: String,
    /// Event type number.
    pub event_type: u16,
    /// One-line human summary of the payload.
    pub summary: String,
    /// The sequencer's ordering time (UTC).
    pub ordering_time: String,
    /// The author's clock when signing (UTC).
    pub client_time: String,
    /// Who authored it.
    pub author: Signer,
    /// Set when the author's key was later revoked as compromised from a point this record
    /// falls after (`keys revoke --compromised-since`): the record still verifies, but a thief
    /// may have signed it. Says from when.
    pub suspect: Option<String>,
    /// Signature manifestation.
    pub manifestation: Manifestation,
    /// Protocol version in force at the record's registry position.
    pub protocol_version: Option<u32>,
    /// The record's registry position.
    pub registry_seq: u64,
    /// Records it cites.
    pub cites: Vec<RecordRef>,
    /// Corrections of this record (same subject, type `Corrected`, citing it first).
    pub corrected_by: Vec<RecordRef>,
    /// Follow-ups (for an adverse event report: the updates with the same AE id).
    pub follow_ups: Vec<RecordRef>,
    /// Why a record of another subject is in the trail, if it is.
    pub via: Option<String>,
    /// For a response assessment whose investigator-reported response differs from the
    /// RECIST 1.1 response computed from its measurements: both, in words.
    pub disagreement: Option<String>,
    /// Inclusion proof, attached by the command.
    pub proof: Option<TrailProof>,
}

/// The derived benefit determination of a patient.
#[derive(Clone, Debug, Serialize)]
pub struct Derived {
    /// Best overall response (RECIST 1.1 with confirmation), or `None` when not computable.
    pub best_overall_response: Option<String>,
    /// Whether the patient has clinical benefit (DRUP definition).
    pub clinical_benefit: Option<bool>,
    /// In words.
    pub summary: String,
    /// The first dose date the durations are measured from.
    pub first_dose: Option<String>,
    /// The assessment records the determination rests on.
    pub evidence: Vec<RecordRef>,
}

/// A decision trail.
#[derive(Clone, Debug, Serialize)]
pub struct Trail {
    /// The subject.
    pub subject: String,
    /// The subject's partition.
    pub partition: u32,
    /// The records, in order.
    pub records: Vec<TrailRecord>,
    /// The benefit determination (patients with at least one dose).
    pub derived: Option<Derived>,
    /// A patient's key facts, for the head of the printed trail.
    pub header: Option<PatientHeader>,
}

/// A patient's key facts, from the records in force (corrections applied).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PatientHeader {
    /// The cohort the patient was enrolled in.
    pub cohort: Option<String>,
    /// The drug of the first dose.
    pub drug: Option<String>,
    /// Date of enrolment.
    pub enrolled_on: Option<String>,
    /// Date of the first dose.
    pub first_dose: Option<String>,
    /// Date treatment ended, and why.
    pub treatment_ended: Option<String>,
    /// Date of death.
    pub died_on: Option<String>,
}

/// How `render` prints citation lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Citations {
    /// The first few of a long list, then how many more (the default: a cohort decision can
    /// cite hundreds of records).
    Folded,
    /// Every citation (`trail --full`).
    Full,
}

/// Citations printed before a list is folded.
const FOLDED_CITATIONS: usize = 4;

/// Builds the registry from partition 0's records.
pub fn registry_of(trial: &tl_schemas::TrialId, root: [u8; 32], p0: &[Entry]) -> Registry {
    let mut r = Registry::new(trial.clone(), root);
    for e in p0 {
        r.apply(&e.record.body.submission.submission);
    }
    r
}

/// The name of an event type.
pub fn type_name(t: u16) -> String {
    event_type::core_name(t)
        .or_else(|| ct::name(t))
        .map_or_else(|| format!("type 0x{t:04x}"), str::to_string)
}

fn join<T: std::fmt::Debug>(v: &[T]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A dose unit as clinicians write it.
fn unit_name(u: c::DoseUnit) -> &'static str {
    match u {
        c::DoseUnit::Mg => "mg",
        c::DoseUnit::MgPerM2 => "mg/m2",
        c::DoseUnit::MgPerKg => "mg/kg",
        c::DoseUnit::Ug => "ug",
        c::DoseUnit::Iu => "IU",
    }
}

/// A RECIST overall response in words, with its abbreviation.
fn response_name(r: c::OverallResponse) -> &'static str {
    match r {
        c::OverallResponse::CompleteResponse => "complete response (CR)",
        c::OverallResponse::PartialResponse => "partial response (PR)",
        c::OverallResponse::StableDisease => "stable disease (SD)",
        c::OverallResponse::ProgressiveDisease => "progressive disease (PD)",
        c::OverallResponse::NotEvaluable => "not evaluable (NE)",
    }
}

fn milli(v: u64) -> String {
    if v.is_multiple_of(1000) {
        format!("{}", v / 1000)
    } else {
        format!("{}.{:03}", v / 1000, v % 1000)
            .trim_end_matches('0')
            .to_string()
    }
}

fn alteration(a: &c::Alteration) -> String {
    let mut s = format!("{} {:?}", a.gene, a.kind);
    if let Some(p) = &a.protein_change {
        s += &format!(" {p}");
    }
    if let Some(cn) = a.copy_number_x100 {
        s += &format!(" CN {}.{:02}", cn / 100, cn % 100);
    }
    if let Some(p) = &a.fusion_partner {
        s += &format!(" with {p}");
    }
    if let Some(v) = a.vaf_bp {
        s += &format!(" VAF {}.{:02}%", v / 100, v % 100);
    }
    s
}

fn partial(d: &tl_schemas::PartialDate) -> String {
    match d {
        tl_schemas::PartialDate::Year(y) => format!("{y:04}"),
        tl_schemas::PartialDate::YearMonth(y, m) => format!("{y:04}-{m:02}"),
        tl_schemas::PartialDate::Full(d) => d.to_string(),
    }
}

/// A one-line human summary of an event payload.
pub fn summarize(event_type: u16, payload: &[u8]) -> String {
    fn d<T: Serialize + serde::de::DeserializeOwned>(p: &[u8]) -> Option<T> {
        decode(p).ok()
    }
    let s = match event_type {
        event_type::TRIAL_REGISTERED => d::<ev::TrialRegistered>(payload).map(|e| {
            format!("trial {:?}, {} partitions", e.title, e.partition_count)
        }),
        event_type::KEY_ENROLLED => d::<ev::KeyEnrolled>(payload)
            .map(|e| format!("enrols {} as {}", e.name, e.role)),
        event_type::KEY_REVOKED => {
            d::<ev::KeyRevoked>(payload).map(|e| format!("revokes {}: {}", e.key, e.reason))
        }
        event_type::PROTOCOL_AMENDED => d::<ev::ProtocolAmended>(payload)
            .map(|e| format!("protocol version {}", e.protocol_version)),
        ct::PATIENT_REGISTERED => d::<c::PatientRegistered>(payload).map(|e| {
            format!(
                "tumour type {} at site {}, registered {}",
                e.tumour_type, e.site, e.registered_on
            )
        }),
        ct::CONSENT_RECORDED => d::<c::ConsentRecorded>(payload).map(|e| {
            format!("consent form {} signed {}", e.form_version, e.consented_on)
        }),
        ct::CONSENT_WITHDRAWN => d::<c::ConsentWithdrawn>(payload).map(|e| {
            format!(
                "consent withdrawn {} (follow-up allowed: {}): {}",
                e.withdrawn_on, e.follow_up_allowed, e.reason
            )
        }),
        ct::SEQUENCING_RESULT_REPORTED => d::<c::SequencingResultReported>(payload).map(|e| {
            format!(
                "sample {}, purity {}%, MSI {:?}, TMB {}.{:02}/Mb, alterations: {}; reported {}",
                e.sample_id,
                e.purity_pct,
                e.msi,
                e.tmb_mut_per_mb_x100 / 100,
                e.tmb_mut_per_mb_x100 % 100,
                if e.alterations.is_empty() {
                    "none".to_string()
                } else {
                    e.alterations
                        .iter()
                        .map(alteration)
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                e.reported_on
            )
        }),
        ct::MATCH_PROPOSED => d::<c::MatchProposed>(payload).map(|e| {
            let cands = if e.candidates.is_empty() {
                "no actionable match".to_string()
            } else {
                e.candidates
                    .iter()
                    .map(|m| {
                        format!(
                            "#{} {} (rule: {}; evidence: {})",
                            m.rank, m.cohort_id, m.rule, m.evidence
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            format!(
                "proposes {cands} under protocol v{}; {} open cohorts not matched",
                e.protocol_version,
                e.not_matched.len()
            )
        }),
        ct::MATCH_DECIDED => d::<c::MatchDecided>(payload).map(|e| {
            let what = match &e.decision {
                c::MtbDecision::Approved { cohort_id } => format!("MTB approved cohort {cohort_id}"),
                c::MtbDecision::Rejected => "MTB rejected".to_string(),
            };
            format!("{what} on {}: {}", e.decided_on, e.rationale)
        }),
        ct::SLOT_ASSIGNED => d::<c::SlotAssigned>(payload).map(|e| {
            format!(
                "slot {} (stage {}) assigned to patient {}",
                e.slot, e.stage, e.patient
            )
        }),
        ct::SLOT_REFUSED => d::<c::SlotRefused>(payload)
            .map(|e| format!("slot refused to patient {}: {}", e.patient, e.reason)),
        ct::PATIENT_ENROLLED => d::<c::PatientEnrolled>(payload)
            .map(|e| format!("enrolled in cohort {} on {}", e.cohort_id, e.enrolled_on)),
        ct::DOSE_ADMINISTERED => d::<c::DoseAdministered>(payload).map(|e| {
            format!(
                "{} {} {} {}, cycle {} day {}, on {}",
                e.drug,
                milli(e.dose_milli),
                unit_name(e.unit),
                format!("{:?}", e.route).to_lowercase(),
                e.cycle,
                e.day,
                e.administered_on
            )
        }),
        ct::DOSE_MODIFIED => d::<c::DoseModified>(payload).map(|e| {
            let a = match e.action {
                c::DoseAction::Reduced { new_dose_milli } => {
                    format!("dose reduced to {}", milli(new_dose_milli))
                }
                c::DoseAction::Interrupted => "dose interrupted".into(),
                c::DoseAction::Resumed => "dose resumed".into(),
                c::DoseAction::Discontinued => "dose discontinued".into(),
            };
            format!("{a} on {}: {}", e.modified_on, e.reason)
        }),
        ct::ADVERSE_EVENT_REPORTED => d::<c::AdverseEventReported>(payload).map(|e| {
            format!(
                "AE #{} {} grade {}, {}, {}, attribution {:?}, onset {}, aware {}, outcome {:?}",
                e.ae_id,
                e.ctcae_term,
                e.grade,
                if e.serious.is_empty() {
                    "not serious".to_string()
                } else {
                    format!("serious ({})", join(&e.serious))
                },
                if e.expected { "expected" } else { "unexpected" },
                e.attribution,
                partial(&e.onset),
                e.awareness,
                e.outcome
            )
        }),
        ct::ADVERSE_EVENT_UPDATED => d::<c::AdverseEventUpdated>(payload).map(|e| {
            format!(
                "AE #{} now grade {}, {}, attribution {:?}, outcome {:?}{}, as of {}",
                e.ae_id,
                e.grade,
                if e.serious.is_empty() {
                    "not serious".to_string()
                } else {
                    format!("serious ({})", join(&e.serious))
                },
                e.attribution,
                e.outcome,
                e.resolved_on
                    .map(|r| format!(", resolved {r}"))
                    .unwrap_or_default(),
                e.awareness
            )
        }),
        ct::RESPONSE_ASSESSED => d::<c::ResponseAssessed>(payload).map(|e| {
            let sum: u64 = e.targets.iter().map(|t| u64::from(t.diameter_mm10)).sum();
            format!(
                "{}assessment {}: {} targets, sum {}.{} mm, new lesions: {}, non-target {:?}; investigator: {}",
                if e.baseline { "baseline " } else { "" },
                e.assessed_on,
                e.targets.len(),
                sum / 10,
                sum % 10,
                if e.new_lesions { "yes" } else { "no" },
                e.non_target,
                response_name(e.investigator_response)
            )
        }),
        ct::TREATMENT_ENDED => d::<c::TreatmentEnded>(payload)
            .map(|e| format!("treatment ended {}: {:?}: {}", e.ended_on, e.reason, e.detail)),
        ct::SURVIVAL_STATUS_RECORDED => d::<c::SurvivalStatusRecorded>(payload)
            .map(|e| format!("known alive on {}", e.last_known_alive)),
        ct::DEATH_RECORDED => d::<c::DeathRecorded>(payload).map(|e| {
            format!(
                "died {}: {} (treatment-related: {})",
                e.died_on,
                e.cause,
                if e.treatment_related { "yes" } else { "no" }
            )
        }),
        ct::COHORT_STAGE_DECIDED => d::<c::CohortStageDecided>(payload).map(|e| {
            format!(
                "cohort now {:?}: {} enrolled, {} evaluable, {} with benefit, {} not evaluable",
                e.status, e.enrolled, e.evaluable, e.benefits, e.not_evaluable
            )
        }),
        ct::CORRECTED => d::<c::Corrected>(payload).map(|e| {
            format!(
                "corrects a {} because: {}; corrected content: {}",
                type_name(e.event_type),
                e.reason,
                summarize(e.event_type, &e.payload)
            )
        }),
        _ => None,
    };
    s.unwrap_or_else(|| format!("({} bytes, not decoded)", payload.len()))
}

fn reference(parts: &Partitions, p: u32, seq: u64) -> Option<RecordRef> {
    let e = parts.get(p as usize)?.get(seq as usize)?;
    Some(RecordRef {
        partition: p,
        seq,
        record_hash: e.hash,
        event: type_name(e.record.body.submission.submission.envelope.event_type),
    })
}

/// The subject's records in its partition, by following the back-links from the latest one,
/// cross-checked against a forward scan. Returns sequence numbers in order.
pub fn subject_records(
    parts: &Partitions,
    partition: u32,
    subject: &Subject,
) -> Result<Vec<u64>, TrailError> {
    let Some(records) = parts.get(partition as usize) else {
        return Err(TrailError::Unknown(format!(
            "partition {partition} of {subject} does not exist"
        )));
    };
    let forward: Vec<u64> = records
        .iter()
        .filter(|e| e.record.body.submission.submission.subject == *subject)
        .map(|e| e.record.body.seq)
        .collect();
    let Some(&latest) = forward.last() else {
        return Err(TrailError::Unknown(format!(
            "no records of {subject} in the ledger (partition {partition})"
        )));
    };
    let mut back = vec![latest];
    let mut at = &records[latest as usize];
    while let Some(link) = at.record.body.subject_prev {
        let Some(prev) = records.get(link.seq as usize) else {
            return Err(TrailError::Incomplete(format!(
                "record {partition}/{} of {subject} links back to seq {}, which is not in the partition",
                at.record.body.seq, link.seq
            )));
        };
        if prev.hash != link.hash || prev.record.body.submission.submission.subject != *subject {
            return Err(TrailError::Incomplete(format!(
                "record {partition}/{} of {subject} links back to {partition}/{} with hash {}, but that record is {} of {}",
                at.record.body.seq,
                link.seq,
                link.hash,
                prev.hash,
                prev.record.body.submission.submission.subject
            )));
        }
        if link.seq >= at.record.body.seq {
            return Err(TrailError::Incomplete(format!(
                "record {partition}/{} of {subject} links forward to seq {}",
                at.record.body.seq, link.seq
            )));
        }
        back.push(link.seq);
        at = prev;
    }
    back.reverse();
    if back != forward {
        let missing: Vec<String> = forward
            .iter()
            .filter(|s| !back.contains(s))
            .map(|s| format!("{partition}/{s}"))
            .collect();
        return Err(TrailError::Incomplete(format!(
            "the back-links of {subject} reach {} records but a forward scan finds {}: not on the chain of back-links: {}",
            back.len(),
            forward.len(),
            if missing.is_empty() { "none (order differs)".into() } else { missing.join(", ") }
        )));
    }
    Ok(back)
}

fn trail_record(parts: &Partitions, registry: &Registry, p: u32, seq: u64) -> TrailRecord {
    let e = &parts[p as usize][seq as usize];
    let b = &e.record.body;
    let sub = &b.submission.submission;
    let name = registry.display_name(&sub.author);
    let role = match registry.author_at(&sub.author, b.registry_seq) {
        Ok(Author::Root) => "trial root".to_string(),
        Ok(Author::Key(r)) => r.to_string(),
        Err(_) => registry
            .keys()
            .get(&sub.author)
            .map_or_else(|| "unknown".into(), |k| format!("{} (not active)", k.role)),
    };
    TrailRecord {
        partition: p,
        seq,
        record_hash: e.hash,
        subject: sub.subject.to_string(),
        event: type_name(sub.envelope.event_type),
        event_type: sub.envelope.event_type,
        summary: summarize(sub.envelope.event_type, &sub.envelope.payload),
        ordering_time: b.ordering_time.to_rfc3339(),
        client_time: sub.client_time.to_rfc3339(),
        author: Signer {
            key_id: sub.author.to_hex(),
            name: name.clone(),
            role,
        },
        suspect: tl_ledger::compromise::flag(registry, &e.record).map(|since| {
            format!(
                "signed by a key revoked as compromised since {}",
                match since {
                    tl_ledger::compromise::CompromisedSince::RegistrySeq(n) =>
                        format!("registry position {n}"),
                    tl_ledger::compromise::CompromisedSince::Time(t) => t.to_rfc3339(),
                }
            )
        }),
        manifestation: Manifestation {
            printed_name: name,
            signed_at: sub.client_time.to_rfc3339(),
            meaning: sub.meaning.as_str().into(),
        },
        protocol_version: registry
            .protocol_at(b.registry_seq)
            .map(|v| v.amendment.protocol_version),
        registry_seq: b.registry_seq,
        cites: sub
            .cites
            .iter()
            .map(|r| {
                reference(parts, r.partition, r.seq).unwrap_or(RecordRef {
                    partition: r.partition,
                    seq: r.seq,
                    record_hash: r.hash,
                    event: "unresolved".into(),
                })
            })
            .collect(),
        corrected_by: Vec::new(),
        follow_ups: Vec::new(),
        via: None,
        disagreement: None,
        proof: None,
    }
}

fn payload_of(e: &Entry) -> (u16, &[u8]) {
    let env = &e.record.body.submission.submission.envelope;
    (env.event_type, &env.payload)
}

/// Builds the trail of `subject` (a patient or a cohort).
pub fn build(
    parts: &Partitions,
    registry: &Registry,
    partition: u32,
    subject: &Subject,
) -> Result<Trail, TrailError> {
    if matches!(subject, Subject::Trial) {
        return Err(TrailError::Unknown(
            "a trail is for a patient (patient:ID) or a cohort (cohort:ID)".into(),
        ));
    }
    let seqs = subject_records(parts, partition, subject)?;
    let own = &parts[partition as usize];
    let mut out: Vec<TrailRecord> = seqs
        .iter()
        .map(|&s| trail_record(parts, registry, partition, s))
        .collect();

    // Corrections and follow-ups, among the subject's own records.
    let mut ae_reports: HashMap<u32, usize> = HashMap::new();
    for (i, &s) in seqs.iter().enumerate() {
        let e = &own[s as usize];
        let (t, payload) = payload_of(e);
        let me = reference(parts, partition, s).expect("in range");
        match t {
            ct::CORRECTED => {
                if let Some(first) = e.record.body.submission.submission.cites.first() {
                    if let Some(j) = out.iter().position(|r| {
                        r.partition == first.partition
                            && r.seq == first.seq
                            && r.record_hash == first.hash
                    }) {
                        out[j].corrected_by.push(me);
                    }
                }
            }
            ct::ADVERSE_EVENT_REPORTED => {
                if let Ok(a) = decode::<c::AdverseEventReported>(payload) {
                    ae_reports.insert(a.ae_id, i);
                }
            }
            ct::ADVERSE_EVENT_UPDATED => {
                if let Ok(a) = decode::<c::AdverseEventUpdated>(payload) {
                    if let Some(&j) = ae_reports.get(&a.ae_id) {
                        out[j].follow_ups.push(me);
                    }
                }
            }
            _ => {}
        }
    }

    let (mut derived, mut header) = (None, None);
    if let Subject::Patient(_) = subject {
        // The slots the enrolments cite, and the cohort's later stage decisions.
        let mut extra: Vec<TrailRecord> = Vec::new();
        for &s in &seqs {
            let e = &own[s as usize];
            let (t, payload) = payload_of(e);
            if t != ct::PATIENT_ENROLLED {
                continue;
            }
            let Ok(enrolled) = decode::<c::PatientEnrolled>(payload) else {
                continue;
            };
            let cohort = Subject::Cohort(enrolled.cohort_id.clone());
            let mut cohort_partition = None;
            for r in &e.record.body.submission.submission.cites {
                let Some(target) = parts
                    .get(r.partition as usize)
                    .and_then(|p| p.get(r.seq as usize))
                else {
                    return Err(TrailError::Incomplete(format!(
                        "the enrolment {partition}/{s} cites {}/{}, which is not in the ledger",
                        r.partition, r.seq
                    )));
                };
                if target.hash != r.hash {
                    return Err(TrailError::Incomplete(format!(
                        "the enrolment {partition}/{s} cites {}/{} with hash {}, but that record is {}",
                        r.partition, r.seq, r.hash, target.hash
                    )));
                }
                if payload_of(target).0 == ct::SLOT_ASSIGNED {
                    let mut tr = trail_record(parts, registry, r.partition, r.seq);
                    tr.via = Some(format!("cited by the enrolment {partition}/{s}"));
                    extra.push(tr);
                    cohort_partition = Some(r.partition);
                }
            }
            if let Some(cp) = cohort_partition {
                for ce in &parts[cp as usize] {
                    let b = &ce.record.body;
                    if b.submission.submission.subject == cohort
                        && b.submission.submission.envelope.event_type == ct::COHORT_STAGE_DECIDED
                        && b.ordering_time > e.record.body.ordering_time
                    {
                        let mut tr = trail_record(parts, registry, cp, b.seq);
                        tr.via = Some(format!("decision of {cohort} after the enrolment"));
                        extra.push(tr);
                    }
                }
            }
        }
        out.extend(extra);
        // One ordering clock across partitions (embedded sequencer): merge by ordering time,
        // keeping the patient's own records in their sequence order.
        out.sort_by_key(|r| {
            let b = &parts[r.partition as usize][r.seq as usize].record.body;
            (b.ordering_time, r.via.is_some(), r.partition, r.seq)
        });
        let (d, disagreements) = derive(parts, partition, &seqs);
        for (seq, what) in disagreements {
            if let Some(r) = out
                .iter_mut()
                .find(|r| r.via.is_none() && r.partition == partition && r.seq == seq)
            {
                r.disagreement = Some(what);
            }
        }
        derived = Some(d);
        header = Some(patient_header(own, partition, &seqs));
    }
    Ok(Trail {
        subject: subject.to_string(),
        partition,
        records: out,
        derived,
        header,
    })
}

/// The effective payload of a record: the latest correction's content if it has one.
fn effective(own: &[Entry], partition: u32, seqs: &[u64], s: u64) -> (u16, Vec<u8>) {
    let e = &own[s as usize];
    let (t, p) = payload_of(e);
    let mut best = (t, p.to_vec());
    for &later in seqs.iter().filter(|&&later| later > s) {
        let sub = &own[later as usize].record.body.submission.submission;
        if sub.envelope.event_type != ct::CORRECTED {
            continue;
        }
        let cites_it = sub
            .cites
            .first()
            .is_some_and(|r| r.partition == partition && r.seq == s && r.hash == e.hash);
        if !cites_it {
            continue;
        }
        if let Ok(cor) = decode::<c::Corrected>(&sub.envelope.payload) {
            if cor.event_type == t {
                best = (t, cor.payload);
            }
        }
    }
    best
}

/// A patient's key facts from the records in force.
fn patient_header(own: &[Entry], partition: u32, seqs: &[u64]) -> PatientHeader {
    let mut h = PatientHeader::default();
    let mut first_dose: Option<c::DoseAdministered> = None;
    for &s in seqs {
        let (t, payload) = effective(own, partition, seqs, s);
        match t {
            ct::PATIENT_ENROLLED => {
                if let Ok(e) = decode::<c::PatientEnrolled>(&payload) {
                    h.cohort = Some(e.cohort_id.to_string());
                    h.enrolled_on = Some(e.enrolled_on.to_string());
                }
            }
            ct::DOSE_ADMINISTERED => {
                if let Ok(d) = decode::<c::DoseAdministered>(&payload) {
                    if first_dose
                        .as_ref()
                        .is_none_or(|f| d.administered_on < f.administered_on)
                    {
                        first_dose = Some(d);
                    }
                }
            }
            ct::TREATMENT_ENDED => {
                if let Ok(e) = decode::<c::TreatmentEnded>(&payload) {
                    h.treatment_ended = Some(format!("{} ({})", e.ended_on, e.detail));
                }
            }
            ct::DEATH_RECORDED => {
                if let Ok(d) = decode::<c::DeathRecorded>(&payload) {
                    h.died_on = Some(d.died_on.to_string());
                }
            }
            _ => {}
        }
    }
    if let Some(d) = first_dose {
        h.drug = Some(d.drug.to_string());
        h.first_dose = Some(d.administered_on.to_string());
    }
    h
}

/// The benefit determination, and the follow-up assessments (by seq) whose investigator
/// response differs from the RECIST 1.1 response computed from their measurements.
fn derive(parts: &Partitions, partition: u32, seqs: &[u64]) -> (Derived, Vec<(u64, String)>) {
    use tl_clinical::records as convert;
    use tl_clinical::{best_overall_response, clinical_benefit, overall_responses, DatedResponse};
    let own = &parts[partition as usize];
    let mut first_dose: Option<Date> = None;
    let mut baseline: Option<(u64, c::ResponseAssessed)> = None;
    let mut follow: Vec<(u64, c::ResponseAssessed)> = Vec::new();
    for &s in seqs {
        let (t, payload) = effective(own, partition, seqs, s);
        let payload = payload.as_slice();
        match t {
            ct::DOSE_ADMINISTERED => {
                if let Ok(d) = decode::<c::DoseAdministered>(payload) {
                    first_dose =
                        Some(first_dose.map_or(d.administered_on, |f| f.min(d.administered_on)));
                }
            }
            ct::RESPONSE_ASSESSED => {
                if let Ok(a) = decode::<c::ResponseAssessed>(payload) {
                    if a.baseline {
                        if baseline.is_none() {
                            baseline = Some((s, a));
                        }
                    } else {
                        follow.push((s, a));
                    }
                }
            }
            _ => {}
        }
    }
    let Some(first) = first_dose else {
        let d = Derived {
            best_overall_response: None,
            clinical_benefit: None,
            summary: "no benefit determination: the patient received no dose".into(),
            first_dose: None,
            evidence: Vec::new(),
        };
        return (d, Vec::new());
    };
    let Some((bseq, base)) = baseline else {
        let d = Derived {
            best_overall_response: Some("NE".into()),
            clinical_benefit: Some(false),
            summary: "best overall response NE: no baseline assessment; no clinical benefit".into(),
            first_dose: Some(first.to_string()),
            evidence: Vec::new(),
        };
        return (d, Vec::new());
    };
    follow.sort_by_key(|(_, a)| a.assessed_on);
    let base_sum =
        tl_clinical::target_sum_mm10(&base.targets.iter().map(convert::target).collect::<Vec<_>>());
    let assessed: Vec<_> = follow.iter().map(|(_, a)| convert::assessment(a)).collect();
    let dated: Vec<DatedResponse> = overall_responses(base_sum, &assessed)
        .into_iter()
        .zip(&follow)
        .map(|(response, (_, a))| DatedResponse {
            date: a.assessed_on,
            response,
        })
        .collect();
    let disagreements = follow
        .iter()
        .zip(&dated)
        .filter(|((_, a), d)| convert::overall(d.response) != a.investigator_response)
        .map(|((seq, a), d)| {
            let computed = response_name(convert::overall(d.response));
            let reported = response_name(a.investigator_response);
            (
                *seq,
                format!("investigator reported {reported}; RECIST 1.1 from the measurements gives {computed}"),
            )
        })
        .collect();
    let best = best_overall_response(first, &dated);
    let benefit = clinical_benefit(first, &dated);
    let mut idx: Vec<usize> = best.evidence.clone();
    let why = match &benefit {
        Some(tl_clinical::ClinicalBenefit::ConfirmedResponse(_)) => {
            "clinical benefit: confirmed objective response".to_string()
        }
        Some(tl_clinical::ClinicalBenefit::DurableStableDisease { days, evidence }) => {
            idx.push(*evidence);
            format!(
                "clinical benefit: disease control for {days} days from the first dose (>= 112)"
            )
        }
        None => "no clinical benefit".to_string(),
    };
    idx.sort_unstable();
    idx.dedup();
    let mut evidence = vec![reference(parts, partition, bseq).expect("in range")];
    evidence.extend(
        idx.iter()
            .filter_map(|&i| reference(parts, partition, follow[i].0)),
    );
    let cites = evidence
        .iter()
        .map(|r| format!("{}/{}", r.partition, r.seq))
        .collect::<Vec<_>>()
        .join(", ");
    let d = Derived {
        best_overall_response: Some(best.response.abbreviation().into()),
        clinical_benefit: Some(benefit.is_some()),
        summary: format!(
            "best overall response {} (RECIST 1.1, computed from {} follow-up assessments, first dose {first}); {why}; rests on {cites}",
            best.response.abbreviation(),
            follow.len()
        ),
        first_dose: Some(first.to_string()),
        evidence,
    };
    (d, disagreements)
}

/// Prints a trail for people: a summary header for a patient, then every record.
pub fn render(t: &Trail, citations: Citations) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "decision trail of {} (partition {}): {} records, complete by back-links",
        t.subject,
        t.partition,
        t.records.len()
    );
    if let Some(h) = &t.header {
        s += &render_header(h, t.derived.as_ref());
    }
    let disagreements = t
        .records
        .iter()
        .filter(|r| r.disagreement.is_some())
        .count();
    if disagreements > 0 {
        let _ = writeln!(
            s,
            "  {disagreements} assessment(s) where the investigator's response differs from RECIST 1.1 (marked DIFFERS)"
        );
    }
    for (i, r) in t.records.iter().enumerate() {
        let _ = writeln!(s);
        s += &render_record(i + 1, r, citations);
    }
    if let Some(d) = &t.derived {
        let _ = writeln!(s);
        let _ = writeln!(s, "derived: {}", d.summary);
    }
    s
}

/// The patient's key facts, one per line.
fn render_header(h: &PatientHeader, derived: Option<&Derived>) -> String {
    let none = || "-".to_string();
    let mut rows = vec![
        ("cohort", h.cohort.clone().unwrap_or_else(none)),
        ("drug", h.drug.clone().unwrap_or_else(none)),
        ("enrolled", h.enrolled_on.clone().unwrap_or_else(none)),
        ("first dose", h.first_dose.clone().unwrap_or_else(none)),
        (
            "treatment",
            h.treatment_ended
                .as_ref()
                .map_or("ongoing".to_string(), |e| format!("ended {e}")),
        ),
        (
            "died",
            h.died_on
                .clone()
                .unwrap_or_else(|| "no death recorded".into()),
        ),
    ];
    if let Some(d) = derived {
        rows.push((
            "best response",
            d.best_overall_response
                .clone()
                .map_or("not determined".into(), |b| format!("{b} (RECIST 1.1)")),
        ));
        rows.push((
            "benefit",
            match d.clinical_benefit {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "not determined".into(),
            },
        ));
    }
    rows.iter()
        .map(|(k, v)| format!("  {k:<14}{v}\n"))
        .collect()
}

/// One record of the trail.
fn render_record(n: usize, r: &TrailRecord, citations: Citations) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{n:>3}. {}  [{}/{}]{}",
        r.event,
        r.partition,
        r.seq,
        r.via
            .as_ref()
            .map(|v| format!("  ({} record, {v})", r.subject))
            .unwrap_or_default()
    );
    let _ = writeln!(s, "     what       {}", r.summary);
    if let Some(d) = &r.disagreement {
        let _ = writeln!(s, "     DIFFERS    {d}");
    }
    let _ = writeln!(
        s,
        "     when       {} (ordering, UTC); client time {}",
        r.ordering_time, r.client_time
    );
    let _ = writeln!(
        s,
        "     author     {} ({}), key {}",
        r.author.name, r.author.role, r.author.key_id
    );
    let _ = writeln!(
        s,
        "     signed     {} / {} / {}",
        r.manifestation.printed_name, r.manifestation.signed_at, r.manifestation.meaning
    );
    if let Some(why) = &r.suspect {
        let _ = writeln!(s, "     SUSPECT    {why}");
    }
    let _ = writeln!(
        s,
        "     protocol   {}",
        r.protocol_version
            .map_or("none in force".to_string(), |v| format!("version {v}"))
    );
    let _ = writeln!(s, "     hash       {}", r.record_hash);
    if !r.cites.is_empty() {
        let _ = writeln!(s, "     cites      {}", cite_list(&r.cites, citations));
    }
    for c in &r.corrected_by {
        let _ = writeln!(
            s,
            "     corrected  by {} {}/{}",
            c.event, c.partition, c.seq
        );
    }
    for c in &r.follow_ups {
        let _ = writeln!(s, "     follow-up  {} {}/{}", c.event, c.partition, c.seq);
    }
    if let Some(p) = &r.proof {
        let _ = writeln!(s, "     included   {}", proof_line(p));
    }
    s
}

/// A record's citations, folded after a few unless every one is asked for.
fn cite_list(cites: &[RecordRef], citations: Citations) -> String {
    let shown = match citations {
        Citations::Full => cites.len(),
        Citations::Folded => cites.len().min(FOLDED_CITATIONS),
    };
    let mut list = cites[..shown]
        .iter()
        .map(|c| format!("{} {}/{}", c.event, c.partition, c.seq))
        .collect::<Vec<_>>()
        .join(", ");
    if shown < cites.len() {
        list += &format!(" and {} more (--full lists them)", cites.len() - shown);
    }
    list
}

/// Where a record's inclusion proof leads.
fn proof_line(p: &TrailProof) -> String {
    format!(
        "in the tree of {} records, root {} ({}{}){}",
        p.tree_size,
        p.root,
        if p.signed {
            "signed checkpoint"
        } else {
            "unsigned current root"
        },
        if p.newer_than_checkpoint {
            "; the record is newer than the latest published checkpoint"
        } else {
            ""
        },
        if p.verified {
            ", proof verified"
        } else {
            ", proof NOT verified"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(n: u64) -> Vec<RecordRef> {
        (0..n)
            .map(|seq| RecordRef {
                partition: 1,
                seq,
                record_hash: Hash32([0; 32]),
                event: "ResponseAssessed".into(),
            })
            .collect()
    }

    #[test]
    fn long_citation_lists_fold_unless_full_and_short_ones_never_do() {
        let short = cite_list(&refs(FOLDED_CITATIONS as u64), Citations::Folded);
        assert!(!short.contains("more"), "{short}");
        let folded = cite_list(&refs(19), Citations::Folded);
        assert!(
            folded.ends_with("ResponseAssessed 1/3 and 15 more (--full lists them)"),
            "{folded}"
        );
        let full = cite_list(&refs(19), Citations::Full);
        assert!(full.ends_with("ResponseAssessed 1/18"), "{full}");
        assert_eq!(full.matches("ResponseAssessed").count(), 19);
    }
}
