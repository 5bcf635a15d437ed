//! A throw-away single-node Kafka broker from the repository's `infra/kafka/broker` script,
//! for `demo --kafka-local` and `bench --kafka-local`: started on free ports with a fresh data
//! folder, stopped and removed when dropped.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A broker this process started.
pub struct LocalBroker {
    /// `host:port` for clients.
    pub bootstrap: String,
    /// The script's state file (what `down` stops).
    state: PathBuf,
    /// The script.
    script: PathBuf,
    /// Holds the state file's folder until the broker is down.
    _dir: tempfile::TempDir,
}

/// The `infra/kafka/broker` script: `TRIAL_LEDGER_KAFKA_SCRIPT`, else the one in the source
/// tree this binary was built from.
pub fn broker_script() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("TRIAL_LEDGER_KAFKA_SCRIPT") {
        return Ok(PathBuf::from(p));
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/kafka/broker");
    if p.exists() {
        return Ok(p);
    }
    bail!(
        "cannot find infra/kafka/broker (looked at {}); set TRIAL_LEDGER_KAFKA_SCRIPT to the script of a trial-ledger checkout",
        p.display()
    )
}

impl LocalBroker {
    /// Starts one KRaft node (resolving Kafka with Maven the first time; needs Java 17).
    pub fn start() -> Result<Self> {
        let script = broker_script()?;
        let dir = tempfile::tempdir().context("creating a folder for the broker's state")?;
        let state = dir.path().join("broker.state");
        eprintln!(
            "starting a local Kafka broker with {} ...",
            script.display()
        );
        let out = Command::new(&script)
            .args(["up", "--nodes", "1", "--state"])
            .arg(&state)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(bootstrap) = stdout
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("KAFKA_BOOTSTRAP_SERVERS="))
            .filter(|_| out.status.success())
        else {
            bail!(
                "`{} up` failed ({}); it needs Java 17 and Maven (see infra/README.md)",
                script.display(),
                out.status
            );
        };
        Ok(LocalBroker {
            bootstrap: bootstrap.to_string(),
            state,
            script,
            _dir: dir,
        })
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .args(["down", "--state"])
            .arg(&self.state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
