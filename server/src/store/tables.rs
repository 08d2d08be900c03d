//! Every redb table of chatd, with its key layout. Nothing else defines tables.
//!
//! Values are MessagePack (rmp-serde, named fields) encodings of the records
//! in [`super::records`], so fields can be added without a migration. Keys are
//! fixed-width integers or tuples of them where the table is range-scanned,
//! so redb's ordering is the order the server needs.

use redb::TableDefinition;

/// Counters and schema facts. Key: a name from [`meta`]. Value: u64.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Accounts. Key: user id. Value: [`super::records::UserRecord`].
pub const USERS: TableDefinition<u64, &[u8]> = TableDefinition::new("users");

/// Username index. Key: canonical (lowercase) username. Value: user id.
pub const USERNAMES: TableDefinition<&str, u64> = TableDefinition::new("usernames");

/// Session and API tokens. Key: token id. Value: [`super::records::TokenRecord`]
/// (which holds the SHA-256 digest of the secret, never the secret).
pub const TOKENS: TableDefinition<u64, &[u8]> = TableDefinition::new("tokens");

/// Rooms. Key: room id. Value: [`super::records::RoomRecord`], including the
/// room's head sequence number.
pub const ROOMS: TableDefinition<u64, &[u8]> = TableDefinition::new("rooms");

/// Room name index. Key: canonical group-room name, or `dm:{lo}:{hi}` (the two
/// user ids, smaller first) for a direct room. Value: room id.
pub const ROOM_NAMES: TableDefinition<&str, u64> = TableDefinition::new("room_names");

/// Memberships by room. Key: (room id, user id), so a room's members are one
/// range scan. Value: [`super::records::MemberRecord`].
pub const MEMBERS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("members");

/// Memberships by user: the "my rooms" index. Key: (user id, room id).
/// Value: unit (the record lives in [`MEMBERS`]).
pub const USER_ROOMS: TableDefinition<(u64, u64), ()> = TableDefinition::new("user_rooms");

/// The room timelines. Key: (room id, seq), so catch-up and history paging
/// are range scans in sequence order. Value: [`super::records::EventRecord`].
pub const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");

/// Idempotency keys. Key: (user id, key). Value:
/// [`super::records::IdempotencyRecord`] with the stored message's room and
/// seq and the key's expiry.
pub const IDEMPOTENCY: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("idempotency");

/// Earlier versions of edited messages. Key: (room id, seq, version number
/// from 0). Value: [`super::records::VersionRecord`]. The current text stays
/// in [`EVENTS`].
pub const VERSIONS: TableDefinition<(u64, u64, u32), &[u8]> = TableDefinition::new("versions");

/// Room bans. Key: (room id, user id). Value: [`super::records::BanRecord`].
pub const BANS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("bans");

/// Blocks. Key: (blocker id, blocked id). Value: unit.
pub const BLOCKS: TableDefinition<(u64, u64), ()> = TableDefinition::new("blocks");

/// Contacts. Key: (owner id, contact id). Value: time added, ms.
pub const CONTACTS: TableDefinition<(u64, u64), u64> = TableDefinition::new("contacts");

/// Reverse contact index, for presence fan-out. Key: (contact id, owner id).
/// Value: unit.
pub const CONTACT_OF: TableDefinition<(u64, u64), ()> = TableDefinition::new("contact_of");

/// Notifications. Key: (user id, notification id, increasing per user).
/// Value: [`super::records::NotificationRecord`].
pub const NOTIFICATIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("notifications");

/// The moderation audit trail. Key: record id (increasing). Value:
/// [`super::records::ModRecord`].
pub const MODLOG: TableDefinition<u64, &[u8]> = TableDefinition::new("modlog");

/// Stored files (attachments). Key: attachment id. Value:
/// [`super::files::AttachmentRecord`]. Written by `store::files` only.
pub const ATTACHMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("attachments");

/// Attachments by room, for file lists. Key: (room id, attachment id).
/// Value: unit.
pub const ROOM_FILES: TableDefinition<(u64, u64), ()> = TableDefinition::new("room_files");

/// Blob reference counts: how many attachment records name a content hash.
/// Key: BLAKE3 hex. Value: count. A blob whose count reaches zero is removed
/// from the blob store.
pub const BLOB_REFS: TableDefinition<&str, u64> = TableDefinition::new("blob_refs");

/// Bytes of files held per uploader and per room, for quotas. Key:
/// ([`super::files::USAGE_USER`] or [`super::files::USAGE_ROOM`], id).
/// Value: bytes.
pub const FILE_USAGE: TableDefinition<(u8, u64), u64> = TableDefinition::new("file_usage");

/// The audit log's Merkle tree: hashes of its complete subtrees. Key: the
/// node's index in the array layout (leaf `i` at `2i`; a node of level `k`
/// over leaves `[s, s + 2^k)` at `2s + 2^k - 1`). Value: 32-byte SHA-256.
/// Written by `store::audit_tree` only, in the transaction of the record.
pub const AUDIT_NODES: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_nodes");

/// Signed tree heads of the audit log. Key: tree size. Value:
/// [`super::audit_tree::HeadRecord`].
pub const AUDIT_HEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_heads");

/// Retention settings of rooms. Key: room id. Value:
/// [`super::retention::RetentionRecord`]. Written by `store::retention` only.
pub const ROOM_RETENTION: TableDefinition<u64, &[u8]> = TableDefinition::new("room_retention");

/// Retention settings of organisations. Key: the organisation name
/// trimmed, NFKC, lower case ([`super::retention::org_key`]). Value:
/// [`super::retention::RetentionRecord`]. Written by `store::retention` only.
pub const ORG_RETENTION: TableDefinition<&str, &[u8]> = TableDefinition::new("org_retention");

/// Blobs whose last reference went, waiting to be removed from the blob
/// store. Key: BLAKE3 hex. Value: when, ms. Written in the transaction
/// that dropped the last reference; the file is removed only by a later
/// writer job, after that transaction committed, and only if nothing
/// refers to the hash again (`store::files::remove_doomed`), so a
/// rolled-back transaction can never leave a record without its file.
pub const DOOMED_BLOBS: TableDefinition<&str, u64> = TableDefinition::new("doomed_blobs");

/// Calls the macro `$m` with the name of every table above, so code that
/// must visit each table (the backup, `store::snapshot`) is written once.
/// A table added above but not here is caught by
/// `store::snapshot::tests::every_table_is_in_the_backup`.
macro_rules! all_tables {
    ($m:ident) => {
        $m!(
            META,
            USERS,
            USERNAMES,
            TOKENS,
            ROOMS,
            ROOM_NAMES,
            MEMBERS,
            USER_ROOMS,
            EVENTS,
            IDEMPOTENCY,
            VERSIONS,
            BANS,
            BLOCKS,
            CONTACTS,
            CONTACT_OF,
            NOTIFICATIONS,
            MODLOG,
            ATTACHMENTS,
            ROOM_FILES,
            BLOB_REFS,
            FILE_USAGE,
            AUDIT_NODES,
            AUDIT_HEADS,
            ROOM_RETENTION,
            ORG_RETENTION,
            DOOMED_BLOBS
        )
    };
}
pub(crate) use all_tables;

/// Names of the counters in [`META`].
pub mod meta {
    /// Storage layout version; bumped by incompatible changes.
    pub const SCHEMA_VERSION: &str = "schema_version";
    /// Next user id to assign.
    pub const NEXT_USER: &str = "next_user";
    /// Next room id to assign.
    pub const NEXT_ROOM: &str = "next_room";
    /// Next token id to assign.
    pub const NEXT_TOKEN: &str = "next_token";
    /// Room events stored, across all rooms.
    pub const EVENT_COUNT: &str = "event_count";
    /// Next moderation record id.
    pub const NEXT_MODLOG: &str = "next_modlog";
    /// Next attachment id.
    pub const NEXT_ATTACHMENT: &str = "next_attachment";
    /// Records in the audit log's Merkle tree (`AUDIT_NODES`).
    pub const AUDIT_TREE_SIZE: &str = "audit_tree_size";
}

/// The storage layout version this build writes.
pub const SCHEMA_VERSION: u64 = 1;
