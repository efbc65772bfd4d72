//! Key generation.

use super::public::{EvaluationKeys, GaloisKey, GaloisKeys, PublicKey, RelinearizationKey};
use super::secret::{SecretKey, SecretPoly};
use super::switching::KeySwitchKey;
use crate::error::{Error, Result};
use crate::math::poly::RnsPoly;
use crate::math::sample::{self, Prng};
use crate::params::context::Context;
use crate::params::spec::SecretDistribution;
use std::sync::Arc;

/// Generates a secret key and the public and evaluation keys that go with it.
#[derive(Debug)]
pub struct KeyGenerator {
    ctx: Arc<Context>,
    rng: Prng,
    sk: SecretKey,
}

impl KeyGenerator {
    /// Samples a fresh secret key with the spec's distribution.
    pub fn new(ctx: &Arc<Context>, mut rng: Prng) -> Self {
        let n = ctx.n();
        let coeffs = match ctx.spec().secret {
            SecretDistribution::Ternary => sample::ternary(&mut rng, n),
            SecretDistribution::SparseTernary { hamming_weight } => {
                sample::sparse_ternary(&mut rng, n, hamming_weight)
            }
        };
        let mut poly = RnsPoly::from_signed(ctx.ring(), &coeffs, ctx.max_level() + 1, ctx.num_p());
        let mut coeffs = coeffs;
        zeroize::Zeroize::zeroize(&mut coeffs[..]);
        poly.ntt(ctx.ring());
        let sk = SecretKey::from_poly(poly, ctx.id());
        Self {
            ctx: ctx.clone(),
            rng,
            sk,
        }
    }

    /// Continues with an existing secret key (e.g. loaded from a keystore).
    pub fn with_secret_key(ctx: &Arc<Context>, sk: SecretKey, rng: Prng) -> Result<Self> {
        if sk.context_id != ctx.id() {
            return Err(Error::ParameterMismatch(
                "secret key belongs to another context".into(),
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            rng,
            sk,
        })
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.sk
    }

    /// Gives up the generator, keeping the secret key.
    pub fn into_secret_key(self) -> SecretKey {
        self.sk
    }

    /// Gaussian error polynomial in NTT form with the given shape.
    fn error(&mut self, num_q: usize, num_p: usize) -> RnsPoly {
        let e = sample::gaussian(&mut self.rng, self.ctx.n());
        let mut p = RnsPoly::from_signed(self.ctx.ring(), &e, num_q, num_p);
        p.ntt(self.ctx.ring());
        p
    }

    /// A public key `(-a·s + e, a)` over all q and p primes (see [`PublicKey`]).
    pub fn public_key(&mut self) -> PublicKey {
        let ctx = self.ctx.clone();
        let ring = ctx.ring();
        let (nq, np) = (ctx.max_level() + 1, ctx.num_p());
        let seed = self.rng.seed();
        let a_full = sample::uniform_poly(ring, &seed, nq, np);
        let mut b_full = self.error(nq, np);
        let mut as_ = a_full.clone();
        as_.mul_assign(ring, &self.sk.poly);
        b_full.sub_assign(ring, &as_);
        let special = Some((b_full.p_part(), a_full.p_part()));
        let (mut b, mut a) = (b_full, a_full);
        b.drop_p();
        a.drop_p();
        PublicKey {
            b,
            a,
            special,
            seed,
            context_id: self.ctx.id(),
        }
    }

    /// Key-switching key from `target` (NTT form over all q and p primes) to the secret key.
    fn key_switch_key(&mut self, target: &RnsPoly) -> KeySwitchKey {
        let ctx = self.ctx.clone();
        let ring = ctx.ring();
        let (nq, np) = (ctx.max_level() + 1, ctx.num_p());
        let alpha = ctx.digit_size();
        let mut b = Vec::with_capacity(ctx.dnum());
        let mut a = Vec::with_capacity(ctx.dnum());
        let mut seeds = Vec::with_capacity(ctx.dnum());
        for j in 0..ctx.dnum() {
            let seed = self.rng.seed();
            let aj = sample::uniform_poly(ring, &seed, nq, np);
            let mut bj = self.error(nq, np);
            let mut as_ = aj.clone();
            as_.mul_assign(ring, &self.sk.poly);
            bj.sub_assign(ring, &as_);
            // + P·T_j·s' : only the limbs of digit j, times (P mod q_i).
            let n = ctx.n();
            for i in j * alpha..((j + 1) * alpha).min(nq) {
                let m = ring.q_tables()[i].modulus();
                let pq = ctx.p_mod_q(i);
                let pqs = m.shoup(pq);
                let src = &target.data()[i * n..(i + 1) * n];
                for (x, &t) in bj.limb_mut(i).iter_mut().zip(src) {
                    *x = m.add(*x, m.mul_shoup(t, pq, pqs));
                }
            }
            b.push(bj);
            a.push(aj);
            seeds.push(seed);
        }
        KeySwitchKey { b, a, seeds }
    }

    /// The relinearization key (from `s²` to `s`).
    pub fn relinearization_key(&mut self) -> RelinearizationKey {
        let mut s2 = SecretPoly(self.sk.poly.0.clone());
        s2.0.mul_assign(self.ctx.ring(), &self.sk.poly);
        RelinearizationKey::from_key(self.key_switch_key(&s2), self.ctx.id())
    }

    /// The key for the automorphism `X → X^element` (odd element below 2N).
    pub fn galois_key(&mut self, element: u64) -> Result<GaloisKey> {
        let two_n = 2 * self.ctx.n() as u64;
        if element.is_multiple_of(2) || element >= two_n {
            return Err(Error::InvalidInput(format!(
                "Galois element {element} must be odd and below 2N = {two_n}"
            )));
        }
        let perm = self.ctx.ring().galois_permutation(element);
        let rotated = SecretPoly(self.sk.poly.automorphism(self.ctx.ring(), element, &perm));
        Ok(GaloisKey::from_key(element, self.key_switch_key(&rotated)))
    }

    /// Galois keys for left rotations by each of `steps` (negative = right; steps that are
    /// multiples of N/2 are the identity and get no key) and, if asked, conjugation.
    pub fn galois_keys(&mut self, steps: &[i32], conjugation: bool) -> Result<GaloisKeys> {
        let mut keys = GaloisKeys::default();
        let mut elements: Vec<u64> = steps
            .iter()
            .map(|&k| self.ctx.galois_element_for_rotation(k))
            .filter(|&g| g != 1)
            .collect();
        if conjugation {
            elements.push(self.ctx.galois_element_for_conjugation());
        }
        elements.sort_unstable();
        elements.dedup();
        for g in elements {
            keys.insert(self.galois_key(g)?);
        }
        Ok(keys)
    }

    /// Relinearization key plus the Galois keys of [`KeyGenerator::galois_keys`].
    pub fn evaluation_keys(&mut self, steps: &[i32], conjugation: bool) -> Result<EvaluationKeys> {
        Ok(EvaluationKeys {
            relin: Some(self.relinearization_key()),
            galois: self.galois_keys(steps, conjugation)?,
            context_id: self.ctx.id(),
        })
    }
}
