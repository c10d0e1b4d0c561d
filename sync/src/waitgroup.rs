//! `WaitGroup`: Go's `sync.WaitGroup` (wait for a set of goroutines to finish), with
//! Go's misuse panics.
//!
//! # Design
//! Go's algorithm (go/src/sync/waitgroup.go): one 64-bit state word and a semaphore.
//!
//! | bits    | name    | meaning                                                   |
//! |---------|---------|-----------------------------------------------------------|
//! | 63..=32 | counter | outstanding `add`s (signed 32 bits)                       |
//! | 31..=0  | waiters | goroutines parked in `wait` (or about to park)            |
//!
//! `wait` increments `waiters` by CAS only while `counter > 0`, then parks on `sema`.
//! The `add` that brings `counter` to 0 with waiters present resets the whole word to 0
//! and releases `sema` once per waiter. Each woken waiter checks that the word is still
//! 0: if not, somebody started reusing the group before all waiters returned
//! (`sync: WaitGroup is reused before previous Wait has returned`).
//!
//! Clones share one group (an `Arc`), so a `WaitGroup` can be moved into goroutines,
//! where Go passes a pointer. [`WaitGroup::go`] is Go 1.25's `wg.Go(f)`: `add(1)`, then a
//! goroutine that runs `f` and calls `done` even if `f` panics.
//!
//! # Invariants
//! 1. `waiters` changes only while `counter > 0` (their CAS checks it), and is reset to
//!    0 only together with `counter == 0`, by the `add` that wakes them.
//! 2. Every waiter counted in a reset gets exactly one `sema` unit.
//! 3. Misuse (a negative counter, `add` racing a `wait` that is being released) is
//!    reported by a panic with Go's text; the state after such a panic is unspecified,
//!    as in Go.
//!
//! # Memory ordering
//! All state operations are `SeqCst`, as in Go; `done`'s RMW releases everything its
//! goroutine did, and `wait` returns after an acquire of the reset (through `sema`) or a
//! load of `counter == 0`.
//!
//! # References
//! go/src/sync/waitgroup.go (Go 1.19; `Go` from Go 1.25).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use goro_runtime::park::WaitReason;

use crate::rtsema::Sema;

#[derive(Default)]
struct Inner {
    /// Atomic (SeqCst): counter (high 32 bits) and waiters (low 32 bits).
    state: AtomicU64,
    /// Where waiters park.
    sema: Sema,
}

/// Waits for a collection of goroutines to finish (Go's `sync.WaitGroup`).
///
/// `add` the number of goroutines to wait for, each calls `done` when it finishes, and
/// `wait` parks until the counter is back at zero. Cloning gives another handle to the
/// same group (Go passes `&wg`).
///
/// # Panics
/// With Go's messages: `sync: negative WaitGroup counter` when `done`/`add` take the
/// counter below zero; `sync: WaitGroup misuse: Add called concurrently with Wait` and
/// `sync: WaitGroup is reused before previous Wait has returned` where those races are
/// detected.
///
/// ```
/// let wg = goro_sync::WaitGroup::new();
/// let sum = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
/// for i in 0..10 {
///     let sum = sum.clone();
///     wg.go(move || {
///         sum.fetch_add(i, std::sync::atomic::Ordering::Relaxed);
///     });
/// }
/// wg.wait();
/// assert_eq!(sum.load(std::sync::atomic::Ordering::Relaxed), 45);
/// ```
#[doc(alias = "sync.WaitGroup")]
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

impl WaitGroup {
    /// A new group with counter 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `delta` (which may be negative) to the counter. When it reaches zero, every
    /// goroutine parked in [`wait`](Self::wait) is released.
    ///
    /// As in Go, calls with a positive delta that start while the counter is zero must
    /// happen before a `wait`: typically `add` before starting the goroutine.
    ///
    /// # Panics
    /// `sync: negative WaitGroup counter` if the counter goes below zero;
    /// `sync: WaitGroup misuse: Add called concurrently with Wait` when detected;
    /// `sync: WaitGroup delta out of range` if `delta` does not fit Go's 32-bit counter.
    #[doc(alias = "Add")]
    pub fn add(&self, delta: isize) {
        let Ok(d) = i32::try_from(delta) else {
            panic!("sync: WaitGroup delta out of range");
        };
        let inner = &*self.inner;
        let state = inner
            .state
            .fetch_add((i64::from(d) as u64) << 32, Ordering::SeqCst)
            .wrapping_add((i64::from(d) as u64) << 32);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if w != 0 && d > 0 && v == d {
            // The first increment of a new round raced a `wait` (invariant 1).
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter 0 with waiters: nobody may touch the state now (waiters only
        // increment while the counter is positive, and an `add` would be misuse).
        if inner.state.load(Ordering::SeqCst) != state {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        // Reset waiters to 0 and wake them (invariant 2).
        inner.state.store(0, Ordering::SeqCst);
        for _ in 0..w {
            inner.sema.release(false);
        }
    }

    /// Decrements the counter by one (`add(-1)`).
    ///
    /// # Panics
    /// `sync: negative WaitGroup counter` if the counter was already zero.
    #[doc(alias = "Done")]
    #[inline]
    pub fn done(&self) {
        self.add(-1);
    }

    /// Parks the goroutine (or thread) until the counter is zero; returns at once if
    /// it already is.
    ///
    /// # Panics
    /// `sync: WaitGroup is reused before previous Wait has returned` if another round
    /// started before this waiter had woken.
    #[doc(alias = "Wait")]
    pub fn wait(&self) {
        goro_runtime::coop::check();
        let inner = &*self.inner;
        let mut state = inner.state.load(Ordering::SeqCst);
        loop {
            if (state >> 32) as i32 == 0 {
                return;
            }
            match inner.state.compare_exchange(state, state + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    inner.sema.acquire(false, WaitReason::SyncWaitGroupWait);
                    if inner.state.load(Ordering::SeqCst) != 0 {
                        panic!("sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Err(cur) => state = cur,
            }
        }
    }

    /// Runs `f` in a new goroutine and tracks it: `add(1)` now, `done()` when `f`
    /// returns or panics (Go 1.25's `WaitGroup.Go`). A panic in `f` is reported like
    /// any goroutine panic and does not reach the waiter. The goroutine starts on the
    /// caller's runtime; from a plain OS thread, on the default runtime.
    #[doc(alias = "Go")]
    pub fn go<F: FnOnce() + Send + 'static>(&self, f: F) {
        struct Done(WaitGroup);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.done();
            }
        }
        self.add(1);
        let done = Done(self.clone());
        drop(goro_runtime::spawn(move || {
            let _done = done;
            f();
        }));
    }

    /// The current counter (a racy snapshot, for diagnostics).
    pub fn count(&self) -> isize {
        ((self.inner.state.load(Ordering::SeqCst) >> 32) as i32) as isize
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("counter", &((s >> 32) as i32))
            .field("waiters", &(s as u32))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn message(e: Box<dyn std::any::Any + Send>) -> String {
        e.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default()
    }

    #[test]
    fn add_while_waiters_are_being_released_is_misuse() {
        // Counter 0 with a waiter still counted: the state between the last `done`
        // and the reset. An `add(1)` that lands here is Go's misuse.
        let wg = WaitGroup::new();
        wg.inner.state.store(1, Ordering::SeqCst);
        let e = catch_unwind(AssertUnwindSafe(|| wg.add(1))).unwrap_err();
        assert_eq!(message(e), "sync: WaitGroup misuse: Add called concurrently with Wait");
    }

    #[test]
    fn reuse_before_wait_returned_is_detected() {
        // A waiter woken (a sema unit is there) finds a new round already started.
        let wg = WaitGroup::new();
        wg.inner.state.store(1 << 32, Ordering::SeqCst);
        wg.inner.sema.release(false);
        let e = catch_unwind(AssertUnwindSafe(|| wg.wait())).unwrap_err();
        assert_eq!(message(e), "sync: WaitGroup is reused before previous Wait has returned");
    }

    #[test]
    fn delta_out_of_range_panics() {
        let wg = WaitGroup::new();
        let e = catch_unwind(AssertUnwindSafe(|| wg.add(isize::MAX))).unwrap_err();
        assert_eq!(message(e), "sync: WaitGroup delta out of range");
    }
}
