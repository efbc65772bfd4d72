//! A bounded pool of large `u64` buffers, reused by [`super::poly::RnsPoly`].
//!
//! At N = 2^16 one key switch allocates and frees ~150 MB of limb buffers. Freshly mapped
//! memory costs a page fault plus a kernel zeroing per 4 KiB page (measured at 10–15% of a
//! rotation), so buffers of at least [`MIN_POOLED_LEN`] words are returned here on drop and
//! handed out again instead. Buffers are handed out cleared (zeroed where asked), never with
//! old content.
//!
//! The pool keeps at most [`MAX_POOLED_BYTES`]. When a returned buffer does not fit, the
//! buffers returned longest ago are freed to make room: the sizes a program frees now are the
//! sizes it asks for next. (Refusing the newcomer instead let a pool filled by earlier phases
//! — key generation, other shapes — turn away every buffer of a later loop, which then
//! faulted in fresh memory on each call: the tensor product at N = 2^16 went from 9 to 42 ms.)

use std::collections::VecDeque;
use std::sync::Mutex;

/// Smallest buffer (in words) worth pooling: 512 KiB.
pub const MIN_POOLED_LEN: usize = 1 << 16;
/// Upper bound on the memory the pool holds. A double-hoisted DFT level at N = 2^16 frees
/// some thirty 12–16 MiB buffers at once; with 256 MiB most were unmapped and faulted in again
/// (boot-n16 full-slot bootstrap: 26.0 s CPU with 256 MiB, 23.6 s with 1 GiB, same peak RSS).
pub const MAX_POOLED_BYTES: usize = 1 << 30;

/// Buffers in the order they were returned (oldest first), with their total size.
struct BufferPool {
    buffers: VecDeque<Vec<u64>>,
    bytes: usize,
    max_bytes: usize,
}

impl BufferPool {
    const fn new(max_bytes: usize) -> Self {
        Self {
            buffers: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The smallest held buffer with capacity between `len` and `2·len`, with its old contents.
    fn take(&mut self, len: usize) -> Option<Vec<u64>> {
        let best = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)?;
        let v = self.buffers.remove(best)?;
        self.bytes -= bytes_of(&v);
        Some(v)
    }

    /// Keeps `v`, first evicting the oldest buffers if it would not fit; returns the evicted
    /// buffers (to be freed outside the lock). A buffer larger than the whole pool is returned.
    fn give(&mut self, v: Vec<u64>) -> Vec<Vec<u64>> {
        let size = bytes_of(&v);
        if size > self.max_bytes {
            return vec![v];
        }
        let mut evicted = Vec::new();
        while self.bytes + size > self.max_bytes {
            match self.buffers.pop_front() {
                Some(old) => {
                    self.bytes -= bytes_of(&old);
                    evicted.push(old);
                }
                None => break,
            }
        }
        self.bytes += size;
        self.buffers.push_back(v);
        evicted
    }
}

fn bytes_of(v: &Vec<u64>) -> usize {
    v.capacity() * std::mem::size_of::<u64>()
}

static POOL: Mutex<BufferPool> = Mutex::new(BufferPool::new(MAX_POOLED_BYTES));

fn lock() -> std::sync::MutexGuard<'static, BufferPool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pooled buffer with capacity between `len` and `2·len`, with its old contents.
fn take_pooled(len: usize) -> Option<Vec<u64>> {
    if len < MIN_POOLED_LEN {
        return None;
    }
    lock().take(len)
}

/// An empty vector with capacity at least `len`, reusing a pooled buffer when one fits
/// (capacity between `len` and `2·len`).
pub fn take_empty(len: usize) -> Vec<u64> {
    match take_pooled(len) {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(len),
    }
}

/// A vector of `len` words whose contents are unspecified (old values of a pooled buffer, or
/// zeros): for callers that overwrite every word before reading it, saving the zero fill.
/// Buffers holding secret-derived data are wiped before they are returned to the pool.
pub fn take_for_overwrite(len: usize) -> Vec<u64> {
    let mut v = take_pooled(len).unwrap_or_default();
    if v.len() >= len {
        v.truncate(len);
    } else {
        v.resize(len, 0);
    }
    v
}

/// A zero-filled vector of `len` words.
pub fn take_zeroed(len: usize) -> Vec<u64> {
    let mut v = take_empty(len);
    v.resize(len, 0);
    v
}

/// Returns a buffer to the pool (small buffers are simply freed); when the pool is full, the
/// buffers returned longest ago are freed to make room.
pub fn give(v: Vec<u64>) {
    if v.capacity() < MIN_POOLED_LEN {
        return;
    }
    let evicted = lock().give(v);
    drop(evicted);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_cleared_and_small_ones_are_not_pooled() {
        let mut v = take_zeroed(MIN_POOLED_LEN);
        v.iter_mut().for_each(|x| *x = 7);
        give(v);
        let w = take_zeroed(MIN_POOLED_LEN);
        assert_eq!(w.len(), MIN_POOLED_LEN);
        assert!(w.iter().all(|&x| x == 0));
        let e = take_empty(MIN_POOLED_LEN);
        assert!(e.is_empty() && e.capacity() >= MIN_POOLED_LEN);
        give(vec![1u64; 16]);
        assert!(take_empty(16).is_empty());
        assert_eq!(
            take_for_overwrite(MIN_POOLED_LEN + 3).len(),
            MIN_POOLED_LEN + 3
        );
    }

    #[test]
    fn a_full_pool_evicts_its_oldest_buffers_for_the_newest() {
        let words = 1024;
        let size = words * 8;
        let mut pool = BufferPool::new(4 * size);
        // Fill the pool with buffers of a size the loop below never asks for.
        for _ in 0..4 {
            assert!(pool.give(Vec::with_capacity(words / 4 * 3)).is_empty());
        }
        let held = pool.bytes;
        // A loop that frees and re-takes one size: after the first round it is always served.
        let mut served = 0;
        for round in 0..5 {
            let v = pool
                .take(3 * words)
                .unwrap_or_else(|| Vec::with_capacity(3 * words));
            if round > 0 {
                served += 1;
                assert_eq!(v.capacity(), 3 * words, "round {round} got another size");
            }
            let evicted = pool.give(v);
            assert!(pool.bytes <= 4 * size);
            if round == 0 {
                // The three oldest small buffers made room, oldest first.
                assert_eq!(evicted.len(), 3);
                assert_eq!(pool.bytes, held - 3 * (words / 4 * 3) * 8 + 3 * size);
            }
        }
        assert_eq!(served, 4);
        // Larger than the whole pool: handed straight back.
        assert_eq!(pool.give(Vec::with_capacity(5 * words)).len(), 1);
        // A buffer twice too large for a request is not handed out for it.
        assert!(pool.take(words).is_none());
    }
}
