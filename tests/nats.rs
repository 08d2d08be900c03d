//! A private nats-server for tests: started on a free port of 127.0.0.1
//! with its log in a temporary directory, stopped and restarted on the
//! same port (to cut the bus mid-stream), killed on drop.
//!
//! nats-server is a Debian package (`apt-get install nats-server`;
//! `.ci/run` installs it). A test that needs it starts it with
//! [`nats_or_skip!`](crate::nats_or_skip): where the binary is missing
//! the test prints one line naming the install command and returns, so
//! `cargo test` never passes it silently; under CI (`CI=true`) a missing
//! binary fails the test instead.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the nats-server binary to use instead of
/// the one found on `PATH` or in `/usr/sbin` (where Debian puts it).
pub const NATS_SERVER_ENV: &str = "NATS_SERVER";

/// The line a skipped test prints: what is missing and how to install it.
pub const INSTALL_HINT: &str = "nats-server is not installed; install it with \
     `apt-get install nats-server` (Debian package), or set NATS_SERVER to its path";

/// How long a start waits for nats-server to accept connections.
const READY_WAIT: Duration = Duration::from_secs(20);

/// nats-server could not be found.
#[derive(Debug)]
pub struct NatsMissing;

/// A running private nats-server.
pub struct NatsServer {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// The nats-server binary: `$NATS_SERVER`, else `nats-server` on `PATH`,
/// else `/usr/sbin/nats-server`.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(NATS_SERVER_ENV) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

/// Reports a test skipped for want of nats-server: one line on stderr
/// (written past the test harness's capture, so it shows in a normal
/// `cargo test` run).
///
/// # Panics
/// Under CI (`CI` set to `true`), where `.ci/run` installs nats-server and
/// a skip would hide a broken setup.
pub fn skip() {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {INSTALL_HINT} (CI must run this test)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {INSTALL_HINT}");
}

/// Starts a private nats-server, or skips the calling test (returns from
/// it) after printing one line naming the install command. Evaluates to
/// the [`NatsServer`](crate::nats::NatsServer).
///
/// `nats_or_skip!(config)` starts it with `config`, lines of nats-server's
/// configuration file (e.g. `"max_payload: 64\n"`).
#[macro_export]
macro_rules! nats_or_skip {
    () => {
        $crate::nats_or_skip!("")
    };
    ($config:expr) => {
        match $crate::nats::NatsServer::start_with($config) {
            Ok(server) => server,
            Err($crate::nats::NatsMissing) => {
                $crate::nats::skip();
                return;
            }
        }
    };
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl NatsServer {
    /// Starts nats-server on a free port and waits until it accepts
    /// connections.
    ///
    /// # Errors
    /// [`NatsMissing`] when the binary is not installed.
    ///
    /// # Panics
    /// If it does not start (its log is in the message).
    pub fn start() -> Result<NatsServer, NatsMissing> {
        NatsServer::start_with("")
    }

    /// As [`NatsServer::start`], with `config` (lines of nats-server's
    /// configuration file; port, address and log come from the harness).
    ///
    /// # Errors
    /// [`NatsMissing`] when the binary is not installed.
    ///
    /// # Panics
    /// If it does not start.
    pub fn start_with(config: &str) -> Result<NatsServer, NatsMissing> {
        let bin = find_binary().ok_or(NatsMissing)?;
        let dir = tempfile::tempdir().expect("temp dir for nats-server");
        std::fs::write(dir.path().join("nats-server.conf"), config)
            .expect("write nats-server.conf");
        let mut server = NatsServer {
            bin,
            port: 0,
            dir,
            child: None,
        };
        // Another process may take the port between our probe and the
        // server's bind; then the server exits and we pick another.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        panic!("nats-server did not start on any of 5 free ports; last: {last}");
    }

    /// Its client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr())
    }

    /// Its client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills it (SIGKILL, as a crash: whatever was in flight is lost) and
    /// waits for the process to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and waits until it accepts
    /// connections.
    ///
    /// # Panics
    /// If it does not come back within the wait (its log is in the
    /// message).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_WAIT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                // The old socket may linger a moment; try again.
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("nats-server did not restart on port {}: {e}", self.port),
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// Spawns on `self.port`; `Err` with the log when the process exits
    /// before it accepts connections.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("nats-server.conf"))
            .args(["-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-l")
            .arg(self.log_path())
            .arg("-P")
            .arg(self.dir.path().join("nats-server.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WAIT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "exited with {status}: {}",
                    read_log(&self.log_path())
                ));
            }
            if accepts(self.addr()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                panic!(
                    "nats-server did not accept connections on {} within {READY_WAIT:?}: {}",
                    self.addr(),
                    read_log(&self.log_path())
                );
            }
            // Polling for readiness, not synchronising with a test event.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether nats-server at `addr` greets a new connection with `INFO`.
fn accepts(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut greeting = [0u8; 4];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO"
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"))
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
