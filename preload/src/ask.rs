//! Asking the daemon for an approval: HTTP/1.1 over the Unix socket,
//! `POST /v1/ask` with the pending record as the body, then wait (bounded)
//! for `{"approved": true|false, …}`. About a hundred lines instead of an
//! HTTP client: the library allocates nothing and links nothing but libc.

use crate::out::Out;
use crate::settings::Settings;
use crate::sys::{self, Fd};

/// How an approval request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A human approved.
    Approved,
    /// A human refused, or the daemon's timeout refused.
    Denied,
    /// No daemon (no socket, refused, or it went away while waiting).
    Unreachable,
    /// Our own wait ran out.
    Timeout,
}

/// Connect to the daemon's socket.
fn connect(path: &[u8]) -> Option<Fd> {
    // SAFETY: plain socket creation.
    let fd =
        unsafe { crate::sys::os::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    let fd = Fd(fd);
    // macOS has no MSG_NOSIGNAL: the socket itself never raises SIGPIPE.
    #[cfg(target_os = "macos")]
    {
        let one: libc::c_int = 1;
        // SAFETY: a valid option value of the size given.
        unsafe {
            libc::setsockopt(
                fd.0,
                libc::SOL_SOCKET,
                libc::SO_NOSIGPIPE,
                (&raw const one).cast(),
                core::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    // SAFETY: zeroed sockaddr_un is valid; we fill family and path.
    let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= addr.sun_path.len() {
        return None;
    }
    for (d, s) in addr.sun_path.iter_mut().zip(path) {
        *d = *s as libc::c_char;
    }
    let len = core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_un of `len` bytes.
    let r = unsafe { crate::sys::os::connect(fd.0, (&raw const addr).cast(), len) };
    (r == 0).then_some(fd)
}

/// Is `"approved"` followed by `true` in `body`?
pub fn approved(body: &[u8]) -> Option<bool> {
    let key = b"\"approved\"";
    let at = body.windows(key.len()).position(|w| w == key)?;
    let rest = body.get(at + key.len()..)?;
    let rest = rest.get(
        rest.iter()
            .position(|&c| !matches!(c, b' ' | b'\t' | b':'))?..,
    )?;
    if rest.starts_with(b"true") {
        Some(true)
    } else if rest.starts_with(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Parse `HTTP/1.x NNN` → NNN.
pub fn status(resp: &[u8]) -> Option<u16> {
    let rest = resp.strip_prefix(b"HTTP/1.")?.get(2..5)?;
    let mut v = 0u16;
    for &c in rest {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u16::from(c - b'0');
    }
    Some(v)
}

/// Send `body` (a JSON record) and wait for the answer. Out of line: its
/// buffers stay off the stack of decisions that ask nothing.
#[inline(never)]
pub fn ask(s: &Settings, body: &[u8]) -> Answer {
    let Some(fd) = connect(s.socket_path()) else {
        return Answer::Unreachable;
    };
    let mut head = [0u8; 256];
    let mut h = Out::new(&mut head);
    h.bytes(b"POST /v1/ask HTTP/1.1\r\nHost: rampart\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ");
    h.u64(body.len() as u64);
    h.bytes(b"\r\n\r\n");
    if !sys::send_all(fd.0, h.as_bytes()) || !sys::send_all(fd.0, body) {
        return Answer::Unreachable;
    }
    let deadline = sys::monotonic_ns().saturating_add(s.ask_timeout_ms.saturating_mul(1_000_000));
    let mut buf = [0u8; 4096];
    let mut len = 0usize;
    loop {
        let now = sys::monotonic_ns();
        if now >= deadline {
            return Answer::Timeout;
        }
        let wait_ms = ((deadline - now) / 1_000_000).clamp(1, i32::MAX as u64) as i32;
        let mut pfd = libc::pollfd {
            fd: fd.0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { crate::sys::os::poll(&mut pfd, 1, wait_ms) };
        if r < 0 {
            if sys::errno() == libc::EINTR {
                continue;
            }
            return Answer::Unreachable;
        }
        if r == 0 {
            continue; // re-check the deadline
        }
        let Some(rest) = buf.get_mut(len..) else {
            break;
        };
        if rest.is_empty() {
            break;
        }
        // SAFETY: rest is writable for rest.len() bytes.
        let n = unsafe { crate::sys::os::read(fd.0, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            if sys::errno() == libc::EINTR {
                continue;
            }
            break;
        }
        if n == 0 {
            break;
        }
        len += n as usize;
        // Done once the body holds the answer.
        let got = buf.get(..len).unwrap_or(&[]);
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && approved(got.get(p + 4..).unwrap_or(&[])).is_some()
        {
            break;
        }
    }
    let resp = buf.get(..len).unwrap_or(&[]);
    if resp.is_empty() {
        return Answer::Unreachable; // the daemon went away while we waited
    }
    let body = match resp.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => resp.get(p + 4..).unwrap_or(&[]),
        None => &[],
    };
    match (status(resp), approved(body)) {
        (Some(200), Some(true)) => Answer::Approved,
        (Some(_), _) => Answer::Denied,
        (None, _) => Answer::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_from_status_and_body() {
        assert_eq!(status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status(b"HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(status(b"garbage"), None);
        assert_eq!(approved(b"{\"id\":\"a\",\"approved\" : true}"), Some(true));
        assert_eq!(approved(b"{\"approved\":false}"), Some(false));
        assert_eq!(approved(b"{}"), None);
    }
}
