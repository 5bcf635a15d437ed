//! `trial-ledger matcher` and `cohort-engine` on a trial on a real Apache Kafka broker (the
//! shared test broker, with a `trial-ledger sequencer` process of the real binary): `--once`
//! records the expected `MatchProposed` for a sequencing result, signed with the matcher key and
//! citing the result, and a second run records nothing (the service replays the committed
//! ledger and recognises its decision); the cohort engine records the slot after an MTB
//! approval, citing it; a following matcher picks up a new sequencing result and exits 0 on
//! SIGTERM; a key that is not enrolled is a clear error that records nothing; the ledger
//! verifies.

mod kafka_support;

#[path = "support/scripted.rs"]
mod scripted;
use kafka_support::*;
use scripted::catalogue;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tl_kafka::writer::{Verdict, Writer};
use tl_kafka::TopicSafety;
use tl_ledger::writer::Draft;
use tl_ledger::SigningKey;
use tl_schemas::clinical::*;
use tl_schemas::events::{envelope_of, EventPayload, KeyEnrolled, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::{decode, encode, Date, Hash32, KeyId, Meaning, Record, Reference, Role, Subject};
use tl_tests::kafka::broker;

fn day(d: u8) -> Date {
    Date::from_ymd(2025, 1, d).unwrap()
}

fn patient(id: &str) -> Subject {
    Subject::Patient(Name::new(id).unwrap())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A trial on Kafka with a running sequencer, every role's key enrolled (the services' keys
/// as key files, for the binary), the catalogue in force, and patient PT-1 (lung cancer,
/// EML4-ALK) registered, consented and sequenced.
struct Svc {
    /// The trial.
    t: KTrial,
    /// Submits the scripted records and reads the ledger.
    w: Writer,
    /// The sequencer process.
    seq: Child,
    /// The lab's key.
    lab: SigningKey,
    /// The MTB's key.
    mtb: SigningKey,
}

impl Svc {
    /// On the shared test broker.
    fn new() -> Self {
        Self::on(&broker().bootstrap)
    }

    /// On the broker at `bootstrap`.
    fn on(bootstrap: &str) -> Self {
        let t = KTrial::new(bootstrap, 4, TopicSafety::Dev);
        let seq = t.sequencer("seq", "seq", &[]);
        let mut w = t.writer();
        t.enrol_investigator(&mut w);
        let mut s = Svc {
            t,
            w,
            seq,
            lab: SigningKey::generate(),
            mtb: SigningKey::generate(),
        };
        let admin = SigningKey::generate();
        for (key, role) in [
            (admin.public_key(), Role::Admin),
            (s.lab.public_key(), Role::Lab),
            (s.mtb.public_key(), Role::Mtb),
            (s.key_file("matcher", "matcher"), Role::Matcher),
            (
                s.key_file("cohort-engine", "cohort-engine"),
                Role::CohortEngine,
            ),
        ] {
            let enrol = KeyEnrolled {
                public_key: key,
                name: format!("{role:?}"),
                role,
            };
            let root = s.t.root.clone();
            s.submit(&root, Draft::new(Subject::Trial, envelope_of(&enrol)));
        }
        s.key_file("stray", "matcher");
        let mut amend = Draft::new(
            Subject::Trial,
            envelope_of(&ProtocolAmended {
                protocol_version: 1,
                document_format: DOCUMENT_FORMAT_COHORT_CATALOGUE,
                document: encode(&catalogue()),
            }),
        );
        amend.meaning = Meaning::Approved;
        s.submit(&admin, amend);
        s.patient("PT-1", "NSCLC");
        s.sequence("PT-1");
        s
    }

    /// Writes a key file `<dir>/<name>.key` with `keys new`; returns its public key.
    fn key_file(&self, name: &str, role: &str) -> [u8; 32] {
        let out = self.t.dir.path().join(format!("{name}.key"));
        let o = env(&mut Command::new(BIN))
            .args(["keys", "new", "--name", name, "--role", role, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "keys new: {}", text(&o));
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.t.dir.path().join(format!("{name}.key.pub.json")))
                .unwrap(),
        )
        .unwrap();
        hex::decode(v["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    }

    /// Signs and submits a draft; returns the reference of its record.
    fn submit(&mut self, key: &SigningKey, draft: Draft) -> Reference {
        let signed = draft.sign(&self.t.trial, key);
        match self.w.submit(&signed, Duration::from_secs(60)) {
            Ok(Verdict::Recorded { record, hash, .. }) => Reference {
                partition: record.body.partition,
                seq: record.body.seq,
                hash,
            },
            Ok(Verdict::Refused(r)) => panic!("refused: {r:?}"),
            Err(e) => panic!("submit: {e}\n{}", self.t.all_logs()),
        }
    }

    fn event<E: EventPayload>(&mut self, key: &SigningKey, subject: Subject, e: &E) -> Reference {
        let key = key.clone();
        self.submit(&key, Draft::new(subject, envelope_of(e)))
    }

    fn patient(&mut self, id: &str, tumour: &str) {
        let inv = self.t.investigator.clone();
        self.event(
            &inv,
            patient(id),
            &PatientRegistered {
                tumour_type: tumour.into(),
                site: "NKI".into(),
                registered_on: day(2),
            },
        );
        self.event(
            &inv,
            patient(id),
            &ConsentRecorded {
                form_version: "ICF v1".into(),
                consented_on: day(2),
            },
        );
    }

    fn sequence(&mut self, id: &str) -> Reference {
        let lab = self.lab.clone();
        self.event(
            &lab,
            patient(id),
            &SequencingResultReported {
                sample_id: format!("S-{id}"),
                purity_pct: 60,
                msi: MsiStatus::Stable,
                tmb_mut_per_mb_x100: 210,
                alterations: vec![Alteration {
                    gene: "ALK".into(),
                    kind: AlterationKind::Fusion,
                    protein_change: None,
                    copy_number_x100: None,
                    fusion_partner: Some("EML4".into()),
                    vaf_bp: None,
                }],
                report_sha256: Hash32([0; 32]),
                report_uri: "urn:report".into(),
                reported_on: day(20),
            },
        )
    }

    /// The service command on this trial.
    fn service(&self, cmd: &str, key: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        env(&mut c)
            .args([cmd, "--kafka", &self.t.bootstrap, "--trial"])
            .arg(self.t.trial.as_str())
            .args(["--topic-safety", "dev", "--key"])
            .arg(self.t.dir.path().join(key))
            .args(extra);
        c
    }

    /// Runs a service with `--once`.
    fn once(&self, cmd: &str, key: &str) -> Output {
        let start = Instant::now();
        let o = self.service(cmd, key, &["--once"]).output().unwrap();
        eprintln!("{cmd} --once took {:?}", start.elapsed());
        o
    }

    /// Every committed record, with its hash.
    fn records(&mut self) -> Vec<(Record, Hash32)> {
        let watcher = self.w.watcher();
        watcher
            .read_to_committed_end(Duration::from_secs(30))
            .unwrap();
        let mut out = Vec::new();
        for p in 0..watcher.partitions() {
            for bytes in watcher.partition_read(p, 0, usize::MAX) {
                let (r, body_len) = tl_ledger::codec::decode_record(&bytes).unwrap();
                out.push((r, tl_schemas::record_hash(&bytes[..body_len])));
            }
        }
        out
    }

    fn of_type(&mut self, t: u16) -> Vec<(Record, Hash32)> {
        self.records()
            .into_iter()
            .filter(|(r, _)| r.body.submission.submission.envelope.event_type == t)
            .collect()
    }

    /// Waits until the ledger holds `n` records of type `t`.
    fn wait_for(&mut self, t: u16, n: usize, timeout: Duration) -> Vec<(Record, Hash32)> {
        let start = Instant::now();
        loop {
            let found = self.of_type(t);
            if found.len() >= n {
                return found;
            }
            assert!(
                start.elapsed() < timeout,
                "only {} records of type {t} after {timeout:?}",
                found.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The key id of a key file's public key.
    fn key_id(&self, name: &str) -> KeyId {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.t.dir.path().join(format!("{name}.key.pub.json")))
                .unwrap(),
        )
        .unwrap();
        let pk: [u8; 32] = hex::decode(v["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        KeyId::of_ed25519(&pk)
    }

    /// `verify --kafka` passes; then the sequencer stops cleanly.
    fn finish(mut self) {
        let o = env(&mut Command::new(BIN))
            .args(["verify", "--kafka", &self.t.bootstrap, "--trial"])
            .arg(self.t.trial.as_str())
            .args(["--topic-safety", "dev", "--trust"])
            .arg(self.t.data().join("trust.json"))
            .output()
            .unwrap();
        assert!(o.status.success(), "verify --kafka: {}", text(&o));
        signal(&self.seq, "TERM");
        assert!(wait_exit(&mut self.seq, Duration::from_secs(60)).success());
    }
}

#[test]
fn matcher_once_proposes_on_kafka_and_the_cohort_engine_assigns_the_slot() {
    let started = Instant::now();
    let mut s = Svc::new();
    let result = s
        .of_type(clinical_type::SEQUENCING_RESULT_REPORTED)
        .remove(0);
    let before = s.records().len();
    // a key that is not enrolled is refused before anything is submitted
    let o = s.once("matcher", "stray.key");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("is not enrolled in trial {}", s.t.trial)),
        "{}",
        text(&o)
    );
    // --kafka needs --trial
    let o = env(&mut Command::new(BIN))
        .args(["matcher", "--kafka", &s.t.bootstrap, "--key", "x.key"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--trial"), "{}", text(&o));
    assert_eq!(s.records().len(), before, "nothing was recorded");

    // when the matcher catches up once
    let o = s.once("matcher", "matcher.key");
    assert!(o.status.success(), "{}\n{}", text(&o), s.t.all_logs());
    assert!(
        text(&o).contains("recorded MatchProposed for patient:PT-1"),
        "{}",
        text(&o)
    );
    // then one proposal for PT-1, signed by the matcher key, citing the sequencing result,
    // with the ALK cohort as its only candidate and why the BRAF cohort did not match
    let proposals = s.of_type(clinical_type::MATCH_PROPOSED);
    assert_eq!(proposals.len(), 1);
    let (proposal, proposal_hash) = proposals[0].clone();
    let sub = &proposal.body.submission.submission;
    assert_eq!(sub.subject, patient("PT-1"));
    assert_eq!(sub.author, s.key_id("matcher"));
    assert_eq!(
        sub.cites,
        vec![Reference {
            partition: result.0.body.partition,
            seq: result.0.body.seq,
            hash: result.1
        }]
    );
    let p: MatchProposed = decode(&sub.envelope.payload).unwrap();
    assert_eq!(p.protocol_version, 1);
    assert_eq!(p.candidates.len(), 1);
    assert_eq!(p.candidates[0].cohort_id.as_str(), "ALEC.ALKFUS.ANY");
    assert_eq!(p.candidates[0].evidence, "EML4-ALK fusion");
    assert_eq!(p.not_matched.len(), 1);
    assert_eq!(
        p.not_matched[0].reason,
        "tumour type NSCLC; the cohort is for COAD"
    );

    // when it runs again, it replays the ledger and records nothing new
    let before = s.records().len();
    let o = s.once("matcher", "matcher.key");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("0 recorded now, 0 already recorded, 0 refused"),
        "{}",
        text(&o)
    );
    assert_eq!(s.records().len(), before);

    // when the MTB approves the ALK cohort and the cohort engine catches up
    let mtb = s.mtb.clone();
    let mut decided = Draft::new(
        patient("PT-1"),
        envelope_of(&MatchDecided {
            decision: MtbDecision::Approved {
                cohort_id: Name::new("ALEC.ALKFUS.ANY").unwrap(),
            },
            rationale: "rank 1".into(),
            decided_on: day(25),
        }),
    );
    decided.meaning = Meaning::Approved;
    decided.cites = vec![Reference {
        partition: proposal.body.partition,
        seq: proposal.body.seq,
        hash: proposal_hash,
    }];
    let approval = s.submit(&mtb, decided);
    let o = s.once("cohort-engine", "cohort-engine.key");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("recorded SlotAssigned for cohort:ALEC.ALKFUS.ANY"),
        "{}",
        text(&o)
    );
    // then slot 1 of stage 1, signed by the cohort-engine key, citing the approval
    let slots = s.of_type(clinical_type::SLOT_ASSIGNED);
    assert_eq!(slots.len(), 1);
    let sub = &slots[0].0.body.submission.submission;
    assert_eq!(sub.author, s.key_id("cohort-engine"));
    assert_eq!(sub.subject.to_string(), "cohort:ALEC.ALKFUS.ANY");
    assert_eq!(sub.cites, vec![approval]);
    let slot: SlotAssigned = decode(&sub.envelope.payload).unwrap();
    assert_eq!(
        (slot.patient.as_str(), slot.stage, slot.slot),
        ("PT-1", 1, 1)
    );
    // and a second run finds it recorded
    let o = s.once("cohort-engine", "cohort-engine.key");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 recorded now"), "{}", text(&o));
    assert_eq!(s.of_type(clinical_type::SLOT_ASSIGNED).len(), 1);
    s.finish();
    eprintln!("test took {:?}", started.elapsed());
}

#[test]
fn a_following_matcher_on_kafka_picks_up_new_results_and_stops_on_sigterm() {
    let started = Instant::now();
    let mut s = Svc::new();
    let log = std::fs::File::create(s.t.dir.path().join("matcher.log")).unwrap();
    let mut child = s
        .service("matcher", "matcher.key", &["--poll-ms", "100"])
        .env("TRIAL_LEDGER_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    // it catches up with PT-1
    s.wait_for(clinical_type::MATCH_PROPOSED, 1, Duration::from_secs(30));
    // and, while it follows, a second patient is registered and sequenced
    s.patient("PT-2", "COAD");
    let result = s.sequence("PT-2");
    let proposals = s.wait_for(clinical_type::MATCH_PROPOSED, 2, Duration::from_secs(30));
    let sub = &proposals
        .iter()
        .find(|(r, _)| r.body.submission.submission.subject == patient("PT-2"))
        .expect("a proposal for PT-2")
        .0
        .body
        .submission
        .submission;
    assert_eq!(sub.cites, vec![result]);
    assert_eq!(sub.author, s.key_id("matcher"));
    // SIGTERM stops it cleanly (exit 0, with its summary)
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let log = s.t.log("matcher");
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("matcher: ") && log.contains("2 recorded now"),
        "{log}"
    );
    assert_eq!(s.of_type(clinical_type::MATCH_PROPOSED).len(), 2);
    s.finish();
    eprintln!("test took {:?}", started.elapsed());
}

#[test]
fn a_following_matcher_on_kafka_rides_out_a_broker_outage() {
    // Its own broker: stopping the shared one would disturb the other tests.
    let b = tl_tests::kafka::start(1);
    let state = b.state.clone().expect("a broker this test started");
    let mut s = Svc::on(&b.bootstrap);
    let log_path = s.t.dir.path().join("matcher.log");
    let mut child = s
        .service("matcher", "matcher.key", &["--poll-ms", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    s.wait_for(clinical_type::MATCH_PROPOSED, 1, Duration::from_secs(60));
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    broker_node("kill-node", &state);
    let deadline = Instant::now() + Duration::from_secs(120);
    while log().matches("retrying in").count() < 2 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the matcher exited ({status}) during the outage:\n{}",
                log()
            );
        }
        assert!(Instant::now() < deadline, "no retries logged:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    broker_node("start-node", &state);
    if s.seq.try_wait().unwrap().is_some() {
        s.seq = s.t.sequencer("seq", "seq-1", &[]);
    }
    // After the outage it proposes for a patient sequenced then.
    s.patient("PT-2", "COAD");
    s.sequence("PT-2");
    s.wait_for(clinical_type::MATCH_PROPOSED, 2, Duration::from_secs(120));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log().contains("reachable again") {
        assert!(Instant::now() < deadline, "{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", log());
    assert_eq!(
        s.of_type(clinical_type::MATCH_PROPOSED).len(),
        2,
        "each proposal once"
    );
    s.finish();
}

#[test]
fn submit_on_kafka_with_a_recorded_id_returns_the_original_receipt() {
    // given an investigator's key file, enrolled
    let mut s = Svc::new();
    let pk = s.key_file("inv2", "investigator");
    let root = s.t.root.clone();
    let enrol = KeyEnrolled {
        public_key: pk,
        name: "inv2".into(),
        role: Role::Investigator,
    };
    s.submit(&root, Draft::new(Subject::Trial, envelope_of(&enrol)));
    let event = s.t.dir.path().join("reg.json");
    let register = r#"{"event":"PatientRegistered","subject":"patient:PT-9","submission_id":"00112233445566778899aabbccddeeff","payload":{"tumour_type":"COAD","site":"NKI","registered_on":"2025-01-15"}}"#;
    let submit = |s: &Svc| {
        let o = env(&mut Command::new(BIN))
            .args(["submit", "--kafka", &s.t.bootstrap, "--trial"])
            .arg(s.t.trial.as_str())
            .args(["--topic-safety", "dev", "--json", "--key"])
            .arg(s.t.dir.path().join("inv2.key"))
            .arg(&event)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        (o, v)
    };
    std::fs::write(&event, register).unwrap();
    let (o, first) = submit(&s);
    assert!(o.status.success(), "{}\n{}", text(&o), s.t.all_logs());
    assert_eq!(first["status"], "recorded");
    // when the same event is submitted again (signed at another time)
    let before = s.records().len();
    let (o, again) = submit(&s);
    // then the original receipt comes back and nothing new is recorded
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(again["status"], "already-recorded");
    assert_eq!(again["record_hash"], first["record_hash"]);
    // and the same id with other content is a conflict
    std::fs::write(&event, register.replace("NKI", "UMCU")).unwrap();
    let (o, conflict) = submit(&s);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(conflict["reason"], "submission-id-conflict");
    assert_eq!(s.records().len(), before);
    s.finish();
}
