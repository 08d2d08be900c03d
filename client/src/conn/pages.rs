//! Lists read page by page (`List*Page` requests), so no answer outgrows a
//! frame however long the list. The plain wrappers in `api.rs`
//! (`my_rooms`, `public_rooms`, `all_rooms`, `list_users`, `members`,
//! `list_tokens`) page
//! through these and return the whole list; a server too old for the paged
//! kinds (it answers `BadRequest`) is asked with the unpaged kind instead.

use super::{Connection, unexpected};
use crate::ClientError;
use chat_protocol::{
    ErrorCode, MemberInfo, ModerationRecord, Page, PageRequest, RequestBody, ResponseBody, RoomId,
    RoomInfo, RoomSummary, TokenInfo, UserInfo,
};

/// Most pages one listing reads before giving up: with
/// [`chat_protocol::MAX_PAGE_ITEMS`] per page, ten million items.
const MAX_PAGES: usize = 10_000;

impl Connection {
    /// One page of accounts matching `query`, in account-id order.
    ///
    /// # Errors
    /// `BadRequest` for a bad limit; see the impl docs in `api.rs`.
    pub async fn list_users_page(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<UserInfo>, ClientError> {
        let body = RequestBody::ListUsersPage {
            query: query.map(str::to_owned),
            page,
        };
        expect!(self.request(body).await?, ResponseBody::UsersPage(p) => p, "UsersPage")
    }

    /// One page of the caller's rooms, in room-id order.
    ///
    /// # Errors
    /// See the impl docs in `api.rs`.
    pub async fn my_rooms_page(&self, page: PageRequest) -> Result<Page<RoomSummary>, ClientError> {
        let body = RequestBody::ListMyRoomsPage { page };
        expect!(self.request(body).await?, ResponseBody::RoomsPage(p) => p, "RoomsPage")
    }

    /// One page of the public directory, or with `all` (server admins) of
    /// every room, in room-id order.
    ///
    /// # Errors
    /// `Forbidden` for `all` from a non-admin; see the impl docs in `api.rs`.
    pub async fn rooms_page(
        &self,
        all: bool,
        page: PageRequest,
    ) -> Result<Page<RoomInfo>, ClientError> {
        let body = RequestBody::ListRoomsPage { all, page };
        expect!(self.request(body).await?, ResponseBody::DirectoryPage(p) => p, "DirectoryPage")
    }

    /// One page of token metadata (server admins), optionally one user's,
    /// in token-id order.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`; see the impl docs in `api.rs`.
    pub async fn tokens_page(
        &self,
        username: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<TokenInfo>, ClientError> {
        let body = RequestBody::ListTokensPage {
            username: username.map(str::to_owned),
            page,
        };
        expect!(self.request(body).await?, ResponseBody::TokensPage(p) => p, "TokensPage")
    }

    /// One page of the audit trail (server admins; room admins for their
    /// room), newest first.
    ///
    /// # Errors
    /// `Forbidden`; see the impl docs in `api.rs`.
    pub async fn moderation_log_page(
        &self,
        room: Option<RoomId>,
        page: PageRequest,
    ) -> Result<Page<ModerationRecord>, ClientError> {
        let body = RequestBody::ModerationLogPage { room, page };
        expect!(self.request(body).await?, ResponseBody::ModerationLogPage(p) => p, "ModerationLogPage")
    }

    /// The whole audit trail, newest first, read page by page; `None`
    /// from a server without paged lists (use
    /// [`Connection::moderation_log`], capped at 1,000 records, there).
    ///
    /// # Errors
    /// `Forbidden`; see the impl docs in `api.rs`.
    pub async fn moderation_log_all(
        &self,
        room: Option<RoomId>,
    ) -> Result<Option<Vec<ModerationRecord>>, ClientError> {
        read_all(|p| self.moderation_log_page(room, p)).await
    }

    /// One page of a room's members, in account-id order.
    ///
    /// # Errors
    /// `NotMember`, `NotFound`; see the impl docs in `api.rs`.
    pub async fn members_page(
        &self,
        room: RoomId,
        page: PageRequest,
    ) -> Result<Page<MemberInfo>, ClientError> {
        let body = RequestBody::ListMembersPage { room, page };
        expect!(self.request(body).await?, ResponseBody::MembersPage(p) => p, "MembersPage")
    }
}

/// Reads every page through `fetch`, or returns `Ok(None)` when the first
/// page is refused as `BadRequest` (a server without paged lists).
///
/// # Errors
/// `fetch`'s errors; `ProtocolViolation` when the server's cursor does
/// not move or the list runs past [`MAX_PAGES`].
pub(crate) async fn read_all<T, F, Fut>(mut fetch: F) -> Result<Option<Vec<T>>, ClientError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, ClientError>>,
{
    let mut out = Vec::new();
    let mut req = PageRequest::first();
    for n in 0..MAX_PAGES {
        let page = match fetch(req).await {
            Err(e) if n == 0 && e.code() == Some(ErrorCode::BadRequest) => return Ok(None),
            other => other?,
        };
        out.extend(page.items);
        match page.next {
            None => return Ok(Some(out)),
            // Cursors are opaque (some lists run newest first), but one
            // that does not change would never end.
            Some(next) if req.after != Some(next) => req = req.then(next),
            Some(next) => {
                return Err(ClientError::ProtocolViolation(format!(
                    "the server's page cursor stayed at {next}"
                )));
            }
        }
    }
    Err(ClientError::ProtocolViolation(format!(
        "a listing ran past {MAX_PAGES} pages"
    )))
}
