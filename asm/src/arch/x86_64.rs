//! x86_64 (System V) context switch: the routine lives in `x86_64.S`.
//!
//! The assembly file is the reference: it carries the essay, the register table and the
//! stack diagrams. This module only assembles it and names its layout constants.

// The file is AT&T syntax GNU assembler, so that the same text can be fed to `as`.
core::arch::global_asm!(include_str!("x86_64.S"), options(att_syntax));

/// Bytes between a new stack's top and the saved stack pointer that `goro_asm_init`
/// returns: padding (16), trampoline address (8) and six saved GPRs (48).
pub const INIT_FRAME_BYTES: usize = 72;

/// Bytes below the saved stack pointer that hold MXCSR and the x87 control word of a
/// suspended context (inside the System V red zone).
pub const CONTROL_WORD_BYTES: usize = 8;

/// Bytes of the stack top that a new context needs before any Rust code runs on it.
pub const MIN_STACK_BYTES: usize = INIT_FRAME_BYTES + CONTROL_WORD_BYTES;

// The red zone is 128 bytes; the control words must fit inside it.
const _: () = assert!(CONTROL_WORD_BYTES <= 128);
// After `ret` pops the trampoline address, rsp = top - 16 must be 16-byte aligned.
const _: () = assert!((INIT_FRAME_BYTES - 7 * 8) % 16 == 0);
