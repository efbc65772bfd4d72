//! Plaintexts and ciphertexts.

use crate::error::{Error, Result};
use crate::math::poly::{Form, RnsPoly};

fn check_slots(slots: usize) -> Result<()> {
    if !slots.is_power_of_two() {
        return Err(Error::InvalidInput(format!(
            "slot count {slots} must be a power of two"
        )));
    }
    Ok(())
}

/// An encoded message: a polynomial in NTT form over `q_0..q_level`, with its scale and slot
/// count.
#[derive(Clone, Debug, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
}

impl Plaintext {
    /// Wraps a polynomial (any form; converted to NTT form on use). The level is
    /// `poly.num_q() - 1`.
    pub fn new(poly: RnsPoly, scale: f64, slots: usize) -> Result<Self> {
        check_slots(slots)?;
        if poly.num_p() != 0 || poly.num_q() == 0 {
            return Err(Error::InvalidInput(
                "a plaintext polynomial has q-limbs only".into(),
            ));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidInput(format!("invalid scale {scale}")));
        }
        if slots > poly.n() / 2 {
            return Err(Error::InvalidInput(format!(
                "slot count {slots} exceeds N/2 = {}",
                poly.n() / 2
            )));
        }
        Ok(Self { poly, scale, slots })
    }

    /// The polynomial.
    pub fn poly(&self) -> &RnsPoly {
        &self.poly
    }

    /// Level: number of q-limbs minus one.
    pub fn level(&self) -> usize {
        self.poly.num_q() - 1
    }

    /// Scale Δ of the encoding.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Consumes the plaintext, returning its polynomial.
    pub fn into_poly(self) -> RnsPoly {
        self.poly
    }
}

/// A CKKS ciphertext `(c0, c1)` with `c0 + c1·s ≈ Δ·m`, both in NTT form over `q_0..q_level`.
///
/// `level` is the number of rescales still possible; a level-`l` ciphertext has `l + 1` live
/// q-limbs. A fresh symmetric encryption keeps the 32-byte `seed` its `c1` was expanded from, so
/// a serializer may ship the seed instead of `c1`; every operation that changes `c1` clears it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pub(crate) c0: RnsPoly,
    pub(crate) c1: RnsPoly,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
    pub(crate) context_id: u64,
    pub(crate) seed: Option<[u8; 32]>,
}

impl Ciphertext {
    /// Assembles a ciphertext from parts (for deserializers and advanced circuits); checks that
    /// both polynomials have the same shape, NTT form and no p-limbs.
    pub fn from_parts(
        c0: RnsPoly,
        c1: RnsPoly,
        scale: f64,
        slots: usize,
        context_id: u64,
        seed: Option<[u8; 32]>,
    ) -> Result<Self> {
        check_slots(slots)?;
        let ok = c0.num_p() == 0
            && c0.num_q() > 0
            && c0.num_q() == c1.num_q()
            && c1.num_p() == 0
            && c0.n() == c1.n()
            && c0.form() == Form::Ntt
            && c1.form() == Form::Ntt
            && slots <= c0.n() / 2;
        if !ok {
            return Err(Error::InvalidInput(
                "ciphertext parts must be NTT-form polynomials over the same q-limbs".into(),
            ));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidInput(format!("invalid scale {scale}")));
        }
        Ok(Self {
            c0,
            c1,
            scale,
            slots,
            context_id,
            seed,
        })
    }

    /// `c0`.
    pub fn c0(&self) -> &RnsPoly {
        &self.c0
    }

    /// `c1`.
    pub fn c1(&self) -> &RnsPoly {
        &self.c1
    }

    /// Mutable access to both parts (clears the seed, since `c1` may change).
    pub fn parts_mut(&mut self) -> (&mut RnsPoly, &mut RnsPoly) {
        self.seed = None;
        (&mut self.c0, &mut self.c1)
    }

    /// Level: number of q-limbs minus one.
    pub fn level(&self) -> usize {
        self.c0.num_q() - 1
    }

    /// Scale Δ.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Overrides the recorded scale (for circuits that track scale themselves).
    pub fn set_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Fingerprint of the context the ciphertext belongs to.
    pub fn context_id(&self) -> u64 {
        self.context_id
    }

    /// Seed of `c1` for a fresh symmetric encryption.
    pub fn seed(&self) -> Option<&[u8; 32]> {
        self.seed.as_ref()
    }

    /// Bytes of residues held in memory (both polynomials).
    pub fn size_bytes(&self) -> usize {
        (self.c0.data().len() + self.c1.data().len()) * 8
    }
}

/// The three-component result of a product before relinearization:
/// `d0 + d1·s + d2·s² ≈ Δ·m`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext3 {
    pub(crate) d0: RnsPoly,
    pub(crate) d1: RnsPoly,
    pub(crate) d2: RnsPoly,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
    pub(crate) context_id: u64,
}

impl Ciphertext3 {
    /// Level: number of q-limbs minus one.
    pub fn level(&self) -> usize {
        self.d0.num_q() - 1
    }

    /// Scale Δ.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Fingerprint of the context.
    pub fn context_id(&self) -> u64 {
        self.context_id
    }

    /// The three components.
    pub fn parts(&self) -> (&RnsPoly, &RnsPoly, &RnsPoly) {
        (&self.d0, &self.d1, &self.d2)
    }
}
