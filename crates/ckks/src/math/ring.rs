//! `RnsRing`: the NTT tables of every prime of a parameter set, q chain then p chain.

use super::modulus::Modulus;
use super::ntt::NttTable;

/// All primes of an RNS-CKKS instance with their NTT tables: the ciphertext chain
/// `q_0..q_L` and the special primes `p_0..p_{k-1}`.
///
/// An [`super::poly::RnsPoly`] with `num_q` q-limbs and `num_p` p-limbs uses `q_0..q_{num_q-1}`
/// followed by `p_0..p_{num_p-1}`; [`RnsRing::table`] resolves a limb index to its table.
#[derive(Debug, Clone)]
pub struct RnsRing {
    n: usize,
    q: Vec<NttTable>,
    p: Vec<NttTable>,
}

impl RnsRing {
    /// Builds the ring; `None` if any prime does not support the negacyclic NTT of degree `n`.
    pub fn new(n: usize, q_primes: &[u64], p_primes: &[u64]) -> Option<Self> {
        let build = |ps: &[u64]| -> Option<Vec<NttTable>> {
            ps.iter()
                .map(|&p| NttTable::new(Modulus::new(p)?, n))
                .collect()
        };
        Some(Self {
            n,
            q: build(q_primes)?,
            p: build(p_primes)?,
        })
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Tables of the q chain.
    pub fn q_tables(&self) -> &[NttTable] {
        &self.q
    }

    /// Tables of the special primes.
    pub fn p_tables(&self) -> &[NttTable] {
        &self.p
    }

    /// Table of limb `i` of a polynomial with `num_q` q-limbs (q limbs first, then p limbs).
    #[inline]
    pub fn table(&self, i: usize, num_q: usize) -> &NttTable {
        if i < num_q {
            &self.q[i]
        } else {
            &self.p[i - num_q]
        }
    }

    /// Modulus of limb `i` of a polynomial with `num_q` q-limbs.
    #[inline]
    pub fn modulus(&self, i: usize, num_q: usize) -> &Modulus {
        self.table(i, num_q).modulus()
    }

    /// The permutation of NTT-form coefficients that applies `X → X^g` (g odd):
    /// `out[j] = in[perm[j]]`. Every table evaluates at `ψ^(2·brv(j)+1)` at output `j`, so one
    /// permutation serves all limbs.
    pub fn galois_permutation(&self, g: u64) -> Vec<u32> {
        let n = self.n;
        let two_n = 2 * n as u64;
        let log_n = n.trailing_zeros();
        let brv = |x: usize| {
            if log_n == 0 {
                0
            } else {
                x.reverse_bits() >> (usize::BITS - log_n)
            }
        };
        let g = g % two_n;
        (0..n)
            .map(|j| {
                let e = (2 * brv(j) + 1) as u64;
                let target = (e * g) % two_n;
                brv(((target - 1) / 2) as usize) as u32
            })
            .collect()
    }

    /// For each NTT index `j`, whether `ψ^(e_j·N/2) = +I` (true) or `-I` (false), where
    /// `I = ψ^(N/2)`: the NTT form of the monomial `X^(N/2)` up to the per-prime value of `I`.
    pub fn half_monomial_signs(&self) -> Vec<bool> {
        let n = self.n;
        let log_n = n.trailing_zeros();
        (0..n)
            .map(|j| {
                let b = if log_n == 0 {
                    0
                } else {
                    j.reverse_bits() >> (usize::BITS - log_n)
                };
                // e = 2b+1; I^e = I if e ≡ 1 (mod 4), else -I.
                (2 * b + 1) % 4 == 1
            })
            .collect()
    }
}
