//! Valgrind client requests: tell valgrind where our stacks are, so that a jump of the
//! stack pointer into a coroutine stack reads as a stack switch, not a huge frame.
//!
//! # Design
//! A client request is a "magic" instruction sequence that does nothing on a real CPU
//! (four rotates of one register whose amounts add up to 128, then a no-op exchange) but
//! that valgrind's JIT recognizes: it reads a block of six words (the request code and
//! five arguments) and writes its answer into the "default result" register. Natively
//! the default stays, so every request costs a handful of ALU instructions and no call,
//! no branch, no system call. The sequences are written out here (they are a stable
//! ABI, documented in valgrind.h) instead of pulling in a C header and a build script.
//!
//! Only the requests goro needs are wrapped:
//! `RUNNING_ON_VALGRIND`, `STACK_REGISTER` / `STACK_DEREGISTER` (every pooled stack
//! while it is handed out; the sigaltstack is deliberately *not* registered: valgrind
//! handles signal frames itself), and memcheck's `MAKE_MEM_DEFINED`, used by the pool
//! before it reads its canary from a stack on which frames were popped (memcheck marks
//! popped frames inaccessible, and reading them would be reported otherwise).
//!
//! Other architectures than x86_64 and aarch64 get no-ops that answer the default.
//!
//! # Invariants
//! 1. The magic sequence leaves every register it touches as it found it (rotates add up
//!    to 128 bits) except the result register, which the asm declares as in/out.
//! 2. The argument block outlives the request (it is a local array read by valgrind
//!    during the request only).
//!
//! # References
//! valgrind/include/valgrind.h (`VALGRIND_DO_CLIENT_REQUEST_EXPR` for amd64-linux and
//! arm64-linux), valgrind/memcheck/memcheck.h (`VG_USERREQ__MAKE_MEM_DEFINED`).

use std::sync::atomic::{AtomicU8, Ordering};

/// `VG_USERREQ__RUNNING_ON_VALGRIND`.
const RUNNING_ON_VALGRIND: usize = 0x1001;
/// `VG_USERREQ__STACK_REGISTER`: a1 = start (lowest address), a2 = end; answers an id.
const STACK_REGISTER: usize = 0x1501;
/// `VG_USERREQ__STACK_DEREGISTER`: a1 = id.
const STACK_DEREGISTER: usize = 0x1502;
/// `VG_USERREQ_TOOL_BASE('M','C') + 2`: memcheck's `MAKE_MEM_DEFINED`, a1 = addr, a2 = len.
const MAKE_MEM_DEFINED: usize = ((b'M' as usize) << 24 | (b'C' as usize) << 16) + 2;

/// Issues one client request; natively it returns `default`.
#[inline(always)]
fn client_request(default: usize, request: usize, a1: usize, a2: usize) -> usize {
    let args: [usize; 6] = [request, a1, a2, 0, 0, 0];
    arch_request(default, &args)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn arch_request(default: usize, args: &[usize; 6]) -> usize {
    let mut result = default;
    // SAFETY: invariant 1 — the sequence changes no register but rdx (declared inout)
    // and the flags (not preserved, so no `preserves_flags`); invariant 2 — `args` is
    // borrowed for the duration of the asm. Natively it is pure arithmetic.
    // On entry: rax = &args, rdx = default result.
    unsafe {
        core::arch::asm!(
            // Valgrind's preamble: rotate rdi by 3+13+61+51 = 128 bits, i.e. not at all.
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            // The request marker: valgrind replaces this with the request, natively a no-op.
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") result,
            options(nostack),
        );
    }
    result
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn arch_request(default: usize, args: &[usize; 6]) -> usize {
    let mut result = default;
    // SAFETY: invariant 1 — the sequence changes no register but x3 (declared inout);
    // invariant 2 — `args` is borrowed for the duration of the asm.
    // On entry: x4 = &args, x3 = default result.
    unsafe {
        core::arch::asm!(
            // Valgrind's preamble: rotate x12 by 3+13+51+61 = 128 bits, i.e. not at all.
            "ror x12, x12, #3",
            "ror x12, x12, #13",
            "ror x12, x12, #51",
            "ror x12, x12, #61",
            // The request marker: valgrind replaces this with the request, natively a no-op.
            "orr x10, x10, x10",
            in("x4") args.as_ptr(),
            inout("x3") result,
            options(nostack, preserves_flags),
        );
    }
    result
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn arch_request(default: usize, _args: &[usize; 6]) -> usize {
    default
}

/// True when the process runs under valgrind (`RUNNING_ON_VALGRIND`).
///
/// Costs a few instructions natively; tests use it to skip runs too large for valgrind.
#[inline]
pub fn running_on_valgrind() -> bool {
    client_request(0, RUNNING_ON_VALGRIND, 0, 0) != 0
}

/// [`running_on_valgrind`], asked once and cached: the pool's hot paths test this flag
/// (one load) and skip their requests natively, so even the magic sequences (and the
/// register spills their `memory` clobber forces) cost nothing outside valgrind.
/// A process cannot come under valgrind after it started, so the cache never goes stale.
#[inline]
pub fn active() -> bool {
    match ACTIVE.load(Ordering::Relaxed) {
        NATIVE => false,
        UNDER_VALGRIND => true,
        _ => detect(),
    }
}

const UNKNOWN: u8 = 0;
const NATIVE: u8 = 1;
const UNDER_VALGRIND: u8 = 2;
/// [`active`]'s cache: `UNKNOWN`, `NATIVE` or `UNDER_VALGRIND` (Relaxed: every thread
/// computes the same value).
static ACTIVE: AtomicU8 = AtomicU8::new(UNKNOWN);

#[cold]
fn detect() -> bool {
    let on = running_on_valgrind();
    ACTIVE.store(if on { UNDER_VALGRIND } else { NATIVE }, Ordering::Relaxed);
    on
}

/// Registers `[start, end)` as a stack (`VALGRIND_STACK_REGISTER`); returns valgrind's id
/// for it (0 natively).
#[inline(always)]
pub fn stack_register(start: *const u8, end: *const u8) -> usize {
    client_request(0, STACK_REGISTER, start as usize, end as usize)
}

/// Forgets the stack registered under `id` (`VALGRIND_STACK_DEREGISTER`).
#[inline(always)]
pub fn stack_deregister(id: usize) {
    client_request(0, STACK_DEREGISTER, id, 0);
}

/// Tells memcheck that `[addr, addr + len)` holds defined values
/// (`VALGRIND_MAKE_MEM_DEFINED`); a no-op natively and under other tools.
#[inline(always)]
pub fn make_mem_defined(addr: *const u8, len: usize) {
    client_request(0, MAKE_MEM_DEFINED, addr as usize, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_answer_defaults_natively_or_work_under_valgrind() {
        let on = running_on_valgrind();
        let buf = [0u8; 64];
        let id = stack_register(buf.as_ptr(), buf.as_ptr().wrapping_add(64));
        if !on {
            assert_eq!(id, 0);
        }
        make_mem_defined(buf.as_ptr(), buf.len());
        stack_deregister(id);
        assert_eq!(active(), on);
        assert_eq!(active(), on);
        assert_eq!(MAKE_MEM_DEFINED, 0x4D43_0002);
    }
}
