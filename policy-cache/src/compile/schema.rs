//! The YAML schema, as serde types. Unknown and duplicate keys are errors;
//! values that need checking keep their location (`Spanned`).

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::fmt;
use std::string::String;
use std::vec::Vec;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDoc {
    pub version: Option<Spanned<Scalar>>,
    pub default_action: Option<Spanned<String>>,
    #[serde(default)]
    pub policies: Vec<PolicyDoc>,
    #[serde(default)]
    pub tests: Vec<TestDoc>,
}

/// A string, or a number written without quotes (`version: 1`).
#[derive(Debug)]
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(std::format!("{v}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(std::format!("{v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(std::format!("{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyDoc {
    pub name: Spanned<String>,
    #[allow(dead_code)]
    pub description: Option<String>,
    pub priority: Option<i64>,
    pub enabled: Option<bool>,
    #[serde(rename = "match")]
    pub match_: Option<MatchDoc>,
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchDoc {
    pub agent: Option<Spanned<Patterns>>,
    pub session: Option<Spanned<Patterns>>,
    pub tool: Option<Spanned<Patterns>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDoc {
    pub action: Spanned<String>,
    pub when: Option<Spanned<WhenDoc>>,
    pub message: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhenDoc {
    pub command_matches: Option<Spanned<Patterns>>,
    pub command_not_matches: Option<Spanned<Patterns>>,
    pub command_contains: Option<Spanned<Patterns>>,
    pub command_env_assignments: Option<Spanned<Patterns>>,
    pub path_matches: Option<Spanned<Patterns>>,
    pub path_not_matches: Option<Spanned<Patterns>>,
    pub url_matches: Option<Spanned<Patterns>>,
    pub domain_matches: Option<Spanned<Patterns>>,
    pub session_matches: Option<Spanned<Patterns>>,
    pub session_not_matches: Option<Spanned<Patterns>>,
    pub tool_param_matches: Option<BTreeMap<String, Spanned<Patterns>>>,
    pub response_matches: Option<Spanned<Patterns>>,
    pub call_count: Option<Spanned<CallCount>>,
    pub default: Option<bool>,
}

/// `call_count` is checked by the daemon's API only; accepted as a number
/// or a small map (`{ max: 10, window: 1m }`).
#[derive(Deserialize, Debug)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum CallCount {
    Max(u64),
    Spec(BTreeMap<String, Scalar>),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestDoc {
    pub name: String,
    pub tool: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub expect: Spanned<String>,
}

/// One glob or a list of them, each with its location when it has one.
#[derive(Debug, Default)]
pub(crate) struct Patterns(pub Vec<(String, Option<Location>)>);

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Patterns;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Patterns, E> {
                Ok(Patterns(std::vec![(v.into(), None)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Patterns, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Spanned<String>>()? {
                    out.push((s.value, Some(s.referenced)));
                }
                Ok(Patterns(out))
            }
        }
        d.deserialize_any(V)
    }
}
