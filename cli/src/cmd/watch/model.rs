//! What the watch view knows, with no terminal in sight: the feed of
//! decisions, the counts, the pending approvals, the filters, pause, scroll
//! and selection. Keys and updates go in; the view reads it out. Everything
//! here is plain data, so it is tested without drawing.

use daemon::audit::AuditRecord;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};

/// Decisions kept in the feed (older ones scroll out; counts keep them).
pub const FEED_LIMIT: usize = 5000;

/// The decision filter cycles through these (then back to none).
pub const DECISIONS: [&str; 4] = ["deny", "ask", "watch", "allow"];

/// One decision in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// RFC 3339 UTC, as recorded (or as received, for an event that
    /// carries no time).
    pub time: String,
    /// `allow`, `watch`, `ask`, `deny`.
    pub decision: String,
    /// The agent, empty when unset.
    pub agent: String,
    /// `exec`, `read`, `write`, `fetch`.
    pub tool: String,
    /// The command, path or URL.
    pub target: String,
    /// The deciding policy (empty: the default action).
    pub policy: String,
    /// The deciding rule's message.
    pub message: String,
    /// For `ask`: `approved`, `denied`, `timeout`…
    pub approval: Option<String>,
    /// The deciding process (the daemon's for API decisions; 0 when
    /// unknown).
    pub pid: u32,
}

impl Decision {
    /// From an audit record (the files, or the spool not yet ingested).
    /// `None` for ingest notes.
    pub fn from_record(r: &AuditRecord) -> Option<Decision> {
        if r.decision.is_empty() {
            return None;
        }
        Some(Decision {
            time: r.time.clone(),
            decision: r.decision.clone(),
            agent: r.agent.clone(),
            tool: r.tool.clone(),
            target: r.target().to_string(),
            policy: r.policies.first().cloned().unwrap_or_default(),
            message: r.message.clone(),
            approval: r.approval.clone(),
            pid: r.pid,
        })
    }

    /// From a `decision` event of the daemon's stream; `now` stamps events
    /// that carry no time (an older daemon's API decisions). Library and
    /// API decisions carry their audit record's time and pid, so the same
    /// decision read from the files has the same [`Decision::key`].
    pub fn from_event(v: &Value, now: &str) -> Option<Decision> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let decision = s("decision");
        if decision.is_empty() {
            return None;
        }
        let target = ["command", "path", "url"]
            .iter()
            .map(|k| s(k))
            .find(|t| !t.is_empty())
            .unwrap_or_default();
        let time = match s("time") {
            t if t.is_empty() => now.to_string(),
            t => t,
        };
        let policy = match s("policy") {
            p if p.is_empty() => v["matched_policies"][0].as_str().unwrap_or("").to_string(),
            p => p,
        };
        Some(Decision {
            time,
            decision,
            agent: s("agent"),
            tool: s("tool"),
            target,
            policy,
            message: s("message"),
            approval: v.get("approval").and_then(Value::as_str).map(String::from),
            pid: v.get("pid").and_then(Value::as_u64).unwrap_or(0) as u32,
        })
    }

    /// What identifies one decision whether it was read from the spool,
    /// the chain or the stream (`None`: no identity; never deduplicated).
    fn key(&self) -> Option<(String, u32, String)> {
        (!self.time.is_empty() && self.pid != 0)
            .then(|| (self.time.clone(), self.pid, self.target.clone()))
    }

    /// `2026-11-22T01:02:03Z`: the time to the second.
    pub fn time_to_second(&self) -> String {
        match self.time.get(..19) {
            Some(t) if self.time.len() > 19 => format!("{t}Z"),
            _ => self.time.clone(),
        }
    }

    /// The line printed when stdout is not a terminal:
    /// `2026-11-22T01:02:03Z deny  codex  rm -rf ~  [policy] message`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} {:<5}  {}  {}",
            self.time_to_second(),
            self.decision,
            if self.agent.is_empty() {
                "-"
            } else {
                &self.agent
            },
            self.target
        );
        if !self.policy.is_empty() {
            s.push_str(&format!("  [{}]", self.policy));
        }
        if let Some(a) = &self.approval {
            s.push_str(&format!(" ({a})"));
        }
        if !self.message.is_empty() {
            s.push_str(&format!(" {}", self.message));
        }
        one_line(&s)
    }
}

/// Control characters (a newline in a command, an escape sequence in a
/// message) shown as `?`: one event, one line, no terminal tricks.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A call waiting for a human.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Approval {
    /// What `approve`/`deny` take.
    pub id: String,
    /// Unix seconds when it was asked.
    pub created: f64,
    pub agent: String,
    pub command: String,
    pub policy: String,
    pub message: String,
}

impl Approval {
    /// From the daemon's approval JSON (`GET /v1/approvals`, events).
    pub fn from_json(v: &Value) -> Option<Approval> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let id = s("id");
        if id.is_empty() {
            return None;
        }
        Some(Approval {
            id,
            created: v["created"].as_f64().unwrap_or(0.0),
            agent: s("agent"),
            command: s("command"),
            policy: v["policies"][0].as_str().unwrap_or("").to_string(),
            message: s("message"),
        })
    }
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Link {
    /// Not yet known.
    #[default]
    Starting,
    /// The daemon's event stream: approvals work.
    Daemon { pid: u64, generation: u64 },
    /// No daemon: following the audit files.
    Files,
}

/// Something the data source learned.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Recent decisions from the files, oldest first (at start).
    History(Vec<Decision>),
    /// A new decision.
    Decision(Decision),
    /// A decision from the daemon's event stream, with the stream's id
    /// for it (what tells whether the daemon's totals already count it).
    Streamed { id: Option<u64>, decision: Decision },
    /// The daemon's decision totals since it started (`GET
    /// /v1/events/recent`), as of its stream event `last_id`.
    Totals(DaemonTotals),
    /// Connected to the daemon; its pending approvals, oldest first.
    Connected {
        pid: u64,
        generation: u64,
        pending: Vec<Approval>,
    },
    /// The daemon went away (or was never there): following the files.
    Disconnected,
    /// A call started waiting.
    ApprovalCreated(Approval),
    /// A call stopped waiting: `status` is `approved` or `denied` (by a
    /// human, the timeout or a shutdown).
    ApprovalResolved { id: String, status: String },
    /// The policies were reloaded: the new generation, or the error.
    Reload {
        generation: u64,
        error: Option<String>,
    },
    /// The stream dropped this many events (a slow reader).
    Lagged(u64),
}

/// A key, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    Enter,
    Esc,
    Backspace,
    CtrlC,
}

/// What a key asks the program to do beyond changing the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    /// Resolve approval `id`.
    Resolve {
        id: String,
        approved: bool,
    },
}

/// Decision totals: since the view started (history included), or the
/// daemon's since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub allow: u64,
    pub deny: u64,
    pub ask: u64,
    pub watch: u64,
}

/// The daemon's decision totals since it started, kept current from its
/// stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DaemonTotals {
    /// When the daemon started (Unix seconds).
    pub since: f64,
    pub counts: Counts,
    /// The last stream event these counts include: a streamed decision
    /// with a higher id is counted, one at or below it already was.
    pub last_id: u64,
}

impl DaemonTotals {
    /// From `GET /v1/events/recent`'s `since`, `last_id` and `totals`.
    pub fn from_json(v: &Value) -> Option<DaemonTotals> {
        let totals = v.get("totals")?.as_object()?;
        let n = |k: &str| totals.get(k).and_then(Value::as_u64).unwrap_or(0);
        Some(DaemonTotals {
            since: v["since"].as_f64().unwrap_or(0.0),
            counts: Counts {
                allow: n("allow"),
                deny: n("deny"),
                ask: n("ask"),
                watch: n("watch"),
            },
            last_id: v["last_id"].as_u64()?,
        })
    }
}

/// What the header's counts cover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CountScope {
    /// The daemon's totals since it started at this Unix time.
    Daemon { since: f64 },
    /// What this view has seen (no daemon, or one that keeps no totals).
    View,
}

impl Counts {
    fn add(&mut self, decision: &str) {
        match decision {
            "allow" => self.allow += 1,
            "deny" => self.deny += 1,
            "ask" => self.ask += 1,
            "watch" => self.watch += 1,
            _ => {}
        }
    }
}

/// The whole state of the view.
#[derive(Debug, Default)]
pub struct Watch {
    /// Oldest first; each with its arrival number.
    feed: VecDeque<(u64, Decision)>,
    arrivals: u64,
    seen: HashSet<(String, u32, String)>,
    /// Decisions this view has seen.
    pub counts: Counts,
    /// The daemon's totals, while connected to one that reports them.
    pub daemon_totals: Option<DaemonTotals>,
    pub pending: Vec<Approval>,
    /// Index into `pending`.
    pub selected: usize,
    pub link: Link,
    /// Only this decision (`deny`, `ask`, `watch`, `allow`).
    pub decision_filter: Option<String>,
    /// Only this agent.
    pub agent_filter: Option<String>,
    /// Frozen at this arrival number: later decisions wait below the fold.
    pub paused_at: Option<u64>,
    /// Rows scrolled down from the newest shown decision.
    pub scroll: usize,
    /// Typing an agent filter (`/`): the text so far.
    pub typing: Option<String>,
    /// A one-line note for the footer (the last action's result).
    pub note: Option<String>,
    /// The last reload's error, if it failed.
    pub reload_error: Option<String>,
    /// Events the stream dropped.
    pub lagged: u64,
}

impl Watch {
    /// A view with the filters given on the command line.
    pub fn new(agent: Option<String>, decision: Option<String>) -> Watch {
        Watch {
            agent_filter: agent,
            decision_filter: decision,
            ..Watch::default()
        }
    }

    /// Are approvals possible (a daemon is connected)?
    pub fn approvals_available(&self) -> bool {
        matches!(self.link, Link::Daemon { .. })
    }

    /// Take an update in.
    pub fn apply(&mut self, u: Update) {
        match u {
            Update::History(list) => {
                for d in list {
                    self.push(d);
                }
            }
            Update::Decision(d) => {
                self.push(d);
            }
            Update::Streamed { id, decision } => {
                self.push_streamed(id, decision);
            }
            Update::Totals(t) => self.daemon_totals = Some(t),
            Update::Connected {
                pid,
                generation,
                pending,
            } => {
                self.link = Link::Daemon { pid, generation };
                self.pending = pending;
                self.clamp_selection();
            }
            Update::Disconnected => {
                self.link = Link::Files;
                self.daemon_totals = None;
                self.pending.clear();
                self.selected = 0;
            }
            Update::ApprovalCreated(a) => {
                if !self.pending.iter().any(|p| p.id == a.id) {
                    self.pending.push(a);
                }
            }
            Update::ApprovalResolved { id, .. } => {
                self.pending.retain(|p| p.id != id);
                self.clamp_selection();
            }
            Update::Reload { generation, error } => {
                if let Link::Daemon { generation: g, .. } = &mut self.link {
                    *g = generation;
                }
                self.reload_error = error;
            }
            Update::Lagged(n) => self.lagged += n,
        }
    }

    /// Add a decision unless it was seen already (the spool, then the
    /// chain, then the stream can each show the same one). Returns whether
    /// it was new.
    pub fn push(&mut self, d: Decision) -> bool {
        if let Some(k) = d.key() {
            if !self.seen.insert(k) {
                return false;
            }
            if self.seen.len() > 4 * FEED_LIMIT {
                // Keep only the keys of what is still in the feed.
                self.seen = self.feed.iter().filter_map(|(_, d)| d.key()).collect();
                self.seen.extend(d.key());
            }
        }
        self.counts.add(&d.decision);
        self.arrivals += 1;
        self.feed.push_back((self.arrivals, d));
        if self.feed.len() > FEED_LIMIT {
            self.feed.pop_front();
        }
        true
    }

    /// A decision from the daemon's stream: counted in the daemon's totals
    /// unless they already include it, and added to the feed unless seen.
    pub fn push_streamed(&mut self, id: Option<u64>, d: Decision) -> bool {
        if let Some(t) = &mut self.daemon_totals {
            match id {
                Some(id) if id <= t.last_id => {}
                Some(id) => {
                    t.counts.add(&d.decision);
                    t.last_id = id;
                }
                None => t.counts.add(&d.decision),
            }
        }
        self.push(d)
    }

    /// The counts the header shows, and what they cover: the daemon's
    /// totals when connected to a daemon that reports them, else what this
    /// view has seen.
    pub fn header_counts(&self) -> (Counts, CountScope) {
        match (&self.link, &self.daemon_totals) {
            (Link::Daemon { .. }, Some(t)) => (t.counts, CountScope::Daemon { since: t.since }),
            _ => (self.counts, CountScope::View),
        }
    }

    fn passes(&self, d: &Decision) -> bool {
        self.decision_filter
            .as_deref()
            .is_none_or(|f| f == d.decision)
            && self.agent_filter.as_deref().is_none_or(|f| f == d.agent)
    }

    /// The decisions the filters let through, newest first, as of the
    /// pause if paused.
    pub fn shown(&self) -> impl Iterator<Item = &Decision> {
        let until = self.paused_at.unwrap_or(u64::MAX);
        self.feed
            .iter()
            .rev()
            .filter(move |(n, _)| *n <= until)
            .map(|(_, d)| d)
            .filter(|d| self.passes(d))
    }

    /// How many decisions arrived since the pause (all, unfiltered).
    pub fn held(&self) -> u64 {
        self.paused_at.map_or(0, |p| self.arrivals - p)
    }

    /// The page of the feed that `rows` rows show, after the scroll.
    pub fn page(&self, rows: usize) -> Vec<&Decision> {
        self.shown().skip(self.scroll).take(rows).collect()
    }

    /// Agents seen in the feed, sorted.
    pub fn agents(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .feed
            .iter()
            .map(|(_, d)| d.agent.clone())
            .filter(|a| !a.is_empty())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        v.sort();
        v
    }

    fn clamp_selection(&mut self) {
        self.selected = self.selected.min(self.pending.len().saturating_sub(1));
    }

    fn pause(&mut self) {
        if self.paused_at.is_none() {
            self.paused_at = Some(self.arrivals);
        }
    }

    fn resume(&mut self) {
        self.paused_at = None;
        self.scroll = 0;
    }

    /// A key pressed; `page` is the feed's height in rows (for PgUp/PgDn).
    pub fn key(&mut self, key: Key, page: usize) -> Action {
        if let Some(text) = &mut self.typing {
            match key {
                Key::Enter => {
                    let t = text.trim().to_string();
                    self.agent_filter = (!t.is_empty()).then_some(t);
                    self.typing = None;
                    self.scroll = 0;
                }
                Key::Esc | Key::CtrlC => self.typing = None,
                Key::Backspace => {
                    text.pop();
                }
                Key::Char(c) if !c.is_control() && text.len() < 128 => text.push(c),
                _ => {}
            }
            return Action::None;
        }
        self.note = None;
        let page = page.max(1);
        match key {
            Key::Char('q') | Key::CtrlC | Key::Esc => return Action::Quit,
            Key::Up | Key::Char('k') => self.selected = self.selected.saturating_sub(1),
            Key::Down | Key::Char('j') => {
                self.selected = (self.selected + 1).min(self.pending.len().saturating_sub(1))
            }
            Key::Char(c @ ('a' | 'd')) => {
                let approved = c == 'a';
                if !self.approvals_available() {
                    self.note =
                        Some("approvals unavailable — rampart serve is not running".to_string());
                } else if let Some(p) = self.pending.get(self.selected) {
                    return Action::Resolve {
                        id: p.id.clone(),
                        approved,
                    };
                } else {
                    self.note = Some("nothing is waiting for approval".to_string());
                }
            }
            Key::Char('f') => {
                self.decision_filter = match self.decision_filter.as_deref() {
                    None => Some(DECISIONS[0].to_string()),
                    Some(cur) => DECISIONS
                        .iter()
                        .position(|d| *d == cur)
                        .and_then(|i| DECISIONS.get(i + 1))
                        .map(|d| d.to_string()),
                };
                self.scroll = 0;
            }
            Key::Char('g') => {
                let agents = self.agents();
                self.agent_filter = match self.agent_filter.as_deref() {
                    None => agents.first().cloned(),
                    Some(cur) => agents
                        .iter()
                        .position(|a| a == cur)
                        .and_then(|i| agents.get(i + 1))
                        .cloned(),
                };
                self.scroll = 0;
            }
            Key::Char('/') => self.typing = Some(String::new()),
            Key::Char('c') => {
                self.decision_filter = None;
                self.agent_filter = None;
                self.scroll = 0;
            }
            Key::Char('p' | ' ') => {
                if self.paused_at.is_some() {
                    self.resume();
                } else {
                    self.pause();
                }
            }
            Key::PageDown => {
                let total = self.shown().count();
                let max = total.saturating_sub(1);
                if max > 0 {
                    // Reading back in time: hold the feed still meanwhile.
                    self.pause();
                    self.scroll = (self.scroll + page).min(max);
                }
            }
            Key::PageUp => self.scroll = self.scroll.saturating_sub(page),
            Key::Home => self.scroll = 0,
            _ => {}
        }
        Action::None
    }

    /// The result of resolving `id`: on success it leaves the list at once
    /// (the stream's `approval.resolved` follows).
    pub fn resolved(&mut self, id: &str, approved: bool, result: Result<(), String>) {
        match result {
            Ok(()) => {
                let what = self
                    .pending
                    .iter()
                    .find(|p| p.id == id)
                    .map(|p| p.command.clone())
                    .unwrap_or_default();
                self.apply(Update::ApprovalResolved {
                    id: id.to_string(),
                    status: if approved { "approved" } else { "denied" }.to_string(),
                });
                self.note = Some(one_line(&format!(
                    "{} {id}: {what}",
                    if approved { "approved" } else { "denied" }
                )));
            }
            Err(e) => self.note = Some(one_line(&format!("{id}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(n: u32, decision: &str, agent: &str) -> Decision {
        Decision {
            time: format!("2026-11-22T01:02:{:02}.000001Z", n % 60),
            decision: decision.into(),
            agent: agent.into(),
            tool: "exec".into(),
            target: format!("cmd {n}"),
            policy: "p".into(),
            message: "m".into(),
            approval: None,
            pid: 1000 + n,
        }
    }

    fn approval(id: &str) -> Approval {
        Approval {
            id: id.into(),
            command: format!("touch {id}"),
            ..Approval::default()
        }
    }

    fn connected(w: &mut Watch, ids: &[&str]) {
        w.apply(Update::Connected {
            pid: 1,
            generation: 2,
            pending: ids.iter().map(|i| approval(i)).collect(),
        });
    }

    fn targets(w: &Watch) -> Vec<String> {
        w.shown().map(|d| d.target.clone()).collect()
    }

    #[test]
    fn the_feed_is_newest_first_and_counts_every_decision() {
        let mut w = Watch::default();
        w.apply(Update::History(vec![
            dec(1, "allow", "a"),
            dec(2, "deny", "a"),
        ]));
        w.apply(Update::Decision(dec(3, "ask", "b")));
        w.apply(Update::Decision(dec(4, "watch", "b")));
        assert_eq!(targets(&w), ["cmd 4", "cmd 3", "cmd 2", "cmd 1"]);
        assert_eq!(
            w.counts,
            Counts {
                allow: 1,
                deny: 1,
                ask: 1,
                watch: 1
            }
        );
    }

    #[test]
    fn a_decision_seen_in_the_spool_and_again_on_the_stream_is_shown_once() {
        let mut w = Watch::default();
        assert!(w.push(dec(1, "deny", "a")));
        assert!(!w.push(dec(1, "deny", "a")));
        assert_eq!(w.shown().count(), 1);
        assert_eq!(w.counts.deny, 1);
        // No pid (an older daemon's API decisions): never merged.
        let api = Decision {
            pid: 0,
            ..dec(2, "allow", "")
        };
        assert!(w.push(api.clone()));
        assert!(w.push(api));
    }

    #[test]
    fn the_feed_keeps_the_newest_decisions_up_to_its_limit() {
        let mut w = Watch::default();
        for n in 0..(FEED_LIMIT as u32 + 10) {
            w.push(Decision {
                time: format!("t{n}"),
                ..dec(n, "allow", "a")
            });
        }
        assert_eq!(w.shown().count(), FEED_LIMIT);
        assert_eq!(w.counts.allow, FEED_LIMIT as u64 + 10);
        assert_eq!(
            w.shown().next().unwrap().target,
            format!("cmd {}", FEED_LIMIT + 9)
        );
    }

    #[test]
    fn filters_by_decision_cycle_and_by_agent_narrow_the_feed_but_not_the_counts() {
        let mut w = Watch::default();
        for (i, (d, a)) in [("deny", "codex"), ("allow", "codex"), ("deny", "claude")]
            .iter()
            .enumerate()
        {
            w.push(dec(i as u32, d, a));
        }
        w.key(Key::Char('f'), 10);
        assert_eq!(w.decision_filter.as_deref(), Some("deny"));
        assert_eq!(targets(&w), ["cmd 2", "cmd 0"]);
        w.key(Key::Char('g'), 10);
        assert_eq!(w.agent_filter.as_deref(), Some("claude"));
        assert_eq!(targets(&w), ["cmd 2"]);
        w.key(Key::Char('g'), 10);
        assert_eq!(w.agent_filter.as_deref(), Some("codex"));
        assert_eq!(targets(&w), ["cmd 0"]);
        w.key(Key::Char('g'), 10);
        assert_eq!(w.agent_filter, None);
        for want in ["ask", "watch", "allow"] {
            w.key(Key::Char('f'), 10);
            assert_eq!(w.decision_filter.as_deref(), Some(want));
        }
        w.key(Key::Char('f'), 10);
        assert_eq!(w.decision_filter, None);
        assert_eq!(w.counts.deny, 2);
        w.key(Key::Char('f'), 10);
        w.key(Key::Char('c'), 10);
        assert_eq!(
            (w.decision_filter.clone(), w.agent_filter.clone()),
            (None, None)
        );
    }

    #[test]
    fn an_agent_filter_can_be_typed_and_cancelled() {
        let mut w = Watch::new(None, None);
        w.push(dec(1, "deny", "codex"));
        w.push(dec(2, "deny", "claude"));
        w.key(Key::Char('/'), 10);
        // While typing, keys are text: `q` does not quit.
        for c in "codexq".chars() {
            assert_eq!(w.key(Key::Char(c), 10), Action::None);
        }
        w.key(Key::Backspace, 10);
        w.key(Key::Enter, 10);
        assert_eq!(w.agent_filter.as_deref(), Some("codex"));
        assert_eq!(targets(&w), ["cmd 1"]);
        w.key(Key::Char('/'), 10);
        w.key(Key::Char('x'), 10);
        w.key(Key::Esc, 10);
        assert_eq!(w.agent_filter.as_deref(), Some("codex"));
        assert_eq!(w.typing, None);
        // An empty entry clears it.
        w.key(Key::Char('/'), 10);
        w.key(Key::Enter, 10);
        assert_eq!(w.agent_filter, None);
    }

    #[test]
    fn pause_holds_the_feed_still_and_resume_shows_what_arrived() {
        let mut w = Watch::default();
        w.push(dec(1, "allow", "a"));
        w.key(Key::Char('p'), 10);
        w.push(dec(2, "deny", "a"));
        w.push(dec(3, "deny", "a"));
        assert_eq!(targets(&w), ["cmd 1"]);
        assert_eq!(w.held(), 2);
        assert_eq!(w.counts.deny, 2, "counts keep counting while paused");
        w.key(Key::Char(' '), 10);
        assert_eq!(targets(&w), ["cmd 3", "cmd 2", "cmd 1"]);
        assert_eq!(w.held(), 0);
    }

    #[test]
    fn scrolling_pages_back_in_time_pauses_and_stops_at_the_oldest() {
        let mut w = Watch::default();
        for n in 0..25 {
            w.push(dec(n, "allow", "a"));
        }
        assert_eq!(w.page(10)[0].target, "cmd 24");
        w.key(Key::PageDown, 10);
        assert!(w.paused_at.is_some());
        assert_eq!(w.page(10)[0].target, "cmd 14");
        w.push(dec(99, "deny", "a"));
        assert_eq!(w.page(10)[0].target, "cmd 14", "the page does not move");
        w.key(Key::PageDown, 10);
        w.key(Key::PageDown, 10);
        w.key(Key::PageDown, 10);
        assert_eq!(w.scroll, 24);
        assert_eq!(w.page(10).len(), 1);
        w.key(Key::PageUp, 10);
        assert_eq!(w.scroll, 14);
        w.key(Key::Char('p'), 10);
        assert_eq!((w.scroll, w.paused_at), (0, None));
        assert_eq!(w.page(10)[0].target, "cmd 99");
    }

    #[test]
    fn approve_and_deny_resolve_the_selected_approval() {
        let mut w = Watch::default();
        connected(&mut w, &["aa", "bb", "cc"]);
        assert_eq!(
            w.key(Key::Char('a'), 10),
            Action::Resolve {
                id: "aa".into(),
                approved: true
            }
        );
        w.key(Key::Down, 10);
        w.key(Key::Char('j'), 10);
        w.key(Key::Char('j'), 10);
        assert_eq!(w.selected, 2);
        w.key(Key::Char('k'), 10);
        assert_eq!(
            w.key(Key::Char('d'), 10),
            Action::Resolve {
                id: "bb".into(),
                approved: false
            }
        );
        w.resolved("bb", false, Ok(()));
        assert_eq!(w.note.as_deref(), Some("denied bb: touch bb"));
        let ids: Vec<&str> = w.pending.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["aa", "cc"]);
        w.resolved("cc", true, Err("no pending approval cc".into()));
        assert_eq!(w.pending.len(), 2);
        assert!(w.note.as_deref().unwrap().contains("no pending approval"));
    }

    #[test]
    fn the_selection_stays_on_the_list_as_approvals_come_and_go() {
        let mut w = Watch::default();
        connected(&mut w, &["aa"]);
        w.apply(Update::ApprovalCreated(approval("bb")));
        w.apply(Update::ApprovalCreated(approval("bb")));
        assert_eq!(
            w.pending.len(),
            2,
            "an approval listed and announced is one"
        );
        w.key(Key::Down, 10);
        w.key(Key::Down, 10);
        assert_eq!(w.selected, 1);
        w.apply(Update::ApprovalResolved {
            id: "bb".into(),
            status: "approved".into(),
        });
        assert_eq!(w.selected, 0);
        w.apply(Update::ApprovalResolved {
            id: "aa".into(),
            status: "denied".into(),
        });
        assert_eq!(w.selected, 0);
        assert_eq!(w.key(Key::Char('a'), 10), Action::None);
        assert_eq!(w.note.as_deref(), Some("nothing is waiting for approval"));
    }

    #[test]
    fn without_a_daemon_approvals_are_unavailable() {
        let mut w = Watch::default();
        connected(&mut w, &["aa"]);
        w.apply(Update::Disconnected);
        assert!(w.pending.is_empty());
        assert_eq!(w.key(Key::Char('a'), 10), Action::None);
        assert!(w.note.as_deref().unwrap().contains("approvals unavailable"));
    }

    #[test]
    fn q_esc_and_ctrl_c_quit() {
        for k in [Key::Char('q'), Key::Esc, Key::CtrlC] {
            assert_eq!(Watch::default().key(k, 10), Action::Quit);
        }
    }

    #[test]
    fn a_reload_updates_the_generation_and_its_error() {
        let mut w = Watch::default();
        connected(&mut w, &[]);
        w.apply(Update::Reload {
            generation: 5,
            error: Some("p.yaml:3:1: bad".into()),
        });
        assert_eq!(
            w.link,
            Link::Daemon {
                pid: 1,
                generation: 5
            }
        );
        assert_eq!(w.reload_error.as_deref(), Some("p.yaml:3:1: bad"));
    }

    #[test]
    fn stream_events_and_records_become_the_same_decision() {
        let ev = serde_json::json!({
            "source": "library", "tool": "exec", "agent": "codex", "command": "/usr/bin/rm -rf /h",
            "path": null, "decision": "deny", "policy": "destructive", "matched_policies": ["destructive"],
            "message": "no", "time": "2026-11-22T01:02:03.123456Z", "pid": 42, "approval": null,
        });
        let from_event = Decision::from_event(&ev, "now").unwrap();
        let rec = AuditRecord {
            time: "2026-11-22T01:02:03.123456Z".into(),
            decision: "deny".into(),
            agent: "codex".into(),
            tool: "exec".into(),
            command: Some("/usr/bin/rm -rf /h".into()),
            policies: vec!["destructive".into()],
            message: "no".into(),
            pid: 42,
            ..Default::default()
        };
        assert_eq!(Decision::from_record(&rec).unwrap(), from_event);
        // An API decision: no time, the deciding policy named.
        let api = serde_json::json!({"decision": "allow", "path": "/etc/x", "policy": "", "matched_policies": ["m"]});
        let d = Decision::from_event(&api, "2026-11-22T00:00:00.000000Z").unwrap();
        assert_eq!((d.target.as_str(), d.policy.as_str()), ("/etc/x", "m"));
        assert_eq!(d.time, "2026-11-22T00:00:00.000000Z");
        assert!(Decision::from_event(&serde_json::json!({}), "now").is_none());
    }

    #[test]
    fn an_api_decision_on_the_stream_and_in_the_files_is_shown_once() {
        let ev = serde_json::json!({
            "source": "preflight", "tool": "exec", "command": "rm -rf /", "decision": "deny",
            "policy": "p", "matched_policies": ["p"], "message": "no",
            "time": "2026-11-22T01:02:03.000004Z", "pid": 4242, "seq": 9, "id": "0000000009",
        });
        let rec = AuditRecord {
            source: "api".into(),
            time: "2026-11-22T01:02:03.000004Z".into(),
            decision: "deny".into(),
            tool: "exec".into(),
            command: Some("rm -rf /".into()),
            policies: vec!["p".into()],
            message: "no".into(),
            pid: 4242,
            seq: 9,
            ..Default::default()
        };
        let mut w = Watch::default();
        assert!(w.push(Decision::from_record(&rec).unwrap()));
        assert!(!w.push_streamed(Some(3), Decision::from_event(&ev, "now").unwrap()));
        assert_eq!(w.shown().count(), 1);
        assert_eq!(w.counts.deny, 1);
    }

    fn totals(last_id: u64, deny: u64) -> DaemonTotals {
        DaemonTotals {
            since: 100.0,
            counts: Counts {
                deny,
                ..Counts::default()
            },
            last_id,
        }
    }

    #[test]
    fn with_a_daemon_the_header_counts_its_totals_and_each_streamed_decision_once() {
        let mut w = Watch::default();
        w.push(dec(1, "deny", "a"));
        assert_eq!(w.header_counts(), (w.counts, CountScope::View));
        connected(&mut w, &[]);
        w.apply(Update::Totals(totals(10, 7)));
        let (c, scope) = w.header_counts();
        assert_eq!((c.deny, scope), (7, CountScope::Daemon { since: 100.0 }));
        // Sent before the totals were read: already counted there.
        w.apply(Update::Streamed {
            id: Some(10),
            decision: dec(2, "deny", "a"),
        });
        assert_eq!(w.header_counts().0.deny, 7);
        // After: counted, even one the feed already shows.
        w.apply(Update::Streamed {
            id: Some(11),
            decision: dec(1, "deny", "a"),
        });
        w.apply(Update::Streamed {
            id: Some(12),
            decision: dec(3, "allow", "a"),
        });
        let (c, _) = w.header_counts();
        assert_eq!((c.deny, c.allow), (8, 1));
        assert_eq!(w.shown().count(), 3, "the feed shows each decision once");
        // The view's own counts go on (and are what it shows without one).
        assert_eq!((w.counts.deny, w.counts.allow), (2, 1));
        w.apply(Update::Disconnected);
        assert_eq!(w.header_counts(), (w.counts, CountScope::View));
        assert_eq!(w.daemon_totals, None);
    }

    #[test]
    fn the_daemons_totals_are_read_from_its_recent_events() {
        let v = serde_json::json!({"since": 1.5, "last_id": 40, "totals": {"allow": 3, "deny": 2, "unknown": 9}});
        let t = DaemonTotals::from_json(&v).unwrap();
        assert_eq!(
            t,
            DaemonTotals {
                since: 1.5,
                counts: Counts {
                    allow: 3,
                    deny: 2,
                    ask: 0,
                    watch: 0
                },
                last_id: 40
            }
        );
        assert!(DaemonTotals::from_json(&serde_json::json!({"error": "not found"})).is_none());
    }

    #[test]
    fn a_line_is_one_line_with_time_decision_agent_command_policy_and_message() {
        let d = Decision {
            time: "2026-11-22T01:02:03.123456Z".into(),
            decision: "deny".into(),
            agent: "codex".into(),
            target: "rm -rf ~\n\x1b[2J".into(),
            policy: "destructive-filesystem".into(),
            message: "Destructive command blocked".into(),
            ..Decision::default()
        };
        assert_eq!(
            d.line(),
            "2026-11-22T01:02:03Z deny   codex  rm -rf ~??[2J  [destructive-filesystem] Destructive command blocked"
        );
        let bare = Decision {
            time: "2026-11-22T01:02:03Z".into(),
            decision: "allow".into(),
            target: "ls".into(),
            ..Decision::default()
        };
        assert_eq!(bare.line(), "2026-11-22T01:02:03Z allow  -  ls");
    }

    #[test]
    fn approvals_are_read_from_the_daemons_json() {
        let v = serde_json::json!({"id": "1a2b3c4d", "created": 1.5, "agent": "codex",
            "command": "touch x", "policies": ["ask-touch"], "message": "ok?"});
        let a = Approval::from_json(&v).unwrap();
        assert_eq!(
            a,
            Approval {
                id: "1a2b3c4d".into(),
                created: 1.5,
                agent: "codex".into(),
                command: "touch x".into(),
                policy: "ask-touch".into(),
                message: "ok?".into()
            }
        );
        assert!(Approval::from_json(&serde_json::json!({})).is_none());
    }
}
