//! The trainer's view of its workers: who is up, how loaded, which keys and operands each holds.

use std::collections::HashSet;

use hetal_runtime::NodeName;

/// Units a worker may have in flight once its keys are loaded (one computing, one arriving).
pub const MAX_IN_FLIGHT: usize = 2;

/// Bootstrap units a worker may have in flight: one, so that a worker holds at most one
/// bootstrap's temporaries besides its keys.
pub const MAX_BOOTSTRAPS_IN_FLIGHT: usize = 1;

/// Default [`BootstrapPlacement::Workers::max_key_bytes`]: 2 GiB, so that the insecure test and
/// quick-demo presets (N ≤ 2^13) bootstrap on their workers while `boot-n16` (about 6.6 GB of
/// keys in memory) keeps its bootstraps on the trainer unless the operator raises it.
pub const DEFAULT_MAX_BOOTSTRAP_KEY_BYTES: u64 = 2 << 30;

/// Where the trainer's bootstrap stages run (`bootstrap_on_workers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapPlacement {
    /// On the trainer: workers never receive bootstrapping material.
    Trainer,
    /// As bootstrap units on the live workers when the job's bootstrapping material (evaluation
    /// keys with the bootstrap's rotations, encapsulation keys) takes at most `max_key_bytes` in
    /// memory: each worker that takes such units holds that much more (by reference, no copy,
    /// when it shares the trainer's process) and at most
    /// [`MAX_BOOTSTRAPS_IN_FLIGHT`] bootstrap's temporaries. With no live worker, or material
    /// above the limit, the trainer bootstraps itself.
    Workers {
        /// Largest bootstrapping material a worker is asked to hold, bytes.
        max_key_bytes: u64,
    },
}

impl Default for BootstrapPlacement {
    fn default() -> Self {
        BootstrapPlacement::Workers {
            max_key_bytes: DEFAULT_MAX_BOOTSTRAP_KEY_BYTES,
        }
    }
}

impl BootstrapPlacement {
    /// Whether material of `key_bytes` goes to the workers under this placement.
    pub fn allows(&self, key_bytes: u64) -> bool {
        match self {
            BootstrapPlacement::Trainer => false,
            BootstrapPlacement::Workers { max_key_bytes } => key_bytes <= *max_key_bytes,
        }
    }
}

/// One worker as the trainer sees it.
#[derive(Debug, Clone)]
pub struct WorkerSlot {
    /// Its node.
    pub name: NodeName,
    /// Units sent and not yet answered.
    pub in_flight: usize,
    /// Whether it has confirmed the current job's keys.
    pub keys_ready: bool,
    /// Whether a key upload is under way.
    pub keys_sending: bool,
    /// Whether it has confirmed the current job's bootstrapping material (which includes the
    /// matrix-multiplication keys).
    pub boot_keys_ready: bool,
    /// Whether a bootstrapping-material upload is under way.
    pub boot_keys_sending: bool,
    /// Job-scoped operands it holds.
    pub data: HashSet<u64>,
    /// Step-scoped operands it holds, for `step`.
    pub step_ops: (u64, HashSet<u64>),
    /// Units it completed.
    pub completed: usize,
}

impl WorkerSlot {
    fn new(name: NodeName) -> Self {
        Self {
            name,
            in_flight: 0,
            keys_ready: false,
            keys_sending: false,
            boot_keys_ready: false,
            boot_keys_sending: false,
            data: HashSet::new(),
            step_ops: (0, HashSet::new()),
            completed: 0,
        }
    }

    /// Forgets every operand (the worker dropped its cache).
    pub fn forget_operands(&mut self) {
        self.data.clear();
        self.step_ops.1.clear();
    }

    /// Whether the worker holds operand `id` for `step`.
    pub fn holds(&self, id: u64, step: u64, step_scoped: bool) -> bool {
        if step_scoped {
            self.step_ops.0 == step && self.step_ops.1.contains(&id)
        } else {
            self.data.contains(&id)
        }
    }

    /// Notes that the worker now holds operand `id`.
    pub fn remember(&mut self, id: u64, step: u64, step_scoped: bool) {
        if step_scoped {
            if self.step_ops.0 != step {
                self.step_ops = (step, HashSet::new());
            }
            self.step_ops.1.insert(id);
        } else {
            self.data.insert(id);
        }
    }
}

/// The live workers.
#[derive(Debug, Default)]
pub struct WorkerPool {
    workers: Vec<WorkerSlot>,
    lost: Vec<NodeName>,
    placement: BootstrapPlacement,
}

impl WorkerPool {
    /// Adds (or re-admits) a worker; its cache and keys are assumed gone.
    pub fn join(&mut self, name: NodeName) {
        self.lost.retain(|n| n != &name);
        match self.workers.iter_mut().find(|w| w.name == name) {
            Some(w) => *w = WorkerSlot::new(name),
            None => self.workers.push(WorkerSlot::new(name)),
        }
    }

    /// Removes a worker that failed or timed out.
    pub fn remove(&mut self, name: &NodeName) {
        if let Some(i) = self.workers.iter().position(|w| &w.name == name) {
            self.workers.remove(i);
            self.lost.push(name.clone());
        }
    }

    /// Number of live workers.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are no live workers.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The least-loaded worker that can take another matrix-multiplication unit now.
    pub fn pick(&mut self) -> Option<&mut WorkerSlot> {
        self.pick_for(false)
    }

    /// The least-loaded worker that can take another unit of the kind now (`bootstrap`: a
    /// bootstrap unit, at most [`MAX_BOOTSTRAPS_IN_FLIGHT`] per worker).
    pub fn pick_for(&mut self, bootstrap: bool) -> Option<&mut WorkerSlot> {
        self.workers
            .iter_mut()
            .filter(|w| {
                let limit = match (bootstrap, w.keys_ready, w.boot_keys_ready) {
                    (true, _, true) => MAX_BOOTSTRAPS_IN_FLIGHT,
                    (false, true, _) | (false, _, true) => MAX_IN_FLIGHT,
                    _ => 1,
                };
                w.in_flight < limit
            })
            .min_by_key(|w| (w.in_flight, w.completed))
    }

    /// Where bootstrap stages run.
    pub fn bootstrap_placement(&self) -> BootstrapPlacement {
        self.placement
    }

    /// Sets where bootstrap stages run (kept across jobs).
    pub fn set_bootstrap_placement(&mut self, placement: BootstrapPlacement) {
        self.placement = placement;
    }

    /// The worker named `name`, if live.
    pub fn get_mut(&mut self, name: &NodeName) -> Option<&mut WorkerSlot> {
        self.workers.iter_mut().find(|w| &w.name == name)
    }

    /// Live workers with their completed unit counts.
    pub fn balance(&self) -> Vec<(NodeName, usize)> {
        self.workers
            .iter()
            .map(|w| (w.name.clone(), w.completed))
            .collect()
    }

    /// Workers removed after a failure (and not re-admitted).
    pub fn lost(&self) -> &[NodeName] {
        &self.lost
    }

    /// Forgets every worker's keys (a new job).
    pub fn reset_jobs(&mut self) {
        for w in &mut self.workers {
            w.keys_ready = false;
            w.keys_sending = false;
            w.boot_keys_ready = false;
            w.boot_keys_sending = false;
            w.forget_operands();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> NodeName {
        NodeName::new(s).unwrap()
    }

    #[test]
    fn picks_the_least_loaded_and_forgets_the_lost() {
        let mut pool = WorkerPool::default();
        pool.join(name("w1"));
        pool.join(name("w2"));
        for w in [name("w1"), name("w2")] {
            pool.get_mut(&w).unwrap().keys_ready = true;
        }
        pool.get_mut(&name("w1")).unwrap().in_flight = 1;
        assert_eq!(pool.pick().unwrap().name, name("w2"));
        pool.get_mut(&name("w2")).unwrap().in_flight = 2;
        assert_eq!(pool.pick().unwrap().name, name("w1"));
        pool.get_mut(&name("w1")).unwrap().in_flight = 2;
        assert!(pool.pick().is_none());
        pool.remove(&name("w1"));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.lost(), &[name("w1")]);
        pool.join(name("w1"));
        assert!(pool.lost().is_empty());
        assert!(!pool.get_mut(&name("w1")).unwrap().keys_ready);
    }

    #[test]
    fn bootstrap_units_go_one_at_a_time_to_workers_whose_material_fits() {
        let mut pool = WorkerPool::default();
        pool.join(name("w1"));
        let w = pool.get_mut(&name("w1")).unwrap();
        w.boot_keys_ready = true;
        w.in_flight = 1;
        assert!(
            pool.pick_for(true).is_none(),
            "one bootstrap in flight per worker"
        );
        assert!(
            pool.pick_for(false).is_some(),
            "its keys serve matrix units too"
        );
        assert!(BootstrapPlacement::default().allows(DEFAULT_MAX_BOOTSTRAP_KEY_BYTES));
        assert!(!BootstrapPlacement::default().allows(DEFAULT_MAX_BOOTSTRAP_KEY_BYTES + 1));
        assert!(!BootstrapPlacement::Trainer.allows(0));
        pool.set_bootstrap_placement(BootstrapPlacement::Trainer);
        pool.reset_jobs();
        assert_eq!(pool.bootstrap_placement(), BootstrapPlacement::Trainer);
        assert!(!pool.get_mut(&name("w1")).unwrap().boot_keys_ready);
    }
}
