//! Baby-step giant-step decomposition of a Chebyshev series.
//!
//! A series `p` of degree `d` is split recursively as `p = q·T_{2^k} + r` with
//! `2^k ≤ deg p < 2^{k+1}` (using `T_{2^k+j} = 2 T_{2^k} T_j − T_{2^k−j}`), until the pieces
//! have degree below `2^l` (the baby steps). The homomorphic evaluator then needs the baby powers
//! `T_1 … T_{2^l − 1}` and the giant powers `T_{2^l}, T_{2^{l+1}}, …`, each computed once, and one
//! ciphertext product per tree node: `O(2^l + d/2^l)` non-scalar products instead of `O(d)`.

use super::chebyshev::clenshaw;
use crate::{Error, Result};

/// The decomposition tree of a Chebyshev series.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitTree {
    /// `Σ_{j < 2^l} c_j T_j`, evaluated from the baby powers.
    Leaf(Vec<f64>),
    /// `quotient · T_{2^log_giant} + remainder`.
    Node {
        /// `k` of the giant power `T_{2^k}`.
        log_giant: u32,
        /// The quotient series.
        quotient: Box<SplitTree>,
        /// The remainder series (degree below `2^k`).
        remainder: Box<SplitTree>,
    },
}

/// Divides `p` by `T_{2^k}`: returns `(q, r)` with `p = q·T_{2^k} + r` and `deg r < 2^k`.
/// Requires `deg p < 2^{k+1}`.
pub fn divide_by_power_of_two_chebyshev(coeffs: &[f64], k: u32) -> Result<(Vec<f64>, Vec<f64>)> {
    let g = 1usize << k;
    if coeffs.len() > 2 * g {
        return Err(Error::InvalidInput(format!(
            "degree {} is too large to divide by T_{g}",
            coeffs.len() - 1
        )));
    }
    let mut r: Vec<f64> = coeffs.iter().take(g).copied().collect();
    r.resize(g, 0.0);
    let mut q = vec![0.0; coeffs.len().saturating_sub(g).max(1)];
    for (j, &c) in coeffs.iter().enumerate().skip(g) {
        if j == g {
            q[0] += c;
        } else {
            q[j - g] += 2.0 * c;
            r[2 * g - j] -= c;
        }
    }
    trim(&mut r);
    trim(&mut q);
    Ok((q, r))
}

fn trim(v: &mut Vec<f64>) {
    while v.len() > 1 && v.last() == Some(&0.0) {
        v.pop();
    }
}

impl SplitTree {
    /// Builds the tree with baby steps `T_0 … T_{2^log_baby − 1}`.
    pub fn new(coeffs: &[f64], log_baby: u32) -> Result<Self> {
        if coeffs.is_empty() {
            return Err(Error::InvalidInput("empty Chebyshev series".into()));
        }
        let mut c = coeffs.to_vec();
        trim(&mut c);
        Ok(Self::build(c, log_baby))
    }

    fn build(coeffs: Vec<f64>, log_baby: u32) -> Self {
        let degree = coeffs.len() - 1;
        if degree < (1usize << log_baby) {
            return SplitTree::Leaf(coeffs);
        }
        let k = usize::BITS - 1 - degree.leading_zeros();
        // `degree < 2^{k+1}` by the choice of k, so the division cannot fail.
        let (q, r) = match divide_by_power_of_two_chebyshev(&coeffs, k) {
            Ok(qr) => qr,
            Err(_) => return SplitTree::Leaf(coeffs),
        };
        SplitTree::Node {
            log_giant: k,
            quotient: Box::new(Self::build(q, log_baby)),
            remainder: Box::new(Self::build(r, log_baby)),
        }
    }

    /// The largest giant power index `k` used (None for a single leaf).
    pub fn max_log_giant(&self) -> Option<u32> {
        match self {
            SplitTree::Leaf(_) => None,
            SplitTree::Node {
                log_giant,
                quotient,
                remainder,
            } => Some(
                (*log_giant)
                    .max(quotient.max_log_giant().unwrap_or(0))
                    .max(remainder.max_log_giant().unwrap_or(0)),
            ),
        }
    }

    /// Plain evaluation at `t ∈ [-1, 1]` through the tree (reference for the homomorphic
    /// evaluator).
    pub fn eval(&self, t: f64) -> f64 {
        match self {
            SplitTree::Leaf(c) => clenshaw(c, t),
            SplitTree::Node {
                log_giant,
                quotient,
                remainder,
            } => {
                let giant = (f64::from(1u32 << log_giant) * t.clamp(-1.0, 1.0).acos()).cos();
                quotient.eval(t) * giant + remainder.eval(t)
            }
        }
    }
}

/// Depth of `T_j` computed by `T_j = 2 T_{2^p} T_{j−2^p} − T_{2^{p+1}−j}`: `⌈log2 j⌉`.
pub fn chebyshev_power_depth(j: usize) -> usize {
    if j <= 1 {
        0
    } else {
        (usize::BITS - (j - 1).leading_zeros()) as usize
    }
}

/// The baby-step size `l` (`2^l` baby powers) balancing baby and giant work for degree `d`:
/// about `sqrt(d)` baby powers.
pub fn default_log_baby(degree: usize) -> u32 {
    let bits = usize::BITS - degree.max(1).leading_zeros();
    bits.div_ceil(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::polynomial::ChebyshevSeries;

    #[test]
    fn tree_evaluation_equals_clenshaw() {
        let p = ChebyshevSeries::interpolate(|x| (5.0 * x).sin() + x * x, -1.0, 1.0, 61).unwrap();
        for log_baby in 1..=6 {
            let tree = SplitTree::new(p.coeffs(), log_baby).unwrap();
            for i in 0..=40 {
                let t = -1.0 + i as f64 / 20.0;
                let diff = (tree.eval(t) - p.eval(t)).abs();
                assert!(diff < 1e-11, "log_baby={log_baby} t={t} diff={diff}");
            }
        }
    }

    #[test]
    fn division_identity_holds() {
        let c = [0.5, -1.0, 0.25, 2.0, 1.5, -0.75, 0.1];
        let (q, r) = divide_by_power_of_two_chebyshev(&c, 2).unwrap();
        assert!(r.len() <= 4);
        for i in 0..=10 {
            let t = -1.0 + i as f64 / 5.0;
            let t4 = (4.0 * t.acos()).cos();
            assert!((clenshaw(&q, t) * t4 + clenshaw(&r, t) - clenshaw(&c, t)).abs() < 1e-12);
        }
        assert!(divide_by_power_of_two_chebyshev(&c, 1).is_err());
        assert_eq!(chebyshev_power_depth(1), 0);
        assert_eq!(chebyshev_power_depth(4), 2);
        assert_eq!(chebyshev_power_depth(5), 3);
    }
}
