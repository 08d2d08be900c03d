//! Arbitrary bytes through every decoder a peer's bytes reach: the
//! streaming frame buffer (fed in two chunks at an input-chosen split, as
//! QUIC may deliver them) and the body decoders of every frame type, client
//! and server side. None may panic, whatever the input; each either yields
//! frames, asks for more bytes, or returns a `FrameError`.
#![no_main]

use chat_protocol::frame::{self, FrameBuf};
use chat_protocol::{
    ClientFrame, ClientFrameEnvelope, RoomFrame, ServerFrame, StreamHeader, UserEvent,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut buf = FrameBuf::new();
    buf.extend(a);
    while let Ok(Some(_)) = buf.next_frame::<ClientFrame>() {}
    buf.extend(b);
    while let Ok(Some(_)) = buf.next_frame::<ClientFrame>() {}

    let _ = frame::decode_body::<ClientFrame>(data);
    let _ = frame::decode_body::<ClientFrameEnvelope>(data);
    let _ = frame::decode_body::<ServerFrame>(data);
    let _ = frame::decode_body::<RoomFrame>(data);
    let _ = frame::decode_body::<UserEvent>(data);
    let _ = frame::decode_body::<StreamHeader>(data);
    let _ = frame::decode::<ServerFrame>(data);
});
