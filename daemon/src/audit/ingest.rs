//! Spool in, chain out: the ingest loop the daemon drives.
//!
//! # Protocol (preload/SPOOL.md)
//!
//! [`Ingestor::ingest_once`] renames `spool/current.jsonl` to
//! `spool/ingest-<unix nanos>-<pid>.jsonl` (writers open the spool per record,
//! so new records start a new `current.jsonl`), waits until that name is
//! [`SETTLE`] old for writers that opened the file before the rename, reads
//! it, appends its records to the chain in group commits of up to
//! [`BATCH`] records each followed by fsync, and only then deletes it.
//! `ingest-*` files left by an earlier run are taken first, oldest first.
//!
//! # Crash safety: exactly once across kill -9
//!
//! Every record appended from the spool carries its origin, `spool_file`
//! and `spool_line`. Spool files are ingested one at a time, in name order,
//! and a file is deleted only after all its records are durable, so at any
//! moment at most one spool file is partly in the log, and it is the origin
//! of the log's last spool record. On start, `chain::AuditLog::open` drops
//! an unfinished last line (a crash mid-write) and finds that last origin;
//! ingest then skips the lines of that file up to and including it. So:
//!
//! - killed before a commit's fsync: the records may or may not be on disk;
//!   whatever is, is skipped on restart, whatever is not, is re-read;
//! - killed after the fsync but before the delete: every line is skipped
//!   and the file is deleted;
//! - killed between rename and read: the `ingest-*` file is taken next time.
//!
//! Malformed lines become an `ingest` note in the chain (with their origin,
//! so they are not noted twice) and are appended to `spool/quarantine.jsonl`
//! (which can, after a crash at the wrong moment, hold a line twice; the
//! chain cannot). A write error (a full disk) stops this round with an
//! [`AuditError::Io`]; the spool file stays, and the next round resumes.
//!
//! Only one process may ingest a home: the [`Ingestor`] holds an exclusive
//! lock on `audit/ingest.lock` for its lifetime.

use super::chain::{AuditLog, AuditRecord, DEFAULT_MAX_FILE_BYTES};
use super::{AuditError, time};
use crate::RampartHome;
use serde::Deserialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a renamed spool file rests before it is read.
pub const SETTLE: Duration = Duration::from_millis(50);
/// Records per group commit.
pub const BATCH: usize = 4096;

/// One line of the spool, as the library writes it (preload/SPOOL.md).
#[derive(Debug, Deserialize)]
pub struct SpoolRecord {
    pub ts: String,
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub ppid: u32,
    #[serde(default)]
    pub cwd: String,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub session: String,
    #[serde(default = "exec")]
    pub tool: String,
    pub command: String,
    pub decision: String,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub approval: Option<String>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub generation: u64,
}

fn exec() -> String {
    "exec".into()
}

impl SpoolRecord {
    /// The audit record for this spool line (not yet sealed or redacted).
    pub fn into_record(self, file: &str, line: u64) -> AuditRecord {
        AuditRecord {
            agent: self.agent,
            approval: self.approval,
            command: Some(self.command),
            cwd: self.cwd,
            decision: self.decision,
            generation: self.generation,
            message: self.message,
            outcome: self.outcome,
            pid: self.pid,
            policies: self.policies,
            ppid: self.ppid,
            session: self.session,
            source: "library".into(),
            spool_file: Some(file.into()),
            spool_line: Some(line),
            time: self.ts,
            tool: self.tool,
            ..Default::default()
        }
    }
}

/// Parse one spool line.
pub fn parse_spool_line(line: &[u8], file: &str, n: u64) -> Result<AuditRecord, String> {
    serde_json::from_slice::<SpoolRecord>(line)
        .map(|r| r.into_record(file, n))
        .map_err(|e| e.to_string())
}

/// What one round of ingest did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestStats {
    /// Spool files finished (and deleted).
    pub files: u64,
    /// Records appended to the chain.
    pub records: u64,
    /// Malformed lines quarantined.
    pub quarantined: u64,
    /// Lines skipped because the log already had them (after a crash).
    pub skipped: u64,
}

/// Called with every group commit of spool records, once they are durable
/// (sealed: `seq`, `id`, `hash` set, text redacted).
pub type IngestSink = Box<dyn FnMut(&[AuditRecord]) + Send>;

/// The daemon's end of the audit trail. Hold one per home (it is locked).
pub struct Ingestor {
    spool_dir: PathBuf,
    log: AuditLog,
    batch: usize,
    sink: Option<IngestSink>,
    _lock: File,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> AuditError {
    move |source| AuditError::Io { what, source }
}

/// `ingest-<nanos>-<pid>.jsonl` files, oldest first, with their age.
fn pending_files(spool: &Path) -> std::io::Result<Vec<(String, u128)>> {
    let mut v: Vec<(u128, String)> = Vec::new();
    let rd = match std::fs::read_dir(spool) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for e in rd.filter_map(Result::ok) {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Some(rest) = name
            .strip_prefix("ingest-")
            .and_then(|r| r.strip_suffix(".jsonl"))
        else {
            continue;
        };
        let nanos = rest
            .split('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        v.push((nanos, name));
    }
    v.sort();
    Ok(v.into_iter().map(|(t, n)| (n, t)).collect())
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Ingestor {
    /// Lock the home's audit log and recover its end.
    pub fn new(home: &RampartHome) -> Result<Ingestor, AuditError> {
        Self::with_max_file_bytes(home, DEFAULT_MAX_FILE_BYTES)
    }

    /// As [`Ingestor::new`], rotating files at `max_bytes`.
    pub fn with_max_file_bytes(home: &RampartHome, max_bytes: u64) -> Result<Ingestor, AuditError> {
        let dir = home.audit_dir();
        std::fs::create_dir_all(&dir)
            .map_err(io_err(format!("cannot create {}", dir.display())))?;
        let lock_path = dir.join("ingest.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(format!("cannot open {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(AuditError::Busy(lock_path)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err(format!("cannot lock {}", lock_path.display()))(e));
            }
        }
        Ok(Ingestor {
            spool_dir: home.spool_dir(),
            log: AuditLog::open(&dir, max_bytes)?,
            batch: BATCH,
            sink: None,
            _lock: lock,
        })
    }

    /// Records per group commit (default [`BATCH`]; at least 1).
    pub fn set_batch(&mut self, records: usize) {
        self.batch = records.max(1);
    }

    /// Hand every durable group commit of spool records to `sink` (the
    /// daemon streams them as `decision` events). Records appended with
    /// [`Ingestor::append_api_decision`] are not passed: the API announces
    /// its own decisions.
    pub fn on_ingest(&mut self, sink: IngestSink) {
        self.sink = Some(sink);
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.log.next_seq()
    }

    /// Ingest everything spooled so far (blocks up to [`SETTLE`]; call it
    /// from a blocking thread).
    pub fn ingest_once(&mut self) -> Result<IngestStats, AuditError> {
        let current = self.spool_dir.join("current.jsonl");
        let renamed = format!("ingest-{}-{}.jsonl", now_nanos(), std::process::id());
        match std::fs::rename(&current, self.spool_dir.join(&renamed)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("cannot rename {}", current.display()))(e)),
        }
        let files = pending_files(&self.spool_dir)
            .map_err(io_err(format!("cannot list {}", self.spool_dir.display())))?;
        let mut stats = IngestStats::default();
        for (name, born) in files {
            let age =
                Duration::from_nanos(now_nanos().saturating_sub(born).min(u64::MAX as u128) as u64);
            if age < SETTLE {
                std::thread::sleep(SETTLE - age);
            }
            self.ingest_file(&name, &mut stats)?;
        }
        Ok(stats)
    }

    fn ingest_file(&mut self, name: &str, stats: &mut IngestStats) -> Result<(), AuditError> {
        let path = self.spool_dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
        };
        let done = match self.log.last_origin() {
            Some((f, l)) if f == name => *l,
            _ => 0,
        };
        let mut batch: Vec<AuditRecord> = Vec::with_capacity(BATCH);
        let mut quarantine: Vec<u8> = Vec::new();
        let mut rest: &[u8] = &bytes;
        let mut n = 0u64;
        while !rest.is_empty() {
            let (line, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let l = &rest[..i];
                    rest = &rest[i + 1..];
                    (l, true)
                }
                None => (std::mem::take(&mut rest), false),
            };
            n += 1;
            if n <= done {
                stats.skipped += 1;
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = if complete {
                parse_spool_line(line, name, n)
            } else {
                Err("no newline at the end (a partial write)".into())
            };
            match parsed {
                Ok(r) => batch.push(r),
                Err(why) => {
                    stats.quarantined += 1;
                    let note = serde_json::json!({
                        "quarantined_at": time::rfc3339(time::now_micros()),
                        "spool_file": name,
                        "spool_line": n,
                        "error": why,
                        "line": String::from_utf8_lossy(line),
                    });
                    quarantine.extend_from_slice(note.to_string().as_bytes());
                    quarantine.push(b'\n');
                    batch.push(AuditRecord {
                        decision: String::new(),
                        message: format!(
                            "malformed spool line quarantined to spool/quarantine.jsonl: {why}"
                        ),
                        source: "ingest".into(),
                        spool_file: Some(name.into()),
                        spool_line: Some(n),
                        time: time::rfc3339(time::now_micros()),
                        tool: "spool".into(),
                        ..Default::default()
                    });
                }
            }
            if batch.len() >= self.batch {
                self.commit(&mut batch, &mut quarantine, stats)?;
            }
        }
        self.commit(&mut batch, &mut quarantine, stats)?;
        std::fs::remove_file(&path).map_err(io_err(format!("cannot remove {}", path.display())))?;
        stats.files += 1;
        Ok(())
    }

    fn commit(
        &mut self,
        batch: &mut Vec<AuditRecord>,
        quarantine: &mut Vec<u8>,
        stats: &mut IngestStats,
    ) -> Result<(), AuditError> {
        if !quarantine.is_empty() {
            let q = self.spool_dir.join("quarantine.jsonl");
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&q)
                .and_then(|mut f| f.write_all(quarantine))
                .map_err(io_err(format!("cannot write {}", q.display())))?;
            quarantine.clear();
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.append_shrinking(batch, stats)?;
        batch.clear();
        Ok(())
    }

    /// Append `records`; when the disk cannot take them at once (ENOSPC,
    /// EFBIG), in halves, down to one record: a nearly full disk slows
    /// ingest down, it does not stop it while a record still fits. (A
    /// failed append leaves nothing behind, and the halves get the same
    /// sequence numbers the whole would have.)
    fn append_shrinking(
        &mut self,
        records: &mut [AuditRecord],
        stats: &mut IngestStats,
    ) -> Result<(), AuditError> {
        match self.log.append(records) {
            Ok(()) => {
                stats.records += records.len() as u64;
                if let Some(sink) = &mut self.sink {
                    sink(records);
                }
                Ok(())
            }
            Err(AuditError::Io { source, .. })
                if records.len() > 1
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::StorageFull | std::io::ErrorKind::FileTooLarge
                    ) =>
            {
                let (first, second) = records.split_at_mut(records.len() / 2);
                self.append_shrinking(first, stats)?;
                self.append_shrinking(second, stats)
            }
            Err(e) => Err(e),
        }
    }

    /// Append decisions made through the API in one group commit (one
    /// fsync); durable when this returns `Ok`. Returns the sealed records.
    pub fn append_api_decisions(
        &mut self,
        records: Vec<AuditRecord>,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        let now = time::rfc3339(time::now_micros());
        let mut batch: Vec<AuditRecord> = records
            .into_iter()
            .map(|mut r| {
                r.source = "api".into();
                r.spool_file = None;
                r.spool_line = None;
                if r.time.is_empty() {
                    r.time = now.clone();
                }
                r
            })
            .collect();
        self.log.append(&mut batch)?;
        Ok(batch)
    }

    /// Append a decision made through the API; durable (fsynced) when this
    /// returns `Ok`. `source` is set to `api`, `time` to now when empty;
    /// the sealed record (seq, id, hash) is returned.
    pub fn append_api_decision(
        &mut self,
        mut record: AuditRecord,
    ) -> Result<AuditRecord, AuditError> {
        record.source = "api".into();
        record.spool_file = None;
        record.spool_line = None;
        if record.time.is_empty() {
            record.time = time::rfc3339(time::now_micros());
        }
        let mut one = [record];
        self.log.append(&mut one)?;
        let [sealed] = one;
        Ok(sealed)
    }
}
