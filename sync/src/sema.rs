//! `Semaphore`: a weighted semaphore with FIFO fairness, like
//! `golang.org/x/sync/semaphore.Weighted`.
//!
//! # Design
//! `size` units; `cur` of them are held. An `acquire(n)` gets its units at once only
//! if they are free **and nobody is queued** (a request never overtakes an earlier
//! one); otherwise it queues at the back with its weight and parks. `release(n)`
//! returns units and then grants requests from the front of the queue for as long as
//! the front one fits: a large request at the head blocks smaller ones behind it,
//! which is what keeps large requests from starving. Granted units are added to `cur`
//! by the releaser, on the waiter's behalf, before it is woken, so a woken waiter owns
//! its units already.
//!
//! x/sync's `Acquire` of more than `size` blocks until its context is done; there is no
//! context here, so it would block forever: `acquire` panics instead, naming both
//! numbers. `try_acquire` of more than `size` returns false (as x/sync).
//!
//! # Invariants
//! 1. `cur <= size`, and `cur` changes only with the queue lock held.
//! 2. Every queued request has weight `<= size`.
//! 3. After any `release`, the front request does not fit (`size - cur < weight`) or
//!    the queue is empty: no request waits while it could be granted.
//!
//! # Memory ordering
//! `cur` is read and written only under the queue lock (Relaxed atomics; the lock's
//! Acquire/Release orders them). Wake-ups are ordered by the park word (waitq.rs).
//!
//! # References
//! golang.org/x/sync/semaphore/semaphore.go.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use goro_runtime::park::WaitReason;

use crate::waitq::{WaitQueue, WakeList};

/// A weighted semaphore with FIFO fairness (Go's `x/sync/semaphore.Weighted`).
///
/// ```
/// use goro_sync::Semaphore;
/// let s = Semaphore::new(3);
/// s.acquire(2);
/// assert!(!s.try_acquire(2));
/// assert!(s.try_acquire(1));
/// s.release(3);
/// assert!(s.try_acquire(3));
/// ```
#[doc(alias = "semaphore.Weighted")]
#[doc(alias = "Weighted")]
pub struct Semaphore {
    /// Immutable: total units.
    size: usize,
    /// Units held (invariant 1). Protected by `queue`'s lock.
    cur: AtomicUsize,
    queue: WaitQueue,
}

impl Semaphore {
    /// A semaphore with `n` units, all free (Go's `semaphore.NewWeighted(n)`).
    #[doc(alias = "NewWeighted")]
    pub const fn new(n: usize) -> Self {
        Semaphore { size: n, cur: AtomicUsize::new(0), queue: WaitQueue::new() }
    }

    /// Takes `n` units, parking the goroutine (or thread) until they are free and every
    /// earlier request has been served (FIFO).
    ///
    /// # Panics
    /// If `n` exceeds the semaphore's size (such a request could never be granted).
    #[doc(alias = "Acquire")]
    pub fn acquire(&self, n: usize) {
        goro_runtime::coop::check();
        if n > self.size {
            panic!(
                "semaphore: acquire of {n} units exceeds the semaphore's size of {} (it would block forever)",
                self.size
            );
        }
        let mut q = self.queue.lock();
        let cur = self.cur.load(Ordering::Relaxed);
        if self.size - cur >= n && q.is_empty() {
            self.cur.store(cur + n, Ordering::Relaxed);
            return;
        }
        // Invariant 2 holds (checked above). Woken, we own the units: the releaser
        // added them to `cur` for us.
        q.park(false, n, WaitReason::Semacquire);
    }

    /// Takes `n` units if they are free and nobody is queued; never waits (Go's
    /// `TryAcquire`).
    #[doc(alias = "TryAcquire")]
    pub fn try_acquire(&self, n: usize) -> bool {
        let mut q = self.queue.lock();
        let cur = self.cur.load(Ordering::Relaxed);
        let ok = self.size - cur >= n && q.is_empty();
        if ok {
            self.cur.store(cur + n, Ordering::Relaxed);
        }
        ok
    }

    /// Returns `n` units and wakes the queued requests that now fit, in FIFO order,
    /// stopping at the first that does not (Go's `Release`).
    ///
    /// # Panics
    /// `semaphore: released more than held` if more units are released than held.
    #[doc(alias = "Release")]
    pub fn release(&self, n: usize) {
        let mut wake = WakeList::new();
        {
            let mut q = self.queue.lock();
            let cur = self.cur.load(Ordering::Relaxed);
            let Some(mut cur) = cur.checked_sub(n) else {
                drop(q);
                panic!("semaphore: released more than held");
            };
            // Invariant 3.
            while let Some(w) = q.front_weight() {
                if self.size - cur < w {
                    break;
                }
                cur += w;
                if let Some(w) = q.pop_front() {
                    wake.push(w);
                }
            }
            self.cur.store(cur, Ordering::Relaxed);
        }
        // `wake` drops here, outside the queue lock, and wakes everyone granted.
    }

    /// The total number of units.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Units free right now (a racy snapshot).
    pub fn available(&self) -> usize {
        let _q = self.queue.lock();
        self.size - self.cur.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("size", &self.size)
            .field("available", &self.available())
            .finish()
    }
}
