//! Deadlocks on sync primitives are reported with Go's wait reasons.
//!
//! One test function runs every scenario in turn: deadlock detection stays silent
//! while any plain thread that used the runtime is running, and the runtime does not
//! re-check when such a thread exits, so parallel test threads could hide a report.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use common::{panic_message, rt};
use goro_sync::{Mutex, RwMutex, WaitGroup};

fn deadlock_report(f: impl FnOnce() + Send + 'static) -> String {
    let r = rt(2);
    let e = catch_unwind(AssertUnwindSafe(|| r.block_on(f))).expect_err("no deadlock reported");
    panic_message(&*e)
}

#[test]
fn deadlocks_are_reported() {
    mutex_locked_twice();
    waitgroup_never_done();
    rwmutex_reader_behind_writer();
}

fn mutex_locked_twice() {
    let msg = deadlock_report(|| {
        let m = Mutex::new(());
        let _a = m.lock();
        let _b = m.lock();
    });
    assert!(msg.contains("all goroutines are asleep - deadlock!"), "{msg}");
    assert!(msg.contains("[sync.Mutex.Lock]"), "{msg}");
}

fn waitgroup_never_done() {
    let msg = deadlock_report(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        wg.wait();
    });
    assert!(msg.contains("all goroutines are asleep - deadlock!"), "{msg}");
    assert!(msg.contains("[sync.WaitGroup.Wait]"), "{msg}");
}

fn rwmutex_reader_behind_writer() {
    let msg = deadlock_report(|| {
        let m = Arc::new(RwMutex::new(()));
        let _r = m.read();
        let m2 = m.clone();
        let _w = goro_runtime::spawn(move || drop(m2.write()));
        goro_runtime::sleep(std::time::Duration::from_millis(10));
        // A recursive read lock behind a waiting writer: Go deadlocks too.
        let _r2 = m.read();
    });
    assert!(msg.contains("[sync.RWMutex.RLock]"), "{msg}");
    assert!(msg.contains("[sync.RWMutex.Lock]"), "{msg}");
}
