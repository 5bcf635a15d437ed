// RFC 9162 Merkle trees over record hashes (FORMAT.md §17a): the root of a list of leaves,
// inclusion proofs (§2.1.3.2) and consistency proofs (§2.1.4.2, with FORMAT.md's rules for
// size 0 and equal sizes). Each verifier returns null when the proof holds, else why not.

import { H, equal } from './wire.js';

const node = (l, r) => H(Uint8Array.of(1), l, r);

/** The RFC 9162 root of `leaves` (already leaf hashes). */
export function rootOf(leaves) {
  if (leaves.length === 0) return H('');
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return node(rootOf(leaves.slice(0, k)), rootOf(leaves.slice(k)));
}

/** Inclusion of `leaf` at `index` in the tree of `size` with `root`. */
export function verifyInclusion(leaf, index, size, path, root) {
  if (index >= size) return `index ${index} is beyond the tree of size ${size}`;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return 'the path is too long';
    if (fn % 2 === 1 || fn === sn) {
      r = node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return 'the path is too short';
  return equal(r, root) ? null : 'the path leads to another root';
}

/** Consistency of the tree (m, r1) with the tree (n, r2). */
export function verifyConsistency(m, n, r1, r2, path) {
  if (m > n) return `size ${m} is larger than ${n}`;
  if (m === n) return path.length === 0 && equal(r1, r2) ? null : 'equal sizes with other roots';
  if (m === 0) return path.length === 0 && equal(r1, H('')) ? null : 'a bad proof from size 0';
  let p = path;
  if ((m & (m - 1)) === 0) p = [r1, ...path];
  if (p.length === 0) return 'an empty proof';
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = p[0];
  let sr = p[0];
  for (const c of p.slice(1)) {
    if (sn === 0) return 'the proof is too long';
    if (fn % 2 === 1 || fn === sn) {
      fr = node(c, fr);
      sr = node(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = node(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return 'the proof is too short';
  if (!equal(fr, r1)) return 'the proof does not lead to the older root';
  return equal(sr, r2) ? null : 'the proof does not lead to the newer root';
}
