//! Shared fixtures of the storage and frame benchmarks: sample texts from
//! the IRC corpus, a seeded store, and a message append that does what
//! `handlers/messages.rs::store_message` does for a plain message.

#![allow(dead_code)] // each bench binary uses a different part

use chat_protocol::{IdempotencyKey, MessageId, Timestamp};
use chatd::store::records::*;
use chatd::store::{Store, StoreError, WriteCtx, WriteError, query};
use redb::ReadableTable;

/// Lines from `../shared/corpus/ubuntu-irc/2004-12-25.train-c.txt` (the text
/// after `[HH:MM] <nick> `), 27 to 107 bytes: typical chat message sizes.
pub const TEXTS: &[&str] = &[
    "kleedrac: I'm afraid not. Any version of mplayer except for -k7* should work for your cpu",
    "xine is working great for video and xmms works great for mp3's but some of my music is in .wma",
    "intinig: however, there's always gsvn, as in http://gsvn.tigris.org/",
    "but post processing with VLC is the way forward, it uses its own codecs (builtin)",
    "does a subversion gnome client exist?",
    "crimsun: Hmmm ... I wonder why it does that?",
    "intinig: I can't recommend one offhand; try a Google search for such",
    "all Ogg-based codecs are open source",
];

/// The ~100-byte text used for the single-message benchmarks (96 bytes).
pub const TYPICAL: &str = TEXTS[1];

/// The author of every benchmark message.
pub fn author(id: u64) -> AuthorRecord {
    AuthorRecord {
        id,
        username: format!("bench{id}"),
        display_name: format!("Bench User {id}"),
        org: "bench".into(),
    }
}

/// A stored message event as `store_message` builds it.
pub fn message_record(author_id: u64, ts: u64, text: &str) -> EventRecord {
    EventRecord {
        ts,
        sender: author(author_id),
        kind: EventKindRecord::Message {
            id: MessageId::new_at(Timestamp(ts)).0.to_string(),
            text: text.to_owned(),
            reply_to: None,
            mentions: Vec::new(),
            edited_at: None,
            deleted: None,
            reactions: Vec::new(),
        },
    }
}

/// Creates rooms `1..=rooms`, each with user `room` as its only member.
///
/// # Errors
/// A storage error.
pub fn seed_rooms(ctx: &mut WriteCtx<'_>, rooms: u64) -> Result<(), StoreError> {
    for id in 1..=rooms {
        let room = RoomRecord {
            kind: RoomKindRecord::Group,
            name: format!("bench-{id}"),
            topic: String::new(),
            public: true,
            archived: false,
            created_at: 0,
            head: 0,
            last_ts: 0,
            member_count: 1,
            pair: None,
            message_count: 0,
            deleted: false,
        };
        query::put_room(ctx, id, &room)?;
        let member = MemberRecord {
            role: RoleRecord::Owner,
            joined_at: 0,
            read_seq: 0,
            delivered_seq: 0,
            muted: false,
        };
        ctx.members.insert((id, id), encode(&member)?.as_slice())?;
    }
    Ok(())
}

/// Stores a message from user `room` in `room` the way a `Send` does: check
/// the idempotency key, load the room, check membership, append, save the
/// room, record the key. Returns the seq.
///
/// # Errors
/// A storage error; `NotMember` if the room was not seeded.
pub fn store_message(
    ctx: &mut WriteCtx<'_>,
    room_id: u64,
    key: &IdempotencyKey,
    text: &str,
) -> Result<u64, WriteError> {
    let user = room_id;
    let now = Timestamp::now().0;
    if ctx.idempotency.get((user, key.0.as_str()))?.is_some() {
        return Err(StoreError::Corrupt("benchmark keys are unique".into()).into());
    }
    let mut room: RoomRecord = match query::room(&ctx.rooms, room_id)? {
        Some(r) => r,
        None => return Err(StoreError::Corrupt("room not seeded".into()).into()),
    };
    if query::member(&ctx.members, room_id, user)?.is_none() {
        return Err(StoreError::Corrupt("member not seeded".into()).into());
    }
    let seq = query::append(ctx, room_id, &mut room, message_record(user, now, text))?;
    query::put_room(ctx, room_id, &room)?;
    let rec = IdempotencyRecord {
        room: room_id,
        seq,
        expires_at: now + chat_protocol::IDEMPOTENCY_TTL_MS,
    };
    ctx.idempotency
        .insert((user, key.0.as_str()), encode(&rec)?.as_slice())?;
    Ok(seq)
}

/// Opens a store in `dir` with `max_batch`.
///
/// # Panics
/// If the store cannot be opened (a benchmark setup failure).
pub fn open(dir: &std::path::Path, max_batch: usize) -> Store {
    #[allow(clippy::expect_used)]
    Store::open_with(
        &dir.join("bench.redb"),
        chatd::store::StoreOptions { max_batch },
    )
    .expect("open store")
}
