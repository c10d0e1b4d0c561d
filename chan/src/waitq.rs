//! Waiters (Go's `sudog`): who is blocked on a channel, how a waker claims them, and
//! the FIFO queue they wait in.
//!
//! # Design
//! A blocked operation, plain or `select`, owns one [`Ctx`] on its stack: an atomic
//! *selection state*, a *packet state*, and the [`Unparker`] of its park. It puts one
//! [`Entry`] per channel it waits on into that channel's `recvq` or `sendq`; an entry
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
//! when they meet them, and their owner unlinks them in O(1) by [`Key`].
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
//! The queue is a doubly linked list threaded through a slab (`Vec`) of nodes, with a
//! free list: push, pop and removal by key are O(1) and allocation-free once warm.
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
//! 5. A queue's `Key` is unique over the queue's life (slab index plus a 64-bit id), so
//!    removing a key whose entry was already taken is a no-op.
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

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

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
    done: bool,
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

    /// Publishes the transfer. Returns the waiter's unparker: call `unpark` on it,
    /// preferably after releasing the channel lock. The entry must not be used after.
    pub(crate) fn finish(mut self) -> Unparker {
        self.done = true;
        self.entry.ctx().packet.store(FILLED, Ordering::Release);
        self.unparker.clone()
    }
}

impl<T> Drop for Claimed<T> {
    fn drop(&mut self) {
        if !self.done {
            self.entry.ctx().packet.store(ABANDONED, Ordering::Release);
            self.unparker.unpark();
        }
    }
}

/// Identifies an entry for O(1) removal (invariant 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(hidden)]
pub struct Key {
    idx: u32,
    id: u64,
}

const NIL: u32 = u32::MAX;

struct Node<T> {
    entry: Option<Entry<T>>,
    id: u64,
    prev: u32,
    next: u32,
}

/// A FIFO queue of waiters: a doubly linked list in a slab. Protected by its
/// channel's lock.
#[repr(C)]
pub(crate) struct WaitQueue<T> {
    /// First: `claim_*` look only at `head` while nobody waits (proto.rs's layout).
    head: u32,
    tail: u32,
    nodes: Vec<Node<T>>,
    /// Free list through `next`.
    free: u32,
    len: usize,
    next_id: u64,
}

impl<T> WaitQueue<T> {
    pub(crate) const fn new() -> WaitQueue<T> {
        WaitQueue { nodes: Vec::new(), head: NIL, tail: NIL, free: NIL, len: 0, next_id: 0 }
    }

    /// Entries in the queue, dead ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends an entry; returns its key.
    pub(crate) fn push_back(&mut self, entry: Entry<T>) -> Key {
        self.next_id += 1;
        let id = self.next_id;
        let node = Node { entry: Some(entry), id, prev: self.tail, next: NIL };
        let idx = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        } else {
            assert!(self.nodes.len() < NIL as usize, "chan: too many waiters");
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        };
        if self.tail == NIL {
            self.head = idx;
        } else {
            self.nodes[self.tail as usize].next = idx;
        }
        self.tail = idx;
        self.len += 1;
        Key { idx, id }
    }

    fn unlink(&mut self, idx: u32) -> Entry<T> {
        let (prev, next) = {
            let n = &self.nodes[idx as usize];
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        let n = &mut self.nodes[idx as usize];
        let e = n.entry.take().expect("chan: unlinking a free waiter node");
        n.next = self.free;
        n.prev = NIL;
        self.free = idx;
        self.len -= 1;
        e
    }

    /// Removes the entry of `key` if it is still queued (O(1)); a no-op otherwise.
    pub(crate) fn remove(&mut self, key: Key) -> bool {
        match self.nodes.get(key.idx as usize) {
            Some(n) if n.id == key.id && n.entry.is_some() => {
                self.unlink(key.idx);
                true
            }
            _ => false,
        }
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
        if self.head == NIL {
            return None;
        }
        self.walk_nonempty(own, f)
    }

    fn walk_nonempty(
        &mut self,
        own: Option<&Ctx>,
        mut f: impl FnMut(&Entry<T>) -> Step,
    ) -> Option<Entry<T>> {
        let mut i = self.head;
        while i != NIL {
            let next = self.nodes[i as usize].next;
            let e =
                self.nodes[i as usize].entry.as_ref().expect("chan: free node in a waiter list");
            if e.owned_by(own) {
                i = next;
                continue;
            }
            if !e.ctx().is_waiting() {
                self.unlink(i);
                i = next;
                continue;
            }
            match f(e) {
                Step::Keep => {}
                Step::Drop => {
                    self.unlink(i);
                }
                Step::Take => return Some(self.unlink(i)),
                Step::Stop => return None,
            }
            i = next;
        }
        None
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
        let mut out = None;
        self.walk(own, |e| {
            if e.is_lazy() {
                debug_assert!(senders, "chan: a lazy entry in a recvq");
                if e.ctx().try_notify() {
                    e.ctx().unparker.unpark();
                }
                Step::Drop
            } else if e.ctx().try_claim(e.case, false) {
                out = Some(e.ctx().unparker.clone());
                Step::Take
            } else {
                Step::Drop
            }
        })
        .map(|entry| Claimed {
            entry,
            unparker: out.take().expect("claimed"),
            done: false,
        })
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
        while self.head != NIL {
            let e = self.unlink(self.head);
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
    fn queue_is_fifo_and_removal_is_by_key() {
        let ctxs: Vec<Ctx> = (0..5).map(|_| Ctx::new()).collect();
        let mut slots: Vec<Option<u32>> = (0..5).map(Some).collect();
        let mut q = WaitQueue::new();
        let keys: Vec<Key> =
            (0..5).map(|i| q.push_back(Entry::new(&ctxs[i], 0, &raw mut slots[i]))).collect();
        assert!(q.remove(keys[2]));
        assert!(!q.remove(keys[2]));
        assert_eq!(q.len(), 4);
        // A reused slab slot gets a new id: the old key stays dead.
        let k = q.push_back(Entry::new(&ctxs[2], 0, &raw mut slots[2]));
        assert_eq!(k.idx, keys[2].idx);
        assert!(!q.remove(keys[2]));
        let mut order = Vec::new();
        while let Some(mut c) = q.claim_sender(None) {
            order.push(c.take());
            drop(c.finish());
        }
        assert_eq!(order, vec![0, 1, 3, 4, 2]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn dead_and_own_entries_are_skipped() {
        let a = Ctx::new();
        let b = Ctx::new();
        let mut sa: Option<u8> = None;
        let mut sb: Option<u8> = None;
        let mut q = WaitQueue::new();
        q.push_back(Entry::new(&a, 0, &raw mut sa));
        q.push_back(Entry::new(&b, 1, &raw mut sb));
        assert!(!q.has_live(Some(&b), false) || a.is_waiting());
        assert!(a.try_abort());
        assert!(!q.has_live(Some(&b), false));
        assert_eq!(q.len(), 1, "the dead entry was unlinked, our own kept");
        let mut c = q.claim_receiver(None).expect("b is live");
        c.put(7);
        c.finish().unpark();
        assert_eq!(b.cancel(WaitReason::Park), Outcome::Selected { case: 1, closed: false });
        assert_eq!(sb, Some(7));
    }

    #[test]
    fn dropping_a_claim_abandons_it() {
        let a = Ctx::new();
        let mut s: Option<u8> = None;
        let mut q = WaitQueue::new();
        q.push_back(Entry::new(&a, 0, &raw mut s));
        drop(q.claim_receiver(None));
        assert_eq!(a.cancel(WaitReason::Park), Outcome::Retry);
    }
}
