//! The audit trail end to end: real preloaded programs spool decisions, the
//! ingest API chains them, and `rampart audit` reads, follows and verifies
//! them; an ingest process killed with SIGKILL at random points neither
//! loses nor duplicates a record.

use crate::daemon::rampart_bin;
use crate::harness::{World, run, stderr, stdout};
use ::daemon::RampartHome;
use ::daemon::audit::{Ingestor, read};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn audit(w: &World, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(rampart_bin());
    c.arg("audit")
        .args(args)
        .env("RAMPART_HOME", &w.rampart_home)
        .env("NO_COLOR", "1");
    run(c, 60)
}

fn spool_line(i: u64, tag: &str) -> String {
    format!(
        r#"{{"v":1,"ts":"2026-11-21T23:05:25.000000Z","pid":{i},"ppid":1,"uid":1000,"cwd":"/w","agent":"bench","session":"","entry":"execve","tool":"exec","command":"/usr/bin/echo {tag} {i}","command_len":20,"decision":"allow","outcome":"allowed","policies":[],"message":"","generation":1,"policy_source":"snapshot","mode":"enforce","eval_ns":1}}"#
    ) + "\n"
}

fn append_spool(w: &World, lines: impl Iterator<Item = String>) {
    let dir = w.rampart_home.join("spool");
    std::fs::create_dir_all(&dir).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("current.jsonl"))
        .unwrap();
    let text: String = lines.collect();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn decisions_of_preloaded_programs_are_chained_searched_and_verified() {
    let w = World::new("audit-chain");
    let o = run(
        w.bash("/bin/true; touch blocked-marker; /bin/echo 'password=hunter2' >/dev/null; true"),
        30,
    );
    assert!(!w.marker("blocked-marker").exists(), "{}", stderr(&o));
    // Before ingest, the CLI shows them as pending.
    let o = audit(&w, &["search", "blocked-marker"]);
    assert!(stdout(&o).contains("pending ingest"), "{}", stdout(&o));

    let mut ing = Ingestor::new(&RampartHome::at(&w.rampart_home)).unwrap();
    let s = ing.ingest_once().unwrap();
    assert!(s.records >= 3, "{s:?}");

    let o = audit(&w, &["search", "blocked-marker", "--decision", "deny"]);
    assert!(
        stdout(&o).trim_end().ends_with("Found 1 matching event"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("pending"), "{}", stdout(&o));
    let log = audit(&w, &["export", "--format", "jsonl"]);
    assert!(
        !stdout(&log).contains("hunter2"),
        "a secret reached the log: {}",
        stdout(&log)
    );
    assert!(
        stdout(&log).contains("password=[REDACTED]"),
        "{}",
        stdout(&log)
    );
    let o = audit(&w, &["verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = audit(&w, &["stats"]);
    assert!(stdout(&o).contains("test-deny (1)"), "{}", stdout(&o));

    // Tampering is named: file, line, sequence; exit 1.
    let file =
        ::daemon::audit::chain::list_files(&w.rampart_home.join("audit")).unwrap()[0].clone();
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replacen("\"deny\"", "\"allow\"", 1);
    std::fs::write(&file, text).unwrap();
    let o = audit(&w, &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("{}:", file.display())) && stderr(&o).contains("sequence"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tail_follow_shows_a_new_decision_within_200ms() {
    let w = World::new("audit-follow");
    append_spool(&w, (1..=3).map(|i| spool_line(i, "old")));
    let mut child = KillOnDrop(
        Command::new(rampart_bin())
            .args(["audit", "tail", "-n", "1", "--follow", "--json"])
            .env("RAMPART_HOME", &w.rampart_home)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the last record");
    assert!(first.contains("old 3"), "{first}");
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let t = Instant::now();
        append_spool(&w, std::iter::once(spool_line(100 + i, "new")));
        let line = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the new record");
        worst = worst.max(t.elapsed());
        assert!(line.contains(&format!("new {}", 100 + i)), "{line}");
    }
    // A real preloaded program, and the same decision ingested: shown once.
    run(w.bash("/bin/true; true"), 30);
    let line = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the preloaded decision");
    assert!(line.contains("/bin/true"), "{line}");
    Ingestor::new(&RampartHome::at(&w.rampart_home))
        .unwrap()
        .ingest_once()
        .unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "ingested records are not shown twice"
    );
    drop(child);
    eprintln!("follow latency (worst of 5): {worst:?}");
    assert!(
        worst < Duration::from_millis(200),
        "follow latency {worst:?}"
    );
}

/// A follower that does not outlive a failed test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tiny xorshift: random kill points without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn ingest_killed_at_random_points_loses_and_duplicates_nothing() {
    let w = World::new("audit-crash");
    append_spool(&w, (1..=20_000).map(|i| spool_line(i, "r")));
    let mut total = 20_000u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill schedule seed {seed}");
    let mut kills = 0;
    for round in 0..14 {
        let mut child = Command::new(rampart_bin())
            .args(["audit", "ingest", "--batch", "300"])
            .env("RAMPART_HOME", &w.rampart_home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 120_000));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        // Decisions made while no ingest runs.
        append_spool(&w, (1..=300).map(|i| spool_line(total + i, "r")));
        total += 300;
        let _ = round;
    }
    let o = audit(&w, &["ingest"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(kills >= 10, "only {kills} kills landed mid-ingest");

    let recs = read::logged(&w.rampart_home.join("audit")).unwrap();
    let cmds: Vec<&str> = recs.iter().filter_map(|r| r.command.as_deref()).collect();
    assert_eq!(cmds.len() as u64, total, "every record exactly once");
    for (i, c) in cmds.iter().enumerate() {
        assert_eq!(*c, format!("/usr/bin/echo r {}", i + 1), "in order");
    }
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1));
    let o = audit(&w, &["verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    eprintln!("{kills} kills, {total} records");
}

#[test]
fn a_full_disk_stops_ingest_with_a_clear_error_and_resumes_without_loss() {
    let w = World::new("audit-full-disk");
    let total = 2000u64;
    append_spool(&w, (1..=total).map(|i| spool_line(i, "d")));
    // A file-size limit makes the log's writes fail exactly where a full
    // disk would (EFBIG here, ENOSPC there: the same error path), without
    // needing to mount a small file system. SIGXFSZ is ignored so the
    // write returns the error instead of killing the process.
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 256; exec {} audit ingest --batch 100",
            rampart_bin().display()
        ))
        .env("RAMPART_HOME", &w.rampart_home);
    let o = run(c, 60);
    assert!(
        !o.status.success(),
        "ingest must fail when the log cannot grow: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("File too large"),
        "a clear error: {}",
        stderr(&o)
    );
    // Space comes back: ingest resumes; nothing lost, nothing doubled.
    let o = audit(&w, &["ingest"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs = read::logged(&w.rampart_home.join("audit")).unwrap();
    let cmds: Vec<&str> = recs.iter().filter_map(|r| r.command.as_deref()).collect();
    assert_eq!(cmds.len() as u64, total, "every record exactly once");
    for (i, c) in cmds.iter().enumerate() {
        assert_eq!(*c, format!("/usr/bin/echo d {}", i + 1), "in order");
    }
    let o = audit(&w, &["verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
