//! The command line, as clap sees it: raw arguments only. Resolving them
//! against profiles, the environment and defaults happens in `auth`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Admin, bot and audit command-line interface for chatd.
///
/// Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 authentication or
/// permission, 5 conflict.
#[derive(Debug, Parser)]
#[command(name = "chatctl", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 not found, \
    4 authentication or permission, 5 conflict.\n\
    Secrets are never taken as command-line values: use --token-file, CHAT_TOKEN, \
    `chatctl login`, or --password-stdin.")]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Server address [default: the profile's, else 127.0.0.1:4433]
    #[arg(long, global = true, env = "CHAT_SERVER", value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Read the API or session token from this file (first line). The
    /// environment variable CHAT_TOKEN holds a token directly.
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Trust server certificates signed by this PEM CA file (e.g. the
    /// server's certs/ca.crt) instead of the known-hosts pin.
    #[arg(long, global = true, env = "CHAT_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Pin a server seen for the first time without asking (known-hosts trust).
    #[arg(long, global = true)]
    pub trust_new: bool,
    /// Known-hosts file [default: known_hosts in the XDG data dir of `chat`]
    #[arg(long, global = true, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Profile from the config file (chatctl.toml in the XDG config dir of
    /// `chat`) [default: the one `chatctl profile use` chose, else `default`]
    #[arg(long, global = true, env = "CHAT_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Machine-readable output: JSON (JSON Lines for event streams).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load-test a running chatd with simulated clients (needs a
    /// server-admin token); see BENCHMARKS.md.
    Bench(crate::bench::BenchArgs),
    /// Log in with a username and password; stores a session token (0600)
    /// and saves the server and trust choice (--ca, --known-hosts) in the
    /// profile, so later commands need no flags.
    Login {
        /// Username [default: asked on the terminal]
        #[arg(value_name = "USER", conflicts_with = "user")]
        username: Option<String>,
        /// Username (the same as the positional USER).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change your password (asked on the terminal, or two lines on stdin
    /// with --password-stdin: the current one, then the new one). Your
    /// other login sessions end; this login stays.
    Passwd {
        /// Read the current and the new password from the first two lines of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Connection profiles in chatctl.toml (list, use, remove), and your
    /// account's public profile (set --display-name).
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// End the stored login's session and delete its token.
    Logout,
    /// Who the token belongs to.
    Whoami,
    /// Accounts (server admins).
    #[command(subcommand)]
    User(UserCmd),
    /// API tokens (server admins).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Rooms.
    #[command(subcommand)]
    Room(RoomCmd),
    /// Server facts and counters.
    #[command(subcommand)]
    Server(ServerCmd),
    /// Search messages in your rooms (JSON lines with --json).
    Search(SearchArgs),
    /// Send one message; the text is TEXT, or all of stdin when omitted.
    /// With --each-line, every line of stdin is its own message, sent as
    /// soon as the line arrives (for pipelines that never end).
    Send {
        /// Room name (`@user` for a direct room).
        room: String,
        /// The text [default: stdin]
        #[arg(conflicts_with = "each_line")]
        text: Option<String>,
        /// Makes a retried send safe: the same key never stores twice.
        #[arg(long, value_name = "KEY", conflicts_with = "each_line")]
        idempotency_key: Option<String>,
        /// Send each stdin line as its own message as it arrives; blank
        /// lines are skipped. Runs until stdin ends.
        #[arg(long)]
        each_line: bool,
        /// Attach a file (repeatable); with files, TEXT is optional and
        /// stdin is not read. A cut upload resumes where it stopped.
        #[arg(long = "file", value_name = "PATH", conflicts_with = "each_line")]
        files: Vec<std::path::PathBuf>,
    },
    /// Send a direct message (the direct room is created if needed).
    Dm {
        /// The other user.
        user: String,
        /// The text [default: stdin]
        text: Option<String>,
        /// Makes a retried send safe.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Replace the text of one of your messages.
    Edit {
        /// Room name.
        room: String,
        /// The message's seq.
        seq: u64,
        /// The new text.
        text: String,
    },
    /// Delete a message.
    Delete {
        /// Room name.
        room: String,
        /// The message's seq.
        seq: u64,
    },
    /// Toggle a reaction on a message.
    React {
        /// Room name.
        room: String,
        /// The message's seq.
        seq: u64,
        /// The emoji.
        emoji: String,
    },
    /// Answer a message.
    Reply {
        /// Room name.
        room: String,
        /// The seq of the message answered.
        seq: u64,
        /// The text [default: stdin]
        text: Option<String>,
        /// Makes a retried send safe.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Move your read marker to SEQ.
    Read {
        /// Room name.
        room: String,
        /// Highest seq read.
        seq: u64,
    },
    /// Print a room's events; with --follow keep printing new ones,
    /// reconnecting after a server restart without gap or duplicate.
    Tail(TailArgs),
    /// Print a room's messages, the whole history unless limited.
    History(HistoryArgs),
    /// JSON Lines of everything for compliance archives: rooms, events (edit
    /// versions, deletions, membership), moderation log. Complete for server admins.
    Export {
        /// Only this room.
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
        /// Why the records are downloaded; required for a server admin's
        /// (audit) export, and kept with who, when and which rooms in the
        /// audit log.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// The tamper-evident audit log (server admins): print its signed
    /// head, or verify the whole log against a head saved earlier.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Import history from other systems (server admins).
    #[command(subcommand)]
    Import(ImportCmd),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout; with --dir, write one page per
    /// command and subcommand into DIR (chatctl.1, chatctl-room-mute.1, ...).
    Man {
        /// Write every page into this directory (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Download the files of message SEQ of ROOM (names made safe; a cut
    /// download resumes from its `.part` file and is verified by hash).
    Download {
        /// Room name.
        room: String,
        /// The message's seq.
        seq: u64,
        /// Directory to save into [default: the current directory].
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// List the files of a room's live messages, newest first.
    Files {
        /// Room name.
        room: String,
    },
    /// Retention (server admins): how long messages are kept per room and
    /// per organisation, legal holds, and a purge pass on demand. A hold
    /// wins, then the room's period, then the organisation's, then the
    /// default, keep forever.
    #[command(subcommand)]
    Retention(RetentionCmd),
}

/// `chatctl profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// List the connection profiles in chatctl.toml; `*` marks the one in use.
    List,
    /// Make NAME the profile used when --profile and CHAT_PROFILE are not given.
    Use {
        /// Profile name.
        name: String,
    },
    /// Remove a profile and its stored login token.
    Remove {
        /// Profile name.
        name: String,
    },
    /// Change your account's public profile on the server.
    Set {
        /// Your display name (empty: your username).
        #[arg(long, value_name = "NAME")]
        display_name: String,
    },
}

/// `chatctl user ...`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create an account; without --password-stdin it is token-only (a bot).
    Create {
        /// Username: letters, digits, '_', '.', '-'.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Display name [default: the username]
        #[arg(long, value_name = "D")]
        display_name: Option<String>,
        /// Organization.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// Make the account a server admin.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts, optionally matching QUERY (username, display name or org).
    List {
        /// Case-insensitive substring.
        query: Option<String>,
    },
    /// Show one account.
    Show {
        /// Username.
        name: String,
    },
    /// Disable an account (ends its sessions).
    Disable {
        /// Username.
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Username.
        name: String,
    },
    /// Set a new password, read from stdin (first line) or asked on the terminal.
    ResetPassword {
        /// Username.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Grant (`true`) or revoke (`false`) server-admin rights.
    SetAdmin {
        /// Username.
        name: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set, value_parser = clap::value_parser!(bool))]
        admin: bool,
    },
    /// Set the organization.
    SetOrg {
        /// Username.
        name: String,
        /// Organization (empty to clear).
        org: String,
    },
    /// Set the display name.
    SetDisplayName {
        /// Username.
        name: String,
        /// Display name.
        display_name: String,
    },
}

/// `chatctl token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an API token; the secret is printed once, on stdout.
    Create {
        /// Owner.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// Free-text label, e.g. alerts-bot.
        #[arg(long, value_name = "L", default_value = "")]
        label: String,
    },
    /// List tokens.
    List {
        /// Only this user's.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Revoke a token by id (from `token list`).
    Revoke {
        /// Token id.
        id: u64,
    },
}

/// `chatctl room ...`
#[derive(Debug, Subcommand)]
pub enum RoomCmd {
    /// Create a group room; you become its owner.
    Create {
        /// Room name: letters, digits, '_', '.', '-'.
        name: String,
        /// Unlisted; only added members may join.
        #[arg(long)]
        private: bool,
        /// Topic.
        #[arg(long, value_name = "T", default_value = "")]
        topic: String,
    },
    /// Your rooms with unread counts (with --public: the public directory).
    List {
        /// List the public directory instead.
        #[arg(long)]
        public: bool,
    },
    /// One room's details.
    Show {
        /// Room name (`@user` for a direct room).
        room: String,
    },
    /// A room's members.
    Members {
        /// Room name.
        room: String,
    },
    /// Add a user to a room.
    Add {
        /// Room name.
        room: String,
        /// Username.
        user: String,
    },
    /// Join a public room.
    Join {
        /// Room name.
        room: String,
    },
    /// Leave a room.
    Leave {
        /// Room name.
        room: String,
    },
    /// Remove (kick) a member.
    Remove {
        /// Room name.
        room: String,
        /// Username.
        user: String,
    },
    /// Ban a member.
    Ban {
        /// Room name.
        room: String,
        /// Username.
        user: String,
    },
    /// Mute a member: they may read but not send (room admins and owner).
    Mute {
        /// Room name.
        room: String,
        /// Username.
        user: String,
    },
    /// Let a muted member send again.
    Unmute {
        /// Room name.
        room: String,
        /// Username.
        user: String,
    },
    /// Lift a ban, so the user may join or be added again.
    Unban {
        /// Room name.
        room: String,
        /// Username.
        user: String,
    },
    /// Set a member's role (the owner only); use `transfer` to hand over ownership.
    Role {
        /// Room name.
        room: String,
        /// Username.
        user: String,
        /// The new role.
        role: RoleArg,
    },
    /// Make another member the owner; you become an admin (the owner only).
    Transfer {
        /// Room name.
        room: String,
        /// The new owner's username.
        user: String,
    },
    /// Make a room public or private (the owner only).
    Visibility {
        /// Room name.
        room: String,
        /// The new visibility.
        visibility: VisibilityArg,
    },
    /// Make a room read-only for good.
    Archive {
        /// Room name.
        room: String,
    },
    /// Delete a room (its history stays for audit export).
    Delete {
        /// Room name.
        room: String,
    },
}

/// A role `room role` may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// An ordinary member.
    Member,
    /// May kick, ban, mute, add people and set the topic.
    Admin,
}

/// A room's visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VisibilityArg {
    /// Listed in the directory; anyone may join.
    Public,
    /// Unlisted; only added members may join.
    Private,
}

/// `chatctl audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Print the audit log's current signed tree head; with --json, the
    /// object to save elsewhere for `audit verify --head`.
    Head,
    /// Check every audit record against a saved head: its signature,
    /// a consistency proof to the current head, each record's inclusion
    /// proof and the root recomputed from all records. Exits 1 naming the
    /// first bad record.
    Verify {
        /// A head saved with `chatctl --json audit head > FILE`.
        #[arg(long, value_name = "FILE")]
        head: PathBuf,
        /// chatd's public key (`audit.pub` in its cert directory); the
        /// saved head must be signed with it.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
}

/// `chatctl server ...`
#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Server name, protocol version and limits (no login needed).
    Info,
    /// Connections, rooms, messages and commit rate (server admins).
    Stats,
    /// Rebuild the search index from the store, printing progress until
    /// it is done (server admins).
    Reindex,
    /// The search index: documents, events not yet indexed, size (server admins).
    SearchStatus,
    /// Whether the store accepts writes: prints `ready` and exits 0, or
    /// `not ready: REASON` and exits 1 (server admins; as GET /readyz).
    Health,
    /// Take a consistent copy of the whole server (messages, accounts,
    /// rooms, files) while it serves, streamed into FILE on this machine
    /// (server admins). Restore it with `chatd restore FILE --data DIR`.
    Backup {
        /// Where to write the archive; must not exist.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
}

/// `chatctl retention ...`
#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Show the settings of a room (with the policy in force) or of an
    /// organisation; without --room or --org, every stored setting.
    Show {
        /// The room's settings (`@user` for a direct room).
        #[arg(long, value_name = "ROOM", conflicts_with = "org")]
        room: Option<String>,
        /// The organisation's settings.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
    /// Set how long messages are kept: --days N, --forever, or --clear to
    /// let the next level decide. Recorded in the audit trail.
    Set {
        /// The room or organisation.
        #[command(flatten)]
        scope: RetentionScopeArgs,
        /// The keep period.
        #[command(flatten)]
        keep: KeepArgs,
    },
    /// Put a legal hold on a room or organisation: nothing in it is
    /// purged until released. Recorded with the reason.
    Hold {
        /// The room or organisation.
        #[command(flatten)]
        scope: RetentionScopeArgs,
        /// Why (a case or matter reference); required.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Lift a legal hold. Recorded in the audit trail.
    Release {
        /// The room or organisation.
        #[command(flatten)]
        scope: RetentionScopeArgs,
        /// Why it is lifted.
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
    },
    /// Run one purge pass now and print what it removed (the server also
    /// runs one every `[retention] interval_ms`).
    Purge,
}

/// The scope of a retention setting: exactly one of --room and --org.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct RetentionScopeArgs {
    /// A room (`@user` for a direct room).
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,
    /// An organisation (as users have it; case and width are ignored).
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
}

/// A keep period: exactly one of --days, --forever and --clear.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct KeepArgs {
    /// Purge messages older than N days (1 to 36500).
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Never purge (overrides an organisation's period for a room).
    #[arg(long)]
    pub forever: bool,
    /// Remove the period set here.
    #[arg(long)]
    pub clear: bool,
}

/// `chatctl search ...`
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to find: words (all must occur), "exact phrases", prefix*
    /// (환자*, deploy*), -word to exclude. Case and width are ignored;
    /// Korean words are found inside longer forms (환자 finds 환자가).
    pub query: String,
    /// Only this room (`@user` for a direct room).
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,
    /// Only messages by this username.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only messages by members of this organization (exact, case-insensitive).
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// Only messages at or after this time (RFC 3339, or YYYY-MM-DD = midnight UTC).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Only messages before this time (RFC 3339; YYYY-MM-DD includes that whole day, UTC).
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// At most N hits (all pages) [default: 20]
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Best match first instead of newest first.
    #[arg(long)]
    pub relevance: bool,
    /// Search every room, membership ignored (server admins; recorded in
    /// the audit trail).
    #[arg(long)]
    pub audit: bool,
}

/// `chatctl tail ...`
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Room name (`@user` for a direct room).
    pub room: String,
    /// Print every event after this seq (0: the whole history).
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// Without --since: how many of the latest events to print first.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
    pub lines: u32,
    /// Keep printing new events until interrupted.
    #[arg(short, long)]
    pub follow: bool,
}

/// `chatctl history ...`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Room name (`@user` for a direct room).
    pub room: String,
    /// Only events with a seq below this.
    #[arg(long, value_name = "SEQ")]
    pub before: Option<u64>,
    /// Only events with a seq above this.
    #[arg(long, value_name = "SEQ")]
    pub after: Option<u64>,
    /// Only messages at or after this time (RFC 3339, or YYYY-MM-DD = midnight UTC).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Only messages before this time (RFC 3339; YYYY-MM-DD includes that whole day, UTC).
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Only messages by this username.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only messages by members of this organization (exact, case-insensitive).
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// At most N matching messages: the latest N.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Also print membership, topic and other non-message events.
    #[arg(long)]
    pub all_events: bool,
    /// Include deleted messages' text (server admins).
    #[arg(long)]
    pub include_deleted: bool,
    /// Include every edit version (server admins).
    #[arg(long)]
    pub include_edits: bool,
    /// Why deleted text or edit versions are read: declared to the
    /// server first and quoted in the audit log's records of these reads
    /// (without it they are recorded as "no access declared").
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Comma-separated values with a header row.
    #[arg(long)]
    pub csv: bool,
}

/// `chatctl import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// Import an IRC transcript (`[HH:MM] <nick> text` lines); creates a
    /// token-only user per nick and the room if missing. Re-running it
    /// stores nothing twice.
    IrcLog {
        /// The transcript (`-` reads stdin; then give --date).
        file: PathBuf,
        /// Target room name (created if missing).
        #[arg(long, value_name = "NAME")]
        room: String,
        /// Date of the first line [default: a YYYY-MM-DD prefix of the file name]
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
}

/// The clap command, for completions, the man page and `debug_assert`.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        super::command().debug_assert();
    }
}
