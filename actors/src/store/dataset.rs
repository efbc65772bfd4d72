//! The trainer's encrypted training set on disk: one file per mini-batch, checked against its
//! SHA-256 when read back, and a cache of decoded batches that never holds more than a
//! configured number of bytes. The trainer streams each mini-batch in for its step, so a
//! dataset whose ciphertexts exceed the budget trains in bounded memory; the peak is reported.
//!
//! A batch's size in memory is counted as its serialized size (ciphertext words dominate both).
//! The budget bounds the batches the store holds; the one batch a step is using is among them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hetal_learn::pack::{BlockMatrix, Layout, UnitShape};
use hetal_learn::train::EncryptedBatch;
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, prepare_dir, read_bounded, write_atomic};
use crate::backend::ServerBackend;

/// First bytes of a stored batch file.
const MAGIC: [u8; 4] = *b"HDSB";
/// Version of the batch file layout.
const VERSION: u16 = 1;

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

struct Entry {
    path: PathBuf,
    digest: [u8; 32],
    len: u64,
}

struct Cache<C> {
    /// Least recently used first.
    resident: VecDeque<(usize, Arc<EncryptedBatch<C>>, u64)>,
    bytes: u64,
    peak: u64,
    loads: u64,
    hits: u64,
}

/// A disk-backed, memory-bounded store of encrypted mini-batches.
pub struct DatasetStore<B: ServerBackend> {
    config: DatasetConfig,
    backend: Arc<B>,
    entries: Vec<Entry>,
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

fn put_matrix<B: ServerBackend>(
    out: &mut Vec<u8>,
    backend: &B,
    m: &BlockMatrix<B::Ct>,
) -> StoreResult<()> {
    let (tag, period) = match m.layout() {
        Layout::RowMajor => (0u8, 0usize),
        Layout::RowTiled { period } => (1, period),
        Layout::ColTiled { period } => (2, period),
    };
    for word in [m.rows(), m.cols(), m.unit().s0(), m.unit().s1()] {
        out.extend_from_slice(&(word as u64).to_le_bytes());
    }
    out.push(tag);
    out.extend_from_slice(&(period as u64).to_le_bytes());
    out.extend_from_slice(&(m.blocks().len() as u64).to_le_bytes());
    for ct in m.blocks() {
        let bytes = backend
            .encode_ct(ct)
            .map_err(|e| StoreError::Codec(e.to_string()))?;
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(())
}

/// A bounded cursor over a batch file.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| format!("length {n}"))?;
        if n > self.bytes.len() {
            return Err(format!("needs {n} bytes, {} left", self.bytes.len()));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut w = [0u8; 8];
        w.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(w))
    }
    fn usize(&mut self) -> Result<usize, String> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| format!("{v} does not fit"))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
}

fn get_matrix<B: ServerBackend>(
    c: &mut Cursor<'_>,
    backend: &B,
) -> Result<BlockMatrix<B::Ct>, String> {
    let (rows, cols) = (c.usize()?, c.usize()?);
    let unit = UnitShape::new(c.usize()?, c.usize()?).map_err(|e| e.to_string())?;
    let (tag, period) = (c.u8()?, c.usize()?);
    let layout = match tag {
        0 => Layout::RowMajor,
        1 => Layout::RowTiled { period },
        2 => Layout::ColTiled { period },
        t => return Err(format!("layout tag {t}")),
    };
    let count = c.u64()?;
    if count > (c.bytes.len() / 8) as u64 {
        return Err(format!("{count} blocks in {} bytes", c.bytes.len()));
    }
    let mut blocks = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = c.u64()?;
        blocks.push(backend.decode_ct(c.take(len)?).map_err(|e| e.to_string())?);
    }
    BlockMatrix::from_blocks(rows, cols, unit, layout, blocks).map_err(|e| e.to_string())
}

fn decode_batch_file<B: ServerBackend>(
    bytes: &[u8],
    backend: &B,
) -> Result<EncryptedBatch<B::Ct>, String> {
    let mut c = Cursor { bytes };
    if c.take(4)? != MAGIC {
        return Err("not a stored batch (bad magic)".into());
    }
    let mut v = [0u8; 2];
    v.copy_from_slice(c.take(2)?);
    if u16::from_le_bytes(v) != VERSION {
        return Err(format!("batch file version {}", u16::from_le_bytes(v)));
    }
    let rows = c.usize()?;
    let has_y = match c.u8()? {
        0 => false,
        1 => true,
        f => return Err(format!("label flag {f}")),
    };
    let x = get_matrix(&mut c, backend)?;
    let y = if has_y {
        Some(get_matrix(&mut c, backend)?)
    } else {
        None
    };
    if !c.bytes.is_empty() {
        return Err(format!("{} trailing bytes", c.bytes.len()));
    }
    if rows == 0 || rows > x.rows() {
        return Err(format!("{rows} rows in a {}-row block", x.rows()));
    }
    Ok(EncryptedBatch { x, y, rows })
}

impl<B: ServerBackend> DatasetStore<B> {
    /// An empty store in `config.dir` (created if missing); the budget must be positive.
    pub fn create(config: DatasetConfig, backend: Arc<B>) -> StoreResult<Self> {
        if config.memory_budget == 0 {
            return Err(StoreError::Config("a memory budget of 0 bytes".into()));
        }
        prepare_dir(&config.dir)?;
        Ok(Self {
            config,
            backend,
            entries: Vec::new(),
            cache: Mutex::new(Cache {
                resident: VecDeque::new(),
                bytes: 0,
                peak: 0,
                loads: 0,
                hits: 0,
            }),
        })
    }

    /// Writes `batch` to its own file (atomically) and returns its index. A batch larger than
    /// the memory budget is refused here, not at training time.
    pub fn push(&mut self, batch: &EncryptedBatch<B::Ct>) -> StoreResult<usize> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(batch.rows as u64).to_le_bytes());
        bytes.push(u8::from(batch.y.is_some()));
        put_matrix(&mut bytes, &*self.backend, &batch.x)?;
        if let Some(y) = &batch.y {
            put_matrix(&mut bytes, &*self.backend, y)?;
        }
        let len = bytes.len() as u64;
        if len > self.config.memory_budget {
            return Err(StoreError::Config(format!(
                "a {len}-byte batch does not fit the {}-byte memory budget",
                self.config.memory_budget
            )));
        }
        let index = self.entries.len();
        let path = self.config.dir.join(format!("batch-{index:08}.hdsb"));
        write_atomic(&path, &bytes)?;
        self.entries.push(Entry {
            path,
            digest: Sha256::digest(&bytes).into(),
            len,
        });
        Ok(index)
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

    /// Batch `index`: from memory when resident, else read, checked against the digest taken
    /// when it was written, decoded, and cached (evicting the least recently used batches so
    /// that the cache stays within the budget).
    pub fn get(&self, index: usize) -> StoreResult<Arc<EncryptedBatch<B::Ct>>> {
        let entry = self.entries.get(index).ok_or_else(|| {
            StoreError::Config(format!("batch {index} of {}", self.entries.len()))
        })?;
        {
            let mut cache = self.lock()?;
            if let Some(pos) = cache.resident.iter().position(|(i, _, _)| *i == index) {
                let hit = cache.resident.remove(pos);
                cache.hits += 1;
                if let Some(hit) = hit {
                    let batch = Arc::clone(&hit.1);
                    cache.resident.push_back(hit);
                    return Ok(batch);
                }
            }
            // Make room first, so that memory never holds more than the budget.
            while cache.bytes + entry.len > self.config.memory_budget {
                match cache.resident.pop_front() {
                    Some((_, _, len)) => cache.bytes -= len,
                    None => break,
                }
            }
        }
        let bytes = read_bounded(&entry.path, entry.len)?;
        if bytes.len() as u64 != entry.len || Sha256::digest(&bytes).as_slice() != entry.digest {
            return Err(StoreError::Corrupt {
                path: entry.path.clone(),
                reason: "contents differ from what was written (SHA-256)".into(),
            });
        }
        let batch =
            decode_batch_file(&bytes, &*self.backend).map_err(|reason| StoreError::Corrupt {
                path: entry.path.clone(),
                reason,
            })?;
        drop(bytes);
        let batch = Arc::new(batch);
        let mut cache = self.lock()?;
        while cache.bytes + entry.len > self.config.memory_budget {
            match cache.resident.pop_front() {
                Some((_, _, len)) => cache.bytes -= len,
                None => break,
            }
        }
        cache.bytes += entry.len;
        cache.peak = cache.peak.max(cache.bytes);
        cache.loads += 1;
        cache
            .resident
            .push_back((index, Arc::clone(&batch), entry.len));
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
            stored_bytes: self.entries.iter().map(|e| e.len).sum(),
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
        let path = dir.0.join("batch-00000000.hdsb");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(store.get(0), Err(StoreError::Corrupt { .. })));
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
