//! Lazy relinearization: backends that can add products before relinearizing them, so that a
//! sum of `k` products costs one key switch instead of `k`.

use hetal_ckks::Result;
use hetal_ckks::circuits::backend::SlotBackend;
use hetal_ckks::circuits::bootstrap::ckks_backend::CkksBackend;
use hetal_ckks::circuits::simulator::{SimCt, SlotSimulator};
use hetal_ckks::crypto::{Ciphertext, Ciphertext3};
use hetal_ckks::encoding::Encoder;
use num_complex::Complex64;

/// A [`SlotBackend`] whose products can be summed before relinearization.
pub trait TensorBackend: SlotBackend {
    /// A product before relinearization (three components for CKKS).
    type Tensor: Clone;
    /// `a ⊗ b` without relinearization or rescale (same level; the scales multiply).
    fn tensor(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Tensor>;
    /// `a + b` of two products at the same level and scale.
    fn add_tensor(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// Relinearizes a (summed) product; no rescale.
    fn relinearize(&self, t: &Self::Tensor) -> Result<Self::Ct>;
    /// `a + v` slot-wise for a constant vector `v` (all slots), encoded at `a`'s level and
    /// scale; no level.
    fn add_values(&self, a: &Self::Ct, values: &[Complex64]) -> Result<Self::Ct>;
}

impl TensorBackend for CkksBackend<'_> {
    type Tensor = Ciphertext3;

    fn tensor(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext3> {
        self.evaluator().mul_no_relin(a, b)
    }

    fn add_tensor(&self, a: &Ciphertext3, b: &Ciphertext3) -> Result<Ciphertext3> {
        self.evaluator().add3(a, b)
    }

    fn relinearize(&self, t: &Ciphertext3) -> Result<Ciphertext> {
        self.evaluator().relinearize(t)
    }

    fn add_values(&self, a: &Ciphertext, values: &[Complex64]) -> Result<Ciphertext> {
        // The backend does not lend its encoder; one per call is cheap next to a training step
        // (non-uniform constants are added once per logits block).
        let encoder = Encoder::new(self.evaluator().context());
        let pt = encoder.encode(values, a.level(), a.scale())?;
        self.evaluator().add_plain(a, &pt)
    }
}

/// The noise-free model has nothing to relinearize: a "tensor" is the relinearized product.
impl TensorBackend for SlotSimulator {
    type Tensor = SimCt;

    fn tensor(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        self.mul_relin(a, b)
    }

    fn add_tensor(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        self.add(a, b)
    }

    fn relinearize(&self, t: &SimCt) -> Result<SimCt> {
        Ok(t.clone())
    }

    fn add_values(&self, a: &SimCt, values: &[Complex64]) -> Result<SimCt> {
        let b = self.encrypt(values, self.level(a), self.scale(a))?;
        self.add(a, &b)
    }
}
