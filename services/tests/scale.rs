//! Bounded memory at scale (issue 15, section 4): the peak resident memory of `verify`, of the
//! projector (`project --once`) and of a writer's open (`keys enrol` on the embedded ledger,
//! which replays the ledger before it appends) at 500k records is at most twice that at 50k.
//!
//! The ledgers come from the template generator (`bench --generate`, `tl_sim::template`),
//! cached under `target/` (Cargo's `CARGO_TARGET_TMPDIR`) by record count and generator
//! version, so only the first run pays for them. Each command runs as a child process under
//! GNU time (`/usr/bin/time -f %M`, the child's `ru_maxrss` in KiB from wait4); scripts/test
//! installs Debian's `time` when it is missing, and without it this test fails rather than
//! skipping. The figures are printed as a table.
//!
//! Ignored (by name, with its reason) until bounded memory lands: today `verify` and the
//! projector hold every record and fail the bound. Run it with
//! `cargo test --workspace --all-features --test scale -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;
use tl_sim::template::{GenKeys, GENERATOR_VERSION};

const SMALL: u64 = 50_000;
const LARGE: u64 = 500_000;
const TIME: &str = "/usr/bin/time";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", "scale horse")
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

/// The cached data folder of a generated ledger of `records` records, generated first when
/// missing (or left incomplete by an interrupted run).
fn cached(records: u64) -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scale-ledgers");
    let dir = cache.join(format!("gen-v{GENERATOR_VERSION}-{records}"));
    let done = dir.join("generated");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&cache).unwrap();
    let o = bin()
        .args(["bench", "--generate", &records.to_string(), "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bench --generate {records}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    std::fs::write(&done, b"").unwrap();
    dir
}

/// Runs `cmd` under GNU time; its peak resident memory in KiB. The command must succeed.
fn peak_kib(what: &str, cmd: &mut Command) -> u64 {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut timed = Command::new(TIME);
    timed
        .args(["-f", "%M", "-o"])
        .arg(out.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        timed.current_dir(d);
    }
    let o = timed.output().unwrap();
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(out.path()).unwrap();
    text.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{what}: GNU time wrote no peak memory: {text:?}"))
}

/// Copies a data folder (the writer appends to its copy, never to the cache).
fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "copying {} to {}", from.display(), to.display());
}

/// Peak memory in KiB of `verify`, `project --once` and a writer's open and one append.
fn measure(records: u64) -> [u64; 3] {
    let data = cached(records);
    let trust = data.join("trust.json");
    let verify = peak_kib(
        "verify",
        bin()
            .args(["verify", "--data"])
            .arg(&data)
            .arg("--trust")
            .arg(&trust),
    );
    let views = tempfile::tempdir().unwrap();
    let project = peak_kib(
        "project --once",
        bin()
            .args(["project", "--once", "--data"])
            .arg(&data)
            .arg("--db")
            .arg(views.path()),
    );
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("d");
    copy_dir(&data, &copy);
    write_keys(&copy);
    let ok = bin()
        .current_dir(work.path())
        .args([
            "keys", "new", "--name", "Lab C", "--role", "lab", "--out", "lab.key",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "keys new");
    let writer = peak_kib(
        "keys enrol",
        bin()
            .current_dir(work.path())
            .args(["keys", "enrol", "--data", "d", "lab.key.pub.json"]),
    );
    [verify, project, writer]
}

/// The generated trial's root and sequencer key files, as `init` would have written them.
fn write_keys(data: &Path) {
    use tl_ledger::keyfile::{write_key_file, KeyMaterial, WorkFactor};
    let keys = GenKeys::derive(1);
    let dir = data.join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    for (k, role, file, pass) in [
        (&keys.root, "root", "root.key", "root horse"),
        (
            &keys.sequencer,
            "sequencer",
            "sequencer.key",
            "sequencer horse",
        ),
    ] {
        let km = KeyMaterial::from_seed(k.name.clone(), role, k.seed);
        write_key_file(&dir.join(file), &km, pass, WorkFactor::LogN(10)).unwrap();
    }
}

#[test]
#[ignore = "issue 15 section 4 is not done: verify, the projector and the writer still hold state per record (ARCHITECTURE.md, \"Memory at scale\"); run with --ignored"]
fn peak_memory_at_500k_records_is_at_most_twice_that_at_50k() {
    assert!(
        Path::new(TIME).exists(),
        "{TIME} (GNU time) is needed to read each child's peak memory: apt-get install time"
    );
    let small = measure(SMALL);
    let large = measure(LARGE);
    let names = ["verify", "project --once", "writer open + keys enrol"];
    println!("peak RSS (KiB)               {SMALL:>10} {LARGE:>10}   ratio");
    for i in 0..3 {
        println!(
            "{:<28} {:>10} {:>10}   {:.2}",
            names[i],
            small[i],
            large[i],
            large[i] as f64 / small[i] as f64
        );
    }
    for i in 0..3 {
        assert!(
            large[i] <= 2 * small[i],
            "{}: {} KiB at {LARGE} records, more than twice the {} KiB at {SMALL}",
            names[i],
            large[i],
            small[i]
        );
    }
}
