//! Sending: one stream per message, the answer read on the same stream.

use std::sync::Arc;

use quinn::VarInt;

use super::Inner;
use crate::message::Payload;
use crate::name::NodeName;
use crate::transport::stream::{read_frame, wait_delivered, write_frame};
use crate::transport::{Answer, Delivery, Outbound, SendOptions, TransportError, codes};
use crate::wire::codec;
use crate::wire::{Envelope, FrameKind, RemoteFailure, WireError};

impl Inner {
    /// Sends one message on a stream of its own and reads the answer on the same stream. On any
    /// failure the stream is reset, so the peer never mistakes a cut-off frame for a whole one.
    pub(super) async fn send_message(
        self: Arc<Self>,
        peer: &NodeName,
        msg: Outbound,
        options: SendOptions,
    ) -> Result<Answer, TransportError> {
        let link = self.link(peer).await?;
        let _in_flight = link.inflight.enter();
        let request_id = self.next_request_id();
        let envelope = codec::encode(&Envelope {
            actor: msg.actor,
            message: msg.message,
            meta: msg.payload.meta.to_vec(),
        })
        .map_err(TransportError::Encode)?;
        let conn_err = |error| TransportError::Connection {
            peer: peer.clone(),
            error,
        };
        let ctx = self.ctx(peer, options.progress.as_ref(), request_id);
        let kind = match msg.delivery {
            Delivery::Tell => FrameKind::Tell,
            Delivery::Ask => FrameKind::Ask,
            Delivery::Cast => {
                let mut send = link.conn.open_uni().await.map_err(conn_err)?;
                let result = async {
                    write_frame(
                        &mut send,
                        FrameKind::Cast,
                        &envelope,
                        &msg.payload.bulk,
                        &ctx,
                    )
                    .await?;
                    wait_delivered(&mut send, &ctx).await
                }
                .await;
                if result.is_err() {
                    let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
                }
                return result.map(|()| Answer::Ack);
            }
        };
        let (mut send, mut recv) = link.conn.open_bi().await.map_err(conn_err)?;
        let result = async {
            write_frame(&mut send, kind, &envelope, &msg.payload.bulk, &ctx).await?;
            let first_byte = options
                .reply_timeout
                .unwrap_or(self.settings.first_byte_timeout);
            let mut reply_ctx = self.ctx(peer, options.progress.as_ref(), request_id);
            let frame = read_frame(&mut recv, first_byte, &mut reply_ctx).await?;
            let wire = |error| TransportError::Wire {
                peer: peer.clone(),
                error,
            };
            let limit = self.settings.limits.max_meta_bytes.into();
            match (kind, frame.header.kind) {
                (FrameKind::Tell, FrameKind::Ack) => Ok(Answer::Ack),
                (FrameKind::Ask, FrameKind::Reply) => {
                    let envelope: Envelope =
                        codec::decode(&frame.meta, limit).map_err(|e| wire(e.into()))?;
                    Ok(Answer::Reply {
                        message: envelope.message,
                        payload: Payload {
                            meta: envelope.meta.into(),
                            bulk: frame.bulk,
                        },
                    })
                }
                (_, FrameKind::Failure) => {
                    let failure: RemoteFailure =
                        codec::decode(&frame.meta, limit).map_err(|e| wire(e.into()))?;
                    Err(TransportError::Remote {
                        peer: peer.clone(),
                        failure,
                    })
                }
                (_, got) => Err(wire(WireError::UnexpectedKind {
                    expected: if kind == FrameKind::Tell {
                        "ack"
                    } else {
                        "reply"
                    },
                    got,
                })),
            }
        }
        .await;
        if let Err(e) = &result {
            let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
            let _ = recv.stop(VarInt::from_u32(codes::CANCELLED));
            if let TransportError::Wire { error, .. } = e {
                self.violation(peer, &link.conn, error);
            }
        }
        result
    }
}
