//! The tamper-evident audit log's wire types and canonical encodings.
//!
//! chatd appends every audit record (a [`ModerationRecord`]) to a Merkle
//! tree in the manner of Certificate Transparency (RFC 9162 §2.1): leaf
//! hash `SHA-256(0x00 || leaf bytes)`, node hash `SHA-256(0x01 || left ||
//! right)`. This module defines the two byte strings both sides must agree
//! on, so a client recomputes them from what it receives:
//!
//! - [`leaf_bytes`]: the canonical encoding of one record (the leaf);
//! - [`SignedTreeHead::signed_bytes`]: what chatd's Ed25519 key signs.
//!
//! Hashing and signing live in chatd and chatctl; this crate does no
//! cryptography and no I/O.

use crate::ids::Timestamp;
use crate::model::{Author, ModerationRecord};
use serde::{Deserialize, Serialize};

/// Length of a SHA-256 hash (a leaf, node or root hash), in bytes.
pub const HASH_LEN: usize = 32;
/// Length of an Ed25519 public key, in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature, in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// Version of the leaf encoding, its first element.
pub const LEAF_FORMAT: u8 = 1;
/// Most entries one `AuditEntries` request returns.
pub const MAX_AUDIT_ENTRIES: u32 = 256;
/// Longest reason or purpose of a `DeclareAccess`, in bytes.
pub const MAX_ACCESS_REASON_BYTES: usize = 1024;
/// Prefix of the bytes a tree head signature covers (domain separation:
/// a signature over a tree head can never be taken for one over anything
/// else).
pub const TREE_HEAD_CONTEXT: &[u8] = b"chatd audit tree head v1\0";

/// The leaf `id` denotes: audit record ids start at 1 and are dense, so
/// record `id` is leaf `id - 1`.
pub fn leaf_index(id: u64) -> Option<u64> {
    id.checked_sub(1)
}

#[derive(Serialize)]
struct LeafAuthor<'a>(u64, &'a str, &'a str, &'a str);

impl<'a> From<&'a Author> for LeafAuthor<'a> {
    fn from(a: &'a Author) -> Self {
        LeafAuthor(a.id.0, &a.username, &a.display_name, &a.org)
    }
}

#[derive(Serialize)]
struct Leaf<'a>(
    u8,
    u64,
    u64,
    LeafAuthor<'a>,
    Option<u64>,
    Option<LeafAuthor<'a>>,
    &'a str,
    &'a str,
);

/// The canonical leaf bytes of an audit record.
///
/// A MessagePack array, every integer and length in its shortest form:
/// `[LEAF_FORMAT, id, at_ms, actor, room_id or nil, target or nil, action,
/// reason]`, where an author is `[id, username, display_name, org]`.
/// Every field of the record is covered, so any change to a stored record
/// changes its leaf hash (pinned by `tests::leaf_bytes_known_answer`).
pub fn leaf_bytes(rec: &ModerationRecord) -> Vec<u8> {
    let leaf = Leaf(
        LEAF_FORMAT,
        rec.id,
        rec.at.0,
        (&rec.actor).into(),
        rec.room.map(|r| r.0),
        rec.target.as_ref().map(Into::into),
        &rec.action,
        &rec.reason,
    );
    // Tuple structs of integers, strings and options always encode.
    rmp_serde::to_vec(&leaf).unwrap_or_default()
}

/// A signed tree head: the audit log's size and Merkle root at a time,
/// signed with chatd's audit key. An auditor keeps one elsewhere (`chatctl
/// audit head --json > head.json`) and later checks the log against it.
///
/// Wire shape: a map with these fields; the byte strings are MessagePack
/// arrays of integers on the wire and lower-case hex in chatctl's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    /// Records in the log (leaves in the tree).
    pub tree_size: u64,
    /// The RFC 9162 Merkle tree hash of the first `tree_size` records,
    /// [`HASH_LEN`] bytes (SHA-256 of the empty string for an empty log).
    pub root_hash: Vec<u8>,
    /// When chatd signed it.
    pub at: Timestamp,
    /// chatd's Ed25519 public key, [`PUBLIC_KEY_LEN`] bytes.
    pub public_key: Vec<u8>,
    /// Ed25519 signature of [`SignedTreeHead::signed_bytes`],
    /// [`SIGNATURE_LEN`] bytes.
    pub signature: Vec<u8>,
}

impl SignedTreeHead {
    /// The bytes the signature covers: [`TREE_HEAD_CONTEXT`], then
    /// `tree_size` and `at` (ms) as big-endian u64, then the root hash.
    pub fn signed_bytes(tree_size: u64, at: Timestamp, root_hash: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(TREE_HEAD_CONTEXT.len() + 16 + root_hash.len());
        out.extend_from_slice(TREE_HEAD_CONTEXT);
        out.extend_from_slice(&tree_size.to_be_bytes());
        out.extend_from_slice(&at.0.to_be_bytes());
        out.extend_from_slice(root_hash);
        out
    }

    /// [`SignedTreeHead::signed_bytes`] of this head.
    pub fn message(&self) -> Vec<u8> {
        Self::signed_bytes(self.tree_size, self.at, &self.root_hash)
    }
}

/// One audit record with its inclusion proof (RFC 9162 §2.1.3) in the tree
/// of the requested size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The leaf index (the record's id minus one).
    pub index: u64,
    /// The record; `None` when it is missing from the store or cannot be
    /// decoded (see `problem`).
    pub record: Option<ModerationRecord>,
    /// Why `record` is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The audit path: sibling hashes from the leaf up, each
    /// [`HASH_LEN`] bytes.
    pub proof: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{RoomId, UserId};

    fn author(id: u64, name: &str) -> Author {
        Author {
            id: UserId(id),
            username: name.into(),
            display_name: name.to_uppercase(),
            org: "ward 7".into(),
        }
    }

    #[test]
    fn leaf_bytes_known_answer() {
        let rec = ModerationRecord {
            id: 1,
            at: Timestamp(1_700_000_000_000),
            actor: author(1, "admin"),
            room: Some(RoomId(2)),
            target: None,
            action: "ban".into(),
            reason: "spam".into(),
        };
        let hex: String = leaf_bytes(&rec)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // fixarray(8), 1, 1, uint64 ms, fixarray(4) author, 2, nil,
        // fixstr "ban", fixstr "spam".
        assert_eq!(
            hex,
            "980101cf0000018bcfe5680094\
             01a561646d696ea541444d494ea6776172642037\
             02c0a362616ea47370616d"
        );
    }

    #[test]
    fn every_field_changes_the_leaf() {
        let base = ModerationRecord {
            id: 3,
            at: Timestamp(5),
            actor: author(1, "a"),
            room: None,
            target: Some(author(2, "b")),
            action: "kick".into(),
            reason: String::new(),
        };
        let b = leaf_bytes(&base);
        let mut variants = Vec::new();
        let mut r = base.clone();
        r.id = 4;
        variants.push(r);
        let mut r = base.clone();
        r.at = Timestamp(6);
        variants.push(r);
        let mut r = base.clone();
        r.actor.org = "x".into();
        variants.push(r);
        let mut r = base.clone();
        r.room = Some(RoomId(0));
        variants.push(r);
        let mut r = base.clone();
        r.target = None;
        variants.push(r);
        let mut r = base.clone();
        r.action = "ban".into();
        variants.push(r);
        let mut r = base.clone();
        r.reason = "x".into();
        variants.push(r);
        for v in variants {
            assert_ne!(leaf_bytes(&v), b, "{v:?}");
        }
    }
}
