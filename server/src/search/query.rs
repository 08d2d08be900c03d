//! Search queries: the query language, the tantivy query built from it with
//! the filters, running it with paging, and highlighted snippets.
//!
//! The language: words (all must occur), `"exact phrases"`, `prefix*`,
//! and `-word` to exclude. Each word is tokenized like message text in
//! [`Mode::Query`], so a Korean word becomes a phrase of its bigrams
//! (환자분께 = 환자 자분 분께 at consecutive positions) and matches inside
//! any longer word.

use super::Fields;
use super::analyzer::{self, Mode, is_cjk};
use chat_protocol::SearchOrder;
use std::collections::HashSet;
use std::ops::Bound;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{DocAddress, Searcher};

/// Most terms a prefix expands to inside a phrase (`"disk full*"`).
pub const MAX_PREFIX_EXPANSIONS: u32 = 10_000;

/// Characters of context a snippet shows around its first match, each side.
pub const SNIPPET_CONTEXT_CHARS: usize = 60;

/// Longest snippet, in characters.
pub const SNIPPET_MAX_CHARS: usize = 160;

/// One part of a parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A word (or an unquoted run of text between spaces).
    Word(String),
    /// `"a phrase"`.
    Phrase(String),
    /// `word*`.
    Prefix(String),
    /// `-word` or `-"a phrase"`.
    Not(String),
}

/// Splits query text into parts.
///
/// # Errors
/// A sentence for the user when nothing in the query can be searched for.
pub fn parse(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let negate = c == '-';
        if negate {
            chars.next();
        }
        let quoted = chars.peek() == Some(&'"');
        let mut s = String::new();
        if quoted {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                s.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
        }
        if analyzer::tokens(&s, Mode::Query).is_empty() {
            continue;
        }
        parts.push(if negate {
            Part::Not(s)
        } else if quoted {
            Part::Phrase(s)
        } else if let Some(stem) = s.strip_suffix('*') {
            Part::Prefix(stem.to_string())
        } else {
            Part::Word(s)
        });
    }
    if !parts.iter().any(|p| !matches!(p, Part::Not(_))) {
        return Err(
            "the query has no word to look for; give at least one word, \"phrase\" or prefix*"
                .into(),
        );
    }
    Ok(parts)
}

/// The terms a hit's text is highlighted by: every query token, and the
/// prefixes.
#[derive(Debug, Default, Clone)]
pub struct Highlight {
    terms: HashSet<String>,
    prefixes: Vec<String>,
}

/// The filters that come with a query, already resolved to ids.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    /// Only these rooms (`None`: every room, for audit searches).
    pub rooms: Option<Vec<u64>>,
    /// Only this sender.
    pub sender: Option<u64>,
    /// Only this organization (as [`super::org_term`] gives it).
    pub org: Option<String>,
    /// Sent at or after, ms.
    pub from: Option<u64>,
    /// Sent before, ms.
    pub to: Option<u64>,
    /// Never these senders (the reader blocks them).
    pub hidden: Vec<u64>,
}

fn text_query(f: &Fields, s: &str, prefix: bool) -> Option<Box<dyn Query>> {
    let tokens = analyzer::tokens(s, Mode::Query);
    let terms: Vec<(usize, Term)> = tokens
        .iter()
        .map(|t| (t.position, Term::from_field_text(f.text, &t.text)))
        .collect();
    let last_is_word = tokens.last().is_some_and(|t| !t.text.chars().any(is_cjk));
    match (terms.len(), prefix && last_is_word) {
        (0, _) => None,
        (1, true) => {
            let stem = &tokens[0].text;
            Some(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_text(f.text, stem)),
                Bound::Excluded(Term::from_field_text(f.text, &format!("{stem}\u{10FFFF}"))),
            )))
        }
        (1, false) => Some(Box::new(TermQuery::new(
            terms[0].1.clone(),
            IndexRecordOption::WithFreqs,
        ))),
        (_, true) => {
            let mut q = PhrasePrefixQuery::new_with_offset(terms);
            q.set_max_expansions(MAX_PREFIX_EXPANSIONS);
            Some(Box::new(q))
        }
        (_, false) => Some(Box::new(PhraseQuery::new_with_offset(terms))),
    }
}

/// Builds the tantivy query for `parts` with `filters`, and what to
/// highlight.
pub fn build(f: &Fields, parts: &[Part], filters: &Filters) -> (Box<dyn Query>, Highlight) {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut hl = Highlight::default();
    for part in parts {
        let (s, occur, prefix) = match part {
            Part::Word(s) | Part::Phrase(s) => (s, Occur::Must, false),
            Part::Prefix(s) => (s, Occur::Must, true),
            Part::Not(s) => (s, Occur::MustNot, false),
        };
        if occur == Occur::Must {
            let tokens = analyzer::tokens(s, Mode::Query);
            let n = tokens.len();
            for (i, t) in tokens.into_iter().enumerate() {
                if prefix && i + 1 == n && !t.text.chars().any(is_cjk) {
                    hl.prefixes.push(t.text);
                } else {
                    hl.terms.insert(t.text);
                }
            }
        }
        if let Some(q) = text_query(f, s, prefix) {
            clauses.push((occur, q));
        }
    }
    if let Some(rooms) = &filters.rooms {
        let terms = rooms.iter().map(|r| Term::from_field_u64(f.room, *r));
        clauses.push((Occur::Must, Box::new(TermSetQuery::new(terms))));
    }
    if let Some(sender) = filters.sender {
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_u64(f.sender, sender),
                IndexRecordOption::Basic,
            )),
        ));
    }
    if let Some(org) = &filters.org {
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(f.org, org),
                IndexRecordOption::Basic,
            )),
        ));
    }
    if filters.from.is_some() || filters.to.is_some() {
        let lower = filters.from.map_or(Bound::Unbounded, |t| {
            Bound::Included(Term::from_field_u64(f.ts, t))
        });
        let upper = filters.to.map_or(Bound::Unbounded, |t| {
            Bound::Excluded(Term::from_field_u64(f.ts, t))
        });
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
    }
    for user in &filters.hidden {
        clauses.push((
            Occur::MustNot,
            Box::new(TermQuery::new(
                Term::from_field_u64(f.sender, *user),
                IndexRecordOption::Basic,
            )),
        ));
    }
    (Box::new(BooleanQuery::new(clauses)), hl)
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Newest first: hits strictly older than `(ts, room, seq)`.
    Before(u64, u64, u64),
    /// By relevance: skip this many hits.
    Skip(usize),
}

impl Cursor {
    /// The opaque string handed to clients.
    pub fn encode(&self) -> String {
        match self {
            Cursor::Before(ts, room, seq) => format!("n{ts}.{room}.{seq}"),
            Cursor::Skip(n) => format!("r{n}"),
        }
    }

    /// Reads a cursor given for `order`.
    ///
    /// # Errors
    /// A sentence for the user when the cursor is not one this server
    /// gave for that order.
    pub fn decode(s: &str, order: SearchOrder) -> Result<Cursor, String> {
        let bad = || {
            "the cursor is not one this server gave for this order; search again without it"
                .to_string()
        };
        match (order, s.split_at_checked(1)) {
            (SearchOrder::Newest, Some(("n", rest))) => {
                let mut it = rest.split('.').map(str::parse::<u64>);
                match (it.next(), it.next(), it.next(), it.next()) {
                    (Some(Ok(ts)), Some(Ok(room)), Some(Ok(seq)), None) => {
                        Ok(Cursor::Before(ts, room, seq))
                    }
                    _ => Err(bad()),
                }
            }
            (SearchOrder::Relevance, Some(("r", rest))) => {
                rest.parse().map(Cursor::Skip).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

/// A page of matching `(room, seq)`, the number of matches in all, and
/// the cursor of the next page.
pub struct Found {
    /// Matches in order, at most the limit.
    pub hits: Vec<(u64, u64)>,
    /// Matches in all.
    pub total: u64,
    /// The next page's cursor, if there are more.
    pub next: Option<Cursor>,
}

/// Runs `query`.
///
/// # Errors
/// A tantivy error.
pub fn run(
    searcher: &Searcher,
    f: &Fields,
    query: &dyn Query,
    order: SearchOrder,
    limit: usize,
    cursor: Option<Cursor>,
) -> tantivy::Result<Found> {
    let _ = f;
    match order {
        SearchOrder::Newest => {
            let before = match cursor {
                Some(Cursor::Before(ts, room, seq)) => Some((ts, room, seq)),
                _ => None,
            };
            let top = TopDocs::with_limit(limit + 1).tweak_score(
                move |segment: &tantivy::SegmentReader| {
                    let col = |name: &str| {
                        segment
                            .fast_fields()
                            .u64(name)
                            .ok()
                            .map(|c| c.first_or_default_col(0))
                    };
                    let (ts, room, seq) = (col("ts"), col("room"), col("seq"));
                    move |doc: tantivy::DocId, _score: tantivy::Score| {
                        let get = |c: &Option<
                            std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>,
                        >| {
                            c.as_ref().map_or(0, |c| c.get_val(doc))
                        };
                        let key = (get(&ts), get(&room), get(&seq));
                        match before {
                            Some(b) if key >= b => None,
                            _ => Some(key),
                        }
                    }
                },
            );
            let (docs, total) = searcher.search(query, &(top, Count))?;
            let mut keys: Vec<(u64, u64, u64)> = docs.into_iter().filter_map(|(k, _)| k).collect();
            let more = keys.len() > limit;
            keys.truncate(limit);
            let next = if more {
                keys.last()
                    .map(|&(ts, room, seq)| Cursor::Before(ts, room, seq))
            } else {
                None
            };
            Ok(Found {
                hits: keys.into_iter().map(|(_, room, seq)| (room, seq)).collect(),
                total: total as u64,
                next,
            })
        }
        SearchOrder::Relevance => {
            let skip = match cursor {
                Some(Cursor::Skip(n)) => n,
                _ => 0,
            };
            let top = TopDocs::with_limit(limit + 1)
                .and_offset(skip)
                .order_by_score();
            let (docs, total) = searcher.search(query, &(top, Count))?;
            let more = docs.len() > limit;
            let hits = docs
                .into_iter()
                .take(limit)
                .map(|(_, addr)| address(searcher, addr))
                .collect::<tantivy::Result<Vec<_>>>()?;
            Ok(Found {
                next: more.then_some(Cursor::Skip(skip + limit)),
                hits,
                total: total as u64,
            })
        }
    }
}

fn address(searcher: &Searcher, addr: DocAddress) -> tantivy::Result<(u64, u64)> {
    let fast = searcher.segment_reader(addr.segment_ord).fast_fields();
    let room = fast.u64("room")?.first(addr.doc_id).unwrap_or(0);
    let seq = fast.u64("seq")?.first(addr.doc_id).unwrap_or(0);
    Ok((room, seq))
}

/// An excerpt of `text` around its first match and the byte ranges of
/// the excerpt that matched (see [`chat_protocol::SearchHit::snippet`]).
pub fn snippet(text: &str, hl: &Highlight) -> (String, Vec<(u32, u32)>) {
    let mut ranges: Vec<(usize, usize)> = analyzer::tokens(text, Mode::Index)
        .into_iter()
        .filter(|t| {
            hl.terms.contains(&t.text) || hl.prefixes.iter().any(|p| t.text.starts_with(p.as_str()))
        })
        .map(|t| (t.offset_from, t.offset_to))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    // The window: from a little before the first match, at most
    // SNIPPET_MAX_CHARS characters.
    let first = merged.first().map_or(0, |r| r.0);
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let first_char = starts.partition_point(|&i| i < first);
    let begin_char = first_char.saturating_sub(SNIPPET_CONTEXT_CHARS);
    let end_char = (begin_char + SNIPPET_MAX_CHARS).min(starts.len());
    let begin = starts.get(begin_char).copied().unwrap_or(text.len());
    let end = starts.get(end_char).copied().unwrap_or(text.len());
    let mut out = String::new();
    let lead = if begin > 0 { "…" } else { "" };
    out.push_str(lead);
    out.push_str(&text[begin..end]);
    if end < text.len() {
        out.push('…');
    }
    let shift = lead.len();
    let highlights = merged
        .into_iter()
        .filter(|&(a, b)| a >= begin && b <= end)
        .map(|(a, b)| ((a - begin + shift) as u32, (b - begin + shift) as u32))
        .collect();
    (out, highlights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_language_is_parsed() {
        assert_eq!(
            parse(r#"환자 "blood pressure" deploy* -noise"#),
            Ok(vec![
                Part::Word("환자".into()),
                Part::Phrase("blood pressure".into()),
                Part::Prefix("deploy".into()),
                Part::Not("noise".into()),
            ])
        );
        assert!(parse("-only").is_err());
        assert!(parse("  ?? ").is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_strings() {
        let c = Cursor::Before(5, 6, 7);
        assert_eq!(Cursor::decode(&c.encode(), SearchOrder::Newest), Ok(c));
        assert_eq!(
            Cursor::decode("r20", SearchOrder::Relevance),
            Ok(Cursor::Skip(20))
        );
        assert!(Cursor::decode("r20", SearchOrder::Newest).is_err());
        assert!(Cursor::decode("n1.2", SearchOrder::Newest).is_err());
        assert!(Cursor::decode("", SearchOrder::Newest).is_err());
    }

    #[test]
    fn snippets_mark_matches_inside_korean_words() {
        let mut hl = Highlight::default();
        hl.terms.insert("환자".into());
        let (s, r) = snippet("3번 환자가 어지러움 호소", &hl);
        assert_eq!(s, "3번 환자가 어지러움 호소");
        let (a, b) = r[0];
        assert_eq!(&s[a as usize..b as usize], "환자");
        let long = format!("{} deploy done", "x ".repeat(200));
        let mut hl = Highlight::default();
        hl.prefixes.push("dep".into());
        let (s, r) = snippet(&long, &hl);
        let (a, b) = r[0];
        assert_eq!(&s[a as usize..b as usize], "deploy");
        assert!(s.starts_with('…'));
    }
}
