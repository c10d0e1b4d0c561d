//! Context-switch tests on plain mmap'd stacks (no pool, no scheduler).
//!
//! Register preservation is checked from assembly: a naked function loads known values
//! into every callee-saved register and control word, switches to a context that loads
//! different garbage into all of them before switching back, and then stores what it
//! finds. Only the switch routine can have put the known values back.

mod common;

use common::TestStack;
use goro_asm::{switch, Context};

/// Shared between the test thread and a context: the two saved contexts.
#[repr(C)]
struct Pair {
    main: Context,
    coro: Context,
    extra: usize,
}

unsafe extern "C" fn echo_entry(mut transfer: usize, data: *mut u8) -> ! {
    let pair = data.cast::<Pair>();
    loop {
        // SAFETY: `pair` outlives the context; main holds the suspended test thread.
        transfer =
            unsafe { switch(&raw mut (*pair).coro, &raw const (*pair).main, transfer * 2 + 1) };
    }
}

#[test]
fn ping_pong_passes_transfer_values() {
    let stack = TestStack::new(64 * 1024);
    let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
    let data = (&raw mut pair).cast::<u8>();
    // SAFETY: fresh 16-aligned stack top; echo_entry never returns; `pair` outlives it.
    pair.coro = unsafe { Context::new(stack.top(), echo_entry, data) };
    for i in 0..100_000usize {
        // SAFETY: the context is suspended (new, or in its loop's switch).
        let r = unsafe { switch(&raw mut pair.main, &raw const pair.coro, i) };
        assert_eq!(r, i * 2 + 1);
    }
}

unsafe extern "C" fn child_entry(mut transfer: usize, data: *mut u8) -> ! {
    let pair = data.cast::<Pair>();
    loop {
        // SAFETY: `pair` outlives the context; main is the parent waiting in `resume`.
        transfer = unsafe {
            goro_asm::suspend(&raw mut (*pair).coro, &raw const (*pair).main, transfer * 3)
        };
    }
}

#[test]
fn resume_and_suspend_pass_transfer_values() {
    let stack = TestStack::new(64 * 1024);
    let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
    let data = (&raw mut pair).cast::<u8>();
    // SAFETY: fresh 16-aligned stack top; child_entry never returns; `pair` outlives it.
    pair.coro = unsafe { Context::new(stack.top(), child_entry, data) };
    for i in 0..100_000usize {
        // SAFETY: the child is suspended (new, or in `suspend`).
        let r = unsafe { goro_asm::resume(&raw mut pair.main, &raw const pair.coro, i) };
        assert_eq!(r, i * 3);
    }
}

/// A parent that is itself a child: main resumes `a`, which resumes `b` (nested).
#[repr(C)]
struct Nest {
    main: Context,
    a: Context,
    a_as_parent: Context,
    b: Context,
}

unsafe extern "C" fn nest_a(mut transfer: usize, data: *mut u8) -> ! {
    let n = data.cast::<Nest>();
    loop {
        // SAFETY: b is suspended while a runs; `n` outlives both.
        let from_b =
            unsafe { goro_asm::resume(&raw mut (*n).a_as_parent, &raw const (*n).b, transfer + 1) };
        // SAFETY: main waits in `resume` for a.
        transfer = unsafe { goro_asm::suspend(&raw mut (*n).a, &raw const (*n).main, from_b + 1) };
    }
}

unsafe extern "C" fn nest_b(mut transfer: usize, data: *mut u8) -> ! {
    let n = data.cast::<Nest>();
    loop {
        // SAFETY: a waits in `resume` for b.
        transfer = unsafe {
            goro_asm::suspend(&raw mut (*n).b, &raw const (*n).a_as_parent, transfer * 2)
        };
    }
}

#[test]
fn nested_resume() {
    let sa = TestStack::new(64 * 1024);
    let sb = TestStack::new(64 * 1024);
    let mut n = Nest {
        main: Context::empty(),
        a: Context::empty(),
        a_as_parent: Context::empty(),
        b: Context::empty(),
    };
    let data = (&raw mut n).cast::<u8>();
    // SAFETY: fresh stacks, entries never return, `n` outlives both contexts.
    unsafe {
        n.a = Context::new(sa.top(), nest_a, data);
        n.b = Context::new(sb.top(), nest_b, data);
    }
    for i in 0..10_000usize {
        // SAFETY: a is suspended.
        let r = unsafe { goro_asm::resume(&raw mut n.main, &raw const n.a, i) };
        assert_eq!(r, (i + 1) * 2 + 1);
    }
}

#[test]
fn init_frame_matches_the_rust_constants() {
    let stack = TestStack::new(64 * 1024);
    let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
    let data = (&raw mut pair).cast::<u8>();
    // SAFETY: fresh 16-aligned stack top; the context is never resumed.
    let ctx = unsafe { Context::new(stack.top(), child_entry, data) };
    assert_eq!(stack.top() as usize - ctx.stack_pointer() as usize, goro_asm::INIT_FRAME_BYTES);
    const { assert!(goro_asm::INIT_FRAME_BYTES >= goro_asm::FRAME_BYTES) };
    const { assert!(goro_asm::MIN_STACK_BYTES >= goro_asm::INIT_FRAME_BYTES) };
}

/// Two contexts that hand control around a ring main -> a -> b -> main.
#[repr(C)]
struct Ring {
    main: Context,
    a: Context,
    b: Context,
}

unsafe extern "C" fn ring_a(mut transfer: usize, data: *mut u8) -> ! {
    let ring = data.cast::<Ring>();
    loop {
        // SAFETY: b is suspended whenever a runs (the ring order), `ring` outlives both.
        transfer = unsafe { switch(&raw mut (*ring).a, &raw const (*ring).b, transfer + 10) };
    }
}

unsafe extern "C" fn ring_b(mut transfer: usize, data: *mut u8) -> ! {
    let ring = data.cast::<Ring>();
    loop {
        // SAFETY: main is suspended whenever b runs.
        transfer = unsafe { switch(&raw mut (*ring).b, &raw const (*ring).main, transfer * 3) };
    }
}

#[test]
fn three_way_ring() {
    let sa = TestStack::new(64 * 1024);
    let sb = TestStack::new(64 * 1024);
    let mut ring = Ring { main: Context::empty(), a: Context::empty(), b: Context::empty() };
    let data = (&raw mut ring).cast::<u8>();
    // SAFETY: fresh stacks, entries never return, `ring` outlives both contexts.
    unsafe {
        ring.a = Context::new(sa.top(), ring_a, data);
        ring.b = Context::new(sb.top(), ring_b, data);
    }
    for i in 0..1000usize {
        // SAFETY: a is suspended.
        let r = unsafe { switch(&raw mut ring.main, &raw const ring.a, i) };
        assert_eq!(r, (i + 10) * 3);
    }
}

/// Deep recursion on a context, with floating point, to catch a corrupted frame.
unsafe extern "C" fn fib_entry(transfer: usize, data: *mut u8) -> ! {
    fn fib(n: u64) -> u64 {
        if n < 2 {
            n
        } else {
            fib(n - 1) + fib(n - 2)
        }
    }
    fn harmonic(n: u32) -> f64 {
        (1..=n).map(|k| 1.0 / f64::from(k)).sum()
    }
    let pair = data.cast::<Pair>();
    let f = fib(transfer as u64);
    let h = harmonic(1000);
    // SAFETY: `pair` outlives the context.
    unsafe { (*pair).extra = h.to_bits() as usize };
    // SAFETY: main is suspended; this context is never resumed again.
    unsafe { switch(&raw mut (*pair).coro, &raw const (*pair).main, f as usize) };
    unreachable!()
}

#[test]
fn real_work_on_a_context() {
    let stack = TestStack::new(256 * 1024);
    let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
    let data = (&raw mut pair).cast::<u8>();
    // SAFETY: as above.
    pair.coro = unsafe { Context::new(stack.top(), fib_entry, data) };
    // SAFETY: as above.
    let r = unsafe { switch(&raw mut pair.main, &raw const pair.coro, 20) };
    assert_eq!(r, 6765);
    let expected: f64 = (1..=1000u32).map(|k| 1.0 / f64::from(k)).sum();
    assert_eq!(f64::from_bits(pair.extra as u64), expected);
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use super::*;
    use core::arch::naked_asm;
    use goro_asm::raw::{goro_asm_resume, goro_asm_suspend, goro_asm_switch};

    const KNOWN: [u64; 6] = [
        0x1111_2222_3333_4444, // rbx
        0x5555_6666_7777_8888, // rbp
        0x9999_aaaa_bbbb_cccc, // r12
        0xdddd_eeee_ffff_0000, // r13
        0x0123_4567_89ab_cdef, // r14
        0xfedc_ba98_7654_3210, // r15
    ];
    /// Round toward zero, flush-to-zero, denormals-are-zero, all exceptions masked.
    const KNOWN_MXCSR: u32 = 0x1f80 | 0x6000 | 0x8000 | 0x0040;
    /// The x87 control-word bits checked: valgrind keeps only the rounding control.
    fn fpcw_checked_bits() -> u16 {
        if goro_stack::valgrind::running_on_valgrind() {
            0x0c00
        } else {
            0xffff
        }
    }
    /// The MXCSR bits valgrind emulates (it ignores FTZ and DAZ).
    fn mxcsr_checked_bits() -> u32 {
        if goro_stack::valgrind::running_on_valgrind() {
            0x7fc0 & !0x0040
        } else {
            0xffc0
        }
    }
    /// Round toward zero, single precision, all exceptions masked.
    const KNOWN_FPCW: u16 = 0x0c7f;

    /// Defines `$name(from, to, out)`: loads KNOWN into rbx rbp r12-r15 and the control
    /// words, calls `$routine(from, to, 7)`, and writes what it finds on return to `out`
    /// ([rbx rbp r12 r13 r14 r15, mxcsr|fpcw<<32]). Returns the transfer value it got.
    macro_rules! known_register_probe {
        ($name:ident, $routine:path) => {
            /// # Safety
            /// `from`/`to` as for the routine; `out` points to 7 writable u64.
            #[unsafe(naked)]
            unsafe extern "C" fn $name(from: *mut *mut u8, to: *mut u8, out: *mut u64) -> usize {
        naked_asm!(
            // On entry: rdi = from, rsi = to, rdx = out, rsp = 8 (mod 16).
            "push rbp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",                  // our caller's registers, restored at the end
            "sub rsp, 24",               // [rsp] = out, [rsp+8] = caller's control words
            "mov [rsp], rdx",
            "stmxcsr [rsp + 8]",
            "fnstcw [rsp + 12]",
            "mov rbx, {k0}",
            "mov rbp, {k1}",
            "mov r12, {k2}",
            "mov r13, {k3}",
            "mov r14, {k4}",
            "mov r15, {k5}",
            "mov dword ptr [rsp + 16], {mxcsr}",
            "ldmxcsr [rsp + 16]",
            "mov word ptr [rsp + 20], {fpcw}",
            "fldcw [rsp + 20]",
            "mov edx, 7",                // transfer = 7
            "call {switch}",             // rsp = 0 (mod 16) here
            "mov rcx, [rsp]",            // out
            "mov [rcx], rbx",
            "mov [rcx + 8], rbp",
            "mov [rcx + 16], r12",
            "mov [rcx + 24], r13",
            "mov [rcx + 32], r14",
            "mov [rcx + 40], r15",
            "stmxcsr [rcx + 48]",
            "fnstcw [rcx + 52]",
            "ldmxcsr [rsp + 8]",         // give the caller its control words back
            "fldcw [rsp + 12]",
            "add rsp, 24",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            "ret",                       // rax = transfer from the switch
            k0 = const KNOWN[0],
            k1 = const KNOWN[1],
            k2 = const KNOWN[2],
            k3 = const KNOWN[3],
            k4 = const KNOWN[4],
            k5 = const KNOWN[5],
            mxcsr = const KNOWN_MXCSR,
            fpcw = const KNOWN_FPCW,
            switch = sym $routine,
        )
            }
        };
    }

    known_register_probe!(switch_with_known_registers, goro_asm_switch);
    known_register_probe!(resume_with_known_registers, goro_asm_resume);

    /// Entry of the other side: records its entry rsp in `pair.extra`, trashes every
    /// callee-saved register and both control words, then switches back to main
    /// with transfer 0x5a5a. Never resumed again.
    ///
    /// # Safety
    /// `data` is a `Pair` whose `main` holds the suspended test thread.
    #[unsafe(naked)]
    unsafe extern "C" fn trash_entry(transfer: usize, data: *mut u8) -> ! {
        naked_asm!(
            // On entry: rdi = transfer, rsi = data (&Pair), rsp = 8 (mod 16).
            "lea rax, [rsp + 8]",        // rsp before the trampoline's call
            "mov [rsi + 16], rax",       // pair.extra = it (checked for alignment)
            "mov r8, rsi",
            "mov rbx, -1",
            "mov rbp, -2",
            "mov r12, -3",
            "mov r13, -4",
            "mov r14, -5",
            "mov r15, -6",
            "sub rsp, 8",                // rsp = 0 (mod 16) for the call below
            "mov dword ptr [rsp], 0x3f80", // round down, plain masking
            "ldmxcsr [rsp]",
            "mov word ptr [rsp + 4], 0x027f", // double precision, round to nearest
            "fldcw [rsp + 4]",
            "lea rdi, [r8 + 8]",         // from = &pair.coro
            "mov rsi, [r8]",             // to = pair.main
            "mov edx, 0x5a5a",
            "call {switch}",
            "ud2",
            switch = sym goro_asm_switch,
        )
    }

    /// Checks what a probe stored against `KNOWN`, `KNOWN_MXCSR` and `KNOWN_FPCW`.
    fn assert_known_registers(out: &[u64; 7], across: &str) {
        let names = ["rbx", "rbp", "r12", "r13", "r14", "r15"];
        for i in 0..6 {
            assert_eq!(out[i], KNOWN[i], "{} not preserved across {across}", names[i]);
        }
        let bits = mxcsr_checked_bits();
        assert_eq!(out[6] as u32 & bits, KNOWN_MXCSR & bits, "MXCSR not preserved");
        let cw = fpcw_checked_bits();
        assert_eq!((out[6] >> 32) as u16 & cw, KNOWN_FPCW & cw, "x87 control word not preserved");
    }

    #[test]
    fn callee_saved_registers_and_control_words_survive() {
        let stack = TestStack::new(64 * 1024);
        let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
        let data = (&raw mut pair).cast::<u8>();
        // SAFETY: fresh stack; trash_entry never returns; `pair` outlives the context.
        pair.coro = unsafe { Context::new(stack.top(), trash_entry, data) };
        let mut out = [0u64; 7];
        // SAFETY: coro is suspended; `out` has 7 slots.
        let r = unsafe {
            switch_with_known_registers(
                (&raw mut pair.main).cast(),
                pair.coro.stack_pointer(),
                out.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0x5a5a, "transfer value");
        assert_known_registers(&out, "a switch");
        assert_eq!(pair.extra % 16, 0, "stack not 16-byte aligned at entry: {:#x}", pair.extra);
    }

    /// Child entry: trashes every callee-saved register and both control words, then
    /// suspends to main (a parent waiting in `goro_asm_resume`) with 0x6b6b.
    ///
    /// # Safety
    /// `data` is a `Pair` whose `main` is the waiting parent.
    #[unsafe(naked)]
    unsafe extern "C" fn trash_and_suspend_entry(transfer: usize, data: *mut u8) -> ! {
        naked_asm!(
            "mov r8, rsi",
            "mov rbx, -1",
            "mov rbp, -2",
            "mov r12, -3",
            "mov r13, -4",
            "mov r14, -5",
            "mov r15, -6",
            "sub rsp, 8",
            "mov dword ptr [rsp], 0x3f80",
            "ldmxcsr [rsp]",
            "mov word ptr [rsp + 4], 0x027f",
            "fldcw [rsp + 4]",
            "lea rdi, [r8 + 8]",         // self = &pair.coro
            "mov rsi, [r8]",             // parent = pair.main
            "mov edx, 0x6b6b",
            "call {suspend}",            // a plain call works too (predictor aside)
            "ud2",
            suspend = sym goro_asm_suspend,
        )
    }

    #[test]
    fn resume_and_suspend_preserve_registers_and_control_words() {
        let stack = TestStack::new(64 * 1024);
        let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
        let data = (&raw mut pair).cast::<u8>();
        // SAFETY: fresh stack; the entry never returns; `pair` outlives the context.
        pair.coro = unsafe { Context::new(stack.top(), trash_and_suspend_entry, data) };
        let mut out = [0u64; 7];
        // SAFETY: coro is suspended (new); `out` has 7 slots.
        let r = unsafe {
            resume_with_known_registers(
                (&raw mut pair.main).cast(),
                pair.coro.stack_pointer(),
                out.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0x6b6b, "transfer value");
        assert_known_registers(&out, "resume");
    }

    fn read_control_words() -> (u32, u16) {
        let mut mxcsr: u32 = 0;
        let mut fpcw: u16 = 0;
        // SAFETY: stores to two locals.
        unsafe {
            core::arch::asm!("stmxcsr [{m}]", "fnstcw [{f}]",
                m = in(reg) &raw mut mxcsr, f = in(reg) &raw mut fpcw, options(nostack))
        };
        (mxcsr & 0xffc0, fpcw)
    }

    fn write_control_words(mxcsr: u32, fpcw: u16) {
        // SAFETY: loads from two locals; the values are valid control words.
        unsafe {
            core::arch::asm!("ldmxcsr [{m}]", "fldcw [{f}]",
                m = in(reg) &raw const mxcsr, f = in(reg) &raw const fpcw, options(nostack))
        };
    }

    const DOWN: (u32, u16) = (0x1f80 | 0x2000, 0x037f | 0x0400);
    const UP: (u32, u16) = (0x1f80 | 0x4000, 0x037f | 0x0800);

    /// Child: reports what it finds, switches to `UP`, suspends, and repeats.
    unsafe extern "C" fn control_word_child(_transfer: usize, data: *mut u8) -> ! {
        let pair = data.cast::<Pair>();
        loop {
            let (m, f) = read_control_words();
            write_control_words(UP.0, UP.1);
            let report = m as usize | (f as usize) << 32;
            // SAFETY: main waits in `resume`.
            unsafe { goro_asm::suspend(&raw mut (*pair).coro, &raw const (*pair).main, report) };
        }
    }

    #[test]
    fn each_context_keeps_its_own_control_words() {
        let stack = TestStack::new(64 * 1024);
        let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
        let data = (&raw mut pair).cast::<u8>();
        let saved = read_control_words();
        // SAFETY: fresh stack, entry never returns, `pair` outlives it.
        pair.coro = unsafe { Context::new(stack.top(), control_word_child, data) };
        write_control_words(DOWN.0, DOWN.1);
        // SAFETY: the child is suspended.
        let first = unsafe { goro_asm::resume(&raw mut pair.main, &raw const pair.coro, 0) };
        let parent_after = read_control_words();
        // SAFETY: as above.
        let second = unsafe { goro_asm::resume(&raw mut pair.main, &raw const pair.coro, 0) };
        let parent_after_2 = read_control_words();
        write_control_words(saved.0, saved.1);
        assert_eq!(
            (first as u32, (first >> 32) as u16),
            saved,
            "a new child starts with its creator's words"
        );
        assert_eq!(parent_after, DOWN, "the parent got its own words back");
        assert_eq!((second as u32, (second >> 32) as u16), UP, "the child got its own words back");
        assert_eq!(parent_after_2, DOWN);
    }

    /// Entry that reports its MXCSR and x87 control word.
    unsafe extern "C" fn report_control_words(_transfer: usize, data: *mut u8) -> ! {
        let pair = data.cast::<Pair>();
        let mut mxcsr: u32 = 0;
        let mut fpcw: u16 = 0;
        // SAFETY: stores to two locals.
        unsafe {
            core::arch::asm!(
                "stmxcsr [{m}]", "fnstcw [{f}]",
                m = in(reg) &raw mut mxcsr, f = in(reg) &raw mut fpcw,
                options(nostack)
            )
        };
        let v = mxcsr as usize | (fpcw as usize) << 32;
        // SAFETY: main is suspended; never resumed again.
        unsafe { switch(&raw mut (*pair).coro, &raw const (*pair).main, v) };
        unreachable!()
    }

    #[test]
    fn new_context_inherits_creator_control_words() {
        let stack = TestStack::new(64 * 1024);
        let mut pair = Pair { main: Context::empty(), coro: Context::empty(), extra: 0 };
        let data = (&raw mut pair).cast::<u8>();
        let mut saved: u32 = 0;
        let set: u32 = 0x1f80 | 0x2000; // round down
                                        // SAFETY: save the current MXCSR, install a non-default one.
        unsafe {
            core::arch::asm!("stmxcsr [{s}]", "ldmxcsr [{n}]",
                s = in(reg) &raw mut saved, n = in(reg) &raw const set, options(nostack))
        };
        // SAFETY: fresh stack, entry never returns, `pair` outlives it.
        pair.coro = unsafe { Context::new(stack.top(), report_control_words, data) };
        // SAFETY: restore the default before running anything else.
        unsafe {
            core::arch::asm!("ldmxcsr [{s}]", s = in(reg) &raw const saved, options(nostack))
        };
        // SAFETY: coro is suspended.
        let v = unsafe { switch(&raw mut pair.main, &raw const pair.coro, 0) };
        assert_eq!(v as u32, set, "a new context starts with its creator's MXCSR");
    }
}
