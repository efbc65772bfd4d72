//! The `hetal` command-line interface: global logging flags, then one subcommand.
//!
//! Logs go through `tracing` to stderr (human-readable, or JSON lines with `--json-logs`) at a
//! level set by `RUST_LOG` when present, else by `-v`/`-vv`/`-q`; they are printed between
//! redraws of the progress bars so neither garbles the other.

use clap::{ArgAction, Args, Parser};
use hetal::progress::Progress;
use tracing_subscriber::EnvFilter;

/// hetal: privacy-preserving transfer learning with homomorphic encryption.
///
/// Start with `hetal demo` (an encrypted training of a digit classifier with 128-bit CKKS and
/// bootstrapping, sized for about 10 minutes on two cores) or `hetal demo --quick` (the same
/// pipeline on insecure toy parameters).
#[derive(Debug, Parser)]
#[command(name = "hetal", version, about, long_about)]
struct Main {
    #[command(flatten)]
    logging: Logging,
    #[command(flatten)]
    cli: hetal::cli::Cli,
}

/// Global logging flags.
#[derive(Debug, Args)]
struct Logging {
    /// More log output (-v: debug, -vv: trace); `RUST_LOG` overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors in the log, and no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log as JSON lines (one object per event) instead of text.
    #[arg(long, global = true)]
    json_logs: bool,
}

impl Logging {
    /// The filter: `RUST_LOG` if set, else from the flags (hetal's own crates at the chosen level,
    /// dependencies one notch quieter).
    fn filter(&self) -> EnvFilter {
        if let Ok(filter) = EnvFilter::try_from_default_env() {
            return filter;
        }
        let directives = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn,hetal=info,hetal_actors=info",
            (false, 1) => {
                "info,hetal=debug,hetal_actors=debug,hetal_learn=debug,hetal_runtime=debug"
            }
            (false, _) => {
                "debug,hetal=trace,hetal_actors=trace,hetal_learn=trace,hetal_runtime=trace,hetal_ckks=trace"
            }
        };
        EnvFilter::new(directives)
    }

    /// Installs the global subscriber, writing through the progress bars' log writer.
    fn install(&self, progress: &Progress) {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(self.filter())
            .with_writer(progress.log_writer())
            .with_target(true);
        // A subscriber already set (impossible in this binary) would only lose logs.
        let _ = if self.json_logs {
            builder.json().try_init()
        } else {
            builder.try_init()
        };
    }
}

fn main() -> std::process::ExitCode {
    let main = Main::parse();
    let progress = Progress::init_global(main.logging.quiet);
    main.logging.install(progress);
    match hetal::cli::run(main.cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::debug!("failed: {err:?}");
            progress.multi().suspend(|| eprintln!("error: {err:#}"));
            // Documented in `hetal --help`: 1 runtime, 3 bad input, 4 security refusal, …
            let code = u8::try_from(hetal::cli::exit::exit_code(&err)).unwrap_or(1);
            std::process::ExitCode::from(code)
        }
    }
}
