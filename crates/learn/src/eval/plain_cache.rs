//! A small cache of encoded constants: the matrix multiplications multiply many ciphertexts by
//! the same few masks at the same level, and encoding (an FFT and an NTT per limb) is a large part
//! of a constant multiplication.

use num_complex::Complex64;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Entries kept before the cache is emptied (the masks of one multiplication number about
/// `2·c_pad + 2`; at N = 2^16 an entry is a few MB per limb group).
pub const PLAIN_CACHE_ENTRIES: usize = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    digest: u64,
    level: usize,
    scale_bits: u64,
}

/// A cached plaintext with the values it encodes (compared on every hit).
type Entry<P> = (Vec<Complex64>, Arc<P>);

/// Encoded plaintexts keyed by their exact values, level and scale.
pub struct PlainCache<P> {
    entries: Mutex<HashMap<Key, Entry<P>>>,
    capacity: usize,
}

impl<P> std::fmt::Debug for PlainCache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("PlainCache").field("entries", &n).finish()
    }
}

fn digest(values: &[Complex64]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in values {
        v.re.to_bits().hash(&mut h);
        v.im.to_bits().hash(&mut h);
    }
    h.finish()
}

impl<P> PlainCache<P> {
    /// An empty cache holding at most `capacity` entries (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        PlainCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The plaintext for `(values, level, scale)`, encoded by `encode` on a miss. Hits compare the
    /// values exactly, so a hash collision only costs an encoding.
    pub fn get_or_encode<E>(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
        encode: impl FnOnce() -> Result<P, E>,
    ) -> Result<Arc<P>, E> {
        if self.capacity == 0 {
            return encode().map(Arc::new);
        }
        let key = Key {
            digest: digest(values),
            level,
            scale_bits: scale.to_bits(),
        };
        if let Ok(map) = self.entries.lock()
            && let Some((stored, pt)) = map.get(&key)
            && stored.as_slice() == values
        {
            return Ok(Arc::clone(pt));
        }
        let pt = Arc::new(encode()?);
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, (values.to_vec(), Arc::clone(&pt)));
        }
        Ok(pt)
    }

    /// Number of cached plaintexts.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_reuse_and_misses_encode() {
        let cache: PlainCache<usize> = PlainCache::new(2);
        let mut encodes = 0;
        let a = [Complex64::new(1.0, 0.0)];
        let b = [Complex64::new(2.0, 0.0)];
        let mut get = |v: &[Complex64], level| {
            *cache
                .get_or_encode::<()>(v, level, 1.0, || {
                    encodes += 1;
                    Ok(encodes)
                })
                .unwrap()
        };
        assert_eq!(get(&a, 1), 1);
        assert_eq!(get(&a, 1), 1, "hit");
        assert_eq!(get(&a, 2), 2, "another level");
        assert_eq!(get(&b, 1), 3, "full: cleared, then stored");
        assert_eq!(get(&b, 1), 3);
        let off: PlainCache<u8> = PlainCache::new(0);
        assert_eq!(*off.get_or_encode::<()>(&a, 0, 1.0, || Ok(7)).unwrap(), 7);
        assert!(off.is_empty());
    }
}
