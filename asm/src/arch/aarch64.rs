//! aarch64 (AAPCS64) context switch: the routines live in `aarch64.S`.
//!
//! The assembly file carries the essay, the register table, the frame diagrams and a
//! "Differences from x86_64" section; `x86_64.S` is the reference it is compared to.
//! This module assembles it, names its layout constants, and holds the one call site
//! that cannot be an ordinary call (`suspend`). The very same `.S` text is also
//! assembled by `aarch64-linux-gnu-gcc` for the C harness in `asm/harness/` and run
//! under qemu-aarch64 (`asm/harness/run.sh`).

// GNU assembler syntax that LLVM's integrated assembler accepts as well; the file
// contains no `{`/`}` because the macro reads it as a format string.
core::arch::global_asm!(include_str!("aarch64.S"));

/// Bytes of a frame, suspended or parent: resume word and FPCR (16), x29 and x30
/// (16), x19-x28 (80) and d8-d15 (64). (`GORO_FRAME_SIZE` in `aarch64.S`.)
pub const FRAME_BYTES: usize = 176;

/// Bytes between a new stack's top and the saved stack pointer that `goro_asm_init`
/// returns: exactly one suspended frame. aarch64 needs no padding above it (x86_64
/// does): the frame is a multiple of 16 and `goro_asm_start` calls with `blr`, which
/// pushes nothing.
pub const INIT_FRAME_BYTES: usize = FRAME_BYTES;

/// Bytes of the stack top that a new context needs before any Rust code runs on it.
/// aarch64 has no red zone, so everything the routines keep is inside the frame.
pub const MIN_STACK_BYTES: usize = INIT_FRAME_BYTES;

/// Words in a frame: resume word, FPCR, x29, x30, x19-x28 (10), d8-d15 (8).
const FRAME_SLOTS: usize = 2 + 2 + 10 + 8;

// The frame is exactly the slots listed in the `.S` header, 8 bytes each.
const _: () = assert!(FRAME_SLOTS * 8 == FRAME_BYTES);
// sp must be 16-byte aligned at all times on aarch64 (checked on every sp-relative
// access when SCTLR_EL1.SA0 is set, as on Linux): the frame keeps it so, and
// `goro_asm_start` runs with sp = the top of the new stack.
const _: () = assert!(FRAME_BYTES.is_multiple_of(16));
const _: () = assert!((INIT_FRAME_BYTES - FRAME_BYTES).is_multiple_of(16));
// `stp`/`ldp` of 64-bit registers take a signed, 8-scaled 7-bit offset (-512..=504):
// the pre-indexed `stp x10, x9, [sp, #-FRAME_BYTES]!` must encode.
const _: () = assert!(FRAME_BYTES <= 512);

/// Enters `goro_asm_suspend` without a link: sets x30 to the continuation by hand and
/// branches, so the return-address stack is left as it is and the routine's final
/// `ret` pairs with the parent's `blr` in `goro_asm_resume`.
///
/// # Safety
/// As for `crate::suspend`: `self_sp` is writable, `parent_sp` is a parent context
/// waiting in `goro_asm_resume`.
#[inline(always)]
pub unsafe fn suspend(self_sp: *mut *mut u8, parent_sp: *mut u8, transfer: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller upholds goro_asm_suspend's contract. The routine saves every
    // callee-saved register (x19-x29, d8-d15) and FPCR, and we are resumed at label 2
    // with sp as it was; x30 is overwritten here and not restored there, and everything
    // else caller-saved is declared clobbered.
    unsafe {
        core::arch::asm!(
            // On entry: x0 = self_sp, x1 = parent_sp, x2 = transfer, sp = ours (16-aligned).
            "adr x30, 2f",               // continuation: label 2 below
            "b {suspend}",               // saves us into *x0, rets into the parent
            "2:",                        // resumed: x0 = transfer
            suspend = sym crate::ffi::goro_asm_suspend,
            inlateout("x0") self_sp => ret,
            in("x1") parent_sp,
            in("x2") transfer,
            lateout("x30") _,
            clobber_abi("C"),
        );
    }
    ret
}

/// Calls `goro_asm_resume`: an ordinary call, which on aarch64 is a direct `bl` (the
/// routine is hidden, so no PLT or GOT stands between).
///
/// # Safety
/// As for `crate::resume`: `parent_sp` is writable, `child_sp` a suspended context.
#[inline(always)]
pub unsafe fn resume(parent_sp: *mut *mut u8, child_sp: *mut u8, transfer: usize) -> usize {
    // SAFETY: as promised by the caller.
    unsafe { crate::ffi::goro_asm_resume(parent_sp, child_sp, transfer) }
}

/// Calls `goro_asm_switch` (an ordinary call, see `resume`).
///
/// # Safety
/// As for `crate::switch`: `from_sp` is writable, `to_sp` a suspended context.
#[inline(always)]
pub unsafe fn switch(from_sp: *mut *mut u8, to_sp: *mut u8, transfer: usize) -> usize {
    // SAFETY: as promised by the caller.
    unsafe { crate::ffi::goro_asm_switch(from_sp, to_sp, transfer) }
}
