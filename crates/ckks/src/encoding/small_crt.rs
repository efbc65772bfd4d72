//! Exact centered reconstruction for the common case of a value much smaller than its modulus.
//!
//! Decoding a decrypted plaintext at a high level (25 limbs at N = 2^16) with a full
//! multi-word CRT costs O(L²) word operations per coefficient, yet the message is almost always
//! below `q_0·q_1 / 2` (Δ·|m| plus noise). [`SmallCrt`] reconstructs from the first two limbs in
//! 128-bit arithmetic and then checks the candidate against every other limb — O(L) per
//! coefficient. The result is exact either way: if the candidate x₂ (centered modulo `q_0·q_1`)
//! agrees with every residue, then x₂ ≡ x (mod Q) and |x₂| < q_0·q_1/2 ≤ Q/2, so x₂ is the
//! centered value; if any residue disagrees, the caller falls back to the full CRT.

use crate::math::modulus::Modulus;

/// Two-limb reconstruction with a consistency check against the remaining limbs.
#[derive(Debug, Clone)]
pub struct SmallCrt {
    moduli: Vec<Modulus>,
    /// `q_0^{-1} mod q_1` (unused with a single limb).
    q0_inv_mod_q1: u64,
    /// `q_0 · q_1` (or `q_0` with a single limb), below 2^124.
    product: u128,
}

impl SmallCrt {
    /// Constants for the given limbs (at least one). Returns `None` if `q_0` has no inverse
    /// modulo `q_1` (the primes are not distinct).
    pub fn new(moduli: &[Modulus]) -> Option<Self> {
        let first = moduli.first()?;
        let (q0_inv_mod_q1, product) = match moduli.get(1) {
            Some(q1) => (
                q1.inv(first.value())?,
                u128::from(first.value()) * u128::from(q1.value()),
            ),
            None => (0, u128::from(first.value())),
        };
        Some(Self {
            moduli: moduli.to_vec(),
            q0_inv_mod_q1,
            product,
        })
    }

    /// The centered value of the coefficient with these residues (one per limb), or `None`
    /// when it is not below `q_0·q_1 / 2` in magnitude (use the full CRT then).
    pub fn centered(&self, residues: &[u64]) -> Option<f64> {
        let r0 = *residues.first()?;
        let q0 = self.moduli[0].value();
        let x: u128 = match (self.moduli.get(1), residues.get(1)) {
            (Some(m1), Some(&r1)) => {
                // x = r0 + q0 · ((r1 - r0) · q0^{-1} mod q1), in [0, q0·q1).
                let t = m1.mul(m1.sub(r1, m1.reduce(r0)), self.q0_inv_mod_q1);
                u128::from(r0) + u128::from(q0) * u128::from(t)
            }
            _ => u128::from(r0),
        };
        let centered: i128 = if x > self.product / 2 {
            x as i128 - self.product as i128
        } else {
            x as i128
        };
        let consistent = self
            .moduli
            .iter()
            .zip(residues)
            .skip(2)
            .all(|(m, &r)| m.from_i128(centered) == r);
        consistent.then_some(centered as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;
    use proptest::prelude::*;

    fn moduli(bits: &[u32]) -> Vec<Modulus> {
        let mut g = PrimeGenerator::new(1024);
        bits.iter()
            .map(|&b| Modulus::new(g.next_prime(b).unwrap()).unwrap())
            .collect()
    }

    fn residues(moduli: &[Modulus], x: i128) -> Vec<u64> {
        moduli.iter().map(|m| m.from_i128(x)).collect()
    }

    #[test]
    fn single_limb_is_the_centered_residue() {
        let m = moduli(&[50]);
        let crt = SmallCrt::new(&m).unwrap();
        for x in [0i128, 1, -1, 123_456_789, -(1 << 48)] {
            assert_eq!(crt.centered(&residues(&m, x)), Some(x as f64));
        }
    }

    #[test]
    fn values_beyond_two_limbs_are_refused_not_wrapped() {
        let m = moduli(&[40, 40, 40, 40]);
        let crt = SmallCrt::new(&m).unwrap();
        let q01 = (m[0].value() as i128) * (m[1].value() as i128);
        // Just inside and just outside the two-limb range.
        assert_eq!(
            crt.centered(&residues(&m, q01 / 2 - 1)),
            Some((q01 / 2 - 1) as f64)
        );
        assert_eq!(crt.centered(&residues(&m, q01 / 2 + 7)), None);
        assert_eq!(crt.centered(&residues(&m, -q01)), None);
    }

    proptest! {
        #[test]
        fn exact_for_every_value_in_range(x in any::<i64>(), shift in 0u32..40) {
            let m = moduli(&[60, 45, 45, 45]);
            let crt = SmallCrt::new(&m).unwrap();
            let v = (x as i128) << shift; // up to 2^103, inside q0·q1/2 ≈ 2^104
            prop_assert_eq!(crt.centered(&residues(&m, v)), Some(v as f64));
        }
    }
}
