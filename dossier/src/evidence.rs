//! The evidence: the audit bundle (`schemas/BUNDLE.md`, scope `Subjects`) of every record the
//! figures rest on, and the trial model built from its records alone. `dossier` computes the
//! figures from this model, and `verify-dossier` rebuilds it from the bundle it receives, so
//! both see exactly the same records.

use crate::{CutPartition, Error};
use std::collections::BTreeSet;
use std::sync::Arc;
use tl_ledger::bundle::{Bundle, Scope as BundleScope};
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::codec::decode_record;
use tl_ledger::stream_verify::VerifiedRecord;
use tl_projections::model::TrialModel;
use tl_schemas::clinical::{clinical_type as ct, SlotAssigned};
use tl_schemas::ids::Name;
use tl_schemas::{decode, record_hash, Subject};

/// The model of a bundle's records: partition 0 first, then each partition in seq order (a
/// subject's records are all in one partition, so each subject's order is the ledger's).
pub fn model_of(bundle: &Bundle) -> Result<TrialModel, Error> {
    let mut model = TrialModel::new();
    for s in &bundle.sections {
        for r in &s.records {
            let (record, body_len) = decode_record(&r.record).map_err(|e| {
                Error::Evidence(format!("record {}/{}: {}", s.partition, r.seq, e.detail))
            })?;
            let v = VerifiedRecord {
                partition: s.partition,
                seq: r.seq,
                hash: record_hash(&r.record[..body_len]),
                record: Arc::new(record),
            };
            model.apply(&v);
        }
    }
    Ok(model)
}

/// The evidence cut a bundle carries: each section's anchor checkpoint.
pub fn cut_of(bundle: &Bundle) -> Result<Vec<CutPartition>, Error> {
    bundle
        .sections
        .iter()
        .map(|s| {
            let anchor = s.checkpoints.last().ok_or_else(|| {
                Error::Evidence(format!("partition {} has no checkpoint", s.partition))
            })?;
            let c = SignedCheckpoint::parse(&anchor.note).map_err(|e| {
                Error::Evidence(format!("checkpoint of partition {}: {e}", s.partition))
            })?;
            Ok(CutPartition {
                partition: s.partition,
                size: c.unverified().size,
                root: c.unverified().root.to_hex(),
            })
        })
        .collect()
}

/// The subjects a dossier's evidence must carry for `cohorts`: each cohort, and every patient
/// the cohort's own records give a slot to (its slot holders).
pub fn subjects_for(model: &TrialModel, cohorts: &BTreeSet<Name>) -> Vec<Subject> {
    let mut out: Vec<Subject> = Vec::new();
    for c in cohorts {
        out.push(Subject::Cohort(c.clone()));
        for p in slot_holders(model, c) {
            out.push(Subject::Patient(p));
        }
    }
    out
}

/// The patients a cohort's records assign a slot to, in ledger order.
pub fn slot_holders(model: &TrialModel, cohort: &Name) -> Vec<Name> {
    model
        .cohorts
        .get(cohort)
        .into_iter()
        .flatten()
        .filter(|r| r.event_type == ct::SLOT_ASSIGNED)
        .filter_map(|r| decode::<SlotAssigned>(&r.payload).ok())
        .map(|s| s.patient)
        .collect()
}

/// Completeness of each cohort (verify-dossier step 3): the bundle's scope names the cohort,
/// and every slot holder its carried records name is a subject of the bundle with records in
/// it. Returns the first gap, in words.
pub fn completeness(
    bundle: &Bundle,
    model: &TrialModel,
    cohorts: &BTreeSet<Name>,
) -> Result<(), String> {
    let BundleScope::Subjects(list) = &bundle.scope else {
        return Err(format!(
            "the evidence bundle's scope is {}, not a dossier's subjects",
            bundle.scope
        ));
    };
    let scoped: BTreeSet<&Subject> = list.iter().collect();
    for c in cohorts {
        if !scoped.contains(&Subject::Cohort(c.clone())) || !model.cohorts.contains_key(c) {
            return Err(format!(
                "cohort {c} is reported but its records are not in the evidence"
            ));
        }
        for p in slot_holders(model, c) {
            if !scoped.contains(&Subject::Patient(p.clone())) || !model.patients.contains_key(&p) {
                return Err(format!(
                    "cohort {c}'s own records assign a slot to patient {p}, whose records are not in the evidence (a patient left out)"
                ));
            }
        }
    }
    Ok(())
}

/// The registry at the end of the evidence's partition-0 prefix (the cut's registry position),
/// replayed from the bundle's records; call after the bundle verified.
pub fn registry_of(bundle: &Bundle) -> Result<tl_ledger::registry::Registry, Error> {
    let mut reg =
        tl_ledger::registry::Registry::new(bundle.trial_id.clone(), bundle.root_public_key);
    let p0 = bundle
        .sections
        .first()
        .filter(|s| s.partition == 0)
        .ok_or_else(|| Error::Evidence("the bundle carries no partition 0".into()))?;
    for r in &p0.records {
        let (record, _) = decode_record(&r.record)
            .map_err(|e| Error::Evidence(format!("record 0/{}: {}", r.seq, e.detail)))?;
        reg.apply(&record.body.submission.submission);
    }
    Ok(reg)
}

/// The manifest signer's printed name, when `key_id` (hex) is an `admin` key enrolled and not
/// revoked at the registry's position; else why not.
pub fn admin_signer(
    reg: &tl_ledger::registry::Registry,
    key_id: &str,
) -> Result<(String, [u8; 32]), String> {
    use tl_ledger::registry::Author;
    use tl_schemas::roles::Role;
    let id = reg
        .keys()
        .keys()
        .find(|k| k.to_hex() == key_id)
        .copied()
        .ok_or_else(|| format!("key {key_id} is not enrolled in the trial's registry"))?;
    match reg.author_at(&id, reg.position()) {
        Ok(Author::Key(Role::Admin)) => {}
        Ok(Author::Key(role)) => return Err(format!("key {key_id} has role {role}, not admin")),
        Ok(Author::Root) => return Err(format!("key {key_id} is the root key, not an admin key")),
        Err(r) => {
            return Err(format!(
                "key {key_id} at registry position {}: {}",
                reg.position(),
                r.detail
            ))
        }
    }
    let pk = reg
        .public_key(&id)
        .ok_or_else(|| format!("key {key_id} has no public key"))?;
    Ok((reg.display_name(&id), pk))
}

/// The model of a ledger's records up to `sizes[p]` in each partition `p` (the evidence cut),
/// partition by partition: to resolve a dossier's scope before its evidence is exported.
pub fn model_of_partitions(records: &[Vec<Vec<u8>>], sizes: &[u64]) -> Result<TrialModel, Error> {
    let mut model = TrialModel::new();
    for (p, part) in records.iter().enumerate() {
        let size = sizes.get(p).copied().unwrap_or(0) as usize;
        for (seq, bytes) in part.iter().enumerate().take(size) {
            let (record, body_len) = decode_record(bytes)
                .map_err(|e| Error::Evidence(format!("record {p}/{seq}: {}", e.detail)))?;
            model.apply(&VerifiedRecord {
                partition: p as u32,
                seq: seq as u64,
                hash: record_hash(&bytes[..body_len]),
                record: Arc::new(record),
            });
        }
    }
    Ok(model)
}
