//! The stack pool: per-thread LIFO caches, a global pool per size class, fresh arena
//! slots, and trimming of stacks that grew (Go's stack shrink, done at reuse time).
//!
//! # Design
//! [`PooledStack::acquire`] looks, in order, in the calling thread's cache (a fixed LIFO
//! array per size class, no lock, no allocation, no system call), in the global pool of
//! the class (`Mutex<Vec>`, refilling half the thread cache at once), and finally takes
//! fresh slots from the class's current arena (creating a larger arena when it is full):
//! a batch that fills the thread cache, guards installed and top pages faulted in with
//! one system call each for the whole batch (`refill_fresh`).
//! Dropping a [`PooledStack`] returns it to the thread cache; a full cache spills its
//! older half to the global pool. A thread's cache goes to the global pool at thread exit.
//!
//! **Trimming.** A stack that once grew must not pin its pages forever, but a system call
//! costs ~270 ns here, too much for every release. So each pooled stack carries a
//! *canary*: [`CANARY_WORDS`] words, [`CANARY_STRIDE`] bytes apart, in the lowest
//! [`CANARY_SPAN`] bytes of a page near the top. A stack that grows past that page must
//! carry its deepest call chain through the span (every call pushes a return address,
//! frames are small), so release reads the words (a few ns) and only a broken canary
//! costs a `madvise(MADV_DONTNEED)`. The canary has two positions, so that a goroutine
//! that regularly uses 4-8 KiB does not pay a system call on every release:
//!
//! | state   | canary at              | resident (pages) | release when the canary is broken          |
//! |---------|------------------------|------------------|--------------------------------------------|
//! | `COLD`  | none (fresh/scavenged) | 0                | (never released in this state: acquire arms) |
//! | `TOP`   | bottom of the top page | 1                | DONTNEED below the top 2 pages, arm `DEEP` |
//! | `DEEP`  | bottom of the 2nd page | at most 2        | DONTNEED below the top 2 pages, re-arm     |
//!
//! A fresh stack is armed `TOP` when it is handed out (writing the canary touches only
//! the top page, which the coroutine touches anyway), so an idle goroutine costs one page.
//!
//! Trade-off: the canary can miss growth (a false negative) when one frame larger than
//! the gap between canary words spans the span and writes none of them (a big
//! uninitialized buffer). Backstop: [`scavenge`] gives back every page of every stack in
//! the global pool. Stacks spilled there are not trimmed again when their canary is
//! intact (`TOP`): that `madvise` and its TLB shootdown cost ~40% of a spawn+join when
//! goroutines start on one thread and exit on another, and almost always free nothing.
//! `DEEP` stacks are trimmed to their top page on the way. A broken canary without
//! deep growth (a false positive) merely costs one unneeded `madvise`.
//! Rejected: `mincore` at release (400 ns, every time); trimming every release (270 ns);
//! trimming never (a goroutine that once used 200 KiB would keep it).
//!
//! [`scavenge`] gives back every page of the stacks in the global pool (state `COLD`),
//! for programs that had a burst of goroutines.
//!
//! **Header.** The top [`HEADER_SIZE`] bytes of every slot lie above the stack's `top()`
//! and belong to the slot, not to the stack: the runtime keeps the goroutine's record
//! there, in the page the goroutine touches anyway, instead of in a separate heap
//! allocation (96 bytes per goroutine saved). Records must stay readable through stale
//! pointers (a goroutine's wake-up handle may outlive it), so the header is never given
//! back while a slot is in use or cached, and its first word — the record's park word,
//! whose generation must only grow — survives `scavenge`: it is saved in the slot's
//! metadata before the page goes and written back when the slot is next handed out.
//!
//! **Fast path.** A `Slot` is two words (the top address with the size class and trim
//! state packed into its free low bits, and a pointer to the slot's metadata), so it moves
//! in registers; the thread cache is a `const`-initialized thread-local *without* a
//! destructor (no liveness check on access), drained at thread exit by a second
//! thread-local, `ExitGuard`. Acquire + release from the cache is then about 80
//! instructions, no atomic read-modify-write, no system call: ~10 ns back to back on the
//! 2.1 GHz Xeon of the benchmark machine (`benches/alloc.rs`), where the loop is bound by
//! the latency of the cache's own store-to-load chain (push writes the slot and length
//! that the next pop reads), not by the work; the canary check costs ~0.5 ns of it.
//!
//! **Valgrind.** A stack is registered (`VALGRIND_STACK_REGISTER`) when it is handed out
//! and deregistered when it comes back; before the canary is read, the whole stack is
//! marked defined, because memcheck marks popped frames inaccessible. Natively, one
//! cached flag skips all of it.
//!
//! # Invariants
//! 1. A slot is in exactly one place: a [`PooledStack`], one thread cache, or one global
//!    pool vector — or never handed out yet (above its arena's bump pointer).
//! 2. A pooled slot (thread cache or global pool) in state `TOP` has an intact canary in
//!    its top page; in state `DEEP`, in its second page; in state `COLD` no page is
//!    resident. Slots in the global pool are never `DEEP` and hold at most one page.
//! 3. The thread cache is touched only through `with_local`, whose closures never call
//!    back into `with_local`, so the `&mut LocalCache` they get is unique.
//! 4. A thread cache's `cap` is nonzero ("ready") only after [`crate::ensure_thread_ready`]
//!    ran on its thread, its `lens` are in `CACHES` and its exit guard is registered;
//!    a push needs `len < cap`, so a cache holds stacks — and hands them out — only on a
//!    thread with a sigaltstack to report their overflow, and never after thread exit.
//! 5. A slot's owner id (header word at `HEADER_OWNER_OFFSET`) is 0 whenever the slot
//!    is pooled. A `COLD` slot's metadata `kept` holds the header's first word as
//!    `scavenge` saved it; `prepare` writes it back. A slot never handed out is
//!    `FRESH`, with nothing to restore.
//! 6. A slot's header (`[top - HEADER_SIZE, top)`) reads as zero until first written and
//!    changes only through its holders, except that `scavenge` zeroes all of it but the
//!    first word, which reads zero until the slot is next handed out and then holds its
//!    value again.
//!
//! # Memory ordering
//! The global pool and arena growth are under one `Mutex` per size class. Statistics
//! counters are Relaxed (a snapshot, not a synchronization point).
//!
//! # References
//! go/src/runtime/stack.go (stackcache_refill/stackcache_release move half the cache,
//! shrinkstack), go/src/runtime/mgcscavenge.go.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::arena::{self, class_of, page_size, slots_for, Arena, GuardMode, SlotMeta, NCLASSES};
use crate::valgrind;
use crate::{validate_stack_size, Stack, HEADER_OWNER_OFFSET, HEADER_SIZE};

/// Stacks per size class in one thread's cache. 32 rather than 16: where goroutines
/// start on one thread and exit on another, every `BATCH` of them costs a trip
/// through the class's lock on each side; 16 more cached stacks cost a thread at most
/// 64 KiB of resident top pages (spawn_join, 11 alternating runs: 306.7 -> 279.3 ns).
pub const CACHE_CAP: usize = 32;
/// Stacks moved between a thread cache and the global pool at once.
const BATCH: usize = CACHE_CAP / 2;
/// Canary words per armed stack.
pub const CANARY_WORDS: usize = 8;
/// Bytes between canary words.
pub const CANARY_STRIDE: usize = 64;
/// Bytes at the bottom of a page covered by the canary.
pub const CANARY_SPAN: usize = CANARY_WORDS * CANARY_STRIDE;
/// The canary pattern (not a plausible pointer, length or small integer).
const CANARY: u64 = 0xC4A7_1E5D_9F0B_3A62;

/// Slot state `TOP`: canary armed at the bottom of the top page.
const STATE_TOP: usize = 0;
/// Slot state `DEEP`: canary armed at the bottom of the second page.
const STATE_DEEP: usize = 1;
/// Slot state `COLD`: nothing resident, no canary.
const STATE_COLD: usize = 2;
/// Slot state `FRESH`: never handed out (nothing resident, no canary, zero header); only
/// between `take_global` and `prepare`, never pooled.
const STATE_FRESH: usize = 3;

/// Layout of [`Slot::word`]: the top address is page aligned, so its low 12 bits are free.
///
/// | bits   | meaning                  |
/// |--------|--------------------------|
/// | 0..2   | state (`TOP`/`DEEP`/`COLD`/`FRESH`) |
/// | 2..7   | size class               |
/// | 12..64 | top of the stack         |
const STATE_MASK: usize = 0b11;
const CLASS_SHIFT: u32 = 2;
const CLASS_MASK: usize = 0x1f;
const TOP_MASK: usize = !0xfff;
const _: () = assert!(NCLASSES <= CLASS_MASK + 1);

/// A reference to one arena slot plus its size class and trim state, in two words so
/// it moves in registers (the fast paths never touch the arena itself).
#[derive(Clone, Copy)]
struct Slot {
    /// `top | class << CLASS_SHIFT | state` (see the table above).
    word: usize,
    /// The slot's metadata in its arena (owner id, valgrind id).
    meta: &'static SlotMeta,
}

impl Slot {
    fn new(arena: &'static Arena, index: u32, state: usize) -> Slot {
        let top = arena.top(index as usize);
        debug_assert_eq!(top & !TOP_MASK, 0);
        Slot { word: top | (arena.class << CLASS_SHIFT) | state, meta: arena.meta(index as usize) }
    }
    #[inline]
    fn state(self) -> usize {
        self.word & STATE_MASK
    }
    #[inline]
    fn class(self) -> usize {
        (self.word >> CLASS_SHIFT) & CLASS_MASK
    }
    #[inline]
    fn with_state(self, state: usize) -> Slot {
        Slot { word: (self.word & !STATE_MASK) | state, ..self }
    }
    #[inline]
    fn top(self) -> usize {
        self.word & TOP_MASK
    }
    /// Usable bytes (arena.rs: the class size, at least `MIN_PAGES` pages).
    #[inline]
    fn stack_len(self) -> usize {
        arena::stack_len_of(self.class())
    }
    #[inline]
    fn limit(self) -> usize {
        self.top() - self.stack_len()
    }

    /// Address of the lowest canary word for `state` (`TOP` or `DEEP`): the bottom of
    /// the top page for `TOP` (0), of the second page for `DEEP` (1).
    #[inline]
    fn canary_at(self, state: usize) -> *mut u64 {
        const _: () = assert!(STATE_TOP == 0 && STATE_DEEP == 1);
        debug_assert!(state <= STATE_DEEP);
        (self.top() - (state + 1) * page_size()) as *mut u64
    }

    /// Writes the canary for `state` (`TOP` or `DEEP`) and returns the slot in that state.
    #[inline(never)]
    fn arm(self, state: usize) -> Slot {
        let base = self.canary_at(state);
        for w in 0..CANARY_WORDS {
            // SAFETY: invariant 1 — we own the slot; the span lies inside `[limit, top)`
            // (a stack spans at least `MIN_PAGES` = 4 pages and the canary sits in the top
            // two), which is readable and writable.
            unsafe { base.byte_add(w * CANARY_STRIDE).write(CANARY) };
        }
        self.with_state(state)
    }

    /// Whether the armed canary of the slot's state is intact.
    #[inline]
    fn canary_intact(self) -> bool {
        let base = self.canary_at(self.state());
        let mut ok = true;
        for w in 0..CANARY_WORDS {
            // SAFETY: as in `arm`; the page is resident by invariant 2, so the read does
            // not fault anything in.
            ok &= unsafe { base.byte_add(w * CANARY_STRIDE).read() } == CANARY;
        }
        ok
    }

    /// Gives back the pages of `[limit, top - keep_pages * page)`.
    fn dontneed_below(self, keep_pages: usize) {
        let end = self.top() - keep_pages * page_size();
        let start = self.limit();
        if end > start {
            // SAFETY: invariant 1 — we own the slot and nothing runs on it; the range lies
            // inside the stack (above its guard), so only our own stale data is dropped.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
            TRIMS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Release-time check (see the table): keeps a stack at most two pages resident.
    #[inline]
    fn settle(self) -> Slot {
        if self.canary_intact() {
            return self;
        }
        self.settle_slow()
    }

    #[cold]
    fn settle_slow(self) -> Slot {
        self.dontneed_below(2);
        self.arm(STATE_DEEP)
    }

    /// How a slot enters the global pool: a `DEEP` one (two resident pages) is trimmed
    /// back to its top page; a `TOP` one, whose canary was intact at release, goes as
    /// it is: trimming it costs a `madvise` and a TLB shootdown for nothing in the
    /// common case (goroutines spawned on one thread and exiting on another spill
    /// constantly), and a canary miss is reclaimed by `scavenge`.
    #[inline]
    fn for_global(self) -> Slot {
        if self.state() == STATE_TOP || self.state() == STATE_COLD {
            return self;
        }
        self.trim_to_top()
    }

    /// Trims to one resident page, canary armed `TOP`.
    fn trim_to_top(self) -> Slot {
        self.dontneed_below(1);
        self.arm(STATE_TOP)
    }

    /// Asks the CPU to fetch, for writing, the lines a new goroutine writes first: the
    /// header and the two lines below it (its closure and initial frame). A stack that
    /// last ran on another core has them there; pulling them over while the holder of
    /// the previous slot works takes the transfer off the next spawn's critical path.
    /// A hint only: no fault, no effect on memory.
    #[inline]
    fn prefetch_top(self) {
        prefetch_top_lines::<true>(self.top());
    }

    /// The header's first word (invariant 6).
    #[inline]
    fn kept_word(self) -> &'static AtomicU64 {
        arena::header_word(self.top(), 0)
    }

    /// The header's owner id word (invariant 5).
    #[inline]
    fn owner_word(self) -> &'static AtomicU64 {
        arena::header_word(self.top(), HEADER_OWNER_OFFSET)
    }

    /// Makes a slot ready to run on: arms a `FRESH` one, and a `COLD` one after giving
    /// its header back the first word that `scavenge` saved (invariants 5 and 6).
    #[inline]
    fn prepare(self) -> Slot {
        match self.state() {
            STATE_FRESH => self.arm(STATE_TOP),
            STATE_COLD => self.warm(),
            _ => self,
        }
    }

    #[cold]
    fn warm(self) -> Slot {
        let kept = self.meta.kept.load(Ordering::Relaxed);
        if kept != 0 {
            self.kept_word().store(kept, Ordering::Release);
        }
        self.arm(STATE_TOP)
    }

    /// Gives back every page of the slot, header included, saving the header's first
    /// word in the metadata (invariants 5 and 6). Caller: `scavenge`, which holds the
    /// class lock of the pooled slot.
    fn make_cold(self) -> Slot {
        let kept = self.kept_word().load(Ordering::Acquire);
        self.meta.kept.store(kept, Ordering::Relaxed);
        self.dontneed_below(0);
        self.with_state(STATE_COLD)
    }
}

/// A stack slot taken from the pool; returns itself to the pool on drop.
///
/// `Send` (a goroutine's stack may be released on another thread), not `Sync`.
pub struct PooledStack {
    /// The slot and its trim state; the state changes on [`PooledStack::trim`].
    slot: Cell<Slot>,
}

// SAFETY: invariant 4 of arena.rs — `top` is page aligned, hence 16-byte aligned;
// invariant 1 — `[limit, top)` is an arena mapping with read/write access owned by this
// value alone; arena invariants 3 and 4 — the guard (`GUARD_SIZE` bytes at least) was
// installed before the slot was first handed out and lies directly below `limit`.
// The header (`HEADER_SIZE` bytes, a multiple of 16) lies above `top`, outside the stack.
unsafe impl Stack for PooledStack {
    #[inline]
    fn top(&self) -> *mut u8 {
        arena::header_of(self.slot.get().top()).as_ptr()
    }
    #[inline]
    fn limit(&self) -> *mut u8 {
        self.slot.get().limit() as *mut u8
    }
    #[inline]
    fn size(&self) -> usize {
        self.slot.get().stack_len() - HEADER_SIZE
    }
}
const _: () = assert!(HEADER_SIZE.is_multiple_of(16) && HEADER_SIZE < 4096);

impl PooledStack {
    /// Takes a stack of `size` bytes (a power of two, 16 KiB ..= 1 GiB) from the pool.
    ///
    /// Fast path (the thread's cache has one): no lock, no allocation, no system call.
    /// Errors: an invalid size (see [`validate_stack_size`]), address space exhausted, or
    /// in mprotect guard mode `vm.max_map_count` nearly reached (the message names it).
    #[inline]
    pub fn acquire(size: usize) -> io::Result<PooledStack> {
        let class = class_of(validate_stack_size(size)?);
        let slot = match with_local(|c| c.pop(class)) {
            Some(slot) => slot,
            None => acquire_slow(class)?,
        };
        Ok(PooledStack::hand_out(slot))
    }

    /// The slot's header: [`HEADER_SIZE`] bytes directly above [`Stack::top`], aligned to
    /// `HEADER_SIZE`, for the holder's own record of the slot (the runtime's G).
    ///
    /// Unlike the stack, the header is not the holder's alone: it stays mapped, readable
    /// and writable for the life of the process, and the same slot's next holders get
    /// the same bytes, so a record kept there may be read through stale pointers (with
    /// atomics) after the slot went back to the pool. It reads as zero when the slot is
    /// first handed out and keeps what holders wrote across pooling and reuse, with two
    /// exceptions: the owner id word (see [`PooledStack::set_owner_id`]) is zeroed at
    /// every release, and [`scavenge`] zeroes all of it but its first 8 bytes (an
    /// `AtomicU64`), which read as zero while the slot is scavenged and hold their value
    /// again once the slot is handed out. [`for_each_header`] visits the header of every slot.
    #[inline]
    pub fn header(&self) -> std::ptr::NonNull<u8> {
        arena::header_of(self.slot.get().top())
    }

    /// Asks the CPU to fetch the canary words that releasing this stack will read (a
    /// hint, no effect on memory). A short-lived goroutine never touches them, so
    /// without it the release waits for them to come from memory; a goroutine calls
    /// this when it starts, so that they arrive while it runs.
    #[inline]
    pub fn prefetch_canary(&self) {
        let slot = self.slot.get();
        if slot.state() <= STATE_DEEP {
            let base = slot.canary_at(slot.state()) as usize;
            for w in 0..CANARY_WORDS {
                prefetch_line::<false>(base + w * CANARY_STRIDE);
            }
        }
    }

    /// Sets the goroutine id that the overflow report prints for this stack
    /// (0: not a goroutine; the report then says `coroutine`). It is kept in the header,
    /// at [`HEADER_OWNER_OFFSET`], and cleared when the stack goes back to the pool.
    #[inline]
    pub fn set_owner_id(&self, id: u64) {
        self.slot.get().owner_word().store(id, Ordering::Relaxed);
    }

    /// Gives back every page of the stack but the top one (`MADV_DONTNEED`) and re-arms
    /// the trim canary.
    ///
    /// # Safety
    /// No code may be suspended on (or running on) this stack, and nothing may rely on
    /// its contents: everything below the top page reads as zero afterwards and the
    /// canary overwrites the bottom of the top page.
    pub unsafe fn trim(&self) {
        let slot = self.slot.get();
        if valgrind::active() {
            valgrind::make_mem_defined(slot.limit() as *const u8, slot.top() - slot.limit());
        }
        self.slot.set(slot.trim_to_top());
    }

    /// Takes a stack from the global pool (or a fresh slot), bypassing the thread cache.
    /// For benchmarks and tests of the slow path.
    #[doc(hidden)]
    pub fn acquire_global(size: usize) -> io::Result<PooledStack> {
        let class = class_of(validate_stack_size(size)?);
        crate::overflow::ensure_thread_ready();
        Ok(PooledStack::hand_out(take_global(class)?))
    }

    /// Returns the stack to the global pool (trimming it), bypassing the thread cache.
    /// For benchmarks and tests of the slow path.
    #[doc(hidden)]
    pub fn release_global(self) {
        let slot = self.detach();
        std::mem::forget(self);
        put_global([slot.trim_to_top()]);
    }

    #[inline]
    fn hand_out(slot: Slot) -> PooledStack {
        let slot = slot.prepare();
        if valgrind::active() {
            let id = valgrind::stack_register(slot.limit() as *const u8, slot.top() as *const u8);
            slot.meta.vg_id.store(id as u32, Ordering::Relaxed);
        }
        PooledStack { slot: Cell::new(slot) }
    }

    /// Undoes `hand_out`: deregisters from valgrind and clears the owner id.
    #[inline]
    fn detach(&self) -> Slot {
        let slot = self.slot.get();
        if valgrind::active() {
            valgrind::stack_deregister(slot.meta.vg_id.load(Ordering::Relaxed) as usize);
            // Memcheck marks popped frames inaccessible; we are about to read the canary
            // and maybe rewrite it.
            valgrind::make_mem_defined(slot.limit() as *const u8, slot.top() - slot.limit());
        }
        slot.owner_word().store(0, Ordering::Relaxed);
        slot
    }
}

impl Drop for PooledStack {
    #[inline]
    fn drop(&mut self) {
        let slot = self.detach().settle();
        if !with_local(|c| c.try_push(slot)) {
            release_slow(slot);
        }
    }
}

impl fmt::Debug for PooledStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledStack")
            .field("limit", &self.limit())
            .field("top", &self.top())
            .field("size", &self.size())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Thread cache.

/// A thread's cache: up to `cap` stacks per size class, LIFO.
///
/// The type has no destructor, so the thread-local holding it needs no liveness check
/// on access; [`ExitGuard`] (a second thread-local, registered when the cache becomes
/// ready) drains it at thread exit and closes it.
struct LocalCache {
    /// Stacks per class the cache may hold: 0 until ready and after close, `CACHE_CAP`
    /// while ready (invariant 4). A push beyond it, or any push while it is 0, takes
    /// the slow path.
    cap: u8,
    /// Set at thread exit: the cache never becomes ready again.
    closed: bool,
    /// Entries in use per class. Atomic only so that `stats()` may read them through
    /// `CACHES`: written by this thread alone (Relaxed load + store, plain moves).
    lens: [AtomicU8; NCLASSES],
    /// `slots[c][..lens[c]]` are `Some`, the rest `None`.
    slots: [[Option<Slot>; CACHE_CAP]; NCLASSES],
}

thread_local! {
    /// This thread's cache (invariant 3).
    static LOCAL: UnsafeCell<LocalCache> = const { UnsafeCell::new(LocalCache::new()) };
    /// Drains and closes `LOCAL` when the thread exits.
    static EXIT: ExitGuard = const { ExitGuard };
}

/// Runs `f` on this thread's cache.
#[inline]
fn with_local<R>(f: impl FnOnce(&mut LocalCache) -> R) -> R {
    LOCAL.with(|cell| {
        // SAFETY: invariant 3 — no caller of `with_local` re-enters it from `f`, so this
        // is the only reference to the cache; the cell belongs to this thread.
        let cache = unsafe { &mut *cell.get() };
        f(cache)
    })
}

impl LocalCache {
    const fn new() -> LocalCache {
        LocalCache {
            cap: 0,
            closed: false,
            lens: [const { AtomicU8::new(0) }; NCLASSES],
            slots: [[None; CACHE_CAP]; NCLASSES],
        }
    }

    /// Pops the most recently cached stack of `class` (`< NCLASSES`), and starts
    /// fetching the top lines of the one that the next pop will hand out.
    #[inline]
    fn pop(&mut self, class: usize) -> Option<Slot> {
        let len = self.len(class);
        if len == 0 {
            return None;
        }
        self.set_len(class, len - 1);
        if len >= 2 {
            if let Some(next) = self.slots[class][len - 2] {
                next.prefetch_top();
            }
        }
        self.slots[class][len - 1].take()
    }

    /// Pushes `slot` if the cache is ready and the class has room.
    #[inline]
    fn try_push(&mut self, slot: Slot) -> bool {
        let class = slot.class();
        let len = self.len(class);
        if len >= self.cap as usize {
            return false;
        }
        self.slots[class][len] = Some(slot);
        self.set_len(class, len + 1);
        true
    }

    #[inline]
    fn len(&self, class: usize) -> usize {
        self.lens[class].load(Ordering::Relaxed) as usize
    }

    #[inline]
    fn set_len(&self, class: usize, len: usize) {
        self.lens[class].store(len as u8, Ordering::Relaxed);
    }

    /// Moves the older half of class `class` to the global pool (`DEEP` ones trimmed).
    #[cold]
    fn spill(&mut self, class: usize) {
        let len = self.len(class);
        let n = BATCH.min(len);
        let mut out: [Option<Slot>; BATCH] = [None; BATCH];
        for (o, s) in out.iter_mut().zip(&mut self.slots[class][..n]) {
            *o = s.take().map(Slot::for_global);
        }
        self.slots[class].copy_within(n..len, 0);
        for s in &mut self.slots[class][len - n..len] {
            *s = None;
        }
        self.set_len(class, len - n);
        put_global(out.into_iter().flatten());
    }

    /// Makes the cache usable on this thread (invariant 4); false once it is closed.
    #[cold]
    fn make_ready(&mut self) -> bool {
        if self.cap != 0 {
            return true;
        }
        if self.closed {
            return false;
        }
        crate::overflow::ensure_thread_ready();
        // Touching the guard registers its destructor; during thread exit that fails and
        // the cache stays unready (stacks then go straight to the global pool).
        if EXIT.try_with(|_| ()).is_err() {
            return false;
        }
        lock(&CACHES).push(&self.lens as *const [AtomicU8; NCLASSES] as usize);
        self.cap = CACHE_CAP as u8;
        true
    }

    /// Thread exit: sends every cached stack to the global pool (trimmed) and closes.
    fn close(&mut self) {
        self.cap = 0;
        self.closed = true;
        for class in 0..NCLASSES {
            let len = self.len(class);
            let mut out: [Option<Slot>; CACHE_CAP] = [None; CACHE_CAP];
            for (o, s) in out.iter_mut().zip(&mut self.slots[class][..len]) {
                *o = s.take().map(Slot::for_global);
            }
            self.set_len(class, 0);
            put_global(out.into_iter().flatten());
        }
        let me = &self.lens as *const [AtomicU8; NCLASSES] as usize;
        lock(&CACHES).retain(|&p| p != me);
    }
}

/// Thread-exit hook for [`LOCAL`].
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        with_local(LocalCache::close);
    }
}

/// Addresses of the `lens` arrays of ready thread caches. Protected by its lock; an
/// entry is removed (under the lock) by its thread's `close` before the thread-local
/// memory it points to goes away.
static CACHES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

// ---------------------------------------------------------------------------------------
// Global pool.

/// Per size class: the global pool and the arena being carved.
struct ClassState {
    /// Pooled slots, each `TOP` or `COLD` (invariant 2).
    free: Vec<Slot>,
    /// Arena that fresh slots come from.
    current: Option<&'static Arena>,
    /// Arenas created for this class so far (sets the next one's size).
    arenas: usize,
}

static CLASSES: [Mutex<ClassState>; NCLASSES] =
    [const { Mutex::new(ClassState { free: Vec::new(), current: None, arenas: 0 }) }; NCLASSES];
/// Slots ever handed out fresh.
static CREATED: AtomicUsize = AtomicUsize::new(0);
/// Slots in the global pools.
static GLOBAL_POOLED: AtomicUsize = AtomicUsize::new(0);
/// `MADV_DONTNEED` calls made by trimming.
static TRIMS: AtomicUsize = AtomicUsize::new(0);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks except allocation failure; a poisoned
    // pool is still consistent (each operation completes before it can panic).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cold]
fn acquire_slow(class: usize) -> io::Result<Slot> {
    let got = with_local(|c| {
        if !c.make_ready() {
            // Thread exiting: no cache, but the thread may still run code on a stack.
            crate::overflow::ensure_thread_ready();
            return None;
        }
        if let Some(s) = c.pop(class) {
            return Some(Ok(s));
        }
        // Refill: take a batch from the global pool, keep all but one in the cache.
        let mut st = lock(&CLASSES[class]);
        if st.free.is_empty() {
            return Some(refill_fresh(c, class, st));
        }
        let n = st.free.len().min(BATCH);
        let at = st.free.len() - n;
        let mut batch = [None; BATCH];
        for (b, s) in batch.iter_mut().zip(st.free.drain(at..)) {
            *b = Some(s);
        }
        GLOBAL_POOLED.fetch_sub(n, Ordering::Relaxed);
        drop(st);
        let first = batch[0].take();
        for s in batch.into_iter().flatten() {
            let pushed = c.try_push(s);
            debug_assert!(pushed, "an empty class has room for a batch");
        }
        first.map(Ok)
    });
    match got {
        Some(Ok(slot)) => Ok(slot),
        Some(Err(e)) => Err(e),
        None => take_global(class),
    }
}

/// Fills the (empty) cache class `class` with fresh slots and returns one more: their
/// guards cost one system call for the batch (`Arena::take_fresh_batch_locked`), and
/// their top pages are faulted in by one more (`MADV_POPULATE_WRITE`, best effort)
/// instead of one page fault each at first touch, ~0.5 µs less per slot each here.
/// They are armed `TOP` before they enter the cache (invariant 2).
#[cold]
fn refill_fresh(
    c: &mut LocalCache,
    class: usize,
    mut st: std::sync::MutexGuard<'_, ClassState>,
) -> io::Result<Slot> {
    debug_assert_eq!(c.len(class), 0);
    let (arena, first, n) = loop {
        if let Some(arena) = st.current {
            if let Some((first, n)) = arena.take_fresh_batch_locked(CACHE_CAP + 1)? {
                break (arena, first, n);
            }
        }
        let arena = Arena::create(class, slots_for(st.arenas, arena::stride_of(class)))?;
        st.arenas += 1;
        st.current = Some(arena);
    };
    drop(st);
    CREATED.fetch_add(n as usize, Ordering::Relaxed);
    let slots = (first..first + n).map(|i| Slot::new(arena, i, STATE_FRESH));
    let pages: Vec<libc::iovec> = slots
        .clone()
        .map(|s| libc::iovec {
            iov_base: (s.top() - page_size()) as *mut libc::c_void,
            iov_len: page_size(),
        })
        .collect();
    // Best effort: a page it did not fault in faults at first touch instead.
    arena::madvise_ranges(&pages, arena::MADV_POPULATE_WRITE);
    let mut slots = slots.map(|s| s.arm(STATE_TOP));
    let first = slots.next().expect("a batch holds at least one slot");
    for s in slots {
        let pushed = c.try_push(s);
        debug_assert!(pushed, "an empty class has room for CACHE_CAP slots");
    }
    Ok(first)
}

#[cold]
fn release_slow(slot: Slot) {
    let pushed = with_local(|c| {
        if !c.make_ready() {
            return false;
        }
        if !c.try_push(slot) {
            c.spill(slot.class());
            return c.try_push(slot);
        }
        true
    });
    if !pushed {
        put_global([slot.for_global()]);
    }
}

/// Pops a slot from the global pool of `class`, or carves a fresh one.
fn take_global(class: usize) -> io::Result<Slot> {
    let mut st = lock(&CLASSES[class]);
    if let Some(s) = st.free.pop() {
        GLOBAL_POOLED.fetch_sub(1, Ordering::Relaxed);
        return Ok(s);
    }
    loop {
        if let Some(arena) = st.current {
            if let Some(i) = arena.take_fresh_locked()? {
                CREATED.fetch_add(1, Ordering::Relaxed);
                return Ok(Slot::new(arena, i, STATE_FRESH));
            }
        }
        let arena = Arena::create(class, slots_for(st.arenas, arena::stride_of(class)))?;
        st.arenas += 1;
        st.current = Some(arena);
    }
}

/// Puts slots (already trimmed: `TOP` or `COLD`, all of one class) into the global pool.
fn put_global(slots: impl IntoIterator<Item = Slot>) {
    let mut slots = slots.into_iter().peekable();
    let Some(first) = slots.peek() else { return };
    let class = first.class();
    let mut st = lock(&CLASSES[class]);
    let mut n = 0;
    for s in slots {
        debug_assert_eq!(s.class(), class);
        debug_assert_ne!(s.state(), STATE_DEEP);
        st.free.push(s);
        n += 1;
    }
    GLOBAL_POOLED.fetch_add(n, Ordering::Relaxed);
}

/// Gives back every page of every stack in the global pools (and first moves the
/// calling thread's cached stacks there). Those stacks cost no memory until reused.
pub fn scavenge() {
    with_local(|c| {
        for class in 0..NCLASSES {
            while c.len(class) > 0 {
                c.spill(class);
            }
        }
    });
    for class in CLASSES.iter() {
        let mut st = lock(class);
        for s in st.free.iter_mut() {
            if s.state() != STATE_COLD {
                *s = s.make_cold();
            }
        }
    }
}

/// A snapshot of the stack allocator (counters are read without a common lock).
#[derive(Clone, Copy, Debug)]
pub struct StackStats {
    /// Address space reserved by arenas, in bytes (not memory: pages commit on touch).
    pub reserved_bytes: usize,
    /// Arenas (mappings) created.
    pub arenas: usize,
    /// Slots ever handed out fresh from arenas.
    pub slots_created: usize,
    /// Stacks currently handed out (`PooledStack` values alive).
    pub slots_in_use: usize,
    /// Stacks pooled: global pools plus every thread's cache.
    pub slots_pooled: usize,
    /// Of `slots_pooled`, those in the global pools.
    pub slots_pooled_global: usize,
    /// `MADV_DONTNEED` calls made to trim stacks.
    pub trims: usize,
    /// The guard mechanism of this process.
    pub guard_mode: GuardMode,
}

/// Statistics of the stack allocator.
pub fn stats() -> StackStats {
    let (reserved_bytes, arenas) = arena::reserved();
    let local: usize = lock(&CACHES)
        .iter()
        // SAFETY: entries point to live thread caches' `lens`: `close` removes an entry
        // under this lock before its thread-local memory is freed.
        .map(|&p| unsafe { &*(p as *const [AtomicU8; NCLASSES]) })
        .map(|lens| lens.iter().map(|l| l.load(Ordering::Relaxed) as usize).sum::<usize>())
        .sum();
    let global = GLOBAL_POOLED.load(Ordering::Relaxed);
    let created = CREATED.load(Ordering::Relaxed);
    StackStats {
        reserved_bytes,
        arenas,
        slots_created: created,
        slots_in_use: created.saturating_sub(global + local),
        slots_pooled: global + local,
        slots_pooled_global: global,
        trims: TRIMS.load(Ordering::Relaxed),
        guard_mode: arena::guard_mode(),
    }
}

/// Asks the CPU to fetch, for reading, the lines a switch into the goroutine whose
/// record is in the header at `header` (see [`PooledStack::header`]) reads first: the
/// header and the two lines below the slot's top (a new goroutine's closure and first
/// frame; a small goroutine's saved frame). A hint: a stale or dangling address is
/// harmless (no fault, no effect on memory).
#[inline]
pub fn prefetch_header(header: *const u8) {
    prefetch_top_lines::<false>((header as usize).wrapping_add(HEADER_SIZE));
}

/// Prefetches the header and the two lines below the slot top `top`, for writing if
/// `WRITE`.
#[inline(always)]
fn prefetch_top_lines<const WRITE: bool>(top: usize) {
    for off in [64, 128, 192, 256] {
        prefetch_line::<WRITE>(top.wrapping_sub(off));
    }
}

/// Asks the CPU to fetch the cache line holding `addr`, for writing if `WRITE`. A hint
/// only: any address is allowed, nothing faults, memory is unchanged. A no-op off
/// x86_64.
#[inline(always)]
fn prefetch_line<const WRITE: bool>(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0, _MM_HINT_T0};
        let p = addr as *const i8;
        // SAFETY: a prefetch never faults and has no effect on memory, whatever the
        // address (the intrinsic is unsafe only as a raw-pointer operation).
        unsafe {
            if WRITE {
                _mm_prefetch::<_MM_HINT_ET0>(p)
            } else {
                _mm_prefetch::<_MM_HINT_T0>(p)
            }
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Calls `f` with the header (see [`PooledStack::header`]) of every slot ever handed
/// out, in use or pooled, of every size class. A slot handed out for the first time
/// while this runs may or may not be visited. Reading a never-touched or scavenged
/// header maps the zero page (no memory); for diagnostics such as goroutine dumps.
pub fn for_each_header(mut f: impl FnMut(std::ptr::NonNull<u8>)) {
    arena::for_each_slot_top(|top| f(arena::header_of(top)));
}

/// Resident bytes of all stacks ever handed out, measured with `mincore` over every
/// arena (costs a system call per 64 MiB of slots: for diagnostics, not hot paths).
pub fn resident_bytes() -> usize {
    arena::resident_bytes_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_STACK_SIZE;

    fn resident_pages(s: &PooledStack) -> usize {
        let page = page_size();
        let len = s.top() as usize - s.limit() as usize;
        let mut v = vec![0u8; len.div_ceil(page)];
        // SAFETY: the range is the stack, inside our mapping; `v` has one byte per page
        // (the last page, partly the header, included).
        let rc = unsafe { libc::mincore(s.limit().cast(), len, v.as_mut_ptr()) };
        assert_eq!(rc, 0);
        v.iter().filter(|&&b| b & 1 != 0).count()
    }

    #[test]
    fn pooled_stack_is_send() {
        fn send<T: Send>() {}
        send::<PooledStack>();
    }

    #[test]
    fn handles_are_two_words() {
        assert_eq!(std::mem::size_of::<PooledStack>(), 16);
        assert_eq!(std::mem::size_of::<Option<Slot>>(), 16);
    }

    #[test]
    fn fresh_stack_is_one_page_and_aligned() {
        let s = PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap();
        assert_eq!(s.top() as usize % 16, 0);
        assert_eq!(s.size(), DEFAULT_STACK_SIZE - HEADER_SIZE);
        assert_eq!(s.header().as_ptr(), s.top());
        assert!(resident_pages(&s) <= 1);
    }

    #[test]
    fn lifo_reuse_on_one_thread() {
        let a = PooledStack::acquire(64 * 1024).unwrap();
        let top = a.top();
        drop(a);
        let b = PooledStack::acquire(64 * 1024).unwrap();
        assert_eq!(b.top(), top);
    }

    #[test]
    fn canary_detects_growth_and_trims() {
        let size = 128 * 1024;
        let s = PooledStack::acquire(size).unwrap();
        let page = page_size();
        // Use 100 KiB like a stack would: every byte from the top down.
        // SAFETY: the range lies inside the stack we own.
        unsafe { std::ptr::write_bytes(s.top().sub(100 * 1024), 0x55, 100 * 1024) };
        let top = s.top();
        drop(s);
        let s = PooledStack::acquire(size).unwrap();
        assert_eq!(s.top(), top);
        assert!(resident_pages(&s) <= 2, "{}", resident_pages(&s));
        assert_eq!(s.slot.get().state(), STATE_DEEP);
        // A 6 KiB user stays in DEEP without further trims.
        // SAFETY: inside the stack.
        unsafe { std::ptr::write_bytes(s.top().sub(6 * 1024), 0x66, 6 * 1024 - 64) };
        assert!(page * 2 > 6 * 1024);
        drop(s);
        let s = PooledStack::acquire(size).unwrap();
        assert_eq!(s.top(), top);
        assert_eq!(s.slot.get().state(), STATE_DEEP);
        // SAFETY: nothing runs on the stack; its contents are not used.
        unsafe { s.trim() };
        assert_eq!(s.slot.get().state(), STATE_TOP);
        assert!(resident_pages(&s) <= 1);
    }

    #[test]
    fn header_keeps_its_bytes_and_scavenge_keeps_its_first_word() {
        // A size class no other test of this binary uses: the global pool holds only ours.
        let size = 4 << 20;
        let s = PooledStack::acquire(size).unwrap();
        let h = s.header().as_ptr();
        assert_eq!(h as usize % HEADER_SIZE, 0);
        // SAFETY: the header is HEADER_SIZE bytes of the slot we hold; one thread.
        let read = |i: usize| unsafe { h.add(i).read() };
        assert!((0..HEADER_SIZE).all(|i| read(i) == 0), "a fresh header reads as zero");
        // SAFETY: the header's first word is 8-byte aligned and accessed atomically only.
        let word = unsafe { &*(h as *const AtomicU64) };
        word.store(0xABCD_0001, Ordering::Relaxed);
        // SAFETY: inside the header.
        unsafe { h.add(64).write(7) };
        let mut seen = 0;
        for_each_header(|p| seen += usize::from(p.as_ptr() == h));
        assert_eq!(seen, 1);
        drop(s);
        let s = PooledStack::acquire(size).unwrap();
        assert_eq!(s.header().as_ptr(), h, "LIFO reuse of the same slot");
        assert_eq!((word.load(Ordering::Relaxed), read(64)), (0xABCD_0001, 7));
        s.release_global();
        scavenge();
        assert_eq!((word.load(Ordering::Relaxed), read(64)), (0, 0), "scavenged: zero pages");
        // The global pool also holds the fresh slots the thread cache was refilled with:
        // take stacks until ours comes back.
        let mut others = Vec::new();
        let s = loop {
            let s = PooledStack::acquire_global(size).unwrap();
            if s.header().as_ptr() == h {
                break s;
            }
            others.push(s);
            assert!(others.len() <= 2 * CACHE_CAP, "our slot never came back");
        };
        assert_eq!(word.load(Ordering::Relaxed), 0xABCD_0001, "the first word came back");
        assert_eq!(read(64), 0);
        drop(s);
    }

    /// Fresh slots come in batches: the cache is refilled with armed, resident stacks
    /// whose guards are in place.
    #[test]
    fn fresh_slots_come_in_armed_batches() {
        // A size class no other test of this binary uses.
        let size = 8 << 20;
        let s = PooledStack::acquire(size).unwrap();
        let class = class_of(size);
        let cached = with_local(|c| c.len(class));
        // The mprotect fallback hands out one fresh slot at a time (arena.rs).
        let batch = match crate::guard_mode() {
            GuardMode::Madvise => CACHE_CAP,
            GuardMode::Mprotect => 0,
        };
        assert_eq!(cached, batch, "the rest of the fresh batch went to the cache");
        let all: Vec<_> = (0..cached).map(|_| PooledStack::acquire(size).unwrap()).collect();
        for t in all.iter().chain([&s]) {
            assert_eq!(t.slot.get().state(), STATE_TOP);
            assert!(t.slot.get().canary_intact());
            assert_eq!(resident_pages(t), 1, "armed: the top page, and only it, is resident");
            let guard = arena::lookup(t.limit() as usize - 1).expect("inside an arena");
            assert!(guard.in_guard);
        }
    }

    #[test]
    fn owner_id_is_cleared_on_release() {
        let s = PooledStack::acquire(32 * 1024).unwrap();
        s.set_owner_id(42);
        let owner = s.slot.get().owner_word();
        assert_eq!(owner.load(Ordering::Relaxed), 42);
        // SAFETY: the owner word is 8-byte aligned inside the header; atomic access only.
        let in_header = unsafe { &*s.header().as_ptr().add(HEADER_OWNER_OFFSET).cast() };
        assert!(std::ptr::eq(owner, in_header));
        drop(s);
        assert_eq!(owner.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn cache_spills_to_global_trimmed() {
        let size = 512 * 1024;
        let stacks: Vec<_> =
            (0..CACHE_CAP * 2).map(|_| PooledStack::acquire(size).unwrap()).collect();
        drop(stacks);
        let st = lock(&CLASSES[class_of(size)]);
        assert!(st.free.len() >= CACHE_CAP);
        assert!(st.free.iter().all(|s| s.state() == STATE_TOP || s.state() == STATE_COLD));
    }

    #[test]
    fn stack_crosses_threads() {
        let s = PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap();
        let t = std::thread::spawn(move || {
            s.set_owner_id(3);
            drop(s);
            PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap().size()
        });
        assert_eq!(t.join().unwrap(), DEFAULT_STACK_SIZE - HEADER_SIZE);
    }
}
