//! Attachments in the timeline: a message with files shows one line per
//! file (name, size, type), names made display-safe; a deleted message
//! shows none.

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{Attachment, AttachmentId, RoomEventKind, RoomKind};
use chat_tui::action::Action;
use common::*;

fn with_files(
    mut ev: chat_protocol::RoomEvent,
    files: Vec<Attachment>,
) -> chat_protocol::RoomEvent {
    if let RoomEventKind::Message(m) = &mut ev.kind {
        m.attachments = files;
    }
    ev
}

fn file(id: u64, name: &str, size: u64, media_type: &str) -> Attachment {
    Attachment {
        id: AttachmentId(id),
        name: name.into(),
        size,
        media_type: media_type.into(),
        hash: "ab".repeat(32),
        width: None,
        height: None,
    }
}

#[test]
fn a_message_with_files_shows_an_attachment_line_per_file() {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![summary(
            info(1, "ward", RoomKind::Group, 2),
            0,
            0,
            T0,
        )])],
    );
    apply(
        &mut app,
        [
            Action::Room(with_files(
                msg(1, 1, T0, &bob(), "today's scans"),
                vec![
                    file(1, "흉부 X선 2026-03.png", 3_600_000, "image/png"),
                    file(2, "evil\u{1b}[2Jname.pdf", 512, "application/pdf"),
                ],
            )),
            Action::Room(msg(1, 2, T0 + MIN, &me(), "thanks")),
        ],
    );
    let screen = screen(&app, 100, 30);
    assert!(
        screen.contains("📎 흉부 X선 2026-03.png · 3.4 MiB · image/png"),
        "{screen}"
    );
    assert!(
        !screen.contains('\u{1b}'),
        "escape sequences are shown inert"
    );
    insta::assert_snapshot!("attachments", screen);
}

#[test]
fn slash_upload_asks_the_network_task_to_upload_to_the_open_room() {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![summary(
            info(1, "ward", RoomKind::Group, 0),
            0,
            0,
            T0,
        )])],
    );
    let mut fx = type_text(&mut app, "/upload /tmp/검사 결과.pdf");
    fx.extend(apply(&mut app, [key(crossterm::event::KeyCode::Enter)]));
    assert!(
        fx.contains(&chat_tui::effect::Effect::Upload {
            room: chat_protocol::RoomId(1),
            path: "/tmp/검사 결과.pdf".into(),
        }),
        "{fx:?}"
    );
}

/// A ward room with a message carrying two files (seq 1) and a newer plain
/// message (seq 2).
fn ward_with_files() -> (chat_tui::app::App, Vec<Attachment>) {
    let mut app = app();
    let files = vec![
        file(1, "흉부 X선.png", 3_600, "image/png"),
        file(2, "report.pdf", 512, "application/pdf"),
    ];
    apply(
        &mut app,
        [
            Action::Rooms(vec![summary(info(1, "ward", RoomKind::Group, 2), 0, 0, T0)]),
            Action::Room(with_files(msg(1, 1, T0, &bob(), "scans"), files.clone())),
            Action::Room(msg(1, 2, T0 + MIN, &me(), "thanks")),
        ],
    );
    (app, files)
}

#[test]
fn slash_download_saves_the_files_of_the_newest_message_that_has_some() {
    let (mut app, files) = ward_with_files();
    let mut fx = type_text(&mut app, "/download");
    fx.extend(apply(&mut app, [key(crossterm::event::KeyCode::Enter)]));
    assert!(
        fx.contains(&chat_tui::effect::Effect::Download {
            room: chat_protocol::RoomId(1),
            files,
            open: false,
        }),
        "{fx:?}"
    );
    let screen = screen(&app, 100, 30);
    assert!(
        screen.contains("downloading 흉부 X선.png, report.pdf"),
        "{screen}"
    );
}

#[test]
fn s_on_a_selected_message_saves_its_files_and_o_opens_the_first() {
    use crossterm::event::{KeyCode, KeyModifiers};
    let (mut app, files) = ward_with_files();
    // Alt-Up twice: the plain message, then the one with files.
    apply(
        &mut app,
        [
            key_mod(KeyCode::Up, KeyModifiers::ALT),
            key_mod(KeyCode::Up, KeyModifiers::ALT),
        ],
    );
    let fx = apply(&mut app, [key(KeyCode::Char('s'))]);
    assert_eq!(
        fx,
        vec![chat_tui::effect::Effect::Download {
            room: chat_protocol::RoomId(1),
            files: files.clone(),
            open: false,
        }]
    );
    assert!(app.composer.is_empty(), "s is an action, not typing");

    // The selection was used up; select the message with files again.
    apply(
        &mut app,
        [
            key_mod(KeyCode::Up, KeyModifiers::ALT),
            key_mod(KeyCode::Up, KeyModifiers::ALT),
        ],
    );
    let fx = apply(&mut app, [key(KeyCode::Char('o'))]);
    assert_eq!(
        fx,
        vec![chat_tui::effect::Effect::Download {
            room: chat_protocol::RoomId(1),
            files: files[..1].to_vec(),
            open: true,
        }]
    );
}

#[test]
fn s_on_a_message_without_files_says_so_and_types_nothing() {
    use crossterm::event::{KeyCode, KeyModifiers};
    let (mut app, _) = ward_with_files();
    apply(&mut app, [key_mod(KeyCode::Up, KeyModifiers::ALT)]);
    let fx = apply(&mut app, [key(KeyCode::Char('s'))]);
    assert!(fx.is_empty(), "{fx:?}");
    assert!(app.composer.is_empty());
    let screen = screen(&app, 100, 30);
    assert!(
        screen.contains("the selected message has no files"),
        "{screen}"
    );
}

/// An 8x8 PNG in two colours: red where `x < 4` and `y < 4` or neither,
/// blue elsewhere (a 2x2 checkerboard of 4-pixel squares).
fn checker_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 8, |x, y| {
        if (x < 4) == (y < 4) {
            image::Rgb([220, 30, 30])
        } else {
            image::Rgb([30, 60, 220])
        }
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[test]
fn an_image_attachment_is_fetched_once_and_shown_inline_with_half_blocks() {
    use ratatui::style::Color;
    let mut app = app();
    let png = file(7, "병동.png", 120, "image/png");
    let fx = apply(
        &mut app,
        [
            Action::Rooms(vec![summary(info(1, "ward", RoomKind::Group, 1), 0, 0, T0)]),
            Action::Room(with_files(
                msg(1, 1, T0, &bob(), "the ward"),
                vec![png.clone(), file(8, "notes.pdf", 512, "application/pdf")],
            )),
        ],
    );
    let fetches: Vec<_> = fx
        .iter()
        .filter(|e| matches!(e, chat_tui::effect::Effect::FetchPreview { .. }))
        .collect();
    assert_eq!(
        fetches,
        vec![&chat_tui::effect::Effect::FetchPreview {
            room: chat_protocol::RoomId(1),
            attachment: png.clone(),
        }],
        "only the image is fetched, once"
    );
    // Decoding is the network task's job (on the blocking pool); its
    // answer arrives as an action.
    let decoded = chat_tui::preview::decode(&checker_png()).unwrap();
    let fx = apply(
        &mut app,
        [Action::Preview {
            id: png.id,
            result: Ok(std::sync::Arc::new(decoded)),
        }],
    );
    assert!(fx.is_empty(), "nothing is fetched again: {fx:?}");

    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    term.draw(|f| chat_tui::ui::draw(f, &app)).unwrap();
    let buf = term.backend().buffer().clone();
    let screen = buffer_text(&buf);
    assert!(
        screen.contains("📎 병동.png · 120 B · image/png"),
        "{screen}"
    );
    // 8x8 pixels grow x2 to 16 columns by 8 rows of half-blocks.
    let rows: Vec<u16> = (0..buf.area.height)
        .filter(|&y| (0..buf.area.width).any(|x| buf[(x, y)].symbol() == "▀"))
        .collect();
    assert_eq!(rows.len(), 8, "{screen}");
    let y0 = rows[0];
    let x0 = (0..buf.area.width)
        .find(|&x| buf[(x, y0)].symbol() == "▀")
        .unwrap();
    let red = Color::Rgb(220, 30, 30);
    let blue = Color::Rgb(30, 60, 220);
    let colours = |x: u16, y: u16| (buf[(x, y)].fg, buf[(x, y)].bg);
    assert_eq!(colours(x0, y0), (red, red), "top left is red");
    assert_eq!(colours(x0 + 15, y0), (blue, blue), "top right is blue");
    assert_eq!(colours(x0, y0 + 7), (blue, blue), "bottom left is blue");
    assert_eq!(colours(x0 + 15, y0 + 7), (red, red), "bottom right is red");
    assert_ne!(buf[(x0 + 16, y0)].symbol(), "▀", "16 columns wide");
    // The snapshot keeps the colours too: per cell, upper then lower
    // pixel (R red, B blue).
    let letter = |c: Color| match c {
        c if c == red => 'R',
        c if c == blue => 'B',
        _ => '?',
    };
    let grid: String = rows
        .iter()
        .map(|&y| {
            let cells: String = (x0..x0 + 16)
                .flat_map(|x| [letter(buf[(x, y)].fg), letter(buf[(x, y)].bg)])
                .collect();
            format!("{cells}\n")
        })
        .collect();
    insta::assert_snapshot!(
        "image_preview",
        format!("{screen}\ncolours, upper and lower pixel per cell:\n{grid}")
    );
}

#[test]
fn a_failed_preview_leaves_the_attachment_line_and_is_not_asked_again() {
    let mut app = app();
    let png = file(7, "broken.png", 120, "image/png");
    apply(
        &mut app,
        [
            Action::Rooms(vec![summary(info(1, "ward", RoomKind::Group, 1), 0, 0, T0)]),
            Action::Room(with_files(msg(1, 1, T0, &bob(), "x"), vec![png.clone()])),
        ],
    );
    let err = chat_tui::preview::decode(b"not an image").unwrap_err();
    let fx = apply(
        &mut app,
        [Action::Preview {
            id: png.id,
            result: Err(err),
        }],
    );
    assert!(fx.is_empty(), "{fx:?}");
    let screen = screen(&app, 100, 30);
    assert!(screen.contains("📎 broken.png"), "{screen}");
    assert!(!screen.contains('▀'), "{screen}");
}

#[test]
fn previews_wait_for_a_connection_and_failed_ones_are_asked_again_after_reconnecting() {
    use chat_tui::effect::Effect;
    use chat_tui::state::ConnectionStatus;
    let mut app = app();
    let png = file(7, "x.png", 120, "image/png");
    let fetch = Effect::FetchPreview {
        room: chat_protocol::RoomId(1),
        attachment: png.clone(),
    };
    let offline = ConnectionStatus::Reconnecting {
        attempt: 1,
        retry_at: app.now,
        problem: None,
    };
    let online = ConnectionStatus::Connected {
        server: "chat.example.org:7443".into(),
        rtt_ms: Some(12),
    };
    let fx = apply(
        &mut app,
        [
            Action::Rooms(vec![summary(info(1, "ward", RoomKind::Group, 1), 0, 0, T0)]),
            Action::Connection(offline.clone()),
            Action::Room(with_files(msg(1, 1, T0, &bob(), "x"), vec![png.clone()])),
        ],
    );
    assert!(!fx.contains(&fetch), "nothing is fetched offline: {fx:?}");
    let fx = apply(&mut app, [Action::Connection(online.clone())]);
    assert!(fx.contains(&fetch), "fetched once connected: {fx:?}");
    // The fetch was cut by a lost connection: asked again on the next one,
    // not before.
    let fx = apply(
        &mut app,
        [
            Action::Connection(offline),
            Action::Preview {
                id: png.id,
                result: Err("connection lost".into()),
            },
        ],
    );
    assert!(!fx.contains(&fetch), "{fx:?}");
    let fx = apply(&mut app, [Action::Connection(online)]);
    assert_eq!(fx.iter().filter(|e| **e == fetch).count(), 1, "{fx:?}");
}
