//! macOS: the hooks dyld interposes (`DYLD_INSERT_LIBRARIES` with a
//! `__DATA,__interpose` table), the constructor in `__DATA,__mod_init_func`,
//! `errno` through `__error`, the environment through `_NSGetEnviron`.
//!
//! Nothing here was built or run on a Mac: it is written against Apple's
//! documented interfaces and type-checked on Linux with `--cfg
//! rampart_macos_check`; `preload/MACOS.md` is the checklist that confirms
//! it on a Mac.
//!
//! # Interposition, and why the hooks can call what they hook
//!
//! The hooks are not exported under libc's names (no
//! `DYLD_FORCE_FLAT_NAMESPACE`: with two-level namespaces an exported
//! `execve` would bind nothing). Instead the table [`INTERPOSE`] pairs each
//! replacement (`rampart_execve`, ...) with the original (`execve`, ...);
//! when the library is inserted, dyld rebinds every *other* image's
//! references to the original onto the replacement. References from the
//! interposing image itself are left alone, so when `rampart_execve`
//! calls `execve` it reaches libSystem's `execve`, not itself. That is the
//! macOS form of the hot-path rule "never calls a function it hooks" (on
//! Linux the real functions come from `dlsym(RTLD_NEXT)`). The table is
//! generated from [`crate::for_each_hook!`], the list that
//! [`crate::interpose::HOOKS`] tests on every platform.
//!
//! Not hooked, because macOS has no such function: `execvpe` and
//! `fexecve`. `execvp` with an environment that must be fixed searches
//! `PATH` itself ([`crate::search`]) and calls `execve`.
//!
//! # System Integrity Protection
//!
//! SIP strips `DYLD_*` from the environment when the kernel launches a
//! protected binary (`/bin/sh`, `/usr/bin/*`, `/System/...`), so nothing
//! protected ever loads this library. That is why every hook decides in
//! the *caller*, before the exec: `system("rm -rf ~")`, `popen(...)` and an
//! exec of `sh -c '...'` are decided here, in the process that asked for
//! them, whatever `/bin/sh` does afterwards. What a protected shell starts
//! by itself is out of reach, which is why `rampart preload` warns when the
//! target is protected and points to an unprotected copy.
//!
//! Each hook: decide ([`crate::hook::check`]); on a block fail as the
//! caller expects; otherwise call the original with the environment fixed
//! ([`crate::envp`]), so `DYLD_INSERT_LIBRARIES` and the `RAMPART_*` values
//! reach every child that is not protected.

mod ffi;

use crate::envp;
use crate::hook::{self, CArgv, Entry, Input, Verdict};
use crate::search::{self, Next};
use crate::settings;
use crate::sys::{self, cstr};
use core::ffi::{c_char, c_int, c_void};

type Argv = *const *const c_char;

/// `errno` of the calling thread (what `sys` reads and writes on macOS).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn errno_location() -> *mut c_int {
    // SAFETY: `__error` has no preconditions and never fails.
    unsafe { ffi::__error() }
}

/// Where the process keeps its `environ` pointer.
fn environ_slot() -> *mut Argv {
    // SAFETY: `_NSGetEnviron` has no preconditions; it returns the address
    // of libSystem's `environ` variable, valid for the life of the process.
    unsafe { ffi::_NSGetEnviron() }.cast()
}

fn current_environ() -> Argv {
    // SAFETY: `environ_slot` is the address of the live `environ` pointer.
    unsafe { environ_slot().read() }
}

/// One (replacement, original) pair, as dyld reads it from `__interpose`.
#[repr(C)]
pub struct Interpose {
    replacement: *const c_void,
    original: *const c_void,
}

// SAFETY: plain addresses of functions, never written; dyld reads them.
unsafe impl Sync for Interpose {}

macro_rules! interpose_table {
    ($($replacement:ident => $original:ident,)*) => {
        /// The table dyld reads: every hook, generated from
        /// [`crate::for_each_hook!`].
        #[used]
        #[cfg_attr(target_os = "macos", unsafe(link_section = "__DATA,__interpose"))]
        pub static INTERPOSE: [Interpose; crate::interpose::HOOKS.len()] = [$(
            Interpose {
                replacement: $replacement as *const c_void,
                original: $original as *const c_void,
            },
        )*];
    };
}

use libc::{
    execl, execle, execlp, execv, execve, execvp, popen, posix_spawn, posix_spawnp, system,
};
unsafe extern "C" {
    fn rampart_execl_impl();
    fn rampart_execlp_impl();
    fn rampart_execle_impl();
}
crate::for_each_hook!(interpose_table);

fn eperm<T>(v: T) -> T {
    sys::set_errno(libc::EPERM);
    v
}

/// Replaces `execve`.
///
/// # Safety
/// libc's `execve` contract.
pub unsafe extern "C" fn rampart_execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: libc contract for execve arguments.
    unsafe { do_execve(Entry::Execve, path, argv, envp) }
}

unsafe fn do_execve(entry: Entry, path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(path, argv) };
    if let Some(r) = hook::check(entry, Input::Argv(&a)).exec_failure() {
        return r;
    }
    // SAFETY: caller's contract; from this image `execve` is libSystem's.
    unsafe { envp::with_fixed(envp, |e| execve(path, argv, e)) }
}

/// Replaces `execv`.
///
/// # Safety
/// libc's `execv` contract.
pub unsafe extern "C" fn rampart_execv(path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: libc contract.
    unsafe { do_execv(Entry::Execv, path, argv) }
}

unsafe fn do_execv(entry: Entry, path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(path, argv) };
    if let Some(r) = hook::check(entry, Input::Argv(&a)).exec_failure() {
        return r;
    }
    let env = current_environ();
    // SAFETY: environ is a valid environment array.
    if unsafe { environ_needs_fix(env) } {
        // SAFETY: libc contract; the fixed array lives through the call.
        return unsafe { envp::with_fixed(env, |e| execve(path, argv, e)) };
    }
    // SAFETY: libc contract; from this image `execv` is libSystem's.
    unsafe { execv(path, argv) }
}

/// # Safety
/// `env` is NULL or a NULL-terminated array of C strings.
unsafe fn environ_needs_fix(env: Argv) -> bool {
    let s = settings::get();
    // SAFETY: forwarded contract.
    s.loaded && unsafe { envp::needs_fix(s, env) }
}

/// Replaces `execvp`.
///
/// # Safety
/// libc's `execvp` contract.
pub unsafe extern "C" fn rampart_execvp(file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: libc contract.
    unsafe { do_execvp(Entry::Execvp, file, argv) }
}

unsafe fn do_execvp(entry: Entry, file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(file, argv) };
    if let Some(r) = hook::check(entry, Input::Argv(&a)).exec_failure() {
        return r;
    }
    let env = current_environ();
    // SAFETY: environ is a valid environment array.
    if unsafe { environ_needs_fix(env) } {
        // No `execvpe` on macOS: search PATH here, `execve` each candidate.
        // SAFETY: libc contract; the fixed array lives through the call.
        return unsafe { envp::with_fixed(env, |e| execvpe_by_search(file, argv, env, e)) };
    }
    // SAFETY: libc contract; from this image `execvp` is libSystem's.
    unsafe { execvp(file, argv) }
}

/// `execvp` with an explicit environment: `execve` along `PATH` (taken from
/// `search_env`), with `execvp`'s errors: `ENOENT` when nothing was found,
/// `EACCES` when something was found but not executable, or the first
/// other error. Unlike libSystem's `execvp` it does not retry a file that
/// fails with `ENOEXEC` through `/bin/sh`; it returns `ENOEXEC`.
///
/// # Safety
/// libc's `execvp` contract; `search_env` and `envp` are valid
/// environment arrays.
unsafe fn execvpe_by_search(
    file: *const c_char,
    argv: Argv,
    search_env: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: a C string per the contract.
    let name = unsafe { cstr(file) };
    // SAFETY: a valid environment array per the contract.
    let n = unsafe { envp::count(search_env) };
    // SAFETY: i < n entries, each a C string.
    let path = search::path_in((0..n).map(|i| unsafe { cstr(*search_env.add(i)) }));
    let mut buf = [0u8; 1024];
    let mut err = libc::ENOENT;
    let mut denied = false;
    search::each_candidate(name, path, &mut buf, |candidate| {
        // SAFETY: `candidate` is NUL-terminated; argv and envp per contract.
        // Returns only on failure.
        unsafe { execve(candidate.as_ptr().cast(), argv, envp) };
        match sys::errno() {
            libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG => Next::Continue,
            libc::EACCES => {
                denied = true;
                Next::Continue
            }
            e => {
                err = e;
                Next::Stop
            }
        }
    });
    if err == libc::ENOENT && denied {
        err = libc::EACCES;
    }
    sys::set_errno(err);
    -1
}

/// Replaces `posix_spawn`.
///
/// # Safety
/// libc's `posix_spawn` contract.
pub unsafe extern "C" fn rampart_posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(path, argv.cast()) };
    if let Some(e) = spawn_refused(hook::check(Entry::PosixSpawn, Input::Argv(&a))) {
        return e;
    }
    // SAFETY: libc contract; from this image `posix_spawn` is libSystem's.
    unsafe {
        envp::with_fixed(envp.cast(), |e| {
            posix_spawn(pid, path, fa, attr, argv, e.cast())
        })
    }
}

/// Replaces `posix_spawnp`.
///
/// # Safety
/// libc's `posix_spawnp` contract.
pub unsafe extern "C" fn rampart_posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(file, argv.cast()) };
    if let Some(e) = spawn_refused(hook::check(Entry::PosixSpawnp, Input::Argv(&a))) {
        return e;
    }
    // SAFETY: libc contract; from this image `posix_spawnp` is libSystem's.
    unsafe {
        envp::with_fixed(envp.cast(), |e| {
            posix_spawnp(pid, file, fa, attr, argv, e.cast())
        })
    }
}

/// `posix_spawn` returns its error instead of setting `errno`.
fn spawn_refused(v: Verdict) -> Option<c_int> {
    match v {
        Verdict::Run => None,
        Verdict::Block => Some(libc::EPERM),
        Verdict::Missing => Some(libc::ENOENT),
    }
}

/// Replaces `system`. Decided here, in the caller: the `/bin/sh` that
/// libSystem starts is SIP-protected and never loads the library.
///
/// # Safety
/// libc's `system` contract.
pub unsafe extern "C" fn rampart_system(command: *const c_char) -> c_int {
    if !command.is_null() {
        // SAFETY: non-NULL C string per contract.
        let cmd = unsafe { cstr(command) };
        if hook::check(Entry::System, Input::Shell(cmd)) == Verdict::Block {
            // As if the shell exited with 126 (found but not executable).
            return 126 << 8;
        }
    }
    // NULL asks "is there a shell?": nothing runs. SAFETY: libc contract;
    // `system` is libSystem's; environ is restored before returning.
    unsafe { envp::with_fixed_environ(environ_slot(), || system(command)) }
}

/// Replaces `popen`. Decided in the caller, as [`rampart_system`].
///
/// # Safety
/// libc's `popen` contract.
pub unsafe extern "C" fn rampart_popen(
    command: *const c_char,
    mode: *const c_char,
) -> *mut libc::FILE {
    if !command.is_null() {
        // SAFETY: non-NULL C string per contract.
        let cmd = unsafe { cstr(command) };
        if hook::check(Entry::Popen, Input::Shell(cmd)) == Verdict::Block {
            return eperm(core::ptr::null_mut());
        }
    }
    // SAFETY: libc contract; `popen` is libSystem's; environ is restored.
    unsafe { envp::with_fixed_environ(environ_slot(), || popen(command, mode)) }
}

// The C shim's execl/execlp/execle (the replacements in the table) land
// here, with argv collected.
unsafe extern "C" fn shim_execl(path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: the shim passes execl's arguments through.
    unsafe { do_execv(Entry::Execl, path, argv) }
}
unsafe extern "C" fn shim_execlp(file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: as above.
    unsafe { do_execvp(Entry::Execlp, file, argv) }
}
unsafe extern "C" fn shim_execle(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: as above.
    unsafe { do_execve(Entry::Execle, path, argv, envp) }
}

/// The constructor. dyld calls initializers with `(argc, argv, envp,
/// apple, program_vars)`; the first three are all it needs. Runs before
/// `main`, single-threaded.
extern "C" fn init(_argc: c_int, _argv: Argv, envp: Argv) {
    crate::crc::detect();
    // SAFETY: the constructor, single-threaded.
    unsafe { crate::shim::install(shim_execl, shim_execlp, shim_execle) };
    let env = if envp.is_null() {
        current_environ()
    } else {
        envp
    };
    // SAFETY: the constructor, single-threaded; `env` is the environment at
    // load and `init` lies inside this library.
    unsafe { crate::load::at_load(env, init as *const c_void) };
}

#[used]
#[cfg_attr(target_os = "macos", unsafe(link_section = "__DATA,__mod_init_func"))]
static INIT: extern "C" fn(c_int, Argv, Argv) = init;
