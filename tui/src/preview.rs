//! Inline image previews: which attachments get one, decoding (done by the
//! network task on the blocking pool, never on the UI thread), and drawing
//! a decoded image with half-blocks sized to the conversation pane.
//!
//! Each cell is an upper half block `▀` whose foreground is the upper
//! pixel and whose background is the lower one, so a cell shows two
//! square-ish pixels in any terminal with true colour.

use crate::app::App;
use crate::effect::Effect;
use chat_protocol::{Attachment, AttachmentId};
use image::RgbImage;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use std::sync::Arc;

/// Largest file (bytes) fetched for a preview; bigger images show only
/// their attachment line (`/download` still saves them).
pub const MAX_PREVIEW_BYTES: u64 = 20 << 20;
/// Widest preview, in columns.
pub const MAX_COLS: usize = 40;
/// Tallest preview, in rows (two pixels each).
pub const MAX_ROWS: usize = 10;
/// The decoded image is shrunk to fit in this many pixels a side, so
/// drawing it each frame is cheap.
const THUMB_PIXELS: u32 = 2 * MAX_COLS as u32;
/// Largest width or height (pixels) a decoder accepts, and the most
/// memory it may allocate (bytes): a hostile "image" cannot exhaust memory.
const MAX_SIDE: u32 = 16_384;
const MAX_DECODE_ALLOC: u64 = 256 << 20;
/// Messages, newest first, of the open room scanned for images to preview.
const SCAN_MESSAGES: usize = 50;

/// A preview's state.
#[derive(Debug, Clone)]
pub enum Preview {
    /// Asked the network task for it.
    Loading,
    /// Decoded and shrunk to at most [`THUMB_PIXELS`] a side.
    Ready(Arc<RgbImage>),
    /// Could not be fetched or decoded; the reason, for the log.
    Failed(String),
}

/// Whether `a` gets an inline preview: a PNG, JPEG, GIF or WebP of at most
/// [`MAX_PREVIEW_BYTES`].
pub fn wants_preview(a: &Attachment) -> bool {
    matches!(
        a.media_type.to_ascii_lowercase().as_str(),
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/webp"
    ) && a.size <= MAX_PREVIEW_BYTES
}

/// Asks for previews of the images in the newest [`SCAN_MESSAGES`]
/// messages of the open room (up to where it is scrolled) that have none
/// yet, marking them loading so each is asked for once; nothing while
/// not connected.
pub fn request(app: &mut App, fx: &mut Vec<Effect>) {
    if !matches!(
        app.connection,
        crate::state::ConnectionStatus::Connected { .. }
    ) {
        return;
    }
    let Some(room) = app.active.and_then(|id| app.rooms.get(&id)) else {
        return;
    };
    let Some(bottom) = room.bottom_seq() else {
        return;
    };
    let mut wanted = Vec::new();
    for item in room
        .timeline
        .items_through(bottom)
        .filter_map(|i| i.message())
        .filter(|m| m.deleted_by.is_none())
        .take(SCAN_MESSAGES)
    {
        for a in &item.attachments {
            if wants_preview(a) && !app.previews.contains_key(&a.id) {
                wanted.push(a.clone());
            }
        }
    }
    let room = room.id;
    for attachment in wanted {
        app.previews.insert(attachment.id, Preview::Loading);
        fx.push(Effect::FetchPreview { room, attachment });
    }
}

/// Forgets the previews that failed, so they are asked for once more
/// (called when a connection is made: most failures are a lost one).
pub fn retry_failed(app: &mut App) {
    app.previews.retain(|_, p| !matches!(p, Preview::Failed(_)));
}

/// Records a fetched preview (or why there is none).
pub fn loaded(app: &mut App, id: AttachmentId, result: Result<Arc<RgbImage>, String>) {
    let preview = match result {
        Ok(img) => Preview::Ready(img),
        Err(e) => {
            tracing::debug!(%id, error = %e, "no preview");
            Preview::Failed(e)
        }
    };
    app.previews.insert(id, preview);
}

/// Decodes an image file's bytes (format from its content) and shrinks it
/// to fit [`THUMB_PIXELS`] a side. Blocking and CPU-bound: run it on the
/// blocking pool.
///
/// # Errors
/// A sentence when the bytes are not a PNG, JPEG, GIF or WebP image, or
/// exceed the decoder limits (16384 pixels a side, 256 MiB).
pub fn decode(bytes: &[u8]) -> Result<RgbImage, String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("cannot decode the image: {e}"))?;
    let img = if img.width() > THUMB_PIXELS || img.height() > THUMB_PIXELS {
        img.thumbnail(THUMB_PIXELS, THUMB_PIXELS)
    } else {
        img
    };
    Ok(img.to_rgb8())
}

/// The preview of `img` as lines of half-blocks at most `cols` wide (and
/// [`MAX_COLS`], [`MAX_ROWS`]), keeping its aspect ratio. Small images are
/// enlarged by a whole factor only, so their pixels stay crisp.
pub fn lines(img: &RgbImage, cols: usize) -> Vec<Line<'static>> {
    let (w, h) = (img.width().max(1), img.height().max(1));
    let max_w = cols.min(MAX_COLS) as f64;
    let max_h = (2 * MAX_ROWS) as f64;
    if max_w < 1.0 {
        return Vec::new();
    }
    let mut scale = (max_w / f64::from(w)).min(max_h / f64::from(h));
    if scale > 1.0 {
        scale = scale.floor();
    }
    let tw = ((f64::from(w) * scale).round() as u32).clamp(1, max_w as u32);
    let th = ((f64::from(h) * scale).round() as u32).clamp(1, max_h as u32);
    let small = image::imageops::resize(img, tw, th, image::imageops::FilterType::Nearest);
    let rgb = |x: u32, y: u32| {
        let p = small.get_pixel(x, y);
        Color::Rgb(p[0], p[1], p[2])
    };
    (0..th.div_ceil(2))
        .map(|row| {
            let (top, bottom) = (2 * row, 2 * row + 1);
            let spans: Vec<Span<'static>> = (0..tw)
                .map(|x| {
                    let bg = if bottom < th {
                        rgb(x, bottom)
                    } else {
                        Color::Reset
                    };
                    Span::styled("▀", Style::new().fg(rgb(x, top)).bg(bg))
                })
                .collect();
            Line::from(spans)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_colour(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |_, y| {
            if y % 2 == 0 {
                image::Rgb([200, 0, 0])
            } else {
                image::Rgb([0, 0, 200])
            }
        })
    }

    #[test]
    fn small_images_grow_by_a_whole_factor_and_keep_their_aspect() {
        let lines = lines(&two_colour(8, 4), 80);
        // 8x4 pixels, x5 fits 40 columns: 40 wide, 20 pixels = 10 rows.
        assert_eq!(lines.len(), 10);
        assert!(lines.iter().all(|l| l.spans.len() == 40));
    }

    #[test]
    fn a_narrow_pane_shrinks_the_preview() {
        let lines = lines(&two_colour(100, 100), 12);
        assert_eq!(lines.len(), 6);
        assert!(lines.iter().all(|l| l.spans.len() == 12));
        assert!(super::lines(&two_colour(8, 8), 0).is_empty());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = decode(b"\x89PNG\r\n\x1a\nnot really").unwrap_err();
        assert!(err.starts_with("cannot"), "{err}");
    }
}
