//! Integration tests of the runtime over loopback QUIC (and the in-process transport). Every test
//! uses ephemeral ports on 127.0.0.1 and bounded timeouts.

#[path = "node/common.rs"]
mod common;
#[path = "node/messaging.rs"]
mod messaging;
