//! CLI stage: parses arguments, runs the library, renders results and
//! errors. The only stage that prints or picks exit codes.
//!
//! Exit codes: 0 success; 1 the operation failed (bad recipe, bad image,
//! I/O); 2 usage error (bad flags or environment).
//!
//! The commands, one file each:
//!
//! - `build`: the `build` command, from flags to a `crate::compose::BuildRequest`;
//! - `plan`: the `plan` command (tree, JSON, Graphviz);
//! - `lock`: the `lock` command (what moved, `--check`);
//! - `commit`: the `commit` command;
//! - `copy`: the `copy` command;
//! - `plugin`: `plugin test`, a layer hook run without a build;
//! - `inspect`: `inspect`, `history`, `ls`, `diff`, `du` as tables or JSON, and `unpack`;
//! - `keys`: `keygen`, `sign`, `verify` (with `--attestations`), and the key password;
//! - `attest`: `attestations`, `sbom` and `reproduce`;
//! - `store`: the `store` commands.
//!
//! What they share, each file importing none of the commands:
//!
//! - `args`: the clap definitions;
//! - `access`: where the store is and how registries are reached;
//! - `settings`: the layer flags (settings that determine layer bytes, `--platform`);
//! - `human`: sizes and push counts as people read them;
//! - `progress`: build progress (bars on a terminal, lines otherwise);
//! - `render`: errors as text, with carets for recipe mistakes.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the CLI is the one stage that prints")]

mod access;
mod args;
mod attest;
mod build;
mod commit;
mod copy;
mod human;
mod inspect;
mod keys;
mod lock;
mod plan;
mod plugin;
mod progress;
mod render;
mod settings;
mod store;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::Error;
use crate::compose::ComposeError;
use args::{Cli, Command};

/// The exit code of a command that failed: a bad recipe or image, I/O.
pub const EXIT_FAILURE: u8 = 1;
/// The exit code of a command asked for something impossible: bad flags or
/// environment.
pub const EXIT_USAGE: u8 = 2;

/// Runs compose-img with the process's arguments and environment.
pub fn run() -> ExitCode {
    // Like every Unix tool, end quietly when the reader of stdout goes
    // away (`compose-img ls IMAGE | head`) instead of failing to print.
    // SAFETY: restoring a default signal disposition before any thread
    // starts; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let result = match &cli.command {
        Command::Build(args) => build::run(args, cli.quiet, cli.verbose),
        Command::Plan(args) => plan::run(args),
        Command::Lock(args) => lock::run(args, cli.quiet),
        Command::Store(args) => store::run(args),
        Command::Copy(args) => copy::run(args, cli.quiet),
        Command::Inspect(args) => inspect::inspect(args),
        Command::History(args) => inspect::history(args),
        Command::Ls(args) => inspect::ls(args),
        Command::Diff(args) => inspect::diff(args),
        Command::Du(args) => inspect::du(args),
        Command::Unpack(args) => inspect::unpack(args, cli.quiet),
        Command::Commit(args) => commit::run(args, cli.quiet),
        Command::Keygen(args) => keys::keygen(args),
        Command::Sign(args) => keys::sign(args, cli.quiet),
        Command::Verify(args) => keys::verify(args),
        Command::Attestations(args) => attest::list(args),
        Command::Sbom(args) => attest::sbom(args),
        Command::Reproduce(args) => attest::reproduce(args, cli.quiet),
        Command::Plugin(args::PluginCommand::Test(args)) => plugin::test(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = std::io::stderr().write_all(render::render(&error, color()).as_bytes());
            ExitCode::from(match error {
                Error::Usage(_) | Error::Compose(ComposeError::Usage(_)) => EXIT_USAGE,
                _ => EXIT_FAILURE,
            })
        }
    }
}

/// Whether messages on stderr may use colour: a terminal, and no `NO_COLOR`.
fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
