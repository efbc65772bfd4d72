//! The `hetal` command line: argument types and dispatch. Each subcommand lives in its own module
//! with its own argument struct; this file only wires them together.

use clap::{Parser, Subcommand};

/// hetal: privacy-preserving transfer learning with homomorphic encryption.
#[derive(Debug, Parser)]
#[command(name = "hetal", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure hetal's building blocks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `hetal bench ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bench(bench) => match bench {},
    }
}
