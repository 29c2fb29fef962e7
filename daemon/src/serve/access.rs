//! Who may talk to the daemon, and that only one daemon runs per home.
//!
//! - [`HomeLock`]: `serve.lock`, held with an OS file lock for the daemon's
//!   life (released by the kernel even on SIGKILL), holding the pid for the
//!   message a second daemon prints.
//! - [`Token`]: the bearer token of the TCP API, `rampart_` + 32 random
//!   bytes in hex, in `token` (0600), created on first start.
//! - [`require_token`]: the TCP router's gate. The Unix socket has none: the
//!   listener admits only the daemon's own uid (see `listen`).

use super::api::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The one-daemon-per-home lock (released when dropped or when the process
/// dies).
#[derive(Debug)]
pub struct HomeLock {
    _file: File,
}

/// Another daemon holds the lock.
#[derive(Debug)]
pub struct Held {
    /// Its pid, when the lock file says.
    pub pid: Option<u32>,
    /// The lock file.
    pub path: PathBuf,
}

impl HomeLock {
    /// Take the lock at `path` and write our pid into it.
    pub fn acquire(path: &Path) -> Result<Result<HomeLock, Held>, std::io::Error> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Err(Held {
                    pid: text.trim().parse().ok(),
                    path: path.to_path_buf(),
                }));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(Ok(HomeLock { _file: file }))
    }
}

/// The TCP API's bearer token.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)") // never printed, not even in debug output
    }
}

impl Token {
    /// The token in `path`, created (0600) when missing or malformed.
    pub fn load_or_create(path: &Path) -> std::io::Result<Token> {
        if let Ok(text) = std::fs::read_to_string(path) {
            let t = text.trim();
            if is_well_formed(t) {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                return Ok(Token(t.into()));
            }
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        let token: String = std::iter::once("rampart_".to_string())
            .chain(bytes.iter().map(|b| format!("{b:02x}")))
            .collect();
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".token.{}.tmp", std::process::id()));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        writeln!(f, "{token}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(Token(token.into()))
    }

    /// Does `candidate` equal the token? Constant time in the contents
    /// (the length is not secret: it is fixed by the format).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate)
    }

    /// Does `text` contain the token (e.g. a query string)?
    fn appears_in(&self, text: &str) -> bool {
        text.contains(&*self.0)
    }
}

fn is_well_formed(t: &str) -> bool {
    t.strip_prefix("rampart_")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `a == b` without an early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Query parameters that look like a credential.
const QUERY_CREDENTIALS: &[&str] = &["token", "access_token", "auth", "bearer", "api_key"];

/// The TCP router's gate: `Authorization: Bearer <token>` on every route
/// but `/healthz` and the dashboard's static files (they hold no data); a
/// credential in the query string is refused even with a good header, and
/// even on the dashboard's files (URLs end up in logs and shell history).
pub async fn require_token(State(token): State<Token>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    if let Some(q) = req.uri().query() {
        let named = q.split('&').any(|kv| {
            let k = kv.split('=').next().unwrap_or("");
            QUERY_CREDENTIALS.iter().any(|c| c.eq_ignore_ascii_case(k))
        });
        if named || token.appears_in(q) {
            tracing::warn!(
                path = req.uri().path(),
                "refused a credential in a query string"
            );
            return unauthorized(
                "credentials in the query string are refused; send Authorization: Bearer <token>",
            );
        }
    }
    if super::dashboard::is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .and_then(|v| {
            v.strip_prefix(b"Bearer ")
                .or_else(|| v.strip_prefix(b"bearer "))
        });
    match given {
        Some(t) if token.matches(t) => next.run(req).await,
        Some(_) => unauthorized("wrong token"),
        None => {
            unauthorized("missing Authorization: Bearer <token> (the token is in ~/.rampart/token)")
        }
    }
}

fn unauthorized(msg: &str) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, msg).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"rampart_ab", b"rampart_ab"));
        assert!(!constant_time_eq(b"rampart_ab", b"rampart_ac"));
        assert!(!constant_time_eq(b"rampart_ab", b"rampart_a"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn a_token_is_created_once_with_mode_0600_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("rampart-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let _ = std::fs::remove_file(&path);
        let a = Token::load_or_create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(is_well_formed(text.trim()), "{text}");
        assert_eq!(text.trim().len(), "rampart_".len() + 64);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = Token::load_or_create(&path).unwrap();
        assert!(b.matches(a.0.as_bytes()));
        assert_eq!(format!("{a:?}"), "Token(…)");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_lock_holder_is_told_the_first_ones_pid() {
        let dir = std::env::temp_dir().join(format!("rampart-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("serve.lock");
        let first = HomeLock::acquire(&path).unwrap().expect("first holds it");
        let held = HomeLock::acquire(&path)
            .unwrap()
            .expect_err("second is refused");
        assert_eq!(held.pid, Some(std::process::id()));
        drop(first);
        assert!(HomeLock::acquire(&path).unwrap().is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
