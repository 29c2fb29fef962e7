//! `user-overrides.yaml` as text: the quick rules of `rampart allow`,
//! `block` and `ask` are inserted and removed as lines, never by a YAML
//! round trip, so the user's comments and layout survive every edit.
//!
//! The functions here only transform strings; the caller loads the result
//! with the real policy loader before anything is written.

use policy_cache::Action;

/// The overrides file's name inside the policies directory.
pub const FILE_NAME: &str = "user-overrides.yaml";

/// What a new (or `rampart init`'s empty) overrides file holds.
pub const EMPTY: &str = "\
# Your own rules. `rampart allow`, `rampart block` and `rampart ask` add a
# small policy here for each rule; `rampart rules` lists every rule in force
# and `rampart rules remove N` removes one written here. Edit freely: the
# quick commands edit this file as text and keep your comments.
#
# An allow here never overrides a deny from another file: a deny ends
# evaluation. To lift a deny, edit or disable the policy that denies.
version: \"1\"
policies: []
";

/// A quick rule: one pattern, one action, one optional message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickRule {
    pub name: String,
    pub action: Action,
    pub pattern: String,
    pub message: Option<String>,
}

impl QuickRule {
    /// Block and ask run before the default policy's asks (priority 1);
    /// allow at 5. Neither can lift a deny.
    pub fn priority(&self) -> i64 {
        if self.action == Action::Allow { 5 } else { 1 }
    }

    /// The policy entry, its dash at `indent` columns.
    pub fn render(&self, indent: usize) -> String {
        let d = " ".repeat(indent);
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let mut out = format!(
            "{d}- name: {}\n{d}  priority: {}\n{d}  match:\n{d}    tool: exec\n{d}  rules:\n{d}    - action: {}\n{d}      when:\n{d}        command_matches: [{}]\n",
            self.name,
            self.priority(),
            self.action.as_str(),
            q(&self.pattern),
        );
        if let Some(m) = &self.message {
            out.push_str(&format!("{d}      message: {}\n", q(m)));
        }
        out
    }
}

/// `user-allow-N` (`user-block-N`, `user-ask-N`) with N one past the largest
/// already taken among `names`.
pub fn next_name(verb: &str, names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let prefix = format!("user-{verb}-");
    let max = names
        .into_iter()
        .filter_map(|n| n.as_ref().strip_prefix(&prefix)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("{prefix}{}", max + 1)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// A top-level key (column 0, not a comment and not a sequence entry).
fn is_top_level_key(line: &str) -> bool {
    !line.is_empty()
        && !line.starts_with([' ', '\t', '#', '-', '\n', '\r'])
        && !line.trim().is_empty()
}

/// The `policies:` line and what follows the colon (comment stripped).
fn find_policies(lines: &[String]) -> Option<(usize, String)> {
    lines.iter().enumerate().find_map(|(i, l)| {
        let rest = l.strip_prefix("policies:")?;
        let value = rest.split(" #").next().unwrap_or("").trim().to_string();
        Some((i, value))
    })
}

fn split_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    if let Some(last) = lines.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
    }
    lines
}

/// End (exclusive) of the block sequence that starts after line `start`.
fn section_end(lines: &[String], start: usize) -> usize {
    (start + 1..lines.len())
        .find(|&i| is_top_level_key(&lines[i]))
        .unwrap_or(lines.len())
}

/// `text` with `rule` appended to its `policies:` list.
pub fn insert(text: &str, rule: &QuickRule) -> Result<String, String> {
    let mut lines = split_lines(text);
    let Some((at, value)) = find_policies(&lines) else {
        let mut out = lines.concat();
        out.push_str("policies:\n");
        out.push_str(&rule.render(2));
        return Ok(out);
    };
    match value.as_str() {
        "" => {}
        "[]" => lines[at] = "policies:\n".into(),
        _ => {
            return Err(format!(
                "line {}: `policies:` is written inline, so a rule cannot be appended as text; \
                 write it as a list of `- name: …` entries and try again",
                at + 1
            ));
        }
    }
    let mut end = section_end(&lines, at);
    if end < lines.len() {
        // Comments and blank lines just before the next key belong to it.
        while end > at + 1 && is_blank_or_comment(&lines[end - 1]) {
            end -= 1;
        }
    }
    let indent = lines[at + 1..end]
        .iter()
        .find(|l| l.trim_start().starts_with('-'))
        .map_or(2, |l| indent_of(l));
    lines.insert(end, rule.render(indent));
    Ok(lines.concat())
}

/// `text` without the policy entry whose `- name:` is on line `line`
/// (1-based) and names `name`: the entry's lines up to the next entry or
/// top-level key.
pub fn remove(text: &str, name: &str, line: u64) -> Result<String, String> {
    let mut lines = split_lines(text);
    let idx = usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .filter(|&i| i < lines.len())
        .ok_or_else(|| format!("line {line} is not in the file"))?;
    let head = lines[idx].trim();
    let value = head
        .strip_prefix('-')
        .map(str::trim_start)
        .and_then(|h| h.strip_prefix("name:"))
        .map(|v| {
            v.split(" #")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
        });
    if value != Some(name) {
        return Err(format!(
            "line {line} does not start policy {name:?} with `- name: {name}`; remove it by hand"
        ));
    }
    let dash = indent_of(&lines[idx]);
    let end = (idx + 1..lines.len())
        .find(|&i| !lines[i].trim().is_empty() && indent_of(&lines[i]) <= dash)
        .unwrap_or(lines.len());
    lines.drain(idx..end);
    // An emptied `policies:` would read as null; write an empty list.
    if let Some((at, value)) = find_policies(&lines)
        && value.is_empty()
    {
        let end = section_end(&lines, at);
        if !lines[at + 1..end]
            .iter()
            .any(|l| l.trim_start().starts_with('-'))
        {
            lines[at] = "policies: []\n".into();
        }
    }
    Ok(lines.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_cache::compile::PolicySet;

    fn rule(name: &str, action: Action, pattern: &str, message: Option<&str>) -> QuickRule {
        QuickRule {
            name: name.into(),
            action,
            pattern: pattern.into(),
            message: message.map(Into::into),
        }
    }

    fn loads(text: &str) -> PolicySet {
        PolicySet::from_str("user-overrides.yaml", text)
            .unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    #[test]
    fn the_empty_file_loads_and_takes_a_first_rule() {
        assert!(loads(EMPTY).policies.is_empty());
        let text = insert(
            EMPTY,
            &rule("user-allow-1", Action::Allow, "npm install *", None),
        )
        .unwrap();
        let set = loads(&text);
        assert_eq!(set.policies.len(), 1);
        assert_eq!(set.policies[0].name, "user-allow-1");
        assert_eq!(set.policies[0].priority, 5);
        assert_eq!(
            set.policies[0].rules[0].conds[0].patterns,
            ["npm install *"]
        );
        assert!(text.starts_with("# Your own rules."));
    }

    #[test]
    fn patterns_and_messages_with_quotes_survive() {
        let r = rule(
            "user-block-1",
            Action::Deny,
            "curl * | bash \"x\" 'y' # z",
            Some("no: piping \"to\" a shell"),
        );
        let set = loads(&insert(EMPTY, &r).unwrap());
        let p = &set.policies[0];
        assert_eq!(p.rules[0].conds[0].patterns, [r.pattern.as_str()]);
        assert_eq!(p.rules[0].message, "no: piping \"to\" a shell");
        assert_eq!(p.priority, 1);
    }

    #[test]
    fn a_rule_goes_before_a_later_top_level_key_and_keeps_comments() {
        let text = "# top\nversion: \"1\"\npolicies:\n# mine\n- name: a\n  rules: []\n\n# the tests\ntests: []\n";
        let out = insert(text, &rule("user-ask-1", Action::Ask, "kubectl *", None)).unwrap();
        let set = loads(&out);
        assert_eq!(set.policies.len(), 2);
        assert!(out.contains("# mine\n- name: a\n"));
        assert!(out.contains("- name: user-ask-1\n"), "{out}");
        assert!(out.ends_with("\n# the tests\ntests: []\n"), "{out}");
    }

    #[test]
    fn a_file_without_policies_gets_the_key() {
        let out = insert(
            "version: \"1\"",
            &rule("user-allow-1", Action::Allow, "ls", None),
        )
        .unwrap();
        assert_eq!(loads(&out).policies.len(), 1);
    }

    #[test]
    fn an_inline_policies_list_is_refused() {
        let text = "policies: [{name: a}]\n";
        assert!(insert(text, &rule("x", Action::Allow, "ls", None)).is_err());
    }

    #[test]
    fn removing_takes_out_exactly_the_entry() {
        let a = insert(EMPTY, &rule("user-allow-1", Action::Allow, "ls", None)).unwrap();
        let b = insert(&a, &rule("user-block-1", Action::Deny, "rm *", Some("m"))).unwrap();
        let set = loads(&b);
        let line = set.policies[0].line;
        let out = remove(&b, "user-allow-1", line).unwrap();
        let set = loads(&out);
        assert_eq!(set.policies.len(), 1);
        assert_eq!(set.policies[0].name, "user-block-1");
        let line = set.policies[0].line;
        let out = remove(&out, "user-block-1", line).unwrap();
        assert_eq!(out, EMPTY);
    }

    #[test]
    fn removing_refuses_a_line_that_is_not_the_entry() {
        let a = insert(EMPTY, &rule("user-allow-1", Action::Allow, "ls", None)).unwrap();
        assert!(remove(&a, "user-allow-1", 1).is_err());
        assert!(remove(&a, "user-allow-1", 999).is_err());
    }

    #[test]
    fn names_count_up_from_the_largest() {
        assert_eq!(
            next_name("allow", ["a", "user-allow-3", "user-allow-1"]),
            "user-allow-4"
        );
        assert_eq!(next_name("block", Vec::<String>::new()), "user-block-1");
    }
}
