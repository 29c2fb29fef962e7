//! The system calls the library makes on Linux, made through libc's
//! `syscall()` instead of one libc wrapper each.
//!
//! Why: the library is linked with full RELRO (`-z now`), so the loader
//! resolves every function it imports when it maps the library, in every
//! process, whether the process ever decides anything or not. Each import
//! is a symbol lookup through every object loaded (about 1,500
//! instructions). Routing the plain system calls through `syscall()`
//! takes 19 imports off that bill (valgrind --tool=callgrind on
//! `/bin/true`: see README's Performance section).
//!
//! Each function has the signature and the result convention of the libc
//! function it stands for (`-1` and `errno` on failure), so callers read
//! the same on Linux and macOS (where `sys` uses libc's own). Only the
//! `*at` forms and `ppoll` are used: they exist on every Linux
//! architecture (aarch64 has no `open`, `stat` or `poll`).

use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use libc::{SYS_close, SYS_read, SYS_write, size_t, ssize_t, syscall};

fn int(r: c_long) -> c_int {
    r as c_int
}

/// # Safety
/// As libc's `close`.
pub unsafe fn close(fd: c_int) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe { syscall(SYS_close, c_long::from(fd)) })
}

/// # Safety
/// As libc's `read`.
pub unsafe fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    // SAFETY: forwarded contract.
    unsafe { syscall(SYS_read, c_long::from(fd), buf, n) as ssize_t }
}

/// # Safety
/// As libc's `write`.
pub unsafe fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    // SAFETY: forwarded contract.
    unsafe { syscall(SYS_write, c_long::from(fd), buf, n) as ssize_t }
}

/// # Safety
/// As libc's `open` with a mode.
pub unsafe fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe {
        syscall(
            libc::SYS_openat,
            c_long::from(libc::AT_FDCWD),
            path,
            c_long::from(flags),
            c_long::from(mode),
        )
    })
}

/// # Safety
/// As libc's `stat`.
pub unsafe fn stat(path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: forwarded contract; the kernel's `struct stat` is libc's on
    // 64-bit Linux.
    int(unsafe {
        syscall(
            libc::SYS_newfstatat,
            c_long::from(libc::AT_FDCWD),
            path,
            st,
            0 as c_long,
        )
    })
}

/// # Safety
/// As libc's `fstat`.
pub unsafe fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: forwarded contract (an empty path with AT_EMPTY_PATH names
    // `fd` itself).
    int(unsafe {
        syscall(
            libc::SYS_newfstatat,
            c_long::from(fd),
            c"".as_ptr(),
            st,
            c_long::from(libc::AT_EMPTY_PATH),
        )
    })
}

/// # Safety
/// As libc's `access`.
pub unsafe fn access(path: *const c_char, mode: c_int) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe {
        syscall(
            libc::SYS_faccessat,
            c_long::from(libc::AT_FDCWD),
            path,
            c_long::from(mode),
        )
    })
}

/// # Safety
/// As libc's `mkdir`.
pub unsafe fn mkdir(path: *const c_char, mode: libc::mode_t) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe {
        syscall(
            libc::SYS_mkdirat,
            c_long::from(libc::AT_FDCWD),
            path,
            c_long::from(mode),
        )
    })
}

/// # Safety
/// As libc's `readlink`.
pub unsafe fn readlink(path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t {
    // SAFETY: forwarded contract.
    unsafe {
        syscall(
            libc::SYS_readlinkat,
            c_long::from(libc::AT_FDCWD),
            path,
            buf,
            n,
        ) as ssize_t
    }
}

/// # Safety
/// As libc's `mmap`.
pub unsafe fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: libc::off_t,
) -> *mut c_void {
    // SAFETY: forwarded contract. `syscall` returns -1 (MAP_FAILED) on
    // failure, as `mmap` does.
    unsafe {
        syscall(
            libc::SYS_mmap,
            addr,
            len,
            c_long::from(prot),
            c_long::from(flags),
            c_long::from(fd),
            off,
        ) as *mut c_void
    }
}

/// # Safety
/// As libc's `mprotect`.
pub unsafe fn mprotect(addr: *mut c_void, len: size_t, prot: c_int) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe { syscall(libc::SYS_mprotect, addr, len, c_long::from(prot)) })
}

/// # Safety
/// As libc's `munmap`.
pub unsafe fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe { syscall(libc::SYS_munmap, addr, len) })
}

/// As libc's `getcwd`: `buf` on success, NULL on failure (the system call
/// returns a length instead).
///
/// # Safety
/// `buf` is writable for `n` bytes.
pub unsafe fn getcwd(buf: *mut c_char, n: size_t) -> *mut c_char {
    // SAFETY: forwarded contract.
    let r = unsafe { syscall(libc::SYS_getcwd, buf, n) };
    if r < 0 { core::ptr::null_mut() } else { buf }
}

/// # Safety
/// None (libc's signature is `unsafe`).
pub unsafe fn getpid() -> libc::pid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { syscall(libc::SYS_getpid) as libc::pid_t }
}

/// # Safety
/// None.
pub unsafe fn getppid() -> libc::pid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { syscall(libc::SYS_getppid) as libc::pid_t }
}

/// # Safety
/// None.
pub unsafe fn getuid() -> libc::uid_t {
    // SAFETY: no arguments, cannot fail.
    unsafe { syscall(libc::SYS_getuid) as libc::uid_t }
}

/// # Safety
/// As libc's `socket`.
pub unsafe fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe {
        syscall(
            libc::SYS_socket,
            c_long::from(domain),
            c_long::from(ty),
            c_long::from(proto),
        )
    })
}

/// # Safety
/// As libc's `connect`.
pub unsafe fn connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    // SAFETY: forwarded contract.
    int(unsafe { syscall(libc::SYS_connect, c_long::from(fd), addr, c_long::from(len)) })
}

/// # Safety
/// As libc's `send`.
pub unsafe fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded contract; no destination address.
    unsafe {
        syscall(
            libc::SYS_sendto,
            c_long::from(fd),
            buf,
            n,
            c_long::from(flags),
            core::ptr::null::<c_void>(),
            0 as c_long,
        ) as ssize_t
    }
}

/// As libc's `getrlimit`, through `prlimit64` (on this process).
///
/// # Safety
/// `r` is a valid out-pointer.
pub unsafe fn getrlimit(resource: libc::__rlimit_resource_t, r: *mut libc::rlimit) -> c_int {
    // SAFETY: forwarded contract; no new limit is set.
    int(unsafe {
        syscall(
            libc::SYS_prlimit64,
            0 as c_long,
            c_long::from(resource),
            core::ptr::null::<libc::rlimit>(),
            r,
        )
    })
}

/// As libc's `poll`, through `ppoll` (a negative timeout waits forever).
///
/// # Safety
/// `fds` points to `n` valid `pollfd`s.
pub unsafe fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout_ms: c_int) -> c_int {
    let ts = libc::timespec {
        tv_sec: (timeout_ms / 1000) as libc::time_t,
        tv_nsec: ((timeout_ms % 1000) * 1_000_000) as libc::c_long,
    };
    let tsp: *const libc::timespec = if timeout_ms < 0 {
        core::ptr::null()
    } else {
        &ts
    };
    // SAFETY: forwarded contract; `ts` outlives the call; no signal mask.
    int(unsafe {
        syscall(
            libc::SYS_ppoll,
            fds,
            n,
            tsp,
            core::ptr::null::<c_void>(),
            0 as size_t,
        )
    })
}

#[cfg(test)]
// Each call below gets valid buffers and NUL-terminated paths it owns.
#[allow(clippy::undocumented_unsafe_blocks)]
mod tests {
    use super::*;

    #[test]
    fn each_call_matches_libc() {
        unsafe {
            assert_eq!(getpid(), libc::getpid());
            assert_eq!(getppid(), libc::getppid());
            assert_eq!(getuid(), libc::getuid());
            let mut a = [0u8; 512];
            let mut b = [0u8; 512];
            assert!(!getcwd(a.as_mut_ptr().cast(), a.len()).is_null());
            assert!(!libc::getcwd(b.as_mut_ptr().cast(), b.len()).is_null());
            assert_eq!(a, b);
            // Too small a buffer fails like libc (ERANGE), never overflows.
            assert!(getcwd(a.as_mut_ptr().cast(), 1).is_null());
            assert_eq!(*libc::__errno_location(), libc::ERANGE);

            let dir = std::env::temp_dir().join(format!("rampart-sc-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let cdir = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
            assert_eq!(mkdir(cdir.as_ptr(), 0o700), 0);
            assert_eq!(mkdir(cdir.as_ptr(), 0o700), -1);
            assert_eq!(*libc::__errno_location(), libc::EEXIST);
            let file = std::ffi::CString::new(format!("{}/f", dir.display())).unwrap();
            assert_eq!(access(file.as_ptr(), libc::F_OK), -1);
            assert_eq!(*libc::__errno_location(), libc::ENOENT);
            let fd = open(
                file.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                0o600,
            );
            assert!(fd >= 0);
            assert_eq!(write(fd, b"hello".as_ptr().cast(), 5), 5);
            let mut st: libc::stat = core::mem::zeroed();
            let mut st2: libc::stat = core::mem::zeroed();
            assert_eq!(fstat(fd, &mut st), 0);
            assert_eq!(libc::fstat(fd, &mut st2), 0);
            assert_eq!(
                (st.st_ino, st.st_size, st.st_mode),
                (st2.st_ino, 5, st2.st_mode)
            );
            assert_eq!(st.st_mode & 0o777, 0o600);
            assert_eq!(close(fd), 0);
            let mut st3: libc::stat = core::mem::zeroed();
            assert_eq!(stat(file.as_ptr(), &mut st3), 0);
            assert_eq!((st3.st_ino, st3.st_mtime), (st2.st_ino, st2.st_mtime));
            let fd = open(file.as_ptr(), libc::O_RDONLY, 0);
            let mut buf = [0u8; 16];
            assert_eq!(read(fd, buf.as_mut_ptr().cast(), buf.len()), 5);
            assert_eq!(&buf[..5], b"hello");
            close(fd);
            let link = std::ffi::CString::new(format!("{}/l", dir.display())).unwrap();
            std::os::unix::fs::symlink("f", dir.join("l")).unwrap();
            let mut t = [0u8; 16];
            assert_eq!(readlink(link.as_ptr(), t.as_mut_ptr().cast(), t.len()), 1);
            assert_eq!(t[0], b'f');

            let p = mmap(
                core::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            *(p as *mut u8) = 7;
            assert_eq!(mprotect(p, 8192, libc::PROT_READ), 0);
            assert_eq!(munmap(p, 8192), 0);
            let bad = mmap(
                core::ptr::null_mut(),
                0,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                -1,
                0,
            );
            assert_eq!(bad, libc::MAP_FAILED);

            // A socket nobody listens on: connect fails, poll times out.
            let s = socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(s >= 0);
            let mut addr: libc::sockaddr_un = core::mem::zeroed();
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (d, c) in addr.sun_path.iter_mut().zip(b"/nonexistent/rampart.sock") {
                *d = *c as c_char;
            }
            let len = core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            assert_eq!(connect(s, (&raw const addr).cast(), len), -1);
            assert_eq!(*libc::__errno_location(), libc::ENOENT);
            let mut fds = [0 as c_int; 2];
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let mut pfd = libc::pollfd {
                fd: fds[0],
                events: libc::POLLIN,
                revents: 0,
            };
            assert_eq!(poll(&mut pfd, 1, 10), 0);
            assert_eq!(write(fds[1], b"x".as_ptr().cast(), 1), 1);
            assert_eq!(poll(&mut pfd, 1, 1000), 1);
            assert_ne!(pfd.revents & libc::POLLIN, 0);
            // A socket whose peer is gone: EPIPE, no SIGPIPE (this test
            // process would die of it).
            let mut pair = [0 as c_int; 2];
            assert_eq!(
                libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()),
                0
            );
            close(pair[1]);
            assert_eq!(
                send(pair[0], b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL),
                -1
            );
            assert_eq!(*libc::__errno_location(), libc::EPIPE);
            close(pair[0]);
            let mut mine: libc::rlimit = core::mem::zeroed();
            let mut theirs: libc::rlimit = core::mem::zeroed();
            assert_eq!(getrlimit(libc::RLIMIT_FSIZE, &mut mine), 0);
            assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut theirs), 0);
            assert_eq!(
                (mine.rlim_cur, mine.rlim_max),
                (theirs.rlim_cur, theirs.rlim_max)
            );
            close(s);
            close(fds[0]);
            close(fds[1]);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
