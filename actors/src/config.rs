//! The TOML configuration of one party for `hetal node --config FILE` (unknown keys are errors).
//!
//! ```toml
//! role = "worker"              # client | trainer | worker | evaluator
//! name = "worker-1"            # node name = certificate name (from `hetal certs init`)
//! listen = "127.0.0.1:7102"
//! cert_dir = "certs"           # holds ca.pem, <name>.pem, <name>.key
//!
//! [peers]                      # where to dial the other nodes
//! trainer = "127.0.0.1:7101"
//!
//! [roster]                     # who plays which party
//! client = "client"
//! trainer = "trainer"
//! workers = ["worker-1"]
//!
//! [client]                     # role = "client" only
//! data = "data/digits"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hetal_runtime::NodeName;
use serde::Deserialize;

use crate::error::{ActorError, Result};
use crate::roster::{Role, Roster};

/// Largest configuration file read (a few KB is typical).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// One party's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFileConfig {
    /// The party this node plays.
    pub role: Role,
    /// Node name (its certificate's name).
    pub name: String,
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Directory with `ca.pem`, `<name>.pem` and `<name>.key`; relative to the config file.
    pub cert_dir: PathBuf,
    /// Addresses of the nodes this one dials, by name.
    #[serde(default)]
    pub peers: BTreeMap<String, SocketAddr>,
    /// Who plays which party.
    pub roster: RosterConfig,
    /// The data owner's job (role `client` only).
    pub client: Option<ClientJobConfig>,
}

/// The `[roster]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterConfig {
    /// Client node.
    pub client: String,
    /// Trainer node.
    pub trainer: String,
    /// Evaluator node, if any.
    pub evaluator: Option<String>,
    /// Nodes allowed to work.
    #[serde(default)]
    pub workers: Vec<String>,
}

/// The `[client]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientJobConfig {
    /// Feature pack directory; relative to the config file.
    pub data: PathBuf,
    /// Hyper-parameter preset.
    #[serde(default = "default_preset")]
    pub preset: String,
    /// Override of the preset's epoch bound.
    pub epochs: Option<usize>,
    /// Slots per simulated ciphertext.
    #[serde(default = "default_slots")]
    pub slots: usize,
}

fn default_preset() -> String {
    "digits".into()
}

fn default_slots() -> usize {
    1 << 14
}

fn node_name(s: &str) -> Result<NodeName> {
    NodeName::new(s).map_err(|e| ActorError::Config(format!("node name {s:?}: {e}")))
}

impl NodeFileConfig {
    /// Parses a configuration; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let mut config: NodeFileConfig =
            toml::from_str(text).map_err(|e| ActorError::Config(e.to_string()))?;
        config.cert_dir = base.join(&config.cert_dir);
        if let Some(job) = &mut config.client {
            job.data = base.join(&job.data);
        }
        let roster = config.roster()?;
        let me = config.node_name()?;
        if roster.role_of(&me) != Some(config.role) {
            return Err(ActorError::Config(format!(
                "node {me} has role {} but the roster says {}",
                config.role.name(),
                roster.role_of(&me).map_or("nothing", Role::name)
            )));
        }
        if (config.role == Role::Client) != config.client.is_some() {
            return Err(ActorError::Config(
                "a [client] table is required for role client and only there".into(),
            ));
        }
        for peer in config.peers.keys() {
            node_name(peer)?;
        }
        Ok(config)
    }

    /// Reads and parses `path` (bounded in size).
    pub fn load(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path)
            .map_err(|e| ActorError::Config(format!("{}: {e}", path.display())))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ActorError::Config(format!(
                "{}: {} bytes, more than {MAX_CONFIG_BYTES}",
                path.display(),
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ActorError::Config(format!("{}: {e}", path.display())))?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// This node's name.
    pub fn node_name(&self) -> Result<NodeName> {
        node_name(&self.name)
    }

    /// The roster.
    pub fn roster(&self) -> Result<Roster> {
        Ok(Roster {
            client: node_name(&self.roster.client)?,
            trainer: node_name(&self.roster.trainer)?,
            evaluator: self
                .roster
                .evaluator
                .as_deref()
                .map(node_name)
                .transpose()?,
            workers: self
                .roster
                .workers
                .iter()
                .map(|w| node_name(w))
                .collect::<Result<_>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKER: &str = r#"
role = "worker"
name = "worker-1"
listen = "127.0.0.1:7102"
cert_dir = "certs"
[peers]
trainer = "127.0.0.1:7101"
[roster]
client = "client"
trainer = "trainer"
workers = ["worker-1"]
"#;

    #[test]
    fn parses_and_refuses_unknown_keys_and_wrong_roles() {
        let c = NodeFileConfig::parse(WORKER, Path::new("/etc/hetal")).unwrap();
        assert_eq!(c.role, Role::Worker);
        assert_eq!(c.cert_dir, Path::new("/etc/hetal/certs"));
        assert_eq!(c.roster().unwrap().workers.len(), 1);
        let unknown = WORKER.replace("cert_dir", "typo = 1\ncert_dir");
        assert!(NodeFileConfig::parse(&unknown, Path::new(".")).is_err());
        let wrong = WORKER.replace("role = \"worker\"", "role = \"trainer\"");
        assert!(NodeFileConfig::parse(&wrong, Path::new(".")).is_err());
        let client_table = format!("{WORKER}[client]\ndata = \"d\"\n");
        assert!(NodeFileConfig::parse(&client_table, Path::new(".")).is_err());
    }
}
