//! Runs `trial-ledger demo` as a child process with a time cap, and reads its summary (shared
//! by the Kafka demo tests).

#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_trial-ledger");

/// Runs `demo` with `args` into `data`, waiting at most `cap`: on time, its standard output;
/// past the cap, the demo is killed (and the broker it started, found by the state file it
/// names on standard error, stopped) and the test fails.
pub fn demo_within(args: &[&str], data: &std::path::Path, cap: Duration) -> String {
    demo_logged_within(args, data, cap, "warn")
}

/// [`demo_within`] with the log filter `log` (`TRIAL_LEDGER_LOG`); the demo's standard error
/// stays in [`stderr_of`]`(data)`.
pub fn demo_logged_within(
    args: &[&str],
    data: &std::path::Path,
    cap: Duration,
    log: &str,
) -> String {
    let out_path = data.with_extension("stdout");
    let err_path = stderr_of(data);
    let mut child = Command::new(BIN)
        .arg("demo")
        .env("TRIAL_LEDGER_LOG", log)
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > cap {
            child.kill().unwrap();
            child.wait().unwrap();
            let err = std::fs::read_to_string(&err_path).unwrap_or_default();
            if let Some(state) = err
                .lines()
                .find_map(|l| l.strip_prefix("broker: state file: "))
            {
                let _ = Command::new(tl_tests::kafka::broker_script())
                    .args(["down", "--state", state.trim()])
                    .status();
            }
            panic!(
                "`demo {}` did not finish within {cap:?}:\n{err}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        status.success(),
        "demo {}: {status}\n{stderr}\n{stdout}",
        args.join(" ")
    );
    stdout
}

/// The line of the demo's output that starts with `prefix`.
pub fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stdout}"))
}

/// The six trial figures as the demo prints them.
pub fn figures(stdout: &str) -> &str {
    stdout
        .split("trial-level figures")
        .nth(1)
        .and_then(|s| s.split("verification:").next())
        .unwrap_or_else(|| panic!("no figures in:\n{stdout}"))
}

/// Where [`demo_within`] keeps the standard error of the demo writing into `data`.
pub fn stderr_of(data: &std::path::Path) -> std::path::PathBuf {
    data.with_extension("stderr")
}
