//! The macOS hook list, kept where Linux can test it.
//!
//! On macOS the hooks are not exported under libc's names: dyld reads a
//! table of (replacement, original) address pairs from the library's
//! `__DATA,__interpose` section and rebinds every other image's calls to the
//! original onto the replacement. [`for_each_hook!`] is the one list of
//! those pairs; `macos/` expands it into that table, and this module into
//! [`HOOKS`], the same pairs by name, which the tests below check on any
//! platform. Because both come from one list, the table cannot pair a
//! replacement with the wrong original without [`HOOKS`] showing it.
//!
//! Not in the list, because macOS has no such function: `execvpe` (a GNU
//! extension) and `fexecve` (absent from libSystem's headers and exports).
//! `execl`, `execlp` and `execle` are the C shim's variadic functions.

/// Expand `$m! { replacement => original, ... }` with every macOS hook.
#[macro_export]
#[doc(hidden)]
macro_rules! for_each_hook {
    ($m:ident) => {
        $m! {
            rampart_execve => execve,
            rampart_execv => execv,
            rampart_execvp => execvp,
            rampart_execl_impl => execl,
            rampart_execlp_impl => execlp,
            rampart_execle_impl => execle,
            rampart_posix_spawn => posix_spawn,
            rampart_posix_spawnp => posix_spawnp,
            rampart_system => system,
            rampart_popen => popen,
        }
    };
}

macro_rules! names {
    ($($replacement:ident => $original:ident,)*) => {
        /// Every macOS hook as (replacement, original), by name, in table order.
        pub const HOOKS: &[(&str, &str)] = &[$((stringify!($replacement), stringify!($original)),)*];
    };
}
for_each_hook!(names);

#[cfg(test)]
mod tests {
    use super::HOOKS;
    use crate::hook::Entry;

    /// Every entry point the library knows, by its libc name.
    const ALL: [Entry; 12] = [
        Entry::Execve,
        Entry::Execv,
        Entry::Execvp,
        Entry::Execvpe,
        Entry::Execl,
        Entry::Execlp,
        Entry::Execle,
        Entry::Fexecve,
        Entry::PosixSpawn,
        Entry::PosixSpawnp,
        Entry::System,
        Entry::Popen,
    ];

    #[test]
    fn every_entry_point_macos_has_is_interposed_once() {
        let mut expected: Vec<&str> = ALL
            .iter()
            .map(|e| e.name())
            .filter(|n| *n != "execvpe" && *n != "fexecve")
            .collect();
        let mut originals: Vec<&str> = HOOKS.iter().map(|(_, o)| *o).collect();
        expected.sort_unstable();
        originals.sort_unstable();
        assert_eq!(originals, expected);
    }

    #[test]
    fn functions_macos_lacks_are_not_in_the_table() {
        for (_, original) in HOOKS {
            assert!(!["execvpe", "fexecve"].contains(original), "{original}");
        }
    }

    #[test]
    fn no_replacement_or_original_appears_twice() {
        for (i, (r, o)) in HOOKS.iter().enumerate() {
            for (r2, o2) in HOOKS.iter().skip(i + 1) {
                assert_ne!(r, r2);
                assert_ne!(o, o2);
            }
        }
    }

    #[test]
    fn each_replacement_is_named_after_its_original() {
        // `rampart_<original>` in Rust, `rampart_<original>_impl` for the
        // C shim's variadic execl*.
        for (r, o) in HOOKS {
            let rust = format!("rampart_{o}");
            let shim = format!("rampart_{o}_impl");
            let is_shim = o.starts_with("execl");
            assert_eq!(*r, if is_shim { shim } else { rust }, "{o}");
        }
    }

    #[test]
    fn no_replacement_is_named_like_a_libc_function() {
        // The replacements are never exported under libc's names: calls
        // from this library to `execve` must reach libc, not the hook.
        for (r, o) in HOOKS {
            assert!(r.starts_with("rampart_") && r != o);
        }
    }
}
