//! Lines for one timeline entry: a message (with its reply quote, edited
//! marker, reactions, highlighted mentions of the user and "seen by" with
//! names), a tombstone, a notice, a pending message, or a day separator.
//! All user text passes through `display_safe`.

use super::theme;
use super::wrap::{truncate, width, wrap};
use crate::preview::Preview;
use crate::state::{
    Item, ItemKind, MessageView, Notice, Outgoing, OutgoingState, Timeline, mention,
};
use chat_protocol::text::display_safe;
use chat_protocol::{Author, Role, Timestamp};
use chrono::{DateTime, NaiveDate, Utc};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Image previews by attachment id, as kept in [`crate::app::App`].
pub type Previews = std::collections::HashMap<chat_protocol::AttachmentId, Preview>;

/// Columns before a message's text on continuation rows ("HH:MM ").
pub const INDENT: usize = 6;
/// Longest sender name shown, in columns.
const MAX_NAME: usize = 20;

/// The UTC date of a timestamp.
pub fn day(ts: Timestamp) -> NaiveDate {
    utc(ts).date_naive()
}

fn utc(ts: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ts.0).unwrap_or(i64::MAX)).unwrap_or_default()
}

/// `HH:MM` in UTC.
pub fn hhmm(ts: Timestamp) -> String {
    utc(ts).format("%H:%M").to_string()
}

/// A centred separator such as `── Tuesday 3 March 2026 ──`.
pub fn separator(label: &str, cols: usize) -> Line<'static> {
    let text = format!("── {label} ──");
    let pad = cols.saturating_sub(width(&text)) / 2;
    Line::from(vec![
        Span::raw(" ".repeat(pad)),
        Span::styled(text, theme::dim()),
    ])
}

/// The day-separator label: `Tuesday 3 March 2026`.
pub fn day_label(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}

/// The shown name of an author.
pub fn name(a: &Author) -> String {
    let n = if a.display_name.is_empty() {
        &a.username
    } else {
        &a.display_name
    };
    truncate(&display_safe(n), MAX_NAME)
}

/// Lines for one loaded item. `me` is the user's username, whose mentions
/// are highlighted. `seen` is set on the user's newest message and on the
/// selected one: the names of the other members who have read it, drawn as
/// "✓ seen by …" when there are any.
pub fn item_lines(
    item: &Item,
    timeline: &Timeline,
    cols: usize,
    me: Option<&str>,
    seen: Option<Vec<String>>,
    previews: &Previews,
) -> Vec<Line<'static>> {
    let time = hhmm(item.ts);
    match &item.kind {
        ItemKind::Message(m) if m.deleted_by.is_some() => {
            let by = m
                .deleted_by
                .as_deref()
                .map(display_safe)
                .unwrap_or_default();
            vec![Line::from(vec![
                Span::styled(format!("{time} "), theme::dim()),
                Span::styled(
                    format!("✗ message deleted by {}", truncate(&by, MAX_NAME)),
                    theme::dim().add_modifier(Modifier::ITALIC),
                ),
            ])]
        }
        ItemKind::Message(m) => message_lines(&time, m, timeline, cols, me, seen, previews),
        ItemKind::Hidden => Vec::new(),
        ItemKind::Notice(n) => {
            let who = name(&item.actor);
            let text = match n {
                Notice::Created(room) => format!("{who} created {}", display_safe(room)),
                Notice::Joined(u) if u.id == item.actor.id => format!("→ {who} joined"),
                Notice::Joined(u) => format!("→ {who} added {}", name(u)),
                Notice::Left(u) if u.id == item.actor.id => format!("← {who} left"),
                Notice::Left(u) => format!("← {who} removed {}", name(u)),
                Notice::Topic(t) => format!("{who} set the topic: {}", display_safe(t)),
                Notice::Visibility(true) => format!("{who} made the room public"),
                Notice::Visibility(false) => format!("{who} made the room private"),
                Notice::Kicked(u, why) => format!("⊘ {who} removed {}{}", name(u), reason(why)),
                Notice::Banned(u, why) => format!("⊘ {who} banned {}{}", name(u), reason(why)),
                Notice::Unbanned(u) => format!("{who} lifted the ban on {}", name(u)),
                Notice::Muted(u, true) => format!("{who} muted {}", name(u)),
                Notice::Muted(u, false) => format!("{who} unmuted {}", name(u)),
                Notice::RoleChanged(u, role) => {
                    let role = match role {
                        Role::Owner => "owner",
                        Role::Admin => "admin",
                        Role::Member => "member",
                    };
                    format!("{who} made {} {role}", name(u))
                }
                Notice::Archived => format!("{who} archived the room; it is read-only now"),
                Notice::Purged => {
                    format!("✗ a message by {who} was removed by the retention policy")
                }
            };
            let rows = wrap(
                &text,
                cols.saturating_sub(INDENT),
                cols.saturating_sub(INDENT),
            );
            rows.into_iter()
                .enumerate()
                .map(|(i, row)| {
                    let lead = if i == 0 {
                        format!("{time} ")
                    } else {
                        " ".repeat(INDENT)
                    };
                    Line::from(vec![
                        Span::styled(lead, theme::dim()),
                        Span::styled(row, theme::dim()),
                    ])
                })
                .collect()
        }
    }
}

/// `": reason"` for a moderation notice, or nothing when no reason was given.
fn reason(why: &str) -> String {
    if why.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", display_safe(why))
    }
}

fn message_lines(
    time: &str,
    m: &MessageView,
    timeline: &Timeline,
    cols: usize,
    me: Option<&str>,
    seen: Option<Vec<String>>,
    previews: &Previews,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(target) = m.reply_to {
        let quote = match timeline.get(target).map(|i| (&i.actor, &i.kind)) {
            Some((_, ItemKind::Message(q))) if q.deleted_by.is_some() => {
                "a deleted message".to_string()
            }
            Some((a, ItemKind::Message(q))) => {
                let first = display_safe(&q.text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                format!("{}: {first}", name(a))
            }
            _ => "an earlier message".to_string(),
        };
        let quote = truncate(&format!("↳ {quote}"), cols.saturating_sub(INDENT));
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(INDENT)),
            Span::styled(quote, theme::dim().add_modifier(Modifier::ITALIC)),
        ]));
    }
    let edited = m.edited.then_some(" (edited)");
    lines.extend(body_lines(
        time,
        theme::dim(),
        &m.sender,
        &m.text,
        edited,
        cols,
        me,
    ));
    for a in &m.attachments {
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(INDENT)),
            Span::raw(truncate(&attachment_line(a), cols.saturating_sub(INDENT))),
        ]));
        if let Some(Preview::Ready(img)) = previews.get(&a.id) {
            for mut line in crate::preview::lines(img, cols.saturating_sub(INDENT)) {
                line.spans.insert(0, Span::raw(" ".repeat(INDENT)));
                lines.push(line);
            }
        }
    }
    if !m.reactions.is_empty() {
        let text = m
            .reactions
            .iter()
            .map(|(emoji, users)| format!("{} {}", display_safe(emoji), users.len()))
            .collect::<Vec<_>>()
            .join("  ");
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(INDENT)),
            Span::raw(truncate(&text, cols.saturating_sub(INDENT))),
        ]));
    }
    if let Some(names) = seen.filter(|n| !n.is_empty()) {
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(INDENT)),
            Span::styled(seen_by(&names, cols.saturating_sub(INDENT)), theme::dim()),
        ]));
    }
    lines
}

/// `📎 name · 1.2 MiB · image/png`: one attachment of a message, its name
/// and type made display-safe.
pub fn attachment_line(a: &chat_protocol::Attachment) -> String {
    format!(
        "📎 {} · {} · {}",
        display_safe(&a.name),
        human_size(a.size),
        display_safe(&a.media_type)
    )
}

/// Bytes for people: `512 B`, `1.2 KiB`, `3.4 MiB`, `1.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `✓ seen by Bob, Carol` in at most `cols` columns; names that do not fit
/// become "and N others".
pub fn seen_by(names: &[String], cols: usize) -> String {
    let safe: Vec<String> = names.iter().map(|n| display_safe(n).into_owned()).collect();
    for shown in (1..=safe.len()).rev() {
        let rest = safe.len() - shown;
        let mut text = format!("✓ seen by {}", safe[..shown].join(", "));
        if rest > 0 {
            let other = if rest == 1 { "other" } else { "others" };
            text.push_str(&format!(" and {rest} {other}"));
        }
        if width(&text) <= cols {
            return text;
        }
    }
    truncate(&format!("✓ seen by {}", safe.len()), cols)
}

/// `HH:MM name: text…` wrapped, with an optional dim suffix on the last row
/// and mentions of `me` highlighted.
fn body_lines(
    time: &str,
    time_style: Style,
    sender: &Author,
    text: &str,
    suffix: Option<&str>,
    cols: usize,
    me: Option<&str>,
) -> Vec<Line<'static>> {
    let who = name(sender);
    let head = INDENT + width(&who) + 2;
    let safe = display_safe(text);
    let rows = wrap(
        &safe,
        cols.saturating_sub(head),
        cols.saturating_sub(INDENT),
    );
    let last = rows.len() - 1;
    let mut lines: Vec<Line<'static>> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut spans = if i == 0 {
                vec![
                    Span::styled(format!("{time} "), time_style),
                    Span::styled(who.clone(), theme::sender(sender.id)),
                    Span::raw(": "),
                ]
            } else {
                vec![Span::raw(" ".repeat(INDENT))]
            };
            spans.extend(highlighted(row, me));
            Line::from(spans)
        })
        .collect();
    if let Some(suffix) = suffix {
        let used = lines[last].width();
        if used + width(suffix) <= cols {
            lines[last].push_span(Span::styled(suffix.to_string(), theme::dim()));
        } else {
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(INDENT - 1)),
                Span::styled(suffix.to_string(), theme::dim()),
            ]));
        }
    }
    lines
}

/// A row of message text as spans, each mention of `me` in the mention
/// style (a mention cut by wrapping is drawn plain).
fn highlighted(row: String, me: Option<&str>) -> Vec<Span<'static>> {
    let ranges = me.map(|me| mention::ranges(&row, me)).unwrap_or_default();
    if ranges.is_empty() {
        return vec![Span::raw(row)];
    }
    let style = Style::default()
        .fg(Color::LightMagenta)
        .add_modifier(Modifier::BOLD);
    let mut spans = Vec::new();
    let mut at = 0;
    for r in ranges {
        if r.start < at {
            continue;
        }
        if r.start > at {
            spans.push(Span::raw(row[at..r.start].to_owned()));
        }
        spans.push(Span::styled(row[r.clone()].to_owned(), style));
        at = r.end;
    }
    if at < row.len() {
        spans.push(Span::raw(row[at..].to_owned()));
    }
    spans
}

/// Lines for a message still in the outbox, marked pending or failed.
pub fn pending_lines(o: &Outgoing, me: &Author, cols: usize) -> Vec<Line<'static>> {
    let suffix = match &o.state {
        OutgoingState::Pending | OutgoingState::Acked(_) => " ⋯ pending".to_string(),
        OutgoingState::Failed(why) => format!(" ✗ not sent ({}), will retry", display_safe(why)),
    };
    let mut lines = body_lines(
        &hhmm(o.created),
        theme::dim(),
        me,
        &o.text,
        Some(&suffix),
        cols,
        None,
    );
    for line in &mut lines {
        for span in line.spans.iter_mut().skip(1) {
            if span.style == Style::default() {
                span.style = theme::dim();
            }
        }
    }
    lines
}
