//! Calls waiting for a human: created by `POST /v1/ask` (the library, for an
//! `ask` decision), resolved by `rampart approve|deny`, the API, the
//! timeout, or the daemon shutting down (deny).
//!
//! Each pending approval owns the sending half of a oneshot channel; the
//! request that asked holds the receiving half and a [`Waiting`] guard, so
//! a caller that goes away (its connection closed) removes its own entry.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::sync::oneshot;

/// Resolved approvals remembered for `GET /v1/approvals/{id}`.
const RECENT: usize = 256;

/// How an approval ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Run it?
    pub approved: bool,
    /// Who decided: a name given to `resolve`, `timeout`, `shutdown`.
    pub resolved_by: String,
}

/// A waiting call, as listed.
#[derive(Debug, Clone)]
pub struct Approval {
    /// Short unique id (what `rampart approve` takes).
    pub id: String,
    /// When it was asked.
    pub created: SystemTime,
    /// Monotonic twin of `created`, for ages.
    pub since: Instant,
    /// The library's record (agent, command, policies, message, pid, cwd…).
    pub request: serde_json::Value,
    /// Set once resolved.
    pub resolution: Option<Resolution>,
}

impl Approval {
    /// As JSON for the API.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.request;
        serde_json::json!({
            "id": self.id,
            "status": match &self.resolution {
                None => "pending",
                Some(r) if r.approved => "approved",
                Some(_) => "denied",
            },
            "created": super::policy::unix_secs(self.created),
            "age_s": self.since.elapsed().as_secs_f64(),
            "agent": r.get("agent").cloned().unwrap_or_default(),
            "session": r.get("session").cloned().unwrap_or_default(),
            "tool": r.get("tool").cloned().unwrap_or_default(),
            "command": r.get("command").cloned().unwrap_or_default(),
            "message": r.get("message").cloned().unwrap_or_default(),
            "policies": r.get("policies").cloned().unwrap_or_default(),
            "pid": r.get("pid").cloned().unwrap_or_default(),
            "cwd": r.get("cwd").cloned().unwrap_or_default(),
            "approved": self.resolution.as_ref().map(|r| r.approved),
            "resolved_by": self.resolution.as_ref().map(|r| r.resolved_by.clone()),
        })
    }
}

struct Entry {
    approval: Approval,
    reply: oneshot::Sender<Resolution>,
}

#[derive(Default)]
struct Inner {
    pending: BTreeMap<String, Entry>,
    /// Creation order of pending ids (BTreeMap orders by id).
    order: Vec<String>,
    recent: VecDeque<Approval>,
}

/// The approvals table.
#[derive(Clone, Default)]
pub struct Approvals {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals")
            .field("pending", &self.pending_count())
            .finish()
    }
}

/// What `resolve` found.
#[derive(Debug)]
pub enum Resolve {
    /// Resolved now.
    Done(Approval),
    /// Resolved before.
    Already(Approval),
    /// No such id.
    Unknown,
}

impl Approvals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a waiting call; returns its approval, the answer's receiver and
    /// the guard that withdraws it if the caller goes away.
    pub fn create(
        &self,
        request: serde_json::Value,
    ) -> (Approval, oneshot::Receiver<Resolution>, Waiting) {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        let id = loop {
            let id = short_id();
            if !inner.pending.contains_key(&id) && !inner.recent.iter().any(|a| a.id == id) {
                break id;
            }
        };
        let approval = Approval {
            id: id.clone(),
            created: SystemTime::now(),
            since: Instant::now(),
            request,
            resolution: None,
        };
        inner.pending.insert(
            id.clone(),
            Entry {
                approval: approval.clone(),
                reply: tx,
            },
        );
        inner.order.push(id.clone());
        let guard = Waiting {
            approvals: self.clone(),
            id,
        };
        (approval, rx, guard)
    }

    /// Resolve `id`: the waiting call is answered.
    pub fn resolve(&self, id: &str, resolution: Resolution) -> Resolve {
        let mut inner = self.lock();
        if let Some(entry) = inner.pending.remove(id) {
            inner.order.retain(|i| i != id);
            let mut approval = entry.approval;
            approval.resolution = Some(resolution.clone());
            let _ = entry.reply.send(resolution);
            remember(&mut inner, approval.clone());
            return Resolve::Done(approval);
        }
        match inner.recent.iter().find(|a| a.id == id) {
            Some(a) => Resolve::Already(a.clone()),
            None => Resolve::Unknown,
        }
    }

    /// Withdraw `id` without answering (its caller went away). Returns it
    /// if it was still pending.
    pub fn withdraw(&self, id: &str) -> Option<Approval> {
        let mut inner = self.lock();
        let entry = inner.pending.remove(id)?;
        inner.order.retain(|i| i != id);
        Some(entry.approval)
    }

    /// Waiting calls, oldest first.
    pub fn pending(&self) -> Vec<Approval> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|id| inner.pending.get(id).map(|e| e.approval.clone()))
            .collect()
    }

    /// How many calls wait.
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// A pending or recently resolved approval.
    pub fn get(&self, id: &str) -> Option<Approval> {
        let inner = self.lock();
        inner
            .pending
            .get(id)
            .map(|e| e.approval.clone())
            .or_else(|| inner.recent.iter().find(|a| a.id == id).cloned())
    }
}

fn remember(inner: &mut Inner, a: Approval) {
    if inner.recent.len() == RECENT {
        inner.recent.pop_front();
    }
    inner.recent.push_back(a);
}

/// Eight hex digits: short enough to type, random so ids are not guessable
/// across restarts.
fn short_id() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        let n = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        b = n.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Held by the request that asked: dropping it while the approval is still
/// pending (the caller's connection closed) withdraws it.
pub struct Waiting {
    approvals: Approvals,
    id: String,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.approvals.withdraw(&self.id).is_some() {
            tracing::info!(id = %self.id, "approval withdrawn: the caller went away");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(name: &str, approved: bool) -> Resolution {
        Resolution {
            approved,
            resolved_by: name.into(),
        }
    }

    #[tokio::test]
    async fn a_resolved_approval_answers_its_waiting_call_once() {
        let a = Approvals::default();
        let (ap, rx, _guard) = a.create(serde_json::json!({"command": "touch x"}));
        assert_eq!(a.pending().len(), 1);
        assert!(matches!(
            a.resolve(&ap.id, by("me", true)),
            Resolve::Done(_)
        ));
        assert_eq!(rx.await.unwrap(), by("me", true));
        assert!(matches!(
            a.resolve(&ap.id, by("me", false)),
            Resolve::Already(_)
        ));
        assert_eq!(a.get(&ap.id).unwrap().resolution, Some(by("me", true)));
        assert!(matches!(
            a.resolve("nope", by("me", true)),
            Resolve::Unknown
        ));
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_withdraws_its_approval() {
        let a = Approvals::default();
        let (_ap, rx, guard) = a.create(serde_json::json!({}));
        drop(rx);
        drop(guard);
        assert_eq!(a.pending_count(), 0);
    }

    #[tokio::test]
    async fn fifty_waiting_calls_resolve_independently() {
        let a = Approvals::default();
        let mut waits = Vec::new();
        for _ in 0..50 {
            let (_, rx, g) = a.create(serde_json::json!({}));
            waits.push((rx, g));
        }
        for p in a.pending() {
            assert!(matches!(
                a.resolve(&p.id, by("shutdown", false)),
                Resolve::Done(_)
            ));
        }
        for (rx, _g) in waits {
            assert!(!rx.await.unwrap().approved);
        }
        assert_eq!(a.pending_count(), 0);
    }
}
