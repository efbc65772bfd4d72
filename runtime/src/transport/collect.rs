//! Collecting a received payload from the pieces QUIC hands out, keeping the large pieces as they
//! are instead of copying every byte into one buffer.

use bytes::{Bytes, BytesMut};

use crate::wire::{Bulk, WireError};

/// Pieces at least this long are kept as they arrived; shorter ones are copied together.
///
/// A kept piece pins the received datagram buffer it was cut from (at most 64 KiB), so even a
/// peer that pads its packets makes a message hold at most 4× its length. On loopback with large
/// packets each piece is ~64 KB and kept; with Ethernet-sized packets every piece is shorter and
/// the payload is copied into one buffer, as it always was.
pub(crate) const KEEP_PIECE_MIN: usize = 16 * 1024;

/// Least growth of the buffer short pieces are copied into, once large pieces have arrived.
const SMALL_RESERVE: usize = 64 * 1024;

/// A payload being received: its announced length and the pieces so far.
pub(crate) struct PayloadCollector {
    expected: usize,
    received: usize,
    bulk: Bulk,
    /// Short pieces copied together, in order after `bulk`.
    small: BytesMut,
    /// Reservation for the first short piece of a payload that begins with short pieces.
    first_reserve: usize,
}

impl PayloadCollector {
    /// Expects `expected` bytes (a length already checked against the limits). Memory is
    /// reserved only as bytes arrive, at most `preallocate_limit` ahead of them.
    pub(crate) fn new(expected: usize, preallocate_limit: usize) -> Self {
        Self {
            expected,
            received: 0,
            bulk: Bulk::new(),
            small: BytesMut::new(),
            first_reserve: preallocate_limit.max(1),
        }
    }

    /// Bytes received so far.
    pub(crate) fn received(&self) -> usize {
        self.received
    }

    /// Whether every announced byte has arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.received == self.expected
    }

    /// Adds the next piece of the stream; bytes beyond the announced length are a protocol error.
    pub(crate) fn push(&mut self, piece: Bytes) -> Result<(), WireError> {
        let left = self.expected - self.received;
        if piece.len() > left {
            return Err(WireError::TrailingBytes);
        }
        self.received += piece.len();
        if piece.len() >= KEEP_PIECE_MIN {
            self.flush_small();
            self.bulk.push(piece);
            return Ok(());
        }
        if self.small.capacity() - self.small.len() < piece.len() {
            let floor = if self.bulk.is_empty() && self.small.is_empty() {
                self.first_reserve
            } else {
                SMALL_RESERVE
            };
            // Geometric growth, never past what the peer has announced and is proving it sends.
            let additional = left.min(floor.max(self.small.len())).max(piece.len());
            self.small.reserve(additional);
        }
        self.small.extend_from_slice(&piece);
        Ok(())
    }

    /// The whole payload (call once [`Self::is_complete`]).
    pub(crate) fn finish(mut self) -> Bulk {
        self.flush_small();
        self.bulk
    }

    /// Moves the copied short pieces into the list, before a kept piece or at the end.
    fn flush_small(&mut self) {
        if self.small.is_empty() {
            return;
        }
        let spare = self.small.capacity() - self.small.len();
        if spare > self.small.len().max(SMALL_RESERVE) {
            // A reservation made for short pieces that large ones then replaced (a connection
            // whose packets grew): keep a right-sized copy and free the rest.
            let copy = Bytes::copy_from_slice(&self.small);
            self.small = BytesMut::new();
            self.bulk.push(copy);
        } else {
            self.bulk.push(self.small.split().freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>()
            .into()
    }

    fn collect(pieces: &[Bytes], preallocate: usize) -> Bulk {
        let total = pieces.iter().map(Bytes::len).sum();
        let mut c = PayloadCollector::new(total, preallocate);
        for p in pieces {
            assert!(!c.is_complete());
            c.push(p.clone()).unwrap();
        }
        assert!(c.is_complete());
        assert_eq!(c.received(), total);
        c.finish()
    }

    #[test]
    fn large_pieces_are_kept_and_short_runs_copied_in_order() {
        let big = KEEP_PIECE_MIN;
        let pieces = [
            bytes(100, 1),
            bytes(1200, 2),
            bytes(big, 3),
            bytes(big + 5, 4),
            bytes(7, 5),
            bytes(big * 3, 6),
            bytes(1, 7),
            bytes(2, 8),
        ];
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        let bulk = collect(&pieces, 1 << 20);
        assert_eq!(bulk.contiguous().as_ref(), joined.as_slice());
        // Short runs become one piece each; large pieces are the very buffers handed in.
        assert_eq!(bulk.pieces().len(), 6);
        for (kept, original) in [(1, &pieces[2]), (2, &pieces[3]), (4, &pieces[5])] {
            assert_eq!(bulk.pieces()[kept].as_ptr(), original.as_ptr());
        }
    }

    #[test]
    fn only_short_pieces_give_one_buffer() {
        let pieces: Vec<Bytes> = (0..300).map(|i| bytes(1000 + i, i as u8)).collect();
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        for preallocate in [1, 4096, 1 << 20, 1 << 30] {
            let bulk = collect(&pieces, preallocate);
            assert_eq!(bulk.contiguous().as_ref(), joined.as_slice());
            assert_eq!(bulk.pieces().len(), 1, "preallocate {preallocate}");
        }
    }

    #[test]
    fn piece_count_is_bounded_by_the_length() {
        // Worst case for the list: short and long pieces alternating.
        let mut pieces = Vec::new();
        for i in 0..50u8 {
            pieces.push(bytes(1, i));
            pieces.push(bytes(KEEP_PIECE_MIN, i));
        }
        let total: usize = pieces.iter().map(Bytes::len).sum();
        let bulk = collect(&pieces, 1 << 20);
        assert!(bulk.pieces().len() <= 2 * total / KEEP_PIECE_MIN + 1);
    }

    #[test]
    fn bytes_past_the_announced_length_are_refused() {
        let mut c = PayloadCollector::new(10, 64);
        c.push(bytes(6, 0)).unwrap();
        assert!(matches!(c.push(bytes(5, 0)), Err(WireError::TrailingBytes)));
        c.push(bytes(4, 0)).unwrap();
        assert!(c.is_complete());
        assert!(matches!(c.push(bytes(1, 0)), Err(WireError::TrailingBytes)));
    }
}
