//! The `PATH` search of `execvp`, for platforms without `execvpe`.
//!
//! macOS has no `execvpe`, so when `execvp` must run with a fixed
//! environment the macOS layer searches `PATH` itself and calls `execve` on
//! each candidate. Doing it with a temporary `environ` instead is not an
//! option there: in a `vfork` child the parent's `environ` would be left
//! pointing at the child's stack once the exec succeeds.

/// `PATH` when the environment has none (macOS's `_PATH_DEFPATH`).
pub const DEFAULT_PATH: &[u8] = b"/usr/bin:/bin";

/// What to do after one candidate failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Try the next directory.
    Continue,
    /// Stop searching.
    Stop,
}

/// Call `attempt` with each program path `execvp` would try for `file`,
/// NUL-terminated in `buf`: `file` itself when it contains a `/`, else
/// `dir/file` for each directory of `path` (an empty entry is the current
/// directory). Candidates that do not fit `buf` are skipped, as an exec of
/// them would fail with `ENAMETOOLONG`. Returns how many were tried.
pub fn each_candidate(
    file: &[u8],
    path: &[u8],
    buf: &mut [u8],
    mut attempt: impl FnMut(&[u8]) -> Next,
) -> usize {
    if file.is_empty() {
        return 0;
    }
    if file.contains(&b'/') {
        return usize::from(join(buf, &[], file).is_some_and(|c| {
            let _ = attempt(c);
            true
        }));
    }
    let mut tried = 0;
    for dir in path.split(|&c| c == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let Some(candidate) = join(buf, dir, file) else {
            continue;
        };
        tried += 1;
        if attempt(candidate) == Next::Stop {
            break;
        }
    }
    tried
}

/// `dir/file` (or `file` alone for an empty `dir`) with a NUL, in `buf`.
fn join<'a>(buf: &'a mut [u8], dir: &[u8], file: &[u8]) -> Option<&'a [u8]> {
    let slash = usize::from(!dir.is_empty());
    let len = dir.len() + slash + file.len() + 1;
    let out = buf.get_mut(..len)?;
    let (d, rest) = out.split_at_mut(dir.len());
    d.copy_from_slice(dir);
    let (s, rest) = rest.split_at_mut(slash);
    s.fill(b'/');
    let (f, nul) = rest.split_at_mut(file.len());
    f.copy_from_slice(file);
    nul.fill(0);
    Some(out)
}

/// The value of `PATH` in an environment (each entry `NAME=value`).
pub fn path_in<'a>(mut entries: impl Iterator<Item = &'a [u8]>) -> &'a [u8] {
    entries
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(file: &str, path: &str, cap: usize) -> Vec<String> {
        let mut buf = vec![0u8; cap];
        let mut seen = Vec::new();
        each_candidate(file.as_bytes(), path.as_bytes(), &mut buf, |c| {
            assert_eq!(c.last(), Some(&0));
            seen.push(String::from_utf8_lossy(&c[..c.len() - 1]).into_owned());
            Next::Continue
        });
        seen
    }

    #[test]
    fn a_bare_name_is_tried_in_each_directory_in_order() {
        assert_eq!(
            candidates("ls", "/opt/bin:/usr/bin", 64),
            ["/opt/bin/ls", "/usr/bin/ls"]
        );
    }

    #[test]
    fn an_empty_path_entry_means_the_current_directory() {
        assert_eq!(candidates("x", ":/bin:", 64), ["./x", "/bin/x", "./x"]);
    }

    #[test]
    fn a_name_with_a_slash_is_tried_as_is_and_alone() {
        assert_eq!(candidates("./run.sh", "/bin", 64), ["./run.sh"]);
        assert_eq!(candidates("/bin/rm", "/usr/bin", 64), ["/bin/rm"]);
    }

    #[test]
    fn an_empty_name_tries_nothing() {
        assert!(candidates("", "/bin", 64).is_empty());
    }

    #[test]
    fn a_candidate_too_long_for_the_buffer_is_skipped() {
        assert_eq!(
            candidates("ls", "/a/very/long/directory:/bin", 12),
            ["/bin/ls"]
        );
    }

    #[test]
    fn the_search_stops_when_asked() {
        let mut buf = [0u8; 64];
        let n = each_candidate(b"ls", b"/a:/b:/c", &mut buf, |_| Next::Stop);
        assert_eq!(n, 1);
    }

    #[test]
    fn path_comes_from_the_environment_or_the_default() {
        let env: [&[u8]; 2] = [b"HOME=/h", b"PATH=/x:/y"];
        assert_eq!(path_in(env.iter().copied()), b"/x:/y");
        let none: [&[u8]; 1] = [b"HOME=/h"];
        assert_eq!(path_in(none.iter().copied()), DEFAULT_PATH);
    }
}
