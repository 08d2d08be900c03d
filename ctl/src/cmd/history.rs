//! `history ROOM`: the whole history (or a seq range), paged through the
//! server API, filtered by time, user and organization, printed as a
//! table, JSON Lines or CSV, with every edit version for server admins
//! (`--include-edits`). Also the paging helpers `tail` and `export` use.

use super::audit::{Versions, attach_versions, version_rows, versions_of};
use super::room_by_name;
use crate::args::HistoryArgs;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Format, Out, csv_field, event_json, event_row, rfc3339};
use chat_client::Connection;
use chat_protocol::{
    HistoryAnchor, HistoryPage, RequestBody, ResponseBody, RoomEvent, RoomEventKind, RoomInfo, Seq,
    Timestamp,
};
use chrono::{DateTime, NaiveDate, Utc};

/// The largest page to ask for, capped by the server's `max_history_page`.
pub fn page_size(conn: &Connection) -> u32 {
    conn.welcome().limits.max_history_page.clamp(1, 500)
}

/// One history page; `audit` (server admins) includes deleted messages' text.
///
/// # Errors
/// Request failures.
pub async fn fetch_page(
    conn: &Connection,
    room: &RoomInfo,
    anchor: HistoryAnchor,
    limit: u32,
    audit: bool,
) -> Result<HistoryPage> {
    let body = RequestBody::History {
        room: room.id,
        anchor,
        limit,
        audit,
    };
    let err = |e| CtlError::client(format!("cannot read the history of {}", room.name), e);
    match conn.request(body).await.map_err(err)? {
        ResponseBody::History(p) => Ok(p),
        _ => Err(CtlError::Invalid(
            "the server answered a history request with something else; report this".to_owned(),
        )),
    }
}

/// Pages forward through a room's history, oldest first, from `after`
/// (exclusive) to `before` (exclusive; `None`: up to the head as each page
/// is read). For callers that do more requests between pages.
pub struct Pager<'a> {
    conn: &'a Connection,
    room: &'a RoomInfo,
    before: Option<u64>,
    audit: bool,
    limit: u32,
    /// The seq of the last event returned.
    cursor: u64,
    done: bool,
}

impl<'a> Pager<'a> {
    /// A pager starting after seq `after`; `audit` (server admins) includes
    /// deleted messages' text.
    pub fn new(
        conn: &'a Connection,
        room: &'a RoomInfo,
        after: u64,
        before: Option<u64>,
        audit: bool,
    ) -> Pager<'a> {
        Pager {
            conn,
            room,
            before,
            audit,
            limit: page_size(conn),
            cursor: after,
            done: false,
        }
    }

    /// The next page of events (never empty), or `None` at the end.
    ///
    /// # Errors
    /// Request failures.
    pub async fn next_page(&mut self) -> Result<Option<Vec<RoomEvent>>> {
        if self.done {
            return Ok(None);
        }
        let anchor = HistoryAnchor::After(Seq(self.cursor));
        let page = fetch_page(self.conn, self.room, anchor, self.limit, self.audit).await?;
        self.done = !page.has_more || page.events.is_empty();
        let mut events = page.events;
        if let Some(b) = self.before
            && let Some(cut) = events.iter().position(|ev| ev.seq.0 >= b)
        {
            events.truncate(cut);
            self.done = true;
        }
        if let Some(last) = events.last() {
            self.cursor = last.seq.0;
        }
        Ok((!events.is_empty()).then_some(events))
    }

    /// The seq of the last event returned (or `after` if none).
    pub fn cursor(&self) -> u64 {
        self.cursor
    }
}

/// Calls `f` on every event with `after < seq < before` (`before: None`:
/// up to the head at each page), oldest first, paging forward. Returns the
/// seq of the last event seen (or `after`).
///
/// # Errors
/// Request failures and whatever `f` returns.
pub async fn scan_forward(
    conn: &Connection,
    room: &RoomInfo,
    after: u64,
    before: Option<u64>,
    audit: bool,
    mut f: impl FnMut(&RoomEvent) -> Result<()>,
) -> Result<u64> {
    let mut pager = Pager::new(conn, room, after, before, audit);
    while let Some(events) = pager.next_page().await? {
        for ev in &events {
            f(ev)?;
        }
    }
    Ok(pager.cursor())
}

/// The latest `n` events with `seq < before` that pass `keep`, oldest first,
/// paging backward.
///
/// # Errors
/// Request failures.
pub async fn scan_backward(
    conn: &Connection,
    room: &RoomInfo,
    after: u64,
    before: Option<u64>,
    n: usize,
    audit: bool,
    keep: impl Fn(&RoomEvent) -> bool,
) -> Result<Vec<RoomEvent>> {
    let limit = page_size(conn);
    let mut out = Vec::new();
    let mut anchor = match before {
        Some(b) => HistoryAnchor::Before(Seq(b)),
        None => HistoryAnchor::Latest,
    };
    'pages: while out.len() < n {
        let page = fetch_page(conn, room, anchor, limit, audit).await?;
        let Some(first) = page.events.first() else {
            break;
        };
        anchor = HistoryAnchor::Before(first.seq);
        for ev in page.events.iter().rev() {
            if ev.seq.0 <= after {
                break 'pages;
            }
            if keep(ev) {
                out.push(ev.clone());
                if out.len() >= n {
                    break 'pages;
                }
            }
        }
        if !page.has_more {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

/// Parses `--from`/`--to`: RFC 3339, or `YYYY-MM-DD` as midnight UTC
/// (for `--to`, the midnight after, so the day is included). Returns UTC ms.
///
/// # Errors
/// [`CtlError::Usage`] naming the accepted forms.
pub fn parse_date(value: &str, end_of_day: bool) -> Result<u64> {
    let ms = if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        t.with_timezone(&Utc).timestamp_millis()
    } else if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default()
    } else {
        return Err(CtlError::Usage(format!(
            "cannot read the date {value:?}; use YYYY-MM-DD or RFC 3339 such as 2015-01-20T22:19:00Z"
        )));
    };
    Ok(u64::try_from(ms).unwrap_or(0))
}

/// What `history` keeps.
#[derive(Debug, Default)]
struct Filter {
    from: Option<u64>,
    to: Option<u64>,
    user: Option<String>,
    org: Option<String>,
    all_events: bool,
}

impl Filter {
    fn keep(&self, ev: &RoomEvent) -> bool {
        // A purged message's stub stands in its place, so seqs show no gap.
        let is_message = matches!(
            ev.kind,
            RoomEventKind::Message(_) | RoomEventKind::Purged { edit_of: None, .. }
        );
        (self.all_events || is_message)
            && self.from.is_none_or(|f| ev.ts.0 >= f)
            && self.to.is_none_or(|t| ev.ts.0 < t)
            && self
                .user
                .as_ref()
                .is_none_or(|u| ev.sender.username.eq_ignore_ascii_case(u))
            && self
                .org
                .as_ref()
                .is_none_or(|o| ev.sender.org.eq_ignore_ascii_case(o))
    }
}

/// Runs `history`.
///
/// # Errors
/// [`CtlError::Usage`] for bad dates or conflicting formats;
/// [`CtlError::Auth`] (exit 4) for `--include-edits` without server-admin
/// rights; request failures.
pub async fn run(target: &Target, out: &Out, a: HistoryArgs) -> Result<()> {
    if a.csv && out.json() {
        return Err(CtlError::Usage("choose one of --csv and --json".to_owned()));
    }
    let filter = Filter {
        from: a
            .from
            .as_deref()
            .map(|d| parse_date(d, false))
            .transpose()?,
        to: a.to.as_deref().map(|d| parse_date(d, true)).transpose()?,
        user: a.user.clone(),
        org: a.org.clone(),
        all_events: a.all_events,
    };
    let format = if a.csv { Format::Csv } else { out.format };
    let (conn, me) = target.connect_authed().await?;
    if a.include_edits && !me.is_admin() {
        // The server would refuse each version request; say so before
        // printing anything rather than after the first edited message.
        return Err(CtlError::Auth(format!(
            "history --include-edits is for server admins only, and {} is not one; \
             drop --include-edits, or use an admin's token (`chatctl user set-admin`)",
            me.author.username
        )));
    }
    let room = room_by_name(&conn, &a.room).await?;
    if let Some(reason) = a.reason.as_deref().filter(|_| me.is_admin()) {
        conn.declare_access(Some(room.id), "history", reason)
            .await
            .map_err(|e| CtlError::client("cannot record the reason in the audit log", e))?;
    }
    let after = a.after.unwrap_or(0);
    let audit = a.include_deleted;
    let printer = Printer {
        out,
        format,
        room: &room.name,
    };
    let versions = async |events: &[RoomEvent]| {
        if a.include_edits {
            versions_of(&conn, &room, events).await
        } else {
            Ok(Versions::new())
        }
    };
    printer.header()?;
    match a.limit {
        Some(n) => {
            let events =
                scan_backward(&conn, &room, after, a.before, n, audit, |e| filter.keep(e)).await?;
            printer.rows(&events, &versions(&events).await?)?;
        }
        None if format == Format::Table => {
            // Aligned columns need every row first.
            let mut events = Vec::new();
            scan_forward(&conn, &room, after, a.before, audit, |e| {
                if filter.keep(e) {
                    events.push(e.clone());
                }
                Ok(())
            })
            .await?;
            printer.rows(&events, &versions(&events).await?)?;
        }
        None => {
            let mut pager = Pager::new(&conn, &room, after, a.before, audit);
            while let Some(mut events) = pager.next_page().await? {
                events.retain(|e| filter.keep(e));
                printer.rows(&events, &versions(&events).await?)?;
            }
        }
    }
    Ok(())
}

struct Printer<'a> {
    out: &'a Out,
    format: Format,
    room: &'a str,
}

const CSV_HEADER: &str = "room,seq,id,created_at,sender,display_name,org,type,text";

impl Printer<'_> {
    fn header(&self) -> Result<()> {
        if self.format == Format::Csv {
            self.out.line(CSV_HEADER)?;
        }
        Ok(())
    }

    /// Prints `events`; a message with an entry in `versions` is followed
    /// by its versions (JSON: a `versions` array on the message; CSV: one
    /// row of type `version` each; table: indented rows).
    fn rows(&self, events: &[RoomEvent], versions: &Versions) -> Result<()> {
        match self.format {
            Format::Json => {
                for ev in events {
                    let v = attach_versions(event_json(self.room, ev), ev.seq.0, versions);
                    self.out.json_line(&v)?;
                }
                Ok(())
            }
            Format::Csv => {
                for ev in events {
                    let v = event_json(self.room, ev);
                    let s = |k: &str| {
                        v.get(k)
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("")
                            .to_owned()
                    };
                    let row = |ts: Timestamp, ty: String, text: String| {
                        let fields = [
                            self.room.to_owned(),
                            ev.seq.0.to_string(),
                            s("id"),
                            rfc3339(ts),
                            ev.sender.username.clone(),
                            ev.sender.display_name.clone(),
                            ev.sender.org.clone(),
                            ty,
                            text,
                        ];
                        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                        line.join(",")
                    };
                    self.out.line(&row(ev.ts, s("type"), s("text")))?;
                    for ver in versions.get(&ev.seq.0).into_iter().flatten() {
                        self.out
                            .line(&row(ver.at, "version".to_owned(), ver.text.clone()))?;
                    }
                }
                Ok(())
            }
            Format::Table | Format::Tsv => {
                let mut rows = Vec::with_capacity(events.len());
                for ev in events {
                    rows.push(event_row(ev));
                    if let Some(v) = versions.get(&ev.seq.0) {
                        rows.extend(version_rows(v));
                    }
                }
                self.out
                    .table(&["seq", "time (UTC)", "sender", "text"], &rows)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("2015-01-20", false).unwrap(), 1_421_712_000_000);
        assert_eq!(
            parse_date("2015-01-20", true).unwrap(),
            1_421_712_000_000 + 86_400_000
        );
        assert_eq!(
            parse_date("2015-01-20T22:19:00Z", false).unwrap(),
            1_421_792_340_000
        );
        assert!(matches!(
            parse_date("20/01/2015", false),
            Err(CtlError::Usage(_))
        ));
    }
}
