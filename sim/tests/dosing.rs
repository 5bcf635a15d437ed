//! The MSI-high nivolumab cohort is dosed as its publication states (PMID 39024037): 240 mg
//! every 2 weeks four times, then 480 mg every 4 weeks. The format-1 model, which keeps
//! 240 mg every 2 weeks throughout, fails this test.

use tl_schemas::clinical::DoseAdministered;
use tl_sim::catalogue::{drug_index, Activity, DRUGS};
use tl_sim::history::{plan, Model, PatientPlanInput, PlannedEvent};
use tl_sim::rng::SimRng;

/// The doses planned for one patient, as finally recorded (a transcription error replaced by
/// its correction), in date order.
fn doses(seed: u64, model: Model) -> Vec<DoseAdministered> {
    let drug = &DRUGS[drug_index("nivolumab").unwrap()];
    let input = PatientPlanInput {
        drug,
        activity: Activity::MsiImmunotherapy,
        enrolled_on: tl_schemas::Date::from_ymd(2018, 3, 1).unwrap(),
        model,
    };
    let history = plan(&mut SimRng::from_seed(seed).fork("dosing"), &input);
    let mut out: Vec<DoseAdministered> = Vec::new();
    let mut typos = std::collections::HashMap::new();
    for item in history.items {
        match item.event {
            PlannedEvent::Dose { dose, typo } => {
                if let Some(t) = typo {
                    typos.insert(t, out.len());
                }
                out.push(dose);
            }
            PlannedEvent::CorrectDose { typo, dose } => out[typos[&typo]] = dose,
            _ => {}
        }
    }
    out
}

#[test]
fn given_the_msi_cohort_when_dosed_then_240_mg_every_2_weeks_four_times_then_480_mg_every_4_weeks()
{
    // given 300 patients of the MSI-high nivolumab cohort in the current model
    let mut long_treated = 0;
    for seed in 0..300 {
        let doses = doses(seed, Model::Current);
        let Some(first) = doses.first() else {
            continue;
        };
        let start = first.administered_on.0;
        // then each dose of cycles 1-4 is 240 mg on day 0, 14, 28 or 42, and each later one
        // 480 mg on the 4-weekly grid after day 42 (an interruption skips a dose, never moves
        // the grid)
        for d in &doses {
            let day = d.administered_on.0 - start;
            assert_eq!(d.unit, tl_schemas::clinical::DoseUnit::Mg);
            if d.cycle <= 4 {
                assert_eq!(d.dose_milli, 240_000, "patient {seed}: {d:?}");
                assert_eq!(day, 14 * (i32::from(d.cycle) - 1), "patient {seed}: {d:?}");
            } else {
                assert_eq!(d.dose_milli, 480_000, "patient {seed}: {d:?}");
                assert_eq!(
                    day,
                    42 + 28 * (i32::from(d.cycle) - 4),
                    "patient {seed}: {d:?}"
                );
            }
        }
        long_treated += usize::from(doses.iter().any(|d| d.cycle > 8));
    }
    assert!(long_treated > 50, "too few patients dosed past cycle 8");
    // and the format-1 model, for contrast, keeps 240 mg every 2 weeks
    let old: Vec<_> = (0..300)
        .flat_map(|seed| doses(seed, Model::Format1))
        .collect();
    assert!(old.iter().all(|d| d.dose_milli == 240_000));
}
