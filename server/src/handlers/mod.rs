//! Request handlers: one module per area, each turning a request into
//! calls of the storage boundary (`Shared::storage`, see
//! `store::boundary`) and a response. Handlers never see bytes or
//! streams, and never tables or transactions.
//!
//! To add a request: add its variant in `chat-protocol`'s `RequestBody`,
//! route it in [`handle`], give it a rate class in [`rate::class_of`], and
//! write the handler in the module of its area.

mod access;
mod account;
pub(crate) mod audit_log;
mod files;
mod lifecycle;
mod messages;
mod moderation;
pub(crate) mod rate;
mod retention;
mod rooms;
mod search;
mod self_service;
mod server_info;
mod social;

pub(crate) use files::require_member;
pub use messages::{send_job, send_job_with};
pub(crate) use retention::{purge_pass, retention_actor};
pub(crate) use social::{announce_presence, persist_last_seen};

pub use access::require_admin;

use crate::session::Session;
use crate::store::{StoreError, WriteError};
use chat_protocol::{ErrorBody, ErrorCode, Request, RequestBody, RequestId, ResponseBody};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

/// A handler's result.
pub type Reply = Result<ResponseBody, ErrorBody>;

/// Routes one request. Sends are queued to the writer before this returns
/// (keeping a client's send order); everything else runs in its own task.
///
/// `permit` holds the request's place among the connection's requests in
/// flight (and, for a request that may answer large, among those too) until
/// its answer is queued.
pub fn dispatch(
    session: &Arc<Session>,
    req: Request,
    permit: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
) {
    let id = req.id;
    let session = session.clone();
    let kind = crate::metrics::request_kind(&req.body);
    let received = std::time::Instant::now();
    if let Err(refused) = admit(&session, &req.body) {
        session.shared.metrics.rate_limited.inc();
        tokio::spawn(
            async move {
                let reply = Err(refused);
                session.shared.metrics.request(&kind, &reply);
                session.respond(id, reply).await;
                drop(permit);
            }
            .in_current_span(),
        );
        return;
    }
    let send = match req.body {
        RequestBody::Send {
            room,
            key,
            text,
            reply_to,
        } => Ok(messages::submit_send(
            &session,
            room,
            key,
            text,
            reply_to,
            Vec::new(),
        )),
        RequestBody::SendWithAttachments {
            room,
            key,
            text,
            reply_to,
            attachments,
        } => Ok(messages::submit_send(
            &session,
            room,
            key,
            text,
            reply_to,
            attachments,
        )),
        body => Err(body),
    };
    match send {
        Ok(pending) => {
            tokio::spawn(
                async move {
                    let reply = match pending {
                        Ok(rx) => messages::await_send(rx).await,
                        Err(e) => Err(e),
                    };
                    let metrics = &session.shared.metrics;
                    metrics.request(&kind, &reply);
                    if reply.is_ok() {
                        metrics.send_acked(received.elapsed());
                    }
                    session.respond(id, reply).await;
                    drop(permit);
                }
                .in_current_span(),
            );
        }
        Err(body) => {
            tokio::spawn(
                async move {
                    let reply = handle(&session, id, body).await;
                    session.shared.metrics.request(&kind, &reply);
                    session.respond(id, reply).await;
                    drop(permit);
                }
                .in_current_span(),
            );
        }
    }
}

/// Takes the request's token from its rate class ([`rate::class_of`]) for
/// a logged-in user who is not a server admin. Requests before login are
/// left to `handle`, which refuses them (or to the login throttle).
fn admit(session: &Session, body: &RequestBody) -> Result<(), ErrorBody> {
    let class = rate::class_of(body);
    if class == rate::RateClass::Unlimited {
        return Ok(());
    }
    match session.authed() {
        Ok(a) if !a.admin => session
            .shared
            .limiter
            .check(class, a.user, std::time::Instant::now()),
        _ => Ok(()),
    }
}

async fn handle(session: &Arc<Session>, id: RequestId, body: RequestBody) -> Reply {
    if !body.allowed_unauthenticated() {
        session.authed()?;
    }
    match body {
        RequestBody::Login { username, password } => {
            account::login(session, username, password).await
        }
        RequestBody::Authenticate { token } => account::authenticate(session, token).await,
        RequestBody::Logout => account::logout(session).await,
        RequestBody::WhoAmI => account::who_am_i(session).await,
        RequestBody::Ping => Ok(ResponseBody::Ok),
        RequestBody::CreateUser {
            username,
            password,
            display_name,
            org,
            admin,
        } => account::create_user(session, username, password, display_name, org, admin).await,
        RequestBody::ListUsers { query } => account::list_users(session, query).await,
        RequestBody::GetUser { username } => account::get_user(session, username).await,
        RequestBody::UpdateUser { username, change } => {
            account::update_user(session, username, change).await
        }
        RequestBody::CreateToken { username, label } => {
            account::create_token(session, username, label).await
        }
        RequestBody::ListTokens { username } => account::list_tokens(session, username).await,
        RequestBody::RevokeToken { id } => account::revoke_token(session, id).await,
        RequestBody::CreateRoom {
            name,
            topic,
            visibility,
        } => rooms::create(session, name, topic, visibility).await,
        RequestBody::GetRoom { name } => rooms::get(session, name).await,
        RequestBody::ListMyRooms => rooms::list_mine(session).await,
        RequestBody::ListPublicRooms => rooms::directory(session, false).await,
        RequestBody::ListAllRooms => rooms::directory(session, true).await,
        RequestBody::JoinRoom { room } => rooms::join(session, room.0).await,
        RequestBody::LeaveRoom { room } => rooms::leave(session, room.0).await,
        RequestBody::AddMember { room, username } => rooms::add(session, room.0, username).await,
        RequestBody::ListMembers { room } => rooms::members(session, room.0).await,
        RequestBody::OpenDirect { username } => rooms::open_direct(session, username).await,
        RequestBody::Send { .. } => Err(ErrorBody::new(
            ErrorCode::Internal,
            "send was routed to the wrong handler; report this bug",
        )),
        RequestBody::Import {
            room,
            username,
            ts,
            key,
            text,
        } => messages::import(session, room.0, username, ts, key, text).await,
        RequestBody::History {
            room,
            anchor,
            limit,
            audit,
        } => messages::history(session, room.0, anchor, limit, audit).await,
        RequestBody::Subscribe { room, since } => {
            messages::subscribe(session, id, room.0, since.0).await
        }
        RequestBody::Unsubscribe { room } => {
            session.unsubscribe(room.0);
            Ok(ResponseBody::Ok)
        }
        RequestBody::MarkRead { room, seq } => {
            lifecycle::mark(session, room.0, seq, lifecycle::Marker::Read).await
        }
        RequestBody::MarkDelivered { room, seq } => {
            lifecycle::mark(session, room.0, seq, lifecycle::Marker::Delivered).await
        }
        RequestBody::Edit { room, seq, text } => {
            lifecycle::edit(session, room.0, seq.0, text).await
        }
        RequestBody::Delete { room, seq } => lifecycle::delete(session, room.0, seq.0).await,
        RequestBody::React { room, seq, emoji } => {
            lifecycle::react(session, room.0, seq.0, emoji).await
        }
        RequestBody::MessageAudit { room, seq } => {
            lifecycle::message_audit(session, room.0, seq.0).await
        }
        RequestBody::ReadBy { room, seq } => lifecycle::read_by(session, room.0, seq.0).await,
        RequestBody::Typing { room } => lifecycle::typing(session, room.0).await,
        RequestBody::SetAway { away } => social::set_away(session, away).await,
        RequestBody::GetPresence { usernames } => social::get_presence(session, usernames).await,
        RequestBody::AddContact { username } => social::add_contact(session, username).await,
        RequestBody::RemoveContact { username } => social::remove_contact(session, username).await,
        RequestBody::ListContacts => social::list_contacts(session).await,
        RequestBody::SetBlocked { username, blocked } => {
            social::set_blocked(session, username, blocked).await
        }
        RequestBody::ListBlocked => social::list_blocked(session).await,
        RequestBody::ListNotifications { unread_only } => {
            social::list_notifications(session, unread_only).await
        }
        RequestBody::MarkNotificationsRead { up_to } => {
            social::mark_notifications_read(session, up_to).await
        }
        RequestBody::Moderate {
            room,
            action,
            reason,
        } => moderation::moderate(session, room.0, action, reason).await,
        RequestBody::ModerationLog { room, limit } => moderation::log(session, room, limit).await,
        RequestBody::ServerInfo => Ok(server_info::info(session)),
        RequestBody::ServerStats => server_info::stats(session).await,
        RequestBody::ChangePassword { old, new } => {
            self_service::change_password(session, old, new).await
        }
        RequestBody::SetDisplayName { display_name } => {
            self_service::set_display_name(session, display_name).await
        }
        RequestBody::ListUsersPage { query, page } => {
            account::list_users_page(session, query, page).await
        }
        RequestBody::ListMyRoomsPage { page } => rooms::list_mine_page(session, page).await,
        RequestBody::ListRoomsPage { all, page } => rooms::directory_page(session, all, page).await,
        RequestBody::ListMembersPage { room, page } => {
            rooms::members_page(session, room.0, page).await
        }
        RequestBody::ListTokensPage { username, page } => {
            account::list_tokens_page(session, username, page).await
        }
        RequestBody::ModerationLogPage { room, page } => {
            moderation::log_page(session, room, page).await
        }
        RequestBody::Search(query) => search::search(session, query).await,
        RequestBody::SearchStatus => search::status(session).await,
        RequestBody::Reindex => search::reindex(session).await,
        RequestBody::SendWithAttachments { .. } => Err(ErrorBody::new(
            ErrorCode::Internal,
            "send was routed to the wrong handler; report this bug",
        )),
        RequestBody::ListFiles { room } => files::list(session, room.0).await,
        RequestBody::AuditHead => audit_log::head(session).await,
        RequestBody::AuditConsistency { from_size, to_size } => {
            audit_log::consistency(session, from_size, to_size).await
        }
        RequestBody::AuditEntries {
            tree_size,
            from,
            limit,
        } => audit_log::entries(session, tree_size, from, limit).await,
        RequestBody::DeclareAccess {
            room,
            purpose,
            reason,
        } => audit_log::declare_access(session, room, purpose, reason).await,
        RequestBody::AuditHeads { page } => audit_log::heads(session, page).await,
        RequestBody::SetRetention { scope, keep } => {
            retention::set_retention(session, scope, keep).await
        }
        RequestBody::SetLegalHold {
            scope,
            hold,
            reason,
        } => retention::set_legal_hold(session, scope, hold, reason).await,
        RequestBody::GetRetention { scope } => retention::get_retention(session, scope).await,
        RequestBody::ListRetention => retention::list_retention(session).await,
        RequestBody::PurgeNow => retention::purge_now(session).await,
    }
}

/// The error for a storage failure: logged in full, reported in general terms.
pub fn internal(e: impl std::fmt::Display) -> ErrorBody {
    tracing::error!(error = %e, "storage failure");
    ErrorBody::new(
        ErrorCode::Internal,
        "the server could not complete the request because of a storage failure; \
         retry, and tell the server admin if it persists",
    )
}

/// How long a client is asked to wait before retrying a write the store
/// could not take (degraded or reopening), in ms.
pub const UNAVAILABLE_RETRY_MS: u64 = 1_000;

impl From<StoreError> for ErrorBody {
    /// `Unavailable` (retryable: nothing was stored) for a store that is
    /// degraded or shutting down; `Internal` for every other failure.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => ErrorBody {
                code: ErrorCode::Unavailable,
                message: why,
                retry_after_ms: Some(UNAVAILABLE_RETRY_MS),
            },
            StoreError::WriterGone => {
                ErrorBody::new(ErrorCode::Unavailable, crate::store::health::SHUTTING_DOWN)
            }
            e => internal(e),
        }
    }
}

impl From<WriteError> for ErrorBody {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Rejected(e) => e,
            WriteError::Store(e) => e.into(),
        }
    }
}

/// Shorthand for a refusal.
pub fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}
