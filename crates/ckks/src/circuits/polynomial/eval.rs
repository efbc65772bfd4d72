//! Homomorphic evaluation of a Chebyshev series with baby-step giant-step and exact scales.
//!
//! The input ciphertext holds `t ∈ [−1, 1]` (callers fold the interval map into the preceding
//! linear step). Powers are computed with `T_{a+b} = 2 T_a T_b − T_{a−b}` (`a` the largest power
//! of two below `a + b`), so `T_j` sits `⌈log2 j⌉` levels below the input. The series is split
//! by [`SplitTree`]; every leaf is a sum of constants times baby powers, computed with integer
//! constants scaled so that all terms share one scale before the single rescale, and every node
//! multiplies its quotient, pre-scaled to `target · q / scale(T_{2^k})`, by the giant power. The
//! result therefore has exactly the requested scale: no scale mismatch, no wasted level. A node's
//! remainder is only ever added, so each chain of remainders is relinearised lazily: its
//! products' degree-2 tensors and its leaf are summed and key-switched once
//! ([`chebyshev_key_switches`]; 10 key switches for EvalMod's 13 products).

use std::borrow::Cow;
use std::collections::BTreeMap;

use num_complex::Complex64;

use super::split::{SplitTree, default_log_baby};
use crate::circuits::backend::SlotBackend;
use crate::{Error, Result};

/// The Chebyshev powers `T_j(t)` of one input ciphertext, computed on demand and kept.
pub struct ChebyshevPowers<'a, B: SlotBackend> {
    backend: &'a B,
    powers: BTreeMap<usize, B::Ct>,
}

impl<'a, B: SlotBackend> ChebyshevPowers<'a, B> {
    /// Starts from `T_1 = t`.
    pub fn new(backend: &'a B, t: B::Ct) -> Self {
        let mut powers = BTreeMap::new();
        powers.insert(1, t);
        Self { backend, powers }
    }

    /// `T_j` (j ≥ 1), computing what is missing.
    pub fn get(&mut self, j: usize) -> Result<&B::Ct> {
        if j == 0 {
            return Err(Error::InvalidInput(
                "T_0 is the constant 1, not a ciphertext".into(),
            ));
        }
        if !self.powers.contains_key(&j) {
            let a = 1usize << (usize::BITS - 1 - (j - 1).leading_zeros());
            let b = j - a;
            let c = a - b;
            self.get(a)?;
            self.get(b)?;
            if c > 0 {
                self.get(c)?;
            }
            let value = self.combine(a, b, c)?;
            self.powers.insert(j, value);
        }
        self.powers
            .get(&j)
            .ok_or_else(|| Error::InvalidInput(format!("T_{j} missing")))
    }

    /// `T_j` if it has been computed.
    fn computed(&self, j: usize) -> Result<&B::Ct> {
        self.powers
            .get(&j)
            .ok_or_else(|| Error::InvalidInput(format!("T_{j} missing")))
    }

    /// `2 T_a T_b − T_c` (with `T_0 = 1`): `(2 T_a)·T_b − T_c` relinearised and rescaled once
    /// (the constant `−1` is added after the rescale, exactly at the result's scale).
    fn combine(&self, a: usize, b: usize, c: usize) -> Result<B::Ct> {
        let be = self.backend;
        let ta = &self.powers[&a];
        let tb = &self.powers[&b];
        let level = be.level(ta).min(be.level(tb));
        let ta = at_level(be, ta, level)?;
        let tb = at_level(be, tb, level)?;
        let twice_a = be.add(&*ta, &*ta)?;
        if c == 0 {
            let prod = be.mul_relin_rescale(&twice_a, &*tb, None)?;
            return be.add_const(&prod, Complex64::new(-1.0, 0.0));
        }
        let tc = &self.powers[&c];
        let product_scale = be.scale(&twice_a) * be.scale(&*tb);
        let ratio = product_scale / be.scale(tc);
        let mut minus_tc = be.mul_const(&*at_level(be, tc, level)?, -1.0, ratio)?;
        be.set_scale(&mut minus_tc, product_scale);
        be.mul_relin_rescale(&twice_a, &*tb, Some(&minus_tc))
    }
}

/// `ct` at `level`: borrowed when it is already there, a dropped copy otherwise.
fn at_level<'c, B: SlotBackend>(be: &B, ct: &'c B::Ct, level: usize) -> Result<Cow<'c, B::Ct>> {
    if be.level(ct) == level {
        Ok(Cow::Borrowed(ct))
    } else {
        be.drop_to_level(ct, level).map(Cow::Owned)
    }
}

/// The powers a leaf combines: those with a non-zero coefficient (`T_1` with coefficient 0
/// carries a constant leaf).
fn leaf_powers(c: &[f64]) -> Vec<usize> {
    let js: Vec<usize> = (1..c.len()).filter(|&j| c[j] != 0.0).collect();
    if js.is_empty() { vec![1] } else { js }
}

/// Level of the result of evaluating `tree` (depends only on the power levels).
fn output_level<B: SlotBackend>(
    tree: &SplitTree,
    powers: &mut ChebyshevPowers<'_, B>,
) -> Result<usize> {
    match tree {
        SplitTree::Leaf(c) => {
            let mut level = usize::MAX;
            for j in leaf_powers(c) {
                let l = powers.backend.level(powers.get(j)?);
                level = level.min(l);
            }
            level
                .checked_sub(1)
                .ok_or_else(|| Error::Level("no level left for the polynomial".into()))
        }
        SplitTree::Node {
            log_giant,
            quotient,
            remainder,
        } => {
            let lq = output_level(quotient, powers)?;
            let lg = powers.backend.level(powers.get(1 << log_giant)?);
            let l = lq
                .min(lg)
                .checked_sub(1)
                .ok_or_else(|| Error::Level("no level left for the polynomial".into()))?;
            Ok(l.min(output_level(remainder, powers)?))
        }
    }
}

/// The lowest level of a leaf's powers (the level its sum is formed at).
fn leaf_level<B: SlotBackend>(c: &[f64], powers: &mut ChebyshevPowers<'_, B>) -> Result<usize> {
    let mut level = usize::MAX;
    for j in leaf_powers(c) {
        level = level.min(powers.backend.level(powers.get(j)?));
    }
    Ok(level)
}

/// `Σ_j c_j T_j` at `level` with scale `scale`, read from the powers in place (no dropped
/// copies; the constant term joins the same pass). No rescale.
fn leaf_sum<B: SlotBackend>(
    c: &[f64],
    powers: &mut ChebyshevPowers<'_, B>,
    level: usize,
    scale: f64,
) -> Result<B::Ct> {
    let be = powers.backend;
    let terms: Vec<(&B::Ct, f64)> = leaf_powers(c)
        .into_iter()
        .map(|j| Ok((powers.computed(j)?, c.get(j).copied().unwrap_or(0.0))))
        .collect::<Result<_>>()?;
    let acc = be.linear_combination(&terms, c[0], scale)?;
    if be.level(&acc) == level {
        Ok(acc)
    } else {
        be.drop_to_level(&acc, level)
    }
}

/// Evaluates `tree` to a ciphertext of scale exactly `target_scale`.
///
/// A node's remainder is only ever added, so the chain of remainders of a node,
/// `q_1·T_{2^{k_1}} + (q_2·T_{2^{k_2}} + (… + leaf))`, is summed lazily: every product's
/// degree-2 tensor and the leaf are formed at the chain's lowest level `l` at scale
/// `target·q_l`, summed, and relinearised and rescaled once (one key switch per chain instead
/// of one per node). The levels are those of the node-by-node evaluation, so the depth is
/// unchanged.
fn eval_tree<B: SlotBackend>(
    tree: &SplitTree,
    powers: &mut ChebyshevPowers<'_, B>,
    target_scale: f64,
) -> Result<B::Ct> {
    let be = powers.backend;
    // tree = Σ_k quotient_k · T_{2^{k}} + leaf
    let mut chain: Vec<(u32, &SplitTree)> = Vec::new();
    let mut node = tree;
    let leaf = loop {
        match node {
            SplitTree::Leaf(c) => break c,
            SplitTree::Node {
                log_giant,
                quotient,
                remainder,
            } => {
                chain.push((*log_giant, quotient));
                node = remainder;
            }
        }
    };
    let mut level = leaf_level(leaf, powers)?;
    for &(log_giant, quotient) in &chain {
        let lq = output_level(quotient, powers)?;
        let lg = be.level(powers.get(1 << log_giant)?);
        level = level.min(lq).min(lg);
    }
    if level == 0 {
        return Err(Error::Level("no level left for the polynomial".into()));
    }
    let work_scale = target_scale * be.prime(level);
    let mut quotients = Vec::with_capacity(chain.len());
    for &(log_giant, quotient) in &chain {
        let giant_scale = be.scale(powers.get(1 << log_giant)?);
        quotients.push(eval_tree(quotient, powers, work_scale / giant_scale)?);
    }
    let addend = leaf_sum(leaf, powers, level, work_scale)?;
    let mut out = if chain.is_empty() {
        be.rescale(&addend)?
    } else {
        let mut operands = Vec::with_capacity(chain.len());
        for (&(log_giant, _), q) in chain.iter().zip(&quotients) {
            let giant = powers.computed(1 << log_giant)?;
            operands.push((at_level(be, q, level)?, at_level(be, giant, level)?));
        }
        let pairs: Vec<(&B::Ct, &B::Ct)> = operands.iter().map(|(q, g)| (&**q, &**g)).collect();
        be.sum_of_products_rescale(&pairs, Some(&addend))?
    };
    be.set_scale(&mut out, target_scale);
    Ok(out)
}

/// Evaluates `Σ_j coeffs[j] T_j(t)` on the ciphertext `t` (values in `[−1, 1]`), returning a
/// ciphertext of scale exactly `target_scale`. `log_baby` = None picks about `sqrt(degree)` baby
/// powers.
pub fn evaluate_chebyshev<B: SlotBackend>(
    backend: &B,
    t: &B::Ct,
    coeffs: &[f64],
    target_scale: f64,
    log_baby: Option<u32>,
) -> Result<B::Ct> {
    if coeffs.is_empty() || coeffs.iter().any(|c| !c.is_finite()) {
        return Err(Error::InvalidInput(
            "Chebyshev coefficients must be finite and non-empty".into(),
        ));
    }
    let log_baby = match log_baby {
        Some(l) => l,
        None => best_log_baby(coeffs)?,
    };
    let tree = SplitTree::new(coeffs, log_baby)?;
    let mut powers = ChebyshevPowers::new(backend, t.clone());
    eval_tree(&tree, &mut powers, target_scale)
}

/// Levels consumed by [`evaluate_chebyshev`] for a degree and baby-step choice, computed on a
/// scale-free dry run of the power levels.
pub fn chebyshev_depth(coeffs: &[f64], log_baby: Option<u32>) -> Result<usize> {
    let log_baby = match log_baby {
        Some(l) => l,
        None => best_log_baby(coeffs)?,
    };
    Ok(tree_cost(&SplitTree::new(coeffs, log_baby)?).0)
}

/// `(depth, ciphertext products)` of [`evaluate_chebyshev`] for a series and baby-step choice
/// (powers and tree nodes; zero coefficients cost nothing, so an even series needs only the
/// even baby powers).
pub fn chebyshev_cost(coeffs: &[f64], log_baby: Option<u32>) -> Result<(usize, usize)> {
    let log_baby = match log_baby {
        Some(l) => l,
        None => best_log_baby(coeffs)?,
    };
    Ok(tree_cost(&SplitTree::new(coeffs, log_baby)?))
}

/// Key switches (relinearizations) of [`evaluate_chebyshev`]: one per computed power and one
/// per remainder chain (a node's remainders are summed with it lazily and relinearised once,
/// so only the root and the nodes that are some node's quotient start a chain).
pub fn chebyshev_key_switches(coeffs: &[f64], log_baby: Option<u32>) -> Result<usize> {
    fn chains(tree: &SplitTree, starts: bool) -> usize {
        match tree {
            SplitTree::Leaf(_) => 0,
            SplitTree::Node {
                quotient,
                remainder,
                ..
            } => usize::from(starts) + chains(quotient, true) + chains(remainder, false),
        }
    }
    let log_baby = match log_baby {
        Some(l) => l,
        None => best_log_baby(coeffs)?,
    };
    let tree = SplitTree::new(coeffs, log_baby)?;
    let (_, products) = tree_cost(&tree);
    let nodes = count_nodes(&tree);
    Ok(products - nodes + chains(&tree, true))
}

fn count_nodes(tree: &SplitTree) -> usize {
    match tree {
        SplitTree::Leaf(_) => 0,
        SplitTree::Node {
            quotient,
            remainder,
            ..
        } => 1 + count_nodes(quotient) + count_nodes(remainder),
    }
}

/// The baby-step size with the smallest depth, then the fewest ciphertext products: small
/// leaves keep the depth at `⌈log2(d+1)⌉` (each leaf's constant multiplication then fits in
/// the level a larger baby power would have used).
pub fn best_log_baby(coeffs: &[f64]) -> Result<u32> {
    let degree = coeffs.len().max(1) - 1;
    let max = (usize::BITS - degree.max(1).leading_zeros()).max(1);
    let mut best: Option<((usize, usize), u32)> = None;
    for l in 1..=max {
        let cost = tree_cost(&SplitTree::new(coeffs, l)?);
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, l));
        }
    }
    Ok(best.map_or(default_log_baby(degree), |(_, l)| l))
}

/// (depth, number of ciphertext products) of evaluating a tree, powers included.
fn tree_cost(tree: &SplitTree) -> (usize, usize) {
    use std::collections::BTreeSet;
    fn power_closure(j: usize, set: &mut BTreeSet<usize>) {
        if j <= 1 || !set.insert(j) {
            return;
        }
        let a = 1usize << (usize::BITS - 1 - (j - 1).leading_zeros());
        power_closure(a, set);
        power_closure(j - a, set);
        power_closure(a - (j - a), set);
    }
    fn walk(tree: &SplitTree, powers: &mut BTreeSet<usize>, nodes: &mut usize) {
        match tree {
            SplitTree::Leaf(c) => {
                for j in leaf_powers(c) {
                    power_closure(j, powers);
                }
            }
            SplitTree::Node {
                log_giant,
                quotient,
                remainder,
            } => {
                *nodes += 1;
                power_closure(1 << log_giant, powers);
                walk(quotient, powers, nodes);
                walk(remainder, powers, nodes);
            }
        }
    }
    let mut powers = BTreeSet::new();
    let mut nodes = 0;
    walk(tree, &mut powers, &mut nodes);
    (depth_of(tree), powers.len() + nodes)
}

fn depth_of(tree: &SplitTree) -> usize {
    use super::split::chebyshev_power_depth;
    match tree {
        SplitTree::Leaf(c) => {
            leaf_powers(c)
                .into_iter()
                .map(chebyshev_power_depth)
                .max()
                .unwrap_or(0)
                + 1
        }
        SplitTree::Node {
            log_giant,
            quotient,
            remainder,
        } => {
            let d = depth_of(quotient).max(chebyshev_power_depth(1 << log_giant)) + 1;
            d.max(depth_of(remainder))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::polynomial::ChebyshevSeries;
    use crate::circuits::simulator::SlotSimulator;

    #[test]
    fn homomorphic_chebyshev_matches_plain_with_exact_scale() {
        let primes: Vec<f64> = (0..12)
            .map(|i| 2f64.powi(50) + (i as f64) * 2f64.powi(30) * 3.0 - 1e6)
            .collect();
        let sim = SlotSimulator::new(6, primes).unwrap();
        let f = |x: f64| (3.0 * x).cos() * 0.5 + x * x * x;
        for degree in [1usize, 2, 7, 15, 16, 31, 40] {
            let p = ChebyshevSeries::interpolate(f, -1.0, 1.0, degree).unwrap();
            let xs: Vec<Complex64> = (0..32)
                .map(|j| Complex64::new(-1.0 + j as f64 / 16.0, 0.0))
                .collect();
            let top = sim.max_level();
            let ct = sim.encrypt(&xs, top, sim.prime(top)).unwrap();
            for log_baby in [None, Some(1), Some(3)] {
                let out =
                    evaluate_chebyshev(&sim, &ct, p.coeffs(), 2f64.powi(44), log_baby).unwrap();
                assert_eq!(out.scale, 2f64.powi(44));
                let depth = chebyshev_depth(p.coeffs(), log_baby).unwrap();
                assert_eq!(
                    out.level,
                    top - depth,
                    "degree {degree} log_baby {log_baby:?}"
                );
                for (x, y) in xs.iter().zip(&out.values) {
                    assert!((y.re - p.eval(x.re)).abs() < 1e-9, "degree {degree}");
                }
            }
        }
        // lazily relinearised remainder chains: fewer key switches than products, as counted
        for degree in [15usize, 31, 60] {
            let p = ChebyshevSeries::interpolate(f, -1.0, 1.0, degree).unwrap();
            let top = sim.max_level();
            let xs = [Complex64::new(0.3, 0.0)];
            let ct = sim.encrypt(&xs, top, sim.prime(top)).unwrap();
            let before = sim.key_switches();
            evaluate_chebyshev(&sim, &ct, p.coeffs(), 2f64.powi(44), Some(3)).unwrap();
            let counted = chebyshev_key_switches(p.coeffs(), Some(3)).unwrap();
            assert_eq!(sim.key_switches() - before, counted, "degree {degree}");
            let (_, products) = chebyshev_cost(p.coeffs(), Some(3)).unwrap();
            // a single node (degree 15) saves nothing; longer chains do
            assert!(
                counted < products || degree < 16,
                "degree {degree}: {counted} vs {products}"
            );
        }
        // depth-optimal for the default choice: ⌈log2(d + 1)⌉
        for d in [3usize, 7, 15, 30, 31, 60, 63] {
            let c = vec![0.5; d + 1];
            let optimal = (usize::BITS - d.leading_zeros()) as usize;
            assert_eq!(chebyshev_depth(&c, None).unwrap(), optimal, "degree {d}");
        }
    }
}
