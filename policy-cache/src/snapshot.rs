//! The snapshot file: what the daemon publishes and every process maps.
//!
//! ```text
//! header (96 bytes, little-endian)
//!   0  magic            b"RAMPSNAP"
//!   8  format version   u32
//!  12  header length    u32 (96)
//!  16  schema hash      u64  (FNV-1a of SCHEMA: record layouts)
//!  24  generation       u64
//!  32  payload length   u64
//!  40  CRC-32C of payload u32
//!  44  flags            u32  (bit 0: built-in default policy)
//!  48  source digest    [u8; 32]  (SHA-256 of the policy files)
//!  80  reserved         [u8; 16]
//! payload (starts 16-byte aligned)
//!   section table: u32 count, then count × (offset u32, length u32)
//!   sections: META, STR, POLICY, RULE, COND, PAT, TOK (see `layout`)
//! ```
//!
//! Every table is an array of fixed-size records of `u32`s; strings and
//! pattern byte code are `(offset, length)` references into the STR and TOK
//! sections. [`Snapshot::from_bytes`] checks the header, the CRC and every
//! reference once; after that the evaluator reads records in place with
//! bounds-checked accessors (a validated snapshot never hits a failed check,
//! and an unvalidated one could only produce wrong answers, never a crash).
//!
//! A flat format instead of an rkyv archive: rkyv's derived types need
//! `alloc`, which would put an allocator into the `no_std` library that must
//! never allocate, and this layout is seven arrays of integers that a
//! hand-written validator covers completely.

use crate::bytes::{at, sub, sub_len, u32_at, u64_at};
use crate::crc32::crc32;
use crate::glob;

/// First eight bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"RAMPSNAP";
/// Bumped on any incompatible change to the layout.
pub const FORMAT_VERSION: u32 = 2;
/// Header size; the payload starts here (16-byte aligned).
pub const HEADER_LEN: usize = 96;
/// Header flag: this snapshot is the default policy built into the binary.
pub const FLAG_BUILTIN: u32 = 1;
/// Largest snapshot accepted (64 MiB): a bigger file is treated as invalid.
pub const MAX_SNAPSHOT: usize = 64 << 20;

/// Record layouts, hashed into the header so that a reader never misreads a
/// snapshot written by a different build with the same format version.
pub const SCHEMA: &str = "sections:META,STR,POLICY,RULE,COND,PAT,TOK;\
     meta:default_action,flags,policies_total,reserved;\
     policy:name_off,name_len,priority,rule_first,rule_count,agent_first,agent_count,session_first,session_count,tool_first,tool_count,file;\
     rule:action,msg_off,msg_len,cond_first,cond_count,flags,bloom_lo,bloom_hi,line,policy;\
     cond:kind,pat_first,pat_count,param_off,param_len;\
     pat:kind|composite<<8,tok_off,tok_len;\
     tok:LIT=1,ANY=2,STAR=3,CLASS=4(flags,k,k*(lo:u32,hi:u32)),SEP=5,GLOBSTAR=6";

/// FNV-1a of [`SCHEMA`].
pub const fn schema_hash() -> u64 {
    let b = SCHEMA.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// Section numbers and record layouts, shared with the compiler.
pub mod layout {
    /// Section: defaults and counts.
    pub const META: usize = 0;
    /// Section: string bytes.
    pub const STR: usize = 1;
    /// Section: policy records.
    pub const POLICY: usize = 2;
    /// Section: rule records.
    pub const RULE: usize = 3;
    /// Section: condition records.
    pub const COND: usize = 4;
    /// Section: pattern records.
    pub const PAT: usize = 5;
    /// Section: pattern byte code.
    pub const TOK: usize = 6;
    /// Section: the rule index (trigram buckets → rules).
    pub const IDX: usize = 7;
    /// Number of sections.
    pub const SECTIONS: usize = 8;
    /// Most rules the index covers (a candidate bitset of this many bits
    /// lives on the stack); bigger policies are evaluated unindexed.
    pub const MAX_INDEXED_RULES: usize = 4096;
    /// Most patterns the index covers (likewise a stack bitset).
    pub const MAX_INDEXED_PATTERNS: usize = 16384;

    /// `u32` fields per META record.
    pub const META_FIELDS: usize = 4;
    /// `u32` fields per POLICY record.
    pub const POLICY_FIELDS: usize = 12;
    /// `u32` fields per RULE record.
    pub const RULE_FIELDS: usize = 10;
    /// `u32` fields per COND record.
    pub const COND_FIELDS: usize = 5;
    /// `u32` fields per PAT record.
    pub const PAT_FIELDS: usize = 3;

    /// Rule flag: matches every call its policy matches (empty `when`).
    pub const RULE_MATCH_ALL: u32 = 1;
    /// Rule flag: has at least one positive condition (else it never fires).
    pub const RULE_HAS_POSITIVE: u32 = 2;
    /// Rule flag: `bloom` lists every program the rule could match.
    pub const RULE_KEYED: u32 = 4;
    /// Rule flag: has conditions on the command (matched per segment).
    pub const RULE_HAS_UNIT_CONDS: u32 = 8;

    /// Pattern kind: command glob.
    pub const PAT_COMMAND: u32 = 1;
    /// Pattern kind: command glob, compared case-insensitively (lowercase).
    pub const PAT_COMMAND_FOLD: u32 = 2;
    /// Pattern kind: path glob.
    pub const PAT_PATH: u32 = 3;
    /// Pattern kind: lowercase substring.
    pub const PAT_CONTAINS: u32 = 4;
    /// Mask of the kind in a pattern's first field.
    pub const PAT_KIND_MASK: u32 = 0xFF;
    /// Pattern flag (or-ed into the kind): the pattern spans several
    /// segments (`curl * | bash`), so it may grant on the whole string.
    pub const PAT_COMPOSITE: u32 = 0x100;
}

use layout::*;

/// An action, ordered by strength: `Allow < Watch < Ask < Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Action {
    /// Run it.
    Allow = 0,
    /// Run it, flagged in the audit.
    Watch = 1,
    /// A human approves or refuses while the call waits.
    Ask = 2,
    /// Refuse.
    Deny = 3,
}

impl Action {
    /// From the snapshot encoding.
    pub fn from_u32(v: u32) -> Option<Action> {
        Some(match v {
            0 => Action::Allow,
            1 => Action::Watch,
            2 => Action::Ask,
            3 => Action::Deny,
            _ => return None,
        })
    }
    /// The policy-language spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Watch => "watch",
            Action::Ask => "ask",
            Action::Deny => "deny",
        }
    }
    /// `allow` and `deny` grant or refuse; `ask` and `deny` restrict.
    pub fn is_restrictive(self) -> bool {
        matches!(self, Action::Ask | Action::Deny)
    }
}

/// Condition kinds as stored in the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum CondKind {
    CommandMatches = 1,
    CommandNotMatches = 2,
    CommandContains = 3,
    EnvAssignments = 4,
    PathMatches = 5,
    PathNotMatches = 6,
    UrlMatches = 7,
    DomainMatches = 8,
    SessionMatches = 9,
    SessionNotMatches = 10,
    ToolParamMatches = 11,
    ResponseMatches = 12,
    CallCount = 13,
}

impl CondKind {
    /// From the snapshot encoding.
    pub fn from_u32(v: u32) -> Option<CondKind> {
        use CondKind::*;
        Some(match v {
            1 => CommandMatches,
            2 => CommandNotMatches,
            3 => CommandContains,
            4 => EnvAssignments,
            5 => PathMatches,
            6 => PathNotMatches,
            7 => UrlMatches,
            8 => DomainMatches,
            9 => SessionMatches,
            10 => SessionNotMatches,
            11 => ToolParamMatches,
            12 => ResponseMatches,
            13 => CallCount,
            _ => return None,
        })
    }
    /// Matched per segment of the command (not once per call).
    pub fn is_unit(self) -> bool {
        matches!(
            self,
            CondKind::CommandMatches
                | CondKind::CommandNotMatches
                | CondKind::CommandContains
                | CondKind::EnvAssignments
        )
    }
    /// A `*_not_matches` key: narrows, never fires a rule on its own.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            CondKind::CommandNotMatches | CondKind::PathNotMatches | CondKind::SessionNotMatches
        )
    }
}

/// Why bytes are not a usable snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// Shorter than a header, or larger than [`MAX_SNAPSHOT`].
    Size,
    /// Not a snapshot.
    Magic,
    /// Written by an incompatible build.
    Version,
    /// Payload length does not match the file.
    Length,
    /// Payload corrupted.
    Crc,
    /// A table or reference is out of bounds or malformed.
    Structure,
}

impl SnapshotError {
    /// A short description.
    pub fn message(self) -> &'static str {
        match self {
            SnapshotError::Size => "snapshot has an impossible size",
            SnapshotError::Magic => "not a rampart snapshot",
            SnapshotError::Version => "snapshot written by an incompatible version",
            SnapshotError::Length => "snapshot truncated or padded",
            SnapshotError::Crc => "snapshot checksum mismatch",
            SnapshotError::Structure => "snapshot structure invalid",
        }
    }
}

/// A validated snapshot, borrowed from the bytes it was read from.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'s> {
    bytes: &'s [u8],
    /// The sections, resolved once.
    sections: [&'s [u8]; SECTIONS],
}

/// A record: `u32` fields read from the mapping.
#[derive(Clone, Copy, Debug)]
pub struct Record<'s> {
    data: &'s [u8],
}

impl Record<'_> {
    /// Field `k`.
    #[inline]
    pub fn get(&self, k: usize) -> u32 {
        u32_at(self.data, 4 * k)
    }
}

impl<'s> Snapshot<'s> {
    /// Check header, CRC and every reference. O(size of the snapshot).
    /// What the publisher runs before a snapshot is renamed into place, and
    /// what every reader but the library runs.
    pub fn from_bytes(bytes: &'s [u8]) -> Result<Snapshot<'s>, SnapshotError> {
        let snap = Self::from_bytes_integrity(bytes, crc32)?;
        snap.validate()
            .map(|()| snap)
            .ok_or(SnapshotError::Structure)
    }

    /// Header, checksum (computed by `crc`, which must be CRC-32C) and the
    /// section table, but not the record-by-record checks: what the library
    /// runs in every process it loads into, where the full walk would cost
    /// more than everything else it does at start-up. Sound because the
    /// publisher ran [`Snapshot::from_bytes`] before the atomic rename, the
    /// checksum proves these are those bytes (against accidents: a writer
    /// able to forge a checksum can publish an allow-all policy anyway),
    /// and every accessor is bounds-checked, so even forged bytes can only
    /// produce wrong answers, never a crash.
    pub fn from_bytes_integrity(
        bytes: &'s [u8],
        crc: fn(&[u8]) -> u32,
    ) -> Result<Snapshot<'s>, SnapshotError> {
        if bytes.len() < HEADER_LEN || bytes.len() > MAX_SNAPSHOT {
            return Err(SnapshotError::Size);
        }
        if sub(bytes, 0, 8) != MAGIC {
            return Err(SnapshotError::Magic);
        }
        if u32_at(bytes, 8) != FORMAT_VERSION
            || u32_at(bytes, 12) as usize != HEADER_LEN
            || u64_at(bytes, 16) != schema_hash()
        {
            return Err(SnapshotError::Version);
        }
        let payload_len = u64_at(bytes, 32);
        if payload_len != (bytes.len() - HEADER_LEN) as u64 {
            return Err(SnapshotError::Length);
        }
        let payload = sub(bytes, HEADER_LEN, bytes.len());
        if crc(payload) != u32_at(bytes, 40) {
            return Err(SnapshotError::Crc);
        }
        let mut snap = Snapshot {
            bytes,
            sections: [&[]; SECTIONS],
        };
        if u32_at(payload, 0) as usize != SECTIONS {
            return Err(SnapshotError::Structure);
        }
        let table_end = 4 + 8 * SECTIONS;
        for (k, slot) in snap.sections.iter_mut().enumerate() {
            let off = u32_at(payload, 4 + 8 * k) as usize;
            let len = u32_at(payload, 8 + 8 * k) as usize;
            let end = off.checked_add(len).ok_or(SnapshotError::Structure)?;
            if off < table_end || end > payload.len() {
                return Err(SnapshotError::Structure);
            }
            *slot = sub_len(payload, off, len);
        }
        // Table sizes are checked even here: cheap, and they bound every
        // record count.
        let tables = [
            (META, META_FIELDS),
            (POLICY, POLICY_FIELDS),
            (RULE, RULE_FIELDS),
            (COND, COND_FIELDS),
            (PAT, PAT_FIELDS),
        ];
        if tables
            .iter()
            .any(|&(k, f)| snap.section(k).len().checked_rem(4 * f) != Some(0))
        {
            return Err(SnapshotError::Structure);
        }
        Ok(snap)
    }

    /// Re-open bytes that passed [`Snapshot::from_bytes`] before and have
    /// not changed since (a read-only copy): reads the section table only,
    /// skipping the CRC and the record checks. Every accessor stays
    /// bounds-checked, so misuse yields wrong answers, never a crash.
    pub fn from_validated(bytes: &'s [u8]) -> Option<Snapshot<'s>> {
        if bytes.len() < HEADER_LEN || sub(bytes, 0, 8) != MAGIC {
            return None;
        }
        let payload = sub(bytes, HEADER_LEN, bytes.len());
        let mut snap = Snapshot {
            bytes,
            sections: [&[]; SECTIONS],
        };
        for (k, slot) in snap.sections.iter_mut().enumerate() {
            let off = u32_at(payload, 4 + 8 * k) as usize;
            let len = u32_at(payload, 8 + 8 * k) as usize;
            if off.checked_add(len)? > payload.len() {
                return None;
            }
            *slot = sub_len(payload, off, len);
        }
        Some(snap)
    }

    #[inline]
    fn section(&self, k: usize) -> &'s [u8] {
        self.sections.get(k).copied().unwrap_or(&[])
    }

    fn count(&self, k: usize, fields: usize) -> usize {
        self.section(k).len() / (4 * fields)
    }

    fn record(&self, k: usize, fields: usize, i: usize) -> Record<'s> {
        Record {
            data: sub_len(self.section(k), i.saturating_mul(4 * fields), 4 * fields),
        }
    }

    /// A string from the STR section.
    pub fn str(&self, off: u32, len: u32) -> &'s [u8] {
        sub_len(self.section(STR), off as usize, len as usize)
    }

    /// Pattern byte code from the TOK section.
    pub fn tokens(&self, off: u32, len: u32) -> &'s [u8] {
        sub_len(self.section(TOK), off as usize, len as usize)
    }

    /// Header: generation (increases with every publish).
    pub fn generation(&self) -> u64 {
        u64_at(self.bytes, 24)
    }
    /// Header: flags ([`FLAG_BUILTIN`]).
    pub fn flags(&self) -> u32 {
        u32_at(self.bytes, 44)
    }
    /// Header: SHA-256 of the policy sources.
    pub fn source_digest(&self) -> &'s [u8] {
        sub(self.bytes, 48, 80)
    }
    /// The action when no policy decides.
    pub fn default_action(&self) -> Action {
        Action::from_u32(self.record(META, META_FIELDS, 0).get(0)).unwrap_or(Action::Deny)
    }
    /// Number of (enabled) policies.
    pub fn policy_count(&self) -> usize {
        self.count(POLICY, POLICY_FIELDS)
    }
    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.count(RULE, RULE_FIELDS)
    }
    /// Policy record `i` (fields per `SCHEMA`).
    pub fn policy(&self, i: usize) -> Record<'s> {
        self.record(POLICY, POLICY_FIELDS, i)
    }
    /// Name of policy `i`.
    pub fn policy_name(&self, i: usize) -> &'s [u8] {
        let p = self.policy(i);
        self.str(p.get(0), p.get(1))
    }
    /// Rule record `i`.
    pub fn rule(&self, i: usize) -> Record<'s> {
        self.record(RULE, RULE_FIELDS, i)
    }
    /// Condition record `i`.
    pub fn cond(&self, i: usize) -> Record<'s> {
        self.record(COND, COND_FIELDS, i)
    }
    /// The rule index, when the snapshot has one.
    pub fn index(&self) -> Option<RuleIndex<'s>> {
        let sec = self.section(IDX);
        let log2 = u32_at(sec, 0);
        if log2 == 0 || log2 > 16 {
            return None;
        }
        let n_always = u32_at(sec, 4) as usize;
        let buckets = 1usize << log2;
        let always_end = 8 + 8 * n_always;
        let offsets_end = always_end + 4 * (buckets + 1);
        Some(RuleIndex {
            log2,
            always: sub(sec, 8, always_end),
            offsets: sub(sec, always_end, offsets_end),
            postings: sub(sec, offsets_end, sec.len()),
        })
    }

    /// Pattern record `i`.
    pub fn pat(&self, i: usize) -> Record<'s> {
        self.record(PAT, PAT_FIELDS, i)
    }

    fn str_ok(&self, off: u32, len: u32) -> bool {
        (off as usize)
            .checked_add(len as usize)
            .is_some_and(|e| e <= self.section(STR).len())
    }

    fn range_ok(first: u32, count: u32, total: usize) -> bool {
        (first as usize)
            .checked_add(count as usize)
            .is_some_and(|e| e <= total)
    }

    fn validate(&self) -> Option<()> {
        let tables = [
            (META, META_FIELDS),
            (POLICY, POLICY_FIELDS),
            (RULE, RULE_FIELDS),
            (COND, COND_FIELDS),
            (PAT, PAT_FIELDS),
        ];
        for (k, f) in tables {
            if !self.section(k).len().is_multiple_of(4 * f) {
                return None;
            }
        }
        if self.count(META, META_FIELDS) != 1 {
            return None;
        }
        Action::from_u32(self.record(META, META_FIELDS, 0).get(0))?;
        let (n_rules, n_conds, n_pats) = (
            self.rule_count(),
            self.count(COND, COND_FIELDS),
            self.count(PAT, PAT_FIELDS),
        );
        for i in 0..self.policy_count() {
            let p = self.policy(i);
            let ok = self.str_ok(p.get(0), p.get(1))
                && Self::range_ok(p.get(3), p.get(4), n_rules)
                && Self::range_ok(p.get(5), p.get(6), n_pats)
                && Self::range_ok(p.get(7), p.get(8), n_pats)
                && Self::range_ok(p.get(9), p.get(10), n_pats);
            if !ok {
                return None;
            }
        }
        for i in 0..n_rules {
            let r = self.rule(i);
            Action::from_u32(r.get(0))?;
            if !self.str_ok(r.get(1), r.get(2))
                || !Self::range_ok(r.get(3), r.get(4), n_conds)
                || r.get(9) as usize >= self.policy_count()
            {
                return None;
            }
        }
        for i in 0..n_conds {
            let c = self.cond(i);
            CondKind::from_u32(c.get(0))?;
            if !Self::range_ok(c.get(1), c.get(2), n_pats) || !self.str_ok(c.get(3), c.get(4)) {
                return None;
            }
        }
        // The index: sizes consistent, offsets ascending, rule ids in range.
        let idx = self.section(IDX);
        if !idx.is_empty() {
            let log2 = u32_at(idx, 0);
            if log2 == 0 || log2 > 16 || !idx.len().is_multiple_of(4) {
                return None;
            }
            let n_always = u32_at(idx, 4) as usize;
            let buckets = 1usize << log2;
            let head = 8usize
                .checked_add(n_always.checked_mul(8)?)?
                .checked_add(4 * (buckets + 1))?;
            if head > idx.len() || !(idx.len() - head).is_multiple_of(8) {
                return None;
            }
            let ix = self.index()?;
            let n_postings = (idx.len() - head) / 8;
            let mut prev = 0u32;
            for b in 0..=buckets {
                let o = u32_at(ix.offsets, 4 * b);
                if o < prev || o as usize > n_postings {
                    return None;
                }
                prev = o;
            }
            let bad = |(p, r): (u32, u32)| {
                (p != INDEX_NONE && p as usize >= n_pats)
                    || (r != INDEX_NONE && r as usize >= n_rules)
            };
            if ix
                .always()
                .chain((0..buckets).flat_map(|b| ix.bucket(b)))
                .any(bad)
            {
                return None;
            }
        }
        let tok_len = self.section(TOK).len();
        for i in 0..n_pats {
            let p = self.pat(i);
            if (p.get(1) as usize)
                .checked_add(p.get(2) as usize)
                .is_none_or(|e| e > tok_len)
            {
                return None;
            }
            let toks = self.tokens(p.get(1), p.get(2));
            if p.get(0) & !(PAT_KIND_MASK | PAT_COMPOSITE) != 0 {
                return None;
            }
            match p.get(0) & PAT_KIND_MASK {
                PAT_COMMAND | PAT_COMMAND_FOLD => tokens_ok(toks, false)?,
                PAT_PATH => tokens_ok(toks, true)?,
                PAT_CONTAINS => {}
                _ => return None,
            }
        }
        Some(())
    }
}

/// Bucket of a trigram (ASCII-lowercased) in an index of `2^log2` buckets.
#[inline]
pub fn trigram_bucket(a: u8, b: u8, c: u8, log2: u32) -> usize {
    let x = u32::from(a.to_ascii_lowercase())
        | (u32::from(b.to_ascii_lowercase()) << 8)
        | (u32::from(c.to_ascii_lowercase()) << 16);
    (x.wrapping_mul(0x9E37_79B1) >> (32 - log2.clamp(1, 16))) as usize
}

/// The rule index, read from the IDX section.
#[derive(Clone, Copy, Debug)]
pub struct RuleIndex<'s> {
    /// Bits of the bucket count.
    pub log2: u32,
    always: &'s [u8],
    offsets: &'s [u8],
    postings: &'s [u8],
}

/// An index entry's "no pattern" / "no rule".
pub const INDEX_NONE: u32 = u32::MAX;

impl<'s> RuleIndex<'s> {
    /// (pattern, rule) entries that are candidates for every call.
    pub fn always(&self) -> impl Iterator<Item = (u32, u32)> + 's {
        let a = self.always;
        (0..a.len() / 8).map(move |i| (u32_at(a, 8 * i), u32_at(a, 8 * i + 4)))
    }
    /// (pattern, rule) entries that may match when the n-gram of `bucket`
    /// occurs.
    pub fn bucket(&self, bucket: usize) -> impl Iterator<Item = (u32, u32)> + 's {
        let start = u32_at(self.offsets, 4 * bucket) as usize;
        let end = u32_at(self.offsets, 4 * (bucket + 1)) as usize;
        let p = self.postings;
        (start..end.max(start)).map(move |i| (u32_at(p, 8 * i), u32_at(p, 8 * i + 4)))
    }
}

/// Is `toks` well-formed byte code? Path patterns may use `SEP` and
/// `GLOBSTAR` and have at most [`glob::MAX_PATH_COMPONENTS`] components.
fn tokens_ok(toks: &[u8], path: bool) -> Option<()> {
    let mut p = 0usize;
    let mut components = 1usize;
    while let Some(op) = at(toks, p) {
        p += match op {
            glob::LIT => {
                let n = at(toks, p + 1)? as usize;
                if n == 0 {
                    return None;
                }
                2 + n
            }
            glob::ANY | glob::STAR => 1,
            glob::CLASS => glob::class_len(at(toks, p + 2)? as usize),
            glob::SEP if path => {
                components += 1;
                1
            }
            glob::GLOBSTAR if path => 1,
            _ => return None,
        };
        if p > toks.len() {
            return None;
        }
    }
    (components <= glob::MAX_PATH_COMPONENTS).then_some(())
}
