//! The client's record of the data its job encrypts, beside the run's checkpoints. A CKKS run
//! continued in a new process uploads again the ciphertexts the trainer saved (fresh ones would
//! be another job, and the checkpoints would not resume it), so nothing re-encrypts the data
//! given to the new process: this record (a SHA-256 of the plaintext the saved job encrypts) is
//! what proves that the saved ciphertexts are of that very data.
//!
//! Layout: magic `HCJB`, version `u16`, the 32-byte digest, then SHA-256 of everything before.

use std::path::{Path, PathBuf};

use hetal_learn::train::checkpoint::Digest32;
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, read_bounded, write_atomic};
use crate::deploy::PlainData;

/// The record's file name in a run's checkpoint directory.
pub const CLIENT_JOB_FILE: &str = "client-job.hcjb";
const MAGIC: [u8; 4] = *b"HCJB";
const VERSION: u16 = 1;
/// Length of a record file.
const LEN: usize = 4 + 2 + 32 + 32;

/// The record in checkpoint directory `dir`.
pub fn client_job_path(dir: &Path) -> PathBuf {
    dir.join(CLIENT_JOB_FILE)
}

/// SHA-256 of `data` as the client encrypts it: shapes, then every feature's bits and every
/// label, training set first.
pub fn plaintext_digest(data: &PlainData<'_>) -> Digest32 {
    let mut h = Sha256::new();
    h.update(b"hetal-client-plaintext/1");
    for x in [&data.train_x, &data.val_x] {
        h.update((x.nrows() as u64).to_le_bytes());
        h.update((x.ncols() as u64).to_le_bytes());
        for v in x.iter() {
            h.update(v.to_bits().to_le_bytes());
        }
    }
    h.update((data.train_y.len() as u64).to_le_bytes());
    for &y in data.train_y {
        h.update((y as u64).to_le_bytes());
    }
    h.finalize().into()
}

/// Writes the record of `digest` to `path` (atomically).
pub fn save_client_job(path: &Path, digest: &Digest32) -> StoreResult<()> {
    let mut out = Vec::with_capacity(LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(digest);
    let check: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&check);
    write_atomic(path, &out)
}

/// The digest recorded at `path`, `None` when there is no record; a damaged file is refused
/// with its path.
pub fn load_client_job(path: &Path) -> StoreResult<Option<Digest32>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(path, LEN as u64)?;
    let corrupt = |reason: &str| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if bytes.len() != LEN {
        return Err(corrupt("not a client job record (wrong length)"));
    }
    let (body, check) = bytes.split_at(LEN - 32);
    if Sha256::digest(body).as_slice() != check {
        return Err(corrupt("checksum mismatch (torn or altered file)"));
    }
    if body[..4] != MAGIC || body[4..6] != VERSION.to_le_bytes() {
        return Err(corrupt("not a client job record of this version"));
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&body[6..]);
    Ok(Some(digest))
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TempDir;
    use super::*;
    use ndarray::Array2;

    #[test]
    fn a_record_round_trips_names_its_data_and_refuses_damage() {
        let dir = TempDir::new("client-job");
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = client_job_path(&dir.0);
        assert_eq!(load_client_job(&path).unwrap(), None);
        let x = Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64 / 10.0);
        let v = Array2::from_shape_fn((2, 3), |(i, j)| (i + j) as f64);
        let y = [0usize, 1, 2, 1];
        let data = |x: &Array2<f64>, y: &[usize]| {
            plaintext_digest(&PlainData {
                train_x: x.view(),
                train_y: y,
                val_x: v.view(),
            })
        };
        let digest = data(&x, &y);
        save_client_job(&path, &digest).unwrap();
        assert_eq!(load_client_job(&path).unwrap(), Some(digest));
        // Another feature value or label: another digest.
        let mut x2 = x.clone();
        x2[[3, 2]] += 1e-12;
        assert_ne!(data(&x2, &y), digest);
        assert_ne!(data(&x, &[0, 1, 2, 2]), digest);
        // A flipped byte anywhere: refused with the path.
        let good = std::fs::read(&path).unwrap();
        for i in [0, 5, 20, LEN - 1] {
            let mut bad = good.clone();
            bad[i] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            let e = load_client_job(&path).unwrap_err();
            assert!(e.to_string().contains(CLIENT_JOB_FILE), "{e}");
        }
        std::fs::write(&path, &good[..LEN - 1]).unwrap();
        assert!(load_client_job(&path).is_err());
    }
}
