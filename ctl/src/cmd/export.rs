//! `export [--room ROOM]`: JSON Lines of every stored event of every room
//! the caller can see, for compliance archives.
//!
//! Rooms come from the caller's room list and the public directory. The
//! protocol has no "all rooms" listing yet, so private rooms and direct
//! conversations the caller is not a member of are not exported; the
//! command says so on stderr.

use super::history::scan_forward;
use super::room_by_name;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, event_json};
use std::collections::BTreeMap;

/// Runs `export`. Output is always JSON Lines, one event per line, in room
/// order then seq order, with the fields of `tail --json`.
///
/// # Errors
/// Request failures.
pub async fn run(target: &Target, out: &Out, room: Option<String>) -> Result<()> {
    let (conn, me) = target.connect_authed().await?;
    let rooms = match room {
        Some(name) => vec![room_by_name(&conn, &name).await?],
        None => {
            let mut all = BTreeMap::new();
            for s in conn
                .my_rooms()
                .await
                .map_err(|e| CtlError::client("cannot list your rooms", e))?
            {
                all.insert(s.room.id, s.room);
            }
            for r in conn
                .public_rooms()
                .await
                .map_err(|e| CtlError::client("cannot list public rooms", e))?
            {
                all.entry(r.id).or_insert(r);
            }
            if me.admin {
                eprintln!(
                    "chatctl: exporting your rooms and public rooms; the server cannot list \
                     private rooms you are not in yet"
                );
            }
            all.into_values().collect()
        }
    };
    for r in &rooms {
        scan_forward(&conn, r, 0, None, me.admin, |ev| {
            out.json_line(&event_json(&r.name, ev))
        })
        .await?;
    }
    Ok(())
}
