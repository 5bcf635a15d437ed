//! Progression-free survival under a stated convention ([`PfsConvention`]).
//!
//! PFS runs from the first dose to the first of: a follow-up assessment showing progressive
//! disease, an end of treatment for (clinical) progression, or death. The conventions differ
//! only in what happens when that event comes long after the last assessment, and in where a
//! patient without an event is censored:
//!
//! | convention | event after missed assessments | no event: censored at |
//! |---|---|---|
//! | [`PfsConvention::EveryEventObserved`] (EMA sensitivity; format 1) | an event at its date | the last assessment of any kind (day 0 without one) |
//! | [`PfsConvention::CensorAfterMissedAssessments`] (FDA 2018; format-2 primary) | censored at the last adequate assessment | the last adequate assessment (day 0 without one) |
//!
//! An *adequate* assessment is one before progression that shows SD or better (evaluable and
//! progression-free). Censoring at the start of new anticancer therapy needs an event the
//! ledger does not have yet: out of scope.

use crate::definitions::PfsConvention;
use crate::recist::Response;
use crate::response::DatedResponse;
use crate::survival::Observation;
use serde::{Deserialize, Serialize};
use tl_schemas::Date;

/// What ended (or censored) a PFS observation; indices are into the caller's assessments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PfsEnd {
    /// Event: the first assessment showing progressive disease.
    ProgressionScan(usize),
    /// Event: the end of treatment for (clinical) progression.
    ClinicalProgression,
    /// Event: death.
    Death,
    /// Censored at this assessment (the last adequate one, or under
    /// [`PfsConvention::EveryEventObserved`] the last of any kind).
    CensoredAtAssessment(usize),
    /// Censored at the first dose (day 0): no assessment to censor at.
    CensoredAtFirstDose,
}

impl PfsEnd {
    /// Whether this end is an event (not censored).
    pub fn is_event(self) -> bool {
        matches!(
            self,
            PfsEnd::ProgressionScan(_) | PfsEnd::ClinicalProgression | PfsEnd::Death
        )
    }
}

/// A PFS observation and what ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pfs {
    /// Days from the first dose and whether it is an event.
    pub observation: Observation,
    /// The event or the censoring.
    pub end: PfsEnd,
    /// The event that was censored because it followed missed assessments, if any.
    pub censored_event: Option<PfsEnd>,
}

/// Scheduled assessments missed between the last adequate assessment on day `last_day` and an
/// event on day `event_day`: assessments are due on `last_day + k * interval_days` (k = 1, 2,
/// ...), each on schedule until `window_days` after its due day, so the k-th is missed when
/// `last_day + k * interval_days + window_days < event_day`. An interval of 0 states no
/// schedule: nothing is missed.
pub fn missed_assessments(
    last_day: i64,
    event_day: i64,
    interval_days: u32,
    window_days: u32,
) -> u32 {
    if interval_days == 0 {
        return 0;
    }
    let late_by = event_day - last_day - i64::from(window_days);
    if late_by <= 0 {
        return 0;
    }
    // The largest k with k * interval < late_by.
    u32::try_from((late_by - 1) / i64::from(interval_days)).unwrap_or(u32::MAX)
}

/// Days from `from` to `to`, 0 if `to` is earlier.
fn days(from: Date, to: Date) -> u32 {
    from.days_until(to).max(0) as u32
}

/// Progression-free survival of one patient.
///
/// `assessments` are the follow-up assessments (any order); `clinical_progression` the first
/// end of treatment for progression; `death` the date of death. Ties between event kinds on one
/// day resolve to the progression scan, then clinical progression, then death.
pub fn progression_free_survival(
    first_dose: Date,
    assessments: &[DatedResponse],
    clinical_progression: Option<Date>,
    death: Option<Date>,
    convention: PfsConvention,
) -> Pfs {
    let mut order: Vec<usize> = (0..assessments.len()).collect();
    order.sort_by_key(|&i| assessments[i].date);
    let pd_scan = order
        .iter()
        .copied()
        .find(|&i| assessments[i].response == Response::ProgressiveDisease);
    let event = [
        pd_scan.map(|i| (assessments[i].date, PfsEnd::ProgressionScan(i))),
        clinical_progression.map(|d| (d, PfsEnd::ClinicalProgression)),
        death.map(|d| (d, PfsEnd::Death)),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(d, _)| *d);

    let censor_at = |i: Option<usize>| match i {
        Some(i) => (
            days(first_dose, assessments[i].date),
            PfsEnd::CensoredAtAssessment(i),
        ),
        None => (0, PfsEnd::CensoredAtFirstDose),
    };
    let pfs = |(time_days, end): (u32, PfsEnd), censored_event| Pfs {
        observation: Observation {
            time_days,
            event: end.is_event(),
        },
        end,
        censored_event,
    };
    match convention {
        PfsConvention::EveryEventObserved => match event {
            Some((d, end)) => pfs((days(first_dose, d), end), None),
            // The last assessment by date (the last given among same-day ones).
            None => pfs(censor_at(order.last().copied()), None),
        },
        PfsConvention::CensorAfterMissedAssessments {
            interval_days,
            window_days,
            missed,
        } => {
            let until = event.map(|(d, _)| d);
            let last_adequate = order
                .iter()
                .copied()
                .take_while(|&i| Some(i) != pd_scan)
                .filter(|&i| until.is_none_or(|u| assessments[i].date < u))
                .filter(|&i| assessments[i].response.is_sd_or_better())
                .last();
            match event {
                Some((d, end)) => {
                    let anchor = last_adequate.map_or(first_dose, |i| assessments[i].date);
                    let gap_missed = missed_assessments(
                        0,
                        i64::from(anchor.days_until(d)),
                        interval_days,
                        window_days,
                    );
                    if gap_missed >= missed.max(1) {
                        pfs(censor_at(last_adequate), Some(end))
                    } else {
                        pfs((days(first_dose, d), end), None)
                    }
                }
                None => pfs(censor_at(last_adequate), None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Response::*;

    const FDA: PfsConvention = PfsConvention::CensorAfterMissedAssessments {
        interval_days: 56,
        window_days: 7,
        missed: 2,
    };
    const EMA: PfsConvention = PfsConvention::EveryEventObserved;

    fn dose() -> Date {
        Date::from_ymd(2025, 1, 6).unwrap()
    }

    fn day(n: i32) -> Date {
        Date(dose().0 + n)
    }

    fn at(n: i32, response: Response) -> DatedResponse {
        DatedResponse {
            date: day(n),
            response,
        }
    }

    #[test]
    fn given_due_days_when_counting_missed_assessments_then_each_is_missed_after_its_window() {
        // given assessments every 56 days, 7 days' window, after a scan on day 56
        // when an event falls on various days
        // then: on schedule up to day 56+56+7 = 119; one missed from 120; two missed from 176
        assert_eq!(missed_assessments(56, 119, 56, 7), 0);
        assert_eq!(missed_assessments(56, 120, 56, 7), 1);
        assert_eq!(missed_assessments(56, 175, 56, 7), 1);
        assert_eq!(missed_assessments(56, 176, 56, 7), 2);
        assert_eq!(missed_assessments(56, 40, 56, 7), 0);
        assert_eq!(missed_assessments(0, 1000, 0, 7), 0);
    }

    #[test]
    fn given_a_death_within_the_window_when_pfs_is_taken_then_it_is_an_event_under_both() {
        // given SD at day 56 and death on day 150 (one assessment missed, not two)
        let a = [at(56, StableDisease)];
        // when PFS is taken under each convention
        let fda = progression_free_survival(dose(), &a, None, Some(day(150)), FDA);
        let ema = progression_free_survival(dose(), &a, None, Some(day(150)), EMA);
        // then both count the death at day 150
        for p in [fda, ema] {
            assert_eq!(
                p.observation,
                Observation {
                    time_days: 150,
                    event: true
                }
            );
            assert_eq!(p.end, PfsEnd::Death);
        }
    }

    #[test]
    fn given_a_death_after_two_missed_assessments_when_pfs_is_taken_then_fda_censors_at_the_last_scan(
    ) {
        // given SD at day 52 (the last scan), toxicity stop, death on day 818
        let a = [at(52, StableDisease)];
        // when PFS is taken
        let fda = progression_free_survival(dose(), &a, None, Some(day(818)), FDA);
        let ema = progression_free_survival(dose(), &a, None, Some(day(818)), EMA);
        // then FDA censors at day 52, citing that scan and the censored death; EMA counts 818
        assert_eq!(
            fda.observation,
            Observation {
                time_days: 52,
                event: false
            }
        );
        assert_eq!(fda.end, PfsEnd::CensoredAtAssessment(0));
        assert_eq!(fda.censored_event, Some(PfsEnd::Death));
        assert_eq!(
            ema.observation,
            Observation {
                time_days: 818,
                event: true
            }
        );
    }

    #[test]
    fn given_no_assessment_at_all_when_pfs_is_taken_then_early_death_counts_and_late_death_is_censored_at_day_0(
    ) {
        // given no assessment
        // when the patient dies on day 30 (within 2 x 56 + 7 = 119 days of the first dose)
        let early = progression_free_survival(dose(), &[], None, Some(day(30)), FDA);
        // then an event at day 30
        assert_eq!(
            early.observation,
            Observation {
                time_days: 30,
                event: true
            }
        );
        // when the patient dies on day 200 instead, after two missed assessments
        let late = progression_free_survival(dose(), &[], None, Some(day(200)), FDA);
        // then censored at the first dose, day 0
        assert_eq!(
            late.observation,
            Observation {
                time_days: 0,
                event: false
            }
        );
        assert_eq!(late.end, PfsEnd::CensoredAtFirstDose);
        // and alive without any assessment: censored at day 0 under both
        for c in [FDA, EMA] {
            let p = progression_free_survival(dose(), &[], None, None, c);
            assert_eq!(p.end, PfsEnd::CensoredAtFirstDose);
        }
    }

    #[test]
    fn given_progression_exactly_at_the_window_edge_when_pfs_is_taken_then_it_counts_and_a_day_later_it_does_not(
    ) {
        // given SD at day 56; the second assessment after it is due on day 168, on schedule
        // until day 175
        let on_edge = [at(56, StableDisease), at(175, ProgressiveDisease)];
        let past_edge = [at(56, StableDisease), at(176, ProgressiveDisease)];
        // when PFS is taken under the FDA convention
        let p = progression_free_survival(dose(), &on_edge, None, None, FDA);
        let q = progression_free_survival(dose(), &past_edge, None, None, FDA);
        // then progression on day 175 is an event; on day 176 it is censored at day 56
        assert_eq!(
            p.observation,
            Observation {
                time_days: 175,
                event: true
            }
        );
        assert_eq!(p.end, PfsEnd::ProgressionScan(1));
        assert_eq!(
            q.observation,
            Observation {
                time_days: 56,
                event: false
            }
        );
        assert_eq!(q.censored_event, Some(PfsEnd::ProgressionScan(1)));
    }

    #[test]
    fn given_no_event_when_censored_then_fda_uses_the_last_adequate_and_ema_the_last_assessment() {
        // given SD at 56 and an NE scan at 112, alive
        let a = [at(56, StableDisease), at(112, NotEvaluable)];
        // when PFS is taken
        let fda = progression_free_survival(dose(), &a, None, None, FDA);
        let ema = progression_free_survival(dose(), &a, None, None, EMA);
        // then FDA censors at the adequate day-56 scan, EMA at the day-112 one
        assert_eq!(fda.end, PfsEnd::CensoredAtAssessment(0));
        assert_eq!(fda.observation.time_days, 56);
        assert_eq!(ema.end, PfsEnd::CensoredAtAssessment(1));
        assert_eq!(ema.observation.time_days, 112);
    }

    #[test]
    fn given_events_on_one_day_when_pfs_is_taken_then_the_scan_comes_first() {
        // given a PD scan, an end for progression and a death all on day 60
        let a = [at(60, ProgressiveDisease)];
        // when PFS is taken
        let p = progression_free_survival(dose(), &a, Some(day(60)), Some(day(60)), EMA);
        // then the scan is the event
        assert_eq!(p.end, PfsEnd::ProgressionScan(0));
    }
}
