//! When a connection to a peer is lost, the node dials it again after exponentially growing,
//! jittered pauses, so that a restarted peer is back without anyone sending first, and a cluster
//! whose nodes all lost the same peer does not redial it in lock-step.

use std::hash::BuildHasher;
use std::time::Duration;

/// How a lost peer is redialled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectSettings {
    /// Attempts after a loss before giving up (0: never redial; a later send still dials once).
    pub max_attempts: u32,
    /// Pause before the first attempt.
    pub initial_delay: Duration,
    /// The pause doubles after each failed attempt up to this bound.
    pub max_delay: Duration,
    /// Fraction of each pause that is random, in `[0, 1]`: the pause is drawn uniformly from
    /// `[(1 - jitter) * d, d]`.
    pub jitter: f64,
}

impl Default for ReconnectSettings {
    /// 10 attempts from 200 ms doubling to 10 s: about a minute of trying in total.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            jitter: 0.5,
        }
    }
}

impl ReconnectSettings {
    /// Checks the settings for contradictions.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err("reconnect.jitter must be between 0 and 1".into());
        }
        if self.initial_delay > self.max_delay {
            return Err("reconnect.initial_delay must not exceed reconnect.max_delay".into());
        }
        Ok(())
    }

    /// The pause before attempt `attempt` (1-based) without jitter: `initial_delay * 2^(attempt-1)`,
    /// capped at `max_delay`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// The pause before attempt `attempt`, with jitter drawn from `unit`, a number in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(attempt);
        let unit = unit.clamp(0.0, 1.0);
        base.mul_f64(1.0 - self.jitter * (1.0 - unit))
    }
}

/// A number in `[0, 1)` that differs between calls and processes (std's per-instance random hash
/// keys), good enough to spread redials; not for cryptography.
pub(crate) fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_stays_in_range() {
        let s = ReconnectSettings {
            max_attempts: 20,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            jitter: 0.5,
        };
        let bases: Vec<_> = (1..=6).map(|a| s.base_delay(a).as_millis()).collect();
        assert_eq!(bases, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(s.base_delay(u32::MAX), s.max_delay);
        for attempt in 1..=6 {
            let base = s.base_delay(attempt);
            assert_eq!(s.delay(attempt, 0.0), base.mul_f64(0.5));
            for _ in 0..50 {
                let d = s.delay(attempt, random_unit());
                assert!(d >= base.mul_f64(0.5) && d <= base, "{d:?} vs {base:?}");
            }
        }
        let units: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(units.windows(2).any(|w| w[0] != w[1]), "no variation");
    }

    #[test]
    fn validation_names_the_bad_key() {
        let bad = ReconnectSettings {
            jitter: 1.5,
            ..ReconnectSettings::default()
        };
        assert!(bad.validate().unwrap_err().contains("jitter"));
        let bad = ReconnectSettings {
            initial_delay: Duration::from_secs(60),
            ..ReconnectSettings::default()
        };
        assert!(bad.validate().unwrap_err().contains("initial_delay"));
        assert!(ReconnectSettings::default().validate().is_ok());
    }
}
