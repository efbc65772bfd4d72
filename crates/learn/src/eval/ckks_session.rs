//! Real CKKS ciphertexts for the algorithms: the data owner's key holder ([`SecretKeyClient`]) and
//! a one-process session ([`CkksSession`]) bundling context, keys, evaluator and encoder, used by
//! tests and benchmarks. Distributed code splits it: the client keeps [`SecretKeyClient`]; the
//! server builds an [`Evaluator`] from the (public) evaluation keys and wraps it in
//! [`CkksSlots`] with [`NoClient`], as [`CkksSession::server_slots`] does.

use super::ckks::{CkksClient, CkksSlots, NoClient};
use super::ckks_boot::ServerBootstrapper;
use crate::{Error, Result};
use hetal_ckks::circuits::bootstrap::ckks_backend::CkksBackend;
use hetal_ckks::crypto::{Ciphertext, Decryptor, Encryptor};
use hetal_ckks::encoding::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::{EvaluationKeys, KeyGenerator, PublicKey, SecretKey};
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::ParameterSpec;
use hetal_ckks::params::context::Context;
use num_complex::Complex64;
use std::sync::{Arc, Mutex};

fn ckks_err(e: hetal_ckks::Error) -> Error {
    Error::Backend(e.to_string())
}

/// The data owner's side: secret key, public-key encryptor and encoder.
pub struct SecretKeyClient {
    ctx: Arc<Context>,
    encoder: Encoder,
    secret: SecretKey,
    encryptor: Mutex<Encryptor>,
}

impl std::fmt::Debug for SecretKeyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeyClient")
            .field("context", &self.ctx.spec().name)
            .finish_non_exhaustive()
    }
}

impl SecretKeyClient {
    /// Generates a key set for `ctx` (from `seed`, or the OS when `None`) and the evaluation
    /// keys for `rotation_steps` (any sign; normalised to `[0, N/2)`) and conjugation.
    pub fn generate(
        ctx: &Arc<Context>,
        seed: Option<[u8; 32]>,
        rotation_steps: &[isize],
    ) -> Result<(Self, EvaluationKeys)> {
        let keygen = KeyGenerator::new(ctx, client_rng(seed, 0));
        Self::from_generator(ctx, keygen, seed, rotation_steps)
    }

    /// A client for a secret key read back from the client's keystore
    /// (`hetal_ckks::serial::keystore`), with a fresh public key and fresh evaluation keys for
    /// `rotation_steps` and conjugation (from `seed`, or the OS when `None`): a data owner
    /// restarted after a crash decrypts its job's results with it, and can give a party new
    /// evaluation keys under the same secret.
    pub fn from_secret_key(
        ctx: &Arc<Context>,
        secret: SecretKey,
        seed: Option<[u8; 32]>,
        rotation_steps: &[isize],
    ) -> Result<(Self, EvaluationKeys)> {
        let keygen =
            KeyGenerator::with_secret_key(ctx, secret, client_rng(seed, 0)).map_err(ckks_err)?;
        Self::from_generator(ctx, keygen, seed, rotation_steps)
    }

    /// The public key, the evaluation keys for `rotation_steps` and conjugation, and the client
    /// around `keygen`'s secret key (its encryptor seeded apart from the key generator).
    fn from_generator(
        ctx: &Arc<Context>,
        mut keygen: KeyGenerator,
        seed: Option<[u8; 32]>,
        rotation_steps: &[isize],
    ) -> Result<(Self, EvaluationKeys)> {
        let public = keygen.public_key();
        let steps = galois_steps(ctx.max_slots(), rotation_steps)?;
        let eval_keys = keygen.evaluation_keys(&steps, true).map_err(ckks_err)?;
        let client = Self::from_keys(ctx, keygen.into_secret_key(), &public, client_rng(seed, 1))?;
        Ok((client, eval_keys))
    }

    /// The secret key, for the client's own keystore
    /// (`hetal_ckks::serial::keystore::save_secret_key_file`, a 0600 file): the only use it
    /// has outside this type.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// The context the key belongs to.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// A client from a generated key pair (for the other key-set builders of this module's
    /// siblings, such as the bootstrappable one).
    pub(super) fn from_keys(
        ctx: &Arc<Context>,
        secret: SecretKey,
        public: &PublicKey,
        rng: Prng,
    ) -> Result<Self> {
        let encryptor = Encryptor::new(ctx, public, rng).map_err(ckks_err)?;
        Ok(SecretKeyClient {
            ctx: Arc::clone(ctx),
            encoder: Encoder::new(ctx),
            secret,
            encryptor: Mutex::new(encryptor),
        })
    }

    fn encrypt_values(&self, values: &[Complex64], level: usize, scale: f64) -> Result<Ciphertext> {
        let pt = self
            .encoder
            .encode(values, level, scale)
            .map_err(ckks_err)?;
        let mut enc = self
            .encryptor
            .lock()
            .map_err(|_| Error::Backend("encryptor lock poisoned".into()))?;
        enc.encrypt(&pt).map_err(ckks_err)
    }

    fn decrypt_values(&self, ct: &Ciphertext) -> Result<Vec<Complex64>> {
        let pt = Decryptor::new(&self.ctx, &self.secret)
            .and_then(|d| d.decrypt(ct))
            .map_err(ckks_err)?;
        self.encoder.decode(&pt).map_err(ckks_err)
    }
}

/// The Galois steps for `steps`: normalised to `[0, slots)`, without 0, sorted, deduplicated.
pub fn galois_steps(slots: usize, steps: &[isize]) -> Result<Vec<i32>> {
    let mut out = steps
        .iter()
        .map(|&k| k.rem_euclid(slots as isize))
        .filter(|&k| k != 0)
        .map(|k| i32::try_from(k).map_err(|_| Error::InvalidInput(format!("rotation step {k}"))))
        .collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl<'a> CkksClient<CkksBackend<'a>> for SecretKeyClient {
    fn encrypt(
        &self,
        _backend: &CkksBackend<'a>,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<Ciphertext> {
        self.encrypt_values(values, level, scale)
    }

    fn decrypt(&self, _backend: &CkksBackend<'a>, ct: &Ciphertext) -> Result<Vec<Complex64>> {
        self.decrypt_values(ct)
    }
}

impl<'a> CkksClient<CkksBackend<'a>> for &SecretKeyClient {
    fn encrypt(
        &self,
        _backend: &CkksBackend<'a>,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<Ciphertext> {
        self.encrypt_values(values, level, scale)
    }

    fn decrypt(&self, _backend: &CkksBackend<'a>, ct: &Ciphertext) -> Result<Vec<Complex64>> {
        self.decrypt_values(ct)
    }
}

/// Context, keys, evaluator and encoder in one process.
pub struct CkksSession {
    ctx: Arc<Context>,
    encoder: Encoder,
    evaluator: Evaluator,
    client: SecretKeyClient,
    bootstrapper: Option<ServerBootstrapper>,
}

impl std::fmt::Debug for CkksSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksSession")
            .field("context", &self.ctx.spec().name)
            .finish_non_exhaustive()
    }
}

impl CkksSession {
    /// Builds the context of `spec` (insecure presets need `allow_insecure`), generates keys with
    /// the rotations `rotation_steps` and conjugation.
    pub fn new(
        spec: &ParameterSpec,
        allow_insecure: bool,
        rotation_steps: &[isize],
        seed: Option<[u8; 32]>,
    ) -> Result<Self> {
        let ctx = Context::new(spec, allow_insecure).map_err(ckks_err)?;
        let (client, keys) = SecretKeyClient::generate(&ctx, seed, rotation_steps)?;
        let evaluator = Evaluator::new(&ctx, Some(Arc::new(keys))).map_err(ckks_err)?;
        Ok(CkksSession {
            encoder: Encoder::new(&ctx),
            ctx,
            evaluator,
            client,
            bootstrapper: None,
        })
    }

    /// A session from already generated parts (the bootstrappable constructor).
    pub(super) fn from_parts(
        ctx: Arc<Context>,
        evaluator: Evaluator,
        client: SecretKeyClient,
        bootstrapper: Option<ServerBootstrapper>,
    ) -> Self {
        CkksSession {
            encoder: Encoder::new(&ctx),
            ctx,
            evaluator,
            client,
            bootstrapper,
        }
    }

    /// The bootstrapper, for sessions built with [`CkksSession::bootstrappable`].
    pub fn bootstrapper(&self) -> Option<&ServerBootstrapper> {
        self.bootstrapper.as_ref()
    }

    /// The client (secret key holder) of this session.
    pub fn client(&self) -> &SecretKeyClient {
        &self.client
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The evaluator (holding the evaluation keys).
    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// A slot evaluator that can also encrypt and decrypt (tests, benchmarks); it bootstraps
    /// when the session was built with [`CkksSession::bootstrappable`].
    pub fn slots(&self) -> Result<CkksSlots<CkksBackend<'_>, &SecretKeyClient>> {
        if let Some(boot) = &self.bootstrapper {
            return boot.client_slots(&self.evaluator, &self.encoder, &self.client);
        }
        let backend = CkksBackend::new(&self.evaluator, &self.encoder).map_err(ckks_err)?;
        CkksSlots::new(
            backend,
            &self.client,
            self.ctx.max_level(),
            self.ctx.default_scale(),
        )
    }

    /// A key-less slot evaluator (what a server holds); it bootstraps when the session was
    /// built with [`CkksSession::bootstrappable`].
    pub fn server_slots(&self) -> Result<CkksSlots<CkksBackend<'_>, NoClient>> {
        if let Some(boot) = &self.bootstrapper {
            return boot.slots(&self.evaluator, &self.encoder);
        }
        let backend = CkksBackend::new(&self.evaluator, &self.encoder).map_err(ckks_err)?;
        CkksSlots::new(
            backend,
            NoClient,
            self.ctx.max_level(),
            self.ctx.default_scale(),
        )
    }
}

/// The client's random source number `tweak`: `seed` with its first byte flipped by `tweak`
/// (so key generation and encryption draw apart), or the OS when `None`.
fn client_rng(seed: Option<[u8; 32]>, tweak: u8) -> Prng {
    match seed {
        Some(mut s) => {
            s[0] ^= tweak;
            Prng::from_seed(s)
        }
        None => Prng::from_os(),
    }
}
