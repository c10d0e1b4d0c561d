//! goro: Go's runtime model for Rust.
//!
//! Goroutines run on stackful coroutines with a hand-written assembly context switch,
//! on lazily committed stacks that start at one page. This crate only re-exports the
//! workspace crates (DESIGN.md §1):
//!
//! - [`coroutine`]: the context switch and stacks without the scheduler;
//! - [`stack`]: stack sizes, guards and pool statistics.

pub use goro_runtime::coroutine;

/// Goroutine and coroutine stacks: sizes, guard mechanism, pool statistics.
pub mod stack {
    pub use goro_stack::{
        guard_mode, stats, validate_stack_size, GuardMode, StackStats, DEFAULT_STACK_SIZE,
        GUARD_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE,
    };
}
