//! Over QUIC on loopback and in memory: the full deployment equals the single-process trainer,
//! the client's stop decision ends training at its epoch, a worker killed mid-run changes
//! nothing, messages from the wrong party are refused, and a network drop between client and
//! trainer heals without changing the result.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hetal_actors::backend::MaterialBody;
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::backend::{KeyScope, ServerBackend, ServerOptions};
use hetal_actors::client::StopPolicy;
use hetal_actors::deploy::{
    Deployment, Layout, Network, Taps, encrypt_dataset, upload_from_client,
};
use hetal_actors::messages::{BlobSink, EpochVerdict, JoinPool, LoadKeys, LoadKeysBody};
use hetal_actors::roster::{TRAINER_ACTOR, WORKER_ACTOR};
use hetal_actors::trainer::keys::WorkerKeys;
use hetal_actors::trainer::pool::{BootstrapPlacement, MAX_IN_FLIGHT, WorkerPool};
use hetal_actors::trainer::scheduler::{Scheduler, Unit};
use hetal_actors::worker::DEFAULT_MAX_JOBS;
use hetal_learn::eval::{SimCt, SlotEvaluator};
use hetal_learn::matmul::{AbtPlan, Partial, Sharding};
use hetal_learn::pack::{Layout as BlockLayout, UnitShape, encrypt_matrix};
use hetal_learn::train::{Decision, Verdict};
use hetal_runtime::SendError;
use ndarray::Array2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_deployment_with_two_workers_and_an_evaluator_equals_the_single_process_run() {
    let data = digits(96, 48);
    let setup = setup(&data, 2, 3);
    let (ref_verdicts, ref_model) = single_process(&data, &setup, None);
    let out = run_sim(Network::QuicLoopback, 2, true, &data, setup, None).await;
    assert_eq!(out.epochs, ref_verdicts.len());
    let bound = float_reorder_bound(out.steps, &ref_model);
    let diff = max_diff(&out.model, &ref_model);
    println!(
        "QUIC: max weight difference {diff:e} (bound {bound:e}), {:?}, balance {:?}",
        out.trainer.scheduler, out.trainer.balance
    );
    assert!(diff <= bound, "{diff} > {bound}");
    assert!(out.trainer.scheduler.units_remote > 0);
    assert_eq!(out.trainer.scheduler.units_local, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_stop_decision_ends_training_at_that_epoch() {
    let data = digits(64, 32);
    let setup = setup(&data, 6, 3);
    let out = run_sim(Network::InMemory, 1, true, &data, setup, Some(2)).await;
    assert_eq!(out.epochs, 2);
    assert_eq!(out.verdicts.len(), 2);
    assert_eq!(out.verdicts[0].decision, Decision::Continue);
    assert_eq!(out.verdicts[1].decision, Decision::Stop);
    assert_eq!(out.steps, 2 * 2, "two epochs of two batches");
    let (_, ref_model) = single_process(&data, &setup, Some(2));
    assert!(max_diff(&out.model, &ref_model) <= float_reorder_bound(out.steps, &ref_model));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_worker_mid_run_does_not_change_the_result() {
    let data = digits(96, 48);
    let setup = setup(&data, 2, 3);
    let (_, ref_model) = single_process(&data, &setup, None);
    let deployment = Deployment::start(Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: true,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let (backend, mut parties) = sim_parties(&deployment, &data.val_y, 3, None);
    let mut stats = Vec::new();
    for i in 0..2 {
        stats.push(
            deployment
                .start_worker::<SimServer>(i, ServerOptions::default(), None)
                .await
                .unwrap(),
        );
    }
    parties
        .wait_for_workers(2, Duration::from_secs(10))
        .await
        .unwrap();
    // Kill worker 1 once it has computed a few units (mid-epoch).
    let victim = deployment.workers[0].clone();
    let watched = stats[0].clone();
    let killer = tokio::spawn(async move {
        while watched.units() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        victim.shutdown().await;
        watched.units()
    });
    let upload = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &upload, None)
        .await
        .unwrap();
    let out = parties
        .finish(Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    let killed_after = killer.await.unwrap();
    println!(
        "worker-1 killed after {killed_after} units; {:?}; lost {:?}",
        out.trainer.scheduler, out.trainer.lost_workers
    );
    assert_eq!(out.trainer.lost_workers.len(), 1);
    let bound = float_reorder_bound(out.steps, &ref_model);
    let diff = max_diff(&out.model, &ref_model);
    assert!(diff <= bound, "{diff} > {bound}");
    deployment.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_the_wrong_party_are_refused() {
    let deployment = Deployment::start(Layout {
        workers: 1,
        spare_workers: 0,
        evaluator: true,
        network: Network::QuicLoopback,
    })
    .await
    .unwrap();
    let backend = Arc::new(SimClient::new(sim_config()).unwrap());
    let _parties = deployment
        .start_parties(
            backend,
            vec![0],
            StopPolicy {
                patience: 3,
                budget: None,
            },
            ServerOptions::default(),
            &Taps::default(),
        )
        .unwrap();
    deployment
        .start_worker::<SimServer>(0, ServerOptions::default(), None)
        .await
        .unwrap();
    let trainer = deployment.roster.trainer.clone();
    // Only the trainer may hand out work units…
    let unit = BlobSink::default().seal(LoadKeysBody {
        session: 7,
        material: MaterialBody::Simulator(sim_config()),
    });
    let sent = deployment
        .client
        .remote_ref::<LoadKeys>(&deployment.roster.workers[0], WORKER_ACTOR)
        .ask(unit, Duration::from_secs(10))
        .await;
    assert!(matches!(sent, Err(SendError::Rejected { .. })), "{sent:?}");
    // …the client may not join the worker pool…
    let join = deployment
        .client
        .remote_ref::<JoinPool>(&trainer, TRAINER_ACTOR)
        .tell(JoinPool)
        .await;
    assert!(matches!(join, Err(SendError::Rejected { .. })), "{join:?}");
    // …and a worker or the evaluator may not send the client's verdict.
    let verdict = EpochVerdict(Verdict {
        epoch: 0,
        val_loss: 0.1,
        val_accuracy: 1.0,
        decision: Decision::Stop,
        new_best: true,
    });
    for node in [
        &deployment.workers[0],
        deployment.evaluator.as_ref().unwrap(),
    ] {
        let sent = node
            .remote_ref::<EpochVerdict>(&trainer, TRAINER_ACTOR)
            .tell(verdict)
            .await;
        match sent {
            Err(SendError::Rejected { reason, .. }) => {
                assert!(reason.contains("may not come from"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    deployment.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_joining_mid_run_takes_units_and_the_result_is_unchanged() {
    let data = digits(96, 48);
    let setup = setup(&data, 3, 3);
    let (_, ref_model) = single_process(&data, &setup, None);
    let deployment = Deployment::start(Layout {
        workers: 0,
        spare_workers: 1,
        evaluator: false,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let (backend, mut parties) = sim_parties(&deployment, &data.val_y, 3, None);
    let upload = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &upload, None)
        .await
        .unwrap();
    // The trainer starts alone (computing locally); the worker joins after the first epoch.
    let first_epoch = Arc::new(tokio::sync::Notify::new());
    let (node, roster) = (deployment.workers[0].clone(), deployment.roster.clone());
    let signal = Arc::clone(&first_epoch);
    let joiner = tokio::spawn(async move {
        signal.notified().await;
        hetal_actors::worker::start_worker::<SimServer>(
            &node,
            roster,
            ServerOptions::default(),
            None,
            Duration::from_secs(10),
        )
        .await
        .unwrap()
    });
    let out = parties
        .finish(Duration::from_secs(120), |_| first_epoch.notify_one())
        .await
        .unwrap();
    let stats = joiner.await.unwrap();
    println!(
        "late worker computed {} units; {:?}",
        stats.units(),
        out.trainer.scheduler
    );
    assert!(stats.units() > 0, "the late worker took units");
    assert!(
        out.trainer.scheduler.units_local > 0,
        "the first epoch ran locally"
    );
    assert_eq!(out.trainer.scheduler.units_remote, stats.units());
    let bound = float_reorder_bound(out.steps, &ref_model);
    let diff = max_diff(&out.model, &ref_model);
    assert!(diff <= bound, "{diff} > {bound}");
    deployment.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_drop_between_client_and_trainer_heals_and_the_run_is_unchanged() {
    use hetal_actors::progress::ProgressEvent;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let data = digits(96, 48);
    let setup = setup(&data, 3, 3);
    let reference = run_sim(Network::InMemory, 0, false, &data, setup, None).await;

    // The link is cut twice: as the client sends its verdict on epoch 0 (its re-sends wait),
    // and mid-epoch 1 (the trainer's validation output waits). Each cut is healed only after
    // the network refused three sends through it.
    let cut = Arc::new(AtomicBool::new(false));
    let cuts = Arc::new(AtomicU64::new(0));
    let (deployment, net, client, trainer) = lone_trainer_in_memory().await;
    let sink: hetal_actors::progress::ProgressSink = {
        let (net, cut, cuts) = (net.clone(), Arc::clone(&cut), Arc::clone(&cuts));
        let (client, trainer) = (client.clone(), trainer.clone());
        Arc::new(move |event| {
            let now = matches!(
                event,
                ProgressEvent::Verdict { epoch: 0, .. }
                    | ProgressEvent::Step {
                        epoch: 1,
                        step: 2,
                        ..
                    }
            );
            if now {
                net.partition(&client, &trainer);
                cuts.fetch_add(1, Ordering::SeqCst);
                cut.store(true, Ordering::SeqCst);
            }
        })
    };
    let deployment = deployment.with_progress(sink);
    let healer = {
        let (net, cut) = (net.clone(), Arc::clone(&cut));
        tokio::spawn(async move {
            let mut healed = 0;
            let mut refused_at_heal = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while healed < 2 && std::time::Instant::now() < deadline {
                let refused = net.refused_sends();
                if cut.load(Ordering::SeqCst) && refused >= refused_at_heal + 3 {
                    cut.store(false, Ordering::SeqCst);
                    net.heal(&client, &trainer);
                    refused_at_heal = refused;
                    healed += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            healed
        })
    };
    let (backend, mut parties) = sim_parties(&deployment, &data.val_y, setup.hyper.patience, None);
    let upload = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &upload, None)
        .await
        .unwrap();
    let out = parties
        .finish(Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    let healed = healer.await.unwrap();
    println!(
        "{} cuts healed, {} sends refused while cut",
        healed,
        net.refused_sends()
    );
    assert_eq!(cuts.load(Ordering::SeqCst), 2);
    assert_eq!(healed, 2);
    assert!(net.refused_sends() >= 6);
    // Same verdicts, each epoch decided once; the trainer computes locally: bit-identical.
    assert_eq!(out.verdicts, reference.verdicts);
    assert_eq!(out.trainer.verdicts, reference.verdicts);
    assert_eq!(out.steps, reference.steps);
    assert_eq!(max_diff(&out.model, &reference.model), 0.0);
    deployment.shutdown().await;
}

/// Two in-memory workers and an evaluator train with the trainer's bootstraps placed by
/// `placement`; with `kill_after` worker 1 is shut down once it has computed that many
/// bootstrap units. Returns the outcome and each worker's bootstrap units.
async fn run_placed(
    data: &Digits,
    setup: hetal_actors::messages::TrainingSetup,
    placement: BootstrapPlacement,
    kill_after: Option<usize>,
) -> (hetal_actors::deploy::RunOutcome, Vec<usize>) {
    let deployment = Deployment::start(Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: true,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let (backend, mut parties) = sim_parties(&deployment, &data.val_y, 3, None);
    parties
        .trainer
        .pool()
        .lock()
        .unwrap()
        .set_bootstrap_placement(placement);
    let mut stats = Vec::new();
    for i in 0..2 {
        stats.push(
            deployment
                .start_worker::<SimServer>(i, ServerOptions::default(), None)
                .await
                .unwrap(),
        );
    }
    parties
        .wait_for_workers(2, Duration::from_secs(10))
        .await
        .unwrap();
    let killer = kill_after.map(|after| {
        let (victim, watched) = (deployment.workers[0].clone(), stats[0].clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while watched.bootstraps() < after && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            victim.shutdown().await;
        })
    });
    let upload = encrypt_dataset(&*backend, &setup, plain(data)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &upload, None)
        .await
        .unwrap();
    let out = parties
        .finish(Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    if let Some(killer) = killer {
        killer.await.unwrap();
    }
    deployment.shutdown().await;
    (out, stats.iter().map(|s| s.bootstraps()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_units_on_two_workers_give_the_weights_of_the_trainer_bootstrapping_itself() {
    let data = digits(96, 48);
    let setup = setup(&data, 2, 3);
    let (local, local_boots) = run_placed(&data, setup, BootstrapPlacement::Trainer, None).await;
    let (spread, boots) = run_placed(&data, setup, BootstrapPlacement::default(), None).await;
    println!(
        "trainer bootstraps: {:?}; on workers: {:?}, per worker {boots:?}",
        local.trainer.scheduler, spread.trainer.scheduler
    );
    // The same multiplications (same worker count) and the same exact bootstraps: bit-identical.
    assert_eq!(max_diff(&spread.model, &local.model), 0.0);
    assert_eq!(spread.verdicts, local.verdicts);
    assert_eq!(spread.trainer.bootstraps, local.trainer.bootstraps);
    assert!(local.trainer.bootstraps > 0, "the run bootstraps");
    // Every bootstrap ran on a worker, and both workers took some; none when placed on the
    // trainer.
    let stats = &spread.trainer.scheduler;
    assert_eq!(stats.bootstraps_remote, spread.trainer.bootstraps);
    assert_eq!(boots.iter().sum::<usize>(), stats.bootstraps_remote);
    assert!(boots.iter().all(|&b| b > 0), "{boots:?}");
    assert_eq!(stats.bootstraps_local, 0);
    assert_eq!(local.trainer.scheduler.bootstraps_remote, 0);
    assert_eq!(local_boots, vec![0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_bootstrap_units_does_not_change_the_result() {
    let data = digits(96, 48);
    let setup = setup(&data, 2, 3);
    let (_, ref_model) = single_process(&data, &setup, None);
    let (out, boots) = run_placed(&data, setup, BootstrapPlacement::default(), Some(2)).await;
    let stats = &out.trainer.scheduler;
    println!("worker 1 killed after {} bootstraps; {stats:?}", boots[0]);
    assert_eq!(out.trainer.lost_workers.len(), 1);
    assert!(boots[0] >= 2 && boots[1] > 0, "{boots:?}");
    assert_eq!(
        stats.bootstraps_remote + stats.bootstraps_local,
        out.trainer.bootstraps
    );
    // The matrix products were cut for two workers, then one: equal up to the order of sums.
    let bound = float_reorder_bound(out.steps, &ref_model);
    let diff = max_diff(&out.model, &ref_model);
    assert!(diff <= bound, "{diff} > {bound}");
}

/// The blocks of `partials` as bytes, to compare results bit for bit.
fn partial_bytes(sim: &SimServer, partials: &[Partial<SimCt>]) -> Vec<Vec<u8>> {
    partials
        .iter()
        .flat_map(|p| &p.blocks)
        .map(|b| sim.encode_ct(b).unwrap().to_vec())
        .collect()
}

/// A worker shared by several clients' jobs holds at most [`DEFAULT_MAX_JOBS`] of them: one job
/// more drops the oldest. That job's next unit is answered with a typed
/// `OutcomeBody::UnknownJob`, and the trainer sends its keys and operands again (the worker stays
/// in the pool): both the dropped job and the newest one get the product the trainer computes
/// alone, bit for bit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_a_full_worker_dropped_gets_its_keys_again_and_the_same_product() {
    let deployment = Deployment::start(Layout {
        workers: 1,
        spare_workers: 0,
        evaluator: false,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let (_, parties) = sim_parties(&deployment, &[0, 1], 3, None);
    let worker_stats = deployment
        .start_worker::<SimServer>(0, ServerOptions::default(), None)
        .await
        .unwrap();
    parties
        .wait_for_workers(1, Duration::from_secs(10))
        .await
        .unwrap();
    let worker = deployment.roster.workers[0].clone();

    // One product X·Wᵀ in units; X is job-scoped (cached on the worker across steps).
    let sim = Arc::new(SimServer::new(sim_config()).unwrap());
    let ev = sim.evaluator().unwrap();
    let (n, d, c): (usize, usize, usize) = (64, 40, 3);
    let unit = UnitShape::new(64, SLOTS / 64).unwrap();
    let m = |rows: usize, cols: usize, salt: usize| {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 31 + j * 17 + salt * 7) % 23) as f64 / 23.0 - 0.5
        })
    };
    let period = c.next_power_of_two();
    let top = ev.max_level();
    let xe = encrypt_matrix(&ev, m(n, d, 1).view(), BlockLayout::RowMajor, unit, top).unwrap();
    let layout = BlockLayout::RowTiled { period };
    let we = encrypt_matrix(&ev, m(c, d, 2).view(), layout, unit, top).unwrap();
    let plan = AbtPlan::new(&xe, &we, 1.0, Sharding::for_workers(2, period / 2, 2)).unwrap();
    let units: Vec<Unit<SimCt>> = plan
        .units(&ev, &xe, &we)
        .unwrap()
        .into_iter()
        .map(Unit::Abt)
        .collect();

    // Job `session`'s scheduler, with its own view of the shared worker (as each client's job
    // of a trainer hub has).
    let scheduler = |session: u64, pool: Option<&Arc<Mutex<WorkerPool>>>| {
        let pool = pool.cloned().unwrap_or_else(|| {
            let mut pool = WorkerPool::default();
            pool.join(worker.clone());
            Arc::new(Mutex::new(pool))
        });
        let keys = WorkerKeys::scoped(session, &sim, KeyScope::Full).unwrap();
        let s = Scheduler::new(
            deployment.trainer.clone(),
            Arc::clone(&pool),
            Arc::clone(&sim),
            keys,
            Duration::from_secs(60),
            None,
        );
        (Arc::new(s), pool)
    };
    // The trainer alone (no worker in its pool).
    let (alone, _) = scheduler(100, Some(&Arc::new(Mutex::new(WorkerPool::default()))));
    let want = partial_bytes(&sim, &alone.run(1, units.clone()).await.unwrap());

    // Job 1 caches X on the worker; then as many newer jobs as the worker holds.
    let (first, first_pool) = scheduler(1, None);
    assert_eq!(
        partial_bytes(&sim, &first.run(1, units.clone()).await.unwrap()),
        want
    );
    let mut newest = None;
    for session in 2..=(1 + DEFAULT_MAX_JOBS as u64) {
        let (s, _) = scheduler(session, None);
        assert_eq!(
            partial_bytes(&sim, &s.run(1, units.clone()).await.unwrap()),
            want
        );
        newest = Some(s);
    }
    let newest = newest.unwrap();
    let inline_before = worker_stats.inline_operands();

    // Job 1's next step: the worker refuses it (its keys were dropped), gets the keys and every
    // operand again, and computes the same product; it stays in job 1's pool.
    let got = first.run(2, units.clone()).await.unwrap();
    assert_eq!(partial_bytes(&sim, &got), want);
    let stats = first.stats();
    println!("job 1 after being dropped: {stats:?}");
    assert!(
        (1..=MAX_IN_FLIGHT).contains(&stats.keys_reloaded),
        "one refusal per unit in flight: {stats:?}"
    );
    assert_eq!(stats.units_local, 0, "the worker computed every unit");
    assert_eq!(stats.units_remote, 2 * units.len());
    {
        let pool = first_pool.lock().unwrap();
        assert_eq!((pool.len(), pool.lost().len()), (1, 0));
    }
    let x_blocks = xe.blocks().len();
    assert!(
        worker_stats.inline_operands() - inline_before >= x_blocks,
        "X was sent again"
    );

    // The newest job was kept: no reload, same product.
    let got = newest.run(2, units.clone()).await.unwrap();
    assert_eq!(partial_bytes(&sim, &got), want);
    assert_eq!(newest.stats().keys_reloaded, 0);
    deployment.shutdown().await;
}
