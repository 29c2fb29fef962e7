//! Colour only on a terminal, and never with `NO_COLOR`.

use policy_cache::Action;
use std::io::IsTerminal;

pub fn enabled(stderr: bool) -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    }
}

pub fn paint(s: &str, code: &str) -> String {
    if enabled(false) {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

pub fn action(a: Action) -> String {
    let label = a.as_str().to_ascii_uppercase();
    let code = match a {
        Action::Allow => "32",
        Action::Watch => "36",
        Action::Ask => "33",
        Action::Deny => "1;31",
    };
    paint(&label, code)
}

pub fn dim(s: &str) -> String {
    paint(s, "2")
}
