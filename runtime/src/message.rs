//! What a message is on the wire: a name, a small serde part and an optional bulk part.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::Bulk;
use crate::wire::codec::{self, CodecError};

/// A message as bytes: `meta` goes through the codec, `bulk` travels raw (e.g. ciphertext limbs
/// as little-endian words) and is streamed in chunks. Both are cheap to clone. The bulk part is
/// a list of pieces: a sender hands its buffers over without joining them, and a receiver gets
/// the pieces QUIC delivered without a reassembly copy (read them with [`Bulk::reader`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    /// Small structured fields, encoded with [`crate::wire::codec`].
    pub meta: Bytes,
    /// Large opaque bytes, never passed through serde.
    pub bulk: Bulk,
}

impl Payload {
    /// A payload whose meta part is `value` encoded with the codec, and no bulk.
    pub fn from_meta<T: Serialize + ?Sized>(value: &T) -> Result<Self, CodecError> {
        Ok(Self {
            meta: Bytes::from(codec::encode(value)?),
            bulk: Bulk::new(),
        })
    }

    /// Attaches bulk bytes (one buffer, or pieces as a [`Bulk`]).
    pub fn with_bulk(mut self, bulk: impl Into<Bulk>) -> Self {
        self.bulk = bulk.into();
        self
    }

    /// Decodes the meta part as `T` (bounded by the meta length itself).
    pub fn meta_as<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        codec::decode(&self.meta, self.meta.len() as u64)
    }

    /// Fails if the payload carries bulk bytes (for message types that have none).
    pub fn expect_no_bulk(&self, message: &str) -> Result<(), CodecError> {
        if self.bulk.is_empty() {
            Ok(())
        } else {
            Err(CodecError::Shape(format!(
                "{message} carries no bulk data, got {} bytes",
                self.bulk.len()
            )))
        }
    }

    /// Total bytes (meta + bulk).
    pub fn len(&self) -> u64 {
        (self.meta.len() + self.bulk.len()) as u64
    }

    /// Whether both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty() && self.bulk.is_empty()
    }
}

/// A type that can be sent to an actor. It names itself on the wire and converts itself to and
/// from a [`Payload`]; the name must be stable and unique in the cluster (e.g.
/// `"hetal.worker.ComputeShard/1"`).
///
/// Plain serde types can use [`crate::serde_message!`]. Types that carry ciphertext put the
/// small fields in `meta` and the limbs in `bulk`, and decode the bulk part from its pieces
/// ([`Bulk::reader`]) or, where a decoder needs one slice, from [`Bulk::contiguous`].
pub trait Message: Send + Sized + 'static {
    /// Wire name of this message type.
    const NAME: &'static str;
    /// Converts the message into bytes for sending.
    fn into_payload(self) -> Result<Payload, CodecError>;
    /// Rebuilds the message from received bytes. Input is untrusted: validate, never panic.
    fn from_payload(payload: Payload) -> Result<Self, CodecError>;
}

/// A message that expects an answer (sent with `ask`).
pub trait Request: Message {
    /// The answer's type.
    type Reply: Message;
}

/// Implements [`Message`] for a serde type with no bulk part:
/// `serde_message!(Ping, "example.Ping");`, optionally `serde_message!(Ping, "example.Ping" => Pong)`
/// to also make it a [`Request`] answered by `Pong`.
#[macro_export]
macro_rules! serde_message {
    ($ty:ty, $name:expr) => {
        impl $crate::Message for $ty {
            const NAME: &'static str = $name;
            fn into_payload(self) -> ::std::result::Result<$crate::Payload, $crate::CodecError> {
                $crate::Payload::from_meta(&self)
            }
            fn from_payload(
                payload: $crate::Payload,
            ) -> ::std::result::Result<Self, $crate::CodecError> {
                payload.expect_no_bulk($name)?;
                payload.meta_as()
            }
        }
    };
    ($ty:ty, $name:expr => $reply:ty) => {
        $crate::serde_message!($ty, $name);
        impl $crate::Request for $ty {
            type Reply = $reply;
        }
    };
}
