//! Process-start overhead of the library, measured (not timed in a test):
//!
//! 1. `spawn`: this program starts `/bin/true` N times (posix_spawn via
//!    std) with and without `LD_PRELOAD` in the child's environment → µs
//!    the library adds to every process it loads into (constructor only:
//!    `/bin/true` execs nothing).
//! 2. `bash-loop`: `bash -c 'for …; do /bin/true; done'` with and without
//!    the library in bash → µs added per decided exec, audit record
//!    included (each fork of bash decides, records, then execs).
//!
//! Rounds alternate with/without so both see the same machine noise; the
//! report gives medians of per-round means and their ratio.
//!
//! Usage: `rampart-spawnbench LIB [N] [ROUNDS]`

use std::process::{Command, Stdio};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lib = args
        .first()
        .expect("usage: rampart-spawnbench LIB [N] [ROUNDS]")
        .clone();
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(5);
    // RAMPART_BENCH_HOME: a prepared RAMPART_HOME (with a published
    // snapshot); otherwise a fresh one (the built-in policy is used).
    let prepared = std::env::var_os("RAMPART_BENCH_HOME");
    let home = prepared.clone().map_or_else(
        || std::env::temp_dir().join(format!("rampart-bench-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&home).expect("bench home");
    let with_env = |c: &mut Command, on: bool| {
        c.env_remove("LD_PRELOAD")
            .env("RAMPART_HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if on {
            c.env("LD_PRELOAD", &lib);
        }
    };
    // 1. spawn /bin/true
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for r in 0..rounds * 2 {
        let preload = r % 2 == 1;
        let start = Instant::now();
        for _ in 0..n {
            let mut c = Command::new("/bin/true");
            with_env(&mut c, preload);
            assert!(c.status().expect("spawn").success());
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        if preload { on.push(us) } else { off.push(us) }
    }
    let (a, b) = (median(off), median(on));
    println!(
        "spawn /bin/true x{n}: without {a:.1} µs/process, with {b:.1} µs/process, added {:.1} µs ({:.2}x)",
        b - a,
        b / a
    );
    // 2. bash loop of execs
    let script = format!("i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done");
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for r in 0..rounds * 2 {
        let preload = r % 2 == 1;
        let _ = std::fs::remove_file(home.join("spool/current.jsonl"));
        let mut c = Command::new("bash");
        c.arg("-c").arg(&script);
        with_env(&mut c, preload);
        let start = Instant::now();
        assert!(c.status().expect("bash").success());
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        if preload { on.push(us) } else { off.push(us) }
    }
    let records = std::fs::read_to_string(home.join("spool/current.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let (a, b) = (median(off), median(on));
    println!(
        "bash loop of {n} /bin/true execs: without {a:.1} µs/exec, with {b:.1} µs/exec, added {:.1} µs per decided exec ({:.2}x); {records} audit records in the last run",
        b - a,
        b / a
    );
    if prepared.is_none() {
        let _ = std::fs::remove_dir_all(&home);
    }
}
