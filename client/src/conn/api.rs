//! Typed wrappers over [`Connection::request`], one per request kind.
//!
//! To add one: call `self.request(RequestBody::X { .. })`, match the
//! expected `ResponseBody` variant, and send anything else to
//! [`unexpected`]. Keep wrappers thin: no retries or caching here.

use super::{Connection, pages, unexpected};
use crate::ClientError;
use chat_protocol::{
    HistoryAnchor, HistoryPage, IdempotencyKey, MemberInfo, MessageAck, RequestBody, ResponseBody,
    RoomId, RoomInfo, RoomSummary, Seq, ServerInfo, ServerStats, Timestamp, TokenInfo, UserChange,
    UserInfo, Visibility,
};

/// Every wrapper fails as [`Connection::request`] does: `ClientError::Server`
/// with the server's code, `ConnectionLost`, `Timeout`, or
/// `ProtocolViolation` for an answer of the wrong kind.
impl Connection {
    /// Logs in with a password; returns the user and a session token for
    /// [`Connection::authenticate`] on later connections.
    ///
    /// # Errors
    /// `AuthFailed`, `AccountDisabled`; see the impl docs.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(UserInfo, Option<String>), ClientError> {
        let body = RequestBody::Login {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::LoggedIn { user, token } => (user, token), "LoggedIn")
    }

    /// Authenticates with a session or API token.
    ///
    /// # Errors
    /// `AuthFailed` for an unknown or revoked token; see the impl docs.
    pub async fn authenticate(&self, token: &str) -> Result<UserInfo, ClientError> {
        let body = RequestBody::Authenticate {
            token: token.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::LoggedIn { user, .. } => user, "LoggedIn")
    }

    /// Revokes the session token and ends the session.
    ///
    /// # Errors
    /// See the impl docs.
    pub async fn logout(&self) -> Result<(), ClientError> {
        expect!(self.request(RequestBody::Logout).await?, ResponseBody::Ok => (), "Ok")
    }

    /// The logged-in user.
    ///
    /// # Errors
    /// `Unauthenticated`; see the impl docs.
    pub async fn whoami(&self) -> Result<UserInfo, ClientError> {
        expect!(self.request(RequestBody::WhoAmI).await?, ResponseBody::User(u) => u, "User")
    }

    /// A round trip to the server; returns the time it took.
    ///
    /// # Errors
    /// See the impl docs.
    pub async fn ping(&self) -> Result<std::time::Duration, ClientError> {
        let start = tokio::time::Instant::now();
        expect!(self.request(RequestBody::Ping).await?, ResponseBody::Ok => start.elapsed(), "Ok")
    }

    /// Server name, version and limits.
    ///
    /// # Errors
    /// See the impl docs.
    pub async fn server_info(&self) -> Result<ServerInfo, ClientError> {
        expect!(self.request(RequestBody::ServerInfo).await?, ResponseBody::ServerInfo(i) => i, "ServerInfo")
    }

    /// Server counters (server admins).
    ///
    /// # Errors
    /// `Forbidden`; see the impl docs.
    pub async fn server_stats(&self) -> Result<ServerStats, ClientError> {
        expect!(self.request(RequestBody::ServerStats).await?, ResponseBody::ServerStats(s) => s, "ServerStats")
    }

    /// Sends a message; the ack arrives after durable commit. Retrying with
    /// the same `key` never stores a second copy.
    ///
    /// # Errors
    /// `NotMember`, `Muted`, `TooLarge`, `RateLimited`, ...; see the impl docs.
    pub async fn send(
        &self,
        room: RoomId,
        key: IdempotencyKey,
        text: &str,
        reply_to: Option<Seq>,
    ) -> Result<MessageAck, ClientError> {
        let body = RequestBody::Send {
            room,
            key,
            text: text.to_owned(),
            reply_to,
        };
        expect!(self.request(body).await?, ResponseBody::Sent(a) => a, "Sent")
    }

    /// Stores a message with a given author and time (server admins).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`; see the impl docs.
    pub async fn import(
        &self,
        room: RoomId,
        username: &str,
        ts: Timestamp,
        key: IdempotencyKey,
        text: &str,
    ) -> Result<MessageAck, ClientError> {
        let body = RequestBody::Import {
            room,
            username: username.to_owned(),
            ts,
            key,
            text: text.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::Sent(a) => a, "Sent")
    }

    /// A page of history; `limit` is 1 to `Limits::max_history_page`.
    ///
    /// # Errors
    /// `NotMember`, `BadRequest`; see the impl docs.
    pub async fn history(
        &self,
        room: RoomId,
        anchor: HistoryAnchor,
        limit: u32,
    ) -> Result<HistoryPage, ClientError> {
        let body = RequestBody::History {
            room,
            anchor,
            limit,
            audit: false,
        };
        expect!(self.request(body).await?, ResponseBody::History(p) => p, "History")
    }

    /// Looks a room up by name (`@user` for a direct room).
    ///
    /// # Errors
    /// `NotFound`; see the impl docs.
    pub async fn room_by_name(&self, name: &str) -> Result<RoomInfo, ClientError> {
        let body = RequestBody::GetRoom {
            name: name.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::Room(r) => r, "Room")
    }

    /// The caller's rooms with unread counts, newest activity first (then
    /// by name), read page by page however many there are.
    ///
    /// # Errors
    /// See the impl docs.
    pub async fn my_rooms(&self) -> Result<Vec<RoomSummary>, ClientError> {
        let mut rooms = match pages::read_all(|p| self.my_rooms_page(p)).await? {
            Some(all) => all,
            None => {
                expect!(self.request(RequestBody::ListMyRooms).await?, ResponseBody::Rooms(r) => r, "Rooms")?
            }
        };
        rooms.sort_by(|x, y| {
            y.last_activity
                .cmp(&x.last_activity)
                .then(x.room.name.cmp(&y.room.name))
        });
        Ok(rooms)
    }

    /// The public room directory, read page by page, in room-id order.
    ///
    /// # Errors
    /// See the impl docs.
    pub async fn public_rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        self.directory(false).await
    }

    /// Every room, private, archived and deleted ones included (server
    /// admins), read page by page, in room-id order.
    ///
    /// # Errors
    /// `Forbidden` for non-admins; see the impl docs.
    pub async fn all_rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        self.directory(true).await
    }

    async fn directory(&self, all: bool) -> Result<Vec<RoomInfo>, ClientError> {
        if let Some(rooms) = pages::read_all(|p| self.rooms_page(all, p)).await? {
            return Ok(rooms);
        }
        let body = if all {
            RequestBody::ListAllRooms
        } else {
            RequestBody::ListPublicRooms
        };
        expect!(self.request(body).await?, ResponseBody::Directory(r) => r, "Directory")
    }

    /// Creates a group room owned by the caller.
    ///
    /// # Errors
    /// `Conflict`, `InvalidName`, `LimitExceeded`; see the impl docs.
    pub async fn create_room(
        &self,
        name: &str,
        topic: &str,
        visibility: Visibility,
    ) -> Result<RoomInfo, ClientError> {
        let body = RequestBody::CreateRoom {
            name: name.to_owned(),
            topic: topic.to_owned(),
            visibility,
        };
        expect!(self.request(body).await?, ResponseBody::Room(r) => r, "Room")
    }

    /// Joins a room.
    ///
    /// # Errors
    /// `Forbidden`, `Banned`, `NotFound`; see the impl docs.
    pub async fn join_room(&self, room: RoomId) -> Result<RoomInfo, ClientError> {
        expect!(self.request(RequestBody::JoinRoom { room }).await?, ResponseBody::Room(r) => r, "Room")
    }

    /// Leaves a room.
    ///
    /// # Errors
    /// `NotMember`; see the impl docs.
    pub async fn leave_room(&self, room: RoomId) -> Result<(), ClientError> {
        expect!(self.request(RequestBody::LeaveRoom { room }).await?, ResponseBody::Ok => (), "Ok")
    }

    /// Adds a user to a room.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`; see the impl docs.
    pub async fn add_member(&self, room: RoomId, username: &str) -> Result<(), ClientError> {
        let body = RequestBody::AddMember {
            room,
            username: username.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::Ok => (), "Ok")
    }

    /// A room's members.
    ///
    /// # Errors
    /// `NotMember`; see the impl docs.
    pub async fn members(&self, room: RoomId) -> Result<Vec<MemberInfo>, ClientError> {
        if let Some(all) = pages::read_all(|p| self.members_page(room, p)).await? {
            return Ok(all);
        }
        expect!(self.request(RequestBody::ListMembers { room }).await?, ResponseBody::Members(m) => m, "Members")
    }

    /// The direct room with `username`, created if needed.
    ///
    /// # Errors
    /// `NotFound`, `Blocked`; see the impl docs.
    pub async fn open_direct(&self, username: &str) -> Result<RoomInfo, ClientError> {
        let body = RequestBody::OpenDirect {
            username: username.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::Room(r) => r, "Room")
    }

    /// Closes a room's stream.
    ///
    /// # Errors
    /// See the impl docs.
    pub async fn unsubscribe(&self, room: RoomId) -> Result<(), ClientError> {
        expect!(self.request(RequestBody::Unsubscribe { room }).await?, ResponseBody::Ok => (), "Ok")
    }

    /// Moves the read marker forward to `seq`.
    ///
    /// # Errors
    /// `NotMember`; see the impl docs.
    pub async fn mark_read(&self, room: RoomId, seq: Seq) -> Result<(), ClientError> {
        expect!(self.request(RequestBody::MarkRead { room, seq }).await?, ResponseBody::Ok => (), "Ok")
    }

    /// Creates an account (server admins). `password: None` makes a
    /// token-only account, e.g. for a bot.
    ///
    /// # Errors
    /// `Forbidden`, `Conflict`, `InvalidName`; see the impl docs.
    pub async fn create_user(
        &self,
        username: &str,
        password: Option<&str>,
        display_name: &str,
        org: &str,
        admin: bool,
    ) -> Result<UserInfo, ClientError> {
        let body = RequestBody::CreateUser {
            username: username.to_owned(),
            password: password.map(str::to_owned),
            display_name: display_name.to_owned(),
            org: org.to_owned(),
            admin,
        };
        expect!(self.request(body).await?, ResponseBody::User(u) => u, "User")
    }

    /// Lists accounts matching `query` (all when `None`), read page by
    /// page, in account-id order.
    ///
    /// # Errors
    /// `Forbidden`; see the impl docs.
    pub async fn list_users(&self, query: Option<&str>) -> Result<Vec<UserInfo>, ClientError> {
        if let Some(all) = pages::read_all(|p| self.list_users_page(query, p)).await? {
            return Ok(all);
        }
        let body = RequestBody::ListUsers {
            query: query.map(str::to_owned),
        };
        expect!(self.request(body).await?, ResponseBody::Users(u) => u, "Users")
    }

    /// One account.
    ///
    /// # Errors
    /// `NotFound`; see the impl docs.
    pub async fn get_user(&self, username: &str) -> Result<UserInfo, ClientError> {
        let body = RequestBody::GetUser {
            username: username.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::User(u) => u, "User")
    }

    /// Changes an account (server admins).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`; see the impl docs.
    pub async fn update_user(
        &self,
        username: &str,
        change: UserChange,
    ) -> Result<UserInfo, ClientError> {
        let body = RequestBody::UpdateUser {
            username: username.to_owned(),
            change,
        };
        expect!(self.request(body).await?, ResponseBody::User(u) => u, "User")
    }

    /// Creates an API token; returns its metadata and the secret (shown once).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`; see the impl docs.
    pub async fn create_token(
        &self,
        username: &str,
        label: &str,
    ) -> Result<(TokenInfo, String), ClientError> {
        let body = RequestBody::CreateToken {
            username: username.to_owned(),
            label: label.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::TokenCreated { info, secret } => (info, secret), "TokenCreated")
    }

    /// Lists tokens, optionally one user's.
    ///
    /// # Errors
    /// `Forbidden`; see the impl docs.
    pub async fn list_tokens(&self, username: Option<&str>) -> Result<Vec<TokenInfo>, ClientError> {
        if let Some(all) = pages::read_all(|p| self.tokens_page(username, p)).await? {
            return Ok(all);
        }
        let body = RequestBody::ListTokens {
            username: username.map(str::to_owned),
        };
        expect!(self.request(body).await?, ResponseBody::Tokens(t) => t, "Tokens")
    }

    /// Revokes a token by id.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`; see the impl docs.
    pub async fn revoke_token(&self, id: u64) -> Result<(), ClientError> {
        expect!(self.request(RequestBody::RevokeToken { id }).await?, ResponseBody::Ok => (), "Ok")
    }

    /// Changes the caller's own password after checking `old`; the
    /// caller's other login sessions end, this one stays.
    ///
    /// # Errors
    /// `AuthFailed` for a wrong `old`, `BadRequest` for a `new` that breaks
    /// the password rules, `Forbidden` for a token-only account; see the
    /// impl docs.
    pub async fn change_password(&self, old: &str, new: &str) -> Result<(), ClientError> {
        let body = RequestBody::ChangePassword {
            old: old.to_owned(),
            new: new.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::Ok => (), "Ok")
    }

    /// Changes the caller's own display name (empty: the username).
    ///
    /// # Errors
    /// `BadRequest` or `TooLarge` for a name that breaks the label rules;
    /// see the impl docs.
    pub async fn set_display_name(&self, display_name: &str) -> Result<UserInfo, ClientError> {
        let body = RequestBody::SetDisplayName {
            display_name: display_name.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::User(u) => u, "User")
    }
}
