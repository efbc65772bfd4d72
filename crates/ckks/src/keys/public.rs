//! Public key and evaluation keys.

use super::switching::KeySwitchKey;
use crate::math::poly::RnsPoly;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Public encryption key `(b, a) = (-a·s + e, a)` in NTT form. `a` is expanded from `seed`.
///
/// `b` and `a` cover the q primes. The key generator also keeps the residues modulo the special
/// primes P (`special`): with them, encryption works over `Q·P` and divides by P at the end,
/// which shrinks the fresh noise `v·e + e0 + e1·s` to the rounding error (as SEAL does; about
/// 4 bits more precision at N = 2^16). A key without them (e.g. deserialized from Q-only data)
/// still encrypts correctly, with the larger noise.
///
/// Equality compares the key itself (`b`, `a`, seed, context); the special-prime part only
/// changes the noise of encryptions, not what they decrypt to.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    /// `(b mod P, a mod P)` as polynomials with p-limbs only.
    pub(crate) special: Option<(RnsPoly, RnsPoly)>,
    pub(crate) seed: [u8; 32],
    pub(crate) context_id: u64,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.b == other.b
            && self.a == other.a
            && self.seed == other.seed
            && self.context_id == other.context_id
    }
}

impl PublicKey {
    /// `b = -a·s + e`.
    pub fn b(&self) -> &RnsPoly {
        &self.b
    }

    /// The uniform part.
    pub fn a(&self) -> &RnsPoly {
        &self.a
    }

    /// Seed of the uniform part.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// Fingerprint of the context the key belongs to.
    pub fn context_id(&self) -> u64 {
        self.context_id
    }

    /// `b mod P` (p-limbs only), if the key has its special-prime part.
    pub fn special_b(&self) -> Option<&RnsPoly> {
        self.special.as_ref().map(|(b, _)| b)
    }

    /// Rebuilds a key from `b` over the q primes, `b mod P` (p-limbs only, NTT form) and the
    /// seed of `a` (for deserializers).
    pub fn from_parts_with_special(
        ctx: &crate::params::context::Context,
        b: RnsPoly,
        b_special: RnsPoly,
        seed: [u8; 32],
    ) -> crate::Result<Self> {
        if b_special.num_q() != 0
            || b_special.num_p() != ctx.num_p()
            || b_special.n() != ctx.n()
            || b_special.form() != crate::math::poly::Form::Ntt
        {
            return Err(crate::Error::ParameterMismatch(
                "public key special-prime part does not match the context".into(),
            ));
        }
        let mut key = Self::from_parts(ctx, b, seed)?;
        let a_full =
            crate::math::sample::uniform_poly(ctx.ring(), &seed, ctx.max_level() + 1, ctx.num_p());
        key.special = Some((b_special, a_full.p_part()));
        Ok(key)
    }

    /// Rebuilds a key from `b` over the q primes and the seed of `a` (for deserializers); the
    /// key has no special-prime part (see the type's documentation).
    pub fn from_parts(
        ctx: &crate::params::context::Context,
        b: RnsPoly,
        seed: [u8; 32],
    ) -> crate::Result<Self> {
        let nq = ctx.max_level() + 1;
        if b.num_q() != nq
            || b.num_p() != 0
            || b.n() != ctx.n()
            || b.form() != crate::math::poly::Form::Ntt
        {
            return Err(crate::Error::ParameterMismatch(
                "public key shape does not match the context".into(),
            ));
        }
        let a = crate::math::sample::uniform_poly(ctx.ring(), &seed, nq, 0);
        Ok(Self {
            b,
            a,
            special: None,
            seed,
            context_id: ctx.id(),
        })
    }
}

/// Relinearization key: switches from `s²` to `s`. The key-switching key is shared: clones
/// (e.g. a key subset handed to another party in the same process) point at the same residues.
#[derive(Clone, Debug, PartialEq)]
pub struct RelinearizationKey {
    pub(crate) key: Arc<KeySwitchKey>,
    pub(crate) context_id: u64,
}

impl RelinearizationKey {
    /// The key-switching key.
    pub fn key(&self) -> &KeySwitchKey {
        &self.key
    }

    /// Fingerprint of the context.
    pub fn context_id(&self) -> u64 {
        self.context_id
    }

    /// Wraps a key-switching key (for deserializers).
    pub fn from_key(key: KeySwitchKey, context_id: u64) -> Self {
        Self {
            key: Arc::new(key),
            context_id,
        }
    }

    /// The shared key-switching key (clones of this key point at the same one).
    pub fn shared_key(&self) -> &Arc<KeySwitchKey> {
        &self.key
    }
}

/// Key for the automorphism `X → X^element`: switches from `σ(s)` to `s`. The key-switching
/// key is shared: clones point at the same residues.
#[derive(Clone, Debug, PartialEq)]
pub struct GaloisKey {
    pub(crate) element: u64,
    pub(crate) key: Arc<KeySwitchKey>,
}

impl GaloisKey {
    /// The Galois element `g` (odd, below 2N).
    pub fn element(&self) -> u64 {
        self.element
    }

    /// The key-switching key.
    pub fn key(&self) -> &KeySwitchKey {
        &self.key
    }

    /// Wraps a key-switching key (for deserializers).
    pub fn from_key(element: u64, key: KeySwitchKey) -> Self {
        Self {
            element,
            key: Arc::new(key),
        }
    }

    /// The shared key-switching key (clones of this key point at the same one).
    pub fn shared_key(&self) -> &Arc<KeySwitchKey> {
        &self.key
    }
}

/// Galois keys keyed by Galois element (`5^k mod 2N` for rotation by `k`, `2N-1` for
/// conjugation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<u64, GaloisKey>,
}

impl GaloisKeys {
    /// The key for `element`, if generated.
    pub fn get(&self, element: u64) -> Option<&GaloisKey> {
        self.keys.get(&element)
    }

    /// Adds (or replaces) a key.
    pub fn insert(&mut self, key: GaloisKey) {
        self.keys.insert(key.element, key);
    }

    /// The Galois elements present, ascending.
    pub fn elements(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.keys().copied()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is present.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Size in bytes of all keys' residues.
    pub fn size_bytes(&self) -> usize {
        self.keys.values().map(|k| k.key.size_bytes()).sum()
    }
}

/// Everything the evaluator needs from the key owner: relinearization and Galois keys.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluationKeys {
    /// Relinearization key (needed by `mul`).
    pub relin: Option<RelinearizationKey>,
    /// Rotation and conjugation keys.
    pub galois: GaloisKeys,
    /// Fingerprint of the context.
    pub context_id: u64,
}

impl EvaluationKeys {
    /// Size in bytes of all residues held.
    pub fn size_bytes(&self) -> usize {
        self.relin.as_ref().map_or(0, |r| r.key.size_bytes()) + self.galois.size_bytes()
    }
}
