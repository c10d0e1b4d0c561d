//! Deadlocks on channels are reported with Go's wait reasons. This file holds one
//! test so that no other test thread of this binary runs beside the scenarios.

use std::time::Duration;

use goro_chan::{bounded, never, select};

/// Runs `f` as the main goroutine of a fresh 1-P runtime and returns the deadlock
/// report it panics with. Fails (instead of hanging) if no report comes in 20 s.
fn deadlock_report(f: impl FnOnce() + Send + 'static) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            goro_runtime::Runtime::builder().procs(1).build().unwrap().block_on(f)
        }));
        let _ = tx.send(r.err().map(|p| p.downcast_ref::<String>().cloned().unwrap_or_default()));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Some(msg)) => msg,
        Ok(None) => panic!("block_on returned: no deadlock reported"),
        Err(_) => panic!("the runtime's deadlock detection did not report within 20 s"),
    }
}

/// One test function runs every scenario in turn: deadlock detection stays silent
/// while another thread of the process is running (another test, say), so scenarios
/// in parallel test threads could hide each other's reports.
#[test]
fn deadlocks_are_reported() {
    blocking_forever_is_a_deadlock();
    empty_select_is_a_deadlock();
    blocked_channel_receive_is_a_deadlock();
}

fn blocking_forever_is_a_deadlock() {
    let msg = deadlock_report(|| {
        let _ = never::<u8>().recv();
    });
    assert!(msg.contains("all goroutines are asleep - deadlock!"), "{msg}");
    assert!(msg.contains("[chan receive (nil chan)]"), "{msg}");
}

fn empty_select_is_a_deadlock() {
    let msg = deadlock_report(|| select! {});
    assert!(msg.contains("[select (no cases)]"), "{msg}");
}

fn blocked_channel_receive_is_a_deadlock() {
    let msg = deadlock_report(|| {
        let (_tx, rx) = bounded::<u8>(0);
        let _ = rx.recv();
    });
    assert!(msg.contains("[chan receive]"), "{msg}");
}
