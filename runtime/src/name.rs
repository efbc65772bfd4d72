//! Node names: the identity of a node in the cluster and the DNS subject name in its certificate.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::ServerName;
use serde::{Deserialize, Serialize};

/// Longest accepted node name, in bytes (the DNS limit for a full name).
pub const MAX_NODE_NAME_LEN: usize = 253;

/// Why a string is not a valid node name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeNameError {
    /// The name is empty or longer than [`MAX_NODE_NAME_LEN`].
    #[error("node name must be 1..={MAX_NODE_NAME_LEN} bytes, got {0}")]
    Length(usize),
    /// The name is not a lowercase DNS name (labels of `a-z`, `0-9`, `-`, separated by dots).
    #[error(
        "node name {0:?} is not a lowercase DNS name (labels of a-z, 0-9 and '-', 1-63 bytes, no leading or trailing '-', separated by '.')"
    )]
    Syntax(String),
}

/// The name of a node, such as `trainer` or `worker-1.hetal`.
///
/// Node names are lowercase DNS names because they are written into the certificate's subject
/// alternative name and checked by TLS: the name a peer is known by is the name its certificate
/// proves. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(Arc<str>);

impl NodeName {
    /// Validates and wraps a node name.
    pub fn new(name: &str) -> Result<Self, NodeNameError> {
        if name.is_empty() || name.len() > MAX_NODE_NAME_LEN {
            return Err(NodeNameError::Length(name.len()));
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let syntax_ok = name.split('.').all(label_ok);
        // rustls must also see a DNS name (not an IP address) in it.
        let dns_ok = matches!(ServerName::try_from(name), Ok(ServerName::DnsName(_)));
        if !syntax_ok || !dns_ok {
            return Err(NodeNameError::Syntax(name.to_owned()));
        }
        Ok(Self(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a TLS server name, for certificate name checks.
    pub(crate) fn server_name(&self) -> ServerName<'static> {
        // `new` checked that this parses as a DNS name; fall back to an unmatchable name rather
        // than panic if that ever changes.
        ServerName::try_from(self.as_str().to_owned())
            .unwrap_or_else(|_| ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into()))
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl std::str::FromStr for NodeName {
    type Err = NodeNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for NodeName {
    type Error = NodeNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<NodeName> for String {
    fn from(value: NodeName) -> Self {
        value.0.to_string()
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_style_names() {
        for ok in ["a", "trainer", "worker-1", "worker-1.hetal", "w2"] {
            assert_eq!(NodeName::new(ok).map(|n| n.to_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn rejects_non_dns_names() {
        for bad in ["", "Trainer", "-a", "a-", "a..b", "a_b", "a b", "10.0.0.1"] {
            assert!(NodeName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            NodeName::new(&"a".repeat(300)),
            Err(NodeNameError::Length(300))
        );
    }
}
