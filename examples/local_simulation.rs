//! The whole deployment from Rust, in one process: a client, a trainer, two workers and an
//! evaluator, each its own node talking QUIC over loopback with certificates generated into a
//! temporary directory — what `hetal simulate` does — on the simulator backend and the first
//! 256 training rows of the bundled digits pack.
//!
//! ```sh
//! cargo run --release --example local_simulation
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hetal::actors::backend::ServerOptions;
use hetal::actors::backend::sim::{SimClient, SimServer};
use hetal::actors::client::StopPolicy;
use hetal::actors::deploy::{
    Deployment, Layout, Network, PlainData, Taps, encrypt_dataset, hetal_unit, upload_from_client,
};
use hetal::actors::messages::{TrainingSetup, ValidationForm};
use hetal::data::FeaturePack;
use hetal::learn::eval::SimConfig;
use hetal::learn::softmax::SoftmaxVariant;
use hetal::learn::train::{HyperParams, Preset};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pack = FeaturePack::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits"))?;
    let rows = 256.min(pack.train().labels().len());
    let train_x = pack
        .train()
        .features()
        .slice(ndarray::s![..rows, ..])
        .to_owned();
    let train_y = &pack.train().labels()[..rows];
    let slots = 1 << 13;
    let hyper = HyperParams {
        batch_size: 64,
        max_epochs: 4,
        ..Preset::Digits.hyper()
    };
    let setup = TrainingSetup {
        hyper,
        variant: SoftmaxVariant::HetalRs,
        unit: hetal_unit(hyper.batch_size, pack.num_classes(), slots)?,
        classes: pack.num_classes(),
        dim: pack.dim(),
        validation: ValidationForm::Logits,
    };

    let deployment = Deployment::start(Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: true,
        network: Network::QuicLoopback,
    })
    .await?;
    let backend = Arc::new(SimClient::new(SimConfig::with_slots(slots))?);
    let mut parties = deployment.start_parties(
        Arc::clone(&backend),
        pack.val().labels().to_vec(),
        StopPolicy {
            patience: hyper.patience,
            budget: None,
        },
        ServerOptions::default(),
        &Taps::default(),
    )?;
    for i in 0..2 {
        deployment
            .start_worker::<SimServer>(i, ServerOptions::default(), None)
            .await?;
    }
    parties.wait_for_workers(2, Duration::from_secs(10)).await?;

    let data = encrypt_dataset(
        &*backend,
        &setup,
        PlainData {
            train_x: train_x.view(),
            train_y,
            val_x: pack.val().features().view(),
        },
    )?;
    upload_from_client(&deployment, &*backend, setup, &data, None).await?;
    let out = parties
        .finish(Duration::from_secs(600), |v| {
            println!(
                "epoch {}: validation loss {:.4}, accuracy {:.1} % -> {:?}",
                v.epoch + 1,
                v.val_loss,
                100.0 * v.val_accuracy,
                v.decision
            )
        })
        .await?;
    println!(
        "{} epochs, {} steps in {:.2?}; units per worker {:?}; {} bytes to workers",
        out.epochs,
        out.steps,
        out.trainer.elapsed,
        out.trainer.balance,
        out.trainer.scheduler.bytes_sent
    );
    if let Some(test) = pack.test() {
        let acc = out.model.accuracy(test.features().view(), test.labels())?;
        println!("test accuracy of the decrypted model: {:.2} %", 100.0 * acc);
    }
    deployment.shutdown().await;
    Ok(())
}
