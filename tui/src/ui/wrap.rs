//! Word wrapping by display width (East Asian wide characters and emoji
//! take two columns), so the conversation knows each message's height.

use unicode_width::UnicodeWidthChar;

/// Display width of `s` in terminal columns.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Splits `text` into rows: the first at most `first` columns wide, the
/// rest at most `rest`. Breaks at spaces where possible and inside words
/// that do not fit; keeps explicit newlines. Always returns at least one row.
pub fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let (first, rest) = (first.max(1), rest.max(1));
    let mut rows: Vec<String> = Vec::new();
    for para in text.split('\n') {
        let mut row = String::new();
        let mut row_w = 0;
        let limit = |rows: &Vec<String>| if rows.is_empty() { first } else { rest };
        for word in split_keep_spaces(para) {
            let w = width(word);
            if row_w + w <= limit(&rows) {
                row.push_str(word);
                row_w += w;
                continue;
            }
            if word == " " {
                // A space at a break point is dropped.
                rows.push(std::mem::take(&mut row));
                row_w = 0;
                continue;
            }
            if row_w > 0 && w <= rest {
                rows.push(std::mem::take(&mut row).trim_end().to_string());
                row.push_str(word);
                row_w = w;
                continue;
            }
            // The word is longer than a row: break it by characters.
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if row_w + cw > limit(&rows) && row_w > 0 {
                    rows.push(std::mem::take(&mut row));
                    row_w = 0;
                }
                row.push(c);
                row_w += cw;
            }
        }
        rows.push(row);
    }
    rows
}

/// Splits into words and single spaces, in order.
fn split_keep_spaces(s: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == ' ' {
            if start < i {
                parts.push(&s[start..i]);
            }
            parts.push(" ");
            start = i + 1;
        }
    }
    if start < s.len() {
        parts.push(&s[start..]);
    }
    parts.into_iter()
}

/// Cuts `s` to at most `max` columns, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("hello world", 5, 5), vec!["hello", "world"]);
        assert_eq!(wrap("a bb ccc", 4, 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3, 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("one\ntwo", 10, 10), vec!["one", "two"]);
        assert_eq!(wrap("", 10, 10), vec![""]);
        assert_eq!(wrap("xx yy zz", 2, 5), vec!["xx", "yy zz"]);
    }

    #[test]
    fn wide_characters_count_double() {
        assert_eq!(width("👍"), 2);
        assert_eq!(wrap("日本語", 4, 4), vec!["日本", "語"]);
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
