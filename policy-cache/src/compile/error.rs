//! Load and compile errors: always a file, a line and a column, and for a
//! near miss a suggestion.

use std::fmt;
use std::path::PathBuf;
use std::string::String;

/// What went wrong while loading or compiling policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The policy file (or directory) concerned.
    pub file: PathBuf,
    /// 1-based line (0 when the error concerns the file as a whole).
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// The likely intended spelling, for a near miss.
    pub suggestion: Option<String>,
}

impl LoadError {
    pub(crate) fn new(
        file: &std::path::Path,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> Self {
        LoadError {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            suggestion: None,
        }
    }
    pub(crate) fn with_suggestion(mut self, s: Option<String>) -> Self {
        self.suggestion = s;
        self
    }
    /// `file:line:column`.
    pub fn location(&self) -> String {
        std::format!(
            "{}:{}:{}",
            self.file.display(),
            self.line.max(1),
            self.column.max(1)
        )
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Levenshtein distance (small strings only: keys and actions).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: std::vec::Vec<char> = b.chars().collect();
    let mut prev: std::vec::Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = std::vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a typo
/// (or a known synonym).
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let synonyms = [
        ("block", "deny"),
        ("reject", "deny"),
        ("refuse", "deny"),
        ("forbid", "deny"),
        ("permit", "allow"),
        ("accept", "allow"),
        ("approve", "ask"),
        ("prompt", "ask"),
        ("confirm", "ask"),
        ("audit", "watch"),
        ("monitor", "watch"),
        ("flag", "watch"),
    ];
    let candidates: std::vec::Vec<&str> = candidates.into_iter().collect();
    if let Some((_, s)) = synonyms.iter().find(|(w, _)| w.eq_ignore_ascii_case(word))
        && candidates.contains(s)
    {
        return Some((*s).into());
    }
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (distance(&lower, c), *c))
        .filter(|(d, c)| {
            *d <= (c.len() / 3).max(2) || c.starts_with(lower.as_str()) && !lower.is_empty()
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.into())
}
