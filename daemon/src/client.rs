//! A blocking HTTP/1.1 client over the daemon's Unix socket, for the CLI
//! (`rampart status`, `pending`, `approve`, `deny`, `serve --reload`).
//!
//! One request per connection (`Connection: close`), a deadline on every
//! read and write, `Content-Length` or chunked bodies. A hundred lines here
//! instead of an HTTP client dependency: the socket needs no TLS, no
//! redirects and no pooling, and no token (the daemon checks the peer uid).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a CLI request may take before it gives up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response accepted.
const MAX_RESPONSE: usize = 16 << 20;

/// A response: status code and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The (de-chunked) body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The `error` of a JSON error body, else the body as text.
    pub fn error_message(&self) -> String {
        match self.json().get("error") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::from_utf8_lossy(&self.body).into_owned(),
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens on the socket (no file, or connection refused).
    NoDaemon(PathBuf),
    /// The connection failed or timed out midway.
    Io(std::io::Error),
    /// The answer was not HTTP.
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NoDaemon(p) => write!(
                f,
                "no daemon is running (nothing answers on {}); start one with `rampart serve`",
                p.display()
            ),
            ClientError::Io(e) => write!(f, "talking to the daemon: {e}"),
            ClientError::Protocol(m) => write!(f, "the daemon's answer is not HTTP: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// `GET path`.
pub fn get(socket: &Path, path: &str) -> Result<Response, ClientError> {
    request(socket, "GET", path, None, DEFAULT_TIMEOUT)
}

/// `POST path` with a JSON body (`None`: no body).
pub fn post(
    socket: &Path,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<Response, ClientError> {
    let body = body.map(|b| b.to_string());
    request(
        socket,
        "POST",
        path,
        body.as_ref().map(|b| b.as_bytes()),
        DEFAULT_TIMEOUT,
    )
}

/// One request, bounded by `timeout` per read or write.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let mut s = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            ClientError::NoDaemon(socket.to_path_buf())
        }
        _ => ClientError::Io(e),
    })?;
    s.set_read_timeout(Some(timeout)).map_err(ClientError::Io)?;
    s.set_write_timeout(Some(timeout))
        .map_err(ClientError::Io)?;
    let body = body.unwrap_or_default();
    let kind = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: rampart\r\nConnection: close\r\n{kind}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(ClientError::Io)?;
    s.write_all(body).map_err(ClientError::Io)?;
    let mut raw = Vec::new();
    s.take(MAX_RESPONSE as u64)
        .read_to_end(&mut raw)
        .map_err(ClientError::Io)?;
    parse(&raw)
}

/// Split a complete response (the connection was closed after it).
fn parse(raw: &[u8]) -> Result<Response, ClientError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ClientError::Protocol("no end of headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| ClientError::Protocol("no status line".into()))?;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else {
        let n = length.unwrap_or(rest.len()).min(rest.len());
        rest[..n].to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, ClientError> {
    let bad = || ClientError::Protocol("bad chunked body".into());
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(rest.get(..size).ok_or_else(bad)?);
        rest = rest.get(size + 2..).ok_or_else(bad)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_length_response_is_split_into_status_and_body() {
        let r = parse(b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"{}");
    }

    #[test]
    fn a_chunked_response_is_reassembled() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.json()["a"], 1);
    }

    #[test]
    fn a_missing_socket_means_no_daemon() {
        let e = get(Path::new("/nonexistent/rampart.sock"), "/healthz").unwrap_err();
        assert!(matches!(e, ClientError::NoDaemon(_)), "{e:?}");
        assert!(e.to_string().contains("rampart serve"));
    }
}
