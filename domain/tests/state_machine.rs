//! The trial's state machine, given/when/then, through the real sequencer: each rule refuses
//! with a clear reason, and nothing refused reaches the ledger.

use tl_domain::TrialRules;
use tl_ledger::writer::Draft;
use tl_ledger::{EmbeddedLedger, Outcome, SigningKey};
use tl_schemas::clinical::*;
use tl_schemas::events::{envelope_of, EventPayload, KeyEnrolled, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::{
    Date, Meaning, PartialDate, Reference, Role, Subject, SubmissionId, TrialId, UtcMicros,
};

struct Trial {
    _dir: tempfile::TempDir,
    trial: TrialId,
    ledger: EmbeddedLedger<TrialRules>,
    clock: i64,
    n: u64,
    root: SigningKey,
    admin: SigningKey,
    inv: SigningKey,
    lab: SigningKey,
    matcher: SigningKey,
    mtb: SigningKey,
    engine: SigningKey,
}

fn k(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

fn d(day: u8) -> Date {
    Date::from_ymd(2025, 1, day).unwrap()
}

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

impl Trial {
    /// Given a trial with every role enrolled and a catalogue of two cohorts (stage 1 of two
    /// patients, to reach "full" quickly).
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let trial = TrialId::new("domain-test").unwrap();
        // 2025-02-01: every event date of these tests (January 2025) lies before the ordering
        // time, as intake requires.
        let clock = 1_738_368_000_000_000;
        let root = k(1);
        let ledger = EmbeddedLedger::create(
            &dir.path().join("ledger"),
            &trial,
            4,
            "t",
            &root,
            k(2),
            TrialRules,
            UtcMicros(clock),
        )
        .unwrap();
        let mut t = Trial {
            _dir: dir,
            trial,
            ledger,
            clock,
            n: 0,
            root,
            admin: k(3),
            inv: k(4),
            lab: k(5),
            matcher: k(6),
            mtb: k(7),
            engine: k(8),
        };
        for (key, role) in [
            (t.admin.clone(), Role::Admin),
            (t.inv.clone(), Role::Investigator),
            (t.lab.clone(), Role::Lab),
            (t.matcher.clone(), Role::Matcher),
            (t.mtb.clone(), Role::Mtb),
            (t.engine.clone(), Role::CohortEngine),
        ] {
            let root = t.root.clone();
            t.ok(
                Subject::Trial,
                &KeyEnrolled {
                    public_key: key.public_key(),
                    name: format!("{role}"),
                    role,
                },
                &root,
                vec![],
            );
        }
        let cohort = |id: &str, rule| CohortDefinition {
            cohort_id: name(id),
            tumour_type: None,
            biomarker: rule,
            drug: "drug".into(),
            stage1_size: 2,
            stage1_threshold: 1,
            stage2_size: 4,
            stage2_threshold: 2,
            expansion_cap: 6,
        };
        let catalogue = CohortCatalogue {
            cohorts: vec![
                cohort("C-MSI", BiomarkerRule::MsiHigh),
                cohort(
                    "C-TMB",
                    BiomarkerRule::TmbAtLeast {
                        mut_per_mb_x100: 1000,
                    },
                ),
            ],
        };
        let admin = t.admin.clone();
        t.ok(
            Subject::Trial,
            &ProtocolAmended {
                protocol_version: 1,
                document_format: DOCUMENT_FORMAT_COHORT_CATALOGUE,
                document: tl_schemas::encode(&catalogue),
            },
            &admin,
            vec![],
        );
        t
    }

    fn submit<E: EventPayload>(
        &mut self,
        subject: Subject,
        ev: &E,
        key: &SigningKey,
        cites: Vec<Reference>,
    ) -> Outcome {
        self.n += 1;
        self.clock += 86_400_000_000;
        let mut draft = Draft::new(subject, envelope_of(ev));
        draft.submission_id = SubmissionId(u128::from(self.n).to_be_bytes());
        draft.client_time = UtcMicros(self.clock);
        draft.cites = cites;
        if E::TYPE == clinical_type::MATCH_DECIDED {
            draft.meaning = Meaning::Approved;
        }
        let s = draft.sign(&self.trial, key);
        self.ledger
            .submit_decoded(s, UtcMicros(self.clock))
            .unwrap()
    }

    fn ok<E: EventPayload>(
        &mut self,
        subject: Subject,
        ev: &E,
        key: &SigningKey,
        cites: Vec<Reference>,
    ) -> Reference {
        match self.submit(subject, ev, key, cites) {
            Outcome::Sealed(s) => Reference {
                partition: s.record.body.partition,
                seq: s.record.body.seq,
                hash: s.hash,
            },
            other => panic!("expected {} to be recorded, got {other:?}", E::NAME),
        }
    }

    /// Then it is refused by the domain rules with a detail containing `words`.
    fn refused<E: EventPayload>(
        &mut self,
        subject: Subject,
        ev: &E,
        key: &SigningKey,
        cites: Vec<Reference>,
        words: &str,
    ) {
        let before: Vec<u64> = (0..4).map(|p| self.ledger.log().len(p)).collect();
        match self.submit(subject, ev, key, cites) {
            Outcome::Refused(r) => {
                assert_eq!(r.reason.code(), "domain-rule", "{}: {r}", E::NAME);
                assert!(
                    r.detail.contains(words),
                    "{}: expected {words:?} in {:?}",
                    E::NAME,
                    r.detail
                );
            }
            other => panic!("expected {} to be refused, got {other:?}", E::NAME),
        }
        let after: Vec<u64> = (0..4).map(|p| self.ledger.log().len(p)).collect();
        assert_eq!(before, after, "a refused submission changed the ledger");
    }

    fn patient(id: &str) -> Subject {
        Subject::Patient(name(id))
    }

    /// A patient registered, consented, sequenced, proposed and approved for `cohort`.
    /// Returns the approval.
    fn approved(&mut self, id: &str, cohort: &str) -> Reference {
        let (inv, lab, matcher, mtb) = (
            self.inv.clone(),
            self.lab.clone(),
            self.matcher.clone(),
            self.mtb.clone(),
        );
        let p = Self::patient(id);
        self.ok(
            p.clone(),
            &PatientRegistered {
                tumour_type: "COAD".into(),
                site: "NKI".into(),
                registered_on: d(1),
            },
            &inv,
            vec![],
        );
        self.ok(
            p.clone(),
            &ConsentRecorded {
                form_version: "1".into(),
                consented_on: d(1),
            },
            &inv,
            vec![],
        );
        let seq = self.ok(p.clone(), &sequencing(), &lab, vec![]);
        let prop = self.ok(
            p.clone(),
            &MatchProposed {
                protocol_version: 1,
                candidates: vec![],
                not_matched: vec![],
            },
            &matcher,
            vec![seq],
        );
        self.ok(
            p,
            &MatchDecided {
                decision: MtbDecision::Approved {
                    cohort_id: name(cohort),
                },
                rationale: "fit".into(),
                decided_on: d(2),
            },
            &mtb,
            vec![prop],
        )
    }

    fn slot(&mut self, id: &str, cohort: &str, approval: Reference) -> Reference {
        let engine = self.engine.clone();
        self.ok(
            Subject::Cohort(name(cohort)),
            &SlotAssigned {
                patient: name(id),
                stage: 1,
                slot: 1,
            },
            &engine,
            vec![approval],
        )
    }

    fn enrolled(&mut self, id: &str, cohort: &str) -> Reference {
        let approval = self.approved(id, cohort);
        let slot = self.slot(id, cohort, approval);
        let inv = self.inv.clone();
        self.ok(
            Self::patient(id),
            &PatientEnrolled {
                cohort_id: name(cohort),
                enrolled_on: d(3),
            },
            &inv,
            vec![slot],
        )
    }

    fn verify(&self) -> tl_ledger::Report {
        let inputs =
            tl_ledger::log::read_embedded_for_verify(&self._dir.path().join("ledger")).unwrap();
        tl_ledger::verify_ledger(&self.trial, self.root.public_key(), &inputs, TrialRules)
    }
}

fn sequencing() -> SequencingResultReported {
    SequencingResultReported {
        sample_id: "S".into(),
        purity_pct: 50,
        msi: MsiStatus::High,
        tmb_mut_per_mb_x100: 4000,
        alterations: vec![],
        report_sha256: tl_schemas::Hash32([1; 32]),
        report_uri: "r".into(),
        reported_on: d(1),
    }
}

fn dose() -> DoseAdministered {
    DoseAdministered {
        drug: "nivolumab".into(),
        dose_milli: 240_000,
        unit: DoseUnit::Mg,
        route: Route::Intravenous,
        cycle: 1,
        day: 1,
        administered_on: d(4),
    }
}

#[test]
fn the_whole_pathway_is_recorded_and_verifies() {
    let mut t = Trial::new();
    t.enrolled("P-1", "C-MSI");
    let inv = t.inv.clone();
    t.ok(Trial::patient("P-1"), &dose(), &inv, vec![]);
    t.ok(
        Trial::patient("P-1"),
        &DeathRecorded {
            died_on: d(20),
            cause: "progression".into(),
            treatment_related: false,
        },
        &inv,
        vec![],
    );
    let r = t.verify();
    assert!(r.ok, "{:?}", r.failures);
    assert_eq!(r.unknown_type_records, 0);
}

#[test]
fn given_no_registration_when_anything_arrives_then_it_is_refused() {
    let mut t = Trial::new();
    let inv = t.inv.clone();
    t.refused(
        Trial::patient("P-9"),
        &ConsentRecorded {
            form_version: "1".into(),
            consented_on: d(1),
        },
        &inv,
        vec![],
        "not registered",
    );
}

#[test]
fn given_no_consent_when_sequencing_or_enrolment_arrives_then_it_is_refused() {
    let mut t = Trial::new();
    let (inv, lab) = (t.inv.clone(), t.lab.clone());
    t.ok(
        Trial::patient("P-1"),
        &PatientRegistered {
            tumour_type: "COAD".into(),
            site: "NKI".into(),
            registered_on: d(1),
        },
        &inv,
        vec![],
    );
    t.refused(
        Trial::patient("P-1"),
        &sequencing(),
        &lab,
        vec![],
        "has not consented",
    );
    // Consent withdrawn after the approval and the slot: no enrolment.
    let approval = t.approved("P-2", "C-MSI");
    let slot = t.slot("P-2", "C-MSI", approval);
    t.ok(
        Trial::patient("P-2"),
        &ConsentWithdrawn {
            withdrawn_on: d(3),
            follow_up_allowed: true,
            reason: String::new(),
        },
        &inv,
        vec![],
    );
    t.refused(
        Trial::patient("P-2"),
        &PatientEnrolled {
            cohort_id: name("C-MSI"),
            enrolled_on: d(4),
        },
        &inv,
        vec![slot],
        "no enrolment without consent",
    );
}

#[test]
fn given_no_approved_match_when_a_slot_or_enrolment_arrives_then_it_is_refused() {
    let mut t = Trial::new();
    let (inv, lab, matcher, mtb, engine) = (
        t.inv.clone(),
        t.lab.clone(),
        t.matcher.clone(),
        t.mtb.clone(),
        t.engine.clone(),
    );
    let p = Trial::patient("P-1");
    t.ok(
        p.clone(),
        &PatientRegistered {
            tumour_type: "COAD".into(),
            site: "NKI".into(),
            registered_on: d(1),
        },
        &inv,
        vec![],
    );
    t.ok(
        p.clone(),
        &ConsentRecorded {
            form_version: "1".into(),
            consented_on: d(1),
        },
        &inv,
        vec![],
    );
    let seq = t.ok(p.clone(), &sequencing(), &lab, vec![]);
    let prop = t.ok(
        p.clone(),
        &MatchProposed {
            protocol_version: 1,
            candidates: vec![],
            not_matched: vec![],
        },
        &matcher,
        vec![seq],
    );
    let rejected = t.ok(
        p.clone(),
        &MatchDecided {
            decision: MtbDecision::Rejected,
            rationale: "unfit".into(),
            decided_on: d(2),
        },
        &mtb,
        vec![prop],
    );
    t.refused(
        Subject::Cohort(name("C-MSI")),
        &SlotAssigned {
            patient: name("P-1"),
            stage: 1,
            slot: 1,
        },
        &engine,
        vec![rejected],
        "does not approve",
    );
    // Another patient's slot does not make this one enrollable.
    let other = t.approved("P-2", "C-MSI");
    let slot = t.slot("P-2", "C-MSI", other);
    t.refused(
        p,
        &PatientEnrolled {
            cohort_id: name("C-MSI"),
            enrolled_on: d(4),
        },
        &inv,
        vec![slot],
        "no enrolment without an approved match",
    );
}

#[test]
fn given_an_approval_but_no_slot_when_enrolment_arrives_then_it_is_refused() {
    let mut t = Trial::new();
    let inv = t.inv.clone();
    t.approved("P-1", "C-MSI");
    t.refused(
        Trial::patient("P-1"),
        &PatientEnrolled {
            cohort_id: name("C-MSI"),
            enrolled_on: d(4),
        },
        &inv,
        vec![],
        "no enrolment without a slot",
    );
    // Nor with another patient's slot in the right cohort.
    let other = t.approved("P-2", "C-MSI");
    let slot = t.slot("P-2", "C-MSI", other);
    t.refused(
        Trial::patient("P-1"),
        &PatientEnrolled {
            cohort_id: name("C-MSI"),
            enrolled_on: d(4),
        },
        &inv,
        vec![slot],
        "is not patient:P-1's slot",
    );
}

#[test]
fn given_no_enrolment_when_a_dose_arrives_then_it_is_refused() {
    let mut t = Trial::new();
    let inv = t.inv.clone();
    t.approved("P-1", "C-MSI");
    t.refused(
        Trial::patient("P-1"),
        &dose(),
        &inv,
        vec![],
        "no DoseAdministered before enrolment",
    );
}

#[test]
fn given_a_full_or_closed_cohort_when_a_slot_is_asked_then_it_is_refused() {
    let mut t = Trial::new();
    let engine = t.engine.clone();
    t.enrolled("P-1", "C-MSI");
    t.enrolled("P-2", "C-MSI");
    // Stage 1 holds two: full.
    let a3 = t.approved("P-3", "C-MSI");
    t.refused(
        Subject::Cohort(name("C-MSI")),
        &SlotAssigned {
            patient: name("P-3"),
            stage: 1,
            slot: 3,
        },
        &engine,
        vec![a3],
        "no slot in a full cohort",
    );
    // A non-evaluable patient frees a slot.
    let decided = CohortStageDecided {
        status: CohortStatus::Stage1,
        enrolled: 2,
        evaluable: 0,
        benefits: 0,
        not_evaluable: 1,
    };
    t.ok(Subject::Cohort(name("C-MSI")), &decided, &engine, vec![]);
    t.slot("P-3", "C-MSI", a3);
    // Closed for futility: nothing more.
    let closed = CohortStageDecided {
        status: CohortStatus::ClosedForFutility,
        enrolled: 3,
        evaluable: 2,
        benefits: 0,
        not_evaluable: 1,
    };
    t.ok(Subject::Cohort(name("C-MSI")), &closed, &engine, vec![]);
    let a4 = t.approved("P-4", "C-MSI");
    t.refused(
        Subject::Cohort(name("C-MSI")),
        &SlotAssigned {
            patient: name("P-4"),
            stage: 1,
            slot: 4,
        },
        &engine,
        vec![a4],
        "no slot in a closed cohort",
    );
    // And a closed cohort does not reopen.
    let reopen = CohortStageDecided {
        status: CohortStatus::Stage2,
        enrolled: 3,
        evaluable: 2,
        benefits: 1,
        not_evaluable: 1,
    };
    t.refused(
        Subject::Cohort(name("C-MSI")),
        &reopen,
        &engine,
        vec![],
        "cannot go from ClosedForFutility to Stage2",
    );
}

#[test]
fn given_a_death_then_only_corrections_and_follow_ups_may_follow() {
    let mut t = Trial::new();
    let inv = t.inv.clone();
    t.enrolled("P-1", "C-MSI");
    let ae = AdverseEventReported {
        ae_id: 1,
        ctcae_term: "Colitis".into(),
        grade: 3,
        serious: vec![SeriousnessCriterion::Hospitalisation],
        expected: false,
        attribution: Attribution::Probable,
        onset: PartialDate::Full(d(5)),
        awareness: d(6),
        outcome: AeOutcome::Ongoing,
    };
    let ae_ref = t.ok(Trial::patient("P-1"), &ae, &inv, vec![]);
    t.ok(
        Trial::patient("P-1"),
        &DeathRecorded {
            died_on: d(9),
            cause: "colitis".into(),
            treatment_related: true,
        },
        &inv,
        vec![],
    );
    t.refused(Trial::patient("P-1"), &dose(), &inv, vec![], "has died");
    t.refused(
        Trial::patient("P-1"),
        &SurvivalStatusRecorded {
            last_known_alive: d(10),
        },
        &inv,
        vec![],
        "has died",
    );
    // A follow-up on the adverse event is allowed,
    let update = AdverseEventUpdated {
        ae_id: 1,
        grade: 5,
        serious: vec![SeriousnessCriterion::Death],
        expected: false,
        attribution: Attribution::Probable,
        outcome: AeOutcome::Fatal,
        awareness: d(10),
        resolved_on: None,
    };
    t.ok(Trial::patient("P-1"), &update, &inv, vec![]);
    // and so is a correction, citing what it corrects.
    let fixed = AdverseEventReported { grade: 4, ..ae };
    let correction = Corrected {
        reason: "grade transcribed wrongly".into(),
        event_type: clinical_type::ADVERSE_EVENT_REPORTED,
        event_version: 1,
        payload: tl_schemas::encode(&fixed),
    };
    t.ok(Trial::patient("P-1"), &correction, &inv, vec![ae_ref]);
    assert!(t.verify().ok);
}

#[test]
fn follow_ups_and_corrections_must_refer_to_something_real() {
    let mut t = Trial::new();
    let (inv, lab) = (t.inv.clone(), t.lab.clone());
    let enrolment = t.enrolled("P-1", "C-MSI");
    let update = AdverseEventUpdated {
        ae_id: 7,
        grade: 2,
        serious: vec![],
        expected: true,
        attribution: Attribution::Possible,
        outcome: AeOutcome::Recovered,
        awareness: d(10),
        resolved_on: Some(d(9)),
    };
    t.refused(
        Trial::patient("P-1"),
        &update,
        &inv,
        vec![],
        "was never reported",
    );
    // A correction without a citation, or of another type, or by a role that may not author it.
    let corr = |t: u16, payload: Vec<u8>| Corrected {
        reason: "typo".into(),
        event_type: t,
        event_version: 1,
        payload,
    };
    let enrol = PatientEnrolled {
        cohort_id: name("C-MSI"),
        enrolled_on: d(5),
    };
    t.refused(
        Trial::patient("P-1"),
        &corr(clinical_type::PATIENT_ENROLLED, tl_schemas::encode(&enrol)),
        &inv,
        vec![],
        "must cite the record it corrects",
    );
    t.refused(
        Trial::patient("P-1"),
        &corr(
            clinical_type::DOSE_ADMINISTERED,
            tl_schemas::encode(&dose()),
        ),
        &inv,
        vec![enrolment],
        "the corrected record is PatientEnrolled",
    );
    t.refused(
        Trial::patient("P-1"),
        &corr(clinical_type::PATIENT_ENROLLED, tl_schemas::encode(&enrol)),
        &lab,
        vec![enrolment],
        "may not correct",
    );
    t.ok(
        Trial::patient("P-1"),
        &corr(clinical_type::PATIENT_ENROLLED, tl_schemas::encode(&enrol)),
        &inv,
        vec![enrolment],
    );
}

#[test]
fn an_mtb_decision_must_be_signed_as_an_approval_and_withdrawn_consent_stops_dosing() {
    let mut t = Trial::new();
    let (inv, lab, matcher, mtb) = (
        t.inv.clone(),
        t.lab.clone(),
        t.matcher.clone(),
        t.mtb.clone(),
    );
    let p = Trial::patient("P-1");
    t.ok(
        p.clone(),
        &PatientRegistered {
            tumour_type: "COAD".into(),
            site: "NKI".into(),
            registered_on: d(1),
        },
        &inv,
        vec![],
    );
    t.ok(
        p.clone(),
        &ConsentRecorded {
            form_version: "1".into(),
            consented_on: d(1),
        },
        &inv,
        vec![],
    );
    let seq = t.ok(p.clone(), &sequencing(), &lab, vec![]);
    t.ok(
        p.clone(),
        &MatchProposed {
            protocol_version: 1,
            candidates: vec![],
            not_matched: vec![],
        },
        &matcher,
        vec![seq],
    );
    // Signed as merely "authored": refused.
    t.n += 1;
    let mut draft = Draft::new(
        p.clone(),
        envelope_of(&MatchDecided {
            decision: MtbDecision::Rejected,
            rationale: "-".into(),
            decided_on: d(2),
        }),
    );
    draft.submission_id = SubmissionId(u128::from(t.n).to_be_bytes());
    let s = draft.sign(&t.trial, &mtb);
    match t.ledger.submit_decoded(s, UtcMicros(t.clock)).unwrap() {
        Outcome::Refused(r) => assert!(r.detail.contains("meaning `approved`"), "{r}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Consent withdrawn after enrolment: no more doses.
    t.enrolled("P-2", "C-MSI");
    t.ok(
        Trial::patient("P-2"),
        &ConsentWithdrawn {
            withdrawn_on: d(5),
            follow_up_allowed: true,
            reason: String::new(),
        },
        &inv,
        vec![],
    );
    t.refused(
        Trial::patient("P-2"),
        &dose(),
        &inv,
        vec![],
        "no dose without consent",
    );
}

#[test]
fn a_partial_onset_date_with_an_impossible_month_is_refused() {
    let mut t = Trial::new();
    let inv = t.inv.clone();
    t.enrolled("P-1", "C-MSI");
    let ae = AdverseEventReported {
        ae_id: 1,
        ctcae_term: "Rash".into(),
        grade: 2,
        serious: vec![],
        expected: true,
        attribution: Attribution::Possible,
        onset: PartialDate::YearMonth(2025, 13),
        awareness: d(6),
        outcome: AeOutcome::Ongoing,
    };
    t.refused(Trial::patient("P-1"), &ae, &inv, vec![], "month 13");
}

#[test]
fn a_grade_outside_one_to_five_is_refused() {
    let mut t = Trial::new();
    let inv = t.inv.clone();
    t.enrolled("P-1", "C-MSI");
    let ae = AdverseEventReported {
        ae_id: 1,
        ctcae_term: "Rash".into(),
        grade: 6,
        serious: vec![],
        expected: true,
        attribution: Attribution::Possible,
        onset: PartialDate::Year(2025),
        awareness: d(6),
        outcome: AeOutcome::Ongoing,
    };
    t.refused(Trial::patient("P-1"), &ae, &inv, vec![], "outside 1-5");
}

#[test]
fn an_approval_for_a_cohort_outside_the_catalogue_is_refused() {
    let mut t = Trial::new();
    let (inv, lab, matcher, mtb) = (
        t.inv.clone(),
        t.lab.clone(),
        t.matcher.clone(),
        t.mtb.clone(),
    );
    let p = Trial::patient("P-1");
    t.ok(
        p.clone(),
        &PatientRegistered {
            tumour_type: "COAD".into(),
            site: "NKI".into(),
            registered_on: d(1),
        },
        &inv,
        vec![],
    );
    t.ok(
        p.clone(),
        &ConsentRecorded {
            form_version: "1".into(),
            consented_on: d(1),
        },
        &inv,
        vec![],
    );
    t.ok(p.clone(), &sequencing(), &lab, vec![]);
    t.ok(
        p.clone(),
        &MatchProposed {
            protocol_version: 1,
            candidates: vec![],
            not_matched: vec![],
        },
        &matcher,
        vec![],
    );
    t.refused(
        p,
        &MatchDecided {
            decision: MtbDecision::Approved {
                cohort_id: name("C-NOPE"),
            },
            rationale: "?".into(),
            decided_on: d(2),
        },
        &mtb,
        vec![],
        "not in the protocol's catalogue",
    );
}

#[test]
fn given_a_format_2_catalogue_when_it_is_in_force_then_its_cohorts_take_patients_and_a_bad_one_is_malformed(
) {
    let mut t = Trial::new();
    let admin = t.admin.clone();
    let msi_only = CohortCatalogue {
        cohorts: vec![CohortDefinition {
            cohort_id: name("C-MSI"),
            tumour_type: None,
            biomarker: BiomarkerRule::MsiHigh,
            drug: "drug".into(),
            stage1_size: 2,
            stage1_threshold: 1,
            stage2_size: 4,
            stage2_threshold: 2,
            expansion_cap: 6,
        }],
    };
    // given a format-2 document claiming to be a catalogue with its conventions but holding a
    // format-1 catalogue's bytes
    let before: Vec<u64> = (0..4).map(|p| t.ledger.log().len(p)).collect();
    match t.submit(
        Subject::Trial,
        &ProtocolAmended {
            protocol_version: 2,
            document_format: DOCUMENT_FORMAT_COHORT_CATALOGUE_2,
            document: tl_schemas::encode(&msi_only),
        },
        &admin,
        vec![],
    ) {
        // then it is refused as malformed, and nothing is recorded
        Outcome::Refused(r) => assert_eq!(r.reason.code(), "malformed", "{r}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let after: Vec<u64> = (0..4).map(|p| t.ledger.log().len(p)).collect();
    assert_eq!(before, after);
    // when a well-formed format-2 catalogue of C-MSI alone comes into force
    t.ok(
        Subject::Trial,
        &ProtocolAmended {
            protocol_version: 2,
            document_format: DOCUMENT_FORMAT_COHORT_CATALOGUE_2,
            document: tl_schemas::encode(&CohortCatalogue2 {
                conventions: AnalysisConventions {
                    scan_interval_days: 56,
                    scan_window_days: 7,
                    benefit_landmark_day: 112,
                    benefit_window_days: 7,
                    pfs_censoring: PfsCensoring::AfterMissedAssessments { missed: 2 },
                },
                catalogue: msi_only,
            }),
        },
        &admin,
        vec![],
    );
    // then its cohort takes a patient (approval, slot, enrolment), the format-1 catalogue's
    // other cohort is gone, and the ledger verifies
    t.enrolled("P-1", "C-MSI");
    let mtb = t.mtb.clone();
    let approval_to_gone = MatchDecided {
        decision: MtbDecision::Approved {
            cohort_id: name("C-TMB"),
        },
        rationale: "?".into(),
        decided_on: d(2),
    };
    t.refused(
        Trial::patient("P-1"),
        &approval_to_gone,
        &mtb,
        vec![],
        "not in the protocol's catalogue",
    );
    let report = t.verify();
    assert!(report.ok, "{:?}", report.failures.first());
}
