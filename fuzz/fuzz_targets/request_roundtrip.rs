//! Any body that decodes as a client frame encodes again, and the encoding
//! decodes to the same frame: what the server accepts it can also log,
//! store and echo without surprise.
#![no_main]

use chat_protocol::ClientFrame;
use chat_protocol::frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = frame::decode_body::<ClientFrame>(data) else {
        return;
    };
    // A compact (array) input can grow past the frame cap when re-encoded
    // with field names; that is a refusal, not a bug.
    let Ok(encoded) = frame::encode(&decoded) else {
        return;
    };
    let again: ClientFrame =
        frame::decode_body(&encoded[frame::HEADER_LEN..]).expect("its encoding decodes");
    assert_eq!(again, decoded);
});
