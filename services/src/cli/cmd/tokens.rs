//! `trial-ledger tokens new|list|revoke|log`: the API's read tokens and its access log
//! ([`crate::api::auth`]). The token is printed once by `new`; the file keeps only its SHA-256.

use crate::api::auth::{self, AccessLog, ApiRole, TokenEntry, TokenFile};
use crate::cli::{TokenFiles, TokensCommand, TokensWhere};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tl_schemas::ids::Name;
use tl_schemas::{Date, UtcMicros};

/// The token file: `--tokens FILE`, else `DIR/tokens`.
pub fn token_path(data: Option<&Path>, files: &TokenFiles) -> Result<PathBuf> {
    match (&files.tokens, data) {
        (Some(f), _) => Ok(f.clone()),
        (None, Some(d)) => Ok(d.join("tokens")),
        (None, None) => bail!("give --data DIR (the token file is DIR/tokens) or --tokens FILE"),
    }
}

/// The access log: `--access-log FILE`, else `DIR/access.log`, else beside the token file.
pub fn access_log_path(data: Option<&Path>, files: &TokenFiles) -> Result<PathBuf> {
    match (&files.access_log, data, &files.tokens) {
        (Some(f), _, _) => Ok(f.clone()),
        (None, Some(d), _) => Ok(d.join("access.log")),
        (None, None, Some(t)) => Ok(t.with_file_name("access.log")),
        (None, None, None) => {
            bail!("give --data DIR (the access log is DIR/access.log) or --access-log FILE")
        }
    }
}

fn file_of(at: &TokensWhere) -> Result<PathBuf> {
    token_path(at.data.as_deref(), &at.files)
}

/// Runs `tokens ...`.
pub fn run(c: TokensCommand) -> Result<ExitCode> {
    match c {
        TokensCommand::New {
            at,
            name,
            role,
            cohort,
            site,
            expires,
        } => new(&at, name, &role, cohort, site, expires.as_deref()),
        TokensCommand::List { at, json } => list(&at, json),
        TokensCommand::Revoke { at, id } => revoke(&at, &id),
        TokensCommand::Log { at, json } => log(&at, json),
    }
}

/// Checks an identifier given for a scope.
fn scope_id(flag: &str, text: Option<String>) -> Result<Option<String>> {
    let Some(t) = text else { return Ok(None) };
    Name::new(t.clone()).map_err(|e| anyhow::anyhow!("--{flag} {t:?}: {e}"))?;
    Ok(Some(t))
}

fn new(
    at: &TokensWhere,
    name: String,
    role: &str,
    cohort: Option<String>,
    site: Option<String>,
    expires: Option<&str>,
) -> Result<ExitCode> {
    let path = file_of(at)?;
    let Some(role) = ApiRole::parse(role) else {
        let names: Vec<&str> = ApiRole::ALL.iter().map(|r| r.name()).collect();
        bail!(
            "--role {role:?} is not an API role; use one of: {}",
            names.join(", ")
        );
    };
    if name.trim().is_empty() {
        bail!("--name must name the person the token is issued to");
    }
    let cohort = scope_id("cohort", cohort)?;
    let site = scope_id("site", site)?;
    if role == ApiRole::Site && site.is_none() {
        bail!("a site token needs --site ID: it reads only that site's patients");
    }
    let expires = match expires {
        Some(t) => Some(
            Date::parse(t)
                .ok_or_else(|| anyhow::anyhow!("--expires {t:?} is not a date (YYYY-MM-DD)"))?,
        ),
        None => None,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!(
                "{} is not a folder: give the trial's data folder (--data DIR) or --tokens FILE in an existing folder",
                dir.display()
            );
        }
    }
    let (text, sha256) = auth::new_token();
    let entry = TokenEntry {
        id: auth::new_id(),
        name,
        role,
        cohort,
        site,
        expires,
        created: UtcMicros::now(),
        revoked: None,
        sha256,
    };
    if let Some(why) = entry.refusal(UtcMicros::now()) {
        eprintln!("warning: {why}: the server will refuse it");
    }
    let id = entry.id.clone();
    TokenFile::update(&path, |file| {
        file.tokens.push(entry);
        Ok(())
    })?;
    eprintln!(
        "issued token {id} ({} role) in {}; it is shown only now:",
        role.name(),
        path.display()
    );
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn list(at: &TokensWhere, json: bool) -> Result<ExitCode> {
    let path = file_of(at)?;
    let file = TokenFile::read(&path)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&file.tokens)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = UtcMicros::now();
    println!(
        "{:<12}  {:<8}  {:<10}  {:<10}  {:<10}  {:<30}  name",
        "id", "role", "cohort", "site", "expires", "status"
    );
    for t in &file.tokens {
        let status = match (t.revoked, t.refusal(now)) {
            (Some(at), _) => format!("revoked {at}"),
            (None, Some(_)) => "expired".to_string(),
            (None, None) => "valid".to_string(),
        };
        println!(
            "{:<12}  {:<8}  {:<10}  {:<10}  {:<10}  {:<30}  {}",
            t.id,
            t.role.name(),
            t.cohort.as_deref().unwrap_or("-"),
            t.site.as_deref().unwrap_or("-"),
            t.expires.map_or_else(|| "-".to_string(), |d| d.to_string()),
            status,
            t.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(at: &TokensWhere, id: &str) -> Result<ExitCode> {
    let path = file_of(at)?;
    let shown = path.display().to_string();
    let done = TokenFile::update(&path, |file| {
        let Some(t) = file.tokens.iter_mut().find(|t| t.id == id) else {
            bail!("no token {id:?} in {shown} (see `tokens list`)");
        };
        if let Some(at) = t.revoked {
            return Ok(format!("token {id} was already revoked at {at}"));
        }
        t.revoked = Some(UtcMicros::now());
        Ok(format!(
            "revoked token {id} of {}; a running server refuses it from its next request on",
            t.name
        ))
    })?;
    println!("{done}");
    Ok(ExitCode::SUCCESS)
}

fn log(at: &TokensWhere, json: bool) -> Result<ExitCode> {
    let path = access_log_path(at.data.as_deref(), &at.files)?;
    let entries = AccessLog::read(&path).with_context(|| "printing the access log".to_string())?;
    for e in &entries {
        if json {
            println!("{}", serde_json::to_string(e)?);
        } else {
            println!(
                "{}  {} ({}, token {})  {} {}  -> {}",
                e.at,
                e.name,
                e.role.name(),
                e.token,
                e.route,
                e.subject,
                e.status
            );
        }
    }
    if !json {
        eprintln!("{} reads in {}", entries.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}
