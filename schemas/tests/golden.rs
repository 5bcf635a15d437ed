//! Golden vectors: the bytes and hashes of every frozen structure.
//!
//! `golden/vectors.txt` holds one `name hex` line per vector. This test rebuilds each value
//! from fixed inputs and fails if any byte differs, and it decodes every stored vector back,
//! so old encodings stay decodable. The file is never regenerated casually: a change here is
//! a format change, which needs a new struct version and a FORMAT.md entry. (For a new
//! vector only: `GOLDEN_APPEND=1 cargo test -p tl-schemas --test golden` appends missing
//! names, leaves existing lines untouched and still compares them; it is refused when `CI`
//! is set.)

use ed25519_dalek::{Signer, SigningKey};
use std::collections::BTreeMap;
use tl_schemas::events::*;
use tl_schemas::record::seal_message;
use tl_schemas::submission::signing_message;
use tl_schemas::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let trial = TrialId::new("drup-golden").unwrap();
    let root = key(1);
    let seq_key = key(2);
    let lab = key(3);
    let root_pk = root.verifying_key().to_bytes();
    let lab_pk = lab.verifying_key().to_bytes();
    let mut v: Vec<(&'static str, Vec<u8>)> = Vec::new();

    let registered = TrialRegistered {
        partition_count: 8,
        root_public_key: root_pk,
        title: "Golden trial".into(),
    };
    let enrolled = KeyEnrolled {
        public_key: lab_pk,
        name: "Lab One".into(),
        role: Role::Lab,
    };
    let revoked = KeyRevoked {
        key: KeyId::of_ed25519(&lab_pk),
        reason: "left the trial".into(),
    };
    let rotated = RootKeyRotated {
        new_root_public_key: lab_pk,
        cosignature: Sig64([9; 64]),
    };
    let amended = ProtocolAmended {
        protocol_version: 2,
        document_format: 0,
        document: b"catalogue".to_vec(),
    };
    v.push(("event.TrialRegistered.v1", encode(&registered)));
    v.push(("event.KeyEnrolled.v1", encode(&enrolled)));
    v.push(("event.KeyRevoked.v1", encode(&revoked)));
    v.push(("event.RootKeyRotated.v1", encode(&rotated)));
    v.push(("event.ProtocolAmended.v1", encode(&amended)));

    v.push(("subject.trial", encode(&Subject::Trial)));
    v.push((
        "subject.patient",
        encode(&Subject::Patient(ids::Name::new("P-0001").unwrap())),
    ));
    v.push((
        "subject.cohort",
        encode(&Subject::Cohort(ids::Name::new("C-MSI-NIVO").unwrap())),
    ));
    for r in Role::ALL {
        v.push((
            Box::leak(format!("role.{}", r.as_str()).into_boxed_str()),
            encode(&r),
        ));
    }
    v.push(("meaning.approved", encode(&Meaning::Approved)));
    v.push(("time.utc_micros", encode(&UtcMicros(1_764_000_000_123_456))));
    v.push(("time.date", encode(&Date::from_ymd(2025, 3, 1).unwrap())));
    v.push(("time.partial.year", encode(&PartialDate::Year(2019))));
    v.push((
        "time.partial.year_month",
        encode(&PartialDate::YearMonth(2019, 7)),
    ));
    v.push((
        "time.partial.full",
        encode(&PartialDate::Full(Date::from_ymd(2019, 7, 14).unwrap())),
    ));
    v.push((
        "reference",
        encode(&Reference {
            partition: 3,
            seq: 300,
            hash: Hash32([0xab; 32]),
        }),
    ));

    let mut envelope = envelope_of(&enrolled);
    v.push(("envelope.plain", encode(&envelope)));
    envelope.personal_data = Some(vec![0xee; 5]);
    v.push(("envelope.personal_data", encode(&envelope)));
    envelope.personal_data = None;

    let submission = Submission {
        version: SUBMISSION_VERSION,
        trial_id: trial.clone(),
        submission_id: SubmissionId([0x11; 16]),
        subject: Subject::Trial,
        envelope,
        author: KeyId::of_ed25519(&root_pk),
        meaning: Meaning::Authored,
        client_time: UtcMicros(1_764_000_000_000_000),
        min_registry_seq: 1,
        cites: vec![Reference {
            partition: 0,
            seq: 0,
            hash: Hash32([0x22; 32]),
        }],
    };
    v.push(("submission.v1", encode(&submission)));
    let msg = submission.signing_message();
    assert_eq!(msg, signing_message(&trial, &encode(&submission)));
    v.push(("submission.signing_message", msg.clone()));
    let signed = SignedSubmission {
        submission,
        signature: Sig64(root.sign(&msg).to_bytes()),
    };
    v.push(("signed_submission.v1", encode(&signed)));

    let body = RecordBody {
        version: RECORD_VERSION,
        partition: 0,
        seq: 1,
        prev_hash: genesis_hash(&trial, 0),
        subject_prev: Some(Link {
            seq: 0,
            hash: Hash32([0x33; 32]),
        }),
        ordering_time: UtcMicros(1_764_000_000_500_000),
        registry_seq: 1,
        submission: signed,
        sequencer: KeyId::of_ed25519(&seq_key.verifying_key().to_bytes()),
        seal_alg: SIG_ALG_ED25519_ZIP215,
    };
    let body_bytes = encode(&body);
    // The verifier builds the author's signing message from the submission's bytes inside
    // the record body instead of encoding the submission again.
    assert_eq!(
        body.submission_bytes(&body_bytes),
        Some(encode(&body.submission.submission).as_slice())
    );
    let mut no_link = body.clone();
    no_link.subject_prev = None;
    no_link.seq = 300;
    let no_link_bytes = encode(&no_link);
    assert_eq!(
        no_link.submission_bytes(&no_link_bytes),
        Some(encode(&no_link.submission.submission).as_slice())
    );
    assert_eq!(body.submission_bytes(&body_bytes[..10]), None);
    let hash = record_hash(&body_bytes);
    v.push(("record_body.v1", body_bytes));
    v.push(("record.hash", hash.0.to_vec()));
    let smsg = seal_message(&trial, &hash);
    v.push(("record.seal_message", smsg.clone()));
    let record = Record {
        body,
        seal: Sig64(seq_key.sign(&smsg).to_bytes()),
    };
    assert_eq!(record.hash(), hash);
    v.push(("record.v1", encode(&record)));

    v.extend(clinical_vectors());

    v.push(("genesis.p0", genesis_hash(&trial, 0).0.to_vec()));
    v.push(("genesis.p7", genesis_hash(&trial, 7).0.to_vec()));
    v.push(("key_id.root", KeyId::of_ed25519(&root_pk).0.to_vec()));
    let parts: Vec<u8> = ["P-0001", "P-0002", "P-0003", "C-MSI-NIVO"]
        .iter()
        .map(|s| {
            let subject = if s.starts_with('C') {
                Subject::Cohort(ids::Name::new(*s).unwrap())
            } else {
                Subject::Patient(ids::Name::new(*s).unwrap())
            };
            partition_of(&trial, &subject, 8) as u8
        })
        .collect();
    v.push(("partition.n8.P-0001,P-0002,P-0003,C-MSI-NIVO", parts));
    v
}

fn clinical_vectors() -> Vec<(&'static str, Vec<u8>)> {
    use tl_schemas::clinical::*;
    let name = |s: &str| ids::Name::new(s).unwrap();
    let d = |y, m, dd| Date::from_ymd(y, m, dd).unwrap();
    let catalogue = CohortCatalogue {
        cohorts: vec![
            CohortDefinition {
                cohort_id: name("C-BRAF-COAD"),
                tumour_type: Some("COAD".into()),
                biomarker: BiomarkerRule::Alteration {
                    gene: "BRAF".into(),
                    kinds: vec![AlterationKind::SnvIndel],
                    protein_change: Some("p.V600E".into()),
                },
                drug: "vemurafenib + cetuximab".into(),
                stage1_size: 8,
                stage1_threshold: 1,
                stage2_size: 24,
                stage2_threshold: 5,
                expansion_cap: 100,
            },
            CohortDefinition {
                cohort_id: name("C-MSI-NIVO"),
                tumour_type: None,
                biomarker: BiomarkerRule::MsiHigh,
                drug: "nivolumab".into(),
                stage1_size: 8,
                stage1_threshold: 1,
                stage2_size: 24,
                stage2_threshold: 5,
                expansion_cap: 200,
            },
            CohortDefinition {
                cohort_id: name("C-HER2-AMP"),
                tumour_type: None,
                biomarker: BiomarkerRule::Amplification {
                    gene: "ERBB2".into(),
                    min_copy_number_x100: 800,
                },
                drug: "trastuzumab + pertuzumab".into(),
                stage1_size: 8,
                stage1_threshold: 1,
                stage2_size: 24,
                stage2_threshold: 5,
                expansion_cap: 24,
            },
            CohortDefinition {
                cohort_id: name("C-NTRK"),
                tumour_type: None,
                biomarker: BiomarkerRule::Fusion {
                    gene: "NTRK1".into(),
                    partner: None,
                },
                drug: "larotrectinib".into(),
                stage1_size: 8,
                stage1_threshold: 1,
                stage2_size: 24,
                stage2_threshold: 5,
                expansion_cap: 24,
            },
            CohortDefinition {
                cohort_id: name("C-TMB"),
                tumour_type: Some("NSCLC".into()),
                biomarker: BiomarkerRule::TmbAtLeast {
                    mut_per_mb_x100: 1000,
                },
                drug: "pembrolizumab".into(),
                stage1_size: 8,
                stage1_threshold: 1,
                stage2_size: 24,
                stage2_threshold: 5,
                expansion_cap: 24,
            },
        ],
    };
    let ae = AdverseEventReported {
        ae_id: 3,
        ctcae_term: "Diarrhea".into(),
        grade: 3,
        serious: vec![SeriousnessCriterion::Hospitalisation],
        expected: false,
        attribution: Attribution::Probable,
        onset: PartialDate::Full(d(2025, 2, 27)),
        awareness: d(2025, 3, 1),
        outcome: AeOutcome::Ongoing,
    };
    // Protocol document format 2: the demo's conventions and one cohort of the catalogue above.
    let catalogue2 = CohortCatalogue2 {
        conventions: AnalysisConventions {
            scan_interval_days: 56,
            scan_window_days: 7,
            benefit_landmark_day: 112,
            benefit_window_days: 7,
            pfs_censoring: PfsCensoring::AfterMissedAssessments { missed: 2 },
        },
        catalogue: CohortCatalogue {
            cohorts: vec![catalogue.cohorts[1].clone()],
        },
    };
    vec![
        ("clinical.CohortCatalogue.v1", encode(&catalogue)),
        ("clinical.CohortCatalogue2.v1", encode(&catalogue2)),
        (
            "clinical.PatientRegistered.v1",
            encode(&PatientRegistered {
                tumour_type: "COAD".into(),
                site: "NKI-AVL".into(),
                registered_on: d(2024, 1, 15),
            }),
        ),
        (
            "clinical.ConsentRecorded.v1",
            encode(&ConsentRecorded {
                form_version: "ICF-3.1".into(),
                consented_on: d(2024, 1, 16),
            }),
        ),
        (
            "clinical.ConsentWithdrawn.v1",
            encode(&ConsentWithdrawn {
                withdrawn_on: d(2024, 6, 1),
                follow_up_allowed: true,
                reason: "personal".into(),
            }),
        ),
        (
            "clinical.SequencingResultReported.v1",
            encode(&SequencingResultReported {
                sample_id: "S-0001-T".into(),
                purity_pct: 60,
                msi: MsiStatus::Stable,
                tmb_mut_per_mb_x100: 712,
                alterations: vec![
                    Alteration {
                        gene: "BRAF".into(),
                        kind: AlterationKind::SnvIndel,
                        protein_change: Some("p.V600E".into()),
                        copy_number_x100: None,
                        fusion_partner: None,
                        vaf_bp: Some(3120),
                    },
                    Alteration {
                        gene: "ERBB2".into(),
                        kind: AlterationKind::Amplification,
                        protein_change: None,
                        copy_number_x100: Some(1150),
                        fusion_partner: None,
                        vaf_bp: None,
                    },
                    Alteration {
                        gene: "NTRK1".into(),
                        kind: AlterationKind::Fusion,
                        protein_change: None,
                        copy_number_x100: None,
                        fusion_partner: Some("TPM3".into()),
                        vaf_bp: None,
                    },
                ],
                report_sha256: Hash32([0x5a; 32]),
                report_uri: "s3://lab/reports/S-0001-T.pdf".into(),
                reported_on: d(2024, 2, 1),
            }),
        ),
        (
            "clinical.MatchProposed.v1",
            encode(&MatchProposed {
                protocol_version: 1,
                candidates: vec![MatchCandidate {
                    rank: 1,
                    cohort_id: name("C-BRAF-COAD"),
                    rule: "BRAF SNV p.V600E in COAD".into(),
                    evidence: "BRAF p.V600E VAF 31.2%".into(),
                }],
                not_matched: vec![MatchExclusion {
                    cohort_id: name("C-MSI-NIVO"),
                    reason: "MSI stable".into(),
                }],
            }),
        ),
        (
            "clinical.MatchDecided.v1",
            encode(&MatchDecided {
                decision: MtbDecision::Approved {
                    cohort_id: name("C-BRAF-COAD"),
                },
                rationale: "actionable, fit".into(),
                decided_on: d(2024, 2, 8),
            }),
        ),
        (
            "clinical.MatchDecided.rejected.v1",
            encode(&MtbDecision::Rejected),
        ),
        (
            "clinical.SlotAssigned.v1",
            encode(&SlotAssigned {
                patient: name("P-0001"),
                stage: 1,
                slot: 3,
            }),
        ),
        (
            "clinical.SlotRefused.v1",
            encode(&SlotRefused {
                patient: name("P-0002"),
                reason: "cohort closed".into(),
            }),
        ),
        (
            "clinical.PatientEnrolled.v1",
            encode(&PatientEnrolled {
                cohort_id: name("C-BRAF-COAD"),
                enrolled_on: d(2024, 2, 12),
            }),
        ),
        (
            "clinical.DoseAdministered.v1",
            encode(&DoseAdministered {
                drug: "vemurafenib".into(),
                dose_milli: 960_000,
                unit: DoseUnit::Mg,
                route: Route::Oral,
                cycle: 1,
                day: 1,
                administered_on: d(2024, 2, 15),
            }),
        ),
        (
            "clinical.DoseModified.v1",
            encode(&DoseModified {
                action: DoseAction::Reduced {
                    new_dose_milli: 720_000,
                },
                reason: "grade 3 diarrhea".into(),
                modified_on: d(2024, 3, 2),
            }),
        ),
        (
            "clinical.DoseAction.discontinued",
            encode(&DoseAction::Discontinued),
        ),
        ("clinical.AdverseEventReported.v1", encode(&ae)),
        (
            "clinical.AdverseEventUpdated.v1",
            encode(&AdverseEventUpdated {
                ae_id: 3,
                grade: 2,
                serious: vec![],
                expected: false,
                attribution: Attribution::Probable,
                outcome: AeOutcome::Recovered,
                awareness: d(2025, 3, 9),
                resolved_on: Some(d(2025, 3, 8)),
            }),
        ),
        (
            "clinical.ResponseAssessed.v1",
            encode(&ResponseAssessed {
                assessed_on: d(2024, 4, 10),
                baseline: false,
                targets: vec![
                    TargetLesion {
                        lesion_id: 1,
                        nodal: false,
                        diameter_mm10: 412,
                    },
                    TargetLesion {
                        lesion_id: 2,
                        nodal: true,
                        diameter_mm10: 95,
                    },
                ],
                new_lesions: false,
                non_target: NonTargetStatus::Present,
                investigator_response: OverallResponse::PartialResponse,
            }),
        ),
        (
            "clinical.TreatmentEnded.v1",
            encode(&TreatmentEnded {
                ended_on: d(2024, 9, 1),
                reason: EndReason::Progression,
                detail: "new liver lesion".into(),
            }),
        ),
        (
            "clinical.SurvivalStatusRecorded.v1",
            encode(&SurvivalStatusRecorded {
                last_known_alive: d(2025, 1, 10),
            }),
        ),
        (
            "clinical.DeathRecorded.v1",
            encode(&DeathRecorded {
                died_on: d(2025, 2, 2),
                cause: "disease progression".into(),
                treatment_related: false,
            }),
        ),
        (
            "clinical.CohortStageDecided.v1",
            encode(&CohortStageDecided {
                status: CohortStatus::Stage2,
                enrolled: 9,
                evaluable: 3,
                benefits: 1,
                not_evaluable: 1,
            }),
        ),
        (
            "clinical.Corrected.v1",
            encode(&Corrected {
                reason: "transcription error in grade".into(),
                event_type: clinical_type::ADVERSE_EVENT_REPORTED,
                event_version: 1,
                payload: encode(&AdverseEventReported {
                    grade: 2,
                    ..ae.clone()
                }),
            }),
        ),
    ]
}

#[path = "support/golden_file.rs"]
mod golden_file;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/vectors.txt");

fn stored() -> BTreeMap<String, String> {
    golden_file::stored(std::path::Path::new(VECTORS))
}

#[test]
fn golden_vectors_have_not_drifted() {
    let computed = vectors();
    let append = golden_file::append_requested();
    if let Err(e) = golden_file::check(std::path::Path::new(VECTORS), &computed, append) {
        panic!("{e}");
    }
}

/// A scratch vectors file holding `lines`.
fn scratch(name: &str, lines: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("tl-golden-{}-{name}.txt", std::process::id()));
    std::fs::write(&path, lines).unwrap();
    path
}

#[test]
fn golden_append_still_compares_the_vectors_that_exist() {
    let path = scratch("drift", "# header\nold 0102\n");
    let computed = [("old", vec![1, 3]), ("new", vec![4])];
    let append = golden_file::Append {
        requested: true,
        ci: false,
    };
    let e = golden_file::check(&path, &computed, append).unwrap_err();
    assert!(e.contains("old: expected 0102"), "{e}");
    // The missing vector was appended; the existing line was left as it was.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, "# header\nold 0102\nnew 04\n");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn golden_append_is_refused_under_ci_and_writes_nothing() {
    let path = scratch("ci", "old 0102\n");
    let computed = [("old", vec![1, 2]), ("new", vec![4])];
    let append = golden_file::Append {
        requested: true,
        ci: true,
    };
    let e = golden_file::check(&path, &computed, append).unwrap_err();
    assert!(e.contains("refused when CI is set"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old 0102\n");
    // Without GOLDEN_APPEND a missing vector is a failure, not a skip.
    let plain = golden_file::Append {
        requested: false,
        ci: true,
    };
    let e = golden_file::check(&path, &computed, plain).unwrap_err();
    assert!(e.contains("new: missing"), "{e}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stored_vectors_still_decode_canonically() {
    let stored = stored();
    let bytes = |n: &str| hex::decode(&stored[n]).unwrap();
    let r: Record = decode(&bytes("record.v1")).unwrap();
    assert_eq!(r.hash().0.to_vec(), bytes("record.hash"));
    let _: RecordBody = decode(&bytes("record_body.v1")).unwrap();
    let _: SignedSubmission = decode(&bytes("signed_submission.v1")).unwrap();
    let _: Submission = decode(&bytes("submission.v1")).unwrap();
    let _: Envelope = decode(&bytes("envelope.personal_data")).unwrap();
    let _: TrialRegistered = decode(&bytes("event.TrialRegistered.v1")).unwrap();
    let _: KeyEnrolled = decode(&bytes("event.KeyEnrolled.v1")).unwrap();
    let _: KeyRevoked = decode(&bytes("event.KeyRevoked.v1")).unwrap();
    let _: RootKeyRotated = decode(&bytes("event.RootKeyRotated.v1")).unwrap();
    let _: ProtocolAmended = decode(&bytes("event.ProtocolAmended.v1")).unwrap();
    let _: PartialDate = decode(&bytes("time.partial.year_month")).unwrap();
    {
        use tl_schemas::clinical::*;
        let _: CohortCatalogue = decode(&bytes("clinical.CohortCatalogue.v1")).unwrap();
        let c2: CohortCatalogue2 = decode(&bytes("clinical.CohortCatalogue2.v1")).unwrap();
        assert_eq!(c2.conventions.benefit_window_days, 7);
        // A format-2 document is not a format-1 one, nor the reverse: neither decodes as the
        // other, so a reader never takes one for the other.
        assert!(decode::<CohortCatalogue>(&bytes("clinical.CohortCatalogue2.v1")).is_err());
        assert!(decode::<CohortCatalogue2>(&bytes("clinical.CohortCatalogue.v1")).is_err());
        let (cat, conventions) = protocol_catalogue(
            DOCUMENT_FORMAT_COHORT_CATALOGUE_2,
            &bytes("clinical.CohortCatalogue2.v1"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(cat.cohorts.len(), 1);
        assert_eq!(conventions, Some(c2.conventions));
        let (_, none) = protocol_catalogue(
            DOCUMENT_FORMAT_COHORT_CATALOGUE,
            &bytes("clinical.CohortCatalogue.v1"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(none, None);
        assert_eq!(protocol_catalogue(0, b"catalogue").unwrap(), None);
        let _: SequencingResultReported =
            decode(&bytes("clinical.SequencingResultReported.v1")).unwrap();
        let _: AdverseEventReported = decode(&bytes("clinical.AdverseEventReported.v1")).unwrap();
        let _: ResponseAssessed = decode(&bytes("clinical.ResponseAssessed.v1")).unwrap();
        let c: Corrected = decode(&bytes("clinical.Corrected.v1")).unwrap();
        let inner: AdverseEventReported = decode(&c.payload).unwrap();
        assert_eq!(inner.grade, 2);
    }
}

#[test]
fn record_wire_form_is_body_then_seal() {
    let stored = stored();
    let rec = hex::decode(&stored["record.v1"]).unwrap();
    let body = hex::decode(&stored["record_body.v1"]).unwrap();
    assert_eq!(&rec[..body.len()], &body[..]);
    assert_eq!(rec.len(), body.len() + 64);
}
