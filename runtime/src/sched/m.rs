//! The M: an OS thread that runs goroutines while it holds a P, and its scheduler loop.
//!
//! # Design
//! Each M has a `g0`: its own OS thread stack, on which the scheduler loop
//! ([`schedule_loop`]) searches for work, steals, runs timers and sleeps. A goroutine
//! that stops running ([`schedule_from_g`]: yield, park, exit) first tries the fast
//! path: if its P's `runnext` or local queue has a goroutine (and no timer is due and
//! it is not the 61st tick with a non-empty global queue), it switches *directly* to
//! it, one switch. Only when the P has nothing local does it switch to `g0`, which
//! runs the full search (global queue, stealing, parking the M).
//!
//! **Switch, then release** (sched/mod.rs invariant 1): the goroutine that stops
//! running never publishes itself. It leaves a [`Pending`] note in its M; whatever
//! context runs next on that M (the next goroutine, right after its `switch` returns,
//! or `g0`) calls [`after_switch`], which puts a yielding G on the run queue, marks a
//! parking G `PARKED` (after running its unlock callback), or frees an exiting G's
//! stack. By then the old goroutine's context is completely saved.
//!
//! # Invariants
//! 1. While a goroutine runs on an M, `M::g0` holds the M's suspended scheduler
//!    context.
//! 2. `M::pending` is set only by the context about to switch away, and consumed by
//!    the first context that runs on the same M afterwards, before anything else.
//! 3. `M` is touched only by its own thread (all `Cell`s); other threads reach an M
//!    through its [`MShared`] half only.
//! 4. Code running on a goroutine stack re-reads the current M after every switch
//!    (through [`current_m`]): the goroutine may have moved to another thread.

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use goro_asm::Context;

use super::g::{Status, G};
use super::idle::Note;
use super::p::P;
use super::park::{IDLE, NOTIFIED, PARKED};
use super::Sched;
use crate::timer::nanotime;

/// The cross-thread half of an M: what other threads use to hand it work.
pub(crate) struct MShared {
    /// Sequence number of the M (for thread names).
    pub(crate) id: usize,
    /// Woken to hand over a P (and maybe a locked G).
    pub(crate) note: Note,
    /// P index + 1 handed over (0: none). Written by the waker before `note.wake()`.
    pub(crate) nextp: AtomicUsize,
    /// Whether the M starts spinning with `nextp`. Written before `note.wake()`.
    pub(crate) spinning: AtomicBool,
    /// A goroutine locked to this M, handed over with `nextp`.
    pub(crate) nextg: AtomicPtr<G>,
    /// Whether the running goroutine is in its own code, outside every runtime call
    /// (preempt.rs): only then may sysmon take this M's P from under it. Written by
    /// the M only, read by sysmon.
    pub(crate) user: AtomicBool,
    /// Set by sysmon when it wants the running goroutine to look at its state at the
    /// next safe point (its slice is over, or its P was taken); cleared there.
    pub(crate) attention: AtomicBool,
    /// Set by sysmon when it takes this M's P (hog or blocking call) and counted in
    /// `Sched::npless`; cleared (and uncounted) by whoever swaps it back to false.
    pub(crate) lost: AtomicBool,
    /// The M's kernel thread id (sysmon reads its state in /proc).
    pub(crate) tid: AtomicI32,
}

/// Calls a parking goroutine's closure; returns false to cancel the park.
pub(crate) type CallbackFn = unsafe fn(*mut u8) -> bool;

/// A callback run by [`after_switch`] for a parking goroutine (Go's `unlockf`).
#[derive(Clone, Copy)]
pub(crate) struct Callback {
    /// The closure's storage on the parked goroutine's stack.
    pub(crate) data: *mut u8,
    /// Calls the closure; returns false to cancel the park.
    pub(crate) call: CallbackFn,
}

/// What a parking goroutine needs done once it is switched out.
#[derive(Clone, Copy)]
pub(crate) enum Commit {
    /// Nothing: publish the park.
    None,
    /// Run the callback, then publish the park (unless the callback cancels it).
    Call(Callback),
    /// `park::park_exclusive`: publish the park by a plain store (no unpark can come
    /// before this lock word is released), then release the runtime lock word.
    Unlock(*const crate::loom::sync::atomic::AtomicU32),
}

/// What the context switched to must do for the one that switched away (invariant 2).
#[derive(Clone, Copy)]
pub(crate) enum Pending {
    None,
    /// Put the G on the local run queue.
    Yield(*mut G),
    /// Put the G on the global run queue (its time slice is over, or its M lost
    /// the P).
    Requeue(*mut G),
    /// Publish the G as parked, around its commit.
    Park(*mut G, Commit),
    /// Free the G's stack and record.
    Exit(*mut G),
}

/// A [`Pending`] kept as separate words. Setting it is a few scalar stores (the
/// variant is known at each call site), and [`take`](Self::take) reads it back with
/// scalar loads. A `Cell<Pending>` was assembled on the stack and copied in with
/// 16-byte moves whose loads could not be forwarded from the 8-byte stores that had
/// just built it (a store-forwarding stall on every park, ~4 % of a ping-pong round
/// trip in perf).
struct PendingCell {
    kind: Cell<PendingKind>,
    g: Cell<*mut G>,
    /// `Commit::Call`'s closure storage.
    data: Cell<*mut u8>,
    /// `Commit::Call`'s function.
    call: Cell<Option<CallbackFn>>,
    /// `Commit::Unlock`'s lock word.
    word: Cell<*const crate::loom::sync::atomic::AtomicU32>,
}

/// Which [`Pending`] a [`PendingCell`] holds (the park's commit folded in).
#[derive(Clone, Copy)]
enum PendingKind {
    None,
    Yield,
    Requeue,
    Park,
    ParkCall,
    ParkUnlock,
    Exit,
}

impl PendingCell {
    const fn new() -> PendingCell {
        PendingCell {
            kind: Cell::new(PendingKind::None),
            g: Cell::new(ptr::null_mut()),
            data: Cell::new(ptr::null_mut()),
            call: Cell::new(None),
            word: Cell::new(ptr::null()),
        }
    }

    #[inline(always)]
    fn set(&self, p: Pending) {
        let (kind, g) = match p {
            Pending::None => (PendingKind::None, ptr::null_mut()),
            Pending::Yield(g) => (PendingKind::Yield, g),
            Pending::Requeue(g) => (PendingKind::Requeue, g),
            Pending::Park(g, Commit::None) => (PendingKind::Park, g),
            Pending::Park(g, Commit::Call(cb)) => {
                self.data.set(cb.data);
                self.call.set(Some(cb.call));
                (PendingKind::ParkCall, g)
            }
            Pending::Park(g, Commit::Unlock(word)) => {
                self.word.set(word);
                (PendingKind::ParkUnlock, g)
            }
            Pending::Exit(g) => (PendingKind::Exit, g),
        };
        self.g.set(g);
        self.kind.set(kind);
    }

    /// The pending work, leaving `Pending::None`.
    #[inline(always)]
    fn take(&self) -> Pending {
        let g = self.g.get();
        match self.kind.replace(PendingKind::None) {
            PendingKind::None => Pending::None,
            PendingKind::Yield => Pending::Yield(g),
            PendingKind::Requeue => Pending::Requeue(g),
            PendingKind::Park => Pending::Park(g, Commit::None),
            PendingKind::ParkCall => Pending::Park(
                g,
                Commit::Call(Callback {
                    data: self.data.get(),
                    call: self.call.get().expect("a pending park callback"),
                }),
            ),
            PendingKind::ParkUnlock => Pending::Park(g, Commit::Unlock(self.word.get())),
            PendingKind::Exit => Pending::Exit(g),
        }
    }
}

/// An OS thread running goroutines (thread-local; invariant 3).
pub(crate) struct M {
    pub(crate) sched: &'static Sched,
    pub(crate) shared: Arc<MShared>,
    /// The P held, or null.
    p: Cell<*const P>,
    /// The epoch of `P::own` that this M holds its P under.
    pub(crate) epoch: Cell<u64>,
    /// The P set aside by `blocking` (state `SYSCALL`) and its epoch.
    /// (`epoch` stays that of the P set aside: nothing takes a P before the section
    /// ends.)
    pub(crate) syscall: Cell<Option<&'static P>>,
    /// The goroutine running on this M, or null on g0.
    curg: Cell<*mut G>,
    /// The scheduler's context (invariant 1).
    g0: UnsafeCell<Context>,
    pending: PendingCell,
    /// Whether this M is counted in `Sched::nmspinning`.
    spinning: Cell<bool>,
    rng: Cell<u64>,
    /// The goroutine locked to this M (`lock_os_thread`), or null.
    pub(crate) locked_g: Cell<*mut G>,
    /// A goroutine the fast path took but could not run here (locked elsewhere).
    next_local: Cell<*mut G>,
}

thread_local! {
    static CURRENT_M: Cell<*const M> = const { Cell::new(ptr::null()) };
}

/// The M of the calling thread, or `None` on a plain OS thread.
///
/// Never inlined, with compiler fences around the thread-local read, so that no
/// thread-local address is cached across a context switch (DESIGN.md §12).
#[inline(never)]
pub(crate) fn current_m() -> Option<&'static M> {
    read_current_m()
}

/// The index of the P held by the calling thread's M, if any: `current_m()?.p()?.id`
/// in one call (goro-sync's `RwMutex` asks on every read lock). Never inlined, as
/// `current_m`.
#[inline(never)]
pub(crate) fn current_proc() -> Option<usize> {
    read_current_m()?.p().map(|p| p.id)
}

/// The thread-local read behind `current_m` and `current_proc`, between compiler
/// fences; only those never-inlined accessors may contain it (DESIGN.md §12).
#[inline(always)]
fn read_current_m() -> Option<&'static M> {
    compiler_fence(Ordering::SeqCst);
    let m = CURRENT_M.with(|c| c.get());
    compiler_fence(Ordering::SeqCst);
    // SAFETY: a non-null pointer is the leaked (`'static`) M of this thread, set by
    // `mstart`, used only by this thread (invariant 3).
    unsafe { m.as_ref() }
}

impl M {
    /// The P held, if any.
    #[inline]
    pub(crate) fn p(&self) -> Option<&'static P> {
        // SAFETY: the pointer is null or one of the Sched's Ps (leaked, `'static`).
        unsafe { self.p.get().as_ref() }
    }

    /// The running goroutine. Fatal on g0 (a park from scheduler code).
    #[inline]
    pub(crate) fn curg(&self) -> &'static G {
        let g = self.curg.get();
        if g.is_null() {
            crate::fatal!("park or goroutine operation on the scheduler stack");
        }
        // SAFETY: non-null curg is a G record (`'static`).
        unsafe { &*g }
    }

    /// The running goroutine, or null on g0.
    #[inline]
    pub(crate) fn curg_ptr(&self) -> *mut G {
        self.curg.get()
    }

    /// Takes P `p` (idle, or handed to this M): starts a new ownership epoch.
    pub(crate) fn take_p(&'static self, p: &'static P) {
        debug_assert!(self.p.get().is_null(), "take_p while holding a P");
        p.m.store(Arc::as_ptr(&self.shared).cast_mut(), Ordering::Relaxed);
        p.preempt_at.store(0, Ordering::Relaxed);
        let e = p.own.acquire();
        self.epoch.set(e);
        self.p.set(p);
        if self.shared.lost.swap(false, Ordering::AcqRel) {
            self.sched.npless.fetch_sub(1, Ordering::SeqCst);
        }
        if self.sched.sysmon_idle.load(Ordering::SeqCst) {
            super::sysmon::wake(self.sched);
        }
    }

    /// Gives up the P held (it goes idle or to another M next).
    pub(crate) fn release_p(&self) -> Option<&'static P> {
        let p = self.p()?;
        p.own.release(self.epoch.get());
        self.p.set(ptr::null());
        Some(p)
    }

    /// Takes back the P set aside by `blocking` (same epoch: sysmon left it).
    pub(crate) fn regain_p(&self, p: &'static P) {
        self.p.set(p);
    }

    /// Forgets the P after sysmon took it (`own` no longer holds our token).
    pub(crate) fn lose_p(&self) {
        self.p.set(ptr::null());
    }

    pub(crate) fn fastrand(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x >> 32) as u32
    }
}

/// Starts a new M thread holding P `p`.
pub(crate) fn spawn_m(sched: &'static Sched, p: usize, spinning: bool) {
    let id = sched.mcount.fetch_add(1, Ordering::Relaxed);
    if id >= sched.max_threads {
        crate::fatal::fatal_thread_limit(sched.max_threads);
    }
    let shared = Arc::new(MShared {
        id,
        note: Note::new(),
        nextp: AtomicUsize::new(0),
        spinning: AtomicBool::new(false),
        nextg: AtomicPtr::new(ptr::null_mut()),
        user: AtomicBool::new(false),
        attention: AtomicBool::new(false),
        lost: AtomicBool::new(false),
        tid: AtomicI32::new(0),
    });
    super::sysmon::ensure_started(sched);
    let r = std::thread::Builder::new()
        .name(format!("goro-m{id}"))
        .spawn(move || mstart(sched, shared, p, spinning));
    if r.is_err() {
        crate::fatal!("newosproc: cannot create an OS thread");
    }
}

fn mstart(sched: &'static Sched, shared: Arc<MShared>, p: usize, spinning: bool) {
    goro_stack::ensure_thread_ready();
    shared.tid.store(super::external::gettid(), Ordering::Relaxed);
    let seed = (shared.id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let m: &'static M = Box::leak(Box::new(M {
        sched,
        shared,
        p: Cell::new(ptr::null()),
        epoch: Cell::new(0),
        syscall: Cell::new(None),
        curg: Cell::new(ptr::null_mut()),
        g0: UnsafeCell::new(Context::empty()),
        pending: PendingCell::new(),
        spinning: Cell::new(spinning),
        rng: Cell::new(seed),
        locked_g: Cell::new(ptr::null_mut()),
        next_local: Cell::new(ptr::null_mut()),
    }));
    CURRENT_M.with(|c| c.set(m));
    m.take_p(&sched.ps[p]);
    super::external::runtime_thread_start();
    schedule_loop(m);
    super::external::runtime_thread_exit();
    CURRENT_M.with(|c| c.set(ptr::null()));
    sched.mcount.fetch_sub(1, Ordering::Relaxed);
}

/// The scheduler loop on g0. Returns only when the runtime shuts down.
fn schedule_loop(m: &'static M) {
    loop {
        after_switch(m);
        if m.p.get().is_null() && m.shared.lost.swap(false, Ordering::AcqRel) {
            // Our goroutine ran without a P (hog or blocking call) and has now been
            // published; this M stops.
            super::preempt::pless_done(m.sched);
        }
        let g = if !m.locked_g.get().is_null() {
            match stop_locked_m(m) {
                Some(g) => g,
                None => return,
            }
        } else {
            let g = m.next_local.replace(ptr::null_mut());
            let g = if g.is_null() {
                match find_runnable(m) {
                    Some(g) => g,
                    None => return,
                }
            } else {
                g
            };
            if m.spinning.get() {
                reset_spinning(m);
            }
            // SAFETY: `g` came out of a run queue: a live G record (in a stack header,
            // never unmapped).
            let lm = unsafe { (*g).locked_m.load(Ordering::Acquire) };
            if !lm.is_null() && !ptr::eq(lm, Arc::as_ptr(&m.shared)) {
                start_locked_m(m, g, lm);
                continue;
            }
            g
        };
        execute(m, g, false);
    }
}

/// Runs `g` on this M (g0 only): switches to it; returns when g0 is resumed.
fn execute(m: &'static M, g: *mut G, inherit: bool) {
    let p = m.p().expect("execute without a P");
    if !inherit {
        P::bump(&p.schedtick);
    }
    P::bump(&p.switches);
    P::bump(&p.g0_switches);
    m.curg.set(g);
    // SAFETY: `g` was taken out of a run queue by this M: Runnable, its context saved
    // and published (sched/mod.rs invariant 1), owned by us now (g.rs invariant 2).
    unsafe { (*g).set_status(Status::Running) };
    // SAFETY: invariant 1 — we are g0, saving into our own slot; `g.ctx` holds a
    // suspended context nobody else resumes (we own g).
    unsafe { goro_asm::switch(m.g0.get(), (*g).ctx.get(), 0) };
}

/// Called by a goroutine that stops running; `pending` says what happens to it.
/// Returns when the goroutine is resumed (never for `Pending::Exit`), with the M it
/// runs on now.
#[inline]
pub(crate) fn schedule_from_g(m: &'static M, pending: Pending) -> &'static M {
    crate::lockorder::assert_none_held();
    let rt = super::preempt::InRuntime::enter(m);
    let g = m.curg.get();
    m.pending.set(pending);
    let next = if m.locked_g.get().is_null() { fast_next(m) } else { None };
    // SAFETY: `g` is the running goroutine (a G record in a stack header); its `ctx`
    // slot is written only by this switch (g.rs invariant 2).
    let from = unsafe { (*g).ctx.get() };
    match next {
        Some((next, inherit)) => {
            let p = m.p().expect("running goroutine without a P");
            if !inherit {
                P::bump(&p.schedtick);
            }
            P::bump(&p.switches);
            m.curg.set(next);
            // SAFETY: `next` was taken out of our P's queue: Runnable, context saved
            // and published, now owned by this M.
            unsafe { (*next).set_status(Status::Running) };
            // SAFETY: `from` is our own slot; `next.ctx` is suspended and ours to
            // resume; `after_switch` on the other side publishes us only after this
            // switch stored our context (switch, then release).
            unsafe { goro_asm::switch(from, (*next).ctx.get(), 0) };
        }
        None => {
            m.curg.set(ptr::null_mut());
            // SAFETY: invariant 1 — g0 is suspended while we run; `from` as above.
            unsafe { goro_asm::switch(from, m.g0.get(), 0) };
        }
    }
    // Resumed, possibly on another thread (invariant 4).
    let m = current_m().expect("goroutine resumed outside an M");
    after_switch(m);
    rt.leave_on(m);
    m
}

/// The fast path's pick: local work only, and only if nothing needs g0.
#[inline]
fn fast_next(m: &'static M) -> Option<(*mut G, bool)> {
    let p = m.p()?;
    let when = p.timers.next_when();
    if when != u64::MAX && when <= nanotime() {
        return None;
    }
    if p.global_turn(&m.sched.inject_len) {
        return None;
    }
    let (g, inherit) = p.get()?;
    // SAFETY: a queued G is a live G record (a stack header, never unmapped).
    let lm = unsafe { (*g).locked_m.load(Ordering::Acquire) };
    if !lm.is_null() && !ptr::eq(lm, Arc::as_ptr(&m.shared)) {
        m.next_local.set(g);
        return None;
    }
    Some((g, inherit))
}

/// Completes the previous context's switch on this M (invariant 2).
pub(crate) fn after_switch(m: &'static M) {
    match m.pending.take() {
        Pending::None => {}
        Pending::Yield(g) => {
            // SAFETY: the yielding G's context is saved (we run after its switch).
            let gr = unsafe { &*g };
            gr.set_status(Status::Runnable);
            match m.p() {
                Some(p) => {
                    if let Some(o) = p.put(g, false) {
                        m.sched.inject_overflow(o);
                    }
                }
                None => m.sched.inject_one(g),
            }
        }
        Pending::Requeue(g) => {
            // SAFETY: as above.
            unsafe { (*g).set_status(Status::Runnable) };
            m.sched.inject_one(g);
        }
        Pending::Park(g, Commit::Unlock(word)) => {
            // SAFETY: a G record (a stack header, never unmapped).
            let g = unsafe { &*g };
            // `park_exclusive`'s contract: no unpark of this park before the lock is
            // released, so nobody else writes the word until then (park.rs invariant
            // 3). Release: whoever takes the lock next and unparks us sees our
            // context saved.
            let gen = g.park.load(Ordering::Relaxed) >> 2;
            g.park.store((gen << 2) | PARKED, Ordering::Release);
            // SAFETY: `park_exclusive` took the word from a guard it forgot: the lock
            // is held for the parked goroutine, which cannot run (or return from the
            // lock's owner) before this release.
            unsafe { crate::lock::unlock_word(&*word) };
        }
        Pending::Park(g, commit @ (Commit::None | Commit::Call(_))) => {
            let keep = match commit {
                // SAFETY: the callback's data lives on the parked goroutine's stack,
                // which cannot run before we publish it below.
                Commit::Call(cb) => unsafe { (cb.call)(cb.data) },
                _ => true,
            };
            // SAFETY: a G record (a stack header, never unmapped).
            let g = unsafe { &*g };
            let gen = g.park.load(Ordering::Acquire) >> 2;
            if !keep {
                // Cancelled: IDLE or NOTIFIED both become NOTIFIED; nobody else readies
                // a G that was never PARKED (park.rs invariant 2).
                g.park.fetch_or(NOTIFIED, Ordering::AcqRel);
                super::ready(g);
            } else if g
                .park
                .compare_exchange(
                    (gen << 2) | IDLE,
                    (gen << 2) | PARKED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                // Unparked before we could publish the park: run it again.
                super::ready(g);
            }
        }
        Pending::Exit(g) => free_g(m, g),
    }
}

/// Frees an exited goroutine: its record dies, then its stack — and with it the record,
/// which lives in the stack's header (g.rs) — goes back to the pool.
fn free_g(m: &'static M, g: *mut G) {
    // SAFETY: the exited G never runs again; its context is saved; we own it.
    let gr = unsafe { &*g };
    // SAFETY: g.rs invariant 2 — the owning M (us) takes the stack.
    let stack = unsafe { gr.take_stack() };
    // SAFETY: as above, we own the record.
    unsafe { *gr.name.get() = None };
    // g.rs invariant 4: the goroutine's completion took its join packet reference.
    debug_assert!(gr.join.load(Ordering::Relaxed).is_null(), "free_g: join packet still set");
    let w = gr.park.load(Ordering::Acquire);
    gr.park.store(((w >> 2) + 1) << 2, Ordering::Release);
    gr.set_status(Status::Dead);
    gr.locked.store(0, Ordering::Relaxed);
    gr.locked_m.store(ptr::null_mut(), Ordering::Relaxed);
    if m.locked_g.get() == g {
        m.locked_g.set(ptr::null_mut());
    }
    match m.p() {
        Some(p) => p.add_gcount(-1),
        // Exited while its M had lost the P (counted as spawned somewhere: balance the
        // sum in the runtime-wide counter).
        None => _ = m.sched.ngoroutines_ext.fetch_sub(1, Ordering::Relaxed),
    }
    // Last: from here the slot, header included, may belong to the next goroutine
    // (g.rs invariant 5). The pool clears the owner id, which is `G::id`.
    drop(stack);
}

/// A goroutine's last act: switch away for good.
pub(crate) fn goexit() -> ! {
    let m = current_m().expect("goexit outside an M");
    let g = m.curg_ptr();
    schedule_from_g(m, Pending::Exit(g));
    crate::fatal!("goexit: an exited goroutine was resumed")
}

fn reset_spinning(m: &'static M) {
    m.spinning.set(false);
    let prev = m.sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
    if prev == 0 {
        crate::fatal!("findrunnable: negative nmspinning");
    }
    if prev == 1 {
        // We were the last spinner and found work: there may be more.
        m.sched.wakep();
    }
}

/// Finds a goroutine to run, stealing and sleeping as needed (g0 only). `None`:
/// the runtime is shutting down.
fn find_runnable(m: &'static M) -> Option<*mut G> {
    let sched = m.sched;
    'top: loop {
        if sched.shutdown.load(Ordering::Acquire) {
            if let Some(p) = m.release_p() {
                sched.pidle_put(p);
            }
            if m.spinning.replace(false) {
                sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return None;
        }
        let Some(p) = m.p() else {
            if !stop_m(m) {
                return None;
            }
            continue;
        };
        let when = p.timers.next_when();
        if when != u64::MAX {
            let now = nanotime();
            if when <= now {
                p.timers.run_due(now, sched);
            }
        }
        if p.global_turn(&sched.inject_len) {
            if let Some(g) = sched.inject_get(p, 1) {
                return Some(g);
            }
        }
        if let Some((g, _)) = p.get() {
            return Some(g);
        }
        if sched.inject_len.load(Ordering::Relaxed) > 0 {
            if let Some(g) = sched.inject_get(p, 0) {
                return Some(g);
            }
        }
        let busy = sched.procs - sched.npidle.load(Ordering::SeqCst);
        if m.spinning.get() || 2 * sched.nmspinning.load(Ordering::SeqCst) < busy {
            if !m.spinning.get() {
                m.spinning.set(true);
                sched.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(g) = steal_work(m, p) {
                return Some(g);
            }
        }
        // Nothing to do: give the P back.
        let all_idle;
        {
            let mut l = sched.lock();
            if !l.inject.is_empty() {
                let g = sched.inject_get_locked(&mut l, p, 0);
                drop(l);
                return g;
            }
            m.release_p();
            all_idle = sched.pidle_put_locked(&mut l, p);
        }
        if m.spinning.replace(false) {
            let prev = sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
            if prev == 0 {
                crate::fatal!("findrunnable: negative nmspinning");
            }
            // A goroutine made runnable after our checks, while we were still counted
            // as spinning, got no wakep: look once more (the decrement above and the
            // loads below are SeqCst, as are the pusher's store and its load of
            // `nmspinning` in `wakep`: one of the two sides sees the other).
            let global = sched.inject_len.load(Ordering::SeqCst) > 0;
            for q in sched.ps.iter() {
                if global || q.has_work() {
                    if let Some(p2) = sched.pidle_get() {
                        m.take_p(p2);
                        m.spinning.set(true);
                        sched.nmspinning.fetch_add(1, Ordering::SeqCst);
                        continue 'top;
                    }
                    break;
                }
            }
        }
        if all_idle {
            super::deadlock::check(sched);
        }
        if !stop_m(m) {
            return None;
        }
    }
}

/// How long a thief leaves a running P's `runnext` alone before stealing it.
const RUNNEXT_GRACE: std::time::Duration = std::time::Duration::from_micros(3);

/// Steals from other Ps: several passes over them in random order; on the last pass
/// also their due timers and `runnext`.
fn steal_work(m: &'static M, p: &'static P) -> Option<*mut G> {
    let sched = m.sched;
    let n = sched.procs;
    if n == 1 {
        return None;
    }
    const PASSES: usize = 4;
    for pass in 0..PASSES {
        let last = pass == PASSES - 1;
        let start = m.fastrand() as usize % n;
        let step = sched.coprimes[m.fastrand() as usize % sched.coprimes.len()];
        for i in 0..n {
            let v = &sched.ps[(start + i * step) % n];
            if v.id == p.id {
                continue;
            }
            if last {
                let when = v.timers.next_when();
                if when != u64::MAX {
                    let now = nanotime();
                    if when <= now && v.timers.run_due(now, sched) > 0 {
                        if let Some((g, _)) = p.get() {
                            return Some(g);
                        }
                    }
                }
            }
            if let Some(g) = v.runq.steal_into(&p.runq) {
                P::bump(&p.steals);
                return Some(g);
            }
            if last && !v.runnext.load(Ordering::Acquire).is_null() {
                // Go's runqgrab: `runnext` is usually a goroutine its P's running one
                // just woke (the other end of a channel), and that P will run it as
                // soon as the waker blocks. Taking it at once splits the pair over two
                // threads that then fight over the channel's lock, so give the owner
                // a moment before stealing. Sleep rather than spin, as Go does
                // (`usleep(3)`; the kernel's timer slack makes it tens of µs): a
                // spinning thief takes a CPU from the pair it waits for, and a holder
                // of the channel's lock descheduled for it stalls both (on 2 cores a
                // 3 µs spin cost 1.3-2.2x in buffered, select and procs-2 ping-pong).
                std::thread::sleep(RUNNEXT_GRACE);
                let rn = v.runnext.load(Ordering::Acquire);
                if !rn.is_null()
                    && v.runnext
                        .compare_exchange(rn, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    P::bump(&p.steals);
                    return Some(rn);
                }
            }
        }
    }
    None
}

/// Parks this M (without a P) until someone hands it one. `false`: shutdown.
fn stop_m(m: &'static M) -> bool {
    let sched = m.sched;
    sched.midle_put(m.shared.clone());
    loop {
        m.shared.note.sleep(None);
        let np = m.shared.nextp.swap(0, Ordering::AcqRel);
        if np != 0 {
            m.take_p(&sched.ps[np - 1]);
            m.spinning.set(m.shared.spinning.load(Ordering::Acquire));
            return true;
        }
        if sched.shutdown.load(Ordering::Acquire) {
            return false;
        }
    }
}

/// Hands our P and `g` to the M that `g` is locked to; we go idle.
fn start_locked_m(m: &'static M, g: *mut G, lm: *mut MShared) {
    let p = m.release_p().expect("startlockedm without a P");
    // SAFETY: `locked_m` points to the MShared of a live locked M (kept alive by that
    // M's own Arc while it has a locked G).
    let target = unsafe { &*lm };
    target.nextg.store(g, Ordering::Release);
    target.spinning.store(false, Ordering::Release);
    target.nextp.store(p.id + 1, Ordering::Release);
    target.note.wake();
}

/// A locked M whose goroutine stopped running: give the P away and sleep until the
/// goroutine is runnable again and handed back with a P. `None`: shutdown.
fn stop_locked_m(m: &'static M) -> Option<*mut G> {
    let sched = m.sched;
    let locked = m.locked_g.get();
    // SAFETY: a G record (a stack header, never unmapped).
    if unsafe { (*locked).status() } == Status::Dead {
        m.locked_g.set(ptr::null_mut());
        return None;
    }
    if let Some(p) = m.release_p() {
        sched.handoff_p(p);
    }
    loop {
        m.shared.note.sleep(None);
        let np = m.shared.nextp.swap(0, Ordering::AcqRel);
        if np != 0 {
            m.take_p(&sched.ps[np - 1]);
            let g = m.shared.nextg.swap(ptr::null_mut(), Ordering::AcqRel);
            debug_assert_eq!(g, locked);
            return Some(g);
        }
        if sched.shutdown.load(Ordering::Acquire) {
            return None;
        }
    }
}

/// Marks the running goroutine locked to this M (`lock_os_thread`).
pub(crate) fn lock_current(m: &'static M) {
    let g = m.curg();
    if g.locked.fetch_add(1, Ordering::Relaxed) == 0 {
        g.locked_m.store(Arc::as_ptr(&m.shared).cast_mut(), Ordering::Release);
        m.locked_g.set(ptr::from_ref(g).cast_mut());
    }
}

/// Undoes one `lock_current`.
pub(crate) fn unlock_current(m: &'static M) {
    let g = m.curg();
    let n = g.locked.load(Ordering::Relaxed);
    if n == 0 {
        return;
    }
    g.locked.store(n - 1, Ordering::Relaxed);
    if n == 1 {
        g.locked_m.store(ptr::null_mut(), Ordering::Release);
        m.locked_g.set(ptr::null_mut());
    }
}
