//! Hand-written context switch for goro: save one execution context, resume another.
//!
//! # Design
//! A *context* is a suspended thread of execution: a stack plus the callee-saved
//! registers that the ABI promises to preserve across a call. Switching is an ordinary
//! C call into an assembly routine (`goro_asm_switch`) that pushes those registers on
//! the current stack, stores the stack pointer, loads another one and pops that
//! context's registers. Because the call site is a normal `extern "C"` call, the
//! compiler already spills every caller-saved register it needs, so the routine saves
//! exactly the callee-saved state and nothing more (DESIGN.md §2):
//!
//! | arch    | saved by the routine                                   |
//! |---------|--------------------------------------------------------|
//! | x86_64  | rbx rbp r12-r15, rsp, MXCSR, x87 control word           |
//! | aarch64 | x19-x28, x29 (fp), x30 (lr), sp, d8-d15, FPCR           |
//!
//! A new context is created by writing an initial frame on a fresh stack
//! (`goro_asm_init`); its first resumption "returns" into a trampoline that calls the
//! entry function with the transfer value and a data pointer. The trampoline carries
//! CFI marking the return address as undefined, so unwinders and debuggers stop at a
//! context's root instead of walking into garbage. Entry functions never return and
//! never unwind: the layers above run every body inside `catch_unwind` and leave a
//! finished context by switching away for the last time.
//!
//! Rejected: `asm!` inside Rust functions with clobber lists (faster to inline, but the
//! routine could not be assembled by the aarch64 C harness, and the saved state would
//! depend on what the compiler decided to keep live); signal-based `swapcontext` (a
//! syscall per switch for the signal mask).
//!
//! # Invariants
//! 1. A `Context` holding a non-null stack pointer describes exactly one suspended
//!    context; resuming it consumes it (the saved frame is popped), so it is resumed at
//!    most once per suspension.
//! 2. The saved frame of a suspended context stays untouched until it is resumed:
//!    nothing runs on a suspended stack.
//! 3. An entry function never returns and never unwinds out of the trampoline.
//!
//! # References
//! corosensei (src/arch/x86_64.rs), Boost.Context (fcontext), Go's runtime/asm_amd64.s
//! (gogo, mcall) — read for understanding; the code here is our own.

#![no_std]

mod arch;

pub use arch::{INIT_FRAME_BYTES, MIN_STACK_BYTES};

/// The entry function of a new context.
///
/// It is called on the new stack with the `transfer` value of the switch that first
/// resumed the context and the `data` pointer given to [`Context::new`]. It must never
/// return and must not unwind: it leaves by switching to another context for good.
pub type Entry = unsafe extern "C" fn(transfer: usize, data: *mut u8) -> !;

/// The raw routines, for tests and harnesses that drive registers themselves.
///
/// Their C signatures are documented at the top of each architecture's `.S` file.
pub mod raw {
    pub use super::ffi::{goro_asm_init, goro_asm_switch};
}

mod ffi {
    use super::Entry;

    unsafe extern "C" {
        /// Writes the initial frame below `stack_top`, returns the context's sp.
        pub fn goro_asm_init(stack_top: *mut u8, entry: Entry, data: *mut u8) -> *mut u8;
        /// Saves the current context into `*from_sp`, resumes `to_sp`, returns the
        /// transfer value handed to the current context when it is resumed later.
        pub fn goro_asm_switch(from_sp: *mut *mut u8, to_sp: *mut u8, transfer: usize)
            -> usize;
    }
}

/// A suspended execution context: the saved stack pointer of a stack whose top holds
/// the context's callee-saved registers (see the diagrams in `arch/x86_64.S`).
///
/// An empty context (null stack pointer) is the slot that a switch stores into.
#[derive(Debug)]
#[repr(transparent)]
pub struct Context {
    /// Saved stack pointer; null while the context is running or empty.
    sp: *mut u8,
}

// SAFETY: a suspended context is plain data (an address on a stack that nothing else
// uses, invariant 2). Resuming it on another thread is how goroutines migrate; the
// layers above are responsible for what the code on that stack assumes about its
// thread (DESIGN.md §12).
unsafe impl Send for Context {}

impl Default for Context {
    fn default() -> Self {
        Self::empty()
    }
}

impl Context {
    /// An empty context: the destination of a switch's save.
    #[inline]
    pub const fn empty() -> Self {
        Context { sp: core::ptr::null_mut() }
    }

    /// Creates a context that, when first switched to, calls `entry(transfer, data)` on
    /// the stack whose highest address is `stack_top`.
    ///
    /// The new context starts with the caller's floating-point control state
    /// (MXCSR and x87 control word on x86_64, FPCR on aarch64).
    ///
    /// # Safety
    /// - `stack_top` is 16-byte aligned, and the memory below it is writable and
    ///   large enough for `entry` and everything it calls (at least
    ///   [`MIN_STACK_BYTES`] plus its frames), owned by this context until it ends.
    /// - `entry` honours the contract of [`Entry`]: it never returns or unwinds.
    /// - `data` stays valid for as long as `entry` uses it.
    #[inline]
    pub unsafe fn new(stack_top: *mut u8, entry: Entry, data: *mut u8) -> Context {
        debug_assert!(stack_top as usize % 16 == 0, "stack top must be 16-byte aligned");
        // SAFETY: the caller guarantees the frame below `stack_top` is writable memory
        // of this new context; goro_asm_init writes INIT_FRAME_BYTES + 8 bytes below it.
        let sp = unsafe { ffi::goro_asm_init(stack_top, entry, data) };
        Context { sp }
    }

    /// The saved stack pointer (null while empty or running).
    #[inline]
    pub fn stack_pointer(&self) -> *mut u8 {
        self.sp
    }

    /// Whether this context holds a suspended execution.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.sp.is_null()
    }
}

/// Suspends the current execution into `*from` and resumes `to`, handing it `transfer`.
///
/// Returns, in the current execution, the `transfer` value of the switch that resumes
/// it later. On return `*from` is empty again only if the caller resets it; the switch
/// itself leaves the stale pointer behind (see [`Context::take`]).
///
/// `to` is consumed: its saved stack pointer is read before anything is saved into
/// `from`, so `from` and `to` may be the same slot (a context handing its slot over).
///
/// # Safety
/// - `to` points to a non-empty, suspended context (invariant 1) that is not running
///   and not being resumed by any other thread.
/// - `from` is valid for a write of a `Context` and stays valid, with nobody reading
///   it as a resumable context until this switch has stored into it: the new context
///   may publish `*from` to others only after it starts running (switch, then
///   release).
/// - Whatever the code suspended here and the code resumed there assume about the
///   current thread (thread-locals, locks held) is the caller's responsibility.
#[inline(always)]
pub unsafe fn switch(from: *mut Context, to: *const Context, transfer: usize) -> usize {
    // SAFETY: the caller guarantees `to` is readable.
    let to_sp = unsafe { (*to).sp };
    debug_assert!(!to_sp.is_null(), "switch to an empty context");
    // SAFETY: `to_sp` is a suspended context (caller, invariant 1) and `from` is valid
    // for the store the routine makes before it loads `to_sp` (caller). `Context` is
    // `repr(transparent)` over the pointer, so the cast names the same slot.
    unsafe { ffi::goro_asm_switch(from.cast::<*mut u8>(), to_sp, transfer) }
}

impl Context {
    /// Takes the saved context out of this slot, leaving it empty.
    #[inline]
    pub fn take(&mut self) -> Context {
        Context { sp: core::mem::replace(&mut self.sp, core::ptr::null_mut()) }
    }
}
