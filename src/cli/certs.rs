//! `hetal certs init --dir D --nodes a,b,c [--days N]`: creates a cluster CA and one certificate per
//! node for mutual TLS between hetal nodes.
//!
//! Writes `D/ca.pem`, `D/ca.key`, and `D/<node>.pem`, `D/<node>.key` for every node. Private keys
//! are created with mode 0600. Nothing is overwritten: if any target file exists, the command
//! fails before writing anything. Each node needs its own `.pem`/`.key` and `ca.pem`; keep
//! `ca.key` offline (it is only needed to issue more certificates).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use hetal_runtime::NodeName;
use hetal_runtime::identity::{Validity, generate_cluster, write_cluster};

/// `hetal certs ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Generate a cluster CA and node certificates.
    Init(CertsInitArgs),
}

/// Arguments of `hetal certs init`.
#[derive(Debug, Args)]
pub struct CertsInitArgs {
    /// Directory to write the PEM files into (created if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// Comma-separated node names (lowercase DNS names, e.g. client,trainer,worker-1).
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,
    /// Validity of the certificates in days.
    #[arg(long, default_value_t = 3650)]
    pub days: u64,
}

/// Runs `hetal certs ...`.
pub fn run(command: &CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Init(args) => init(args),
    }
}

fn init(args: &CertsInitArgs) -> anyhow::Result<()> {
    let mut names = Vec::with_capacity(args.nodes.len());
    for raw in &args.nodes {
        let name = NodeName::new(raw.trim()).with_context(|| format!("--nodes: {raw:?}"))?;
        if names.contains(&name) {
            anyhow::bail!("--nodes: {name} is listed twice");
        }
        names.push(name);
    }
    anyhow::ensure!(args.days > 0, "--days must be positive");
    let (ca, identities) = generate_cluster(&names, Validity::days_from_now(args.days))?;
    let written = write_cluster(&args.dir, &ca, &identities)?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
