//! `trial-ledger dossier` and `verify-dossier` end to end on a small demo: a fresh dossier
//! verifies, its report is self-contained and shows dossier.json's figures, and each tamper of
//! issue 18's acceptance list is caught and named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tl_ledger::bundle::{self, Scope};
use tl_schemas::Subject;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", "correct horse")
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Patients of the demo: enough for positive cohorts, small enough for CI.
const PATIENTS: &str = "300";
const CUTOFF: &str = "2100-01-01";

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn data(&self) -> PathBuf {
        self.root.join("d")
    }
    fn trust(&self) -> PathBuf {
        self.root.join("d/trust.json")
    }
    fn dossier(&self) -> PathBuf {
        self.root.join("dossier")
    }
}

/// One demo and one dossier of every cohort, shared by the tests (each tamper works on a copy).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let o = bin()
            .current_dir(&root)
            .args(["demo", "--data", "d", "--patients", PATIENTS])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let o = bin()
            .current_dir(&root)
            .args([
                "dossier",
                "--data",
                "d",
                "--all",
                "--cutoff",
                CUTOFF,
                "--key",
                "d/keys/admin.key",
                "--trust",
                "d/trust.json",
                "--out",
                "dossier",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        Fixture { _tmp: tmp, root }
    })
}

fn verify(dir: &Path) -> Output {
    bin()
        .args(["verify-dossier"])
        .arg(dir)
        .arg("--trust")
        .arg(fixture().trust())
        .output()
        .unwrap()
}

/// A copy of the fresh dossier to tamper with.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let to = t.path().join("copy");
    copy_dir(&fixture().dossier(), &to);
    (t, to)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn assert_caught(dir: &Path, needle: &str) {
    let o = verify(dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("FAILED") && t.contains(needle),
        "expected {needle:?} in: {t}"
    );
}

#[test]
fn a_fresh_dossier_verifies_and_holds_every_file() {
    let f = fixture();
    let o = verify(&f.dossier());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("recomputed from the evidence and equal"),
        "{}",
        text(&o)
    );
    for file in [
        "dossier.json",
        "index.html",
        "evidence/evidence.bundle",
        "manifest.json",
        "manifest.sig",
        "dossier.pdf",
    ] {
        assert!(f.dossier().join(file).is_file(), "{file}");
    }
    // the manifest names both cut-offs, the protocol, the tool and the signer's manifestation
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dossier().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["clinical_cutoff"], CUTOFF);
    assert!(m["evidence_cut"].as_array().unwrap().len() > 1);
    assert!(m["protocol_version"].is_number());
    assert!(m["tool"].as_str().unwrap().starts_with("trial-ledger "));
    assert_eq!(m["signer"]["role"], "admin");
    assert!(m["signer"]["meaning"]
        .as_str()
        .unwrap()
        .starts_with("approved"));
    assert!(!m["signer"]["name"].as_str().unwrap().is_empty());
    // dossier.json, index.html, the evidence bundle and the CDISC package
    let cdisc: Vec<String> = std::fs::read_dir(f.dossier().join("cdisc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for needed in [
        "define.xml",
        "adtte.json",
        "adsl.json",
        "dm.json",
        "ae.json",
        "rs.json",
    ] {
        assert!(cdisc.iter().any(|n| n == needed), "no cdisc/{needed}");
    }
    let listed = m["files"].as_object().unwrap();
    assert_eq!(listed.len(), 4 + cdisc.len(), "and dossier.pdf");
    assert!(cdisc
        .iter()
        .all(|n| listed.contains_key(&format!("cdisc/{n}"))));
}

/// Changes one value of row `row` (0-based) of a CDISC dataset file in `dir`.
fn change_cdisc_row(dir: &Path, file: &str, row: usize) {
    let p = dir.join("cdisc").join(file);
    let mut d: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let cells = d["rows"][row].as_array_mut().unwrap();
    let i = cells
        .iter()
        .rposition(|c| c.is_string())
        .expect("a text cell");
    cells[i] = format!("{}X", cells[i].as_str().unwrap()).into();
    std::fs::write(&p, serde_json::to_vec(&d).unwrap()).unwrap();
}

#[test]
fn a_changed_adtte_row_or_sdtm_row_is_named() {
    for (file, row) in [("adtte.json", 2), ("ae.json", 0), ("dm.json", 1)] {
        let (_t, dir) = copy();
        change_cdisc_row(&dir, file, row);
        assert_caught(&dir, &format!("cdisc/{file} row {}", row + 1));
    }
}

#[test]
fn the_report_is_self_contained_and_shows_the_json_figures() {
    let f = fixture();
    let html = std::fs::read_to_string(f.dossier().join("index.html")).unwrap();
    // nothing outside the file: no URL but the SVG namespace, no src or href
    let stripped = html.replace("http://www.w3.org/2000/svg", "");
    for needle in [
        "http:", "https:", "src=", "href=", "url(", "@import", "<script", "<link",
    ] {
        assert!(!stripped.contains(needle), "index.html contains {needle:?}");
    }
    // every group's clinical-benefit figure, as dossier.json states it, is in the report
    let d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dossier().join("dossier.json")).unwrap()).unwrap();
    let groups = d["figures"]["groups"].as_array().unwrap();
    assert!(groups.len() > 3);
    for g in groups {
        let r = &g["cbr_evaluable"];
        if r.is_null() {
            continue;
        }
        let shown = format!(
            "{}/{} = {:.1} % (95 % CI {:.1}-{:.1})",
            r["successes"],
            r["trials"],
            100.0 * r["estimate"].as_f64().unwrap(),
            100.0 * r["lower"].as_f64().unwrap(),
            100.0 * r["upper"].as_f64().unwrap()
        );
        assert!(
            html.contains(&shown),
            "{}: {shown} not in the report",
            g["id"]
        );
    }
    // the plots are inline SVG: KM with an at-risk row, waterfall, swimmer, spider, forest
    for title in [
        "PFS: ",
        "OS: ",
        "Duration of response: ",
        "Waterfall: ",
        "Swimmer: ",
        "Spider: ",
        "Clinical benefit by cohort",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert!(html.contains(">at risk<"));
}

#[test]
fn an_existing_out_is_refused_and_left_alone() {
    let f = fixture();
    let o = bin()
        .current_dir(&f.root)
        .args([
            "dossier",
            "--data",
            "d",
            "--all",
            "--cutoff",
            CUTOFF,
            "--key",
            "d/keys/admin.key",
            "--trust",
            "d/trust.json",
            "--out",
            "dossier",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    assert!(verify(&f.dossier()).status.success());
}

#[test]
fn a_changed_number_in_dossier_json_is_named() {
    let (_t, dir) = copy();
    let p = dir.join("dossier.json");
    let mut d: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let n = d["figures"]["groups"][1]["evaluable"].as_u64().unwrap();
    d["figures"]["groups"][1]["evaluable"] = (n + 1).into();
    std::fs::write(&p, serde_json::to_vec_pretty(&d).unwrap()).unwrap();
    assert_caught(&dir, "dossier.json.figures.groups[1].evaluable");
}

#[test]
fn a_flipped_byte_in_any_file_is_caught() {
    for (file, needle) in [
        ("index.html", "index.html"),
        ("evidence/evidence.bundle", "evidence"),
        ("manifest.json", "manifest"),
        ("manifest.sig", "manifest.sig"),
        ("dossier.json", "dossier.json"),
        // informative only, but its digest is the manifest's
        (
            "dossier.pdf",
            "dossier.pdf: its SHA-256 is not the manifest's",
        ),
    ] {
        let (_t, dir) = copy();
        let p = dir.join(file);
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x01;
        std::fs::write(&p, b).unwrap();
        assert_caught(&dir, needle);
    }
}

/// The bundle of a dossier folder.
fn evidence_of(dir: &Path) -> bundle::Bundle {
    bundle::decode_bundle(&std::fs::read(dir.join("evidence/evidence.bundle")).unwrap()).unwrap()
}

/// A patient of the evidence whose records are all in a sparse section (not partition 0).
fn some_patient(b: &bundle::Bundle) -> Subject {
    let Scope::Subjects(list) = &b.scope else {
        panic!("scope {}", b.scope)
    };
    list.iter()
        .rev()
        .find(|s| {
            matches!(s, Subject::Patient(_))
                && tl_schemas::partition_of(&b.trial_id, s, b.partition_count) != 0
        })
        .cloned()
        .unwrap()
}

fn subject_of(r: &bundle::BundleRecord) -> Subject {
    tl_ledger::codec::decode_record(&r.record)
        .unwrap()
        .0
        .body
        .submission
        .submission
        .subject
}

#[test]
fn a_patient_record_deleted_from_the_evidence_is_caught() {
    let (_t, dir) = copy();
    let mut b = evidence_of(&dir);
    let p = some_patient(&b);
    // one of the patient's records (not its first) removed from its section
    let s = b
        .sections
        .iter_mut()
        .find(|s| s.records.iter().filter(|r| subject_of(r) == p).count() > 1)
        .unwrap();
    let i = s.records.iter().position(|r| subject_of(r) == p).unwrap();
    s.records.remove(i);
    std::fs::write(
        dir.join("evidence/evidence.bundle"),
        bundle::encode_bundle(&b),
    )
    .unwrap();
    assert_caught(&dir, "evidence/evidence.bundle");
}

#[test]
fn one_patient_removed_everywhere_and_re_signed_is_given_away_by_the_slot_records() {
    let f = fixture();
    let (_t, dir) = copy();
    let mut b = evidence_of(&dir);
    let p = some_patient(&b);
    // the patient leaves the scope and every record of theirs that no other subject cites
    let Scope::Subjects(list) = &mut b.scope else {
        unreachable!()
    };
    list.retain(|s| *s != p);
    let cited: std::collections::BTreeSet<(u32, u64)> = b
        .sections
        .iter()
        .flat_map(|s| s.records.iter())
        .filter(|r| subject_of(r) != p)
        .flat_map(|r| {
            tl_ledger::codec::decode_record(&r.record)
                .unwrap()
                .0
                .body
                .submission
                .submission
                .cites
        })
        .map(|c| (c.partition, c.seq))
        .collect();
    for s in &mut b.sections {
        let part = s.partition;
        if part != 0 {
            s.records
                .retain(|r| subject_of(r) != p || cited.contains(&(part, r.seq)));
        }
    }
    // and the dossier is recomputed from that evidence and re-signed by the enrolled admin
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let scope = tl_dossier::Scope {
        cohorts: m["cohorts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| tl_schemas::ids::Name::new(c.as_str().unwrap()).unwrap())
            .collect(),
        cutoff: tl_schemas::Date::parse(CUTOFF).unwrap(),
    };
    let admin =
        tl_ledger::keyfile::read_key_file(&f.data().join("keys/admin.key"), "correct horse")
            .unwrap();
    let forged = dir.parent().unwrap().join("forged");
    trial_ledger::cli::cmd::dossier::write_dossier(
        &forged,
        &b,
        &scope,
        trial_ledger::cli::cmd::dossier::SignWith {
            key: &tl_ledger::SigningKey::new(admin.signing_key.clone()),
            signed_at: "2026-12-07T00:00:00Z".into(),
        },
        false,
    )
    .unwrap();
    // then the evidence verifies and the figures agree, but the cohort's slot records name the
    // patient: verify-dossier says who is missing
    let Subject::Patient(name) = &p else {
        unreachable!()
    };
    assert_caught(&forged, &format!("patient {name}"));
    assert_caught(&forged, "a patient left out");
}

#[test]
fn a_manifest_re_signed_with_an_unenrolled_key_is_refused() {
    let (_t, dir) = copy();
    let body = std::fs::read(dir.join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let trial = tl_schemas::TrialId::new(m["trial"].as_str().unwrap()).unwrap();
    let rogue = tl_ledger::SigningKey::from_seed([0x42; 32]);
    let sig = tl_dossier::manifest::sign(&trial, &body, &rogue);
    std::fs::write(dir.join("manifest.sig"), serde_json::to_vec(&sig).unwrap()).unwrap();
    assert_caught(&dir, "is not enrolled");
}

#[test]
fn the_clinical_cutoff_ignores_later_events_and_the_dossier_still_verifies() {
    let f = fixture();
    let full: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dossier().join("dossier.json")).unwrap()).unwrap();
    // given a cut-off at the median first dose of the full dossier
    let mut doses: Vec<String> = full["figures"]["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["first_dose"].as_str().unwrap().to_string())
        .collect();
    doses.sort();
    let cutoff = doses[doses.len() / 2].clone();
    let out = f.root.join("early");
    let o = bin()
        .current_dir(&f.root)
        .args([
            "dossier",
            "--data",
            "d",
            "--all",
            "--cutoff",
            &cutoff,
            "--key",
            "d/keys/admin.key",
            "--trust",
            "d/trust.json",
            "--out",
            "early",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // then it verifies, states the cut-off, and nothing after it counts
    let v = verify(&out);
    assert!(v.status.success(), "{}", text(&v));
    let early: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("dossier.json")).unwrap()).unwrap();
    assert_eq!(early["figures"]["clinical_cutoff"], cutoff.as_str());
    let c = tl_schemas::Date::parse(&cutoff).unwrap();
    let rows = early["figures"]["patients"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.len() < doses.len(),
        "{} of {}",
        rows.len(),
        doses.len()
    );
    for p in rows {
        let first = tl_schemas::Date::parse(p["first_dose"].as_str().unwrap()).unwrap();
        assert!(first <= c, "{}", p["patient"]);
        // survival is censored by the cut-off: no time runs past it
        let max_days = first.days_until(c) as u64;
        assert!(
            p["os_days"].as_u64().unwrap() <= max_days,
            "{}",
            p["patient"]
        );
        assert!(
            p["pfs_days"].as_u64().unwrap() <= max_days,
            "{}",
            p["patient"]
        );
    }
    let events =
        |d: &serde_json::Value| d["figures"]["groups"][0]["os"]["events"].as_u64().unwrap();
    assert!(events(&early) < events(&full));
}

#[test]
fn a_deleted_file_is_named_and_a_non_admin_key_signs_nothing() {
    // a deleted report or evidence bundle is a negative verdict naming it
    for file in ["index.html", "evidence/evidence.bundle", "dossier.json"] {
        let (_t, dir) = copy();
        std::fs::remove_file(dir.join(file)).unwrap();
        assert_caught(&dir, file);
    }
    // the matcher's key is enrolled but not as admin: refused, and nothing is written (its
    // own folder, as the other tests write dossiers beside the demo meanwhile)
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(&f.root)
        .args([
            "dossier",
            "--data",
            "d",
            "--all",
            "--cutoff",
            CUTOFF,
            "--key",
            "d/keys/matcher.key",
            "--trust",
            "d/trust.json",
            "--out",
        ])
        .arg(t.path().join("by-matcher"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("not admin"), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(t.path()).unwrap().count(),
        0,
        "nothing is left behind"
    );
}

#[test]
fn the_pdf_is_printed_by_chromium_and_listed_in_the_manifest() {
    // given a fresh dossier (scripts/test installs Chromium, so the test never skips it)
    let f = fixture();
    let pdf = std::fs::read(f.dossier().join("dossier.pdf")).expect("dossier.pdf is written");
    // then it is a PDF, listed in the manifest with its SHA-256, and the manifest says who
    // printed it and that it is informative only
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    assert!(pdf.len() > 10_000, "{} bytes", pdf.len());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dossier().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["files"]["dossier.pdf"].as_str(),
        Some(tl_dossier::manifest::digest(&pdf).as_str())
    );
    let note = m["pdf"].as_str().unwrap();
    assert!(
        note.contains("printed by") && note.contains("informative only"),
        "{note}"
    );
}

#[test]
fn without_chromium_the_dossier_says_so_and_has_no_pdf() {
    // given no Chromium where the dossier looks for one
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("no-pdf");
    let o = bin()
        .current_dir(&f.root)
        .env("TRIAL_LEDGER_CHROMIUM", t.path().join("no-such-chromium"))
        .args(["dossier", "--data", "d", "--cohort"])
        .arg(first_cohort())
        .args(["--cutoff", CUTOFF, "--key", "d/keys/admin.key"])
        .args(["--trust", "d/trust.json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    // then the dossier is written without the PDF, says so on stderr and in the manifest,
    // and verifies
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("dossier.pdf skipped"), "{err}");
    assert!(!out.join("dossier.pdf").exists());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert!(m["files"].get("dossier.pdf").is_none());
    let note = m["pdf"].as_str().unwrap();
    assert!(
        note.starts_with("no dossier.pdf") && note.contains("no-such-chromium"),
        "{note}"
    );
    let v = verify(&out);
    assert!(v.status.success(), "{}", text(&v));
}

/// The first cohort of the fresh dossier.
fn first_cohort() -> String {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().dossier().join("manifest.json")).unwrap())
            .unwrap();
    m["cohorts"][0].as_str().unwrap().to_string()
}
