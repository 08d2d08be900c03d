//! Audit: the moderation/admin trail (`MODLOG`) and its tamper-evident
//! Merkle tree with signed heads (`store::audit_tree`).

use super::{Caller, refuse, rights};
use crate::store::audit_tree::{self, TreeReader};
use crate::store::kv::ReadTx;
use crate::store::records::{AuthorRecord, ModRecord, encode};
use crate::store::tables::meta;
use crate::store::{WriteCtx, WriteError};
use chat_protocol::audit::{AuditEntry, SignedTreeHead};
use chat_protocol::{self as proto, ErrorCode, Timestamp};

/// Signs a tree head: (tree size, root hash) to the signed head. The
/// server's audit key does it ([`crate::audit_key::AuditKey::sign`]).
pub type Signer = dyn Fn(u64, &[u8; 32]) -> SignedTreeHead + Send + Sync;

/// Records a moderation, account or admin action in the audit trail and
/// appends it to the audit log's Merkle tree, in the caller's transaction.
///
/// # Errors
/// A storage failure.
pub fn record(
    ctx: &mut WriteCtx<'_>,
    actor: &AuthorRecord,
    room: Option<u64>,
    target: Option<AuthorRecord>,
    action: &str,
    reason: &str,
) -> Result<(), WriteError> {
    let id = ctx.next_id(meta::NEXT_MODLOG)?;
    let rec = ModRecord {
        at: Timestamp::now().0,
        actor: actor.clone(),
        room,
        target,
        action: action.into(),
        reason: reason.into(),
    };
    ctx.modlog.insert(id, encode(&rec)?.as_slice())?;
    // The tree commits to the record in the same transaction.
    audit_tree::append_record(ctx, id, &rec)?;
    Ok(())
}

/// Records `action` (with `room` and `reason`) by `caller`, who must be a
/// server admin now (checked in the same transaction).
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] or [`ErrorCode::Forbidden`]; a storage
/// failure.
pub fn record_by_admin(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    room: Option<u64>,
    action: &str,
    reason: &str,
) -> Result<(), WriteError> {
    let me = AuthorRecord::of(caller.user, &rights::admin_actor(ctx, caller)?);
    record(ctx, &me, room, None, action, reason)
}

/// Signs the current tree head and stores it; with `always` false, only
/// when the log is not empty and no head of this size is stored yet.
/// Returns the head stored, if any.
///
/// # Errors
/// A storage failure.
pub fn sign_head(
    ctx: &mut WriteCtx<'_>,
    always: bool,
    signer: &Signer,
) -> Result<Option<SignedTreeHead>, WriteError> {
    let (size, root) = audit_tree::current(ctx)?;
    if !always && (size == 0 || audit_tree::has_head(ctx, size)?) {
        return Ok(None);
    }
    let head = signer(size, &root);
    audit_tree::store_head(ctx, &head)?;
    Ok(Some(head))
}

/// Brings the tree up to date with records written before it existed.
/// Returns the tree size.
///
/// # Errors
/// A storage failure.
pub fn catch_up(ctx: &mut WriteCtx<'_>) -> Result<u64, WriteError> {
    Ok(audit_tree::catch_up(ctx)?)
}

/// Stored heads from tree size `from` on, smallest first, at most `limit`.
///
/// # Errors
/// A storage failure.
pub fn heads(txn: &ReadTx, from: u64, limit: usize) -> Result<Vec<SignedTreeHead>, WriteError> {
    Ok(audit_tree::stored_heads(txn, from, limit)?)
}

/// The consistency proof between tree sizes `from` and `to`.
///
/// # Errors
/// [`ErrorCode::BadRequest`] unless `1 <= from <= to <=` the size now; a
/// storage failure.
pub fn consistency(txn: &ReadTx, from: u64, to: u64) -> Result<Vec<[u8; 32]>, WriteError> {
    let t = TreeReader::open(txn)?;
    if from == 0 || from > to || to > t.size {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "a consistency proof needs 1 <= from_size <= to_size <= {} (the log's size now); \
                 got {from} and {to}",
                t.size
            ),
        ));
    }
    Ok(t.consistency_proof(from, to)?)
}

/// Records `from..` of the tree of size `tree_size`, each with its
/// inclusion proof, at most `limit` and at most one page's bytes
/// ([`proto::MAX_PAGE_BYTES`]).
///
/// # Errors
/// [`ErrorCode::BadRequest`] unless `1 <= tree_size <=` the size now and
/// `from < tree_size`; a storage failure.
pub fn entries(
    txn: &ReadTx,
    tree_size: u64,
    from: u64,
    limit: u32,
) -> Result<Vec<AuditEntry>, WriteError> {
    let t = TreeReader::open(txn)?;
    if tree_size == 0 || tree_size > t.size || from >= tree_size {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "entries need 1 <= tree_size <= {} (the log's size now) and from < tree_size; got \
                 tree_size {tree_size}, from {from}",
                t.size
            ),
        ));
    }
    let end = tree_size.min(from.saturating_add(u64::from(limit)));
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for index in from..end {
        let (record, problem) = match t.record(index)? {
            Ok(r) => (Some(r), None),
            Err(p) => (None, Some(p)),
        };
        let entry = AuditEntry {
            index,
            record,
            problem,
            proof: t
                .inclusion_proof(tree_size, index)?
                .into_iter()
                .map(|h| h.to_vec())
                .collect(),
        };
        let len = proto::frame::encoded_len(&entry);
        if !out.is_empty() && bytes.saturating_add(len) > proto::MAX_PAGE_BYTES {
            break;
        }
        bytes = bytes.saturating_add(len);
        out.push(entry);
    }
    Ok(out)
}
