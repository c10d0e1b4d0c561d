//! Join packets carved from per-thread blocks instead of one `malloc` each.
//!
//! # Design
//! Every joinable spawn allocates a packet (spawn.rs) that outlives the goroutine
//! until its handle is joined or dropped. A program that spawns a burst and joins it
//! later (1M `spawn`s, then 1M `join`s) keeps them all alive at once, so glibc's
//! thread cache never serves them: each `malloc` took the bin path (~60 ns here) and
//! each `free` ~40 ns, on the spawning goroutine's critical path.
//!
//! Here a thread takes [`BLOCK_SLOTS`] slots at once: one allocation of a block whose
//! header counts the slots not yet freed (`live`), then hands them out in order with
//! no atomic operation (a bump of its cursor). A slot's first word points back to its
//! block; freeing a value drops it in place and subtracts one from `live`, from any
//! thread; whoever brings `live` to zero deallocates the block. Slots are 64, 128 or
//! 256 bytes (a cache line or more: packets completed on different cores never share
//! a line); a value that does not fit, or needs more than 64-byte alignment, gets a
//! `Box` of its own (the choice depends only on the type, so `free` knows it).
//!
//! Trade-off: a block is returned only when all its slots are free, so one
//! long-lived value pins at most a block (`BLOCK_SLOTS` slots, 1–4 KiB), and a
//! thread's partly used blocks stay with it until it exits (one per slot size).
//! Rejected: per-thread free lists (they grow to the burst and never shrink, or miss
//! it when bounded); blocks found by address alignment (needs an aligned allocation,
//! a slower path in glibc, for the 8 bytes the back pointer costs).
//!
//! # Invariants
//! 1. `Block::live` is the number of the block's slots not yet freed, counting those
//!    its thread has not handed out yet. The block is deallocated exactly once, by
//!    the `release` that brings it to zero; after that nobody refers to it.
//! 2. A block's slots are handed out only by the cursor of the thread that allocated
//!    it, each once, in order; when the thread exits, its cursors give back the
//!    slots they never handed out (`release` of that many).
//! 3. A handed-out slot's first word holds its block's address until the slot is
//!    freed; the value lies at `offset::<T>()` in the slot.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::mem;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Slots per block.
pub(crate) const BLOCK_SLOTS: usize = 16;
/// Slot sizes (bytes), one cursor per thread each.
const SLOT_SIZES: [usize; 3] = [64, 128, 256];
/// Block header size: one cache line, so that `live` shares none with a slot.
const HEADER: usize = 64;

/// The header of a block: `HEADER` bytes, followed by `BLOCK_SLOTS` (or, for a
/// one-off block made during thread exit, one) slots of `slot` bytes.
#[repr(C)]
struct Block {
    live: AtomicUsize,
    slot: usize,
    slots: usize,
}

const _: () = assert!(mem::size_of::<Block>() <= HEADER);

fn block_layout(slot: usize, slots: usize) -> Layout {
    // Sizes are small constants; 64 is a power of two.
    Layout::from_size_align(HEADER + slot * slots, 64).expect("packet block layout")
}

/// Where a `T` lies in its slot: after the back pointer, aligned for `T`.
const fn offset<T>() -> usize {
    let a = mem::align_of::<T>();
    if a > mem::size_of::<usize>() {
        a
    } else {
        mem::size_of::<usize>()
    }
}

/// The slot size class of `T`, or `None` if `T` goes to a `Box` of its own.
const fn class_of<T>() -> Option<usize> {
    if mem::align_of::<T>() > 64 {
        return None;
    }
    let need = offset::<T>() + mem::size_of::<T>();
    let mut c = 0;
    while c < SLOT_SIZES.len() {
        if need <= SLOT_SIZES[c] {
            return Some(c);
        }
        c += 1;
    }
    None
}

/// A thread's current block of one slot size and the index of its next free slot.
struct Cursor {
    block: Cell<*mut Block>,
    next: Cell<usize>,
}

/// A thread's cursors, one per slot size; gives back unused slots at thread exit.
struct Cursors([Cursor; SLOT_SIZES.len()]);

impl Drop for Cursors {
    fn drop(&mut self) {
        for c in &self.0 {
            let b = c.block.replace(ptr::null_mut());
            if !b.is_null() {
                // SAFETY: invariant 2 — the slots from `next` on were never handed
                // out; they are still counted in `live`, which keeps `b` alive.
                unsafe { release(b, BLOCK_SLOTS - c.next.get()) };
            }
        }
    }
}

thread_local! {
    static CURSORS: Cursors = const {
        Cursors([const { Cursor { block: Cell::new(ptr::null_mut()), next: Cell::new(0) } };
            SLOT_SIZES.len()])
    };
}

/// A new block with `slots` slots of size class `class`, all counted in `live`.
fn new_block(class: usize, slots: usize) -> *mut Block {
    let slot = SLOT_SIZES[class];
    let layout = block_layout(slot, slots);
    // SAFETY: the layout has a nonzero size.
    let b = unsafe { alloc::alloc(layout) }.cast::<Block>();
    if b.is_null() {
        alloc::handle_alloc_error(layout);
    }
    // SAFETY: fresh memory, aligned and large enough for the header.
    unsafe { b.write(Block { live: AtomicUsize::new(slots), slot, slots }) };
    b
}

/// Takes a slot of size class `class`: from this thread's current block, or from a
/// one-slot block while the thread's cursors are gone (thread exit).
fn take_slot(class: usize) -> *mut u8 {
    let from_cursor = CURSORS.try_with(|cs| {
        let c = &cs.0[class];
        let mut b = c.block.get();
        if b.is_null() || c.next.get() == BLOCK_SLOTS {
            // The old block's slots are all handed out: its holders free it.
            b = new_block(class, BLOCK_SLOTS);
            c.block.set(b);
            c.next.set(0);
        }
        let i = c.next.get();
        c.next.set(i + 1);
        (b, i)
    });
    let (b, i) = from_cursor.unwrap_or_else(|_| (new_block(class, 1), 0));
    // SAFETY: slot `i` lies inside the block (`i` < its slot count).
    let slot = unsafe { b.cast::<u8>().add(HEADER + i * SLOT_SIZES[class]) };
    // SAFETY: invariant 3 — the slot is ours; its first word is aligned (64-byte
    // aligned block, header and slot sizes multiples of 64).
    unsafe { slot.cast::<*mut Block>().write(b) };
    slot
}

/// Gives back `n` slots of block `b`; deallocates it when they were the last.
///
/// # Safety
/// `b` is a live block and the caller owns `n` of the slots `live` counts (handed
/// out and now unused, or never handed out).
unsafe fn release(b: *mut Block, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the caller's contract: `b` is alive until `live` reaches zero.
    let blk = unsafe { &*b };
    // AcqRel: every use of a slot happens before the deallocation.
    if blk.live.fetch_sub(n, Ordering::AcqRel) == n {
        let layout = block_layout(blk.slot, blk.slots);
        // SAFETY: invariant 1 — we brought `live` to zero: nobody else refers to the
        // block, which `new_block` allocated with this layout.
        unsafe { alloc::dealloc(b.cast(), layout) };
    }
}

/// Puts `make()` into a slot (or a `Box` when it does not fit one). `make` runs once
/// the slot is known, so that the value is built in place, not copied there.
#[inline]
pub(crate) fn alloc<T>(make: impl FnOnce() -> T) -> NonNull<T> {
    let Some(class) = class_of::<T>() else {
        return NonNull::from(Box::leak(Box::new(make())));
    };
    let slot = take_slot(class);
    // SAFETY: `class_of` checked that `offset::<T>() + size_of::<T>()` fits the slot
    // and that `T`'s alignment divides 64 (the slot's) and `offset::<T>()`.
    let p = unsafe { slot.add(offset::<T>()) }.cast::<T>();
    // SAFETY: as above; the slot is ours. (Should `make` panic, the slot stays
    // counted in its block's `live`, so the block is never freed: a leak, never
    // unsoundness. `create`'s packet cannot panic.)
    unsafe { p.write(make()) };
    // SAFETY: inside a non-null allocation.
    unsafe { NonNull::new_unchecked(p) }
}

/// Drops the value at `p` and frees its slot.
///
/// # Safety
/// `p` came from [`alloc::<T>`](alloc), is not freed yet, and is not used afterwards.
pub(crate) unsafe fn free<T>(p: NonNull<T>) {
    if class_of::<T>().is_none() {
        // SAFETY: the caller's contract: `alloc` made it with `Box` for this `T`.
        drop(unsafe { Box::from_raw(p.as_ptr()) });
        return;
    }
    // SAFETY: the caller's contract: a live `T` that nobody uses afterwards.
    unsafe { ptr::drop_in_place(p.as_ptr()) };
    // SAFETY: invariant 3 — the slot starts `offset::<T>()` bytes before the value,
    // and its first word holds the block's address.
    let b = unsafe { p.as_ptr().cast::<u8>().sub(offset::<T>()).cast::<*mut Block>().read() };
    // SAFETY: the slot was handed out and is now unused: ours to give back.
    unsafe { release(b, 1) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sizes_choose_the_smallest_slot_or_a_box() {
        assert_eq!(class_of::<u64>(), Some(0));
        assert_eq!(class_of::<[u8; 56]>(), Some(0));
        assert_eq!(class_of::<[u8; 57]>(), Some(1));
        assert_eq!(class_of::<[u64; 31]>(), Some(2));
        assert_eq!(class_of::<[u64; 32]>(), None);
        #[repr(align(128))]
        struct Wide(#[allow(dead_code)] u8);
        assert_eq!(class_of::<Wide>(), None);
        #[repr(align(32))]
        struct Mid(#[allow(dead_code)] u8);
        assert_eq!(offset::<Mid>(), 32);
        assert_eq!(class_of::<Mid>(), Some(0));
    }

    #[test]
    fn values_round_trip_and_are_dropped_once() {
        let tick = Arc::new(());
        let mut ps: Vec<NonNull<(Arc<()>, u64)>> =
            (0..3 * BLOCK_SLOTS as u64 + 5).map(|i| alloc(|| (tick.clone(), i))).collect();
        for (i, p) in ps.iter().enumerate() {
            // SAFETY: alive until freed below.
            let v = unsafe { p.as_ref() };
            assert_eq!(v.1, i as u64);
            assert_eq!(p.as_ptr() as usize % mem::align_of::<(Arc<()>, u64)>(), 0);
        }
        assert_eq!(Arc::strong_count(&tick), ps.len() + 1);
        // Free out of order: blocks go when their last slot does.
        ps.reverse();
        for p in ps.drain(..) {
            // SAFETY: from `alloc`, freed once.
            unsafe { free(p) };
        }
        assert_eq!(Arc::strong_count(&tick), 1);
    }

    #[test]
    fn large_and_aligned_values_work_through_the_box_path() {
        let p = alloc(|| [7u64; 40]);
        // SAFETY: alive until freed.
        assert_eq!(unsafe { p.as_ref() }[39], 7);
        // SAFETY: from `alloc`, freed once.
        unsafe { free(p) };
        #[repr(align(32))]
        struct Mid(u8);
        let p = alloc(|| Mid(9));
        assert_eq!(p.as_ptr() as usize % 32, 0);
        // SAFETY: alive until freed.
        assert_eq!(unsafe { p.as_ref() }.0, 9);
        // SAFETY: from `alloc`, freed once.
        unsafe { free(p) };
    }

    /// Values made on one thread and freed on others, and threads that exit with a
    /// partly used block: every block is returned (Miri's leak check sees it).
    #[test]
    fn cross_thread_frees_and_thread_exit() {
        struct Ptr<T>(T);
        // SAFETY: the test hands each pointer to exactly one thread.
        unsafe impl<T> Send for Ptr<T> {}
        let tick = Arc::new(());
        let made: Vec<_> = std::thread::spawn({
            let tick = tick.clone();
            move || (0..BLOCK_SLOTS + 3).map(|_| Ptr(alloc(|| tick.clone()))).collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        let (a, b): (Vec<_>, Vec<_>) = made.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let ts: Vec<_> = [a, b]
            .into_iter()
            .map(|half| {
                std::thread::spawn(move || {
                    for (_, Ptr(p)) in half {
                        // SAFETY: from `alloc`, freed once, here only.
                        unsafe { free(p) };
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(Arc::strong_count(&tick), 1);
    }
}
