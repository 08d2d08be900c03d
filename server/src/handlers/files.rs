//! Files of a room: the file list, and the membership check the upload's
//! writer job repeats. Transfers themselves run on their own streams
//! (`crate::files::transfer`); sending a message with files is
//! `messages::send_job_with`.

use super::Reply;
use crate::session::Session;
use chat_protocol::{ErrorBody, ResponseBody};
use std::sync::Arc;

/// Refuses, in a read, a caller who is not a member of `room` now
/// ([`crate::store::ops::attachments::require_member`]).
///
/// # Errors
/// As above; storage failures.
pub(crate) async fn require_member(
    session: &Session,
    user: u64,
    room: u64,
) -> Result<(), ErrorBody> {
    Ok(session.shared.storage.require_member(user, room).await?)
}

/// `ListFiles`: the files of a room's live messages, newest first.
pub(super) async fn list(session: &Arc<Session>, room: u64) -> Reply {
    let me = session.authed()?;
    require_member(session, me.user, room).await?;
    let files = session.shared.storage.files(room).await?;
    Ok(ResponseBody::Files(files))
}
