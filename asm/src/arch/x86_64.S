# goro context switch for x86_64 (System V AMD64 ABI), GNU assembler, AT&T syntax.
#
# This file is the reference architecture. It is pulled into Rust with
# `global_asm!(include_str!("x86_64.S"), options(att_syntax))` and is plain GNU `as`
# input (no C preprocessor), so a C harness could assemble the very same text.
#
# Operations
# ----------
#   void *goro_asm_init(void *stack_top, entry_fn entry, void *data)
#       Writes the initial frame of a new context just below `stack_top` and returns
#       the context's saved stack pointer. The first switch to it "returns" into
#       goro_asm_trampoline, which calls entry(transfer, data); entry never returns.
#   uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
#       Saves the callee-saved state on the current stack, stores the stack pointer
#       into *from_sp, loads to_sp, restores that context and returns `transfer` in it.
#   goro_asm_trampoline
#       First return address of every new context: calls entry, never returns, and
#       carries CFI that marks the root of the stack for unwinders.
#
# Registers
# ---------
# | x86_64 SysV      | role                          | in goro_asm_switch                         |
# |------------------|-------------------------------|--------------------------------------------|
# | rdi rsi rdx      | arguments                     | &from.sp, to.sp, transfer                  |
# | rax              | return value                  | = transfer, in the resumed context         |
# | rsp              | stack pointer                 | stored to *from_sp, loaded from to_sp      |
# | rbx rbp r12-r15  | callee-saved                  | pushed on the old stack, popped from new   |
# | mxcsr (ctl bits) | callee-saved SSE control      | stmxcsr below old sp, ldmxcsr from new     |
# | x87 control word | callee-saved x87 control      | fnstcw below old sp, fldcw from new        |
# | everything else  | caller-saved                  | clobbered (the caller sees a C call)       |
#
# Because the Rust side reaches goro_asm_switch through an ordinary `extern "C"` call,
# the compiler already treats every caller-saved register (rax rcx rdx rsi rdi r8-r11,
# xmm0-xmm15, the x87 stack, flags) as clobbered; this routine saves exactly what the
# ABI says a callee must preserve and nothing more.
#
# Suspended context (high addresses on top)
# -----------------------------------------
#          |                    |
#          | caller's frame     |
#          +--------------------+
#          | return address     |  pushed by `call goro_asm_switch`
#          | saved rbp          |
#          | saved rbx          |
#          | saved r12          |
#          | saved r13          |
#          | saved r14          |
#          | saved r15          |
#          +--------------------+ <- saved sp (*from_sp)
#          | x87 CW | (pad)     |  sp-4 .. sp-2
#          | MXCSR              |  sp-8 .. sp-4
#          +--------------------+
#          ~ free               ~
#          | guard region       |  no access
#
# The two control words live in the 8 bytes just *below* the saved sp: the System V
# red zone (128 bytes below rsp) is never touched by the kernel's signal delivery,
# and nothing else runs on a suspended stack, so they survive until the context is
# resumed; this saves an `sub`/`add` pair per switch.
#
# Initial frame written by goro_asm_init (stack_top is 16-byte aligned)
# ---------------------------------------------------------------------
#          +--------------------+ <- stack_top
#          | 0 (padding)        |  top-8
#          | 0 (padding)        |  top-16    <- rsp when the trampoline starts (16-aligned)
#          | &goro_asm_trampoline| top-24   "return address" popped by `ret`
#          | rbp = 0            |  top-32    ends frame-pointer chains
#          | rbx = entry        |  top-40
#          | r12 = data         |  top-48
#          | r13 = 0            |  top-56
#          | r14 = 0            |  top-64
#          | r15 = 0            |  top-72    <- returned sp (INIT_FRAME_BYTES = 72 below top)
#          | x87 CW, MXCSR      |  top-80    copied from the creator
#          +--------------------+
#
# When the first switch to this context pops r15..rbp and executes `ret`, rsp becomes
# top-16, which is 16-byte aligned; the trampoline's `call` then pushes a return address,
# so `entry` starts with rsp = 8 (mod 16), exactly as the ABI requires at a function entry.

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
    leaq -72(%rdi), %rax                 # rax = sp of the new context (top - INIT_FRAME_BYTES)
    movq $0, 64(%rax)                    # top-8:  padding
    movq $0, 56(%rax)                    # top-16: padding; rsp here when the trampoline runs
    leaq goro_asm_trampoline(%rip), %rcx # rcx = address of the trampoline
    movq %rcx, 48(%rax)                  # top-24: return address popped by the first `ret`
    movq $0, 40(%rax)                    # top-32: rbp = 0 ends frame-pointer chains
    movq %rsi, 32(%rax)                  # top-40: rbx = entry
    movq %rdx, 24(%rax)                  # top-48: r12 = data
    movq $0, 16(%rax)                    # top-56: r13 = 0
    movq $0, 8(%rax)                     # top-64: r14 = 0
    movq $0, (%rax)                      # top-72: r15 = 0
    stmxcsr -8(%rax)                     # MXCSR of the creator, read back by the first switch
    fnstcw -4(%rax)                      # x87 control word of the creator
    ret                                  # return the new context's sp in rax
    .cfi_endproc
    .size goro_asm_init, .-goro_asm_init

# ---------------------------------------------------------------------------------
# uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer)
# On entry: rdi = from_sp (where to store our sp), rsi = to_sp (context to resume),
#           rdx = transfer, rsp = old stack with our return address on top.
    .p2align 4
    .globl goro_asm_switch
    .hidden goro_asm_switch
    .type goro_asm_switch,@function
goro_asm_switch:
    .cfi_startproc
    pushq %rbp                           # save callee-saved GPRs on the old stack ...
    .cfi_adjust_cfa_offset 8
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    pushq %r12
    .cfi_adjust_cfa_offset 8
    pushq %r13
    .cfi_adjust_cfa_offset 8
    pushq %r14
    .cfi_adjust_cfa_offset 8
    pushq %r15                           # ... six of them, 48 bytes
    .cfi_adjust_cfa_offset 8
    stmxcsr -8(%rsp)                     # MXCSR into the red zone below the saved sp
    fnstcw -4(%rsp)                      # x87 control word next to it
    movq %rsp, (%rdi)                    # *from_sp = sp: the old context is now complete
    movq %rsi, %rsp                      # switch stacks: from here on we are the new context
    ldmxcsr -8(%rsp)                     # restore the new context's MXCSR ...
    fldcw -4(%rsp)                       # ... and x87 control word
    popq %r15                            # restore its callee-saved GPRs
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    movq %rdx, %rax                      # hand `transfer` to the resumed context
    ret                                  # into its caller, or into the trampoline
    .cfi_endproc
    .size goro_asm_switch, .-goro_asm_switch

# ---------------------------------------------------------------------------------
# goro_asm_trampoline: first code of every context, entered by goro_asm_switch's `ret`.
# On entry: rax = transfer, rbx = entry, r12 = data, rbp = 0, rsp = top-16 (16-aligned).
    .p2align 4
    .globl goro_asm_trampoline
    .hidden goro_asm_trampoline
    .type goro_asm_trampoline,@function
goro_asm_trampoline:
    .cfi_startproc
    .cfi_undefined rip                   # no caller: unwinders and debuggers stop here
    movq %rax, %rdi                      # arg 1: transfer
    movq %r12, %rsi                      # arg 2: data
    call *%rbx                           # entry(transfer, data); it never returns
    ud2                                  # unreachable: trap if it ever did
    .cfi_endproc
    .size goro_asm_trampoline, .-goro_asm_trampoline
