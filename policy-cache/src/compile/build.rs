//! PolicySet → snapshot bytes (layout in [`crate::snapshot`]).

use super::pattern;
use super::{LoadError, PolicySet};
use crate::bytes::program_bit;
use crate::crc32::crc32;
use crate::snapshot::layout::*;
use crate::snapshot::{
    CondKind, FLAG_BUILTIN, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_SNAPSHOT, schema_hash,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::vec::Vec;

#[derive(Default)]
struct Builder {
    strs: Vec<u8>,
    str_index: HashMap<Vec<u8>, (u32, u32)>,
    toks: Vec<u8>,
    policies: Vec<u32>,
    rules: Vec<u32>,
    conds: Vec<u32>,
    pats: Vec<u32>,
    /// Index entries: (required n-gram or `None` for "always", pattern or
    /// `NONE`, rule or `NONE`).
    index: Vec<(Option<Vec<u8>>, u32, u32)>,
}

impl Builder {
    fn string(&mut self, s: &[u8]) -> (u32, u32) {
        if let Some(&r) = self.str_index.get(s) {
            return r;
        }
        let r = (self.strs.len() as u32, s.len() as u32);
        self.strs.extend_from_slice(s);
        self.str_index.insert(s.to_vec(), r);
        r
    }

    /// Append a pattern record; returns its index.
    /// Append a pattern record; returns its index. The source text is not
    /// stored: nothing at decision time needs it, and it would double the
    /// snapshot every process reads and checks.
    fn pattern(&mut self, kind: u32, toks: &[u8]) -> u32 {
        let idx = (self.pats.len() / PAT_FIELDS) as u32;
        let to = self.toks.len() as u32;
        self.toks.extend_from_slice(toks);
        self.pats.extend_from_slice(&[kind, to, toks.len() as u32]);
        idx
    }

    fn pat_count(&self) -> u32 {
        (self.pats.len() / PAT_FIELDS) as u32
    }
}

fn err(set: &PolicySet, file: usize, line: u64, msg: std::string::String) -> LoadError {
    let path = set
        .files
        .get(file)
        .map(|(p, _)| p.as_path())
        .unwrap_or(std::path::Path::new("<policies>"));
    LoadError::new(path, line, 1, msg)
}

/// Compile `set` into snapshot bytes with the given generation.
pub fn compile(set: &PolicySet, generation: u64) -> Result<Vec<u8>, LoadError> {
    compile_with_flags(set, generation, 0)
}

/// Compile the built-in default policy (flagged as such in the header).
pub fn compile_builtin(set: &PolicySet, generation: u64) -> Result<Vec<u8>, LoadError> {
    compile_with_flags(set, generation, FLAG_BUILTIN)
}

fn compile_with_flags(set: &PolicySet, generation: u64, flags: u32) -> Result<Vec<u8>, LoadError> {
    let home = set.home.as_str();
    let mut b = Builder::default();
    let ordered = set.ordered();
    for (pi, p) in ordered.iter().enumerate() {
        let (no, nl) = b.string(p.name.as_bytes());
        let mut match_pats = [(0u32, 0u32); 3];
        for (slot, list) in match_pats.iter_mut().zip([&p.agent, &p.session, &p.tool]) {
            let first = b.pat_count();
            for g in list {
                let t =
                    pattern::command(g, home, false).map_err(|e| err(set, p.file, p.line, e))?;
                b.pattern(PAT_COMMAND, &t);
            }
            *slot = (first, list.len() as u32);
        }
        let rule_first = (b.rules.len() / RULE_FIELDS) as u32;
        for r in &p.rules {
            let cond_first = (b.conds.len() / COND_FIELDS) as u32;
            let mut has_positive = false;
            let mut has_unit = false;
            let mut keyed = false;
            let mut bloom = 0u64;
            // (first pattern, end, literal substrings, positive)
            let mut unit_conds: Vec<(u32, u32, bool, bool)> = Vec::new();
            for c in &r.conds {
                let first = b.pat_count();
                for s in &c.patterns {
                    let bad = |e| err(set, p.file, r.line, std::format!("pattern {s:?}: {e}"));
                    match c.kind {
                        CondKind::PathMatches | CondKind::PathNotMatches => {
                            let t = pattern::path(s, home).map_err(bad)?;
                            b.pattern(PAT_PATH, &t);
                        }
                        CondKind::CommandContains => {
                            b.pattern(PAT_CONTAINS, s.to_ascii_lowercase().as_bytes());
                        }
                        CondKind::DomainMatches | CondKind::ToolParamMatches => {
                            let t = pattern::command(&s.to_ascii_lowercase(), home, true)
                                .map_err(bad)?;
                            b.pattern(PAT_COMMAND_FOLD, &t);
                        }
                        _ => {
                            let t = pattern::command(s, home, false).map_err(bad)?;
                            let composite = if pattern::is_composite(s) {
                                PAT_COMPOSITE
                            } else {
                                0
                            };
                            b.pattern(PAT_COMMAND | composite, &t);
                        }
                    }
                }
                if c.kind == CondKind::CommandMatches {
                    // Keyed when every pattern names its program literally.
                    let mut all = true;
                    let mut bits = 0u64;
                    for i in first..b.pat_count() {
                        let at = (i as usize) * PAT_FIELDS;
                        let (to, tl) = (b.pats[at + 1] as usize, b.pats[at + 2] as usize);
                        match pattern::program_key(&b.toks[to..to + tl]) {
                            Some(k) => bits |= program_bit(&k),
                            None => all = false,
                        }
                    }
                    if all && !c.patterns.is_empty() {
                        keyed = true;
                        bloom = bits;
                    }
                }
                has_positive |= !c.kind.is_negative();
                has_unit |= c.kind.is_unit();
                if c.kind.is_unit() {
                    unit_conds.push((
                        first,
                        b.pat_count(),
                        c.kind == CondKind::CommandContains,
                        !c.kind.is_negative(),
                    ));
                }
                let (po, pl) = b.string(c.param.as_bytes());
                b.conds
                    .extend_from_slice(&[c.kind as u32, first, b.pat_count() - first, po, pl]);
            }
            let mut rflags = 0;
            if r.match_all {
                rflags |= RULE_MATCH_ALL;
            }
            if has_positive {
                rflags |= RULE_HAS_POSITIVE;
            }
            if keyed {
                rflags |= RULE_KEYED;
            }
            if has_unit {
                rflags |= RULE_HAS_UNIT_CONDS;
            }
            // Index: every pattern of a command condition is keyed by an
            // n-gram its matches must contain; the rule by one positive
            // condition whose patterns all have keys (it needs every
            // positive condition, so any one will do: prefer trigrams).
            let ri = (b.rules.len() / RULE_FIELDS) as u32;
            let keyed: Vec<KeyedCond> = unit_conds
                .iter()
                .map(|&(first, end, literal, positive)| {
                    let keys = (first..end)
                        .map(|i| {
                            let at = (i as usize) * PAT_FIELDS;
                            let (to, tl) = (b.pats[at + 1] as usize, b.pats[at + 2] as usize);
                            let toks = &b.toks[to..to + tl];
                            let lit = if literal {
                                toks.to_vec()
                            } else {
                                pattern::longest_literal(toks)
                            };
                            pattern::rarest_ngram(&lit)
                        })
                        .collect();
                    KeyedCond {
                        first,
                        positive,
                        keys,
                    }
                })
                .collect();
            let usable = |k: &&KeyedCond| k.positive && k.keys.iter().all(Option::is_some);
            let index_cond = if r.match_all {
                None
            } else {
                keyed
                    .iter()
                    .filter(usable)
                    .find(|k| {
                        k.keys
                            .iter()
                            .all(|x| x.as_ref().is_some_and(|v| v.len() == 3))
                    })
                    .or_else(|| keyed.iter().find(usable))
                    .map(|k| k.first)
            };
            if index_cond.is_none() {
                b.index.push((None, NONE, ri));
            }
            for kc in &keyed {
                let tag = if index_cond == Some(kc.first) {
                    ri
                } else {
                    NONE
                };
                for (k, key) in kc.keys.iter().enumerate() {
                    b.index.push((key.clone(), kc.first + k as u32, tag));
                }
            }
            let (mo, ml) = b.string(r.message.as_bytes());
            let cond_count = (b.conds.len() / COND_FIELDS) as u32 - cond_first;
            b.rules.extend_from_slice(&[
                r.action as u32,
                mo,
                ml,
                cond_first,
                cond_count,
                rflags,
                bloom as u32,
                (bloom >> 32) as u32,
                r.line as u32,
                pi as u32,
            ]);
        }
        let rule_count = (b.rules.len() / RULE_FIELDS) as u32 - rule_first;
        let [(af, ac), (sf, sc), (tf, tc)] = match_pats;
        b.policies.extend_from_slice(&[
            no,
            nl,
            p.priority.clamp(0, i64::from(u32::MAX)) as u32,
            rule_first,
            rule_count,
            af,
            ac,
            sf,
            sc,
            tf,
            tc,
            p.file as u32,
        ]);
    }
    let meta = [set.default_action as u32, 0, set.policies.len() as u32, 0];
    let words = |v: &[u32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let index = words(&build_index(
        &b.index,
        b.rules.len() / RULE_FIELDS,
        b.pat_count() as usize,
    ));
    let sections: [Vec<u8>; SECTIONS] = [
        words(&meta),
        b.strs,
        words(&b.policies),
        words(&b.rules),
        words(&b.conds),
        words(&b.pats),
        b.toks,
        index,
    ];
    // Payload: section table, then each section 16-byte aligned.
    let table_len = 4 + 8 * SECTIONS;
    let mut payload = std::vec![0u8; table_len];
    payload[0..4].copy_from_slice(&(SECTIONS as u32).to_le_bytes());
    for (k, s) in sections.iter().enumerate() {
        while !payload.len().is_multiple_of(16) {
            payload.push(0);
        }
        let off = payload.len() as u32;
        payload[4 + 8 * k..8 + 8 * k].copy_from_slice(&off.to_le_bytes());
        payload[8 + 8 * k..12 + 8 * k].copy_from_slice(&(s.len() as u32).to_le_bytes());
        payload.extend_from_slice(s);
    }
    let digest = source_digest(set);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    out.extend_from_slice(&schema_hash().to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&digest);
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(&payload);
    if out.len() > MAX_SNAPSHOT {
        return Err(err(
            set,
            0,
            0,
            std::format!(
                "compiled policy is {} bytes, over the {} byte limit",
                out.len(),
                MAX_SNAPSHOT
            ),
        ));
    }
    Ok(out)
}

/// SHA-256 over the policy files' names and contents: in the snapshot
/// header, so a reader can tell whether a snapshot is current.
pub fn source_digest(set: &PolicySet) -> [u8; 32] {
    let mut digest = Sha256::new();
    for (path, text) in &set.files {
        digest.update(path.to_string_lossy().as_bytes());
        digest.update([0]);
        digest.update(text.as_bytes());
        digest.update([0]);
    }
    digest.finalize().into()
}

/// A command condition's patterns with the n-gram each requires.
struct KeyedCond {
    first: u32,
    positive: bool,
    keys: Vec<Option<Vec<u8>>>,
}

/// "No pattern" / "no rule" in an index entry.
const NONE: u32 = u32::MAX;

/// The IDX section: n-gram buckets → (pattern, rule) entries, plus the
/// entries to mark always.
fn build_index(entries: &[(Option<Vec<u8>>, u32, u32)], rules: usize, patterns: usize) -> Vec<u32> {
    if rules > MAX_INDEXED_RULES || patterns > MAX_INDEXED_PATTERNS {
        return Vec::new();
    }
    let log2 = 11u32;
    let buckets = 1usize << log2;
    let mut lists: Vec<Vec<(u32, u32)>> = std::vec![Vec::new(); buckets];
    let mut always = Vec::new();
    for (key, pat, rule) in entries {
        match key {
            None => always.push((*pat, *rule)),
            Some(k) => {
                // Bigrams hash as (a, b, NUL): no text has a NUL.
                let c = k.get(2).copied().unwrap_or(0);
                let bucket = crate::snapshot::trigram_bucket(k[0], k[1], c, log2);
                if !lists[bucket].contains(&(*pat, *rule)) {
                    lists[bucket].push((*pat, *rule));
                }
            }
        }
    }
    let mut out = std::vec![log2, always.len() as u32];
    for (p, r) in &always {
        out.push(*p);
        out.push(*r);
    }
    let mut offset = 0u32;
    for l in &lists {
        out.push(offset);
        offset += l.len() as u32;
    }
    out.push(offset);
    for l in lists {
        for (p, r) in l {
            out.push(p);
            out.push(r);
        }
    }
    out
}
