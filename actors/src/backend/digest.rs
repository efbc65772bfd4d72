//! Content digests of CKKS key material ([`KeyDigests`]): SHA-256 of each key's residues and
//! seeds, combined per scope into the [`MaterialDigest`] the key registry is keyed by. Computed
//! from the keys in memory (no serialization), so the sender and a receiver that deserialized
//! the same keys agree, and a subset's digest comes from its keys' digests without hashing again.

use std::collections::{BTreeMap, BTreeSet};

use hetal_ckks::circuits::bootstrap::SparseSecretKeys;
use hetal_ckks::keys::{EvaluationKeys, KeySwitchKey};
use hetal_ckks::params::context::Context;
use hetal_ckks::serial;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::MaterialDigest;
use crate::error::{ActorError, Result};

/// Words hashed per update (a 32 KiB staging buffer).
const WORDS_PER_UPDATE: usize = 4096;

/// Per-key digests of one server's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyDigests {
    /// Parameters: the spec's bytes and the context id.
    params: [u8; 32],
    relin: Option<[u8; 32]>,
    galois: BTreeMap<u64, [u8; 32]>,
    /// `Some` when the holder bootstraps: the encapsulation keys' digest (`None` inside when
    /// the secret is sparse itself).
    bootstrap: Option<Option<[u8; 32]>>,
}

fn hash_switching_key(h: &mut Sha256, key: &KeySwitchKey) {
    h.update((key.b().len() as u64).to_le_bytes());
    let mut staging = Vec::with_capacity(WORDS_PER_UPDATE * 8);
    for poly in key.b() {
        let data = poly.data();
        h.update((data.len() as u64).to_le_bytes());
        for chunk in data.chunks(WORDS_PER_UPDATE) {
            staging.clear();
            staging.extend(chunk.iter().flat_map(|w| w.to_le_bytes()));
            h.update(&staging);
        }
    }
    // The a_j are expanded from the seeds.
    for seed in key.seeds() {
        h.update(seed);
    }
}

fn key_digest(tag: &[u8], element: u64, key: &KeySwitchKey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(element.to_le_bytes());
    hash_switching_key(&mut h, key);
    h.finalize().into()
}

impl KeyDigests {
    /// Hashes `keys` (each Galois key on its own rayon task) and, when the holder bootstraps,
    /// its encapsulation keys `sparse` (`Some(None)`: bootstraps with a sparse secret).
    pub(crate) fn compute(
        ctx: &Context,
        keys: &EvaluationKeys,
        sparse: Option<Option<&SparseSecretKeys>>,
    ) -> Result<Self> {
        let mut h = Sha256::new();
        h.update(b"hetal-actors/params/1");
        h.update(serial::spec_to_bytes(ctx.spec()));
        h.update(ctx.id().to_le_bytes());
        h.update(keys.context_id.to_le_bytes());
        let params = h.finalize().into();
        let relin = keys
            .relin
            .as_ref()
            .map(|r| key_digest(b"hetal-actors/relin/1", 0, r.key()));
        let elements: Vec<u64> = keys.galois.elements().collect();
        let galois = elements
            .par_iter()
            .map(|&e| {
                let key = keys.galois.get(e).ok_or_else(|| {
                    ActorError::Config(format!("Galois key {e} vanished while hashing"))
                })?;
                Ok((e, key_digest(b"hetal-actors/galois/1", e, key.key())))
            })
            .collect::<Result<BTreeMap<u64, [u8; 32]>>>()?;
        let bootstrap = sparse
            .map(|s| {
                s.map(|s| -> Result<[u8; 32]> {
                    let mut h = Sha256::new();
                    h.update(b"hetal-actors/encapsulation/1");
                    h.update(s.to_bytes(ctx)?);
                    Ok(h.finalize().into())
                })
                .transpose()
            })
            .transpose()?;
        Ok(Self {
            params,
            relin,
            galois,
            bootstrap,
        })
    }

    /// The digests of a subset holding the Galois keys `elements` and no bootstrapping.
    pub(crate) fn restricted(&self, elements: &BTreeSet<u64>) -> Self {
        Self {
            params: self.params,
            relin: self.relin,
            galois: self
                .galois
                .iter()
                .filter(|(e, _)| elements.contains(e))
                .map(|(e, d)| (*e, *d))
                .collect(),
            bootstrap: None,
        }
    }

    /// The digest of the material holding the Galois keys `elements` (and bootstrapping when
    /// the holder has it); an element without a key is an error.
    pub(crate) fn material(&self, elements: &BTreeSet<u64>) -> Result<MaterialDigest> {
        let mut h = Sha256::new();
        h.update(b"hetal-actors/material/1");
        h.update(self.params);
        match &self.relin {
            Some(d) => {
                h.update([1]);
                h.update(d);
            }
            None => h.update([0]),
        }
        h.update((elements.len() as u64).to_le_bytes());
        for e in elements {
            let d = self
                .galois
                .get(e)
                .ok_or_else(|| ActorError::Config(format!("no Galois key for element {e}")))?;
            h.update(e.to_le_bytes());
            h.update(d);
        }
        match &self.bootstrap {
            None => h.update([0]),
            Some(None) => h.update([1]),
            Some(Some(d)) => {
                h.update([2]);
                h.update(d);
            }
        }
        Ok(MaterialDigest(h.finalize().into()))
    }
}
