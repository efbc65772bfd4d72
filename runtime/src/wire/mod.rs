//! The wire format: one frame per stream direction, made of our own fixed, versioned header, a
//! small codec-encoded envelope (`meta`), and raw bulk bytes that never pass through serde (held
//! as the pieces they arrived in: [`Bulk`]).

mod bulk;
pub mod codec;
mod envelope;
mod error;
mod header;
pub mod limbs;

pub use bulk::{Bulk, BulkReader};
pub use codec::CodecError;
pub use envelope::{Envelope, FailureCode, RemoteFailure};
pub use error::WireError;
pub use header::{
    FrameHeader, FrameKind, FrameLimits, HEADER_LEN, MAGIC, PROTOCOL_VERSION, decode_frame,
};
