//! `dossier.pdf`: the dossier's `index.html` printed by headless Chromium, where it is
//! installed. The PDF is informative only: `verify-dossier` checks its digest in the manifest
//! but does not recompute it (Chromium's output depends on its version and fonts).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long Chromium may take to print the report before it is stopped and the PDF skipped.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The environment variable naming the Chromium binary to use (instead of a search of `PATH`
/// for `chromium`, `chromium-browser`, `google-chrome`).
pub const CHROMIUM_ENV: &str = "TRIAL_LEDGER_CHROMIUM";

/// The printed PDF and the browser that printed it, or why there is none (in words, for the
/// user and the manifest).
pub type Printed = Result<(Vec<u8>, String), String>;

/// The Chromium binary: `$TRIAL_LEDGER_CHROMIUM`, else the first of `chromium`,
/// `chromium-browser`, `google-chrome` on `PATH`.
fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(CHROMIUM_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{CHROMIUM_ENV}={} is not a file", p.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err("no headless Chromium found (chromium, chromium-browser or google-chrome on PATH)".into())
}

/// Prints `html` to PDF with headless Chromium, in a temporary folder of its own (its
/// profile too, so nothing of the user's is read or written). Never fails the dossier: any
/// problem is returned as the reason the PDF was skipped.
pub fn print(html: &[u8]) -> Printed {
    let browser = chromium()?;
    let tmp = tempfile::tempdir().map_err(|e| format!("a temporary folder for Chromium: {e}"))?;
    let page = tmp.path().join("index.html");
    let pdf = tmp.path().join("dossier.pdf");
    std::fs::write(&page, html).map_err(|e| format!("{}: {e}", page.display()))?;
    let version = Command::new(&browser)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| browser.display().to_string());
    let mut cmd = Command::new(&browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--no-pdf-header-footer",
        "--print-to-pdf-no-header",
    ])
    .arg(format!(
        "--user-data-dir={}",
        tmp.path().join("profile").display()
    ))
    .arg(format!("--print-to-pdf={}", pdf.display()))
    .arg(file_url(&page))
    .env("HOME", tmp.path())
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    run_with_timeout(&mut cmd, TIMEOUT)?;
    let bytes = std::fs::read(&pdf).map_err(|e| format!("{} wrote no PDF ({e})", version))?;
    if !bytes.starts_with(b"%PDF") {
        return Err(format!("{version} wrote a file that is not a PDF"));
    }
    Ok((bytes, version))
}

/// `file://` URL of an absolute path (percent-encoding what a URL path may not hold).
fn file_url(p: &Path) -> String {
    let mut url = String::from("file://");
    for b in p.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Runs `cmd` in a process group of its own; past `timeout` the whole group (Chromium's
/// helpers too) is killed and the PDF skipped.
fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("starting Chromium: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("Chromium exited with {status}")),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Ok(None) => {
                // The group's id is the child's: kill it and its helpers, then reap it.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "Chromium did not finish within {} s and was stopped",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("waiting for Chromium: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_becomes_a_file_url_with_unsafe_bytes_escaped() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/index.html")),
            "file:///tmp/a%20b/index.html"
        );
    }

    #[test]
    fn a_command_past_its_timeout_is_stopped_and_named() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let started = Instant::now();
        let e = run_with_timeout(&mut cmd, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
