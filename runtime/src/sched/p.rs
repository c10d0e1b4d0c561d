//! The P: a processor, the right to run goroutines. `procs` of them per runtime.
//!
//! # Design
//! A P owns a local run queue ([`RunQueue`], 256 slots), the `runnext` slot, a timer
//! heap and counters. An M runs goroutines only while it
//! holds a P; "owner" below means the M holding this P.
//!
//! `runnext` holds the goroutine most recently made runnable by the running one
//! (spawned, or woken by a channel or lock); it runs next and inherits the time slice
//! (Go's schedtick is not advanced for it). To keep a ping-ponging pair from starving
//! the rest of the queue without a preemption timer, at most [`INHERIT_MAX`]
//! consecutive picks may come from `runnext`; then the queue's head goes first.
//!
//! **Ownership word** (`own`, own.rs): `epoch << 2 | state`. Sysmon takes a P from
//! its M only by a CAS on this word (preempt.rs), so an owner that sees its own
//! `epoch | RUNNING` there still holds the P.
//!
//! # Invariants
//! 1. Only the owner pushes to `runq`, pops from it, or sets `runnext`; thieves only
//!    steal (runq.rs) or CAS `runnext` to null. A runtime with one P has no thieves
//!    (`steal_work` needs another P), so there (`solo`) the owner moves `runnext`
//!    with a plain load and store instead of a locked swap: two locked instructions
//!    less per wake-up, which a ping-pong on one P pays on every message; and it
//!    pops its queue without a CAS of the head, which every yield on one P pays.
//! 2. A P on the idle list has an empty `runq` and a null `runnext`.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU64, Ordering};

use super::g::G;
use super::m::MShared;
use super::own::Own;
use super::runq::{Overflow, RunQueue};
use crate::timer::Timers;

/// Consecutive `runnext` picks allowed before the run queue's head goes first.
pub(crate) const INHERIT_MAX: u32 = 1024;

/// A processor.
pub(crate) struct P {
    /// Index in `Sched::ps`.
    pub(crate) id: usize,
    /// Whether this is the runtime's only P (invariant 1: nobody steals from it).
    solo: bool,
    /// Local run queue (invariant 1).
    pub(crate) runq: RunQueue<G>,
    /// The next goroutine to run. Atomic: set by the owner (swap, or a plain load and
    /// store on a runtime's only P: invariant 1), CAS'd to null by thieves. On its own
    /// cache line: spinning thieves poll the queue's indexes, and every spawn or
    /// wake-up swaps this slot.
    pub(crate) runnext: CachePadded<AtomicPtr<G>>,
    /// Owner-only scheduling state.
    pub(crate) local: UnsafeCell<PLocal>,
    /// Timer heap (its own lock).
    pub(crate) timers: Timers,
    /// Goroutines started on this P with a fresh time slice (Go's schedtick). Atomic:
    /// the owner writes (Relaxed, load + store), stats read.
    pub(crate) schedtick: AtomicU64,
    /// Goroutines this P took from other Ps (steal operations). Atomic: as above.
    pub(crate) steals: AtomicU64,
    /// Switches to a goroutine done on this P. Atomic: as above.
    pub(crate) switches: AtomicU64,
    /// Of `switches`, those made from the scheduler stack (g0) rather than directly
    /// from the previous goroutine. Atomic: as above.
    pub(crate) g0_switches: AtomicU64,
    /// Goroutines spawned on this P minus goroutines that exited on it (may be
    /// negative; the sum over Ps plus `Sched::ngoroutines_ext` is the live count).
    /// Atomic: the owner writes (load + store), stats read.
    pub(crate) gcount: AtomicI64,
    /// Ownership word, `epoch << 2 | state` (module docs). Its own cache line: the
    /// owner reads it at every runtime entry, sysmon CASes it.
    pub(crate) own: CachePadded<Own>,
    /// The owner M of the current epoch (set before `own` is published).
    pub(crate) m: AtomicPtr<MShared>,
    /// `schedtick + 1` of the time slice sysmon asked to end (0: none): the running
    /// goroutine yields at its next safe point while it still runs that slice.
    pub(crate) preempt_at: AtomicU64,
    /// When the owner entered `blocking` (nanotime; read by sysmon in `SYSCALL`).
    pub(crate) syscall_when: AtomicU64,
}

/// Keeps a value on a cache line of its own (128 bytes: adjacent-line prefetch).
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Owner-only fields of a P.
pub(crate) struct PLocal {
    /// Consecutive picks from `runnext`.
    pub(crate) inherited: u32,
}

// SAFETY: `local` is touched only by the owner M (the one holding the P; holding is
// handed over under `Sched::lock` or through `own`'s release/acquire CASes, which
// order the accesses; an owner whose P sysmon took stops touching it: own.rs,
// preempt.rs); every other field is atomic or internally locked.
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

impl P {
    /// P number `id` of a runtime with `procs` Ps.
    pub(crate) fn new(id: usize, procs: usize) -> P {
        P {
            id,
            solo: procs == 1,
            runq: RunQueue::new(),
            runnext: CachePadded(AtomicPtr::new(ptr::null_mut())),
            local: UnsafeCell::new(PLocal { inherited: 0 }),
            timers: Timers::new(),
            schedtick: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            g0_switches: AtomicU64::new(0),
            gcount: AtomicI64::new(0),
            own: CachePadded(Own::new()),
            m: AtomicPtr::new(ptr::null_mut()),
            preempt_at: AtomicU64::new(0),
            syscall_when: AtomicU64::new(0),
        }
    }

    /// Owner-only state.
    ///
    /// # Safety
    /// The caller is the owner M (holds this P) and keeps no other reference from
    /// this function alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local(&self) -> &mut PLocal {
        // SAFETY: the caller's contract: we own the P, and borrows do not overlap.
        unsafe { &mut *self.local.get() }
    }

    /// Owner: makes `g` runnable here; `next` puts it in `runnext` (kicking the old
    /// one to the queue's tail). Returns what overflowed for the global queue.
    pub(crate) fn put(&self, mut g: *mut G, next: bool) -> Option<Overflow<G>> {
        if next {
            let old = self.swap_runnext(g);
            if old.is_null() {
                return None;
            }
            g = old;
        }
        self.runq.push(g)
    }

    /// Owner: puts `g` in `runnext`, returning what was there.
    #[inline]
    fn swap_runnext(&self, g: *mut G) -> *mut G {
        if self.solo {
            // Invariant 1: no thief, so nobody else writes the slot. Acquire/Release
            // as the swap's, for the G records handed through it.
            let old = self.runnext.load(Ordering::Acquire);
            self.runnext.store(g, Ordering::Release);
            old
        } else {
            self.runnext.swap(g, Ordering::AcqRel)
        }
    }

    /// Owner: the next goroutine to run, and whether it inherits the time slice.
    #[inline]
    pub(crate) fn get(&self) -> Option<(*mut G, bool)> {
        // SAFETY: owner only (the caller holds the P); no other borrow is alive.
        let local = unsafe { self.local() };
        if (local.inherited < INHERIT_MAX || self.runq.is_empty())
            && !self.runnext.load(Ordering::Relaxed).is_null()
        {
            // Thieves may CAS it to null meanwhile: the swap decides.
            let n = self.swap_runnext(ptr::null_mut());
            if !n.is_null() {
                local.inherited += 1;
                return Some((n, true));
            }
        }
        local.inherited = 0;
        if self.solo {
            // Invariant 1: nobody steals from a runtime's only P.
            return Some((self.runq.pop_unshared()?, false));
        }
        let g = self.runq.pop()?;
        prefetch_g(self.runq.peek());
        Some((g, false))
    }

    /// Owner: adds one to an owner-written counter (no read-modify-write needed).
    #[inline]
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Owner: adds `d` to this P's goroutine count.
    #[inline]
    pub(crate) fn add_gcount(&self, d: i64) {
        self.gcount.store(self.gcount.load(Ordering::Relaxed) + d, Ordering::Relaxed);
    }

    /// Whether it is the 61st schedule and the global queue has work (fairness).
    #[inline]
    pub(crate) fn global_turn(&self, inject_len: &std::sync::atomic::AtomicUsize) -> bool {
        inject_len.load(Ordering::Relaxed) > 0
            && self.schedtick.load(Ordering::Relaxed).is_multiple_of(61)
    }

    /// Whether sysmon asked the running goroutine's time slice to end.
    #[inline]
    pub(crate) fn preempt_requested(&self) -> bool {
        let at = self.preempt_at.load(Ordering::Relaxed);
        at != 0 && at == self.schedtick.load(Ordering::Relaxed) + 1
    }

    /// Whether this P has runnable goroutines (a snapshot).
    pub(crate) fn has_work(&self) -> bool {
        !self.runq.is_empty() || !self.runnext.load(Ordering::Acquire).is_null()
    }
}

/// Asks the CPU to fetch the lines a switch into `g` reads first
/// (`goro_stack::prefetch_header`: the G record is its slot's header). A queue of
/// goroutines spawned elsewhere (another core, or long ago in a burst) otherwise costs
/// a cache miss per line at each switch, one goroutine after the other. A hint only:
/// `g` may be stale or null.
#[inline]
pub(crate) fn prefetch_g(g: *const G) {
    if !g.is_null() {
        goro_stack::prefetch_header(g.cast());
    }
}
