//! Shared test data.

pub mod fixtures;
