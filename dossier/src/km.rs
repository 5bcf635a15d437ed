//! Kaplan-Meier summaries as an assessor reads them: the median and its confidence interval,
//! landmark rates with their intervals, numbers at risk, events/N and the median follow-up.
//!
//! Stated exactly (the dossier repeats this text in its conventions):
//! * **median**: the first time at which S(t) <= 0.5 ([`tl_clinical::KaplanMeier::median_days`]).
//!   R's `survfit` and SAS take the midpoint to the next event time when S(t) = 0.5 exactly on an
//!   interval; this dossier does not.
//! * **bands**: pointwise 95 % intervals on the log(-log) scale with Greenwood's variance:
//!   with `V(t) = sum over event times u <= t of d / (n (n - d))` and `L = ln S(t)`,
//!   `lower = exp(-exp(ln(-L) + z sqrt(V) / |L|))` and `upper = exp(-exp(ln(-L) - z sqrt(V) / |L|))`,
//!   `z` the 0.975 normal quantile. Before the first event the band is [1, 1]; where S(t) = 0 it
//!   is [0, 0], as lifelines gives it (R leaves it undefined), so a curve that drops to 0 has
//!   an upper median bound at that time.
//! * **median CI** (Brookmeyer-Crowley with the log(-log) transform, as lifelines computes it and
//!   SAS LIFETEST does by default): each bound is the first time its band is <= 0.5; `None`
//!   ("NR", not reached) where the band never gets there.
//! * **landmarks** at 6, 12 and 24 months of 30.4375 days: S and its band at the last step at or
//!   before day `floor(months x 30.4375)`; `None` when no patient was followed that long.
//! * **numbers at risk** every 3 months: the patients whose time is at least that day.
//! * **median follow-up**: the median of the reverse Kaplan-Meier estimate (censorings counted
//!   as events, events as censorings).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};
use tl_clinical::{kaplan_meier, Observation};

/// Days in a month (365.25 / 12 = 30.4375): the protocol's reporting convention.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// The landmark months reported.
pub const LANDMARK_MONTHS: [u32; 3] = [6, 12, 24];

/// Months between the numbers-at-risk columns.
pub const AT_RISK_EVERY_MONTHS: u32 = 3;

/// The day a month count falls on: `floor(months x 30.4375)`.
pub fn month_day(months: u32) -> u32 {
    (f64::from(months) * DAYS_PER_MONTH).floor() as u32
}

/// The two-sided 95 % normal quantile z (0.975 quantile, 1.959964...).
fn z95() -> f64 {
    Normal::new(0.0, 1.0)
        .map(|n| n.inverse_cdf(0.975))
        .unwrap_or(1.959_963_984_540_054)
}

/// One step of the curve: the estimate and its pointwise band just after `time_days`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BandStep {
    /// Days from the time origin.
    pub time_days: u32,
    /// At risk just before.
    pub at_risk: u32,
    /// Events at this time.
    pub events: u32,
    /// Censorings at this time.
    pub censored: u32,
    /// S(t) just after.
    pub survival: f64,
    /// The band's lower bound.
    pub lower: f64,
    /// The band's upper bound.
    pub upper: f64,
}

/// A rate at a landmark with its band.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Landmark {
    /// Months.
    pub months: u32,
    /// The day it is read at.
    pub day: u32,
    /// S at that day.
    pub survival: f64,
    /// The band's lower bound.
    pub lower: f64,
    /// The band's upper bound.
    pub upper: f64,
}

/// Patients at risk at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AtRisk {
    /// Months from the origin.
    pub months: u32,
    /// The day.
    pub day: u32,
    /// Patients whose time is at least `day`.
    pub at_risk: u32,
}

/// Everything a dossier reports about one time-to-event endpoint of one group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KmSummary {
    /// Patients (N).
    pub n: u32,
    /// Events.
    pub events: u32,
    /// Median, days (`None`: not reached).
    pub median_days: Option<u32>,
    /// The median's 95 % CI lower bound, days (`None`: not reached).
    pub median_ci_lower_days: Option<u32>,
    /// The median's 95 % CI upper bound, days (`None`: not reached).
    pub median_ci_upper_days: Option<u32>,
    /// Landmark rates at 6, 12 and 24 months (`None`: no patient followed that long).
    pub landmarks: Vec<Option<Landmark>>,
    /// Numbers at risk every 3 months, from 0 to the last observed time.
    pub at_risk: Vec<AtRisk>,
    /// The curve, for the plot.
    pub steps: Vec<BandStep>,
}

/// The Kaplan-Meier curve with its pointwise log(-log) Greenwood bands.
pub fn curve(observations: &[Observation]) -> Vec<BandStep> {
    let z = z95();
    let km = kaplan_meier(observations);
    let mut greenwood = 0.0_f64;
    km.steps
        .iter()
        .map(|s| {
            if s.events > 0 {
                let (n, d) = (f64::from(s.at_risk), f64::from(s.events));
                greenwood += if s.at_risk > s.events {
                    d / (n * (n - d))
                } else {
                    f64::INFINITY
                };
            }
            let (lower, upper) = band(s.survival, greenwood, z);
            BandStep {
                time_days: s.time_days,
                at_risk: s.at_risk,
                events: s.events,
                censored: s.censored,
                survival: s.survival,
                lower,
                upper,
            }
        })
        .collect()
}

/// The log(-log) band of `s` with Greenwood sum `v`.
fn band(s: f64, v: f64, z: f64) -> (f64, f64) {
    if s >= 1.0 {
        return (1.0, 1.0);
    }
    if s <= 0.0 || !v.is_finite() {
        // Greenwood's sum is infinite only where S = 0 (every patient at risk had the event).
        return (0.0, 0.0);
    }
    let l = s.ln();
    let c = (-l).ln();
    let w = z * v.sqrt() / l.abs();
    ((-(c + w).exp()).exp(), (-(c - w).exp()).exp())
}

/// The first step time at which `value` is <= 0.5.
fn first_at_or_below_half(steps: &[BandStep], value: impl Fn(&BandStep) -> f64) -> Option<u32> {
    steps.iter().find(|s| value(s) <= 0.5).map(|s| s.time_days)
}

/// The summary of `observations` (times from the origin; `event` false for censored).
pub fn summarise(observations: &[Observation]) -> KmSummary {
    let steps = curve(observations);
    let median_days = tl_clinical::kaplan_meier(observations).median_days();
    let last = observations.iter().map(|o| o.time_days).max();
    let landmarks = LANDMARK_MONTHS
        .iter()
        .map(|&m| {
            let day = month_day(m);
            if last.is_none_or(|t| t < day) {
                return None;
            }
            let at = steps.iter().take_while(|s| s.time_days <= day).last();
            Some(Landmark {
                months: m,
                day,
                survival: at.map_or(1.0, |s| s.survival),
                lower: at.map_or(1.0, |s| s.lower),
                upper: at.map_or(1.0, |s| s.upper),
            })
        })
        .collect();
    let mut at_risk = Vec::new();
    if let Some(last) = last {
        let mut months = 0;
        while month_day(months) <= last {
            let day = month_day(months);
            let n = observations.iter().filter(|o| o.time_days >= day).count() as u32;
            at_risk.push(AtRisk {
                months,
                day,
                at_risk: n,
            });
            months += AT_RISK_EVERY_MONTHS;
        }
    }
    KmSummary {
        n: observations.len() as u32,
        events: observations.iter().filter(|o| o.event).count() as u32,
        median_days,
        median_ci_lower_days: first_at_or_below_half(&steps, |s| s.lower),
        median_ci_upper_days: first_at_or_below_half(&steps, |s| s.upper),
        landmarks,
        at_risk,
        steps,
    }
}

/// The median follow-up, days, by reverse Kaplan-Meier: censorings are the events.
pub fn median_follow_up_days(observations: &[Observation]) -> Option<u32> {
    let reversed: Vec<Observation> = observations
        .iter()
        .map(|o| Observation {
            time_days: o.time_days,
            event: !o.event,
        })
        .collect();
    kaplan_meier(&reversed).median_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(list: &[(u32, bool)]) -> Vec<Observation> {
        list.iter().copied().map(Observation::from).collect()
    }

    /// The textbook example of 7 patients (tl-clinical's hand-worked one).
    fn seven() -> Vec<Observation> {
        obs(&[
            (10, true),
            (3, true),
            (6, true),
            (5, false),
            (12, true),
            (8, false),
            (6, true),
        ])
    }

    #[test]
    fn given_seven_patients_when_banded_then_greenwood_log_log_by_hand() {
        // given the 7 patients; S(3) = 6/7 with V = 1/(7*6)
        let c = curve(&seven());
        // when the band at t = 3 is taken
        // then it is exp(-exp(ln(-ln S) +- z sqrt(V)/|ln S|)), worked out here by hand
        let s = 6.0_f64 / 7.0;
        let (l, v) = (s.ln(), 1.0_f64 / 42.0);
        let z = 1.959_963_984_540_054;
        let lo = (-((-l).ln() + z * v.sqrt() / l.abs()).exp()).exp();
        let hi = (-((-l).ln() - z * v.sqrt() / l.abs()).exp()).exp();
        assert!((c[0].lower - lo).abs() < 1e-12);
        assert!((c[0].upper - hi).abs() < 1e-12);
        // numerically (R survfit conf.type = "log-log" gives 0.334 and 0.979)
        // numerically as lifelines 0.30 prints them (0.334054, 0.978561)
        assert!((lo - 0.334_054).abs() < 1e-6, "{lo}");
        assert!((hi - 0.978_561).abs() < 1e-6, "{hi}");
        // and the censoring at 5 keeps the band of 3
        assert_eq!(c[1].lower, c[0].lower);
        // and at t = 10 lifelines' 0.012584 and 0.656016
        assert!((c[4].lower - 0.012_584).abs() < 1e-6);
        assert!((c[4].upper - 0.656_016).abs() < 1e-6);
        // and where S = 0 (t = 12) the band is [0, 0], as lifelines gives it
        assert_eq!((c[5].lower, c[5].upper), (0.0, 0.0));
    }

    #[test]
    fn given_seven_patients_when_summarised_then_median_ci_and_counts() {
        let k = summarise(&seven());
        // then N, events, the median (first S <= 0.5), and its CI from the bands
        assert_eq!((k.n, k.events, k.median_days), (7, 5, Some(10)));
        // the lower band is 0.334 already at day 3; the upper band is 0.656 at 10 and 0 at 12:
        // [3, 12], lifelines' median_survival_times of its confidence_interval_
        assert_eq!(k.median_ci_lower_days, Some(3));
        assert_eq!(k.median_ci_upper_days, Some(12));
        // and a curve that stays above 0.5 has neither median nor upper bound (NR)
        let nr = summarise(&obs(&[(10, true), (20, false), (30, false), (40, false)]));
        assert_eq!((nr.median_days, nr.median_ci_upper_days), (None, None));
        // no landmark: nobody was followed 6 months
        assert!(k.landmarks.iter().all(Option::is_none));
        assert_eq!(
            k.at_risk,
            vec![AtRisk {
                months: 0,
                day: 0,
                at_risk: 7
            }]
        );
    }

    #[test]
    fn given_long_follow_up_when_summarised_then_landmarks_and_numbers_at_risk() {
        // given 4 patients: an event at day 100, censored at 200, an event at 400, censored at 800
        let k = summarise(&obs(&[
            (100, true),
            (200, false),
            (400, true),
            (800, false),
        ]));
        // then the landmarks read the step at or before day 182, 365 and 730
        let l: Vec<_> = k.landmarks.iter().map(|l| l.unwrap()).collect();
        assert_eq!((l[0].day, l[1].day, l[2].day), (182, 365, 730));
        assert!((l[0].survival - 0.75).abs() < 1e-12);
        assert!((l[1].survival - 0.75).abs() < 1e-12);
        assert!((l[2].survival - 0.375).abs() < 1e-12);
        // and numbers at risk every 3 months (day 0, 91, 182, ..., 791) to the last time
        let days: Vec<u32> = k.at_risk.iter().map(|a| a.day).collect();
        assert_eq!(days, vec![0, 91, 182, 273, 365, 456, 547, 639, 730]);
        let n: Vec<u32> = k.at_risk.iter().map(|a| a.at_risk).collect();
        assert_eq!(n, vec![4, 4, 3, 2, 2, 1, 1, 1, 1]);
    }

    #[test]
    fn given_censorings_when_reverse_km_then_median_follow_up() {
        // given events at 3, 6, 6, 10, 12 and censorings at 5, 8: reversed, the censorings are
        // the events: S = 6/7 at 5 (7 at risk? no: 6 at risk after the event at 3), ...
        // reverse KM: t=3 censored(7), t=5 event of 6 -> 5/6, t=6 censored x2, t=8 event of 3
        // -> 5/6 * 2/3 = 10/18 = 0.556, t=10, 12 censored: never <= 0.5
        assert_eq!(median_follow_up_days(&seven()), None);
        // and with all censored, the median follow-up is the plain median time
        assert_eq!(
            median_follow_up_days(&obs(&[(10, false), (20, false), (30, false)])),
            Some(20)
        );
    }

    #[test]
    fn months_fall_on_floor_days() {
        assert_eq!(month_day(6), 182);
        assert_eq!(month_day(12), 365);
        assert_eq!(month_day(24), 730);
        assert_eq!(month_day(3), 91);
    }
}
