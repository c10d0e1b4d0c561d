//! The buffered flavor (`bounded(n)`, n > 0): a FIFO ring of `n` slots.
//!
//! # Design
//! The ring is a `VecDeque` allocated once with capacity `n` and never grown (proto.rs
//! invariant 1 keeps `len <= n`). Senders push while there is room; a receiver pops
//! the oldest value and refills the freed slot from the first waiting sender, so
//! senders blocked on a full channel deliver in FIFO order. A sender that finds a
//! waiting receiver (the ring is then empty) hands the value over directly.
//! Rejected: a lock-free ring with per-slot stamps (crossbeam's): every operation here
//! already needs the lock to look at the waiter queues when the ring is empty or full,
//! and one uncontended lock costs about as much as the stamp CASes.
//!
//! # Invariants
//! 1. `ring.len() <= n` and the ring never reallocates.
//! 2. Values leave the ring exactly once (proto.rs invariant 5).

use std::collections::VecDeque;

use crate::proto::{self, Buffer};

/// The buffered channel.
pub(crate) type Channel<T> = proto::Channel<T, Ring<T>>;

/// A fixed-capacity FIFO ring.
pub(crate) struct Ring<T> {
    q: VecDeque<T>,
}

impl<T> Buffer<T> for Ring<T> {
    fn with_capacity(cap: usize) -> Self {
        Ring { q: VecDeque::with_capacity(cap) }
    }

    #[inline]
    fn len(&self) -> usize {
        self.q.len()
    }

    #[inline]
    fn push(&mut self, v: T) {
        self.q.push_back(v);
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.q.pop_front()
    }

    fn take_all(&mut self) -> Self {
        Ring { q: std::mem::take(&mut self.q) }
    }
}
