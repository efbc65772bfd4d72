//! Word-size arithmetic modulo a prime below 2^62.
//!
//! Every residue handled here is a `u64` in `[0, p)` unless a function says it works lazily.
//! Two multiplication flavours:
//! * [`Modulus::mul`] and [`Modulus::reduce_u128`] for products of two variable values: the
//!   high word is folded in with a Shoup product by `2^64 mod p`, the low word reduced with a
//!   one-multiplication Barrett estimate (the 128-bit Barrett reduction is kept as reference);
//! * Shoup ([`Modulus::shoup`], [`Modulus::mul_shoup`]) when one operand is fixed (twiddles,
//!   keys, constants): one precomputed word per fixed operand makes the product two `mulhi`s.
//!
//! `p < 2^62` leaves two spare bits so that lazy NTT butterflies can keep values in `[0, 4p)`.
//! Final corrections are branch-free (a minimum instead of a conditional subtraction): on
//! random residues a branch there mispredicts about half the time.

/// Largest supported modulus bit size.
pub const MAX_MODULUS_BITS: u32 = 62;

/// A prime modulus below 2^62 with its Barrett constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modulus {
    p: u64,
    /// Low word of floor(2^128 / p).
    ratio_lo: u64,
    /// High word of floor(2^128 / p).
    ratio_hi: u64,
    /// floor(2^64 / p), for the one-multiplication reduction of 64-bit words.
    ratio64: u64,
    /// Bit length b of p.
    bits: u32,
    /// `2^64 mod p` and its Shoup constant: a 128-bit value `h·2^64 + l` reduces as
    /// `h·(2^64 mod p) + (l mod p)` with two multiplications by fixed operands.
    r64: u64,
    r64_shoup: u64,
}

impl Modulus {
    /// Builds the modulus; `None` unless `2 <= p < 2^62`.
    pub fn new(p: u64) -> Option<Self> {
        if !(2..(1u64 << 62)).contains(&p) {
            return None;
        }
        // floor(2^128 / p) = floor((2^128 - 1) / p) because p is not a power of two above 1
        // or, when it is, 2^128/p is integral and (2^128-1)/p rounds down by exactly one;
        // handle that case by adding the correction explicitly.
        let mut ratio = u128::MAX / p as u128;
        if (u128::MAX % p as u128) == p as u128 - 1 {
            ratio += 1;
        }
        let bits = 64 - p.leading_zeros();
        let r64 = ((1u128 << 64) % p as u128) as u64;
        Some(Self {
            p,
            ratio_lo: ratio as u64,
            ratio_hi: (ratio >> 64) as u64,
            ratio64: (ratio >> 64) as u64,
            bits,
            r64,
            r64_shoup: (((r64 as u128) << 64) / p as u128) as u64,
        })
    }

    /// The prime itself.
    #[inline(always)]
    pub fn value(&self) -> u64 {
        self.p
    }

    /// Number of bits of p.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `(a + b) mod p` for `a, b < p`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        self.correct(a + b)
    }

    /// `(a - b) mod p` for `a, b < p`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        // a < b wraps to at least 2^64 - p, above a - b + p (< p): the minimum picks it.
        let d = a.wrapping_sub(b);
        d.min(d.wrapping_add(self.p))
    }

    /// `r mod p` for `r < 2p`, without a branch: below p, `r - p` wraps to at least
    /// `2^64 - p > r`, so the minimum is `r`; otherwise it is `r - p`. Residues of random data
    /// land on either side at random, and a conditional branch there mispredicts about half
    /// the time (the tensor product ran 3× slower with branches in its reductions).
    #[inline(always)]
    fn correct(&self, r: u64) -> u64 {
        r.min(r.wrapping_sub(self.p))
    }

    /// `-a mod p` for `a < p`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        // p - 0 = p corrects to 0.
        self.correct(self.p - a)
    }

    /// Reduces any 64-bit value (one multiplication: the quotient estimate
    /// `floor(a · floor(2^64/p) / 2^64)` is short by at most 2).
    #[inline(always)]
    pub fn reduce(&self, a: u64) -> u64 {
        let q = ((a as u128 * self.ratio64 as u128) >> 64) as u64;
        let r = a.wrapping_sub(q.wrapping_mul(self.p));
        self.correct(self.correct(r))
    }

    /// Reduces any 128-bit value: `x = h·2^64 + l` is congruent to `h·(2^64 mod p) + l`, where
    /// the first product is a Shoup multiplication by a fixed operand (result in `[0, 2p)`) and
    /// `l` a one-multiplication reduction. Two widening multiplications in all, against five
    /// for the 128-bit Barrett reduction ([`Modulus::reduce_u128_barrett`], kept as the
    /// reference): this reduction ends every lazy inner product and basis conversion.
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let high = self.mul_shoup_lazy((x >> 64) as u64, self.r64, self.r64_shoup);
        // high < 2p and the reduced low word < p: the sum is below 3p < 2^64.
        let r = high + self.reduce(x as u64);
        self.correct(self.correct(r))
    }

    /// Reduces any 128-bit value with the Barrett constant `floor(2^128 / p)` (no division):
    /// the reference for [`Modulus::reduce_u128`].
    #[inline(always)]
    pub fn reduce_u128_barrett(&self, x: u128) -> u64 {
        let xl = x as u64;
        let xh = (x >> 64) as u64;
        let ll = ((xl as u128) * (self.ratio_lo as u128)) >> 64;
        let lh = (xl as u128) * (self.ratio_hi as u128);
        let hl = (xh as u128) * (self.ratio_lo as u128);
        let hh = (xh as u128) * (self.ratio_hi as u128);
        let (mid, c1) = lh.overflowing_add(hl);
        let (mid, c2) = mid.overflowing_add(ll);
        let carry = ((c1 as u128) + (c2 as u128)) << 64;
        // q underestimates floor(x / p) by at most 2.
        let q = hh.wrapping_add(mid >> 64).wrapping_add(carry);
        let r = x.wrapping_sub(q.wrapping_mul(self.p as u128)) as u64;
        self.correct(self.correct(r))
    }

    /// `a * b mod p` (Barrett) for any `a, b` whose product fits 128 bits.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128((a as u128) * (b as u128))
    }

    /// Shoup constant `floor(w * 2^64 / p)` for a fixed operand `w < p` (any `w` gives
    /// `floor(w * 2^64 / p) mod 2^64`).
    ///
    /// Without a 128-bit division: `w · floor(2^128/p) / 2^64` falls short of the constant by
    /// less than 2, and the remainder check corrects it. Key-sized precomputations (a Shoup
    /// companion of every residue of a key) then cost a few multiplications per residue.
    #[inline(always)]
    pub fn shoup(&self, w: u64) -> u64 {
        if w >= self.p {
            return (((w as u128) << 64) / self.p as u128) as u64;
        }
        let (w, p) = (w as u128, self.p as u128);
        let estimate = w * self.ratio_hi as u128 + ((w * self.ratio_lo as u128) >> 64);
        // estimate ≤ floor(w·2^64/p) < 2^64 because w < p.
        let mut q = estimate as u64;
        let mut r = (w << 64) - q as u128 * p;
        while r >= p {
            q += 1;
            r -= p;
        }
        q
    }

    /// `a * w mod p` in `[0, 2p)` given `w_shoup = self.shoup(w)`; valid for any `a < 2^64`.
    #[inline(always)]
    pub fn mul_shoup_lazy(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        let q = (((a as u128) * (w_shoup as u128)) >> 64) as u64;
        a.wrapping_mul(w).wrapping_sub(q.wrapping_mul(self.p))
    }

    /// `a * w mod p` in `[0, p)` given `w_shoup = self.shoup(w)`.
    #[inline(always)]
    pub fn mul_shoup(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        self.correct(self.mul_shoup_lazy(a, w, w_shoup))
    }

    /// `a^e mod p`.
    pub fn pow(&self, a: u64, mut e: u64) -> u64 {
        let mut base = self.reduce(a);
        let mut acc = 1 % self.p;
        while e > 0 {
            if e & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            e >>= 1;
        }
        acc
    }

    /// Multiplicative inverse (p prime); `None` for `a ≡ 0`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let a = self.reduce(a);
        if a == 0 {
            None
        } else {
            Some(self.pow(a, self.p - 2))
        }
    }

    /// Maps a signed integer to its residue.
    #[inline]
    pub fn from_i64(&self, a: i64) -> u64 {
        select_negative(a < 0, self.reduce(a.unsigned_abs()), |r| self.neg(r))
    }

    /// Maps a signed integer with `|a| < p` (a sampled error or ternary coefficient) to its
    /// residue without a reduction: one add and one select.
    #[inline(always)]
    pub fn from_small_i64(&self, a: i64) -> u64 {
        debug_assert!(a.unsigned_abs() < self.p);
        // Sign mask: p is added to negative values only, without a branch on the sign.
        (a as u64).wrapping_add(self.p & ((a >> 63) as u64))
    }

    /// Maps a signed 128-bit integer to its residue.
    #[inline]
    pub fn from_i128(&self, a: i128) -> u64 {
        select_negative(a < 0, self.reduce_u128(a.unsigned_abs()), |r| self.neg(r))
    }

    /// Centered representative in `(-p/2, p/2]` as `i64`.
    #[inline]
    pub fn center(&self, a: u64) -> i64 {
        if a > self.p / 2 {
            -((self.p - a) as i64)
        } else {
            a as i64
        }
    }
}

/// `neg(r)` if `negative`, else `r`, as a mask select (signs of sampled or encoded values are
/// random: a branch on them mispredicts half the time).
#[inline(always)]
fn select_negative(negative: bool, r: u64, neg: impl Fn(u64) -> u64) -> u64 {
    let mask = (negative as u64).wrapping_neg();
    (r & !mask) | (neg(r) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Primes of 62, 60, 40 and 17 bits.
    fn prime(idx: usize) -> u64 {
        let mut g = crate::math::primes::PrimeGenerator::new(1 << 10);
        g.next_prime([62, 60, 40, 17][idx]).unwrap()
    }

    proptest! {
        #[test]
        fn barrett_matches_u128(idx in 0usize..4, a in any::<u64>(), b in any::<u64>()) {
            let m = Modulus::new(prime(idx)).unwrap();
            let p = m.value();
            let (a, b) = (a % p, b % p);
            prop_assert_eq!(m.mul(a, b) as u128, (a as u128 * b as u128) % p as u128);
            prop_assert_eq!(m.mul(p - 1, p - 1) as u128, (p as u128 - 1) * (p as u128 - 1) % p as u128);
        }

        #[test]
        fn reduce_u64_matches(idx in 0usize..4, x in any::<u64>()) {
            let m = Modulus::new(prime(idx)).unwrap();
            prop_assert_eq!(m.reduce(x), x % m.value());
        }

        #[test]
        fn reduce_u128_matches(idx in 0usize..4, x in any::<u128>(), top in any::<bool>()) {
            let m = Modulus::new(prime(idx)).unwrap();
            // The extremes of the high word too (the Shoup product's range is widest there).
            let x = if top { x | (u128::MAX << 120) } else { x };
            prop_assert_eq!(m.reduce_u128(x) as u128, x % m.value() as u128);
            prop_assert_eq!(m.reduce_u128_barrett(x), m.reduce_u128(x));
        }

        #[test]
        fn shoup_matches_u128(idx in 0usize..4, a in any::<u64>(), w in any::<u64>()) {
            let m = Modulus::new(prime(idx)).unwrap();
            let p = m.value();
            let w = w % p;
            let ws = m.shoup(w);
            let expect = ((a as u128 * w as u128) % p as u128) as u64;
            let lazy = m.mul_shoup_lazy(a, w, ws);
            prop_assert!(lazy < 2 * p);
            prop_assert_eq!(lazy % p, expect);
            prop_assert_eq!(m.mul_shoup(a, w, ws), expect);
        }

        #[test]
        fn shoup_constant_equals_the_division(idx in 0usize..4, w in any::<u64>(), edge in 0u64..4) {
            let m = Modulus::new(prime(idx)).unwrap();
            let p = m.value();
            for w in [w % p, p - 1 - edge.min(p - 1), edge.min(p - 1), w] {
                prop_assert_eq!(m.shoup(w), ((w as u128) << 64).wrapping_div(p as u128) as u64);
            }
        }

        #[test]
        fn add_sub_neg_identities(idx in 0usize..4, a in any::<u64>(), b in any::<u64>()) {
            let m = Modulus::new(prime(idx)).unwrap();
            let p = m.value();
            let (a, b) = (a % p, b % p);
            prop_assert_eq!(m.sub(m.add(a, b), b), a);
            prop_assert_eq!(m.add(a, m.neg(a)), 0);
            prop_assert_eq!(m.add(a, b) as u128, (a as u128 + b as u128) % p as u128);
        }

        #[test]
        fn inverse_and_signed(idx in 0usize..4, a in 1u64.., s in any::<i64>()) {
            let m = Modulus::new(prime(idx)).unwrap();
            let a = a % m.value();
            prop_assume!(a != 0);
            let inv = m.inv(a).unwrap();
            prop_assert_eq!(m.mul(a, inv), 1);
            let r = m.from_i64(s);
            prop_assert_eq!(r as i128, (s as i128).rem_euclid(m.value() as i128));
            let small = s % m.value() as i64;
            prop_assert_eq!(m.from_small_i64(small), m.from_i64(small));
        }
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(Modulus::new(1 << 62).is_none());
        assert!(Modulus::new(1).is_none());
        let m = Modulus::new(7).unwrap();
        assert_eq!(m.pow(3, 6), 1);
        // The branch-free corrections at their boundaries.
        assert_eq!((m.add(6, 6), m.add(3, 4), m.add(0, 6)), (5, 0, 6));
        assert_eq!(
            (m.sub(0, 6), m.sub(6, 6), m.sub(6, 0), m.sub(2, 3)),
            (1, 0, 6, 6)
        );
        assert_eq!(
            (m.reduce(u64::MAX), m.reduce(14), m.reduce(20)),
            ((u64::MAX % 7), 0, 6)
        );
        assert_eq!((m.neg(0), m.neg(1), m.neg(6)), (0, 6, 1));
        assert_eq!(
            (m.from_i64(-1), m.from_i64(-7), m.from_i64(0), m.from_i64(9)),
            (6, 0, 0, 2)
        );
        assert_eq!(m.from_i64(i64::MIN) as i64, i64::MIN.rem_euclid(7));
        assert_eq!(
            (m.from_i128(-8), m.from_i128(i128::MIN) as i128),
            (6, i128::MIN.rem_euclid(7))
        );
        assert_eq!(
            (
                m.from_small_i64(-6),
                m.from_small_i64(0),
                m.from_small_i64(6)
            ),
            (1, 0, 6)
        );
        assert_eq!(m.inv(0), None);
        assert_eq!(m.center(6), -1);
        // Largest supported prime size: 2^128 - 1 and 2^64·(2^64 - 1) reduce exactly.
        let big = Modulus::new(prime(0)).unwrap();
        let p = big.value() as u128;
        for x in [u128::MAX, u128::MAX << 64, (p - 1) * (p - 1), p << 64] {
            assert_eq!(big.reduce_u128(x) as u128, x % p);
        }
    }
}
