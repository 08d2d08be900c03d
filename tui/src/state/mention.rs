//! Whether a message addresses the user, and where, for unread badges,
//! alerts and highlighting: `@username` anywhere as a whole word, or
//! `username:` / `username,` at the start of a line (the IRC way of
//! addressing someone). Usernames are ASCII, compared without case.

use std::ops::Range;

/// Whether `text` mentions `username`.
pub fn mentions(text: &str, username: &str) -> bool {
    !ranges(text, username).is_empty()
}

/// Byte ranges of `text` that mention `username`: each `@username` and
/// each leading `username:` / `username,` (the name without the
/// punctuation), in order.
pub fn ranges(text: &str, username: &str) -> Vec<Range<usize>> {
    if username.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split('\n') {
        let lead = line.len() - line.trim_start().len();
        let at = line_start + lead;
        if name_at(text, at, username)
            && matches!(text[at + username.len()..].chars().next(), Some(':' | ','))
        {
            out.push(at..at + username.len());
        }
        line_start += line.len() + 1;
    }
    for (i, _) in text.match_indices('@') {
        let before_ok = text[..i].chars().next_back().is_none_or(|c| !word(c));
        if before_ok && name_at(text, i + 1, username) {
            // A trailing '.' or '-' ends a sentence, not the name.
            let after = text[i + 1 + username.len()..].trim_start_matches(['.', '-']);
            if after.chars().next().is_none_or(|c| !word(c)) {
                out.push(i..i + 1 + username.len());
            }
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

/// Whether `username` (ASCII, any case) starts at byte `at` of `text`.
fn name_at(text: &str, at: usize, username: &str) -> bool {
    text.get(at..at + username.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(username))
}

fn word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_mentions() {
        assert!(mentions("hey @alice, look", "alice"));
        assert!(mentions("@Alice.", "alice"));
        assert!(!mentions("hey @alicebob", "alice"));
        assert!(!mentions("mail bob@alice", "alice"));
        assert!(!mentions("alice", "alice"));
        assert!(mentions("안녕 @alice 님", "alice"));
    }

    #[test]
    fn addressed_at_the_start_of_a_line() {
        assert!(mentions("alice: can you check bed 4?", "alice"));
        assert!(mentions("Alice, ready?", "alice"));
        assert!(mentions("first line\n  alice: second", "alice"));
        assert!(!mentions("alice is here", "alice"));
        assert!(!mentions("ask alice: she knows", "alice"));
        assert!(!mentions("alicebob: hi", "alice"));
        assert_eq!(ranges("alice: ping @ALICE", "alice"), vec![0..5, 12..18]);
    }

    #[test]
    fn non_ascii_text_never_splits_a_character() {
        let found = ranges("İİİ @alice", "alice");
        assert_eq!((found.len(), found[0].start, found[0].end), (1, 7, 13));
        assert!(!mentions("é", "alice"));
    }
}
