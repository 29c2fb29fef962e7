//! `rampart serve`: the daemon.
//!
//! - Publishes the snapshot the library maps (`policy`), and reloads it
//!   when a file in the policies directory changes (`watch`), on SIGHUP,
//!   and on `POST /v1/policy/reload`. A policy that fails to compile never
//!   replaces the last good snapshot.
//! - Holds `ask` approvals (`approvals`) until a human resolves them or
//!   the approval timeout denies them.
//! - Serves one API on two listeners (`listen`): TCP on `127.0.0.1`
//!   behind a bearer token (`access`), and `~/.rampart/rampart.sock`
//!   (0600, peer uid checked, no token).
//!
//! One daemon per `RAMPART_HOME` (`serve.lock`). SIGTERM and SIGINT stop
//! it gracefully: new connections are refused, waiting approvals are
//! answered with deny, in-flight requests finish, the socket is removed.

mod access;
mod api;
mod approvals;
mod audit_writer;
mod dashboard;
mod events;
mod history;
mod in_memory;
mod listen;
mod metrics;
mod policy;
mod watch;

pub use in_memory::{InMemoryApi, InMemoryReply};
pub use policy::{ReloadReport, Trigger, error_json};

use crate::RampartHome;
use approvals::{Approvals, Resolution, Resolve};
use events::Events;
use metrics::Metrics;
use policy::PolicyStore;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the API enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deny blocks, ask waits for a human.
    Enforce,
    /// Decisions are reported and recorded, never enforced: preflight says
    /// allowed, approval requests are approved at once.
    Monitor,
    /// Nothing is checked.
    Disabled,
}

impl Mode {
    /// The spelling on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
            Mode::Disabled => "disabled",
        }
    }
}

/// How the daemon is run (`rampart serve` flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// `~/.rampart`.
    pub home: RampartHome,
    /// TCP address (default 127.0.0.1).
    pub addr: IpAddr,
    /// TCP port (default 9090; 0 picks a free one).
    pub port: u16,
    /// What the API enforces.
    pub mode: Mode,
    /// `--policies`: a file or directory instead of `~/.rampart/policies`.
    pub policies: Option<PathBuf>,
    /// How long an `ask` waits for a human before it is denied.
    pub approval_timeout: Duration,
}

impl Config {
    /// The defaults for `home`.
    pub fn new(home: RampartHome) -> Config {
        Config {
            home,
            addr: IpAddr::from([127, 0, 0, 1]),
            port: 9090,
            mode: Mode::Enforce,
            policies: None,
            approval_timeout: Duration::from_secs(120),
        }
    }
}

/// Why the daemon could not start (or stopped).
#[derive(Debug)]
pub enum ServeError {
    /// Another daemon serves this home.
    AlreadyRunning {
        /// Its pid, when known.
        pid: Option<u32>,
        /// The lock file.
        lock: PathBuf,
    },
    /// A file, socket or runtime operation failed.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::AlreadyRunning { pid, lock } => {
                let who = pid.map_or_else(
                    || "another rampart serve".into(),
                    |p| format!("another rampart serve (pid {p})"),
                );
                write!(
                    f,
                    "{who} holds {}; one daemon per RAMPART_HOME (stop it, or use `rampart serve --reload` to reload its policies)",
                    lock.display()
                )
            }
            ServeError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for ServeError {}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// Parse `120s`, `2m`, `500ms`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 120s, 2m, 500ms)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("unknown unit {u:?} in {s:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// Log to stderr; `RAMPART_LOG` filters (default `info`).
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Daemon {
    home: RampartHome,
    mode: Mode,
    approval_timeout: Duration,
    policy: PolicyStore,
    approvals: Approvals,
    events: Events,
    metrics: Metrics,
    started: Instant,
    tcp_addr: SocketAddr,
    /// The user's home for `~` in calls.
    user_home: String,
    /// The audit log writer for API decisions (None: audit unavailable).
    audit: Option<audit_writer::AuditWriter>,
}

impl Daemon {
    /// Reload on a blocking thread, count it, announce it.
    async fn reload(self: &Arc<Self>, trigger: Trigger) -> ReloadReport {
        let d = self.clone();
        let report = tokio::task::spawn_blocking(move || d.policy.reload(trigger))
            .await
            .unwrap_or_else(|e| ReloadReport {
                at: std::time::SystemTime::now(),
                trigger,
                duration: Duration::ZERO,
                generation: self.policy.current().generation,
                policies: 0,
                rules: 0,
                changed: false,
                error: Some(policy_cache::compile::LoadError {
                    file: PathBuf::new(),
                    line: 0,
                    column: 0,
                    message: format!("reload failed: {e}"),
                    suggestion: None,
                }),
            });
        self.metrics.reload(report.error.is_some());
        self.events.emit("reload", report.to_json());
        report
    }

    /// Resolve an approval, count it, announce it.
    fn resolve(&self, id: &str, r: Resolution, outcome: &'static str) -> Resolve {
        let res = self.approvals.resolve(id, r);
        if let Resolve::Done(a) = &res {
            self.metrics.approval(outcome);
            tracing::info!(
                id,
                approved = a.resolution.as_ref().is_some_and(|r| r.approved),
                by = a.resolution.as_ref().map_or("", |r| r.resolved_by.as_str()),
                "approval resolved"
            );
            self.events.emit("approval.resolved", a.to_json());
        }
        res
    }
}

/// Run the daemon until SIGTERM or SIGINT. Blocks.
pub fn run(config: Config) -> Result<(), ServeError> {
    let home = config.home.clone();
    home.ensure_dirs()
        .map_err(io(format!("cannot create {}", home.root().display())))?;
    let _lock = match access::HomeLock::acquire(&home.lock_path())
        .map_err(io(format!("cannot open {}", home.lock_path().display())))?
    {
        Ok(l) => l,
        Err(held) => {
            return Err(ServeError::AlreadyRunning {
                pid: held.pid,
                lock: held.path,
            });
        }
    };
    let token = access::Token::load_or_create(&home.token_path())
        .map_err(io(format!("cannot write {}", home.token_path().display())))?;
    if config.policies.is_none() {
        let dir = home.policies_dir();
        std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rampart-serve")
        .build()
        .map_err(io("cannot start the runtime"))?;
    let result = runtime.block_on(serve(config, token));
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(config: Config, token: access::Token) -> Result<(), ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let home = config.home.clone();
    let tcp = tokio::net::TcpListener::bind((config.addr, config.port))
        .await
        .map_err(io(format!(
            "cannot listen on {}:{}",
            config.addr, config.port
        )))?;
    let tcp_addr = tcp.local_addr().map_err(io("tcp address"))?;
    let sock_path = home.socket_path();
    let uds = listen::bind_socket(&sock_path)
        .map_err(io(format!("cannot listen on {}", sock_path.display())))?;
    let my_uid = listen::owner_uid(&sock_path).map_err(io("socket owner"))?;

    // Compiling is blocking work; the runtime is not serving anything yet.
    let explicit = config.policies.clone();
    let policy_home = home.clone();
    let store = tokio::task::spawn_blocking(move || PolicyStore::start(policy_home, explicit))
        .await
        .map_err(|e| ServeError::Io {
            what: "compiling the policies".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    // The audit trail: one ingester (spool → hash-chained log), shared by
    // the periodic/notified ingest task and the API decisions' writer.
    let ingest_home = home.clone();
    let ingestor = tokio::task::spawn_blocking(move || crate::audit::Ingestor::new(&ingest_home))
        .await
        .map_err(|e| ServeError::Io {
            what: "opening the audit log".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let events = Events::default();
    let ingestor = match ingestor {
        Ok(mut i) => {
            // Library decisions reach the event stream once durable.
            let stream = events.clone();
            i.on_ingest(Box::new(move |records| {
                for r in records {
                    if let Some(e) = events::library_decision(r) {
                        stream.emit("decision", e);
                    }
                }
            }));
            Some(Arc::new(std::sync::Mutex::new(i)))
        }
        Err(e) => {
            tracing::warn!("audit ingest unavailable: {e}");
            None
        }
    };
    let d = Arc::new(Daemon {
        audit: ingestor.clone().map(audit_writer::AuditWriter::start),
        home: home.clone(),
        mode: config.mode,
        approval_timeout: config.approval_timeout,
        approvals: Approvals::default(),
        events,
        metrics: Metrics::default(),
        started: Instant::now(),
        tcp_addr,
        user_home: crate::user_home().to_string_lossy().into_owned(),
        policy: store,
    });
    if let Some(r) = d.policy.last() {
        d.metrics.reload(r.error.is_some());
    }

    let (changes_tx, mut changes) = tokio::sync::mpsc::channel::<()>(1);
    let watch_dir = d.policy.watch_dir();
    let _watcher = match watch::start(&watch_dir, changes_tx) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "not watching {}: {e}; reload with SIGHUP or `rampart serve --reload`",
                watch_dir.display()
            );
            None
        }
    };

    let (spool_tx, mut spool_changes) = tokio::sync::mpsc::channel::<()>(1);
    let _spool_watcher = match watch::start_spool(&home.spool_dir(), spool_tx) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "not watching {}: {e}; the spool is scanned every 200 ms",
                home.spool_dir().display()
            );
            None
        }
    };
    let (ingest_stop_tx, mut ingest_stop) = tokio::sync::watch::channel(false);
    let ingest_task = ingestor.clone().map(|ing| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing: Option<String> = None;
            loop {
                let last = tokio::select! {
                    _ = tick.tick() => false,
                    Some(()) = spool_changes.recv() => false,
                    _ = ingest_stop.changed() => true,
                };
                let ing = ing.clone();
                let r = tokio::task::spawn_blocking(move || match ing.lock() {
                    Ok(mut i) => i.ingest_once().map(|_| ()),
                    Err(_) => Ok(()),
                })
                .await;
                // A full disk fails every 200 ms: said once (again when
                // the error changes), and once more when ingest recovers.
                match r {
                    Ok(Err(e)) => {
                        let e = e.to_string();
                        if failing.as_deref() != Some(e.as_str()) {
                            tracing::warn!("audit ingest: {e}; retrying");
                        }
                        failing = Some(e);
                    }
                    Ok(Ok(())) if failing.take().is_some() => {
                        tracing::info!("audit ingest resumed");
                    }
                    _ => {}
                }
                if last {
                    break;
                }
            }
        })
    });

    let mut term = signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(io("SIGHUP handler"))?;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tcp_router = api::router(d.clone())
        .layer(axum::middleware::from_fn_with_state(
            token,
            access::require_token,
        ))
        // Outermost, so that the token gate's refusals carry them too.
        .layer(axum::middleware::from_fn(dashboard::security_headers));
    let uds_router = api::router(d.clone());
    tracing::info!(
        tcp = %tcp_addr,
        socket = %sock_path.display(),
        mode = config.mode.as_str(),
        watching = %watch_dir.display(),
        pid = std::process::id(),
        "rampart serve is listening"
    );

    let serving = async {
        tokio::join!(
            listen::tcp_loop(tcp, tcp_router, stop_rx.clone(), &graceful),
            listen::uds_loop(uds, uds_router, my_uid, stop_rx.clone(), &graceful),
        )
    };
    let control = async {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
                _ = hup.recv() => { d.reload(Trigger::Signal).await; }
                Some(()) = changes.recv() => { d.reload(Trigger::Watch).await; }
            }
        }
        let denied = Resolution {
            approved: false,
            resolved_by: "shutdown".into(),
        };
        for a in d.approvals.pending() {
            d.resolve(&a.id, denied.clone(), "shutdown");
        }
        // After the denials' events, so that watchers see them.
        d.events.close_streams();
        let _ = stop_tx.send(true);
    };
    tokio::join!(serving, control);
    // In-flight requests (the denied approvals among them) finish; an
    // event stream would never end by itself, hence the bound.
    if tokio::time::timeout(Duration::from_secs(3), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("closing connections still open after 3 s");
    }
    // A last ingest, so that nothing spooled before the stop waits for the
    // next start.
    let _ = ingest_stop_tx.send(true);
    if let Some(t) = ingest_task {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = std::fs::remove_file(&sock_path);
    tracing::info!("rampart serve stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_with_their_units() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn a_second_daemon_names_the_first_ones_pid() {
        let e = ServeError::AlreadyRunning {
            pid: Some(42),
            lock: PathBuf::from("/h/serve.lock"),
        };
        assert!(
            e.to_string()
                .starts_with("another rampart serve (pid 42) holds /h/serve.lock")
        );
    }
}
