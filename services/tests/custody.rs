//! Key custody (issue 12, point 1): the root key and the sequencer key each have their own
//! passphrase and source, holding one opens no other, passphrase files replace the
//! environment, an empty variable is no passphrase, the root key can live outside the data
//! folder, and older folders (one passphrase for both) are split.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tl_ledger::keyfile::{self, read_key_file, KeyFileError, WorkFactor};

const ROOT: &str = "root horse";
const SEQ: &str = "sequencer horse";
const KEY: &str = "author horse";

/// The binary with no passphrase in its environment: each test adds the ones it means.
fn bare(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.current_dir(dir)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_DATA")
        // No terminal: a missing passphrase is an error, never a prompt that hangs.
        .stdin(std::process::Stdio::null());
    c
}

/// The binary with all three passphrases set.
fn all(dir: &Path) -> Command {
    let mut c = bare(dir);
    c.env("TRIAL_LEDGER_PASSPHRASE", KEY)
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", ROOT)
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQ);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(c: &mut Command, args: &[&str]) -> String {
    let o = c.args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    text(&o)
}

fn fails(c: &mut Command, args: &[&str], code: i32, expect: &str) -> String {
    let o = c.args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
    assert!(text(&o).contains(expect), "{args:?}: {}", text(&o));
    text(&o)
}

const AMEND: &str = r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"catalogue v1"}}"#;

/// A trial in `d/` with an admin key enrolled and an amendment ready to submit.
fn trial(dir: &Path, init_extra: &[&str]) {
    let mut args = vec![
        "init",
        "--data",
        "d",
        "--trial",
        "custody",
        "--partitions",
        "2",
    ];
    args.extend_from_slice(init_extra);
    ok(&mut all(dir), &args);
    ok(
        &mut all(dir),
        &[
            "keys",
            "new",
            "--name",
            "Admin A",
            "--role",
            "admin",
            "--out",
            "admin.key",
        ],
    );
    std::fs::write(dir.join("amend.json"), AMEND).unwrap();
}

fn records(dir: &Path) -> u64 {
    let o = bare(dir)
        .args(["verify", "--data", "d", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["records_total"].as_u64().unwrap()
}

#[test]
fn root_and_sequencer_keys_each_open_only_under_their_own_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    trial(d, &[]);
    let (root, seq) = (d.join("d/keys/root.key"), d.join("d/keys/sequencer.key"));
    assert!(read_key_file(&root, ROOT).is_ok());
    assert!(read_key_file(&seq, SEQ).is_ok());
    for (file, wrong) in [(&root, SEQ), (&root, KEY), (&seq, ROOT), (&seq, KEY)] {
        assert!(matches!(
            read_key_file(file, wrong),
            Err(KeyFileError::WrongPassphrase { .. })
        ));
    }
    // Enrolling needs the root's passphrase: without it, the error names the key and where its
    // passphrase comes from, and nothing is recorded.
    let before = records(d);
    let mut c = bare(d);
    c.env("TRIAL_LEDGER_PASSPHRASE", KEY)
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQ);
    let out = fails(
        &mut c,
        &["keys", "enrol", "--data", "d", "admin.key.pub.json"],
        2,
        "TRIAL_LEDGER_ROOT_PASSPHRASE",
    );
    assert!(out.contains("the trial root key"), "{out}");
    assert_eq!(records(d), before);
    // The author's passphrase does not stand in for the root's.
    let mut c = bare(d);
    c.env("TRIAL_LEDGER_PASSPHRASE", ROOT)
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQ);
    fails(
        &mut c,
        &["keys", "enrol", "--data", "d", "admin.key.pub.json"],
        2,
        "TRIAL_LEDGER_ROOT_PASSPHRASE",
    );
    let mut c = bare(d);
    c.env("TRIAL_LEDGER_ROOT_PASSPHRASE", ROOT)
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQ);
    ok(
        &mut c,
        &["keys", "enrol", "--data", "d", "admin.key.pub.json"],
    );
    // An embedded submit opens the author's key and the sequencer's, never the root's.
    let mut c = bare(d);
    c.env("TRIAL_LEDGER_PASSPHRASE", KEY)
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQ);
    ok(
        &mut c,
        &["submit", "--data", "d", "--key", "admin.key", "amend.json"],
    );
    // ... and the author's passphrase does not open the sequencer key (no fallback).
    let mut c = bare(d);
    c.env("TRIAL_LEDGER_PASSPHRASE", KEY);
    let out = fails(
        &mut c,
        &["checkpoint", "--data", "d", "--fresh"],
        2,
        "TRIAL_LEDGER_SEQUENCER_PASSPHRASE",
    );
    assert!(out.contains("the sequencer key"), "{out}");
}

#[test]
fn an_empty_variable_is_no_passphrase_and_empty_or_shared_new_passphrases_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // The same passphrase for root and sequencer: refused, nothing written.
    let mut c = all(d);
    c.env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", ROOT);
    fails(
        &mut c,
        &["init", "--data", "d", "--trial", "t"],
        2,
        "different passphrases",
    );
    assert!(!d.join("d").exists(), "a refused init writes nothing");
    // An empty sequencer variable is not an empty passphrase: it counts as unset.
    let mut c = all(d);
    c.env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "");
    let out = fails(
        &mut c,
        &["init", "--data", "d", "--trial", "t"],
        2,
        "no passphrase for the sequencer key",
    );
    assert!(out.contains("set but empty"), "{out}");
    assert!(!d.join("d").exists());
    // An empty passphrase file is refused when a key is created.
    std::fs::write(d.join("empty.pass"), "\n").unwrap();
    fails(
        &mut bare(d),
        &[
            "keys",
            "new",
            "--name",
            "N",
            "--role",
            "lab",
            "--out",
            "n.key",
            "--passphrase-file",
            "empty.pass",
        ],
        2,
        "refusing an empty passphrase",
    );
    assert!(!d.join("n.key").exists());
    // On an existing folder, an empty sequencer variable does not open the sequencer key.
    trial(d, &[]);
    let mut c = all(d);
    c.env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "");
    fails(
        &mut c,
        &["checkpoint", "--data", "d", "--fresh"],
        2,
        "no passphrase for the sequencer key",
    );
}

#[test]
fn passphrase_files_replace_the_environment_and_the_root_key_can_live_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (f, p) in [("root.pass", ROOT), ("seq.pass", SEQ), ("key.pass", KEY)] {
        std::fs::write(d.join(f), format!("{p}\n")).unwrap();
    }
    let files = [
        "--root-passphrase-file",
        "root.pass",
        "--sequencer-passphrase-file",
        "seq.pass",
        "--passphrase-file",
        "key.pass",
    ];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(files.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&mut bare(d), &a)
    };
    let out = run(with(&[
        "init",
        "--data",
        "d",
        "--trial",
        "custody",
        "--root-key-out",
        "offline/root.key",
    ]));
    assert!(out.contains("offline/root.key"), "{out}");
    assert!(!d.join("d/keys/root.key").exists());
    assert!(read_key_file(&d.join("offline/root.key"), ROOT).is_ok());
    run(with(&[
        "keys",
        "new",
        "--name",
        "Admin A",
        "--role",
        "admin",
        "--out",
        "admin.key",
    ]));
    assert!(read_key_file(&d.join("admin.key"), KEY).is_ok());
    // Without --key, a root command says where the root key is expected and what to give.
    let a = with(&["keys", "enrol", "--data", "d", "admin.key.pub.json"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails(&mut bare(d), &a, 2, "give the root key file with --key");
    run(with(&[
        "keys",
        "enrol",
        "--data",
        "d",
        "--key",
        "offline/root.key",
        "admin.key.pub.json",
    ]));
    std::fs::write(d.join("amend.json"), AMEND).unwrap();
    run(with(&[
        "submit",
        "--data",
        "d",
        "--key",
        "admin.key",
        "amend.json",
    ]));
    assert_eq!(records(d), 4);
}

#[test]
fn split_passphrases_re_encrypts_an_older_folder_and_moves_the_root_key_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    trial(d, &[]);
    // Make it look like an older `init`: both keys under one passphrase.
    const SHARED: &str = "one for both";
    let (root, seq) = (d.join("d/keys/root.key"), d.join("d/keys/sequencer.key"));
    for (path, pass) in [(&root, ROOT), (&seq, SEQ)] {
        let km = read_key_file(path, pass).unwrap();
        keyfile::replace_key_file(path, &km, SHARED, WorkFactor::LogN(10)).unwrap();
    }
    let root_pk = read_key_file(&root, SHARED).unwrap().public_key();
    let mut c = bare(d);
    c.env("TRIAL_LEDGER_PASSPHRASE", SHARED)
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "new root")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "new sequencer");
    ok(
        &mut c,
        &[
            "keys",
            "split-passphrases",
            "--data",
            "d",
            "--root-key-out",
            "vault/root.key",
        ],
    );
    let moved: PathBuf = d.join("vault/root.key");
    assert!(!root.exists() && !keyfile::public_path(&root).exists());
    assert_eq!(
        read_key_file(&moved, "new root").unwrap().public_key(),
        root_pk
    );
    assert!(read_key_file(&seq, "new sequencer").is_ok());
    assert!(read_key_file(&seq, SHARED).is_err());
    // The folder still works with the new layout.
    let mut c = bare(d);
    c.env("TRIAL_LEDGER_ROOT_PASSPHRASE", "new root")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "new sequencer");
    ok(
        &mut c,
        &[
            "keys",
            "enrol",
            "--data",
            "d",
            "--key",
            "vault/root.key",
            "admin.key.pub.json",
        ],
    );
}

#[test]
fn a_key_revoked_as_compromised_flags_its_records_without_failing_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    trial(d, &[]);
    ok(
        &mut all(d),
        &[
            "keys",
            "new",
            "--name",
            "Dr. I",
            "--role",
            "investigator",
            "--out",
            "inv.key",
        ],
    );
    ok(
        &mut all(d),
        &["keys", "enrol", "--data", "d", "inv.key.pub.json"],
    );
    std::fs::write(
        d.join("reg.json"),
        r#"{"event":"PatientRegistered","subject":"patient:P-1","payload":{"tumour_type":"COAD","site":"NKI","registered_on":"2025-01-15"}}"#,
    )
    .unwrap();
    ok(
        &mut all(d),
        &["submit", "--data", "d", "--key", "inv.key", "reg.json"],
    );
    let pubf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("inv.key.pub.json")).unwrap()).unwrap();
    let pk: [u8; 32] = hex::decode(pubf["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key_id = tl_schemas::KeyId::of_ed25519(&pk).to_hex();
    fails(
        &mut all(d),
        &[
            "keys",
            "revoke",
            "--data",
            "d",
            "--key-id",
            &key_id,
            "--reason",
            "laptop stolen",
            "--compromised-since",
            "soon",
        ],
        2,
        "--compromised-since",
    );
    ok(
        &mut all(d),
        &[
            "keys",
            "revoke",
            "--data",
            "d",
            "--key-id",
            &key_id,
            "--reason",
            "laptop stolen",
            "--compromised-since",
            "2000-01-01",
        ],
    );
    // The ledger still verifies; the record is flagged.
    let o = all(d)
        .args(["verify", "--data", "d", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let flagged = v["compromised_records"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{v}");
    assert_eq!(flagged[0]["key_id"], key_id.as_str());
    let out = ok(
        &mut all(d),
        &["trail", "--data", "d", "--subject", "patient:P-1"],
    );
    assert!(out.contains("SUSPECT"), "{out}");
    let out = ok(&mut all(d), &["view", "enrollment", "--data", "d"]);
    assert!(
        out.contains("SUSPECT: 1 records counted in the views were signed by keys after"),
        "{out}"
    );
    let v = json_of(&ok(
        &mut all(d),
        &["view", "enrollment", "--data", "d", "--json"],
    ));
    assert_eq!(v["funnel"]["suspect_rows"], 1, "{v}");
    let out = ok(&mut all(d), &["keys", "list", "--data", "d"]);
    assert!(
        out.contains("[compromised-since 2000-01-01T00:00:00Z]"),
        "{out}"
    );
}

#[test]
fn keys_passwd_re_encrypts_a_key_under_a_new_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(
        &mut all(d),
        &[
            "keys", "new", "--name", "L", "--role", "lab", "--out", "lab.key",
        ],
    );
    let pk = read_key_file(&d.join("lab.key"), KEY).unwrap().public_key();
    std::fs::write(d.join("new.pass"), "a new one\n").unwrap();
    ok(
        &mut all(d),
        &[
            "keys",
            "passwd",
            "lab.key",
            "--new-passphrase-file",
            "new.pass",
        ],
    );
    assert_eq!(
        read_key_file(&d.join("lab.key"), "a new one")
            .unwrap()
            .public_key(),
        pk
    );
    assert!(read_key_file(&d.join("lab.key"), KEY).is_err());
    // The old passphrase is needed to change it.
    let mut c = all(d);
    c.env("TRIAL_LEDGER_PASSPHRASE", "wrong");
    fails(
        &mut c,
        &[
            "keys",
            "passwd",
            "lab.key",
            "--new-passphrase-file",
            "new.pass",
        ],
        2,
        "wrong passphrase",
    );
}

/// The JSON document in a command's output (stdout, then stderr's warnings).
fn json_of(out: &str) -> serde_json::Value {
    let end = out.rfind('}').expect("a JSON object");
    serde_json::from_str(&out[..=end]).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// (partition, seq) of every reference in a view column: one reference as JSON, or a list.
fn cited(json: &str) -> Vec<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let one =
        |r: &serde_json::Value| (r["partition"].as_u64().unwrap(), r["seq"].as_u64().unwrap());
    match v {
        serde_json::Value::Array(a) => a.iter().map(one).collect(),
        r => vec![one(&r)],
    }
}

#[test]
fn a_compromised_keys_records_after_the_point_flag_the_view_rows_citing_them_and_earlier_ones_do_not(
) {
    // Given the demo trial, its views built, and one site investigator's key revoked as
    // compromised since 2020-01-01 (the key signed records before and after that date)
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(
        &mut all(d),
        &["demo", "--data", "d", "--patients", "30", "--seed", "7"],
    );
    ok(&mut all(d), &["view", "safety", "--data", "d"]);
    let keys = ok(&mut all(d), &["keys", "list", "--data", "d"]);
    let key_id = keys
        .lines()
        .find(|l| l.contains("investigator 1, NKI-AVL"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the demo enrols investigator 1 of NKI-AVL")
        .to_string();
    ok(
        &mut all(d),
        &[
            "keys",
            "revoke",
            "--data",
            "d",
            "--key-id",
            &key_id,
            "--reason",
            "laptop stolen",
            "--compromised-since",
            "2020-01-01",
        ],
    );
    // The key's records, from the ledger itself.
    let reader = tl_ledger::embedded::EmbeddedReader::open(&d.join("d/ledger")).unwrap();
    let mut signed = std::collections::BTreeSet::new();
    for p in 0..reader.partition_count() {
        for bytes in reader.scan(p).unwrap().records {
            let (r, _) = tl_ledger::codec::decode_record(&bytes).unwrap();
            if r.body.submission.submission.author.to_hex() == key_id {
                signed.insert((u64::from(r.body.partition), r.body.seq));
            }
        }
    }
    // When the ledger is verified and the views are brought up to date
    let o = all(d)
        .args(["verify", "--data", "d", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pos =
        |r: &serde_json::Value| (r["partition"].as_u64().unwrap(), r["seq"].as_u64().unwrap());
    let flagged: std::collections::BTreeSet<_> = v["compromised_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(pos)
        .collect();
    let earlier: Vec<_> = signed.difference(&flagged).copied().collect();
    assert!(
        !flagged.is_empty() && flagged.is_subset(&signed),
        "{flagged:?}"
    );
    assert!(
        !earlier.is_empty(),
        "the key signed nothing before the point"
    );
    // Then every view lists exactly verify's flagged records
    for view in ["enrollment", "safety", "dossier"] {
        let v = json_of(&ok(&mut all(d), &["view", view, "--data", "d", "--json"]));
        let listed: std::collections::BTreeSet<_> = v["suspect_records"]
            .as_array()
            .unwrap()
            .iter()
            .map(pos)
            .collect();
        assert_eq!(listed, flagged, "{view}");
    }
    // and a row is flagged exactly when it cites one of them: rows citing only the key's
    // earlier records are not
    let db =
        |view: &str| rusqlite::Connection::open(d.join(format!("d/views/{view}.sqlite"))).unwrap();
    let mut seen = [0usize; 3]; // flagged rows, unflagged rows citing the key's earlier records, rows
    for (view, sql) in [
        ("safety", "SELECT refs, suspect FROM adverse_events"),
        ("safety", "SELECT ref, suspect FROM deaths"),
        ("safety", "SELECT trae_refs, suspect FROM treated"),
        (
            "dossier",
            "SELECT pfs_refs || os_refs || best_refs, suspect FROM patients",
        ),
        (
            "enrollment",
            "SELECT COALESCE(registered_ref, 'null'), suspect FROM patients",
        ),
    ] {
        let conn = db(view);
        let mut st = conn.prepare(sql).unwrap();
        let rows: Vec<(String, bool)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (refs, suspect) in rows {
            // The dossier's columns are concatenated lists: split them back.
            let refs = refs.replace("][", ",");
            let cites = if refs == "null" { vec![] } else { cited(&refs) };
            let expect = cites.iter().any(|c| flagged.contains(c));
            if view == "dossier" {
                // More columns count there: a flagged row may cite its record elsewhere.
                assert!(suspect || !expect, "{view}: {sql}: {refs}");
            } else {
                assert_eq!(suspect, expect, "{view}: {sql}: {refs}");
            }
            seen[0] += usize::from(suspect);
            seen[1] += usize::from(!suspect && cites.iter().any(|c| earlier.contains(c)));
            seen[2] += 1;
        }
    }
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "flagged, earlier-only, rows: {seen:?}"
    );
    // and the aggregates count them, the tables mark them
    let safety = json_of(&ok(
        &mut all(d),
        &["view", "safety", "--data", "d", "--json"],
    ));
    let conn = db("safety");
    let in_db: i64 = conn
        .query_row(
            "SELECT (SELECT SUM(suspect) FROM adverse_events) + (SELECT SUM(suspect) FROM deaths) + (SELECT SUM(suspect) FROM treated)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(in_db > 0);
    assert_eq!(safety["overall"]["suspect_rows"], in_db, "{safety}");
    let out = ok(&mut all(d), &["view", "safety", "--data", "d"]);
    assert!(out.contains(&format!("({in_db} suspect)")), "{out}");
    assert!(
        out.contains(&format!("SUSPECT: {} records", flagged.len())),
        "{out}"
    );
    // and views rebuilt from scratch hold the same rows as the ones flagged afterwards.
    for view in ["enrollment", "safety", "dossier"] {
        ok(&mut all(d), &["view", view, "--data", "d", "--db", "fresh"]);
    }
    let (a, b) = (
        tl_projections::report::dump_views(&d.join("d/views")).unwrap(),
        tl_projections::report::dump_views(&d.join("fresh")).unwrap(),
    );
    assert_eq!(tl_projections::report::views_difference(&a, &b), None);
    // and over HTTP, each count of suspect rows of the enrollment and dossier views resolves
    // to its patients, each with the flagged records its row cites.
    suspect_cells_resolve_to_flagged_records(d, &flagged);
}

/// `serve` on the demo folder `dir/d`: every `suspect_rows` cell of the enrollment and dossier
/// views lists as many patients as the view counts, each with at least one record, and every
/// record it lists is one of `flagged`.
fn suspect_cells_resolve_to_flagged_records(
    dir: &Path,
    flagged: &std::collections::BTreeSet<(u64, u64)>,
) {
    use std::io::{BufRead, BufReader};
    let o = all(dir)
        .args(["tokens", "new", "--data", "d", "--name", "A. Uditor"])
        .args(["--role", "auditor"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8(o.stdout).unwrap();
    /// The server, killed when dropped (a failed assertion must not leave it running).
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Killed(
        all(dir)
            .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let get = |path: &str| -> serde_json::Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent
            .get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {}", token.trim()))
            .call()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = res.status().as_u16();
        let v: serde_json::Value =
            serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(status, 200, "{path}: {v}");
        v
    };
    let mut resolved = 0;
    for view in ["enrollment", "dossier"] {
        let cells = get(&format!("/v1/views/{view}"))["cells"].clone();
        for (key, n) in cells.as_object().unwrap() {
            if !key.ends_with("|suspect_rows") {
                continue;
            }
            let encoded: String = key
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            let c = get(&format!("/v1/views/{view}/cells?cell={encoded}"));
            assert_eq!(&c["n"], n, "{view} {key}");
            let patients: std::collections::BTreeSet<&str> = c["patients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            let with_records: std::collections::BTreeSet<&str> = c["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["patient"].as_str().unwrap())
                .collect();
            assert_eq!(patients.len() as u64, n.as_u64().unwrap(), "{view} {key}");
            assert_eq!(
                with_records, patients,
                "{view} {key}: a patient without a record"
            );
            for r in c["records"].as_array().unwrap() {
                let at = (r["partition"].as_u64().unwrap(), r["seq"].as_u64().unwrap());
                assert!(flagged.contains(&at), "{view} {key}: {r} is not flagged");
            }
            resolved += 1;
        }
    }
    assert!(resolved >= 2, "only {resolved} suspect cells");
}

/// A key file as older versions could write it: encrypted under an empty passphrase (today's
/// `keys new` and `write_key_file` refuse one).
fn write_empty_passphrase_key(path: &Path, seed: [u8; 32], key: &keyfile::KeyMaterial) {
    use std::io::Write;
    let contents = serde_json::json!({
        "format": keyfile::KEY_FILE_FORMAT,
        "name": "old admin",
        "role": "admin",
        "secret_key": hex::encode(seed),
        "public_key": hex::encode(key.public_key()),
    });
    let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(""));
    recipient.set_work_factor(10);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut out = Vec::new();
    let armor =
        age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).unwrap();
    let mut w = encryptor.wrap_output(armor).unwrap();
    w.write_all(contents.to_string().as_bytes()).unwrap();
    w.finish().unwrap().finish().unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn an_older_key_with_an_empty_passphrase_opens_with_a_warning_and_can_be_given_one() {
    // Given a key file made before empty passphrases were refused,
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = keyfile::KeyMaterial::from_seed("old admin", "admin", [7u8; 32]);
    write_empty_passphrase_key(&d.join("old.key"), [7u8; 32], &key);
    assert_eq!(
        read_key_file(&d.join("old.key"), "").unwrap().public_key(),
        key.public_key()
    );
    std::fs::write(d.join("empty.pass"), "").unwrap();
    std::fs::write(d.join("new.pass"), "a real one\n").unwrap();
    // when it is opened with its (empty) passphrase to give it a new one,
    let out = ok(
        &mut bare(d),
        &[
            "keys",
            "passwd",
            "old.key",
            "--passphrase-file",
            "empty.pass",
            "--new-passphrase-file",
            "new.pass",
        ],
    );
    // then it opens, with a warning that names it, and holds the same key under the new one.
    assert!(
        out.contains("old.key") && out.contains("has an empty passphrase"),
        "{out}"
    );
    assert_eq!(
        read_key_file(&d.join("old.key"), "a real one")
            .unwrap()
            .public_key(),
        key.public_key()
    );
    assert!(read_key_file(&d.join("old.key"), "").is_err());
}
