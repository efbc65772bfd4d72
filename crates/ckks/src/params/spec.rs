//! The plain description of a CKKS parameter set.

use serde::{Deserialize, Serialize};

/// How the secret key is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretDistribution {
    /// Uniform ternary coefficients in {-1, 0, 1} (each with probability 1/3).
    Ternary,
    /// Ternary with exactly `hamming_weight` non-zero coefficients.
    SparseTernary {
        /// Number of non-zero coefficients.
        hamming_weight: usize,
    },
}

/// The security a parameter set claims; checked against the HE Standard table when the context is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityLevel {
    /// 128-bit classical security for the secret distribution (checked on log(QP)).
    Bits128,
    /// No security claim: small rings for fast tests. Building a context from such a spec
    /// requires an explicit opt-in.
    InsecureForTests,
}

/// Sizes that define an RNS-CKKS instance. Primes themselves are generated deterministically
/// from these sizes when the [`super::Context`] is built, so two parties that agree on a spec agree
/// on the moduli.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterSpec {
    /// Human-readable name (the preset name, or "custom").
    pub name: String,
    /// log2 of the ring degree N.
    pub log_n: u32,
    /// Bit sizes of the ciphertext moduli: `q_bits[0]` is the base prime q_0 (decryption
    /// precision lives here), then one scaling prime per level. A fresh ciphertext has level
    /// `q_bits.len() - 1`.
    pub q_bits: Vec<u32>,
    /// Bit sizes of the special primes P used by hybrid key switching.
    pub p_bits: Vec<u32>,
    /// log2 of the default encoding scale Δ.
    pub log_scale: u32,
    /// Number of key-switching digits (dnum). Each digit groups `ceil(len(q_bits) / dnum)` primes.
    pub dnum: usize,
    /// Secret key distribution.
    pub secret: SecretDistribution,
    /// Claimed security.
    pub security: SecurityLevel,
}

impl ParameterSpec {
    /// Ring degree N.
    pub fn n(&self) -> usize {
        1usize << self.log_n
    }

    /// Maximum number of complex slots (N/2).
    pub fn max_slots(&self) -> usize {
        1usize << (self.log_n - 1)
    }

    /// Highest level (that of a fresh ciphertext).
    pub fn max_level(&self) -> usize {
        self.q_bits.len().saturating_sub(1)
    }

    /// Total bits of Q·P, the quantity bounded by the security standard.
    pub fn log_qp(&self) -> u32 {
        self.q_bits.iter().chain(self.p_bits.iter()).sum()
    }
}
