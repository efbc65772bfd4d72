//! The `hetal` command line: argument types and dispatch. Each subcommand lives in its own module
//! with its own argument struct; this file only wires them together.

pub mod bench_bootstrap;
pub mod bench_matmul;
pub mod bench_ops;
pub mod bench_scale;
pub mod bench_softmax;
pub mod bench_step;
pub mod bench_train;
pub mod bench_transport;
pub mod certs;
pub mod completions;
pub mod config;
pub mod demo;
pub mod embed;
pub mod exit;
pub mod inspect;
pub mod node;
pub mod params;
pub mod predict;
mod shape;
pub mod simulate;
pub mod train;

use clap::{Parser, Subcommand};

/// hetal: privacy-preserving transfer learning with homomorphic encryption.
#[derive(Debug, Parser)]
#[command(name = "hetal", version, about, long_about = None, after_help = exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch an encrypted training: client, trainer, 2 workers and evaluator on loopback QUIC
    /// (`--quick`: insecure toy parameters, under a minute).
    Demo(demo::DemoArgs),
    /// List the CKKS parameter presets; `--check` verifies them against the HE Standard.
    Params(params::ParamsArgs),
    /// Node certificates for mutual TLS (`certs init --dir D --nodes a,b,c`).
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Measure hetal's building blocks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The whole deployment (client, trainer, workers, evaluator) as QUIC nodes on loopback.
    #[command(after_help = SIMULATE_EXAMPLES)]
    Simulate(simulate::SimulateArgs),
    /// Run one party (client, trainer, worker or evaluator) from a TOML configuration.
    #[command(after_help = NODE_EXAMPLES)]
    Node(node::NodeArgs),
    /// What a serialized hetal file is (kind, parameters, level, size); never prints secrets.
    Inspect(inspect::InspectArgs),
    /// Encrypted training on your own features (.npy or CSV); writes model.hetal and a report.
    Train(Box<train::TrainArgs>),
    /// Encrypted inference with a trained model.hetal; prints the accuracy when labels are given.
    Predict(predict::PredictArgs),
    /// Feature extraction on this CPU: a sentence transformer (`--text`) or a ViT (`--images`)
    /// from a local model directory, to a float32 `.npy` for `hetal train`.
    Embed(embed::EmbedArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
}

/// Examples shown by `hetal simulate --help`.
const SIMULATE_EXAMPLES: &str = "\
Examples:
  hetal simulate --data data/digits --workers 2
  hetal simulate --data data/digits --workers 0 --epochs 3 --no-evaluator";

/// Examples shown by `hetal node --help`.
const NODE_EXAMPLES: &str = "\
Examples:
  hetal certs init --dir certs --nodes client,trainer,worker-1
  hetal node --config examples/configs/three-node/trainer.toml
  examples/configs/run.sh three-node    # all parties of a layout on loopback";

/// `hetal bench ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time and precision of the CKKS primitives at one preset (JSON fields: see `bench_ops`).
    Ops(bench_ops::BenchOpsArgs),
    /// Bootstrapping: time, CPU time, levels left, precision, key set size, peak memory
    /// (JSON: see `bench_bootstrap`).
    Bootstrap(bench_bootstrap::BenchBootstrapArgs),
    /// DiagABT / DiagATB beside ColMajor / RowMajor on the same inputs (JSON: see `bench_matmul`).
    Matmul(bench_matmul::BenchMatmulArgs),
    /// Loopback throughput and latency of the QUIC runtime beside raw TCP.
    Transport(bench_transport::BenchTransportArgs),
    /// DiagABT / DiagATB on 1, 2, 4… workers over QUIC loopback beside one process.
    Scale(bench_scale::BenchScaleArgs),
    /// Softmax approximation error, levels and bootstraps (JSON: see `bench_softmax`).
    Softmax(bench_softmax::BenchSoftmaxArgs),
    /// One training step: operations, bootstraps, priced cost or time (JSON: see `bench_step`).
    Step(bench_step::BenchStepArgs),
    /// A whole encrypted training run beside the plaintext reference (JSON: see `bench_train`).
    Train(bench_train::BenchTrainArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Params(args) => params::run(&args),
        Command::Certs(certs) => certs::run(&certs),
        Command::Simulate(args) => simulate::run(&args),
        Command::Node(args) => node::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Embed(args) => embed::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Bench(bench) => match bench {
            BenchCommand::Ops(args) => bench_ops::run(&args),
            BenchCommand::Bootstrap(args) => bench_bootstrap::run(&args),
            BenchCommand::Matmul(args) => bench_matmul::run(&args),
            BenchCommand::Transport(args) => bench_transport::run(&args),
            BenchCommand::Scale(args) => bench_scale::run(&args),
            BenchCommand::Softmax(args) => bench_softmax::run(&args),
            BenchCommand::Step(args) => bench_step::run(&args),
            BenchCommand::Train(args) => bench_train::run(&args),
        },
    }
}
