//! A test hook: a redb storage backend whose writes fail with "no space
//! left on device" while a switch is on, so the disk-fault path runs
//! without a full filesystem (and without the root needed to mount a
//! small one). Off unless a test sets [`crate::Config::disk_fault`]
//! (test: `e2e::faults::an_injected_disk_fault_is_recovered_without_a_restart`).

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The switch: while [`DiskFault::set_full`]`(true)`, every write that
/// would grow the database file, and the recovery probe, fails as a full
/// disk does; writes into space the file already holds succeed, as they do
/// on a full tmpfs or ext4 (so the file can be reopened while the disk is
/// still full). A second switch, [`DiskFault::set_failing`], fails every
/// write wherever it lands, as a failing disk does, so a commit fails
/// whatever free space the file holds. Clones share the switches.
#[derive(Debug, Clone, Default)]
pub struct DiskFault(Arc<AtomicBool>, Arc<AtomicBool>);

impl DiskFault {
    /// Turns the fault on (`true`) or off.
    pub fn set_full(&self, full: bool) {
        self.0.store(full, Ordering::SeqCst);
    }

    /// Whether writes fail now.
    pub fn is_full(&self) -> bool {
        self.0.load(Ordering::SeqCst) || self.is_failing()
    }

    /// Makes every write fail (`true`), not only those that grow the
    /// file, or stops that (test:
    /// `e2e::retention::a_purge_whose_commit_fails_removes_no_file`).
    pub fn set_failing(&self, failing: bool) {
        self.1.store(failing, Ordering::SeqCst);
    }

    /// Whether every write fails now.
    pub fn is_failing(&self) -> bool {
        self.1.load(Ordering::SeqCst)
    }

    /// The error writes get while the switch is on.
    pub(super) fn check(&self) -> std::io::Result<()> {
        if self.is_full() {
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        } else {
            Ok(())
        }
    }
}

impl PartialEq for DiskFault {
    fn eq(&self, other: &DiskFault) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DiskFault {}

/// redb's own file backend behind a [`DiskFault`] switch.
#[derive(Debug)]
pub(super) struct FaultyBackend {
    pub(super) inner: FileBackend,
    pub(super) fault: DiskFault,
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        if len > self.inner.len()? {
            self.fault.check()?;
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let end = offset.saturating_add(data.len() as u64);
        if end > self.inner.len()? || self.fault.is_failing() {
            self.fault.check()?;
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
