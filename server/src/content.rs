//! Content rules: which configured banned word, if any, a message holds.
//!
//! Text and words are compared after the same normalisation: Unicode NFKC
//! (so fullwidth `ＳＰＯＩＬＥＲ` and ligatures match their plain letters),
//! lower-casing, and removal of invisible characters (zero-width space,
//! joiners, word joiner, soft hyphen, BOM), so a banned word cannot be
//! slipped through by hiding a character in it.
//!
//! A banned word matches whole words only: "first class service" holds no
//! "ass". A match must start where a word starts and end where a word ends,
//! with two exceptions for scripts that do not separate words with spaces
//! the way Latin does: Korean particles attach to the end of a word
//! (`바보야` is `바보` + `야`), so a word ending in Hangul may be followed by
//! more Hangul; and Chinese and Japanese text has no spaces at all, so a
//! word of ideographs or kana matches anywhere. Tests: `tests` below and
//! `e2e::ctl_daily::banned_words_match_whole_words_after_normalisation`.

use unicode_normalization::UnicodeNormalization;

/// Characters that render as nothing and so may hide inside a word.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{180E}' // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, (non-)joiner, marks
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{FEFF}' // BOM / zero-width no-break space
    )
}

/// The normalised form both sides are compared in.
fn normalise(text: &str) -> Vec<char> {
    text.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !invisible(*c))
        .collect()
}

fn hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
}

/// Ideographs and kana: scripts written without spaces between words.
fn unspaced(c: char) -> bool {
    matches!(
        c,
        '\u{3040}'..='\u{30FF}' // hiragana, katakana
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{20000}'..='\u{2A6DF}'
    )
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Whether `word` occurs in `text` as a whole word (both normalised).
fn contains_word(text: &[char], word: &[char]) -> bool {
    let (Some(&first), Some(&last)) = (word.first(), word.last()) else {
        return false;
    };
    if word.len() > text.len() {
        return false;
    }
    (0..=text.len() - word.len()).any(|i| {
        let end = i + word.len();
        if text.get(i..end) != Some(word) {
            return false;
        }
        let before = i.checked_sub(1).and_then(|b| text.get(b)).copied();
        let after = text.get(end).copied();
        let starts = unspaced(first) || before.is_none_or(|c| !word_char(c));
        let ends =
            unspaced(last) || after.is_none_or(|c| !word_char(c) || (hangul(last) && hangul(c)));
        starts && ends
    })
}

/// The first of `banned` that `text` holds as a whole word, compared after
/// normalisation (see the module doc). Empty words never match.
pub fn banned_word<'a>(banned: &'a [String], text: &str) -> Option<&'a str> {
    let text = normalise(text);
    banned
        .iter()
        .find(|w| contains_word(&text, &normalise(w)))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::banned_word;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn whole_words_only() {
        let b = words(&["ass", "spoiler"]);
        assert_eq!(banned_word(&b, "first class service"), None);
        assert_eq!(banned_word(&b, "a spoilers list"), None);
        assert_eq!(banned_word(&b, "no SPOILER, please"), Some("spoiler"));
        assert_eq!(banned_word(&b, "spoiler"), Some("spoiler"));
        assert_eq!(banned_word(&b, "(ass)"), Some("ass"));
    }

    #[test]
    fn invisible_and_compatibility_characters_do_not_hide_a_word() {
        let b = words(&["spoiler"]);
        assert_eq!(banned_word(&b, "sp\u{200B}oiler"), Some("spoiler"));
        assert_eq!(banned_word(&b, "spoi\u{00AD}ler alert"), Some("spoiler"));
        assert_eq!(banned_word(&b, "ＳＰＯＩＬＥＲ"), Some("spoiler"));
        // The configured word is normalised too.
        assert_eq!(
            banned_word(&words(&["Spo\u{200D}iler"]), "spoiler"),
            Some("Spo\u{200D}iler")
        );
    }

    #[test]
    fn korean_and_unspaced_scripts() {
        let b = words(&["바보"]);
        assert_eq!(banned_word(&b, "너 바보야"), Some("바보"));
        assert_eq!(banned_word(&b, "바\u{200B}보"), Some("바보"));
        assert_eq!(banned_word(&b, "개바보"), None);
        assert_eq!(banned_word(&b, "3병동 야간 근무"), None);
        assert_eq!(
            banned_word(&words(&["ネタバレ"]), "これはネタバレです"),
            Some("ネタバレ")
        );
        assert_eq!(banned_word(&words(&[""]), "anything"), None);
    }
}
