//! Rampart's compiled policy, end to end.
//!
//! - [`snapshot`]: the file the daemon publishes and every process maps —
//!   validated once, read in place, no allocation.
//! - [`normalise`]: argv or shell string → segments of words.
//! - [`glob`]: command and path globs over pre-tokenised patterns.
//! - [`eval`]: `evaluate(snapshot, call) -> Decision`, the one evaluator the
//!   library, the daemon and the CLI share.
//! - `compile` (feature `compile`, std): YAML policies → snapshot bytes.
//!
//! Everything but `compile` is `no_std`, allocation-free and panic-free, so
//! it can run inside an exec hook (see ARCHITECTURE.md, "The library's hot
//! path").
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(feature = "compile", test))]
extern crate alloc;
#[cfg(any(feature = "compile", test))]
extern crate std;

mod bytes;
#[cfg(feature = "compile")]
pub mod compile;
pub mod crc32;
pub mod eval;
pub mod glob;
pub mod normalise;
pub mod snapshot;

pub use eval::{Call, Command, Decision, Reason, evaluate, explain, scratch_needed};
pub use snapshot::{Action, Snapshot, SnapshotError};
