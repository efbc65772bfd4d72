//! The selectable softmax approximations.

use serde::{Deserialize, Serialize};

/// Which approximation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SoftmaxVariant {
    /// HETAL's approximation with the benchmark constants.
    Hetal,
    /// HETAL with the "precise" domain-extension correction.
    HetalPrecise,
    /// This crate's improvement: direct exponential on the known range, tuned inverse.
    HetalRs,
    /// `hetal-rs` spending levels only for the precision training needs (maximum error ≤ 1e-3,
    /// still several times below HETAL's): a degree-15 exponential with 5 squarings instead of
    /// degree 7 with 8, and an inverse tuned for a 2^-13 relative error instead of 2^-24.
    HetalFast,
    /// `hetal-fast` with a shallow maximum and a polynomial start for the inverse: each
    /// tournament round is `(m + r)/2 + |m − r|/2` with `|d|` a minimax Chebyshev fit (7 levels
    /// instead of 9, ±0.29 logits per round either way; 6 levels when bootstraps leave 12 or
    /// more) and the inverse starts from the best polynomial of its degree for `1/z` on the
    /// sum's range, so a few Goldschmidt steps finish it; 11 levels fewer than `hetal-fast` at
    /// c = 10 within the same 1e-3 error budget.
    HetalShallow,
}

impl SoftmaxVariant {
    /// Every variant.
    pub const ALL: [SoftmaxVariant; 5] = [
        Self::Hetal,
        Self::HetalPrecise,
        Self::HetalRs,
        Self::HetalFast,
        Self::HetalShallow,
    ];

    /// The variant training uses unless told otherwise: `hetal-shallow` trains digits to the same
    /// accuracy as `hetal-fast` (91.67 % on the secure demo's plan, simulator) with fewer
    /// bootstraps (21 instead of 26 over the demo's 4 steps; 3 instead of 5 in a boot-n16 step at
    /// (2048, 64, 10)) and less CPU per step.
    pub const TRAINING_DEFAULT: SoftmaxVariant = Self::HetalShallow;

    /// CLI name: `hetal`, `hetal-precise`, `hetal-rs`, `hetal-fast`, `hetal-shallow`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hetal => "hetal",
            Self::HetalPrecise => "hetal-precise",
            Self::HetalRs => "hetal-rs",
            Self::HetalFast => "hetal-fast",
            Self::HetalShallow => "hetal-shallow",
        }
    }

    /// Parses [`SoftmaxVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}
