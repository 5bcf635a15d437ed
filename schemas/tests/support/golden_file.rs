//! The golden-vector file check shared by the golden tests of several crates (included with
//! `#[path]`, so it needs no crate of its own): every computed vector is compared with the
//! stored line of that name, always. `GOLDEN_APPEND=1` only adds the lines of names the file
//! does not hold yet; it never skips a comparison, and it is refused when `CI` is set, so CI
//! can neither write vectors nor be switched off by the environment.

// Each including test uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Whether missing vectors may be appended, from the environment.
pub fn append_requested() -> Append {
    Append {
        requested: std::env::var_os("GOLDEN_APPEND").is_some(),
        ci: std::env::var_os("CI").is_some(),
    }
}

/// `GOLDEN_APPEND` and `CI`, as read from the environment (a value, so tests can set it).
#[derive(Clone, Copy, Debug)]
pub struct Append {
    /// `GOLDEN_APPEND` is set.
    pub requested: bool,
    /// `CI` is set.
    pub ci: bool,
}

/// The `name hex` lines of the file (comments and blank lines skipped; a missing file is
/// empty).
pub fn stored(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.trim().to_string()))
        .collect()
}

/// Checks every computed vector against the file at `path`: `Err` lists each name that is
/// missing or differs. With `append.requested` (and not `append.ci`), names missing from the
/// file are appended first; vectors already in the file are compared as always.
pub fn check(path: &Path, computed: &[(&str, Vec<u8>)], append: Append) -> Result<(), String> {
    if append.requested && append.ci {
        return Err(format!(
            "GOLDEN_APPEND is refused when CI is set: CI compares the vectors in {}, it never \
             writes them (append new vectors locally and commit the lines)",
            path.display()
        ));
    }
    let mut stored = stored(path);
    if append.requested {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
        for (name, bytes) in computed {
            if !stored.contains_key(*name) {
                let line = hex::encode(bytes);
                writeln!(f, "{name} {line}")
                    .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
                stored.insert(name.to_string(), line);
            }
        }
    }
    let mut drifted = Vec::new();
    for (name, bytes) in computed {
        match stored.get(*name) {
            None => drifted.push(format!(
                "{name}: missing from {} (GOLDEN_APPEND=1 adds a new vector)",
                path.display()
            )),
            Some(h) if *h != hex::encode(bytes) => drifted.push(format!(
                "{name}: expected {h}\n   got {}",
                hex::encode(bytes)
            )),
            Some(_) => {}
        }
    }
    if drifted.is_empty() {
        Ok(())
    } else {
        Err(format!("frozen encodings drifted:\n{}", drifted.join("\n")))
    }
}
