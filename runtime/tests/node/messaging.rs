//! Tell and ask between two and three nodes, local sends, sender identity, and events.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hetal_runtime::transport::MemoryNetwork;
use hetal_runtime::{Node, PeerEvent, SendError};

use super::common::*;

const T: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_tell_and_ask() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let nodes = start_all(ids, &[]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let echo = Echo::new("b");
    let (notes, sum) = (echo.notes.clone(), echo.note_sum.clone());
    b.register("echo", echo).unwrap();
    let mut events = a.events();

    let pong = a
        .remote_ref::<Ping>(b.name(), "echo")
        .ask(Ping(41), T)
        .await
        .unwrap();
    assert_eq!(
        pong,
        Pong {
            value: 42,
            from: "a".into(),
            served_by: "b".into()
        }
    );
    assert_eq!(
        events.recv().await.unwrap(),
        PeerEvent::Connected { peer: name("b") }
    );

    let notes_ref = a.remote_ref::<Note>(b.name(), "echo");
    for i in 1..=20 {
        notes_ref.tell(Note(i)).await.unwrap();
    }
    // `tell` returns after the actor handled the note, so the counts are exact already.
    assert_eq!(notes.load(Ordering::SeqCst), 20);
    assert_eq!(sum.load(Ordering::SeqCst), 20 * 21 / 2);

    // The reverse direction reuses the same connection.
    a.register("echo", Echo::new("a")).unwrap();
    let pong = b
        .remote_ref::<Ping>(a.name(), "echo")
        .ask(Ping(1), T)
        .await
        .unwrap();
    assert_eq!((pong.from.as_str(), pong.served_by.as_str()), ("b", "a"));

    // A local reference goes through the same encode/dispatch path.
    let pong = b
        .remote_ref::<Ping>(b.name(), "echo")
        .ask(Ping(5), T)
        .await
        .unwrap();
    assert_eq!((pong.value, pong.from.as_str()), (6, "b"));

    for n in &nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_exchange_concurrently() {
    let (_ca, ids) = cluster(&["n1", "n2", "n3"]);
    let nodes = start_all(ids, &[]).await;
    for n in &nodes {
        n.register("echo", Echo::new(n.name().as_str())).unwrap();
    }
    // Every node asks every other node at the same time, so simultaneous dials happen and the
    // duplicate-connection rule must keep everything working.
    let mut tasks = Vec::new();
    for from in &nodes {
        for to in &nodes {
            if from.name() == to.name() {
                continue;
            }
            let r = from.remote_ref::<Ping>(to.name(), "echo");
            let (from_name, to_name) = (from.name().to_string(), to.name().to_string());
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let pong = r.ask(Ping(i), T).await.unwrap();
                    assert_eq!(pong.value, i + 1);
                    assert_eq!(pong.from, from_name);
                    assert_eq!(pong.served_by, to_name);
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for n in &nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_see_the_authenticated_sender_and_can_refuse() {
    let (_ca, ids) = cluster(&["client", "trainer", "worker"]);
    let nodes = start_all(ids, &[]).await;
    let (client, trainer, worker) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut echo = Echo::new("worker");
    echo.blocked = Some(name("client"));
    let notes = echo.notes.clone();
    worker.register("echo", echo).unwrap();

    trainer
        .remote_ref::<Note>(worker.name(), "echo")
        .tell(Note(1))
        .await
        .unwrap();
    let refused = client
        .remote_ref::<Note>(worker.name(), "echo")
        .tell(Note(2))
        .await;
    match refused {
        Err(SendError::Rejected { reason, .. }) => assert!(reason.contains("client")),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(notes.load(Ordering::SeqCst), 1);

    // Unknown actors and wrong modes are typed errors, not hangs.
    let err = trainer
        .remote_ref::<Note>(worker.name(), "nobody")
        .tell(Note(3))
        .await;
    assert!(
        matches!(err, Err(SendError::Undeliverable { .. })),
        "{err:?}"
    );
    let pong_ref = trainer.remote_ref::<Pong>(worker.name(), "echo");
    let err = pong_ref
        .tell(Pong {
            value: 0,
            from: String::new(),
            served_by: String::new(),
        })
        .await;
    assert!(
        matches!(err, Err(SendError::Undeliverable { .. })),
        "{err:?}"
    );
    for n in &nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_lost_event_and_send_to_stopped_peer_fails() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let nodes = start_all(ids, &[]).await;
    let (a, b) = (nodes[0].clone(), nodes[1].clone());
    b.register("echo", Echo::new("b")).unwrap();
    let mut events = a.events();
    a.connect(b.name()).await.unwrap();
    assert_eq!(
        events.recv().await.unwrap(),
        PeerEvent::Connected { peer: name("b") }
    );
    b.shutdown().await;
    let lost = tokio::time::timeout(T, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(lost, PeerEvent::Lost { ref peer, .. } if peer == b.name()),
        "{lost:?}"
    );
    let err = a.remote_ref::<Ping>(b.name(), "echo").ask(Ping(1), T).await;
    assert!(matches!(err, Err(SendError::Transport(_))), "{err:?}");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_transport_runs_the_same_actors() {
    let network = MemoryNetwork::new();
    let x = Node::in_memory(&network, name("x")).await.unwrap();
    let mut events = x.events();
    let y = Node::in_memory(&network, name("y")).await.unwrap();
    assert_eq!(
        events.recv().await.unwrap(),
        PeerEvent::Connected { peer: name("y") }
    );
    let echo = Echo::new("y");
    let notes = echo.notes.clone();
    y.register("echo", echo).unwrap();
    let pong = x
        .remote_ref::<Ping>(y.name(), "echo")
        .ask(Ping(9), T)
        .await
        .unwrap();
    assert_eq!((pong.value, pong.from.as_str()), (10, "x"));
    let data = pattern(1 << 20, 3);
    let blob = Blob::of(data);
    x.remote_ref::<Blob>(y.name(), "echo")
        .ask(blob, T)
        .await
        .unwrap();
    x.remote_ref::<Note>(y.name(), "echo")
        .tell(Note(1))
        .await
        .unwrap();
    assert_eq!(notes.load(Ordering::SeqCst), 1);
    y.shutdown().await;
    assert!(matches!(
        events.recv().await.unwrap(),
        PeerEvent::Lost { .. }
    ));
    assert!(
        x.remote_ref::<Note>(y.name(), "echo")
            .tell(Note(1))
            .await
            .is_err()
    );
    x.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_settle_on_one_connection() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let nodes = start_all(ids, &[]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.register("echo", Echo::new("a")).unwrap();
    b.register("echo", Echo::new("b")).unwrap();
    let (mut a_events, mut b_events) = (a.events(), b.events());
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(a.connect(b.name()), b.connect(a.name()));
        ra.unwrap();
        rb.unwrap();
    }
    // Let the retired duplicate (if any) close, then use the connection both ways.
    tokio::time::sleep(test_settings().duplicate_grace * 3).await;
    for i in 0..10 {
        let pong = a
            .remote_ref::<Ping>(b.name(), "echo")
            .ask(Ping(i), T)
            .await
            .unwrap();
        assert_eq!(pong.served_by, "b");
        let pong = b
            .remote_ref::<Ping>(a.name(), "echo")
            .ask(Ping(i), T)
            .await
            .unwrap();
        assert_eq!(pong.served_by, "a");
    }
    // Each side saw the peer connect exactly once and never lost it: retiring a duplicate is
    // not a peer loss.
    for events in [&mut a_events, &mut b_events] {
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(matches!(seen[0], PeerEvent::Connected { .. }), "{seen:?}");
    }
    for n in &nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_timeout_cast_and_deferred_answers() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let nodes = start_all(ids, &[]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let echo = Echo::new("b");
    let notes = echo.notes.clone();
    b.register("echo", echo).unwrap();
    let sleep = a.remote_ref::<Sleep>(b.name(), "echo");

    // Deferred answers run off the actor thread: several overlap instead of queueing.
    let started = std::time::Instant::now();
    let replies = futures::future::join_all((0..4).map(|_| sleep.ask(Sleep(300), T))).await;
    assert!(
        replies
            .iter()
            .all(|r| r.as_ref().is_ok_and(|p| p.value == 300))
    );
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );

    // An answer slower than the ask's timeout is a typed timeout, not a hang.
    let err = sleep.ask(Sleep(2_000), Duration::from_millis(200)).await;
    assert!(matches!(err, Err(SendError::Timeout { .. })), "{err:?}");
    // The node keeps serving afterwards.
    let pong = a
        .remote_ref::<Ping>(b.name(), "echo")
        .ask(Ping(1), T)
        .await
        .unwrap();
    assert_eq!(pong.value, 2);

    // A cast returns once b's transport has the bytes; the actor handles it shortly after.
    a.remote_ref::<Note>(b.name(), "echo")
        .cast(Note(7), Default::default())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + T;
    while notes.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "cast never handled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in &nodes {
        n.shutdown().await;
    }
}

#[test]
fn standalone_node_runs_without_a_host_runtime() {
    let (_ca, ids) = cluster(&["solo"]);
    let node = Node::start_standalone(config(ids[0].clone(), &[])).unwrap();
    node.node().register("echo", Echo::new("solo")).unwrap();
    let echo = node.node().remote_ref::<Ping>(&name("solo"), "echo");
    let pong = node.block_on(echo.ask(Ping(1), T)).unwrap();
    assert_eq!((pong.value, pong.from.as_str()), (2, "solo"));
    // Inside a runtime, the standalone constructor refuses instead of panicking.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let inside =
        rt.block_on(async { Node::start_standalone(config(ids[0].clone(), &[])).map(|_| ()) });
    assert!(matches!(
        inside,
        Err(hetal_runtime::NodeError::InsideRuntime)
    ));
    node.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_node_without_shutdown_releases_it() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let mut nodes = start_all(ids, &[]).await;
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    b.register("echo", Echo::new("b")).unwrap();
    let mut events = a.events();
    a.remote_ref::<Ping>(b.name(), "echo")
        .ask(Ping(1), T)
        .await
        .unwrap();
    assert!(matches!(
        events.recv().await.unwrap(),
        PeerEvent::Connected { .. }
    ));
    drop(b);
    let lost = tokio::time::timeout(T, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(lost, PeerEvent::Lost { .. }), "{lost:?}");
    a.shutdown().await;
}
