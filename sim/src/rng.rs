//! The simulator's only source of randomness: ChaCha20 streams derived from the seed.
//!
//! Every draw goes through [`SimRng`], whose methods are written out here on top of the raw
//! 64-bit output of `ChaCha20Rng` rather than taken from a distribution library, so that the
//! sequence of values a seed gives is fixed by this file alone (and by IEEE-754 arithmetic and
//! the platform's `ln`/`exp`/`cos`, which agree on the machines the project builds on).
//!
//! Streams are split with [`SimRng::fork`]: each patient, the key derivation, each patient's
//! personal data (data key, nonce, synthetic data) and the submission ids have their own
//! stream, so that a change in how many draws one patient takes does not shift every other
//! patient's history.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// A deterministic random stream (ChaCha20).
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha20Rng);

impl SimRng {
    /// The root stream of a seed: ChaCha20 keyed with SHA-256(`tl-sim/v1/seed\0` || u64_be(seed)).
    pub fn from_seed(seed: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"tl-sim/v1/seed\0");
        h.update(seed.to_be_bytes());
        SimRng(ChaCha20Rng::from_seed(h.finalize().into()))
    }

    /// A child stream for `label`: ChaCha20 keyed with SHA-256(`tl-sim/v1/fork\0` || label ||
    /// 0x00 || 32 bytes of this stream). Takes 32 bytes from this stream.
    pub fn fork(&mut self, label: &str) -> SimRng {
        let mut h = Sha256::new();
        h.update(b"tl-sim/v1/fork\0");
        h.update(label.as_bytes());
        h.update([0u8]);
        h.update(self.bytes32());
        SimRng(ChaCha20Rng::from_seed(h.finalize().into()))
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// 32 random bytes (key seeds).
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.0.fill_bytes(&mut b);
        b
    }

    /// 24 random bytes (XChaCha20-Poly1305 nonces of personal data).
    pub fn bytes24(&mut self) -> [u8; 24] {
        let mut b = [0u8; 24];
        self.0.fill_bytes(&mut b);
        b
    }

    /// 16 random bytes (submission ids).
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.0.fill_bytes(&mut b);
        b
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    fn open01(&mut self) -> f64 {
        1.0 - self.f64()
    }

    /// Uniform integer in `lo..=hi` (multiply-shift; the bias is below 2^-32 for any range here).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        let span = (hi - lo) as u64 + 1;
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as i64
    }

    /// Uniform index in `0..n` (`n` > 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.range(0, n as i64 - 1) as usize
    }

    /// Uniform real in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller, one value per call).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.open01();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.open01().ln()
    }

    /// Log-normal with the given median and log-scale standard deviation.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Poisson with a small mean (Knuth's product method).
    pub fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.f64();
        while p > limit {
            k += 1;
            p *= self.f64();
        }
        k
    }

    /// An index drawn with the given non-negative weights (not all zero).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_forks_differ() {
        let mut a = SimRng::from_seed(7);
        let mut b = SimRng::from_seed(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut fa = a.fork("x");
        let mut fb = b.fork("y");
        assert_ne!(fa.next_u64(), fb.next_u64());
        assert_ne!(
            SimRng::from_seed(8).next_u64(),
            SimRng::from_seed(7).next_u64()
        );
    }

    #[test]
    fn draws_stay_in_range_with_plausible_means() {
        let mut r = SimRng::from_seed(1);
        let n = 20_000;
        let mut sum = 0.0;
        let mut normal = 0.0;
        for _ in 0..n {
            let x = r.range(3, 5);
            assert!((3..=5).contains(&x));
            sum += r.exponential(2.0);
            normal += r.normal();
        }
        assert!((sum / n as f64 - 2.0).abs() < 0.1);
        assert!((normal / n as f64).abs() < 0.05);
        let mean_poisson: f64 = (0..n).map(|_| f64::from(r.poisson(3.0))).sum::<f64>() / n as f64;
        assert!((mean_poisson - 3.0).abs() < 0.1);
    }
}
