//! Loom model of the P ownership protocol (own.rs, preempt.rs): an owner entering
//! and leaving runtime calls, and a `blocking` section, against sysmon taking the P.
//! The P's data is an `UnsafeCell`: loom fails the model if the owner and sysmon's
//! new owner could ever touch it without ordering. The process barrier is modelled
//! by the fallback that owners use without `membarrier`: a SeqCst fence on each side.
//!
//! Run: `RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//! cargo test -p goro-runtime --lib --release loom_`.

use crate::sched::own::{Own, RUNNING, STATE, SYSCALL};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

struct P {
    own: Own,
    /// The owner M's `user` flag.
    user: AtomicBool,
    data: UnsafeCell<u32>,
}

fn touch(p: &P) {
    // SAFETY: only under ownership; loom checks that claim.
    p.data.with_mut(|d| unsafe { *d += 1 });
}

fn new_p() -> (Arc<P>, u64) {
    let p = Arc::new(P { own: Own::new(), user: AtomicBool::new(false), data: UnsafeCell::new(0) });
    let e = p.own.acquire();
    // The owner runs its goroutine's own code.
    p.user.store(true, Ordering::Release);
    (p, e)
}

#[test]
fn loom_own_revoke_against_runtime_calls() {
    loom::model(|| {
        let (p, e) = new_p();
        let p2 = p.clone();
        let sysmon = thread::spawn(move || {
            let w = p2.own.load(Ordering::Acquire);
            if w & STATE != RUNNING || !p2.own.revoke_begin(w) {
                return false;
            }
            fence(Ordering::SeqCst); // the process barrier
            if !p2.user.load(Ordering::Acquire) {
                p2.own.revoke_cancel(w);
                return false;
            }
            if p2.own.revoke_finish(w) {
                touch(&p2); // the P's next owner
                return true;
            }
            false
        });
        let mut calls = 0;
        for _ in 0..2 {
            p.user.store(false, Ordering::Relaxed);
            fence(Ordering::SeqCst); // owner_fence, fallback variant
            if !p.own.check(e) {
                break;
            }
            touch(&p);
            calls += 1;
            p.user.store(true, Ordering::Release);
        }
        let taken = sysmon.join().unwrap();
        if !taken {
            // Nobody took it: the owner made both calls with its P.
            assert_eq!(calls, 2);
        }
    });
}

#[test]
fn loom_own_retake_during_blocking() {
    loom::model(|| {
        let (p, e) = new_p();
        let p2 = p.clone();
        let sysmon = thread::spawn(move || {
            let w = p2.own.load(Ordering::Acquire);
            if w & STATE == SYSCALL && p2.own.retake_syscall(w) {
                touch(&p2);
                return true;
            }
            false
        });
        p.user.store(false, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        assert!(p.own.check(e));
        touch(&p);
        let entered = p.own.enter_syscall(e);
        // ... the blocking call: the owner does not touch the P ...
        let back = entered && p.own.exit_syscall(e);
        if back {
            touch(&p);
        }
        let taken = sysmon.join().unwrap();
        assert!(!(back && taken), "both the owner and sysmon hold the P");
        assert_eq!(taken, entered && !back);
    });
}
