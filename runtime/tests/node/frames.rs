//! Malformed frames from an authenticated peer: each gets that peer disconnected with a
//! protocol-violation code and an event, and the node keeps serving everyone else.

use std::time::Duration;

use hetal_runtime::PeerEvent;
use hetal_runtime::identity::tls;
use hetal_runtime::transport::codes;
use hetal_runtime::wire::{FrameKind, HEADER_LEN, MAGIC, PROTOCOL_VERSION};

use super::common::*;

fn header_bytes(kind: u8, version: u16, flags: u8, meta_len: u32, bulk_len: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN);
    v.extend_from_slice(&MAGIC);
    v.extend_from_slice(&version.to_le_bytes());
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&9u64.to_le_bytes());
    v.extend_from_slice(&meta_len.to_le_bytes());
    v.extend_from_slice(&bulk_len.to_le_bytes());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_disconnect_the_sender_only() {
    let (_ca, ids) = cluster(&["good", "b", "mallory"]);
    let mallory = ids[2].clone();
    let nodes = start_all(ids[..2].to_vec(), &["mallory"]).await;
    let (good, b) = (&nodes[0], &nodes[1]);
    b.register("echo", Echo::new("b")).unwrap();
    let mut events = b.events();
    let envelope = ping_envelope(1);
    let ask = FrameKind::Ask as u8;
    let valid = frame(FrameKind::Ask, &envelope, &[]);

    let mut bad_magic = valid.clone();
    bad_magic[..4].copy_from_slice(b"JUNK");
    let mut truncated_payload = header_bytes(ask, PROTOCOL_VERSION, 0, envelope.len() as u32, 1000);
    truncated_payload.extend_from_slice(&envelope);
    truncated_payload.extend_from_slice(&[0u8; 10]);
    let mut bad_envelope = header_bytes(ask, PROTOCOL_VERSION, 0, 5, 0);
    bad_envelope.extend_from_slice(&[0xff; 5]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad magic", bad_magic),
        (
            "unknown version",
            header_bytes(ask, PROTOCOL_VERSION + 1, 0, 0, 0),
        ),
        ("unknown kind", header_bytes(200, PROTOCOL_VERSION, 0, 0, 0)),
        (
            "unknown flags",
            header_bytes(ask, PROTOCOL_VERSION, 0x40, 0, 0),
        ),
        (
            "oversized envelope",
            header_bytes(ask, PROTOCOL_VERSION, 0, u32::MAX, 0),
        ),
        (
            "oversized payload",
            header_bytes(ask, PROTOCOL_VERSION, 0, 0, u64::MAX),
        ),
        ("truncated header", valid[..HEADER_LEN - 3].to_vec()),
        ("truncated envelope", valid[..HEADER_LEN + 2].to_vec()),
        ("truncated payload", truncated_payload),
        ("undecodable envelope", bad_envelope),
        (
            "reply sent as a request",
            frame(FrameKind::Reply, &envelope, &[]),
        ),
        ("trailing bytes", [valid.clone(), vec![1, 2, 3]].concat()),
    ];
    for (case, bytes) in cases {
        let conn = raw_connect(&mallory, tls::ALPN, b.name(), b.local_addr().unwrap())
            .await
            .unwrap();
        // The same connection works before the bad frame...
        assert_eq!(raw_ping(&conn, 1).await, Ok(2), "{case}");
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        send.write_all(&bytes).await.unwrap();
        send.finish().unwrap();
        // ...and is closed by the node with a protocol-violation code after it.
        let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .unwrap_or_else(|_| panic!("{case}: connection not closed"));
        match closed {
            quinn::ConnectionError::ApplicationClosed(close) => {
                assert_eq!(close.error_code, codes::PROTOCOL_VIOLATION.into(), "{case}")
            }
            other => panic!("{case}: closed with {other}"),
        }
        let event = loop {
            match events.recv().await.unwrap() {
                PeerEvent::ProtocolViolation { peer, error } => break (peer, error),
                _ => continue,
            }
        };
        assert_eq!(event.0, name("mallory"), "{case}");
        // The node keeps serving the well-behaved peer.
        let pong = good
            .remote_ref::<Ping>(b.name(), "echo")
            .ask(Ping(10), Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{case}: good peer not served: {e}"));
        assert_eq!(pong.value, 11);
    }
    for n in &nodes {
        n.shutdown().await;
    }
}
