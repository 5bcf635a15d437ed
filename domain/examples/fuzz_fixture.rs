//! Writes the small ledger that the `verify_ledger` and `bundle` fuzz targets mutate
//! (FUZZING.md): a trial of 2 partitions under [`TrialRules`] with the registry (bootstrap,
//! two enrolments), clinical records of two patients (registration, consent, a sequencing
//! result, a correction citing across partitions) and the sequencer's checkpoints (two per
//! partition), plus the seed bundles exported from it. Small on purpose: every fuzz input
//! verifies the whole ledger twice, so each signature costs the fuzzer executions.
//!
//! `cargo run -p tl-domain --example fuzz_fixture -- fuzz`
//!
//! Writes `fixtures/small/` (trust file, each partition's segment and checkpoint file) and
//! `seeds/verify_ledger/`, `seeds/bundle/` under the given fuzz folder, and the seeds of the
//! targets whose inputs are made here too: `seeds/key_file/` (key files at a cheap scrypt work
//! factor), `seeds/event_json/` and `seeds/api_wire/`. Everything but the key files (random scrypt
//! salts; kept when present) follows from fixed seeds and times, so a second run writes the
//! same bytes.

use std::fs;
use std::path::{Path, PathBuf};
use tl_domain::TrialRules;
use tl_ledger::bundle::{encode_bundle, export, ExportSource, Scope};
use tl_ledger::embedded::scan_segment_bytes;
use tl_ledger::sequencer::Outcome;
use tl_ledger::trust::TrustFile;
use tl_ledger::writer::Draft;
use tl_ledger::{EmbeddedLedger, SigningKey};
use tl_schemas::clinical::*;
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::UtcMicros;
use tl_schemas::{Date, Envelope, Hash32, Reference, Role, Subject, SubmissionId, TrialId};

const PARTITIONS: u32 = 2;
const T0: i64 = 1_764_000_000_000_000;

struct Trial {
    trial: TrialId,
    ledger: EmbeddedLedger<TrialRules>,
    counter: u64,
}

impl Trial {
    /// Signs and submits one event; panics unless it is sealed (the fixture must be honest).
    fn seal(
        &mut self,
        subject: &str,
        env: Envelope,
        author: &SigningKey,
        cites: Vec<Reference>,
    ) -> Reference {
        self.counter += 1;
        let now = UtcMicros(T0 + self.counter as i64 * 1_000_000);
        let mut d = Draft::new(Subject::parse(subject).expect("subject"), env);
        d.submission_id = SubmissionId([self.counter as u8; 16]);
        d.client_time = now;
        d.cites = cites;
        match self.ledger.submit_decoded(d.sign(&self.trial, author), now) {
            Ok(Outcome::Sealed(s)) => Reference {
                partition: s.record.body.partition,
                seq: s.record.body.seq,
                hash: s.hash,
            },
            other => panic!("the fixture's {subject} event was not sealed: {other:?}"),
        }
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

fn day(y: i32, m: u8, d: u8) -> Date {
    Date::from_ymd(y, m, d).expect("date")
}

/// The one segment file of partition `p` of the store in `dir`.
fn segment_file(dir: &Path, p: u32) -> PathBuf {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("store folder") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "seg") {
                found.push(path);
            }
        }
    }
    found.sort();
    assert_eq!(
        found.len(),
        PARTITIONS as usize,
        "one segment per partition"
    );
    found.swap_remove(p as usize)
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz".into()));
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path().join("ledger");
    let trial = TrialId::new("fuzz-small").expect("trial id");
    let (root, sequencer, inv, lab) = (key(1), key(2), key(5), key(4));
    let ledger = EmbeddedLedger::create(
        &dir,
        &trial,
        PARTITIONS,
        "fuzz fixture",
        &root,
        sequencer,
        TrialRules,
        UtcMicros(T0),
    )
    .expect("create ledger");
    let mut t = Trial {
        trial: trial.clone(),
        ledger,
        counter: 100,
    };
    for (k, name, role) in [
        (&inv, "Dr I", Role::Investigator),
        (&lab, "Lab L", Role::Lab),
    ] {
        let env = envelope_of(&KeyEnrolled {
            public_key: k.public_key(),
            name: name.into(),
            role,
        });
        t.seal("trial", env, &root, vec![]);
    }
    t.ledger.publish_now().expect("first checkpoints");
    // One patient in each partition (the registry's and the other), the first found of each.
    let patients: Vec<String> = (0..PARTITIONS)
        .map(|p| {
            (1..)
                .map(|i| format!("patient:P-{i}"))
                .find(|s| {
                    let subject = Subject::parse(s).expect("subject");
                    t.ledger.state().partition_of(&subject) == p
                })
                .expect("a patient in each partition")
        })
        .collect();
    let mut consents = Vec::new();
    for (patient, tumour) in patients.iter().zip(["COAD", "NSCLC"]) {
        let reg = PatientRegistered {
            tumour_type: tumour.into(),
            site: "NKI".into(),
            registered_on: day(2025, 1, 6),
        };
        t.seal(patient, envelope_of(&reg), &inv, vec![]);
        let consent = ConsentRecorded {
            form_version: "ICF v1".into(),
            consented_on: day(2025, 1, 7),
        };
        consents.push(t.seal(patient, envelope_of(&consent), &inv, vec![]));
    }
    let result = SequencingResultReported {
        sample_id: "S-1".into(),
        purity_pct: 60,
        msi: MsiStatus::High,
        tmb_mut_per_mb_x100: 1250,
        alterations: vec![],
        report_sha256: Hash32([7; 32]),
        report_uri: "lab://S-1".into(),
        reported_on: day(2025, 1, 20),
    };
    t.seal(&patients[0], envelope_of(&result), &lab, vec![consents[0]]);
    let fixed = ConsentRecorded {
        form_version: "ICF v2".into(),
        consented_on: day(2025, 1, 7),
    };
    let inner = envelope_of(&fixed);
    let corrected = Corrected {
        reason: "wrong form version".into(),
        event_type: inner.event_type,
        event_version: inner.event_version,
        payload: inner.payload,
    };
    t.seal(
        &patients[1],
        envelope_of(&corrected),
        &inv,
        vec![consents[1]],
    );
    t.ledger.close().expect("close: records and checkpoints");
    write_fixture(&out, &trial, &root, &dir, &patients[1]);
    write_key_files(&out.join("seeds/key_file"));
    write_texts(&out.join("seeds/event_json"), EVENT_JSON);
    write_texts(&out.join("seeds/api_wire"), API_WIRE);
}

/// `submit`'s event JSON: the README's examples, personal data, a correction, a key event.
const EVENT_JSON: &[(&str, &str)] = &[
    (
        "amend.json",
        r#"{"event": "ProtocolAmended", "subject": "trial", "meaning": "approved", "payload": {"protocol_version": 1, "document": "cohort catalogue v1"}}"#,
    ),
    (
        "ae.json",
        r#"{"event": "AdverseEventReported", "subject": "patient:P-0042", "payload": {"ae_id": 1, "ctcae_term": "Colitis", "grade": 3, "serious": ["Hospitalisation"], "expected": false, "attribution": "Probable", "onset": {"Full": "2025-02-27"}, "awareness": "2025-03-01", "outcome": "Ongoing"}}"#,
    ),
    (
        "dose.json",
        r#"{"event": "DoseModified", "subject": "patient:P-0042", "payload": {"action": {"Reduced": {"new_dose_milli": 180000}}, "reason": "grade 2 diarrhoea", "modified_on": "2025-03-03"}}"#,
    ),
    (
        "register.json",
        r#"{"event":"PatientRegistered","subject":"patient:P-1","submission_id":"0123456789abcdef0123456789abcdef","min_registry_seq":3,"payload":{"tumour_type":"COAD","site":"NKI","registered_on":"2025-01-15"},"personal_data":{"initials":"J.D.","birth_year":1961,"hospital_number":"H-1"}}"#,
    ),
    (
        "corrected.json",
        r#"{"event":"Corrected","subject":"patient:P-1","cites":[{"partition":1,"seq":4,"hash":"0000000000000000000000000000000000000000000000000000000000000000"}],"payload":{"reason":"typo","corrects":{"event":"DeathRecorded","payload":{"died_on":"2025-02-03","cause":"x","treatment_related":false}}}}"#,
    ),
    (
        "enrol.json",
        r#"{"event":"KeyEnrolled","subject":"trial","payload":{"public_key":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","name":"Lab L","role":"lab"}}"#,
    ),
    (
        "revoke.json",
        r#"{"event":"KeyRevoked","subject":"trial","payload":{"key_id":"0e2dd3d2b47dee0f9b9288f119dd6167","reason":"left"}}"#,
    ),
];

/// The API's inputs: the first byte picks the parser (0 cursor, 1 submission JSON, 2 bearer
/// token, 3 cookies).
const API_WIRE: &[(&str, &str)] = &[
    ("cursor", "\x00p0:12,p3:45~1"),
    ("cursor-empty", "\x00"),
    ("submission.json", "\x01{\"submission\": \"010b647275702d676f6c64656e11111111111111111111111111111111000201010129ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1074c6162204f6e6500005a81ff6124f717662e74d1d2645659920080809296a896a206010100002222222222222222222222222222222222222222222222222222222222222222d42fe8fc5772a6f30d611c6380cd3a5774f6e17b931c51decfd295c65dcbcd1eed778816efaf515c1d6d0b3c856dd2c23f84a0715cfd05f948cac75ad3616207\"}"),
    ("bearer", "\x02Bearer tl_4f1c2b9e0d8a7c6b5a49"),
    ("cookie", "\x03theme=dark; tl_session=0123abcd\nlang=nl"),
    ("tile", "\x041/x001/x234/067.p/8"),
];

fn write_texts(dir: &Path, texts: &[(&str, &str)]) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("seed folder");
    for (name, text) in texts {
        fs::write(dir.join(name), text).expect("seed");
    }
}

/// Key files encrypted to the passphrase `fuzz` at scrypt log2(N) = 2, which the key_file
/// target allows (a real key file is made at 10 to 20); one at 10, which it must refuse
/// unread; and one whose public key does not match its secret.
/// Their scrypt salts are random, so an existing folder is left as it is (remove it to make
/// new ones).
fn write_key_files(dir: &Path) {
    if dir.exists() {
        return;
    }
    fs::create_dir_all(dir).expect("seed folder");
    let secret = [9u8; 32];
    let public = SigningKey::from_seed(secret).public_key();
    let contents = |public: [u8; 32]| {
        serde_json::json!({
            "format": tl_ledger::keyfile::KEY_FILE_FORMAT,
            "name": "Dr I",
            "role": "investigator",
            "secret_key": hex::encode(secret),
            "public_key": hex::encode(public),
        })
        .to_string()
    };
    for (name, log_n, text) in [
        ("cheap.key", 2, contents(public)),
        ("log-n-10.key", 10, contents(public)),
        ("mismatch.key", 2, contents([1; 32])),
    ] {
        fs::write(dir.join(name), encrypt(text.as_bytes(), log_n)).expect("key file seed");
    }
}

/// An ASCII-armored age file to the passphrase `fuzz` at scrypt work factor `log_n`.
fn encrypt(plaintext: &[u8], log_n: u8) -> Vec<u8> {
    use std::io::Write;
    let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from("fuzz"));
    recipient.set_work_factor(log_n);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as _)).expect("one recipient");
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .expect("armor");
    let mut w = encryptor.wrap_output(armor).expect("encrypt");
    w.write_all(plaintext).expect("encrypt");
    w.finish().and_then(|a| a.finish()).expect("encrypt");
    out
}

/// Copies the store's files into `out/fixtures/small`, and writes the seeds.
fn write_fixture(out: &Path, trial: &TrialId, root: &SigningKey, dir: &Path, patient: &str) {
    let fixture = out.join("fixtures/small");
    // This folder is the generator's alone: start it afresh.
    let _ = fs::remove_dir_all(&fixture);
    fs::create_dir_all(&fixture).expect("fixture folder");
    TrustFile::new(trial, root.public_key(), PARTITIONS)
        .write(&fixture.join("trust.json"))
        .expect("trust file");
    let mut records = Vec::new();
    let mut published = Vec::new();
    let seeds = out.join("seeds/verify_ledger");
    let _ = fs::remove_dir_all(&seeds);
    fs::create_dir_all(&seeds).expect("seed folder");
    for p in 0..PARTITIONS {
        let seg = fs::read(segment_file(dir, p)).expect("segment");
        let ckpt = fs::read(tl_ledger::publish::checkpoint_path(dir, p)).expect("checkpoints");
        fs::write(fixture.join(format!("p{p}.seg")), &seg).expect("write segment");
        fs::write(fixture.join(format!("p{p}.ckpt")), &ckpt).expect("write checkpoints");
        // The verify_ledger input: a selector byte (even: a segment, odd: a checkpoint file;
        // the partition is selector / 2 mod N), then the bytes that replace that file.
        fs::write(
            seeds.join(format!("p{p}.seg")),
            [&[2 * p as u8][..], &seg].concat(),
        )
        .expect("seed");
        fs::write(
            seeds.join(format!("p{p}.ckpt")),
            [&[2 * p as u8 + 1][..], &ckpt].concat(),
        )
        .expect("seed");
        let torn = &seg[..seg.len() - 7];
        fs::write(
            seeds.join(format!("p{p}-torn.seg")),
            [&[2 * p as u8][..], torn].concat(),
        )
        .expect("seed");
        records.push(scan_segment_bytes(&seg, 0).records);
        published.push(tl_ledger::publish::read_published(dir, p).expect("published"));
    }
    let src = ExportSource {
        trial,
        root: root.public_key(),
        partition_count: PARTITIONS,
        records: &records,
        published: &published,
    };
    let bundles = out.join("seeds/bundle");
    let _ = fs::remove_dir_all(&bundles);
    fs::create_dir_all(&bundles).expect("seed folder");
    let one = Subject::parse(patient).expect("subject");
    for (name, scope) in [
        ("all.bundle", Scope::All),
        ("patient.bundle", Scope::Subject(one)),
    ] {
        let b = export(&src, &scope).expect("export");
        fs::write(bundles.join(name), encode_bundle(&b)).expect("bundle seed");
    }
    let n: usize = records.iter().map(Vec::len).sum();
    println!(
        "{n} records in {PARTITIONS} partitions written to {}",
        fixture.display()
    );
}
