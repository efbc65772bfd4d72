//! Block matrices and mini-batches on the wire: the same shape with blob indices in place of
//! ciphertexts.

use bytes::Bytes;
use hetal_learn::pack::BlockMatrix;
use hetal_learn::train::EncryptedBatch;
use serde::{Deserialize, Serialize};

use super::BlobSink;
use crate::backend::{ServerBackend, blob};
use crate::error::{ActorError, Result};

/// An encrypted mini-batch with blob indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchBody {
    /// Features (with the bias column).
    pub x: BlockMatrix<u32>,
    /// One-hot labels (training batches only).
    pub y: Option<BlockMatrix<u32>>,
    /// Real rows.
    pub rows: u64,
}

/// Serializes every block of `m` into `sink`.
pub fn encode_matrix<B: ServerBackend>(
    backend: &B,
    m: &BlockMatrix<B::Ct>,
    sink: &mut BlobSink,
) -> Result<BlockMatrix<u32>> {
    let blocks = m
        .blocks()
        .iter()
        .map(|c| Ok(sink.push(backend.encode_ct(c)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(BlockMatrix::from_blocks(
        m.rows(),
        m.cols(),
        m.unit(),
        m.layout(),
        blocks,
    )?)
}

/// Deserializes every block of `m` from `blobs`.
pub fn decode_matrix<B: ServerBackend>(
    backend: &B,
    m: &BlockMatrix<u32>,
    blobs: &[Bytes],
) -> Result<BlockMatrix<B::Ct>> {
    let blocks = m
        .blocks()
        .iter()
        .map(|&i| backend.decode_ct(blob(blobs, i)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(BlockMatrix::from_blocks(
        m.rows(),
        m.cols(),
        m.unit(),
        m.layout(),
        blocks,
    )?)
}

/// Serializes a mini-batch.
pub fn encode_batch<B: ServerBackend>(
    backend: &B,
    batch: &EncryptedBatch<B::Ct>,
    sink: &mut BlobSink,
) -> Result<BatchBody> {
    Ok(BatchBody {
        x: encode_matrix(backend, &batch.x, sink)?,
        y: batch
            .y
            .as_ref()
            .map(|y| encode_matrix(backend, y, sink))
            .transpose()?,
        rows: batch.rows as u64,
    })
}

/// Deserializes a mini-batch.
pub fn decode_batch<B: ServerBackend>(
    backend: &B,
    body: &BatchBody,
    blobs: &[Bytes],
) -> Result<EncryptedBatch<B::Ct>> {
    let rows = usize::try_from(body.rows)
        .ok()
        .filter(|&r| r > 0 && r <= body.x.rows())
        .ok_or_else(|| {
            ActorError::Protocol(format!(
                "batch of {} rows in a {}-row block",
                body.rows,
                body.x.rows()
            ))
        })?;
    Ok(EncryptedBatch {
        x: decode_matrix(backend, &body.x, blobs)?,
        y: body
            .y
            .as_ref()
            .map(|y| decode_matrix(backend, y, blobs))
            .transpose()?,
        rows,
    })
}
