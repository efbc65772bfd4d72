//! Graceful shutdown with messages in flight: every message whose tell was acknowledged has been
//! handled, and every other tell ends with an error rather than hanging.

use std::sync::Arc;
use std::time::Duration;

use hetal_runtime::Node;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_loses_no_acknowledged_message() {
    let (_ca, ids) = cluster(&["a", "b"]);
    let nodes = start_all(ids, &[]).await;
    let (a, b): (Node, Node) = (nodes[0].clone(), nodes[1].clone());
    let mut echo = Echo::new("b");
    echo.note_delay = Duration::from_millis(5);
    let seen = echo.seen.clone();
    b.register("echo", echo).unwrap();
    a.connect(b.name()).await.unwrap();

    let notes = a.remote_ref::<Note>(b.name(), "echo");
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let notes = notes.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i / 2)).await;
            (i, notes.tell(Note(i)).await)
        }));
    }
    tokio::time::sleep(Duration::from_millis(40)).await;
    b.shutdown().await;

    let mut acknowledged = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (i, result) = tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("a tell hung across shutdown")
            .unwrap();
        match result {
            Ok(()) => acknowledged.push(i),
            Err(_) => failed += 1,
        }
    }
    let seen = Arc::try_unwrap(seen).unwrap().into_inner().unwrap();
    for i in &acknowledged {
        assert!(
            seen.contains(i),
            "note {i} was acknowledged but never handled"
        );
    }
    assert!(
        !acknowledged.is_empty(),
        "nothing was delivered before shutdown"
    );
    assert!(
        failed > 0,
        "shutdown came after every message; the test proves nothing"
    );
    a.shutdown().await;
}
