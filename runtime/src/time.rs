//! `goro::time::sleep` (Go's `time.Sleep`): parks the goroutine on a runtime timer.

use std::time::{Duration, Instant};

use crate::sched::park::{self, WaitReason};

/// Pauses the current goroutine for at least `d` (Go's `time.Sleep`).
///
/// Parks the goroutine, not the thread: other goroutines run meanwhile. `sleep(0)`
/// returns at once. On a plain OS thread it is `std::thread::sleep`.
#[doc(alias = "Sleep")]
pub fn sleep(d: Duration) {
    crate::sched::preempt::check();
    if d.is_zero() {
        return;
    }
    if crate::sched::current_id().is_none() {
        std::thread::sleep(d);
        return;
    }
    let deadline = Instant::now() + d;
    let u = park::unparker();
    crate::timer::add_unpark(deadline, u);
    park::park(WaitReason::Sleep);
}
