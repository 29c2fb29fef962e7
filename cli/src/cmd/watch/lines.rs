//! `rampart watch` when stdout is not a terminal: one plain line per event
//! (no escape codes, control characters shown as `?`), for a pipe, a file
//! or a log; whether the daemon is followed goes to stderr, once per change.
//!
//! The decisions already in the files at start are not printed (`rampart
//! audit tail` shows those); decisions read from the files later (on
//! connecting, on losing the daemon) are printed if they were not seen.

use super::model::{Decision, Update, Watch, one_line};

/// The printer's state: the model (for its filters and to drop a decision
/// seen twice) and what was said last on stderr.
#[derive(Debug)]
pub struct Lines {
    w: Watch,
    seen_history: bool,
    link: Option<String>,
}

impl Lines {
    pub fn new(w: Watch) -> Lines {
        Lines {
            w,
            seen_history: false,
            link: None,
        }
    }

    fn passes(&self, decision: &str, agent: &str) -> bool {
        self.w
            .decision_filter
            .as_deref()
            .is_none_or(|f| f == decision)
            && self.w.agent_filter.as_deref().is_none_or(|f| f == agent)
    }

    /// Take an update; the lines for stdout, and a line for stderr. `now`
    /// (RFC 3339) stamps approval lines.
    pub fn take(&mut self, u: Update, now: &str) -> (Vec<String>, Option<String>) {
        let stamp = Decision {
            time: now.to_string(),
            ..Decision::default()
        }
        .time_to_second();
        let mut out = vec![];
        let mut decisions = vec![];
        let mut link = None;
        match u {
            Update::Decision(d) => decisions.push((None, d)),
            Update::Streamed { id, decision } => decisions.push((Some(id), decision)),
            Update::History(list) if self.seen_history => {
                decisions = list.into_iter().map(|d| (None, d)).collect();
            }
            Update::History(list) => {
                self.seen_history = true;
                for d in list {
                    self.w.push(d);
                }
            }
            Update::ApprovalCreated(a) => {
                if self.passes("ask", &a.agent) {
                    out.push(one_line(&format!(
                        "{stamp} waiting {}  {}  {}  [{}] {} — rampart approve|deny {}",
                        a.id,
                        if a.agent.is_empty() { "-" } else { &a.agent },
                        a.command,
                        a.policy,
                        a.message,
                        a.id
                    )));
                }
                self.w.apply(Update::ApprovalCreated(a));
            }
            Update::ApprovalResolved { id, status } => {
                if self.w.decision_filter.as_deref().is_none_or(|f| f == "ask") {
                    out.push(one_line(&format!("{stamp} {status} {id}")));
                }
                self.w.apply(Update::ApprovalResolved { id, status });
            }
            u @ Update::Connected { pid, .. } => {
                link = Some(format!(
                    "rampart watch: following the daemon's event stream (pid {pid})"
                ));
                self.w.apply(u);
            }
            Update::Disconnected => {
                link = Some(
                    "rampart watch: approvals unavailable — rampart serve is not running; following the audit files"
                        .to_string(),
                );
                self.w.apply(Update::Disconnected);
            }
            u => self.w.apply(u),
        }
        for (streamed, d) in decisions {
            let pass = self.passes(&d.decision, &d.agent);
            let line = d.line();
            let new = match streamed {
                Some(id) => self.w.push_streamed(id, d),
                None => self.w.push(d),
            };
            if new && pass {
                out.push(line);
            }
        }
        let link = link.filter(|l| self.link.as_ref() != Some(l));
        if link.is_some() {
            self.link.clone_from(&link);
        }
        (out, link)
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::Approval;
    use super::*;

    const NOW: &str = "2026-11-22T01:02:03.456789Z";

    fn dec(n: u32, decision: &str, agent: &str) -> Decision {
        Decision {
            time: format!("2026-11-22T00:00:{n:02}.000000Z"),
            decision: decision.into(),
            agent: agent.into(),
            tool: "exec".into(),
            target: format!("cmd{n}"),
            pid: 10 + n,
            ..Decision::default()
        }
    }

    fn out(l: &mut Lines, u: Update) -> Vec<String> {
        l.take(u, NOW).0
    }

    #[test]
    fn what_was_there_at_start_is_not_printed_but_what_came_meanwhile_is() {
        let mut l = Lines::new(Watch::default());
        assert!(out(&mut l, Update::History(vec![dec(1, "deny", "a")])).is_empty());
        assert_eq!(
            out(&mut l, Update::Decision(dec(2, "deny", "a"))),
            ["2026-11-22T00:00:02Z deny   a  cmd2"]
        );
        // Read again on connecting: only the unseen one is printed.
        let again = Update::History(vec![
            dec(1, "deny", "a"),
            dec(2, "deny", "a"),
            dec(3, "allow", "a"),
        ]);
        assert_eq!(out(&mut l, again), ["2026-11-22T00:00:03Z allow  a  cmd3"]);
        assert!(out(&mut l, Update::Decision(dec(3, "allow", "a"))).is_empty());
        // From the stream: printed once, whatever else showed it.
        let streamed = |n| Update::Streamed {
            id: Some(u64::from(n)),
            decision: dec(n, "deny", "a"),
        };
        assert_eq!(
            out(&mut l, streamed(4)),
            ["2026-11-22T00:00:04Z deny   a  cmd4"]
        );
        assert!(out(&mut l, streamed(3)).is_empty());
        assert!(out(&mut l, Update::History(vec![dec(4, "deny", "a")])).is_empty());
    }

    #[test]
    fn filters_apply_to_decisions_and_approvals() {
        let mut l = Lines::new(Watch::new(Some("codex".into()), Some("deny".into())));
        out(&mut l, Update::History(vec![]));
        assert!(out(&mut l, Update::Decision(dec(1, "allow", "codex"))).is_empty());
        assert!(out(&mut l, Update::Decision(dec(2, "deny", "claude"))).is_empty());
        assert_eq!(
            out(&mut l, Update::Decision(dec(3, "deny", "codex"))).len(),
            1
        );
        let waiting = Approval {
            id: "ab12".into(),
            agent: "codex".into(),
            command: "touch x".into(),
            ..Approval::default()
        };
        assert!(out(&mut l, Update::ApprovalCreated(waiting)).is_empty());
    }

    #[test]
    fn approvals_print_when_they_start_and_stop_waiting() {
        let mut l = Lines::new(Watch::default());
        let waiting = Approval {
            id: "ab12".into(),
            agent: "codex".into(),
            command: "touch x\n".into(),
            policy: "ask-touch".into(),
            message: "sure?".into(),
            ..Approval::default()
        };
        assert_eq!(
            out(&mut l, Update::ApprovalCreated(waiting)),
            [
                "2026-11-22T01:02:03Z waiting ab12  codex  touch x?  [ask-touch] sure? — rampart approve|deny ab12"
            ]
        );
        let resolved = Update::ApprovalResolved {
            id: "ab12".into(),
            status: "denied".into(),
        };
        assert_eq!(out(&mut l, resolved), ["2026-11-22T01:02:03Z denied ab12"]);
    }

    #[test]
    fn the_link_is_said_on_stderr_once_per_change() {
        let mut l = Lines::new(Watch::default());
        let down = l.take(Update::Disconnected, NOW).1.unwrap();
        assert!(down.contains("approvals unavailable — rampart serve is not running"));
        assert_eq!(l.take(Update::Disconnected, NOW).1, None);
        let up = Update::Connected {
            pid: 7,
            generation: 1,
            pending: vec![],
        };
        let said = l.take(up, NOW).1.unwrap();
        assert!(
            said.contains("following the daemon's event stream (pid 7)"),
            "{said}"
        );
        assert!(l.take(Update::Disconnected, NOW).1.is_some());
    }
}
