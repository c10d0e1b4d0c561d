//! A P's ownership word: who may touch the P, and how sysmon takes it away.
//!
//! # Design
//! `epoch << 2 | state` in one atomic (preempt.rs has the whole protocol). An M that
//! takes the P starts a new epoch in `RUNNING`; `blocking` moves it to `SYSCALL`;
//! sysmon takes a running hog's P through `REVOKING` and a blocking call's P directly,
//! both ending in `IDLE`. Every transition away from the owner is a CAS on the exact
//! word, so a stale observer (an old epoch, a changed state) always fails.
//!
//! # Invariants
//! 1. Only the owner of epoch `e` moves `e | RUNNING` to `e | SYSCALL`, takes back
//!    `e | REVOKING` or `e | SYSCALL` to `e | RUNNING`, and releases to `e | IDLE`.
//! 2. Only sysmon moves `e | RUNNING` to `e | REVOKING`, and `e | REVOKING` or
//!    `e | SYSCALL` to `e | IDLE`; after that the owner of `e` never touches the P.
//! 3. A new owner starts epoch `e + 1` from `IDLE` only (the P came off the idle
//!    list or was handed over).
//!
//! # Tests
//! A loom model (`tests/loom_own.rs`) runs an owner entering and leaving runtime
//! calls against sysmon revoking, with the owner-side fence variant, and checks that
//! the P's data is never touched by both.

use crate::loom::sync::atomic::{AtomicU64, Ordering};

pub(crate) const RUNNING: u64 = 0;
pub(crate) const SYSCALL: u64 = 1;
pub(crate) const REVOKING: u64 = 2;
pub(crate) const IDLE: u64 = 3;
/// Mask of the state bits.
pub(crate) const STATE: u64 = 3;

/// The ownership word of a P.
pub(crate) struct Own(AtomicU64);

impl Own {
    pub(crate) fn new() -> Own {
        Own(AtomicU64::new(IDLE))
    }

    /// The current word (for sysmon's watch and the owner's fast check).
    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.0.load(order)
    }

    /// A new owner takes the P (invariant 3); returns its epoch.
    pub(crate) fn acquire(&self) -> u64 {
        let e = (self.0.load(Ordering::Acquire) >> 2) + 1;
        self.0.store(e << 2 | RUNNING, Ordering::Release);
        e
    }

    /// The owner of epoch `e` gives the P up.
    pub(crate) fn release(&self, e: u64) {
        self.0.store(e << 2 | IDLE, Ordering::Release);
    }

    /// Owner of epoch `e`, entering the runtime (after clearing its `user` flag and
    /// the fence): whether it still holds the P. Takes back a `REVOKING` word.
    #[inline]
    pub(crate) fn check(&self, e: u64) -> bool {
        let w = self.0.load(Ordering::Acquire);
        w == (e << 2 | RUNNING) || self.reclaim(e, w)
    }

    #[cold]
    fn reclaim(&self, e: u64, w: u64) -> bool {
        if w != (e << 2 | REVOKING) {
            return false;
        }
        // Sysmon may cancel its revoke at the same time: then the word is ours again
        // either way.
        match self.0.compare_exchange(w, e << 2 | RUNNING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(cur) => cur == (e << 2 | RUNNING),
        }
    }

    /// Owner of epoch `e` enters `blocking`: `RUNNING` (or `REVOKING`) to `SYSCALL`.
    /// False: the P was taken meanwhile.
    pub(crate) fn enter_syscall(&self, e: u64) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if w != (e << 2 | RUNNING) && w != (e << 2 | REVOKING) {
                return false;
            }
            match self.0.compare_exchange(w, e << 2 | SYSCALL, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(cur) => w = cur,
            }
        }
    }

    /// Owner of epoch `e` leaves `blocking`: whether the P was still there.
    pub(crate) fn exit_syscall(&self, e: u64) -> bool {
        self.0
            .compare_exchange(
                e << 2 | SYSCALL,
                e << 2 | RUNNING,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Sysmon: starts revoking the word `w` (`e | RUNNING`).
    pub(crate) fn revoke_begin(&self, w: u64) -> bool {
        debug_assert_eq!(w & STATE, RUNNING);
        self.0.compare_exchange(w, w | REVOKING, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// Sysmon, after the barrier saw the owner in its own code: takes the P. False:
    /// the owner took the word back first.
    pub(crate) fn revoke_finish(&self, w: u64) -> bool {
        self.0
            .compare_exchange(
                w | REVOKING,
                (w >> 2) << 2 | IDLE,
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Sysmon: gives up revoking (the owner is inside a runtime call).
    pub(crate) fn revoke_cancel(&self, w: u64) {
        let _ = self.0.compare_exchange(w | REVOKING, w, Ordering::SeqCst, Ordering::Relaxed);
    }

    /// Sysmon: takes the P of an owner inside `blocking` (`w` is `e | SYSCALL`).
    pub(crate) fn retake_syscall(&self, w: u64) -> bool {
        debug_assert_eq!(w & STATE, SYSCALL);
        self.0
            .compare_exchange(w, (w >> 2) << 2 | IDLE, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }
}
