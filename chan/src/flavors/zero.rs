//! The unbuffered flavor (`bounded(0)`): a rendezvous with direct handoff.
//!
//! # Design
//! There is no buffer: a sender that finds a waiting receiver writes the value straight
//! into the receiver's slot and wakes it; a receiver that finds a waiting sender takes
//! the value out of the sender's slot. Otherwise the operation queues itself (FIFO) and
//! parks. All of this is the shared protocol in proto.rs with [`NoBuffer`], whose every
//! method is a constant, so the compiler removes the buffer paths entirely.
//!
//! # Invariants
//! 1. `len()` is always 0; `capacity()` is 0; an unbuffered channel is both empty and
//!    full (API.md).
//! 2. A live receiver and a live eager sender are never queued at the same time on one
//!    channel (whoever came second completed the handoff instead of queueing).

use crate::proto::{self, Buffer};

/// The unbuffered channel.
pub(crate) type Channel<T> = proto::Channel<T, NoBuffer>;

/// No storage: every `push` would break invariant 1 of proto.rs (`cap` is 0).
#[derive(Debug, Default)]
pub(crate) struct NoBuffer;

impl<T> Buffer<T> for NoBuffer {
    #[inline]
    fn with_capacity(cap: usize) -> Self {
        debug_assert_eq!(cap, 0);
        NoBuffer
    }

    #[inline]
    fn len(&self) -> usize {
        0
    }

    #[inline]
    fn push(&mut self, _v: T) {
        unreachable!("chan: push into an unbuffered channel");
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        None
    }

    #[inline]
    fn take_all(&mut self) -> Self {
        NoBuffer
    }
}
