//! Files of a room: the file list, and the membership check the upload's
//! writer job repeats. Transfers themselves run on their own streams
//! (`crate::files::transfer`); sending a message with files is
//! `messages::send_job_with`.

use super::Reply;
use crate::session::Session;
use crate::store::{WriteCtx, WriteError, files as records, query};
use chat_protocol::{self as proto, ErrorBody, ErrorCode, ResponseBody};
use std::sync::Arc;

/// Refuses inside a writer job when `user` is not a member of `room`.
///
/// # Errors
/// [`ErrorCode::NotMember`] or [`ErrorCode::NotFound`] (see `rooms::member_room`).
pub(crate) fn member_check(ctx: &WriteCtx<'_>, room: u64, user: u64) -> Result<(), WriteError> {
    super::rooms::member_room(ctx, room, user).map(|_| ())
}

/// Refuses, in a read, a caller who is not a member of `room` now: a
/// missing or deleted room, and a private room the caller is not in, answer
/// exactly as a missing room does ([`super::rooms::no_such_room`]); a
/// non-member of a public room gets [`ErrorCode::NotMember`].
///
/// # Errors
/// As above; storage failures.
pub(crate) async fn require_member(
    session: &Session,
    user: u64,
    room: u64,
) -> Result<(), ErrorBody> {
    let (found, member) = session
        .read(move |r| {
            Ok((
                query::room(&r.rooms, room)?.filter(|x| !x.deleted),
                query::member(&r.members, room, user)?,
            ))
        })
        .await?;
    match (found, member) {
        (Some(_), Some(_)) => Ok(()),
        (Some(r), None) if r.public => Err(super::refuse(
            ErrorCode::NotMember,
            "you are not a member of this room; join it first",
        )),
        _ => Err(super::rooms::no_such_room()),
    }
}

/// `ListFiles`: the files of a room's live messages, newest first.
pub(super) async fn list(session: &Arc<Session>, room: u64) -> Reply {
    let me = session.authed()?;
    require_member(session, me.user, room).await?;
    let files = session
        .shared
        .store
        .read(move |txn| records::list_room(txn, room))
        .await?;
    Ok(ResponseBody::Files(
        files
            .into_iter()
            .map(|(id, rec)| proto::FileEntry {
                attachment: rec.to_wire(id),
                seq: proto::Seq(rec.message.unwrap_or(0)),
                uploader: proto::UserId(rec.uploader),
                ts: proto::Timestamp(rec.ts),
            })
            .collect(),
    ))
}
