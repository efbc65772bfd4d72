//! PEM files on disk: `ca.pem`, `ca.key`, `<node>.pem`, `<node>.key`. Private keys are created with
//! mode 0600 at creation time (never widened and then narrowed), and existing files are never
//! overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{ClusterCa, IdentityError, NodeIdentity};
use crate::name::NodeName;

/// File name of the cluster CA certificate inside a certificate directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the cluster CA private key inside a certificate directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// Writes the CA and every node identity into `dir` (created if missing). Returns the paths written.
/// Fails without overwriting if any target file already exists.
pub fn write_cluster(
    dir: &Path,
    ca: &ClusterCa,
    identities: &[NodeIdentity],
) -> Result<Vec<PathBuf>, IdentityError> {
    std::fs::create_dir_all(dir).map_err(|error| IdentityError::Io {
        action: "creating directory",
        path: dir.to_owned(),
        error,
    })?;
    let mut files = vec![
        (dir.join(CA_CERT_FILE), ca.cert_pem(), false),
        (dir.join(CA_KEY_FILE), ca.key_pem(), true),
    ];
    for id in identities {
        files.push((dir.join(format!("{}.pem", id.name)), id.cert_pem(), false));
        files.push((dir.join(format!("{}.key", id.name)), id.key_pem(), true));
    }
    // Check everything first so that a clash leaves the directory untouched.
    if let Some((path, _, _)) = files.iter().find(|(p, _, _)| p.exists()) {
        return Err(IdentityError::Io {
            action: "refusing to overwrite",
            path: path.clone(),
            error: std::io::ErrorKind::AlreadyExists.into(),
        });
    }
    for (path, contents, private) in &files {
        write_new(path, contents.as_bytes(), *private)?;
    }
    Ok(files.into_iter().map(|(p, _, _)| p).collect())
}

/// Creates `path` (which must not exist) and writes `contents`; private files get mode 0600 from
/// the moment they exist.
fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), IdentityError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let io = |error| IdentityError::Io {
        action: "writing",
        path: path.to_owned(),
        error,
    };
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

impl NodeIdentity {
    /// Loads `<dir>/<name>.pem`, `<dir>/<name>.key` and `<dir>/ca.pem`, and checks that the
    /// certificate carries `name`.
    pub fn load(dir: &Path, name: &NodeName) -> Result<Self, IdentityError> {
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}.key"));
        let ca_path = dir.join(CA_CERT_FILE);
        let cert = first_cert(&cert_path)?;
        let ca = first_cert(&ca_path)?;
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| IdentityError::Pem {
            path: key_path.clone(),
            reason: format!("no private key: {e}"),
        })?;
        let parsed =
            rustls::server::ParsedCertificate::try_from(&cert).map_err(|e| IdentityError::Pem {
                path: cert_path.clone(),
                reason: format!("not an X.509 end-entity certificate: {e}"),
            })?;
        if rustls::client::verify_server_name(&parsed, &name.server_name()).is_err() {
            return Err(IdentityError::NameMismatch {
                path: cert_path,
                name: name.to_string(),
            });
        }
        Ok(Self::from_parts(name.clone(), cert, key, ca))
    }
}

/// The first certificate in a PEM file.
fn first_cert(path: &Path) -> Result<CertificateDer<'static>, IdentityError> {
    let pem_err = |reason: String| IdentityError::Pem {
        path: path.to_owned(),
        reason,
    };
    let mut iter = CertificateDer::pem_file_iter(path).map_err(|e| pem_err(e.to_string()))?;
    match iter.next() {
        Some(Ok(cert)) => Ok(cert),
        Some(Err(e)) => Err(pem_err(e.to_string())),
        None => Err(pem_err("no CERTIFICATE block".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Validity, generate_cluster};

    #[test]
    fn writes_loads_and_protects_keys() {
        let dir = tempfile::tempdir().unwrap();
        let names = [NodeName::new("a").unwrap(), NodeName::new("b").unwrap()];
        let (ca, ids) = generate_cluster(&names, Validity::default()).unwrap();
        let written = write_cluster(dir.path(), &ca, &ids).unwrap();
        assert_eq!(written.len(), 6);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in ["ca.key", "a.key", "b.key"] {
                let mode = std::fs::metadata(dir.path().join(key))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{key}");
            }
        }
        let loaded = NodeIdentity::load(dir.path(), &names[1]).unwrap();
        assert_eq!(loaded.cert_der(), ids[1].cert_der());
        assert_eq!(loaded.ca_der(), &ca.cert_der());
        // A second init into the same directory refuses instead of clobbering keys.
        assert!(matches!(
            write_cluster(dir.path(), &ca, &ids),
            Err(IdentityError::Io { .. })
        ));
        // A certificate renamed to another node's file is caught.
        std::fs::copy(dir.path().join("a.pem"), dir.path().join("c.pem")).unwrap();
        std::fs::copy(dir.path().join("a.key"), dir.path().join("c.key")).unwrap();
        assert!(matches!(
            NodeIdentity::load(dir.path(), &NodeName::new("c").unwrap()),
            Err(IdentityError::NameMismatch { .. })
        ));
    }
}
