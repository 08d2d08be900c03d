//! The search results pane: one line per hit (room, sender, snippet with
//! the matches in bold), the highlighted hit reversed.

use super::popup::{centred, frame_block};
use super::theme;
use crate::app::{SearchPane, SearchResults};
use chat_protocol::SearchHit;
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

/// Hits shown at once; the list scrolls to keep the highlighted one in view.
pub const ROWS: usize = 12;

/// Draws the pane over `area`.
pub fn draw(frame: &mut Frame, area: Rect, pane: &SearchPane) {
    let rect = centred(area, 90, u16::try_from(ROWS).unwrap_or(12) + 5);
    frame.render_widget(Clear, rect);
    let title = format!("Search: {}", display_safe(&pane.query));
    let block = frame_block(&title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines = Vec::new();
    match &pane.results {
        SearchResults::Loading => lines.push(Line::styled(" searching…", theme::dim())),
        SearchResults::Failed(e) => {
            lines.push(Line::styled(format!(" {}", display_safe(e)), theme::dim()));
        }
        SearchResults::Loaded { hits, total } => {
            let shown = hits.len();
            lines.push(Line::styled(
                if *total as usize > shown {
                    format!(" {total} messages match; the newest {shown} are listed")
                } else {
                    format!(" {total} messages match")
                },
                theme::dim(),
            ));
            lines.push(Line::raw(""));
            let first = pane.selected.saturating_sub(ROWS - 1);
            for (i, hit) in hits.iter().enumerate().skip(first).take(ROWS) {
                lines.push(hit_line(hit, i == pane.selected));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                " ↑/↓ choose · Enter open in its room · Esc close · Ctrl-F reopen",
                theme::dim(),
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One hit: `#room sender: snippet`, matches in bold.
pub fn hit_line(hit: &SearchHit, selected: bool) -> Line<'static> {
    let base = if selected {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    };
    let room = if hit.room_name.is_empty() {
        "direct".to_owned()
    } else {
        format!("#{}", hit.room_name)
    };
    let mut spans = vec![Span::styled(
        format!(
            " {} {}: ",
            display_safe(&room),
            display_safe(&hit.sender.username)
        ),
        base.add_modifier(Modifier::DIM),
    )];
    let s = &hit.snippet;
    let mut at = 0usize;
    for &(a, b) in &hit.highlights {
        let (a, b) = (a as usize, b as usize);
        if a < at || b > s.len() || !s.is_char_boundary(a) || !s.is_char_boundary(b) {
            continue;
        }
        spans.push(Span::styled(flat(&s[at..a]), base));
        spans.push(Span::styled(
            flat(&s[a..b]),
            base.add_modifier(Modifier::BOLD),
        ));
        at = b;
    }
    spans.push(Span::styled(flat(&s[at..]), base));
    Line::from(spans)
}

/// Text made safe and put on one line.
fn flat(s: &str) -> String {
    display_safe(s).replace('\n', " ")
}
