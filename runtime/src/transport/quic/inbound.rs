//! Serving: the streams a peer opens, each read, dispatched to the node and answered.

use std::sync::Arc;

use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

use super::{BUDGET_UNIT, Inner};
use crate::message::Payload;
use crate::name::NodeName;
use crate::transport::peers::Link;
use crate::transport::stream::{read_body, read_header, wait_delivered, write_frame};
use crate::transport::{Answer, Inbound, TransportError, codes};
use crate::wire::codec;
use crate::wire::{Bulk, Envelope, FailureCode, FrameKind, RemoteFailure, WireError};

impl Inner {
    /// Accepts the streams a peer opens on one connection until it closes.
    pub(super) async fn serve(self: Arc<Self>, peer: NodeName, link: Link) {
        loop {
            tokio::select! {
                bi = link.conn.accept_bi() => match bi {
                    Ok((send, recv)) => {
                        let guard = link.inflight.enter();
                        let (inner, peer, conn) = (self.clone(), peer.clone(), link.conn.clone());
                        self.streams.spawn_on(async move {
                            inner.serve_request(&peer, &conn, send, recv).await;
                            drop(guard);
                        }, &self.runtime);
                    }
                    Err(_) => break,
                },
                uni = link.conn.accept_uni() => match uni {
                    Ok(recv) => {
                        let guard = link.inflight.enter();
                        let (inner, peer, conn) = (self.clone(), peer.clone(), link.conn.clone());
                        self.streams.spawn_on(async move {
                            inner.serve_cast(&peer, &conn, recv).await;
                            drop(guard);
                        }, &self.runtime);
                    }
                    Err(_) => break,
                },
            }
        }
    }

    /// Reads an inbound frame on a stream the peer opened, once the inbound memory budget has
    /// room for its payload; a broken frame disconnects the peer. The permit is held until the
    /// message has been handled and answered.
    async fn read_inbound(
        &self,
        peer: &NodeName,
        conn: &Connection,
        recv: &mut RecvStream,
        allowed: &[FrameKind],
    ) -> Option<(FrameKind, Inbound, Option<OwnedSemaphorePermit>)> {
        let mut ctx = self.ctx(peer, self.receive_progress.as_ref(), 0);
        let result = async {
            let header = read_header(recv, self.settings.first_byte_timeout, &mut ctx).await?;
            let wire = |error| TransportError::Wire {
                peer: peer.clone(),
                error,
            };
            if !allowed.contains(&header.kind) {
                return Err(wire(WireError::UnexpectedKind {
                    expected: "tell, ask or cast",
                    got: header.kind,
                }));
            }
            // Waiting here reads nothing, so QUIC flow control stops the sender meanwhile.
            let units = u32::try_from(header.bulk_len.div_ceil(BUDGET_UNIT))
                .unwrap_or(u32::MAX)
                .min(self.budget_units);
            let permit = if units == 0 {
                None
            } else {
                let permit = self
                    .inbound_budget
                    .clone()
                    .acquire_many_owned(units)
                    .await
                    .map_err(|_| TransportError::ShuttingDown)?;
                Some(permit)
            };
            let frame = read_body(recv, header, &mut ctx).await?;
            let envelope: Envelope =
                codec::decode(&frame.meta, self.settings.limits.max_meta_bytes.into())
                    .map_err(|e| wire(e.into()))?;
            Ok((
                frame.header.kind,
                Inbound {
                    from: peer.clone(),
                    request_id: frame.header.request_id,
                    actor: envelope.actor,
                    message: envelope.message,
                    payload: Payload {
                        meta: envelope.meta.into(),
                        bulk: frame.bulk,
                    },
                    expects_reply: frame.header.kind == FrameKind::Ask,
                },
                permit,
            ))
        }
        .await;
        match result {
            Ok(inbound) => Some(inbound),
            Err(TransportError::Wire { error, .. }) => {
                self.violation(peer, conn, &error);
                None
            }
            Err(e) => {
                debug!(node = %self.local, %peer, "inbound stream abandoned: {e}");
                let _ = recv.stop(VarInt::from_u32(codes::CANCELLED));
                None
            }
        }
    }

    async fn serve_request(
        &self,
        peer: &NodeName,
        conn: &Connection,
        mut send: SendStream,
        mut recv: RecvStream,
    ) {
        if self.closing.is_cancelled() {
            let _ = send.reset(VarInt::from_u32(codes::SHUTTING_DOWN));
            let _ = recv.stop(VarInt::from_u32(codes::SHUTTING_DOWN));
            return;
        }
        let Some((kind, inbound, _budget)) = self
            .read_inbound(peer, conn, &mut recv, &[FrameKind::Tell, FrameKind::Ask])
            .await
        else {
            let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
            return;
        };
        let request_id = inbound.request_id;
        let answer = match self.handler.get() {
            Some(handler) => handler.handle(inbound).await,
            None => Err(RemoteFailure::new(
                FailureCode::ShuttingDown,
                "node not started",
            )),
        };
        let (reply_kind, meta, bulk) = match answer {
            Ok(Answer::Reply { message, payload }) if kind == FrameKind::Ask => {
                let envelope = Envelope {
                    actor: String::new(),
                    message,
                    meta: payload.meta.to_vec(),
                };
                match codec::encode(&envelope) {
                    Ok(meta) => (FrameKind::Reply, meta, payload.bulk),
                    Err(e) => failure_frame(RemoteFailure::new(
                        FailureCode::Decode,
                        format!("encoding reply: {e}"),
                    )),
                }
            }
            Ok(_) if kind == FrameKind::Tell => (FrameKind::Ack, Vec::new(), Bulk::new()),
            Ok(_) => failure_frame(RemoteFailure::new(
                FailureCode::UnknownMessage,
                "the handler gave no reply to an ask",
            )),
            Err(failure) => failure_frame(failure),
        };
        let ctx = self.ctx(peer, None, request_id);
        let result = async {
            write_frame(&mut send, reply_kind, &meta, &bulk, &ctx).await?;
            wait_delivered(&mut send, &ctx).await
        }
        .await;
        if let Err(e) = result {
            debug!(node = %self.local, %peer, request_id, "answer not delivered: {e}");
            let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
        }
    }

    async fn serve_cast(&self, peer: &NodeName, conn: &Connection, mut recv: RecvStream) {
        if self.closing.is_cancelled() {
            let _ = recv.stop(VarInt::from_u32(codes::SHUTTING_DOWN));
            return;
        }
        let Some((_, inbound, _budget)) = self
            .read_inbound(peer, conn, &mut recv, &[FrameKind::Cast])
            .await
        else {
            return;
        };
        let Some(handler) = self.handler.get() else {
            return;
        };
        if let Err(failure) = handler.handle(inbound).await {
            debug!(node = %self.local, %peer, "cast refused: {failure}");
        }
    }
}

fn failure_frame(failure: RemoteFailure) -> (FrameKind, Vec<u8>, Bulk) {
    let meta = codec::encode(&failure).unwrap_or_default();
    (FrameKind::Failure, meta, Bulk::new())
}
