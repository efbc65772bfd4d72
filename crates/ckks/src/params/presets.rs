//! Named parameter presets: secure sets for real use, small insecure sets for tests.
//!
//! Secure presets claim [`SecurityLevel::Bits128`] and are checked against the HE Standard by
//! [`super::security::check`] (a unit test below checks every one). Insecure presets have names
//! that start with `insecure-`, claim [`SecurityLevel::InsecureForTests`], and building a context
//! from them needs the explicit opt-in of `Context::new(spec, allow_insecure = true)`.
//!
//! Design rules shared by all presets:
//! * the special primes are 61-bit where the bound allows (57-bit for `boot-n16` and
//!   `boot-n16-deep`); every prime
//!   comes from one generator, so no special prime can coincide with a ciphertext prime;
//! * hybrid key switching adds noise proportional to (largest digit modulus) / P, so P has at
//!   least as many bits as the largest group of `ceil(len(q) / dnum)` consecutive q primes (tested);
//! * the scaling primes have `log_scale` bits so that rescaling keeps the scale near 2^log_scale.

use super::spec::{ParameterSpec, SecretDistribution, SecurityLevel};
use crate::error::{Error, Result};

/// How the levels of a bootstrappable preset are meant to be spent, bottom (level 0) to top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelBudget {
    /// Levels left for the application after a bootstrap (above q_0).
    pub application: usize,
    /// Levels consumed by SlotToCoeff (run last, just above the application levels).
    pub slot_to_coeff: usize,
    /// Levels consumed by the modular reduction (EvalMod: cosine + double angle + arcsine).
    pub eval_mod: usize,
    /// Levels consumed by CoeffToSlot (run first, at the top of the modulus chain).
    pub coeff_to_slot: usize,
}

impl LevelBudget {
    /// Number of ciphertext primes this budget needs, q_0 included.
    pub fn q_limbs(&self) -> usize {
        1 + self.application + self.slot_to_coeff + self.eval_mod + self.coeff_to_slot
    }
}

/// Name of the N=2^16 bootstrappable preset.
pub const BOOT_N16: &str = "boot-n16";
/// Name of the N=2^16 preset used by `hetal bench ops` and the side-by-side peer comparison.
pub const OPS_N16: &str = "ops-n16";
/// Name of the N=2^15 preset for faster demos.
pub const DEMO_N15: &str = "demo-n15";

/// Level budget of [`BOOT_N16`]. A bootstrap modulus-raises to the top level, runs CoeffToSlot
/// (3 levels, radix-merged DFT), EvalMod (8 levels: the even scaled cosine of degree 60 in 6,
/// 2 double-angle steps), SlotToCoeff (3 levels), and leaves 12 application levels above q_0.
pub const BOOT_N16_BUDGET: LevelBudget = LevelBudget {
    application: 12,
    slot_to_coeff: 3,
    eval_mod: 8,
    coeff_to_slot: 3,
};

/// Bits of the [`BOOT_N16`] primes by role: the application and SlotToCoeff primes match the
/// scale; EvalMod works at a larger scale (its noise, amplified by the message ratio 2^8 and
/// the slot count, is what limits the precision: at 2^58 the mean is about 21 bits);
/// CoeffToSlot keeps the ModRaise scale q_0 and its primes only set how finely the DFT
/// diagonals are encoded.
const BOOT_N16_EVAL_MOD_BITS: u32 = 58;
const BOOT_N16_COEFF_TO_SLOT_BITS: u32 = 56;

/// The [`BOOT_N16`] preset: N = 2^16, 27 q primes, log QP = 1766 ≤ 1772 (HE Standard, 128-bit).
///
/// Chain from level 0 upward (bits): q_0 = 60 (decryption headroom 2^15 over the 2^45 scale),
/// 12 application primes of 45, 3 SlotToCoeff primes of 45 (the SlotToCoeff ciphertexts keep
/// EvalMod's scale; the primes only set the diagonals' encoding precision), 8 EvalMod primes of
/// 58, 3 CoeffToSlot primes of 56. Q = 1367 bits.
/// Key switching: dnum = 4 digits of 7 primes, the largest being q_14..q_20 = 2·45 + 5·58 = 380
/// bits, covered by P = 7 primes of 57 bits = 399 bits (61-bit special primes would exceed the
/// bound; the 19 spare bits keep the key-switching noise below the rounding noise). dnum = 4
/// keeps the keys at 4·2·34 limbs each (dnum = 5 would allow 13 application levels but make
/// every key a third larger: the key set would no longer fit the 12 GiB budget beside a
/// bootstrap).
pub fn boot_n16() -> ParameterSpec {
    let b = BOOT_N16_BUDGET;
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(45, b.application + b.slot_to_coeff));
    q_bits.extend(std::iter::repeat_n(BOOT_N16_EVAL_MOD_BITS, b.eval_mod));
    q_bits.extend(std::iter::repeat_n(
        BOOT_N16_COEFF_TO_SLOT_BITS,
        b.coeff_to_slot,
    ));
    ParameterSpec {
        name: BOOT_N16.into(),
        log_n: 16,
        q_bits,
        p_bits: vec![57; 7],
        log_scale: 45,
        dnum: 4,
        secret: SecretDistribution::Ternary,
        security: SecurityLevel::Bits128,
    }
}

/// Name of the N=2^16 bootstrappable preset with desilofhe's 17 application levels.
pub const BOOT_N16_DEEP: &str = "boot-n16-deep";

/// Level budget of [`BOOT_N16_DEEP`]: the [`BOOT_N16`] bootstrap circuit (CoeffToSlot 3,
/// EvalMod 8, SlotToCoeff 3) under 17 application levels.
pub const BOOT_N16_DEEP_BUDGET: LevelBudget = LevelBudget {
    application: 17,
    slot_to_coeff: 3,
    eval_mod: 8,
    coeff_to_slot: 3,
};

/// Bits of the [`BOOT_N16_DEEP`] application and SlotToCoeff primes (and its scale).
const BOOT_N16_DEEP_SCALE_BITS: u32 = 40;
/// Bits of the [`BOOT_N16_DEEP`] CoeffToSlot primes, bottom (last applied) to top.
const BOOT_N16_DEEP_COEFF_TO_SLOT_BITS: [u32; 3] = [52, 56, 56];
/// Bits of the [`BOOT_N16_DEEP`] base prime q_0.
const BOOT_N16_DEEP_Q0_BITS: u32 = 56;

/// The [`BOOT_N16_DEEP`] preset: N = 2^16, 32 q primes, log QP = 1769 ≤ 1772 (HE Standard,
/// 128-bit); a full-slot bootstrap leaves **17 application levels** of 40 bits, as many as
/// desilofhe 2.0.0's bootstrap, whose levels are 40-bit as well (its chain grows by two 60-bit
/// primes every three levels; measured in `bench/peers/results/2026-11-26-boot-s6/`).
///
/// Chain from level 0 upward (bits): q_0 = 56 (headroom 2^16 over the 2^40 scale), 17
/// application primes of 40, 3 SlotToCoeff primes of 40, 8 EvalMod primes of 58 (as in
/// `boot-n16`: EvalMod's scale sets the precision, about 21 bits mean), CoeffToSlot primes of
/// 52, 56, 56 (applied top down). Q = 1484 bits. Where the bits come from, against `boot-n16`
/// (measured on the same chain at N = 2^14 before choosing):
/// * the application primes shrink from 45 to 40 bits;
/// * SlotToCoeff's primes only set how finely its diagonals are encoded (its ciphertexts keep
///   EvalMod's 2^58 scale): 40 bits cost no measurable precision;
/// * CoeffToSlot's diagonal precision does matter (its error is amplified by the message
///   ratio and summed over the N coefficients: 48-bit primes gave 18.2 bits mean at N = 2^14,
///   56-bit ones 22.5), so its levels keep `boot-n16`'s effective precision: the last level's
///   diagonals are encoded at 2^(58 + 52 − 56) = 2^54 because q_0 shrank by as much as that
///   prime; the first level's, which carry the 1/K factor, at 2^56;
/// * P can no longer cover digits of 7 primes (7 EvalMod primes are 406 bits): dnum = 7 digits
///   of 5 primes, the largest q_25..q_29 = 4·58 + 52 = 284 bits, under P = 5 × 57 = 285 bits.
///
/// Memory: every key holds 7·2·37 limbs, 1.9× a `boot-n16` key, so this chain bootstraps in
/// the lean layout ([`crate::circuits::bootstrap::MemoryLayout::Lean`], chosen automatically by
/// the 12 GiB budget): the fewest rotation keys and the DFT diagonals encoded when used, at a
/// cost in time.
pub fn boot_n16_deep() -> ParameterSpec {
    let b = BOOT_N16_DEEP_BUDGET;
    let mut q_bits = vec![BOOT_N16_DEEP_Q0_BITS];
    q_bits.extend(std::iter::repeat_n(
        BOOT_N16_DEEP_SCALE_BITS,
        b.application + b.slot_to_coeff,
    ));
    q_bits.extend(std::iter::repeat_n(BOOT_N16_EVAL_MOD_BITS, b.eval_mod));
    q_bits.extend(BOOT_N16_DEEP_COEFF_TO_SLOT_BITS);
    ParameterSpec {
        name: BOOT_N16_DEEP.into(),
        log_n: 16,
        q_bits,
        p_bits: vec![57; 5],
        log_scale: BOOT_N16_DEEP_SCALE_BITS,
        dnum: 7,
        secret: SecretDistribution::Ternary,
        security: SecurityLevel::Bits128,
    }
}

/// The [`OPS_N16`] preset: N = 2^16 with the same number of q primes as [`boot_n16`] (25), all
/// scaling primes equal (q_0 = 60, 24 × 45 bits) so that peer libraries can be configured with
/// the same chain. dnum = 3 digits of 9 primes (largest 60 + 8·45 = 420 bits), P = 7 × 61 = 427
/// bits. log QP = 1567 ≤ 1772.
pub fn ops_n16() -> ParameterSpec {
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(45, 24));
    ParameterSpec {
        name: OPS_N16.into(),
        log_n: 16,
        q_bits,
        p_bits: vec![61; 7],
        log_scale: 45,
        dnum: 3,
        secret: SecretDistribution::Ternary,
        security: SecurityLevel::Bits128,
    }
}

/// The [`DEMO_N15`] preset: N = 2^15, q_0 = 60 and 15 scaling primes of 40 bits (15 levels,
/// no bootstrapping), dnum = 4 digits of 4 primes (largest 60 + 3·40 = 180 bits), P = 3 × 61 =
/// 183 bits. log QP = 843 ≤ 881.
///
/// # No bootstrappable N = 2^15 preset
///
/// Issue 4 asks for one "if one fits with a useful number of levels"; none does. At N = 2^15
/// the HE Standard allows log QP ≤ 881 (128-bit, ternary). The `boot-n16` bootstrap alone
/// takes q_0 = 60, EvalMod 8 × 58, CoeffToSlot 3 × 56 and SlotToCoeff 3 × 45: 827 bits; P must
/// cover the largest key-switching digit, at best one prime (one digit per prime, P = 61
/// bits): 888 > 881, no level left for the application. Trimmed to the least that keeps the
/// precision target (EvalMod's noise sets the mean precision: about 21 bits with 58-bit EvalMod
/// primes, one bit less per bit less, so at least 57 bits for 20), with 2 CoeffToSlot levels of
/// 50 bits, 2 SlotToCoeff levels of 45 and q_0 = 60, the bootstrap takes 706 bits; P = 61
/// leaves 114 bits: **2 application levels** of 45 bits, with 15 key-switching digits per key
/// instead of 4, against 12 levels at N = 2^16. That is below the 3 useful levels asked for, so
/// N = 2^15 serves demos without bootstrapping (this preset) and every bootstrapped run uses
/// [`boot_n16`]. The test `n15_bootstrapping_leaves_fewer_than_three_levels` recomputes these
/// figures from the security table.
pub fn demo_n15() -> ParameterSpec {
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(40, 15));
    ParameterSpec {
        name: DEMO_N15.into(),
        log_n: 15,
        q_bits,
        p_bits: vec![61; 3],
        log_scale: 40,
        dnum: 4,
        secret: SecretDistribution::Ternary,
        security: SecurityLevel::Bits128,
    }
}

fn insecure(
    name: &str,
    log_n: u32,
    q_bits: Vec<u32>,
    p_count: usize,
    log_scale: u32,
    dnum: usize,
) -> ParameterSpec {
    ParameterSpec {
        name: name.into(),
        log_n,
        q_bits,
        p_bits: vec![61; p_count],
        log_scale,
        dnum,
        secret: SecretDistribution::Ternary,
        security: SecurityLevel::InsecureForTests,
    }
}

/// INSECURE, tests only: N = 2^10, q = [50, 40, 40, 40], P = 2 × 61, dnum = 2, scale 2^40.
pub fn insecure_test_n10() -> ParameterSpec {
    insecure("insecure-test-n10", 10, vec![50, 40, 40, 40], 2, 40, 2)
}

/// INSECURE, tests only: N = 2^11, q = [55, 4 × 45], P = 2 × 61, dnum = 3, scale 2^45.
pub fn insecure_test_n11() -> ParameterSpec {
    insecure("insecure-test-n11", 11, vec![55, 45, 45, 45, 45], 2, 45, 3)
}

/// INSECURE, tests only: N = 2^12, q = [60, 6 × 45], P = 3 × 61, dnum = 3, scale 2^45.
pub fn insecure_test_n12() -> ParameterSpec {
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(45, 6));
    insecure("insecure-test-n12", 12, q_bits, 3, 45, 3)
}

/// INSECURE, tests only: N = 2^13, q = [60, 9 × 45], P = 3 × 61, dnum = 4, scale 2^45.
pub fn insecure_test_n13() -> ParameterSpec {
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(45, 9));
    insecure("insecure-test-n13", 13, q_bits, 3, 45, 4)
}

/// Name of the INSECURE bootstrappable test preset (the chain of [`insecure_boot_n12`]).
pub const INSECURE_BOOT_N12: &str = "insecure-boot-n12";

/// INSECURE, tests only: a small bootstrappable chain shaped like [`boot_n16`] at N = 2^12, for
/// CI tests of encrypted training with bootstrapping, `--allow-insecure` runs and quick demos.
/// The same primes as `boot-n16` from level 0 upward (bits): q_0 = 60, 12 application primes
/// of 45 (the training slot evaluator bootstraps from level 1 to level 12: 11 usable levels),
/// 3 SlotToCoeff primes of 45, 8 EvalMod primes of 58, 3 CoeffToSlot primes of 56 (the split of
/// `BootstrapParams::sparse_secret_default`, depth 14). Dense ternary secret as in `boot-n16`
/// (bootstrapping goes through the sparse-secret encapsulation); dnum = 4 digits of 7 primes,
/// P = 7 × 57.
pub fn insecure_boot_n12() -> ParameterSpec {
    let mut spec = boot_n16();
    spec.name = INSECURE_BOOT_N12.into();
    spec.log_n = 12;
    spec.security = SecurityLevel::InsecureForTests;
    spec
}

/// Name of the INSECURE bootstrappable preset of `hetal demo --quick` (the chain of
/// [`insecure_boot_n13`]).
pub const INSECURE_BOOT_N13: &str = "insecure-boot-n13";

/// INSECURE, demos and tests only: the [`boot_n16`] chain at N = 2^13 (4096 slots). Twice the
/// slots of [`insecure_boot_n12`] for the same number of levels: a training block holds 256
/// rows of 16 padded classes, so an epoch takes half the steps; and limbs of 2^13 words are
/// long enough for the parallel limb loops ([`crate::math::poly::MIN_PARALLEL_LIMB`]), so the
/// bootstraps and the softmax, which run on one ciphertext, use every core.
pub fn insecure_boot_n13() -> ParameterSpec {
    let mut spec = boot_n16();
    spec.name = INSECURE_BOOT_N13.into();
    spec.log_n = 13;
    spec.security = SecurityLevel::InsecureForTests;
    spec
}

/// Name of the INSECURE test twin of [`boot_n16_deep`] (the same chain at N = 2^12).
pub const INSECURE_BOOT_DEEP_N12: &str = "insecure-boot-deep-n12";

/// INSECURE, tests only: the [`boot_n16_deep`] chain at N = 2^12, for fast CI checks of its
/// level budget and precision.
pub fn insecure_boot_deep_n12() -> ParameterSpec {
    let mut spec = boot_n16_deep();
    spec.name = INSECURE_BOOT_DEEP_N12.into();
    spec.log_n = 12;
    spec.security = SecurityLevel::InsecureForTests;
    spec
}

/// A named preset with a one-line purpose, as listed by `hetal params`.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// The name accepted by [`preset`].
    pub name: &'static str,
    /// What the preset is for.
    pub purpose: &'static str,
    build: fn() -> ParameterSpec,
}

impl Preset {
    /// The preset's parameter specification.
    pub fn spec(&self) -> ParameterSpec {
        (self.build)()
    }
}

/// Every preset, secure ones first.
pub const PRESETS: [Preset; 11] = [
    Preset {
        name: BOOT_N16,
        purpose: "bootstrappable, 12 application levels after bootstrapping",
        build: boot_n16,
    },
    Preset {
        name: BOOT_N16_DEEP,
        purpose: "bootstrappable, 17 application levels of 40 bits (lean memory layout, slower)",
        build: boot_n16_deep,
    },
    Preset {
        name: OPS_N16,
        purpose: "primitive benchmarks side by side with peer libraries (25 limbs)",
        build: ops_n16,
    },
    Preset {
        name: DEMO_N15,
        purpose: "faster demos, 15 levels, no bootstrapping",
        build: demo_n15,
    },
    Preset {
        name: "insecure-test-n10",
        purpose: "INSECURE: unit tests",
        build: insecure_test_n10,
    },
    Preset {
        name: "insecure-test-n11",
        purpose: "INSECURE: unit tests",
        build: insecure_test_n11,
    },
    Preset {
        name: "insecure-test-n12",
        purpose: "INSECURE: unit tests and quick benchmarks",
        build: insecure_test_n12,
    },
    Preset {
        name: "insecure-test-n13",
        purpose: "INSECURE: unit and integration tests",
        build: insecure_test_n13,
    },
    Preset {
        name: INSECURE_BOOT_N12,
        purpose: "INSECURE: bootstrappable chain for training tests (11 levels between bootstraps)",
        build: insecure_boot_n12,
    },
    Preset {
        name: INSECURE_BOOT_N13,
        purpose: "INSECURE: bootstrappable chain for `hetal demo --quick` (256 rows per block)",
        build: insecure_boot_n13,
    },
    Preset {
        name: INSECURE_BOOT_DEEP_N12,
        purpose: "INSECURE: the boot-n16-deep chain for tests (17 levels after bootstrapping)",
        build: insecure_boot_deep_n12,
    },
];

/// The preset called `name`, or [`Error::InvalidParameters`] listing the known names.
pub fn preset(name: &str) -> Result<ParameterSpec> {
    PRESETS
        .iter()
        .find(|p| p.name == name)
        .map(Preset::spec)
        .ok_or_else(|| {
            let known: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            Error::InvalidParameters(format!(
                "unknown preset `{name}`; known presets: {}",
                known.join(", ")
            ))
        })
}

/// The specifications of every preset, secure ones first.
pub fn all_presets() -> Vec<ParameterSpec> {
    PRESETS.iter().map(Preset::spec).collect()
}

/// Bits of the largest key-switching digit when the q primes are split into `dnum` groups of
/// `ceil(len / dnum)` consecutive primes (the last group may be shorter).
pub fn largest_digit_bits(spec: &ParameterSpec) -> u32 {
    let per_digit = spec.q_bits.len().div_ceil(spec.dnum.max(1)).max(1);
    spec.q_bits
        .chunks(per_digit)
        .map(|digit| digit.iter().sum::<u32>())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::security;
    use super::*;

    #[test]
    fn every_secure_preset_meets_the_he_standard_bound() {
        let secure: Vec<_> = all_presets()
            .into_iter()
            .filter(|s| s.security == SecurityLevel::Bits128)
            .collect();
        assert_eq!(secure.len(), 4);
        for spec in secure {
            let report = security::check(&spec).unwrap();
            let bound = security::max_log_qp_128(spec.log_n).unwrap();
            assert!(spec.log_qp() <= bound, "{}", report);
            assert!(report.meets_128_bits());
            assert_eq!(spec.secret, SecretDistribution::Ternary);
        }
    }

    #[test]
    fn insecure_presets_say_so_in_name_and_claim() {
        for p in PRESETS {
            let spec = p.spec();
            assert_eq!(spec.name, p.name);
            let insecure_name = p.name.starts_with("insecure-");
            assert_eq!(
                insecure_name,
                spec.security == SecurityLevel::InsecureForTests,
                "{}",
                p.name
            );
            if insecure_name {
                assert!((10..=13).contains(&spec.log_n));
            }
        }
    }

    #[test]
    fn special_modulus_covers_the_largest_digit() {
        for spec in all_presets() {
            let p_bits: u32 = spec.p_bits.iter().sum();
            assert!(
                p_bits >= largest_digit_bits(&spec),
                "{}: P={p_bits}",
                spec.name
            );
            assert!(
                (1..=spec.q_bits.len()).contains(&spec.dnum),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn scaling_primes_match_the_scale_and_q0_has_headroom() {
        for spec in all_presets() {
            assert!(spec.q_bits[0] > spec.log_scale, "{}", spec.name);
            assert!(
                spec.q_bits.iter().all(|&b| (30..=60).contains(&b)),
                "{}",
                spec.name
            );
            assert!(
                spec.p_bits.iter().all(|&b| (57..=61).contains(&b)),
                "{}",
                spec.name
            );
            assert!(
                spec.q_bits[1..].iter().all(|&b| b >= spec.log_scale),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn bootstrappable_preset_spends_its_levels_as_documented() {
        use crate::circuits::bootstrap::BootstrapParams;
        let spec = boot_n16();
        let b = BOOT_N16_BUDGET;
        assert_eq!(spec.q_bits.len(), b.q_limbs());
        const { assert!(BOOT_N16_BUDGET.application >= 12) };
        // The default bootstrap spends exactly the budget's levels, full and sparse slots.
        for log_slots in [4, 12, 15] {
            let params = BootstrapParams::sparse_secret_default(log_slots);
            assert_eq!(params.coeff_to_slot_levels, b.coeff_to_slot);
            assert_eq!(params.slot_to_coeff_levels, b.slot_to_coeff);
            assert_eq!(
                params.depth().unwrap(),
                b.coeff_to_slot + b.eval_mod + b.slot_to_coeff
            );
        }
        // EvalMod runs on its own primes: from the top, CoeffToSlot then EvalMod rescale by
        // exactly the primes of their role.
        let top = spec.q_bits.len() - 1;
        let cts_out = top - b.coeff_to_slot;
        assert!(
            spec.q_bits[cts_out + 1..]
                .iter()
                .all(|&x| x == BOOT_N16_COEFF_TO_SLOT_BITS)
        );
        let stc_in = cts_out - b.eval_mod;
        assert!(
            spec.q_bits[stc_in + 1..=cts_out]
                .iter()
                .all(|&x| x == BOOT_N16_EVAL_MOD_BITS)
        );
        assert!(spec.q_bits[1..=stc_in].iter().all(|&x| x == spec.log_scale));
        let shape = |s: &ParameterSpec| (s.q_bits.clone(), s.p_bits.clone(), s.dnum, s.log_scale);
        assert_eq!(shape(&insecure_boot_n12()), shape(&spec));
        assert_eq!(shape(&insecure_boot_n13()), shape(&spec));
    }

    /// `insecure-boot-n13` bootstraps at full slots (4096): dense key through the sparse-secret
    /// encapsulation, landing on the budget's application levels with the precision training
    /// needs. Key generation and one bootstrap at N = 2^13: a few seconds.
    #[test]
    fn insecure_boot_n13_bootstraps_full_slots() {
        use crate::circuits::bootstrap::{BootstrapParams, measure_bootstrap};
        use crate::params::context::Context;
        let spec = insecure_boot_n13();
        let ctx = Context::new(&spec, true).unwrap();
        let params = BootstrapParams::sparse_secret_default(spec.log_n - 1);
        let m = measure_bootstrap(&ctx, params, 13).unwrap();
        assert_eq!(m.slots, spec.max_slots());
        assert_eq!(m.levels_left, BOOT_N16_BUDGET.application);
        // The softmax's error budget (1e-3 on probabilities, ~10 bits) with room to spare.
        assert!(m.mean_bits >= 16.0 && m.worst_bits >= 12.0, "{m:?}");
    }

    #[test]
    fn deep_preset_spends_its_levels_as_documented() {
        use crate::circuits::bootstrap::BootstrapParams;
        let spec = boot_n16_deep();
        let b = BOOT_N16_DEEP_BUDGET;
        assert_eq!(spec.q_bits.len(), b.q_limbs());
        const { assert!(BOOT_N16_DEEP_BUDGET.application >= 17) };
        let report = security::check(&spec).unwrap();
        assert!(report.meets_128_bits(), "{report}");
        let p_bits: u32 = spec.p_bits.iter().sum();
        assert!(p_bits >= largest_digit_bits(&spec));
        // The boot-n16 circuit, so every caller's default bootstrap fits the budget exactly.
        let params = BootstrapParams::sparse_secret_default(15);
        assert_eq!(
            params.depth().unwrap(),
            b.coeff_to_slot + b.eval_mod + b.slot_to_coeff
        );
        let top = spec.q_bits.len() - 1;
        let cts_out = top - b.coeff_to_slot;
        let stc_in = cts_out - b.eval_mod;
        assert!(
            spec.q_bits[stc_in + 1..=cts_out]
                .iter()
                .all(|&x| x == BOOT_N16_EVAL_MOD_BITS)
        );
        assert!(spec.q_bits[1..=stc_in].iter().all(|&x| x == spec.log_scale));
        let shape = |s: &ParameterSpec| (s.q_bits.clone(), s.p_bits.clone(), s.dnum, s.log_scale);
        assert_eq!(shape(&insecure_boot_deep_n12()), shape(&spec));
    }

    /// The 12 GiB budget keeps `boot-n16` in the fast layout at every slot count and moves the
    /// deep chain's full-slot bootstrap to the lean layout, whose estimate fits.
    #[test]
    fn memory_layout_follows_the_budget() {
        use crate::circuits::bootstrap::{BOOTSTRAP_MEMORY_BUDGET, BootstrapParams, MemoryLayout};
        for log_slots in [10, 12, 14, 15] {
            let params = BootstrapParams::sparse_secret_default(log_slots);
            let fitted = params.fit_to_memory(&boot_n16()).unwrap();
            assert_eq!(fitted.memory, MemoryLayout::Fast, "2^{log_slots}");
            let estimate = params.memory_estimate(&boot_n16()).unwrap();
            assert!(estimate.total_bytes() <= BOOTSTRAP_MEMORY_BUDGET);
        }
        let deep_spec = boot_n16_deep();
        let params = BootstrapParams::sparse_secret_default(15);
        let deep = params.fit_to_memory(&deep_spec).unwrap();
        assert_eq!(deep.memory, MemoryLayout::Lean);
        let lean = deep.memory_estimate(&deep_spec).unwrap();
        let fast = params.memory_estimate(&deep_spec).unwrap();
        assert!(fast.total_bytes() > BOOTSTRAP_MEMORY_BUDGET, "{fast:?}");
        assert!(lean.total_bytes() <= BOOTSTRAP_MEMORY_BUDGET, "{lean:?}");
        // Fewer keys (38 rotations instead of 46) and diagonals of one limb instead of 30-37.
        let steps = |p: &BootstrapParams| p.rotation_steps(16).unwrap().len();
        assert!(steps(&deep) < steps(&params));
        assert!(lean.diagonal_bytes * 20 < fast.diagonal_bytes);
    }

    /// `insecure-boot-deep-n12` bootstraps full slots (2048) in both memory layouts and lands
    /// on the deep budget's 17 application levels. Seconds at N = 2^12.
    #[test]
    fn insecure_boot_deep_n12_leaves_seventeen_levels() {
        use crate::circuits::bootstrap::{BootstrapParams, MemoryLayout, measure_bootstrap};
        use crate::params::context::Context;
        let spec = insecure_boot_deep_n12();
        let ctx = Context::new(&spec, true).unwrap();
        for memory in [MemoryLayout::Fast, MemoryLayout::Lean] {
            let params = BootstrapParams {
                memory,
                ..BootstrapParams::sparse_secret_default(spec.log_n - 1)
            };
            let m = measure_bootstrap(&ctx, params, 12).unwrap();
            println!("{memory:?}: {m:?}");
            assert_eq!(m.slots, spec.max_slots());
            assert_eq!(m.levels_left, BOOT_N16_DEEP_BUDGET.application);
            assert!(
                m.mean_bits >= 20.0 && m.worst_bits >= 16.0,
                "{memory:?}: {m:?}"
            );
        }
    }

    #[test]
    fn n15_bootstrapping_leaves_fewer_than_three_levels() {
        let bound = security::max_log_qp_128(15).unwrap();
        assert_eq!(bound, 881);
        let b = BOOT_N16_BUDGET;
        let boot_n16_chain = 60
            + b.eval_mod as u32 * BOOT_N16_EVAL_MOD_BITS
            + b.coeff_to_slot as u32 * BOOT_N16_COEFF_TO_SLOT_BITS
            + b.slot_to_coeff as u32 * 45;
        assert_eq!(boot_n16_chain, 827);
        // The smallest P: one digit per prime, P one 61-bit prime.
        let min_p = 61;
        assert!(
            boot_n16_chain + min_p > bound,
            "the boot-n16 bootstrap does not fit"
        );
        // Trimmed bootstrap at the precision target: EvalMod 8 x 57, 2 + 2 DFT levels.
        let trimmed = 60 + 8 * 57 + 2 * 50 + 2 * 45;
        assert_eq!(trimmed, 706);
        let app_levels = (bound - trimmed - min_p) / 45;
        assert_eq!(app_levels, 2);
        assert!(app_levels < 3);
    }

    #[test]
    fn insecure_presets_need_the_explicit_opt_in() {
        use crate::params::context::Context;
        for p in PRESETS.iter().filter(|p| p.name.starts_with("insecure-")) {
            let err = Context::new(&p.spec(), false).unwrap_err();
            assert!(
                matches!(err, Error::InsecureParameters { .. }),
                "{}",
                p.name
            );
            assert!(err.to_string().contains("opt in"), "{err}");
            assert!(Context::new(&p.spec(), true).is_ok(), "{}", p.name);
        }
    }

    #[test]
    fn unknown_preset_is_a_typed_error_listing_names() {
        let err = preset("nope").unwrap_err();
        assert!(matches!(err, Error::InvalidParameters(ref m) if m.contains(OPS_N16)));
        assert_eq!(preset(DEMO_N15).unwrap(), demo_n15());
    }
}
