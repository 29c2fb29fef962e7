//! What the constructor does on every platform once the platform layer has
//! wired its hooks: capture the settings from the environment at load, and
//! arrange for the snapshot to be read before the first fork.

use crate::envp;
use crate::settings::{self, Inputs, SETTINGS};
use crate::sys::cstr;
use core::ffi::{c_char, c_void};

/// Capture the settings from `env` (the environment at load) and register
/// the fork handler. `lib_addr` is any address inside this library (its
/// path is found with `dladdr`).
///
/// # Safety
/// Called once, from the constructor: single-threaded, before any reader of
/// the settings. `env` is NULL or a NULL-terminated array of C strings.
pub unsafe fn at_load(env: *const *const c_char, lib_addr: *const c_void) {
    // One pass over the environment: keep only the entries we may ask for.
    let mut mine: [&[u8]; 24] = [&[]; 24];
    let mut n_mine = 0usize;
    // SAFETY: caller's contract.
    let n = unsafe { envp::count(env) };
    for i in 0..n {
        // SAFETY: i < n.
        let e: &[u8] = unsafe { cstr(*env.add(i)) };
        let wanted = e.starts_with(b"RAMPART_")
            || e.starts_with(settings::PRELOAD_VAR)
            || e.starts_with(b"HOME=");
        if wanted && let Some(slot) = mine.get_mut(n_mine) {
            *slot = e;
            n_mine += 1;
        }
    }
    let lookup = |name: &[u8]| -> Option<&[u8]> {
        mine.iter().take(n_mine).find_map(|e| {
            let hit =
                e.len() > name.len() && e.starts_with(name) && e.get(name.len()) == Some(&b'=');
            if hit { e.get(name.len() + 1..) } else { None }
        })
    };
    let mut home_copy = [0u8; 1024];
    let passwd_home = if lookup(b"RAMPART_USER_HOME").is_some_and(|v| !v.is_empty()) {
        None
    } else {
        copy_passwd_home(&mut home_copy)
    };
    let mut info: libc::Dl_info = zeroed_dl_info();
    // SAFETY: dladdr with an address inside this library and a valid out-pointer.
    let lib_path: &[u8] = if unsafe { libc::dladdr(lib_addr, &mut info) } != 0 {
        // SAFETY: dli_fname is a C string owned by the loader.
        unsafe { cstr(info.dli_fname) }
    } else {
        b""
    };
    // SAFETY: constructor, single-threaded, before any reader.
    let s = unsafe { SETTINGS.set_at_load() };
    settings::capture(
        s,
        &Inputs {
            env: &lookup,
            passwd_home,
            lib_path,
        },
    );
    // The snapshot is read at the first decision, or just before the first
    // fork: a process that never starts anything (most of them: compilers,
    // `true`) pays nothing for it, and a shell reads it once for all the
    // children it forks (they inherit the checked copy) instead of each
    // child reading it before its exec.
    // SAFETY: registering a handler has no preconditions; `before_fork`
    // is an `extern "C" fn()` that takes no locks.
    unsafe { libc::pthread_atfork(Some(before_fork), None, None) };
}

/// `pthread_atfork` prepare handler: runs in the parent right before
/// `fork()`, so the child inherits a loaded snapshot. Lock-free, like every
/// decision (see `snap`).
extern "C" fn before_fork() {
    let s = settings::get();
    if s.loaded && s.mode != settings::Mode::Disabled {
        let _ = crate::snap::current(s.snapshot_path_c());
    }
}

fn zeroed_dl_info() -> libc::Dl_info {
    // SAFETY: Dl_info is plain data; all-zero is a valid (empty) value.
    unsafe { core::mem::zeroed() }
}

/// The home directory from the password database, copied into `out`
/// (`None` when there is none, or it does not fit). Out of line: its
/// 4 KiB lookup buffer stays off the constructor's stack when `rampart
/// preload` has already said where home is (each process pays a page fault
/// for every stack page it touches).
#[inline(never)]
fn copy_passwd_home(out: &mut [u8]) -> Option<&[u8]> {
    let mut buf = [0u8; 4096];
    let home = passwd_home(&mut buf)?;
    let dst = out.get_mut(..home.len())?;
    dst.copy_from_slice(home);
    Some(dst)
}

/// The home directory from the password database.
fn passwd_home(buf: &mut [u8]) -> Option<&[u8]> {
    // SAFETY: zeroed passwd is a valid out-parameter.
    let mut pwd: libc::passwd = unsafe { core::mem::zeroed() };
    let mut result: *mut libc::passwd = core::ptr::null_mut();
    // SAFETY: valid out-pointers and a buffer of buf.len() bytes.
    let r = unsafe {
        libc::getpwuid_r(
            crate::sys::os::getuid(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if r != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points into `buf`, NUL-terminated.
    let dir = unsafe { cstr(pwd.pw_dir) };
    // Re-borrow from buf's lifetime.
    let start = (pwd.pw_dir as usize).checked_sub(buf.as_ptr() as usize)?;
    buf.get(start..start + dir.len())
}
