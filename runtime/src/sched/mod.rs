//! The G/M/P scheduler: goroutines (G) run on OS threads (M) that hold processors (P).
//!
//! # Design
//! Go's model with Go's policies (DESIGN.md §4):
//! - **G** (g.rs): a goroutine record in its stack slot's header (never unmapped):
//!   saved context, stack, status, wait reason, id, park word.
//! - **P** (p.rs): `procs` per runtime; a 256-slot local run queue (runq.rs) plus a
//!   `runnext` slot that a goroutine made runnable by the running one goes to,
//!   inheriting the time slice; a timer heap (timer.rs).
//! - **M** (m.rs): an OS thread. It runs goroutines only while it holds a P.
//! - The global run queue (inject.rs) takes the overflow of full local queues and
//!   goroutines made runnable off-P (plain threads, sysmon); every 61st schedule a P
//!   looks there first.
//! - An idle P's M spins: it steals half of a random victim's queue (4 passes in a
//!   random order; the last one also takes due timers and `runnext`), then looks at
//!   the global queue; then it gives the P back and sleeps on a futex (idle.rs) with
//!   no timeout: sysmon (sysmon.rs) owns sleeping until the next timer. At most half
//!   the busy Ps have spinning Ms; a spinner that finds work wakes another if it was
//!   the last one (`wakep`), and every `ready` wakes one if there is an idle P and no
//!   spinner.
//!
//! **Switching.** A goroutine that stops running switches *directly* to the next
//! goroutine of its P when there is one (one switch); the search for work, stealing
//! and sleeping run on the M's own OS stack (`g0`) only when the P has nothing local.
//!
//! **Parking** (park.rs) is token-based: an `Unparker` is a (G, generation) pair; the
//! G becomes runnable again only through the `PARKED -> NOTIFIED` transition, made by
//! exactly one unparker. The same API parks plain OS threads.
//!
//! **Timers** (timer.rs) live in per-P 4-ary heaps, run by the owning P whenever it
//! schedules and by idle Ps that steal; sysmon (sysmon.rs) sleeps until the earliest
//! deadline and fires what is due, so idle Ms never sleep with a timeout.
//!
//! **Deadlock detection** (deadlock.rs): when the last P goes idle with no runnable
//! goroutine, no pending timer and no running plain thread that took part
//! (external.rs), every `run` whose main goroutine is parked fails with Go's report.
//!
//! **Locked goroutines** (`lock_os_thread`, and any goroutine that parks while
//! unwinding, DESIGN.md §12): the M hands its P away while its goroutine is parked
//! and sleeps; whoever dequeues the goroutine hands its own P to that M.
//!
//! **Preemption** (preempt.rs, DESIGN.md §5-6): 10 ms time slices ended at safe
//! points, the hog hand-off (a goroutine that reaches no safe point loses its P to
//! another M) and `blocking` (entersyscall/exitsyscall), driven by sysmon.
//!
//! Not yet (a later issue): the netpoller (§7).
//! Rejected: running every switch through g0 (Go's `mcall`): two switches per
//! yield/park instead of one; a per-P mutex-protected queue (see runq.rs).
//!
//! # Tests
//! `cargo test -p goro-runtime` (debug, a few seconds); the million-goroutine tests are
//! `release only`: `cargo test --release -p goro-runtime -- --include-ignored`. Loom:
//! `RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 cargo test
//! -p goro-runtime --lib --release loom_` (use a separate `CARGO_TARGET_DIR`).
//!
//! # Invariants
//! 1. *Switch, then release.* A goroutine that stops running is published (put on a
//!    run queue, or marked `PARKED` where an unparker can ready it) only by the
//!    context that runs next on the same M, after the switch has saved its context
//!    (m.rs, `after_switch`). So no M can resume a goroutine whose context is not
//!    completely saved. Tested by `tests/sched_stress.rs` under procs 4.
//! 2. A G is in at most one run queue (a P's `runq` or `runnext`, or the global queue)
//!    and only while Runnable.
//! 3. An M runs a goroutine only while holding a P; a P is held by at most one M, or
//!    is on the idle list (`Locked::pidle`), or is being handed over to an M by
//!    `startm` (written to `MShared::nextp` under `Sched::lock`).
//! 4. `nmspinning` counts the Ms with `spinning` set; `npidle` mirrors
//!    `Locked::pidle.len()` (both changed under `Sched::lock`, read lock-free).
//!
//! # Lock order
//! `Sched::lock` > `Sched::runs` > a P's timer heap > a timer's action > the
//! registries; checked on every acquisition in debug builds (lockorder.rs). Channel
//! and sync locks come before all of them: they are released by park callbacks, which
//! run with no runtime lock held.
//!
//! # References
//! go/src/runtime/proc.go (schedule, findrunnable, wakep, startm, stopm, handoffp,
//! gopark, goready, runqsteal), go/src/runtime/runtime2.go (g, m, p, schedt);
//! "Scalable Go Scheduler Design Doc" (Vyukov, 2012).

pub(crate) mod deadlock;
pub(crate) mod external;
pub(crate) mod g;
pub(crate) mod idle;
pub(crate) mod inject;
pub(crate) mod m;
pub(crate) mod own;
pub(crate) mod p;
pub(crate) mod packet_alloc;
pub mod park;
pub mod preempt;
pub(crate) mod runq;
pub mod runtime;
pub mod spawn;
pub(crate) mod sysmon;

#[cfg(all(test, loom))]
mod tests {
    mod loom_own;
    mod loom_packet;
    mod loom_runq;
}

use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::lockorder::{self, Level};

use self::g::{Status, G};
use self::m::{current_m, MShared};
use self::p::{CachePadded, P};

/// Most Ms (OS threads) a runtime may create by default (Go's `SetMaxThreads`).
pub const MAX_THREADS: usize = 10_000;

/// One runtime's scheduler. Leaked (`'static`): G records and Ms point to it.
pub(crate) struct Sched {
    /// Number of Ps.
    pub(crate) procs: usize,
    /// Default maximum stack size of a goroutine.
    pub(crate) stack_size: usize,
    /// The Ps.
    pub(crate) ps: Box<[P]>,
    /// Steps coprime to `procs`, for random-order steal passes.
    pub(crate) coprimes: Box<[usize]>,
    /// Idle Ps, idle Ms and the global run queue.
    lock: Mutex<Locked>,
    /// Mirror of `Locked::inject.len()`. Atomic: written under `lock`, read lock-free
    /// by every schedule (own cache line).
    pub(crate) inject_len: CachePadded<AtomicUsize>,
    /// Mirror of `Locked::pidle.len()` (invariant 4). Read by every `ready`.
    pub(crate) npidle: CachePadded<AtomicUsize>,
    /// Spinning Ms (invariant 4). Read by every `ready`.
    pub(crate) nmspinning: CachePadded<AtomicUsize>,
    /// Ms created and not exited.
    pub(crate) mcount: AtomicUsize,
    /// Goroutines spawned from outside this runtime's Ps (see `P::gcount`).
    pub(crate) ngoroutines_ext: AtomicI64,
    /// Pending timers (timer.rs invariant 2).
    pub(crate) ntimers: AtomicUsize,
    /// Bumped by every spawn and `ready` done off-P (plain threads, sysmon); with the
    /// Ps' switch counters it tells deadlock detection whether anything happened.
    pub(crate) progress: AtomicU64,
    /// Set when the owning `Runtime` is dropped.
    pub(crate) shutdown: AtomicBool,
    /// Active `run`/`block_on` calls (deadlock detection).
    pub(crate) runs: Mutex<Vec<deadlock::RunEntry>>,
    /// Sysmon's wake-up sequence word (futex).
    pub(crate) sysmon_word: AtomicU32,
    /// The deadline sysmon sleeps until (nanotime; `u64::MAX`: no timer).
    pub(crate) sleep_until: AtomicU64,
    /// Whether sysmon was started.
    pub(crate) sysmon_started: AtomicBool,
    /// When sysmon should run deadlock detection again (nanotime; 0: never).
    pub(crate) deadlock_recheck: AtomicU64,
    /// Round-robin P choice for timers added from plain threads.
    pub(crate) timer_rr: AtomicUsize,
    /// Most Ms this runtime may create (`RuntimeBuilder::max_threads`).
    pub(crate) max_threads: usize,
    /// Ms whose P sysmon took while their goroutine ran (preempt.rs invariant 3).
    pub(crate) npless: AtomicUsize,
    /// Set while sysmon sleeps with every P idle (taking a P wakes it).
    pub(crate) sysmon_idle: AtomicBool,
    /// Set by `blocking` when work waits: sysmon restarts at its shortest sleep.
    pub(crate) sysmon_nudged: AtomicBool,
    /// Goroutines sent to the global queue because their time slice ended.
    pub(crate) stats_preemptions: AtomicU64,
    /// Ps taken by sysmon from hogs and blocking calls.
    pub(crate) stats_handoffs: AtomicU64,
    /// Goroutines queued globally because their M had lost its P.
    pub(crate) stats_pless_requeues: AtomicU64,
    /// Sysmon passes.
    pub(crate) stats_sysmon_wakeups: AtomicU64,
}

/// State protected by `Sched::lock`.
pub(crate) struct Locked {
    /// Idle Ps (indexes), LIFO.
    pub(crate) pidle: Vec<usize>,
    /// Idle Ms.
    pub(crate) midle: Vec<std::sync::Arc<MShared>>,
    /// Global run queue, FIFO (inject.rs).
    pub(crate) inject: VecDeque<*mut G>,
}

// SAFETY: the raw pointers are G records in stack headers (`'static`, Sync), only
// touched under the mutex that owns this value.
unsafe impl Send for Locked {}

impl Sched {
    /// Creates (and leaks) a scheduler with `procs` Ps. No thread starts until work
    /// arrives.
    pub(crate) fn new(procs: usize, stack_size: usize, max_threads: usize) -> &'static Sched {
        preempt::init_barrier();
        let ps: Box<[P]> = (0..procs).map(|i| P::new(i, procs)).collect();
        let coprimes: Box<[usize]> =
            (1..=procs.max(1)).filter(|&c| gcd(c, procs.max(1)) == 1).collect();
        let s = Box::leak(Box::new(Sched {
            procs,
            stack_size,
            ps,
            coprimes,
            lock: Mutex::new(Locked {
                pidle: (0..procs).rev().collect(),
                midle: Vec::new(),
                inject: VecDeque::new(),
            }),
            inject_len: CachePadded(AtomicUsize::new(0)),
            npidle: CachePadded(AtomicUsize::new(procs)),
            nmspinning: CachePadded(AtomicUsize::new(0)),
            mcount: AtomicUsize::new(0),
            ngoroutines_ext: AtomicI64::new(0),
            ntimers: AtomicUsize::new(0),
            progress: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            runs: Mutex::new(Vec::new()),
            sysmon_word: AtomicU32::new(0),
            sleep_until: AtomicU64::new(u64::MAX),
            sysmon_started: AtomicBool::new(false),
            deadlock_recheck: AtomicU64::new(0),
            timer_rr: AtomicUsize::new(0),
            max_threads,
            npless: AtomicUsize::new(0),
            sysmon_idle: AtomicBool::new(false),
            sysmon_nudged: AtomicBool::new(false),
            stats_preemptions: AtomicU64::new(0),
            stats_handoffs: AtomicU64::new(0),
            stats_pless_requeues: AtomicU64::new(0),
            stats_sysmon_wakeups: AtomicU64::new(0),
        }));
        s
    }

    pub(crate) fn lock(&self) -> lockorder::Guard<'_, Locked> {
        lockorder::lock(&self.lock, Level::Sched)
    }

    /// Takes an idle P.
    pub(crate) fn pidle_get(&'static self) -> Option<&'static P> {
        let mut l = self.lock();
        self.pidle_get_locked(&mut l)
    }

    fn pidle_get_locked(&'static self, l: &mut Locked) -> Option<&'static P> {
        let i = l.pidle.pop()?;
        self.npidle.store(l.pidle.len(), Ordering::SeqCst);
        Some(&self.ps[i])
    }

    /// Puts `p` on the idle list; returns whether every P is idle now.
    pub(crate) fn pidle_put(&'static self, p: &'static P) -> bool {
        let mut l = self.lock();
        self.pidle_put_locked(&mut l, p)
    }

    /// Must be called with `Sched::lock` held (`l`).
    pub(crate) fn pidle_put_locked(&self, l: &mut Locked, p: &'static P) -> bool {
        debug_assert!(
            !p.has_work() || self.shutdown.load(Ordering::Relaxed),
            "idle P with runnable goroutines"
        );
        l.pidle.push(p.id);
        self.npidle.store(l.pidle.len(), Ordering::SeqCst);
        l.pidle.len() == self.procs
    }

    /// Puts an idle M on the idle list.
    pub(crate) fn midle_put(&self, m: std::sync::Arc<MShared>) {
        self.lock().midle.push(m);
    }

    /// Wakes an M to run goroutines if there is an idle P and no spinning M
    /// (Go's `wakep`).
    pub(crate) fn wakep(&'static self) {
        if self.npidle.load(Ordering::SeqCst) == 0 || self.shutdown.load(Ordering::Relaxed) {
            return;
        }
        if self.nmspinning.load(Ordering::SeqCst) != 0
            || self.nmspinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_err()
        {
            return;
        }
        self.startm(None, true);
    }

    /// Gives P `p` (or an idle P) to an idle or new M. With `spinning`, the caller has
    /// already counted the M in `nmspinning`.
    pub(crate) fn startm(&'static self, p: Option<&'static P>, spinning: bool) {
        let mut l = self.lock();
        let p = match p {
            Some(p) => p,
            None => match self.pidle_get_locked(&mut l) {
                Some(p) => p,
                None => {
                    drop(l);
                    if spinning {
                        self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                    }
                    return;
                }
            },
        };
        let idle = l.midle.pop();
        drop(l);
        match idle {
            Some(ms) => {
                ms.spinning.store(spinning, Ordering::Release);
                ms.nextp.store(p.id + 1, Ordering::Release);
                ms.note.wake();
            }
            None => m::spawn_m(self, p.id, spinning),
        }
    }

    /// Gives away the P of an M that stops running goroutines for a while (a locked
    /// goroutine parked): to a new M if there is work, else to the idle list.
    pub(crate) fn handoff_p(&'static self, p: &'static P) {
        if p.has_work() || self.inject_len.load(Ordering::SeqCst) > 0 {
            self.startm(Some(p), false);
            return;
        }
        if self.nmspinning.load(Ordering::SeqCst) + self.npidle.load(Ordering::SeqCst) == 0
            && self.nmspinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            self.startm(Some(p), true);
            return;
        }
        let mut l = self.lock();
        if !l.inject.is_empty() {
            drop(l);
            self.startm(Some(p), false);
            return;
        }
        let all_idle = self.pidle_put_locked(&mut l, p);
        drop(l);
        if all_idle {
            deadlock::check(self);
        }
    }

    /// Live goroutines (a snapshot: exact while nothing spawns or exits).
    pub(crate) fn goroutines(&self) -> usize {
        let n: i64 = self.ps.iter().map(|p| p.gcount.load(Ordering::Relaxed)).sum::<i64>()
            + self.ngoroutines_ext.load(Ordering::Relaxed);
        n.max(0) as usize
    }

    /// A number that changes whenever a goroutine runs or is made runnable.
    pub(crate) fn activity(&self) -> u64 {
        self.progress.load(Ordering::SeqCst)
            + self.ps.iter().map(|p| p.switches.load(Ordering::SeqCst)).sum::<u64>()
    }

    /// Tells sysmon about a new timer (starts sysmon on first use).
    pub(crate) fn sysmon_note_timer(&'static self, when: u64) {
        sysmon::note_timer(self, when);
    }

    /// Stops the runtime's idle threads (the owning `Runtime` was dropped).
    pub(crate) fn shutdown(&'static self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let ms: Vec<_> = std::mem::take(&mut self.lock().midle);
        for m in ms {
            m.note.wake();
        }
        sysmon::wake(self);
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Makes a parked (or new) goroutine runnable: `runnext` of the current P if it
/// belongs to the same runtime, else the global queue; then `wakep` (Go's `ready`).
#[doc(alias = "goready")]
pub(crate) fn ready(g: &'static G) {
    ready_on(g, current_m());
}

/// [`ready`], for a caller that already looked up its M (`current_m()`).
pub(crate) fn ready_on(g: &'static G, m: Option<&'static m::M>) {
    let sched = g.sched();
    g.set_status(Status::Runnable);
    let gp = ptr::from_ref(g).cast_mut();
    if let Some(m) = m {
        if ptr::eq(m.sched, sched) {
            // No switch in here: leave on the same M.
            let rt = preempt::InRuntime::enter(m);
            let done = match m.p() {
                Some(p) => {
                    if let Some(o) = p.put(gp, true) {
                        sched.inject_overflow(o);
                    }
                    true
                }
                None => false,
            };
            rt.leave_on(m);
            if done {
                sched.wakep();
                return;
            }
        }
    }
    sched.progress.fetch_add(1, Ordering::SeqCst);
    sched.inject_one(gp);
}

/// A pending timer fired or was stopped.
pub(crate) fn timer_done(sched: &'static Sched) {
    sched.ntimers.fetch_sub(1, Ordering::SeqCst);
}

/// The P a new timer goes to: the current P (same runtime), else round-robin.
pub(crate) fn timer_p(sched: &'static Sched) -> &'static P {
    if let Some(m) = current_m() {
        if ptr::eq(m.sched, sched) {
            if let Some(p) = m.p() {
                return p;
            }
        }
    }
    let i = sched.timer_rr.fetch_add(1, Ordering::Relaxed) % sched.procs;
    &sched.ps[i]
}

/// The runtime of the current goroutine (or M), else the runtime whose timer action
/// runs on this thread (sysmon), else the default runtime.
pub(crate) fn sched_of_current_or_default() -> &'static Sched {
    match current_m() {
        Some(m) => m.sched,
        None => crate::timer::firing_sched().unwrap_or_else(runtime::default_sched),
    }
}

/// The current goroutine's id, or `None` on a plain OS thread (Go has no such call;
/// goroutine ids are for logs and debugging).
pub fn current_id() -> Option<u64> {
    let m = current_m()?;
    let g = m.curg_ptr();
    if g.is_null() {
        return None;
    }
    // SAFETY: a non-null curg is a G record (a stack header, never unmapped).
    Some(unsafe { (*g).id() })
}

/// The index (0-based, below [`procs`]) of the processor running the calling
/// goroutine, or `None` on a plain OS thread. The goroutine may be moved to another
/// processor right after; this is a hint for striping per-processor data (goro-sync's
/// `RwMutex` picks its reader slots by it), not an identity.
#[inline]
pub fn current_proc() -> Option<usize> {
    m::current_proc()
}

/// Yields the processor, letting other goroutines run (Go's `runtime.Gosched`).
/// The goroutine stays runnable and resumes automatically. On a plain OS thread it
/// is `std::thread::yield_now`.
#[doc(alias = "Gosched")]
pub fn yield_now() {
    let Some(m) = current_m() else {
        std::thread::yield_now();
        return;
    };
    let g = m.curg_ptr();
    if g.is_null() {
        return;
    }
    let rt = preempt::InRuntime::enter(m);
    if let Some(p) = m.p() {
        // The clock is read only when nothing else is queued (a pending timer must
        // not make every yield pay for it).
        let timers_due = || {
            let when = p.timers.next_when();
            when != u64::MAX && when <= crate::timer::nanotime()
        };
        if !p.has_work() && m.sched.inject_len.load(Ordering::Relaxed) == 0 && !timers_due() {
            // Nothing else to run here: keep going (a new time slice, as in Go).
            P::bump(&p.schedtick);
            rt.leave_on(m);
            return;
        }
    }
    let m = m::schedule_from_g(m, m::Pending::Yield(g));
    rt.leave_on(m);
}

/// The number of live goroutines of the current runtime (or of the default runtime,
/// on a plain thread) (Go's `runtime.NumGoroutine`).
#[doc(alias = "NumGoroutine")]
pub fn num_goroutine() -> usize {
    sched_of_current_or_default().goroutines()
}

/// The number of Ps of the current runtime (or of the default runtime): how many
/// goroutines run in parallel (Go's `runtime.GOMAXPROCS(0)`).
#[doc(alias = "GOMAXPROCS")]
pub fn procs() -> usize {
    sched_of_current_or_default().procs
}

/// Wires the calling goroutine to its current OS thread (Go's `runtime.LockOSThread`):
/// it runs only on this thread, and this thread runs nothing else, until as many
/// `unlock_os_thread` calls. No-op on a plain OS thread.
#[doc(alias = "LockOSThread")]
pub fn lock_os_thread() {
    if let Some(m) = current_m() {
        if !m.curg_ptr().is_null() {
            m::lock_current(m);
        }
    }
}

/// Undoes one [`lock_os_thread`] (Go's `runtime.UnlockOSThread`).
#[doc(alias = "UnlockOSThread")]
pub fn unlock_os_thread() {
    if let Some(m) = current_m() {
        if !m.curg_ptr().is_null() {
            m::unlock_current(m);
        }
    }
}
