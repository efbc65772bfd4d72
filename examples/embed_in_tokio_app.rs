//! A host application that already runs its own tokio runtime embeds two hetal nodes, registers
//! an actor on one, and exchanges tell and ask messages with it from the other over QUIC with
//! mutual TLS (loopback, certificates generated in memory).
//!
//! ```sh
//! cargo run --example embed_in_tokio_app
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hetal::runtime::identity::{Validity, generate_cluster};
use hetal::runtime::{
    Actor, Handle, Handlers, MessageContext, Node, NodeConfig, NodeName, PeerEvent, Rejection,
    Respond, Response, serde_message,
};
use serde::{Deserialize, Serialize};

/// One-way: add to the counter.
#[derive(Debug, Serialize, Deserialize)]
struct Add(u64);
serde_message!(Add, "example.Add/1");

/// Request: what is the total?
#[derive(Debug, Serialize, Deserialize)]
struct Total;
/// Reply to [`Total`].
#[derive(Debug, Serialize, Deserialize)]
struct TotalIs(u64);
serde_message!(Total, "example.Total/1" => TotalIs);
serde_message!(TotalIs, "example.TotalIs/1");

/// A counter that accepts additions only from the node named "trainer".
struct Counter {
    total: u64,
    handled: Arc<AtomicU64>,
}

impl Actor for Counter {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.tell::<Add>().ask::<Total>();
    }
}

impl Handle<Add> for Counter {
    fn handle(&mut self, msg: Add, ctx: &MessageContext) -> Result<(), Rejection> {
        if ctx.sender().as_str() != "trainer" {
            return Err(Rejection::new(format!("{} may not add", ctx.sender())));
        }
        self.total += msg.0;
        self.handled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Respond<Total> for Counter {
    fn respond(&mut self, _: Total, _: &MessageContext) -> Response<TotalIs> {
        Response::ok(TotalIs(self.total))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The host's own work keeps running next to the nodes.
    let heartbeat = tokio::spawn(async {
        let mut ticks = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            ticks += 1;
            if ticks == u64::MAX {
                return ticks;
            }
        }
    });

    let trainer = NodeName::new("trainer")?;
    let worker = NodeName::new("worker-1")?;
    let (_ca, identities) =
        generate_cluster(&[trainer.clone(), worker.clone()], Validity::default())?;
    let listen = "127.0.0.1:0".parse()?;
    let mut nodes = Vec::new();
    for identity in identities {
        let config = NodeConfig::new(identity, listen)
            .with_peer(trainer.clone(), None)
            .with_peer(worker.clone(), None);
        // Started inside the host's runtime: the node's connections run on it, its actors on
        // their own thread.
        nodes.push(Node::start(config).await?);
    }
    let (trainer_node, worker_node) = (&nodes[0], &nodes[1]);
    let worker_addr = worker_node
        .local_addr()
        .ok_or_else(|| anyhow::anyhow!("worker has no address"))?;
    trainer_node.set_peer_addr(&worker, worker_addr)?;

    let handled = Arc::new(AtomicU64::new(0));
    worker_node.register(
        "counter",
        Counter {
            total: 0,
            handled: handled.clone(),
        },
    )?;
    let mut events = trainer_node.events();

    let add = trainer_node.remote_ref::<Add>(&worker, "counter");
    for i in 1..=10 {
        add.tell(Add(i)).await?;
    }
    let total = trainer_node
        .remote_ref::<Total>(&worker, "counter")
        .ask(Total, Duration::from_secs(5))
        .await?;
    println!("trainer -> worker-1: 10 tells handled, total = {}", total.0);
    if let Ok(PeerEvent::Connected { peer }) = events.try_recv() {
        println!("trainer saw peer {peer} connect");
    }

    // The worker's own node may ask the counter locally, but may not add: the actor checks the
    // authenticated sender.
    let refused = worker_node
        .remote_ref::<Add>(&worker, "counter")
        .tell(Add(100))
        .await;
    println!(
        "worker-1 -> its own counter: {}",
        match refused {
            Ok(()) => "accepted".to_owned(),
            Err(e) => format!("refused ({e})"),
        }
    );
    anyhow::ensure!(total.0 == 55 && handled.load(Ordering::Relaxed) == 10);

    for node in &nodes {
        node.shutdown().await;
    }
    heartbeat.abort();
    println!("both nodes shut down; the host runtime is still running");
    Ok(())
}
