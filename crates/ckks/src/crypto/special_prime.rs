//! Public-key encryption over `Q_l·p` with ONE special prime `p`, divided by `p` at the end.
//!
//! Encrypting over `Q_l` alone leaves the noise `v·e + e0 + e1·s` in a fresh ciphertext. Over
//! `Q_l·p` followed by a rounded division by `p`, the noise becomes the division's rounding
//! error `(r0 + r1·s)/p` with `|r_i| ≤ p/2` (plus `v·e/p`, negligible for `p ≈ 2^61`): the same
//! distribution as dividing by the product of all special primes, at a fraction of the cost.
//! SEAL encrypts the same way with its single special prime.
//!
//! Per ciphertext the work is `l + 2` forward NTTs of the ternary `v` (q-limbs and `p`), two
//! inverse NTTs on `p`, and two forward NTTs per q-limb of the rounding corrections; each
//! q-limb's three transforms and its products with the key are fused in one pass that writes
//! both output limbs once (no intermediate `v·b` over `Q_l`, no basis conversion).
//!
//! The encryptor keeps the key's q-limbs already multiplied by `p^{-1}` and in Shoup form
//! ([`DividedKey`], built once): each output coefficient then costs one Shoup product with the
//! key and one with `p^{-1}` (inside the correction, before its NTT) instead of a Barrett
//! product, a subtraction and a Shoup product after it.

use crate::math::modulus::Modulus;
use crate::math::ntt::NttTable;
use crate::math::poly::{Form, RnsPoly, for_each_limb_pair, join};
use crate::math::pool;
use crate::math::ring::RnsRing;

/// Constants of the rounded division by one special prime `p` into `q_0..q_L`.
#[derive(Debug, Clone)]
pub(crate) struct SpecialPrimeDivision {
    /// `floor(p/2)`.
    half: u64,
    /// Per q-limb: `p^{-1} mod q_i` with its Shoup constant, and `floor(p/2) mod q_i`.
    per_q: Vec<(u64, u64, u64)>,
}

/// A public key prepared for encryption with [`SpecialPrimeDivision`]: its q-limbs multiplied
/// by `p^{-1} mod q_i` with their Shoup constants, and its residues modulo `p` (NTT form).
/// Twice the memory of the key's q-limbs (four words per coefficient and limb instead of two).
#[derive(Clone)]
pub(crate) struct DividedKey {
    /// Per q-limb and coefficient: `(b·p^{-1}, Shoup)` then `(a·p^{-1}, Shoup)`, limb-major.
    b: Vec<(u64, u64)>,
    a: Vec<(u64, u64)>,
    /// `b mod p` and `a mod p`.
    b_p: Vec<u64>,
    a_p: Vec<u64>,
    n: usize,
}

impl std::fmt::Debug for DividedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DividedKey")
            .field("q_limbs", &(self.b.len() / self.n.max(1)))
            .finish_non_exhaustive()
    }
}

impl DividedKey {
    /// Number of q-limbs covered.
    pub fn num_q(&self) -> usize {
        self.b.len() / self.n.max(1)
    }
}

/// Errors of the two components, in coefficient form.
pub(crate) struct FreshNoise<'a> {
    /// The ephemeral ternary polynomial `v`.
    pub v: &'a [i64],
    /// Error of `c0`.
    pub e0: &'a [i64],
    /// Error of `c1`.
    pub e1: &'a [i64],
}

impl SpecialPrimeDivision {
    /// Constants for dividing by the first special prime of `ring`; `None` without one.
    pub fn new(ring: &RnsRing) -> Option<Self> {
        let p = *ring.p_tables().first()?.modulus();
        let half = p.value() / 2;
        let per_q = ring
            .q_tables()
            .iter()
            .map(|t| {
                let m = t.modulus();
                let inv = m.inv(m.reduce(p.value())).unwrap_or(0);
                (inv, m.shoup(inv), m.reduce(half))
            })
            .collect();
        Some(Self { half, per_q })
    }

    /// Prepares the key `(b, a)` (NTT form; q-limbs `b_q`, `a_q`, residues modulo `p` in
    /// `b_p`, `a_p`) for [`Self::encrypt`].
    pub fn divided_key(
        &self,
        ring: &RnsRing,
        (b_q, a_q): (&RnsPoly, &RnsPoly),
        (b_p, a_p): (&[u64], &[u64]),
    ) -> DividedKey {
        let n = ring.n();
        let nq = b_q.num_q().min(a_q.num_q()).min(self.per_q.len());
        let divide = |key: &RnsPoly| -> Vec<(u64, u64)> {
            (0..nq)
                .flat_map(|i| {
                    let q = ring.q_tables()[i].modulus();
                    let (w, ws, _) = self.per_q[i];
                    key.limb(i).iter().map(move |&k| {
                        let x = q.mul_shoup(k, w, ws);
                        (x, q.shoup(x))
                    })
                })
                .collect()
        };
        DividedKey {
            b: divide(b_q),
            a: divide(a_q),
            b_p: b_p.to_vec(),
            a_p: a_p.to_vec(),
            n,
        }
    }

    /// `(round((v·b + e0)/p) + m, round((v·a + e1)/p))` over the plaintext's q-limbs, for the
    /// key prepared by [`Self::divided_key`] (covering at least those q-limbs). `m` (NTT form,
    /// q-limbs only) sets the level.
    pub fn encrypt(
        &self,
        ring: &RnsRing,
        key: &DividedKey,
        noise: FreshNoise<'_>,
        m: &RnsPoly,
    ) -> (RnsPoly, RnsPoly) {
        let n = ring.n();
        let nq = m.num_q();
        debug_assert_eq!(m.form(), Form::Ntt);
        debug_assert!(nq <= key.num_q());
        let p_table = &ring.p_tables()[0];
        // The residues mod p: r_k = [v·key_k + e_k + floor(p/2)]_p in coefficient form.
        let mut v_p = pool::take_for_overwrite(n);
        signed_into(p_table.modulus(), noise.v, &mut v_p);
        p_table.forward(&mut v_p);
        let corrected = |key: &[u64], e: &[i64]| self.residue_mod_p(p_table, &v_p, key, e);
        let (r0, r1) = join(
            n,
            || corrected(&key.b_p, noise.e0),
            || corrected(&key.a_p, noise.e1),
        );
        pool::give(v_p);
        let mut c0 = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        let mut c1 = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        let q_tables = &ring.q_tables()[..nq];
        for_each_limb_pair(c0.data_mut(), c1.data_mut(), n, |i, o0, o1| {
            let limb = QLimb {
                table: &q_tables[i],
                constants: self.per_q[i],
            };
            let range = i * n..(i + 1) * n;
            limb.divide(
                noise.v,
                (&r0, noise.e0, &key.b[range.clone()], o0),
                (&r1, noise.e1, &key.a[range], o1),
                m.limb(i),
            );
        });
        pool::give(r0);
        pool::give(r1);
        (c0, c1)
    }

    /// `[v·key + e + floor(p/2)]_p` in coefficient form (`v_p` in NTT form mod `p`).
    fn residue_mod_p(&self, table: &NttTable, v_p: &[u64], key: &[u64], e: &[i64]) -> Vec<u64> {
        let p = table.modulus();
        let mut r = pool::take_for_overwrite(v_p.len());
        for ((o, &x), &k) in r.iter_mut().zip(v_p).zip(key) {
            *o = p.mul(x, k);
        }
        table.inverse(&mut r);
        for (o, &c) in r.iter_mut().zip(e) {
            *o = p.add(p.add(*o, self.half), p.from_small_i64(c));
        }
        r
    }
}

/// One component's inputs and output limb in [`QLimb::divide`]: the residue `r_k` mod `p`
/// (coefficient form), the error `e_k`, the prepared key limb (value, Shoup), the output.
type Component<'a> = (&'a [u64], &'a [i64], &'a [(u64, u64)], &'a mut [u64]);

/// One q-limb of the division: its NTT table and `(p^{-1}, Shoup, floor(p/2) mod q_i)`.
struct QLimb<'a> {
    table: &'a NttTable,
    constants: (u64, u64, u64),
}

impl QLimb<'_> {
    /// Writes `v·key_k·p^{-1} - t_k·p^{-1}` (plus `m` for the first component) into `out_k`,
    /// where `t_k = r_k - floor(p/2) - e_k` is the rounding correction (`v·key_k + e_k - t_k`
    /// is the multiple of `p` nearest to `v·key_k + e_k`) and `key_k` comes already multiplied
    /// by `p^{-1}`, with its Shoup constants.
    fn divide(
        &self,
        v: &[i64],
        (r0, e0, b, out0): Component<'_>,
        (r1, e1, a, out1): Component<'_>,
        m: &[u64],
    ) {
        let q = self.table.modulus();
        let mut v_q = pool::take_for_overwrite(v.len());
        signed_into(q, v, &mut v_q);
        self.table.forward(&mut v_q);
        // -t_k·p^{-1} goes straight into out_k, is transformed there, then combined in place.
        self.correction_into(r0, e0, out0);
        self.correction_into(r1, e1, out1);
        for ((((o0, o1), &x), &(kb, kbs)), (&(ka, kas), &mm)) in out0
            .iter_mut()
            .zip(out1.iter_mut())
            .zip(&v_q)
            .zip(b)
            .zip(a.iter().zip(m))
        {
            *o0 = q.add(q.add(q.mul_shoup(x, kb, kbs), *o0), mm);
            *o1 = q.add(q.mul_shoup(x, ka, kas), *o1);
        }
        pool::give(v_q);
    }

    /// `out = NTT(-(r - h - e)·p^{-1} mod q)`.
    fn correction_into(&self, r: &[u64], e: &[i64], out: &mut [u64]) {
        let q = self.table.modulus();
        let (w, ws, h) = self.constants;
        for ((o, &x), &c) in out.iter_mut().zip(r).zip(e) {
            let minus_t = q.sub(q.add(h, q.from_small_i64(c)), q.reduce(x));
            *o = q.mul_shoup(minus_t, w, ws);
        }
        self.table.forward(out);
    }
}

/// Residues of small signed coefficients (`|c| < m`: ternary or sampled errors) modulo `m`.
fn signed_into(m: &Modulus, coeffs: &[i64], out: &mut [u64]) {
    for (o, &c) in out.iter_mut().zip(coeffs) {
        *o = m.from_small_i64(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// The integer in `[0, Π moduli)` with the given residues (Garner; the product is below
    /// 2^127 in these tests).
    fn crt(residues: &[u64], moduli: &[Modulus]) -> u128 {
        let (mut x, mut prod) = (0u128, 1u128);
        for (&r, m) in residues.iter().zip(moduli) {
            let xm = (x % m.value() as u128) as u64;
            let pm = (prod % m.value() as u128) as u64;
            let t = m.mul(m.sub(r, xm), m.inv(pm).unwrap_or(1));
            x += t as u128 * prod;
            prod *= m.value() as u128;
        }
        x
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// The fused kernel equals the textbook computation: `v·key` over `Q·p` reconstructed
        /// as an exact integer per coefficient, `floor((x + e + floor(p/2)) / p)`, transformed
        /// back, plus `m` on the first component.
        #[test]
        fn fused_division_matches_exact_integer_reference(seed in any::<u64>(), levels in 1usize..=2) {
            let n = 16;
            let mut g = PrimeGenerator::new(n);
            let q: Vec<u64> = [30, 31].iter().map(|&b| g.next_prime(b).unwrap()).collect();
            // Two special primes: the kernel must use the first one only.
            let p: Vec<u64> = [61, 60].iter().map(|&b| g.next_prime(b).unwrap()).collect();
            let ring = RnsRing::new(n, &q, &p).unwrap();
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let v: Vec<i64> = (0..n).map(|_| rng.gen_range(-1..=1)).collect();
            let e0: Vec<i64> = (0..n).map(|_| rng.gen_range(-19..=19)).collect();
            let e1: Vec<i64> = (0..n).map(|_| rng.gen_range(-19..=19)).collect();
            let uniform = |rng: &mut ChaCha20Rng, num_q: usize, num_p: usize| {
                let mut poly = RnsPoly::zero(n, num_q, num_p, Form::Ntt);
                for i in 0..num_q + num_p {
                    let modulus = ring.modulus(i, num_q).value();
                    for x in poly.limb_mut(i) {
                        *x = rng.gen_range(0..modulus);
                    }
                }
                poly
            };
            let b = uniform(&mut rng, 2, 0);
            let a = uniform(&mut rng, 2, 0);
            let key_p = uniform(&mut rng, 0, 2);
            let m = uniform(&mut rng, levels, 0);
            let division = SpecialPrimeDivision::new(&ring).unwrap();
            let key = division.divided_key(&ring, (&b, &a), (key_p.limb(0), key_p.limb(1)));
            let (c0, c1) = division.encrypt(
                &ring,
                &key,
                FreshNoise { v: &v, e0: &e0, e1: &e1 },
                &m,
            );
            prop_assert_eq!((c0.num_q(), c1.num_q()), (levels, levels));

            let moduli: Vec<Modulus> = (0..levels)
                .map(|i| *ring.q_tables()[i].modulus())
                .chain([*ring.p_tables()[0].modulus()])
                .collect();
            let pm = moduli[levels].value() as i128;
            // Key limbs in the order of `moduli`: the q-limbs in use, then p_0.
            let reference = |key_q: &RnsPoly, key_p: &[u64], e: &[i64]| -> Vec<Vec<u64>> {
                let limbs: Vec<Vec<u64>> = moduli
                    .iter()
                    .enumerate()
                    .map(|(i, md)| {
                        let table = if i < levels { &ring.q_tables()[i] } else { &ring.p_tables()[0] };
                        let key = if i < levels { key_q.limb(i) } else { key_p };
                        let mut vi: Vec<u64> = v.iter().map(|&c| md.from_i64(c)).collect();
                        table.forward(&mut vi);
                        let mut x: Vec<u64> = vi.iter().zip(key).map(|(&s, &k)| md.mul(s, k)).collect();
                        table.inverse(&mut x);
                        x
                    })
                    .collect();
                (0..levels)
                    .map(|i| {
                        let md = &moduli[i];
                        let mut out: Vec<u64> = (0..n)
                            .map(|c| {
                                let res: Vec<u64> = limbs.iter().map(|l| l[c]).collect();
                                let x = crt(&res, &moduli) as i128 + e[c] as i128 + pm / 2;
                                (x.div_euclid(pm).rem_euclid(md.value() as i128)) as u64
                            })
                            .collect();
                        ring.q_tables()[i].forward(&mut out);
                        out
                    })
                    .collect()
            };
            let want0 = reference(&b, key_p.limb(0), &e0);
            let want1 = reference(&a, key_p.limb(1), &e1);
            for i in 0..levels {
                let md = &moduli[i];
                let with_m: Vec<u64> = want0[i].iter().zip(m.limb(i)).map(|(&x, &y)| md.add(x, y)).collect();
                prop_assert_eq!(c0.limb(i), &with_m[..]);
                prop_assert_eq!(c1.limb(i), &want1[i][..]);
            }
        }
    }
}
