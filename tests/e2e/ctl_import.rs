//! IRC-log import round trip and history filters (user, org, date).
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, expect, json_lines, ok};
use chat_e2e::{PASSWORD, spawn_server};
use serde_json::Value;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/irc/2015-01-20.train-b.txt")
}

/// The message lines of the fixture, parsed independently of chatctl:
/// (HH:MM, nick, text as chatctl stores it).
fn expected_messages() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        if !line.starts_with('[') || line.get(6..7) != Some("]") {
            continue;
        }
        let time = line[1..6].to_owned();
        let rest = &line[7..];
        if let Some(body) = rest.strip_prefix(" <") {
            let (nick, after) = body.split_once('>').unwrap();
            let text = after.strip_prefix(' ').unwrap_or(after);
            out.push((time, nick.to_owned(), text.to_owned()));
        } else if let Some(body) = rest.strip_prefix("  * ") {
            let (nick, text) = body.split_once(' ').unwrap_or((body, ""));
            out.push((time, nick.to_owned(), format!("/me {text}")));
        }
    }
    out
}

fn messages(out: &str) -> Vec<Value> {
    json_lines(out)
        .into_iter()
        .filter(|v| v["type"] == "message")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_import_round_trip_and_date_filters() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let file = fixture();
    let want = expected_messages();
    assert!(want.len() > 1000, "fixture has {} messages", want.len());

    let mut c = ctl.admin();
    c.args(["--json", "import", "irc-log"])
        .arg(&file)
        .args(["--room", "ubuntu"]);
    let report = json_lines(&ok(c).await).remove(0);
    assert_eq!(report["imported"], want.len(), "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(
        report["lines"].as_u64().unwrap(),
        report["imported"].as_u64().unwrap() + report["skipped"].as_u64().unwrap(),
        "{report}"
    );

    // Every message line comes back: same count, order, text and nick.
    let got = messages(&ok(args(ctl.admin(), &["--json", "history", "ubuntu"])).await);
    assert_eq!(got.len(), want.len());
    for (i, (g, (time, nick, text))) in got.iter().zip(&want).enumerate() {
        assert_eq!(g["text"], text.as_str(), "message {i}");
        assert_eq!(g["display_name"], nick.as_str(), "message {i}");
        let ts = g["created_at"].as_str().unwrap();
        assert_eq!(&ts[11..16], time, "message {i}: {ts}");
    }
    assert!(
        got[0]["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2015-01-20T22:19")
    );
    assert!(
        got.last().unwrap()["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2015-01-21")
    );

    // Re-running stores nothing twice.
    let mut c = ctl.admin();
    c.args(["--json", "import", "irc-log"])
        .arg(&file)
        .args(["--room", "ubuntu"]);
    let again = json_lines(&ok(c).await).remove(0);
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["already_imported"], want.len(), "{again}");
    assert_eq!(again["users_created"], 0, "{again}");

    // Date filters split the night at midnight, exactly.
    let before_midnight = want
        .iter()
        .take_while(|(t, _, _)| t.as_str() >= "12:00")
        .count();
    let day1 = messages(
        &ok(args(
            ctl.admin(),
            &["--json", "history", "ubuntu", "--to", "2015-01-20"],
        ))
        .await,
    );
    let day2 = messages(
        &ok(args(
            ctl.admin(),
            &["--json", "history", "ubuntu", "--from", "2015-01-21"],
        ))
        .await,
    );
    assert_eq!(day1.len(), before_midnight);
    assert_eq!(day2.len(), want.len() - before_midnight);
    assert!(
        day2.iter()
            .all(|m| m["created_at"].as_str().unwrap().starts_with("2015-01-21"))
    );
    let hour = messages(
        &ok(args(
            ctl.admin(),
            &[
                "--json",
                "history",
                "ubuntu",
                "--from",
                "2015-01-20T23:00:00Z",
                "--to",
                "2015-01-21T00:00:00Z",
            ],
        ))
        .await,
    );
    let want_hour = want
        .iter()
        .take(before_midnight)
        .filter(|(t, _, _)| t.starts_with("23:"))
        .count();
    assert_eq!(hour.len(), want_hour);

    // A nick filter by the username the import derived: k1l.
    let k1l = messages(
        &ok(args(
            ctl.admin(),
            &["--json", "history", "ubuntu", "--user", "k1l"],
        ))
        .await,
    );
    assert_eq!(
        k1l.len(),
        want.iter().filter(|(_, n, _)| n == "k1l").count()
    );
    assert!(k1l.len() > 10);

    // --limit gives the latest N; CSV has a header row.
    let last = messages(
        &ok(args(
            ctl.admin(),
            &["--json", "history", "ubuntu", "--limit", "3"],
        ))
        .await,
    );
    let tail: Vec<&str> = want[want.len() - 3..]
        .iter()
        .map(|(_, _, t)| t.as_str())
        .collect();
    let last_texts: Vec<&str> = last.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(last_texts, tail);
    let csv = ok(args(
        ctl.admin(),
        &["history", "ubuntu", "--csv", "--limit", "1"],
    ))
    .await;
    assert!(
        csv.starts_with("room,seq,id,created_at,sender,display_name,org,type,text\n"),
        "{csv}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters_by_user_and_org() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ward"])).await;
    let mut tokens = Vec::new();
    for (name, org) in [("alice", "ward-1"), ("bob", "ward-2"), ("carol", "Ward-1")] {
        expect(
            args(
                ctl.admin(),
                &["user", "create", name, "--org", org, "--password-stdin"],
            ),
            Some(&format!("{PASSWORD}\n")),
            0,
        )
        .await;
        ok(args(ctl.admin(), &["room", "add", "ward", name])).await;
        let out = ok(args(
            ctl.admin(),
            &["--json", "token", "create", "--user", name],
        ))
        .await;
        let secret = json_lines(&out)[0]["secret"].as_str().unwrap().to_owned();
        tokens.push((name, ctl.token_file(&format!("{name}.token"), &secret)));
    }
    for round in 0..3 {
        for (name, token) in &tokens {
            ok(args(
                ctl.with_token(token),
                &["send", "ward", &format!("{name} {round}")],
            ))
            .await;
        }
    }
    let texts = |out: String| -> Vec<String> {
        messages(&out)
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_org = texts(
        ok(args(
            ctl.admin(),
            &["--json", "history", "ward", "--org", "ward-1"],
        ))
        .await,
    );
    assert_eq!(
        by_org,
        [
            "alice 0", "carol 0", "alice 1", "carol 1", "alice 2", "carol 2"
        ]
    );
    let by_user = texts(
        ok(args(
            ctl.admin(),
            &["--json", "history", "ward", "--user", "bob"],
        ))
        .await,
    );
    assert_eq!(by_user, ["bob 0", "bob 1", "bob 2"]);
    // Both at once, and a seq range.
    let both = texts(
        ok(args(
            ctl.admin(),
            &[
                "--json", "history", "ward", "--org", "ward-2", "--user", "alice",
            ],
        ))
        .await,
    );
    assert!(both.is_empty());
    let all = messages(&ok(args(ctl.admin(), &["--json", "history", "ward"])).await);
    let s = all[3]["seq"].as_u64().unwrap();
    let range = texts(
        ok(args(
            ctl.admin(),
            &[
                "--json",
                "history",
                "ward",
                "--after",
                &(s - 1).to_string(),
                "--before",
                &(s + 3).to_string(),
            ],
        ))
        .await,
    );
    assert_eq!(range, ["alice 1", "bob 1", "carol 1"]);
}
