//! An encrypted training run in one process: the message flow between the server
//! ([`EncryptedTrainer`]) and the client ([`TrainingClient`]) that the actors carry over the
//! network — epochs of encrypted steps, encrypted validation probabilities to the client, the
//! client's verdict back, until it says stop.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::client::{EncryptedBatch, TrainingClient, Verdict};
use super::early_stop::Decision;
use super::server::{EncryptedTrainer, StepReport};
use crate::Result;
use crate::eval::SlotCodec;

/// What an encrypted run did.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedRun {
    /// The client's verdict after each epoch.
    pub verdicts: Vec<Verdict>,
    /// Every step's report, in order.
    pub steps: Vec<StepReport>,
}

/// Trains until the client stops or `max_epochs` (the hyper-parameters' bound) is reached.
/// Batch order is shuffled per epoch with `shuffle_seed`, as in the reference trainer.
pub fn run_encrypted_training<K: SlotCodec>(
    server: &mut EncryptedTrainer<'_, K>,
    client: &mut TrainingClient<'_, K>,
    train: &[EncryptedBatch<K::Ct>],
    val: &[EncryptedBatch<K::Ct>],
    val_labels: &[usize],
    max_epochs: usize,
    shuffle_seed: Option<u64>,
) -> Result<EncryptedRun> {
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = shuffle_seed.map(ChaCha8Rng::seed_from_u64);
    let mut run = EncryptedRun {
        verdicts: Vec::new(),
        steps: Vec::new(),
    };
    for _ in 0..max_epochs {
        if let Some(rng) = rng.as_mut() {
            order.shuffle(rng);
        }
        for &b in &order {
            run.steps.push(server.step(&train[b])?);
        }
        let probs = server.validation_probabilities(val)?;
        let verdict = client.review_epoch(&probs, val_labels)?;
        server.apply_verdict(&verdict);
        run.verdicts.push(verdict);
        if verdict.decision == Decision::Stop {
            break;
        }
    }
    Ok(run)
}
