//! End-to-end tests: one binary, one module per area, sharing the harness
//! in `chat_e2e` (tests/lib.rs).

mod accounts;
mod bad_input;
mod bench;
mod bins;
mod chatd_logs;
mod crash;
mod ctl_admin;
mod ctl_audit;
mod ctl_bot;
mod ctl_daily;
mod ctl_exit_codes;
mod ctl_import;
mod ctl_support;
mod faults;
mod files;
mod handshake;
mod hostile;
mod hostile_memory;
mod lifecycle;
mod limits;
mod messaging;
mod moderation;
mod privacy;
mod process;
mod races;
mod raw;
mod rights;
mod room_names;
mod rooms;
mod slow;
mod social;
mod tui;
mod tui_commands;
mod tui_daily;
