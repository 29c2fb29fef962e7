//! The default policy, `policies/standard.yaml`, embedded at build time.

use super::{LoadError, PolicySet};
use std::path::PathBuf;

/// The default policy's YAML.
pub const STANDARD_YAML: &str = include_str!("../../../policies/standard.yaml");

/// Name the default policy is reported under.
pub const STANDARD_NAME: &str = "<built-in>/standard.yaml";

/// Load the embedded default policy, with `home` for `~` rewriting.
pub fn standard(home: &str) -> Result<PolicySet, LoadError> {
    PolicySet::from_sources(
        std::vec![(PathBuf::from(STANDARD_NAME), STANDARD_YAML.into())],
        home,
    )
}
