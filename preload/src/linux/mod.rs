//! Linux: the exported hooks (`LD_PRELOAD` interposes them on the host's
//! libc calls), the real functions from `dlsym(RTLD_NEXT)`, and the
//! constructor in `.init_array`.
//!
//! Each hook: decide ([`crate::hook::check`]); on a block fail as the caller
//! expects; otherwise call the real function with the environment fixed
//! ([`crate::envp`]). Nothing here is called by the code it hooks.

use crate::envp;
use crate::hook::{self, CArgv, Entry, Input, Verdict};
use crate::settings::{self, Fixed, Inputs, SETTINGS};
use crate::sys::{self, Anon, cstr};
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

type Argv = *const *const c_char;
type ExecveFn = unsafe extern "C" fn(*const c_char, Argv, Argv) -> c_int;
type ExecvFn = unsafe extern "C" fn(*const c_char, Argv) -> c_int;
type FexecveFn = unsafe extern "C" fn(c_int, Argv, Argv) -> c_int;
type SpawnFn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const c_char,
    *const libc::posix_spawn_file_actions_t,
    *const libc::posix_spawnattr_t,
    Argv,
    Argv,
) -> c_int;
type SystemFn = unsafe extern "C" fn(*const c_char) -> c_int;
type PopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;

/// The real functions, by index.
#[derive(Clone, Copy)]
#[repr(usize)]
enum Real {
    Execve,
    Execv,
    Execvp,
    Execvpe,
    Fexecve,
    PosixSpawn,
    PosixSpawnp,
    System,
    Popen,
}

const NAMES: [&core::ffi::CStr; 9] = [
    c"execve",
    c"execv",
    c"execvp",
    c"execvpe",
    c"fexecve",
    c"posix_spawn",
    c"posix_spawnp",
    c"system",
    c"popen",
];

static REAL: [AtomicUsize; 9] = [const { AtomicUsize::new(0) }; 9];

/// The real function's address (resolved in the constructor; looked up
/// now only if something called us before our constructor ran).
fn real(which: Real) -> usize {
    let slot = match REAL.get(which as usize) {
        Some(s) => s,
        None => return 0,
    };
    let p = slot.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    let name = NAMES.get(which as usize).copied().unwrap_or(c"");
    // SAFETY: dlsym with RTLD_NEXT and a valid C string.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
    slot.store(p, Ordering::Relaxed);
    p
}

macro_rules! real_fn {
    ($which:expr, $ty:ty) => {{
        let p = real($which);
        if p == 0 {
            None
        } else {
            // SAFETY: `p` is the address dlsym returned for this libc symbol,
            // whose C signature is `$ty`.
            Some(unsafe { core::mem::transmute::<usize, $ty>(p) })
        }
    }};
}

unsafe extern "C" {
    static mut environ: *const *const c_char;
    static mut rampart_shim_execv: Option<unsafe extern "C" fn(*const c_char, Argv) -> c_int>;
    static mut rampart_shim_execvp: Option<unsafe extern "C" fn(*const c_char, Argv) -> c_int>;
    static mut rampart_shim_execve:
        Option<unsafe extern "C" fn(*const c_char, Argv, Argv) -> c_int>;
}

fn current_environ() -> Argv {
    // SAFETY: reading the process's environ pointer.
    unsafe { core::ptr::addr_of!(environ).read() }
}

/// Call `f` with `envp` fixed (or as is when nothing needs fixing).
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of C strings.
unsafe fn with_env<R>(envp: Argv, f: impl FnOnce(Argv) -> R) -> R {
    let s = settings::get();
    // SAFETY: forwarded contract.
    if !s.loaded || !unsafe { envp::needs_fix(s, envp) } {
        return f(envp);
    }
    // SAFETY: forwarded contract.
    let need = unsafe { envp::count(envp) } + envp::EXTRA;
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
    match unsafe { envp::build(s, envp, out, &mut preload) } {
        Some(_) => f(out.as_ptr()),
        None => f(envp),
    }
}

fn eperm<T>(v: T) -> T {
    sys::set_errno(libc::EPERM);
    v
}

/// Fail an exec as its verdict says (`None`: go ahead).
fn refused(v: Verdict) -> Option<c_int> {
    match v {
        Verdict::Run => None,
        Verdict::Block => Some(eperm(-1)),
        Verdict::Missing => {
            sys::set_errno(libc::ENOENT);
            Some(-1)
        }
    }
}

/// # Safety
/// libc's `execve` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: libc contract for execve arguments.
    unsafe { do_execve(Entry::Execve, path, argv, envp) }
}

unsafe fn do_execve(entry: Entry, path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(path, argv) };
    if let Some(r) = refused(hook::check(entry, Input::Argv(&a))) {
        return r;
    }
    let Some(real) = real_fn!(Real::Execve, ExecveFn) else {
        return enosys();
    };
    // SAFETY: caller's contract; real is libc's execve.
    unsafe { with_env(envp, |e| real(path, argv, e)) }
}

fn enosys() -> c_int {
    sys::set_errno(libc::ENOSYS);
    -1
}

/// # Safety
/// libc's `execv` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: libc contract.
    unsafe { do_execv(Entry::Execv, path, argv) }
}

unsafe fn do_execv(entry: Entry, path: *const c_char, argv: Argv) -> c_int {
    // SAFETY: caller's contract.
    unsafe { exec_with_environ(entry, path, argv, Real::Execv, Real::Execve) }
}

/// The body of the exec calls that use `environ` (`execv`, `execvp` and
/// their `execl*` forms): decide; if `environ` has lost the library's
/// variables, call the explicit-environment variant (`with_env`) with them
/// put back, else the plain one.
///
/// # Safety
/// `path` and `argv` per the libc exec contract.
unsafe fn exec_with_environ(
    entry: Entry,
    path: *const c_char,
    argv: Argv,
    plain: Real,
    explicit: Real,
) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(path, argv) };
    if let Some(r) = refused(hook::check(entry, Input::Argv(&a))) {
        return r;
    }
    let env = current_environ();
    let s = settings::get();
    // SAFETY: environ is a valid environment array.
    if s.loaded && unsafe { envp::needs_fix(s, env) } {
        let Some(real) = real_fn!(explicit, ExecveFn) else {
            return enosys();
        };
        // SAFETY: libc contract.
        return unsafe { with_env(env, |e| real(path, argv, e)) };
    }
    let Some(real) = real_fn!(plain, ExecvFn) else {
        return enosys();
    };
    // SAFETY: libc contract.
    unsafe { real(path, argv) }
}

/// # Safety
/// libc's `execvp` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: libc contract.
    unsafe { do_execvp(Entry::Execvp, file, argv) }
}

unsafe fn do_execvp(entry: Entry, file: *const c_char, argv: Argv) -> c_int {
    // SAFETY: caller's contract.
    unsafe { exec_with_environ(entry, file, argv, Real::Execvp, Real::Execvpe) }
}

/// # Safety
/// libc's `execvpe` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: libc contract.
    let a = unsafe { CArgv::new(file, argv) };
    if let Some(r) = refused(hook::check(Entry::Execvpe, Input::Argv(&a))) {
        return r;
    }
    let Some(real) = real_fn!(Real::Execvpe, ExecveFn) else {
        return enosys();
    };
    // SAFETY: libc contract.
    unsafe { with_env(envp, |e| real(file, argv, e)) }
}

/// # Safety
/// libc's `fexecve` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Argv, envp: Argv) -> c_int {
    // The program is whatever the descriptor names.
    let mut link = [0u8; 64];
    let mut target = [0u8; 1024];
    let mut o = crate::out::Out::new(&mut link);
    o.bytes(b"/proc/self/fd/");
    o.i64(i64::from(fd));
    o.byte(0);
    // SAFETY: NUL-terminated link path; target is writable for len-1 bytes.
    let n = unsafe {
        libc::readlink(
            o.as_bytes().as_ptr().cast(),
            target.as_mut_ptr().cast(),
            target.len() - 1,
        )
    };
    let path: *const c_char = if n > 0 {
        target.as_ptr().cast()
    } else {
        core::ptr::null()
    };
    // SAFETY: target is NUL-terminated (zeroed, n < len); argv per contract.
    let a = unsafe { CArgv::new(path, argv) };
    if let Some(r) = refused(hook::check(Entry::Fexecve, Input::Argv(&a))) {
        return r;
    }
    let Some(real) = real_fn!(Real::Fexecve, FexecveFn) else {
        return enosys();
    };
    // SAFETY: libc contract.
    unsafe { with_env(envp, |e| real(fd, argv, e)) }
}

/// # Safety
/// libc's `posix_spawn` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: libc contract.
    unsafe {
        do_spawn(
            Entry::PosixSpawn,
            Real::PosixSpawn,
            pid,
            path,
            fa,
            attr,
            argv,
            envp,
        )
    }
}

/// # Safety
/// libc's `posix_spawnp` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: libc contract.
    unsafe {
        do_spawn(
            Entry::PosixSpawnp,
            Real::PosixSpawnp,
            pid,
            file,
            fa,
            attr,
            argv,
            envp,
        )
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn do_spawn(
    entry: Entry,
    which: Real,
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: Argv,
    envp: Argv,
) -> c_int {
    // SAFETY: caller's contract.
    let a = unsafe { CArgv::new(path, argv) };
    match hook::check(entry, Input::Argv(&a)) {
        Verdict::Run => {}
        Verdict::Block => return libc::EPERM,
        Verdict::Missing => return libc::ENOENT,
    }
    let Some(real) = real_fn!(which, SpawnFn) else {
        return libc::ENOSYS;
    };
    // SAFETY: libc contract.
    unsafe { with_env(envp, |e| real(pid, path, fa, attr, argv, e)) }
}

/// Run `f` with `environ` temporarily fixed, for functions that take no
/// environment argument but start a child (`system`, `popen`).
///
/// # Safety
/// Like any change of `environ`, not safe against a concurrent `setenv`
/// in another thread; that is the libc contract for environ already.
unsafe fn with_fixed_environ<R>(f: impl FnOnce() -> R) -> R {
    let env = current_environ();
    let s = settings::get();
    // SAFETY: environ is a valid environment array.
    if !s.loaded || !unsafe { envp::needs_fix(s, env) } {
        return f();
    }
    // SAFETY: environ is valid; the fixed array lives until after `f`.
    unsafe {
        with_env(env, |fixed| {
            core::ptr::addr_of_mut!(environ).write(fixed);
            let r = f();
            core::ptr::addr_of_mut!(environ).write(env);
            r
        })
    }
}

/// # Safety
/// libc's `system` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    let Some(real) = real_fn!(Real::System, SystemFn) else {
        return -1;
    };
    if command.is_null() {
        // "Is there a shell?": nothing runs.
        // SAFETY: libc contract.
        return unsafe { real(command) };
    }
    // SAFETY: non-NULL C string per contract.
    let cmd = unsafe { cstr(command) };
    if hook::check(Entry::System, Input::Shell(cmd)) == Verdict::Block {
        // As if the shell exited with 126 (found but not executable).
        return 126 << 8;
    }
    // SAFETY: libc contract.
    unsafe { with_fixed_environ(|| real(command)) }
}

/// # Safety
/// libc's `popen` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    let Some(real) = real_fn!(Real::Popen, PopenFn) else {
        sys::set_errno(libc::ENOSYS);
        return core::ptr::null_mut();
    };
    if !command.is_null() {
        // SAFETY: non-NULL C string per contract.
        let cmd = unsafe { cstr(command) };
        if hook::check(Entry::Popen, Input::Shell(cmd)) == Verdict::Block {
            return eperm(core::ptr::null_mut());
        }
    }
    // SAFETY: libc contract.
    unsafe { with_fixed_environ(|| real(command, mode)) }
}

unsafe extern "C" {
    fn rampart_execl_impl();
    fn rampart_execlp_impl();
    fn rampart_execle_impl();
}

/// `execl`: a tail jump into the C shim, which collects the variadic
/// arguments into an argv and calls [`shim_execl`].
///
/// # Safety
/// libc's `execl` contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execl() {
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("jmp {0}", sym rampart_execl_impl);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("b {0}", sym rampart_execl_impl);
}

/// `execlp`: see [`execl`].
///
/// # Safety
/// libc's `execlp` contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execlp() {
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("jmp {0}", sym rampart_execlp_impl);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("b {0}", sym rampart_execlp_impl);
}

/// `execle`: see [`execl`].
///
/// # Safety
/// libc's `execle` contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execle() {
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("jmp {0}", sym rampart_execle_impl);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("b {0}", sym rampart_execle_impl);
}

// The C shim's execl/execlp/execle land here, with argv collected.
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

/// The constructor: resolve the real functions, capture settings. Runs
/// before `main`, single-threaded.
extern "C" fn init(_argc: c_int, _argv: Argv, envp: Argv) {
    crate::crc::detect();
    for i in 0..REAL.len() {
        let which = [
            Real::Execve,
            Real::Execv,
            Real::Execvp,
            Real::Execvpe,
            Real::Fexecve,
            Real::PosixSpawn,
            Real::PosixSpawnp,
            Real::System,
            Real::Popen,
        ];
        if let Some(&w) = which.get(i) {
            let _ = real(w);
        }
    }
    // SAFETY: single-threaded constructor; the shim reads these only when
    // execl* is called, after load.
    unsafe {
        core::ptr::addr_of_mut!(rampart_shim_execv).write(Some(shim_execl));
        core::ptr::addr_of_mut!(rampart_shim_execvp).write(Some(shim_execlp));
        core::ptr::addr_of_mut!(rampart_shim_execve).write(Some(shim_execle));
    }
    let env = if envp.is_null() {
        current_environ()
    } else {
        envp
    };
    // One pass over the environment: keep only the entries we may ask for.
    let mut mine: [&[u8]; 24] = [&[]; 24];
    let mut n_mine = 0usize;
    // SAFETY: the process environment at load: NULL-terminated C strings.
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
    let mut pw_buf = [0u8; 4096];
    let passwd_home = if lookup(b"RAMPART_USER_HOME").is_some_and(|v| !v.is_empty()) {
        None
    } else {
        passwd_home(&mut pw_buf)
    };
    let mut info: libc::Dl_info = unsafe_zeroed_dl_info();
    // SAFETY: dladdr with an address inside this library and a valid out-pointer.
    let lib_path: &[u8] = if unsafe { libc::dladdr(init as *const c_void, &mut info) } != 0 {
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
        let _ = crate::snap::current(s.snapshot_path.c_bytes());
    }
}

fn unsafe_zeroed_dl_info() -> libc::Dl_info {
    // SAFETY: Dl_info is plain data; all-zero is a valid (empty) value.
    unsafe { core::mem::zeroed() }
}

/// The home directory from the password database.
fn passwd_home(buf: &mut [u8]) -> Option<&[u8]> {
    // SAFETY: zeroed passwd is a valid out-parameter.
    let mut pwd: libc::passwd = unsafe { core::mem::zeroed() };
    let mut result: *mut libc::passwd = core::ptr::null_mut();
    // SAFETY: valid out-pointers and a buffer of buf.len() bytes.
    let r = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
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

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn(c_int, Argv, Argv) = init;
