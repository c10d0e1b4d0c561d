//! x86_64 (System V) context switch: the routines live in `x86_64.S`.
//!
//! The assembly file is the reference: it carries the essay, the register table and the
//! stack diagrams. This module assembles it, names its layout constants, and holds the
//! one call site that cannot be an ordinary call (`suspend`).

// The file is AT&T syntax GNU assembler, so that the same text can be fed to `as`.
core::arch::global_asm!(include_str!("x86_64.S"), options(att_syntax));

/// Bytes of a suspended frame: resume point (8), control words (8), six GPRs (48) and
/// the continuation (8).
pub const FRAME_BYTES: usize = 72;

/// Bytes between a new stack's top and the saved stack pointer that `goro_asm_init`
/// returns: a suspended frame plus 16 bytes of padding at the top.
pub const INIT_FRAME_BYTES: usize = FRAME_BYTES + 16;

/// Bytes of the stack top that a new context needs before any Rust code runs on it.
pub const MIN_STACK_BYTES: usize = INIT_FRAME_BYTES;

// When `goro_asm_start` runs, rsp = top - 16 must be 16-byte aligned.
const _: () = assert!((INIT_FRAME_BYTES - FRAME_BYTES).is_multiple_of(16));

/// Enters `goro_asm_suspend` without a `call`: pushes the continuation by hand and
/// jumps, so the routine's final `ret` pairs with the parent's `call` in
/// `goro_asm_resume` and the return-stack predictor stays in step.
///
/// # Safety
/// As for `crate::suspend`: `self_sp` is writable, `parent_sp` is a parent context
/// waiting in `goro_asm_resume`.
#[inline(always)]
pub unsafe fn suspend(self_sp: *mut *mut u8, parent_sp: *mut u8, transfer: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller upholds goro_asm_suspend's contract. The routine saves every
    // callee-saved register and control word and resumes us at label 2 with the stack
    // pointer as it was before the push; everything caller-saved is declared clobbered.
    unsafe {
        core::arch::asm!(
            "lea rax, [rip + 2f]",       // continuation: label 2 below
            "push rax",
            "jmp {suspend}",             // saves us into *rdi, rets into the parent
            "2:",                        // resumed: rax = transfer
            suspend = sym crate::ffi::goro_asm_suspend,
            in("rdi") self_sp,
            in("rsi") parent_sp,
            in("rdx") transfer,
            lateout("rax") ret,
            clobber_abi("C"),
        );
    }
    ret
}
