//! The HTTP API (the same router on TCP and on the Unix socket).
//!
//! JSON in and out; bodies up to 1 MiB (413 beyond), read within 10 s (408
//! beyond); malformed JSON is a 400 with serde's message; unknown routes
//! 404 and wrong methods 405, both with a JSON `{"error": …}`.

use super::approvals::{Resolution, Resolve};
use super::policy::{Trigger, error_json, ms, unix_secs};
use super::{Daemon, Mode};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use policy_cache::{Call, Command, Reason, evaluate, scratch_needed};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Largest request body.
pub const MAX_BODY: usize = 1 << 20;
/// A request body must arrive within this.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

type D = State<Arc<Daemon>>;

/// The routes.
pub fn router(d: Arc<Daemon>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/status", get(status))
        .route("/v1/preflight/{tool}", post(preflight))
        .route("/v1/policy/reload", post(reload))
        .route("/v1/ask", post(ask))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", get(get_approval))
        .route("/v1/approvals/{id}/resolve", post(resolve))
        .route("/v1/events/stream", get(events))
        .route("/metrics", get(metrics))
        .merge(super::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(d)
}

/// An error response: `{"error": message}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    /// `{"error": message}`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// A JSON request body, with the errors this API promises.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // Refused on its announced length, without waiting for the body.
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let bytes = match tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state)).await
        {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time",
                ));
            }
            Ok(Err(rejection)) => {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    return Err(too_large());
                }
                return Err(ApiError::new(status, rejection.body_text()));
            }
            Ok(Ok(b)) => b,
        };
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
    }
}

/// One path segment (`{tool}`, `{id}`), percent-decoded; a segment that
/// does not decode to UTF-8 is a 400 with the API's JSON error, like every
/// other refusal (axum's own rejection is plain text).
pub struct Segment(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(s)| Segment(s))
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body over {MAX_BODY} bytes"),
    )
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}))
}

async fn status(State(d): D) -> axum::Json<Value> {
    let cur = d.policy.current();
    let (lines, bytes) = d.home.spool_backlog();
    let now = SystemTime::now();
    axum::Json(json!({
        "daemon": {
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": d.started.elapsed().as_secs_f64(),
            "tcp": d.tcp_addr.to_string(),
            "socket": d.home.socket_path().display().to_string(),
            "home": d.home.root().display().to_string(),
        },
        "mode": d.mode.as_str(),
        "snapshot": {
            "generation": cur.generation,
            "policies": cur.policies,
            "rules": cur.rules,
            "source": cur.source,
            "published": cur.published,
            "published_at": unix_secs(cur.at),
            "age_s": now.duration_since(cur.at).map_or(0.0, |a| a.as_secs_f64()),
            "path": d.home.snapshot_path().display().to_string(),
        },
        "last_reload": d.policy.last().map(|r| r.to_json()),
        "approvals": { "pending": d.approvals.pending_count(), "timeout_s": d.approval_timeout.as_secs_f64() },
        "spool": { "lines": lines, "bytes": bytes },
    }))
}

/// The reference's preflight request.
#[derive(Deserialize)]
struct PreflightRequest {
    #[serde(default)]
    agent: String,
    #[serde(default)]
    session: String,
    #[serde(default)]
    params: serde_json::Map<String, Value>,
    /// `false`: report the verdict without enforcing it (`allowed` true).
    #[serde(default = "yes")]
    enforce: bool,
}

fn yes() -> bool {
    true
}

async fn preflight(
    State(d): D,
    Segment(tool): Segment,
    JsonBody(req): JsonBody<PreflightRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let (response, decided) = preflight_decide(&d, &tool, &req)?;
    let Some((event, record)) = decided else {
        return Ok(axum::Json(response));
    };
    // Durable before the response (group-committed with concurrent ones),
    // and announced once sealed: the event carries the record's seq and id
    // (an unaudited one, its time and pid only). A task of its own, so
    // that a caller who hangs up meanwhile does not take the event along.
    let announce = tokio::spawn(async move {
        let (sealed, failed) = match &d.audit {
            Some(w) => match w.append(record.clone()).await {
                Ok(sealed) => (Some(sealed), None),
                Err(e) => (None, Some(e)),
            },
            None => (None, None),
        };
        let sealed_ok = sealed.is_some();
        let r = sealed.as_ref().unwrap_or(&record);
        d.events
            .emit("decision", super::events::api_decision(event, r, sealed_ok));
        failed
    });
    let failed = announce
        .await
        .unwrap_or_else(|e| Some(format!("the audit task failed: {e}")));
    if let Some(e) = failed {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the decision could not be audited: {e}"),
        ));
    }
    Ok(axum::Json(response))
}

/// A decision's stream event (without the audit record's fields yet) and
/// its audit record.
type Decided = (Value, crate::audit::AuditRecord);

/// Decide a preflight request: the response body, and (unless rampart is
/// disabled) the event and audit record.
fn preflight_decide(
    d: &Daemon,
    tool: &str,
    req: &PreflightRequest,
) -> Result<(Value, Option<Decided>), ApiError> {
    let tool = tool.to_string();
    if d.mode == Mode::Disabled {
        return Ok((
            json!({
                "allowed": true, "decision": "allow", "message": "rampart is disabled",
                "matched_policies": [], "eval_duration_us": 0, "mode": "disabled",
            }),
            None,
        ));
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let params: Vec<(String, String)> = req
        .params
        .iter()
        .map(|(k, v)| (k.clone(), text(v)))
        .collect();
    let pairs: Vec<(&[u8], &[u8])> = params
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    let field = |names: &[&str]| {
        names.iter().find_map(|n| {
            params
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_bytes())
        })
    };
    let command = field(&["command"]);
    let path = field(&["path", "file_path", "file"]);
    let url = field(&["url"]);
    let cur = d.policy.current();
    let snap = cur.snapshot().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no policy snapshot is loaded",
        )
    })?;
    let call = Call {
        tool: tool.as_bytes(),
        agent: req.agent.as_bytes(),
        session: req.session.as_bytes(),
        command: command.map(Command::Shell),
        path,
        url,
        params: &pairs,
        home: d.user_home.as_bytes(),
    };
    let mut scratch = vec![0u8; scratch_needed(&call)];
    let started = Instant::now();
    let decision = evaluate(&snap, &call, &mut scratch);
    let took = started.elapsed();
    let name = |i: u32| String::from_utf8_lossy(snap.policy_name(i as usize)).into_owned();
    let matched: Vec<String> = decision.fired().iter().map(|&i| name(i)).collect();
    let deciding = decision.policy.map(name).unwrap_or_default();
    let message = match decision.reason {
        Reason::TooLong => "input too long to check".to_string(),
        Reason::Unparsable(f) => f.message().to_string(),
        _ => String::from_utf8_lossy(decision.message).into_owned(),
    };
    let action = decision.action.as_str();
    let allowed = decision.allowed() || d.mode == Mode::Monitor || !req.enforce;
    d.metrics.decision(action, &deciding, took);
    let eval_us = took.as_secs_f64() * 1e6;
    let event = json!({
        "source": "preflight", "tool": tool, "agent": req.agent, "session": req.session,
        "command": command.map(String::from_utf8_lossy),
        "path": path.map(String::from_utf8_lossy),
        "url": url.map(String::from_utf8_lossy),
        "decision": action, "allowed": allowed, "policy": deciding,
        "matched_policies": matched, "message": message,
        "generation": cur.generation, "eval_duration_us": eval_us,
    });
    let record = crate::audit::AuditRecord {
        // The decision's time, kept by the audit log (not the append's).
        time: crate::audit::time::rfc3339(crate::audit::time::now_micros()),
        agent: req.agent.clone(),
        session: req.session.clone(),
        tool: tool.clone(),
        command: command.map(|c| String::from_utf8_lossy(c).into_owned()),
        path: path.map(|p| String::from_utf8_lossy(p).into_owned()),
        url: url.map(|u| String::from_utf8_lossy(u).into_owned()),
        decision: action.to_string(),
        outcome: Some(if allowed { "allowed" } else { "blocked" }.to_string()),
        policies: matched.clone(),
        message: message.clone(),
        generation: cur.generation,
        pid: std::process::id(),
        ..Default::default()
    };
    Ok((
        json!({
            "allowed": allowed,
            "decision": action,
            "message": message,
            "matched_policies": matched,
            "policy": deciding,
            "eval_duration_us": eval_us,
            "generation": cur.generation,
            "mode": d.mode.as_str(),
        }),
        Some((event, record)),
    ))
}

/// `POST /v1/policy/reload`. A body, if any, is read and ignored (a body
/// left unread would make the socket close with a reset).
async fn reload(State(d): D, _body: Bytes) -> Response {
    let r = d.reload(Trigger::Api).await;
    match &r.error {
        None => axum::Json(json!({
            "generation": r.generation,
            "duration_ms": ms(r.duration),
            "policies": r.policies,
            "rules": r.rules,
            "changed": r.changed,
        }))
        .into_response(),
        Some(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({
                "error": error_json(e),
                "generation": r.generation,
                "duration_ms": ms(r.duration),
            })),
        )
            .into_response(),
    }
}

/// `POST /v1/ask`: the library's approval request. The response waits
/// until a human resolves it, the approval timeout denies it, or the
/// daemon stops (deny). If the caller goes away first, the approval is
/// withdrawn (the request future is dropped, and its guard with it).
async fn ask(State(d): D, JsonBody(mut record): JsonBody<Value>) -> Result<Response, ApiError> {
    if !record.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "an approval request is a JSON object",
        ));
    }
    if d.mode != Mode::Enforce {
        let by = format!("mode:{}", d.mode.as_str());
        return Ok(
            axum::Json(json!({"id": null, "approved": true, "resolved_by": by})).into_response(),
        );
    }
    // Listed, logged and streamed from here on: secrets out first.
    crate::audit::redact::redact_json(&mut record);
    let (approval, answer, waiting) = d.approvals.create(record);
    let id = approval.id.clone();
    let command = approval
        .request
        .get("command")
        .and_then(|c| c.as_str())
        .unwrap_or("");
    tracing::info!(id = %id, command, "approval requested");
    d.events.emit("approval.created", approval.to_json());
    let resolution = match tokio::time::timeout(d.approval_timeout, answer).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Resolution {
            approved: false,
            resolved_by: "shutdown".into(),
        },
        Err(_) => {
            let timeout = Resolution {
                approved: false,
                resolved_by: "timeout".into(),
            };
            match d.resolve(&id, timeout.clone(), "timeout") {
                // Resolved by a human in the same instant: that answer counts.
                Resolve::Already(a) => a.resolution.unwrap_or(timeout),
                _ => timeout,
            }
        }
    };
    drop(waiting);
    Ok(axum::Json(json!({
        "id": id,
        "approved": resolution.approved,
        "resolved_by": resolution.resolved_by,
    }))
    .into_response())
}

async fn list_approvals(State(d): D) -> axum::Json<Value> {
    let list: Vec<Value> = d.approvals.pending().iter().map(|a| a.to_json()).collect();
    axum::Json(json!({ "approvals": list }))
}

async fn get_approval(State(d): D, Segment(id): Segment) -> Result<axum::Json<Value>, ApiError> {
    d.approvals
        .get(&id)
        .map(|a| axum::Json(a.to_json()))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no approval {id}")))
}

#[derive(Deserialize)]
struct ResolveRequest {
    approved: bool,
    #[serde(default)]
    resolved_by: String,
}

async fn resolve(
    State(d): D,
    Segment(id): Segment,
    JsonBody(req): JsonBody<ResolveRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let by = if req.resolved_by.trim().is_empty() {
        "api".to_string()
    } else {
        let by: String = req.resolved_by.chars().take(128).collect();
        crate::audit::redact::redact(&by).into_owned()
    };
    let outcome = if req.approved { "approved" } else { "denied" };
    match d.resolve(
        &id,
        Resolution {
            approved: req.approved,
            resolved_by: by,
        },
        outcome,
    ) {
        Resolve::Done(a) => Ok(axum::Json(a.to_json())),
        Resolve::Already(a) => Err(ApiError {
            status: StatusCode::CONFLICT,
            body: json!({"error": format!("approval {id} was already resolved"), "approval": a.to_json()}),
        }),
        Resolve::Unknown => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no pending approval {id} (it may have timed out, or its caller went away)"),
        )),
    }
}

async fn events(State(d): D) -> impl IntoResponse {
    d.events.sse()
}

async fn metrics(State(d): D) -> impl IntoResponse {
    let body = d.metrics.render(
        d.approvals.pending_count(),
        d.policy.current().generation,
        d.started.elapsed(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
