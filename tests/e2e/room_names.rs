//! Room names in Korean and other scripts against a real chatd: created,
//! found by name in any case or normalisation form, and unambiguous
//! (look-alikes, invisible characters and decomposed forms refused).

use chat_e2e::spawn_server;
use chat_protocol::names::normalize;
use chat_protocol::{ErrorCode, Visibility};

#[tokio::test]
async fn korean_room_names_work_and_look_alikes_are_refused() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;

    let ward = alice
        .create_room("3병동", "야간 근무", Visibility::Public)
        .await
        .expect("a Korean room name is accepted");
    assert_eq!(ward.name, "3병동");
    let found = bob.room_by_name("3병동").await.expect("found by name");
    assert_eq!(found.id, ward.id);
    bob.join_room(ward.id).await.expect("bob joins 3병동");

    // The decomposed spelling of the same name is refused with a reason,
    // and once normalised it names the same room.
    let nfd = "3\u{1107}\u{1167}\u{11BC}\u{1103}\u{1169}\u{11BC}";
    assert_eq!(normalize(nfd), "3병동");
    let err = alice
        .create_room(nfd, "", Visibility::Public)
        .await
        .expect_err("decomposed");
    assert_eq!(err.code(), Some(ErrorCode::InvalidName));
    assert!(err.to_string().contains("normal form C"), "{err}");
    assert_eq!(
        bob.room_by_name(&normalize(nfd)).await.expect("nfc").id,
        ward.id
    );

    // Case-insensitive in any script: "CAFÉ" and "café" are one name.
    alice
        .create_room("café", "", Visibility::Public)
        .await
        .expect("café");
    let err = bob
        .create_room("CAFÉ", "", Visibility::Public)
        .await
        .expect_err("same name in upper case");
    assert_eq!(err.code(), Some(ErrorCode::Conflict));

    // Look-alikes and invisible characters never make a second "ops".
    alice
        .create_room("ops", "", Visibility::Public)
        .await
        .expect("ops");
    for spoof in [
        "\u{43E}ps",
        "ops\u{200B}",
        "o\u{200D}ps",
        "ｏｐｓ",
        "3병동\u{3164}",
    ] {
        let err = bob
            .create_room(spoof, "", Visibility::Public)
            .await
            .expect_err(spoof);
        assert_eq!(err.code(), Some(ErrorCode::InvalidName), "{spoof:?}: {err}");
    }
    // Usernames keep their ASCII rules.
    let admin = server.admin().await;
    let err = admin
        .create_user("병동", Some(chat_e2e::PASSWORD), "", "", false)
        .await
        .expect_err("Korean username");
    assert_eq!(err.code(), Some(ErrorCode::InvalidName));
}
