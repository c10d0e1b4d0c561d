//! Test helpers shared by the asm test files.

use std::ptr;

/// An mmap'd stack with a PROT_NONE page below it, registered with valgrind (a no-op
/// natively), unmapped on drop.
pub struct TestStack {
    base: *mut u8,
    len: usize,
    valgrind_id: usize,
}

impl TestStack {
    pub fn new(len: usize) -> TestStack {
        // SAFETY: anonymous private mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap failed");
        // SAFETY: the first page is part of the mapping we just made.
        let r = unsafe { libc::mprotect(base, 4096, libc::PROT_NONE) };
        assert_eq!(r, 0);
        let base = base.cast::<u8>();
        let valgrind_id =
            goro_stack::valgrind::stack_register(base.wrapping_add(4096), base.wrapping_add(len));
        TestStack { base, len, valgrind_id }
    }

    pub fn top(&self) -> *mut u8 {
        self.base.wrapping_add(self.len)
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        goro_stack::valgrind::stack_deregister(self.valgrind_id);
        // SAFETY: the mapping was made by `new` and nothing runs on it any more.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
