//! `keys rotate-root` end to end: rotate, enrol with the new root, verify against the
//! trust file's original root.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trial-ledger"))
        .env("TRIAL_LEDGER_PASSPHRASE", "correct horse")
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(o.status.success(), "{args:?} failed:\n{}", text(&o));
    text(&o)
}

#[test]
fn rotate_root_then_enrol_with_the_new_root_then_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(
        d,
        &[
            "init",
            "--data",
            "d",
            "--trial",
            "rot-cli",
            "--partitions",
            "2",
        ],
    );
    ok(
        d,
        &[
            "keys",
            "new",
            "--name",
            "Root Two",
            "--role",
            "admin",
            "--out",
            "root2.key",
        ],
    );
    ok(
        d,
        &[
            "keys", "new", "--name", "Lab L", "--role", "lab", "--out", "lab.key",
        ],
    );
    let before = std::fs::read(d.join("d/keys/root.key")).unwrap();
    // When the root is rotated,
    let out = ok(
        d,
        &[
            "keys",
            "rotate-root",
            "--data",
            "d",
            "--new-key",
            "root2.key",
        ],
    );
    // then the user is told to keep the new key and pass it with --key; nothing is overwritten.
    assert!(out.contains("--key root2.key"), "{out}");
    assert_eq!(std::fs::read(d.join("d/keys/root.key")).unwrap(), before);
    // The old root may no longer enrol,
    let o = run(d, &["keys", "enrol", "--data", "d", "lab.key.pub.json"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("unknown-key"), "{}", text(&o));
    // the new one may (its passphrase, as the root's, from the root's source),
    std::fs::write(d.join("root2.pass"), "correct horse\n").unwrap();
    ok(
        d,
        &[
            "keys",
            "enrol",
            "--data",
            "d",
            "--key",
            "root2.key",
            "--root-passphrase-file",
            "root2.pass",
            "lab.key.pub.json",
        ],
    );
    // and the whole ledger verifies against the trust file's original root.
    let o = run(d, &["verify", "--data", "d", "--trust", "d/trust.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
