//! `Once`: Go's `sync.Once` (run a function exactly once; later and concurrent callers
//! wait for it to finish).
//!
//! # Design
//! Go's algorithm: an atomic `done` flag for the fast path, and a [`RawMutex`] that the
//! first caller holds while `f` runs, so concurrent callers park on it (goroutines park,
//! threads sleep) and find `done` set once they get in. `done` is set, and the mutex
//! released, by drop guards, so a panicking `f` still counts as done (Go: "if f panics,
//! Do considers it to have returned"): the panic propagates to the first caller, and
//! every later call returns without calling anything.
//!
//! # Invariants
//! 1. `done` goes from false to true once, with the mutex held, after `f` returned or
//!    unwound.
//! 2. `f` runs only with the mutex held and `done` false, so at most once.
//!
//! # Memory ordering
//! `done.store(true, Release)` after `f`; the fast path's `done.load(Acquire)` sees
//! everything `f` wrote. Slow-path callers are ordered by the mutex.
//!
//! # References
//! go/src/sync/once.go.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use goro_runtime::park::WaitReason;

use crate::mutex::RawMutex;

/// Runs a function exactly once (Go's `sync.Once`).
///
/// ```
/// use goro_sync::Once;
/// static INIT: Once = Once::new();
/// let mut n = 0;
/// INIT.call_once(|| n += 1);
/// INIT.call_once(|| n += 1);
/// assert_eq!(n, 1);
/// assert!(INIT.is_completed());
/// ```
#[doc(alias = "sync.Once")]
#[derive(Default)]
pub struct Once {
    /// Atomic: set (Release) after `f` finished, read (Acquire) by the fast path.
    done: AtomicBool,
    /// Held while `f` runs.
    m: RawMutex,
}

impl Once {
    /// A `Once` that has not run yet.
    pub const fn new() -> Self {
        Once { done: AtomicBool::new(false), m: RawMutex::new() }
    }

    /// Calls `f` if and only if this is the first call on this `Once` (Go's `Do`).
    ///
    /// Concurrent callers park until the first call's `f` has finished, so when
    /// `call_once` returns, `f` has run. If `f` panics, the panic propagates to its
    /// caller and the `Once` still counts as done: later calls do nothing. Calling
    /// `call_once` on the same `Once` from inside `f` deadlocks, as in Go.
    #[doc(alias = "Do")]
    #[inline]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if !self.done.load(Ordering::Acquire) {
            self.call_once_slow(f);
        }
    }

    #[cold]
    fn call_once_slow<F: FnOnce()>(&self, f: F) {
        struct Unlock<'a>(&'a RawMutex);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // SAFETY: constructed right after we locked the mutex below.
                unsafe { self.0.unlock() };
            }
        }
        struct SetDone<'a>(&'a AtomicBool);
        impl Drop for SetDone<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        self.m.lock(WaitReason::SyncOnce);
        let _unlock = Unlock(&self.m);
        if !self.done.load(Ordering::Relaxed) {
            // Invariant 1: set after `f`, even if it unwinds; before the unlock
            // (drop order: `_done` first).
            let _done = SetDone(&self.done);
            f();
        }
    }

    /// Whether a `call_once` has finished (returned or panicked).
    pub fn is_completed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").field("done", &self.is_completed()).finish_non_exhaustive()
    }
}
