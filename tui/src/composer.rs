//! The multi-line input at the bottom, built on `ratatui-textarea`, and the
//! per-room drafts it is saved to when the user switches rooms.

use chat_protocol::Seq;
use ratatui::style::Style;
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
    /// React to the message at this seq with the emoji typed.
    React(Seq),
}

/// A room's unsent input, kept while another room is in view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Draft {
    /// The text, lines joined with `\n`.
    pub text: String,
    /// What it was being written for.
    pub mode: ComposeMode,
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
        textarea.set_cursor_line_style(Style::default());
        // The terminal's own cursor marks the caret (`ui::draw` puts it
        // there, so input methods draw their preedit in the right cell);
        // a drawn block cursor beside it would be a second caret.
        textarea.set_cursor_style(Style::default());
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

    /// Takes the input out as a draft, leaving the input empty; `None` when
    /// there is nothing worth keeping.
    pub fn take_draft(&mut self) -> Option<Draft> {
        let draft = Draft {
            text: self.text(),
            mode: self.mode,
        };
        self.clear();
        (!draft.text.is_empty() || draft.mode != ComposeMode::New).then_some(draft)
    }

    /// Puts a draft back into the (empty) input, cursor at the end.
    pub fn restore(&mut self, draft: Draft) {
        self.set_text(&draft.text, draft.mode);
    }

    /// Rows the input needs: its lines, at least 1 and at most 6.
    pub fn rows(&self) -> u16 {
        u16::try_from(self.textarea.lines().len())
            .unwrap_or(u16::MAX)
            .clamp(1, 6)
    }
}
