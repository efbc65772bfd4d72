//! The CKKS encoder: complex (or real) slot vectors ↔ plaintext polynomials at a level and scale.
//!
//! Encoding n slots (a power of two, n ≤ N/2): the special FFT's inverse gives n folded
//! coefficients w_k; the real parts go to coefficients k·g and the imaginary parts to
//! k·g + N/2, with gap g = N/(2n) (sparse packing: the polynomial lives in the subring
//! Z[X^g]), each multiplied by the scale and rounded to the nearest integer, then reduced into
//! every live prime and transformed to NTT form. Magnitudes beyond i64 (scale 2^60 times values
//! of 2^40 gives 2^100) are reduced exactly from the f64 mantissa and exponent
//! ([`RnsPoly::from_f64_rounded`]); a coefficient of at least Q_level/2 would wrap around and is
//! refused with a typed error instead.
//!
//! Decoding reads only the coefficients of the subring, reconstructed exactly with the CRT
//! (two limbs plus a check against the others when the value is small, which it almost always
//! is; the full multi-word CRT otherwise) and rounded to f64 once, so the decoded precision is
//! limited by f64 and the noise, not by the CRT.
//! For a polynomial outside the subring (after noise or rotations), reading the subring
//! coefficients is the trace onto it, i.e. the average of the N/(2n) replicas of each slot.

use std::sync::Arc;

use num_complex::Complex64;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use super::fft::SpecialFft;
use super::small_crt::SmallCrt;
use crate::crypto::Plaintext;
use crate::error::{Error, Result};
use crate::math::crt::CrtReconstructor;
use crate::math::modulus::Modulus;
use crate::math::poly::{Form, RnsPoly};
use crate::params::context::Context;

/// Magnitudes below this round to an i64 exactly (2^63 minus headroom for the rounding).
const I64_SAFE: f64 = 9.0e18;

/// Encodes and decodes slot vectors for one [`Context`]. The special-FFT twiddles are computed
/// once per slot count, on first use, and shared process-wide ([`SpecialFft::cached`]).
#[derive(Debug, Clone)]
pub struct Encoder {
    ctx: Arc<Context>,
}

impl Encoder {
    /// An encoder for `ctx`; transforms are built lazily when a slot count is first used.
    pub fn new(ctx: &Arc<Context>) -> Self {
        Self {
            ctx: Arc::clone(ctx),
        }
    }

    /// The context this encoder belongs to.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The cached transform for `slots` slots, or a typed error if `slots` is not a power of two
    /// in `1..=N/2`.
    pub fn fft(&self, slots: usize) -> Result<&'static SpecialFft> {
        let max = self.ctx.max_slots();
        if !slots.is_power_of_two() || slots > max {
            return Err(Error::InvalidInput(format!(
                "slot count {slots} must be a power of two between 1 and N/2 = {max}"
            )));
        }
        SpecialFft::cached(slots)
    }

    fn check_level_and_scale(&self, level: usize, scale: f64) -> Result<()> {
        if level > self.ctx.max_level() {
            return Err(Error::Level(format!(
                "cannot encode at level {level}: the highest level is {}",
                self.ctx.max_level()
            )));
        }
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(Error::InvalidInput(format!(
                "scale {scale} must be finite and at least 1"
            )));
        }
        Ok(())
    }

    /// log2 of Q_level = q_0 ··· q_level.
    fn log2_modulus(&self, level: usize) -> f64 {
        self.ctx.q_primes()[..=level]
            .iter()
            .map(|&q| (q as f64).log2())
            .sum()
    }

    /// Rounds scaled coefficients into an RNS polynomial (NTT form) at `level`, refusing any
    /// coefficient that would wrap modulo Q_level.
    fn coefficients_to_poly(&self, coeffs: &[f64], level: usize) -> Result<RnsPoly> {
        self.coefficients_to_poly_with_p(coeffs, level, 0)
    }

    /// [`Self::coefficients_to_poly`] with `num_p` special-prime limbs as well (a plaintext
    /// that multiplies key-switching outputs over `Q_level ∪ P` before their ModDown).
    fn coefficients_to_poly_with_p(
        &self,
        coeffs: &[f64],
        level: usize,
        num_p: usize,
    ) -> Result<RnsPoly> {
        let max_abs = coeffs.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        if !max_abs.is_finite() {
            return Err(Error::InvalidInput(
                "values or scale produce a non-finite coefficient".into(),
            ));
        }
        let log_q = self.log2_modulus(level);
        // Rounded |c| must stay below Q/2 (one bit of margin for the rounding itself).
        if max_abs >= 1.0 && max_abs.log2() >= log_q - 1.0 - 1e-9 {
            return Err(Error::InvalidInput(format!(
                "a scaled coefficient of magnitude 2^{:.1} does not fit modulo Q_{level} = \
                 2^{log_q:.1} (it must stay below Q/2); lower the scale or the values, or encode \
                 at a higher level",
                max_abs.log2()
            )));
        }
        let ring = self.ctx.ring();
        // Each limb is reduced and transformed in one go, while it is in cache.
        if max_abs < I64_SAFE {
            // Round once, then reduce the integers into every limb.
            let ints: Vec<i64> = coeffs.iter().map(|c| c.round() as i64).collect();
            Ok(RnsPoly::from_signed_ntt(ring, &ints, level + 1, num_p))
        } else {
            RnsPoly::from_f64_rounded_ntt(ring, coeffs, level + 1, num_p).ok_or_else(|| {
                Error::InvalidInput("values or scale produce a non-finite coefficient".into())
            })
        }
    }

    /// Encodes `values` (its length is the slot count: a power of two ≤ N/2) at `level` with
    /// `scale`, returning the plaintext polynomial in NTT form with `level + 1` q-limbs.
    pub fn encode_poly(&self, values: &[Complex64], level: usize, scale: f64) -> Result<RnsPoly> {
        self.encode_poly_with_p(values, level, scale, 0)
    }

    /// [`Self::encode_poly`] over `Q_level ∪ P` (NTT form, `level + 1` q-limbs then every special
    /// prime): a plaintext that can multiply the raw inner products of a key switch before their
    /// ModDown (the baby steps of a double-hoisted linear transform).
    pub fn encode_poly_extended(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<RnsPoly> {
        self.encode_poly_with_p(values, level, scale, self.ctx.num_p())
    }

    fn encode_poly_with_p(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
        num_p: usize,
    ) -> Result<RnsPoly> {
        self.check_level_and_scale(level, scale)?;
        let slots = values.len();
        let fft = self.fft(slots)?;
        if let Some(i) = values
            .iter()
            .position(|v| !(v.re.is_finite() && v.im.is_finite()))
        {
            return Err(Error::InvalidInput(format!(
                "slot {i} holds a non-finite value {}",
                values[i]
            )));
        }
        let mut folded = values.to_vec();
        fft.embed_inverse(&mut folded)?;
        let n = self.ctx.n();
        let gap = n / (2 * slots);
        let mut coeffs = vec![0.0f64; n];
        for (k, w) in folded.iter().enumerate() {
            coeffs[k * gap] = w.re * scale;
            coeffs[k * gap + n / 2] = w.im * scale;
        }
        self.coefficients_to_poly_with_p(&coeffs, level, num_p)
    }

    /// Encodes real values (imaginary parts zero); see [`Self::encode_poly`].
    pub fn encode_real_poly(&self, values: &[f64], level: usize, scale: f64) -> Result<RnsPoly> {
        let complex: Vec<Complex64> = values.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        self.encode_poly(&complex, level, scale)
    }

    /// Encodes the same complex number in every slot (any slot count): the constant polynomial
    /// re·Δ + im·Δ·X^(N/2), since X^(N/2) evaluates to i at every slot root.
    pub fn encode_constant_poly(
        &self,
        value: Complex64,
        level: usize,
        scale: f64,
    ) -> Result<RnsPoly> {
        self.check_level_and_scale(level, scale)?;
        let n = self.ctx.n();
        let mut coeffs = vec![0.0f64; n];
        coeffs[0] = value.re * scale;
        coeffs[n / 2] = value.im * scale;
        self.coefficients_to_poly(&coeffs, level)
    }

    /// Encodes `values` (length = slot count, a power of two ≤ N/2) at `level` with `scale`.
    pub fn encode(&self, values: &[Complex64], level: usize, scale: f64) -> Result<Plaintext> {
        let poly = self.encode_poly(values, level, scale)?;
        Plaintext::new(poly, scale, values.len())
    }

    /// Encodes real values (imaginary parts zero) at `level` with `scale`.
    pub fn encode_real(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        let poly = self.encode_real_poly(values, level, scale)?;
        Plaintext::new(poly, scale, values.len())
    }

    /// Encodes `value` in each of `slots` slots at `level` with `scale` (one rounding per
    /// component, no FFT: the result is exact up to that rounding whatever the slot count).
    pub fn encode_constant(
        &self,
        value: Complex64,
        slots: usize,
        level: usize,
        scale: f64,
    ) -> Result<Plaintext> {
        self.fft(slots)?;
        let poly = self.encode_constant_poly(value, level, scale)?;
        Plaintext::new(poly, scale, slots)
    }

    /// Decodes a plaintext into its slot values (as many as its slot count), dividing by its scale.
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<Complex64>> {
        self.decode_poly(pt.poly(), pt.slots(), pt.scale())
    }

    /// Decodes `slots` values from a plaintext polynomial (either form, any number of q-limbs,
    /// no p-limbs) whose scale is `scale`.
    pub fn decode_poly(&self, poly: &RnsPoly, slots: usize, scale: f64) -> Result<Vec<Complex64>> {
        let fft = self.fft(slots)?;
        let n = self.ctx.n();
        let num_q = poly.num_q();
        if poly.n() != n || poly.num_p() != 0 || num_q == 0 || num_q > self.ctx.max_level() + 1 {
            return Err(Error::InvalidInput(format!(
                "cannot decode a polynomial of degree {} with {} q-limbs and {} p-limbs in a \
                 context of degree {n} with {} q primes",
                poly.n(),
                num_q,
                poly.num_p(),
                self.ctx.max_level() + 1
            )));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidInput(format!(
                "scale {scale} must be finite and positive"
            )));
        }
        let ring = self.ctx.ring();
        let mut coeff = poly.clone();
        if coeff.form() == Form::Ntt {
            coeff.intt(ring);
        }
        let moduli: Vec<Modulus> = (0..num_q).map(|i| *ring.modulus(i, num_q)).collect();
        let crt = CrtReconstructor::new(&moduli);
        let small = SmallCrt::new(&moduli);
        let gap = n / (2 * slots);
        let inv_scale = 1.0 / scale;
        let fold = |k: usize, residues: &mut Vec<u64>, scratch: &mut Vec<u64>| {
            let mut at = |index: usize| {
                residues.clear();
                residues.extend((0..num_q).map(|i| coeff.limb(i)[index]));
                let value = small.as_ref().and_then(|s| s.centered(residues));
                value.unwrap_or_else(|| crt.centered_f64(residues, scratch)) * inv_scale
            };
            let re = at(k * gap);
            let im = at(k * gap + n / 2);
            Complex64::new(re, im)
        };
        let mut values = vec![Complex64::new(0.0, 0.0); slots];
        #[cfg(feature = "parallel")]
        values.par_iter_mut().enumerate().for_each_init(
            || (Vec::with_capacity(num_q), Vec::new()),
            |(r, s), (k, v)| *v = fold(k, r, s),
        );
        #[cfg(not(feature = "parallel"))]
        {
            let (mut r, mut s) = (Vec::with_capacity(num_q), Vec::new());
            for (k, v) in values.iter_mut().enumerate() {
                *v = fold(k, &mut r, &mut s);
            }
        }
        fft.embed(&mut values)?;
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::presets;

    fn ctx(name: &str) -> Arc<Context> {
        Context::new(&presets::preset(name).unwrap(), true).unwrap()
    }

    fn sample(slots: usize, seed: u64, magnitude: f64) -> Vec<Complex64> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * magnitude
        };
        (0..slots).map(|_| Complex64::new(next(), next())).collect()
    }

    fn max_err(a: &[Complex64], b: &[Complex64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max)
    }

    /// Rounding each of N coefficients by ≤ 1/2 moves a slot by at most N/2 / scale in
    /// absolute value (the embedding of X^k has unit-modulus entries).
    fn rounding_bound(n: usize, scale: f64) -> f64 {
        n as f64 / 2.0 / scale
    }

    #[test]
    fn round_trip_every_slot_count_and_level() {
        let c = ctx("insecure-test-n10");
        let enc = Encoder::new(&c);
        let scale = c.default_scale();
        for log_slots in 0..c.spec().log_n {
            let slots = 1 << log_slots;
            for level in 0..=c.max_level() {
                let z = sample(slots, 7 + log_slots as u64, 100.0);
                let pt = enc.encode_poly(&z, level, scale).unwrap();
                assert_eq!(pt.num_q(), level + 1);
                let back = enc.decode_poly(&pt, slots, scale).unwrap();
                let bound = rounding_bound(c.n(), scale) + 1e-12 * 100.0;
                assert!(max_err(&back, &z) < bound, "slots {slots} level {level}");
            }
        }
    }

    #[test]
    fn slots_are_the_polynomial_at_the_canonical_roots() {
        // Independent of the FFT: with ω = exp(iπ/N), slot j must equal m(ω^(5^j)) / Δ for the
        // encoded integer polynomial m, for full and sparse packing alike.
        let c = ctx("insecure-test-n10");
        let enc = Encoder::new(&c);
        let scale = c.default_scale();
        let n = c.n();
        let q0 = c.q(0);
        for slots in [n / 2, 8] {
            let z = sample(slots, 21 + slots as u64, 1.0);
            let pt = enc.encode(&z, 0, scale).unwrap();
            let mut coeff = pt.poly().clone();
            coeff.intt(c.ring());
            let m: Vec<f64> = coeff
                .limb(0)
                .iter()
                .map(|&v| {
                    if v > q0 / 2 {
                        -((q0 - v) as f64)
                    } else {
                        v as f64
                    }
                })
                .collect();
            let mut power = 1u64; // 5^j mod 2N
            for (j, zj) in z.iter().enumerate() {
                let root =
                    Complex64::from_polar(1.0, std::f64::consts::PI * power as f64 / n as f64);
                let value = m
                    .iter()
                    .rev()
                    .fold(Complex64::new(0.0, 0.0), |acc, &mi| acc * root + mi);
                let err = (value / scale - zj).norm();
                assert!(
                    err < rounding_bound(n, scale) + 1e-9,
                    "slots {slots}, slot {j}: {err}"
                );
                power = power * 5 % (2 * n as u64);
            }
        }
    }

    #[test]
    fn sparse_packing_uses_only_the_subring() {
        let c = ctx("insecure-test-n10");
        let enc = Encoder::new(&c);
        let slots = 16;
        let pt = enc
            .encode_poly(&sample(slots, 3, 1.0), 1, c.default_scale())
            .unwrap();
        let mut coeff = pt.clone();
        coeff.intt(c.ring());
        let gap = c.n() / (2 * slots);
        let nonzero_off_subring = (0..c.n())
            .filter(|i| i % gap != 0)
            .any(|i| coeff.limb(0)[i] != 0);
        assert!(!nonzero_off_subring);
    }

    #[test]
    fn real_and_constant_encodings() {
        let c = ctx("insecure-test-n11");
        let enc = Encoder::new(&c);
        let scale = c.default_scale();
        let x: Vec<f64> = (0..64).map(|i| (i as f64 * 0.3).cos() * 5.0).collect();
        let pt = enc.encode_real_poly(&x, 2, scale).unwrap();
        let back = enc.decode_poly(&pt, 64, scale).unwrap();
        for (b, v) in back.iter().zip(&x) {
            assert!((b.re - v).abs() < rounding_bound(c.n(), scale));
            assert!(b.im.abs() < rounding_bound(c.n(), scale));
        }
        let k = Complex64::new(-1.75, 0.5);
        let pt = enc.encode_constant_poly(k, 1, scale).unwrap();
        for slots in [1, 8, c.max_slots()] {
            let back = enc.decode_poly(&pt, slots, scale).unwrap();
            assert!(back.iter().all(|b| (b - k).norm() < 1e-9), "slots {slots}");
        }
    }

    #[test]
    fn coefficients_beyond_i64_encode_exactly() {
        // Scale 2^60 with values up to 2^40 and 2^50: coefficients near 2^100 (beyond i64;
        // decoded by the two-limb fast path, q0·q1 ≈ 2^105) and 2^110 (beyond two limbs: the
        // full CRT), both well below Q_6 ≈ 2^330 of insecure-test-n12.
        let c = ctx("insecure-test-n12");
        let enc = Encoder::new(&c);
        let scale = 2f64.powi(60);
        for log_mag in [40, 50] {
            let magnitude = 2f64.powi(log_mag);
            let z = sample(256, 11, magnitude);
            let pt = enc.encode_poly(&z, c.max_level(), scale).unwrap();
            let back = enc.decode_poly(&pt, 256, scale).unwrap();
            // f64 keeps 53 bits of each coefficient: relative error ~2^-52, summed over N terms.
            let bound = magnitude * 2f64.powi(-50) * (c.n() as f64).sqrt();
            let err = max_err(&back, &z);
            assert!(err < bound, "2^{log_mag}: {err} vs {bound}");
        }
    }

    #[test]
    fn plaintext_entry_points_carry_slots_and_scale() {
        let c = ctx("insecure-test-n10");
        let enc = Encoder::new(&c);
        let scale = 2f64.powi(35);
        let z = sample(32, 5, 3.0);
        let pt = enc.encode(&z, 2, scale).unwrap();
        assert_eq!((pt.slots(), pt.level(), pt.scale()), (32, 2, scale));
        assert!(max_err(&enc.decode(&pt).unwrap(), &z) < rounding_bound(c.n(), scale));
        let real = enc.encode_real(&[0.5, -0.25], 1, scale).unwrap();
        let back = enc.decode(&real).unwrap();
        assert!((back[1].re + 0.25).abs() < rounding_bound(c.n(), scale));
        let k = enc
            .encode_constant(Complex64::new(2.0, -1.0), 8, 0, scale)
            .unwrap();
        assert_eq!(k.slots(), 8);
        assert!(
            enc.decode(&k)
                .unwrap()
                .iter()
                .all(|v| (v - Complex64::new(2.0, -1.0)).norm() < 1e-9)
        );
        assert!(
            enc.encode_constant(Complex64::new(1.0, 0.0), 6, 0, scale)
                .is_err()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
        #[test]
        fn round_trip_property(
            log_slots in 0u32..10,
            level in 0usize..4,
            log_scale in 20i32..=40,
            log_mag in -10i32..=8,
            seed in proptest::prelude::any::<u64>(),
        ) {
            thread_local! {
                static CTX: Arc<Context> = ctx("insecure-test-n10");
            }
            let c = CTX.with(Arc::clone);
            let enc = Encoder::new(&c);
            let scale = 2f64.powi(log_scale);
            let magnitude = 2f64.powi(log_mag);
            let z = sample(1 << log_slots, seed, magnitude);
            let back = enc.decode(&enc.encode(&z, level, scale).unwrap()).unwrap();
            // Rounding bound plus f64 error relative to the magnitude.
            let bound = rounding_bound(c.n(), scale) + magnitude * 1e-12;
            proptest::prop_assert!(max_err(&back, &z) < bound);
        }
    }

    #[test]
    fn typed_errors_for_bad_inputs() {
        let c = ctx("insecure-test-n10");
        let enc = Encoder::new(&c);
        let scale = c.default_scale();
        let three = vec![Complex64::new(1.0, 0.0); 3];
        assert!(matches!(
            enc.encode_poly(&three, 0, scale),
            Err(Error::InvalidInput(_))
        ));
        let too_many = vec![Complex64::new(1.0, 0.0); c.n()];
        assert!(matches!(
            enc.encode_poly(&too_many, 0, scale),
            Err(Error::InvalidInput(_))
        ));
        let ok = vec![Complex64::new(1.0, 0.0); 4];
        assert!(matches!(
            enc.encode_poly(&ok, c.max_level() + 1, scale),
            Err(Error::Level(_))
        ));
        assert!(enc.encode_poly(&ok, 0, f64::NAN).is_err());
        let nan = vec![Complex64::new(f64::NAN, 0.0); 4];
        assert!(matches!(
            enc.encode_poly(&nan, 0, scale),
            Err(Error::InvalidInput(_))
        ));
        // q_0 has 50 bits: 2^40 · 2^10 = 2^50 overflows Q_0 / 2, and fits one level up.
        let big = vec![Complex64::new(2f64.powi(10), 0.0); 4];
        let err = enc.encode_poly(&big, 0, scale).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(ref m) if m.contains("does not fit")));
        assert!(enc.encode_poly(&big, 1, scale).is_ok());
    }
}
