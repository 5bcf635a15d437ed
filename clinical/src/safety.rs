//! Adverse events: CTCAE v5 grade, seriousness, attribution, and the SUSAR decision and clock.
//!
//! Grade and seriousness are independent on purpose: the grade is the clinical *severity* (CTCAE),
//! seriousness is the regulatory *outcome* (ICH E2A). A grade-3 rash is not necessarily serious,
//! and a grade-2 event that prolongs a hospital stay is. The SUSAR clock therefore runs on the
//! seriousness criteria (death, life-threatening), not on the grade.

use serde::{Deserialize, Serialize};
use tl_schemas::Date;

/// A SUSAR that is fatal or life-threatening must be reported within this many calendar days of
/// awareness (ICH E2A; EU CTR 536/2014 art. 42 and annex III).
pub const SUSAR_FATAL_OR_LIFE_THREATENING_DAYS: i32 = 7;

/// Any other SUSAR must be reported within this many calendar days of awareness.
pub const SUSAR_OTHER_DAYS: i32 = 15;

/// A CTCAE v5 grade. The discriminants are the grade numbers; validated construction goes through
/// [`CtcaeGrade::try_from`], so no grade 0 or 6 can exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CtcaeGrade {
    /// Grade 1: mild.
    Mild = 1,
    /// Grade 2: moderate.
    Moderate = 2,
    /// Grade 3: severe or medically significant.
    Severe = 3,
    /// Grade 4: life-threatening consequences.
    LifeThreatening = 4,
    /// Grade 5: death related to the adverse event.
    Death = 5,
}

/// A number that is not a CTCAE grade (1-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("CTCAE grade must be 1 to 5, got {0}")]
pub struct GradeError(pub u8);

impl TryFrom<u8> for CtcaeGrade {
    type Error = GradeError;
    fn try_from(n: u8) -> Result<Self, GradeError> {
        match n {
            1 => Ok(CtcaeGrade::Mild),
            2 => Ok(CtcaeGrade::Moderate),
            3 => Ok(CtcaeGrade::Severe),
            4 => Ok(CtcaeGrade::LifeThreatening),
            5 => Ok(CtcaeGrade::Death),
            other => Err(GradeError(other)),
        }
    }
}

impl CtcaeGrade {
    /// The grade number, 1 to 5.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Grade 3 or worse: the threshold DRUP's toxicity figures use.
    pub fn is_grade3_or_worse(self) -> bool {
        self >= CtcaeGrade::Severe
    }
}

/// The ICH E2A seriousness criteria of an adverse event. An event is serious iff any is met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeriousnessCriteria {
    /// Resulted in death.
    pub death: bool,
    /// Was life-threatening (at risk of death at the time of the event).
    pub life_threatening: bool,
    /// Required or prolonged in-patient hospitalisation.
    pub hospitalisation: bool,
    /// Resulted in persistent or significant disability or incapacity.
    pub disability: bool,
    /// Is a congenital anomaly or birth defect.
    pub congenital_anomaly: bool,
    /// Is otherwise medically important.
    pub medically_important: bool,
}

impl SeriousnessCriteria {
    /// Serious iff any criterion is met.
    pub fn is_serious(&self) -> bool {
        self.death
            || self.life_threatening
            || self.hospitalisation
            || self.disability
            || self.congenital_anomaly
            || self.medically_important
    }

    /// Fatal or life-threatening: the events on the 7-day SUSAR clock.
    pub fn is_fatal_or_life_threatening(&self) -> bool {
        self.death || self.life_threatening
    }
}

/// The investigator's assessment of causality between the drug and the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Attribution {
    /// Clearly not related.
    Unrelated,
    /// Doubtfully related.
    Unlikely,
    /// May be related.
    Possible,
    /// Likely related.
    Probable,
    /// Clearly related.
    Definite,
}

impl Attribution {
    /// Suspected (a reasonable possibility of a causal relationship): Possible, Probable or
    /// Definite. This is also what "treatment-related" means in the safety figures.
    pub fn is_suspected(self) -> bool {
        self >= Attribution::Possible
    }
}

/// A grade >= 3 treatment-related adverse event: grade 3 or worse and suspected attribution.
pub fn is_grade3_or_worse_treatment_related(grade: CtcaeGrade, attribution: Attribution) -> bool {
    grade.is_grade3_or_worse() && attribution.is_suspected()
}

/// A suspected unexpected serious adverse reaction: suspected, serious and not expected per the
/// reference safety information.
pub fn is_susar(suspected: bool, serious: bool, expected: bool) -> bool {
    suspected && serious && !expected
}

/// The date a SUSAR report is due: 7 calendar days after awareness for fatal or life-threatening
/// events, 15 otherwise. Awareness is day 0, so awareness on 2025-03-01 gives 2025-03-08 or
/// 2025-03-16.
pub fn susar_due_date(awareness: Date, fatal_or_life_threatening: bool) -> Date {
    let days = if fatal_or_life_threatening {
        SUSAR_FATAL_OR_LIFE_THREATENING_DAYS
    } else {
        SUSAR_OTHER_DAYS
    };
    // Saturating rather than panicking: only an absurd awareness date could reach it.
    Date(awareness.0.saturating_add(days))
}

/// The report clock of one SUSAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SusarClock {
    /// The date the sponsor became aware of the event (day 0).
    pub awareness: Date,
    /// The reporting window in calendar days: 7 or 15.
    pub window_days: i32,
    /// The last day the report is on time.
    pub due: Date,
}

impl SusarClock {
    /// The clock of a SUSAR the sponsor became aware of on `awareness`.
    pub fn new(awareness: Date, fatal_or_life_threatening: bool) -> Self {
        let due = susar_due_date(awareness, fatal_or_life_threatening);
        SusarClock {
            awareness,
            window_days: awareness.days_until(due),
            due,
        }
    }

    /// Calendar days left on `today` until the due date: 0 on the due date, negative once
    /// overdue. `today` is an argument because this crate reads no clock.
    pub fn days_remaining(&self, today: Date) -> i32 {
        today.days_until(self.due)
    }

    /// Whether a report not yet sent on `today` is late (`today` is after the due date).
    pub fn is_overdue(&self, today: Date) -> bool {
        today > self.due
    }
}

/// The SUSAR decision for one event: its clock if it is a SUSAR (suspected attribution, serious,
/// unexpected), `None` otherwise. The clock is 7 days when the event is fatal or life-threatening.
pub fn susar_decision(
    attribution: Attribution,
    seriousness: &SeriousnessCriteria,
    expected: bool,
    awareness: Date,
) -> Option<SusarClock> {
    is_susar(
        attribution.is_suspected(),
        seriousness.is_serious(),
        expected,
    )
    .then(|| SusarClock::new(awareness, seriousness.is_fatal_or_life_threatening()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn march_1() -> Date {
        Date::from_ymd(2025, 3, 1).unwrap()
    }

    #[test]
    fn grades_1_to_5_are_valid_and_0_and_6_are_not() {
        // given the numbers 0 to 6
        // when converted to CTCAE grades
        // then 1-5 round-trip and 0, 6 are refused
        for n in 1..=5u8 {
            assert_eq!(CtcaeGrade::try_from(n).unwrap().number(), n);
        }
        assert_eq!(CtcaeGrade::try_from(0), Err(GradeError(0)));
        assert_eq!(CtcaeGrade::try_from(6), Err(GradeError(6)));
        assert_eq!(CtcaeGrade::try_from(5), Ok(CtcaeGrade::Death));
    }

    #[test]
    fn event_without_criteria_is_not_serious() {
        // given no seriousness criterion
        let c = SeriousnessCriteria::default();
        // when judged
        // then not serious
        assert!(!c.is_serious());
    }

    #[test]
    fn any_single_criterion_makes_an_event_serious() {
        // given each criterion alone
        let singles = [
            SeriousnessCriteria {
                death: true,
                ..Default::default()
            },
            SeriousnessCriteria {
                life_threatening: true,
                ..Default::default()
            },
            SeriousnessCriteria {
                hospitalisation: true,
                ..Default::default()
            },
            SeriousnessCriteria {
                disability: true,
                ..Default::default()
            },
            SeriousnessCriteria {
                congenital_anomaly: true,
                ..Default::default()
            },
            SeriousnessCriteria {
                medically_important: true,
                ..Default::default()
            },
        ];
        // when judged
        // then each is serious
        for c in singles {
            assert!(c.is_serious(), "{c:?}");
        }
    }

    #[test]
    fn possible_and_above_are_suspected() {
        // given every attribution
        // when asked whether it is suspected
        // then Possible, Probable and Definite are; Unrelated and Unlikely are not
        assert!(!Attribution::Unrelated.is_suspected());
        assert!(!Attribution::Unlikely.is_suspected());
        assert!(Attribution::Possible.is_suspected());
        assert!(Attribution::Probable.is_suspected());
        assert!(Attribution::Definite.is_suspected());
    }

    #[test]
    fn grade3_treatment_related_needs_grade_3_and_suspicion() {
        // given grades and attributions around both thresholds
        // when combined
        // then only grade >= 3 with Possible or above counts
        assert!(is_grade3_or_worse_treatment_related(
            CtcaeGrade::Severe,
            Attribution::Possible
        ));
        assert!(is_grade3_or_worse_treatment_related(
            CtcaeGrade::Death,
            Attribution::Definite
        ));
        assert!(!is_grade3_or_worse_treatment_related(
            CtcaeGrade::Moderate,
            Attribution::Definite
        ));
        assert!(!is_grade3_or_worse_treatment_related(
            CtcaeGrade::LifeThreatening,
            Attribution::Unlikely
        ));
    }

    #[test]
    fn susar_needs_suspected_serious_and_unexpected() {
        // given every combination of the three conditions
        // when judged
        // then only suspected, serious and unexpected is a SUSAR
        for suspected in [false, true] {
            for serious in [false, true] {
                for expected in [false, true] {
                    assert_eq!(
                        is_susar(suspected, serious, expected),
                        suspected && serious && !expected
                    );
                }
            }
        }
        assert!(is_susar(true, true, false));
        assert!(!is_susar(true, true, true));
    }

    #[test]
    fn fatal_susar_aware_on_2025_03_01_is_due_2025_03_08() {
        // given awareness on 2025-03-01 of a fatal, suspected, unexpected event
        let fatal = SeriousnessCriteria {
            death: true,
            ..Default::default()
        };
        // when the SUSAR decision is taken
        let clock = susar_decision(Attribution::Probable, &fatal, false, march_1()).unwrap();
        // then the report is due on 2025-03-08
        assert_eq!(clock.due.to_string(), "2025-03-08");
        assert_eq!(clock.window_days, 7);
    }

    #[test]
    fn life_threatening_susar_is_due_in_7_days() {
        // given awareness on 2025-03-01 of a life-threatening SUSAR
        // when its due date is computed
        // then 2025-03-08
        assert_eq!(
            susar_due_date(march_1(), true),
            Date::from_ymd(2025, 3, 8).unwrap()
        );
    }

    #[test]
    fn other_susar_aware_on_2025_03_01_is_due_2025_03_16() {
        // given awareness on 2025-03-01 of a SUSAR that led to hospitalisation only
        let hospitalised = SeriousnessCriteria {
            hospitalisation: true,
            ..Default::default()
        };
        // when the SUSAR decision is taken
        let clock = susar_decision(Attribution::Possible, &hospitalised, false, march_1()).unwrap();
        // then the report is due on 2025-03-16
        assert_eq!(clock.due.to_string(), "2025-03-16");
        assert_eq!(clock.window_days, 15);
    }

    #[test]
    fn expected_or_unrelated_event_has_no_susar_clock() {
        // given a fatal event
        let fatal = SeriousnessCriteria {
            death: true,
            ..Default::default()
        };
        // when it is expected, or its attribution is unlikely
        // then there is no SUSAR clock
        assert_eq!(
            susar_decision(Attribution::Definite, &fatal, true, march_1()),
            None
        );
        assert_eq!(
            susar_decision(Attribution::Unlikely, &fatal, false, march_1()),
            None
        );
    }

    #[test]
    fn susar_clock_counts_down_and_is_overdue_after_due_date() {
        // given a 7-day clock from 2025-03-01
        let clock = SusarClock::new(march_1(), true);
        let day = |d| Date::from_ymd(2025, 3, d).unwrap();
        // when read on several days
        // then it counts down to 0 on the due date and is overdue the day after
        assert_eq!(clock.days_remaining(day(1)), 7);
        assert_eq!(clock.days_remaining(day(8)), 0);
        assert!(!clock.is_overdue(day(8)));
        assert_eq!(clock.days_remaining(day(9)), -1);
        assert!(clock.is_overdue(day(9)));
    }
}
