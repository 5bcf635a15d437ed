//! RFC 9162 Merkle trees over a partition's records: roots, the incremental frontier, and
//! inclusion and consistency proofs.
//!
//! # The tree
//!
//! The records of one partition, in `seq` order, are the leaves of one RFC 9162 §2.1.1 Merkle
//! tree; the tree of size `n` covers the records `seq 0 .. n`.
//!
//! * The leaf hash is the record hash, used as is. The record hash is already RFC 9162's leaf
//!   hash, `SHA-256(0x00 || canonical(body))` (FORMAT.md §6.2), so the leaves are never hashed
//!   again.
//! * An interior node is `SHA-256(0x01 || left || right)`.
//! * The root of the empty tree is `SHA-256("")` ([`EMPTY_ROOT`]).
//!
//! # What is here
//!
//! * [`root_of`]: the root of a list of leaves (for the first `n` records, pass `&leaves[..n]`).
//! * [`Frontier`]: the O(log n) roots of the tree's maximal complete subtrees (a "compact
//!   range"). It is rebuilt from the leaves, extended one leaf at a time, and gives the current
//!   root. The sequencer keeps one per partition.
//! * [`MerkleTree`]: every leaf and complete-subtree hash, which answers roots of any earlier
//!   size and generates proofs. It holds about two hashes per leaf (64 bytes per record).
//! * [`InclusionProof`] and [`ConsistencyProof`] (RFC 9162 §2.1.3 and §2.1.4), with
//!   [`verify_inclusion`] and [`verify_consistency`].
//!
//! # Implementation
//!
//! Hashing, roots, proof generation and proof verification are the `tlog_tiles` crate's `tlog`
//! module, Cloudflare's port of Go's `golang.org/x/mod/sumdb/tlog`. Its `check_record` and
//! `check_tree` accept exactly the proofs that the verification algorithms of RFC 9162
//! §2.1.3.2 and §2.1.4.2 accept: `tests/merkle.rs` runs those algorithms, transcribed from the
//! RFC, next to ours on every proof of every tree up to 33 leaves and on their tamperings,
//! and checks that they agree. The frontier is ours (`tlog_tiles` has none); it is checked
//! against `tlog_tiles`'s roots and against transparency-dev's compact-range vectors.
//!
//! Before a proof is run, its length is checked against the length RFC 9162 §2.1.3.1 /
//! §2.1.4.1 give for those sizes, so that a wrong length is reported as such
//! ([`TransparencyError::ProofLength`]).
//!
//! # Consistency outside `0 < first < second`
//!
//! RFC 9162 defines consistency proofs for `0 < first < second` only. Like transparency-dev's
//! `merkle` and Go's `tlog`:
//!
//! * `first == second`: the proof is empty, and it verifies when the two roots are equal;
//! * `first == 0`: the empty tree is a prefix of every tree, so the proof is empty. We also
//!   require the first root to be [`EMPTY_ROOT`], which is the only root a tree of size 0 has.

use serde::{Deserialize, Serialize};
use tl_schemas::Hash32;
use tlog_tiles::HashReader as _;

/// The root of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash32 = Hash32(tlog_tiles::EMPTY_HASH.0);

/// What can go wrong with trees, proofs and checkpoints (this module and
/// [`crate::checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransparencyError {
    /// A leaf index at or beyond the tree size: the tree of that size does not contain it.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size larger than the tree built so far.
    #[error("tree size {size} is beyond the {tree_size} leaves known")]
    SizeOutOfRange {
        /// The requested size.
        size: u64,
        /// The number of leaves known.
        tree_size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("consistency from tree size {first} to the smaller size {second}")]
    SizesOutOfOrder {
        /// The first (older) size.
        first: u64,
        /// The second (newer) size.
        second: u64,
    },
    /// A proof with the wrong number of hashes for its sizes.
    #[error("the proof has {actual} hashes where {expected} are needed")]
    ProofLength {
        /// The number of hashes the sizes call for.
        expected: usize,
        /// The number of hashes in the proof.
        actual: usize,
    },
    /// The inclusion proof does not lead from the leaf hash to the root.
    #[error("inclusion proof does not lead from the leaf hash to the root")]
    InclusionMismatch,
    /// The consistency proof does not connect the first root to the second.
    #[error("consistency proof does not connect the two roots")]
    ConsistencyMismatch,
    /// Frontier hashes that cannot be the frontier of a tree of that size.
    #[error("a frontier of a tree of size {size} has {expected} hashes, not {actual}")]
    FrontierShape {
        /// The tree size.
        size: u64,
        /// The number of hashes it needs (the number of one bits in `size`).
        expected: usize,
        /// The number of hashes given.
        actual: usize,
    },
    /// A checkpoint origin that is empty or contains a control character.
    #[error("invalid checkpoint origin {0:?}")]
    InvalidOrigin(String),
    /// A signed-note key name that is empty or contains whitespace or `+`.
    #[error("invalid signed-note key name {0:?}")]
    InvalidKeyName(String),
    /// Public key bytes that are not an Ed25519 point.
    #[error("the public key is not an Ed25519 point")]
    InvalidPublicKey,
    /// The text is not a signed checkpoint (detail in the message).
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// The checkpoint carries no signature by the expected key.
    #[error("the checkpoint has no signature by key {name}+{key_hash:08x}")]
    NoSignature {
        /// The key name.
        name: String,
        /// The signed-note key hash.
        key_hash: u32,
    },
    /// A signature line by the expected key that does not verify.
    #[error("the checkpoint's signature by key {name}+{key_hash:08x} is invalid")]
    BadSignature {
        /// The key name.
        name: String,
        /// The signed-note key hash.
        key_hash: u32,
    },
}

fn to_tlog(h: &Hash32) -> tlog_tiles::Hash {
    tlog_tiles::Hash(h.0)
}

fn from_tlog(h: tlog_tiles::Hash) -> Hash32 {
    Hash32(h.0)
}

fn path_to_tlog(path: &[Hash32]) -> Vec<tlog_tiles::Hash> {
    path.iter().map(to_tlog).collect()
}

/// An interior node's hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    from_tlog(tlog_tiles::node_hash(to_tlog(left), to_tlog(right)))
}

/// The root of the tree whose leaves are `leaves` (RFC 9162's `MTH`), in O(n) time and
/// O(log n) memory. The root of the first `n` records is `root_of(&leaves[..n])`.
pub fn root_of(leaves: &[Hash32]) -> Hash32 {
    Frontier::from_leaves(leaves.iter().copied()).root()
}

/// The largest power of two strictly less than `n`, for `n >= 2` (RFC 9162's `k`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The length of the audit path for `index` in a tree of `size` (RFC 9162 §2.1.3.1), for
/// `index < size`.
fn inclusion_path_len(index: u64, size: u64) -> usize {
    let (mut index, mut size, mut len) = (index, size, 0);
    while size > 1 {
        let k = split_point(size);
        if index < k {
            size = k;
        } else {
            index -= k;
            size -= k;
        }
        len += 1;
    }
    len
}

/// The length of the consistency path from `first` to `second` (RFC 9162 §2.1.4.1's
/// `SUBPROOF(first, D[second], true)`), for `0 < first < second`.
fn consistency_path_len(first: u64, second: u64) -> usize {
    let (mut m, mut n, mut whole, mut len) = (first, second, true, 0);
    while m != n {
        let k = split_point(n);
        if m <= k {
            n = k;
        } else {
            m -= k;
            n -= k;
            whole = false;
        }
        len += 1;
    }
    if whole {
        len
    } else {
        len + 1
    }
}

/// The roots of a tree's maximal complete subtrees, left to right (largest first): what it
/// takes to extend the tree by one leaf and to compute its root. A tree of size `n` has one
/// hash per one bit of `n`, so at most 64.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash32>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of the tree whose leaves are `leaves`, in order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash32>) -> Self {
        let mut f = Self::new();
        for leaf in leaves {
            f.push(leaf);
        }
        f
    }

    /// A frontier from its parts, as returned by [`Frontier::size`] and [`Frontier::hashes`].
    /// Fails when the number of hashes is not the number of one bits in `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash32>) -> Result<Self, TransparencyError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(TransparencyError::FrontierShape {
                size,
                expected,
                actual: hashes.len(),
            });
        }
        Ok(Frontier { size, hashes })
    }

    /// Appends one leaf (a record hash) to the tree.
    pub fn push(&mut self, leaf: Hash32) {
        self.push_stored(leaf, |_| {});
    }

    /// Appends one leaf and hands `stored` each hash the tree gains, in `tlog`'s stored-hash
    /// order: the leaf, then every complete subtree it completes, smallest first (what Go's
    /// `StoredHashesForRecordHash` returns; the tile store appends them).
    pub(crate) fn push_stored(&mut self, leaf: Hash32, mut stored: impl FnMut(Hash32)) {
        // Each trailing one bit of the old size is a complete subtree that the new leaf
        // completes into one twice its size.
        let mut hash = leaf;
        stored(hash);
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("a frontier holds one hash per one bit of its size");
            hash = node_hash(&left, &hash);
            stored(hash);
            size >>= 1;
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete-subtree roots, left to right (largest first).
    pub fn hashes(&self) -> &[Hash32] {
        &self.hashes
    }

    /// The tree's root: the subtree roots folded right to left, or [`EMPTY_ROOT`] for the
    /// empty tree.
    pub fn root(&self) -> Hash32 {
        let mut rest = self.hashes.iter().rev();
        match rest.next() {
            None => EMPTY_ROOT,
            Some(last) => rest.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

/// The hashes a [`MerkleTree`] keeps, in `tlog`'s stored-hash order (every leaf and every
/// complete subtree's root, in the order they are completed).
#[derive(Clone, Debug, Default)]
struct Stored(Vec<tlog_tiles::Hash>);

impl tlog_tiles::HashReader for Stored {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.0.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Stored hashes are only read within a tree size already checked against the tree, where
/// every hash `tlog` asks for is present.
fn stored<T>(r: Result<T, tlog_tiles::Error>) -> T {
    r.expect("tlog reads only stored hashes within the tree")
}

/// A Merkle tree that keeps every leaf and complete-subtree hash (about `2n` hashes), so that
/// it answers the root of any size up to its own and proves inclusion and consistency for
/// them. Build it from a partition's record hashes with [`MerkleTree::from_leaves`].
#[derive(Clone, Debug, Default)]
pub struct MerkleTree {
    size: u64,
    stored: Stored,
}

impl MerkleTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree whose leaves are `leaves` (record hashes), in order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash32>) -> Self {
        let mut t = Self::new();
        for leaf in leaves {
            t.push(leaf);
        }
        t
    }

    /// Appends one leaf (a record hash).
    pub fn push(&mut self, leaf: Hash32) {
        let new = stored(tlog_tiles::stored_hashes_for_record_hash(
            self.size,
            to_tlog(&leaf),
            &self.stored,
        ));
        self.stored.0.extend(new);
        self.size += 1;
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The leaf at `index`, if the tree has it.
    pub fn leaf(&self, index: u64) -> Option<Hash32> {
        if index >= self.size {
            return None;
        }
        let stored_index = tlog_tiles::stored_hash_index(0, index);
        Some(from_tlog(
            stored(self.stored.read_hashes(&[stored_index]))[0],
        ))
    }

    /// The hash of the complete subtree of `2^level` leaves starting at leaf
    /// `index * 2^level` (RFC 9162's `MTH` of those leaves; the leaf itself at level 0), if the
    /// tree holds all of its leaves. A tlog-tiles tile at tile level `L` holds the subtrees of
    /// level `8 * L`.
    pub fn subtree_hash(&self, level: u8, index: u64) -> Option<Hash32> {
        let end = index
            .checked_add(1)?
            .checked_mul(1u64.checked_shl(u32::from(level))?)?;
        if level > 62 || end > self.size {
            return None;
        }
        let stored_index = tlog_tiles::stored_hash_index(level, index);
        Some(from_tlog(
            stored(self.stored.read_hashes(&[stored_index]))[0],
        ))
    }

    fn check_size(&self, size: u64) -> Result<(), TransparencyError> {
        if size > self.size {
            return Err(TransparencyError::SizeOutOfRange {
                size,
                tree_size: self.size,
            });
        }
        Ok(())
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash32 {
        from_tlog(stored(tlog_tiles::tree_hash(self.size, &self.stored)))
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash32, TransparencyError> {
        self.check_size(size)?;
        Ok(from_tlog(stored(tlog_tiles::tree_hash(size, &self.stored))))
    }

    /// The frontier of the tree of the first `size` leaves.
    pub fn frontier_at(&self, size: u64) -> Result<Frontier, TransparencyError> {
        self.check_size(size)?;
        let indexes = tlog_tiles::sub_tree_index(0, size, Vec::new());
        let hashes = stored(self.stored.read_hashes(&indexes));
        Ok(Frontier {
            size,
            hashes: hashes.into_iter().map(from_tlog).collect(),
        })
    }

    /// The inclusion proof of the leaf at `index` in the tree of the first `tree_size` leaves.
    pub fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, TransparencyError> {
        self.check_size(tree_size)?;
        if index >= tree_size {
            return Err(TransparencyError::IndexOutOfRange {
                index,
                size: tree_size,
            });
        }
        let path = stored(tlog_tiles::prove_record(tree_size, index, &self.stored));
        Ok(InclusionProof {
            leaf_index: index,
            tree_size,
            path: path.into_iter().map(from_tlog).collect(),
        })
    }

    /// The consistency proof from the tree of the first `first` leaves to that of the first
    /// `second` leaves. Empty when `first` is 0 or equals `second`.
    pub fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyProof, TransparencyError> {
        self.check_size(second)?;
        if first > second {
            return Err(TransparencyError::SizesOutOfOrder { first, second });
        }
        let path = if first == 0 {
            Vec::new()
        } else {
            stored(tlog_tiles::prove_tree(second, first, &self.stored))
                .into_iter()
                .map(from_tlog)
                .collect()
        };
        Ok(ConsistencyProof {
            first_size: first,
            second_size: second,
            path,
        })
    }
}

/// An inclusion proof (RFC 9162 §2.1.3): the audit path from the leaf at `leaf_index` to the
/// root of the tree of size `tree_size`, bottom up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The leaf's index (the record's `seq`).
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The audit path, from the leaf's sibling up to the root's child.
    pub path: Vec<Hash32>,
}

impl InclusionProof {
    /// Verifies that `leaf` is at `leaf_index` in the tree of size `tree_size` with `root`.
    pub fn verify(&self, leaf: &Hash32, root: &Hash32) -> Result<(), TransparencyError> {
        verify_inclusion(leaf, self.leaf_index, self.tree_size, &self.path, root)
    }
}

/// A consistency proof (RFC 9162 §2.1.4): that the tree of size `first_size` is a prefix of
/// the tree of size `second_size`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The earlier tree size.
    pub first_size: u64,
    /// The later tree size.
    pub second_size: u64,
    /// The consistency path.
    pub path: Vec<Hash32>,
}

impl ConsistencyProof {
    /// Verifies that the tree of size `first_size` with `first_root` is a prefix of the tree
    /// of size `second_size` with `second_root`.
    pub fn verify(
        &self,
        first_root: &Hash32,
        second_root: &Hash32,
    ) -> Result<(), TransparencyError> {
        verify_consistency(
            self.first_size,
            self.second_size,
            first_root,
            second_root,
            &self.path,
        )
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is the leaf at `index` in
/// the tree of size `size` whose root is `root`, by the audit path `path`.
pub fn verify_inclusion(
    leaf: &Hash32,
    index: u64,
    size: u64,
    path: &[Hash32],
    root: &Hash32,
) -> Result<(), TransparencyError> {
    if index >= size {
        return Err(TransparencyError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_path_len(index, size);
    if path.len() != expected {
        return Err(TransparencyError::ProofLength {
            expected,
            actual: path.len(),
        });
    }
    tlog_tiles::check_record(
        &path_to_tlog(path),
        size,
        to_tlog(root),
        index,
        to_tlog(leaf),
    )
    .map_err(|_| TransparencyError::InclusionMismatch)
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): that the tree of size `first` with root
/// `first_root` is a prefix of the tree of size `second` with root `second_root`. See the
/// module documentation for `first == 0` and `first == second`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash32,
    second_root: &Hash32,
    path: &[Hash32],
) -> Result<(), TransparencyError> {
    if first > second {
        return Err(TransparencyError::SizesOutOfOrder { first, second });
    }
    let expected = if first == 0 || first == second {
        0
    } else {
        consistency_path_len(first, second)
    };
    if path.len() != expected {
        return Err(TransparencyError::ProofLength {
            expected,
            actual: path.len(),
        });
    }
    if first == 0 && *first_root != EMPTY_ROOT {
        return Err(TransparencyError::ConsistencyMismatch);
    }
    if first == second {
        return if first_root == second_root {
            Ok(())
        } else {
            Err(TransparencyError::ConsistencyMismatch)
        };
    }
    if first == 0 {
        return Ok(());
    }
    tlog_tiles::check_tree(
        &path_to_tlog(path),
        second,
        to_tlog(second_root),
        first,
        to_tlog(first_root),
    )
    .map_err(|_| TransparencyError::ConsistencyMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Hash32 {
        tl_schemas::record::record_hash(&i.to_be_bytes())
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        use sha2::Digest as _;
        assert_eq!(EMPTY_ROOT.0, <[u8; 32]>::from(sha2::Sha256::digest(b"")));
        assert_eq!(root_of(&[]), EMPTY_ROOT);
        assert_eq!(Frontier::new().root(), EMPTY_ROOT);
        assert_eq!(MerkleTree::new().root(), EMPTY_ROOT);
    }

    #[test]
    fn path_lengths_match_the_generated_proofs() {
        let t = MerkleTree::from_leaves((0..70).map(leaf));
        for n in 1..=70 {
            for i in 0..n {
                let p = t.inclusion_proof(i, n).unwrap();
                assert_eq!(p.path.len(), inclusion_path_len(i, n), "({i}, {n})");
            }
            for m in 1..n {
                let p = t.consistency_proof(m, n).unwrap();
                assert_eq!(p.path.len(), consistency_path_len(m, n), "({m}, {n})");
            }
        }
    }

    #[test]
    fn frontier_matches_tree_and_restores_from_parts() {
        let mut f = Frontier::new();
        let mut t = MerkleTree::new();
        for i in 0..100 {
            assert_eq!(f.root(), t.root());
            assert_eq!(f, t.frontier_at(i).unwrap());
            assert_eq!(f.hashes().len(), i.count_ones() as usize);
            let restored = Frontier::from_parts(f.size(), f.hashes().to_vec()).unwrap();
            assert_eq!(restored, f);
            f.push(leaf(i));
            t.push(leaf(i));
        }
        assert!(matches!(
            Frontier::from_parts(3, vec![leaf(0)]),
            Err(TransparencyError::FrontierShape { .. })
        ));
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let t = MerkleTree::from_leaves((0..5).map(leaf));
        assert_eq!(t.leaf(4), Some(leaf(4)));
        assert_eq!(t.leaf(5), None);
        assert!(matches!(
            t.root_at(6),
            Err(TransparencyError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            t.inclusion_proof(5, 5),
            Err(TransparencyError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            t.inclusion_proof(0, 6),
            Err(TransparencyError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            t.consistency_proof(4, 3),
            Err(TransparencyError::SizesOutOfOrder { .. })
        ));
        assert!(matches!(
            verify_inclusion(&leaf(0), 0, 0, &[], &EMPTY_ROOT),
            Err(TransparencyError::IndexOutOfRange { .. })
        ));
    }
}
