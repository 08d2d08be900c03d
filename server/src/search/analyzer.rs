//! How message text becomes index terms: NFKC and lower case, Unicode
//! words for alphabetic scripts, overlapping character bigrams for Korean,
//! Chinese and Japanese.
//!
//! Korean puts spaces between phrases, not words: 환자가, 환자를 and
//! 환자분께 are one "word" each to a whitespace or UAX #29 tokenizer, so a
//! query for 환자 would miss them all. Indexing every pair of adjacent
//! CJK characters (환자, 자가) finds a stem inside any longer form, the
//! approach of Lucene's `CJKAnalyzer`; a query's bigrams must then occur
//! at consecutive positions (a phrase), so 환자분 does not match a text
//! holding 환자 and 자분 apart. Each CJK character is also indexed alone,
//! at the position of the bigram it starts, so a one-syllable query (피,
//! 약) finds it. A morphological analyser (lindera with ko-dic, mecab-ko)
//! would rank better, but its dictionary is tens of megabytes that must be
//! built and shipped with the crate; bigrams need no dictionary and never
//! miss a substring (ARCHITECTURE.md, "Search").
//!
//! Everything else is split into runs of letters and digits (with their
//! combining marks), so `deploy-v2` gives `deploy` and `v2`.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// The name the index registers [`ChatTokenizer`] under.
pub const TOKENIZER: &str = "chat";

/// Whether `c` belongs to a script written without spaces between words
/// (Hangul, Han, Hiragana, Katakana), which is indexed by bigrams.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF     // Hangul Jamo
        | 0x3040..=0x309F   // Hiragana
        | 0x30A0..=0x30FF   // Katakana
        | 0x3130..=0x318F   // Hangul Compatibility Jamo
        | 0x31F0..=0x31FF   // Katakana Phonetic Extensions
        | 0x3400..=0x4DBF   // CJK Extension A
        | 0x4E00..=0x9FFF   // CJK Unified Ideographs
        | 0xA960..=0xA97F   // Hangul Jamo Extended-A
        | 0xAC00..=0xD7AF   // Hangul Syllables
        | 0xD7B0..=0xD7FF   // Hangul Jamo Extended-B
        | 0xF900..=0xFAFF   // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F   // Halfwidth Katakana (NFKC maps them anyway)
        | 0x20000..=0x3134F // CJK Extensions B to G
    )
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_mark(c)
}

/// Combining diacritical marks, which belong to the letter before them.
/// (Brahmic vowel signs are `Alphabetic` already.)
fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// One normalized character with the byte range of the original text it
/// came from.
#[derive(Clone, Copy)]
struct Unit {
    c: char,
    from: usize,
    to: usize,
}

/// NFKC and lower case, grapheme by grapheme, so that every normalized
/// character knows which bytes of the original it stands for (offsets
/// must point into the stored text for snippets). Composition in NFKC
/// happens inside grapheme clusters (a base with its marks, a Hangul
/// L V T jamo sequence), so this matches normalizing the whole string.
fn normalize(text: &str) -> Vec<Unit> {
    let mut out = Vec::with_capacity(text.len());
    for (at, g) in text.grapheme_indices(true) {
        let to = at + g.len();
        if g.is_ascii() {
            out.extend(g.chars().map(|c| Unit {
                c: c.to_ascii_lowercase(),
                from: at,
                to,
            }));
            continue;
        }
        for n in g.nfkc() {
            for c in n.to_lowercase() {
                out.push(Unit { c, from: at, to });
            }
        }
    }
    out
}

/// Whether tokens are for the index or for a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bigrams and every CJK character alone.
    Index,
    /// Bigrams only (a CJK run of one character gives that character), so
    /// a query's terms are exactly what must occur.
    Query,
}

/// Splits `text` into terms. Positions count words and CJK characters;
/// the unigrams added in [`Mode::Index`] share the position of the bigram
/// they start.
pub fn tokens(text: &str, mode: Mode) -> Vec<Token> {
    let units = normalize(text);
    let mut out = Vec::new();
    let mut position = 0usize;
    let mut i = 0;
    while i < units.len() {
        let c = units[i].c;
        if is_cjk(c) {
            let start = i;
            while i < units.len() && is_cjk(units[i].c) {
                i += 1;
            }
            let run = &units[start..i];
            if run.len() == 1 {
                out.push(token(run, position));
                position += 1;
                continue;
            }
            // Bigram k sits at position p + k; in the index every
            // character also stands alone at the position of the bigram it
            // starts (the last one at the last bigram's), so a run of n
            // characters takes n - 1 positions in both modes.
            let last = run.len() - 2;
            for (k, pair) in run.windows(2).enumerate() {
                out.push(token(pair, position + k));
                if mode == Mode::Index {
                    out.push(token(&pair[..1], position + k));
                }
            }
            if mode == Mode::Index {
                out.push(token(&run[run.len() - 1..], position + last));
            }
            position += run.len() - 1;
        } else if is_word_char(c) && !is_mark(c) {
            let start = i;
            while i < units.len() && is_word_char(units[i].c) && !is_cjk(units[i].c) {
                i += 1;
            }
            out.push(token(&units[start..i], position));
            position += 1;
        } else {
            i += 1;
        }
    }
    out
}

fn token(units: &[Unit], position: usize) -> Token {
    Token {
        offset_from: units.first().map_or(0, |u| u.from),
        offset_to: units.last().map_or(0, |u| u.to),
        position,
        text: units.iter().map(|u| u.c).collect(),
        position_length: 1,
    }
}

/// The tantivy tokenizer of the message text field ([`Mode::Index`]).
#[derive(Clone, Default)]
pub struct ChatTokenizer;

/// The tokens of one text, handed out one by one.
pub struct ChatTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for ChatTokenizer {
    type TokenStream<'a> = ChatTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ChatTokenStream {
        ChatTokenStream {
            tokens: tokens(text, Mode::Index),
            next: 0,
        }
    }
}

impl TokenStream for ChatTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1))]
    }

    fn token_mut(&mut self) -> &mut Token {
        let i = self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1));
        &mut self.tokens[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str, mode: Mode) -> Vec<(String, usize)> {
        tokens(text, mode)
            .into_iter()
            .map(|t| (t.text, t.position))
            .collect()
    }

    #[test]
    fn korean_is_indexed_by_bigrams_and_unigrams() {
        let t = terms("환자가", Mode::Index);
        assert_eq!(
            t,
            vec![
                ("환자".into(), 0),
                ("환".into(), 0),
                ("자가".into(), 1),
                ("자".into(), 1),
                ("가".into(), 1)
            ]
        );
        assert_eq!(
            terms("환자분께", Mode::Query),
            vec![("환자".into(), 0), ("자분".into(), 1), ("분께".into(), 2)]
        );
        assert_eq!(terms("피", Mode::Query), vec![("피".into(), 0)]);
    }

    #[test]
    fn latin_is_folded_and_split_into_words() {
        assert_eq!(
            terms("Deploy-V2 FAILED, ＡＢＣ ﬁle", Mode::Index),
            vec![
                ("deploy".into(), 0),
                ("v2".into(), 1),
                ("failed".into(), 2),
                ("abc".into(), 3),
                ("file".into(), 4)
            ]
        );
    }

    #[test]
    fn mixed_text_keeps_positions_consecutive() {
        let t = terms("3병동 bed 12", Mode::Query);
        assert_eq!(
            t,
            vec![
                ("3".into(), 0),
                ("병동".into(), 1),
                ("bed".into(), 2),
                ("12".into(), 3)
            ]
        );
        let i = terms("3병동 bed", Mode::Index);
        assert!(i.contains(&("병동".into(), 1)));
        assert!(i.contains(&("bed".into(), 2)));
    }

    #[test]
    fn offsets_point_into_the_original_text() {
        let text = "Ｂ병동 환자";
        for t in tokens(text, Mode::Index) {
            assert!(text.is_char_boundary(t.offset_from) && text.is_char_boundary(t.offset_to));
        }
        let first = &tokens(text, Mode::Index)[0];
        assert_eq!(&text[first.offset_from..first.offset_to], "Ｂ");
    }

    #[test]
    fn decomposed_hangul_matches_composed() {
        let decomposed: String = "환자".nfd().collect();
        assert_eq!(terms(&decomposed, Mode::Query), terms("환자", Mode::Query));
    }
}
