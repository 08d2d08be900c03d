//! Measuring, wrapping and cutting text by display width, one grapheme
//! cluster (UAX #29) at a time, measured as ratatui measures the cells it
//! draws. An emoji ZWJ sequence (👨‍👩‍👧), a flag (🇰🇷) or a base letter with
//! its combining marks is one cluster, never split and counted once, so
//! what the panes pad and cut matches what is drawn and borders stay put.

use ratatui::buffer::CellWidth;
use unicode_segmentation::UnicodeSegmentation;

/// Display width of one grapheme cluster in terminal columns, as ratatui
/// counts it; control characters count 0 (ratatui does not draw them).
pub fn cluster_width(g: &str) -> usize {
    if g.contains(char::is_control) {
        0
    } else {
        usize::from(g.cell_width())
    }
}

/// Display width of `s` in terminal columns.
pub fn width(s: &str) -> usize {
    s.graphemes(true).map(cluster_width).sum()
}

/// Splits `text` into rows: the first at most `first` columns wide, the
/// rest at most `rest`. Breaks at spaces where possible and between
/// grapheme clusters inside words that do not fit; keeps explicit newlines.
/// Always returns at least one row.
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
            // The word is longer than a row: break it between clusters.
            for g in word.graphemes(true) {
                let gw = cluster_width(g);
                if row_w + gw > limit(&rows) && row_w > 0 {
                    rows.push(std::mem::take(&mut row));
                    row_w = 0;
                }
                row.push_str(g);
                row_w += gw;
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

/// Cuts `s` to at most `max` columns, ending with `…` when cut; never
/// splits a grapheme cluster.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for g in s.graphemes(true) {
        let gw = cluster_width(g);
        if w + gw + 1 > max {
            break;
        }
        out.push_str(g);
        w += gw;
    }
    out.push('…');
    out
}

/// `s` padded with spaces to exactly `cols` columns (cut first if wider).
pub fn fit(s: &str, cols: usize) -> String {
    let cut = truncate(s, cols);
    let pad = cols.saturating_sub(width(&cut));
    format!("{cut}{}", " ".repeat(pad))
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

    #[test]
    fn clusters_are_measured_and_kept_whole() {
        // Family (three emoji joined by ZWJ), a flag, a skin tone, an
        // emoji presentation selector, a combining accent.
        assert_eq!(width("👨\u{200d}👩\u{200d}👧"), 2);
        assert_eq!(width("🇰🇷"), 2);
        assert_eq!(width("👍🏽"), 2);
        assert_eq!(width("❤\u{fe0f}"), 2);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(width("병동"), 4);
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(
            wrap(&family.repeat(3), 4, 4),
            vec![family.repeat(2), family.to_string()]
        );
        assert_eq!(
            truncate(&format!("{family}{family}ab"), 4),
            format!("{family}…")
        );
        assert_eq!(fit("🇰🇷 Kim", 8), "🇰🇷 Kim  ");
        assert_eq!(width(&fit("🇰🇷🇰🇷🇰🇷🇰🇷🇰🇷", 7)), 7);
    }
}
