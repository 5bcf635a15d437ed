//! The broker fixture: one real Apache Kafka broker per test binary.
//!
//! It uses `KAFKA_BOOTSTRAP_SERVERS` when that is set. Otherwise it starts a single KRaft node
//! from `infra/kafka/broker up` the first time a test asks for it, and a watchdog process
//! stops it (`broker down`) when the test binary exits: Rust runs no destructors for statics,
//! and a broker must not outlive its tests. A test that needs Kafka never skips: if no broker
//! can be had, it panics with the script's output.
//!
//! Tests use random topic names, group ids and transactional ids ([`unique`]), so they share
//! the broker without seeing each other.
//!
//! The shared broker and [`start`]'s clusters are plaintext, without authentication or ACLs:
//! the tests on them are about ordering, failures and the API, not security. [`start_secure`]
//! gives a secured node for the tests that are.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A running broker (or cluster) the tests of this binary share.
#[derive(Debug)]
pub struct Broker {
    /// `host:port[,host:port...]` for clients.
    pub bootstrap: String,
    /// The state file of a cluster this fixture started; `None` when given by the environment.
    pub state: Option<PathBuf>,
}

static BROKER: OnceLock<Broker> = OnceLock::new();

/// The repository's `infra/kafka/broker` script.
pub fn broker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/kafka/broker")
}

/// The shared broker, started on first use.
pub fn broker() -> &'static Broker {
    BROKER.get_or_init(|| {
        #[cfg(feature = "testcontainers")]
        if std::env::var("TRIAL_LEDGER_TEST_KAFKA").as_deref() == Ok("testcontainers") {
            return container::start();
        }
        if let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
            if !bootstrap.trim().is_empty() {
                return Broker {
                    bootstrap,
                    state: None,
                };
            }
        }
        start(1)
    })
}

/// Starts a cluster of `nodes` nodes with its own state file and a watchdog that stops it
/// when this process exits. Panics with the script's output if it cannot.
pub fn start(nodes: u8) -> Broker {
    start_with(&["--nodes", &nodes.to_string()])
}

/// A secured single node of its own (`broker up --secure`): SASL_SSL with SCRAM-SHA-512, TLS
/// on the controller listener, the StandardAuthorizer, and one client properties file per
/// principal.
#[derive(Debug)]
pub struct SecureBroker {
    /// The broker (its state file names the data folder).
    pub broker: Broker,
    /// `<principal>.properties` for admin, sequencer, reader, matcher, cohort-engine, site-1..3.
    pub clients: PathBuf,
    /// The CA certificate the clients trust.
    pub ca: PathBuf,
    /// The node's server.properties (what the ACL check reads super users from).
    pub server_properties: PathBuf,
}

impl SecureBroker {
    /// The client properties file of `principal`.
    pub fn properties(&self, principal: &str) -> PathBuf {
        self.clients.join(format!("{principal}.properties"))
    }
}

/// Starts a secured single node for this test binary, with a watchdog as [`start`]. Never
/// taken from `KAFKA_BOOTSTRAP_SERVERS`: the tests need its principals.
pub fn start_secure() -> SecureBroker {
    let broker = start_with(&["--nodes", "1", "--secure", "--sites", "3"]);
    let state = broker.state.clone().expect("started here");
    let text = std::fs::read_to_string(&state).expect("the state file of `up`");
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no {key} in {}", state.display()))
    };
    SecureBroker {
        clients: get("CLIENTS_DIR"),
        ca: get("CA_FILE"),
        server_properties: get("NODE_0_DIR").join("server.properties"),
        broker,
    }
}

fn start_with(up_args: &[&str]) -> Broker {
    let state = std::env::temp_dir().join(format!(
        "tl-test-kafka-{}-{}.state",
        std::process::id(),
        unique("c")
    ));
    let script = broker_script();
    let out = Command::new(&script)
        .arg("up")
        .args(up_args)
        .arg("--state")
        .arg(&state)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; a Kafka test needs Java 17 and Maven",
                script.display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bootstrap = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("KAFKA_BOOTSTRAP_SERVERS="))
        .map(str::to_string);
    let Some(bootstrap) = bootstrap.filter(|_| out.status.success()) else {
        panic!(
            "no Kafka broker for the tests: `{} up` failed ({}).\nstdout:\n{stdout}\nstderr:\n{}\n\
             Set KAFKA_BOOTSTRAP_SERVERS to use a running broker instead. Kafka tests never skip.",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    watch(&state);
    Broker {
        bootstrap,
        state: Some(state),
    }
}

/// Spawns a detached watchdog that runs `broker down` once this process is gone.
fn watch(state: &Path) {
    let script = broker_script();
    let cmd = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; '{script}' down --state '{state}' --timeout 5 >/dev/null 2>&1",
        pid = std::process::id(),
        script = script.display(),
        state = state.display(),
    );
    let spawned = Command::new("setsid")
        .args(["sh", "-c", &cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!(
            "warning: no watchdog for the test broker ({e}); stop it with `{} down --state {}`",
            script.display(),
            state.display()
        );
    }
}

/// A name no other test uses: `prefix-<pid>-<counter>-<random>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{:08x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// The opt-in container path (cargo feature `testcontainers`, environment
/// `TRIAL_LEDGER_TEST_KAFKA=testcontainers`): the `apache/kafka` image in KRaft mode, for users
/// with Docker. The container lives as long as the test binary.
#[cfg(feature = "testcontainers")]
mod container {
    use super::Broker;
    use std::sync::OnceLock;
    use testcontainers_modules::kafka::apache;
    use testcontainers_modules::testcontainers::runners::SyncRunner;
    use testcontainers_modules::testcontainers::Container;

    /// Keeps the container running until the process exits.
    static CONTAINER: OnceLock<Container<apache::Kafka>> = OnceLock::new();

    /// Starts the container, or panics with the reason (Kafka tests never skip).
    pub fn start() -> Broker {
        let node = apache::Kafka::default().start().unwrap_or_else(|e| {
            panic!("TRIAL_LEDGER_TEST_KAFKA=testcontainers, but no Kafka container: {e}")
        });
        let port = node
            .get_host_port_ipv4(apache::KAFKA_PORT)
            .unwrap_or_else(|e| panic!("the Kafka container has no mapped port: {e}"));
        let _ = CONTAINER.set(node);
        Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            state: None,
        }
    }
}
