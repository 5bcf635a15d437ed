//! Python reference tools for tests, each in its own virtual environment under the cargo
//! target directory (never the global site-packages), with pinned requirements.
//!
//! Tests that use them never skip: without `python3`, `venv` or pip's access to PyPI they fail
//! and say which step failed. When `python3 -m venv` fails because the `venv` module (Debian's
//! `python3-venv`) is missing, the helper installs it with apt-get, as `scripts/test` does for
//! its other system packages, and tries once more.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Runs a command; panics with its output when it fails, else returns its stdout.
pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Creates the environment at `venv`; on a missing `venv` module, installs `python3-venv`
/// with apt-get (as root) and tries again.
fn create(venv: &Path) {
    let attempt = || {
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(venv)
            .output()
    };
    let out = attempt().unwrap_or_else(|e| {
        panic!("creating the Python virtual environment: cannot start python3 (install it): {e}")
    });
    if out.status.success() {
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let missing_venv = stderr.contains("ensurepip") || stderr.contains("No module named venv");
    let apt = Path::new("/usr/bin/apt-get").exists();
    assert!(
        missing_venv && apt,
        "creating the Python virtual environment failed ({}):\n{stderr}",
        out.status
    );
    run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "python3-venv"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "installing python3-venv with apt-get (python3 -m venv failed: the venv module is missing)",
    );
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(venv),
        "creating the Python virtual environment after installing python3-venv",
    );
}

/// The python of the virtual environment `name` under the target directory, made once and
/// brought up to the pinned `requirements` (binary wheels only). pip is asked every time, so a
/// changed requirements file takes effect; with everything installed it only checks.
pub fn venv_python(name: &str, requirements: &Path) -> PathBuf {
    // Tests of one binary run on parallel threads: one of them makes the environment.
    static MAKING: Mutex<()> = Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    let venv = target_dir().join(name);
    let python = venv.join("bin/python");
    if !python.exists() {
        create(&venv);
    }
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "-r",
            ])
            .arg(requirements),
        &format!("installing the pinned {}", requirements.display()),
    );
    python
}
