//! The few libSystem functions the `libc` crate has no Linux declaration
//! for, declared here so that the macOS layer type-checks on Linux (under
//! `--cfg rampart_macos_check`) exactly as it compiles on macOS.

use core::ffi::{c_char, c_int};

unsafe extern "C" {
    /// `<crt_externs.h>`: the address of the process's `environ`. A
    /// dynamic library must use this instead of the `environ` symbol,
    /// which only the main executable has.
    pub fn _NSGetEnviron() -> *mut *mut *mut c_char;
    /// `<sys/errno.h>`: the calling thread's `errno`.
    pub fn __error() -> *mut c_int;
}
