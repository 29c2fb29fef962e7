//! The C shim's way back into Rust (`c/shim.c`): the variadic `execl`,
//! `execlp` and `execle` are written in C, collect their arguments into an
//! argv, and call the functions each platform's constructor installs here.

use core::ffi::{c_char, c_int};

type Argv = *const *const c_char;
/// Where `execl` and `execlp` land: `(path or file, argv)`.
pub type ExecvFn = unsafe extern "C" fn(*const c_char, Argv) -> c_int;
/// Where `execle` lands: `(path, argv, envp)`.
pub type ExecveFn = unsafe extern "C" fn(*const c_char, Argv, Argv) -> c_int;

unsafe extern "C" {
    static mut rampart_shim_execv: Option<ExecvFn>;
    static mut rampart_shim_execvp: Option<ExecvFn>;
    static mut rampart_shim_execve: Option<ExecveFn>;
}

/// Point the shim at the hook bodies.
///
/// # Safety
/// From the library constructor only (single-threaded, before any
/// `execl*` can be called).
pub unsafe fn install(execl: ExecvFn, execlp: ExecvFn, execle: ExecveFn) {
    // SAFETY: per the contract, no one reads these concurrently.
    unsafe {
        core::ptr::addr_of_mut!(rampart_shim_execv).write(Some(execl));
        core::ptr::addr_of_mut!(rampart_shim_execvp).write(Some(execlp));
        core::ptr::addr_of_mut!(rampart_shim_execve).write(Some(execle));
    }
}
