//! Exact plaintext simulator of a CKKS slot evaluator.
//!
//! A "ciphertext" is the slot vector itself plus a level. Every operation follows the CKKS level
//! bookkeeping of [`SlotEvaluator`] (multiplications consume a level and fail at level 0,
//! bootstrapping resets to the configured level) and is counted, so that algorithms can be checked
//! for correctness, depth and operation counts at HETAL's full sizes (2^15 slots) in milliseconds.

use super::counter::{Op, OpCounter};
use super::{SlotCodec, SlotEvaluator};
use crate::{Error, Result};
use num_complex::Complex64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Parameters of the simulated scheme.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Slots per ciphertext (a power of two).
    pub slots: usize,
    /// Level of a fresh encryption.
    pub max_level: usize,
    /// Level right after bootstrapping.
    pub bootstrap_level: usize,
    /// Lowest level a ciphertext may have to be bootstrapped.
    pub bootstrap_min_level: usize,
    /// If set, bootstrapping fails when a real or imaginary part exceeds this magnitude by more
    /// than [`BOOTSTRAP_RANGE_SLACK`] (CKKS bootstrapping only works on bounded messages).
    pub bootstrap_max_abs: Option<f64>,
    /// Nominal scale reported by [`SlotEvaluator::scale`].
    pub scale: f64,
}

/// Relative excess over [`SimConfig::bootstrap_max_abs`] that bootstrapping still accepts.
///
/// A value that is at most the bound in exact arithmetic can leave f64 evaluation slightly
/// above it (the softmax's exp of a zero logit evaluates to 1 + 2^-52), and a CKKS message
/// carries noise of about 2^-20 of the scale anyway; EvalMod's error grows with |m|^3, so
/// 1 + 10^-6 is as accurate as 1. Anything further out is a planning error and is refused.
pub const BOOTSTRAP_RANGE_SLACK: f64 = 1e-6;

impl SimConfig {
    /// HETAL's setting: 2^15 slots, fresh and bootstrapped ciphertexts at level 12 (HEaaN FGb),
    /// bootstrapping from level 3 up.
    pub fn hetal() -> Self {
        SimConfig {
            slots: 1 << 15,
            max_level: 12,
            bootstrap_level: 12,
            bootstrap_min_level: 3,
            bootstrap_max_abs: None,
            scale: 2f64.powi(42),
        }
    }

    /// HETAL's setting with another slot count.
    pub fn with_slots(slots: usize) -> Self {
        SimConfig {
            slots,
            ..Self::hetal()
        }
    }
}

/// A simulated ciphertext: the exact slot values and the level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimCt {
    /// Slot values.
    pub values: Vec<Complex64>,
    /// Remaining multiplicative levels.
    pub level: usize,
}

/// The exact, counting plaintext backend. It also records every rotation step it performs, so
/// that a dry run tells which Galois keys a computation needs.
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    counter: OpCounter,
    steps_used: Mutex<BTreeSet<usize>>,
}

impl Simulator {
    /// A simulator with `config`; fails if the slot count is not a power of two or the levels
    /// are inconsistent.
    pub fn new(config: SimConfig) -> Result<Self> {
        if !config.slots.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "slot count {} is not a power of two",
                config.slots
            )));
        }
        if config.bootstrap_level > config.max_level {
            return Err(Error::InvalidLevel(format!(
                "bootstrap level {} above max level {}",
                config.bootstrap_level, config.max_level
            )));
        }
        if !(config.scale.is_finite() && config.scale > 0.0) {
            return Err(Error::InvalidInput(format!("scale {}", config.scale)));
        }
        Ok(Simulator {
            config,
            counter: OpCounter::new(),
            steps_used: Mutex::new(BTreeSet::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The distinct rotation steps performed so far, as left rotations in `1..slots` (the form
    /// Galois keys are generated for).
    pub fn rotation_steps_used(&self) -> BTreeSet<usize> {
        self.steps_used
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Forgets the recorded rotation steps.
    pub fn clear_rotation_steps(&self) {
        if let Ok(mut s) = self.steps_used.lock() {
            s.clear();
        }
    }

    fn record_step(&self, k: isize) {
        if let Ok(mut s) = self.steps_used.lock() {
            s.insert(k.rem_euclid(self.config.slots as isize) as usize);
        }
    }

    fn check(&self, ct: &SimCt) -> Result<()> {
        if ct.values.len() != self.config.slots {
            return Err(Error::SlotLength {
                expected: self.config.slots,
                got: ct.values.len(),
            });
        }
        if ct.level > self.config.max_level {
            return Err(Error::InvalidLevel(format!(
                "ciphertext level {} above max level {}",
                ct.level, self.config.max_level
            )));
        }
        Ok(())
    }

    fn check_len(&self, values: &[Complex64]) -> Result<()> {
        if values.len() != self.config.slots {
            return Err(Error::SlotLength {
                expected: self.config.slots,
                got: values.len(),
            });
        }
        Ok(())
    }

    fn out(&self, values: Vec<Complex64>, level: usize) -> SimCt {
        self.counter.observe_level(level);
        SimCt { values, level }
    }

    fn needs_level(op: &'static str, level: usize) -> Result<usize> {
        level.checked_sub(1).ok_or(Error::LevelExhausted {
            op,
            needed: 1,
            level,
        })
    }

    fn zip(
        &self,
        a: &SimCt,
        b: &SimCt,
        f: impl Fn(Complex64, Complex64) -> Complex64,
    ) -> Result<Vec<Complex64>> {
        self.check(a)?;
        self.check(b)?;
        Ok(a.values
            .iter()
            .zip(&b.values)
            .map(|(&x, &y)| f(x, y))
            .collect())
    }

    fn rotated(&self, a: &SimCt, k: isize) -> Vec<Complex64> {
        let n = self.config.slots;
        // Left rotation by k: out[i] = a[(i + k) mod n].
        let r = k.rem_euclid(n as isize) as usize;
        let mut v = Vec::with_capacity(n);
        v.extend_from_slice(&a.values[r..]);
        v.extend_from_slice(&a.values[..r]);
        v
    }

    fn is_identity_rotation(&self, k: isize) -> bool {
        k.rem_euclid(self.config.slots as isize) == 0
    }
}

impl SlotEvaluator for Simulator {
    type Ct = SimCt;

    fn slots(&self) -> usize {
        self.config.slots
    }

    fn max_level(&self) -> usize {
        self.config.max_level
    }

    fn bootstrap_level(&self) -> usize {
        self.config.bootstrap_level
    }

    fn level(&self, ct: &SimCt) -> usize {
        ct.level
    }

    fn scale(&self, _ct: &SimCt) -> f64 {
        self.config.scale
    }

    fn counter(&self) -> &OpCounter {
        &self.counter
    }

    fn add(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        let v = self.zip(a, b, |x, y| x + y)?;
        self.counter.record(Op::Add, 1, a.level.min(b.level));
        Ok(self.out(v, a.level.min(b.level)))
    }

    fn add_assign(&self, acc: &mut SimCt, b: &SimCt) -> Result<()> {
        self.check(acc)?;
        self.check(b)?;
        for (x, y) in acc.values.iter_mut().zip(&b.values) {
            *x += y;
        }
        acc.level = acc.level.min(b.level);
        self.counter.record(Op::Add, 1, acc.level);
        self.counter.observe_level(acc.level);
        Ok(())
    }

    fn sub(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        let v = self.zip(a, b, |x, y| x - y)?;
        self.counter.record(Op::Add, 1, a.level.min(b.level));
        Ok(self.out(v, a.level.min(b.level)))
    }

    fn neg(&self, a: &SimCt) -> Result<SimCt> {
        self.check(a)?;
        self.counter.record(Op::Add, 1, a.level);
        Ok(self.out(a.values.iter().map(|x| -x).collect(), a.level))
    }

    fn add_const(&self, a: &SimCt, values: &[Complex64]) -> Result<SimCt> {
        self.check(a)?;
        self.check_len(values)?;
        self.counter.record(Op::AddConst, 1, a.level);
        let v = a.values.iter().zip(values).map(|(x, y)| x + y).collect();
        Ok(self.out(v, a.level))
    }

    fn add_scalar(&self, a: &SimCt, c: Complex64) -> Result<SimCt> {
        self.check(a)?;
        self.counter.record(Op::AddConst, 1, a.level);
        Ok(self.out(a.values.iter().map(|x| x + c).collect(), a.level))
    }

    fn mul_const(&self, a: &SimCt, values: &[Complex64]) -> Result<SimCt> {
        self.check(a)?;
        self.check_len(values)?;
        let level = Self::needs_level("CMult", a.level)?;
        self.counter.record(Op::CMult, 1, a.level);
        let v = a.values.iter().zip(values).map(|(x, y)| x * y).collect();
        Ok(self.out(v, level))
    }

    fn mul_scalar(&self, a: &SimCt, c: Complex64) -> Result<SimCt> {
        self.check(a)?;
        let level = Self::needs_level("scalar multiplication", a.level)?;
        self.counter.record(Op::ScalarMult, 1, a.level);
        Ok(self.out(a.values.iter().map(|x| x * c).collect(), level))
    }

    fn mul(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        let level = Self::needs_level("Mult", a.level.min(b.level))?;
        let v = self.zip(a, b, |x, y| x * y)?;
        self.counter.record(Op::Mult, 1, level + 1);
        Ok(self.out(v, level))
    }

    type ProductSum = SimCt;

    fn product_sum(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        self.mul(a, b)
    }

    fn product_sum_add(&self, acc: &mut SimCt, a: &SimCt, b: &SimCt) -> Result<()> {
        self.check(acc)?;
        // The CKKS backend multiplies the pair at the pending sum's product level
        // (`acc.level + 1`) when that is lower: the Mult is counted at that level.
        let at = a.level.min(b.level).min(acc.level + 1);
        let level = Self::needs_level("Mult", at)?;
        let p = self.zip(a, b, |x, y| x * y)?;
        self.counter.record(Op::Mult, 1, at);
        self.counter.observe_level(level);
        for (x, y) in acc.values.iter_mut().zip(&p) {
            *x += y;
        }
        acc.level = acc.level.min(level);
        Ok(())
    }

    fn product_sum_finish(&self, acc: &SimCt) -> Result<SimCt> {
        self.check(acc)?;
        Ok(acc.clone())
    }

    fn rotate(&self, a: &SimCt, k: isize) -> Result<SimCt> {
        self.check(a)?;
        if self.is_identity_rotation(k) {
            return Ok(a.clone());
        }
        self.counter.record(Op::Rot, 1, a.level);
        self.record_step(k);
        Ok(self.out(self.rotated(a, k), a.level))
    }

    fn rotate_hoisted(&self, a: &SimCt, steps: &[isize]) -> Result<Vec<SimCt>> {
        self.check(a)?;
        let nonzero = steps
            .iter()
            .filter(|&&k| !self.is_identity_rotation(k))
            .count();
        if nonzero > 0 {
            self.counter.record(Op::HoistedBatch, 1, a.level);
            self.counter.record(Op::Rot, nonzero as u64, a.level);
        }
        Ok(steps
            .iter()
            .map(|&k| {
                if self.is_identity_rotation(k) {
                    a.clone()
                } else {
                    self.record_step(k);
                    self.out(self.rotated(a, k), a.level)
                }
            })
            .collect())
    }

    fn conjugate(&self, a: &SimCt) -> Result<SimCt> {
        self.check(a)?;
        self.counter.record(Op::Conj, 1, a.level);
        Ok(self.out(a.values.iter().map(|x| x.conj()).collect(), a.level))
    }

    fn mul_i(&self, a: &SimCt) -> Result<SimCt> {
        self.check(a)?;
        self.counter.record(Op::MulI, 1, a.level);
        let i = Complex64::i();
        Ok(self.out(a.values.iter().map(|x| x * i).collect(), a.level))
    }

    fn drop_to_level(&self, a: &SimCt, level: usize) -> Result<SimCt> {
        self.check(a)?;
        if level > a.level {
            return Err(Error::InvalidLevel(format!(
                "cannot drop a level-{} ciphertext up to level {level}",
                a.level
            )));
        }
        if level == a.level {
            return Ok(a.clone());
        }
        self.counter.record(Op::LevelDrop, 1, a.level);
        Ok(self.out(a.values.clone(), level))
    }

    fn bootstrap(&self, a: &SimCt) -> Result<SimCt> {
        self.check(a)?;
        if a.level < self.config.bootstrap_min_level {
            return Err(Error::LevelExhausted {
                op: "bootstrap",
                needed: self.config.bootstrap_min_level,
                level: a.level,
            });
        }
        if let Some(bound) = self.config.bootstrap_max_abs
            && let limit = bound * (1.0 + BOOTSTRAP_RANGE_SLACK)
            && let Some(bad) = a
                .values
                .iter()
                .find(|x| !(x.re.abs() <= limit && x.im.abs() <= limit))
        {
            return Err(Error::Bootstrap(format!(
                "slot value {bad} exceeds the bootstrappable range ±{bound}"
            )));
        }
        self.counter.record(Op::Bootstrap, 1, a.level);
        Ok(self.out(a.values.clone(), self.config.bootstrap_level))
    }
}

impl SlotCodec for Simulator {
    fn encrypt_at(&self, values: &[Complex64], level: usize) -> Result<SimCt> {
        if values.len() > self.config.slots {
            return Err(Error::SlotLength {
                expected: self.config.slots,
                got: values.len(),
            });
        }
        if level > self.config.max_level {
            return Err(Error::InvalidLevel(format!(
                "cannot encrypt at level {level} above max level {}",
                self.config.max_level
            )));
        }
        let mut v = values.to_vec();
        v.resize(self.config.slots, Complex64::new(0.0, 0.0));
        Ok(SimCt { values: v, level })
    }

    fn decrypt(&self, ct: &SimCt) -> Result<Vec<Complex64>> {
        self.check(ct)?;
        Ok(ct.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(re: f64) -> Complex64 {
        Complex64::new(re, 0.0)
    }

    fn sim(slots: usize) -> Simulator {
        Simulator::new(SimConfig {
            slots,
            max_level: 3,
            bootstrap_level: 2,
            bootstrap_min_level: 0,
            bootstrap_max_abs: Some(10.0),
            scale: 1.0,
        })
        .unwrap()
    }

    #[test]
    fn rotation_is_left_and_counted() {
        let s = sim(8);
        let x = s
            .encrypt(&(0..8).map(|i| c(i as f64)).collect::<Vec<_>>())
            .unwrap();
        let l = s.rotate(&x, 3).unwrap();
        assert_eq!(l.values[0], c(3.0));
        assert_eq!(l.values[7], c(2.0));
        let r = s.rotate(&x, -1).unwrap();
        assert_eq!(r.values[0], c(7.0));
        assert_eq!(s.rotate(&x, 8).unwrap(), x);
        let h = s.rotate_hoisted(&x, &[0, 1, -2]).unwrap();
        assert_eq!(h[0], x);
        assert_eq!(h[1], s.rotate(&x, 1).unwrap());
        assert_eq!(h[2].values[0], c(6.0));
        let n = s.counts();
        assert_eq!((n.rot, n.hoisted_batches), (5, 1));
        assert_eq!(
            s.rotation_steps_used().into_iter().collect::<Vec<_>>(),
            vec![1, 3, 6, 7]
        );
        s.clear_rotation_steps();
        assert!(s.rotation_steps_used().is_empty());
    }

    #[test]
    fn levels_follow_ckks_bookkeeping() {
        let s = sim(4);
        let x = s.encrypt(&[c(1.0), c(2.0)]).unwrap();
        let y = s.encrypt_at(&[c(3.0)], 1).unwrap();
        let p = s.mul(&x, &y).unwrap();
        assert_eq!(p.level, 0);
        assert_eq!(p.values[0], c(3.0));
        assert_eq!(s.add(&x, &y).unwrap().level, 1);
        assert!(matches!(s.mul(&p, &x), Err(Error::LevelExhausted { .. })));
        assert!(s.mul_const(&p, &[c(1.0); 4]).is_err());
        assert!(s.drop_to_level(&p, 1).is_err());
        let b = s.bootstrap(&p).unwrap();
        assert_eq!(b.level, 2);
        let big = s.encrypt(&[c(11.0)]).unwrap();
        assert!(matches!(s.bootstrap(&big), Err(Error::Bootstrap(_))));
        assert_eq!(s.counts().min_level, Some(0));
    }

    #[test]
    fn product_sums_count_each_product_and_take_the_lowest_level() {
        let s = sim(2);
        let x = s.encrypt(&[c(1.0), c(2.0)]).unwrap();
        let y = s.encrypt_at(&[c(3.0), c(4.0)], 2).unwrap();
        let mut acc = s.product_sum(&x, &x).unwrap();
        s.product_sum_add(&mut acc, &x, &y).unwrap();
        let out = s.product_sum_finish(&acc).unwrap();
        assert_eq!(out.values, vec![c(4.0), c(12.0)]);
        assert_eq!(out.level, 1);
        assert_eq!(s.counts().mult, 2);
        assert_eq!(
            s.counts().add,
            0,
            "the lazy sum's additions are part of the products"
        );
    }

    #[test]
    fn complex_operations_are_exact() {
        let s = sim(2);
        let x = s.encrypt(&[Complex64::new(1.0, 2.0), c(-1.0)]).unwrap();
        let re = s.add(&x, &s.conjugate(&x).unwrap()).unwrap();
        assert_eq!(re.values, vec![c(2.0), c(-2.0)]);
        let ix = s.mul_i(&x).unwrap();
        assert_eq!(ix.values[0], Complex64::new(-2.0, 1.0));
        assert_eq!(ix.level, x.level);
        assert!(s.mul_const(&x, &[c(1.0)]).is_err());
        assert!(s.encrypt(&[c(0.0); 3]).is_err());
    }

    #[test]
    fn bootstrap_range_tolerates_rounding_but_not_overflow() {
        let s = sim(2);
        let at_bound = s.encrypt(&[c(10.0 * (1.0 + 1e-12)), c(-10.0)]).unwrap();
        assert!(
            s.bootstrap(&at_bound).is_ok(),
            "f64 rounding above the bound"
        );
        let over = s.encrypt(&[c(10.0 * (1.0 + 1e-4)), c(0.0)]).unwrap();
        assert!(matches!(s.bootstrap(&over), Err(Error::Bootstrap(_))));
        let imag = s.encrypt(&[Complex64::new(0.0, -10.5), c(0.0)]).unwrap();
        assert!(matches!(s.bootstrap(&imag), Err(Error::Bootstrap(_))));
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(Simulator::new(SimConfig::with_slots(6)).is_err());
        let mut cfg = SimConfig::hetal();
        cfg.bootstrap_level = 13;
        assert!(Simulator::new(cfg).is_err());
    }
}
