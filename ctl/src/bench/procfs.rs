//! The server's CPU time and resident memory, read from `/proc/PID` (Linux)
//! when `--server-pid` names a chatd on this machine.

use super::report::ServerUsage;
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
        let per_delivery = (deliveries > 0).then(|| cpu / deliveries as f64);
        Ok(ServerUsage {
            pid: self.pid,
            cpu_seconds: cpu,
            cpu_seconds_per_1000_deliveries: per_delivery.map(|s| s * 1000.0),
            cpu_us_per_delivery: per_delivery.map(|s| s * 1e6),
            rss_before_bytes: self.rss,
            rss_after_bytes: rss,
            rss_per_connection_bytes: (connections > 0)
                .then(|| (rss as f64 - self.rss as f64) / connections as f64),
        })
    }
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
