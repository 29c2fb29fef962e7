//! Accept loops: one router served over TCP and over the Unix socket, with
//! hyper's HTTP/1.1 connection driver configured for a hostile client
//! (header read timeout, bounded header buffer).
//!
//! The socket admits only connections whose peer uid is the daemon's own
//! (`SO_PEERCRED`); the daemon's uid is read from the owner of the socket
//! file it just created, which keeps this crate free of `unsafe`.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line and headers beyond this are refused (431).
const MAX_HEADER_BUF: usize = 64 * 1024;

/// Bind the Unix socket (replacing a stale one: the home lock is held, so
/// no live daemon owns it) and make it 0600.
pub fn bind_socket(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// The uid that owns `path` (for a file this process just created: ours).
pub fn owner_uid(path: &Path) -> std::io::Result<u32> {
    std::fs::symlink_metadata(path).map(|m| m.uid())
}

fn serve_connection<I>(io: I, router: &Router, graceful: &GracefulShutdown)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BUF)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(router.clone()));
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection ended: {e}");
        }
    });
}

/// A failed `accept` (out of descriptors…): wait a little, keep serving.
async fn backoff(e: std::io::Error) {
    tracing::warn!("accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Serve `router` on TCP until `stop` turns true.
pub async fn tcp_loop(
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
    graceful: &GracefulShutdown,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    serve_connection(stream, &router, graceful);
                }
                Err(e) => backoff(e).await,
            },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Serve `router` on the Unix socket, to `uid` only, until `stop`.
pub async fn uds_loop(
    listener: UnixListener,
    router: Router,
    uid: u32,
    mut stop: watch::Receiver<bool>,
    graceful: &GracefulShutdown,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => match stream.peer_cred() {
                    Ok(c) if c.uid() == uid => serve_connection(stream, &router, graceful),
                    Ok(c) => tracing::warn!(peer_uid = c.uid(), "refused a socket connection from another user"),
                    Err(e) => tracing::warn!("refused a socket connection without credentials: {e}"),
                },
                Err(e) => backoff(e).await,
            },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
