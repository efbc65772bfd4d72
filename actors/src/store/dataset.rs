//! The trainer's encrypted training set on disk: one file per mini-batch, named by the SHA-256
//! of its contents ([`BatchFiles`]), and a cache of decoded batches that never holds more than a
//! configured number of bytes ([`DatasetStore`]). A batch file holds the batch's canonical
//! bytes ([`WireBatch::write_canonical`]), whose digest and length the client's upload manifest
//! lists: a trainer answers "held" for a batch by finding its file, so an upload interrupted
//! by a dropped connection or a restarted trainer sends only what is missing, and a restarted
//! trainer resumes from these files instead of a second copy of the upload.
//!
//! The trainer streams each mini-batch in for its step, so a dataset whose ciphertexts exceed
//! the budget trains in bounded memory; the peak is reported. A batch's size in memory is
//! counted as its canonical size (ciphertext words dominate both). The budget bounds the
//! batches the cache holds, the one batch a step is using among them; a batch being read is
//! held once more, as bytes, while it is decoded.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hetal_learn::train::EncryptedBatch;
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, io_error, prepare_dir, read_bounded, write_atomic};
use crate::backend::ServerBackend;
use crate::messages::{BatchEntry, Sha256Digest, WireBatch, decode_batch};

/// Where the dataset lives and how much of it may be in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetConfig {
    /// Directory of the batch files (created owner-only if missing).
    pub dir: PathBuf,
    /// Most bytes of decoded batches held in memory at once.
    pub memory_budget: u64,
}

/// What the store did, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatasetStats {
    /// Batches stored.
    pub batches: usize,
    /// Bytes of all batch files.
    pub stored_bytes: u64,
    /// The configured memory budget.
    pub memory_budget: u64,
    /// Bytes of batches held now.
    pub resident_bytes: u64,
    /// Most bytes of batches ever held at once.
    pub peak_resident_bytes: u64,
    /// Batches read from disk.
    pub loads: u64,
    /// Batches served from memory.
    pub hits: u64,
}

/// File name prefix and extension of a batch file: `batch-<64 hex digits>.hdsb`.
const PREFIX: &str = "batch-";
const EXTENSION: &str = ".hdsb";

/// The batch files of one directory, by content digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFiles {
    dir: PathBuf,
}

impl BatchFiles {
    /// The batch files in `dir` (created owner-only if missing; temporary files of a crashed
    /// writer removed).
    pub fn open(dir: impl Into<PathBuf>) -> StoreResult<Self> {
        let dir = dir.into();
        prepare_dir(&dir)?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the batch with content digest `digest`.
    pub fn path_of(&self, digest: &Sha256Digest) -> PathBuf {
        self.dir
            .join(format!("{PREFIX}{}{EXTENSION}", digest.hex()))
    }

    /// Whether the file of `entry` is there with its length and digest (read through in
    /// chunks, never whole). A missing, short or altered file is not held (a re-sent batch
    /// replaces it); only an unreadable directory is an error.
    pub fn holds(&self, entry: &BatchEntry) -> StoreResult<bool> {
        let path = self.path_of(&entry.digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let len = file.metadata().map_err(io_error(&path))?.len();
        if len != entry.bytes {
            tracing::warn!(
                "{}: {len} bytes, expected {}: not held",
                path.display(),
                entry.bytes
            );
            return Ok(false);
        }
        let mut h = Sha256::new();
        let mut reader = file.take(entry.bytes);
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut chunk).map_err(io_error(&path))?;
            if n == 0 {
                break;
            }
            h.update(&chunk[..n]);
        }
        let held = h.finalize().as_slice() == entry.digest.0;
        if !held {
            tracing::warn!(
                "{}: contents differ from its name: not held",
                path.display()
            );
        }
        Ok(held)
    }

    /// Writes `batch` to its file (atomically; kept as is when it is already there) and returns
    /// its entry.
    pub fn write(&self, batch: &WireBatch) -> StoreResult<BatchEntry> {
        let bytes = batch.to_canonical().map_err(StoreError::Codec)?;
        let entry = BatchEntry {
            digest: Sha256Digest(Sha256::digest(&bytes).into()),
            bytes: bytes.len() as u64,
        };
        if !self.holds(&entry)? {
            write_atomic(&self.path_of(&entry.digest), &bytes)?;
        }
        Ok(entry)
    }

    /// The batch of `entry`, read (bounded by its length), checked against its digest and
    /// parsed; a missing or damaged file is an error naming it.
    pub fn read(&self, entry: &BatchEntry) -> StoreResult<WireBatch> {
        let path = self.path_of(&entry.digest);
        let bytes = read_bounded(&path, entry.bytes)?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        if bytes.len() as u64 != entry.bytes || Sha256::digest(&bytes).as_slice() != entry.digest.0
        {
            return Err(corrupt(
                "contents differ from the batch's digest (SHA-256)".into(),
            ));
        }
        WireBatch::parse(Bytes::from(bytes)).map_err(corrupt)
    }

    /// Removes the file of `entry` (nothing when it is not there).
    pub fn remove(&self, entry: &BatchEntry) -> StoreResult<()> {
        let path = self.path_of(&entry.digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path)(e)),
            _ => Ok(()),
        }
    }
}

struct Cache<C> {
    /// Least recently used first.
    resident: VecDeque<(usize, Arc<EncryptedBatch<C>>, u64)>,
    bytes: u64,
    peak: u64,
    loads: u64,
    hits: u64,
}

impl<C> Cache<C> {
    /// Evicts least recently used batches until `incoming` more bytes fit `budget`.
    fn make_room(&mut self, incoming: u64, budget: u64) {
        while self.bytes + incoming > budget {
            match self.resident.pop_front() {
                Some((_, _, len)) => self.bytes -= len,
                None => break,
            }
        }
    }
}

/// A disk-backed, memory-bounded store of one job's encrypted mini-batches.
pub struct DatasetStore<B: ServerBackend> {
    config: DatasetConfig,
    backend: Arc<B>,
    files: BatchFiles,
    entries: Vec<BatchEntry>,
    cache: Mutex<Cache<B::Ct>>,
}

impl<B: ServerBackend> std::fmt::Debug for DatasetStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetStore")
            .field("config", &self.config)
            .field("batches", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl<B: ServerBackend> DatasetStore<B> {
    /// An empty store in `config.dir` (created if missing); the budget must be positive.
    pub fn create(config: DatasetConfig, backend: Arc<B>) -> StoreResult<Self> {
        Self::open(config, backend, Vec::new())
    }

    /// The store of the batches `entries` (in training order) whose files are in
    /// `config.dir`. Each file is checked when it is read; a batch larger than the budget is
    /// refused here, not at training time.
    pub fn open(
        config: DatasetConfig,
        backend: Arc<B>,
        entries: Vec<BatchEntry>,
    ) -> StoreResult<Self> {
        if config.memory_budget == 0 {
            return Err(StoreError::Config("a memory budget of 0 bytes".into()));
        }
        if let Some((i, e)) = entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.bytes > config.memory_budget)
        {
            return Err(Self::over_budget(i, e.bytes, config.memory_budget));
        }
        let files = BatchFiles::open(&config.dir)?;
        Ok(Self {
            config,
            backend,
            files,
            entries,
            cache: Mutex::new(Cache {
                resident: VecDeque::new(),
                bytes: 0,
                peak: 0,
                loads: 0,
                hits: 0,
            }),
        })
    }

    fn over_budget(index: usize, len: u64, budget: u64) -> StoreError {
        StoreError::Config(format!(
            "batch {index} ({len} bytes) does not fit the {budget}-byte memory budget"
        ))
    }

    /// Writes `batch` to its file and appends it; returns its index. A batch larger than the
    /// memory budget is refused.
    pub fn push(&mut self, batch: &EncryptedBatch<B::Ct>) -> StoreResult<usize> {
        let wire = WireBatch::encode(&*self.backend, batch)
            .map_err(|e| StoreError::Codec(e.to_string()))?;
        let len = wire.canonical_len().map_err(StoreError::Codec)?;
        let index = self.entries.len();
        if len > self.config.memory_budget {
            return Err(Self::over_budget(index, len, self.config.memory_budget));
        }
        let entry = self.files.write(&wire)?;
        self.entries.push(entry);
        Ok(index)
    }

    /// The batches, in order.
    pub fn entries(&self) -> &[BatchEntry] {
        &self.entries
    }

    /// The batch files.
    pub fn files(&self) -> &BatchFiles {
        &self.files
    }

    /// Batches stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no batch is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, Cache<B::Ct>>> {
        self.cache
            .lock()
            .map_err(|_| StoreError::Config("dataset cache poisoned".into()))
    }

    /// Batch `index`: from memory when resident, else read, checked against its digest,
    /// decoded, and cached (evicting the least recently used batches so that the cache stays
    /// within the budget).
    pub fn get(&self, index: usize) -> StoreResult<Arc<EncryptedBatch<B::Ct>>> {
        let entry = *self.entries.get(index).ok_or_else(|| {
            StoreError::Config(format!("batch {index} of {}", self.entries.len()))
        })?;
        {
            let mut cache = self.lock()?;
            if let Some(pos) = cache.resident.iter().position(|(i, _, _)| *i == index)
                && let Some(hit) = cache.resident.remove(pos)
            {
                cache.hits += 1;
                let batch = Arc::clone(&hit.1);
                cache.resident.push_back(hit);
                return Ok(batch);
            }
            // Make room first, so that memory never holds more than the budget.
            cache.make_room(entry.bytes, self.config.memory_budget);
        }
        let wire = self.files.read(&entry)?;
        let batch = decode_batch(&*self.backend, &wire.body, &wire.blobs).map_err(|e| {
            StoreError::Corrupt {
                path: self.files.path_of(&entry.digest),
                reason: e.to_string(),
            }
        })?;
        drop(wire);
        let batch = Arc::new(batch);
        let mut cache = self.lock()?;
        cache.make_room(entry.bytes, self.config.memory_budget);
        cache.bytes += entry.bytes;
        cache.peak = cache.peak.max(cache.bytes);
        cache.loads += 1;
        cache
            .resident
            .push_back((index, Arc::clone(&batch), entry.bytes));
        Ok(batch)
    }

    /// Counters and sizes.
    pub fn stats(&self) -> DatasetStats {
        let (resident_bytes, peak_resident_bytes, loads, hits) = self
            .cache
            .lock()
            .map(|c| (c.bytes, c.peak, c.loads, c.hits))
            .unwrap_or_default();
        DatasetStats {
            batches: self.entries.len(),
            stored_bytes: self.entries.iter().map(|e| e.bytes).sum(),
            memory_budget: self.config.memory_budget,
            resident_bytes,
            peak_resident_bytes,
            loads,
            hits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TempDir;
    use super::*;
    use crate::backend::sim::SimServer;
    use hetal_learn::eval::{SimConfig, Simulator};
    use hetal_learn::pack::UnitShape;
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::{EncryptedTrainer, HyperParams, Preset, TrainingClient};
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    use rand_chacha::ChaCha8Rng;

    const SLOTS: usize = 1 << 10;

    #[test]
    fn a_dataset_larger_than_the_budget_trains_like_the_in_memory_one() {
        let sim_config = SimConfig::with_slots(SLOTS);
        let sim = Simulator::new(sim_config).unwrap();
        let unit = UnitShape::hetal(8, 3, SLOTS).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((48, 4), |(i, j)| ((i * 7 + j * 3) % 13) as f64 / 13.0);
        let labels: Vec<usize> = (0..48).map(|i| (i * 5 + i / 4) % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        let hyper = HyperParams {
            batch_size: 8,
            ..Preset::FaceMask.hyper()
        };

        // The budget holds two and a half batches of the six.
        let backend = Arc::new(SimServer::new(sim_config).unwrap());
        let dir = TempDir::new("dataset");
        let mut probe = DatasetStore::create(
            DatasetConfig {
                dir: dir.0.join("probe"),
                memory_budget: u64::MAX,
            },
            Arc::clone(&backend),
        )
        .unwrap();
        probe.push(&train[0]).unwrap();
        let batch_bytes = probe.stats().stored_bytes;
        let budget = batch_bytes * 5 / 2;
        let mut store = DatasetStore::create(
            DatasetConfig {
                dir: dir.0.join("train"),
                memory_budget: budget,
            },
            Arc::clone(&backend),
        )
        .unwrap();
        for b in &train {
            store.push(b).unwrap();
        }
        assert_eq!(store.len(), train.len());

        let run = |batch: &dyn Fn(usize) -> Arc<EncryptedBatch<_>>| {
            let mut t = EncryptedTrainer::new(
                &sim,
                hyper,
                SoftmaxVariant::HetalRs,
                client.initial_weights().unwrap(),
                3,
            )
            .unwrap();
            let mut order: Vec<usize> = (0..train.len()).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            for _ in 0..2 {
                order.shuffle(&mut rng);
                for &b in &order {
                    t.step(&batch(b)).unwrap();
                }
            }
            t.weights().clone()
        };
        let in_memory = run(&|b| Arc::new(train[b].clone()));
        let streamed = run(&|b| store.get(b).unwrap());
        assert_eq!(streamed, in_memory, "streamed batches changed the result");

        let stats = store.stats();
        println!("{stats:?}");
        assert!(stats.stored_bytes > budget, "{stats:?}");
        assert!(stats.peak_resident_bytes <= budget, "{stats:?}");
        assert!(stats.peak_resident_bytes >= 2 * batch_bytes, "{stats:?}");
        // Evictions happened: every batch came from disk at least once per epoch but the first
        // ones of the second epoch may still be resident.
        assert_eq!(stats.loads + stats.hits, 2 * train.len() as u64);
        assert!(stats.loads > train.len() as u64, "{stats:?}");
    }

    #[test]
    fn corrupt_batch_files_and_oversized_batches_are_refused() {
        let sim_config = SimConfig::with_slots(SLOTS);
        let sim = Simulator::new(sim_config).unwrap();
        let unit = UnitShape::hetal(8, 3, SLOTS).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((16, 4), |(i, j)| (i + j) as f64 / 20.0);
        let labels: Vec<usize> = (0..16).map(|i| i % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        let backend = Arc::new(SimServer::new(sim_config).unwrap());
        let dir = TempDir::new("dataset-bad");
        let mut store = DatasetStore::create(
            DatasetConfig {
                dir: dir.0.clone(),
                memory_budget: 1 << 20,
            },
            Arc::clone(&backend),
        )
        .unwrap();
        store.push(&train[0]).unwrap();
        store.push(&train[1]).unwrap();
        assert_eq!(*store.get(1).unwrap(), train[1]);
        let path = store.files().path_of(&store.entries()[0].digest);
        assert!(store.files().holds(&store.entries()[0]).unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(store.get(0), Err(StoreError::Corrupt { .. })));
        // A damaged file is not held: a resumed upload sends the batch again.
        assert!(!store.files().holds(&store.entries()[0]).unwrap());
        assert!(store.files().holds(&store.entries()[1]).unwrap());
        assert!(matches!(store.get(2), Err(StoreError::Config(_))));

        let mut tiny = DatasetStore::create(
            DatasetConfig {
                dir: dir.0.join("tiny"),
                memory_budget: 100,
            },
            backend,
        )
        .unwrap();
        assert!(matches!(tiny.push(&train[0]), Err(StoreError::Config(_))));
    }
}
