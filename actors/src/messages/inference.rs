//! Encrypted inference after training: the client has the evaluator classify features it
//! encrypted, with the trained weights still encrypted, and alone decrypts the logits.
//!
//! ```text
//! client host ──EncryptedModelQuery──▶ client actor      (same node only)
//!             ◀── FinalModel (as the trainer sent it, encrypted)
//! client ──Classify{encrypted weights, encrypted features}──▶ evaluator
//!        ◀── EncryptedLogits (one DiagABT per block, no bootstrap)
//! ```

use bytes::Bytes;
use hetal_learn::pack::BlockMatrix;
use hetal_runtime::{Request, serde_message};
use serde::{Deserialize, Serialize};

use super::{BatchBody, BlobSink, Body, Envelope, FinalModel};
use crate::error::{ActorError, Result};

/// Wire name of [`EncryptedModelQuery`].
pub const ENCRYPTED_MODEL_QUERY: &str = "hetal.actors.EncryptedModelQuery/1";
/// Wire name of [`Classify`].
pub const CLASSIFY: &str = "hetal.actors.Classify/1";
/// Wire name of [`EncryptedLogits`].
pub const ENCRYPTED_LOGITS: &str = "hetal.actors.EncryptedLogits/1";

/// Client host → its own client actor (request, answered by the [`FinalModel`] the trainer
/// sent, still encrypted): the weights to run encrypted inference with. The client actor
/// refuses it from any other node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedModelQuery;
serde_message!(EncryptedModelQuery, ENCRYPTED_MODEL_QUERY => FinalModel);

/// Body of [`Classify`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyBody {
    /// The trained weights, encrypted (stored divided by `weight_scale`, as the trainer sent
    /// them in its [`FinalModel`]).
    pub weights: BlockMatrix<u32>,
    /// The public factor the weights are divided by.
    pub weight_scale: f64,
    /// Encrypted feature blocks to classify (no labels).
    pub batches: Vec<BatchBody>,
}
impl Body for ClassifyBody {
    const NAME: &'static str = CLASSIFY;
}
/// Client → evaluator (request, answered by [`EncryptedLogits`]): classify these encrypted
/// features with these encrypted weights. The evaluator refuses it from any other party and
/// before the client has uploaded its job (which brings the evaluation keys).
pub type Classify = Envelope<ClassifyBody>;
impl Request for Classify {
    type Reply = EncryptedLogits;
}

/// Body of [`EncryptedLogits`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptedLogitsBody {
    /// Encrypted logits `X̂·Wᵀ` (the weight scale folded back in), one block matrix per batch
    /// of the request, in order.
    pub logits: Vec<BlockMatrix<u32>>,
}
impl Body for EncryptedLogitsBody {
    const NAME: &'static str = ENCRYPTED_LOGITS;
}
/// Evaluator → client: the answer to [`Classify`]; only the client can decrypt it.
pub type EncryptedLogits = Envelope<EncryptedLogitsBody>;

/// The blocks of `weights` (indices into `from`) copied into `sink` (the bytes are shared, not
/// copied), for forwarding ciphertexts received in one message inside another.
pub fn forward_matrix(
    weights: &BlockMatrix<u32>,
    from: &[Bytes],
    sink: &mut BlobSink,
) -> Result<BlockMatrix<u32>> {
    let blocks = weights
        .blocks()
        .iter()
        .map(|&i| {
            from.get(i as usize)
                .map(|b| sink.push(b.clone()))
                .ok_or_else(|| {
                    ActorError::Protocol(format!(
                        "blob index {i} out of range ({} blobs)",
                        from.len()
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BlockMatrix::from_blocks(
        weights.rows(),
        weights.cols(),
        weights.unit(),
        weights.layout(),
        blocks,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hetal_learn::pack::{Layout, UnitShape};
    use hetal_runtime::Message;

    #[test]
    fn forwarding_keeps_the_bytes_and_refuses_dangling_indices() {
        let unit = UnitShape::new(4, 4).unwrap();
        let m = BlockMatrix::from_blocks(3, 4, unit, Layout::RowTiled { period: 4 }, vec![1u32])
            .unwrap();
        let from = vec![Bytes::from_static(b"a"), Bytes::from_static(b"weights")];
        let mut sink = BlobSink::default();
        sink.push(Bytes::from_static(b"first"));
        let moved = forward_matrix(&m, &from, &mut sink).unwrap();
        let msg = sink.seal(ClassifyBody {
            weights: moved,
            weight_scale: 8.0,
            batches: vec![],
        });
        assert_eq!(
            msg.blob(msg.body.weights.blocks()[0]).unwrap().as_ref(),
            b"weights"
        );
        let back = Classify::from_payload(msg.clone().into_payload().unwrap()).unwrap();
        assert_eq!(back, msg);
        assert!(forward_matrix(&m, &from[..1], &mut BlobSink::default()).is_err());
    }
}
