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

/// The ring crypto provider, as an explicit value.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
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
