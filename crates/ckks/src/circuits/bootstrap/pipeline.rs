//! [`Bootstrapper`]: the pre-encoded DFT matrices and the bootstrap pipeline.

use num_complex::Complex64;

use super::BootstrapParams;
use crate::circuits::backend::SlotBackend;
use crate::circuits::lintrans::{BsgsPlan, EncodedTransform};
use crate::circuits::mod1::Mod1Poly;
use crate::circuits::mod1::eval::eval_mod;
use crate::circuits::simulator::SlotSimulator;
use crate::{Error, Result};

/// Everything a bootstrap needs besides the keys: the DFT diagonals encoded once at the level
/// where each is used, the EvalMod polynomials and the scale plan.
#[derive(Debug, Clone)]
pub struct Bootstrapper<P> {
    params: BootstrapParams,
    log_n: u32,
    mod1: Mod1Poly,
    coeff_to_slot: Vec<EncodedTransform<P>>,
    slot_to_coeff: Vec<EncodedTransform<P>>,
    /// `Δ_default`: the scale the output is meant to have for an input at this scale.
    default_scale: f64,
    /// `q_0` as `f64`.
    q0: f64,
    /// Scale of EvalMod's output (found on a dry run; depends only on the primes).
    mod1_out_scale: f64,
}

impl<P> Bootstrapper<P> {
    /// Plans and pre-encodes a bootstrap for ring degree `2^log_n` on `backend`'s modulus chain;
    /// outputs are meant to have scale `default_scale`.
    pub fn new<B: SlotBackend<Pt = P>>(
        backend: &B,
        log_n: u32,
        params: BootstrapParams,
        default_scale: f64,
    ) -> Result<Self> {
        params.validate(log_n)?;
        if backend.max_slots() != 1 << (log_n - 1) {
            return Err(Error::InvalidParameters(format!(
                "backend has {} slots, bootstrap planned for N = 2^{log_n}",
                backend.max_slots()
            )));
        }
        let mod1 = Mod1Poly::new(params.mod1)?;
        let top = backend.max_level();
        let depth = params.depth()?;
        if depth > top {
            return Err(Error::InvalidParameters(format!(
                "bootstrapping needs {depth} levels above q_0, the chain has {top}"
            )));
        }
        let q0 = backend.prime(0);
        // CoeffToSlot: keep the scale q_0 (the ModRaise label) and land on the prime of the level
        // EvalMod's first product rescales at.
        let cts_plans: Vec<BsgsPlan> = params.coeff_to_slot_plans(log_n)?;
        let cts_out_level = top - params.coeff_to_slot_levels;
        let eval_scale = backend.prime(cts_out_level);
        let mut coeff_to_slot = Vec::with_capacity(cts_plans.len());
        for (i, plan) in cts_plans.iter().enumerate() {
            let level = top - i;
            let pt_scale = if i + 1 == cts_plans.len() {
                eval_scale * backend.prime(level) / q0
            } else {
                backend.prime(level)
            };
            coeff_to_slot.push(EncodedTransform::encode(backend, plan, level, pt_scale)?);
        }
        // EvalMod's output scale depends only on the primes: find it on a dry run.
        let mod1_out_scale =
            Self::eval_mod_output_scale(backend, &mod1, cts_out_level, eval_scale)?;
        let stc_in_level = cts_out_level - mod1.depth()?;
        let stc_plans: Vec<BsgsPlan> = params.slot_to_coeff_plans(log_n)?;
        // The final label, before the relabelling by Δ·k/q_0, is q_0/k (see `bootstrap`).
        let target = q0 / Self::scale_up_factor(q0, default_scale, &params) as f64;
        let mut slot_to_coeff = Vec::with_capacity(stc_plans.len());
        for (i, plan) in stc_plans.iter().enumerate() {
            let level = stc_in_level - i;
            let pt_scale = if i + 1 == stc_plans.len() {
                target * backend.prime(level) / mod1_out_scale
            } else {
                backend.prime(level)
            };
            slot_to_coeff.push(EncodedTransform::encode(backend, plan, level, pt_scale)?);
        }
        Ok(Self {
            params,
            log_n,
            mod1,
            coeff_to_slot,
            slot_to_coeff,
            default_scale,
            q0,
            mod1_out_scale,
        })
    }

    fn eval_mod_output_scale<B: SlotBackend>(
        backend: &B,
        mod1: &Mod1Poly,
        level: usize,
        scale: f64,
    ) -> Result<f64> {
        let primes: Vec<f64> = (0..=level).map(|l| backend.prime(l)).collect();
        let sim = SlotSimulator::new(2, primes)?;
        let ct = sim.encrypt(&[Complex64::new(0.0, 0.0)], level, scale)?;
        Ok(eval_mod(&sim, mod1, &ct)?.scale)
    }

    /// The integer `k ≥ 1` a level-0 input of scale `scale` is multiplied by so that its message
    /// fills `q_0 / 2^log_message_ratio`.
    fn scale_up_factor(q0: f64, scale: f64, params: &BootstrapParams) -> u64 {
        let k = (q0 / (scale * params.mod1.log_message_ratio.exp2())).floor();
        if k.is_finite() && k >= 1.0 {
            k as u64
        } else {
            1
        }
    }

    /// The parameters.
    pub fn params(&self) -> &BootstrapParams {
        &self.params
    }

    /// Level of a bootstrapped ciphertext: the top level minus [`BootstrapParams::depth`].
    pub fn output_level<B: SlotBackend<Pt = P>>(&self, backend: &B) -> Result<usize> {
        Ok(backend.max_level() - self.params.depth()?)
    }

    /// Number of pre-encoded diagonals (a memory figure: each is one plaintext at its level).
    pub fn diagonal_count(&self) -> usize {
        self.coeff_to_slot
            .iter()
            .chain(&self.slot_to_coeff)
            .map(|t| t.diagonal_count())
            .sum()
    }

    /// ModRaise followed by the sub-sum onto the sparse sub-ring and CoeffToSlot: the returned
    /// ciphertexts hold `x/K` (`x = m·Δk/q_0 + I`), real and imaginary halves (one ciphertext
    /// when the slots are sparse, two when full).
    pub fn coeffs_to_slots<B: SlotBackend<Pt = P>>(
        &self,
        backend: &B,
        ct: &B::Ct,
    ) -> Result<(Vec<B::Ct>, f64)> {
        let ct0 = backend.drop_to_level(ct, 0)?;
        let scale_in = backend.scale(&ct0);
        // Below a ratio of 2^(r-2) the message reaches the non-linear part of the sine (its
        // cubic error grows 16-fold): refuse rather than return a badly refreshed ciphertext.
        let min_ratio = (self.params.mod1.log_message_ratio - 2.0).exp2();
        if !(scale_in.is_finite() && scale_in > 0.0) || self.q0 / scale_in < min_ratio {
            return Err(Error::InvalidInput(format!(
                "a ciphertext of scale 2^{:.1} leaves q_0/Δ = 2^{:.1} at level 0; bootstrapping \
                 needs at least 2^{:.1}",
                scale_in.log2(),
                (self.q0 / scale_in).log2(),
                min_ratio.log2()
            )));
        }
        let k = Self::scale_up_factor(self.q0, scale_in, &self.params);
        let ct0 = if k > 1 {
            backend.mul_const(&ct0, 1.0, k as f64)?
        } else {
            ct0
        };
        let mut raised = backend.mod_raise(&ct0)?;
        backend.set_scale(&mut raised, self.q0);
        let halves = self.coeffs_to_slots_raised(backend, raised)?;
        Ok((halves, scale_in * k as f64))
    }

    /// Sub-sum and CoeffToSlot of a top-level ciphertext labelled with scale q_0.
    fn coeffs_to_slots_raised<B: SlotBackend<Pt = P>>(
        &self,
        backend: &B,
        mut raised: B::Ct,
    ) -> Result<Vec<B::Ct>> {
        let gap = self.params.gap(self.log_n);
        let mut shift = self.params.slots() as i64;
        for _ in 0..gap.trailing_zeros() {
            let rotated = backend.rotate(&raised, shift)?;
            raised = backend.add(&raised, &rotated)?;
            shift *= 2;
        }
        let mut ct = raised;
        for t in &self.coeff_to_slot {
            ct = t.apply(backend, &ct)?;
        }
        let conj = backend.conjugate(&ct)?;
        if gap > 1 {
            Ok(vec![backend.add(&ct, &conj)?])
        } else {
            let re = backend.add(&ct, &conj)?;
            let im = backend.mul_i(&backend.sub(&conj, &ct)?)?;
            Ok(vec![re, im])
        }
    }

    /// CoeffToSlot then SlotToCoeff with EvalMod replaced by the identity (no ModRaise): the
    /// identity up to the transforms' error. `ct` must be at the top level and hold a message in
    /// the slot sub-ring (any ciphertext encoded with `2^log_slots` slots).
    pub fn linear_round_trip<B: SlotBackend<Pt = P>>(
        &self,
        backend: &B,
        ct: &B::Ct,
    ) -> Result<B::Ct> {
        if backend.level(ct) != backend.max_level() {
            return Err(Error::Level(format!(
                "the linear round trip starts at the top level {}, not {}",
                backend.max_level(),
                backend.level(ct)
            )));
        }
        let scale_in = backend.scale(ct);
        let k = Self::scale_up_factor(self.q0, scale_in, &self.params);
        let mut raised = backend.mul_const(ct, 1.0, k as f64)?;
        backend.set_scale(&mut raised, self.q0);
        let halves = self.coeffs_to_slots_raised(backend, raised)?;
        // EvalMod would take x/K at the EvalMod scale to x at its output scale: do the same with
        // one product by an integer and a rescale at the level EvalMod would end above.
        let stc_level = backend.level(&halves[0]) - self.mod1.depth()?;
        let mut aligned = Vec::with_capacity(halves.len());
        for h in &halves {
            let mut h = backend.drop_to_level(h, stc_level + 1)?;
            let label = backend.scale(&h);
            backend.set_scale(&mut h, label / self.params.mod1.k);
            let factor = self.mod1_out_scale * backend.prime(stc_level + 1) / backend.scale(&h);
            let mut h = backend.mul_const(&h, 1.0, factor)?;
            backend.set_scale(&mut h, self.mod1_out_scale * backend.prime(stc_level + 1));
            aligned.push(backend.rescale(&h)?);
        }
        let mut out = self.slots_to_coeffs(backend, &aligned)?;
        let label = backend.scale(&out);
        backend.set_scale(&mut out, label * scale_in * k as f64 / self.q0);
        Ok(out)
    }

    /// SlotToCoeff of the EvalMod outputs (recombining the two halves when the slots are full).
    pub fn slots_to_coeffs<B: SlotBackend<Pt = P>>(
        &self,
        backend: &B,
        halves: &[B::Ct],
    ) -> Result<B::Ct> {
        let mut ct = match halves {
            [one] => one.clone(),
            [re, im] => backend.add(re, &backend.mul_i(im)?)?,
            _ => {
                return Err(Error::InvalidInput(format!(
                    "SlotToCoeff takes one or two ciphertexts, not {}",
                    halves.len()
                )));
            }
        };
        for t in &self.slot_to_coeff {
            ct = t.apply(backend, &ct)?;
        }
        Ok(ct)
    }

    /// Refreshes `ct` (any level; its slots must be `2^log_slots`-periodic, which every
    /// ciphertext encoded with that many slots is): returns the same message at level
    /// [`Self::output_level`] with scale `Δ_in · k / k_default` (= `default_scale` for inputs at
    /// the default scale).
    pub fn bootstrap<B: SlotBackend<Pt = P>>(&self, backend: &B, ct: &B::Ct) -> Result<B::Ct> {
        self.bootstrap_with_phases(backend, ct, |_| {})
    }

    /// [`Self::bootstrap`], calling `on_phase` with the name of each phase as it ends
    /// (`"CoeffToSlot"` — which includes the scale-up, ModRaise and sub-sum —, `"EvalMod"`,
    /// `"SlotToCoeff"`): for profiling.
    pub fn bootstrap_with_phases<B: SlotBackend<Pt = P>>(
        &self,
        backend: &B,
        ct: &B::Ct,
        mut on_phase: impl FnMut(&'static str),
    ) -> Result<B::Ct> {
        let (halves, raised_scale) = self.coeffs_to_slots(backend, ct)?;
        on_phase("CoeffToSlot");
        let reduced: Vec<B::Ct> = halves
            .iter()
            .map(|h| eval_mod(backend, &self.mod1, h))
            .collect::<Result<_>>()?;
        on_phase("EvalMod");
        let mut out = self.slots_to_coeffs(backend, &reduced)?;
        // The slots hold m·Δk/q_0 at label q_0/k_default: relabel so that they hold m.
        let label = backend.scale(&out);
        backend.set_scale(&mut out, label * raised_scale / self.q0);
        on_phase("SlotToCoeff");
        Ok(out)
    }

    /// The scale outputs have for inputs at the default scale.
    pub fn default_scale(&self) -> f64 {
        self.default_scale
    }

    /// The factor from EvalMod's error (units of q_0) to the error on the message's
    /// coefficients: `q_0 / (Δ k)` for an input of scale `scale`.
    pub fn error_amplification(&self, scale: f64) -> f64 {
        let k = Self::scale_up_factor(self.q0, scale, &self.params) as f64;
        self.q0 / (scale * k)
    }

    /// The EvalMod polynomials.
    pub fn mod1(&self) -> &Mod1Poly {
        &self.mod1
    }
}
