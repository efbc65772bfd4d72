//! Operation and bootstrap counts of training steps at a given shape, on the simulator: what
//! `hetal bench step` reports beside its CKKS timings (the counts are backend-independent).

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::client::TrainingClient;
use super::hyper::{HyperParams, Optimizer};
use super::server::EncryptedTrainer;
use crate::eval::{OpCounts, SimConfig, Simulator, SlotEvaluator};
use crate::pack::UnitShape;
use crate::softmax::SoftmaxVariant;
use crate::{Error, Result};

/// Averages over a run of steps at one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCounts {
    /// Rows per mini-batch.
    pub batch: usize,
    /// Features (without the bias column).
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Unit shape `(s0, s1)`.
    pub unit: (usize, usize),
    /// Ciphertexts per copy of the weights (`⌈(d+1)/s1⌉`).
    pub state_blocks: usize,
    /// Steps averaged over.
    pub steps: usize,
    /// Operations of all steps together.
    pub ops: OpCounts,
    /// Bootstraps per step inside the softmax.
    pub softmax_bootstraps_per_step: f64,
    /// Residual bootstraps per step.
    pub residual_bootstraps_per_step: f64,
    /// State ciphertexts bootstrapped per step (pairs `W + i·V`, amortised).
    pub state_bootstraps_per_step: f64,
}

/// Runs `steps` Nesterov steps on random data of the given shape (HETAL's setting: 2^15 slots,
/// levels 12/3) and averages the counts.
pub fn step_counts(
    batch: usize,
    features: usize,
    classes: usize,
    variant: SoftmaxVariant,
    steps: usize,
) -> Result<StepCounts> {
    step_counts_with_window(batch, features, classes, variant, steps, 9)
}

/// [`step_counts`] with `window` levels between bootstraps (bootstrap from level 3 to
/// `3 + window`, fresh data at `max(12, 3 + window)`): HETAL's setting is 9.
pub fn step_counts_with_window(
    batch: usize,
    features: usize,
    classes: usize,
    variant: SoftmaxVariant,
    steps: usize,
    window: usize,
) -> Result<StepCounts> {
    if steps == 0 || batch == 0 || features == 0 {
        return Err(Error::InvalidInput(
            "steps, batch and features must be positive".into(),
        ));
    }
    let slots = 1 << 15;
    let base = SimConfig::with_slots(slots);
    let bootstrap_level = base.bootstrap_min_level + window;
    let sim = Simulator::new(SimConfig {
        bootstrap_max_abs: Some(1.0),
        bootstrap_level,
        max_level: base.max_level.max(bootstrap_level),
        ..base
    })?;
    let unit = UnitShape::hetal(batch, classes, slots)?;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = Array2::from_shape_fn((batch, features), |_| rng.gen_range(-0.1..0.1));
    let labels: Vec<usize> = (0..batch).map(|_| rng.gen_range(0..classes)).collect();
    let client = TrainingClient::new(&sim, unit, classes, features, 3)?;
    let data = client.encrypt_training_set(x.view(), &labels, batch)?;
    let hyper = HyperParams {
        learning_rate: 1.0,
        batch_size: batch,
        max_epochs: 1,
        patience: 3,
        optimizer: Optimizer::Nesterov,
        shuffle_seed: None,
    };
    let w0 = client.initial_weights()?;
    let state_blocks = w0.blocks().len();
    let mut server =
        EncryptedTrainer::new(&sim, hyper, variant, w0, sim.config().bootstrap_min_level)?;
    sim.counter().reset();
    let (mut soft, mut res, mut state) = (0, 0, 0);
    for _ in 0..steps {
        let r = server.step(&data[0])?;
        soft += r.softmax_bootstraps;
        res += r.residual_bootstraps;
        state += r.state_bootstraps;
    }
    let per = |n: usize| n as f64 / steps as f64;
    Ok(StepCounts {
        batch,
        features,
        classes,
        unit: (unit.s0(), unit.s1()),
        state_blocks,
        steps,
        ops: sim.counts(),
        softmax_bootstraps_per_step: per(soft),
        residual_bootstraps_per_step: per(res),
        state_bootstraps_per_step: per(state),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_at_a_small_shape_are_consistent() {
        let c = step_counts(64, 40, 3, SoftmaxVariant::HetalRs, 4).unwrap();
        assert_eq!(c.unit, (64, 512));
        assert_eq!(c.state_blocks, 1);
        assert_eq!(
            c.ops.bootstrap as f64,
            4.0 * (c.softmax_bootstraps_per_step
                + c.residual_bootstraps_per_step
                + c.state_bootstraps_per_step)
        );
        assert!(c.softmax_bootstraps_per_step >= 3.0);
        assert!(step_counts(0, 40, 3, SoftmaxVariant::Hetal, 1).is_err());
    }
}
