//! Message bodies: the text part of `[HH:MM] <nick> text` lines read from
//! an IRC transcript directory, so message sizes are those of real chat.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// Most bytes read from the corpus directory (16 MiB), so a large corpus
/// cannot stall the start of a run.
const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Longest text kept, in bytes; longer lines are skipped.
const MAX_TEXT: usize = 2000;

/// Texts to send, sampled by index.
#[derive(Debug, Clone)]
pub struct Corpus {
    texts: Vec<String>,
}

impl Corpus {
    /// The default directory: the repository's copy `tests/fixtures/irc`
    /// if it exists (run from the workspace root), else
    /// `../shared/corpus/ubuntu-irc`.
    pub fn default_dir() -> PathBuf {
        let fixtures = PathBuf::from("tests/fixtures/irc");
        if fixtures.is_dir() {
            fixtures
        } else {
            PathBuf::from("../shared/corpus/ubuntu-irc")
        }
    }

    /// Reads every regular file in `dir` (not recursively, up to 16 MiB in
    /// all) and keeps the text of each message line. Blocking: call it from
    /// `spawn_blocking`.
    ///
    /// # Errors
    /// When `dir` cannot be read or holds no message lines.
    pub fn load(dir: &Path) -> anyhow::Result<Corpus> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| {
                format!(
                    "cannot read the corpus directory {}; pass --corpus DIR with IRC transcripts",
                    dir.display()
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut texts = Vec::new();
        let mut read = 0u64;
        for path in entries {
            if read >= MAX_BYTES {
                break;
            }
            let bytes = std::fs::read(&path)
                .with_context(|| format!("cannot read corpus file {}", path.display()))?;
            read += bytes.len() as u64;
            texts.extend(
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter_map(message_text)
                    .map(str::to_owned),
            );
        }
        if texts.is_empty() {
            bail!(
                "no `[HH:MM] <nick> text` lines in {}; pass --corpus DIR with IRC transcripts",
                dir.display()
            );
        }
        Ok(Corpus { texts })
    }

    /// A corpus of the given texts (tests).
    pub fn from_texts(texts: Vec<String>) -> Corpus {
        Corpus { texts }
    }

    /// How many texts there are.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The text for message number `n`: a fixed pseudo-random pick, so runs
    /// with the same corpus send the same size mix.
    pub fn pick(&self, n: u64) -> &str {
        if self.texts.is_empty() {
            return "hello";
        }
        let i = (splitmix64(n) % self.texts.len() as u64) as usize;
        &self.texts[i]
    }

    /// Mean text length, in bytes.
    pub fn mean_len(&self) -> f64 {
        let total: usize = self.texts.iter().map(String::len).sum();
        total as f64 / self.texts.len().max(1) as f64
    }
}

/// The text of a `[HH:MM] <nick> text` line, if it is one and is not blank.
fn message_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let (time, rest) = rest.split_once("] <")?;
    if time.len() != 5 || time.as_bytes().get(2) != Some(&b':') {
        return None;
    }
    let (_nick, text) = rest.split_once("> ")?;
    let text = text.trim_end();
    (!text.trim().is_empty() && text.len() <= MAX_TEXT).then_some(text)
}

/// A well-mixed 64-bit hash (SplitMix64's finaliser).
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_lines_only() {
        assert_eq!(message_text("[09:14] <crimsun> hi there"), Some("hi there"));
        assert_eq!(message_text("=== x [~a@b]  has joined #ubuntu"), None);
        assert_eq!(message_text("[23:20]  * nick waves"), None);
        assert_eq!(message_text("[09:14] <crimsun>  "), None);
    }

    #[test]
    fn picks_are_stable_and_in_range() {
        let c = Corpus::from_texts(vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(c.pick(7), c.pick(7));
        assert!((0..100).all(|n| ["a", "b", "c"].contains(&c.pick(n))));
    }
}
