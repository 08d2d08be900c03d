//! `chatctl bench`: load generation against a running chatd with simulated
//! clients, each a real QUIC connection through `chat-client`, in the
//! manner of `nats bench` and `redis-benchmark`.
//!
//! # Code map
//!
//! * `mod.rs`: the arguments ([`BenchArgs`]) and [`run`], which creates the
//!   run's `bench-<id>` accounts with the admin token, drives a scenario on
//!   its own multi-threaded runtime and disables the accounts afterwards.
//! * `traffic.rs`: `fanout`, `rooms`, `dm` (open or closed loop).
//! * `idle.rs`: `connect`. `catchup.rs`: `catchup`.
//! * `fleet.rs`: accounts, connections, bounded parallelism.
//! * `nodes.rs`: `--node` (several nodes of one deployment), round-robin
//!   placement of clients, per-node CPU.
//! * `report.rs`: [`BenchReport`], histograms and [`print`].
//! * `corpus.rs`: message bodies. `procfs.rs`: server CPU and RSS.
//!
//! Invariants: every phase is bounded in time and count (`--duration`,
//! the argument ceilings below, request timeouts); nothing sleeps to
//! synchronise except open-loop pacing; latencies run from the intended
//! send time.

pub mod catchup;
pub mod corpus;
pub mod fleet;
pub mod idle;
pub mod nodes;
pub mod procfs;
pub mod report;
pub mod traffic;

pub use nodes::{NodeSpec, parse_node};
pub use report::{BenchReport, LatencySummary, print};

use anyhow::{Context, bail};
use chat_client::ClientConfig;
use corpus::Corpus;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Most simulated clients in one run.
pub const MAX_CLIENTS: usize = 20_000;
/// Longest send phase (10 min).
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Highest open-loop rate, msgs/s.
pub const MAX_RATE: u64 = 1_000_000;
/// Most missed messages per client in `catchup`.
pub const MAX_MISSED: u64 = 1_000_000;

/// What a run simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// One big room: `--clients` members, `--senders` of them send.
    Fanout,
    /// Many small rooms of `--room-size` members; one sender per room.
    Rooms,
    /// `--clients / 2` direct rooms; both sides send.
    Dm,
    /// `--clients` idle, authenticated connections; connect time and server
    /// RSS per connection (with `--server-pid`).
    Connect,
    /// `--clients` members of one room reconnect at once, each catching up
    /// `--messages` missed messages.
    Catchup,
}

impl Scenario {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Rooms => "rooms",
            Scenario::Dm => "dm",
            Scenario::Connect => "connect",
            Scenario::Catchup => "catchup",
        }
    }
}

/// `chatctl bench`'s arguments. The server, trust and admin token come
/// from the global options; `--node` spreads the clients over several
/// nodes of one deployment instead.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to simulate.
    #[arg(long, value_enum, default_value_t = Scenario::Fanout)]
    pub scenario: Scenario,
    /// Simulated clients, each its own QUIC connection (1 to 20000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub clients: usize,
    /// Senders in the fanout room.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub senders: usize,
    /// Members per room in the rooms scenario (at least 2).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub room_size: usize,
    /// Total send rate over all senders, msgs/s (open loop, timed from each
    /// message's intended send time); 0 sends as fast as acks allow.
    #[arg(long, value_name = "MSGS_PER_S", default_value_t = 1000)]
    pub rate: u64,
    /// Closed loop (--rate 0): sends in flight per sender; catchup: sends
    /// in flight while filling the room.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub in_flight: usize,
    /// Length of the send phase, e.g. 10s, 500ms, 2m (at most 10m).
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Catchup: messages each client misses (at most 1000000).
    #[arg(long, value_name = "K", default_value_t = 100)]
    pub messages: u64,
    /// Directory of IRC transcripts for message bodies
    /// [default: tests/fixtures/irc if present, else ../shared/corpus/ubuntu-irc]
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// The chatd process id, on this machine: adds its CPU time per
    /// delivery and RSS (from /proc) to the report.
    #[arg(long, value_name = "PID", conflicts_with = "nodes")]
    pub server_pid: Option<u32>,
    /// A node of the deployment, instead of --server: its address, the CA
    /// file that signed its certificate (empty: the global --ca or known
    /// hosts) and its process id here (for its CPU per delivery). Repeat
    /// for each node (at most 64): accounts and admin requests go through
    /// the first, client i connects to node i mod N, so senders and
    /// receivers sit on different nodes.
    #[arg(
        long = "node",
        value_name = "ADDR[,CA_FILE[,PID]]",
        value_parser = parse_node
    )]
    pub nodes: Vec<NodeSpec>,
    /// Also measure this process and its children over the measured phase,
    /// e.g. postgres=PID of the postmaster or nats=PID; repeatable.
    #[arg(long = "watch-pid", value_name = "LABEL=PID", value_parser = procfs::parse_watch)]
    pub watch: Vec<procfs::WatchSpec>,
    /// Connections and setup requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub parallel: usize,
    /// Make the sending accounts server admins, which exempts them from the
    /// server's per-user send rate limit (they are disabled after the run).
    #[arg(long)]
    pub admin_senders: bool,
    /// Keep the run's accounts enabled afterwards (default: disable them).
    #[arg(long)]
    pub keep_accounts: bool,
    /// Client runtime threads [default: the number of CPUs]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Parses `10s`, `500ms`, `2m` or a bare number of seconds.
///
/// # Errors
/// A message saying which forms are accepted.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a duration; write e.g. 10s, 500ms or 2m");
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

impl BenchArgs {
    /// Checks the ranges documented on each argument.
    ///
    /// # Errors
    /// A message naming the argument and its range.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.clients == 0 || self.clients > MAX_CLIENTS {
            bail!("--clients must be 1 to {MAX_CLIENTS}, not {}", self.clients);
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            bail!("--duration must be above 0 and at most {MAX_DURATION:?}");
        }
        if self.rate > MAX_RATE {
            bail!("--rate must be at most {MAX_RATE} msgs/s (0 for closed loop)");
        }
        if self.messages > MAX_MISSED {
            bail!("--messages must be at most {MAX_MISSED}");
        }
        if self.in_flight == 0 || self.in_flight > 65_536 {
            bail!("--in-flight must be 1 to 65536");
        }
        if self.nodes.len() > nodes::MAX_NODES {
            bail!(
                "--node may be given at most {} times, not {}",
                nodes::MAX_NODES,
                self.nodes.len()
            );
        }
        if !self.nodes.is_empty() && self.server_pid.is_some() {
            bail!(
                "--server-pid and --node do not mix; give each node's pid as --node ADDR,CA_FILE,PID"
            );
        }
        let needs = match self.scenario {
            Scenario::Rooms => self.room_size.max(2),
            Scenario::Dm => 2,
            _ => 1,
        };
        if self.clients < needs {
            bail!(
                "the {} scenario needs at least {needs} clients",
                self.scenario.name()
            );
        }
        Ok(())
    }
}

/// Runs one benchmark against the server `client` points at, or against
/// the `--node`s (each `client` with its address and CA), creating its
/// accounts with `admin_token` (a server admin's token) through the first. Runs on its own
/// multi-threaded runtime, so the caller's runtime may be single-threaded.
///
/// # Errors
/// Bad arguments, an unreadable corpus, an unreachable server, a refused
/// admin token, or a failed setup step. Failures during the measured phase
/// are counted in the report instead.
pub async fn run(
    args: BenchArgs,
    client: ClientConfig,
    admin_token: String,
) -> anyhow::Result<BenchReport> {
    args.validate()?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("chatctl-bench".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
                .context("cannot start the benchmark runtime")
                .and_then(|rt| rt.block_on(run_here(args, client, admin_token)));
            let _ = tx.send(result);
        })
        .context("cannot start the benchmark thread")?;
    rx.await.context("the benchmark thread stopped")?
}

/// [`run`] on the current runtime.
///
/// # Errors
/// As [`run`].
pub async fn run_here(
    args: BenchArgs,
    client: ClientConfig,
    admin_token: String,
) -> anyhow::Result<BenchReport> {
    args.validate()?;
    let dir = args.corpus.clone().unwrap_or_else(Corpus::default_dir);
    let corpus = tokio::task::spawn_blocking(move || Corpus::load(&dir))
        .await
        .context("the corpus reader stopped")??;
    let corpus = Arc::new(corpus);
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let prefix = format!("bench-{}", &id[id.len() - 6..]);
    let mut report = BenchReport {
        scenario: args.scenario.name().into(),
        prefix: prefix.clone(),
        clients: args.clients,
        rate: args.rate,
        in_flight: args.in_flight,
        duration_s: args.duration.as_secs_f64(),
        mean_text_bytes: corpus.mean_len(),
        ..BenchReport::default()
    };
    let nodes = nodes::Nodes::resolve(&client, &args.nodes, args.server_pid).watching(&args.watch);
    let admin = fleet::admin(nodes.first(), &admin_token).await?;
    let accounts = match args.scenario {
        Scenario::Fanout | Scenario::Rooms | Scenario::Dm => {
            let plans = traffic::plan(args.scenario, args.clients, args.senders, args.room_size);
            let senders: std::collections::HashSet<usize> = plans
                .iter()
                .flat_map(|p| p.senders.iter().copied())
                .collect();
            let accounts = fleet::create_accounts(
                &admin,
                &prefix,
                args.clients,
                |i| args.admin_senders && senders.contains(&i),
                args.parallel,
            )
            .await?;
            let mut times = report::Latencies::default();
            let clients = fleet::connect_all(&nodes, &accounts, args.parallel, &mut times).await?;
            report.connect = times.summary();
            let load = traffic::Load {
                rate: args.rate,
                in_flight: args.in_flight,
                duration: args.duration,
            };
            traffic::run(
                &clients,
                &nodes,
                &plans,
                &prefix,
                corpus.clone(),
                load,
                &mut report,
            )
            .await?;
            accounts
        }
        Scenario::Connect => {
            let accounts =
                fleet::create_accounts(&admin, &prefix, args.clients, |_| false, args.parallel)
                    .await?;
            idle::run(&nodes, &accounts, args.parallel, &mut report).await?;
            accounts
        }
        Scenario::Catchup => {
            let n = args.clients;
            let accounts = fleet::create_accounts(
                &admin,
                &prefix,
                n + 1,
                |i| i == n && args.admin_senders,
                args.parallel,
            )
            .await?;
            let mut times = report::Latencies::default();
            let mut clients =
                fleet::connect_all(&nodes, &accounts, args.parallel, &mut times).await?;
            let Some(writer) = clients.pop() else {
                bail!("no writer client");
            };
            let sizes = catchup::Sizes {
                missed: args.messages,
                in_flight: args.in_flight.max(16),
                parallel: n,
            };
            catchup::run(
                &nodes,
                clients,
                writer,
                &prefix,
                &corpus,
                sizes,
                &mut report,
            )
            .await?;
            accounts
        }
    };
    if !args.keep_accounts {
        fleet::retire(&admin, &accounts, &mut report).await;
    }
    admin.close("chatctl bench: done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn arguments_parse_and_validate() {
        let cli =
            Cli::try_parse_from(["bench", "--scenario", "dm", "--clients", "4", "--rate", "0"])
                .unwrap();
        assert_eq!(cli.bench.scenario, Scenario::Dm);
        cli.bench.validate().unwrap();
        let cli = Cli::try_parse_from(["bench", "--clients", "0"]).unwrap();
        assert!(cli.bench.validate().is_err());
        let cli = Cli::try_parse_from(["bench", "--scenario", "rooms", "--clients", "3"]).unwrap();
        assert!(cli.bench.validate().is_err());
    }

    #[test]
    fn nodes_repeat_and_refuse_server_pid() {
        let cli = Cli::try_parse_from([
            "bench",
            "--node",
            "127.0.0.1:4433,/n1/ca.crt,101",
            "--node",
            "127.0.0.1:4434,,102",
        ])
        .unwrap();
        let n = &cli.bench.nodes;
        assert_eq!(n.len(), 2);
        assert_eq!(
            (n[0].server.as_str(), n[0].pid, n[1].ca.is_none()),
            ("127.0.0.1:4433", Some(101), true)
        );
        cli.bench.validate().unwrap();
        // clap refuses the pair at parse time.
        let both = Cli::try_parse_from(["bench", "--node", "h:1", "--server-pid", "5"]);
        assert!(both.is_err());
        // A bad node argument names the accepted form.
        let bad = Cli::try_parse_from(["bench", "--node", "h:1,ca,pid"])
            .err()
            .unwrap();
        assert!(bad.to_string().contains("ADDR[,CA_FILE[,PID]]"), "{bad}");
        // Built by hand (as a library caller may), the pair still fails.
        let mut args = cli.bench.clone();
        args.server_pid = Some(5);
        assert!(args.validate().is_err());
        args.server_pid = None;
        args.nodes = vec![n[0].clone(); nodes::MAX_NODES + 1];
        assert!(args.validate().is_err());
        let w = Cli::try_parse_from([
            "bench",
            "--watch-pid",
            "postgres=7",
            "--watch-pid",
            "nats=8",
        ])
        .unwrap();
        assert_eq!(w.bench.watch.len(), 2);
        assert_eq!(
            (w.bench.watch[1].label.as_str(), w.bench.watch[1].pid),
            ("nats", 8)
        );
    }
}
