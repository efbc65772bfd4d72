//! The secret key: never serialized, never printed, wiped on drop.

use crate::math::poly::{RnsPoly, for_each_limb};
use crate::math::ring::RnsRing;
use std::sync::OnceLock;
use zeroize::Zeroize;

/// A polynomial derived from the secret (the key itself, its square, its automorphisms):
/// wiped when dropped.
pub(crate) struct SecretPoly(pub(crate) RnsPoly);

impl Drop for SecretPoly {
    fn drop(&mut self) {
        self.0.data_mut().zeroize();
    }
}

impl std::ops::Deref for SecretPoly {
    type Target = RnsPoly;
    fn deref(&self) -> &RnsPoly {
        &self.0
    }
}

/// The CKKS secret key `s`, stored in NTT form over all q and p primes.
///
/// Deliberately not `Clone`, `Serialize` or `Deserialize`, and its `Debug` prints no
/// coefficient: it only leaves the client through an explicit keystore function. Its memory is
/// overwritten with zeros when it is dropped.
pub struct SecretKey {
    pub(crate) poly: SecretPoly,
    pub(crate) context_id: u64,
    /// Shoup constants `floor(s_i·2^64/q_i)` of the key's q-limb residues, computed on first
    /// use: with them decryption's `c1·s` is one high and two low multiplications per residue
    /// instead of a Barrett reduction. Secret-derived, so wiped on drop like the key.
    shoup: OnceLock<SecretPoly>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("context_id", &format_args!("{:#018x}", self.context_id))
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Fingerprint of the context the key belongs to.
    pub fn context_id(&self) -> u64 {
        self.context_id
    }

    /// The key polynomial (NTT form, q-limbs then p-limbs). For keystores and the bootstrapping
    /// key generation; handle with care.
    pub fn poly(&self) -> &RnsPoly {
        &self.poly
    }

    /// Rebuilds a key from its NTT-form polynomial over all q and p primes (the keystore's
    /// inverse of [`SecretKey::poly`]).
    pub fn from_poly(poly: RnsPoly, context_id: u64) -> Self {
        Self {
            poly: SecretPoly(poly),
            context_id,
            shoup: OnceLock::new(),
        }
    }

    /// The Shoup companion of the key's q-limbs (computed once per key, then shared).
    pub(crate) fn shoup_companion(&self, ring: &RnsRing) -> &RnsPoly {
        self.shoup.get_or_init(|| {
            let s = &self.poly;
            let (n, nq) = (s.n(), s.num_q());
            let mut out = RnsPoly::for_overwrite(n, nq, 0, s.form());
            for_each_limb(out.data_mut(), n, |i, limb| {
                let m = ring.modulus(i, nq);
                for (o, &k) in limb.iter_mut().zip(s.limb(i)) {
                    *o = m.shoup(k);
                }
            });
            SecretPoly(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::poly::Form;
    use crate::math::primes::PrimeGenerator;

    /// The companion holds `floor(s·2^64/q)` for every q-limb residue (the textbook 128-bit
    /// division), so Shoup products with it equal the Barrett products with the key.
    #[test]
    fn shoup_companion_matches_the_division_and_the_barrett_product() {
        let n = 32;
        let mut g = PrimeGenerator::new(n);
        let q: Vec<u64> = [60, 45, 45]
            .iter()
            .map(|&b| g.next_prime(b).unwrap())
            .collect();
        let p = [g.next_prime(61).unwrap()];
        let ring = RnsRing::new(n, &q, &p).unwrap();
        let mut poly = RnsPoly::zero(n, 3, 1, Form::Ntt);
        for i in 0..4 {
            let m = ring.modulus(i, 3).value();
            for (c, x) in poly.limb_mut(i).iter_mut().enumerate() {
                *x = (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % m;
            }
        }
        let sk = SecretKey::from_poly(poly, 7);
        let companion = sk.shoup_companion(&ring);
        assert_eq!((companion.num_q(), companion.num_p()), (3, 0));
        for i in 0..3 {
            let m = ring.modulus(i, 3);
            for (c, (&s, &w)) in sk.poly().limb(i).iter().zip(companion.limb(i)).enumerate() {
                assert_eq!(w, (((s as u128) << 64) / m.value() as u128) as u64);
                let b = (c as u64 * 7919 + 13) % m.value();
                assert_eq!(m.mul_shoup(b, s, w), m.mul(b, s));
            }
        }
        // Computed once: the second call returns the same buffer.
        assert!(std::ptr::eq(companion, sk.shoup_companion(&ring)));
    }
}
