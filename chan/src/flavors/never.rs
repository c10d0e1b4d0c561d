//! The never-ready flavor: Go's nil channel (`never()`).
//!
//! Receiving blocks forever (the goroutine parks with `chan receive (nil chan)`, so
//! deadlock detection reports it when nothing else can run); `try_recv` is always
//! `Empty`; in `select!` its arm is simply never chosen. It has no state at all.

use std::time::{Duration, Instant};

use goro_runtime::park::{self, WaitReason};

use crate::err::{RecvTimeoutError, TryRecvError};

/// A channel that never delivers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Channel;

impl Channel {
    /// Blocks forever.
    pub(crate) fn recv(&self) -> ! {
        loop {
            // No unparker is ever taken for this park: only deadlock detection ends it.
            park::park(WaitReason::ChanReceiveNilChan);
        }
    }

    /// Always `Empty`.
    pub(crate) fn try_recv(&self) -> Result<(), TryRecvError> {
        Err(TryRecvError::Empty)
    }

    /// Waits `d`, then times out.
    pub(crate) fn recv_timeout(&self, d: Duration) -> RecvTimeoutError {
        let deadline = Instant::now().checked_add(d);
        match deadline {
            None => self.recv(),
            Some(deadline) => {
                while Instant::now() < deadline {
                    park::park_until(WaitReason::ChanReceiveNilChan, deadline, || true);
                }
                RecvTimeoutError::Timeout
            }
        }
    }
}
