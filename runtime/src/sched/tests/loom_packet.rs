//! Loom model of the join packet's ownership protocol (spawn.rs, invariant 3): the
//! goroutine's `finish`/`Packet::complete` against its handle's `join` or drop.
//!
//! The real packet lives in memory loom cannot see (`G::join` is a std atomic in a
//! stack header, the waiter is a park handle), so this model repeats the protocol's
//! atomic steps, in the same order and with the same orderings and state values, on
//! loom atomics. The packet's memory is a loom cell: reading the result or the waiter
//! after the packet was freed, or freeing it twice, or not at all, fails the model.
//!
//! Run: `RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//! cargo test -p goro-runtime --lib --release loom_`.

use crate::sched::spawn::{DETACHED, DONE, RUNNING, WAITING};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// The packet (its memory), the goroutine's `G::join` word and the joiner's park.
struct Model {
    /// `G::join`: 1 while it holds the packet's address, 0 once taken.
    join: AtomicUsize,
    state: AtomicU8,
    /// Whether the packet's memory is still allocated, and the fields in it.
    alive: UnsafeCell<bool>,
    result: UnsafeCell<Option<u32>>,
    waiter: UnsafeCell<bool>,
    /// The joiner's park word: set by the waker's unpark.
    unparked: AtomicBool,
    frees: AtomicUsize,
}

impl Model {
    fn new() -> Model {
        Model {
            join: AtomicUsize::new(1),
            state: AtomicU8::new(RUNNING),
            alive: UnsafeCell::new(true),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(false),
            unparked: AtomicBool::new(false),
            frees: AtomicUsize::new(0),
        }
    }

    // SAFETY (every cell access below): loom's `UnsafeCell` checks each access
    // against every other one and fails the model on a race; that is the point.

    fn assert_alive(&self) {
        // SAFETY: see above.
        self.alive.with(|a| assert!(unsafe { *a }, "packet used after it was freed"));
    }

    fn free(&self) {
        self.alive.with_mut(|a| {
            // SAFETY: see above.
            let a = unsafe { &mut *a };
            assert!(*a, "packet freed twice");
            *a = false;
        });
        self.frees.fetch_add(1, Ordering::Relaxed);
    }

    /// `finish` + `Packet::complete`: the goroutine returns 7.
    fn goroutine(&self) {
        if self.join.swap(0, Ordering::AcqRel) == 0 {
            return; // the handle took the packet: `out` is dropped
        }
        self.assert_alive();
        // SAFETY: see above.
        self.result.with_mut(|r| unsafe { *r = Some(7) });
        match self.state.swap(DONE, Ordering::AcqRel) {
            RUNNING => {}
            WAITING => {
                self.assert_alive();
                // SAFETY: see above.
                let w = self.waiter.with_mut(|w| unsafe { std::mem::replace(&mut *w, false) });
                assert!(w, "WAITING without a waiter");
                self.unparked.store(true, Ordering::Release);
            }
            DETACHED => self.free(),
            s => panic!("bad state {s}"),
        }
    }

    /// `JoinHandle::join`: waits, takes the result, frees the packet.
    fn join(&self) -> u32 {
        self.assert_alive();
        if self.state.load(Ordering::Acquire) != DONE {
            // SAFETY: see above.
            self.waiter.with_mut(|w| unsafe { *w = true });
            if self
                .state
                .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                while !self.unparked.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                assert_eq!(self.state.load(Ordering::Acquire), DONE);
            }
        }
        // SAFETY: see above.
        let v = self.result.with_mut(|r| unsafe { (*r).take() }).expect("no result after DONE");
        self.free();
        v
    }

    /// `JoinHandle::release(false)`: the handle is dropped.
    fn drop_handle(&self) {
        if self.join.compare_exchange(1, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            self.free();
            return;
        }
        match self.state.swap(DETACHED, Ordering::AcqRel) {
            DONE => self.free(),
            RUNNING => {}
            s => panic!("bad state {s} at drop"),
        }
    }
}

/// The goroutine finishes on its own thread while `handle` runs on this one; then
/// the packet must have been freed exactly once.
fn against_finish(handle: fn(&Model)) {
    loom::model(move || {
        let m = Arc::new(Model::new());
        let g = {
            let m = m.clone();
            thread::spawn(move || m.goroutine())
        };
        handle(&m);
        g.join().unwrap();
        assert_eq!(m.frees.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn loom_packet_join_against_finish() {
    against_finish(|m| assert_eq!(m.join(), 7));
}

#[test]
fn loom_packet_drop_against_finish() {
    against_finish(Model::drop_handle);
}
