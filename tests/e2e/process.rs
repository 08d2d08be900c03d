//! The real `chatd` program as a child process in a directory of its own:
//! started on an address, found through its "chatd listening" log line,
//! and SIGKILLed without any chance to flush or say goodbye.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;

/// On the PostgreSQL run of the suite (`e2e_pg`), `--store URL` of the
/// database this directory's chatd uses: created on the first start in
/// `dir` and kept in `dir/store.url`, so a restart in the same directory
/// finds the same data. Nothing on redb, or when `flags` name a store.
fn suite_store(dir: &Path, flags: &[&str]) -> Vec<String> {
    if chat_e2e::backend() != chat_e2e::Backend::Postgres || flags.contains(&"--store") {
        return Vec::new();
    }
    let file = dir.join("store.url");
    let url = match std::fs::read_to_string(&file) {
        Ok(url) => url.trim().to_string(),
        Err(_) => {
            let url = chat_e2e::pg::suite_database().expect("the suite's PostgreSQL");
            std::fs::write(&file, &url).expect("write store.url");
            url
        }
    };
    vec!["--store".into(), url]
}

/// A running `chatd` process with its data in `dir/data` and its
/// certificates in `dir/certs`. Dropping it kills the process.
pub struct Chatd {
    child: Child,
    /// The address it listens on, as it logged it (`127.0.0.1:PORT`).
    pub addr: String,
    /// Every log line after the address line, in order.
    lines: std::sync::Mutex<std::sync::mpsc::Receiver<String>>,
}

impl Chatd {
    /// Starts the `chatd` binary in `dir` listening on `listen`: pass
    /// `127.0.0.1:0` for a port of the kernel's choosing, or an earlier
    /// run's [`Chatd::addr`] to come back on the same address.
    ///
    /// # Panics
    /// If it cannot start, exits before listening, or does not log its
    /// address within [`chat_e2e::WAIT`].
    pub fn start(dir: &Path, listen: &str) -> Chatd {
        Chatd::start_with(dir, listen, &[])
    }

    /// As [`Chatd::start`], with more flags.
    ///
    /// # Panics
    /// As [`Chatd::start`].
    pub fn start_with(dir: &Path, listen: &str, flags: &[&str]) -> Chatd {
        let mut child = Command::new(crate::bins::CHATD)
            .current_dir(dir)
            .args(["--listen", listen, "--data", "data"])
            .args(suite_store(dir, flags))
            .args(flags)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chatd");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        // Reads to the end, so chatd never blocks on a full pipe; the
        // sender drops at EOF, which ends the wait below if chatd exits.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = listen_addr(&line) {
                    let _ = tx.send(addr);
                } else {
                    let _ = line_tx.send(line);
                }
            }
        });
        let addr = match rx.recv_timeout(chat_e2e::WAIT) {
            Ok(addr) => addr,
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("reap chatd");
                panic!("chatd --listen {listen} exited before listening: {status}")
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("chatd --listen {listen} did not log its address")
            }
        };
        Chatd {
            child,
            addr,
            lines: std::sync::Mutex::new(line_rx),
        }
    }

    /// Waits for the next log line containing `needle` (lines before it
    /// are consumed) and returns it. Blocking: call it from
    /// `tokio::task::block_in_place` in async tests.
    ///
    /// # Panics
    /// If no such line comes within [`chat_e2e::WAIT`] or chatd exits.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let lines = self.lines.lock().expect("log lines");
        let deadline = std::time::Instant::now() + chat_e2e::WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident memory so far (`VmHWM` in
    /// `/proc/PID/status`), in bytes.
    ///
    /// # Panics
    /// If the file cannot be read (not Linux, or the process is gone).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM line");
        kib * 1024
    }

    /// SIGKILLs the process and waits until it is gone, so its port is free.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL chatd");
        self.child.wait().expect("reap chatd");
    }
}

impl Drop for Chatd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CA certificate a `chatd` started in `dir` generates and trusts.
pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join("certs/ca.crt")
}

/// The address in chatd's "chatd listening listen=ADDR" log line.
fn listen_addr(line: &str) -> Option<String> {
    if !line.contains("chatd listening") {
        return None;
    }
    let rest = &line[line.find("listen=")? + "listen=".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\x1b')
        .collect();
    Some(addr)
}
