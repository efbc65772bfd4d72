//! Handshake refusals: another CA, an expired certificate, a wrong or unknown node name, a wrong
//! ALPN. Each refused attempt must fail, and the node must keep serving genuine peers.

use std::time::{Duration, SystemTime};

use hetal_runtime::identity::{ClusterCa, NodeIdentity, Validity, tls};
use hetal_runtime::{Node, NodeError, TransportError};
use rustls_pki_types::pem::PemObject;

use super::common::*;

/// Whether `b` refuses a client presenting `identity` with `alpn`.
async fn refused(identity: &NodeIdentity, alpn: &[u8], b: &Node) -> bool {
    match raw_connect(identity, alpn, b.name(), b.local_addr().unwrap()).await {
        Err(_) => true,
        // TLS 1.3: the client may finish its side before the server has checked the client
        // certificate; a refused client then sees the connection closed on first use.
        Ok(conn) => raw_ping(&conn, 1).await.is_err(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_with_bad_identities_are_refused() {
    let (ca, ids) = cluster(&["a", "b"]);
    let b = Node::start(config(ids[1].clone(), &["a", "b"]))
        .await
        .unwrap();
    b.register("echo", Echo::new("b")).unwrap();
    let a_good = ids[0].clone();

    // Control: the genuine identity with the right ALPN is served.
    let conn = raw_connect(&a_good, tls::ALPN, b.name(), b.local_addr().unwrap())
        .await
        .unwrap();
    assert_eq!(raw_ping(&conn, 1).await, Ok(2));

    // A certificate named "a" but issued by another CA.
    let other_ca = ClusterCa::generate(Validity::default()).unwrap();
    let foreign = other_ca.issue(&name("a"), Validity::default()).unwrap();
    let foreign_presented = NodeIdentity::from_parts(
        name("a"),
        foreign.cert_der().clone(),
        rustls_pki_types::PrivateKeyDer::from_pem_slice(foreign.key_pem().as_bytes()).unwrap(),
        ca.cert_der(),
    );
    assert!(
        refused(&foreign_presented, tls::ALPN, &b).await,
        "foreign CA accepted"
    );

    // An expired certificate from the right CA.
    let year = Duration::from_secs(365 * 86_400);
    let expired_validity = Validity {
        not_before: SystemTime::now() - 3 * year,
        not_after: SystemTime::now() - 2 * year,
    };
    let expired = ca.issue(&name("a"), expired_validity).unwrap();
    assert!(
        refused(&expired, tls::ALPN, &b).await,
        "expired certificate accepted"
    );

    // A valid certificate for a node b does not know.
    let mallory = ca.issue(&name("mallory"), Validity::default()).unwrap();
    assert!(
        refused(&mallory, tls::ALPN, &b).await,
        "unknown node accepted"
    );

    // The right identity speaking another protocol version.
    assert!(
        refused(&a_good, b"hetal/2", &b).await,
        "wrong ALPN accepted"
    );

    // The node still serves genuine peers afterwards.
    let conn = raw_connect(&a_good, tls::ALPN, b.name(), b.local_addr().unwrap())
        .await
        .unwrap();
    assert_eq!(raw_ping(&conn, 41).await, Ok(42));
    conn.close(0u32.into(), b"done");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_checks_the_server_name_and_ca() {
    let (ca, ids) = cluster(&["a", "b", "c"]);
    let nodes = start_all(ids, &[]).await;
    let (a, c) = (&nodes[0], &nodes[2]);
    // a dials "b" but reaches c, whose certificate names c: refused by a.
    a.set_peer_addr(&name("b"), c.local_addr().unwrap())
        .unwrap();
    let err = a.connect(&name("b")).await;
    assert!(
        matches!(
            err,
            Err(NodeError::Transport(TransportError::Connection { .. }))
        ),
        "{err:?}"
    );

    // A server whose certificate (named "d", a known peer) comes from another CA.
    let other_ca = ClusterCa::generate(Validity::default()).unwrap();
    let mut foreign_d = config(
        other_ca.issue(&name("d"), Validity::default()).unwrap(),
        &["a"],
    );
    foreign_d.identity = NodeIdentity::from_parts(
        name("d"),
        foreign_d.identity.cert_der().clone(),
        rustls_pki_types::PrivateKeyDer::from_pem_slice(foreign_d.identity.key_pem().as_bytes())
            .unwrap(),
        ca.cert_der(),
    );
    let d = Node::start(foreign_d).await.unwrap();
    let mut a_cfg = config(ca.issue(&name("a2"), Validity::default()).unwrap(), &["d"]);
    a_cfg.peers[0].addr = d.local_addr();
    let a2 = Node::start(a_cfg).await.unwrap();
    let err = a2.connect(&name("d")).await;
    assert!(
        matches!(
            err,
            Err(NodeError::Transport(TransportError::Connection { .. }))
        ),
        "{err:?}"
    );
    for n in nodes.iter().chain([&d, &a2]) {
        n.shutdown().await;
    }
}
