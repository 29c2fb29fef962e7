//! Load: a thousand processes under the library at once with fifty of them
//! waiting on `ask`, and a sustained stream of decisions into the spool
//! while the daemon ingests them.
//!
//! The spool test writes 10 000 records a second for `RAMPART_LOAD_SECS`
//! seconds (default 10; `ci/bench.sh load` runs the full minute) and
//! checks that every record is ingested exactly once, the chain verifies,
//! and the daemon's resident memory stays flat. Figures go to stderr
//! (`cargo test … -- --nocapture` shows them).

use crate::daemon::{Daemon, served_with};
use crate::harness::{POLICY, World, exists, run, stderr, stdout};
use ::daemon::audit::read;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Wait for every child, bounded; statuses in order.
fn wait_all(children: Vec<Child>, secs: u64) -> Vec<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    children
        .into_iter()
        .map(|mut c| {
            loop {
                if let Some(s) = c.try_wait().expect("wait") {
                    break s;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    panic!("a process was still running after {secs}s");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .collect()
}

#[test]
fn a_thousand_processes_at_once_with_fifty_waiting_on_ask_all_resolve() {
    const ALL: usize = 1000;
    const ASKS: usize = 50;
    let (w, d) = served_with("load-thousand", &[]);
    let gate = w.work.join("gate");
    let made = Command::new("mkfifo").arg(&gate).status().expect("mkfifo");
    assert!(made.success());
    // The test holds the FIFO open for reading and writing, so that each
    // process's `read x < gate` opens it at once and then blocks in the
    // shell's `read` (no exec, no decision) until its line arrives; then it
    // makes one decision: the first ASKS touch an ask-marker (held for
    // approval), the rest an ok-marker.
    let mut holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&gate)
        .expect("open gate");
    let started = Instant::now();
    let mut children = Vec::with_capacity(ALL);
    for i in 0..ALL {
        let target = if i < ASKS {
            format!("ask-marker-{i}")
        } else {
            format!("ok-marker-{i}")
        };
        let mut c = w.cmd("sh");
        // An absolute path: for a bare name dash tries every PATH entry
        // that has one (/usr/bin/touch, then /bin/touch), and a refused
        // approval would be asked again for the next.
        c.args([
            "-c",
            &format!("read x < gate; exec /usr/bin/touch {target}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        children.push(c.spawn().expect("spawn"));
    }
    let spawned = started.elapsed();
    eprintln!("load: spawned {ALL} in {spawned:?}");
    // All alive at once, each with the gate open.
    let at_gate = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|rd| {
            rd.filter_map(Result::ok)
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == gate))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    for c in children.iter_mut() {
        while !at_gate(c.id()) {
            assert!(c.try_wait().unwrap().is_none(), "a process exited early");
            assert!(
                Instant::now() < deadline,
                "not every process reached the gate"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let rss_before = rss_kib(d.pid);
    // Open the gate: one line for each.
    let opened = Instant::now();
    holder
        .write_all(&b"go\n".repeat(ALL))
        .expect("open the gate");
    let pending = d.wait_pending(ASKS, 120);
    assert_eq!(pending.len(), ASKS, "{pending:?}");
    for a in &pending {
        let cmd = a["command"].as_str().unwrap();
        let i: usize = cmd.rsplit('-').next().unwrap().parse().unwrap();
        let body = format!(
            r#"{{"approved": {}, "resolved_by": "load"}}"#,
            i.is_multiple_of(2)
        );
        let id = a["id"].as_str().unwrap();
        let r = d.api("POST", &format!("/v1/approvals/{id}/resolve"), &body);
        assert_eq!(r.status, 200, "{r:?}");
    }
    let statuses = wait_all(children, 180);
    drop(holder);
    let all_done = opened.elapsed();
    for (i, s) in statuses.iter().enumerate() {
        let approved = i >= ASKS || i.is_multiple_of(2);
        let marker = if i < ASKS {
            format!("ask-marker-{i}")
        } else {
            format!("ok-marker-{i}")
        };
        assert_eq!(s.success(), approved, "process {i}: {s:?}");
        assert_eq!(exists(&w.marker(&marker)), approved, "process {i}");
    }
    assert!(d.pending().is_empty());
    // Every decision reaches the audit log, once.
    let audit = w.rampart_home.join("audit");
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = || {
        read::logged(&audit)
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                r.command
                    .as_deref()
                    .is_some_and(|c| c.contains("ok-marker-") || c.contains("ask-marker-"))
            })
            .count()
    };
    while count() < ALL {
        assert!(
            Instant::now() < deadline,
            "{} of {ALL} decisions ingested",
            count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let recs = read::logged(&audit).unwrap();
    let mut seen = std::collections::BTreeMap::<String, Vec<String>>::new();
    for r in &recs {
        if let Some(c) = r.command.as_deref().filter(|c| c.contains("-marker-")) {
            seen.entry(c.to_string()).or_default().push(format!(
                "{}/{}/{:?}/{}",
                r.decision, r.source, r.approval, r.seq
            ));
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(twice.is_empty(), "recorded more than once: {twice:?}");
    assert_eq!(seen.len(), ALL);
    eprintln!(
        "load: {ALL} processes spawned in {spawned:?}, all decided and exited {all_done:?} after the gate opened; daemon RSS {rss_before} → {} KiB",
        rss_kib(d.pid)
    );
}

fn spool_line(i: u64) -> String {
    format!(
        r#"{{"v":1,"ts":"2026-11-22T01:00:00.000000Z","pid":{i},"ppid":1,"uid":0,"cwd":"/w","agent":"load","session":"","entry":"execve","tool":"exec","command":"/usr/bin/echo load {i}","command_len":20,"decision":"allow","outcome":"allowed","policies":[],"message":"","generation":1,"policy_source":"snapshot","mode":"enforce","eval_ns":1}}"#
    ) + "\n"
}

#[test]
fn ten_thousand_decisions_a_second_into_the_spool_are_all_ingested_with_flat_memory() {
    let secs: u64 = std::env::var("RAMPART_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    const RATE: u64 = 10_000;
    let w = World::new("load-spool");
    w.save_policy("test.yaml", POLICY);
    let d = Daemon::start(&w, &[]);
    let spool = w.rampart_home.join("spool").join("current.jsonl");
    let total = secs * RATE;
    // The writer: 100 records every 10 ms, each its own O_APPEND write
    // (the library's way), reopening per batch as writers do after the
    // daemon renames the file away.
    let writer = std::thread::spawn(move || {
        let start = Instant::now();
        let mut i = 0u64;
        let mut tick = 0u64;
        while i < total {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&spool)
                .expect("spool");
            for _ in 0..RATE / 100 {
                i += 1;
                f.write_all(spool_line(i).as_bytes()).expect("write");
            }
            drop(f);
            tick += 1;
            let due = start + Duration::from_millis(10 * tick);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        start.elapsed()
    });
    // RSS samples every 250 ms while the load runs.
    let mut samples = Vec::new();
    while !writer.is_finished() {
        samples.push(rss_kib(d.pid));
        std::thread::sleep(Duration::from_millis(250));
    }
    let wrote_in = writer.join().expect("writer");
    let audit = w.rampart_home.join("audit");
    let ingested = || {
        read::logged(&audit)
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                r.command
                    .as_deref()
                    .is_some_and(|c| c.starts_with("/usr/bin/echo load "))
            })
            .count() as u64
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let drained = Instant::now();
    let mut lag = None;
    loop {
        samples.push(rss_kib(d.pid));
        let n = w
            .rampart_home
            .join("spool")
            .read_dir()
            .map_or(0, |rd| rd.count());
        if n == 0 {
            // The spool drained (the count below reads the whole log).
            lag.get_or_insert(drained.elapsed());
            if ingested() == total {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} ingested: {}",
            ingested(),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let lag = lag.unwrap_or_default();
    let recs = read::logged(&audit).unwrap();
    let cmds: Vec<&str> = recs.iter().filter_map(|r| r.command.as_deref()).collect();
    assert_eq!(cmds.len() as u64, total, "every record exactly once");
    for (i, c) in cmds.iter().enumerate() {
        assert_eq!(*c, format!("/usr/bin/echo load {}", i + 1), "in order");
    }
    let mut c = Command::new(crate::daemon::rampart_bin());
    c.args(["audit", "verify"])
        .env("RAMPART_HOME", &w.rampart_home);
    let o = run(c, 300);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // Flat memory: after the first second's warm-up, the last third of the
    // run peaks no more than 24 MiB above the first third. A daemon that
    // kept each record (≈500 bytes × 10 000/s) would grow by tens of MiB.
    let n = samples.len();
    assert!(n >= 6, "{samples:?}");
    let warm = (4).min(n / 3);
    let third = (n - warm) / 3;
    let early = samples[warm..warm + third]
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    let late = samples[n - third..].iter().max().copied().unwrap_or(0);
    let peak = samples.iter().max().copied().unwrap_or(0);
    eprintln!(
        "load: {total} records in {wrote_in:?} ({:.0}/s); spool drained {lag:?} after the last write; daemon RSS early max {early} KiB, late max {late} KiB, peak {peak} KiB",
        total as f64 / wrote_in.as_secs_f64()
    );
    assert!(
        late <= early + 24 * 1024,
        "daemon memory grew: early {early} KiB, late {late} KiB ({samples:?})"
    );
}
