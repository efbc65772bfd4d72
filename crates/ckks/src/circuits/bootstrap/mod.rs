//! CKKS bootstrapping: ModRaise, CoeffToSlot, EvalMod, SlotToCoeff.
//!
//! A ciphertext at level 0 encrypts `Δ·m` modulo `q_0`. Bootstrapping returns an encryption of
//! the same `m` at a high level:
//!
//! 1. **Scale-up and ModRaise** — the level-0 ciphertext is multiplied by the integer
//!    `k = ⌊q_0 / (Δ·2^ratio)⌋` (free at level 0) so that the message fills `q_0/2^ratio`, then
//!    read modulo the whole chain `Q_L`: it now decrypts to `Δk·m + q_0·I` with `I` a small integer
//!    polynomial (`|I| ≲ h/2` for a secret of Hamming weight `h`).
//! 2. **Sub-sum** (sparse slots only) — `log2(N/2n)` rotations project the plaintext onto the
//!    sub-ring `Z[X^{N/2n}]` the `n` slots live in (the trace), killing the overflow outside it.
//! 3. **CoeffToSlot** — the inverse special FFT, factored into a few levels of sparse diagonal
//!    matrices ([`crate::circuits::dft`]), puts the plaintext coefficients (divided by `q_0·K`) into
//!    the slots; a conjugation splits real and imaginary halves (packed into one ciphertext when
//!    `n < N/2`, so one EvalMod serves both).
//! 4. **EvalMod** ([`crate::circuits::mod1`]) — removes `I`: `x ↦ x − round(x)`.
//! 5. **SlotToCoeff** — the special FFT puts the reduced coefficients back; the last level's
//!    diagonals are encoded at the scale that makes the output land on the default scale.
//!
//! ## Sparse-secret encapsulation (Bossuat, Troncoso-Pastoriza, Hubaux, ACNS 2022)
//!
//! EvalMod's cost grows with the range `K` of `I`, and `I` grows with the Hamming weight `h` of
//! the secret (its coefficients have standard deviation about `sqrt(h/12)`): a dense ternary key
//! (`h ≈ 2N/3`, about 44 000 at `N = 2^16`) would need `K` near 700. The encapsulation keeps the
//! user's dense key `s` and adds two switching keys to the bootstrapping key set
//! ([`encapsulation::SparseSecretKeys`]), made on the client with an ephemeral sparse ternary
//! key `s'` of weight `h' = 32` that is wiped right after:
//!
//! * `s → s'`, **only modulo `q_0 · p'`** (`p'` one extra 61-bit prime, about 121 bits in all
//!   for `boot-n16`): the level-0 ciphertext is switched to `s'` before ModRaise, so `I` has
//!   standard deviation `sqrt(32/12) ≈ 1.6` and `K = 16` (|I| ≤ 15, about 9σ) suffices;
//! * `s' → s` over the full `Q_L · P`: applied right after ModRaise, so everything after runs
//!   under the dense key again with the ordinary rotation and relinearization keys.
//!
//! Security. The only public material involving `s'` is (a) the `s → s'` key, an RLWE sample
//! with the sparse secret `s'` but a modulus of only ~121 bits at `N = 2^16` — the HE Standard
//! allows 1772 bits for dense ternary secrets at this degree, and the sparse-secret attacks
//! (hybrid dual / meet-in-the-middle, which exploit `h'` small only when `log q` is large relative
//! to `N`) leave this instance far above 128 bits; Bossuat et al. (ePrint 2022/024, §5) estimate
//! it so for `h' = 32` with a modulus of this size, and Lattigo's default bootstrapping parameters
//! use exactly this setting; and (b) the `s' → s` key, an encryption of `s'` under the dense
//! key `s` modulo `Q_L · P`, which is as secure as every other evaluation key (the preset passes
//! the HE Standard bound for ternary secrets). A ciphertext is under `s'` only transiently inside
//! a bootstrap, at level 0; every output decrypts only with `s`. As a side benefit the failure
//! probability (`|I| ≥ K`) drops below 2^-60 per coefficient.
//!
//! ## Usage
//!
//! ```no_run
//! use std::sync::Arc;
//! use hetal_ckks::circuits::bootstrap::{
//!     BootstrapParams, CkksBootstrapper, DEFAULT_SPARSE_WEIGHT, SparseSecretKeys,
//!     generate_bootstrap_keys,
//! };
//! use hetal_ckks::eval::Evaluator;
//! use hetal_ckks::keys::KeyGenerator;
//! use hetal_ckks::math::sample::Prng;
//! use hetal_ckks::params::{context::Context, presets::boot_n16};
//!
//! # fn main() -> hetal_ckks::Result<()> {
//! let ctx = Context::new(&boot_n16(), false)?;
//! let params = BootstrapParams::sparse_secret_default(15); // full slots
//! // client: keys from the (dense) secret key; everything below is public
//! let mut kg = KeyGenerator::new(&ctx, Prng::from_os());
//! let eval_keys = generate_bootstrap_keys(&mut kg, &ctx, &params, &[])?;
//! let sparse = SparseSecretKeys::generate(
//!     &ctx, kg.secret_key(), DEFAULT_SPARSE_WEIGHT, &mut Prng::from_os())?;
//! // server: plan once, bootstrap any number of ciphertexts
//! let boot = CkksBootstrapper::new(&ctx, params)?.with_encapsulation(Arc::new(sparse))?;
//! let eval = Evaluator::new(&ctx, Some(Arc::new(eval_keys)))?;
//! # let ct: hetal_ckks::crypto::Ciphertext = unimplemented!();
//! let refreshed = boot.bootstrap(&eval, &ct)?; // at level boot.output_level()
//! # Ok(()) }
//! ```
//!
//! * [`params`] — [`BootstrapParams`]: slot count, level split, EvalMod parameters, rotation
//!   steps, and the [`MemoryLayout`] that keeps keys + diagonals + one bootstrap within
//!   [`BOOTSTRAP_MEMORY_BUDGET`] (fast on `boot-n16`; lean — fewest rotation keys, diagonals
//!   encoded when used — on the longer `boot-n16-deep` chain, whose keys are twice as large).
//! * [`pipeline`] — [`Bootstrapper`]: the pre-encoded transforms and the pipeline over any
//!   [`crate::circuits::backend::SlotBackend`].
//! * [`ckks_backend`] — that backend on real ciphertexts; [`ckks`] — [`CkksBootstrapper`] and
//!   the generation of the bootstrapping key set on the client.
//! * [`encapsulation`] — [`SparseSecretKeys`]: the dense ↔ sparse switching keys.
//! * [`mod@bench`] — [`measure_bootstrap`]: one measured client/server round for the benchmarks.

pub mod bench;
pub mod ckks;
pub mod ckks_backend;
pub mod encapsulation;
pub mod params;
pub mod pipeline;

pub use bench::{BootstrapMeasurement, measure_bootstrap};
pub use ckks::{CkksBootstrapper, bootstrap_rotation_steps, generate_bootstrap_keys};
pub use encapsulation::{DEFAULT_SPARSE_WEIGHT, SparseSecretKeys};
pub use params::{BOOTSTRAP_MEMORY_BUDGET, BootstrapMemory, BootstrapParams, MemoryLayout};
pub use pipeline::Bootstrapper;

#[cfg(test)]
mod tests {
    use num_complex::Complex64;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::circuits::backend::SlotBackend;
    use crate::circuits::simulator::SlotSimulator;

    /// A chain like a bootstrappable preset: q_0 ≈ 2^60, 2 application and 3 SlotToCoeff primes
    /// ≈ 2^45, EvalMod primes ≈ 2^55, CoeffToSlot primes ≈ 2^56 (none a power of two, so the
    /// scale bookkeeping is exercised).
    fn chain(params: &BootstrapParams) -> Vec<f64> {
        let mod1 =
            params.depth().unwrap() - params.coeff_to_slot_levels - params.slot_to_coeff_levels;
        let mut primes = vec![2f64.powi(60) - 93.0 * 2f64.powi(20)];
        for i in 0..2 + params.slot_to_coeff_levels {
            primes.push(2f64.powi(45) + (i as f64 + 1.0) * 2f64.powi(17) + 1.0);
        }
        for i in 0..mod1 {
            primes.push(2f64.powi(55) - (i as f64 + 1.0) * 2f64.powi(21) + 1.0);
        }
        for i in 0..params.coeff_to_slot_levels {
            primes.push(2f64.powi(56) + (i as f64 + 3.0) * 2f64.powi(22) + 1.0);
        }
        primes
    }

    fn run(log_n: u32, log_slots: u32, complex: bool) -> (f64, f64) {
        let params = BootstrapParams::sparse_secret_default(log_slots);
        let sim = SlotSimulator::new(log_n, chain(&params))
            .unwrap()
            .with_overflow(12, 7);
        let delta = 2f64.powi(45);
        let boot = Bootstrapper::new(&sim, log_n, params, delta).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(u64::from(log_slots));
        let n = params.slots();
        let z: Vec<Complex64> = (0..n)
            .map(|_| {
                Complex64::new(
                    rng.gen_range(-1.0..1.0),
                    if complex {
                        rng.gen_range(-1.0..1.0)
                    } else {
                        0.0
                    },
                )
            })
            .collect();
        let ct = sim.encrypt(&z, 0, delta).unwrap();
        let out = boot.bootstrap(&sim, &ct).unwrap();
        assert_eq!(out.level, boot.output_level(&sim).unwrap());
        assert_eq!(out.level, 2);
        assert!(
            (out.scale / delta - 1.0).abs() < 1e-9,
            "{}",
            out.scale / delta
        );
        let errs: Vec<f64> = out
            .values
            .iter()
            .enumerate()
            .map(|(j, v)| (v - z[j % n]).norm())
            .collect();
        let mean = errs.iter().sum::<f64>() / errs.len() as f64;
        let worst = errs.iter().copied().fold(0.0, f64::max);
        // EvalMod's worst-case error per coefficient, amplified to the message, summed over the
        // 2n coefficients each slot depends on.
        let bound = boot.mod1().error_bound() * boot.error_amplification(delta) * 2.0 * n as f64;
        assert!(worst <= bound, "worst {worst} > bound {bound}");
        (-mean.log2(), -worst.log2())
    }

    #[test]
    fn simulated_bootstrap_full_and_sparse_slots() {
        for (log_slots, complex) in [(9u32, true), (9, false), (4, true), (6, false)] {
            let (mean_bits, worst_bits) = run(10, log_slots, complex);
            println!(
                "2^{log_slots} slots, complex {complex}: mean {mean_bits:.1} bits, worst {worst_bits:.1} bits"
            );
            // Noise-free: only EvalMod's approximation (bounded above) and the sine's cubic
            // error remain; they must leave a margin over the 20 / 16-bit targets for the noise.
            assert!(
                mean_bits > 22.0 && worst_bits > 20.0,
                "2^{log_slots}: {mean_bits} / {worst_bits}"
            );
        }
    }

    #[test]
    fn simulated_linear_round_trip_is_identity() {
        for log_slots in [9u32, 5] {
            let params = BootstrapParams::sparse_secret_default(log_slots);
            let sim = SlotSimulator::new(10, chain(&params)).unwrap();
            let delta = 2f64.powi(45);
            let boot = Bootstrapper::new(&sim, 10, params, delta).unwrap();
            let n = params.slots();
            let z: Vec<Complex64> = (0..n)
                .map(|j| Complex64::new((j as f64).sin(), (j as f64 * 0.3).cos()))
                .collect();
            let top = sim.max_level();
            let ct = sim.encrypt(&z, top, delta).unwrap();
            let out = boot.linear_round_trip(&sim, &ct).unwrap();
            assert!((out.scale / delta - 1.0).abs() < 1e-9);
            for (j, v) in out.values.iter().enumerate() {
                assert!(
                    (v - z[j % n]).norm() < 1e-9,
                    "slot {j}: {v} vs {}",
                    z[j % n]
                );
            }
        }
    }

    #[test]
    fn rotation_steps_are_few_and_in_range() {
        let p = BootstrapParams::sparse_secret_default(15);
        let steps = p.rotation_steps(16).unwrap();
        assert!(steps.iter().all(|&s| s > 0 && s < 1 << 15));
        assert!(steps.len() < 120, "{} rotation keys", steps.len());
        let sparse = BootstrapParams::sparse_secret_default(10)
            .rotation_steps(16)
            .unwrap();
        for i in 10..15 {
            assert!(sparse.contains(&(1usize << i)));
        }
        assert!(
            BootstrapParams::sparse_secret_default(3)
                .validate(16)
                .is_err()
        );
        assert!(
            BootstrapParams::sparse_secret_default(16)
                .validate(16)
                .is_err()
        );
    }

    #[test]
    fn too_large_input_scale_is_an_error() {
        let params = BootstrapParams::sparse_secret_default(9);
        let sim = SlotSimulator::new(10, chain(&params)).unwrap();
        let boot = Bootstrapper::new(&sim, 10, params, 2f64.powi(45)).unwrap();
        let z = vec![Complex64::new(0.5, 0.0); 512];
        // q_0 ≈ 2^60: a scale of 2^56 leaves only 2^4 < 2^(8-2)
        let ct = sim.encrypt(&z, 0, 2f64.powi(56)).unwrap();
        assert!(boot.bootstrap(&sim, &ct).is_err());
    }

    #[test]
    fn too_short_chain_is_an_error() {
        let params = BootstrapParams::sparse_secret_default(5);
        let sim = SlotSimulator::new(10, vec![2f64.powi(60); 6]).unwrap();
        assert!(Bootstrapper::new(&sim, 10, params, 2f64.powi(45)).is_err());
        let _ = sim.max_slots();
    }
}
