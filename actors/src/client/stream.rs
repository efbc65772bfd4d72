//! The client's streaming upload: the training set is encrypted one mini-batch at a time, each
//! batch written to the client's own batch file (named by the SHA-256 of its canonical bytes, as
//! the trainer names its own) and dropped, so the manifest's digests are known before anything
//! is sent while the client never holds more than one batch; the rounds then read each batch
//! the trainer lacks back from its file. A dropped connection still costs only the missing
//! batches, and the encrypted training set is never whole in the client's memory.

use std::time::Duration;

use hetal_runtime::Node;

use super::upload::{
    EncryptedUpload, JobBatches, UploadReport, job_messages, offer_material, send_upload,
    validation_message,
};
use crate::backend::{ClientBackend, ServerBackend};
use crate::deploy::{PlainData, batch_mismatch, encrypt_dataset_each};
use crate::error::Result;
use crate::messages::{BatchEntry, TrainingSetup, WireBatch};
use crate::progress::ProgressSink;
use crate::roster::Roster;
use crate::store::dataset::BatchFiles;
use crate::tap::Tap;

/// The training set encrypted into batch files, and the rest of the upload in memory.
#[derive(Debug)]
pub struct EncryptedToFiles<C> {
    /// The batches' entries (digest and size), in order; their files are in the given directory.
    pub entries: Vec<BatchEntry>,
    /// The validation blocks and the initial weights (no training batch).
    pub rest: EncryptedUpload<C>,
    /// Most bytes of training batches held at once while encrypting: a batch's ciphertexts and
    /// their encoding (canonical sizes).
    pub peak_batch_bytes_held: u64,
}

/// Encrypts `data` for `setup` as [`crate::deploy::encrypt_dataset`] does (the same batches,
/// in the same order), writing each training batch to `files` as soon as it is encrypted.
pub fn encrypt_to_files<K: ClientBackend>(
    backend: &K,
    setup: &TrainingSetup,
    data: PlainData<'_>,
    files: &BatchFiles,
    progress: Option<&ProgressSink>,
) -> Result<EncryptedToFiles<<K::Server as ServerBackend>::Ct>> {
    let rows = data.train_x.nrows();
    if rows == 0 {
        return Err(batch_mismatch(
            rows,
            data.train_y.len(),
            setup.hyper.batch_size,
        ));
    }
    let mut entries = Vec::with_capacity(rows.div_ceil(setup.hyper.batch_size.max(1)));
    let mut peak = 0u64;
    let rest = encrypt_dataset_each(backend, setup, data, progress, |encrypted| {
        for b in &encrypted {
            let wire = WireBatch::encode(backend.server(), b)?;
            let entry = files.write(&wire)?;
            // The encrypted batches of this chunk and this one's encoding are held together.
            peak = peak.max((encrypted.len() as u64 + 1) * entry.bytes);
            entries.push(entry);
        }
        Ok(())
    })?;
    Ok(EncryptedToFiles {
        entries,
        rest,
        peak_batch_bytes_held: peak,
    })
}

/// Encrypts `data` into the client's batch files in `files` ([`encrypt_to_files`]) and uploads
/// it ([`upload_files`]); the files stay (a later round or a new client process can send them
/// again).
#[allow(clippy::too_many_arguments)]
pub async fn upload_streamed<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: PlainData<'_>,
    files: BatchFiles,
    tap: Option<&Tap>,
    progress: Option<&ProgressSink>,
    patience: Duration,
) -> Result<UploadReport> {
    let encrypted = encrypt_to_files(backend, &setup, data, &files, progress)?;
    upload_files(
        node, roster, backend, setup, encrypted, files, tap, progress, patience,
    )
    .await
}

/// Uploads a training set encrypted into `files` (`encrypted`) resumably, as
/// [`super::upload_resumable`] does, reading one batch at a time back from its file. The
/// report's [`UploadReport::peak_batch_bytes_held`] covers the encryption and the sending.
#[allow(clippy::too_many_arguments)]
pub async fn upload_files<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    encrypted: EncryptedToFiles<<K::Server as ServerBackend>::Ct>,
    files: BatchFiles,
    tap: Option<&Tap>,
    progress: Option<&ProgressSink>,
    patience: Duration,
) -> Result<UploadReport> {
    let rest = &encrypted.rest;
    // Receivers of this process share the client's keys: only the ciphertexts travel to them.
    let held = offer_material(node, roster, backend, setup, rest).await?;
    let validation = validation_message(roster, backend, setup, rest, held.evaluator)?;
    let job = job_messages(
        roster,
        backend,
        setup,
        encrypted.entries.clone(),
        JobBatches::Files(files),
        rest,
        held.trainer,
    )?;
    let mut out = send_upload(node, roster, validation, &job, tap, progress, patience).await?;
    out.peak_batch_bytes_held = out
        .peak_batch_bytes_held
        .max(encrypted.peak_batch_bytes_held);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hetal_learn::eval::SimConfig;
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::{HyperParams, Preset};
    use ndarray::Array2;

    use super::*;
    use crate::backend::ServerOptions;
    use crate::backend::sim::SimClient;
    use crate::client::{StopPolicy, resumable_messages};
    use crate::deploy::{Deployment, Layout, Network, Taps, encrypt_dataset, hetal_unit};
    use crate::messages::ValidationForm;
    use crate::store::test_dir::TempDir;

    const SLOTS: usize = 1 << 10;
    const BATCH: usize = 16;
    const BATCHES: usize = 6;
    const CLASSES: usize = 3;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_upload_holds_one_batch_and_sends_the_same_job() {
        let rows = BATCH * BATCHES;
        let x = Array2::from_shape_fn((rows, 5), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 11.0);
        let y: Vec<usize> = (0..rows).map(|i| (i * 5 + i / 7) % CLASSES).collect();
        let val = Array2::from_shape_fn((20, 5), |(i, j)| ((i + 2 * j) % 5) as f64 / 5.0);
        let val_y: Vec<usize> = (0..20).map(|i| i % CLASSES).collect();
        let data = PlainData {
            train_x: x.view(),
            train_y: &y,
            val_x: val.view(),
        };
        let setup = TrainingSetup {
            hyper: HyperParams {
                batch_size: BATCH,
                max_epochs: 1,
                patience: 0,
                ..Preset::Digits.hyper()
            },
            variant: SoftmaxVariant::HetalRs,
            unit: hetal_unit(BATCH, CLASSES, SLOTS).unwrap(),
            classes: CLASSES,
            dim: 5,
            validation: ValidationForm::Logits,
        };
        let sim = SimConfig {
            bootstrap_max_abs: Some(1.0),
            ..SimConfig::with_slots(SLOTS)
        };
        let backend = Arc::new(SimClient::new(sim).unwrap());
        let deployment = Deployment::start(Layout {
            workers: 0,
            spare_workers: 0,
            evaluator: true,
            network: Network::InMemory,
        })
        .await
        .unwrap();
        let mut parties = deployment
            .start_parties(
                Arc::clone(&backend),
                val_y,
                StopPolicy {
                    patience: 0,
                    budget: None,
                },
                ServerOptions::default(),
                &Taps::default(),
            )
            .unwrap();
        // The job as the in-memory upload would announce it (the simulator encrypts
        // deterministically): streaming must send that very job.
        let whole = encrypt_dataset(&*backend, &setup, data).unwrap();
        let expected = resumable_messages(&deployment.roster, &*backend, setup, &whole, None)
            .unwrap()
            .manifest;
        drop(whole);

        let dir = TempDir::new("client-stream");
        let files = BatchFiles::open(&dir.0).unwrap();
        let report = upload_streamed(
            &deployment.client,
            &deployment.roster,
            &*backend,
            setup,
            data,
            files.clone(),
            None,
            None,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(report.batches, BATCHES);
        assert_eq!(report.sent_per_round.iter().sum::<usize>(), BATCHES);
        let largest = expected.batches.iter().map(|e| e.bytes).max().unwrap();
        let all: u64 = expected.batches.iter().map(|e| e.bytes).sum();
        // One encrypted batch and its encoding at a time, far below the whole training set.
        assert!(
            report.peak_batch_bytes_held <= 2 * largest,
            "{report:?}, batches of {largest} bytes"
        );
        assert!(report.peak_batch_bytes_held * 3 <= all, "{report:?}");
        // The client's files are the in-memory upload's batches, byte for byte (named by
        // content), so the streamed manifest announces the same job.
        for entry in &expected.batches {
            assert!(files.holds(entry).unwrap(), "batch file {}", entry.digest);
        }
        let out = parties
            .finish(Duration::from_secs(60), |_| {})
            .await
            .unwrap();
        assert_eq!(out.steps, BATCHES);
        deployment.shutdown().await;
    }
}
