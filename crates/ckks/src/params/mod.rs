//! Parameter specifications, named presets, the security check and the precomputed context.
//!
//! * [`spec`] — [`ParameterSpec`]: the plain description of a parameter set (sizes only).
//! * `presets` — named parameter sets, secure and insecure-for-tests.
//! * `security` — the Homomorphic Encryption Standard bound on log(QP) per ring degree.
//! * `context` — `Context`: primes, NTT tables and basis-conversion constants derived from a spec.

pub mod context;
pub mod presets;
pub mod security;
pub mod spec;

pub use presets::{Preset, all_presets, preset};
pub use security::SecurityReport;
pub use spec::{ParameterSpec, SecretDistribution, SecurityLevel};
