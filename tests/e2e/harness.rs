//! One world per test: a temp directory with a fake home, a RAMPART_HOME, a
//! compiled snapshot of a test policy, and commands set up to run under the
//! library.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The test policy: deny anything naming `blocked-marker`, ask for
/// `ask-marker`, and the default policy's home protection.
pub const POLICY: &str = r#"
version: "1"
default_action: allow
policies:
  - name: test-deny
    priority: 10
    rules:
      - action: deny
        when: { command_matches: ["touch *blocked-marker*", "* > *blocked-marker*", "rm -rf ~", "rm -rf ~/"] }
        message: "test policy says no"
  - name: test-ask
    priority: 20
    rules:
      - action: ask
        when: { command_matches: ["touch *ask-marker*"] }
        message: "needs a human"
"#;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The library under test.
pub fn library() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMPART_LIB") {
        return PathBuf::from(p);
    }
    let p = workspace().join("target/release/librampart.so");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --release -p rampart-preload` first",
        p.display()
    );
    p
}

/// The Rust program that spawns things every libc way.
pub fn spawner() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rampart-spawner"))
}

pub struct World {
    pub dir: PathBuf,
    pub home: PathBuf,
    pub rampart_home: PathBuf,
    pub work: PathBuf,
}

impl World {
    pub fn new(name: &str) -> World {
        Self::with_policy(name, POLICY)
    }

    pub fn with_policy(name: &str, policy: &str) -> World {
        let dir = std::env::temp_dir().join(format!("rampart-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = dir.join("home");
        let rampart_home = dir.join("rampart");
        let work = dir.join("work");
        for d in [&home, &rampart_home, &work] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(home.join("precious.txt"), "do not delete").expect("write");
        let w = World {
            dir,
            home,
            rampart_home,
            work,
        };
        w.publish(policy, 1);
        w
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.rampart_home.join("cache/policy.snap")
    }

    /// Compile `policy` and publish it atomically.
    pub fn publish(&self, policy: &str, generation: u64) {
        let home = self.home.to_string_lossy().into_owned();
        let set = policy_cache::compile::PolicySet::from_sources(
            vec![(PathBuf::from("test.yaml"), policy.into())],
            &home,
        )
        .expect("test policy loads");
        let bytes = policy_cache::compile::compile(&set, generation).expect("compiles");
        policy_cache::compile::publish(&bytes, &self.snapshot_path()).expect("publish");
    }

    /// `program` with the library preloaded and this world's settings.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.work)
            .env("LD_PRELOAD", library())
            .env("RAMPART_HOME", &self.rampart_home)
            .env("RAMPART_USER_HOME", &self.home)
            .env("HOME", &self.home)
            .env_remove("RAMPART_MODE")
            .env_remove("RAMPART_SNAPSHOT")
            .env_remove("RAMPART_DEBUG")
            .env_remove("RAMPART_FAIL_OPEN")
            .env_remove("RAMPART_AGENT")
            .stdin(Stdio::null());
        c
    }

    /// `bash -c script` under the library.
    pub fn bash(&self, script: &str) -> Command {
        let mut c = self.cmd("bash");
        c.arg("-c").arg(script);
        c
    }

    pub fn marker(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.work.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Decision records: those a running daemon already ingested into the
    /// audit log (oldest first), then those still in the spool.
    ///
    /// Records move one way — `spool/current.jsonl` → `spool/ingest-*` →
    /// `audit/*.jsonl` — so reading in the opposite order sees every record
    /// at least once even while the daemon ingests (a record may be seen
    /// twice; the tests that count records run without a daemon).
    pub fn records(&self) -> Vec<serde_json::Value> {
        let read = |f: &Path, out: &mut Vec<serde_json::Value>| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{} line is not JSON ({e}): {l}", f.display()));
                // Audit files open with a header naming the previous file.
                if v.get("decision").is_some() {
                    out.push(v);
                }
            }
        };
        let listed = |dir: &str, keep: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(self.rampart_home.join(dir))
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(keep))
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        let mut spool = Vec::new();
        read(&self.rampart_home.join("spool/current.jsonl"), &mut spool);
        let mut inflight = Vec::new();
        for f in listed("spool", &|n| n.starts_with("ingest-")) {
            read(&f, &mut inflight);
        }
        let mut out = Vec::new();
        for f in listed("audit", &|n| n.ends_with(".jsonl")) {
            read(&f, &mut out);
        }
        out.extend(inflight);
        out.extend(spool);
        out
    }

    /// Records whose command contains `needle`.
    pub fn records_for(&self, needle: &str) -> Vec<serde_json::Value> {
        self.records()
            .into_iter()
            .filter(|r| r["command"].as_str().is_some_and(|c| c.contains(needle)))
            .collect()
    }

    pub fn home_intact(&self) -> bool {
        std::fs::read_to_string(self.home.join("precious.txt")).is_ok_and(|t| t == "do not delete")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Run with a deadline; a hang is a test failure, not a stuck CI.
pub fn run(mut c: Command, secs: u64) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "timed out after {secs}s: {c:?}\nstdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
