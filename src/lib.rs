//! goro: Go's runtime model for Rust.
//!
//! Goroutines run on stackful coroutines with a hand-written assembly context switch,
//! on lazily committed stacks that start at one page. This crate only re-exports the
//! workspace crates (DESIGN.md §1):
//!
//! - [`coroutine`]: the context switch and stacks without the scheduler.

pub use goro_runtime::coroutine;
