//! The std/loom facade: concurrency cores import their atomics from here, so the same
//! code runs under loom's model checker with `RUSTFLAGS="--cfg loom"`.
//!
//! # Design
//! Only the types the scheduler's lock-free cores use are re-exported. Code outside
//! those cores (M threads, timers, park slots) uses `std` directly: loom cannot model a
//! context switch or a real OS thread park, so it checks the queues alone.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::atomic;
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::atomic;
}
