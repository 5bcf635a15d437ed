//! The analysis conventions a protocol states: which definitions of clinical benefit, PFS,
//! duration of response and exceptional responder apply.
//!
//! Stage decisions are recorded facts: replaying an old ledger must reach the decisions it
//! recorded. So the definitions are not global constants but a value the caller takes from the
//! protocol in force. A format-1 cohort catalogue states no conventions and is read with the
//! definitions in force when it was written ([`Definitions::FORMAT_1`]); a format-2 catalogue
//! states its own (FORMAT.md §10a.4), and nothing is upcast silently.

use serde::{Deserialize, Serialize};

/// How progression-free survival treats an event that follows missed assessments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PfsConvention {
    /// Every progression or death is an event at its observed date, however long after the last
    /// assessment; without one, censored at the last assessment of any kind. EMA's anticancer
    /// guideline (appendix on PFS) uses this as a sensitivity analysis; it is the only rule of a
    /// format-1 catalogue.
    EveryEventObserved,
    /// FDA, "Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics" (2018): a
    /// progression or death after `missed` or more missed scheduled assessments is censored at the
    /// last adequate assessment (an evaluable one, SD or better; the first dose when there is
    /// none). Assessments are due every `interval_days` after the last adequate one, each allowed
    /// `window_days` late; see [`crate::pfs::missed_assessments`].
    CensorAfterMissedAssessments {
        /// Days between scheduled assessments.
        interval_days: u32,
        /// Days an assessment may be late and still be on schedule.
        window_days: u32,
        /// Missed assessments from which an event is censored (FDA: 2).
        missed: u32,
    },
}

/// The definitions one protocol's analysis uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Definitions {
    /// The 16-week landmark of clinical benefit, in days from the first dose (112).
    pub benefit_landmark_day: u32,
    /// Days before the landmark from which an assessment counts for it: stable disease is
    /// benefit when an assessment on or after `benefit_landmark_day - benefit_window_days`
    /// shows SD or better with no progression before it. 0 is a strict cut at the landmark.
    pub benefit_window_days: u32,
    /// The primary PFS convention (views and dossier show it; the other is a sensitivity
    /// figure).
    pub pfs: PfsConvention,
    /// Duration of response starts at the first PR or CR assessment of the confirmed response
    /// (RECIST 1.1). `false` is the format-1 reading: at the first assessment of the best
    /// response (the first CR for a complete responder).
    pub dor_from_first_response: bool,
    /// An exceptional responder on PFS needs an assessment showing SD or better, before any
    /// progression, more than two years after the first dose, and every exceptional responder
    /// has clinical benefit. `false` is the format-1 reading: PFS (possibly ended by a late
    /// death, or censored) over two years suffices.
    pub exceptional_needs_evidence: bool,
}

impl Definitions {
    /// The definitions of a format-1 catalogue (the code's definitions until format 2): a strict
    /// cut at day 112, every death a PFS event, DoR from the first assessment of the best
    /// response, exceptional on PFS alone.
    pub const FORMAT_1: Definitions = Definitions {
        benefit_landmark_day: 112,
        benefit_window_days: 0,
        pfs: PfsConvention::EveryEventObserved,
        dor_from_first_response: false,
        exceptional_needs_evidence: false,
    };

    /// The first day from the first dose on which an assessment of SD or better shows clinical
    /// benefit (the landmark minus its window, never below 0).
    pub fn benefit_min_days(&self) -> i32 {
        let day = self
            .benefit_landmark_day
            .saturating_sub(self.benefit_window_days);
        i32::try_from(day).unwrap_or(i32::MAX)
    }
}

impl Default for Definitions {
    /// [`Definitions::FORMAT_1`]: what a ledger without a stated convention means.
    fn default() -> Self {
        Definitions::FORMAT_1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_format_1_when_read_then_the_landmark_is_a_strict_day_112() {
        // given a format-1 catalogue's definitions
        let d = Definitions::FORMAT_1;
        // when the first day of benefit is taken
        // then it is day 112 exactly, and every event counts
        assert_eq!(d.benefit_min_days(), 112);
        assert_eq!(d.pfs, PfsConvention::EveryEventObserved);
        assert_eq!(Definitions::default(), d);
    }

    #[test]
    fn given_a_window_wider_than_the_landmark_when_read_then_day_0() {
        // given a window larger than the landmark (a nonsensical but decodable protocol)
        let d = Definitions {
            benefit_landmark_day: 10,
            benefit_window_days: 20,
            ..Definitions::FORMAT_1
        };
        // when the first day of benefit is taken
        // then it does not underflow
        assert_eq!(d.benefit_min_days(), 0);
    }
}
