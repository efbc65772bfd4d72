//! Peer verification beyond "signed by our CA": the certificate must also name a node this node
//! expects to talk to.
//!
//! When dialing, rustls's WebPKI server verifier already checks chain, validity and that the
//! certificate carries the peer name we dialed (we pass the node name as the TLS server name).
//! When accepting, the name of the caller is not known in advance, so [`ClusterClientVerifier`]
//! checks the chain with WebPKI and then requires that the certificate names exactly one of the
//! known peers.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::name::NodeName;

/// Finds which of `allowed` the certificate proves. Exactly one must match: a certificate valid
/// for two known node names could impersonate either and is refused.
pub fn identify_peer(
    cert: &CertificateDer<'_>,
    allowed: &[NodeName],
) -> Result<NodeName, rustls::Error> {
    let parsed = ParsedCertificate::try_from(cert)?;
    let mut matches = allowed
        .iter()
        .filter(|name| rustls::client::verify_server_name(&parsed, &name.server_name()).is_ok());
    match (matches.next(), matches.next()) {
        (Some(name), None) => Ok(name.clone()),
        (None, _) => Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        )),
        (Some(_), Some(_)) => Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        )),
    }
}

/// Client-certificate verifier for the accepting side: WebPKI chain and validity checks against
/// the cluster CA, then [`identify_peer`] against the known peer names.
#[derive(Debug)]
pub struct ClusterClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Arc<[NodeName]>,
}

impl ClusterClientVerifier {
    /// Wraps a WebPKI verifier that trusts only the cluster CA.
    pub fn new(inner: Arc<dyn ClientCertVerifier>, allowed: Arc<[NodeName]>) -> Self {
        Self { inner, allowed }
    }
}

impl ClientCertVerifier for ClusterClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        identify_peer(end_entity, &self.allowed)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
