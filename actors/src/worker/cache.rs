//! The worker's operand cache: a ciphertext crosses the network once per use. Training data is
//! kept for the whole job; operands derived from the weights or the residual live for one step.
//!
//! A worker may serve several jobs at once (a trainer with several clients): [`WorkerJobs`]
//! keeps each job's keys and operand cache under the job's session id, so one job's keys are
//! never applied to another job's units and one job's operands never resolve another's ids.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

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

/// Default number of jobs a worker keeps keys and operands for at once.
pub const DEFAULT_MAX_JOBS: usize = 4;

/// A unit or key reference named a job this worker holds no keys for (never loaded, or dropped
/// for newer jobs). Recoverable: the worker answers the unit with
/// [`OutcomeBody::UnknownJob`](crate::messages::OutcomeBody::UnknownJob) and the trainer sends
/// the job's keys and operands again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownJob {
    /// The job's session id.
    pub session: u64,
}

impl std::fmt::Display for UnknownJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no keys loaded for job {} on this worker (never loaded, or dropped for newer jobs)",
            self.session
        )
    }
}

impl std::error::Error for UnknownJob {}

/// One job on a worker: its evaluation keys and its own operand cache.
pub struct WorkerJob<K, C> {
    /// The job's evaluation keys (a key-less backend built from them).
    pub keys: K,
    /// Operands received for this job only.
    pub cache: Arc<Mutex<OperandCache<C>>>,
}

/// A worker's jobs by session id, at most `max_jobs` of them (the oldest loaded is dropped
/// first; a unit of a dropped job is refused with [`UnknownJob`] and the trainer re-sends it).
pub struct WorkerJobs<K, C> {
    jobs: HashMap<u64, WorkerJob<K, C>>,
    /// Sessions in load order, oldest first.
    order: VecDeque<u64>,
    max_jobs: usize,
    cache_capacity: usize,
}

impl<K, C> WorkerJobs<K, C> {
    /// Room for `max_jobs` jobs of `cache_capacity` operands each.
    pub fn new(max_jobs: usize, cache_capacity: usize) -> Self {
        Self {
            jobs: HashMap::new(),
            order: VecDeque::new(),
            max_jobs: max_jobs.max(1),
            cache_capacity,
        }
    }

    /// Whether job `session`'s keys are loaded.
    pub fn contains(&self, session: u64) -> bool {
        self.jobs.contains_key(&session)
    }

    /// Loads job `session` with `keys` and an empty cache (a job loaded again starts afresh),
    /// dropping the oldest job when full.
    pub fn load(&mut self, session: u64, keys: K) {
        self.order.retain(|&s| s != session);
        while self.order.len() >= self.max_jobs {
            if let Some(old) = self.order.pop_front() {
                self.jobs.remove(&old);
            }
        }
        self.order.push_back(session);
        let cache = Arc::new(Mutex::new(OperandCache::new(self.cache_capacity)));
        self.jobs.insert(session, WorkerJob { keys, cache });
    }

    /// Replaces the keys of job `session`, already held, and keeps its operand cache: the
    /// operands are the same job's ciphertexts under the same parameters and secret, so the
    /// bootstrapping material arriving after the matrix keys costs no operand a second trip.
    /// The caller checks that the parameters are unchanged. Returns whether the job was held
    /// (if not, nothing changes: use [`Self::load`]).
    pub fn upgrade(&mut self, session: u64, keys: K) -> bool {
        match self.jobs.get_mut(&session) {
            Some(job) => {
                job.keys = keys;
                true
            }
            None => false,
        }
    }

    /// Job `session`'s keys and cache.
    pub fn get(&self, session: u64) -> Result<&WorkerJob<K, C>, UnknownJob> {
        self.jobs.get(&session).ok_or(UnknownJob { session })
    }

    /// Number of jobs held.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job is held.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_keep_their_own_keys_and_operands_and_unknown_jobs_are_named() {
        let mut jobs: WorkerJobs<&str, &str> = WorkerJobs::new(2, 8);
        assert_eq!(jobs.get(7).err(), Some(UnknownJob { session: 7 }));
        jobs.load(1, "keys of job 1");
        jobs.load(2, "keys of job 2");
        jobs.get(1)
            .unwrap()
            .cache
            .lock()
            .unwrap()
            .insert(5, Arc::new("a1"), false);
        // The same operand id in job 2 is job 2's own (or missing), never job 1's.
        assert!(jobs.get(2).unwrap().cache.lock().unwrap().get(5).is_none());
        jobs.get(2)
            .unwrap()
            .cache
            .lock()
            .unwrap()
            .insert(5, Arc::new("b1"), false);
        assert_eq!(
            jobs.get(1).unwrap().cache.lock().unwrap().get(5).as_deref(),
            Some(&"a1")
        );
        assert_eq!(jobs.get(2).unwrap().keys, "keys of job 2");
        // A third job drops the oldest; its units are refused, naming it.
        jobs.load(3, "keys of job 3");
        assert_eq!(jobs.len(), 2);
        let e = jobs.get(1).err().unwrap();
        assert!(e.to_string().contains("job 1"), "{e}");
        assert!(jobs.contains(2) && jobs.contains(3));
        assert_eq!(e, UnknownJob { session: 1 });
    }

    #[test]
    fn an_upgrade_keeps_the_jobs_operands_and_a_reload_drops_them() {
        let mut jobs: WorkerJobs<&str, &'static str> = WorkerJobs::new(2, 8);
        jobs.load(1, "matrix keys");
        let cache = |jobs: &WorkerJobs<&str, &'static str>| Arc::clone(&jobs.get(1).unwrap().cache);
        cache(&jobs).lock().unwrap().insert(5, Arc::new("x"), false);
        assert!(jobs.upgrade(1, "bootstrapping keys"));
        assert_eq!(jobs.get(1).unwrap().keys, "bootstrapping keys");
        assert_eq!(cache(&jobs).lock().unwrap().get(5).as_deref(), Some(&"x"));
        // A job not held is not upgraded; loading a job again starts it afresh.
        assert!(!jobs.upgrade(2, "keys"));
        assert!(!jobs.contains(2));
        jobs.load(1, "matrix keys");
        assert!(cache(&jobs).lock().unwrap().is_empty());
    }

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
