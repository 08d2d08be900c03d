//! `chatd`, the chat server, as a library: [`Server::start`] binds and
//! prepares everything, [`Server::run`] serves until a shutdown future
//! completes. The `chatd` binary is a thin `main` over this, and tests start
//! and stop real servers through the same two calls.
//!
//! Where things live:
//! - [`config`]: settings (file < environment < flag); [`tls`]: certificates;
//!   [`content`]: the banned-word rule.
//! - `session`: one task per connection (handshake, control stream, room
//!   and user streams).
//! - `handlers`: one module per area of requests; add new requests there.
//! - [`store`]: redb, all tables in `store::tables`, the single group-commit
//!   writer in `store::writer`.
//! - [`fanout`]: the hub that hands committed events to subscribers;
//!   [`bus`]: cross-node fan-out over NATS (`--bus`), which then stands
//!   between the writer and the hub; [`presence`]: who is online, merged
//!   across nodes.
//! - [`backup`]: `chatctl server backup` (served on a transfer stream) and
//!   `chatd restore`.
//! - [`metrics`]: Prometheus metrics, one registry per server;
//!   [`ops_http`]: the `/metrics`, `/healthz`, `/readyz` listener.
//! - [`audit_key`]: the key that signs the audit log's tree heads; the
//!   tree is `store::audit_tree`, its requests `handlers::audit_log`.

pub mod audit_key;
pub mod auth;
pub mod backup;
pub mod bootstrap;
pub mod bus;
pub mod config;
pub mod content;
pub mod fanout;
pub mod files;
mod handlers;
pub mod login;
pub mod metrics;
pub mod ops_http;
mod page;
pub mod presence;
pub mod reload;
pub mod retention;
pub mod search;
mod session;
mod shared;
pub mod store;
pub mod tls;
pub mod udp;

use chat_protocol::codes;
use shared::Shared;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use config::Config;
pub use handlers::{send_job, send_job_with};

/// Name of the redb file inside the data directory.
pub const DB_FILE: &str = "chat.redb";

/// How long shutdown waits for connections to acknowledge the close, in ms.
pub const SHUTDOWN_GRACE_MS: u64 = 3_000;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be created or made private (0700).
    #[error(
        "cannot create data directory {path} or make it private (mode 0700, files 0600): {cause}; \
         chatd's user must own it and its files (check its parent's permissions), or pass --data"
    )]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// Certificates could not be loaded or generated.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The search index could not be opened.
    #[error(transparent)]
    Search(#[from] search::SearchError),
    /// First-start bootstrap failed.
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    /// The UDP socket could not be bound.
    #[error(
        "cannot listen on {addr}: {cause}; is another chatd running there? Pass another --listen"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
    /// The metrics listener's TCP address could not be bound.
    #[error(
        "cannot listen for metrics on {addr}: {cause}; is another process using it? Pass \
         another --metrics-listen"
    )]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
    /// The audit log's signing key could not be loaded or generated.
    #[error(transparent)]
    AuditKey(#[from] audit_key::AuditKeyError),
    /// A blocking start-up task failed.
    #[error("start-up task failed: {0}")]
    Task(String),
    /// The cross-node bus (`--bus`) could not start; the message names the
    /// URL.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
}

/// Other nodes' presence messages waiting for the presence task; past
/// this they are dropped (a heartbeat repairs what a dropped one said).
const PRESENCE_FEED: usize = 65_536;

/// Handshakes in progress above which a client whose address QUIC has not
/// validated is sent a Retry first (RFC 9000 §8.1), so a flood of spoofed
/// Initial packets costs the server no TLS work.
pub const RETRY_ABOVE_HANDSHAKES: u64 = 64;

/// Decides on a new connection before any TLS work: refused (QUIC
/// `CONNECTION_REFUSED`, RFC 9000 §20.1) at the connection limit, asked to
/// validate its address under a handshake flood, otherwise counted at once
/// and served. Counting here, not after the handshake, is what keeps a
/// burst within `max_connections`
/// (test: `e2e::hostile::a_burst_never_exceeds_the_connection_limit`).
fn admit(shared: &Arc<Shared>, incoming: quinn::Incoming) {
    let max = u64::from(shared.config.current().limits.max_connections);
    if shared.connections.load(Ordering::Relaxed) >= max {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(max, "connection limit reached; refusing");
        incoming.refuse();
        return;
    }
    if !incoming.remote_address_validated()
        && incoming.may_retry()
        && shared.handshaking.load(Ordering::Relaxed) >= RETRY_ABOVE_HANDSHAKES
    {
        let _ = incoming.retry();
        return;
    }
    shared.connections.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(session::serve(shared.clone(), incoming));
}

/// A started server, ready to [`run`](Server::run).
pub struct Server {
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    fingerprint: String,
    ca_path: Option<PathBuf>,
    metrics_listener: Option<tokio::net::TcpListener>,
    /// Other nodes' presence messages, for the presence task (with a bus).
    presence_feed: Option<tokio::sync::mpsc::Receiver<bus::wire::BusMessage>>,
}

/// Connects the bus for `chatd --bus`: the writer's tap publishes every
/// committed effect and hands it to `hub`; other nodes' room events tell
/// the search index which rooms changed; this node's presence changes and
/// heartbeats go out through `presence`'s sink, and other nodes' come back
/// through the returned feed (see `presence::follow_bus`).
///
/// # Errors
/// [`ServerError::Bus`] naming the URL when nats-server cannot be reached.
async fn connect_bus(
    config: &Config,
    url: &str,
    hub: &Arc<fanout::Hub>,
    store: &store::Store,
    search: Option<&search::SearchIndex>,
    presence: &presence::Registry,
) -> Result<(bus::Bus, tokio::sync::mpsc::Receiver<bus::wire::BusMessage>), ServerError> {
    let mut options = bus::BusOptions::new(url);
    options.name = config.node_name.clone();
    let (feed_tx, feed_rx) = tokio::sync::mpsc::channel(PRESENCE_FEED);
    let room_changed = search.cloned().map(|index| {
        Box::new(move |room: u64| index.touched([room])) as Box<dyn Fn(u64) + Send + Sync>
    });
    let hooks = bus::Hooks {
        room_changed,
        presence: Some(Box::new(move |message| {
            if feed_tx.try_send(message).is_err() {
                tracing::warn!("presence feed full; a message from another node was dropped");
            }
        })),
    };
    let fill = Arc::new(bus::RedbGapFill::new(store.clone()));
    let bus = bus::Bus::connect_with(options, hub.clone(), fill, hooks).await?;
    let publisher = bus.publisher();
    if config.account_effects_bus_only {
        store.writer().attach_tap(Box::new(move |effects| {
            publisher.publish(&effects);
            publisher.deliver(
                effects
                    .into_iter()
                    .filter(|e| !matches!(e, fanout::Effect::Account { .. }))
                    .collect(),
            );
        }));
    } else {
        store.writer().attach_tap(bus.tap());
    }
    let node = bus::wire::node_id(&config.node_name);
    let publisher = bus.publisher();
    let subject = bus::wire::node_subject(publisher.prefix(), &node);
    presence.set_sink(
        &node,
        Box::new(move |message| publisher.send(subject.clone(), &message)),
    );
    tracing::info!(%url, node = %node, "connected to the bus");
    Ok((bus, feed_rx))
}

impl Server {
    /// Opens storage, loads or generates certificates, bootstraps the admin
    /// account on first start and binds the QUIC endpoint.
    ///
    /// # Errors
    /// [`ServerError`] naming what could not be set up.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        let data_dir = config.data_dir.clone();
        // 0700, its files 0600, whatever the umask: it holds every message
        // and password hash.
        store::prepare_data_dir(&data_dir, &[DB_FILE, bootstrap::ADMIN_TOKEN_FILE]).map_err(
            |cause| ServerError::DataDir {
                path: data_dir.clone(),
                cause,
            },
        )?;
        backup::serve::remove_leftovers(&data_dir);
        let (tls, store, audit_key) = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                let tls = tls::load_or_generate(&config)?;
                let audit_key = audit_key::AuditKey::load_or_generate(&config.cert_dir)?;
                let options = store::StoreOptions {
                    disk_fault: config.disk_fault.clone(),
                    ..Default::default()
                };
                let store = match &config.store {
                    Some(url) => store::Store::open_postgres(url, options)?,
                    None => store::Store::open_with(&config.data_dir.join(DB_FILE), options)?,
                };
                Ok::<_, ServerError>((tls, store, audit_key))
            })
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??
        };
        // Records written before the audit log had its tree join it now.
        let audit_size = store::boundary::AuditLog::audit_catch_up(&store)
            .await
            .map_err(|e| {
                ServerError::Task(format!("cannot bring the audit log's tree up to date: {e}"))
            })?;
        tracing::debug!(audit_size, "audit log tree ready");
        if let Some(path) =
            bootstrap::ensure_admin(&store, &data_dir, config.store.is_some()).await?
        {
            tracing::info!(path = %path.display(), "created the admin account; its API token is in this file");
        }
        let hub =
            fanout::Hub::with_join_delay(config.limits.subscriber_queue, config.fanout_join_delay);
        let search = if config.search {
            let (dir, for_index) = (data_dir.clone(), store.clone());
            let index =
                tokio::task::spawn_blocking(move || search::SearchIndex::open(&dir, for_index))
                    .await
                    .map_err(|e| ServerError::Task(e.to_string()))??;
            let feed = index.clone();
            store
                .writer()
                .attach_follower(Box::new(move |rooms| feed.touched(rooms)));
            Some(index)
        } else {
            None
        };
        let presence = presence::Registry::default();
        let (bus, presence_feed) = match &config.bus {
            Some(url) => {
                let (bus, feed) =
                    connect_bus(&config, url, &hub, &store, search.as_ref(), &presence).await?;
                (Some(bus), Some(feed))
            }
            None => {
                store.writer().attach_hub(hub.clone());
                (None, None)
            }
        };
        let server_config = tls::quinn_server_config(&tls, &config.limits)?;
        let bind_err = |cause| ServerError::Bind {
            addr: config.listen,
            cause,
        };
        let bound = udp::bind(config.listen, udp::BUFFER_BYTES).map_err(bind_err)?;
        // Linux reports twice what it granted (see udp::granted).
        if let Some(granted) = udp::shortfall(bound.recv_buffer, udp::BUFFER_BYTES) {
            tracing::warn!(
                granted,
                wanted = udp::BUFFER_BYTES,
                "the kernel capped the UDP receive buffer; many clients connecting at once may \
                 see retransmission delays; fix: sysctl -w net.core.rmem_max={}",
                udp::BUFFER_BYTES
            );
        }
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server_config),
            bound.socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(bind_err)?;
        let local = endpoint.local_addr().unwrap_or(config.listen);
        tracing::info!(listen = %local, fingerprint = %tls.fingerprint, "chatd listening");
        if let Some(ca) = &tls.ca_path {
            tracing::info!(ca = %ca.display(), "clients can trust this CA certificate (or pin the fingerprint)");
        }
        let files = files::Files::open(&data_dir, config.blob_dir.as_deref(), config.files.clone())
            .map_err(|cause| ServerError::DataDir {
                path: config
                    .blob_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("files")),
                cause,
            })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|cause| ServerError::MetricsBind { addr, cause })?,
            ),
            None => None,
        };
        if let Some(addr) = metrics_listener.as_ref().and_then(|l| l.local_addr().ok()) {
            tracing::info!(%addr, "serving /metrics, /healthz and /readyz over HTTP");
        }
        let metrics = metrics::Metrics::new(store.writer().stats());
        let shared = Arc::new(Shared {
            metrics,
            files,
            limiter: handlers::rate::Limiter::new(&config.limits),
            storage: Arc::new(store.clone()),
            store,
            hub,
            bus,
            config: reload::LiveConfig::new(config),
            connections: AtomicU64::new(0),
            handshaking: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            started: Instant::now(),
            presence,
            hash_pool: login::HashPool::start()
                .map_err(|e| ServerError::Task(format!("cannot start the argon2 threads: {e}")))?,
            logins: login::Throttle::default(),
            search,
            backups: backup::serve::Backups::default(),
            audit_key,
        });
        Ok(Server {
            endpoint,
            shared,
            fingerprint: tls.fingerprint,
            ca_path: tls.ca_path,
            metrics_listener,
            presence_feed,
        })
    }

    /// A handle that applies configuration reloads to this server; the
    /// binary calls it on SIGHUP (see [`reload`]).
    pub fn reloader(&self) -> reload::Reloader {
        reload::Reloader {
            shared: self.shared.clone(),
        }
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint
            .local_addr()
            .unwrap_or(self.shared.config.current().listen)
    }

    /// The bound address of the metrics and health listener
    /// (`--metrics-listen`), or `None` when it is off.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// SHA-256 fingerprint of the server certificate.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The CA certificate clients can trust, when chatd generated one.
    pub fn ca_path(&self) -> Option<&std::path::Path> {
        self.ca_path.as_deref()
    }

    /// Serves until `shutdown` completes, then stops accepting, refuses
    /// new writes with `Unavailable`, closes every connection with the
    /// reason "server shutting down", lets the storage writer commit the
    /// jobs already queued, and returns. A client whose write was refused
    /// or never answered retries it after reconnecting, with the same
    /// idempotency key (test:
    /// `e2e::faults::sends_during_shutdown_are_never_answered_internal`).
    ///
    /// # Errors
    /// None today; the `Result` leaves room for fatal runtime errors.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let collector = tokio::spawn(files::collect_garbage_forever(self.shared.clone()));
        let accept = {
            let endpoint = self.endpoint.clone();
            let shared = self.shared.clone();
            async move {
                while let Some(incoming) = endpoint.accept().await {
                    admit(&shared, incoming);
                }
            }
        };
        let purge = tokio::spawn(retention::purge_forever(self.shared.clone()));
        let sweep = tokio::spawn(store::sweep::run(
            self.shared.store.clone(),
            self.shared.config.current().sweep,
        ));
        let heads = tokio::spawn(handlers::audit_log::sign_heads_forever(self.shared.clone()));
        let presence = self
            .presence_feed
            .take()
            .map(|feed| tokio::spawn(presence::follow_bus(self.shared.clone(), feed)));
        let ops = self
            .metrics_listener
            .take()
            .map(|l| tokio::spawn(ops_http::serve(l, self.shared.clone())));
        tokio::select! {
            _ = accept => {}
            _ = shutdown => {}
        }
        tracing::info!("shutting down: no new connections, no new writes");
        self.endpoint.set_server_config(None);
        collector.abort();
        purge.abort();
        sweep.abort();
        heads.abort();
        if let Some(presence) = presence {
            presence.abort();
        }
        if let Some(bus) = &self.shared.bus {
            // Other nodes take this node's users offline now, not after
            // their entries lapse.
            self.shared.presence.leave();
            if !bus.flush(Duration::from_secs(1)).await {
                tracing::warn!("could not tell the bus this node is stopping");
            }
        }
        if let Some(ops) = ops {
            ops.abort();
        }
        self.shared.store.writer().close();
        self.endpoint
            .close(codes::CLOSE_SHUTDOWN.into(), b"server shutting down");
        self.shared.store.shutdown().await;
        if let Some(search) = &self.shared.search {
            search.shutdown().await;
        }
        tracing::info!("connections closed; storage writer drained and stopped");
        let _ = tokio::time::timeout(
            Duration::from_millis(SHUTDOWN_GRACE_MS),
            self.endpoint.wait_idle(),
        )
        .await;
        tracing::info!("stopped");
        Ok(())
    }
}
