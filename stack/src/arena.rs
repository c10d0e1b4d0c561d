//! Stack arenas: one `mmap` of many equal slots, each a guard region plus a stack.
//!
//! # Design
//! An arena reserves `nslots * stride` bytes with `PROT_READ | PROT_WRITE`,
//! `MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE`, so nothing is committed until touched,
//! and `MADV_NOHUGEPAGE`, so a touch never commits a 2 MiB huge page. One size class
//! (a power of two from 16 KiB to 1 GiB) per arena:
//!
//! ```text
//!  base                                                     base + nslots*stride
//!  | guard | stack 0 ........ top| guard | stack 1 ... top| ...   | stack n-1 top|
//!  |<------------ stride ------->|
//!          ^ limit(0)         ^ top(0) = base + stride   (stacks grow down)
//! ```
//!
//! Slot counts grow geometrically per class (64, 128, 256, ... capped at
//! `ARENA_MAX_BYTES` of address space, at least one slot), so a million 256 KiB stacks
//! need about 70 arenas, i.e. about 70 lines in `/proc/self/maps`.
//!
//! Slots are handed out by bump allocation (the pool recycles them afterwards), in
//! batches that fill a thread's cache. The guard of a slot is installed when the slot is
//! first handed out, a batch's guards with one `process_madvise` where the kernel has
//! `PIDFD_SELF` (6.15+), else one system call per slot:
//! - [`GuardMode::Madvise`]: `madvise(guard, MADV_GUARD_INSTALL)` (Linux 6.13+) writes
//!   guard markers into the page tables; the VMA is not split, so an arena stays one
//!   mapping however many stacks it holds.
//! - [`GuardMode::Mprotect`]: `mprotect(guard, PROT_NONE)` splits the VMA, two new
//!   mappings per slot. The arena module counts mappings (the line count of
//!   `/proc/self/maps`, re-read when the estimate nears the limit, plus two per guard)
//!   and refuses a fresh slot with an error naming `vm.max_map_count` before the kernel
//!   limit is reached; an `ENOMEM` from `mprotect` becomes the same error.
//!
//! Rejected: one `mmap` per stack (a million stacks would need two million mappings,
//! far past the default `vm.max_map_count` of 65530); `MAP_GROWSDOWN` (the kernel grows
//! it only from the stack pointer of the faulting thread and cannot bound it).
//!
//! Arenas are never unmapped: their address space is reserved for the life of the
//! process (memory is returned with `MADV_DONTNEED` by the pool). That is what lets the
//! fault-address registry below be read without locks from a signal handler.
//!
//! # Invariants
//! 1. An `Arena` is leaked (`&'static`) and its non-atomic fields never change after
//!    it is published in `REGISTRY`.
//! 2. `REGISTRY[i]` for `i < REGISTERED` is non-null; entries are written once, before
//!    `REGISTERED` is raised past them (both Release), and read after an Acquire load of
//!    `REGISTERED`.
//! 3. Slots `< Arena::handed` have their guard installed; `handed` only grows, under the
//!    pool's class lock.
//! 4. The guard of slot `i` is `[slot_base(i), slot_base(i) + guard_len)`, directly below
//!    `limit(i)`; `top(i)` is page aligned (so 16-byte aligned).
//! 5. `lookup` allocates nothing, takes no lock and makes no system call: it may run in
//!    a signal handler.
//!
//! # Locks
//! Order: the pool's class lock > `CREATE_LOCK` > `MAP_ESTIMATE`. None of them is
//! taken on the pool's fast path or in the signal handler.
//!
//! # Memory ordering
//! Arena creation: fields written, then `REGISTRY[i].store(Release)`, then
//! `REGISTERED.store(i + 1, Release)`; readers `REGISTERED.load(Acquire)` then
//! `REGISTRY[j].load(Acquire)`. Owner ids are Relaxed: the overflow report of a
//! thread reads the id that thread itself stored (program order).
//!
//! # References
//! Linux mm/madvise.c (`MADV_GUARD_INSTALL`), Documentation/admin-guide/sysctl/vm.rst
//! (`max_map_count`), go/src/runtime/stack.go (stackalloc from spans).

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::{GUARD_SIZE, HEADER_OWNER_OFFSET, HEADER_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};

/// `MADV_GUARD_INSTALL` (Linux 6.13): install guard markers in a range.
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// `MADV_POPULATE_WRITE` (Linux 5.14): fault a range in, writable, without touching it.
pub(crate) const MADV_POPULATE_WRITE: libc::c_int = 23;
/// `PIDFD_SELF_THREAD_GROUP` (Linux 6.15): "the calling process" for pidfd calls, with no
/// file descriptor to open (and none to go stale across `fork`).
const PIDFD_SELF: libc::c_int = -10001;
/// Set once `process_madvise` on [`PIDFD_SELF`] turned out not to work here.
static NO_BATCH_MADVISE: AtomicBool = AtomicBool::new(false);
/// Number of size classes: powers of two from 2^14 (16 KiB) to 2^30 (1 GiB).
pub(crate) const NCLASSES: usize =
    (MAX_STACK_SIZE.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros() + 1) as usize;
/// Capacity of the fault-address registry (arenas per process).
pub(crate) const MAX_ARENAS: usize = 4096;
/// Address space one arena may span at most (4 GiB on 64-bit, 256 MiB on 32-bit).
pub(crate) const ARENA_MAX_BYTES: usize = if usize::BITS >= 64 { 4 << 30 } else { 256 << 20 };
/// Slots in the first arena of a class; later arenas double it (capped by bytes).
const FIRST_ARENA_SLOTS: usize = 64;
/// Mappings left free for the rest of the process (libc, threads, std) in mprotect mode.
const MAP_COUNT_MARGIN: usize = 1000;
/// Fewest pages a stack spans (the pool keeps canaries in the top two).
pub(crate) const MIN_PAGES: usize = 4;
/// Environment variable that forces a guard mechanism (`madvise` or `mprotect`).
pub const GUARD_ENV: &str = "GORO_STACK_GUARD";

const _: () = assert!(NCLASSES == 17);
const _: () = assert!(MIN_STACK_SIZE >= MIN_PAGES * 4096);
const _: () = assert!(GUARD_SIZE.is_power_of_two() && MIN_STACK_SIZE.is_power_of_two());

/// Which mechanism guards the stacks of this process (chosen once, at first use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardMode {
    /// `madvise(MADV_GUARD_INSTALL)`: guard markers, no extra mappings (Linux 6.13+).
    Madvise,
    /// `mprotect(PROT_NONE)`: two mappings per stack, bounded by `vm.max_map_count`.
    Mprotect,
}

/// The guard mechanism of this process.
///
/// Chosen once: `GORO_STACK_GUARD=madvise|mprotect` forces one; otherwise
/// `MADV_GUARD_INSTALL` is used when the kernel accepts it, else `mprotect`.
///
/// # Panics
/// At first use, if `GORO_STACK_GUARD` holds any other value, or forces `madvise` on a
/// kernel that rejects `MADV_GUARD_INSTALL`.
pub fn guard_mode() -> GuardMode {
    static MODE: OnceLock<GuardMode> = OnceLock::new();
    *MODE.get_or_init(choose_guard_mode)
}

fn choose_guard_mode() -> GuardMode {
    let forced = match std::env::var_os(GUARD_ENV) {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(v) if v == "madvise" => Some(GuardMode::Madvise),
        Some(v) if v == "mprotect" => Some(GuardMode::Mprotect),
        Some(v) => panic!(
            "goro: invalid {GUARD_ENV}={:?}: expected \"madvise\" or \"mprotect\"",
            v.to_string_lossy()
        ),
    };
    match forced {
        Some(GuardMode::Mprotect) => GuardMode::Mprotect,
        Some(GuardMode::Madvise) => match probe_madvise_guard() {
            Ok(()) => GuardMode::Madvise,
            Err(e) => {
                panic!("goro: {GUARD_ENV}=madvise but this kernel rejects MADV_GUARD_INSTALL: {e}")
            }
        },
        None => match probe_madvise_guard() {
            Ok(()) => GuardMode::Madvise,
            Err(_) => GuardMode::Mprotect,
        },
    }
}

/// Applies `advice` to every range with one `process_madvise(PIDFD_SELF, ..)`; false
/// when the kernel refused or did only part of it (the caller then falls back to one
/// `madvise` per range). A kernel without `PIDFD_SELF` is remembered after one try.
///
/// `advice` must be harmless to apply twice and to ranges of slots nobody has been
/// handed yet or that the caller holds: `MADV_GUARD_INSTALL` on guard regions,
/// `MADV_POPULATE_WRITE` on stack pages.
pub(crate) fn madvise_ranges(ranges: &[libc::iovec], advice: libc::c_int) -> bool {
    if ranges.is_empty() {
        return true;
    }
    if NO_BATCH_MADVISE.load(Ordering::Relaxed) {
        return false;
    }
    if crate::valgrind::active() {
        // Valgrind does not know the call (it warns and answers ENOSYS): skip it there.
        NO_BATCH_MADVISE.store(true, Ordering::Relaxed);
        return false;
    }
    let want: usize = ranges.iter().map(|r| r.iov_len).sum();
    // SAFETY: every range lies inside an arena mapping (the caller's contract) and the
    // advice only installs guard markers in unused guard regions or faults pages in;
    // `ranges` outlives the call. A kernel without the call or `PIDFD_SELF` returns an
    // error and touches nothing.
    let done = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            PIDFD_SELF,
            ranges.as_ptr(),
            ranges.len(),
            advice,
            0u32,
        )
    };
    if done < 0 {
        let e = io::Error::last_os_error().raw_os_error();
        if matches!(e, Some(libc::ENOSYS | libc::EBADF | libc::EINVAL | libc::EPERM)) {
            NO_BATCH_MADVISE.store(true, Ordering::Relaxed);
        }
        return false;
    }
    done as usize == want
}

/// Installs a guard marker in a scratch mapping to learn whether the kernel supports it.
fn probe_madvise_guard() -> io::Result<()> {
    let page = page_size();
    let len = 2 * page;
    // SAFETY: a fresh anonymous mapping chosen by the kernel; it aliases nothing.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `p` is our scratch mapping of `len >= page` bytes.
    let rc = unsafe { libc::madvise(p, page, MADV_GUARD_INSTALL) };
    let result = if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) };
    // SAFETY: `p`/`len` is exactly the scratch mapping above; nothing references it.
    unsafe { libc::munmap(p, len) };
    result
}

/// The system page size (cached; a constant on x86_64, whose Linux pages are 4 KiB).
#[inline]
pub(crate) fn page_size() -> usize {
    if cfg!(target_arch = "x86_64") {
        return 4096;
    }
    match PAGE.load(Ordering::Relaxed) {
        0 => page_size_slow(),
        p => p,
    }
}

/// [`page_size`]'s cache (Relaxed: every thread computes the same value).
static PAGE: AtomicUsize = AtomicUsize::new(0);

#[cold]
fn page_size_slow() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p > 0 { p as usize } else { 4096 };
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// Size class index of a validated stack size (`16 KiB -> 0`, ..., `1 GiB -> 16`).
pub(crate) fn class_of(size: usize) -> usize {
    debug_assert!(size.is_power_of_two() && (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size));
    (size.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros()) as usize
}

/// Stack size of a size class.
pub(crate) fn class_size(class: usize) -> usize {
    MIN_STACK_SIZE << class
}

/// Bytes per slot of a class: the guard plus the stack, each at least a page.
pub(crate) fn stride_of(class: usize) -> usize {
    stack_len_of(class) + GUARD_SIZE.max(page_size())
}

/// Usable bytes of a slot of a class: the class size, but at least [`MIN_PAGES`] pages
/// (only matters on kernels with pages over 4 KiB), so the pool's canaries fit.
#[inline]
pub(crate) fn stack_len_of(class: usize) -> usize {
    class_size(class).max(MIN_PAGES * page_size())
}

/// Number of slots for the `nth` arena (0-based) of a class whose slots span `stride`.
pub(crate) fn slots_for(nth: usize, stride: usize) -> usize {
    let by_bytes = (ARENA_MAX_BYTES / stride).max(1);
    let grown = FIRST_ARENA_SLOTS.checked_shl(nth.min(40) as u32).unwrap_or(usize::MAX);
    grown.min(by_bytes)
}

/// One mapping of `nslots` slots of one size class. Leaked: lives for the process.
pub(crate) struct Arena {
    /// Lowest address of the mapping. Immutable (invariant 1).
    base: usize,
    /// Bytes per slot: `guard_len + stack_len`. Immutable.
    stride: usize,
    /// Guard bytes at the low end of every slot (`>= GUARD_SIZE`, page multiple). Immutable.
    guard_len: usize,
    /// Usable stack bytes per slot (the class size, at least one page). Immutable.
    stack_len: usize,
    /// Number of slots. Immutable.
    nslots: usize,
    /// Size class index. Immutable.
    pub(crate) class: usize,
    /// Slots handed out so far (bump pointer). Written under the pool's class lock
    /// (invariant 3); read Relaxed by statistics.
    handed: AtomicU32,
    /// Per-slot metadata (kept header word, valgrind id), allocated with the arena.
    meta: Box<[SlotMeta]>,
}

/// Per-slot metadata, kept outside the stack so a slot costs no page until touched.
/// Natively it is touched only by `scavenge` and the next hand-out of a scavenged slot
/// (the owner id lives in the slot's header, at [`HEADER_OWNER_OFFSET`]).
pub(crate) struct SlotMeta {
    /// The header's first word while the slot is scavenged (pool.rs invariant 5).
    /// Atomic: written and read under the pool's class lock or by the slot's holder.
    pub(crate) kept: AtomicU64,
    /// Valgrind's id for the slot while it is handed out (0 natively). Holder only.
    pub(crate) vg_id: AtomicU32,
}

/// What [`lookup`] knows about an address inside an arena.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FaultInfo {
    /// True when the address lies in the slot's guard region.
    pub(crate) in_guard: bool,
    /// The slot's usable stack size in bytes.
    pub(crate) stack_len: usize,
    /// The slot's owner id (0 = none).
    pub(crate) owner: u64,
}

/// `n` (> 0) zeroed `SlotMeta`s: a large zeroed allocation is fresh pages from the
/// kernel, so untouched entries cost no memory.
fn zeroed_meta(n: usize) -> Box<[SlotMeta]> {
    let layout = std::alloc::Layout::array::<SlotMeta>(n).expect("slot metadata size");
    assert!(layout.size() > 0);
    // SAFETY: the layout has a nonzero size (checked above).
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<SlotMeta>();
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `p` is a fresh global-allocator block with `Layout::array::<SlotMeta>(n)`,
    // the layout `Box<[SlotMeta]>` frees with; every field of `SlotMeta` is an atomic
    // integer, valid as all zeros, so the `n` entries are initialized.
    unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, n)) }
}

/// Fault-address registry: arenas by index (invariant 2).
static REGISTRY: [AtomicPtr<Arena>; MAX_ARENAS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_ARENAS];
/// Number of published entries in [`REGISTRY`].
static REGISTERED: AtomicUsize = AtomicUsize::new(0);
/// Serializes arena creation (registry index assignment, mapping count).
static CREATE_LOCK: Mutex<()> = Mutex::new(());
/// Address space reserved by all arenas, in bytes.
static RESERVED: AtomicUsize = AtomicUsize::new(0);
/// Mprotect mode: estimated number of mappings of the process. Protected by its lock.
static MAP_ESTIMATE: Mutex<usize> = Mutex::new(0);

impl Arena {
    /// Maps and publishes a new arena of `nslots` slots (fewer if the address space is
    /// short) for size class `class`.
    pub(crate) fn create(class: usize, nslots: usize) -> io::Result<&'static Arena> {
        let mode = guard_mode();
        let page = page_size();
        let stack_len = stack_len_of(class);
        let guard_len = GUARD_SIZE.max(page);
        let stride = stride_of(class);
        let _serial = CREATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let index = REGISTERED.load(Ordering::Relaxed);
        if index >= MAX_ARENAS {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("goro: too many stack arenas ({MAX_ARENAS}); cannot reserve more stacks"),
            ));
        }
        if mode == GuardMode::Mprotect {
            check_map_budget(1)?;
        }
        let mut n = nslots.max(1);
        let base = loop {
            let len =
                n.checked_mul(stride).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
            // SAFETY: a fresh anonymous mapping at an address the kernel chooses; it
            // aliases nothing.
            let p = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                break p as usize;
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOMEM) && n > 1 {
                n /= 2;
                continue;
            }
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "goro: cannot reserve {len} bytes of address space for stacks \
                     (address space or vm.max_map_count = {} exhausted?): {err}",
                    max_map_count()
                ),
            ));
        };
        let len = n * stride;
        // SAFETY: `[base, base + len)` is the mapping just created. Failure (a kernel
        // without transparent huge pages answers EINVAL) only costs memory, never safety.
        unsafe { libc::madvise(base as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE) };
        // Zeroed, not written: a large zeroed allocation is fresh pages from the kernel,
        // so the metadata of a slot costs no memory until scavenge or valgrind use it.
        let meta = zeroed_meta(n);
        let arena: &'static Arena = Box::leak(Box::new(Arena {
            base,
            stride,
            guard_len,
            stack_len,
            nslots: n,
            class,
            handed: AtomicU32::new(0),
            meta,
        }));
        if mode == GuardMode::Mprotect {
            // The mapping count moved (the arena itself, and whatever else the process
            // did since the last count): start the incremental estimate afresh.
            *MAP_ESTIMATE.lock().unwrap_or_else(|e| e.into_inner()) = count_mappings();
        }
        RESERVED.fetch_add(len, Ordering::Relaxed);
        // Invariant 2: entry first, then the count, both Release.
        REGISTRY[index].store(arena as *const Arena as *mut Arena, Ordering::Release);
        REGISTERED.store(index + 1, Ordering::Release);
        Ok(arena)
    }

    /// Hands out the next never-used slot, installing its guard; `Ok(None)` when the
    /// arena is full. Must be called with the pool's lock of this arena's class held
    /// (invariant 3).
    pub(crate) fn take_fresh_locked(&self) -> io::Result<Option<u32>> {
        Ok(self.take_fresh_batch_locked(1)?.map(|(i, _)| i))
    }

    /// Hands out up to `max` (>= 1) consecutive never-used slots, installing their
    /// guards, as `(first index, count)`; `Ok(None)` when the arena is full. With
    /// `MADV_GUARD_INSTALL` all the guards cost one `process_madvise` where the kernel
    /// has it (Linux 6.15: `PIDFD_SELF`), instead of a system call per slot (~0.5 µs
    /// each here); the mprotect fallback hands out one slot at a time. Must be called
    /// with the pool's lock of this arena's class held (invariant 3).
    pub(crate) fn take_fresh_batch_locked(&self, max: usize) -> io::Result<Option<(u32, u32)>> {
        let i = self.handed.load(Ordering::Relaxed) as usize;
        if i >= self.nslots {
            return Ok(None);
        }
        let n = match guard_mode() {
            GuardMode::Madvise => max.clamp(1, self.nslots - i),
            GuardMode::Mprotect => 1,
        };
        if n == 1 || !self.install_guards_batched(i, n) {
            (i..i + n).try_for_each(|j| self.install_guard(j))?;
        }
        self.handed.store((i + n) as u32, Ordering::Relaxed);
        Ok(Some((i as u32, n as u32)))
    }

    /// Installs the guards of slots `i..i + n` with one `process_madvise`; false (and
    /// nothing to undo: installing a guard twice is harmless) when that did not do it.
    fn install_guards_batched(&self, i: usize, n: usize) -> bool {
        let ranges: Vec<libc::iovec> = (i..i + n)
            .map(|j| libc::iovec {
                iov_base: self.slot_base(j) as *mut libc::c_void,
                iov_len: self.guard_len,
            })
            .collect();
        madvise_ranges(&ranges, MADV_GUARD_INSTALL)
    }

    /// Installs the guard of slot `i` (invariant 4) with the process's guard mode.
    fn install_guard(&self, i: usize) -> io::Result<()> {
        let addr = self.slot_base(i) as *mut libc::c_void;
        match guard_mode() {
            GuardMode::Madvise => {
                // SAFETY: the guard range lies inside our arena mapping and belongs to a
                // slot nobody has been handed yet, so no live data is made inaccessible.
                let rc = unsafe { libc::madvise(addr, self.guard_len, MADV_GUARD_INSTALL) };
                if rc != 0 {
                    let err = io::Error::last_os_error();
                    return Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        format!("goro: cannot install a stack guard (MADV_GUARD_INSTALL): {err}"),
                    ));
                }
            }
            GuardMode::Mprotect => {
                check_map_budget(2)?;
                // SAFETY: as above — the range is inside our mapping and unused.
                let rc = unsafe { libc::mprotect(addr, self.guard_len, libc::PROT_NONE) };
                if rc != 0 {
                    let err = io::Error::last_os_error();
                    return Err(if err.raw_os_error() == Some(libc::ENOMEM) {
                        map_count_error(count_mappings())
                    } else {
                        io::Error::new(
                            io::ErrorKind::OutOfMemory,
                            format!("goro: cannot install a stack guard (mprotect): {err}"),
                        )
                    });
                }
                *MAP_ESTIMATE.lock().unwrap_or_else(|e| e.into_inner()) += 2;
            }
        }
        Ok(())
    }

    /// Lowest address of slot `i` (the start of its guard).
    #[inline]
    pub(crate) fn slot_base(&self, i: usize) -> usize {
        self.base + i * self.stride
    }

    /// Top (highest address, exclusive) of the stack in slot `i`.
    #[inline]
    pub(crate) fn top(&self, i: usize) -> usize {
        self.base + (i + 1) * self.stride
    }

    /// Lowest usable address of the stack in slot `i`.
    #[cfg(test)]
    fn limit(&self, i: usize) -> usize {
        self.slot_base(i) + self.guard_len
    }

    /// Usable stack bytes per slot.
    #[cfg(test)]
    fn stack_len(&self) -> usize {
        self.stack_len
    }

    /// Metadata of slot `i`.
    #[inline]
    pub(crate) fn meta(&'static self, i: usize) -> &'static SlotMeta {
        &self.meta[i]
    }

    /// Bytes of this arena's handed-out slots that are resident (mincore).
    fn resident_bytes(&self) -> usize {
        let page = page_size();
        let len = self.handed.load(Ordering::Relaxed) as usize * self.stride;
        let chunk = 16384 * page;
        let mut vec = vec![0u8; 16384];
        let mut total = 0;
        let mut off = 0;
        while off < len {
            let n = chunk.min(len - off);
            // SAFETY: `[base + off, base + off + n)` is inside our mapping, and `vec`
            // holds one byte for each of its `n / page <= 16384` pages.
            let rc = unsafe {
                libc::mincore((self.base + off) as *mut libc::c_void, n, vec.as_mut_ptr())
            };
            if rc == 0 {
                total += vec[..n / page].iter().filter(|&&b| b & 1 != 0).count() * page;
            }
            off += n;
        }
        total
    }
}

/// The published arenas. Allocates nothing, takes no lock, makes no system call, so
/// `lookup` may use it in a signal handler (invariant 5).
fn arenas() -> impl Iterator<Item = &'static Arena> {
    let n = REGISTERED.load(Ordering::Acquire);
    REGISTRY[..n].iter().filter_map(|entry| {
        let p = entry.load(Ordering::Acquire);
        // SAFETY: invariants 1 and 2 — published entries point to leaked, immutable
        // arenas whose fields were written before the Release store we synchronized with.
        (!p.is_null()).then(|| unsafe { &*p })
    })
}

/// Looks up an address in the registered arenas. Async-signal-safe (invariant 5).
pub(crate) fn lookup(addr: usize) -> Option<FaultInfo> {
    let arena = arenas().find(|a| addr >= a.base && addr - a.base < a.nslots * a.stride)?;
    let off = addr - arena.base;
    let slot = off / arena.stride;
    Some(FaultInfo {
        in_guard: off % arena.stride < arena.guard_len,
        stack_len: arena.stack_len,
        owner: header_word(arena.top(slot), HEADER_OWNER_OFFSET).load(Ordering::Relaxed),
    })
}

/// The header (`HEADER_SIZE` bytes below `top`) of the slot whose top (end) is `top`.
#[inline]
pub(crate) fn header_of(top: usize) -> std::ptr::NonNull<u8> {
    // SAFETY: slot tops are nonzero addresses inside an arena mapping, above its guard.
    unsafe { std::ptr::NonNull::new_unchecked((top - HEADER_SIZE) as *mut u8) }
}

/// The 8-byte word at `offset` (a multiple of 8 below `HEADER_SIZE`) in the header of
/// the slot whose top (end) is `top`: the kept park word (0) or the owner id.
#[inline]
pub(crate) fn header_word(top: usize, offset: usize) -> &'static AtomicU64 {
    debug_assert!(offset.is_multiple_of(8) && offset < HEADER_SIZE);
    // SAFETY: the header lies in the slot's top page, inside an arena mapping that is
    // never unmapped and stays readable and writable (guards are at the slots' low
    // ends); `top` is page aligned and `offset` a multiple of 8, so the word is aligned.
    // Every access to these words is atomic.
    unsafe { header_of(top).byte_add(offset).cast::<AtomicU64>().as_ref() }
}

/// Calls `f` with the top (end) address of every slot ever handed out, arena by arena.
/// Slots handed out while it runs may or may not be visited.
pub(crate) fn for_each_slot_top(mut f: impl FnMut(usize)) {
    for arena in arenas() {
        let handed = arena.handed.load(Ordering::Acquire) as usize;
        (0..handed).for_each(|i| f(arena.top(i)));
    }
}

/// Address space reserved by arenas, and the number of arenas.
pub(crate) fn reserved() -> (usize, usize) {
    (RESERVED.load(Ordering::Relaxed), REGISTERED.load(Ordering::Acquire))
}

/// Resident bytes of all handed-out slots (walks every arena with `mincore`).
pub(crate) fn resident_bytes_all() -> usize {
    arenas().map(Arena::resident_bytes).sum()
}

/// `/proc/sys/vm/max_map_count` (cached; 65530 if unreadable).
pub fn max_map_count() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65530)
    })
}

/// Number of mappings of this process (lines of `/proc/self/maps`).
pub fn count_mappings() -> usize {
    std::fs::read("/proc/self/maps").map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0)
}

fn map_count_error(current: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "goro: cannot create another stack: the process has {current} memory mappings and \
             vm.max_map_count is {} (mprotect stack guards take 2 mappings per stack; raise \
             vm.max_map_count, or run on Linux 6.13+ where MADV_GUARD_INSTALL needs none)",
            max_map_count()
        ),
    )
}

/// Mprotect mode: errors if `extra` more mappings would pass `vm.max_map_count` minus
/// [`MAP_COUNT_MARGIN`]. Re-reads `/proc/self/maps` when the estimate says so, since
/// mappings may have gone away since the last count.
fn check_map_budget(extra: usize) -> io::Result<()> {
    let limit = max_map_count().saturating_sub(MAP_COUNT_MARGIN);
    let mut est = MAP_ESTIMATE.lock().unwrap_or_else(|e| e.into_inner());
    if *est + extra <= limit {
        return Ok(());
    }
    *est = count_mappings();
    if *est + extra <= limit {
        return Ok(());
    }
    Err(map_count_error(*est))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_the_range() {
        assert_eq!(class_of(MIN_STACK_SIZE), 0);
        assert_eq!(class_of(MAX_STACK_SIZE), NCLASSES - 1);
        for c in 0..NCLASSES {
            assert_eq!(class_of(class_size(c)), c);
        }
    }

    #[test]
    fn slot_counts_grow_then_cap() {
        let stride = 256 * 1024 + GUARD_SIZE;
        assert_eq!(slots_for(0, stride), 64);
        assert_eq!(slots_for(1, stride), 128);
        assert_eq!(slots_for(20, stride), ARENA_MAX_BYTES / stride);
        assert_eq!(slots_for(100, stride), ARENA_MAX_BYTES / stride);
        assert_eq!(
            slots_for(0, MAX_STACK_SIZE + GUARD_SIZE),
            (ARENA_MAX_BYTES / (MAX_STACK_SIZE + GUARD_SIZE)).max(1)
        );
        // A million default stacks fit in well under 200 arenas.
        let (mut slots, mut arenas) = (0, 0);
        while slots < 1_000_000 {
            slots += slots_for(arenas, stride);
            arenas += 1;
        }
        assert!(arenas < 200, "{arenas}");
    }

    #[test]
    fn lookup_finds_guard_and_stack() {
        let arena = Arena::create(0, 4).unwrap();
        assert_eq!(arena.top(0) % 16, 0);
        assert_eq!(arena.limit(0) - arena.slot_base(0), arena.guard_len);
        let g = lookup(arena.slot_base(1) + 8).unwrap();
        assert!(g.in_guard);
        assert_eq!(g.stack_len, arena.stack_len());
        let s = lookup(arena.limit(1) + 8).unwrap();
        assert!(!s.in_guard);
        let x = 0u8;
        assert!(lookup(&x as *const u8 as usize).is_none());
    }

    mod proptests {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn class_roundtrip(shift in 14u32..=30) {
                let size = 1usize << shift;
                prop_assert_eq!(class_size(class_of(size)), size);
            }

            #[test]
            fn slots_bounded(nth in 0usize..100, class in 0usize..NCLASSES) {
                let stride = class_size(class) + GUARD_SIZE;
                let n = slots_for(nth, stride);
                prop_assert!(n >= 1);
                prop_assert!(n == 1 || n * stride <= ARENA_MAX_BYTES);
            }
        }
    }
}
