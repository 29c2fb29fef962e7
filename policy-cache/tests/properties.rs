//! Property tests for the hot path.
//!
//! - Path globs agree with `globset` (the matcher ripgrep uses) wherever the
//!   two languages mean the same thing.
//! - Command globs agree with a naive recursive matcher written from
//!   POLICY.md's definition.
//! - The normaliser and the evaluator never panic, whatever the bytes, and
//!   pathological input answers in bounded time.
//!
//! Case counts are kept moderate (CI has two cores); raise them locally with
//! `PROPTEST_CASES=10000 cargo test -p policy-cache --test properties`.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use globset::GlobBuilder;
use policy_cache::compile::{self, PolicySet, tokenise_command_glob, tokenise_path_glob};
use policy_cache::eval::evaluate_unindexed;
use policy_cache::glob::{match_command, match_path};
use policy_cache::normalise::{
    Argv, Failure, Normalised, normalise_argv, normalise_shell, scratch_size,
};
use policy_cache::snapshot::HEADER_LEN;
use policy_cache::{Action, Call, Command, Decision, Reason, Snapshot, evaluate, scratch_needed};
use proptest::prelude::*;
use proptest::sample::select;

const HOME: &str = "/home/dev";

/// The built-in default policy, compiled once for the whole test binary.
static BUILTIN: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let set = compile::builtin::standard(HOME).expect("the built-in policy loads");
    compile::compile(&set, 1).expect("the built-in policy compiles")
});

fn builtin() -> Snapshot<'static> {
    Snapshot::from_bytes(&BUILTIN).expect("the built-in snapshot validates")
}

fn config(cases: u32) -> ProptestConfig {
    // No regression files: a failure prints its minimal input, and the fix
    // gets a named regression test instead.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // Path cases whose normal form is empty (`.`, `a/..`) are rejected.
        max_global_rejects: cases.saturating_mul(4),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn decide_shell<'s>(snap: &Snapshot<'s>, cmd: &[u8]) -> Decision<'s> {
    let call = Call::exec(Command::Shell(cmd), HOME.as_bytes());
    let mut scratch = vec![0u8; scratch_needed(&call)];
    evaluate(snap, &call, &mut scratch)
}

/// Run `f`, failing the test if it took longer than `limit`. Limits are
/// generous (debug build, shared CI cores): they catch a hang or a
/// quadratic blow-up, not a slow machine.
fn within<R>(limit: Duration, what: &str, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    assert!(
        took < limit,
        "{what} took {took:?}, over the {limit:?} bound"
    );
    r
}

/// Structural checks any successful normalisation must pass.
fn check_normalised(n: &Normalised<'_>) {
    assert_eq!(n.segments().count(), n.segment_count());
    for u in n.segments().chain([n.raw()]) {
        assert!(
            !u.text.contains(&0),
            "NUL left in {:?}",
            String::from_utf8_lossy(u.text)
        );
        assert!(
            u.text.starts_with(u.prog),
            "program is not the start of the text"
        );
    }
}

// ---------------------------------------------------------------------------
// Path globs against globset
// ---------------------------------------------------------------------------

/// Pattern pieces. Concatenated freely, so `**` also lands inside a
/// component (`a**`, `***`), where both matchers read it as `*`.
const PATH_ATOMS: &[&str] = &["a", "b", ".", "*", "**", "?", "[ab]", "/"];

/// Where the two languages differ on purpose, and what the test does:
///
/// - A trailing `/` (`a/`): ours means "this directory" and drops it;
///   globset requires the slash. Such patterns are not generated.
/// - A trailing `/**` (`a/**`): ours lets `**` match zero components, so it
///   matches `a` itself; globset requires `a/` and something. The oracle is
///   then `globset(P/**) || globset(P)`, which is exactly our definition.
///   The same applies to a whole pattern `/**` (`P` empty, matching the
///   empty path).
/// - Patterns globset refuses to build are skipped (none are expected over
///   this alphabet).
fn oracle(pattern: &str, path: &str) -> Option<bool> {
    let build = |p: &str| {
        GlobBuilder::new(p)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .ok()
            .map(|g| g.compile_matcher())
    };
    let m = build(pattern)?;
    let mut yes = m.is_match(path);
    if let Some(prefix) = pattern.strip_suffix("/**")
        && !yes
    {
        yes = if prefix.is_empty() {
            path.is_empty()
        } else {
            build(prefix)?.is_match(path)
        };
    }
    Some(yes)
}

fn path_pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(select(PATH_ATOMS), 1..8)
        .prop_map(|v| v.concat())
        .prop_filter("a trailing `/` means different things", |p| {
            p == "/" || !p.ends_with('/')
        })
        // An empty component (`a//b`) is not a pattern anyone writes, and
        // Rampart normalises it out of the paths it matches; globset gives
        // `**//**` its own meaning.
        .prop_filter("empty components", |p| !p.contains("//"))
}

fn path_text() -> impl Strategy<Value = String> {
    prop::collection::vec(select(&["a", "b", ".", "/", "ab", "ba"][..]), 0..10)
        .prop_map(|v| v.concat())
}

/// A pattern and a path built to (often) match it: each wildcard replaced by
/// text of the kind it stands for, sometimes the wrong kind.
fn pattern_and_instance() -> impl Strategy<Value = (String, String)> {
    prop::collection::vec((select(PATH_ATOMS), path_text(), any::<bool>()), 1..8)
        .prop_map(|atoms| {
            let pattern: String = atoms.iter().map(|(a, _, _)| *a).collect();
            let path: String = atoms
                .iter()
                .map(|(a, fill, wrong)| match *a {
                    "*" if !wrong => fill.replace('/', ""),
                    "*" | "**" => fill.clone(),
                    "?" => fill
                        .chars()
                        .next()
                        .filter(|_| !wrong)
                        .unwrap_or('a')
                        .to_string(),
                    "[ab]" if *wrong => ".".into(),
                    "[ab]" => if fill.len() % 2 == 0 { "a" } else { "b" }.into(),
                    lit => lit.into(),
                })
                .collect();
            (pattern, path)
        })
        .prop_filter("a trailing `/` means different things", |(p, _)| {
            p == "/" || !p.ends_with('/')
        })
        .prop_filter("empty components", |(p, _)| !p.contains("//"))
}

fn path_glob_agrees(pattern: &str, raw_path: &str) -> Result<(), TestCaseError> {
    // Rampart only ever matches normalised paths (`//`, `.`, `..` and a
    // trailing `/` resolved): compare on those.
    let mut buf = vec![0u8; raw_path.len() + 2];
    let Some(norm) =
        policy_cache::normalise::path(raw_path.as_bytes(), b"/nonexistent-home", &mut buf)
    else {
        return Err(TestCaseError::reject("no room"));
    };
    let path = String::from_utf8(norm.to_vec()).expect("ascii");
    if path.is_empty() {
        return Err(TestCaseError::reject("not a path"));
    }
    let path = path.as_str();
    let toks = tokenise_path_glob(pattern)
        .map_err(|e| TestCaseError::fail(format!("{pattern:?}: {e}")))?;
    let Some(expected) = oracle(pattern, path) else {
        return Err(TestCaseError::reject("globset refuses the pattern"));
    };
    let ours = match_path(&toks, path.as_bytes());
    prop_assert_eq!(ours, expected, "pattern {:?} path {:?}", pattern, path);
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn path_globs_agree_with_globset_on_random_paths(pattern in path_pattern(), path in path_text()) {
        path_glob_agrees(&pattern, &path)?;
    }

    #[test]
    fn path_globs_agree_with_globset_on_paths_built_from_the_pattern((pattern, path) in pattern_and_instance()) {
        path_glob_agrees(&pattern, &path)?;
    }
}

#[test]
fn path_glob_oracle_exclusions_behave_as_documented() {
    // The documented differences, pinned so a change on either side shows.
    let ours = |p: &str, t: &str| match_path(&tokenise_path_glob(p).unwrap(), t.as_bytes());
    assert!(ours("a/**", "a") && oracle("a/**", "a") == Some(true));
    assert!(
        !GlobBuilder::new("a/**")
            .literal_separator(true)
            .build()
            .unwrap()
            .compile_matcher()
            .is_match("a")
    );
    assert!(ours("a/", "a"));
    assert!(ours("a**", "ab") && !ours("a**", "a/b"));
}

// ---------------------------------------------------------------------------
// Command globs against a reference matcher
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum RefTok {
    Lit(u8),
    /// One character (a whole UTF-8 sequence).
    Any,
    /// Any run, `/` and spaces included.
    Star,
    /// One character (a whole UTF-8 sequence) in, or not in, the ranges of
    /// characters.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// POLICY.md's command glob, read naively: spaces squeezed (segments are
/// words joined by single spaces), `\x` a literal `x`, `*`/`**` any run,
/// `?` one character, `[…]` a class of characters (one whole character).
fn reference_parse(pattern: &str) -> Vec<RefTok> {
    let squeezed = pattern
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let b = squeezed.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'*' => out.push(RefTok::Star),
            b'?' => out.push(RefTok::Any),
            b'\\' if i + 1 < b.len() => {
                i += 1;
                out.push(RefTok::Lit(b[i]));
            }
            b'[' => {
                let close = i
                    + 2
                    + b[i + 2..]
                        .iter()
                        .position(|&c| c == b']')
                        .expect("generated classes close");
                let body = std::str::from_utf8(&b[i + 1..close]).expect("utf-8 class");
                let mut chars: Vec<char> = body.chars().collect();
                let negated = chars.first() == Some(&'!');
                if negated {
                    chars.remove(0);
                }
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < chars.len() {
                    if k + 2 < chars.len() && chars[k + 1] == '-' {
                        ranges.push((chars[k], chars[k + 2]));
                        k += 3;
                    } else {
                        ranges.push((chars[k], chars[k]));
                        k += 1;
                    }
                }
                out.push(RefTok::Class { negated, ranges });
                i = close;
            }
            c => out.push(RefTok::Lit(c)),
        }
        i += 1;
    }
    out
}

fn char_len(text: &[u8]) -> usize {
    // Texts are valid UTF-8 here.
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.chars().next())
        .map_or(1, char::len_utf8)
}

/// Does `p` match all of `t`? Plain recursion, memoised on (pattern
/// position, text position) so that many stars stay polynomial.
fn reference_match(p: &[RefTok], t: &[u8]) -> bool {
    fn go(
        p: &[RefTok],
        t: &[u8],
        pi: usize,
        ti: usize,
        memo: &mut [Option<bool>],
        width: usize,
    ) -> bool {
        if let Some(known) = memo[pi * width + ti] {
            return known;
        }
        let rest = &t[ti..];
        let yes = match p.get(pi) {
            None => rest.is_empty(),
            // A star consumes whole characters (never stops inside one).
            Some(RefTok::Star) => (ti..=t.len())
                .filter(|&k| k == t.len() || !(0x80..=0xBF).contains(&t[k]))
                .any(|k| go(p, t, pi + 1, k, memo, width)),
            Some(_) if rest.is_empty() => false,
            Some(RefTok::Lit(c)) => rest[0] == *c && go(p, t, pi + 1, ti + 1, memo, width),
            Some(RefTok::Any) => go(p, t, pi + 1, ti + char_len(rest), memo, width),
            Some(RefTok::Class { negated, ranges }) => {
                let c = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|s| s.chars().next())
                    .expect("texts are valid UTF-8");
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                    && go(p, t, pi + 1, ti + c.len_utf8(), memo, width)
            }
        };
        memo[pi * width + ti] = Some(yes);
        yes
    }
    let width = t.len() + 1;
    let mut memo = vec![None; (p.len() + 1) * width];
    go(p, t, 0, 0, &mut memo, width)
}

/// Pieces of command patterns over ASCII text (see `non_ascii_*` below for
/// characters of two to four bytes).
const COMMAND_ATOMS: &[&str] = &[
    "a", "b", "c", " ", "/", "-", "*", "**", "?", "[ab]", "[!a]", "[a-c]", "[!-]", "\\*", "\\?",
    "rm -rf ",
];

fn command_pattern(atoms: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(select(atoms), 1..10)
        .prop_map(|v| v.concat())
        .prop_filter("the compiler refuses empty patterns", |p| {
            !p.trim_matches(' ').is_empty()
        })
}

fn command_text(chars: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(select(chars), 0..16).prop_map(|v| v.concat())
}

const ASCII_TEXT: &[&str] = &["a", "b", "c", "d", " ", "/", "-", "*", "?", "rm", " -rf "];
const NON_ASCII_TEXT: &[&str] = &["a", "b", " ", "/", "é", "€", "𝄞"];
const NON_ASCII_ATOMS: &[&str] = &["a", "b", " ", "/", "é", "*", "**", "?", "??"];
/// Classes of multi-byte characters (and ASCII classes, which must not
/// match part of one).
const NON_ASCII_CLASS_ATOMS: &[&str] = &[
    "a",
    "é",
    " ",
    "*",
    "?",
    "[é]",
    "[!é]",
    "[!a]",
    "[a-z]",
    "[!/]",
    "[a-é]",
    "[é-€]",
    "[!€-𝄞]",
    "[𝄞]",
    "[ab€]",
];
/// The same for single path components (no `/`, no spaces).
const PATH_CLASS_ATOMS: &[&str] = &[
    "a",
    "é",
    "*",
    "?",
    "[é]",
    "[!é]",
    "[!a]",
    "[a-z]",
    "[a-é]",
    "[é-€]",
    "[!€-𝄞]",
    "[𝄞]",
    "[ab€]",
];

fn command_glob_agrees(pattern: &str, text: &str) -> Result<(), TestCaseError> {
    let toks = tokenise_command_glob(pattern)
        .map_err(|e| TestCaseError::fail(format!("{pattern:?}: {e}")))?;
    let expected = reference_match(&reference_parse(pattern), text.as_bytes());
    let ours = match_command(&toks, text.as_bytes(), false);
    prop_assert_eq!(ours, expected, "pattern {:?} text {:?}", pattern, text);
    Ok(())
}

/// Text built from the pattern, so that matches are common.
fn command_instance(pattern: &str, fill: &str) -> String {
    let squeezed = pattern
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    squeezed
        .replace("**", fill)
        .replace('*', fill)
        .replace('?', "a")
        .replace("[ab]", "b")
        .replace("[a-c]", "c")
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn command_globs_agree_with_the_reference_matcher(pattern in command_pattern(COMMAND_ATOMS), text in command_text(ASCII_TEXT)) {
        command_glob_agrees(&pattern, &text)?;
    }

    #[test]
    fn command_globs_agree_with_the_reference_on_text_built_from_the_pattern(
        pattern in command_pattern(COMMAND_ATOMS),
        fill in command_text(ASCII_TEXT),
    ) {
        command_glob_agrees(&pattern, &command_instance(&pattern, &fill))?;
    }

    #[test]
    fn non_ascii_characters_count_as_one_for_question_marks(
        pattern in command_pattern(NON_ASCII_ATOMS),
        text in command_text(NON_ASCII_TEXT),
    ) {
        command_glob_agrees(&pattern, &text)?;
    }

    #[test]
    fn non_ascii_characters_count_as_one_for_classes(
        pattern in command_pattern(NON_ASCII_CLASS_ATOMS),
        text in command_text(NON_ASCII_TEXT),
    ) {
        command_glob_agrees(&pattern, &text)?;
    }

    #[test]
    fn classes_agree_with_the_reference_on_text_built_from_the_pattern(
        pattern in command_pattern(NON_ASCII_CLASS_ATOMS),
        fill in command_text(NON_ASCII_TEXT),
        pick in select(&["é", "€", "𝄞", "a", "/"][..]),
    ) {
        // Each class replaced by a character it may or may not contain.
        let mut text = String::new();
        let mut rest = pattern.as_str();
        while let Some(open) = rest.find('[') {
            text.push_str(&rest[..open]);
            let close = open + rest[open..].find(']').expect("classes close");
            text.push_str(pick);
            rest = &rest[close + 1..];
        }
        text.push_str(rest);
        let text = text.replace('*', &fill).replace('?', "é");
        command_glob_agrees(&pattern, &text)?;
    }

    #[test]
    fn path_classes_match_one_character_within_a_component(
        pattern in command_pattern(PATH_CLASS_ATOMS),
        text in command_text(&["a", "b", "é", "€", "𝄞"]),
    ) {
        // Within one path component a class means what it means in a
        // command glob.
        let path_toks = tokenise_path_glob(&pattern)
            .map_err(|e| TestCaseError::fail(format!("{pattern:?}: {e}")))?;
        let expected = reference_match(&reference_parse(&pattern), text.as_bytes());
        prop_assert_eq!(match_path(&path_toks, text.as_bytes()), expected, "pattern {:?} text {:?}", pattern, text);
    }

    #[test]
    fn a_command_glob_with_no_wildcards_matches_only_itself(text in command_text(ASCII_TEXT), other in command_text(ASCII_TEXT)) {
        let lit: String = text.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        prop_assume!(!lit.is_empty());
        let escaped: String = lit.chars().flat_map(|c| if matches!(c, '*' | '?' | '[' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
        let toks = tokenise_command_glob(&escaped).unwrap();
        prop_assert!(match_command(&toks, lit.as_bytes(), false));
        prop_assert_eq!(match_command(&toks, other.as_bytes(), false), other == lit);
    }
}

// ---------------------------------------------------------------------------
// The normaliser and the evaluator on arbitrary input
// ---------------------------------------------------------------------------

/// Shell syntax that steers the lexer into its every corner.
const SHELL_TOKENS: &[&str] = &[
    "'",
    "\"",
    "$(",
    ")",
    "`",
    "\\",
    ";",
    "|",
    "&&",
    "||",
    "&",
    "<<EOF\n",
    "<<-'EOF'\n",
    "EOF\n",
    "\tEOF\n",
    "<<<",
    "bash -c ",
    "sh -ec ",
    "sudo ",
    "sudo -u root ",
    "su -c ",
    "doas ",
    "rm -rf ",
    "rm -r -f ",
    "rm --recursive --force ",
    "find / -exec ",
    "-delete ",
    "-name x ",
    "-name ",
    "-mtime +1 ",
    "-o ",
    "! ",
    "\\( ",
    "\\) ",
    "xargs -a f ",
    "{} ",
    "\\; ",
    "+ ",
    "eval ",
    "env -i ",
    "env -u ",
    "X=1 ",
    "export ",
    "timeout 5 ",
    "xargs -I{} ",
    "nice -n ",
    "~",
    "~/",
    "$HOME",
    "${HOME}",
    "${",
    "}",
    "$((",
    "$'\\x41\\0'",
    "<(",
    ">(",
    "(",
    "{ ",
    ">",
    "2>&1",
    ">&",
    "#",
    " ",
    "\n",
    "\t",
    "a",
    "/",
    "-",
    "git status",
    "/home/dev",
    "*",
    "\0",
    "é",
];

fn shellish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(select(SHELL_TOKENS), 0..48).prop_map(|v| v.concat().into_bytes())
}

fn normalise_shell_checked(script: &[u8], scratch: usize) -> Result<(), Failure> {
    let mut buf = vec![0u8; scratch];
    let n = normalise_shell(script, HOME.as_bytes(), &mut buf)?;
    check_normalised(&n);
    Ok(())
}

fn normalise_argv_checked(args: &[Vec<u8>], scratch: usize) -> Result<(), Failure> {
    let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let mut buf = vec![0u8; scratch];
    let n = normalise_argv(argv.as_slice(), HOME.as_bytes(), &mut buf)?;
    check_normalised(&n);
    Ok(())
}

/// An argv as owned words (the library's callers hand in C `argv`).
struct Words<'a>(&'a [Vec<u8>]);

impl Argv for Words<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn arg(&self, i: usize) -> &[u8] {
        self.0.get(i).map_or(&[], Vec::as_slice)
    }
}

fn argv_len(args: &[Vec<u8>]) -> usize {
    args.iter().map(|a| a.len() + 1).sum()
}

/// Evaluate `cmd` with a full scratch buffer and with one of `small` bytes:
/// the small one may only refuse ("too complex"), never decide otherwise;
/// and the rule index never changes a decision.
fn evaluate_both_ways(cmd: Command<'_>, small: usize) -> Result<(), TestCaseError> {
    let snap = builtin();
    let call = Call::exec(cmd, HOME.as_bytes());
    let mut scratch = vec![0u8; scratch_needed(&call)];
    let full = evaluate(&snap, &call, &mut scratch);
    if matches!(full.reason, Reason::Unparsable(_) | Reason::TooLong) {
        prop_assert_eq!(full.action, Action::Deny);
    }
    let plain = evaluate_unindexed(&snap, &call, &mut scratch);
    prop_assert_eq!(
        (full.action, full.reason, full.policy, full.rule),
        (plain.action, plain.reason, plain.policy, plain.rule),
        "the rule index changed a decision"
    );
    let mut tiny = vec![0u8; small];
    let cramped = evaluate(&snap, &call, &mut tiny);
    if cramped.reason != Reason::Unparsable(Failure::TooComplex) {
        prop_assert_eq!(
            (cramped.action, cramped.reason, cramped.policy),
            (full.action, full.reason, full.policy)
        );
    } else {
        prop_assert_eq!(cramped.action, Action::Deny);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn normalising_arbitrary_bytes_as_a_shell_string_never_panics(script in any::<Vec<u8>>()) {
        let _ = normalise_shell_checked(&script, scratch_size(script.len()));
    }

    #[test]
    fn normalising_shellish_strings_never_panics(script in shellish(), small in 0usize..512) {
        let _ = normalise_shell_checked(&script, scratch_size(script.len()));
        let _ = normalise_shell_checked(&script, small);
    }

    #[test]
    fn normalising_arbitrary_argv_never_panics(args in prop::collection::vec(any::<Vec<u8>>(), 0..8)) {
        let _ = normalise_argv_checked(&args, scratch_size(argv_len(&args)));
    }

    #[test]
    fn normalising_shellish_argv_never_panics(args in prop::collection::vec(shellish(), 0..6), small in 0usize..512) {
        let _ = normalise_argv_checked(&args, scratch_size(argv_len(&args)));
        let _ = normalise_argv_checked(&args, small);
    }

    #[test]
    fn evaluating_arbitrary_bytes_never_panics_and_a_small_scratch_only_refuses(
        script in any::<Vec<u8>>(),
        small in 0usize..1024,
    ) {
        evaluate_both_ways(Command::Shell(&script), small)?;
    }

    #[test]
    fn evaluating_shellish_strings_never_panics_and_a_small_scratch_only_refuses(script in shellish(), small in 0usize..1024) {
        evaluate_both_ways(Command::Shell(&script), small)?;
    }

    #[test]
    fn evaluating_arbitrary_argv_never_panics_and_a_small_scratch_only_refuses(
        args in prop::collection::vec(any::<Vec<u8>>(), 0..8),
        small in 0usize..1024,
    ) {
        evaluate_both_ways(Command::Argv(&Words(&args)), small)?;
    }

    #[test]
    fn evaluating_shellish_argv_never_panics_and_a_small_scratch_only_refuses(
        args in prop::collection::vec(shellish(), 0..6),
        small in 0usize..1024,
    ) {
        evaluate_both_ways(Command::Argv(&Words(&args)), small)?;
    }

    #[test]
    fn evaluating_arbitrary_calls_of_any_tool_never_panics(
        tool in select(&["exec", "read", "write", "fetch", "", "*"][..]),
        agent in any::<Vec<u8>>(),
        path in prop::option::of(any::<Vec<u8>>()),
        url in prop::option::of(any::<Vec<u8>>()),
        params in prop::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 0..3),
        small in 0usize..256,
    ) {
        let snap = builtin();
        let params: Vec<(&[u8], &[u8])> = params.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
        let call = Call {
            tool: tool.as_bytes(),
            agent: &agent,
            session: &agent,
            command: None,
            path: path.as_deref(),
            url: url.as_deref(),
            params: &params,
            home: HOME.as_bytes(),
        };
        let mut scratch = vec![0u8; scratch_needed(&call)];
        let _ = evaluate(&snap, &call, &mut scratch);
        let mut tiny = vec![0u8; small];
        let _ = evaluate(&snap, &call, &mut tiny);
    }

    #[test]
    fn a_snapshot_with_a_valid_checksum_but_corrupt_tables_never_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cmd in shellish(),
    ) {
        let mut bytes = BUILTIN.clone();
        let payload_len = bytes.len() - HEADER_LEN;
        for (at, value) in &flips {
            bytes[HEADER_LEN + at.index(payload_len)] = *value;
        }
        let crc = policy_cache::crc32::crc32(&bytes[HEADER_LEN..]);
        bytes[40..44].copy_from_slice(&crc.to_le_bytes());
        if let Ok(snap) = Snapshot::from_bytes(&bytes) {
            let call = Call::exec(Command::Shell(&cmd), HOME.as_bytes());
            let mut scratch = vec![0u8; scratch_needed(&call)];
            let _ = evaluate(&snap, &call, &mut scratch);
        }
    }
}

// ---------------------------------------------------------------------------
// Pathological input answers in bounded time
// ---------------------------------------------------------------------------

/// Generous on purpose: the tests run unoptimised on shared CI cores, where
/// the 1 MiB script alone takes tens of seconds (every unkeyed pattern of the
/// default policy scans the raw script and every segment; see the benchmark
/// for optimised numbers). A quadratic path would take hours.
const BOUND: Duration = Duration::from_secs(if cfg!(debug_assertions) { 180 } else { 10 });

fn snapshot_of(yaml: &str) -> Vec<u8> {
    let set = PolicySet::from_sources(vec![("p.yaml".into(), yaml.into())], HOME).expect("loads");
    compile::compile(&set, 1).expect("compiles")
}

#[test]
fn a_pattern_of_many_stars_against_64_kib_answers_quickly() {
    let bytes = snapshot_of(
        "default_action: allow\npolicies:\n  - name: stars\n    rules:\n      - action: deny\n        when: { command_matches: [\"**a**b**\"] }\n",
    );
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    let text = "a".repeat(64 * 1024);
    let d = within(BOUND, "**a**b** against 64 KiB of a", || {
        decide_shell(&snap, text.as_bytes())
    });
    assert_eq!(d.action, Action::Allow);
    let d = within(BOUND, "**a**b** against 64 KiB of a then b", || {
        decide_shell(&snap, format!("{text}b").as_bytes())
    });
    assert_eq!(d.action, Action::Deny);
    let toks = tokenise_command_glob("*a*a*a*a*a*a*a*a*b").unwrap();
    assert!(!within(BOUND, "eight stars against 64 KiB", || {
        match_command(&toks, text.as_bytes(), false)
    }));
}

#[test]
fn a_path_pattern_of_many_globstars_against_a_deep_path_answers_quickly() {
    let pattern = vec!["**/a"; 30].join("/") + "/c";
    let toks = tokenise_path_glob(&pattern).unwrap();
    let deep = "a/".repeat(20_000) + "b";
    assert!(!within(BOUND, "globstars against a deep path", || {
        match_path(&toks, deep.as_bytes())
    }));
    let deep = "a/".repeat(20_000) + "c";
    assert!(within(BOUND, "globstars against a deep path", || {
        match_path(&toks, deep.as_bytes())
    }));
}

#[test]
fn deeply_nested_substitutions_are_refused_not_followed() {
    for (what, script) in [
        ("$( nesting", "$(".repeat(100_000)),
        (
            "echo $( nesting",
            "echo $(".repeat(50_000) + &")".repeat(50_000),
        ),
        ("bash -c nesting", "bash -c '".repeat(50_000)),
        ("eval nesting", "eval ".repeat(100_000) + "rm -rf /"),
        ("<( nesting", "cat <(".repeat(50_000)),
    ] {
        let snap = builtin();
        let d = within(BOUND, what, || decide_shell(&snap, script.as_bytes()));
        // Either refused as too deep, or (for shapes that do not nest) decided.
        assert!(
            d.reason == Reason::Unparsable(Failure::TooDeep)
                || !matches!(d.reason, Reason::Unparsable(_))
                || d.action == Action::Deny,
            "{what}: {d:?}"
        );
        let mut buf = vec![0u8; scratch_size(script.len())];
        let r = within(BOUND, what, || {
            normalise_shell(script.as_bytes(), HOME.as_bytes(), &mut buf).map(|n| n.segment_count())
        });
        assert!(
            matches!(r, Ok(_) | Err(Failure::TooDeep) | Err(Failure::TooComplex)),
            "{what}: {r:?}"
        );
    }
}

#[test]
fn twelve_nested_substitutions_are_too_deep_to_check() {
    let mut cmd = String::from("rm -rf /");
    for _ in 0..12 {
        cmd = format!("echo $({cmd})");
    }
    let d = decide_shell(&builtin(), cmd.as_bytes());
    assert_eq!(
        (d.action, d.reason),
        (Action::Deny, Reason::Unparsable(Failure::TooDeep))
    );
}

/// A `bash -c` script of at least `len` bytes of ordinary build lines.
fn long_script(len: usize) -> String {
    let line = "cd src && cargo build --release 2>&1 | tee -a build.log\n";
    let body = line.repeat(len.div_ceil(line.len()));
    format!("bash -c '{body}'")
}

#[test]
fn a_one_mib_bash_script_is_decided_in_bounded_time() {
    let snap = builtin();
    let script = long_script(1 << 20);
    let d = within(BOUND, "1 MiB bash -c script", || {
        decide_shell(&snap, script.as_bytes())
    });
    assert!(
        !matches!(d.reason, Reason::Unparsable(_) | Reason::TooLong),
        "{d:?}"
    );
    // An attack on the first line of a long script is still found.
    let attack = long_script(256 << 10).replacen("cd src", "rm -rf ~", 1);
    let d = within(BOUND, "256 KiB bash -c script with an attack", || {
        decide_shell(&snap, attack.as_bytes())
    });
    assert_eq!(d.action, Action::Deny, "{d:?}");
}

#[test]
fn large_pathological_shapes_are_decided_or_refused_in_bounded_time() {
    let snap = builtin();
    // 256 KiB each: enough to expose anything quadratic, cheap enough for CI.
    let size = 256 << 10;
    for (what, unit) in [
        ("separators", ";"),
        ("pipes", "a|"),
        ("substitutions", "a $(b) "),
        ("backticks", "`a` "),
        ("quotes", "'a'\"b\""),
        ("heredocs", "cat <<E\nx\nE\n"),
        ("fd redirects", "1"),
        ("home words", "$HOME/x "),
        ("find exec", "find a b c d e -exec rm {} + "),
        ("wrappers", "sudo env -i nice timeout 5 "),
        ("privilege chains", "sudo "),
        ("backslashes", "\\"),
        ("line continuations", "\\\n"),
    ] {
        let script = unit.repeat(size / unit.len());
        let d = within(BOUND, what, || decide_shell(&snap, script.as_bytes()));
        if d.reason != Reason::Rule && d.reason != Reason::Default {
            assert_eq!(d.action, Action::Deny, "{what}: {d:?}");
        }
    }
}

#[test]
fn a_find_with_many_filtered_actions_is_decided_in_bounded_time() {
    // One `find` whose expression has thousands of actions, each after
    // filters, groups and alternatives: the expression is read once.
    let snap = builtin();
    let unit = "-name x -delete \\( -mtime 1 -o -name y \\) -exec rm {} + ! -name z -o ";
    let script = format!("find ~ a {}-delete", unit.repeat((256 << 10) / unit.len()));
    let d = within(BOUND, "find with many actions", || {
        decide_shell(&snap, script.as_bytes())
    });
    // The last `-delete` follows an `-o`: a tree delete of home.
    assert_eq!((d.action, d.reason), (Action::Deny, Reason::Rule), "{d:?}");
}
