//! A node's configuration as a TOML file. Unknown keys are errors (a typo must not silently fall
//! back to a default), relative paths are relative to the file, and every error names the file
//! and the key.
//!
//! [`NODE_CONFIG_EXAMPLE`] is an annotated file with every key.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::config::{DEFAULT_MAILBOX_CAPACITY, NodeConfig, PeerConfig};
use crate::identity::{IdentityError, NodeIdentity};
use crate::name::NodeName;
use crate::transport::{ReconnectSettings, TransportSettings};

/// An annotated configuration with every key (the `[transport]` and `[reconnect]` values shown
/// are the defaults); it parses as it stands.
pub const NODE_CONFIG_EXAMPLE: &str = r#"# hetal node configuration
name = "worker-1"               # node name = certificate name
listen = "127.0.0.1:7102"       # UDP address (port 0: any free port)
cert_dir = "certs"              # ca.pem, <name>.pem, <name>.key; relative to this file
mailbox_capacity = 16           # messages an actor holds before senders wait
accept_from = ["client"]        # peers that only dial us (no address)

[peers]                         # peers we dial, by name
trainer = "127.0.0.1:7101"

[transport]                     # every key optional
profile = "lan"                 # "lan" or "loopback" (large packets on every connection)
idle_timeout_ms = 30000
keep_alive_ms = 5000
connect_timeout_ms = 10000
first_byte_timeout_ms = 60000
progress_timeout_ms = 30000
drain_timeout_ms = 10000
duplicate_grace_ms = 1000
chunk_size = 1048576
stream_receive_window = 8388608
receive_window = 33554432
send_window = 33554432
max_concurrent_streams = 100
max_meta_bytes = 1048576
max_bulk_bytes = 4294967296
max_inbound_bulk_bytes = 1073741824
preallocate_limit = 67108864
mtu_initial = 1200
mtu_min = 1200
mtu_max = 1452                  # loopback connections go up to 65527 anyway, unless
large_packets_on_loopback = true  # this is false
segmentation_offload = true
socket_buffer = 4194304

[reconnect]                     # redialling a lost peer; every key optional
max_attempts = 10               # 0: never
initial_delay_ms = 200          # doubles after each failure ...
max_delay_ms = 10000            # ... up to this
jitter = 0.5                    # random fraction of each pause
"#;

/// Largest configuration file read (a few KB is typical).
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// Why a configuration file could not be turned into a [`NodeConfig`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_FILE_BYTES`].
    #[error("{path}: more than the {max} bytes a configuration may have")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes read before giving up (the limit plus one).
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Not TOML, an unknown key, or a value of the wrong type (toml's message names the key
    /// and the line).
    #[error("{source_name}: {message}")]
    Syntax {
        /// The file, or `<string>`.
        source_name: String,
        /// What the parser reported.
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{source_name}: {key}: {reason}")]
    Invalid {
        /// The file, or `<string>`.
        source_name: String,
        /// The offending key (dotted path).
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// The certificates named by `cert_dir` could not be loaded.
    #[error("{source_name}: cert_dir: {error}")]
    Identity {
        /// The file, or `<string>`.
        source_name: String,
        /// The loading error (names the certificate file).
        #[source]
        error: IdentityError,
    },
}

/// The node part of a configuration file, as written. Public so that a host with a larger file
/// (a party configuration) can hold these tables and call [`NodeConfigFile::resolve`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfigFile {
    /// Node name (its certificate's name).
    pub name: String,
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Directory with `ca.pem`, `<name>.pem` and `<name>.key`.
    pub cert_dir: PathBuf,
    /// Messages an actor's mailbox holds before senders wait.
    #[serde(default)]
    pub mailbox_capacity: Option<usize>,
    /// Peers we dial, by name.
    #[serde(default)]
    pub peers: BTreeMap<String, SocketAddr>,
    /// Peers that only dial us.
    #[serde(default)]
    pub accept_from: Vec<String>,
    /// Transport knobs.
    #[serde(default)]
    pub transport: TransportSection,
    /// Redial policy.
    #[serde(default)]
    pub reconnect: ReconnectSection,
}

/// Which defaults a `[transport]` table starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportProfile {
    /// [`TransportSettings::default`]: Ethernet-sized packets, GSO on.
    #[default]
    Lan,
    /// [`TransportSettings::loopback`]: packets up to 64 KB for nodes on one machine.
    Loopback,
}

/// The `[transport]` table; every key overrides one field of [`TransportSettings`] (durations in
/// milliseconds, sizes in bytes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportSection {
    /// Which defaults the other keys override.
    #[serde(default)]
    pub profile: TransportProfile,
    /// [`TransportSettings::idle_timeout`].
    pub idle_timeout_ms: Option<u64>,
    /// [`TransportSettings::keep_alive`].
    pub keep_alive_ms: Option<u64>,
    /// [`TransportSettings::connect_timeout`].
    pub connect_timeout_ms: Option<u64>,
    /// [`TransportSettings::first_byte_timeout`].
    pub first_byte_timeout_ms: Option<u64>,
    /// [`TransportSettings::progress_timeout`].
    pub progress_timeout_ms: Option<u64>,
    /// [`TransportSettings::drain_timeout`].
    pub drain_timeout_ms: Option<u64>,
    /// [`TransportSettings::duplicate_grace`].
    pub duplicate_grace_ms: Option<u64>,
    /// [`TransportSettings::chunk_size`].
    pub chunk_size: Option<usize>,
    /// [`TransportSettings::stream_receive_window`].
    pub stream_receive_window: Option<u32>,
    /// [`TransportSettings::receive_window`].
    pub receive_window: Option<u32>,
    /// [`TransportSettings::send_window`].
    pub send_window: Option<u64>,
    /// [`TransportSettings::max_concurrent_streams`].
    pub max_concurrent_streams: Option<u32>,
    /// [`crate::wire::FrameLimits::max_meta_bytes`].
    pub max_meta_bytes: Option<u32>,
    /// [`crate::wire::FrameLimits::max_bulk_bytes`].
    pub max_bulk_bytes: Option<u64>,
    /// [`TransportSettings::max_inbound_bulk_bytes`].
    pub max_inbound_bulk_bytes: Option<u64>,
    /// [`TransportSettings::preallocate_limit`].
    pub preallocate_limit: Option<usize>,
    /// [`crate::MtuSettings::initial`].
    pub mtu_initial: Option<u16>,
    /// [`crate::MtuSettings::min`].
    pub mtu_min: Option<u16>,
    /// [`crate::MtuSettings::upper_bound`].
    pub mtu_max: Option<u16>,
    /// [`TransportSettings::segmentation_offload`].
    pub segmentation_offload: Option<bool>,
    /// [`TransportSettings::large_packets_on_loopback`].
    pub large_packets_on_loopback: Option<bool>,
    /// [`TransportSettings::socket_buffer`].
    pub socket_buffer: Option<usize>,
}

/// The `[reconnect]` table; see [`ReconnectSettings`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectSection {
    /// Redials after a loss (0: none).
    pub max_attempts: Option<u32>,
    /// First pause, milliseconds.
    pub initial_delay_ms: Option<u64>,
    /// Largest pause, milliseconds.
    pub max_delay_ms: Option<u64>,
    /// Random fraction of each pause, 0 to 1.
    pub jitter: Option<f64>,
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn set_ms(slot: &mut Duration, value: Option<u64>) {
    set(slot, value.map(Duration::from_millis));
}

impl TransportSection {
    /// The settings this table describes (not yet validated).
    pub fn settings(&self) -> TransportSettings {
        let mut s = match self.profile {
            TransportProfile::Lan => TransportSettings::default(),
            TransportProfile::Loopback => TransportSettings::loopback(),
        };
        set_ms(&mut s.idle_timeout, self.idle_timeout_ms);
        set_ms(&mut s.keep_alive, self.keep_alive_ms);
        set_ms(&mut s.connect_timeout, self.connect_timeout_ms);
        set_ms(&mut s.first_byte_timeout, self.first_byte_timeout_ms);
        set_ms(&mut s.progress_timeout, self.progress_timeout_ms);
        set_ms(&mut s.drain_timeout, self.drain_timeout_ms);
        set_ms(&mut s.duplicate_grace, self.duplicate_grace_ms);
        set(&mut s.chunk_size, self.chunk_size);
        set(&mut s.stream_receive_window, self.stream_receive_window);
        set(&mut s.receive_window, self.receive_window);
        set(&mut s.send_window, self.send_window);
        set(&mut s.max_concurrent_streams, self.max_concurrent_streams);
        set(&mut s.limits.max_meta_bytes, self.max_meta_bytes);
        set(&mut s.limits.max_bulk_bytes, self.max_bulk_bytes);
        set(&mut s.max_inbound_bulk_bytes, self.max_inbound_bulk_bytes);
        set(&mut s.preallocate_limit, self.preallocate_limit);
        set(&mut s.mtu.initial, self.mtu_initial);
        set(&mut s.mtu.min, self.mtu_min);
        set(&mut s.mtu.upper_bound, self.mtu_max);
        set(&mut s.segmentation_offload, self.segmentation_offload);
        set(
            &mut s.large_packets_on_loopback,
            self.large_packets_on_loopback,
        );
        if self.socket_buffer.is_some() {
            s.socket_buffer = self.socket_buffer;
        }
        s
    }
}

impl ReconnectSection {
    /// The policy this table describes (not yet validated).
    pub fn settings(&self) -> ReconnectSettings {
        let mut r = ReconnectSettings::default();
        set(&mut r.max_attempts, self.max_attempts);
        set_ms(&mut r.initial_delay, self.initial_delay_ms);
        set_ms(&mut r.max_delay, self.max_delay_ms);
        set(&mut r.jitter, self.jitter);
        r
    }
}

impl NodeConfigFile {
    /// Parses the TOML text; `source_name` (a path or `<string>`) goes into error messages.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Syntax {
            source_name: source_name.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Checks every value except the certificates (which need not exist yet, e.g. before
    /// `hetal certs init`): names, peers, mailbox capacity, `[transport]` and `[reconnect]`.
    pub fn check(&self, source_name: &str) -> Result<(), ConfigError> {
        self.checked(source_name).map(|_| ())
    }

    /// Checks every value and builds the node configuration: certificates are loaded from
    /// `cert_dir` resolved against `base` (the directory of the file).
    pub fn resolve(&self, base: &Path, source_name: &str) -> Result<NodeConfig, ConfigError> {
        let checked = self.checked(source_name)?;
        let identity =
            NodeIdentity::load(&base.join(&self.cert_dir), &checked.name).map_err(|error| {
                ConfigError::Identity {
                    source_name: source_name.to_owned(),
                    error,
                }
            })?;
        let mut config = NodeConfig::new(identity, self.listen);
        config.peers = checked.peers;
        config.transport = checked.transport;
        config.mailbox_capacity = checked.mailbox_capacity;
        Ok(config)
    }

    fn checked(&self, source_name: &str) -> Result<Checked, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let name = NodeName::new(&self.name).map_err(|e| invalid("name", e.to_string()))?;
        let mut peers = Vec::new();
        for (peer, addr) in &self.peers {
            let key = format!("peers.{peer}");
            let peer = NodeName::new(peer).map_err(|e| invalid(&key, e.to_string()))?;
            if peer == name {
                return Err(invalid(&key, "a node does not dial itself".into()));
            }
            peers.push(PeerConfig {
                name: peer,
                addr: Some(*addr),
            });
        }
        for (i, peer) in self.accept_from.iter().enumerate() {
            let key = format!("accept_from[{i}]");
            let peer = NodeName::new(peer).map_err(|e| invalid(&key, e.to_string()))?;
            if peer == name || peers.iter().any(|p| p.name == peer) {
                return Err(invalid(
                    &key,
                    format!("{peer} is this node or already under [peers]"),
                ));
            }
            peers.push(PeerConfig {
                name: peer,
                addr: None,
            });
        }
        let mailbox_capacity = self.mailbox_capacity.unwrap_or(DEFAULT_MAILBOX_CAPACITY);
        if mailbox_capacity == 0 {
            return Err(invalid("mailbox_capacity", "must be positive".into()));
        }
        let mut transport = self.transport.settings();
        transport.reconnect = self.reconnect.settings();
        transport.reconnect.validate().map_err(|reason| {
            invalid("reconnect", reason.trim_start_matches("reconnect.").into())
        })?;
        transport
            .validate()
            .map_err(|e| invalid("transport", e.to_string()))?;
        Ok(Checked {
            name,
            peers,
            transport,
            mailbox_capacity,
        })
    }
}

/// The values of a [`NodeConfigFile`] after checking, before the certificates are loaded.
struct Checked {
    name: NodeName,
    peers: Vec<PeerConfig>,
    transport: TransportSettings,
    mailbox_capacity: usize,
}

impl NodeConfig {
    /// Parses a TOML configuration (see the module docs for the keys); `cert_dir` is resolved
    /// against `base`.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, ConfigError> {
        NodeConfigFile::parse(text, "<string>")?.resolve(base, "<string>")
    }

    /// Reads a TOML configuration file (at most [`MAX_CONFIG_FILE_BYTES`]); `cert_dir` is
    /// relative to the file's directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let io = |error| ConfigError::Io {
            path: path.to_owned(),
            error,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        // Read one byte past the limit, so that a file that grew since any size check is caught.
        let len = file
            .take(MAX_CONFIG_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io)? as u64;
        if len > MAX_CONFIG_FILE_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
                len,
                max: MAX_CONFIG_FILE_BYTES,
            });
        }
        let source_name = path.display().to_string();
        let base = path.parent().unwrap_or(Path::new("."));
        NodeConfigFile::parse(&text, &source_name)?.resolve(base, &source_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Validity, generate_cluster, write_cluster};
    use crate::transport::MAX_UDP_PAYLOAD;

    const WORKER: &str = r#"
name = "worker-1"
listen = "127.0.0.1:7102"
cert_dir = "certs"
mailbox_capacity = 4
accept_from = ["client"]

[peers]
trainer = "127.0.0.1:7101"

[transport]
profile = "loopback"
idle_timeout_ms = 20000
chunk_size = 262144

[reconnect]
max_attempts = 3
initial_delay_ms = 50
"#;

    /// A directory holding `worker.toml` and `certs/` for worker-1, trainer and client.
    fn setup(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<_> = ["worker-1", "trainer", "client"]
            .iter()
            .map(|n| NodeName::new(n).unwrap())
            .collect();
        let (ca, ids) = generate_cluster(&names, Validity::default()).unwrap();
        write_cluster(&dir.path().join("certs"), &ca, &ids).unwrap();
        let path = dir.path().join("worker.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn error_of(text: &str) -> String {
        let (_dir, path) = setup(text);
        NodeConfig::from_file(&path).unwrap_err().to_string()
    }

    #[test]
    fn a_full_file_becomes_a_node_config() {
        let (_dir, path) = setup(WORKER);
        let config = NodeConfig::from_file(&path).unwrap();
        assert_eq!(config.identity.name().as_str(), "worker-1");
        assert_eq!(config.listen, "127.0.0.1:7102".parse().unwrap());
        assert_eq!(config.mailbox_capacity, 4);
        let peers: Vec<_> = config
            .peers
            .iter()
            .map(|p| (p.name.as_str().to_owned(), p.addr))
            .collect();
        assert_eq!(
            peers,
            [
                (
                    "trainer".to_owned(),
                    Some("127.0.0.1:7101".parse().unwrap())
                ),
                ("client".to_owned(), None)
            ]
        );
        let t = &config.transport;
        assert_eq!(t.idle_timeout, Duration::from_secs(20));
        assert_eq!(t.chunk_size, 262_144);
        // Keys not given come from the profile.
        assert_eq!(t.mtu.upper_bound, MAX_UDP_PAYLOAD);
        assert_eq!(t.keep_alive, TransportSettings::loopback().keep_alive);
        assert_eq!(t.reconnect.max_attempts, 3);
        assert_eq!(t.reconnect.initial_delay, Duration::from_millis(50));
        assert_eq!(
            t.reconnect.max_delay,
            ReconnectSettings::default().max_delay
        );
    }

    #[test]
    fn the_annotated_example_parses_and_shows_the_defaults() {
        let (_dir, path) = setup(NODE_CONFIG_EXAMPLE);
        let config = NodeConfig::from_file(&path).unwrap();
        let (t, d) = (&config.transport, TransportSettings::default());
        assert_eq!(
            (
                t.idle_timeout,
                t.keep_alive,
                t.connect_timeout,
                t.first_byte_timeout
            ),
            (
                d.idle_timeout,
                d.keep_alive,
                d.connect_timeout,
                d.first_byte_timeout
            )
        );
        assert_eq!(
            (t.progress_timeout, t.drain_timeout, t.duplicate_grace),
            (d.progress_timeout, d.drain_timeout, d.duplicate_grace)
        );
        assert_eq!(
            (
                t.chunk_size,
                t.stream_receive_window,
                t.receive_window,
                t.send_window
            ),
            (
                d.chunk_size,
                d.stream_receive_window,
                d.receive_window,
                d.send_window
            )
        );
        assert_eq!(
            (t.max_concurrent_streams, t.limits, t.max_inbound_bulk_bytes),
            (d.max_concurrent_streams, d.limits, d.max_inbound_bulk_bytes)
        );
        assert_eq!(
            (
                t.preallocate_limit,
                t.mtu,
                t.segmentation_offload,
                t.socket_buffer
            ),
            (
                d.preallocate_limit,
                d.mtu,
                d.segmentation_offload,
                d.socket_buffer
            )
        );
        assert_eq!(t.large_packets_on_loopback, d.large_packets_on_loopback);
        assert_eq!(t.reconnect, d.reconnect);
        assert_eq!(config.mailbox_capacity, DEFAULT_MAILBOX_CAPACITY);
    }

    #[test]
    fn minimal_file_gets_lan_defaults() {
        let text = "name = \"client\"\nlisten = \"0.0.0.0:0\"\ncert_dir = \"certs\"\n";
        let (_dir, path) = setup(text);
        let config = NodeConfig::from_file(&path).unwrap();
        assert!(config.peers.is_empty());
        assert_eq!(config.mailbox_capacity, DEFAULT_MAILBOX_CAPACITY);
        assert_eq!(config.transport.mtu, TransportSettings::default().mtu);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let unknown = error_of(&WORKER.replace("chunk_size", "chunk_sise"));
        assert!(
            unknown.contains("worker.toml") && unknown.contains("chunk_sise"),
            "{unknown}"
        );
        let top = error_of(&format!("colour = 1\n{WORKER}"));
        assert!(top.contains("colour"), "{top}");
        let wrong_type = error_of(&WORKER.replace("max_attempts = 3", "max_attempts = \"3\""));
        assert!(wrong_type.contains("max_attempts"), "{wrong_type}");
        let bad_addr = error_of(&WORKER.replace("127.0.0.1:7101", "nowhere"));
        assert!(bad_addr.contains("trainer"), "{bad_addr}");
        let bad_name = error_of(&WORKER.replace("trainer =", "\"Bad Name\" ="));
        assert!(bad_name.contains("peers.Bad Name"), "{bad_name}");
        let jitter = error_of(&format!("{WORKER}jitter = 2.0\n"));
        assert!(
            jitter.contains("reconnect") && jitter.contains("jitter"),
            "{jitter}"
        );
        let keep_alive =
            error_of(&WORKER.replace("idle_timeout_ms = 20000", "keep_alive_ms = 40000"));
        assert!(
            keep_alive.contains("transport") && keep_alive.contains("keep_alive"),
            "{keep_alive}"
        );
        let mtu = error_of(&WORKER.replace("chunk_size = 262144", "mtu_max = 1000"));
        assert!(mtu.contains("mtu"), "{mtu}");
        let twice = error_of(&WORKER.replace("[\"client\"]", "[\"trainer\"]"));
        assert!(twice.contains("accept_from[0]"), "{twice}");
        let zero = error_of(&WORKER.replace("mailbox_capacity = 4", "mailbox_capacity = 0"));
        assert!(zero.contains("mailbox_capacity"), "{zero}");
    }

    #[test]
    fn cert_dir_is_relative_to_the_file_and_missing_files_are_named() {
        let (dir, path) = setup(WORKER);
        // Loading from another working directory still finds certs/ next to the file.
        let config = NodeConfig::from_file(&path).unwrap();
        assert_eq!(config.identity.name().as_str(), "worker-1");
        let moved = WORKER.replace("cert_dir = \"certs\"", "cert_dir = \"elsewhere\"");
        std::fs::write(&path, moved).unwrap();
        let err = NodeConfig::from_file(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Identity { .. }), "{err}");
        assert!(err.to_string().contains("cert_dir"), "{err}");
        // from_toml_str resolves against the base it is given.
        let config = NodeConfig::from_toml_str(WORKER, dir.path()).unwrap();
        assert_eq!(config.peers.len(), 2);
        let err = NodeConfig::from_toml_str(WORKER, Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().starts_with("<string>: cert_dir"), "{err}");
    }

    #[test]
    fn oversized_and_missing_files_are_refused() {
        let (dir, path) = setup(WORKER);
        let big = format!("{WORKER}#{}\n", "x".repeat(MAX_CONFIG_FILE_BYTES as usize));
        std::fs::write(&path, big).unwrap();
        assert!(matches!(
            NodeConfig::from_file(&path),
            Err(ConfigError::TooLarge { .. })
        ));
        let missing = dir.path().join("missing.toml");
        let err = NodeConfig::from_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }
}
