//! Primality testing and generation of NTT-friendly primes (p ≡ 1 mod 2N).

use super::modulus::{MAX_MODULUS_BITS, Modulus};
use std::collections::HashSet;

/// Deterministic Miller–Rabin for all 64-bit integers (bases from Jim Sinclair's set).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for small in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if n.is_multiple_of(small) {
            return n == small;
        }
    }
    let d_shift = (n - 1).trailing_zeros();
    let d = (n - 1) >> d_shift;
    let mulmod = |a: u64, b: u64| ((a as u128 * b as u128) % n as u128) as u64;
    let powmod = |mut a: u64, mut e: u64| {
        let mut acc = 1u64;
        while e > 0 {
            if e & 1 == 1 {
                acc = mulmod(acc, a);
            }
            a = mulmod(a, a);
            e >>= 1;
        }
        acc
    };
    'witness: for base in [2u64, 325, 9375, 28178, 450775, 9780504, 1795265022] {
        let a = base % n;
        if a == 0 {
            continue;
        }
        let mut x = powmod(a, d);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..d_shift {
            x = mulmod(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Hands out distinct NTT-friendly primes for one ring degree in a deterministic order.
///
/// For a bit size `b`, candidates `k·2N + 1` are visited downward from `2^b` (staying above
/// `2^(b-1)`), then upward from `2^b` if the downward range is exhausted (giving `b+1`-bit primes
/// just above `2^b`). Primes already handed out (to either the q or the p chain) are skipped, so
/// the two chains never share a prime.
#[derive(Debug)]
pub struct PrimeGenerator {
    two_n: u64,
    used: HashSet<u64>,
}

impl PrimeGenerator {
    /// A generator for ring degree `n` (a power of two).
    pub fn new(n: usize) -> Self {
        Self {
            two_n: 2 * n as u64,
            used: HashSet::new(),
        }
    }

    /// The next unused prime of about `bits` bits with `p ≡ 1 mod 2N`, or `None` when none exists
    /// below 2^62 in the search ranges.
    pub fn next_prime(&mut self, bits: u32) -> Option<u64> {
        if !(2..=MAX_MODULUS_BITS).contains(&bits) {
            return None;
        }
        let top = 1u64 << bits;
        let bottom = 1u64 << (bits - 1);
        // Largest candidate below 2^bits.
        let mut k = (top - 1) / self.two_n;
        while k > 0 {
            let c = k * self.two_n + 1;
            if c <= bottom {
                break;
            }
            if !self.used.contains(&c) && is_prime(c) {
                self.used.insert(c);
                return Some(c);
            }
            k -= 1;
        }
        // Upward from 2^bits, below 2^62 and below 2^(bits+1).
        let limit = (1u64 << MAX_MODULUS_BITS).min(top.saturating_mul(2));
        let mut k = top / self.two_n + 1;
        loop {
            let c = k.checked_mul(self.two_n)?.checked_add(1)?;
            if c >= limit {
                return None;
            }
            if !self.used.contains(&c) && is_prime(c) {
                self.used.insert(c);
                return Some(c);
            }
            k += 1;
        }
    }
}

/// A generator of the multiplicative group of `Z_p` raised to `(p-1)/(2N)`: a primitive
/// 2N-th root of unity ψ (the smallest such root reached from the smallest generator candidate,
/// so the choice is deterministic).
pub fn primitive_root_2n(m: &Modulus, n: usize) -> Option<u64> {
    let p = m.value();
    let two_n = 2 * n as u64;
    if !(p - 1).is_multiple_of(two_n) {
        return None;
    }
    let cofactor = (p - 1) / two_n;
    for g in 2..p.min(1 << 20) {
        let psi = m.pow(g, cofactor);
        // psi has order dividing 2N; it is primitive iff psi^N = -1.
        if m.pow(psi, n as u64) == p - 1 {
            return Some(psi);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_prime(n: u64) -> bool {
        if n < 2 {
            return false;
        }
        let mut d = 2;
        while d * d <= n {
            if n.is_multiple_of(d) {
                return false;
            }
            d += 1;
        }
        true
    }

    proptest! {
        #[test]
        fn miller_rabin_matches_trial_division(n in 0u64..2_000_000) {
            prop_assert_eq!(is_prime(n), naive_prime(n));
        }
    }

    #[test]
    fn known_primes_and_composites() {
        assert!(is_prime(4_611_686_018_427_387_847)); // largest prime below 2^62
        assert!(is_prime(18_446_744_073_709_551_557)); // largest 64-bit prime
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to bases 2,3,5,7
        assert!(!is_prime(18_446_744_073_709_551_555));
    }

    #[test]
    fn generated_primes_are_distinct_ntt_friendly_and_sized() {
        let n = 1 << 12;
        let mut g = PrimeGenerator::new(n);
        let mut seen = HashSet::new();
        for &bits in &[60u32, 40, 40, 40, 60, 60, 30] {
            let p = g.next_prime(bits).unwrap();
            assert!(is_prime(p));
            assert_eq!(p % (2 * n as u64), 1);
            assert!(seen.insert(p), "prime reused");
            assert!(p < 1 << 62);
            assert!(p.abs_diff(1 << bits) < (1 << bits) / 2);
        }
        // Deterministic order.
        let mut g2 = PrimeGenerator::new(n);
        let mut g3 = PrimeGenerator::new(n);
        for bits in [40, 40, 50] {
            assert_eq!(g2.next_prime(bits), g3.next_prime(bits));
        }
    }

    #[test]
    fn falls_back_upward_when_downward_range_is_empty() {
        // 2N = 32, 6 bits: the only candidate in (32, 64) is 33 = 3·11, so the search goes
        // upward: 97 = 3·32 + 1 is prime; the next candidate 129 is past 2^7, so nothing is left.
        let mut g = PrimeGenerator::new(16);
        assert_eq!(g.next_prime(6), Some(97));
        assert_eq!(g.next_prime(6), None);
        assert_eq!(g.next_prime(63), None);
    }

    #[test]
    fn primitive_root_has_order_2n() {
        let n = 1 << 10;
        let mut g = PrimeGenerator::new(n);
        let m = Modulus::new(g.next_prime(50).unwrap()).unwrap();
        let psi = primitive_root_2n(&m, n).unwrap();
        assert_eq!(m.pow(psi, 2 * n as u64), 1);
        assert_eq!(m.pow(psi, n as u64), m.value() - 1);
    }
}
