//! Audit throughput: sustained ingest (spool → chain, fsync per group
//! commit) and verify, in records per second.
//!
//! `cargo bench -p daemon --bench audit [-- RECORDS]` (ci/bench-audit.sh).
//! Targets (issue 5): ingest ≥ 50 000/s, verify ≥ 200 000/s.

use daemon::RampartHome;
use daemon::audit::{Ingestor, verify};
use std::io::Write;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("rampart-audit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let home = RampartHome::at(&dir);
    home.ensure_dirs().expect("home");

    // Spool in chunks, as a busy agent would between ingest rounds.
    let chunk = 20_000;
    let mut ing = Ingestor::new(&home).expect("ingestor");
    let mut elapsed = std::time::Duration::ZERO;
    let mut done = 0;
    while done < n {
        let m = chunk.min(n - done);
        let mut text = String::with_capacity(m as usize * 420);
        for i in done..done + m {
            text.push_str(&format!(
                r#"{{"v":1,"ts":"2026-11-21T23:05:25.946093Z","pid":{i},"ppid":13576,"uid":1000,"cwd":"/home/me/project","agent":"codex","session":"s-42","entry":"execve","tool":"exec","command":"/usr/bin/git commit -m 'change number {i}' --author me","command_len":52,"decision":"allow","outcome":"allowed","policies":["git-ok"],"message":"","generation":3,"policy_source":"snapshot","mode":"enforce","eval_ns":8209}}"#
            ));
            text.push('\n');
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.spool_path())
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("spool");
        let t = Instant::now();
        let s = ing.ingest_once().expect("ingest");
        // The 50 ms settle wait is latency, not work: leave it out.
        elapsed += t.elapsed().saturating_sub(daemon::audit::ingest::SETTLE);
        assert_eq!(s.records, m);
        done += m;
    }
    println!(
        "ingest: {n} records in {:.3}s = {:.0} records/s (group commits of {} with fsync; settle wait excluded)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        daemon::audit::ingest::BATCH
    );
    drop(ing);
    let t = Instant::now();
    let v = verify::verify(&home.audit_dir(), |_, _| {}).expect("verifies");
    let e = t.elapsed();
    assert_eq!(v.records, n);
    println!(
        "verify: {n} records in {:.3}s = {:.0} records/s",
        e.as_secs_f64(),
        n as f64 / e.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
