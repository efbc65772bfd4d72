//! What the trainer keeps on disk: training checkpoints ([`checkpoint`]) and the uploaded
//! encrypted dataset ([`dataset`]), so that a restarted trainer continues where it stopped and
//! a dataset larger than memory streams through a bounded cache.
//! The job's upload as received ([`upload`]) lets a restarted trainer process resume without the
//! client; the client keeps its own verdicts ([`review`]) so that the early-stopping dialogue
//! resumes too, and, for a CKKS run continued in a new process, its secret key ([`client_key`])
//! and a digest of the data its saved job encrypts ([`client_job`]); a run that finished leaves
//! a record of where its results are ([`finished`]).
//!
//! Every file is written atomically ([`write_atomic`]: a temporary file in the same directory,
//! fsync, rename, fsync of the directory), so a crash leaves the old file or the new one, never a
//! torn one; every file is checked when read back (a SHA-256 over its contents).

pub mod checkpoint;
pub mod client_job;
pub mod client_key;
pub mod dataset;
pub mod finished;
pub mod review;
pub mod upload;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hetal_learn::train::checkpoint::CheckpointError;

use crate::error::ActorError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system refused an operation.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A checkpoint file was refused (corrupt, truncated, foreign...): nothing was loaded.
    #[error("checkpoint {path} refused: {source}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CheckpointError,
    },
    /// A file is larger than the store accepts.
    #[error("{path} is {len} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A stored file does not match what was written (bit rot, another process, tampering).
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A configuration value is unusable.
    #[error("store configuration: {0}")]
    Config(String),
    /// The backend could not (de)serialize a ciphertext.
    #[error("ciphertext: {0}")]
    Codec(String),
}

impl From<StoreError> for ActorError {
    fn from(e: StoreError) -> Self {
        ActorError::Config(format!("store: {e}"))
    }
}

/// Result with [`StoreError`].
pub type StoreResult<T> = std::result::Result<T, StoreError>;

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Marks the temporary files of [`write_atomic`]: `.<name>.tmp-<pid>-<n>`.
const TEMP_MARK: &str = ".tmp-";

/// Whether `name` is a temporary file left by [`write_atomic`] (after a crash).
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(TEMP_MARK)
}

/// Creates `dir` (and its parents) if needed, owner-only on unix, and removes temporary files a
/// crashed writer left in it.
pub(crate) fn prepare_dir(dir: &Path) -> StoreResult<()> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    }
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if entry.file_name().to_str().is_some_and(is_temp_name) {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a new owner-only temporary file in the same directory,
/// write, fsync, rename over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| StoreError::Config(format!("{} is not a file path", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{name}{TEMP_MARK}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::Io { path: tmp, source });
    }
    sync_dir(path)
}

/// Syncs the directory holding `path`, so that a rename into it survives a crash.
fn sync_dir(path: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Reads a whole file of at most `limit` bytes (checked before reading, and while reading in
/// case the file grows).
pub fn read_bounded(path: &Path, limit: u64) -> StoreResult<Vec<u8>> {
    let file = File::open(path).map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    let too_large = |len| StoreError::TooLarge {
        path: path.to_path_buf(),
        len,
        limit,
    };
    if len > limit {
        return Err(too_large(len));
    }
    let capacity = usize::try_from(len).map_err(|_| too_large(len))?;
    let mut bytes = Vec::with_capacity(capacity);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod test_dir {
    use std::path::PathBuf;

    /// A fresh directory under the system's temporary directory, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            TempDir(
                std::env::temp_dir()
                    .join(format!("hetal-store-{tag}-{}-{nanos}", std::process::id())),
            )
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_dir::TempDir;
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = TempDir::new("atomic");
        prepare_dir(&dir.0).unwrap();
        let path = dir.0.join("f.bin");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second version").unwrap();
        assert_eq!(read_bounded(&path, 100).unwrap(), b"second version");
        assert!(matches!(
            read_bounded(&path, 5),
            Err(StoreError::TooLarge { len: 14, .. })
        ));
        // A temporary file a crashed writer left behind is removed when the directory is opened.
        let stale = dir.0.join(".f.bin.tmp-1-0");
        fs::write(&stale, b"torn").unwrap();
        prepare_dir(&dir.0).unwrap();
        let names: Vec<_> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.bin")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
