//! Errors from creating, storing and loading identities.

use std::path::PathBuf;

use crate::name::NodeNameError;

/// Why an identity could not be created, written, loaded or turned into a TLS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Certificate generation failed in rcgen.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A node name is invalid.
    #[error(transparent)]
    Name(#[from] NodeNameError),
    /// Reading or writing a file failed.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done (e.g. "writing").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A PEM file holds no usable item of the expected type.
    #[error("{path}: {reason}")]
    Pem {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate does not carry the node name it is supposed to prove.
    #[error("certificate in {path} is not valid for node name {name:?}")]
    NameMismatch {
        /// The file concerned.
        path: PathBuf,
        /// The expected node name.
        name: String,
    },
    /// rustls rejected the configuration (bad key, unsupported cipher suite, ...).
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("TLS verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The rustls configuration has no cipher suite usable by QUIC.
    #[error("QUIC needs TLS 1.3 with AES-128-GCM: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}
