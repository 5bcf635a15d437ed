//! The audit CLI end to end: `checkpoint`, `prove inclusion|consistency`, `check-proof` and
//! `verify --against`, on the embedded ledger, with the real binary. Truncation and a
//! rewritten history pass plain `verify` and are caught against held checkpoints; tampered
//! proofs and bad arguments give clear errors and the right exit codes, never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::publish::{parse_note_list, sequencer_key_name, ListEnd};
use tl_schemas::TrialId;

const PASS: &str = "correct horse";

/// A scratch folder with a trial in `d/` (4 partitions) and an admin key, enrolled, that has
/// submitted one protocol amendment: partition 0 holds 4 records.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", PASS)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let f = Fixture {
            root: tmp.path().to_path_buf(),
            _tmp: tmp,
        };
        f.ok(&[
            "init",
            "--data",
            "d",
            "--trial",
            "audit-test",
            "--partitions",
            "4",
        ]);
        f.ok(&[
            "keys",
            "new",
            "--name",
            "Admin A",
            "--role",
            "admin",
            "--out",
            "admin.key",
        ]);
        f.ok(&["keys", "enrol", "--data", "d", "admin.key.pub.json"]);
        f.amend(1);
        f
    }
    fn run(&self, args: &[&str]) -> Output {
        bin().current_dir(&self.root).args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?} failed:\n{}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    /// Runs and expects exit `code` with `expect` in the output.
    fn fails(&self, args: &[&str], code: i32, expect: &str) -> String {
        let o = self.run(args);
        let all = text(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}:\n{all}");
        assert!(
            all.contains(expect),
            "{args:?}: expected {expect:?} in:\n{all}"
        );
        assert!(!all.contains("panicked"), "{args:?} panicked:\n{all}");
        all
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.root.join(name), text).unwrap();
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.join(name)).unwrap()
    }
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
    /// Submits protocol amendment `v` as the admin (partition 0).
    fn amend(&self, v: u32) {
        let name = format!("amend{v}.json");
        self.write(
            &name,
            &format!(r#"{{"event":"ProtocolAmended","subject":"trial","payload":{{"protocol_version":{v},"document":"catalogue v{v}"}}}}"#),
        );
        self.ok(&["submit", "--data", "d", "--key", "admin.key", &name]);
    }
    fn sequencer_public_key(&self) -> [u8; 32] {
        let v: serde_json::Value =
            serde_json::from_str(&self.read("d/keys/sequencer.key.pub.json")).unwrap();
        let mut k = [0u8; 32];
        hex::decode_to_slice(v["public_key"].as_str().unwrap(), &mut k).unwrap();
        k
    }
    /// Replaces partition 0's records, as an attacker with file access could.
    fn rewrite_p0(&self, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let (mut log, _) = tl_ledger::embedded::EmbeddedLog::open_writer(
            &self.path("d/ledger"),
            Default::default(),
        )
        .unwrap();
        let mut recs = log.read(0, 0, usize::MAX).unwrap();
        f(&mut recs);
        log.rewrite_partition(0, &recs).unwrap();
    }
}

fn trial() -> TrialId {
    TrialId::new("audit-test").unwrap()
}

#[test]
fn checkpoint_prints_notes_that_verify_and_saves_them() {
    let f = Fixture::new();
    let seq_key = f.sequencer_public_key();
    let out = f.ok(&["checkpoint", "--data", "d"]);
    let list = parse_note_list(&out, ListEnd::Strict).unwrap();
    // Only partition 0 has records: one checkpoint is exactly one signed note, with no empty
    // line after it, which signed_note (a port of Go's sumdb/note) opens with the verifier key
    // that `--verifier-key` prints.
    assert_eq!(list.notes.len(), 1, "{out}");
    assert_eq!(list.notes[0].text(), out);
    let vkey = f.ok(&["checkpoint", "--data", "d", "--verifier-key"]);
    let vkey = vkey.strip_suffix('\n').unwrap();
    assert!(
        vkey.starts_with("trial-ledger/audit-test/sequencer+"),
        "{vkey}"
    );
    assert_eq!(
        vkey,
        tl_ledger::checkpoint::verifier_key(&sequencer_key_name(&trial()), &seq_key).unwrap()
    );
    let go = signed_note::StandardVerifier::new(vkey).unwrap();
    signed_note::Note::from_bytes(out.as_bytes())
        .unwrap()
        .verify(&signed_note::VerifierList::new(vec![Box::new(go)]))
        .unwrap();
    let c = list.notes[0]
        .verify(&sequencer_key_name(&trial()), &seq_key)
        .unwrap();
    assert_eq!(c.origin, "trial-ledger/audit-test/0");
    assert_eq!(c.size, 4);
    // The same with --partition, saved twice: the file holds both, in the same framing.
    let one = f.ok(&[
        "checkpoint",
        "--data",
        "d",
        "--partition",
        "0",
        "--save",
        "held.txt",
    ]);
    assert_eq!(one, out);
    f.amend(2);
    f.ok(&[
        "checkpoint",
        "--data",
        "d",
        "--partition",
        "0",
        "--save",
        "held.txt",
    ]);
    let held = parse_note_list(&f.read("held.txt"), ListEnd::Strict).unwrap();
    let sizes: Vec<u64> = held.notes.iter().map(|n| n.unverified().size).collect();
    assert_eq!(sizes, vec![4, 5]);
    // --save writes the separating empty lines itself: also after a note saved as printed.
    assert!(f.read("held.txt").ends_with("\n\n"));
    f.write("printed.txt", &out);
    f.ok(&["checkpoint", "--data", "d", "--save", "printed.txt"]);
    let printed = parse_note_list(&f.read("printed.txt"), ListEnd::Strict).unwrap();
    let sizes: Vec<u64> = printed.notes.iter().map(|n| n.unverified().size).collect();
    assert_eq!(sizes, vec![4, 5]);
    // --fresh signs for the current size; with nothing new it is the same checkpoint.
    let fresh = f.ok(&["checkpoint", "--data", "d", "--fresh"]);
    let fresh = SignedCheckpoint::parse(&fresh).unwrap();
    assert_eq!(fresh.unverified().size, 5);
    fresh
        .verify(&sequencer_key_name(&trial()), &seq_key)
        .unwrap();
    // The checkpoints live in the store, one file per partition.
    assert!(f.path("d/ledger/checkpoints/p00000.ckpt").is_file());
    assert!(!f.path("d/ledger/checkpoints/p00001.ckpt").exists());
}

#[test]
fn an_inclusion_proof_round_trips_through_check_proof() {
    let f = Fixture::new();
    let out = f.ok(&[
        "prove",
        "inclusion",
        "--data",
        "d",
        "--partition",
        "0",
        "--seq",
        "3",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "inclusion");
    assert_eq!(v["format"], "trial-ledger-proof/v1");
    assert_eq!(
        (v["trial"].as_str(), v["seq"].as_u64()),
        (Some("audit-test"), Some(3))
    );
    assert_eq!(v["tree_size"], 4);
    assert_eq!(v["against"], "checkpoint");
    assert!(v["checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("trial-ledger/audit-test/0\n4\n"));
    assert_eq!(v["sequencer_keys"][0]["enrolment"]["seq"], 1);
    f.write("inc.json", &out);
    // Pinned through the root key of the trust file.
    let o = f.ok(&["check-proof", "inc.json", "--trust", "d/trust.json"]);
    assert!(o.contains("OK: record 0/3"), "{o}");
    assert!(
        o.contains("enrolled by the pinned root key in record 0/1"),
        "{o}"
    );
    // Pinned directly.
    let hex_key = hex::encode(f.sequencer_public_key());
    let o = f.ok(&["check-proof", "inc.json", "--sequencer-key", &hex_key]);
    assert!(o.contains("signed by the pinned sequencer key"), "{o}");
    // Not pinned: the proof holds, with a warning, but the verdict is not trust-anchored:
    // exit 1 unless --allow-unsigned.
    let all = f.fails(&["check-proof", "inc.json"], 1, "NOT TRUST-ANCHORED");
    assert!(
        all.contains("NOT pinned") && all.contains("WARNING"),
        "{all}"
    );
    f.ok(&["check-proof", "inc.json", "--allow-unsigned"]);
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_slice(&f.run(args).stdout).unwrap()
    };
    let v = json(&[
        "check-proof",
        "inc.json",
        "--trust",
        "d/trust.json",
        "--json",
    ]);
    assert_eq!(
        (v["ok"].clone(), v["trust_anchored"].clone()),
        (true.into(), true.into())
    );
    let v = json(&["check-proof", "inc.json", "--json"]);
    assert_eq!(v["trust_anchored"], false);
    // A tree size that was never published: against the unsigned root, and it says so.
    let o = f.run(&[
        "prove",
        "inclusion",
        "--data",
        "d",
        "--partition",
        "0",
        "--seq",
        "0",
        "--size",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("not signed"), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["against"], "unsigned-root");
    assert!(v["checkpoint"].is_null());
    f.write("unsigned.json", &String::from_utf8_lossy(&o.stdout));
    // A proof that carries no signed checkpoint is no trust-anchored verdict, even with
    // --trust: exit 1, unless --allow-unsigned.
    let o = f.fails(
        &["check-proof", "unsigned.json", "--trust", "d/trust.json"],
        1,
        "NOT TRUST-ANCHORED",
    );
    assert!(o.contains("no root in this proof is signed"), "{o}");
    let o = f.ok(&[
        "check-proof",
        "unsigned.json",
        "--trust",
        "d/trust.json",
        "--allow-unsigned",
    ]);
    assert!(o.contains("no root in this proof is signed"), "{o}");
}

#[test]
fn a_tampered_proof_fails_check_proof() {
    let f = Fixture::new();
    let good = f.ok(&[
        "prove",
        "inclusion",
        "--data",
        "d",
        "--partition",
        "0",
        "--seq",
        "2",
    ]);
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let tamper = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut t = v.clone();
        edit(&mut t);
        f.write(name, &serde_json::to_string_pretty(&t).unwrap());
    };
    // A proof for the wrong index.
    tamper("index.json", &|t| t["seq"] = 1.into());
    f.fails(
        &["check-proof", "index.json", "--trust", "d/trust.json"],
        1,
        "FAILED: inclusion of record 0/1",
    );
    // Another record hash.
    let h = v["record_hash"]
        .as_str()
        .unwrap()
        .replacen('0', "1", 1)
        .replacen('a', "b", 1);
    tamper("leaf.json", &|t| t["record_hash"] = h.clone().into());
    f.fails(
        &["check-proof", "leaf.json"],
        1,
        "does not lead from the leaf hash to the root",
    );
    // A root that is not the checkpoint's (with the path recomputed for it, the Merkle part
    // would pass: here the checkpoint no longer matches).
    let other = "00".repeat(32);
    tamper("root.json", &|t| t["root"] = other.clone().into());
    f.fails(&["check-proof", "root.json"], 1, "FAILED:");
    // A forged checkpoint: the size line changed, the signature kept.
    let note = v["checkpoint"]
        .as_str()
        .unwrap()
        .replacen("\n4\n", "\n5\n", 1);
    tamper("note.json", &|t| {
        t["checkpoint"] = note.clone().into();
        t["tree_size"] = 5.into();
    });
    f.fails(
        &["check-proof", "note.json", "--trust", "d/trust.json"],
        1,
        "FAILED:",
    );
    // The checkpoint's signature altered (the Merkle part still holds).
    let cp = v["checkpoint"].as_str().unwrap();
    let (head, line) = cp.split_once("\n\n").unwrap();
    let at = line.len() - 12;
    let flipped = if &line[at..at + 1] == "A" { "B" } else { "A" };
    let forged = format!("{head}\n\n{}{flipped}{}", &line[..at], &line[at + 1..]);
    tamper("sig.json", &|t| t["checkpoint"] = forged.clone().into());
    f.fails(
        &["check-proof", "sig.json", "--trust", "d/trust.json"],
        1,
        "signature by key trial-ledger/audit-test/sequencer",
    );
    // A proof checked against another trial's trust file.
    f.ok(&[
        "init",
        "--data",
        "other",
        "--trial",
        "audit-test",
        "--partitions",
        "4",
    ]);
    f.fails(
        &["check-proof", "index.json", "--trust", "other/trust.json"],
        1,
        "FAILED:",
    );
    f.write("good.json", &good);
    f.fails(
        &["check-proof", "good.json", "--trust", "other/trust.json"],
        1,
        "not signed by the pinned root key",
    );
    // Not a proof at all is an error, not a verdict.
    f.write("junk.json", "{\"type\": \"inclusion\", \"format\": ");
    f.fails(
        &["check-proof", "junk.json"],
        2,
        "not a trial-ledger proof file",
    );
}

#[test]
fn a_consistency_proof_round_trips() {
    let f = Fixture::new();
    f.amend(2);
    f.amend(3);
    let out = f.ok(&[
        "prove",
        "consistency",
        "--data",
        "d",
        "--partition",
        "0",
        "--from",
        "4",
        "--to",
        "6",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "consistency");
    assert_eq!(
        (v["first_size"].as_u64(), v["second_size"].as_u64()),
        (Some(4), Some(6))
    );
    assert!(v["first_checkpoint"].is_string() && v["second_checkpoint"].is_string());
    f.write("cons.json", &out);
    let o = f.ok(&["check-proof", "cons.json", "--trust", "d/trust.json"]);
    assert!(o.contains("the tree of size 4"), "{o}");
    assert!(
        o.contains("size 4: signature valid") && o.contains("size 6: signature valid"),
        "{o}"
    );
    // Tampered: a path hash.
    let mut t = v.clone();
    t["path"][0] = "11".repeat(32).into();
    f.write("bad.json", &t.to_string());
    f.fails(&["check-proof", "bad.json"], 1, "consistency from size 4");
}

#[test]
fn verify_against_catches_truncation() {
    let f = Fixture::new();
    f.amend(2);
    f.ok(&["checkpoint", "--data", "d", "--save", "held.txt"]);
    let o = f.ok(&["verify", "--data", "d", "--against", "held.txt"]);
    assert!(
        o.contains("OK: the ledger extends all 1 held checkpoints"),
        "{o}"
    );
    // The last record of partition 0 is cut at a record boundary.
    f.rewrite_p0(|r| {
        r.pop();
    });
    // Plain verify sees it in the store's own checkpoints (FORMAT.md §16.2, step 6).
    f.fails(
        &["verify", "--data", "d"],
        1,
        "FAILED: partition 0 seq 4: checkpoint-not-extended",
    );
    let all = f.fails(
        &["verify", "--data", "d", "--against", "held.txt"],
        1,
        "FAILED: held checkpoint of partition 0 at size 5",
    );
    assert!(all.contains("truncated"), "{all}");
    let o = f.run(&["verify", "--data", "d", "--against", "held.txt", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["trust_anchored"], false,
        "no --trust: the trust file beside the ledger"
    );
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["reason"], "checkpoint-not-extended");
    assert_eq!(v["records_verified"], 4, "the records left verify");
    assert_eq!(v["held_checkpoints"][0]["partition"], 0);
    assert_eq!(v["held_checkpoints"][0]["ok"], false);
    // The writer also refuses to continue from a ledger shorter than what it published.
    f.fails(
        &["submit", "--data", "d", "--key", "admin.key", "amend1.json"],
        2,
        "truncated",
    );
}

#[test]
fn verify_against_catches_a_rewritten_history() {
    use tl_domain::TrialRules;
    use tl_ledger::keyfile::read_key_file;
    use tl_ledger::trust::TrustFile;
    use tl_ledger::writer::Draft;
    use tl_ledger::{EmbeddedLedger, Outcome, SigningKey};
    use tl_schemas::events::envelope_of;
    use tl_schemas::{Subject, UtcMicros};

    let f = Fixture::new();
    f.amend(2);
    f.ok(&["checkpoint", "--data", "d", "--save", "held.txt"]);
    // With the sequencer and admin keys, someone replaces the last amendment with another and
    // removes the store's own checkpoints: every record is validly signed and chained.
    f.rewrite_p0(|r| {
        r.pop();
    });
    std::fs::remove_dir_all(f.path("d/ledger/checkpoints")).unwrap();
    let key =
        |p: &str, pass: &str| SigningKey::new(read_key_file(&f.path(p), pass).unwrap().signing_key);
    {
        let trust = TrustFile::read(&f.path("d/trust.json")).unwrap();
        let (mut ledger, _) = EmbeddedLedger::open(
            &f.path("d/ledger"),
            &trust,
            TrialRules,
            key("d/keys/sequencer.key", "sequencer horse"),
        )
        .unwrap();
        let forged = tl_schemas::events::ProtocolAmended {
            protocol_version: 2,
            document_format: 0,
            document: b"a different catalogue".to_vec(),
        };
        let signed = Draft::new(Subject::Trial, envelope_of(&forged))
            .sign(&trial(), &key("admin.key", PASS));
        assert!(matches!(
            ledger.submit_decoded(signed, UtcMicros::now()).unwrap(),
            Outcome::Sealed(_)
        ));
        ledger.close().unwrap();
    }
    let o = f.ok(&["verify", "--data", "d"]);
    assert!(
        o.contains("OK: trial audit-test verified: 5 records"),
        "{o}"
    );
    // The new history even has fresh checkpoints of its own...
    f.ok(&["checkpoint", "--data", "d", "--save", "theirs.txt"]);
    f.ok(&["verify", "--data", "d", "--against", "theirs.txt"]);
    // ...but not the one the auditor held.
    let all = f.fails(
        &["verify", "--data", "d", "--against", "held.txt"],
        1,
        "FAILED: held checkpoint of partition 0 at size 5",
    );
    assert!(all.contains("history was rewritten"), "{all}");
}

#[test]
fn a_damaged_stored_checkpoint_fails_verify_and_is_not_handed_out() {
    let f = Fixture::new();
    f.amend(2);
    f.ok(&["verify", "--data", "d"]);
    // One base64 character of the signature in the store's checkpoint of partition 0 changes.
    let path = f.path("d/ledger/checkpoints/p00000.ckpt");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.rfind("— ").unwrap();
    let at = line + text[line..].rfind(' ').unwrap() + 21;
    let new = if &text[at..at + 1] == "A" { "B" } else { "A" };
    std::fs::write(&path, format!("{}{new}{}", &text[..at], &text[at + 1..])).unwrap();
    f.fails(&["verify", "--data", "d"], 1, "checkpoint-invalid");
    f.fails(
        &["checkpoint", "--data", "d", "--partition", "0"],
        2,
        "refusing to hand out the last published checkpoint of partition 0",
    );
    f.fails(
        &["export", "--data", "d", "--all", "--out", "all.bundle"],
        1,
        "FAILED: the ledger does not verify, so no bundle is written: partition 0 seq 5: checkpoint-invalid",
    );
    assert!(!f.path("all.bundle").exists());
}

#[test]
fn bad_arguments_give_clear_errors() {
    let f = Fixture::new();
    f.write("garbage.txt", "these are not checkpoints\n\n");
    f.write("empty.txt", "");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "prove",
                "inclusion",
                "--data",
                "d",
                "--partition",
                "0",
                "--seq",
                "99",
            ],
            "seq 99 is beyond partition 0, which has 4 records",
        ),
        (
            vec![
                "prove",
                "inclusion",
                "--data",
                "d",
                "--partition",
                "0",
                "--seq",
                "1",
                "--size",
                "9",
            ],
            "size 9 is beyond partition 0",
        ),
        (
            vec![
                "prove",
                "inclusion",
                "--data",
                "d",
                "--partition",
                "0",
                "--seq",
                "3",
                "--size",
                "2",
            ],
            "record 3 is not in the tree of the first 2 records",
        ),
        (
            vec![
                "prove",
                "inclusion",
                "--data",
                "d",
                "--partition",
                "7",
                "--seq",
                "0",
            ],
            "partition 7 does not exist",
        ),
        (
            vec![
                "prove",
                "consistency",
                "--data",
                "d",
                "--partition",
                "0",
                "--from",
                "4",
                "--to",
                "2",
            ],
            "--from 4 is larger than --to 2",
        ),
        (
            vec![
                "prove",
                "consistency",
                "--data",
                "d",
                "--partition",
                "0",
                "--from",
                "1",
                "--to",
                "8",
            ],
            "size 8 is beyond partition 0",
        ),
        (
            vec![
                "prove",
                "inclusion",
                "--data",
                "nowhere",
                "--partition",
                "0",
                "--seq",
                "0",
            ],
            "not a trial data folder",
        ),
        (
            vec!["check-proof", "missing.json"],
            "reading proof file missing.json",
        ),
        (
            vec!["check-proof", "garbage.txt"],
            "not a trial-ledger proof file",
        ),
        (
            vec!["verify", "--data", "d", "--against", "missing.txt"],
            "missing.txt",
        ),
        (
            vec!["verify", "--data", "d", "--against", "garbage.txt"],
            "checkpoint 1 (line 1)",
        ),
        (
            vec!["verify", "--data", "d", "--against", "empty.txt"],
            "holds no checkpoints",
        ),
        (
            vec!["checkpoint", "--data", "d", "--partition", "9"],
            "partition 9 does not exist",
        ),
        (
            vec!["checkpoint", "--data", "d", "--partition", "2"],
            "partition 2 has no published checkpoint",
        ),
        (
            vec!["checkpoint", "--data", "d", "--save", "garbage.txt"],
            "refusing to append",
        ),
        (
            vec!["prove", "inclusion", "--data", "d", "--partition", "0"],
            "--seq",
        ),
    ];
    for (args, expect) in cases {
        f.fails(&args, 2, expect);
    }
    let proof = f.ok(&[
        "prove",
        "inclusion",
        "--data",
        "d",
        "--partition",
        "0",
        "--seq",
        "0",
    ]);
    f.write("p.json", &proof);
    f.fails(
        &["check-proof", "p.json", "--sequencer-key", "zz"],
        2,
        "--sequencer-key must be 64 hex digits",
    );
    assert_eq!(f.read("garbage.txt"), "these are not checkpoints\n\n");
}
