//! A fast template generator of large, fully valid trial ledgers, for scale tests and
//! benchmarks (`trial-ledger bench --generate N`).
//!
//! The simulation ([`crate::simulate`]) plays one event at a time, with deciding services
//! reading the ledger back; it makes tens of thousands of records in seconds, not millions.
//! This generator instead repeats a few fixed patient patterns (a treated patient, a patient
//! screened but not matched, a patient who withdraws consent) over many patients, varying
//! their ids, sites, investigators, cohorts and dates, and writes them through the real
//! sequencer of an [`EmbeddedLedger`], so that every record is judged by the trial's rules
//! ([`TrialRules`]) and the ledger verifies like any other.
//!
//! Patients come in waves of [`WAVE`]. A wave opens with a protocol amendment whose catalogue
//! holds the cohorts its treated patients fill (24 each: a stage-1 decision after 8 slots and
//! a final one after 24, as in DRUP); then every patient of the wave takes pattern step 0,
//! then step 1, and so on. One step of a wave is one batch: the submissions are signed by
//! their authors on every core (rayon), then ordered, hashed and sealed by
//! [`EmbeddedLedger::order_batch`] (author signatures batch-verified and seals signed on every
//! core, ordering on one thread) and made durable with one [`EmbeddedLedger::commit`], which
//! also publishes checkpoints. A step cites only records of earlier steps, whose references
//! (hashes included) are known by then.
//!
//! Keys: root, sequencer, trial office, two labs, matcher, MTB, cohort engine, safety officer,
//! and two investigators per site, with one site more per 50,000 records (so a large ledger
//! has many author keys), all derived from fixed seeds ([`GenKeys`]). Everything is
//! deterministic: one record count gives one ledger, byte for byte.

use crate::catalogue::DEMO_CONVENTIONS;
use crate::SimError;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_ledger::writer::Draft;
use tl_ledger::{Durability, EmbeddedLedger, Outcome, SigningKey};
use tl_schemas::clinical::*;
use tl_schemas::events::{envelope_of, EventPayload, KeyEnrolled, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::{
    Date, Meaning, PartialDate, Reference, Role, SignedSubmission, Subject, SubmissionId, TrialId,
    UtcMicros,
};

/// The generator's version: part of every cache key, so a change of what it writes
/// regenerates cached ledgers. Raise it whenever the records it makes change.
pub const GENERATOR_VERSION: u32 = 1;
/// Patients per wave (one batch per pattern step).
pub const WAVE: usize = 2048;
/// Slots per cohort (DRUP's 24: 8 in stage 1, 16 in stage 2).
const COHORT_SIZE: usize = 24;
/// Ordering times advance by this much per record.
const SPACING_MICROS: i64 = 15_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// The partition count of generated trials (the demo's).
pub const PARTITIONS: u32 = 8;

/// A key of the generated trial, with the seed it was made from (to write key files).
#[derive(Clone, Debug)]
pub struct GenKey {
    /// Printed name.
    pub name: String,
    /// Role (`None`: the root).
    pub role: Option<Role>,
    /// Ed25519 seed.
    pub seed: [u8; 32],
    /// The key.
    pub key: SigningKey,
}

impl GenKey {
    fn derive(name: &str, role: Option<Role>) -> Self {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(b"trial-ledger template generator key\0")
            .chain_update(name.as_bytes())
            .finalize()
            .into();
        GenKey {
            name: name.into(),
            role,
            seed,
            key: SigningKey::from_seed(seed),
        }
    }
}

/// Every key of a generated trial.
#[derive(Clone, Debug)]
pub struct GenKeys {
    /// The trial root.
    pub root: GenKey,
    /// The sequencer.
    pub sequencer: GenKey,
    /// The trial office (protocol amendments).
    pub admin: GenKey,
    /// Sequencing laboratories.
    pub labs: Vec<GenKey>,
    /// The matcher service.
    pub matcher: GenKey,
    /// The molecular tumour board.
    pub mtb: GenKey,
    /// The cohort engine.
    pub cohort_engine: GenKey,
    /// The safety officer.
    pub safety: GenKey,
    /// Two per site.
    pub investigators: Vec<GenKey>,
}

impl GenKeys {
    /// The keys of a trial with `sites` sites.
    pub fn derive(sites: usize) -> Self {
        GenKeys {
            root: GenKey::derive("trial root", None),
            sequencer: GenKey::derive("sequencer", Some(Role::Sequencer)),
            admin: GenKey::derive("trial office", Some(Role::Admin)),
            labs: ["WGS lab A", "WGS lab B"]
                .iter()
                .map(|n| GenKey::derive(n, Some(Role::Lab)))
                .collect(),
            matcher: GenKey::derive("matcher", Some(Role::Matcher)),
            mtb: GenKey::derive("molecular tumour board", Some(Role::Mtb)),
            cohort_engine: GenKey::derive("cohort engine", Some(Role::CohortEngine)),
            safety: GenKey::derive("safety officer", Some(Role::Safety)),
            investigators: (0..sites * 2)
                .map(|i| {
                    let name = format!("investigator {}, site {}", i % 2 + 1, i / 2 + 1);
                    GenKey::derive(&name, Some(Role::Investigator))
                })
                .collect(),
        }
    }

    /// Every key but the root and the sequencer (the ledger's bootstrap enrols those).
    fn authors(&self) -> Vec<&GenKey> {
        let mut v = vec![&self.admin];
        v.extend(&self.labs);
        v.extend([&self.matcher, &self.mtb, &self.cohort_engine, &self.safety]);
        v.extend(&self.investigators);
        v
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct GenReport {
    /// The trial.
    pub trial: TrialId,
    /// Records written, bootstrap included.
    pub records: u64,
    /// Patients registered.
    pub patients: u64,
    /// Keys enrolled (root and sequencer included).
    pub keys: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// The trial id of generated ledgers.
pub fn trial_id() -> TrialId {
    TrialId::new("scale-gen").expect("a valid trial id")
}

/// Sites of a trial of about `records` records.
pub fn sites_for(records: u64) -> usize {
    8 + (records / 50_000) as usize
}

/// Writes a new embedded ledger of at least `records` records into `ledger_dir`, which must
/// not hold one: whole waves of [`WAVE`] patients (about 26,500 records each), so up to a
/// wave more; any count from 3 up to a wave's records gives exactly one wave. Returns what it
/// wrote and the keys (the root's public key is what a trust file pins).
pub fn generate(ledger_dir: &Path, records: u64) -> Result<(GenReport, GenKeys), SimError> {
    let started = Instant::now();
    let trial = trial_id();
    let keys = GenKeys::derive(sites_for(records));
    let start = Date::from_ymd(2016, 9, 1).unwrap_or(Date(17_045));
    let created = UtcMicros(i64::from(start.0) * MICROS_PER_DAY);
    let mut ledger = EmbeddedLedger::create(
        ledger_dir,
        &trial,
        PARTITIONS,
        "a generated trial for scale tests",
        &keys.root.key,
        keys.sequencer.key.clone(),
        TrialRules,
        created,
    )?;
    ledger.set_durability(Durability::Grouped {
        max_pending: usize::MAX,
    })?;
    let mut gen = Gen {
        trial,
        keys,
        ledger,
        clock: created.0,
        written: 2,
        next_id: 0,
        patients: 0,
        protocol_version: 0,
        protocol_position: 0,
        cohorts: 0,
    };
    gen.enrol_keys()?;
    while gen.written < records {
        gen.wave()?;
    }
    gen.ledger.close()?;
    let report = GenReport {
        trial: gen.trial.clone(),
        records: gen.written,
        patients: gen.patients,
        keys: gen.keys.authors().len() + 2,
        elapsed: started.elapsed(),
    };
    Ok((report, gen.keys))
}

/// One submission of a batch, before it is signed.
struct Item {
    subject: Subject,
    envelope: tl_schemas::Envelope,
    author: usize,
    cites: Vec<Reference>,
    meaning: Meaning,
    min_registry_seq: u64,
}

/// What a patient of a wave is, and the references its later steps cite.
#[derive(Clone, Default)]
struct PatientRun {
    name: Option<Name>,
    kind: u8,
    cohort: Option<Name>,
    /// Slot number in the cohort, from 1.
    slot: u32,
    refs: [Option<Reference>; 8],
}

/// Indexes of [`PatientRun::refs`].
const SEQ: usize = 0;
const PROPOSAL: usize = 1;
const DECISION: usize = 2;
const SLOT: usize = 3;
const AE: usize = 4;
const LAST: usize = 5;

/// Kinds of patients, by index modulo 10: 5 treated, 4 screened without a match, 1 withdraws.
const TREATED: u8 = 0;
const SCREENED: u8 = 1;
const WITHDRAWN: u8 = 2;

fn kind_of(i: u64) -> u8 {
    match i % 10 {
        0 | 2 | 4 | 6 | 8 => TREATED,
        9 => WITHDRAWN,
        _ => SCREENED,
    }
}

/// Pattern steps of the longest pattern (treated).
const STEPS: usize = 22;

struct Gen {
    trial: TrialId,
    keys: GenKeys,
    ledger: EmbeddedLedger<TrialRules>,
    clock: i64,
    written: u64,
    next_id: u64,
    patients: u64,
    protocol_version: u32,
    protocol_position: u64,
    cohorts: u64,
}

/// Author indexes into [`GenKeys::authors`] order: admin, lab A, lab B, matcher, MTB, cohort
/// engine, safety, then the investigators.
const ADMIN: usize = 0;
const LAB: usize = 1;
const MATCHER: usize = 3;
const MTB: usize = 4;
const ENGINE: usize = 5;
const SAFETY: usize = 6;
const INVESTIGATORS: usize = 7;

impl Gen {
    fn today(&self) -> Date {
        Date((self.clock.div_euclid(MICROS_PER_DAY) + 1) as i32)
    }

    fn enrol_keys(&mut self) -> Result<(), SimError> {
        let items: Vec<Item> = self
            .keys
            .authors()
            .iter()
            .map(|k| KeyEnrolled {
                public_key: k.key.public_key(),
                name: k.name.clone(),
                role: k.role.unwrap_or(Role::Investigator),
            })
            .map(|e| item(Subject::Trial, &e, usize::MAX))
            .collect();
        self.run_batch(items)?;
        Ok(())
    }

    /// The cohorts of one wave, in a new protocol version.
    fn amend(&mut self, cohorts: &[Name]) -> Result<(), SimError> {
        let catalogue = CohortCatalogue {
            cohorts: cohorts
                .iter()
                .enumerate()
                .map(|(i, id)| CohortDefinition {
                    cohort_id: id.clone(),
                    tumour_type: None,
                    biomarker: BiomarkerRule::Alteration {
                        gene: ["BRAF", "ERBB2", "PIK3CA", "CDK4"][i % 4].into(),
                        kinds: vec![AlterationKind::SnvIndel],
                        protein_change: None,
                    },
                    drug: ["vemurafenib", "trastuzumab", "alpelisib", "palbociclib"][i % 4].into(),
                    stage1_size: 8,
                    stage1_threshold: 1,
                    stage2_size: COHORT_SIZE as u16,
                    stage2_threshold: 5,
                    expansion_cap: COHORT_SIZE as u32,
                })
                .collect(),
        };
        let amendment = ProtocolAmended {
            protocol_version: self.protocol_version + 1,
            document_format: DOCUMENT_FORMAT_COHORT_CATALOGUE_2,
            document: tl_schemas::encode(&CohortCatalogue2 {
                conventions: DEMO_CONVENTIONS,
                catalogue,
            }),
        };
        let refs = self.run_batch(vec![item(Subject::Trial, &amendment, ADMIN)])?;
        self.protocol_version += 1;
        self.protocol_position = refs[0].seq + 1;
        Ok(())
    }

    /// One wave of patients, step by step.
    fn wave(&mut self) -> Result<(), SimError> {
        let first = self.patients;
        let mut runs: Vec<PatientRun> = (0..WAVE as u64)
            .map(|i| PatientRun {
                name: Name::new(format!("PT-{:09}", first + i)).ok(),
                kind: kind_of(first + i),
                ..Default::default()
            })
            .collect();
        let treated = runs.iter().filter(|r| r.kind == TREATED).count();
        let cohorts: Vec<Name> = (0..treated.div_ceil(COHORT_SIZE) as u64)
            .filter_map(|c| Name::new(format!("GEN.C{:06}", self.cohorts + c)).ok())
            .collect();
        self.cohorts += cohorts.len() as u64;
        for (k, r) in runs.iter_mut().filter(|r| r.kind == TREATED).enumerate() {
            r.cohort = cohorts.get(k / COHORT_SIZE).cloned();
            r.slot = (k % COHORT_SIZE) as u32 + 1;
        }
        self.amend(&cohorts)?;
        self.patients += WAVE as u64;
        for step in 0..STEPS {
            let day = self.today();
            let mut items = Vec::new();
            let mut owners = Vec::new();
            for (i, r) in runs.iter().enumerate() {
                let investigator =
                    INVESTIGATORS + ((first as usize + i) % self.keys.investigators.len());
                if let Some(it) = self.step_item(step, r, first + i as u64, investigator, day) {
                    items.push(it);
                    owners.push(Some(i));
                }
                if step == 5 && r.kind == TREATED {
                    self.stage_decisions(r, &mut items, &mut owners);
                }
            }
            let refs = self.run_batch(items)?;
            for (owner, rf) in owners.into_iter().zip(refs) {
                if let Some(i) = owner {
                    record_ref(&mut runs[i], step, rf);
                }
            }
        }
        Ok(())
    }

    /// After a treated patient's slot in step 5: the cohort engine's stage decisions once
    /// its cohort holds 8, then 24 patients.
    fn stage_decisions(
        &self,
        r: &PatientRun,
        items: &mut Vec<Item>,
        owners: &mut Vec<Option<usize>>,
    ) {
        let Some(cohort) = &r.cohort else { return };
        let filled = r.slot as usize;
        let status = match filled {
            8 => CohortStatus::Stage2,
            COHORT_SIZE => {
                if cohort.as_str().ends_with(['0', '3', '6']) {
                    CohortStatus::Positive
                } else {
                    CohortStatus::CompletedNegative
                }
            }
            _ => return,
        };
        let decided = CohortStageDecided {
            status,
            enrolled: filled as u32,
            evaluable: filled as u32,
            benefits: if status == CohortStatus::Positive {
                6
            } else {
                1
            },
            not_evaluable: 0,
        };
        let mut it = item(Subject::Cohort(cohort.clone()), &decided, ENGINE);
        it.min_registry_seq = self.protocol_position;
        items.push(it);
        owners.push(None);
    }

    /// The submission of pattern step `step` for patient run `r`, if its pattern has one.
    fn step_item(
        &self,
        step: usize,
        r: &PatientRun,
        index: u64,
        investigator: usize,
        day: Date,
    ) -> Option<Item> {
        let name = r.name.clone()?;
        let me = Subject::Patient(name.clone());
        let lab = LAB + (index % 2) as usize;
        let mut it = match (r.kind, step) {
            (_, 0) => item(
                me,
                &PatientRegistered {
                    tumour_type: ["COADREAD", "NSCLC", "BRCA", "PAAD"][index as usize % 4].into(),
                    site: format!("site {}", (investigator - INVESTIGATORS) / 2 + 1),
                    registered_on: day,
                },
                investigator,
            ),
            (_, 1) => item(
                me,
                &ConsentRecorded {
                    form_version: "DRUP-ICF v1".into(),
                    consented_on: day,
                },
                investigator,
            ),
            (WITHDRAWN, 2) => item(
                me,
                &ConsentWithdrawn {
                    withdrawn_on: day,
                    follow_up_allowed: false,
                    reason: "patient decided against further screening".into(),
                },
                investigator,
            ),
            (WITHDRAWN, _) => return None,
            (_, 2) => item(me, &sequencing(index, day), lab),
            (_, 3) => {
                let mut it = item(me, &proposal(r, self.protocol_version), MATCHER);
                it.cites = r.refs[SEQ].into_iter().collect();
                it
            }
            (_, 4) => {
                let decision = match &r.cohort {
                    Some(c) if r.kind == TREATED => MtbDecision::Approved {
                        cohort_id: c.clone(),
                    },
                    _ => MtbDecision::Rejected,
                };
                let mut it = item(
                    me,
                    &MatchDecided {
                        decision,
                        rationale: "rank 1 approved: BRAF SNV; VAF 31 %".into(),
                        decided_on: day,
                    },
                    MTB,
                );
                it.meaning = Meaning::Approved;
                it.cites = r.refs[PROPOSAL].into_iter().collect();
                it
            }
            (SCREENED, _) => return None,
            (_, 5) => {
                let cohort = r.cohort.clone()?;
                let mut it = item(
                    Subject::Cohort(cohort),
                    &SlotAssigned {
                        patient: name,
                        stage: if r.slot <= 8 { 1 } else { 2 },
                        slot: r.slot,
                    },
                    ENGINE,
                );
                it.cites = r.refs[DECISION].into_iter().collect();
                it
            }
            (_, 6) => {
                let mut it = item(
                    me,
                    &PatientEnrolled {
                        cohort_id: r.cohort.clone()?,
                        enrolled_on: day,
                    },
                    investigator,
                );
                it.cites = r.refs[SLOT].into_iter().collect();
                it
            }
            (_, s) => treated_step(s, r, me, investigator, day)?,
        };
        if matches!(step, 3..=5) {
            it.min_registry_seq = self.protocol_position;
        }
        Some(it)
    }

    /// Signs `items` on every core, orders them in one batch and commits it; the references
    /// of the records, in order. A refusal is a bug of the generator.
    fn run_batch(&mut self, items: Vec<Item>) -> Result<Vec<Reference>, SimError> {
        let first_id = self.next_id;
        self.next_id += items.len() as u64;
        let client_time = UtcMicros(self.clock);
        let keys = &self.keys;
        let trial = &self.trial;
        let authors = keys.authors();
        let bytes: Vec<Vec<u8>> = items
            .into_par_iter()
            .enumerate()
            .map(|(i, it)| {
                let key = authors.get(it.author).map_or(&keys.root.key, |k| &k.key);
                let signed: SignedSubmission =
                    draft(it, first_id + i as u64, client_time).sign(trial, key);
                tl_schemas::encode(&signed)
            })
            .collect();
        let mut clock = self.clock;
        let outcomes = self.ledger.order_batch(&bytes, &mut || {
            clock += SPACING_MICROS;
            UtcMicros(clock)
        });
        self.clock = clock;
        let mut refs = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            match o? {
                Outcome::Sealed(s) => refs.push(Reference {
                    partition: s.record.body.partition,
                    seq: s.record.body.seq,
                    hash: s.hash,
                }),
                Outcome::Duplicate(r) => {
                    return Err(SimError::Invalid(format!(
                        "generated submission id already at {}/{}",
                        r.partition, r.seq
                    )))
                }
                Outcome::Refused(r) => {
                    return Err(SimError::Invalid(format!(
                        "the sequencer refused a generated submission: {}: {}",
                        r.reason.code(),
                        r.detail
                    )))
                }
            }
        }
        self.ledger.commit()?;
        self.written += refs.len() as u64;
        Ok(refs)
    }
}

/// Steps 7 and later of a treated patient: baseline scan, six cycles of doses, scans, an
/// adverse event and its follow-up, end of treatment, survival and death.
fn treated_step(
    step: usize,
    r: &PatientRun,
    me: Subject,
    investigator: usize,
    day: Date,
) -> Option<Item> {
    let dose = |cycle: u16| DoseAdministered {
        drug: "vemurafenib".into(),
        dose_milli: 960_000,
        unit: DoseUnit::Mg,
        route: Route::Oral,
        cycle,
        day: 1,
        administered_on: day,
    };
    let scan = |baseline: bool, d: u32, response| ResponseAssessed {
        assessed_on: day,
        baseline,
        targets: vec![
            TargetLesion {
                lesion_id: 1,
                nodal: false,
                diameter_mm10: d,
            },
            TargetLesion {
                lesion_id: 2,
                nodal: true,
                diameter_mm10: d / 2,
            },
        ],
        new_lesions: false,
        non_target: NonTargetStatus::Present,
        investigator_response: response,
    };
    Some(match step {
        7 => item(
            me,
            &scan(true, 420, OverallResponse::NotEvaluable),
            investigator,
        ),
        8..=10 => item(me, &dose(step as u16 - 7), investigator),
        11 => {
            let ae = AdverseEventReported {
                ae_id: 1,
                ctcae_term: "Fatigue".into(),
                grade: 2,
                serious: vec![],
                expected: true,
                attribution: Attribution::Possible,
                onset: PartialDate::Full(day),
                awareness: day,
                outcome: AeOutcome::Ongoing,
            };
            item(me, &ae, investigator)
        }
        12 => item(
            me,
            &scan(false, 380, OverallResponse::StableDisease),
            investigator,
        ),
        13..=15 => item(me, &dose(step as u16 - 9), investigator),
        16 => {
            let update = AdverseEventUpdated {
                ae_id: 1,
                grade: 1,
                serious: vec![],
                expected: true,
                attribution: Attribution::Possible,
                outcome: AeOutcome::Recovered,
                awareness: day,
                resolved_on: Some(day),
            };
            let mut it = item(me, &update, SAFETY);
            it.cites = r.refs[AE].into_iter().collect();
            it
        }
        17 => item(
            me,
            &scan(false, 510, OverallResponse::ProgressiveDisease),
            investigator,
        ),
        18 => {
            let mut it = item(
                me,
                &TreatmentEnded {
                    ended_on: day,
                    reason: EndReason::Progression,
                    detail: "progressive disease at the second scan".into(),
                },
                investigator,
            );
            it.cites = r.refs[LAST].into_iter().collect();
            it
        }
        19 | 20 => item(
            me,
            &SurvivalStatusRecorded {
                last_known_alive: day,
            },
            investigator,
        ),
        21 => item(
            me,
            &DeathRecorded {
                died_on: day,
                cause: "disease progression".into(),
                treatment_related: false,
            },
            investigator,
        ),
        _ => return None,
    })
}

/// Keeps what later steps cite.
fn record_ref(r: &mut PatientRun, step: usize, rf: Reference) {
    match step {
        2 => r.refs[SEQ] = Some(rf),
        3 => r.refs[PROPOSAL] = Some(rf),
        4 => r.refs[DECISION] = Some(rf),
        5 => r.refs[SLOT] = Some(rf),
        11 => r.refs[AE] = Some(rf),
        _ => {}
    }
    if step != 5 {
        r.refs[LAST] = Some(rf);
    }
}

fn item<E: EventPayload>(subject: Subject, event: &E, author: usize) -> Item {
    Item {
        subject,
        envelope: envelope_of(event),
        author,
        cites: Vec::new(),
        meaning: Meaning::Authored,
        min_registry_seq: 0,
    }
}

fn draft(it: Item, id: u64, client_time: UtcMicros) -> Draft {
    let mut d = Draft::new(it.subject, it.envelope);
    let mut sid = [0u8; 16];
    sid[..4].copy_from_slice(b"gen1");
    sid[8..].copy_from_slice(&id.to_be_bytes());
    d.submission_id = SubmissionId(sid);
    d.client_time = client_time;
    d.cites = it.cites;
    d.meaning = it.meaning;
    d.min_registry_seq = it.min_registry_seq;
    d
}

fn sequencing(index: u64, day: Date) -> SequencingResultReported {
    SequencingResultReported {
        sample_id: format!("S{:09}-T", index),
        purity_pct: 40 + (index % 50) as u8,
        msi: MsiStatus::Stable,
        tmb_mut_per_mb_x100: 420,
        alterations: vec![Alteration {
            gene: "BRAF".into(),
            kind: AlterationKind::SnvIndel,
            protein_change: Some("p.V600E".into()),
            copy_number_x100: None,
            fusion_partner: None,
            vaf_bp: Some(3100),
        }],
        report_sha256: tl_schemas::Hash32(Sha256::digest(index.to_be_bytes()).into()),
        report_uri: format!("https://lab.example/reports/S{index:09}"),
        reported_on: day,
    }
}

fn proposal(r: &PatientRun, protocol_version: u32) -> MatchProposed {
    match &r.cohort {
        Some(c) if r.kind == TREATED => MatchProposed {
            protocol_version,
            candidates: vec![MatchCandidate {
                rank: 1,
                cohort_id: c.clone(),
                rule: "BRAF SNV".into(),
                evidence: "BRAF p.V600E, VAF 31.00 %".into(),
            }],
            not_matched: vec![],
        },
        _ => MatchProposed {
            protocol_version,
            candidates: vec![],
            not_matched: vec![],
        },
    }
}
