//! Where the watch view's data comes from, on a thread of its own that
//! sends [`Update`]s:
//!
//! - at start, the recent decisions in the audit files (and the spool not
//!   yet ingested);
//! - with a daemon, its event stream (`GET /v1/events/stream` over the Unix
//!   socket: decisions, approvals, reloads), its pending approvals, and its
//!   recent past (`GET /v1/events/recent`: decision totals since it
//!   started, which the header shows, and the last events, which seed the
//!   feed);
//! - without one, the audit files and the spool, followed as `rampart audit
//!   tail --follow` follows them, trying the daemon again every second.
//!
//! The stream is read with a small incremental HTTP reader (chunked body,
//! then server-sent events), next to the daemon's blocking
//! [`daemon::client`], which reads whole bodies only.

use super::model::{Approval, DaemonTotals, Decision, Update};
use daemon::RampartHome;
use daemon::audit::{chain, read, time};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// Decisions shown from the files at start.
pub const HISTORY: usize = 500;

/// The daemon sends a keep-alive every 15 s: silence for longer means it is
/// gone without closing the connection.
const STREAM_SILENCE: Duration = Duration::from_secs(40);

/// How often the files are re-read without a daemon.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// How often the daemon is tried again without one.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Run until the receiver goes away (`send` fails).
pub fn run(home: RampartHome, tx: Sender<Update>) {
    if tx.send(Update::History(history(&home, HISTORY))).is_err() {
        return;
    }
    loop {
        match stream(&home, &tx) {
            Ok(Ended::ReceiverGone) => return,
            Ok(Ended::Closed) | Err(_) => {}
        }
        if tx.send(Update::Disconnected).is_err() || follow(&home, &tx).is_err() {
            return;
        }
    }
}

/// The newest `n` decisions in the chain and the spool, oldest first.
pub fn history(home: &RampartHome, n: usize) -> Vec<Decision> {
    // The newest two files hold the newest records (a file is 64 MiB at
    // most; rotation starts a fresh one).
    let files = chain::list_files(&home.audit_dir()).unwrap_or_default();
    let mut out: Vec<Decision> = Vec::new();
    for path in &files[files.len().saturating_sub(2)..] {
        if let Ok(bytes) = std::fs::read(path) {
            out.extend(read::parse_log_lines(&bytes).filter_map(|r| Decision::from_record(&r)));
        }
    }
    out.extend(
        read::pending(&home.spool_dir())
            .iter()
            .filter_map(Decision::from_record),
    );
    let skip = out.len().saturating_sub(n);
    out.split_off(skip)
}

/// Why following ended.
enum Ended {
    /// The daemon closed the stream.
    Closed,
    /// Nobody listens to the updates any more.
    ReceiverGone,
}

struct Gone;

fn now() -> String {
    time::rfc3339(time::now_micros())
}

/// Follow the daemon's event stream until it ends.
fn stream(home: &RampartHome, tx: &Sender<Update>) -> Result<Ended, std::io::Error> {
    let socket = home.socket_path();
    let mut events = EventStream::open(&socket)?;
    // Subscribed (the daemon says hello after subscribing): whatever the
    // lists below miss arrives as events.
    match events.next()? {
        Some(e) if e.kind == "hello" => {}
        _ => return Err(std::io::Error::other("no hello on the event stream")),
    }
    let status = daemon::client::get(&socket, "/v1/status").map_err(std::io::Error::other)?;
    let approvals = daemon::client::get(&socket, "/v1/approvals").map_err(std::io::Error::other)?;
    let status = status.json();
    let pending = approvals.json()["approvals"]
        .as_array()
        .map(|l| l.iter().filter_map(Approval::from_json).collect())
        .unwrap_or_default();
    let connected = Update::Connected {
        pid: status["daemon"]["pid"].as_u64().unwrap_or(0),
        generation: status["snapshot"]["generation"].as_u64().unwrap_or(0),
        pending,
    };
    if tx.send(connected).is_err() {
        return Ok(Ended::ReceiverGone);
    }
    // The daemon's totals, and its recent decisions (older than what the
    // files hold, or never audited): before the files, which may be newer.
    if let Some((totals, decisions)) = recent(&socket)
        && (tx.send(Update::Totals(totals)).is_err()
            || tx.send(Update::History(decisions)).is_err())
    {
        return Ok(Ended::ReceiverGone);
    }
    // Decisions ingested while the lists were fetched, and spool records
    // written before the stream began, are in the files: read them again
    // (the view drops what it has seen).
    if tx.send(Update::History(history(home, HISTORY))).is_err() {
        return Ok(Ended::ReceiverGone);
    }
    while let Some(e) = events.next()? {
        let Some(u) = update_of(&e) else {
            continue;
        };
        let lagged = matches!(u, Update::Lagged(_));
        if tx.send(u).is_err() {
            return Ok(Ended::ReceiverGone);
        }
        // Missed decisions are in the daemon's totals: read them again.
        if lagged
            && let Some((totals, _)) = recent(&socket)
            && tx.send(Update::Totals(totals)).is_err()
        {
            return Ok(Ended::ReceiverGone);
        }
    }
    Ok(Ended::Closed)
}

/// `GET /v1/events/recent`: the daemon's totals and its recent decisions,
/// oldest first (`None`: a daemon without it, or an error).
fn recent(socket: &Path) -> Option<(DaemonTotals, Vec<Decision>)> {
    let r = daemon::client::get(socket, "/v1/events/recent").ok()?;
    recent_of(&r.json())
}

/// The totals and decisions in a `GET /v1/events/recent` answer.
pub fn recent_of(v: &Value) -> Option<(DaemonTotals, Vec<Decision>)> {
    let totals = DaemonTotals::from_json(v)?;
    let decisions = v["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["kind"] == "decision")
                .filter_map(|e| {
                    let at = e["at"].as_f64().unwrap_or(0.0);
                    Decision::from_event(&e["data"], &time::rfc3339((at * 1e6) as i64))
                })
                .collect()
        })
        .unwrap_or_default();
    Some((totals, decisions))
}

/// The update a stream event means (`None`: nothing for the view).
pub fn update_of(e: &SseEvent) -> Option<Update> {
    let v: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
    match e.kind.as_str() {
        "decision" => {
            Decision::from_event(&v, &now()).map(|decision| Update::Streamed { id: e.id, decision })
        }
        "approval.created" => Approval::from_json(&v).map(Update::ApprovalCreated),
        "approval.resolved" => v["id"].as_str().map(|id| Update::ApprovalResolved {
            id: id.to_string(),
            status: v["status"].as_str().unwrap_or("resolved").to_string(),
        }),
        "reload" => Some(Update::Reload {
            generation: v["generation"].as_u64().unwrap_or(0),
            error: v["error"]
                .is_object()
                .then(|| crate::cmd::load_error_from_json(&v["error"]).to_string()),
        }),
        "lagged" => Some(Update::Lagged(v["missed"].as_u64().unwrap_or(0))),
        _ => None,
    }
}

/// Follow the files until the daemon answers again.
fn follow(home: &RampartHome, tx: &Sender<Update>) -> Result<(), Gone> {
    // The chain is followed from its length now; the spool is read whole
    // (the view drops what it has seen).
    let mut offsets: HashMap<PathBuf, u64> = chain::list_files(&home.audit_dir())
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let len = p.metadata().map_or(0, |m| m.len());
            (p, len)
        })
        .collect();
    // The daemon's last ingest, as it stopped, streamed nothing: what it
    // appended before the lengths above were taken is read here.
    tx.send(Update::History(history(home, HISTORY)))
        .map_err(|_| Gone)?;
    let mut last_try = Instant::now();
    loop {
        for path in super::super::audit::watched_files(home) {
            let from = offsets.get(&path).copied().unwrap_or(0);
            let len = path.metadata().map_or(0, |m| m.len());
            // A spool file renamed away and begun again is shorter.
            let from = if len < from { 0 } else { from };
            if len == from {
                continue;
            }
            let Ok(bytes) = super::super::audit::read_from(&path, from) else {
                continue;
            };
            let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            offsets.insert(path.clone(), from + complete as u64);
            let name = path
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let records: Vec<Decision> = if path.parent() == Some(home.spool_dir().as_path()) {
                read::pending_lines(&bytes[..complete], &name)
                    .filter_map(|r| Decision::from_record(&r))
                    .collect()
            } else {
                read::parse_log_lines(&bytes[..complete])
                    .filter_map(|r| Decision::from_record(&r))
                    .collect()
            };
            for d in records {
                tx.send(Update::Decision(d)).map_err(|_| Gone)?;
            }
        }
        if last_try.elapsed() >= RETRY_EVERY {
            last_try = Instant::now();
            if UnixStream::connect(home.socket_path()).is_ok() {
                return Ok(());
            }
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// `id:`, when it is a number.
    pub id: Option<u64>,
    /// `event:` (`message` when absent).
    pub kind: String,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

/// A `GET /v1/events/stream` response, read event by event.
pub struct EventStream<R> {
    lines: BufReader<R>,
}

impl EventStream<Body<BufReader<UnixStream>>> {
    /// Connect to the daemon's socket and start the stream.
    pub fn open(socket: &Path) -> std::io::Result<Self> {
        let mut s = UnixStream::connect(socket)?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        s.set_read_timeout(Some(STREAM_SILENCE))?;
        s.write_all(
            b"GET /v1/events/stream HTTP/1.1\r\nHost: rampart\r\nAccept: text/event-stream\r\n\r\n",
        )?;
        let mut r = BufReader::new(s);
        let chunked = read_head(&mut r)?;
        Ok(EventStream::from_body(Body::new(r, chunked)))
    }
}

/// Read the response head; `Ok(chunked)` for a 200.
fn read_head<R: BufRead>(r: &mut R) -> std::io::Result<bool> {
    let mut status = String::new();
    r.read_line(&mut status)?;
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(std::io::Error::other(format!(
            "the event stream answered {:?}",
            status.trim()
        )));
    }
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(chunked);
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("transfer-encoding")
            && v.trim().eq_ignore_ascii_case("chunked")
        {
            chunked = true;
        }
    }
}

impl<R: Read> EventStream<R> {
    /// Over a body already past the response head.
    pub fn from_body(body: R) -> Self {
        EventStream {
            lines: BufReader::new(body),
        }
    }

    /// The next event; `None` at the end of the stream. Comments (the
    /// keep-alives) are skipped.
    pub fn next(&mut self) -> std::io::Result<Option<SseEvent>> {
        let mut ev = SseEvent::default();
        let mut has_data = false;
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            let line = line.strip_suffix('\n').unwrap_or(&line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                if has_data || !ev.kind.is_empty() {
                    if ev.kind.is_empty() {
                        ev.kind = "message".into();
                    }
                    return Ok(Some(ev));
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => ev.kind = value.to_string(),
                "id" => ev.id = value.trim().parse().ok(),
                "data" => {
                    if has_data {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(value);
                    has_data = true;
                }
                _ => {}
            }
        }
    }
}

/// A response body: chunked (de-chunked as it is read) or up to the end of
/// the connection.
pub struct Body<R> {
    inner: R,
    chunked: bool,
    /// Bytes left in the current chunk.
    left: u64,
    done: bool,
}

impl<R: BufRead> Body<R> {
    /// Read the body that follows a head already consumed.
    pub fn new(inner: R, chunked: bool) -> Self {
        Body {
            inner,
            chunked,
            left: 0,
            done: false,
        }
    }

    fn chunk_size(&mut self) -> std::io::Result<u64> {
        let mut line = String::new();
        if self.inner.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let hex = line.trim().split(';').next().unwrap_or("").trim();
        u64::from_str_radix(hex, 16).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad chunk size {:?}", line.trim()),
            )
        })
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.chunked {
            return self.inner.read(buf);
        }
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let size = self.chunk_size()?;
            if size == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_of(body: &[u8], chunked: bool) -> Vec<SseEvent> {
        let mut s = EventStream::from_body(Body::new(BufReader::new(body), chunked));
        let mut v = Vec::new();
        while let Some(e) = s.next().unwrap() {
            v.push(e);
        }
        v
    }

    fn ev(kind: &str, data: &str) -> SseEvent {
        SseEvent {
            id: None,
            kind: kind.into(),
            data: data.into(),
        }
    }

    #[test]
    fn server_sent_events_are_split_on_blank_lines_and_keep_alives_skipped() {
        let body = b"event: hello\ndata: {\"stream\":\"rampart\"}\n\n:\n\nevent: decision\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\n";
        assert_eq!(
            events_of(body, false),
            [
                ev("hello", "{\"stream\":\"rampart\"}"),
                ev("decision", "{\"a\":1}"),
                ev("message", "x\ny")
            ]
        );
    }

    /// `text` as a chunked body cut at `cuts`.
    fn chunked(text: &str, cuts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain([text.len()].iter()) {
            let piece = &text[from..to];
            out.extend_from_slice(format!("{:x};ext=1\r\n{piece}\r\n", piece.len()).as_bytes());
            from = to;
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    #[test]
    fn an_events_id_is_read_when_it_is_a_number() {
        let body = b"id: 41\nevent: decision\ndata: {}\n\nid: x\nevent: reload\ndata: {}\n\n";
        let ids: Vec<Option<u64>> = events_of(body, false).iter().map(|e| e.id).collect();
        assert_eq!(ids, [Some(41), None]);
    }

    #[test]
    fn the_daemons_recent_past_gives_its_totals_and_decisions_oldest_first() {
        let v = serde_json::json!({
            "since": 10.0, "last_id": 3, "totals": {"deny": 1, "allow": 1},
            "events": [
                {"id": 1, "at": 20.5, "kind": "decision", "data": {"decision": "deny", "command": "rm -rf ~", "time": "2026-11-22T01:00:00.000000Z", "pid": 9}},
                {"id": 2, "at": 21.0, "kind": "reload", "data": {"generation": 2}},
                {"id": 3, "at": 22.0, "kind": "decision", "data": {"decision": "allow", "path": "/etc/x"}},
            ],
        });
        let (t, d) = recent_of(&v).unwrap();
        assert_eq!(
            (t.last_id, t.counts.deny, t.counts.allow, t.since),
            (3, 1, 1, 10.0)
        );
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].target.as_str(), d[0].pid), ("rm -rf ~", 9));
        assert_eq!(d[0].time, "2026-11-22T01:00:00.000000Z");
        // No time in the event: when the daemon recorded it.
        assert_eq!(d[1].time, "1970-01-01T00:00:22.000000Z");
        assert!(recent_of(&serde_json::json!({"error": "no such route"})).is_none());
    }

    #[test]
    fn a_chunked_body_is_read_across_chunk_boundaries() {
        let text = "event: hello\ndata: 1\n\nevent: decision\ndata: {\"x\":2}\n\n";
        for cuts in [vec![], vec![3, 14, 15, 22], (1..text.len()).collect()] {
            assert_eq!(
                events_of(&chunked(text, &cuts), true),
                [ev("hello", "1"), ev("decision", "{\"x\":2}")],
                "cut at {cuts:?}"
            );
        }
    }

    #[test]
    fn a_bad_chunk_size_is_an_error_not_a_hang() {
        let mut s = EventStream::from_body(Body::new(BufReader::new(&b"zz\r\nevent"[..]), true));
        assert!(s.next().is_err());
    }

    #[test]
    fn a_response_other_than_200_is_refused() {
        let mut r = BufReader::new(&b"HTTP/1.1 403 Forbidden\r\n\r\n"[..]);
        assert!(read_head(&mut r).unwrap_err().to_string().contains("403"));
        let mut ok = BufReader::new(&b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"[..]);
        assert!(read_head(&mut ok).unwrap());
    }

    #[test]
    fn stream_events_become_updates() {
        let created = update_of(&ev(
            "approval.created",
            r#"{"id":"ab12","command":"touch x","policies":["p"]}"#,
        ));
        assert!(
            matches!(created, Some(Update::ApprovalCreated(a)) if a.id == "ab12" && a.policy == "p")
        );
        assert_eq!(
            update_of(&ev(
                "approval.resolved",
                r#"{"id":"ab12","status":"approved"}"#
            )),
            Some(Update::ApprovalResolved {
                id: "ab12".into(),
                status: "approved".into()
            })
        );
        let reload = update_of(&ev(
            "reload",
            r#"{"generation":4,"error":{"file":"p.yaml","line":3,"column":5,"message":"bad"}}"#,
        ));
        assert!(
            matches!(&reload, Some(Update::Reload { generation: 4, error: Some(e) }) if e.starts_with("p.yaml:3:5")),
            "{reload:?}"
        );
        assert_eq!(
            update_of(&ev("reload", r#"{"generation":5,"error":null}"#)),
            Some(Update::Reload {
                generation: 5,
                error: None
            })
        );
        assert!(matches!(
            update_of(&SseEvent { id: Some(7), ..ev("decision", r#"{"decision":"deny","command":"rm"}"#) }),
            Some(Update::Streamed { id: Some(7), decision: d }) if d.target == "rm"
        ));
        assert_eq!(
            update_of(&ev("lagged", r#"{"missed":3}"#)),
            Some(Update::Lagged(3))
        );
        assert_eq!(update_of(&ev("hello", "{}")), None);
    }
}
