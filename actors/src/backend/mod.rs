//! What the actors need from an encryption backend, in two halves that mirror the trust split:
//! [`ServerBackend`] (evaluate, move ciphertexts; built only from public material) for the
//! trainer, the workers and the evaluator, and [`ClientBackend`] (also encrypt and decrypt) for
//! the data owner alone.
//!
//! Two implementations: [`sim`] (the exact plaintext simulator of `hetal-learn`, fast enough for
//! whole training runs in tests) and [`ckks`] (real CKKS ciphertexts and evaluation keys).

pub mod ckks;
mod digest;
pub mod key_registry;
pub mod rotations;
pub mod shared;
pub mod sim;

pub use key_registry::MaterialDigest;
pub use rotations::KeyScope;
pub use shared::MaterialOffer;

use std::sync::Arc;

use bytes::Bytes;
use hetal_learn::eval::{SimConfig, SlotCodec, SlotEvaluator};
use hetal_learn::pack::{BlockMatrix, decrypt_matrix};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{ActorError, Result};
use crate::messages::BlobSink;

/// The public material a server needs to evaluate, as sent by the client: blob indices into the
/// carrying message. Nothing here can hold a secret key: CKKS material is produced by
/// `hetal_ckks::serial::to_bytes`, which only accepts public objects (the secret key has its
/// own keystore format and no `Serial` implementation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MaterialBody {
    /// The plaintext simulator with this configuration (no keys at all).
    Simulator(SimConfig),
    /// CKKS: the parameter spec and the evaluation keys (relinearization, rotations,
    /// conjugation), both as `hetal-ckks` serialized bytes, and for a party that bootstraps
    /// the bootstrapping material.
    Ckks {
        /// Blob holding `serial::spec_to_bytes` of the parameter spec.
        spec: u32,
        /// Blob holding `serial::to_bytes` of the evaluation keys (the bootstrap's rotation
        /// keys among them when `bootstrap` is set).
        eval_keys: u32,
        /// Present when the receiver bootstraps.
        bootstrap: Option<BootstrapMaterial>,
    },
    /// Material the receiver said it already holds (it answered a
    /// [`crate::messages::OfferMaterial`] for this digest within this process): no blob.
    Held(MaterialDigest),
}

/// What a CKKS party needs besides its evaluation keys to bootstrap. The bootstrap's parameters
/// are derived from the spec on both sides (`hetal_learn::eval::bootstrap_params_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapMaterial {
    /// Blob holding the client's sparse-secret encapsulation keys
    /// (`SparseSecretKeys::to_bytes`); `None` when the secret key is sparse itself.
    pub sparse_keys: Option<u32>,
}

/// Receiver-side choices when building a backend from received material.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Accept parameter presets below 128-bit security (tests only).
    pub allow_insecure: bool,
}

/// The key-less side: everything the trainer, a worker or the evaluator does with ciphertexts.
pub trait ServerBackend: Send + Sync + Sized + 'static {
    /// Ciphertext type.
    type Ct: Clone + Send + Sync + 'static;
    /// The slot evaluator (borrowing the backend). No `SlotCodec`: it cannot decrypt.
    type Eval<'a>: SlotEvaluator<Ct = Self::Ct> + Sync
    where
        Self: 'a;

    /// Builds the backend from the client's public material (sent in full, not
    /// [`MaterialBody::Held`]).
    fn from_material(
        material: &MaterialBody,
        blobs: &[Bytes],
        options: ServerOptions,
    ) -> Result<Self>;
    /// The backend for received material, shared with the other parties of this process: a
    /// [`MaterialBody::Held`] reference resolves to `pinned` (what the receiver took when it
    /// answered the offer) or the process registry; material sent in full is built once and,
    /// where the backend shares, registered so that the next party finds it.
    fn from_material_shared(
        material: &MaterialBody,
        blobs: &[Bytes],
        options: ServerOptions,
        pinned: Option<Arc<Self>>,
    ) -> Result<Arc<Self>> {
        match material {
            MaterialBody::Held(digest) => pinned
                .or_else(|| Self::held(digest))
                .ok_or_else(|| ActorError::Protocol(format!("material {digest} is not held here"))),
            _ => Ok(Arc::new(Self::from_material(material, blobs, options)?)),
        }
    }
    /// The material of `scope` as an offer by reference to a party of this process (registered
    /// in [`key_registry`]); `None` where the backend does not share (the simulator's material
    /// is a few numbers).
    fn offer(self: &Arc<Self>, _scope: &KeyScope) -> Result<Option<MaterialOffer>> {
        Ok(None)
    }
    /// The live material registered under `digest` in this process, if any.
    fn held(_digest: &MaterialDigest) -> Option<Arc<Self>> {
        None
    }
    /// A slot evaluator.
    fn evaluator(&self) -> Result<Self::Eval<'_>>;
    /// Serializes a ciphertext for the wire.
    fn encode_ct(&self, ct: &Self::Ct) -> Result<Bytes>;
    /// Deserializes (and checks) a received ciphertext.
    fn decode_ct(&self, bytes: &[u8]) -> Result<Self::Ct>;
    /// Lowest level this backend bootstraps from.
    fn bootstrap_min(&self) -> usize;
    /// Whether it can bootstrap at all (a CKKS node without bootstrapping keys cannot: training
    /// then runs on the levels of one modulus chain).
    fn bootstraps(&self) -> bool {
        true
    }
    /// Bootstraps run so far by this backend's evaluators, where it counts them (for progress
    /// reports while a long step runs).
    fn bootstraps_run(&self) -> Option<u64> {
        None
    }
    /// Bytes in memory of the material a party needs to bootstrap ([`KeyScope::Full`]: every
    /// evaluation key and the encapsulation keys), what a worker taking bootstrap units holds;
    /// 0 where it is negligible (the simulator) or absent.
    fn bootstrap_key_bytes(&self) -> u64 {
        0
    }
    /// Adds to `sink` the public material of `scope` this backend holds (the trainer passes
    /// its workers only what their units need) and describes it.
    fn material(&self, scope: &KeyScope, sink: &mut BlobSink) -> Result<MaterialBody>;
    /// Whether `other` works on the same parameters (ring, moduli, slots, levels), so that
    /// ciphertexts decoded by one are valid operands of the other: a worker whose job's keys
    /// are upgraded keeps its cached operands only then.
    fn same_parameters(&self, other: &Self) -> bool;
}

/// The data owner's side: the server half plus encryption and decryption.
pub trait ClientBackend: Send + Sync + 'static {
    /// The server half (its ciphertexts are the client's).
    type Server: ServerBackend;
    /// A slot evaluator that can also encrypt and decrypt.
    type Codec<'a>: SlotCodec<Ct = <Self::Server as ServerBackend>::Ct>
    where
        Self: 'a;

    /// The server half, for (de)serializing ciphertexts.
    fn server(&self) -> &Self::Server;
    /// The codec.
    fn codec(&self) -> Result<Self::Codec<'_>>;
    /// Adds the public material of `scope` to `sink` and describes it (the trainer gets it
    /// all, an evaluator sending logits only the rotations of its multiplication).
    fn material(&self, scope: &KeyScope, sink: &mut BlobSink) -> Result<MaterialBody>;
    /// The public material of `scope` as an offer by reference to a party of this process
    /// (see [`ServerBackend::offer`]); `None` where the backend does not share.
    fn offer(&self, _scope: &KeyScope) -> Result<Option<MaterialOffer>> {
        Ok(None)
    }
    /// Drops the client's own copy of the public material once it has been uploaded (at
    /// N = 2^16 the bootstrapping keys are gigabytes; encrypting and decrypting need none).
    /// Later calls to [`ClientBackend::material`] fail.
    fn release_public_material(&self) {}
    /// Decrypts a block matrix.
    fn decrypt(&self, m: &BlockMatrix<<Self::Server as ServerBackend>::Ct>) -> Result<Array2<f64>> {
        let codec = self.codec()?;
        Ok(decrypt_matrix(&codec, m)?)
    }
}

/// The blob at `index` of a received message.
pub(crate) fn blob(blobs: &[Bytes], index: u32) -> Result<&Bytes> {
    blobs.get(index as usize).ok_or_else(|| {
        ActorError::Protocol(format!(
            "blob index {index} out of range ({} blobs)",
            blobs.len()
        ))
    })
}
