//! The secret key: never serialized, never printed, wiped on drop.

use crate::math::poly::RnsPoly;
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
        }
    }
}
