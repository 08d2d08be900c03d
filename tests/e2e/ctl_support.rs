//! Running the real `chatctl` binary against a harness server: a temp home
//! (HOME and XDG dirs) so nothing touches the real one, the server's CA,
//! and the admin token in a temp file.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use chat_e2e::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A chatctl environment for one server.
pub struct Ctl {
    /// Temp home; removed on drop.
    pub home: tempfile::TempDir,
    /// `HOST:PORT`.
    pub server: String,
    /// The server's CA file.
    pub ca: PathBuf,
    /// File holding the bootstrap admin token.
    pub admin_token: PathBuf,
}

impl Ctl {
    /// An environment for `server`, authenticated as its bootstrap admin.
    pub fn new(server: &TestServer) -> Ctl {
        let home = tempfile::tempdir().unwrap();
        let admin_token = home.path().join("admin.token");
        std::fs::write(&admin_token, format!("{}\n", server.admin_token)).unwrap();
        Ctl {
            home,
            server: server.addr.to_string(),
            ca: server.ca.clone(),
            admin_token,
        }
    }

    /// `chatctl` with only the temp home set: no server, trust or token flags.
    pub fn bare(&self) -> Command {
        let mut c = Command::new(crate::bins::CHATCTL);
        let h = self.home.path();
        c.env("HOME", h)
            .env("XDG_DATA_HOME", h.join("data"))
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env_remove("CHAT_TOKEN")
            .env_remove("CHAT_SERVER")
            .env_remove("CHAT_PROFILE")
            .stdin(Stdio::null());
        c
    }

    /// `chatctl --server S --ca CA --token-file TOKEN`.
    pub fn with_token(&self, token_file: &Path) -> Command {
        let mut c = self.bare();
        c.arg("--server")
            .arg(&self.server)
            .arg("--ca")
            .arg(&self.ca)
            .arg("--token-file")
            .arg(token_file);
        c
    }

    /// `chatctl` as the admin.
    pub fn admin(&self) -> Command {
        self.with_token(&self.admin_token)
    }

    /// Writes `token` to a file in the temp home and returns its path.
    pub fn token_file(&self, name: &str, token: &str) -> PathBuf {
        let p = self.home.path().join(name);
        std::fs::write(&p, format!("{token}\n")).unwrap();
        p
    }
}

/// Runs `cmd` with `stdin` on a blocking thread (the server shares the
/// test's runtime) and returns its output.
pub async fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    let input = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("chatctl starts");
        if let Some(text) = input {
            use std::io::Write;
            let mut s = child.stdin.take().unwrap();
            s.write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// Runs `cmd`, asserts exit code `code`, and returns stdout.
pub async fn expect(cmd: Command, stdin: Option<&str>, code: i32) -> String {
    let dbg = format!("{cmd:?}");
    let out = run(cmd, stdin).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{dbg}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// Runs `cmd`, asserts success, and returns stdout.
pub async fn ok(cmd: Command) -> String {
    expect(cmd, None, 0).await
}

/// Parses JSON Lines.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Builds a command from a base and arguments.
pub fn args(mut cmd: Command, args: &[&str]) -> Command {
    cmd.args(args);
    cmd
}
