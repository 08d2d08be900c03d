//! Frame I/O on QUIC streams. Reads never depend on chunk boundaries: the
//! length prefix and the body are each read whole with `read_exact`.

use chat_protocol::frame;
use serde::de::DeserializeOwned;

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer finished the stream cleanly between frames.
    #[error("stream finished")]
    Finished,
    /// The stream or connection failed.
    #[error("stream failed: {0}")]
    Stream(String),
    /// The bytes were not a valid frame.
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
}

/// Reads one frame from `recv`.
///
/// # Errors
/// [`ReadError::Finished`] at a clean end of stream, [`ReadError::Frame`]
/// for a bad frame (checked before the body is read when oversize).
pub async fn read_frame<T: DeserializeOwned>(recv: &mut quinn::RecvStream) -> Result<T, ReadError> {
    let mut len = [0u8; frame::HEADER_LEN];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Err(ReadError::Finished),
        Err(e) => return Err(ReadError::Stream(e.to_string())),
    }
    let len = frame::check_len(u32::from_be_bytes(len))?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| ReadError::Stream(e.to_string()))?;
    Ok(frame::decode_body(&body)?)
}
