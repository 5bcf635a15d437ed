//! A throw-away single-node Kafka broker from the repository's `infra/kafka/broker` script,
//! for `demo --kafka-local`, `up --kafka-local` and `bench --kafka-local`: started on free ports
//! with a fresh data folder, stopped and removed when dropped. Secured by default (`broker up
//! --secure`: SASL_SSL with SCRAM-SHA-512, the StandardAuthorizer, one client properties file
//! per principal); plaintext only when the caller asks for it (a dev flag that says so).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A broker this process started.
pub struct LocalBroker {
    /// `host:port` for clients.
    pub bootstrap: String,
    /// The folder of the principals' client properties files (`<principal>.properties`);
    /// `None` for a plaintext broker.
    pub clients: Option<PathBuf>,
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

/// The site writer principals a secured local broker gets (`broker up --secure --sites N`).
pub const LOCAL_SITES: u32 = 3;

/// The ACL matrix (FORMAT.md §17b) a local secured broker's trial gets, with `writers` as the
/// principals that write intake: the broker's own principals are the super users, and there is
/// no produce quota, because one site principal carries the traffic of every simulated site.
pub fn local_acls(writers: Vec<String>) -> crate::cli::AclArgs {
    crate::cli::AclArgs {
        acl_writers: writers,
        acl_sequencer: "sequencer".into(),
        acl_reader: "reader".into(),
        acl_writer_byte_rate: 0,
        super_users: "User:broker;User:controller".into(),
        broker_config: None,
        no_acls: false,
    }
}

impl LocalBroker {
    /// Starts one KRaft node (resolving Kafka with Maven the first time; needs Java 17),
    /// secured unless `plaintext`.
    pub fn start(plaintext: bool) -> Result<Self> {
        let script = broker_script()?;
        let dir = tempfile::tempdir().context("creating a folder for the broker's state")?;
        let state = dir.path().join("broker.state");
        eprintln!(
            "starting a local Kafka broker ({}) with {} ...",
            if plaintext {
                "PLAINTEXT, no authentication or ACLs: for development only"
            } else {
                "secured: SASL_SSL, SCRAM, ACLs"
            },
            script.display()
        );
        let sites = LOCAL_SITES.to_string();
        let mut args = vec!["up", "--nodes", "1"];
        if !plaintext {
            args.extend(["--secure", "--sites", &sites]);
        }
        let out = Command::new(&script)
            .args(&args)
            .arg("--state")
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
        let clients = if plaintext {
            None
        } else {
            Some(clients_dir(&state)?)
        };
        Ok(LocalBroker {
            bootstrap: bootstrap.to_string(),
            clients,
            state,
            script,
            _dir: dir,
        })
    }

    /// The client properties file of `principal` on a secured broker (`None` on plaintext).
    pub fn properties(&self, principal: &str) -> Option<PathBuf> {
        self.clients
            .as_ref()
            .map(|d| d.join(format!("{principal}.properties")))
    }

    /// The properties of `principal` loaded as a client configuration's (empty on plaintext).
    pub fn client_properties(
        &self,
        principal: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        crate::cli::cmd::client_properties(self.properties(principal).as_deref())
    }
}

/// The `CLIENTS_DIR=` line of a secured broker's state file.
fn clients_dir(state: &std::path::Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(state)
        .with_context(|| format!("reading the broker's state file {}", state.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("CLIENTS_DIR="))
        .map(PathBuf::from)
        .with_context(|| {
            format!(
                "the secured broker's state file {} names no CLIENTS_DIR",
                state.display()
            )
        })
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
