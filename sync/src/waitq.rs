//! The FIFO waiter queue every blocking primitive of this crate parks on (Go's
//! `semaRoot`/`notifyList` waiter lists), and the small spin lock that guards it.
//!
//! # Design
//! A blocked goroutine (or thread) owns one [`Waiter`] node *on its own stack* while it
//! waits, like Go's `sudog`: the queue is an intrusive doubly linked list of those
//! nodes, so waiting never allocates. The only way to wait is [`QueueGuard::park`] /
//! [`QueueGuard::park_then`]: they build the node, link it, release the queue lock and
//! park, and they return only after a waker has unlinked the node and fired its
//! [`Unparker`]. Wakers unlink nodes under the lock ([`QueueGuard::pop_front`],
//! [`QueueGuard::take_all`]) and get a [`Wakeup`] (one node) or a [`WakeList`] (a chain
//! of nodes threaded through their `next` fields), which they fire after releasing the
//! lock. A wake can carry a *ticket* (Go's `sudog.ticket`): "what you waited for has
//! been handed to you" (a semaphore unit in starvation handoff).
//!
//! The lock is a test-and-test-and-set spin lock that backs off to
//! `std::thread::yield_now`. Every critical section is a handful of pointer writes and
//! never parks or blocks, except that [`QueueGuard::park`] releases it from the park's
//! unlock callback (Go's `goparkunlock`), which the scheduler runs right after the
//! switch. A goro `Mutex` cannot guard the queue (the queue is what it parks on), and a
//! std mutex guard cannot be released from that callback.
//!
//! Rejected: a `VecDeque<Unparker>` under a std mutex (allocates, and a waker could not
//! hand a ticket to the waiter without a second shared slot).
//!
//! # Invariants
//! 1. A linked node is valid: its owner is inside `park`/`park_then` and cannot return
//!    before the node is unlinked and its unparker fired (the park API has no spurious
//!    wake-ups: goroutines resume only through their `Unparker`, threads re-check
//!    their park word). Should anything unwind out of the park while the node is
//!    linked, the process aborts (`AbortOnUnwind`) rather than free a linked node.
//! 2. `next`/`prev` of a linked node, and the list's `head`/`tail`/`len`, are
//!    only touched with the queue lock held.
//! 3. An unlinked node that is not yet woken belongs to exactly one [`Wakeup`] or
//!    [`WakeList`]; only that owner touches it, and only until it fires the unparker.
//!    So a node is fired exactly once, and never touched after.
//! 4. The owner takes its `Unparker` before linking the node, so a wake that comes
//!    before the park makes the park return at once (no lost wake-up).
//!
//! # Memory ordering
//! The lock: `locked.swap(true, Acquire)` / `store(false, Release)`. A waker writes
//! `ticket` and then fires the unparker; the runtime's park word is an AcqRel CAS on
//! the waker side and an Acquire load on the parked side, so the owner reads the
//! ticket (Relaxed) after its park returns and sees the waker's write.
//!
//! # References
//! go/src/runtime/sema.go (semaRoot, sudog queue, notifyList),
//! go/src/runtime/runtime2.go (sudog.ticket), parking_lot's word lock.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomPinned;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use goro_runtime::park::{self, Unparker, WaitReason};

/// A test-and-test-and-set lock for the short critical sections of a wait queue.
#[derive(Debug, Default)]
pub(crate) struct SpinLock {
    /// Atomic: true while held.
    locked: AtomicBool,
}

impl SpinLock {
    pub(crate) const fn new() -> Self {
        SpinLock { locked: AtomicBool::new(false) }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 6 {
                    for _ in 0..(1 << spins) {
                        std::hint::spin_loop();
                    }
                    spins += 1;
                } else {
                    // The holder's thread may be descheduled: give the CPU away.
                    std::thread::yield_now();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }

    #[inline]
    pub(crate) fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// One blocked goroutine or thread (Go's `sudog`). Lives on its owner's stack.
pub(crate) struct Waiter {
    /// Protected by the queue lock while linked (invariant 2).
    next: Cell<*const Waiter>,
    /// Protected by the queue lock while linked (invariant 2).
    prev: Cell<*const Waiter>,
    /// Written by the owner before linking; taken by the single waker (invariant 3).
    unparker: UnsafeCell<Option<Unparker>>,
    /// Atomic: written by the waker before it fires the unparker, read by the owner
    /// after its park returns (see Memory ordering).
    ticket: AtomicBool,
    /// Immutable: the weight of a semaphore request (0 elsewhere).
    weight: usize,
    _pin: PhantomPinned,
}

struct List {
    head: *const Waiter,
    tail: *const Waiter,
    len: usize,
}

/// A FIFO queue of parked waiters behind a spin lock.
pub(crate) struct WaitQueue {
    lock: SpinLock,
    /// Protected by `lock` (invariant 2).
    list: UnsafeCell<List>,
}

// SAFETY: the raw pointers in `list` point to waiters that are valid while linked
// (invariant 1) and are only touched with `lock` held (invariant 2); the unparkers in
// them are `Send + Sync`.
unsafe impl Send for WaitQueue {}
// SAFETY: as for `Send`: all shared access goes through `lock`.
unsafe impl Sync for WaitQueue {}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitQueue").finish_non_exhaustive()
    }
}

impl WaitQueue {
    pub(crate) const fn new() -> Self {
        WaitQueue {
            lock: SpinLock::new(),
            list: UnsafeCell::new(List { head: ptr::null(), tail: ptr::null(), len: 0 }),
        }
    }

    /// Takes the queue lock.
    #[inline]
    pub(crate) fn lock(&self) -> QueueGuard<'_> {
        self.lock.lock();
        QueueGuard { q: self }
    }
}

/// The queue lock, held. Dropping it unlocks.
pub(crate) struct QueueGuard<'a> {
    q: &'a WaitQueue,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.q.lock.unlock();
    }
}

impl<'a> QueueGuard<'a> {
    fn list(&mut self) -> &mut List {
        // SAFETY: invariant 2 — we hold the lock, and `&mut self` makes this the only
        // reference derived from this guard.
        unsafe { &mut *self.q.list.get() }
    }

    /// Number of linked waiters.
    pub(crate) fn len(&mut self) -> usize {
        self.list().len
    }

    /// Whether no waiter is linked.
    pub(crate) fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The weight of the first waiter, if any.
    pub(crate) fn front_weight(&mut self) -> Option<usize> {
        let head = self.list().head;
        // SAFETY: invariant 1 — a linked node is valid; `weight` is immutable.
        (!head.is_null()).then(|| unsafe { (*head).weight })
    }

    /// Links `w` at the back (or front, `lifo`).
    ///
    /// # Safety
    /// `w` is not linked and stays valid (not moved, not dropped) until a waker has
    /// unlinked it and fired it (invariant 1).
    unsafe fn link(&mut self, w: &Waiter, lifo: bool) {
        let wp: *const Waiter = w;
        let list = self.list();
        if list.head.is_null() {
            w.next.set(ptr::null());
            w.prev.set(ptr::null());
            list.head = wp;
            list.tail = wp;
        } else if lifo {
            w.prev.set(ptr::null());
            w.next.set(list.head);
            // SAFETY: invariant 1 — the old head is linked, hence valid; lock held.
            unsafe { (*list.head).prev.set(wp) };
            list.head = wp;
        } else {
            w.next.set(ptr::null());
            w.prev.set(list.tail);
            // SAFETY: invariant 1 — the old tail is linked, hence valid; lock held.
            unsafe { (*list.tail).next.set(wp) };
            list.tail = wp;
        }
        list.len += 1;
    }

    /// Unlinks the first waiter. Fire the result after dropping the guard.
    pub(crate) fn pop_front(&mut self) -> Option<Wakeup> {
        let list = self.list();
        let head = list.head;
        if head.is_null() {
            return None;
        }
        // SAFETY: invariant 1 — the head is linked, hence valid; lock held.
        let next = unsafe { (*head).next.get() };
        list.head = next;
        if next.is_null() {
            list.tail = ptr::null();
        } else {
            // SAFETY: invariant 1 — `next` is linked, hence valid; lock held.
            unsafe { (*next).prev.set(ptr::null()) };
        }
        list.len -= 1;
        Some(Wakeup { w: head })
    }

    /// Unlinks every waiter, in FIFO order. Fire the result after dropping the guard.
    pub(crate) fn take_all(&mut self) -> WakeList {
        let list = self.list();
        let (head, tail) = (list.head, list.tail);
        list.head = ptr::null();
        list.tail = ptr::null();
        list.len = 0;
        // The nodes keep their `next` links: the chain is the list.
        WakeList { head, tail }
    }

    /// Parks the current goroutine (or thread) at the back of the queue (front if
    /// `lifo`), releasing the queue lock once it is switched out (Go's
    /// `goparkunlock`). Returns the ticket its waker handed over.
    pub(crate) fn park(self, lifo: bool, weight: usize, reason: WaitReason) -> bool {
        self.park_inner(lifo, weight, reason, None::<fn()>)
    }

    /// Like [`park`](Self::park), at the back of the queue, but releases the queue
    /// lock first and then runs `before_park` (Cond: unlock the user's mutex) before
    /// parking. A wake that comes in between makes the park return at once.
    pub(crate) fn park_then(self, reason: WaitReason, before_park: impl FnOnce()) -> bool {
        self.park_inner(false, 0, reason, Some(before_park))
    }

    fn park_inner<F: FnOnce()>(
        mut self,
        lifo: bool,
        weight: usize,
        reason: WaitReason,
        before_park: Option<F>,
    ) -> bool {
        // Invariant 4: the handle exists before the node is visible to wakers.
        let node = Waiter {
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            unparker: UnsafeCell::new(Some(park::unparker())),
            ticket: AtomicBool::new(false),
            weight,
            _pin: PhantomPinned,
        };
        // If anything below unwound, `node` would be freed while linked: abort instead.
        let bomb = AbortOnUnwind;
        // SAFETY: `node` is fresh (unlinked), and this function returns only after the
        // park below returned, which happens only after a waker unlinked the node and
        // fired its unparker (invariant 1); an unwind in between aborts (`bomb`).
        unsafe { self.link(&node, lifo) };
        let q = self.q;
        std::mem::forget(self);
        match before_park {
            None => park::park_with(reason, || {
                q.lock.unlock();
                true
            }),
            Some(f) => {
                q.lock.unlock();
                f();
                park::park(reason);
            }
        }
        std::mem::forget(bomb);
        node.ticket.load(Ordering::Relaxed)
    }
}

/// Aborts the process if dropped: held while a waiter node on this stack is linked.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        goro_runtime::fatal::fatal("sync: unwinding out of a park while still queued");
    }
}

/// One unlinked waiter, not yet woken (invariant 3). Dropping it wakes it without a
/// ticket.
pub(crate) struct Wakeup {
    w: *const Waiter,
}

impl Wakeup {
    /// Wakes the waiter, handing it `ticket`.
    pub(crate) fn wake(self, ticket: bool) {
        // SAFETY: invariant 3 — we own the unlinked, not yet woken node: it is valid.
        unsafe { (*self.w).ticket.store(ticket, Ordering::Relaxed) };
        // Drop fires it.
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        // SAFETY: invariant 3 — this is the one place a `Wakeup` fires its node.
        unsafe { fire(self.w) };
    }
}

/// A chain of unlinked waiters, not yet woken (invariant 3), linked through `next`.
/// Dropping it wakes them all, oldest first, without a ticket.
pub(crate) struct WakeList {
    head: *const Waiter,
    tail: *const Waiter,
}

impl WakeList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        WakeList { head: ptr::null(), tail: ptr::null() }
    }

    /// Appends `w`.
    pub(crate) fn push(&mut self, w: Wakeup) {
        let p = w.w;
        std::mem::forget(w);
        // SAFETY: invariant 3 — ownership of the unfired node moves from `w` to us.
        unsafe { (*p).next.set(ptr::null()) };
        if self.tail.is_null() {
            self.head = p;
        } else {
            // SAFETY: invariant 3 — the tail is an unfired node of this chain.
            unsafe { (*self.tail).next.set(p) };
        }
        self.tail = p;
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        let mut p = self.head;
        while !p.is_null() {
            // SAFETY: invariant 3 — we own the chain; read `next` before firing,
            // because the node may be gone once fired.
            let next = unsafe { (*p).next.get() };
            // SAFETY: invariant 3 — each node of the chain is fired once, here.
            unsafe { fire(p) };
            p = next;
        }
    }
}

/// Fires the unparker of an unlinked node.
///
/// # Safety
/// `w` is unlinked, valid, not yet fired, and owned by the caller (invariant 3); the
/// caller does not touch it afterwards.
unsafe fn fire(w: *const Waiter) {
    // SAFETY: the caller's contract: we are the node's only user until it is fired.
    let u = unsafe { (*(*w).unparker.get()).take() };
    // The node may be freed as soon as this fires (its owner returns): `u` is ours.
    if let Some(u) = u {
        u.unpark();
    }
}
