//! Typed wrappers for the tamper-evident audit log (server admins): the
//! signed tree head, consistency proofs, records with inclusion proofs and
//! declared accesses. Same conventions as `api.rs`; the checks themselves
//! are the caller's (chatctl's `audit verify`).

use super::{Connection, unexpected};
use crate::ClientError;
use chat_protocol::audit::{AuditEntry, SignedTreeHead};
use chat_protocol::{Page, PageRequest, RequestBody, ResponseBody, RoomId};

impl Connection {
    /// The audit log's current head, signed by the server now.
    ///
    /// # Errors
    /// `Forbidden` unless a server admin.
    pub async fn audit_head(&self) -> Result<SignedTreeHead, ClientError> {
        expect!(self.request(RequestBody::AuditHead).await?, ResponseBody::AuditHead(h) => h, "AuditHead")
    }

    /// The consistency proof from the tree of `from_size` records to the
    /// tree of `to_size`: node hashes of 32 bytes.
    ///
    /// # Errors
    /// `BadRequest` unless `1 <= from_size <= to_size <=` the log's size;
    /// `Forbidden` unless a server admin.
    pub async fn audit_consistency(
        &self,
        from_size: u64,
        to_size: u64,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let body = RequestBody::AuditConsistency { from_size, to_size };
        expect!(self.request(body).await?, ResponseBody::AuditConsistency(p) => p, "AuditConsistency")
    }

    /// Records from leaf `from` on, with inclusion proofs in the tree of
    /// `tree_size` records; possibly fewer than `limit` (page by the last
    /// index returned).
    ///
    /// # Errors
    /// `BadRequest` for sizes outside the log or a `limit` outside 1 to
    /// [`chat_protocol::audit::MAX_AUDIT_ENTRIES`]; `Forbidden` unless a
    /// server admin.
    pub async fn audit_entries(
        &self,
        tree_size: u64,
        from: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ClientError> {
        let body = RequestBody::AuditEntries {
            tree_size,
            from,
            limit,
        };
        expect!(self.request(body).await?, ResponseBody::AuditEntries(e) => e, "AuditEntries")
    }

    /// One page of the heads the server stored, smallest size first.
    ///
    /// # Errors
    /// `Forbidden` unless a server admin.
    pub async fn audit_heads_page(
        &self,
        page: PageRequest,
    ) -> Result<Page<SignedTreeHead>, ClientError> {
        let body = RequestBody::AuditHeads { page };
        expect!(self.request(body).await?, ResponseBody::AuditHeads(p) => p, "AuditHeads")
    }

    /// Every head the server stored, smallest size first, page by page.
    ///
    /// # Errors
    /// As [`Connection::audit_heads_page`]; `ProtocolViolation` for a
    /// cursor that does not move.
    pub async fn audit_heads_all(&self) -> Result<Vec<SignedTreeHead>, ClientError> {
        Ok(super::pages::read_all(|p| self.audit_heads_page(p))
            .await?
            .unwrap_or_default())
    }

    /// Declares an access (e.g. `export`) and its reason before making it;
    /// the server records it in the audit log.
    ///
    /// # Errors
    /// `BadRequest` for a blank reason or a malformed purpose; `Forbidden`
    /// unless a server admin.
    pub async fn declare_access(
        &self,
        room: Option<RoomId>,
        purpose: &str,
        reason: &str,
    ) -> Result<(), ClientError> {
        let body = RequestBody::DeclareAccess {
            room,
            purpose: purpose.to_owned(),
            reason: reason.to_owned(),
        };
        match self.request(body).await? {
            ResponseBody::Ok => Ok(()),
            other => Err(unexpected("Ok", &other)),
        }
    }
}
