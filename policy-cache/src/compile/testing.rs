//! Running the `tests:` cases of policy files.

use super::PolicySet;
use crate::eval::{Call, Command, evaluate, scratch_needed};
use crate::snapshot::{Action, Snapshot};
use std::string::String;
use std::vec::Vec;

/// One case's result.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    /// Case name.
    pub name: String,
    /// `file:line` of its `expect`.
    pub location: String,
    /// What it expected.
    pub expected: Action,
    /// What the policy decided.
    pub actual: Action,
    /// Deciding policy, if any.
    pub policy: Option<String>,
}

impl TestOutcome {
    /// Did it pass?
    pub fn passed(&self) -> bool {
        self.expected == self.actual
    }
}

/// All cases' results.
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    /// In file order.
    pub outcomes: Vec<TestOutcome>,
}

impl TestReport {
    /// Passing cases.
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed()).count()
    }
    /// Failing cases.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }
}

/// Evaluate every `tests:` case of `set` against `snap` (compiled from it).
pub fn run_tests(set: &PolicySet, snap: &Snapshot<'_>) -> TestReport {
    let mut report = TestReport::default();
    for t in &set.tests {
        let get = |k: &str| {
            t.params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_bytes())
        };
        let params: Vec<(&[u8], &[u8])> = t
            .params
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        let call = Call {
            tool: t.tool.as_bytes(),
            agent: t.agent.as_bytes(),
            session: t.session.as_bytes(),
            command: get("command").map(Command::Shell),
            path: get("path")
                .or_else(|| get("file_path"))
                .or_else(|| get("file")),
            url: get("url"),
            params: &params,
            home: set.home.as_bytes(),
        };
        let mut scratch = std::vec![0u8; scratch_needed(&call)];
        let d = evaluate(snap, &call, &mut scratch);
        let file = set
            .files
            .get(t.file)
            .map(|(p, _)| p.display().to_string())
            .unwrap_or_default();
        report.outcomes.push(TestOutcome {
            name: t.name.clone(),
            location: std::format!("{file}:{}", t.line),
            expected: t.expect,
            actual: d.action,
            policy: d
                .policy
                .map(|p| String::from_utf8_lossy(snap.policy_name(p as usize)).into_owned()),
        });
    }
    report
}
use std::string::ToString;
