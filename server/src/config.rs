//! Server configuration: command-line flags, environment variables and a
//! TOML file, merged into one resolved [`Config`].
//!
//! Precedence is **file < environment < flag**: a flag beats its environment
//! variable (clap's `env` feature does that part), and both beat the file
//! named by `--config`. Every setting has a default, so chatd starts with no
//! configuration at all.
//!
//! Raw inputs ([`Args`], [`FileConfig`]) are kept apart from the resolved
//! [`Config`] so the merge ([`Config::merge`]) is a pure function that tests
//! call directly, without touching the process environment.

use chat_protocol::frame::MAX_FRAME_LEN;
use clap::Parser;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Resolved server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// UDP address the QUIC endpoint binds. Default `127.0.0.1:4433`.
    pub listen: SocketAddr,
    /// Directory of the database (`data_dir/chat.redb`) and of blobs
    /// (`data_dir/blobs`). Default `./data`.
    pub data_dir: PathBuf,
    /// Where the tables live: `None` (the default) for the redb file
    /// `data_dir/chat.redb`; `Some(url)` (`postgres://…`) for a PostgreSQL
    /// database that several nodes share. The search index, certificates,
    /// blobs and other node-local files stay under `data_dir` either way.
    pub store: Option<String>,
    /// Directory of the generated CA and server certificate (see
    /// [`crate::tls`]). Default `./certs`.
    pub cert_dir: PathBuf,
    /// Directory of the file blobs, when not `data_dir/files/blobs`: a
    /// directory every node reaches (shared storage) when several nodes
    /// serve one PostgreSQL database. It must be on the same filesystem as
    /// `data_dir` (finished uploads are renamed into it). Default `None`.
    pub blob_dir: Option<PathBuf>,
    /// Explicit server certificate chain (PEM). Set together with `key`;
    /// when unset, chatd uses or generates the pair in `cert_dir`.
    pub cert: Option<PathBuf>,
    /// Explicit private key (PEM) for `cert`.
    pub key: Option<PathBuf>,
    /// Extra DNS names or IP addresses for the generated certificate,
    /// besides `localhost`, `127.0.0.1` and `::1`. Empty by default.
    pub hostnames: Vec<String>,
    /// TCP address of the HTTP listener for `/metrics`, `/healthz` and
    /// `/readyz` (see [`crate::ops_http`]). `None` (the default): no
    /// listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Resource limits.
    pub limits: LimitsConfig,
    /// Words that make the server refuse a message, matched as whole words
    /// after Unicode normalisation (see [`crate::content`]). Empty by default.
    pub banned_words: Vec<String>,
    /// Deadlines for clients that connect and then stall. Not settable
    /// from flags or files: the defaults are the documented bounds
    /// (README, "Resource bounds"); tests shorten them.
    pub deadlines: Deadlines,
    /// Pacing of the idempotency sweep. Not settable from flags or files;
    /// tests shorten it.
    pub sweep: crate::store::sweep::Sweep,
    /// Test hook: a switch that makes the database's writes fail as on a
    /// full disk (`store::fault`). Not settable from flags or files;
    /// `None` in service.
    pub disk_fault: Option<crate::store::fault::DiskFault>,
    /// Test hook: how long each room subscribe stalls (blocking its thread)
    /// between finding its room's slot in the fan-out hub and joining it,
    /// to widen the window in which it races the room's last unsubscribe
    /// (see `fanout::Hub::subscribe`). Not settable from flags or files;
    /// `None` in service.
    pub fanout_join_delay: Option<std::time::Duration>,
    /// Keep the full-text search index (`data_dir/search`). Default on;
    /// off, `Search` is refused and nothing is indexed.
    pub search: bool,
    /// File limits and collection (`[files]` in the file; see
    /// [`crate::files::FilesConfig`]).
    pub files: crate::files::FilesConfig,
    /// How often chatd signs and stores an audit tree head when the log
    /// has grown, in ms. Default 60,000. Not settable from flags or
    /// files; tests shorten it.
    pub audit_head_interval_ms: u64,
    /// Pacing of the retention purge job (`[retention]` in the file; see
    /// [`crate::retention::RetentionConfig`]).
    pub retention: crate::retention::RetentionConfig,
    /// Test hook: an offset added to the purge job's clock
    /// ([`crate::retention::RetentionClock`]). Not settable from flags or
    /// files; `None` in service.
    pub retention_clock: Option<crate::retention::RetentionClock>,
    /// nats-server URL of the cross-node bus (`nats://host:port`), or
    /// `None` (the default): one node, no bus. See [`crate::bus`]. The
    /// `chatd` binary refuses it without a PostgreSQL `store`
    /// ([`Config::check_for_service`]).
    pub bus: Option<String>,
    /// This node's name: its NATS connection name and the start of its id
    /// on the bus. Default this host's name, else `chatd`.
    pub node_name: String,
    /// How often this node sends its presence heartbeat on the bus and
    /// drops other nodes' lapsed entries, in ms (`crate::presence`).
    /// Default [`PRESENCE_HEARTBEAT_MS`]. Not settable from flags or files;
    /// tests shorten it.
    pub presence_heartbeat_ms: u64,
    /// Test hook: with a bus, this node's own committed `Effect::Account`
    /// effects are published but not handed to its local hub, as if
    /// another node had made the change in shared storage. Not settable
    /// from flags or files; `false` in service.
    pub account_effects_bus_only: bool,
}

/// Default of [`Config::presence_heartbeat_ms`]: 5 s, so a node that dies
/// is taken as gone (its users offline) within about 15 s.
pub const PRESENCE_HEARTBEAT_MS: u64 = 5_000;

/// This host's name (`/proc/sys/kernel/hostname`), else `chatd`: the
/// default [`Config::node_name`].
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "chatd".to_owned())
}

/// Default of [`Deadlines::login_ms`]: 30 s, time enough to type a
/// password at a prompt after connecting.
pub const LOGIN_TIMEOUT_MS: u64 = 30_000;

/// Default of [`Deadlines::frame_body_ms`]: 10 s. 1 MiB in 10 s is
/// 100 KB/s, far below any link a client uses; a peer slower than that is
/// holding memory on purpose (a slow-loris).
pub const BODY_TIMEOUT_MS: u64 = 10_000;

/// How long the server waits for a stalling client, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// From `Welcome` (or a logout) to a login, before the connection is
    /// closed with `CLOSE_HANDSHAKE`. Default [`LOGIN_TIMEOUT_MS`].
    pub login_ms: u64,
    /// From a frame's length prefix to the end of its body, before the
    /// connection is closed with `CLOSE_PROTOCOL`. Default
    /// [`BODY_TIMEOUT_MS`].
    pub frame_body_ms: u64,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            login_ms: LOGIN_TIMEOUT_MS,
            frame_body_ms: BODY_TIMEOUT_MS,
        }
    }
}

/// Resource limits the server enforces. Every value must be positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Longest message text, in bytes of UTF-8. Default 16384 (16 KiB);
    /// at most [`MAX_MESSAGE_BYTES_CEILING`].
    pub max_message_bytes: u32,
    /// Largest history page, in events. Default 500.
    pub max_history_page: u32,
    /// Most rooms one user may be a member of. Default 1000.
    pub max_rooms_per_user: u32,
    /// Sustained sends per user, in messages per second (token-bucket
    /// refill rate). Default 20.
    pub send_rate_per_sec: u32,
    /// Sends allowed in a burst, in messages (token-bucket size). Default 50.
    pub send_burst: u32,
    /// Most simultaneous QUIC connections. Default 20000.
    pub max_connections: u32,
    /// Most server-opened uni streams per connection, that is followed rooms
    /// plus the user stream. Default 512.
    pub max_streams_per_connection: u32,
    /// Idle timeout of a connection, in ms. Default 30000.
    pub idle_timeout_ms: u64,
    /// Interval of server keep-alive packets, in ms; below
    /// `idle_timeout_ms`. Default 10000.
    pub keep_alive_ms: u64,
    /// Events buffered per room subscriber before its stream is reset as
    /// lagged (`codes::STREAM_LAGGED`). Default 4096.
    pub subscriber_queue: usize,
    /// Sustained writes other than sends per user (edits, deletions,
    /// reactions, joins, leaves, moderation, contacts; see
    /// `handlers::rate::RateClass::Write`), per second. Default 10.
    pub write_rate_per_sec: u32,
    /// Burst of such writes per user. Default 50.
    pub write_burst: u32,
    /// Sustained typing notices, read and delivery receipts and away
    /// changes per user, per second. Default 10.
    pub signal_rate_per_sec: u32,
    /// Burst of such signals per user. Default 100 (a client marks every
    /// room delivered after a reconnect).
    pub signal_burst: u32,
    /// Group rooms one user may create per 24 hours (a bucket of this many
    /// that refills evenly over a day); rooms created count, whether or
    /// not the user still belongs to them. Default 1000.
    pub room_creations_per_day: u32,
    /// Most reactions (one user with one emoji counts one) on one message.
    /// Default 4096: with 32-byte emoji that is under 256 KiB, so any one
    /// message fits in a page (`chat_protocol::MAX_PAGE_BYTES`).
    pub max_reactions_per_message: u32,
}

/// Largest accepted `max_message_bytes`: a quarter of
/// [`chat_protocol::frame::MAX_FRAME_LEN`], so one message plus its request
/// or event envelope always fits in a frame.
pub const MAX_MESSAGE_BYTES_CEILING: u32 = (MAX_FRAME_LEN / 4) as u32;

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            max_message_bytes: 16 * 1024,
            max_history_page: 500,
            max_rooms_per_user: 1000,
            send_rate_per_sec: 20,
            send_burst: 50,
            max_connections: 20_000,
            max_streams_per_connection: 512,
            idle_timeout_ms: 30_000,
            keep_alive_ms: 10_000,
            subscriber_queue: 4096,
            write_rate_per_sec: 10,
            write_burst: 50,
            signal_rate_per_sec: 10,
            signal_burst: 100,
            room_creations_per_day: 1000,
            max_reactions_per_message: 4096,
        }
    }
}

impl LimitsConfig {
    /// The limits announced to clients in `Welcome` and `ServerInfo`.
    pub fn to_wire(&self) -> chat_protocol::Limits {
        chat_protocol::Limits {
            max_message_bytes: self.max_message_bytes,
            max_history_page: self.max_history_page,
            send_rate_per_sec: self.send_rate_per_sec,
            send_burst: self.send_burst,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 4433)),
            data_dir: PathBuf::from("./data"),
            store: None,
            cert_dir: PathBuf::from("./certs"),
            blob_dir: None,
            cert: None,
            key: None,
            hostnames: Vec::new(),
            metrics_listen: None,
            limits: LimitsConfig::default(),
            banned_words: Vec::new(),
            deadlines: Deadlines::default(),
            sweep: crate::store::sweep::Sweep::default(),
            disk_fault: None,
            fanout_join_delay: None,
            search: true,
            files: crate::files::FilesConfig::default(),
            audit_head_interval_ms: crate::handlers::audit_log::HEAD_INTERVAL_MS,
            retention: crate::retention::RetentionConfig::default(),
            retention_clock: None,
            bus: None,
            node_name: default_node_name(),
            presence_heartbeat_ms: PRESENCE_HEARTBEAT_MS,
            account_effects_bus_only: false,
        }
    }
}

/// Command-line flags of `chatd`. Each flag also reads an environment
/// variable; an unset flag is `None` so the merge can tell it from a default.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "chatd",
    version,
    about = "The chat server: QUIC listener, redb storage, fan-out.",
    long_about = "The chat server: QUIC listener, redb storage, fan-out.\n\n\
        Settings come from a TOML file (--config), environment variables and \
        flags; a flag beats its environment variable, which beats the file. \
        Log verbosity is set with RUST_LOG (default: info)."
)]
pub struct Args {
    /// UDP address and port to listen on [default: 127.0.0.1:4433]
    #[arg(long, env = "CHATD_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// Directory for the database (chat.redb) and blobs [default: ./data]
    #[arg(long = "data", env = "CHATD_DATA", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// PostgreSQL database for the tables, shared by several nodes (postgres://user:password@host:port/database); node-local files stay under --data [default: redb in DATA/chat.redb]
    #[arg(long, env = "CHATD_STORE", value_name = "URL")]
    pub store: Option<String>,

    /// Directory for the generated CA and server certificate [default: ./certs]
    #[arg(long, env = "CHATD_CERT_DIR", value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Directory for file blobs, shared by every node of one database
    /// [default: DATA/files/blobs]; same filesystem as --data
    #[arg(long = "blobs", env = "CHATD_BLOBS", value_name = "DIR")]
    pub blob_dir: Option<PathBuf>,

    /// Server certificate chain (PEM) to use instead of a generated one; needs --key [default: none]
    #[arg(long, env = "CHATD_CERT", value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of the --cert chain [default: none]
    #[arg(long, env = "CHATD_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Extra DNS name or IP address for the generated certificate, besides localhost, 127.0.0.1 and ::1; repeat the flag or separate with commas [default: none]
    #[arg(
        long = "hostname",
        env = "CHATD_HOSTNAME",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub hostnames: Vec<String>,

    /// TOML configuration file; may set every setting, including a limits table and banned_words [default: none]
    #[arg(long, env = "CHATD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Keep the full-text search index in DATA/search (true or false) [default: true]
    #[arg(long, env = "CHATD_SEARCH", value_name = "BOOL")]
    pub search: Option<bool>,
    /// TCP address for the HTTP metrics and health listener (GET /metrics, /healthz, /readyz); off unless set [default: none]
    #[arg(long, env = "CHATD_METRICS_LISTEN", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,

    /// nats-server URL for cross-node fan-out, e.g. nats://127.0.0.1:4222; needs the PostgreSQL store [default: none]
    #[arg(long, env = "CHATD_BUS", value_name = "URL")]
    pub bus: Option<String>,

    /// This node's name on the bus (its NATS connection name) [default: this host's name, else chatd]
    #[arg(long, env = "CHATD_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,

    /// Resource limits.
    #[command(flatten)]
    pub limits: LimitArgs,

    /// A maintenance command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `chatd` subcommands: maintenance run instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Restore a backup taken with `chatctl server backup` into a new data directory, then exit.
    ///
    /// The archive is checked whole (manifest, sizes, hashes, database integrity) before
    /// anything appears at DIR; DIR must not exist or be empty. Start chatd with
    /// `--data DIR` afterwards; the search index is rebuilt at that start.
    Restore {
        /// The backup archive.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The data directory to create (must not exist, or be empty).
        #[arg(long = "data", value_name = "DIR")]
        data_dir: PathBuf,
    },
}

/// The `[limits]` flags; each also reads a `CHATD_…` environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Longest message text, in bytes of UTF-8 [default: 16384]
    #[arg(long, env = "CHATD_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<u32>,
    /// Largest history page, in events [default: 500]
    #[arg(long, env = "CHATD_MAX_HISTORY_PAGE", value_name = "EVENTS")]
    pub max_history_page: Option<u32>,
    /// Most rooms one user may belong to [default: 1000]
    #[arg(long, env = "CHATD_MAX_ROOMS_PER_USER", value_name = "N")]
    pub max_rooms_per_user: Option<u32>,
    /// Sustained sends per user, in messages per second [default: 20]
    #[arg(long, env = "CHATD_SEND_RATE_PER_SEC", value_name = "N")]
    pub send_rate_per_sec: Option<u32>,
    /// Burst of sends per user, in messages [default: 50]
    #[arg(long, env = "CHATD_SEND_BURST", value_name = "N")]
    pub send_burst: Option<u32>,
    /// Most simultaneous connections [default: 20000]
    #[arg(long, env = "CHATD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<u32>,
    /// Most server-opened streams per connection (followed rooms + 1) [default: 512]
    #[arg(long, env = "CHATD_MAX_STREAMS_PER_CONNECTION", value_name = "N")]
    pub max_streams_per_connection: Option<u32>,
    /// Connection idle timeout, in ms [default: 30000]
    #[arg(long, env = "CHATD_IDLE_TIMEOUT_MS", value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Keep-alive interval, in ms; below the idle timeout [default: 10000]
    #[arg(long, env = "CHATD_KEEP_ALIVE_MS", value_name = "MS")]
    pub keep_alive_ms: Option<u64>,
    /// Events buffered per room subscriber before its stream is reset as lagged [default: 4096]
    #[arg(long, env = "CHATD_SUBSCRIBER_QUEUE", value_name = "EVENTS")]
    pub subscriber_queue: Option<usize>,
    /// Sustained writes other than sends per user (edits, reactions, joins, ...), per second [default: 10]
    #[arg(long, env = "CHATD_WRITE_RATE_PER_SEC", value_name = "N")]
    pub write_rate_per_sec: Option<u32>,
    /// Burst of writes other than sends per user [default: 50]
    #[arg(long, env = "CHATD_WRITE_BURST", value_name = "N")]
    pub write_burst: Option<u32>,
    /// Sustained typing notices and receipts per user, per second [default: 10]
    #[arg(long, env = "CHATD_SIGNAL_RATE_PER_SEC", value_name = "N")]
    pub signal_rate_per_sec: Option<u32>,
    /// Burst of typing notices and receipts per user [default: 100]
    #[arg(long, env = "CHATD_SIGNAL_BURST", value_name = "N")]
    pub signal_burst: Option<u32>,
    /// Group rooms one user may create per 24 hours, whether or not they stay [default: 1000]
    #[arg(long, env = "CHATD_ROOM_CREATIONS_PER_DAY", value_name = "N")]
    pub room_creations_per_day: Option<u32>,
    /// Most reactions on one message [default: 4096]
    #[arg(long, env = "CHATD_MAX_REACTIONS_PER_MESSAGE", value_name = "N")]
    pub max_reactions_per_message: Option<u32>,
}

/// The TOML configuration file. Every key is optional; an unknown key is an
/// error. Relative paths are resolved against the file's directory.
///
/// ```toml
/// listen = "0.0.0.0:4433"
/// data_dir = "/var/lib/chatd"
/// cert_dir = "/var/lib/chatd/certs"
/// # cert = "/etc/chatd/fullchain.pem"
/// # key = "/etc/chatd/key.pem"
/// hostnames = ["chat.example.org", "10.0.0.5"]
/// banned_words = ["spoiler"]
/// metrics_listen = "127.0.0.1:9090"
///
/// [limits]
/// max_message_bytes = 16384
/// send_rate_per_sec = 20
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Config::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Config::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`Config::store`].
    pub store: Option<String>,
    /// See [`Config::cert_dir`].
    pub cert_dir: Option<PathBuf>,
    /// See [`Config::blob_dir`].
    pub blob_dir: Option<PathBuf>,
    /// See [`Config::cert`].
    pub cert: Option<PathBuf>,
    /// See [`Config::key`].
    pub key: Option<PathBuf>,
    /// See [`Config::hostnames`].
    pub hostnames: Option<Vec<String>>,
    /// See [`Config::banned_words`].
    pub banned_words: Option<Vec<String>>,
    /// See [`Config::search`].
    pub search: Option<bool>,
    /// See [`Config::metrics_listen`].
    pub metrics_listen: Option<SocketAddr>,
    /// See [`Config::bus`].
    pub bus: Option<String>,
    /// See [`Config::node_name`].
    pub node_name: Option<String>,
    /// The `[limits]` table.
    #[serde(default)]
    pub limits: FileLimits,
    /// The `[files]` table.
    #[serde(default)]
    pub files: crate::files::FilesConfig,
    /// The `[retention]` table.
    #[serde(default)]
    pub retention: crate::retention::RetentionConfig,
}

/// The `[limits]` table of [`FileConfig`]; fields as in [`LimitsConfig`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// See [`LimitsConfig::max_message_bytes`].
    pub max_message_bytes: Option<u32>,
    /// See [`LimitsConfig::max_history_page`].
    pub max_history_page: Option<u32>,
    /// See [`LimitsConfig::max_rooms_per_user`].
    pub max_rooms_per_user: Option<u32>,
    /// See [`LimitsConfig::send_rate_per_sec`].
    pub send_rate_per_sec: Option<u32>,
    /// See [`LimitsConfig::send_burst`].
    pub send_burst: Option<u32>,
    /// See [`LimitsConfig::max_connections`].
    pub max_connections: Option<u32>,
    /// See [`LimitsConfig::max_streams_per_connection`].
    pub max_streams_per_connection: Option<u32>,
    /// See [`LimitsConfig::idle_timeout_ms`].
    pub idle_timeout_ms: Option<u64>,
    /// See [`LimitsConfig::keep_alive_ms`].
    pub keep_alive_ms: Option<u64>,
    /// See [`LimitsConfig::subscriber_queue`].
    pub subscriber_queue: Option<usize>,
    /// See [`LimitsConfig::write_rate_per_sec`].
    pub write_rate_per_sec: Option<u32>,
    /// See [`LimitsConfig::write_burst`].
    pub write_burst: Option<u32>,
    /// See [`LimitsConfig::signal_rate_per_sec`].
    pub signal_rate_per_sec: Option<u32>,
    /// See [`LimitsConfig::signal_burst`].
    pub signal_burst: Option<u32>,
    /// See [`LimitsConfig::room_creations_per_day`].
    pub room_creations_per_day: Option<u32>,
    /// See [`LimitsConfig::max_reactions_per_message`].
    pub max_reactions_per_message: Option<u32>,
}

/// Why the configuration could not be resolved. Each message names the
/// setting and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--store` / `CHATD_STORE` / `store` is not a PostgreSQL URL.
    #[error(
        "store {shown:?} is not a PostgreSQL URL; set --store / CHATD_STORE / `store` to \
         postgres://user:password@host:port/database, or leave it unset to keep the tables \
         in the redb file under --data"
    )]
    Store {
        /// The setting, without its password.
        shown: String,
    },
    /// A `[retention]` setting is out of range (the message names it).
    #[error("{message}")]
    Retention {
        /// What is wrong and the allowed range.
        message: String,
    },
    /// The file named by `--config` could not be read.
    #[error(
        "cannot read config file {}: {cause}; check --config / CHATD_CONFIG",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not valid TOML, has a value of the wrong type, or has an
    /// unknown key (the message names it).
    #[error("config file {} is invalid: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's description, with the key and line.
        message: String,
    },
    /// A certificate was configured without its private key.
    #[error(
        "a server certificate ({}) is set but no private key; set --key / CHATD_KEY / `key`, \
         or unset the certificate to use the generated one",
        cert.display()
    )]
    CertWithoutKey {
        /// The certificate path.
        cert: PathBuf,
    },
    /// A private key was configured without its certificate.
    #[error(
        "a private key ({}) is set but no server certificate; set --cert / CHATD_CERT / `cert`, \
         or unset the key to use the generated one",
        key.display()
    )]
    KeyWithoutCert {
        /// The key path.
        key: PathBuf,
    },
    /// The bus URL is not a `nats://` (or `tls://`) URL.
    #[error(
        "bus URL {url:?} is not a NATS URL; set --bus / CHATD_BUS / `bus` to \
         nats://HOST:PORT (nats-server's client port, 4222 by default)"
    )]
    BadBusUrl {
        /// The URL given.
        url: String,
    },
    /// The node name is empty.
    #[error("node name is empty; set --node-name / CHATD_NODE_NAME / `node_name` to a name")]
    EmptyNodeName,
    /// `--bus` with a store only one node can own (redb).
    #[error("{}", BUS_NEEDS_POSTGRES)]
    BusNeedsPostgres,
    /// A limit is zero.
    #[error(
        "limit {name} is 0; set limits.{name} (or --{flag} / CHATD_{env}) to a positive number \
         (default {default})",
        flag = name.replace('_', "-"),
        env = name.to_uppercase()
    )]
    ZeroLimit {
        /// The limit's name, as in the `[limits]` table.
        name: &'static str,
        /// Its default value.
        default: u64,
    },
    /// `max_message_bytes` is above [`MAX_MESSAGE_BYTES_CEILING`].
    #[error(
        "limit max_message_bytes is {value}, above the {max}-byte ceiling set by the frame \
         size; lower limits.max_message_bytes"
    )]
    MessageTooLarge {
        /// The configured value, in bytes.
        value: u32,
        /// [`MAX_MESSAGE_BYTES_CEILING`].
        max: u32,
    },
    /// The keep-alive interval is not below the idle timeout, so idle
    /// connections would time out between keep-alives.
    #[error(
        "limit keep_alive_ms ({keep_alive_ms}) must be below idle_timeout_ms ({idle_timeout_ms}); \
         lower keep_alive_ms or raise idle_timeout_ms"
    )]
    KeepAliveTooLong {
        /// The keep-alive interval, in ms.
        keep_alive_ms: u64,
        /// The idle timeout, in ms.
        idle_timeout_ms: u64,
    },
}

impl FileConfig {
    /// Parses the TOML text of a file at `path`, resolving relative paths in
    /// it against `path`'s directory.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for invalid TOML, wrong types or unknown keys.
    pub fn from_toml(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        let mut file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut file.data_dir,
            &mut file.cert_dir,
            &mut file.blob_dir,
            &mut file.cert,
            &mut file.key,
        ]
        .into_iter()
        .flatten()
        {
            *p = base.join(&*p);
        }
        Ok(file)
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if it cannot be read; as [`FileConfig::from_toml`].
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        FileConfig::from_toml(&text, path)
    }
}

impl Config {
    /// Resolves the configuration: reads the file named by `args.config`
    /// (if any), then merges it under `args` (flags and environment).
    ///
    /// # Errors
    /// As [`FileConfig::read`] and [`Config::merge`].
    pub fn load(args: Args) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => Some(FileConfig::read(path)?),
            None => None,
        };
        Config::merge(&args, file.as_ref())
    }

    /// Merges defaults < `file` < `args` and validates the result. Pure: it
    /// reads neither the environment nor the disk.
    ///
    /// # Errors
    /// [`ConfigError::CertWithoutKey`] / [`ConfigError::KeyWithoutCert`] for
    /// half a pair, [`ConfigError::ZeroLimit`] for a zero limit,
    /// [`ConfigError::MessageTooLarge`] and [`ConfigError::KeepAliveTooLong`],
    /// [`ConfigError::Retention`] for a `[retention]` value out of range.
    pub fn merge(args: &Args, file: Option<&FileConfig>) -> Result<Config, ConfigError> {
        let empty = FileConfig::default();
        let file = file.unwrap_or(&empty);
        let d = Config::default();
        let (a, f, dl) = (&args.limits, &file.limits, &d.limits);
        let limits = LimitsConfig {
            max_message_bytes: pick(
                a.max_message_bytes,
                f.max_message_bytes,
                dl.max_message_bytes,
            ),
            max_history_page: pick(a.max_history_page, f.max_history_page, dl.max_history_page),
            max_rooms_per_user: pick(
                a.max_rooms_per_user,
                f.max_rooms_per_user,
                dl.max_rooms_per_user,
            ),
            send_rate_per_sec: pick(
                a.send_rate_per_sec,
                f.send_rate_per_sec,
                dl.send_rate_per_sec,
            ),
            send_burst: pick(a.send_burst, f.send_burst, dl.send_burst),
            max_connections: pick(a.max_connections, f.max_connections, dl.max_connections),
            max_streams_per_connection: pick(
                a.max_streams_per_connection,
                f.max_streams_per_connection,
                dl.max_streams_per_connection,
            ),
            idle_timeout_ms: pick(a.idle_timeout_ms, f.idle_timeout_ms, dl.idle_timeout_ms),
            keep_alive_ms: pick(a.keep_alive_ms, f.keep_alive_ms, dl.keep_alive_ms),
            subscriber_queue: pick(a.subscriber_queue, f.subscriber_queue, dl.subscriber_queue),
            write_rate_per_sec: pick(
                a.write_rate_per_sec,
                f.write_rate_per_sec,
                dl.write_rate_per_sec,
            ),
            write_burst: pick(a.write_burst, f.write_burst, dl.write_burst),
            signal_rate_per_sec: pick(
                a.signal_rate_per_sec,
                f.signal_rate_per_sec,
                dl.signal_rate_per_sec,
            ),
            signal_burst: pick(a.signal_burst, f.signal_burst, dl.signal_burst),
            room_creations_per_day: pick(
                a.room_creations_per_day,
                f.room_creations_per_day,
                dl.room_creations_per_day,
            ),
            max_reactions_per_message: pick(
                a.max_reactions_per_message,
                f.max_reactions_per_message,
                dl.max_reactions_per_message,
            ),
        };
        let hostnames = if args.hostnames.is_empty() {
            file.hostnames.clone().unwrap_or_default()
        } else {
            args.hostnames.clone()
        };
        let config = Config {
            listen: pick(args.listen, file.listen, d.listen),
            data_dir: pick(args.data_dir.clone(), file.data_dir.clone(), d.data_dir),
            store: args.store.clone().or_else(|| file.store.clone()),
            cert_dir: pick(args.cert_dir.clone(), file.cert_dir.clone(), d.cert_dir),
            blob_dir: args.blob_dir.clone().or_else(|| file.blob_dir.clone()),
            cert: args.cert.clone().or_else(|| file.cert.clone()),
            key: args.key.clone().or_else(|| file.key.clone()),
            hostnames: hostnames
                .iter()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect(),
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            limits,
            banned_words: file.banned_words.clone().unwrap_or_default(),
            deadlines: Deadlines::default(),
            sweep: crate::store::sweep::Sweep::default(),
            disk_fault: None,
            fanout_join_delay: None,
            search: pick(args.search, file.search, d.search),
            files: file.files.clone(),
            audit_head_interval_ms: crate::handlers::audit_log::HEAD_INTERVAL_MS,
            retention: file.retention,
            retention_clock: None,
            bus: args
                .bus
                .clone()
                .or_else(|| file.bus.clone())
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty()),
            node_name: pick(args.node_name.clone(), file.node_name.clone(), d.node_name)
                .trim()
                .to_owned(),
            presence_heartbeat_ms: PRESENCE_HEARTBEAT_MS,
            account_effects_bus_only: false,
        };
        config.validate()?;
        Ok(config)
    }

    /// A configuration for tests: listens on `127.0.0.1:0` (any free port),
    /// keeps data in `data_dir` and certificates in `data_dir/certs`, and
    /// uses default limits.
    pub fn for_tests(data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            data_dir: data_dir.to_path_buf(),
            cert_dir: data_dir.join("certs"),
            ..Config::default()
        }
    }

    /// Checks the rules [`Config::merge`] documents.
    ///
    /// # Errors
    /// As [`Config::merge`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.store
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Store {
                shown: crate::store::kv::pg::redact(url),
            });
        }
        match (&self.cert, &self.key) {
            (Some(cert), None) => return Err(ConfigError::CertWithoutKey { cert: cert.clone() }),
            (None, Some(key)) => return Err(ConfigError::KeyWithoutCert { key: key.clone() }),
            _ => {}
        }
        let l = &self.limits;
        let d = LimitsConfig::default();
        let counts: [(&'static str, u64, u64); 16] = [
            (
                "max_message_bytes",
                l.max_message_bytes.into(),
                d.max_message_bytes.into(),
            ),
            (
                "max_history_page",
                l.max_history_page.into(),
                d.max_history_page.into(),
            ),
            (
                "max_rooms_per_user",
                l.max_rooms_per_user.into(),
                d.max_rooms_per_user.into(),
            ),
            (
                "send_rate_per_sec",
                l.send_rate_per_sec.into(),
                d.send_rate_per_sec.into(),
            ),
            ("send_burst", l.send_burst.into(), d.send_burst.into()),
            (
                "max_connections",
                l.max_connections.into(),
                d.max_connections.into(),
            ),
            (
                "max_streams_per_connection",
                l.max_streams_per_connection.into(),
                d.max_streams_per_connection.into(),
            ),
            ("idle_timeout_ms", l.idle_timeout_ms, d.idle_timeout_ms),
            ("keep_alive_ms", l.keep_alive_ms, d.keep_alive_ms),
            (
                "subscriber_queue",
                l.subscriber_queue as u64,
                d.subscriber_queue as u64,
            ),
            (
                "write_rate_per_sec",
                l.write_rate_per_sec.into(),
                d.write_rate_per_sec.into(),
            ),
            ("write_burst", l.write_burst.into(), d.write_burst.into()),
            (
                "signal_rate_per_sec",
                l.signal_rate_per_sec.into(),
                d.signal_rate_per_sec.into(),
            ),
            ("signal_burst", l.signal_burst.into(), d.signal_burst.into()),
            (
                "room_creations_per_day",
                l.room_creations_per_day.into(),
                d.room_creations_per_day.into(),
            ),
            (
                "max_reactions_per_message",
                l.max_reactions_per_message.into(),
                d.max_reactions_per_message.into(),
            ),
        ];
        if let Some(&(name, _, default)) = counts.iter().find(|(_, v, _)| *v == 0) {
            return Err(ConfigError::ZeroLimit { name, default });
        }
        if l.max_message_bytes > MAX_MESSAGE_BYTES_CEILING {
            return Err(ConfigError::MessageTooLarge {
                value: l.max_message_bytes,
                max: MAX_MESSAGE_BYTES_CEILING,
            });
        }
        self.retention
            .check()
            .map_err(|message| ConfigError::Retention { message })?;
        if l.keep_alive_ms >= l.idle_timeout_ms {
            return Err(ConfigError::KeepAliveTooLong {
                keep_alive_ms: l.keep_alive_ms,
                idle_timeout_ms: l.idle_timeout_ms,
            });
        }
        if let Some(url) = &self.bus
            && !(url.starts_with("nats://") || url.starts_with("tls://"))
        {
            return Err(ConfigError::BadBusUrl { url: url.clone() });
        }
        if self.node_name.is_empty() {
            return Err(ConfigError::EmptyNodeName);
        }
        Ok(())
    }

    /// The rules the `chatd` binary adds to [`Config::validate`] before it
    /// serves: `--bus` needs a store every node shares (`store`, the
    /// PostgreSQL database), since redb is owned by one node. In-process
    /// tests skip this to run a bus over redb.
    ///
    /// # Errors
    /// [`ConfigError::BusNeedsPostgres`] when `bus` is set without `store`.
    pub fn check_for_service(&self) -> Result<(), ConfigError> {
        if self.bus.is_some() && self.store.is_none() {
            return Err(ConfigError::BusNeedsPostgres);
        }
        Ok(())
    }
}

/// Why `chatd --bus` is refused with redb: each node would own its own
/// data, so nodes would fan out events that the others cannot read.
pub const BUS_NEEDS_POSTGRES: &str = "--bus needs --store postgres://… (with the redb store only \
     one node owns the data); set --store / CHATD_STORE / `store` to the PostgreSQL database \
     every node shares";

/// The flag (or its environment variable) if set, else the file's value,
/// else the default.
fn pick<T>(arg: Option<T>, file: Option<T>, default: T) -> T {
    arg.or(file).unwrap_or(default)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Parses flags only. Clap also reads `CHATD_*` variables, so these
    /// tests assert only on settings their flags or files set.
    fn flags(argv: &[&str]) -> Args {
        let mut all = vec!["chatd"];
        all.extend_from_slice(argv);
        Args::try_parse_from(all).unwrap()
    }

    fn file(text: &str) -> FileConfig {
        FileConfig::from_toml(text, Path::new("/etc/chatd/chatd.toml")).unwrap()
    }

    #[test]
    fn defaults_need_no_input() {
        let config = Config::merge(&Args::default(), None).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:4433");
        assert_eq!(config.limits.max_message_bytes, 16384);
    }

    #[test]
    fn file_beats_defaults_and_flags_beat_file() {
        let f = file(
            r#"
            listen = "0.0.0.0:5000"
            data_dir = "/srv/chat"
            cert_dir = "tls"
            hostnames = ["chat.example.org"]
            banned_words = ["spoiler"]
            [limits]
            max_message_bytes = 100
            send_burst = 7
            "#,
        );
        let from_file = Config::merge(&Args::default(), Some(&f)).unwrap();
        assert_eq!(from_file.listen.to_string(), "0.0.0.0:5000");
        assert_eq!(from_file.data_dir, PathBuf::from("/srv/chat"));
        assert_eq!(
            from_file.cert_dir,
            PathBuf::from("/etc/chatd/tls"),
            "relative to the file"
        );
        assert_eq!(from_file.hostnames, ["chat.example.org"]);
        assert_eq!(from_file.banned_words, ["spoiler"]);
        assert_eq!(from_file.limits.max_message_bytes, 100);
        assert_eq!(from_file.limits.send_burst, 7);
        assert_eq!(from_file.limits.max_history_page, 500);

        let args = flags(&[
            "--listen",
            "127.0.0.1:6000",
            "--max-message-bytes",
            "200",
            "--hostname",
            "a.example,10.0.0.1",
            "--hostname",
            "b.example",
        ]);
        let merged = Config::merge(&args, Some(&f)).unwrap();
        assert_eq!(merged.listen.to_string(), "127.0.0.1:6000");
        assert_eq!(merged.limits.max_message_bytes, 200);
        assert_eq!(merged.hostnames, ["a.example", "10.0.0.1", "b.example"]);
        assert_eq!(
            merged.data_dir,
            PathBuf::from("/srv/chat"),
            "unset flag keeps the file's value"
        );
        assert_eq!(merged.limits.send_burst, 7);
    }

    #[test]
    fn store_is_redb_unless_set_and_flag_beats_file() {
        assert_eq!(Config::default().store, None);
        let f = file("store = \"postgres://chat@db1:5432/chat\"");
        let c = Config::merge(&Args::default(), Some(&f)).unwrap();
        assert_eq!(c.store.as_deref(), Some("postgres://chat@db1:5432/chat"));
        let args = flags(&["--store", "postgresql://chat:pw@db2/chat"]);
        let c = Config::merge(&args, Some(&f)).unwrap();
        assert_eq!(c.store.as_deref(), Some("postgresql://chat:pw@db2/chat"));
        let bad = flags(&["--store", "mysql://root:secret@db/chat"]);
        let e = Config::merge(&bad, None).unwrap_err().to_string();
        assert!(e.contains("postgres://") && e.contains("--store"), "{e}");
        assert!(!e.contains("secret"), "the password is not shown: {e}");
    }

    #[test]
    fn metrics_listen_is_off_unless_set() {
        assert_eq!(Config::default().metrics_listen, None);
        let f = file("metrics_listen = \"127.0.0.1:9090\"");
        let c = Config::merge(&Args::default(), Some(&f)).unwrap();
        assert_eq!(c.metrics_listen.unwrap().to_string(), "127.0.0.1:9090");
        let c = Config::merge(&flags(&["--metrics-listen", "0.0.0.0:9100"]), Some(&f)).unwrap();
        assert_eq!(c.metrics_listen.unwrap().to_string(), "0.0.0.0:9100");
    }

    #[test]
    fn bus_and_node_name_come_from_file_env_or_flag() {
        let c = Config::merge(&Args::default(), None).unwrap();
        assert_eq!(c.bus, None, "no bus unless set");
        assert!(!c.node_name.is_empty());
        let f = file("bus = \"nats://10.0.0.9:4222\"\nnode_name = \"ward-a\"");
        let c = Config::merge(&Args::default(), Some(&f)).unwrap();
        assert_eq!(c.bus.as_deref(), Some("nats://10.0.0.9:4222"));
        assert_eq!(c.node_name, "ward-a");
        let args = flags(&["--bus", "nats://127.0.0.1:5222", "--node-name", "ward-b"]);
        let c = Config::merge(&args, Some(&f)).unwrap();
        assert_eq!(c.bus.as_deref(), Some("nats://127.0.0.1:5222"));
        assert_eq!(c.node_name, "ward-b");
        let err = Config::merge(&flags(&["--bus", "127.0.0.1:4222"]), None).unwrap_err();
        assert!(matches!(err, ConfigError::BadBusUrl { .. }), "{err}");
        assert!(err.to_string().contains("nats://HOST:PORT"), "{err}");
        let err = Config::merge(&flags(&["--node-name", " "]), None).unwrap_err();
        assert!(matches!(err, ConfigError::EmptyNodeName), "{err}");
        // The binary refuses a bus over redb; in-process tests may combine.
        assert!(
            c.check_for_service()
                .unwrap_err()
                .to_string()
                .contains("--bus needs --store postgres://…")
        );
        let mut on_postgres = c.clone();
        on_postgres.store = Some("postgres://chat@db/chat".into());
        on_postgres.check_for_service().unwrap();
        Config::default().check_for_service().unwrap();
    }

    #[test]
    fn unknown_keys_are_named() {
        let path = Path::new("chatd.toml");
        let err = FileConfig::from_toml("listen = \"127.0.0.1:1\"\nlisten_addr = 3\n", path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listen_addr") && err.contains("chatd.toml"),
            "{err}"
        );
        let err = FileConfig::from_toml("[limits]\nmax_msg = 3\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_msg"), "{err}");
        let err = FileConfig::from_toml("listen = \"nowhere\"\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn half_a_certificate_pair_is_refused() {
        let err = Config::merge(&flags(&["--cert", "c.pem"]), None).unwrap_err();
        assert!(matches!(err, ConfigError::CertWithoutKey { .. }), "{err}");
        assert!(err.to_string().contains("--key"), "{err}");
        let err = Config::merge(&flags(&["--key", "k.pem"]), None).unwrap_err();
        assert!(matches!(err, ConfigError::KeyWithoutCert { .. }), "{err}");
        // The two halves may come from different sources.
        let f = file("key = \"k.pem\"");
        let config = Config::merge(&flags(&["--cert", "c.pem"]), Some(&f)).unwrap();
        assert_eq!(config.key, Some(PathBuf::from("/etc/chatd/k.pem")));
    }

    #[test]
    fn bad_limits_are_refused_with_their_name() {
        let err = Config::merge(&flags(&["--send-burst", "0"]), None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("limits.send_burst")
                && text.contains("--send-burst")
                && text.contains("CHATD_SEND_BURST"),
            "{text}"
        );
        let f = file("[limits]\nsubscriber_queue = 0");
        let err = Config::merge(&Args::default(), Some(&f)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::ZeroLimit {
                name: "subscriber_queue",
                default: 4096
            }
        ));
        let err = Config::merge(&flags(&["--max-message-bytes", "1000000"]), None).unwrap_err();
        assert!(matches!(err, ConfigError::MessageTooLarge { .. }), "{err}");
        let err = Config::merge(&flags(&["--keep-alive-ms", "30000"]), None).unwrap_err();
        assert!(matches!(err, ConfigError::KeepAliveTooLong { .. }), "{err}");
    }

    #[test]
    fn write_rates_come_from_file_and_flags() {
        let f = file(
            "[limits]\nwrite_burst = 7\nsignal_rate_per_sec = 3\nroom_creations_per_day = 9\n\
             max_reactions_per_message = 11",
        );
        let c = Config::merge(&flags(&["--write-rate-per-sec", "2"]), Some(&f)).unwrap();
        let l = &c.limits;
        assert_eq!(
            (
                l.write_rate_per_sec,
                l.write_burst,
                l.signal_rate_per_sec,
                l.room_creations_per_day,
                l.max_reactions_per_message
            ),
            (2, 7, 3, 9, 11)
        );
        let f = file("[limits]\nroom_creations_per_day = 0");
        let err = Config::merge(&Args::default(), Some(&f)).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::ZeroLimit {
                    name: "room_creations_per_day",
                    default: 1000
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn load_reads_the_named_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatd.toml");
        std::fs::write(&path, "data_dir = \"d\"\n").unwrap();
        let config = Config::load(flags(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(config.data_dir, dir.path().join("d"));
        let missing = dir.path().join("missing.toml");
        let err = Config::load(flags(&["--config", missing.to_str().unwrap()])).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn blob_dir_comes_from_the_flag_else_the_file_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatd.toml");
        std::fs::write(&path, "blob_dir = \"shared/blobs\"\n").unwrap();
        let from_file = Config::load(flags(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(from_file.blob_dir, Some(dir.path().join("shared/blobs")));
        let from_flag = Config::load(flags(&[
            "--config",
            path.to_str().unwrap(),
            "--blobs",
            "/mnt/chat-blobs",
        ]))
        .unwrap();
        assert_eq!(from_flag.blob_dir, Some(PathBuf::from("/mnt/chat-blobs")));
        assert_eq!(Config::default().blob_dir, None);
    }

    #[test]
    fn for_tests_binds_any_port() {
        let config = Config::for_tests(Path::new("/tmp/x"));
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.cert_dir, PathBuf::from("/tmp/x/certs"));
        config.validate().unwrap();
    }

    #[test]
    fn help_documents_every_flag_env_var_and_default() {
        let help = Args::command().render_long_help().to_string();
        let d = Config::default();
        let l = &d.limits;
        let expected: &[(&str, &str, String)] = &[
            ("--listen", "CHATD_LISTEN", d.listen.to_string()),
            ("--data", "CHATD_DATA", d.data_dir.display().to_string()),
            (
                "--cert-dir",
                "CHATD_CERT_DIR",
                d.cert_dir.display().to_string(),
            ),
            ("--blobs", "CHATD_BLOBS", "DATA/files/blobs".into()),
            ("--cert", "CHATD_CERT", "none".into()),
            ("--key", "CHATD_KEY", "none".into()),
            ("--hostname", "CHATD_HOSTNAME", "none".into()),
            ("--config", "CHATD_CONFIG", "none".into()),
            ("--metrics-listen", "CHATD_METRICS_LISTEN", "none".into()),
            ("--bus", "CHATD_BUS", "none".into()),
            (
                "--max-message-bytes",
                "CHATD_MAX_MESSAGE_BYTES",
                l.max_message_bytes.to_string(),
            ),
            (
                "--max-history-page",
                "CHATD_MAX_HISTORY_PAGE",
                l.max_history_page.to_string(),
            ),
            (
                "--max-rooms-per-user",
                "CHATD_MAX_ROOMS_PER_USER",
                l.max_rooms_per_user.to_string(),
            ),
            (
                "--send-rate-per-sec",
                "CHATD_SEND_RATE_PER_SEC",
                l.send_rate_per_sec.to_string(),
            ),
            ("--send-burst", "CHATD_SEND_BURST", l.send_burst.to_string()),
            (
                "--max-connections",
                "CHATD_MAX_CONNECTIONS",
                l.max_connections.to_string(),
            ),
            (
                "--max-streams-per-connection",
                "CHATD_MAX_STREAMS_PER_CONNECTION",
                l.max_streams_per_connection.to_string(),
            ),
            (
                "--idle-timeout-ms",
                "CHATD_IDLE_TIMEOUT_MS",
                l.idle_timeout_ms.to_string(),
            ),
            (
                "--keep-alive-ms",
                "CHATD_KEEP_ALIVE_MS",
                l.keep_alive_ms.to_string(),
            ),
            (
                "--subscriber-queue",
                "CHATD_SUBSCRIBER_QUEUE",
                l.subscriber_queue.to_string(),
            ),
        ];
        for (flag, env, default) in expected {
            let at = help
                .find(&format!("{flag} <"))
                .unwrap_or_else(|| panic!("{flag} missing from help:\n{help}"));
            let entry = &help[at..];
            let entry = &entry[..entry[2..].find("\n  -").map_or(entry.len(), |e| e + 2)];
            assert!(
                entry.contains(&format!("[default: {default}]")),
                "{flag}: {entry}"
            );
            assert!(entry.contains(&format!("[env: {env}")), "{flag}: {entry}");
        }
        assert!(help.contains("RUST_LOG"));
    }

    /// Name of the variable that turns [`env_probe_child`] on.
    const PROBE: &str = "CHATD_CONFIG_TEST_ENV_PROBE";

    /// Checks env < flag and file < env with a real process environment: it
    /// re-runs this test binary with variables set, running only
    /// [`env_probe_child`], so no test mutates the shared environment.
    #[test]
    fn environment_sits_between_file_and_flags() {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "config::tests::env_probe_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ]);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CHATD_") {
                cmd.env_remove(name);
            }
        }
        cmd.env(PROBE, "1")
            .env("CHATD_LISTEN", "127.0.0.1:7001")
            .env("CHATD_DATA", "/env/data")
            .env("CHATD_HOSTNAME", "env.example,10.1.2.3")
            .env("CHATD_SEND_BURST", "9");
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "probe failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "probe did not run:\n{stdout}");
    }

    /// The child half of [`environment_sits_between_file_and_flags`]; does
    /// nothing unless [`PROBE`] is set.
    #[test]
    fn env_probe_child() {
        if std::env::var_os(PROBE).is_none() {
            return;
        }
        let f = file(
            "listen = \"127.0.0.1:5000\"\ndata_dir = \"/file\"\n[limits]\nsend_burst = 3\nsend_rate_per_sec = 4",
        );
        let config = Config::merge(&flags(&["--listen", "127.0.0.1:9000"]), Some(&f)).unwrap();
        assert_eq!(
            config.listen.to_string(),
            "127.0.0.1:9000",
            "flag beats env"
        );
        assert_eq!(
            config.data_dir,
            PathBuf::from("/env/data"),
            "env beats file"
        );
        assert_eq!(
            config.hostnames,
            ["env.example", "10.1.2.3"],
            "env list is comma-separated"
        );
        assert_eq!(config.limits.send_burst, 9, "env beats file for limits");
        assert_eq!(config.limits.send_rate_per_sec, 4, "file beats default");
        let config = Config::merge(&flags(&[]), Some(&f)).unwrap();
        assert_eq!(
            config.listen.to_string(),
            "127.0.0.1:7001",
            "env beats file"
        );
    }
}
