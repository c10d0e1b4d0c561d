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
//! **Deferred readers** (rwslots.rs): once readers of a lock have been seen inside it
//! together (a reader leaving finds the count still above zero), a reader first tries
//! to claim a slot in the process-wide reader table, in its processor's line, and then
//! checks `reader_count`;
//! while no writer is pending it holds the lock without having written to the lock's
//! cache line at all, and leaves by clearing its slot. Go's count is the fallback (a
//! full line, a pending writer, `try_read`). A writer, once it has announced itself,
//! migrates the slots holding this lock's name: each such reader is one more that
//! it waits for (`reader_wait`), and leaves through `reader_wait` when it finds its
//! slot gone. The read path then scales with the cores instead of bouncing one line
//! between them, at the price of a scan of the table (one line per processor) per
//! write lock. Until readers overlap, a lock is Go's exactly: one atomic add per read
//! lock and unlock, cheaper than a claim for a lock only one thread reads at a time.
//!
//! Waits for the other side are short in the common case (a reader inside for a few
//! nanoseconds, a writer's brief hold), so both the writer waiting for readers to
//! leave and a reader waiting behind a writer spin a little first (the mutex's spin
//! rule) before parking on their semaphore.
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
//!    increment came before the writer's subtraction and who have not left, plus the
//!    deferred readers whose slots the writer migrated: each leaves through the slow
//!    path (or, deferred, by finding its slot gone) and decrements `reader_wait` once;
//!    the one that brings it to 0 wakes the writer (1 unit of `writer_sem`).
//! 4. A writer holds the data exclusively once `reader_wait` reached 0 (or was 0), and
//!    readers hold it shared while `reader_count >= 0` at their increment (or, deferred,
//!    at their load after claiming a slot), or once woken from `reader_sem` by the
//!    writer's unlock, or while a pending writer counts their migrated slot.
//! 5. `name` goes from 0 to a name once (`SeqCst`), before this lock's first slot
//!    claim (a reader claims only after loading it, `SeqCst`); while it is 0 no slot
//!    holds a read lock of this lock and writers, loading it after their announcement,
//!    skip the scan. A name is never given to two locks, and it moves with the lock, so
//!    a read lock leaked (`mem::forget`) still counts after the lock is moved, and a
//!    lock later made at the old address does not inherit it.
//!
//! # Memory ordering
//! All counter operations are `SeqCst` read-modify-writes, as in Go; a deferred
//! reader's claim and its load of `reader_count`, and the writer's subtraction and its
//! scan, are `SeqCst` too (rwslots.rs: one of the two sides sees the other). A reader's
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
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use goro_runtime::park::WaitReason;

use crate::mutex::RawMutex;
use crate::rtsema::Sema;
use crate::rwslots;

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
    /// This lock's name in the reader table once its readers take reader slots; 0
    /// before (invariant 5).
    name: AtomicUsize,
}

impl RawRwMutex {
    const fn new() -> Self {
        RawRwMutex {
            w: RawMutex::new(),
            writer_sem: Sema::new(),
            reader_sem: Sema::new(),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
            name: AtomicUsize::new(0),
        }
    }

    /// Switches the lock to reader slots: gives it a name (invariant 5).
    #[cold]
    fn name_it(&self) {
        let name = rwslots::new_name();
        // Two readers may race here: the first name stays.
        let _ = self.name.compare_exchange(0, name, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Takes a read lock; returns the reader slot it holds, if any.
    #[inline]
    fn read_lock(&self) -> Option<rwslots::Slot> {
        let id = self.name.load(Ordering::SeqCst);
        if id == 0 {
            self.read_lock_counted();
            return None;
        }
        if let Some(slot) = rwslots::claim(id) {
            if self.reader_count.load(Ordering::SeqCst) >= 0 {
                // No writer pending when we looked: one that comes later finds our slot
                // in its scan (rwslots.rs, memory ordering).
                return Some(slot);
            }
            if !rwslots::release(slot, id) {
                // A writer migrated the slot already: it counts us, we are inside.
                return Some(slot);
            }
        }
        self.read_lock_counted();
        None
    }

    /// Go's `RLock`.
    #[inline]
    fn read_lock_counted(&self) {
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
        self.reader_sem.acquire_spinning(WaitReason::SyncRWMutexRLock);
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
    /// The caller holds a read lock, taken with reader slot `slot` (if any), and gives
    /// it up.
    #[inline]
    unsafe fn read_unlock(&self, slot: Option<rwslots::Slot>) {
        match slot {
            None => self.read_unlock_counted(),
            Some(slot) => {
                // A slot is claimed only for a named lock, whose name never changes.
                if !rwslots::release(slot, self.name.load(Ordering::Relaxed)) {
                    // Migrated by a pending writer, which counts us in `reader_wait`.
                    self.reader_leaves();
                }
            }
        }
    }

    /// Go's `RUnlock`.
    #[inline]
    fn read_unlock_counted(&self) {
        let r = self.reader_count.fetch_sub(1, Ordering::SeqCst) - 1;
        if r < 0 {
            self.read_unlock_slow(r);
        } else if r > 0 && self.name.load(Ordering::Relaxed) == 0 {
            // Another reader is inside as we leave: readers overlap, so the count's
            // line moves between them. From now on they take reader slots (invariant 5).
            self.name_it();
        }
    }

    #[cold]
    fn read_unlock_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            goro_runtime::fatal::fatal("sync: RUnlock of unlocked RWMutex");
        }
        self.reader_leaves();
    }

    /// A reader that a pending writer waits for leaves (invariant 3): the last wakes it.
    fn reader_leaves(&self) {
        if self.reader_wait.fetch_sub(1, Ordering::SeqCst) - 1 == 0 {
            self.writer_sem.release(false);
        }
    }

    fn write_lock(&self) {
        // First, resolve competition with other writers.
        self.w.lock(WaitReason::SyncRWMutexLock);
        // Announce the pending writer to readers (invariant 2).
        let r = self.reader_count.fetch_sub(MAX_READERS, Ordering::SeqCst);
        // The deferred readers inside: from now on they report to us (invariant 3).
        let r = r + self.migrate_slots();
        // Wait for the active readers.
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::SeqCst) + r != 0 {
            self.writer_sem.acquire_spinning(WaitReason::SyncRWMutexLock);
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
        let name = self.name.load(Ordering::SeqCst);
        if name != 0 && rwslots::any(name) {
            // Deferred readers are inside. Readers that saw our announcement meanwhile
            // wait on `reader_sem`: undo as a write unlock does, releasing them.
            // SAFETY: we hold `w` and announced ourselves, as after `write_lock`.
            unsafe { self.write_unlock() };
            return false;
        }
        true
    }

    /// Clears this lock's reader slots; how many read locks they held (invariant 5).
    fn migrate_slots(&self) -> i32 {
        let name = self.name.load(Ordering::SeqCst);
        if name == 0 {
            return 0;
        }
        // At most one slot per table word: far below MAX_READERS.
        rwslots::migrate(name) as i32
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
    /// The reader slot this read lock holds, if it took one.
    slot: Option<rwslots::Slot>,
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
        let slot = self.raw.read_lock();
        RwMutexReadGuard { lock: self, slot, _marker: PhantomData }
    }

    /// Locks for reading if no writer holds or waits for the lock (Go's `TryRLock`).
    #[doc(alias = "TryRLock")]
    #[inline]
    pub fn try_read(&self) -> Option<RwMutexReadGuard<'_, T>> {
        self.raw.try_read_lock().then(|| RwMutexReadGuard {
            lock: self,
            slot: None,
            _marker: PhantomData,
        })
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
        unsafe { self.lock.raw.read_unlock(self.slot) };
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

impl Drop for RawRwMutex {
    fn drop(&mut self) {
        // Slots still holding our name belong to leaked read guards: give them back to
        // the table (rwslots invariant 1).
        self.migrate_slots();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicI64};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    impl RawRwMutex {
        /// Nobody inside or waiting, no slot, no pending semaphore unit or waiter.
        fn assert_at_rest(&self) {
            assert_eq!(self.reader_count.load(Ordering::SeqCst), 0, "reader_count");
            assert_eq!(self.reader_wait.load(Ordering::SeqCst), 0, "reader_wait");
            let name = self.name.load(Ordering::SeqCst);
            assert!(name == 0 || !rwslots::any(name), "a reader slot still holds the lock");
            assert_eq!(self.w.state(), 0, "writers' mutex");
            assert_eq!(self.reader_sem.snapshot(), (0, 0), "reader_sem");
            assert_eq!(self.writer_sem.snapshot(), (0, 0), "writer_sem");
        }
    }

    /// Two overlapping readers switch the lock to reader slots.
    fn make_deferred<T>(m: &RwMutex<T>) {
        let a = m.read();
        let b = m.read();
        drop(b);
        drop(a);
        assert_ne!(m.raw.name.load(Ordering::SeqCst), 0, "overlapping readers name the lock");
    }

    /// A read guard that holds a reader slot. Other tests share the table, and a line
    /// can be full for a moment: retry.
    fn slot_reader<T>(m: &RwMutex<T>) -> RwMutexReadGuard<'_, T> {
        let t = Instant::now();
        loop {
            let g = m.read();
            if g.slot.is_some() {
                return g;
            }
            drop(g);
            assert!(t.elapsed() < Duration::from_secs(10), "no reader slot for 10 s");
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn lone_reader_uses_the_count() {
        let m = RwMutex::new(0);
        for _ in 0..3 {
            let g = m.read();
            assert!(g.slot.is_none());
            assert_eq!(m.raw.reader_count.load(Ordering::SeqCst), 1);
        }
        assert_eq!(m.raw.name.load(Ordering::SeqCst), 0);
        m.raw.assert_at_rest();
    }

    #[test]
    fn overlapping_readers_take_slots() {
        let m = RwMutex::new(0);
        make_deferred(&m);
        let g = slot_reader(&m);
        assert!(rwslots::any(m.raw.name.load(Ordering::SeqCst)));
        assert_eq!(m.raw.reader_count.load(Ordering::SeqCst), 0, "a slot reader is not counted");
        assert!(m.try_write().is_none(), "a slot reader keeps try_write out");
        drop(g);
        m.raw.assert_at_rest();
        assert!(m.try_write().is_some());
        m.raw.assert_at_rest();
    }

    #[test]
    fn writer_migrates_slot_readers_and_waits_for_them() {
        let m = Arc::new(RwMutex::new(0u64));
        make_deferred(&m);
        let g = slot_reader(&m);
        let done = Arc::new(AtomicBool::new(false));
        let w = {
            let (m, done) = (m.clone(), done.clone());
            thread::spawn(move || {
                *m.write() += 1;
                done.store(true, Ordering::SeqCst);
            })
        };
        // The writer announces itself and migrates our slot, then waits for us.
        let t = Instant::now();
        while rwslots::any(m.raw.name.load(Ordering::SeqCst)) {
            assert!(t.elapsed() < Duration::from_secs(10), "writer never migrated the slot");
            thread::yield_now();
        }
        thread::sleep(Duration::from_millis(20));
        assert!(!done.load(Ordering::SeqCst), "writer got in while a reader was inside");
        assert_eq!(m.raw.reader_wait.load(Ordering::SeqCst), 1, "the writer waits for one");
        // A new reader waits behind the pending writer.
        assert!(m.try_read().is_none());
        drop(g);
        w.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
        assert_eq!(*m.read(), 1);
        m.raw.assert_at_rest();
    }

    #[test]
    fn dropping_the_lock_clears_slots_of_leaked_guards() {
        let m = Box::new(RwMutex::new(0));
        make_deferred(&m);
        let name = m.raw.name.load(Ordering::SeqCst);
        std::mem::forget(slot_reader(&m));
        assert!(rwslots::any(name));
        drop(m);
        assert!(!rwslots::any(name), "a leaked guard's slot outlived its lock");
    }

    #[test]
    fn a_leaked_slot_read_lock_moves_with_the_lock() {
        let m = RwMutex::new(0);
        make_deferred(&m);
        std::mem::forget(slot_reader(&m));
        let moved = Box::new(m);
        assert!(moved.try_write().is_none(), "the leaked read lock still holds");
        // A new lock where `m` was (or anywhere) is not held by it.
        let fresh = RwMutex::new(0);
        make_deferred(&fresh);
        assert!(fresh.try_write().is_some());
        let name = moved.raw.name.load(Ordering::SeqCst);
        drop(moved);
        assert!(!rwslots::any(name));
    }

    #[test]
    fn a_full_line_falls_back_to_the_count() {
        let m = RwMutex::new(0);
        make_deferred(&m);
        // A plain thread always uses the same line, which has SLOTS_PER_LINE slots.
        let gs: Vec<_> = (0..=rwslots::SLOTS_PER_LINE).map(|_| m.read()).collect();
        let counted = gs.iter().filter(|g| g.slot.is_none()).count();
        assert!(counted >= 1);
        assert_eq!(m.raw.reader_count.load(Ordering::SeqCst), counted as i32);
        assert!(m.try_write().is_none());
        drop(gs);
        m.raw.assert_at_rest();
    }

    #[test]
    fn goroutines_pick_the_line_of_their_processor() {
        let rt = goro_runtime::Runtime::builder().procs(2).build().unwrap();
        rt.block_on(|| {
            let m = RwMutex::new(0);
            make_deferred(&m);
            // No switch point between here and the claim: the goroutine stays on `p`.
            let p = goro_runtime::current_proc().expect("a goroutine runs on a P");
            assert!(p < 2);
            let g = slot_reader(&m);
            let slot = g.slot.expect("slot_reader holds a slot");
            let line = (ptr_of(slot) - ptr_of(&rwslots::table_line(0)[0])) / 128;
            assert_eq!(line, p & rwslots::line_mask(), "slot outside our P's line");
        });
        assert_eq!(goro_runtime::current_proc(), None, "a plain thread has no P");
    }

    fn ptr_of(a: &AtomicUsize) -> usize {
        std::ptr::from_ref(a) as usize
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Copy, Debug)]
        enum Op {
            /// read-lock, hold for this many microseconds, unlock.
            Read(u8),
            /// write-lock, hold for this many microseconds, unlock.
            Write(u8),
            TryRead,
            TryWrite,
            /// sleep this many microseconds holding nothing.
            Pause(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                6 => (0u8..30).prop_map(Op::Read),
                2 => (0u8..30).prop_map(Op::Write),
                1 => Just(Op::TryRead),
                1 => Just(Op::TryWrite),
                1 => (0u8..100).prop_map(Op::Pause),
            ]
        }

        fn hold(us: u8) {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(u64::from(us)) {
                std::hint::spin_loop();
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

            /// Random schedules of readers and writers on plain threads, slot readers
            /// and counted ones mixed: readers never overlap a writer, writers never
            /// overlap, every write is counted, and the lock returns to rest (no count,
            /// no slot, no semaphore unit or waiter left).
            #[test]
            fn readers_and_writers_return_to_rest(
                deferred in any::<bool>(),
                scripts in proptest::collection::vec(proptest::collection::vec(op(), 1..60), 2..5)
            ) {
                let m = Arc::new(RwMutex::new(0u64));
                if deferred {
                    make_deferred(&m);
                }
                // >0: readers inside; -1: a writer inside.
                let inside = Arc::new(AtomicI64::new(0));
                let hs: Vec<_> = scripts
                    .into_iter()
                    .map(|script| {
                        let (m, inside) = (m.clone(), inside.clone());
                        thread::spawn(move || {
                            let mut writes = 0u64;
                            let read = |us| {
                                assert!(inside.fetch_add(1, Ordering::SeqCst) >= 0, "reader overlaps a writer");
                                hold(us);
                                inside.fetch_sub(1, Ordering::SeqCst);
                            };
                            let mut write = |g: &mut u64, us| {
                                assert_eq!(inside.swap(-1, Ordering::SeqCst), 0, "writer overlaps");
                                *g += 1;
                                writes += 1;
                                hold(us);
                                inside.store(0, Ordering::SeqCst);
                            };
                            for op in script {
                                match op {
                                    Op::Read(us) => {
                                        let _g = m.read();
                                        read(us);
                                    }
                                    Op::Write(us) => write(&mut m.write(), us),
                                    Op::TryRead => {
                                        if let Some(_g) = m.try_read() {
                                            read(0);
                                        }
                                    }
                                    Op::TryWrite => {
                                        if let Some(mut g) = m.try_write() {
                                            write(&mut g, 0);
                                        }
                                    }
                                    Op::Pause(us) => thread::sleep(Duration::from_micros(u64::from(us))),
                                }
                            }
                            writes
                        })
                    })
                    .collect();
                let writes: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
                prop_assert_eq!(*m.read(), writes);
                m.raw.assert_at_rest();
            }
        }
    }
}
