//! The server's CPU time and resident memory, read from `/proc/PID` (Linux)
//! when `--server-pid` names a chatd on this machine.

use super::report::{ServerUsage, WatchedUsage};
use anyhow::Context;

/// Clock ticks per second of `/proc/PID/stat` times. Linux fixes `USER_HZ`
/// at 100 on every architecture it exposes to user space (see `proc(5)`).
const TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU time of `pid`, in seconds.
///
/// # Errors
/// When `/proc/PID/stat` cannot be read or parsed (no such process).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}; is --server-pid a running chatd here?"))?;
    parse_cpu_ticks(&stat)
        .map(|t| t as f64 / TICKS_PER_SEC)
        .with_context(|| format!("cannot parse {path}"))
}

/// Resident set size of `pid` (`VmRSS`), in bytes.
///
/// # Errors
/// When `/proc/PID/status` cannot be read or has no `VmRSS` line.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}; is --server-pid a running chatd here?"))?;
    parse_rss_kib(&status)
        .map(|kib| kib * 1024)
        .with_context(|| format!("no VmRSS line in {path}"))
}

/// CPU and memory of a server process, sampled at the start of a measured
/// phase and compared at its end.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pid: u32,
    cpu: f64,
    rss: u64,
}

impl Probe {
    /// Samples `pid` now; `None` without a pid.
    ///
    /// # Errors
    /// When `/proc/PID` cannot be read.
    pub fn start(pid: Option<u32>) -> anyhow::Result<Option<Probe>> {
        let Some(pid) = pid else { return Ok(None) };
        Ok(Some(Probe {
            pid,
            cpu: cpu_seconds(pid)?,
            rss: rss_bytes(pid)?,
        }))
    }

    /// Samples again and reports the difference, per delivery when
    /// `deliveries > 0` and per connection when `connections > 0`.
    ///
    /// # Errors
    /// When `/proc/PID` cannot be read (the server exited).
    pub fn finish(self, deliveries: u64, connections: usize) -> anyhow::Result<ServerUsage> {
        let cpu = cpu_seconds(self.pid)? - self.cpu;
        let rss = rss_bytes(self.pid)?;
        Ok(usage(
            self.pid,
            cpu,
            (self.rss, rss),
            deliveries,
            connections,
        ))
    }
}

/// The usage of `pid` that spent `cpu` CPU seconds while its RSS went from
/// `rss.0` to `rss.1` bytes: per delivery when `deliveries > 0`, per
/// connection when `connections > 0`.
pub fn usage(
    pid: u32,
    cpu: f64,
    rss: (u64, u64),
    deliveries: u64,
    connections: usize,
) -> ServerUsage {
    let per_delivery = (deliveries > 0).then(|| cpu / deliveries as f64);
    ServerUsage {
        pid,
        cpu_seconds: cpu,
        cpu_seconds_per_1000_deliveries: per_delivery.map(|s| s * 1000.0),
        cpu_us_per_delivery: per_delivery.map(|s| s * 1e6),
        rss_before_bytes: rss.0,
        rss_after_bytes: rss.1,
        rss_per_connection_bytes: (connections > 0)
            .then(|| (rss.1 as f64 - rss.0 as f64) / connections as f64),
    }
}

/// A process to measure besides the nodes (`--watch-pid LABEL=PID`), such
/// as PostgreSQL's postmaster or nats-server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    /// Its name in the report, e.g. `postgres`.
    pub label: String,
    /// Its process id on this machine.
    pub pid: u32,
}

/// Parses `LABEL=PID`.
///
/// # Errors
/// A message naming the accepted form.
pub fn parse_watch(s: &str) -> Result<WatchSpec, String> {
    let bad = || format!("--watch-pid {s:?}: write LABEL=PID, e.g. postgres=4242");
    let (label, pid) = s.split_once('=').ok_or_else(bad)?;
    let label = label.trim();
    if label.is_empty() {
        return Err(bad());
    }
    match pid.trim().parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(WatchSpec {
            label: label.to_owned(),
            pid,
        }),
        _ => Err(bad()),
    }
}

/// CPU time of `pid` and its children, in seconds: its own and its
/// reaped children's (`cutime + cstime`), plus the same four for every
/// live child. A child that exits between two samples moves from the
/// second term to the first, so differences stay whole (PostgreSQL's
/// backends are the postmaster's children).
///
/// # Errors
/// When `/proc/PID/stat` cannot be read or parsed.
pub fn tree_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}; is --watch-pid a running process here?"))?;
    let own = parse_stat(&stat).with_context(|| format!("cannot parse {path}"))?;
    let mut ticks = own.with_children;
    let dir = std::fs::read_dir("/proc").context("cannot list /proc")?;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // A process that ended since the listing has nothing to add.
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat"))
            && let Some(s) = parse_stat(&stat)
            && s.ppid == pid
        {
            ticks += s.with_children;
        }
    }
    Ok(ticks as f64 / TICKS_PER_SEC)
}

/// A watched process's CPU time over the measured phase.
#[derive(Debug, Clone)]
pub struct TreeProbe {
    spec: WatchSpec,
    cpu: f64,
}

impl TreeProbe {
    /// Samples `spec`'s process tree now.
    ///
    /// # Errors
    /// When its `/proc/PID` cannot be read.
    pub fn start(spec: &WatchSpec) -> anyhow::Result<TreeProbe> {
        Ok(TreeProbe {
            spec: spec.clone(),
            cpu: tree_cpu_seconds(spec.pid)?,
        })
    }

    /// Samples again: CPU seconds since [`TreeProbe::start`], per delivery
    /// and per acked message over the whole run's `deliveries` and `acked`.
    ///
    /// # Errors
    /// When its `/proc/PID` cannot be read (it exited).
    pub fn finish(self, deliveries: u64, acked: u64) -> anyhow::Result<WatchedUsage> {
        let cpu = tree_cpu_seconds(self.spec.pid)? - self.cpu;
        Ok(watched_usage(self.spec, cpu, deliveries, acked))
    }
}

/// The usage of a watched process that spent `cpu` CPU seconds while the
/// run made `deliveries` deliveries of `acked` acked messages.
pub fn watched_usage(spec: WatchSpec, cpu: f64, deliveries: u64, acked: u64) -> WatchedUsage {
    WatchedUsage {
        label: spec.label,
        pid: spec.pid,
        cpu_seconds: cpu,
        cpu_us_per_delivery: (deliveries > 0).then(|| cpu * 1e6 / deliveries as f64),
        cpu_us_per_acked: (acked > 0).then(|| cpu * 1e6 / acked as f64),
    }
}

/// The CPU fields of a `/proc/PID/stat` line.
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, ticks.
    with_children: u64,
}

/// Fields 4 (ppid) and 14–17 (utime, stime, cutime, cstime), counted from
/// the last `)` as in [`parse_cpu_ticks`].
fn parse_stat(stat: &str) -> Option<Stat> {
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let mut with_children = 0u64;
    for i in 11..=14 {
        // cutime and cstime are signed in proc(5); never negative in practice.
        let v: i64 = f.get(i)?.parse().ok()?;
        with_children += u64::try_from(v).unwrap_or(0);
    }
    Some(Stat {
        ppid,
        with_children,
    })
}

/// `utime + stime` from a `/proc/PID/stat` line, in ticks. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted
/// from the last `)`: utime and stime are fields 14 and 15.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field N is at index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmRSS:  1234 kB` value, in KiB.
fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "42 (chat d) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn parses_stat_with_children_and_watch_arguments() {
        let stat = "42 (post gres) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 9 0 1 2 3";
        let s = parse_stat(stat).unwrap();
        assert_eq!((s.ppid, s.with_children), (7, 350));
        assert_eq!(
            parse_watch("postgres=42"),
            Ok(WatchSpec {
                label: "postgres".into(),
                pid: 42
            })
        );
        for bad in ["postgres", "=42", "pg=x", "pg=0", "pg="] {
            assert!(parse_watch(bad).unwrap_err().contains("LABEL=PID"), "{bad}");
        }
        let spec = parse_watch("nats=9").unwrap();
        let u = watched_usage(spec, 0.5, 100_000, 1_000);
        assert_eq!(
            (u.cpu_us_per_delivery, u.cpu_us_per_acked),
            (Some(5.0), Some(500.0))
        );
        assert_eq!(
            watched_usage(parse_watch("n=1").unwrap(), 0.5, 0, 0).cpu_us_per_acked,
            None
        );
    }

    #[test]
    fn a_child_counts_toward_its_parent_alive_and_reaped() {
        // The children's part of this process's tree (tree minus its own
        // time) grows by what a busy child burns, while the child runs and
        // after it is reaped (then through cutime/cstime).
        let pid = std::process::id();
        let children = || tree_cpu_seconds(pid).unwrap() - cpu_seconds(pid).unwrap();
        let before = children();
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let burnt = loop {
            let c = cpu_seconds(child.id()).unwrap();
            if c >= 0.2 || std::time::Instant::now() > deadline {
                break c;
            }
            // A poll interval; the loop ends on the child's CPU time.
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(burnt >= 0.2, "the child got no CPU in 60 s");
        let alive = children() - before;
        child.kill().unwrap();
        child.wait().unwrap();
        let reaped = children() - before;
        assert!(alive >= burnt - 0.05, "alive {alive} < {burnt}");
        assert!(reaped >= burnt - 0.05, "reaped {reaped} < {burnt}");
        assert!(tree_cpu_seconds(u32::MAX).is_err());
    }

    #[test]
    fn parses_rss() {
        assert_eq!(
            parse_rss_kib("Name:\tchatd\nVmRSS:\t  20480 kB\n"),
            Some(20480)
        );
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(rss_bytes(pid).unwrap() > 0);
    }
}
