//! Thin wrappers over the libc calls the library makes. None of them is a
//! function the library hooks. Each wrapper turns `-1` into `None`/`false`,
//! so the rest of the code never sees a raw return code.

use core::ffi::{CStr, c_char, c_int};

/// The system calls: made directly on Linux (see [`crate::sc`]: fewer
/// imports for the loader to resolve in every process), through libc's
/// wrappers elsewhere.
#[cfg(target_os = "linux")]
pub(crate) use crate::sc as os;
#[cfg(not(target_os = "linux"))]
pub(crate) use libc as os;

/// A C string's bytes (without the NUL); empty for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn cstr<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

/// Set `errno`.
pub fn set_errno(e: c_int) {
    // SAFETY: errno is thread-local storage owned by libc; writing it is
    // what every libc function does.
    unsafe { *errno_location() = e };
}

/// The calling thread's `errno`: `__errno_location` on Linux, `__error`
/// on macOS (declared in `macos/`, as the `libc` crate has no Linux
/// declaration for it to type-check against).
fn errno_location() -> *mut c_int {
    #[cfg(target_os = "linux")]
    // SAFETY: no preconditions; returns this thread's errno.
    return unsafe { libc::__errno_location() };
    #[cfg(target_os = "macos")]
    return crate::macos::errno_location();
}

/// Read `errno`.
pub fn errno() -> c_int {
    // SAFETY: as in `set_errno`.
    unsafe { *errno_location() }
}

/// What identifies one published snapshot file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub size: i64,
    pub mtime: i64,
    pub mtime_ns: i64,
}

impl FileId {
    // The casts are no-ops on Linux; `stat`'s field types differ on macOS.
    #[allow(clippy::unnecessary_cast)]
    fn of(st: &libc::stat) -> FileId {
        FileId {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            size: st.st_size as i64,
            mtime: st.st_mtime as i64,
            mtime_ns: st.st_mtime_nsec as i64,
        }
    }
}

/// `stat(path)` → identity. `path` must be NUL-terminated.
pub fn stat_id(path: &[u8]) -> Option<FileId> {
    if path.last() != Some(&0) {
        return None;
    }
    // SAFETY: a zeroed `stat` is a valid out-parameter.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: path is NUL-terminated (checked), st is a valid out-pointer.
    let r = unsafe { os::stat(path.as_ptr().cast(), &mut st) };
    if r != 0 {
        return None;
    }
    Some(FileId::of(&st))
}

/// An owned file descriptor, closed on drop.
pub struct Fd(pub c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { os::close(self.0) };
    }
}

/// `open(path, flags, mode)`; `path` NUL-terminated.
pub fn open(path: &[u8], flags: c_int, mode: libc::mode_t) -> Option<Fd> {
    if path.last() != Some(&0) {
        return None;
    }
    // SAFETY: NUL-terminated path; open has no other preconditions.
    let fd = unsafe {
        os::open(
            path.as_ptr().cast(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    // Not `then_some`: that would build (and drop, closing -1) an Fd and
    // clobber errno.
    if fd >= 0 { Some(Fd(fd)) } else { None }
}

/// `fstat(fd)` → identity.
pub fn fstat_id(fd: &Fd) -> Option<FileId> {
    // SAFETY: a zeroed `stat` is a valid out-parameter.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: fd is open; st is a valid out-pointer.
    if unsafe { os::fstat(fd.0, &mut st) } != 0 {
        return None;
    }
    Some(FileId::of(&st))
}

/// Read until `buf` is full or end of file; returns bytes read.
pub fn read_full(fd: &Fd, buf: &mut [u8]) -> Option<usize> {
    let mut done = 0;
    while done < buf.len() {
        let rest = buf.get_mut(done..)?;
        // SAFETY: rest is a valid writable buffer of rest.len() bytes.
        let n = unsafe { os::read(fd.0, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return None;
        }
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    Some(done)
}

/// Call `one` on what is left of `b` until all of it is written: a short
/// write is continued, EINTR retried; a failure or a zero-length write ends
/// it. Whether all of `b` went.
fn all_of(b: &[u8], mut one: impl FnMut(&[u8]) -> isize) -> bool {
    let mut done = 0;
    while done < b.len() {
        let rest = b.get(done..).unwrap_or(&[]);
        let n = one(rest);
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        if n == 0 {
            return false;
        }
        done += n as usize;
    }
    true
}

/// Write all of `b` (retrying on short writes and EINTR).
pub fn write_all(fd: c_int, b: &[u8]) -> bool {
    // SAFETY: each slice is a valid readable buffer.
    all_of(b, |rest| unsafe {
        os::write(fd, rest.as_ptr().cast(), rest.len())
    })
}

/// One `write` of all of `b` (retried only on EINTR): whether all of it
/// was written.
pub fn write_once(fd: c_int, b: &[u8]) -> bool {
    loop {
        // SAFETY: b is a valid readable buffer.
        let n = unsafe { os::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        return n >= 0 && n as usize == b.len();
    }
}

/// Write all of `b` to the socket `fd` without ever raising SIGPIPE (a
/// daemon that went away must not kill the host): `MSG_NOSIGNAL` on Linux;
/// on macOS the socket was made `SO_NOSIGPIPE` when it was created.
pub fn send_all(fd: c_int, b: &[u8]) -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: each slice is a valid readable buffer.
    return all_of(b, |rest| unsafe {
        os::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL)
    });
    #[cfg(not(target_os = "linux"))]
    write_all(fd, b)
}

/// The file-size limit (`RLIMIT_FSIZE`, `ulimit -f`) in bytes, `None` when
/// there is none. Read at each use: a shell can lower it after load.
pub fn file_size_limit() -> Option<u64> {
    // SAFETY: zeroed rlimit is a valid out-parameter.
    let mut r: libc::rlimit = unsafe { core::mem::zeroed() };
    // SAFETY: valid resource and out-pointer.
    if unsafe { os::getrlimit(libc::RLIMIT_FSIZE, &mut r) } != 0 {
        return None;
    }
    // The casts are no-ops on Linux; rlim_t differs on macOS.
    #[allow(clippy::unnecessary_cast)]
    let (cur, infinite) = (r.rlim_cur as u64, libc::RLIM_INFINITY as u64);
    (cur != infinite).then_some(cur)
}

/// An anonymous private mapping, unmapped on drop unless leaked.
pub struct Anon {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Anon {
    /// Map `len` bytes of zeroed memory.
    pub fn new(len: usize) -> Option<Anon> {
        Self::map(len, 0)
    }

    /// Map `len` bytes with every page populated up front: one syscall
    /// instead of a page fault per page (which a VM makes expensive), for
    /// memory that is about to be filled anyway.
    pub fn populated(len: usize) -> Option<Anon> {
        #[cfg(target_os = "linux")]
        let flag = libc::MAP_POPULATE;
        #[cfg(not(target_os = "linux"))]
        let flag = 0;
        Self::map(len, flag)
    }

    fn map(len: usize, extra: libc::c_int) -> Option<Anon> {
        if len == 0 {
            return None;
        }
        // SAFETY: anonymous mapping with no address hint has no preconditions.
        let p = unsafe {
            os::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
                -1,
                0,
            )
        };
        (p != libc::MAP_FAILED).then_some(Anon { ptr: p.cast(), len })
    }
    /// The mapping as a mutable slice.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr/len describe a live read-write mapping we own.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    /// Make it read-only and keep it for the life of the process.
    pub fn freeze(self) -> &'static [u8] {
        // SAFETY: our own mapping; dropping write access is always allowed.
        unsafe { os::mprotect(self.ptr.cast(), self.len, libc::PROT_READ) };
        let (ptr, len) = (self.ptr, self.len);
        core::mem::forget(self);
        // SAFETY: the mapping is never unmapped (forgotten above) and never
        // written again, so a 'static shared slice is sound.
        unsafe { core::slice::from_raw_parts(ptr, len) }
    }
}

impl Drop for Anon {
    fn drop(&mut self) {
        // SAFETY: we own this mapping.
        unsafe { os::munmap(self.ptr.cast(), self.len) };
    }
}

/// Wall-clock time: (seconds, nanoseconds) since the epoch.
pub fn now() -> (i64, i64) {
    // SAFETY: zeroed timespec is a valid out-parameter.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as i64, ts.tv_nsec as i64)
}

/// Monotonic time in nanoseconds.
pub fn monotonic_ns() -> u64 {
    // SAFETY: as in `now`.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// The current directory into `buf` (empty when unavailable).
pub fn cwd(buf: &mut [u8]) -> &[u8] {
    // SAFETY: buf is writable for buf.len() bytes.
    let p = unsafe { os::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return &[];
    }
    let n = buf.iter().position(|&c| c == 0).unwrap_or(0);
    buf.get(..n).unwrap_or(&[])
}

/// (pid, ppid, uid).
pub fn ids() -> (i32, i32, u32) {
    // SAFETY: these calls cannot fail and have no preconditions.
    unsafe { (os::getpid(), os::getppid(), os::getuid()) }
}

/// The identity of the file at `path` (not NUL-terminated); `None` when
/// it cannot be read or the path is too long for the buffer.
pub fn id_of(path: &[u8]) -> Option<FileId> {
    let mut buf = [0u8; 1024];
    if path.is_empty() || path.len() >= buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(path) {
        *d = *s;
    }
    stat_id(buf.get(..=path.len())?)
}

/// Does `path` (not NUL-terminated) name nothing at all? Used so that
/// exec attempts on missing files (PATH searches) fail exactly as libc
/// says, without a record. A path too long for the buffer counts as
/// existing (it is decided and recorded as usual).
pub fn missing(path: &[u8]) -> bool {
    let mut buf = [0u8; 1024];
    if path.is_empty() || path.len() >= buf.len() {
        return false;
    }
    for (d, s) in buf.iter_mut().zip(path) {
        *d = *s;
    }
    // SAFETY: buf is NUL-terminated (zeroed, path shorter than buf).
    let r = unsafe { os::access(buf.as_ptr().cast(), libc::F_OK) };
    r != 0 && errno() == libc::ENOENT
}
