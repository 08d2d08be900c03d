//! The `connect` scenario: N idle, authenticated connections; reports the
//! connect time and each node's resident memory per connection.

use super::fleet::{self, Account};
use super::nodes::{self, Nodes};
use super::report::{BenchReport, Latencies};

/// Opens a connection per account (account `i` to node `i % nodes`), at
/// most `parallel` handshakes at once, holds them all, then measures and
/// closes them.
///
/// # Errors
/// A failed connection, or `/proc` unreadable for a node's pid.
pub async fn run(
    nodes: &Nodes,
    accounts: &[Account],
    parallel: usize,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let probes = nodes.probe()?;
    let mut times = Latencies::default();
    let clients = fleet::connect_all(nodes, accounts, parallel, &mut times).await?;
    // Every connection is authenticated, so the server holds its session
    // state and its user stream; measure while all are still open.
    let tallies = nodes::tallies(nodes, clients.len(), &[]);
    let measured = nodes::finish(probes, &tallies, true)?;
    report.connect = times.summary();
    nodes::fill(report, nodes, &tallies, measured);
    for c in &clients {
        c.conn.close("chatctl bench: done");
    }
    Ok(())
}
