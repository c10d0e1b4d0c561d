//! Resident memory of stacks: one page when fresh, at most two after a deep use.

mod common;

use common::resident_pages;
use goro_stack::{PooledStack, Stack, DEFAULT_STACK_SIZE};

#[test]
fn fresh_stack_costs_one_page() {
    let s = PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap();
    // SAFETY: inside the stack we own.
    unsafe { s.top().sub(8).write(7) };
    assert_eq!(resident_pages(&s), 1);
}

#[test]
fn stack_written_200k_from_outside_is_trimmed_on_reuse() {
    let size = 256 * 1024;
    let s = PooledStack::acquire(size).unwrap();
    // Use 200 KiB the way frames do: every word from the top down.
    // SAFETY: inside the stack we own.
    unsafe { std::ptr::write_bytes(s.top().sub(200 * 1024), 0xA5, 200 * 1024) };
    assert!(resident_pages(&s) >= 50);
    let top = s.top();
    drop(s);
    let s = PooledStack::acquire(size).unwrap();
    assert_eq!(s.top(), top, "LIFO thread cache hands the same stack back");
    assert!(resident_pages(&s) <= 2, "{} pages resident", resident_pages(&s));
}

#[test]
fn trim_and_global_spill_are_the_backstop() {
    let size = 128 * 1024;
    let s = PooledStack::acquire(size).unwrap();
    // Touch one word per page far below the top, missing the canary: a false negative.
    for off in (16 * 1024..120 * 1024).step_by(4096) {
        // SAFETY: inside the stack we own.
        unsafe { s.top().sub(off).write(1) };
    }
    assert!(resident_pages(&s) > 20);
    // SAFETY: nothing runs on the stack; its contents are not used.
    unsafe { s.trim() };
    assert!(resident_pages(&s) <= 1);
    for off in (16 * 1024..120 * 1024).step_by(4096) {
        // SAFETY: inside the stack we own.
        unsafe { s.top().sub(off).write(1) };
    }
    let top = s.top();
    s.release_global();
    let s = PooledStack::acquire_global(size).unwrap();
    assert_eq!(s.top(), top);
    assert!(resident_pages(&s) <= 1);
}

#[cfg(target_arch = "x86_64")]
mod on_stack {
    use super::*;
    use common::run_on_stack;

    /// Recurses until a local lies below `stop`, touching every frame.
    extern "C" fn grow(stop: usize) {
        let buf = [0x5Au8; 256];
        std::hint::black_box(&buf);
        if buf.as_ptr() as usize > stop {
            grow(stop);
        }
        std::hint::black_box(&buf);
    }

    #[test]
    fn recursion_to_200k_is_trimmed_on_reuse() {
        let s = PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap();
        let stop = s.top() as usize - 200 * 1024;
        // SAFETY: `grow` does not unwind and stops 56 KiB above the limit.
        unsafe { run_on_stack(&s, grow, stop) };
        assert!(resident_pages(&s) >= 45, "{}", resident_pages(&s));
        let top = s.top();
        drop(s);
        let s = PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap();
        assert_eq!(s.top(), top);
        assert!(resident_pages(&s) <= 2, "{} pages resident", resident_pages(&s));
        // Running shallow code again keeps it at two pages without growing.
        // SAFETY: as above, a few frames only.
        unsafe { run_on_stack(&s, grow, s.top() as usize - 1024) };
        assert!(resident_pages(&s) <= 2);
    }
}
