//! Shared fixtures of the storage and frame benchmarks: sample texts from
//! the IRC corpus and a seeded store. The writer benchmark sends through
//! chatd's own send job (`chatd::send_job`).

#![allow(dead_code)] // each bench binary uses a different part

use chat_protocol::{MessageId, Timestamp};
use chatd::store::records::*;
use chatd::store::{Store, StoreError, WriteCtx};

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
            attachments: Vec::new(),
        },
    }
}

/// Creates users and rooms `1..=rooms`; user `n` is the only member of
/// room `n`.
///
/// # Errors
/// A storage error.
pub fn seed_rooms(ctx: &mut WriteCtx<'_>, rooms: u64) -> Result<(), StoreError> {
    for id in 1..=rooms {
        let user = UserRecord {
            username: format!("bench{id}"),
            display_name: format!("Bench User {id}"),
            org: "bench".into(),
            admin: false,
            disabled: false,
            password_hash: None,
            created_at: 0,
            last_seen: None,
        };
        ctx.users.insert(id, encode(&user)?.as_slice())?;
        ctx.usernames.insert(user.username.as_str(), id)?;
        add_group_room(ctx, id, format!("bench-{id}"), &[(id, RoleRecord::Owner)])?;
    }
    Ok(())
}

/// Creates group room `id` with users `1..=members` (from [`seed_rooms`])
/// as its members: one busy room that every sender writes to.
///
/// # Errors
/// A storage error.
pub fn seed_shared_room(ctx: &mut WriteCtx<'_>, id: u64, members: u64) -> Result<(), StoreError> {
    let members: Vec<(u64, RoleRecord)> = (1..=members).map(|u| (u, RoleRecord::Member)).collect();
    add_group_room(ctx, id, format!("bench-shared-{id}"), &members)
}

/// Saves public group room `id` named `name` with `members` and their roles.
fn add_group_room(
    ctx: &mut WriteCtx<'_>,
    id: u64,
    name: String,
    members: &[(u64, RoleRecord)],
) -> Result<(), StoreError> {
    let room = RoomRecord {
        kind: RoomKindRecord::Group,
        name,
        topic: String::new(),
        public: true,
        archived: false,
        created_at: 0,
        head: 0,
        last_ts: 0,
        member_count: members.len() as u32,
        pair: None,
        message_count: 0,
        deleted: false,
        purged_below: 0,
    };
    ctx.put_room(id, &room);
    for &(user, role) in members {
        let member = MemberRecord {
            role,
            joined_at: 0,
            read_seq: 0,
            delivered_seq: 0,
            muted: false,
        };
        ctx.members
            .insert((id, user), encode(&member)?.as_slice())?;
    }
    Ok(())
}

/// Opens a store in `dir` with `max_batch`.
///
/// # Panics
/// If the store cannot be opened (a benchmark setup failure).
pub fn open(dir: &std::path::Path, max_batch: usize) -> Store {
    #[allow(clippy::expect_used)]
    Store::open_with(
        &dir.join("bench.redb"),
        chatd::store::StoreOptions {
            max_batch,
            ..Default::default()
        },
    )
    .expect("open store")
}
