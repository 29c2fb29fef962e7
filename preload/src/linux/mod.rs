//! Linux: the exported hooks (`LD_PRELOAD` interposes them on the host's
//! libc calls), the real functions from `dlsym(RTLD_NEXT)`, and the
//! constructor in `.init_array`.
//!
//! Each hook: decide ([`crate::hook::check`]); on a block fail as the caller
//! expects; otherwise call the real function with the environment fixed
//! ([`crate::envp`]). Nothing here is called by the code it hooks.

use crate::envp;
use crate::hook::{self, CArgv, Entry, Input, Verdict};
use crate::settings;
use crate::sys::{self, cstr};
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
}

fn current_environ() -> Argv {
    // SAFETY: reading the process's environ pointer.
    unsafe { core::ptr::addr_of!(environ).read() }
}

fn eperm<T>(v: T) -> T {
    sys::set_errno(libc::EPERM);
    v
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
    if let Some(r) = hook::check(entry, Input::Argv(&a)).exec_failure() {
        return r;
    }
    let Some(real) = real_fn!(Real::Execve, ExecveFn) else {
        return enosys();
    };
    // SAFETY: caller's contract; real is libc's execve.
    unsafe { envp::with_fixed(envp, |e| real(path, argv, e)) }
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
/// variables, call the explicit-environment variant ([`envp::with_fixed`]) with them
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
    if let Some(r) = hook::check(entry, Input::Argv(&a)).exec_failure() {
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
        return unsafe { envp::with_fixed(env, |e| real(path, argv, e)) };
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
    if let Some(r) = hook::check(Entry::Execvpe, Input::Argv(&a)).exec_failure() {
        return r;
    }
    let Some(real) = real_fn!(Real::Execvpe, ExecveFn) else {
        return enosys();
    };
    // SAFETY: libc contract.
    unsafe { envp::with_fixed(envp, |e| real(file, argv, e)) }
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
        crate::sys::os::readlink(
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
    if let Some(r) = hook::check(Entry::Fexecve, Input::Argv(&a)).exec_failure() {
        return r;
    }
    let Some(real) = real_fn!(Real::Fexecve, FexecveFn) else {
        return enosys();
    };
    // SAFETY: libc contract.
    unsafe { envp::with_fixed(envp, |e| real(fd, argv, e)) }
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
    unsafe { envp::with_fixed(envp, |e| real(pid, path, fa, attr, argv, e)) }
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
    unsafe { envp::with_fixed_environ(core::ptr::addr_of_mut!(environ), || real(command)) }
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
    unsafe { envp::with_fixed_environ(core::ptr::addr_of_mut!(environ), || real(command, mode)) }
}

unsafe extern "C" {
    fn rampart_execl_impl();
    fn rampart_execlp_impl();
    fn rampart_execle_impl();
}

/// The exported `execl*`: each a bare tail jump into the C shim (which
/// collects the variadic arguments and calls back through [`crate::shim`]),
/// so the caller's variadic call frame reaches C untouched.
macro_rules! tail_jump {
    ($($name:ident => $target:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($name), "`: a tail jump into the C shim's `", stringify!($target), "`.")]
        ///
        /// # Safety
        /// libc's contract for this function.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name() {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!("jmp {0}", sym $target);
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!("b {0}", sym $target);
        }
    )*};
}

tail_jump!(
    execl => rampart_execl_impl,
    execlp => rampart_execlp_impl,
    execle => rampart_execle_impl,
);

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
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn(c_int, Argv, Argv) = init;
