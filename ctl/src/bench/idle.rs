//! The `connect` scenario: N idle, authenticated connections; reports the
//! connect time and the server's resident memory per connection.

use super::fleet::{self, Account};
use super::procfs::Probe;
use super::report::{BenchReport, Latencies};
use chat_client::ClientConfig;

/// Opens a connection per account, at most `parallel` handshakes at once,
/// holds them all, then measures and closes them.
///
/// # Errors
/// A failed connection, or `/proc` unreadable for `server_pid`.
pub async fn run(
    cfg: &ClientConfig,
    accounts: &[Account],
    parallel: usize,
    server_pid: Option<u32>,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let probe = Probe::start(server_pid)?;
    let mut times = Latencies::default();
    let clients = fleet::connect_all(cfg, accounts, parallel, &mut times).await?;
    // Every connection is authenticated, so the server holds its session
    // state and its user stream; measure while all are still open.
    if let Some(p) = probe {
        report.server = Some(p.finish(0, clients.len())?);
    }
    report.connect = times.summary();
    for c in &clients {
        c.conn.close("chatctl bench: done");
    }
    Ok(())
}
