//! Key bindings: named actions, their default keys, and parsing of key
//! strings such as `ctrl-n` or `alt-enter` from the config file.
//!
//! In the config file, `[keys]` maps an action name to one key string or a
//! list of them; a listed action replaces all of its default keys, and a key
//! listed there is taken away from any other action it was a default for:
//!
//! ```toml
//! [keys]
//! next_room = ["ctrl-n", "alt-right"]
//! toggle_members = "f3"
//! ```
//!
//! Room switching has no default on Tab: Tab completes names in the input
//! (see [`crate::complete`]), so a half-typed message never follows the
//! user into another room.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A key with its modifiers, as bound in the keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    /// The key.
    pub code: KeyCode,
    /// Ctrl, Alt and Shift (Shift only for non-character keys).
    pub mods: KeyModifiers,
}

impl KeyChord {
    /// A chord from a key event. Shift is dropped for character keys,
    /// because the character already says it (`?` is shift-/).
    pub fn from_event(ev: &KeyEvent) -> KeyChord {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match ev.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                })
            }
            KeyCode::BackTab => {
                mods.insert(KeyModifiers::SHIFT);
                KeyCode::Tab
            }
            other => other,
        };
        KeyChord { code, mods }
    }
}

/// Why a key string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// The string was empty.
    #[error("empty key; write a key such as \"ctrl-n\", \"f2\" or \"alt-enter\"")]
    Empty,
    /// A modifier other than ctrl, alt or shift.
    #[error("unknown modifier {0:?} in {1:?}; use ctrl-, alt- or shift-")]
    Modifier(String, String),
    /// A key name that is not known.
    #[error(
        "unknown key {0:?}; use a single character, f1..f12, or one of: enter, tab, esc, backspace, delete, up, down, left, right, home, end, pgup, pgdn, space"
    )]
    Key(String),
}

impl FromStr for KeyChord {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyParseError::Empty);
        }
        // The last '-' separates the key, except for the key "-" itself.
        let (mod_part, key) = match s.rsplit_once('-') {
            _ if s == "-" => ("", "-"),
            // "ctrl--" binds the '-' key; "ctrl-" names no key at all.
            Some((m, "")) => match m.strip_suffix('-') {
                Some(m) => (m, "-"),
                None => return Err(KeyParseError::Empty),
            },
            Some((m, k)) => (m, k),
            None => ("", s),
        };
        let mut mods = KeyModifiers::NONE;
        for m in mod_part.split('-').filter(|m| !m.is_empty()) {
            mods |= match m.to_ascii_lowercase().as_str() {
                "ctrl" | "c" => KeyModifiers::CONTROL,
                "alt" | "meta" | "m" => KeyModifiers::ALT,
                "shift" | "s" => KeyModifiers::SHIFT,
                _ => return Err(KeyParseError::Modifier(m.to_string(), s.to_string())),
            };
        }
        let lower = key.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "esc" | "escape" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pgdown" | "pagedown" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            f if f.len() > 1 && f.starts_with('f') => match f[1..].parse::<u8>() {
                Ok(n @ 1..=12) => KeyCode::F(n),
                _ => return Err(KeyParseError::Key(key.to_string())),
            },
            _ => {
                let mut chars = key.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        let c = if mods.contains(KeyModifiers::CONTROL) {
                            c.to_ascii_lowercase()
                        } else {
                            c
                        };
                        mods.remove(KeyModifiers::SHIFT);
                        KeyCode::Char(c)
                    }
                    _ => return Err(KeyParseError::Key(key.to_string())),
                }
            }
        };
        Ok(KeyChord { code, mods })
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.mods.is_empty() => write!(f, "{c}"),
            KeyCode::Char(c) => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            other => write!(f, "{other}"),
        }
    }
}

/// Everything a key can be bound to. The `name` is the config-file key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAction {
    /// Send the input (or run the command).
    Send,
    /// Insert a newline into the input.
    Newline,
    /// Next room in the list.
    NextRoom,
    /// Previous room in the list.
    PrevRoom,
    /// Open the quick switcher.
    QuickSwitch,
    /// Open the help screen.
    Help,
    /// Show or hide the member pane.
    ToggleMembers,
    /// Scroll the conversation up a page.
    PageUp,
    /// Scroll the conversation down a page.
    PageDown,
    /// Jump to the newest message and follow new ones again.
    Bottom,
    /// Complete the word before the caret (next candidate when repeated).
    Complete,
    /// As [`KeyAction::Complete`], cycling backwards.
    CompleteBack,
    /// Quit.
    Quit,
}

impl KeyAction {
    /// Every action, in the order the help screen lists them.
    pub const ALL: [KeyAction; 13] = [
        KeyAction::Send,
        KeyAction::Newline,
        KeyAction::Complete,
        KeyAction::CompleteBack,
        KeyAction::NextRoom,
        KeyAction::PrevRoom,
        KeyAction::QuickSwitch,
        KeyAction::PageUp,
        KeyAction::PageDown,
        KeyAction::Bottom,
        KeyAction::ToggleMembers,
        KeyAction::Help,
        KeyAction::Quit,
    ];

    /// The name used in the `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            KeyAction::Send => "send",
            KeyAction::Newline => "newline",
            KeyAction::NextRoom => "next_room",
            KeyAction::PrevRoom => "prev_room",
            KeyAction::QuickSwitch => "quick_switch",
            KeyAction::Help => "help",
            KeyAction::ToggleMembers => "toggle_members",
            KeyAction::PageUp => "page_up",
            KeyAction::PageDown => "page_down",
            KeyAction::Bottom => "bottom",
            KeyAction::Complete => "complete",
            KeyAction::CompleteBack => "complete_back",
            KeyAction::Quit => "quit",
        }
    }

    /// A short description for the help screen (at most 26 columns).
    pub fn describe(self) -> &'static str {
        match self {
            KeyAction::Send => "send message / run command",
            KeyAction::Newline => "new line in the input",
            KeyAction::NextRoom => "next room",
            KeyAction::PrevRoom => "previous room",
            KeyAction::QuickSwitch => "switch room by name",
            KeyAction::Help => "this help (also ?, /help)",
            KeyAction::ToggleMembers => "member list on/off",
            KeyAction::PageUp => "scroll up, load older",
            KeyAction::PageDown => "scroll down",
            KeyAction::Bottom => "newest message (also End)",
            KeyAction::Complete => "complete name, /cmd, #room",
            KeyAction::CompleteBack => "previous completion",
            KeyAction::Quit => "quit (also /quit)",
        }
    }

    fn defaults(self) -> &'static [&'static str] {
        match self {
            KeyAction::Send => &["enter"],
            KeyAction::Newline => &["alt-enter"],
            KeyAction::NextRoom => &["ctrl-n"],
            KeyAction::PrevRoom => &["ctrl-p"],
            KeyAction::QuickSwitch => &["ctrl-k"],
            KeyAction::Help => &["f1"],
            KeyAction::ToggleMembers => &["f2"],
            KeyAction::PageUp => &["pgup"],
            KeyAction::PageDown => &["pgdn"],
            KeyAction::Bottom => &["ctrl-end"],
            KeyAction::Complete => &["tab"],
            KeyAction::CompleteBack => &["shift-tab"],
            KeyAction::Quit => &["ctrl-c"],
        }
    }
}

/// One or several key strings, as a `[keys]` value may be either.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    /// `action = "ctrl-n"`.
    One(String),
    /// `action = ["tab", "ctrl-n"]`.
    Many(Vec<String>),
}

/// Why a `[keys]` table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    /// The action name is not one of [`KeyAction::ALL`].
    #[error("[keys] {0:?} is not an action; known actions: {1}")]
    UnknownAction(String, String),
    /// A key string did not parse.
    #[error("[keys] {action}: {source}")]
    BadKey {
        /// The action being bound.
        action: String,
        /// What was wrong with the key.
        source: KeyParseError,
    },
}

/// Action → keys. Lookups go key → action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<KeyAction, Vec<KeyChord>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = KeyAction::ALL
            .iter()
            .map(|&a| {
                let keys = a.defaults().iter().filter_map(|k| k.parse().ok()).collect();
                (a, keys)
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with the overrides of a `[keys]` table applied.
    ///
    /// # Errors
    /// [`KeymapError`] naming the unknown action or the key that did not parse.
    pub fn with_overrides(overrides: &BTreeMap<String, KeyList>) -> Result<Keymap, KeymapError> {
        let mut map = Keymap::default();
        let mut explicit = Vec::new();
        for (name, keys) in overrides {
            let action = KeyAction::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or_else(|| {
                    let known: Vec<_> = KeyAction::ALL.iter().map(|a| a.name()).collect();
                    KeymapError::UnknownAction(name.clone(), known.join(", "))
                })?;
            let strings = match keys {
                KeyList::One(s) => std::slice::from_ref(s),
                KeyList::Many(v) => v.as_slice(),
            };
            let chords = strings
                .iter()
                .map(|s| {
                    s.parse().map_err(|source| KeymapError::BadKey {
                        action: name.clone(),
                        source,
                    })
                })
                .collect::<Result<Vec<KeyChord>, _>>()?;
            explicit.push((action, chords));
        }
        // A key the file binds belongs to that action alone.
        for (action, chords) in explicit {
            for keys in map.bindings.values_mut() {
                keys.retain(|k| !chords.contains(k));
            }
            map.bindings.insert(action, chords);
        }
        Ok(map)
    }

    /// The action bound to a key event, if any.
    pub fn lookup(&self, ev: &KeyEvent) -> Option<KeyAction> {
        let chord = KeyChord::from_event(ev);
        self.bindings
            .iter()
            .find(|(_, keys)| keys.contains(&chord))
            .map(|(a, _)| *a)
    }

    /// The keys bound to an action, for the help screen.
    pub fn keys(&self, action: KeyAction) -> &[KeyChord] {
        self.bindings.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn parses_key_strings() {
        let k: KeyChord = "ctrl-n".parse().unwrap();
        assert_eq!(
            k,
            KeyChord {
                code: KeyCode::Char('n'),
                mods: KeyModifiers::CONTROL
            }
        );
        let k: KeyChord = "Alt-Enter".parse().unwrap();
        assert_eq!(
            k,
            KeyChord {
                code: KeyCode::Enter,
                mods: KeyModifiers::ALT
            }
        );
        assert_eq!("f2".parse::<KeyChord>().unwrap().code, KeyCode::F(2));
        assert_eq!(
            "ctrl--".parse::<KeyChord>().unwrap().code,
            KeyCode::Char('-')
        );
        assert_eq!("?".parse::<KeyChord>().unwrap().code, KeyCode::Char('?'));
    }

    #[test]
    fn bad_key_strings_say_what_is_wrong() {
        assert_eq!("".parse::<KeyChord>(), Err(KeyParseError::Empty));
        let e = "hyper-x".parse::<KeyChord>().unwrap_err();
        assert!(e.to_string().contains("unknown modifier \"hyper\""), "{e}");
        let e = "ctrl-foo".parse::<KeyChord>().unwrap_err();
        assert!(e.to_string().contains("unknown key \"foo\""), "{e}");
        assert!("f13".parse::<KeyChord>().is_err());
    }

    #[test]
    fn defaults_and_overrides() {
        let map = Keymap::default();
        assert_eq!(
            map.lookup(&ev(KeyCode::Tab, KeyModifiers::NONE)),
            Some(KeyAction::Complete)
        );
        assert_eq!(
            map.lookup(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(KeyAction::CompleteBack)
        );
        assert_eq!(
            map.lookup(&ev(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(KeyAction::NextRoom)
        );
        let toml: BTreeMap<String, KeyList> =
            toml::from_str("next_room = \"ctrl-j\"\ntoggle_members = [\"f3\", \"alt-m\"]").unwrap();
        let map = Keymap::with_overrides(&toml).unwrap();
        assert_eq!(
            map.lookup(&ev(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(
            map.lookup(&ev(KeyCode::Char('j'), KeyModifiers::CONTROL)),
            Some(KeyAction::NextRoom)
        );
        assert_eq!(
            map.lookup(&ev(KeyCode::Char('m'), KeyModifiers::ALT)),
            Some(KeyAction::ToggleMembers)
        );
    }

    #[test]
    fn a_key_bound_in_the_file_leaves_its_default_action() {
        // Someone who wants Tab to switch rooms, as it once did, gets that
        // and loses Tab completion rather than getting either at random.
        let toml: BTreeMap<String, KeyList> =
            toml::from_str("next_room = [\"tab\", \"ctrl-n\"]").unwrap();
        let map = Keymap::with_overrides(&toml).unwrap();
        assert_eq!(
            map.lookup(&ev(KeyCode::Tab, KeyModifiers::NONE)),
            Some(KeyAction::NextRoom)
        );
        assert!(map.keys(KeyAction::Complete).is_empty());
    }

    #[test]
    fn override_errors_name_the_problem() {
        let mut bad = BTreeMap::new();
        bad.insert("next_rom".to_string(), KeyList::One("tab".into()));
        let e = Keymap::with_overrides(&bad).unwrap_err().to_string();
        assert!(
            e.contains("\"next_rom\" is not an action") && e.contains("next_room"),
            "{e}"
        );
        let mut bad = BTreeMap::new();
        bad.insert("help".to_string(), KeyList::One("ctrl-".into()));
        assert!(Keymap::with_overrides(&bad).is_err());
    }
}
