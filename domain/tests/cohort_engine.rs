//! The cohort engine: the two-stage rule's oracle cases through [`CohortEngine`] (slots and
//! outcomes in, `SlotAssigned`/`SlotRefused` and `CohortStageDecided` out), and the service
//! driven by records: outcomes derived from doses, scans and ends of treatment, stage
//! decisions citing every outcome record counted, idempotent decision ids.

use tl_clinical::Outcome::{self, *};
use tl_domain::cohort_engine::{CohortEngine, SlotDecision};
use tl_domain::deciders::{CohortEngineService, DecidingService, LedgerRecord};
use tl_schemas::clinical::*;
use tl_schemas::events::{envelope_of, EventPayload, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::*;

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn catalogue(cap: u32) -> CohortCatalogue {
    CohortCatalogue {
        cohorts: vec![CohortDefinition {
            cohort_id: name("NIVO.MSI.ANY"),
            tumour_type: None,
            biomarker: BiomarkerRule::MsiHigh,
            drug: "nivolumab".into(),
            stage1_size: 8,
            stage1_threshold: 1,
            stage2_size: 24,
            stage2_threshold: 5,
            expansion_cap: cap,
        }],
    }
}

fn engine(cap: u32) -> CohortEngine {
    let mut e = CohortEngine::new();
    e.protocol_in_force(1, &catalogue(cap));
    e
}

/// Gives patients `from..to` a slot each and records their outcomes in order; returns every
/// stage decision.
fn treat(e: &mut CohortEngine, from: u32, outcomes: &[Outcome]) -> Vec<CohortStageDecided> {
    let cohort = name("NIVO.MSI.ANY");
    let mut out = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let p = name(&format!("P{}", from as usize + i));
        assert!(
            matches!(e.assign_slot(&cohort, &p), SlotDecision::Assigned(_)),
            "no slot for {p}"
        );
        out.extend(e.record_outcome(&cohort, &p, *o));
    }
    out
}

fn statuses(d: &[CohortStageDecided]) -> Vec<CohortStatus> {
    d.iter().map(|s| s.status).collect()
}

#[test]
fn zero_of_8_closes_for_futility() {
    // given a stage-1 cohort, when 8 evaluable patients show no benefit
    let mut e = engine(100);
    let d = treat(&mut e, 0, &[NoBenefit; 8]);
    // then one decision: closed for futility on 8 evaluable, 0 benefits; and no more slots
    assert_eq!(statuses(&d), [CohortStatus::ClosedForFutility]);
    assert_eq!((d[0].evaluable, d[0].benefits, d[0].enrolled), (8, 0, 8));
    match e.assign_slot(&name("NIVO.MSI.ANY"), &name("P99")) {
        SlotDecision::Refused(r) => assert!(r.reason.contains("no slot open"), "{}", r.reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_of_8_expands() {
    // given 7 without benefit, when the 8th has benefit
    let mut e = engine(100);
    let d = treat(
        &mut e,
        0,
        &[
            NoBenefit, NoBenefit, NoBenefit, NoBenefit, NoBenefit, NoBenefit, NoBenefit, Benefit,
        ],
    );
    // then stage 2, counted on 8 evaluable with 1 benefit, and the next slot is a stage-2 one
    assert_eq!(statuses(&d), [CohortStatus::Stage2]);
    assert_eq!((d[0].evaluable, d[0].benefits), (8, 1));
    assert!(matches!(
        e.assign_slot(&name("NIVO.MSI.ANY"), &name("P8")),
        SlotDecision::Assigned(SlotAssigned {
            stage: 2,
            slot: 9,
            ..
        })
    ));
}

#[test]
fn four_of_24_is_negative_and_five_of_24_positive() {
    // given a cohort that expanded at its first patient's benefit
    let mut neg = engine(24);
    let mut pos = engine(24);
    let mut first = vec![Benefit];
    first.extend([NoBenefit; 7]);
    treat(&mut neg, 0, &first);
    treat(&mut pos, 0, &first);
    // when 16 more show 3 benefits (4 of 24)
    let mut rest = vec![Benefit, Benefit, Benefit];
    rest.extend([NoBenefit; 13]);
    let d = treat(&mut neg, 8, &rest);
    // then completed negative on 24 evaluable, 4 benefits
    assert_eq!(statuses(&d), [CohortStatus::CompletedNegative]);
    assert_eq!((d[0].evaluable, d[0].benefits), (24, 4));
    // when instead the 24th is a 5th benefit
    let mut rest = vec![Benefit, Benefit, Benefit];
    rest.extend([NoBenefit; 12]);
    rest.push(Benefit);
    let d = treat(&mut pos, 8, &rest);
    // then positive (the cap of 24 allows no expansion)
    assert_eq!(statuses(&d), [CohortStatus::Positive]);
    assert_eq!((d[0].evaluable, d[0].benefits), (24, 5));
}

#[test]
fn a_positive_cohort_with_room_opens_its_expansion_at_once() {
    let mut e = engine(100);
    let d = treat(&mut e, 0, &[Benefit; 5]);
    assert_eq!(
        statuses(&d),
        [
            CohortStatus::Stage2,
            CohortStatus::Positive,
            CohortStatus::Expansion
        ]
    );
}

#[test]
fn a_non_evaluable_patient_is_replaced() {
    // given a full stage 1 (8 slots, outcomes awaited)
    let mut e = engine(100);
    let cohort = name("NIVO.MSI.ANY");
    for i in 0..8 {
        assert!(matches!(
            e.assign_slot(&cohort, &name(&format!("P{i}"))),
            SlotDecision::Assigned(_)
        ));
    }
    assert!(matches!(
        e.assign_slot(&cohort, &name("P8")),
        SlotDecision::Refused(_)
    ));
    // when one is found not evaluable
    let d = e.record_outcome(&cohort, &name("P0"), NotEvaluable);
    // then the restated count frees a slot, and the replacement gets slot 9 of stage 1
    assert_eq!(statuses(&d), [CohortStatus::Stage1]);
    assert_eq!(d[0].not_evaluable, 1);
    assert!(matches!(
        e.assign_slot(&cohort, &name("P8")),
        SlotDecision::Assigned(SlotAssigned {
            stage: 1,
            slot: 9,
            ..
        })
    ));
    // and 8 evaluable without benefit still close it (the replaced one does not count)
    let mut all = Vec::new();
    for i in 1..=8 {
        all.extend(e.record_outcome(&cohort, &name(&format!("P{i}")), NoBenefit));
    }
    assert_eq!(statuses(&all), [CohortStatus::ClosedForFutility]);
    assert_eq!((all[0].evaluable, all[0].not_evaluable), (8, 1));
}

#[test]
fn refusals_name_why() {
    let mut e = engine(100);
    let p = name("P0");
    assert!(matches!(
        e.assign_slot(&name("NIVO.MSI.ANY"), &p),
        SlotDecision::Assigned(_)
    ));
    match e.assign_slot(&name("NIVO.MSI.ANY"), &p) {
        SlotDecision::Refused(r) => {
            assert_eq!(r.reason, "patient P0 already holds a slot in NIVO.MSI.ANY")
        }
        other => panic!("{other:?}"),
    }
    match e.assign_slot(&name("OTHER.ANY"), &p) {
        SlotDecision::Refused(r) => {
            assert_eq!(r.reason, "cohort OTHER.ANY is not in the protocol in force")
        }
        other => panic!("{other:?}"),
    }
    // an outcome for a patient without a slot changes nothing
    assert!(e
        .record_outcome(&name("NIVO.MSI.ANY"), &name("nobody"), Benefit)
        .is_empty());
}

// ------------------------------------------------------------- the service, from records

/// Builds ledger records by hand (the service reads content, not seals).
struct Ledger {
    trial: TrialId,
    partitions: u32,
    lens: Vec<u64>,
    clock: i64,
}

impl Ledger {
    fn new() -> Self {
        Ledger {
            trial: TrialId::new("t").unwrap(),
            partitions: 4,
            lens: vec![0; 4],
            clock: 1_000_000,
        }
    }

    fn record<E: EventPayload>(
        &mut self,
        subject: Subject,
        event: &E,
        cites: Vec<Reference>,
    ) -> LedgerRecord {
        let partition = match subject {
            Subject::Trial => 0,
            _ => tl_schemas::partition_of(&self.trial, &subject, self.partitions),
        };
        let seq = self.lens[partition as usize];
        self.lens[partition as usize] += 1;
        self.clock += 1_000;
        let submission = Submission {
            version: SUBMISSION_VERSION,
            trial_id: self.trial.clone(),
            submission_id: SubmissionId([seq as u8; 16]),
            subject,
            envelope: envelope_of(event),
            author: KeyId([0; 16]),
            meaning: Meaning::Authored,
            client_time: UtcMicros(self.clock),
            min_registry_seq: 0,
            cites,
        };
        let record = Record {
            body: RecordBody {
                version: 1,
                partition,
                seq,
                prev_hash: Hash32([0; 32]),
                subject_prev: None,
                ordering_time: UtcMicros(self.clock),
                registry_seq: 0,
                submission: SignedSubmission {
                    submission,
                    signature: Sig64([0; 64]),
                },
                sequencer: KeyId([0; 16]),
                seal_alg: 1,
            },
            seal: Sig64([0; 64]),
        };
        let hash = record.hash();
        LedgerRecord { record, hash }
    }
}

fn patient(i: u32) -> Subject {
    Subject::Patient(name(&format!("PT-{i:04}")))
}

fn scan(day: i32, baseline: bool, mm10: u32, new_lesions: bool) -> ResponseAssessed {
    ResponseAssessed {
        assessed_on: Date(day),
        baseline,
        targets: vec![TargetLesion {
            lesion_id: 1,
            nodal: false,
            diameter_mm10: mm10,
        }],
        new_lesions,
        non_target: NonTargetStatus::NoneAtBaseline,
        investigator_response: OverallResponse::NotEvaluable,
    }
}

fn dose(day: i32) -> DoseAdministered {
    DoseAdministered {
        drug: "nivolumab".into(),
        dose_milli: 240_000,
        unit: DoseUnit::Mg,
        route: Route::Intravenous,
        cycle: 1,
        day: 1,
        administered_on: Date(day),
    }
}

/// Feeds a record to the service and submits (reads back) whatever it decides at once.
fn step(
    s: &mut CohortEngineService,
    l: &mut Ledger,
    r: LedgerRecord,
) -> Vec<(Subject, u16, Vec<u8>, Vec<Reference>)> {
    let mut out = Vec::new();
    let mut queue = vec![r];
    while let Some(r) = queue.pop() {
        for d in s.apply(&r) {
            out.push((
                d.subject.clone(),
                d.envelope.event_type,
                d.envelope.payload.clone(),
                d.cites.clone(),
            ));
            // Recorded by the sequencer with the decision's own submission id.
            let mut back = l.record(d.subject.clone(), &DummyEvent, d.cites.clone());
            back.record.body.submission.submission.envelope = d.envelope.clone();
            back.record.body.submission.submission.submission_id = d.submission_id;
            back.hash = back.record.hash();
            queue.insert(0, back);
        }
    }
    out
}

/// Placeholder payload type for records whose envelope the test sets itself.
#[derive(serde::Serialize, serde::Deserialize)]
struct DummyEvent;
impl EventPayload for DummyEvent {
    const TYPE: u16 = 0xF000;
    const VERSION: u16 = 1;
    const NAME: &'static str = "Dummy";
}

#[test]
fn the_service_derives_outcomes_from_records_and_cites_what_it_counted() {
    let mut l = Ledger::new();
    let mut s = CohortEngineService::new();
    let cohort = name("NIVO.MSI.ANY");
    // given the catalogue in force
    let amend = ProtocolAmended {
        protocol_version: 1,
        document_format: DOCUMENT_FORMAT_COHORT_CATALOGUE,
        document: encode(&catalogue(100)),
    };
    let r = l.record(Subject::Trial, &amend, vec![]);
    assert!(step(&mut s, &mut l, r).is_empty());
    // when the MTB approves patient 1 for the cohort
    let approve = MatchDecided {
        decision: MtbDecision::Approved {
            cohort_id: cohort.clone(),
        },
        rationale: "rank 1".into(),
        decided_on: Date(100),
    };
    let approval = l.record(patient(1), &approve, vec![]);
    let approval_ref = approval.reference();
    let out = step(&mut s, &mut l, approval);
    // then a slot in the cohort's partition, citing the approval
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, Subject::Cohort(cohort.clone()));
    assert_eq!(out[0].1, SlotAssigned::TYPE);
    let slot: SlotAssigned = decode(&out[0].2).unwrap();
    assert_eq!((slot.stage, slot.slot), (1, 1));
    assert_eq!(out[0].3, vec![approval_ref]);
    // when the patient is dosed and scanned: baseline 50 mm, stable at week 8, no decision yet
    let r = l.record(patient(1), &scan(100, true, 500, false), vec![]);
    assert!(step(&mut s, &mut l, r).is_empty());
    let r = l.record(patient(1), &dose(104), vec![]);
    assert!(step(&mut s, &mut l, r).is_empty());
    let r = l.record(patient(1), &scan(104 + 56, false, 480, false), vec![]);
    assert!(step(&mut s, &mut l, r).is_empty());
    // when a scan at week 16 shows stable disease still: benefit (disease control >= 16 weeks)
    let benefit_scan = l.record(patient(1), &scan(104 + 112, false, 470, false), vec![]);
    let benefit_ref = benefit_scan.reference();
    let out = step(&mut s, &mut l, benefit_scan);
    // then stage 2, citing the scan that made the benefit known
    assert_eq!(out.len(), 1);
    let d: CohortStageDecided = decode(&out[0].2).unwrap();
    assert_eq!(
        (d.status, d.evaluable, d.benefits),
        (CohortStatus::Stage2, 1, 1)
    );
    assert_eq!(out[0].3, vec![benefit_ref]);

    // given patient 2 with a slot, who ends treatment before any follow-up scan
    let approval = l.record(patient(2), &approve, vec![]);
    assert_eq!(step(&mut s, &mut l, approval).len(), 1);
    let r = l.record(patient(2), &scan(200, true, 400, false), vec![]);
    step(&mut s, &mut l, r);
    let r = l.record(patient(2), &dose(204), vec![]);
    step(&mut s, &mut l, r);
    let ended = TreatmentEnded {
        ended_on: Date(230),
        reason: EndReason::Toxicity,
        detail: "unacceptable toxicity".into(),
    };
    let end = l.record(patient(2), &ended, vec![]);
    let end_ref = end.reference();
    let out = step(&mut s, &mut l, end);
    // then not evaluable: a restated count (frees the slot), citing both outcomes counted
    assert_eq!(out.len(), 1);
    let d: CohortStageDecided = decode(&out[0].2).unwrap();
    assert_eq!(
        (d.status, d.not_evaluable, d.enrolled),
        (CohortStatus::Stage2, 1, 2)
    );
    assert_eq!(out[0].3, vec![benefit_ref, end_ref]);

    // given patient 3 whose first follow-up scan shows a new lesion: no benefit, no decision
    // (the status does not change)
    let approval = l.record(patient(3), &approve, vec![]);
    step(&mut s, &mut l, approval);
    for r in [
        l.record(patient(3), &scan(300, true, 400, false), vec![]),
        l.record(patient(3), &dose(301), vec![]),
        l.record(patient(3), &scan(357, false, 400, true), vec![]),
    ] {
        assert!(step(&mut s, &mut l, r).is_empty());
    }
    let c = s.engine().cohort(&cohort).unwrap();
    assert_eq!(c.machine.counts().evaluable, 2);
    assert!(s.pending().is_empty(), "every decision was read back");
    assert_eq!(s.decided(), 5);
}

#[test]
fn an_amendment_without_a_catalogue_leaves_no_cohort_in_force() {
    let mut l = Ledger::new();
    let mut s = CohortEngineService::new();
    let amend = |version, format, document| ProtocolAmended {
        protocol_version: version,
        document_format: format,
        document,
    };
    let approve = MatchDecided {
        decision: MtbDecision::Approved {
            cohort_id: name("NIVO.MSI.ANY"),
        },
        rationale: "rank 1".into(),
        decided_on: Date(100),
    };
    // given the catalogue, then an amendment whose document is not a catalogue (as the
    // trial's rules read it: no catalogue in force)
    let r = l.record(
        Subject::Trial,
        &amend(1, DOCUMENT_FORMAT_COHORT_CATALOGUE, encode(&catalogue(100))),
        vec![],
    );
    step(&mut s, &mut l, r);
    let r = l.record(Subject::Trial, &amend(2, 0, b"free text".to_vec()), vec![]);
    step(&mut s, &mut l, r);
    // when the MTB approves a patient for the cohort
    let r = l.record(patient(9), &approve, vec![]);
    let out = step(&mut s, &mut l, r);
    // then the slot is refused, with the reason
    assert_eq!(out[0].1, SlotRefused::TYPE);
    let refused: SlotRefused = decode(&out[0].2).unwrap();
    assert_eq!(
        refused.reason,
        "cohort NIVO.MSI.ANY is not in the protocol in force"
    );
    // and once a catalogue is in force again, the cohort keeps its place and takes patients
    let r = l.record(
        Subject::Trial,
        &amend(3, DOCUMENT_FORMAT_COHORT_CATALOGUE, encode(&catalogue(100))),
        vec![],
    );
    step(&mut s, &mut l, r);
    let r = l.record(patient(10), &approve, vec![]);
    assert_eq!(step(&mut s, &mut l, r)[0].1, SlotAssigned::TYPE);
}

/// A patient dosed on day 104 whose week-16 scan falls on day 108 from the first dose (SD),
/// under a catalogue of `format`: the decisions after that scan.
fn week_16_scan_on_day_108(format: u16) -> Vec<(Subject, u16, Vec<u8>, Vec<Reference>)> {
    let mut l = Ledger::new();
    let mut s = CohortEngineService::new();
    let document = if format == DOCUMENT_FORMAT_COHORT_CATALOGUE {
        encode(&catalogue(100))
    } else {
        encode(&CohortCatalogue2 {
            conventions: AnalysisConventions {
                scan_interval_days: 56,
                scan_window_days: 7,
                benefit_landmark_day: 112,
                benefit_window_days: 7,
                pfs_censoring: PfsCensoring::AfterMissedAssessments { missed: 2 },
            },
            catalogue: catalogue(100),
        })
    };
    let amend = ProtocolAmended {
        protocol_version: 1,
        document_format: format,
        document,
    };
    let r = l.record(Subject::Trial, &amend, vec![]);
    step(&mut s, &mut l, r);
    let approve = MatchDecided {
        decision: MtbDecision::Approved {
            cohort_id: name("NIVO.MSI.ANY"),
        },
        rationale: "rank 1".into(),
        decided_on: Date(100),
    };
    let r = l.record(patient(1), &approve, vec![]);
    assert_eq!(step(&mut s, &mut l, r).len(), 1, "a slot");
    for r in [
        l.record(patient(1), &scan(100, true, 500, false), vec![]),
        l.record(patient(1), &dose(104), vec![]),
        l.record(patient(1), &scan(104 + 56, false, 480, false), vec![]),
    ] {
        assert!(step(&mut s, &mut l, r).is_empty());
    }
    let r = l.record(patient(1), &scan(104 + 108, false, 470, false), vec![]);
    step(&mut s, &mut l, r)
}

#[test]
fn given_sd_on_day_108_when_the_catalogue_is_format_1_then_no_benefit_yet_and_format_2_then_benefit(
) {
    // given stable disease at a week-16 scan drawn 4 days early (day 108)
    // when the catalogue in force is format 1 (a strict day 112)
    // then no decision: benefit is not known yet
    assert!(week_16_scan_on_day_108(DOCUMENT_FORMAT_COHORT_CATALOGUE).is_empty());
    // when it is format 2 stating the landmark 112 with a 7-day window
    let out = week_16_scan_on_day_108(DOCUMENT_FORMAT_COHORT_CATALOGUE_2);
    // then benefit: the cohort expands to stage 2
    assert_eq!(out.len(), 1);
    let d: CohortStageDecided = decode(&out[0].2).unwrap();
    assert_eq!((d.status, d.benefits), (CohortStatus::Stage2, 1));
}
