//! `GET /metrics`: Prometheus text format, written by hand (a few counters
//! and one histogram do not need a metrics framework).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the evaluation latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2,
];

/// The daemon's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `(action, deciding policy or "")` → count.
    decisions: Mutex<BTreeMap<(&'static str, String), u64>>,
    eval_buckets: [AtomicU64; BUCKETS.len()],
    eval_count: AtomicU64,
    eval_sum_ns: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    /// `(outcome)` → count: approved, denied, timeout, cancelled, shutdown.
    approvals: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// A decision and how long evaluating it took.
    pub fn decision(&self, action: &'static str, policy: &str, took: Duration) {
        *self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((action, policy.to_string()))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        for (b, bound) in self.eval_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.eval_count.fetch_add(1, Ordering::Relaxed);
        self.eval_sum_ns.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A reload attempt (changed or not) and whether it failed.
    pub fn reload(&self, failed: bool) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An approval ended.
    pub fn approval(&self, outcome: &'static str) {
        *self
            .approvals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    /// The text exposition.
    pub fn render(&self, pending: usize, generation: u64, uptime: Duration) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP rampart_decisions_total API decisions by action and deciding policy.\n# TYPE rampart_decisions_total counter"
        );
        for ((action, policy), n) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                o,
                "rampart_decisions_total{{action=\"{action}\",policy=\"{}\"}} {n}",
                escape(policy)
            );
        }
        let _ = writeln!(
            o,
            "# HELP rampart_eval_duration_seconds Time to normalise and evaluate one API call.\n# TYPE rampart_eval_duration_seconds histogram"
        );
        for (b, bound) in self.eval_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                o,
                "rampart_eval_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.eval_count.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "rampart_eval_duration_seconds_bucket{{le=\"+Inf\"}} {count}\nrampart_eval_duration_seconds_sum {}\nrampart_eval_duration_seconds_count {count}",
            self.eval_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(
            o,
            "# HELP rampart_pending_approvals Calls waiting for a human.\n# TYPE rampart_pending_approvals gauge\nrampart_pending_approvals {pending}"
        );
        let _ = writeln!(
            o,
            "# HELP rampart_approvals_total Approvals by how they ended.\n# TYPE rampart_approvals_total counter"
        );
        for (outcome, n) in self
            .approvals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(o, "rampart_approvals_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP rampart_policy_reloads_total Policy reload attempts.\n# TYPE rampart_policy_reloads_total counter\nrampart_policy_reloads_total {}",
            self.reloads.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP rampart_policy_reload_failures_total Reloads whose policies did not compile.\n# TYPE rampart_policy_reload_failures_total counter\nrampart_policy_reload_failures_total {}",
            self.reload_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP rampart_snapshot_generation Generation of the snapshot in force.\n# TYPE rampart_snapshot_generation gauge\nrampart_snapshot_generation {generation}"
        );
        let _ = writeln!(
            o,
            "# HELP rampart_uptime_seconds Seconds since the daemon started.\n# TYPE rampart_uptime_seconds gauge\nrampart_uptime_seconds {}",
            uptime.as_secs()
        );
        o
    }
}

/// A label value: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_counted_by_action_and_policy_and_timed() {
        let m = Metrics::default();
        m.decision("deny", "no-\"rm\"", Duration::from_micros(3));
        m.decision("deny", "no-\"rm\"", Duration::from_micros(30));
        m.decision("allow", "", Duration::from_millis(50));
        m.reload(true);
        let text = m.render(2, 7, Duration::from_secs(1));
        assert!(
            text.contains("rampart_decisions_total{action=\"deny\",policy=\"no-\\\"rm\\\"\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("rampart_eval_duration_seconds_bucket{le=\"0.000005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("rampart_eval_duration_seconds_bucket{le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(text.contains("rampart_pending_approvals 2"));
        assert!(text.contains("rampart_policy_reload_failures_total 1"));
        assert!(text.contains("rampart_snapshot_generation 7"));
    }
}
