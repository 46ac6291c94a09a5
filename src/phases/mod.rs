//! The phases of `apply`, in order. Each checks the real state, returns the changes it
//! would make, and (in `apply`) makes exactly those.

pub mod preflight;

/// Phase names in `apply` order (the ones built so far).
pub const PHASES: &[&str] = &["preflight"];
