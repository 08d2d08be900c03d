//! `tail ROOM [--since SEQ] [--follow]`: print a room's latest events, then
//! (with `--follow`) every new one as it is stored, across reconnects.
//!
//! Following uses `chat_client::session::Session`, which reconnects with
//! backoff, resubscribes from the last seq it delivered and drops replays,
//! so a server restart neither loses nor repeats an event.

use super::history::{scan_backward, scan_forward};
use super::room_by_name;
use crate::args::TailArgs;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, event_json, event_row};
use chat_client::session::{Auth, Backoff, Session, SessionConfig, SessionEvent};
use chat_protocol::{RoomEvent, Seq};

/// Runs `tail`.
///
/// # Errors
/// Request failures; with `--follow`, a failure reconnecting cannot fix
/// (token revoked, certificate changed) or the room closing.
pub async fn run(target: &Target, out: &Out, a: TailArgs) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let room = room_by_name(&conn, &a.room).await?;
    let print = |ev: &RoomEvent| -> Result<()> {
        if out.json() {
            out.json_line(&event_json(&room.name, ev))
        } else {
            out.table_row(&event_row(ev))
        }
    };
    let last = match a.since {
        Some(since) => scan_forward(&conn, &room, since, None, false, &print).await?,
        None => {
            let events =
                scan_backward(&conn, &room, 0, None, a.lines as usize, false, |_| true).await?;
            for ev in &events {
                print(ev)?;
            }
            events.last().map_or(room.head.0, |e| e.seq.0)
        }
    };
    if !a.follow {
        return Ok(());
    }
    drop(conn);
    follow(target, &room.name, room.id, Seq(last), &print).await
}

async fn follow(
    target: &Target,
    name: &str,
    room: chat_protocol::RoomId,
    since: Seq,
    print: &impl Fn(&RoomEvent) -> Result<()>,
) -> Result<()> {
    let cfg = SessionConfig {
        client: target.client_config(),
        auth: Auth::Token(target.token()?),
        backoff: Backoff::default(),
    };
    let (session, mut events) = Session::start(cfg);
    session.follow(room, since);
    let mut connected_once = false;
    let result = loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = tokio::signal::ctrl_c() => break Ok(()),
        };
        let Some(ev) = ev else {
            break Ok(());
        };
        match ev {
            SessionEvent::Room(e) if e.room == room => {
                if let Err(err) = print(&e) {
                    break Err(err);
                }
            }
            SessionEvent::Connected { .. } => {
                if connected_once {
                    eprintln!("chatctl: reconnected; resuming {name}");
                }
                connected_once = true;
            }
            SessionEvent::Disconnected { error } => {
                eprintln!("chatctl: {error}; reconnecting");
            }
            SessionEvent::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                eprintln!(
                    "chatctl: attempt {attempt} failed ({error}); next in {} ms",
                    delay.as_millis()
                );
            }
            SessionEvent::RoomClosed { reason, .. } => {
                break Err(CtlError::Invalid(format!(
                    "stopped following {name}: {reason}"
                )));
            }
            SessionEvent::FollowFailed { error, .. } => {
                break Err(CtlError::client(format!("cannot follow {name}"), error));
            }
            SessionEvent::Stopped { error } => {
                break match error {
                    Some(e) => Err(CtlError::client(format!("stopped following {name}"), e)),
                    None => Ok(()),
                };
            }
            _ => {}
        }
    };
    session.shutdown();
    result
}
