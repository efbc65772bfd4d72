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
}

impl SoftmaxVariant {
    /// Every variant.
    pub const ALL: [SoftmaxVariant; 3] = [Self::Hetal, Self::HetalPrecise, Self::HetalRs];

    /// CLI name: `hetal`, `hetal-precise`, `hetal-rs`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hetal => "hetal",
            Self::HetalPrecise => "hetal-precise",
            Self::HetalRs => "hetal-rs",
        }
    }

    /// Parses [`SoftmaxVariant::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}
