//! The special FFT of CKKS: the canonical embedding restricted to the slots, in O(n log n).
//!
//! For `n` slots (a power of two) let ξ = exp(2πi / 4n) and ζ_j = ξ^(5^j mod 4n), j < n. A
//! real polynomial m(Y) of degree < 2n with coefficients c_0..c_{2n-1} has slot values
//! z_j = m(ζ_j). Because ζ_j^n = i for every j (5^j ≡ 1 mod 4), folding the coefficients into
//! n complex numbers w_k = c_k + i·c_{k+n} gives z_j = Σ_{k<n} w_k ζ_j^k: an n-point transform
//! at the points ζ_j. [`SpecialFft::embed`] computes it, [`SpecialFft::embed_inverse`] undoes it.
//!
//! Derivation of the fast algorithm: split w into even and odd coefficients,
//! w(x) = E(x²) + x·O(x²). The squares ζ_j² are the points of the same transform for n/2 slots
//! (ξ² is a primitive 4·(n/2)-th root), and ζ_{j+n/2} = −ζ_j because 5^(n/2) ≡ 1 + 2n (mod 4n).
//! So z_j = E_j + ζ_j O_j and z_{j+n/2} = E_j − ζ_j O_j: a decimation-in-time butterfly whose
//! twiddle at block size `len` and position j is exp(2πi · (5^j mod 4len) / 4len). The input is
//! taken in bit-reversed order, as in the iterative Cooley–Tukey FFT.
//!
//! Sparse packing: with ring degree N and n < N/2 slots, the plaintext polynomial is
//! m(X^(N/2n)), so the n slots map to the coefficients spaced N/(2n) apart (the encoder does that
//! placement; this module only knows n).

use std::sync::OnceLock;

use num_complex::Complex64;

use crate::error::{Error, Result};

/// Precomputed twiddles for the special FFT with a fixed power-of-two slot count.
#[derive(Debug, Clone)]
pub struct SpecialFft {
    slots: usize,
    /// Twiddles of all butterfly stages, stage with half-size h at offset h - 1.
    twiddles: Vec<Complex64>,
}

impl SpecialFft {
    /// Precomputes the transform for `slots` slots (a power of two, at least 1).
    pub fn new(slots: usize) -> Result<Self> {
        if !slots.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "slot count {slots} is not a power of two"
            )));
        }
        let mut twiddles = Vec::with_capacity(slots.saturating_sub(1));
        let mut half = 1;
        while half < slots {
            let len = 2 * half;
            let modulus = 4 * len;
            let mut power = 1usize; // 5^j mod 4len
            for _ in 0..half {
                twiddles.push(root_of_unity(power, modulus));
                power = (power * 5) % modulus;
            }
            half = len;
        }
        Ok(Self { slots, twiddles })
    }

    /// The slot count this transform was built for.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn check_len(&self, values: &[Complex64]) -> Result<()> {
        if values.len() != self.slots {
            return Err(Error::InvalidInput(format!(
                "special FFT built for {} slots got {} values",
                self.slots,
                values.len()
            )));
        }
        Ok(())
    }

    /// Folded coefficients w (length `slots`) → slot values z_j = Σ_k w_k ζ_j^k, in place.
    pub fn embed(&self, values: &mut [Complex64]) -> Result<()> {
        self.check_len(values)?;
        bit_reverse_permute(values);
        let mut half = 1;
        while half < self.slots {
            let stage = &self.twiddles[half - 1..2 * half - 1];
            for block in values.chunks_exact_mut(2 * half) {
                let (lo, hi) = block.split_at_mut(half);
                for ((u, v), w) in lo.iter_mut().zip(hi.iter_mut()).zip(stage) {
                    let t = *v * w;
                    *v = *u - t;
                    *u += t;
                }
            }
            half *= 2;
        }
        Ok(())
    }

    /// Slot values z → folded coefficients w, in place: the exact inverse of [`Self::embed`].
    pub fn embed_inverse(&self, values: &mut [Complex64]) -> Result<()> {
        self.check_len(values)?;
        let mut half = self.slots / 2;
        while half >= 1 {
            let stage = &self.twiddles[half - 1..2 * half - 1];
            for block in values.chunks_exact_mut(2 * half) {
                let (lo, hi) = block.split_at_mut(half);
                for ((u, v), w) in lo.iter_mut().zip(hi.iter_mut()).zip(stage) {
                    let sum = *u + *v;
                    *v = (*u - *v) * w.conj();
                    *u = sum;
                }
            }
            half /= 2;
        }
        bit_reverse_permute(values);
        let inv = 1.0 / self.slots as f64;
        for v in values.iter_mut() {
            *v *= inv;
        }
        Ok(())
    }
}

/// Largest log2 of a cached slot count (N/2 for N = 2^17, the largest supported ring).
pub const MAX_CACHED_LOG_SLOTS: usize = 16;

/// Process-wide transforms, one per slot count: the twiddles depend only on the slot count,
/// so every encoder and context shares them.
static CACHE: [OnceLock<SpecialFft>; MAX_CACHED_LOG_SLOTS + 1] =
    [const { OnceLock::new() }; MAX_CACHED_LOG_SLOTS + 1];

impl SpecialFft {
    /// The shared transform for `slots` slots (a power of two up to 2^16), built on first use.
    pub fn cached(slots: usize) -> Result<&'static SpecialFft> {
        if !slots.is_power_of_two() || slots > 1 << MAX_CACHED_LOG_SLOTS {
            return Err(Error::InvalidInput(format!(
                "slot count {slots} is not a power of two up to 2^{MAX_CACHED_LOG_SLOTS}"
            )));
        }
        let cell = &CACHE[slots.trailing_zeros() as usize];
        if let Some(fft) = cell.get() {
            return Ok(fft);
        }
        let built = SpecialFft::new(slots)?;
        Ok(cell.get_or_init(|| built))
    }
}

/// exp(2πi · k / m), computed from the reduced angle for accuracy.
fn root_of_unity(k: usize, m: usize) -> Complex64 {
    let angle = 2.0 * std::f64::consts::PI * (k % m) as f64 / m as f64;
    let (sin, cos) = angle.sin_cos();
    Complex64::new(cos, sin)
}

/// Reorders `values` (power-of-two length) by bit-reversed index.
fn bit_reverse_permute(values: &mut [Complex64]) {
    let n = values.len();
    if n < 2 {
        return;
    }
    let shift = usize::BITS - n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> shift;
        if i < j {
            values.swap(i, j);
        }
    }
}

/// The embedding evaluated directly in O(n²): z_j = Σ_k w_k ξ^(5^j·k mod 4n). Reference for
/// tests of [`SpecialFft`].
pub fn embed_naive(coeffs: &[Complex64]) -> Vec<Complex64> {
    let n = coeffs.len();
    let m = 4 * n;
    let mut power = 1usize;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let z = coeffs
            .iter()
            .enumerate()
            .map(|(k, w)| w * root_of_unity(power * k % m, m))
            .sum();
        out.push(z);
        power = power * 5 % m;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn max_err(a: &[Complex64], b: &[Complex64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max)
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<Complex64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        (0..n).map(|_| Complex64::new(next(), next())).collect()
    }

    #[test]
    fn matches_naive_embedding_for_every_small_size() {
        for log_n in 0..=9 {
            let n = 1 << log_n;
            let fft = SpecialFft::new(n).unwrap();
            let w = pseudo_random(n, log_n as u64 + 1);
            let mut z = w.clone();
            fft.embed(&mut z).unwrap();
            let naive = embed_naive(&w);
            // Both sum n terms of magnitude ≤ √2 with rounding ~1e-16 per operation.
            let bound = 1e-13 * n as f64;
            assert!(
                max_err(&z, &naive) < bound,
                "n={n}: {}",
                max_err(&z, &naive)
            );
        }
    }

    #[test]
    fn real_polynomial_evaluates_to_conjugate_pairs() {
        // Check the folding identity against the raw definition: m(Y) real of degree < 2n
        // evaluated at ζ_j equals the transform of w_k = c_k + i c_{k+n}.
        let n = 8;
        let c: Vec<f64> = (0..2 * n).map(|k| (k as f64 * 0.37).sin()).collect();
        let w: Vec<Complex64> = (0..n).map(|k| Complex64::new(c[k], c[k + n])).collect();
        let mut z = w.clone();
        SpecialFft::new(n).unwrap().embed(&mut z).unwrap();
        let mut power = 1usize;
        for zj in &z {
            let zeta = root_of_unity(power, 4 * n);
            let direct: Complex64 = c
                .iter()
                .enumerate()
                .map(|(k, ck)| ck * zeta.powu(k as u32))
                .sum();
            assert!((direct - zj).norm() < 1e-12);
            power = power * 5 % (4 * n);
        }
    }

    #[test]
    fn round_trip_at_full_size() {
        let n = 1 << 15;
        let fft = SpecialFft::new(n).unwrap();
        let z = pseudo_random(n, 99);
        let mut v = z.clone();
        fft.embed_inverse(&mut v).unwrap();
        fft.embed(&mut v).unwrap();
        // Error grows like log2(n) roundings of values of magnitude ~1.
        assert!(max_err(&v, &z) < 1e-13, "{}", max_err(&v, &z));
    }

    #[test]
    fn cache_returns_the_same_transform() {
        let a = SpecialFft::cached(64).unwrap();
        let b = SpecialFft::cached(64).unwrap();
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.slots(), 64);
        assert!(SpecialFft::cached(1 << 17).is_err());
        assert!(SpecialFft::cached(48).is_err());
    }

    #[test]
    fn rejects_wrong_sizes() {
        assert!(SpecialFft::new(12).is_err());
        assert!(SpecialFft::new(0).is_err());
        let fft = SpecialFft::new(8).unwrap();
        let mut short = vec![Complex64::new(0.0, 0.0); 4];
        assert!(fft.embed(&mut short).is_err());
        assert!(fft.embed_inverse(&mut short).is_err());
    }

    proptest! {
        #[test]
        fn inverse_undoes_embed(log_n in 0u32..8, seed in any::<u64>()) {
            let n = 1usize << log_n;
            let fft = SpecialFft::new(n).unwrap();
            let w = pseudo_random(n, seed);
            let mut v = w.clone();
            fft.embed(&mut v).unwrap();
            fft.embed_inverse(&mut v).unwrap();
            prop_assert!(max_err(&v, &w) < 1e-13);
        }
    }
}
