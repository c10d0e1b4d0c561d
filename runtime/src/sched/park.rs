//! The parking API: park the current goroutine (or plain OS thread) with a wait reason
//! and wake it through an [`Unparker`]. This is how chan and sync reach the scheduler.
//!
//! # Design
//! Every goroutine and every plain thread that parks has a *park word*:
//! `generation << 2 | state`. [`unparker`] snapshots the current generation; the
//! handle wakes only the park of that generation, and at most once. After a park
//! returns, the generation is bumped, so stale handles (left in a waiter queue, or
//! cloned into several queues by `select`) are harmless no-ops: they fail their CAS.
//!
//! | state      | meaning                                                        |
//! |------------|----------------------------------------------------------------|
//! | `IDLE`     | not parked: running, or on its way into a park                 |
//! | `PARKED`   | parked and published: its context is saved (goroutines only)  |
//! | `NOTIFIED` | an unpark of this generation happened; the park returns        |
//!
//! An unpark that arrives before the goroutine is fully switched out (state `IDLE`)
//! only sets `NOTIFIED`; the scheduler code that runs right after the switch finds it
//! and makes the goroutine runnable itself. Only the transition `PARKED -> NOTIFIED`
//! puts the goroutine on a run queue. So no wake-up is lost and none is doubled.
//! Taking a handle starts a new generation (stale `NOTIFIED` states of handles that
//! were taken but never parked on are dropped with it).
//!
//! [`park_with`] is Go's `gopark(unlockf)`: the callback runs after the goroutine is
//! completely switched out, so a channel can keep its lock across the park and release
//! it there: a waker that takes the lock afterwards sees a fully parked goroutine.
//! [`park_exclusive`] goes one step further for a waiter that only that lock's holder
//! can wake (a channel's plain send or receive without a deadline): no unpark can
//! race the publication, so `IDLE -> PARKED` is a plain store, made before the
//! callback releases the lock, instead of a CAS (invariant 3).
//! Outside a goroutine the same calls park the thread (futex-based `thread::park`).
//!
//! # Invariants
//! 1. The park word's generation changes only while its owner runs (the bump after a
//!    park returns), so an `Unparker` of generation `n` can succeed only against the
//!    park of generation `n`.
//! 2. Exactly one party moves a goroutine from `PARKED` to the run queue: the unparker
//!    whose CAS `PARKED -> NOTIFIED` succeeded, or the sole waker of an exclusive
//!    park ([`Unparker::unpark_exclusive`]), which stores it.
//! 3. Plain stores write a goroutine's park word only where no CAS can race them:
//!    the owner starting a generation ([`unparker`], the bump after a park),
//!    `park_exclusive`'s publication, whose contract keeps every unparker of that
//!    generation away until its callback has run, and that park's wake-up by
//!    [`Unparker::unpark_exclusive`], whose contract makes its caller the
//!    generation's only waker. All other writes are CASes.
//!
//! # References
//! go/src/runtime/proc.go (gopark, goready), parking_lot_core (park/unpark tokens).

use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::Instant;

use super::g::{Status, G};
use super::m::{current_m, Callback, Commit, Pending};

pub(crate) const IDLE: u64 = 0;
pub(crate) const PARKED: u64 = 1;
pub(crate) const NOTIFIED: u64 = 2;
const STATE: u64 = 3;

/// Why a goroutine is blocked: shown in goroutine dumps and deadlock reports with Go's
/// words (`goroutine 1 [chan receive]:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitReason {
    /// A generic park.
    Park = 0,
    /// `chan receive`
    ChanReceive,
    /// `chan send`
    ChanSend,
    /// `chan receive (nil chan)`
    ChanReceiveNilChan,
    /// `chan send (nil chan)`
    ChanSendNilChan,
    /// `select`
    Select,
    /// `select (no cases)`
    SelectNoCases,
    /// `sleep`
    Sleep,
    /// `sync.Mutex.Lock`
    SyncMutexLock,
    /// `sync.RWMutex.Lock`
    SyncRWMutexLock,
    /// `sync.RWMutex.RLock`
    SyncRWMutexRLock,
    /// `sync.WaitGroup.Wait`
    SyncWaitGroupWait,
    /// `sync.Cond.Wait`
    SyncCondWait,
    /// `sync.Once.Do`
    SyncOnce,
    /// `semacquire`
    Semacquire,
    /// `join` (waiting for a goroutine's result)
    Join,
    /// `IO wait`
    IoWait,
    /// `timer` (waiting on a runtime timer)
    Timer,
}

impl WaitReason {
    const ALL: [WaitReason; 18] = [
        WaitReason::Park,
        WaitReason::ChanReceive,
        WaitReason::ChanSend,
        WaitReason::ChanReceiveNilChan,
        WaitReason::ChanSendNilChan,
        WaitReason::Select,
        WaitReason::SelectNoCases,
        WaitReason::Sleep,
        WaitReason::SyncMutexLock,
        WaitReason::SyncRWMutexLock,
        WaitReason::SyncRWMutexRLock,
        WaitReason::SyncWaitGroupWait,
        WaitReason::SyncCondWait,
        WaitReason::SyncOnce,
        WaitReason::Semacquire,
        WaitReason::Join,
        WaitReason::IoWait,
        WaitReason::Timer,
    ];

    /// Go's words for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Park => "park",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanReceiveNilChan => "chan receive (nil chan)",
            WaitReason::ChanSendNilChan => "chan send (nil chan)",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::Sleep => "sleep",
            WaitReason::SyncMutexLock => "sync.Mutex.Lock",
            WaitReason::SyncRWMutexLock => "sync.RWMutex.Lock",
            WaitReason::SyncRWMutexRLock => "sync.RWMutex.RLock",
            WaitReason::SyncWaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::SyncCondWait => "sync.Cond.Wait",
            WaitReason::SyncOnce => "sync.Once.Do",
            WaitReason::Semacquire => "semacquire",
            WaitReason::Join => "join",
            WaitReason::IoWait => "IO wait",
            WaitReason::Timer => "timer",
        }
    }

    pub(crate) fn from_u8(v: u8) -> WaitReason {
        WaitReason::ALL.get(v as usize).copied().unwrap_or(WaitReason::Park)
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plain thread's park slot.
pub(crate) struct ThreadParker {
    word: AtomicU64,
    thread: Thread,
    /// Whether the thread is parked without a deadline and counted as not running
    /// (external.rs). Whoever clears it (the unparker, or the thread on its way out)
    /// counts the thread as running again: the unparker does so *before* the thread
    /// gets the CPU, so a woken thread is never mistaken for a blocked one.
    idle: AtomicBool,
}

thread_local! {
    static THREAD_PARKER: Arc<ThreadParker> = {
        super::external::register();
        Arc::new(ThreadParker {
            word: AtomicU64::new(0),
            thread: thread::current(),
            idle: AtomicBool::new(false),
        })
    };
}

/// What an [`Unparker`] wakes, borrowed from it.
enum Target<'a> {
    G(&'static G),
    Thread(&'a ThreadParker),
}

/// Bit of [`Unparker::tagged`] set when the target is a plain thread. Generations
/// have 62 bits (the park words are `generation << 2 | state`), so it is free.
const THREAD_TARGET: u64 = 1 << 63;

/// Wakes one park of one goroutine or thread, at most once (see the module docs).
///
/// `Send + Sync + Clone`: a channel keeps it in its waiter queue; `select` may keep
/// clones in several queues, and only the first `unpark` of them has an effect.
///
/// Two words (every parked goroutine's waiter holds one): the target's address and
/// the generation, whose top bit tells the two kinds of target apart.
///
/// | `tagged` bit 63 | `ptr`                                                 |
/// |-----------------|-------------------------------------------------------|
/// | 0               | a `G` record in a stack header (`&'static`)           |
/// | 1               | `Arc::into_raw` of a `ThreadParker`: one strong count  |
pub struct Unparker {
    ptr: NonNull<()>,
    /// The generation, plus [`THREAD_TARGET`] for a thread.
    tagged: u64,
}

// SAFETY: the target is a `&'static G` (G is Sync) or an owned strong reference to
// a `ThreadParker` (Send + Sync: atomics and a `Thread`), as an `Arc` would be.
unsafe impl Send for Unparker {}
// SAFETY: as above; `&Unparker` only reads the target through shared references.
unsafe impl Sync for Unparker {}

impl Unparker {
    fn for_g(g: &'static G, gen: u64) -> Unparker {
        debug_assert_eq!(gen & THREAD_TARGET, 0);
        Unparker { ptr: NonNull::from(g).cast(), tagged: gen }
    }

    fn for_thread(t: Arc<ThreadParker>, gen: u64) -> Unparker {
        debug_assert_eq!(gen & THREAD_TARGET, 0);
        let ptr = NonNull::new(Arc::into_raw(t).cast_mut()).expect("Arc::into_raw is non-null");
        Unparker { ptr: ptr.cast(), tagged: gen | THREAD_TARGET }
    }

    #[inline]
    fn gen(&self) -> u64 {
        self.tagged & !THREAD_TARGET
    }

    #[inline]
    fn is_thread(&self) -> bool {
        self.tagged & THREAD_TARGET != 0
    }

    #[inline]
    fn target(&self) -> Target<'_> {
        if self.is_thread() {
            // SAFETY: tagged as a thread: `ptr` is the strong reference this handle owns
            // (table above), so the parker lives at least as long as `self`.
            Target::Thread(unsafe { self.ptr.cast::<ThreadParker>().as_ref() })
        } else {
            // SAFETY: tagged as a goroutine: `ptr` is a G record in a stack header, never
            // unmapped (g.rs).
            Target::G(unsafe { self.ptr.cast::<G>().as_ref() })
        }
    }
}

impl Clone for Unparker {
    #[inline]
    fn clone(&self) -> Unparker {
        if self.is_thread() {
            // SAFETY: `ptr` came from `Arc::into_raw` and we hold one strong count, so
            // the `Arc` is live; the clone owns the count added here.
            unsafe { Arc::increment_strong_count(self.ptr.cast::<ThreadParker>().as_ptr()) };
        }
        Unparker { ptr: self.ptr, tagged: self.tagged }
    }
}

impl Drop for Unparker {
    #[inline]
    fn drop(&mut self) {
        if self.is_thread() {
            // SAFETY: we own one strong count of this `Arc::into_raw` pointer (taken in
            // `for_thread` or `clone`) and give it back exactly once, here.
            unsafe { Arc::decrement_strong_count(self.ptr.cast::<ThreadParker>().as_ptr()) };
        }
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target() {
            Target::G(g) => write!(f, "Unparker(goroutine {}, gen {})", g.id(), self.gen()),
            Target::Thread(t) => {
                write!(f, "Unparker(thread {:?}, gen {})", t.thread.id(), self.gen())
            }
        }
    }
}

/// A handle that wakes the current goroutine's (or thread's) next park.
///
/// Take it, store it where a waker finds it, then call [`park`] or [`park_with`].
/// An `unpark` that comes before the park makes the park return at once. Each call
/// starts a new generation: handles taken earlier (and not used by a park) become
/// stale, so take it once per park and clone it if several wakers need it.
pub fn unparker() -> Unparker {
    let m = current_m();
    if let Some(m) = m {
        let g = m.curg();
        let gen = (g.park.load(Ordering::Acquire) >> 2) + 1;
        g.park.store(gen << 2, Ordering::Release);
        return Unparker::for_g(g, gen);
    }
    THREAD_PARKER.with(|t| {
        let gen = (t.word.load(Ordering::Acquire) >> 2) + 1;
        t.word.store(gen << 2, Ordering::Release);
        Unparker::for_thread(t.clone(), gen)
    })
}

impl Unparker {
    /// Wakes the park this handle was made for. Returns whether this call woke it
    /// (false: already woken, or the park is over and this handle is stale).
    #[doc(alias = "goready")]
    pub fn unpark(&self) -> bool {
        match self.target() {
            Target::G(g) => {
                let m = current_m();
                if m.is_none() {
                    super::external::register();
                }
                unpark_g(g, self.gen(), m)
            }
            Target::Thread(t) => {
                if current_m().is_none() {
                    super::external::register();
                }
                let w = (self.gen() << 2) | IDLE;
                if t.word
                    .compare_exchange(w, w | NOTIFIED, Ordering::SeqCst, Ordering::Acquire)
                    .is_ok()
                {
                    // Count the thread as running before it even wakes (see
                    // `ThreadParker::idle`): deadlock detection must not see it blocked.
                    if t.idle.swap(false, Ordering::SeqCst) {
                        super::external::adjust(1);
                    }
                    t.thread.unpark();
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Wakes a park made by [`park_exclusive`] whose only waker is the caller. A
    /// goroutine's `PARKED -> NOTIFIED` is then a plain store instead of a CAS: one
    /// locked instruction less per wake-up (invariant 3). A thread, or a goroutine
    /// whose park is not published as this generation's `PARKED`, takes the ordinary
    /// [`unpark`](Self::unpark) path. Returns whether this call woke the park.
    ///
    /// # Safety
    /// The target parks (or parked) through `park_exclusive` for this handle's
    /// generation, and nothing else can unpark that generation: the caller took the
    /// waiter that park queued out of its queue under the lock the park releases, and
    /// no other copy of this handle is ever used. (Breaking this can let two wakers
    /// both put the goroutine on a run queue.)
    #[doc(hidden)]
    #[inline]
    pub unsafe fn unpark_exclusive(&self) -> bool {
        if let Target::G(g) = self.target() {
            let parked = (self.gen() << 2) | PARKED;
            // Acquire: the parker's context, saved before its publication.
            let w = g.park.load(Ordering::Acquire);
            // A goroutine's exclusive park is published before its lock is released,
            // so before any claim: the ordinary path below is for threads.
            debug_assert_eq!(w, parked, "unpark_exclusive: goroutine {} not parked", g.id());
            if w == parked {
                // Invariant 3: the contract makes us this generation's only writer,
                // and its owner is parked; invariant 2: this store is the transition.
                g.park.store((self.gen() << 2) | NOTIFIED, Ordering::Relaxed);
                super::ready_on(g, current_m());
                return true;
            }
        }
        self.unpark()
    }

    /// The goroutine id of the target, or `None` for a plain thread.
    pub fn goroutine_id(&self) -> Option<u64> {
        match self.target() {
            Target::G(g) => Some(g.id()),
            Target::Thread(_) => None,
        }
    }
}

/// `m`: the caller's M (`current_m()`), passed down to `ready`.
fn unpark_g(g: &'static G, gen: u64, m: Option<&'static super::m::M>) -> bool {
    let mut w = g.park.load(Ordering::Acquire);
    loop {
        if w >> 2 != gen {
            return false;
        }
        let next = (gen << 2) | NOTIFIED;
        match w & STATE {
            IDLE => match g.park.compare_exchange(w, next, Ordering::AcqRel, Ordering::Acquire) {
                // The parking side will see NOTIFIED after its switch and ready itself.
                Ok(_) => return true,
                Err(cur) => w = cur,
            },
            PARKED => match g.park.compare_exchange(w, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // Invariant 2: we won the PARKED -> NOTIFIED transition.
                    super::ready_on(g, m);
                    return true;
                }
                Err(cur) => w = cur,
            },
            _ => return false,
        }
    }
}

/// Tells the runtime that the calling plain OS thread takes part in goroutine
/// communication (holds a channel end or an [`Unparker`] that it may use later), so
/// deadlock detection stays silent while it runs. Channel and lock operations on
/// plain threads do this by themselves; call it for a handle moved to a thread that
/// has not used the runtime yet. No-op on goroutines.
pub fn note_plain_thread() {
    if current_m().is_none() {
        super::external::register();
    }
}

/// Parks the current goroutine (or thread) until the [`Unparker`] taken for this park
/// fires. No spurious wake-ups for goroutines; threads re-check their word.
#[doc(alias = "gopark")]
pub fn park(reason: WaitReason) {
    park_inner(reason, None::<fn() -> bool>, None);
}

/// Parks like [`park`], running `unlock` once the goroutine is completely switched out
/// (Go's `gopark(unlockf)`): release the lock that protects the waiter queue there.
/// If `unlock` returns `false`, the park is cancelled and the call returns at once.
/// `unlock` runs on the scheduler, on another stack: keep it short, non-blocking, and
/// do not panic in it (a panic there is a fatal error).
/// On a plain thread, `unlock` runs before the thread sleeps.
#[doc(alias = "gopark")]
pub fn park_with<F: FnOnce() -> bool>(reason: WaitReason, unlock: F) {
    park_inner(reason, Some(unlock), None);
}

/// Parks a goroutine that queued itself under the runtime lock `guard` holds, and
/// that no [`Unparker::unpark`] of this park can reach except through that lock (no
/// timer or other queue holds its unparker). The lock is released once the goroutine
/// is switched out (Go's `chanparkcommit`), and since no unpark can come before that,
/// the park is published by a plain store instead of a CAS: one locked instruction
/// less per park (park.rs invariant 3). Channels' plain operations use it.
///
/// Breaking that contract loses the early wake-up (the goroutine stays parked): it
/// cannot make a goroutine run twice. On a plain thread the lock is released, then
/// the thread parks as in [`park`].
#[doc(hidden)]
pub fn park_exclusive<T: ?Sized>(reason: WaitReason, guard: crate::lock::LockGuard<'_, T>) {
    let word = guard.into_word();
    park_core(reason, Commit::Unlock(ptr::from_ref(word)), None);
}

/// Parks like [`park_with`], but wakes by itself at `deadline` at the latest. The
/// caller tells a timeout from a wake-up by its own state (for example, whether its
/// waiter is still queued).
pub fn park_until<F: FnOnce() -> bool>(reason: WaitReason, deadline: Instant, unlock: F) {
    park_inner(reason, Some(unlock), Some(deadline));
}

#[inline]
fn park_inner<F: FnOnce() -> bool>(
    reason: WaitReason,
    unlock: Option<F>,
    deadline: Option<Instant>,
) {
    let mut slot = unlock;
    let commit = if slot.is_some() {
        Commit::Call(Callback { data: (&raw mut slot).cast(), call: call_unlock::<F> })
    } else {
        Commit::None
    };
    park_core(reason, commit, deadline);
    // `slot` was consumed by the callback (or still holds the closure if none ran).
}

/// The body of every park, not generic: compiled once, here, with the scheduler calls
/// inlined, whatever crate the caller's closure type lives in. A `Commit::Call` points
/// into the caller's frame, which outlives this call; a `Commit::Unlock` is a held
/// lock word that this park releases.
fn park_core(reason: WaitReason, commit: Commit, deadline: Option<Instant>) {
    let Some(m) = current_m() else {
        return park_thread(Some(|| run_commit(commit)), deadline);
    };
    let g = m.curg();
    // DESIGN.md §12: std keeps the panic count per thread, so a goroutine that parks
    // while unwinding must come back to this thread, which runs nothing else meanwhile.
    let pin = thread::panicking();
    if pin {
        super::m::lock_current(m);
    }
    let timer = deadline.map(|d| {
        let u = Unparker::for_g(g, g.park.load(Ordering::Acquire) >> 2);
        crate::timer::TimerHandle::start(d, crate::timer::Action::Unpark(u))
    });
    let w = g.park.load(Ordering::Acquire);
    if w & STATE == NOTIFIED {
        // Woken before we parked: no switch needed.
        run_commit(commit);
    } else {
        g.wait_reason.store(reason as u8, Ordering::Relaxed);
        g.set_status(Status::Waiting);
        super::m::schedule_from_g(m, Pending::Park(ptr_of(g), commit));
    }
    let w = g.park.load(Ordering::Acquire);
    g.park.store(((w >> 2) + 1) << 2, Ordering::Release);
    if let Some(t) = timer {
        t.stop();
    }
    if pin {
        super::m::unlock_current(current_m().expect("goroutine resumed outside an M"));
    }
}

/// Runs a park's commit on the parking side itself (a plain thread, or a goroutine
/// woken before it switched out); returns the callback's answer (`true` otherwise).
fn run_commit(commit: Commit) -> bool {
    match commit {
        Commit::None => true,
        // SAFETY: the callback's data is the caller's live closure slot (`park_core`);
        // it runs once, here.
        Commit::Call(cb) => unsafe { (cb.call)(cb.data) },
        Commit::Unlock(word) => {
            // SAFETY: a held lock word whose guard `park_exclusive` forgot; released
            // once, here.
            unsafe { crate::lock::unlock_word(&*word) };
            true
        }
    }
}

fn ptr_of(g: &'static G) -> *mut G {
    std::ptr::from_ref(g).cast_mut()
}

/// Runs the parked goroutine's unlock closure.
///
/// # Safety
/// `data` points to a live `Option<F>` on the parked goroutine's stack (it cannot
/// return from `park_inner` before the closure ran: it is not runnable yet), and no
/// other call reads it meanwhile.
unsafe fn call_unlock<F: FnOnce() -> bool>(data: *mut u8) -> bool {
    // SAFETY: the caller's contract; nothing else touches the slot meanwhile.
    let f = unsafe { (*data.cast::<Option<F>>()).take() };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.is_none_or(|f| f()))) {
        Ok(v) => v,
        Err(_) => crate::fatal!("park: unlock callback panicked"),
    }
}

fn park_thread<F: FnOnce() -> bool>(unlock: Option<F>, deadline: Option<Instant>) {
    THREAD_PARKER.with(|t| {
        let gen = t.word.load(Ordering::Acquire) >> 2;
        let keep = unlock.is_none_or(|f| f());
        if keep {
            // A thread parked without a deadline stops counting as a running
            // participant (external.rs) until it is unparked; one with a deadline
            // wakes by itself, so it keeps counting.
            let counted = deadline.is_none();
            if counted {
                super::external::register();
                t.idle.store(true, Ordering::SeqCst);
                if t.word.load(Ordering::SeqCst) & STATE == NOTIFIED {
                    // Already unparked. If the unparker saw `idle` and counted us
                    // as running again, undo that: we never stopped counting.
                    if !t.idle.swap(false, Ordering::SeqCst) {
                        super::external::adjust(-1);
                    }
                } else {
                    super::external::adjust(-1);
                    if super::external::running() == 0
                        && t.word.load(Ordering::SeqCst) & STATE != NOTIFIED
                    {
                        super::deadlock::check_all();
                    }
                }
            }
            loop {
                if t.word.load(Ordering::Acquire) & STATE == NOTIFIED {
                    break;
                }
                match deadline {
                    None => thread::park(),
                    Some(d) => {
                        let now = Instant::now();
                        if now >= d {
                            break;
                        }
                        thread::park_timeout(d - now);
                    }
                }
            }
            if counted && t.idle.swap(false, Ordering::SeqCst) {
                super::external::adjust(1);
            }
        }
        t.word.store((gen + 1) << 2, Ordering::Release);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parked goroutine's waiter holds one: two words.
    #[test]
    fn unparker_is_two_words() {
        assert_eq!(std::mem::size_of::<Unparker>(), 16);
        assert_eq!(std::mem::size_of::<Option<Unparker>>(), 16);
    }

    /// A thread target's strong count follows the handles' clones and drops.
    #[test]
    fn thread_unparker_counts_references() {
        std::thread::spawn(|| {
            let u = unparker();
            let count = || THREAD_PARKER.with(Arc::strong_count);
            assert_eq!(count(), 2);
            let v = u.clone();
            assert_eq!(count(), 3);
            assert_eq!(u.goroutine_id(), None);
            drop(u);
            assert_eq!(count(), 2);
            assert!(v.unpark());
            assert!(!v.unpark(), "a second unpark of one generation has no effect");
            drop(v);
            assert_eq!(count(), 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn wait_reason_round_trips_through_u8() {
        for r in WaitReason::ALL {
            assert_eq!(WaitReason::from_u8(r as u8), r);
        }
        assert_eq!(WaitReason::from_u8(250), WaitReason::Park);
    }
}
