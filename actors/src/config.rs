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
//! client = "client"            # or clients = ["client-a", "client-b"]: one isolated job each
//! trainer = "trainer"
//! workers = ["worker-1"]
//!
//! [client]                     # role = "client" only
//! data = "data/digits"
//!
//! [trainer]                    # role = "trainer" only, optional
//! bootstrap_on_workers = "auto"  # "auto" | true | false: where bootstrap stages run
//!
//! [checkpoint]                 # role = "trainer" only, optional: survive a crash or restart
//! dir = "trainer-checkpoints"  # relative to the config file; created owner-only
//! every_steps = 1              # checkpoint after every N steps (and after every verdict)
//! keep = 2                     # newest files kept
//! worker_grace_ms = 60000      # a resumed job first waits this long for its workers
//!
//! [dataset]                    # role = "trainer" only, optional: training set on disk
//! dir = "trainer-dataset"      # relative to the config file; one file per batch
//! memory_budget_bytes = 1073741824  # most bytes of batches in memory at once
//!
//! [transport]                  # optional: the runtime's table, same keys and defaults
//! connect_timeout_ms = 10000
//!
//! [reconnect]                  # optional: the runtime's table
//! max_attempts = 10
//! ```
//!
//! The node part (`name`, `listen`, `cert_dir`, `mailbox_capacity`, `[peers]`, `[transport]`,
//! `[reconnect]`) has the vocabulary of a plain runtime node file
//! (`hetal_runtime::node::NODE_CONFIG_EXAMPLE` lists every key): both are checked and turned into
//! a [`NodeConfig`] by the runtime's [`NodeConfigFile`]. The roster replaces the runtime's
//! `accept_from`: every roster node without an address under `[peers]` may dial this one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hetal_runtime::node::{NodeConfigFile, ReconnectSection, TransportSection};
use hetal_runtime::{NodeConfig, NodeName};
use serde::Deserialize;

use crate::error::{ActorError, Result};
use crate::roster::{Role, Roster, SharedRoster};
use crate::store::checkpoint::CheckpointConfig;
use crate::store::dataset::DatasetConfig;
use crate::toml_key::key_path_at;
use crate::trainer::pool::BootstrapPlacement;

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
    /// How the trainer spreads its work (role `trainer` only).
    pub trainer: Option<NodeTrainerConfig>,
    /// Where a trainer checkpoints its job (role `trainer` only); a restarted trainer with the
    /// same file resumes the job saved there.
    pub checkpoint: Option<NodeCheckpointConfig>,
    /// Where a trainer keeps its training set (role `trainer` only): on disk, streamed in
    /// within a memory budget, found again by a resumed upload or a restarted trainer.
    pub dataset: Option<NodeDatasetConfig>,
    /// Messages an actor's mailbox holds before senders wait (the runtime's default if absent).
    #[serde(default)]
    pub mailbox_capacity: Option<usize>,
    /// QUIC timeouts, windows, packet sizes: the runtime's `[transport]` table.
    #[serde(default)]
    pub transport: TransportSection,
    /// Redialling a lost peer: the runtime's `[reconnect]` table.
    #[serde(default)]
    pub reconnect: ReconnectSection,
    /// The file this came from (or `<string>`), for error messages.
    #[serde(skip)]
    source_name: String,
}

/// The `[roster]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterConfig {
    /// The client node (a trainer with one client).
    #[serde(default)]
    pub client: Option<String>,
    /// The client nodes of a trainer serving several clients, each in its own isolated job
    /// (instead of `client`).
    #[serde(default)]
    pub clients: Vec<String>,
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

/// The `[trainer]` table of a trainer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTrainerConfig {
    /// Where the trainer's bootstrap stages run.
    #[serde(default)]
    pub bootstrap_on_workers: BootstrapOnWorkers,
}

/// `bootstrap_on_workers`: whether the workers take the bootstrap stages as work units, which
/// costs each of them the job's bootstrapping material in memory (about 6.6 GB at `boot-n16`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BootstrapOnWorkers {
    /// `"auto"`: on the workers when the material takes at most
    /// [`DEFAULT_MAX_BOOTSTRAP_KEY_BYTES`](crate::trainer::pool::DEFAULT_MAX_BOOTSTRAP_KEY_BYTES)
    /// (N ≤ 2^13), else on the trainer.
    #[default]
    Auto,
    /// `true`: on the workers whatever the material's size.
    Always,
    /// `false`: on the trainer; workers never receive bootstrapping material.
    Never,
}

impl BootstrapOnWorkers {
    /// The worker pool's placement for this setting.
    pub fn placement(self) -> BootstrapPlacement {
        match self {
            BootstrapOnWorkers::Auto => BootstrapPlacement::default(),
            BootstrapOnWorkers::Always => BootstrapPlacement::Workers {
                max_key_bytes: u64::MAX,
            },
            BootstrapOnWorkers::Never => BootstrapPlacement::Trainer,
        }
    }
}

impl std::fmt::Display for BootstrapOnWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BootstrapOnWorkers::Auto => "auto",
            BootstrapOnWorkers::Always => "true",
            BootstrapOnWorkers::Never => "false",
        })
    }
}

impl std::str::FromStr for BootstrapOnWorkers {
    type Err = String;

    /// `auto`, `true` or `false` (an environment variable or a command-line flag).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "auto" => Ok(BootstrapOnWorkers::Auto),
            "true" => Ok(BootstrapOnWorkers::Always),
            "false" => Ok(BootstrapOnWorkers::Never),
            other => Err(format!("{other:?}: expected true, false or auto")),
        }
    }
}

impl serde::Serialize for BootstrapOnWorkers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            BootstrapOnWorkers::Auto => s.serialize_str("auto"),
            BootstrapOnWorkers::Always => s.serialize_bool(true),
            BootstrapOnWorkers::Never => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for BootstrapOnWorkers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = BootstrapOnWorkers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                v: bool,
            ) -> std::result::Result<Self::Value, E> {
                Ok(if v {
                    BootstrapOnWorkers::Always
                } else {
                    BootstrapOnWorkers::Never
                })
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                match v {
                    "auto" => Ok(BootstrapOnWorkers::Auto),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The `[checkpoint]` table of a trainer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeCheckpointConfig {
    /// Directory of the checkpoints and the saved upload; relative to the config file.
    pub dir: PathBuf,
    /// Checkpoint after every this many steps (and after every verdict); at least 1.
    #[serde(default = "default_every_steps")]
    pub every_steps: u64,
    /// Newest checkpoint files kept; at least 1.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// Milliseconds a resumed job waits for the roster's workers to re-join before its first
    /// step (0: start at once, computing alone until they are back).
    #[serde(default = "default_worker_grace_ms")]
    pub worker_grace_ms: u64,
}

impl NodeCheckpointConfig {
    /// The trainer's checkpoint settings (resuming on: a restart continues the saved job).
    pub fn trainer_config(&self) -> CheckpointConfig {
        CheckpointConfig {
            every_steps: self.every_steps,
            keep: self.keep,
            ..CheckpointConfig::new(&self.dir)
        }
    }

    /// How long a resumed job waits for its workers.
    pub fn worker_grace(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.worker_grace_ms)
    }
}

/// The `[dataset]` table of a trainer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDatasetConfig {
    /// Directory of the batch files; relative to the config file.
    pub dir: PathBuf,
    /// Most bytes of decoded batches held in memory at once; at least one batch's size.
    pub memory_budget_bytes: u64,
}

impl NodeDatasetConfig {
    /// The trainer's dataset settings.
    pub fn dataset_config(&self) -> DatasetConfig {
        DatasetConfig {
            dir: self.dir.clone(),
            memory_budget: self.memory_budget_bytes,
        }
    }
}

fn default_worker_grace_ms() -> u64 {
    60_000
}

fn default_every_steps() -> u64 {
    1
}

fn default_keep() -> usize {
    2
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
    /// Parses a configuration; relative paths are resolved against `base`. Every value but the
    /// certificates is checked here (those are loaded by [`Self::node_config`]).
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        Self::parse_named(text, base, "<string>")
    }

    fn parse_named(text: &str, base: &Path, source_name: &str) -> Result<Self> {
        let mut config: NodeFileConfig = toml::from_str(text).map_err(|e| {
            let message = e.to_string().trim_end().to_owned();
            ActorError::Config(
                match e.span().and_then(|span| key_path_at(text, span.start)) {
                    Some(key) => format!("{source_name}: key `{key}`: {message}"),
                    None => format!("{source_name}: {message}"),
                },
            )
        })?;
        config.source_name = source_name.to_owned();
        config.cert_dir = base.join(&config.cert_dir);
        if let Some(job) = &mut config.client {
            job.data = base.join(&job.data);
        }
        if let Some(c) = &mut config.checkpoint {
            c.dir = base.join(&c.dir);
            if c.every_steps == 0 || c.keep == 0 {
                return Err(ActorError::Config(format!(
                    "{source_name}: [checkpoint] every_steps = {} and keep = {}: both must be at least 1",
                    c.every_steps, c.keep
                )));
            }
        }
        if let Some(d) = &mut config.dataset {
            d.dir = base.join(&d.dir);
            if d.memory_budget_bytes == 0 {
                return Err(ActorError::Config(format!(
                    "{source_name}: [dataset] memory_budget_bytes = 0: it must hold a batch"
                )));
            }
        }
        let roster = config.shared_roster()?;
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
        if config.checkpoint.is_some() && config.role != Role::Trainer {
            return Err(ActorError::Config(format!(
                "{source_name}: a [checkpoint] table is for role trainer only, not {}",
                config.role.name()
            )));
        }
        if config.trainer.is_some() && config.role != Role::Trainer {
            return Err(ActorError::Config(format!(
                "{source_name}: a [trainer] table is for role trainer only, not {}",
                config.role.name()
            )));
        }
        if config.dataset.is_some() && config.role != Role::Trainer {
            return Err(ActorError::Config(format!(
                "{source_name}: a [dataset] table is for role trainer only, not {}",
                config.role.name()
            )));
        }
        config
            .node_file()?
            .check(&config.source_name)
            .map_err(|e| ActorError::Config(e.to_string()))?;
        Ok(config)
    }

    /// The node part as the runtime's configuration file: `[peers]` are dialled, the other
    /// roster nodes may dial us.
    fn node_file(&self) -> Result<NodeConfigFile> {
        let me = self.node_name()?;
        let nodes = self.shared_roster()?.all_nodes();
        if let Some(stranger) = self
            .peers
            .keys()
            .find(|p| !nodes.iter().any(|n| n.as_str() == p.as_str()))
        {
            return Err(ActorError::Config(format!(
                "{}: peers.{stranger}: not in the [roster]",
                self.source_name
            )));
        }
        let mut accept_from: Vec<String> = Vec::new();
        for n in nodes {
            let n = n.as_str();
            if n != me.as_str()
                && !self.peers.contains_key(n)
                && !accept_from.iter().any(|a| a == n)
            {
                accept_from.push(n.to_owned());
            }
        }
        Ok(NodeConfigFile {
            name: self.name.clone(),
            listen: self.listen,
            cert_dir: self.cert_dir.clone(),
            mailbox_capacity: self.mailbox_capacity,
            peers: self.peers.clone(),
            accept_from,
            transport: self.transport.clone(),
            reconnect: self.reconnect.clone(),
        })
    }

    /// The runtime configuration of this node: certificates loaded from `cert_dir`, every
    /// roster node a peer (dialled if it has an address under `[peers]`), the `[transport]` and
    /// `[reconnect]` settings applied.
    pub fn node_config(&self) -> Result<NodeConfig> {
        // `cert_dir` was resolved against the file's directory by `parse`.
        self.node_file()?
            .resolve(Path::new(""), &self.source_name)
            .map_err(|e| ActorError::Config(e.to_string()))
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
        Self::parse_named(
            &text,
            path.parent().unwrap_or(Path::new(".")),
            &path.display().to_string(),
        )
    }

    /// Where this trainer's bootstrap stages run (`[trainer] bootstrap_on_workers`, default
    /// `"auto"`).
    pub fn bootstrap_placement(&self) -> BootstrapPlacement {
        self.trainer
            .unwrap_or_default()
            .bootstrap_on_workers
            .placement()
    }

    /// This node's name.
    pub fn node_name(&self) -> Result<NodeName> {
        node_name(&self.name)
    }

    /// The client names of the `[roster]`: `client` or `clients`, exactly one of them.
    fn client_names(&self) -> Result<Vec<NodeName>> {
        let r = &self.roster;
        let names: Vec<&String> = match (&r.client, r.clients.as_slice()) {
            (Some(one), []) => vec![one],
            (None, [_, ..]) => r.clients.iter().collect(),
            (Some(_), [_, ..]) => {
                return Err(ActorError::Config(
                    "[roster] has both client and clients: give one of them".into(),
                ));
            }
            (None, []) => {
                return Err(ActorError::Config(
                    "[roster] names no client: give client or clients".into(),
                ));
            }
        };
        names.into_iter().map(|n| node_name(n)).collect()
    }

    /// Every party, with every client.
    pub fn shared_roster(&self) -> Result<SharedRoster> {
        let mut clients = self.client_names()?.into_iter();
        let first = clients
            .next()
            .ok_or_else(|| ActorError::Config("[roster] names no client".into()))?;
        SharedRoster::new(self.roster_with_client(first)?, clients.collect())
    }

    /// This node's roster: a client node's names that client; any other node's names the
    /// first client (use [`NodeFileConfig::shared_roster`] for all of them).
    pub fn roster(&self) -> Result<Roster> {
        let shared = self.shared_roster()?;
        let me = self.node_name()?;
        Ok(shared
            .for_client(&me)
            .unwrap_or_else(|| shared.base().clone()))
    }

    fn roster_with_client(&self, client: NodeName) -> Result<Roster> {
        Ok(Roster {
            client,
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

    #[test]
    fn a_trainer_checkpoint_table_is_resolved_checked_and_trainer_only() {
        let trainer = WORKER
            .replace("role = \"worker\"", "role = \"trainer\"")
            .replace("name = \"worker-1\"", "name = \"trainer\"")
            .replace("[peers]\ntrainer = \"127.0.0.1:7101\"\n", "");
        let text = format!("{trainer}[checkpoint]\ndir = \"ckpt\"\nevery_steps = 3\n");
        let c = NodeFileConfig::parse(&text, Path::new("/srv/hetal")).unwrap();
        let ckpt = c.checkpoint.as_ref().unwrap().trainer_config();
        assert_eq!(ckpt.dir, Path::new("/srv/hetal/ckpt"));
        assert_eq!((ckpt.every_steps, ckpt.keep, ckpt.resume), (3, 2, true));
        let grace = c.checkpoint.as_ref().unwrap().worker_grace();
        assert_eq!(grace, std::time::Duration::from_secs(60));
        for bad in ["every_steps = 0", "keep = 0", "evry_steps = 2"] {
            let text = format!("{trainer}[checkpoint]\ndir = \"ckpt\"\n{bad}\n");
            let e = NodeFileConfig::parse(&text, Path::new(".")).unwrap_err();
            assert!(
                e.to_string().contains(bad.split(' ').next().unwrap()),
                "{e}"
            );
        }
        let worker = format!("{WORKER}[checkpoint]\ndir = \"ckpt\"\n");
        let e = NodeFileConfig::parse(&worker, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("trainer only"), "{e}");
    }

    #[test]
    fn a_trainer_table_places_bootstraps_and_names_a_bad_value() {
        let trainer = WORKER
            .replace("role = \"worker\"", "role = \"trainer\"")
            .replace("name = \"worker-1\"", "name = \"trainer\"")
            .replace("[peers]\ntrainer = \"127.0.0.1:7101\"\n", "");
        let parsed = |value: &str| {
            let text = format!("{trainer}[trainer]\nbootstrap_on_workers = {value}\n");
            NodeFileConfig::parse(&text, Path::new("."))
        };
        let default = NodeFileConfig::parse(&trainer, Path::new(".")).unwrap();
        assert_eq!(default.bootstrap_placement(), BootstrapPlacement::default());
        for (value, want) in [
            ("\"auto\"", BootstrapPlacement::default()),
            ("false", BootstrapPlacement::Trainer),
            (
                "true",
                BootstrapPlacement::Workers {
                    max_key_bytes: u64::MAX,
                },
            ),
        ] {
            assert_eq!(
                parsed(value).unwrap().bootstrap_placement(),
                want,
                "{value}"
            );
        }
        // `true` places even boot-n16's material (about 6.6 GB) on the workers; "auto" does not.
        let boot_n16_bytes = 6_600_000_000;
        assert!(
            parsed("true")
                .unwrap()
                .bootstrap_placement()
                .allows(boot_n16_bytes)
        );
        assert!(!default.bootstrap_placement().allows(boot_n16_bytes));
        for bad in ["\"sometimes\"", "1", "\"yes\""] {
            let e = parsed(bad).unwrap_err().to_string();
            assert!(
                e.contains("key `trainer.bootstrap_on_workers`") && e.contains("\"auto\""),
                "{bad}: {e}"
            );
        }
        // Written back as read; the same words from an environment variable or a flag.
        for value in ["\"auto\"", "true", "false"] {
            let setting = parsed(value).unwrap().trainer.unwrap();
            let text = toml::to_string(&setting).unwrap();
            assert_eq!(text.trim(), format!("bootstrap_on_workers = {value}"));
            let word = value.trim_matches('"');
            assert_eq!(word.parse(), Ok(setting.bootstrap_on_workers));
            assert_eq!(setting.bootstrap_on_workers.to_string(), word);
        }
        assert!("sometimes".parse::<BootstrapOnWorkers>().is_err());
        let typo = format!("{trainer}[trainer]\nbootstrap_on_worker = true\n");
        let e = NodeFileConfig::parse(&typo, Path::new(".")).unwrap_err();
        assert!(
            e.to_string().contains("key `trainer.bootstrap_on_worker`"),
            "{e}"
        );
        let worker = format!("{WORKER}[trainer]\nbootstrap_on_workers = false\n");
        let e = NodeFileConfig::parse(&worker, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("trainer only"), "{e}");
    }

    #[test]
    fn a_roster_lists_one_client_or_several() {
        let trainer = WORKER
            .replace("role = \"worker\"", "role = \"trainer\"")
            .replace("name = \"worker-1\"", "name = \"trainer\"")
            .replace("[peers]\ntrainer = \"127.0.0.1:7101\"\n", "");
        let two = trainer.replace(
            "client = \"client\"",
            "clients = [\"client-a\", \"client-b\"]",
        );
        let c = NodeFileConfig::parse(&two, Path::new(".")).unwrap();
        let shared = c.shared_roster().unwrap();
        let names: Vec<_> = shared.clients().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["client-a", "client-b"]);
        // Every client may dial the trainer.
        let accept = c.node_file().unwrap().accept_from;
        assert!(accept.iter().any(|n| n == "client-b"), "{accept:?}");
        // A client node's own roster names itself.
        let b = two
            .replace("role = \"trainer\"", "role = \"client\"")
            .replace("name = \"trainer\"", "name = \"client-b\"");
        let b = format!("{b}[client]\ndata = \"d\"\n");
        let c = NodeFileConfig::parse(&b, Path::new(".")).unwrap();
        assert_eq!(c.roster().unwrap().client.as_str(), "client-b");
        // The old single key still works; both, none, or a repeated client are refused.
        NodeFileConfig::parse(&trainer, Path::new(".")).unwrap();
        let both = trainer.replace(
            "client = \"client\"",
            "client = \"client\"\nclients = [\"client-b\"]",
        );
        let none = trainer.replace("client = \"client\"\n", "");
        let twice = trainer.replace("client = \"client\"", "clients = [\"c\", \"c\"]");
        for (bad, says) in [(both, "both"), (none, "no client"), (twice, "twice")] {
            let e = NodeFileConfig::parse(&bad, Path::new(".")).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn the_example_layouts_parse() {
        let examples = [
            include_str!("../../examples/configs/three-node/client.toml"),
            include_str!("../../examples/configs/three-node/trainer.toml"),
            include_str!("../../examples/configs/three-node/worker-1.toml"),
            include_str!("../../examples/configs/five-node/client.toml"),
            include_str!("../../examples/configs/five-node/trainer.toml"),
            include_str!("../../examples/configs/five-node/evaluator.toml"),
            include_str!("../../examples/configs/five-node/worker-1.toml"),
            include_str!("../../examples/configs/five-node/worker-2.toml"),
            include_str!("../../examples/configs/two-clients/client-a.toml"),
            include_str!("../../examples/configs/two-clients/client-b.toml"),
            include_str!("../../examples/configs/two-clients/trainer.toml"),
            include_str!("../../examples/configs/two-clients/evaluator.toml"),
            include_str!("../../examples/configs/two-clients/worker-1.toml"),
        ];
        let mut two_clients = Vec::new();
        for text in examples {
            let c = NodeFileConfig::parse(text, Path::new("layout")).unwrap();
            // Every trainer checkpoints (and so resumes after a restart).
            assert_eq!(c.role == Role::Trainer, c.checkpoint.is_some(), "{text}");
            if text.contains("two-clients layout") {
                two_clients.push(c);
            }
        }
        // The two-clients layout: every node has the same roster of two clients, each client
        // node names itself, and each node listens where the others dial it.
        assert_eq!(two_clients.len(), 5);
        let mut addresses = BTreeMap::new();
        for c in &two_clients {
            let shared = c.shared_roster().unwrap();
            let clients: Vec<_> = shared.clients().iter().map(|n| n.as_str()).collect();
            assert_eq!(clients, ["client-a", "client-b"], "{}", c.name);
            if c.role == Role::Client {
                assert_eq!(c.roster().unwrap().client.as_str(), c.name);
            }
            addresses.insert(c.name.clone(), c.listen);
        }
        for c in &two_clients {
            for (peer, addr) in &c.peers {
                assert_eq!(addresses.get(peer), Some(addr), "{} dials {peer}", c.name);
            }
        }
    }

    #[test]
    fn a_trainer_dataset_table_is_resolved_checked_and_trainer_only() {
        let trainer = WORKER
            .replace("role = \"worker\"", "role = \"trainer\"")
            .replace("name = \"worker-1\"", "name = \"trainer\"")
            .replace("[peers]\ntrainer = \"127.0.0.1:7101\"\n", "");
        let text = format!("{trainer}[dataset]\ndir = \"data\"\nmemory_budget_bytes = 4096\n");
        let c = NodeFileConfig::parse(&text, Path::new("/srv/hetal")).unwrap();
        let d = c.dataset.as_ref().unwrap().dataset_config();
        assert_eq!(d.dir, Path::new("/srv/hetal/data"));
        assert_eq!(d.memory_budget, 4096);
        for bad in ["memory_budget_bytes = 0", "memory_budget = 5"] {
            let text = format!("{trainer}[dataset]\ndir = \"d\"\n{bad}\n");
            let e = NodeFileConfig::parse(&text, Path::new(".")).unwrap_err();
            assert!(e.to_string().contains("memory_budget"), "{e}");
        }
        let worker = format!("{WORKER}[dataset]\ndir = \"d\"\nmemory_budget_bytes = 1\n");
        let e = NodeFileConfig::parse(&worker, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("trainer only"), "{e}");
    }

    #[test]
    fn transport_and_reconnect_tables_are_the_runtimes() {
        let text = format!(
            "{WORKER}[transport]\nprofile = \"loopback\"\nconnect_timeout_ms = 2500\nchunk_size = 65536\n\
             [reconnect]\nmax_attempts = 3\ninitial_delay_ms = 50\n"
        );
        let c = NodeFileConfig::parse(&text, Path::new(".")).unwrap();
        let settings = c.transport.settings();
        assert_eq!(
            settings.connect_timeout,
            std::time::Duration::from_millis(2500)
        );
        assert_eq!(settings.chunk_size, 65536);
        assert_eq!(c.reconnect.settings().max_attempts, 3);
        // The runtime's checks run at parse time and name the key.
        let typo = format!("{WORKER}[transport]\nconect_timeout_ms = 1\n");
        let e = NodeFileConfig::parse(&typo, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("conect_timeout_ms"), "{e}");
        let contradiction = format!("{WORKER}[transport]\nkeep_alive_ms = 40000\n");
        let e = NodeFileConfig::parse(&contradiction, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("keep_alive"), "{e}");
        let bad_jitter = format!("{WORKER}[reconnect]\njitter = 2.0\n");
        let e = NodeFileConfig::parse(&bad_jitter, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("reconnect"), "{e}");
        let zero_mailbox = WORKER.replace("cert_dir", "mailbox_capacity = 0\ncert_dir");
        let e = NodeFileConfig::parse(&zero_mailbox, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("mailbox_capacity"), "{e}");
        let stranger = WORKER.replace("[peers]", "[peers]\nmallory = \"127.0.0.1:9\"");
        let e = NodeFileConfig::parse(&stranger, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("peers.mallory"), "{e}");
    }

    #[test]
    fn node_config_loads_certificates_and_applies_the_tables() {
        let dir = std::env::temp_dir().join(format!("hetal-config-test-{}", std::process::id()));
        let names: Vec<_> = ["client", "trainer", "worker-1"]
            .iter()
            .map(|n| NodeName::new(n).unwrap())
            .collect();
        let (ca, ids) =
            hetal_runtime::identity::generate_cluster(&names, hetal_runtime::Validity::default())
                .unwrap();
        hetal_runtime::identity::write_cluster(&dir.join("certs"), &ca, &ids).unwrap();
        let text = format!(
            "{}[transport]\nconnect_timeout_ms = 2500\n[reconnect]\nmax_attempts = 0\n",
            WORKER.replace("cert_dir", "mailbox_capacity = 5\ncert_dir")
        );
        let path = dir.join("worker-1.toml");
        std::fs::write(&path, text).unwrap();
        let result = NodeFileConfig::load(&path).and_then(|c| c.node_config());
        let missing = NodeFileConfig::load(&path).and_then(|c| {
            let mut c = c;
            c.cert_dir = dir.join("nowhere");
            c.node_config()
        });
        std::fs::remove_dir_all(&dir).unwrap();
        let config = result.unwrap();
        assert_eq!(config.identity.name().as_str(), "worker-1");
        assert_eq!(config.mailbox_capacity, 5);
        assert_eq!(
            config.transport.connect_timeout,
            std::time::Duration::from_millis(2500)
        );
        assert_eq!(config.transport.reconnect.max_attempts, 0);
        let mut peers: Vec<_> = config
            .peers
            .iter()
            .map(|p| (p.name.as_str().to_owned(), p.addr))
            .collect();
        peers.sort();
        assert_eq!(
            peers,
            vec![
                ("client".to_owned(), None),
                (
                    "trainer".to_owned(),
                    Some("127.0.0.1:7101".parse().unwrap())
                ),
            ]
        );
        let e = missing.unwrap_err().to_string();
        assert!(e.contains("worker-1.toml") && e.contains("cert_dir"), "{e}");
    }
}
