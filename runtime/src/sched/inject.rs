//! The global run queue (Go's `sched.runq`): a FIFO of G pointers under
//! `Sched::lock`.
//!
//! # Design
//! Goroutines land here when a local queue overflows (half of it moves at once), or
//! when they are made runnable where no P of their runtime is held (plain threads,
//! sysmon, another runtime). Ps look here every 61st schedule and when their local
//! queue is empty, taking a fair share (`len / procs + 1`, at most half a local queue)
//! into their local queue at once.
//! The queue is a ring of pointers (`VecDeque`), not a list linked through the G
//! records: moving a share to a local queue then reads consecutive pointers instead
//! of one G record after the other, each a cache miss when the queue is long (the
//! spawner of a burst wrote them long ago or on another core), serialized under the
//! lock; the taker's run queue prefetches each G shortly before it runs instead
//! (`P::prefetch_next`). A burst's ring is given back once the queue drains.
//! Rejected: Go's intrusive list (at procs 1, a burst of 1M spawns spent 26% of its
//! time walking it).
//! The queue shares `Sched::lock` with the idle lists on purpose: a push followed by
//! a read of `npidle` under the lock, and an M's "queue empty, so give the P back"
//! under the same lock, cannot miss each other (no lost wake-up).
//!
//! # Invariants
//! 1. `Sched::inject_len` mirrors `Locked::inject.len()` (written under the lock).
//! 2. Each G is in the queue at most once, and then in no other run queue.

use std::sync::atomic::Ordering;

use super::g::G;
use super::p::P;
use super::runq::{Overflow, CAP};
use super::{Locked, Sched};

/// Ring capacity kept when the queue drains; a larger one (a burst) is given back.
const KEEP_CAPACITY: usize = 1024;

impl Sched {
    /// Appends Gs. Must be called with `Sched::lock` held (`l`).
    fn inject_push_locked(&self, l: &mut Locked, gs: &[*mut G]) {
        l.inject.extend(gs);
        self.inject_len.store(l.inject.len(), Ordering::SeqCst);
    }

    /// Pushes one G made runnable off-P, then wakes an M if a P is idle.
    pub(crate) fn inject_one(&'static self, g: *mut G) {
        let mut l = self.lock();
        self.inject_push_locked(&mut l, &[g]);
        let idle = !l.pidle.is_empty();
        drop(l);
        if idle {
            self.wakep();
        }
    }

    /// Moves a local queue's overflow here.
    pub(crate) fn inject_overflow(&'static self, o: Overflow<G>) {
        let mut l = self.lock();
        self.inject_push_locked(&mut l, &o.items[..o.len]);
    }

    /// Takes a fair share of the global queue for P `p`: returns one G and puts the
    /// rest on `p`'s local queue. `max` > 0 caps the share.
    pub(crate) fn inject_get(&'static self, p: &'static P, max: usize) -> Option<*mut G> {
        let mut l = self.lock();
        self.inject_get_locked(&mut l, p, max)
    }

    /// As `inject_get`. Must be called with `Sched::lock` held (`l`); the caller holds P `p`.
    pub(crate) fn inject_get_locked(
        &self,
        l: &mut Locked,
        p: &'static P,
        max: usize,
    ) -> Option<*mut G> {
        let len = l.inject.len();
        if len == 0 {
            return None;
        }
        let mut n = (len / self.procs + 1).min(len).min(CAP / 2);
        if max > 0 {
            n = n.min(max);
        }
        let g = l.inject.pop_front()?;
        for _ in 1..n {
            let Some(x) = l.inject.pop_front() else { break };
            if let Some(o) = p.runq.push(x) {
                // Cannot happen with an empty-enough local queue; keep them anyway.
                l.inject.extend(&o.items[..o.len]);
            }
        }
        if l.inject.is_empty() && l.inject.capacity() > KEEP_CAPACITY {
            l.inject.shrink_to(KEEP_CAPACITY);
        }
        self.inject_len.store(l.inject.len(), Ordering::SeqCst);
        Some(g)
    }
}
