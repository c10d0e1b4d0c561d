//! x86_64 (System V) context switch: the routines live in `x86_64.S`.
//!
//! The assembly file is the reference: it carries the essay, the register table and the
//! stack diagrams. This module assembles it, names its layout constants, and holds the
//! call sites: `suspend` cannot be an ordinary call, and `resume` and `switch` are
//! `call`s written in inline asm so that they reach the routine directly. (An ordinary
//! call of the `extern "C"` declaration goes through the GOT in a position-independent
//! executable, `call *sym@GOTPCREL(%rip)`: one more load and an indirect branch on
//! every switch.)

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

/// A direct `call` of the routine `$routine` with the C arguments `$a`, `$b`, `$c`
/// (rdi, rsi, rdx); evaluates to its return value (rax). Used by `resume` and `switch`,
/// whose routines save and restore every callee-saved register and control word and
/// return like C functions.
macro_rules! direct_call {
    ($routine:path, $a:expr, $b:expr, $c:expr) => {{
        let ret: usize;
        // SAFETY: the caller of the enclosing function upholds the routine's contract.
        // The routine keeps the callee-saved state and returns here like a C function;
        // everything caller-saved is declared clobbered. Without `nostack` the asm block
        // starts with the stack aligned for a call and nothing in the red zone.
        unsafe {
            core::arch::asm!(
                "call {routine}",
                routine = sym $routine,
                in("rdi") $a,
                in("rsi") $b,
                in("rdx") $c,
                lateout("rax") ret,
                clobber_abi("C"),
            );
        }
        ret
    }};
}

/// Calls `goro_asm_resume` directly (see the module documentation).
///
/// # Safety
/// As for `crate::resume`: `parent_sp` is writable, `child_sp` a suspended context.
#[inline(always)]
pub unsafe fn resume(parent_sp: *mut *mut u8, child_sp: *mut u8, transfer: usize) -> usize {
    direct_call!(crate::ffi::goro_asm_resume, parent_sp, child_sp, transfer)
}

/// Calls `goro_asm_switch` directly (see the module documentation).
///
/// # Safety
/// As for `crate::switch`: `from_sp` is writable, `to_sp` a suspended context.
#[inline(always)]
pub unsafe fn switch(from_sp: *mut *mut u8, to_sp: *mut u8, transfer: usize) -> usize {
    direct_call!(crate::ffi::goro_asm_switch, from_sp, to_sp, transfer)
}
