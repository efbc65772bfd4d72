//! `Context`: everything derived from a [`super::ParameterSpec`] once: primes, NTT tables, RNS constants.
//!
//! A context is shared as `Arc<Context>`. Primes are generated deterministically from the spec
//! (q chain in order, then the p chain; see [`crate::math::primes::PrimeGenerator`]), so two
//! parties with the same spec derive the same context and the same [`Context::id`].
//!
//! Key-switching digits: digit `j` holds the q primes `j·α .. min((j+1)·α, L+1)` with
//! `α = ceil((L+1) / dnum)`. At level `l` only the primes `≤ l` of each digit are live.

use super::spec::{ParameterSpec, SecurityLevel};
use crate::error::{Error, Result};
use crate::math::basis::{BasisConverter, DivideAndRound, RescaleConstants};
use crate::math::modulus::{MAX_MODULUS_BITS, Modulus};
use crate::math::primes::PrimeGenerator;
use crate::math::ring::RnsRing;
use std::sync::Arc;

/// Smallest supported prime size: below this the noise of a fresh ciphertext swamps the scale.
const MIN_PRIME_BITS: u32 = 20;
/// Ring degrees from 2^MIN_LOG_N to 2^MAX_LOG_N.
const MIN_LOG_N: u32 = 4;
const MAX_LOG_N: u32 = 17;

/// Basis-conversion constants for raising one (partial) digit to `Q_L ∪ P`.
#[derive(Debug)]
pub struct ModUpConverter {
    /// First q index of the digit.
    pub start: usize,
    /// Number of live primes of the digit.
    pub count: usize,
    /// From the live digit primes to every other q prime (ascending) then every p prime.
    pub converter: BasisConverter,
}

impl ModUpConverter {
    /// Row of [`Self::converter`] that produces limb `t` of a polynomial with `num_q` q-limbs
    /// followed by the p-limbs; `None` for limbs of the digit itself.
    pub fn row(&self, t: usize, num_q: usize, total_q: usize) -> Option<usize> {
        if t < num_q {
            if t < self.start {
                Some(t)
            } else if t < self.start + self.count {
                None
            } else {
                Some(t - self.count)
            }
        } else {
            Some(total_q - self.count + (t - num_q))
        }
    }
}

/// Precomputed parameters of one CKKS instance.
#[derive(Debug)]
pub struct Context {
    spec: ParameterSpec,
    ring: RnsRing,
    q_primes: Vec<u64>,
    p_primes: Vec<u64>,
    id: u64,
    digit_size: usize,
    /// `rescale[l]` divides by `q_l` (index 0 unused).
    rescale: Vec<RescaleConstants>,
    /// `mod_up[j][c - 1]`: digit `j` with its first `c` primes live.
    mod_up: Vec<Vec<ModUpConverter>>,
    /// From P to every q prime.
    mod_down: BasisConverter,
    /// Exact rounded division by P (ModDown).
    divide_by_p: DivideAndRound,
    /// `divide_by_qp[l]`: exact rounded division by `q_l·P` into `q_0..q_{l-1}` (ModDown fused
    /// with a rescale); index 0 unused.
    divide_by_qp: Vec<DivideAndRound>,
    /// `P^{-1} mod q_i` with Shoup constants.
    p_inv_mod_q: Vec<(u64, u64)>,
    /// `P mod q_i`.
    p_mod_q: Vec<u64>,
    /// `ψ^(N/2)` (a square root of -1) per q prime then per p prime.
    imaginary_units: Vec<u64>,
    /// NTT-index signs of `X^(N/2)`; see [`RnsRing::half_monomial_signs`].
    half_monomial_signs: Vec<bool>,
}

fn validate(spec: &ParameterSpec) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidParameters(m));
    if !(MIN_LOG_N..=MAX_LOG_N).contains(&spec.log_n) {
        return bad(format!(
            "log_n = {} outside {MIN_LOG_N}..={MAX_LOG_N}",
            spec.log_n
        ));
    }
    if spec.q_bits.is_empty() {
        return bad("q_bits is empty".into());
    }
    if spec.p_bits.is_empty() {
        return bad("p_bits is empty: key switching needs at least one special prime".into());
    }
    for &b in spec.q_bits.iter().chain(&spec.p_bits) {
        if !(MIN_PRIME_BITS..=MAX_MODULUS_BITS - 1).contains(&b) {
            return bad(format!(
                "prime size {b} bits outside {MIN_PRIME_BITS}..={}",
                MAX_MODULUS_BITS - 1
            ));
        }
    }
    if spec.dnum == 0 || spec.dnum > spec.q_bits.len() {
        return bad(format!(
            "dnum = {} must be in 1..={}",
            spec.dnum,
            spec.q_bits.len()
        ));
    }
    // Hybrid key switching multiplies the key error by the digit modulus and divides by P: a
    // digit larger than P would make every relinearization and rotation silently wrong.
    let alpha = spec.q_bits.len().div_ceil(spec.dnum);
    let largest_digit: u32 = spec
        .q_bits
        .chunks(alpha)
        .map(|d| d.iter().sum::<u32>())
        .max()
        .unwrap_or(0);
    let log_p: u32 = spec.p_bits.iter().sum();
    if log_p < largest_digit {
        return bad(format!(
            "special primes total {log_p} bits but the largest key-switching digit has \
             {largest_digit} bits; P must be at least as large (add p primes or raise dnum)"
        ));
    }
    if spec.log_scale == 0 || spec.log_scale >= 62 {
        return bad(format!("log_scale = {} must be in 1..62", spec.log_scale));
    }
    if let super::spec::SecretDistribution::SparseTernary { hamming_weight } = spec.secret
        && (hamming_weight == 0 || hamming_weight > spec.n())
    {
        return bad(format!(
            "Hamming weight {hamming_weight} must be in 1..={}",
            spec.n()
        ));
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable fingerprint (unlike `std`'s hasher, fixed across Rust versions).
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Context {
    /// Builds the context. A spec marked [`SecurityLevel::InsecureForTests`] is refused unless
    /// `allow_insecure`; a spec claiming 128-bit security must pass
    /// [`crate::params::security::check`].
    pub fn new(spec: &ParameterSpec, allow_insecure: bool) -> Result<Arc<Self>> {
        validate(spec)?;
        if spec.security == SecurityLevel::InsecureForTests && !allow_insecure {
            return Err(Error::InsecureParameters {
                name: spec.name.clone(),
                reason: format!(
                    "N = 2^{} with log QP = {} claims no security",
                    spec.log_n,
                    spec.log_qp()
                ),
            });
        }
        crate::params::security::check(spec)?;
        let n = spec.n();
        let mut primes = PrimeGenerator::new(n);
        let mut next = |bits: u32, count: usize| {
            primes
                .next_prime(bits)
                .ok_or(Error::PrimeGeneration { bits, count, n })
        };
        let q_primes = spec
            .q_bits
            .iter()
            .map(|&b| next(b, spec.q_bits.iter().filter(|&&x| x == b).count()))
            .collect::<Result<Vec<u64>>>()?;
        let p_primes = spec
            .p_bits
            .iter()
            .map(|&b| next(b, spec.p_bits.iter().filter(|&&x| x == b).count()))
            .collect::<Result<Vec<u64>>>()?;
        let ring = RnsRing::new(n, &q_primes, &p_primes).ok_or_else(|| {
            Error::InvalidParameters("a generated prime does not support the NTT".into())
        })?;
        let qm: Vec<Modulus> = ring.q_tables().iter().map(|t| *t.modulus()).collect();
        let pm: Vec<Modulus> = ring.p_tables().iter().map(|t| *t.modulus()).collect();
        let total_q = qm.len();
        let digit_size = total_q.div_ceil(spec.dnum);

        let rescale = (0..total_q)
            .map(|l| RescaleConstants::new(&qm[..=l]))
            .collect();
        let mut mod_up = Vec::new();
        for start in (0..total_q).step_by(digit_size) {
            let end = (start + digit_size).min(total_q);
            let per_count = (1..=end - start)
                .map(|count| {
                    let from = &qm[start..start + count];
                    let to: Vec<Modulus> = qm[..start]
                        .iter()
                        .chain(&qm[start + count..])
                        .chain(&pm)
                        .copied()
                        .collect();
                    ModUpConverter {
                        start,
                        count,
                        converter: BasisConverter::new(from, &to),
                    }
                })
                .collect();
            mod_up.push(per_count);
        }
        let mod_down = BasisConverter::new(&pm, &qm);
        let divide_by_p = DivideAndRound::new(&pm, &qm);
        let divide_by_qp = (0..total_q)
            .map(|l| {
                let from: Vec<Modulus> = std::iter::once(qm[l]).chain(pm.iter().copied()).collect();
                DivideAndRound::new(&from, &qm[..l])
            })
            .collect();
        let p_mod_q: Vec<u64> = qm
            .iter()
            .map(|m| {
                pm.iter()
                    .fold(1u64, |acc, p| m.mul(acc, m.reduce(p.value())))
            })
            .collect();
        let p_inv_mod_q = qm
            .iter()
            .zip(&p_mod_q)
            .map(|(m, &pq)| {
                let inv = m.inv(pq).unwrap_or(0);
                (inv, m.shoup(inv))
            })
            .collect();
        let imaginary_units = ring
            .q_tables()
            .iter()
            .chain(ring.p_tables())
            .map(|t| t.modulus().pow(t.psi(), n as u64 / 2))
            .collect();
        let half_monomial_signs = ring.half_monomial_signs();

        let id = fnv1a(
            format!(
                "hetal-ckks/v1|{}|{}|{:?}|{:?}|{}|{}|{:?}|{:?}",
                spec.log_n,
                spec.log_scale,
                q_primes,
                p_primes,
                spec.dnum,
                spec.name,
                spec.secret,
                spec.security
            )
            .into_bytes(),
        );
        Ok(Arc::new(Self {
            spec: spec.clone(),
            ring,
            q_primes,
            p_primes,
            id,
            digit_size,
            rescale,
            mod_up,
            mod_down,
            divide_by_p,
            divide_by_qp,
            p_inv_mod_q,
            p_mod_q,
            imaginary_units,
            half_monomial_signs,
        }))
    }

    /// The spec this context was built from.
    pub fn spec(&self) -> &ParameterSpec {
        &self.spec
    }

    /// The primes with their NTT tables.
    pub fn ring(&self) -> &RnsRing {
        &self.ring
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.spec.n()
    }

    /// Level of a fresh ciphertext (number of q primes minus one).
    pub fn max_level(&self) -> usize {
        self.q_primes.len() - 1
    }

    /// Maximum number of complex slots, N/2.
    pub fn max_slots(&self) -> usize {
        self.n() / 2
    }

    /// The q prime `q_i`.
    pub fn q(&self, i: usize) -> u64 {
        self.q_primes[i]
    }

    /// All q primes.
    pub fn q_primes(&self) -> &[u64] {
        &self.q_primes
    }

    /// All special primes.
    pub fn p_primes(&self) -> &[u64] {
        &self.p_primes
    }

    /// Number of special primes.
    pub fn num_p(&self) -> usize {
        self.p_primes.len()
    }

    /// The default encoding scale `2^log_scale`.
    pub fn default_scale(&self) -> f64 {
        2f64.powi(self.spec.log_scale as i32)
    }

    /// Stable 64-bit fingerprint of the spec and the generated primes; ciphertexts and keys carry
    /// it so that operands from different parameter sets are refused.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Primes per key-switching digit (α).
    pub fn digit_size(&self) -> usize {
        self.digit_size
    }

    /// Number of key-switching digits (dnum).
    pub fn dnum(&self) -> usize {
        self.mod_up.len()
    }

    /// Number of digits live at `level`.
    pub fn digits_at_level(&self, level: usize) -> usize {
        (level + 1).div_ceil(self.digit_size)
    }

    /// Rescaling constants for dividing by `q_level` (`level ≥ 1`).
    pub fn rescale_constants(&self, level: usize) -> &RescaleConstants {
        &self.rescale[level]
    }

    /// ModUp converter for digit `j` at `level`.
    pub fn mod_up_converter(&self, j: usize, level: usize) -> &ModUpConverter {
        let start = j * self.digit_size;
        let count = (level + 1 - start).min(self.digit_size);
        &self.mod_up[j][count - 1]
    }

    /// Converter from P to the q primes (rows in q order).
    pub fn mod_down_converter(&self) -> &BasisConverter {
        &self.mod_down
    }

    /// Exact rounded division by P from `P ∪ Q` to the q primes (ModDown).
    pub fn divide_by_p(&self) -> &DivideAndRound {
        &self.divide_by_p
    }

    /// Exact rounded division by `q_level·P` from `{q_level} ∪ P` to `q_0..q_{level-1}`
    /// (ModDown fused with a rescale; `level ≥ 1`).
    pub fn divide_by_qp(&self, level: usize) -> &DivideAndRound {
        &self.divide_by_qp[level]
    }

    /// `P^{-1} mod q_i` with its Shoup constant.
    pub fn p_inv_mod_q(&self, i: usize) -> (u64, u64) {
        self.p_inv_mod_q[i]
    }

    /// `P mod q_i`.
    pub fn p_mod_q(&self, i: usize) -> u64 {
        self.p_mod_q[i]
    }

    /// `ψ^(N/2)` for limb `i` of a polynomial with `num_q` q-limbs.
    pub fn imaginary_unit(&self, i: usize, num_q: usize) -> u64 {
        if i < num_q {
            self.imaginary_units[i]
        } else {
            self.imaginary_units[self.q_primes.len() + i - num_q]
        }
    }

    /// NTT-index signs of the monomial `X^(N/2)`.
    pub fn half_monomial_signs(&self) -> &[bool] {
        &self.half_monomial_signs
    }

    /// Galois element for a left rotation by `k` slots: `5^k mod 2N` (negative `k` rotates
    /// right; 5 has order N/2 modulo 2N).
    pub fn galois_element_for_rotation(&self, k: i32) -> u64 {
        let two_n = 2 * self.n() as u64;
        let order = self.n() as i64 / 2;
        let e = (k as i64).rem_euclid(order) as u64;
        let (mut acc, mut base, mut e) = (1u64, 5u64, e);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * base % two_n;
            }
            base = base * base % two_n;
            e >>= 1;
        }
        acc
    }

    /// Galois element of complex conjugation, `2N - 1`.
    pub fn galois_element_for_conjugation(&self) -> u64 {
        2 * self.n() as u64 - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::spec::SecretDistribution;

    fn spec() -> ParameterSpec {
        ParameterSpec {
            name: "unit-insecure".into(),
            log_n: 10,
            q_bits: vec![50, 40, 40, 40, 40],
            p_bits: vec![55, 55, 55],
            log_scale: 40,
            dnum: 2,
            secret: SecretDistribution::Ternary,
            security: SecurityLevel::InsecureForTests,
        }
    }

    #[test]
    fn builds_deterministically_with_distinct_primes() {
        let a = Context::new(&spec(), true).unwrap();
        let b = Context::new(&spec(), true).unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.q_primes(), b.q_primes());
        let mut all: Vec<u64> = a.q_primes().iter().chain(a.p_primes()).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 8);
        assert_eq!(a.max_level(), 4);
        assert_eq!(a.digit_size(), 3);
        assert_eq!(a.dnum(), 2);
        assert_eq!(a.digits_at_level(2), 1);
        assert_eq!(a.digits_at_level(3), 2);
        let mut other = spec();
        other.log_scale = 41;
        assert_ne!(Context::new(&other, true).unwrap().id(), a.id());
    }

    #[test]
    fn refuses_insecure_without_opt_in_and_bad_specs() {
        assert!(matches!(
            Context::new(&spec(), false),
            Err(Error::InsecureParameters { .. })
        ));
        let mut s = spec();
        s.dnum = 9;
        assert!(matches!(
            Context::new(&s, true),
            Err(Error::InvalidParameters(_))
        ));
        let mut s = spec();
        s.q_bits.push(70);
        assert!(matches!(
            Context::new(&s, true),
            Err(Error::InvalidParameters(_))
        ));
        let mut s = spec();
        s.p_bits.clear();
        assert!(Context::new(&s, true).is_err());
        let mut s = spec();
        s.dnum = 1; // one digit of 210 bits against P = 165 bits
        assert!(matches!(
            Context::new(&s, true),
            Err(Error::InvalidParameters(m)) if m.contains("digit")
        ));
    }

    #[test]
    fn galois_elements() {
        let c = Context::new(&spec(), true).unwrap();
        let two_n = 2 * c.n() as u64;
        assert_eq!(c.galois_element_for_rotation(0), 1);
        assert_eq!(c.galois_element_for_rotation(1), 5);
        assert_eq!(c.galois_element_for_rotation(2), 25);
        let r = c.galois_element_for_rotation(-1);
        assert_eq!(r * 5 % two_n, 1);
        assert_eq!(
            c.galois_element_for_rotation(c.max_slots() as i32),
            1,
            "rotation by N/2 slots is the identity"
        );
        assert_eq!(c.galois_element_for_conjugation(), two_n - 1);
    }
}
