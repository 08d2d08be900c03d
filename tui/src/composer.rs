//! The multi-line input at the bottom, built on `ratatui-textarea`.

use chat_protocol::Seq;
use ratatui_textarea::{TextArea, WrapMode};

/// What submitting the input will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComposeMode {
    /// Send a new message.
    #[default]
    New,
    /// Replace the text of your message at this seq.
    Edit(Seq),
    /// Answer the message at this seq.
    Reply(Seq),
}

/// The input box and what it is for.
#[derive(Debug, Clone)]
pub struct Composer {
    /// The text-area widget state.
    pub textarea: TextArea<'static>,
    /// What Enter does with the text.
    pub mode: ComposeMode,
}

impl Default for Composer {
    fn default() -> Self {
        let mut textarea = TextArea::default();
        textarea.set_wrap_mode(WrapMode::WordOrGlyph);
        textarea.set_placeholder_text("Type a message, /help for commands");
        textarea.set_cursor_line_style(ratatui::style::Style::default());
        Composer {
            textarea,
            mode: ComposeMode::New,
        }
    }
}

impl Composer {
    /// The text, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    /// Whether the input holds nothing.
    pub fn is_empty(&self) -> bool {
        self.textarea.is_empty()
    }

    /// Empties the input and returns to [`ComposeMode::New`].
    pub fn clear(&mut self) {
        let mut fresh = Composer::default();
        std::mem::swap(self, &mut fresh);
    }

    /// Replaces the text, cursor at the end.
    pub fn set_text(&mut self, text: &str, mode: ComposeMode) {
        self.clear();
        self.textarea.insert_str(text);
        self.mode = mode;
    }

    /// Rows the input needs: its lines, at least 1 and at most 6.
    pub fn rows(&self) -> u16 {
        u16::try_from(self.textarea.lines().len())
            .unwrap_or(u16::MAX)
            .clamp(1, 6)
    }
}
