//! `RwMutex<T>`: Go's `sync.RWMutex` (writer preference) around the data it protects.
//!
//! # Design
//! Go's algorithm (go/src/sync/rwmutex.go): writers first serialize on an inner
//! [`RawMutex`] `w`, then announce themselves by subtracting `MAX_READERS` from
//! `reader_count`. From then on `reader_count` is negative, and every new reader sees
//! that and parks on `reader_sem`: **a waiting writer blocks new readers**. The writer
//! adds the number of readers that were inside at that moment to `reader_wait`; each of
//! them, leaving, decrements `reader_wait`, and the last one releases `writer_sem`,
//! where the writer waits. `write` unlock adds `MAX_READERS` back and releases one
//! `reader_sem` unit per reader that arrived meanwhile, *before* unlocking `w`, so the
//! readers that queued behind a writer get in before the next writer: neither side
//! starves.
//!
//! | field          | meaning                                                         |
//! |----------------|-----------------------------------------------------------------|
//! | `reader_count` | readers inside or waiting; minus `MAX_READERS` while a writer   |
//! |                | holds or waits for the lock                                      |
//! | `reader_wait`  | readers the pending writer still waits for                       |
//!
//! Go's `sync: RUnlock of unlocked RWMutex` and `sync: Unlock of unlocked RWMutex`
//! cannot happen here: only guards unlock. As with [`Mutex`](crate::Mutex) there is no
//! poisoning.
//!
//! # Invariants
//! 1. At most `MAX_READERS / 2` readers at once (2^29), checked on every read lock
//!    (only leaked guards could exceed it; that is a fatal error).
//! 2. `reader_count < 0` exactly while a writer owns `w` and has announced itself; only
//!    that writer adds `MAX_READERS` back.
//! 3. The readers counted into `reader_wait` are exactly those whose `reader_count`
//!    increment came before the writer's subtraction and who have not left: each leaves
//!    through the slow path and decrements `reader_wait` once; the one that brings it
//!    to 0 wakes the writer (1 unit of `writer_sem`).
//! 4. A writer holds the data exclusively once `reader_wait` reached 0 (or was 0), and
//!    readers hold it shared while `reader_count >= 0` at their increment, or once woken
//!    from `reader_sem` by the writer's unlock.
//!
//! # Memory ordering
//! All counter operations are `SeqCst` read-modify-writes, as in Go. A reader's
//! leaving RMW on `reader_wait` (or `reader_count`) and the writer's RMWs on the same
//! counter form release sequences, so reader data accesses happen-before the writer's
//! and the writer's happen-before the readers it releases (through `reader_count` or
//! the semaphore).
//!
//! # References
//! go/src/sync/rwmutex.go (Go 1.19).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI32, Ordering};

use goro_runtime::park::WaitReason;

use crate::mutex::RawMutex;
use crate::rtsema::Sema;

const MAX_READERS: i32 = 1 << 30;

/// Go's `sync.RWMutex` without data.
#[derive(Default)]
struct RawRwMutex {
    /// Held by the writer that owns or waits for the lock.
    w: RawMutex,
    /// Where a writer waits for the readers inside to leave.
    writer_sem: Sema,
    /// Where readers wait for a writer to finish.
    reader_sem: Sema,
    /// Atomic (SeqCst): see the field table.
    reader_count: AtomicI32,
    /// Atomic (SeqCst): see the field table.
    reader_wait: AtomicI32,
}

impl RawRwMutex {
    const fn new() -> Self {
        RawRwMutex {
            w: RawMutex::new(),
            writer_sem: Sema::new(),
            reader_sem: Sema::new(),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
        }
    }

    #[inline]
    fn read_lock(&self) {
        let c = self.reader_count.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        // One unsigned compare: negative (writer pending) or too many readers.
        if c as u32 > (MAX_READERS / 2) as u32 {
            self.read_lock_slow(c);
        }
    }

    #[cold]
    fn read_lock_slow(&self, c: i32) {
        // Invariant 1 (kept with margin): past MAX_READERS / 2 readers the count could
        // be mistaken for a pending writer, or the reverse. Only leaked (forgotten)
        // guards can get here; unwinding could not restore the count safely while a
        // writer is pending, so this is fatal.
        if c > MAX_READERS / 2 || (c < 0 && c > -MAX_READERS / 2) {
            goro_runtime::fatal::fatal("sync: too many concurrent RwMutex readers");
        }
        // A writer is pending: wait for it (invariant 2).
        self.reader_sem.acquire(false, WaitReason::SyncRWMutexRLock);
    }

    #[inline]
    fn try_read_lock(&self) -> bool {
        let mut c = self.reader_count.load(Ordering::SeqCst);
        loop {
            // Negative (writer pending) or too many readers.
            if c as u32 >= (MAX_READERS / 2) as u32 {
                return false;
            }
            match self.reader_count.compare_exchange_weak(
                c,
                c + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(cur) => c = cur,
            }
        }
    }

    /// # Safety
    /// The caller holds a read lock and gives it up.
    #[inline]
    unsafe fn read_unlock(&self) {
        let r = self.reader_count.fetch_sub(1, Ordering::SeqCst) - 1;
        if r < 0 {
            self.read_unlock_slow(r);
        }
    }

    #[cold]
    fn read_unlock_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            goro_runtime::fatal::fatal("sync: RUnlock of unlocked RWMutex");
        }
        // Invariant 3: a writer is pending; the last reader it waits for wakes it.
        if self.reader_wait.fetch_sub(1, Ordering::SeqCst) - 1 == 0 {
            self.writer_sem.release(false);
        }
    }

    fn write_lock(&self) {
        // First, resolve competition with other writers.
        self.w.lock(WaitReason::SyncRWMutexLock);
        // Announce the pending writer to readers (invariant 2).
        let r = self.reader_count.fetch_sub(MAX_READERS, Ordering::SeqCst);
        // Wait for the active readers.
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::SeqCst) + r != 0 {
            self.writer_sem.acquire(false, WaitReason::SyncRWMutexLock);
        }
    }

    fn try_write_lock(&self) -> bool {
        if !self.w.try_lock() {
            return false;
        }
        if self
            .reader_count
            .compare_exchange(0, -MAX_READERS, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // SAFETY: locked by the `try_lock` above, by us.
            unsafe { self.w.unlock() };
            return false;
        }
        true
    }

    /// # Safety
    /// The caller holds the write lock and gives it up.
    unsafe fn write_unlock(&self) {
        // Announce to readers there is no active writer.
        let r = self.reader_count.fetch_add(MAX_READERS, Ordering::SeqCst) + MAX_READERS;
        if r >= MAX_READERS {
            goro_runtime::fatal::fatal("sync: Unlock of unlocked RWMutex");
        }
        // Unblock the readers that queued behind us, before the next writer can run.
        for _ in 0..r {
            self.reader_sem.release(false);
        }
        // SAFETY: `write_lock`/`try_write_lock` locked `w`, and our caller owns that.
        unsafe { self.w.unlock() };
    }
}

/// A reader-writer lock protecting a `T` (Go's `sync.RWMutex`).
///
/// Any number of readers, or one writer. **Writer preference**: once a writer waits,
/// new readers wait behind it, so a stream of readers cannot starve a writer; when the
/// writer leaves, the readers that queued meanwhile get in before the next writer, so
/// writers cannot starve readers either. A reader that tries to read-lock again while
/// a writer waits deadlocks, as in Go: do not take recursive read locks.
///
/// Parks goroutines (and plain threads); no poisoning.
///
/// ```
/// use goro_sync::RwMutex;
/// let m = RwMutex::new(vec![1, 2]);
/// {
///     let a = m.read();
///     let b = m.try_read().unwrap();
///     assert_eq!(a.len() + b.len(), 4);
///     assert!(m.try_write().is_none());
/// }
/// m.write().push(3);
/// assert_eq!(*m.read(), [1, 2, 3]);
/// ```
#[doc(alias = "sync.RWMutex")]
#[doc(alias = "RWMutex")]
pub struct RwMutex<T: ?Sized> {
    raw: RawRwMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns a `T`; moving it moves the `T`.
unsafe impl<T: ?Sized + Send> Send for RwMutex<T> {}
// SAFETY: readers on several threads share `&T` (needs `T: Sync`); a writer gets
// `&mut T` on any thread (needs `T: Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwMutex<T> {}

/// Shared access to an [`RwMutex`]'s data; dropping it read-unlocks (Go's `RUnlock`).
#[must_use = "if unused the RwMutex will immediately unlock"]
#[doc(alias = "RUnlock")]
pub struct RwMutexReadGuard<'a, T: ?Sized> {
    lock: &'a RwMutex<T>,
    _marker: PhantomData<*const T>,
}

// SAFETY: the guard is a `&T` plus the duty to read-unlock, which any thread may do.
unsafe impl<T: ?Sized + Sync> Send for RwMutexReadGuard<'_, T> {}
// SAFETY: `&RwMutexReadGuard` gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwMutexReadGuard<'_, T> {}

/// Exclusive access to an [`RwMutex`]'s data; dropping it unlocks (Go's `Unlock`).
#[must_use = "if unused the RwMutex will immediately unlock"]
#[doc(alias = "Unlock")]
pub struct RwMutexWriteGuard<'a, T: ?Sized> {
    lock: &'a RwMutex<T>,
    _marker: PhantomData<*mut T>,
}

// SAFETY: the guard is a `&mut T` plus the duty to unlock, which any thread may do.
unsafe impl<T: ?Sized + Send> Send for RwMutexWriteGuard<'_, T> {}
// SAFETY: `&RwMutexWriteGuard` gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwMutexWriteGuard<'_, T> {}

impl<T> RwMutex<T> {
    /// A new unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        RwMutex { raw: RawRwMutex::new(), data: UnsafeCell::new(value) }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwMutex<T> {
    /// Locks for reading, parking while a writer holds or waits for the lock.
    #[doc(alias = "RLock")]
    #[inline]
    pub fn read(&self) -> RwMutexReadGuard<'_, T> {
        self.raw.read_lock();
        RwMutexReadGuard { lock: self, _marker: PhantomData }
    }

    /// Locks for reading if no writer holds or waits for the lock (Go's `TryRLock`).
    #[doc(alias = "TryRLock")]
    #[inline]
    pub fn try_read(&self) -> Option<RwMutexReadGuard<'_, T>> {
        self.raw.try_read_lock().then(|| RwMutexReadGuard { lock: self, _marker: PhantomData })
    }

    /// Locks for writing, parking until no reader or writer holds it.
    #[doc(alias = "Lock")]
    #[inline]
    pub fn write(&self) -> RwMutexWriteGuard<'_, T> {
        goro_runtime::coop::check();
        self.raw.write_lock();
        RwMutexWriteGuard { lock: self, _marker: PhantomData }
    }

    /// Locks for writing if nobody holds the lock (Go's `TryLock`).
    #[doc(alias = "TryLock")]
    #[inline]
    pub fn try_write(&self) -> Option<RwMutexWriteGuard<'_, T>> {
        self.raw.try_write_lock().then(|| RwMutexWriteGuard { lock: self, _marker: PhantomData })
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwMutex<T> {
    fn default() -> Self {
        RwMutex::new(T::default())
    }
}

impl<T> From<T> for RwMutex<T> {
    fn from(value: T) -> Self {
        RwMutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwMutex");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwMutexReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: invariant 4 — a read guard stands for shared access: no writer
        // holds `&mut T` meanwhile.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard stands for one read lock and gives it up here.
        unsafe { self.lock.raw.read_unlock() };
    }
}

impl<T: ?Sized> Deref for RwMutexWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: invariant 4 — the write guard stands for exclusive access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwMutexWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: invariant 4 — exclusive access, and `&mut self` makes this the only
        // reference.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard stands for the write lock and gives it up here.
        unsafe { self.lock.raw.write_unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutexReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutexWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Debug for RawRwMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRwMutex")
            .field("reader_count", &self.reader_count.load(Ordering::Relaxed))
            .field("reader_wait", &self.reader_wait.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
