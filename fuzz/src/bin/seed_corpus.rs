//! Writes the seed corpus: the protocol's own frames, one body per file,
//! into `corpus/<target>/` for each fuzz target. Run from `fuzz/`:
//! `cargo run --bin seed_corpus`.

use chat_protocol::{
    ClientFrame, HistoryAnchor, IdempotencyKey, ModAction, Request, RequestBody, RequestId,
    RoomFrame, RoomId, Seq, UserChange, Visibility, frame,
};
use std::path::Path;

fn main() -> std::io::Result<()> {
    let room = RoomId(7);
    let bodies = vec![
        RequestBody::Login {
            username: "alice".into(),
            password: "correct horse battery".into(),
        },
        RequestBody::Authenticate {
            token: "chat_1_00ff".into(),
        },
        RequestBody::Ping,
        RequestBody::WhoAmI,
        RequestBody::Send {
            room,
            key: IdempotencyKey::random(),
            text: "환자 혈압 120/80 bed 4 \u{1b}[31m".into(),
            reply_to: Some(Seq(3)),
        },
        RequestBody::History {
            room,
            anchor: HistoryAnchor::Before(Seq(100)),
            limit: 50,
            audit: false,
        },
        RequestBody::Subscribe {
            room,
            since: Seq(0),
        },
        RequestBody::CreateRoom {
            name: "ward-3".into(),
            topic: "Night shift".into(),
            visibility: Visibility::Private,
        },
        RequestBody::UpdateUser {
            username: "bob".into(),
            change: UserChange::Disabled(true),
        },
        RequestBody::Moderate {
            room,
            action: ModAction::Kick {
                username: "mallory".into(),
            },
            reason: "spam".into(),
        },
        RequestBody::React {
            room,
            seq: Seq(9),
            emoji: "👍".into(),
        },
    ];
    let mut client = vec![frame::encode(&ClientFrame::Hello(chat_protocol::Hello::current(
        "seed/1",
    )))
    .map_err(std::io::Error::other)?];
    for (i, body) in bodies.into_iter().enumerate() {
        let req = ClientFrame::Request(Request {
            id: RequestId(i as u64 + 1),
            body,
        });
        client.push(frame::encode(&req).map_err(std::io::Error::other)?);
    }
    let room_frames = [
        RoomFrame::CaughtUp { head: Seq(42) },
        RoomFrame::Closed { code: 17 },
    ];
    for target in ["frame_decoder", "request_roundtrip"] {
        let dir = Path::new("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        for (i, f) in client.iter().enumerate() {
            // The length-prefixed frame for the streaming decoder, the bare
            // body for the body decoders.
            let bytes = if target == "frame_decoder" {
                &f[..]
            } else {
                &f[frame::HEADER_LEN..]
            };
            std::fs::write(dir.join(format!("client-{i:02}")), bytes)?;
        }
        for (i, f) in room_frames.iter().enumerate() {
            let f = frame::encode(f).map_err(std::io::Error::other)?;
            std::fs::write(dir.join(format!("room-{i:02}")), &f[frame::HEADER_LEN..])?;
        }
    }
    Ok(())
}
