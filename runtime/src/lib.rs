//! goro-runtime: the G/M/P scheduler, timers, the parking API and standalone
//! coroutines (DESIGN.md §4-7, §10-12).
//!
//! - [`sched`]: goroutines, `run`, `spawn`, the scheduler essay (`sched/mod.rs`).
//! - [`park`]: the parking API that chan and sync build on.
//! - [`timer`]: runtime timers (for `after`, `tick`, timeouts); [`time`]: `sleep`.
//! - [`coroutine`]: the context switch and stacks without the scheduler.

pub mod coroutine;
pub(crate) mod env;
pub mod fatal;
pub mod lock;
pub(crate) mod lockorder;
pub(crate) mod loom;
pub mod sched;
pub mod stats;
pub mod time;
pub mod timer;

pub use sched::park;
pub use sched::preempt::blocking;

/// Cooperative scheduling: a cheap safe point for long loops that make no other
/// runtime call (DESIGN.md §5).
pub mod coop {
    pub use crate::sched::preempt::check;
}
pub use sched::runtime::{run, Runtime, RuntimeBuilder};
pub use sched::spawn::{spawn, Builder, JoinError, JoinHandle};
pub use sched::{
    current_id, current_proc, lock_os_thread, num_goroutine, procs, unlock_os_thread, yield_now,
};
pub use stats::{dump, stats, ProcStats, Stats};
pub use time::sleep;

/// `go! { stmts }`: starts a goroutine running the statements (Go's `go` statement);
/// captures by move. Evaluates to the goroutine's [`JoinHandle`].
#[macro_export]
macro_rules! go {
    ($($body:tt)*) => {
        $crate::spawn(move || { $($body)* })
    };
}
