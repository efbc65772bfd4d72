//! The `hetal` command-line interface.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = hetal::cli::Cli::parse();
    match hetal::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
