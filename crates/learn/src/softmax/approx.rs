//! The row-wise softmax approximation on a column-tiled logits block.
//!
//! Pipeline (all variants), for logits in `[-R, R]` (`R = 128`):
//! 1. **prepare** (1 level): `x/(2R)` on real columns, `−1/2` on padded ones (one CMult), and the
//!    scaled copy that feeds the exponential;
//! 2. **maximum** by a tournament over the class period: `m ← m + d·(comp(d) − 1)`,
//!    `d = m − Rot(m, 2^t)`, with HETAL's composite comparison `comp = (f(g(g(d))) + 1)/2`
//!    (`hetal-rs`: a tuned chain of the same depth, [`constants::RS_CMP`](super::constants::RS_CMP),
//!    that falls half as far below the maximum). The plain rotation is wrong only in the last columns of a row, so column 0 of every row ends with
//!    the right maximum; the last round folds the column-0 mask in (no extra level) and log₂(s1)
//!    rotations broadcast it (no exact `RotLeft` needed, so no level per round);
//! 3. **exponential** of `x − max` (classes masked to zero and `1/R_inv` folded into the
//!    coefficients): HETAL evaluates five domain-extension steps `x − (4/27)x³/s²` (optionally the
//!    "precise" correction) then `p(x/8)^8`; `hetal-rs` evaluates a Chebyshev interpolant of
//!    `exp(x/256)` on the exact range `x − max` can take, then 8 squarings — no domain
//!    extension, so large negative inputs go to ~0 instead of ~1e-3 (HETAL's main error source);
//! 4. **sum** over the period into column 0, merged with the first Goldschmidt step
//!    `y = 2 − z/R_inv` (one CMult), broadcast;
//! 5. **Goldschmidt inverse** `t ← t², q ← q(1 + t)` started from `q = exp·y` (the product
//!    with the exponentials is taken first, so they are not parked while the inverse runs and
//!    the final product costs no extra level): HETAL uses `R_inv = 100`, 16 iterations;
//!    `hetal-rs` centres `R_inv` on the range `z` can take (`[1, c·e^δ]` where `δ` bounds the
//!    maximum's error, computed from the comparison polynomial) and runs only as many iterations
//!    as that range needs for a 2^-24 relative error. The pair `(q, t)` is bootstrapped as one
//!    complex ciphertext `q + i·t`.
//!
//! `hetal-fast` is `hetal-rs` tuned for the precision training needs (maximum error ≤ 1e-3 over
//! HETAL's sample instead of ~1e-8): a degree-15 interpolant of `exp(x/32)` and 5 squarings
//! (9 levels instead of 11) and an inverse sized for a 2^-13 relative error (one iteration
//! fewer); 3 levels fewer than `hetal-rs` at every class count.
//!
//! `hetal-shallow` is `hetal-fast` with a shallower maximum and inverse:
//! - each tournament round is `max(m, r) ≈ (m + r)/2 + |d|/2` with `|d|` the minimax even fit
//!   of degree 126 ([`abs_fit`](super::abs_fit)): a square and a degree-63 Chebyshev series in
//!   `2d² − 1`, 7 levels instead of 9 and no lever product; the round errs by at most ±0.29
//!   logits, either way, so the inputs are prepared at `x / (2R·a)` with `a` slightly above 1
//!   (computed from the fit's error) to keep every argument inside `[-1, 1]` even after the
//!   earlier rounds overshot;
//! - the inverse starts from `P(t) ≈ 1/z`, the best polynomial of degree `N − 1` for the relative
//!   error on the sum's range `[z_min, z_max]` (`1 − z·P = T_N(t)/T_N(σ)`, `t` the sum mapped onto
//!   `[-1, 1]`), evaluated with the exponentials folded into its coefficients; `N = 2^j` and the
//!   number `K` of Goldschmidt steps after it minimise `j + 1 + K` for the target error.
//!
//! Every polynomial keeps its argument in `[-1, 1]`-sized units (scalings are folded into
//! polynomial outputs and masks, never into huge input powers) so the same code is sound on CKKS.
//! Every bootstrapped message stays within ±1 (raw logits are never bootstrapped; the weights'
//! scale is folded into the first masks). The level planner (`planner.rs`) inserts bootstraps
//! just in time: before a stage whose depth would take a ciphertext below the bootstrappable
//! level, unless everything left fits without one.
//!
//! [`SoftmaxApprox::apply_prepared`] takes logits already scaled by DiagABT (the trainer's
//! path, one level cheaper).

use num_complex::Complex64;

use super::abs_fit::abs_fit;
use super::constants as k;
use super::geometry::TiledRows;
use super::planner::{Runner, fill_row};
use super::poly::Poly;
pub use super::variant::SoftmaxVariant;
use crate::eval::SlotEvaluator;
use crate::{Error, Result};

/// Relative error the `hetal-rs` inverse is tuned for.
pub const RS_INVERSE_TARGET: f64 = 1.0 / (1u64 << 24) as f64;
/// Degree of the `hetal-rs` exponential interpolant.
pub const RS_EXP_DEGREE: usize = 7;
/// Relative error the `hetal-fast` inverse is tuned for (the probabilities' error budget is
/// 1e-3; the inverse takes a tenth of it).
pub const FAST_INVERSE_TARGET: f64 = 1.0 / (1u64 << 13) as f64;
/// Degree of the `hetal-fast` exponential interpolant (depth 4).
pub const FAST_EXP_DEGREE: usize = 15;
/// Squarings after the `hetal-fast` exponential interpolant: `exp(x) = p(x/32)^32`.
pub const FAST_EXP_SQUARINGS: usize = 5;
/// Levels between bootstraps in HETAL's setting (bootstrap to 12 from 3).
pub const HETAL_WINDOW: usize = 9;
/// Levels of a `hetal-shallow` maximum round in narrow windows (< 12 levels).
pub const SHALLOW_ROUND_DEPTH: usize = 7;
/// Levels of a `hetal-shallow` maximum round in windows of 12 levels or more.
pub const SHALLOW_WIDE_ROUND_DEPTH: usize = 6;
/// Largest `j` of the `hetal-shallow` inverse start `P` (degree `2^j − 1`): its stage, with the
/// sum's level, must fit between two bootstraps.
const SHALLOW_MAX_START_LOG: usize = 6;

/// The polynomial start of the `hetal-shallow` inverse: `q₀ = e·P(t)`, `τ₀ = R(t) = 1 − z·P(t)`
/// with `t = σ − z/w`, then Goldschmidt `q ← q(1 + τ)`, `τ ← τ²`.
#[derive(Debug, Clone, PartialEq)]
struct InverseStart {
    /// `P(t) ≈ 1/z` (Chebyshev basis, degree `N − 1`).
    p: Poly,
    /// `R(t) = T_N(t)/T_N(σ)` (degree `N`, one level more than `P`).
    r: Poly,
    /// `z = w·(σ − t)`.
    w: f64,
    sigma: f64,
}

impl InverseStart {
    /// The start of degree `n` for `z ∈ [z_min, z_max]`, with `1/T_n(σ)` its relative error.
    fn new(n: usize, z_min: f64, z_max: f64) -> (Self, f64) {
        let w = (z_max - z_min) / 2.0;
        let sigma = (z_max + z_min) / (z_max - z_min);
        let t_n_sigma = (n as f64 * sigma.acosh()).cosh();
        let mut r = vec![0.0; n + 1];
        r[n] = 1.0 / t_n_sigma;
        let r = Poly::chebyshev(r);
        // P = (1 − R(t)) / (w(σ − t)) is a polynomial of degree n − 1: its interpolant at n
        // nodes is exact.
        let r_eval = r.clone();
        let p = Poly::chebyshev_fit(move |t| (1.0 - r_eval.eval(t)) / (w * (sigma - t)), n - 1);
        (Self { p, r, w, sigma }, 1.0 / t_n_sigma)
    }

    /// Levels from `t` to the pair `(q₀, τ₀)`: `R`'s depth.
    fn depth(&self) -> usize {
        self.r.depth()
    }
}

/// A configured softmax approximation for one block geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxApprox {
    variant: SoftmaxVariant,
    rows: TiledRows,
    range: f64,
    compare: Vec<Poly>,
    exp_in_scale: f64,
    exp_in_offset: f64,
    pre_exp: Vec<Poly>,
    exp: Poly,
    squarings: usize,
    inv_r: f64,
    inv_iterations: usize,
    /// `hetal-shallow`'s `|d|/2 ≈ P(2d² − 1)` (the tournament's other form).
    half_abs: Option<Poly>,
    inverse_start: Option<InverseStart>,
    max_shortfall: f64,
    max_overshoot: f64,
    /// Logits per prepared unit: inputs are prepared as `x / unit` (`2R`, or `2R·a` for
    /// `hetal-shallow`).
    unit: f64,
}

/// What one evaluation did.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxRun<C> {
    /// Probabilities in the input's layout (padded classes 0).
    pub output: C,
    /// Bootstraps inserted (a packed pair counts once).
    pub bootstraps: usize,
    /// Levels the pipeline consumed in total (across bootstraps).
    pub levels: usize,
    /// Wall time of the bootstraps (part of the evaluation's time).
    pub bootstrap_time: std::time::Duration,
}

/// How far one tournament round may fall below and rise above the true maximum of its pair, in
/// units of the scaled input: the worst `d·(1 − comp(d))` and `d·(comp(d) − 1)` over
/// `d ∈ (0, 1]` (by oddness the same for `d < 0`), on a grid fine enough for degree 127.
fn comparison_error(compare: &[Poly], half_abs: Option<&Poly>) -> (f64, f64) {
    const GRID: usize = 200_000;
    (1..=GRID)
        .map(|i| {
            let d = i as f64 / GRID as f64;
            match half_abs {
                // (m + r)/2 + q(d)/2 − max(m, r) = (q(d) − |d|)/2.
                Some(p) => p.eval(2.0 * d * d - 1.0) - d / 2.0,
                None => d * compare.iter().fold(d, |v, p| p.eval(v)), // d·(comp − 1)
            }
        })
        .fold((0.0, 0.0), |(short, over), e| {
            (f64::max(short, -e), f64::max(over, e))
        })
}

impl SoftmaxApprox {
    /// The approximation `variant` for logits in `[-range, range]` (a power of two ≥ 8; HETAL:
    /// 128) laid out as `rows`.
    pub fn new(variant: SoftmaxVariant, rows: TiledRows, range: f64) -> Result<Self> {
        Self::for_window(variant, rows, range, HETAL_WINDOW)
    }

    /// [`SoftmaxApprox::new`] for a backend that gives `window` levels between bootstraps
    /// (bootstrap level minus the lowest bootstrappable one; HETAL's setting: 9). Only
    /// `hetal-shallow` uses it: with 12 levels or more two 6-level rounds share a window, so it
    /// takes the degree-62 fit; below, one round per window anyway, the more precise degree-126
    /// fit.
    pub fn for_window(
        variant: SoftmaxVariant,
        rows: TiledRows,
        range: f64,
        window: usize,
    ) -> Result<Self> {
        if !(range >= 8.0 && range.log2().fract() == 0.0 && range <= 65_536.0) {
            return Err(Error::InvalidInput(format!(
                "range {range} must be a power of two in [8, 65536]"
            )));
        }
        let mut compare: Vec<Poly> = match variant {
            SoftmaxVariant::Hetal | SoftmaxVariant::HetalPrecise => {
                let g = Poly::new(k::CMP_G.to_vec());
                let f = Poly::new(k::CMP_F.to_vec());
                let mut chain = vec![g; k::CMP_G_ROUNDS];
                chain.extend(std::iter::repeat_n(f, k::CMP_F_ROUNDS));
                chain
            }
            SoftmaxVariant::HetalRs | SoftmaxVariant::HetalFast => {
                k::RS_CMP.iter().map(|c| Poly::new(c.to_vec())).collect()
            }
            SoftmaxVariant::HetalShallow => Vec::new(),
        };
        let round_depth = if window >= 2 * SHALLOW_WIDE_ROUND_DEPTH {
            SHALLOW_WIDE_ROUND_DEPTH
        } else {
            SHALLOW_ROUND_DEPTH
        };
        let half_abs = match variant {
            SoftmaxVariant::HetalShallow => Some(
                abs_fit(round_depth)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!("no |d| fit of depth {round_depth}"))
                    })?
                    .scaled(0.5),
            ),
            _ => None,
        };
        // The last comparison polynomial returns comp − 1 = (f − 1)/2 directly.
        if let Some(last) = compare.last_mut() {
            *last = last.scaled(0.5).shifted(-0.5);
        }
        let rounds = rows.period().trailing_zeros() as f64;
        let (short, over) = comparison_error(&compare, half_abs.as_ref());
        // The one-sided chains keep every round a convex combination of its pair (prepared
        // inputs in [-1/2, 1/2], arguments in [-1, 1]); a two-sided fit may overshoot by `over`
        // per round and undershoot by `short`, so its inputs are shrunk by `a` until the last
        // round's argument still lies in [-1, 1].
        let (grow, over) = if variant == SoftmaxVariant::HetalShallow {
            let spread = (rounds - 1.0).max(0.0) * (short + over) + 1e-4;
            if spread >= 0.5 {
                return Err(Error::InvalidInput(format!(
                    "{} class rounds are too many for the shallow maximum",
                    rounds
                )));
            }
            (1.0 / (1.0 - spread), over)
        } else {
            (1.0, 0.0)
        };
        let unit = 2.0 * range * grow;
        let max_shortfall = short * unit * rounds;
        let max_overshoot = over * unit * rounds;
        let mut a = Self {
            variant,
            rows,
            range,
            compare,
            exp_in_scale: 0.0,
            exp_in_offset: 0.0,
            pre_exp: Vec::new(),
            exp: Poly::new(vec![1.0]),
            squarings: 0,
            inv_r: k::INV_R,
            inv_iterations: k::INV_ITERATIONS,
            half_abs,
            inverse_start: None,
            max_shortfall,
            max_overshoot,
            unit,
        };
        match variant {
            SoftmaxVariant::Hetal | SoftmaxVariant::HetalPrecise => a.configure_hetal(),
            SoftmaxVariant::HetalRs => {
                let squarings = (2.0 * range).log2() as usize;
                a.configure_direct(RS_EXP_DEGREE, squarings, RS_INVERSE_TARGET);
            }
            SoftmaxVariant::HetalFast => {
                a.configure_direct(FAST_EXP_DEGREE, FAST_EXP_SQUARINGS, FAST_INVERSE_TARGET);
            }
            SoftmaxVariant::HetalShallow => {
                a.configure_direct(FAST_EXP_DEGREE, FAST_EXP_SQUARINGS, FAST_INVERSE_TARGET);
                a.configure_inverse_start(FAST_INVERSE_TARGET);
            }
        }
        Ok(a)
    }

    fn configure_hetal(&mut self) {
        // Domain extension in normalised units: v = x/(3s) for the step of radius s; the steps
        // of radii R, R/2, …, 2r map v ↦ 2v − (8/3)v³ and the last (radius r = 8) v ↦ 3v − 4v³,
        // which lands in u = x/8, the argument of p.
        let steps = (self.range / (k::DEP_R / 2.0)).log2() as usize;
        self.exp_in_scale = 2.0 / 3.0; // (x − M)/(3R) = (x/2R − m)·(2/3)
        self.exp_in_offset = 0.0;
        self.pre_exp = (0..steps)
            .map(|i| {
                if i + 1 == steps {
                    Poly::new(vec![0.0, 3.0, 0.0, -4.0])
                } else {
                    Poly::new(vec![0.0, 2.0, 0.0, -8.0 / 3.0])
                }
            })
            .collect();
        if self.variant == SoftmaxVariant::HetalPrecise {
            let n = steps as i32;
            let l2 = k::DEP_L * k::DEP_L;
            let kappa = (l2.powi(n) - 1.0) / (l2.powi(n - 1) * (l2 - 1.0)) * (4.0 / 27.0);
            // x + (κ/r²)x³ − (κ/r⁴)x⁵ in u = x/r: u + κu³ − κu⁵.
            self.pre_exp
                .push(Poly::new(vec![0.0, 1.0, 0.0, kappa, 0.0, -kappa]));
        }
        self.squarings = k::EXP_SQUARINGS;
        self.inv_r = k::INV_R;
        self.inv_iterations = k::INV_ITERATIONS;
        let fold = self.inv_r.powf(-1.0 / (1u64 << self.squarings) as f64);
        self.exp = Poly::new(k::EXP_P.to_vec()).scaled(fold);
    }

    /// The direct exponential: a Chebyshev interpolant of degree `exp_degree` of
    /// `exp((x − M)/2^squarings)` on the range `x − M` can take, then `squarings` squarings; the
    /// Goldschmidt inverse sized for `inverse_target`.
    fn configure_direct(&mut self, exp_degree: usize, squarings: usize, inverse_target: f64) {
        let unit = self.unit;
        // x − M ∈ [−2R − overshoot, shortfall]; in u = (x − M)/unit, with a small safety margin.
        let margin = 0.01;
        let (lo, hi) = (
            -(2.0 * self.range + self.max_overshoot) / unit - margin,
            self.max_shortfall / unit + margin,
        );
        let alpha = 2.0 / (hi - lo);
        let beta = -(hi + lo) / (hi - lo);
        self.exp_in_scale = alpha;
        self.exp_in_offset = beta;
        self.pre_exp.clear();
        self.squarings = squarings;
        // z = Σ exp(x − M) ∈ [1, c·e^shortfall]: centre R_inv, iterate until ρ^(2^(k+1)) ≤ target.
        let z_max = self.rows.classes() as f64 * (self.max_shortfall * 1.05).exp();
        let z_min = 1.0 - 1e-3;
        self.inv_r = (z_max + z_min) / 2.0;
        let rho = (z_max - z_min) / (z_max + z_min);
        let need = inverse_target.ln() / rho.ln(); // 2^(k+1) ≥ need
        self.inv_iterations = (need.log2().ceil() as usize).saturating_sub(1).max(1);
        let fold = self.inv_r.powf(-1.0 / (1u64 << self.squarings) as f64);
        // t = α·u + β with u = (x − M)/unit; p(t) = exp(u · unit / 2^squarings) · fold.
        let per_square = unit / (1u64 << self.squarings) as f64;
        let exp_t = move |t: f64| ((t - beta) / alpha * per_square).exp() * fold;
        self.exp = Poly::chebyshev_interpolant(exp_t, exp_degree);
    }

    /// Replaces the linear Goldschmidt start by the polynomial one: no division by `R_inv` (the
    /// sum is mapped onto `[-1, 1]` instead), `N = 2^j` and `K` steps minimising `j + 1 + K`.
    fn configure_inverse_start(&mut self, inverse_target: f64) {
        // The exponentials are divided by their largest possible value e^shortfall (folded into
        // the polynomial), so they stay bootstrappable; the sum then lies in [z_min, c].
        let e_max = (self.max_shortfall * 1.05).exp();
        let z_max = self.rows.classes() as f64;
        let z_min = (-self.max_overshoot * 1.05).exp() * (1.0 - 1e-3) / e_max;
        let mut best: Option<(usize, usize)> = None;
        for j in 0..=SHALLOW_MAX_START_LOG {
            let (_, r0) = InverseStart::new(1 << j, z_min, z_max);
            // q stays in [0, 1 + r0]: shifted by −1/2 it is bootstrappable.
            if r0 > 0.5 {
                continue;
            }
            let mut k = 0;
            let mut err = r0;
            while err > inverse_target {
                err *= err;
                k += 1;
            }
            if best.is_none_or(|(bj, bk)| j + k < bj + bk) {
                best = Some((j, k));
            }
        }
        let (j, k) = best.unwrap_or((SHALLOW_MAX_START_LOG, 1));
        self.inverse_start = Some(InverseStart::new(1 << j, z_min, z_max).0);
        self.inv_r = e_max;
        self.inv_iterations = k;
        let fold = e_max.powf(-1.0 / (1u64 << self.squarings) as f64);
        let per_square = self.unit / (1u64 << self.squarings) as f64;
        let (alpha, beta) = (self.exp_in_scale, self.exp_in_offset);
        let exp_t = move |t: f64| ((t - beta) / alpha * per_square).exp() * fold;
        self.exp = Poly::chebyshev_interpolant(exp_t, self.exp.degree());
    }

    /// The variant.
    pub fn variant(&self) -> SoftmaxVariant {
        self.variant
    }

    /// The block geometry.
    pub fn rows(&self) -> &TiledRows {
        &self.rows
    }

    /// The input range `R`.
    pub fn range(&self) -> f64 {
        self.range
    }

    /// Goldschmidt parameters `(R_inv, iterations)`.
    pub fn inverse_params(&self) -> (f64, usize) {
        (self.inv_r, self.inv_iterations)
    }

    /// Bound on how far the approximate maximum may fall below the true one (input units).
    pub fn max_shortfall(&self) -> f64 {
        self.max_shortfall
    }

    /// Bound on how far the approximate maximum may rise above the true one (input units; 0
    /// for the one-sided comparison chains).
    pub fn max_overshoot(&self) -> f64 {
        self.max_overshoot
    }

    /// Factor that prepares logits for [`SoftmaxApprox::apply_prepared`]: `1/(2R)`, or
    /// `1/(2R·a)` for `hetal-shallow`.
    pub fn prepared_scale(&self) -> f64 {
        1.0 / self.unit
    }

    /// Value of the padded class columns in a prepared block: `−R/unit` (`−1/2` for the
    /// one-sided variants), the bottom of the prepared range.
    pub fn prepared_pad(&self) -> f64 {
        -self.range / self.unit
    }

    /// Degree of the polynomial start of the inverse (0: HETAL's linear start `2 − z/R_inv`).
    pub fn inverse_start_degree(&self) -> usize {
        self.inverse_start.as_ref().map_or(0, |s| s.p.degree())
    }

    /// Named stages and the levels each consumes on the critical path, in order.
    pub fn stage_depths(&self) -> Vec<(&'static str, usize)> {
        let mut s = vec![("prepare", 1)];
        s.extend(std::iter::repeat_n(
            ("max round", self.round_depth()),
            self.tournament_rounds(),
        ));
        for p in &self.pre_exp {
            s.push(("domain extension", p.depth()));
        }
        s.push(("exp polynomial", self.exp.depth()));
        s.extend(std::iter::repeat_n(("exp squaring", 1), self.squarings));
        s.push(("sum", 1));
        match &self.inverse_start {
            Some(start) => s.push(("inverse start polynomial", start.depth())),
            None => s.push(("exp times first inverse step", 1)),
        }
        s.push(("inverse iterations", self.inv_iterations));
        s
    }

    /// Total levels consumed (sum of [`SoftmaxApprox::stage_depths`]).
    pub fn depth(&self) -> usize {
        self.stage_depths().iter().map(|s| s.1).sum()
    }

    /// Lowest level the logits may arrive at (when the whole pipeline does not fit without
    /// bootstrapping): one level for the scaling, then still bootstrappable.
    pub fn min_input_level(&self, boot_min: usize) -> usize {
        boot_min + 1
    }

    fn tournament_rounds(&self) -> usize {
        self.rows.period().trailing_zeros() as usize
    }

    /// Evaluates the softmax of every row of `logits` (column-tiled as [`TiledRows`]), inserting
    /// bootstraps as needed; the output is left at level ≥ `out_min` (an error if the backend
    /// cannot give that many levels after a bootstrap).
    pub fn apply<E: SlotEvaluator>(
        &self,
        ev: &E,
        logits: &E::Ct,
        boot_min: usize,
        out_min: usize,
    ) -> Result<SoftmaxRun<E::Ct>> {
        self.apply_scaled(ev, logits, 1.0, boot_min, out_min)
    }

    /// [`SoftmaxApprox::apply`] on `logits / input_scale` (the trainer keeps its weights divided
    /// by a scale so that they stay in the bootstrappable range; the factor is folded into the
    /// first masks, at no level).
    pub fn apply_scaled<E: SlotEvaluator>(
        &self,
        ev: &E,
        logits: &E::Ct,
        input_scale: f64,
        boot_min: usize,
        out_min: usize,
    ) -> Result<SoftmaxRun<E::Ct>> {
        if !(input_scale.is_finite() && input_scale > 0.0) {
            return Err(Error::InvalidInput(format!("input scale {input_scale}")));
        }
        self.check_slots(ev)?;
        let mut run = Runner {
            ev,
            boot_min,
            out_min,
            remaining: self.depth(),
            bootstraps: 0,
            boot_time: std::time::Duration::ZERO,
        };
        let geo = &self.rows;
        let unit = self.unit / input_scale;

        // 1. prepare. The raw logits are never bootstrapped (they may exceed the bootstrappable
        //    message range); if the scaled copies cannot start the tournament, they are
        //    bootstrapped together as one complex ciphertext.
        let x = logits;
        if ev.level(x) < 1 + boot_min && !run.fits(ev.level(x)) {
            return Err(Error::LevelExhausted {
                op: "softmax input",
                needed: self.min_input_level(boot_min),
                level: ev.level(x),
            });
        }
        run.remaining = run.remaining.saturating_sub(1);
        let mut xs = ev.add_const(
            &ev.mul_const(x, &geo.real_mask(1.0 / unit))?,
            &geo.pad_mask(self.prepared_pad()),
        )?;
        // Padded columns of the exponential's input get −offset, so that after the maximum is
        // subtracted they stay inside [-1, 1] like the real ones (they are masked to 0 later, but
        // may be bootstrapped before that).
        let mut x_exp = ev.add_const(
            &ev.mul_const(x, &geo.real_mask(self.exp_in_scale / unit))?,
            &geo.pad_mask(-self.exp_in_offset),
        )?;
        if run.needs_boot(ev.level(&xs), self.first_compare_depth()) {
            (xs, x_exp) = run.bootstrap_pair(&xs, &x_exp)?;
        }
        self.run_prepared(run, xs, x_exp)
    }

    /// The softmax of logits already *prepared* as `xs = logits ·`
    /// [`prepared_scale`](SoftmaxApprox::prepared_scale) on real columns and
    /// [`prepared_pad`](SoftmaxApprox::prepared_pad) on padded ones (`logits / 2R` and `−1/2`
    /// except for `hetal-shallow`) — what DiagABT gives directly when the scale is folded into
    /// its factor and the pad added to the padded columns. Saves the preparation level on the
    /// critical path, so `xs` may arrive at the bootstrappable level itself.
    pub fn apply_prepared<E: SlotEvaluator>(
        &self,
        ev: &E,
        xs: &E::Ct,
        boot_min: usize,
        out_min: usize,
    ) -> Result<SoftmaxRun<E::Ct>> {
        self.check_slots(ev)?;
        let mut run = Runner {
            ev,
            boot_min,
            out_min,
            remaining: self.depth(),
            bootstraps: 0,
            boot_time: std::time::Duration::ZERO,
        };
        let mut xs = xs.clone();
        if run.needs_boot(ev.level(&xs), self.first_compare_depth()) {
            xs = run.boot(&xs, 0)?;
        }
        run.remaining = run.remaining.saturating_sub(1);
        // x_exp = exp_in_scale · x/unit on real columns, −offset on padded ones.
        let geo = &self.rows;
        let x_exp = ev.add_const(
            &ev.mul_scalar(&xs, Complex64::new(self.exp_in_scale, 0.0))?,
            &geo.pad_mask(-self.prepared_pad() * self.exp_in_scale - self.exp_in_offset),
        )?;
        self.run_prepared(run, xs, x_exp)
    }

    fn check_slots<E: SlotEvaluator>(&self, ev: &E) -> Result<()> {
        if ev.slots() != self.rows.slots() {
            return Err(Error::SlotLength {
                expected: self.rows.slots(),
                got: ev.slots(),
            });
        }
        Ok(())
    }

    fn first_compare_depth(&self) -> usize {
        match &self.half_abs {
            Some(_) => self.round_depth(),
            None => self.compare.first().map_or(1, Poly::depth),
        }
    }

    /// Levels of one tournament round.
    fn round_depth(&self) -> usize {
        match &self.half_abs {
            Some(p) => 1 + p.depth(),
            None => self.compare.iter().map(Poly::depth).sum(),
        }
    }

    /// One `hetal-shallow` round: `m' = (m + r)/2 + P(2d² − 1)` (`P ≈ |d|/2`), `r = Rot(m)`,
    /// `d = m − r`; the last keeps column 0 scaled by `exp_in_scale` (folded into the masks).
    fn abs_round<E: SlotEvaluator>(
        &self,
        run: &mut Runner<'_, E>,
        m: &mut E::Ct,
        half_abs: &Poly,
        step: usize,
        last: bool,
    ) -> Result<()> {
        let ev = run.ev;
        run.stage(m, self.round_depth())?;
        let r = ev.rotate(m, step as isize)?;
        let d = ev.sub(m, &r)?;
        let sum = ev.add(m, &r)?;
        let sq = ev.square(&d)?;
        let y = ev.add_scalar(&ev.add(&sq, &sq)?, Complex64::new(-1.0, 0.0))?;
        let (base, half) = if last {
            let col = self.rows.first_column(1.0);
            (
                ev.mul_const(&sum, &self.rows.first_column(0.5 * self.exp_in_scale))?,
                half_abs
                    .scaled(self.exp_in_scale)
                    .eval_ct(ev, &y, Some(&col))?,
            )
        } else {
            (
                ev.mul_scalar(&sum, Complex64::new(0.5, 0.0))?,
                half_abs.eval_ct(ev, &y, None)?,
            )
        };
        *m = ev.add(&base, &half)?;
        Ok(())
    }

    /// Stages 2–5 from the prepared input `xs` and the exponential's input `x_exp`.
    fn run_prepared<E: SlotEvaluator>(
        &self,
        mut run: Runner<'_, E>,
        xs: E::Ct,
        x_exp: E::Ct,
    ) -> Result<SoftmaxRun<E::Ct>> {
        let ev = run.ev;
        let geo = &self.rows;
        let first = self.first_compare_depth();

        // 2. maximum into column 0, scaled by exp_in_scale
        let rounds = self.tournament_rounds();
        let mut m = xs;
        for t in 0..rounds {
            let last = t + 1 == rounds;
            if let Some(half_abs) = &self.half_abs {
                self.abs_round(&mut run, &mut m, half_abs, 1 << t, last)?;
                continue;
            }
            // If the comparison chain could not even start on `d = m − Rot(m)` without a
            // bootstrap, refresh `m` instead: same cost, and the parked operands of the round's
            // product (`m`, `d`) are then fresh too.
            run.refresh(&mut m, first.max(if last { 2 } else { 1 }))?;
            let r = ev.rotate(&m, 1 << t)?;
            let d = ev.sub(&m, &r)?;
            // The last round keeps column 0 only and scales the maximum by exp_in_scale: the
            // base takes both (|m| ≤ 1/2 keeps it bootstrappable), the lever only the mask (it
            // may be bootstrapped with the chain) and the scale goes into the last polynomial.
            let (mut base, mut lever) = if last {
                (
                    ev.mul_const(&m, &geo.first_column(self.exp_in_scale))?,
                    ev.mul_const(&d, &geo.first_column(1.0))?,
                )
            } else {
                (m.clone(), d.clone())
            };
            // m' = base + lever·(comp − 1): the lever multiplies the last comparison polynomial's
            // coefficients, so the product costs no level of its own. When the chain needs a
            // bootstrap, the lever rides along in the same ciphertext (u + i·lever).
            let (last_poly, head) = self
                .compare
                .split_last()
                .ok_or_else(|| Error::InvalidInput("empty comparison chain".into()))?;
            let mut u = d;
            for p in head.iter().chain(std::iter::once(last_poly)) {
                if run.needs_boot(ev.level(&u), p.depth()) {
                    (u, lever) = run.bootstrap_pair(&u, &lever)?;
                }
                run.stage(&mut u, p.depth())?;
                if !std::ptr::eq(p, last_poly) {
                    u = p.eval_ct(ev, &u, None)?;
                }
            }
            run.refresh(&mut lever, last_poly.depth() + 1)?;
            run.refresh(&mut base, 0)?;
            let product = if last {
                last_poly
                    .scaled(self.exp_in_scale)
                    .eval_ct_times(ev, &u, &lever)?
            } else {
                last_poly.eval_ct_times(ev, &u, &lever)?
            };
            m = ev.add(&base, &product)?;
        }
        let m_full = fill_row(ev, &m, geo.cols())?;
        let mut v = ev.add_scalar(
            &ev.sub(&x_exp, &m_full)?,
            Complex64::new(self.exp_in_offset, 0.0),
        )?;

        // 3. exponential (masked, divided by R_inv)
        for p in &self.pre_exp {
            run.stage(&mut v, p.depth())?;
            v = p.eval_ct(ev, &v, None)?;
        }
        run.stage(&mut v, self.exp.depth())?;
        let mut e = self.exp.eval_ct(ev, &v, Some(&geo.real_mask(1.0)))?;
        for _ in 0..self.squarings {
            run.stage(&mut e, 1)?;
            e = ev.square(&e)?;
        }

        if let Some(start) = &self.inverse_start {
            return self.polynomial_inverse(run, e, start);
        }

        // 4. sum into column 0, y₀ = 2 − Σe broadcast; the exponentials ride along the inverse
        //    chain (q = e·y₀), so nothing is parked until the end.
        run.stage(&mut e, 2)?;
        let mut s = e.clone();
        for t in 0..geo.period().trailing_zeros() {
            let r = ev.rotate(&s, 1 << t)?;
            s = ev.add(&s, &r)?;
        }
        let s0 = ev.mul_const(&s, &geo.first_column(-1.0))?;
        let y0 = ev.add_scalar(&fill_row(ev, &s0, geo.cols())?, Complex64::new(2.0, 0.0))?;
        let tt = ev.add_scalar(&y0, Complex64::new(-1.0, 0.0))?;
        let q = ev.mul(&e, &y0)?;

        // 5. Goldschmidt: t ← t², q ← q·(1 + t); q ends as e/z.
        self.goldschmidt(run, q, tt, true)
    }

    /// `inv_iterations` Goldschmidt steps on `(q, τ)`: `τ ← τ², q ← q·(1 + τ)` (or, with
    /// `square_first` false, `q ← q·(1 + τ)` then `τ ← τ²`); `q` ends as `e/z`. The pair is
    /// bootstrapped as one complex ciphertext when a step would leave it unbootstrappable.
    fn goldschmidt<E: SlotEvaluator>(
        &self,
        mut run: Runner<'_, E>,
        mut q: E::Ct,
        mut tt: E::Ct,
        square_first: bool,
    ) -> Result<SoftmaxRun<E::Ct>> {
        // The polynomial start's q may exceed 1 by the start's error: it is bootstrapped as
        // q − 1/2.
        let q_shift = if square_first { 0.0 } else { 0.5 };
        let ev = run.ev;
        let boot_min = run.boot_min;
        let out_min = run.out_min;
        for i in 0..self.inv_iterations {
            let last = i + 1 == self.inv_iterations;
            let floor = if last { out_min } else { boot_min };
            let current = ev.level(&q).min(ev.level(&tt));
            let lag = usize::from(square_first);
            let after = |q: &E::Ct, t: &E::Ct| {
                ev.level(q)
                    .min(ev.level(t).saturating_sub(lag))
                    .saturating_sub(1)
            };
            if !run.fits(current) && after(&q, &tt) < floor {
                let shift = |c: &E::Ct, by: f64| {
                    if by == 0.0 {
                        Ok(c.clone())
                    } else {
                        ev.add_scalar(c, Complex64::new(by, 0.0))
                    }
                };
                let shifted = shift(&q, -q_shift)?;
                let fresh = if ev.bootstrap_level().saturating_sub(3) >= floor {
                    run.bootstrap_pair(&shifted, &tt)?
                } else {
                    (run.boot(&shifted, 0)?, run.boot(&tt, 0)?)
                };
                q = shift(&fresh.0, q_shift)?;
                tt = fresh.1;
                if after(&q, &tt) < floor {
                    return Err(Error::LevelExhausted {
                        op: "softmax inverse after bootstrapping",
                        needed: floor + 2,
                        level: ev.level(&q).min(ev.level(&tt)),
                    });
                }
            }
            if square_first {
                tt = ev.square(&tt)?;
                q = ev.mul(&q, &ev.add_scalar(&tt, Complex64::new(1.0, 0.0))?)?;
            } else {
                q = ev.mul(&q, &ev.add_scalar(&tt, Complex64::new(1.0, 0.0))?)?;
                if !last {
                    tt = ev.square(&tt)?;
                }
            }
            run.remaining = run.remaining.saturating_sub(1);
        }
        let output = q;
        Ok(SoftmaxRun {
            output,
            bootstraps: run.bootstraps,
            levels: self.depth(),
            bootstrap_time: run.boot_time,
        })
    }

    /// Stages 4–5 with the polynomial start: the sum mapped onto `t = σ − z/w` (its mask
    /// carries `−1/w`), `q₀ = e·P(t)` with `e` folded into `P`'s coefficients, `τ₀ = R(t)`,
    /// then Goldschmidt.
    fn polynomial_inverse<E: SlotEvaluator>(
        &self,
        mut run: Runner<'_, E>,
        mut e: E::Ct,
        start: &InverseStart,
    ) -> Result<SoftmaxRun<E::Ct>> {
        let ev = run.ev;
        let geo = &self.rows;
        run.stage(&mut e, 1 + start.depth())?;
        let mut s = e.clone();
        for t in 0..geo.period().trailing_zeros() {
            let r = ev.rotate(&s, 1 << t)?;
            s = ev.add(&s, &r)?;
        }
        let s0 = ev.mul_const(&s, &geo.first_column(-1.0 / start.w))?;
        let t = ev.add_scalar(
            &fill_row(ev, &s0, geo.cols())?,
            Complex64::new(start.sigma, 0.0),
        )?;
        let q = start.p.eval_ct_times(ev, &t, &e)?;
        let tt = start.r.eval_ct(ev, &t, None)?;
        self.goldschmidt(run, q, tt, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator, SlotCodec};
    use crate::softmax::exact::softmax_exact;

    fn block(c: usize, cols: usize) -> (TiledRows, Vec<Vec<f64>>, Vec<Complex64>) {
        let rows = TiledRows::new(64, cols, c).unwrap();
        let mut values = vec![Complex64::new(0.0, 0.0); 64];
        let mut logits = Vec::new();
        for r in 0..rows.rows() {
            let row: Vec<f64> = (0..c)
                .map(|j| ((r * 7 + j * 13) % 23) as f64 * 10.0 - 110.0)
                .collect();
            // Column-tiled: every tile of the row holds the logits (padding columns zero).
            for tile in 0..cols / rows.period() {
                for (j, &v) in row.iter().enumerate() {
                    values[r * cols + tile * rows.period() + j] = Complex64::new(v, 0.0);
                }
            }
            logits.push(row);
        }
        (rows, logits, values)
    }

    #[test]
    fn every_column_of_a_wide_tiled_block_gets_its_class_probability() {
        // s1 = 4 · c_pad: the output must be right in every tile, not only the first.
        for variant in SoftmaxVariant::ALL {
            let (rows, logits, values) = block(3, 16);
            let approx = SoftmaxApprox::new(variant, rows, 128.0).unwrap();
            let sim = Simulator::new(SimConfig::with_slots(64)).unwrap();
            let ct = sim.encrypt(&values).unwrap();
            let out = sim
                .decrypt(&approx.apply(&sim, &ct, 3, 0).unwrap().output)
                .unwrap();
            for (r, row) in logits.iter().enumerate() {
                let exact = softmax_exact(row);
                for col in 0..16 {
                    let j = col % 4;
                    let want = exact.get(j).copied().unwrap_or(0.0);
                    let got = out[r * 16 + col].re;
                    assert!(
                        (got - want).abs() < 2e-2,
                        "{variant:?} row {r} col {col}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn prepared_input_gives_the_same_probabilities_one_level_later() {
        let (rows, _, values) = block(7, 8);
        let sim = Simulator::new(SimConfig::with_slots(64)).unwrap();
        for variant in SoftmaxVariant::ALL {
            let approx = SoftmaxApprox::new(variant, rows, 128.0).unwrap();
            let raw = sim.encrypt_at(&values, 7).unwrap();
            let prepared: Vec<Complex64> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if (i % 8) < 7 {
                        v * approx.prepared_scale()
                    } else {
                        Complex64::new(approx.prepared_pad(), 0.0)
                    }
                })
                .collect();
            let xs = sim.encrypt_at(&prepared, 6).unwrap();
            let a = sim
                .decrypt(&approx.apply(&sim, &raw, 3, 3).unwrap().output)
                .unwrap();
            let b = sim
                .decrypt(&approx.apply_prepared(&sim, &xs, 3, 3).unwrap().output)
                .unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).norm() < 1e-12, "{variant:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn no_bootstrap_when_the_levels_suffice() {
        let (rows, _, values) = block(3, 4);
        let approx = SoftmaxApprox::new(SoftmaxVariant::HetalRs, rows, 128.0).unwrap();
        let depth = approx.depth();
        let sim = Simulator::new(SimConfig {
            max_level: depth + 2,
            bootstrap_level: depth + 2,
            ..SimConfig::with_slots(64)
        })
        .unwrap();
        let ct = sim.encrypt(&values).unwrap();
        let run = approx.apply(&sim, &ct, 3, 2).unwrap();
        assert_eq!(run.bootstraps, 0);
        assert_eq!(
            sim.level(&run.output),
            2,
            "consumes exactly its stated depth"
        );
    }

    #[test]
    fn bootstraps_keep_every_ciphertext_bootstrappable() {
        // Input arriving at a low level (as from DiagABT) in HETAL's 12/3 setting.
        let (rows, _, values) = block(7, 8);
        let approx = SoftmaxApprox::new(SoftmaxVariant::Hetal, rows, 128.0).unwrap();
        let sim = Simulator::new(SimConfig::with_slots(64)).unwrap();
        let ct = sim.encrypt_at(&values, 9).unwrap();
        let run = approx.apply(&sim, &ct, 3, 3).unwrap();
        assert!(sim.level(&run.output) >= 3);
        // Lower bound: the levels available between bootstraps are 9.
        assert!(run.bootstraps >= (approx.depth() + 3).div_ceil(9) - 1);
    }

    #[test]
    fn shallow_variant_takes_two_rounds_per_wide_window() {
        let rows = TiledRows::new(64, 16, 10).unwrap();
        let narrow = SoftmaxApprox::new(SoftmaxVariant::HetalShallow, rows, 128.0).unwrap();
        let wide =
            SoftmaxApprox::for_window(SoftmaxVariant::HetalShallow, rows, 128.0, 12).unwrap();
        let rounds = |a: &SoftmaxApprox| {
            a.stage_depths()
                .into_iter()
                .filter(|s| s.0 == "max round")
                .map(|s| s.1)
                .collect::<Vec<_>>()
        };
        assert_eq!(rounds(&narrow), vec![SHALLOW_ROUND_DEPTH; 4]);
        assert_eq!(rounds(&wide), vec![SHALLOW_WIDE_ROUND_DEPTH; 4]);
        // The coarser fit errs more per round, both ways, and the inputs shrink a little more
        // to keep the last round's argument in [-1, 1].
        assert!(wide.max_shortfall() > narrow.max_shortfall());
        assert!(wide.max_overshoot() > narrow.max_overshoot() && narrow.max_overshoot() > 0.0);
        assert!(wide.prepared_scale() < narrow.prepared_scale());
        assert!(narrow.prepared_scale() < 1.0 / 256.0);
        // The other variants ignore the window.
        let fast = SoftmaxApprox::for_window(SoftmaxVariant::HetalFast, rows, 128.0, 12).unwrap();
        assert_eq!(
            fast,
            SoftmaxApprox::new(SoftmaxVariant::HetalFast, rows, 128.0).unwrap()
        );
        assert_eq!(fast.prepared_scale(), 1.0 / 256.0);
        assert_eq!(fast.max_overshoot(), 0.0);
    }

    #[test]
    fn variants_round_trip_by_name() {
        for v in SoftmaxVariant::ALL {
            assert_eq!(SoftmaxVariant::from_name(v.name()), Some(v));
        }
        assert!(TiledRows::new(64, 2, 3).is_err());
        assert!(
            SoftmaxApprox::new(
                SoftmaxVariant::Hetal,
                TiledRows::new(64, 4, 3).unwrap(),
                100.0
            )
            .is_err()
        );
    }
}
