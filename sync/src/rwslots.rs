//! Deferred reader slots: where [`RwMutex`](crate::RwMutex) readers announce themselves
//! without writing to the lock's own cache line.
//!
//! # Design
//! Go's `RLock`/`RUnlock` are one atomic add each on the lock's reader count; with
//! readers on several cores that line moves between them on every read, and the lock
//! scales no better than a mutex. Here a reader instead claims a *slot* — one word of a
//! process-wide table, set to the lock's name — in the table line of the processor
//! (P) it runs on, and checks afterwards that no writer is pending; leaving, it clears
//! its slot. Each line is written by the readers of one P, so it stays in that core's
//! cache. A writer announces itself on the lock first (readers arriving later see it
//! and take the lock's own slow path), then scans the whole table and *migrates* every
//! slot holding its lock's name: it clears the slot and counts that reader among
//! those it waits for. A reader whose slot was migrated finds it no longer holds the
//! name when it leaves and reports to the writer instead.
//!
//! A lock's name is a number from a process-wide counter, given when its readers
//! start taking slots and kept in the lock: not its address, which a move changes and
//! a later lock may reuse.
//!
//! The idea is folly's `SharedMutex` "deferred readers" (a global slot table shared by
//! every lock, so a lock costs no memory per processor), on top of Go's algorithm.
//!
//! Slots of one lock are interchangeable: each stands for one read lock of that lock,
//! whoever claimed it. A reader leaving may clear a slot that another reader of the same
//! lock claimed after a migration; that reader then finds its slot gone and leaves
//! through the writer's count, which still holds the unit of the first. What is
//! conserved is the number of read locks: slots holding the name plus the readers
//! a pending writer counts.
//!
//! The table has one line of [`SLOTS_PER_LINE`] words per processor, up to
//! [`MAX_LINES`] lines (the next power of two of the machine's parallelism, fixed at
//! first use): a writer's scan reads every line, so the table is kept as small as the
//! machine allows. A reader on a plain thread uses a line picked per thread. A full
//! line (several goroutines on one P holding read locks at once) sends the reader down
//! the lock's own path; nothing waits for a slot.
//!
//! # Invariants
//! 1. A slot is 0 (free) or the name of a `RawRwMutex` with one read lock
//!    outstanding for it. Names are never reused (`new_name`: a 64-bit counter). A
//!    lock's `Drop` clears the slots still holding its name (only leaked guards leave
//!    them), giving them back to the table.
//! 2. A slot becomes non-zero only by a reader's `claim` (CAS from 0) and zero only by a
//!    CAS from the lock's name: the reader leaving (`release`) or a writer migrating
//!    it (`migrate`).
//!
//! # Memory ordering
//! Every slot access is `SeqCst`, as are the lock's reader-count accesses that pair with
//! them: a reader claims, then loads the count; a writer changes the count, then loads
//! the slots. In the single total order one of them sees the other (Dekker's pattern):
//! either the reader sees the pending writer, or the writer's scan sees the slot. A
//! reader's release (or the writer's migrating CAS, which reads it) carries the
//! reader's accesses to the writer.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Slots in one table line (one 64-byte cache line of words).
pub(crate) const SLOTS_PER_LINE: usize = 8;

/// Most lines the table can have.
pub(crate) const MAX_LINES: usize = 64;

/// One line of slots, aligned to 128 bytes so that the adjacent-line prefetcher of one
/// core does not pull in the line another core writes.
#[repr(align(128))]
struct Line([AtomicUsize; SLOTS_PER_LINE]);

#[allow(clippy::declare_interior_mutable_const)] // an initializer, copied per line
const FREE_LINE: Line = Line([const { AtomicUsize::new(0) }; SLOTS_PER_LINE]);

/// The process-wide table (invariants 1 and 2).
static TABLE: [Line; MAX_LINES] = [FREE_LINE; MAX_LINES];

/// Lines in use minus one (the lines are a power of two, at least 2); 0 until first
/// use.
static LINE_MASK: AtomicUsize = AtomicUsize::new(0);

/// The next lock name (names start at 1; 0 is a free slot).
static NEXT_NAME: AtomicUsize = AtomicUsize::new(1);

/// A name for a lock whose readers start taking slots (invariant 1).
pub(crate) fn new_name() -> usize {
    NEXT_NAME.fetch_add(1, Ordering::Relaxed)
}

/// Lines handed to plain threads, round robin.
static NEXT_THREAD_LINE: AtomicUsize = AtomicUsize::new(0);

/// Lines in use minus one: fixed at first use from the machine's parallelism.
#[inline]
pub(crate) fn line_mask() -> usize {
    match LINE_MASK.load(Ordering::Relaxed) {
        0 => init_line_mask(),
        m => m,
    }
}

#[cold]
fn init_line_mask() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mask = cpus.next_power_of_two().clamp(2, MAX_LINES) - 1;
    // Racing first users compute the same value.
    LINE_MASK.store(mask, Ordering::Relaxed);
    mask
}

/// The lines in use.
fn lines() -> &'static [Line] {
    &TABLE[..=line_mask()]
}

/// The caller's line: its P's on a goroutine, else one per plain thread.
#[inline]
fn my_line() -> &'static Line {
    let i = match goro_runtime::current_proc() {
        Some(p) => p,
        None => thread_line(),
    };
    // `& (MAX_LINES - 1)` is a no-op after the mask (both powers of two minus one,
    // the first no larger) and lets the compiler drop the bounds check.
    &TABLE[i & line_mask() & (MAX_LINES - 1)]
}

/// A plain thread's line number. Never inlined: only plain threads get here, and no
/// caller may keep a thread-local address across a goroutine switch (DESIGN.md §12).
#[inline(never)]
fn thread_line() -> usize {
    thread_local! {
        static LINE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    LINE.with(|l| {
        if l.get() == usize::MAX {
            l.set(NEXT_THREAD_LINE.fetch_add(1, Ordering::Relaxed));
        }
        l.get()
    })
}

/// A claimed slot: what a read guard keeps to give it back.
pub(crate) type Slot = &'static AtomicUsize;

/// Claims a free slot of the caller's line for one read lock of the lock named `id`
/// (non-zero); `None` if the line is full.
#[inline]
pub(crate) fn claim(id: usize) -> Option<Slot> {
    debug_assert!(id != 0);
    my_line().0.iter().find(|s| {
        s.load(Ordering::Relaxed) == 0
            && s.compare_exchange(0, id, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    })
}

/// Gives back the slot a read lock of `id` claimed: `true` if it still held `id` (the
/// read lock ends here), `false` if a writer migrated it (the reader must report to
/// that writer instead).
#[inline]
pub(crate) fn release(slot: Slot, id: usize) -> bool {
    slot.compare_exchange(id, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok()
}

/// Clears every slot holding `id`; returns how many it cleared (the read locks that the
/// caller, a writer that announced itself, or the lock's `Drop`, now accounts for).
pub(crate) fn migrate(id: usize) -> usize {
    let mut n = 0;
    for line in lines() {
        for s in &line.0 {
            if s.load(Ordering::SeqCst) == id
                && s.compare_exchange(id, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok()
            {
                n += 1;
            }
        }
    }
    n
}

/// Whether some slot holds `id` (a read lock of it is outstanding there).
pub(crate) fn any(id: usize) -> bool {
    lines().iter().any(|line| line.0.iter().any(|s| s.load(Ordering::SeqCst) == id))
}

/// Line `i` of the table, for tests.
#[cfg(test)]
pub(crate) fn table_line(i: usize) -> &'static [AtomicUsize; SLOTS_PER_LINE] {
    &TABLE[i].0
}
