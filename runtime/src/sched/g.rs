//! The G: one goroutine's record (saved context, stack, state, wait reason, id).
//!
//! # Design
//! A G record lives in the header of its goroutine's stack slot: the top
//! [`goro_stack::HEADER_SIZE`] bytes of the slot, above the stack itself, in the page the
//! goroutine touches anyway (DESIGN.md §3). A goroutine then costs its stack's one page
//! and no heap allocation: 96 bytes less per goroutine than a record in a separate slab,
//! and one cold cache line fewer at spawn. The G and its slot are one: allocating a G is
//! acquiring a stack, freeing it is dropping the stack. The goroutine's closure lives
//! just below the record, at the top of the stack.
//!
//! The header is type-stable memory: it stays mapped for the life of the process and
//! only ever holds a G record (every holder of the slot that runs goroutines puts its G
//! there; standalone coroutines leave it alone), and every byte pattern the pool can
//! leave there is a valid record (invariant 5). That is what lets an
//! [`Unparker`](super::park::Unparker) outlive the park it was made for: it holds the
//! record and a generation number, and a stale handle's CAS on the record's park word
//! simply fails — the park word is the header's first word, which keeps its value
//! through `goro_stack::scavenge`, so its generation only grows (invariant 3).
//! Visiting every slot's header is Go's `allgs` (goroutine dumps, deadlock report).
//! Rejected: a slab of records (a separate 96-byte allocation per goroutine, 2% of a
//! parked goroutine's memory); the record inside the stack proper (a stale unpark
//! handle could then write into another goroutine's stack frames).
//!
//! # Invariants
//! 1. `ctx` holds the goroutine's suspended context whenever the G is Runnable or
//!    Waiting and has been published (pushed to a run queue, or its park word set to
//!    PARKED); the switch that suspends the G writes it before anyone can see the G
//!    ("switch, then release", sched/mod.rs invariant 1).
//! 2. `stack` and `ctx` are touched only by the M that owns the G: the M running it,
//!    or the M that took it out of a queue or free list.
//! 3. The park word's generation only grows (it survives reuse of the record).
//! 4. `join` is null whenever the G is Dead; while non-null it owns one strong
//!    reference to the goroutine's join packet (spawn.rs invariant 3).
//! 5. Every bit pattern the stack pool leaves in a header is a valid, Dead G: all zero
//!    (a fresh or scavenged slot), the first word kept by a scavenge with the rest
//!    zero, or a record freed by `free_g`. Hence every field is zero-valid (atomics,
//!    raw pointers, `Option<Box>`, `MaybeUninit`), and `stack` holds a value exactly
//!    while the G is not Dead. `free_g` finishes writing the record before it drops the
//!    stack, after which the slot, header included, may be the next goroutine's.

use std::cell::UnsafeCell;
use std::mem::{self, MaybeUninit};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use goro_asm::Context;
use goro_stack::{PooledStack, HEADER_SIZE};

use super::park::WaitReason;
use super::Sched;

/// Goroutine states (Go's `_Gidle`, `_Grunnable`, ...). Stored in `G::status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Status {
    /// Free: on a free list or never used; owns no stack.
    Dead = 0,
    /// Runnable: owns a stack and a saved context; in exactly one run queue (or being
    /// handed to an M).
    Runnable = 1,
    /// Running: owns its stack, on no run queue, has an M and a P.
    Running = 2,
    /// Waiting: parked (channel, lock, sleep, join); on no run queue; some waiter queue
    /// or timer holds an unpark handle for it.
    Waiting = 3,
}

/// A goroutine record. Lives in its stack slot's header (never freed; invariant 5).
#[repr(C)]
pub(crate) struct G {
    /// The park word: `generation << 2 | state` (see park.rs). Atomic: any thread.
    /// First: the header word that survives a scavenge (invariant 3).
    pub(crate) park: AtomicU64,
    /// Goroutine id, 0 while Dead. Atomic: written at spawn, read by anyone. It is the
    /// header's owner id word (`goro_stack::HEADER_OWNER_OFFSET`): `PooledStack::
    /// set_owner_id` writes it at spawn, and the pool clears it when the stack goes back.
    pub(crate) id: AtomicU64,
    /// The saved context (invariants 1 and 2).
    pub(crate) ctx: UnsafeCell<Context>,
    /// A [`Status`]. Atomic: written by the owning M, read by dumps and stats.
    pub(crate) status: AtomicU8,
    /// A [`WaitReason`] while Waiting. Atomic: written by the G, read by dumps.
    pub(crate) wait_reason: AtomicU8,
    /// The scheduler this G belongs to. Atomic: written at spawn (before the G is
    /// published), read by whoever readies it.
    pub(crate) sched: AtomicPtr<Sched>,
    /// The stack whose header holds this record: initialized exactly while the G is
    /// not Dead (invariants 2 and 5).
    pub(crate) stack: UnsafeCell<MaybeUninit<PooledStack>>,
    /// `lock_os_thread` nesting count. Written by the G itself only.
    pub(crate) locked: AtomicU32,
    /// The M this G is locked to (an `MShared`), or null. Written by the G itself.
    pub(crate) locked_m: AtomicPtr<super::m::MShared>,
    /// The name given by `Builder::name` (invariant 2). Boxed: one word in every record,
    /// an allocation only for the few named goroutines.
    #[allow(clippy::box_collection, reason = "one word instead of three in every record")]
    pub(crate) name: UnsafeCell<Option<Box<String>>>,
    /// The goroutine's join packet (`Arc::into_raw` of a `spawn::Packet<T>`), or null
    /// once the goroutine or a dropped `JoinHandle` took it (invariant 4). Atomic: set
    /// at spawn before the G is published; cleared by CAS from either side.
    pub(crate) join: AtomicPtr<()>,
}

// SAFETY: the `UnsafeCell` fields follow invariant 2 (one owning M at a time, handed
// over through run queues with Release/Acquire); every other field is atomic.
unsafe impl Sync for G {}
// SAFETY: as above; a G record is plain data handed between threads.
unsafe impl Send for G {}

impl G {
    /// The record in `stack`'s header, which becomes the G's own stack.
    ///
    /// # Safety
    /// The record must be Dead and the caller its owner (it holds `stack`, just taken
    /// from the pool); the header must hold a G record (invariant 5).
    pub(crate) unsafe fn in_header(stack: PooledStack) -> &'static G {
        // SAFETY: headers are HEADER_SIZE-aligned, never unmapped, and hold a valid G
        // (invariant 5; the size and alignment are checked below at compile time).
        let g: &'static G = unsafe { stack.header().cast::<G>().as_ref() };
        debug_assert_eq!(g.status(), Status::Dead);
        // SAFETY: the caller owns the dead record; `stack` is uninitialized while Dead.
        unsafe { (*g.stack.get()).write(stack) };
        g
    }

    /// Takes the stack out of an exiting G (the record stays in its header).
    ///
    /// # Safety
    /// The caller owns the G (invariant 2), which is about to become Dead and has a
    /// stack; nothing reads `stack` again before the next `in_header`.
    pub(crate) unsafe fn take_stack(&self) -> PooledStack {
        // SAFETY: initialized while not Dead (invariant 5); read once, per the contract.
        unsafe { (*self.stack.get()).assume_init_read() }
    }

    /// The goroutine's current status.
    pub(crate) fn status(&self) -> Status {
        match self.status.load(Ordering::Acquire) {
            1 => Status::Runnable,
            2 => Status::Running,
            3 => Status::Waiting,
            _ => Status::Dead,
        }
    }

    pub(crate) fn set_status(&self, s: Status) {
        self.status.store(s as u8, Ordering::Release);
    }

    /// The scheduler this G belongs to (set at spawn).
    pub(crate) fn sched(&self) -> &'static Sched {
        let s = self.sched.load(Ordering::Acquire);
        debug_assert!(!s.is_null());
        // SAFETY: set at spawn to a leaked (`'static`) Sched before the G was published.
        unsafe { &*s }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    pub(crate) fn wait_reason(&self) -> WaitReason {
        WaitReason::from_u8(self.wait_reason.load(Ordering::Relaxed))
    }
}

const _: () = assert!(mem::size_of::<G>() <= HEADER_SIZE);
const _: () = assert!(mem::offset_of!(G, id) == goro_stack::HEADER_OWNER_OFFSET);
const _: () = assert!(HEADER_SIZE.is_multiple_of(mem::align_of::<G>()));

/// Calls `f` on every G record: the header of every stack slot ever handed out (Go's
/// `allgs`). Slots of standalone coroutines and pooled slots hold Dead records.
pub(crate) fn for_each(mut f: impl FnMut(&'static G)) {
    goro_stack::for_each_header(|h| {
        // SAFETY: a header always holds a valid G record (invariant 5), aligned and
        // mapped for the life of the process; every field is atomic or an UnsafeCell.
        f(unsafe { h.cast::<G>().as_ref() })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A G record fits its header, with room to spare.
    #[test]
    fn g_record_is_small() {
        let size = std::mem::size_of::<G>();
        assert!(size <= 96, "G is {size} bytes");
    }

    /// Invariant 5: the byte patterns a header can hold read as a Dead G without a stack.
    #[test]
    fn zeroed_header_is_a_dead_record() {
        let zero = MaybeUninit::<G>::zeroed();
        // SAFETY: invariant 5 — every field of G is valid when zero.
        let g = unsafe { zero.assume_init_ref() };
        assert_eq!(g.status(), Status::Dead);
        assert_eq!(g.id(), 0);
        // SAFETY: single-threaded test; nothing else refers to the record.
        assert!(unsafe { (*g.name.get()).is_none() });
        assert!(g.join.load(Ordering::Relaxed).is_null());
    }
}
