//! The simulator backend: `hetal-learn`'s exact plaintext simulator behind the same interface
//! as CKKS, so that whole training runs over the network fit in a test. It has no keys; its
//! "ciphertexts" are slot vectors with a level.

use bytes::Bytes;
use hetal_learn::eval::{SimConfig, SimCt, Simulator};
use hetal_runtime::wire::codec;

use super::{ClientBackend, KeyScope, MaterialBody, ServerBackend, ServerOptions};
use crate::error::{ActorError, Result};
use crate::messages::BlobSink;

/// Simulator on the server side.
#[derive(Debug, Clone)]
pub struct SimServer {
    config: SimConfig,
}

impl SimServer {
    /// A backend for `config` (checked by building a simulator).
    pub fn new(config: SimConfig) -> Result<Self> {
        Simulator::new(config)?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }
}

impl ServerBackend for SimServer {
    type Ct = SimCt;
    type Eval<'a> = Simulator;

    fn from_material(material: &MaterialBody, _: &[Bytes], _: ServerOptions) -> Result<Self> {
        match material {
            MaterialBody::Simulator(config) => Self::new(*config),
            MaterialBody::Ckks { .. } => Err(ActorError::Protocol(
                "CKKS material sent to a simulator node".into(),
            )),
            MaterialBody::Held(digest) => Err(ActorError::Protocol(format!(
                "material {digest} sent by reference to a simulator node"
            ))),
        }
    }

    fn evaluator(&self) -> Result<Simulator> {
        Ok(Simulator::new(self.config)?)
    }

    fn encode_ct(&self, ct: &SimCt) -> Result<Bytes> {
        Ok(Bytes::from(codec::encode(ct)?))
    }

    fn decode_ct(&self, bytes: &[u8]) -> Result<SimCt> {
        // 16 bytes per complex slot, plus the vector length and the level.
        let limit = 16 * self.config.slots as u64 + 16;
        let ct: SimCt = codec::decode(bytes, limit)?;
        if ct.values.len() != self.config.slots || ct.level > self.config.max_level {
            return Err(ActorError::Protocol(format!(
                "simulated ciphertext with {} slots at level {} (expected {} slots, level ≤ {})",
                ct.values.len(),
                ct.level,
                self.config.slots,
                self.config.max_level
            )));
        }
        Ok(ct)
    }

    fn bootstrap_min(&self) -> usize {
        self.config.bootstrap_min_level
    }

    fn material(&self, _: &KeyScope, _: &mut BlobSink) -> Result<MaterialBody> {
        Ok(MaterialBody::Simulator(self.config))
    }

    fn same_parameters(&self, other: &Self) -> bool {
        self.config == other.config
    }
}

/// Simulator on the client side (it "encrypts" by copying).
#[derive(Debug, Clone)]
pub struct SimClient {
    server: SimServer,
}

impl SimClient {
    /// A client for `config`.
    pub fn new(config: SimConfig) -> Result<Self> {
        Ok(Self {
            server: SimServer::new(config)?,
        })
    }
}

impl ClientBackend for SimClient {
    type Server = SimServer;
    type Codec<'a> = Simulator;

    fn server(&self) -> &SimServer {
        &self.server
    }

    fn codec(&self) -> Result<Simulator> {
        self.server.evaluator()
    }

    fn material(&self, _: &KeyScope, _: &mut BlobSink) -> Result<MaterialBody> {
        Ok(MaterialBody::Simulator(self.server.config))
    }
}
