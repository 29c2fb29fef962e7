//! The audit record, its hash, and the append-only files that hold the chain.
//!
//! # Canonical form and hash
//!
//! A record is stored as one line of *canonical JSON*: serde_json output of
//! [`AuditRecord`], whose fields are declared in byte order of their names
//! (so the keys come out sorted, as a `BTreeMap` would sort them), with no
//! whitespace and absent optional fields left out. The hash is
//!
//! ```text
//! hash = hex(sha256(prev_hash ‖ canonical JSON of the record without "hash")))
//! ```
//!
//! where `prev_hash` is the 64 hex characters of the previous record's hash
//! ([`GENESIS`] for the first). Because the key order is fixed, the stored line
//! is exactly the hashed text with `,"hash":"…"` spliced in before `"id"`, so
//! [`check_line`] verifies a line from its bytes without re-serialising it:
//! any edited byte changes the hash.
//!
//! # Files
//!
//! `audit/YYYY-MM-DD.jsonl` (UTC date of ingest; `YYYY-MM-DD.N.jsonl` after
//! a size rotation), 0600 in a 0700 directory. Every file starts with a
//! [`Header`] naming the previous file and its last hash, and the sequence
//! number of its first record, so deleting, truncating or swapping whole
//! files breaks the chain. `audit/head.json`, rewritten after each commit,
//! records the last durable sequence number and hash so that cutting records
//! off the end of the newest file is noticed too.

use super::{AuditError, redact, time};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Rotate to a new file when the current one would grow past this.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One decision in the log. Field order is the canonical key order (sorted
/// by name): do not reorder; `canonical_key_order_is_sorted` checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub agent: String,
    /// For `ask`: `approved`, `denied`, `timeout`, `unreachable`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// For `exec`: the command (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub cwd: String,
    /// `allow`, `watch`, `ask`, `deny` (empty for ingest notes).
    pub decision: String,
    /// Policy snapshot generation.
    pub generation: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    pub id: String,
    pub message: String,
    /// `allowed` or `blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// For `read`/`write`: the path (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub pid: u32,
    pub policies: Vec<String>,
    pub ppid: u32,
    pub prev_hash: String,
    pub seq: u64,
    pub session: String,
    /// `library`, `api`, or `ingest` (a note about the spool itself).
    pub source: String,
    /// The spool file this record was ingested from (crash recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_file: Option<String>,
    /// Its 1-based line in that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_line: Option<u64>,
    /// When the decision was made, RFC 3339 UTC with microseconds.
    pub time: String,
    /// `exec`, `read`, `write`, `fetch`.
    pub tool: String,
    /// For `fetch`: the URL (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl AuditRecord {
    /// The command, path or URL, whichever the record has.
    pub fn target(&self) -> &str {
        self.command
            .as_deref()
            .or(self.path.as_deref())
            .or(self.url.as_deref())
            .unwrap_or("")
    }

    fn redact(&mut self) {
        for s in [&mut self.command, &mut self.path, &mut self.url]
            .into_iter()
            .flatten()
        {
            *s = redact::redact(s).into_owned();
        }
        for s in [&mut self.message, &mut self.agent, &mut self.session] {
            *s = redact::redact(s).into_owned();
        }
    }
}

/// First line of every audit file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always 1; marks the line as a header.
    pub audit_header: u32,
    /// Sequence number of the first record in this file.
    pub next_seq: u64,
    /// The previous file's name (empty for the first file).
    pub prev_file: String,
    /// The previous file's last hash ([`GENESIS`] for the first file).
    pub prev_hash: String,
}

/// Is this line a [`Header`]?
pub fn is_header(line: &[u8]) -> bool {
    line.starts_with(b"{\"audit_header\"")
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// `hex(sha256(prev_hash ‖ body))`.
pub fn chain_hash(prev_hash: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(body);
    hex(&h.finalize())
}

/// Seal `rec` (its `seq`, `prev_hash` and `id` set): compute its hash and
/// append its line (with `\n`) to `out`. Returns the hash.
pub fn seal_into(rec: &mut AuditRecord, out: &mut Vec<u8>) -> String {
    rec.hash.clear();
    let start = out.len();
    serde_json::to_writer(&mut *out, rec).expect("a record always serialises");
    let hash = chain_hash(&rec.prev_hash, &out[start..]);
    let at = find(&out[start..], b",\"id\":\"").expect("records always have an id") + start;
    let splice = format!(",\"hash\":\"{hash}\"");
    out.splice(at..at, splice.bytes());
    out.push(b'\n');
    rec.hash.clone_from(&hash);
    hash
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What [`check_line`] learns from a record line.
#[derive(Debug, Deserialize)]
pub struct Link<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub prev_hash: &'a str,
}

/// Check one record line (without its `\n`): its stored hash must be the
/// hash of its own text without the hash. Returns `(seq, prev_hash, hash)`.
pub fn check_line(line: &[u8]) -> Result<(u64, String, String), String> {
    const KEY: &[u8] = b",\"hash\":\"";
    let at = find(line, KEY).ok_or("no hash")?;
    let h0 = at + KEY.len();
    let stored = line
        .get(h0..h0 + 64)
        .filter(|_| line.get(h0 + 64) == Some(&b'"'))
        .ok_or("malformed hash")?;
    let stored = std::str::from_utf8(stored).map_err(|_| "malformed hash")?;
    let link: Link = serde_json::from_slice(line).map_err(|e| format!("not a record: {e}"))?;
    let mut h = Sha256::new();
    h.update(link.prev_hash.as_bytes());
    h.update(&line[..at]);
    h.update(&line[h0 + 65..]);
    let actual = hex(&h.finalize());
    if actual != stored {
        return Err(format!(
            "hash mismatch (stored {}…, computed {}…): the record was altered",
            &stored[..12],
            &actual[..12]
        ));
    }
    Ok((link.seq, link.prev_hash.to_string(), actual))
}

/// An audit file's place in the order: `(date, rotation)`.
pub fn file_key(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".jsonl")?;
    let (date, n) = match stem.split_once('.') {
        Some((d, n)) => (d, n.parse().ok().filter(|&n| n > 0)?),
        None => (stem, 0),
    };
    let b = date.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    ok.then(|| (date.to_string(), n))
}

fn file_name((date, n): &(String, u32)) -> String {
    if *n == 0 {
        format!("{date}.jsonl")
    } else {
        format!("{date}.{n}.jsonl")
    }
}

/// The audit files in `dir`, oldest first.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<((String, u32), PathBuf)> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some((file_key(&name)?, e.path()))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

/// `audit/head.json`: the last durable record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub file: String,
}

/// Where a record came from in the spool.
pub type Origin = (String, u64);

/// The writer's end of the chain: appends sealed records in group commits.
pub struct AuditLog {
    dir: PathBuf,
    max_bytes: u64,
    current: Option<(String, File, u64)>,
    last_hash: String,
    next_seq: u64,
    last_origin: Option<Origin>,
    recover: bool,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> AuditError {
    move |source| AuditError::Io { what, source }
}

impl AuditLog {
    /// Open the chain in `dir` (created 0700), repairing an unfinished last
    /// line left by a crash (it was never fsynced as a whole, so never
    /// acknowledged, and its spool line is still waiting).
    pub fn open(dir: &Path, max_bytes: u64) -> Result<AuditLog, AuditError> {
        let mut log = AuditLog {
            dir: dir.to_path_buf(),
            max_bytes,
            current: None,
            last_hash: GENESIS.into(),
            next_seq: 1,
            last_origin: None,
            recover: true,
        };
        log.recover()?;
        Ok(log)
    }

    /// The last (spool file, line) in the log.
    pub fn last_origin(&self) -> Option<&Origin> {
        self.last_origin.as_ref()
    }

    /// Sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn recover(&mut self) -> Result<(), AuditError> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.dir)
            .map_err(io_err(format!("cannot create {}", self.dir.display())))?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        self.current = None;
        self.last_hash = GENESIS.into();
        self.next_seq = 1;
        self.last_origin = None;
        let files =
            list_files(&self.dir).map_err(io_err(format!("cannot list {}", self.dir.display())))?;
        let mut found_last = false;
        for (i, path) in files.iter().enumerate().rev() {
            let mut bytes =
                std::fs::read(path).map_err(io_err(format!("cannot read {}", path.display())))?;
            if i + 1 == files.len() {
                let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                if keep < bytes.len() {
                    tracing::warn!(
                        "{}: dropping an unfinished last line (a crash mid-write)",
                        path.display()
                    );
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(io_err(format!("cannot open {}", path.display())))?;
                    f.set_len(keep as u64)
                        .map_err(io_err(format!("cannot repair {}", path.display())))?;
                    f.sync_all()
                        .map_err(io_err(format!("cannot repair {}", path.display())))?;
                    bytes.truncate(keep);
                }
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                let f = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(io_err(format!("cannot open {}", path.display())))?;
                self.current = Some((name, f, bytes.len() as u64));
            }
            for line in bytes.split(|&b| b == b'\n').rev().filter(|l| !l.is_empty()) {
                if is_header(line) {
                    if !found_last && let Ok(h) = serde_json::from_slice::<Header>(line) {
                        // A file with no records yet: the chain continues from its header.
                        self.last_hash = h.prev_hash;
                        self.next_seq = h.next_seq;
                        found_last = true;
                    }
                    continue;
                }
                let Ok(r) = serde_json::from_slice::<AuditRecord>(line) else {
                    continue;
                };
                if !found_last {
                    self.last_hash = r.hash.clone();
                    self.next_seq = r.seq + 1;
                    found_last = true;
                }
                if let (Some(f), Some(l)) = (r.spool_file, r.spool_line) {
                    self.last_origin = Some((f, l));
                    break;
                }
            }
            if found_last && self.last_origin.is_some() {
                break;
            }
        }
        self.recover = false;
        Ok(())
    }

    /// Append `records` (their `seq`, `prev_hash`, `hash` and, when empty,
    /// `id` are assigned here; text fields are redacted here), then fsync.
    /// On success they are durable. On an error (a full disk) nothing is
    /// acknowledged; the next call re-reads the log's end from disk.
    pub fn append(&mut self, records: &mut [AuditRecord]) -> Result<(), AuditError> {
        if self.recover {
            self.recover()?;
        }
        let r = self.append_inner(records);
        if r.is_err() {
            self.recover = true;
            if let Some((_, f, len)) = &self.current {
                // Best effort: drop a partial group commit now.
                let _ = f.set_len(*len);
            }
        }
        r
    }

    fn append_inner(&mut self, records: &mut [AuditRecord]) -> Result<(), AuditError> {
        let today = time::date_of(time::now_micros());
        let mut buf = Vec::with_capacity(records.len() * 512);
        let mut prev = self.last_hash.clone();
        let mut seq = self.next_seq;
        let mut origin = self.last_origin.clone();
        for rec in records.iter_mut() {
            rec.redact();
            rec.seq = seq;
            rec.prev_hash.clone_from(&prev);
            if rec.id.is_empty() {
                rec.id = format!("{seq:010}");
            }
            let before = buf.len();
            prev = seal_into(rec, &mut buf);
            let cur_len = self.current.as_ref().map_or(0, |c| c.2);
            let need_new = match &self.current {
                None => true,
                Some((name, _, _)) => {
                    let key = file_key(name).unwrap_or_default();
                    today > key.0 || cur_len + buf.len() as u64 > self.max_bytes
                }
            };
            if need_new {
                // Everything before this record goes to the old file.
                let line = buf.split_off(before);
                self.write_current(&buf)?;
                buf.clear();
                self.rotate(&today, rec.prev_hash.clone(), seq)?;
                buf = line;
            }
            if let (Some(f), Some(l)) = (&rec.spool_file, rec.spool_line) {
                origin = Some((f.clone(), l));
            }
            seq += 1;
        }
        self.write_current(&buf)?;
        if let Some((_, f, _)) = &self.current {
            f.sync_data()
                .map_err(io_err("cannot fsync the audit log".into()))?;
        }
        self.last_hash = prev;
        self.next_seq = seq;
        self.last_origin = origin;
        self.write_head();
        Ok(())
    }

    fn write_current(&mut self, buf: &[u8]) -> Result<(), AuditError> {
        if buf.is_empty() {
            return Ok(());
        }
        let Some((name, f, len)) = &mut self.current else {
            return Ok(());
        };
        f.write_all(buf).map_err(io_err(format!(
            "cannot write {}",
            self.dir.join(&*name).display()
        )))?;
        *len += buf.len() as u64;
        Ok(())
    }

    /// Close the current file (fsynced) and start the next with a header.
    fn rotate(&mut self, today: &str, prev_hash: String, next_seq: u64) -> Result<(), AuditError> {
        let (prev_file, key) = match &self.current {
            Some((name, f, _)) => {
                f.sync_data()
                    .map_err(io_err("cannot fsync the audit log".into()))?;
                let k = file_key(name).unwrap_or_default();
                let key = if today > k.0.as_str() {
                    (today.to_string(), 0)
                } else {
                    (k.0, k.1 + 1)
                };
                (name.clone(), key)
            }
            None => (String::new(), (today.to_string(), 0)),
        };
        let name = file_name(&key);
        let path = self.dir.join(&name);
        let mut f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(format!("cannot create {}", path.display())))?;
        let header = Header {
            audit_header: 1,
            next_seq,
            prev_file,
            prev_hash,
        };
        let mut line = serde_json::to_vec(&header).expect("header serialises");
        line.push(b'\n');
        f.write_all(&line)
            .map_err(io_err(format!("cannot write {}", path.display())))?;
        f.sync_data()
            .map_err(io_err(format!("cannot fsync {}", path.display())))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.current = Some((name, f, line.len() as u64));
        Ok(())
    }

    /// Best effort: the head file only makes truncation visible.
    fn write_head(&self) {
        let Some((name, _, _)) = &self.current else {
            return;
        };
        let head = Head {
            seq: self.next_seq - 1,
            hash: self.last_hash.clone(),
            file: name.clone(),
        };
        let tmp = self.dir.join(".head.json.tmp");
        let ok = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&serde_json::to_vec(&head).unwrap_or_default()));
        if ok.is_ok() {
            let _ = std::fs::rename(&tmp, self.dir.join("head.json"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(n: u64) -> AuditRecord {
        AuditRecord {
            agent: "codex".into(),
            command: Some(format!("/usr/bin/echo {n}")),
            cwd: "/w".into(),
            decision: "allow".into(),
            message: String::new(),
            policies: vec!["p".into()],
            session: "s".into(),
            source: "library".into(),
            time: "2026-11-21T23:05:25.946093Z".into(),
            tool: "exec".into(),
            spool_file: Some("ingest-1.jsonl".into()),
            spool_line: Some(n),
            ..Default::default()
        }
    }

    #[test]
    fn canonical_key_order_is_sorted() {
        let mut r = sample(1);
        r.approval = Some("approved".into());
        r.outcome = Some("allowed".into());
        r.path = Some("/p".into());
        r.url = Some("http://x".into());
        r.hash = "h".into();
        r.prev_hash = GENESIS.into();
        let direct = serde_json::to_string(&r).unwrap();
        let via_map = serde_json::to_value(&r).unwrap().to_string();
        assert_eq!(
            direct, via_map,
            "serde_json::Value sorts keys; the struct must too"
        );
    }

    #[test]
    fn a_sealed_line_checks_and_an_edited_one_does_not() {
        let mut r = sample(1);
        r.seq = 1;
        r.prev_hash = GENESIS.into();
        r.id = "x".into();
        let mut buf = Vec::new();
        let h = seal_into(&mut r, &mut buf);
        let line = &buf[..buf.len() - 1];
        assert_eq!(check_line(line).unwrap().2, h);
        // The stored line is the record itself, hash included.
        assert_eq!(serde_json::from_slice::<AuditRecord>(line).unwrap(), r);
        let text = String::from_utf8(line.to_vec())
            .unwrap()
            .replace("echo 1", "echo 2");
        assert!(check_line(text.as_bytes()).is_err());
    }

    #[test]
    fn files_sort_by_date_then_rotation() {
        assert!(file_key("2026-01-02.jsonl") < file_key("2026-01-02.1.jsonl"));
        assert!(file_key("2026-01-02.9.jsonl") < file_key("2026-01-02.10.jsonl"));
        assert_eq!(file_key("head.json"), None);
        assert_eq!(file_key("2026-01-02.0.jsonl"), None);
    }
}
