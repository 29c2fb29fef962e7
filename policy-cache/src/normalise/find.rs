//! `find`'s actions as the commands they amount to.
//!
//! - `find P… -delete` and `find P… -exec rm …` with nothing restricting
//!   them delete the whole tree under each starting point: they are also
//!   seen as `rm -rf P…` (so `find ~ -delete` meets the `rm -rf ~` deny).
//! - With a **restricting test** before the action, in the same
//!   AND-chain, they are a *filtered* delete that only touches matching
//!   entries (`find ~ -name .DS_Store -delete`): no `rm -rf P`. They are
//!   seen instead as `rm P/NAME` for each name the expression looks for
//!   (`rm ~/.DS_Store`), or `rm P/{}` when it names none, so that rules on
//!   specific files (`~/.ssh/id_*`, `~/.bash_history`) still apply.
//! - `find P… -exec CMD {} ;` runs CMD with `{}` standing for each starting
//!   point, or, when filtered, for `P/NAME` (`P/{}` without a name).
//!
//! Restricting tests: `-name`, `-iname`, `-path`, `-ipath`, `-wholename`,
//! `-regex`, `-lname` (and their `-i` forms) whose value's last component
//! has a character that is not a wildcard or regex operator (`-name '*'`,
//! `-name '.*'`, `-path '/usr/*'` restrict nothing); `-inum`, `-samefile`
//! (one file). Not restricting: tests that select by age, size, owner or
//! permissions (`-mtime`, `-newer…`, `-size`, `-user`, `-perm`, `-empty`…:
//! `find ~ -mtime +1 -delete` still empties most of a home), `-type`,
//! `-maxdepth`, `-mindepth` and every other option or action. A test under `!`/`-not`, or cut off from the action by `-o`/`,`
//! (`find ~ -name x -o -delete`), does not restrict it; a parenthesised
//! group restricts when each of its `-o` alternatives does. Anything not
//! understood (a `)` without its `(`, parentheses nested too deep, a test
//! whose value is the action, more targets than [`MAX_TARGETS`]) counts as
//! unfiltered.

use super::lex::Parser;
use crate::bytes::basename;

/// Most derived commands one filtered action expands to (starting points ×
/// names); beyond that the action counts as unfiltered.
const MAX_TARGETS: usize = 8;
/// Most names collected from one expression.
const MAX_NAMES: usize = 4;
/// Deepest `( … )` nesting analysed; deeper counts as unfiltered.
const MAX_PARENS: usize = 8;
/// Most starting points an unfiltered `-exec` is expanded for (the tree
/// delete names all of them).
const MAX_EXEC_PATHS: usize = 4;

/// What a test does to the set of entries an action sees.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Test {
    /// `-name`, `-iname`: the value is a file name pattern.
    Name,
    /// `-path` and friends: the value is a whole-path pattern.
    PathLike,
    /// `-regex`, `-lname`: a pattern that restricts when specific.
    Pattern,
    /// Always narrows to one file: `-inum N`, `-samefile F`.
    Narrowing,
    /// Narrows nothing: `-type f`, `-maxdepth 1`, `-print`, options.
    Neutral,
}

/// A test and how many value words follow it.
fn test(t: &[u8]) -> (Test, usize) {
    match t {
        b"-name" | b"-iname" => (Test::Name, 1),
        b"-path" | b"-ipath" | b"-wholename" | b"-iwholename" => (Test::PathLike, 1),
        b"-regex" | b"-iregex" | b"-lname" | b"-ilname" => (Test::Pattern, 1),
        b"-inum" | b"-samefile" => (Test::Narrowing, 1),
        // Age, size, owner and permission tests select by attribute, not by
        // name: `find ~ -mtime +1 -delete` still empties most of a home.
        // They do not make a tree delete a filtered one.
        b"-mtime" | b"-atime" | b"-ctime" | b"-mmin" | b"-amin" | b"-cmin" | b"-used"
        | b"-size" | b"-perm" | b"-user" | b"-group" | b"-uid" | b"-gid" | b"-links"
        | b"-anewer" | b"-cnewer" => (Test::Neutral, 1),
        _ if t.starts_with(b"-newer") => (Test::Neutral, 1),
        b"-type" | b"-xtype" | b"-maxdepth" | b"-mindepth" | b"-fstype" | b"-printf"
        | b"-fprint" | b"-fprint0" | b"-fls" | b"-context" | b"-files0-from" => (Test::Neutral, 1),
        b"-fprintf" => (Test::Neutral, 2),
        _ => (Test::Neutral, 0),
    }
}

/// Does a name, path or regex value narrow anything? Only its last
/// component counts, and it needs a character that is not a wildcard or a
/// regex operator: `*`, `.*`, `?*`, `[!.]*`, `/usr/*` match (nearly) every
/// entry of a tree.
pub(super) fn specific(v: &[u8]) -> bool {
    let last = v.rsplit(|&c| c == b'/').next().unwrap_or(v);
    last.iter().any(|c| !b"*?.[]!^$()|+\\{}".contains(c))
}

/// Where the `{}` of a filtered action points.
#[derive(Clone, Copy)]
enum Target {
    /// The starting point itself (unfiltered).
    Root,
    /// `P/NAME`, NAME a word of the command.
    Under((usize, usize)),
    /// NAME alone: a `-path` value that already starts at a root.
    Whole((usize, usize)),
    /// `P/{}`: matching entries, name unknown.
    Unknown,
}

fn is_exec(t: &[u8]) -> bool {
    matches!(t, b"-exec" | b"-execdir" | b"-ok" | b"-okdir")
}

/// What has been read of a `find` expression so far: for each parenthesis
/// level, whether the current AND-chain restricts, whether every earlier
/// `-o` alternative did, and whether the group is negated; and the names
/// looked for.
struct Expression {
    chain: [bool; MAX_PARENS],
    alts: [bool; MAX_PARENS],
    negated: [bool; MAX_PARENS],
    depth: usize,
    /// A `!` applies to the next term.
    negate: bool,
    /// Something was not understood: nothing after it counts as filtered.
    broken: bool,
    names: [Target; MAX_NAMES],
    name_count: usize,
    too_many_names: bool,
}

impl Expression {
    fn new() -> Self {
        Expression {
            chain: [false; MAX_PARENS],
            alts: [true; MAX_PARENS],
            negated: [false; MAX_PARENS],
            depth: 0,
            negate: false,
            broken: false,
            names: [Target::Unknown; MAX_NAMES],
            name_count: 0,
            too_many_names: false,
        }
    }

    /// A test or action; `narrows`: it restricts the entries that pass.
    fn term(&mut self, narrows: bool) {
        if narrows
            && !self.negate
            && let Some(c) = self.chain.get_mut(self.depth)
        {
            *c = true;
        }
        self.negate = false;
    }

    fn open(&mut self) {
        self.depth += 1;
        let negate = self.negate;
        self.negate = false;
        match (
            self.chain.get_mut(self.depth),
            self.alts.get_mut(self.depth),
            self.negated.get_mut(self.depth),
        ) {
            (Some(c), Some(a), Some(n)) => (*c, *a, *n) = (false, true, negate),
            _ => self.broken = true,
        }
    }

    fn close(&mut self) {
        let d = self.depth;
        let group = self.chain.get(d) == Some(&true)
            && self.alts.get(d) == Some(&true)
            && self.negated.get(d) == Some(&false);
        self.negate = false;
        match d.checked_sub(1) {
            Some(outer) => {
                self.depth = outer;
                self.term(group);
            }
            None => self.broken = true,
        }
    }

    fn or(&mut self) {
        let d = self.depth;
        let restricted = self.chain.get(d) == Some(&true);
        if let (Some(c), Some(a)) = (self.chain.get_mut(d), self.alts.get_mut(d)) {
            *a &= restricted;
            *c = false;
        }
        self.negate = false;
    }

    fn name(&mut self, t: Target) {
        match self.names.get_mut(self.name_count) {
            Some(slot) => {
                *slot = t;
                self.name_count += 1;
            }
            None => self.too_many_names = true,
        }
    }

    /// Is an action here restricted by a test before it?
    fn filtered(&self) -> bool {
        !self.broken
            && self
                .chain
                .get(..=self.depth)
                .is_some_and(|c| c.contains(&true))
    }
}

/// A starting point (a word; `None`: none given, `.`) and a target under it.
type PathTarget = (Option<(usize, usize)>, Target);

impl Parser<'_, '_> {
    /// The derived commands of `find`'s actions; `s` is the first word
    /// after `find`. One pass over the expression: linear in its length.
    pub(super) fn find_actions(
        &mut self,
        mut s: usize,
        e: usize,
        names: (usize, usize),
        depth: u8,
    ) {
        // Leading options, then the starting points.
        while let Some(w) = self.word_at(s, e) {
            match self.text(w) {
                b"-H" | b"-L" | b"-P" => s = w.1 + 1,
                b"-D" => s = self.word_at(w.1 + 1, e).map_or(e, |v| v.1 + 1),
                t if t.starts_with(b"-O") => s = w.1 + 1,
                _ => break,
            }
        }
        let paths = (s, self.expression_start(s, e));
        let mut x = Expression::new();
        let mut k = paths.1;
        while let Some(w) = self.word_at(k, e) {
            if self.s.failed() {
                return;
            }
            let t = self.text(w);
            k = w.1 + 1;
            if t == b"-delete" {
                let done = x.filtered() && self.filtered_delete(paths, &x, names);
                if !done {
                    self.tree_delete(paths.0, paths.1, names);
                }
                x.term(false);
            } else if is_exec(t) {
                let body_start = k;
                let mut body_end = k;
                while let Some(b) = self.word_at(body_end, e) {
                    if matches!(self.text(b), b";" | b"+") {
                        break;
                    }
                    body_end = b.1 + 1;
                }
                k = self.word_at(body_end, e).map_or(e, |b| b.1 + 1);
                let body = (body_start, body_end);
                let done = x.filtered() && self.filtered_exec(paths, body, &x, names, depth);
                x.term(false);
                if done {
                    continue;
                }
                // `find P -exec rm …` deletes the whole tree under P, whatever
                // rm's own flags: it also counts as `rm -rf P`.
                if self
                    .word_at(body_start, body_end)
                    .is_some_and(|bw| basename(self.text(bw)) == b"rm")
                {
                    self.tree_delete(paths.0, paths.1, names);
                }
                // One derived command per starting point (at most four).
                let mut p = paths.0;
                let mut done = 0;
                loop {
                    let path = self.word_at(p, paths.1);
                    self.exec_body(body, path, Target::Root, names, depth);
                    done += 1;
                    match path {
                        Some(pw) if done < MAX_EXEC_PATHS && pw.1 + 1 < paths.1 => p = pw.1 + 1,
                        _ => break,
                    }
                }
            } else {
                match t {
                    b"!" | b"-not" => x.negate = !x.negate,
                    b"(" => x.open(),
                    b")" => x.close(),
                    b"-o" | b"-or" | b"," => x.or(),
                    b"-a" | b"-and" => {}
                    _ => {
                        let (kind, values) = test(t);
                        let mut value = None;
                        for i in 0..values {
                            match self.word_at(k, e) {
                                // `-name -delete`: the action is seen as one
                                // (conservatively), and nothing is filtered.
                                Some(v) if self.text(v) == b"-delete" || is_exec(self.text(v)) => {
                                    x.broken = true;
                                    break;
                                }
                                Some(v) => {
                                    if i == 0 {
                                        value = Some(v);
                                    }
                                    k = v.1 + 1;
                                }
                                None => x.broken = true,
                            }
                        }
                        let text = value.map_or(&[][..], |v| self.text(v));
                        let narrows = match kind {
                            Test::Name | Test::PathLike | Test::Pattern => specific(text),
                            Test::Narrowing => true,
                            Test::Neutral => false,
                        };
                        if !x.negate
                            && let Some(v) = value
                        {
                            match kind {
                                Test::Name => x.name(Target::Under(v)),
                                Test::PathLike
                                    if matches!(text.first(), Some(b'/' | b'~' | b'.')) =>
                                {
                                    x.name(Target::Whole(v));
                                }
                                Test::PathLike => x.name(Target::Under(v)),
                                _ => {}
                            }
                        }
                        x.term(narrows);
                    }
                }
            }
        }
    }

    /// End of the starting points: the first word that starts an
    /// expression (`-…`, `(`, `!`, `,`).
    fn expression_start(&self, s: usize, e: usize) -> usize {
        let mut end = s;
        while let Some(w) = self.word_at(end, e) {
            if matches!(self.text(w).first(), Some(b'-' | b'(' | b'!' | b',')) {
                break;
            }
            end = w.1 + 1;
        }
        end
    }

    /// The targets of a filtered action: each starting point with each name
    /// seen so far (or `P/{}`). `None` when there are more than
    /// [`MAX_TARGETS`].
    fn filtered_targets(
        &self,
        paths: (usize, usize),
        x: &Expression,
    ) -> Option<([PathTarget; MAX_TARGETS], usize)> {
        let names = match x.names.get(..x.name_count) {
            Some(found) if !found.is_empty() && !x.too_many_names => found,
            Some(_) if !x.too_many_names => &[Target::Unknown],
            _ => return None,
        };
        let mut out = [(None, Target::Unknown); MAX_TARGETS];
        let mut count = 0usize;
        let mut p = paths.0;
        loop {
            let path = self.word_at(p, paths.1);
            for &name in names {
                *out.get_mut(count)? = (path, name);
                count += 1;
            }
            match path {
                Some(pw) if pw.1 + 1 < paths.1 => p = pw.1 + 1,
                _ => break,
            }
        }
        Some((out, count))
    }

    /// A filtered `-delete`: `rm P/NAME` for each target. False (nothing
    /// emitted) when there are too many targets.
    fn filtered_delete(
        &mut self,
        paths: (usize, usize),
        x: &Expression,
        names: (usize, usize),
    ) -> bool {
        let Some((targets, n)) = self.filtered_targets(paths, x) else {
            return false;
        };
        for &(path, target) in targets.get(..n).unwrap_or(&[]) {
            let start = self.s.len;
            self.s.push_bytes(b"rm\0");
            self.push_target(path, target);
            let end = self.s.len;
            self.s.push(0);
            self.s.push_desc([start, end - start, 2, names.0, names.1]);
        }
        true
    }

    /// A filtered `-exec`: the body with `{}` → each target.
    fn filtered_exec(
        &mut self,
        paths: (usize, usize),
        body: (usize, usize),
        x: &Expression,
        names: (usize, usize),
        depth: u8,
    ) -> bool {
        let Some((targets, n)) = self.filtered_targets(paths, x) else {
            return false;
        };
        for &(path, target) in targets.get(..n).unwrap_or(&[]) {
            self.exec_body(body, path, target, names, depth);
        }
        true
    }

    /// Copy an `-exec` body with `{}` (anywhere in a word) replaced by the
    /// target, and peel it as a command of its own.
    fn exec_body(
        &mut self,
        body: (usize, usize),
        path: Option<(usize, usize)>,
        target: Target,
        names: (usize, usize),
        depth: u8,
    ) {
        let start = self.s.len;
        let mut b = body.0;
        while let Some(bw) = self.word_at(b, body.1) {
            let mut c = bw.0;
            while c < bw.1 {
                if self.s.byte(c) == Some(b'{') && self.s.byte(c + 1) == Some(b'}') && c + 1 < bw.1
                {
                    self.push_target(path, target);
                    c += 2;
                } else {
                    self.s.push(self.s.byte(c).unwrap_or(0));
                    c += 1;
                }
            }
            self.s.push(0);
            b = bw.1 + 1;
        }
        let end = self.s.len;
        if end > start {
            self.peel(start, end, depth + 1, names);
        }
    }

    /// `P`, `P/NAME`, `NAME` or `P/{}` (`.` for a missing starting point).
    fn push_target(&mut self, path: Option<(usize, usize)>, target: Target) {
        let name = match target {
            Target::Whole(v) => {
                self.s.push_copy(v.0, v.1);
                return;
            }
            Target::Root => None,
            Target::Under(v) => Some(v),
            Target::Unknown => Some((0, 0)),
        };
        let ends_in_slash = match path {
            Some(pw) => {
                self.s.push_copy(pw.0, pw.1);
                pw.1 > pw.0 && self.s.byte(pw.1 - 1) == Some(b'/')
            }
            None => {
                self.s.push(b'.');
                false
            }
        };
        if let Some(v) = name {
            if !ends_in_slash {
                self.s.push(b'/');
            }
            if v.1 > v.0 {
                self.s.push_copy(v.0, v.1);
            } else {
                self.s.push_bytes(b"{}");
            }
        }
    }

    /// The derived segment `rm -rf <paths>` for a tree delete.
    fn tree_delete(&mut self, paths_start: usize, paths_end: usize, names: (usize, usize)) {
        let start = self.s.len;
        self.s.push_bytes(b"rm\0-rf");
        self.push_paths(paths_start, paths_end);
        let end = self.s.len;
        self.s.push(0);
        self.s.push_desc([start, end - start, 2, names.0, names.1]);
    }

    fn push_paths(&mut self, s: usize, e: usize) {
        if s >= e {
            self.s.push_bytes(b"\0.");
            return;
        }
        let mut k = s;
        while let Some(w) = self.word_at(k, e) {
            self.s.push(0);
            self.s.push_copy(w.0, w.1);
            k = w.1 + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{normalise_argv, normalise_shell, scratch_size};
    use super::specific;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    fn shell(cmd: &str) -> Vec<String> {
        let mut buf = vec![0u8; scratch_size(cmd.len())];
        let n = normalise_shell(cmd.as_bytes(), b"/home/me", &mut buf).expect("normalises");
        n.segments()
            .map(|u| String::from_utf8_lossy(u.text).into_owned())
            .collect()
    }

    /// The derived segments only (the first is the find itself).
    fn derived(cmd: &str) -> Vec<String> {
        let mut segs = shell(cmd);
        segs.remove(0);
        segs
    }

    #[test]
    fn a_name_filtered_delete_is_not_a_tree_delete() {
        assert_eq!(
            derived("find ~ -name .DS_Store -delete"),
            ["rm ~/.DS_Store"]
        );
        assert_eq!(
            derived("find . -type f -name '*.pyc' -delete"),
            ["rm ./*.pyc"]
        );
        assert_eq!(derived("find ~/ -iname '*.tmp' -delete"), ["rm ~/*.tmp"]);
        assert_eq!(derived("find a b -name x -delete"), ["rm a/x", "rm b/x"]);
    }

    #[test]
    fn other_restricting_tests_filter_without_a_name() {
        assert_eq!(derived("find ~ -samefile stamp -delete"), ["rm ~/{}"]);
        assert_eq!(derived("find . -inum 1234 -delete"), ["rm ./{}"]);
        assert_eq!(derived("find . -regex '.*\\.orig' -delete"), ["rm ./{}"]);
    }

    #[test]
    fn age_size_and_owner_tests_do_not_make_a_tree_delete_a_filtered_one() {
        for cmd in [
            "find ~ -mtime +1 -delete",
            "find ~ -newer stamp -delete",
            "find ~ -size +1k -delete",
            "find ~ -user me -delete",
            "find ~ -type d -empty -delete",
            "find ~ -mmin +5 -exec rm {} +",
        ] {
            let d = derived(cmd);
            assert!(d.iter().any(|c| c == "rm -rf ~"), "{cmd}: {d:?}");
            assert!(!d.iter().any(|c| c.contains("{}")), "{cmd}: {d:?}");
        }
    }

    #[test]
    fn unrestricted_deletes_stay_tree_deletes() {
        for cmd in [
            "find ~ -delete",
            "find ~ -mindepth 1 -delete",
            "find ~ -maxdepth 1 -delete",
            "find ~ -type f -delete",
            "find ~ -name '*' -delete",
            "find ~ -name '.*' -delete",
            "find ~ -path '~/*' -delete",
            "find / -path '/usr/*' -delete",
            "find / -regex '/usr/.*' -delete",
            "find ~ ! -name .DS_Store -delete",
            "find ~ -not -name .DS_Store -delete",
            "find ~ -name x -o -delete",
            "find ~ -name x , -delete",
            "find ~ -delete -name x",
            "find ~ \\( -name x -o -true \\) -delete",
            "find ~ ! \\( -name x \\) -delete",
            "find ~ -name -delete",
        ] {
            assert!(
                derived(cmd).contains(&"rm -rf ~".into())
                    || derived(cmd).contains(&"rm -rf /".into()),
                "{cmd}: {:?}",
                derived(cmd)
            );
        }
    }

    #[test]
    fn grouped_alternatives_filter_when_each_does() {
        assert_eq!(
            derived("find . \\( -name '*.pyc' -o -name '*.pyo' \\) -delete"),
            ["rm ./*.pyc", "rm ./*.pyo"]
        );
        assert_eq!(
            derived("find ~ -name a -o -name b -delete"),
            ["rm ~/a", "rm ~/b"]
        );
    }

    #[test]
    fn a_filtered_exec_runs_on_entries_under_the_starting_point() {
        assert_eq!(
            derived("find ~ -name .DS_Store -exec rm {} +"),
            ["rm ~/.DS_Store"]
        );
        assert_eq!(
            derived("find ~ -name node_modules -type d -exec rm -rf {} +"),
            ["rm -rf ~/node_modules"]
        );
        // A name that is a protected directory still reads as one.
        assert_eq!(
            derived("find ~ -maxdepth 1 -name .ssh -exec rm -rf {} +"),
            ["rm -rf ~/.ssh"]
        );
        assert_eq!(
            derived("find . -path './build/*.o' -exec rm {} \\;"),
            ["rm ./build/*.o"]
        );
        assert_eq!(
            derived("find . -name .env -exec cat {} \\;"),
            ["cat ./.env"]
        );
    }

    #[test]
    fn an_unfiltered_exec_still_runs_on_the_starting_points() {
        assert_eq!(
            derived("find ~ -type f -exec rm {} +"),
            ["rm -rf ~", "rm ~"]
        );
        assert_eq!(
            derived("find ~ -name x -o -exec rm {} +"),
            ["rm -rf ~", "rm ~"]
        );
    }

    #[test]
    fn too_many_targets_count_as_unfiltered() {
        let segs = derived("find a b c -name x -o -name y -o -name z -delete");
        assert_eq!(segs, ["rm -rf a b c"]);
    }

    #[test]
    fn argv_finds_are_seen_the_same_way() {
        let args: [&[u8]; 5] = [
            b"/usr/bin/find",
            b"/home/me",
            b"-name",
            b".DS_Store",
            b"-delete",
        ];
        let mut buf = vec![0u8; scratch_size(64)];
        let n = normalise_argv(&args, b"/home/me", &mut buf).expect("normalises");
        let segs: Vec<String> = n
            .segments()
            .map(|u| String::from_utf8_lossy(u.text).into_owned())
            .collect();
        assert_eq!(segs, ["find ~ -name .DS_Store -delete", "rm ~/.DS_Store"]);
    }

    #[test]
    fn a_shell_with_words_after_its_script_stays_visible() {
        assert_eq!(shell("bash -lc 'ls -a'"), ["ls -a"]);
        assert_eq!(
            shell("bash -c 'ls -a' > ~/.bash_history"),
            ["ls -a", "bash -c ls -a > ~/.bash_history"]
        );
        assert_eq!(
            shell("sh -c 'cat \"$1\"' x ~/.kube/config"),
            ["cat $1", "sh -c cat \"$1\" x ~/.kube/config"]
        );
    }

    #[test]
    fn only_specific_values_restrict() {
        for v in [
            "*", "?*", ".*", "*.*", "[!.]*", "/usr/*", "~/*", ".*/", "(.*)",
        ] {
            assert!(!specific(v.as_bytes()), "{v}");
        }
        for v in [
            ".DS_Store",
            "*.pyc",
            "*~",
            "node_modules",
            "/usr/*/x",
            ".*\\.orig",
        ] {
            assert!(specific(v.as_bytes()), "{v}");
        }
    }
}
