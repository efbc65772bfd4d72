//! The QUIC end of the benchmark: two nodes (mutual TLS, actor to actor), small asks timed one by
//! one, large tells sent a round at a time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle as RuntimeHandle;

use super::{BenchError, LatencyStats, TransportBenchOptions, err, stats};
use crate::actor::{Actor, Handle, Handlers, MessageContext, Rejection, Respond, Response};
use crate::identity::{Validity, generate_cluster};
use crate::message::{Message, Payload, Request};
use crate::name::NodeName;
use crate::node::{Node, NodeConfig, RemoteRef};
use crate::transport::PeerStats;
use crate::wire::{Bulk, CodecError};

#[derive(Debug, Serialize, Deserialize)]
struct BenchPing(u64);
#[derive(Debug, Serialize, Deserialize)]
struct BenchPong(u64);
crate::serde_message!(BenchPing, "hetal.bench.Ping/1" => BenchPong);
crate::serde_message!(BenchPong, "hetal.bench.Pong/1");

/// A large message: the bytes travel as bulk, untouched by serde, and arrive as the pieces QUIC
/// delivered (no reassembly copy, as a decoder reading them with a `BulkReader` would see them).
struct BenchBlob(Bulk);

impl Message for BenchBlob {
    const NAME: &'static str = "hetal.bench.Blob/1";
    fn into_payload(self) -> Result<Payload, CodecError> {
        Ok(Payload::default().with_bulk(self.0))
    }
    fn from_payload(payload: Payload) -> Result<Self, CodecError> {
        Ok(Self(payload.bulk))
    }
}

impl Request for BenchBlob {
    type Reply = BenchPong;
}

/// What the receiving actor got: large messages and the pieces they arrived in.
#[derive(Default)]
struct SinkCounts {
    messages: AtomicU64,
    pieces: AtomicU64,
}

struct Sink {
    counts: Arc<SinkCounts>,
}

impl Actor for Sink {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.ask::<BenchPing>().tell::<BenchBlob>();
    }
}

impl Respond<BenchPing> for Sink {
    fn respond(&mut self, msg: BenchPing, _: &MessageContext) -> Response<BenchPong> {
        Response::ok(BenchPong(msg.0))
    }
}

impl Handle<BenchBlob> for Sink {
    fn handle(&mut self, msg: BenchBlob, _: &MessageContext) -> Result<(), Rejection> {
        self.counts.messages.fetch_add(1, Ordering::Relaxed);
        self.counts
            .pieces
            .fetch_add(msg.0.pieces().len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Two connected nodes, the sender on the calling runtime and the receiver on `receiver`.
pub(super) struct QuicSide {
    nodes: Vec<Node>,
    blob: RemoteRef<BenchBlob>,
    counts: Arc<SinkCounts>,
}

impl QuicSide {
    /// Starts both nodes, times `options.asks` small asks (after 200 untimed ones) and sends one
    /// untimed large message (windows, MTU discovery).
    pub(super) async fn start(
        options: &TransportBenchOptions,
        data: &Bytes,
        receiver: &RuntimeHandle,
    ) -> Result<(Self, LatencyStats), BenchError> {
        let names = [
            NodeName::new("bench-a").map_err(err)?,
            NodeName::new("bench-b").map_err(err)?,
        ];
        let (_ca, ids) = generate_cluster(&names, Validity::default()).map_err(err)?;
        let listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut nodes = Vec::new();
        for (i, id) in ids.into_iter().enumerate() {
            let mut config = NodeConfig::new(id, listen);
            config.transport = options.settings.clone();
            for n in &names {
                config = config.with_peer(n.clone(), None);
            }
            // A node's connections are driven by the runtime it starts on.
            let node = if i == 0 {
                Node::start(config).await
            } else {
                receiver.spawn(Node::start(config)).await.map_err(err)?
            };
            nodes.push(node.map_err(err)?);
        }
        let (a, b) = (&nodes[0], &nodes[1]);
        a.set_peer_addr(b.name(), b.local_addr().ok_or_else(|| err("no address"))?)
            .map_err(err)?;
        let counts = Arc::new(SinkCounts::default());
        b.register(
            "sink",
            Sink {
                counts: counts.clone(),
            },
        )
        .map_err(err)?;
        let ping = a.remote_ref::<BenchPing>(b.name(), "sink");
        for i in 0..200 {
            ping.ask(BenchPing(i), TIMEOUT).await.map_err(err)?;
        }
        let mut samples = Vec::with_capacity(options.asks);
        for i in 0..options.asks as u64 {
            let t = Instant::now();
            ping.ask(BenchPing(i), TIMEOUT).await.map_err(err)?;
            samples.push(t.elapsed());
        }
        let blob = a.remote_ref::<BenchBlob>(b.name(), "sink");
        blob.tell(BenchBlob(data.clone().into()))
            .await
            .map_err(err)?;
        Ok((
            Self {
                nodes,
                blob,
                counts,
            },
            stats(samples),
        ))
    }

    /// Sends `streams` copies of `data` at once (each on its own stream) and waits until the
    /// receiving actor has all of them.
    pub(super) async fn send_round(&self, streams: usize, data: &Bytes) -> Result<(), BenchError> {
        let sends = (0..streams).map(|_| self.blob.tell(BenchBlob(data.clone().into())));
        for result in futures::future::join_all(sends).await {
            result.map_err(err)?;
        }
        Ok(())
    }

    /// The sender's connection figures and the mean number of pieces a large message arrived
    /// in, then both nodes shut down.
    pub(super) async fn finish(self) -> (Option<PeerStats>, f64) {
        let path = self.nodes[0].peer_stats(self.nodes[1].name());
        let messages = self.counts.messages.load(Ordering::Relaxed).max(1);
        let pieces = self.counts.pieces.load(Ordering::Relaxed) as f64 / messages as f64;
        for n in &self.nodes {
            n.shutdown().await;
        }
        (path, pieces)
    }
}
