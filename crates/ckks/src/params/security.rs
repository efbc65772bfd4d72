//! The Homomorphic Encryption Standard bound on log(QP) for 128-bit security, per ring degree.
//!
//! Source: M. Albrecht et al., "Homomorphic Encryption Standard" (HomomorphicEncryption.org,
//! 2018), Table 1 (classical security, ternary secret, error sigma ≈ 3.2). The same numbers are
//! in OpenFHE's `src/core/lib/lattice/stdlatticeparms.cpp`, entries
//! `StdLatticeParm(HEStd_ternary, N, HEStd_128_classic, maxLogQ)`, which were checked against
//! this table: 1024 → 27, 2048 → 54, 4096 → 109, 8192 → 218, 16384 → 438, 32768 → 881,
//! 65536 → 1772.
//!
//! The bound applies to the whole modulus an attacker sees in a key-switching key, Q·P, so the
//! check uses [`ParameterSpec::log_qp`], i.e. the sum of the nominal prime sizes. Generated
//! primes are at most `2^bits`, so the nominal sum is an upper bound on the real log2(QP).

use std::fmt;

use super::spec::{ParameterSpec, SecretDistribution, SecurityLevel};
use crate::error::{Error, Result};

/// Where [`MAX_LOG_QP_128`] comes from; printed in every [`SecurityReport`].
pub const SOURCE: &str = "HE Standard (Albrecht et al. 2018) Table 1, 128-bit classical, ternary secret; \
     as in OpenFHE lattice/stdlatticeparms.cpp";

/// `(log2 N, max log2(QP))` for 128-bit classical security with a uniform ternary secret.
pub const MAX_LOG_QP_128: [(u32, u32); 7] = [
    (10, 27),
    (11, 54),
    (12, 109),
    (13, 218),
    (14, 438),
    (15, 881),
    (16, 1772),
];

/// The largest log2(QP) allowed at 128-bit classical security for ring degree `2^log_n`, or
/// `None` where the standard has no entry.
pub fn max_log_qp_128(log_n: u32) -> Option<u32> {
    MAX_LOG_QP_128
        .iter()
        .find(|(ln, _)| *ln == log_n)
        .map(|(_, bound)| *bound)
}

/// The outcome of a security check, printable for `hetal params --check` (the display omits
/// [`Self::source`], which is the same for every report).
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityReport {
    /// Preset or spec name.
    pub name: String,
    /// log2 of the ring degree.
    pub log_n: u32,
    /// Total nominal bits of Q·P.
    pub log_qp: u32,
    /// The security the spec claims.
    pub level: SecurityLevel,
    /// The HE Standard bound for this ring degree (128-bit, ternary), if the table has one.
    pub bound: Option<u32>,
    /// Where the bound comes from.
    pub source: &'static str,
}

impl SecurityReport {
    /// `bound - log_qp`: the number of spare bits (negative when the bound is exceeded).
    pub fn margin(&self) -> Option<i64> {
        self.bound
            .map(|bound| i64::from(bound) - i64::from(self.log_qp))
    }

    /// Whether the parameters meet 128-bit security according to the table.
    pub fn meets_128_bits(&self) -> bool {
        self.margin().is_some_and(|m| m >= 0)
    }
}

impl fmt::Display for SecurityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let claim = match self.level {
            SecurityLevel::Bits128 => "128-bit",
            SecurityLevel::InsecureForTests => "INSECURE (tests only)",
        };
        write!(
            f,
            "{}: N=2^{} log QP={} claim={}",
            self.name, self.log_n, self.log_qp, claim
        )?;
        match (self.bound, self.margin()) {
            (Some(bound), Some(margin)) => write!(f, " bound(128-bit)={bound} margin={margin:+}"),
            _ => write!(f, " bound(128-bit)=none for this N"),
        }
    }
}

/// Checks a spec against the HE Standard. For [`SecurityLevel::Bits128`] the spec must use a
/// dense ternary secret (the table's assumption; sparse secrets need their own estimate) and
/// `log_qp` must not exceed the bound for its ring degree. Specs that claim no security pass
/// with a report that says so.
pub fn check(spec: &ParameterSpec) -> Result<SecurityReport> {
    let report = SecurityReport {
        name: spec.name.clone(),
        log_n: spec.log_n,
        log_qp: spec.log_qp(),
        level: spec.security,
        bound: max_log_qp_128(spec.log_n),
        source: SOURCE,
    };
    if spec.security == SecurityLevel::InsecureForTests {
        return Ok(report);
    }
    if let SecretDistribution::SparseTernary { hamming_weight } = spec.secret {
        return Err(Error::InvalidParameters(format!(
            "`{}` claims 128-bit security with a sparse ternary secret (Hamming weight \
             {hamming_weight}); the HE Standard table assumes a dense ternary secret, so use \
             SecretDistribution::Ternary or mark the spec InsecureForTests",
            spec.name
        )));
    }
    let Some(bound) = report.bound else {
        return Err(Error::InvalidParameters(format!(
            "`{}` claims 128-bit security but the HE Standard has no bound for N=2^{} \
             (supported: 2^10..2^16)",
            spec.name, spec.log_n
        )));
    };
    if report.log_qp > bound {
        return Err(Error::InvalidParameters(format!(
            "`{}` claims 128-bit security but log QP = {} exceeds the HE Standard bound {} for \
             N=2^{} by {} bits",
            spec.name,
            report.log_qp,
            bound,
            spec.log_n,
            report.log_qp - bound
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(log_n: u32, q_bits: Vec<u32>, p_bits: Vec<u32>) -> ParameterSpec {
        ParameterSpec {
            name: "t".into(),
            log_n,
            q_bits,
            p_bits,
            log_scale: 40,
            dnum: 1,
            secret: SecretDistribution::Ternary,
            security: SecurityLevel::Bits128,
        }
    }

    #[test]
    fn bounds_double_with_ring_degree() {
        // The table's bound grows roughly linearly with N: each step at least doubles minus 1.
        for pair in MAX_LOG_QP_128.windows(2) {
            let (ln0, b0) = pair[0];
            let (ln1, b1) = pair[1];
            assert_eq!(ln1, ln0 + 1);
            assert!(b1 >= 2 * b0 - 1 && b1 <= 2 * b0 + 10, "{b0} -> {b1}");
        }
    }

    #[test]
    fn accepts_spec_at_the_bound_and_refuses_one_bit_over() {
        let at = spec(15, vec![60; 14], vec![41]);
        assert_eq!(at.log_qp(), 881);
        let report = check(&at).unwrap();
        assert_eq!(report.margin(), Some(0));
        assert!(report.meets_128_bits());

        let over = spec(15, vec![60; 14], vec![42]);
        let err = check(&over).unwrap_err();
        assert!(matches!(err, Error::InvalidParameters(ref m) if m.contains("exceeds")));
    }

    #[test]
    fn refuses_sparse_secret_and_unknown_degree_for_128_bits() {
        let mut sparse = spec(16, vec![60; 10], vec![60]);
        sparse.secret = SecretDistribution::SparseTernary {
            hamming_weight: 192,
        };
        assert!(check(&sparse).is_err());
        assert!(check(&spec(17, vec![60; 10], vec![60])).is_err());
    }

    #[test]
    fn insecure_specs_pass_with_a_report_that_says_so() {
        let mut s = spec(12, vec![60; 5], vec![60]);
        s.security = SecurityLevel::InsecureForTests;
        let report = check(&s).unwrap();
        assert!(!report.meets_128_bits());
        assert!(report.to_string().contains("INSECURE"));
    }
}
