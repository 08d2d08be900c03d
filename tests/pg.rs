//! A private PostgreSQL for tests: `initdb` in a temporary directory, a
//! free port on 127.0.0.1, the unix socket in that directory, stopped on
//! drop.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI does),
//! the server runs as the unprivileged `postgres` user that Debian's
//! package creates, through `runuser`, and the directory is handed to it.
//!
//! The server binaries are looked up in `/usr/lib/postgresql/<version>/bin`
//! (Debian; newest version first), then on `PATH`. Where they are missing,
//! [`pg_or_skip!`](crate::pg_or_skip) prints one line naming the install
//! command and the test returns; under CI (`CI` set) a missing PostgreSQL
//! fails the test instead, so CI never passes without running it.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest the harness waits for PostgreSQL to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The unprivileged user the server runs as when the tests run as root.
pub const RUN_AS: &str = "postgres";

/// The database the harness creates; [`PrivatePostgres::url`] names it.
pub const DATABASE: &str = "chat";

/// The superuser `initdb` creates (trust authentication, local only).
pub const SUPERUSER: &str = "chat";

/// Names the one directory to take the PostgreSQL binaries from, instead
/// of searching (a build of its own, or a missing directory to see the
/// skip line).
pub const BIN_ENV: &str = "CHAT_E2E_PG_BIN";

/// What to install when the binaries are missing.
pub const INSTALL_HINT: &str = "apt-get install postgresql";

/// Why a private PostgreSQL could not start.
#[derive(Debug)]
pub enum StartError {
    /// No PostgreSQL server binaries on this machine.
    Missing(String),
    /// They are there but something failed; the text says what.
    Failed(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Missing(why) => write!(f, "{why}"),
            StartError::Failed(why) => write!(f, "{why}"),
        }
    }
}

/// How to stop the server ([`PrivatePostgres::stop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// `pg_ctl stop -m fast`: disconnect clients, roll back open
    /// transactions, checkpoint.
    Fast,
    /// `pg_ctl stop -m immediate`: quit at once as in a crash; the next
    /// start recovers from the WAL.
    Immediate,
}

/// A running private PostgreSQL; stopped (`pg_ctl stop -m fast`) and its
/// directory removed on drop.
pub struct PrivatePostgres {
    bin: PathBuf,
    /// `Some(user)` when the server runs as that user through `runuser`.
    run_as: Option<String>,
    port: u16,
    child: Option<Child>,
    // Declared last: removed after the server stopped.
    dir: tempfile::TempDir,
}

/// Starts a private PostgreSQL for the test named `$name`, or prints one
/// line naming the install command and returns from the test when the
/// binaries are missing (panics instead under CI).
#[macro_export]
macro_rules! pg_or_skip {
    ($name:expr) => {
        match $crate::pg::PrivatePostgres::start_or_skip($name) {
            Some(pg) => pg,
            None => return,
        }
    };
}

impl PrivatePostgres {
    /// Starts a private PostgreSQL: initdb, a free port, wait until it
    /// accepts connections, create [`DATABASE`].
    ///
    /// # Errors
    /// [`StartError::Missing`] when no server binaries are found;
    /// [`StartError::Failed`] with the server's log tail otherwise.
    pub fn start() -> Result<PrivatePostgres, StartError> {
        let bin = find_bin().ok_or_else(|| {
            let searched = match std::env::var(BIN_ENV) {
                Ok(dir) => format!("{dir} (from {BIN_ENV})"),
                Err(_) => "/usr/lib/postgresql/*/bin or on PATH".to_string(),
            };
            StartError::Missing(format!(
                "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found in \
                 {searched}; install them with `{INSTALL_HINT}`"
            ))
        })?;
        let run_as = running_as_root().then(|| RUN_AS.to_string());
        let dir = tempfile::Builder::new()
            .prefix("chat-pg-")
            .tempdir()
            .map_err(|e| failed(format!("cannot create a temp dir: {e}")))?;
        if let Some(user) = &run_as {
            hand_over(dir.path(), user)?;
        }
        let mut pg = PrivatePostgres {
            bin,
            run_as,
            port: 0,
            child: None,
            dir,
        };
        pg.initdb()?;
        // The free port can be taken by someone else before postgres binds
        // it; a few fresh ports make that race harmless.
        let mut tries = 0;
        loop {
            pg.port = free_port()?;
            match pg.launch() {
                Ok(()) => break,
                Err(_) if tries < 3 && pg.log_tail().contains("could not bind") => tries += 1,
                Err(e) => return Err(e),
            }
        }
        pg.createdb()?;
        Ok(pg)
    }

    /// [`PrivatePostgres::start`], or `None` after printing one line (past
    /// the test harness's output capture) that names `test` and the
    /// install command. Under CI (`CI` set and not `false`), a missing
    /// PostgreSQL panics instead, so CI cannot pass without these tests.
    ///
    /// # Panics
    /// If the binaries are there but the server does not start, or they
    /// are missing under CI.
    pub fn start_or_skip(test: &str) -> Option<PrivatePostgres> {
        match PrivatePostgres::start() {
            Ok(pg) => Some(pg),
            Err(StartError::Missing(why)) => {
                let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
                if ci {
                    panic!("{test}: {why} (CI must run this test)");
                }
                let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
                None
            }
            Err(StartError::Failed(why)) => panic!("{test}: cannot start PostgreSQL: {why}"),
        }
    }

    /// The connection string: `postgres://chat@127.0.0.1:<port>/chat`.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (same data, same port for [`PrivatePostgres::restart`]).
    ///
    /// # Panics
    /// If `pg_ctl stop` fails.
    pub fn stop(&mut self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let data = self.data_dir();
        let status = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", mode, "-w", "-t", "60"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl stop");
        assert!(status.success(), "pg_ctl stop -m {mode} failed: {status}");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port and data, and
    /// waits until it accepts connections.
    ///
    /// # Panics
    /// If it does not come up within [`START_TIMEOUT`].
    pub fn restart(&mut self) {
        if let Err(e) = self.launch() {
            panic!("cannot restart PostgreSQL: {e}");
        }
    }

    /// Runs `sql` with `psql` on [`DATABASE`] and returns its output
    /// (unaligned, tuples only): for tests that set up rows chatd would
    /// never write.
    ///
    /// # Panics
    /// If psql fails.
    pub fn psql(&self, sql: &str) -> String {
        let out = self
            .command("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", DATABASE, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command for the binary `name` of the server's bin dir, run as the
    /// unprivileged user when needed.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn initdb(&self) -> Result<(), StartError> {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ])
            // initdb's own files need no fsync: a crash of the test
            // machine discards them anyway. The server runs with fsync on.
            .arg("--no-sync")
            .output()
            .map_err(|e| failed(format!("cannot run initdb: {e}")))?;
        if !out.status.success() {
            return Err(failed(format!(
                "initdb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Starts `postgres` and waits until it accepts connections.
    fn launch(&mut self) -> Result<(), StartError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| failed(format!("cannot open the server log: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| failed(format!("cannot open the server log: {e}")))?;
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=on"])
            .args(["-c", "max_connections=300"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| failed(format!("cannot start postgres: {e}")))?;
        self.child = Some(child);
        self.spawn_watchdog();
        self.wait_ready()
    }

    /// Starts a detached watchdog that stops this server and removes its
    /// directory once the test process is gone, so a test run that ends
    /// without dropping the harness (a SIGKILL, `process::exit`, the
    /// suite-wide instance of [`suite_database`], which is never dropped)
    /// leaves no PostgreSQL behind. It exits by itself when the directory
    /// disappears (a normal drop). It polls once a second: cleanup, not
    /// synchronisation.
    fn spawn_watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match &self.run_as {
            Some(user) => format!("runuser -u {user} -- {}", pg_ctl.display()),
            None => pg_ctl.display().to_string(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null && [ -d '{dir}' ]; do sleep 1; done; \
             if [ -d '{dir}' ]; then {stop} stop -D '{data}' -m immediate -w -t 30; \
             rm -rf '{dir}'; fi",
            pid = std::process::id(),
            dir = self.dir.path().display(),
            data = self.data_dir().display(),
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// Polls `pg_isready` until the server accepts connections, the
    /// server exits, or [`START_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(failed(format!(
                    "postgres exited ({status}) while starting: {}",
                    self.log_tail()
                )));
            }
            let ready = self
                .command("pg_isready")
                .args(["-q", "-h", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .args(["-d", "postgres", "-U", SUPERUSER])
                .status()
                .map_err(|e| failed(format!("cannot run pg_isready: {e}")))?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "postgres did not accept connections within {START_TIMEOUT:?}: {}",
                    self.log_tail()
                )));
            }
            // A poll interval, not a synchronisation: the loop ends on the
            // server's answer.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn createdb(&self) -> Result<(), StartError> {
        self.create_database(DATABASE).map(|_| ())
    }

    /// Creates the empty database `name` and returns its connection
    /// string.
    ///
    /// # Errors
    /// [`StartError::Failed`] with `createdb`'s message.
    pub fn create_database(&self, name: &str) -> Result<String, StartError> {
        let out = self
            .command("createdb")
            .args(["-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, name])
            .output()
            .map_err(|e| failed(format!("cannot run createdb: {e}")))?;
        if !out.status.success() {
            return Err(failed(format!(
                "createdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self
                .command("pg_ctl")
                .arg("stop")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "fast", "-w", "-t", "60"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn failed(why: String) -> StartError {
    StartError::Failed(why)
}

/// The directory holding `initdb`, `postgres`, `pg_ctl`, `pg_isready`,
/// `createdb` and `psql`: the directory named by [`BIN_ENV`] when it is
/// set (and only it), else Debian's newest
/// `/usr/lib/postgresql/<version>/bin`, else the directory of a `postgres`
/// on `PATH`.
pub fn find_bin() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        [
            "initdb",
            "postgres",
            "pg_ctl",
            "pg_isready",
            "createdb",
            "psql",
        ]
        .iter()
        .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        let dir = PathBuf::from(dir);
        return complete(&dir).then_some(dir);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.into_iter().rev().find(|(_, d)| complete(d)) {
        return Some(dir);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|p| p.join("postgres"))
        .filter(|p| p.is_file())
        // A symlink (e.g. /usr/local/bin/postgres) leads to the real dir.
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .find(|d| complete(d))
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Gives `dir` to `user` (PostgreSQL wants its data and socket dirs owned
/// by the user it runs as).
fn hand_over(dir: &Path, user: &str) -> Result<(), StartError> {
    let id = |flag: &str| -> Result<u32, StartError> {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| failed(format!("cannot run id: {e}")))?;
        if !out.status.success() {
            return Err(failed(format!(
                "the tests run as root and PostgreSQL refuses root, but there is no \
                 unprivileged user {user:?} to run it as; `{INSTALL_HINT}` creates one"
            )));
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| failed(format!("id {flag} {user}: {e}")))
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| failed(format!("cannot give {} to {user}: {e}", dir.display())))
}

/// A port that was free a moment ago: bind 127.0.0.1:0, read, close.
fn free_port() -> Result<u16, StartError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| failed(format!("cannot find a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| failed(format!("cannot find a free port: {e}")))
}

/// The PostgreSQL that every server of the PostgreSQL run of the
/// end-to-end suite (the `e2e_pg` test binary) shares, started on first
/// use; each server gets a database of its own ([`suite_database`]).
static SUITE: std::sync::Mutex<Option<(PrivatePostgres, u32)>> = std::sync::Mutex::new(None);

/// Drops the suite database `url` names, ending every connection to it
/// (`DROP DATABASE … WITH (FORCE)`). Errors are ignored: the instance
/// goes away with the test process anyway.
pub fn drop_suite_database(url: &str) {
    let Some(name) = url.rsplit('/').next() else {
        return;
    };
    let suite = SUITE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((pg, _)) = suite.as_ref() {
        let _ = pg
            .command("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-p"])
            .arg(pg.port.to_string())
            .args(["-U", SUPERUSER, "-d", "postgres", "-c"])
            .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A fresh, empty database on the suite-wide private PostgreSQL (started
/// on the first call, stopped by its watchdog when the test process
/// exits), as a connection string.
///
/// # Errors
/// As [`PrivatePostgres::start`]; [`StartError::Failed`] if the database
/// cannot be created.
pub fn suite_database() -> Result<String, StartError> {
    let mut suite = SUITE.lock().unwrap_or_else(|p| p.into_inner());
    if suite.is_none() {
        *suite = Some((PrivatePostgres::start()?, 0));
    }
    let (pg, next) = suite.as_mut().expect("started above");
    *next += 1;
    pg.create_database(&format!("chat_{next}"))
}
