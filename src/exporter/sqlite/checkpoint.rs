//! Checkpoints on a thread of their own: copying the WAL's pages into the database file (and
//! its `fsync`s) runs on another core while the writer inserts the next batch.
//!
//! The writer's automatic checkpoint is off; after each commit the writer reads the WAL's
//! length (a `NOOP` checkpoint: no lock, no copy) and wakes the checkpointer once the WAL holds
//! [`WAL_PAGES`]. The WAL starts over from its beginning only when a commit finds every frame
//! copied, so the checkpointer copies what is left after each commit until that happens. If it
//! falls behind anyway (a reader pinning old frames, a slow disk), the writer checkpoints
//! itself past [`WAL_LIMIT`], which keeps the WAL bounded.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use rusqlite::Connection;

/// The WAL's length (pages of 4 KiB) from which the checkpointer copies it into the file:
/// pages that every batch changes (index ends, full-text segments) are copied once per
/// 40 MiB of WAL rather than after every batch.
pub(super) const WAL_PAGES: i64 = 10_000;

/// The WAL's length past which the writer checkpoints itself, as SQLite's automatic
/// checkpoint would: 160 MiB.
pub(super) const WAL_LIMIT: i64 = 4 * WAL_PAGES;

/// A thread with its own connection to the file, running a passive checkpoint each time the
/// writer wakes it; stopped and joined when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// [`WAL_PAGES`], and [`WAL_LIMIT`]; smaller in tests.
    pages: i64,
    limit: i64,
}

impl Checkpointer {
    /// Opens a second connection to `path` (already migrated by the writer) and starts the
    /// thread; `None` when either fails, and the writer then keeps SQLite's own checkpoints.
    pub(super) fn start(path: &Path) -> Option<Self> {
        Self::with_thresholds(path, WAL_PAGES, WAL_LIMIT)
    }

    fn with_thresholds(path: &Path, pages: i64, limit: i64) -> Option<Self> {
        let connection = super::open(path).ok()?;
        // One pending wake-up is enough: a checkpoint copies every frame committed before it.
        let (wake, woken) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("llmtrace-sqlite-checkpoint".into())
            .spawn(move || run(&connection, &woken))
            .ok()?;
        Some(Self {
            wake: Some(wake),
            thread: Some(thread),
            pages,
            limit,
        })
    }

    /// Called by the writer after each commit, with its connection: wakes the checkpointer
    /// when the WAL is long enough, or checkpoints on the writer when it is too long.
    pub(super) fn after_commit(&self, writer: &Connection) -> rusqlite::Result<()> {
        let (frames, copied) = wal_state(writer)?;
        if frames >= self.limit && copied < frames {
            // A `SQLITE_BUSY` (the checkpointer holds the checkpoint lock) comes back as a row
            // saying so, not an error: the next commit tries again.
            return checkpoint(writer);
        }
        if frames >= self.pages
            && copied < frames
            && let Some(wake) = &self.wake
            && let Err(TrySendError::Disconnected(())) = wake.try_send(())
        {
            // The thread ended (it only does when dropped): checkpoint here instead. A full
            // channel is a wake-up already pending.
            return checkpoint(writer);
        }
        Ok(())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.wake.take()); // ends the thread's loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The checkpointer's loop: a passive checkpoint per wake-up, until the writer is gone.
fn run(connection: &Connection, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        // A failed or partial checkpoint only leaves the WAL longer: the next wake-up, or the
        // writer past `WAL_LIMIT`, copies the rest.
        let _ = checkpoint(connection);
        // The WAL starts over only when a commit finds every frame copied: the frames the
        // writer added meanwhile (a batch or two) are copied while it waits.
        let _ = connection
            .prepare_cached("PRAGMA main.wal_checkpoint(FULL)")
            .and_then(|mut s| s.query_row([], |_| Ok(())));
    }
}

/// The WAL's length in frames and how many of them are already in the database file.
pub(super) fn wal_state(connection: &Connection) -> rusqlite::Result<(i64, i64)> {
    connection
        .prepare_cached("PRAGMA main.wal_checkpoint(NOOP)")?
        .query_row([], |row| Ok((row.get(1)?, row.get(2)?)))
}

/// Copies every frame no reader still needs into the database file, without waiting.
fn checkpoint(connection: &Connection) -> rusqlite::Result<()> {
    connection
        .prepare_cached("PRAGMA main.wal_checkpoint(PASSIVE)")?
        .query_row([], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A writer as the exporter opens it (no automatic checkpoint), with a table of blobs.
    fn writer(path: &Path) -> Connection {
        let connection = super::super::open(path).unwrap();
        connection
            .execute_batch(
                "PRAGMA wal_autocheckpoint = 0; CREATE TABLE IF NOT EXISTS t (b BLOB NOT NULL);",
            )
            .unwrap();
        connection
    }

    /// Commits about 6 pages of 4 KiB.
    fn commit(connection: &mut Connection) {
        let tx = connection.transaction().unwrap();
        for _ in 0..5 {
            tx.execute("INSERT INTO t (b) VALUES (randomblob(4000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
    }

    fn wal_pages(path: &Path) -> u64 {
        let wal = path.with_extension("db-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len()) / 4096
    }

    #[test]
    fn the_checkpointer_copies_the_wal_so_that_it_starts_over_and_rows_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        let mut connection = writer(&path);
        // The writer never checkpoints itself here: only the thread keeps the WAL short.
        let checkpointer = Checkpointer::with_thresholds(&path, 64, i64::MAX).unwrap();
        for _ in 0..300 {
            commit(&mut connection);
            checkpointer.after_commit(&connection).unwrap();
            let (frames, _) = wal_state(&connection).unwrap();
            if frames >= 4 * 64 {
                // Far past the threshold (a loaded machine): wait for the thread to copy it.
                let deadline = Instant::now() + Duration::from_secs(30);
                while wal_state(&connection).unwrap().1 < frames {
                    assert!(Instant::now() < deadline, "the WAL was not checkpointed");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        // 300 commits of 6 pages each: without checkpoints the WAL would hold 1,800 pages.
        assert!(
            wal_pages(&path) < 4 * 64 + 12,
            "WAL of {} pages",
            wal_pages(&path)
        );
        drop(checkpointer);
        drop(connection);
        let reader = Connection::open(&path).unwrap();
        let rows: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 1500);
    }

    #[test]
    fn past_the_limit_the_writer_checkpoints_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        let mut connection = writer(&path);
        // A checkpointer never woken: the writer's own checkpoints bound the WAL.
        let checkpointer = Checkpointer::with_thresholds(&path, i64::MAX, 64).unwrap();
        for _ in 0..300 {
            commit(&mut connection);
            checkpointer.after_commit(&connection).unwrap();
        }
        assert!(
            wal_pages(&path) < 64 + 12,
            "WAL of {} pages",
            wal_pages(&path)
        );
    }
}
