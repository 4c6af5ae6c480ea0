//! `hwsign man` and `hwsign completions`: man pages (clap_mangen) and shell completions
//! (clap_complete) generated from the clap definitions in [`super::args`], for both programs.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::args::{AgentCli, Cli};
use crate::error::{Error, Result};

/// Which program.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Program {
    /// The client.
    Hwsign,
    /// `hwsign-agent`.
    HwsignAgent,
}

impl Program {
    fn command(self) -> clap::Command {
        match self {
            Program::Hwsign => Cli::command(),
            Program::HwsignAgent => AgentCli::command(),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Program::Hwsign => "hwsign",
            Program::HwsignAgent => "hwsign-agent",
        }
    }
}

/// `hwsign man`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hwsign man | man -l -\n  \
    hwsign man -o ~/.local/share/man/man1        # hwsign.1, hwsign-sign.1, …, hwsign-agent.1")]
pub struct ManArgs {
    /// Write every page (hwsign.1, one per subcommand, hwsign-agent.1) into this directory
    /// (made if missing; pages there are replaced). Default: print one page on stdout.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The program whose page is printed (without -o).
    #[arg(long, value_enum, default_value = "hwsign")]
    pub program: Program,
}

/// `hwsign completions`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hwsign completions bash > ~/.local/share/bash-completion/completions/hwsign\n  \
    hwsign completions zsh > ~/.zfunc/_hwsign\n  \
    hwsign completions fish > ~/.config/fish/completions/hwsign.fish\n  \
    hwsign completions bash --program hwsign-agent > ~/.local/share/bash-completion/completions/hwsign-agent")]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
    /// The program to complete.
    #[arg(long, value_enum, default_value = "hwsign")]
    pub program: Program,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Usage(format!("{what}: {e}"))
}

/// Print or write the man pages.
pub fn man(args: ManArgs) -> Result<()> {
    let Some(dir) = args.output else {
        let mut out = Vec::new();
        clap_mangen::Man::new(args.program.command())
            .render(&mut out)
            .map_err(io("cannot render the man page".into()))?;
        return std::io::stdout().write_all(&out).map_err(Error::Stdout);
    };
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    for program in [Program::Hwsign, Program::HwsignAgent] {
        let mut cmd = program.command();
        cmd.set_bin_name(program.name());
        clap_mangen::generate_to(cmd, &dir)
            .map_err(io(format!("cannot write man pages into {}", dir.display())))?;
    }
    eprintln!("hwsign: wrote the man pages into {}", dir.display());
    Ok(())
}

/// Print the completion script.
pub fn completions(args: CompletionsArgs) -> Result<()> {
    let mut cmd = args.program.command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, args.program.name(), &mut out);
    std::io::stdout().write_all(&out).map_err(Error::Stdout)
}
