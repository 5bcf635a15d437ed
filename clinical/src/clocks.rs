//! The reporting clocks of one adverse-event case: the sponsor's SUSAR clocks toward the
//! authorities (EU CTR 536/2014 Art. 42 and Annex III; ICH E2A) and the investigator's SAE clock
//! toward the sponsor (CTR Art. 41).
//!
//! **Day 0** of a SUSAR clock is the sponsor's awareness date carried by the report or follow-up
//! that starts it (`awareness` in the AE payloads, FORMAT.md §10a.3), not the record's time.
//!
//! - The case's first report or follow-up that makes it a SUSAR (suspected, serious, unexpected)
//!   starts a clock: 7 days when it is fatal or life-threatening, with a follow-up report due
//!   within 8 further days; 15 days otherwise.
//! - A case first judged non-fatal that becomes fatal or life-threatening starts a new 7-day
//!   clock (and its 8-day follow-up) from the follow-up that first qualifies it.
//! - A follow-up that makes the case no longer a SUSAR (now judged expected, or unrelated) stops
//!   its clocks; one that makes it a SUSAR again starts them anew, as the safety view's `susars`
//!   list does.
//!
//! Expectedness is the investigator's, as the AE payloads carry it: the sponsor's own assessment
//! against the reference safety information needs an event of its own (a later issue).
//!
//! **The investigator's SAE clock**: an investigator reports a serious adverse event to the
//! sponsor within 24 hours of becoming aware of it. The payloads carry no investigator-awareness
//! date, so Day 0 is the onset (the earliest the site can have known; unknown for a partial
//! onset), the due date the day after, and the report counts as on time when the sponsor's
//! awareness date is no later. A late flag is a prompt to check, not a finding.

use crate::safety::{
    is_susar, SeriousnessCriteria, SUSAR_FATAL_OR_LIFE_THREATENING_DAYS, SUSAR_OTHER_DAYS,
};
use crate::Attribution;
use serde::Serialize;
use tl_schemas::Date;

/// Days after a 7-day report within which its follow-up report is due.
pub const SUSAR_FOLLOW_UP_DAYS: i32 = 8;

/// What one report or follow-up of a case says, in ledger order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseReport {
    /// The sponsor's awareness date of this information.
    pub awareness: Date,
    /// The seriousness criteria as now reported.
    pub criteria: SeriousnessCriteria,
    /// The attribution as now judged.
    pub attribution: Attribution,
    /// Expected per the reference safety information, as the investigator now judges it.
    pub expected: bool,
}

impl CaseReport {
    fn is_susar(&self) -> bool {
        is_susar(
            self.attribution.is_suspected(),
            self.criteria.is_serious(),
            self.expected,
        )
    }
}

/// Which report a clock asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ClockKind {
    /// The initial report of a fatal or life-threatening SUSAR: 7 days.
    #[serde(rename = "susar_7_day")]
    Susar7Day,
    /// The follow-up of a 7-day report: 8 further days.
    #[serde(rename = "susar_7_day_follow_up")]
    Susar7DayFollowUp,
    /// The initial report of any other SUSAR: 15 days.
    #[serde(rename = "susar_15_day")]
    Susar15Day,
}

/// One reporting clock of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CaseClock {
    /// Which report is due.
    pub kind: ClockKind,
    /// The index, among the case's reports, of the one that started the clock.
    pub started_by: usize,
    /// Day 0: the sponsor's awareness date of that report.
    pub day0: Date,
    /// Calendar days from day 0 to the due date.
    pub window_days: i32,
    /// The last day the report is on time.
    pub due: Date,
}

fn clock(kind: ClockKind, started_by: usize, day0: Date, window_days: i32) -> CaseClock {
    CaseClock {
        kind,
        started_by,
        day0,
        window_days,
        due: Date(day0.0.saturating_add(window_days)),
    }
}

fn seven_day(started_by: usize, day0: Date) -> [CaseClock; 2] {
    let seven = SUSAR_FATAL_OR_LIFE_THREATENING_DAYS;
    [
        clock(ClockKind::Susar7Day, started_by, day0, seven),
        clock(
            ClockKind::Susar7DayFollowUp,
            started_by,
            day0,
            seven + SUSAR_FOLLOW_UP_DAYS,
        ),
    ]
}

/// The SUSAR clocks of a case from its reports in ledger order (first report, then
/// follow-ups): empty unless the case is a SUSAR as last reported.
pub fn susar_clocks(reports: &[CaseReport]) -> Vec<CaseClock> {
    // The clocks run over the latest unbroken run of SUSAR reports.
    let start = reports
        .iter()
        .rposition(|r| !r.is_susar())
        .map_or(0, |i| i + 1);
    let Some(first) = reports.get(start) else {
        return Vec::new();
    };
    if first.criteria.is_fatal_or_life_threatening() {
        return seven_day(start, first.awareness).to_vec();
    }
    let mut clocks = vec![clock(
        ClockKind::Susar15Day,
        start,
        first.awareness,
        SUSAR_OTHER_DAYS,
    )];
    if let Some(k) = reports[start..]
        .iter()
        .position(|r| r.criteria.is_fatal_or_life_threatening())
    {
        clocks.extend(seven_day(start + k, reports[start + k].awareness));
    }
    clocks
}

/// The investigator's 24-hour SAE clock toward the sponsor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SaeClock {
    /// Day 0: the onset.
    pub day0: Date,
    /// The sponsor should know by this date (day 0 + 1: 24 hours at a day's resolution).
    pub due: Date,
    /// The sponsor's awareness date from the first report.
    pub sponsor_aware_on: Date,
    /// Whether the sponsor knew by the due date.
    pub on_time: bool,
}

/// The investigator's SAE clock of a serious case with a full onset date; `None` for a partial
/// onset (no day 0).
pub fn sae_clock(onset: Option<Date>, sponsor_aware_on: Date) -> Option<SaeClock> {
    let day0 = onset?;
    let due = Date(day0.0.saturating_add(1));
    Some(SaeClock {
        day0,
        due,
        sponsor_aware_on,
        on_time: sponsor_aware_on <= due,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u8, day: u8) -> Date {
        Date::from_ymd(2025, m, day).unwrap()
    }

    fn report(awareness: Date, death: bool, hospital: bool, expected: bool) -> CaseReport {
        CaseReport {
            awareness,
            criteria: SeriousnessCriteria {
                death,
                hospitalisation: hospital,
                ..Default::default()
            },
            attribution: Attribution::Probable,
            expected,
        }
    }

    #[test]
    fn a_fatal_susar_has_a_7_day_clock_and_an_8_day_follow_up() {
        // given a first report on 2025-03-01 of a fatal, related, unexpected event
        let clocks = susar_clocks(&[report(d(3, 1), true, false, false)]);
        // when its clocks are computed
        // then the report is due 2025-03-08 and the follow-up 2025-03-16
        let due: Vec<_> = clocks.iter().map(|c| (c.kind, c.due.to_string())).collect();
        assert_eq!(
            due,
            [
                (ClockKind::Susar7Day, "2025-03-08".to_string()),
                (ClockKind::Susar7DayFollowUp, "2025-03-16".to_string()),
            ]
        );
    }

    #[test]
    fn a_non_fatal_susar_that_becomes_fatal_starts_a_new_7_day_clock() {
        // given a hospitalisation SUSAR aware on 2025-03-01, a follow-up on 03-05 that changes
        // nothing, and one on 03-10 reporting death
        let reports = [
            report(d(3, 1), false, true, false),
            report(d(3, 5), false, true, false),
            report(d(3, 10), true, true, false),
        ];
        // when its clocks are computed
        let clocks = susar_clocks(&reports);
        // then the 15-day clock from 03-01 (due 03-16) stands, and a 7-day clock from 03-10
        // (due 03-17, follow-up 03-25) is started by the third report
        assert_eq!(clocks.len(), 3);
        assert_eq!(
            (clocks[0].kind, clocks[0].due),
            (ClockKind::Susar15Day, d(3, 16))
        );
        assert_eq!(
            (
                clocks[1].kind,
                clocks[1].started_by,
                clocks[1].day0,
                clocks[1].due
            ),
            (ClockKind::Susar7Day, 2, d(3, 10), d(3, 17))
        );
        assert_eq!(
            (clocks[2].kind, clocks[2].due),
            (ClockKind::Susar7DayFollowUp, d(3, 25))
        );
    }

    #[test]
    fn a_case_becoming_a_susar_later_counts_from_that_follow_up() {
        // given a report judged expected on 03-01, then unexpected on 03-04
        let reports = [
            report(d(3, 1), false, true, true),
            report(d(3, 4), false, true, false),
        ];
        // when its clocks are computed
        // then one 15-day clock from 03-04, started by the second report
        let clocks = susar_clocks(&reports);
        assert_eq!(clocks.len(), 1);
        assert_eq!((clocks[0].started_by, clocks[0].due), (1, d(3, 19)));
    }

    #[test]
    fn a_case_no_longer_a_susar_has_no_clock() {
        // given a SUSAR later judged expected, and a non-serious event
        let reports = [
            report(d(3, 1), true, false, false),
            report(d(3, 4), true, false, true),
        ];
        // when their clocks are computed
        // then none
        assert!(susar_clocks(&reports).is_empty());
        assert!(susar_clocks(&[report(d(3, 1), false, false, false)]).is_empty());
        assert!(susar_clocks(&[]).is_empty());
    }

    #[test]
    fn the_investigator_has_until_the_day_after_onset() {
        // given an SAE with onset 2025-03-01
        // when the sponsor learns of it on 03-02, or on 03-03, or the onset is partial
        // then on time, late, and no clock
        let on_time = sae_clock(Some(d(3, 1)), d(3, 2)).unwrap();
        assert_eq!((on_time.due, on_time.on_time), (d(3, 2), true));
        assert!(!sae_clock(Some(d(3, 1)), d(3, 3)).unwrap().on_time);
        assert_eq!(sae_clock(None, d(3, 3)), None);
    }
}
