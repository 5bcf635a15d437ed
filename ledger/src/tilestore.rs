//! The embedded writer's on-disk store of what grows with the ledger (FORMAT.md §17, "Tile
//! store"; non-normative): per partition, every hash of the Merkle tree of its records in
//! Go tlog's stored-hash order (the record hashes, which are the leaves, and every complete
//! subtree's hash: about 64 bytes per record, the hashes C2SP tiles are cut from), and one
//! SQLite index of the seen submission ids. The writer's state keeps only what the last
//! commit left in memory; the snapshot refers to the store instead of carrying them.
//!
//! It is derived data, never an authority. The writer appends to it after each commit, once
//! the records are durable in the log, without an fsync of its own. On open it is trusted up
//! to the snapshot's position only after checks against the snapshot (which is itself tied
//! to the log by the record at its position): the file holds that many leaves, its leaf at
//! the position is the snapshot's record hash, its subtree hashes give the snapshot's Merkle
//! frontier, and the index covers the position. Anything after the position (a torn or
//! damaged tail, or records a crash lost) is overwritten from the records replayed after it.
//! A store that fails a check is not used: the snapshot is ignored, the state is rebuilt
//! from every record, and the store is rewritten from them at the first commit. The open
//! writes nothing: a refused command leaves the folder as it found it.

use crate::merkle::Frontier;
use crate::state::SeenLookup;
use crate::Error;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tl_schemas::{Hash32, SubmissionId};

/// The store's folder in the ledger folder.
pub const STORE_DIR: &str = "store";
/// The seen-id index's file in the store's folder.
const SEEN_FILE: &str = "seen.sqlite";

/// The store's folder of the ledger in `dir`.
pub fn store_dir(dir: &Path) -> PathBuf {
    dir.join(STORE_DIR)
}

/// Where the hash of the complete subtree of `2^level` leaves starting at leaf `n * 2^level`
/// is in a hash file, in hashes (Go tlog's `StoredHashIndex`).
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    tlog_tiles::stored_hash_index(level, n)
}

/// The hash file of partition `p` in the store's folder.
pub fn hashes_path(store: &Path, p: u32) -> PathBuf {
    store.join(format!("hashes-{p:05}"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One partition's hash file.
#[derive(Default)]
struct PartHashes {
    /// The file, once it exists (the open never creates one).
    file: Option<File>,
    /// Leaves this writer trusts: checked against its snapshot, or written by it.
    valid: u64,
    /// The tree's frontier at `valid` leaves (what the next stored hashes are made from).
    frontier: Frontier,
    /// Whether the file may hold bytes after `valid` leaves' hashes (cut at the next append).
    stale_tail: bool,
}

/// The tile store of one embedded writer (see the module documentation).
pub(crate) struct TileStore {
    dir: PathBuf,
    parts: Vec<PartHashes>,
    seen: Arc<SeenIndex>,
}

impl TileStore {
    /// The store of the ledger in `ledger_dir`, trusting nothing yet. Opens what exists,
    /// creates nothing.
    pub(crate) fn open(ledger_dir: &Path) -> Self {
        let dir = store_dir(ledger_dir);
        let seen = Arc::new(SeenIndex::open(&dir.join(SEEN_FILE)));
        TileStore {
            dir,
            parts: Vec::new(),
            seen,
        }
    }

    /// Removes the store of the ledger in `ledger_dir`, if any (a new ledger in a folder that
    /// held an old one).
    pub(crate) fn remove(ledger_dir: &Path) -> Result<(), Error> {
        let dir = store_dir(ledger_dir);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path: dir, source }),
        }
    }

    /// The seen-id index, shared with the writer's state.
    pub(crate) fn seen(&self) -> Arc<SeenIndex> {
        self.seen.clone()
    }

    /// Trusts nothing: every partition is rewritten from its first record at the next append
    /// (after a full replay).
    pub(crate) fn reset(&mut self) {
        for part in &mut self.parts {
            part.valid = 0;
            part.frontier = Frontier::new();
            part.stale_tail = true;
        }
    }

    fn part(&mut self, p: u32) -> &mut PartHashes {
        let i = p as usize;
        if self.parts.len() <= i {
            self.parts.resize_with(i + 1, || PartHashes {
                stale_tail: true,
                ..Default::default()
            });
        }
        &mut self.parts[i]
    }

    /// Leaves of partition `p` this writer trusts.
    pub(crate) fn valid(&self, p: u32) -> u64 {
        self.parts.get(p as usize).map_or(0, |h| h.valid)
    }

    /// The tree's frontier of partition `p` at its trusted leaves.
    pub(crate) fn frontier(&self, p: u32) -> Option<&Frontier> {
        self.parts.get(p as usize).map(|h| &h.frontier)
    }

    /// Checks partition `p` against a snapshot taken at `pos` records whose record hash there
    /// is `head` and whose Merkle frontier is `frontier`; if it holds, trusts its first `pos`
    /// leaves. `Err`: why the store (and so the snapshot) is not to be used.
    pub(crate) fn check(
        &mut self,
        p: u32,
        pos: u64,
        head: Hash32,
        frontier: &Frontier,
    ) -> Result<(), String> {
        let path = hashes_path(&self.dir, p);
        let covered = self.seen.covered(p)?;
        if covered < pos {
            return Err(format!(
                "the seen-id index covers {covered} records of partition {p}, not {pos}"
            ));
        }
        let part = self.part(p);
        part.valid = 0;
        part.frontier = Frontier::new();
        if pos == 0 {
            return Ok(());
        }
        if part.file.is_none() {
            let file = OpenOptions::new().read(true).write(true).open(&path);
            part.file = Some(file.map_err(|e| format!("{}: {e}", path.display()))?);
        }
        let file = part.file.as_ref().expect("opened above");
        let need = 32 * tlog_tiles::stored_hash_count(pos);
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if len < need {
            return Err(format!(
                "its hash file of partition {p} holds {len} bytes, {need} are needed"
            ));
        }
        let leaf = read_hash(file, tlog_tiles::stored_hash_index(0, pos - 1))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if leaf != head {
            return Err(format!(
                "its record hash {}/{} is {leaf}, the snapshot's {head}",
                p,
                pos - 1
            ));
        }
        let stored = frontier_of(file, pos).map_err(|e| format!("{}: {e}", path.display()))?;
        if &stored != frontier {
            return Err(format!(
                "its tree of partition {p} at {pos} records is not the snapshot's"
            ));
        }
        part.valid = pos;
        part.frontier = stored;
        part.stale_tail = len > need;
        Ok(())
    }

    /// The root of partition `p`'s first `size` trusted leaves, read from the file.
    pub(crate) fn root_at(&self, p: u32, size: u64) -> Result<Hash32, String> {
        let part = self
            .parts
            .get(p as usize)
            .filter(|h| size <= h.valid)
            .ok_or_else(|| format!("the store does not hold {size} records of partition {p}"))?;
        match &part.file {
            Some(file) => frontier_of(file, size)
                .map(|f| f.root())
                .map_err(|e| e.to_string()),
            None if size == 0 => Ok(crate::merkle::EMPTY_ROOT),
            None => Err(format!("partition {p} has no hash file")),
        }
    }

    /// Appends the leaves after the trusted ones of partition `p` (`leaves[0]` is leaf
    /// `valid(p)`), with the seen ids of those records, and trusts them. Written, not
    /// synced: the store is checked on open.
    pub(crate) fn append(
        &mut self,
        p: u32,
        leaves: &[Hash32],
        seen: &[(SubmissionId, u64)],
    ) -> Result<(), Error> {
        if leaves.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = hashes_path(&self.dir, p);
        let part = self.part(p);
        if part.file.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_err(&path))?;
            part.file = Some(file);
        }
        let mut frontier = part.frontier.clone();
        let mut bytes = Vec::with_capacity(leaves.len() * 64);
        for leaf in leaves {
            frontier.push_stored(*leaf, |h| bytes.extend_from_slice(&h.0));
        }
        let file = part.file.as_ref().expect("opened above");
        let at = 32 * tlog_tiles::stored_hash_count(part.valid);
        file.write_all_at(&bytes, at).map_err(io_err(&path))?;
        if part.stale_tail {
            file.set_len(at + bytes.len() as u64)
                .map_err(io_err(&path))?;
            part.stale_tail = false;
        }
        let end = part.valid + leaves.len() as u64;
        self.seen.insert(p, seen, end)?;
        let part = self.part(p);
        part.valid = end;
        part.frontier = frontier;
        Ok(())
    }
}

fn read_hash(file: &File, index: u64) -> std::io::Result<Hash32> {
    let mut h = [0u8; 32];
    file.read_exact_at(&mut h, index * 32)?;
    Ok(Hash32(h))
}

/// The frontier of the first `size` leaves, from the complete subtrees' stored hashes.
fn frontier_of(file: &File, size: u64) -> std::io::Result<Frontier> {
    let mut hashes = Vec::with_capacity(size.count_ones() as usize);
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size >> level & 1 == 1 {
            hashes.push(read_hash(
                file,
                tlog_tiles::stored_hash_index(level, start >> level),
            )?);
            start += 1 << level;
        }
    }
    Frontier::from_parts(size, hashes).map_err(std::io::Error::other)
}

/// The index of seen submission ids: one SQLite table of `(partition, id) -> seq`, and how
/// many records of each partition it covers. In WAL mode with `synchronous=NORMAL` and no
/// checkpoint on close: commits are not synced (only SQLite's automatic checkpoints, every
/// thousand pages, are), and a crash at worst loses the last ones, which the coverage check
/// finds.
pub(crate) struct SeenIndex {
    /// The SQLite file (`store/seen.sqlite`).
    path: PathBuf,
    /// The connection, opened on first use: even reading a WAL-mode database rewrites its
    /// `-shm` file, and a writer's open that is refused (a damaged log) must change no byte
    /// in the folder, so nothing touches the index before the log has been accepted.
    conn: Mutex<Conn>,
}

/// The seen-id index's connection state.
enum Conn {
    /// Not opened yet.
    Unopened,
    /// Open.
    Open(Connection),
    /// No file, or one that does not open (it is rebuilt by the next insert).
    Absent,
}

impl Conn {
    /// Opens the index on first use when its file exists (it is never created here).
    fn ensure(&mut self, path: &Path) -> Option<&mut Connection> {
        if matches!(self, Conn::Unopened) {
            *self = match path.exists().then(|| {
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).and_then(tune)
            }) {
                Some(Ok(c)) => Conn::Open(c),
                Some(Err(e)) => {
                    tracing::warn!(path = %path.display(), "the seen-id index does not open (it is rebuilt): {e}");
                    Conn::Absent
                }
                None => Conn::Absent,
            };
        }
        match self {
            Conn::Open(c) => Some(c),
            _ => None,
        }
    }
}

const SCHEMA: &str = "PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS seen (p INTEGER NOT NULL, id BLOB NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (p, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS covered (p INTEGER PRIMARY KEY, n INTEGER NOT NULL);";

/// Sets what SQLite does not keep in the file: no sync per commit (`synchronous` is per
/// connection), and no checkpoint with its fsync when the writer closes.
fn tune(conn: Connection) -> rusqlite::Result<Connection> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    Ok(conn)
}

impl SeenIndex {
    /// The index in `path`, opened on first use if the file exists; else an empty one.
    fn open(path: &Path) -> Self {
        SeenIndex {
            path: path.to_path_buf(),
            conn: Mutex::new(Conn::Unopened),
        }
    }

    fn sql_err(&self, e: rusqlite::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        }
    }

    /// Records of partition `p` the index covers (0: none, or no index).
    fn covered(&self, p: u32) -> Result<u64, String> {
        let mut guard = self.conn.lock().map_err(|_| "the index lock is poisoned")?;
        let Some(conn) = guard.ensure(&self.path) else {
            return Ok(0);
        };
        conn.query_row("SELECT n FROM covered WHERE p = ?1", [p], |r| {
            r.get::<_, i64>(0)
        })
        .optional()
        .map(|n| n.map_or(0, |n| n as u64))
        .map_err(|e| format!("the seen-id index {}: {e}", self.path.display()))
    }

    /// Adds `rows` of partition `p` and sets its coverage to `covered`, in one transaction.
    fn insert(&self, p: u32, rows: &[(SubmissionId, u64)], covered: u64) -> Result<(), Error> {
        let mut guard = self.conn.lock().map_err(|_| Error::Io {
            path: self.path.clone(),
            source: std::io::Error::other("the index lock is poisoned"),
        })?;
        if guard.ensure(&self.path).is_none() {
            let conn = Connection::open(&self.path)
                .and_then(tune)
                .map_err(|e| self.sql_err(e))?;
            conn.execute_batch(SCHEMA).map_err(|e| self.sql_err(e))?;
            *guard = Conn::Open(conn);
        }
        let Some(conn) = guard.ensure(&self.path) else {
            return Err(Error::Io {
                path: self.path.clone(),
                source: std::io::Error::other("the seen-id index did not stay open"),
            });
        };
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        {
            let mut put = tx
                .prepare_cached("INSERT OR REPLACE INTO seen (p, id, seq) VALUES (?1, ?2, ?3)")
                .map_err(|e| self.sql_err(e))?;
            for (id, seq) in rows {
                put.execute(params![p, &id.0[..], *seq as i64])
                    .map_err(|e| self.sql_err(e))?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO covered (p, n) VALUES (?1, ?2)",
                params![p, covered as i64],
            )
            .map_err(|e| self.sql_err(e))?;
        }
        tx.commit().map_err(|e| self.sql_err(e))
    }
}

impl SeenLookup for SeenIndex {
    fn seen(&self, p: u32, id: &SubmissionId) -> Result<Option<u64>, String> {
        let mut guard = self.conn.lock().map_err(|_| "the index lock is poisoned")?;
        let Some(conn) = guard.ensure(&self.path) else {
            return Ok(None);
        };
        let mut get = conn
            .prepare_cached("SELECT seq FROM seen WHERE p = ?1 AND id = ?2")
            .map_err(|e| format!("the seen-id index {}: {e}", self.path.display()))?;
        get.query_row(params![p, &id.0[..]], |r| r.get::<_, i64>(0))
            .optional()
            .map(|s| s.map(|s| s as u64))
            .map_err(|e| format!("the seen-id index {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{root_of, MerkleTree};

    fn leaf(i: u64) -> Hash32 {
        tl_schemas::record::record_hash(&i.to_be_bytes())
    }

    fn id(i: u64) -> SubmissionId {
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&i.to_be_bytes());
        SubmissionId(b)
    }

    #[test]
    fn the_hash_file_is_the_trees_stored_hashes_and_gives_every_root() {
        // given leaves appended in batches of varied sizes
        let dir = tempfile::tempdir().unwrap();
        let mut store = TileStore::open(dir.path());
        let leaves: Vec<Hash32> = (0..300).map(leaf).collect();
        let mut at = 0usize;
        for (k, batch) in [1usize, 2, 3, 7, 1, 64, 100, 122].iter().enumerate() {
            let rows: Vec<_> = (at..at + batch).map(|i| (id(i as u64), i as u64)).collect();
            store.append(1, &leaves[at..at + batch], &rows).unwrap();
            at += batch;
            assert_eq!(store.valid(1), at as u64, "batch {k}");
        }
        // then the file holds exactly the stored hashes of the same tree built in memory
        let tree = MerkleTree::from_leaves(leaves.iter().copied());
        let bytes = std::fs::read(hashes_path(&store_dir(dir.path()), 1)).unwrap();
        assert_eq!(bytes.len() as u64, 32 * tlog_tiles::stored_hash_count(300));
        for (i, l) in leaves.iter().enumerate() {
            let at = 32 * stored_hash_index(0, i as u64) as usize;
            assert_eq!(&bytes[at..at + 32], &l.0[..]);
        }
        // and the root of every size, and the frontier, are those of the leaves
        for n in 0..=300u64 {
            assert_eq!(store.root_at(1, n).unwrap(), root_of(&leaves[..n as usize]));
        }
        assert!(store.root_at(1, 301).is_err());
        assert_eq!(store.frontier(1).unwrap().root(), tree.root());
        // and the seen ids are indexed with their coverage
        assert_eq!(store.seen().seen(1, &id(299)).unwrap(), Some(299));
        assert_eq!(store.seen().seen(0, &id(299)).unwrap(), None);
        assert_eq!(store.seen.covered(1).unwrap(), 300);
    }

    #[test]
    fn a_reopened_store_is_trusted_only_where_it_matches_and_a_stale_tail_is_cut() {
        // given a store of 40 leaves, reopened and checked at 30 against the right frontier
        let dir = tempfile::tempdir().unwrap();
        let leaves: Vec<Hash32> = (0..40).map(leaf).collect();
        let rows: Vec<_> = (0..40).map(|i| (id(i), i)).collect();
        TileStore::open(dir.path())
            .append(0, &leaves, &rows)
            .unwrap();
        let frontier = crate::merkle::Frontier::from_leaves(leaves[..30].iter().copied());
        let mut store = TileStore::open(dir.path());
        store.check(0, 30, leaves[29], &frontier).unwrap();
        assert_eq!(store.valid(0), 30);
        // a wrong head, a wrong frontier, or a position past the file are refused
        let mut other = TileStore::open(dir.path());
        assert!(other.check(0, 30, leaves[28], &frontier).is_err());
        let wrong = crate::merkle::Frontier::from_leaves(leaves[1..31].iter().copied());
        assert!(other.check(0, 30, leaves[29], &wrong).is_err());
        let longer = crate::merkle::Frontier::from_leaves((0..60).map(leaf));
        assert!(other.check(0, 60, leaf(59), &longer).is_err());
        assert_eq!(other.valid(0), 0);
        // when other leaves follow 30, then the file is theirs, the old tail cut
        let new: Vec<Hash32> = (1000..1003).map(leaf).collect();
        store.append(0, &new, &[]).unwrap();
        let mut want: Vec<Hash32> = leaves[..30].to_vec();
        want.extend(&new);
        let bytes = std::fs::read(hashes_path(&store_dir(dir.path()), 0)).unwrap();
        assert_eq!(bytes.len() as u64, 32 * tlog_tiles::stored_hash_count(33));
        assert_eq!(store.root_at(0, 33).unwrap(), root_of(&want));
    }
}
