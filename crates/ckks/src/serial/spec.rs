//! Serialization of [`ParameterSpec`] and the parameter fingerprint.
//!
//! A spec carries its own parameters, so its container has a zero fingerprint and is read
//! without a context. Every field is range-checked on the way in, so a decoded spec is at least
//! well-formed (whether a context can be built from it is `Context::new`'s decision).

use sha2::{Digest, Sha256};

use super::container::{self, Fingerprint, ObjectKind};
use super::wire::{Reader, Writer};
use crate::error::{Error, Result};
use crate::params::{ParameterSpec, SecretDistribution, SecurityLevel};

/// Longest accepted spec name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Most primes accepted in either the q or the p chain.
pub const MAX_PRIMES: usize = 128;
/// Largest accepted log2 of the ring degree.
pub const MAX_LOG_N: u32 = 17;

/// The fingerprint of a parameter set: the first 16 bytes of SHA-256 over a domain tag, the ring
/// degree, the q and p primes themselves and dnum (everything two parties must share for their
/// objects to be interchangeable; names and the default scale are not part of it).
pub fn fingerprint(log_n: u32, q_primes: &[u64], p_primes: &[u64], dnum: usize) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(b"hetal-ckks parameters v1");
    h.update(log_n.to_le_bytes());
    h.update((q_primes.len() as u64).to_le_bytes());
    for q in q_primes {
        h.update(q.to_le_bytes());
    }
    h.update((p_primes.len() as u64).to_le_bytes());
    for p in p_primes {
        h.update(p.to_le_bytes());
    }
    h.update((dnum as u64).to_le_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    Fingerprint(out)
}

/// Serializes a parameter spec in a container of kind [`ObjectKind::ParameterSpec`].
pub fn spec_to_bytes(spec: &ParameterSpec) -> Vec<u8> {
    let mut w = Writer::default();
    w.string(&spec.name);
    w.u32(spec.log_n);
    for bits in [&spec.q_bits, &spec.p_bits] {
        w.u32(bits.len() as u32);
        for &b in bits.iter() {
            w.u8(u8::try_from(b).unwrap_or(u8::MAX));
        }
    }
    w.u32(spec.log_scale);
    w.u32(u32::try_from(spec.dnum).unwrap_or(u32::MAX));
    match spec.secret {
        SecretDistribution::Ternary => {
            w.u8(0);
            w.u64(0);
        }
        SecretDistribution::SparseTernary { hamming_weight } => {
            w.u8(1);
            w.u64(hamming_weight as u64);
        }
    }
    w.u8(match spec.security {
        SecurityLevel::Bits128 => 0,
        SecurityLevel::InsecureForTests => 1,
    });
    container::seal(
        ObjectKind::ParameterSpec,
        Fingerprint::default(),
        &w.into_bytes(),
    )
}

fn prime_bits(r: &mut Reader<'_>, what: &str) -> Result<Vec<u32>> {
    let count = r.count(0..=MAX_PRIMES, what)?;
    (0..count)
        .map(|_| {
            let b = u32::from(r.u8(what)?);
            if !(2..=62).contains(&b) {
                return Err(Error::Serialization(format!(
                    "{what}: prime size {b} bits is outside 2..=62"
                )));
            }
            Ok(b)
        })
        .collect()
}

/// Reads a spec written by [`spec_to_bytes`], checking every field's range.
pub fn spec_from_bytes(bytes: &[u8]) -> Result<ParameterSpec> {
    let mut r = container::open(bytes, ObjectKind::ParameterSpec, None)?;
    let name = r.string(MAX_NAME_LEN, "spec name")?;
    let log_n = r.u32("log_n")?;
    if !(1..=MAX_LOG_N).contains(&log_n) {
        return Err(Error::Serialization(format!(
            "log_n {log_n} is outside 1..={MAX_LOG_N}"
        )));
    }
    let q_bits = prime_bits(&mut r, "q prime sizes")?;
    if q_bits.is_empty() {
        return Err(Error::Serialization("the q chain is empty".into()));
    }
    let p_bits = prime_bits(&mut r, "p prime sizes")?;
    let log_scale = r.u32("log_scale")?;
    if log_scale > 62 {
        return Err(Error::Serialization(format!(
            "log_scale {log_scale} is above 62"
        )));
    }
    let dnum = r.u32("dnum")? as usize;
    if !(1..=q_bits.len()).contains(&dnum) {
        return Err(Error::Serialization(format!(
            "dnum {dnum} is outside 1..={}",
            q_bits.len()
        )));
    }
    let secret_tag = r.u8("secret distribution")?;
    let weight = r.u64("Hamming weight")?;
    let secret = match secret_tag {
        0 if weight == 0 => SecretDistribution::Ternary,
        1 if weight >= 1 && weight <= 1u64 << log_n => SecretDistribution::SparseTernary {
            hamming_weight: weight as usize,
        },
        _ => {
            return Err(Error::Serialization(format!(
                "secret distribution tag {secret_tag} with Hamming weight {weight} is invalid"
            )));
        }
    };
    let security = match r.u8("security level")? {
        0 => SecurityLevel::Bits128,
        1 => SecurityLevel::InsecureForTests,
        other => {
            return Err(Error::Serialization(format!(
                "unknown security level tag {other}"
            )));
        }
    };
    r.finish("parameter spec")?;
    Ok(ParameterSpec {
        name,
        log_n,
        q_bits,
        p_bits,
        log_scale,
        dnum,
        secret,
        security,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::all_presets;

    #[test]
    fn every_preset_round_trips() {
        for spec in all_presets() {
            let bytes = spec_to_bytes(&spec);
            assert_eq!(spec_from_bytes(&bytes).unwrap(), spec);
        }
        let mut sparse = all_presets().remove(0);
        sparse.secret = SecretDistribution::SparseTernary {
            hamming_weight: 192,
        };
        assert_eq!(spec_from_bytes(&spec_to_bytes(&sparse)).unwrap(), sparse);
    }

    #[test]
    fn truncated_spec_is_an_error_at_every_length() {
        let bytes = spec_to_bytes(&all_presets()[0]);
        for cut in 0..bytes.len() {
            assert!(spec_from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn fingerprint_depends_on_every_prime_and_dnum() {
        let base = fingerprint(12, &[97, 193], &[257], 2);
        assert_eq!(base, fingerprint(12, &[97, 193], &[257], 2));
        assert_ne!(base, fingerprint(13, &[97, 193], &[257], 2));
        assert_ne!(base, fingerprint(12, &[97, 194], &[257], 2));
        assert_ne!(base, fingerprint(12, &[97, 193], &[258], 2));
        assert_ne!(base, fingerprint(12, &[97, 193], &[257], 1));
        assert_ne!(base, fingerprint(12, &[97], &[193, 257], 2));
    }
}
