//! `trial-ledger demo --kafka-local`: the simulated trial end to end through a broker the
//! command starts from infra/kafka and stops afterwards (issue 4's demo acceptance).

use std::process::Command;

#[test]
fn demo_kafka_local_runs_the_trial_through_a_broker_it_starts_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_trial-ledger"))
        .args(["demo", "--kafka-local", "--patients", "15", "--data"])
        .arg(&data)
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo --kafka-local failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("verification: OK"), "{stdout}");
    assert!(
        stdout.contains("ledger topic drup-demo.ledger on 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the local Kafka broker is stopped"),
        "{stdout}"
    );
    // The broker is gone: its port no longer accepts connections.
    let port = stdout
        .split("ledger topic drup-demo.ledger on 127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("the broker's port in the summary");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the demo's broker still listens on {port}"
    );
    // Keys, trust file and key store are in the data folder; there is no embedded ledger.
    assert!(data.join("trust.json").exists());
    assert!(!data.join("ledger").exists());
}
