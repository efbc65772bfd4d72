//! `hetal completions SHELL`: a shell completion script on stdout.
//!
//! ```text
//! hetal completions bash > ~/.local/share/bash-completion/completions/hetal
//! hetal completions zsh  > "${fpath[1]}/_hetal"
//! hetal completions fish > ~/.config/fish/completions/hetal.fish
//! ```

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// Examples shown by `hetal completions --help`.
pub const EXAMPLES: &str = "\
Examples:
  hetal completions bash > ~/.local/share/bash-completion/completions/hetal
  hetal completions zsh > \"${fpath[1]}/_hetal\"
  hetal completions fish > ~/.config/fish/completions/hetal.fish
  hetal completions powershell >> $PROFILE";

/// Arguments of `hetal completions`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXAMPLES)]
pub struct CompletionsArgs {
    /// The shell (bash, zsh, fish, powershell, elvish).
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "hetal", &mut out);
    out
}

/// Runs `hetal completions`.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    use std::io::Write;
    std::io::stdout().write_all(&script(args.shell))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            let text = String::from_utf8(script(shell)).unwrap();
            assert!(text.contains("hetal"), "{shell:?}");
            assert!(
                text.contains("train") && text.contains("predict"),
                "{shell:?}"
            );
        }
    }
}
