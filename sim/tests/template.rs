//! The template generator (`tl_sim::template`): one wave of generated patients is a ledger that
//! full verification accepts under the trial's own rules, holds the records the generator
//! reports, in the event mix it describes, and carries signed checkpoints.

use std::collections::BTreeMap;
use tl_domain::TrialRules;
use tl_ledger::codec::decode_record;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::verify_ledger;
use tl_schemas::clinical::clinical_type as ct;
use tl_sim::template::{generate, trial_id, PARTITIONS, WAVE};

#[test]
fn one_generated_wave_verifies_with_the_trial_rules() {
    // Given a ledger of one wave (a count above the bootstrap and key enrolments, below a
    // wave's records, gives exactly one)
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let (report, keys) = generate(&ledger, 100).unwrap();
    // When it is read back and fully verified against the generated root key
    let inputs = read_embedded_for_verify(&ledger).unwrap();
    let verified = verify_ledger(&trial_id(), keys.root.key.public_key(), &inputs, TrialRules);
    // Then every record verifies, and they are the records the generator reported
    assert!(verified.ok, "{:?}", verified.failures.first());
    assert_eq!(verified.records_total, report.records);
    assert_eq!(verified.partitions, PARTITIONS);
    assert_eq!(report.patients, WAVE as u64);
    // And every partition carries stored checkpoints
    assert!(inputs.iter().all(|p| !p.checkpoints.is_empty()));
    // And the mix is the documented one: per 10 patients, 5 treated, 4 screened, 1 withdrawn
    let mut by_type: BTreeMap<u16, u64> = BTreeMap::new();
    for bytes in inputs.iter().flat_map(|p| &p.records) {
        let (r, _) = decode_record(bytes).unwrap();
        *by_type
            .entry(r.body.submission.submission.envelope.event_type)
            .or_default() += 1;
    }
    let n = WAVE as u64;
    assert_eq!(by_type[&ct::PATIENT_REGISTERED], n);
    let withdrawn = (0..n).filter(|i| i % 10 == 9).count() as u64;
    assert_eq!(by_type[&ct::CONSENT_WITHDRAWN], withdrawn);
    assert_eq!(by_type[&ct::PATIENT_ENROLLED], n.div_ceil(2));
    assert_eq!(by_type[&ct::SLOT_ASSIGNED], n.div_ceil(2));
    assert_eq!(by_type[&ct::DEATH_RECORDED], n.div_ceil(2));
    assert_eq!(by_type[&ct::DOSE_ADMINISTERED], 6 * n.div_ceil(2));
}
