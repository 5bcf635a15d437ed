//! Who may read what: bearer tokens issued per named person (`trial-ledger tokens`), API roles,
//! scopes, and the access log of reads (the server issue, "Access control").
//!
//! - A token is 256 random bits, printed once as `tlt_` and 64 hex digits. Only its SHA-256
//!   is stored, in the token file (`DIR/tokens`, or `--tokens FILE`), so a copy of the file
//!   lets nobody in.
//! - A presented token is hashed and compared with every stored hash in constant time
//!   ([`subtle`]); tokens are never logged: the log and the access log name the token's id.
//! - The server re-reads the token file when it changes (its modification time, size or inode),
//!   so `tokens new` and `tokens revoke` take effect without a restart.
//! - API roles are not ledger roles: they say what a person may read (README, "API").
//!   Writing needs no token.

use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tl_schemas::{Date, UtcMicros};

/// What a token's holder may read (README, "API": the table of routes per role).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiRole {
    /// Everything, including raw records and entry bundles.
    Auditor,
    /// Everything but personal data: aggregate views and cohort trails.
    Sponsor,
    /// The sponsor's safety team: patient-level safety data and SUSAR clocks.
    Safety,
    /// The data and safety monitoring board: aggregate safety tables, the stream, listings.
    Dsmb,
    /// Health technology assessment: aggregate efficacy (the dossier view) only.
    Hta,
    /// An investigator site: its own site's patients.
    Site,
}

impl ApiRole {
    /// Every role, in the README's order.
    pub const ALL: [ApiRole; 6] = [
        ApiRole::Auditor,
        ApiRole::Sponsor,
        ApiRole::Safety,
        ApiRole::Dsmb,
        ApiRole::Hta,
        ApiRole::Site,
    ];

    /// The role's name, as `tokens new --role` takes it.
    pub fn name(self) -> &'static str {
        match self {
            ApiRole::Auditor => "auditor",
            ApiRole::Sponsor => "sponsor",
            ApiRole::Safety => "safety",
            ApiRole::Dsmb => "dsmb",
            ApiRole::Hta => "hta",
            ApiRole::Site => "site",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Option<ApiRole> {
        ApiRole::ALL.into_iter().find(|r| r.name() == text)
    }
}

/// One issued token, as the token file keeps it (never the token itself).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A short random id naming the token in listings, logs and `tokens revoke`.
    pub id: String,
    /// The person it was issued to.
    pub name: String,
    /// What they may read.
    pub role: ApiRole,
    /// Only this cohort's data, when set.
    pub cohort: Option<String>,
    /// Only this site's patients, when set (required for the `site` role).
    pub site: Option<String>,
    /// Refused from this day on (00:00 UTC), when set.
    pub expires: Option<Date>,
    /// When it was issued.
    pub created: UtcMicros,
    /// When it was revoked; a revoked token stays listed so the access log's ids resolve.
    pub revoked: Option<UtcMicros>,
    /// SHA-256 of the token's text, hex.
    pub sha256: String,
}

impl TokenEntry {
    /// Why the token is refused at `now`, if it is.
    pub fn refusal(&self, now: UtcMicros) -> Option<String> {
        if let Some(at) = self.revoked {
            return Some(format!("token {} was revoked at {at}", self.id));
        }
        let today = Date(now.0.div_euclid(86_400_000_000) as i32);
        match self.expires {
            Some(day) if today >= day => Some(format!("token {} expired on {day}", self.id)),
            _ => None,
        }
    }
}

/// The token file: every token issued for a data folder (JSON, written whole and renamed).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// Format version: 1.
    pub version: u32,
    /// The tokens, in issue order.
    pub tokens: Vec<TokenEntry>,
}

impl TokenFile {
    /// Reads `path`; a missing file is an empty list (no token issued yet).
    pub fn read(path: &Path) -> anyhow::Result<TokenFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TokenFile {
                    version: 1,
                    tokens: Vec::new(),
                })
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "reading the token file {}: {e}",
                    path.display()
                ))
            }
        };
        let file: TokenFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("the token file {} is not valid: {e}", path.display()))?;
        if file.version != 1 {
            anyhow::bail!(
                "the token file {} has version {}; this build reads version 1",
                path.display(),
                file.version
            );
        }
        Ok(file)
    }

    /// Reads the file at `path`, lets `change` edit it and writes it back, holding an exclusive
    /// lock on `path` + `.lock` throughout: two `tokens new` run at once would otherwise both
    /// read the same list and the second rename would drop the first one's token. The lock is
    /// advisory (flock); the server only reads, and a rename is atomic for it.
    pub fn update<T>(
        path: &Path,
        change: impl FnOnce(&mut TokenFile) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        use std::os::unix::fs::OpenOptionsExt;
        let lock_path = lock_path_of(path);
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| anyhow::anyhow!("opening the lock {}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| anyhow::anyhow!("locking {}: {e}", lock_path.display()))?;
        let mut file = TokenFile::read(path)?;
        file.version = 1;
        let out = change(&mut file)?;
        file.write(path)?;
        Ok(out)
    }

    /// Writes the file beside `path` (owner-only permissions), fsyncs and renames it into
    /// place, so the server never reads half a file. Callers that change the list use
    /// [`TokenFile::update`], which holds the lock.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self)? + "\n";
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
            .map_err(|e| anyhow::anyhow!("renaming {} into place: {e}", tmp.display()))?;
        Ok(())
    }
}

/// The lock file of the token file at `path`: `path` with `.lock` appended.
fn lock_path_of(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    std::path::PathBuf::from(name)
}

/// A new token: its text (shown once) and the SHA-256 to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = format!("tlt_{}", hex::encode(bytes));
    let hash = token_hash(&text);
    (text, hash)
}

/// A new token id: 6 random bytes, hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of a token's text.
pub fn token_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What identifies one version of the token file on disk.
type Stamp = (std::time::SystemTime, u64, u64);

/// The tokens as read, and which version of the file they came from (`None`: no file).
type Cached = (Option<Stamp>, Arc<Vec<TokenEntry>>);

/// The server's view of the token file, re-read whenever the file changes.
pub struct TokenStore {
    path: PathBuf,
    cache: Mutex<Option<Cached>>,
}

impl TokenStore {
    /// The token file at `path` (it need not exist yet: then every protected route is 401).
    pub fn new(path: PathBuf) -> Self {
        TokenStore {
            path,
            cache: Mutex::new(None),
        }
    }

    /// The token file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current tokens, re-read if the file changed since the last call.
    fn entries(&self) -> Result<Arc<Vec<TokenEntry>>, ApiError> {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| {
            (
                m.modified().unwrap_or(std::time::UNIX_EPOCH),
                m.len(),
                m.ino(),
            )
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((held, entries)) = cache.as_ref() {
            if *held == stamp {
                return Ok(entries.clone());
            }
        }
        let file = TokenFile::read(&self.path).map_err(|e| {
            tracing::error!(error = %e, "cannot read the token file; refusing protected reads");
            ApiError::unavailable("the server cannot read its token file; tell its operator")
        })?;
        let entries = Arc::new(file.tokens);
        *cache = Some((stamp, entries.clone()));
        Ok(entries)
    }

    /// The entry whose hash matches `text`, compared in constant time with every entry.
    pub fn find(&self, text: &str) -> Result<Option<TokenEntry>, ApiError> {
        let presented = Sha256::digest(text.as_bytes());
        let entries = self.entries()?;
        let mut found = None;
        for e in entries.iter() {
            let stored = hex::decode(&e.sha256).unwrap_or_default();
            // Every entry is compared; which one matched is not revealed by the timing.
            if bool::from(stored.ct_eq(presented.as_slice())) {
                found = Some(e.clone());
            }
        }
        Ok(found)
    }
}

/// The authenticated holder of a valid token (an extractor: a handler that takes a `Caller`
/// answers 401 without a valid token).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's entry.
    pub token: TokenEntry,
}

/// The name of the session cookie (`POST /v1/session`).
pub const SESSION_COOKIE: &str = "tl_session";

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The token text of `Authorization: Bearer ...`, if the header is there.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(v) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    match super::wire::bearer_token(text) {
        Some(t) => Ok(Some(t)),
        None => Err(unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// The session id of the session cookie, if one is sent.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    let values = headers.get_all(header::COOKIE);
    super::wire::cookie(
        values.iter().filter_map(|v| v.to_str().ok()),
        SESSION_COOKIE,
    )
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let text = match bearer(parts)? {
            Some(t) => t.to_string(),
            None => match session_cookie(&parts.headers).and_then(|s| state.sessions.token(&s)) {
                Some(t) => t,
                None => {
                    return Err(unauthorized(
                        "this route needs a token: `Authorization: Bearer <token>` (issued by \
                         `trial-ledger tokens new`), or the session cookie of POST /v1/session",
                    ))
                }
            },
        };
        let Some(token) = state.tokens.find(&text)? else {
            return Err(unauthorized("the token is not known to this server"));
        };
        if let Some(why) = token.refusal(UtcMicros::now()) {
            return Err(unauthorized(why));
        }
        Ok(Caller { token })
    }
}

impl Caller {
    /// 403 unless the caller's role is one of `roles`.
    pub fn require(&self, roles: &[ApiRole], what: &str) -> Result<(), ApiError> {
        if roles.contains(&self.token.role) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        Err(forbidden(format!(
            "the {} role may not read {what}; it takes one of: {}",
            self.token.role.name(),
            names.join(", ")
        )))
    }

    /// The cohort a read is about: the token's own cohort when it is scoped to one (403 for
    /// another), else what was asked for.
    pub fn cohort_scope(&self, asked: Option<&str>) -> Result<Option<String>, ApiError> {
        match (&self.token.cohort, asked) {
            (Some(mine), Some(a)) if mine != a => Err(forbidden(format!(
                "this token is scoped to cohort {mine}; it may not read cohort {a}"
            ))),
            (Some(mine), _) => Ok(Some(mine.clone())),
            (None, a) => Ok(a.map(str::to_string)),
        }
    }

    /// 403 unless a patient of `site` and `cohort` is within the token's scopes.
    pub fn patient_scope(&self, site: Option<&str>, cohort: Option<&str>) -> Result<(), ApiError> {
        if let Some(mine) = &self.token.site {
            if site != Some(mine.as_str()) {
                return Err(forbidden(format!(
                    "this token is scoped to site {mine}; the patient is not one of its patients"
                )));
            }
        }
        if let Some(mine) = &self.token.cohort {
            if cohort != Some(mine.as_str()) {
                return Err(forbidden(format!(
                    "this token is scoped to cohort {mine}; the patient is not in it"
                )));
            }
        }
        Ok(())
    }
}

/// 403: a valid token whose role or scope does not cover the request.
pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// Sessions for browsers (`EventSource` cannot send headers): a random id, held in memory,
/// standing for a token. Each use re-checks the token, so revoking it ends its sessions.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
}

/// How long a session lasts.
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

impl Sessions {
    /// A new session for the token `text`; returns its id.
    pub fn open(&self, text: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < SESSION_TTL);
        map.insert(id.clone(), (text.to_string(), std::time::Instant::now()));
        id
    }

    /// The token a live session stands for.
    pub fn token(&self, id: &str) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(_, at)| at.elapsed() < SESSION_TTL)
            .map(|(t, _)| t.clone())
    }
}

/// One line of the access log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessEntry {
    /// When.
    pub at: UtcMicros,
    /// The token's id (never the token).
    pub token: String,
    /// The person it was issued to.
    pub name: String,
    /// Their API role.
    pub role: ApiRole,
    /// The route, as matched (`/v1/subjects/{subject}/trail`).
    pub route: String,
    /// The subject, cohort or partition read (`patient:P-1`, `cohort:C-1`, `*`).
    pub subject: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// The append-only access log of protected reads (JSON lines, `DIR/access.log`). Each line is
/// written and synced before the answer leaves.
pub struct AccessLog {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl AccessLog {
    /// The log at `path` (created on first use, opened for appending only).
    pub fn new(path: PathBuf) -> Self {
        AccessLog {
            path,
            file: Mutex::new(None),
        }
    }

    /// Appends one read. A log that cannot be written refuses the read (503): a read that
    /// is not recorded must not happen.
    pub fn record(
        &self,
        caller: &Caller,
        route: &str,
        subject: &str,
        status: StatusCode,
    ) -> Result<(), ApiError> {
        let entry = AccessEntry {
            at: UtcMicros::now(),
            token: caller.token.id.clone(),
            name: caller.token.name.clone(),
            role: caller.token.role,
            route: route.to_string(),
            subject: subject.to_string(),
            status: status.as_u16(),
        };
        let mut line = serde_json::to_string(&entry).unwrap_or_default();
        line.push('\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let written = (|| -> std::io::Result<()> {
            if guard.is_none() {
                *guard = Some(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&self.path)?,
                );
            }
            let f = guard.as_mut().expect("opened above");
            f.write_all(line.as_bytes())?;
            f.sync_data()
        })();
        written.map_err(|e| {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the access log");
            *guard = None;
            ApiError::unavailable("the server cannot write its access log; tell its operator")
        })
    }

    /// Every entry of the log at `path` (none if it does not exist).
    pub fn read(path: &Path) -> anyhow::Result<Vec<AccessEntry>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => anyhow::bail!("reading the access log {}: {e}", path.display()),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    anyhow::anyhow!("the access log {} line {}: {e}", path.display(), i + 1)
                })
            })
            .collect()
    }
}

/// The `Set-Cookie` value of a new session: HttpOnly, SameSite=Strict, and `Secure` when the
/// server speaks TLS (a browser then never sends it over plain HTTP). Without TLS the server
/// listens on loopback unless told otherwise, and a `Secure` cookie would not be kept there.
pub fn session_cookie_header(id: &str, tls: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; HttpOnly;{} SameSite=Strict; Path=/; Max-Age={}",
        if tls { " Secure;" } else { "" },
        SESSION_TTL.as_secs()
    )
}

/// The routes of this concern: `POST /v1/session` exchanges a token (bearer header) for a
/// session cookie (HttpOnly, SameSite=Strict, Secure under TLS), for browsers' `EventSource`.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(open_session))
}

/// The answer of `POST /v1/session` (the session itself is the cookie).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionOpened {
    /// The token's id (never the token).
    pub token: String,
    /// The token's API role.
    #[schema(value_type = String, pattern = "^(auditor|sponsor|safety|dsmb|hta|site)$")]
    pub role: ApiRole,
    /// Seconds the session lasts.
    pub expires_in: u64,
}

#[utoipa::path(
    post,
    path = "/v1/session",
    operation_id = "openSession",
    summary = "A session cookie for a bearer token",
    tag = "access",
    description = "Exchanges a bearer token for a session cookie (`tl_session`: HttpOnly, \
                   SameSite=Strict, and Secure when the server speaks TLS) for browsers' \
                   EventSource. Only the \
                   bearer header opens a session; each use re-checks the token.",
    responses(
        (status = 200, description = "The session is open; its id is the cookie", body = SessionOpened,
            headers(("Set-Cookie" = String, description = "`tl_session=<id>; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200`, with `Secure` after `HttpOnly` when the server speaks TLS"))),
        (status = 401, description = "No bearer token, or an unknown, revoked or expired one (`unauthorized`)", body = ErrorBody),
        (status = 503, description = "The token file cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn open_session(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
    caller: Caller,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    // Only a bearer token opens a session (a session does not renew itself).
    let text = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::wire::bearer_token)
        .ok_or_else(|| {
            unauthorized("POST /v1/session takes the token as `Authorization: Bearer <token>`")
        })?;
    let id = state.sessions.open(text);
    let cookie = session_cookie_header(&id, state.tls);
    let body = SessionOpened {
        token: caller.token.id,
        role: caller.token.role,
        expires_in: SESSION_TTL.as_secs(),
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response())
}
