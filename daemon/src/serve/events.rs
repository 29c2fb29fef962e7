//! The event stream: decisions, approvals and reloads, as they happen, for
//! `GET /v1/events/stream` (server-sent events) and whoever watches.
//!
//! A broadcast channel: a slow subscriber misses events (and is told how
//! many), it never slows the daemon down.

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Events kept for a subscriber that has not read them yet.
const BACKLOG: usize = 1024;

/// One event: a kind (`decision`, `approval.created`, `approval.resolved`,
/// `reload`) and its JSON payload.
#[derive(Debug, Clone)]
pub struct Event {
    /// The SSE `event:` name.
    pub kind: &'static str,
    /// The SSE `data:` (JSON).
    pub data: serde_json::Value,
}

/// The publisher side.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Events {
    /// Publish (a no-op with no subscribers).
    pub fn emit(&self, kind: &'static str, data: serde_json::Value) {
        let _ = self.tx.send(Event { kind, data });
    }

    /// A server-sent event response following the stream from now on.
    pub fn sse(
        &self,
    ) -> Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>> + use<>> {
        let hello = tokio_stream::once(Ok(SseEvent::default()
            .event("hello")
            .data(r#"{"stream":"rampart"}"#)));
        let stream = BroadcastStream::new(self.tx.subscribe()).map(|item| {
            Ok(match item {
                Ok(e) => SseEvent::default().event(e.kind).data(e.data.to_string()),
                Err(BroadcastStreamRecvError::Lagged(n)) => SseEvent::default()
                    .event("lagged")
                    .data(format!("{{\"missed\":{n}}}")),
            })
        });
        Sse::new(hello.chain(stream)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}
