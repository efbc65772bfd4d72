//! The record a checkpointed run leaves beside its checkpoints once it has finished and written
//! its outputs: which run it was (a digest of its configuration and data) and where its model
//! and report are. A CKKS trainer removes its saved upload when the client has its model, so
//! such a run cannot be continued; `--resume` on it finds this record instead and says where
//! the results are.
//!
//! Layout: magic `HFIN`, version `u16`, the 32-byte run digest, then three paths (model, JSON
//! report, HTML report), each a `u16` length and UTF-8 bytes, then SHA-256 of everything before.

use std::path::{Path, PathBuf};

use hetal_learn::train::checkpoint::Digest32;
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, read_bounded, write_atomic};

/// The record's file name in a run's checkpoint directory.
pub const FINISHED_RUN_FILE: &str = "run-finished.hfin";
const MAGIC: [u8; 4] = *b"HFIN";
const VERSION: u16 = 1;
/// Longest path stored, bytes.
const MAX_PATH_BYTES: usize = 4096;
/// Largest record file.
const MAX_LEN: usize = 4 + 2 + 32 + 3 * (2 + MAX_PATH_BYTES) + 32;

/// A finished run: what it was and where its results are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    /// Digest of the run's configuration and data (the caller defines it).
    pub run: Digest32,
    /// The decrypted model.
    pub model: PathBuf,
    /// The JSON report.
    pub report_json: PathBuf,
    /// The HTML report.
    pub report_html: PathBuf,
}

/// The record in checkpoint directory `dir`.
pub fn finished_run_path(dir: &Path) -> PathBuf {
    dir.join(FINISHED_RUN_FILE)
}

/// Writes `run` to `path` (atomically); paths longer than 4096 bytes or not UTF-8 are refused.
pub fn save_finished_run(path: &Path, run: &FinishedRun) -> StoreResult<()> {
    let mut out = Vec::with_capacity(MAX_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&run.run);
    for p in [&run.model, &run.report_json, &run.report_html] {
        let text = p
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not UTF-8", p.display())))?;
        let len = u16::try_from(text.len())
            .ok()
            .filter(|&l| usize::from(l) <= MAX_PATH_BYTES)
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "{}: longer than {MAX_PATH_BYTES} bytes",
                    p.display()
                ))
            })?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    let check: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&check);
    write_atomic(path, &out)
}

/// The record at `path`, `None` when there is none; a damaged file is refused with its path.
pub fn load_finished_run(path: &Path) -> StoreResult<Option<FinishedRun>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(path, MAX_LEN as u64)?;
    let corrupt = |reason: &str| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if bytes.len() < 4 + 2 + 32 + 32 {
        return Err(corrupt("not a finished-run record (too short)"));
    }
    let (body, check) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != check {
        return Err(corrupt("checksum mismatch (torn or altered file)"));
    }
    if body[..4] != MAGIC || body[4..6] != VERSION.to_le_bytes() {
        return Err(corrupt("not a finished-run record of this version"));
    }
    let mut run = [0u8; 32];
    run.copy_from_slice(&body[6..38]);
    let mut rest = &body[38..];
    let mut next_path = || -> StoreResult<PathBuf> {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| corrupt("truncated path length"))?;
        let len = usize::from(u16::from_le_bytes(*len));
        if len > tail.len() {
            return Err(corrupt("truncated path"));
        }
        let (text, tail) = tail.split_at(len);
        rest = tail;
        let text = std::str::from_utf8(text).map_err(|_| corrupt("a path is not UTF-8"))?;
        Ok(PathBuf::from(text))
    };
    let record = FinishedRun {
        run,
        model: next_path()?,
        report_json: next_path()?,
        report_html: next_path()?,
    };
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TempDir;
    use super::*;

    #[test]
    fn a_record_round_trips_and_damage_is_refused_with_the_path() {
        let dir = TempDir::new("finished");
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = finished_run_path(&dir.0);
        assert_eq!(load_finished_run(&path).unwrap(), None);
        let record = FinishedRun {
            run: [7; 32],
            model: "/runs/a/model.hetal".into(),
            report_json: "/runs/a/report.json".into(),
            report_html: "/runs/a/report ü.html".into(),
        };
        save_finished_run(&path, &record).unwrap();
        assert_eq!(load_finished_run(&path).unwrap(), Some(record.clone()));
        let good = std::fs::read(&path).unwrap();
        for i in [0, 5, 10, 40, good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            let e = load_finished_run(&path).unwrap_err();
            assert!(e.to_string().contains(FINISHED_RUN_FILE), "{e}");
        }
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(load_finished_run(&path).is_err());
        std::fs::write(&path, vec![0u8; MAX_LEN + 1]).unwrap();
        assert!(matches!(
            load_finished_run(&path),
            Err(StoreError::TooLarge { .. })
        ));
        // An overlong path is refused when saving, not truncated.
        let long = FinishedRun {
            model: "m".repeat(MAX_PATH_BYTES + 1).into(),
            ..record
        };
        assert!(save_finished_run(&path, &long).is_err());
    }
}
