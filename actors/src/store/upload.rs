//! The training job's upload on the trainer's disk, next to its checkpoints: a trainer process
//! that was killed finds the job here when it restarts and resumes it from its newest
//! checkpoint without the client uploading again. The file holds the job's manifest (setup
//! and the digests of its batches) and its [`StartTraining`] message (public material in full,
//! initial weights, validation blocks); the training batches themselves are the batch files of
//! [`super::dataset::BatchFiles`], named by the manifest's digests, not a second copy.
//!
//! Layout (little-endian): magic `HUPL`, version `u16`, then three length-prefixed parts (`u64`
//! length and bytes): the manifest's encoding, and the `StartTraining` payload's meta and bulk
//! parts (so each is decoded by its message's own bounded decoder); then SHA-256 of everything
//! before it.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use hetal_runtime::{Message, Payload};
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, read_bounded, write_atomic};
use crate::messages::{StartTraining, UploadManifest};

/// First bytes of an upload file.
const MAGIC: [u8; 4] = *b"HUPL";
/// Version of the layout (1: the whole one-message upload, batches included).
const VERSION: u16 = 2;
/// The file's name in the checkpoint directory.
pub const UPLOAD_FILE: &str = "upload.hupl";

/// The file holding the job uploaded to a trainer checkpointing into `dir`.
pub fn upload_path(dir: &Path) -> PathBuf {
    dir.join(UPLOAD_FILE)
}

/// A job as saved: its manifest and the message that started it.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedJob {
    /// Setup and batch digests.
    pub manifest: UploadManifest,
    /// Material, initial weights, validation blocks.
    pub start: StartTraining,
}

/// Writes `job` to `path` atomically.
pub fn save_upload(path: &Path, job: &SavedJob) -> StoreResult<()> {
    let codec = |e: hetal_runtime::CodecError| StoreError::Codec(e.to_string());
    let manifest = job.manifest.clone().into_payload().map_err(codec)?.meta;
    let start = job.start.clone().into_payload().map_err(codec)?;
    let bulk = start.bulk.contiguous();
    let parts = [&manifest, &start.meta, &bulk];
    let total: usize = parts.iter().map(|p| 8 + p.len()).sum();
    let mut out = Vec::with_capacity(4 + 2 + total + 32);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    let digest: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&digest);
    write_atomic(path, &out)
}

/// Splits `n` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: u64) -> Result<&'a [u8], String> {
    let n = usize::try_from(n).map_err(|_| format!("length {n}"))?;
    if n > rest.len() {
        return Err(format!("needs {n} bytes, {} left", rest.len()));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn decode(bytes: &[u8]) -> Result<SavedJob, String> {
    if bytes.len() < 4 + 2 + 24 + 32 {
        return Err(format!("{} bytes, shorter than a header", bytes.len()));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err("checksum mismatch (torn or altered file)".into());
    }
    let mut rest = body;
    if take(&mut rest, 4)? != MAGIC {
        return Err("not an upload file (bad magic)".into());
    }
    let version = take(&mut rest, 2)?;
    let version = u16::from_le_bytes([version[0], version[1]]);
    if version != VERSION {
        return Err(format!("upload file version {version}, expected {VERSION}"));
    }
    let part = |rest: &mut &[u8]| -> Result<Bytes, String> {
        let mut len = [0u8; 8];
        len.copy_from_slice(take(rest, 8)?);
        Ok(Bytes::copy_from_slice(take(rest, u64::from_le_bytes(len))?))
    };
    let manifest = part(&mut rest)?;
    let meta = part(&mut rest)?;
    let bulk = part(&mut rest)?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    let manifest = UploadManifest::from_payload(Payload {
        meta: manifest,
        bulk: Default::default(),
    })
    .map_err(|e| format!("manifest: {e}"))?;
    manifest.check().map_err(|e| format!("manifest: {e}"))?;
    let start = StartTraining::from_payload(Payload {
        meta,
        bulk: bulk.into(),
    })
    .map_err(|e| e.to_string())?;
    if start.body.job != manifest.job {
        return Err(format!(
            "the start message is of job {}, the manifest of job {}",
            start.body.job, manifest.job
        ));
    }
    Ok(SavedJob { manifest, start })
}

/// The job saved at `path`, or `None` when there is none; a corrupt file (or one larger than
/// `limit` bytes) is refused with its path.
pub fn load_upload(path: &Path, limit: u64) -> StoreResult<Option<SavedJob>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(path, limit)?;
    decode(&bytes)
        .map(Some)
        .map_err(|reason| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TempDir;
    use super::*;
    use crate::backend::MaterialBody;
    use crate::backend::sim::SimServer;
    use crate::messages::{BlobSink, StartTrainingBody, TrainingSetup, WireBatch, encode_matrix};
    use hetal_learn::eval::{SimConfig, Simulator};
    use hetal_learn::pack::UnitShape;
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::client::ValidationForm;
    use hetal_learn::train::{Preset, TrainingClient};

    fn job() -> SavedJob {
        let config = SimConfig::with_slots(1 << 10);
        let sim = Simulator::new(config).unwrap();
        let server = SimServer::new(config).unwrap();
        let unit = UnitShape::hetal(8, 3, 1 << 10).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = ndarray::Array2::from_shape_fn((16, 4), |(i, j)| (i + j) as f64 / 20.0);
        let labels: Vec<usize> = (0..16).map(|i| i % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        let entries = train
            .iter()
            .map(|b| WireBatch::encode(&server, b).unwrap().entry().unwrap())
            .collect();
        let setup = TrainingSetup {
            hyper: Preset::FaceMask.hyper(),
            variant: SoftmaxVariant::HetalRs,
            unit,
            classes: 3,
            dim: 4,
            validation: ValidationForm::default(),
        };
        let manifest = UploadManifest::new(setup, entries, Vec::new()).unwrap();
        let mut sink = BlobSink::default();
        let initial = client.initial_weights().unwrap();
        let initial_weights = encode_matrix(&server, &initial, &mut sink).unwrap();
        let start = sink.seal(StartTrainingBody {
            job: manifest.job,
            material: MaterialBody::Simulator(config),
            initial_weights,
            validation: None,
        });
        SavedJob { manifest, start }
    }

    #[test]
    fn a_saved_job_round_trips_and_a_damaged_file_is_refused() {
        let dir = TempDir::new("upload");
        super::super::prepare_dir(&dir.0).unwrap();
        let path = upload_path(&dir.0);
        assert!(load_upload(&path, 1 << 30).unwrap().is_none());
        let saved = job();
        save_upload(&path, &saved).unwrap();
        assert_eq!(load_upload(&path, 1 << 30).unwrap(), Some(saved.clone()));
        let bytes = std::fs::read(&path).unwrap();
        assert!(matches!(
            load_upload(&path, 16),
            Err(StoreError::TooLarge { .. })
        ));
        for at in [0, 7, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            match load_upload(&path, 1 << 30) {
                Err(StoreError::Corrupt { path: p, .. }) => assert_eq!(p, path),
                other => panic!("byte {at}: expected Corrupt, got {other:?}"),
            }
        }
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
        assert!(load_upload(&path, 1 << 30).is_err());

        // A start message of another job is refused even with a valid checksum.
        let mut foreign = saved;
        foreign.start.body.job = crate::messages::Sha256Digest([7; 32]);
        save_upload(&path, &foreign).unwrap();
        let e = load_upload(&path, 1 << 30).unwrap_err().to_string();
        assert!(e.contains("of job"), "{e}");
    }
}
