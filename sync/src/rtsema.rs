//! Go's runtime semaphore (`runtime_SemacquireMutex` / `runtime_Semrelease`): the
//! sleep/wake-up primitive under [`Mutex`](crate::Mutex), [`RwMutex`](crate::RwMutex)
//! and [`WaitGroup`](crate::WaitGroup).
//!
//! # Design
//! A count plus a FIFO queue of parked waiters. `acquire` takes a unit if one is there
//! (a CAS on `count`), else queues and parks; `release` adds a unit and wakes the first
//! waiter, which then competes for the unit (it may lose it to a goroutine that arrived
//! meanwhile, and queues again, at the front if `lifo`). With `handoff`, `release`
//! takes the unit itself on the waiter's behalf and hands it over as the wake-up's
//! ticket, so nobody can steal it: the mutex's starvation mode relies on that. After
//! a handoff to a goroutine, the releaser yields so the waiter runs at once
//! (Go's `semrelease1(handoff)` + `goyield`).
//!
//! Unlike Go, every semaphore has its own queue (Go hashes addresses into 251 shared
//! roots); there is no address to hash in Rust, and a queue is two pointers.
//!
//! # Invariants
//! 1. With the queue lock held, `nwait` equals the number of queued waiters (it is
//!    incremented and the waiter queued, or decremented again, in one critical section;
//!    a dequeue decrements it in the same critical section).
//! 2. A `release` that sees `nwait == 0` after adding its unit loses no waiter: a
//!    waiter increments `nwait` before its last look at `count` (invariant 3).
//! 3. `count` and `nwait` are accessed with `SeqCst`: the releaser's
//!    `count += 1; load nwait` and the acquirer's `nwait += 1; load count` form a
//!    store-buffering pair, and at least one side must see the other.
//!
//! # Memory ordering
//! See invariant 3. A unit taken by CAS on `count` (SeqCst) synchronizes with the
//! release that added it; a ticket synchronizes through the park word (waitq.rs).
//!
//! # References
//! go/src/runtime/sema.go (semacquire1, semrelease1, cansemacquire).

use std::sync::atomic::{AtomicU32, Ordering};

use goro_runtime::park::WaitReason;

use crate::waitq::WaitQueue;

/// Go's runtime semaphore.
#[derive(Debug, Default)]
pub(crate) struct Sema {
    /// Atomic (SeqCst, invariant 3): available units.
    count: AtomicU32,
    /// Atomic (SeqCst, invariant 3): queued waiters; changed only with the queue lock.
    nwait: AtomicU32,
    queue: WaitQueue,
}

impl Sema {
    pub(crate) const fn new() -> Self {
        Sema { count: AtomicU32::new(0), nwait: AtomicU32::new(0), queue: WaitQueue::new() }
    }

    /// Takes a unit if one is available (Go's `cansemacquire`).
    #[inline]
    fn try_acquire(&self) -> bool {
        let mut v = self.count.load(Ordering::SeqCst);
        loop {
            if v == 0 {
                return false;
            }
            match self.count.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(cur) => v = cur,
            }
        }
    }

    /// Takes a unit, parking until one is available. `lifo` queues at the front (a
    /// waiter that already waited once).
    #[doc(alias = "semacquire")]
    pub(crate) fn acquire(&self, lifo: bool, reason: WaitReason) {
        if self.try_acquire() {
            return;
        }
        loop {
            let q = self.queue.lock();
            // Invariant 2: announce ourselves before the last look at `count`.
            self.nwait.fetch_add(1, Ordering::SeqCst);
            if self.try_acquire() {
                self.nwait.fetch_sub(1, Ordering::SeqCst);
                drop(q);
                return;
            }
            let ticket = q.park(lifo, 0, reason);
            if ticket || self.try_acquire() {
                return;
            }
        }
    }

    /// Adds a unit and wakes the first waiter; with `handoff`, the unit goes straight
    /// to that waiter.
    #[doc(alias = "semrelease")]
    pub(crate) fn release(&self, handoff: bool) {
        self.count.fetch_add(1, Ordering::SeqCst);
        // Invariant 2.
        if self.nwait.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut q = self.queue.lock();
        if self.nwait.load(Ordering::SeqCst) == 0 {
            return;
        }
        let Some(w) = q.pop_front() else {
            // Invariant 1 says this cannot happen.
            goro_runtime::fatal::fatal("sync: semaphore waiter count out of step with its queue");
        };
        self.nwait.fetch_sub(1, Ordering::SeqCst);
        drop(q);
        let ticket = handoff && self.try_acquire();
        w.wake(ticket);
        // Let the waiter, now in our P's runnext slot, run right away. Not while
        // unwinding (a guard dropped by a panic): a yielded goroutine may resume on
        // another thread, and std counts panics per thread (DESIGN.md §12).
        if ticket && !std::thread::panicking() && goro_runtime::current_id().is_some() {
            goro_runtime::yield_now();
        }
    }

    /// Spins briefly for a unit where spinning can pay off (the mutex's spin rule),
    /// then acquires as [`acquire`](Self::acquire) does. For waits that are usually
    /// over in a few hundred nanoseconds: a reader leaving, a writer's short hold.
    pub(crate) fn acquire_spinning(&self, reason: WaitReason) {
        if crate::mutex::can_spin(0) {
            // As many pauses as the mutex's spin, but a look at `count` after each
            // (`try_acquire` only loads while it is 0): the unit usually comes within a
            // few hundred nanoseconds, a fraction of one of the mutex's 30-pause rounds.
            for _ in 0..crate::mutex::SPIN_PAUSES {
                std::hint::spin_loop();
                if self.try_acquire() {
                    return;
                }
            }
        }
        self.acquire(false, reason);
    }

    /// `(count, nwait)`, for tests: both 0 when nobody waits and no unit is pending.
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> (u32, u32) {
        (self.count.load(Ordering::SeqCst), self.nwait.load(Ordering::SeqCst))
    }
}
