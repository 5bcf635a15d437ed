//! Kaplan-Meier estimates of PFS and OS.
//!
//! Inputs are integer days (from the first dose, as DRUP measures them) and an event flag; the
//! survival estimate is an output, so it may be a float. At tied times, events are processed
//! before censorings: a patient censored at `t` was still at risk at `t`, the usual convention.

use serde::{Deserialize, Serialize};

/// Days in an average month, (365.25 / 12), for reporting medians in months.
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// Slack when testing S(t) <= 0.5 for the median. A product of exact fractions that equals 1/2
/// can come out a few ulps above it in floating point; without slack the median would then move
/// to a later time. Any real difference from 1/2 in trial-sized data is far larger.
const MEDIAN_TOLERANCE: f64 = 1e-12;

/// One patient's time to event or censoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Observation {
    /// Days from the time origin (first dose) to the event or the censoring.
    pub time_days: u32,
    /// `true` for an event (progression or death), `false` for censored.
    pub event: bool,
}

impl From<(u32, bool)> for Observation {
    fn from((time_days, event): (u32, bool)) -> Self {
        Observation { time_days, event }
    }
}

/// One step of the Kaplan-Meier estimate: a distinct time with an event or a censoring.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KmStep {
    /// The time in days.
    pub time_days: u32,
    /// Patients at risk just before this time (time >= this one).
    pub at_risk: u32,
    /// Events at this time.
    pub events: u32,
    /// Censorings at this time.
    pub censored: u32,
    /// The estimated survival S(t) just after this time.
    pub survival: f64,
}

/// A Kaplan-Meier estimate: its step function in time order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KaplanMeier {
    /// One step per distinct observed time, in increasing time.
    pub steps: Vec<KmStep>,
}

impl KaplanMeier {
    /// S(t): the survival after the last step at or before `time_days`; 1 before the first.
    pub fn survival_at(&self, time_days: u32) -> f64 {
        self.steps
            .iter()
            .take_while(|s| s.time_days <= time_days)
            .last()
            .map_or(1.0, |s| s.survival)
    }

    /// The median: the smallest time at which S(t) <= 0.5, or `None` if the estimate never falls
    /// that low (too many censored). Unlike R's `survfit`, a curve that sits exactly at 0.5 gives
    /// that time, not the midpoint to the next event.
    pub fn median_days(&self) -> Option<u32> {
        self.steps
            .iter()
            .find(|s| s.survival <= 0.5 + MEDIAN_TOLERANCE)
            .map(|s| s.time_days)
    }

    /// The median in months ([`days_to_months`]).
    pub fn median_months(&self) -> Option<f64> {
        self.median_days().map(days_to_months)
    }
}

/// The Kaplan-Meier estimate of the observations, in any order.
///
/// At each distinct time t with n at risk and d events, S is multiplied by (n - d) / n; censored
/// observations at t are counted at risk at t and leave the set afterwards.
pub fn kaplan_meier(observations: &[Observation]) -> KaplanMeier {
    let mut sorted = observations.to_vec();
    sorted.sort_by_key(|o| o.time_days);
    let mut at_risk = u32::try_from(sorted.len()).unwrap_or(u32::MAX);
    let mut survival = 1.0_f64;
    let mut steps = Vec::new();
    for group in sorted.chunk_by(|a, b| a.time_days == b.time_days) {
        let events = group.iter().filter(|o| o.event).count() as u32;
        let censored = group.len() as u32 - events;
        if events > 0 {
            survival *= f64::from(at_risk - events) / f64::from(at_risk);
        }
        steps.push(KmStep {
            time_days: group[0].time_days,
            at_risk,
            events,
            censored,
            survival,
        });
        at_risk -= events + censored;
    }
    KaplanMeier { steps }
}

/// Days as months of 365.25 / 12 days, the convention for reporting survival in months.
pub fn days_to_months(days: u32) -> f64 {
    f64::from(days) / DAYS_PER_MONTH
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-9;

    fn obs(list: &[(u32, bool)]) -> Vec<Observation> {
        list.iter().copied().map(Observation::from).collect()
    }

    #[test]
    fn hand_worked_example_with_censoring() {
        // given 7 patients: events at 3, 6, 6, 10, 12; censored at 5 and 8 (given out of order)
        let data = obs(&[
            (10, true),
            (3, true),
            (6, true),
            (5, false),
            (12, true),
            (8, false),
            (6, true),
        ]);
        // when the Kaplan-Meier estimate is taken
        let km = kaplan_meier(&data);
        // then, by hand:
        //   t=3:  7 at risk, 1 event        S = 6/7                  = 0.857142857...
        //   t=5:  6 at risk, 1 censored     S unchanged              = 0.857142857...
        //   t=6:  5 at risk, 2 events       S = 6/7 * 3/5 = 18/35    = 0.514285714...
        //   t=8:  3 at risk, 1 censored     S unchanged              = 0.514285714...
        //   t=10: 2 at risk, 1 event        S = 18/35 * 1/2 = 9/35   = 0.257142857...
        //   t=12: 1 at risk, 1 event        S = 9/35 * 0/1           = 0
        //   median: first t with S <= 0.5 is 10 (S(6) = 0.514 is still above)
        let expected = [
            (3, 7, 1, 0, 6.0 / 7.0),
            (5, 6, 0, 1, 6.0 / 7.0),
            (6, 5, 2, 0, 18.0 / 35.0),
            (8, 3, 0, 1, 18.0 / 35.0),
            (10, 2, 1, 0, 9.0 / 35.0),
            (12, 1, 1, 0, 0.0),
        ];
        assert_eq!(km.steps.len(), expected.len());
        for (step, &(t, n, d, c, s)) in km.steps.iter().zip(&expected) {
            assert_eq!(
                (step.time_days, step.at_risk, step.events, step.censored),
                (t, n, d, c),
                "step at {t}"
            );
            assert!(
                (step.survival - s).abs() < TOL,
                "S({t}) = {}",
                step.survival
            );
        }
        assert!((km.steps[0].survival - 0.857_142_857_142_857).abs() < TOL);
        assert!((km.steps[2].survival - 0.514_285_714_285_714).abs() < TOL);
        assert!((km.steps[4].survival - 0.257_142_857_142_857).abs() < TOL);
        assert_eq!(km.median_days(), Some(10));
        assert!((km.survival_at(7) - 18.0 / 35.0).abs() < TOL);
        assert_eq!(km.survival_at(2), 1.0);
    }

    #[test]
    fn events_precede_censorings_at_tied_times() {
        // given 4 patients: an event and a censoring both at day 5, then two events at 9
        let km = kaplan_meier(&obs(&[(5, false), (5, true), (9, true), (9, true)]));
        // when the estimate is taken
        // then the censored patient is still at risk at 5: S(5) = 3/4, not 2/3
        let s5 = km.steps[0];
        assert_eq!((s5.at_risk, s5.events, s5.censored), (4, 1, 1));
        assert!((s5.survival - 0.75).abs() < TOL);
        // and 2 remain at risk at 9
        assert_eq!(km.steps[1].at_risk, 2);
        assert!(km.steps[1].survival.abs() < TOL);
    }

    #[test]
    fn median_at_exactly_one_half_is_that_time() {
        // given 10 patients: events at day 1 (x1), 2 (x2) and 3 (x2), five censored at day 20.
        // S(3) = 9/10 * 7/9 * 5/7 = 1/2 exactly, but in f64 it comes out as 0.5000000000000001
        let km = kaplan_meier(&obs(&[
            (1, true),
            (2, true),
            (2, true),
            (3, true),
            (3, true),
            (20, false),
            (20, false),
            (20, false),
            (20, false),
            (20, false),
        ]));
        assert!(
            km.steps[2].survival > 0.5,
            "rounding makes this a real test"
        );
        // when the median is taken
        // then it is day 3, not "never reached"
        assert_eq!(km.median_days(), Some(3));
    }

    #[test]
    fn median_not_reached_is_none() {
        // given 4 patients, one event then three censored
        let km = kaplan_meier(&obs(&[(10, true), (20, false), (30, false), (40, false)]));
        // when the median is taken
        // then S never falls to 0.5: no median
        assert!((km.survival_at(40) - 0.75).abs() < TOL);
        assert_eq!(km.median_days(), None);
        assert_eq!(km.median_months(), None);
    }

    #[test]
    fn no_observations_give_an_empty_curve() {
        // given no observation
        // when the estimate is taken
        let km = kaplan_meier(&[]);
        // then no step and no median
        assert!(km.steps.is_empty());
        assert_eq!(km.median_days(), None);
    }

    #[test]
    fn days_convert_to_months_of_365_25_over_12_days() {
        // given 4 years of days (1461) and 3.4 months' worth (103.49 days)
        // when converted
        // then 48 months exactly, and 103 days is just under 3.4 months
        assert!((days_to_months(1461) - 48.0).abs() < TOL);
        assert!((days_to_months(103) - 103.0 / 30.4375).abs() < TOL);
        assert!(days_to_months(103) < 3.4 && days_to_months(104) > 3.4);
        let km = kaplan_meier(&obs(&[(1461, true)]));
        assert!((km.median_months().unwrap() - 48.0).abs() < TOL);
    }
}
