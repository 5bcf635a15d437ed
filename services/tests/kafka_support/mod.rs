//! Shared set-up of the Kafka acceptance tests: a trial created with `trial-ledger init
//! --kafka` on the test broker, sequencer processes of the real binary, a workload of valid
//! signed submissions, and the end-state checks (every submission exactly once, the chain
//! verifies).

#![allow(dead_code)]

use rand::SeedableRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_kafka::writer::{Verdict, Writer};
use tl_kafka::{KafkaConfig, TopicSafety};
use tl_ledger::writer::Draft;
use tl_ledger::SigningKey;
use tl_schemas::clinical::{ConsentRecorded, PatientRegistered};
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::ids::Name;
use tl_schemas::{Date, Role, SignedSubmission, Subject, SubmissionId, TrialId};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_trial-ledger");
/// Passphrase of the test's key files.
pub const PASS: &str = "kafka-test-passphrase";
/// The passphrase of the trial root key `init` writes.
pub const ROOT_PASS: &str = "kafka-test-root-passphrase";
/// The passphrase of the sequencer key `init` writes.
pub const SEQUENCER_PASS: &str = "kafka-test-sequencer-passphrase";

/// A trial on the test broker.
pub struct KTrial {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// The trial (a unique id per test).
    pub trial: TrialId,
    /// Data folder with keys/ and trust.json, and sequencer logs.
    pub dir: tempfile::TempDir,
    /// Client configuration.
    pub cfg: KafkaConfig,
    /// The root key (enrols the investigator).
    pub root: SigningKey,
    /// An investigator key, enrolled by [`KTrial::enrol_investigator`].
    pub investigator: SigningKey,
    /// The pinned root public key.
    pub pinned_root: [u8; 32],
    /// Which topic settings the trial uses.
    pub safety: TopicSafety,
}

/// The environment the binary needs in tests (passphrases, cheap key derivation).
pub fn env(cmd: &mut Command) -> &mut Command {
    cmd.env("TRIAL_LEDGER_PASSPHRASE", PASS)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", ROOT_PASS)
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQUENCER_PASS)
        .env_remove("TRIAL_LEDGER_DATA")
}

impl KTrial {
    /// `trial-ledger init --kafka` of a fresh trial with `partitions` partitions.
    pub fn new(bootstrap: &str, partitions: u32, safety: TopicSafety) -> Self {
        Self::with_init_args(bootstrap, partitions, safety, &[])
    }

    /// [`KTrial::new`] with more arguments for `init` (a secured cluster's `--kafka-config`).
    pub fn with_init_args(
        bootstrap: &str,
        partitions: u32,
        safety: TopicSafety,
        init_args: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let id = tl_tests::kafka::unique("t").replace('-', ".");
        let trial = TrialId::new(&id).unwrap();
        let data = dir.path().join("data");
        let out = env(&mut Command::new(BIN))
            .args([
                "init",
                "--trial",
                &id,
                "--partitions",
                &partitions.to_string(),
            ])
            .arg("--data")
            .arg(&data)
            .args(["--kafka", bootstrap, "--topic-safety", safety_arg(safety)])
            .args(if init_args.is_empty() {
                plaintext_args(safety)
            } else {
                init_args
            })
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init --kafka failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let km = tl_ledger::keyfile::read_key_file(&data.join("keys/root.key"), ROOT_PASS).unwrap();
        let root = SigningKey::new(km.signing_key);
        let mut cfg = KafkaConfig::new(bootstrap, trial.clone());
        cfg.safety = safety;
        KTrial {
            bootstrap: bootstrap.to_string(),
            pinned_root: root.public_key(),
            trial,
            dir,
            cfg,
            root,
            investigator: SigningKey::generate(),
            safety,
        }
    }

    /// The data folder `init` wrote.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts a sequencer process with `--transactional-id <trial>.ID` (unique per test, as
    /// the broker is shared) and extra arguments; its stderr goes to `<dir>/<log>.log`.
    pub fn sequencer(&self, txn_id: &str, log: &str, extra: &[&str]) -> Child {
        let txn_id = format!("{}.{txn_id}", self.trial.as_str());
        let log = std::fs::File::create(self.dir.path().join(format!("{log}.log"))).unwrap();
        env(&mut Command::new(BIN))
            .args([
                "sequencer",
                "--kafka",
                &self.bootstrap,
                "--trial",
                self.trial.as_str(),
            ])
            .arg("--data")
            .arg(self.data())
            .args(["--topic-safety", safety_arg(self.safety)])
            .args(plaintext_args(self.safety))
            .args(["--transactional-id", &txn_id])
            .args([
                "--transaction-timeout-ms",
                "10000",
                "--session-timeout-ms",
                "6000",
            ])
            .args(extra)
            .env("TRIAL_LEDGER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// A sequencer log's text.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The tails of every sequencer log, for failure messages.
    pub fn all_logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                out.push_str(&format!("--- {} ---\n{}\n", p.display(), tail(&text, 40)));
            }
        }
        out
    }

    /// A writer on the trial.
    pub fn writer(&self) -> Writer {
        Writer::connect(&self.cfg).unwrap()
    }

    /// Enrols the investigator key (needs a running sequencer).
    pub fn enrol_investigator(&self, w: &mut Writer) {
        let enrol = KeyEnrolled {
            public_key: self.investigator.public_key(),
            name: "Dr. I. Investigator".into(),
            role: Role::Investigator,
        };
        let signed = Draft::new(Subject::Trial, envelope_of(&enrol)).sign(&self.trial, &self.root);
        match w.submit(&signed, Duration::from_secs(120)) {
            Ok(Verdict::Recorded { .. }) => {}
            Ok(Verdict::Refused(r)) => panic!("enrolment refused: {r:?}"),
            Err(e) => panic!("enrolment: {e}\n{}", self.all_logs()),
        }
    }

    /// `n` valid submissions by the investigator: patients registered and then consenting
    /// (so subjects have back-links), deterministic from `seed`.
    pub fn workload(&self, n: usize, seed: u64) -> Vec<SignedSubmission> {
        self.workload_relying_on(n, seed, 0)
    }

    /// [`KTrial::workload`] whose submissions say they rely on registry position
    /// `min_registry_seq` (for example the investigator's enrolment).
    pub fn workload_relying_on(
        &self,
        n: usize,
        seed: u64,
        min_registry_seq: u64,
    ) -> Vec<SignedSubmission> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let day = Date::from_ymd(2025, 3, 1).unwrap();
        let mut out = Vec::with_capacity(n);
        let mut i = 0;
        while out.len() < n {
            let patient = Subject::Patient(Name::new(format!("p{seed}-{i}")).unwrap());
            let mut d = Draft::new(
                patient.clone(),
                envelope_of(&PatientRegistered {
                    tumour_type: "COAD".into(),
                    site: "NKI".into(),
                    registered_on: day,
                }),
            );
            d.submission_id = SubmissionId(rand::Rng::gen(&mut rng));
            d.min_registry_seq = min_registry_seq;
            out.push(d.sign(&self.trial, &self.investigator));
            if out.len() < n {
                let mut d = Draft::new(
                    patient,
                    envelope_of(&ConsentRecorded {
                        form_version: "v1".into(),
                        consented_on: day,
                    }),
                );
                d.submission_id = SubmissionId(rand::Rng::gen(&mut rng));
                d.min_registry_seq = min_registry_seq;
                out.push(d.sign(&self.trial, &self.investigator));
            }
            i += 1;
        }
        out
    }

    /// Reads the committed ledger, verifies it, and checks that each of `expected` is in it
    /// exactly once and nothing else but the trial-level records is. Returns the records
    /// per partition.
    pub fn check_exactly_once(&self, expected: &[SignedSubmission], trial_level: usize) -> usize {
        let n = tl_kafka::topics::partition_count(&self.cfg, &self.cfg.topics.ledger)
            .unwrap()
            .unwrap();
        let inputs =
            tl_kafka::read::ledger_for_verify(&self.cfg, n, Duration::from_secs(60)).unwrap();
        let report = tl_ledger::verify_ledger(&self.trial, self.pinned_root, &inputs, TrialRules);
        assert!(
            report.ok,
            "the Kafka ledger does not verify: {:?}",
            report.first_failure()
        );
        let mut seen: HashMap<SubmissionId, usize> = HashMap::new();
        let mut total = 0;
        for (p, part) in inputs.iter().enumerate() {
            for (seq, bytes) in part.records.iter().enumerate() {
                let (r, _) = tl_ledger::codec::decode_record(bytes).unwrap();
                assert_eq!(
                    r.body.seq, seq as u64,
                    "partition {p}: sequence numbers contiguous"
                );
                *seen
                    .entry(r.body.submission.submission.submission_id)
                    .or_default() += 1;
                total += 1;
            }
        }
        for s in expected {
            let id = s.submission.submission_id;
            assert_eq!(
                seen.get(&id).copied(),
                Some(1),
                "submission {id} recorded once"
            );
        }
        assert_eq!(
            total,
            expected.len() + trial_level,
            "records = submissions + trial-level records"
        );
        total
    }

    /// Waits until the committed ledger holds `n` records in all (or panics after `timeout`,
    /// with the sequencer logs).
    pub fn wait_records(&self, w: &mut Writer, n: usize, timeout: Duration, logs: &[&str]) {
        let deadline = Instant::now() + timeout;
        while w.watcher().record_count() < n {
            if Instant::now() > deadline {
                let logs: Vec<String> = logs
                    .iter()
                    .map(|l| format!("--- {l}.log ---\n{}", tail(&self.log(l), 40)))
                    .collect();
                panic!(
                    "only {} of {n} records after {timeout:?}\n{}",
                    w.watcher().record_count(),
                    logs.join("\n")
                );
            }
            w.watcher().pump(Duration::from_millis(200)).unwrap();
        }
    }

    /// Waits until the sequencers' consumer group has committed an intake offset at the end
    /// of every intake partition as it is now: each message sent so far was handled
    /// (recorded, refused, or counted as a duplicate) in a committed transaction. Panics after
    /// `timeout`, with the sequencer logs.
    pub fn wait_intake_handled(&self, timeout: Duration, logs: &[&str]) {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::{Offset, TopicPartitionList};
        let intake = &self.cfg.topics.intake;
        let n = tl_kafka::topics::partition_count(&self.cfg, intake)
            .unwrap()
            .expect("the intake topic exists");
        let (ends, _) = tl_kafka::read::end_offsets(&self.cfg, intake, n).unwrap();
        let mut config = self.cfg.client();
        // Reads the group's committed offsets without joining the group.
        config
            .set("group.id", format!("{}.sequencer", self.trial.as_str()))
            .set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create().unwrap();
        let mut partitions = TopicPartitionList::new();
        for p in 0..n as i32 {
            partitions.add_partition(intake, p);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let committed = consumer
                .committed_offsets(partitions.clone(), Duration::from_secs(10))
                .unwrap();
            let behind: Vec<(i32, Offset, i64)> = (0..n as i32)
                .filter_map(|p| {
                    let at = committed
                        .find_partition(intake, p)
                        .map_or(Offset::Invalid, |e| e.offset());
                    let end = ends[p as usize];
                    let done = match at {
                        Offset::Offset(o) => o >= end,
                        _ => end == 0,
                    };
                    (!done).then_some((p, at, end))
                })
                .collect();
            if behind.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = logs
                    .iter()
                    .map(|l| format!("--- {l}.log ---\n{}", tail(&self.log(l), 40)))
                    .collect();
                panic!(
                    "intake not handled after {timeout:?}: (partition, committed, end) {behind:?}\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A log's text without terminal colour codes.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The CLI value of a safety mode.
pub fn safety_arg(s: TopicSafety) -> &'static str {
    match s {
        TopicSafety::Production => "production",
        TopicSafety::Dev => "dev",
    }
}

/// The test brokers are plaintext without an authorizer: in production mode, `init` and
/// `sequencer` are told so (`--no-acls`), or they would refuse to run.
pub fn plaintext_args(s: TopicSafety) -> &'static [&'static str] {
    match s {
        TopicSafety::Production => &["--no-acls"],
        TopicSafety::Dev => &[],
    }
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Sends a signal to a child process.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {}", child.id());
}

/// Waits for a child to exit, at most `timeout`; kills it and panics if it does not.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `infra/kafka/broker kill-node 0` or `start-node 0` on a broker a test started itself (its
/// state file): a broker outage, then its end.
pub fn broker_node(cmd: &str, state: &Path) {
    let out = Command::new(tl_tests::kafka::broker_script())
        .args([cmd, "0", "--state"])
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "broker {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A path's display string.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}
