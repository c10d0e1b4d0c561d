//! Hand-written context switch for goro: save one execution context, resume another.
//!
//! # Design
//! A *context* is a suspended thread of execution: a stack whose top holds a *frame*
//! with the callee-saved registers that the ABI promises to preserve across a call.
//! Three routines in the architecture's `.S` file move between contexts, each saving
//! exactly the callee-saved state (DESIGN.md §2) and nothing more:
//!
//! | arch    | saved by every routine                                  |
//! |---------|---------------------------------------------------------|
//! | x86_64  | rbx rbp r12-r15, rsp, MXCSR control bits, x87 control word |
//! | aarch64 | x19-x28, x29 (fp), x30 (lr), sp, d8-d15, FPCR            |
//!
//! - [`resume`]`(parent, child)`: the current context becomes a *parent* waiting for
//!   `child`; returns when the child suspends.
//! - [`suspend`]`(current, parent)`: the current context (a child) suspends itself and
//!   the parent's `resume` returns.
//! - [`switch`]`(from, to)`: symmetric, between two contexts that are not parents.
//!
//! Why two kinds: CPUs predict `ret` from a return-stack buffer filled by `call`. A
//! symmetric switch enters the routine with a `call` and leaves with a `ret` into
//! *another* context's call site, so every switch mispredicts (measured here: a
//! symmetric round trip cost ~27 ns against ~9 ns for the pair below). `resume` enters
//! the child with a `call`, and the child's `suspend` (entered from Rust without a
//! call) leaves with the `ret` that pairs with it, so both directions are predicted.
//! Parent frames therefore differ from suspended frames in how they are entered, and a
//! parent is continued only by its child's `suspend` (invariant 2).
//!
//! The control words are compared before they are loaded: `ldmxcsr` and `fldcw` are
//! slow (and very slow when the value changes), while contexts almost never differ.
//!
//! A new context (`Context::new`) is a suspended frame whose continuation is a start
//! routine that calls the entry function with the transfer value and a data pointer.
//! The start routine carries CFI marking the return address as undefined, so
//! unwinders and debuggers stop at a context's root instead of walking into garbage.
//! Entry functions never return and never unwind: the layers above run every body
//! inside `catch_unwind` and leave a finished context by switching away for good.
//!
//! Rejected: `asm!` with clobber lists at every call site (corosensei's approach: the
//! compiler saves only what is live, but what a switch preserves would then depend on
//! the compiler, and the aarch64 C harness could not check the routine); signal-mask
//! `swapcontext` (a syscall per switch).
//!
//! # Invariants
//! 1. A `Context` holding a non-null stack pointer describes exactly one suspended
//!    context; resuming it consumes it (the frame is popped), so it is resumed at most
//!    once per suspension.
//! 2. A context saved by `resume` (a parent) is continued only by `suspend`; a context
//!    saved by `suspend`, `switch` or `Context::new` is continued only by `resume` or
//!    `switch`.
//! 3. The frame of a suspended context stays untouched until it is resumed: nothing
//!    runs on a suspended stack.
//! 4. An entry function never returns and never unwinds out of the start routine.
//!
//! # References
//! corosensei (src/arch/x86_64.rs: the call/ret pairing), Boost.Context (fcontext),
//! Go's runtime/asm_amd64.s (gogo, mcall) — read for understanding; the code is ours.

#![no_std]

mod arch;

pub use arch::{FRAME_BYTES, INIT_FRAME_BYTES, MIN_STACK_BYTES};

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
    pub use super::ffi::{goro_asm_init, goro_asm_resume, goro_asm_suspend, goro_asm_switch};
}

mod ffi {
    use super::Entry;

    unsafe extern "C" {
        /// Writes the initial frame below `stack_top`, returns the context's sp.
        pub fn goro_asm_init(stack_top: *mut u8, entry: Entry, data: *mut u8) -> *mut u8;
        /// Saves the current context into `*from_sp`, resumes `to_sp`, returns the
        /// transfer value handed to the current context when it is resumed later.
        pub fn goro_asm_switch(from_sp: *mut *mut u8, to_sp: *mut u8, transfer: usize) -> usize;
        /// Saves the current context as the parent in `*parent_sp` and calls into the
        /// suspended context `child_sp`; returns when the child suspends.
        pub fn goro_asm_resume(
            parent_sp: *mut *mut u8,
            child_sp: *mut u8,
            transfer: usize,
        ) -> usize;
        /// Saves the current context into `*self_sp` and returns into the parent
        /// `parent_sp`. Rust enters it without a call (see `arch::suspend`).
        pub fn goro_asm_suspend(
            self_sp: *mut *mut u8,
            parent_sp: *mut u8,
            transfer: usize,
        ) -> usize;
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
        debug_assert!((stack_top as usize).is_multiple_of(16), "stack top must be 16-byte aligned");
        // SAFETY: the caller guarantees the frame below `stack_top` is writable memory
        // of this new context; goro_asm_init writes INIT_FRAME_BYTES bytes below it.
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

/// Suspends the current context into `*from` and continues `to`, handing it `transfer`.
///
/// Returns, in the current context, the `transfer` value of the switch that continues
/// it later. `to` is read before anything is stored into `from`, so both may name the
/// same slot.
///
/// # Safety
/// - `to` points to a non-empty context saved by `suspend`, `switch` or
///   `Context::new` (invariants 1, 2) that nobody else is continuing.
/// - `from` is valid for a write of a `Context` and nobody reads it as a resumable
///   context until this switch has stored into it: the context switched to may publish
///   `*from` to others only after it starts running (switch, then release).
/// - Whatever the code suspended here and the code continued there assume about the
///   current thread (thread-locals, locks held) is the caller's responsibility.
#[inline(always)]
pub unsafe fn switch(from: *mut Context, to: *const Context, transfer: usize) -> usize {
    // SAFETY: the caller guarantees `to` is readable.
    let to_sp = unsafe { (*to).sp };
    debug_assert!(!to_sp.is_null(), "switch to an empty context");
    // SAFETY: `to_sp` is a suspended context (caller, invariants 1 and 2) and `from` is
    // valid for the store the routine makes before it continues `to_sp` (caller).
    // `Context` is `repr(transparent)` over the pointer, so the cast names the same slot.
    unsafe { arch::switch(from.cast::<*mut u8>(), to_sp, transfer) }
}

/// Runs `child` as a child of the current context, which waits in `*parent`; returns
/// the `transfer` value of the child's next [`suspend`].
///
/// # Safety
/// - `child` points to a non-empty context saved by `suspend`, `switch` or
///   `Context::new` (invariants 1, 2) that nobody else is continuing.
/// - `parent` is valid for a write of a `Context` and stays valid until the child
///   suspends back to it; it is not read as a resumable context by anyone but that
///   child's `suspend`.
/// - The thread-affinity caveat of [`switch`] applies.
#[inline(always)]
pub unsafe fn resume(parent: *mut Context, child: *const Context, transfer: usize) -> usize {
    // SAFETY: the caller guarantees `child` is readable.
    let child_sp = unsafe { (*child).sp };
    debug_assert!(!child_sp.is_null(), "resume of an empty context");
    // SAFETY: as promised by the caller (invariants 1, 2); see `switch` for the cast.
    unsafe { arch::resume(parent.cast::<*mut u8>(), child_sp, transfer) }
}

/// Suspends the current context (a child) into `*current` and returns to its parent
/// `*parent`, whose [`resume`] returns `transfer`. Returns, when the current context is
/// continued later, the transfer value of that `resume` or `switch`.
///
/// # Safety
/// - The current context was continued by a `resume` that saved its parent in
///   `*parent`, and that parent has not been continued since (invariant 2).
/// - `current` is valid for a write of a `Context`; the slot may be published to
///   others only after the parent runs (switch, then release).
/// - The thread-affinity caveat of [`switch`] applies.
#[inline(always)]
pub unsafe fn suspend(current: *mut Context, parent: *const Context, transfer: usize) -> usize {
    // SAFETY: the caller guarantees `parent` is readable.
    let parent_sp = unsafe { (*parent).sp };
    debug_assert!(!parent_sp.is_null(), "suspend to an empty parent");
    // SAFETY: as promised by the caller; see `switch` for the cast.
    unsafe { arch::suspend(current.cast::<*mut u8>(), parent_sp, transfer) }
}

impl Context {
    /// Takes the saved context out of this slot, leaving it empty.
    #[inline]
    pub fn take(&mut self) -> Context {
        Context { sp: core::mem::replace(&mut self.sp, core::ptr::null_mut()) }
    }
}
