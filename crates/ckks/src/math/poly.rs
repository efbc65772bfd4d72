//! `RnsPoly`: a polynomial of `Z_Q[X]/(X^N + 1)` stored as residues modulo each prime.
//!
//! Layout: one flat `Vec<u64>`, limb-major (`data[i·N .. (i+1)·N]` is limb `i`), q-limbs first,
//! then p-limbs. A flat buffer keeps one allocation per polynomial and lets rayon hand out limbs
//! with `chunks_exact_mut`. [`Form`] records whether limbs hold coefficients or NTT values;
//! products require NTT form, automorphisms work in both.
//!
//! Shape mismatches (limb counts, ring degree, form) are programming errors of the layers above,
//! which validate their inputs; the methods here panic on them, as documented per method.

use super::modulus::Modulus;
use super::pool;
use super::ring::RnsRing;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Whether limbs hold coefficients or evaluations (NTT values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Coefficients of the polynomial.
    Coefficient,
    /// Values at the odd powers of ψ, in the NTT's output order.
    Ntt,
}

/// A polynomial in RNS representation over `q_0..q_{num_q-1}` and `p_0..p_{num_p-1}`.
///
/// Limb buffers come from and return to [`super::pool`], which avoids page-faulting fresh
/// memory on every operation at large N.
#[derive(PartialEq, Eq)]
pub struct RnsPoly {
    n: usize,
    num_q: usize,
    num_p: usize,
    form: Form,
    data: Vec<u64>,
}

impl Clone for RnsPoly {
    fn clone(&self) -> Self {
        let mut data = pool::take_empty(self.data.len());
        data.extend_from_slice(&self.data);
        Self {
            n: self.n,
            num_q: self.num_q,
            num_p: self.num_p,
            form: self.form,
            data,
        }
    }
}

impl Drop for RnsPoly {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.data));
    }
}

impl std::fmt::Debug for RnsPoly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RnsPoly")
            .field("n", &self.n)
            .field("num_q", &self.num_q)
            .field("num_p", &self.num_p)
            .field("form", &self.form)
            .finish_non_exhaustive()
    }
}

/// Limbs shorter than this many words are processed sequentially: below it rayon's per-task
/// cost is a noticeable share of the work on one limb.
pub const MIN_PARALLEL_LIMB: usize = 1 << 13;

/// Applies `f(limb_index, limb)` to every `n`-word limb of `data`, in parallel when the
/// `parallel` feature is on and limbs have at least [`MIN_PARALLEL_LIMB`] words.
pub fn for_each_limb(data: &mut [u64], n: usize, f: impl Fn(usize, &mut [u64]) + Sync + Send) {
    #[cfg(feature = "parallel")]
    if n >= MIN_PARALLEL_LIMB {
        data.par_chunks_exact_mut(n)
            .enumerate()
            .for_each(|(i, l)| f(i, l));
        return;
    }
    data.chunks_exact_mut(n)
        .enumerate()
        .for_each(|(i, l)| f(i, l));
}

/// Applies `f(limb_index, limb_of_a, limb_of_b)` to the `n`-word limbs of two buffers with the
/// same number of limbs, in parallel as [`for_each_limb`] does: for kernels that write two
/// output polynomials (a ciphertext's halves) from shared per-limb work.
///
/// # Panics
/// If the buffers differ in length.
pub fn for_each_limb_pair(
    a: &mut [u64],
    b: &mut [u64],
    n: usize,
    f: impl Fn(usize, &mut [u64], &mut [u64]) + Sync + Send,
) {
    assert_eq!(a.len(), b.len(), "paired buffers must have the same shape");
    #[cfg(feature = "parallel")]
    if n >= MIN_PARALLEL_LIMB {
        a.par_chunks_exact_mut(n)
            .zip(b.par_chunks_exact_mut(n))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
        return;
    }
    a.chunks_exact_mut(n)
        .zip(b.chunks_exact_mut(n))
        .enumerate()
        .for_each(|(i, (x, y))| f(i, x, y));
}

/// Runs `a` and `b`, side by side when the `parallel` feature is on and `n` (the limb length
/// of the work) is at least [`MIN_PARALLEL_LIMB`]: for two independent halves of an operation
/// (the ModDowns of a key switch's two outputs) whose own sequential parts would otherwise
/// leave a second thread idle.
pub fn join<A: Send, B: Send>(
    n: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "parallel")]
    if n >= MIN_PARALLEL_LIMB {
        return rayon::join(a, b);
    }
    (a(), b())
}

impl RnsPoly {
    /// The zero polynomial with the given shape.
    pub fn zero(n: usize, num_q: usize, num_p: usize, form: Form) -> Self {
        Self {
            n,
            num_q,
            num_p,
            form,
            data: pool::take_zeroed(n * (num_q + num_p)),
        }
    }

    /// A polynomial with the given shape whose residues are unspecified: for callers that
    /// overwrite every limb before reading it (saves zeroing large buffers).
    pub fn for_overwrite(n: usize, num_q: usize, num_p: usize, form: Form) -> Self {
        Self {
            n,
            num_q,
            num_p,
            form,
            data: pool::take_for_overwrite(n * (num_q + num_p)),
        }
    }

    /// Builds a polynomial from limb-major residues; `None` if the length does not match.
    pub fn from_data(
        n: usize,
        num_q: usize,
        num_p: usize,
        form: Form,
        data: Vec<u64>,
    ) -> Option<Self> {
        (data.len() == n * (num_q + num_p)).then_some(Self {
            n,
            num_q,
            num_p,
            form,
            data,
        })
    }

    /// Reduces small signed coefficients (|c| < 2^63) into every limb, in coefficient form.
    pub fn from_signed(ring: &RnsRing, coeffs: &[i64], num_q: usize, num_p: usize) -> Self {
        let n = ring.n();
        assert_eq!(coeffs.len(), n, "coefficient count must equal N");
        let mut poly = Self::for_overwrite(n, num_q, num_p, Form::Coefficient);
        for_each_limb(&mut poly.data, n, |i, limb| {
            let m = ring.modulus(i, num_q);
            for (x, &c) in limb.iter_mut().zip(coeffs) {
                *x = m.from_i64(c);
            }
        });
        poly
    }

    /// Reduces signed 128-bit coefficients into every limb, in coefficient form.
    pub fn from_i128(ring: &RnsRing, coeffs: &[i128], num_q: usize, num_p: usize) -> Self {
        let n = ring.n();
        assert_eq!(coeffs.len(), n, "coefficient count must equal N");
        let mut poly = Self::for_overwrite(n, num_q, num_p, Form::Coefficient);
        for_each_limb(&mut poly.data, n, |i, limb| {
            let m = ring.modulus(i, num_q);
            for (x, &c) in limb.iter_mut().zip(coeffs) {
                *x = m.from_i128(c);
            }
        });
        poly
    }

    /// Rounds real coefficients to the nearest integers and reduces them exactly into every limb
    /// (any finite magnitude: the f64 mantissa and power of two are reduced separately), in
    /// coefficient form. Returns `None` if a coefficient is not finite.
    pub fn from_f64_rounded(ring: &RnsRing, coeffs: &[f64], num_q: usize) -> Option<Self> {
        Self::from_f64_rounded_with_p(ring, coeffs, num_q, 0)
    }

    /// [`RnsPoly::from_f64_rounded`] into `num_q` q-limbs and `num_p` p-limbs.
    pub fn from_f64_rounded_with_p(
        ring: &RnsRing,
        coeffs: &[f64],
        num_q: usize,
        num_p: usize,
    ) -> Option<Self> {
        let n = ring.n();
        assert_eq!(coeffs.len(), n, "coefficient count must equal N");
        if coeffs.iter().any(|c| !c.is_finite()) {
            return None;
        }
        let mut poly = Self::for_overwrite(n, num_q, num_p, Form::Coefficient);
        for_each_limb(&mut poly.data, n, |i, limb| {
            let m = ring.modulus(i, num_q);
            for (x, &c) in limb.iter_mut().zip(coeffs) {
                *x = reduce_rounded_f64(m, c);
            }
        });
        Some(poly)
    }

    /// [`RnsPoly::from_signed`] followed by [`RnsPoly::ntt`], one limb at a time: each limb is
    /// reduced and transformed while it is in cache, instead of writing every limb to memory
    /// and reading it back for the transforms (the encoder's last step).
    pub fn from_signed_ntt(ring: &RnsRing, coeffs: &[i64], num_q: usize, num_p: usize) -> Self {
        let n = ring.n();
        assert_eq!(coeffs.len(), n, "coefficient count must equal N");
        // Coefficients below a prime (an encoding's, almost always) need no reduction there.
        let max_abs = coeffs.iter().map(|c| c.unsigned_abs()).max().unwrap_or(0);
        let mut poly = Self::for_overwrite(n, num_q, num_p, Form::Ntt);
        for_each_limb(&mut poly.data, n, |i, limb| {
            let table = ring.table(i, num_q);
            let m = table.modulus();
            if max_abs < m.value() {
                for (x, &c) in limb.iter_mut().zip(coeffs) {
                    *x = m.from_small_i64(c);
                }
            } else {
                for (x, &c) in limb.iter_mut().zip(coeffs) {
                    *x = m.from_i64(c);
                }
            }
            table.forward(limb);
        });
        poly
    }

    /// [`RnsPoly::from_f64_rounded_with_p`] followed by [`RnsPoly::ntt`], one limb at a time
    /// (see [`RnsPoly::from_signed_ntt`]). Returns `None` if a coefficient is not finite.
    pub fn from_f64_rounded_ntt(
        ring: &RnsRing,
        coeffs: &[f64],
        num_q: usize,
        num_p: usize,
    ) -> Option<Self> {
        let n = ring.n();
        assert_eq!(coeffs.len(), n, "coefficient count must equal N");
        if coeffs.iter().any(|c| !c.is_finite()) {
            return None;
        }
        let mut poly = Self::for_overwrite(n, num_q, num_p, Form::Ntt);
        for_each_limb(&mut poly.data, n, |i, limb| {
            let table = ring.table(i, num_q);
            let m = table.modulus();
            for (x, &c) in limb.iter_mut().zip(coeffs) {
                *x = reduce_rounded_f64(m, c);
            }
            table.forward(limb);
        });
        Some(poly)
    }

    /// Ring degree.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of q-limbs.
    pub fn num_q(&self) -> usize {
        self.num_q
    }

    /// Number of p-limbs.
    pub fn num_p(&self) -> usize {
        self.num_p
    }

    /// Total number of limbs.
    pub fn num_limbs(&self) -> usize {
        self.num_q + self.num_p
    }

    /// Current representation.
    pub fn form(&self) -> Form {
        self.form
    }

    /// Declares the representation without transforming (for buffers filled by the caller).
    pub fn set_form(&mut self, form: Form) {
        self.form = form;
    }

    /// All residues, limb-major.
    pub fn data(&self) -> &[u64] {
        &self.data
    }

    /// All residues, limb-major, mutable.
    pub fn data_mut(&mut self) -> &mut [u64] {
        &mut self.data
    }

    /// Limb `i`.
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    /// Limb `i`, mutable.
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }

    fn assert_same_shape(&self, other: &Self) {
        assert!(
            self.n == other.n
                && self.num_q == other.num_q
                && self.num_p == other.num_p
                && self.form == other.form,
            "RNS polynomial shapes differ"
        );
    }

    /// `self += other`. Panics if shapes differ.
    pub fn add_assign(&mut self, ring: &RnsRing, other: &Self) {
        self.assert_same_shape(other);
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, a| {
            let m = ring.modulus(i, nq);
            for (x, &y) in a.iter_mut().zip(&other.data[i * n..(i + 1) * n]) {
                *x = m.add(*x, y);
            }
        });
    }

    /// `self -= other`. Panics if shapes differ.
    pub fn sub_assign(&mut self, ring: &RnsRing, other: &Self) {
        self.assert_same_shape(other);
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, a| {
            let m = ring.modulus(i, nq);
            for (x, &y) in a.iter_mut().zip(&other.data[i * n..(i + 1) * n]) {
                *x = m.sub(*x, y);
            }
        });
    }

    /// `self = -self`.
    pub fn neg_assign(&mut self, ring: &RnsRing) {
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, a| {
            let m = ring.modulus(i, nq);
            for x in a.iter_mut() {
                *x = m.neg(*x);
            }
        });
    }

    /// `self *= other` pointwise (both in NTT form). Panics if shapes differ or not in NTT form.
    pub fn mul_assign(&mut self, ring: &RnsRing, other: &Self) {
        self.assert_same_shape(other);
        assert_eq!(self.form, Form::Ntt, "products need NTT form");
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, a| {
            let m = ring.modulus(i, nq);
            for (x, &y) in a.iter_mut().zip(&other.data[i * n..(i + 1) * n]) {
                *x = m.mul(*x, y);
            }
        });
    }

    /// `self += a * b` pointwise (all in NTT form). Panics if shapes differ.
    pub fn add_mul_assign(&mut self, ring: &RnsRing, a: &Self, b: &Self) {
        self.assert_same_shape(a);
        self.assert_same_shape(b);
        assert_eq!(self.form, Form::Ntt, "products need NTT form");
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, acc| {
            let m = ring.modulus(i, nq);
            let (la, lb) = (&a.data[i * n..(i + 1) * n], &b.data[i * n..(i + 1) * n]);
            for ((x, &y), &z) in acc.iter_mut().zip(la).zip(lb) {
                *x = m.add(*x, m.mul(y, z));
            }
        });
    }

    /// Multiplies limb `i` by `scalars[i]` (residues already reduced). Works in both forms.
    pub fn mul_scalar_per_limb(&mut self, ring: &RnsRing, scalars: &[u64]) {
        assert_eq!(scalars.len(), self.num_limbs(), "one scalar per limb");
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, a| {
            let m = ring.modulus(i, nq);
            let w = scalars[i];
            let ws = m.shoup(w);
            for x in a.iter_mut() {
                *x = m.mul_shoup(*x, w, ws);
            }
        });
    }

    /// Transforms every limb to NTT form (no-op if already there).
    pub fn ntt(&mut self, ring: &RnsRing) {
        if self.form == Form::Ntt {
            return;
        }
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, a| ring.table(i, nq).forward(a));
        self.form = Form::Ntt;
    }

    /// Transforms every limb to coefficient form (no-op if already there).
    pub fn intt(&mut self, ring: &RnsRing) {
        if self.form == Form::Coefficient {
            return;
        }
        let (n, nq) = (self.n, self.num_q);
        for_each_limb(&mut self.data, n, |i, a| ring.table(i, nq).inverse(a));
        self.form = Form::Coefficient;
    }

    /// Keeps only the first `num_q` q-limbs (and all p-limbs). Panics if `num_q` exceeds the count.
    pub fn truncate_q(&mut self, num_q: usize) {
        assert!(num_q <= self.num_q, "cannot add limbs by truncation");
        if num_q == self.num_q {
            return;
        }
        let n = self.n;
        let p_start = self.num_q * n;
        let p_len = self.num_p * n;
        self.data.copy_within(p_start..p_start + p_len, num_q * n);
        self.data.truncate((num_q + self.num_p) * n);
        self.num_q = num_q;
    }

    /// The p-limbs alone, as a polynomial with no q-limbs.
    pub fn p_part(&self) -> Self {
        let mut data = pool::take_empty(self.num_p * self.n);
        data.extend_from_slice(&self.data[self.num_q * self.n..]);
        Self {
            n: self.n,
            num_q: 0,
            num_p: self.num_p,
            form: self.form,
            data,
        }
    }

    /// The first `num_q` q-limbs of `q` followed by the limbs of `p` (a polynomial with p-limbs
    /// only). Panics if the degrees or forms differ or `q` has fewer than `num_q` q-limbs.
    pub fn concat_q_p(q: &Self, num_q: usize, p: &Self) -> Self {
        assert!(
            q.n == p.n && q.form == p.form && num_q <= q.num_q && p.num_q == 0,
            "incompatible polynomials for concatenation"
        );
        let mut data = pool::take_empty((num_q + p.num_p) * q.n);
        data.extend_from_slice(&q.data[..num_q * q.n]);
        data.extend_from_slice(&p.data);
        Self {
            n: q.n,
            num_q,
            num_p: p.num_p,
            form: q.form,
            data,
        }
    }

    /// Drops the p-limbs.
    pub fn drop_p(&mut self) {
        self.data.truncate(self.num_q * self.n);
        self.num_p = 0;
    }

    /// `X → X^g` (g odd) into `out`, which must have the same shape. In NTT form `perm` must be
    /// `ring.galois_permutation(g)`; in coefficient form it is ignored.
    pub fn automorphism_into(&self, ring: &RnsRing, g: u64, perm: &[u32], out: &mut Self) {
        self.assert_same_shape(out);
        let (n, nq) = (self.n, self.num_q);
        match self.form {
            Form::Ntt => {
                assert_eq!(perm.len(), n, "permutation length must be N");
                for_each_limb(&mut out.data, n, |i, o| {
                    let src = &self.data[i * n..(i + 1) * n];
                    for (x, &j) in o.iter_mut().zip(perm) {
                        *x = src[j as usize];
                    }
                });
            }
            Form::Coefficient => {
                let two_n = 2 * n as u64;
                let g = g % two_n;
                for_each_limb(&mut out.data, n, |i, o| {
                    let m = ring.modulus(i, nq);
                    let src = &self.data[i * n..(i + 1) * n];
                    for (k, &c) in src.iter().enumerate() {
                        let t = (k as u64 * g) % two_n;
                        if t < n as u64 {
                            o[t as usize] = c;
                        } else {
                            o[(t - n as u64) as usize] = m.neg(c);
                        }
                    }
                });
            }
        }
    }

    /// Returns `self(X^g)` (g odd); see [`RnsPoly::automorphism_into`].
    pub fn automorphism(&self, ring: &RnsRing, g: u64, perm: &[u32]) -> Self {
        let mut out = Self::for_overwrite(self.n, self.num_q, self.num_p, self.form);
        self.automorphism_into(ring, g, perm, &mut out);
        out
    }

    /// Multiplies by the monomial `X^k` (negacyclic: `X^N = -1`), in either form.
    pub fn mul_monomial(&mut self, ring: &RnsRing, k: usize) {
        let was_ntt = self.form == Form::Ntt;
        self.intt(ring);
        let (n, nq) = (self.n, self.num_q);
        let k = k % (2 * n);
        for_each_limb(&mut self.data, n, |i, a| {
            let m = ring.modulus(i, nq);
            let (shift, negate_all) = if k >= n { (k - n, true) } else { (k, false) };
            a.rotate_right(shift);
            for (idx, x) in a.iter_mut().enumerate() {
                // Coefficients that wrapped around X^N pick up a sign.
                let wrapped = idx < shift;
                if wrapped != negate_all {
                    *x = m.neg(*x);
                }
            }
        });
        if was_ntt {
            self.ntt(ring);
        }
    }
}

/// `round(c) mod p` exactly, for any finite `c`.
pub fn reduce_rounded_f64(m: &Modulus, c: f64) -> u64 {
    let r = c.round();
    if r.abs() < 9.0e18 {
        return m.from_i64(r as i64);
    }
    // r = mantissa · 2^exp exactly, with a 53-bit integer mantissa.
    let bits = r.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let mut v = m.reduce(mantissa);
    // exp > 0 here because |r| ≥ 2^63.
    v = m.mul(v, m.pow(2, exp as u64));
    if r < 0.0 { m.neg(v) } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;

    fn ring(log_n: u32) -> RnsRing {
        let n = 1 << log_n;
        let mut g = PrimeGenerator::new(n);
        let q: Vec<u64> = [50, 40, 40]
            .iter()
            .map(|&b| g.next_prime(b).unwrap())
            .collect();
        let p = vec![g.next_prime(50).unwrap()];
        RnsRing::new(n, &q, &p).unwrap()
    }

    fn signed_product(a: &[i64], b: &[i64]) -> Vec<i64> {
        let n = a.len();
        let mut c = vec![0i64; n];
        for (i, &ai) in a.iter().enumerate() {
            for (j, &bj) in b.iter().enumerate() {
                let k = (i + j) % n;
                let s = if i + j >= n { -1 } else { 1 };
                c[k] += s * ai * bj;
            }
        }
        c
    }

    #[test]
    fn ntt_product_matches_schoolbook_in_every_limb() {
        let r = ring(6);
        let n = r.n();
        let a: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 201 - 100).collect();
        let b: Vec<i64> = (0..n as i64).map(|i| (i * 104729) % 61 - 30).collect();
        let mut pa = RnsPoly::from_signed(&r, &a, 3, 1);
        let mut pb = RnsPoly::from_signed(&r, &b, 3, 1);
        pa.ntt(&r);
        pb.ntt(&r);
        pa.mul_assign(&r, &pb);
        pa.intt(&r);
        let expect = RnsPoly::from_signed(&r, &signed_product(&a, &b), 3, 1);
        assert_eq!(pa, expect);
    }

    #[test]
    fn automorphism_agrees_between_forms() {
        let r = ring(5);
        let n = r.n();
        let a: Vec<i64> = (0..n as i64).map(|i| i * 3 - 40).collect();
        let coeff = RnsPoly::from_signed(&r, &a, 3, 1);
        for g in [5u64, 25, 2 * n as u64 - 1, 3] {
            let perm = r.galois_permutation(g);
            let mut via_coeff = coeff.automorphism(&r, g, &perm);
            via_coeff.ntt(&r);
            let mut ntt = coeff.clone();
            ntt.ntt(&r);
            let via_ntt = ntt.automorphism(&r, g, &perm);
            assert_eq!(via_coeff, via_ntt, "g = {g}");
        }
    }

    #[test]
    fn monomial_and_half_monomial_signs() {
        let r = ring(5);
        let n = r.n();
        let a: Vec<i64> = (0..n as i64).map(|i| i + 1).collect();
        let mut p = RnsPoly::from_signed(&r, &a, 2, 0);
        p.ntt(&r);
        p.mul_monomial(&r, n / 2);
        // Same via the sign table and I = ψ^(N/2) in each limb.
        let signs = r.half_monomial_signs();
        let mut q = RnsPoly::from_signed(&r, &a, 2, 0);
        q.ntt(&r);
        for i in 0..2 {
            let t = &r.q_tables()[i];
            let m = *t.modulus();
            let unit = m.pow(t.psi(), n as u64 / 2);
            for (x, &s) in q.limb_mut(i).iter_mut().zip(&signs) {
                *x = m.mul(*x, if s { unit } else { m.neg(unit) });
            }
        }
        assert_eq!(p, q);
        // X^(2N) = 1 and X^N = -1.
        let mut c = RnsPoly::from_signed(&r, &a, 2, 0);
        c.mul_monomial(&r, n);
        let neg: Vec<i64> = a.iter().map(|x| -x).collect();
        assert_eq!(c, RnsPoly::from_signed(&r, &neg, 2, 0));
    }

    #[test]
    fn fused_reduce_and_ntt_equal_the_two_passes() {
        let r = ring(6);
        let n = r.n();
        let ints: Vec<i64> = (0..n as i64)
            .map(|i| (i * 7919 - 250_000) * 3_000_000_007)
            .collect();
        let mut two_pass = RnsPoly::from_signed(&r, &ints, 3, 1);
        two_pass.ntt(&r);
        assert_eq!(RnsPoly::from_signed_ntt(&r, &ints, 3, 1), two_pass);
        // Below every prime (the reduction-free path), and at ±(p - 1) of the smallest.
        let p_min = (0..4).map(|i| r.modulus(i, 3).value()).min().unwrap() as i64;
        let mut small: Vec<i64> = ints.iter().map(|&c| c % 1_000_003).collect();
        small[0] = p_min - 1;
        small[1] = 1 - p_min;
        let mut two_pass = RnsPoly::from_signed(&r, &small, 3, 1);
        two_pass.ntt(&r);
        assert_eq!(RnsPoly::from_signed_ntt(&r, &small, 3, 1), two_pass);
        // Beyond i64 and negative halves, into fewer q-limbs than the ring has.
        let reals: Vec<f64> = ints.iter().map(|&c| c as f64 * 1.0e7 + 0.5).collect();
        let mut two_pass = RnsPoly::from_f64_rounded_with_p(&r, &reals, 2, 1).unwrap();
        two_pass.ntt(&r);
        assert_eq!(
            RnsPoly::from_f64_rounded_ntt(&r, &reals, 2, 1).unwrap(),
            two_pass
        );
        let mut bad = reals;
        bad[5] = f64::INFINITY;
        assert!(RnsPoly::from_f64_rounded_ntt(&r, &bad, 2, 1).is_none());
    }

    #[test]
    fn truncation_keeps_p_limbs_and_f64_reduction_is_exact() {
        let r = ring(4);
        let a: Vec<i64> = (0..16).collect();
        let mut p = RnsPoly::from_signed(&r, &a, 3, 1);
        let p_limb = p.limb(3).to_vec();
        p.truncate_q(1);
        assert_eq!(p.num_limbs(), 2);
        assert_eq!(p.limb(1), &p_limb[..]);
        let m = *r.q_tables()[0].modulus();
        let big = 2f64.powi(100) * 3.0;
        let expect = m.mul(3, m.pow(2, 100));
        assert_eq!(reduce_rounded_f64(&m, big), expect);
        assert_eq!(reduce_rounded_f64(&m, -big), m.neg(expect));
        assert_eq!(reduce_rounded_f64(&m, -2.5), m.neg(3));
    }
}
