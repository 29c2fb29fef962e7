//! A Rust program the end-to-end tests run under the library: it starts
//! processes every way libc offers (std::process::Command, execl*, execve
//! with a hand-built environment, fexecve, system, popen, threads).
//!
//! Usage: `rampart-spawner MODE ARGS…`; exit status 0 when what it started
//! ran and succeeded, otherwise the failure with its errno on stderr.

use std::ffi::{CString, c_char};
use std::process::{Command, ExitCode};

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

fn errno_exit(what: &str) -> ExitCode {
    let e = std::io::Error::last_os_error();
    eprintln!("{what}: {e} (errno {})", e.raw_os_error().unwrap_or(0));
    ExitCode::from(100 + e.raw_os_error().unwrap_or(0).clamp(0, 100) as u8)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, rest)) = args.split_first() else {
        eprintln!("usage: rampart-spawner MODE ARGS…");
        return ExitCode::from(2);
    };
    match mode.as_str() {
        // std::process::Command (posix_spawn or fork+exec, as std decides).
        "command" => match Command::new(&rest[0]).args(&rest[1..]).status() {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            Ok(s) => {
                eprintln!("exit: {s}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("spawn: {e} (errno {})", e.raw_os_error().unwrap_or(0));
                ExitCode::from(100 + e.raw_os_error().unwrap_or(0).clamp(0, 100) as u8)
            }
        },
        // THREADS × EACH spawns of PROGRAM at once.
        "threads" => {
            let threads: usize = rest[0].parse().expect("threads");
            let each: usize = rest[1].parse().expect("each");
            let program = rest[2].clone();
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let p = program.clone();
                    std::thread::spawn(move || {
                        (0..each)
                            .filter(|_| Command::new(&p).status().is_ok_and(|s| s.success()))
                            .count()
                    })
                })
                .collect();
            let ok: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
            println!("{ok}");
            if ok == threads * each {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        // execve(PATH, [PATH, ARGS…], {"PATH=/usr/bin:/bin"}): an environment
        // built by hand, without the library's variables.
        "execve-bare" => {
            let argv_c: Vec<CString> = rest.iter().map(|a| c(a)).collect();
            let mut argv: Vec<*const c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            let env_c = [
                c("PATH=/usr/bin:/bin"),
                c("RAMPART_MODE=disabled"),
                c("LD_PRELOAD="),
            ];
            let envp = [
                env_c[0].as_ptr(),
                env_c[1].as_ptr(),
                env_c[2].as_ptr(),
                std::ptr::null(),
            ];
            // SAFETY: NULL-terminated arrays of C strings.
            unsafe { libc::execve(argv[0], argv.as_ptr(), envp.as_ptr()) };
            errno_exit("execve")
        }
        // execve with N extra environment entries.
        "big-env" => {
            let n: usize = rest[0].parse().expect("n");
            let env_c: Vec<CString> = (0..n).map(|i| c(&format!("V{i}=x"))).collect();
            let mut envp: Vec<*const c_char> = env_c.iter().map(|e| e.as_ptr()).collect();
            envp.push(std::ptr::null());
            let argv_c: Vec<CString> = rest[1..].iter().map(|a| c(a)).collect();
            let mut argv: Vec<*const c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            // SAFETY: as above.
            unsafe { libc::execve(argv[0], argv.as_ptr(), envp.as_ptr()) };
            errno_exit("execve")
        }
        // execve(PATH, NULL, NULL).
        "null-argv" => {
            let p = c(&rest[0]);
            // SAFETY: NULL argv and envp are accepted by Linux.
            unsafe { libc::execve(p.as_ptr(), std::ptr::null(), std::ptr::null()) };
            errno_exit("execve")
        }
        "execl" | "execlp" | "execle" => {
            let p = c(&rest[0]);
            let a1 = c(&rest[1]);
            let a2 = c(rest.get(2).map_or("", String::as_str));
            let null: *const c_char = std::ptr::null();
            let env_c = c("PATH=/usr/bin:/bin");
            let envp = [env_c.as_ptr(), std::ptr::null()];
            // SAFETY: NULL-terminated variadic argument lists.
            unsafe {
                match mode.as_str() {
                    "execl" => libc::execl(p.as_ptr(), p.as_ptr(), a1.as_ptr(), a2.as_ptr(), null),
                    "execlp" => {
                        libc::execlp(p.as_ptr(), p.as_ptr(), a1.as_ptr(), a2.as_ptr(), null)
                    }
                    _ => libc::execle(
                        p.as_ptr(),
                        p.as_ptr(),
                        a1.as_ptr(),
                        a2.as_ptr(),
                        null,
                        envp.as_ptr(),
                    ),
                }
            };
            errno_exit(mode)
        }
        "fexecve" => {
            let p = c(&rest[0]);
            // SAFETY: valid path; the descriptor is handed to fexecve.
            let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return errno_exit("open");
            }
            let argv_c: Vec<CString> = rest.iter().map(|a| c(a)).collect();
            let mut argv: Vec<*const c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            let env_c = c("PATH=/usr/bin:/bin");
            let envp = [env_c.as_ptr(), std::ptr::null()];
            // SAFETY: open descriptor and NULL-terminated arrays.
            unsafe { libc::fexecve(fd, argv.as_ptr(), envp.as_ptr()) };
            errno_exit("fexecve")
        }
        "system" => {
            let cmd = c(&rest[0]);
            // SAFETY: a C string.
            let st = unsafe { libc::system(cmd.as_ptr()) };
            println!("status={st} exit={}", libc::WEXITSTATUS(st));
            if st == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(libc::WEXITSTATUS(st).clamp(1, 255) as u8)
            }
        }
        "popen" => {
            let cmd = c(&rest[0]);
            // SAFETY: C strings.
            let f = unsafe { libc::popen(cmd.as_ptr(), c"r".as_ptr()) };
            if f.is_null() {
                return errno_exit("popen");
            }
            // SAFETY: a stream popen returned.
            let st = unsafe { libc::pclose(f) };
            if st == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        other => {
            eprintln!("unknown mode {other}");
            ExitCode::from(2)
        }
    }
}
