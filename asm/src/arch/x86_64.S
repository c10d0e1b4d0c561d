# goro context switch for x86_64 (System V AMD64 ABI), GNU assembler, AT&T syntax.
#
# This file is the reference architecture. It is pulled into Rust with
# `global_asm!(include_str!("x86_64.S"), options(att_syntax))` and is plain GNU `as`
# input (no C preprocessor, no braces), so a C harness can assemble the very same text.
#
# Operations
# ----------
#   void *goro_asm_init(void *stack_top, entry_fn entry, void *data)
#       Writes a suspended frame for a new context just below `stack_top` and returns
#       its saved stack pointer. Its continuation is goro_asm_start, which calls
#       entry(transfer, data); entry never returns.
#   uintptr_t goro_asm_resume(void **parent_sp, void *child_sp, uintptr_t transfer)
#       Saves the caller as a *parent* and calls into the suspended context child_sp;
#       returns the transfer value of the child's next goro_asm_suspend.
#   uintptr_t goro_asm_suspend(void **self_sp, void *parent_sp, uintptr_t transfer)
#       Saves the caller (a child) as a suspended frame and returns into its parent,
#       whose goro_asm_resume returns `transfer`. Rust enters it without a `call`.
#   uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
#       Symmetric: saves the caller as a suspended frame, restores to_sp in place
#       and leaves by `ret` into its continuation.
#   goro_asm_resume_point
#       First word of every suspended frame: the code that completes the resumer's
#       frame and restores the suspended one.
#   goro_asm_start
#       Continuation of a new context: calls entry, never returns, and carries CFI
#       that marks the root of the stack for unwinders.
#
# Why resume/suspend and not only switch: the CPU predicts `ret` from a return-stack
# buffer filled by `call`. goro_asm_resume enters the child with `call *(%rsi)` and the
# child's goro_asm_suspend leaves with the `ret` that pairs with it; the child is
# continued with `jmp *%rcx` (an indirect jump whose target is stable: the one place
# where goroutines suspend), and Rust enters goro_asm_suspend with `push; jmp`, never a
# `call`, so nothing is left on the return-stack buffer. A symmetric switch returns into
# another context's call site: a coroutine and its resumer never share one, so it
# mispredicts every time (27 ns against 9 ns per round trip measured here), but
# goroutines that the scheduler switches between all left from the same call site, so
# goro_asm_switch's `ret` is predicted correctly there (see goro_asm_switch).
#
# Registers
# ---------
# | x86_64 SysV      | role                          | in every routine                           |
# |------------------|-------------------------------|--------------------------------------------|
# | rdi rsi rdx      | arguments                     | where to save, what to resume, transfer    |
# | rax              | return value                  | = transfer, in the resumed context         |
# | rsp              | stack pointer                 | stored to *rdi, loaded from rsi            |
# | rbx rbp r12-r15  | callee-saved                  | pushed on the old stack, popped from new   |
# | MXCSR (bits 6-15)| callee-saved SSE control      | stmxcsr into the old frame; ldmxcsr from   |
# |                  |                               | the new one only if the control bits differ|
# | x87 control word | callee-saved x87 control      | fnstcw into the old frame; fldcw from the  |
# |                  |                               | new one only if it differs                 |
# | rcx r8 (eax)     | scratch (caller-saved)        | continuation address, comparisons          |
# | everything else  | caller-saved                  | clobbered (the caller sees a C call, or an |
# |                  |                               | asm! block with clobber_abi("C"))          |
#
# ldmxcsr and fldcw are slow (ldmxcsr costs ~200 ns here when the value changes), and
# contexts almost never differ, so each is guarded by a compare of the control bits.
# MXCSR status flags (bits 0-5) are caller-saved in the ABI and are not compared.
#
# Frames (high addresses on top; every frame is FRAME_BYTES = 72 bytes)
# ----------------------------------------------------------------------
#   Suspended (by goro_asm_suspend,                Parent (by goro_asm_resume; the child's
#   goro_asm_switch or goro_asm_init):             resume point stores its sp):
#
#   | continuation       |  +64                    | return into resume's caller | +64
#   | saved rbp          |  +56                    | saved rbp          |  +56
#   | saved rbx          |  +48                    | saved rbx          |  +48
#   | saved r12          |  +40                    | saved r12          |  +40
#   | saved r13          |  +32                    | saved r13          |  +32
#   | saved r14          |  +24                    | saved r14          |  +24
#   | saved r15          |  +16                    | saved r15          |  +16
#   | pad | x87 CW       |  +14 | +12              | pad | x87 CW       |  +14 | +12
#   | MXCSR              |  +8                     | MXCSR              |  +8
#   | &resume_point      |  +0  <- saved sp        | .Lresume_back      |  +0 <- saved sp
#   +--------------------+                         +--------------------+
#
# The two differ only in how their first word is entered: a suspended frame is
# continued by `call` to its resume point (with rsp still on the resumer's stack) or
# restored in place by goro_asm_switch, a parent frame by the `ret` of its child's
# goro_asm_suspend (rsp on the parent's stack). So a parent is continued only by goro_asm_suspend, and a suspended
# frame only by goro_asm_resume or goro_asm_switch (invariant 2 of asm/src/lib.rs).
#
# Initial frame written by goro_asm_init (stack_top is 16-byte aligned)
# ---------------------------------------------------------------------
#          +--------------------+ <- stack_top
#          | 0 (padding)        |  top-8
#          | 0 (padding)        |  top-16    <- rsp when goro_asm_start runs (16-aligned)
#          | &goro_asm_start    |  top-24    continuation
#          | rbp = 0            |  top-32    ends frame-pointer chains
#          | rbx = entry        |  top-40
#          | r12 = data         |  top-48
#          | r13, r14, r15 = 0  |  top-56 .. top-72
#          | x87 CW, MXCSR      |  top-80    the creator's
#          | &resume_point      |  top-88    <- returned sp (INIT_FRAME_BYTES = 88)
#          +--------------------+
#
# goro_asm_start is entered by the resume point's `jmp` (or goro_asm_switch's `ret`)
# with rsp = top-16; it pushes a
# return address (by hand, see there), so `entry` starts with rsp = 8 (mod 16), as the
# ABI requires.

# Frame layout (offsets from the saved sp; see the diagrams above). The Rust side
# names FRAME_BYTES and INIT_FRAME_BYTES too (arch/x86_64.rs) and asserts them.
    .set FRAME_RESUME, 0                 # resume point / .Lresume_back
    .set FRAME_MXCSR, 8                  # MXCSR (4 bytes)
    .set FRAME_FPCW, 12                  # x87 control word (2 bytes), then 2 padding
    .set FRAME_R15, 16                   # r15 r14 r13 r12 rbx rbp, 8 bytes each
    .set FRAME_R14, 24
    .set FRAME_R13, 32
    .set FRAME_R12, 40
    .set FRAME_RBX, 48
    .set FRAME_RBP, 56
    .set FRAME_CONT, 64                  # continuation / return into resume's caller
    .set FRAME_BYTES, 72
    .set INIT_FRAME_BYTES, 88            # a frame plus 16 bytes of padding at the top
    .set MXCSR_CONTROL, 0xffc0           # MXCSR bits 6-15: DAZ, masks, RC, FZ
    .set FPCW_CONTROL, 0x1f3f            # x87 CW: masks, PC, RC, X (reserved bits out)

# Pushes a suspended frame (see the diagram) for the code that called or jumped here;
# the continuation is already on top of the stack. Clobbers rax.
    .macro SAVE_SUSPENDED_FRAME
    pushq %rbp                           # callee-saved GPRs
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp                        # control words
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    leaq goro_asm_resume_point(%rip), %rax
    pushq %rax                           # the resume point completes the frame
    .endm

# Makes the control words of frame \new current, given that frame \cur holds the
# current ones: each is loaded only if its control bits differ (ldmxcsr and fldcw are
# slow). Clobbers eax.
# Switches to the suspended frame at rsi (its control words already dealt with):
# rsp = its continuation, callee-saved GPRs restored, rax = rdx (the transfer).
    .macro RESTORE_SUSPENDED_FRAME
    leaq FRAME_R15(%rsi), %rsp           # switch stacks, past resume point and control words
    popq %r15                            # restore the callee-saved GPRs
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    movq %rdx, %rax                      # hand `transfer` over
    .endm

    .macro LOAD_CONTROL_WORDS_IF_CHANGED new, cur
    movl FRAME_MXCSR(\new), %eax                   # MXCSR control bits differ? (status ignored)
    xorl FRAME_MXCSR(\cur), %eax
    testl $MXCSR_CONTROL, %eax
    jz 1f
    ldmxcsr FRAME_MXCSR(\new)                      # rare
1:  movzwl FRAME_FPCW(\new), %eax                # x87 control word differs?
    xorw FRAME_FPCW(\cur), %ax
    testw $FPCW_CONTROL, %ax
    jz 2f
    fldcw FRAME_FPCW(\new)                       # rare
2:
    .endm

    .text

# ---------------------------------------------------------------------------------
# void *goro_asm_init(void *stack_top, entry_fn entry, void *data)
# On entry: rdi = stack_top (16-aligned), rsi = entry, rdx = data.
    .p2align 4
    .globl goro_asm_init
    .hidden goro_asm_init
    .type goro_asm_init,@function
goro_asm_init:
    .cfi_startproc
    leaq -INIT_FRAME_BYTES(%rdi), %rax                 # rax = sp of the new context (top - INIT_FRAME_BYTES)
    movq $0, FRAME_BYTES+8(%rax)                    # top-8:  padding
    movq $0, FRAME_BYTES(%rax)                    # top-16: padding; rsp here when goro_asm_start runs
    leaq goro_asm_start(%rip), %rcx
    movq %rcx, FRAME_CONT(%rax)                  # continuation: goro_asm_start
    movq $0, FRAME_RBP(%rax)                    # rbp = 0 ends frame-pointer chains
    movq %rsi, FRAME_RBX(%rax)                  # rbx = entry
    movq %rdx, FRAME_R12(%rax)                  # r12 = data
    movq $0, FRAME_R13(%rax)                    # r13
    movq $0, FRAME_R14(%rax)                    # r14
    movq $0, FRAME_R15(%rax)                    # r15
    stmxcsr FRAME_MXCSR(%rax)                      # MXCSR of the creator
    fnstcw FRAME_FPCW(%rax)                      # x87 control word of the creator
    movw $0, FRAME_FPCW+2(%rax)                    # padding
    leaq goro_asm_resume_point(%rip), %rcx
    movq %rcx, FRAME_RESUME(%rax)        # resume point: the common restore path
    ret                                  # return the new context's sp in rax
    .cfi_endproc
    .size goro_asm_init, .-goro_asm_init

# ---------------------------------------------------------------------------------
# uintptr_t goro_asm_resume(void **parent_sp, void *child_sp, uintptr_t transfer)
# On entry: rdi = where to save the current (parent) context, rsi = a suspended
#           context, rdx = transfer, rsp = 8 (mod 16) with our return address on top.
# The parent's frame is completed by the child's resume point (it stores rsp, which
# then points at .Lresume_back pushed by our `call`), and is continued by the child's
# `ret` in goro_asm_suspend: the call/ret pair keeps the return-stack predictor right.
    .p2align 4
    .globl goro_asm_resume
    .hidden goro_asm_resume
    .type goro_asm_resume,@function
goro_asm_resume:
    .cfi_startproc
    pushq %rbp                           # save the parent's callee-saved GPRs ...
    .cfi_adjust_cfa_offset 8
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    pushq %r12
    .cfi_adjust_cfa_offset 8
    pushq %r13
    .cfi_adjust_cfa_offset 8
    pushq %r14
    .cfi_adjust_cfa_offset 8
    pushq %r15
    .cfi_adjust_cfa_offset 8
    subq $8, %rsp                        # ... and its control words
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    call *(%rsi)                         # into the child's resume point (pushes .Lresume_back)
.Lresume_back:                           # the child suspended: rsp = our frame + 8
    addq $8, %rsp                        # control words: already restored by the child
    .cfi_adjust_cfa_offset -8
    popq %r15                            # restore our callee-saved GPRs
    .cfi_adjust_cfa_offset -8
    popq %r14
    .cfi_adjust_cfa_offset -8
    popq %r13
    .cfi_adjust_cfa_offset -8
    popq %r12
    .cfi_adjust_cfa_offset -8
    popq %rbx
    .cfi_adjust_cfa_offset -8
    popq %rbp
    .cfi_adjust_cfa_offset -8
    ret                                  # rax = transfer from the child
    .cfi_endproc
    .size goro_asm_resume, .-goro_asm_resume

# ---------------------------------------------------------------------------------
# goro_asm_resume_point: the first word of every suspended frame.
# Reached by `call *(%rsi)` from goro_asm_resume (goro_asm_switch restores its
# target itself, the same way, but leaves by `ret`). On entry: rdi = where to store the resumer's sp, rsi = the frame to
# resume, rdx = transfer, rsp = the resumer's frame, whose control words are at
# 8(%rsp) and 12(%rsp) (its just-saved current values).
    .p2align 4
    .globl goro_asm_resume_point
    .hidden goro_asm_resume_point
    .type goro_asm_resume_point,@function
goro_asm_resume_point:
    movq %rsp, (%rdi)                    # the resumer is now completely saved
    LOAD_CONTROL_WORDS_IF_CHANGED %rsi, %rsp
    RESTORE_SUSPENDED_FRAME
    popq %rcx                            # continuation of the suspended code
    jmp *%rcx                            # (a jmp, not a ret: the call above is matched by
                                         #  the child's ret in goro_asm_suspend)
    .size goro_asm_resume_point, .-goro_asm_resume_point

# ---------------------------------------------------------------------------------
# uintptr_t goro_asm_suspend(void **self_sp, void *parent_sp, uintptr_t transfer)
# On entry: rdi = where to store our sp, rsi = the parent's frame (suspended in
#           goro_asm_resume), rdx = transfer, rsp = our continuation on top. Rust
#           enters with `lea 2f; push; jmp` (no call, so no return-stack entry); C may
#           use an ordinary call.
    .p2align 4
    .globl goro_asm_suspend
    .hidden goro_asm_suspend
    .type goro_asm_suspend,@function
goro_asm_suspend:
    SAVE_SUSPENDED_FRAME
    movq %rsp, (%rdi)                    # we are now completely saved
    LOAD_CONTROL_WORDS_IF_CHANGED %rsi, %rsp   # the parent's words, if ours differ
    movq %rsi, %rsp                      # the parent's stack: .Lresume_back on top
    movq %rdx, %rax                      # hand `transfer` over
    ret                                  # matches the parent's `call *(%rsi)`
    .size goro_asm_suspend, .-goro_asm_suspend

# ---------------------------------------------------------------------------------
# uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
# Symmetric switch between two suspended-style contexts (neither is a parent waiting
# in goro_asm_resume). On entry: rdi = where to store our sp, rsi = the frame to
# resume, rdx = transfer, rsp = 8 (mod 16) with our return address on top.
# It restores the target itself and leaves by `ret` into the target's continuation:
# that ret consumes the return-stack entry of our own `call`, so the return-stack
# predictor stays in step with the stack. When the target switched out from the same
# call site as we do (two goroutines that both parked through the scheduler), the ret
# and every return after it up the shared call chain are predicted correctly. (Going
# through the resume point's `jmp *%rcx` instead left our entry on the predictor's
# stack, one off: each of those returns mispredicted, ~20% of an unbuffered channel
# ping-pong's round trip.)
    .p2align 4
    .globl goro_asm_switch
    .hidden goro_asm_switch
    .type goro_asm_switch,@function
goro_asm_switch:
    SAVE_SUSPENDED_FRAME                 # a suspended frame like goro_asm_suspend's
    movq %rsp, (%rdi)                    # we are now completely saved
    LOAD_CONTROL_WORDS_IF_CHANGED %rsi, %rsp   # the target's words, if ours differ
    RESTORE_SUSPENDED_FRAME
    ret                                  # into the target's continuation (see above)
    .size goro_asm_switch, .-goro_asm_switch

# ---------------------------------------------------------------------------------
# goro_asm_start: continuation of a new context, the root of its stack.
# On entry: rax = transfer, rbx = entry, r12 = data, rbp = 0, rsp = top-16 (16-aligned).
    .p2align 4
    .cfi_startproc
    .cfi_undefined rip                   # no caller: unwinders and debuggers stop here
    nop                                  # so that "goro_asm_start - 1" (a continuation
                                         # seen as a return address) is inside this CFI
    .globl goro_asm_start
    .hidden goro_asm_start
    .type goro_asm_start,@function
goro_asm_start:
    movq %rax, %rdi                      # arg 1: transfer
    movq %r12, %rsi                      # arg 2: data
    leaq .Lstart_never(%rip), %rcx       # a return address inside this CFI, pushed by
    pushq %rcx                           # hand: a `call` would leave a return-stack
    jmp *%rbx                            # entry that nothing pops (entry never returns),
                                         # and the child's first suspend would mispredict
.Lstart_never:
    ud2                                  # unreachable: trap if entry ever returned
    .cfi_endproc
    .size goro_asm_start, .-goro_asm_start
