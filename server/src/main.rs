//! The `chatd` binary: parses flags, sets up logging and runs the server
//! library until SIGINT or SIGTERM; SIGHUP reloads the configuration
//! (`chatd::reload`). `chatd restore` restores a backup instead.

use anyhow::Context;
use clap::Parser;
use std::future::Future;
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the context chain on one line and, unlike
            // returning the error from `main`, no backtrace.
            eprintln!("chatd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let args = chatd::config::Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stdout, with colour codes only when it is a terminal (and
    // NO_COLOR is unset): a log file or journald would store them as
    // escape-sequence noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();

    if let Some(chatd::config::Command::Restore { file, data_dir }) = &args.command {
        let (file, data_dir) = (file.clone(), data_dir.clone());
        let restored =
            tokio::task::spawn_blocking(move || chatd::backup::restore::restore(&file, &data_dir))
                .await
                .context("the restore task failed")??;
        let m = &restored.manifest;
        println!(
            "restored {} events and {} files (backup of {} ms since the epoch, chatd {}) into {}; \
             start chatd with --data {}",
            m.events,
            m.blobs.len(),
            m.created_ms,
            m.chatd_version,
            restored.data_dir.display(),
            restored.data_dir.display()
        );
        return Ok(());
    }
    let config = chatd::Config::load(args.clone()).context("invalid configuration")?;
    config.check_for_service()?;
    // Register the handlers before starting, so a signal that arrives during
    // start-up still shuts down cleanly (and a SIGHUP does not kill chatd,
    // which is its default action).
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot install signal handlers")?;
    let server = chatd::Server::start(config)
        .await
        .context("cannot start chatd")?;
    let reloader = server.reloader();
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!(file = ?args.config, "SIGHUP: reloading the configuration");
            let args = args.clone();
            let loaded = tokio::task::spawn_blocking(move || chatd::Config::load(args)).await;
            match loaded {
                Ok(loaded) => {
                    // Logged inside; chatd keeps serving either way.
                    let _ = reloader.apply(loaded);
                }
                Err(e) => tracing::error!(error = %e, "configuration reload task failed"),
            }
        }
    });
    server.run(shutdown).await.context("chatd failed")?;
    Ok(())
}

/// A future that completes on the first SIGINT or SIGTERM.
///
/// # Errors
/// If a signal handler cannot be installed.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutdown requested");
    })
}
