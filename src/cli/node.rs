//! `hetal node --config FILE`: runs one party (client, trainer, worker or evaluator) from a TOML
//! configuration (see `hetal_actors::config` for the format and `examples/configs/` for
//! three- and five-node layouts on loopback). A trainer whose file has a `[checkpoint]` table
//! resumes its saved job when started again after a crash; worker nodes outlive such a restart
//! and re-join the trainer's pool.

use std::path::PathBuf;

use clap::Args;
use hetal_actors::config::NodeFileConfig;

/// Arguments of `hetal node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The party's configuration file.
    #[arg(long)]
    pub config: PathBuf,
}

/// Runs `hetal node`.
pub fn run(args: &NodeArgs) -> anyhow::Result<()> {
    let config = NodeFileConfig::load(&args.config)?;
    let prefix = config.name.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(hetal_actors::party::run_party(&config, |line| {
        println!("[{prefix}] {line}")
    }))?;
    Ok(())
}
