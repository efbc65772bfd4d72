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
    max_shortfall: f64,
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
}

/// Worst `d·(1 − comp(d))` over `d ∈ [0, 1]` for a comparison chain (how far one tournament
/// round may fall below the true maximum, in units of the scaled input).
fn comparison_shortfall(compare: &[Poly]) -> f64 {
    (1..=20_000)
        .map(|i| {
            let d = i as f64 / 20_000.0;
            let c = compare.iter().fold(d, |v, p| p.eval(v)); // comp − 1
            -d * c
        })
        .fold(0.0, f64::max)
}

impl SoftmaxApprox {
    /// The approximation `variant` for logits in `[-range, range]` (a power of two ≥ 8; HETAL:
    /// 128) laid out as `rows`.
    pub fn new(variant: SoftmaxVariant, rows: TiledRows, range: f64) -> Result<Self> {
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
        };
        // The last comparison polynomial returns comp − 1 = (f − 1)/2 directly.
        if let Some(last) = compare.last_mut() {
            *last = last.scaled(0.5).shifted(-0.5);
        }
        let rounds = rows.period().trailing_zeros() as f64;
        let max_shortfall = comparison_shortfall(&compare) * 2.0 * range * rounds;
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
            max_shortfall,
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
        let two_r = 2.0 * self.range;
        // x − M ∈ [−2R − over, shortfall]; in u = (x − M)/2R, with a small safety margin.
        let margin = 0.01;
        let (lo, hi) = (-1.0 - margin, self.max_shortfall / two_r + margin);
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
        // t = α·u + β with u = (x − M)/2R; p(t) = exp(u · 2R / 2^squarings) · fold.
        let per_square = two_r / (1u64 << self.squarings) as f64;
        let exp_t = move |t: f64| ((t - beta) / alpha * per_square).exp() * fold;
        self.exp = Poly::chebyshev_interpolant(exp_t, exp_degree);
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

    /// Named stages and the levels each consumes on the critical path, in order.
    pub fn stage_depths(&self) -> Vec<(&'static str, usize)> {
        let mut s = vec![("prepare", 1)];
        let cmp: usize = self.compare.iter().map(Poly::depth).sum::<usize>();
        s.extend(std::iter::repeat_n(
            ("max round", cmp),
            self.tournament_rounds(),
        ));
        for p in &self.pre_exp {
            s.push(("domain extension", p.depth()));
        }
        s.push(("exp polynomial", self.exp.depth()));
        s.extend(std::iter::repeat_n(("exp squaring", 1), self.squarings));
        s.push(("sum", 1));
        s.push(("exp times first inverse step", 1));
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
        };
        let geo = &self.rows;
        let two_r = 2.0 * self.range / input_scale;

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
            &ev.mul_const(x, &geo.real_mask(1.0 / two_r))?,
            &geo.pad_mask(-0.5),
        )?;
        // Padded columns of the exponential's input get −offset, so that after the maximum is
        // subtracted they stay inside [-1, 1] like the real ones (they are masked to 0 later, but
        // may be bootstrapped before that).
        let mut x_exp = ev.add_const(
            &ev.mul_const(x, &geo.real_mask(self.exp_in_scale / two_r))?,
            &geo.pad_mask(-self.exp_in_offset),
        )?;
        if run.needs_boot(ev.level(&xs), self.first_compare_depth()) {
            (xs, x_exp) = run.bootstrap_pair(&xs, &x_exp)?;
        }
        self.run_prepared(run, xs, x_exp)
    }

    /// The softmax of logits already *prepared* as `xs = logits / (2R)` on real columns and
    /// `−1/2` on padded ones — what DiagABT gives directly when `1/(2R)` is folded into its
    /// factor and `−1/2` added to the padded columns. Saves the preparation level on the
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
        };
        let mut xs = xs.clone();
        if run.needs_boot(ev.level(&xs), self.first_compare_depth()) {
            xs = run.boot(&xs, 0)?;
        }
        run.remaining = run.remaining.saturating_sub(1);
        // x_exp = exp_in_scale · x/(2R) on real columns, −offset on padded ones.
        let geo = &self.rows;
        let x_exp = ev.add_const(
            &ev.mul_scalar(&xs, Complex64::new(self.exp_in_scale, 0.0))?,
            &geo.pad_mask(0.5 * self.exp_in_scale - self.exp_in_offset),
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
        self.compare.first().map_or(1, Poly::depth)
    }

    /// Stages 2–5 from the prepared input `xs` and the exponential's input `x_exp`.
    fn run_prepared<E: SlotEvaluator>(
        &self,
        mut run: Runner<'_, E>,
        xs: E::Ct,
        x_exp: E::Ct,
    ) -> Result<SoftmaxRun<E::Ct>> {
        let ev = run.ev;
        let boot_min = run.boot_min;
        let out_min = run.out_min;
        let geo = &self.rows;
        let first = self.first_compare_depth();

        // 2. maximum into column 0, scaled by exp_in_scale
        let rounds = self.tournament_rounds();
        let mut m = xs;
        for t in 0..rounds {
            let last = t + 1 == rounds;
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
        let mut tt = ev.add_scalar(&y0, Complex64::new(-1.0, 0.0))?;
        let mut q = ev.mul(&e, &y0)?;

        // 5. Goldschmidt: t ← t², q ← q·(1 + t); q ends as e/z.
        for i in 0..self.inv_iterations {
            let last = i + 1 == self.inv_iterations;
            let floor = if last { out_min } else { boot_min };
            let current = ev.level(&q).min(ev.level(&tt));
            let after = |q: &E::Ct, t: &E::Ct| {
                ev.level(q)
                    .min(ev.level(t).saturating_sub(1))
                    .saturating_sub(1)
            };
            if !run.fits(current) && after(&q, &tt) < floor {
                if ev.bootstrap_level().saturating_sub(3) >= floor {
                    (q, tt) = run.bootstrap_pair(&q, &tt)?;
                } else {
                    q = run.boot(&q, 0)?;
                    tt = run.boot(&tt, 0)?;
                }
                if after(&q, &tt) < floor {
                    return Err(Error::LevelExhausted {
                        op: "softmax inverse after bootstrapping",
                        needed: floor + 2,
                        level: ev.level(&q).min(ev.level(&tt)),
                    });
                }
            }
            tt = ev.square(&tt)?;
            q = ev.mul(&q, &ev.add_scalar(&tt, Complex64::new(1.0, 0.0))?)?;
            run.remaining = run.remaining.saturating_sub(1);
        }
        let output = q;
        Ok(SoftmaxRun {
            output,
            bootstraps: run.bootstraps,
            levels: self.depth(),
        })
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
                        v / 256.0
                    } else {
                        Complex64::new(-0.5, 0.0)
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
