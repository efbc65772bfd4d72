//! [`CkksBootstrapper`]: bootstrapping real ciphertexts, and the key set it needs.

use std::sync::Arc;

use super::ckks_backend::{CkksBackend, NttPlaintext};
use super::encapsulation::SparseSecretKeys;
use super::params::MemoryLayout;
use super::{BootstrapParams, Bootstrapper};
use crate::crypto::Ciphertext;
use crate::encoding::Encoder;
use crate::eval::Evaluator;
use crate::keys::{EvaluationKeys, KeyGenerator};
use crate::params::context::Context;
use crate::{Error, Result};

/// The rotation steps (as the key generator takes them) a bootstrap with `params` needs on
/// `ctx` (with the memory layout [`BootstrapParams::fit_to_memory`] picks for the chain, as
/// [`CkksBootstrapper::new`] does); the conjugation key is needed as well.
pub fn bootstrap_rotation_steps(ctx: &Context, params: &BootstrapParams) -> Result<Vec<i32>> {
    let params = params.fit_to_memory(ctx.spec())?;
    let steps = params.rotation_steps(ctx.spec().log_n)?;
    steps
        .into_iter()
        .map(|s| {
            i32::try_from(s)
                .map_err(|_| Error::InvalidParameters(format!("rotation step {s} out of range")))
        })
        .collect()
}

/// Generates, on the client, the evaluation keys a bootstrap needs (relinearization, the
/// rotations of [`bootstrap_rotation_steps`] plus `extra_steps` for the application, and
/// conjugation). The result holds no secret and can be serialized and shipped.
pub fn generate_bootstrap_keys(
    keygen: &mut KeyGenerator,
    ctx: &Context,
    params: &BootstrapParams,
    extra_steps: &[i32],
) -> Result<EvaluationKeys> {
    let mut steps = bootstrap_rotation_steps(ctx, params)?;
    steps.extend_from_slice(extra_steps);
    steps.sort_unstable();
    steps.dedup();
    keygen.evaluation_keys(&steps, true)
}

/// A bootstrapper for one context: the DFT diagonals pre-encoded once, usable by any party that
/// holds the (public) bootstrapping keys.
#[derive(Debug)]
pub struct CkksBootstrapper {
    ctx: Arc<Context>,
    encoder: Encoder,
    inner: Bootstrapper<NttPlaintext>,
    encapsulation: Option<Arc<SparseSecretKeys>>,
}

impl CkksBootstrapper {
    /// Plans the bootstrap and encodes its diagonals (no key needed). Outputs get the
    /// context's default scale. The memory layout is the one
    /// [`BootstrapParams::fit_to_memory`] picks for the chain (see [`Self::params`]).
    pub fn new(ctx: &Arc<Context>, params: BootstrapParams) -> Result<Self> {
        let params = params.fit_to_memory(ctx.spec())?;
        let encoder = Encoder::new(ctx);
        let eval = Evaluator::new(ctx, None)?;
        let backend = CkksBackend::new(&eval, &encoder)?
            .with_deferred_diagonals(params.memory == MemoryLayout::Lean);
        let inner = Bootstrapper::new(&backend, ctx.spec().log_n, params, ctx.default_scale())?;
        Ok(Self {
            ctx: ctx.clone(),
            encoder,
            inner,
            encapsulation: None,
        })
    }

    /// Uses the sparse-secret encapsulation keys for ModRaise (needed when the user's key is
    /// dense: the EvalMod range K of the parameters assumes the sparse secret's weight).
    pub fn with_encapsulation(mut self, keys: Arc<SparseSecretKeys>) -> Result<Self> {
        keys.check_context(&self.ctx)?;
        self.encapsulation = Some(keys);
        Ok(self)
    }

    /// The parameters.
    pub fn params(&self) -> &BootstrapParams {
        self.inner.params()
    }

    /// Level of a bootstrapped ciphertext.
    pub fn output_level(&self) -> Result<usize> {
        let depth = self.inner.params().depth()?;
        Ok(self.ctx.max_level() - depth)
    }

    /// Number of pre-encoded diagonals.
    pub fn diagonal_count(&self) -> usize {
        self.inner.diagonal_count()
    }

    /// Refreshes `ct` with the evaluator `eval` (which must hold the bootstrapping keys). The
    /// slot count of `ct` must be the one the bootstrapper was planned for.
    pub fn bootstrap(&self, eval: &Evaluator, ct: &Ciphertext) -> Result<Ciphertext> {
        self.bootstrap_with_phases(eval, ct, |_| {})
    }

    /// [`Self::bootstrap`] with a callback at the end of each phase (see
    /// [`Bootstrapper::bootstrap_with_phases`]), for profiling.
    pub fn bootstrap_with_phases(
        &self,
        eval: &Evaluator,
        ct: &Ciphertext,
        on_phase: impl FnMut(&'static str),
    ) -> Result<Ciphertext> {
        self.check(eval, ct)?;
        let mut backend = CkksBackend::new(eval, &self.encoder)?;
        if let Some(keys) = &self.encapsulation {
            backend = backend.with_encapsulation(keys);
        }
        let mut out = self.inner.bootstrap_with_phases(&backend, ct, on_phase)?;
        out.slots = ct.slots();
        Ok(out)
    }

    /// CoeffToSlot then SlotToCoeff without EvalMod (no ModRaise either): the identity up to
    /// the transforms' error. For tests and diagnostics of the linear part; the input must be at
    /// the top level and hold values small enough that `x/K` stays meaningful.
    pub fn linear_round_trip(&self, eval: &Evaluator, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check(eval, ct)?;
        let backend = CkksBackend::new(eval, &self.encoder)?;
        let mut out = self.inner.linear_round_trip(&backend, ct)?;
        out.slots = ct.slots();
        Ok(out)
    }

    fn check(&self, eval: &Evaluator, ct: &Ciphertext) -> Result<()> {
        if eval.context().id() != self.ctx.id() {
            return Err(Error::ParameterMismatch(
                "evaluator belongs to another context than the bootstrapper".into(),
            ));
        }
        if ct.slots() != self.inner.params().slots() {
            return Err(Error::InvalidInput(format!(
                "bootstrapper planned for {} slots, ciphertext has {}",
                self.inner.params().slots(),
                ct.slots()
            )));
        }
        Ok(())
    }
}
