//! Whole training runs on the simulator backend: distributed over workers (in memory and over
//! QUIC on loopback) they equal the single-process trainer of `hetal-learn`.

mod common;

use common::*;
use hetal_actors::deploy::Network;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_in_memory_equal_the_single_process_run() {
    let data = digits(96, 48);
    let setup = setup(&data, 2, 3);
    let (ref_verdicts, ref_model) = single_process(&data, &setup, None);
    let out = run_sim(Network::InMemory, 2, true, &data, setup, None).await;
    assert_eq!(out.epochs, ref_verdicts.len());
    assert_eq!(out.steps, 3 * out.epochs);
    let bound = float_reorder_bound(out.steps, &ref_model);
    let diff = max_diff(&out.model, &ref_model);
    println!(
        "max weight difference {diff:e} (bound {bound:e}); {:?}",
        out.trainer.scheduler
    );
    assert!(diff <= bound, "{diff} > {bound}");
    for (a, b) in out.verdicts.iter().zip(&ref_verdicts) {
        assert_eq!(a.decision, b.decision);
        assert!((a.val_loss - b.val_loss).abs() <= bound.max(1e-12) * 10.0);
    }
    // Both workers took units; nothing ran locally.
    assert_eq!(out.trainer.scheduler.units_local, 0);
    assert!(
        out.trainer.balance.iter().all(|(_, n)| *n > 0),
        "{:?}",
        out.trainer.balance
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_workers_compute_locally_and_equal_the_single_process_run() {
    let data = digits(64, 32);
    let setup = setup(&data, 2, 3);
    let (_, ref_model) = single_process(&data, &setup, None);
    let out = run_sim(Network::InMemory, 0, false, &data, setup, None).await;
    assert_eq!(out.trainer.scheduler.units_remote, 0);
    assert!(out.trainer.scheduler.units_local > 0);
    // No sharding at all: the very same computation.
    assert_eq!(max_diff(&out.model, &ref_model), 0.0);
}
