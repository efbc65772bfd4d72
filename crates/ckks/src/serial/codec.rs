//! Payload layouts of plaintexts, ciphertexts and public/evaluation keys, and the [`Serial`]
//! trait that puts them in a [`container`](super::container).
//!
//! Every polynomial is written limb by limb, each residue bit-packed at the width of its prime
//! (NTT form, as held in memory). Uniform parts that were expanded from a seed (the `c1` of a
//! fresh symmetric ciphertext, the `a` of public and key-switching keys) are written as their
//! 32-byte seed and regenerated on reading: half the size.
//!
//! Reading trusts nothing: the fingerprint must be the receiver's, levels, slot counts, scales,
//! Galois elements and digit counts must fit the receiver's context, and every residue must be
//! below its prime. Buffers are reserved only after the input has been checked to hold them.

use std::sync::Arc;

use super::container::{self, ObjectKind};
use super::spec::fingerprint;
use super::wire::{Reader, Writer, packed_len};
use crate::crypto::{Ciphertext, Plaintext, expand_seeded_c1};
use crate::error::{Error, Result};
use crate::keys::{
    EvaluationKeys, GaloisKey, GaloisKeys, KeySwitchKey, PublicKey, RelinearizationKey,
};
use crate::math::poly::{Form, RnsPoly};
use crate::params::context::Context;

/// Objects with a versioned, parameter-checked binary form. Deliberately not implemented for
/// the secret key (see [`super::keystore`]).
pub trait Serial: Sized {
    /// The kind recorded in the container header.
    const KIND: ObjectKind;

    /// Writes the payload; fails if the object does not belong to `ctx` or is malformed.
    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()>;

    /// Reads and validates a payload against the receiver's context.
    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self>;
}

/// The container holding `obj`, made for `ctx`: sized by a counting pass first, then written
/// once into a buffer of exactly that size (the object is never held twice).
pub fn to_bytes<T: Serial>(obj: &T, ctx: &Context) -> Result<Vec<u8>> {
    let payload = payload_len(obj, ctx)?;
    container::seal_with(T::KIND, context_fingerprint(ctx), payload, |w| {
        obj.write_payload(ctx, w)
    })
}

/// The length of [`to_bytes`]`(obj, ctx)`, computed without building it (what a key set
/// will cost on the wire or on disk, at no memory cost).
pub fn serialized_len<T: Serial>(obj: &T, ctx: &Context) -> Result<usize> {
    Ok(container::HEADER_LEN.saturating_add(payload_len(obj, ctx)?))
}

/// The payload's length by a counting pass (the same checks as writing it).
fn payload_len<T: Serial>(obj: &T, ctx: &Context) -> Result<usize> {
    let mut w = Writer::counting();
    obj.write_payload(ctx, &mut w)?;
    Ok(w.len())
}

/// Reads an object of type `T` from `bytes`, checking the container and every field against
/// the receiver's context `ctx`.
pub fn from_bytes<T: Serial>(bytes: &[u8], ctx: &Arc<Context>) -> Result<T> {
    let mut r = container::open(bytes, T::KIND, Some(context_fingerprint(ctx)))?;
    let obj = T::read_payload(&mut r, ctx)?;
    r.finish(&format!("the {:?} payload", T::KIND))?;
    Ok(obj)
}

/// The fingerprint of a context's parameters (ring degree, primes, dnum).
pub fn context_fingerprint(ctx: &Context) -> container::Fingerprint {
    fingerprint(
        ctx.spec().log_n,
        ctx.q_primes(),
        ctx.p_primes(),
        ctx.spec().dnum,
    )
}

fn mismatch(what: &str) -> Error {
    Error::ParameterMismatch(format!("{what} belongs to another context"))
}

/// Bits needed for residues modulo `p`.
fn width(p: u64) -> u32 {
    64 - p.leading_zeros()
}

/// The prime of limb `i` of a polynomial with `num_q` q-limbs (then p-limbs).
fn limb_prime(ctx: &Context, i: usize, num_q: usize) -> u64 {
    ctx.ring().modulus(i, num_q).value()
}

/// Writes an NTT-form polynomial with exactly `num_q` q-limbs and `num_p` p-limbs.
fn write_poly(
    ctx: &Context,
    w: &mut Writer,
    poly: &RnsPoly,
    num_q: usize,
    num_p: usize,
    what: &str,
) -> Result<()> {
    if num_q > ctx.max_level() + 1
        || num_p > ctx.num_p()
        || poly.n() != ctx.n()
        || poly.num_q() != num_q
        || poly.num_p() != num_p
        || poly.form() != Form::Ntt
    {
        return Err(Error::InvalidInput(format!(
            "{what}: expected an NTT-form polynomial of degree {} with {num_q}+{num_p} limbs, \
             found degree {} with {}+{} limbs in {:?} form",
            ctx.n(),
            poly.n(),
            poly.num_q(),
            poly.num_p(),
            poly.form()
        )));
    }
    for i in 0..num_q + num_p {
        w.packed(poly.limb(i), width(limb_prime(ctx, i, num_q)));
    }
    Ok(())
}

/// Reads an NTT-form polynomial with `num_q` q-limbs and `num_p` p-limbs, checking that the
/// input holds all of it before allocating and that every residue is below its prime.
fn read_poly(
    ctx: &Context,
    r: &mut Reader<'_>,
    num_q: usize,
    num_p: usize,
    what: &str,
) -> Result<RnsPoly> {
    let n = ctx.n();
    let needed: usize = (0..num_q + num_p)
        .map(|i| packed_len(n, width(limb_prime(ctx, i, num_q))))
        .sum();
    if needed > r.remaining() {
        return Err(Error::Serialization(format!(
            "truncated input: {what} needs {needed} bytes, only {} left",
            r.remaining()
        )));
    }
    let mut data = Vec::with_capacity(n * (num_q + num_p));
    for i in 0..num_q + num_p {
        let p = limb_prime(ctx, i, num_q);
        r.packed_below(n, width(p), p, &mut data, &format!("{what}, limb {i}"))?;
    }
    RnsPoly::from_data(n, num_q, num_p, Form::Ntt, data)
        .ok_or_else(|| Error::Serialization(format!("{what}: limb data has the wrong length")))
}

fn read_seed(r: &mut Reader<'_>, what: &str) -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    seed.copy_from_slice(r.take(32, what)?);
    Ok(seed)
}

/// Level, slot count and scale shared by plaintexts and ciphertexts.
fn write_meta(w: &mut Writer, level: usize, slots: usize, scale: f64) {
    w.u32(level as u32);
    w.u32(slots as u32);
    w.f64(scale);
}

fn read_meta(r: &mut Reader<'_>, ctx: &Context) -> Result<(usize, usize, f64)> {
    let level = r.u32("level")? as usize;
    if level > ctx.max_level() {
        return Err(Error::Serialization(format!(
            "level {level} is above the receiver's highest level {}",
            ctx.max_level()
        )));
    }
    let slots = r.u32("slot count")? as usize;
    if !slots.is_power_of_two() || slots > ctx.max_slots() {
        return Err(Error::Serialization(format!(
            "slot count {slots} is not a power of two in 1..={}",
            ctx.max_slots()
        )));
    }
    let scale = r.f64("scale")?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::Serialization(format!(
            "scale {scale} is not a finite positive number"
        )));
    }
    Ok((level, slots, scale))
}

impl Serial for Plaintext {
    const KIND: ObjectKind = ObjectKind::Plaintext;

    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()> {
        write_meta(w, self.level(), self.slots(), self.scale());
        write_poly(ctx, w, self.poly(), self.level() + 1, 0, "plaintext")
    }

    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self> {
        let (level, slots, scale) = read_meta(r, ctx)?;
        let poly = read_poly(ctx, r, level + 1, 0, "plaintext")?;
        Plaintext::new(poly, scale, slots).map_err(|e| Error::Serialization(e.to_string()))
    }
}

/// Ciphertext flag: `c1` is given by its seed.
const SEEDED_C1: u8 = 1;

impl Serial for Ciphertext {
    const KIND: ObjectKind = ObjectKind::Ciphertext;

    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()> {
        if self.context_id() != ctx.id() {
            return Err(mismatch("ciphertext"));
        }
        let nq = self.level() + 1;
        write_meta(w, self.level(), self.slots(), self.scale());
        match self.seed() {
            Some(seed) => {
                w.u8(SEEDED_C1);
                write_poly(ctx, w, self.c0(), nq, 0, "c0")?;
                w.bytes(seed);
            }
            None => {
                w.u8(0);
                write_poly(ctx, w, self.c0(), nq, 0, "c0")?;
                write_poly(ctx, w, self.c1(), nq, 0, "c1")?;
            }
        }
        Ok(())
    }

    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self> {
        let (level, slots, scale) = read_meta(r, ctx)?;
        let flags = r.u8("ciphertext flags")?;
        if flags & !SEEDED_C1 != 0 {
            return Err(Error::Serialization(format!(
                "unknown ciphertext flags {flags:#04x}"
            )));
        }
        let c0 = read_poly(ctx, r, level + 1, 0, "c0")?;
        let (c1, seed) = if flags & SEEDED_C1 != 0 {
            let seed = read_seed(r, "c1 seed")?;
            (expand_seeded_c1(ctx, &seed, level), Some(seed))
        } else {
            (read_poly(ctx, r, level + 1, 0, "c1")?, None)
        };
        Ciphertext::from_parts(c0, c1, scale, slots, ctx.id(), seed)
            .map_err(|e| Error::Serialization(e.to_string()))
    }
}

/// Public-key flag: `b mod P` follows, so that encryption runs over `Q·P` (smaller fresh noise).
const PK_SPECIAL: u8 = 1;

impl Serial for PublicKey {
    const KIND: ObjectKind = ObjectKind::PublicKey;

    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()> {
        if self.context_id() != ctx.id() {
            return Err(mismatch("public key"));
        }
        write_poly(ctx, w, self.b(), ctx.max_level() + 1, 0, "public key b")?;
        w.bytes(self.seed());
        match self.special_b() {
            Some(b_special) => {
                w.u8(PK_SPECIAL);
                write_poly(ctx, w, b_special, 0, ctx.num_p(), "public key b mod P")?;
            }
            None => w.u8(0),
        }
        Ok(())
    }

    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self> {
        let b = read_poly(ctx, r, ctx.max_level() + 1, 0, "public key b")?;
        let seed = read_seed(r, "public key seed")?;
        let flags = r.u8("public key flags")?;
        let key = match flags {
            0 => PublicKey::from_parts(ctx, b, seed),
            PK_SPECIAL => {
                let b_special = read_poly(ctx, r, 0, ctx.num_p(), "public key b mod P")?;
                PublicKey::from_parts_with_special(ctx, b, b_special, seed)
            }
            other => {
                return Err(Error::Serialization(format!(
                    "unknown public key flags {other:#04x}"
                )));
            }
        };
        key.map_err(|e| Error::Serialization(e.to_string()))
    }
}

fn write_switch_key(ctx: &Context, w: &mut Writer, key: &KeySwitchKey, what: &str) -> Result<()> {
    if key.b().len() != ctx.dnum() || key.seeds().len() != ctx.dnum() {
        return Err(Error::InvalidInput(format!(
            "{what}: {} digits, the context has dnum = {}",
            key.b().len(),
            ctx.dnum()
        )));
    }
    w.u32(ctx.dnum() as u32);
    for (b, seed) in key.b().iter().zip(key.seeds()) {
        write_poly(ctx, w, b, ctx.max_level() + 1, ctx.num_p(), what)?;
        w.bytes(seed);
    }
    Ok(())
}

fn read_switch_key(ctx: &Context, r: &mut Reader<'_>, what: &str) -> Result<KeySwitchKey> {
    let dnum = ctx.dnum();
    let digits = r.count(dnum..=dnum, &format!("{what} digit count"))?;
    let mut bs = Vec::with_capacity(digits);
    let mut seeds = Vec::with_capacity(digits);
    for j in 0..digits {
        bs.push(read_poly(
            ctx,
            r,
            ctx.max_level() + 1,
            ctx.num_p(),
            &format!("{what}, digit {j}"),
        )?);
        seeds.push(read_seed(r, &format!("{what}, digit {j} seed"))?);
    }
    KeySwitchKey::from_seeds(ctx, bs, seeds).ok_or_else(|| {
        Error::Serialization(format!(
            "{what}: shape does not match the receiver's context"
        ))
    })
}

impl Serial for RelinearizationKey {
    const KIND: ObjectKind = ObjectKind::RelinearizationKey;

    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()> {
        if self.context_id() != ctx.id() {
            return Err(mismatch("relinearization key"));
        }
        write_switch_key(ctx, w, self.key(), "relinearization key")
    }

    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self> {
        let key = read_switch_key(ctx, r, "relinearization key")?;
        Ok(RelinearizationKey::from_key(key, ctx.id()))
    }
}

/// Checks a Galois element: odd and below 2N.
fn check_element(ctx: &Context, element: u64) -> Result<()> {
    let two_n = 2 * ctx.n() as u64;
    if element.is_multiple_of(2) || element >= two_n {
        return Err(Error::Serialization(format!(
            "Galois element {element} is not an odd number below 2N = {two_n}"
        )));
    }
    Ok(())
}

impl Serial for GaloisKey {
    const KIND: ObjectKind = ObjectKind::GaloisKey;

    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()> {
        w.u64(self.element());
        write_switch_key(ctx, w, self.key(), "Galois key")
    }

    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self> {
        let element = r.u64("Galois element")?;
        check_element(ctx, element)?;
        let key = read_switch_key(ctx, r, &format!("Galois key {element}"))?;
        Ok(GaloisKey::from_key(element, key))
    }
}

impl Serial for GaloisKeys {
    const KIND: ObjectKind = ObjectKind::GaloisKeys;

    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()> {
        w.u32(self.len() as u32);
        for element in self.elements() {
            if let Some(key) = self.get(element) {
                key.write_payload(ctx, w)?;
            }
        }
        Ok(())
    }

    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self> {
        // At most one key per odd residue below 2N; each key's bytes are checked as it is read.
        let count = r.count(0..=ctx.n(), "Galois key count")?;
        let mut keys = GaloisKeys::default();
        let mut previous = None;
        for _ in 0..count {
            let key = GaloisKey::read_payload(r, ctx)?;
            if previous.is_some_and(|p| p >= key.element()) {
                return Err(Error::Serialization(format!(
                    "Galois keys are not in strictly ascending order at element {}",
                    key.element()
                )));
            }
            previous = Some(key.element());
            keys.insert(key);
        }
        Ok(keys)
    }
}

impl Serial for EvaluationKeys {
    const KIND: ObjectKind = ObjectKind::EvaluationKeys;

    fn write_payload(&self, ctx: &Context, w: &mut Writer) -> Result<()> {
        if self.context_id != ctx.id() {
            return Err(mismatch("evaluation keys"));
        }
        match &self.relin {
            Some(relin) => {
                w.u8(1);
                relin.write_payload(ctx, w)?;
            }
            None => w.u8(0),
        }
        self.galois.write_payload(ctx, w)
    }

    fn read_payload(r: &mut Reader<'_>, ctx: &Arc<Context>) -> Result<Self> {
        let relin = match r.u8("relinearization key flag")? {
            0 => None,
            1 => Some(RelinearizationKey::read_payload(r, ctx)?),
            other => {
                return Err(Error::Serialization(format!(
                    "relinearization key flag is {other}, expected 0 or 1"
                )));
            }
        };
        let galois = GaloisKeys::read_payload(r, ctx)?;
        Ok(EvaluationKeys {
            relin,
            galois,
            context_id: ctx.id(),
        })
    }
}
