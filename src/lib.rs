//! goro: Go's runtime model for Rust.
//!
//! Goroutines run on stackful coroutines with a hand-written assembly context switch,
//! on lazily committed stacks that start at one page, scheduled by a G/M/P
//! work-stealing scheduler. This crate only re-exports the workspace crates
//! (DESIGN.md §1):
//!
//! - goroutines: [`run`], [`spawn`], [`go!`], [`Builder`], [`JoinHandle`],
//!   [`yield_now`], [`sleep`], [`Runtime`], [`stats()`], `#[goro::main]`;
//! - [`blocking`] and [`coop::check`]: blocking calls and safe points for hot loops
//!   (no goroutine can starve the others; DESIGN.md §5-6);
//! - [`park`]: the parking API that channels and locks are built on;
//! - [`coroutine`]: the context switch and stacks without the scheduler;
//! - [`chan`], [`select!`], [`time`]: channels, select, timer channels.
//!
//! ```
//! let h = goro::run(|| {
//!     let hs: Vec<_> = (0..10u64).map(|i| goro::spawn(move || i * i)).collect();
//!     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(h, 285);
//! ```

pub use goro_runtime::coroutine;
pub use goro_runtime::park;
pub use goro_runtime::{blocking, coop};
pub use goro_runtime::{
    current_id, dump, go, lock_os_thread, num_goroutine, procs, run, sleep, spawn, stats,
    unlock_os_thread, yield_now, Builder, JoinError, JoinHandle, ProcStats, Runtime,
    RuntimeBuilder, Stats,
};

/// `#[goro::main]`: runs the body of `fn main` as the main goroutine (via [`run`]).
pub use goro_macros::main;

/// Goroutine and coroutine stacks: sizes, guard mechanism, pool statistics.
pub mod stack {
    pub use goro_stack::{
        guard_mode, scavenge, stats, validate_stack_size, GuardMode, StackStats,
        DEFAULT_STACK_SIZE, GUARD_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE,
    };
}

/// Channels (Go's `chan`): [`chan::bounded`], [`chan::never`], [`chan::Sender`],
/// [`chan::Receiver`] and their error types; see also [`select!`].
pub mod chan {
    pub use goro_chan::{
        bounded, never, IntoIter, Iter, Receiver, RecvError, RecvTimeoutError, SendError,
        SendTimeoutError, Sender, TryIter, TryRecvError, TrySendError,
    };
}

/// Go's `sync` package: [`sync::Mutex`] (with starvation mode), [`sync::RwMutex`]
/// (writer preference), [`sync::WaitGroup`], [`sync::Once`], [`sync::Cond`] and the
/// weighted [`sync::Semaphore`]. All park goroutines, not threads, and work from plain
/// OS threads too.
pub mod sync {
    pub use goro_sync::{
        Cond, Mutex, MutexGuard, Once, RwMutex, RwMutexReadGuard, RwMutexWriteGuard, Semaphore,
        WaitGroup,
    };
}

pub use goro_sync::context;

/// `select!` over channel operations (Go's `select`), crossbeam-channel's arm syntax.
/// The macro names its helpers through goro-chan's `$crate`, which resolves from any
/// crate that depends on `goro` alone.
pub use goro_chan::select;

/// Time (Go's `time` package): [`time::sleep`], [`time::after`], [`time::tick`],
/// [`time::Timer`].
pub mod time {
    pub use goro_chan::time::{after, tick, Timer};
    pub use goro_runtime::time::sleep;
}
