//! The worker's operand cache: a ciphertext crosses the network once per use. Training data is
//! kept for the whole job; operands derived from the weights or the residual live for one step.

use std::collections::HashMap;
use std::sync::Arc;

struct Entry<C> {
    ct: Arc<C>,
    step: Option<u64>,
}

/// Cached operands by id, bounded in count.
pub struct OperandCache<C> {
    entries: HashMap<u64, Entry<C>>,
    capacity: usize,
    step: u64,
}

impl<C> OperandCache<C> {
    /// A cache holding at most `capacity` operands.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            step: 0,
        }
    }

    /// Moves to training step `step`: step-scoped operands of earlier steps are dropped.
    pub fn enter_step(&mut self, step: u64) {
        if step > self.step {
            self.step = step;
            self.entries.retain(|_, e| e.step.is_none_or(|s| s >= step));
        }
    }

    /// Stores an operand; a full cache is emptied first (the trainer resends what is missing).
    pub fn insert(&mut self, id: u64, ct: Arc<C>, step_scoped: bool) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&id) {
            self.entries.clear();
        }
        let step = step_scoped.then_some(self.step);
        self.entries.insert(id, Entry { ct, step });
    }

    /// The operand with `id`, if cached.
    pub fn get(&self, id: u64) -> Option<Arc<C>> {
        self.entries.get(&id).map(|e| Arc::clone(&e.ct))
    }

    /// Number of cached operands.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops everything (a new job).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.step = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_scoped_operands_expire_and_capacity_is_bounded() {
        let mut cache = OperandCache::new(3);
        cache.enter_step(1);
        cache.insert(1, Arc::new("data"), false);
        cache.insert(2, Arc::new("weights"), true);
        cache.enter_step(2);
        assert!(cache.get(1).is_some());
        assert!(cache.get(2).is_none());
        cache.insert(3, Arc::new("a"), false);
        cache.insert(4, Arc::new("b"), false);
        assert_eq!(cache.len(), 3);
        cache.insert(5, Arc::new("c"), false);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(5).is_some());
    }
}
