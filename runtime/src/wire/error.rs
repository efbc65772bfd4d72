//! Errors in frames received from a peer. Each one makes the receiver disconnect that peer.

use super::CodecError;

/// A frame broke the wire protocol. The peer that sent it is disconnected; the node stays up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The frame does not start with [`super::MAGIC`]: not a hetal peer, or a desynchronised one.
    #[error("bad magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The peer speaks a protocol version this node does not.
    #[error("unsupported protocol version {0} (this node speaks {ours})", ours = super::PROTOCOL_VERSION)]
    UnsupportedVersion(u16),
    /// The message kind byte is not one this version defines.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// Flag bits this version does not define are set.
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    /// The envelope is longer than the configured limit.
    #[error("envelope of {len} bytes exceeds the limit of {max}")]
    MetaTooLarge {
        /// Announced length.
        len: u32,
        /// Configured limit.
        max: u32,
    },
    /// The bulk payload is longer than the configured limit.
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    BulkTooLarge {
        /// Announced length.
        len: u64,
        /// Configured limit.
        max: u64,
    },
    /// The stream ended before the announced number of bytes arrived.
    #[error("truncated frame: {section} expected {expected} bytes, got {got}")]
    Truncated {
        /// Which part was short: header, envelope or payload.
        section: &'static str,
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// Bytes followed the end of the frame on a stream that carries exactly one frame.
    #[error("trailing bytes after the frame")]
    TrailingBytes,
    /// A frame of this kind is not allowed here (e.g. a reply on a request stream).
    #[error("unexpected frame kind {got:?} (expected {expected})")]
    UnexpectedKind {
        /// What the receiver was waiting for.
        expected: &'static str,
        /// What arrived.
        got: super::FrameKind,
    },
    /// The envelope could not be decoded.
    #[error("bad envelope: {0}")]
    Envelope(#[from] CodecError),
}
