//! Nesterov's accelerated gradient as used by HETAL's line of work (CryptoLab's HE logistic
//! regression): `W⁺ = V − η·G(V)`, `V⁺ = (1 − γ_t)·W⁺ + γ_t·W`, with the 1983 λ-sequence
//! `λ₀ = 0`, `λ_{t+1} = (1 + √(1 + 4λ_t²))/2`, `γ_t = (1 − λ_{t+1})/λ_{t+2}` (no restarts).
//!
//! `γ_t` is negative, so `V⁺ = W⁺ + |γ_t|·(W⁺ − W)`: the look-ahead point where the next gradient
//! is taken.

/// The momentum coefficients `γ_t`, step by step.
#[derive(Debug, Clone, PartialEq)]
pub struct NesterovSchedule {
    lambda_next: f64,
    lambda_after: f64,
    step: u64,
}

fn next_lambda(l: f64) -> f64 {
    (1.0 + (1.0 + 4.0 * l * l).sqrt()) / 2.0
}

impl Default for NesterovSchedule {
    fn default() -> Self {
        Self::new()
    }
}

impl NesterovSchedule {
    /// The schedule at step 0.
    pub fn new() -> Self {
        let l1 = next_lambda(0.0);
        Self {
            lambda_next: l1,
            lambda_after: next_lambda(l1),
            step: 0,
        }
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// `γ_t` of the current step, without advancing.
    pub fn gamma(&self) -> f64 {
        (1.0 - self.lambda_next) / self.lambda_after
    }

    /// Returns `γ_t` and advances to `t + 1`.
    pub fn advance(&mut self) -> f64 {
        let g = self.gamma();
        self.lambda_next = self.lambda_after;
        self.lambda_after = next_lambda(self.lambda_after);
        self.step += 1;
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_coefficients_match_the_lambda_recursion() {
        let mut s = NesterovSchedule::new();
        // λ1 = 1, λ2 = (1+√5)/2, γ0 = 0.
        assert_eq!(s.advance(), 0.0);
        let l2 = (1.0 + 5f64.sqrt()) / 2.0;
        let l3 = (1.0 + (1.0 + 4.0 * l2 * l2).sqrt()) / 2.0;
        assert!((s.advance() - (1.0 - l2) / l3).abs() < 1e-15);
        // γ_t → −1 from above as t grows (momentum → 1).
        let mut last = 0.0;
        for _ in 0..10_000 {
            last = s.advance();
            assert!((-1.0..=0.0).contains(&last));
        }
        assert!(last < -0.999);
    }
}
