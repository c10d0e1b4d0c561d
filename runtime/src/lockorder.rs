//! The runtime's own locks, acquired in one global order, checked in debug builds.
//!
//! # Design
//! The order (sched/mod.rs, "Lock order"): `Sched::lock` > `Sched::runs` > a P's
//! timer heap > a timer's action > the registries (every runtime, the runtime threads'
//! ids). A lock may be taken only while every lock held by the thread is *earlier* in
//! that order. In debug builds each acquisition
//! checks this against a per-thread list of held levels and stops the process with
//! `fatal error: lock order violation` (naming both locks) on the first violation,
//! long before two threads could deadlock on it. Release builds compile to the bare
//! `Mutex::lock`.
//!
//! None of these locks is held across a goroutine switch (checked in debug builds
//! by `schedule_from_g`), so the per-thread list is exact even though goroutines
//! move between threads. Channel and sync locks are outside this order: they are
//! always taken before any of these (a wake-up under a channel lock takes
//! `Sched::lock`).

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

/// A runtime lock's place in the order (smaller: taken first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Level {
    Sched = 1,
    Runs = 2,
    Timers = 3,
    TimerAction = 4,
    Registry = 5,
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Sched => "Sched::lock",
            Level::Runs => "Sched::runs",
            Level::Timers => "a P's timer heap",
            Level::TimerAction => "a timer's action",
            Level::Registry => "a runtime registry",
        }
    }
}

/// Whether `new` may be taken while `held` are held: `Err(conflicting)` otherwise.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub(crate) fn check_order(held: &[Level], new: Level) -> Result<(), Level> {
    match held.iter().copied().filter(|&h| h >= new).max() {
        Some(h) => Err(h),
        None => Ok(()),
    }
}

/// A guard of a runtime lock taken through [`lock`].
pub(crate) struct Guard<'a, T> {
    inner: MutexGuard<'a, T>,
    #[cfg(debug_assertions)]
    level: Level,
}

/// Locks `m`, a runtime lock at `level` (a poisoned lock is taken anyway: runtime
/// state stays consistent across a panic in user code, which never runs under it).
#[inline]
pub(crate) fn lock<T>(m: &Mutex<T>, level: Level) -> Guard<'_, T> {
    #[cfg(debug_assertions)]
    held::acquire(level);
    #[cfg(not(debug_assertions))]
    let _ = level;
    Guard {
        inner: m.lock().unwrap_or_else(|e| e.into_inner()),
        #[cfg(debug_assertions)]
        level,
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

#[cfg(debug_assertions)]
impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        held::release(self.level);
    }
}

/// Debug builds: asserts that the calling thread holds no runtime lock (before a
/// goroutine switch).
#[inline]
pub(crate) fn assert_none_held() {
    #[cfg(debug_assertions)]
    held::assert_none();
}

#[cfg(debug_assertions)]
mod held {
    use std::cell::RefCell;
    use std::sync::atomic::{compiler_fence, Ordering};

    use super::Level;

    thread_local! {
        static HELD: RefCell<Vec<Level>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs `f` on this thread's list. Never inlined, with compiler fences: no
    /// thread-local address is kept across a switch (DESIGN.md §12).
    /// During thread exit (after the list's destructor ran: a thread-local's
    /// destructor that takes a runtime lock) nothing is checked.
    #[inline(never)]
    fn with<R: Default>(f: impl FnOnce(&mut Vec<Level>) -> R) -> R {
        compiler_fence(Ordering::SeqCst);
        let r = HELD.try_with(|h| f(&mut h.borrow_mut())).unwrap_or_default();
        compiler_fence(Ordering::SeqCst);
        r
    }

    pub(super) fn acquire(level: Level) {
        let bad = with(|h| {
            let r = super::check_order(h, level);
            h.push(level);
            r.err()
        });
        if let Some(h) = bad {
            crate::fatal::write_stderr(b"runtime: lock order violation: acquiring ");
            crate::fatal::write_stderr(level.name().as_bytes());
            crate::fatal::write_stderr(b" while holding ");
            crate::fatal::write_stderr(h.name().as_bytes());
            crate::fatal::write_stderr(b"\n");
            crate::fatal!("lock order violation");
        }
    }

    pub(super) fn release(level: Level) {
        with(|h| {
            if let Some(i) = h.iter().rposition(|&l| l == level) {
                h.remove(i);
            }
        });
    }

    pub(super) fn assert_none() {
        if let Some(l) = with(|h| h.last().copied()) {
            crate::fatal::write_stderr(b"runtime: goroutine switch while holding ");
            crate::fatal::write_stderr(l.name().as_bytes());
            crate::fatal::write_stderr(b"\n");
            crate::fatal!("lock held across a switch");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_is_enforced() {
        assert_eq!(check_order(&[], Level::TimerAction), Ok(()));
        assert_eq!(check_order(&[Level::Sched, Level::Runs], Level::Timers), Ok(()));
        assert_eq!(check_order(&[Level::Timers], Level::Sched), Err(Level::Timers));
        assert_eq!(
            check_order(&[Level::Sched, Level::TimerAction], Level::Runs),
            Err(Level::TimerAction)
        );
        // The same lock twice (self-deadlock with std's Mutex) is a violation too.
        assert_eq!(check_order(&[Level::Runs], Level::Runs), Err(Level::Runs));
    }

    #[test]
    fn guards_release_their_level() {
        let a = Mutex::new(1);
        let b = Mutex::new(2);
        {
            let ga = lock(&a, Level::Sched);
            let gb = lock(&b, Level::TimerAction);
            assert_eq!(*ga + *gb, 3);
            drop(ga); // out of order: still fine
        }
        // Both released: taking them in the reverse order now is fine.
        let gb = lock(&b, Level::Runs);
        drop(gb);
        let _ga = lock(&a, Level::Sched);
    }
}
