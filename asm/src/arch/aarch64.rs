//! aarch64 (AAPCS64) context switch: the routine lives in `aarch64.S`.
//!
//! The assembly file carries the essay, the register table, the stack diagrams and a
//! "Differences from x86_64" section; `x86_64.S` is the reference it is compared to.
//! This module only assembles it and names its layout constants. The very same `.S`
//! text is also assembled by `aarch64-linux-gnu-gcc` for the C harness in
//! `asm/harness/` and run under qemu-aarch64 (`asm/harness/run.sh`).

// GNU assembler syntax that LLVM's integrated assembler accepts as well; the file
// contains no `{`/`}` because the macro reads it as a format string.
core::arch::global_asm!(include_str!("aarch64.S"));

/// Bytes of the one frame that `goro_asm_switch` stores below the caller's sp, and that
/// `goro_asm_init` writes below a new stack's top: x29/x30, x19-x28, d8-d15, FPCR and
/// 8 bytes of padding. The saved stack pointer of a new context is
/// `stack_top - INIT_FRAME_BYTES`. (`GORO_FRAME_SIZE` in `aarch64.S`.)
pub const INIT_FRAME_BYTES: usize = 176;

/// Offset of the saved FPCR from a suspended context's stack pointer
/// (`GORO_FRAME_FPCR` in `aarch64.S`).
pub const FPCR_OFFSET: usize = 160;

/// Bytes of the stack top that a new context needs before any Rust code runs on it.
/// aarch64 has no red zone, so everything the switch keeps is inside the frame.
pub const MIN_STACK_BYTES: usize = INIT_FRAME_BYTES;

/// Registers in the frame: x19-x30 (12), d8-d15 (8), FPCR (1), padding (1).
const FRAME_SLOTS: usize = 12 + 8 + 1 + 1;

// The frame is exactly the slots listed in the `.S` header, 8 bytes each.
const _: () = assert!(FRAME_SLOTS * 8 == INIT_FRAME_BYTES);
// sp must be 16-byte aligned at all times on aarch64 (the hardware checks it on every
// sp-relative access when SCTLR_EL1.SA0 is set, as on Linux): the frame keeps it so.
const _: () = assert!(INIT_FRAME_BYTES.is_multiple_of(16));
// FPCR is the slot just below the padding, at the top of the frame.
const _: () = assert!(FPCR_OFFSET + 16 == INIT_FRAME_BYTES);
// `stp`/`ldp` of 64-bit registers take a signed, 8-scaled 7-bit offset (-512..=504):
// the pre-indexed `stp x29, x30, [sp, #-INIT_FRAME_BYTES]!` must encode.
const _: () = assert!(INIT_FRAME_BYTES <= 512);
