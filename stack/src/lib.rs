//! Coroutine stacks: reserved address space, committed by the kernel on first touch,
//! handed back on reuse, guarded below, and reported Go-style when they overflow.
//!
//! # Design
//! Rust cannot move a stack (pointers into it cannot be found and rewritten), so a
//! "growable" stack is a large reservation whose pages the kernel commits on first
//! touch. A fresh stack costs one resident page; a stack that once grew is trimmed back
//! to at most two pages when it is reused (Go's stack shrink, done at reuse time).
//!
//! - [`arena`]: one `mmap` holds many slots of one size class; each slot is a guard
//!   region (low end) plus the stack. Guards are `MADV_GUARD_INSTALL` markers (no new
//!   mappings) or, on older kernels, `mprotect` (two mappings per slot, counted against
//!   `vm.max_map_count`). A lock-free registry maps a fault address to its slot.
//! - [`pool`]: [`PooledStack`] — per-thread LIFO cache, then a global pool per size
//!   class, then fresh arena slots; a canary at the bottom of the top page decides
//!   cheaply whether a released stack must be trimmed.
//! - [`overflow`]: the SIGSEGV/SIGBUS handler that turns a guard hit into
//!   `runtime: goroutine N stack exceeds M-byte limit` / `fatal error: stack overflow`
//!   and `abort()`, on a per-thread `sigaltstack`.
//! - [`valgrind`]: client requests so valgrind knows about stack switches.
//!
//! # Invariants
//! 1. Every [`Stack`] implementor's `top()` is 16-byte aligned, `[limit(), top())` is
//!    readable and writable and owned exclusively by that value, and at least
//!    [`GUARD_SIZE`] bytes of guard lie directly below `limit()`.
//! 2. Stack sizes are powers of two in `MIN_STACK_SIZE..=MAX_STACK_SIZE` (checked by
//!    [`validate_stack_size`]); each power of two is one size class.
//!
//! # References
//! go/src/runtime/stack.go (stackpool, stackcache, shrinkstack), Linux
//! `MADV_GUARD_INSTALL` (mm/madvise.c, 6.13), valgrind/valgrind.h (client requests).

pub mod arena;
pub mod overflow;
pub mod pool;
pub mod valgrind;

use std::io;

pub use arena::{guard_mode, GuardMode};
pub use overflow::ensure_thread_ready;
pub use pool::{
    for_each_header, prefetch_header, resident_bytes, scavenge, stats, PooledStack, StackStats,
};
pub use valgrind::running_on_valgrind;

/// Default maximum stack size of a goroutine: 256 KiB (only touched pages cost memory).
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack size accepted by [`validate_stack_size`]: 16 KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack size accepted by [`validate_stack_size`]: 1 GiB.
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// Size of the guard region below every stack. Several pages, because C code such as
/// libunwind can step 12 KiB below the stack pointer in one go.
pub const GUARD_SIZE: usize = 16 * 1024;
/// Bytes at the top of every pooled stack's slot, above [`Stack::top`], that belong to
/// the slot rather than to the stack: the runtime keeps a goroutine's record there, in
/// the page the goroutine touches anyway (see [`PooledStack::header`]). A pooled stack's
/// usable size is its size class minus this.
pub const HEADER_SIZE: usize = 128;
/// Offset in the header of the slot's owner id, the goroutine id that the overflow
/// report prints (an `AtomicU64`, 0 for none; see [`PooledStack::set_owner_id`]). The
/// runtime's G record keeps its goroutine id there, so the two are one store.
pub const HEADER_OWNER_OFFSET: usize = 8;

/// Validates a requested maximum stack size and returns it unchanged.
///
/// Accepted: powers of two from [`MIN_STACK_SIZE`] (16 KiB) to [`MAX_STACK_SIZE`] (1 GiB).
/// Anything else is an [`io::ErrorKind::InvalidInput`] error whose message names the
/// value, e.g. `goro: stack size 12345 is not a power of two (16 KiB ..= 1 GiB)`.
#[inline]
pub fn validate_stack_size(bytes: usize) -> io::Result<usize> {
    // Valid iff it is MIN << k for k in 0..=16: one tzcnt, one shift, two compares.
    let k = bytes.trailing_zeros().wrapping_sub(MIN_STACK_SIZE.trailing_zeros());
    if k <= MAX_STACK_SIZE.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros()
        && bytes == MIN_STACK_SIZE << k
    {
        Ok(bytes)
    } else {
        Err(invalid_stack_size(bytes))
    }
}

#[cold]
fn invalid_stack_size(bytes: usize) -> io::Error {
    let why = if !bytes.is_power_of_two() {
        "is not a power of two"
    } else if bytes < MIN_STACK_SIZE {
        "is below the 16 KiB minimum"
    } else {
        "is above the 1 GiB maximum"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("goro: stack size {bytes} {why} (16 KiB ..= 1 GiB)"),
    )
}

/// A region of memory that code can run on as its call stack.
///
/// # Safety
/// Implementors guarantee, for as long as the value lives:
/// - `top()` is 16-byte aligned and `limit() < top()`;
/// - `[limit(), top())` is readable and writable memory owned exclusively by this value
///   (nothing else reads or writes it while code runs on it);
/// - a guard region of at least [`GUARD_SIZE`] bytes lies directly below `limit()`, so
///   running off the end faults instead of corrupting other memory.
pub unsafe trait Stack {
    /// The highest address of the stack (exclusive); stacks grow down from here.
    fn top(&self) -> *mut u8;
    /// The lowest usable address of the stack (inclusive); the guard lies below it.
    fn limit(&self) -> *mut u8;
    /// Usable size in bytes: `top() - limit()`.
    fn size(&self) -> usize {
        self.top() as usize - self.limit() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_accepts_powers_of_two_in_range() {
        for shift in 14..=30 {
            assert_eq!(validate_stack_size(1 << shift).unwrap(), 1 << shift);
        }
    }

    #[test]
    fn validate_rejects_and_names_the_value() {
        for bad in [0usize, 1000, 12345, 3 << 20, 2 << 30, (16 << 10) + 1, usize::MAX] {
            let err = validate_stack_size(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let msg = err.to_string();
            assert!(msg.contains(&bad.to_string()), "{msg}");
            assert!(msg.starts_with("goro: stack size "), "{msg}");
        }
        assert!(validate_stack_size(12345).unwrap_err().to_string().contains("not a power of two"));
    }

    mod proptests {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn validate_matches_definition(bytes in any::<usize>()) {
                let ok = bytes.is_power_of_two() && (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&bytes);
                prop_assert_eq!(validate_stack_size(bytes).is_ok(), ok);
            }

            #[test]
            fn validate_small_values(bytes in 0usize..(4 << 20)) {
                let ok = bytes.is_power_of_two() && bytes >= MIN_STACK_SIZE;
                match validate_stack_size(bytes) {
                    Ok(v) => { prop_assert!(ok); prop_assert_eq!(v, bytes); }
                    Err(e) => { prop_assert!(!ok); prop_assert!(e.to_string().contains(&bytes.to_string())); }
                }
            }
        }
    }
}
