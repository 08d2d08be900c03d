//! Typed wrappers for the retention requests (server admins): keep
//! periods, legal holds, and a purge pass on demand. See
//! [`chat_protocol::retention`] for the rules.

use super::{Connection, unexpected};
use crate::ClientError;
use chat_protocol::{
    Keep, PurgeReport, RequestBody, ResponseBody, RetentionInfo, RetentionScope, RetentionSetting,
};

/// Every wrapper fails as [`Connection::request`] does, and with
/// `Forbidden` for a caller who is not a server admin.
impl Connection {
    /// Sets (`Some`) or clears (`None`) the keep period of `scope`.
    ///
    /// # Errors
    /// `BadRequest` for a period outside 1 to
    /// [`chat_protocol::retention::MAX_KEEP_DAYS`] days or an empty
    /// organisation name, `NotFound` for an unknown room.
    pub async fn set_retention(
        &self,
        scope: RetentionScope,
        keep: Option<Keep>,
    ) -> Result<RetentionInfo, ClientError> {
        let body = RequestBody::SetRetention { scope, keep };
        expect!(self.request(body).await?, ResponseBody::Retention(i) => i, "Retention")
    }

    /// Puts a legal hold on `scope` (`hold: true`, `reason` required) or
    /// lifts it.
    ///
    /// # Errors
    /// `BadRequest` for a missing or too long reason, `NotFound` for an
    /// unknown room.
    pub async fn set_legal_hold(
        &self,
        scope: RetentionScope,
        hold: bool,
        reason: &str,
    ) -> Result<RetentionInfo, ClientError> {
        let body = RequestBody::SetLegalHold {
            scope,
            hold,
            reason: reason.to_owned(),
        };
        expect!(self.request(body).await?, ResponseBody::Retention(i) => i, "Retention")
    }

    /// The settings of `scope` and, for a room, the policy in force.
    ///
    /// # Errors
    /// `NotFound` for an unknown room.
    pub async fn get_retention(&self, scope: RetentionScope) -> Result<RetentionInfo, ClientError> {
        let body = RequestBody::GetRetention { scope };
        expect!(self.request(body).await?, ResponseBody::Retention(i) => i, "Retention")
    }

    /// Every stored retention setting.
    ///
    /// # Errors
    /// See the impl docs.
    pub async fn list_retention(&self) -> Result<Vec<RetentionSetting>, ClientError> {
        expect!(self.request(RequestBody::ListRetention).await?, ResponseBody::RetentionList(l) => l, "RetentionList")
    }

    /// Runs one purge pass on the server and returns what it removed.
    ///
    /// # Errors
    /// `Unavailable` while the store is degraded.
    pub async fn purge_now(&self) -> Result<PurgeReport, ClientError> {
        expect!(self.request(RequestBody::PurgeNow).await?, ResponseBody::Purged(r) => r, "Purged")
    }
}
