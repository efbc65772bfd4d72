//! Certificate generation with rcgen: one cluster CA and one leaf certificate per node.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::IdentityError;
use crate::name::NodeName;

/// The period in which a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First instant of validity.
    pub not_before: SystemTime,
    /// Last instant of validity.
    pub not_after: SystemTime,
}

impl Validity {
    /// From one day ago (tolerates clock skew between nodes) to `days` days from now.
    pub fn days_from_now(days: u64) -> Self {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        Self {
            not_before: now.checked_sub(day).unwrap_or(now),
            not_after: now
                .checked_add(day.saturating_mul(u32::try_from(days).unwrap_or(u32::MAX)))
                .unwrap_or(now),
        }
    }
}

impl Default for Validity {
    /// Ten years: a cluster CA is replaced by re-running `hetal certs init`, not by expiry.
    fn default() -> Self {
        Self::days_from_now(3650)
    }
}

/// The certificate authority of one hetal deployment. Every node certificate is signed by it and
/// every node trusts only it.
pub struct ClusterCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCa").finish_non_exhaustive()
    }
}

impl ClusterCa {
    /// Generates a fresh CA key pair and self-signed CA certificate.
    pub fn generate(validity: Validity) -> Result<Self, IdentityError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "hetal cluster CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = validity.not_before.into();
        params.not_after = validity.not_after.into();
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { issuer })
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA private key (PKCS#8 PEM). Needed only to issue more node certificates later.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Issues a certificate for `name`: SAN = the node name, usable as TLS server and client.
    pub fn issue(
        &self,
        name: &NodeName,
        validity: Validity,
    ) -> Result<NodeIdentity, IdentityError> {
        let mut params = CertificateParams::new(vec![name.as_str().to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = validity.not_before.into();
        params.not_after = validity.not_after.into();
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(NodeIdentity {
            name: name.clone(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            ca: self.cert_der(),
        })
    }
}

/// Everything a node needs to prove its name and check its peers: its certificate and private key,
/// and the cluster CA certificate it trusts.
pub struct NodeIdentity {
    pub(crate) name: NodeName,
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) ca: CertificateDer<'static>,
}

impl NodeIdentity {
    /// Assembles an identity from parts, e.g. loaded from elsewhere. The certificate is checked
    /// against the name only when used in a TLS handshake.
    pub fn from_parts(
        name: NodeName,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
        ca: CertificateDer<'static>,
    ) -> Self {
        Self {
            name,
            cert,
            key,
            ca,
        }
    }

    /// The node name the certificate proves.
    pub fn name(&self) -> &NodeName {
        &self.name
    }

    /// The node certificate (DER).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The trusted cluster CA certificate (DER).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// The node certificate as PEM.
    pub fn cert_pem(&self) -> String {
        pem_block("CERTIFICATE", &self.cert)
    }

    /// The private key as PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        pem_block("PRIVATE KEY", self.key.secret_der())
    }
}

impl Clone for NodeIdentity {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            ca: self.ca.clone(),
        }
    }
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("NodeIdentity")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Generates a CA and one identity per name, all with the same validity.
pub fn generate_cluster(
    names: &[NodeName],
    validity: Validity,
) -> Result<(ClusterCa, Vec<NodeIdentity>), IdentityError> {
    let ca = ClusterCa::generate(validity)?;
    let identities = names
        .iter()
        .map(|n| ca.issue(n, validity))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ca, identities))
}

/// Encodes DER bytes as a PEM block with 64-column base64 lines.
fn pem_block(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn pem_round_trips_through_pki_types() {
        let ca = ClusterCa::generate(Validity::default()).unwrap();
        let id = ca
            .issue(&NodeName::new("a").unwrap(), Validity::default())
            .unwrap();
        let cert = CertificateDer::from_pem_slice(id.cert_pem().as_bytes()).unwrap();
        assert_eq!(cert, id.cert);
        let key = PrivateKeyDer::from_pem_slice(id.key_pem().as_bytes()).unwrap();
        assert_eq!(key.secret_der(), id.key.secret_der());
        let ca_cert = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
        assert_eq!(ca_cert, ca.cert_der());
    }
}
