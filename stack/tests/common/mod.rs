//! Helpers shared by the integration tests: run a function on a stack, count resident
//! pages, re-run this test binary as a child process with a scenario.

#![allow(dead_code)]

use std::process::{Command, Output};

use goro_stack::Stack;

/// Environment variable that selects a child scenario.
pub const SCENARIO_ENV: &str = "GORO_STACK_TEST_SCENARIO";

/// Calls `f(arg)` with the stack pointer at `stack.top()`, then switches back.
///
/// # Safety
/// `f` must not unwind, and must not use more stack than `stack` has (or it overflows
/// into the guard, which kills the process — the overflow tests want exactly that).
#[cfg(target_arch = "x86_64")]
pub unsafe fn run_on_stack(stack: &impl Stack, f: extern "C" fn(usize), arg: usize) {
    let top = stack.top();
    // SAFETY: the caller's contract; `top` is 16-byte aligned (Stack invariant), so
    // after `call` pushes the return address `f` sees the SysV entry alignment. r12 is
    // callee-saved, so `f` preserves the old stack pointer kept there.
    // On entry: {top} = new stack top, {f} = function, rdi = arg.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",   // keep our stack pointer in a callee-saved register
            "mov rsp, {top}", // switch to the goro stack
            "call {f}",       // run f(arg) there
            "mov rsp, r12",   // and come back
            top = in(reg) top,
            f = in(reg) f,
            in("rdi") arg,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

/// Pages of `stack` (`[limit, top)`) that are resident, by `mincore`.
pub fn resident_pages(stack: &impl Stack) -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let len = stack.size();
    let mut v = vec![0u8; len.div_ceil(page)];
    // SAFETY: the range is a mapped stack; `v` has one byte per page of it.
    let rc = unsafe { libc::mincore(stack.limit().cast(), len, v.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    v.iter().filter(|&&b| b & 1 != 0).count()
}

/// Runs this test binary's test `entry` in a child process with `SCENARIO_ENV=scenario`
/// plus `envs`, and returns its output.
pub fn run_child(entry: &str, scenario: &str, envs: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"]).env(SCENARIO_ENV, scenario);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A field of /proc/self/status in bytes (e.g. "VmRSS", "VmPTE").
pub fn status_bytes(field: &str) -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let kb: usize = rest.trim().trim_end_matches("kB").trim().parse().unwrap();
            return kb * 1024;
        }
    }
    panic!("no {field} in /proc/self/status");
}

/// Lines of /proc/self/maps.
pub fn map_lines() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().count()
}
