//! Parsing IRC transcripts in the format of the Ubuntu IRC corpus: pure
//! text in, events out; no I/O and no server.
//!
//! ```text
//! [22:19] <nick> message text
//! [23:20]  * nick does something
//! === nick [user@host]  has joined #ubuntu
//! === nick [user@host]  has left #ubuntu ["Leaving"]
//! === old is now known as new
//! ```
//!
//! Times are `HH:MM` without a date. The date comes from the caller; when a
//! line's time is earlier than the previous line's, midnight has passed and
//! the date moves on by one day. Message text is kept byte for byte,
//! IRC control characters (colours `\x03`, bold `\x02`, `\x08`, ...) included.

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};

/// What one line of a transcript says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// `[HH:MM] <nick> text`.
    Message {
        /// Minutes after midnight, 0 to 1439.
        minute: u32,
        /// The speaker.
        nick: &'a str,
        /// The text, exactly as in the file (may be empty).
        text: &'a str,
    },
    /// `[HH:MM]  * nick text`, a `/me` action.
    Action {
        /// Minutes after midnight.
        minute: u32,
        /// The actor.
        nick: &'a str,
        /// What they did, exactly as in the file.
        text: &'a str,
    },
    /// `=== nick [...] has joined ...` (no time in the file).
    Joined {
        /// Who.
        nick: &'a str,
    },
    /// `=== nick [...] has left ...` (no time in the file).
    Left {
        /// Who.
        nick: &'a str,
    },
    /// `=== old is now known as new`.
    NickChange {
        /// The old nick.
        from: &'a str,
        /// The new nick.
        to: &'a str,
    },
    /// An empty line.
    Blank,
    /// Anything else; the reason says what it looked like.
    Unrecognised {
        /// A stable identifier of the reason (`no_time`, `separator`,
        /// ...), the key of `skipped_by_reason` in `import --json`.
        key: &'static str,
        /// Why it is not imported, for people.
        reason: &'static str,
    },
}

/// Parses one line (without its line ending).
pub fn parse_line(line: &str) -> Line<'_> {
    if line.trim().is_empty() {
        return Line::Blank;
    }
    if let Some(rest) = line.strip_prefix("=== ") {
        return parse_server_line(rest);
    }
    let Some((minute, rest)) = parse_time(line) else {
        return Line::Unrecognised {
            key: "no_time",
            reason: "no [HH:MM] time and not a === line",
        };
    };
    if let Some(body) = rest.strip_prefix(" <") {
        // The nick ends at the first '>'; nicks cannot contain one.
        let Some((nick, after)) = body.split_once('>') else {
            return Line::Unrecognised {
                key: "unclosed_nick",
                reason: "message line without a closing '>' after the nick",
            };
        };
        if nick.is_empty() {
            return Line::Unrecognised {
                key: "empty_nick",
                reason: "message line with an empty nick",
            };
        }
        // One space separates nick and text; anything more is text.
        let text = after.strip_prefix(' ').unwrap_or(after);
        return Line::Message { minute, nick, text };
    }
    if let Some(body) = rest.strip_prefix("  * ") {
        let (nick, text) = body.split_once(' ').unwrap_or((body, ""));
        if nick.is_empty() {
            return Line::Unrecognised {
                key: "empty_action_nick",
                reason: "action line with an empty nick",
            };
        }
        return Line::Action { minute, nick, text };
    }
    Line::Unrecognised {
        key: "unknown_timed_line",
        reason: "timed line that is neither <nick> text nor * action",
    }
}

fn parse_server_line(rest: &str) -> Line<'_> {
    if let Some((from, to)) = rest.split_once(" is now known as ") {
        let to = to.trim_end();
        if !from.contains(' ') && !to.is_empty() && !to.contains(' ') {
            return Line::NickChange { from, to };
        }
    }
    let nick = rest.split(' ').next().unwrap_or("");
    if rest.contains(" has joined #") {
        return Line::Joined { nick };
    }
    if rest.contains(" has left #") {
        return Line::Left { nick };
    }
    if rest.starts_with('=') {
        return Line::Unrecognised {
            key: "separator",
            reason: "separator line",
        };
    }
    if rest.split(' ').nth(1).is_some_and(|w| w.starts_with('[')) {
        return Line::Unrecognised {
            key: "untimed_notice",
            reason: "server notice without a time (mode or quit)",
        };
    }
    Line::Unrecognised {
        key: "untimed_action",
        reason: "untimed === action (no time to store it at)",
    }
}

/// `[HH:MM]` at the start of `line`: minutes after midnight and the rest.
fn parse_time(line: &str) -> Option<(u32, &str)> {
    let b = line.as_bytes();
    if b.len() < 7 || b[0] != b'[' || b[3] != b':' || b[6] != b']' {
        return None;
    }
    let hh: u32 = line.get(1..3)?.parse().ok()?;
    let mm: u32 = line.get(4..6)?.parse().ok()?;
    if hh > 23 || mm > 59 {
        return None;
    }
    Some((hh * 60 + mm, line.get(7..)?))
}

/// Turns `HH:MM` minutes into full UTC times, moving the date on a day each
/// time the clock goes backwards (midnight passed).
#[derive(Debug, Clone)]
pub struct Clock {
    date: NaiveDate,
    last: Option<u32>,
}

impl Clock {
    /// A clock starting on `date`.
    pub fn new(date: NaiveDate) -> Clock {
        Clock { date, last: None }
    }

    /// The time of a line at `minute` (0 to 1439), as UTC ms since the epoch.
    pub fn place(&mut self, minute: u32) -> u64 {
        if self.last.is_some_and(|last| minute < last)
            && let Some(next) = self.date.checked_add_days(Days::new(1))
        {
            self.date = next;
        }
        self.last = Some(minute);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(minute.min(1439) * 60, 0)
            .unwrap_or(NaiveTime::MIN);
        let ms = NaiveDateTime::new(self.date, time)
            .and_utc()
            .timestamp_millis();
        u64::try_from(ms).unwrap_or(0)
    }
}

/// The `YYYY-MM-DD` prefix of a file name, e.g. `2015-01-20.train-b.txt`.
pub fn date_from_file_name(name: &str) -> Option<NaiveDate> {
    let prefix = name.get(..10)?;
    NaiveDate::parse_from_str(prefix, "%Y-%m-%d").ok()
}

/// Splits a transcript into lines without their endings (`\n` or `\r\n`),
/// keeping every other byte.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_terminator('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_actions() {
        assert_eq!(
            parse_line("[22:19] <k1l> sabotender: in most cases its eth0"),
            Line::Message {
                minute: 22 * 60 + 19,
                nick: "k1l",
                text: "sabotender: in most cases its eth0"
            }
        );
        assert_eq!(
            parse_line("[11:25] <pirate> "),
            Line::Message {
                minute: 685,
                nick: "pirate",
                text: ""
            }
        );
        assert_eq!(
            parse_line("[22:19] <bob_>"),
            Line::Message {
                minute: 22 * 60 + 19,
                nick: "bob_",
                text: ""
            }
        );
        assert_eq!(
            parse_line("[23:20]  * porfa later"),
            Line::Action {
                minute: 23 * 60 + 20,
                nick: "porfa",
                text: "later"
            }
        );
        // Odd nicks are kept as they are.
        assert!(matches!(
            parse_line("[00:01] <|QuaD> hi"),
            Line::Message { nick: "|QuaD", .. }
        ));
    }

    #[test]
    fn control_characters_are_kept() {
        let line = "[19:34] <tdlm> \x08if that works \x0304red\x0f  two  spaces ";
        match parse_line(line) {
            Line::Message { text, .. } => {
                assert_eq!(text, "\x08if that works \x0304red\x0f  two  spaces ")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events() {
        assert_eq!(
            parse_line("=== cr is now known as Guest20062"),
            Line::NickChange {
                from: "cr",
                to: "Guest20062"
            }
        );
        assert_eq!(
            parse_line("=== `Yoda is now known as Yoder"),
            Line::NickChange {
                from: "`Yoda",
                to: "Yoder"
            }
        );
        assert_eq!(
            parse_line("=== joe [~joe@host.example]  has joined #ubuntu"),
            Line::Joined { nick: "joe" }
        );
        assert_eq!(
            parse_line("=== rake [~luc@x.fr]  has left #ubuntu [\"Leaving\"]"),
            Line::Left { nick: "rake" }
        );
        assert!(matches!(
            parse_line("=== sid77 hi"),
            Line::Unrecognised { .. }
        ));
        assert!(matches!(parse_line("garbage"), Line::Unrecognised { .. }));
        assert!(matches!(
            parse_line("[25:00] <a> b"),
            Line::Unrecognised { .. }
        ));
        assert_eq!(parse_line("   "), Line::Blank);
    }

    #[test]
    fn midnight_moves_the_date_on() {
        let d = NaiveDate::from_ymd_opt(2015, 1, 20).unwrap();
        let mut c = Clock::new(d);
        let t1 = c.place(23 * 60 + 59);
        let t2 = c.place(23 * 60 + 59);
        let t3 = c.place(2);
        let t4 = c.place(2);
        assert_eq!(t1, t2);
        assert_eq!(t1, 1_421_798_340_000); // 2015-01-20T23:59:00Z
        assert_eq!(t3 - t1, 3 * 60_000);
        assert_eq!(t3, t4);
        // A second midnight.
        c.place(23 * 60);
        let t5 = c.place(0);
        // 2015-01-22T00:00:00Z
        assert_eq!(t5, 1_421_798_400_000 + 86_400_000);
    }

    #[test]
    fn dates_and_lines() {
        assert_eq!(
            date_from_file_name("2015-01-20.train-b.txt"),
            NaiveDate::from_ymd_opt(2015, 1, 20)
        );
        assert_eq!(date_from_file_name("log.txt"), None);
        let v: Vec<&str> = lines("a\r\nb\n\nc").collect();
        assert_eq!(v, ["a", "b", "", "c"]);
    }
}
