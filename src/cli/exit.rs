//! The `hetal` exit codes, from the error a command returned:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | runtime error (network, computation, I/O while running) |
//! | 2 | usage error (unknown flag, missing argument; printed by clap, which exits itself) |
//! | 3 | bad input data or configuration (the message names the file and the problem) |
//! | 4 | security refusal (an insecure preset without `--allow-insecure`) |
//!
//! The binary calls [`exit_code`] on the error `hetal::cli::run` returned.

use crate::cli::config::ConfigError;
use crate::model::ModelError;

/// Success.
pub const OK: i32 = 0;
/// A runtime failure.
pub const RUNTIME: i32 = 1;
/// A command-line usage error (clap's own code).
pub const USAGE: i32 = 2;
/// Bad input data or configuration.
pub const BAD_INPUT: i32 = 3;
/// A security refusal.
pub const SECURITY: i32 = 4;

/// The text `hetal --help` ends with.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  runtime error (network, computation, I/O while running)
  2  usage error (unknown flag, missing or malformed argument)
  3  bad input data or configuration (the message names the file and the problem)
  4  security refusal (an insecure preset without --allow-insecure)";

/// A command's refusal for a reason that has its own exit code; attach it with
/// `anyhow::Error::from` or return it directly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Input data or configuration is unusable.
    #[error("{0}")]
    BadInput(String),
    /// The chosen parameters are below the security bar and the user did not opt in.
    #[error("{0}")]
    Insecure(String),
}

/// The exit code for `err`: the first cause in its chain with a meaning of its own decides.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(r) = cause.downcast_ref::<Refusal>() {
            return match r {
                Refusal::BadInput(_) => BAD_INPUT,
                Refusal::Insecure(_) => SECURITY,
            };
        }
        if let Some(e) = cause.downcast_ref::<hetal_ckks::Error>() {
            if matches!(e, hetal_ckks::Error::InsecureParameters { .. }) {
                return SECURITY;
            }
            continue;
        }
        if cause.downcast_ref::<hetal_data::DataError>().is_some()
            || cause.downcast_ref::<ConfigError>().is_some()
        {
            return BAD_INPUT;
        }
        if let Some(e) = cause.downcast_ref::<ModelError>() {
            return match e {
                ModelError::Io { .. } => RUNTIME,
                _ => BAD_INPUT,
            };
        }
        if let Some(e) = cause.downcast_ref::<clap::Error>() {
            return e.exit_code();
        }
    }
    RUNTIME
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use hetal_data::{DataError, Problem};

    #[test]
    fn codes_follow_the_cause() {
        let data: anyhow::Error = DataError::invalid("x.npy", Problem::EmptyFile).into();
        assert_eq!(exit_code(&data.context("loading")), BAD_INPUT);
        let refusal = anyhow::Error::from(Refusal::Insecure("no".into()));
        assert_eq!(exit_code(&refusal), SECURITY);
        let plain = anyhow::anyhow!("connection lost");
        assert_eq!(exit_code(&plain), RUNTIME);
        let r: anyhow::Result<()> = Err(Refusal::BadInput("x".into()).into());
        assert_eq!(exit_code(&r.context("outer").unwrap_err()), BAD_INPUT);
        let spec = hetal_ckks::params::preset("insecure-test-n10").unwrap();
        let ckks = hetal_ckks::params::context::Context::new(&spec, false).unwrap_err();
        assert_eq!(exit_code(&anyhow::Error::from(ckks)), SECURITY);
        let model = anyhow::Error::from(ModelError::Checksum);
        assert_eq!(exit_code(&model), BAD_INPUT);
        assert!(EXIT_CODES_HELP.contains("4  security"));
    }
}
