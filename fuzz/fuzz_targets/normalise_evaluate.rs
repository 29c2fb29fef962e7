//! Arbitrary bytes as a command: up to the first NUL a shell string, the
//! rest an argv (NUL-separated). Both are normalised and decided with the
//! built-in default policy.
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use policy_cache::compile::{builtin, compile};
use policy_cache::normalise::{Normalised, normalise_argv, normalise_shell, scratch_size};
use policy_cache::{Call, Command, Snapshot};

static BUILTIN: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let home = std::str::from_utf8(common::HOME).expect("ASCII");
    let set = builtin::standard(home).expect("the built-in policy loads");
    compile(&set, 1).expect("the built-in policy compiles")
});

fn check(n: &Normalised<'_>) {
    assert_eq!(n.segments().count(), n.segment_count());
    for u in n.segments().chain([n.raw()]) {
        assert!(!u.text.contains(&0), "NUL left in a segment");
        assert!(
            u.text.starts_with(u.prog),
            "program is not the start of the text"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let snap = Snapshot::from_bytes(&BUILTIN).expect("valid");
    let (shell, rest) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let argv: Vec<&[u8]> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|&c| c == 0).collect()
    };

    let mut scratch = vec![0u8; scratch_size(shell.len())];
    if let Ok(n) = normalise_shell(shell, common::HOME, &mut scratch) {
        check(&n);
    }
    let argv_len: usize = argv.iter().map(|a| a.len() + 1).sum();
    let mut scratch = vec![0u8; scratch_size(argv_len)];
    if let Ok(n) = normalise_argv(argv.as_slice(), common::HOME, &mut scratch) {
        check(&n);
    }

    common::decide(
        &snap,
        &Call::exec(Command::Shell(shell), common::HOME),
        true,
    );
    let argv_arr: &[&[u8]] = &argv;
    common::decide(
        &snap,
        &Call::exec(Command::Argv(&Words(argv_arr)), common::HOME),
        true,
    );
});

/// `Argv` for a borrowed slice of words.
struct Words<'a>(&'a [&'a [u8]]);

impl policy_cache::normalise::Argv for Words<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn arg(&self, i: usize) -> &[u8] {
        self.0.get(i).copied().unwrap_or(&[])
    }
}
