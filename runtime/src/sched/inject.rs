//! The global run queue (Go's `sched.runq`): an intrusive FIFO of Gs under
//! `Sched::lock`.
//!
//! # Design
//! Goroutines land here when a local queue overflows (half of it moves at once), or
//! when they are made runnable where no P of their runtime is held (plain threads,
//! sysmon, another runtime). Ps look here every 61st schedule and when their local
//! queue is empty, taking a fair share (`len / procs + 1`, at most half a local queue)
//! into their local queue at once.
//! The queue shares `Sched::lock` with the idle lists on purpose: a push followed by
//! a read of `npidle` under the lock, and an M's "queue empty, so give the P back"
//! under the same lock, cannot miss each other (no lost wake-up).
//!
//! # Invariants
//! 1. `inject_n` is the length of the list `inject_head -> ... -> inject_tail`
//!    linked through `G::link`; `Sched::inject_len` mirrors it.

use std::ptr;
use std::sync::atomic::Ordering;

use super::g::G;
use super::p::P;
use super::runq::{Overflow, CAP};
use super::{Locked, Sched};

impl Sched {
    /// Appends a list of Gs. Must be called with `Sched::lock` held (`l`).
    fn inject_push_locked(&self, l: &mut Locked, gs: &[*mut G]) {
        for &g in gs {
            // SAFETY: `g` is a Runnable G record owned by the caller until it is
            // linked here, under the lock (invariant 1).
            unsafe { (*g).link.store(ptr::null_mut(), Ordering::Relaxed) };
            if l.inject_tail.is_null() {
                l.inject_head = g;
            } else {
                // SAFETY: the tail is a G record on this list, under the lock.
                unsafe { (*l.inject_tail).link.store(g, Ordering::Relaxed) };
            }
            l.inject_tail = g;
        }
        l.inject_n += gs.len();
        self.inject_len.store(l.inject_n, Ordering::SeqCst);
    }

    /// Takes the head G. Must be called with `Sched::lock` held (`l`).
    fn inject_pop_locked(&self, l: &mut Locked) -> Option<*mut G> {
        let g = l.inject_head;
        if g.is_null() {
            return None;
        }
        // SAFETY: the head is a G record on this list, under the lock.
        l.inject_head = unsafe { (*g).link.load(Ordering::Relaxed) };
        if l.inject_head.is_null() {
            l.inject_tail = ptr::null_mut();
        }
        l.inject_n -= 1;
        self.inject_len.store(l.inject_n, Ordering::SeqCst);
        Some(g)
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
        if l.inject_n == 0 {
            return None;
        }
        let mut n = (l.inject_n / self.procs + 1).min(l.inject_n).min(CAP / 2);
        if max > 0 {
            n = n.min(max);
        }
        let g = self.inject_pop_locked(l)?;
        for _ in 1..n {
            let Some(x) = self.inject_pop_locked(l) else { break };
            if let Some(o) = p.runq.push(x) {
                // Cannot happen with an empty-enough local queue; keep them anyway.
                self.inject_push_locked(l, &o.items[..o.len]);
            }
        }
        Some(g)
    }
}
