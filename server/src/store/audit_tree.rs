//! The audit log's Merkle tree (RFC 9162 §2.1), kept in redb beside the
//! records it commits to.
//!
//! Every audit record (table `MODLOG`, id `i + 1`) is leaf `i`. The tree is
//! stored as the hashes of its complete subtrees in [`AUDIT_NODES`], keyed
//! by their index in the array layout that `ct-merkle` uses (RFC 9420
//! "array-based trees": leaf `i` at `2i`, a node of level `k` over leaves
//! `[s, s + 2^k)` at `2s + 2^k - 1`). Appending a leaf writes its hash and
//! the hash of every subtree it completes, in the same write transaction
//! as the record, so the tree never disagrees with the committed records
//! (on average two node writes per record). The hash of a node of a tree
//! whose size is not a power of two (the right edge) is computed on
//! demand from complete subtrees: at most `2 log2 n` reads.
//!
//! Proof shapes come from `ct-merkle` (`indices_for_inclusion_proof`,
//! `indices_for_consistency_proof`); this module supplies the node values.
//! The unit tests check roots and proofs against `ct-merkle`'s in-memory
//! tree for every size from 1 to 64.

use super::kv::{KvRead, ReadTable, ReadTx};
use super::records::{AuthorRecord, ModRecord, decode};
use super::tables::{AUDIT_HEADS, AUDIT_NODES, MODLOG, meta};
use super::{StoreError, WriteCtx};
use chat_protocol::{self as proto, Timestamp, audit::SignedTreeHead};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, node or root hash.
pub type Hash = [u8; 32];

/// Largest tree size accepted in a request: `ct-merkle`'s index math
/// needs `size <= u64::MAX / 2 + 1`.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// The RFC 9162 leaf hash: `SHA-256(0x00 || bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// The RFC 9162 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The leaf hash of an audit record as a client recomputes it from the
/// wire record ([`proto::audit::leaf_bytes`]).
pub fn record_leaf_hash(id: u64, rec: &ModRecord) -> Hash {
    leaf_hash(&proto::audit::leaf_bytes(&wire_record(id, rec)))
}

/// The wire view of a stored audit record.
pub fn wire_record(id: u64, rec: &ModRecord) -> proto::ModerationRecord {
    proto::ModerationRecord {
        id,
        at: Timestamp(rec.at),
        actor: rec.actor.to_wire(),
        room: rec.room.map(proto::RoomId),
        target: rec.target.as_ref().map(AuthorRecord::to_wire),
        action: rec.action.clone(),
        reason: rec.reason.clone(),
    }
}

/// Index of the node of level `k` whose leaves start at `start`.
fn node_index(start: u64, k: u32) -> u64 {
    2 * start + (1u64 << k) - 1
}

fn missing(idx: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "audit tree node {idx} is missing; the audit log's tree state is damaged (restore a backup)"
    ))
}

/// The Merkle tree hash of leaves `[start, end)`, where `start` is a
/// multiple of the largest power of two below `end - start` (true of
/// every range this module asks for), from stored complete subtrees.
fn range_hash<G>(get: &G, start: u64, end: u64) -> Result<Hash, StoreError>
where
    G: Fn(u64) -> Result<Option<Hash>, StoreError>,
{
    let len = end - start;
    if len == 0 {
        return Ok(Sha256::digest([]).into());
    }
    if len.is_power_of_two() {
        let idx = node_index(start, len.trailing_zeros());
        return get(idx)?.ok_or_else(|| missing(idx));
    }
    let split = 1u64 << (63 - (len - 1).leading_zeros());
    Ok(node_hash(
        &range_hash(get, start, start + split)?,
        &range_hash(get, start + split, end)?,
    ))
}

/// The root hash of the tree of `size` leaves.
///
/// # Errors
/// A storage error, or a stored node missing.
pub fn root<G>(get: &G, size: u64) -> Result<Hash, StoreError>
where
    G: Fn(u64) -> Result<Option<Hash>, StoreError>,
{
    range_hash(get, 0, size)
}

/// The value of node `idx` in the tree of `size` leaves (the right edge
/// of a tree holds nodes over fewer than `2^level` leaves).
fn node_value<G>(get: &G, idx: u64, size: u64) -> Result<Hash, StoreError>
where
    G: Fn(u64) -> Result<Option<Hash>, StoreError>,
{
    let k = idx.trailing_ones();
    let start = (idx + 1 - (1u64 << k)) / 2;
    let end = (start + (1u64 << k)).min(size);
    range_hash(get, start, end)
}

/// Appends leaf `size` (hash `leaf`) to a tree of `size` leaves: stores
/// the leaf and every subtree it completes.
///
/// # Errors
/// A storage error, or a stored node missing.
pub fn append<G, P>(get: &G, put: &mut P, size: u64, leaf: Hash) -> Result<(), StoreError>
where
    G: Fn(u64) -> Result<Option<Hash>, StoreError>,
    P: FnMut(u64, Hash) -> Result<(), StoreError>,
{
    put(2 * size, leaf)?;
    let done = size + 1;
    let mut k = 1;
    while k < 63 && done.is_multiple_of(1u64 << k) {
        let start = done - (1u64 << k);
        let left = node_index(start, k - 1);
        let right = node_index(start + (1u64 << (k - 1)), k - 1);
        let l = get(left)?.ok_or_else(|| missing(left))?;
        let r = get(right)?.ok_or_else(|| missing(right))?;
        put(node_index(start, k), node_hash(&l, &r))?;
        k += 1;
    }
    Ok(())
}

/// Why a proof cannot be made: the request named sizes outside the tree.
fn bad_range(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size`.
///
/// # Errors
/// A storage error, a stored node missing; the caller checks `index < size
/// <= MAX_TREE_SIZE` first (otherwise an error, never a panic).
pub fn inclusion_proof<G>(get: &G, size: u64, index: u64) -> Result<Vec<Hash>, StoreError>
where
    G: Fn(u64) -> Result<Option<Hash>, StoreError>,
{
    if index >= size || size > MAX_TREE_SIZE {
        return Err(bad_range(format!("no leaf {index} in a tree of {size}")));
    }
    ct_merkle::indices_for_inclusion_proof(size, index)
        .into_iter()
        .map(|i| node_value(get, i, size))
        .collect()
}

/// The consistency proof from the tree of `from` leaves to the tree of
/// `to`.
///
/// # Errors
/// A storage error, a stored node missing; the caller checks `1 <= from <=
/// to <= MAX_TREE_SIZE` first (otherwise an error, never a panic).
pub fn consistency_proof<G>(get: &G, from: u64, to: u64) -> Result<Vec<Hash>, StoreError>
where
    G: Fn(u64) -> Result<Option<Hash>, StoreError>,
{
    if from == 0 || from > to || to > MAX_TREE_SIZE {
        return Err(bad_range(format!(
            "no consistency proof from {from} to {to}"
        )));
    }
    ct_merkle::indices_for_consistency_proof(from, to - from)
        .into_iter()
        .map(|i| node_value(get, i, to))
        .collect()
}

fn to_hash(bytes: &[u8], idx: u64) -> Result<Hash, StoreError> {
    Hash::try_from(bytes).map_err(|_| {
        StoreError::Corrupt(format!(
            "audit tree node {idx} is {} bytes, not 32; the audit log's tree state is damaged",
            bytes.len()
        ))
    })
}

/// The tree's size as stored in [`META`](super::tables::META).
fn stored_size(ctx: &WriteCtx<'_>) -> Result<u64, StoreError> {
    Ok(ctx
        .meta
        .get(meta::AUDIT_TREE_SIZE)?
        .map_or(0, |v| v.value()))
}

/// Appends audit record `id` (just inserted into `MODLOG` by the caller)
/// to the tree, first adding any older records the tree lacks (records
/// written before the tree existed). Runs inside the record's write
/// transaction.
///
/// # Errors
/// A storage error, a record that cannot be decoded, or a gap in `MODLOG`.
pub fn append_record(ctx: &mut WriteCtx<'_>, id: u64, rec: &ModRecord) -> Result<(), StoreError> {
    catch_up_to(ctx, id.saturating_sub(1))?;
    let size = stored_size(ctx)?;
    if proto::audit::leaf_index(id) != Some(size) {
        return Err(StoreError::Corrupt(format!(
            "audit record {id} does not follow the audit tree of {size} records"
        )));
    }
    push(ctx, size, record_leaf_hash(id, rec))
}

fn push(ctx: &mut WriteCtx<'_>, size: u64, leaf: Hash) -> Result<(), StoreError> {
    let mut nodes = ctx.txn.open_table(AUDIT_NODES)?;
    // `append` reads nodes it just wrote; both closures use the table in
    // turn, never at once.
    let cell = std::cell::RefCell::new(&mut nodes);
    let get = |i: u64| -> Result<Option<Hash>, StoreError> {
        match cell.borrow().get(i)? {
            Some(v) => Ok(Some(to_hash(v.value(), i)?)),
            None => Ok(None),
        }
    };
    let mut put = |i: u64, h: Hash| -> Result<(), StoreError> {
        cell.borrow_mut().insert(i, h.as_slice())?;
        Ok(())
    };
    append(&get, &mut put, size, leaf)?;
    drop(nodes);
    ctx.meta.insert(meta::AUDIT_TREE_SIZE, size + 1)?;
    Ok(())
}

/// Adds to the tree every record up to id `last` that it lacks.
fn catch_up_to(ctx: &mut WriteCtx<'_>, last: u64) -> Result<(), StoreError> {
    let mut size = stored_size(ctx)?;
    while size < last {
        let id = size + 1;
        let rec: ModRecord = match ctx.modlog.get(id)? {
            Some(v) => decode(v.value())?,
            None => {
                return Err(StoreError::Corrupt(format!(
                    "audit record {id} is missing; the audit log cannot be extended"
                )));
            }
        };
        push(ctx, size, record_leaf_hash(id, &rec))?;
        size += 1;
    }
    Ok(())
}

/// Adds every stored record the tree lacks (a database from before the
/// tree, or nothing). Run once at start.
///
/// # Errors
/// As [`append_record`].
pub fn catch_up(ctx: &mut WriteCtx<'_>) -> Result<u64, StoreError> {
    let next = ctx.meta.get(meta::NEXT_MODLOG)?.map_or(1, |v| v.value());
    catch_up_to(ctx, next.saturating_sub(1))?;
    // Creates the tables on a new database, so readers find them.
    ctx.txn.open_table(AUDIT_NODES)?;
    ctx.txn.open_table(AUDIT_HEADS)?;
    stored_size(ctx)
}

/// A signed tree head as stored in [`AUDIT_HEADS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadRecord {
    /// Signing time, ms.
    pub at: u64,
    /// Root hash.
    pub root: Vec<u8>,
    /// Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Ed25519 signature.
    pub signature: Vec<u8>,
}

/// The tree's size and root inside a write job.
///
/// # Errors
/// A storage error, or a stored node missing.
pub fn current(ctx: &WriteCtx<'_>) -> Result<(u64, Hash), StoreError> {
    let size = stored_size(ctx)?;
    let nodes = ctx.txn.open_table(AUDIT_NODES)?;
    let get = |i: u64| -> Result<Option<Hash>, StoreError> {
        match nodes.get(i)? {
            Some(v) => Ok(Some(to_hash(v.value(), i)?)),
            None => Ok(None),
        }
    };
    Ok((size, root(&get, size)?))
}

/// Whether a head for `size` is stored.
///
/// # Errors
/// A storage error.
pub fn has_head(ctx: &WriteCtx<'_>, size: u64) -> Result<bool, StoreError> {
    Ok(ctx.txn.open_table(AUDIT_HEADS)?.get(size)?.is_some())
}

/// Stores a signed tree head (one per tree size; a later one replaces it).
///
/// # Errors
/// A storage error.
pub fn store_head(ctx: &WriteCtx<'_>, head: &SignedTreeHead) -> Result<(), StoreError> {
    let rec = HeadRecord {
        at: head.at.0,
        root: head.root_hash.clone(),
        public_key: head.public_key.clone(),
        signature: head.signature.clone(),
    };
    ctx.txn
        .open_table(AUDIT_HEADS)?
        .insert(head.tree_size, super::records::encode(&rec)?.as_slice())?;
    Ok(())
}

/// Stored heads from tree size `from` on, smallest first, at most `limit`.
///
/// # Errors
/// A storage error or an undecodable record.
pub fn stored_heads(
    txn: &ReadTx,
    from: u64,
    limit: usize,
) -> Result<Vec<SignedTreeHead>, StoreError> {
    let Some(table) = txn.open_table_if_exists(AUDIT_HEADS)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in table.range(from..)?.take(limit) {
        let (k, v) = entry?;
        let rec: HeadRecord = decode(v.value())?;
        out.push(SignedTreeHead {
            tree_size: k.value(),
            root_hash: rec.root,
            at: Timestamp(rec.at),
            public_key: rec.public_key,
            signature: rec.signature,
        });
    }
    Ok(out)
}

/// Read access to the tree inside a read transaction.
pub struct TreeReader<'t> {
    nodes: Option<ReadTable<'t, u64, &'static [u8]>>,
    modlog: ReadTable<'t, u64, &'static [u8]>,
    /// Leaves in the tree now.
    pub size: u64,
}

impl<'t> TreeReader<'t> {
    /// Opens the tree's tables in `txn`.
    ///
    /// # Errors
    /// A storage error.
    pub fn open(txn: &'t ReadTx) -> Result<TreeReader<'t>, StoreError> {
        let nodes = txn.open_table_if_exists(AUDIT_NODES)?;
        let size = txn
            .open_table(super::tables::META)?
            .get(meta::AUDIT_TREE_SIZE)?
            .map_or(0, |v| v.value());
        Ok(TreeReader {
            nodes,
            modlog: txn.open_table(MODLOG)?,
            size,
        })
    }

    fn get(&self, i: u64) -> Result<Option<Hash>, StoreError> {
        let Some(nodes) = &self.nodes else {
            return Ok(None);
        };
        match nodes.get(i)? {
            Some(v) => Ok(Some(to_hash(v.value(), i)?)),
            None => Ok(None),
        }
    }

    /// The root hash of the first `size` leaves.
    ///
    /// # Errors
    /// A storage error, or a stored node missing.
    pub fn root(&self, size: u64) -> Result<Hash, StoreError> {
        root(&|i| self.get(i), size)
    }

    /// See [`inclusion_proof`].
    ///
    /// # Errors
    /// As [`inclusion_proof`].
    pub fn inclusion_proof(&self, size: u64, index: u64) -> Result<Vec<Hash>, StoreError> {
        inclusion_proof(&|i| self.get(i), size, index)
    }

    /// See [`consistency_proof`].
    ///
    /// # Errors
    /// As [`consistency_proof`].
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        consistency_proof(&|i| self.get(i), from, to)
    }

    /// The record of leaf `index`, or why there is none.
    ///
    /// # Errors
    /// A storage error.
    pub fn record(
        &self,
        index: u64,
    ) -> Result<Result<proto::ModerationRecord, String>, StoreError> {
        let id = index + 1;
        Ok(match self.modlog.get(id)? {
            None => Err(format!("audit record {id} is missing from the store")),
            Some(v) => match decode::<ModRecord>(v.value()) {
                Ok(rec) => Ok(wire_record(id, &rec)),
                Err(e) => Err(format!("audit record {id} cannot be read: {e}")),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    use std::cell::RefCell;
    use std::collections::HashMap;

    fn leaves(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    fn stored(n: u64) -> HashMap<u64, Hash> {
        let map = RefCell::new(HashMap::new());
        for (i, l) in leaves(n).iter().enumerate() {
            let get = |k: u64| Ok(map.borrow().get(&k).copied());
            let mut put = |k: u64, h: Hash| {
                map.borrow_mut().insert(k, h);
                Ok(())
            };
            append(&get, &mut put, i as u64, leaf_hash(l)).expect("append");
        }
        map.into_inner()
    }

    fn reference(n: u64) -> MemoryBackedTree<Sha256, Vec<u8>> {
        let mut t = MemoryBackedTree::new();
        for l in leaves(n) {
            t.push(l);
        }
        t
    }

    fn getter(map: &HashMap<u64, Hash>) -> impl Fn(u64) -> Result<Option<Hash>, StoreError> + '_ {
        move |i| Ok(map.get(&i).copied())
    }

    fn flat(hashes: &[Hash]) -> Vec<u8> {
        hashes.iter().flatten().copied().collect()
    }

    /// RFC 6962's empty-tree hash and the CT known answers for leaves
    /// `[]` (the empty leaf) and `[0x00]`.
    #[test]
    fn known_answers() {
        let hex = |h: Hash| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let get = |_| Ok(None);
        assert_eq!(
            hex(root(&get, 0).expect("empty")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            hex(leaf_hash(&[0])),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
        );
    }

    #[test]
    fn roots_and_proofs_match_ct_merkle_for_every_size_to_64() {
        for n in 1..=64u64 {
            let map = stored(n);
            let get = getter(&map);
            let reference = reference(n);
            let our_root = root(&get, n).expect("root");
            assert_eq!(
                &our_root[..],
                &reference.root().as_bytes()[..],
                "root of {n}"
            );
            let root_hash = reference.root();
            for i in 0..n {
                let ours = inclusion_proof(&get, n, i).expect("inclusion");
                let theirs = reference.prove_inclusion(i as usize);
                assert_eq!(flat(&ours), theirs.as_bytes(), "inclusion {i} of {n}");
                let proof = ct_merkle::InclusionProof::<Sha256>::from_bytes(flat(&ours));
                root_hash
                    .verify_inclusion(&leaves(n)[i as usize], i, &proof)
                    .expect("verifies");
            }
            for m in 1..=n {
                let ours = consistency_proof(&get, m, n).expect("consistency");
                let proof = ct_merkle::ConsistencyProof::<Sha256>::try_from_bytes(flat(&ours))
                    .expect("whole hashes");
                let old = reference_root(m);
                root_hash
                    .verify_consistency(&old, &proof)
                    .unwrap_or_else(|e| panic!("consistency {m} to {n}: {e}"));
                // The stored tree of n also gives the root of every prefix.
                assert_eq!(&root(&get, m).expect("prefix")[..], &old.as_bytes()[..]);
            }
        }
    }

    fn reference_root(m: u64) -> ct_merkle::RootHash<Sha256> {
        reference(m).root()
    }

    #[test]
    fn a_changed_node_fails_some_proof() {
        let n = 13;
        let good = stored(n);
        let root_hash = reference(n).root();
        for (&idx, _) in good.iter() {
            let mut bad = good.clone();
            bad.insert(idx, [0xAA; 32]);
            let get = getter(&bad);
            let root_ok = root(&get, n).expect("root") == root_hash.as_bytes()[..];
            let proofs_ok = (0..n).all(|i| {
                let p = inclusion_proof(&get, n, i).expect("proof");
                let p = ct_merkle::InclusionProof::<Sha256>::from_bytes(flat(&p));
                root_hash
                    .verify_inclusion(&leaves(n)[i as usize], i, &p)
                    .is_ok()
            });
            assert!(!(root_ok && proofs_ok), "node {idx} changed unnoticed");
        }
    }

    /// `cargo test -p chatd --release --lib append_cost -- --ignored
    /// --nocapture`: appends to a redb-backed tree in one transaction
    /// (the cost an audit record adds to its write job) and inclusion
    /// proofs from it.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn append_cost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = redb::Database::create(dir.path().join("t.redb")).expect("db");
        let n = 100_000u64;
        let txn = crate::store::kv::WriteTx::redb(db.begin_write().expect("txn"));
        let started = std::time::Instant::now();
        {
            let mut t = txn.open_table(AUDIT_NODES).expect("table");
            for i in 0..n {
                let cell = RefCell::new(&mut t);
                let get = |k: u64| -> Result<Option<Hash>, StoreError> {
                    cell.borrow()
                        .get(k)?
                        .map(|v| to_hash(v.value(), k))
                        .transpose()
                };
                let mut put = |k: u64, h: Hash| -> Result<(), StoreError> {
                    cell.borrow_mut().insert(k, h.as_slice())?;
                    Ok(())
                };
                append(&get, &mut put, i, leaf_hash(&i.to_be_bytes())).expect("append");
            }
        }
        let appended = started.elapsed();
        let Ok(txn) = txn.into_inner() else {
            panic!("a redb transaction")
        };
        txn.commit().expect("commit");
        let read = ReadTx::redb(redb::ReadableDatabase::begin_read(&db).expect("read"));
        let t = read.open_table(AUDIT_NODES).expect("table");
        let get = |k: u64| -> Result<Option<Hash>, StoreError> {
            t.get(k)?.map(|v| to_hash(v.value(), k)).transpose()
        };
        let started = std::time::Instant::now();
        for i in (0..n).step_by(97) {
            inclusion_proof(&get, n, i).expect("proof");
        }
        let proofs = started.elapsed() / (n / 97) as u32;
        eprintln!(
            "APPEND {n} leaves: {:?} per append; inclusion proof in a tree of {n}: {proofs:?}",
            appended / n as u32
        );
    }

    #[test]
    fn out_of_range_requests_are_errors_not_panics() {
        let map = stored(3);
        let get = getter(&map);
        assert!(inclusion_proof(&get, 3, 3).is_err());
        assert!(inclusion_proof(&get, 0, 0).is_err());
        assert!(inclusion_proof(&get, u64::MAX, 1).is_err());
        assert!(consistency_proof(&get, 0, 3).is_err());
        assert!(consistency_proof(&get, 4, 3).is_err());
        assert!(consistency_proof(&get, 1, u64::MAX).is_err());
        // A size beyond the stored tree finds nodes missing: an error.
        assert!(inclusion_proof(&get, 8, 7).is_err());
    }
}
