//! Room-name and username rules: Korean and other scripts allowed, names
//! that could be confused with another refused, usernames unchanged. Unit
//! cases for each rule, then properties over arbitrary strings.

use chat_protocol::ErrorCode;
use chat_protocol::names::{
    MAX_ROOM_NAME_LEN, canonical, normalize, validate_room_name, validate_username,
};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

fn refused(name: &str) -> String {
    let err = validate_room_name(name).expect_err(name);
    assert_eq!(err.code, ErrorCode::InvalidName, "{name:?}");
    err.message
}

#[test]
fn korean_and_other_scripts_are_room_names() {
    for ok in [
        "병동",
        "3병동",
        "ward-3병동",
        "응급실_야간",
        "ops",
        "Ward-7.night",
        "Café",
        "東京-ops",
        "ひらがな漢字",
        "Москва",
        "Αθήνα",
        "שלום",
        "नमस्ते",
    ] {
        assert!(
            validate_room_name(ok).is_ok(),
            "{ok:?}: {:?}",
            validate_room_name(ok)
        );
    }
}

#[test]
fn the_refusal_of_issue_12_is_gone() {
    // Before: `room name "3병동" contains '병'; use only letters…`
    assert!(validate_room_name("3병동").is_ok());
}

#[test]
fn invisible_bidi_and_control_characters_are_refused() {
    for (name, says) in [
        ("ops\u{200B}", "invisible character U+200B"),
        ("op\u{200D}s", "invisible character U+200D"),
        ("병\u{3164}동", "invisible character U+3164"),
        ("\u{3164}", "invisible character U+3164"),
        ("병동\u{FE0F}", "invisible character U+FE0F"),
        ("ops\u{00AD}", "invisible character U+00AD"),
        ("병\u{202E}동", "bidirectional control U+202E"),
        ("병\u{2067}동", "bidirectional control U+2067"),
        ("병동\u{7}", "control character U+0007"),
        ("병\u{9b}동", "control character U+009B"),
        ("병 동", "contains a space"),
        ("병\u{3000}동", "contains a space"),
        ("ｏｐｓ", "compatibility form"),
        ("병동!", "U+0021"),
        ("병동🏥", "U+1F3E5"),
    ] {
        let msg = refused(name);
        assert!(msg.contains(says), "{name:?}: {msg}");
        assert!(
            !msg.contains('\u{202E}') && !msg.contains('\u{7}'),
            "{msg:?}"
        );
    }
}

#[test]
fn look_alike_mixes_are_refused() {
    // A Cyrillic 'а' (U+0430) in a Latin name.
    let msg = refused("p\u{430}ypal");
    assert!(msg.contains("mixes letters of scripts"), "{msg}");
    // Greek omicron among Latin letters.
    assert!(refused("\u{3BF}ps").contains("mixes"));
    // An Arabic-Indic digit three among Latin letters.
    assert!(refused("ward\u{663}").contains("mixes"));
    // Latin with Han, kana or Hangul is a normal way to name things.
    assert!(validate_room_name("ops-東京").is_ok());
    assert!(validate_room_name("ops-병동").is_ok());
}

#[test]
fn decomposed_forms_are_refused_and_normalize_fixes_them() {
    let nfd: String = "3병동".nfd().collect();
    assert_ne!(nfd, "3병동");
    let msg = refused(&nfd);
    assert!(msg.contains("normal form C"), "{msg}");
    assert_eq!(normalize(&nfd), "3병동");
    assert!(validate_room_name(&normalize(&nfd)).is_ok());
    assert_eq!(canonical(&nfd), canonical("3병동"));
}

#[test]
fn shape_rules() {
    assert!(refused("").contains("must not be empty"));
    assert!(refused("-병동").contains("must start with a letter or digit"));
    assert!(refused("_ops").contains("must start with one of the letters or digits"));
    // The limit is in bytes: 21 syllables fit, 22 do not.
    assert!(validate_room_name(&"병".repeat(21)).is_ok());
    let msg = refused(&"병".repeat(22));
    assert!(
        msg.contains(&format!("limit is {MAX_ROOM_NAME_LEN}")),
        "{msg}"
    );
    // Stacked combining marks.
    assert!(validate_room_name("e\u{301}").is_err(), "not NFC");
    assert!(validate_room_name("x\u{300}\u{301}\u{302}").is_ok());
    let zalgo = "x\u{300}\u{301}\u{302}\u{303}";
    assert!(refused(zalgo).contains("combining marks"), "{zalgo:?}");
}

#[test]
fn usernames_keep_the_ascii_rules() {
    assert!(validate_username("alice").is_ok());
    for bad in ["병동", "é", "p\u{430}ypal"] {
        let err = validate_username(bad).expect_err(bad);
        assert!(err.message.contains("ASCII letters"), "{}", err.message);
    }
}

#[test]
fn canonical_folds_case_in_any_script() {
    assert_eq!(canonical("Ward-7"), "ward-7");
    assert_eq!(canonical("CAFÉ"), canonical("café"));
    assert_eq!(canonical("ΑΘΉΝΑ"), canonical("αθήνα"));
    assert_eq!(canonical("병동"), "병동");
}

proptest! {
    #[test]
    fn validation_never_panics_and_explains(s in "\\PC{0,40}|.{0,40}") {
        if let Err(e) = validate_room_name(&s) {
            prop_assert_eq!(e.code, ErrorCode::InvalidName);
            prop_assert!(!e.message.is_empty());
        }
        let _ = validate_username(&s);
        let _ = canonical(&s);
    }

    #[test]
    fn ascii_canonical_is_unchanged(s in "[ -~]{0,40}") {
        // Keys stored before room names allowed other scripts stay valid.
        prop_assert_eq!(canonical(&s), s.to_ascii_lowercase());
    }

    #[test]
    fn accepted_names_hold_nothing_invisible_or_unsafe(s in "[a-z0-9가-힣ㄱ-ㅎ\\u{3164}\\u{200B}\\u{200D}\\u{202E}\\u{301}\\u{430}ー・_.-]{1,12}") {
        if validate_room_name(&s).is_ok() {
            prop_assert!(unicode_normalization::is_nfc(&s));
            for c in s.chars() {
                prop_assert!(!chat_protocol::text::is_unsafe(c), "{:?}", c);
                prop_assert!(!matches!(c, '\u{3164}' | '\u{200B}' | '\u{200D}'), "{:?}", c);
            }
            let cyrillic_a = s.contains('\u{430}');
            prop_assert!(!(cyrillic_a && s.chars().any(|c| c.is_ascii_alphabetic())), "{:?}", s);
        }
    }

    #[test]
    fn canonical_is_stable_for_accepted_names(s in "[a-zA-Z0-9가-힣À-ÿΑ-ω_.-]{1,16}") {
        if validate_room_name(&s).is_ok() {
            let c = canonical(&s);
            prop_assert_eq!(canonical(&c), c.clone());
            let nfd: String = s.nfd().collect();
            prop_assert_eq!(canonical(&nfd), c);
        }
    }
}
