//! How a message that carries ciphertexts travels: a small serde body (shapes, indices, numbers)
//! in the frame's meta part and the serialized ciphertexts, keys and parameters as blobs
//! concatenated in the bulk part. Bodies refer to blobs by index, so no ciphertext ever passes
//! through serde.

use bytes::Bytes;
use hetal_runtime::wire::codec;
use hetal_runtime::{Bulk, CodecError, Message, Payload};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Most blobs one message may carry (bounds the length table before anything is allocated).
pub const MAX_BLOBS: usize = 1 << 20;

/// The serde part of a message that has blobs. `NAME` is the message's wire name.
pub trait Body: Serialize + DeserializeOwned + Send + 'static {
    /// Wire name of the message carrying this body.
    const NAME: &'static str;
}

/// A message: a body plus the blobs its indices refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<T> {
    /// Structured fields.
    pub body: T,
    /// Serialized ciphertexts / keys / parameters, referred to by index from `body`.
    pub blobs: Vec<Bytes>,
}

impl<T> Envelope<T> {
    /// The blob at `index`, or a protocol error naming the message.
    pub fn blob(&self, index: u32) -> Result<&Bytes, CodecError> {
        self.blobs.get(index as usize).ok_or_else(|| {
            CodecError::Shape(format!(
                "blob index {index} out of range ({} blobs)",
                self.blobs.len()
            ))
        })
    }

    /// Total blob bytes.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.len() as u64).sum()
    }
}

/// Collects blobs while a body is built and hands out their indices.
#[derive(Debug, Default)]
pub struct BlobSink {
    blobs: Vec<Bytes>,
}

impl BlobSink {
    /// Adds a blob and returns its index.
    pub fn push(&mut self, blob: impl Into<Bytes>) -> u32 {
        self.blobs.push(blob.into());
        (self.blobs.len() - 1) as u32
    }

    /// Wraps `body` with the collected blobs.
    pub fn seal<T>(self, body: T) -> Envelope<T> {
        Envelope {
            body,
            blobs: self.blobs,
        }
    }
}

impl<T: Body> Message for Envelope<T> {
    const NAME: &'static str = T::NAME;

    fn into_payload(self) -> Result<Payload, CodecError> {
        let lens: Vec<u64> = self.blobs.iter().map(|b| b.len() as u64).collect();
        let meta = codec::encode(&(&self.body, &lens))?;
        // The blobs go to the transport as they are: no joined copy.
        Ok(Payload {
            meta: Bytes::from(meta),
            bulk: Bulk::from_pieces(self.blobs),
        })
    }

    fn from_payload(payload: Payload) -> Result<Self, CodecError> {
        let (body, lens): (T, Vec<u64>) = payload.meta_as()?;
        if lens.len() > MAX_BLOBS {
            return Err(CodecError::Shape(format!(
                "{}: {} blobs exceed the limit of {MAX_BLOBS}",
                T::NAME,
                lens.len()
            )));
        }
        let total = lens
            .iter()
            .try_fold(0u64, |acc, &l| acc.checked_add(l))
            .ok_or_else(|| CodecError::Shape(format!("{}: blob lengths overflow", T::NAME)))?;
        if total != payload.bulk.len() as u64 {
            return Err(CodecError::Shape(format!(
                "{}: blob lengths add up to {total} bytes, the bulk part has {}",
                T::NAME,
                payload.bulk.len()
            )));
        }
        // Each blob is cut from the received pieces: without copying when it lies in one piece
        // (the ckks decoders need one slice), copied once otherwise, each piece freed once copied.
        // Each length is at most the bulk length, checked above.
        let blobs = payload
            .bulk
            .into_contiguous_parts(lens.iter().map(|&len| len as usize))?;
        Ok(Envelope { body, blobs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Probe {
        first: u32,
        second: u32,
    }
    impl Body for Probe {
        const NAME: &'static str = "hetal.actors.test.Probe/1";
    }

    #[test]
    fn round_trips_and_refuses_inconsistent_lengths() {
        let mut sink = BlobSink::default();
        let first = sink.push(vec![1u8, 2, 3]);
        let second = sink.push(Vec::<u8>::new());
        let msg = sink.seal(Probe { first, second });
        let payload = msg.clone().into_payload().unwrap();
        let back = Envelope::<Probe>::from_payload(payload.clone()).unwrap();
        assert_eq!(back, msg);
        assert_eq!(back.blob(back.body.first).unwrap().as_ref(), &[1, 2, 3]);
        assert!(back.blob(7).is_err());

        let mut short = payload.clone();
        short.bulk = short.bulk.slice(0..2).unwrap();
        assert!(Envelope::<Probe>::from_payload(short).is_err());
        let mut long = payload;
        long.bulk = Bytes::from(vec![0u8; 9]).into();
        assert!(Envelope::<Probe>::from_payload(long).is_err());
    }
}
