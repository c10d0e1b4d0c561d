//! aarch64 register-preservation tests: the counterpart of the x86_64 module in
//! `switch.rs`, driven from naked functions. (The arch-neutral tests in `switch.rs`
//! run on aarch64 as well.)
//!
//! A naked probe loads known values into every callee-saved register (x19-x29,
//! d8-d15) and FPCR, calls a routine (switch, resume or suspend) that continues a
//! context which loads *different* values into all of them before coming back, and
//! then stores what it finds, together with sp and x30. Only the routine can have put
//! the known values back. The other side runs the same probe with its own values, so
//! both directions are checked: switch/switch, and resume (parent) against suspend
//! (child). x30 must be the probe's continuation only after `resume`, which returns;
//! switch and suspend are continued with a `br`, after which x30 is dead. The C
//! harness (`asm/harness/`) runs the same checks, with random values, on the very
//! same `.S` text.
//!
//! Run on an x86_64 host with qemu-user:
//! `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
//! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
//! cargo test -p goro-asm --target aarch64-unknown-linux-gnu`.
#![cfg(target_arch = "aarch64")]

use core::arch::{asm, naked_asm};
use core::mem::offset_of;
mod common;

use common::TestStack;
use goro_asm::raw::{goro_asm_resume, goro_asm_suspend, goro_asm_switch};
use goro_asm::{resume, suspend, switch, Context, FRAME_BYTES, INIT_FRAME_BYTES};

unsafe extern "C" {
    /// Continuation of every new context (aarch64.S); only its address is used here.
    fn goro_asm_start();
}

/// A routine of `goro_asm::raw`, as the probe calls it.
type Routine = unsafe extern "C" fn(*mut *mut u8, *mut u8, usize) -> usize;

/// FPCR.RMode = round toward zero, FZ = flush-to-zero.
const FPCR_A: u64 = (3 << 22) | (1 << 24);
/// FPCR.RMode = round toward +infinity, DN = default NaN, AHP = alternative half.
const FPCR_B: u64 = (1 << 22) | (1 << 25) | (1 << 26);

fn fpcr() -> u64 {
    let v: u64;
    // SAFETY: reading FPCR has no side effects.
    unsafe { asm!("mrs {}, fpcr", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Installs `v` as FPCR.
///
/// # Safety
/// No floating-point code may depend on the default rounding mode until the caller
/// puts the previous value back.
unsafe fn set_fpcr(v: u64) {
    // SAFETY: the caller's contract; FPCR only affects floating-point results.
    unsafe { asm!("msr fpcr, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// The registers a probe loads before a switch and finds after it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Regs {
    /// x19..x28.
    x: [u64; 10],
    /// x29.
    fp: u64,
    /// x30 after the call (not loaded).
    lr: u64,
    /// sp after the call (not loaded).
    sp: u64,
    fpcr: u64,
    /// d8..d15, raw bits.
    d: [u64; 8],
    /// The transfer value the routine returned.
    ret: u64,
    /// Where the call must come back to: right after the probe's call.
    lr_expected: u64,
    /// The probe's sp before the call.
    sp_expected: u64,
}

impl Regs {
    /// Distinct values for every register, tagged with `tag` (0xa or 0xb).
    fn known(tag: u64, fpcr: u64) -> Regs {
        let mut r = Regs { fpcr, ..Regs::default() };
        for (i, x) in r.x.iter_mut().enumerate() {
            *x = (tag << 60) | (0x19 + i as u64) << 32 | 0x5eed_0000 | i as u64;
        }
        r.fp = (tag << 60) | 0x29;
        for (i, d) in r.d.iter_mut().enumerate() {
            *d = (if tag == 0xa { 1.5 + i as f64 } else { -1000.25 - i as f64 }).to_bits();
        }
        r
    }

    /// Asserts that `self` (found after a call) holds what `want` loaded; x30 only
    /// when `check_lr` (after `goro_asm_resume`, the one routine that returns).
    #[track_caller]
    fn assert_preserved(&self, want: &Regs, side: &str, want_ret: u64, check_lr: bool) {
        for i in 0..10 {
            assert_eq!(self.x[i], want.x[i], "{side}: x{} not preserved", 19 + i);
        }
        assert_eq!(self.fp, want.fp, "{side}: x29 not preserved");
        if check_lr {
            assert_eq!(
                self.lr, self.lr_expected,
                "{side}: x30 not preserved (wrong return address)"
            );
        }
        assert_eq!(self.sp, self.sp_expected, "{side}: sp not preserved");
        for i in 0..8 {
            assert_eq!(self.d[i], want.d[i], "{side}: d{} not preserved", 8 + i);
        }
        assert_eq!(self.fpcr, want.fpcr, "{side}: FPCR not preserved");
        assert_eq!(self.ret, want_ret, "{side}: transfer value");
    }
}

/// Loads `load` into x19-x29, d8-d15 and FPCR, calls `routine(from, to, transfer)`,
/// and when continued writes x19-x30, sp, d8-d15, FPCR and the returned transfer to
/// `out`. The call is a `blr` when `no_link` is 0; otherwise the probe sets x30 to the
/// continuation and branches without a link, the way `goro_asm::suspend` enters
/// `goro_asm_suspend`. Restores its caller's callee-saved state before returning the
/// transfer value.
///
/// # Safety
/// `from`/`to` as for `routine`; `load` is readable, `out` writable.
#[unsafe(naked)]
unsafe extern "C" fn call_checked(
    from: *mut *mut u8,
    to: *mut u8,
    transfer: usize,
    load: *const Regs,
    out: *mut Regs,
    routine: Routine,
    no_link: usize,
) -> usize {
    naked_asm!(
        // On entry: x0 = from, x1 = to, x2 = transfer, x3 = load, x4 = out,
        // x5 = routine, x6 = no_link.
        // Frame: +0 x29/x30, +16..+88 x19-x28, +96..+152 d8-d15, +160 FPCR, +168 out.
        "stp x29, x30, [sp, #-176]!",        // our caller's state, restored at the end
        "stp x19, x20, [sp, #16]",
        "stp x21, x22, [sp, #32]",
        "stp x23, x24, [sp, #48]",
        "stp x25, x26, [sp, #64]",
        "stp x27, x28, [sp, #80]",
        "stp d8, d9, [sp, #96]",
        "stp d10, d11, [sp, #112]",
        "stp d12, d13, [sp, #128]",
        "stp d14, d15, [sp, #144]",
        "mrs x9, fpcr",
        "stp x9, x4, [sp, #160]",            // caller's FPCR and `out`
        "ldp x19, x20, [x3, #{x}]",          // the known values
        "ldp x21, x22, [x3, #{x} + 16]",
        "ldp x23, x24, [x3, #{x} + 32]",
        "ldp x25, x26, [x3, #{x} + 48]",
        "ldp x27, x28, [x3, #{x} + 64]",
        "ldp d8, d9, [x3, #{d}]",
        "ldp d10, d11, [x3, #{d} + 16]",
        "ldp d12, d13, [x3, #{d} + 32]",
        "ldp d14, d15, [x3, #{d} + 48]",
        "ldr x9, [x3, #{fpcr}]",
        "msr fpcr, x9",
        "ldr x29, [x3, #{fp}]",
        "mov x9, sp",                        // what the call must give back
        "str x9, [x4, #{sp_exp}]",
        "adr x10, 2f",
        "str x10, [x4, #{lr_exp}]",
        "cbz x6, 3f",                        // x0-x2 are still the routine's arguments
        "mov x30, x10",                      // no link: continuation by hand ...
        "br x5",                             // ... and a plain branch
        "3:",
        "blr x5",                            // an ordinary call
        "2:",
        "mov x9, sp",                        // sp, x30, FPCR as the routine left them
        "mov x10, x30",
        "mrs x11, fpcr",
        "ldr x4, [sp, #168]",                // out
        "stp x19, x20, [x4, #{x}]",
        "stp x21, x22, [x4, #{x} + 16]",
        "stp x23, x24, [x4, #{x} + 32]",
        "stp x25, x26, [x4, #{x} + 48]",
        "stp x27, x28, [x4, #{x} + 64]",
        "stp x29, x10, [x4, #{fp}]",         // x29, x30 (fp and lr are adjacent)
        "str x9, [x4, #{sp}]",
        "str x11, [x4, #{fpcr}]",
        "stp d8, d9, [x4, #{d}]",
        "stp d10, d11, [x4, #{d} + 16]",
        "stp d12, d13, [x4, #{d} + 32]",
        "stp d14, d15, [x4, #{d} + 48]",
        "str x0, [x4, #{ret}]",              // the transfer we were resumed with
        "ldr x9, [sp, #160]",                // give the caller its state back
        "msr fpcr, x9",
        "ldp d8, d9, [sp, #96]",
        "ldp d10, d11, [sp, #112]",
        "ldp d12, d13, [sp, #128]",
        "ldp d14, d15, [sp, #144]",
        "ldp x19, x20, [sp, #16]",
        "ldp x21, x22, [sp, #32]",
        "ldp x23, x24, [sp, #48]",
        "ldp x25, x26, [sp, #64]",
        "ldp x27, x28, [sp, #80]",
        "ldp x29, x30, [sp], #176",
        "ret",                               // x0 = transfer
        x = const offset_of!(Regs, x),
        fp = const offset_of!(Regs, fp),
        sp = const offset_of!(Regs, sp),
        fpcr = const offset_of!(Regs, fpcr),
        d = const offset_of!(Regs, d),
        ret = const offset_of!(Regs, ret),
        lr_exp = const offset_of!(Regs, lr_expected),
        sp_exp = const offset_of!(Regs, sp_expected),
    )
}

/// State shared by the test thread and the context under test.
#[repr(C)]
struct Shared {
    /// Where `entry_probe` continues (first word, read by the probe).
    body: unsafe extern "C" fn(usize, *mut u8) -> !,
    /// sp, x29, x30 and FPCR at the first instruction of the entry.
    seen_sp: u64,
    seen_fp: u64,
    seen_lr: u64,
    seen_fpcr: u64,
    main: Context,
    coro: Context,
    first_transfer: usize,
    load_b: Regs,
    out_b: Regs,
}

impl Shared {
    fn new(body: unsafe extern "C" fn(usize, *mut u8) -> !) -> Box<Shared> {
        Box::new(Shared {
            body,
            seen_sp: 0,
            seen_fp: 0,
            seen_lr: 0,
            seen_fpcr: 0,
            main: Context::empty(),
            coro: Context::empty(),
            first_transfer: 0,
            load_b: Regs::default(),
            out_b: Regs::default(),
        })
    }
}

/// Entry function: records sp, x29, x30 and FPCR as the trampoline left them, then
/// tail-branches to `(*data).body` with x0, x1 and x30 unchanged.
///
/// # Safety
/// `data` points to a `Shared`.
#[unsafe(naked)]
unsafe extern "C" fn entry_probe(transfer: usize, data: *mut u8) -> ! {
    naked_asm!(
        // On entry: x0 = transfer, x1 = data (&Shared).
        "mov x9, sp",
        "stp x9, x29, [x1, #{seen_sp}]",     // seen_sp, seen_fp
        "mrs x10, fpcr",
        "stp x30, x10, [x1, #{seen_lr}]",    // seen_lr, seen_fpcr
        "ldr x9, [x1, #{body}]",
        "br x9",                             // tail call: x30 still in the trampoline
        seen_sp = const offset_of!(Shared, seen_sp),
        seen_lr = const offset_of!(Shared, seen_lr),
        body = const offset_of!(Shared, body),
    )
}

// The probe stores pairs: the fields must be adjacent.
const _: () = assert!(offset_of!(Shared, seen_fp) == offset_of!(Shared, seen_sp) + 8);
const _: () = assert!(offset_of!(Shared, seen_fpcr) == offset_of!(Shared, seen_lr) + 8);
const _: () = assert!(offset_of!(Regs, lr) == offset_of!(Regs, fp) + 8);

/// Body of the other side: loads set B, switches back to main with 0x2222; when
/// resumed, switches back once more with 0x4444 so main can inspect `out_b`.
unsafe extern "C" fn regs_body(transfer: usize, data: *mut u8) -> ! {
    let sh = data.cast::<Shared>();
    // SAFETY: `data` is the test's `Shared`, alive while this context exists; main is
    // suspended whenever this context runs, so the accesses do not race.
    unsafe {
        (*sh).first_transfer = transfer;
        let main_sp = (*sh).main.stack_pointer();
        call_checked(
            (&raw mut (*sh).coro).cast(),
            main_sp,
            0x2222,
            &raw const (*sh).load_b,
            &raw mut (*sh).out_b,
            goro_asm_switch,
            0,
        );
        switch(&raw mut (*sh).coro, &raw const (*sh).main, 0x4444);
    }
    unreachable!("context resumed after its last switch")
}

/// Body of a child: loads set B and suspends to main (waiting in `resume`) with
/// 0x2222, entering `goro_asm_suspend` without a link as Rust does; when resumed,
/// suspends once more with 0x4444 (through `goro_asm::suspend`) so main can inspect
/// `out_b`.
unsafe extern "C" fn suspend_regs_body(transfer: usize, data: *mut u8) -> ! {
    let sh = data.cast::<Shared>();
    // SAFETY: as in `regs_body`; main is the parent waiting in `resume` each time.
    unsafe {
        (*sh).first_transfer = transfer;
        let main_sp = (*sh).main.stack_pointer();
        call_checked(
            (&raw mut (*sh).coro).cast(),
            main_sp,
            0x2222,
            &raw const (*sh).load_b,
            &raw mut (*sh).out_b,
            goro_asm_suspend,
            1,
        );
        suspend(&raw mut (*sh).coro, &raw const (*sh).main, 0x4444);
    }
    unreachable!("context resumed after its last suspend")
}

fn in_start(addr: u64) -> bool {
    let t = goro_asm_start as *const () as usize as u64;
    addr > t && addr <= t + 12
}

#[test]
fn callee_saved_registers_and_fpcr_survive_both_ways() {
    let stack = TestStack::new(64 * 1024);
    let mut sh = Shared::new(regs_body);
    sh.load_b = Regs::known(0xb, FPCR_B);
    let load_a = Regs::known(0xa, FPCR_A);
    let mut out_a = Regs::default();
    let creator_fpcr = fpcr();
    let data = (&raw mut *sh).cast::<u8>();
    // SAFETY: fresh 16-aligned stack top; entry_probe continues in regs_body, which
    // never returns; `sh` outlives the context.
    sh.coro = unsafe { Context::new(stack.top(), entry_probe, data) };
    assert_eq!(stack.top() as usize - sh.coro.stack_pointer() as usize, INIT_FRAME_BYTES);

    // Main -> coroutine with set A loaded; the coroutine comes back with set B loaded.
    let coro_sp = sh.coro.stack_pointer();
    // SAFETY: the context is new and suspended; `load_a`/`out_a` are valid.
    let r = unsafe {
        call_checked(
            (&raw mut sh.main).cast(),
            coro_sp,
            0x1111,
            &load_a,
            &mut out_a,
            goro_asm_switch,
            0,
        )
    };
    assert_eq!(r, 0x2222);
    out_a.assert_preserved(&load_a, "main side", 0x2222, false);
    assert_eq!(sh.first_transfer, 0x1111, "transfer at entry");
    sh.assert_entry_state(&stack, creator_fpcr);

    // Coroutine's side: resume its probe, which stores what it finds, then it returns.
    // SAFETY: the coroutine is suspended in its call_checked.
    let r = unsafe { switch(&raw mut sh.main, &raw const sh.coro, 0x3333) };
    assert_eq!(r, 0x4444);
    let load_b = sh.load_b;
    sh.out_b.assert_preserved(&load_b, "coroutine side", 0x3333, false);
    assert_eq!(fpcr(), creator_fpcr, "main's FPCR after the switches");
}

impl Shared {
    /// Asserts what `goro_asm_start` handed the entry (recorded by `entry_probe`).
    #[track_caller]
    fn assert_entry_state(&self, stack: &TestStack, creator_fpcr: u64) {
        assert_eq!(self.seen_sp, stack.top() as u64, "sp at entry is not the stack top");
        assert_eq!(self.seen_sp % 16, 0, "sp not 16-byte aligned at entry");
        assert_eq!(self.seen_fp, 0, "x29 at entry must be 0 (ends frame-pointer chains)");
        assert!(
            in_start(self.seen_lr),
            "x30 at entry {:#x} is not in goro_asm_start",
            self.seen_lr
        );
        assert_eq!(self.seen_fpcr, creator_fpcr, "initial FPCR is not the creator's");
    }
}

#[test]
fn resume_and_suspend_preserve_registers_and_fpcr() {
    let stack = TestStack::new(64 * 1024);
    let mut sh = Shared::new(suspend_regs_body);
    sh.load_b = Regs::known(0xb, FPCR_B);
    let load_a = Regs::known(0xa, FPCR_A);
    let mut out_a = Regs::default();
    let creator_fpcr = fpcr();
    let data = (&raw mut *sh).cast::<u8>();
    // SAFETY: fresh 16-aligned stack top; entry_probe continues in suspend_regs_body,
    // which never returns; `sh` outlives the context.
    sh.coro = unsafe { Context::new(stack.top(), entry_probe, data) };

    // Parent -> child by resume with set A loaded; the child suspends with set B loaded.
    let coro_sp = sh.coro.stack_pointer();
    // SAFETY: the child is new and suspended; `load_a`/`out_a` are valid.
    let r = unsafe {
        call_checked(
            (&raw mut sh.main).cast(),
            coro_sp,
            0x1111,
            &load_a,
            &mut out_a,
            goro_asm_resume,
            0,
        )
    };
    assert_eq!(r, 0x2222);
    out_a.assert_preserved(&load_a, "parent side (resume)", 0x2222, true);
    assert_eq!(sh.first_transfer, 0x1111, "transfer at entry");
    sh.assert_entry_state(&stack, creator_fpcr);

    // Child's side: resume its probe (suspended in goro_asm_suspend), which stores what
    // it finds and suspends again.
    // SAFETY: the child is suspended in its call_checked.
    let r = unsafe { resume(&raw mut sh.main, &raw const sh.coro, 0x3333) };
    assert_eq!(r, 0x4444);
    let load_b = sh.load_b;
    sh.out_b.assert_preserved(&load_b, "child side (suspend)", 0x3333, false);
    assert_eq!(fpcr(), creator_fpcr, "parent's FPCR after resume");
}

/// FPCR.RMode = round toward minus infinity.
const DOWN: u64 = 2 << 22;
/// FPCR.RMode = round toward plus infinity, FZ.
const UP: u64 = (1 << 22) | (1 << 24);

/// Child: reports the FPCR it finds, installs `UP`, suspends, and repeats.
unsafe extern "C" fn fpcr_child(_transfer: usize, data: *mut u8) -> ! {
    let sh = data.cast::<Shared>();
    loop {
        let found = fpcr();
        // SAFETY: this context's floating-point code runs under UP from here on, by
        // design of the test.
        unsafe { set_fpcr(UP) };
        // SAFETY: main waits in `resume`; `sh` outlives the context.
        unsafe { suspend(&raw mut (*sh).coro, &raw const (*sh).main, found as usize) };
    }
}

#[test]
fn each_context_keeps_its_own_fpcr() {
    let stack = TestStack::new(64 * 1024);
    let mut sh = Shared::new(fpcr_child);
    let data = (&raw mut *sh).cast::<u8>();
    let saved = fpcr();
    // SAFETY: fresh stack, entry never returns, `sh` outlives it.
    sh.coro = unsafe { Context::new(stack.top(), fpcr_child, data) };
    // SAFETY: no floating-point code runs until `saved` is restored below.
    unsafe { set_fpcr(DOWN) };
    // SAFETY: the child is suspended (new, then in `suspend`).
    let first = unsafe { resume(&raw mut sh.main, &raw const sh.coro, 0) } as u64;
    let parent_after = fpcr();
    // SAFETY: as above.
    let second = unsafe { resume(&raw mut sh.main, &raw const sh.coro, 0) } as u64;
    let parent_after_2 = fpcr();
    // SAFETY: restores the value read above.
    unsafe { set_fpcr(saved) };
    assert_eq!(first, saved, "a new child starts with its creator's FPCR");
    assert_eq!(parent_after, DOWN, "the parent got its own FPCR back");
    assert_eq!(second, UP, "the child got its own FPCR back");
    assert_eq!(parent_after_2, DOWN);
}

/// The frame constants agree with the layout `goro_asm_init` writes.
#[test]
fn init_frame_is_one_frame() {
    assert_eq!(INIT_FRAME_BYTES, FRAME_BYTES);
    let stack = TestStack::new(64 * 1024);
    let sh = Shared::new(report_fpcr);
    // SAFETY: fresh stack; the context is never run.
    let c = unsafe { Context::new(stack.top(), entry_probe, (&raw const *sh).cast_mut().cast()) };
    assert_eq!(stack.top() as usize - c.stack_pointer() as usize, INIT_FRAME_BYTES);
    // SAFETY: the frame lies inside our mapping; word 3 (+24) is the continuation.
    let cont = unsafe { c.stack_pointer().cast::<u64>().add(3).read() };
    assert_eq!(cont, goro_asm_start as *const () as usize as u64, "continuation is goro_asm_start");
}

/// Entry that reports its FPCR and never runs again.
unsafe extern "C" fn report_fpcr(_transfer: usize, data: *mut u8) -> ! {
    let sh = data.cast::<Shared>();
    let v = fpcr();
    // SAFETY: main is suspended; this context is never resumed again.
    unsafe { switch(&raw mut (*sh).coro, &raw const (*sh).main, v as usize) };
    unreachable!("context resumed after its last switch")
}

#[test]
fn new_context_inherits_creator_fpcr() {
    let stack = TestStack::new(64 * 1024);
    let mut sh = Shared::new(report_fpcr);
    let data = (&raw mut *sh).cast::<u8>();
    let saved = fpcr();
    // SAFETY: no floating-point code runs until the default is restored below.
    unsafe { set_fpcr(FPCR_A) };
    // SAFETY: fresh stack, entry never returns, `sh` outlives it.
    sh.coro = unsafe { Context::new(stack.top(), report_fpcr, data) };
    // SAFETY: restores the value read above.
    unsafe { set_fpcr(saved) };
    // SAFETY: the context is new and suspended.
    let v = unsafe { switch(&raw mut sh.main, &raw const sh.coro, 0) };
    assert_eq!(v as u64, FPCR_A, "a new context starts with its creator's FPCR");
    assert_eq!(fpcr(), saved, "the creator's own FPCR comes back after the switch");
}
