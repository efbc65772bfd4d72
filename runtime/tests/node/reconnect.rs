//! Reconnection: a peer that is killed and restarted (same identity, same port) is redialled with
//! backoff and messages flow again; asks pending on the lost connection fail instead of hanging;
//! the redial gives up after the configured attempts and says so.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hetal_runtime::identity::NodeIdentity;
use hetal_runtime::{
    Node, PeerEvent, ReconnectSettings, SendError, StandaloneNode, TransportError,
};
use tokio::sync::broadcast;

use super::common::*;

const T: Duration = Duration::from_secs(5);

/// Waits up to `within` for an event matching `wanted`, skipping others.
async fn wait_for(
    events: &mut broadcast::Receiver<PeerEvent>,
    within: Duration,
    wanted: impl Fn(&PeerEvent) -> bool,
) -> PeerEvent {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await {
                Ok(event) if wanted(&event) => return event,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("event channel closed"),
            }
        }
    })
    .await
    .expect("expected event did not arrive in time")
}

fn fast_redial(
    identity: NodeIdentity,
    listen: SocketAddr,
    attempts: u32,
) -> hetal_runtime::NodeConfig {
    let mut cfg = config(identity, &["a", "b"]);
    cfg.listen = listen;
    cfg.transport.connect_timeout = Duration::from_millis(800);
    cfg.transport.reconnect = ReconnectSettings {
        max_attempts: attempts,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(800),
        jitter: 0.5,
    };
    cfg
}

/// Starts a node at `addr`, retrying while the previous owner of the port lets it go.
async fn start_at(cfg: hetal_runtime::NodeConfig) -> Node {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Node::start(cfg.clone()).await {
            Ok(node) => return node,
            Err(e) if Instant::now() < deadline => {
                eprintln!("port not free yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot restart on the same port: {e}"),
        }
    }
}

/// Starts a node with its own runtime on a plain thread, so that dropping it kills everything
/// it runs at once, as a crash would: its peers get no close, only silence.
fn start_killable(cfg: hetal_runtime::NodeConfig) -> StandaloneNode {
    std::thread::spawn(move || Node::start_standalone(cfg))
        .join()
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_peer_is_redialled_and_messages_flow_again() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let a = Node::start(fast_redial(ids[0].clone(), loopback(), 30))
        .await
        .unwrap();
    let b = start_killable(fast_redial(ids[1].clone(), loopback(), 30));
    let b_addr = b.node().local_addr().unwrap();
    a.set_peer_addr(&name("b"), b_addr).unwrap();
    b.node()
        .set_peer_addr(a.name(), a.local_addr().unwrap())
        .unwrap();
    b.node().register("echo", Echo::new("b")).unwrap();
    let mut events = a.events();
    let ping = a.remote_ref::<Ping>(&name("b"), "echo");
    assert_eq!(ping.ask(Ping(1), T).await.unwrap().served_by, "b");

    // An ask whose handler takes a minute is pending when b dies.
    let sleeper = a.remote_ref::<Sleep>(&name("b"), "echo");
    let pending = tokio::spawn(async move {
        let started = Instant::now();
        let result = sleeper.ask(Sleep(60_000), Duration::from_secs(60)).await;
        (result, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(b); // killed: its runtime stops at once and nothing is closed gracefully
    let (result, waited) = pending.await.unwrap();
    assert!(
        matches!(
            result,
            Err(SendError::Transport(TransportError::Connection { .. }))
        ),
        "{result:?}"
    );
    // Silence is noticed by the idle timeout, not by the ask's minute.
    let idle = test_settings().idle_timeout;
    assert!(
        waited < idle + Duration::from_secs(3),
        "pending ask took {waited:?}"
    );
    wait_for(
        &mut events,
        T,
        |e| matches!(e, PeerEvent::Lost { peer, .. } if peer.as_str() == "b"),
    )
    .await;

    // b comes back with the same identity on the same port; a redials it without being asked.
    let b2 = start_at(fast_redial(ids[1].clone(), b_addr, 30)).await;
    b2.set_peer_addr(a.name(), a.local_addr().unwrap()).unwrap();
    b2.register("echo", Echo::new("b2")).unwrap();
    wait_for(
        &mut events,
        Duration::from_secs(15),
        |e| matches!(e, PeerEvent::Connected { peer } if peer.as_str() == "b"),
    )
    .await;
    let pong = ping.ask(Ping(2), T).await.unwrap();
    assert_eq!((pong.value, pong.served_by.as_str()), (3, "b2"));
    // And the other way round.
    a.register("echo", Echo::new("a")).unwrap();
    let back = b2.remote_ref::<Ping>(&name("a"), "echo");
    assert_eq!(back.ask(Ping(5), T).await.unwrap().served_by, "a");
    b2.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redialling_gives_up_after_the_configured_attempts() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let a = Node::start(fast_redial(ids[0].clone(), loopback(), 2))
        .await
        .unwrap();
    let b = Node::start(fast_redial(ids[1].clone(), loopback(), 2))
        .await
        .unwrap();
    a.set_peer_addr(b.name(), b.local_addr().unwrap()).unwrap();
    let mut events = a.events();
    a.connect(b.name()).await.unwrap();
    let started = Instant::now();
    drop(b);
    wait_for(&mut events, T, |e| matches!(e, PeerEvent::Lost { .. })).await;
    let gave_up = wait_for(&mut events, Duration::from_secs(10), |e| {
        matches!(e, PeerEvent::Unreachable { .. })
    })
    .await;
    assert!(
        matches!(gave_up, PeerEvent::Unreachable { ref peer, attempts: 2, .. } if peer.as_str() == "b"),
        "{gave_up:?}"
    );
    // Two attempts: at least the first pause (half of 100 ms with jitter) and at most two
    // pauses plus two connect timeouts, with slack for a loaded machine.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_secs(8),
        "{took:?}"
    );
    a.shutdown().await;
}
