//! `Cond`: Go's `sync.Cond` over a goro [`Mutex`]: wait for a condition, signal one
//! waiter (the longest waiting), or broadcast to all.
//!
//! # Design
//! A FIFO [`WaitQueue`] (waitq.rs). `wait(guard)` links the caller at the back of the
//! queue *while still holding the mutex*, then releases the queue lock, unlocks the
//! mutex, and parks; woken, it locks the mutex again and returns the new guard. Because
//! the caller is queued (with its unparker taken) before the mutex is unlocked, a
//! `signal` that comes between the unlock and the park is not lost: it makes the park
//! return at once (Go gets the same from `notifyListAdd`'s ticket). `signal` unlinks
//! the first waiter, `broadcast` all of them, and wakes them after releasing the queue
//! lock. Neither needs the mutex held (as in Go), though holding it is the usual way to
//! avoid missed changes of the condition.
//!
//! A `Cond` binds to the first mutex it is used with (std's `Condvar` rule); waiting
//! with another mutex panics.
//!
//! # Invariants
//! 1. A waiter is in the queue from before it unlocks the mutex until a signal or
//!    broadcast unlinks it; each signal unlinks at most one waiter, the oldest.
//! 2. `mutex` is null or the address of the one mutex used with this `Cond`; it is
//!    only ever set once.
//!
//! # Memory ordering
//! The condition's data is ordered by the user's mutex; wake-ups by the queue lock and
//! the park word (waitq.rs). `mutex` is a CAS (AcqRel) / Acquire load.
//!
//! # References
//! go/src/sync/cond.go, go/src/runtime/sema.go (notifyList).

use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use goro_runtime::park::WaitReason;

use crate::mutex::{Mutex, MutexGuard, RawMutex};
use crate::waitq::WaitQueue;

/// A condition variable over a goro [`Mutex`] (Go's `sync.Cond`).
///
/// ```
/// use goro_sync::{Cond, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Cond::new()));
/// let p = pair.clone();
/// let t = std::thread::spawn(move || {
///     *p.0.lock() = true;
///     p.1.signal();
/// });
/// let (m, c) = &*pair;
/// let mut ready = m.lock();
/// while !*ready {
///     ready = c.wait(ready);
/// }
/// t.join().unwrap();
/// ```
#[doc(alias = "sync.Cond")]
#[derive(Default)]
pub struct Cond {
    queue: WaitQueue,
    /// Atomic: the bound mutex's `RawMutex` address (invariant 2).
    mutex: AtomicPtr<RawMutex>,
}

impl Cond {
    /// A new condition variable, not yet bound to a mutex.
    pub const fn new() -> Self {
        Cond { queue: WaitQueue::new(), mutex: AtomicPtr::new(ptr::null_mut()) }
    }

    fn bind(&self, raw: &RawMutex) {
        let p = ptr::from_ref(raw).cast_mut();
        if let Err(cur) =
            self.mutex.compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
        {
            if cur != p {
                panic!("sync: Cond used with two different mutexes");
            }
        }
    }

    /// Unlocks the guard's mutex, parks until signalled, then locks the mutex again and
    /// returns the new guard (Go's `c.Wait()` with `c.L` locked).
    ///
    /// Wake-ups are FIFO: [`signal`](Self::signal) wakes the goroutine that has waited
    /// longest. As in Go, the condition may have changed again by the time the mutex
    /// is re-acquired: wait in a loop (or use [`wait_while`](Self::wait_while)).
    ///
    /// # Panics
    /// If this `Cond` was used with a different mutex before.
    #[doc(alias = "Wait")]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex: &'a Mutex<T> = guard.mutex;
        self.bind(&mutex.raw);
        let q = self.queue.lock();
        // From here on the lock is ours to release, not the guard's.
        std::mem::forget(guard);
        q.park_then(WaitReason::SyncCondWait, || {
            // SAFETY: we owned the lock through the guard forgotten above.
            unsafe { mutex.raw.unlock() };
        });
        mutex.raw.lock(WaitReason::SyncMutexLock);
        // SAFETY: locked just above; no guard stands for this lock.
        unsafe { mutex.guard_for_locked() }
    }

    /// Waits while `condition` holds for the data: `while condition(&mut *g) { g =
    /// self.wait(g) }`.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Wakes the goroutine (or thread) that has waited longest, if any (Go's
    /// `Signal`).
    #[doc(alias = "Signal")]
    pub fn signal(&self) {
        let w = self.queue.lock().pop_front();
        // The guard is dropped: wake outside the queue lock.
        drop(w);
    }

    /// Wakes every waiting goroutine (or thread) (Go's `Broadcast`).
    #[doc(alias = "Broadcast")]
    pub fn broadcast(&self) {
        let all = self.queue.lock().take_all();
        drop(all);
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}
