//! Files named on the command line (`export --out`, `checkpoint --save`, `keys new --out`,
//! `init --root-key-out`, ...): never written over what they should not be.
//!
//! * a path inside a data folder's `ledger/`, `keys/` or `keystore/`, or its trust file, is
//!   refused, even with `--force` (a data folder is any ancestor holding `trust.json`, plus
//!   the `--data` folder given);
//! * an existing file is refused unless the command was given `--force`;
//! * the file is written to a temporary file in the same folder, fsynced and renamed into
//!   place, so a reader never sees half of it and a failure leaves nothing behind.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder a file will be written in, resolved (symbolic links followed) so that no
/// spelling of a protected path slips through; it must exist.
fn resolved_parent(out: &Path) -> Result<PathBuf> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parent
        .canonicalize()
        .with_context(|| format!("the folder of {} does not exist", out.display()))
}

/// `path` with symbolic links resolved as far as it exists, and the rest (folders not yet
/// made) taken as written, without `.` or `..`.
fn resolved(path: &Path) -> Result<PathBuf> {
    let mut rest = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                match part {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::Normal(n) => out.push(n),
                    _ => {}
                }
            }
            return Ok(out);
        }
        if existing == Path::new(".") {
            bail!(
                "cannot resolve {}: the current folder is gone",
                path.display()
            );
        }
        let mut components = existing.components();
        let Some(last) = components.next_back() else {
            bail!("cannot resolve {}", path.display());
        };
        rest.push(last);
        existing = components.as_path();
        if existing.as_os_str().is_empty() {
            existing = Path::new(".");
        }
    }
}

/// Refuses `out` if it lies inside a data folder's ledger, keys or key store, or is its trust
/// file: those are written only by the commands that own them.
pub fn refuse_protected(out: &Path, data: Option<&Path>) -> Result<()> {
    if out.file_name().is_none() {
        bail!("{} names a folder, not a file", out.display());
    }
    let target = resolved(out)?;
    let mut folders: Vec<PathBuf> = target
        .ancestors()
        .skip(1)
        .filter(|a| a.join("trust.json").is_file())
        .map(Path::to_path_buf)
        .collect();
    if let Some(d) = data.and_then(|d| resolved(d).ok()) {
        folders.push(d);
    }
    for folder in folders {
        let inside = ["ledger", "keys", "keystore"]
            .iter()
            .any(|sub| target.starts_with(folder.join(sub)));
        if inside || target == folder.join("trust.json") {
            bail!(
                "refusing to write {}: it is inside the trial data folder {} (its ledger, keys, key store or trust file), which only the ledger's own commands write; choose a path outside it",
                out.display(),
                folder.display()
            );
        }
    }
    Ok(())
}

/// Checks `out` before any work is done: not protected, not a folder, and, unless `force`, not
/// an existing file.
pub fn check_new(out: &Path, force: bool, data: Option<&Path>) -> Result<()> {
    refuse_protected(out, data)?;
    if out.is_dir() {
        bail!("{} is a folder; give a file name", out.display());
    }
    if !force && out.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; refusing to overwrite it (give --force to replace it)",
            out.display()
        );
    }
    Ok(())
}

/// Writes `bytes` to `out` after [`check_new`]: through a temporary file in the same folder,
/// fsynced and renamed into place (without `force`, never over a file that appeared
/// meanwhile). On failure nothing is left behind.
pub fn write_new(out: &Path, bytes: &[u8], force: bool, data: Option<&Path>) -> Result<()> {
    check_new(out, force, data)?;
    let dir = resolved_parent(out)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".trial-ledger-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", out.display()))?;
    let persisted = if force {
        tmp.persist(out).map(drop)
    } else {
        tmp.persist_noclobber(out).map(drop)
    };
    persisted.map_err(|e| {
        anyhow::anyhow!(
            "writing {}: {}; nothing was written",
            out.display(),
            e.error
        )
    })?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_folder() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for sub in ["ledger/p00000", "keys", "keystore"] {
            std::fs::create_dir_all(t.path().join("d").join(sub)).unwrap();
        }
        std::fs::write(t.path().join("d/trust.json"), "{}").unwrap();
        std::fs::write(t.path().join("d/ledger/p00000/0.seg"), "records").unwrap();
        t
    }

    #[test]
    fn protected_paths_are_refused_even_with_force() {
        let t = data_folder();
        let d = t.path().join("d");
        for p in [
            "ledger/p00000/0.seg",
            "ledger/new.bundle",
            "keys/x.key",
            "keystore/k",
            "trust.json",
        ] {
            let e = write_new(&d.join(p), b"x", true, None).unwrap_err();
            assert!(
                e.to_string().contains("inside the trial data folder"),
                "{p}: {e}"
            );
        }
        // Another spelling of the same path.
        let sneaky = d.join("keys/../ledger/p00000/0.seg");
        assert!(write_new(&sneaky, b"x", true, None).is_err());
        assert_eq!(
            std::fs::read(d.join("ledger/p00000/0.seg")).unwrap(),
            b"records"
        );
        // Beside the data folder's protected parts is fine.
        write_new(&d.join("out.bundle"), b"x", false, Some(&d)).unwrap();
    }

    #[test]
    fn an_existing_file_needs_force_and_nothing_is_left_behind() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("o");
        write_new(&out, b"one", false, None).unwrap();
        let e = write_new(&out, b"two", false, None).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        write_new(&out, b"two", true, None).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert!(write_new(t.path(), b"x", true, None).is_err());
        let names: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }
}
