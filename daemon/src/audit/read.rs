//! Records for the CLI, straight from the files: the chain, then the spool
//! not yet ingested (redacted the same way, `seq` 0, "pending ingest").

use super::chain::{self, AuditRecord};
use super::ingest::parse_spool_line;
use super::redact::redact;
use std::path::Path;

/// A record and whether it is still only in the spool.
#[derive(Debug, Clone)]
pub struct Entry {
    pub record: AuditRecord,
    pub pending: bool,
}

/// Every record in the chain, oldest first (unreadable lines skipped;
/// `verify` is the place to find them).
pub fn logged(audit_dir: &Path) -> std::io::Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    for path in chain::list_files(audit_dir)? {
        let bytes = std::fs::read(&path)?;
        out.extend(parse_log_lines(&bytes));
    }
    Ok(out)
}

/// Records in a chunk of audit-file text (headers and partial lines skipped).
pub fn parse_log_lines(bytes: &[u8]) -> impl Iterator<Item = AuditRecord> + '_ {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !chain::is_header(l))
        .filter_map(|l| serde_json::from_slice(l).ok())
}

/// Spool records not yet ingested, in order: `ingest-*` files, then
/// `current.jsonl`.
pub fn pending(spool_dir: &Path) -> Vec<AuditRecord> {
    let mut names: Vec<String> = std::fs::read_dir(spool_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("ingest-") && n.ends_with(".jsonl"))
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|n| {
        n.trim_start_matches("ingest-")
            .split('-')
            .next()
            .and_then(|t| t.parse::<u128>().ok())
            .unwrap_or(0)
    });
    names.push("current.jsonl".into());
    let mut out = Vec::new();
    for name in names {
        let Ok(bytes) = std::fs::read(spool_dir.join(&name)) else {
            continue;
        };
        out.extend(pending_lines(&bytes, &name));
    }
    out
}

/// Spool text to redacted records (complete lines only).
pub fn pending_lines<'a>(bytes: &'a [u8], name: &'a str) -> impl Iterator<Item = AuditRecord> + 'a {
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    bytes[..complete]
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(move |(i, l)| parse_spool_line(l, name, i as u64 + 1).ok())
        .map(|mut r| {
            for s in [&mut r.command, &mut r.path, &mut r.url]
                .into_iter()
                .flatten()
            {
                *s = redact(s).into_owned();
            }
            r.source = "library".into();
            r
        })
}

/// All entries: the chain, then the pending spool.
pub fn all(home: &crate::RampartHome) -> std::io::Result<Vec<Entry>> {
    let mut v: Vec<Entry> = logged(&home.audit_dir())?
        .into_iter()
        .map(|record| Entry {
            record,
            pending: false,
        })
        .collect();
    v.extend(pending(&home.spool_dir()).into_iter().map(|record| Entry {
        record,
        pending: true,
    }));
    Ok(v)
}
