//! [`SlotSimulator`]: a noise-free model of a CKKS evaluator that checks levels and scales.
//!
//! Ciphertexts are plain slot vectors with a level and a scale. Every operation enforces what
//! the real scheme needs (equal levels, equal scales for additions, a level left to rescale) and
//! applies the same rounding of constants to integers, so a circuit that runs here runs with the
//! same bookkeeping on ciphertexts; only the encryption noise is missing. ModRaise is modelled
//! exactly: the overflow `q_0·I` is added to the plaintext polynomial's coefficients.

use num_complex::Complex64;

use super::backend::{SCALE_TOLERANCE, SlotBackend};
use crate::encoding::fft::SpecialFft;
use crate::{Error, Result};

/// A simulated ciphertext.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCt {
    /// Slot values (N/2 of them).
    pub values: Vec<Complex64>,
    /// Level.
    pub level: usize,
    /// Scale.
    pub scale: f64,
}

/// A simulated plaintext.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPt {
    values: Vec<Complex64>,
    level: usize,
    scale: f64,
}

/// The simulator: N/2 slots and a modulus chain given by its primes (as `f64`).
#[derive(Debug, Clone)]
pub struct SlotSimulator {
    slots: usize,
    primes: Vec<f64>,
    /// ModRaise overflows are drawn uniformly from `[-bound, bound]`.
    overflow_bound: i64,
    /// xorshift state for the overflows.
    rng_state: std::cell::Cell<u64>,
    /// Key switches performed so far (relinearizations, rotations, conjugations).
    key_switches: std::cell::Cell<usize>,
}

impl SlotSimulator {
    /// A simulator for ring degree `2^log_n` with the given primes (`primes[0]` = q_0).
    pub fn new(log_n: u32, primes: Vec<f64>) -> Result<Self> {
        if !(2..=17).contains(&log_n) || primes.is_empty() {
            return Err(Error::InvalidInput(
                "simulator needs 2 ≤ log_n ≤ 17 and at least one prime".into(),
            ));
        }
        Ok(Self {
            slots: 1 << (log_n - 1),
            primes,
            overflow_bound: 0,
            rng_state: std::cell::Cell::new(0x9E37_79B9_7F4A_7C15),
            key_switches: std::cell::Cell::new(0),
        })
    }

    /// Key switches the real scheme would have performed so far: one per relinearization
    /// (a lazily relinearised sum of products counts once), rotation and conjugation. A cost
    /// figure for circuits, checked against their a priori counts.
    pub fn key_switches(&self) -> usize {
        self.key_switches.get()
    }

    fn count_key_switches(&self, k: usize) {
        self.key_switches.set(self.key_switches.get() + k);
    }

    /// Makes [`SlotBackend::mod_raise`] add overflows uniform in `[-bound, bound]`.
    pub fn with_overflow(mut self, bound: i64, seed: u64) -> Self {
        self.overflow_bound = bound.max(0);
        self.rng_state = std::cell::Cell::new(seed | 1);
        self
    }

    fn next_overflow(&self) -> i64 {
        let mut s = self.rng_state.get();
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.rng_state.set(s);
        let span = 2 * self.overflow_bound as u64 + 1;
        (s % span) as i64 - self.overflow_bound
    }

    /// A "fresh ciphertext" holding `values` (a period, replicated) at `level` and `scale`.
    pub fn encrypt(&self, values: &[Complex64], level: usize, scale: f64) -> Result<SimCt> {
        let pt = self.encode(values, level, scale)?;
        Ok(SimCt {
            values: pt.values,
            level,
            scale,
        })
    }

    /// ModRaise with explicit overflows: adds `q_0 · overflow[k]` to the k-th coefficient of the
    /// plaintext polynomial (N coefficients) and moves it to the top level.
    pub fn mod_raise_with(&self, ct: &SimCt, overflow: &[i64]) -> Result<SimCt> {
        if ct.level != 0 || overflow.len() != 2 * self.slots {
            return Err(Error::InvalidInput(
                "mod_raise needs a level-0 ciphertext and N overflow integers".into(),
            ));
        }
        let fft = SpecialFft::new(self.slots)?;
        let mut w = ct.values.clone();
        fft.embed_inverse(&mut w)?;
        let q0_over_scale = self.primes[0] / ct.scale;
        for (k, wk) in w.iter_mut().enumerate() {
            *wk += Complex64::new(
                overflow[k] as f64 * q0_over_scale,
                overflow[k + self.slots] as f64 * q0_over_scale,
            );
        }
        fft.embed(&mut w)?;
        Ok(SimCt {
            values: w,
            level: self.max_level(),
            scale: ct.scale,
        })
    }

    fn same_level_and_scale(&self, a: &SimCt, b: &SimCt) -> Result<()> {
        if a.level != b.level {
            return Err(Error::Level(format!(
                "operands at levels {} and {}",
                a.level, b.level
            )));
        }
        if (a.scale - b.scale).abs() > SCALE_TOLERANCE * a.scale.abs().max(b.scale.abs()) {
            return Err(Error::ScaleMismatch {
                left: a.scale,
                right: b.scale,
            });
        }
        Ok(())
    }

    fn rotated(&self, v: &[Complex64], step: i64) -> Vec<Complex64> {
        let n = v.len();
        let s = step.rem_euclid(n as i64) as usize;
        (0..n).map(|j| v[(j + s) % n]).collect()
    }
}

impl SlotBackend for SlotSimulator {
    type Ct = SimCt;
    type Pt = SimPt;

    fn max_slots(&self) -> usize {
        self.slots
    }

    fn max_level(&self) -> usize {
        self.primes.len() - 1
    }

    fn level(&self, ct: &SimCt) -> usize {
        ct.level
    }

    fn scale(&self, ct: &SimCt) -> f64 {
        ct.scale
    }

    fn set_scale(&self, ct: &mut SimCt, scale: f64) {
        let factor = ct.scale / scale;
        for v in ct.values.iter_mut() {
            *v *= factor;
        }
        ct.scale = scale;
    }

    fn prime(&self, level: usize) -> f64 {
        self.primes.get(level).copied().unwrap_or(f64::NAN)
    }

    fn encode(&self, values: &[Complex64], level: usize, scale: f64) -> Result<SimPt> {
        if values.is_empty() || !self.slots.is_multiple_of(values.len()) || level > self.max_level()
        {
            return Err(Error::InvalidInput(format!(
                "cannot encode {} values at level {level}",
                values.len()
            )));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidInput(format!("invalid scale {scale}")));
        }
        Ok(SimPt {
            values: (0..self.slots).map(|j| values[j % values.len()]).collect(),
            level,
            scale,
        })
    }

    fn add(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        self.same_level_and_scale(a, b)?;
        let mut out = a.clone();
        for (x, y) in out.values.iter_mut().zip(&b.values) {
            *x += y;
        }
        Ok(out)
    }

    fn sub(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        self.same_level_and_scale(a, b)?;
        let mut out = a.clone();
        for (x, y) in out.values.iter_mut().zip(&b.values) {
            *x -= y;
        }
        Ok(out)
    }

    fn mul_plain(&self, ct: &SimCt, pt: &SimPt) -> Result<SimCt> {
        if ct.level != pt.level {
            return Err(Error::Level(format!(
                "ciphertext at level {} times plaintext at level {}",
                ct.level, pt.level
            )));
        }
        Ok(SimCt {
            values: ct
                .values
                .iter()
                .zip(&pt.values)
                .map(|(x, y)| x * y)
                .collect(),
            level: ct.level,
            scale: ct.scale * pt.scale,
        })
    }

    fn mul_plain_add(&self, acc: &mut SimCt, ct: &SimCt, pt: &SimPt) -> Result<()> {
        let prod = self.mul_plain(ct, pt)?;
        *acc = self.add(acc, &prod)?;
        Ok(())
    }

    fn mul_const(&self, ct: &SimCt, value: f64, const_scale: f64) -> Result<SimCt> {
        let k = (value * const_scale).round();
        if !k.is_finite() || !const_scale.is_finite() || const_scale <= 0.0 {
            return Err(Error::InvalidInput(format!(
                "constant {value} at scale {const_scale}"
            )));
        }
        Ok(SimCt {
            values: ct.values.iter().map(|x| x * (k / const_scale)).collect(),
            level: ct.level,
            scale: ct.scale * const_scale,
        })
    }

    fn add_const(&self, ct: &SimCt, value: Complex64) -> Result<SimCt> {
        let mut out = ct.clone();
        for x in out.values.iter_mut() {
            *x += value;
        }
        Ok(out)
    }

    fn mul_i(&self, ct: &SimCt) -> Result<SimCt> {
        let mut out = ct.clone();
        for x in out.values.iter_mut() {
            *x *= Complex64::new(0.0, 1.0);
        }
        Ok(out)
    }

    fn mul_relin(&self, a: &SimCt, b: &SimCt) -> Result<SimCt> {
        if a.level != b.level {
            return Err(Error::Level(format!(
                "product of levels {} and {}",
                a.level, b.level
            )));
        }
        self.count_key_switches(1);
        Ok(SimCt {
            values: a.values.iter().zip(&b.values).map(|(x, y)| x * y).collect(),
            level: a.level,
            scale: a.scale * b.scale,
        })
    }

    fn sum_of_products_rescale(
        &self,
        pairs: &[(&SimCt, &SimCt)],
        addend: Option<&SimCt>,
    ) -> Result<SimCt> {
        let Some(&(first, _)) = pairs.first() else {
            return Err(Error::InvalidInput(
                "a sum of products needs a product".into(),
            ));
        };
        let (level, scale) = (first.level, first.scale * pairs[0].1.scale);
        let mut values = vec![Complex64::new(0.0, 0.0); self.slots];
        for &(a, b) in pairs {
            if a.level != level || b.level != level {
                return Err(Error::Level(format!(
                    "sum of products at level {level} with operands at levels {} and {}",
                    a.level, b.level
                )));
            }
            let s = a.scale * b.scale;
            if (s - scale).abs() > SCALE_TOLERANCE * s.max(scale) {
                return Err(Error::ScaleMismatch {
                    left: scale,
                    right: s,
                });
            }
            for (v, (x, y)) in values.iter_mut().zip(a.values.iter().zip(&b.values)) {
                *v += x * y;
            }
        }
        if let Some(c) = addend {
            if c.level != level || (c.scale - scale).abs() > SCALE_TOLERANCE * c.scale.max(scale) {
                return Err(Error::ScaleMismatch {
                    left: scale,
                    right: c.scale,
                });
            }
            for (v, x) in values.iter_mut().zip(&c.values) {
                *v += x;
            }
        }
        // One relinearization for the whole sum.
        self.count_key_switches(1);
        self.rescale(&SimCt {
            values,
            level,
            scale,
        })
    }

    fn rescale(&self, ct: &SimCt) -> Result<SimCt> {
        if ct.level == 0 {
            return Err(Error::Level("cannot rescale at level 0".into()));
        }
        let mut out = ct.clone();
        out.scale /= self.primes[ct.level];
        out.level -= 1;
        Ok(out)
    }

    fn drop_to_level(&self, ct: &SimCt, level: usize) -> Result<SimCt> {
        if level > ct.level {
            return Err(Error::Level(format!(
                "cannot drop from level {} up to {level}",
                ct.level
            )));
        }
        let mut out = ct.clone();
        out.level = level;
        Ok(out)
    }

    fn rotate(&self, ct: &SimCt, step: i64) -> Result<SimCt> {
        self.count_key_switches(1);
        let mut out = ct.clone();
        out.values = self.rotated(&ct.values, step);
        Ok(out)
    }

    fn rotate_hoisted(&self, ct: &SimCt, steps: &[i64]) -> Result<Vec<SimCt>> {
        steps.iter().map(|&s| self.rotate(ct, s)).collect()
    }

    fn conjugate(&self, ct: &SimCt) -> Result<SimCt> {
        self.count_key_switches(1);
        let mut out = ct.clone();
        for x in out.values.iter_mut() {
            *x = x.conj();
        }
        Ok(out)
    }

    fn mod_raise(&self, ct: &SimCt) -> Result<SimCt> {
        let overflow: Vec<i64> = (0..2 * self.slots).map(|_| self.next_overflow()).collect();
        self.mod_raise_with(ct, &overflow)
    }
}
