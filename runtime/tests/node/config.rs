//! Nodes started from TOML configuration files (certificates written by `write_cluster`, as
//! `hetal certs init` does) talk to each other, with the file's settings in force.

use std::time::Duration;

use hetal_runtime::identity::write_cluster;
use hetal_runtime::{Node, NodeConfig, PeerEvent, SendError, TransportError};

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_started_from_toml_files_exchange_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, ids) = cluster(&["trainer", "worker-1"]);
    write_cluster(&dir.path().join("certs"), &ca, &ids).unwrap();
    // The trainer only accepts; the worker dials it (its port is filled in once known).
    let trainer_toml = r#"
name = "trainer"
listen = "127.0.0.1:0"
cert_dir = "certs"
accept_from = ["worker-1"]
[transport]
large_packets_on_loopback = false
[reconnect]
max_attempts = 0
"#;
    std::fs::write(dir.path().join("trainer.toml"), trainer_toml).unwrap();
    let trainer = Node::start(NodeConfig::from_file(&dir.path().join("trainer.toml")).unwrap())
        .await
        .unwrap();
    let port = trainer.local_addr().unwrap().port();
    let worker_toml = format!(
        "name = \"worker-1\"\nlisten = \"127.0.0.1:0\"\ncert_dir = \"certs\"\n\
         [peers]\ntrainer = \"127.0.0.1:{port}\"\n[transport]\nchunk_size = 65536\n"
    );
    std::fs::write(dir.path().join("worker.toml"), worker_toml).unwrap();
    let worker_config = NodeConfig::from_file(&dir.path().join("worker.toml")).unwrap();
    assert_eq!(worker_config.transport.chunk_size, 65536);
    let worker = Node::start(worker_config).await.unwrap();
    trainer.register("echo", Echo::new("trainer")).unwrap();

    let pong = worker
        .remote_ref::<Ping>(trainer.name(), "echo")
        .ask(Ping(41), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((pong.value, pong.from.as_str()), (42, "worker-1"));
    // A 1 MB message arrives intact, and the trainer's `large_packets_on_loopback = false`
    // kept its packets Ethernet-sized.
    let data = pattern(1 << 20, 9);
    let blob = Blob::of(data);
    let reply = worker
        .remote_ref::<Blob>(trainer.name(), "echo")
        .ask(blob, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(reply.value, 1);
    let worker_side = worker.peer_stats(trainer.name()).unwrap();
    let trainer_side = trainer.peer_stats(worker.name()).unwrap();
    assert!(worker_side.sent_packets > 0 && trainer_side.sent_packets > 0);
    assert!(
        trainer_side.current_mtu <= hetal_runtime::transport::ETHERNET_MTU,
        "{trainer_side:?}"
    );
    // The trainer has no address for the worker: it reaches it over the worker's connection
    // while that is up, and gets a typed error, not a dial, once the worker is gone.
    worker.register("echo", Echo::new("worker-1")).unwrap();
    let back = trainer.remote_ref::<Ping>(worker.name(), "echo");
    let pong = back.ask(Ping(1), Duration::from_secs(5)).await.unwrap();
    assert_eq!(pong.served_by, "worker-1");
    let mut events = trainer.events();
    worker.shutdown().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while !matches!(events.recv().await, Ok(PeerEvent::Lost { .. })) {}
    })
    .await
    .unwrap();
    let err = back.ask(Ping(2), Duration::from_secs(5)).await;
    assert!(
        matches!(
            err,
            Err(SendError::Transport(TransportError::NoAddress(ref peer))) if peer.as_str() == "worker-1"
        ),
        "{err:?}"
    );
    trainer.shutdown().await;
}
