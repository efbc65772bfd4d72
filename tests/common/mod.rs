//! Code shared by the root package's integration tests (each test file is its own crate and
//! uses only part of it, hence `dead_code` is allowed).

#![allow(dead_code)]

pub mod process;
pub mod resume;
