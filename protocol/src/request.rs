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

/// A frame the server sends on the control stream.
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
    /// (case-insensitive substring). Answer: [`ResponseBody::Users`].
    ListUsers {
        /// Substring to match; `None` lists all.
        query: Option<String>,
    },
    /// One account. Answer: [`ResponseBody::User`].
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

    // ----- server -----
    /// Server name, version and limits. Answer: [`ResponseBody::ServerInfo`].
    ServerInfo,
    /// Server counters (server admins). Answer: [`ResponseBody::ServerStats`].
    ServerStats,
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
    /// Server facts.
    ServerInfo(ServerInfo),
    /// Server counters.
    ServerStats(ServerStats),
}

impl RequestBody {
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
