//! Large payloads: 100 MB arrives intact with a bounded in-flight window, and a peer that stops
//! reading or vanishes mid-transfer produces an error for the sender, not a hang.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hetal_runtime::identity::tls;
use hetal_runtime::transport::{ETHERNET_MTU, MAX_UDP_PAYLOAD, Progress, TransferDirection};
use hetal_runtime::{
    Actor, Handlers, MessageContext, Node, PeerEvent, Rejection, Respond, Response, SendError,
    SendOptions, TransportError,
};

use super::common::*;

/// Tracks how far the sender runs ahead of the receiver's reads.
#[derive(Default)]
struct Window {
    sent: AtomicU64,
    received: AtomicU64,
    max_gap: AtomicU64,
}

impl Window {
    fn observe(&self, p: &Progress) {
        match p.direction {
            TransferDirection::Send => self.sent.store(p.done, Ordering::SeqCst),
            TransferDirection::Receive => self.received.store(p.done, Ordering::SeqCst),
        }
        let gap = self
            .sent
            .load(Ordering::SeqCst)
            .saturating_sub(self.received.load(Ordering::SeqCst));
        self.max_gap.fetch_max(gap, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabytes_arrive_intact_with_a_bounded_window() {
    const SIZE: usize = 100_000_000;
    let window = Arc::new(Window::default());
    let (_ca, ids) = cluster(&["a", "b"]);
    let mut nodes = Vec::new();
    for id in ids {
        let mut cfg = config(id, &["a", "b"]);
        cfg.transport.stream_receive_window = 2 << 20;
        cfg.transport.receive_window = 4 << 20;
        cfg.transport.send_window = 4 << 20;
        cfg.transport.chunk_size = 256 << 10;
        let w = window.clone();
        cfg.receive_progress = Some(Arc::new(move |p: &Progress| w.observe(p)));
        nodes.push(Node::start(cfg).await.unwrap());
    }
    link(&nodes);
    let (a, b) = (&nodes[0], &nodes[1]);
    b.register("echo", Echo::new("b")).unwrap();
    let settings = test_settings();

    let data = pattern(SIZE, 42);
    let blob = Blob::of(data);
    let w = window.clone();
    let options = SendOptions {
        progress: Some(Arc::new(move |p: &Progress| w.observe(p))),
        ..SendOptions::default()
    };
    let started = Instant::now();
    // The receiver verifies the checksum of what arrived and refuses on mismatch.
    let pong = a
        .remote_ref::<Blob>(b.name(), "echo")
        .ask_with(blob, Duration::from_secs(30), options)
        .await
        .unwrap();
    assert_eq!(pong.value, 1);
    let elapsed = started.elapsed();
    assert_eq!(window.sent.load(Ordering::SeqCst), SIZE as u64);
    assert_eq!(window.received.load(Ordering::SeqCst), SIZE as u64);
    // Bytes handed to QUIC but not yet read by the receiver can never exceed the stream window
    // plus one chunk on each side: flow control holds the sender back.
    let bound = 2 * (2 << 20) + 2 * (256 << 10);
    let max_gap = window.max_gap.load(Ordering::SeqCst);
    assert!(
        max_gap > 0 && max_gap <= bound,
        "in-flight window {max_gap} > bound {bound}"
    );
    assert!(settings.progress_timeout < Duration::from_secs(10));
    // Over loopback, path MTU discovery grew the packets past Ethernet size, and the window
    // bound above held all the same.
    let path = a.peer_stats(b.name()).unwrap();
    assert!(
        path.current_mtu > ETHERNET_MTU && path.current_mtu <= MAX_UDP_PAYLOAD,
        "{path:?}"
    );
    eprintln!(
        "100 MB in {elapsed:?} ({:.0} MB/s), max in-flight {max_gap} bytes, MTU {}",
        SIZE as f64 / elapsed.as_secs_f64() / 1e6,
        path.current_mtu
    );
    for n in &nodes {
        n.shutdown().await;
    }
}

/// A fake "b" speaking QUIC with b's genuine identity, so the test controls when it stops.
fn fake_peer(identity: &hetal_runtime::identity::NodeIdentity) -> quinn::Endpoint {
    let crypto = tls::server_crypto(identity, vec![name("a")].into(), &[tls::ALPN]).unwrap();
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.stream_receive_window((1u32 << 20).into());
    server.transport_config(Arc::new(transport));
    quinn::Endpoint::server(server, loopback()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_or_vanishes_gives_an_error() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let a = Node::start(config(ids[0].clone(), &["b"])).await.unwrap();
    let settings = test_settings();
    let data = pattern(64 << 20, 7);
    let blob = || Blob::of(data.clone());

    // 1. b accepts the stream, reads 1 MiB, then never reads again (but stays connected).
    let fake = fake_peer(&ids[1]);
    a.set_peer_addr(&name("b"), fake.local_addr().unwrap())
        .unwrap();
    let server = tokio::spawn(async move {
        let conn = fake.accept().await.unwrap().await.unwrap();
        let (_send, mut recv) = conn.accept_bi().await.unwrap();
        let mut got = 0;
        while got < (1 << 20) {
            got += recv
                .read_chunk(64 << 10, true)
                .await
                .unwrap()
                .unwrap()
                .bytes
                .len();
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop((conn, recv, fake));
    });
    let started = Instant::now();
    let err = a
        .remote_ref::<Blob>(&name("b"), "echo")
        .ask(blob(), Duration::from_secs(60))
        .await;
    let waited = started.elapsed();
    assert!(
        matches!(err, Err(SendError::Transport(TransportError::Stalled { done, total, .. })) if done > 0 && done < total),
        "{err:?}"
    );
    assert!(
        waited < settings.progress_timeout + Duration::from_secs(3),
        "took {waited:?}"
    );
    server.abort();

    // 2. b vanishes mid-transfer: its connection closes while we are sending.
    let fake = fake_peer(&ids[1]);
    a.set_peer_addr(&name("b"), fake.local_addr().unwrap())
        .unwrap();
    let mut events = a.events();
    let server = tokio::spawn(async move {
        let conn = fake.accept().await.unwrap().await.unwrap();
        let (_send, mut recv) = conn.accept_bi().await.unwrap();
        let mut got = 0;
        while got < (4 << 20) {
            got += recv
                .read_chunk(64 << 10, true)
                .await
                .unwrap()
                .unwrap()
                .bytes
                .len();
        }
        conn.close(0u32.into(), b"gone");
        fake.close(0u32.into(), b"gone");
    });
    let started = Instant::now();
    let err = a
        .remote_ref::<Blob>(&name("b"), "echo")
        .ask(blob(), Duration::from_secs(60))
        .await;
    assert!(
        matches!(
            err,
            Err(SendError::Transport(TransportError::Connection { .. }))
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    server.await.unwrap();
    // The loss is reported as an event (after the connect event of the new connection).
    let lost = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let PeerEvent::Lost { peer, .. } = events.recv().await.unwrap() {
                return peer;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(lost, name("b"));
    a.shutdown().await;
}

/// Answers blobs after a pause, forgetting them in the shared accounting first.
struct Holder {
    held: Arc<Mutex<HashMap<u64, u64>>>,
}

impl Actor for Holder {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.ask::<Blob>();
    }
}

impl Respond<Blob> for Holder {
    fn respond(&mut self, msg: Blob, ctx: &MessageContext) -> Response<Pong> {
        let held = self.held.clone();
        let request = ctx.request_id();
        Response::later(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let ok = checksum(&msg.data) == msg.checksum;
            held.lock().unwrap().remove(&request);
            if ok {
                Ok(Pong {
                    value: 1,
                    from: String::new(),
                    served_by: String::new(),
                })
            } else {
                Err(Rejection::new("checksum mismatch"))
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_messages_share_a_memory_budget() {
    const BUDGET: u64 = 4 << 20;
    const SIZE: usize = 3 << 20;
    let held: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let max_held = Arc::new(AtomicU64::new(0));
    let (_ca, ids) = cluster(&["a", "b"]);
    let mut nodes = Vec::new();
    for id in ids {
        let mut cfg = config(id, &["a", "b"]);
        cfg.transport.max_inbound_bulk_bytes = BUDGET;
        let (held, max_held) = (held.clone(), max_held.clone());
        cfg.receive_progress = Some(Arc::new(move |p: &Progress| {
            let mut held = held.lock().unwrap();
            held.insert(p.request_id, p.done);
            max_held.fetch_max(held.values().sum(), Ordering::SeqCst);
        }));
        nodes.push(Node::start(cfg).await.unwrap());
    }
    link(&nodes);
    let (a, b) = (&nodes[0], &nodes[1]);
    b.register("holder", Holder { held: held.clone() }).unwrap();
    let blobs = a.remote_ref::<Blob>(b.name(), "holder");
    let asks = (0..6u64).map(|i| {
        let data = pattern(SIZE, i + 1);
        blobs.ask(Blob::of(data), Duration::from_secs(20))
    });
    for reply in futures::future::join_all(asks).await {
        assert_eq!(reply.unwrap().value, 1);
    }
    // Received-but-unhandled payload bytes never exceeded the budget, although 6 x 3 MiB were
    // sent at once (one message at a time fits: 3 MiB <= 4 MiB < 6 MiB).
    let max = max_held.load(Ordering::SeqCst);
    assert!(
        max >= SIZE as u64 && max <= BUDGET,
        "held {max} bytes at once, budget {BUDGET}"
    );
    for n in &nodes {
        n.shutdown().await;
    }
}

/// Regression guard for quinn-proto 0.11.17 ("TooManyChunks" when the reader falls behind with
/// large windows): 8 x 16 MiB at once over one connection with 64 MiB stream windows, while the
/// receiver admits only two messages at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_streams_with_large_windows_and_a_slow_reader() {
    const SIZE: usize = 16 << 20;
    let (_ca, ids) = cluster(&["a", "b"]);
    let mut nodes = Vec::new();
    for id in ids {
        let mut cfg = config(id, &["a", "b"]);
        cfg.transport.stream_receive_window = 64 << 20;
        cfg.transport.receive_window = 256 << 20;
        cfg.transport.send_window = 256 << 20;
        cfg.transport.max_inbound_bulk_bytes = 2 * SIZE as u64;
        nodes.push(Node::start(cfg).await.unwrap());
    }
    link(&nodes);
    let (a, b) = (&nodes[0], &nodes[1]);
    b.register(
        "holder",
        Holder {
            held: Arc::default(),
        },
    )
    .unwrap();
    let blobs = a.remote_ref::<Blob>(b.name(), "holder");
    let asks = (0..8u64).map(|i| {
        let data = pattern(SIZE, 100 + i);
        blobs.ask(Blob::of(data), Duration::from_secs(30))
    });
    for reply in futures::future::join_all(asks).await {
        assert_eq!(reply.unwrap().value, 1);
    }
    for n in &nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_stay_ethernet_sized_when_large_loopback_packets_are_off() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let mut nodes = Vec::new();
    for id in ids {
        let mut cfg = config(id, &["a", "b"]);
        cfg.transport.large_packets_on_loopback = false;
        nodes.push(Node::start(cfg).await.unwrap());
    }
    link(&nodes);
    let (a, b) = (&nodes[0], &nodes[1]);
    b.register("echo", Echo::new("b")).unwrap();
    let data = pattern(8 << 20, 5);
    let blob = Blob::of(data);
    let pong = a
        .remote_ref::<Blob>(b.name(), "echo")
        .ask(blob, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(pong.value, 1);
    let path = a.peer_stats(b.name()).unwrap();
    assert!(
        path.current_mtu <= ETHERNET_MTU && path.sent_packets > (8 << 20) / u64::from(ETHERNET_MTU),
        "{path:?}"
    );
    for n in &nodes {
        n.shutdown().await;
    }
}
