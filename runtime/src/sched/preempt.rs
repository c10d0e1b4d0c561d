//! Preemption and blocking calls: time slices, the hog hand-off, `blocking`
//! (DESIGN.md §5-6).
//!
//! # Design
//! Rust code cannot be stopped at an arbitrary instruction and resumed elsewhere
//! (thread-local addresses live in registers across calls; the interrupted code may
//! hold a libc or std lock the next goroutine needs), so no goroutine is ever switched
//! from a signal handler; there is no signal at all. Instead:
//!
//! 1. **Time slices.** Sysmon (sysmon.rs) watches each P's `schedtick`; when a P has
//!    run the same slice for 10 ms ([`SLICE`]) and other work waits, it sets the P's
//!    `preempt_at`. Every runtime call is a safe point ([`check`], called by
//!    channel operations, locks, sleep, spawn, and `goro::coop::check()` for hot
//!    loops): a goroutine whose slice is over goes to the global queue, as in Go.
//! 2. **Hog hand-off.** A goroutine that runs on past [`HOG_GRACE`] more without a
//!    safe point keeps its OS thread but loses its P: sysmon gives the P to another M
//!    (a new thread if none is idle), which runs the other goroutines while the
//!    kernel time-slices the hog's thread. When the hog reaches a safe point its M
//!    has no P: it takes an idle P if there is one, else its goroutine goes to the
//!    global queue and the M parks. Unwrapped blocking calls (`std::fs`,
//!    `std::thread::sleep`, C libraries) are caught the same way, and sooner: when
//!    work waits behind a slice over 1 ms old and the owner's thread is seen asleep
//!    in the kernel twice, 100 us apart (`/proc/self/task/<tid>/stat`), sysmon takes
//!    the P without waiting for the slice to end.
//! 3. **`blocking(f)`** is Go's entersyscall/exitsyscall: the P's state becomes
//!    `SYSCALL` (the M promises not to touch it); sysmon takes it after one pass
//!    (>= 20 us) if other work waits; on return the M takes its P back if it is
//!    still there, else an idle P, else the goroutine goes to the global queue.
//!
//! **Taking a P from a running M safely.** The P's owner touches its P only inside
//! runtime calls. Each runtime call that may touch the P runs inside `InRuntime`,
//! which clears the M's `user` flag on entry and checks the P's ownership word
//! (`P::own`, `epoch | RUNNING`); leaving sets `user` again. Sysmon takes a hog's P in
//! three steps: CAS `own` from `epoch | RUNNING` to `epoch | REVOKING`; a process-wide
//! memory barrier (`membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`); then, if the
//! owner's `user` flag is still set, CAS to `epoch | IDLE` and hand the P off. This
//! is Dekker's protocol with the expensive fence on sysmon's side only: after the
//! barrier, either sysmon sees the owner's `user = false` (and backs off by CAS-ing
//! back to `RUNNING`), or the owner's next ownership check sees `REVOKING` (and CASes
//! it back to `RUNNING`, which makes sysmon's final CAS fail) or `IDLE` (and forgets
//! the P). So the owner's fast path is a plain store, a compiler fence and a load.
//! Where `membarrier` is unavailable (old kernels, valgrind, qemu-user) the owner
//! side uses a full fence instead (`HEAVY_FENCE`).
//!
//! `GORO_NO_MEMBARRIER=1` forces the fence variant (for testing it, and for
//! checkers that do not know the system call).
//!
//! **Trade-offs.** Every hog costs an extra OS thread while it runs (bounded by the
//! M limit, `RuntimeBuilder::max_threads`, default 10,000; exceeding it is a fatal
//! error naming the limit). A hog keeps running in parallel with the Ps (more
//! runnable threads than `procs` for a while), as a Go program's threads in system
//! calls do. A goroutine preempted by its time slice goes to the global queue, so a
//! ping-ponging pair that keeps inheriting its slice through `runnext` gives way
//! every 10 ms.
//!
//! # Invariants
//! 1. While an M's `user` flag is set it does not touch its P, and the flag is set
//!    only by the outermost `InRuntime` (or a new goroutine's entry) on the M the
//!    goroutine runs on.
//! 2. Every context switch happens inside an `InRuntime` (user flag clear), so a
//!    resumed context finds the flag clear and restores its own outer value.
//! 3. An M whose P was taken counts in `Sched::npless` until it takes a P again or
//!    its goroutine is published (global queue, parked, exited): deadlock detection
//!    stays silent while a goroutine may run without a P.
//!
//! # References
//! go/src/runtime/proc.go (sysmon, retake, preemptone, entersyscall, exitsyscall,
//! handoffp); membarrier(2).

use std::sync::atomic::{compiler_fence, fence, AtomicBool, Ordering};
use std::sync::Once;
use std::time::Duration;

use super::m::{current_m, MShared, Pending, M};
use super::p::P;
use super::Sched;

/// A goroutine's time slice (Go's forcePreemptNS).
pub const SLICE: Duration = Duration::from_millis(10);

/// How long past its slice a goroutine may run without a safe point before its M
/// loses the P.
pub const HOG_GRACE: Duration = Duration::from_millis(1);

/// Set when the process could not register for `membarrier`: owners then order their
/// `user` flag against the ownership word with a full fence.
static HEAVY_FENCE: AtomicBool = AtomicBool::new(false);
static MEMBARRIER_INIT: Once = Once::new();

const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Registers the process for expedited private `membarrier` (once, before the first
/// M starts); falls back to owner-side fences if the kernel refuses.
pub(crate) fn init_barrier() {
    MEMBARRIER_INIT.call_once(|| {
        if std::env::var_os("GORO_NO_MEMBARRIER").is_some() {
            HEAVY_FENCE.store(true, Ordering::SeqCst);
            return;
        }
        // SAFETY: membarrier(2) with a register command has no memory effects on us.
        let r = unsafe {
            libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0)
        };
        if r != 0 {
            HEAVY_FENCE.store(true, Ordering::SeqCst);
        }
    });
}

/// Sysmon's side of the protocol: every thread of the process passes a full memory
/// barrier before this returns.
fn process_barrier() {
    if HEAVY_FENCE.load(Ordering::Relaxed) {
        fence(Ordering::SeqCst);
        return;
    }
    // SAFETY: registered by `init_barrier`; the command only issues barriers.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
    if r != 0 {
        // Cannot happen once registered; without the barrier the protocol would be
        // unsound, so stop rather than guess.
        crate::fatal!("membarrier failed after registration");
    }
}

/// Whether the owner of a P may be using it: owners run this between clearing
/// `user` and reading `own`.
#[inline(always)]
fn owner_fence() {
    if HEAVY_FENCE.load(Ordering::Relaxed) {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// Marks the current goroutine as inside a runtime call (invariant 1): sysmon cannot
/// take its M's P until it is dropped. Entering also checks that the M still holds
/// its P, and ends a `blocking` section.
pub(crate) struct InRuntime {
    outer: bool,
}

impl InRuntime {
    /// Enters the runtime on `m`. Only the outermost entry (the goroutine was in its
    /// own code) clears `user` and checks the P; leaving sets `user` again, on the M
    /// the goroutine runs on then.
    #[inline]
    pub(crate) fn enter(m: &'static M) -> InRuntime {
        if !m.shared.user.load(Ordering::Relaxed) {
            return InRuntime { outer: false };
        }
        m.shared.user.store(false, Ordering::Relaxed);
        owner_fence();
        match m.p() {
            Some(p) => {
                if !p.own.check(m.epoch.get()) {
                    // Sysmon took the P while we ran our own code.
                    m.lose_p();
                }
            }
            None => exitsyscall(m),
        }
        InRuntime { outer: true }
    }

    /// Leaves on `m`, the M the goroutine runs on now.
    #[inline]
    pub(crate) fn leave_on(self, m: &'static M) {
        if self.outer {
            m.shared.user.store(true, Ordering::Release);
        }
        std::mem::forget(self);
    }
}

impl Drop for InRuntime {
    fn drop(&mut self) {
        if self.outer {
            // A switch may have moved us (sched/m.rs invariant 4).
            if let Some(m) = current_m() {
                m.shared.user.store(true, Ordering::Release);
            }
        }
    }
}

/// A goroutine that ran without a P was published and its M stops (invariant 3).
pub(crate) fn pless_done(s: &'static Sched) {
    if s.npless.fetch_sub(1, Ordering::SeqCst) == 1 && s.npidle.load(Ordering::SeqCst) == s.procs {
        super::deadlock::check(s);
    }
}

/// A safe point: ends the goroutine's time slice if sysmon asked for it, and parks
/// a goroutine whose M lost its P (Go's preemption check at a function prologue).
///
/// Cheap (a thread-local read and a load) when nothing is asked: call it in long
/// loops that make no other runtime call. Every channel operation, lock, sleep,
/// spawn and yield runs it. No-op on a plain OS thread.
#[inline]
pub fn check() {
    let Some(m) = current_m() else { return };
    if m.shared.attention.load(Ordering::Relaxed) && !m.curg_ptr().is_null() {
        check_slow(m);
    }
}

#[cold]
#[inline(never)]
fn check_slow(m: &'static M) {
    if std::thread::panicking() {
        // Unwinding goroutines stay on their thread (DESIGN.md §12).
        return;
    }
    m.shared.attention.store(false, Ordering::Relaxed);
    let rt = InRuntime::enter(m);
    let g = m.curg_ptr();
    match m.p() {
        None => {
            // Our P was taken (hog or blocking call): an idle P, else the global
            // queue and this M parks.
            if let Some(p) = m.sched.pidle_get() {
                m.take_p(p);
                rt.leave_on(m);
                return;
            }
            m.sched.stats_pless_requeues.fetch_add(1, Ordering::Relaxed);
            let m = super::m::schedule_from_g(m, Pending::Requeue(g));
            rt.leave_on(m);
        }
        Some(p) => {
            if !p.preempt_requested() {
                rt.leave_on(m);
                return;
            }
            p.preempt_at.store(0, Ordering::Relaxed);
            if !p.has_work() && m.sched.inject_len.load(Ordering::Relaxed) == 0 {
                // Nothing else to run after all: start a new slice here.
                P::bump(&p.schedtick);
                rt.leave_on(m);
                return;
            }
            m.sched.stats_preemptions.fetch_add(1, Ordering::Relaxed);
            let m = super::m::schedule_from_g(m, Pending::Requeue(g));
            rt.leave_on(m);
        }
    }
}

/// Runs `f`, a call that may block its OS thread (a system call, a C library, a
/// blocking `std` API), without holding up other goroutines (Go's
/// entersyscall/exitsyscall).
///
/// The P stays with the thread for a cheap return, but if other goroutines are
/// waiting, sysmon hands it to another thread within about 20 us. On return the
/// goroutine takes its P back, or an idle P, or waits in the global queue. On a
/// plain OS thread it just calls `f`. Blocking calls that nobody wraps are caught
/// too, but only after a time slice (10 ms), so wrap the ones you know about.
/// Channel, lock and other runtime calls made inside `f` end the blocking section
/// early (they run with the P again).
#[doc(alias = "entersyscall")]
pub fn blocking<F: FnOnce() -> T, T>(f: F) -> T {
    let Some(m) = current_m() else { return f() };
    if m.curg_ptr().is_null() {
        return f();
    }
    entersyscall(m);
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            let Some(m) = current_m() else { return };
            let rt = InRuntime::enter(m);
            exitsyscall(m); // (a no-op if entering did it)
            if std::thread::panicking() || m.p().is_some() {
                rt.leave_on(m);
                return;
            }
            drop(rt);
            check_slow(m);
        }
    }
    let exit = Exit;
    let r = f();
    drop(exit);
    r
}

fn entersyscall(m: &'static M) {
    let rt = InRuntime::enter(m);
    if let Some(p) = m.p() {
        let e = m.epoch.get();
        m.lose_p();
        p.syscall_when.store(crate::timer::nanotime(), Ordering::Relaxed);
        if p.own.enter_syscall(e) {
            m.syscall.set(Some(p));
            let s = m.sched;
            if p.has_work() || s.inject_len.load(Ordering::Relaxed) > 0 {
                // Work is waiting: have sysmon look at this P soon.
                super::sysmon::nudge(s);
            }
        }
    }
    rt.leave_on(m);
}

/// Ends a `blocking` section: takes the set-aside P back if sysmon left it, else an
/// idle P; else the M stays without a P (the caller's next safe point parks it).
fn exitsyscall(m: &'static M) {
    let Some(p) = m.syscall.take() else { return };
    if p.own.exit_syscall(m.epoch.get()) {
        m.regain_p(p);
        return;
    }
    if let Some(p) = m.sched.pidle_get() {
        m.take_p(p);
    }
}

/// Sysmon: takes P `p` from a goroutine that ran past its slice without a safe point
/// (`w` is the `epoch | RUNNING` word sysmon observed). Returns whether it did.
pub(crate) fn retake_hog(s: &'static Sched, p: &'static P, w: u64) -> bool {
    if !p.own.revoke_begin(w) {
        return false;
    }
    process_barrier();
    let owner = p.m.load(Ordering::Acquire);
    // SAFETY: `owner` is the MShared of the M that took the P for this epoch (stored
    // before `own` was published); Ms are never freed (m.rs leaks them).
    let owner = unsafe { &*owner };
    if !owner.user.load(Ordering::Acquire) {
        // The owner is inside a runtime call: it reaches a safe point soon. (Fails
        // harmlessly if the owner already took the word back.)
        p.own.revoke_cancel(w);
        return false;
    }
    take(s, p, owner, || p.own.revoke_finish(w))
}

/// Sysmon: asks the goroutine running on `p` to end its time slice `tick` at its
/// next safe point.
pub(crate) fn request_preempt(p: &'static P, tick: u64) {
    p.preempt_at.store(tick + 1, Ordering::Release);
    let owner = p.m.load(Ordering::Acquire);
    // SAFETY: as in `retake_hog`.
    unsafe { (*owner).attention.store(true, Ordering::Release) };
}

/// Sysmon: takes P `p` from an M inside `blocking` (`w` is `epoch | SYSCALL`).
pub(crate) fn retake_syscall(s: &'static Sched, p: &'static P, w: u64) -> bool {
    let owner = p.m.load(Ordering::Acquire);
    // SAFETY: as in `retake_hog`.
    let owner = unsafe { &*owner };
    take(s, p, owner, || p.own.retake_syscall(w))
}

/// Marks `owner` as having lost its P (counted before the final CAS, so that the
/// owner can never see the loss first: invariant 3), runs the CAS, and hands the P
/// off if it succeeded.
fn take(s: &'static Sched, p: &'static P, owner: &MShared, cas: impl FnOnce() -> bool) -> bool {
    owner.lost.store(true, Ordering::SeqCst);
    s.npless.fetch_add(1, Ordering::SeqCst);
    if cas() {
        owner.attention.store(true, Ordering::Release);
        s.stats_handoffs.fetch_add(1, Ordering::Relaxed);
        s.handoff_p(p);
        return true;
    }
    if owner.lost.swap(false, Ordering::AcqRel) {
        s.npless.fetch_sub(1, Ordering::SeqCst);
    }
    false
}
