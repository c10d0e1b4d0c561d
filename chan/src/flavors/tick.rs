//! Channels fed by a periodic runtime timer: `time::tick` (Go's `time.Tick`).
//!
//! # Design
//! A buffered channel of capacity 1 that never closes. Each firing does a non-blocking
//! send (a reader that is behind misses ticks instead of queueing them, as in Go), after
//! re-arming the timer for the next multiple of the period after now, so a late firing
//! does not cause a burst. The chain stops at the first firing that finds every
//! receiver gone, so dropping the receiver releases the timer.
//!
//! # Invariants
//! 1. At most one tick is buffered; ticks are spaced by at least one period, measured
//!    from the first deadline.

use std::time::{Duration, Instant};

use goro_runtime::timer::TimerHandle;

use crate::chan::{with_flavor, Receiver, Sender};

/// Go's `time.Tick`: a receiver that gets the current time every `period`. Slow
/// readers miss ticks.
///
/// # Panics
/// If `period` is zero: `non-positive interval for goro::time::tick`.
#[doc(alias = "Tick")]
pub fn tick(period: Duration) -> Receiver<Instant> {
    assert!(!period.is_zero(), "non-positive interval for goro::time::tick");
    let (tx, rx) = with_flavor(1, false);
    let Some(first) = Instant::now().checked_add(period) else {
        // Never fires: a period beyond `Instant`'s range.
        drop(tx);
        return rx;
    };
    schedule(tx, first, period);
    rx
}

fn schedule(tx: Sender<Instant>, when: Instant, period: Duration) {
    let h = TimerHandle::after_fn(when, move || {
        if tx.is_closed() {
            // Every receiver is gone: end the chain.
            return;
        }
        let now = Instant::now();
        // Re-arm before sending, as Go's timer loop does: a reader woken by this tick
        // always finds the next one pending. The next deadline is the next multiple of
        // `period` after now (skipping missed ones).
        let behind = now.saturating_duration_since(when).as_nanos() / period.as_nanos();
        let skip = u32::try_from(behind + 1).unwrap_or(u32::MAX);
        if let Some(next) = period.checked_mul(skip).and_then(|p| when.checked_add(p)) {
            schedule(tx.clone(), next, period);
        }
        // Full: a slow reader misses this tick. Closed since the check above: the next
        // firing ends the chain.
        let _ = tx.try_send(now);
    });
    drop(h);
}
