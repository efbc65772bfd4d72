//! Bootstrapping as a parallel stage. Whenever a computation refreshes several independent
//! ciphertexts at once (the state refresh's packed ciphertexts, the residual's blocks, the
//! softmax's packed pair), it calls [`SlotEvaluator::bootstrap_many`]; a
//! [`BootstrapExecutor`] decides where those bootstraps run. [`LocalBootstrap`] runs them on the
//! evaluator itself, one after the other; the actors' trainer plugs in one that sends them to its
//! workers as work units. [`BootstrapVia`] is the evaluator that routes its bootstraps through an
//! executor and delegates everything else, so the training code is the same either way.

use num_complex::Complex64;

use super::{OpCounter, SlotEvaluator};
use crate::Result;

/// Where a stage of independent bootstraps runs.
pub trait BootstrapExecutor<E: SlotEvaluator> {
    /// Each of `cts` refreshed to [`SlotEvaluator::bootstrap_level`], in order.
    fn bootstrap_many(&self, ev: &E, cts: &[E::Ct]) -> Result<Vec<E::Ct>>;
}

impl<E: SlotEvaluator, X: BootstrapExecutor<E>> BootstrapExecutor<E> for &X {
    fn bootstrap_many(&self, ev: &E, cts: &[E::Ct]) -> Result<Vec<E::Ct>> {
        (**self).bootstrap_many(ev, cts)
    }
}

/// Every bootstrap on the evaluator itself, in order (what a single process does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalBootstrap;

impl<E: SlotEvaluator> BootstrapExecutor<E> for LocalBootstrap {
    fn bootstrap_many(&self, ev: &E, cts: &[E::Ct]) -> Result<Vec<E::Ct>> {
        ev.bootstrap_many(cts)
    }
}

/// `E` with its bootstraps computed by `X`: every other operation (and the operation counter)
/// is `E`'s own.
#[derive(Debug, Clone)]
pub struct BootstrapVia<E, X> {
    inner: E,
    executor: X,
}

impl<E: SlotEvaluator, X: BootstrapExecutor<E>> BootstrapVia<E, X> {
    /// `inner`, bootstrapping through `executor`.
    pub fn new(inner: E, executor: X) -> Self {
        Self { inner, executor }
    }

    /// The evaluator doing everything but the bootstraps.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: SlotEvaluator, X: BootstrapExecutor<E>> SlotEvaluator for BootstrapVia<E, X> {
    type Ct = E::Ct;
    type ProductSum = E::ProductSum;

    fn slots(&self) -> usize {
        self.inner.slots()
    }
    fn max_level(&self) -> usize {
        self.inner.max_level()
    }
    fn bootstrap_level(&self) -> usize {
        self.inner.bootstrap_level()
    }
    fn level(&self, ct: &Self::Ct) -> usize {
        self.inner.level(ct)
    }
    fn scale(&self, ct: &Self::Ct) -> f64 {
        self.inner.scale(ct)
    }
    fn counter(&self) -> &OpCounter {
        self.inner.counter()
    }
    fn add(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct> {
        self.inner.add(a, b)
    }
    fn add_assign(&self, acc: &mut Self::Ct, b: &Self::Ct) -> Result<()> {
        self.inner.add_assign(acc, b)
    }
    fn sub(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct> {
        self.inner.sub(a, b)
    }
    fn neg(&self, a: &Self::Ct) -> Result<Self::Ct> {
        self.inner.neg(a)
    }
    fn add_const(&self, a: &Self::Ct, values: &[Complex64]) -> Result<Self::Ct> {
        self.inner.add_const(a, values)
    }
    fn add_scalar(&self, a: &Self::Ct, c: Complex64) -> Result<Self::Ct> {
        self.inner.add_scalar(a, c)
    }
    fn mul_const(&self, a: &Self::Ct, values: &[Complex64]) -> Result<Self::Ct> {
        self.inner.mul_const(a, values)
    }
    fn mul_scalar(&self, a: &Self::Ct, c: Complex64) -> Result<Self::Ct> {
        self.inner.mul_scalar(a, c)
    }
    fn mul(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct> {
        self.inner.mul(a, b)
    }
    fn square(&self, a: &Self::Ct) -> Result<Self::Ct> {
        self.inner.square(a)
    }
    fn product_sum(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::ProductSum> {
        self.inner.product_sum(a, b)
    }
    fn product_sum_add(
        &self,
        acc: &mut Self::ProductSum,
        a: &Self::Ct,
        b: &Self::Ct,
    ) -> Result<()> {
        self.inner.product_sum_add(acc, a, b)
    }
    fn product_sum_finish(&self, acc: &Self::ProductSum) -> Result<Self::Ct> {
        self.inner.product_sum_finish(acc)
    }
    fn rotate(&self, a: &Self::Ct, k: isize) -> Result<Self::Ct> {
        self.inner.rotate(a, k)
    }
    fn rotate_hoisted(&self, a: &Self::Ct, steps: &[isize]) -> Result<Vec<Self::Ct>> {
        self.inner.rotate_hoisted(a, steps)
    }
    fn conjugate(&self, a: &Self::Ct) -> Result<Self::Ct> {
        self.inner.conjugate(a)
    }
    fn mul_i(&self, a: &Self::Ct) -> Result<Self::Ct> {
        self.inner.mul_i(a)
    }
    fn drop_to_level(&self, a: &Self::Ct, level: usize) -> Result<Self::Ct> {
        self.inner.drop_to_level(a, level)
    }
    fn bootstrap(&self, a: &Self::Ct) -> Result<Self::Ct> {
        let mut out = self.bootstrap_many(std::slice::from_ref(a))?;
        out.pop().ok_or_else(|| {
            crate::Error::Backend("the bootstrap executor returned no ciphertext".into())
        })
    }
    fn bootstrap_many(&self, cts: &[Self::Ct]) -> Result<Vec<Self::Ct>> {
        let out = self.executor.bootstrap_many(&self.inner, cts)?;
        if out.len() != cts.len() {
            return Err(crate::Error::Backend(format!(
                "the bootstrap executor returned {} ciphertexts for {}",
                out.len(),
                cts.len()
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator, SlotCodec};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the stages and ciphertexts it is given, then bootstraps locally.
    #[derive(Default)]
    struct Counting {
        stages: AtomicUsize,
        cts: AtomicUsize,
    }

    impl BootstrapExecutor<Simulator> for Counting {
        fn bootstrap_many(
            &self,
            ev: &Simulator,
            cts: &[<Simulator as SlotEvaluator>::Ct],
        ) -> Result<Vec<<Simulator as SlotEvaluator>::Ct>> {
            self.stages.fetch_add(1, Ordering::Relaxed);
            self.cts.fetch_add(cts.len(), Ordering::Relaxed);
            ev.bootstrap_many(cts)
        }
    }

    /// Drops a ciphertext: a broken executor.
    struct Lossy;

    impl BootstrapExecutor<Simulator> for Lossy {
        fn bootstrap_many(
            &self,
            ev: &Simulator,
            cts: &[<Simulator as SlotEvaluator>::Ct],
        ) -> Result<Vec<<Simulator as SlotEvaluator>::Ct>> {
            let mut out = ev.bootstrap_many(cts)?;
            out.pop();
            Ok(out)
        }
    }

    fn sim() -> Simulator {
        Simulator::new(SimConfig::with_slots(16)).unwrap()
    }

    #[test]
    fn bootstraps_go_through_the_executor_and_everything_else_does_not() {
        let counting = Counting::default();
        let ev = BootstrapVia::new(sim(), &counting);
        let values: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new(i as f64 / 20.0, 0.1))
            .collect();
        let a = ev.inner().encrypt_at(&values, 4).unwrap();
        let b = ev.mul_scalar(&a, Complex64::new(0.5, 0.0)).unwrap();
        assert_eq!(counting.stages.load(Ordering::Relaxed), 0);
        let fresh = ev.bootstrap_many(&[a.clone(), b.clone()]).unwrap();
        let one = ev.bootstrap(&b).unwrap();
        assert_eq!(counting.stages.load(Ordering::Relaxed), 2);
        assert_eq!(counting.cts.load(Ordering::Relaxed), 3);
        for (ct, before) in fresh.iter().chain([&one]).zip([&a, &b, &b]) {
            assert_eq!(ev.level(ct), ev.bootstrap_level());
            assert_eq!(
                ev.inner().decrypt(ct).unwrap(),
                ev.inner().decrypt(before).unwrap()
            );
        }
        // The local executor is the evaluator's own sequential bootstraps.
        let local = BootstrapVia::new(sim(), LocalBootstrap);
        assert_eq!(local.bootstrap_many(&[a.clone(), b]).unwrap(), fresh);
        assert_eq!(local.counts().bootstrap, 2);
        // An executor that loses a ciphertext is an error, not a shorter result.
        let lossy = BootstrapVia::new(sim(), Lossy);
        assert!(lossy.bootstrap_many(&[a.clone(), a.clone()]).is_err());
        assert!(lossy.bootstrap(&a).is_err());
    }
}
