//! The resumable upload of a training job, client → trainer. The client first sends an
//! [`UploadManifest`] (the job's setup and, per mini-batch, a SHA-256 content digest and size);
//! the trainer answers with [`UploadHave`], the batches it already holds (in memory, or as files
//! of its dataset directory from an earlier connection or process); the client sends each
//! missing batch as its own [`UploadBatch`], which the trainer checks against the manifest
//! (size first, then digest) before keeping it; [`StartTraining`] then brings the rest of the
//! job (public material, initial weights, validation blocks) and starts it. After a dropped
//! connection the client starts over with the manifest and sends only what is missing.
//!
//! A batch's digest is taken over its canonical bytes ([`WireBatch::write_canonical`]: the
//! shapes and the serialized ciphertexts, not the blob numbering), which are also the bytes of
//! the trainer's batch file (`store::dataset`): a file's SHA-256 is the manifest's digest.

use bytes::Bytes;
use hetal_learn::pack::{BlockMatrix, Layout};
use hetal_learn::train::EncryptedBatch;
use hetal_runtime::serde_message;
use hetal_runtime::wire::codec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BatchBody, BlobSink, Body, Envelope, TrainingSetup, encode_batch};
use crate::backend::{MaterialBody, ServerBackend};
use crate::error::Result;

/// Wire name of [`UploadManifest`].
pub const UPLOAD_MANIFEST: &str = "hetal.actors.UploadManifest/1";
/// Wire name of [`UploadHave`].
pub const UPLOAD_HAVE: &str = "hetal.actors.UploadHave/1";
/// Wire name of [`UploadBatch`].
pub const UPLOAD_BATCH: &str = "hetal.actors.UploadBatch/1";
/// Wire name of [`StartTraining`].
pub const START_TRAINING: &str = "hetal.actors.StartTraining/1";

/// Most training batches (and most validation blocks) one manifest may list: bounds the
/// trainer's per-job tables (the runtime's 1 MiB limit on a message's meta part allows about
/// 25 000 entries anyway).
pub const MAX_MANIFEST_BATCHES: usize = 1 << 16;

/// First bytes of a batch's canonical form (and of a stored batch file).
pub const BATCH_MAGIC: [u8; 4] = *b"HDSB";
/// Version of the canonical form.
pub const BATCH_VERSION: u16 = 1;

/// A SHA-256 digest (of a batch's canonical bytes, or of a manifest).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Lower-case hexadecimal, 64 characters.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Display for Sha256Digest {
    /// The first 8 bytes in hex (enough to tell digests apart in a message).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

/// One batch of a manifest: what the trainer checks a received batch against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEntry {
    /// SHA-256 of the batch's canonical bytes.
    pub digest: Sha256Digest,
    /// Length of the canonical bytes.
    pub bytes: u64,
}

/// Client → trainer (ask): the job about to be uploaded. `job` is the digest of the rest
/// ([`UploadManifest::job_of`]), so a manifest names its content and a resumed upload of the
/// same data finds the trainer's batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadManifest {
    /// The job's id: the digest of `setup`, `batches` and `validation`.
    pub job: Sha256Digest,
    /// The job.
    pub setup: TrainingSetup,
    /// The training mini-batches, in training order.
    pub batches: Vec<BatchEntry>,
    /// The validation blocks [`StartTraining`] will carry (empty when an evaluator validates).
    pub validation: Vec<BatchEntry>,
}
serde_message!(UploadManifest, UPLOAD_MANIFEST => UploadHave);

impl UploadManifest {
    /// A manifest with its job id computed.
    pub fn new(
        setup: TrainingSetup,
        batches: Vec<BatchEntry>,
        validation: Vec<BatchEntry>,
    ) -> Result<Self> {
        let job = Self::job_of(&setup, &batches, &validation)?;
        Ok(Self {
            job,
            setup,
            batches,
            validation,
        })
    }

    /// The job id of this content: SHA-256 over a domain tag and the encoded content.
    pub fn job_of(
        setup: &TrainingSetup,
        batches: &[BatchEntry],
        validation: &[BatchEntry],
    ) -> Result<Sha256Digest> {
        let bytes = codec::encode(&(setup, batches, validation))?;
        let mut h = Sha256::new();
        h.update(b"hetal-upload-job/1");
        h.update(&bytes);
        Ok(Sha256Digest(h.finalize().into()))
    }

    /// Checks what a receiver must before keeping any state for the manifest: at least one
    /// batch, no list over [`MAX_MANIFEST_BATCHES`], no empty batch, and the job id of this
    /// content.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.batches.is_empty() {
            return Err("no training batches".into());
        }
        for (what, list) in [("batches", &self.batches), ("validation", &self.validation)] {
            if list.len() > MAX_MANIFEST_BATCHES {
                return Err(format!(
                    "{} {what}, more than the limit of {MAX_MANIFEST_BATCHES}",
                    list.len()
                ));
            }
            if let Some(i) = list.iter().position(|e| e.bytes == 0) {
                return Err(format!("{what} entry {i} has 0 bytes"));
            }
        }
        let job = Self::job_of(&self.setup, &self.batches, &self.validation)
            .map_err(|e| e.to_string())?;
        if job != self.job {
            return Err(format!(
                "job id {} is not the digest of the manifest ({job})",
                self.job
            ));
        }
        Ok(())
    }
}

/// Trainer → client: the answer to [`UploadManifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadHave {
    /// The manifest's job.
    pub job: Sha256Digest,
    /// Indices of the batches the trainer holds, ascending.
    pub held: Vec<u64>,
    /// The job is already training (an earlier [`StartTraining`] arrived): nothing to send.
    pub started: bool,
}
serde_message!(UploadHave, UPLOAD_HAVE);

/// Body of [`UploadBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadBatchBody {
    /// The manifest's job.
    pub job: Sha256Digest,
    /// The batch's index in the manifest.
    pub index: u64,
    /// The batch; its blobs are the message's, one per block.
    pub batch: BatchBody,
}
impl Body for UploadBatchBody {
    const NAME: &'static str = UPLOAD_BATCH;
}
/// Client → trainer: one training mini-batch of the manifest.
pub type UploadBatch = Envelope<UploadBatchBody>;

/// Body of [`StartTraining`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartTrainingBody {
    /// The manifest's job (all its batches must be held).
    pub job: Sha256Digest,
    /// Public evaluation material.
    pub material: MaterialBody,
    /// Encrypted initial weights (the server cannot encrypt).
    pub initial_weights: BlockMatrix<u32>,
    /// Encrypted validation features, when the trainer validates itself (no evaluator); each
    /// block must have the manifest's digest.
    pub validation: Option<Vec<BatchBody>>,
}
impl Body for StartTrainingBody {
    const NAME: &'static str = START_TRAINING;
}
/// Client → trainer: the rest of the job; training starts.
pub type StartTraining = Envelope<StartTrainingBody>;

/// A mini-batch in travelling form: its body and the blobs its indices refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct WireBatch {
    /// Shapes and blob indices.
    pub body: BatchBody,
    /// Serialized ciphertexts.
    pub blobs: Vec<Bytes>,
}

fn layout_words(layout: Layout) -> (u8, u64) {
    match layout {
        Layout::RowMajor => (0, 0),
        Layout::RowTiled { period } => (1, period as u64),
        Layout::ColTiled { period } => (2, period as u64),
    }
}

/// Bytes of a matrix header in the canonical form: rows, cols, unit (2 words), layout tag,
/// period, block count.
const MATRIX_HEADER: u64 = 4 * 8 + 1 + 8 + 8;
/// Bytes of the batch header: magic, version, rows, label flag.
const BATCH_HEADER: u64 = 4 + 2 + 8 + 1;

/// A bounded reader over canonical bytes.
struct Reader {
    bytes: Bytes,
}

impl Reader {
    fn take(&mut self, n: u64) -> std::result::Result<Bytes, String> {
        let n = usize::try_from(n).map_err(|_| format!("length {n}"))?;
        if n > self.bytes.len() {
            return Err(format!("needs {n} bytes, {} left", self.bytes.len()));
        }
        Ok(self.bytes.split_to(n))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(&b);
        Ok(u64::from_le_bytes(w))
    }
    fn usize(&mut self) -> std::result::Result<usize, String> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| format!("{v} does not fit"))
    }
    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
}

impl WireBatch {
    /// Serializes `batch` with its own blob numbering (0, 1, … in block order).
    pub fn encode<B: ServerBackend>(backend: &B, batch: &EncryptedBatch<B::Ct>) -> Result<Self> {
        let mut sink = BlobSink::default();
        let body = encode_batch(backend, batch, &mut sink)?;
        let sealed = sink.seal(body);
        Ok(Self {
            body: sealed.body,
            blobs: sealed.blobs,
        })
    }

    /// The batch `body` refers to within a larger message's `blobs`, renumbered 0, 1, … (the
    /// blobs are shared, not copied).
    pub fn extract(body: &BatchBody, blobs: &[Bytes]) -> std::result::Result<Self, String> {
        let mut sink = BlobSink::default();
        let mut renumber = |m: &BlockMatrix<u32>| -> std::result::Result<BlockMatrix<u32>, String> {
            let blocks = m
                .blocks()
                .iter()
                .map(|&i| {
                    blobs
                        .get(i as usize)
                        .map(|b| sink.push(b.clone()))
                        .ok_or_else(|| format!("blob {i} of {}", blobs.len()))
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            BlockMatrix::from_blocks(m.rows(), m.cols(), m.unit(), m.layout(), blocks)
                .map_err(|e| e.to_string())
        };
        let x = renumber(&body.x)?;
        let y = body.y.as_ref().map(&mut renumber).transpose()?;
        let sealed = sink.seal(BatchBody {
            x,
            y,
            rows: body.rows,
        });
        Ok(Self {
            body: sealed.body,
            blobs: sealed.blobs,
        })
    }

    fn matrices(&self) -> impl Iterator<Item = &BlockMatrix<u32>> {
        std::iter::once(&self.body.x).chain(self.body.y.as_ref())
    }

    /// Blocks in the batch (features and labels).
    pub fn block_count(&self) -> usize {
        self.matrices().map(|m| m.blocks().len()).sum()
    }

    fn blob(&self, index: u32) -> std::result::Result<&Bytes, String> {
        self.blobs
            .get(index as usize)
            .ok_or_else(|| format!("blob index {index} out of range ({})", self.blobs.len()))
    }

    /// Length of the canonical bytes, from the shapes and blob lengths (nothing hashed).
    pub fn canonical_len(&self) -> std::result::Result<u64, String> {
        let mut len = BATCH_HEADER;
        for m in self.matrices() {
            len += MATRIX_HEADER;
            for &i in m.blocks() {
                len = len
                    .checked_add(8 + self.blob(i)?.len() as u64)
                    .ok_or("length overflow")?;
            }
        }
        Ok(len)
    }

    /// Feeds the canonical bytes to `out` in order: magic, version, real rows, label flag, then
    /// per matrix (features, then labels if any) rows, cols, unit shape, layout tag and period,
    /// block count, and each block's length and serialized ciphertext (all integers u64
    /// little-endian but the u16 version and the u8 tag and flag).
    pub fn write_canonical(&self, out: &mut dyn FnMut(&[u8])) -> std::result::Result<(), String> {
        out(&BATCH_MAGIC);
        out(&BATCH_VERSION.to_le_bytes());
        out(&self.body.rows.to_le_bytes());
        out(&[u8::from(self.body.y.is_some())]);
        for m in self.matrices() {
            let (tag, period) = layout_words(m.layout());
            for word in [m.rows(), m.cols(), m.unit().s0(), m.unit().s1()] {
                out(&(word as u64).to_le_bytes());
            }
            out(&[tag]);
            out(&period.to_le_bytes());
            out(&(m.blocks().len() as u64).to_le_bytes());
            for &i in m.blocks() {
                let blob = self.blob(i)?;
                out(&(blob.len() as u64).to_le_bytes());
                out(blob);
            }
        }
        Ok(())
    }

    /// The canonical bytes in one buffer (what the trainer writes to a batch file).
    pub fn to_canonical(&self) -> std::result::Result<Vec<u8>, String> {
        let len = usize::try_from(self.canonical_len()?).map_err(|_| "too large")?;
        let mut out = Vec::with_capacity(len);
        self.write_canonical(&mut |b| out.extend_from_slice(b))?;
        Ok(out)
    }

    /// The manifest entry of this batch: SHA-256 and length of its canonical bytes.
    pub fn entry(&self) -> std::result::Result<BatchEntry, String> {
        let mut h = Sha256::new();
        self.write_canonical(&mut |b| h.update(b))?;
        Ok(BatchEntry {
            digest: Sha256Digest(h.finalize().into()),
            bytes: self.canonical_len()?,
        })
    }

    /// Parses canonical bytes (every length bounded by what is left; blobs are zero-copy
    /// slices of `bytes`).
    pub fn parse(bytes: Bytes) -> std::result::Result<Self, String> {
        let mut r = Reader { bytes };
        if r.take(4)?.as_ref() != BATCH_MAGIC {
            return Err("not a batch (bad magic)".into());
        }
        let v = r.take(2)?;
        let version = u16::from_le_bytes([v[0], v[1]]);
        if version != BATCH_VERSION {
            return Err(format!("batch version {version}, expected {BATCH_VERSION}"));
        }
        let rows = r.u64()?;
        let has_y = match r.u8()? {
            0 => false,
            1 => true,
            f => return Err(format!("label flag {f}")),
        };
        let mut sink = BlobSink::default();
        let mut matrix = |r: &mut Reader| -> std::result::Result<BlockMatrix<u32>, String> {
            let (m_rows, cols) = (r.usize()?, r.usize()?);
            let unit = hetal_learn::pack::UnitShape::new(r.usize()?, r.usize()?)
                .map_err(|e| e.to_string())?;
            let (tag, period) = (r.u8()?, r.usize()?);
            let layout = match tag {
                0 => Layout::RowMajor,
                1 => Layout::RowTiled { period },
                2 => Layout::ColTiled { period },
                t => return Err(format!("layout tag {t}")),
            };
            let count = r.u64()?;
            if count > (r.bytes.len() / 8) as u64 {
                return Err(format!("{count} blocks in {} bytes", r.bytes.len()));
            }
            let mut blocks = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let len = r.u64()?;
                blocks.push(sink.push(r.take(len)?));
            }
            BlockMatrix::from_blocks(m_rows, cols, unit, layout, blocks).map_err(|e| e.to_string())
        };
        let x = matrix(&mut r)?;
        let y = if has_y { Some(matrix(&mut r)?) } else { None };
        if !r.bytes.is_empty() {
            return Err(format!("{} trailing bytes", r.bytes.len()));
        }
        if rows == 0 || rows > x.rows() as u64 {
            return Err(format!("{rows} rows in a {}-row block", x.rows()));
        }
        let sealed = sink.seal(BatchBody { x, y, rows });
        Ok(Self {
            body: sealed.body,
            blobs: sealed.blobs,
        })
    }

    /// Checks that the blobs are exactly the blocks, numbered 0, 1, … in block order (what
    /// an [`UploadBatch`] must carry: nothing unaccounted for travels with a batch).
    pub fn check_numbering(&self) -> std::result::Result<(), String> {
        let mut expected = 0u32;
        for m in self.matrices() {
            for &i in m.blocks() {
                if i != expected {
                    return Err(format!("block {expected} refers to blob {i}"));
                }
                expected += 1;
            }
        }
        if self.blobs.len() != expected as usize {
            return Err(format!("{} blobs for {expected} blocks", self.blobs.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::SimServer;
    use hetal_learn::eval::{SimConfig, Simulator};
    use hetal_learn::pack::UnitShape;
    use hetal_learn::train::TrainingClient;

    fn batches() -> (SimServer, Vec<EncryptedBatch<hetal_learn::eval::SimCt>>) {
        let config = SimConfig::with_slots(1 << 10);
        let sim = Simulator::new(config).unwrap();
        let unit = UnitShape::hetal(8, 3, 1 << 10).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = ndarray::Array2::from_shape_fn((16, 4), |(i, j)| (i + j) as f64 / 20.0);
        let labels: Vec<usize> = (0..16).map(|i| i % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        (SimServer::new(config).unwrap(), train)
    }

    #[test]
    fn canonical_bytes_round_trip_and_name_the_content_not_the_numbering() {
        let (server, train) = batches();
        let wire = WireBatch::encode(&server, &train[0]).unwrap();
        wire.check_numbering().unwrap();
        let bytes = wire.to_canonical().unwrap();
        assert_eq!(bytes.len() as u64, wire.canonical_len().unwrap());
        let entry = wire.entry().unwrap();
        assert_eq!(entry.digest.0, <[u8; 32]>::from(Sha256::digest(&bytes)));
        let back = WireBatch::parse(Bytes::from(bytes.clone())).unwrap();
        assert_eq!(back, wire);

        // The same batch inside a larger message (other blobs first): same digest.
        let mut sink = BlobSink::default();
        sink.push(vec![9u8; 5]);
        let body = encode_batch(&server, &train[0], &mut sink).unwrap();
        let shared = sink.seal(body);
        let extracted = WireBatch::extract(&shared.body, &shared.blobs).unwrap();
        assert!(
            WireBatch {
                body: shared.body.clone(),
                blobs: shared.blobs.clone()
            }
            .check_numbering()
            .is_err()
        );
        assert_eq!(extracted.entry().unwrap(), entry);
        // Another batch: another digest.
        let other = WireBatch::encode(&server, &train[1]).unwrap();
        assert_ne!(other.entry().unwrap().digest, entry.digest);

        // Truncated, extended or altered bytes are refused, never panic.
        for cut in [0, 3, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(WireBatch::parse(Bytes::copy_from_slice(&bytes[..cut])).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(WireBatch::parse(Bytes::from(long)).is_err());
        let mut huge = bytes;
        // The first matrix's block count (after two headers' worth of words) made enormous.
        let at = (BATCH_HEADER + MATRIX_HEADER - 8) as usize;
        huge[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(WireBatch::parse(Bytes::from(huge)).is_err());
    }

    #[test]
    fn a_manifest_is_checked_against_its_job_id_and_bounds() {
        let (server, train) = batches();
        let entries: Vec<_> = train
            .iter()
            .map(|b| WireBatch::encode(&server, b).unwrap().entry().unwrap())
            .collect();
        let setup = TrainingSetup {
            hyper: hetal_learn::train::Preset::FaceMask.hyper(),
            variant: hetal_learn::softmax::SoftmaxVariant::HetalRs,
            unit: UnitShape::hetal(8, 3, 1 << 10).unwrap(),
            classes: 3,
            dim: 4,
            validation: super::super::ValidationForm::Logits,
        };
        let manifest = UploadManifest::new(setup, entries.clone(), Vec::new()).unwrap();
        manifest.check().unwrap();
        let mut forged = manifest.clone();
        forged.batches.swap(0, 1);
        assert!(forged.check().unwrap_err().contains("job id"));
        let empty = UploadManifest::new(setup, Vec::new(), Vec::new()).unwrap();
        assert!(empty.check().unwrap_err().contains("no training"));
        let mut zero = entries;
        zero[1].bytes = 0;
        let zero = UploadManifest::new(setup, zero, Vec::new()).unwrap();
        assert!(zero.check().unwrap_err().contains("entry 1"));
    }
}
