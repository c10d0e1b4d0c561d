//! Starting goroutines: `spawn`, `Builder`, `JoinHandle`, and the goroutine's root.
//!
//! # Design
//! A new goroutine gets a pooled stack (one resident page) and, in that stack's header,
//! its G record (g.rs). Its closure is moved to the top of that stack
//! (no heap allocation for it) and the initial context is written below it; the
//! entry function reads the closure from there. The closure is wrapped so that the
//! body runs inside `catch_unwind` (a switch must never unwind) and its outcome goes
//! to a `Packet` shared with the [`JoinHandle`], the only allocation of a spawn (a
//! slot of a per-thread block, packet_alloc.rs).
//! The goroutine's reference to the packet is not captured by its closure but parked
//! in its G record (`G::join`), so that dropping the handle before the goroutine ends
//! (detaching it, Go's only kind of goroutine) frees the packet at once: a detached
//! goroutine, parked for however long, holds no heap memory but its G record.
//! The packet has no reference count: one state word (`RUNNING`, `WAITING`, `DONE`,
//! `DETACHED`) says who frees it, so a spawn and its join cost two locked
//! instructions (the goroutine's swap of `G::join` and of the state), not six.
//! Rejected: capturing an `Arc` in the closure (the packet then lives as long as the
//! goroutine, 80 bytes of heap per parked goroutine that nobody will ever join); an
//! `Arc` shared by handle and `G::join` (a `lock inc` at spawn, a `lock dec` on each
//! side, and a `claimed` flag: 100–140 ns of spawn_join's ~400 went to the packet).
//! The new G goes to `runnext` of the spawning P (it runs next and inherits the time
//! slice), or to the global queue when spawned from outside the runtime; then `wakep`.
//! A `run`'s main goroutine is joined by `wait_main`, which also wakes for the
//! deadlock report (deadlock.rs): the report is a second holder of the same park
//! handle, not a second writer of the packet.
//!
//! # Invariants
//! 1. Only the goroutine writes `result`, before `state` becomes `DONE` (Release); the
//!    handle reads it after seeing `DONE` (Acquire).
//! 2. The joiner's `waiter` is written before `state` becomes `WAITING` and read only
//!    by the goroutine that saw `WAITING`, which then stops touching the packet.
//! 3. The packet (from `packet_alloc`) is freed exactly once. `G::join` holds its address from
//!    spawn until the first of: the goroutine's swap of it to null (the goroutine then
//!    completes the packet), or the handle's CAS of it to null (the goroutine never
//!    sees the packet; the handle frees it). After the goroutine took it, the handle
//!    frees the packet once it sees `DONE`; a handle dropped before that stores
//!    `DETACHED`, and the goroutine's swap to `DONE` finds it and frees the packet.
//!    The word can hold that address only for this goroutine: the packet is alive while
//!    the handle may CAS, so no other packet gets its address meanwhile.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::mem;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use goro_asm::Context;
use goro_stack::{PooledStack, Stack};

use super::deadlock::Report;
use super::g::{Status, G};
use super::m::current_m;
use super::packet_alloc;
use super::park::{self, Unparker, WaitReason};
use super::Sched;

/// Goroutine ids: 1 is the first goroutine of the process (the first `run`'s main).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How a goroutine ended: its value, or its panic's payload.
pub(crate) type Outcome<T> = Result<T, Box<dyn Any + Send + 'static>>;

/// `Packet::state`: the goroutine has not finished and nobody waits.
pub(crate) const RUNNING: u8 = 0;
/// The handle's owner is parked in `wait`; `waiter` holds its park handle.
pub(crate) const WAITING: u8 = 1;
/// `result` is written; the goroutine no longer touches the packet.
pub(crate) const DONE: u8 = 2;
/// The handle was dropped while the goroutine held its reference: the goroutine frees
/// the packet when it finishes.
pub(crate) const DETACHED: u8 = 3;

/// The slot between a goroutine and its `JoinHandle`: one allocation per spawn
/// (`packet_alloc`), freed once (invariant 3) without a reference count.
pub(crate) struct Packet<T> {
    state: AtomicU8,
    waiter: UnsafeCell<Option<Unparker>>,
    result: UnsafeCell<Option<Outcome<T>>>,
}

impl<T> Packet<T> {
    fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// The joiner: publishes `u` as the waiter and parks until a holder of `u`'s
    /// generation wakes it, unless the goroutine finished first. Whether it parked.
    fn wait_with(&self, u: Unparker) -> bool {
        // SAFETY: invariant 2 — before WAITING only the (single) joiner writes it.
        unsafe { *self.waiter.get() = Some(u) };
        let parked = self
            .state
            .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if parked {
            park::park(WaitReason::Join);
        }
        parked
    }

    /// The goroutine's side: stores the outcome, then wakes the joiner or frees the
    /// packet of a dropped handle.
    ///
    /// # Safety
    /// `packet` is a live packet whose reference the caller took out of `G::join`
    /// (invariant 3); the caller does not use it afterwards.
    unsafe fn complete(packet: *mut Packet<T>, out: Outcome<T>) {
        // SAFETY: the caller's contract: the packet is alive until our `swap` below
        // publishes DONE (the handle frees it only after seeing DONE).
        let p = unsafe { &*packet };
        // SAFETY: invariant 1 — only the goroutine writes `result`, before DONE.
        unsafe { *p.result.get() = Some(out) };
        match p.state.swap(DONE, Ordering::AcqRel) {
            RUNNING => {}
            WAITING => {
                // SAFETY: invariant 2 — the joiner wrote `waiter` before WAITING and
                // stays parked until this handle (or a deadlock report, see
                // `JoinHandle::wait_main`) wakes it.
                if let Some(u) = unsafe { (*p.waiter.get()).take() } {
                    u.unpark();
                }
            }
            _ => {
                // DETACHED: the handle is gone and left the packet to us.
                // SAFETY: invariant 3 — made by `packet_alloc::alloc` in `create`;
                // nobody else frees it once the handle has seen RUNNING.
                unsafe { packet_alloc::free(NonNull::new_unchecked(packet)) };
            }
        }
    }
}

/// The goroutine `g` finished with `out`: completes its packet if its `JoinHandle`
/// was not dropped first (then `out` is dropped here).
fn finish<T>(g: &G, out: Outcome<T>) {
    let raw = g.join.swap(ptr::null_mut(), Ordering::AcqRel);
    if !raw.is_null() {
        // SAFETY: invariant 3 — our swap took the reference `G::join` held, which is
        // this goroutine's `Packet<T>` (set by `create`).
        unsafe { Packet::complete(raw.cast::<Packet<T>>(), out) };
    }
}

/// An owned permission to join a goroutine (wait for its result).
///
/// Dropping it detaches the goroutine, as with std's threads.
pub struct JoinHandle<T> {
    /// Owned by this handle until the goroutine takes it over (invariant 3).
    packet: NonNull<Packet<T>>,
    id: u64,
    /// The goroutine's record: its `join` word may still hold the goroutine's reference
    /// to `packet` (invariant 3).
    g: &'static G,
}

// SAFETY: the handle owns its share of the packet; `T: Send` values cross threads
// only by value, and the packet's cells are handed over by its state word.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` reads only the packet's state word and the id.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

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
    pub fn join(self) -> Result<T, JoinError> {
        let h = ManuallyDrop::new(self);
        let p = h.packet();
        if !p.is_done() {
            // One park: only the goroutine holds this generation's handle.
            p.wait_with(park::unparker());
            debug_assert!(p.is_done(), "join woke before the goroutine finished");
        }
        // SAFETY: DONE was observed with Acquire: the goroutine is done with the packet.
        match unsafe { h.take_and_free() } {
            Ok(v) => Ok(v),
            Err(p) => Err(JoinError { id: h.id, payload: p }),
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

    fn packet(&self) -> &Packet<T> {
        // SAFETY: invariant 3 — the packet lives at least as long as the handle.
        unsafe { self.packet.as_ref() }
    }

    /// Takes the outcome and frees the packet.
    ///
    /// # Safety
    /// The state is DONE (seen with Acquire); the handle is not used afterwards.
    unsafe fn take_and_free(&self) -> Outcome<T> {
        // SAFETY: invariant 3 — after DONE the handle alone owns the packet, made by
        // `packet_alloc::alloc` in `create`; the goroutine wrote `result` before DONE.
        let out = unsafe { (*self.packet().result.get()).take() };
        // SAFETY: as above; not used afterwards (the caller's contract).
        unsafe { packet_alloc::free(self.packet) };
        out.expect("goro: join: no outcome after DONE")
    }

    /// Waits for a `run`'s main goroutine, or for the deadlock report that says it
    /// never finishes: `Err` holds the report. Consumes the handle.
    pub(crate) fn wait_main(self, report: &Report) -> Result<Outcome<T>, String> {
        let h = ManuallyDrop::new(self);
        let p = h.packet();
        if !p.is_done() {
            let u = park::unparker();
            if let Some(msg) = report.watch(u.clone()) {
                // Not WAITING: the goroutine never reads `waiter`.
                h.release(false);
                return Err(msg);
            }
            // Two holders of this generation's handle: the goroutine and the report;
            // whichever comes first wakes us, the other's unpark fails.
            if p.wait_with(u) && !p.is_done() {
                let msg = report.take().expect("goro: run woke without a result or a report");
                h.release(true);
                return Err(msg);
            }
            // The report may have come too, unseen: drop its handle and message.
            let _ = report.take();
        }
        // SAFETY: DONE was observed with Acquire.
        Ok(unsafe { h.take_and_free() })
    }

    /// Gives the packet up: frees it, or leaves it to the goroutine (invariant 3).
    /// `waiting`: this handle's owner set WAITING and was woken by a deadlock report.
    fn release(&self, waiting: bool) {
        let raw = self.packet.as_ptr().cast::<()>();
        if self
            .g
            .join
            .compare_exchange(raw, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: invariant 3 — our CAS took the goroutine's reference: the
            // goroutine never touches the packet; `create` made it.
            unsafe { packet_alloc::free(self.packet) };
            return;
        }
        // The goroutine took its reference: it completes the packet, or has.
        match self.packet().state.swap(DETACHED, Ordering::AcqRel) {
            DONE if waiting => {
                // The goroutine saw WAITING and may still be reading `waiter`: the
                // packet cannot be freed safely. Only a main goroutine reported
                // deadlocked and then finished gets here (woken by a thread the
                // detector cannot see); its packet is leaked.
            }
            DONE => {
                // SAFETY: DONE (Acquire) without WAITING: the goroutine is done with
                // the packet; invariant 3 as above.
                unsafe { packet_alloc::free(self.packet) };
            }
            // RUNNING or WAITING: the goroutine will see DETACHED and free it.
            _ => {}
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the goroutine; frees the packet now if the goroutine has not taken it.
    fn drop(&mut self) {
        self.release(false);
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
    let packet = packet_alloc::alloc(|| Packet::<T> {
        state: AtomicU8::new(RUNNING),
        waiter: UnsafeCell::new(None),
        result: UnsafeCell::new(None),
    });
    let body = move || {
        let out = panic::catch_unwind(AssertUnwindSafe(f));
        let m = current_m().expect("goroutine finished outside an M");
        finish::<T>(m.curg(), out);
    };
    let g = match new_g(sched, stack_size, body) {
        Ok(g) => g,
        Err(e) => {
            // SAFETY: made by `packet_alloc::alloc` above and never published.
            unsafe { packet_alloc::free(packet) };
            return Err(e);
        }
    };
    // The goroutine's reference, owned by `G::join` from here (invariant 3); stored
    // before the G is published (`make_runnable`, Release): g.rs invariant 4.
    g.join.store(packet.as_ptr().cast(), Ordering::Relaxed);
    Ok((g, JoinHandle { packet, id: g.id(), g }))
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
    // SAFETY: our own record and stack (g.rs invariant 2: the M running us owns them);
    // a running G has a stack (invariant 5).
    unsafe { (*m.curg().stack.get()).assume_init_ref() }.prefetch_canary();
    super::m::after_switch(m);
    // Into the goroutine's own code (preempt.rs invariant 1): we came here from a
    // switch made inside the runtime, so the flag is clear until now.
    m.shared.user.store(true, Ordering::Release);
    f();
    super::m::goexit()
}
