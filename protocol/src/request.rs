//! Requests a client sends on the control stream, and their responses.

use crate::model::{
    HistoryAnchor, HistoryPage, MemberInfo, MessageAck, RoomInfo, RoomSummary, ServerInfo,
    ServerStats, TokenInfo, UserInfo, Visibility,
};
use crate::{ErrorBody, IdempotencyKey, RequestId, RoomId, Seq, Timestamp};
use serde::{Deserialize, Serialize};

/// A frame the client sends on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// The first frame of a connection.
    Hello(crate::Hello),
    /// Any later frame.
    Request(Request),
}

/// Just enough of a [`ClientFrame`] to answer it: decoded when the whole
/// frame does not decode, so a request of a kind this build does not know
/// (a newer client) gets a `BadRequest` answer with its id instead of
/// closing the connection. The version policy promises that new request
/// kinds keep the protocol version.
#[derive(Debug, Clone, Copy, Deserialize)]
pub enum ClientFrameEnvelope {
    /// A `Hello`, whatever it holds.
    Hello(serde::de::IgnoredAny),
    /// A request whose body did not decode.
    Request(RequestEnvelope),
}

/// A [`Request`] with its body skipped.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RequestEnvelope {
    /// The request's id, to answer it.
    pub id: RequestId,
    /// The body, skipped.
    pub body: serde::de::IgnoredAny,
}

/// A frame the server sends on the control stream.
// Frames live only between decode and dispatch; boxing the large variant
// would cost every consumer's pattern match for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The handshake succeeded.
    Welcome(crate::Welcome),
    /// The handshake failed; the server closes the connection after this.
    Refused(ErrorBody),
    /// The answer to one request.
    Response(Response),
}

/// One request. The server answers each with a [`Response`] carrying the
/// same `id`; several may be in flight at once and answers may come in any
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client, echoed by the server.
    pub id: RequestId,
    /// What is asked.
    pub body: RequestBody,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The request's id.
    pub id: RequestId,
    /// The result.
    pub result: Result<ResponseBody, ErrorBody>,
}

/// Everything a client can ask. Usernames and room names are resolved by the
/// server; requests that act on a room take its [`RoomId`] (see `GetRoom`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestBody {
    // ----- sessions -----
    /// Log in with a password. Answer: [`ResponseBody::LoggedIn`].
    Login {
        /// Username, matched case-insensitively.
        username: String,
        /// Password, at most [`crate::names::MAX_PASSWORD_BYTES`] bytes.
        password: String,
    },
    /// Authenticate with a session token (from `Login`) or an API token.
    /// Answer: [`ResponseBody::LoggedIn`] (with `token: None`).
    Authenticate {
        /// The secret token.
        token: String,
    },
    /// Revoke the current session token and end the session. Answer: `Ok`.
    Logout,
    /// Who the session belongs to. Answer: [`ResponseBody::User`].
    WhoAmI,
    /// Round-trip check. Answer: `Ok`.
    Ping,

    // ----- user administration (server admins) -----
    /// Create an account. Answer: [`ResponseBody::User`].
    CreateUser {
        /// Login name; see [`crate::names::validate_username`].
        username: String,
        /// Password; `None` for token-only accounts such as bots.
        password: Option<String>,
        /// Display name; defaults to the username when empty.
        display_name: String,
        /// Organization, free text.
        org: String,
        /// Whether the account is a server admin.
        admin: bool,
    },
    /// List or search accounts by username, display name or organization
    /// (case-insensitive substring). Answer: [`ResponseBody::Users`]; for
    /// anyone but server admins, other users' account fields are left out
    /// (see [`UserInfo`]).
    ListUsers {
        /// Substring to match; `None` lists all.
        query: Option<String>,
    },
    /// One account. Answer: [`ResponseBody::User`], with account fields
    /// only for server admins and the user themself.
    GetUser {
        /// Username.
        username: String,
    },
    /// Change account fields (server admins). Answer: [`ResponseBody::User`].
    UpdateUser {
        /// Username.
        username: String,
        /// The change.
        change: UserChange,
    },
    /// Create a long-lived API token for a user (server admins).
    /// Answer: [`ResponseBody::TokenCreated`].
    CreateToken {
        /// Owner.
        username: String,
        /// Free-text label.
        label: String,
    },
    /// List tokens, all of them or one user's (server admins).
    /// Answer: [`ResponseBody::Tokens`].
    ListTokens {
        /// Only this user's tokens.
        username: Option<String>,
    },
    /// Revoke a token by id (server admins, or the owner). Answer: `Ok`.
    RevokeToken {
        /// Token id from `ListTokens`.
        id: u64,
    },

    // ----- rooms -----
    /// Create a group room; the caller becomes its owner. Answer: [`ResponseBody::Room`].
    CreateRoom {
        /// Unique name; see [`crate::names::validate_room_name`].
        name: String,
        /// Topic, possibly empty.
        topic: String,
        /// Public or private.
        visibility: Visibility,
    },
    /// Look a room up by name (group rooms; `@user` for the caller's direct
    /// room with that user). Answer: [`ResponseBody::Room`].
    GetRoom {
        /// The name.
        name: String,
    },
    /// The caller's rooms with unread counts, newest activity first.
    /// Answer: [`ResponseBody::Rooms`].
    ListMyRooms,
    /// The public room directory. Answer: [`ResponseBody::Directory`].
    ListPublicRooms,
    /// Every room, private, archived and deleted ones included (server
    /// admins; for audit export). Answer: [`ResponseBody::Directory`].
    ListAllRooms,
    /// Join a public room, or a private one the caller was invited to.
    /// Answer: [`ResponseBody::Room`].
    JoinRoom {
        /// The room.
        room: RoomId,
    },
    /// Leave a room. Answer: `Ok`.
    LeaveRoom {
        /// The room.
        room: RoomId,
    },
    /// Add a user to a room (members of public rooms; admins and owners of
    /// private rooms). Answer: `Ok`.
    AddMember {
        /// The room.
        room: RoomId,
        /// Who to add.
        username: String,
    },
    /// The room's members. Answer: [`ResponseBody::Members`].
    ListMembers {
        /// The room.
        room: RoomId,
    },
    /// The direct room with a user, created if needed.
    /// Answer: [`ResponseBody::Room`].
    OpenDirect {
        /// The other user.
        username: String,
    },

    // ----- messages -----
    /// Send a message. Answer: [`ResponseBody::Sent`] after durable commit.
    Send {
        /// The room.
        room: RoomId,
        /// Makes retries safe; see [`IdempotencyKey`].
        key: IdempotencyKey,
        /// The text, at most `Limits::max_message_bytes` bytes.
        text: String,
        /// The message this one answers.
        reply_to: Option<Seq>,
    },
    /// Store a message with a given author and time (server admins; for
    /// importing history). Answer: [`ResponseBody::Sent`].
    Import {
        /// The room.
        room: RoomId,
        /// Author's username.
        username: String,
        /// Original time.
        ts: Timestamp,
        /// Makes retries safe.
        key: IdempotencyKey,
        /// The text.
        text: String,
    },
    /// A page of history. Answer: [`ResponseBody::History`].
    History {
        /// The room.
        room: RoomId,
        /// Where to start.
        anchor: HistoryAnchor,
        /// Page size, 1 to `Limits::max_history_page`.
        limit: u32,
        /// Server admins only: include deleted messages' text (audit).
        #[serde(default)]
        audit: bool,
    },
    /// Open (or reopen) the room's stream: stored events after `since`, then
    /// live ones. Answer: [`ResponseBody::Subscribed`], sent before the stream opens.
    Subscribe {
        /// The room.
        room: RoomId,
        /// Last sequence number the client has; `Seq(0)` for all.
        since: Seq,
    },
    /// Close the room's stream. Answer: `Ok`.
    Unsubscribe {
        /// The room.
        room: RoomId,
    },
    /// Move the caller's read marker forward to `seq`. Answer: `Ok`.
    MarkRead {
        /// The room.
        room: RoomId,
        /// Highest sequence number read.
        seq: Seq,
    },

    /// Replace the text of the caller's own message. Answer: `Ok`.
    Edit {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
        /// The new text.
        text: String,
    },
    /// Delete a message: the caller's own, or any in a room the caller
    /// administers (room owners and admins, server admins). Answer: `Ok`.
    Delete {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// Toggle the caller's reaction on a message. Answer: `Ok`.
    React {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
        /// The emoji, 1 to 32 bytes.
        emoji: String,
    },
    /// Every version of a message, and its text even if deleted (server
    /// admins). Answer: [`ResponseBody::Audit`].
    MessageAudit {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// Acknowledge receipt of the room's events up to `seq`. Answer: `Ok`.
    MarkDelivered {
        /// The room.
        room: RoomId,
        /// Highest sequence number received.
        seq: Seq,
    },
    /// Who has read, or received, the message at `seq`.
    /// Answer: [`ResponseBody::Receipts`].
    ReadBy {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// Tell the room's members the caller is typing (ephemeral). Answer: `Ok`.
    Typing {
        /// The room.
        room: RoomId,
    },
    /// Set or clear the caller's explicit "away". Answer: `Ok`.
    SetAway {
        /// Away or not.
        away: bool,
    },
    /// The caller's notifications, newest first. Answer: [`ResponseBody::Notifications`].
    ListNotifications {
        /// Only unread ones.
        unread_only: bool,
    },
    /// Mark notifications with id up to `up_to` read. Answer: `Ok`.
    MarkNotificationsRead {
        /// Highest id to mark.
        up_to: u64,
    },
    /// Add a contact. Answer: `Ok`.
    AddContact {
        /// Who.
        username: String,
    },
    /// Remove a contact. Answer: `Ok`.
    RemoveContact {
        /// Who.
        username: String,
    },
    /// The caller's contacts with presence. Answer: [`ResponseBody::Contacts`].
    ListContacts,
    /// Block or unblock a user. Answer: `Ok`.
    SetBlocked {
        /// Who.
        username: String,
        /// Block or unblock.
        blocked: bool,
    },
    /// Users the caller blocks. Answer: [`ResponseBody::Users`].
    ListBlocked,
    /// Presence of users. Answer: [`ResponseBody::Presence`], holding only
    /// the users whose presence the caller may see (themself, people they
    /// share a room with, mutual contacts, neither side blocking).
    GetPresence {
        /// Usernames, at most [`MAX_PRESENCE_QUERY`].
        usernames: Vec<String>,
    },
    /// A moderation action in a room. Answer: `Ok`.
    Moderate {
        /// The room.
        room: RoomId,
        /// What to do.
        action: ModAction,
        /// Why (recorded in the audit trail).
        reason: String,
    },
    /// The audit trail, newest first: moderation in rooms and, with no
    /// room, account and admin actions too (`user-create`, `user-disable`,
    /// `user-admin-grant`, `token-revoke`, ...; `reason` then says what
    /// changed). Server admins, or a room's owner and admins for their
    /// room. Answer: [`ResponseBody::ModerationLog`].
    ModerationLog {
        /// Only this room.
        room: Option<RoomId>,
        /// Most records, 1 to 1000.
        limit: u32,
    },

    // ----- server -----
    /// Server name, version and limits. Answer: [`ResponseBody::ServerInfo`].
    ServerInfo,
    /// Server counters (server admins). Answer: [`ResponseBody::ServerStats`].
    ServerStats,

    // ----- self-service (appended: variant order is the wire order) -----
    /// Change the caller's own password. The server checks `old` first
    /// (a wrong one is `AuthFailed`, counted like a failed login), then
    /// stores `new` and ends the caller's other login sessions; the session
    /// that asked stays logged in and API tokens stay until revoked.
    /// Token-only accounts (no password) are refused with `Forbidden`.
    /// Answer: `Ok`.
    ChangePassword {
        /// The current password.
        old: String,
        /// The new password; see [`crate::names::validate_password`].
        new: String,
    },
    /// Change the caller's own display name (at most
    /// [`crate::names::MAX_LABEL_LEN`] bytes; empty means the username).
    /// Answer: [`ResponseBody::User`].
    SetDisplayName {
        /// The new display name.
        display_name: String,
    },

    // ----- paged lists (appended; the unpaged kinds above still work
    // while their answer fits in a frame, else they are answered
    // `ResponseTooLarge`) -----
    /// A page of [`RequestBody::ListUsers`], in account-id order. Answer:
    /// [`ResponseBody::UsersPage`].
    ListUsersPage {
        /// Substring to match; `None` lists all.
        query: Option<String>,
        /// Where to go on; see [`PageRequest`].
        page: PageRequest,
    },
    /// A page of the caller's rooms ([`RequestBody::ListMyRooms`]), in
    /// room-id order (clients sort the whole list themselves). Answer:
    /// [`ResponseBody::RoomsPage`].
    ListMyRoomsPage {
        /// Where to go on; see [`PageRequest`].
        page: PageRequest,
    },
    /// A page of the public directory ([`RequestBody::ListPublicRooms`])
    /// or, with `all` (server admins), of every room
    /// ([`RequestBody::ListAllRooms`]), in room-id order. Answer:
    /// [`ResponseBody::DirectoryPage`].
    ListRoomsPage {
        /// Every room (server admins) instead of the public directory.
        all: bool,
        /// Where to go on; see [`PageRequest`].
        page: PageRequest,
    },
    /// A page of a room's members ([`RequestBody::ListMembers`]), in
    /// account-id order. Answer: [`ResponseBody::MembersPage`].
    ListMembersPage {
        /// The room.
        room: RoomId,
        /// Where to go on; see [`PageRequest`].
        page: PageRequest,
    },
    /// A page of [`RequestBody::ListTokens`] (server admins), in token-id
    /// order. Answer: [`ResponseBody::TokensPage`].
    ListTokensPage {
        /// Only this user's tokens.
        username: Option<String>,
        /// Where to go on; see [`PageRequest`].
        page: PageRequest,
    },
    /// A page of the audit trail ([`RequestBody::ModerationLog`]), newest
    /// first, with no limit on how far back. Answer:
    /// [`ResponseBody::ModerationLogPage`].
    ModerationLogPage {
        /// Only this room.
        room: Option<RoomId>,
        /// Where to go on; see [`PageRequest`].
        page: PageRequest,
    },

    // ----- search -----
    /// Full-text search of messages the caller may read (or, with
    /// `audit`, of every room: server admins). Answer:
    /// [`ResponseBody::SearchResults`].
    Search(crate::search::SearchQuery),
    /// The search index's state (server admins). Answer:
    /// [`ResponseBody::SearchStatus`].
    SearchStatus,
    /// Rebuild the search index from the store (server admins); answered
    /// `Ok` once the rebuild started. Progress: `SearchStatus`.
    Reindex,
    // ----- files (appended) -----
    /// Send a message with files uploaded on transfer streams (see
    /// [`crate::file`]); the text may be empty when there is a file.
    /// Answer: [`ResponseBody::Sent`] after durable commit.
    SendWithAttachments {
        /// The room.
        room: RoomId,
        /// Makes retries safe; see [`IdempotencyKey`].
        key: IdempotencyKey,
        /// The text, at most `Limits::max_message_bytes` bytes.
        text: String,
        /// The message this one answers.
        #[serde(default)]
        reply_to: Option<Seq>,
        /// Files the caller uploaded to this room and has not attached yet,
        /// at most [`crate::file::MAX_ATTACHMENTS`].
        attachments: Vec<crate::file::AttachmentId>,
    },
    /// The files of a room's live (not deleted) messages, newest first.
    /// Answer: [`ResponseBody::Files`].
    ListFiles {
        /// The room.
        room: RoomId,
    },
    // ----- tamper-evident audit log (appended) -----
    /// The audit log's current signed tree head, signed now (server
    /// admins). Answer: [`ResponseBody::AuditHead`].
    AuditHead,
    /// A consistency proof (RFC 9162 §2.1.4) from the tree of `from_size`
    /// records to the tree of `to_size` (server admins); `1 <= from_size
    /// <= to_size <=` the current size. Answer:
    /// [`ResponseBody::AuditConsistency`].
    AuditConsistency {
        /// The older size, e.g. a saved head's.
        from_size: u64,
        /// The newer size.
        to_size: u64,
    },
    /// Audit records by leaf index, oldest first, each with its inclusion
    /// proof in the tree of `tree_size` records (server admins). Answer:
    /// [`ResponseBody::AuditEntries`] with the records from `from` up to
    /// `limit` ([`crate::audit::MAX_AUDIT_ENTRIES`] at most), fewer when
    /// the page reaches [`MAX_PAGE_BYTES`] or `tree_size`.
    AuditEntries {
        /// The tree the proofs are for, at most the current size.
        tree_size: u64,
        /// The first leaf index wanted (record id minus one).
        from: u64,
        /// Most entries wanted, 1 to [`crate::audit::MAX_AUDIT_ENTRIES`].
        limit: u32,
    },
    /// Declares an access before making it, e.g. an audit export, with
    /// its reason (server admins); recorded in the audit log as
    /// `access-<purpose>` and quoted in the records of the reads of
    /// deleted text this connection makes afterwards. Answer:
    /// [`ResponseBody::Ok`].
    DeclareAccess {
        /// The room concerned; `None` for every room.
        room: Option<RoomId>,
        /// What the access is, e.g. `export`: ASCII letters, digits and
        /// `-`, 1 to 32 bytes.
        purpose: String,
        /// Why, 1 to [`crate::audit::MAX_ACCESS_REASON_BYTES`] bytes; not
        /// blank.
        reason: String,
    },
    /// The signed tree heads chatd stored (one per tree size, signed at
    /// intervals and on `AuditHead`), smallest size first (server
    /// admins). The cursor is the last tree size returned. Answer:
    /// [`ResponseBody::AuditHeads`].
    AuditHeads {
        /// Where to go on; see [`PageRequest`].
        page: PageRequest,
    },
    // ----- retention (appended) -----
    /// Set (`Some`) or clear (`None`) the keep period of a room or an
    /// organisation (server admins); recorded in the audit trail. Answer:
    /// [`ResponseBody::Retention`] for the scope.
    SetRetention {
        /// The room or organisation.
        scope: crate::retention::RetentionScope,
        /// The keep period; `None` lets the next level decide.
        keep: Option<crate::retention::Keep>,
    },
    /// Put a legal hold on (`hold: true`) or lift it from a room or an
    /// organisation (server admins); recorded in the audit trail with the
    /// reason. Answer: [`ResponseBody::Retention`] for the scope.
    SetLegalHold {
        /// The room or organisation.
        scope: crate::retention::RetentionScope,
        /// Set or lift.
        hold: bool,
        /// Why (required to set, at most
        /// [`crate::retention::MAX_HOLD_REASON_BYTES`]).
        reason: String,
    },
    /// A scope's retention settings and, for a room, the policy in force
    /// (server admins). Answer: [`ResponseBody::Retention`].
    GetRetention {
        /// The room or organisation.
        scope: crate::retention::RetentionScope,
    },
    /// Every stored retention setting, rooms then organisations (server
    /// admins). Answer: [`ResponseBody::RetentionList`].
    ListRetention,
    /// Run one purge pass now and wait for it (server admins). Answer:
    /// [`ResponseBody::Purged`].
    PurgeNow,
}

/// Most usernames one `GetPresence` may ask about, so its answer stays
/// well inside a frame; ask in batches.
pub const MAX_PRESENCE_QUERY: usize = 1000;

/// Largest page of a paged list, in items ([`PageRequest::limit`]).
pub const MAX_PAGE_ITEMS: u32 = 1000;

/// Most bytes of items a server puts in one answer (a page of a list, a
/// history page, a message's audit versions): 512 KiB, half of
/// [`crate::frame::MAX_FRAME_LEN`], so a page plus its envelope always
/// fits in a frame. A page holds at least one item whatever its size;
/// one item is always below this (a 16 KiB message with its capped
/// reactions).
pub const MAX_PAGE_BYTES: usize = 512 << 10;

/// Which page of a list to read.
///
/// Wire shape: a map `{after, limit}`. Start with `after: None`; pass each
/// answer's [`Page::next`] back as `after` until it is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// The cursor from the previous page's [`Page::next`]; `None` for the
    /// first page. Opaque: only pass back what the server gave.
    pub after: Option<u64>,
    /// Most items wanted, 1 to [`MAX_PAGE_ITEMS`]; the server may return
    /// fewer (see [`MAX_PAGE_BYTES`]) and still have more.
    pub limit: u32,
}

impl PageRequest {
    /// The first page with the largest `limit`.
    pub fn first() -> PageRequest {
        PageRequest {
            after: None,
            limit: MAX_PAGE_ITEMS,
        }
    }

    /// The page after `next` (from [`Page::next`]) with the same limit.
    pub fn then(self, next: u64) -> PageRequest {
        PageRequest {
            after: Some(next),
            limit: self.limit,
        }
    }
}

/// One page of a list.
///
/// Wire shape: a map `{items, next}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// The cursor for the next page ([`PageRequest::after`]); `None` when
    /// this is the last page.
    pub next: Option<u64>,
}

/// A moderation action, checked against the caller's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModAction {
    /// Remove a member (room admins and owner, over lower roles).
    Kick {
        /// Who.
        username: String,
    },
    /// Remove and ban a member until unbanned.
    Ban {
        /// Who.
        username: String,
    },
    /// Lift a ban.
    Unban {
        /// Who.
        username: String,
    },
    /// Mute (may read, not send) or unmute a member.
    Mute {
        /// Who.
        username: String,
        /// Muted or not.
        muted: bool,
    },
    /// Set a member's role to member or admin (owner only).
    SetRole {
        /// Who.
        username: String,
        /// The role; `Owner` is refused (use `TransferOwnership`).
        role: crate::Role,
    },
    /// Change the topic (room admins and owner).
    SetTopic {
        /// The new topic.
        topic: String,
    },
    /// Make the room public or private (owner).
    SetVisibility {
        /// The new visibility.
        visibility: Visibility,
    },
    /// Make another member the owner; the caller becomes an admin (owner).
    TransferOwnership {
        /// The new owner.
        username: String,
    },
    /// Make the room read-only for good (owner, server admins).
    Archive,
    /// Delete the room: every member is removed and it leaves the
    /// directory; its history stays for audit export (server admins).
    DeleteRoom,
}

/// A change to an account, made by a server admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserChange {
    /// Disable (`true`) or enable the account. Disabling ends its sessions.
    Disabled(bool),
    /// Grant or revoke server-admin rights.
    Admin(bool),
    /// Set the organization.
    Org(String),
    /// Set the display name.
    DisplayName(String),
    /// Set a new password; ends the account's login sessions.
    Password(String),
}

/// Successful answers.
// Answers live only between decode and use, like `ServerFrame`; boxing the
// large variant would cost every consumer's pattern match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseBody {
    /// Done; nothing to return.
    Ok,
    /// Logged in.
    LoggedIn {
        /// Who.
        user: UserInfo,
        /// A new session token (from `Login`), to resume with `Authenticate`.
        token: Option<String>,
    },
    /// One account.
    User(UserInfo),
    /// Several accounts.
    Users(Vec<UserInfo>),
    /// A new token; `secret` is shown this once and never again.
    TokenCreated {
        /// Metadata.
        info: TokenInfo,
        /// The secret.
        secret: String,
    },
    /// Token metadata.
    Tokens(Vec<TokenInfo>),
    /// One room.
    Room(RoomInfo),
    /// The caller's chat list.
    Rooms(Vec<RoomSummary>),
    /// The public directory.
    Directory(Vec<RoomInfo>),
    /// A room's members.
    Members(Vec<MemberInfo>),
    /// A message was stored (or was already stored under that key).
    Sent(MessageAck),
    /// A history page.
    History(HistoryPage),
    /// The subscription is accepted; its stream follows.
    Subscribed {
        /// The room.
        room: RoomId,
        /// The room's head at subscription time.
        head: Seq,
    },
    /// A message's audit record.
    Audit(crate::model::MessageAudit),
    /// Who read a message.
    Receipts(crate::model::ReadReceipts),
    /// Notifications, with the unread count.
    Notifications {
        /// Newest first.
        items: Vec<crate::model::Notification>,
        /// How many are unread in all.
        unread: u64,
    },
    /// Contacts.
    Contacts(Vec<crate::model::Contact>),
    /// Presence of the users asked about.
    Presence(Vec<crate::model::PresenceInfo>),
    /// Moderation records.
    ModerationLog(Vec<crate::model::ModerationRecord>),
    /// Server facts.
    ServerInfo(ServerInfo),
    /// Server counters.
    ServerStats(ServerStats),
    /// A page of accounts (`ListUsersPage`).
    UsersPage(Page<UserInfo>),
    /// A page of the caller's chat list (`ListMyRoomsPage`).
    RoomsPage(Page<RoomSummary>),
    /// A page of the directory or of every room (`ListRoomsPage`).
    DirectoryPage(Page<RoomInfo>),
    /// A page of a room's members (`ListMembersPage`).
    MembersPage(Page<MemberInfo>),
    /// A page of token metadata (`ListTokensPage`).
    TokensPage(Page<TokenInfo>),
    /// A page of the audit trail, newest first (`ModerationLogPage`).
    ModerationLogPage(Page<crate::model::ModerationRecord>),
    /// A page of search hits.
    SearchResults(crate::search::SearchPage),
    /// The search index's state.
    SearchStatus(crate::search::SearchIndexStatus),
    /// A room's files.
    Files(Vec<crate::file::FileEntry>),
    /// The audit log's current signed tree head (`AuditHead`).
    AuditHead(crate::audit::SignedTreeHead),
    /// A consistency proof: node hashes, each
    /// [`crate::audit::HASH_LEN`] bytes (`AuditConsistency`).
    AuditConsistency(Vec<Vec<u8>>),
    /// Audit records with inclusion proofs, oldest first (`AuditEntries`).
    AuditEntries(Vec<crate::audit::AuditEntry>),
    /// A page of stored signed tree heads, smallest size first
    /// (`AuditHeads`).
    AuditHeads(Page<crate::audit::SignedTreeHead>),
    // ----- retention (appended) -----
    /// One scope's retention settings (`SetRetention`, `SetLegalHold`,
    /// `GetRetention`).
    Retention(crate::retention::RetentionInfo),
    /// Every stored retention setting (`ListRetention`).
    RetentionList(Vec<crate::retention::RetentionSetting>),
    /// What a purge pass removed (`PurgeNow`).
    Purged(crate::retention::PurgeReport),
}

impl RequestBody {
    /// Whether the answer may be large (up to a whole frame): pages of
    /// history, lists and audit views. Servers bound how many of these one
    /// connection has in flight, since each answer waits in memory until
    /// the client reads it.
    pub fn may_answer_large(&self) -> bool {
        matches!(
            self,
            RequestBody::History { .. }
                | RequestBody::ListUsers { .. }
                | RequestBody::ListTokens { .. }
                | RequestBody::ListMyRooms
                | RequestBody::ListPublicRooms
                | RequestBody::ListAllRooms
                | RequestBody::ListMembers { .. }
                | RequestBody::MessageAudit { .. }
                | RequestBody::ReadBy { .. }
                | RequestBody::ListContacts
                | RequestBody::ListBlocked
                | RequestBody::ListNotifications { .. }
                | RequestBody::ModerationLog { .. }
                | RequestBody::GetPresence { .. }
                | RequestBody::ListUsersPage { .. }
                | RequestBody::ListMyRoomsPage { .. }
                | RequestBody::ListRoomsPage { .. }
                | RequestBody::ListMembersPage { .. }
                | RequestBody::ListTokensPage { .. }
                | RequestBody::ModerationLogPage { .. }
                | RequestBody::Search(_)
                | RequestBody::ListFiles { .. }
                | RequestBody::AuditConsistency { .. }
                | RequestBody::AuditEntries { .. }
                | RequestBody::AuditHeads { .. }
        )
    }

    /// Whether this request may be sent before authenticating.
    pub fn allowed_unauthenticated(&self) -> bool {
        matches!(
            self,
            RequestBody::Login { .. }
                | RequestBody::Authenticate { .. }
                | RequestBody::Ping
                | RequestBody::ServerInfo
        )
    }
}
