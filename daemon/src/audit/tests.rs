//! Ingest and verify, against temp homes.

use super::chain::{self, AuditRecord};
use super::verify::{VerifyError, verify};
use super::*;
use crate::RampartHome;
use std::path::{Path, PathBuf};

struct TempHome(PathBuf);

impl TempHome {
    fn new(name: &str) -> (TempHome, RampartHome) {
        let dir = std::env::temp_dir().join(format!("rampart-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = RampartHome::at(&dir);
        home.ensure_dirs().unwrap();
        (TempHome(dir), home)
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spool_line(i: u64) -> String {
    format!(
        r#"{{"v":1,"ts":"2026-11-21T23:05:25.{i:06}Z","pid":{i},"ppid":1,"uid":1000,"cwd":"/w","agent":"codex","session":"s1","entry":"execve","tool":"exec","command":"/usr/bin/echo {i}","command_len":12,"decision":"allow","outcome":"allowed","policies":[],"message":"","generation":3,"policy_source":"snapshot","mode":"enforce","eval_ns":100}}"#
    ) + "\n"
}

fn spool(home: &RampartHome, lines: impl IntoIterator<Item = String>) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.spool_path())
        .unwrap();
    for l in lines {
        f.write_all(l.as_bytes()).unwrap();
    }
}

fn break_of(dir: &Path) -> verify::ChainBreak {
    match verify(dir, |_, _| {}) {
        Err(VerifyError::Broken(b)) => b,
        other => panic!("expected a break, got {other:?}"),
    }
}

/// A log of three files (rotating every ~3 records) with 10 records.
fn three_files(name: &str) -> (TempHome, RampartHome, Vec<PathBuf>) {
    let (t, home) = TempHome::new(name);
    let mut ing = Ingestor::with_max_file_bytes(&home, 1500).unwrap();
    spool(&home, (1..=10).map(spool_line));
    ing.ingest_once().unwrap();
    let files = chain::list_files(&home.audit_dir()).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    (t, home, files)
}

#[test]
fn spooled_records_are_ingested_in_order_and_the_spool_is_removed() {
    let (_t, home) = TempHome::new("basic");
    let mut ing = Ingestor::new(&home).unwrap();
    spool(&home, (1..=5).map(spool_line));
    let s = ing.ingest_once().unwrap();
    assert_eq!((s.records, s.files, s.quarantined), (5, 1, 0));
    spool(&home, (6..=7).map(spool_line));
    ing.ingest_once().unwrap();
    let recs = read::logged(&home.audit_dir()).unwrap();
    let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    assert_eq!(recs[6].command.as_deref(), Some("/usr/bin/echo 7"));
    assert!(
        std::fs::read_dir(home.spool_dir())
            .unwrap()
            .next()
            .is_none()
    );
    assert_eq!(verify(&home.audit_dir(), |_, _| {}).unwrap().records, 7);
}

#[test]
fn audit_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, home) = TempHome::new("modes");
    let mut ing = Ingestor::new(&home).unwrap();
    spool(&home, [spool_line(1)]);
    ing.ingest_once().unwrap();
    let f = &chain::list_files(&home.audit_dir()).unwrap()[0];
    assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let d = home.audit_dir().metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(d, 0o700);
}

#[test]
fn a_second_ingestor_for_the_same_home_is_refused() {
    let (_t, home) = TempHome::new("lock");
    let _a = Ingestor::new(&home).unwrap();
    assert!(matches!(Ingestor::new(&home), Err(AuditError::Busy(_))));
}

#[test]
fn malformed_lines_are_quarantined_and_noted_without_breaking_the_chain() {
    let (_t, home) = TempHome::new("quarantine");
    let mut ing = Ingestor::new(&home).unwrap();
    spool(
        &home,
        [
            spool_line(1),
            "{\"v\":1,\"ts\":\"x\n".into(),
            spool_line(3),
            "{\"partial".into(),
        ],
    );
    let s = ing.ingest_once().unwrap();
    assert_eq!((s.records, s.quarantined), (4, 2));
    let q = std::fs::read_to_string(home.spool_dir().join("quarantine.jsonl")).unwrap();
    assert_eq!(q.lines().count(), 2);
    let recs = read::logged(&home.audit_dir()).unwrap();
    assert_eq!(recs[1].source, "ingest");
    assert!(recs[1].message.contains("quarantined"));
    verify(&home.audit_dir(), |_, _| {}).unwrap();
}

#[test]
fn a_restart_skips_the_lines_already_in_the_log() {
    let (_t, home) = TempHome::new("skip");
    spool(&home, (1..=6).map(spool_line));
    // As if a previous run appended lines 1..=4 of this file and died before deleting it.
    let name = "ingest-1-1.jsonl";
    std::fs::rename(home.spool_path(), home.spool_dir().join(name)).unwrap();
    {
        let mut log =
            chain::AuditLog::open(&home.audit_dir(), chain::DEFAULT_MAX_FILE_BYTES).unwrap();
        let text = std::fs::read(home.spool_dir().join(name)).unwrap();
        let mut recs: Vec<AuditRecord> = text
            .split(|&b| b == b'\n')
            .take(4)
            .enumerate()
            .map(|(i, l)| ingest::parse_spool_line(l, name, i as u64 + 1).unwrap())
            .collect();
        log.append(&mut recs).unwrap();
    }
    let mut ing = Ingestor::new(&home).unwrap();
    let s = ing.ingest_once().unwrap();
    assert_eq!((s.records, s.skipped), (2, 4));
    let cmds: Vec<String> = read::logged(&home.audit_dir())
        .unwrap()
        .into_iter()
        .map(|r| r.command.unwrap())
        .collect();
    assert_eq!(
        cmds,
        (1..=6)
            .map(|i| format!("/usr/bin/echo {i}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn an_unfinished_last_line_is_dropped_on_restart_and_reingested() {
    let (_t, home) = TempHome::new("torn");
    spool(&home, (1..=3).map(spool_line));
    let name = "ingest-1-1.jsonl";
    std::fs::rename(home.spool_path(), home.spool_dir().join(name)).unwrap();
    {
        let mut log =
            chain::AuditLog::open(&home.audit_dir(), chain::DEFAULT_MAX_FILE_BYTES).unwrap();
        let mut recs =
            vec![ingest::parse_spool_line(spool_line(1).trim().as_bytes(), name, 1).unwrap()];
        log.append(&mut recs).unwrap();
    }
    let f = chain::list_files(&home.audit_dir()).unwrap().remove(0);
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .write_all(b"{\"agent\":\"co")
        .unwrap();
    let mut ing = Ingestor::new(&home).unwrap();
    assert_eq!(ing.ingest_once().unwrap().records, 2);
    assert_eq!(verify(&home.audit_dir(), |_, _| {}).unwrap().records, 3);
}

#[test]
fn api_decisions_are_sealed_and_redacted() {
    let (_t, home) = TempHome::new("api");
    let mut ing = Ingestor::new(&home).unwrap();
    let r = ing
        .append_api_decision(AuditRecord {
            agent: "claude".into(),
            tool: "fetch".into(),
            url: Some("https://x/?token=abcdef123".into()),
            decision: "deny".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((r.seq, r.source.as_str()), (1, "api"));
    assert_eq!(r.url.as_deref(), Some("https://x/?token=[REDACTED]"));
    let text = std::fs::read_to_string(&chain::list_files(&home.audit_dir()).unwrap()[0]).unwrap();
    assert!(!text.contains("abcdef123"));
    verify(&home.audit_dir(), |_, _| {}).unwrap();
}

#[test]
fn files_rotate_with_headers_that_link_them() {
    let (_t, home, files) = three_files("rotate");
    let v = verify(&home.audit_dir(), |_, _| {}).unwrap();
    assert_eq!((v.records, v.files), (10, files.len()));
    // A restarted ingestor continues the chain.
    let mut ing = Ingestor::with_max_file_bytes(&home, 1500).unwrap();
    spool(&home, [spool_line(11)]);
    ing.ingest_once().unwrap();
    assert_eq!(verify(&home.audit_dir(), |_, _| {}).unwrap().records, 11);
}

#[test]
fn verify_reports_one_edited_byte() {
    let (_t, home, files) = three_files("edit");
    let text = std::fs::read_to_string(&files[1])
        .unwrap()
        .replacen("echo", "echp", 1);
    std::fs::write(&files[1], text).unwrap();
    let b = break_of(&home.audit_dir());
    assert_eq!((b.file.clone(), b.line), (files[1].clone(), 2), "{b}");
    assert!(b.reason.contains("altered"), "{b}");
}

#[test]
fn verify_reports_a_deleted_line() {
    let (_t, home, files) = three_files("delete");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let seq_removed = serde_json::from_str::<AuditRecord>(lines[1]).unwrap().seq;
    lines.remove(1);
    std::fs::write(&files[0], lines.join("\n") + "\n").unwrap();
    let b = break_of(&home.audit_dir());
    assert_eq!((b.line, b.seq), (2, seq_removed), "{b}");
}

#[test]
fn verify_reports_an_inserted_line() {
    let (_t, home, files) = three_files("insert");
    let text = std::fs::read_to_string(&files[1]).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let copy = lines[1];
    lines.insert(2, copy);
    std::fs::write(&files[1], lines.join("\n") + "\n").unwrap();
    let b = break_of(&home.audit_dir());
    assert_eq!((b.file.clone(), b.line), (files[1].clone(), 3), "{b}");
}

#[test]
fn verify_reports_a_truncated_file() {
    let (_t, home, files) = three_files("truncate");
    // Cut mid-line in a middle file.
    let len = files[1].metadata().unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let b = break_of(&home.audit_dir());
    assert_eq!(b.file, files[1], "{b}");
    assert!(b.reason.contains("truncated"), "{b}");
}

#[test]
fn verify_reports_records_cut_off_the_end_of_the_newest_file() {
    let (_t, home, files) = three_files("truncate-end");
    let last = files.last().unwrap();
    let text = std::fs::read_to_string(last).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(last, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let b = break_of(&home.audit_dir());
    assert_eq!(b.seq, 10, "{b}");
    assert!(b.reason.contains("cut off"), "{b}");
}

#[test]
fn verify_reports_two_swapped_files() {
    let (_t, home, files) = three_files("swap");
    let a = std::fs::read(&files[0]).unwrap();
    let b = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[0], b).unwrap();
    std::fs::write(&files[1], a).unwrap();
    let brk = break_of(&home.audit_dir());
    assert_eq!(
        (brk.file.clone(), brk.line, brk.seq),
        (files[0].clone(), 1, 1),
        "{brk}"
    );
}

#[test]
fn an_empty_log_verifies() {
    let (_t, home) = TempHome::new("empty");
    assert_eq!(verify(&home.audit_dir(), |_, _| {}).unwrap().records, 0);
}

#[test]
fn the_ingest_sink_sees_each_durable_spool_record_once_sealed_and_not_api_decisions() {
    use std::sync::{Arc, Mutex};
    let (_t, home) = TempHome::new("sink");
    let mut ing = Ingestor::new(&home).unwrap();
    let seen: Arc<Mutex<Vec<AuditRecord>>> = Arc::default();
    let into = seen.clone();
    ing.on_ingest(Box::new(move |batch| {
        into.lock().unwrap().extend_from_slice(batch)
    }));
    spool(&home, (1..=3).map(spool_line));
    ing.ingest_once().unwrap();
    ing.ingest_once().unwrap();
    ing.append_api_decision(AuditRecord {
        decision: "deny".into(),
        tool: "exec".into(),
        ..Default::default()
    })
    .unwrap();
    let seen = seen.lock().unwrap();
    let seqs: Vec<u64> = seen.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(
        seen.iter()
            .all(|r| !r.hash.is_empty() && r.source == "library")
    );
    assert_eq!(seen[1].command.as_deref(), Some("/usr/bin/echo 2"));
}
