//! The audit trail: every decision, from the library's spool or the API, in
//! one hash-chained, crash-safe log under `~/.rampart/audit/`.
//!
//! - [`chain`]: the [`AuditRecord`], its canonical form and hash, and the
//!   [`chain::AuditLog`] writer (group commits with fsync, rotation).
//! - [`redact`]: secrets out before anything is written or streamed.
//! - [`ingest`]: the [`Ingestor`] the daemon drives: spool files in, records
//!   out, exactly once across kill -9 (the design is in that module's doc).
//! - [`verify`]: recompute the whole chain; name the first break.
//! - [`read`]: records for `rampart audit tail/search/stats/export`, the log
//!   plus the spool not yet ingested.
//!
//! ```no_run
//! let home = daemon::RampartHome::from_env();
//! let mut ingestor = daemon::audit::Ingestor::new(&home)?;
//! let stats = ingestor.ingest_once()?;
//! println!("{} records ingested", stats.records);
//! # Ok::<(), daemon::audit::AuditError>(())
//! ```

pub mod chain;
pub mod ingest;
pub mod read;
pub mod redact;
pub mod time;
pub mod verify;

pub use chain::AuditRecord;
pub use ingest::{IngestStats, Ingestor};

/// Why the audit log could not be written or read.
#[derive(Debug)]
pub enum AuditError {
    /// A file operation failed (a full disk: `source` is ENOSPC). Nothing
    /// unacknowledged is lost: spool files are only deleted after the
    /// records are fsynced, so the next successful ingest picks them up.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// Another process ingests this home (it holds `audit/ingest.lock`).
    Busy(std::path::PathBuf),
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditError::Io { what, source } => write!(f, "{what}: {source}"),
            AuditError::Busy(p) => write!(
                f,
                "another process is ingesting the audit spool (it holds {})",
                p.display()
            ),
        }
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuditError::Io { source, .. } => Some(source),
            AuditError::Busy(_) => None,
        }
    }
}

#[cfg(test)]
mod tests;
