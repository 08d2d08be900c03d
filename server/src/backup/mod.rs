//! Backups of a running server and their restore.
//!
//! `chatctl server backup FILE` asks chatd, on a transfer stream
//! (`TransferRequest::Backup`, server admins only), for a consistent copy
//! of everything it stores; chatd builds it and streams it to the admin,
//! who writes FILE. `chatd restore FILE --data DIR` turns FILE back into a
//! data directory.
//!
//! The archive is a tar file with, in this order:
//! 1. `manifest.json`: the [`Manifest`] (format version, row counts, the
//!    database's and every blob's size and BLAKE3 hash);
//! 2. `manifest.blake3`: the BLAKE3 hash of `manifest.json`, hex;
//! 3. `chat.redb`: a copy of every table, taken from one redb read
//!    transaction (`store::snapshot`), so it is the database as of one
//!    commit while writes go on;
//! 4. `admin-token`: the bootstrap admin's token file, when the data
//!    directory has one (so the restored server's admin logs in as before);
//! 5. `blobs/<hash>`: every file content the copy's attachment records
//!    reference (contents are immutable and named by their hash, so a blob
//!    read after the snapshot is the blob the snapshot named).
//!
//! The search index is not in the archive: chatd rebuilds it from the
//! database on the first start after a restore. Partial uploads and
//! quarantined files are not either, nor the certificates in
//! the certificate directory (configuration, kept by the operator).

pub mod restore;
pub(crate) mod serve;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Value of [`Manifest::format`].
pub const FORMAT: &str = "chatd-backup";

/// The archive layout version this build writes and reads. Bump it on an
/// incompatible change; `chatd restore` refuses other versions by name.
pub const FORMAT_VERSION: u32 = 1;

/// Archive path of the manifest.
pub const MANIFEST: &str = "manifest.json";
/// Archive path of the manifest's hash.
pub const MANIFEST_HASH: &str = "manifest.blake3";
/// Archive path of the database copy.
pub const DATABASE: &str = "chat.redb";
/// Archive path of the admin token file.
pub const ADMIN_TOKEN: &str = "admin-token";
/// Archive directory of the blobs (`blobs/<hash>`).
pub const BLOBS: &str = "blobs/";

/// A tar block, in bytes: headers take one, contents are padded to whole
/// blocks, and the archive ends with two zero blocks.
const BLOCK: u64 = 512;

/// What a backup holds, written first in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the build that wrote it.
    pub format_version: u32,
    /// Version of the chatd that wrote it.
    pub chatd_version: String,
    /// When the snapshot was taken, ms since the Unix epoch (UTC).
    pub created_ms: u64,
    /// Storage layout version of the database copy.
    pub schema_version: u64,
    /// Room events in the copy, across all rooms.
    pub events: u64,
    /// Rows per table of the copy.
    pub tables: BTreeMap<String, u64>,
    /// The database copy.
    pub database: Content,
    /// The bootstrap admin's token file, when there was one.
    #[serde(default)]
    pub admin_token: Option<Content>,
    /// The file contents, by hash (the hash is their checksum).
    pub blobs: Vec<Content>,
}

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Size in bytes.
    pub bytes: u64,
    /// BLAKE3 of the content, lowercase hex.
    pub blake3: String,
}

impl Manifest {
    /// The manifest's bytes as stored (pretty JSON, so an operator can read
    /// it with `tar -xOf FILE manifest.json`).
    ///
    /// # Errors
    /// None in practice; serde_json's error type.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }

    /// The length of the whole archive for this manifest whose encoding
    /// is `manifest_len` bytes, in bytes: what the server announces
    /// before streaming, so a client can tell a cut download.
    pub fn archive_bytes(&self, manifest_len: u64) -> u64 {
        let entry = |size: u64| BLOCK + size.div_ceil(BLOCK) * BLOCK;
        let hash_len = 64;
        entry(manifest_len)
            + entry(hash_len)
            + entry(self.database.bytes)
            + self.admin_token.as_ref().map_or(0, |c| entry(c.bytes))
            + self.blobs.iter().map(|b| entry(b.bytes)).sum::<u64>()
            + 2 * BLOCK
    }
}

/// A tar header for a regular file of `size` bytes, mode 0600, dated
/// `mtime` (seconds since the epoch).
fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Writes a whole archive for `manifest` to `out`: the manifest, its
/// hash, the database from `database`, the admin token (`admin_token`,
/// when the manifest lists one), then each blob from `open_blob`.
/// Blocking.
///
/// # Errors
/// I/O failures reading the parts or writing `out`; a blob whose size is
/// not the manifest's (it changed under the backup).
pub fn write_archive<W: std::io::Write>(
    out: W,
    manifest: &Manifest,
    database: std::fs::File,
    admin_token: &[u8],
    mut open_blob: impl FnMut(&str) -> std::io::Result<std::fs::File>,
) -> std::io::Result<W> {
    use std::io::Read;
    let mtime = manifest.created_ms / 1000;
    let json = manifest.to_bytes().map_err(std::io::Error::other)?;
    let hash = blake3::hash(&json).to_hex().to_string();
    let mut tar = tar::Builder::new(out);
    tar.append_data(&mut header(json.len() as u64, mtime), MANIFEST, &json[..])?;
    tar.append_data(
        &mut header(hash.len() as u64, mtime),
        MANIFEST_HASH,
        hash.as_bytes(),
    )?;
    let exact =
        |file: std::fs::File, c: &Content| -> std::io::Result<std::io::Take<std::fs::File>> {
            let len = file.metadata()?.len();
            if len != c.bytes {
                return Err(std::io::Error::other(format!(
                    "{} is {len} bytes, the manifest says {}; it changed during the backup",
                    c.blake3, c.bytes
                )));
            }
            Ok(file.take(c.bytes))
        };
    tar.append_data(
        &mut header(manifest.database.bytes, mtime),
        DATABASE,
        exact(database, &manifest.database)?,
    )?;
    if let Some(token) = &manifest.admin_token {
        if token.bytes != admin_token.len() as u64 {
            return Err(std::io::Error::other(
                "the admin token is not the manifest's",
            ));
        }
        tar.append_data(&mut header(token.bytes, mtime), ADMIN_TOKEN, admin_token)?;
    }
    for blob in &manifest.blobs {
        let file = exact(open_blob(&blob.blake3)?, blob)?;
        tar.append_data(
            &mut header(blob.bytes, mtime),
            format!("{BLOBS}{}", blob.blake3),
            file,
        )?;
    }
    tar.into_inner()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    #[test]
    fn the_announced_length_is_the_archive_length() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::write(&db, vec![7u8; 1500]).unwrap();
        let blob_bytes = b"hello".to_vec();
        let blob_hash = blake3::hash(&blob_bytes).to_hex().to_string();
        std::fs::write(dir.path().join(&blob_hash), &blob_bytes).unwrap();
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            chatd_version: "test".into(),
            created_ms: 1_700_000_000_000,
            schema_version: 1,
            events: 0,
            tables: BTreeMap::new(),
            database: Content {
                bytes: 1500,
                blake3: "x".into(),
            },
            admin_token: Some(Content {
                bytes: 3,
                blake3: "y".into(),
            }),
            blobs: vec![Content {
                bytes: 5,
                blake3: blob_hash,
            }],
        };
        let out = write_archive(
            Vec::new(),
            &manifest,
            std::fs::File::open(&db).unwrap(),
            b"tok",
            |h| std::fs::File::open(dir.path().join(h)),
        )
        .unwrap();
        let len = manifest.to_bytes().unwrap().len() as u64;
        assert_eq!(out.len() as u64, manifest.archive_bytes(len));
    }
}
