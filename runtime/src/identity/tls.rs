//! rustls and quinn crypto configurations. The ring provider is passed explicitly everywhere; no
//! process-wide default provider is ever installed (an embedding application may want another).

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;

use super::{ClusterClientVerifier, IdentityError, NodeIdentity};
use crate::name::NodeName;

/// The application protocol both sides must agree on. A future incompatible wire version gets a
/// new ALPN id, so a mismatch fails the handshake cleanly instead of producing garbage frames.
pub const ALPN: &[u8] = b"hetal/1";

/// The ring crypto provider, as an explicit value, offering TLS 1.3's AES-128-GCM first.
///
/// ring's default order puts AES-256-GCM first, and whatever the handshake picks encrypts every
/// bulk byte. AES-128-GCM needs 10 AES rounds instead of 14: on loopback it cut the CPU per GB of
/// a 26 MB transfer by about 7 % and raised throughput by about 10 % (`hetal bench transport`,
/// BENCHMARKS.md). It is TLS 1.3's mandatory suite, the one QUIC's own Initial packets use, and
/// its 128-bit security matches the CKKS parameter sets'. AES-256-GCM and ChaCha20-Poly1305
/// stay on offer after it, for peers that prefer them.
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as suite;
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        suite::TLS13_AES_128_GCM_SHA256,
        suite::TLS13_AES_256_GCM_SHA384,
        suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

fn roots(identity: &NodeIdentity) -> Result<Arc<RootCertStore>, IdentityError> {
    let mut roots = RootCertStore::empty();
    roots.add(identity.ca.clone())?;
    Ok(Arc::new(roots))
}

/// Server side: present our certificate, demand a client certificate signed by the cluster CA
/// that names one of `allowed`, and speak only `alpn`.
pub fn server_crypto(
    identity: &NodeIdentity,
    allowed: Arc<[NodeName]>,
    alpn: &[&[u8]],
) -> Result<QuicServerConfig, IdentityError> {
    let provider = provider();
    let webpki =
        WebPkiClientVerifier::builder_with_provider(roots(identity)?, provider.clone()).build()?;
    let verifier = Arc::new(ClusterClientVerifier::new(webpki, allowed));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // No 0-RTT: our messages are not idempotent.
    config.max_early_data_size = 0;
    Ok(QuicServerConfig::try_from(config)?)
}

/// Client side: present our certificate, trust only the cluster CA, and check that the server's
/// certificate names the node we dialed (the TLS server name is the peer's node name).
pub fn client_crypto(
    identity: &NodeIdentity,
    alpn: &[&[u8]],
) -> Result<QuicClientConfig, IdentityError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(identity)?)
        .with_client_auth_cert(vec![identity.cert.clone()], identity.key.clone_key())?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.enable_early_data = false;
    Ok(QuicClientConfig::try_from(config)?)
}
