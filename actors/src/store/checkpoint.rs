//! Checkpoint files of a training job: written atomically every N steps (and after every
//! verdict), the last few kept, the newest loaded on restart. The format and its checks are
//! `hetal_learn::train::checkpoint`'s; this module adds the files, the interval, and the bridge
//! from a [`ServerBackend`] to the format's ciphertext codec.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use hetal_learn::train::checkpoint::{
    CheckpointCodec, CheckpointSummary, Digest32, RunConfig, TrainingCheckpoint, decode_checkpoint,
    encode_checkpoint, inspect_checkpoint,
};
use sha2::{Digest, Sha256};

use super::dataset::BatchFiles;
use super::{StoreError, StoreResult, io_error, prepare_dir, read_bounded, write_atomic};
use crate::backend::{KeyScope, MaterialBody, ServerBackend, blob};
use crate::messages::{BatchBody, BatchEntry, UploadManifest, UploadTrainingBody};

/// File name prefix and extension of checkpoint files: `checkpoint-<steps, 20 digits>.hckp`.
const PREFIX: &str = "checkpoint-";
const EXTENSION: &str = ".hckp";

/// Where and how often a trainer checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Directory of the job's checkpoint files (created owner-only if missing).
    pub dir: PathBuf,
    /// Write a checkpoint after every `every_steps` steps (and after every verdict).
    pub every_steps: u64,
    /// How many checkpoint files to keep (the newest; at least 1).
    pub keep: usize,
    /// Largest checkpoint file read back (bounded before allocating).
    pub max_file_bytes: u64,
    /// Continue from the newest checkpoint in `dir` when a job starts.
    pub resume: bool,
}

impl CheckpointConfig {
    /// Every step, the newest two kept, files up to 4 GiB, resuming.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            every_steps: 1,
            keep: 2,
            max_file_bytes: 4 << 30,
            resume: true,
        }
    }

    fn validate(&self) -> StoreResult<()> {
        if self.every_steps == 0 || self.keep == 0 || self.max_file_bytes == 0 {
            return Err(StoreError::Config(format!(
                "checkpoint interval {} steps, keep {}, max {} bytes: all must be at least 1",
                self.every_steps, self.keep, self.max_file_bytes
            )));
        }
        Ok(())
    }
}

/// The checkpoint files of one job.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    config: CheckpointConfig,
}

/// A checkpoint read back, with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCheckpoint<C> {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub checkpoint: TrainingCheckpoint<C>,
}

fn steps_of(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?
        .strip_suffix(EXTENSION)?
        .parse()
        .ok()
}

impl CheckpointStore {
    /// Opens (creating) the directory and removes temporary files a crash left there.
    pub fn open(config: CheckpointConfig) -> StoreResult<Self> {
        config.validate()?;
        prepare_dir(&config.dir)?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &CheckpointConfig {
        &self.config
    }

    /// Whether a checkpoint is due after `steps` steps in all.
    pub fn due(&self, steps: u64) -> bool {
        steps > 0 && steps.is_multiple_of(self.config.every_steps)
    }

    fn path_for(&self, steps: u64) -> PathBuf {
        self.config
            .dir
            .join(format!("{PREFIX}{steps:020}{EXTENSION}"))
    }

    /// Checkpoint files, newest (most steps) first.
    pub fn files(&self) -> StoreResult<Vec<(u64, PathBuf)>> {
        let dir = &self.config.dir;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            if let Some(steps) = entry.file_name().to_str().and_then(steps_of) {
                files.push((steps, entry.path()));
            }
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(files)
    }

    /// Writes `checkpoint` atomically (replacing one of the same step count, e.g. the step's
    /// own checkpoint by the one taken after the epoch's verdict), then keeps only the newest
    /// [`CheckpointConfig::keep`] files.
    pub fn save<K: CheckpointCodec>(
        &self,
        checkpoint: &TrainingCheckpoint<K::Ct>,
        codec: &K,
    ) -> StoreResult<PathBuf> {
        let path = self.path_for(checkpoint.steps);
        let bytes =
            encode_checkpoint(checkpoint, codec).map_err(|source| StoreError::Checkpoint {
                path: path.clone(),
                source,
            })?;
        write_atomic(&path, &bytes)?;
        for (_, old) in self.files()?.into_iter().skip(self.config.keep) {
            fs::remove_file(&old).map_err(io_error(&old))?;
        }
        Ok(path)
    }

    /// The newest checkpoint of the run whose configuration hash is `config`, or `None` when
    /// the directory holds none. The newest file is refused (with its path and the reason)
    /// rather than silently skipped when it is corrupt or foreign: an older checkpoint would
    /// redo work the operator may not expect, so that choice is theirs (delete the file).
    pub fn load_latest<K: CheckpointCodec>(
        &self,
        codec: &K,
        config: &Digest32,
    ) -> StoreResult<Option<LoadedCheckpoint<K::Ct>>> {
        let Some((_, path)) = self.files()?.into_iter().next() else {
            return Ok(None);
        };
        let checkpoint = self.load(&path, codec, config)?;
        Ok(Some(LoadedCheckpoint { path, checkpoint }))
    }

    /// The newest checkpoint's envelope and run checked without decoding a ciphertext (see
    /// [`inspect_checkpoint`]); `None` when the directory holds none. For a host that refuses
    /// a damaged or foreign checkpoint before starting the run.
    pub fn inspect_latest(
        &self,
        config: &Digest32,
    ) -> StoreResult<Option<(PathBuf, CheckpointSummary)>> {
        let Some((_, path)) = self.files()?.into_iter().next() else {
            return Ok(None);
        };
        let bytes = read_bounded(&path, self.config.max_file_bytes)?;
        let summary =
            inspect_checkpoint(&bytes, config).map_err(|source| StoreError::Checkpoint {
                path: path.clone(),
                source,
            })?;
        Ok(Some((path, summary)))
    }

    /// Reads and checks one checkpoint file.
    pub fn load<K: CheckpointCodec>(
        &self,
        path: &Path,
        codec: &K,
        config: &Digest32,
    ) -> StoreResult<TrainingCheckpoint<K::Ct>> {
        let bytes = read_bounded(path, self.config.max_file_bytes)?;
        decode_checkpoint(&bytes, codec, config).map_err(|source| StoreError::Checkpoint {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A [`ServerBackend`]'s ciphertext serialization as the checkpoint format's codec, tagged with
/// the fingerprint of the material the backend was built from.
#[derive(Debug)]
pub struct BackendCodec<'a, B: ServerBackend> {
    backend: &'a B,
    fingerprint: Digest32,
}

impl<'a, B: ServerBackend> BackendCodec<'a, B> {
    /// The codec of `backend`, built from `material` (blob indices into `blobs`).
    pub fn new(backend: &'a B, material: &MaterialBody, blobs: &[Bytes]) -> StoreResult<Self> {
        Ok(Self {
            backend,
            fingerprint: material_fingerprint(material, blobs)?,
        })
    }
}

impl<B: ServerBackend> CheckpointCodec for BackendCodec<'_, B> {
    type Ct = B::Ct;

    fn fingerprint(&self) -> Digest32 {
        self.fingerprint
    }

    fn encode(&self, ct: &B::Ct) -> hetal_learn::Result<Vec<u8>> {
        self.backend
            .encode_ct(ct)
            .map(|b| b.to_vec())
            .map_err(|e| hetal_learn::Error::Backend(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> hetal_learn::Result<B::Ct> {
        self.backend
            .decode_ct(bytes)
            .map_err(|e| hetal_learn::Error::Backend(e.to_string()))
    }
}

fn hash_blob(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// SHA-256 of the public material (simulator configuration, or the CKKS parameter spec and
/// evaluation keys): ciphertexts checkpointed under one material are refused under another.
pub fn material_fingerprint(material: &MaterialBody, blobs: &[Bytes]) -> StoreResult<Digest32> {
    let mut h = Sha256::new();
    match material {
        MaterialBody::Simulator(c) => {
            h.update(b"hetal-material/sim/1");
            for word in [
                c.slots as u64,
                c.max_level as u64,
                c.bootstrap_level as u64,
                c.bootstrap_min_level as u64,
                c.bootstrap_max_abs.map_or(u64::MAX, f64::to_bits),
                c.scale.to_bits(),
            ] {
                h.update(word.to_le_bytes());
            }
        }
        MaterialBody::Ckks {
            spec, eval_keys, ..
        } => {
            h.update(b"hetal-material/ckks/1");
            for index in [*spec, *eval_keys] {
                let bytes = blob(blobs, index).map_err(|e| StoreError::Codec(e.to_string()))?;
                hash_blob(&mut h, bytes);
            }
        }
        // Shared by reference within one process: its content digest stands for the keys.
        MaterialBody::Held(digest) => {
            h.update(b"hetal-material/held/1");
            h.update(digest.0);
        }
    }
    Ok(h.finalize().into())
}

/// The fingerprint of the material `backend` was built from, by content: for key material the
/// backend's own digest of its keys ([`crate::backend::MaterialDigest`], the same whether the
/// keys arrived in full or by reference within one process), otherwise (the simulator, whose
/// material is its configuration) [`material_fingerprint`]. Checkpoints of one job therefore
/// resume in a process that received the keys another way.
pub fn content_fingerprint<B: ServerBackend>(
    backend: &std::sync::Arc<B>,
    material: &MaterialBody,
    blobs: &[Bytes],
) -> StoreResult<Digest32> {
    // A sharing backend's offer carries the content digest of everything it holds.
    let offer = B::offer(backend, &KeyScope::Full).map_err(|e| StoreError::Codec(e.to_string()))?;
    match offer {
        Some(offer) => {
            let mut h = Sha256::new();
            h.update(b"hetal-material/content/1");
            h.update(offer.digest.0);
            Ok(h.finalize().into())
        }
        None => material_fingerprint(material, blobs),
    }
}

/// SHA-256 of the uploaded training batches (row counts and every ciphertext's bytes, in
/// order): a checkpoint resumes only the dataset it was trained on.
pub fn dataset_digest(batches: &[BatchBody], blobs: &[Bytes]) -> StoreResult<Digest32> {
    let mut h = Sha256::new();
    h.update(b"hetal-dataset/1");
    h.update((batches.len() as u64).to_le_bytes());
    for b in batches {
        h.update(b.rows.to_le_bytes());
        let y = b.y.iter().flat_map(|y| y.blocks());
        for &index in b.x.blocks().iter().chain(y) {
            let bytes = blob(blobs, index).map_err(|e| StoreError::Codec(e.to_string()))?;
            hash_blob(&mut h, bytes);
        }
    }
    Ok(h.finalize().into())
}

/// [`dataset_digest`] of a job whose training batches are the batch files of `entries` (a job
/// saved on disk), read one at a time so the dataset is never whole in memory.
pub fn dataset_digest_of_files(
    files: &BatchFiles,
    entries: &[BatchEntry],
) -> StoreResult<Digest32> {
    let mut h = Sha256::new();
    h.update(b"hetal-dataset/1");
    h.update((entries.len() as u64).to_le_bytes());
    for entry in entries {
        let wire = files.read(entry)?;
        h.update(wire.body.rows.to_le_bytes());
        let y = wire.body.y.iter().flat_map(|y| y.blocks());
        for &index in wire.body.x.blocks().iter().chain(y) {
            let bytes = blob(&wire.blobs, index).map_err(|e| StoreError::Codec(e.to_string()))?;
            hash_blob(&mut h, bytes);
        }
    }
    Ok(h.finalize().into())
}

/// [`run_config`] of the job of `manifest` whose batches are in `files` (a job the trainer saved
/// beside its checkpoints), trained with weights divided by `weight_scale`.
pub fn saved_run_config(
    manifest: &UploadManifest,
    files: &BatchFiles,
    weight_scale: f64,
) -> StoreResult<RunConfig> {
    let setup = &manifest.setup;
    Ok(RunConfig {
        hyper: setup.hyper,
        variant: setup.variant,
        unit: setup.unit,
        classes: setup.classes,
        dim: setup.dim,
        train_batches: manifest.batches.len(),
        weight_scale,
        dataset: dataset_digest_of_files(files, &manifest.batches)?,
    })
}

/// The identity of the job uploaded in `body` (with `blobs`), trained with weights divided by
/// `weight_scale` (the trainer's is `hetal_learn::train::server::DEFAULT_WEIGHT_SCALE`).
pub fn run_config(
    body: &UploadTrainingBody,
    blobs: &[Bytes],
    weight_scale: f64,
) -> StoreResult<RunConfig> {
    let setup = &body.setup;
    Ok(RunConfig {
        hyper: setup.hyper,
        variant: setup.variant,
        unit: setup.unit,
        classes: setup.classes,
        dim: setup.dim,
        train_batches: body.train.len(),
        weight_scale,
        dataset: dataset_digest(&body.train, blobs)?,
    })
}

/// A training job's checkpoints: the store, the codec of its backend and the hash of its
/// configuration, built from the upload. The trainer asks [`JobCheckpoints::resume`] once at
/// the start, and calls [`JobCheckpoints::after_step`] after every step and
/// [`JobCheckpoints::after_verdict`] after every verdict.
#[derive(Debug)]
pub struct JobCheckpoints<'a, B: ServerBackend> {
    store: CheckpointStore,
    codec: BackendCodec<'a, B>,
    run: RunConfig,
}

impl<'a, B: ServerBackend> JobCheckpoints<'a, B> {
    /// Opens the checkpoint directory of the job uploaded in `body` (with `blobs`), trained on
    /// `backend` with weights divided by `weight_scale`.
    pub fn open(
        config: &CheckpointConfig,
        backend: &'a B,
        body: &UploadTrainingBody,
        blobs: &[Bytes],
        weight_scale: f64,
    ) -> StoreResult<Self> {
        let run = run_config(body, blobs, weight_scale)?;
        Ok(Self {
            store: CheckpointStore::open(config.clone())?,
            codec: BackendCodec::new(backend, &body.material, blobs)?,
            run,
        })
    }

    /// The same from parts, for a caller that hashed the upload ([`material_fingerprint`],
    /// [`dataset_digest`]) before giving its body away.
    pub fn from_parts(
        config: &CheckpointConfig,
        backend: &'a B,
        run: RunConfig,
        material: Digest32,
    ) -> StoreResult<Self> {
        Ok(Self {
            store: CheckpointStore::open(config.clone())?,
            codec: BackendCodec {
                backend,
                fingerprint: material,
            },
            run,
        })
    }

    /// The run's identity (its hash is in every checkpoint).
    pub fn run_config(&self) -> &RunConfig {
        &self.run
    }

    /// The newest checkpoint of this run when resuming is on and one exists; a corrupt or
    /// foreign newest file is an error (see [`CheckpointStore::load_latest`]).
    pub fn resume(&self) -> StoreResult<Option<LoadedCheckpoint<B::Ct>>> {
        if !self.store.config().resume {
            return Ok(None);
        }
        self.store.load_latest(&self.codec, &self.run.hash())
    }

    /// Writes the checkpoint `make` builds when one is due after `steps` steps.
    pub fn after_step(
        &self,
        steps: u64,
        make: impl FnOnce(Digest32) -> TrainingCheckpoint<B::Ct>,
    ) -> StoreResult<Option<PathBuf>> {
        if !self.store.due(steps) {
            return Ok(None);
        }
        self.store
            .save(&make(self.run.hash()), &self.codec)
            .map(Some)
    }

    /// Writes the checkpoint taken after a verdict (always: it holds the client's decision).
    pub fn after_verdict(
        &self,
        make: impl FnOnce(Digest32) -> TrainingCheckpoint<B::Ct>,
    ) -> StoreResult<PathBuf> {
        self.store.save(&make(self.run.hash()), &self.codec)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TempDir;
    use super::*;
    use crate::backend::sim::SimServer;
    use hetal_learn::eval::{SimConfig, SimCt, Simulator};
    use hetal_learn::pack::UnitShape;
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::checkpoint::{CheckpointError, RunConfig};
    use hetal_learn::train::{
        EncryptedBatch, EncryptedTrainer, HyperParams, NesterovSchedule, Preset, TrainingClient,
    };
    use ndarray::Array2;

    const SLOTS: usize = 1 << 10;

    struct Fixture {
        server: SimServer,
        sim: Simulator,
        unit: UnitShape,
        train: Vec<EncryptedBatch<SimCt>>,
        config: RunConfig,
    }

    fn fixture() -> Fixture {
        let sim_config = SimConfig::with_slots(SLOTS);
        let sim = Simulator::new(sim_config).unwrap();
        let unit = UnitShape::hetal(8, 3, SLOTS).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((24, 4), |(i, j)| ((i * 3 + j * 7) % 11) as f64 / 11.0);
        let labels: Vec<usize> = (0..24).map(|i| (i * 5 + i / 3) % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        let hyper = HyperParams {
            batch_size: 8,
            ..Preset::FaceMask.hyper()
        };
        let config = RunConfig {
            hyper,
            variant: SoftmaxVariant::HetalRs,
            unit,
            classes: 3,
            dim: 4,
            train_batches: train.len(),
            weight_scale: hetal_learn::train::server::DEFAULT_WEIGHT_SCALE,
            dataset: [1; 32],
        };
        Fixture {
            server: SimServer::new(sim_config).unwrap(),
            sim,
            unit,
            train,
            config,
        }
    }

    fn checkpoint_after(f: &Fixture, steps: usize) -> TrainingCheckpoint<SimCt> {
        let client = TrainingClient::new(&f.sim, f.unit, 3, 4, 3).unwrap();
        let mut t = EncryptedTrainer::new(
            &f.sim,
            f.config.hyper,
            f.config.variant,
            client.initial_weights().unwrap(),
            3,
        )
        .unwrap();
        let mut schedule = NesterovSchedule::new();
        for s in 0..steps {
            t.step(&f.train[s % f.train.len()]).unwrap();
            schedule.advance();
        }
        TrainingCheckpoint {
            config: f.config.hash(),
            epoch: (steps / f.train.len()) as u64,
            epoch_step: (steps % f.train.len()) as u64,
            steps: steps as u64,
            bootstraps: t.totals().bootstraps() as u64,
            verdicts: Vec::new(),
            w: t.weights().clone(),
            v: t.weights().clone(),
            best: t.best_weights().clone(),
            schedule,
        }
    }

    fn codec(f: &Fixture) -> BackendCodec<'_, SimServer> {
        BackendCodec::new(&f.server, &MaterialBody::Simulator(*f.server.config()), &[]).unwrap()
    }

    #[test]
    fn checkpoints_are_written_every_n_steps_pruned_and_the_newest_loads() {
        let f = fixture();
        let dir = TempDir::new("ckpt");
        let mut config = CheckpointConfig::new(&dir.0);
        config.every_steps = 2;
        let store = CheckpointStore::open(config).unwrap();
        let codec = codec(&f);
        assert_eq!(store.load_latest(&codec, &f.config.hash()).unwrap(), None);
        let mut written = Vec::new();
        for steps in 1..=5u64 {
            if store.due(steps) {
                store
                    .save(&checkpoint_after(&f, steps as usize), &codec)
                    .unwrap();
                written.push(steps);
            }
        }
        assert_eq!(written, vec![2, 4]);
        let last = checkpoint_after(&f, 5);
        store.save(&last, &codec).unwrap();
        // Only the newest two files remain; the newest loads whole.
        let kept: Vec<u64> = store.files().unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(kept, vec![5, 4]);
        let loaded = store
            .load_latest(&codec, &f.config.hash())
            .unwrap()
            .unwrap();
        assert_eq!(loaded.checkpoint, last);
        assert!(
            loaded
                .path
                .ends_with("checkpoint-00000000000000000005.hckp")
        );
    }

    #[test]
    fn a_corrupt_or_foreign_newest_checkpoint_is_refused_with_its_path() {
        let f = fixture();
        let dir = TempDir::new("ckpt-bad");
        let store = CheckpointStore::open(CheckpointConfig::new(&dir.0)).unwrap();
        let codec = codec(&f);
        store.save(&checkpoint_after(&f, 1), &codec).unwrap();
        let newest = store.save(&checkpoint_after(&f, 2), &codec).unwrap();

        // Another configuration (here: another dataset) is refused.
        let mut other = f.config;
        other.dataset = [2; 32];
        match store.load_latest(&codec, &other.hash()) {
            Err(StoreError::Checkpoint {
                path,
                source: CheckpointError::ForeignConfig { .. },
            }) => assert_eq!(path, newest),
            other => panic!("expected ForeignConfig, got {other:?}"),
        }
        // Another simulator configuration: other parameters.
        let mut sim_config = *f.server.config();
        sim_config.max_level += 1;
        let foreign_server = SimServer::new(sim_config).unwrap();
        let foreign =
            BackendCodec::new(&foreign_server, &MaterialBody::Simulator(sim_config), &[]).unwrap();
        assert!(matches!(
            store.load_latest(&foreign, &f.config.hash()),
            Err(StoreError::Checkpoint {
                source: CheckpointError::ForeignParameters { .. },
                ..
            })
        ));
        // A flipped byte on disk, then a torn (truncated) file.
        let mut bytes = fs::read(&newest).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        fs::write(&newest, &bytes).unwrap();
        assert!(matches!(
            store.load_latest(&codec, &f.config.hash()),
            Err(StoreError::Checkpoint {
                source: CheckpointError::Corrupt,
                ..
            })
        ));
        fs::write(&newest, &bytes[..mid]).unwrap();
        assert!(matches!(
            store.load_latest(&codec, &f.config.hash()),
            Err(StoreError::Checkpoint {
                source: CheckpointError::Truncated { .. },
                ..
            })
        ));
        // A file over the size limit is refused before it is read.
        let mut small = CheckpointConfig::new(&dir.0);
        small.max_file_bytes = 64;
        let small = CheckpointStore::open(small).unwrap();
        let older = small.files().unwrap()[1].1.clone();
        assert!(matches!(
            small.load(&older, &codec, &f.config.hash()),
            Err(StoreError::TooLarge { .. })
        ));
        // Once the operator removes the bad file, the older checkpoint loads.
        fs::remove_file(&newest).unwrap();
        let loaded = store
            .load_latest(&codec, &f.config.hash())
            .unwrap()
            .unwrap();
        assert_eq!(loaded.checkpoint, checkpoint_after(&f, 1));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let dir = TempDir::new("ckpt-config");
        let mut config = CheckpointConfig::new(&dir.0);
        config.every_steps = 0;
        assert!(matches!(
            CheckpointStore::open(config),
            Err(StoreError::Config(_))
        ));
    }

    #[test]
    fn the_dataset_digest_sees_every_ciphertext_byte() {
        let f = fixture();
        let mut sink = crate::messages::BlobSink::default();
        let bodies: Vec<BatchBody> = f
            .train
            .iter()
            .map(|b| crate::messages::encode_batch(&f.server, b, &mut sink).unwrap())
            .collect();
        let envelope = sink.seal(());
        let blobs = envelope.blobs.clone();
        let base = dataset_digest(&bodies, &blobs).unwrap();
        assert_eq!(base, dataset_digest(&bodies, &blobs).unwrap());
        let mut changed = blobs.clone();
        let mut last = changed.last().unwrap().to_vec();
        last[20] ^= 1;
        *changed.last_mut().unwrap() = Bytes::from(last);
        assert_ne!(base, dataset_digest(&bodies, &changed).unwrap());
        assert_ne!(base, dataset_digest(&bodies[..2], &blobs).unwrap());
    }

    #[test]
    fn a_job_resumes_only_its_own_upload() {
        use crate::messages::{TrainingSetup, UploadTrainingBody, encode_batch, encode_matrix};
        use hetal_learn::train::client::ValidationForm;
        let f = fixture();
        let upload = |train: &[EncryptedBatch<SimCt>]| {
            let mut sink = crate::messages::BlobSink::default();
            let bodies: Vec<BatchBody> = train
                .iter()
                .map(|b| encode_batch(&f.server, b, &mut sink).unwrap())
                .collect();
            let initial = checkpoint_after(&f, 0).w;
            let body = UploadTrainingBody {
                setup: TrainingSetup {
                    hyper: f.config.hyper,
                    variant: f.config.variant,
                    unit: f.unit,
                    classes: 3,
                    dim: 4,
                    validation: ValidationForm::default(),
                },
                material: MaterialBody::Simulator(*f.server.config()),
                train: bodies,
                initial_weights: encode_matrix(&f.server, &initial, &mut sink).unwrap(),
                validation: None,
            };
            sink.seal(body)
        };
        let dir = TempDir::new("job");
        let mut config = CheckpointConfig::new(&dir.0);
        config.every_steps = 2;
        let msg = upload(&f.train);
        let scale = f.config.weight_scale;
        let job = JobCheckpoints::open(&config, &f.server, &msg.body, &msg.blobs, scale).unwrap();
        assert_eq!(job.resume().unwrap(), None);
        let mut written = Vec::new();
        for steps in 1..=3u64 {
            let made = job
                .after_step(steps, |hash| TrainingCheckpoint {
                    config: hash,
                    ..checkpoint_after(&f, steps as usize)
                })
                .unwrap();
            written.push(made.is_some());
        }
        assert_eq!(written, vec![false, true, false]);
        let resumed = job.resume().unwrap().unwrap().checkpoint;
        assert_eq!(resumed.steps, 2);
        assert_eq!(resumed.config, job.run_config().hash());
        let material = material_fingerprint(&msg.body.material, &msg.blobs).unwrap();
        let parts =
            JobCheckpoints::from_parts(&config, &f.server, *job.run_config(), material).unwrap();
        assert_eq!(parts.resume().unwrap().unwrap().checkpoint, resumed);

        // The same directory with another dataset (the batches in another order) refuses.
        let reordered: Vec<_> = f.train.iter().rev().cloned().collect();
        let other = upload(&reordered);
        let job2 =
            JobCheckpoints::open(&config, &f.server, &other.body, &other.blobs, scale).unwrap();
        assert!(matches!(
            job2.resume(),
            Err(StoreError::Checkpoint {
                source: CheckpointError::ForeignConfig { .. },
                ..
            })
        ));
        // With resuming off, nothing is loaded.
        config.resume = false;
        let job3 = JobCheckpoints::open(&config, &f.server, &msg.body, &msg.blobs, scale).unwrap();
        assert_eq!(job3.resume().unwrap(), None);
    }
}
