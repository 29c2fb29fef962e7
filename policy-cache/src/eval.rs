//! `evaluate(snapshot, call) -> Decision`: the one evaluator.
//!
//! Evaluation order (POLICY.md): policies whose `match` covers the call, in
//! priority order; in each, the first rule that fires is its verdict; a
//! `deny` verdict ends evaluation; otherwise the strongest verdict wins
//! (`ask` > `watch` > `allow`); no verdict at all means `default_action`.
//!
//! Restrictive rules (`deny`, `ask`) fire when the raw command or **any**
//! segment satisfies their command conditions; granting rules (`allow`,
//! `watch`) only when **every** segment does (or the raw command does).
//!
//! Two refinements:
//!
//! - A `watch` rule that covers only some segments (`cd pkg && npm publish`
//!   for `npm publish*`) still **flags** the call: a decision that would
//!   have been `allow` (by a rule or by `default_action`) becomes `watch`.
//!   It never grants: under `default_action: deny` the call stays denied,
//!   and a stronger verdict (`ask`, `deny`) stands.
//! - A restrictive rule's `command_not_matches` exemptions are written for
//!   segments (`kubectl *`), which a wrapped call's raw command never
//!   matches (`bash -lc 'kubectl …'`, `/usr/bin/kubectl …`). The raw
//!   command therefore counts as exempt when **every** segment is; a
//!   segment that is not exempt still fires on its own.

use crate::bytes::{contains_ci, program_bit, sub};
use crate::glob::{match_command, match_path};
use crate::normalise::{self, Argv, Failure, Normalised, Unit};
use crate::snapshot::layout::*;
use crate::snapshot::{Action, CondKind, INDEX_NONE, Snapshot, trigram_bucket};

/// Longest field that is matched (command, path, URL…). Longer input is
/// denied, never truncated. Exec arguments cannot exceed this on Linux
/// (ARG_MAX is 2 MiB), and agents' `bash -c` scripts stay well below it.
pub const MAX_FIELD: usize = 4 << 20;

/// Most policy indices a decision lists as having fired.
pub const MAX_FIRED: usize = 16;

/// What is being decided.
#[derive(Clone, Copy)]
pub enum Command<'a> {
    /// A shell string (`system`, `popen`, an API `command` parameter).
    Shell(&'a [u8]),
    /// An argument vector (`execve`, `posix_spawn`).
    Argv(&'a dyn Argv),
}

impl core::fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Command::Shell(s) => f.debug_tuple("Shell").field(&s.len()).finish(),
            Command::Argv(a) => f.debug_tuple("Argv").field(&a.count()).finish(),
        }
    }
}

impl Command<'_> {
    fn len(&self) -> usize {
        match self {
            Command::Shell(s) => s.len(),
            Command::Argv(a) => (0..a.count()).map(|i| a.arg(i).len() + 1).sum(),
        }
    }
}

/// One call to decide.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// `exec`, `read`, `write`, `fetch`, …
    pub tool: &'a [u8],
    /// The agent (`codex`, `claude-code`, …); empty when unknown.
    pub agent: &'a [u8],
    /// The session name; empty when unknown.
    pub session: &'a [u8],
    /// The command, for exec-like tools.
    pub command: Option<Command<'a>>,
    /// The path, for file tools.
    pub path: Option<&'a [u8]>,
    /// The URL, for fetch-like tools.
    pub url: Option<&'a [u8]>,
    /// Named parameters, for `tool_param_matches`.
    pub params: &'a [(&'a [u8], &'a [u8])],
    /// The user's home directory (for `~`).
    pub home: &'a [u8],
}

impl<'a> Call<'a> {
    /// An `exec` call with no agent or session.
    pub fn exec(command: Command<'a>, home: &'a [u8]) -> Self {
        Call {
            tool: b"exec",
            agent: b"",
            session: b"",
            command: Some(command),
            path: None,
            url: None,
            params: &[],
            home,
        }
    }
}

/// Why a decision came out as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A policy's rule decided.
    Rule,
    /// No policy had a verdict: `default_action`.
    Default,
    /// A field was over [`MAX_FIELD`].
    TooLong,
    /// The command could not be normalised.
    Unparsable(Failure),
}

/// The verdict, with what a person needs to understand it.
#[must_use = "a decision must be enforced"]
#[derive(Clone, Copy, Debug)]
pub struct Decision<'s> {
    /// allow, watch, ask or deny.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// Index of the deciding policy.
    pub policy: Option<u32>,
    /// Index of the deciding rule.
    pub rule: Option<u32>,
    /// The deciding rule's message.
    pub message: &'s [u8],
    fired: [u32; MAX_FIRED],
    fired_len: usize,
    /// How many policies fired (may exceed [`MAX_FIRED`]).
    pub fired_total: usize,
}

impl<'s> Decision<'s> {
    fn fixed(action: Action, reason: Reason, message: &'s [u8]) -> Self {
        Decision {
            action,
            reason,
            policy: None,
            rule: None,
            message,
            fired: [0; MAX_FIRED],
            fired_len: 0,
            fired_total: 0,
        }
    }
    /// `allow` and `watch` let the call run.
    pub fn allowed(&self) -> bool {
        matches!(self.action, Action::Allow | Action::Watch)
    }
    /// Indices of the policies that fired, in evaluation order.
    pub fn fired(&self) -> &[u32] {
        self.fired.get(..self.fired_len).unwrap_or(&[])
    }
}

/// Scratch bytes [`evaluate`] needs for `call` (a stack buffer of this size,
/// or an anonymous mapping for large commands).
pub fn scratch_needed(call: &Call<'_>) -> usize {
    let cmd = call.command.map_or(0, |c| c.len());
    let path = call.path.map_or(0, |p| p.len() + 2);
    normalise::scratch_size(cmd) + path
}

struct Ctx<'c, 's> {
    snap: &'c Snapshot<'s>,
    call: &'c Call<'c>,
    norm: Option<&'c Normalised<'c>>,
    path: Option<&'c [u8]>,
    bloom: u64,
    /// Rules worth trying (bit per rule), from the snapshot's trigram
    /// index; `None`: try every rule.
    candidates: Option<&'c Candidates>,
}

/// Candidate rules and patterns (a bit each, on the stack), from the
/// snapshot's n-gram index. A pattern not marked cannot match any unit of
/// the call: its key n-gram occurs in every text it matches, and every text
/// a pattern is matched against was scanned. A rule not marked cannot
/// fire: none of the patterns of a condition it needs is marked. Hash
/// collisions only add candidates.
struct Candidates {
    rules: [u64; MAX_INDEXED_RULES / 64],
    pats: [u64; MAX_INDEXED_PATTERNS / 64],
}

fn bit(set: &[u64], i: u32) -> bool {
    set.get((i / 64) as usize)
        .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
}

fn set_bit(set: &mut [u64], i: u32) {
    if let Some(w) = set.get_mut((i / 64) as usize) {
        *w |= 1u64 << (i % 64);
    }
}

impl Candidates {
    fn mark(&mut self, (pat, rule): (u32, u32)) {
        if pat != INDEX_NONE {
            set_bit(&mut self.pats, pat);
        }
        if rule != INDEX_NONE {
            set_bit(&mut self.rules, rule);
        }
    }
}

/// Fill `out` from the call's n-grams; false when the snapshot has no
/// index (then everything is tried).
fn candidates(snap: &Snapshot<'_>, norm: Option<&Normalised<'_>>, out: &mut Candidates) -> bool {
    let Some(ix) = snap.index() else { return false };
    for e in ix.always() {
        out.mark(e);
    }
    // Buckets already visited (the same n-gram recurs in every unit).
    let mut seen = [0u64; 64];
    let mut visit = |bucket: usize, out: &mut Candidates| {
        if let Some(s) = seen.get_mut(bucket / 64) {
            let b = 1u64 << (bucket % 64);
            if *s & b != 0 {
                return;
            }
            *s |= b;
        }
        for e in ix.bucket(bucket) {
            out.mark(e);
        }
    };
    // Every trigram and bigram (a bigram hashes as (a, b, NUL)).
    let mut scan = |text: &[u8], out: &mut Candidates| {
        let mut prev2: Option<u8> = None;
        let mut prev1: Option<u8> = None;
        for &c in text {
            if let Some(b) = prev1 {
                visit(trigram_bucket(b, c, 0, ix.log2), out);
                if let Some(a) = prev2 {
                    visit(trigram_bucket(a, b, c, ix.log2), out);
                }
            }
            prev2 = prev1;
            prev1 = Some(c);
        }
    };
    if let Some(n) = norm {
        scan(n.raw().text, out);
        for u in n.segments() {
            scan(u.text, out);
            scan(u.names, out);
        }
    }
    true
}

/// Decide `call` against `snap`. `scratch` should be at least
/// [`scratch_needed`] bytes; a smaller one makes large commands deny
/// ("too complex"), never allow.
pub fn evaluate<'s>(snap: &Snapshot<'s>, call: &Call<'_>, scratch: &mut [u8]) -> Decision<'s> {
    match with_ctx(snap, call, scratch, true, |ctx| decide(ctx)) {
        Ok(d) | Err(d) => d,
    }
}

/// [`evaluate`] without the rule index: for tests that check the index
/// never changes a decision.
#[doc(hidden)]
pub fn evaluate_unindexed<'s>(
    snap: &Snapshot<'s>,
    call: &Call<'_>,
    scratch: &mut [u8],
) -> Decision<'s> {
    match with_ctx(snap, call, scratch, false, |ctx| decide(ctx)) {
        Ok(d) | Err(d) => d,
    }
}

/// What `rampart policy explain` shows: the segments, every rule that
/// fires (not only the first of each policy), and the decision.
pub fn explain<'s>(
    snap: &Snapshot<'s>,
    call: &Call<'_>,
    scratch: &mut [u8],
    on_segment: &mut dyn FnMut(&Unit<'_>),
    on_rule: &mut dyn FnMut(u32, u32),
) -> Decision<'s> {
    let r = with_ctx(snap, call, scratch, false, |ctx| {
        if let Some(n) = ctx.norm {
            for u in n.segments() {
                on_segment(&u);
            }
        }
        for pi in 0..snap.policy_count() {
            if !policy_covers(ctx, pi) {
                continue;
            }
            let p = snap.policy(pi);
            for ri in p.get(3)..p.get(3).saturating_add(p.get(4)) {
                if rule_fires(ctx, ri) || flags_call(ctx, ri) {
                    on_rule(pi as u32, ri);
                }
            }
        }
        decide(ctx)
    });
    match r {
        Ok(d) | Err(d) => d,
    }
}

/// Check limits, normalise, and run `f` with the prepared context; a
/// refusal (too long, unparsable) comes back as `Err`.
fn with_ctx<'s, R>(
    snap: &Snapshot<'s>,
    call: &Call<'_>,
    scratch: &mut [u8],
    use_index: bool,
    f: impl FnOnce(&Ctx<'_, 's>) -> R,
) -> Result<R, Decision<'s>> {
    let too_long = |f: Option<usize>| f.is_some_and(|n| n > MAX_FIELD);
    if too_long(call.command.map(|c| c.len()))
        || too_long(call.path.map(<[u8]>::len))
        || too_long(call.url.map(<[u8]>::len))
        || too_long(Some(call.agent.len()))
        || too_long(Some(call.session.len()))
        || call.params.iter().any(|(_, v)| v.len() > MAX_FIELD)
    {
        return Err(Decision::fixed(
            Action::Deny,
            Reason::TooLong,
            b"input too long to check",
        ));
    }
    let refuse =
        |f: Failure| Decision::fixed(Action::Deny, Reason::Unparsable(f), f.message().as_bytes());
    // Path first (small), the command normaliser gets the rest.
    let path_room = call.path.map_or(0, |p| p.len() + 2);
    let Some((path_buf, cmd_buf)) = scratch.split_at_mut_checked(path_room) else {
        return Err(refuse(Failure::TooComplex));
    };
    let path = match call.path {
        Some(p) => match normalise::path(p, call.home, path_buf) {
            Some(np) => Some(np),
            None => return Err(refuse(Failure::TooComplex)),
        },
        None => None,
    };
    let norm = match call.command {
        Some(Command::Shell(s)) => Some(normalise::normalise_shell(s, call.home, cmd_buf)),
        Some(Command::Argv(a)) => Some(normalise::normalise_argv(a, call.home, cmd_buf)),
        None => None,
    };
    let norm = match norm {
        Some(Ok(n)) => Some(n),
        Some(Err(f)) => return Err(refuse(f)),
        None => None,
    };
    let mut bloom = 0u64;
    if let Some(n) = &norm {
        // The filter keys on the text up to the first space, exactly what a
        // pattern's literal first word must equal.
        let first_word = |t: &[u8]| -> u64 {
            program_bit(sub(
                t,
                0,
                t.iter().position(|&c| c == b' ').unwrap_or(t.len()),
            ))
        };
        bloom |= first_word(n.raw().text);
        for u in n.segments() {
            bloom |= first_word(u.text);
        }
    }
    let mut cand = Candidates {
        rules: [0; MAX_INDEXED_RULES / 64],
        pats: [0; MAX_INDEXED_PATTERNS / 64],
    };
    let indexed = use_index && candidates(snap, norm.as_ref(), &mut cand);
    let ctx = Ctx {
        snap,
        call,
        norm: norm.as_ref(),
        path,
        bloom,
        candidates: indexed.then_some(&cand),
    };
    Ok(f(&ctx))
}

fn policy_covers(ctx: &Ctx<'_, '_>, pi: usize) -> bool {
    let p = ctx.snap.policy(pi);
    pats_cover(ctx.snap, p.get(5), p.get(6), ctx.call.agent)
        && pats_cover(ctx.snap, p.get(7), p.get(8), ctx.call.session)
        && pats_cover(ctx.snap, p.get(9), p.get(10), ctx.call.tool)
}

fn decide<'s>(ctx: &Ctx<'_, 's>) -> Decision<'s> {
    let snap = ctx.snap;
    let mut best: Option<(Action, u32, u32)> = None; // (action, policy, rule)
    // The first watch rule that covers only some segments: (policy, rule).
    let mut flag: Option<(u32, u32)> = None;
    let mut d = Decision::fixed(snap.default_action(), Reason::Default, b"");
    for pi in 0..snap.policy_count() {
        if !policy_covers(ctx, pi) {
            continue;
        }
        let p = snap.policy(pi);
        let first = p.get(3);
        let mut verdict = None;
        for ri in first..first.saturating_add(p.get(4)) {
            if ctx.candidates.is_some_and(|c| !bit(&c.rules, ri)) {
                continue;
            }
            let r = snap.rule(ri as usize);
            let flags = r.get(5);
            if flags & RULE_KEYED != 0 {
                let rule_bloom = u64::from(r.get(6)) | (u64::from(r.get(7)) << 32);
                if rule_bloom & ctx.bloom == 0 {
                    continue;
                }
            }
            if rule_fires(ctx, ri) {
                verdict = Action::from_u32(r.get(0)).map(|a| (a, ri));
                break;
            }
            if flag.is_none() && flags_call(ctx, ri) {
                flag = Some((pi as u32, ri));
            }
        }
        let Some((action, ri)) = verdict else {
            continue;
        };
        d.fired_total += 1;
        if let Some(slot) = d.fired.get_mut(d.fired_len) {
            *slot = pi as u32;
            d.fired_len += 1;
        }
        if best.is_none_or(|(a, _, _)| action > a) {
            best = Some((action, pi as u32, ri));
        }
        if action == Action::Deny {
            break;
        }
    }
    if let Some((action, pi, ri)) = best {
        let r = snap.rule(ri as usize);
        d.action = action;
        d.reason = Reason::Rule;
        d.policy = Some(pi);
        d.rule = Some(ri);
        d.message = snap.str(r.get(1), r.get(2));
    }
    // A partial watch flags what would otherwise be allowed; it never
    // grants (a default deny stays a deny) nor weakens ask or deny.
    if d.action == Action::Allow
        && let Some((pi, ri)) = flag
    {
        let r = snap.rule(ri as usize);
        d.action = Action::Watch;
        d.reason = Reason::Rule;
        d.policy = Some(pi);
        d.rule = Some(ri);
        d.message = snap.str(r.get(1), r.get(2));
        if !d.fired().contains(&pi) {
            d.fired_total += 1;
            if let Some(slot) = d.fired.get_mut(d.fired_len) {
                *slot = pi;
                d.fired_len += 1;
            }
        }
    }
    d
}

/// Does any of the patterns `first..first+count` match `text`? No patterns
/// means "any".
fn pats_cover(snap: &Snapshot<'_>, first: u32, count: u32, text: &[u8]) -> bool {
    count == 0 || (first..first.saturating_add(count)).any(|i| pat_matches(snap, i, text))
}

fn pat_matches(snap: &Snapshot<'_>, i: u32, text: &[u8]) -> bool {
    let p = snap.pat(i as usize);
    let toks = snap.tokens(p.get(1), p.get(2));
    match p.get(0) & PAT_KIND_MASK {
        PAT_COMMAND => match_command(toks, text, false),
        PAT_COMMAND_FOLD => match_command(toks, text, true),
        PAT_PATH => match_path(toks, text),
        PAT_CONTAINS => contains_ci(text, toks),
        _ => false,
    }
}

fn any_pat(snap: &Snapshot<'_>, c: crate::snapshot::Record<'_>, text: &[u8]) -> bool {
    let first = c.get(1);
    (first..first.saturating_add(c.get(2))).any(|i| pat_matches(snap, i, text))
}

/// [`any_pat`] for a command condition: patterns the index ruled out are
/// skipped.
fn any_unit_pat(ctx: &Ctx<'_, '_>, c: crate::snapshot::Record<'_>, text: &[u8]) -> bool {
    let first = c.get(1);
    match ctx.candidates {
        Some(cand) => (first..first.saturating_add(c.get(2)))
            .any(|i| bit(&cand.pats, i) && pat_matches(ctx.snap, i, text)),
        None => any_pat(ctx.snap, c, text),
    }
}

/// Like [`any_pat`], over composite patterns only.
fn any_composite(snap: &Snapshot<'_>, c: crate::snapshot::Record<'_>, text: &[u8]) -> bool {
    let first = c.get(1);
    (first..first.saturating_add(c.get(2)))
        .any(|i| snap.pat(i as usize).get(0) & PAT_COMPOSITE != 0 && pat_matches(snap, i, text))
}

fn rule_fires(ctx: &Ctx<'_, '_>, ri: u32) -> bool {
    rule_fires_on(ctx, ri, false)
}

/// Does watch rule `ri` cover some segments of the call, though not all
/// (see the module docs)? Only ever true for `watch` rules.
fn flags_call(ctx: &Ctx<'_, '_>, ri: u32) -> bool {
    Action::from_u32(ctx.snap.rule(ri as usize).get(0)) == Some(Action::Watch)
        && ctx.norm.is_some_and(|n| n.segment_count() > 1)
        && rule_fires_on(ctx, ri, true)
}

/// `any_segment`: match as a restrictive rule does (the raw command or any
/// segment), whatever the rule's action.
fn rule_fires_on(ctx: &Ctx<'_, '_>, ri: u32, any_segment: bool) -> bool {
    let snap = ctx.snap;
    let r = snap.rule(ri as usize);
    let flags = r.get(5);
    if flags & RULE_MATCH_ALL != 0 {
        return true;
    }
    if flags & RULE_HAS_POSITIVE == 0 {
        return false;
    }
    let (cfirst, ccount) = (r.get(3), r.get(4));
    // Call-level conditions first: cheap, and they gate the per-segment work.
    for ci in cfirst..cfirst.saturating_add(ccount) {
        let c = snap.cond(ci as usize);
        let Some(kind) = CondKind::from_u32(c.get(0)) else {
            return false;
        };
        if !kind.is_unit() && !call_cond(ctx, kind, c) {
            return false;
        }
    }
    if flags & RULE_HAS_UNIT_CONDS == 0 {
        return true;
    }
    // `whole`: the raw command checked for a granting rule, where only a
    // composite pattern (`make * | tee *`) may match: `git *` must not
    // grant `git status && rm -rf ~` as a whole.
    let unit_check = |u: &Unit<'_>, whole: bool| -> bool {
        let mut saw_match_key = false;
        let ok = (cfirst..cfirst.saturating_add(ccount)).all(|ci| {
            let c = snap.cond(ci as usize);
            match CondKind::from_u32(c.get(0)) {
                Some(CondKind::CommandMatches) if whole => {
                    saw_match_key = true;
                    any_composite(snap, c, u.text)
                }
                Some(CondKind::CommandMatches) => any_unit_pat(ctx, c, u.text),
                Some(CondKind::CommandNotMatches) => !any_unit_pat(ctx, c, u.text),
                Some(CondKind::CommandContains) => any_unit_pat(ctx, c, u.text),
                Some(CondKind::EnvAssignments) => u
                    .names
                    .split(|&b| b == b' ')
                    .any(|n| !n.is_empty() && any_unit_pat(ctx, c, n)),
                Some(_) => true,
                None => false,
            }
        });
        ok && (!whole || saw_match_key)
    };
    let restrictive = any_segment || Action::from_u32(r.get(0)).is_some_and(Action::is_restrictive);
    // Is `u` exempted by one of the rule's `command_not_matches` keys?
    let exempt = |u: &Unit<'_>| -> bool {
        (cfirst..cfirst.saturating_add(ccount)).any(|ci| {
            let c = snap.cond(ci as usize);
            CondKind::from_u32(c.get(0)) == Some(CondKind::CommandNotMatches)
                && any_unit_pat(ctx, c, u.text)
        })
    };
    match ctx.norm {
        None => unit_check(
            &Unit {
                text: b"",
                prog: b"",
                names: b"",
            },
            false,
        ),
        Some(n) => {
            if restrictive {
                (unit_check(&n.raw(), false)
                    && !(n.segment_count() > 0 && n.segments().all(|u| exempt(&u))))
                    || n.segments().any(|u| unit_check(&u, false))
            } else {
                (n.segment_count() > 0 && n.segments().all(|u| unit_check(&u, false)))
                    || unit_check(&n.raw(), true)
            }
        }
    }
}

fn call_cond(ctx: &Ctx<'_, '_>, kind: CondKind, c: crate::snapshot::Record<'_>) -> bool {
    let snap = ctx.snap;
    let call = ctx.call;
    match kind {
        CondKind::PathMatches => ctx.path.is_some_and(|p| any_pat(snap, c, p)),
        CondKind::PathNotMatches => !ctx.path.is_some_and(|p| any_pat(snap, c, p)),
        CondKind::UrlMatches => call.url.is_some_and(|u| any_pat(snap, c, u)),
        CondKind::DomainMatches => call.url.is_some_and(|u| any_pat(snap, c, url_host(u))),
        CondKind::SessionMatches => any_pat(snap, c, call.session),
        CondKind::SessionNotMatches => !any_pat(snap, c, call.session),
        CondKind::ToolParamMatches => {
            let name = snap.str(c.get(3), c.get(4));
            call.params
                .iter()
                .any(|(k, v)| crate::bytes::eq_ci(k, name) && any_pat(snap, c, v))
        }
        // Need a response or a shared counter: never fire at exec time.
        CondKind::ResponseMatches | CondKind::CallCount => false,
        _ => true,
    }
}

/// The host of a URL (`https://user@Host:443/p` → `Host`); the patterns are
/// lowercase and matched case-insensitively.
pub fn url_host(url: &[u8]) -> &[u8] {
    let after_scheme = match url.windows(3).position(|w| w == b"://") {
        Some(p) => sub(url, p + 3, url.len()),
        None => url,
    };
    let end = after_scheme
        .iter()
        .position(|&c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(after_scheme.len());
    let authority = sub(after_scheme, 0, end);
    let host_port = match authority.iter().rposition(|&c| c == b'@') {
        Some(p) => sub(authority, p + 1, authority.len()),
        None => authority,
    };
    if host_port.first() == Some(&b'[') {
        let close = host_port
            .iter()
            .position(|&c| c == b']')
            .unwrap_or(host_port.len());
        return sub(host_port, 0, close + 1);
    }
    let colon = host_port
        .iter()
        .position(|&c| c == b':')
        .unwrap_or(host_port.len());
    sub(host_port, 0, colon)
}
