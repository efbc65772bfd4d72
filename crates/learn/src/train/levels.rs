//! Level planning for the training state (weights `W` and look-ahead `V`).
//!
//! Per step the data `X` (never bootstrapped) and the state meet in DiagABT (depth 3), the logits
//! go through the softmax (which refreshes its single ciphertext itself), `P − Y` and `X` meet in
//! DiagATB, and the update costs one level (the momentum scalar). Bootstrapping `W` or `V` costs
//! one bootstrap per column block (⌈(d+1)/s1⌉ ciphertexts), against one for the softmax's
//! block, so the policy asks the softmax to return `P` high and refreshes the state only when the
//! next step would leave a ciphertext that can no longer be bootstrapped.

use serde::{Deserialize, Serialize};

/// Depth of DiagABT.
pub const ABT_DEPTH: usize = 3;

/// The levels a step needs and produces, for one evaluator's level parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelPolicy {
    /// Level right after a bootstrap.
    pub bootstrap_level: usize,
    /// Lowest level that can still be bootstrapped.
    pub bootstrap_min: usize,
    /// Level of the encrypted data `X` (fresh encryptions).
    pub data_level: usize,
    /// Depth of DiagATB on the `P − Y` operand.
    pub atb_depth_a: usize,
    /// Depth of DiagATB on the `X` operand.
    pub atb_depth_b: usize,
    /// Level the softmax must leave `P` at (see [`LevelPolicy::default_softmax_out_min`]).
    pub softmax_out_min: usize,
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
    /// A default for [`LevelPolicy::softmax_out_min`] given how many ciphertexts one copy of the
    /// state has: with many (HETAL's 13–49), `P` should come out as high as possible (one below
    /// the bootstrap level) so the gradient never lowers the weights; with one or two, a
    /// bootstrap of the state is as cheap as one of `P`, and the lowest level that still gives a
    /// bootstrappable gradient is enough.
    pub fn default_softmax_out_min(&self, state_blocks: usize) -> usize {
        let lowest = self.atb_depth_a + self.bootstrap_min + 1;
        if state_blocks > 2 {
            (self.bootstrap_level - 1).max(lowest)
        } else {
            lowest
        }
    }

    /// The level the softmax leaves `P` at.
    pub fn softmax_out_min(&self) -> usize {
        self.softmax_out_min
    }

    /// Level of the gradient when `P` is at `p_level`.
    pub fn gradient_level(&self, p_level: usize) -> usize {
        p_level
            .saturating_sub(self.atb_depth_a)
            .min(self.data_level.saturating_sub(self.atb_depth_b))
    }

    /// Levels after one step from `(w, v)` with the gradient at `g`: `W⁺ = V + G`,
    /// `V⁺ = W⁺ + γ(W − W⁺)` (one scalar level).
    pub fn after_step(&self, w: usize, v: usize, g: usize) -> (usize, usize) {
        let w_new = v.min(g);
        (w_new, w_new.min(w).saturating_sub(1))
    }

    /// What to bootstrap before a step from levels `(w, v)`: `V` must give logits that can still
    /// be bootstrapped, and both must leave a bootstrappable state behind.
    pub fn plan(&self, w: usize, v: usize) -> Refresh {
        let g = self.gradient_level(self.softmax_out_min());
        let ok = |w: usize, v: usize| {
            let (w1, v1) = self.after_step(w, v, g);
            v.min(self.data_level) >= ABT_DEPTH + self.bootstrap_min
                && w1 > self.bootstrap_min
                && v1 >= self.bootstrap_min
        };
        let b = self.bootstrap_level;
        if ok(w, v) {
            Refresh::default()
        } else if ok(w, b) {
            Refresh {
                weights: false,
                lookahead: true,
            }
        } else if ok(b, v) {
            Refresh {
                weights: true,
                lookahead: false,
            }
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
            softmax_out_min: 11,
        }
    }

    #[test]
    fn state_is_refreshed_only_when_a_step_would_strand_it() {
        let p = hetal();
        assert_eq!(p.default_softmax_out_min(25), 11);
        assert_eq!(p.default_softmax_out_min(1), 7);
        assert_eq!(p.gradient_level(11), 8);
        // Simulate the levels over many steps: every state stays bootstrappable and the
        // logits always have room for DiagABT.
        let (mut w, mut v) = (12, 12);
        let mut refreshes = 0;
        for _ in 0..30 {
            let r = p.plan(w, v);
            if r.weights {
                w = 12;
                refreshes += 1;
            }
            if r.lookahead {
                v = 12;
                refreshes += 1;
            }
            assert!(v >= ABT_DEPTH + 3);
            (w, v) = p.after_step(w, v, p.gradient_level(p.softmax_out_min()));
            assert!(w >= 3 && v >= 3, "w {w} v {v}");
        }
        // From 12 the state loses one level a step and needs DiagABT's 3 + 3: at most one
        // refresh of each per 3 steps.
        assert!(refreshes <= 20, "{refreshes}");
        assert_eq!(p.plan(12, 12), Refresh::default());
    }
}
