//! Writing and reading one frame on a QUIC stream: header and envelope in one write, then the bulk
//! payload in chunks, each step under a timeout so that a silent peer produces an error instead
//! of a hang. Memory: the sender slices its payload pieces without copying (QUIC holds at most its
//! send window of them); the receiver keeps the pieces QUIC hands out (the message itself, no
//! reassembly copy) plus at most one batch of them.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use quinn::{ReadError, ReadExactError, RecvStream, SendStream, WriteError};

use super::collect::PayloadCollector;
use super::{Progress, ProgressFn, TransferDirection, TransportError, TransportSettings, codes};
use crate::name::NodeName;
use crate::wire::{Bulk, FrameHeader, FrameKind, HEADER_LEN, WireError};

/// Most payload pieces handed to QUIC in one write.
const MAX_WRITE_PIECES: usize = 64;

/// Who and what a transfer is about, for errors and progress reports.
pub(crate) struct TransferCtx<'a> {
    pub(crate) peer: &'a NodeName,
    pub(crate) settings: &'a TransportSettings,
    pub(crate) progress: Option<&'a ProgressFn>,
    pub(crate) request_id: u64,
}

impl TransferCtx<'_> {
    fn report(&self, direction: TransferDirection, done: u64, total: u64) {
        if let Some(progress) = self.progress {
            progress(&Progress {
                peer: self.peer.clone(),
                request_id: self.request_id,
                direction,
                done,
                total,
            });
        }
    }

    fn stalled(
        &self,
        phase: &'static str,
        done: u64,
        total: u64,
        after: Duration,
    ) -> TransportError {
        TransportError::Stalled {
            peer: self.peer.clone(),
            phase,
            done,
            total,
            after,
        }
    }

    fn wire(&self, error: WireError) -> TransportError {
        TransportError::Wire {
            peer: self.peer.clone(),
            error,
        }
    }
}

/// Runs `fut` with a stall timeout.
async fn step<T>(
    ctx: &TransferCtx<'_>,
    phase: &'static str,
    done: u64,
    total: u64,
    after: Duration,
    fut: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    match tokio::time::timeout(after, fut).await {
        Ok(result) => result,
        Err(_) => Err(ctx.stalled(phase, done, total, after)),
    }
}

fn code_reason(code: quinn::VarInt) -> String {
    match u32::try_from(code.into_inner()) {
        Ok(codes::SHUTTING_DOWN) => "peer is shutting down".to_owned(),
        Ok(codes::CANCELLED) => "peer cancelled the transfer".to_owned(),
        Ok(codes::PROTOCOL_VIOLATION) => "peer reported a protocol violation".to_owned(),
        _ => format!("application code {code}"),
    }
}

pub(crate) fn write_error(peer: &NodeName, e: WriteError) -> TransportError {
    match e {
        WriteError::ConnectionLost(error) => TransportError::Connection {
            peer: peer.clone(),
            error,
        },
        WriteError::Stopped(code) => TransportError::Stream {
            peer: peer.clone(),
            reason: format!("stopped: {}", code_reason(code)),
        },
        other => TransportError::Stream {
            peer: peer.clone(),
            reason: other.to_string(),
        },
    }
}

pub(crate) fn read_error(peer: &NodeName, e: ReadError) -> TransportError {
    match e {
        ReadError::ConnectionLost(error) => TransportError::Connection {
            peer: peer.clone(),
            error,
        },
        ReadError::Reset(code) => TransportError::Stream {
            peer: peer.clone(),
            reason: format!("reset: {}", code_reason(code)),
        },
        other => TransportError::Stream {
            peer: peer.clone(),
            reason: other.to_string(),
        },
    }
}

/// Writes one frame and finishes the stream.
pub(crate) async fn write_frame(
    send: &mut SendStream,
    kind: FrameKind,
    meta: &[u8],
    bulk: &Bulk,
    ctx: &TransferCtx<'_>,
) -> Result<(), TransportError> {
    let total = bulk.len() as u64;
    let meta_len = u32::try_from(meta.len())
        .ok()
        .filter(|&len| len <= ctx.settings.limits.max_meta_bytes)
        .ok_or(TransportError::TooLarge {
            len: meta.len() as u64,
            max: ctx.settings.limits.max_meta_bytes.into(),
        })?;
    if total > ctx.settings.limits.max_bulk_bytes {
        return Err(TransportError::TooLarge {
            len: total,
            max: ctx.settings.limits.max_bulk_bytes,
        });
    }
    let header = FrameHeader {
        kind,
        flags: 0,
        request_id: ctx.request_id,
        meta_len,
        bulk_len: total,
    };
    let mut head = Vec::with_capacity(HEADER_LEN + meta.len());
    head.extend_from_slice(&header.encode());
    head.extend_from_slice(meta);
    let timeout = ctx.settings.progress_timeout;
    step(ctx, "sending header", 0, total, timeout, async {
        send.write_chunk(Bytes::from(head))
            .await
            .map_err(|e| write_error(ctx.peer, e))
    })
    .await?;
    // Up to `chunk_size` bytes per write, cut from the payload's pieces without copying.
    let chunk = ctx.settings.chunk_size.max(1);
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut done = 0u64;
    let pieces = bulk.pieces();
    for (index, piece) in pieces.iter().enumerate() {
        let mut at = 0usize;
        while at < piece.len() {
            let end = piece.len().min(at + (chunk - batch_len));
            batch.push(piece.slice(at..end));
            batch_len += end - at;
            at = end;
            let last = index + 1 == pieces.len() && at == piece.len();
            if batch_len == chunk || batch.len() == MAX_WRITE_PIECES || last {
                step(ctx, "sending payload", done, total, timeout, async {
                    send.write_all_chunks(&mut batch)
                        .await
                        .map_err(|e| write_error(ctx.peer, e))
                })
                .await?;
                done += batch_len as u64;
                batch.clear();
                batch_len = 0;
                ctx.report(TransferDirection::Send, done, total);
            }
        }
    }
    send.finish().map_err(|e| TransportError::Stream {
        peer: ctx.peer.clone(),
        reason: e.to_string(),
    })
}

/// Waits until the peer has acknowledged every byte written (so that closing the connection
/// afterwards cannot lose them).
pub(crate) async fn wait_delivered(
    send: &mut SendStream,
    ctx: &TransferCtx<'_>,
) -> Result<(), TransportError> {
    let after = ctx.settings.progress_timeout;
    match tokio::time::timeout(after, send.stopped()).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(code))) => Err(TransportError::Stream {
            peer: ctx.peer.clone(),
            reason: format!("stopped: {}", code_reason(code)),
        }),
        Ok(Err(e)) => Err(TransportError::Stream {
            peer: ctx.peer.clone(),
            reason: e.to_string(),
        }),
        Err(_) => Err(ctx.stalled("waiting for delivery", 0, 0, after)),
    }
}

/// A frame as read from a stream.
pub(crate) struct ReadFrame {
    pub(crate) header: FrameHeader,
    pub(crate) meta: Bytes,
    pub(crate) bulk: Bulk,
}

/// Reads exactly one frame and the end of the stream. `first_byte` bounds the wait for the
/// header; every later step is bounded by the progress timeout. Lengths are checked against the
/// limits before anything is allocated for them.
pub(crate) async fn read_frame(
    recv: &mut RecvStream,
    first_byte: Duration,
    ctx: &mut TransferCtx<'_>,
) -> Result<ReadFrame, TransportError> {
    let header = read_header(recv, first_byte, ctx).await?;
    read_body(recv, header, ctx).await
}

/// Reads and validates a frame header (magic, version, kind, flags, length limits).
pub(crate) async fn read_header(
    recv: &mut RecvStream,
    first_byte: Duration,
    ctx: &mut TransferCtx<'_>,
) -> Result<FrameHeader, TransportError> {
    let mut head = [0u8; HEADER_LEN];
    let header_read = async {
        recv.read_exact(&mut head).await.map_err(|e| match e {
            ReadExactError::FinishedEarly(got) => ctx.wire(WireError::Truncated {
                section: "header",
                expected: HEADER_LEN as u64,
                got: got as u64,
            }),
            ReadExactError::ReadError(e) => read_error(ctx.peer, e),
        })
    };
    match tokio::time::timeout(first_byte, header_read).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(TransportError::Timeout {
                peer: ctx.peer.clone(),
                after: first_byte,
            });
        }
    }
    let header = FrameHeader::decode(&head, &ctx.settings.limits).map_err(|e| ctx.wire(e))?;
    ctx.request_id = header.request_id;
    Ok(header)
}

/// Reads the envelope and bulk payload announced by `header`, then the end of the stream.
pub(crate) async fn read_body(
    recv: &mut RecvStream,
    header: FrameHeader,
    ctx: &mut TransferCtx<'_>,
) -> Result<ReadFrame, TransportError> {
    let settings = ctx.settings;
    let total = header.bulk_len;
    let timeout = settings.progress_timeout;

    let mut meta = vec![0u8; header.meta_len as usize];
    step(ctx, "reading envelope", 0, total, timeout, async {
        recv.read_exact(&mut meta).await.map_err(|e| match e {
            ReadExactError::FinishedEarly(got) => ctx.wire(WireError::Truncated {
                section: "envelope",
                expected: header.meta_len.into(),
                got: got as u64,
            }),
            ReadExactError::ReadError(e) => read_error(ctx.peer, e),
        })
    })
    .await?;

    let total_usize = usize::try_from(total).map_err(|_| {
        ctx.wire(WireError::BulkTooLarge {
            len: total,
            max: usize::MAX as u64,
        })
    })?;
    // The pieces QUIC hands out are kept, not copied into one buffer (see `PayloadCollector`).
    let mut bulk = PayloadCollector::new(total_usize, settings.preallocate_limit);
    // Up to 32 QUIC stream frames per await: one call (and one timer) per batch, not per packet.
    let mut pieces: [Bytes; 32] = Default::default();
    while !bulk.is_complete() {
        let done = bulk.received() as u64;
        let filled = step(ctx, "reading payload", done, total, timeout, async {
            recv.read_chunks(&mut pieces)
                .await
                .map_err(|e| read_error(ctx.peer, e))
        })
        .await?;
        let Some(filled) = filled else {
            return Err(ctx.wire(WireError::Truncated {
                section: "payload",
                expected: total,
                got: done,
            }));
        };
        for piece in pieces.iter_mut().take(filled) {
            bulk.push(std::mem::take(piece)).map_err(|e| ctx.wire(e))?;
        }
        ctx.report(TransferDirection::Receive, bulk.received() as u64, total);
    }

    let end = step(ctx, "reading end of stream", total, total, timeout, async {
        recv.read_chunk(1, true)
            .await
            .map_err(|e| read_error(ctx.peer, e))
    })
    .await?;
    if end.is_some() {
        return Err(ctx.wire(WireError::TrailingBytes));
    }
    Ok(ReadFrame {
        header,
        meta: Bytes::from(meta),
        bulk: bulk.finish(),
    })
}
