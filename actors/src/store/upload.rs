//! The training job's upload on the trainer's disk, next to its checkpoints: a trainer process
//! that was killed finds the job (material, encrypted batches, initial weights) here when it
//! restarts and resumes it from its newest checkpoint without the client uploading again.
//!
//! Layout (little-endian): magic `HUPL`, version `u16`, the message's meta length `u64` and
//! bytes, its bulk length `u64` and bytes (the runtime's payload of the message, so the body
//! is decoded by the message's own bounded decoder), then SHA-256 of everything before it.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use hetal_runtime::{Message, Payload};
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, read_bounded, write_atomic};
use crate::messages::UploadTraining;

/// First bytes of an upload file.
const MAGIC: [u8; 4] = *b"HUPL";
/// Version of the layout.
const VERSION: u16 = 1;
/// The file's name in the checkpoint directory.
pub const UPLOAD_FILE: &str = "upload.hupl";

/// The file holding the job uploaded to a trainer checkpointing into `dir`.
pub fn upload_path(dir: &Path) -> PathBuf {
    dir.join(UPLOAD_FILE)
}

/// Writes `msg` to `path` atomically.
pub fn save_upload(path: &Path, msg: &UploadTraining) -> StoreResult<()> {
    let payload = msg
        .clone()
        .into_payload()
        .map_err(|e| StoreError::Codec(e.to_string()))?;
    let mut out = Vec::with_capacity(4 + 2 + 16 + payload.meta.len() + payload.bulk.len() + 32);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for part in [&payload.meta, &payload.bulk] {
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

fn decode(bytes: &[u8]) -> Result<UploadTraining, String> {
    if bytes.len() < 4 + 2 + 16 + 32 {
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
    let meta = part(&mut rest)?;
    let bulk = part(&mut rest)?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    UploadTraining::from_payload(Payload { meta, bulk }).map_err(|e| e.to_string())
}

/// The upload saved at `path`, or `None` when there is none; a corrupt file (or one larger than
/// `limit` bytes) is refused with its path.
pub fn load_upload(path: &Path, limit: u64) -> StoreResult<Option<UploadTraining>> {
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
    use crate::messages::{BlobSink, TrainingSetup, UploadTrainingBody};
    use hetal_learn::eval::SimConfig;
    use hetal_learn::pack::UnitShape;
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::Preset;
    use hetal_learn::train::client::ValidationForm;

    fn upload() -> UploadTraining {
        use crate::backend::MaterialBody;
        use crate::backend::sim::SimServer;
        use crate::messages::{encode_batch, encode_matrix};
        use hetal_learn::eval::Simulator;
        use hetal_learn::train::TrainingClient;
        let config = SimConfig::with_slots(1 << 10);
        let sim = Simulator::new(config).unwrap();
        let server = SimServer::new(config).unwrap();
        let unit = UnitShape::hetal(8, 3, 1 << 10).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = ndarray::Array2::from_shape_fn((16, 4), |(i, j)| (i + j) as f64 / 20.0);
        let labels: Vec<usize> = (0..16).map(|i| i % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        let mut sink = BlobSink::default();
        let train = train
            .iter()
            .map(|b| encode_batch(&server, b, &mut sink).unwrap())
            .collect();
        let initial = client.initial_weights().unwrap();
        let initial_weights = encode_matrix(&server, &initial, &mut sink).unwrap();
        sink.seal(UploadTrainingBody {
            setup: TrainingSetup {
                hyper: Preset::FaceMask.hyper(),
                variant: SoftmaxVariant::HetalRs,
                unit,
                classes: 3,
                dim: 4,
                validation: ValidationForm::default(),
            },
            material: MaterialBody::Simulator(config),
            train,
            initial_weights,
            validation: None,
        })
    }

    #[test]
    fn an_upload_round_trips_and_a_damaged_file_is_refused() {
        let dir = TempDir::new("upload");
        super::super::prepare_dir(&dir.0).unwrap();
        let path = upload_path(&dir.0);
        assert!(load_upload(&path, 1 << 30).unwrap().is_none());
        let msg = upload();
        save_upload(&path, &msg).unwrap();
        assert_eq!(load_upload(&path, 1 << 30).unwrap(), Some(msg));
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
    }
}
