//! Which rotation keys each party needs, so that every party receives only those: the trainer
//! every rotation of a training job (found by running the job's steps on the simulator in the
//! same level setting, which records the rotations it performs), a worker only those of its
//! matrix-multiplication units, the evaluator only those of its validation output.

use std::collections::BTreeSet;

use hetal_learn::eval::{SimConfig, Simulator, SlotEvaluator};
use hetal_learn::matmul::{AbtPlan, AtbForm, AtbPlan, Sharding};
use hetal_learn::pack::BlockMatrix;
use hetal_learn::train::{EncryptedBatch, EncryptedTrainer, TrainingClient};
use ndarray::Array2;

use crate::error::{ActorError, Result};
use crate::messages::{TrainingSetup, ValidationForm};

/// Which public keys a party receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    /// Everything the client generated, bootstrapping included (the trainer).
    Full,
    /// Relinearization and these rotations (steps, any sign), conjugation if asked; no
    /// bootstrapping keys (workers; the evaluator sending logits).
    Rotations {
        /// Rotation steps.
        steps: BTreeSet<isize>,
        /// Whether the conjugation key is included.
        conjugation: bool,
    },
}

/// Steps at most this many training steps are simulated to find every rotation (enough for
/// the state to be refreshed at least once).
const MAX_DISCOVERY_STEPS: usize = 8;

/// Every rotation a training job of `setup` performs, steps, refreshes and validation of both
/// forms included: `setup`'s steps run on a simulator with `config`'s levels (those of the CKKS
/// chain and its bootstrap) until the state has been refreshed, then validation.
pub fn training_rotations(setup: &TrainingSetup, config: SimConfig) -> Result<BTreeSet<isize>> {
    let sim = Simulator::new(SimConfig {
        bootstrap_max_abs: None,
        ..config
    })?;
    let (x, labels) = zero_data(setup);
    let client = TrainingClient::new(&sim, setup.unit, setup.classes, setup.dim, 1)?;
    let batch = setup.hyper.batch_size.min(x.nrows());
    let train = client.encrypt_training_set(x.view(), &labels, batch)?;
    let val = client.encrypt_features(x.view())?;
    let first = train
        .first()
        .ok_or_else(|| ActorError::Config("empty training batch".into()))?;
    sim.clear_rotation_steps();
    let mut trainer = EncryptedTrainer::new(
        &sim,
        setup.hyper,
        setup.variant,
        client.initial_weights()?,
        config.bootstrap_min_level,
    )?;
    for step in 1..=MAX_DISCOVERY_STEPS {
        trainer.step(first)?;
        if step >= 2 && trainer.totals().state_bootstraps > 0 {
            break;
        }
    }
    trainer.validation_output(ValidationForm::Logits, &val)?;
    trainer.validation_output(ValidationForm::Probabilities, &val)?;
    let mut steps: BTreeSet<isize> = sim
        .rotation_steps_used()
        .into_iter()
        .map(|s| s as isize)
        .collect();
    steps.extend(matmul_rotations(&sim, first, &client.initial_weights()?)?);
    Ok(steps)
}

/// The rotations of DiagABT `X̂·Wᵀ` and of DiagATB `(P − Y)ᵀ·X̂` in both forms, preparation
/// and units: what a worker needs, whatever the sharding.
pub fn matmul_rotations<E: SlotEvaluator>(
    ev: &E,
    batch: &EncryptedBatch<E::Ct>,
    weights: &BlockMatrix<E::Ct>,
) -> Result<BTreeSet<isize>> {
    let mut steps = abt_rotations(&batch.x, weights)?;
    if let Some(y) = &batch.y {
        for form in [AtbForm::Standard, AtbForm::PRotUp] {
            let plan = AtbPlan::new(ev, y, &batch.x, 1.0, form, Sharding::single())?;
            steps.extend(plan.rotation_steps());
        }
    }
    Ok(steps)
}

/// The rotations of DiagABT `X̂·Wᵀ` (validation logits).
pub fn abt_rotations<C>(x: &BlockMatrix<C>, weights: &BlockMatrix<C>) -> Result<BTreeSet<isize>> {
    Ok(AbtPlan::new(x, weights, 1.0, Sharding::single())?.rotation_steps())
}

/// A zero data set of one batch with every class present (the rotations do not depend on the
/// values).
fn zero_data(setup: &TrainingSetup) -> (Array2<f64>, Vec<usize>) {
    let rows = setup.hyper.batch_size.clamp(1, setup.unit.s0());
    let labels = (0..rows).map(|i| i % setup.classes).collect();
    (Array2::zeros((rows, setup.dim)), labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hetal_learn::pack::UnitShape;
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::Preset;

    #[test]
    fn the_workers_rotations_are_a_strict_subset_of_the_trainers() {
        let hyper = hetal_learn::train::HyperParams {
            batch_size: 16,
            ..Preset::FaceMask.hyper()
        };
        let setup = TrainingSetup {
            hyper,
            variant: SoftmaxVariant::HetalRs,
            unit: UnitShape::hetal(16, 3, 1 << 10).unwrap(),
            classes: 3,
            dim: 5,
            validation: ValidationForm::Logits,
        };
        let config = SimConfig {
            max_level: 12,
            bootstrap_level: 9,
            bootstrap_min_level: 1,
            ..SimConfig::with_slots(1 << 10)
        };
        let all = training_rotations(&setup, config).unwrap();
        let sim = Simulator::new(config).unwrap();
        let client = TrainingClient::new(&sim, setup.unit, 3, 5, 1).unwrap();
        let (x, labels) = zero_data(&setup);
        let batch = client.encrypt_training_set(x.view(), &labels, 16).unwrap();
        let w = client.initial_weights().unwrap();
        let worker = matmul_rotations(&sim, &batch[0], &w).unwrap();
        let abt = abt_rotations(&batch[0].x, &w).unwrap();
        assert!(abt.is_subset(&worker) && !abt.is_empty());
        assert!(worker.is_subset(&all), "{worker:?} ⊄ {all:?}");
        assert!(worker.len() < all.len(), "the softmax rotates more");
    }
}
