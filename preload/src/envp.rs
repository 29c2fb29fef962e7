//! Putting the library's variables back into a child's environment.
//!
//! Whatever environment a process hands to exec or spawn — `env -i`, a
//! hand-built `envp`, `clearenv()` — the child gets the preload variable and
//! the captured `RAMPART_*` values back, and loses any `RAMPART_*` value the
//! parent made up (so `RAMPART_MODE=disabled` or a `RAMPART_SNAPSHOT`
//! pointing at an allow-all file cannot be passed down).

use crate::settings::{self, CONTROLLED, Fixed, PRELOAD_VAR, Settings};
use crate::sys::{Anon, cstr};
use core::ffi::c_char;

type Envp = *const *const c_char;

/// Extra pointer slots a fixed environment needs beyond the parent's.
pub const EXTRA: usize = CONTROLLED.len() + 2;

fn name_of(entry: &[u8]) -> &[u8] {
    let eq = entry.iter().position(|&c| c == b'=').unwrap_or(entry.len());
    entry.get(..eq).unwrap_or(&[])
}

fn value_of(entry: &[u8]) -> &[u8] {
    match entry.iter().position(|&c| c == b'=') {
        Some(eq) => entry.get(eq + 1..).unwrap_or(&[]),
        None => &[],
    }
}

/// Does the preload list `value` (separated by `:` or spaces) name `lib`?
pub fn lists_library(value: &[u8], lib: &[u8]) -> bool {
    !lib.is_empty() && value.split(|&c| c == b':' || c == b' ').any(|e| e == lib)
}

/// Number of entries of a NULL-terminated `envp` (0 for NULL), bounded.
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of C strings.
pub unsafe fn count(envp: *const *const c_char) -> usize {
    if envp.is_null() {
        return 0;
    }
    let mut n = 0usize;
    // SAFETY: the array is NULL-terminated per the contract.
    while !unsafe { *envp.add(n) }.is_null() {
        n += 1;
        if n >= 1 << 24 {
            break;
        }
    }
    n
}

/// Would a child started with `envp` differ from what the library wants?
///
/// # Safety
/// As for [`count`].
pub unsafe fn needs_fix(s: &Settings, envp: *const *const c_char) -> bool {
    // SAFETY: forwarded contract.
    let n = unsafe { count(envp) };
    let mut matched = 0usize;
    let mut preload_ok = !s.preload_set;
    for i in 0..n {
        // SAFETY: i < n entries, each a C string.
        let e = unsafe { cstr(*envp.add(i)) };
        let name = name_of(e);
        if name == PRELOAD_VAR {
            if s.preload_set {
                preload_ok = lists_library(value_of(e), s.lib_path());
            }
            continue;
        }
        if !CONTROLLED.contains(&name) {
            continue;
        }
        if (0..s.env_count).any(|k| s.env_entry(k) == e) {
            matched += 1;
        } else {
            return true;
        }
    }
    matched != s.env_count || !preload_ok
}

/// Build the child's environment into `out` (at least `count(envp) +
/// EXTRA` slots), using `preload` for a rebuilt preload entry. Returns the
/// number of entries written before the terminating NULL, or `None` when
/// `out` is too small.
///
/// # Safety
/// As for [`count`]; the pointers written to `out` borrow from `envp`,
/// `s` and `preload`, which must outlive its use.
pub unsafe fn build(
    s: &Settings,
    envp: *const *const c_char,
    out: &mut [*const c_char],
    preload: &mut Fixed<8192>,
) -> Option<usize> {
    // SAFETY: forwarded contract.
    let n = unsafe { count(envp) };
    if out.len() < n + EXTRA {
        return None;
    }
    let mut w = 0usize;
    let mut put = |out: &mut [*const c_char], p: *const c_char| {
        if let Some(slot) = out.get_mut(w) {
            *slot = p;
            w += 1;
        }
    };
    let mut child_preload: &[u8] = &[];
    let mut child_preload_ptr: *const c_char = core::ptr::null();
    for i in 0..n {
        // SAFETY: i < n.
        let p = unsafe { *envp.add(i) };
        // SAFETY: a C string per the contract.
        let e = unsafe { cstr(p) };
        let name = name_of(e);
        if name == PRELOAD_VAR {
            child_preload = value_of(e);
            child_preload_ptr = p;
            if !s.preload_set {
                put(out, p);
            }
            continue;
        }
        if CONTROLLED.contains(&name) {
            continue;
        }
        put(out, p);
    }
    for k in 0..s.env_count {
        put(out, s.env_entry_ptr(k));
    }
    if s.preload_set {
        if !child_preload_ptr.is_null() && lists_library(child_preload, s.lib_path()) {
            put(out, child_preload_ptr);
        } else {
            // Ours first, then what the child asked for (or what we had).
            preload.set(PRELOAD_VAR);
            preload.push(b"=");
            let base = if child_preload.is_empty() {
                s.preload_value()
            } else {
                child_preload
            };
            if lists_library(base, s.lib_path()) {
                preload.push(base);
            } else {
                preload.push(s.lib_path());
                if !base.is_empty() && !preload.push(b":") | !preload.push(base) {
                    // Too long to merge: ours alone still protects the child.
                    preload.set(PRELOAD_VAR);
                    preload.push(b"=");
                    preload.push(s.lib_path());
                }
            }
            put(out, preload.c_bytes().as_ptr().cast());
        }
    }
    put(out, core::ptr::null());
    Some(w - 1)
}

/// Call `f` with `envp` fixed (or as is when nothing needs fixing): the
/// fixed array lives on the stack, or in an anonymous mapping when the
/// environment is large, until `f` returns.
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of C strings.
pub unsafe fn with_fixed<R>(envp: Envp, f: impl FnOnce(Envp) -> R) -> R {
    let s = settings::get();
    // SAFETY: forwarded contract.
    if !s.loaded || !unsafe { needs_fix(s, envp) } {
        return f(envp);
    }
    // SAFETY: forwarded contract.
    unsafe { with_fixed_slow(s, envp, f) }
}

/// [`with_fixed`] when the environment needs fixing: its 10 KiB of
/// buffers stay out of the frame of every exec that needs no fixing (a
/// forked child page-faults on each stack page it touches).
///
/// # Safety
/// As [`with_fixed`].
#[inline(never)]
unsafe fn with_fixed_slow<R>(s: &Settings, envp: Envp, f: impl FnOnce(Envp) -> R) -> R {
    // SAFETY: forwarded contract.
    let need = unsafe { count(envp) } + EXTRA;
    let mut preload = Fixed::<8192>::new();
    let mut stack: [*const c_char; 256] = [core::ptr::null(); 256];
    let mut big = if need > stack.len() {
        Anon::new(need * core::mem::size_of::<*const c_char>())
    } else {
        None
    };
    let out: &mut [*const c_char] = match big.as_mut() {
        // SAFETY: a fresh page-aligned mapping of `need` pointers.
        Some(m) => unsafe { core::slice::from_raw_parts_mut(m.ptr.cast(), need) },
        None => &mut stack,
    };
    // SAFETY: forwarded contract; `out`, `s` and `preload` outlive `f`.
    match unsafe { build(s, envp, out, &mut preload) } {
        Some(_) => f(out.as_ptr()),
        None => f(envp),
    }
}

/// Run `f` with the process environment (the pointer in `slot`: `&environ`
/// on Linux, `_NSGetEnviron()` on macOS) temporarily fixed, for functions
/// that take no environment argument but start a child (`system`,
/// `popen`). Never used on the way to an exec that may succeed: a `vfork`
/// child shares `environ` with its parent, which would be left pointing at
/// the child's dead stack.
///
/// # Safety
/// `slot` points to the process's environment pointer. Like any change of
/// `environ`, not safe against a concurrent `setenv` in another thread;
/// that is the libc contract for `environ` already.
pub unsafe fn with_fixed_environ<R>(slot: *mut Envp, f: impl FnOnce() -> R) -> R {
    // SAFETY: caller's contract.
    let env = unsafe { slot.read() };
    let s = settings::get();
    // SAFETY: environ is a valid environment array.
    if !s.loaded || !unsafe { needs_fix(s, env) } {
        return f();
    }
    // SAFETY: environ is valid; the fixed array lives until after `f`.
    unsafe {
        with_fixed(env, |fixed| {
            slot.write(fixed);
            let r = f();
            slot.write(env);
            r
        })
    }
}

#[cfg(test)]
// Every unsafe call below passes a NULL-terminated array of CStrings built
// in the same function and alive for the call.
#[allow(clippy::undocumented_unsafe_blocks)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn settings(vars: &[(&str, &str)]) -> Box<Settings> {
        crate::settings::captured(vars, Some("/home/u"))
    }

    fn child_env(s: &Settings, parent: &[&str]) -> Vec<String> {
        let owned: Vec<CString> = parent.iter().map(|e| CString::new(*e).unwrap()).collect();
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(core::ptr::null());
        let mut out = vec![core::ptr::null(); parent.len() + EXTRA];
        let mut pre = Box::new(Fixed::<8192>::new());
        let n = unsafe { build(s, ptrs.as_ptr(), &mut out, &mut pre) }.unwrap();
        assert!(out[n].is_null());
        out[..n]
            .iter()
            .map(|&p| String::from_utf8_lossy(unsafe { cstr(p) }).into_owned())
            .collect()
    }

    const LOADED: &[(&str, &str)] = &[
        ("LD_PRELOAD", "/lib/librampart.so"),
        ("RAMPART_AGENT", "codex"),
    ];

    #[test]
    fn an_empty_environment_gets_the_library_and_settings_back() {
        let s = settings(LOADED);
        let env = child_env(&s, &[]);
        assert!(
            env.contains(&"LD_PRELOAD=/lib/librampart.so".into()),
            "{env:?}"
        );
        assert!(env.contains(&"RAMPART_MODE=enforce".into()));
        assert!(env.contains(&"RAMPART_AGENT=codex".into()));
    }

    #[test]
    fn a_child_cannot_disable_or_redirect_the_library() {
        let s = settings(LOADED);
        let env = child_env(
            &s,
            &[
                "RAMPART_MODE=disabled",
                "RAMPART_SNAPSHOT=/tmp/allow-all.snap",
                "PATH=/bin",
                "LD_PRELOAD=",
            ],
        );
        assert!(env.contains(&"RAMPART_MODE=enforce".into()), "{env:?}");
        assert!(
            !env.iter().any(|e| e.starts_with("RAMPART_SNAPSHOT=")),
            "{env:?}"
        );
        assert!(env.contains(&"PATH=/bin".into()));
        assert!(
            env.contains(&"LD_PRELOAD=/lib/librampart.so".into()),
            "{env:?}"
        );
        assert_eq!(
            env.iter()
                .filter(|e| e.starts_with("RAMPART_MODE="))
                .count(),
            1
        );
    }

    #[test]
    fn other_preloaded_libraries_are_kept_after_ours() {
        let s = settings(LOADED);
        let env = child_env(&s, &["LD_PRELOAD=/lib/other.so"]);
        assert!(
            env.contains(&"LD_PRELOAD=/lib/librampart.so:/lib/other.so".into()),
            "{env:?}"
        );
        let env = child_env(&s, &["LD_PRELOAD=/lib/other.so /lib/librampart.so"]);
        assert!(
            env.contains(&"LD_PRELOAD=/lib/other.so /lib/librampart.so".into()),
            "{env:?}"
        );
    }

    #[test]
    fn an_intact_environment_needs_no_fix_and_a_tampered_one_does() {
        let s = settings(LOADED);
        let intact = child_env(&s, &["PATH=/bin"]);
        let owned: Vec<CString> = intact
            .iter()
            .map(|e| CString::new(e.as_str()).unwrap())
            .collect();
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(core::ptr::null());
        assert!(!unsafe { needs_fix(&s, ptrs.as_ptr()) });
        let tampered = [CString::new("RAMPART_MODE=disabled").unwrap()];
        let ptrs2 = [tampered[0].as_ptr(), core::ptr::null()];
        assert!(unsafe { needs_fix(&s, ptrs2.as_ptr()) });
        assert!(unsafe { needs_fix(&s, core::ptr::null()) });
    }
}
