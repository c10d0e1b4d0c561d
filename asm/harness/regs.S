// Register probes for the aarch64 context-switch harness (harness.c).
//
// C cannot say "put this value in x23 and keep it there across a call", so the two
// probes that need exact register contents are written here, in the same GNU as
// syntax as ../src/arch/aarch64.S (no preprocessor directives, `//` comments).
//
// Operations
// ----------
//   uintptr_t harness_call_checked(void **from_sp, void *to_sp, uintptr_t transfer,
//                                  const struct regset *load, struct regset *out,
//                                  routine_fn routine, uintptr_t no_link)
//       An ordinary AAPCS64 function (it preserves its caller's callee-saved state).
//       Loads load->x19..x28, fp, d8..d15 and fpcr into the registers, calls
//       routine(from_sp, to_sp, transfer) (goro_asm_switch, goro_asm_resume or
//       goro_asm_suspend), and when this context is continued stores what it finds in
//       x19..x28, x29, x30, sp, d8..d15 and FPCR, plus the returned transfer value and
//       the expected lr and sp, into *out. Only the routine can have put the loaded
//       values back: the context on the other side runs the same probe with different
//       values (or plain C code). The call is a `blr` when no_link is 0; otherwise
//       the probe sets x30 to the continuation and branches without a link
//       (`adr x30; br`), the way Rust enters goro_asm_suspend. x30 is only meaningful
//       after goro_asm_resume (which returns); the others continue us with `br`.
//   harness_entry_probe(uintptr_t transfer, void *data)
//       An entry function for goro_asm_init. Records sp, x29, x30 and FPCR as they are
//       at the first instruction of an entry into `harness_entry_seen`, then
//       tail-branches (x30 unchanged) to the C function whose address is the first
//       word of `data`, with x0 and x1 unchanged.
//
// Registers
// ---------
// | register     | in harness_call_checked                                          |
// |--------------|------------------------------------------------------------------|
// | x0 x1 x2     | passed through to the routine untouched                          |
// | x5 x6        | the routine and no_link, used for the call                       |
// | x3           | `load`, read before the call                                     |
// | x4           | `out`, kept in the probe's frame across the call (every register |
// |              | that would survive the call holds a test value)                  |
// | x19-x29, d8-d15, FPCR | the caller's values: saved in the probe's frame on entry, |
// |              | replaced by test values, restored before `ret`                   |
// | x9-x11       | scratch after the call: sp, x30, FPCR as found                   |
//
// Probe frame (offsets from sp after the prologue, 16-byte aligned)
// -----------------------------------------------------------------
//   +0   x29 +8 x30 | +16..+88 x19..x28 | +96..+152 d8..d15 | +160 FPCR | +168 out
//
// struct regset (harness.c checks these offsets with _Static_assert)
// -----------------------------------------------------------------
//   +0   x19..x28 (10 words)   +80  fp (x29)   +88  lr (x30)   +96  sp
//   +104 fpcr                  +112 d8..d15 (8 words)
//   +176 ret (value returned by the routine)   +184 lr_expected  +192 sp_expected

    .set HRS_X19,     0          // regset: x19..x28
    .set HRS_FP,      80         // regset: x29
    .set HRS_LR,      88         // regset: x30
    .set HRS_SP,      96         // regset: sp
    .set HRS_FPCR,    104        // regset: FPCR
    .set HRS_D8,      112        // regset: d8..d15
    .set HRS_RET,     176        // regset: returned transfer
    .set HRS_LR_EXP,  184        // regset: address the call must come back to
    .set HRS_SP_EXP,  192        // regset: sp the routine must give back

    .set HPF_X19,     16         // probe frame: x19..x28
    .set HPF_D8,      96         // probe frame: d8..d15
    .set HPF_FPCR,    160        // probe frame: caller's FPCR
    .set HPF_OUT,     168        // probe frame: `out` pointer
    .set HPF_SIZE,    176        // probe frame size

    .set HES_SP,      0          // harness_entry_seen: sp at entry
    .set HES_FP,      8          // harness_entry_seen: x29 at entry
    .set HES_LR,      16         // harness_entry_seen: x30 at entry
    .set HES_FPCR,    24         // harness_entry_seen: FPCR at entry
    .set HES_COUNT,   32         // harness_entry_seen: entries so far

    .text

// ---------------------------------------------------------------------------------
// On entry: x0 = from_sp, x1 = to_sp, x2 = transfer, x3 = load, x4 = out,
//           x5 = routine, x6 = no_link.
    .p2align 4
    .global harness_call_checked
    .type harness_call_checked, %function
harness_call_checked:
    .cfi_startproc
    // Prologue: save the caller's callee-saved state (we are about to trash it).
    stp x29, x30, [sp, #-HPF_SIZE]!          // frame record, sp -= 176
    .cfi_def_cfa_offset HPF_SIZE
    .cfi_offset x29, -HPF_SIZE
    .cfi_offset x30, 8 - HPF_SIZE
    stp x19, x20, [sp, #HPF_X19]             // x19..x28
    stp x21, x22, [sp, #HPF_X19 + 16]
    stp x23, x24, [sp, #HPF_X19 + 32]
    stp x25, x26, [sp, #HPF_X19 + 48]
    stp x27, x28, [sp, #HPF_X19 + 64]
    stp d8, d9, [sp, #HPF_D8]                // d8..d15
    stp d10, d11, [sp, #HPF_D8 + 16]
    stp d12, d13, [sp, #HPF_D8 + 32]
    stp d14, d15, [sp, #HPF_D8 + 48]
    mrs x9, fpcr                             // caller's FPCR ...
    stp x9, x4, [sp, #HPF_FPCR]              // ... and `out`, side by side

    // Load the test values (x0-x2 stay as the routine's arguments).
    ldp x19, x20, [x3, #HRS_X19]
    ldp x21, x22, [x3, #HRS_X19 + 16]
    ldp x23, x24, [x3, #HRS_X19 + 32]
    ldp x25, x26, [x3, #HRS_X19 + 48]
    ldp x27, x28, [x3, #HRS_X19 + 64]
    ldp d8, d9, [x3, #HRS_D8]
    ldp d10, d11, [x3, #HRS_D8 + 16]
    ldp d12, d13, [x3, #HRS_D8 + 32]
    ldp d14, d15, [x3, #HRS_D8 + 48]
    ldr x9, [x3, #HRS_FPCR]                  // test FPCR ...
    msr fpcr, x9                             // ... in force across the call
    ldr x29, [x3, #HRS_FP]                   // fp last: no more frame-relative access
                                             // needs it (all is sp-relative anyway)

    // What the routine must give back: this sp, and the address after the call.
    mov x9, sp
    str x9, [x4, #HRS_SP_EXP]
    adr x10, .Lhrs_after_call
    str x10, [x4, #HRS_LR_EXP]

    cbz x6, .Lhrs_link                       // no_link == 0: an ordinary call
    mov x30, x10                             // no link: x30 = continuation by hand ...
    br x5                                    // ... and a plain branch (Rust's suspend)
.Lhrs_link:
    blr x5                                   // the other side runs, then continues us
.Lhrs_after_call:
    // Capture sp, x30 and FPCR before anything can change them.
    mov x9, sp                               // sp as restored
    mov x10, x30                             // lr as restored (= where `ret` went)
    mrs x11, fpcr                            // FPCR as restored
    ldr x4, [sp, #HPF_OUT]                   // `out` (needs the right sp, else a crash)
    stp x19, x20, [x4, #HRS_X19]             // x19..x28 as restored
    stp x21, x22, [x4, #HRS_X19 + 16]
    stp x23, x24, [x4, #HRS_X19 + 32]
    stp x25, x26, [x4, #HRS_X19 + 48]
    stp x27, x28, [x4, #HRS_X19 + 64]
    stp x29, x10, [x4, #HRS_FP]              // x29, x30
    stp x9, x11, [x4, #HRS_SP]               // sp, FPCR
    stp d8, d9, [x4, #HRS_D8]                // d8..d15
    stp d10, d11, [x4, #HRS_D8 + 16]
    stp d12, d13, [x4, #HRS_D8 + 32]
    stp d14, d15, [x4, #HRS_D8 + 48]
    str x0, [x4, #HRS_RET]                   // the transfer value we were continued with

    // Epilogue: give the caller its state back; x0 (transfer) is our return value.
    ldr x9, [sp, #HPF_FPCR]
    msr fpcr, x9                             // caller's FPCR
    ldp d8, d9, [sp, #HPF_D8]
    ldp d10, d11, [sp, #HPF_D8 + 16]
    ldp d12, d13, [sp, #HPF_D8 + 32]
    ldp d14, d15, [sp, #HPF_D8 + 48]
    ldp x19, x20, [sp, #HPF_X19]
    ldp x21, x22, [sp, #HPF_X19 + 16]
    ldp x23, x24, [sp, #HPF_X19 + 32]
    ldp x25, x26, [sp, #HPF_X19 + 48]
    ldp x27, x28, [sp, #HPF_X19 + 64]
    ldp x29, x30, [sp], #HPF_SIZE            // frame record, sp += 176
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size harness_call_checked, . - harness_call_checked

// ---------------------------------------------------------------------------------
// On entry: x0 = transfer, x1 = data (first word: the C entry to continue in),
//           sp, x29, x30, FPCR exactly as goro_asm_start left them.
    .p2align 4
    .global harness_entry_probe
    .type harness_entry_probe, %function
harness_entry_probe:
    .cfi_startproc
    adrp x9, harness_entry_seen              // x9 = &harness_entry_seen
    add x9, x9, :lo12:harness_entry_seen
    mov x10, sp                              // sp at entry
    stp x10, x29, [x9, #HES_SP]              // sp, x29
    mrs x11, fpcr
    stp x30, x11, [x9, #HES_LR]              // x30, FPCR
    ldr x10, [x9, #HES_COUNT]                // count entries, so the C side knows the
    add x10, x10, #1                         //   values are fresh
    str x10, [x9, #HES_COUNT]
    ldr x9, [x1]                             // the C entry ...
    br x9                                    // ... as a tail call: x0, x1, x30 intact
    .cfi_endproc
    .size harness_entry_probe, . - harness_entry_probe
