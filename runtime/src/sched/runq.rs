//! Local run queue of a P: a fixed ring, one producer (the owner P), many stealers.
//!
//! # Design
//! The owner pushes at `tail` and pops at `head` by CAS; thieves copy half of
//! `[head, tail)` into their own ring and then CAS `head` forward. Items are raw `G`
//! pointers kept in `AtomicPtr` slots: a thief may read a slot that the owner is about
//! to overwrite after a wraparound, and then its CAS on `head` fails and the value is
//! discarded; relaxed atomics make that read a benign race instead of undefined
//! behaviour, at no cost on x86_64 and aarch64. The queue never dereferences an item,
//! so it contains no `unsafe` at all.
//! Rejected: a mutex per P (every steal would contend with the owner's fast path);
//! crossbeam-deque (a growable buffer and an epoch GC for what is a bounded ring here,
//! and it cannot hand half a queue to the global queue in one step).
//!
//! # Invariants
//! 1. `tail - head <= CAP` (wrapping arithmetic on u32).
//! 2. Only the owner P writes `tail`; slots in `[head, tail)` hold items.
//! 3. An item is in at most one queue: this ring, the global queue, or `P::runnext`
//!    (taking it out is a successful CAS of `head`, or the swap of `runnext`).
//!
//! # Memory ordering
//! Owner writes the slot (Relaxed), then `tail.store(Release)`; consumers
//! `tail.load(Acquire)`, read the slot, then CAS `head` (AcqRel). The owner's
//! `head.load(Acquire)` before reusing a slot pairs with a thief's CAS, so a thief has
//! finished reading a slot before the owner overwrites it.
//!
//! # References
//! go/src/runtime/proc.go (runqput, runqputslow, runqget, runqgrab, runqsteal);
//! tokio runtime/scheduler/multi_thread/queue.rs.

use crate::loom::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::ptr;

/// Capacity of a local run queue (Go's 256; 4 under loom to keep models small).
#[cfg(not(loom))]
pub(crate) const CAP: usize = 256;
/// Capacity of a local run queue (Go's 256; 4 under loom to keep models small).
#[cfg(loom)]
pub(crate) const CAP: usize = 4;

const MASK: u32 = CAP as u32 - 1;
const _: () = assert!(CAP.is_power_of_two() && CAP >= 4);

/// A bounded single-producer, multi-consumer ring of item pointers.
pub(crate) struct RunQueue<T> {
    /// Next slot to consume. Atomic: CAS by the owner (pop) and thieves (steal).
    head: AtomicU32,
    /// Next slot to fill. Atomic: written by the owner only (Release), read by all.
    tail: AtomicU32,
    /// The ring; slot `i % CAP` of `[head, tail)` is live (invariant 2).
    buf: Box<[AtomicPtr<T>]>,
}

/// Half a queue plus one item, moved to the global queue by an overflowing push.
pub(crate) struct Overflow<T> {
    /// The items, oldest first; `len` of them are valid.
    pub(crate) items: [*mut T; CAP / 2 + 1],
    /// How many of `items` are valid.
    pub(crate) len: usize,
}

impl<T> RunQueue<T> {
    pub(crate) fn new() -> Self {
        let buf = (0..CAP).map(|_| AtomicPtr::new(ptr::null_mut())).collect();
        RunQueue { head: AtomicU32::new(0), tail: AtomicU32::new(0), buf }
    }

    fn slot(&self, i: u32) -> &AtomicPtr<T> {
        &self.buf[(i & MASK) as usize]
    }

    /// Number of queued items (a snapshot; exact only for the owner without thieves).
    pub(crate) fn len(&self) -> usize {
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Acquire);
        t.wrapping_sub(h).min(CAP as u32) as usize
    }

    /// Owner of a queue that nobody steals from (a runtime's only P, p.rs invariant
    /// 1): `pop` with a plain store of `head` instead of a CAS, one locked instruction
    /// less per schedule (a yield on one P pays it on every switch).
    pub(crate) fn pop_unshared(&self) -> Option<*mut T> {
        let h = self.head.load(Ordering::Relaxed);
        if self.tail.load(Ordering::Relaxed) == h {
            return None;
        }
        let item = self.slot(h).load(Ordering::Relaxed);
        self.head.store(h.wrapping_add(1), Ordering::Release);
        Some(item)
    }

    /// Owner: the item the next `pop` would take, or null (a hint: thieves may take it
    /// first).
    pub(crate) fn peek(&self) -> *mut T {
        let h = self.head.load(Ordering::Relaxed);
        if self.tail.load(Ordering::Relaxed) == h {
            return ptr::null_mut();
        }
        self.slot(h).load(Ordering::Relaxed)
    }

    /// Whether the queue looks empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Owner only: appends `item`. On a full ring, moves half of it plus `item` out and
    /// returns them for the global queue.
    pub(crate) fn push(&self, item: *mut T) -> Option<Overflow<T>> {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if t.wrapping_sub(h) < CAP as u32 {
                // Invariant 2: we are the owner, slot `t` is outside `[head, tail)`.
                self.slot(t).store(item, Ordering::Relaxed);
                self.tail.store(t.wrapping_add(1), Ordering::Release);
                return None;
            }
            if let Some(o) = self.push_slow(item, h, t) {
                return Some(o);
            }
            // A thief took some items meanwhile: there is room now.
        }
    }

    /// Owner only: takes half the (full) ring plus `item` out, if `head` is still `h`.
    #[cold]
    fn push_slow(&self, item: *mut T, h: u32, t: u32) -> Option<Overflow<T>> {
        let n = t.wrapping_sub(h) / 2;
        debug_assert_eq!(n as usize, CAP / 2, "runq: push_slow on a queue that is not full");
        let mut out = Overflow { items: [ptr::null_mut(); CAP / 2 + 1], len: n as usize + 1 };
        for i in 0..n {
            out.items[i as usize] = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
        }
        if self
            .head
            .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        out.items[n as usize] = item;
        Some(out)
    }

    /// Owner only: takes the oldest item.
    pub(crate) fn pop(&self) -> Option<*mut T> {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if t == h {
                return None;
            }
            let item = self.slot(h).load(Ordering::Relaxed);
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some(item);
            }
        }
    }

    /// Thief: moves half of this queue's items into `dst` (owned by the caller) and
    /// returns one of them to run at once. `dst` must be empty-ish: the caller found its
    /// own queue empty, and only the caller pushes to it.
    pub(crate) fn steal_into(&self, dst: &RunQueue<T>) -> Option<*mut T> {
        let dt = dst.tail.load(Ordering::Relaxed);
        let dh = dst.head.load(Ordering::Acquire);
        let room = CAP as u32 - dt.wrapping_sub(dh);
        let mut n = self.grab(dst, dt, room);
        if n == 0 {
            return None;
        }
        n -= 1;
        let item = dst.slot(dt.wrapping_add(n)).load(Ordering::Relaxed);
        if n != 0 {
            dst.tail.store(dt.wrapping_add(n), Ordering::Release);
        }
        Some(item)
    }

    /// Copies half of `[head, tail)` (at most `room`) into `dst` from slot `dt` on, and
    /// claims them by a CAS of `head`. Returns how many were claimed.
    fn grab(&self, dst: &RunQueue<T>, dt: u32, room: u32) -> u32 {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            let len = t.wrapping_sub(h);
            if len > CAP as u32 {
                // Inconsistent snapshot (head moved between the loads): retry.
                continue;
            }
            let n = (len - len / 2).min(room);
            if n == 0 {
                return 0;
            }
            for i in 0..n {
                let item = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
                // Invariant 2 for `dst`: the caller owns it and slots from `dt` are free.
                dst.slot(dt.wrapping_add(i)).store(item, Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    fn item(i: usize) -> *mut u8 {
        i as *mut u8
    }

    #[test]
    fn fifo_and_wraparound() {
        let q = RunQueue::<u8>::new();
        let mut next = 1usize;
        let mut expect = 1usize;
        for round in 0..10 {
            for _ in 0..(CAP - round) {
                assert!(q.push(item(next)).is_none());
                next += 1;
            }
            while let Some(x) = q.pop() {
                assert_eq!(x as usize, expect);
                expect += 1;
            }
        }
        assert_eq!(expect, next);
    }

    /// The unshared pop takes the same items in the same order as `pop`, across the
    /// ring's wrap-around, and both can be mixed on one queue.
    #[test]
    fn unshared_pop_is_fifo_and_mixes_with_pop() {
        let q = RunQueue::<u8>::new();
        let mut next = 1usize;
        let mut expect = 1usize;
        for round in 0..10 {
            for _ in 0..(CAP - 3 * round) {
                assert!(q.push(item(next)).is_none());
                next += 1;
            }
            let mut k = 0;
            loop {
                k += 1;
                let x = if (k + round) % 3 == 0 { q.pop() } else { q.pop_unshared() };
                let Some(x) = x else { break };
                assert_eq!(x as usize, expect);
                expect += 1;
            }
            assert!(q.is_empty() && q.peek().is_null());
        }
        assert_eq!(expect, next);
    }

    #[test]
    fn overflow_moves_half_plus_one() {
        let q = RunQueue::<u8>::new();
        for i in 1..=CAP {
            assert!(q.push(item(i)).is_none());
        }
        let o = q.push(item(CAP + 1)).expect("full queue overflows");
        assert_eq!(o.len, CAP / 2 + 1);
        let moved: Vec<usize> = o.items[..o.len].iter().map(|&p| p as usize).collect();
        let want: Vec<usize> = (1..=CAP / 2).chain([CAP + 1]).collect();
        assert_eq!(moved, want);
        assert_eq!(q.len(), CAP / 2);
        assert_eq!(q.pop().map(|p| p as usize), Some(CAP / 2 + 1));
    }

    #[test]
    fn steal_takes_half() {
        let a = RunQueue::<u8>::new();
        let b = RunQueue::<u8>::new();
        for i in 1..=10 {
            a.push(item(i));
        }
        let got = a.steal_into(&b).map(|p| p as usize);
        assert_eq!(got, Some(5));
        assert_eq!(a.len(), 5);
        assert_eq!(b.len(), 4);
        assert_eq!(b.pop().map(|p| p as usize), Some(1));
        assert_eq!(a.pop().map(|p| p as usize), Some(6));
        let empty = RunQueue::<u8>::new();
        assert!(empty.steal_into(&b).is_none());
    }

    /// Owner pushes and pops while thieves steal: every item is taken exactly once.
    #[test]
    fn concurrent_owner_and_thieves_take_each_item_once() {
        const N: usize = 200_000;
        let q = Arc::new(RunQueue::<u8>::new());
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let done = Arc::new(AtomicBool::new(false));
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let (q, seen, done) = (q.clone(), seen.clone(), done.clone());
                std::thread::spawn(move || {
                    let mine = RunQueue::<u8>::new();
                    let mut got = Vec::new();
                    while !done.load(Ordering::Acquire) || !q.is_empty() {
                        if let Some(x) = q.steal_into(&mine) {
                            got.push(x as usize);
                        }
                        while let Some(x) = mine.pop() {
                            got.push(x as usize);
                        }
                    }
                    let mut s = seen.lock().unwrap();
                    for x in got {
                        assert!(s.insert(x), "item {x} taken twice");
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        for i in 1..=N {
            if let Some(o) = q.push(item(i)) {
                got.extend(o.items[..o.len].iter().map(|&p| p as usize));
            }
            if i % 3 == 0 {
                if let Some(x) = q.pop() {
                    got.push(x as usize);
                }
            }
        }
        while let Some(x) = q.pop() {
            got.push(x as usize);
        }
        done.store(true, Ordering::Release);
        for t in thieves {
            t.join().unwrap();
        }
        let mut s = seen.lock().unwrap();
        for x in got {
            assert!(s.insert(x), "item {x} taken twice");
        }
        assert_eq!(s.len(), N);
    }
}
