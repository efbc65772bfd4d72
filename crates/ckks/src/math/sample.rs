//! Randomness: a ChaCha20 generator and the samplers CKKS needs.
//!
//! * uniform polynomials modulo every limb, generated from one 32-byte seed so that a party that
//!   knows the seed regenerates the same polynomial (limb by limb, coefficient by coefficient,
//!   by rejection sampling — so the first `l` limbs do not depend on how many limbs follow);
//! * ternary secrets (uniform in {-1,0,1}, or with a fixed Hamming weight);
//! * rounded Gaussian errors with σ = 3.2, cut off at 6σ.

use super::poly::{Form, RnsPoly};
use super::ring::RnsRing;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Standard deviation of the error distribution.
pub const ERROR_SIGMA: f64 = 3.2;
/// Errors are cut off at this many standard deviations.
pub const ERROR_BOUND_SIGMAS: f64 = 6.0;

/// The cryptographic generator used everywhere: ChaCha20.
pub struct Prng(ChaCha20Rng);

impl std::fmt::Debug for Prng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prng(ChaCha20)")
    }
}

impl Prng {
    /// Seeded from the operating system.
    pub fn from_os() -> Self {
        Self(ChaCha20Rng::from_entropy())
    }

    /// Seeded explicitly (tests, or regenerating a seeded polynomial).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ChaCha20Rng::from_seed(seed))
    }

    /// A fresh 32-byte seed drawn from this generator.
    pub fn seed(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        self.0.fill_bytes(&mut s);
        s
    }

    /// The underlying generator.
    pub fn rng(&mut self) -> &mut ChaCha20Rng {
        &mut self.0
    }
}

/// A polynomial with uniform residues modulo each of its `num_q + num_p` limbs, expanded from
/// `seed`, declared in NTT form (a uniform polynomial is uniform in either form).
pub fn uniform_poly(ring: &RnsRing, seed: &[u8; 32], num_q: usize, num_p: usize) -> RnsPoly {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    let n = ring.n();
    // Every residue is overwritten below: no zero fill.
    let mut poly = RnsPoly::for_overwrite(n, num_q, num_p, Form::Ntt);
    for i in 0..num_q + num_p {
        let p = ring.modulus(i, num_q).value();
        let mask = u64::MAX >> p.leading_zeros();
        for x in poly.limb_mut(i) {
            *x = loop {
                let v = rng.next_u64() & mask;
                if v < p {
                    break v;
                }
            };
        }
    }
    poly
}

/// `n` coefficients uniform in {-1, 0, 1}.
pub fn ternary(rng: &mut Prng, n: usize) -> Vec<i64> {
    (0..n).map(|_| rng.0.gen_range(-1i64..=1)).collect()
}

/// `n` ternary coefficients with exactly `weight` non-zero entries (random signs and positions);
/// `weight` is clamped to `n`.
pub fn sparse_ternary(rng: &mut Prng, n: usize, weight: usize) -> Vec<i64> {
    let mut out = vec![0i64; n];
    let weight = weight.min(n);
    // Partial Fisher–Yates over positions.
    let mut positions: Vec<usize> = (0..n).collect();
    for k in 0..weight {
        let j = rng.0.gen_range(k..n);
        positions.swap(k, j);
        out[positions[k]] = if rng.0.gen_bool(0.5) { 1 } else { -1 };
    }
    out
}

/// `n` rounded Gaussian samples with standard deviation [`ERROR_SIGMA`], rejected beyond
/// [`ERROR_BOUND_SIGMAS`]·σ.
pub fn gaussian(rng: &mut Prng, n: usize) -> Vec<i64> {
    let bound = ERROR_SIGMA * ERROR_BOUND_SIGMAS;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        // Box–Muller: two independent normals per pair of uniforms.
        let u1: f64 = 1.0 - rng.0.r#gen::<f64>(); // (0, 1]
        let u2: f64 = rng.0.r#gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt() * ERROR_SIGMA;
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        for z in [r * c, r * s] {
            if out.len() < n && z.abs() <= bound {
                out.push(z.round() as i64);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;

    #[test]
    fn uniform_poly_is_reproducible_and_prefix_stable() {
        let n = 64;
        let mut g = PrimeGenerator::new(n);
        let q: Vec<u64> = [40, 30, 50]
            .iter()
            .map(|&b| g.next_prime(b).unwrap())
            .collect();
        let ring = RnsRing::new(n, &q, &[]).unwrap();
        let seed = [7u8; 32];
        let a = uniform_poly(&ring, &seed, 3, 0);
        let b = uniform_poly(&ring, &seed, 2, 0);
        assert_eq!(a.limb(0), b.limb(0));
        assert_eq!(a.limb(1), b.limb(1));
        for (i, &qi) in q.iter().enumerate() {
            assert!(a.limb(i).iter().all(|&x| x < qi));
        }
        assert_ne!(uniform_poly(&ring, &[8u8; 32], 1, 0).limb(0), a.limb(0));
    }

    #[test]
    fn samplers_have_the_right_support_and_statistics() {
        let mut rng = Prng::from_seed([1u8; 32]);
        let t = ternary(&mut rng, 30_000);
        assert!(t.iter().all(|x| (-1..=1).contains(x)));
        let zeros = t.iter().filter(|&&x| x == 0).count() as f64 / t.len() as f64;
        assert!((zeros - 1.0 / 3.0).abs() < 0.02, "zero fraction {zeros}");

        let s = sparse_ternary(&mut rng, 1024, 192);
        assert_eq!(s.iter().filter(|&&x| x != 0).count(), 192);

        let e = gaussian(&mut rng, 50_000);
        let bound = (ERROR_SIGMA * ERROR_BOUND_SIGMAS).round() as i64;
        assert!(e.iter().all(|x| x.abs() <= bound));
        let mean = e.iter().sum::<i64>() as f64 / e.len() as f64;
        let var = e.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / e.len() as f64;
        // Rounding adds 1/12 to the variance.
        let expect = ERROR_SIGMA * ERROR_SIGMA + 1.0 / 12.0;
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert!((var - expect).abs() / expect < 0.05, "variance {var}");
    }
}
