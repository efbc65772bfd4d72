//! Integration tests of the runtime over loopback QUIC (and the in-process transport). Every test
//! uses ephemeral ports on 127.0.0.1 and bounded timeouts.

#[path = "node/bulk.rs"]
mod bulk;
#[path = "node/common.rs"]
mod common;
#[path = "node/config.rs"]
mod config;
#[path = "node/frames.rs"]
mod frames;
#[path = "node/messaging.rs"]
mod messaging;
#[path = "node/reconnect.rs"]
mod reconnect;
#[path = "node/shutdown.rs"]
mod shutdown;
#[path = "node/tls.rs"]
mod tls;
