//! Client-side keystore format of the secret key — the only way a secret key becomes bytes.
//!
//! There is deliberately no `Serial` or serde implementation for [`SecretKey`]: no message type
//! can carry it. The client calls [`save_secret_key_bytes`] explicitly and does the file I/O
//! itself (this crate does none). The payload is the key's N ternary coefficients, one signed
//! byte each (N bytes instead of the (L+K)·N words of the NTT form); every intermediate buffer
//! holding secret material is wiped, and the returned bytes are wiped when dropped.

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
