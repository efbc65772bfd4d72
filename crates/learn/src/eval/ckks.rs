//! The CKKS backend: [`SlotEvaluator`] on top of any `hetal-ckks` [`SlotBackend`] (the CKKS
//! evaluator itself, or its noise-free level/scale model [`SlotSimulator`]).
//!
//! # Scales
//! `hetal-ckks` manages scales exactly: an addition needs equal levels *and* equal scales, and a
//! rescale divides by the actual prime, not by a nominal 2^Δ. This adapter keeps every ciphertext
//! at a *canonical* scale `Δ_ℓ` per level, chosen so that products stay canonical:
//! `Δ_{ℓ−1} = Δ_ℓ² / q_ℓ`. The chain is built upward from `Δ_0` (`Δ_ℓ = √(Δ_{ℓ−1}·q_ℓ)`), which
//! keeps every `Δ_ℓ` within the primes' spread of the nominal scale (going downward the
//! deviation would double at each level). Then
//! * `Mult` of two canonical operands at level `ℓ` lands on `Δ_{ℓ−1}` after the rescale;
//! * `CMult` encodes its constant at `Δ_{ℓ−1}·q_ℓ / Δ_ℓ`, landing on `Δ_{ℓ−1}` too;
//! * an operand at a higher level is brought down exactly: dropped to `ℓ + 1`, multiplied by the
//!   integer `round(Δ_ℓ·q_{ℓ+1} / scale)` and rescaled (no key switching; counted as a level drop).
//!
//! [`SlotSimulator`]: hetal_ckks::circuits::simulator::SlotSimulator

use super::ckks_tensor::TensorBackend;
use super::counter::{Op, OpCounter};
use super::plain_cache::{PLAIN_CACHE_ENTRIES, PlainCache};
use super::{SlotCodec, SlotEvaluator};
use crate::{Error, Result};
use hetal_ckks::circuits::backend::SlotBackend;
use num_complex::Complex64;

/// Relative tolerance for "this ciphertext is at its level's canonical scale" (scales are `f64`
/// bookkeeping; the backend checks additions with a tolerance of the same order).
const CANONICAL_TOLERANCE: f64 = 1e-9;

/// Encryption and decryption for a backend (held by the data owner only).
pub trait CkksClient<B: SlotBackend> {
    /// Encrypts `values` (exactly the backend's slot count) at `level` with `scale`.
    fn encrypt(&self, backend: &B, values: &[Complex64], level: usize, scale: f64)
    -> Result<B::Ct>;
    /// Decrypts and decodes all slots.
    fn decrypt(&self, backend: &B, ct: &B::Ct) -> Result<Vec<Complex64>>;
}

/// A sum of products awaiting its single relinearization and rescale, at `level` with scale
/// `Δ_level²`: products added at that level stay unrelinearized (`tensor`); what had to be
/// brought down from a higher level is kept relinearized (`relinearized`).
#[derive(Debug, Clone)]
pub struct PendingProducts<Ct, T> {
    tensor: Option<T>,
    relinearized: Option<Ct>,
    level: usize,
}

/// No client: a server-side evaluator that cannot encrypt or decrypt.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClient;

/// A bootstrapping procedure for the backend's ciphertexts.
pub type Bootstrapper<B> =
    Box<dyn Fn(&B, &<B as SlotBackend>::Ct) -> Result<<B as SlotBackend>::Ct> + Send + Sync>;

/// [`SlotEvaluator`] over a `hetal-ckks` backend, with canonical scales per level.
pub struct CkksSlots<B: SlotBackend, C = NoClient> {
    backend: B,
    client: C,
    scales: Vec<f64>,
    counter: OpCounter,
    bootstrapper: Option<Bootstrapper<B>>,
    bootstrap_level: usize,
    plains: PlainCache<B::Pt>,
}

impl<B: SlotBackend, C> std::fmt::Debug for CkksSlots<B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksSlots")
            .field("slots", &self.backend.max_slots())
            .field("max_level", &self.max_level_inner())
            .field("scales", &self.scales)
            .field("bootstrapping", &self.bootstrapper.is_some())
            .field("cached_plaintexts", &self.plains.len())
            .finish()
    }
}

fn backend_err(e: hetal_ckks::Error) -> Error {
    Error::Backend(e.to_string())
}

impl<B: SlotBackend, C> CkksSlots<B, C> {
    /// An evaluator over `backend` whose ciphertexts have `max_level + 1` primes, with nominal
    /// scale `base_scale` at level 0 (see the module documentation for the chain).
    pub fn new(backend: B, client: C, max_level: usize, base_scale: f64) -> Result<Self> {
        if !(base_scale.is_finite() && base_scale > 1.0) {
            return Err(Error::InvalidInput(format!("base scale {base_scale}")));
        }
        let mut scales = vec![base_scale];
        for level in 1..=max_level {
            let q = backend.prime(level);
            if !(q.is_finite() && q > 1.0) {
                return Err(Error::InvalidLevel(format!(
                    "the backend has no prime for level {level}"
                )));
            }
            let below = scales[level - 1];
            scales.push((below * q).sqrt());
        }
        Ok(CkksSlots {
            backend,
            client,
            scales,
            counter: OpCounter::new(),
            bootstrapper: None,
            bootstrap_level: max_level,
            plains: PlainCache::new(PLAIN_CACHE_ENTRIES),
        })
    }

    /// Enables [`SlotEvaluator::bootstrap`]: `bootstrapper` refreshes a ciphertext, and its
    /// output is brought to `level` (which must be below the bootstrapping output's level, or
    /// equal to it when that output is already at the canonical scale).
    pub fn with_bootstrapping(
        mut self,
        bootstrapper: Bootstrapper<B>,
        level: usize,
    ) -> Result<Self> {
        if level > self.max_level_inner() {
            return Err(Error::InvalidLevel(format!(
                "bootstrap level {level} above the maximum {}",
                self.max_level_inner()
            )));
        }
        self.bootstrapper = Some(bootstrapper);
        self.bootstrap_level = level;
        Ok(self)
    }

    /// The underlying backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The canonical scale of `level`.
    pub fn canonical_scale(&self, level: usize) -> Result<f64> {
        self.scales
            .get(level)
            .copied()
            .ok_or_else(|| Error::InvalidLevel(format!("level {level} above the maximum")))
    }

    fn max_level_inner(&self) -> usize {
        self.scales.len() - 1
    }

    fn is_canonical(&self, ct: &B::Ct) -> bool {
        let level = self.backend.level(ct);
        match self.scales.get(level) {
            Some(&s) => (self.backend.scale(ct) - s).abs() <= CANONICAL_TOLERANCE * s,
            None => false,
        }
    }

    fn check(&self, ct: &B::Ct) -> Result<()> {
        if self.is_canonical(ct) {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "ciphertext at level {} has scale {}, not the canonical {:?}",
                self.backend.level(ct),
                self.backend.scale(ct),
                self.scales.get(self.backend.level(ct))
            )))
        }
    }

    /// Brings a ciphertext (at any scale) to `level` at the canonical scale; exact up to the
    /// rounding of one integer constant. Needs `level < level(ct)` unless it is already canonical.
    fn align(&self, ct: &B::Ct, level: usize) -> Result<B::Ct> {
        let current = self.backend.level(ct);
        if current == level && self.is_canonical(ct) {
            return Ok(ct.clone());
        }
        if current <= level {
            return Err(Error::InvalidLevel(format!(
                "cannot bring a level-{current} ciphertext with scale {} to level {level}",
                self.backend.scale(ct)
            )));
        }
        let target = self.canonical_scale(level)?;
        let dropped = self
            .backend
            .drop_to_level(ct, level + 1)
            .map_err(backend_err)?;
        let factor = target * self.backend.prime(level + 1) / self.backend.scale(&dropped);
        let scaled = self
            .backend
            .mul_const(&dropped, 1.0, factor)
            .map_err(backend_err)?;
        let out = self.backend.rescale(&scaled).map_err(backend_err)?;
        self.counter.record(Op::LevelDrop, 1, current);
        Ok(out)
    }

    /// Both operands canonical at their common (lower) level.
    fn align_pair(&self, a: &B::Ct, b: &B::Ct) -> Result<(B::Ct, B::Ct)> {
        self.check(a)?;
        self.check(b)?;
        let level = self.backend.level(a).min(self.backend.level(b));
        Ok((self.align(a, level)?, self.align(b, level)?))
    }

    /// Records the output level and snaps a canonical scale to its exact value (the `f64`
    /// bookkeeping of long computations must not drift away from the chain).
    fn out(&self, mut ct: B::Ct) -> B::Ct {
        let level = self.backend.level(&ct);
        self.counter.observe_level(level);
        if self.is_canonical(&ct) {
            self.backend.set_scale(&mut ct, self.scales[level]);
        }
        ct
    }

    /// `a ⊙ b` relinearized, not rescaled, with both operands canonical at `level`; the scale is
    /// set to exactly `Δ_level²`.
    fn product_at(&self, a: &B::Ct, b: &B::Ct, level: usize) -> Result<B::Ct> {
        Self::product_level(level)?;
        let (a, b) = (self.align(a, level)?, self.align(b, level)?);
        let mut prod = self.backend.mul_relin(&a, &b).map_err(backend_err)?;
        self.backend
            .set_scale(&mut prod, self.scales[level] * self.scales[level]);
        self.counter.record(Op::Mult, 1, level);
        Ok(prod)
    }

    fn product_level(level: usize) -> Result<()> {
        if level == 0 {
            return Err(Error::LevelExhausted {
                op: "Mult",
                needed: 1,
                level,
            });
        }
        Ok(())
    }
    /// Scale for a plaintext multiplying a canonical level-`level` ciphertext so that the
    /// rescaled product is canonical at `level − 1`.
    fn plain_scale(&self, level: usize) -> Result<f64> {
        if level == 0 {
            return Err(Error::LevelExhausted {
                op: "constant multiplication",
                needed: 1,
                level,
            });
        }
        Ok(self.scales[level - 1] * self.backend.prime(level) / self.scales[level])
    }

    fn check_len(&self, values: &[Complex64]) -> Result<()> {
        if values.len() != self.backend.max_slots() {
            return Err(Error::SlotLength {
                expected: self.backend.max_slots(),
                got: values.len(),
            });
        }
        Ok(())
    }
}

impl<B: TensorBackend, C> CkksSlots<B, C> {
    /// `a ⊗ b` unrelinearized, both operands canonical at `level` (scale `Δ_level²`).
    fn tensor_at(&self, a: &B::Ct, b: &B::Ct, level: usize) -> Result<B::Tensor> {
        Self::product_level(level)?;
        let (a, b) = (self.align(a, level)?, self.align(b, level)?);
        let t = self.backend.tensor(&a, &b).map_err(backend_err)?;
        self.counter.record(Op::Mult, 1, level);
        Ok(t)
    }

    /// The pending sum as one relinearized ciphertext (scale `Δ²`, not rescaled).
    fn collapse(&self, acc: &PendingProducts<B::Ct, B::Tensor>) -> Result<B::Ct> {
        let relin = match &acc.tensor {
            Some(t) => Some(self.backend.relinearize(t).map_err(backend_err)?),
            None => None,
        };
        let mut sum = match (relin, &acc.relinearized) {
            (Some(x), Some(y)) => self.backend.add(&x, y).map_err(backend_err)?,
            (Some(x), None) => x,
            (None, Some(y)) => y.clone(),
            (None, None) => return Err(Error::InvalidInput("empty product sum".into())),
        };
        let scale = self.scales[acc.level];
        self.backend.set_scale(&mut sum, scale * scale);
        Ok(sum)
    }
}

impl<B, C> SlotEvaluator for CkksSlots<B, C>
where
    B: TensorBackend,
    B::Ct: Send + Sync,
{
    type Ct = B::Ct;

    fn slots(&self) -> usize {
        self.backend.max_slots()
    }

    fn max_level(&self) -> usize {
        self.max_level_inner()
    }

    fn bootstrap_level(&self) -> usize {
        self.bootstrap_level
    }

    fn level(&self, ct: &B::Ct) -> usize {
        self.backend.level(ct)
    }

    fn scale(&self, ct: &B::Ct) -> f64 {
        self.backend.scale(ct)
    }

    fn counter(&self) -> &OpCounter {
        &self.counter
    }

    fn add(&self, a: &B::Ct, b: &B::Ct) -> Result<B::Ct> {
        let (a, b) = self.align_pair(a, b)?;
        self.counter.record(Op::Add, 1, self.backend.level(&a));
        Ok(self.out(self.backend.add(&a, &b).map_err(backend_err)?))
    }

    fn sub(&self, a: &B::Ct, b: &B::Ct) -> Result<B::Ct> {
        let (a, b) = self.align_pair(a, b)?;
        self.counter.record(Op::Add, 1, self.backend.level(&a));
        Ok(self.out(self.backend.sub(&a, &b).map_err(backend_err)?))
    }

    fn neg(&self, a: &B::Ct) -> Result<B::Ct> {
        self.check(a)?;
        self.counter.record(Op::Add, 1, self.backend.level(a));
        // Multiplication by the integer −1 at constant scale 1: exact, no level.
        Ok(self.out(self.backend.mul_const(a, -1.0, 1.0).map_err(backend_err)?))
    }

    fn add_const(&self, a: &B::Ct, values: &[Complex64]) -> Result<B::Ct> {
        self.check_len(values)?;
        let first = values[0];
        if values.iter().all(|v| *v == first) {
            return self.add_scalar(a, first);
        }
        self.check(a)?;
        self.counter.record(Op::AddConst, 1, self.backend.level(a));
        Ok(self.out(self.backend.add_values(a, values).map_err(backend_err)?))
    }

    fn add_scalar(&self, a: &B::Ct, c: Complex64) -> Result<B::Ct> {
        self.check(a)?;
        self.counter.record(Op::AddConst, 1, self.backend.level(a));
        Ok(self.out(self.backend.add_const(a, c).map_err(backend_err)?))
    }

    fn mul_const(&self, a: &B::Ct, values: &[Complex64]) -> Result<B::Ct> {
        self.check(a)?;
        self.check_len(values)?;
        let level = self.backend.level(a);
        let pt_scale = self.plain_scale(level)?;
        let pt = self
            .plains
            .get_or_encode(values, level, pt_scale, || {
                self.backend.encode(values, level, pt_scale)
            })
            .map_err(backend_err)?;
        let prod = self.backend.mul_plain(a, &pt).map_err(backend_err)?;
        self.counter.record(Op::CMult, 1, level);
        Ok(self.out(self.backend.rescale(&prod).map_err(backend_err)?))
    }

    fn mul_scalar(&self, a: &B::Ct, c: Complex64) -> Result<B::Ct> {
        self.check(a)?;
        let level = self.backend.level(a);
        let pt_scale = self.plain_scale(level)?;
        let prod = if c.im == 0.0 {
            self.backend.mul_const(a, c.re, pt_scale)
        } else {
            self.backend
                .encode(&[c], level, pt_scale)
                .and_then(|pt| self.backend.mul_plain(a, &pt))
        }
        .map_err(backend_err)?;
        self.counter.record(Op::ScalarMult, 1, level);
        Ok(self.out(self.backend.rescale(&prod).map_err(backend_err)?))
    }

    fn mul(&self, a: &B::Ct, b: &B::Ct) -> Result<B::Ct> {
        self.check(a)?;
        self.check(b)?;
        let level = self.backend.level(a).min(self.backend.level(b));
        let prod = self.product_at(a, b, level)?;
        Ok(self.out(self.backend.rescale(&prod).map_err(backend_err)?))
    }

    type ProductSum = PendingProducts<B::Ct, B::Tensor>;

    fn product_sum(&self, a: &B::Ct, b: &B::Ct) -> Result<Self::ProductSum> {
        self.check(a)?;
        self.check(b)?;
        let level = self.backend.level(a).min(self.backend.level(b));
        Ok(PendingProducts {
            tensor: Some(self.tensor_at(a, b, level)?),
            relinearized: None,
            level,
        })
    }

    fn product_sum_add(&self, acc: &mut Self::ProductSum, a: &B::Ct, b: &B::Ct) -> Result<()> {
        self.check(a)?;
        self.check(b)?;
        let pair_level = self.backend.level(a).min(self.backend.level(b));
        if pair_level < acc.level {
            // Bring the pending sum down: relinearize and rescale it, align it to the pair's
            // level, and lift its scale back to Δ² with an exact integer factor.
            Self::product_level(pair_level)?;
            let done = self
                .backend
                .rescale(&self.collapse(acc)?)
                .map_err(backend_err)?;
            let aligned = self.align(&done, pair_level)?;
            let scale = self.scales[pair_level];
            let mut lifted = self
                .backend
                .mul_const(&aligned, 1.0, scale)
                .map_err(backend_err)?;
            self.backend.set_scale(&mut lifted, scale * scale);
            *acc = PendingProducts {
                tensor: None,
                relinearized: Some(lifted),
                level: pair_level,
            };
        }
        let t = self.tensor_at(a, b, acc.level)?;
        acc.tensor = Some(match acc.tensor.take() {
            Some(x) => self.backend.add_tensor(&x, &t).map_err(backend_err)?,
            None => t,
        });
        Ok(())
    }

    fn product_sum_finish(&self, acc: &Self::ProductSum) -> Result<B::Ct> {
        let sum = self.collapse(acc)?;
        Ok(self.out(self.backend.rescale(&sum).map_err(backend_err)?))
    }

    fn rotate(&self, a: &B::Ct, k: isize) -> Result<B::Ct> {
        let n = self.backend.max_slots() as isize;
        if k.rem_euclid(n) == 0 {
            return Ok(a.clone());
        }
        self.counter.record(Op::Rot, 1, self.backend.level(a));
        Ok(self.out(self.backend.rotate(a, k as i64).map_err(backend_err)?))
    }

    fn rotate_hoisted(&self, a: &B::Ct, steps: &[isize]) -> Result<Vec<B::Ct>> {
        let n = self.backend.max_slots() as isize;
        let nonzero: Vec<i64> = steps
            .iter()
            .filter(|k| k.rem_euclid(n) != 0)
            .map(|&k| k as i64)
            .collect();
        let mut rotated = if nonzero.is_empty() {
            Vec::new()
        } else {
            let level = self.backend.level(a);
            self.counter.record(Op::HoistedBatch, 1, level);
            self.counter.record(Op::Rot, nonzero.len() as u64, level);
            self.backend
                .rotate_hoisted(a, &nonzero)
                .map_err(backend_err)?
        }
        .into_iter();
        steps
            .iter()
            .map(|k| {
                if k.rem_euclid(n) == 0 {
                    Ok(a.clone())
                } else {
                    rotated.next().map(|c| self.out(c)).ok_or_else(|| {
                        Error::Backend("hoisted rotation returned too few ciphertexts".into())
                    })
                }
            })
            .collect()
    }

    fn conjugate(&self, a: &B::Ct) -> Result<B::Ct> {
        self.counter.record(Op::Conj, 1, self.backend.level(a));
        Ok(self.out(self.backend.conjugate(a).map_err(backend_err)?))
    }

    fn mul_i(&self, a: &B::Ct) -> Result<B::Ct> {
        self.counter.record(Op::MulI, 1, self.backend.level(a));
        Ok(self.out(self.backend.mul_i(a).map_err(backend_err)?))
    }

    fn drop_to_level(&self, a: &B::Ct, level: usize) -> Result<B::Ct> {
        self.check(a)?;
        if level > self.backend.level(a) {
            return Err(Error::InvalidLevel(format!(
                "cannot drop a level-{} ciphertext up to level {level}",
                self.backend.level(a)
            )));
        }
        Ok(self.out(self.align(a, level)?))
    }

    fn bootstrap(&self, a: &B::Ct) -> Result<B::Ct> {
        let boot = self
            .bootstrapper
            .as_ref()
            .ok_or_else(|| Error::Bootstrap("this evaluator has no bootstrapping keys".into()))?;
        let refreshed = boot(&self.backend, a)?;
        self.counter.record(Op::Bootstrap, 1, self.backend.level(a));
        Ok(self.out(self.align(&refreshed, self.bootstrap_level)?))
    }
}

impl<B, C> SlotCodec for CkksSlots<B, C>
where
    B: TensorBackend,
    B::Ct: Send + Sync,
    C: CkksClient<B>,
{
    fn encrypt_at(&self, values: &[Complex64], level: usize) -> Result<B::Ct> {
        let slots = self.backend.max_slots();
        if values.len() > slots {
            return Err(Error::SlotLength {
                expected: slots,
                got: values.len(),
            });
        }
        let scale = self.canonical_scale(level)?;
        let mut v = values.to_vec();
        v.resize(slots, Complex64::new(0.0, 0.0));
        self.client.encrypt(&self.backend, &v, level, scale)
    }

    fn decrypt(&self, ct: &B::Ct) -> Result<Vec<Complex64>> {
        self.client.decrypt(&self.backend, ct)
    }
}

/// The client of [`SlotSimulator`](hetal_ckks::circuits::simulator::SlotSimulator): "encryption"
/// is encoding, "decryption" reads the slots.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulatorClient;

impl CkksClient<hetal_ckks::circuits::simulator::SlotSimulator> for SimulatorClient {
    fn encrypt(
        &self,
        backend: &hetal_ckks::circuits::simulator::SlotSimulator,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<hetal_ckks::circuits::simulator::SimCt> {
        backend.encrypt(values, level, scale).map_err(backend_err)
    }

    fn decrypt(
        &self,
        _backend: &hetal_ckks::circuits::simulator::SlotSimulator,
        ct: &hetal_ckks::circuits::simulator::SimCt,
    ) -> Result<Vec<Complex64>> {
        Ok(ct.values.clone())
    }
}
