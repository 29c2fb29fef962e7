//! What the event stream said lately, for a client that just connected
//! (the dashboard): decision totals since the daemon started, decisions per
//! minute for the last hour, and the last events themselves, each with the
//! id the stream gives it (SSE `id:`), so a client that subscribes first
//! and then reads `GET /v1/events/recent` can merge both without a gap or a
//! duplicate.
//!
//! Fixed memory: [`RECENT`] events and [`MINUTES`] buckets.

use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

/// Events kept for `GET /v1/events/recent`.
pub const RECENT: usize = 200;
/// Per-minute buckets kept (one hour).
pub const MINUTES: usize = 60;

/// The recent past of the event stream.
#[derive(Debug)]
pub struct History {
    started: SystemTime,
    last_id: u64,
    totals: BTreeMap<String, u64>,
    /// `(unix minute, decision → count)`, oldest first.
    minutes: VecDeque<(u64, BTreeMap<String, u64>)>,
    /// `(id, unix seconds, kind, data)`, oldest first.
    recent: VecDeque<(u64, f64, &'static str, Value)>,
}

impl Default for History {
    fn default() -> Self {
        History {
            started: SystemTime::now(),
            last_id: 0,
            totals: BTreeMap::new(),
            minutes: VecDeque::with_capacity(MINUTES),
            recent: VecDeque::with_capacity(RECENT),
        }
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl History {
    /// The id of the last event recorded (0: none yet).
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Record event `id` (ids increase by one per event).
    pub fn record(&mut self, id: u64, at: SystemTime, kind: &'static str, data: &Value) {
        self.last_id = id;
        let secs = unix(at);
        if kind == "decision" {
            let decision = data
                .get("decision")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            *self.totals.entry(decision.clone()).or_default() += 1;
            let minute = secs as u64 / 60;
            match self.minutes.back_mut() {
                Some((m, counts)) if *m == minute => *counts.entry(decision).or_default() += 1,
                // A clock that stepped back counts in the newest bucket.
                Some((m, counts)) if *m > minute => *counts.entry(decision).or_default() += 1,
                _ => {
                    if self.minutes.len() == MINUTES {
                        self.minutes.pop_front();
                    }
                    self.minutes
                        .push_back((minute, BTreeMap::from([(decision, 1)])));
                }
            }
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((id, secs, kind, data.clone()));
    }

    /// As JSON for `GET /v1/events/recent`.
    pub fn to_json(&self) -> Value {
        let minutes: Vec<Value> = self
            .minutes
            .iter()
            .map(|(m, counts)| json!({ "minute": m * 60, "counts": counts }))
            .collect();
        let events: Vec<Value> = self
            .recent
            .iter()
            .map(|(id, at, kind, data)| json!({ "id": id, "at": at, "kind": kind, "data": data }))
            .collect();
        json!({
            "since": unix(self.started),
            "now": unix(SystemTime::now()),
            "last_id": self.last_id,
            "totals": self.totals,
            "minutes": minutes,
            "events": events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn decisions_are_totalled_and_bucketed_by_minute() {
        let mut h = History::default();
        let d = |x: &str| json!({ "decision": x });
        h.record(1, at(600), "decision", &d("deny"));
        h.record(2, at(610), "decision", &d("allow"));
        h.record(3, at(615), "reload", &json!({ "ok": true }));
        h.record(4, at(661), "decision", &d("deny"));
        let j = h.to_json();
        assert_eq!(j["last_id"], 4);
        assert_eq!(j["totals"], json!({ "allow": 1, "deny": 2 }));
        assert_eq!(
            j["minutes"][0],
            json!({ "minute": 600, "counts": { "allow": 1, "deny": 1 } })
        );
        assert_eq!(
            j["minutes"][1],
            json!({ "minute": 660, "counts": { "deny": 1 } })
        );
        assert_eq!(j["events"].as_array().unwrap().len(), 4);
        assert_eq!(j["events"][2]["kind"], "reload");
        assert_eq!(j["events"][3]["id"], 4);
    }

    #[test]
    fn memory_is_bounded() {
        let mut h = History::default();
        for i in 0..(RECENT as u64 * 3) {
            h.record(
                i + 1,
                at(i * 60),
                "decision",
                &json!({ "decision": "allow" }),
            );
        }
        let j = h.to_json();
        assert_eq!(j["events"].as_array().unwrap().len(), RECENT);
        assert_eq!(j["minutes"].as_array().unwrap().len(), MINUTES);
        assert_eq!(j["events"][0]["id"], RECENT as u64 * 2 + 1);
        assert_eq!(j["totals"]["allow"], RECENT as u64 * 3);
    }

    #[test]
    fn a_clock_step_back_counts_in_the_newest_minute() {
        let mut h = History::default();
        h.record(1, at(6000), "decision", &json!({ "decision": "deny" }));
        h.record(2, at(60), "decision", &json!({ "decision": "deny" }));
        let j = h.to_json();
        assert_eq!(j["minutes"].as_array().unwrap().len(), 1);
        assert_eq!(j["minutes"][0]["counts"]["deny"], 2);
    }
}
