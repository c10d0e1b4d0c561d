//! Runtime timers: per-P 4-ary min-heaps, run by the P's scheduler and by sysmon.
//!
//! # Design
//! Each P has a `Timers` heap under its own small lock, plus an atomic copy of the
//! earliest deadline so that the scheduler can skip the heap without locking when
//! nothing is due. A timer is added to the current P's heap (goroutines) or to a P
//! picked round-robin (plain threads). Due timers are run:
//! - by the owning P, each time it schedules (after a goroutine parks, yields, exits);
//! - by sysmon (sysmon.rs), which sleeps until the earliest deadline over all Ps and
//!   fires whatever is due, so timers fire while every P is idle or busy with a
//!   goroutine that does not yield. An idle M never sleeps with a timeout.
//!
//! Firing a timer either unparks a goroutine (`sleep`, `park_until`) or runs a short
//! callback (channels' `after`/`tick`, deadlines). Stopped timers stay in the heap until
//! they reach its top (lazy deletion), but stop counting as pending at once.
//! Rejected: a timer wheel (better for millions of timers with equal periods, but
//! its tick granularity adds latency to short sleeps; revisit with the timers bench).
//!
//! # Invariants
//! 1. `Timers::next` equals the earliest `when` in the heap (`u64::MAX` when empty)
//!    whenever the heap lock is free.
//! 2. `Sched::ntimers` counts timers that may still fire: added and neither fired
//!    nor stopped. Deadlock detection relies on it.
//!
//! # Lock order
//! `Sched::lock` is never taken while a heap lock is held; timer actions run with no
//! heap lock held.
//!
//! # References
//! go/src/runtime/time.go (addtimer, runtimer, siftupTimer with a 4-ary heap).

use std::cell::Cell;
use std::sync::atomic::{compiler_fence, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sched::park::Unparker;
use crate::sched::{self, Sched};

/// Nanoseconds since the runtime's epoch (monotonic). Never returns 0.
pub(crate) fn nanotime() -> u64 {
    to_nanos(Instant::now())
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| Instant::now() - Duration::from_millis(1))
}

/// An `Instant` as nanoseconds since the epoch (saturating at 1 for the past).
pub(crate) fn to_nanos(t: Instant) -> u64 {
    (t.saturating_duration_since(epoch()).as_nanos().min(u64::MAX as u128 - 1) as u64).max(1)
}

/// What a timer does when it fires.
pub(crate) enum Action {
    /// Wake a parked goroutine or thread.
    Unpark(Unparker),
    /// Run a short callback.
    Call(Box<dyn FnOnce() + Send + 'static>),
}

impl Action {
    fn fire(self) {
        match self {
            Action::Unpark(u) => {
                u.unpark();
            }
            Action::Call(f) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                    crate::fatal!("timer callback panicked");
                }
            }
        }
    }
}

const PENDING: u8 = 0;
const FIRED: u8 = 1;
const STOPPED: u8 = 2;

/// A stoppable timer's shared state.
struct Shared {
    state: AtomicU8,
    action: Mutex<Option<Action>>,
    sched: &'static Sched,
}

enum Kind {
    /// Fire-and-forget (sleep).
    Direct(Action),
    /// Stoppable through a [`TimerHandle`].
    Shared(Arc<Shared>),
}

struct Entry {
    when: u64,
    kind: Kind,
}

/// One P's timers.
pub(crate) struct Timers {
    heap: Mutex<Vec<Entry>>,
    /// Earliest deadline in the heap, `u64::MAX` if none (invariant 1). SeqCst: pairs
    /// with sysmon's `sleep_until` (sysmon.rs).
    next: AtomicU64,
    /// Entries in the heap (including stopped ones). Relaxed: statistics.
    len: AtomicUsize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: Mutex::new(Vec::new()),
            next: AtomicU64::new(u64::MAX),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> crate::lockorder::Guard<'_, Vec<Entry>> {
        crate::lockorder::lock(&self.heap, crate::lockorder::Level::Timers)
    }

    /// The earliest deadline (nanotime), `u64::MAX` if none.
    #[inline]
    pub(crate) fn next_when(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// Entries in the heap.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn push(&self, e: Entry) {
        let mut h = self.lock();
        h.push(e);
        let last = h.len() - 1;
        sift_up(&mut h, last);
        self.next.store(h[0].when, Ordering::SeqCst);
        self.len.store(h.len(), Ordering::Relaxed);
    }

    /// Fires every timer due at `now`. Returns how many fired.
    pub(crate) fn run_due(&self, now: u64, sched: &'static Sched) -> usize {
        let mut fired = 0;
        loop {
            if self.next_when() > now {
                return fired;
            }
            let e = {
                let mut h = self.lock();
                if h.is_empty() || h[0].when > now {
                    self.next.store(h.first().map_or(u64::MAX, |e| e.when), Ordering::SeqCst);
                    return fired;
                }
                let e = pop(&mut h);
                self.next.store(h.first().map_or(u64::MAX, |e| e.when), Ordering::SeqCst);
                self.len.store(h.len(), Ordering::Relaxed);
                e
            };
            match e.kind {
                Kind::Direct(a) => {
                    crate::sched::timer_done(sched);
                    firing(sched, || a.fire());
                    fired += 1;
                }
                Kind::Shared(s) => {
                    if s.state
                        .compare_exchange(PENDING, FIRED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        crate::sched::timer_done(s.sched);
                        let a =
                            crate::lockorder::lock(&s.action, crate::lockorder::Level::TimerAction)
                                .take();
                        if let Some(a) = a {
                            firing(s.sched, || a.fire());
                        }
                        fired += 1;
                    }
                }
            }
        }
    }
}

thread_local! {
    /// The runtime whose timer action runs on this thread (sysmon has no M).
    static FIRING: Cell<*const Sched> = const { Cell::new(std::ptr::null()) };
}

/// Runs a timer action of runtime `sched`: runtime calls inside it (a ticker
/// re-arming itself, a goroutine made runnable) go to `sched`, not to the default
/// runtime, even on sysmon's thread.
fn firing(sched: &'static Sched, f: impl FnOnce()) {
    let prev = swap_firing(sched);
    f();
    swap_firing(prev);
}

/// Thread-local accessors: never inlined, with compiler fences (DESIGN.md §12; timer
/// actions never switch goroutines, but keep the rule).
#[inline(never)]
fn swap_firing(p: *const Sched) -> *const Sched {
    compiler_fence(Ordering::SeqCst);
    let prev = FIRING.with(|c| c.replace(p));
    compiler_fence(Ordering::SeqCst);
    prev
}

/// The runtime whose timer action the calling thread is running, if any.
#[inline(never)]
pub(crate) fn firing_sched() -> Option<&'static Sched> {
    compiler_fence(Ordering::SeqCst);
    let p = FIRING.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    compiler_fence(Ordering::SeqCst);
    // SAFETY: a non-null pointer was set by `firing` from a `&'static Sched`.
    unsafe { p.as_ref() }
}

fn sift_up(h: &mut [Entry], mut i: usize) {
    while i > 0 {
        let parent = (i - 1) / 4;
        if h[parent].when <= h[i].when {
            break;
        }
        h.swap(i, parent);
        i = parent;
    }
}

fn sift_down(h: &mut [Entry], mut i: usize) {
    let n = h.len();
    loop {
        let first = 4 * i + 1;
        if first >= n {
            return;
        }
        let mut min = first;
        for c in first + 1..(first + 4).min(n) {
            if h[c].when < h[min].when {
                min = c;
            }
        }
        if h[i].when <= h[min].when {
            return;
        }
        h.swap(i, min);
        i = min;
    }
}

fn pop(h: &mut Vec<Entry>) -> Entry {
    let last = h.len() - 1;
    h.swap(0, last);
    let e = h.pop().expect("pop from an empty timer heap");
    if !h.is_empty() {
        sift_down(h, 0);
    }
    e
}

/// Adds a timer to the current P (or a P of the default runtime) and tells sysmon.
fn add(when: u64, kind: Kind, sched: &'static Sched) {
    let p = sched::timer_p(sched);
    sched.ntimers.fetch_add(1, Ordering::SeqCst);
    p.timers.push(Entry { when, kind });
    sched.sysmon_note_timer(when);
}

/// Wakes the current goroutine's pending park at `deadline` (used by `sleep`).
pub(crate) fn add_unpark(deadline: Instant, u: Unparker) {
    let sched = sched::sched_of_current_or_default();
    add(to_nanos(deadline), Kind::Direct(Action::Unpark(u)), sched);
}

/// A stoppable runtime timer: runs its action once at its deadline unless stopped.
///
/// For channels' `after`/`tick`, timeouts and context deadlines. The action runs on a
/// scheduler thread (a P's scheduler or sysmon) and must be short and must not block
/// or panic (a panic there is a fatal error).
pub struct TimerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerHandle")
            .field("state", &self.shared.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl TimerHandle {
    /// Starts a timer that calls `f` at `deadline` (at once, from a scheduler thread,
    /// if the deadline has passed).
    pub fn after_fn(deadline: Instant, f: impl FnOnce() + Send + 'static) -> TimerHandle {
        TimerHandle::start(deadline, Action::Call(Box::new(f)))
    }

    /// Starts a timer that unparks `u` at `deadline`.
    pub fn unpark_at(deadline: Instant, u: Unparker) -> TimerHandle {
        TimerHandle::start(deadline, Action::Unpark(u))
    }

    pub(crate) fn start(deadline: Instant, action: Action) -> TimerHandle {
        let sched = sched::sched_of_current_or_default();
        let shared = Arc::new(Shared {
            state: AtomicU8::new(PENDING),
            action: Mutex::new(Some(action)),
            sched,
        });
        add(to_nanos(deadline), Kind::Shared(shared.clone()), sched);
        TimerHandle { shared }
    }

    /// Stops the timer. Returns true if this call kept it from firing (Go's
    /// `Timer.Stop`); false if it already fired or was stopped.
    pub fn stop(&self) -> bool {
        let ok = self
            .shared
            .state
            .compare_exchange(PENDING, STOPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if ok {
            crate::sched::timer_done(self.shared.sched);
            drop(
                crate::lockorder::lock(&self.shared.action, crate::lockorder::Level::TimerAction)
                    .take(),
            );
        }
        ok
    }

    /// Whether the timer has fired (its action has started or finished).
    pub fn fired(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) == FIRED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heap_of(whens: &[u64]) -> Vec<Entry> {
        let mut h = Vec::new();
        for &w in whens {
            h.push(Entry { when: w, kind: Kind::Direct(Action::Call(Box::new(|| {}))) });
            let last = h.len() - 1;
            sift_up(&mut h, last);
        }
        h
    }

    #[test]
    fn heap_pops_in_order() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let whens: Vec<u64> = (0..1000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % 500
            })
            .collect();
        let mut h = heap_of(&whens);
        let mut sorted = whens.clone();
        sorted.sort_unstable();
        let popped: Vec<u64> = (0..whens.len()).map(|_| pop(&mut h).when).collect();
        assert_eq!(popped, sorted);
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Pops come out sorted whatever the insertion order and interleaving.
            #[test]
            fn heap_order(ops in proptest::collection::vec((any::<bool>(), 0u64..1000), 0..300)) {
                let mut h: Vec<Entry> = Vec::new();
                let mut model: Vec<u64> = Vec::new();
                for (push, when) in ops {
                    if push || h.is_empty() {
                        h.push(Entry { when, kind: Kind::Direct(Action::Call(Box::new(|| {}))) });
                        let last = h.len() - 1;
                        sift_up(&mut h, last);
                        model.push(when);
                    } else {
                        model.sort_unstable();
                        let want = model.remove(0);
                        prop_assert_eq!(pop(&mut h).when, want);
                    }
                    if let Some(min) = model.iter().min() {
                        prop_assert_eq!(h[0].when, *min);
                    }
                }
            }
        }
    }
}
