//! `Lock<T>`: the runtime's short-critical-section mutex (Go's runtime `mutex`), used by
//! the channels, whose locks two Ps hammer from two cores.
//!
//! # Design
//! One `AtomicU32`: 0 free, 1 held, 2 held and a thread may sleep in the kernel on it.
//! `lock` is one CAS when free. When taken, the contender backs off in bursts: it looks
//! at the word only every `BURST` pause instructions, a few times, then yields its
//! CPU once, then marks the word 2 and sleeps on a futex. `unlock` of a word at 1
//! (nobody sleeps: the common case) is a plain load and a plain store, no locked
//! instruction; of a word at 2 it swaps 0 in and wakes one sleeper.
//!
//! The plain store has a price: a contender that marks the word 2 between the
//! unlocker's load and its store has its mark overwritten, and if it is already
//! asleep in the kernel by then, no wake comes. So sleepers sleep at most
//! `SLEEP_BOUND` at a time and then look again. That window is two instructions wide
//! and only a contender that already spun and yielded can fall into it; the saving
//! is on every unlock (an `xchg` costs ~20 cycles even on a line held in this core's
//! cache; a channel handoff unlocks four times per round trip).
//!
//! Why not `std::sync::Mutex`: its contended path re-reads the lock word after every
//! pause instruction (100 times). A channel's critical section is a few dozen
//! instructions, so the spinner's reads keep pulling the cache line away from the
//! holder, and the holder's release (`xchg`) then waits for the line to come back: a
//! profile of 4 producers and 4 consumers on two Ps showed half of `send`'s own time
//! on the releasing `xchg` and 40 % of the run in the spin loop. Looking only every
//! `BURST` pauses leaves the line with the holder, which then usually re-takes the
//! lock for its next operation while the line is still in its cache.
//!
//! Tuning (2-core VM, where one pause instruction takes ~17 ns; 4 producers x 4
//! consumers, procs 2, medians of 5 rounds, 3 processes per schedule): Go's 4 bursts of
//! 30 pauses (89-98 ns/msg) beat the evenly spaced schedules with earlier looks (8x8:
//! 169-180, 16x4: 240-276, 30x1: 270-304; the looks steal the line) and exponential
//! ones starting at 1-8 pauses (83-120). Longer first waits made mpmc faster still
//! (2x100: 63-77, 1x400: 49-60) but not select2 or ping-pong (within noise, select2
//! unbuffered 324-337 -> 356-373 ns/msg in one A/B), so Go's constants were kept.
//!
//! No poisoning: no user code runs under these locks (values are moved in and out,
//! never dropped or built), so a panic cannot leave the guarded data half-updated.
//!
//! # Invariants
//! 1. The word is nonzero exactly while a `LockGuard` exists (one at a time).
//! 2. A thread sleeps on the word only after storing 2 into it, and for at most
//!    `SLEEP_BOUND`. An unlock that sees 2 swaps 0 in and wakes one sleeper; one that
//!    sees 1 stores 0 (which may overwrite a 2 stored after its look: that sleeper
//!    then wakes by its bound). A woken thread re-takes the lock with 2 (it cannot
//!    know whether others still sleep), so no sleeper is forgotten for longer than
//!    the bound.
//!
//! # Memory ordering
//! Acquiring CAS/swap (Acquire) pairs with the releasing store or swap (Release):
//! everything written under the lock happens-before the next holder's critical
//! section. The unlocker's look at the word is Relaxed: only the holder ever changes
//! a word from 1 or 2 to 0, so the look decides nothing about exclusion.
//!
//! # References
//! go/src/runtime/lock_futex.go (lock2/unlock2: the burst-and-yield policy).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::loom::sync::atomic::{AtomicU32, Ordering};

const FREE: u32 = 0;
const HELD: u32 = 1;
const SLEEPERS: u32 = 2;

/// Bursts of pause instructions before yielding the CPU.
const BURSTS: u32 = 4;
/// Pause instructions per burst between two looks at the lock word.
const BURST: u32 = 30;
/// The longest one sleep on the word lasts (invariant 2: a wake lost to a plain
/// unlock costs at most this).
#[cfg(not(loom))]
const SLEEP_BOUND: std::time::Duration = std::time::Duration::from_millis(1);

/// A mutex for short critical sections that never run user code (see module docs).
pub struct Lock<T: ?Sized> {
    state: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands `&mut T` to one holder at a time (invariant 1), so sharing a
// `Lock<T>` between threads moves `T`s between them: `T: Send` suffices, as for std's
// `Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}

/// Proof of holding a [`Lock`]; releases it when dropped.
///
/// Shared between threads only if `T: Sync`, as it hands out `&T`:
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<goro_runtime::lock::LockGuard<'static, std::cell::Cell<u8>>>();
/// ```
///
/// while the lock itself needs only `T: Send`:
///
/// ```
/// fn shared<T: Sync>() {}
/// shared::<goro_runtime::lock::Lock<std::cell::Cell<u8>>>();
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    /// A guard is `&mut T` in all but name: `Sync` only for `T: Sync` (a shared guard
    /// hands out `&T`), `Send` for `T: Send` (any thread may release the word).
    _data: PhantomData<&'a mut T>,
}

impl<T> Lock<T> {
    /// A free lock around `value`.
    pub fn new(value: T) -> Lock<T> {
        Lock { state: AtomicU32::new(FREE), value: UnsafeCell::new(value) }
    }
}

impl<T: ?Sized> Lock<T> {
    /// Takes the lock, waiting for the holder (spinning briefly, then sleeping).
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, T> {
        if self.state.compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
        LockGuard { lock: self, _data: PhantomData }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.state
            .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| LockGuard { lock: self, _data: PhantomData })
    }

    /// Takes the word from free to `with` if it is free now; looks before writing so a
    /// failing attempt does not take the cache line from the holder.
    #[inline]
    fn take_if_free(&self, with: u32) -> bool {
        self.state.load(Ordering::Relaxed) == FREE
            && self.state.compare_exchange(FREE, with, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        // What to leave in the word when taking it: 2 once we have slept, since other
        // sleepers may remain (invariant 2).
        let mut with = HELD;
        loop {
            for _ in 0..BURSTS {
                if self.take_if_free(with) {
                    return;
                }
                pause(BURST);
            }
            if self.take_if_free(with) {
                return;
            }
            yield_cpu();
            if self.take_if_free(with) {
                return;
            }
            if self.state.swap(SLEEPERS, Ordering::Acquire) == FREE {
                return;
            }
            with = SLEEPERS;
            sleep_while(&self.state, SLEEPERS);
        }
    }

    #[inline]
    fn unlock(&self) {
        // SAFETY: `unlock` is called by the holder's guard, once.
        unsafe { unlock_word(&self.state) }
    }
}

/// Releases a held lock word (the body of `Lock::unlock`, for `park_exclusive`, which
/// releases a lock after its holder switched out).
///
/// # Safety
/// `state` is the word of a [`Lock`] held by a guard that was forgotten
/// ([`LockGuard::into_word`]) or is being dropped, and nobody else releases it.
#[inline]
pub(crate) unsafe fn unlock_word(state: &AtomicU32) {
    #[cfg(not(loom))]
    if state.load(Ordering::Relaxed) == HELD {
        // Nobody sleeps (or one is just marking the word: invariant 2).
        state.store(FREE, Ordering::Release);
        return;
    }
    if state.swap(FREE, Ordering::Release) == SLEEPERS {
        wake_one(state);
    }
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    /// Gives up the guard without releasing the lock: the word to release it by
    /// ([`unlock_word`]), which stays held until then.
    pub(crate) fn into_word(self) -> &'a AtomicU32 {
        let word = &self.lock.state;
        std::mem::forget(self);
        word
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock (invariant 1): no other reference to the
        // value exists while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow of the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("held", &(self.state.load(Ordering::Relaxed) != FREE)).finish()
    }
}

#[cfg(not(loom))]
#[inline]
fn pause(n: u32) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

#[cfg(not(loom))]
fn yield_cpu() {
    std::thread::yield_now();
}

/// Sleeps while `word` holds `value`, for at most `SLEEP_BOUND`.
#[cfg(not(loom))]
fn sleep_while(word: &AtomicU32, value: u32) {
    crate::sched::idle::futex_wait(word, value, Some(SLEEP_BOUND));
}

#[cfg(not(loom))]
fn wake_one(word: &AtomicU32) {
    crate::sched::idle::futex_wake(word);
}

// Under loom, pausing and yielding are no-ops (each would be a branch point in an
// unbounded spin), and the futex is modelled by one global mutex and condvar: the
// sleeper checks the word under the mutex, the waker takes the mutex after its swap,
// which is the atomicity FUTEX_WAIT gives against FUTEX_WAKE. Sleeps have no bound
// there (loom's condvar never times out), so `unlock` always swaps under loom: the
// model checks the sleeping protocol, not the plain unlock, whose only effect on it
// is a wake that comes later (invariant 2) and whose exclusion needs no model (only
// the holder ever writes 0).
#[cfg(loom)]
fn pause(_n: u32) {}

#[cfg(loom)]
fn yield_cpu() {}

#[cfg(loom)]
loom::lazy_static! {
    static ref FUTEX: (loom::sync::Mutex<()>, loom::sync::Condvar) =
        (loom::sync::Mutex::new(()), loom::sync::Condvar::new());
}

#[cfg(loom)]
fn sleep_while(word: &AtomicU32, value: u32) {
    let g = FUTEX.0.lock().unwrap();
    if word.load(Ordering::Relaxed) == value {
        drop(FUTEX.1.wait(g).unwrap());
    }
}

#[cfg(loom)]
fn wake_one(_word: &AtomicU32) {
    let _g = FUTEX.0.lock().unwrap();
    FUTEX.1.notify_all();
}

#[cfg(test)]
mod tests {
    use super::Lock;

    #[cfg(not(loom))]
    #[test]
    fn counts_under_contention() {
        use std::sync::Arc;
        let l = Arc::new(Lock::new(0u64));
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..100_000u64 {
                        *l.lock() += 1;
                        if i % 1000 == 0 {
                            // Hold it across a sleep now and then so others reach the
                            // futex path.
                            let g = l.lock();
                            std::thread::sleep(std::time::Duration::from_micros(50));
                            drop(g);
                        }
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*l.lock(), 400_000);
    }

    /// The lost wake of invariant 2, forced: a sleeper's mark is overwritten before a
    /// plain unlock, so no wake comes; its sleep's bound must still get it the lock.
    #[cfg(not(loom))]
    #[test]
    fn a_sleeper_whose_mark_was_overwritten_still_gets_the_lock() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        let l = Arc::new(Lock::new(0u32));
        let done = Arc::new(AtomicBool::new(false));
        let g = l.lock();
        let t = {
            let (l, done) = (l.clone(), done.clone());
            std::thread::spawn(move || {
                *l.lock() += 1;
                done.store(true, Ordering::Release);
            })
        };
        // Wait until the contender has marked the word and had time to fall asleep.
        let start = Instant::now();
        while l.state.load(Ordering::Relaxed) != super::SLEEPERS {
            assert!(start.elapsed() < Duration::from_secs(10), "the contender never slept");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        // As if the mark had come between the unlocker's look and its store.
        l.state.store(super::HELD, Ordering::Relaxed);
        drop(g);
        let start = Instant::now();
        while !done.load(Ordering::Acquire) {
            assert!(start.elapsed() < Duration::from_secs(5), "the sleeper was never woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        t.join().unwrap();
        assert_eq!(*l.lock(), 1);
    }

    #[cfg(not(loom))]
    #[test]
    fn try_lock_fails_while_held() {
        let l = Lock::new(1);
        let g = l.lock();
        assert!(l.try_lock().is_none());
        drop(g);
        assert_eq!(*l.try_lock().expect("free"), 1);
    }

    #[cfg(loom)]
    #[test]
    fn loom_lock_excludes() {
        loom::model(|| {
            use loom::sync::Arc;
            let l = Arc::new(Lock::new(0u32));
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let l = l.clone();
                    loom::thread::spawn(move || {
                        let mut g = l.lock();
                        let v = *g;
                        loom::thread::yield_now();
                        *g = v + 1;
                    })
                })
                .collect();
            *l.lock() += 1;
            for t in ts {
                t.join().unwrap();
            }
            assert_eq!(*l.lock(), 3);
        });
    }
}
