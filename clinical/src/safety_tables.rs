//! The safety board's tables for one group of treated patients (a cohort, or a drug's cohorts
//! pooled): the overview, adverse events by system organ class, term and highest grade per
//! patient (in the form of pharmaverse's AET02/AET04 tables), and exposure-adjusted rates.
//!
//! These are single-arm cohorts: each group is a column of its own and nothing compares two.
//! The population is the treated patients (at least one dose). Every count is a [`Cell`]: the
//! patients it counts and the records behind them, so that each number can be a link.
//!
//! Definitions:
//! - *treatment-related*: attribution possible, probable or definite ([`Attribution::is_suspected`],
//!   as last reported);
//! - an event's grade is the worst grade reported for it; a patient's grade for a term (or a
//!   system organ class) is the highest among their events of that term (or class);
//! - *leading to dose modification*: a `DoseModified` that reduces or interrupts the dose and
//!   cites one of the patient's adverse-event records (the payload's `reason` is free text, the
//!   citation is the signed link);
//! - *leading to discontinuation*: a `TreatmentEnded` with reason `Toxicity`, or a
//!   `DoseModified` that discontinues the drug citing an adverse-event record;
//! - *death within 30 days of the last dose*: died no more than [`DEATH_WINDOW_DAYS`] days after
//!   the last dose, whatever the cause (the cause is listed beside it).
//!
//! [`Attribution::is_suspected`]: crate::Attribution::is_suspected

use crate::exposure::{exposure_adjusted, Exposure, Rates};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tl_schemas::Date;

/// Deaths within this many days of the last dose are counted in the overview.
pub const DEATH_WINDOW_DAYS: i32 = 30;

/// One adverse event of a treated patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFacts<R> {
    /// CTCAE term.
    pub term: String,
    /// Worst grade reported (1-5).
    pub grade: u8,
    /// Treatment-related, as last reported.
    pub related: bool,
    /// Serious, as last reported.
    pub serious: bool,
    /// Onset, imputed when partial ([`crate::exposure::impute_onset`]).
    pub onset: Option<Date>,
    /// The report and its follow-ups.
    pub refs: Vec<R>,
}

/// A death.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeathFacts<R> {
    /// Date of death.
    pub died_on: Date,
    /// Cause, in words.
    pub cause: String,
    /// Whether the investigator judges it treatment-related.
    pub related: bool,
    /// The `DeathRecorded` record.
    pub at: R,
}

/// What the tables need of one treated patient.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientSafety<R> {
    /// The patient.
    pub patient: String,
    /// The exposure.
    pub exposure: Exposure,
    /// The last dose.
    pub last_dose: Date,
    /// The adverse events.
    pub events: Vec<EventFacts<R>>,
    /// Toxicity dose modifications (reductions, interruptions citing an AE).
    pub dose_modified: Vec<R>,
    /// Toxicity discontinuations.
    pub discontinued: Vec<R>,
    /// The death, if recorded.
    pub death: Option<DeathFacts<R>>,
}

/// Whether a death on `died_on` falls within [`DEATH_WINDOW_DAYS`] of the last dose.
pub fn death_within_window(last_dose: Date, died_on: Date) -> bool {
    last_dose.days_until(died_on) <= DEATH_WINDOW_DAYS
}

/// A dosing event: a `DoseModified` action, or a `TreatmentEnded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DoseEvent {
    /// The dose was reduced.
    Reduced,
    /// Dosing was interrupted.
    Interrupted,
    /// Dosing resumed.
    Resumed,
    /// The drug was discontinued.
    Discontinued,
    /// Treatment ended; `toxicity` when its reason is `Toxicity`.
    TreatmentEnded {
        /// The end's reason is unacceptable toxicity.
        toxicity: bool,
    },
}

/// What an adverse event led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToxicityAction {
    /// A dose reduction or interruption.
    DoseModification,
    /// Discontinuation of the drug or of the treatment.
    Discontinuation,
}

/// Whether a dosing event counts as an AE leading to dose modification or discontinuation:
/// a reduction or interruption citing an adverse-event record is a dose modification; a
/// discontinuation citing one, or an end of treatment for toxicity, a discontinuation. A
/// resumption is neither.
pub fn toxicity_action(event: DoseEvent, cites_adverse_event: bool) -> Option<ToxicityAction> {
    match event {
        DoseEvent::Reduced | DoseEvent::Interrupted if cites_adverse_event => {
            Some(ToxicityAction::DoseModification)
        }
        DoseEvent::Discontinued if cites_adverse_event => Some(ToxicityAction::Discontinuation),
        DoseEvent::TreatmentEnded { toxicity: true } => Some(ToxicityAction::Discontinuation),
        _ => None,
    }
}

/// The patients one number counts, and the records behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell<R> {
    /// The patients counted.
    pub patients: BTreeSet<String>,
    /// The records, in their order (for ledger references: partition, then seq).
    pub records: BTreeSet<R>,
}

impl<R> Default for Cell<R> {
    fn default() -> Self {
        Cell {
            patients: BTreeSet::new(),
            records: BTreeSet::new(),
        }
    }
}

impl<R: Clone + Ord> Cell<R> {
    /// The count: patients.
    pub fn n(&self) -> usize {
        self.patients.len()
    }

    fn add<'a>(&mut self, patient: &str, refs: impl IntoIterator<Item = &'a R>)
    where
        R: 'a,
    {
        self.patients.insert(patient.to_string());
        self.records.extend(refs.into_iter().cloned());
    }
}

/// The overview's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverviewRow {
    /// Patients with any adverse event.
    AnyAe,
    /// With any treatment-related adverse event.
    TreatmentRelatedAe,
    /// With an adverse event of grade 3 or worse.
    Grade3OrWorse,
    /// With a serious adverse event.
    SeriousAe,
    /// With an adverse event leading to dose modification.
    LeadingToDoseModification,
    /// With an adverse event leading to discontinuation.
    LeadingToDiscontinuation,
    /// With a grade-5 (fatal) adverse event.
    Grade5,
    /// Died within 30 days of the last dose.
    #[serde(rename = "death_within_30_days")]
    DeathWithin30Days,
}

impl OverviewRow {
    /// Every row, in table order.
    pub const ALL: [OverviewRow; 8] = [
        OverviewRow::AnyAe,
        OverviewRow::TreatmentRelatedAe,
        OverviewRow::Grade3OrWorse,
        OverviewRow::SeriousAe,
        OverviewRow::LeadingToDoseModification,
        OverviewRow::LeadingToDiscontinuation,
        OverviewRow::Grade5,
        OverviewRow::DeathWithin30Days,
    ];

    /// The row's label.
    pub fn label(self) -> &'static str {
        match self {
            OverviewRow::AnyAe => "Patients with any AE",
            OverviewRow::TreatmentRelatedAe => "Any treatment-related AE",
            OverviewRow::Grade3OrWorse => "Grade >= 3 AE",
            OverviewRow::SeriousAe => "Serious AE",
            OverviewRow::LeadingToDoseModification => "AE leading to dose modification",
            OverviewRow::LeadingToDiscontinuation => "AE leading to discontinuation",
            OverviewRow::Grade5 => "Grade 5 AE",
            OverviewRow::DeathWithin30Days => "Death within 30 days of the last dose",
        }
    }

    /// The events an event-based row counts (`None`: not an event row).
    fn counts(self, e: &EventFacts<impl Sized>) -> Option<bool> {
        Some(match self {
            OverviewRow::AnyAe => true,
            OverviewRow::TreatmentRelatedAe => e.related,
            OverviewRow::Grade3OrWorse => e.grade >= 3,
            OverviewRow::SeriousAe => e.serious,
            OverviewRow::Grade5 => e.grade >= 5,
            _ => return None,
        })
    }
}

/// The overview of a group: one cell per row, in [`OverviewRow::ALL`]'s order.
pub fn overview<R: Clone + Ord>(group: &[&PatientSafety<R>]) -> Vec<(OverviewRow, Cell<R>)> {
    OverviewRow::ALL
        .iter()
        .map(|&row| {
            let mut cell = Cell::default();
            for p in group {
                let refs: Vec<&R> = match row {
                    OverviewRow::LeadingToDoseModification => p.dose_modified.iter().collect(),
                    OverviewRow::LeadingToDiscontinuation => p.discontinued.iter().collect(),
                    OverviewRow::DeathWithin30Days => p
                        .death
                        .iter()
                        .filter(|d| death_within_window(p.last_dose, d.died_on))
                        .map(|d| &d.at)
                        .collect(),
                    _ => p
                        .events
                        .iter()
                        .filter(|e| row.counts(e) == Some(true))
                        .flat_map(|e| &e.refs)
                        .collect(),
                };
                if !refs.is_empty() {
                    cell.add(&p.patient, refs);
                }
            }
            (row, cell)
        })
        .collect()
}

/// The causes of the deaths within 30 days of the last dose, each with its cell, by cause.
pub fn death_causes<R: Clone + Ord>(group: &[&PatientSafety<R>]) -> Vec<(String, Cell<R>)> {
    let mut by: BTreeMap<String, Cell<R>> = BTreeMap::new();
    for p in group {
        if let Some(d) = &p.death {
            if death_within_window(p.last_dose, d.died_on) {
                by.entry(d.cause.clone())
                    .or_default()
                    .add(&p.patient, [&d.at]);
            }
        }
    }
    by.into_iter().collect()
}

/// The grade bands of the by-term table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeBand {
    /// Grades 1-2.
    Grade1To2,
    /// Grades 3-4.
    Grade3To4,
    /// Grade 5.
    Grade5,
}

impl GradeBand {
    /// The band of a grade.
    pub fn of(grade: u8) -> GradeBand {
        match grade {
            0..=2 => GradeBand::Grade1To2,
            3 | 4 => GradeBand::Grade3To4,
            _ => GradeBand::Grade5,
        }
    }
}

/// Patients by highest grade: any grade, and each band.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bands<R> {
    /// Any grade.
    pub any_grade: Cell<R>,
    /// Highest grade 1-2.
    pub grade_1_2: Cell<R>,
    /// Highest grade 3-4.
    pub grade_3_4: Cell<R>,
    /// Highest grade 5.
    pub grade_5: Cell<R>,
}

impl<R> Default for Bands<R> {
    fn default() -> Self {
        Bands {
            any_grade: Cell::default(),
            grade_1_2: Cell::default(),
            grade_3_4: Cell::default(),
            grade_5: Cell::default(),
        }
    }
}

impl<R: Clone + Ord> Bands<R> {
    /// Counts one patient's events (all of one term or class) at their highest grade.
    fn add(&mut self, patient: &str, events: &[&EventFacts<R>]) {
        let Some(top) = events.iter().map(|e| e.grade).max() else {
            return;
        };
        let refs: Vec<&R> = events.iter().flat_map(|e| &e.refs).collect();
        self.any_grade.add(patient, refs.iter().copied());
        let band = match GradeBand::of(top) {
            GradeBand::Grade1To2 => &mut self.grade_1_2,
            GradeBand::Grade3To4 => &mut self.grade_3_4,
            GradeBand::Grade5 => &mut self.grade_5,
        };
        band.add(patient, refs);
    }
}

/// One row of the by-term table: all events, and the treatment-related ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermCells<R> {
    /// Any attribution.
    pub all: Bands<R>,
    /// Treatment-related only.
    pub related: Bands<R>,
}

impl<R> Default for TermCells<R> {
    fn default() -> Self {
        TermCells {
            all: Bands::default(),
            related: Bands::default(),
        }
    }
}

/// A row of the by-term table: the class (its CTCAE v5.0 SOC, or "SOC not mapped"; classes
/// sort alphabetically with "SOC not mapped" last) and the term (`None`: the class's own row,
/// any term of the class).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TermKey {
    /// Whether the class is "SOC not mapped" (sorts last).
    pub unmapped: bool,
    /// The class.
    pub soc: &'static str,
    /// The term, or `None` for the class's row.
    pub term: Option<String>,
}

/// The by-term table of a group, highest grade per patient, keyed by class and term.
pub fn by_term<R: Clone + Ord>(group: &[&PatientSafety<R>]) -> BTreeMap<TermKey, TermCells<R>> {
    let mut out: BTreeMap<TermKey, TermCells<R>> = BTreeMap::new();
    for p in group {
        let mut rows: BTreeMap<TermKey, Vec<&EventFacts<R>>> = BTreeMap::new();
        for e in &p.events {
            let soc = crate::ctcae_soc::soc_or_unmapped(&e.term);
            let unmapped = soc == crate::ctcae_soc::SOC_NOT_MAPPED;
            for term in [None, Some(e.term.clone())] {
                let key = TermKey {
                    unmapped,
                    soc,
                    term,
                };
                rows.entry(key).or_default().push(e);
            }
        }
        for (key, events) in rows {
            let cells = out.entry(key).or_default();
            cells.all.add(&p.patient, &events);
            let related: Vec<_> = events.into_iter().filter(|e| e.related).collect();
            cells.related.add(&p.patient, &related);
        }
    }
    out
}

/// The kinds of events the rates are given for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateRow {
    /// Any adverse event.
    AnyAe,
    /// Treatment-related.
    TreatmentRelatedAe,
    /// Grade 3 or worse.
    Grade3OrWorse,
    /// Serious.
    SeriousAe,
}

impl RateRow {
    /// Every row, in table order.
    pub const ALL: [RateRow; 4] = [
        RateRow::AnyAe,
        RateRow::TreatmentRelatedAe,
        RateRow::Grade3OrWorse,
        RateRow::SeriousAe,
    ];

    fn counts(self, e: &EventFacts<impl Sized>) -> bool {
        match self {
            RateRow::AnyAe => true,
            RateRow::TreatmentRelatedAe => e.related,
            RateRow::Grade3OrWorse => e.grade >= 3,
            RateRow::SeriousAe => e.serious,
        }
    }
}

/// Exposure-adjusted rates of a group per kind of event, with the cell of the patients with
/// an event within their exposure (the EAIR's numerator).
pub fn rates<R: Clone + Ord>(group: &[&PatientSafety<R>]) -> Vec<(RateRow, Rates, Cell<R>)> {
    RateRow::ALL
        .iter()
        .map(|&row| {
            let mut cell = Cell::default();
            let input: Vec<(Exposure, Vec<Date>)> = group
                .iter()
                .map(|p| {
                    let mut onsets = Vec::new();
                    for e in p.events.iter().filter(|e| row.counts(e)) {
                        let Some(d) = e.onset else { continue };
                        onsets.push(d);
                        if p.exposure.contains(d) {
                            cell.add(&p.patient, &e.refs);
                        }
                    }
                    (p.exposure, onsets)
                })
                .collect();
            (row, exposure_adjusted(&input), cell)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i32) -> Date {
        Date(20_000 + n)
    }

    fn ev(term: &str, grade: u8, related: bool, serious: bool, r: u32) -> EventFacts<u32> {
        EventFacts {
            term: term.into(),
            grade,
            related,
            serious,
            onset: Some(day(10)),
            refs: vec![r],
        }
    }

    fn patient(name: &str, events: Vec<EventFacts<u32>>) -> PatientSafety<u32> {
        PatientSafety {
            patient: name.into(),
            exposure: Exposure::new(day(0), day(56), None, None, 28),
            last_dose: day(56),
            events,
            dose_modified: vec![],
            discontinued: vec![],
            death: None,
        }
    }

    fn group() -> Vec<PatientSafety<u32>> {
        let mut a = patient(
            "A",
            vec![
                ev("Diarrhea", 1, true, false, 1),
                ev("Diarrhea", 3, true, true, 2),
                ev("Nausea", 2, false, false, 3),
            ],
        );
        a.dose_modified = vec![10];
        let mut b = patient(
            "B",
            vec![
                ev("Diarrhea", 2, false, false, 4),
                ev("Rash", 5, true, true, 5),
            ],
        );
        b.discontinued = vec![11];
        b.death = Some(DeathFacts {
            died_on: day(80),
            cause: "progressive disease".into(),
            related: false,
            at: 12,
        });
        let mut c = patient("C", vec![]);
        c.death = Some(DeathFacts {
            died_on: day(90),
            cause: "sepsis".into(),
            related: false,
            at: 13,
        });
        vec![a, b, c]
    }

    #[test]
    fn overview_counts_patients_once_per_row_with_their_records() {
        // given A (diarrhea 1 and 3, related; nausea 2; a dose reduction), B (diarrhea 2,
        // a related fatal rash, discontinued, died 24 days after the last dose), C (no AE, died
        // 34 days after the last dose)
        let g = group();
        let refs: Vec<_> = g.iter().collect();
        // when the overview is computed
        let o = overview(&refs);
        let n: Vec<(OverviewRow, usize)> = o.iter().map(|(r, c)| (*r, c.n())).collect();
        // then each row counts patients, not events
        assert_eq!(
            n,
            [
                (OverviewRow::AnyAe, 2),
                (OverviewRow::TreatmentRelatedAe, 2),
                (OverviewRow::Grade3OrWorse, 2),
                (OverviewRow::SeriousAe, 2),
                (OverviewRow::LeadingToDoseModification, 1),
                (OverviewRow::LeadingToDiscontinuation, 1),
                (OverviewRow::Grade5, 1),
                (OverviewRow::DeathWithin30Days, 1),
            ]
        );
        // and each cell lists the records it rests on
        assert_eq!(o[0].1.records, BTreeSet::from([1, 2, 3, 4, 5]));
        assert_eq!(o[2].1.records, BTreeSet::from([2, 5]));
        assert_eq!(o[7].1.records, BTreeSet::from([12]));
        let causes = death_causes(&refs);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].0, "progressive disease");
    }

    #[test]
    fn only_dosing_events_linked_to_toxicity_count() {
        // given every dosing event, citing an adverse event or not
        use DoseEvent::*;
        use ToxicityAction::*;
        // when classified
        // then reductions and interruptions citing an AE are dose modifications, a
        // discontinuation citing one or an end for toxicity a discontinuation, nothing else
        assert_eq!(toxicity_action(Reduced, true), Some(DoseModification));
        assert_eq!(toxicity_action(Interrupted, true), Some(DoseModification));
        assert_eq!(toxicity_action(Reduced, false), None);
        assert_eq!(toxicity_action(Resumed, true), None);
        assert_eq!(toxicity_action(Discontinued, true), Some(Discontinuation));
        assert_eq!(toxicity_action(Discontinued, false), None);
        let ended = |toxicity| TreatmentEnded { toxicity };
        assert_eq!(toxicity_action(ended(true), false), Some(Discontinuation));
        assert_eq!(toxicity_action(ended(false), true), None);
    }

    #[test]
    fn a_death_on_day_30_after_the_last_dose_is_within_the_window_and_day_31_is_not() {
        // given a last dose on day 0
        // when death falls on day 30 or 31
        // then only day 30 is within 30 days
        assert!(death_within_window(day(0), day(30)));
        assert!(!death_within_window(day(0), day(31)));
    }

    #[test]
    fn by_term_counts_each_patient_at_their_highest_grade() {
        // given the group above
        let g = group();
        let refs: Vec<_> = g.iter().collect();
        // when the by-term table is computed
        let t = by_term(&refs);
        let row = |soc: &'static str, term: Option<&str>| {
            let unmapped = soc == crate::ctcae_soc::SOC_NOT_MAPPED;
            let key = TermKey {
                unmapped,
                soc,
                term: term.map(str::to_string),
            };
            t.get(&key).cloned().unwrap()
        };
        // then diarrhea: A at grade 3 (3-4), B at grade 2 (1-2); related: A only, at 3-4
        let gi = "Gastrointestinal disorders";
        let d = row(gi, Some("Diarrhea"));
        assert_eq!(d.all.any_grade.n(), 2);
        assert_eq!(
            (d.all.grade_1_2.n(), d.all.grade_3_4.n(), d.all.grade_5.n()),
            (1, 1, 0)
        );
        assert_eq!(d.all.grade_3_4.records, BTreeSet::from([1, 2]));
        assert_eq!((d.related.any_grade.n(), d.related.grade_3_4.n()), (1, 1));
        // and the class row counts A once at grade 3 (diarrhea, nausea) and B at 2
        let soc = row(gi, None);
        assert_eq!((soc.all.grade_1_2.n(), soc.all.grade_3_4.n()), (1, 1));
        // and "Rash" (no CTCAE v5.0 term) is kept, under "SOC not mapped", last
        let rash = row(crate::ctcae_soc::SOC_NOT_MAPPED, Some("Rash"));
        assert_eq!(rash.all.grade_5.patients, BTreeSet::from(["B".to_string()]));
        assert!(t.keys().last().unwrap().unmapped);
    }

    #[test]
    fn rates_count_events_within_exposure() {
        // given the group above: exposure days 0..=84 (56 + 28) for each, every onset day 10
        let g = group();
        let refs: Vec<_> = g.iter().collect();
        // when the rates are computed
        let r = rates(&refs);
        // then any AE: A and B from day 10 (11 days at risk each), C 85 days: 107 days;
        //      events 5 over 3 x 85 = 255 days
        let (row, any, cell) = &r[0];
        assert_eq!(*row, RateRow::AnyAe);
        assert_eq!((any.patients_with_event, any.events), (2, 5));
        assert!((any.patient_years_at_risk - 107.0 / 365.25).abs() < 1e-12);
        // EAER = 5 / (255 / 365.25) x 100 = 716.1764...
        assert!((any.eaer_per_100py.unwrap() - 716.176_470_588).abs() < 1e-6);
        assert_eq!(cell.n(), 2);
    }
}
