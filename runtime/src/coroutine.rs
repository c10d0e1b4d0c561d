//! Standalone stackful coroutines: the context switch and pooled stacks, no scheduler.
//!
//! # Design
//! A `Coroutine<I, Y, R>` owns a pooled stack. The top of that stack holds a
//! `Header` (the two saved contexts: the resumer's and the coroutine's, plus state
//! flags) followed by the closure itself, so creating a coroutine allocates nothing on
//! the heap: the closure is moved onto its own stack and read from there by the entry
//! function. The `Coroutine` value only holds pointers into that stack, so it may move
//! between resumptions while the contexts stay at a fixed address.
//!
//! Values cross the switch by pointer: `resume` hands the coroutine a pointer to an
//! `In<I>` on the resumer's stack; the coroutine hands back a pointer to the yielded
//! `Y`, or, on its last switch (flagged by `Header::finished`), to an `End<R>` on its
//! own stack. The receiving side moves the value out with `ptr::read` before the
//! sending side can run again, and the sending side forgets its copy.
//!
//! Every body runs inside `catch_unwind` at the coroutine's root: a panic becomes
//! `End::Panicked` and is re-raised by `resume` on the resumer's stack. Dropping an
//! unfinished coroutine resumes it with `In::Unwind`; `Yielder::suspend` then starts an
//! unwind with a private payload, so every destructor on the coroutine stack runs
//! before the stack goes back to the pool. A suspend attempted while that forced
//! unwind is in progress (a destructor that yields) re-raises it at once.
//!
//! # Invariants
//! 1. `Header::coro` holds the coroutine's suspended context whenever the coroutine is
//!    not running and not finished; `Header::caller` holds the resumer's context while
//!    the coroutine runs.
//! 2. The closure slot is initialized from `new` until the entry function reads it.
//! 3. A pointer passed as a transfer value points to a live `In`, `Y` or `End` on the stack of
//!    the side that is suspended; it is read exactly once, before that side resumes.
//! 4. `state` is `Finished` exactly when the coroutine's last switch has happened;
//!    its stack then holds no live value and may be reused.
//!
//! # References
//! corosensei (the API shape, for direct comparison), Go's runtime/proc.go (newproc).

use std::any::Any;
use std::io;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use goro_asm::Context;
use goro_stack::{PooledStack, Stack};

/// What a coroutine hands back to its resumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoroutineResult<Y, R> {
    /// The coroutine suspended itself with this value; it can be resumed again.
    Yield(Y),
    /// The coroutine's function returned this value; the coroutine is finished.
    Return(R),
}

impl<Y, R> CoroutineResult<Y, R> {
    /// The yielded value, if any.
    pub fn as_yield(self) -> Option<Y> {
        match self {
            CoroutineResult::Yield(y) => Some(y),
            CoroutineResult::Return(_) => None,
        }
    }

    /// The returned value, if any.
    pub fn as_return(self) -> Option<R> {
        match self {
            CoroutineResult::Yield(_) => None,
            CoroutineResult::Return(r) => Some(r),
        }
    }
}

/// Message from the resumer to the coroutine.
enum In<I> {
    /// Continue with this input.
    Resume(I),
    /// The coroutine is being dropped: unwind its stack.
    Unwind,
}

/// How a coroutine ended, handed to the resumer by the last switch. (A yield hands
/// over a plain `Y` instead; `Header::finished` tells the two apart.)
enum End<R> {
    Returned(R),
    Panicked(Box<dyn Any + Send + 'static>),
    /// The forced unwind requested by `In::Unwind` reached the root.
    Unwound,
}

/// Panic payload of the forced unwind; private so user code cannot fake it.
struct ForcedUnwind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created, never resumed: the closure is still in its slot.
    Fresh,
    /// Suspended in `Yielder::suspend`.
    Suspended,
    /// Running right now (we are inside `resume`).
    Running,
    /// Returned, panicked or unwound (invariant 4).
    Finished,
}

/// The top of every coroutine stack.
struct Header {
    /// The resumer's context, saved by `resume` (invariant 1).
    caller: Context,
    /// The coroutine's context, saved by `suspend` (invariant 1).
    coro: Context,
    /// Set once the drop-time forced unwind has started.
    unwinding: bool,
    /// Set by the entry function right before its last switch: the transfer value of
    /// that switch points to an `End<R>`; before it, transfers point to a `Y`.
    finished: bool,
}

/// Handle a coroutine body uses to suspend itself; lives on the coroutine's stack.
pub struct Yielder<I, Y> {
    header: *mut Header,
    _marker: PhantomData<fn(Y) -> I>,
}

impl<I, Y> Yielder<I, Y> {
    /// Suspends the coroutine, handing `v` to the resumer; returns the next input.
    #[doc(alias = "yield")]
    pub fn suspend(&self, v: Y) -> I {
        let header = self.header;
        // SAFETY: the header lives at the top of our own stack for the coroutine's
        // whole life; we are running, so nobody else touches it.
        if unsafe { (*header).unwinding } {
            // A destructor yields during the forced unwind: keep unwinding.
            panic::resume_unwind(Box::new(ForcedUnwind));
        }
        let out = ManuallyDrop::new(v);
        // SAFETY: we are the running coroutine and `caller` holds the resumer, a parent
        // waiting in `resume` (invariant 1); `coro` is our own slot in the header.
        // `out` stays alive on this stack until we are resumed (invariant 3).
        let transfer = unsafe {
            goro_asm::suspend(
                &raw mut (*header).coro,
                &raw const (*header).caller,
                ptr::from_ref::<Y>(&out) as usize,
            )
        };
        // SAFETY: the resumer moved `out` out with ptr::read before resuming us
        // (invariant 3); the `ManuallyDrop` keeps us from dropping it a second time.
        receive_input::<I>(transfer)
    }
}

/// Reads the resumer's `In` and turns `In::Unwind` into the forced unwind.
fn receive_input<I>(transfer: usize) -> I {
    // SAFETY: invariant 3 — `transfer` points to an `In<I>` on the resumer's stack,
    // which the resumer forgets after this switch; we read it exactly once.
    let input = unsafe { ptr::read(transfer as *const In<I>) };
    match input {
        In::Resume(v) => v,
        In::Unwind => panic::resume_unwind(Box::new(ForcedUnwind)),
    }
}

/// A stackful coroutine on a goro stack: `resume` runs it until it suspends or returns.
///
/// Not `Send`: the body may hold thread-affine values across a suspension.
pub struct Coroutine<I, Y, R> {
    /// Points into `stack` (its top bytes).
    header: *mut Header,
    state: State,
    /// Kept last so it is released after everything that points into it is gone;
    /// never read: owning it is the point.
    #[allow(dead_code)]
    stack: PooledStack,
    _marker: PhantomData<Signature<I, Y, R>>,
}

/// Marker for `Coroutine`: not `Send` or `Sync`, and covariant in nothing surprising.
type Signature<I, Y, R> = (*mut (), fn(I) -> CoroutineResult<Y, R>);

/// Where the header and the closure go at the top of a stack, and where the
/// context's own frames start.
struct Layout {
    header: usize,
    closure: usize,
    context_top: usize,
}

impl Layout {
    fn of<F>(top: usize) -> Layout {
        let header = (top - mem::size_of::<Header>()) & !(mem::align_of::<Header>() - 1);
        let closure = (header - mem::size_of::<F>()) & !(mem::align_of::<F>() - 1);
        let context_top = closure & !15;
        Layout { header, closure, context_top }
    }
}

impl<I: 'static, Y: 'static, R: 'static> Coroutine<I, Y, R> {
    /// Creates a coroutine with the default maximum stack size (256 KiB), which runs
    /// `f(yielder, first_input)` when first resumed.
    ///
    /// # Panics
    /// If no stack can be had (address space or `vm.max_map_count` exhausted); use
    /// [`Coroutine::with_stack_size`] to get that as an error instead.
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        match Self::with_stack_size(goro_stack::DEFAULT_STACK_SIZE, f) {
            Ok(c) => c,
            Err(e) => panic!("goro: cannot create coroutine: {e}"),
        }
    }

    /// Creates a coroutine whose stack may grow to `bytes` (a power of two from 16 KiB
    /// to 1 GiB); any other size is an `InvalidInput` error naming the value.
    pub fn with_stack_size<F>(bytes: usize, f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        // Its owner id is 0 (pool invariant 5): an overflow reports "coroutine".
        let stack = PooledStack::acquire(bytes)?;
        let top = stack.top() as usize;
        let layout = Layout::of::<F>(top);
        if layout.context_top < stack.limit() as usize + 4096 + goro_asm::MIN_STACK_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "goro: coroutine closure of {} bytes does not fit its {}-byte stack",
                    mem::size_of::<F>(),
                    bytes
                ),
            ));
        }
        let header = layout.header as *mut Header;
        // SAFETY: the stack's top bytes are ours (PooledStack owns [limit, top)) and
        // `Layout::of` keeps the header inside them, suitably aligned.
        unsafe {
            header.write(Header {
                caller: Context::empty(),
                coro: Context::empty(),
                unwinding: false,
                finished: false,
            })
        };
        // SAFETY: as above; the closure slot lies below the header, aligned for F.
        unsafe { (layout.closure as *mut F).write(f) };
        // SAFETY: `context_top` is 16-aligned with the rest of the stack below it
        // (checked above); `entry::<F, ..>` never returns or unwinds; its data pointer
        // (the header) lives as long as the stack.
        let ctx = unsafe {
            Context::new(layout.context_top as *mut u8, entry::<F, I, Y, R>, header.cast())
        };
        // SAFETY: nothing else has seen the header yet.
        unsafe { (*header).coro = ctx };
        Ok(Coroutine { header, state: State::Fresh, stack, _marker: PhantomData })
    }

    /// Runs the coroutine until it suspends (`Yield`) or returns (`Return`).
    ///
    /// The first resumption's input becomes the function's second argument; later
    /// inputs are the return values of [`Yielder::suspend`].
    ///
    /// # Panics
    /// If the coroutine has finished, or re-raises the coroutine's own panic (the
    /// coroutine is finished afterwards).
    pub fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        match self.state {
            State::Fresh | State::Suspended => {}
            State::Running => unreachable!("coroutine resumed while running"),
            State::Finished => panic!("goro: resume of a finished coroutine"),
        }
        match self.switch_in(In::Resume(input)) {
            Ok(y) => CoroutineResult::Yield(y),
            Err(End::Returned(r)) => CoroutineResult::Return(r),
            Err(End::Panicked(payload)) => panic::resume_unwind(payload),
            Err(End::Unwound) => unreachable!("coroutine unwound without being dropped"),
        }
    }

    /// Whether the coroutine has returned or panicked.
    pub fn done(&self) -> bool {
        self.state == State::Finished
    }

    /// Whether the coroutine has started running (been resumed at least once).
    pub fn started(&self) -> bool {
        self.state != State::Fresh
    }
}

impl<I, Y, R> Coroutine<I, Y, R> {
    /// Resumes the coroutine with `msg`; `Ok` is a yielded value, `Err` how it ended.
    fn switch_in(&mut self, msg: In<I>) -> Result<Y, End<R>> {
        self.state = State::Running;
        let msg = ManuallyDrop::new(msg);
        let header = self.header;
        // SAFETY: `coro` holds the coroutine's context, saved by `suspend` or
        // `Context::new` (invariant 1, state was Fresh or Suspended); `caller` is the
        // parent slot its next `suspend` returns through.
        // `msg` stays alive on our stack until the coroutine has read it (invariant 3).
        let transfer = unsafe {
            goro_asm::resume(
                &raw mut (*header).caller,
                &raw const (*header).coro,
                ptr::from_ref::<In<I>>(&msg) as usize,
            )
        };
        // SAFETY: the coroutine is suspended again; we own its header.
        if unsafe { (*header).finished } {
            self.state = State::Finished;
            // SAFETY: invariant 3 — after `finished` is set the transfer points to an
            // `End<R>` on the coroutine's stack; we read it exactly once.
            Err(unsafe { ptr::read(transfer as *const End<R>) })
        } else {
            self.state = State::Suspended;
            // SAFETY: invariant 3 — before `finished` the transfer points to a `Y`
            // that the coroutine forgets; we read it exactly once.
            Ok(unsafe { ptr::read(transfer as *const Y) })
        }
    }
}

/// First function on a coroutine stack (called by the trampoline).
///
/// # Safety
/// `data` is the coroutine's header with an initialized closure slot of type `F`
/// below it (invariant 2), and `transfer` points to the first `In<I>` (invariant 3).
unsafe extern "C" fn entry<F, I, Y, R>(transfer: usize, data: *mut u8) -> !
where
    F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
{
    let header = data.cast::<Header>();
    let layout = Layout::of::<F>(header as usize + mem::size_of::<Header>());
    debug_assert_eq!(layout.header, header as usize);
    // SAFETY: invariant 2 — the closure slot was written by `with_stack_size` and is
    // read exactly once, here.
    let f = unsafe { ptr::read(layout.closure as *const F) };
    let yielder = Yielder::<I, Y> { header, _marker: PhantomData };
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        let input = receive_input::<I>(transfer);
        f(&yielder, input)
    }));
    let out = ManuallyDrop::new(match result {
        Ok(r) => End::<R>::Returned(r),
        Err(payload) if payload.is::<ForcedUnwind>() => End::Unwound,
        Err(payload) => End::Panicked(payload),
    });
    // SAFETY: we are running; the resumer reads this flag after our switch below.
    unsafe { (*header).finished = true };
    // SAFETY: we are the running coroutine, `caller` is the resumer's context
    // (invariant 1). This is our last switch: the resumer marks us finished and never
    // resumes `coro` (invariant 4), so nothing on this stack runs again and `out`
    // stays valid until it has been read.
    unsafe {
        goro_asm::suspend(
            &raw mut (*header).coro,
            &raw const (*header).caller,
            ptr::from_ref::<End<R>>(&out) as usize,
        );
    }
    // Only a runtime bug could bring us here.
    std::process::abort()
}

impl<I, Y, R> Drop for Coroutine<I, Y, R> {
    fn drop(&mut self) {
        match self.state {
            State::Finished => {}
            State::Fresh | State::Suspended => {
                // Unwind the coroutine's stack (or drop the never-run closure) so every
                // destructor runs before the stack goes back to the pool.
                // SAFETY: the coroutine is suspended; we own its header.
                unsafe { (*self.header).unwinding = self.state == State::Suspended };
                match self.switch_in(In::Unwind) {
                    Err(End::Unwound) => {}
                    // The body caught the forced unwind and finished on its own: its
                    // result has nobody to go to, so drop it here.
                    Err(End::Returned(r)) => drop(r),
                    Ok(_) => unreachable!("suspend re-raises during forced unwind"),
                    // A destructor panicked during the forced unwind; we may be
                    // unwinding ourselves, so report it instead of panicking again.
                    Err(End::Panicked(_)) => {
                        eprintln!("goro: a destructor panicked while a coroutine was dropped");
                    }
                }
            }
            State::Running => unreachable!("coroutine dropped while running"),
        }
    }
}
