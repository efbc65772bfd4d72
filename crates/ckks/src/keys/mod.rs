//! Keys and hybrid key switching.
//!
//! * [`secret`] — [`SecretKey`] (wiped on drop, never serialized).
//! * [`public`] — [`PublicKey`], [`RelinearizationKey`], [`GaloisKey`]/[`GaloisKeys`] and the
//!   [`EvaluationKeys`] bundle.
//! * [`switching`] — hybrid key switching with special primes; the hoisting API
//!   ([`switching::decompose`] once, [`switching::key_switch_decomposed`] per key).
//! * [`generator`] — [`KeyGenerator`].

pub mod generator;
pub mod public;
pub mod secret;
pub mod switching;

pub use generator::KeyGenerator;
pub use public::{EvaluationKeys, GaloisKey, GaloisKeys, PublicKey, RelinearizationKey};
pub use secret::SecretKey;
pub use switching::{Decomposed, KeySwitchKey};
