//! Fast (approximate) RNS basis conversion and exact division by primes with rounding.
//!
//! [`BasisConverter`] maps residues of `x ∈ [0, A)` in basis `A = {a_j}` to basis `B = {b_k}`:
//! `Conv(x)_k = Σ_j [x_j · (A/a_j)^{-1}]_{a_j} · (A/a_j) mod b_k`, which equals `x + u·A` for
//! some `0 ≤ u < |A|` (Halevi–Polyakov–Shoup without the correction). Hybrid key switching
//! tolerates the `u·A` term (it vanishes against the gadget), and in ModDown it becomes an
//! error of at most `|P|` after the division by `P`.
//!
//! Inner sums accumulate 128-bit products and reduce once per 15 terms (each product is below
//! 2^124).

use super::modulus::Modulus;
use super::ntt::NttTable;
use super::poly::{MIN_PARALLEL_LIMB, for_each_limb};
use super::pool;

/// Products per 128-bit accumulator before a reduction is needed (each is < 2^124).
const LAZY_TERMS: usize = 15;

/// Precomputed constants converting from basis `from` to basis `to` (coefficient form).
#[derive(Debug, Clone)]
pub struct BasisConverter {
    from: Vec<Modulus>,
    to: Vec<Modulus>,
    /// `(A/a_j)^{-1} mod a_j` and its Shoup constant.
    inv_punctured: Vec<(u64, u64)>,
    /// `punctured[k][j] = (A/a_j) mod b_k`.
    punctured: Vec<Vec<u64>>,
}

impl BasisConverter {
    /// Constants for converting from `from` to `to` (all primes distinct).
    pub fn new(from: &[Modulus], to: &[Modulus]) -> Self {
        let inv_punctured = from
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let prod = from
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != j)
                    .fold(1u64, |acc, (_, o)| m.mul(acc, m.reduce(o.value())));
                let inv = m.inv(prod).unwrap_or(0);
                (inv, m.shoup(inv))
            })
            .collect();
        let punctured = to
            .iter()
            .map(|b| {
                (0..from.len())
                    .map(|j| {
                        from.iter()
                            .enumerate()
                            .filter(|&(i, _)| i != j)
                            .fold(1u64, |acc, (_, o)| b.mul(acc, b.reduce(o.value())))
                    })
                    .collect()
            })
            .collect();
        Self {
            from: from.to_vec(),
            to: to.to_vec(),
            inv_punctured,
            punctured,
        }
    }

    /// Number of target limbs.
    pub fn to_len(&self) -> usize {
        self.to.len()
    }

    /// Source basis.
    pub fn from_moduli(&self) -> &[Modulus] {
        &self.from
    }

    /// Target basis.
    pub fn to_moduli(&self) -> &[Modulus] {
        &self.to
    }

    /// Step 1: `scaled[j] = [x_j · (A/a_j)^{-1}]_{a_j}` for every coefficient. `input` and
    /// `scaled` are limb-major with `from.len()` limbs of `n` coefficients.
    pub fn scale_inputs(&self, input: &[u64], scaled: &mut [u64], n: usize) {
        for_each_limb(&mut scaled[..self.from.len() * n], n, |j, dst| {
            let m = &self.from[j];
            let (w, ws) = self.inv_punctured[j];
            for (d, &s) in dst.iter_mut().zip(&input[j * n..(j + 1) * n]) {
                *d = m.mul_shoup(s, w, ws);
            }
        });
    }

    /// Step 1 for one source limb, in place and with an extra factor folded into the constant:
    /// `limb ← [limb · (A/a_j)^{-1} · factor]_{a_j}` (any `limb` words below 2^64). With
    /// `factor = N^{-1}` it takes the output of an unnormalized inverse NTT
    /// ([`NttTable::inverse_unnormalized`]) and saves the normalization pass.
    pub fn scale_limb_in_place(&self, j: usize, limb: &mut [u64], factor: u64) {
        let m = &self.from[j];
        let w = m.mul(self.inv_punctured[j].0, factor);
        let ws = m.shoup(w);
        for x in limb.iter_mut() {
            *x = m.mul_shoup(*x, w, ws);
        }
    }

    /// Step 2: target limb `k` (an index into `to`) from the scaled inputs of step 1.
    ///
    /// Four coefficients are accumulated side by side so that the 128-bit add chains of
    /// neighbouring coefficients overlap (the loop is bound by multiply latency otherwise);
    /// the sums are reduced once per [`LAZY_TERMS`] source limbs and once at the end.
    pub fn convert_limb(&self, scaled: &[u64], k: usize, out: &mut [u64]) {
        let n = out.len();
        let b = &self.to[k];
        let row = &self.punctured[k];
        let cols: Vec<&[u64]> = (0..self.from.len())
            .map(|j| &scaled[j * n..(j + 1) * n])
            .collect();
        let mut chunks = out.chunks_exact_mut(4);
        let mut c = 0;
        for o in &mut chunks {
            let mut acc = [0u128; 4];
            for (group, (cols, row)) in cols
                .chunks(LAZY_TERMS)
                .zip(row.chunks(LAZY_TERMS))
                .enumerate()
            {
                if group > 0 {
                    for a in acc.iter_mut() {
                        *a = b.reduce_u128(*a) as u128;
                    }
                }
                for (col, &w) in cols.iter().zip(row) {
                    let w = w as u128;
                    let x = &col[c..c + 4];
                    acc[0] += x[0] as u128 * w;
                    acc[1] += x[1] as u128 * w;
                    acc[2] += x[2] as u128 * w;
                    acc[3] += x[3] as u128 * w;
                }
            }
            for (v, a) in o.iter_mut().zip(acc) {
                *v = b.reduce_u128(a);
            }
            c += 4;
        }
        for (i, o) in chunks.into_remainder().iter_mut().enumerate() {
            *o = convert_coefficient_reference(b, &cols, row, c + i);
        }
    }
}

/// One output coefficient of the conversion, term by term with a reduction after each product:
/// the plain version of [`BasisConverter::convert_limb`]'s lazy kernel (and its tail).
fn convert_coefficient_reference(b: &Modulus, cols: &[&[u64]], row: &[u64], c: usize) -> u64 {
    cols.iter()
        .zip(row)
        .fold(0u64, |acc, (col, &w)| b.add(acc, b.mul(col[c], w)))
}

/// Adds a caller's part to limb `k` of a polynomial (`add(k, limb)`), limb by limb inside a
/// kernel that walks the limbs anyway (see [`DivideAndRound::apply_with`]).
pub type LimbAdder<'a> = &'a (dyn Fn(usize, &mut [u64]) + Sync);

/// Exact division by the product `A` of a set of primes with rounding, from a basis `A ∪ B`
/// to `B` (HPS-style: the fast conversion's overflow count `v = floor(Σ_j y_j / a_j)` is
/// computed in floating point and subtracted, so `[x]_A` is reconstructed exactly except with
/// negligible probability). Used for ModDown (`A = P`) and for ModDown fused with a rescale
/// (`A = {q_l} ∪ P`). The result is `round(x / A)`: the only new error is the final rounding.
#[derive(Debug, Clone)]
pub struct DivideAndRound {
    converter: BasisConverter,
    /// `1 / a_j` as f64.
    inv_from: Vec<f64>,
    /// `A mod b_k`.
    a_mod_to: Vec<u64>,
    /// `floor(A/2) mod a_j` and `mod b_k`.
    half_mod_from: Vec<u64>,
    half_mod_to: Vec<u64>,
    /// `A^{-1} mod b_k` with Shoup constants.
    inv_a_mod_to: Vec<(u64, u64)>,
}

impl DivideAndRound {
    /// Constants for dividing by `A = Π from` into basis `to` (all primes odd and distinct).
    pub fn new(from: &[Modulus], to: &[Modulus]) -> Self {
        let a_mod = |m: &Modulus| {
            from.iter()
                .fold(1u64, |acc, a| m.mul(acc, m.reduce(a.value())))
        };
        // A is odd, so floor(A/2) = (A - 1)/2 ≡ (A - 1)·2^{-1}.
        let half_mod = |m: &Modulus| {
            let am = a_mod(m);
            let two_inv = m.inv(2).unwrap_or(0);
            m.mul(m.sub(am, 1 % m.value()), two_inv)
        };
        let a_mod_to: Vec<u64> = to.iter().map(a_mod).collect();
        Self {
            converter: BasisConverter::new(from, to),
            inv_from: from.iter().map(|a| 1.0 / a.value() as f64).collect(),
            half_mod_from: from.iter().map(half_mod).collect(),
            half_mod_to: to.iter().map(half_mod).collect(),
            inv_a_mod_to: to
                .iter()
                .zip(&a_mod_to)
                .map(|(m, &am)| {
                    let inv = m.inv(am).unwrap_or(0);
                    (inv, m.shoup(inv))
                })
                .collect(),
            a_mod_to,
        }
    }

    /// `x_to ← round(x / A)` for the first `x_to.len() / n` target primes.
    ///
    /// `x_from` holds the residues of `x` modulo the `A` primes in coefficient form (it is
    /// overwritten); `x_to` the residues modulo the target primes in NTT form, transformed with
    /// `to_tables` (one per target limb used).
    pub fn apply(&self, x_from: &mut [u64], x_to: &mut [u64], to_tables: &[NttTable], n: usize) {
        self.apply_adding(x_from, x_to, to_tables, n, None);
    }

    /// As [`Self::apply`], but divides `x + e` for a small polynomial `e` (coefficients,
    /// `|e_i| < 2^63`) given in coefficient form: `e` is added to the `A` residues before the
    /// conversion and to the target residues inside it (subtracted from the coefficient-form
    /// correction before its NTT), so adding it costs no NTT of its own.
    pub fn apply_adding(
        &self,
        x_from: &mut [u64],
        x_to: &mut [u64],
        to_tables: &[NttTable],
        n: usize,
        addend: Option<&[i64]>,
    ) {
        self.apply_with(x_from, x_to, to_tables, n, addend, None);
    }

    /// As [`Self::apply_adding`], where `add_to` (if any) first adds to each target limb `k` of
    /// `x` (NTT form, called with `k` and the limb just before the limb is divided, while it
    /// is in cache): for a part of `x` that the caller never materialises (the `P·d` of a
    /// product's linear terms, see `Evaluator::sum_of_products_and_rescale`). The residues of
    /// `x` modulo the `A` primes in `x_from` must already include that part.
    pub fn apply_with(
        &self,
        x_from: &mut [u64],
        x_to: &mut [u64],
        to_tables: &[NttTable],
        n: usize,
        addend: Option<&[i64]>,
        add_to: Option<LimbAdder<'_>>,
    ) {
        let nf = self.inv_from.len();
        // x (+ e) + floor(A/2), so that the floor of the exact division rounds.
        for_each_limb(x_from, n, |j, limb| {
            let m = &self.converter.from[j];
            let h = self.half_mod_from[j];
            match addend {
                Some(e) => {
                    for (v, &c) in limb.iter_mut().zip(e) {
                        *v = m.add(m.add(*v, h), m.from_i64(c));
                    }
                }
                None => {
                    for v in limb.iter_mut() {
                        *v = m.add(*v, h);
                    }
                }
            }
        });
        let mut scaled = pool::take_for_overwrite(nf * n);
        self.converter.scale_inputs(x_from, &mut scaled, n);
        let mut overflow = pool::take_for_overwrite(n);
        let chunk = n.min(MIN_PARALLEL_LIMB);
        for_each_limb(&mut overflow, chunk, |i, out| {
            for (k, o) in out.iter_mut().enumerate() {
                let c = i * chunk + k;
                // Residues are below 2^62, so the signed conversion is exact and a single
                // instruction; the sum is non-negative, so truncation is the floor (no libm call).
                let s: f64 = (0..nf)
                    .map(|j| scaled[j * n + c] as i64 as f64 * self.inv_from[j])
                    .sum();
                *o = s as u64;
            }
        });
        for_each_limb(x_to, n, |k, limb| {
            let m = &self.converter.to[k];
            let mut tmp = pool::take_for_overwrite(n);
            self.converter.convert_limb(&scaled, k, &mut tmp);
            let am = self.a_mod_to[k];
            let am_shoup = m.shoup(am);
            let h = self.half_mod_to[k];
            // tmp = [x + h]_A - h, so that x - tmp = A·floor((x + h) / A).
            for (t, &v) in tmp.iter_mut().zip(&overflow) {
                *t = m.sub(m.sub(*t, m.mul_shoup(v, am, am_shoup)), h);
            }
            // x + e - tmp = x - (tmp - e): the target residues of x are in NTT form, e is not.
            if let Some(e) = addend {
                for (t, &c) in tmp.iter_mut().zip(e) {
                    *t = m.sub(*t, m.from_i64(c));
                }
            }
            to_tables[k].forward(&mut tmp);
            if let Some(add) = add_to {
                add(k, limb);
            }
            let (w, ws) = self.inv_a_mod_to[k];
            for (v, &t) in limb.iter_mut().zip(&tmp) {
                *v = m.mul_shoup(m.sub(*v, t), w, ws);
            }
            pool::give(tmp);
        });
        pool::give(overflow);
        pool::give(scaled);
    }
}

/// Rescaling constants for dividing by the last prime `q_l` of a basis `q_0..q_l` with rounding.
#[derive(Debug, Clone)]
pub struct RescaleConstants {
    /// `q_l^{-1} mod q_i` with Shoup constants, for `i < l`.
    pub inv_last: Vec<(u64, u64)>,
    /// `floor(q_l / 2) mod q_i` for `i < l`.
    pub half_last_mod: Vec<u64>,
    /// `floor(q_l / 2)`.
    pub half_last: u64,
}

impl RescaleConstants {
    /// Constants for `moduli = q_0..q_l` (dividing by `q_l`).
    pub fn new(moduli: &[Modulus]) -> Self {
        let (last, rest) = moduli.split_last().expect("at least one modulus");
        let half = last.value() / 2;
        Self {
            inv_last: rest
                .iter()
                .map(|m| {
                    let inv = m.inv(m.reduce(last.value())).unwrap_or(0);
                    (inv, m.shoup(inv))
                })
                .collect(),
            half_last_mod: rest.iter().map(|m| m.reduce(half)).collect(),
            half_last: half,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;
    use proptest::prelude::*;

    fn moduli(bits: &[u32], g: &mut PrimeGenerator) -> Vec<Modulus> {
        bits.iter()
            .map(|&b| Modulus::new(g.next_prime(b).unwrap()).unwrap())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Conv(x) = x + u·A with 0 ≤ u < |A|, checked with exact 128-bit integers.
        #[test]
        fn conversion_error_is_a_small_multiple_of_the_source_modulus(
            x in any::<u128>(), many in any::<bool>()
        ) {
            let mut g = PrimeGenerator::new(1);
            let (from, to) = if many {
                // 17 small primes (6 and 7 bits): exercises the chunked reduction; A < 2^110.
                let mut bits = vec![6u32; 7];
                bits.extend([7u32; 10]);
                let f = moduli(&bits, &mut g);
                (f, moduli(&[30, 45, 61], &mut g))
            } else {
                (moduli(&[40, 50], &mut g), moduli(&[61, 61, 30], &mut g))
            };
            let a: u128 = from.iter().map(|m| m.value() as u128).product();
            let x = x % a;
            let n = 1;
            let input: Vec<u64> = from.iter().map(|m| (x % m.value() as u128) as u64).collect();
            let conv = BasisConverter::new(&from, &to);
            let mut scaled = vec![0u64; from.len()];
            conv.scale_inputs(&input, &mut scaled, n);
            let outs: Vec<u64> = (0..to.len()).map(|k| {
                let mut o = [0u64];
                conv.convert_limb(&scaled, k, &mut o);
                o[0]
            }).collect();
            let ok = (0..from.len() as u128).any(|u| {
                let v = x + u * a;
                to.iter().zip(&outs).all(|(m, &o)| (v % m.value() as u128) as u64 == o)
            });
            prop_assert!(ok);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// The lazy four-wide kernel equals the term-by-term reference in every coefficient,
        /// for 1 to 20 source limbs (past one reduction group) and lengths with a tail.
        #[test]
        fn lazy_conversion_matches_the_reference(
            seed in any::<u64>(), sources in 1usize..=20, n in 1usize..=11
        ) {
            let mut g = PrimeGenerator::new(1);
            let bits: Vec<u32> = (0..sources).map(|j| 40 + (j as u32 % 3) * 10).collect();
            let from = moduli(&bits, &mut g);
            let to = moduli(&[61, 45], &mut g);
            let conv = BasisConverter::new(&from, &to);
            let mut s = seed;
            let scaled: Vec<u64> = (0..sources * n)
                .map(|i| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    from[i / n].reduce(s)
                })
                .collect();
            let cols: Vec<&[u64]> = scaled.chunks_exact(n).collect();
            for (k, b) in to.iter().enumerate() {
                let mut out = vec![0u64; n];
                conv.convert_limb(&scaled, k, &mut out);
                for (c, &o) in out.iter().enumerate() {
                    prop_assert_eq!(o, convert_coefficient_reference(b, &cols, &conv.punctured[k], c));
                }
            }
            // Scaling in place with a factor equals scaling then multiplying by the factor.
            let mut plain = vec![0u64; sources * n];
            conv.scale_inputs(&scaled, &mut plain, n);
            for (j, m) in from.iter().enumerate() {
                let factor = m.reduce(seed ^ j as u64);
                let mut limb = scaled[j * n..(j + 1) * n].to_vec();
                conv.scale_limb_in_place(j, &mut limb, factor);
                let expect: Vec<u64> = plain[j * n..(j + 1) * n].iter().map(|&x| m.mul(x, factor)).collect();
                prop_assert_eq!(limb, expect);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// round(x / A) exactly, for x = A·t + r with r anywhere in [0, A).
        #[test]
        fn divide_and_round_is_exact(t in 0u64..(1 << 40), r_frac in 0.0f64..1.0) {
            let n = 16;
            let mut g = PrimeGenerator::new(n);
            let from = moduli(&[30, 31], &mut g);
            let to = moduli(&[40, 41], &mut g);
            let tables: Vec<NttTable> = to.iter().map(|m| NttTable::new(*m, n).unwrap()).collect();
            let a: u128 = from.iter().map(|m| m.value() as u128).product();
            let r = ((a as f64) * r_frac) as u128 % a;
            let x = a * t as u128 + r;
            let dr = DivideAndRound::new(&from, &to);
            // Constant polynomial x: coefficient 0 = x, others 0.
            let mut x_from = vec![0u64; 2 * n];
            for (j, m) in from.iter().enumerate() {
                x_from[j * n] = (x % m.value() as u128) as u64;
            }
            let mut x_to = vec![0u64; 2 * n];
            for (k, m) in to.iter().enumerate() {
                let limb = &mut x_to[k * n..(k + 1) * n];
                limb[0] = (x % m.value() as u128) as u64;
                tables[k].forward(limb);
            }
            dr.apply(&mut x_from, &mut x_to, &tables, n);
            let expect = (x + a / 2) / a;
            for (k, m) in to.iter().enumerate() {
                let limb = &mut x_to[k * n..(k + 1) * n];
                tables[k].inverse(limb);
                prop_assert_eq!(limb[0] as u128, expect % m.value() as u128);
                prop_assert!(limb[1..].iter().all(|&v| v == 0));
            }
        }
    }

    #[test]
    fn rescale_constants_divide_with_rounding() {
        let mut g = PrimeGenerator::new(8);
        let ms = moduli(&[40, 30], &mut g);
        let rc = RescaleConstants::new(&ms);
        let (q0, q1) = (ms[0], ms[1]);
        for x in [
            0u128,
            1,
            12345678901234,
            (q1.value() as u128) * 77 + q1.value() as u128 / 2 + 1,
        ] {
            // y = (x mod q1 + half) mod q1; result = (x - (y - half)) / q1 mod q0.
            let x0 = (x % q0.value() as u128) as u64;
            let x1 = (x % q1.value() as u128) as u64;
            let y = q1.add(x1, rc.half_last);
            let y0 = q0.sub(q0.reduce(y), rc.half_last_mod[0]);
            let r = q0.mul_shoup(q0.sub(x0, y0), rc.inv_last[0].0, rc.inv_last[0].1);
            let expect = (x + q1.value() as u128 / 2) / q1.value() as u128;
            assert_eq!(r as u128, expect % q0.value() as u128);
        }
    }
}
