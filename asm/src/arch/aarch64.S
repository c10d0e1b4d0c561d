// goro context switch for aarch64 (AAPCS64, Linux/ELF), GNU assembler syntax.
//
// This file is pulled into Rust with `global_asm!(include_str!("aarch64.S"))` and is
// also assembled, byte for byte, by `aarch64-linux-gnu-gcc` for the C harness in
// `asm/harness/`, which runs it under qemu-aarch64. Hence the rules for this text:
// GNU `as` syntax that LLVM's integrated assembler also accepts, no C preprocessor
// directives, comments only with `//` or slash-star, and no curly braces anywhere
// (the Rust macro reads the whole text as a format string).
// The x86_64 file (`x86_64.S`) is the reference; read it first.
//
// Operations
// ----------
//   void *goro_asm_init(void *stack_top, entry_fn entry, void *data)
//       Writes the initial frame of a new context just below `stack_top` and returns
//       the context's saved stack pointer. The first switch to it "returns" into
//       goro_asm_trampoline, which calls entry(transfer, data); entry never returns.
//   uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
//       Saves the callee-saved state on the current stack, stores the stack pointer
//       into *from_sp, loads to_sp, restores that context and returns `transfer` in it.
//   goro_asm_trampoline
//       First return address of every new context: calls entry, never returns, and
//       carries CFI that marks the root of the stack for unwinders.
//
// Registers
// ---------
// | AAPCS64          | role                          | in goro_asm_switch                         |
// |------------------|-------------------------------|--------------------------------------------|
// | x0 x1 x2         | arguments                     | &from.sp, to.sp, transfer                  |
// | x0               | return value                  | = transfer, in the resumed context         |
// | sp               | stack pointer                 | stored to *from_sp, loaded from to_sp      |
// | x19-x28          | callee-saved                  | stored in the frame on the old stack,      |
// |                  |                               | loaded from the frame on the new one       |
// | x29 (fp)         | frame pointer, callee-saved   | frame record at the bottom of the frame    |
// | x30 (lr)         | return address                | saved with x29; `ret` jumps to the new one |
// | d8-d15           | low 64 bits of v8-v15,        | stored in the frame, loaded from the new   |
// |                  | callee-saved                  |                                            |
// | FPCR             | FP control (rounding, FZ, DN) | stored in the frame; written only if the   |
// |                  |                               | new context's value differs                |
// | x9 x10           | scratch (caller-saved)        | old / new FPCR, old sp                     |
// | everything else  | caller-saved                  | clobbered (the caller sees a C call):      |
// |                  |                               | x3-x18, v0-v7, v16-v31, upper halves of    |
// |                  |                               | v8-v15, NZCV, FPSR                         |
//
// Because the Rust side reaches goro_asm_switch through an ordinary `extern "C"` call,
// the compiler already treats every caller-saved register as clobbered; this routine
// saves exactly what AAPCS64 says a callee must preserve and nothing more. FPCR is a
// "global" register in AAPCS64; goro makes it per context, like MXCSR on x86_64, so a
// goroutine that changes its rounding mode does not change it for the others.
//
// Frame layout (offsets from the saved sp; one 176-byte frame, 16-byte aligned)
// ------------------------------------------------------------------------------
//   +0   x29 (fp)   +8   x30 (lr)      <- a standard AAPCS64 frame record
//   +16  x19        +24  x20
//   +32  x21        +40  x22
//   +48  x23        +56  x24
//   +64  x25        +72  x26
//   +80  x27        +88  x28
//   +96  d8         +104 d9
//   +112 d10        +120 d11
//   +128 d12        +136 d13
//   +144 d14        +152 d15
//   +160 FPCR       +168 padding (keeps the frame a multiple of 16)
// The offsets are named by the `.set` constants below (GORO_FRAME_*); the Rust side
// names the size as `INIT_FRAME_BYTES` (arch/aarch64.rs).
//
// Suspended context (high addresses on top)
// -----------------------------------------
//          |                    |
//          | caller's frame     |
//          +--------------------+ <- sp of the caller of goro_asm_switch (16-aligned)
//          | padding            |  +168
//          | FPCR               |  +160
//          | d15 .. d8          |  +152 .. +96
//          | x28 .. x19         |  +88  .. +16
//          | x30 (lr)           |  +8   where the switch returns to
//          | x29 (fp)           |  +0
//          +--------------------+ <- saved sp (*from_sp), 16-aligned
//          ~ free               ~
//          | guard region       |  no access
//
// Initial frame written by goro_asm_init
// --------------------------------------
//          +--------------------+ <- stack_top, rounded down to 16 bytes
//          | padding = 0        |  top-8     (+168)
//          | FPCR of creator    |  top-16    (+160)
//          | d15 .. d8 = 0      |  top-24 .. top-80
//          | x28 .. x21 = 0     |  top-88 .. top-144
//          | x20 = data         |  top-152   (+24)
//          | x19 = entry        |  top-160   (+16)
//          | x30 = trampoline   |  top-168   (+8)  "return address" of the first switch
//          | x29 = 0            |  top-176   (+0)  ends frame-pointer chains
//          +--------------------+ <- returned sp (INIT_FRAME_BYTES = 176 below top)
//
// When the first switch to this context loads that frame and pops it, sp becomes the
// (rounded) stack_top, 16-byte aligned, and `ret` enters the trampoline with
// x0 = transfer, x19 = entry, x20 = data, x29 = 0. The trampoline calls entry with
// `blr`, which does not touch sp, so entry starts with a 16-aligned sp as AAPCS64
// requires (on aarch64 sp must be 16-aligned at all times, not only at calls).
//
// Differences from x86_64
// -----------------------
// - No red zone: AAPCS64 gives none, and Linux delivers signals right below sp, so
//   FPCR lives *inside* the frame (+160), not below the saved sp as MXCSR and the x87
//   control word do on x86_64. The frame is allocated with one pre-indexed `stp` and
//   freed with one post-indexed `ldp`.
// - The return address is a register (x30), not a stack slot pushed by `call`: the
//   switch saves it with x29 as a frame record and returns with `ret` (= br x30). The
//   initial frame therefore holds the trampoline in the x30 slot instead of a return
//   address slot above the saved registers.
// - The transfer value is returned in x0, which is also the trampoline's first
//   argument register, so the trampoline only moves `data` (x20) into x1.
// - More state: 12 general registers (x19-x30), 8 FP registers (d8-d15) and FPCR,
//   176 bytes, against 6 registers, a return address and 8 bytes of control words on
//   x86_64.
// - x86_64 reloads MXCSR and the x87 CW on every switch. Here `msr fpcr` can be a
//   serializing, tens-of-cycles write on some cores, and a
//   goroutine almost never changes FPCR, so the switch reads the current FPCR
//   (`mrs`, cheap), compares it with the saved one and skips the write when equal.
//   This costs a compare and a well-predicted branch; it could not be measured here
//   (qemu timings mean nothing), and it keeps the code simple, so it stays.
// - The trampoline ends the stack with `.cfi_undefined x30` (the return-address
//   column) where x86_64 uses `.cfi_undefined rip`, and traps with `brk #0x1` where
//   x86_64 uses `ud2`. Its FDE starts one `nop` before the symbol, so that a lookup at
//   "trampoline - 1" (the x30 of a new context's frame, minus one) finds it too.
// - goro_asm_init rounds stack_top down to 16 bytes (one `and`) as a safety net; the
//   Rust contract still requires an aligned top.
//
// CFI
// ---
// goro_asm_switch describes its frame exactly at every instruction: after the first
// `stp`, CFA = sp + 176 and each register is recorded as soon as it is stored. Both
// stacks carry the same frame layout, so the rules stay true after `mov sp, x1`: from
// there on they describe the resumed context's frame, and an unwinder stopped between
// the stack switch and `ret` walks the resumed context's stack (whose caller it is
// about to return to), which is where execution is. After the final post-indexed
// `ldp` every register is live again and the rules are reset to "same value".
// The switch builds no frame record of its own (x29 is not moved to sp); it is a leaf,
// so frame-pointer walkers see it through x30 like any other leaf function.
//
// Not handled (by design): pointer authentication and BTI (x30 is saved as the plain
// address `bl` produced; no `paciasp`; goro is not built with branch protection),
// SVE/SME state (AAPCS64 only preserves the low 64 bits of v8-v15, and streaming mode
// must not be active across a switch), and the shadow call stack (x18 is not switched).

// Frame offsets, all relative to the saved sp. `.set` symbols are understood by both
// GNU as and LLVM, also inside `.cfi_*` expressions.
    .set GORO_FRAME_FP,   0      // x29, x30 pair (frame record)
    .set GORO_FRAME_X19,  16     // x19, x20 pair
    .set GORO_FRAME_X21,  32     // x21, x22 pair
    .set GORO_FRAME_X23,  48     // x23, x24 pair
    .set GORO_FRAME_X25,  64     // x25, x26 pair
    .set GORO_FRAME_X27,  80     // x27, x28 pair
    .set GORO_FRAME_D8,   96     // d8, d9 pair
    .set GORO_FRAME_D10,  112    // d10, d11 pair
    .set GORO_FRAME_D12,  128    // d12, d13 pair
    .set GORO_FRAME_D14,  144    // d14, d15 pair
    .set GORO_FRAME_FPCR, 160    // FPCR (64-bit read of a 32-bit register)
    .set GORO_FRAME_PAD,  168    // padding, zero in the initial frame
    .set GORO_FRAME_SIZE, 176    // whole frame; a multiple of 16 (INIT_FRAME_BYTES)

    .text

// ---------------------------------------------------------------------------------
// void *goro_asm_init(void *stack_top, entry_fn entry, void *data)
// On entry: x0 = stack_top, x1 = entry, x2 = data, x30 = return address.
// Writes the initial frame (diagram above) and returns its address in x0.
    .p2align 4
    .global goro_asm_init
    .hidden goro_asm_init
    .type goro_asm_init, %function
goro_asm_init:
    .cfi_startproc
    and x9, x0, #-16                      // x9 = stack_top rounded down to 16 bytes
    sub x0, x9, #GORO_FRAME_SIZE          // x0 = new context's sp = top - 176 (returned)
    adr x10, .Lgoro_trampoline            // x10 = trampoline (PC-relative, no relocation
                                          //       against a preemptible global symbol)
    stp xzr, x10, [x0, #GORO_FRAME_FP]    // x29 = 0 ends fp chains; x30 = trampoline
    stp x1, x2, [x0, #GORO_FRAME_X19]     // x19 = entry, x20 = data
    stp xzr, xzr, [x0, #GORO_FRAME_X21]   // x21, x22 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_X23]   // x23, x24 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_X25]   // x25, x26 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_X27]   // x27, x28 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_D8]    // d8, d9 = +0.0 (all-zero bits)
    stp xzr, xzr, [x0, #GORO_FRAME_D10]   // d10, d11 = +0.0
    stp xzr, xzr, [x0, #GORO_FRAME_D12]   // d12, d13 = +0.0
    stp xzr, xzr, [x0, #GORO_FRAME_D14]   // d14, d15 = +0.0
    mrs x11, fpcr                         // the creator's FP control state ...
    stp x11, xzr, [x0, #GORO_FRAME_FPCR]  // ... becomes the new context's; padding = 0
    ret                                   // x0 = the new context's sp
    .cfi_endproc
    .size goro_asm_init, . - goro_asm_init

// ---------------------------------------------------------------------------------
// uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
// On entry: x0 = from_sp (where to store our sp), x1 = to_sp (context to resume),
//           x2 = transfer, x30 = our return address, sp = old stack (16-aligned).
// On exit (in the resumed context): x0 = transfer, sp and all callee-saved state
//           are that context's, and control is at its x30.
    .p2align 4
    .global goro_asm_switch
    .hidden goro_asm_switch
    .type goro_asm_switch, %function
goro_asm_switch:
    .cfi_startproc
    // Save: allocate the frame on the old stack and fill it.
    stp x29, x30, [sp, #-GORO_FRAME_SIZE]!     // sp -= 176; frame record at +0
    .cfi_def_cfa_offset GORO_FRAME_SIZE
    .cfi_offset x29, GORO_FRAME_FP - GORO_FRAME_SIZE
    .cfi_offset x30, GORO_FRAME_FP + 8 - GORO_FRAME_SIZE
    stp x19, x20, [sp, #GORO_FRAME_X19]        // callee-saved GPRs, two at a time
    .cfi_offset x19, GORO_FRAME_X19 - GORO_FRAME_SIZE
    .cfi_offset x20, GORO_FRAME_X19 + 8 - GORO_FRAME_SIZE
    stp x21, x22, [sp, #GORO_FRAME_X21]
    .cfi_offset x21, GORO_FRAME_X21 - GORO_FRAME_SIZE
    .cfi_offset x22, GORO_FRAME_X21 + 8 - GORO_FRAME_SIZE
    stp x23, x24, [sp, #GORO_FRAME_X23]
    .cfi_offset x23, GORO_FRAME_X23 - GORO_FRAME_SIZE
    .cfi_offset x24, GORO_FRAME_X23 + 8 - GORO_FRAME_SIZE
    stp x25, x26, [sp, #GORO_FRAME_X25]
    .cfi_offset x25, GORO_FRAME_X25 - GORO_FRAME_SIZE
    .cfi_offset x26, GORO_FRAME_X25 + 8 - GORO_FRAME_SIZE
    stp x27, x28, [sp, #GORO_FRAME_X27]
    .cfi_offset x27, GORO_FRAME_X27 - GORO_FRAME_SIZE
    .cfi_offset x28, GORO_FRAME_X27 + 8 - GORO_FRAME_SIZE
    stp d8, d9, [sp, #GORO_FRAME_D8]           // callee-saved FP registers (low 64 bits)
    .cfi_offset d8, GORO_FRAME_D8 - GORO_FRAME_SIZE
    .cfi_offset d9, GORO_FRAME_D8 + 8 - GORO_FRAME_SIZE
    stp d10, d11, [sp, #GORO_FRAME_D10]
    .cfi_offset d10, GORO_FRAME_D10 - GORO_FRAME_SIZE
    .cfi_offset d11, GORO_FRAME_D10 + 8 - GORO_FRAME_SIZE
    stp d12, d13, [sp, #GORO_FRAME_D12]
    .cfi_offset d12, GORO_FRAME_D12 - GORO_FRAME_SIZE
    .cfi_offset d13, GORO_FRAME_D12 + 8 - GORO_FRAME_SIZE
    stp d14, d15, [sp, #GORO_FRAME_D14]
    .cfi_offset d14, GORO_FRAME_D14 - GORO_FRAME_SIZE
    .cfi_offset d15, GORO_FRAME_D14 + 8 - GORO_FRAME_SIZE
    mrs x9, fpcr                               // x9 = our FPCR (kept to compare below)
    str x9, [sp, #GORO_FRAME_FPCR]             // into the frame; padding slot untouched
    mov x10, sp                                // sp cannot be stored directly ...
    str x10, [x0]                              // ... *from_sp = sp: our context is complete

    // Switch stacks: from here on we run as the resumed context.
    mov sp, x1                                 // sp = to_sp, its frame is at sp

    // Restore: load the resumed context's frame and free it.
    ldr x10, [sp, #GORO_FRAME_FPCR]            // x10 = its FPCR
    cmp x10, x9                                // same as the FPCR in force now?
    b.eq .Lgoro_fpcr_done                      // yes (the usual case): skip the slow write
    msr fpcr, x10                              // no: install the resumed context's FPCR
.Lgoro_fpcr_done:
    ldp d8, d9, [sp, #GORO_FRAME_D8]           // callee-saved FP registers
    ldp d10, d11, [sp, #GORO_FRAME_D10]
    ldp d12, d13, [sp, #GORO_FRAME_D12]
    ldp d14, d15, [sp, #GORO_FRAME_D14]
    ldp x19, x20, [sp, #GORO_FRAME_X19]        // callee-saved GPRs (entry, data in a new
    ldp x21, x22, [sp, #GORO_FRAME_X21]        //   context's initial frame)
    ldp x23, x24, [sp, #GORO_FRAME_X23]
    ldp x25, x26, [sp, #GORO_FRAME_X25]
    ldp x27, x28, [sp, #GORO_FRAME_X27]
    ldp x29, x30, [sp], #GORO_FRAME_SIZE       // frame record; sp += 176 frees the frame
    .cfi_def_cfa_offset 0                      // CFA = sp again; every register is live
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    mov x0, x2                                 // hand `transfer` to the resumed context
    ret                                        // to its caller, or into the trampoline
    .cfi_endproc
    .size goro_asm_switch, . - goro_asm_switch

// ---------------------------------------------------------------------------------
// goro_asm_trampoline: first code of every context, entered by goro_asm_switch's `ret`.
// On entry: x0 = transfer, x19 = entry, x20 = data, x29 = 0, x30 = this address,
//           sp = stack_top (16-aligned), FPCR = the creator's at goro_asm_init.
//
// CFI: `.cfi_undefined x30` marks the return-address column as undefined, which every
// DWARF unwinder (libgcc, libunwind, gdb, lldb) reads as "outermost frame". The
// default CFA rule of the CIE (sp + 0) is correct here: nothing is pushed. entry's
// return address points at the `brk` below, inside this FDE, so a backtrace from
// anywhere in the goroutine ends in this frame. Frame-pointer walkers stop as well:
// entry saves x29 = 0 in its frame record.
//
// The FDE starts one `nop` before the symbol. Unwinders look up a caller's FDE at
// "return address - 1"; while goro_asm_switch is between `mov sp, x1` and `ret` into
// a *new* context, the return address it describes is the trampoline itself, and
// without the `nop` that lookup would land in the alignment padding after
// goro_asm_switch (no FDE). With it, that backtrace also ends cleanly here. The `nop`
// is never executed: the initial frame points at the label after it.
    .p2align 4
    .global goro_asm_trampoline
    .hidden goro_asm_trampoline
    .type goro_asm_trampoline, %function
    .cfi_startproc
    .cfi_undefined x30                         // no caller: unwinders stop here
    nop                                        // FDE cover for "return address - 1"
goro_asm_trampoline:
.Lgoro_trampoline:
    mov x1, x20                                // arg 2: data (arg 1, transfer, is in x0)
    blr x19                                    // entry(transfer, data); never returns
    brk #0x1                                   // unreachable: trap (SIGTRAP) if it did
    .cfi_endproc
    .size goro_asm_trampoline, . - goro_asm_trampoline
