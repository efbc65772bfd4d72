//! The CKKS backend: real ciphertexts, serialized with `hetal-ckks`'s `serial` format (checked
//! against the receiver's parameters). The server half is built from public material alone —
//! the parameter spec, evaluation keys and, for a party that bootstraps, the client's
//! sparse-secret encapsulation keys; only [`CkksClient`] holds a [`SecretKeyClient`].
//!
//! Each party receives only the keys it needs ([`KeyScope`]): at N = 2^16 the bootstrapping key
//! set is gigabytes, so the workers (matrix-multiplication units) and an evaluator sending
//! logits get relinearization and a handful of rotation keys, and only the trainer gets it all.
//! The bootstrap's parameters are not sent: both sides derive them from the spec with
//! [`bootstrap_params_for`], the one choice per preset every caller agrees on.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use hetal_ckks::circuits::bootstrap::SparseSecretKeys;
use hetal_ckks::circuits::bootstrap::ckks_backend::CkksBackend;
use hetal_ckks::crypto::Ciphertext;
use hetal_ckks::encoding::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::{EvaluationKeys, GaloisKeys};
use hetal_ckks::params::ParameterSpec;
use hetal_ckks::params::context::Context;
use hetal_ckks::serial;
use hetal_learn::eval::{
    CkksSlots, NoClient, SecretKeyClient, ServerBootstrapper, SimConfig, bootstrap_params_for,
};

use super::digest::KeyDigests;
use super::key_registry::{self, PublicMaterial, Sealed};
use super::rotations::{KeyScope, training_rotations};
use super::{
    BootstrapMaterial, ClientBackend, MaterialBody, MaterialDigest, MaterialOffer, ServerBackend,
    ServerOptions, blob,
};
use crate::error::{ActorError, Result};
use crate::messages::{BlobSink, TrainingSetup};

/// CKKS on a key-less node: context, evaluator (the evaluation keys it was sent), encoder and,
/// when it was sent the bootstrapping material, a bootstrapper. Shared by the parties of one
/// process through [`key_registry`] (it holds public material only).
pub struct CkksServer {
    ctx: Arc<Context>,
    keys: Arc<EvaluationKeys>,
    evaluator: Evaluator,
    encoder: Encoder,
    bootstrap: Option<ServerBootstrap>,
    /// Content digests of its keys, computed on first use.
    digests: OnceLock<KeyDigests>,
}

impl Sealed for CkksServer {}
impl PublicMaterial for CkksServer {}

/// A server's bootstrapping: the planned bootstrapper and the encapsulation keys it came from
/// (passed on to parties that also bootstrap).
struct ServerBootstrap {
    bootstrapper: ServerBootstrapper,
    sparse: Option<Arc<SparseSecretKeys>>,
}

impl std::fmt::Debug for CkksServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksServer")
            .field("params", &self.ctx.spec().name)
            .field("galois_keys", &self.keys.galois.len())
            .field("bootstraps", &self.bootstrap.is_some())
            .finish_non_exhaustive()
    }
}

impl CkksServer {
    /// A server for `ctx` with `keys` (no bootstrapping).
    pub fn new(ctx: &Arc<Context>, keys: EvaluationKeys) -> Result<Self> {
        Self::with_keys(ctx, Arc::new(keys), None)
    }

    /// A server for `ctx` with `keys` that bootstraps with the encapsulation keys `sparse`
    /// (`None` when the secret is sparse itself), with the preset's bootstrap parameters.
    pub fn bootstrapping(
        ctx: &Arc<Context>,
        keys: Arc<EvaluationKeys>,
        sparse: Option<Arc<SparseSecretKeys>>,
    ) -> Result<Self> {
        let params = bootstrap_params_for(ctx.spec())?;
        let bootstrapper = ServerBootstrapper::new(ctx, params, sparse.clone())?;
        Self::with_keys(
            ctx,
            keys,
            Some(ServerBootstrap {
                bootstrapper,
                sparse,
            }),
        )
    }

    fn with_keys(
        ctx: &Arc<Context>,
        keys: Arc<EvaluationKeys>,
        bootstrap: Option<ServerBootstrap>,
    ) -> Result<Self> {
        Ok(Self {
            evaluator: Evaluator::new(ctx, Some(Arc::clone(&keys)))?,
            encoder: Encoder::new(ctx),
            keys,
            ctx: Arc::clone(ctx),
            bootstrap,
            digests: OnceLock::new(),
        })
    }

    /// Content digests of its keys (hashed once, in parallel, on first use).
    fn key_digests(&self) -> Result<&KeyDigests> {
        if let Some(d) = self.digests.get() {
            return Ok(d);
        }
        let sparse = self.bootstrap.as_ref().map(|b| b.sparse.as_deref());
        let computed = KeyDigests::compute(&self.ctx, &self.keys, sparse)?;
        Ok(self.digests.get_or_init(|| computed))
    }

    /// The content digest of everything it holds (what a receiver of its material computes).
    pub fn material_digest(&self) -> Result<MaterialDigest> {
        self.key_digests()?
            .material(&self.keys.galois.elements().collect())
    }

    /// A server holding the `scope` subset of its keys, sharing their key-switching keys (no
    /// copy of any residue), without bootstrapping unless the scope is everything.
    fn view(self: &Arc<Self>, scope: &KeyScope) -> Result<Arc<Self>> {
        if *scope == KeyScope::Full {
            return Ok(Arc::clone(self));
        }
        let keys = scoped_keys(&self.ctx, &self.keys, scope)?;
        let elements: BTreeSet<u64> = keys.galois.elements().collect();
        let view = Self::new(&self.ctx, keys)?;
        if let Ok(d) = self.key_digests() {
            let _ = view.digests.set(d.restricted(&elements));
        }
        Ok(Arc::new(view))
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The evaluation keys it holds.
    pub fn keys(&self) -> &EvaluationKeys {
        &self.keys
    }

    /// Its bootstrapper, when it was sent the bootstrapping material.
    pub fn bootstrapper(&self) -> Option<&ServerBootstrapper> {
        self.bootstrap.as_ref().map(|b| &b.bootstrapper)
    }
}

/// The Galois elements of the rotation steps (and conjugation) of `scope`; `None` for
/// [`KeyScope::Full`].
fn scope_elements(ctx: &Context, scope: &KeyScope) -> Result<Option<BTreeSet<u64>>> {
    let KeyScope::Rotations { steps, conjugation } = scope else {
        return Ok(None);
    };
    let mut elements: BTreeSet<u64> = BTreeSet::new();
    let order = (ctx.n() / 2) as isize;
    for &k in steps {
        let k = k.rem_euclid(order);
        if k != 0 {
            let k = i32::try_from(k)
                .map_err(|_| ActorError::Config(format!("rotation step {k} out of range")))?;
            elements.insert(ctx.galois_element_for_rotation(k));
        }
    }
    if *conjugation {
        elements.insert(ctx.galois_element_for_conjugation());
    }
    Ok(Some(elements))
}

/// `keys` restricted to `scope`. The subset's keys share their key-switching keys with `keys`
/// (a clone of a Galois or relinearization key copies no residue).
fn scoped_keys(ctx: &Context, keys: &EvaluationKeys, scope: &KeyScope) -> Result<EvaluationKeys> {
    let Some(elements) = scope_elements(ctx, scope)? else {
        return Ok(keys.clone());
    };
    let mut galois = GaloisKeys::default();
    for element in elements {
        let key = keys.galois.get(element).ok_or_else(|| {
            ActorError::Config(format!(
                "no Galois key for element {element}: the client's keys lack a rotation the job needs"
            ))
        })?;
        galois.insert(key.clone());
    }
    Ok(EvaluationKeys {
        relin: keys.relin.clone(),
        galois,
        context_id: keys.context_id,
    })
}

/// The public material of `scope` from a context, its keys and bootstrapping.
fn scoped_material(
    ctx: &Context,
    keys: &EvaluationKeys,
    bootstrap: Option<&ServerBootstrap>,
    scope: &KeyScope,
    sink: &mut BlobSink,
) -> Result<MaterialBody> {
    let spec = sink.push(serial::spec_to_bytes(ctx.spec()));
    let eval_keys = match scope {
        KeyScope::Full => sink.push(serial::to_bytes(keys, ctx)?),
        KeyScope::Rotations { .. } => {
            sink.push(serial::to_bytes(&scoped_keys(ctx, keys, scope)?, ctx)?)
        }
    };
    let bootstrap = match (scope, bootstrap) {
        (KeyScope::Full, Some(b)) => Some(BootstrapMaterial {
            sparse_keys: b
                .sparse
                .as_ref()
                .map(|s| Ok::<_, ActorError>(sink.push(s.to_bytes(ctx)?)))
                .transpose()?,
        }),
        _ => None,
    };
    Ok(MaterialBody::Ckks {
        spec,
        eval_keys,
        bootstrap,
    })
}

impl ServerBackend for CkksServer {
    type Ct = Ciphertext;
    type Eval<'a> = CkksSlots<CkksBackend<'a>, NoClient>;

    fn from_material(
        material: &MaterialBody,
        blobs: &[Bytes],
        options: ServerOptions,
    ) -> Result<Self> {
        let MaterialBody::Ckks {
            spec,
            eval_keys,
            bootstrap,
        } = material
        else {
            return Err(ActorError::Protocol(match material {
                MaterialBody::Held(digest) => {
                    format!("material {digest} sent by reference to a node that does not hold it")
                }
                _ => "simulator material sent to a CKKS node".into(),
            }));
        };
        let spec: ParameterSpec = serial::spec_from_bytes(blob(blobs, *spec)?)?;
        let ctx = Context::new(&spec, options.allow_insecure)?;
        let keys: EvaluationKeys = serial::from_bytes(blob(blobs, *eval_keys)?, &ctx)?;
        match bootstrap {
            None => Self::new(&ctx, keys),
            Some(b) => {
                let sparse = b
                    .sparse_keys
                    .map(|i| -> Result<_> {
                        Ok(Arc::new(SparseSecretKeys::from_bytes(
                            blob(blobs, i)?,
                            &ctx,
                        )?))
                    })
                    .transpose()?;
                Self::bootstrapping(&ctx, Arc::new(keys), sparse)
            }
        }
    }

    fn from_material_shared(
        material: &MaterialBody,
        blobs: &[Bytes],
        options: ServerOptions,
        pinned: Option<Arc<Self>>,
    ) -> Result<Arc<Self>> {
        if let MaterialBody::Held(digest) = material {
            return pinned.or_else(|| Self::held(digest)).ok_or_else(|| {
                ActorError::Protocol(format!("material {digest} is not held here"))
            });
        }
        let built = Arc::new(Self::from_material(material, blobs, options)?);
        // Registered under the digest of what arrived (never the sender's word for it), so a
        // party of this process offered the same material later shares this copy.
        let digest = built.material_digest()?;
        Ok(key_registry::register(digest, &built))
    }

    fn offer(self: &Arc<Self>, scope: &KeyScope) -> Result<Option<MaterialOffer>> {
        let view = self.view(scope)?;
        let digest = view.material_digest()?;
        let shared = key_registry::register(digest, &view);
        let bytes = shared.keys.size_bytes() as u64;
        Ok(Some(MaterialOffer::new(digest, bytes, shared)))
    }

    fn held(digest: &MaterialDigest) -> Option<Arc<Self>> {
        key_registry::lookup(digest)
    }

    fn evaluator(&self) -> Result<Self::Eval<'_>> {
        if let Some(b) = &self.bootstrap {
            return Ok(b.bootstrapper.slots(&self.evaluator, &self.encoder)?);
        }
        let backend = CkksBackend::new(&self.evaluator, &self.encoder)?;
        Ok(CkksSlots::new(
            backend,
            NoClient,
            self.ctx.max_level(),
            self.ctx.default_scale(),
        )?)
    }

    fn encode_ct(&self, ct: &Ciphertext) -> Result<Bytes> {
        Ok(Bytes::from(serial::to_bytes(ct, &self.ctx)?))
    }

    fn decode_ct(&self, bytes: &[u8]) -> Result<Ciphertext> {
        Ok(serial::from_bytes(bytes, &self.ctx)?)
    }

    fn bootstrap_min(&self) -> usize {
        self.bootstrapper().map_or(0, |b| b.bootstrap_min())
    }

    fn bootstraps(&self) -> bool {
        self.bootstrap.is_some()
    }

    fn bootstraps_run(&self) -> Option<u64> {
        self.bootstrapper().map(|b| b.stats().count())
    }

    fn bootstrap_key_bytes(&self) -> u64 {
        let Some(boot) = &self.bootstrap else {
            return 0;
        };
        let sparse = boot.sparse.as_ref().map_or(0, |s| s.size_bytes());
        (self.keys.size_bytes() + sparse) as u64
    }

    fn material(&self, scope: &KeyScope, sink: &mut BlobSink) -> Result<MaterialBody> {
        scoped_material(&self.ctx, &self.keys, self.bootstrap.as_ref(), scope, sink)
    }

    fn same_parameters(&self, other: &Self) -> bool {
        // The spec fixes the ring and derives the moduli (see `ParameterSpec`).
        self.ctx.spec() == other.ctx.spec()
    }
}

/// The data owner's CKKS side: the secret key stays in here. It keeps the evaluation keys only
/// until [`CkksClient::release_evaluation_keys`] (encrypting and decrypting need none).
pub struct CkksClient {
    ctx: Arc<Context>,
    /// Key-less evaluator and encoder for the codec.
    evaluator: Evaluator,
    encoder: Encoder,
    /// The public material, until released: a node holding the key set of `boot-n16` holds
    /// gigabytes.
    public: Mutex<Option<Arc<CkksServer>>>,
    /// Its server half for (de)serializing ciphertexts, without keys.
    codec_server: CkksServer,
    secret: SecretKeyClient,
}

impl std::fmt::Debug for CkksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksClient")
            .field("params", &self.ctx.spec().name)
            .finish_non_exhaustive()
    }
}

impl CkksClient {
    /// Generates keys for `spec` (insecure presets need `allow_insecure`) with the rotations
    /// `rotation_steps` and conjugation, from `seed` or the OS; no bootstrapping.
    pub fn generate(
        spec: &ParameterSpec,
        allow_insecure: bool,
        rotation_steps: &[isize],
        seed: Option<[u8; 32]>,
    ) -> Result<Self> {
        let ctx = Context::new(spec, allow_insecure)?;
        let (secret, keys) = SecretKeyClient::generate(&ctx, seed, rotation_steps)?;
        let public = CkksServer::new(&ctx, keys)?;
        Self::from_parts(&ctx, secret, public)
    }

    /// Generates a bootstrappable key set for training jobs of `setup` on `spec`: every
    /// rotation the job performs ([`training_rotations`]), the bootstrap's keys and the
    /// sparse-secret encapsulation keys, with the preset's bootstrap parameters.
    pub fn generate_bootstrappable(
        spec: &ParameterSpec,
        allow_insecure: bool,
        setup: &TrainingSetup,
        seed: Option<[u8; 32]>,
    ) -> Result<Self> {
        let ctx = Context::new(spec, allow_insecure)?;
        let params = bootstrap_params_for(spec)?;
        let rotations: Vec<isize> = training_rotations(setup, sim_config_for(&ctx)?)?
            .into_iter()
            .collect();
        let (secret, keys, sparse) =
            SecretKeyClient::generate_bootstrappable(&ctx, seed, &rotations, &params)?;
        let public = CkksServer::bootstrapping(&ctx, Arc::new(keys), Some(Arc::new(sparse)))?;
        Self::from_parts(&ctx, secret, public)
    }

    /// A client for `secret` (read back from the client's keystore, see
    /// [`crate::store::client_key`]) with fresh evaluation keys for `rotation_steps` and
    /// conjugation and no bootstrapping keys: it decrypts what was encrypted under the same
    /// secret before a restart.
    pub fn from_secret_key(
        ctx: &Arc<Context>,
        secret: hetal_ckks::keys::SecretKey,
        rotation_steps: &[isize],
    ) -> Result<Self> {
        let (secret, keys) = SecretKeyClient::from_secret_key(ctx, secret, None, rotation_steps)?;
        let public = CkksServer::new(ctx, keys)?;
        Self::from_parts(ctx, secret, public)
    }

    /// A client for `secret` (read back from the client's keystore) around `public`, the key set
    /// a job was uploaded with (decoded from the trainer's saved upload): it decrypts that job's
    /// ciphertexts and offers the very same material again, so a run continued in a new process
    /// keeps its checkpoints' key fingerprint. Encryptions use a fresh public key of `secret`.
    /// The caller checks that `secret` is the key `public` was generated from (a wrong one
    /// decrypts to noise).
    pub fn with_public(
        secret: hetal_ckks::keys::SecretKey,
        public: Arc<CkksServer>,
    ) -> Result<Self> {
        let ctx = Arc::clone(public.context());
        let (secret, _fresh) = SecretKeyClient::from_secret_key(&ctx, secret, None, &[])?;
        Ok(Self {
            evaluator: Evaluator::new(&ctx, None)?,
            encoder: Encoder::new(&ctx),
            codec_server: CkksServer::with_keys(&ctx, Arc::new(empty_keys(&ctx)), None)?,
            public: Mutex::new(Some(public)),
            ctx,
            secret,
        })
    }

    fn from_parts(ctx: &Arc<Context>, secret: SecretKeyClient, public: CkksServer) -> Result<Self> {
        Ok(Self {
            evaluator: Evaluator::new(ctx, None)?,
            encoder: Encoder::new(ctx),
            codec_server: CkksServer::with_keys(ctx, Arc::new(empty_keys(ctx)), None)?,
            public: Mutex::new(Some(Arc::new(public))),
            ctx: Arc::clone(ctx),
            secret,
        })
    }

    /// The secret key holder (for tests that look for its bytes on the wire).
    pub fn secret(&self) -> &SecretKeyClient {
        &self.secret
    }

    /// The public half as the trainer will rebuild it (keys and bootstrapper), until released.
    pub fn public(&self) -> Result<Arc<CkksServer>> {
        self.public
            .lock()
            .map_err(|_| ActorError::Lost("client key store poisoned".into()))?
            .clone()
            .ok_or_else(|| {
                ActorError::Config("the evaluation keys were released after the upload".into())
            })
    }

    /// Drops the client's copy of the evaluation and bootstrapping keys (after the upload):
    /// it never needs them itself.
    pub fn release_evaluation_keys(&self) {
        if let Ok(mut public) = self.public.lock() {
            *public = None;
        }
    }
}

/// A key set with no key (the client's codec encrypts and decrypts without any).
fn empty_keys(ctx: &Context) -> EvaluationKeys {
    EvaluationKeys {
        relin: None,
        galois: GaloisKeys::default(),
        context_id: ctx.id(),
    }
}

/// The simulator in the level setting of `ctx` and its bootstrap (what
/// [`training_rotations`] runs to find the job's rotations).
pub fn sim_config_for(ctx: &Context) -> Result<SimConfig> {
    let params = bootstrap_params_for(ctx.spec())?;
    let (bootstrap_level, bootstrap_min_level) = ServerBootstrapper::levels_for(ctx, &params)?;
    Ok(SimConfig {
        max_level: ctx.max_level(),
        bootstrap_level,
        bootstrap_min_level,
        bootstrap_max_abs: None,
        ..SimConfig::with_slots(ctx.max_slots())
    })
}

impl ClientBackend for CkksClient {
    type Server = CkksServer;
    type Codec<'a> = CkksSlots<CkksBackend<'a>, &'a SecretKeyClient>;

    fn server(&self) -> &CkksServer {
        &self.codec_server
    }

    fn codec(&self) -> Result<Self::Codec<'_>> {
        let backend = CkksBackend::new(&self.evaluator, &self.encoder)?;
        Ok(CkksSlots::new(
            backend,
            &self.secret,
            self.ctx.max_level(),
            self.ctx.default_scale(),
        )?)
    }

    fn material(&self, scope: &KeyScope, sink: &mut BlobSink) -> Result<MaterialBody> {
        self.public()?.material(scope, sink)
    }

    fn offer(&self, scope: &KeyScope) -> Result<Option<MaterialOffer>> {
        ServerBackend::offer(&self.public()?, scope)
    }

    fn release_public_material(&self) {
        self.release_evaluation_keys();
    }
}
