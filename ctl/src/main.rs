//! The `chatctl` binary: parse the command line, run it, exit with the
//! documented code (0 ok, 1 error, 2 usage, 3 not found, 4 authentication,
//! 5 conflict).

use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Clap prints usage errors itself and exits with 2 (help and version with 0).
    let cli = chatctl::args::Cli::parse();
    let filter = EnvFilter::try_from_env("CHATCTL_LOG").unwrap_or_else(|_| EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    ExitCode::from(chatctl::main_with(cli))
}
