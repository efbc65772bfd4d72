//! [`EncodedTransform`]: a BSGS plan with its diagonals encoded once, evaluated homomorphically.

use super::BsgsPlan;
use crate::circuits::backend::SlotBackend;
use crate::{Error, Result};

/// One giant step of a pre-encoded transform: its rotation and the `(baby step, plaintext
/// diagonal)` pairs it sums.
pub type EncodedGroup<P> = (i64, Vec<(i64, P)>);

/// A linear transform ready for one level: diagonals encoded at that level with a fixed
/// plaintext scale, grouped by giant step.
#[derive(Debug, Clone)]
pub struct EncodedTransform<P> {
    level: usize,
    plaintext_scale: f64,
    baby_steps: Vec<i64>,
    /// (giant step, [(baby step, encoded pre-rotated diagonal)]).
    groups: Vec<EncodedGroup<P>>,
}

impl<P> EncodedTransform<P> {
    /// Encodes the plan's diagonals at `level` with `plaintext_scale`. Applying the transform to
    /// a ciphertext of scale `s` then yields scale `s · plaintext_scale / q_level` (one rescale):
    /// `plaintext_scale = q_level` keeps the scale.
    pub fn encode<B: SlotBackend<Pt = P>>(
        backend: &B,
        plan: &BsgsPlan,
        level: usize,
        plaintext_scale: f64,
    ) -> Result<Self> {
        if level == 0 {
            return Err(Error::Level(
                "a linear transform needs a level to rescale".into(),
            ));
        }
        let mut groups = Vec::with_capacity(plan.groups().len());
        for (&giant, group) in plan.groups() {
            let mut encoded = Vec::with_capacity(group.len());
            for (&baby, diag) in group {
                encoded.push((baby, backend.encode_diagonal(diag, level, plaintext_scale)?));
            }
            groups.push((giant, encoded));
        }
        Ok(Self {
            level,
            plaintext_scale,
            baby_steps: plan.baby_rotations().into_iter().collect(),
            groups,
        })
    }

    /// The level the input must be at.
    pub fn level(&self) -> usize {
        self.level
    }

    /// The scale the diagonals are encoded with.
    pub fn plaintext_scale(&self) -> f64 {
        self.plaintext_scale
    }

    /// Number of encoded diagonals.
    pub fn diagonal_count(&self) -> usize {
        self.groups.iter().map(|(_, g)| g.len()).sum()
    }

    /// Applies the transform ([`SlotBackend::linear_transform`]: baby-step rotations of the
    /// input, one plaintext product per diagonal, one rotation per giant step, one rescale).
    pub fn apply<B: SlotBackend<Pt = P>>(&self, backend: &B, ct: &B::Ct) -> Result<B::Ct> {
        if backend.level(ct) != self.level {
            return Err(Error::Level(format!(
                "linear transform encoded for level {} applied at level {}",
                self.level,
                backend.level(ct)
            )));
        }
        backend.linear_transform(ct, &self.baby_steps, &self.groups)
    }
}

/// [`SlotBackend::linear_transform`] from the primitive operations: hoisted baby-step
/// rotations of the input, one plaintext product per diagonal, one rotation per giant step,
/// one rescale at the end.
pub fn apply_with_primitives<B: SlotBackend + ?Sized>(
    backend: &B,
    ct: &B::Ct,
    baby_steps: &[i64],
    groups: &[EncodedGroup<B::Pt>],
) -> Result<B::Ct> {
    let rotated = backend.rotate_hoisted(ct, baby_steps)?;
    let baby = |b: i64| -> Result<&B::Ct> {
        if b == 0 {
            return Ok(ct);
        }
        baby_steps
            .iter()
            .position(|&s| s == b)
            .map(|i| &rotated[i])
            .ok_or_else(|| Error::InvalidInput(format!("baby step {b} not rotated")))
    };
    let mut out: Option<B::Ct> = None;
    for (giant, group) in groups {
        let mut inner: Option<B::Ct> = None;
        for (b, pt) in group {
            let src = baby(*b)?;
            match inner.as_mut() {
                None => inner = Some(backend.mul_plain(src, pt)?),
                Some(acc) => backend.mul_plain_add(acc, src, pt)?,
            }
        }
        let Some(mut inner) = inner else { continue };
        if *giant != 0 {
            inner = backend.rotate(&inner, *giant)?;
        }
        out = Some(match out {
            None => inner,
            Some(acc) => backend.add(&acc, &inner)?,
        });
    }
    let out = out.ok_or_else(|| Error::InvalidInput("empty linear transform".into()))?;
    backend.rescale(&out)
}

#[cfg(test)]
mod tests {
    use num_complex::Complex64;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::circuits::lintrans::DiagonalMatrix;
    use crate::circuits::simulator::SlotSimulator;

    #[test]
    fn homomorphic_transform_matches_plain_and_keeps_scale() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let sim = SlotSimulator::new(
            8,
            vec![2f64.powi(60), 2f64.powi(45) + 1.0, 2f64.powi(45) - 7.0],
        )
        .unwrap();
        let mut m = DiagonalMatrix::zero(32).unwrap();
        for k in [-5i64, -1, 0, 2, 3, 8, 16] {
            let d: Vec<Complex64> = (0..32)
                .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
                .collect();
            m.add_to_diagonal(k, &d).unwrap();
        }
        let plan = BsgsPlan::new(&m).unwrap();
        let t = EncodedTransform::encode(&sim, &plan, 2, sim.prime(2)).unwrap();
        let v: Vec<Complex64> = (0..32)
            .map(|j| Complex64::new((j as f64).cos(), 0.5))
            .collect();
        let ct = sim.encrypt(&v, 2, 2f64.powi(45)).unwrap();
        let out = t.apply(&sim, &ct).unwrap();
        assert_eq!(out.level, 1);
        assert!((out.scale - 2f64.powi(45)).abs() < 1e-6);
        let expect = m.apply(&ct.values).unwrap();
        for (a, b) in out.values.iter().zip(&expect) {
            assert!((a - b).norm() < 1e-9);
        }
        assert!(t.apply(&sim, &out).is_err());
    }
}
