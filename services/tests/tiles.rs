//! Each partition as a C2SP tlog-tiles log, end to end: the real `trial-ledger serve` on port
//! 0, read by a real HTTP client. The tree rebuilt from the tiles alone has the root of every
//! checkpoint the ledger ever published; inclusion proofs built from tiles verify; entry
//! bundles hash to the level-0 tiles and, with the seals, are the stored records; entry
//! bundles and JSON come gzip-compressed to a client that accepts it, and are then the same
//! bytes; bad paths are 400 or 404 with the API's JSON error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::merkle::{verify_inclusion, EMPTY_ROOT};
use tl_ledger::SigningKey;
use tl_schemas::{encode, record_hash, Hash32, TrialId};
use tlog_tiles::{HashReader, Tile, TileHashReader, TileReader};

const PASS: &str = "correct horse";
const SEQUENCER_PASS: &str = "sequencer horse";
const TRIAL: &str = "tiles-test";
/// Submissions: enough for two full level-0 tiles, a partial one and a level-1 tile.
const SUBMISSIONS: usize = 600;
const CLIENTS: usize = 8;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", PASS)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQUENCER_PASS)
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

/// `serve` on port 0, killed when dropped (a failed test must not leave it running).
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(root: &Path) -> Self {
        let mut child = bin()
            .current_dir(root)
            .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, base }
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// An answer: status, the headers the tests look at, and the body.
struct Got {
    status: u16,
    content_type: String,
    cache_control: String,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> serde_json::Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "status {}: {} is not JSON",
            self.status,
            self.content_type
        );
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn get(url: &str, bearer: Option<&str>) -> Got {
    let mut req = agent().get(url);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut res = req.call().unwrap();
    let head = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (content_type, cache_control) = (head("content-type"), head("cache-control"));
    Got {
        status: res.status().as_u16(),
        content_type,
        cache_control,
        body: res.body_mut().read_to_vec().unwrap(),
    }
}

/// An answer to a GET with `Accept-Encoding: accept` (none when `None`), its body as sent:
/// status, `Content-Encoding`, `Vary`, `Cache-Control`, and the body, gunzipped (by flate2,
/// not the server's library) when the encoding is gzip. ureq (without its `gzip` feature)
/// neither asks for nor decodes compression by itself.
struct Encoded {
    status: u16,
    encoding: Option<String>,
    vary: String,
    cache_control: String,
    sent: usize,
    body: Vec<u8>,
}

fn get_encoded(url: &str, bearer: Option<&str>, accept: Option<&str>) -> Encoded {
    use std::io::Read;
    let mut req = agent().get(url);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(a) = accept {
        req = req.header("accept-encoding", a);
    }
    let mut res = req.call().unwrap();
    let head = |name: &str| {
        res.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let encoding = Some(head("content-encoding")).filter(|e| !e.is_empty());
    let (vary, cache_control) = (head("vary"), head("cache-control"));
    let status = res.status().as_u16();
    let raw = res.body_mut().read_to_vec().unwrap();
    let body = match encoding.as_deref() {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .expect("a valid gzip stream");
            out
        }
        None => raw.clone(),
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    };
    Encoded {
        status,
        encoding,
        vary,
        cache_control,
        sent: raw.len(),
        body,
    }
}

/// Entry bundles and JSON answers are gzip-compressed for a client whose `Accept-Encoding`
/// allows it, and only then (tlog-tiles: "Entry bundles SHOULD be compressed at the HTTP
/// layer ... any compression algorithm requested by the client with `Accept-Encoding`"); the
/// decompressed bytes are the uncompressed answer's, with the same caching headers and `Vary:
/// Accept-Encoding` on both. Hash tiles (random bytes) are never compressed.
fn check_compression(prefix: &str, bundles: [&str; 2], auditor: &str) {
    let vary = |e: &Encoded| e.vary.to_ascii_lowercase().contains("accept-encoding");
    let json = "records?from=0&limit=300";
    for path in [bundles[0], bundles[1], json] {
        let url = format!("{prefix}/{path}");
        let plain = get_encoded(&url, Some(auditor), None);
        assert_eq!(
            (plain.status, plain.encoding.as_deref()),
            (200, None),
            "{path}"
        );
        assert!(vary(&plain), "{path}: Vary {:?}", plain.vary);
        for accept in ["gzip", "gzip, identity", "br;q=1.0, gzip;q=0.5, *;q=0.1"] {
            let zipped = get_encoded(&url, Some(auditor), Some(accept));
            assert_eq!(zipped.status, 200);
            assert_eq!(zipped.encoding.as_deref(), Some("gzip"), "{path} {accept}");
            assert_eq!(zipped.body, plain.body, "{path}: gunzipped bytes differ");
            assert!(
                zipped.sent < plain.sent,
                "{path}: {} >= {}",
                zipped.sent,
                plain.sent
            );
            assert_eq!(zipped.cache_control, plain.cache_control, "{path}");
            assert!(vary(&zipped), "{path}");
        }
        for accept in ["identity", "gzip;q=0", "br"] {
            let got = get_encoded(&url, Some(auditor), Some(accept));
            assert_eq!(got.encoding, None, "{path} {accept}");
            assert_eq!(got.body, plain.body, "{path} {accept}");
        }
    }
    let tile = format!("{prefix}/tile/0/000");
    let plain = get_encoded(&tile, None, None);
    let asked = get_encoded(&tile, None, Some("gzip"));
    assert_eq!((asked.status, asked.encoding), (200, None));
    assert_eq!(asked.body, plain.body);
    assert_eq!(asked.cache_control, "public, max-age=31536000, immutable");
}

/// A tile's path relative to the log's prefix, in tlog-tiles' spelling (no height, unlike
/// Go's sumdb paths that `Tile::path` writes). Written here from the spec, not taken from
/// the server.
fn c2sp_path(level: &str, index: u64, width: u32) -> String {
    let mut n = index;
    let mut text = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        text = format!("x{:03}/{text}", n % 1000);
    }
    let partial = if width < 256 {
        format!(".p/{width}")
    } else {
        String::new()
    };
    format!("tile/{level}/{text}{partial}")
}

/// Fetches tiles of one partition over HTTP, each path once, and counts the fetches.
struct HttpTiles {
    prefix: String,
    fetched: RefCell<HashMap<String, Vec<u8>>>,
    /// A tile whose first byte is flipped when it is read: a test must be able to fail.
    tamper: Option<String>,
}

impl HttpTiles {
    fn new(prefix: String) -> Self {
        HttpTiles {
            prefix,
            fetched: RefCell::new(HashMap::new()),
            tamper: None,
        }
    }

    fn tile(&self, t: &Tile) -> Vec<u8> {
        let path = c2sp_path(&t.level().to_string(), t.level_index(), t.width());
        let mut data = self
            .fetched
            .borrow_mut()
            .entry(path.clone())
            .or_insert_with(|| {
                let got = get(&format!("{}/{path}", self.prefix), None);
                assert_eq!(
                    got.status,
                    200,
                    "{path}: {}",
                    String::from_utf8_lossy(&got.body)
                );
                assert_eq!(got.content_type, "application/octet-stream", "{path}");
                let expected_cache = if t.width() == 256 {
                    "public, max-age=31536000, immutable"
                } else {
                    "public, max-age=5"
                };
                assert_eq!(got.cache_control, expected_cache, "{path}");
                assert_eq!(got.body.len(), t.width() as usize * 32, "{path}");
                got.body
            })
            .clone();
        if self.tamper.as_deref() == Some(path.as_str()) {
            data[0] ^= 1;
        }
        data
    }
}

impl TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        Ok(tiles.iter().map(|t| self.tile(t)).collect())
    }

    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

/// Stored hashes read from the tiles of the tree of `size`, with no check against any root:
/// the tree as the tiles alone give it.
struct Unchecked<'a> {
    tiles: &'a HttpTiles,
    size: u64,
}

impl HashReader for Unchecked<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                // The narrowest tile holding hash `i`, widened to what the tree of `size` has.
                let tile = Tile::from_index(8, i)
                    .parent(0, self.size)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                tile.hash_at_index(&self.tiles.tile(&tile), i)
            })
            .collect()
    }
}

/// The root of the tree of `size` computed from the tiles alone.
fn root_from_tiles(tiles: &HttpTiles, size: u64) -> Hash32 {
    if size == 0 {
        return EMPTY_ROOT;
    }
    let r = Unchecked { tiles, size };
    Hash32(tlog_tiles::tree_hash(size, &r).unwrap().0)
}

/// Splits an entry bundle into its entries (big-endian uint16 length prefixes).
fn bundle_entries(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "a truncated length prefix");
        let len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        assert!(bytes.len() >= 2 + len, "a truncated entry");
        out.push(bytes[2..2 + len].to_vec());
        bytes = &bytes[2 + len..];
    }
    out
}

fn token(root: &Path, role: &str) -> String {
    ok(
        root,
        &[
            "tokens", "new", "--data", "d", "--name", "T. Tiles", "--role", role,
        ],
    )
    .trim()
    .to_string()
}

#[test]
fn a_partition_rebuilt_from_its_tiles_matches_every_checkpoint_and_proves_inclusion() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(
        root,
        &["init", "--data", "d", "--trial", TRIAL, "--partitions", "1"],
    );
    ok(
        root,
        &[
            "keys",
            "new",
            "--name",
            "Dr. I. Investigator",
            "--role",
            "investigator",
            "--out",
            "investigator.key",
        ],
    );
    ok(
        root,
        &["keys", "enrol", "--data", "d", "investigator.key.pub.json"],
    );
    let trial = TrialId::new(TRIAL).unwrap();
    let investigator = SigningKey::new(
        tl_ledger::keyfile::read_key_file(&root.join("investigator.key"), PASS)
            .unwrap()
            .signing_key,
    );
    let sequencer = SigningKey::new(
        tl_ledger::keyfile::read_key_file(&root.join("d/keys/sequencer.key"), SEQUENCER_PASS)
            .unwrap()
            .signing_key,
    );
    let submissions: Vec<Vec<u8>> = (0..SUBMISSIONS)
        .map(|i| {
            let json = format!(
                r#"{{"event":"PatientRegistered","subject":"patient:T-{i}","payload":{{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}}}"#
            );
            let parsed = trial_ledger::cli::event_json::parse(&json).unwrap();
            encode(&parsed.draft.sign(&trial, &investigator))
        })
        .collect();
    let mut server = Server::start(root);
    let base = server.base.clone();
    let prefix = format!("{base}/v1/partitions/0");

    // Before anything is submitted, the partition's checkpoint (of the registry's records) is
    // served; then clients submit concurrently, so the server publishes checkpoints of many
    // sizes (one after each group commit).
    std::thread::scope(|scope| {
        for mine in submissions.chunks(SUBMISSIONS / CLIENTS) {
            let base = &base;
            scope.spawn(move || {
                for bytes in mine {
                    let mut res = agent()
                        .post(format!("{base}/v1/submissions"))
                        .header("content-type", "application/octet-stream")
                        .send(bytes)
                        .unwrap();
                    let body = res.body_mut().read_to_string().unwrap();
                    assert_eq!(res.status().as_u16(), 201, "{body}");
                }
            });
        }
    });

    // The checkpoint served is the latest the ledger published, with the spec's headers, and
    // it verifies under the sequencer key with this partition's origin.
    let published = tl_ledger::publish::read_published(&root.join("d/ledger"), 0).unwrap();
    assert!(
        published.len() >= 10,
        "only {} checkpoints",
        published.len()
    );
    let latest = published.last().unwrap();
    let got = get(&format!("{prefix}/checkpoint"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "text/plain; charset=utf-8");
    assert_eq!(got.cache_control, "public, max-age=5");
    let note = String::from_utf8(got.body).unwrap();
    assert_eq!(note, latest.text());
    let key_name = tl_ledger::publish::sequencer_key_name(&trial);
    let checkpoint = SignedCheckpoint::parse(&note)
        .unwrap()
        .verify(&key_name, &sequencer.public_key())
        .unwrap()
        .clone();
    assert_eq!(checkpoint.origin, format!("trial-ledger/{TRIAL}/0"));
    let (size, root_hash) = (checkpoint.size, checkpoint.root);
    assert!(size > 512 + 1, "size {size}");

    // Every checkpoint the ledger ever published has the root the tiles alone give.
    let tiles = HttpTiles::new(prefix.clone());
    for c in &published {
        let c = c.verify(&key_name, &sequencer.public_key()).unwrap();
        assert_eq!(
            root_from_tiles(&tiles, c.size),
            c.root,
            "the tiles give another root for the checkpoint of size {}",
            c.size
        );
    }
    // The roots came from tiles fetched over HTTP. (Not one tile per checkpoint: a size that is
    // a multiple of 256 needs no partial tile, and checkpoints share full tiles, so comparing
    // the count with the checkpoints' failed whenever batching made more of them.)
    let fetched = tiles.fetched.borrow().len();
    assert!(fetched >= 3, "{fetched} tiles fetched");
    // Sizes past 512 read the level-1 tile (hashes of full level-0 tiles) and the partial
    // level-0 tile of their size.
    assert!(tiles.fetched.borrow().contains_key("tile/1/000.p/2"));
    assert!(tiles
        .fetched
        .borrow()
        .contains_key(&c2sp_path("0", 2, (size - 512) as u32)));
    // A single flipped bit in one tile gives another root: the comparison can fail.
    let mut tampered = HttpTiles::new(prefix.clone());
    tampered.tamper = Some("tile/1/000.p/2".into());
    assert_ne!(root_from_tiles(&tampered, size), root_hash);

    // Inclusion proofs built from tiles, authenticated against the latest checkpoint, verify
    // and are the server's own proof; a wrong leaf does not verify.
    let reader = TileHashReader::new(size, tlog_tiles::Hash(root_hash.0), &tiles);
    for seq in [0, 1, 255, 256, 300, 511, 512, size - 2, size - 1] {
        let leaf = Hash32(
            reader
                .read_hashes(&[tlog_tiles::stored_hash_index(0, seq)])
                .unwrap()[0]
                .0,
        );
        let path: Vec<Hash32> = tlog_tiles::prove_record(size, seq, &reader)
            .unwrap()
            .into_iter()
            .map(|h| Hash32(h.0))
            .collect();
        verify_inclusion(&leaf, seq, size, &path, &root_hash).unwrap();
        assert!(verify_inclusion(&EMPTY_ROOT, seq, size, &path, &root_hash).is_err());
        let server_proof = get(
            &format!("{prefix}/proofs/inclusion?seq={seq}&size={size}"),
            None,
        )
        .json();
        let server_path: Vec<String> = path.iter().map(|h| h.to_hex()).collect();
        assert_eq!(server_proof["path"], serde_json::json!(server_path));
        assert_eq!(server_proof["record_hash"], leaf.to_hex());
    }
    // Tiles that do not give the checkpoint's root are refused by the authenticated reader.
    let wrong = TileHashReader::new(size, tlog_tiles::Hash(EMPTY_ROOT.0), &tiles);
    assert!(tlog_tiles::prove_record(size, 3, &wrong).is_err());

    // Entry bundles (auditor only): each entry hashes, as FORMAT.md §17c says, to its leaf in
    // the level-0 tile, and entry || seal is the stored record.
    let auditor = token(root, "auditor");
    let records = get(
        &format!("{base}/v1/partitions/0/records?from=0&limit=1000"),
        Some(&auditor),
    )
    .json();
    let records: Vec<Vec<u8>> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| hex::decode(r["bytes"].as_str().unwrap()).unwrap())
        .collect();
    assert!(records.len() as u64 >= size);
    let mut seq = 0u64;
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256) as u32;
        let bundle_path = c2sp_path("entries", n, width);
        let bundle = get(&format!("{prefix}/{bundle_path}"), Some(&auditor));
        assert_eq!(bundle.status, 200, "{bundle_path}");
        assert_eq!(bundle.content_type, "application/octet-stream");
        let entries = bundle_entries(&bundle.body);
        assert_eq!(entries.len(), width as usize, "{bundle_path}");
        let level0 = tiles.tile(&Tile::new(8, 0, n, width, false));
        let seals = get(
            &format!(
                "{prefix}/{}",
                c2sp_path("entries", n, width).replace("tile/entries", "seals")
            ),
            Some(&auditor),
        );
        assert_eq!(seals.status, 200);
        assert_eq!(seals.body.len(), 64 * width as usize);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(record_hash(entry).0[..], level0[i * 32..(i + 1) * 32]);
            let mut record = entry.clone();
            record.extend_from_slice(&seals.body[i * 64..(i + 1) * 64]);
            assert_eq!(record, records[seq as usize], "record {seq}");
            seq += 1;
        }
    }
    assert_eq!(seq, size);
    // The first bundle and the last (partial unless the size is a multiple of 256).
    let last = (size - 1) / 256;
    let last = c2sp_path("entries", last, (size - last * 256) as u32);
    check_compression(&prefix, ["tile/entries/000", &last], &auditor);

    let code = |got: &Got| got.json()["code"].as_str().unwrap_or_default().to_string();
    // Bad paths: 400 for a spelling tlog-tiles does not allow, 404 beyond the checkpoint or the
    // trial, always the API's JSON error.
    for (path, status) in [
        ("tile/0/01", 400),
        ("tile/0/0000", 400),
        ("tile/0/x000/001", 400),
        ("tile/0/x1/000", 400),
        ("tile/00/000", 400),
        ("tile/64/000", 400),
        ("tile/-1/000", 400),
        ("tile/0/000.p/0", 400),
        ("tile/0/000.p/256", 400),
        ("tile/0/000.p/07", 400),
        ("tile/0/000/", 400),
        ("tile/0/x018/x446/x744/x073/x709/x551/616", 400),
        ("tile/0/999", 404),
        ("tile/0/002", 404),
        ("tile/1/000", 404),
        ("tile/63/000", 404),
        ("tile/7/000.p/1", 404),
        ("tile/0/x018/x446/x744/x073/x709/x551/615", 404),
        ("tile/0/000.p/255", 200),
    ] {
        let got = get(&format!("{prefix}/{path}"), None);
        assert_eq!(got.status, status, "{path}");
        if status != 200 {
            let want = if status == 400 {
                "bad-request"
            } else {
                "not-found"
            };
            assert_eq!(code(&got), want, "{path}");
        }
    }
    let beyond = c2sp_path("0", size / 256, (size % 256 + 1) as u32);
    assert_eq!(
        get(&format!("{prefix}/{beyond}"), None).status,
        404,
        "{beyond}"
    );
    for (url, status) in [
        (format!("{base}/v1/partitions/1/checkpoint"), 404),
        (format!("{base}/v1/partitions/1/tile/0/000"), 404),
        (format!("{base}/v1/partitions/99/tile/entries/000"), 404),
        (format!("{base}/v1/partitions/abc/tile/0/000"), 400),
        (format!("{base}/v1/partitions/0/tile/entries/01"), 400),
        (format!("{base}/v1/partitions/0/seals/000.p/0"), 400),
    ] {
        let got = get(&url, Some(&auditor));
        assert_eq!(got.status, status, "{url}");
        assert!(!code(&got).is_empty(), "{url}");
    }
    // Entry bundles and seals carry record content: no token is 401, another role 403.
    let sponsor = token(root, "sponsor");
    for path in ["tile/entries/000", "seals/000"] {
        let got = get(&format!("{prefix}/{path}"), None);
        assert_eq!(got.status, 401, "{path}");
        let got = get(&format!("{prefix}/{path}"), Some(&sponsor));
        assert_eq!(got.status, 403, "{path}");
    }
    // The log grows: the next checkpoint is served, and the tiles follow it (the server reads
    // only the appended checkpoints and hashes only the new records).
    for i in 0..20 {
        let json = format!(
            r#"{{"event":"PatientRegistered","subject":"patient:U-{i}","payload":{{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}}}"#
        );
        let parsed = trial_ledger::cli::event_json::parse(&json).unwrap();
        let res = agent()
            .post(format!("{base}/v1/submissions"))
            .header("content-type", "application/octet-stream")
            .send(&encode(&parsed.draft.sign(&trial, &investigator)))
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
    }
    let newest = tl_ledger::publish::read_published(&root.join("d/ledger"), 0)
        .unwrap()
        .pop()
        .unwrap();
    let got = get(&format!("{prefix}/checkpoint"), None);
    assert_eq!(String::from_utf8(got.body).unwrap(), newest.text());
    let grown = newest.verify(&key_name, &sequencer.public_key()).unwrap();
    assert_eq!(grown.size, size + 20);
    assert_eq!(
        root_from_tiles(&HttpTiles::new(prefix.clone()), grown.size),
        grown.root
    );
    assert_eq!(get(&format!("{prefix}/{beyond}"), None).status, 200);

    // Every granted bundle read is in the access log.
    let log = ok(root, &["tokens", "log", "--data", "d", "--json"]);
    for route in [
        "/v1/partitions/{partition}/tile/entries",
        "/v1/partitions/{partition}/seals",
    ] {
        assert!(log.contains(route), "{route} not in the access log:\n{log}");
    }
    assert!(server.stop().success());
}
