//! Shared test fixtures: a generated cluster, started nodes that know each other's ephemeral
//! ports, and small test actors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hetal_runtime::identity::{ClusterCa, NodeIdentity, Validity};
use hetal_runtime::{
    Actor, Bulk, CodecError, Handle, Handlers, Message, MessageContext, Node, NodeConfig, NodeName,
    Payload, Rejection, Request, Respond, Response, TransportSettings, serde_message,
};
use serde::{Deserialize, Serialize};

pub fn name(s: &str) -> NodeName {
    NodeName::new(s).unwrap()
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Short timeouts so that failure tests finish in seconds.
pub fn test_settings() -> TransportSettings {
    TransportSettings {
        idle_timeout: Duration::from_secs(4),
        keep_alive: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(4),
        first_byte_timeout: Duration::from_secs(5),
        progress_timeout: Duration::from_secs(3),
        drain_timeout: Duration::from_secs(5),
        duplicate_grace: Duration::from_millis(200),
        ..TransportSettings::default()
    }
}

/// A CA and identities for `names`.
pub fn cluster(names: &[&str]) -> (ClusterCa, Vec<NodeIdentity>) {
    let names: Vec<_> = names.iter().map(|n| name(n)).collect();
    hetal_runtime::identity::generate_cluster(&names, Validity::default()).unwrap()
}

/// A config for `identity` that knows every name in `peers` (addresses filled in later).
pub fn config(identity: NodeIdentity, peers: &[&str]) -> NodeConfig {
    let mut config = NodeConfig::new(identity, loopback());
    config.transport = test_settings();
    for p in peers {
        config = config.with_peer(name(p), None);
    }
    config
}

/// Starts one node per identity, each knowing all the others (plus `extra_peers`), and tells
/// each node the others' ports.
pub async fn start_all(identities: Vec<NodeIdentity>, extra_peers: &[&str]) -> Vec<Node> {
    let names: Vec<String> = identities.iter().map(|i| i.name().to_string()).collect();
    let mut nodes = Vec::new();
    for identity in identities {
        let mut peers: Vec<&str> = names.iter().map(String::as_str).collect();
        peers.extend_from_slice(extra_peers);
        nodes.push(Node::start(config(identity, &peers)).await.unwrap());
    }
    link(&nodes);
    nodes
}

/// Tells every node every other node's address.
pub fn link(nodes: &[Node]) {
    for a in nodes {
        for b in nodes {
            if a.name() != b.name() {
                a.set_peer_addr(b.name(), b.local_addr().unwrap()).unwrap();
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping(pub u64);
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    pub value: u64,
    pub from: String,
    pub served_by: String,
}
serde_message!(Ping, "test.Ping/1" => Pong);
serde_message!(Pong, "test.Pong/1");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note(pub u64);
serde_message!(Note, "test.Note/1");

/// Ask answered after `0` milliseconds, computed off the actor thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sleep(pub u64);
serde_message!(Sleep, "test.Sleep/1" => Pong);

/// A message with a bulk part: a checksum in meta, the bytes raw.
#[derive(Debug, Clone)]
pub struct Blob {
    pub checksum: u64,
    /// As received: the pieces QUIC delivered.
    pub data: Bulk,
}

impl Blob {
    /// A blob of `data` with its checksum.
    pub fn of(data: Bytes) -> Self {
        let data = Bulk::from(data);
        Self {
            checksum: checksum(&data),
            data,
        }
    }
}

impl Message for Blob {
    const NAME: &'static str = "test.Blob/1";
    fn into_payload(self) -> Result<Payload, CodecError> {
        Ok(Payload::from_meta(&self.checksum)?.with_bulk(self.data))
    }
    fn from_payload(payload: Payload) -> Result<Self, CodecError> {
        Ok(Self {
            checksum: payload.meta_as()?,
            data: payload.bulk,
        })
    }
}

impl Request for Blob {
    type Reply = Pong;
}

/// FNV-1a over 8-byte words (the last one zero-padded), read across the pieces of `data` (fast
/// enough for 100 MB in a test).
pub fn checksum(data: &Bulk) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    let mut reader = data.reader();
    while reader.remaining() > 0 {
        let mut w = [0u8; 8];
        let n = reader.remaining().min(8);
        reader.read_exact(&mut w[..n]).unwrap();
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        v.extend_from_slice(&state.to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

/// Counts notes, answers pings, verifies blobs; refuses notes from `blocked`.
pub struct Echo {
    pub me: String,
    pub notes: Arc<AtomicU64>,
    pub note_sum: Arc<AtomicU64>,
    pub blocked: Option<NodeName>,
    pub note_delay: Duration,
    pub seen: Arc<std::sync::Mutex<Vec<u64>>>,
}

impl Echo {
    pub fn new(me: &str) -> Self {
        Self {
            me: me.to_owned(),
            notes: Arc::default(),
            note_sum: Arc::default(),
            blocked: None,
            note_delay: Duration::ZERO,
            seen: Arc::default(),
        }
    }
}

impl Actor for Echo {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .tell::<Note>()
            .ask::<Ping>()
            .ask::<Blob>()
            .ask::<Sleep>();
    }
}

impl Handle<Note> for Echo {
    fn handle(&mut self, msg: Note, ctx: &MessageContext) -> Result<(), Rejection> {
        if self.blocked.as_ref() == Some(ctx.sender()) {
            return Err(Rejection::new(format!(
                "{} may not send notes",
                ctx.sender()
            )));
        }
        if !self.note_delay.is_zero() {
            std::thread::sleep(self.note_delay);
        }
        self.notes.fetch_add(1, Ordering::SeqCst);
        self.note_sum.fetch_add(msg.0, Ordering::SeqCst);
        self.seen.lock().unwrap().push(msg.0);
        Ok(())
    }
}

impl Respond<Ping> for Echo {
    fn respond(&mut self, msg: Ping, ctx: &MessageContext) -> Response<Pong> {
        Response::ok(Pong {
            value: msg.0 + 1,
            from: ctx.sender().to_string(),
            served_by: self.me.clone(),
        })
    }
}

impl Respond<Sleep> for Echo {
    fn respond(&mut self, msg: Sleep, _: &MessageContext) -> Response<Pong> {
        let me = self.me.clone();
        Response::later(async move {
            tokio::time::sleep(Duration::from_millis(msg.0)).await;
            Ok(Pong {
                value: msg.0,
                from: String::new(),
                served_by: me,
            })
        })
    }
}

impl Respond<Blob> for Echo {
    fn respond(&mut self, msg: Blob, ctx: &MessageContext) -> Response<Pong> {
        let from = ctx.sender().to_string();
        let me = self.me.clone();
        // Verify off the actor thread, as real CPU work would be.
        Response::later(async move {
            let ok = tokio::task::spawn_blocking(move || checksum(&msg.data) == msg.checksum)
                .await
                .unwrap_or(false);
            if ok {
                Ok(Pong {
                    value: 1,
                    from,
                    served_by: me,
                })
            } else {
                Err(Rejection::new("checksum mismatch"))
            }
        })
    }
}

/// A bare QUIC client presenting `identity` and offering `alpn`, for handshake and frame tests.
pub async fn raw_connect(
    identity: &NodeIdentity,
    alpn: &[u8],
    server: &NodeName,
    addr: SocketAddr,
) -> Result<quinn::Connection, String> {
    let endpoint = quinn::Endpoint::client(loopback()).map_err(|e| e.to_string())?;
    let crypto = hetal_runtime::identity::tls::client_crypto(identity, &[alpn])
        .map_err(|e| e.to_string())?;
    let config = quinn::ClientConfig::new(Arc::new(crypto));
    let connecting = endpoint
        .connect_with(config, addr, server.as_str())
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map_err(|e| e.to_string())
}

/// Encodes a complete frame by hand.
pub fn frame(kind: hetal_runtime::wire::FrameKind, meta: &[u8], bulk: &[u8]) -> Vec<u8> {
    let header = hetal_runtime::wire::FrameHeader {
        kind,
        flags: 0,
        request_id: 7,
        meta_len: meta.len() as u32,
        bulk_len: bulk.len() as u64,
    };
    let mut v = header.encode().to_vec();
    v.extend_from_slice(meta);
    v.extend_from_slice(bulk);
    v
}

/// The envelope of an ask for `Ping(value)` to actor `echo`.
pub fn ping_envelope(value: u64) -> Vec<u8> {
    hetal_runtime::wire::codec::encode(&hetal_runtime::wire::Envelope {
        actor: "echo".into(),
        message: <Ping as Message>::NAME.into(),
        meta: hetal_runtime::wire::codec::encode(&Ping(value)).unwrap(),
    })
    .unwrap()
}

/// Asks `echo` for a pong over a raw connection, speaking the wire format by hand.
pub async fn raw_ping(conn: &quinn::Connection, value: u64) -> Result<u64, String> {
    let io = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        let request = frame(
            hetal_runtime::wire::FrameKind::Ask,
            &ping_envelope(value),
            &[],
        );
        send.write_all(&request).await.map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        let reply = recv.read_to_end(1 << 20).await.map_err(|e| e.to_string())?;
        let (header, meta, _) = hetal_runtime::wire::decode_frame(
            &Bytes::from(reply),
            &hetal_runtime::wire::FrameLimits::default(),
        )
        .map_err(|e| e.to_string())?;
        if header.kind != hetal_runtime::wire::FrameKind::Reply {
            return Err(format!("got {:?}", header.kind));
        }
        let envelope: hetal_runtime::wire::Envelope =
            hetal_runtime::wire::codec::decode(&meta, 1 << 20).map_err(|e| e.to_string())?;
        let pong: Pong = hetal_runtime::wire::codec::decode(&envelope.meta, 1 << 20)
            .map_err(|e| e.to_string())?;
        Ok(pong.value)
    };
    tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .map_err(|_| "no answer".to_owned())?
}
