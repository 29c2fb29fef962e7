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

/// The kind that ends every open stream (never sent to a client).
const CLOSE: &str = "close";

/// The `decision` event for a library decision ingested from the spool:
/// the fields of the API's own `decision` events (`source` is `library`),
/// plus the audit record's `time`, `seq`, `id`, `outcome`, `approval`,
/// `pid` and `cwd`. `None` for ingest notes, which are not decisions.
pub fn library_decision(r: &crate::audit::AuditRecord) -> Option<serde_json::Value> {
    if r.source != "library" || r.decision.is_empty() {
        return None;
    }
    let event = serde_json::json!({
        "source": "library", "tool": r.tool, "agent": r.agent, "session": r.session,
        "command": r.command, "path": r.path, "url": r.url,
        "decision": r.decision,
        "allowed": r.outcome.as_deref() != Some("blocked"),
        "policy": r.policies.first().cloned().unwrap_or_default(),
        "matched_policies": r.policies, "message": r.message,
        "generation": r.generation,
    });
    Some(with_record_fields(event, r, true))
}

/// Add to `event` the audit record's fields every decision event carries:
/// `time`, `outcome`, `approval`, `pid`, `cwd`, and `seq` and `id` when
/// `sealed` (null when the decision could not be audited). Fields `event`
/// already has are kept.
fn with_record_fields(
    mut event: serde_json::Value,
    r: &crate::audit::AuditRecord,
    sealed: bool,
) -> serde_json::Value {
    if let Some(map) = event.as_object_mut() {
        for (k, v) in [
            ("time", serde_json::json!(r.time)),
            ("seq", serde_json::json!(sealed.then_some(r.seq))),
            ("id", serde_json::json!(sealed.then_some(&r.id))),
            ("outcome", serde_json::json!(r.outcome)),
            ("approval", serde_json::json!(r.approval)),
            ("pid", serde_json::json!(r.pid)),
            ("cwd", serde_json::json!(r.cwd)),
        ] {
            map.entry(k).or_insert(v);
        }
    }
    event
}

/// The `decision` event for a decision made through the API
/// (`POST /v1/preflight/{tool}`): `event` holds the fields it always had
/// (`source` is `preflight`, `eval_duration_us`, …); to them, as for a
/// library decision, the audit record's `time`, `outcome`, `approval`,
/// `pid` (the daemon's: it decided) and `cwd`, and its `seq` and `id` when
/// `sealed` (null when the decision could not be audited). With `time` and
/// `pid` a client merges the event with the same record read from the
/// audit files, as it does for library decisions.
pub fn api_decision(
    event: serde_json::Value,
    r: &crate::audit::AuditRecord,
    sealed: bool,
) -> serde_json::Value {
    with_record_fields(event, r, sealed)
}

/// One event: a kind (`decision` — from the API or, once ingested, from the
/// library —, `approval.created`, `approval.resolved`, `reload`) and its
/// JSON payload.
#[derive(Debug, Clone)]
pub struct Event {
    /// The SSE `id:`: one more than the previous event's (see `history`).
    pub id: u64,
    /// The SSE `event:` name.
    pub kind: &'static str,
    /// The SSE `data:` (JSON).
    pub data: serde_json::Value,
}

/// The publisher side.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
    /// The recent past, for `GET /v1/events/recent`; its lock also keeps
    /// ids in stream order.
    history: std::sync::Arc<std::sync::Mutex<super::history::History>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(BACKLOG).0,
            history: Default::default(),
        }
    }
}

impl Events {
    /// Publish (a no-op with no subscribers).
    pub fn emit(&self, kind: &'static str, mut data: serde_json::Value) {
        // Secrets never reach a stream (or the recent-events history).
        crate::audit::redact::redact_json(&mut data);
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let id = history.last_id() + 1;
        history.record(id, std::time::SystemTime::now(), kind, &data);
        let _ = self.tx.send(Event { id, kind, data });
    }

    /// End every open stream: the daemon is stopping. Its clients see the
    /// connection close now rather than at the shutdown's deadline (a
    /// `rampart watch` left open would otherwise hold the stop up).
    pub fn close_streams(&self) {
        let _ = self.tx.send(Event {
            id: 0,
            kind: CLOSE,
            data: serde_json::Value::Null,
        });
    }

    /// Totals, decisions per minute and the last events, as JSON
    /// (`GET /v1/events/recent`).
    pub fn recent(&self) -> serde_json::Value {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .to_json()
    }

    /// A server-sent event response following the stream from now on.
    pub fn sse(
        &self,
    ) -> Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>> + use<>> {
        let hello = tokio_stream::once(Ok(SseEvent::default()
            .event("hello")
            .data(r#"{"stream":"rampart"}"#)));
        let stream = BroadcastStream::new(self.tx.subscribe())
            .take_while(|item| !matches!(item, Ok(e) if e.kind == CLOSE))
            .map(|item| {
                Ok(match item {
                    Ok(e) => SseEvent::default()
                        .id(e.id.to_string())
                        .event(e.kind)
                        .data(e.data.to_string()),
                    Err(BroadcastStreamRecvError::Lagged(n)) => SseEvent::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}")),
                })
            });
        Sse::new(hello.chain(stream)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditRecord;

    #[test]
    fn a_blocked_library_record_becomes_a_denied_decision_event() {
        let r = AuditRecord {
            source: "library".into(),
            decision: "deny".into(),
            outcome: Some("blocked".into()),
            command: Some("/usr/bin/rm -rf /home/me".into()),
            policies: vec!["destructive".into(), "other".into()],
            agent: "codex".into(),
            seq: 7,
            tool: "exec".into(),
            ..Default::default()
        };
        let e = library_decision(&r).unwrap();
        assert_eq!(e["decision"], "deny");
        assert_eq!(e["allowed"], false);
        assert_eq!(e["policy"], "destructive");
        assert_eq!(e["matched_policies"][1], "other");
        assert_eq!(e["command"], "/usr/bin/rm -rf /home/me");
        assert_eq!(e["seq"], 7);
        assert_eq!(e["source"], "library");
    }

    #[test]
    fn an_api_decision_event_gains_the_audit_records_time_pid_seq_and_id() {
        // What `POST /v1/preflight/exec` announces.
        let base = serde_json::json!({
            "source": "preflight", "tool": "exec", "agent": "a", "session": "s",
            "command": "rm -rf /", "path": null, "url": null,
            "decision": "deny", "allowed": false, "policy": "p",
            "matched_policies": ["p"], "message": "no",
            "generation": 3, "eval_duration_us": 3.5,
        });
        let r = AuditRecord {
            source: "api".into(),
            time: "2026-11-22T01:02:03.000004Z".into(),
            seq: 12,
            id: "0000000012".into(),
            pid: 77,
            outcome: Some("blocked".into()),
            command: Some("rm -rf /".into()),
            decision: "deny".into(),
            ..Default::default()
        };
        let e = api_decision(base.clone(), &r, true);
        for k in [
            "source",
            "tool",
            "command",
            "decision",
            "allowed",
            "policy",
            "eval_duration_us",
        ] {
            assert_eq!(e[k], base[k], "{k} kept");
        }
        assert_eq!(e["time"], "2026-11-22T01:02:03.000004Z");
        assert_eq!(
            (e["seq"].as_u64(), e["id"].as_str()),
            (Some(12), Some("0000000012"))
        );
        assert_eq!(
            (e["pid"].as_u64(), e["outcome"].as_str()),
            (Some(77), Some("blocked"))
        );
        // The same keys a library decision has.
        let lib = library_decision(&AuditRecord {
            source: "library".into(),
            ..r.clone()
        })
        .unwrap();
        for k in lib.as_object().unwrap().keys() {
            assert!(e.get(k).is_some(), "{k} missing");
        }
        // Not audited: its time and pid, no seq or id.
        let e = api_decision(base, &r, false);
        assert_eq!(e["time"], "2026-11-22T01:02:03.000004Z");
        assert!(e["seq"].is_null() && e["id"].is_null(), "{e}");
    }

    #[test]
    fn ingest_notes_are_not_decision_events() {
        let note = AuditRecord {
            source: "ingest".into(),
            tool: "spool".into(),
            ..Default::default()
        };
        assert!(library_decision(&note).is_none());
    }
}
