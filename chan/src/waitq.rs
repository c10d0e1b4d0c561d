//! Waiters (Go's `sudog`): who is blocked on a channel, how a waker claims them, and
//! the FIFO queue they wait in.
//!
//! # Design
//! A blocked operation, plain or `select`, owns one [`Ctx`] on its stack: an atomic
//! *selection state*, a *packet state*, and the [`Unparker`] of its park. It puts one
//! [`Waiter`] (an [`Entry`] and its links, also in its own frame) per channel it waits
//! on into that channel's `recvq` or `sendq`; an entry
//! names the ctx, the case index (the arm of a `select`; 0 for plain operations) and a
//! pointer to the value slot on the waiter's stack. A select waiting on five channels
//! has five entries pointing at one ctx.
//!
//! A waker (a sender, receiver or closer that holds the channel's lock) *claims* an
//! entry by a CAS of its ctx `WAITING -> selected(case)`. Only one claim per ctx can
//! succeed, so a select fires exactly one arm no matter how many channels race for it.
//! The winner moves the value through the slot, stores the packet state `FILLED`
//! (Release), and then unparks the waiter with a clone of its `Unparker` taken before
//! that store. Entries whose ctx is no longer `WAITING` are dead: wakers unlink them
//! when they meet them, and their owner unlinks them in O(1) through its [`Waiter`].
//!
//! The waiter never parks twice on one ctx. After its park returns it reads the state:
//! still `WAITING` (timeout) means it aborts by CAS `WAITING -> ABORTED`, and if that
//! CAS fails a claim won the race and it waits (yielding) for the packet, which the
//! claimer is about to fill.
//!
//! Lazy send entries: a `select!` send arm evaluates its value only when it fires, so
//! while blocked it has no value to hand over. Its entry has a null slot. A receiver
//! never claims it; it *notifies* it instead (CAS `WAITING -> RETRY` and unpark), and
//! the select runs its polling pass again, where it finds that receiver waiting (or
//! the freed buffer slot) and completes the send with a value built at that moment.
//!
//! The queue is an intrusive doubly linked list through the waiters, which live in
//! their owners' frames (Go's sudogs live on the heap, in a cache; here the frame is
//! the cache): push, pop and removal are O(1), a few pointer stores, and never
//! allocate. (The first design, a slab of nodes with a free list and removal keys of
//! slab index plus a 64-bit id, cost 128 more instructions per ping-pong round trip:
//! 1,342 against 1,214 with the list, under callgrind.)
//!
//! # Invariants
//! 1. An entry's ctx and slot are valid while the entry is in a queue, and after a
//!    successful claim until the claimer stores a final packet state (`FILLED` or
//!    `ABANDONED`): the owner returns only after removing its entries (under each
//!    channel's lock) and, once claimed, only after seeing the final packet state.
//! 2. Only the claimer touches a claimed entry's slot, and only between its claim and
//!    its packet store; a waiter reads its slot only after an Acquire load of `FILLED`.
//! 3. A ctx moves out of `WAITING` exactly once (claim, notify, or abort).
//! 4. Lazy send entries (null slot) are only ever in a `sendq`, never claimed by a
//!    receiver, only notified or claimed as closed.
//! 5. A waiter's links are read and written only under the lock of the channel whose
//!    queue holds it: by wakers unlinking it, or by its owner removing it. A waiter
//!    is in at most one queue, and one taken out is marked as in none, so its owner's
//!    later removal is a no-op.
//! 6. Every successful claim or notify is followed by exactly one `unpark` of the
//!    ctx's park (by the waker after `finish`, or by `Claimed`'s drop). So the owner
//!    parks exactly once per ctx: in [`Ctx::block`], or in [`Ctx::cancel`] when it lost
//!    an abort race without having parked; no unpark is ever left pending for a later,
//!    unrelated park (the runtime's parks must not return spuriously).
//! 7. An *exclusive* ctx (a plain send or receive without a deadline: one entry in one
//!    queue, an owner that never aborts, no lazy entry to notify) leaves `WAITING` only
//!    by a claim made under that queue's channel lock, so its claim is a load and a
//!    store instead of a CAS (one locked instruction less per handoff). Its owner's
//!    park returns only through that claimer's unpark (goroutine parks have no
//!    spurious wake-ups; a thread's re-checks its word), so `resolve` never finds it
//!    still `WAITING` and never aborts it.
//!
//! # Memory ordering
//! Claim/notify/abort CASes are AcqRel. The claimer writes the slot, then
//! `packet.store(FILLED, Release)`; the waiter `packet.load(Acquire)` before reading
//! the slot. The unpark itself also synchronizes (the runtime's park word is AcqRel).
//!
//! # References
//! go/src/runtime/chan.go (sudog, waitq, selectDone), go/src/runtime/select.go;
//! crossbeam-channel's `Context::try_select` for the claim-by-CAS idea.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomPinned;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use goro_runtime::lock::LockGuard;
use goro_runtime::park::{self, Unparker, WaitReason};

const WAITING: usize = 0;
const ABORTED: usize = 1;
const RETRY: usize = 2;
/// States `>= SELECTED` encode `SELECTED + 2 * case + closed`.
const SELECTED: usize = 4;

const PENDING: u8 = 0;
const FILLED: u8 = 1;
const ABANDONED: u8 = 2;

/// The wait context of one blocked operation or `select` (see the module docs).
#[doc(hidden)]
pub struct Ctx {
    /// Atomic: `WAITING` until a claimer, notifier or the owner's abort changes it once
    /// (invariant 3).
    state: AtomicUsize,
    /// Atomic: `PENDING`; the claimer stores `FILLED` or `ABANDONED` (Release) when it
    /// is done with the slot.
    packet: AtomicU8,
    /// Wakes this ctx's one park. Read by claimers under a channel lock.
    unparker: Unparker,
    /// Claimed by a load and a store (invariant 7).
    exclusive: bool,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("state", &self.state.load(Ordering::Relaxed)).finish()
    }
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Case `case` was completed by a claimer (`closed`: by closing the channel).
    Selected { case: usize, closed: bool },
    /// A lazy sender was notified, or a claimer abandoned us: run the operation again.
    Retry,
    /// The owner aborted (timeout, or a wait that has to be redone).
    Aborted,
}

impl Ctx {
    /// A fresh ctx for the current goroutine's (or thread's) next park.
    #[inline]
    pub(crate) fn new() -> Ctx {
        Ctx {
            state: AtomicUsize::new(WAITING),
            packet: AtomicU8::new(PENDING),
            unparker: park::unparker(),
            exclusive: false,
        }
    }

    /// A fresh ctx for a plain send or receive; `exclusive` (invariant 7) when it has
    /// no deadline.
    #[inline]
    pub(crate) fn for_plain(deadline: Option<Instant>) -> Ctx {
        Ctx { exclusive: deadline.is_none(), ..Ctx::new() }
    }

    #[inline]
    fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// The owner gives up waiting. False: someone claimed or notified us first.
    #[inline]
    pub(crate) fn try_abort(&self) -> bool {
        self.state.compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    #[inline]
    fn try_claim(&self, case: usize, closed: bool) -> bool {
        let s = SELECTED + 2 * case + usize::from(closed);
        if self.exclusive {
            // Invariant 7: we hold the channel lock, which every writer of `state`
            // holds too. Release, as the CAS's, for the owner's `resolve`.
            if self.state.load(Ordering::Relaxed) != WAITING {
                return false;
            }
            self.state.store(s, Ordering::Release);
            return true;
        }
        self.state.compare_exchange(WAITING, s, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    #[inline]
    fn try_notify(&self) -> bool {
        self.state.compare_exchange(WAITING, RETRY, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Parks until claimed, notified, or `deadline`, then resolves the outcome.
    #[inline]
    pub(crate) fn block(&self, reason: WaitReason, deadline: Option<Instant>) -> Outcome {
        match deadline {
            None => park::park(reason),
            Some(d) => park::park_until(reason, d, || true),
        }
        self.resolve()
    }

    /// Parks a plain operation's ctx, made by [`for_plain`](Self::for_plain) with the
    /// same `deadline`, releasing the channel lock `guard`; then resolves the outcome.
    /// Without a deadline the ctx is exclusive (invariant 7): only a claim under that
    /// lock can wake it, so the lock is released only once the goroutine is switched
    /// out (Go's `chanparkcommit`) and the runtime publishes the park with a plain
    /// store (`park_exclusive`). With one, a timer may wake it too: the lock goes
    /// first, then an ordinary timed park.
    #[inline]
    pub(crate) fn block_releasing<L: ?Sized>(
        &self,
        reason: WaitReason,
        guard: LockGuard<'_, L>,
        deadline: Option<Instant>,
    ) -> Outcome {
        debug_assert_eq!(self.exclusive, deadline.is_none(), "chan: ctx and deadline disagree");
        match deadline {
            None => {
                park::park_exclusive(reason, guard);
                self.resolve()
            }
            Some(_) => {
                drop(guard);
                self.block(reason, deadline)
            }
        }
    }

    /// Stops waiting without having parked (a select found a channel ready while
    /// registering). If a waker claimed or notified us first, it unparks this ctx's
    /// park exactly once, now or soon: that unpark is absorbed here by parking, so it
    /// cannot end some later, unrelated park of this goroutine early (invariant 6).
    pub(crate) fn cancel(&self, reason: WaitReason) -> Outcome {
        if self.try_abort() {
            return Outcome::Aborted;
        }
        park::park(reason);
        self.resolve()
    }

    /// The outcome, once the owner's park returned. Never parks again: the park's
    /// generation is over, so the claimer's unpark is a no-op (runtime park.rs).
    #[inline]
    fn resolve(&self) -> Outcome {
        // Usually someone claimed us (that is what woke us): one load, no CAS. Only a
        // state still WAITING (timeout, spurious wake) needs the aborting CAS.
        let mut s = self.state.load(Ordering::Acquire);
        debug_assert!(!(self.exclusive && s == WAITING), "chan: exclusive ctx woken unclaimed");
        if s == WAITING {
            if self.try_abort() {
                return Outcome::Aborted;
            }
            s = self.state.load(Ordering::Acquire);
        }
        if s == RETRY {
            return Outcome::Retry;
        }
        debug_assert!(s >= SELECTED, "chan: bad wait state {s}");
        // The claimer fills the packet right after its claim, without blocking; we
        // only get here before it did on a timeout that raced with the claim.
        loop {
            match self.packet.load(Ordering::Acquire) {
                PENDING => goro_runtime::yield_now(),
                FILLED => {
                    return Outcome::Selected { case: (s - SELECTED) / 2, closed: s & 1 == 1 }
                }
                _ => return Outcome::Retry,
            }
        }
    }
}

/// One waiter in one channel queue. See invariant 1 for the pointers' validity.
pub(crate) struct Entry<T> {
    ctx: NonNull<Ctx>,
    case: usize,
    /// The waiter's value slot; null for a lazy send entry (invariant 4).
    slot: *mut Option<T>,
}

// SAFETY: an entry is a pair of pointers used only under the channel lock or by the
// claimer (invariants 1-2); the slot moves a `T` between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Entry<T> {}

// A copy of an entry is the same three words; only the claim (a CAS or, for an
// exclusive ctx, a store under the lock) decides who may use the slot (invariant 2).
impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Entry<T> {}

impl<T> Entry<T> {
    /// An entry for case `case` of `ctx`; `slot` null for a lazy send.
    pub(crate) fn new(ctx: &Ctx, case: usize, slot: *mut Option<T>) -> Entry<T> {
        Entry { ctx: NonNull::from(ctx), case, slot }
    }

    fn ctx(&self) -> &Ctx {
        // SAFETY: invariant 1: the entry is still in a queue (or was just taken out
        // under the same lock), so its owner is still waiting on the ctx.
        unsafe { self.ctx.as_ref() }
    }

    fn is_lazy(&self) -> bool {
        self.slot.is_null()
    }

    fn owned_by(&self, ctx: Option<&Ctx>) -> bool {
        ctx.is_some_and(|c| ptr::eq(self.ctx.as_ptr(), c))
    }
}

/// An entry whose ctx we claimed: the right (and duty) to finish it.
///
/// Dropping it without [`finish`](Claimed::finish) abandons the claim: the waiter
/// runs its operation again.
pub(crate) struct Claimed<T> {
    entry: Entry<T>,
    unparker: Unparker,
}

impl<T> Claimed<T> {
    /// Moves `v` into the waiter's slot (a receiver). Finish afterwards.
    pub(crate) fn put(&mut self, v: T) {
        debug_assert!(!self.entry.is_lazy());
        // SAFETY: invariants 1-2: we hold the claim and have not stored a final packet
        // state, so the waiter is still waiting and nobody else touches its slot.
        unsafe { *self.entry.slot = Some(v) };
    }

    /// Takes the value out of the waiter's slot (an eager sender). Finish afterwards.
    pub(crate) fn take(&mut self) -> T {
        debug_assert!(!self.entry.is_lazy());
        // SAFETY: as in `put`.
        let v = unsafe { (*self.entry.slot).take() };
        v.expect("chan: a waiting sender without its value")
    }

    /// Publishes the transfer. Returns the waiter's wake-up: call [`Wake::wake`],
    /// preferably after releasing the channel lock. The entry must not be used after.
    #[inline]
    pub(crate) fn finish(self) -> Wake {
        // Read before FILLED: from then on the waiter may return and free its ctx.
        let exclusive = self.entry.ctx().exclusive;
        self.entry.ctx().packet.store(FILLED, Ordering::Release);
        // Moves the unparker out without `Drop` (which would abandon the claim).
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the unparker is read out exactly once;
        // the entry holds only pointers (nothing to drop).
        let unparker = unsafe { ptr::read(&this.unparker) };
        Wake { unparker, exclusive }
    }
}

/// The wake-up a finished claim owes its waiter ([`Claimed::finish`]).
#[must_use = "the claimed waiter stays parked until it is woken"]
pub(crate) struct Wake {
    unparker: Unparker,
    /// The ctx was exclusive (invariant 7): its park is `park_exclusive`'s.
    exclusive: bool,
}

impl Wake {
    /// Unparks the waiter. An exclusive ctx's goroutine is woken by a plain store
    /// instead of a CAS (`Unparker::unpark_exclusive`): one locked instruction less
    /// per handoff. Call it once; the `Wake` is dropped afterwards.
    // By reference and always inlined: a `Wake` moved into a call, or out of an
    // `Option`, is copied with a 16-byte load of the two words just stored separately
    // (a store-forwarding stall on every handoff); read in place, its words are
    // loaded one by one.
    #[inline(always)]
    pub(crate) fn wake(&self) {
        if self.exclusive {
            // SAFETY: invariant 7: the ctx parked through `park_exclusive`
            // (`Ctx::block_releasing` without a deadline), and only its claimer wakes
            // it: we claimed it under the channel lock that park released, and the
            // ctx's own copy of the handle is never used (an exclusive ctx is never
            // notified, aborted or abandoned after `finish`).
            unsafe { self.unparker.unpark_exclusive() };
        } else {
            self.unparker.unpark();
        }
    }
}

impl<T> Drop for Claimed<T> {
    /// Abandons the claim (`finish` never lets its claim drop).
    fn drop(&mut self) {
        self.entry.ctx().packet.store(ABANDONED, Ordering::Release);
        self.unparker.unpark();
    }
}

/// One waiter in one channel queue (Go's `sudog`): an [`Entry`] and its links. It
/// lives in its owner's frame (a plain operation's locals, or a `select!` arm) and is
/// linked into at most one queue at a time; its links are read and written only under
/// that queue's channel lock (invariant 5).
#[doc(hidden)]
pub struct Waiter<T> {
    entry: Entry<T>,
    links: UnsafeCell<Links<T>>,
    /// A queue holds the waiter's address: it must not move while queued.
    _pinned: PhantomPinned,
}

struct Links<T> {
    prev: *const Waiter<T>,
    next: *const Waiter<T>,
    /// The queue it is linked into; null while it is in none.
    queue: *const WaitQueue<T>,
}

impl<T> Waiter<T> {
    /// A waiter for case `case` of `ctx`; `slot` null for a lazy send (invariant 4).
    #[inline]
    pub(crate) fn new(ctx: &Ctx, case: usize, slot: *mut Option<T>) -> Waiter<T> {
        Waiter {
            entry: Entry::new(ctx, case, slot),
            links: UnsafeCell::new(Links {
                prev: ptr::null(),
                next: ptr::null(),
                queue: ptr::null(),
            }),
            _pinned: PhantomPinned,
        }
    }

    /// The wait context it belongs to.
    #[inline]
    pub(crate) fn ctx(&self) -> &Ctx {
        self.entry.ctx()
    }

    /// Its links.
    ///
    /// # Safety
    /// The caller holds the lock of the channel whose queue the waiter is in (or is
    /// its owner and it is in no queue), and keeps no other borrow of the links.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    unsafe fn links(&self) -> &mut Links<T> {
        // SAFETY: the caller's contract: the lock (or sole ownership) makes this the
        // only access to the links (invariant 5).
        unsafe { &mut *self.links.get() }
    }
}

impl<T> std::fmt::Debug for Waiter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter").field("case", &self.entry.case).finish()
    }
}

/// A FIFO queue of waiters: an intrusive doubly linked list through [`Waiter`]s in
/// their owners' frames. Protected by its channel's lock.
#[repr(C)]
pub(crate) struct WaitQueue<T> {
    /// First: `claim_*` look only at `head` while nobody waits (proto.rs's layout).
    head: *const Waiter<T>,
    tail: *const Waiter<T>,
    len: usize,
}

// SAFETY: the queue is a pair of pointers to waiters whose links are touched only
// under the channel lock that also guards the queue (invariant 5), and whose entries
// move `T`s between threads (hence `T: Send`, as for `Entry`).
unsafe impl<T: Send> Send for WaitQueue<T> {}

impl<T> WaitQueue<T> {
    pub(crate) const fn new() -> WaitQueue<T> {
        WaitQueue { head: ptr::null(), tail: ptr::null(), len: 0 }
    }

    /// Entries in the queue, dead ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `w`.
    ///
    /// # Safety
    /// `w` is in no queue, and stays where it is until it leaves this one: taken by a
    /// claimer or notifier, or removed by [`remove`](Self::remove) under the channel
    /// lock, before its owner returns (invariant 1).
    #[inline]
    pub(crate) unsafe fn push_back(&mut self, w: &Waiter<T>) {
        // SAFETY: the caller holds the channel lock (`&mut self`) and `w` is in no
        // queue, so nobody else touches its links.
        let l = unsafe { w.links() };
        debug_assert!(l.queue.is_null(), "chan: a waiter queued twice");
        l.prev = self.tail;
        l.next = ptr::null();
        l.queue = ptr::from_ref(self);
        let w = ptr::from_ref(w);
        match self.tail.is_null() {
            true => self.head = w,
            // SAFETY: the tail is a queued waiter, alive while queued (invariant 1);
            // we hold the lock.
            false => unsafe { (*self.tail).links().next = w },
        }
        self.tail = w;
        self.len += 1;
    }

    /// Unlinks the queued waiter `w` and returns (a copy of) its entry.
    ///
    /// # Safety
    /// `w` is in this queue.
    unsafe fn unlink(&mut self, w: *const Waiter<T>) -> Entry<T> {
        // SAFETY: `w` is queued here (the caller's contract), hence alive (invariant
        // 1), and we hold the lock; its neighbours likewise.
        unsafe {
            let l = (*w).links();
            debug_assert!(ptr::eq(l.queue, self), "chan: unlinking another queue's waiter");
            match l.prev.is_null() {
                true => self.head = l.next,
                false => (*l.prev).links().next = l.next,
            }
            match l.next.is_null() {
                true => self.tail = l.prev,
                false => (*l.next).links().prev = l.prev,
            }
            l.queue = ptr::null();
            self.len -= 1;
            (*w).entry
        }
    }

    /// Removes `w` if it is still queued here (O(1)); a no-op if a claimer or notifier
    /// took it. Only its owner calls this, under the channel lock.
    pub(crate) fn remove(&mut self, w: &Waiter<T>) -> bool {
        // SAFETY: we hold the lock (`&mut self`); `w` is in this queue or in none (a
        // waiter is only ever queued where its owner put it).
        let queued = unsafe { !w.links().queue.is_null() };
        if queued {
            // SAFETY: queued, and only ever into this queue (as above).
            unsafe { self.unlink(w) };
        }
        queued
    }

    /// Walks the queue from the front: unlinks dead entries, skips `own`'s entries,
    /// and calls `f` on each live one; `f` says whether to unlink it and whether to
    /// stop. Returns the entry `f` asked to return, if any.
    ///
    /// An empty queue, the common case (a buffered operation nobody waits for, a
    /// receiver about to park on an empty send queue), returns here, inlined into the
    /// caller, without the call to the walk proper.
    #[inline]
    fn walk(&mut self, own: Option<&Ctx>, f: impl FnMut(&Entry<T>) -> Step) -> Option<Entry<T>> {
        if self.head.is_null() {
            return None;
        }
        let w = self.walk_nonempty(own, f);
        // The walk hands back the waiter, one register, and the entry is read here,
        // from the waiter (written long before), rather than returned through memory
        // by three 8-byte stores that the caller's 16-byte loads could not be
        // forwarded from (a stall on every handoff).
        // SAFETY: a waiter `f` asked for was taken out of the queue under the lock we
        // still hold, and `f` claimed it, so it is alive (invariant 1).
        (!w.is_null()).then(|| unsafe { (*w).entry })
    }

    /// The walk proper: returns the waiter `f` asked for (unlinked), or null.
    fn walk_nonempty(
        &mut self,
        own: Option<&Ctx>,
        mut f: impl FnMut(&Entry<T>) -> Step,
    ) -> *const Waiter<T> {
        let mut w = self.head;
        while !w.is_null() {
            // SAFETY: a queued waiter is alive (invariant 1) and we hold the lock.
            let (e, next) = unsafe { ((*w).entry, (*w).links().next) };
            if e.owned_by(own) {
                w = next;
                continue;
            }
            if !e.ctx().is_waiting() {
                // SAFETY: `w` is in this queue.
                unsafe { self.unlink(w) };
                w = next;
                continue;
            }
            match f(&e) {
                Step::Keep => {}
                // SAFETY: `w` is in this queue.
                Step::Drop => drop(unsafe { self.unlink(w) }),
                Step::Take => {
                    // SAFETY: as above.
                    unsafe { self.unlink(w) };
                    return w;
                }
                Step::Stop => return ptr::null(),
            }
            w = next;
        }
        ptr::null()
    }

    /// Claims the first live receiver (not `own`'s). Dead entries met are unlinked.
    #[inline]
    pub(crate) fn claim_receiver(&mut self, own: Option<&Ctx>) -> Option<Claimed<T>> {
        self.claim(own, false)
    }

    /// Claims the first live eager sender (not `own`'s); lazy senders met on the way
    /// are notified and unlinked (module docs).
    #[inline]
    pub(crate) fn claim_sender(&mut self, own: Option<&Ctx>) -> Option<Claimed<T>> {
        self.claim(own, true)
    }

    /// Claims the first live eager entry (not `own`'s). `senders`: this is a sendq,
    /// whose lazy entries (select send arms) are notified and unlinked on the way.
    #[inline]
    fn claim(&mut self, own: Option<&Ctx>, senders: bool) -> Option<Claimed<T>> {
        self.walk(own, |e| {
            if e.is_lazy() {
                debug_assert!(senders, "chan: a lazy entry in a recvq");
                if e.ctx().try_notify() {
                    e.ctx().unparker.unpark();
                }
                Step::Drop
            } else if e.ctx().try_claim(e.case, false) {
                Step::Take
            } else {
                Step::Drop
            }
        })
        // The handle is read from the ctx here, not handed out of the walk through a
        // local: that local was written by two 8-byte stores and read back by one
        // 16-byte load, which cannot be forwarded (a stall on every handoff).
        // Invariant 1: a claimed entry's ctx stays valid until we finish the claim.
        .map(|entry| Claimed { unparker: entry.ctx().unparker.clone(), entry })
    }

    /// Whether a live entry (not `own`'s) is queued; with `eager_only`, a live entry
    /// that carries a value. Dead entries met are unlinked.
    pub(crate) fn has_live(&mut self, own: Option<&Ctx>, eager_only: bool) -> bool {
        let found = Cell::new(false);
        self.walk(own, |e| {
            if eager_only && e.is_lazy() {
                Step::Keep
            } else {
                found.set(true);
                Step::Stop
            }
        });
        found.get()
    }

    /// Notifies and unlinks every live lazy sender (not `own`'s): a receiver now waits.
    pub(crate) fn notify_lazy(&mut self, own: Option<&Ctx>) {
        self.walk(own, |e| {
            if !e.is_lazy() {
                return Step::Keep;
            }
            if e.ctx().try_notify() {
                e.ctx().unparker.unpark();
            }
            Step::Drop
        });
    }

    /// Closing: claims every live entry as closed (senders keep their values) and
    /// empties the queue. Returns the unparkers to call after unlocking.
    pub(crate) fn close_all(&mut self, wake: &mut Vec<Unparker>) {
        while !self.head.is_null() {
            // SAFETY: the head is in this queue.
            let e = unsafe { self.unlink(self.head) };
            if e.ctx().try_claim(e.case, true) {
                let u = e.ctx().unparker.clone();
                e.ctx().packet.store(FILLED, Ordering::Release);
                wake.push(u);
            }
        }
    }
}

enum Step {
    /// Leave it queued and go on.
    Keep,
    /// Unlink it and go on.
    Drop,
    /// Unlink it and return it.
    Take,
    /// Stop walking.
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_fifo_and_removal_is_by_waiter() {
        let ctxs: Vec<Ctx> = (0..5).map(|_| Ctx::new()).collect();
        let mut slots: Vec<Option<u32>> = (0..5).map(Some).collect();
        let slot_ptrs: Vec<*mut Option<u32>> = slots.iter_mut().map(std::ptr::from_mut).collect();
        let ws: Vec<Waiter<u32>> = (0..5).map(|i| Waiter::new(&ctxs[i], 0, slot_ptrs[i])).collect();
        let mut q = WaitQueue::new();
        for w in &ws {
            // SAFETY: `ws` does not move or drop before the queue is emptied below.
            unsafe { q.push_back(w) };
        }
        assert!(q.remove(&ws[2]));
        assert!(!q.remove(&ws[2]), "a removed waiter is in no queue");
        assert_eq!(q.len(), 4);
        // SAFETY: as above; `ws[2]` is in no queue again.
        unsafe { q.push_back(&ws[2]) };
        let mut order = Vec::new();
        while let Some(mut c) = q.claim_sender(None) {
            order.push(c.take());
            drop(c.finish());
        }
        assert_eq!(order, vec![0, 1, 3, 4, 2]);
        assert_eq!(q.len(), 0);
        assert!(!q.remove(&ws[0]), "a claimed waiter is in no queue");
    }

    #[test]
    fn dead_and_own_entries_are_skipped() {
        let a = Ctx::new();
        let b = Ctx::new();
        let mut sa: Option<u8> = None;
        let mut sb: Option<u8> = None;
        let wa = Waiter::new(&a, 0, &raw mut sa);
        let wb = Waiter::new(&b, 1, &raw mut sb);
        let mut q = WaitQueue::new();
        // SAFETY: `wa` and `wb` outlive the queue's use of them (emptied below).
        unsafe {
            q.push_back(&wa);
            q.push_back(&wb);
        }
        assert!(!q.has_live(Some(&b), false) || a.is_waiting());
        assert!(a.try_abort());
        assert!(!q.has_live(Some(&b), false));
        assert_eq!(q.len(), 1, "the dead entry was unlinked, our own kept");
        let mut c = q.claim_receiver(None).expect("b is live");
        c.put(7);
        c.finish().wake();
        assert_eq!(b.cancel(WaitReason::Park), Outcome::Selected { case: 1, closed: false });
        assert_eq!(sb, Some(7));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn dropping_a_claim_abandons_it() {
        let a = Ctx::new();
        let mut s: Option<u8> = None;
        let w = Waiter::new(&a, 0, &raw mut s);
        let mut q = WaitQueue::new();
        // SAFETY: `w` outlives the queue's use of it (claimed below).
        unsafe { q.push_back(&w) };
        drop(q.claim_receiver(None));
        assert_eq!(a.cancel(WaitReason::Park), Outcome::Retry);
    }
}
