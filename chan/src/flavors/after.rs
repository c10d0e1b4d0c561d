//! Channels fed by a one-shot runtime timer: `time::after` and [`Timer`] (Go's
//! `time.After` and `time.Timer`).
//!
//! # Design
//! As in Go, the channel is a buffered channel of capacity 1 that never closes, and the
//! timer's callback does a non-blocking send of the current `Instant` (it runs on a
//! scheduler thread and must not block). `after(d)` is a timer nobody can stop.
//!
//! `Timer` keeps its runtime timer and a *sequence number* under one small mutex. The
//! callback of the timer started at sequence `s` sends only if the sequence is still
//! `s`, and it checks and sends under that mutex. `stop` and `reset` bump the sequence,
//! stop the runtime timer and drain the channel, all under the mutex, so no value of an
//! earlier arming can be received after they return (Go 1.23 semantics).
//!
//! # Invariants
//! 1. At most one value of the current arming is ever sent, and none of an older one
//!    after `stop`/`reset` returned.
//!
//! # Lock order
//! `Timer::state` > channel lock. The callback runs with no runtime timer lock held.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use goro_runtime::timer::TimerHandle;

use crate::chan::{with_flavor, Receiver, Sender};

fn deadline_of(d: Duration) -> Instant {
    let now = Instant::now();
    // A deadline beyond `Instant`'s range is "never": a century is as good.
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Go's `time.After`: a receiver that gets the current time once, after `d`.
///
/// The channel never closes; once its value is taken, receiving again blocks forever.
#[doc(alias = "After")]
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = with_flavor(1, false);
    let h = TimerHandle::after_fn(deadline_of(d), move || {
        let _ = tx.try_send(Instant::now());
    });
    drop(h);
    rx
}

struct State {
    /// The current arming's runtime timer (`None` after `stop`).
    handle: Option<TimerHandle>,
    /// Bumped by `stop` and `reset` (invariant 1).
    seq: u64,
}

struct Shared {
    /// Protects the arming; see the module docs.
    state: Mutex<State>,
    tx: Sender<Instant>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Go's `time.Timer`: sends the current time on its channel once, after a duration.
///
/// ```
/// use std::time::Duration;
/// let t = goro_chan::time::Timer::new(Duration::from_millis(1));
/// assert!(t.receiver().recv().is_ok());
/// ```
#[doc(alias = "NewTimer")]
pub struct Timer {
    shared: Arc<Shared>,
    rx: Receiver<Instant>,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").field("active", &self.is_active()).finish()
    }
}

fn arm(shared: &Arc<Shared>, st: &mut State, d: Duration) {
    let seq = st.seq;
    let s = shared.clone();
    st.handle = Some(TimerHandle::after_fn(deadline_of(d), move || {
        let st = s.lock();
        if st.seq == seq {
            let _ = s.tx.try_send(Instant::now());
        }
    }));
}

impl Timer {
    /// A timer that fires after `d`.
    pub fn new(d: Duration) -> Timer {
        let (tx, rx) = with_flavor(1, false);
        let shared = Arc::new(Shared { state: Mutex::new(State { handle: None, seq: 0 }), tx });
        {
            let mut st = shared.lock();
            arm(&shared, &mut st, d);
        }
        Timer { shared, rx }
    }

    /// The channel the time is sent on (Go's `Timer.C`).
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    fn is_active(&self) -> bool {
        self.shared.lock().handle.as_ref().is_some_and(|h| !h.fired())
    }

    /// Stops the timer. Returns true if it was active (had not fired yet). Afterwards
    /// no value is pending on the channel (Go 1.23's `Stop`).
    #[doc(alias = "Stop")]
    pub fn stop(&self) -> bool {
        let mut st = self.shared.lock();
        st.seq += 1;
        let active = st.handle.take().is_some_and(|h| h.stop());
        while self.rx.try_recv().is_ok() {}
        active
    }

    /// Re-arms the timer to fire after `d`. Returns true if it was active. No value of
    /// the previous arming is received afterwards (Go 1.23's `Reset`).
    #[doc(alias = "Reset")]
    pub fn reset(&self, d: Duration) -> bool {
        let mut st = self.shared.lock();
        st.seq += 1;
        let active = st.handle.take().is_some_and(|h| h.stop());
        while self.rx.try_recv().is_ok() {}
        arm(&self.shared, &mut st, d);
        active
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Breaks the Arc cycle through the pending callback.
        let mut st = self.shared.lock();
        st.seq += 1;
        if let Some(h) = st.handle.take() {
            h.stop();
        }
    }
}
