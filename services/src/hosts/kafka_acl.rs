//! The trial's ACLs on a secured Kafka cluster and the production-mode check (FORMAT.md §17b),
//! through the ACL tool in `infra/kafka` (`broker acl ...`, Kafka's Java AdminClient):
//! rust-rdkafka's admin client can neither create nor describe ACLs.

use crate::cli::AclArgs;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use tl_kafka::KafkaConfig;

/// Runs `broker acl COMMAND` with the bootstrap servers and the client properties of `config`
/// (the `--kafka-config` file); returns the tool's exit code and its stdout.
fn run_tool(
    command: &str,
    k: &KafkaConfig,
    config: &Path,
    args: &[String],
) -> Result<(i32, String)> {
    let script = super::local_kafka::broker_script()?;
    let out = Command::new(&script)
        .args(["acl", command, "--bootstrap", &k.bootstrap, "--config"])
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running the ACL tool {} acl", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or(3);
    if code >= 2 {
        bail!(
            "the ACL tool failed (`{} acl {command}`, exit {code}); it needs Java 17 and the Kafka jars (infra/README.md). {}",
            script.display(),
            stdout.trim()
        );
    }
    Ok((code, stdout))
}

/// The client properties file the ACL tool authenticates with; a cluster without one has no
/// security for the tool to check.
fn properties_file<'a>(config: Option<&'a Path>, what: &str) -> Result<&'a Path> {
    config.with_context(|| {
        format!(
            "{what} needs --kafka-config FILE (the client properties of a secured cluster); \
             a plaintext test cluster without ACLs takes --no-acls"
        )
    })
}

/// Creates the trial's ACL matrix and the writers' produce quotas, as the admin principal of
/// `config`.
pub fn apply(k: &KafkaConfig, config: Option<&Path>, a: &AclArgs) -> Result<()> {
    let config = properties_file(config, "creating the trial's ACLs")?;
    let mut args = vec![
        "--trial".to_string(),
        k.trial.as_str().to_string(),
        "--sequencer".into(),
        a.acl_sequencer.clone(),
        "--reader".into(),
        a.acl_reader.clone(),
        "--writer-byte-rate".into(),
        a.acl_writer_byte_rate.to_string(),
    ];
    if !a.acl_writers.is_empty() {
        args.push("--writers".into());
        args.push(a.acl_writers.join(","));
    }
    let (_, out) = run_tool("apply", k, config, &args)?;
    eprint!("{out}");
    Ok(())
}

/// What the production-mode check found: nothing (the ledger is safe), or each problem.
pub fn check(k: &KafkaConfig, config: Option<&Path>, a: &AclArgs) -> Result<Vec<String>> {
    let config = properties_file(config, "the production-mode ACL check")?;
    let mut args = vec![
        "--trial".to_string(),
        k.trial.as_str().to_string(),
        "--sequencer".into(),
        a.acl_sequencer.clone(),
        "--super-users".into(),
        a.super_users.clone(),
    ];
    if let Some(files) = &a.broker_config {
        args.push("--broker-config".into());
        args.push(files.clone());
    }
    let (code, out) = run_tool("check", k, config, &args)?;
    let problems: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("problem: "))
        .map(str::to_string)
        .collect();
    if code == 1 && problems.is_empty() {
        bail!(
            "the ACL check failed without naming a problem: {}",
            out.trim()
        );
    }
    Ok(problems)
}

/// Refuses to go on when the production-mode check finds a problem.
pub fn require_safe(k: &KafkaConfig, config: Option<&Path>, a: &AclArgs) -> Result<()> {
    let problems = check(k, config, a)?;
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "refusing to run in production mode on {}: {}",
        k.describe(),
        problems.join("; ")
    )
}
