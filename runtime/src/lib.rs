//! # hetal-runtime — the layer that makes a local actor reachable from another node
//!
//! Identities and certificates, the QUIC transport with mutual TLS, the wire format, a registry of
//! named actors and typed remote references. Payloads are opaque bytes: this crate knows nothing
//! of CKKS.
