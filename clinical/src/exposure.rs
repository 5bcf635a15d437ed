//! Treatment exposure and exposure-adjusted adverse-event rates.
//!
//! **Exposure** runs from the first dose to the end of treatment (`TreatmentEnded.ended_on`), or,
//! while treatment is ongoing, to the last dose plus one cycle (never past a recorded death).
//! Days are counted inclusively: a single dose and an end of treatment the same day is 1 day.
//! Patient-years are days / 365.25.
//!
//! **The cycle length** is not in the protocol document (the cohort catalogue states no dosing
//! schedule), so it is read from the patient's own dose records: the days between the first
//! dose of the two latest cycles recorded, divided by the number of cycles between them (so an
//! interrupted cycle without a dose does not double it, and a schedule that changes, such as
//! nivolumab's 2-weekly then 4-weekly dosing, uses the current one). With one cycle recorded,
//! [`DEFAULT_CYCLE_DAYS`] (28: the cycle of the catalogue's oral drugs and the longest of its
//! intravenous ones).
//!
//! **EAIR** (exposure-adjusted incidence rate): patients with at least one event, divided by
//! patient-years at risk, where a patient is at risk from the first dose up to the onset of the
//! first event (inclusive), or for the whole exposure without an event.
//! **EAER** (exposure-adjusted event rate): all events, divided by patient-years of exposure.
//! Both per 100 patient-years. Only events with onset within the exposure count; the others are
//! counted apart (`events_outside_exposure`).

use serde::Serialize;
use tl_schemas::{Date, PartialDate};

/// The cycle length when a patient's doses span only one cycle.
pub const DEFAULT_CYCLE_DAYS: i32 = 28;

/// Days in a patient-year.
pub const DAYS_PER_YEAR: f64 = 365.25;

/// The cycle length from a patient's doses, `(date, cycle number)`: days between the first doses
/// of the two latest cycles, divided by the cycles between them (rounded down, at least 1).
/// `None` with fewer than two cycles.
pub fn cycle_days(doses: &[(Date, u16)]) -> Option<i32> {
    let mut first: std::collections::BTreeMap<u16, Date> = std::collections::BTreeMap::new();
    for &(d, c) in doses {
        first.entry(c).and_modify(|e| *e = (*e).min(d)).or_insert(d);
    }
    let mut last_two = first.iter().rev().take(2);
    let (c2, d2) = last_two.next()?;
    let (c1, d1) = last_two.next()?;
    let days = d1.days_until(*d2) / i32::from(c2 - c1);
    Some(days.max(1))
}

/// One patient's exposure interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// The first dose.
    pub start: Date,
    /// The last day of exposure.
    pub end: Date,
    /// Whether treatment was still ongoing (no end of treatment recorded).
    pub ongoing: bool,
    /// The cycle length used (for an ongoing treatment).
    pub cycle_days: i32,
}

impl Exposure {
    /// The exposure of a patient: first and last dose, the end of treatment if recorded, the
    /// death if recorded, and the cycle length.
    pub fn new(
        first_dose: Date,
        last_dose: Date,
        ended_on: Option<Date>,
        died_on: Option<Date>,
        cycle_days: i32,
    ) -> Self {
        let end = match ended_on {
            Some(e) => e.max(last_dose),
            None => {
                let planned = Date(last_dose.0.saturating_add(cycle_days));
                died_on.map_or(planned, |d| planned.min(d).max(last_dose))
            }
        };
        Exposure {
            start: first_dose,
            end: end.max(first_dose),
            ongoing: ended_on.is_none(),
            cycle_days,
        }
    }

    /// Days of exposure, inclusive.
    pub fn days(&self) -> i32 {
        self.start.days_until(self.end) + 1
    }

    /// Whether `d` falls within the exposure.
    pub fn contains(&self, d: Date) -> bool {
        self.start <= d && d <= self.end
    }
}

/// An onset date for the rates: a full date as is; a partial one at the first day of its month
/// or year, unless the first dose falls in that period, then the first dose (the usual
/// treatment-emergent imputation: the earliest date that is not known to be before treatment).
pub fn impute_onset(onset: &PartialDate, first_dose: Date) -> Option<Date> {
    let (lo, hi) = match *onset {
        PartialDate::Full(d) => return Some(d),
        PartialDate::YearMonth(y, m) => {
            let lo = Date::from_ymd(i32::from(y), m, 1)?;
            let next = if m == 12 {
                Date::from_ymd(i32::from(y) + 1, 1, 1)?
            } else {
                Date::from_ymd(i32::from(y), m + 1, 1)?
            };
            (lo, Date(next.0 - 1))
        }
        PartialDate::Year(y) => (
            Date::from_ymd(i32::from(y), 1, 1)?,
            Date::from_ymd(i32::from(y), 12, 31)?,
        ),
    };
    Some(if lo <= first_dose && first_dose <= hi {
        first_dose
    } else {
        lo
    })
}

/// Exposure-adjusted rates of one kind of event over a group of patients.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rates {
    /// Patients in the group.
    pub patients: u64,
    /// Patients with at least one event within their exposure.
    pub patients_with_event: u64,
    /// Events within exposure.
    pub events: u64,
    /// Events with onset outside the exposure (not in the rates).
    pub events_outside_exposure: u64,
    /// Patient-years at risk up to each patient's first event.
    pub patient_years_at_risk: f64,
    /// Patient-years of exposure.
    pub patient_years_exposure: f64,
    /// EAIR per 100 patient-years (`None` without exposure).
    pub eair_per_100py: Option<f64>,
    /// EAER per 100 patient-years (`None` without exposure).
    pub eaer_per_100py: Option<f64>,
}

/// The rates of a group: each patient's exposure and the onsets of their events of one kind.
pub fn exposure_adjusted(patients: &[(Exposure, Vec<Date>)]) -> Rates {
    let (mut with, mut events, mut outside) = (0u64, 0u64, 0u64);
    let (mut risk_days, mut exposure_days) = (0i64, 0i64);
    for (x, onsets) in patients {
        exposure_days += i64::from(x.days());
        let inside: Vec<Date> = onsets.iter().copied().filter(|d| x.contains(*d)).collect();
        outside += (onsets.len() - inside.len()) as u64;
        events += inside.len() as u64;
        match inside.iter().min() {
            Some(first) => {
                with += 1;
                risk_days += i64::from(x.start.days_until(*first) + 1);
            }
            None => risk_days += i64::from(x.days()),
        }
    }
    let years = |d: i64| d as f64 / DAYS_PER_YEAR;
    let per_100 = |n: u64, py: f64| (py > 0.0).then(|| 100.0 * n as f64 / py);
    Rates {
        patients: patients.len() as u64,
        patients_with_event: with,
        events,
        events_outside_exposure: outside,
        patient_years_at_risk: years(risk_days),
        patient_years_exposure: years(exposure_days),
        eair_per_100py: per_100(with, years(risk_days)),
        eaer_per_100py: per_100(events, years(exposure_days)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i32) -> Date {
        Date(20_000 + n)
    }

    #[test]
    fn cycle_length_is_read_from_the_two_latest_cycles() {
        // given cycles 1, 2, 3 every 21 days, then cycle 5 (cycle 4 skipped) 42 days after 3
        let doses = [(day(0), 1), (day(21), 2), (day(42), 3), (day(84), 5)];
        // when the cycle length is read
        // then it is 42 / 2 = 21 days; one cycle only gives none
        assert_eq!(cycle_days(&doses), Some(21));
        assert_eq!(cycle_days(&[(day(0), 1), (day(7), 1)]), None);
        // and a schedule that changes uses the latest cycles: 14, 14, then 28
        let nivo = [(day(0), 1), (day(14), 2), (day(28), 3), (day(56), 4)];
        assert_eq!(cycle_days(&nivo), Some(28));
    }

    #[test]
    fn ended_treatment_runs_to_its_end_and_ongoing_to_last_dose_plus_a_cycle() {
        // given a first dose on day 0 and a last dose on day 42, 21-day cycles
        // when treatment ended on day 50
        let ended = Exposure::new(day(0), day(42), Some(day(50)), None, 21);
        // then exposure is days 0..=50: 51 days
        assert_eq!(
            (ended.end, ended.days(), ended.ongoing),
            (day(50), 51, false)
        );
        // when it is ongoing: to day 63 (42 + 21), 64 days
        let ongoing = Exposure::new(day(0), day(42), None, None, 21);
        assert_eq!(
            (ongoing.end, ongoing.days(), ongoing.ongoing),
            (day(63), 64, true)
        );
        // when ongoing but the patient died on day 45: to day 45
        let died = Exposure::new(day(0), day(42), None, Some(day(45)), 21);
        assert_eq!(died.end, day(45));
    }

    #[test]
    fn partial_onsets_are_imputed_to_the_earliest_date_not_before_treatment() {
        // given a first dose on 2025-03-10
        let first = Date::from_ymd(2025, 3, 10).unwrap();
        let d = |y, m, dd| Date::from_ymd(y, m, dd).unwrap();
        // when onsets are known to the month or the year
        // then the first dose's own month or year imputes the first dose, others their first day
        assert_eq!(
            impute_onset(&PartialDate::YearMonth(2025, 3), first),
            Some(first)
        );
        assert_eq!(
            impute_onset(&PartialDate::YearMonth(2025, 4), first),
            Some(d(2025, 4, 1))
        );
        assert_eq!(impute_onset(&PartialDate::Year(2025), first), Some(first));
        assert_eq!(
            impute_onset(&PartialDate::Year(2026), first),
            Some(d(2026, 1, 1))
        );
        assert_eq!(
            impute_onset(&PartialDate::YearMonth(2024, 12), first),
            Some(d(2024, 12, 1))
        );
        assert_eq!(
            impute_onset(&PartialDate::Full(d(2025, 5, 2)), first),
            Some(d(2025, 5, 2))
        );
    }

    #[test]
    fn eair_and_eaer_by_hand() {
        // given three patients:
        //   A exposed 365 days (days 0..=364), events on days 9 and 99
        //   B exposed 730 days, no event
        //   C exposed 100 days, an event on day 49 and one on day 200 (after exposure)
        let a = Exposure::new(day(0), day(364), Some(day(364)), None, 21);
        let b = Exposure::new(day(0), day(729), Some(day(729)), None, 21);
        let c = Exposure::new(day(0), day(99), Some(day(99)), None, 21);
        let group = [
            (a, vec![day(9), day(99)]),
            (b, vec![]),
            (c, vec![day(49), day(200)]),
        ];
        // when the rates are computed
        let r = exposure_adjusted(&group);
        // then at risk: A 10 days, B 730, C 50 = 790 days = 2.16290... years; 2 patients:
        //      EAIR = 200 / (790 / 365.25) = 92.4683...
        //      exposure: 365 + 730 + 100 = 1195 days; 3 events inside:
        //      EAER = 300 / (1195 / 365.25) = 91.6946...
        assert_eq!((r.patients, r.patients_with_event, r.events), (3, 2, 3));
        assert_eq!(r.events_outside_exposure, 1);
        assert!((r.patient_years_at_risk - 790.0 / 365.25).abs() < 1e-12);
        assert!((r.eair_per_100py.unwrap() - 92.468354).abs() < 1e-5);
        assert!((r.eaer_per_100py.unwrap() - 91.694560).abs() < 1e-5);
    }

    #[test]
    fn no_patients_give_no_rates() {
        // given an empty group
        // when the rates are computed
        // then counts are 0 and the rates undefined
        let r = exposure_adjusted(&[]);
        assert_eq!(
            (r.patients, r.eair_per_100py, r.eaer_per_100py),
            (0, None, None)
        );
    }
}
