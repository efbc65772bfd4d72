//! CKKS slot evaluators that bootstrap: the client's bootstrappable key set
//! ([`SecretKeyClient::generate_bootstrappable`]), the server's [`ServerBootstrapper`] built from
//! public material only, the bootstrap parameters every caller agrees on per preset
//! ([`bootstrap_params_for`]), and the one-process [`CkksSession::bootstrappable`].
//!
//! # Levels
//! [`CkksSlots`] keeps every ciphertext at a canonical scale per level (built upward from level
//! 0; see [`super::ckks`]). A bootstrap returns at [`ServerBootstrapper::output_level`] (the top
//! level minus the bootstrap's depth) with the scale its input had at level 0, times the ratio of
//! two integer scale-up factors. So the bootstrapping procedure first brings its input to level
//! 0 exactly at the scale that makes the output land on the canonical scale of `output_level`
//! (one constant product and rescale from level 1, no key switching; see
//! `landing_input_scale`). Hence:
//! * [`ServerBootstrapper::bootstrap_min`] = 1: a ciphertext needs one level for that step;
//! * [`ServerBootstrapper::bootstrap_level`] = `output_level`: nothing is lost on the way out
//!   (when a chain's primes make the integer factors differ, the output is brought down one
//!   level instead and `bootstrap_level` = `output_level − 1`).
//!
//! The trainer's [`LevelPolicy`](crate::train::LevelPolicy) then works with
//! `bootstrap_level − bootstrap_min` levels between bootstraps: 11 on `boot-n16` and on
//! `insecure-boot-n12` (12 − 1; HETAL's 12 → 3 setting has 9). Fresh encryptions stay at the top
//! of the chain (the evaluator aligns them down where they meet lower operands).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::ckks::{Bootstrapper, CkksSlots, NoClient};
use super::ckks_session::{CkksSession, SecretKeyClient, galois_steps};
use crate::{Error, Result};
use hetal_ckks::circuits::backend::SlotBackend;
use hetal_ckks::circuits::bootstrap::ckks_backend::CkksBackend;
use hetal_ckks::circuits::bootstrap::{
    BootstrapParams, CkksBootstrapper, DEFAULT_SPARSE_WEIGHT, SparseSecretKeys,
    generate_bootstrap_keys,
};
use hetal_ckks::crypto::Ciphertext;
use hetal_ckks::encoding::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::{EvaluationKeys, KeyGenerator};
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{ParameterSpec, SecretDistribution};

/// Lowest level a ciphertext can be bootstrapped from: ModRaise starts at level 0, and one level
/// above it sets the input's scale (see the module documentation).
pub const BOOTSTRAP_MIN: usize = 1;

/// Application levels a chain must leave above a bootstrap's output: more than
/// [`BOOTSTRAP_MIN`], so that a bootstrapped ciphertext can be computed on.
const MIN_OUTPUT_LEVEL: usize = 2;

fn boot_err(e: hetal_ckks::Error) -> Error {
    Error::Bootstrap(e.to_string())
}

/// The bootstrap every caller uses for `spec`: full slots (`N/2`, what the slot evaluators
/// encrypt), with the sparse-secret defaults `hetal bench bootstrap` measures
/// ([`BootstrapParams::sparse_secret_default`]). An error when the chain cannot hold the
/// bootstrap with at least two levels left above it. Holding the levels is not enough for
/// precision: `ops-n16`'s equal primes pass this check but bootstrap to under 10 bits (see
/// `hetal bench bootstrap`); `boot-n16` and `insecure-boot-n12` are laid out for it.
pub fn bootstrap_params_for(spec: &ParameterSpec) -> Result<BootstrapParams> {
    let log_slots = spec
        .log_n
        .checked_sub(1)
        .ok_or_else(|| Error::InvalidInput(format!("ring degree 2^{}", spec.log_n)))?;
    let params = BootstrapParams::sparse_secret_default(log_slots);
    params.validate(spec.log_n).map_err(boot_err)?;
    check_levels(spec, &params)?;
    Ok(params)
}

/// The chain of `spec` holds a bootstrap with `params` and leaves [`MIN_OUTPUT_LEVEL`] levels.
fn check_levels(spec: &ParameterSpec, params: &BootstrapParams) -> Result<()> {
    let depth = params.depth().map_err(boot_err)?;
    let levels = spec.q_bits.len().saturating_sub(1);
    if levels < depth + MIN_OUTPUT_LEVEL {
        return Err(Error::InvalidInput(format!(
            "preset `{}` has {levels} levels; a bootstrap takes {depth} and must leave at least \
             {MIN_OUTPUT_LEVEL} (use a bootstrappable preset such as boot-n16)",
            spec.name
        )));
    }
    Ok(())
}

/// A reproducible generator for one role (`tweak`) of a key set, or the OS's randomness.
fn prng(seed: Option<[u8; 32]>, tweak: u8) -> Prng {
    match seed {
        Some(mut s) => {
            s[0] ^= tweak;
            Prng::from_seed(s)
        }
        None => Prng::from_os(),
    }
}

impl SecretKeyClient {
    /// Generates a key set that can be bootstrapped with `params` (from `seed`, or the OS when
    /// `None`): the client, the public evaluation keys (relinearization, conjugation, the
    /// bootstrap's rotations and `rotation_steps`, any sign) and the sparse-secret encapsulation
    /// keys (weight [`DEFAULT_SPARSE_WEIGHT`]), as `hetal bench bootstrap` builds them. The user's
    /// secret has the context's distribution (dense ternary on `boot-n16`); the ephemeral sparse
    /// secret is wiped before this returns. Only the client is secret.
    pub fn generate_bootstrappable(
        ctx: &Arc<Context>,
        seed: Option<[u8; 32]>,
        rotation_steps: &[isize],
        params: &BootstrapParams,
    ) -> Result<(SecretKeyClient, EvaluationKeys, SparseSecretKeys)> {
        params.validate(ctx.spec().log_n).map_err(boot_err)?;
        let mut keygen = KeyGenerator::new(ctx, prng(seed, 0));
        let public = keygen.public_key();
        let extra = galois_steps(ctx.max_slots(), rotation_steps)?;
        let eval_keys =
            generate_bootstrap_keys(&mut keygen, ctx, params, &extra).map_err(boot_err)?;
        let sparse = SparseSecretKeys::generate(
            ctx,
            keygen.secret_key(),
            DEFAULT_SPARSE_WEIGHT,
            &mut prng(seed, 2),
        )
        .map_err(boot_err)?;
        let secret = keygen.into_secret_key();
        let client = SecretKeyClient::from_keys(ctx, secret, &public, prng(seed, 1))?;
        Ok((client, eval_keys, sparse))
    }
}

/// How many bootstraps a [`ServerBootstrapper`]'s evaluators ran and their total wall time
/// (for step breakdowns; shared by every evaluator built from the same bootstrapper).
#[derive(Debug, Default)]
pub struct BootstrapStats {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl BootstrapStats {
    fn record(&self, elapsed: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Bootstraps run so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Wall-clock seconds spent in them.
    pub fn seconds(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// Starts counting afresh.
    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.nanos.store(0, Ordering::Relaxed);
    }
}

/// The server's bootstrapping: the planned bootstrap (DFT diagonals encoded once) with the
/// client's public encapsulation keys. It holds no secret; with an [`Evaluator`] holding the
/// client's evaluation keys it makes slot evaluators that bootstrap.
#[derive(Debug, Clone)]
pub struct ServerBootstrapper {
    ctx: Arc<Context>,
    inner: Arc<CkksBootstrapper>,
    output_level: usize,
    /// Level-0 scale of an input whose bootstrap lands on the canonical scale of
    /// `output_level`; `None` when no input scale does (the output then goes one level down).
    input_scale: Option<f64>,
    stats: Arc<BootstrapStats>,
}

/// The canonical scales of [`CkksSlots`] on `ctx` (level 0 first): `Δ_0` the default scale,
/// `Δ_ℓ = √(Δ_{ℓ−1}·q_ℓ)`.
fn canonical_scales(ctx: &Context) -> Vec<f64> {
    let mut scales = vec![ctx.default_scale()];
    for level in 1..=ctx.max_level() {
        let below = scales[level - 1];
        scales.push((below * ctx.q(level) as f64).sqrt());
    }
    scales
}

/// The integer a level-0 input of scale `scale` is multiplied by before ModRaise (as the
/// bootstrap pipeline computes it): its message then fills `q_0 / 2^ratio`.
fn scale_up_factor(q0: f64, scale: f64, params: &BootstrapParams) -> f64 {
    (q0 / (scale * params.mod1.log_message_ratio.exp2()))
        .floor()
        .max(1.0)
}

/// The input scale that lands a bootstrap on `target`. The output has scale
/// `Δ_in · k(Δ_in) / k(default)`, so `Δ_in = target · k(default) / k` for an integer `k` near
/// `k(default)` with `k(Δ_in) = k` (`target` itself when `k(target) = k(default)`, a factor
/// `k/(k−1)` away when `target` sits just across a step of the floor).
fn landing_input_scale(ctx: &Context, params: &BootstrapParams, target: f64) -> Option<f64> {
    let q0 = ctx.q(0) as f64;
    let k_default = scale_up_factor(q0, ctx.default_scale(), params);
    let candidates = [k_default, k_default - 1.0, k_default + 1.0];
    candidates
        .into_iter()
        .filter(|&k| k >= 1.0)
        .map(|k| (k, target * k_default / k))
        .find(|&(k, scale)| scale_up_factor(q0, scale, params) == k)
        .map(|(_, scale)| scale)
}

impl ServerBootstrapper {
    /// Plans `params` on `ctx` (full slots only: the slot evaluators encrypt `N/2` slots).
    /// `sparse`, the client's encapsulation keys, is required when the user's secret is dense
    /// (EvalMod's range assumes a sparse secret at ModRaise).
    pub fn new(
        ctx: &Arc<Context>,
        params: BootstrapParams,
        sparse: Option<Arc<SparseSecretKeys>>,
    ) -> Result<Self> {
        if params.slots() != ctx.max_slots() {
            return Err(Error::InvalidInput(format!(
                "the slot evaluators bootstrap full slots ({}), not {}",
                ctx.max_slots(),
                params.slots()
            )));
        }
        let sparse_secret = matches!(ctx.spec().secret, SecretDistribution::SparseTernary { .. });
        if sparse.is_none() && !sparse_secret {
            return Err(Error::InvalidInput(
                "a dense secret key needs the sparse-secret encapsulation keys to bootstrap".into(),
            ));
        }
        let mut inner = CkksBootstrapper::new(ctx, params).map_err(boot_err)?;
        if let Some(keys) = sparse {
            inner = inner.with_encapsulation(keys).map_err(boot_err)?;
        }
        let output_level = inner.output_level().map_err(boot_err)?;
        Ok(Self {
            ctx: Arc::clone(ctx),
            inner: Arc::new(inner),
            output_level,
            input_scale: Self::landing(ctx, &params)?.1,
            stats: Arc::new(BootstrapStats::default()),
        })
    }

    /// The output level and landing input scale of `params` on `ctx` (no planning).
    fn landing(ctx: &Context, params: &BootstrapParams) -> Result<(usize, Option<f64>)> {
        check_levels(ctx.spec(), params)?;
        let output_level = ctx.max_level() - params.depth().map_err(boot_err)?;
        let target = canonical_scales(ctx)[output_level];
        Ok((output_level, landing_input_scale(ctx, params, target)))
    }

    /// `(bootstrap_level, bootstrap_min)` that a [`ServerBootstrapper`] for `params` on `ctx`
    /// will have, without planning it or any key: for a simulator in the same level setting
    /// (the rotations a run uses, before the keys are generated).
    pub fn levels_for(ctx: &Context, params: &BootstrapParams) -> Result<(usize, usize)> {
        let (output_level, input_scale) = Self::landing(ctx, params)?;
        let level = match input_scale {
            Some(_) => output_level,
            None => output_level - 1,
        };
        Ok((level, BOOTSTRAP_MIN))
    }

    /// Level of a bootstrapped ciphertext as the bootstrap returns it.
    pub fn output_level(&self) -> usize {
        self.output_level
    }

    /// What the slot evaluators report as
    /// [`SlotEvaluator::bootstrap_level`](super::SlotEvaluator::bootstrap_level):
    /// [`Self::output_level`], or one below where the chain's primes do not allow landing on
    /// the canonical scale (see the module documentation).
    pub fn bootstrap_level(&self) -> usize {
        match self.input_scale {
            Some(_) => self.output_level,
            None => self.output_level - 1,
        }
    }

    /// Lowest level that can be bootstrapped: [`BOOTSTRAP_MIN`] (pass it as the trainer's
    /// `bootstrap_min`).
    pub fn bootstrap_min(&self) -> usize {
        BOOTSTRAP_MIN
    }

    /// The planned bootstrap.
    pub fn bootstrapper(&self) -> &Arc<CkksBootstrapper> {
        &self.inner
    }

    /// Bootstraps run by the evaluators built from this bootstrapper (and its clones).
    pub fn stats(&self) -> &BootstrapStats {
        &self.stats
    }

    /// A key-less slot evaluator with bootstrapping (what the server holds). `eval` must hold
    /// the client's bootstrapping evaluation keys.
    pub fn slots<'a>(
        &self,
        eval: &'a Evaluator,
        encoder: &'a Encoder,
    ) -> Result<CkksSlots<CkksBackend<'a>, NoClient>> {
        self.with_client(eval, encoder, NoClient)
    }

    /// A slot evaluator with bootstrapping that can also encrypt and decrypt (tests, benches).
    pub fn client_slots<'a>(
        &self,
        eval: &'a Evaluator,
        encoder: &'a Encoder,
        client: &'a SecretKeyClient,
    ) -> Result<CkksSlots<CkksBackend<'a>, &'a SecretKeyClient>> {
        self.with_client(eval, encoder, client)
    }

    fn with_client<'a, C>(
        &self,
        eval: &'a Evaluator,
        encoder: &'a Encoder,
        client: C,
    ) -> Result<CkksSlots<CkksBackend<'a>, C>> {
        if eval.context().id() != self.ctx.id() {
            return Err(Error::InvalidInput(
                "the evaluator belongs to another context than the bootstrapper".into(),
            ));
        }
        let backend = CkksBackend::new(eval, encoder).map_err(boot_err)?;
        CkksSlots::new(
            backend,
            client,
            self.ctx.max_level(),
            self.ctx.default_scale(),
        )?
        .with_bootstrapping(self.procedure(), self.bootstrap_level())
    }

    /// The bootstrapping procedure handed to [`CkksSlots`]: input brought to its landing scale,
    /// bootstrap, timed and counted.
    fn procedure<'a>(&self) -> Bootstrapper<CkksBackend<'a>> {
        let inner = Arc::clone(&self.inner);
        let stats = Arc::clone(&self.stats);
        let input_scale = self.input_scale;
        Box::new(move |backend: &CkksBackend<'a>, ct: &Ciphertext| {
            let start = Instant::now();
            let input = match input_scale {
                Some(scale) => to_level_zero(backend, ct, scale)?,
                None => ct.clone(),
            };
            let out = inner
                .bootstrap(backend.evaluator(), &input)
                .map_err(boot_err);
            stats.record(start.elapsed());
            out
        })
    }
}

/// `ct` at level 0 with scale exactly `scale`: dropped to level 1, multiplied by the integer
/// `round(scale·q_1 / Δ)` and rescaled (needs a ciphertext above level 0).
fn to_level_zero(backend: &CkksBackend<'_>, ct: &Ciphertext, scale: f64) -> Result<Ciphertext> {
    let level = backend.level(ct);
    if level < BOOTSTRAP_MIN {
        return Err(Error::LevelExhausted {
            op: "bootstrap",
            needed: BOOTSTRAP_MIN,
            level,
        });
    }
    let dropped = backend.drop_to_level(ct, 1).map_err(boot_err)?;
    let factor = scale * backend.prime(1) / backend.scale(&dropped);
    let scaled = backend.mul_const(&dropped, 1.0, factor).map_err(boot_err)?;
    let mut out = backend.rescale(&scaled).map_err(boot_err)?;
    backend.set_scale(&mut out, scale);
    Ok(out)
}

impl CkksSession {
    /// A one-process session that bootstraps: the context of `spec` (insecure presets need
    /// `allow_insecure`), a bootstrappable key set with the rotations `rotation_steps`
    /// ([`SecretKeyClient::generate_bootstrappable`]) and a [`ServerBootstrapper`] for `params`
    /// (see [`bootstrap_params_for`]); its [`CkksSession::slots`] and
    /// [`CkksSession::server_slots`] bootstrap.
    pub fn bootstrappable(
        spec: &ParameterSpec,
        allow_insecure: bool,
        rotation_steps: &[isize],
        seed: Option<[u8; 32]>,
        params: BootstrapParams,
    ) -> Result<Self> {
        let ctx = Context::new(spec, allow_insecure).map_err(boot_err)?;
        // An unsuitable chain fails before the (slow) key generation.
        params.validate(spec.log_n).map_err(boot_err)?;
        check_levels(spec, &params)?;
        let (client, keys, sparse) =
            SecretKeyClient::generate_bootstrappable(&ctx, seed, rotation_steps, &params)?;
        let boot = ServerBootstrapper::new(&ctx, params, Some(Arc::new(sparse)))?;
        let evaluator = Evaluator::new(&ctx, Some(Arc::new(keys))).map_err(boot_err)?;
        Ok(CkksSession::from_parts(ctx, evaluator, client, Some(boot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hetal_ckks::params::preset;

    #[test]
    fn unsuitable_chains_and_missing_keys_are_errors() {
        // 6 levels cannot hold a depth-14 bootstrap.
        assert!(bootstrap_params_for(&preset("insecure-test-n12").unwrap()).is_err());
        let spec = preset(hetal_ckks::params::presets::INSECURE_BOOT_N12).unwrap();
        let params = bootstrap_params_for(&spec).unwrap();
        assert_eq!(params.slots(), spec.max_slots());
        let ctx = Context::new(&spec, true).unwrap();
        // Dense secret without the encapsulation keys.
        assert!(ServerBootstrapper::new(&ctx, params, None).is_err());
        // Sparse slots: the slot evaluators encrypt full slots.
        let sparse = BootstrapParams::sparse_secret_default(6);
        assert!(ServerBootstrapper::new(&ctx, sparse, None).is_err());
        let (level, min) = ServerBootstrapper::levels_for(&ctx, &params).unwrap();
        assert_eq!(min, BOOTSTRAP_MIN);
        assert!(level > min && level <= ctx.max_level() - params.depth().unwrap());
    }

    #[test]
    fn landing_scale_gives_the_target_output_scale() {
        let spec = preset(hetal_ckks::params::presets::INSECURE_BOOT_N12).unwrap();
        let params = bootstrap_params_for(&spec).unwrap();
        let ctx = Context::new(&spec, true).unwrap();
        let q0 = ctx.q(0) as f64;
        let k_default = scale_up_factor(q0, ctx.default_scale(), &params);
        for target in canonical_scales(&ctx) {
            if let Some(input) = landing_input_scale(&ctx, &params, target) {
                let out = input * scale_up_factor(q0, input, &params) / k_default;
                assert!((out / target - 1.0).abs() < 1e-12, "{out} vs {target}");
            }
        }
    }
}
