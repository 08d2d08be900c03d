//! chatctl: the admin, bot and audit command-line interface for `chatd`.
//!
//! It speaks the chat protocol through `chat-client` and never opens the
//! server's database: the server is the only writer.
//!
//! # Code map
//!
//! * `args.rs`: the clap command line (raw arguments only).
//! * `auth/`: resolving server, trust and token from flags, environment,
//!   profiles (`auth/profile.rs`) and stored logins.
//! * `cmd/`: one module per command group; `cmd/unsupported.rs` is the one
//!   list of commands waiting for server support.
//! * `output.rs`: tables, TSV, JSON Lines, CSV; the event JSON shape.
//! * `progress.rs`: progress bars on stderr, only on a terminal.
//! * `irc.rs` and `nicks.rs`: pure IRC transcript parsing and nick →
//!   username mapping for `import irc-log`.
//! * `error.rs`: [`CtlError`] and the documented exit codes.
//!
//! Invariants: no secret is read from a bare command-line value; nothing is
//! printed with `println!` (a closed pipe must not panic); no blocking call
//! runs on the async runtime (stdin and prompts use `spawn_blocking`).

// Tests may unwrap (house style); library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod args;
pub mod auth;
pub mod bench;
pub mod cmd;
pub mod error;
pub mod irc;
pub mod nicks;
pub mod output;
pub mod progress;

pub use error::{CtlError, EXIT_USAGE};

/// Runs a parsed command line on a new single-threaded runtime and returns
/// the process exit code, having printed any error to stderr.
pub fn main_with(cli: args::Cli) -> u8 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chatctl: cannot start the async runtime: {e}");
            return error::EXIT_ERROR;
        }
    };
    let result = rt.block_on(async {
        let r = cmd::run(cli).await;
        auth::close_all().await;
        r
    });
    match result {
        Ok(()) => error::EXIT_OK,
        Err(CtlError::BrokenPipe) => error::EXIT_OK,
        Err(e) => {
            eprintln!("chatctl: {e}");
            e.exit_code()
        }
    }
}
