//! Node identities: a cluster CA, one certificate per node, PEM files, and the TLS configurations
//! that make two nodes prove their names to each other (mutual TLS, ALPN `hetal/1`).

mod ca;
mod error;
mod files;
pub mod tls;
mod verify;

pub use ca::{ClusterCa, NodeIdentity, Validity, generate_cluster};
pub use error::IdentityError;
pub use files::{CA_CERT_FILE, CA_KEY_FILE, write_cluster};
pub use verify::{ClusterClientVerifier, identify_peer};
