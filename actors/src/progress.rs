//! Progress events of a deployment, for a host that draws progress bars or narrates what each
//! party does (`hetal demo`). The parties report through an optional [`ProgressSink`]; nothing
//! in an event is secret beyond what the reporting party already knows (the client's decrypted
//! validation figures are reported by the client itself).

use std::sync::Arc;
use std::time::Duration;

/// Which party reports an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The data owner.
    Client,
    /// The trainer.
    Trainer,
    /// The evaluator (or the trainer validating itself when there is none).
    Evaluator,
}

/// Whether a stage has just begun or just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The stage begins.
    Started,
    /// The stage ended after `elapsed`.
    Finished {
        /// Its wall time.
        elapsed: Duration,
    },
}

/// What validation sends to the client after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationKind {
    /// Encrypted logits (one DiagABT, no bootstrap): the client applies the softmax.
    Logits,
    /// Encrypted probabilities (HETAL's way: the encrypted softmax, with its bootstraps).
    Probabilities,
}

/// One step of progress.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// The client generates its keys (secret key, evaluation keys, bootstrapping keys); the
    /// host reports it around `CkksClient::generate_bootstrappable`, which it calls itself.
    KeyGen {
        /// Started or finished.
        phase: Phase,
    },
    /// The client encrypted `done` of `total` batches (training and validation).
    Encrypt {
        /// Batches encrypted so far.
        done: usize,
        /// Batches to encrypt.
        total: usize,
    },
    /// The client has sent `bytes` of `total` upload bytes (ciphertexts and public keys).
    Upload {
        /// Bytes sent so far.
        bytes: u64,
        /// Bytes to send.
        total: u64,
    },
    /// The trainer received and decoded the upload.
    JobStarted {
        /// Training mini-batches per epoch.
        steps_per_epoch: usize,
        /// The epoch bound.
        max_epochs: usize,
    },
    /// The trainer finished a training step.
    Step {
        /// 0-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// Steps per epoch.
        steps_per_epoch: usize,
        /// Ciphertexts bootstrapped in this step.
        bootstraps: usize,
        /// Wall time of the step.
        elapsed: Duration,
    },
    /// The trainer bootstrapped one more ciphertext during the current step or validation.
    Bootstrap {
        /// Bootstraps so far in the job.
        total: usize,
    },
    /// Validation of an epoch's weights begins or ends.
    Validation {
        /// 0-based epoch.
        epoch: usize,
        /// Who computes it.
        by: Party,
        /// What is sent to the client.
        kind: ValidationKind,
        /// Started or finished.
        phase: Phase,
    },
    /// The client decrypted an epoch's validation output and decided.
    Verdict {
        /// 0-based epoch.
        epoch: usize,
        /// Validation cross-entropy.
        val_loss: f64,
        /// Validation accuracy in [0, 1].
        val_accuracy: f64,
        /// Whether training stops.
        stop: bool,
        /// Whether these weights are the best so far.
        new_best: bool,
    },
    /// The trainer sent the encrypted best weights to the client.
    FinalModel {
        /// Epochs run.
        epochs: usize,
        /// Steps taken.
        steps: usize,
    },
}

/// Where a party reports its progress. Called from any thread, possibly from a blocking
/// computation: it must return quickly.
pub type ProgressSink = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

/// Reports `event` to `sink`, if there is one.
pub fn report(sink: &Option<ProgressSink>, event: ProgressEvent) {
    if let Some(sink) = sink {
        sink(event);
    }
}

/// A sink that stores every event (tests, reports).
pub fn recorder() -> (ProgressSink, Arc<std::sync::Mutex<Vec<ProgressEvent>>>) {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = Arc::clone(&events);
    let sink: ProgressSink = Arc::new(move |e| {
        if let Ok(mut v) = store.lock() {
            v.push(e);
        }
    });
    (sink, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorder_keeps_events_in_order_and_no_sink_is_a_no_op() {
        let (sink, events) = recorder();
        let sink = Some(sink);
        report(&sink, ProgressEvent::Encrypt { done: 1, total: 2 });
        report(&sink, ProgressEvent::Encrypt { done: 2, total: 2 });
        report(&None, ProgressEvent::Encrypt { done: 9, total: 9 });
        let got = events.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                ProgressEvent::Encrypt { done: 1, total: 2 },
                ProgressEvent::Encrypt { done: 2, total: 2 },
            ]
        );
    }
}
