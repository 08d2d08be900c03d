//! Paths of the programs under test, built by this package from the real
//! `main.rs` files (see tests/Cargo.toml), so they always match the source.

/// The `chatd` server.
pub const CHATD: &str = env!("CARGO_BIN_EXE_e2e-chatd");
/// The `chatctl` CLI.
pub const CHATCTL: &str = env!("CARGO_BIN_EXE_e2e-chatctl");
/// The `chat-tui` client.
pub const CHAT_TUI: &str = env!("CARGO_BIN_EXE_e2e-chat-tui");
