//! Several nodes of one deployment in one run: `--node ADDR[,CA_FILE[,PID]]`
//! names each node, clients are spread over them round-robin, and each
//! node's CPU is measured and divided by the deliveries to its own clients.
//!
//! Without `--node` the run has one node: the global `--server`, its trust
//! and `--server-pid`, so every scenario goes through the same code.

use super::procfs::{Probe, TreeProbe, WatchSpec};
use super::report::{
    BenchReport, Latencies, LatencySummary, NodeReport, NodesTotal, ServerUsage, WatchedUsage,
};
use chat_client::{ClientConfig, Trust};
use std::path::PathBuf;

/// Most nodes in one run.
pub const MAX_NODES: usize = 64;

/// One `--node` argument: where a node listens, which CA signed its
/// certificate, and its process id on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// `HOST:PORT` of the node's QUIC listener.
    pub server: String,
    /// PEM CA file to trust for this node; `None` keeps the global trust
    /// (`--ca` or known hosts).
    pub ca: Option<PathBuf>,
    /// The node's process id, for its CPU time and RSS from `/proc`.
    pub pid: Option<u32>,
}

/// Parses `ADDR[,CA_FILE[,PID]]`; an empty CA_FILE (`ADDR,,PID`) keeps the
/// global trust.
///
/// # Errors
/// A message naming the bad part and the accepted form.
pub fn parse_node(s: &str) -> Result<NodeSpec, String> {
    let form = "write ADDR[,CA_FILE[,PID]], e.g. 127.0.0.1:4433,/tmp/n1/certs/ca.crt,4242";
    let mut parts = s.split(',');
    let server = parts.next().unwrap_or_default().trim();
    if server.is_empty() {
        return Err(format!("--node {s:?} has no address; {form}"));
    }
    if !server.contains(':') {
        return Err(format!("--node address {server:?} has no port; {form}"));
    }
    let ca = parts
        .next()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(PathBuf::from);
    let pid = match parts.next().map(str::trim) {
        None | Some("") => None,
        Some(p) => match p.parse::<u32>() {
            Ok(pid) if pid > 0 => Some(pid),
            _ => return Err(format!("--node PID {p:?} is not a process id; {form}")),
        },
    };
    if parts.next().is_some() {
        return Err(format!("--node {s:?} has more than three parts; {form}"));
    }
    Ok(NodeSpec {
        server: server.to_owned(),
        ca,
        pid,
    })
}

/// The nodes of a run, each with the client configuration to reach it.
/// Client `i` (account `i`) connects to node `i % len`.
#[derive(Debug, Clone)]
pub struct Nodes {
    configs: Vec<ClientConfig>,
    pids: Vec<Option<u32>>,
    /// Other processes to measure over the same phase.
    watched: Vec<WatchSpec>,
}

impl Nodes {
    /// One node per spec, each config `base` with the node's address and,
    /// if given, its CA; without specs the single node `base` with
    /// `server_pid`.
    pub fn resolve(base: &ClientConfig, specs: &[NodeSpec], server_pid: Option<u32>) -> Nodes {
        if specs.is_empty() {
            return Nodes {
                configs: vec![base.clone()],
                pids: vec![server_pid],
                watched: Vec::new(),
            };
        }
        let configs = specs
            .iter()
            .map(|s| {
                let mut c = base.clone();
                c.server.clone_from(&s.server);
                if let Some(ca) = &s.ca {
                    c.trust = Trust::CaFile(ca.clone());
                }
                c
            })
            .collect();
        Nodes {
            configs,
            pids: specs.iter().map(|s| s.pid).collect(),
            watched: Vec::new(),
        }
    }

    /// Also measures `watched` (with their children) whenever the nodes
    /// are measured.
    pub fn watching(mut self, watched: &[WatchSpec]) -> Nodes {
        self.watched = watched.to_vec();
        self
    }

    /// How many nodes (at least 1).
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    /// Always false: a run has at least one node.
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// The node client (or account) `i` connects to.
    pub fn of(&self, i: usize) -> usize {
        i % self.len().max(1)
    }

    /// The configuration client `i` connects with.
    pub fn config_for(&self, i: usize) -> &ClientConfig {
        &self.configs[self.of(i)]
    }

    /// The first node's configuration: setup (accounts, admin requests)
    /// goes through it.
    pub fn first(&self) -> &ClientConfig {
        &self.configs[0]
    }

    /// Each node's address, in order.
    pub fn addresses(&self) -> Vec<String> {
        self.configs.iter().map(|c| c.server.clone()).collect()
    }

    /// Samples every node that has a pid, and the watched processes.
    ///
    /// # Errors
    /// When a node's or watched process's `/proc/PID` cannot be read.
    pub fn probe(&self) -> anyhow::Result<Probes> {
        Ok(Probes {
            nodes: self
                .pids
                .iter()
                .map(|&p| Probe::start(p))
                .collect::<anyhow::Result<_>>()?,
            watched: self
                .watched
                .iter()
                .map(TreeProbe::start)
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

/// The samples taken at the start of a measured phase.
#[derive(Debug)]
pub struct Probes {
    nodes: Vec<Option<Probe>>,
    watched: Vec<TreeProbe>,
}

/// What the probes measured over the phase.
#[derive(Debug, Default)]
pub struct Measured {
    /// Per node, with a pid.
    pub nodes: Vec<Option<ServerUsage>>,
    /// The watched processes.
    pub watched: Vec<WatchedUsage>,
}

/// What one node's clients did during the measured phase.
#[derive(Debug, Clone, Default)]
pub struct NodeTally {
    /// Clients connected to the node.
    pub clients: usize,
    /// Of them, senders.
    pub senders: usize,
    /// Sends those senders had acknowledged.
    pub acked: u64,
    /// Deliveries to the node's clients.
    pub deliveries: u64,
    /// Send→deliver at the node's clients.
    pub latencies: Latencies,
}

/// Which node each of `clients` clients sits on, tallied: clients per node
/// and, of `senders` (client indexes), senders per node.
pub fn tallies(nodes: &Nodes, clients: usize, senders: &[usize]) -> Vec<NodeTally> {
    let mut t = vec![NodeTally::default(); nodes.len()];
    for i in 0..clients {
        t[nodes.of(i)].clients += 1;
    }
    for &s in senders {
        t[nodes.of(s)].senders += 1;
    }
    t
}

/// Finishes each node's probe with the deliveries to its clients and its
/// connections (for RSS per connection), and the watched processes' with
/// the whole run's deliveries and acks.
///
/// # Errors
/// When a node's or watched process's `/proc/PID` cannot be read (it
/// exited).
pub fn finish(
    probes: Probes,
    tallies: &[NodeTally],
    connections: bool,
) -> anyhow::Result<Measured> {
    let nodes = probes
        .nodes
        .into_iter()
        .zip(tallies)
        .map(|(p, t)| {
            p.map(|p| p.finish(t.deliveries, if connections { t.clients } else { 0 }))
                .transpose()
        })
        .collect::<anyhow::Result<_>>()?;
    let deliveries = tallies.iter().map(|t| t.deliveries).sum();
    let acked = tallies.iter().map(|t| t.acked).sum();
    let watched = probes
        .watched
        .into_iter()
        .map(|p| p.finish(deliveries, acked))
        .collect::<anyhow::Result<_>>()?;
    Ok(Measured { nodes, watched })
}

/// The per-node part of the report.
pub fn reports(
    addresses: &[String],
    tallies: &[NodeTally],
    usages: Vec<Option<ServerUsage>>,
) -> Vec<NodeReport> {
    addresses
        .iter()
        .zip(tallies)
        .zip(usages)
        .map(|((a, t), usage)| NodeReport {
            server: a.clone(),
            clients: t.clients,
            senders: t.senders,
            acked: t.acked,
            deliveries: t.deliveries,
            send_to_deliver: if t.latencies.count() > 0 {
                t.latencies.summary()
            } else {
                LatencySummary::default()
            },
            usage,
        })
        .collect()
}

/// Fills `report`'s per-node part and totals; with one node its usage is
/// also the report's `server` (as with `--server-pid`).
pub fn fill(report: &mut BenchReport, nodes: &Nodes, tallies: &[NodeTally], m: Measured) {
    report.nodes = reports(&nodes.addresses(), tallies, m.nodes);
    report.watched = m.watched;
    report.nodes_total = total(&report.nodes);
    if let [only] = report.nodes.as_slice() {
        report.server.clone_from(&only.usage);
    }
}

/// The measured nodes together: CPU seconds summed over the nodes with a
/// pid, divided by the deliveries to those nodes' clients; `None` when no
/// node was measured.
pub fn total(nodes: &[NodeReport]) -> Option<NodesTotal> {
    let measured: Vec<(&NodeReport, &ServerUsage)> = nodes
        .iter()
        .filter_map(|n| n.usage.as_ref().map(|u| (n, u)))
        .collect();
    if measured.is_empty() {
        return None;
    }
    let cpu_seconds: f64 = measured.iter().map(|(_, u)| u.cpu_seconds).sum();
    let deliveries: u64 = measured.iter().map(|(n, _)| n.deliveries).sum();
    Some(NodesTotal {
        nodes_measured: measured.len(),
        cpu_seconds,
        deliveries,
        cpu_us_per_delivery: (deliveries > 0).then(|| cpu_seconds * 1e6 / deliveries as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(cpu_seconds: f64, deliveries: u64) -> ServerUsage {
        super::super::procfs::usage(7, cpu_seconds, (100, 200), deliveries, 0)
    }

    #[test]
    fn node_arguments() {
        assert_eq!(
            parse_node("127.0.0.1:4433"),
            Ok(NodeSpec {
                server: "127.0.0.1:4433".into(),
                ca: None,
                pid: None
            })
        );
        assert_eq!(
            parse_node("[::1]:5000,/d/ca.crt,42"),
            Ok(NodeSpec {
                server: "[::1]:5000".into(),
                ca: Some("/d/ca.crt".into()),
                pid: Some(42)
            })
        );
        let n = parse_node("h:1,,42").unwrap();
        assert_eq!((n.ca, n.pid), (None, Some(42)));
        assert_eq!(parse_node("h:1,/ca").unwrap().pid, None);
        for bad in [
            "",
            ",ca",
            "nohost",
            "h:1,ca,x",
            "h:1,ca,0",
            "h:1,ca,-3",
            "h:1,ca,1,2",
        ] {
            let e = parse_node(bad).unwrap_err();
            assert!(e.contains("ADDR[,CA_FILE[,PID]]"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn clients_go_round_robin_and_trust_follows_the_node() {
        let base = ClientConfig::new("a:1", Trust::CaFile("/global".into()), "t");
        let one = Nodes::resolve(&base, &[], Some(9));
        assert_eq!(
            (one.len(), one.of(5), one.pids.clone()),
            (1, 0, vec![Some(9)])
        );
        let specs = [
            parse_node("n1:1,/c1,11").unwrap(),
            parse_node("n2:2").unwrap(),
        ];
        let two = Nodes::resolve(&base, &specs, None);
        assert_eq!(two.addresses(), vec!["n1:1", "n2:2"]);
        assert_eq!(two.first().server, "n1:1");
        assert_eq!(two.config_for(3).server, "n2:2");
        assert!(matches!(&two.config_for(0).trust, Trust::CaFile(p) if p.as_os_str() == "/c1"));
        assert!(matches!(&two.config_for(1).trust, Trust::CaFile(p) if p.as_os_str() == "/global"));
        // Fan-out with 4 senders over 2 nodes: senders 0 and 2 on the
        // first node, 1 and 3 on the second; 7 clients split 4 / 3.
        let t = tallies(&two, 7, &[0, 1, 2, 3]);
        assert_eq!(
            t.iter().map(|t| (t.clients, t.senders)).collect::<Vec<_>>(),
            vec![(4, 2), (3, 2)]
        );
    }

    #[test]
    fn per_node_cpu_and_the_total() {
        let addrs = vec!["n1:1".to_string(), "n2:2".to_string(), "n3:3".to_string()];
        let mut t = vec![NodeTally::default(); 3];
        t[0].deliveries = 1_000;
        t[1].deliveries = 3_000;
        t[2].deliveries = 500;
        // 0.01 s over 1,000 deliveries is 10 µs each; 0.006 s over 3,000 is
        // 2 µs; the third node has no pid and stays out of the total.
        let nodes = reports(
            &addrs,
            &t,
            vec![Some(usage(0.01, 1_000)), Some(usage(0.006, 3_000)), None],
        );
        let per: Vec<Option<f64>> = nodes
            .iter()
            .map(|n| n.usage.as_ref().and_then(|u| u.cpu_us_per_delivery))
            .collect();
        assert!((per[0].unwrap() - 10.0).abs() < 1e-9, "{per:?}");
        assert!((per[1].unwrap() - 2.0).abs() < 1e-9, "{per:?}");
        assert_eq!(per[2], None);
        let sum = total(&nodes).unwrap();
        assert_eq!((sum.nodes_measured, sum.deliveries), (2, 4_000));
        assert!((sum.cpu_seconds - 0.016).abs() < 1e-12);
        assert!((sum.cpu_us_per_delivery.unwrap() - 4.0).abs() < 1e-9);
        // No deliveries: CPU but no per-delivery figure; no pids: no total.
        let idle = reports(
            &addrs[..1],
            &[NodeTally::default()],
            vec![Some(usage(0.5, 0))],
        );
        assert_eq!(total(&idle).unwrap().cpu_us_per_delivery, None);
        assert!(total(&reports(&addrs[..1], &t[..1], vec![None])).is_none());
    }
}
