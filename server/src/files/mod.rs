//! Files and images: the blob store, the upload and download streams, and
//! the collection of files no live message needs.
//!
//! - [`blob`]: content by BLAKE3 hash behind the [`blob::BlobStore`] trait.
//! - `transfer`: one client-opened bidirectional stream per upload or
//!   download (never the control stream), resumable from an offset.
//! - The records (one per attachment, quotas, reference counts) live in
//!   `store::files`, since only `store/` touches redb.
//!
//! Partial uploads are kept in `data/files/partial/<upload id>.part`
//! (mode 0600), where the upload id names the uploader, the hash and the
//! size, so asking to upload the same file again resumes it, even after a
//! restart. A partial file is never visible to anyone: only a complete,
//! verified and fsynced file is renamed into the blob store, and only then
//! is its record committed and the upload acknowledged.

pub mod blob;
pub(crate) mod transfer;

use crate::store::files as records;
use blob::{BlobStore, FsBlobStore};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Default [`FilesConfig::max_file_bytes`]: 100 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 << 20;

/// Transfers one logged-in connection may run at once (QUIC stream credit
/// beyond the control stream, granted at login).
pub const MAX_TRANSFERS_PER_CONNECTION: u32 = 4;

/// Unfinished uploads (partial files and running transfers) one user may
/// hold at once. Past it a new upload is refused with `QuotaExceeded` until
/// one finishes or the collector sweeps it (after `gc_grace_ms`), so a user
/// cannot fill the partial directory with abandoned uploads.
pub const MAX_UNFINISHED_UPLOADS_PER_USER: usize = 16;

/// Bytes read from a stream or a file per step, and the largest buffer one
/// transfer holds.
pub const CHUNK_BYTES: usize = 64 << 10;

/// The `[files]` table of the configuration file.
///
/// ```toml
/// [files]
/// max_file_bytes = 104857600
/// user_quota_bytes = 1073741824
/// room_quota_bytes = 10737418240
/// allowed_media_types = ["image/*", "application/pdf", "text/plain"]
/// gc_grace_ms = 86400000
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest file accepted, in bytes. Default [`DEFAULT_MAX_FILE_BYTES`].
    pub max_file_bytes: u64,
    /// Bytes of files one user may keep stored. Default 1 GiB.
    pub user_quota_bytes: u64,
    /// Bytes of files one room may keep stored. Default 10 GiB.
    pub room_quota_bytes: u64,
    /// Media types accepted: exact (`application/pdf`), a family
    /// (`image/*`) or everything (`*/*`, the default).
    pub allowed_media_types: Vec<String>,
    /// How long an upload never attached to a message, or the files of a
    /// deleted message, are kept before collection, in ms. Default 24 h.
    pub gc_grace_ms: u64,
    /// How often the collector runs, in ms. Default 10 minutes.
    pub gc_interval_ms: u64,
    /// A command run on every verified upload before it becomes visible,
    /// e.g. `["clamdscan", "--no-summary"]`; the file's path is appended.
    /// Exit status 0 accepts the file; any other status (or no answer
    /// within [`SCAN_TIMEOUT_MS`]) moves it to `data/files/quarantine/`
    /// and refuses the upload with `ContentRejected`. Empty (the default)
    /// scans nothing.
    pub scan_command: Vec<String>,
}

/// Longest a scan may take before the upload is quarantined, in ms.
pub const SCAN_TIMEOUT_MS: u64 = 120_000;

impl Default for FilesConfig {
    fn default() -> FilesConfig {
        FilesConfig {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            user_quota_bytes: 1 << 30,
            room_quota_bytes: 10 << 30,
            allowed_media_types: vec!["*/*".into()],
            gc_grace_ms: 24 * 3600 * 1000,
            gc_interval_ms: 10 * 60 * 1000,
            scan_command: Vec::new(),
        }
    }
}

impl FilesConfig {
    /// Whether `media_type` (as declared, case-insensitive) is accepted.
    pub fn allows(&self, media_type: &str) -> bool {
        let mt = media_type.trim().to_ascii_lowercase();
        let Some((family, _)) = mt.split_once('/') else {
            return false;
        };
        self.allowed_media_types.iter().any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "*" || p == "*/*" || p == mt || p.strip_suffix("/*") == Some(family)
        })
    }

    /// The quotas for `store::files`.
    pub fn quotas(&self) -> records::Quotas {
        records::Quotas {
            per_user: self.user_quota_bytes,
            per_room: self.room_quota_bytes,
        }
    }
}

/// What the scanning hook said about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// No hook configured, or it exited 0.
    Clean,
    /// The hook refused the file (or failed, or timed out): why.
    Refused(String),
}

impl Files {
    /// Runs the configured scan command on `path` (see
    /// [`FilesConfig::scan_command`]).
    pub async fn scan(&self, path: &Path) -> Scan {
        let config = self.config.load_full();
        let Some((program, args)) = config.scan_command.split_first() else {
            return Scan::Clean;
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let run = tokio::time::timeout(Duration::from_millis(SCAN_TIMEOUT_MS), cmd.status()).await;
        match run {
            Ok(Ok(status)) if status.success() => Scan::Clean,
            Ok(Ok(status)) => Scan::Refused(format!("the scanner {program} refused it ({status})")),
            Ok(Err(e)) => Scan::Refused(format!("the scanner {program} could not run: {e}")),
            Err(_) => Scan::Refused(format!(
                "the scanner {program} gave no answer within {} s",
                SCAN_TIMEOUT_MS / 1000
            )),
        }
    }

    /// Moves a refused upload out of the partial directory into
    /// `data/files/quarantine/` for an admin to inspect.
    ///
    /// # Errors
    /// I/O failures.
    pub fn quarantine(&self, path: &Path) -> std::io::Result<PathBuf> {
        let dir = self.partial_dir.with_file_name("quarantine");
        blob::create_private_dir(&dir)?;
        let dest = dir.join(path.file_name().unwrap_or_default());
        std::fs::rename(path, &dest)?;
        Ok(dest)
    }
}

/// Uploads in progress, by upload id: a newer request for the same upload
/// cancels the older one (a client resuming after a dropped connection the
/// server has not noticed yet) and waits for it to let go of the file.
#[derive(Default)]
struct Uploads {
    running: Mutex<HashMap<String, Running>>,
    next_generation: std::sync::atomic::AtomicU64,
}

struct Running {
    cancel: tokio::sync::oneshot::Sender<()>,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Tells this registration from a newer one sharing its lock.
    generation: u64,
}

/// The server's files: the blob store, the partial-upload directory and the
/// limits.
pub struct Files {
    /// Where contents live.
    pub blobs: Arc<dyn BlobStore>,
    /// `data/files/partial`.
    pub partial_dir: PathBuf,
    /// Limits and collection settings; a configuration reload swaps them.
    pub config: arc_swap::ArcSwap<FilesConfig>,
    /// Held for reading by a running backup and for writing by each
    /// collection pass, so no blob a backup's snapshot names is removed
    /// before the backup has sent it.
    pub collect_gate: tokio::sync::RwLock<()>,
    uploads: Uploads,
}

impl Files {
    /// Opens (creating) `data_dir/files/partial` and the blob directory:
    /// `blob_dir` when given (shared by several nodes), else
    /// `data_dir/files/blobs`.
    ///
    /// # Errors
    /// I/O failures creating the directories.
    pub fn open(
        data_dir: &Path,
        blob_dir: Option<&Path>,
        config: FilesConfig,
    ) -> std::io::Result<Files> {
        let root = data_dir.join("files");
        let blobs = match blob_dir {
            Some(dir) => FsBlobStore::open(dir)?,
            None => FsBlobStore::open(&root.join("blobs"))?,
        };
        let partial_dir = root.join("partial");
        blob::create_private_dir(&partial_dir)?;
        Ok(Files {
            blobs: Arc::new(blobs),
            partial_dir,
            config: arc_swap::ArcSwap::from_pointee(config),
            collect_gate: tokio::sync::RwLock::new(()),
            uploads: Uploads::default(),
        })
    }

    /// Registers upload `id` of `user`, cancelling an older transfer of
    /// it; the returned guard is held while the transfer touches the
    /// partial file. `admit` sees the user's other unfinished uploads (how
    /// many, and the bytes they declared) and may refuse; the check and the
    /// registration happen under one lock, so concurrent uploads of one
    /// user cannot all pass a check meant for one of them.
    ///
    /// # Errors
    /// What `admit` returns.
    pub(crate) async fn begin_upload(
        &self,
        id: &str,
        user: u64,
        admit: impl FnOnce(usize, u64) -> Result<(), chat_protocol::ErrorBody>,
    ) -> Result<
        (
            tokio::sync::OwnedMutexGuard<()>,
            tokio::sync::oneshot::Receiver<()>,
            u64,
        ),
        chat_protocol::ErrorBody,
    > {
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let generation = self
            .uploads
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let lock = {
            let mut running = self
                .uploads
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let (count, bytes) = self.unfinished(&running, user, id);
            admit(count, bytes)?;
            let lock = match running.remove(id) {
                Some(old) => {
                    let _ = old.cancel.send(());
                    old.lock
                }
                None => Arc::new(tokio::sync::Mutex::new(())),
            };
            running.insert(
                id.to_owned(),
                Running {
                    cancel,
                    lock: lock.clone(),
                    generation,
                },
            );
            lock
        };
        let guard = lock.lock_owned().await;
        Ok((guard, cancelled, generation))
    }

    /// `user`'s unfinished uploads other than `except`, as (how many, bytes
    /// declared): partial files on disk and transfers running, each counted
    /// once. Reads the partial directory, which holds at most
    /// [`MAX_UNFINISHED_UPLOADS_PER_USER`] files per user.
    fn unfinished(
        &self,
        running: &HashMap<String, Running>,
        user: u64,
        except: &str,
    ) -> (usize, u64) {
        let on_disk = std::fs::read_dir(&self.partial_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".part"))
                    .map(str::to_owned)
            });
        let ids: std::collections::HashSet<String> =
            on_disk.chain(running.keys().cloned()).collect();
        ids.iter()
            .filter(|id| id.as_str() != except)
            .filter_map(|id| parse_upload_id(id))
            .filter(|(owner, _)| *owner == user)
            .fold((0, 0u64), |(n, bytes), (_, size)| {
                (n + 1, bytes.saturating_add(size))
            })
    }

    /// Forgets upload `id` if it is still registration `generation` (a
    /// newer request for the same upload keeps its entry, and with it the
    /// sender whose drop would read as a cancel).
    fn end_upload(&self, id: &str, generation: u64) {
        let mut running = self
            .uploads
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if running.get(id).is_some_and(|r| r.generation == generation) {
            running.remove(id);
        }
    }
}

/// The uploader and declared size in an upload id
/// (`{user}-{blake3 hex}-{size}`, see `transfer::upload`); `None` for a
/// name of another shape.
fn parse_upload_id(id: &str) -> Option<(u64, u64)> {
    let mut parts = id.splitn(3, '-');
    let user = parts.next()?.parse().ok()?;
    let _hash = parts.next()?;
    let size = parts.next()?.parse().ok()?;
    Some((user, size))
}

/// Runs the collector every `gc_interval_ms` until the store stops: one
/// writer job that drops the records no live message needs (see
/// `store::files::collect_garbage`) and removes blobs no record names, and
/// a sweep of partial uploads abandoned for the grace period.
pub(crate) async fn collect_garbage_forever(shared: Arc<crate::shared::Shared>) {
    loop {
        // Read each round, so a configuration reload applies to the next.
        let every = Duration::from_millis(shared.files.config.load().gc_interval_ms.max(10));
        tokio::time::sleep(every).await;
        match collect_garbage(&shared).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(blobs = n, "collected unreferenced files"),
            Err(crate::store::WriteError::Store(crate::store::StoreError::WriterGone)) => return,
            Err(e) => tracing::warn!(error = %e, "file collection failed; retrying later"),
        }
    }
}

/// Removes partial uploads untouched for `grace_ms` that no transfer is
/// using (an abandoned upload must not hold disk for good). Returns how
/// many it removed.
fn sweep_partials(files: &Files, grace_ms: u64) -> usize {
    let Ok(dir) = std::fs::read_dir(&files.partial_dir) else {
        return 0;
    };
    let grace = Duration::from_millis(grace_ms);
    let mut removed = 0;
    for entry in dir.flatten() {
        let path = entry.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".part"))
        else {
            continue;
        };
        let busy = files
            .uploads
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id);
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= grace);
        if !busy && stale && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// One collection pass; returns how many blobs were removed. The pass
/// commits first (records dropped, blobs noted), and only a later writer
/// job removes the noted blobs nothing refers to, so a pass whose commit
/// fails never removes a file a record still names, and no upload can
/// claim a blob between the check and the removal (test:
/// `e2e::retention::a_purge_whose_commit_fails_removes_no_file`).
///
/// # Errors
/// Storage failures.
pub(crate) async fn collect_garbage(
    shared: &crate::shared::Shared,
) -> Result<usize, crate::store::WriteError> {
    let grace = shared.files.config.load().gc_grace_ms;
    let _no_backup = shared.files.collect_gate.write().await;
    let partials = sweep_partials(&shared.files, grace);
    if partials > 0 {
        tracing::info!(partials, "removed abandoned partial uploads");
    }
    shared.storage.collect_files(grace).await?;
    note_orphans(shared, grace).await?;
    remove_doomed(shared).await
}

/// Notes the blob files older than `grace_ms` that no record names (a
/// crash between a blob's placement and its record's commit leaves one),
/// so [`remove_doomed`] removes them; in writer jobs of at most
/// `store::files::REMOVE_DOOMED_BATCH` hashes (test:
/// `e2e::files::a_blob_no_record_names_is_removed_after_its_grace`).
async fn note_orphans(
    shared: &crate::shared::Shared,
    grace_ms: u64,
) -> Result<(), crate::store::WriteError> {
    let blobs = shared.files.blobs.clone();
    let age = Duration::from_millis(grace_ms);
    let old = match tokio::task::spawn_blocking(move || blobs.older_than(age)).await {
        Ok(Ok(old)) => old,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot list the blob store; orphan files wait for the next pass");
            return Ok(());
        }
        Err(e) => {
            tracing::warn!(error = %e, "listing the blob store failed");
            return Ok(());
        }
    };
    for chunk in old.chunks(crate::store::files::REMOVE_DOOMED_BATCH) {
        shared.storage.note_orphan_blobs(chunk.to_vec()).await?;
    }
    Ok(())
}

/// Removes the blobs that collection and retention noted and nothing
/// refers to any more, in writer jobs of at most
/// `store::files::REMOVE_DOOMED_BATCH`, until none is left; waits while a
/// backup runs, as collection does (a backup streams the blobs its
/// snapshot names). Returns how many it removed.
///
/// # Errors
/// Storage failures.
pub(crate) async fn remove_unreferenced_blobs(
    shared: &crate::shared::Shared,
) -> Result<usize, crate::store::WriteError> {
    let _no_backup = shared.files.collect_gate.write().await;
    remove_doomed(shared).await
}

/// [`remove_unreferenced_blobs`] for a caller already holding the
/// collection gate.
async fn remove_doomed(shared: &crate::shared::Shared) -> Result<usize, crate::store::WriteError> {
    let blobs = shared.files.blobs.clone();
    let remove: Arc<crate::store::ops::attachments::BlobsGone> = Arc::new(move |hashes| {
        for hash in hashes {
            if let Err(e) = blobs.remove(hash) {
                tracing::warn!(error = %e, hash, "cannot remove an unreferenced blob");
            }
        }
    });
    let mut total = 0;
    loop {
        let n = shared.storage.remove_doomed_blobs(remove.clone()).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Width and height in pixels of an image file, read from its header only
/// (the `imagesize` crate), when `media_type` is `image/png`,
/// `image/jpeg`, `image/gif` or `image/webp` and the content really is
/// that format. `None` for any other type, for content whose header does
/// not match its declared type or cannot be read, and for a side that
/// does not fit in a `u32`: dimensions are a display hint, never a reason
/// to refuse an upload. Blocking (reads the file).
pub fn image_dimensions(media_type: &str, path: &Path) -> Option<(u32, u32)> {
    use imagesize::ImageType;
    let expected = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => ImageType::Png,
        "image/jpeg" | "image/jpg" => ImageType::Jpeg,
        "image/gif" => ImageType::Gif,
        "image/webp" => ImageType::Webp,
        _ => return None,
    };
    let mut header = [0u8; 64];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).ok()?;
        let mut n = 0;
        while n < header.len() {
            match f.read(&mut header[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => return None,
            }
        }
        n
    };
    if imagesize::image_type(&header[..n]).ok()? != expected {
        return None;
    }
    let size = imagesize::size(path).ok()?;
    Some((
        u32::try_from(size.width).ok()?,
        u32::try_from(size.height).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_name_their_uploader_and_size() {
        let hash = "a".repeat(64);
        assert_eq!(parse_upload_id(&format!("7-{hash}-1024")), Some((7, 1024)));
        assert_eq!(parse_upload_id("7-abc"), None);
        assert_eq!(parse_upload_id("x-abc-1"), None);
        assert_eq!(parse_upload_id(&format!("7-{hash}-big")), None);
    }

    #[test]
    fn media_types_match_exactly_by_family_or_all() {
        let mut c = FilesConfig::default();
        assert!(c.allows("application/x-anything"));
        c.allowed_media_types = vec!["image/*".into(), "application/pdf".into()];
        assert!(c.allows("image/png") && c.allows("IMAGE/JPEG") && c.allows("application/pdf"));
        assert!(!c.allows("application/zip") && !c.allows("imagex/png") && !c.allows("image"));
    }

    #[test]
    fn the_files_table_of_the_config_file_is_read_and_checked() {
        let file: crate::config::FileConfig =
            toml::from_str("[files]\nmax_file_bytes = 5\nallowed_media_types = [\"text/*\"]\n")
                .expect("parse");
        assert_eq!(file.files.max_file_bytes, 5);
        assert_eq!(
            file.files.user_quota_bytes,
            FilesConfig::default().user_quota_bytes
        );
        let typo = toml::from_str::<crate::config::FileConfig>("[files]\nmax_file_byte = 5\n");
        assert!(typo.is_err(), "an unknown key is refused");
    }
}
