//! Client-side keystore format of the secret key — the only way a secret key becomes bytes.
//!
//! There is deliberately no `Serial` or serde implementation for [`SecretKey`]: no message type
//! can carry it. The client calls [`save_secret_key_bytes`] explicitly. The payload is the key's
//! N ternary coefficients, one signed byte each (N bytes instead of the (L+K)·N words of the NTT
//! form); every intermediate buffer holding secret material is wiped, and the returned bytes are
//! wiped when dropped.
//!
//! The crate's only file I/O is here, because a key file's permissions are part of keeping the
//! key: [`save_secret_key_file`] creates the file with mode 0600 (atomically: a 0600 temporary
//! file in the same directory, fsync, rename) and [`load_secret_key_file`] refuses, on unix, a
//! file that group or others may read unless [`KeystoreOptions::allow_readable`] says otherwise.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::{Zeroize, Zeroizing};

use super::codec::context_fingerprint;
use super::container::{self, ObjectKind};
use crate::error::{Error, Result};
use crate::keys::SecretKey;
use crate::math::poly::RnsPoly;
use crate::params::SecretDistribution;
use crate::params::context::Context;

/// Serializes the secret key for the client's own storage (encrypt it at rest if the storage is
/// not trusted). The key must belong to `ctx`.
pub fn save_secret_key_bytes(sk: &SecretKey, ctx: &Context) -> Result<Zeroizing<Vec<u8>>> {
    if sk.context_id() != ctx.id() {
        return Err(Error::ParameterMismatch(
            "secret key belongs to another context".into(),
        ));
    }
    let n = ctx.n();
    let poly = sk.poly();
    if poly.n() != n || poly.num_q() == 0 {
        return Err(Error::InvalidInput(
            "secret key shape does not match the context".into(),
        ));
    }
    let table = &ctx.ring().q_tables()[0];
    let mut coeffs = Zeroizing::new(poly.limb(0).to_vec());
    table.inverse(&mut coeffs);
    let modulus = table.modulus();
    let mut payload = Zeroizing::new(Vec::with_capacity(n));
    for &c in coeffs.iter() {
        let v = modulus.center(c);
        if !(-1..=1).contains(&v) {
            return Err(Error::InvalidInput(
                "secret key coefficients are not ternary; the keystore stores ternary keys only"
                    .into(),
            ));
        }
        payload.push(v as i8 as u8);
    }
    Ok(Zeroizing::new(container::seal(
        ObjectKind::SecretKey,
        context_fingerprint(ctx),
        &payload,
    )))
}

/// Reads a secret key written by [`save_secret_key_bytes`], checking the container, that every
/// coefficient is in {-1, 0, 1} and, for a sparse secret, the Hamming weight.
pub fn load_secret_key_bytes(bytes: &[u8], ctx: &Arc<Context>) -> Result<SecretKey> {
    let mut r = container::open(bytes, ObjectKind::SecretKey, Some(context_fingerprint(ctx)))?;
    let n = ctx.n();
    let raw = r.take(n, "secret key coefficients")?;
    r.finish("secret key")?;
    let mut coeffs: Zeroizing<Vec<i64>> = Zeroizing::new(Vec::with_capacity(n));
    for (i, &b) in raw.iter().enumerate() {
        let v = i64::from(b as i8);
        if !(-1..=1).contains(&v) {
            return Err(Error::Serialization(format!(
                "secret key coefficient {i} is {v}, not in {{-1, 0, 1}}"
            )));
        }
        coeffs.push(v);
    }
    if let SecretDistribution::SparseTernary { hamming_weight } = ctx.spec().secret {
        let weight = coeffs.iter().filter(|&&c| c != 0).count();
        if weight != hamming_weight {
            return Err(Error::Serialization(format!(
                "secret key has Hamming weight {weight}, the parameters require {hamming_weight}"
            )));
        }
    }
    let ring = ctx.ring();
    let mut poly = RnsPoly::from_signed(ring, &coeffs, ctx.max_level() + 1, ctx.num_p());
    poly.ntt(ring);
    let sk = SecretKey::from_poly(poly, ctx.id());
    coeffs.zeroize();
    Ok(sk)
}

/// Largest keystore file [`load_secret_key_file`] reads: the container header plus one byte per
/// coefficient of the largest supported ring (N = 2^17), with room to spare. Anything larger is
/// not a keystore and is refused before reading it.
pub const MAX_KEYSTORE_FILE_BYTES: u64 = 1 << 20;

/// How [`load_secret_key_file`] treats the file's permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeystoreOptions {
    /// Accept a key file that group or others may read (for example on a file system without
    /// unix permissions). Off by default: such a key may already have leaked.
    pub allow_readable: bool,
}

/// Why a keystore file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The file system refused an operation.
    #[error("keystore {path}: {source}")]
    Io {
        /// The file (or its temporary sibling).
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The key file may be read by other users, so the key may already have leaked.
    #[error(
        "keystore {path} has mode {mode:04o}: readable by {who}; run `chmod 600 {path}` (and consider the key compromised if others could read it), or load with KeystoreOptions {{ allow_readable: true }} to accept it"
    )]
    Readable {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// "group", "others" or "group and others".
        who: &'static str,
    },
    /// The file is larger than any keystore ([`MAX_KEYSTORE_FILE_BYTES`]).
    #[error("keystore {path} is {len} bytes, more than the {limit} a keystore file can be")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a secret key for these parameters (see [`load_secret_key_bytes`]).
    #[error("keystore {path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The format or parameter error.
        source: Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens a new file that only its owner may read or write (mode 0600 on unix, set at creation:
/// the key is never on disk with wider permissions).
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes the secret key to `path` (replacing an existing file) with mode 0600 on unix. The
/// bytes go to a 0600 temporary file in the same directory, which is synced and renamed over
/// `path`, and the directory is synced: a crash leaves either the old file or the new one.
pub fn save_secret_key_file(
    path: &Path,
    sk: &SecretKey,
    ctx: &Context,
) -> std::result::Result<(), KeystoreError> {
    let bytes = save_secret_key_bytes(sk, ctx).map_err(|source| KeystoreError::Key {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.file_name().ok_or_else(|| KeystoreError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut file = create_private(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(source) = written {
        // Best effort: the temporary file holds key material; the error reported is the write's.
        let _ = fs::remove_file(&tmp);
        return Err(KeystoreError::Io {
            path: tmp.clone(),
            source,
        });
    }
    sync_parent(path).map_err(io_error(path))
}

/// Syncs the directory holding `path`, so that a rename into it survives a crash.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Refuses a file whose permission bits let group or others read it, unless `options` allows it.
fn check_permissions(
    path: &Path,
    file: &File,
    options: KeystoreOptions,
) -> std::result::Result<(), KeystoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .map_err(io_error(path))?
            .permissions()
            .mode()
            & 0o7777;
        let who = match (mode & 0o040 != 0, mode & 0o004 != 0) {
            (true, true) => Some("group and others"),
            (true, false) => Some("group"),
            (false, true) => Some("others"),
            (false, false) => None,
        };
        if let Some(who) = who
            && !options.allow_readable
        {
            return Err(KeystoreError::Readable {
                path: path.to_path_buf(),
                mode,
                who,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file, options);
    Ok(())
}

/// Reads a secret key written by [`save_secret_key_file`] (or [`save_secret_key_bytes`]),
/// checking the file's permissions first (see [`KeystoreOptions`]) and its size before reading.
pub fn load_secret_key_file(
    path: &Path,
    ctx: &Arc<Context>,
    options: KeystoreOptions,
) -> std::result::Result<SecretKey, KeystoreError> {
    let file = File::open(path).map_err(io_error(path))?;
    check_permissions(path, &file, options)?;
    let len = file.metadata().map_err(io_error(path))?.len();
    if len > MAX_KEYSTORE_FILE_BYTES {
        return Err(KeystoreError::TooLarge {
            path: path.to_path_buf(),
            len,
            limit: MAX_KEYSTORE_FILE_BYTES,
        });
    }
    // `len` is bounded above; the read is bounded too, in case the file grows meanwhile.
    let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize));
    file.take(MAX_KEYSTORE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() as u64 > MAX_KEYSTORE_FILE_BYTES {
        return Err(KeystoreError::TooLarge {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
            limit: MAX_KEYSTORE_FILE_BYTES,
        });
    }
    load_secret_key_bytes(&bytes, ctx).map_err(|source| KeystoreError::Key {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod file_tests {
    use super::*;
    use crate::keys::KeyGenerator;
    use crate::math::sample::Prng;
    use crate::params::presets;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "hetal-keystore-{tag}-{}-{nanos}",
                std::process::id()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// INSECURE test parameters (N = 2^10).
    fn keygen() -> (Arc<Context>, KeyGenerator) {
        let ctx = Context::new(&presets::preset("insecure-test-n10").unwrap(), true).unwrap();
        let keygen = KeyGenerator::new(&ctx, Prng::from_seed([9; 32]));
        (ctx, keygen)
    }

    #[test]
    fn saved_key_file_round_trips() {
        let (ctx, keygen) = keygen();
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("client.key");
        save_secret_key_file(&path, keygen.secret_key(), &ctx).unwrap();
        // Saving again replaces the file and leaves no temporary sibling behind.
        save_secret_key_file(&path, keygen.secret_key(), &ctx).unwrap();
        let names: Vec<_> = fs::read_dir(&dir.0).unwrap().collect();
        assert_eq!(names.len(), 1);
        let back = load_secret_key_file(&path, &ctx, KeystoreOptions::default()).unwrap();
        assert_eq!(back.poly(), keygen.secret_key().poly());
    }

    #[test]
    fn a_foreign_or_oversized_file_is_a_typed_error() {
        let (ctx, _) = keygen();
        let dir = TempDir::new("foreign");
        let path = dir.0.join("junk.key");
        fs::write(&path, b"not a key").unwrap();
        set_mode(&path, 0o600);
        assert!(matches!(
            load_secret_key_file(&path, &ctx, KeystoreOptions::default()),
            Err(KeystoreError::Key { .. })
        ));
        fs::write(&path, vec![0u8; MAX_KEYSTORE_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            load_secret_key_file(&path, &ctx, KeystoreOptions::default()),
            Err(KeystoreError::TooLarge { .. })
        ));
        assert!(matches!(
            load_secret_key_file(&dir.0.join("missing.key"), &ctx, KeystoreOptions::default()),
            Err(KeystoreError::Io { .. })
        ));
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(not(unix))]
    fn set_mode(_: &Path, _: u32) {}

    #[cfg(unix)]
    #[test]
    fn key_files_are_created_owner_only_even_over_a_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let (ctx, keygen) = keygen();
        let dir = TempDir::new("mode");
        let path = dir.0.join("client.key");
        fs::write(&path, b"old").unwrap();
        set_mode(&path, 0o644);
        save_secret_key_file(&path, keygen.secret_key(), &ctx).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key file mode {mode:o}");
    }

    #[cfg(unix)]
    #[test]
    fn readable_key_files_are_refused_unless_allowed() {
        let (ctx, keygen) = keygen();
        let dir = TempDir::new("readable");
        let path = dir.0.join("client.key");
        save_secret_key_file(&path, keygen.secret_key(), &ctx).unwrap();
        for (mode, who) in [
            (0o640, "group"),
            (0o604, "others"),
            (0o644, "group and others"),
        ] {
            set_mode(&path, mode);
            match load_secret_key_file(&path, &ctx, KeystoreOptions::default()) {
                Err(e @ KeystoreError::Readable { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("readable by {who};")), "{msg}");
                    assert!(msg.contains("chmod 600"), "{msg}");
                    assert!(msg.contains("allow_readable"), "{msg}");
                }
                other => panic!("mode {mode:o}: expected Readable, got {:?}", other.err()),
            }
            let allowed = KeystoreOptions {
                allow_readable: true,
            };
            let back = load_secret_key_file(&path, &ctx, allowed).unwrap();
            assert_eq!(back.poly(), keygen.secret_key().poly());
        }
        // Owner-only modes (write bit, execute bits of others) are not "readable".
        set_mode(&path, 0o611);
        assert!(load_secret_key_file(&path, &ctx, KeystoreOptions::default()).is_ok());
    }
}
