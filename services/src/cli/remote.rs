//! The CLI's writers against a running `trial-ledger serve` (`--url URL`): the author signs
//! locally with its own key and posts the canonical bytes to `POST /v1/submissions`; the
//! server's sequencer seals the record. The author never needs the sequencer key, and the
//! ledger folder (whose writer lock the server holds) is never opened.
//!
//! Exit codes follow the local commands: a receipt is success, a refusal by the server (a
//! 4xx with its FORMAT.md reason code) exits 1, and a server that cannot be reached or fails
//! (5xx) is an error (exit 2).

use anyhow::{bail, Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tl_ledger::Receipt;
use tl_schemas::{SignedSubmission, TrialId};

/// A running server's API, reached with a blocking HTTP(S) client.
pub struct Remote {
    base: String,
    agent: ureq::Agent,
}

/// What the server made of a posted submission.
pub enum Posted {
    /// Recorded now (`recorded`) or earlier (`already-recorded`, the original receipt).
    Receipt {
        /// `recorded` or `already-recorded`.
        status: String,
        /// The receipt, as the local `submit` prints it.
        receipt: Receipt,
    },
    /// Refused (a 4xx): the server's reason code and message; nothing was recorded.
    Refused {
        /// The stable reason code (FORMAT.md, or the API's own such as `rate-limited`).
        code: String,
        /// The human message.
        message: String,
    },
}

/// The receipt as the API serializes it ([`Receipt`] and its status).
#[derive(serde::Deserialize)]
struct ReceiptJson {
    status: String,
    submission_id: String,
    partition: u32,
    seq: u64,
    record_hash: String,
    ordering_time: String,
    registry_seq: u64,
    sequencer: String,
    seal: String,
}

/// An API error body: `{"code": ..., "message": ...}`.
#[derive(serde::Deserialize)]
struct ErrorJson {
    code: String,
    message: String,
}

/// `GET /v1/checkpoints`.
#[derive(serde::Deserialize)]
struct CheckpointsJson {
    /// Absent from servers older than the field.
    #[serde(default)]
    trial: Option<String>,
    checkpoints: Vec<PartitionJson>,
}

#[derive(serde::Deserialize)]
struct PartitionJson {
    partition: u32,
    checkpoint: Option<String>,
}

impl Remote {
    /// A client for the server at `url` (`http://HOST:PORT` or `https://...`, without a path).
    /// https verifies the server against the platform's root certificates (`SSL_CERT_FILE`
    /// names another bundle, for a private CA).
    pub fn new(url: &str) -> Result<Self> {
        let base = url.trim().trim_end_matches('/').to_string();
        let https = base.starts_with("https://");
        if !https && !base.starts_with("http://") {
            bail!("--url {url}: give the server's address as http://HOST:PORT or https://HOST:PORT (as `serve` prints it)");
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)));
        if https {
            config = config.tls_config(tls_config()?);
        }
        Ok(Remote {
            base,
            agent: config.build().into(),
        })
    }

    /// The server's address, as given.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Posts a signed submission's canonical bytes and reads the server's answer.
    pub fn submit(&self, signed: &SignedSubmission) -> Result<Posted> {
        let bytes = tl_schemas::encode(signed);
        let res = self
            .agent
            .post(format!("{}/v1/submissions", self.base))
            .header("content-type", "application/octet-stream")
            .send(&bytes[..]);
        let (status, text) = self.read(res)?;
        if status == 200 || status == 201 {
            let r: ReceiptJson = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a receipt: {text}", self.base))?;
            return Ok(Posted::Receipt {
                status: r.status,
                receipt: Receipt {
                    submission_id: r.submission_id,
                    partition: r.partition,
                    seq: r.seq,
                    record_hash: r.record_hash,
                    ordering_time: r.ordering_time,
                    registry_seq: r.registry_seq,
                    sequencer: r.sequencer,
                    seal: r.seal,
                },
            });
        }
        let e = self.error_body(status, &text)?;
        Ok(Posted::Refused {
            code: e.code,
            message: e.message,
        })
    }

    /// Each partition's latest signed checkpoint (`GET /v1/checkpoints`, public), in partition
    /// order; `None` for a partition with none published yet.
    pub fn checkpoints(&self) -> Result<Vec<(u32, Option<String>)>> {
        Ok(self
            .checkpoints_json()?
            .checkpoints
            .into_iter()
            .map(|c| (c.partition, c.checkpoint))
            .collect())
    }

    fn checkpoints_json(&self) -> Result<CheckpointsJson> {
        let res = self
            .agent
            .get(format!("{}/v1/checkpoints", self.base))
            .call();
        let (status, text) = self.read(res)?;
        if status != 200 {
            let e = self.error_body(status, &text)?;
            bail!(
                "{} refused GET /v1/checkpoints ({status}): {}: {}",
                self.base,
                e.code,
                e.message
            );
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a list of checkpoints: {text}", self.base))
    }

    /// The server's trial, as `GET /v1/checkpoints` names it (or, from a server older than
    /// that field, from the origin of its published checkpoints,
    /// `trial-ledger/<trial>/<partition>`): the trial every submission is signed for. With
    /// `expected` (`--trial`), a server of another trial is refused.
    pub fn trial(&self, expected: Option<&str>) -> Result<TrialId> {
        let list = self.checkpoints_json()?;
        let named = match &list.trial {
            Some(t) => Some(
                TrialId::new(t)
                    .map_err(|e| anyhow::anyhow!("{} names trial {t:?}: {e}", self.base))?,
            ),
            None => None,
        };
        let trial = named
            .or_else(|| {
                list.checkpoints
                    .iter()
                    .filter_map(|c| c.checkpoint.as_deref())
                    .find_map(|note| {
                        let origin = note.lines().next()?;
                        tl_ledger::checkpoint::parse_partition_origin(origin).map(|(t, _)| t)
                    })
            })
            .with_context(|| {
                format!(
                    "{} has published no checkpoint yet, so its trial is unknown",
                    self.base
                )
            })?;
        if let Some(want) = expected {
            if trial.as_str() != want {
                bail!(
                    "{} serves trial {}, not --trial {want}; nothing was submitted",
                    self.base,
                    trial.as_str()
                );
            }
        }
        Ok(trial)
    }

    /// The status and body text of an answer; an unreachable server is an error naming it.
    fn read(
        &self,
        res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String)> {
        let mut res = res.map_err(|e| {
            let hint = match &e {
                ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                    " (is `trial-ledger serve` running there?)"
                }
                ureq::Error::ConnectionFailed => " (is `trial-ledger serve` running there?)",
                _ if self.base.starts_with("https://") => {
                    " (for a certificate of a private CA, set SSL_CERT_FILE to its PEM file)"
                }
                _ => "",
            };
            anyhow::anyhow!("cannot reach the server at {}: {e}{hint}", self.base)
        })?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .with_context(|| format!("reading the answer of {}", self.base))?;
        Ok((status, text))
    }

    /// The `{code, message}` of a 4xx; a 5xx (or a body that is no API error) is an error.
    fn error_body(&self, status: u16, text: &str) -> Result<ErrorJson> {
        let parsed: Option<ErrorJson> = serde_json::from_str(text).ok();
        match parsed {
            Some(e) if (400..500).contains(&status) => Ok(e),
            Some(e) => bail!(
                "the server at {} failed ({status}): {}: {}",
                self.base,
                e.code,
                e.message
            ),
            None => bail!(
                "the server at {} answered {status} with no API error: {}",
                self.base,
                text.chars().take(300).collect::<String>()
            ),
        }
    }
}

/// rustls with the ring provider (as `serve` uses) and the platform's root certificates.
fn tls_config() -> Result<ureq::tls::TlsConfig> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        bail!(
            "https: no root certificates found ({}); set SSL_CERT_FILE to a PEM bundle",
            found
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let certs: Vec<ureq::tls::Certificate<'static>> = found
        .certs
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    Ok(ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build())
}

/// Signs a draft for the server's trial and posts it; prints the receipt or the refusal as
/// the local commands do. Returns the exit code.
pub fn submit_draft(
    remote: &Remote,
    trial: &TrialId,
    key: &tl_ledger::SigningKey,
    draft: tl_ledger::writer::Draft,
    json: bool,
) -> Result<std::process::ExitCode> {
    report(remote.submit(&draft.sign(trial, key))?, json)
}

/// Prints what the server made of a submission; returns the exit code.
pub fn report(posted: Posted, json: bool) -> Result<std::process::ExitCode> {
    match posted {
        Posted::Receipt { status, receipt } => super::cmd::report_receipt(&status, &receipt, json),
        Posted::Refused { code, message } => super::cmd::report_refusal(&code, &message, json),
    }
}
