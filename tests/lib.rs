//! The end-to-end test harness: real `chatd` servers on `127.0.0.1:0` in
//! temporary directories with freshly generated certificates, and real QUIC
//! clients through `chat-client`.
//!
//! Tests wait on events with timeouts ([`WAIT`]); nothing sleeps to
//! synchronise and no port is fixed.

pub mod nats;
pub mod pg;

use chat_client::{ClientConfig, Connection, Trust};
use chat_protocol::{RoomEvent, RoomFrame, RoomId, Seq, UserInfo};
use chatd::config::Config;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest a test waits for any one thing before failing.
pub const WAIT: Duration = Duration::from_secs(30);

/// A password that passes the server's rules, for test accounts.
pub const PASSWORD: &str = "correct horse battery";

/// A running in-process server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its CA certificate.
    pub ca: PathBuf,
    /// Its certificate's fingerprint.
    pub fingerprint: String,
    /// The admin API token written at bootstrap.
    pub admin_token: String,
    /// The configuration it runs with (data dir, limits).
    pub config: Config,
    /// The bound metrics and health listener, when `config.metrics_listen`
    /// was set.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    dir: Option<tempfile::TempDir>,
    /// The suite database this server was given ([`choose_store`]),
    /// dropped with it.
    suite_db: Option<String>,
}

/// The storage engine the in-process servers of this test binary use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// redb under the server's data dir (the `e2e` binary).
    Redb,
    /// A fresh database on the suite's private PostgreSQL
    /// ([`pg::suite_database`]) for each server (the `e2e_pg` binary).
    Postgres,
}

/// Which [`Backend`] this test binary runs on: the end-to-end suite is
/// built twice from the same sources (tests/Cargo.toml), as `e2e` (redb)
/// and as `e2e_pg` (PostgreSQL), told apart by the binary's name.
pub fn backend() -> Backend {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with("e2e_pg") {
        Backend::Postgres
    } else {
        Backend::Redb
    }
}

/// Skips the calling test on the PostgreSQL run of the suite, printing one
/// line with `why` (the test covers something only the redb engine has,
/// such as its file, its disk-fault hook or its backup format).
#[macro_export]
macro_rules! redb_only {
    ($why:expr) => {
        if $crate::backend() == $crate::Backend::Postgres {
            $crate::note_skip($why);
            return;
        }
    };
}

/// Prints the line [`redb_only!`] prints, naming the running test.
pub fn note_skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED on PostgreSQL {test}: redb only ({why})"
    );
}

/// Points `config` at a fresh database of the suite's PostgreSQL when this
/// binary runs on [`Backend::Postgres`]. Without PostgreSQL server
/// binaries it prints one line naming the install command and exits the
/// test binary with success (the whole PostgreSQL run is skipped, never
/// silently); under CI it panics instead.
///
/// Returns the database's URL, which the caller drops with
/// [`pg::drop_suite_database`] when done.
///
/// # Panics
/// If PostgreSQL cannot start, or is missing under CI.
pub fn choose_store(config: &mut Config) -> Option<String> {
    if backend() != Backend::Postgres {
        return None;
    }
    match pg::suite_database() {
        Ok(url) => {
            use_postgres(config, url.clone());
            Some(url)
        }
        Err(pg::StartError::Missing(why)) => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            if ci {
                panic!("{why} (CI must run the PostgreSQL end-to-end suite)");
            }
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED the PostgreSQL run of the end-to-end suite (e2e_pg): {why}"
            );
            std::process::exit(0);
        }
        Err(e) => panic!("cannot start the suite's PostgreSQL: {e}"),
    }
}

/// Sets `config`'s store to the PostgreSQL database `url`.
pub fn use_postgres(config: &mut Config, url: String) {
    config.store = Some(url);
}

/// Starts a server with default limits in a fresh temp dir.
///
/// # Panics
/// If the server cannot start (a test failure).
pub async fn spawn_server() -> TestServer {
    spawn_server_with(|_| {}).await
}

/// Starts a server in a fresh temp dir after `tune` adjusts its config.
///
/// # Panics
/// If the server cannot start.
pub async fn spawn_server_with(tune: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    let suite_db = choose_store(&mut config);
    tune(&mut config);
    let mut server = start(config).await;
    server.dir = Some(dir);
    server.suite_db = suite_db;
    server
}

/// Starts another node of `first`'s deployment: a fresh data dir holding
/// a copy of `first`'s admin token file (a node that did not create the
/// database writes none), with `tune` applied.
///
/// # Panics
/// If the node cannot start.
pub async fn spawn_peer(first: &TestServer, tune: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        first
            .config
            .data_dir
            .join(chatd::bootstrap::ADMIN_TOKEN_FILE),
        dir.path().join(chatd::bootstrap::ADMIN_TOKEN_FILE),
    )
    .expect("copy the admin token file");
    let mut config = Config::for_tests(dir.path());
    tune(&mut config);
    let mut server = start(config).await;
    server.dir = Some(dir);
    server
}

async fn start(config: Config) -> TestServer {
    let server = chatd::Server::start(config.clone())
        .await
        .expect("chatd starts");
    let addr = server.local_addr();
    let metrics_addr = server.metrics_addr();
    let ca = server.ca_path().expect("generated CA").to_path_buf();
    let fingerprint = server.fingerprint().to_string();
    let admin_token = read_token(&config.data_dir);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = rx.await;
            })
            .await
            .expect("chatd runs");
    });
    TestServer {
        addr,
        ca,
        fingerprint,
        admin_token,
        config,
        metrics_addr,
        shutdown: Some(tx),
        task: Some(task),
        dir: None,
        suite_db: None,
    }
}

/// The bootstrap admin token of a data dir.
///
/// # Panics
/// If the file is missing.
pub fn read_token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join(chatd::bootstrap::ADMIN_TOKEN_FILE))
        .expect("admin token file")
        .trim()
        .to_string()
}

impl TestServer {
    /// A client configuration trusting this server's CA.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new(
            self.addr.to_string(),
            Trust::CaFile(self.ca.clone()),
            "e2e-test",
        )
    }

    /// A new connection, not logged in.
    ///
    /// # Panics
    /// If the connection fails.
    pub async fn connect(&self) -> Connection {
        chat_client::connect(&self.client_config())
            .await
            .expect("connect")
    }

    /// A connection logged in as the bootstrap admin.
    ///
    /// # Panics
    /// If login fails.
    pub async fn admin(&self) -> Connection {
        let c = self.connect().await;
        c.authenticate(&self.admin_token)
            .await
            .expect("admin token works");
        c
    }

    /// Creates `name` with [`PASSWORD`] (through the admin) and returns a
    /// connection logged in as them.
    ///
    /// # Panics
    /// If creation or login fails.
    pub async fn user(&self, name: &str) -> (Connection, UserInfo) {
        self.user_in_org(name, "").await
    }

    /// As [`TestServer::user`], with an organization.
    ///
    /// # Panics
    /// If creation or login fails.
    pub async fn user_in_org(&self, name: &str, org: &str) -> (Connection, UserInfo) {
        let admin = self.admin().await;
        admin
            .create_user(name, Some(PASSWORD), "", org, false)
            .await
            .expect("create user");
        self.login(name).await
    }

    /// A new connection logged in as an existing user.
    ///
    /// # Panics
    /// If login fails.
    pub async fn login(&self, name: &str) -> (Connection, UserInfo) {
        let c = self.connect().await;
        let (user, _) = c.login(name, PASSWORD).await.expect("login");
        (c, user)
    }

    /// Stops the server gracefully and waits; the data dir is kept.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
    }

    /// Stops the server and starts a new one on the same data dir and the
    /// same address.
    ///
    /// # Panics
    /// If the restart fails.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut config = self.config.clone();
        config.listen = self.addr;
        let mut next = start(config).await;
        next.dir = self.dir.take();
        next.suite_db = self.suite_db.take();
        *self = next;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Ends the connections the server's pool still holds, whether or
        // not its shutdown got to close them before the test's runtime
        // went away.
        if let Some(url) = self.suite_db.take() {
            pg::drop_suite_database(&url);
        }
    }
}

/// The next room event on `stream`, skipping `CaughtUp` markers.
///
/// # Panics
/// On timeout or a stream error.
pub async fn next_event(stream: &mut chat_client::RoomStream) -> RoomEvent {
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Ok(Some(RoomFrame::Event(e)))) => return e,
            Ok(Ok(Some(
                RoomFrame::CaughtUp { .. } | RoomFrame::Receipt { .. } | RoomFrame::Typing { .. },
            ))) => continue,
            Ok(Ok(None | Some(RoomFrame::Closed { .. }))) => panic!("room stream finished"),
            Ok(Err(e)) => panic!("room stream ended: {e}"),
            Err(_) => panic!("no room event within {WAIT:?}"),
        }
    }
}

/// Reads until `CaughtUp`, returning the events before it.
///
/// # Panics
/// On timeout or a stream error.
pub async fn catch_up(stream: &mut chat_client::RoomStream) -> (Vec<RoomEvent>, Seq) {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Ok(Some(RoomFrame::Event(e)))) => out.push(e),
            Ok(Ok(Some(RoomFrame::CaughtUp { head }))) => return (out, head),
            Ok(Ok(Some(RoomFrame::Receipt { .. } | RoomFrame::Typing { .. }))) => {}
            Ok(Ok(None | Some(RoomFrame::Closed { .. }))) => panic!("room stream finished"),
            Ok(Err(e)) => panic!("room stream ended: {e}"),
            Err(_) => panic!("no CaughtUp within {WAIT:?}"),
        }
    }
}

/// The texts of the message events among `events`.
pub fn texts(events: &[RoomEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            chat_protocol::RoomEventKind::Message(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

/// Creates a public room owned by `owner` and returns its id.
///
/// # Panics
/// If creation fails.
pub async fn public_room(owner: &Connection, name: &str) -> RoomId {
    owner
        .create_room(name, "", chat_protocol::Visibility::Public)
        .await
        .expect("create room")
        .id
}

/// Waits for the first user event matching `pred`, skipping others.
///
/// # Panics
/// On timeout or a stream error.
pub async fn wait_user_event(
    stream: &mut chat_client::UserStream,
    mut pred: impl FnMut(&chat_protocol::UserEvent) -> bool,
) -> chat_protocol::UserEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Ok(Some(ev))) if pred(&ev) => return ev,
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("user stream finished"),
            Ok(Err(e)) => panic!("user stream ended: {e}"),
            Err(_) => panic!("no matching user event within {WAIT:?}"),
        }
    }
}

/// Waits for the first room frame matching `pred`, skipping others.
///
/// # Panics
/// On timeout or a stream error.
pub async fn wait_room_frame(
    stream: &mut chat_client::RoomStream,
    mut pred: impl FnMut(&RoomFrame) -> bool,
) -> RoomFrame {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Ok(Some(f))) if pred(&f) => return f,
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("room stream finished"),
            Ok(Err(e)) => panic!("room stream ended: {e}"),
            Err(_) => panic!("no matching room frame within {WAIT:?}"),
        }
    }
}

/// The message event at `seq` in a history page.
///
/// # Panics
/// If it is missing or not a message.
pub fn message_at(page: &chat_protocol::HistoryPage, seq: Seq) -> chat_protocol::MessageEvent {
    page.events
        .iter()
        .find(|e| e.seq == seq)
        .and_then(|e| match &e.kind {
            chat_protocol::RoomEventKind::Message(m) => Some(m.clone()),
            _ => None,
        })
        .expect("message in page")
}
