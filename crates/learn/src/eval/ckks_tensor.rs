//! Lazy relinearization: backends that can add products before relinearizing them, so that a
//! sum of `k` products costs one key switch instead of `k`.

use hetal_ckks::Result;
use hetal_ckks::circuits::backend::SlotBackend;
use hetal_ckks::circuits::bootstrap::ckks_backend::CkksBackend;
use hetal_ckks::circuits::simulator::{SimCt, SlotSimulator};
use hetal_ckks::crypto::{Ciphertext, Ciphertext3};

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
}
