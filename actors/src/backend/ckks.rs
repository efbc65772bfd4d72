//! The CKKS backend: real ciphertexts, serialized with `hetal-ckks`'s `serial` format (checked
//! against the receiver's parameters). The server half is built from the parameter spec and the
//! evaluation keys alone; only [`CkksClient`] holds a [`SecretKeyClient`].

use std::sync::Arc;

use bytes::Bytes;
use hetal_ckks::circuits::bootstrap::ckks_backend::CkksBackend;
use hetal_ckks::crypto::Ciphertext;
use hetal_ckks::encoding::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::EvaluationKeys;
use hetal_ckks::params::ParameterSpec;
use hetal_ckks::params::context::Context;
use hetal_ckks::serial;
use hetal_learn::eval::{CkksSlots, NoClient, SecretKeyClient};

use super::{ClientBackend, MaterialBody, ServerBackend, ServerOptions, blob};
use crate::error::{ActorError, Result};
use crate::messages::BlobSink;

/// CKKS on a key-less node: context, evaluator (evaluation keys only) and encoder.
pub struct CkksServer {
    ctx: Arc<Context>,
    evaluator: Evaluator,
    encoder: Encoder,
}

impl std::fmt::Debug for CkksServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksServer")
            .field("params", &self.ctx.spec().name)
            .finish_non_exhaustive()
    }
}

impl CkksServer {
    /// A server for `ctx` with `keys`.
    pub fn new(ctx: &Arc<Context>, keys: EvaluationKeys) -> Result<Self> {
        Ok(Self {
            evaluator: Evaluator::new(ctx, Some(Arc::new(keys)))?,
            encoder: Encoder::new(ctx),
            ctx: Arc::clone(ctx),
        })
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }
}

impl ServerBackend for CkksServer {
    type Ct = Ciphertext;
    type Eval<'a> = CkksSlots<CkksBackend<'a>, NoClient>;

    fn from_material(
        material: &MaterialBody,
        blobs: &[Bytes],
        options: ServerOptions,
    ) -> Result<Self> {
        let MaterialBody::Ckks { spec, eval_keys } = material else {
            return Err(ActorError::Protocol(
                "simulator material sent to a CKKS node".into(),
            ));
        };
        let spec: ParameterSpec = serial::spec_from_bytes(blob(blobs, *spec)?)?;
        let ctx = Context::new(&spec, options.allow_insecure)?;
        let keys: EvaluationKeys = serial::from_bytes(blob(blobs, *eval_keys)?, &ctx)?;
        Self::new(&ctx, keys)
    }

    fn evaluator(&self) -> Result<Self::Eval<'_>> {
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
        // No bootstrapping circuit is wired into this backend yet: training needs the levels.
        0
    }
}

/// The data owner's CKKS side: the secret key stays in here.
pub struct CkksClient {
    server: CkksServer,
    secret: SecretKeyClient,
    eval_keys: Bytes,
}

impl std::fmt::Debug for CkksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksClient")
            .field("params", &self.server.ctx.spec().name)
            .finish_non_exhaustive()
    }
}

impl CkksClient {
    /// Generates keys for `spec` (insecure presets need `allow_insecure`) with the rotations
    /// `rotation_steps` and conjugation, from `seed` or the OS.
    pub fn generate(
        spec: &ParameterSpec,
        allow_insecure: bool,
        rotation_steps: &[isize],
        seed: Option<[u8; 32]>,
    ) -> Result<Self> {
        let ctx = Context::new(spec, allow_insecure)?;
        let (secret, keys) = SecretKeyClient::generate(&ctx, seed, rotation_steps)?;
        let eval_keys = Bytes::from(serial::to_bytes(&keys, &ctx)?);
        Ok(Self {
            server: CkksServer::new(&ctx, keys)?,
            secret,
            eval_keys,
        })
    }

    /// The secret key holder (for tests that look for its bytes on the wire).
    pub fn secret(&self) -> &SecretKeyClient {
        &self.secret
    }
}

impl ClientBackend for CkksClient {
    type Server = CkksServer;
    type Codec<'a> = CkksSlots<CkksBackend<'a>, &'a SecretKeyClient>;

    fn server(&self) -> &CkksServer {
        &self.server
    }

    fn codec(&self) -> Result<Self::Codec<'_>> {
        let backend = CkksBackend::new(&self.server.evaluator, &self.server.encoder)?;
        Ok(CkksSlots::new(
            backend,
            &self.secret,
            self.server.ctx.max_level(),
            self.server.ctx.default_scale(),
        )?)
    }

    fn material(&self, sink: &mut BlobSink) -> Result<MaterialBody> {
        let spec = sink.push(serial::spec_to_bytes(self.server.ctx.spec()));
        let eval_keys = sink.push(self.eval_keys.clone());
        Ok(MaterialBody::Ckks { spec, eval_keys })
    }
}
