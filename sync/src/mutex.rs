//! `Mutex<T>`: Go's `sync.Mutex` (spin, then park; normal and starvation modes)
//! wrapped around the data it protects, with an RAII guard.
//!
//! # Design
//! [`RawMutex`] is Go's algorithm (go/src/sync/mutex.go) over one atomic state word:
//!
//! | bits   | name       | meaning                                                      |
//! |--------|------------|--------------------------------------------------------------|
//! | 0      | `LOCKED`   | the mutex is held                                            |
//! | 1      | `WOKEN`    | a locker is awake (spinning, or woken by `unlock`) and will  |
//! |        |            | retry: `unlock` need not wake anybody                        |
//! | 2      | `STARVING` | starvation mode: `unlock` hands ownership to the first waiter|
//! | 3..=31 | waiters    | lockers parked (or about to park) on `sema`                  |
//!
//! **Normal mode.** Waiters queue FIFO, but a woken waiter does not own the mutex: it
//! competes with lockers that are running right now, and those usually win (they are on
//! a CPU already). A waiter that loses queues again at the *front*. This gives the
//! best throughput. **Starvation mode** starts when a waiter has waited more than 1 ms:
//! `unlock` then hands the mutex straight to the first waiter (it never sets `LOCKED`
//! in between: the waiter finds `STARVING` and takes over), newcomers neither spin nor
//! barge but queue at the back. The mode ends when a waiter that got the mutex waited
//! less than 1 ms, or was the last waiter.
//!
//! A locker spins briefly (4 rounds of 30 pauses, Go's `active_spin`) while the mutex is
//! locked in normal mode, but only where spinning can help: more than one CPU, and on a
//! goroutine only if the runtime runs more than one P (with one P the holder cannot run
//! while we spin). A spinner sets `WOKEN` so that `unlock` does not wake a waiter that
//! would only compete with it. Plain OS threads use the same code; their park is a
//! futex sleep.
//!
//! Go's `sync: unlock of unlocked mutex` cannot happen here: only a [`MutexGuard`]
//! unlocks, and a guard exists only while the lock is held. There is no poisoning
//! (Go has none): a panic while the guard is alive unlocks the mutex during unwinding.
//!
//! # Invariants
//! 1. `LOCKED` is set only by the locker that owns the mutex (CAS from an unlocked
//!    state, or the starvation handoff's `fetch_add`), and cleared only by `unlock`.
//! 2. In starvation mode `unlock` leaves `LOCKED` clear and hands one `sema` unit to the
//!    first waiter; that waiter alone sets `LOCKED` again (and decrements the waiter
//!    count in the same `fetch_add`). Nobody else acquires in starvation mode.
//! 3. The waiter count is incremented by a locker before it parks on `sema` and
//!    decremented by whoever wakes it (normal mode `unlock`) or by the woken waiter
//!    itself (starvation handoff), so it never underflows.
//! 4. At most one `WOKEN` locker exists; only it clears the bit.
//!
//! # Memory ordering
//! Acquiring CASes (and the handoff `fetch_add`) are `Acquire` or stronger, `unlock`'s
//! `fetch_sub` is `Release`: the data written under the lock happens-before the next
//! owner's reads. In a starvation handoff the `fetch_add` continues the release
//! sequence of the unlocker's `fetch_sub`, so it synchronizes with it. The waiter
//! count and sleep/wake-up are ordered by `sema` (rtsema.rs, `SeqCst`).
//!
//! # References
//! go/src/sync/mutex.go (Go 1.19), go/src/runtime/proc.go (sync_runtime_canSpin).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro_runtime::fatal::fatal;
use goro_runtime::park::WaitReason;

use crate::rtsema::Sema;

const LOCKED: u32 = 1;
const WOKEN: u32 = 1 << 1;
const STARVING: u32 = 1 << 2;
const WAITER_SHIFT: u32 = 3;
const WAITER: u32 = 1 << WAITER_SHIFT;

/// A waiter that waited longer than this switches the mutex to starvation mode.
const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);
/// Spin rounds before parking (Go's `active_spin`).
const ACTIVE_SPIN: u32 = 4;
/// Pause instructions per spin round (Go's `active_spin_cnt`).
const ACTIVE_SPIN_CNT: u32 = 30;
/// Pause instructions in a whole spin.
pub(crate) const SPIN_PAUSES: u32 = ACTIVE_SPIN * ACTIVE_SPIN_CNT;

/// Cached number of CPUs (0: not looked up yet).
static NCPU: AtomicUsize = AtomicUsize::new(0);

fn ncpu() -> usize {
    let n = NCPU.load(Ordering::Relaxed);
    if n != 0 {
        return n;
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    NCPU.store(n, Ordering::Relaxed);
    n
}

/// Whether spinning round `iter` can pay off (Go's `sync_runtime_canSpin`).
///
/// Go also requires an idle-free P set and an empty local run queue; the runtime does
/// not expose those, so this checks CPUs and Ps only.
pub(crate) fn can_spin(iter: u32) -> bool {
    if iter >= ACTIVE_SPIN || ncpu() <= 1 {
        return false;
    }
    // On a plain thread the holder runs on its own thread: spinning is fine. On a
    // goroutine, with one P the holder cannot run while we spin. (Ask `procs` only on
    // a goroutine: on a plain thread it would start the default runtime.)
    goro_runtime::current_id().is_none() || goro_runtime::procs() > 1
}

#[inline]
fn do_spin() {
    for _ in 0..ACTIVE_SPIN_CNT {
        std::hint::spin_loop();
    }
}

/// Go's `sync.Mutex` without data: the lock that [`Mutex`], [`RwMutex`](crate::RwMutex),
/// [`Once`](crate::Once) and [`Cond`](crate::Cond) are built on.
#[derive(Default)]
pub(crate) struct RawMutex {
    /// Atomic: the state word (see the bit table in the module docs).
    state: AtomicU32,
    /// Where waiters park.
    sema: Sema,
}

impl fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("RawMutex")
            .field("locked", &(s & LOCKED != 0))
            .field("starving", &(s & STARVING != 0))
            .field("waiters", &(s >> WAITER_SHIFT))
            .finish()
    }
}

impl RawMutex {
    pub(crate) const fn new() -> Self {
        RawMutex { state: AtomicU32::new(0), sema: Sema::new() }
    }

    /// Locks, parking with `reason` if needed.
    #[inline]
    pub(crate) fn lock(&self, reason: WaitReason) {
        if self.state.compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow(reason);
        }
    }

    /// Locks if that is possible without waiting (Go's `TryLock`: fails in starvation
    /// mode, where the mutex belongs to the first waiter).
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        if old & (LOCKED | STARVING) != 0 {
            return false;
        }
        self.state.compare_exchange(old, old | LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Whether the mutex is held by somebody (a racy snapshot, for tests).
    #[cfg(test)]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, reason: WaitReason) {
        // The safe point of a contended lock (DESIGN.md §5). The uncontended fast path
        // has none, as in Go, where `Lock`'s fast path is inlined into its caller.
        goro_runtime::coop::check();
        let mut wait_start: Option<Instant> = None;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin only in normal mode while locked: in starvation mode the mutex goes
            // to the first waiter, so spinning cannot get it.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(iter) {
                // Tell `unlock` not to wake a waiter while we are spinning (invariant 4).
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                do_spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Never barge into a starving mutex: it belongs to the first waiter.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new += WAITER;
            }
            // Switch to starvation mode, but only if the mutex is still locked (an
            // unlocked mutex with STARVING set would have no owner to hand it over).
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                if new & WOKEN == 0 {
                    fatal("sync: inconsistent mutex state");
                }
                new &= !WOKEN;
            }
            match self.state.compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if old & (LOCKED | STARVING) == 0 {
                        // Locked by this CAS.
                        return;
                    }
                    // A waiter that waited before queues at the front.
                    let lifo = wait_start.is_some();
                    let start = *wait_start.get_or_insert_with(Instant::now);
                    self.sema.acquire(lifo, reason);
                    starving = starving || start.elapsed() > STARVATION_THRESHOLD;
                    old = self.state.load(Ordering::Acquire);
                    if old & STARVING != 0 {
                        // Invariant 2: the mutex was handed to us; it is unlocked, we
                        // are counted as a waiter, and nobody is WOKEN.
                        if old & (LOCKED | WOKEN) != 0 || old >> WAITER_SHIFT == 0 {
                            fatal("sync: inconsistent mutex state");
                        }
                        let mut delta = LOCKED.wrapping_sub(WAITER);
                        if !starving || old >> WAITER_SHIFT == 1 {
                            // Leave starvation mode: we waited briefly, or we were the
                            // last waiter (staying starving would then make the next
                            // lockers queue for nothing).
                            delta = delta.wrapping_sub(STARVING);
                        }
                        self.state.fetch_add(delta, Ordering::AcqRel);
                        return;
                    }
                    // Normal mode: the unlocker set WOKEN for us; compete again.
                    awoke = true;
                    iter = 0;
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// Unlocks.
    ///
    /// # Safety
    /// The mutex is locked, and the caller owns that lock (holds the guard that
    /// stands for it and gives it up here).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        let new = self.state.fetch_sub(LOCKED, Ordering::Release).wrapping_sub(LOCKED);
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, new: u32) {
        if new.wrapping_add(LOCKED) & LOCKED == 0 {
            fatal("sync: unlock of unlocked mutex");
        }
        if new & STARVING == 0 {
            let mut old = new;
            loop {
                // Nobody to wake, or somebody is already awake / got the lock / the
                // mutex went starving (then the handoff is someone else's job).
                if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                    return;
                }
                let new = (old - WAITER) | WOKEN;
                match self.state.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => {
                        self.sema.release(false);
                        return;
                    }
                    Err(cur) => old = cur,
                }
            }
        } else {
            // Starvation mode: hand the mutex to the first waiter (invariant 2). WOKEN
            // stays clear, and newcomers do not barge while STARVING is set.
            self.sema.release(true);
        }
    }

    /// A racy copy of the state word, for tests.
    #[cfg(test)]
    pub(crate) fn state(&self) -> u32 {
        self.state.load(Ordering::Relaxed)
    }
}

/// A mutual exclusion lock protecting a `T` (Go's `sync.Mutex`, with the data inside
/// as Rust does it).
///
/// [`lock`](Self::lock) spins briefly and then parks the goroutine (or the plain OS
/// thread), not the thread under the goroutine. Normal mode lets a running locker
/// barge ahead of parked waiters (throughput); once a waiter has waited over 1 ms the
/// mutex enters starvation mode and hands itself to waiters in FIFO order (fairness).
/// See the module docs of `mutex.rs` for the full algorithm.
///
/// There is no poisoning: a panic while locked unlocks during unwinding, like Go's
/// `defer mu.Unlock()`. Unlocking an unlocked mutex (Go's `sync: unlock of unlocked
/// mutex`) is impossible: only the guard unlocks.
///
/// ```
/// use goro_sync::Mutex;
/// use std::sync::Arc;
///
/// let m = Arc::new(Mutex::new(0));
/// let hs: Vec<_> = (0..4)
///     .map(|_| {
///         let m = m.clone();
///         std::thread::spawn(move || *m.lock() += 1)
///     })
///     .collect();
/// hs.into_iter().for_each(|h| h.join().unwrap());
/// assert_eq!(*m.lock(), 4);
/// ```
#[doc(alias = "sync.Mutex")]
pub struct Mutex<T: ?Sized> {
    pub(crate) raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex owns a `T` and hands it to one thread at a time; moving it moves
// the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: `&Mutex<T>` gives `&mut T` only to the lock's owner (invariant 1), one at a
// time, possibly on another thread: that needs `T: Send`, not `T: Sync`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Proof of holding a [`Mutex`]: derefs to the data; dropping it unlocks
/// (Go's `Unlock`).
///
/// Unlike std's guard it is `Send` (for `T: Send`): a goro mutex is not tied to a
/// thread, so a guard may be handed to another goroutine or thread, which then
/// unlocks (Go allows unlocking from another goroutine).
#[must_use = "if unused the Mutex will immediately unlock"]
#[doc(alias = "Unlock")]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
    _not_sync_by_default: PhantomData<*mut T>,
}

// SAFETY: the guard is a `&mut T` in disguise plus the duty to unlock, which any
// thread may do (RawMutex has no thread ownership).
unsafe impl<T: ?Sized + Send> Send for MutexGuard<'_, T> {}
// SAFETY: `&MutexGuard` gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex { raw: RawMutex::new(), data: UnsafeCell::new(value) }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the goroutine (or thread) until it is available.
    ///
    /// Calling `lock` again while holding the guard on the same goroutine deadlocks,
    /// as in Go.
    #[doc(alias = "Lock")]
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock(WaitReason::SyncMutexLock);
        MutexGuard { mutex: self, _not_sync_by_default: PhantomData }
    }

    /// Locks the mutex if that is possible without waiting (Go's `TryLock`). Fails
    /// when it is locked, and in starvation mode (then it belongs to a waiter).
    #[doc(alias = "TryLock")]
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard { mutex: self, _not_sync_by_default: PhantomData })
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Rebuilds a guard for a mutex that the caller has locked.
    ///
    /// # Safety
    /// The caller owns the lock (it locked `raw` and no guard stands for that lock).
    pub(crate) unsafe fn guard_for_locked(&self) -> MutexGuard<'_, T> {
        MutexGuard { mutex: self, _not_sync_by_default: PhantomData }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: invariant 1 — the guard stands for the lock, so no other reference
        // to the data exists.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: invariant 1 — the guard stands for the lock, and `&mut self` makes
        // this the only reference to the data.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard stands for the lock and gives it up here.
        unsafe { self.mutex.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_word_fast_paths() {
        let m = RawMutex::new();
        assert!(m.try_lock());
        assert_eq!(m.state(), LOCKED);
        assert!(!m.try_lock());
        // SAFETY: locked just above, by us.
        unsafe { m.unlock() };
        assert_eq!(m.state(), 0);
        m.lock(WaitReason::SyncMutexLock);
        assert!(m.is_locked());
        // SAFETY: locked just above, by us.
        unsafe { m.unlock() };
        assert_eq!(m.state(), 0);
    }

    #[test]
    fn try_lock_fails_in_starvation_mode() {
        let m = RawMutex::new();
        m.state.store(STARVING | WAITER, Ordering::Relaxed);
        assert!(!m.try_lock());
    }

    #[test]
    fn barging_loop_enters_and_leaves_starvation_mode() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let m = Arc::new(RawMutex::new());
        let stop = Arc::new(AtomicBool::new(false));
        let bargers: Vec<_> = (0..2)
            .map(|_| {
                let (m, stop) = (m.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        m.lock(WaitReason::SyncMutexLock);
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_micros(50) {
                            std::hint::spin_loop();
                        }
                        // SAFETY: locked just above, by this thread.
                        unsafe { m.unlock() };
                    }
                })
            })
            .collect();
        let seen = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (m, stop, seen) = (m.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if m.state() & STARVING != 0 {
                        seen.store(true, Ordering::Relaxed);
                    }
                    std::hint::spin_loop();
                }
            })
        };
        let t = Instant::now();
        while !seen.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(10) {
            m.lock(WaitReason::SyncMutexLock);
            // SAFETY: locked just above, by this thread.
            unsafe { m.unlock() };
            std::thread::sleep(Duration::from_micros(200));
        }
        stop.store(true, Ordering::Relaxed);
        bargers.into_iter().for_each(|h| h.join().unwrap());
        watcher.join().unwrap();
        assert!(seen.load(Ordering::Relaxed), "starvation mode never entered");
        // Everything left: the mode was left and no waiter is counted.
        assert_eq!(m.state(), 0);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// lock, hold for this many microseconds, unlock.
        Lock(u8),
        /// try_lock, and unlock if it worked.
        TryLock,
        /// sleep this many microseconds without the lock.
        Pause(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..40).prop_map(Op::Lock),
            1 => Just(Op::TryLock),
            1 => (0u8..200).prop_map(Op::Pause),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Random schedules of lockers on plain threads: mutual exclusion holds, every
        /// lock is counted, and the state word ends at 0 (no leaked waiter count,
        /// WOKEN or STARVING bit) — the state machine always returns to rest.
        #[test]
        fn state_machine_returns_to_rest(
            scripts in proptest::collection::vec(proptest::collection::vec(op(), 1..60), 2..5)
        ) {
            let m = Arc::new(Mutex::new((0u64, false)));
            let expected: u64 = scripts
                .iter()
                .flatten()
                .filter(|o| matches!(o, Op::Lock(_)))
                .count() as u64;
            let hs: Vec<_> = scripts
                .into_iter()
                .map(|script| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        let mut tried = 0u64;
                        for op in script {
                            match op {
                                Op::Lock(us) => {
                                    let mut g = m.lock();
                                    assert!(!g.1, "mutual exclusion violated");
                                    g.1 = true;
                                    let t = Instant::now();
                                    while t.elapsed() < Duration::from_micros(u64::from(us)) {
                                        std::hint::spin_loop();
                                    }
                                    g.0 += 1;
                                    g.1 = false;
                                }
                                Op::TryLock => {
                                    if let Some(g) = m.try_lock() {
                                        assert!(!g.1, "mutual exclusion violated");
                                        tried += 1;
                                    }
                                }
                                Op::Pause(us) => {
                                    std::thread::sleep(Duration::from_micros(u64::from(us)))
                                }
                            }
                        }
                        tried
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            prop_assert_eq!(m.lock().0, expected);
            prop_assert_eq!(m.raw.state(), 0);
            prop_assert_eq!(m.raw.sema.snapshot(), (0, 0));
        }
    }
}
