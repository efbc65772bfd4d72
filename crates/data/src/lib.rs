//! # hetal-data — feature packs
//!
//! Loading of features and labels (`.npy`, CSV) with checks that name the file and the problem.
//! Synchronous I/O only; nothing here knows about encryption.
