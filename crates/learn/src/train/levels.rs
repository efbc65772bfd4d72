//! Level planning for a training step.
//!
//! Per step the data `X` (fresh, never bootstrapped) and the look-ahead weights `V` meet in
//! DiagABT (depth 3); the logits block goes through the softmax, which refreshes its single
//! ciphertext itself; the residual `A = P − Y` and `X` meet in DiagATB; the Nesterov update costs
//! one level (the momentum scalar). Bootstrapping `W` or `V` costs one bootstrap per column block
//! (⌈(d+1)/s1⌉ ciphertexts, 13–49 at HETAL's shapes) while the residual is one ciphertext, so
//! the policy refreshes the residual whenever it would make the gradient the lowest operand of
//! the update, and refreshes the state only when the next step would strand it (logits that
//! cannot be bootstrapped, or a state that could no longer be packed: the packed refresh of
//! [`refresh`](super::refresh) needs one level above the bootstrappable one).

use serde::{Deserialize, Serialize};

use super::refresh::PACK_LEVELS;

/// Depth of DiagABT.
pub const ABT_DEPTH: usize = 3;

/// The level parameters a step is planned with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelPolicy {
    /// Level right after a bootstrap.
    pub bootstrap_level: usize,
    /// Lowest level that can still be bootstrapped.
    pub bootstrap_min: usize,
    /// Level of the encrypted data `X` (fresh encryptions).
    pub data_level: usize,
    /// Depth of DiagATB on the residual operand.
    pub atb_depth_a: usize,
    /// Depth of DiagATB on the `X` operand.
    pub atb_depth_b: usize,
}

/// Which state ciphertexts to refresh before a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refresh {
    /// Bootstrap the weights `W`.
    pub weights: bool,
    /// Bootstrap the look-ahead `V`.
    pub lookahead: bool,
}

impl LevelPolicy {
    /// Lowest level of `V` (or `W`, for validation) that gives logits the softmax accepts:
    /// DiagABT's depth, its output (already scaled for the softmax) still bootstrappable.
    pub fn min_lookahead_level(&self) -> usize {
        ABT_DEPTH + self.bootstrap_min
    }

    /// Highest level the gradient can have (residual fresh from a bootstrap).
    pub fn best_gradient_level(&self) -> usize {
        self.bootstrap_level
            .saturating_sub(self.atb_depth_a)
            .min(self.data_level.saturating_sub(self.atb_depth_b))
    }

    /// Level of the gradient for a residual at `a_level`.
    pub fn gradient_level(&self, a_level: usize) -> usize {
        a_level
            .saturating_sub(self.atb_depth_a)
            .min(self.data_level.saturating_sub(self.atb_depth_b))
    }

    /// Lowest gradient level that leaves a state the next refresh can still pack: `W⁺` at this
    /// level gives `V⁺` one below, at the packing floor.
    pub fn min_gradient_level(&self) -> usize {
        self.bootstrap_min + PACK_LEVELS + 1
    }

    /// Whether to bootstrap the residual (at `a_level`) before DiagATB, given the look-ahead at
    /// `v_level`: only when the gradient would otherwise strand the state below what a packed
    /// refresh can take (and a fresh residual would lift it). A gradient that is merely the
    /// update's lowest operand is left alone: refreshing the whole packed state later costs one
    /// bootstrap too, and it buys several steps.
    pub fn refresh_residual(&self, a_level: usize, v_level: usize) -> bool {
        let g = self.gradient_level(a_level);
        g < v_level.min(self.min_gradient_level())
            && g < self.best_gradient_level()
            && a_level >= self.bootstrap_min
    }

    /// Levels after one step from `(w, v)` with the gradient at `g`: `W⁺ = V + G`,
    /// `V⁺ = W⁺ + γ(W − W⁺)` (one scalar level).
    pub fn after_step(&self, w: usize, v: usize, g: usize) -> (usize, usize) {
        let w_new = v.min(g);
        (w_new, w_new.min(w).saturating_sub(1))
    }

    fn step_ok(&self, w: usize, v: usize) -> bool {
        let g = self.best_gradient_level().min(v);
        let (w1, v1) = self.after_step(w, v, g);
        v.min(self.data_level) >= self.min_lookahead_level()
            && w1 >= self.bootstrap_min + PACK_LEVELS
            && v1 >= self.bootstrap_min + PACK_LEVELS
    }

    /// Level of `W` and `V` after they are refreshed together: one bootstrap per block of the
    /// complex pair `W + i·V`, then one level to separate them again.
    pub fn refreshed_level(&self) -> usize {
        self.bootstrap_level.saturating_sub(1)
    }

    /// What to bootstrap before a step from levels `(w, v)`: nothing while the step leaves a
    /// usable state, else both, as one complex pair per block (as cheap as refreshing one of
    /// them, and the next refresh comes later).
    pub fn plan(&self, w: usize, v: usize) -> Refresh {
        if self.step_ok(w, v) {
            Refresh::default()
        } else {
            Refresh {
                weights: true,
                lookahead: true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hetal() -> LevelPolicy {
        LevelPolicy {
            bootstrap_level: 12,
            bootstrap_min: 3,
            data_level: 12,
            atb_depth_a: 3,
            atb_depth_b: 3,
        }
    }

    #[test]
    fn state_is_refreshed_only_when_a_step_would_strand_it() {
        let p = hetal();
        assert_eq!(p.best_gradient_level(), 9);
        assert!(p.refresh_residual(5, 12));
        assert!(!p.refresh_residual(12, 12));
        assert!(!p.refresh_residual(9, 6), "gradient at 6 already matches V");
        assert!(
            !p.refresh_residual(10, 12),
            "gradient at 7 keeps the state packable"
        );
        assert!(
            p.refresh_residual(7, 12),
            "gradient at 4 would strand V⁺ at 3"
        );
        let (mut w, mut v) = (12, 12);
        let mut refreshes = 0;
        for _ in 0..40 {
            let r = p.plan(w, v);
            if r.weights || r.lookahead {
                assert!(r.weights && r.lookahead, "refreshed as a pair");
                (w, v) = (p.refreshed_level(), p.refreshed_level());
                refreshes += 1;
            }
            assert!(
                v >= p.min_lookahead_level(),
                "logits must reach the softmax high enough"
            );
            (w, v) = p.after_step(w, v, p.best_gradient_level().min(v));
            assert!(w > 3 && v >= 3, "w {w} v {v}");
        }
        // From (12, 12) or (11, 11) the state goes (9, 8), (8, 7), (7, 6), (6, 5): four steps
        // per refresh, the first before step 5, so 9 refreshes in 40 steps.
        assert_eq!(refreshes, (40 - 1) / 4);
        assert_eq!(p.plan(12, 12), Refresh::default());
    }
}
