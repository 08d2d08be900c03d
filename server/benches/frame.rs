//! Encode and decode of one typical live message frame
//! (`RoomFrame::Event` carrying a ~100-byte IRC line), the per-delivery
//! codec cost on both ends of a room stream.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use chat_protocol::{
    Author, MessageEvent, MessageId, RoomEvent, RoomEventKind, RoomFrame, RoomId, Seq, Timestamp,
    UserId, frame,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn typical_frame() -> RoomFrame {
    let ts = Timestamp(1_700_000_000_000);
    RoomFrame::Event(RoomEvent {
        room: RoomId(42),
        seq: Seq(123_456),
        ts,
        sender: Author {
            id: UserId(7),
            username: "kleedrac".into(),
            display_name: "Kleedrac".into(),
            org: "ubuntu".into(),
        },
        kind: RoomEventKind::Message(MessageEvent {
            id: MessageId::new_at(ts),
            text: support::TYPICAL.into(),
            reply_to: None,
            mentions: Vec::new(),
            edited_at: None,
            deleted: None,
            reactions: Vec::new(),
            attachments: Vec::new(),
        }),
    })
}

fn bench_frame(c: &mut Criterion) {
    let value = typical_frame();
    let bytes = frame::encode(&value).unwrap();
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_message_event", |b| {
        b.iter(|| frame::encode(black_box(&value)).unwrap())
    });
    group.bench_function("decode_message_event", |b| {
        b.iter(|| {
            frame::decode::<RoomFrame>(black_box(&bytes))
                .unwrap()
                .unwrap()
        })
    });
    group.finish();
    eprintln!("frame: typical message frame is {} bytes", bytes.len());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_frame
}
criterion_main!(benches);
