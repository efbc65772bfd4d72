//! A bounded pool of large `u64` buffers, reused by [`super::poly::RnsPoly`].
//!
//! At N = 2^16 one key switch allocates and frees ~150 MB of limb buffers. Freshly mapped
//! memory costs a page fault plus a kernel zeroing per 4 KiB page (measured at 10–15% of a
//! rotation), so buffers of at least [`MIN_POOLED_LEN`] words are returned here on drop and
//! handed out again instead. The pool keeps at most [`MAX_POOLED_BYTES`]; anything beyond is
//! freed normally. Buffers are handed out cleared (zeroed where asked), never with old content.

use std::sync::Mutex;

/// Smallest buffer (in words) worth pooling: 512 KiB.
pub const MIN_POOLED_LEN: usize = 1 << 16;
/// Upper bound on the memory the pool holds. A double-hoisted DFT level at N = 2^16 frees
/// some thirty 12–16 MiB buffers at once; with 256 MiB most were unmapped and faulted in again
/// (boot-n16 full-slot bootstrap: 26.0 s CPU with 256 MiB, 23.6 s with 1 GiB, same peak RSS).
pub const MAX_POOLED_BYTES: usize = 1 << 30;

static POOL: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());

fn lock() -> std::sync::MutexGuard<'static, Vec<Vec<u64>>> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pooled buffer with capacity between `len` and `2·len`, with its old contents.
fn take_pooled(len: usize) -> Option<Vec<u64>> {
    if len < MIN_POOLED_LEN {
        return None;
    }
    let mut pool = lock();
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len)
        .min_by_key(|(_, v)| v.capacity())
        .map(|(i, _)| i)?;
    Some(pool.swap_remove(best))
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

/// Returns a buffer to the pool (or frees it if small or if the pool is full).
pub fn give(v: Vec<u64>) {
    if v.capacity() < MIN_POOLED_LEN {
        return;
    }
    let mut pool = lock();
    let held: usize = pool.iter().map(|b| b.capacity() * 8).sum();
    if held + v.capacity() * 8 <= MAX_POOLED_BYTES {
        pool.push(v);
    }
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
}
