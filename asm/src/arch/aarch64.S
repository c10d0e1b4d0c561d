// goro context switch for aarch64 (AAPCS64, Linux/ELF), GNU assembler syntax.
//
// This file is pulled into Rust with `global_asm!(include_str!("aarch64.S"))` and is
// also assembled, byte for byte, by `aarch64-linux-gnu-gcc` for the C harness in
// `asm/harness/`, which runs it under qemu-aarch64. Hence the rules for this text:
// GNU `as` syntax that LLVM's integrated assembler also accepts, no C preprocessor
// directives, comments only with `//`, and no curly braces anywhere (the Rust macro
// reads the whole text as a format string).
// The x86_64 file (`x86_64.S`) is the reference and `lib.rs` carries the essay on why
// there are three operations (return-address prediction); read them first.
//
// Operations
// ----------
//   void *goro_asm_init(void *stack_top, entry_fn entry, void *data)
//       Writes a suspended frame just below `stack_top` whose continuation is
//       goro_asm_start, and returns it (the new context's saved sp).
//   uintptr_t goro_asm_resume(void **parent_sp, void *child_sp, uintptr_t transfer)
//       Saves the current context as a *parent frame*, stores its sp into *parent_sp
//       and branches with link (`blr`) into the suspended context child_sp. Returns
//       (through .Lresume_back) when the child suspends, with the child's transfer.
//   goro_asm_resume_point
//       The first word of every suspended frame: restores it. Entered by `blr` from
//       goro_asm_resume, never called from outside.
//   uintptr_t goro_asm_suspend(void **self_sp, void *parent_sp, uintptr_t transfer)
//       Saves the current context (a child) as a suspended frame into *self_sp and
//       `ret`s into the parent waiting in goro_asm_resume: that `ret` pairs with the
//       parent's `blr`. Rust enters it *without* a link (`adr x30, 2f; b`, see
//       arch/aarch64.rs); C may use `bl` (then x30 is the continuation as well).
//   uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
//       Symmetric: saves a suspended frame like goro_asm_suspend, restores the
//       suspended context to_sp as the resume point does, and `ret`s into it.
//   goro_asm_start
//       Continuation of every new context: calls entry(transfer, data), never returns,
//       carries CFI that marks the root of the stack for unwinders.
//
// Invariant (lib.rs, invariant 2): a parent frame (saved by goro_asm_resume) is
// continued only by goro_asm_suspend; a suspended frame (saved by goro_asm_suspend,
// goro_asm_switch or goro_asm_init) only by goro_asm_resume or goro_asm_switch.
//
// Return-address prediction on aarch64: `bl`/`blr` push the return-address stack,
// `ret` pops it, `b`/`br` leave it alone. resume enters the child with `blr`, the
// child's suspend leaves with `ret`: a matched pair. The resume point continues a
// context with `br` (not `ret`), and suspend is entered without a link, so neither
// disturbs the pairing. A symmetric switch is `bl` in, `ret` out: matched, and its
// `ret` predicted whenever the target switched out from the same call site (the
// scheduler's), as goroutines do.
//
// Registers
// ---------
// | AAPCS64         | role                          | in resume / suspend / switch               |
// |-----------------|-------------------------------|--------------------------------------------|
// | x0 x1 x2        | arguments                     | where to store our sp, frame to continue,  |
// |                 |                               | transfer                                   |
// | x0              | return value                  | = transfer, in the continued context       |
// | sp              | stack pointer                 | stored to *x0, set from x1                 |
// | x19-x28         | callee-saved                  | stored in our frame, loaded from the other |
// | x29 (fp)        | frame pointer, callee-saved   | stored / loaded with x30 (frame record)    |
// | x30 (lr)        | return address                | resume: saved and restored (it returns);   |
// |                 |                               | suspend, switch: saved as the continuation |
// |                 |                               | that the resume point branches to          |
// | d8-d15          | low 64 bits of v8-v15,        | stored in our frame, loaded from the other |
// |                 | callee-saved                  |                                            |
// | FPCR            | FP control (rounding, FZ, DN) | stored in our frame; written only if the   |
// |                 |                               | other frame's value differs                |
// | x9-x12          | scratch (caller-saved)        | x9 = our FPCR (passed to the resume point),|
// |                 |                               | x10-x12 addresses, the other FPCR          |
// | everything else | caller-saved                  | clobbered (the caller sees a C call):      |
// |                 |                               | x3-x18, v0-v7, v16-v31, upper halves of    |
// |                 |                               | v8-v15, NZCV, FPSR                         |
//
// The Rust side reaches resume and switch through an ordinary `extern "C"` call and
// suspend through an `asm!` block with `clobber_abi("C")` and x30 declared clobbered,
// so the compiler already treats every caller-saved register as clobbered; these
// routines save exactly what AAPCS64 says a callee must preserve and nothing more.
// FPCR is a "global" register in AAPCS64; goro makes it per context, like MXCSR on
// x86_64, so a goroutine that changes its rounding mode does not change it for others.
// x30 is not restored when a suspended frame is continued: the continuation is the
// instruction after a call (or after the `asm!` that declares x30 clobbered), where
// x30 is dead.
//
// Frame layout (offsets from the saved sp; one 176-byte frame, 16-byte aligned)
// ------------------------------------------------------------------------------
// Every frame, parent or suspended, has this layout (the GORO_FRAME_* constants):
//   +0   resume word       +8   FPCR
//   +16  x29 (fp)          +24  x30 word          <- an AAPCS64 frame record
//   +32  x19  +40  x20     +48  x21  +56  x22
//   +64  x23  +72  x24     +80  x25  +88  x26
//   +96  x27  +104 x28
//   +112 d8   +120 d9      +128 d10  +136 d11
//   +144 d12  +152 d13     +160 d14  +168 d15
// The two words whose meaning depends on the kind of frame, exactly as on x86_64
// (where the word at the saved sp is the resume point or the .Lresume_back that
// `call` pushed, and the top word is the continuation or resume's return address):
//
// | word          | suspended frame (suspend, switch, init)  | parent frame (resume)        |
// |---------------|------------------------------------------|------------------------------|
// | +0  resume    | goro_asm_resume_point: resume `blr`s to  | .Lresume_back: suspend loads |
// |               | it (switch restores the frame itself)    | it into x30 and `ret`s to it |
// | +24 x30       | continuation: x30 at entry (the address  | x30 at entry: the return     |
// |               | after the caller's `bl` or `asm!`),      | address of goro_asm_resume,  |
// |               | goro_asm_start in a new context          | restored by .Lresume_back    |
//
// Suspended context (high addresses on top)
// -----------------------------------------
//          |                    |
//          | caller's frame     |
//          +--------------------+ <- sp of the caller of suspend/switch (16-aligned)
//          | d15 .. d8          |  +168 .. +112
//          | x28 .. x19         |  +104 .. +32
//          | x30: continuation  |  +24   where the resume point `br`s (switch `ret`s) to
//          | x29 (fp)           |  +16
//          | FPCR               |  +8    compared before it is written
//          | resume point       |  +0    goro_asm_resume_point
//          +--------------------+ <- saved sp (*self_sp, *from_sp), 16-aligned
//          ~ free               ~
//          | guard region       |  no access
//
// Parent context (waiting in goro_asm_resume while its child runs)
// ----------------------------------------------------------------
//          | caller's frame     |
//          +--------------------+ <- sp of the caller of goro_asm_resume
//          | d15 .. d8          |  +168 .. +112
//          | x28 .. x19         |  +104 .. +32
//          | x30: return addr   |  +24   of goro_asm_resume, into its caller
//          | x29 (fp)           |  +16
//          | FPCR               |  +8    the child's suspend compares/writes it
//          | .Lresume_back      |  +0    the child's suspend `ret`s here
//          +--------------------+ <- saved sp (*parent_sp), 16-aligned
//
// Initial frame written by goro_asm_init
// --------------------------------------
//          +--------------------+ <- stack_top, rounded down to 16 bytes
//          | d15 .. d8 = 0      |  top-8  .. top-64   (+168 .. +112)
//          | x28 .. x21 = 0     |  top-72 .. top-128  (+104 .. +48)
//          | x20 = data         |  top-136  (+40)
//          | x19 = entry        |  top-144  (+32)
//          | goro_asm_start     |  top-152  (+24)  the continuation
//          | x29 = 0            |  top-160  (+16)  ends frame-pointer chains
//          | FPCR of creator    |  top-168  (+8)
//          | resume point       |  top-176  (+0)
//          +--------------------+ <- returned sp (INIT_FRAME_BYTES = 176 below top)
//
// When the first resume or switch to this context restores the frame, sp becomes the
// (rounded) stack_top, 16-byte aligned, and the resume point branches to
// goro_asm_start with x0 = transfer, x19 = entry, x20 = data, x29 = 0. goro_asm_start
// calls entry with `blr`, which does not touch sp, so entry starts with a 16-aligned
// sp as AAPCS64 requires (on aarch64 sp must be 16-aligned at all times, not only at
// calls). No padding is needed above the frame, unlike x86_64 (INIT_FRAME_BYTES ==
// FRAME_BYTES).
//
// Differences from x86_64
// -----------------------
// - Link register instead of a pushed return address. x86_64's resume gets its
//   parent frame's first word (.Lresume_back) for free from `call *(%rsi)`; here
//   `blr` only sets x30, so goro_asm_resume stores .Lresume_back into its frame itself
//   (one `adr`, paired with FPCR in the `stp` that allocates the frame) and the
//   resume point does not touch x30. (Storing x30 from the resume point instead would
//   overwrite a switching context's resume word, which shares that slot.) Likewise
//   suspend "pops" the parent's continuation with a load into x30 and `ret`.
// - goro_asm_resume saves x30 (its return address) in the frame: on x86_64 it sits on
//   the stack already. suspend and switch save x30 as the continuation, in the same
//   slot; no frame needs both, so one uniform 176-byte layout serves every kind.
// - No red zone: AAPCS64 gives none, and Linux delivers signals right below sp, so
//   FPCR lives *inside* the frame (+8), where x86_64 keeps MXCSR and the x87 word.
// - The resume point loads the continued frame through x1 and sets sp once at the
//   end (`add sp, x1, #176`) instead of popping; the continuation is entered with
//   `br x11`, x86_64's `jmp *%rcx`.
// - The resume point gets the resumer's FPCR in x9 (both resume and switch read it
//   with `mrs` to save it) where x86_64 reads the saved words back from the frame.
// - goro_asm_switch does not store its sp into *from_sp itself: the resume point it
//   branches to does (x86_64 stores it twice; the second store is the one that counts
//   for resume, and here one store serves both).
// - `msr fpcr` can be a serializing, tens-of-cycles write on some cores, and contexts
//   almost never differ, so FPCR is compared (`mrs` is cheap) and written only when
//   different, on an out-of-line path; the same scheme as x86_64's control words.
// - More state: 10 general registers plus x29/x30, 8 FP registers and FPCR, 176 bytes,
//   against 6 registers, a return address and 8 bytes of control words on x86_64.
// - goro_asm_start ends the stack with `.cfi_undefined x30` where x86_64 uses
//   `.cfi_undefined rip`, and traps with `brk #0x1` where x86_64 uses `ud2`. Its FDE
//   starts one `nop` before the symbol on both, so that a lookup at
//   "goro_asm_start - 1" (the continuation of a new frame seen as a return address)
//   finds it too.
// - goro_asm_init rounds stack_top down to 16 bytes (one `and`) as a safety net; the
//   Rust contract still requires an aligned top.
//
// CFI
// ---
// As on x86_64, only goro_asm_resume (an ordinary function as seen from its caller)
// and goro_asm_start (the root of a context's stack) carry CFI. goro_asm_resume
// describes its frame at every instruction: after the allocating `stp`, CFA = sp + 176
// and each register is recorded as soon as it is stored; the rules stay true across
// the `blr` (the frame is intact when .Lresume_back runs) until the epilogue frees it.
// goro_asm_suspend, goro_asm_switch and goro_asm_resume_point have no FDE: they run
// for a few instructions between two stacks, and an unwinder that stops in them
// finds no FDE and ends the backtrace there.
//
// Not handled (by design): pointer authentication and BTI (x30 is saved as the plain
// address; no `paciasp`, no `bti` landing pads for the `br` continuations; goro is not
// built with branch protection), SVE/SME state (AAPCS64 only preserves the low 64 bits
// of v8-v15, and streaming mode must not be active across a switch), and the shadow
// call stack (x18 is not switched).

// Frame offsets, all relative to the saved sp. `.set` symbols are understood by both
// GNU as and LLVM, also inside `.cfi_*` expressions.
    .set GORO_FRAME_RESUME, 0    // resume word (table above), FPCR: a pair
    .set GORO_FRAME_FPCR,   8    // FPCR (64-bit read of a 32-bit register)
    .set GORO_FRAME_FP,     16   // x29, x30 pair (frame record)
    .set GORO_FRAME_LR,     24   // x30 word (table above)
    .set GORO_FRAME_X19,    32   // x19, x20 pair
    .set GORO_FRAME_X21,    48   // x21, x22 pair
    .set GORO_FRAME_X23,    64   // x23, x24 pair
    .set GORO_FRAME_X25,    80   // x25, x26 pair
    .set GORO_FRAME_X27,    96   // x27, x28 pair
    .set GORO_FRAME_D8,     112  // d8, d9 pair
    .set GORO_FRAME_D10,    128  // d10, d11 pair
    .set GORO_FRAME_D12,    144  // d12, d13 pair
    .set GORO_FRAME_D14,    160  // d14, d15 pair
    .set GORO_FRAME_SIZE,   176  // whole frame, a multiple of 16 (FRAME_BYTES)

// Pushes a suspended frame for the code that branched here (x30 = its continuation):
// resume word, FPCR, frame record, x19-x28, d8-d15. Leaves x9 = the current FPCR;
// clobbers x10.
    .macro SAVE_SUSPENDED_FRAME
    mrs x9, fpcr                                   // x9 = the current FPCR
    adr x10, .Lresume_point                        // the frame's resume word
    stp x10, x9, [sp, #-GORO_FRAME_SIZE]!          // sp -= 176; resume point, FPCR
    stp x29, x30, [sp, #GORO_FRAME_FP]             // x29; x30 = continuation
    stp x19, x20, [sp, #GORO_FRAME_X19]            // callee-saved GPRs
    stp x21, x22, [sp, #GORO_FRAME_X21]
    stp x23, x24, [sp, #GORO_FRAME_X23]
    stp x25, x26, [sp, #GORO_FRAME_X25]
    stp x27, x28, [sp, #GORO_FRAME_X27]
    stp d8, d9, [sp, #GORO_FRAME_D8]               // callee-saved FP registers
    stp d10, d11, [sp, #GORO_FRAME_D10]
    stp d12, d13, [sp, #GORO_FRAME_D12]
    stp d14, d15, [sp, #GORO_FRAME_D14]
    .endm

// Restores the suspended frame at x1 (its FPCR already dealt with): the callee-saved
// registers, x29, x11 = its continuation, sp = above the frame (freeing it), x0 = x2
// (the transfer). The caller then branches to x11.
    .macro RESTORE_SUSPENDED_FRAME
    ldp d8, d9, [x1, #GORO_FRAME_D8]               // callee-saved FP registers
    ldp d10, d11, [x1, #GORO_FRAME_D10]
    ldp d12, d13, [x1, #GORO_FRAME_D12]
    ldp d14, d15, [x1, #GORO_FRAME_D14]
    ldp x19, x20, [x1, #GORO_FRAME_X19]            // callee-saved GPRs (entry, data in a
    ldp x21, x22, [x1, #GORO_FRAME_X21]            //   new context's initial frame)
    ldp x23, x24, [x1, #GORO_FRAME_X23]
    ldp x25, x26, [x1, #GORO_FRAME_X25]
    ldp x27, x28, [x1, #GORO_FRAME_X27]
    ldp x29, x11, [x1, #GORO_FRAME_FP]             // x29; x11 = continuation
    add sp, x1, #GORO_FRAME_SIZE                   // switch stacks, the frame is freed
    mov x0, x2                                     // hand `transfer` over
    .endm

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
    and x9, x0, #-16                          // x9 = stack_top rounded down to 16 bytes
    sub x0, x9, #GORO_FRAME_SIZE              // x0 = new context's sp = top - 176 (returned)
    adr x10, .Lresume_point                   // local labels: PC-relative, no relocation
    mrs x11, fpcr                             //   against a global symbol
    stp x10, x11, [x0, #GORO_FRAME_RESUME]    // resume point; the creator's FPCR
    adr x10, .Lstart
    stp xzr, x10, [x0, #GORO_FRAME_FP]        // x29 = 0 ends fp chains; continuation
    stp x1, x2, [x0, #GORO_FRAME_X19]         // x19 = entry, x20 = data
    stp xzr, xzr, [x0, #GORO_FRAME_X21]       // x21, x22 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_X23]       // x23, x24 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_X25]       // x25, x26 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_X27]       // x27, x28 = 0
    stp xzr, xzr, [x0, #GORO_FRAME_D8]        // d8, d9 = +0.0 (all-zero bits)
    stp xzr, xzr, [x0, #GORO_FRAME_D10]       // d10, d11 = +0.0
    stp xzr, xzr, [x0, #GORO_FRAME_D12]       // d12, d13 = +0.0
    stp xzr, xzr, [x0, #GORO_FRAME_D14]       // d14, d15 = +0.0
    ret                                       // x0 = the new context's sp
    .cfi_endproc
    .size goro_asm_init, . - goro_asm_init

// ---------------------------------------------------------------------------------
// uintptr_t goro_asm_resume(void **parent_sp, void *child_sp, uintptr_t transfer)
// On entry: x0 = where to save the current (parent) context, x1 = a suspended frame,
//           x2 = transfer, x30 = our return address, sp = 16-aligned.
// The parent frame is complete before the `blr` (it holds .Lresume_back as its resume
// word); the resume point stores its sp into *parent_sp. It is continued by the
// child's `ret` in goro_asm_suspend, which pairs with our `blr`, and which has already
// given us our FPCR back; .Lresume_back restores the rest and returns.
    .p2align 4
    .global goro_asm_resume
    .hidden goro_asm_resume
    .type goro_asm_resume, %function
goro_asm_resume:
    .cfi_startproc
    mrs x9, fpcr                                   // x9 = our FPCR (the resume point reads it)
    adr x10, .Lresume_back                         // our frame's resume word
    stp x10, x9, [sp, #-GORO_FRAME_SIZE]!          // sp -= 176; resume word, FPCR
    .cfi_def_cfa_offset GORO_FRAME_SIZE
    stp x29, x30, [sp, #GORO_FRAME_FP]             // frame record: x30 = our return address
    .cfi_offset x29, GORO_FRAME_FP - GORO_FRAME_SIZE
    .cfi_offset x30, GORO_FRAME_LR - GORO_FRAME_SIZE
    stp x19, x20, [sp, #GORO_FRAME_X19]            // callee-saved GPRs, two at a time
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
    stp d8, d9, [sp, #GORO_FRAME_D8]               // callee-saved FP registers (low 64 bits)
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
    ldr x11, [x1, #GORO_FRAME_RESUME]              // the child's resume point
    blr x11                                        // into it (pushes .Lresume_back)
.Lresume_back:                                     // the child suspended: sp = our frame,
                                                   //   x0 = its transfer, FPCR = ours
    ldp d8, d9, [sp, #GORO_FRAME_D8]               // restore our callee-saved registers
    ldp d10, d11, [sp, #GORO_FRAME_D10]
    ldp d12, d13, [sp, #GORO_FRAME_D12]
    ldp d14, d15, [sp, #GORO_FRAME_D14]
    ldp x19, x20, [sp, #GORO_FRAME_X19]
    ldp x21, x22, [sp, #GORO_FRAME_X21]
    ldp x23, x24, [sp, #GORO_FRAME_X23]
    ldp x25, x26, [sp, #GORO_FRAME_X25]
    ldp x27, x28, [sp, #GORO_FRAME_X27]
    ldp x29, x30, [sp, #GORO_FRAME_FP]             // frame record: our return address
    add sp, sp, #GORO_FRAME_SIZE                   // free the frame
    .cfi_def_cfa_offset 0                          // CFA = sp again; every register is live
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
    ret                                            // x0 = transfer from the child
    .cfi_endproc
    .size goro_asm_resume, . - goro_asm_resume

// ---------------------------------------------------------------------------------
// goro_asm_resume_point: the resume word of every suspended frame.
// Reached by `blr` from goro_asm_resume (goro_asm_switch restores its target itself,
// the same way, but leaves by `ret`). On entry:
// x0 = where to store the resumer's sp, x1 = the frame to continue, x2 = transfer,
// x9 = the FPCR in force (the resumer's, just saved), sp = the resumer's complete
// frame, x30 = .Lresume_back or the switcher's continuation (ignored: both are
// already in the resumer's frame).
    .p2align 4
    .global goro_asm_resume_point
    .hidden goro_asm_resume_point
    .type goro_asm_resume_point, %function
goro_asm_resume_point:
.Lresume_point:
    mov x12, sp                                    // sp cannot be stored directly ...
    str x12, [x0]                                  // ... the resumer is now completely saved
    ldr x10, [x1, #GORO_FRAME_FPCR]                // x10 = the continued context's FPCR
    cmp x10, x9                                    // differs from the one in force?
    b.ne .Lpoint_fpcr                              // rare: write it (msr fpcr is slow)
.Lpoint_regs:
    RESTORE_SUSPENDED_FRAME
    br x11                                         // continue (a br, not a ret: the blr in
                                                   //  resume is matched by suspend's ret)
.Lpoint_fpcr:
    msr fpcr, x10                                  // install the continued context's FPCR
    b .Lpoint_regs
    .size goro_asm_resume_point, . - goro_asm_resume_point

// ---------------------------------------------------------------------------------
// uintptr_t goro_asm_suspend(void **self_sp, void *parent_sp, uintptr_t transfer)
// On entry: x0 = where to store our sp, x1 = the parent's frame (waiting in
//           goro_asm_resume), x2 = transfer, x30 = our continuation, sp = 16-aligned.
//           Rust enters with `adr x30, 2f; b goro_asm_suspend` (no link, so the
//           return-address stack still has the parent's .Lresume_back on top); C may
//           use `bl`.
    .p2align 4
    .global goro_asm_suspend
    .hidden goro_asm_suspend
    .type goro_asm_suspend, %function
goro_asm_suspend:
    SAVE_SUSPENDED_FRAME                           // x9 = our FPCR afterwards
    mov x11, sp
    str x11, [x0]                                  // *self_sp = sp: we are completely saved
    ldp x30, x10, [x1, #GORO_FRAME_RESUME]         // x30 = .Lresume_back; x10 = its FPCR
    cmp x10, x9                                    // the parent's FPCR differs from ours?
    b.ne .Lsuspend_fpcr                            // rare: write it
.Lsuspend_go:
    mov sp, x1                                     // the parent's stack, its frame on top
    mov x0, x2                                     // hand `transfer` over
    ret                                            // to .Lresume_back: matches its `blr`
.Lsuspend_fpcr:
    msr fpcr, x10                                  // install the parent's FPCR
    b .Lsuspend_go
    .size goro_asm_suspend, . - goro_asm_suspend

// ---------------------------------------------------------------------------------
// uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
// Symmetric switch between two contexts that are not parents waiting in
// goro_asm_resume. On entry: x0 = where to store our sp, x1 = the suspended frame to
// continue, x2 = transfer, x30 = our return address (the continuation), sp =
// 16-aligned. It restores the target itself and leaves by `ret x11`, which pops the
// return-address stack entry that our caller's `bl` pushed: goroutines switched by the
// scheduler all left from the same call site, so that return and the returns after it
// up the shared call chain are predicted (the x86_64 file measures what a `br` there
// cost; qemu-user has no return predictor, so this file's version is not measured).
    .p2align 4
    .global goro_asm_switch
    .hidden goro_asm_switch
    .type goro_asm_switch, %function
goro_asm_switch:
    SAVE_SUSPENDED_FRAME                           // like suspend's; x9 = our FPCR
    mov x12, sp                                    // sp cannot be stored directly ...
    str x12, [x0]                                  // ... we are now completely saved
    ldr x10, [x1, #GORO_FRAME_FPCR]                // x10 = the target's FPCR
    cmp x10, x9                                    // differs from ours?
    b.ne .Lswitch_fpcr                             // rare: write it
.Lswitch_regs:
    RESTORE_SUSPENDED_FRAME
    ret x11                                        // continue the target: pops the
                                                   //  return-address stack entry of our
                                                   //  caller's `bl` (see above)
.Lswitch_fpcr:
    msr fpcr, x10                                  // install the target's FPCR
    b .Lswitch_regs
    .size goro_asm_switch, . - goro_asm_switch

// ---------------------------------------------------------------------------------
// goro_asm_start: continuation of a new context, the root of its stack.
// On entry: x0 = transfer, x19 = entry, x20 = data, x29 = 0, sp = stack_top
//           (16-aligned), FPCR = the creator's at goro_asm_init, x30 = whatever the
//           resumer left there (not a return address: nothing returns here).
//
// CFI: `.cfi_undefined x30` marks the return-address column as undefined, which every
// DWARF unwinder (libgcc, libunwind, gdb, lldb) reads as "outermost frame". The
// default CFA rule of the CIE (sp + 0) is correct here: nothing is pushed. entry's
// return address points at the `brk` below, inside this FDE, so a backtrace from
// anywhere in the goroutine ends in this frame. Frame-pointer walkers stop as well:
// entry saves x29 = 0 in its frame record.
//
// The FDE starts one `nop` before the symbol. Unwinders look up a caller's FDE at
// "return address - 1"; the continuation word of a new context's frame is
// goro_asm_start itself, and a tool that reads it as a return address would land in
// the alignment padding before it (no FDE) without the `nop`. The `nop` is never
// executed: the initial frame points at the label after it.
    .p2align 4
    .cfi_startproc
    .cfi_undefined x30                             // no caller: unwinders stop here
    nop                                            // FDE cover for "goro_asm_start - 1"
    .global goro_asm_start
    .hidden goro_asm_start
    .type goro_asm_start, %function
goro_asm_start:
.Lstart:
    mov x1, x20                                    // arg 2: data (arg 1, transfer, is in x0)
    adr x30, .Lstart_never                         // a return address inside this FDE, set
    br x19                                         // by hand: a `blr` would push a return-
                                                   // stack entry nothing pops (entry never
                                                   // returns) and the child's first suspend
                                                   // would mispredict; entry(transfer, data)
.Lstart_never:
    brk #0x1                                       // unreachable: trap (SIGTRAP) if it did
    .cfi_endproc
    .size goro_asm_start, . - goro_asm_start
