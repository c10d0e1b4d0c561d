//! The G: one goroutine's record (saved context, stack, state, wait reason, id).
//!
//! # Design
//! G records live in a slab: chunks of [`CHUNK`] records that are allocated once and
//! never freed, so a `*mut G` stays valid forever (type-stable memory). That is what
//! lets an [`Unparker`](super::park::Unparker) outlive the park it was made for: it
//! holds the record and a generation number, and a stale handle's CAS on the
//! record's park word simply fails. Dead records go to the P's free list, then a
//! global one; iterating the chunks is Go's `allgs` (goroutine dumps, deadlock report).
//! The goroutine's closure lives at the top of its stack, not in the record.
//! Rejected: the record inside the stack's top page (a stale unpark handle would then
//! write into a stack slot that may belong to someone else by then).
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

use crate::lockorder::Level;
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use goro_asm::Context;
use goro_stack::PooledStack;

use super::park::WaitReason;
use super::Sched;

/// G records per slab chunk.
pub(crate) const CHUNK: usize = 1024;

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

/// A goroutine record. Lives in the slab (never freed).
pub(crate) struct G {
    /// The saved context (invariants 1 and 2).
    pub(crate) ctx: UnsafeCell<Context>,
    /// The park word: `generation << 2 | state` (see park.rs). Atomic: any thread.
    pub(crate) park: AtomicU64,
    /// A [`Status`]. Atomic: written by the owning M, read by dumps and stats.
    pub(crate) status: AtomicU8,
    /// A [`WaitReason`] while Waiting. Atomic: written by the G, read by dumps.
    pub(crate) wait_reason: AtomicU8,
    /// Goroutine id (> 0 while alive). Atomic: written at spawn, read by anyone.
    pub(crate) id: AtomicU64,
    /// The scheduler this G belongs to. Atomic: written at spawn (before the G is
    /// published), read by whoever readies it.
    pub(crate) sched: AtomicPtr<Sched>,
    /// Link for the global run queue and the global free list. Protected by the lock
    /// of the list the G is on.
    pub(crate) link: AtomicPtr<G>,
    /// The stack (invariant 2).
    pub(crate) stack: UnsafeCell<Option<PooledStack>>,
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
    fn new() -> G {
        G {
            ctx: UnsafeCell::new(Context::empty()),
            park: AtomicU64::new(0),
            status: AtomicU8::new(Status::Dead as u8),
            wait_reason: AtomicU8::new(0),
            id: AtomicU64::new(0),
            sched: AtomicPtr::new(ptr::null_mut()),
            link: AtomicPtr::new(ptr::null_mut()),
            stack: UnsafeCell::new(None),
            locked: AtomicU32::new(0),
            locked_m: AtomicPtr::new(ptr::null_mut()),
            name: UnsafeCell::new(None),
            join: AtomicPtr::new(ptr::null_mut()),
        }
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

/// Every chunk ever allocated (Go's `allgs`, by chunk).
static CHUNKS: Mutex<Vec<&'static [G]>> = Mutex::new(Vec::new());

/// Global free list of dead G records.
struct FreeList(Vec<*mut G>);
// SAFETY: the pointers are slab records (`'static`, Sync); the Vec moves between threads.
unsafe impl Send for FreeList {}
static GFREE: Mutex<FreeList> = Mutex::new(FreeList(Vec::new()));

fn lock<T>(m: &Mutex<T>, level: Level) -> crate::lockorder::Guard<'_, T> {
    crate::lockorder::lock(m, level)
}

/// Takes up to `n` dead records from the global free list into `out`, allocating a
/// fresh chunk when the list is empty.
pub(crate) fn alloc_batch(out: &mut Vec<*mut G>, n: usize) {
    let mut free = lock(&GFREE, Level::Slab);
    if free.0.is_empty() {
        let chunk: &'static [G] = Box::leak((0..CHUNK).map(|_| G::new()).collect());
        lock(&CHUNKS, Level::SlabChunks).push(chunk);
        // Hand them out in address order (the last pushed is popped first).
        free.0.extend(chunk.iter().rev().map(|g| ptr::from_ref(g).cast_mut()));
    }
    let take = n.min(free.0.len());
    let at = free.0.len() - take;
    out.extend(free.0.drain(at..));
}

/// Returns dead records to the global free list.
pub(crate) fn free_batch(gs: impl Iterator<Item = *mut G>) {
    lock(&GFREE, Level::Slab).0.extend(gs);
}

/// Calls `f` on every G record ever allocated.
pub(crate) fn for_each(mut f: impl FnMut(&'static G)) {
    let chunks: Vec<&'static [G]> = lock(&CHUNKS, Level::SlabChunks).clone();
    for c in chunks {
        c.iter().for_each(&mut f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A G record stays small: it is part of every goroutine's memory cost.
    #[test]
    fn g_record_is_small() {
        let size = std::mem::size_of::<G>();
        assert!(size <= 96, "G is {size} bytes");
    }
}
