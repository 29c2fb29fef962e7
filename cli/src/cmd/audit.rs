//! `rampart audit`: tail, search, stats, verify, export, straight from the
//! files (the chain plus the spool not yet ingested, marked "pending"),
//! whether or not the daemon runs.

use crate::cli::{AuditCommand, AuditFilter, ExportFormat};
use crate::style;
use anyhow::Context;
use daemon::RampartHome;
use daemon::audit::read::{self, Entry};
use daemon::audit::{AuditRecord, time};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let home = RampartHome::from_env();
    match cmd {
        AuditCommand::Tail {
            lines,
            follow,
            json,
        } => tail(&home, lines, follow, json),
        AuditCommand::Search { text, filter, json } => {
            search(&home, text.as_deref(), &filter, json)
        }
        AuditCommand::Stats { since, json } => stats(&home, since.as_deref(), json),
        AuditCommand::Verify { json } => verify(&home, json),
        AuditCommand::Export { format, filter } => export(&home, format, &filter),
        AuditCommand::Ingest { batch, follow } => ingest(&home, batch, follow),
    }
}

/// The validated filter: bounds resolved to microseconds.
struct Filter<'a> {
    text: Option<String>,
    f: &'a AuditFilter,
    since: Option<i64>,
    until: Option<i64>,
}

impl<'a> Filter<'a> {
    fn new(text: Option<&str>, f: &'a AuditFilter) -> anyhow::Result<Self> {
        let now = time::now_micros();
        let bound = |s: &Option<String>| -> anyhow::Result<Option<i64>> {
            s.as_deref()
                .map(|s| time::parse_bound(s, now).map_err(anyhow::Error::msg))
                .transpose()
        };
        Ok(Filter {
            text: text.map(str::to_lowercase),
            f,
            since: bound(&f.since)?,
            until: bound(&f.until)?,
        })
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if !(eq(&self.f.agent, &r.agent)
            && eq(&self.f.session, &r.session)
            && eq(&self.f.tool, &r.tool)
            && eq(&self.f.decision, &r.decision))
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = time::parse_utc(&r.time) else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        match &self.text {
            None => true,
            Some(needle) => [r.target(), &r.message, &r.agent, &r.session, &r.cwd]
                .iter()
                .chain(
                    r.policies
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .iter(),
                )
                .any(|h| h.to_lowercase().contains(needle)),
        }
    }
}

fn decision_label(d: &str) -> String {
    let code = match d {
        "allow" => "32",
        "watch" => "36",
        "ask" => "33",
        "deny" => "1;31",
        _ => "2",
    };
    style::paint(
        &format!("{:<5}", if d.is_empty() { "note" } else { d }),
        code,
    )
}

fn human(e: &Entry) -> String {
    let r = &e.record;
    let when = r.time.get(..19).unwrap_or(&r.time).replace('T', " ");
    let mut s = format!(
        "{} {} {:<10} {:<5} {}",
        style::dim(&when),
        decision_label(&r.decision),
        if r.agent.is_empty() { "-" } else { &r.agent },
        r.tool,
        if r.target().is_empty() {
            &r.message
        } else {
            r.target()
        },
    );
    if !r.policies.is_empty() {
        s.push_str(&style::dim(&format!("  [{}]", r.policies.join(", "))));
    }
    if e.pending {
        s.push_str(&style::paint("  (pending ingest)", "33"));
    }
    s
}

fn json(e: &Entry) -> String {
    let mut v = serde_json::to_value(&e.record).unwrap_or_default();
    if e.pending {
        v["pending"] = serde_json::Value::Bool(true);
    }
    v.to_string()
}

fn print(e: &Entry, as_json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", if as_json { json(e) } else { human(e) })?;
    out.flush()
}

fn all(home: &RampartHome) -> anyhow::Result<Vec<Entry>> {
    read::all(home).with_context(|| format!("cannot read {}", home.audit_dir().display()))
}

/// What identifies a decision in the spool and later in the chain.
fn key(r: &AuditRecord) -> (String, u32, String) {
    (r.time.clone(), r.pid, r.target().to_string())
}

fn tail(home: &RampartHome, n: usize, follow: bool, as_json: bool) -> anyhow::Result<ExitCode> {
    // Lengths first: whatever is appended afterwards is followed.
    let mut offsets: HashMap<PathBuf, u64> = HashMap::new();
    if follow {
        for p in watched_files(home) {
            offsets.insert(p.clone(), p.metadata().map_or(0, |m| m.len()));
        }
    }
    let entries = all(home)?;
    let mut seen: HashSet<(String, u32, String)> = entries
        .iter()
        .filter(|e| e.pending)
        .map(|e| key(&e.record))
        .collect();
    for e in &entries[entries.len().saturating_sub(n)..] {
        if print(e, as_json).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    drop(entries);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        for path in watched_files(home) {
            let from = offsets.get(&path).copied().unwrap_or(0);
            let Ok(bytes) = read_from(&path, from) else {
                continue;
            };
            let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            if complete == 0 {
                continue;
            }
            offsets.insert(path.clone(), from + complete as u64);
            let is_spool = path.parent() == Some(home.spool_dir().as_path());
            let name = path
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let recs: Vec<Entry> = if is_spool {
                read::pending_lines(&bytes[..complete], name)
                    .map(|record| Entry {
                        record,
                        pending: true,
                    })
                    .collect()
            } else {
                read::parse_log_lines(&bytes[..complete])
                    .map(|record| Entry {
                        record,
                        pending: false,
                    })
                    .collect()
            };
            for e in recs {
                if seen.insert(key(&e.record)) && print(&e, as_json).is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        if seen.len() > 1_000_000 {
            seen.clear();
        }
    }
}

pub(super) fn watched_files(home: &RampartHome) -> Vec<PathBuf> {
    let mut v = daemon::audit::chain::list_files(&home.audit_dir()).unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir(home.spool_dir()) {
        v.extend(rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "current.jsonl" || n.starts_with("ingest-"))
        }));
    }
    v
}

pub(super) fn read_from(path: &std::path::Path, from: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}

fn search(
    home: &RampartHome,
    text: Option<&str>,
    f: &AuditFilter,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let filter = Filter::new(text, f)?;
    let mut n = 0u64;
    for e in all(home)?.iter().filter(|e| filter.matches(&e.record)) {
        n += 1;
        if print(e, as_json).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let summary = format!("Found {n} matching event{}", if n == 1 { "" } else { "s" });
    if as_json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Default, serde::Serialize)]
struct AgentStats {
    total: u64,
    allowed: u64,
    denied: u64,
    asked: u64,
    watched: u64,
    policies: BTreeMap<String, u64>,
}

fn stats(home: &RampartHome, since: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let af = AuditFilter {
        since: since.map(str::to_string),
        ..Default::default()
    };
    let filter = Filter::new(None, &af)?;
    let mut per: BTreeMap<String, AgentStats> = BTreeMap::new();
    for e in all(home)?
        .iter()
        .filter(|e| e.record.source != "ingest" && filter.matches(&e.record))
    {
        let r = &e.record;
        let agent = if r.agent.is_empty() {
            "(none)".to_string()
        } else {
            r.agent.clone()
        };
        let s = per.entry(agent).or_default();
        s.total += 1;
        match r.decision.as_str() {
            "allow" => s.allowed += 1,
            "deny" => s.denied += 1,
            "ask" => s.asked += 1,
            "watch" => s.watched += 1,
            _ => {}
        }
        if let Some(p) = r.policies.first() {
            *s.policies.entry(p.clone()).or_default() += 1;
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&per)?);
        return Ok(ExitCode::SUCCESS);
    }
    if per.is_empty() {
        println!("No events.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8}  top policies",
        "agent", "total", "allowed", "denied", "asked", "watched"
    );
    for (agent, s) in &per {
        let mut top: Vec<(&String, &u64)> = s.policies.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(3)
            .map(|(p, n)| format!("{p} ({n})"))
            .collect();
        println!(
            "{agent:<16} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
            s.total,
            s.allowed,
            s.denied,
            s.asked,
            s.watched,
            top.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(home: &RampartHome, json: bool) -> anyhow::Result<ExitCode> {
    let dir = home.audit_dir();
    let show = style::enabled(true) && !json;
    let mut last_pct = u64::MAX;
    let res = daemon::audit::verify::verify(&dir, |done, total| {
        if show && total > 16 << 20 {
            let pct = done * 100 / total.max(1);
            if pct != last_pct {
                last_pct = pct;
                let bar = "#".repeat((pct / 4) as usize);
                eprint!("\rverifying [{bar:<25}] {pct:>3}%");
            }
        }
    });
    if show && last_pct != u64::MAX {
        eprintln!();
    }
    match res {
        Ok(v) if json => {
            println!(
                "{}",
                serde_json::json!({"intact": true, "records": v.records, "files": v.files, "last_hash": v.last_hash})
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(daemon::audit::verify::VerifyError::Broken(b)) if json => {
            println!(
                "{}",
                serde_json::json!({"intact": false, "file": b.file, "line": b.line, "seq": b.seq, "reason": b.reason})
            );
            Ok(ExitCode::from(1))
        }
        Ok(v) => {
            println!(
                "{} {} records in {} files; the chain is intact (last hash {})",
                style::paint("ok:", "32"),
                v.records,
                v.files,
                &v.last_hash[..16]
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(daemon::audit::verify::VerifyError::Broken(b)) => {
            eprintln!("rampart: audit chain broken: {b}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn export(home: &RampartHome, format: ExportFormat, f: &AuditFilter) -> anyhow::Result<ExitCode> {
    let filter = Filter::new(None, f)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if format == ExportFormat::Csv {
        writeln!(
            out,
            "seq,time,agent,session,tool,target,decision,outcome,policies,message,pid,ppid,cwd,source,pending,hash"
        )?;
    }
    for e in all(home)?.iter().filter(|e| filter.matches(&e.record)) {
        let r = &e.record;
        let res = match format {
            ExportFormat::Jsonl => writeln!(out, "{}", json(e)),
            ExportFormat::Csv => writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.seq,
                csv_field(&r.time),
                csv_field(&r.agent),
                csv_field(&r.session),
                csv_field(&r.tool),
                csv_field(r.target()),
                csv_field(&r.decision),
                csv_field(r.outcome.as_deref().unwrap_or("")),
                csv_field(&r.policies.join(";")),
                csv_field(&r.message),
                r.pid,
                r.ppid,
                csv_field(&r.cwd),
                csv_field(&r.source),
                e.pending,
                r.hash
            ),
        };
        if res.is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// Hidden: ingest the spool in this process (tests, and homes without a daemon).
fn ingest(home: &RampartHome, batch: Option<usize>, follow: bool) -> anyhow::Result<ExitCode> {
    home.ensure_dirs()
        .with_context(|| format!("cannot create {}", home.root().display()))?;
    let mut ing = daemon::audit::Ingestor::new(home)?;
    if let Some(b) = batch {
        ing.set_batch(b);
    }
    loop {
        let s = ing.ingest_once()?;
        if !follow {
            println!(
                "ingested {} records from {} spool files ({} quarantined, {} already in the log)",
                s.records, s.files, s.quarantined, s.skipped
            );
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
