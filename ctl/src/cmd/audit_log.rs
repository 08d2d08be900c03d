//! `audit head` and `audit verify`: the tamper-evident audit log from an
//! auditor's side (server admins).
//!
//! `audit head --json` prints the current signed tree head as one JSON
//! object, the file an auditor keeps elsewhere. `audit verify --head FILE`
//! checks the whole log against it, trusting nothing the server says that
//! it cannot check:
//!
//! 1. the saved head's Ed25519 signature (and, with `--key`, that its key
//!    is the one given, e.g. chatd's `audit.pub`);
//! 2. the server's current head: signed by the same key, not smaller;
//! 3. the consistency proof (RFC 9162 §2.1.4) from the saved head to the
//!    current one: the log was only appended to;
//! 4. every record, page by page, against its inclusion proof (§2.1.3) in
//!    the current tree, with the leaf hash recomputed here from the record
//!    ([`chat_protocol::audit::leaf_bytes`]);
//! 5. the Merkle root recomputed here from all the records, at the saved
//!    size and at the current size, against both signed roots.
//!
//! A failure exits 1 naming the first bad record (its index, id, action
//! and what failed). Steps 4 and 5 catch a changed record; steps 3 to 5 a
//! changed tree state on the server as well.

use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_protocol::Timestamp;
use chat_protocol::audit::{
    HASH_LEN, MAX_AUDIT_ENTRIES, PUBLIC_KEY_LEN, SIGNATURE_LEN, SignedTreeHead, leaf_bytes,
};
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

/// `audit head`: prints the current signed head (JSON with `--json`: the
/// object `audit verify --head` reads).
///
/// # Errors
/// Request failures (`Forbidden`, exit 4, unless a server admin).
pub async fn head(target: &Target, out: &Out) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let head = conn
        .audit_head()
        .await
        .map_err(|e| CtlError::client("cannot get the audit log's signed head", e))?;
    if out.json() {
        return out.json_line(&head_json(&head));
    }
    out.line(&format!("tree_size   {}", head.tree_size))?;
    out.line(&format!("root_hash   {}", hex::encode(&head.root_hash)))?;
    out.line(&format!("signed_at   {}", rfc3339(head.at)))?;
    out.line(&format!("public_key  {}", hex::encode(&head.public_key)))?;
    out.line(&format!("signature   {}", hex::encode(&head.signature)))?;
    out.line("save it elsewhere with `chatctl --json audit head > head.json`")
}

/// The JSON form of a signed head: `tree_size`, `root_hash`, `public_key`
/// and `signature` (lower-case hex), `signed_at_ms` and `signed_at` (RFC
/// 3339 UTC, for people; the ms value is what is signed).
pub fn head_json(h: &SignedTreeHead) -> Value {
    json!({
        "type": "audit_head",
        "tree_size": h.tree_size,
        "root_hash": hex::encode(&h.root_hash),
        "signed_at_ms": h.at.0,
        "signed_at": rfc3339(h.at),
        "public_key": hex::encode(&h.public_key),
        "signature": hex::encode(&h.signature),
    })
}

/// Reads a head saved by `audit head --json`.
///
/// # Errors
/// [`CtlError::Invalid`] naming the file and the field.
pub fn read_head(path: &Path) -> Result<SignedTreeHead> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CtlError::io(format!("cannot read the saved head {}", path.display()), e))?;
    let bad = |what: &str| {
        CtlError::Invalid(format!(
            "{} is not a saved audit head ({what}); save one with `chatctl --json audit head > FILE`",
            path.display()
        ))
    };
    let v: Value = serde_json::from_str(text.trim()).map_err(|_| bad("not JSON"))?;
    let num = |k: &str| v.get(k).and_then(Value::as_u64).ok_or_else(|| bad(k));
    let bytes = |k: &str, len: usize| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|s| hex::decode(s).ok())
            .filter(|b| b.len() == len)
            .ok_or_else(|| bad(k))
    };
    Ok(SignedTreeHead {
        tree_size: num("tree_size")?,
        root_hash: bytes("root_hash", HASH_LEN)?,
        at: Timestamp(num("signed_at_ms")?),
        public_key: bytes("public_key", PUBLIC_KEY_LEN)?,
        signature: bytes("signature", SIGNATURE_LEN)?,
    })
}

/// Checks a head's signature with its own key.
fn check_signature(h: &SignedTreeHead) -> std::result::Result<(), String> {
    let key: [u8; PUBLIC_KEY_LEN] = h
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| "its public key is not 32 bytes".to_owned())?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| "its public key is invalid".to_owned())?;
    let sig = Signature::from_slice(&h.signature)
        .map_err(|_| "its signature is not 64 bytes".to_owned())?;
    key.verify(&h.message(), &sig)
        .map_err(|_| "its signature does not match its contents".to_owned())
}

fn root_of(h: &SignedTreeHead) -> Option<RootHash<Sha256>> {
    let bytes: [u8; HASH_LEN] = h.root_hash.as_slice().try_into().ok()?;
    Some(RootHash::new(bytes.into(), h.tree_size))
}

/// The RFC 9162 Merkle root of leaves added one by one, kept as the stack
/// of complete subtrees (O(log n) memory).
#[derive(Default)]
pub struct RootAccumulator {
    stack: Vec<(u64, [u8; HASH_LEN])>,
}

fn node(l: &[u8; HASH_LEN], r: &[u8; HASH_LEN]) -> [u8; HASH_LEN] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

impl RootAccumulator {
    /// Adds the leaf with these bytes.
    pub fn push(&mut self, leaf: &[u8]) {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(leaf);
        let mut cur: (u64, [u8; HASH_LEN]) = (1, h.finalize().into());
        while let Some(&(size, left)) = self.stack.last() {
            if size != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (size * 2, node(&left, &cur.1));
        }
        self.stack.push(cur);
    }

    /// The root of the leaves added so far (SHA-256 of nothing when none).
    pub fn root(&self) -> [u8; HASH_LEN] {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut h)) = it.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in it {
            h = node(left, &h);
        }
        h
    }
}

/// The first problem found, for the report.
struct Bad {
    index: u64,
    what: String,
}

/// What is wrong with one record.
enum Problem {
    /// Missing, unreadable or out of place: the record itself is bad.
    Record(String),
    /// Its inclusion proof fails: the record, or the server's stored tree
    /// state it is proved with, was altered.
    Inclusion(String),
}

/// `audit verify --head FILE [--key FILE]`.
///
/// # Errors
/// [`CtlError::Partial`] (exit 1) when the log fails verification, after
/// printing what failed; [`CtlError::Invalid`] for an unusable head file;
/// request failures.
pub async fn verify(target: &Target, out: &Out, head: &Path, key: Option<&Path>) -> Result<()> {
    let saved = read_head(head)?;
    if let Err(why) = check_signature(&saved) {
        return Err(CtlError::Invalid(format!(
            "the saved head {} is not genuine: {why}",
            head.display()
        )));
    }
    if let Some(key) = key {
        let text = std::fs::read_to_string(key)
            .map_err(|e| CtlError::io(format!("cannot read the key {}", key.display()), e))?;
        if hex::decode(text.trim()).ok().as_deref() != Some(saved.public_key.as_slice()) {
            return Err(CtlError::Invalid(format!(
                "the saved head was signed by another key than {} ({}); it is not this \
                 server's head",
                key.display(),
                hex::encode(&saved.public_key)
            )));
        }
    }
    let (conn, _) = target.connect_authed().await?;
    let current = conn
        .audit_head()
        .await
        .map_err(|e| CtlError::client("cannot get the audit log's signed head", e))?;
    let mut failures: Vec<String> = Vec::new();
    if current.public_key != saved.public_key {
        failures.push(format!(
            "the server now signs with another key ({}) than the saved head's ({})",
            hex::encode(&current.public_key),
            hex::encode(&saved.public_key)
        ));
    } else if let Err(why) = check_signature(&current) {
        failures.push(format!("the server's current head is not genuine: {why}"));
    }
    if current.tree_size < saved.tree_size {
        failures.push(format!(
            "the log shrank: it has {} records, the saved head {}",
            current.tree_size, saved.tree_size
        ));
    }
    let (Some(saved_root), Some(current_root)) = (root_of(&saved), root_of(&current)) else {
        return Err(CtlError::Invalid(
            "a head's root hash is not 32 bytes".into(),
        ));
    };
    if failures.is_empty() && saved.tree_size > 0 {
        let proof = conn
            .audit_consistency(saved.tree_size, current.tree_size)
            .await
            .map_err(|e| CtlError::client("cannot get the consistency proof", e))?;
        let ok = ConsistencyProof::<Sha256>::try_from_bytes(proof.concat())
            .ok()
            .is_some_and(|p| current_root.verify_consistency(&saved_root, &p).is_ok());
        if !ok {
            failures.push(format!(
                "the current log (size {}) is not an extension of the saved head (size {}): \
                 records before {} were changed, removed or reordered",
                current.tree_size, saved.tree_size, saved.tree_size
            ));
        }
    }
    // The heads chatd signed at intervals: each is one more root the
    // records must reproduce at its size.
    let mut checkpoints = std::collections::BTreeMap::new();
    let stored = if current.public_key == saved.public_key {
        conn.audit_heads_all()
            .await
            .map_err(|e| CtlError::client("cannot read the stored tree heads", e))?
    } else {
        Vec::new()
    };
    for h in &stored {
        let problem = if h.public_key != saved.public_key {
            Some("is signed by another key".to_owned())
        } else if let Err(why) = check_signature(h) {
            Some(format!("is not genuine: {why}"))
        } else if h.tree_size > current.tree_size {
            Some(format!("is larger than the log ({})", current.tree_size))
        } else if h.tree_size == 0 && h.root_hash != RootAccumulator::default().root().to_vec() {
            Some("has a wrong empty root".to_owned())
        } else {
            None
        };
        match problem {
            Some(p) => failures.push(format!(
                "the stored head of size {} signed at {} {p}",
                h.tree_size,
                rfc3339(h.at)
            )),
            None => {
                checkpoints.insert(h.tree_size, h);
            }
        }
    }
    let mut stored_mismatch: Option<&SignedTreeHead> = None;
    let mut first_bad: Option<Bad> = None;
    let mut bad_count = 0u64;
    // Whether every problem found is a failed inclusion proof.
    let mut only_inclusion = true;
    let mut acc = RootAccumulator::default();
    let mut saved_root_ok = saved.tree_size == 0 && saved.root_hash == acc.root().to_vec();
    let mut index = 0u64;
    // Under another key nothing the server says can be checked.
    let scanned = current.public_key == saved.public_key;
    let progress = crate::progress::bar(current.tree_size, "verifying");
    while scanned && index < current.tree_size {
        let page = conn
            .audit_entries(current.tree_size, index, MAX_AUDIT_ENTRIES)
            .await
            .map_err(|e| CtlError::client(format!("cannot read audit records from {index}"), e))?;
        if page.is_empty() {
            return Err(CtlError::Invalid(format!(
                "the server returned no audit records from {index}; retry, or report it"
            )));
        }
        for e in page {
            if e.index != index {
                return Err(CtlError::Invalid(format!(
                    "the server returned record {} where {index} was due; report it",
                    e.index
                )));
            }
            let problem = match &e.record {
                None => {
                    acc.push(&[]);
                    Some(Problem::Record(
                        e.problem.clone().unwrap_or_else(|| "missing".into()),
                    ))
                }
                Some(rec) => {
                    let leaf = leaf_bytes(rec);
                    acc.push(&leaf);
                    let proof = InclusionProof::<Sha256>::try_from_bytes(e.proof.concat());
                    if rec.id != index + 1 {
                        Some(Problem::Record(format!(
                            "it carries id {} instead of {}",
                            rec.id,
                            index + 1
                        )))
                    } else if proof
                        .ok()
                        .is_none_or(|p| current_root.verify_inclusion(&leaf, index, &p).is_err())
                    {
                        Some(Problem::Inclusion(format!(
                            "{} by {} at {}: its contents do not match what the signed log \
                             committed to (the record, or the server's tree state, was altered)",
                            rec.action,
                            rec.actor.username,
                            rfc3339(rec.at)
                        )))
                    } else {
                        None
                    }
                }
            };
            if let Some(problem) = problem {
                let what = match problem {
                    Problem::Record(w) => {
                        only_inclusion = false;
                        w
                    }
                    Problem::Inclusion(w) => w,
                };
                bad_count += 1;
                if first_bad.is_none() {
                    first_bad = Some(Bad { index, what });
                }
            }
            index += 1;
            if index == saved.tree_size {
                saved_root_ok = acc.root().to_vec() == saved.root_hash;
            }
            if let Some(h) = checkpoints.get(&index)
                && stored_mismatch.is_none()
                && acc.root().to_vec() != h.root_hash
            {
                stored_mismatch = Some(h);
            }
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    let current_root_ok = acc.root().to_vec() == current.root_hash;
    if let Some(h) = stored_mismatch {
        failures.push(format!(
            "the first {} records do not hash to the head chatd signed at {}",
            h.tree_size,
            rfc3339(h.at)
        ));
    }
    if scanned && !saved_root_ok && current.tree_size >= saved.tree_size {
        failures.push(format!(
            "the first {} records do not hash to the saved head's root",
            saved.tree_size
        ));
    }
    if scanned && !current_root_ok {
        failures.push(format!(
            "the {} records do not hash to the server's signed root (its tree state \
             disagrees with its records)",
            current.tree_size
        ));
    }
    // Every record reproduces both signed roots, so the records are the
    // ones the heads committed to: failed inclusion proofs then come from
    // the server's stored tree state, not from the records.
    if let Some(b) = first_bad
        .as_ref()
        .filter(|_| only_inclusion && failures.is_empty() && saved_root_ok && current_root_ok)
    {
        failures.push(format!(
            "every record matches the signed roots, but the server's stored tree state is \
             damaged: {bad_count} inclusion proofs fail, the first for record index {} (id \
             {}); restore the database from a backup",
            b.index,
            b.index + 1
        ));
        first_bad = None;
        bad_count = 0;
    }
    let ok = failures.is_empty() && first_bad.is_none();
    if out.json() {
        out.json_line(&json!({
            "type": "audit_verify",
            "ok": ok,
            "records": current.tree_size,
            "saved_tree_size": saved.tree_size,
            "stored_heads": checkpoints.len(),
            "current": head_json(&current),
            "bad_records": bad_count,
            "first_bad": first_bad.as_ref().map(|b| json!({
                "index": b.index, "id": b.index + 1, "problem": b.what,
            })),
            "failures": failures,
        }))?;
    } else if ok {
        out.line(&format!(
            "ok: {} audit records verified; the log extends the saved head (size {}) and \
             matches the server's head signed at {}",
            current.tree_size,
            saved.tree_size,
            rfc3339(current.at)
        ))?;
    } else {
        if let Some(b) = &first_bad {
            out.line(&format!(
                "FAIL first bad record: index {} (id {}): {}",
                b.index,
                b.index + 1,
                b.what
            ))?;
            if bad_count > 1 {
                out.line(&format!("FAIL {bad_count} records fail in all"))?;
            }
        }
        for f in &failures {
            out.line(&format!("FAIL {f}"))?;
        }
    }
    if ok {
        return Ok(());
    }
    Err(CtlError::Partial(match &first_bad {
        Some(b) => format!(
            "the audit log failed verification: first bad record is index {} (id {})",
            b.index,
            b.index + 1
        ),
        None => format!(
            "the audit log failed verification: {}",
            failures.first().map_or("", String::as_str)
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_merkle::mem_backed_tree::MemoryBackedTree;

    #[test]
    fn the_accumulator_matches_ct_merkle_for_every_size_to_64() {
        let mut acc = RootAccumulator::default();
        let mut t = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        assert_eq!(
            hex::encode(acc.root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for i in 0..64u32 {
            let leaf = i.to_be_bytes().to_vec();
            acc.push(&leaf);
            t.push(leaf);
            assert_eq!(&acc.root()[..], &t.root().as_bytes()[..], "size {}", i + 1);
        }
    }
}
