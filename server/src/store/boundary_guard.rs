//! Keeps the storage boundary ([`super::boundary`]): no source file of
//! chatd outside `src/store/` may reach redb's tables, the `query`
//! helpers or the writer's closures, except the files [`ALLOWED`] names
//! with the reason they still do.

use std::path::{Path, PathBuf};

/// Files (relative to `server/src`) allowed to reach storage directly, and
/// why. Each is a domain not yet moved behind the boundary; the test also
/// fails when a listed file no longer needs its entry, so the list only
/// shrinks.
const ALLOWED: &[(&str, &str)] = &[];

/// Text that, on one line, means the code reaches storage directly.
const LINE_PATTERNS: &[&str] = &[
    "open_table",
    "tables::",
    "WriteCtx",
    "ReadTransaction",
    "ReadTx",
    "WriteTx",
    "KvRead",
    "read_blocking(",
];

/// Call chains that mean the same once whitespace (line breaks between
/// the links of a chain) is removed.
const CHAIN_PATTERNS: &[&str] = &[
    ".store.read(",
    "store.writer().write(",
    "store.writer().submit(",
    "session.read(",
    "session.write(",
    ".writer().write(",
    ".writer().submit(",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The redb table constants (`pub const NAME: TableDefinition`).
fn table_names(src: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(src.join("store/tables.rs")).expect("tables.rs");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter(|l| l.contains("TableDefinition"))
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

/// Whether `word` occurs in `line` as a whole identifier used as a value
/// (after `(`, `&`, `,` or a path's `::`), as a table constant is used; a
/// local static of the same name (`static BLOCKS`) does not count.
fn has_table(line: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].trim_end().chars().next_back();
        let after = line[i + word.len()..].chars().next();
        before.is_some_and(|c| matches!(c, '(' | '&' | ',' | ':')) && !after.is_some_and(ident)
    })
}

/// What in `text` reaches storage directly, one line per finding.
fn findings(text: &str, tables: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for p in LINE_PATTERNS {
            if code.contains(p) {
                out.push(format!("line {}: {p}", n + 1));
            }
        }
        // `store::query`, by path or imported; tantivy's and the search
        // module's own `query` modules are not storage.
        if code.match_indices("query::").any(|(i, _)| {
            let before = &code[..i];
            !before.ends_with("tantivy::") && !before.ends_with("search::")
        }) {
            out.push(format!("line {}: query::", n + 1));
        }
        for t in tables {
            if has_table(code, t) {
                out.push(format!("line {}: table {t}", n + 1));
            }
        }
    }
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    for p in CHAIN_PATTERNS {
        if code.contains(p) {
            out.push(format!("calls {p}"));
        }
    }
    out
}

#[test]
fn only_the_store_reaches_redb() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tables = table_names(&src);
    assert!(tables.len() > 10, "found the table constants: {tables:?}");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut problems = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("store/") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        let found = findings(&text, &tables);
        let allowed = ALLOWED.iter().any(|(f, _)| *f == rel);
        if !found.is_empty() && !allowed {
            problems.push(format!(
                "{rel} reaches storage directly ({}); add a typed operation in store/ops and a \
                 method in store/boundary.rs instead",
                found.join(", ")
            ));
        }
        if found.is_empty() && allowed {
            problems.push(format!(
                "{rel} no longer reaches storage directly; remove it from ALLOWED in \
                 store/boundary_guard.rs"
            ));
        }
    }
    for (f, _) in ALLOWED {
        if !src.join(f).exists() {
            problems.push(format!("ALLOWED names {f}, which does not exist"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_guard_sees_what_it_forbids() {
    let tables = vec!["USERS".to_string()];
    assert!(!findings("let t = txn.open_table(USERS)?;", &tables).is_empty());
    assert!(!findings("session\n    .write(move |ctx| ok())", &tables).is_empty());
    assert!(!findings("shared\n .store\n .read(|t| x)", &tables).is_empty());
    assert!(findings("let users = 3; // open_table", &tables).is_empty());
    assert!(!findings("r = get(&USERS, 1);", &tables).is_empty());
    assert!(!findings("query::rooms_of(&r.user_rooms, 1)", &tables).is_empty());
    assert!(findings("use tantivy::query::TermQuery;", &tables).is_empty());
    assert!(findings("let USERS_SEEN = (USERS_X, 1);", &tables).is_empty());
    assert!(findings("static USERS: u8 = 0; USERS.with(f);", &tables).is_empty());
}
