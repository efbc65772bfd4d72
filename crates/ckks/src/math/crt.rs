//! Exact CRT reconstruction of RNS coefficients to centered reals.
//!
//! Decoding needs every bit f64 can hold, so reconstruction is exact: with `Q = Π q_i`,
//! `x = Σ_i [x_i · (Q/q_i)^{-1}]_{q_i} · (Q/q_i) − v·Q` computed in multi-word integers, where
//! `v = floor(Σ_i y_i / q_i)` is estimated in floating point and corrected by one comparison.
//! The centered value (`x − Q` when `x > Q/2`) is then rounded to f64 once.

use super::modulus::Modulus;
use super::poly::{Form, RnsPoly};
use super::ring::RnsRing;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Little-endian multi-word unsigned integer helpers on fixed-length slices.
mod words {
    /// `acc += a * b` (b one word); returns the carry out of the top word.
    pub fn mul_add(acc: &mut [u64], a: &[u64], b: u64) -> u64 {
        let mut carry: u128 = 0;
        for (x, &y) in acc.iter_mut().zip(a) {
            let t = (*x as u128) + (y as u128) * (b as u128) + carry;
            *x = t as u64;
            carry = t >> 64;
        }
        carry as u64
    }

    /// `a -= b`; returns true on borrow.
    pub fn sub(a: &mut [u64], b: &[u64]) -> bool {
        let mut borrow = false;
        for (x, &y) in a.iter_mut().zip(b) {
            let (d1, b1) = x.overflowing_sub(y);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            *x = d2;
            borrow = b1 || b2;
        }
        borrow
    }

    /// `a >= b`.
    pub fn ge(a: &[u64], b: &[u64]) -> bool {
        for (x, y) in a.iter().zip(b).rev() {
            if x != y {
                return x > y;
            }
        }
        true
    }

    /// Nearest f64 of the integer.
    pub fn to_f64(a: &[u64]) -> f64 {
        a.iter()
            .rev()
            .fold(0.0f64, |acc, &w| acc * 18446744073709551616.0 + w as f64)
    }

    /// Product of words as a multi-word integer of `len` words.
    pub fn product(factors: &[u64], len: usize) -> Vec<u64> {
        let mut out = vec![0u64; len];
        out[0] = 1;
        for &f in factors {
            let mut tmp = vec![0u64; len];
            mul_add(&mut tmp, &out, f);
            out = tmp;
        }
        out
    }
}

/// Precomputed constants for reconstructing residues modulo a list of primes.
#[derive(Debug, Clone)]
pub struct CrtReconstructor {
    moduli: Vec<Modulus>,
    words: usize,
    q: Vec<u64>,
    half_q: Vec<u64>,
    punctured: Vec<Vec<u64>>,
    inv_punctured: Vec<u64>,
}

impl CrtReconstructor {
    /// Constants for the given primes.
    pub fn new(moduli: &[Modulus]) -> Self {
        let words = moduli.len() + 1;
        let values: Vec<u64> = moduli.iter().map(|m| m.value()).collect();
        let q = words::product(&values, words);
        let mut half_q = q.clone();
        // half_q = floor(Q / 2)
        let mut carry = 0u64;
        for w in half_q.iter_mut().rev() {
            let next = *w & 1;
            *w = (*w >> 1) | (carry << 63);
            carry = next;
        }
        let mut punctured = Vec::with_capacity(moduli.len());
        let mut inv_punctured = Vec::with_capacity(moduli.len());
        for (i, m) in moduli.iter().enumerate() {
            let others: Vec<u64> = values
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &v)| v)
                .collect();
            punctured.push(words::product(&others, words));
            let r = others.iter().fold(1u64, |acc, &v| m.mul(acc, m.reduce(v)));
            inv_punctured.push(m.inv(r).unwrap_or(0));
        }
        Self {
            moduli: moduli.to_vec(),
            words,
            q,
            half_q,
            punctured,
            inv_punctured,
        }
    }

    /// Centered value of one coefficient given its residues.
    pub fn centered_f64(&self, residues: &[u64], scratch: &mut Vec<u64>) -> f64 {
        scratch.clear();
        scratch.resize(self.words, 0);
        let mut v_est = 0.0f64;
        for (i, m) in self.moduli.iter().enumerate() {
            let y = m.mul(residues[i], self.inv_punctured[i]);
            words::mul_add(scratch, &self.punctured[i], y);
            v_est += y as f64 / m.value() as f64;
        }
        // Subtract floor(v_est)·Q, then correct by at most one Q either way.
        let v = v_est.floor().max(0.0) as u64;
        let mut vq = vec![0u64; self.words];
        words::mul_add(&mut vq, &self.q, v);
        if words::sub(scratch, &vq) {
            // Went negative: add Q back until non-negative.
            while {
                let mut carry = 0u128;
                for (x, &y) in scratch.iter_mut().zip(&self.q) {
                    let t = *x as u128 + y as u128 + carry;
                    *x = t as u64;
                    carry = t >> 64;
                }
                carry == 0
            } {}
        }
        while words::ge(scratch, &self.q) {
            words::sub(scratch, &self.q);
        }
        if words::ge(&self.half_q, scratch) {
            words::to_f64(scratch)
        } else {
            let mut neg = self.q.clone();
            words::sub(&mut neg, scratch);
            -words::to_f64(&neg)
        }
    }
}

impl RnsPoly {
    /// Centered coefficients (in `(-Q/2, Q/2]`, `Q` the product of all limbs' primes) as f64,
    /// reconstructed exactly and rounded once. Transforms a copy to coefficient form if needed.
    pub fn to_centered_f64(&self, ring: &RnsRing) -> Vec<f64> {
        let mut coeff = self.clone();
        coeff.intt(ring);
        let nl = coeff.num_limbs();
        let moduli: Vec<Modulus> = (0..nl).map(|i| *ring.modulus(i, coeff.num_q())).collect();
        let crt = CrtReconstructor::new(&moduli);
        let n = coeff.n();
        let mut out = vec![0.0f64; n];
        let compute =
            |(k, o): (usize, &mut f64), residues: &mut Vec<u64>, scratch: &mut Vec<u64>| {
                residues.clear();
                residues.extend((0..nl).map(|i| coeff.limb(i)[k]));
                *o = crt.centered_f64(residues, scratch);
            };
        #[cfg(feature = "parallel")]
        out.par_iter_mut().enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |(r, s), item| compute(item, r, s),
        );
        #[cfg(not(feature = "parallel"))]
        {
            let (mut r, mut s) = (Vec::new(), Vec::new());
            out.iter_mut()
                .enumerate()
                .for_each(|item| compute(item, &mut r, &mut s));
        }
        debug_assert_eq!(coeff.form(), Form::Coefficient);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;

    #[test]
    fn reconstructs_large_signed_values_exactly() {
        let n = 16;
        let mut g = PrimeGenerator::new(n);
        let q: Vec<u64> = [60, 60, 50, 40]
            .iter()
            .map(|&b| g.next_prime(b).unwrap())
            .collect();
        let ring = RnsRing::new(n, &q, &[]).unwrap();
        let values: Vec<i128> = (0..n as i128)
            .map(|i| (i - 8) * 123_456_789_012_345_678_901_234_567i128 + i * 17)
            .collect();
        let poly = RnsPoly::from_i128(&ring, &values, 4, 0);
        let mut ntt = poly.clone();
        ntt.ntt(&ring);
        let back = ntt.to_centered_f64(&ring);
        for (v, b) in values.iter().zip(&back) {
            let expect = *v as f64;
            assert_eq!(*b, expect, "value {v}");
        }
        // Small values near zero and the negative edge.
        let small: Vec<i128> = (0..n as i128).map(|i| i - 8).collect();
        let back = RnsPoly::from_i128(&ring, &small, 4, 0).to_centered_f64(&ring);
        assert_eq!(back, small.iter().map(|&v| v as f64).collect::<Vec<_>>());
        // A value beyond i128 range, near Q/2 in magnitude: exact to f64 rounding.
        let big = 2f64.powi(200) * 1.5;
        let coeffs: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { big } else { -big })
            .collect();
        let p = RnsPoly::from_f64_rounded(&ring, &coeffs, 4).unwrap();
        assert_eq!(p.to_centered_f64(&ring), coeffs);
    }
}
