//! The search pane: `/search QUERY` asks the server, the answer fills the
//! pane, Up/Down move, Enter jumps to the message in its room (loading the
//! history around it when it is not loaded yet) and selects it, Esc
//! closes; Ctrl-F opens the last results again.

use super::{nav, quit};
use crate::action::Level;
use crate::app::{App, Overlay, SearchPane, SearchResults};
use crate::composer::ComposeMode;
use crate::effect::Effect;
use crate::state::Scroll;
use chat_protocol::SearchHit;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The answer to the search in the pane (an answer to an older query,
/// typed before, is dropped).
pub(super) fn loaded(app: &mut App, query: &str, hits: Vec<SearchHit>, total: u64) {
    if let Overlay::Search(pane) = &mut app.overlay
        && pane.query == query
    {
        pane.results = SearchResults::Loaded { hits, total };
        pane.selected = 0;
        app.last_search = Some(pane.clone());
    }
}

/// A failed search, shown in its pane.
pub(super) fn failed(app: &mut App, query: &str, error: String) {
    if let Overlay::Search(pane) = &mut app.overlay
        && pane.query == query
    {
        pane.results = SearchResults::Failed(error);
    }
}

/// Ctrl-F: the last results again, or the input primed with `/search `.
pub(super) fn reopen(app: &mut App) {
    match app.last_search.clone() {
        Some(pane) => app.overlay = Overlay::Search(pane),
        None => app.composer.set_text("/search ", ComposeMode::New),
    }
}

pub(super) fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Overlay::Search(mut pane) = std::mem::take(&mut app.overlay) else {
        return;
    };
    let count = match &pane.results {
        SearchResults::Loaded { hits, .. } => hits.len(),
        _ => 0,
    };
    match key.code {
        KeyCode::Esc => {
            app.last_search = Some(pane);
            return;
        }
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            return quit(app, fx);
        }
        KeyCode::Up => pane.selected = pane.selected.saturating_sub(1),
        KeyCode::Down | KeyCode::Tab => {
            pane.selected = (pane.selected + 1).min(count.saturating_sub(1));
        }
        KeyCode::Enter => {
            let hit = match &pane.results {
                SearchResults::Loaded { hits, .. } => hits.get(pane.selected).cloned(),
                _ => None,
            };
            app.last_search = Some(pane);
            if let Some(hit) = hit {
                jump(app, &hit, fx);
            }
            return;
        }
        _ => {}
    }
    app.overlay = Overlay::Search(pane);
}

/// Shows `hit` in its room: switches to the room, selects the message and
/// anchors the view on it; asks for the history around it when the
/// timeline does not hold it.
pub(crate) fn jump(app: &mut App, hit: &SearchHit, fx: &mut Vec<Effect>) {
    let (room, seq) = (hit.room, hit.seq);
    if !app.rooms.contains_key(&room) {
        app.set_status(
            Level::Error,
            "that message is in a room you are no longer in; join it again to read it",
        );
        return;
    }
    nav::switch_to(app, room, fx);
    let Some(r) = app.rooms.get_mut(&room) else {
        return;
    };
    r.selected = Some(seq);
    r.scroll = Scroll::Anchored(seq);
    if r.timeline.get(seq).is_none() {
        fx.push(Effect::LoadAround { room, seq });
    }
}

impl SearchPane {
    /// The highlighted hit, if the answer is in.
    pub fn selected_hit(&self) -> Option<&SearchHit> {
        match &self.results {
            SearchResults::Loaded { hits, .. } => hits.get(self.selected),
            _ => None,
        }
    }
}
