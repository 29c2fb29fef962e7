//! Recompute the chain, file by file, and name the first break.

use super::chain::{self, GENESIS, Head, Header};
use std::path::{Path, PathBuf};

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub file: PathBuf,
    /// 1-based line in `file`.
    pub line: u64,
    /// The sequence number expected there.
    pub seq: u64,
    pub reason: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: chain broken at sequence {}: {}",
            self.file.display(),
            self.line,
            self.seq,
            self.reason
        )
    }
}

/// A chain that verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub files: usize,
    pub records: u64,
    /// The last record's hash ([`GENESIS`] for an empty log).
    pub last_hash: String,
}

/// Why verification did not finish.
#[derive(Debug)]
pub enum VerifyError {
    Io(PathBuf, std::io::Error),
    Broken(ChainBreak),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            VerifyError::Broken(b) => b.fmt(f),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verify every file in `dir`, calling `progress(bytes_done, bytes_total)`
/// after each file and every few megabytes.
pub fn verify(dir: &Path, mut progress: impl FnMut(u64, u64)) -> Result<Verified, VerifyError> {
    // head.json first: records are durable before it names them, so the
    // log read after it is at least as long, even while the daemon appends
    // (read after the files, a record appended in between looked like
    // records cut off the end).
    let head = std::fs::read(dir.join("head.json"))
        .ok()
        .and_then(|text| serde_json::from_slice::<Head>(&text).ok());
    let files = chain::list_files(dir).map_err(|e| VerifyError::Io(dir.to_path_buf(), e))?;
    let total: u64 = files
        .iter()
        .filter_map(|p| p.metadata().ok())
        .map(|m| m.len())
        .sum();
    let mut done = 0u64;
    let mut prev_hash = GENESIS.to_string();
    let mut prev_file = String::new();
    let mut seq = 1u64;
    let mut records = 0u64;
    for path in &files {
        let bytes = std::fs::read(path).map_err(|e| VerifyError::Io(path.clone(), e))?;
        let brk = |line: u64, seq: u64, reason: String| {
            VerifyError::Broken(ChainBreak {
                file: path.clone(),
                line,
                seq,
                reason,
            })
        };
        let mut lines = bytes.split_inclusive(|&b| b == b'\n');
        let first = lines.next().unwrap_or_default();
        let header: Header = if chain::is_header(first) {
            serde_json::from_slice(first.strip_suffix(b"\n").unwrap_or(first))
                .map_err(|e| brk(1, seq, format!("unreadable header: {e}")))?
        } else {
            return Err(brk(1, seq, "the file does not start with a header".into()));
        };
        if header.prev_hash != prev_hash || header.prev_file != prev_file || header.next_seq != seq
        {
            let expected = if prev_file.is_empty() {
                "no previous file".into()
            } else {
                format!("{prev_file} ending at sequence {}", seq - 1)
            };
            return Err(brk(
                1,
                seq,
                format!(
                    "the header links to {} (sequence {}) but the chain so far is {expected}: a file was removed, truncated, reordered or swapped",
                    if header.prev_file.is_empty() {
                        "no previous file".to_string()
                    } else {
                        header.prev_file.clone()
                    },
                    header.next_seq
                ),
            ));
        }
        let mut since_progress = 0usize;
        for (i, raw) in lines.enumerate() {
            let n = i as u64 + 2;
            let Some(line) = raw.strip_suffix(b"\n") else {
                return Err(brk(
                    n,
                    seq,
                    "the last line is cut off (the file was truncated)".into(),
                ));
            };
            if chain::is_header(line) {
                return Err(brk(
                    n,
                    seq,
                    "a header in the middle of a file (lines were inserted)".into(),
                ));
            }
            let (s, prev, hash) = chain::check_line(line).map_err(|why| brk(n, seq, why))?;
            if s != seq {
                let why = if s > seq {
                    "records are missing (deleted)"
                } else {
                    "a record is repeated or inserted"
                };
                return Err(brk(n, seq, format!("found sequence {s}: {why}")));
            }
            if prev != prev_hash {
                return Err(brk(
                    n,
                    seq,
                    "prev_hash does not match the previous record's hash".into(),
                ));
            }
            prev_hash = hash;
            seq += 1;
            records += 1;
            since_progress += raw.len();
            if since_progress > 8 << 20 {
                progress(done + since_progress as u64, total);
                done += since_progress as u64;
                since_progress = 0;
            }
        }
        done += since_progress as u64;
        progress(done, total);
        prev_file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
    }
    if let Some(head) = head {
        let last = seq - 1;
        if head.seq > last || (head.seq == last && head.hash != prev_hash) {
            let file = files
                .last()
                .cloned()
                .unwrap_or_else(|| dir.join(&head.file));
            let lines = std::fs::read(&file)
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() as u64);
            return Err(VerifyError::Broken(ChainBreak {
                file,
                line: lines + 1,
                seq: last + 1,
                reason: format!(
                    "the log ends at sequence {last}, but head.json records sequence {} was written: records were cut off the end",
                    head.seq
                ),
            }));
        }
    }
    Ok(Verified {
        files: files.len(),
        records,
        last_hash: prev_hash,
    })
}
