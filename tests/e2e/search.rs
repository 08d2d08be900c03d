//! Full-text search against a real chatd: the Korean ward set
//! (`search_ward.rs`) with membership and blocking, English words over a
//! real IRC transcript compared with a plain scan, edits and deletions,
//! audit searches, chatctl's JSON lines, and a SIGKILL while indexing.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, json_lines, ok};
use super::search_ward::{ICU, MESSAGES, PHARMACY, QUERIES, Room, WARD};
use chat_client::Connection;
use chat_e2e::{WAIT, spawn_server};
use chat_protocol::{
    ErrorCode, HistoryAnchor, IdempotencyKey, RoomEventKind, RoomId, SearchHit, SearchOrder,
    SearchQuery, Seq, Timestamp, Visibility,
};
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// Every hit of `query`, paging with the cursor; asks again while the
/// server says its index is behind (each ask waits up to 2 s server-side).
pub async fn search_all(conn: &Connection, query: SearchQuery) -> Vec<SearchHit> {
    let start = Instant::now();
    'again: loop {
        let mut q = query.clone();
        let mut hits = Vec::new();
        loop {
            let page = conn.search(q.clone()).await.expect("search");
            if page.behind {
                assert!(start.elapsed() < WAIT, "the index stayed behind");
                continue 'again;
            }
            hits.extend(page.hits);
            match page.next {
                Some(next) => q.cursor = Some(next),
                None => return hits,
            }
        }
    }
}

fn q(text: &str) -> SearchQuery {
    SearchQuery::new(text, 7)
}

fn keys(hits: &[SearchHit]) -> BTreeSet<(u64, u64)> {
    hits.iter().map(|h| (h.room.0, h.seq.0)).collect()
}

struct Ward {
    _server: chat_e2e::TestServer,
    users: HashMap<&'static str, Connection>,
    /// Message number (1-based) to (room, seq).
    at: Vec<(u64, u64)>,
    rooms: HashMap<Room, RoomId>,
}

async fn ward() -> Ward {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let mut users = HashMap::new();
    for (name, org) in [
        ("kim", "간호부"),
        ("park", "간호부"),
        ("yoon", "간호부"),
        ("lee", "내과"),
        ("choi", "중환자실"),
        ("jung", "약제부"),
    ] {
        users.insert(name, server.user_in_org(name, org).await.0);
    }
    let mut rooms = HashMap::new();
    for (room, name, members) in [
        (Room::Ward, WARD, &["kim", "lee", "park", "yoon"][..]),
        (Room::Icu, ICU, &["lee", "choi"][..]),
        (Room::Pharmacy, PHARMACY, &["kim", "jung"][..]),
    ] {
        let id = admin
            .create_room(name, "", Visibility::Private)
            .await
            .unwrap()
            .id;
        for m in members {
            admin.add_member(id, m).await.unwrap();
        }
        rooms.insert(room, id);
    }
    let direct = users["lee"].open_direct("kim").await.unwrap().id;
    rooms.insert(Room::Direct, direct);
    let mut at = Vec::new();
    for (i, (room, sender, text)) in MESSAGES.iter().enumerate() {
        let ack = users[sender]
            .send(rooms[room], IdempotencyKey(format!("w{i}")), text, None)
            .await
            .unwrap();
        at.push((ack.room.0, ack.seq.0));
    }
    users["kim"].set_blocked("yoon", true).await.unwrap();
    Ward {
        _server: server,
        users,
        at,
        rooms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn korean_ward_queries_find_every_form_and_nothing_unreadable() {
    let w = ward().await;
    let kim = &w.users["kim"];
    assert!(MESSAGES.len() >= 50 && QUERIES.len() >= 15);
    let number: HashMap<(u64, u64), usize> =
        w.at.iter().enumerate().map(|(i, k)| (*k, i + 1)).collect();
    for (text, want, never) in QUERIES {
        let hits = search_all(kim, q(text)).await;
        let got: BTreeSet<usize> = keys(&hits).iter().map(|k| number[k]).collect();
        let want: BTreeSet<usize> = want.iter().copied().collect();
        assert_eq!(got, want, "query {text:?}: got {got:?}, want {want:?}");
        assert!(
            never.iter().all(|n| !got.contains(n)),
            "query {text:?} leaked {never:?}"
        );
        assert!(
            hits.iter().all(|h| h.room != w.rooms[&Room::Icu]),
            "query {text:?} reached the ICU"
        );
        // Newest first: seqs fall within a room, times never rise.
        assert!(
            hits.windows(2).all(|p| p[0].ts >= p[1].ts),
            "{text:?} order"
        );
    }

    // A member of the ICU finds its messages, and yoon's (lee blocks nobody).
    let lee = search_all(&w.users["lee"], q("혈압")).await;
    let lee: BTreeSet<usize> = keys(&lee).iter().map(|k| number[k]).collect();
    assert!(lee.contains(&31) && lee.contains(&33), "{lee:?}");

    // Highlights fall on the stem inside the longer word.
    let hits = search_all(kim, q("환자")).await;
    let first = hits
        .iter()
        .find(|h| number[&(h.room.0, h.seq.0)] == 1)
        .unwrap();
    let (a, b) = first.highlights[0];
    assert_eq!(&first.snippet[a as usize..b as usize], "환자");

    // Filters: sender, organization, room, date; relevance finds the same set.
    let mut by_park = q("환자");
    by_park.sender = Some("park".into());
    let got: BTreeSet<usize> = keys(&search_all(kim, by_park).await)
        .iter()
        .map(|k| number[k])
        .collect();
    assert_eq!(got, BTreeSet::from([3, 6, 11, 14, 32]));
    let mut nurses = q("환자");
    nurses.org = Some("간호부".into());
    let got: BTreeSet<usize> = keys(&search_all(kim, nurses).await)
        .iter()
        .map(|k| number[k])
        .collect();
    assert_eq!(got, BTreeSet::from([1, 3, 6, 11, 14, 15, 32]));
    let mut pharmacy = q("항생제");
    pharmacy.room = Some(w.rooms[&Room::Pharmacy]);
    let got: BTreeSet<usize> = keys(&search_all(kim, pharmacy).await)
        .iter()
        .map(|k| number[k])
        .collect();
    assert_eq!(got, BTreeSet::from([46, 47]));
    let mut future = q("환자");
    future.from = Some(Timestamp(Timestamp::now().0 + 3_600_000));
    assert!(search_all(kim, future).await.is_empty());
    let mut relevance = q("환자");
    relevance.order = SearchOrder::Relevance;
    assert_eq!(
        keys(&search_all(kim, relevance).await),
        keys(&search_all(kim, q("환자")).await)
    );

    // A room the caller cannot read answers as a missing one; audit is
    // for server admins.
    let mut icu = q("혈압");
    icu.room = Some(w.rooms[&Room::Icu]);
    let err = kim.search(icu).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    let mut audit = q("혈압");
    audit.audit = true;
    let err = kim.search(audit).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_search_sees_every_room_and_is_recorded() {
    let w = ward().await;
    let admin = w._server.admin().await;
    let mut audit = q("혈압");
    audit.audit = true;
    let got: BTreeSet<(u64, u64)> = keys(&search_all(&admin, audit).await);
    let want: BTreeSet<(u64, u64)> = [1usize, 7, 31, 33, 54]
        .iter()
        .map(|n| w.at[n - 1])
        .collect();
    assert_eq!(got, want);
    let log = admin.moderation_log(None, 100).await.unwrap();
    let rec = log
        .iter()
        .find(|r| r.action == "search-audit")
        .expect("audit search recorded");
    assert!(rec.reason.contains("혈압"), "{}", rec.reason);
    assert_eq!(rec.actor.username, "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletions_and_room_deletion_are_reflected() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (nurse, _) = server.user("nurse").await;
    let room = admin
        .create_room("ward-7", "", Visibility::Public)
        .await
        .unwrap()
        .id;
    nurse.join_room(room).await.unwrap();
    let a = nurse
        .send(
            room,
            IdempotencyKey("a".into()),
            "환자가 산소포화도 88% 입니다",
            None,
        )
        .await
        .unwrap();
    let b = nurse
        .send(
            room,
            IdempotencyKey("b".into()),
            "deploy the new pump firmware",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&search_all(&nurse, q("산소포화도")).await),
        BTreeSet::from([(room.0, a.seq.0)])
    );

    nurse
        .edit(room, a.seq, "환자분 산소포화도 95%로 회복")
        .await
        .unwrap();
    assert!(
        search_all(&nurse, q("88")).await.is_empty(),
        "the old text is gone"
    );
    let hits = search_all(&nurse, q("회복")).await;
    assert_eq!(keys(&hits), BTreeSet::from([(room.0, a.seq.0)]));
    assert_eq!(hits[0].text, "환자분 산소포화도 95%로 회복");
    assert_eq!(
        search_all(&nurse, q("산소포화도")).await.len(),
        1,
        "no duplicate"
    );

    nurse.delete(room, b.seq).await.unwrap();
    assert!(search_all(&nurse, q("deploy*")).await.is_empty());
    let mut audit = q("firmware");
    audit.audit = true;
    assert!(
        search_all(&admin, audit).await.is_empty(),
        "deleted even for audit"
    );

    admin
        .moderate(room, chat_protocol::ModAction::DeleteRoom, "closed")
        .await
        .unwrap();
    let mut audit = q("회복");
    audit.audit = true;
    assert!(
        search_all(&admin, audit).await.is_empty(),
        "room deletion removes its documents"
    );
}

/// Words split as the index splits them: runs of letters and digits,
/// lower case.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_words_over_a_real_transcript_match_a_plain_scan() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let mut c = ctl.admin();
    c.args(["--json", "import", "irc-log"])
        .arg(super::ctl_import::fixture())
        .args(["--room", "ubuntu"]);
    ok(c).await;
    let admin = server.admin().await;
    let room = admin.room_by_name("ubuntu").await.unwrap().id;

    // The plain scan: every message of the room's history.
    let mut all = Vec::new();
    let mut anchor = HistoryAnchor::After(Seq(0));
    loop {
        let page = admin.history(room, anchor, 500).await.unwrap();
        for ev in &page.events {
            if let RoomEventKind::Message(m) = &ev.kind {
                all.push((ev.seq.0, m.text.clone()));
            }
        }
        let Some(last) = page.events.last() else {
            break;
        };
        if !page.has_more {
            break;
        }
        anchor = HistoryAnchor::After(last.seq);
    }
    assert!(all.len() > 1000);
    for word in [
        "ubuntu", "install", "grub", "kernel", "sudo", "windows", "thanks", "x",
    ] {
        let want: BTreeSet<(u64, u64)> = all
            .iter()
            .filter(|(_, t)| words(t).iter().any(|w| w == word))
            .map(|(s, _)| (room.0, *s))
            .collect();
        let got = keys(&search_all(&admin, SearchQuery::new(word, 200)).await);
        assert_eq!(got.len(), want.len(), "{word}");
        assert_eq!(got, want, "{word}");
    }
    let want: BTreeSet<(u64, u64)> = all
        .iter()
        .filter(|(_, t)| words(t).iter().any(|w| w.starts_with("instal")))
        .map(|(s, _)| (room.0, *s))
        .collect();
    assert!(want.len() > 10);
    assert_eq!(
        keys(&search_all(&admin, SearchQuery::new("instal*", 50)).await),
        want
    );

    // `server reindex` rebuilds from the store and reports when done; the
    // rebuilt index answers the same.
    let out = ok(args(ctl.admin(), &["--json", "server", "reindex"])).await;
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["done"], true, "{out}");
    assert_eq!(
        last["documents"].as_u64().unwrap(),
        all.len() as u64,
        "{out}"
    );
    let want: BTreeSet<(u64, u64)> = all
        .iter()
        .filter(|(_, t)| words(t).iter().any(|w| w == "grub"))
        .map(|(s, _)| (room.0, *s))
        .collect();
    assert_eq!(
        keys(&search_all(&admin, SearchQuery::new("grub", 200)).await),
        want
    );

    // chatctl's JSON lines carry the hit's fields.
    let out = ok(args(
        ctl.admin(),
        &[
            "--json", "search", "grub", "--room", "ubuntu", "--limit", "3",
        ],
    ))
    .await;
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    for l in &lines {
        for field in [
            "room",
            "seq",
            "sender",
            "display_name",
            "org",
            "ts",
            "text",
            "snippet",
        ] {
            assert!(l.get(field).is_some(), "{field} missing in {l}");
        }
        assert_eq!(l["room"], "ubuntu");
        assert!(words(l["text"].as_str().unwrap()).contains(&"grub".to_string()));
    }
}
