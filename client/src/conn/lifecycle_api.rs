//! Typed wrappers for the message lifecycle and social requests: edits,
//! deletions, reactions, receipts, typing, presence, contacts, blocking,
//! notifications and moderation. Same conventions as `api.rs`.

use super::{Connection, unexpected};
use crate::ClientError;
use chat_protocol::{
    Contact, HistoryAnchor, HistoryPage, MessageAudit, ModAction, ModerationRecord, Notification,
    PresenceInfo, ReadReceipts, RequestBody, ResponseBody, RoomId, Seq, UserInfo,
};

macro_rules! ok {
    ($self:ident, $body:expr) => {
        match $self.request($body).await? {
            ResponseBody::Ok => Ok(()),
            other => Err(unexpected("Ok", &other)),
        }
    };
}

/// Every wrapper fails as [`Connection::request`] does; the server's codes
/// for each request are listed on its `RequestBody` variant.
impl Connection {
    /// Replaces the text of the caller's own message at `seq`.
    ///
    /// # Errors
    /// `Forbidden` (not yours), `NotFound`, `Archived`, `Muted`, `TooLarge`.
    pub async fn edit(&self, room: RoomId, seq: Seq, text: &str) -> Result<(), ClientError> {
        ok!(
            self,
            RequestBody::Edit {
                room,
                seq,
                text: text.to_owned()
            }
        )
    }

    /// Deletes the message at `seq` (own, or any as a room admin or owner).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `NotMember`.
    pub async fn delete(&self, room: RoomId, seq: Seq) -> Result<(), ClientError> {
        ok!(self, RequestBody::Delete { room, seq })
    }

    /// Toggles the caller's `emoji` reaction on the message at `seq`.
    ///
    /// # Errors
    /// `BadRequest` for an empty or over-long emoji, `NotFound`, `Muted`.
    pub async fn react(&self, room: RoomId, seq: Seq, emoji: &str) -> Result<(), ClientError> {
        ok!(
            self,
            RequestBody::React {
                room,
                seq,
                emoji: emoji.to_owned()
            }
        )
    }

    /// Every version of a message, deleted text included (server admins).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `NotFound`.
    pub async fn message_audit(&self, room: RoomId, seq: Seq) -> Result<MessageAudit, ClientError> {
        expect!(self.request(RequestBody::MessageAudit { room, seq }).await?, ResponseBody::Audit(a) => a, "Audit")
    }

    /// A history page with deleted messages' text (server admins).
    ///
    /// # Errors
    /// `Forbidden` for non-admins.
    pub async fn history_audit(
        &self,
        room: RoomId,
        anchor: HistoryAnchor,
        limit: u32,
    ) -> Result<HistoryPage, ClientError> {
        let body = RequestBody::History {
            room,
            anchor,
            limit,
            audit: true,
        };
        expect!(self.request(body).await?, ResponseBody::History(p) => p, "History")
    }

    /// Acknowledges receipt of the room's events up to `seq`.
    ///
    /// # Errors
    /// `NotMember`.
    pub async fn mark_delivered(&self, room: RoomId, seq: Seq) -> Result<(), ClientError> {
        ok!(self, RequestBody::MarkDelivered { room, seq })
    }

    /// Who has read (or received) the message at `seq`.
    ///
    /// # Errors
    /// `NotFound` for a room the caller is not in or a missing message.
    pub async fn read_by(&self, room: RoomId, seq: Seq) -> Result<ReadReceipts, ClientError> {
        expect!(self.request(RequestBody::ReadBy { room, seq }).await?, ResponseBody::Receipts(r) => r, "Receipts")
    }

    /// Tells the room the caller is typing (repeat every few seconds).
    ///
    /// # Errors
    /// `NotMember`.
    pub async fn typing(&self, room: RoomId) -> Result<(), ClientError> {
        ok!(self, RequestBody::Typing { room })
    }

    /// Sets or clears the caller's explicit away state.
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn set_away(&self, away: bool) -> Result<(), ClientError> {
        ok!(self, RequestBody::SetAway { away })
    }

    /// Presence of the named users (unknown names are left out).
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn presence(&self, usernames: &[&str]) -> Result<Vec<PresenceInfo>, ClientError> {
        // The server answers at most `MAX_PRESENCE_QUERY` names at a time.
        let mut out = Vec::new();
        for batch in usernames.chunks(chat_protocol::MAX_PRESENCE_QUERY) {
            let body = RequestBody::GetPresence {
                usernames: batch.iter().map(|s| (*s).to_owned()).collect(),
            };
            out.extend(
                expect!(self.request(body).await?, ResponseBody::Presence(p) => p, "Presence")?,
            );
        }
        Ok(out)
    }

    /// The caller's notifications, newest first, and the unread count.
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn notifications(
        &self,
        unread_only: bool,
    ) -> Result<(Vec<Notification>, u64), ClientError> {
        let body = RequestBody::ListNotifications { unread_only };
        expect!(self.request(body).await?, ResponseBody::Notifications { items, unread } => (items, unread), "Notifications")
    }

    /// Marks notifications with ids up to `up_to` read.
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn mark_notifications_read(&self, up_to: u64) -> Result<(), ClientError> {
        ok!(self, RequestBody::MarkNotificationsRead { up_to })
    }

    /// Adds a contact.
    ///
    /// # Errors
    /// `NotFound`, `BadRequest` (yourself).
    pub async fn add_contact(&self, username: &str) -> Result<(), ClientError> {
        ok!(
            self,
            RequestBody::AddContact {
                username: username.to_owned()
            }
        )
    }

    /// Removes a contact.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn remove_contact(&self, username: &str) -> Result<(), ClientError> {
        ok!(
            self,
            RequestBody::RemoveContact {
                username: username.to_owned()
            }
        )
    }

    /// The caller's contacts with presence.
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn contacts(&self) -> Result<Vec<Contact>, ClientError> {
        expect!(self.request(RequestBody::ListContacts).await?, ResponseBody::Contacts(c) => c, "Contacts")
    }

    /// Blocks (`true`) or unblocks a user.
    ///
    /// # Errors
    /// `NotFound`, `BadRequest` (yourself).
    pub async fn set_blocked(&self, username: &str, blocked: bool) -> Result<(), ClientError> {
        ok!(
            self,
            RequestBody::SetBlocked {
                username: username.to_owned(),
                blocked
            }
        )
    }

    /// Users the caller blocks.
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn blocked(&self) -> Result<Vec<UserInfo>, ClientError> {
        expect!(self.request(RequestBody::ListBlocked).await?, ResponseBody::Users(u) => u, "Users")
    }

    /// Applies a moderation action in `room`, recorded with `reason`.
    ///
    /// # Errors
    /// `Forbidden` (role too low), `NotMember`, `NotFound` (target).
    pub async fn moderate(
        &self,
        room: RoomId,
        action: ModAction,
        reason: &str,
    ) -> Result<(), ClientError> {
        ok!(
            self,
            RequestBody::Moderate {
                room,
                action,
                reason: reason.to_owned()
            }
        )
    }

    /// The moderation audit trail, newest first.
    ///
    /// # Errors
    /// `Forbidden` unless a server admin (or a room admin for their room).
    pub async fn moderation_log(
        &self,
        room: Option<RoomId>,
        limit: u32,
    ) -> Result<Vec<ModerationRecord>, ClientError> {
        let body = RequestBody::ModerationLog { room, limit };
        expect!(self.request(body).await?, ResponseBody::ModerationLog(l) => l, "ModerationLog")
    }
}
