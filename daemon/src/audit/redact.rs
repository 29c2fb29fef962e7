//! Secrets out before anything is persisted or streamed.
//!
//! Each rule is a regex with a replacement that keeps what the secret was
//! (the key name, the token's kind) and drops its value, so a log still
//! reads as what happened: `curl -H 'Authorization: Bearer [REDACTED]'`,
//! `mysql -u root -p[REDACTED]`, `ghp_[REDACTED]`.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::LazyLock;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

struct Rule {
    re: Regex,
    with: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let r = |re: &str, with: &'static str| Rule {
        re: Regex::new(re).expect("redaction rules compile"),
        with,
    };
    vec![
        // Private-key blocks, also cut off ones (a truncated command).
        r(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
            "-----BEGIN ${1}PRIVATE KEY-----[REDACTED]-----END ${1}PRIVATE KEY-----",
        ),
        // Authorization: Bearer/Basic <credential>.
        r(
            r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}",
            "${1}${2}[REDACTED]",
        ),
        // user:password@ in URLs.
        r(r"(://[^\s:/@]+):[^\s@/]+@", "${1}:[REDACTED]@"),
        // AWS access key ids.
        r(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "${1}[REDACTED]"),
        // GitHub tokens.
        r(
            r"\b(ghp_|gho_|ghs_|ghu_|ghr_|github_pat_)[A-Za-z0-9_]{10,}",
            "${1}[REDACTED]",
        ),
        // Slack tokens.
        r(r"\b(xox[abprs]-)[A-Za-z0-9-]{6,}", "${1}[REDACTED]"),
        // Rampart's own API token (`~/.rampart/token`).
        r(r"\b(rampart_)[0-9A-Fa-f]{64}\b", "${1}[REDACTED]"),
        // OpenAI/Anthropic-style API keys.
        r(r"\b(sk-)[A-Za-z0-9_-]{12,}", "${1}[REDACTED]"),
        // --password X, --password=X (and kin).
        r(
            r"(?i)(--(?:password|passwd|pass|token|secret|api-key|access-key))(=|\s+)('[^']*'|\x22[^\x22]*\x22|\S+)",
            "${1}${2}[REDACTED]",
        ),
        // password=X, PASSWORD: X, api_key=X, secret_token=X …
        r(
            r#"(?i)\b([A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_?key)[A-Za-z0-9_]*)(\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s&;,'"]+)"#,
            "${1}${2}[REDACTED]",
        ),
    ]
});

/// A mysql-family program and the rest of its shell segment.
static MYSQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s/;|&(])(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mariadb|mariadb-dump)\s[^;|&\n]*")
        .expect("redaction rules compile")
});
static DASH_P: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\s)-p(\S+)").expect("redaction rules compile"));

/// `text` with secrets replaced (borrowed when there were none).
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for rule in RULES.iter() {
        if rule.re.is_match(&out) {
            let replaced = rule.re.replace_all(&out, rule.with).into_owned();
            out = Cow::Owned(replaced);
        }
    }
    if out.contains("-p") && MYSQL.is_match(&out) {
        let replaced = MYSQL
            .replace_all(&out, |c: &Captures| {
                DASH_P.replace_all(&c[0], "${1}-p[REDACTED]").into_owned()
            })
            .into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

/// Every string in `value` (object values, array items; not keys)
/// redacted in place: for event payloads and approval requests, which
/// carry commands, paths, URLs and free text.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(r) = redact(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn rampart_tokens_are_redacted_everywhere_in_a_json_value() {
        let token = format!("rampart_{}", "ab12".repeat(16));
        assert_eq!(r(&format!("echo {token}")), "echo rampart_[REDACTED]");
        let mut v =
            serde_json::json!({"agent": token, "n": 1, "list": [{"cmd": format!("x {token}")}]});
        super::redact_json(&mut v);
        assert!(!v.to_string().contains(&token), "{v}");
        assert_eq!(v["n"], 1);
    }

    fn r(s: &str) -> String {
        redact(s).into_owned()
    }

    #[test]
    fn bearer_and_basic_credentials_are_redacted() {
        assert_eq!(
            r("curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1.abc' https://x"),
            "curl -H 'Authorization: Bearer [REDACTED]' https://x"
        );
        assert_eq!(
            r("Authorization: basic dXNlcjpwYXNz"),
            "Authorization: basic [REDACTED]"
        );
        assert_eq!(
            r("git clone https://me:hunter22@host/r"),
            "git clone https://me:[REDACTED]@host/r"
        );
    }

    #[test]
    fn aws_access_keys_are_redacted() {
        assert_eq!(
            r("export K=AKIAIOSFODNN7EXAMPLE"),
            "export K=AKIA[REDACTED]"
        );
        assert_eq!(r("ASIAY34FZKBOKMUTVV7A x"), "ASIA[REDACTED] x");
    }

    #[test]
    fn github_tokens_are_redacted() {
        for t in ["ghp_", "gho_", "ghs_", "github_pat_"] {
            let s = format!("gh auth {t}A1b2C3d4E5f6G7h8I9j0K1");
            assert_eq!(r(&s), format!("gh auth {t}[REDACTED]"));
        }
    }

    #[test]
    fn slack_tokens_are_redacted() {
        assert_eq!(r("xoxb-123456789012-abcdefABCDEF"), "xoxb-[REDACTED]");
        assert_eq!(r("t=xoxp-1-2-3-abcdef"), "t=xoxp-[REDACTED]");
    }

    #[test]
    fn sk_api_keys_are_redacted() {
        assert_eq!(
            r("OPENAI=sk-proj-abcdefghijklmnop1234"),
            "OPENAI=sk-[REDACTED]"
        );
        assert_eq!(r("mask-layer"), "mask-layer");
    }

    #[test]
    fn password_assignments_keep_their_key() {
        assert_eq!(r("db password=hunter2 x"), "db password=[REDACTED] x");
        assert_eq!(
            r("MYSQL_PASSWORD='a b' run"),
            "MYSQL_PASSWORD=[REDACTED] run"
        );
        assert_eq!(r("url?api_key=abc&x=1"), "url?api_key=[REDACTED]&x=1");
    }

    #[test]
    fn password_flags_are_redacted() {
        assert_eq!(
            r("tool --password hunter2 -v"),
            "tool --password [REDACTED] -v"
        );
        assert_eq!(
            r("tool --password=hunter2 -v"),
            "tool --password=[REDACTED] -v"
        );
    }

    #[test]
    fn mysql_style_dash_p_is_redacted_but_other_dash_p_is_not() {
        assert_eq!(
            r("/usr/bin/mysql -u root -phunter2 db"),
            "/usr/bin/mysql -u root -p[REDACTED] db"
        );
        assert_eq!(
            r("mysqldump -psecret db; mkdir -p x"),
            "mysqldump -p[REDACTED] db; mkdir -p x"
        );
        assert_eq!(r("ssh -p2222 host"), "ssh -p2222 host");
        assert_eq!(r("mkdir -p /tmp/a"), "mkdir -p /tmp/a");
    }

    #[test]
    fn private_key_blocks_are_redacted() {
        let s = "echo '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----' > k";
        assert_eq!(
            r(s),
            "echo '-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----' > k"
        );
        assert_eq!(
            r("x -----BEGIN PRIVATE KEY-----MIIE"),
            "x -----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----"
        );
    }

    #[test]
    fn ordinary_commands_are_untouched() {
        for s in [
            "ls -la /tmp",
            "cargo test -p daemon",
            "git log -p",
            "echo token",
        ] {
            assert!(matches!(redact(s), std::borrow::Cow::Borrowed(_)), "{s}");
        }
    }
}
