//! ESMO-MCBS v1.1, evaluation form 3: single-arm studies in "orphan diseases" and diseases with
//! "high unmet need", primary outcome PFS or ORR, non-curative setting (Cherny et al., "ESMO-
//! Magnitude of Clinical Benefit Scale version 1.1", Ann Oncol 2017;28:2340-2366, form 3).
//!
//! | grade | criteria (any one) |
//! |---|---|
//! | 3 | PFS >= 6 months; ORR >= 60 %; ORR >= 20 % and < 60 % and DoR >= 9 months |
//! | 2 | PFS >= 3 and < 6 months; ORR >= 40 % and < 60 %; ORR >= 20 % and < 40 % and DoR >= 6 and < 9 months |
//! | 1 | PFS >= 2 and < 3 months; ORR >= 20 % and < 40 % and DoR < 6 months; ORR >= 10 % and < 20 % and DoR >= 6 months |
//!
//! The grade here is the *preliminary* one: the highest grade any criterion meets. The form's
//! adjustments (down one level for >= 30 % grade 3-4 toxicities impacting daily well-being, up
//! for improved quality of life or confirmatory phase-4 experience) need judgement or data the
//! ledger does not hold; the grade >= 3 treatment-related rate is shown beside it.
//!
//! Inputs: ORR among the response-evaluable, the median DoR (when the median is not reached, the
//! lower bound of its 95 % CI, a value the median is at least; when that is not reached either,
//! DoR criteria are not met), and the median PFS (not reached: not graded on PFS).

use crate::figures::Group;
use crate::km::DAYS_PER_MONTH;
use serde::Serialize;

/// The source of the thresholds, cited in the dossier.
pub const SOURCE: &str = "ESMO-MCBS v1.1 evaluation form 3 (Cherny et al., Ann Oncol 2017;28:2340-2366): grade 3: PFS >= 6 months, ORR >= 60 %, or ORR 20-<60 % with DoR >= 9 months; grade 2: PFS 3-<6 months, ORR 40-<60 %, or ORR 20-<40 % with DoR 6-<9 months; grade 1: PFS 2-<3 months, ORR 20-<40 % with DoR < 6 months, or ORR 10-<20 % with DoR >= 6 months. Preliminary grade; the form's adjustments are not applied.";

/// A cohort's ESMO-MCBS form 3 grade and what it rests on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EsmoGrade {
    /// The preliminary grade (1-3), `None` when no criterion is met.
    pub grade: Option<u8>,
    /// The criteria met, in words.
    pub criteria_met: Vec<String>,
    /// ORR among the evaluable, percent.
    pub orr_percent: Option<f64>,
    /// DoR used, months.
    pub dor_months: Option<f64>,
    /// Where the DoR comes from: `median`, `median lower 95 % bound` or `not estimable`.
    pub dor_basis: &'static str,
    /// Median PFS, months.
    pub pfs_months: Option<f64>,
    /// Patients with a grade >= 3 treatment-related AE, percent of treated (the form's
    /// toxicity adjustment is a judgement this does not make).
    pub grade3plus_related_percent: Option<f64>,
    /// The thresholds' source.
    pub source: &'static str,
}

/// The preliminary grade from ORR (percent), DoR and PFS (months); returns the grade and the
/// criteria met.
pub fn form3(orr: Option<f64>, dor: Option<f64>, pfs: Option<f64>) -> (Option<u8>, Vec<String>) {
    let mut met: Vec<(u8, String)> = Vec::new();
    if let Some(p) = pfs {
        if p >= 6.0 {
            met.push((3, "PFS >= 6 months".into()));
        } else if p >= 3.0 {
            met.push((2, "PFS >= 3 and < 6 months".into()));
        } else if p >= 2.0 {
            met.push((1, "PFS >= 2 and < 3 months".into()));
        }
    }
    if let Some(o) = orr {
        if o >= 60.0 {
            met.push((3, "ORR >= 60 %".into()));
        } else if o >= 40.0 {
            met.push((2, "ORR >= 40 % and < 60 %".into()));
        }
        if let Some(d) = dor {
            if (20.0..60.0).contains(&o) && d >= 9.0 {
                met.push((3, "ORR >= 20 % and < 60 % with DoR >= 9 months".into()));
            }
            if (20.0..40.0).contains(&o) && (6.0..9.0).contains(&d) {
                met.push((
                    2,
                    "ORR >= 20 % and < 40 % with DoR >= 6 and < 9 months".into(),
                ));
            }
            if (20.0..40.0).contains(&o) && d < 6.0 {
                met.push((1, "ORR >= 20 % and < 40 % with DoR < 6 months".into()));
            }
            if (10.0..20.0).contains(&o) && d >= 6.0 {
                met.push((1, "ORR >= 10 % and < 20 % with DoR >= 6 months".into()));
            }
        }
    }
    let grade = met.iter().map(|(g, _)| *g).max();
    (grade, met.into_iter().map(|(_, c)| c).collect())
}

/// The grade of a cohort's figures.
pub fn grade(g: &Group) -> EsmoGrade {
    let months = |d: u32| f64::from(d) / DAYS_PER_MONTH;
    let orr = g.orr_evaluable.map(|r| 100.0 * r.estimate);
    let (dor, dor_basis) = match (g.dor.median_days, g.dor.median_ci_lower_days) {
        (Some(m), _) => (Some(months(m)), "median"),
        (None, Some(l)) => (
            Some(months(l)),
            "median lower 95 % bound (median not reached)",
        ),
        (None, None) => (None, "not estimable"),
    };
    let pfs = g.pfs.median_days.map(months);
    let (grade, criteria_met) = form3(orr, dor, pfs);
    EsmoGrade {
        grade,
        criteria_met,
        orr_percent: orr,
        dor_months: dor,
        dor_basis,
        pfs_months: pfs,
        grade3plus_related_percent: (g.treated > 0).then(|| {
            100.0 * f64::from(g.safety.patients_grade3plus_related) / f64::from(g.treated)
        }),
        source: SOURCE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_form_3_boundaries_when_graded_then_each_threshold_is_inclusive_below() {
        // ORR alone
        assert_eq!(form3(Some(60.0), None, None).0, Some(3));
        assert_eq!(form3(Some(59.9), None, None).0, Some(2));
        assert_eq!(form3(Some(40.0), None, None).0, Some(2));
        assert_eq!(form3(Some(39.9), None, None).0, None);
        // ORR with DoR
        assert_eq!(form3(Some(20.0), Some(9.0), None).0, Some(3));
        assert_eq!(form3(Some(45.0), Some(9.0), None).0, Some(3));
        assert_eq!(form3(Some(35.0), Some(8.9), None).0, Some(2));
        assert_eq!(form3(Some(35.0), Some(6.0), None).0, Some(2));
        assert_eq!(form3(Some(35.0), Some(5.9), None).0, Some(1));
        assert_eq!(form3(Some(15.0), Some(6.0), None).0, Some(1));
        assert_eq!(form3(Some(15.0), Some(5.9), None).0, None);
        assert_eq!(form3(Some(9.9), Some(30.0), None).0, None);
        // PFS
        assert_eq!(form3(None, None, Some(6.0)).0, Some(3));
        assert_eq!(form3(None, None, Some(5.99)).0, Some(2));
        assert_eq!(form3(None, None, Some(2.0)).0, Some(1));
        assert_eq!(form3(None, None, Some(1.99)).0, None);
        // the highest criterion met wins, and every criterion met is named
        let (g, met) = form3(Some(35.0), Some(22.0), Some(2.5));
        assert_eq!(g, Some(3));
        assert_eq!(met.len(), 2, "{met:?}");
    }

    #[test]
    fn given_the_drup_msi_cohort_when_graded_then_grade_3() {
        // given the DRUP nivolumab dMMR/MSI figures the Zorginstituut cited: ORR over a third,
        // DoR of 22 months or more in half of the responders
        let (g, met) = form3(Some(35.0), Some(22.0), None);
        // then ORR 20-<60 % with DoR >= 9 months: grade 3
        assert_eq!(g, Some(3));
        assert_eq!(
            met,
            vec!["ORR >= 20 % and < 60 % with DoR >= 9 months".to_string()]
        );
    }
}
