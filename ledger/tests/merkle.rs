//! RFC 9162 behaviour of `tl_ledger::merkle`, checked three ways:
//!
//! 1. against a naive recursive implementation of RFC 9162 §2.1 written here from the RFC's
//!    definitions (`MTH`, `PATH`, `PROOF`/`SUBPROOF`), with SHA-256 directly;
//! 2. against the verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, transcribed step
//!    by step: on every proof for trees of up to 33 leaves, and on their tamperings, our
//!    verifiers and the RFC's give the same verdict;
//! 3. against the reference vectors of transparency-dev's `merkle` library
//!    (github.com/transparency-dev/merkle, `testonly/constants.go` and
//!    `proof/verify_test.go`): tree heads, compact ranges, inclusion and consistency proofs over
//!    the RFC 6962 test leaves.

use sha2::{Digest, Sha256};
use tl_ledger::merkle::{
    self, verify_consistency, verify_inclusion, ConsistencyProof, Frontier, InclusionProof,
    MerkleTree, TransparencyError, EMPTY_ROOT,
};
use tl_schemas::Hash32;

// ---- 1. Naive RFC 9162 §2.1 ------------------------------------------------------------

fn sha256(parts: &[&[u8]]) -> Hash32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash32(h.finalize().into())
}

fn leaf_hash(data: &[u8]) -> Hash32 {
    sha256(&[&[0x00], data])
}

fn node(left: &Hash32, right: &Hash32) -> Hash32 {
    sha256(&[&[0x01], &left.0, &right.0])
}

/// The largest power of two strictly less than `n`.
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])`.
fn mth(d: &[Hash32]) -> Hash32 {
    match d.len() {
        0 => sha256(&[]),
        1 => d[0],
        n => {
            let k = k_of(n);
            node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// `PATH(m, D[n])`.
fn path(m: usize, d: &[Hash32]) -> Vec<Hash32> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// `SUBPROOF(m, D[n], b)`.
fn subproof(m: usize, d: &[Hash32], b: bool) -> Vec<Hash32> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

// ---- 2. RFC 9162 §2.1.3.2 and §2.1.4.2, step by step ----------------------------------

fn rfc_verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    hash: &Hash32,
    inclusion_path: &[Hash32],
    root_hash: &Hash32,
) -> bool {
    // 1.
    if leaf_index >= tree_size {
        return false;
    }
    // 2.
    let mut fn_ = leaf_index;
    let mut sn = tree_size - 1;
    // 3.
    let mut r = *hash;
    // 4.
    for p in inclusion_path {
        // a.
        if sn == 0 {
            return false;
        }
        // b.
        if fn_ & 1 == 1 || fn_ == sn {
            r = node(p, &r);
            if fn_ & 1 == 0 {
                while !(fn_ & 1 == 1 || fn_ == 0) {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        // c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    sn == 0 && r == *root_hash
}

/// For `0 < first < second`, where the RFC defines it.
fn rfc_verify_consistency(
    first: u64,
    second: u64,
    first_hash: &Hash32,
    second_hash: &Hash32,
    consistency_path: &[Hash32],
) -> bool {
    assert!(0 < first && first < second);
    // 1.
    if consistency_path.is_empty() {
        return false;
    }
    // 2.
    let mut path = consistency_path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_hash);
    }
    // 3.
    let mut fn_ = first - 1;
    let mut sn = second - 1;
    // 4.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    let mut fr = path[0];
    let mut sr = path[0];
    // 6.
    for c in &path[1..] {
        // a.
        if sn == 0 {
            return false;
        }
        // b.
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node(c, &fr);
            sr = node(c, &sr);
            if fn_ & 1 == 0 {
                while !(fn_ & 1 == 1 || fn_ == 0) {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node(&sr, c);
        }
        // c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7.
    fr == *first_hash && sr == *second_hash && sn == 0
}

// ---- Tamperings ----------------------------------------------------------------------

fn some_hash() -> Hash32 {
    Hash32::from_hex("abacaba000000000000000000000000000000000000000000060061e00123456").unwrap()
}

fn leaves(n: usize) -> Vec<Hash32> {
    (0..n)
        .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
        .collect()
}

/// Variants of a proof path: every hash with a bit flipped, one hash dropped at either end,
/// one added at either end, and two neighbours swapped.
fn tampered_paths(p: &[Hash32], extra: &[Hash32]) -> Vec<Vec<Hash32>> {
    let mut out = Vec::new();
    for i in 0..p.len() {
        for bit in [0usize, 100, 255] {
            let mut q = p.to_vec();
            q[i].0[bit / 8] ^= 1 << (bit % 8);
            out.push(q);
        }
    }
    if !p.is_empty() {
        out.push(p[1..].to_vec());
        out.push(p[..p.len() - 1].to_vec());
    }
    for e in extra {
        let mut q = p.to_vec();
        q.push(*e);
        out.push(q);
        let mut q = vec![*e];
        q.extend_from_slice(p);
        out.push(q);
    }
    for i in 1..p.len() {
        if p[i] != p[i - 1] {
            let mut q = p.to_vec();
            q.swap(i, i - 1);
            out.push(q);
        }
    }
    out
}

// ---- Tests ---------------------------------------------------------------------------

#[test]
fn roots_match_the_naive_mth() {
    let d = leaves(70);
    let tree = MerkleTree::from_leaves(d.iter().copied());
    let mut frontier = Frontier::new();
    for n in 0..=d.len() {
        let want = mth(&d[..n]);
        assert_eq!(merkle::root_of(&d[..n]), want, "root_of({n})");
        assert_eq!(tree.root_at(n as u64).unwrap(), want, "root_at({n})");
        assert_eq!(frontier.root(), want, "frontier({n})");
        assert_eq!(
            Frontier::from_leaves(d[..n].iter().copied()),
            frontier,
            "from_leaves({n})"
        );
        if n < d.len() {
            frontier.push(d[n]);
        }
    }
    assert_eq!(tree.root(), mth(&d));
    assert_eq!(mth(&[]), EMPTY_ROOT);
}

/// Wrong sizes for a proof of `(x, n)`: with the root of the claimed size (a true tree head
/// of another size) the proof must fail; with the original root, whether it verifies is up to
/// the RFC's algorithm (a path can compute the same root under two sizes, e.g. `(0, 3)` and
/// `(0, 4)`, but then the claimed root is not the claimed size's), and ours must agree.
fn wrong_sizes(n: u64) -> [u64; 4] {
    [n + 1, n - 1, n * 2, n / 2]
}

#[test]
fn every_inclusion_proof_up_to_33_verifies_and_fails_when_tampered() {
    let d = leaves(66);
    let roots: Vec<Hash32> = (0..=66).map(|n| mth(&d[..n])).collect();
    let tree = MerkleTree::from_leaves(d.iter().copied());
    let mut probes = 0;
    for n in 1..=33u64 {
        let root = roots[n as usize];
        for i in 0..n {
            let proof = tree.inclusion_proof(i, n).unwrap();
            assert_eq!(
                proof.path,
                path(i as usize, &d[..n as usize]),
                "PATH({i}, {n})"
            );
            let leaf = d[i as usize];
            proof.verify(&leaf, &root).unwrap();
            assert!(rfc_verify_inclusion(i, n, &leaf, &proof.path, &root));

            // The same path for false claims: rejected by both.
            let mut claims = vec![
                (i.wrapping_sub(1), n, leaf, root),
                (i + 1, n, leaf, root),
                (i ^ 2, n, leaf, root),
                (i, n, some_hash(), root),
                (i, n, leaf, some_hash()),
                (i, n, leaf, EMPTY_ROOT),
                (i, n, leaf, roots[n as usize - 1]),
            ];
            if n > 1 {
                claims.push((i, n, root, leaf));
                claims.push((i, n, d[((i + 1) % n) as usize], root));
            }
            for cn in wrong_sizes(n) {
                claims.push((i, cn, leaf, roots[cn as usize]));
            }
            for (ci, cn, cleaf, croot) in claims {
                let ours = verify_inclusion(&cleaf, ci, cn, &proof.path, &croot);
                assert!(ours.is_err(), "({i}, {n}) accepted claim ({ci}, {cn})");
                assert!(!rfc_verify_inclusion(ci, cn, &cleaf, &proof.path, &croot));
                probes += 1;
            }
            // Another size with the original root: the same verdict as the RFC's.
            for cn in wrong_sizes(n) {
                let ours = verify_inclusion(&leaf, i, cn, &proof.path, &root).is_ok();
                assert_eq!(ours, rfc_verify_inclusion(i, cn, &leaf, &proof.path, &root));
                probes += 1;
            }
            // Tampered paths.
            for p in tampered_paths(&proof.path, &[root, leaf, some_hash()]) {
                let ours = verify_inclusion(&leaf, i, n, &p, &root);
                assert!(ours.is_err(), "({i}, {n}) accepted a tampered path");
                assert!(!rfc_verify_inclusion(i, n, &leaf, &p, &root));
                probes += 1;
            }
        }
    }
    assert!(probes > 10_000, "{probes}");
}

#[test]
fn every_consistency_proof_up_to_33_verifies_and_fails_when_tampered() {
    let d = leaves(66);
    let tree = MerkleTree::from_leaves(d.iter().copied());
    let roots: Vec<Hash32> = (0..=66).map(|n| mth(&d[..n])).collect();
    let mut probes = 0;
    for n in 1..=33u64 {
        for m in 0..=n {
            let proof = tree.consistency_proof(m, n).unwrap();
            let (r1, r2) = (roots[m as usize], roots[n as usize]);
            if m == 0 || m == n {
                assert!(proof.path.is_empty(), "({m}, {n})");
            } else {
                assert_eq!(proof.path, subproof(m as usize, &d[..n as usize], true));
                assert!(rfc_verify_consistency(m, n, &r1, &r2, &proof.path));
            }
            proof.verify(&r1, &r2).unwrap();
            if m == n {
                // Trivial proofs: only the roots can be wrong.
                assert!(verify_consistency(m, n, &r1, &some_hash(), &[]).is_err());
                assert!(verify_consistency(m, n, &some_hash(), &r2, &[]).is_err());
                continue;
            }
            if m == 0 {
                // Any tree extends the empty one; only the empty root can be wrong.
                assert!(verify_consistency(0, n, &some_hash(), &r2, &[]).is_err());
                continue;
            }

            // The same path for false claims: rejected by both.
            let mut claims = vec![
                (m, n, some_hash(), r2),
                (m, n, r1, some_hash()),
                (m, n, r2, r1),
                (m, n, roots[m as usize - 1], r2),
                (m, n, r1, roots[n as usize - 1]),
            ];
            for cm in [m - 1, m + 1, m ^ 2] {
                claims.push((cm, n, roots.get(cm as usize).copied().unwrap_or(r1), r2));
            }
            for cn in wrong_sizes(n) {
                claims.push((m, cn, r1, roots[cn as usize]));
            }
            for (cm, cn, c1, c2) in claims {
                let ours = verify_consistency(cm, cn, &c1, &c2, &proof.path);
                assert!(ours.is_err(), "({m}, {n}) accepted claim ({cm}, {cn})");
                if 0 < cm && cm < cn {
                    assert!(!rfc_verify_consistency(cm, cn, &c1, &c2, &proof.path));
                }
                probes += 1;
            }
            // Other sizes with the original roots: the same verdict as the RFC's.
            let others = [(m - 1, n), (m + 1, n), (m ^ 2, n)]
                .into_iter()
                .chain(wrong_sizes(n).map(|cn| (m, cn)));
            for (cm, cn) in others {
                let ours = verify_consistency(cm, cn, &r1, &r2, &proof.path).is_ok();
                if 0 < cm && cm < cn {
                    let rfc = rfc_verify_consistency(cm, cn, &r1, &r2, &proof.path);
                    assert_eq!(ours, rfc, "({m}, {n}) as ({cm}, {cn})");
                } else {
                    assert!(!ours, "({m}, {n}) as ({cm}, {cn})");
                }
                probes += 1;
            }
            // Tampered paths.
            for p in tampered_paths(&proof.path, &[r1, r2, some_hash()]) {
                assert!(
                    verify_consistency(m, n, &r1, &r2, &p).is_err(),
                    "({m}, {n}) accepted a tampered path"
                );
                assert!(!rfc_verify_consistency(m, n, &r1, &r2, &p));
                probes += 1;
            }
        }
    }
    assert!(probes > 10_000, "{probes}");
}

#[test]
fn verdicts_agree_with_the_rfc_on_a_larger_tree() {
    let d = leaves(1000);
    let tree = MerkleTree::from_leaves(d.iter().copied());
    for n in [1u64, 2, 3, 511, 512, 513, 777, 999, 1000] {
        let root = tree.root_at(n).unwrap();
        assert_eq!(root, mth(&d[..n as usize]));
        for i in (0..n).step_by(37).chain([n - 1]) {
            let p = tree.inclusion_proof(i, n).unwrap();
            assert!(p.verify(&d[i as usize], &root).is_ok());
            assert!(rfc_verify_inclusion(i, n, &d[i as usize], &p.path, &root));
            for q in tampered_paths(&p.path, &[root]) {
                assert!(verify_inclusion(&d[i as usize], i, n, &q, &root).is_err());
                assert!(!rfc_verify_inclusion(i, n, &d[i as usize], &q, &root));
            }
        }
        for m in (1..n).step_by(41) {
            let first = tree.root_at(m).unwrap();
            let p = tree.consistency_proof(m, n).unwrap();
            assert!(p.verify(&first, &root).is_ok());
            assert!(rfc_verify_consistency(m, n, &first, &root, &p.path));
            for q in tampered_paths(&p.path, &[root, first]) {
                assert!(verify_consistency(m, n, &first, &root, &q).is_err());
                assert!(!rfc_verify_consistency(m, n, &first, &root, &q));
            }
        }
    }
}

#[test]
fn edge_sizes() {
    let d = leaves(5);
    let tree = MerkleTree::from_leaves(d.iter().copied());
    let r5 = tree.root();
    // Size 0 is a prefix of everything, with the empty tree's root only.
    assert!(verify_consistency(0, 5, &EMPTY_ROOT, &r5, &[]).is_ok());
    assert!(verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]).is_ok());
    assert_eq!(
        verify_consistency(0, 5, &some_hash(), &r5, &[]),
        Err(TransparencyError::ConsistencyMismatch)
    );
    assert!(matches!(
        verify_consistency(0, 5, &EMPTY_ROOT, &r5, &[EMPTY_ROOT]),
        Err(TransparencyError::ProofLength { .. })
    ));
    // Equal sizes: equal roots and an empty path.
    assert!(verify_consistency(5, 5, &r5, &r5, &[]).is_ok());
    assert_eq!(
        verify_consistency(5, 5, &r5, &some_hash(), &[]),
        Err(TransparencyError::ConsistencyMismatch)
    );
    assert!(matches!(
        verify_consistency(5, 5, &r5, &r5, &[r5]),
        Err(TransparencyError::ProofLength { .. })
    ));
    // Backwards.
    assert!(matches!(
        verify_consistency(5, 4, &r5, &r5, &[]),
        Err(TransparencyError::SizesOutOfOrder { .. })
    ));
    // Inclusion in an empty tree, or past the end.
    assert!(matches!(
        verify_inclusion(&d[0], 0, 0, &[], &EMPTY_ROOT),
        Err(TransparencyError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        verify_inclusion(&d[0], 5, 5, &[], &r5),
        Err(TransparencyError::IndexOutOfRange { .. })
    ));
    // A proof for the wrong index of the right length is a mismatch, not a length error.
    let p = tree.inclusion_proof(0, 5).unwrap();
    assert_eq!(
        verify_inclusion(&d[0], 1, 5, &p.path, &r5),
        Err(TransparencyError::InclusionMismatch)
    );
    // Huge sizes neither panic nor overflow.
    assert!(verify_inclusion(&d[0], u64::MAX - 1, u64::MAX, &[], &r5).is_err());
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &r5, &r5, &[r5]).is_err());
    assert!(verify_consistency(1, u64::MAX, &r5, &r5, &[r5; 64]).is_err());
}

#[test]
fn proofs_round_trip_through_json() {
    let tree = MerkleTree::from_leaves(leaves(9));
    let p = tree.inclusion_proof(3, 9).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.starts_with(r#"{"leaf_index":3,"tree_size":9,"path":[""#));
    assert_eq!(serde_json::from_str::<InclusionProof>(&json).unwrap(), p);
    let c = tree.consistency_proof(3, 9).unwrap();
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<ConsistencyProof>(&json).unwrap(), c);
}

// ---- 3. transparency-dev/merkle reference vectors -------------------------------------

fn h(s: &str) -> Hash32 {
    Hash32::from_hex(s).unwrap()
}

/// `testonly.LeafInputs()`: the RFC 6962 test leaves.
fn reference_leaves() -> Vec<Hash32> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|x| leaf_hash(&hex::decode(x).unwrap()))
    .collect()
}

/// `testonly.RootHashes()`, by tree size from 0.
const REFERENCE_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn reference_tree_heads_and_compact_ranges() {
    let d = reference_leaves();
    // testonly.NodeHashes()[0]: the leaf hashes.
    let level0 = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ];
    assert_eq!(d, level0.map(h));
    let tree = MerkleTree::from_leaves(d.iter().copied());
    for (n, want) in REFERENCE_ROOTS.iter().enumerate() {
        assert_eq!(merkle::root_of(&d[..n]), h(want), "size {n}");
        assert_eq!(tree.root_at(n as u64).unwrap(), h(want), "size {n}");
    }
    // testonly.CompactTrees(): the frontier at each size.
    let n1 = [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ]
    .map(h);
    let n2 = [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    .map(h);
    let n3 = h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
    let n0 = level0.map(h);
    let compact: [Vec<Hash32>; 9] = [
        vec![],
        vec![n0[0]],
        vec![n1[0]],
        vec![n1[0], n0[2]],
        vec![n2[0]],
        vec![n2[0], n0[4]],
        vec![n2[0], n1[2]],
        vec![n2[0], n1[2], n0[6]],
        vec![n3],
    ];
    let mut f = Frontier::new();
    for (n, want) in compact.iter().enumerate() {
        assert_eq!(f.hashes(), &want[..], "frontier at {n}");
        assert_eq!(tree.frontier_at(n as u64).unwrap().hashes(), &want[..]);
        if n < d.len() {
            f.push(d[n]);
        }
    }
}

#[test]
fn reference_inclusion_proofs() {
    let d = reference_leaves();
    let tree = MerkleTree::from_leaves(d.iter().copied());
    // proof/verify_test.go `inclusionProofs`: (1-based leaf, tree size, path).
    let vectors: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            3,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            2,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (leaf, size, want) in vectors {
        let index = leaf - 1;
        let want: Vec<Hash32> = want.iter().map(|x| h(x)).collect();
        let proof = tree.inclusion_proof(index, size).unwrap();
        assert_eq!(proof.path, want, "({index}, {size})");
        let root = h(REFERENCE_ROOTS[size as usize]);
        verify_inclusion(&d[index as usize], index, size, &want, &root).unwrap();
    }
}

#[test]
fn reference_consistency_proofs() {
    let tree = MerkleTree::from_leaves(reference_leaves());
    // proof/verify_test.go `consistencyProofs`: (size1, size2, path).
    let vectors: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (m, n, want) in vectors {
        let want: Vec<Hash32> = want.iter().map(|x| h(x)).collect();
        let proof = tree.consistency_proof(m, n).unwrap();
        assert_eq!(proof.path, want, "({m}, {n})");
        let (r1, r2) = (
            h(REFERENCE_ROOTS[m as usize]),
            h(REFERENCE_ROOTS[n as usize]),
        );
        verify_consistency(m, n, &r1, &r2, &want).unwrap();
        if m < n {
            assert!(rfc_verify_consistency(m, n, &r1, &r2, &want));
        }
    }
}

#[test]
fn complete_subtree_hashes_are_the_naive_mth_of_their_leaves() {
    let d = leaves(300);
    let tree = MerkleTree::from_leaves(d.iter().copied());
    for level in 0..=9u8 {
        let width = 1usize << level;
        for index in 0..=(300 / width) as u64 {
            let (lo, hi) = (index as usize * width, (index as usize + 1) * width);
            let got = tree.subtree_hash(level, index);
            if hi <= d.len() {
                assert_eq!(got, Some(mth(&d[lo..hi])), "level {level} index {index}");
            } else {
                assert_eq!(got, None, "level {level} index {index}");
            }
        }
    }
    assert_eq!(tree.subtree_hash(63, 0), None);
    assert_eq!(tree.subtree_hash(64, 0), None);
    assert_eq!(tree.subtree_hash(8, u64::MAX), None);
}
