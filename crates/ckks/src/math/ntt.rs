//! Negacyclic number-theoretic transform over `Z_p[X]/(X^N + 1)` for one prime.
//!
//! The forward transform evaluates a polynomial at the odd powers of a primitive 2N-th root ψ,
//! output in bit-reversed order (Cooley–Tukey, Longa–Naehrig layout); the inverse is the
//! Gentleman–Sande transform with the scaling by `N^{-1}` fused into its last stage. Twiddles are
//! stored bit-reversed with their Shoup constants, and butterflies reduce lazily (Harvey): values
//! stay in `[0, 4p)` inside the forward transform and in `[0, 2p)` inside the inverse, with a
//! single final correction. This needs `p < 2^62`.
//!
//! Backend: where `tfhe-ntt`'s 64-bit prime plan accepts the prime (N ≥ 16) and evaluates in the
//! same bit-reversed order with respect to its own root (checked when the table is built), it does
//! the transforms — it measured 1.25–1.5× faster than the scalar code here at N = 2^16 (AVX2).
//! With the crate feature `avx512` the backend is tfhe-ntt 0.7, which adds AVX-512 kernels on
//! stable Rust (52-bit IFMA for primes below 2^50): at N = 2^16 a 45-bit prime's transform
//! takes 0.14 ms instead of 0.48, a 60-bit prime's 0.27 instead of 0.50 (same outputs).
//! The scalar transform above stays as the fallback and the reference ([`NttTable::new_scalar`]).
//!
//! [`NttTable::exponents`] records, for every output index `j`, the odd exponent `e_j` with
//! `out[j] = a(ψ^{e_j})`. Automorphisms and monomial products in NTT form are derived from it,
//! which keeps them independent of the transform's output order.

use super::modulus::Modulus;
use super::primes::primitive_root_2n;
#[cfg(not(feature = "avx512"))]
use tfhe_ntt as backend;
#[cfg(feature = "avx512")]
use tfhe_ntt_avx512 as backend;

/// Precomputed tables for the negacyclic NTT of one prime.
#[derive(Clone)]
pub struct NttTable {
    /// The accelerated plan, when usable for this prime.
    plan: Option<backend::prime64::Plan>,
    modulus: Modulus,
    n: usize,
    psi: u64,
    psi_rev: Vec<u64>,
    psi_rev_shoup: Vec<u64>,
    psi_inv_rev: Vec<u64>,
    psi_inv_rev_shoup: Vec<u64>,
    n_inv: u64,
    n_inv_shoup: u64,
    /// `psi_inv_rev[1] * n_inv`, for the fused last inverse stage.
    last_w: u64,
    last_w_shoup: u64,
    exponents: Vec<u32>,
}

fn bit_reverse(x: usize, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        x.reverse_bits() >> (usize::BITS - bits)
    }
}

impl std::fmt::Debug for NttTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NttTable")
            .field("p", &self.modulus.value())
            .field("n", &self.n)
            .field("accelerated", &self.plan.is_some())
            .finish()
    }
}

impl NttTable {
    /// Tables for ring degree `n` (a power of two ≥ 2) and prime `p ≡ 1 mod 2n`; `None` otherwise.
    /// Uses the `tfhe-ntt` backend when it applies.
    pub fn new(modulus: Modulus, n: usize) -> Option<Self> {
        if let Some(plan) = backend::prime64::Plan::try_new(n, modulus.value()) {
            // The plan's root is the evaluation point of output 0 (exponent 1 in bit-reversed order).
            let mut x = vec![0u64; n];
            x[1] = 1;
            plan.fwd(&mut x);
            let root = x[0];
            if let Some(mut table) = Self::with_root(modulus, n, root) {
                let log_n = n.trailing_zeros();
                let mut powers = vec![0u64; 2 * n];
                let mut pw = 1u64;
                for slot in powers.iter_mut() {
                    *slot = pw;
                    pw = modulus.mul(pw, root);
                }
                let same_order = x
                    .iter()
                    .enumerate()
                    .all(|(j, &v)| v == powers[2 * bit_reverse(j, log_n) + 1]);
                if same_order {
                    table.plan = Some(plan);
                    return Some(table);
                }
            }
        }
        Self::new_scalar(modulus, n)
    }

    /// Tables that always use the scalar transform of this module (reference implementation).
    pub fn new_scalar(modulus: Modulus, n: usize) -> Option<Self> {
        let psi = primitive_root_2n(&modulus, n)?;
        Self::with_root(modulus, n, psi)
    }

    fn with_root(modulus: Modulus, n: usize, psi: u64) -> Option<Self> {
        if n < 2 || !n.is_power_of_two() {
            return None;
        }
        let p = modulus.value();
        if !(p - 1).is_multiple_of(2 * n as u64) || modulus.pow(psi, n as u64) != p - 1 {
            return None;
        }
        let psi_inv = modulus.inv(psi)?;
        let log_n = n.trailing_zeros();
        let mut psi_rev = vec![0u64; n];
        let mut psi_inv_rev = vec![0u64; n];
        let (mut pw, mut pw_inv) = (1u64, 1u64);
        for i in 0..n {
            let r = bit_reverse(i, log_n);
            psi_rev[r] = pw;
            psi_inv_rev[r] = pw_inv;
            pw = modulus.mul(pw, psi);
            pw_inv = modulus.mul(pw_inv, psi_inv);
        }
        let psi_rev_shoup = psi_rev.iter().map(|&w| modulus.shoup(w)).collect();
        let psi_inv_rev_shoup = psi_inv_rev.iter().map(|&w| modulus.shoup(w)).collect();
        let n_inv = modulus.inv(n as u64)?;
        let last_w = modulus.mul(psi_inv_rev[1], n_inv);
        let mut table = Self {
            plan: None,
            modulus,
            n,
            psi,
            psi_rev,
            psi_rev_shoup,
            psi_inv_rev,
            psi_inv_rev_shoup,
            n_inv,
            n_inv_shoup: modulus.shoup(n_inv),
            last_w,
            last_w_shoup: modulus.shoup(last_w),
            exponents: Vec::new(),
        };
        // Output j of the forward transform is the evaluation at ψ^(2·brv(j)+1).
        table.exponents = (0..n)
            .map(|j| (2 * bit_reverse(j, log_n) + 1) as u32)
            .collect();
        Some(table)
    }

    /// The prime.
    pub fn modulus(&self) -> &Modulus {
        &self.modulus
    }

    /// Ring degree.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The primitive 2N-th root of unity the tables use.
    pub fn psi(&self) -> u64 {
        self.psi
    }

    /// `exponents()[j]` is the odd `e` with `forward(a)[j] = a(ψ^e)`.
    pub fn exponents(&self) -> &[u32] {
        &self.exponents
    }

    /// Whether the accelerated backend is in use.
    pub fn is_accelerated(&self) -> bool {
        self.plan.is_some()
    }

    /// In-place forward negacyclic NTT; input and output in `[0, p)`.
    pub fn forward(&self, a: &mut [u64]) {
        match &self.plan {
            Some(plan) => plan.fwd(a),
            None => self.forward_scalar(a),
        }
    }

    /// In-place inverse negacyclic NTT (including the factor `N^{-1}`); input and output in `[0, p)`.
    pub fn inverse(&self, a: &mut [u64]) {
        match &self.plan {
            Some(plan) => {
                plan.inv(a);
                plan.normalize(a);
            }
            None => self.inverse_scalar(a),
        }
    }

    /// In-place inverse negacyclic NTT WITHOUT the factor `N^{-1}`: leaves `N·a` (values below
    /// 2^64, not necessarily reduced). For callers that multiply every coefficient by a constant
    /// next anyway (basis conversion): folding [`NttTable::n_inv`] into that constant saves the
    /// normalization pass.
    pub fn inverse_unnormalized(&self, a: &mut [u64]) {
        match &self.plan {
            Some(plan) => plan.inv(a),
            None => {
                self.inverse_scalar(a);
                let n = self.modulus.reduce(self.n as u64);
                let n_shoup = self.modulus.shoup(n);
                for x in a.iter_mut() {
                    *x = self.modulus.mul_shoup(*x, n, n_shoup);
                }
            }
        }
    }

    /// `N^{-1} mod p`, the factor [`NttTable::inverse_unnormalized`] leaves out.
    pub fn n_inv(&self) -> u64 {
        self.n_inv
    }

    /// The scalar forward transform; input and output in `[0, p)`.
    pub fn forward_scalar(&self, a: &mut [u64]) {
        debug_assert_eq!(a.len(), self.n);
        let p = self.modulus.value();
        let two_p = 2 * p;
        let mut t = self.n;
        let mut m = 1;
        while m < self.n {
            t >>= 1;
            let ws = &self.psi_rev[m..2 * m];
            let wss = &self.psi_rev_shoup[m..2 * m];
            for ((block, &w), &w_sh) in a.chunks_exact_mut(2 * t).zip(ws).zip(wss) {
                let (lo, hi) = block.split_at_mut(t);
                for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                    let mut u = *x;
                    if u >= two_p {
                        u -= two_p;
                    }
                    let v = self.modulus.mul_shoup_lazy(*y, w, w_sh);
                    *x = u + v;
                    *y = u + two_p - v;
                }
            }
            m <<= 1;
        }
        for x in a.iter_mut() {
            let mut v = *x;
            if v >= two_p {
                v -= two_p;
            }
            if v >= p {
                v -= p;
            }
            *x = v;
        }
    }

    /// The scalar inverse transform (with `N^{-1}`); input in `[0, 2p)`, output in `[0, p)`.
    pub fn inverse_scalar(&self, a: &mut [u64]) {
        debug_assert_eq!(a.len(), self.n);
        let p = self.modulus.value();
        let two_p = 2 * p;
        let mut t = 1;
        let mut m = self.n >> 1;
        while m > 1 {
            let ws = &self.psi_inv_rev[m..2 * m];
            let wss = &self.psi_inv_rev_shoup[m..2 * m];
            for ((block, &w), &w_sh) in a.chunks_exact_mut(2 * t).zip(ws).zip(wss) {
                let (lo, hi) = block.split_at_mut(t);
                for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                    let (u, v) = (*x, *y);
                    let mut s = u + v;
                    if s >= two_p {
                        s -= two_p;
                    }
                    *x = s;
                    *y = self.modulus.mul_shoup_lazy(u + two_p - v, w, w_sh);
                }
            }
            t <<= 1;
            m >>= 1;
        }
        // Last stage (m = 1) fused with the scaling by N^{-1}.
        let (lo, hi) = a.split_at_mut(t);
        for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
            let (u, v) = (*x, *y);
            let s = self
                .modulus
                .mul_shoup_lazy(u + v, self.n_inv, self.n_inv_shoup);
            let d = self
                .modulus
                .mul_shoup_lazy(u + two_p - v, self.last_w, self.last_w_shoup);
            *x = if s >= p { s - p } else { s };
            *y = if d >= p { d - p } else { d };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;
    use proptest::prelude::*;

    fn schoolbook(m: &Modulus, a: &[u64], b: &[u64]) -> Vec<u64> {
        let n = a.len();
        let mut c = vec![0u64; n];
        for (i, &ai) in a.iter().enumerate() {
            for (j, &bj) in b.iter().enumerate() {
                let prod = m.mul(ai, bj);
                let k = i + j;
                if k < n {
                    c[k] = m.add(c[k], prod);
                } else {
                    c[k - n] = m.sub(c[k - n], prod);
                }
            }
        }
        c
    }

    fn table(log_n: u32, bits: u32) -> NttTable {
        let n = 1usize << log_n;
        let p = PrimeGenerator::new(n).next_prime(bits).unwrap();
        NttTable::new(Modulus::new(p).unwrap(), n).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn ntt_product_matches_schoolbook(
            log_n in 1u32..8,
            bits in prop::sample::select(vec![30u32, 50, 62]),
            seed in any::<u64>(),
        ) {
            let t = table(log_n, bits);
            let m = *t.modulus();
            let n = t.n();
            let mut s = seed;
            let mut next = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); m.reduce(s >> 2) };
            let a: Vec<u64> = (0..n).map(|_| next()).collect();
            let b: Vec<u64> = (0..n).map(|_| next()).collect();
            let expect = schoolbook(&m, &a, &b);
            let (mut fa, mut fb) = (a.clone(), b.clone());
            t.forward(&mut fa);
            t.forward(&mut fb);
            let mut fc: Vec<u64> = fa.iter().zip(&fb).map(|(&x, &y)| m.mul(x, y)).collect();
            t.inverse(&mut fc);
            prop_assert_eq!(&fc, &expect);
            t.inverse(&mut fa);
            prop_assert_eq!(&fa, &a);
            // The scalar reference agrees with the backend in every output position.
            let (mut sa, mut ba) = (a.clone(), a.clone());
            t.forward_scalar(&mut sa);
            t.forward(&mut ba);
            prop_assert_eq!(&sa, &ba);
            t.inverse_scalar(&mut sa);
            prop_assert_eq!(&sa, &a);
            // Without N^{-1}: N·a, which the folded factor brings back to a.
            let (n_inv, n_inv_shoup) = (t.n_inv(), m.shoup(t.n_inv()));
            let mut ua = ba.clone();
            t.inverse_unnormalized(&mut ua);
            let back: Vec<u64> = ua.iter().map(|&x| m.mul_shoup(x, n_inv, n_inv_shoup)).collect();
            prop_assert_eq!(&back, &a);
        }
    }

    #[test]
    fn exponents_describe_evaluation_points() {
        let t = table(5, 40);
        let m = *t.modulus();
        let mut x = vec![0u64; t.n()];
        x[1] = 1;
        t.forward(&mut x);
        for (j, &v) in x.iter().enumerate() {
            assert_eq!(v, m.pow(t.psi(), t.exponents()[j] as u64));
        }
    }

    #[test]
    fn backend_is_used_for_large_rings() {
        assert!(table(12, 50).is_accelerated());
        assert!(!table(3, 50).is_accelerated());
    }

    #[test]
    fn rejects_bad_degree_or_prime() {
        let m = Modulus::new(97).unwrap();
        assert!(NttTable::new(m, 3).is_none());
        assert!(NttTable::new(m, 64).is_none()); // 97 is not 1 mod 128
        assert!(NttTable::new(m, 16).is_some());
    }
}
