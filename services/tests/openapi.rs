//! `GET /openapi.json` against the real `trial-ledger serve` on port 0, with a small demo trial
//! in it:
//! - the document is public, OpenAPI 3.1, and valid by `openapi-spec-validator`; it lists every
//!   route the server answers, each error answer as the one error schema, and the two security
//!   schemes;
//! - `schemathesis`, with an `auditor` token and the trial's own subjects, cohorts and cells to
//!   draw parameters from, finds no 5xx, no answer outside its documented schema, status or
//!   content type; the safety stream (which never ends, so schemathesis cannot read it) is
//!   checked here: every event up to `caught-up` is valid against its documented schema.
//!
//! The Python tools are pinned in `tests/openapi/requirements.txt` and installed into
//! `target/py-openapi` ([`tl_tests::python::venv_python`]); without python3, venv or PyPI the
//! test fails, it never skips.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASS: &str = "correct horse";

/// Every operation the server has, as `METHOD path` (the document must list exactly these).
const OPERATIONS: [&str; 25] = [
    "GET /healthz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /readyz",
    "GET /v1/checkpoints",
    "GET /v1/partitions/{partition}/checkpoint",
    "GET /v1/partitions/{partition}/proofs/consistency",
    "GET /v1/partitions/{partition}/proofs/inclusion",
    "GET /v1/partitions/{partition}/records",
    "GET /v1/partitions/{partition}/records/{seq}",
    "GET /v1/partitions/{partition}/records/{seq}/decoded",
    "GET /v1/partitions/{partition}/seals/{coord}",
    "GET /v1/partitions/{partition}/tile/entries/{coord}",
    "GET /v1/partitions/{partition}/tile/{level}/{coord}",
    "GET /v1/safety/stream",
    "GET /v1/subjects/{subject}/bundle",
    "GET /v1/subjects/{subject}/trail",
    "GET /v1/views/dossier/cells",
    "GET /v1/views/enrollment/cells",
    "GET /v1/views/safety/cells",
    "GET /v1/views/safety/tables",
    "GET /v1/views/safety/tables/cells",
    "GET /v1/views/{view}",
    "POST /v1/session",
    "POST /v1/submissions",
];

/// The longest a schemathesis run may take before the test kills it and fails.
const SCHEMATHESIS_LIMIT: Duration = Duration::from_secs(120);

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", PASS)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

fn ok(root: &Path, args: &[&str]) -> String {
    let o = bin().current_dir(root).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A demo trial in `root/d`, served on port 0, with an auditor token.
struct Served {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    server: Child,
    base: String,
    auditor: String,
}

impl Served {
    fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        ok(
            &root,
            &["demo", "--data", "d", "--patients", "30", "--seed", "7"],
        );
        let auditor = ok(
            &root,
            &[
                "tokens",
                "new",
                "--data",
                "d",
                "--name",
                "A. Auditor",
                "--role",
                "auditor",
            ],
        )
        .trim()
        .to_string();
        assert!(auditor.starts_with("tlt_"), "{auditor}");
        let mut server = bin()
            .current_dir(&root)
            .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Served {
            _tmp: tmp,
            root,
            server,
            base,
            auditor,
        }
    }

    /// GET `path`, with the auditor's token when `auth`; the status and the body's text.
    fn get(&self, path: &str, auth: bool) -> (u16, String, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent.get(format!("{}{path}", self.base));
        if auth {
            req = req.header("authorization", format!("Bearer {}", self.auditor));
        }
        let mut res = req.call().unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, ct, res.body_mut().read_to_string().unwrap())
    }

    fn json(&self, path: &str) -> Value {
        let (status, _, text) = self.get(path, true);
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn document(&self) -> Value {
        // Public: no token.
        let (status, ct, text) = self.get("/openapi.json", false);
        assert_eq!(status, 200, "{text}");
        assert!(ct.starts_with("application/json"), "{ct}");
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.server.try_wait(), Ok(None)) {
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
    }
}

/// The virtual environment's python, with openapi-spec-validator and schemathesis.
fn tools() -> PathBuf {
    tl_tests::python::venv_python(
        "py-openapi",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/requirements.txt"),
    )
}

/// What `openapi-spec-validator` says of `doc`: `Ok` or its complaint.
fn validate(python: &Path, dir: &Path, doc: &Value) -> Result<(), String> {
    let file = dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1.0"])
        .arg(&file)
        .output()
        .expect("running openapi-spec-validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

#[test]
fn the_document_is_public_valid_openapi_3_1_and_describes_every_route_and_error() {
    // given the tools and the served demo trial
    let python = tools();
    let s = Served::start();

    // when the document is fetched without a token
    let doc = s.document();

    // then it is OpenAPI 3.1, and openapi-spec-validator accepts it
    assert_eq!(doc["openapi"], "3.1.0");
    validate(&python, &s.root, &doc).unwrap_or_else(|e| panic!("not valid OpenAPI 3.1:\n{e}"));
    // (and the validator does check: a document without its info is refused)
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(validate(&python, &s.root, &broken).is_err());

    // and it lists exactly the server's operations, each answering something other than "no
    // such route"
    let mut listed = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            listed.push(format!("{} {path}", method.to_uppercase()));
            let responses = op["responses"].as_object().unwrap();
            // every 4xx and 5xx is the error schema
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            // a route that needs a token says so, and documents 401
            if let Some(security) = op["security"].as_array().filter(|s| !s.is_empty()) {
                assert!(responses.contains_key("401"), "{method} {path}");
                assert!(
                    security.iter().any(|r| r.get("bearer").is_some()),
                    "{method} {path}"
                );
            }
            // a route with parameters documents each one's place and type
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(p["in"].is_string() && p["schema"].is_object(), "{p}");
            }
        }
    }
    listed.sort();
    assert_eq!(listed, OPERATIONS);
    let (status, _, _) = s.get("/v1/no-such-route", false);
    assert_eq!(status, 404);
    for op in OPERATIONS {
        let (method, path) = op.split_once(' ').unwrap();
        if method == "GET" && !path.contains('{') && path != "/v1/safety/stream" {
            let (status, _, text) = s.get(path, true);
            assert!(status != 404 && status < 500, "{op}: {status} {text}");
        }
    }

    // and the error schema lists the API's codes and the ledger's reason codes
    let codes = &doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"];
    let codes: Vec<&str> = codes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "not-found",
        "unauthorized",
        "forbidden",
        "rate-limited",
        "too-large",
    ] {
        assert!(codes.contains(&c), "{c}");
    }
    for r in tl_ledger::Reason::ALL {
        assert!(codes.contains(&r.code()), "{}", r.code());
    }
    let required = &doc["components"]["schemas"]["ErrorBody"]["required"];
    assert_eq!(required, &serde_json::json!(["code", "message"]));

    // and both ways of presenting a token are security schemes
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "tl_session");
}

/// The schemathesis configuration: dictionaries of the trial's own subjects, a cell of the
/// safety table (cohort, drug, term, grade), cells of the safety board's tables and of the
/// enrollment and dossier views, and the
/// checkpoint cut, which it draws path and query parameters from (part of
/// the time: the rest it generates), so that the 200 answers are reached and checked too.
fn schemathesis_config(s: &Served) -> String {
    // Subjects: the first patient of every partition, and the cohorts that enrolled.
    let partitions = s.json("/v1/checkpoints")["checkpoints"]
        .as_array()
        .unwrap()
        .clone();
    let mut subjects = Vec::new();
    let mut cut = Vec::new();
    for c in &partitions {
        let p = c["partition"].as_u64().unwrap();
        let size: u64 = c["checkpoint"]
            .as_str()
            .and_then(|t| t.lines().nth(1))
            .map_or(0, |n| n.parse().unwrap());
        cut.push(format!("p{p}:{size}"));
        if p > 0 && size > 0 {
            let d = s.json(&format!("/v1/partitions/{p}/records/0/decoded"));
            subjects.push(d["submission"]["subject"].as_str().unwrap().to_string());
        }
    }
    let safety = s.json("/v1/views/safety");
    let cells = safety["by_term"].as_array().unwrap();
    assert!(!cells.is_empty(), "the demo has adverse events");
    let field = |name: &str| -> Vec<Value> {
        let mut v: Vec<Value> = cells.iter().map(|c| c[name].clone()).collect();
        v.retain(|x| !x.is_null());
        v.sort_by_key(|x| x.to_string());
        v.dedup();
        v.truncate(8);
        v
    };
    let cohorts = field("cohort");
    subjects.extend(
        cohorts
            .iter()
            .map(|c| format!("cohort:{}", c.as_str().unwrap())),
    );
    // The cell parameters come from one real cell, so that drawing them together reaches it.
    let cell = cells
        .iter()
        .find(|c| !c["cohort"].is_null() && !c["drug"].is_null())
        .unwrap();
    let one = |name: &str| serde_json::to_string(&[&cell[name]]).unwrap();
    let strings = |v: &[String]| serde_json::to_string(v).unwrap();
    // Cells of the safety board's tables: that cohort's overview counts (their keys are the
    // same with or without the cohort and drug filters).
    let tables = s.json(&format!(
        "/v1/views/safety/tables?cohort={}",
        cell["cohort"].as_str().unwrap()
    ));
    let mut table_cells: Vec<String> = tables["overview"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["cells"][0]["cell"].as_str().map(str::to_string))
        .collect();
    table_cells.truncate(8);
    assert!(!table_cells.is_empty(), "{tables}");
    // And cells of the enrollment and dossier views (a few of each, as the views list them).
    for view in ["enrollment", "dossier"] {
        let v = s.json(&format!("/v1/views/{view}"));
        let keys = v["cells"].as_object().unwrap().keys().take(4).cloned();
        table_cells.extend(keys);
    }
    format!(
        r#"[dictionaries.subjects]
values = {}
[dictionaries.cohorts]
values = {}
[dictionaries.drugs]
values = {}
[dictionaries.terms]
values = {}
[dictionaries.grades]
values = {}
[dictionaries.cuts]
values = {}
[dictionaries.cells]
values = {}

[parameters]
"path.subject" = {{ dictionary = "subjects", probability = 0.8 }}
"query.cohort" = {{ dictionary = "cohorts", probability = 0.6 }}
"query.drug" = {{ dictionary = "drugs", probability = 0.6 }}
"query.term" = {{ dictionary = "terms", probability = 0.8 }}
"query.grade" = {{ dictionary = "grades", probability = 0.8 }}
"query.at" = {{ dictionary = "cuts", probability = 0.3 }}
"query.cell" = {{ dictionary = "cells", probability = 0.8 }}
"#,
        strings(&subjects),
        one("cohort"),
        one("drug"),
        one("ctcae_term"),
        one("grade"),
        strings(&[cut.join(",")]),
        strings(&table_cells),
    )
}

/// Reads the safety stream until its `caught-up` event; the `safety` events' data.
fn stream_history(s: &Served) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let res = agent
        .get(format!("{}/v1/safety/stream", s.base))
        .header("authorization", format!("Bearer {}", s.auditor))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let ct = res.headers().get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let mut events = Vec::new();
    let (mut kind, mut data) = (String::new(), String::new());
    for line in BufReader::new(res.into_body().into_reader()).lines() {
        let line = line.unwrap();
        if let Some(k) = line.strip_prefix("event:") {
            kind = k.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim());
        } else if line.is_empty() {
            // the end of one event
            match kind.as_str() {
                "caught-up" => break,
                "safety" => events.push(serde_json::from_str(&data).unwrap()),
                _ => {}
            }
            kind.clear();
            data.clear();
        }
    }
    events
}

/// Checks `values` against the document's schema `name` with jsonschema (Draft 2020-12, as
/// OpenAPI 3.1 uses); `Err` lists the violations.
fn check_against(python: &Path, dir: &Path, doc: &Value, name: &str, values: &[Value]) {
    let file = dir.join(format!("{name}.json"));
    let input = serde_json::json!({"schema": doc["components"]["schemas"][name], "values": values});
    std::fs::write(&file, input.to_string()).unwrap();
    let script = "import json, sys, jsonschema\n\
                  d = json.load(open(sys.argv[1]))\n\
                  v = jsonschema.Draft202012Validator(d['schema'])\n\
                  bad = [f'{i}: {e.message}' for i, x in enumerate(d['values']) for e in v.iter_errors(x)]\n\
                  print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} values break their schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs schemathesis with `token` on every operation but the stream, at most `examples` per
/// operation and phase; panics with its report unless every check passed. Returns the report.
fn schemathesis(python: &Path, s: &Served, config: &Path, token: &str, examples: u32) -> String {
    let st = python.with_file_name("schemathesis");
    let run_started = Instant::now();
    let mut child = Command::new(&st)
        .current_dir(&s.root)
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(config)
        .args(["run", &format!("{}/openapi.json", s.base)])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,\
             content_type_conformance",
            "--max-examples",
            &examples.to_string(),
            "--seed",
            "2016",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            "--exclude-path",
            "/v1/safety/stream",
            "--no-color",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", st.display()));
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).unwrap();
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if run_started.elapsed() > SCHEMATHESIS_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis took over {SCHEMATHESIS_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let report = reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        status.success(),
        "schemathesis found failures ({status}):\n{report}\n{stderr}"
    );
    // Its warnings (operations it could not reach with valid data, ...) go to the test's log.
    let warnings: Vec<&str> = report.lines().filter(|l| l.contains('⚠')).collect();
    eprintln!(
        "schemathesis ({} examples): {:.1} s; {}",
        examples,
        run_started.elapsed().as_secs_f64(),
        if warnings.is_empty() {
            "no warnings".to_string()
        } else {
            warnings.join("; ")
        }
    );
    report
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    // given the tools, the served demo trial and an auditor token
    let started = Instant::now();
    let python = tools();
    let s = Served::start();
    let doc = s.document();
    let config = s.root.join("schemathesis.toml");
    std::fs::write(&config, schemathesis_config(&s)).unwrap();

    // when schemathesis runs every operation against the live server (the stream excepted: it
    // never ends), a few examples each, reproducibly, as the auditor, who may read everything
    let report = schemathesis(&python, &s, &config, &s.auditor, 25);

    // then every check passed on every operation (every selected one was tested: all but the
    // stream)
    let line = |name: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("no {name} in:\n{report}"))
    };
    let selected = line("Selected:").split('/').next().unwrap().trim();
    assert_eq!(line("Tested:"), selected, "{report}");
    assert!(
        selected.parse::<usize>().unwrap() >= OPERATIONS.len() - 2,
        "{report}"
    );

    // and as a site's investigator, whom most routes refuse: every 403 is documented too
    let site = ok(
        &s.root,
        &[
            "tokens", "new", "--data", "d", "--name", "S. Site", "--role", "site", "--site",
            "NKI-AVL",
        ],
    )
    .trim()
    .to_string();
    schemathesis(&python, &s, &config, &site, 8);
    eprintln!("the test took {:.1} s", started.elapsed().as_secs_f64());

    // and the stream's events, up to caught-up, are what the document says they are
    let events = stream_history(&s);
    assert!(!events.is_empty(), "the demo has adverse events");
    check_against(&python, &s.root, &doc, "SafetyEvent", &events);
    // (a cursor the stream cannot have given, naming a partition the trial lacks, is the
    // documented 400, not a stream from the start)
    let (status, _, text) = s.get("/v1/safety/stream?after=p4294967295:0", true);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("no partition 4294967295"), "{text}");
    let (status, _, _) = s.get("/readyz", false);
    assert_eq!(status, 200, "the server survived the run");
}
