//! The `catchup` scenario: N members of one room go offline, K messages
//! are sent, then all N reconnect at once and each reads the K it missed;
//! measured until the last client sees `CaughtUp`.

use super::corpus::Corpus;
use super::fleet::{self, Client, par};
use super::nodes::{self, Nodes};
use super::report::{BenchReport, CatchupReport, Latencies};
use chat_client::ClientConfig;
use chat_protocol::{IdempotencyKey, RoomEventKind, RoomFrame, Visibility};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenario's sizes.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Messages each reconnecting client missed.
    pub missed: u64,
    /// Sends in flight while filling the room.
    pub in_flight: usize,
    /// Reconnects in flight at once (`usize::MAX`: all at once).
    pub parallel: usize,
}

/// `readers` (accounts `0..n`) reconnect, reader `i` to node `i % nodes`;
/// `writer` fills the room while they are away.
///
/// # Errors
/// A failed setup step (room, joins, a send), or `/proc` unreadable.
pub async fn run(
    nodes: &Nodes,
    readers: Vec<Client>,
    writer: Client,
    prefix: &str,
    corpus: &Corpus,
    sizes: Sizes,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let room = writer
        .conn
        .create_room(&format!("{prefix}-catchup"), "", Visibility::Public)
        .await?
        .id;
    let joins: Vec<Client> = readers.clone();
    par(joins, 32, |_, c| async move {
        Ok(c.conn.join_room(room).await.map(|_| ())?)
    })
    .await?;
    let since = writer
        .conn
        .my_rooms()
        .await?
        .into_iter()
        .find(|s| s.room.id == room)
        .map(|s| s.room.head)
        .unwrap_or_default();
    // Everyone goes offline.
    let accounts: Vec<_> = readers.iter().map(|c| c.account.clone()).collect();
    for c in readers {
        c.conn.close("chatctl bench: going offline");
    }

    // Fill the room with what they will miss.
    let fill_start = Instant::now();
    let texts: Vec<String> = (0..sizes.missed)
        .map(|n| format!("[b0:{n}] {}", corpus.pick(n)))
        .collect();
    let acks = par(texts, sizes.in_flight.max(1), |_, text| {
        let conn = writer.conn.clone();
        async move {
            let start = Instant::now();
            conn.send(room, IdempotencyKey::random(), &text, None)
                .await?;
            Ok(start.elapsed())
        }
    })
    .await?;
    let mut ack = Latencies::default();
    acks.iter().for_each(|d| ack.record(*d));
    report.sent = sizes.missed;
    report.acked = acks.len() as u64;
    report.acked_per_sec = acks.len() as f64 / fill_start.elapsed().as_secs_f64().max(1e-9);
    report.send_to_ack = ack.summary();

    // Everyone comes back at once.
    let probes = nodes.probe()?;
    let start = Instant::now();
    let shared = Arc::new(nodes.clone());
    let outcomes = par(accounts, sizes.parallel, |i, account| {
        let nodes = shared.clone();
        async move { Ok(reconnect(nodes.config_for(i), &account, room, since, start).await) }
    })
    .await?;
    let all_done = start.elapsed();

    let mut per_client = Latencies::default();
    let mut connect = Latencies::default();
    let mut completed = 0;
    let clients = outcomes.len();
    // The writer is account `clients`, after the readers.
    let mut tallies = nodes::tallies(nodes, clients, &[clients]);
    tallies[nodes.of(clients)].acked = report.acked;
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok((connected, done, events)) => {
                connect.record(connected);
                per_client.record(done);
                report.deliveries += events;
                tallies[nodes.of(i)].deliveries += events;
                if events >= sizes.missed {
                    completed += 1;
                }
            }
            Err(e) => report.error(e),
        }
    }
    report.expected_deliveries = sizes.missed * clients as u64;
    report.deliveries_per_sec = report.deliveries as f64 / all_done.as_secs_f64().max(1e-9);
    report.connect = connect.summary();
    report.rooms = 1;
    report.senders = 1;
    report.catchup = Some(CatchupReport {
        clients,
        missed: sizes.missed,
        completed,
        all_done_ms: all_done.as_secs_f64() * 1000.0,
        per_client: per_client.summary(),
    });
    let measured = nodes::finish(probes, &tallies, false)?;
    nodes::fill(report, nodes, &tallies, measured);
    Ok(())
}

/// Connects, subscribes from `since` and reads to `CaughtUp`. Returns the
/// connect time, the time from `start` to `CaughtUp`, and the messages read.
async fn reconnect(
    cfg: &ClientConfig,
    account: &fleet::Account,
    room: chat_protocol::RoomId,
    since: chat_protocol::Seq,
    start: Instant,
) -> anyhow::Result<(Duration, Duration, u64)> {
    let began = Instant::now();
    let conn = fleet::connect_as(cfg, account).await?;
    let connected = began.elapsed();
    let mut stream = conn.subscribe(room, since).await?;
    let mut events = 0;
    loop {
        let frame = tokio::time::timeout(cfg.request_timeout, stream.next())
            .await
            .map_err(|_| anyhow::anyhow!("no CaughtUp within {:?}", cfg.request_timeout))?;
        match frame {
            Ok(Some(RoomFrame::Event(e))) => {
                if matches!(e.kind, RoomEventKind::Message(_)) {
                    events += 1;
                }
            }
            Ok(Some(RoomFrame::CaughtUp { .. })) => break,
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("the room stream finished before CaughtUp"),
            Err(e) => anyhow::bail!("the room stream ended before CaughtUp: {e}"),
        }
    }
    let done = start.elapsed();
    conn.close("chatctl bench: done");
    Ok((connected, done, events))
}
