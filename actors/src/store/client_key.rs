//! The data owner's secret key on its own disk, for a client that must outlive its process (a
//! CKKS run continued after a crash decrypts its validation losses and its model with the key
//! it encrypted the data under). The key is written only through `hetal-ckks`'s keystore: a
//! file created with mode 0600 (a 0600 temporary file, fsync, rename), its N ternary
//! coefficients and nothing else; it is read back only from a file that no other user may
//! read, unless the caller overrides ([`KeystoreOptions::allow_readable`]). Evaluation keys are
//! not stored: a reloaded client generates fresh ones under the same secret.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hetal_ckks::params::ParameterSpec;
use hetal_ckks::params::context::Context;
use hetal_ckks::serial::keystore::{
    KeystoreError, KeystoreOptions, load_secret_key_file, save_secret_key_file,
};

use crate::backend::ckks::{CkksClient, CkksServer};
use crate::error::ActorError;

/// The key file's name in a run's checkpoint directory.
pub const CLIENT_KEY_FILE: &str = "client-secret.key";

/// The client's key file in checkpoint directory `dir`.
pub fn client_key_path(dir: &Path) -> PathBuf {
    dir.join(CLIENT_KEY_FILE)
}

/// Why a client key could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientKeyError {
    /// The keystore refused: I/O, a file others may read, not a key of these parameters.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The parameters or the client built on the key were refused.
    #[error("client key {path}: {source}")]
    Client {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: ActorError,
    },
}

/// Saves `client`'s secret key to `path` (mode 0600, atomically, replacing a previous key).
pub fn save_client_key(path: &Path, client: &CkksClient) -> Result<(), ClientKeyError> {
    let secret = client.secret();
    save_secret_key_file(path, secret.secret_key(), secret.context())?;
    Ok(())
}

/// The client of the secret key saved at `path` for parameters `spec` (insecure presets need
/// `allow_insecure`), with fresh evaluation keys for `rotation_steps` and conjugation; a file
/// readable by others is refused unless `options` allows it.
pub fn load_client_key(
    path: &Path,
    spec: &ParameterSpec,
    allow_insecure: bool,
    options: KeystoreOptions,
    rotation_steps: &[isize],
) -> Result<CkksClient, ClientKeyError> {
    let client_error = |source: ActorError| ClientKeyError::Client {
        path: path.to_path_buf(),
        source,
    };
    let ctx: Arc<Context> =
        Context::new(spec, allow_insecure).map_err(|e| client_error(e.into()))?;
    let secret = load_secret_key_file(path, &ctx, options)?;
    CkksClient::from_secret_key(&ctx, secret, rotation_steps).map_err(client_error)
}

/// The client of the secret key saved at `path` around `public`, the key set a job was uploaded
/// with ([`CkksClient::with_public`]): the parameters are `public`'s. A file readable by others
/// is refused unless `options` allows it; whether the key is `public`'s is the caller's check
/// (decrypting a known ciphertext of the job).
pub fn load_client_key_with_public(
    path: &Path,
    public: Arc<CkksServer>,
    options: KeystoreOptions,
) -> Result<CkksClient, ClientKeyError> {
    let secret = load_secret_key_file(path, public.context(), options)?;
    CkksClient::with_public(secret, public).map_err(|source| ClientKeyError::Client {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TempDir;
    use super::*;
    use crate::backend::{ClientBackend, ServerBackend};
    use hetal_learn::eval::{SlotCodec, SlotEvaluator};
    use num_complex::Complex64;

    fn spec(name: &str) -> ParameterSpec {
        hetal_ckks::params::preset(name).unwrap()
    }

    #[test]
    fn a_reloaded_key_decrypts_and_evaluates_what_the_first_process_encrypted() {
        let dir = TempDir::new("client-key");
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = client_key_path(&dir.0);
        let spec = spec("insecure-test-n10");
        let first = CkksClient::generate(&spec, true, &[1], Some([3; 32])).unwrap();
        let values: Vec<Complex64> = (0..8)
            .map(|i| Complex64::new(i as f64 / 8.0 - 0.4, 0.0))
            .collect();
        let codec = first.codec().unwrap();
        let ct = codec.encrypt(&values).unwrap();
        let bytes = first.server().encode_ct(&ct).unwrap();
        let before = codec.decrypt(&ct).unwrap();
        save_client_key(&path, &first).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        drop((ct, codec));
        drop(first);

        // "Another process": a new context, the key from disk, fresh evaluation keys.
        let second = load_client_key(&path, &spec, true, KeystoreOptions::default(), &[1]).unwrap();
        let ct = second.server().decode_ct(&bytes).unwrap();
        let codec = second.codec().unwrap();
        // Decryption is a function of the key and the ciphertext alone: bit for bit the same.
        assert_eq!(codec.decrypt(&ct).unwrap(), before);
        // Its new rotation key is under the same secret: a rotation decrypts to the rotated
        // message within CKKS noise (the error bound computed from the scale).
        // (A fresh encryption's and one key switch's noise stay far below 2^20 units of the
        // scale's last bit at these parameters; under another secret the slots are garbage.)
        let public = second.public().unwrap();
        let ev = public.evaluator().unwrap();
        let out = codec.decrypt(&ev.rotate(&ct, 1).unwrap()).unwrap();
        let bound = f64::from(1u32 << 20) / ev.scale(&ct);
        for i in 0..values.len() - 1 {
            let err = (out[i] - values[i + 1]).norm();
            assert!(
                err < bound,
                "slot {i}: {} vs {}: {err} > {bound}",
                out[i],
                values[i + 1]
            );
        }
    }

    #[test]
    fn a_readable_or_foreign_key_file_is_refused() {
        let dir = TempDir::new("client-key-bad");
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = client_key_path(&dir.0);
        let n10 = spec("insecure-test-n10");
        let client = CkksClient::generate(&n10, true, &[], Some([4; 32])).unwrap();
        save_client_key(&path, &client).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e =
                load_client_key(&path, &n10, true, KeystoreOptions::default(), &[]).unwrap_err();
            assert!(
                matches!(e, ClientKeyError::Keystore(KeystoreError::Readable { .. })),
                "{e}"
            );
            let allowed = KeystoreOptions {
                allow_readable: true,
            };
            assert!(load_client_key(&path, &n10, true, allowed, &[]).is_ok());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        // Another ring degree: not a key of these parameters.
        let e = load_client_key(
            &path,
            &spec("insecure-test-n11"),
            true,
            KeystoreOptions::default(),
            &[],
        )
        .unwrap_err();
        assert!(
            matches!(e, ClientKeyError::Keystore(KeystoreError::Key { .. })),
            "{e}"
        );
        // An insecure preset without the opt-in is refused before the file is read.
        let e = load_client_key(&path, &n10, false, KeystoreOptions::default(), &[]).unwrap_err();
        assert!(matches!(e, ClientKeyError::Client { .. }), "{e}");
        // A damaged file.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x5a;
        std::fs::write(&path, &bytes).unwrap();
        assert!(load_client_key(&path, &n10, true, KeystoreOptions::default(), &[]).is_err());
    }
}
