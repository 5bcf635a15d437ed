//! Progression after a complete response is a reappearing or new lesion at a plausible size,
//! not a target sum regrowing from 0 to hundreds of millimetres in one step (the format-1 model,
//! `SimConfig::protocol_format = 1`, fails this test: one patient of this run goes from 0 to
//! 180 mm).

use std::collections::BTreeMap;
use tl_clinical::records::{assessment, target};
use tl_clinical::{overall_responses, target_sum_mm10, Response};
use tl_schemas::clinical::{clinical_type as ct, ResponseAssessed};
use tl_schemas::{decode, Record, Subject, TrialId};
use tl_sim::{simulate, SimConfig};

#[test]
fn given_a_complete_response_when_the_disease_progresses_then_a_lesion_reappears_at_a_plausible_size(
) {
    // given a simulated trial's scans, per patient
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let config = SimConfig::new(TrialId::new("lesions").unwrap(), 3, 800);
    simulate(&ledger, &config).unwrap();
    let mut scans: BTreeMap<String, Vec<ResponseAssessed>> = BTreeMap::new();
    for input in tl_ledger::log::read_embedded_for_verify(&ledger).unwrap() {
        for bytes in &input.records {
            let sub = decode::<Record>(bytes).unwrap().body.submission.submission;
            if let (ct::RESPONSE_ASSESSED, Subject::Patient(p)) =
                (sub.envelope.event_type, &sub.subject)
            {
                scans
                    .entry(p.to_string())
                    .or_default()
                    .push(decode(&sub.envelope.payload).unwrap());
            }
        }
    }
    // when each progression that follows a complete response is looked at
    let mut after_cr = 0;
    for (patient, list) in &scans {
        let Some(base) = list.iter().find(|a| a.baseline) else {
            continue;
        };
        let mut follow: Vec<&ResponseAssessed> = list.iter().filter(|a| !a.baseline).collect();
        follow.sort_by_key(|a| a.assessed_on);
        let base_sum = target_sum_mm10(&base.targets.iter().map(target).collect::<Vec<_>>());
        let responses = overall_responses(
            base_sum,
            &follow.iter().map(|a| assessment(a)).collect::<Vec<_>>(),
        );
        let sums: Vec<u64> = follow
            .iter()
            .map(|a| target_sum_mm10(&a.targets.iter().map(target).collect::<Vec<_>>()))
            .collect();
        for i in 1..follow.len() {
            if responses[i - 1] == Response::CompleteResponse
                && responses[i] == Response::ProgressiveDisease
            {
                after_cr += 1;
                // then the target sum grows by at most one lesion of 30 mm
                assert!(
                    sums[i] <= sums[i - 1] + 300,
                    "{patient}: target sum {} mm10 -> {} mm10 after a complete response",
                    sums[i - 1],
                    sums[i]
                );
            }
        }
    }
    assert!(
        after_cr > 0,
        "no progression after a complete response to check"
    );
}
