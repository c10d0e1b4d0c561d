//! Starting goroutines: `spawn`, `Builder`, `JoinHandle`, and the goroutine's root.
//!
//! # Design
//! A new goroutine gets a pooled stack (one resident page) and, in that stack's header,
//! its G record (g.rs). Its closure is moved to the top of that stack
//! (no heap allocation for it) and the initial context is written below it; the
//! entry function reads the closure from there. The closure is wrapped so that the
//! body runs inside `catch_unwind` (a switch must never unwind) and its outcome goes
//! to a `Packet` shared with the [`JoinHandle`], the only heap allocation of a spawn.
//! The goroutine's reference to the packet is not captured by its closure but parked
//! in its G record (`G::join`), so that dropping the handle before the goroutine ends
//! (detaching it, Go's only kind of goroutine) frees the packet at once: a detached
//! goroutine, parked for however long, holds no heap memory but its G record.
//! Rejected: capturing the `Arc` in the closure (the packet then lives as long as the
//! goroutine, 80 bytes of heap per parked goroutine that nobody will ever join).
//! The new G goes to `runnext` of the spawning P (it runs next and inherits the time
//! slice), or to the global queue when spawned from outside the runtime; then `wakep`.
//!
//! # Invariants
//! 1. A packet is completed at most once (`claimed`); its `result` is written before
//!    `state` becomes `DONE` (Release) and read after (Acquire).
//! 2. The joiner's `waiter` is written before `state` becomes `WAITING` and read only
//!    by the completer that saw `WAITING`.
//! 3. From spawn until one CAS of it from the packet's address to null, `G::join` owns
//!    one strong reference to the goroutine's packet; the side whose CAS succeeds (the
//!    goroutine at completion, or its dropped `JoinHandle`) owns that reference. The
//!    word can hold that address only for this goroutine: the handle keeps the packet
//!    alive, so no other packet gets its address while the handle may CAS.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use goro_asm::Context;
use goro_stack::{PooledStack, Stack};

use super::deadlock::DeadlockSink;
use super::g::{Status, G};
use super::m::current_m;
use super::park::{self, Unparker, WaitReason};
use super::Sched;

/// Goroutine ids: 1 is the first goroutine of the process (the first `run`'s main).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How a goroutine (or a `run`) ended.
pub(crate) enum Outcome<T> {
    Value(T),
    Panic(Box<dyn Any + Send + 'static>),
    Deadlock(String),
}

const RUNNING: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;

/// The shared slot between a goroutine and its `JoinHandle`.
pub(crate) struct Packet<T> {
    state: AtomicU8,
    claimed: AtomicBool,
    waiter: UnsafeCell<Option<Unparker>>,
    result: UnsafeCell<Option<Outcome<T>>>,
}

// SAFETY: the cells are handed over by `state` (invariants 1 and 2); `T: Send`
// values cross threads only by value.
unsafe impl<T: Send> Sync for Packet<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Packet<T> {}

impl<T> Packet<T> {
    fn new() -> Packet<T> {
        Packet {
            state: AtomicU8::new(RUNNING),
            claimed: AtomicBool::new(false),
            waiter: UnsafeCell::new(None),
            result: UnsafeCell::new(None),
        }
    }

    /// Stores the outcome (first caller wins) and wakes the joiner.
    pub(crate) fn complete(&self, out: Outcome<T>) {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: invariant 1 — we won `claimed`; nobody reads `result` before DONE.
        unsafe { *self.result.get() = Some(out) };
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            // SAFETY: invariant 2 — the joiner wrote `waiter` before WAITING and
            // does not touch it again.
            if let Some(u) = unsafe { (*self.waiter.get()).take() } {
                u.unpark();
            }
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Waits (parking the goroutine or thread) for the outcome. One caller only.
    pub(crate) fn wait(&self) -> Outcome<T> {
        if !self.is_done() {
            // SAFETY: invariant 2 — before WAITING only the (single) joiner writes it.
            unsafe { *self.waiter.get() = Some(park::unparker()) };
            if self
                .state
                .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // One park: only the completer holds this generation's handle.
                park::park(WaitReason::Join);
                debug_assert!(self.is_done(), "join woke before the goroutine finished");
            }
        }
        // SAFETY: invariant 1 — DONE was observed with Acquire; the single joiner
        // takes the result once.
        unsafe { (*self.result.get()).take() }.expect("goro: join: outcome already taken")
    }
}

impl<T: Send> DeadlockSink for Packet<T> {
    fn deadlock(&self, msg: String) {
        self.complete(Outcome::Deadlock(msg));
    }
}

/// An owned permission to join a goroutine (wait for its result).
///
/// Dropping it detaches the goroutine, as with std's threads.
pub struct JoinHandle<T> {
    /// `None` only inside `join` and `drop`.
    packet: Option<Arc<Packet<T>>>,
    id: u64,
    /// The goroutine's record: its `join` word may still hold the goroutine's reference
    /// to `packet` (invariant 3).
    g: &'static G,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish; parks the calling goroutine (or thread).
    /// `Err` if the goroutine panicked; the payload is in [`JoinError::into_panic`].
    pub fn join(mut self) -> Result<T, JoinError> {
        let packet = self.packet.take().expect("goro: join: handle without packet");
        let out = packet.wait();
        if let Outcome::Deadlock(_) = out {
            // Completed by the deadlock report, not by the goroutine: its reference
            // may still be in `G::join`.
            detach(self.g, packet);
        }
        // Otherwise the goroutine completed the packet, after taking its reference
        // out of `G::join` (invariant 3): nothing left to reclaim.
        match out {
            Outcome::Value(v) => Ok(v),
            Outcome::Panic(p) => Err(JoinError { id: self.id, payload: p }),
            Outcome::Deadlock(msg) => Err(JoinError { id: self.id, payload: Box::new(msg) }),
        }
    }

    /// Whether the goroutine has finished (returned or panicked).
    pub fn is_finished(&self) -> bool {
        self.packet().is_done()
    }

    /// The goroutine's id (unique, > 0).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn packet(&self) -> &Arc<Packet<T>> {
        self.packet.as_ref().expect("goro: JoinHandle used after join")
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the goroutine; frees the packet now if the goroutine has not taken it.
    fn drop(&mut self) {
        if let Some(packet) = self.packet.take() {
            detach(self.g, packet);
        }
    }
}

/// Takes the goroutine's reference to `packet` back out of `g.join` if it is still
/// there (invariant 3), then drops it and `packet`.
fn detach<T>(g: &'static G, packet: Arc<Packet<T>>) {
    let mine = Arc::as_ptr(&packet).cast_mut().cast::<()>();
    if g.join.compare_exchange(mine, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed).is_ok() {
        // SAFETY: invariant 3 — our CAS took the strong reference that `g.join` owned
        // (made by `Arc::into_raw` of an `Arc<Packet<T>>` in `create`).
        drop(unsafe { Arc::from_raw(mine.cast_const().cast::<Packet<T>>()) });
    }
}

/// The goroutine's side of its packet: the address it finds in its own `G::join`.
struct PacketRef<T>(*const Packet<T>);

// SAFETY: only an address is sent (the goroutine compares it with `G::join` and turns
// it back into an `Arc` only after its CAS won the reference, invariant 3); the
// packet itself is Send + Sync for `T: Send`.
unsafe impl<T: Send> Send for PacketRef<T> {}

impl<T> PacketRef<T> {
    /// Completes the packet if the goroutine still owns its reference (the handle was
    /// not dropped first); otherwise drops `out`. Runs on the goroutine `g`.
    fn complete(self, g: &G, out: Outcome<T>) {
        let raw = self.0.cast_mut().cast::<()>();
        if g.join
            .compare_exchange(raw, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: invariant 3 — our CAS took the reference `g.join` owned.
            let packet = unsafe { Arc::from_raw(self.0) };
            packet.complete(out);
        }
    }
}

/// A goroutine panicked; returned by [`JoinHandle::join`].
pub struct JoinError {
    id: u64,
    payload: Box<dyn Any + Send + 'static>,
}

impl JoinError {
    /// The panic payload (what `panic!` was called with).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.payload
    }

    /// The id of the goroutine that panicked.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn message(&self) -> Option<&str> {
        if let Some(s) = self.payload.downcast_ref::<&'static str>() {
            Some(s)
        } else {
            self.payload.downcast_ref::<String>().map(String::as_str)
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinError").field("id", &self.id).field("panic", &self.message()).finish()
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => write!(f, "goroutine {} panicked: {m}", self.id),
            None => write!(f, "goroutine {} panicked", self.id),
        }
    }
}

impl std::error::Error for JoinError {}

/// Goroutine factory: name and stack size for one spawn (`goro::Builder::new()`).
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the runtime's defaults.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the goroutine (shown in panic messages).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the goroutine's maximum stack size: a power of two from 16 KiB to 1 GiB
    /// (only touched pages cost memory).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the goroutine. Errors (invalid stack size, no memory or address space
    /// for a stack, `vm.max_map_count` reached) are returned, never a crash.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        super::preempt::check();
        let sched = super::sched_of_current_or_default();
        let size = self.stack_size.unwrap_or(sched.stack_size);
        goro_stack::validate_stack_size(size)?;
        let (g, h) = create(sched, size, f)?;
        if let Some(name) = self.name {
            // SAFETY: the G is not runnable yet: we own it (g.rs invariant 2).
            unsafe { *g.name.get() = Some(Box::new(name)) };
        }
        make_runnable(g);
        Ok(h)
    }
}

/// The current goroutine's name if it was given one (read by the panic hook).
pub(crate) fn current_name() -> Option<String> {
    let m = current_m()?;
    let g = m.curg_ptr();
    if g.is_null() {
        return None;
    }
    // SAFETY: the running goroutine's own record; only its owner (us) touches `name`.
    unsafe { (*(*g).name.get()).as_deref().cloned() }
}

/// Starts a goroutine on the current runtime (or the default one): Go's `go f()`.
///
/// # Panics
/// If no stack can be had (address space or `vm.max_map_count` exhausted); use
/// [`Builder::spawn`] to get that as an error.
#[doc(alias = "go")]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    super::preempt::check();
    let sched = super::sched_of_current_or_default();
    match spawn_on(sched, sched.stack_size, f) {
        Ok(h) => h,
        Err(e) => panic!("goro: cannot spawn goroutine: {e}"),
    }
}

/// Creates and readies a goroutine on `sched`.
pub(crate) fn spawn_on<F, T>(
    sched: &'static Sched,
    stack_size: usize,
    f: F,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (g, h) = create(sched, stack_size, f)?;
    make_runnable(g);
    Ok(h)
}

/// Creates a goroutine without making it runnable (`run` registers it first).
pub(crate) fn create<F, T>(
    sched: &'static Sched,
    stack_size: usize,
    f: F,
) -> io::Result<(&'static G, JoinHandle<T>)>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let packet = Arc::new(Packet::<T>::new());
    // The goroutine's reference, owned by `G::join` from here (invariant 3).
    let raw = Arc::into_raw(packet.clone());
    let mine = PacketRef(raw);
    let body = move || {
        let out = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Outcome::Value(v),
            Err(p) => Outcome::Panic(p),
        };
        let m = current_m().expect("goroutine finished outside an M");
        mine.complete(m.curg(), out);
    };
    let g = match new_g(sched, stack_size, body) {
        Ok(g) => g,
        Err(e) => {
            // SAFETY: `raw` came from `Arc::into_raw` above and was never published.
            drop(unsafe { Arc::from_raw(raw) });
            return Err(e);
        }
    };
    // Before the G is published (`make_runnable`, Release): g.rs invariant 4.
    g.join.store(raw.cast_mut().cast(), Ordering::Relaxed);
    Ok((g, JoinHandle { packet: Some(packet), id: g.id(), g }))
}

/// Where the closure and the first frame go at the top of a new goroutine's stack.
fn layout<F>(top: usize) -> (usize, usize) {
    let closure = (top - mem::size_of::<F>()) & !(mem::align_of::<F>() - 1);
    let context_top = closure & !15;
    (closure, context_top)
}

/// Allocates a G and a stack, moves `body` onto the stack and prepares the context.
fn new_g<F: FnOnce() + Send + 'static>(
    sched: &'static Sched,
    stack_size: usize,
    body: F,
) -> io::Result<&'static G> {
    let m = current_m();
    if m.is_none() {
        super::external::register();
    }
    let stack = PooledStack::acquire(stack_size)?;
    let (closure, context_top) = layout::<F>(stack.top() as usize);
    if context_top < stack.limit() as usize + 4096 + goro_asm::MIN_STACK_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "goro: goroutine closure of {} bytes does not fit its {stack_size}-byte stack",
                mem::size_of::<F>()
            ),
        ));
    }
    // Inside the runtime from here (no switch before `drop(rt)`): our P, read after
    // entering, cannot be taken while we use its counter.
    let rt = m.map(super::preempt::InRuntime::enter);
    let p = m.filter(|m| ptr::eq(m.sched, sched)).and_then(|m| m.p());
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    // The stack's owner id is the G's `id` field (g.rs): one store for both.
    stack.set_owner_id(id);
    // SAFETY: the stack's top bytes are ours (PooledStack owns [limit, top)) and
    // `layout` keeps the closure inside them, aligned for F.
    unsafe { (closure as *mut F).write(body) };
    // SAFETY: `context_top` is 16-aligned with the rest of the stack below it
    // (checked above); `g_entry::<F>` never returns or unwinds; its data pointer (the
    // closure) lives on the stack until the entry reads it.
    let ctx = unsafe { Context::new(context_top as *mut u8, g_entry::<F>, closure as *mut u8) };
    // SAFETY: a slot fresh from the pool: its header holds a Dead record (g.rs
    // invariant 5) that we own from here (invariant 2) and nobody else sees yet.
    let g = unsafe { G::in_header(stack) };
    // SAFETY: as above.
    unsafe { *g.ctx.get() = ctx };
    g.sched.store(ptr::from_ref(sched).cast_mut(), Ordering::Release);
    g.wait_reason.store(0, Ordering::Relaxed);
    g.set_status(Status::Runnable);
    match p {
        Some(p) => p.add_gcount(1),
        None => {
            sched.ngoroutines_ext.fetch_add(1, Ordering::Relaxed);
            sched.progress.fetch_add(1, Ordering::SeqCst);
        }
    }
    drop(rt);
    Ok(g)
}

/// Puts a new goroutine on a run queue.
pub(crate) fn make_runnable(g: &'static G) {
    super::ready(g);
}

/// The first function on a goroutine's stack.
///
/// # Safety
/// `data` points to the goroutine's closure `F`, written by `new_g` and read once here.
unsafe extern "C" fn g_entry<F: FnOnce()>(_transfer: usize, data: *mut u8) -> ! {
    // SAFETY: the caller's contract.
    let f = unsafe { ptr::read(data.cast::<F>()) };
    let m = current_m().expect("goroutine started outside an M");
    super::m::after_switch(m);
    // Into the goroutine's own code (preempt.rs invariant 1): we came here from a
    // switch made inside the runtime, so the flag is clear until now.
    m.shared.user.store(true, Ordering::Release);
    f();
    super::m::goexit()
}
