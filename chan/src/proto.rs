//! The channel protocol shared by the unbuffered and buffered flavors (Go's `hchan`).
//!
//! # Design
//! One lock per channel guards the buffer, both waiter queues and the closed flags,
//! as in Go's `hchan.lock`. It is the runtime's [`Lock`] (spin in bursts, then sleep),
//! not `std::sync::Mutex`, whose spinning steals the line from the holder when two Ps
//! hammer one channel (goro_runtime's lock.rs has the measurements). The flavors differ
//! only in their [`Buffer`]:
//! [`zero`](crate::flavors::zero) has none (every send is a handoff to a waiting
//! receiver), [`array`](crate::flavors::array) a fixed-capacity FIFO ring.
//!
//! - send: closed -> error with the value; a live receiver waits -> claim it and move
//!   the value straight into its slot (direct handoff, both flavors); room in the
//!   buffer -> push; otherwise queue an entry with the value on our stack and park.
//! - recv: a buffered value -> pop it, then refill the freed slot from the first waiting
//!   sender (so a full channel with waiting senders stays FIFO); no buffer value but a
//!   waiting sender (unbuffered) -> take its value; closed -> `RecvError`; otherwise
//!   queue an empty slot and park.
//! - close: set `closed`, claim every waiter as "closed": receivers get `RecvError`,
//!   senders get their value back.
//! - last `Receiver` gone (`rx_gone`): sends fail with their value, blocked senders wake
//!   with it, buffered values are dropped (outside the lock).
//!
//! `select!` uses the same primitives: `poll_*` (try without blocking), `register_*`
//! (queue an entry unless the channel is ready), `unregister` (O(1) removal by key).
//! A send arm that fires against a waiting receiver or a free slot gets a [`Permit`]:
//! the receiver is claimed (or the slot `reserved`) before its value is built, and the
//! permit is completed once the value exists, without holding the lock meanwhile (the
//! value expression may use the same channel).
//!
//! Wake-ups (`unpark`) happen after the lock is released where the waker is known
//! (handoffs, close); notifications of lazy select senders happen under the lock.
//!
//! # Invariants
//! 1. `buf.len() + reserved <= cap`.
//! 2. A live receiver entry is queued only while `buf` is empty.
//! 3. A live eager sender entry is queued only while `buf.len() + reserved == cap`.
//! 4. After `closed` or `rx_gone` is set, no entry is ever queued again and none stays
//!    queued live.
//! 5. Buffered values are dropped exactly once: popped by a receiver, taken out when the
//!    last receiver goes, or dropped with the channel.
//!
//! # Memory ordering
//! Everything is under the mutex, except the `closed_hint` flag (Relaxed, for
//! `is_closed`) and waiter hand-offs, described in waitq.rs.
//!
//! # References
//! go/src/runtime/chan.go (chansend, chanrecv, closechan).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use goro_runtime::lock::{Lock, LockGuard};
use goro_runtime::park::WaitReason;

use crate::err::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use crate::waitq::{Claimed, Ctx, Outcome, WaitQueue, Waiter, Wake};

/// Storage of buffered values: none (unbuffered) or a ring.
pub(crate) trait Buffer<T>: Sized {
    /// An empty buffer for a channel of capacity `cap`.
    fn with_capacity(cap: usize) -> Self;
    /// Values buffered.
    fn len(&self) -> usize;
    /// Appends a value; the caller checked invariant 1.
    fn push(&mut self, v: T);
    /// Removes the oldest value.
    fn pop(&mut self) -> Option<T>;
    /// Takes every value out (to drop them outside the lock).
    fn take_all(&mut self) -> Self;
}

/// `repr(C)`, in this order: what every operation reads or writes comes first, next to
/// the lock word (see [`Channel`]).
#[repr(C)]
struct Inner<T, B> {
    closed: bool,
    rx_gone: bool,
    /// Slots promised to select send arms whose values are being built (invariant 1).
    reserved: usize,
    buf: B,
    recvq: WaitQueue<T>,
    sendq: WaitQueue<T>,
}

/// A reservation of a send arm that fired (see the module docs).
pub(crate) enum Permit<T> {
    /// A claimed waiting receiver: put the value into its slot.
    Receiver(Claimed<T>),
    /// A reserved buffer slot.
    Slot,
    /// The channel is closed: the arm fires with `Err(SendError(v))`.
    Closed,
}

enum SendNow<T> {
    Done(Option<Wake>),
    Full(T),
    Closed(T),
}

enum RecvNow<T> {
    Ready(T, Option<Wake>),
    Empty,
    Closed,
}

/// A channel: the flavors are `Channel<T, NoBuffer>` and `Channel<T, Ring<T>>`.
///
/// Cache-line aligned, the lock word first and the hot part of [`Inner`] right after
/// it: a buffered operation then touches one line of the channel (besides the value's
/// slot and the queue heads, which only change when someone parks), and the next
/// holder on another core pulls it over once.
#[repr(C, align(64))]
pub(crate) struct Channel<T, B> {
    inner: Lock<Inner<T, B>>,
    cap: usize,
    /// Relaxed mirror of `closed || rx_gone`, for `is_closed` without the lock.
    closed_hint: AtomicBool,
    /// Live `Sender`s. Atomic: incremented by clones, decremented by drops (AcqRel).
    pub(crate) senders: AtomicUsize,
    /// Live `Receiver`s (same discipline).
    pub(crate) receivers: AtomicUsize,
    /// Whether the last `Sender` going closes the channel (false for timer channels,
    /// which never close, as in Go).
    pub(crate) close_on_drop: bool,
}

/// Wakes `w`'s waiter, if any. By reference: moving the `Option<Wake>` copies it
/// with a 16-byte load of the two words just stored separately, a store-forwarding
/// stall on every handoff.
#[inline(always)]
fn wake(w: &Option<Wake>) {
    if let Some(w) = w {
        w.wake();
    }
}

impl<T, B: Buffer<T>> Inner<T, B> {
    fn has_room(&self, cap: usize) -> bool {
        self.buf.len() + self.reserved < cap
    }

    fn send_now(&mut self, v: T, cap: usize) -> SendNow<T> {
        if self.closed || self.rx_gone {
            return SendNow::Closed(v);
        }
        if let Some(mut c) = self.recvq.claim_receiver(None) {
            c.put(v);
            return SendNow::Done(Some(c.finish()));
        }
        if self.has_room(cap) {
            self.buf.push(v);
            return SendNow::Done(None);
        }
        SendNow::Full(v)
    }

    fn recv_now(&mut self) -> RecvNow<T> {
        if let Some(v) = self.buf.pop() {
            // Refill the freed slot from the first waiting sender (invariant 3).
            let w = self.sendq.claim_sender(None).map(|mut c| {
                self.buf.push(c.take());
                c.finish()
            });
            return RecvNow::Ready(v, w);
        }
        if let Some(mut c) = self.sendq.claim_sender(None) {
            let v = c.take();
            return RecvNow::Ready(v, Some(c.finish()));
        }
        if self.closed {
            return RecvNow::Closed;
        }
        RecvNow::Empty
    }
}

#[inline]
fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

impl<T, B: Buffer<T>> Channel<T, B> {
    /// A channel of capacity `cap` with one sender and one receiver counted.
    pub(crate) fn new(cap: usize, close_on_drop: bool) -> Channel<T, B> {
        Channel {
            inner: Lock::new(Inner {
                buf: B::with_capacity(cap),
                reserved: 0,
                recvq: WaitQueue::new(),
                sendq: WaitQueue::new(),
                closed: false,
                rx_gone: false,
            }),
            cap,
            closed_hint: AtomicBool::new(false),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            close_on_drop,
        }
    }

    #[inline]
    fn lock(&self) -> LockGuard<'_, Inner<T, B>> {
        self.inner.lock()
    }

    /// Capacity (0: unbuffered).
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Values buffered.
    pub(crate) fn len(&self) -> usize {
        self.lock().buf.len()
    }

    /// Whether `close` was called (or every receiver is gone).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed_hint.load(Ordering::Relaxed) || {
            let g = self.lock();
            g.closed || g.rx_gone
        }
    }

    /// Entries in both waiter queues (dead ones included): for tests.
    pub(crate) fn waiters(&self) -> usize {
        let g = self.lock();
        g.recvq.len() + g.sendq.len()
    }

    /// Sends without blocking.
    pub(crate) fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let mut g = self.lock();
        match g.send_now(v, self.cap) {
            SendNow::Done(w) => {
                drop(g);
                wake(&w);
                Ok(())
            }
            SendNow::Full(v) => Err(TrySendError::Full(v)),
            SendNow::Closed(v) => Err(TrySendError::Closed(v)),
        }
    }

    /// Sends, blocking until a receiver or a slot takes the value, the channel
    /// closes, or `deadline` passes.
    pub(crate) fn send(
        &self,
        mut v: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        loop {
            let mut g = self.lock();
            match g.send_now(v, self.cap) {
                SendNow::Done(w) => {
                    drop(g);
                    wake(&w);
                    return Ok(());
                }
                SendNow::Closed(v) => return Err(SendTimeoutError::Closed(v)),
                SendNow::Full(back) => v = back,
            }
            if passed(deadline) {
                return Err(SendTimeoutError::Timeout(v));
            }
            let mut slot = Some(v);
            let ctx = Ctx::for_plain(deadline);
            let w = Waiter::new(&ctx, 0, &raw mut slot);
            // SAFETY: `w` stays in this frame until a receiver takes it or we remove
            // it below (waitq.rs invariant 1).
            unsafe { g.sendq.push_back(&w) };
            let out = ctx.block_releasing(WaitReason::ChanSend, g, deadline);
            if !matches!(out, Outcome::Selected { .. }) {
                self.lock().sendq.remove(&w);
            }
            // Invariant 1 of waitq.rs: the wait is over, nobody touches `slot` now.
            match out {
                Outcome::Selected { closed: false, .. } => return Ok(()),
                Outcome::Selected { closed: true, .. } => {
                    return Err(SendTimeoutError::Closed(
                        slot.take().expect("value back on close"),
                    ));
                }
                Outcome::Retry | Outcome::Aborted => v = slot.take().expect("value kept on abort"),
            }
        }
    }

    /// Receives without blocking.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut g = self.lock();
        match g.recv_now() {
            RecvNow::Ready(v, w) => {
                drop(g);
                wake(&w);
                Ok(v)
            }
            RecvNow::Empty => Err(TryRecvError::Empty),
            RecvNow::Closed => Err(TryRecvError::Closed),
        }
    }

    /// Receives, blocking until a value arrives, the channel is closed and drained,
    /// or `deadline` passes.
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            let mut g = self.lock();
            match g.recv_now() {
                RecvNow::Ready(v, w) => {
                    drop(g);
                    wake(&w);
                    return Ok(v);
                }
                RecvNow::Closed => return Err(RecvTimeoutError::Closed),
                RecvNow::Empty => {}
            }
            if passed(deadline) {
                return Err(RecvTimeoutError::Timeout);
            }
            let mut slot: Option<T> = None;
            let ctx = Ctx::for_plain(deadline);
            let w = Waiter::new(&ctx, 0, &raw mut slot);
            // SAFETY: `w` stays in this frame until a sender takes it or we remove it
            // below (waitq.rs invariant 1).
            unsafe { g.recvq.push_back(&w) };
            // Blocked select send arms can complete against us now.
            g.sendq.notify_lazy(Some(&ctx));
            let out = ctx.block_releasing(WaitReason::ChanReceive, g, deadline);
            if !matches!(out, Outcome::Selected { .. }) {
                self.lock().recvq.remove(&w);
            }
            match out {
                Outcome::Selected { closed: false, .. } => {
                    return Ok(slot.take().expect("a receiver woken without its value"));
                }
                Outcome::Selected { closed: true, .. } => return Err(RecvTimeoutError::Closed),
                Outcome::Retry | Outcome::Aborted => {}
            }
        }
    }

    /// Closes the channel. Returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut wake_all = Vec::new();
        {
            let mut g = self.lock();
            if g.closed {
                return false;
            }
            g.closed = true;
            self.closed_hint.store(true, Ordering::Relaxed);
            g.recvq.close_all(&mut wake_all);
            g.sendq.close_all(&mut wake_all);
        }
        for u in wake_all {
            u.unpark();
        }
        true
    }

    /// The last receiver is gone: fail sends, wake blocked senders with their values,
    /// drop buffered values (outside the lock).
    pub(crate) fn disconnect_receivers(&self) {
        let mut wake_all = Vec::new();
        let values = {
            let mut g = self.lock();
            g.rx_gone = true;
            self.closed_hint.store(true, Ordering::Relaxed);
            g.sendq.close_all(&mut wake_all);
            g.recvq.close_all(&mut wake_all);
            g.buf.take_all()
        };
        for u in wake_all {
            u.unpark();
        }
        drop(values);
    }

    // ---- select support ------------------------------------------------------------

    /// A receive arm's poll: `Some` if it can complete now (and did).
    pub(crate) fn poll_recv(&self) -> Option<Result<T, ()>> {
        match self.try_recv() {
            Ok(v) => Some(Ok(v)),
            Err(TryRecvError::Closed) => Some(Err(())),
            Err(TryRecvError::Empty) => None,
        }
    }

    /// Queues the receive waiter `w` of a select arm, unless the channel is ready
    /// (then false: the select polls again).
    ///
    /// # Safety
    /// As [`WaitQueue::push_back`]: `w` is in no queue and stays where it is until it
    /// is taken or [`unregister_recv`](Self::unregister_recv)ed.
    pub(crate) unsafe fn register_recv(&self, w: &Waiter<T>) -> bool {
        let mut g = self.lock();
        if g.buf.len() > 0 || g.closed || g.sendq.has_live(Some(w.ctx()), true) {
            return false;
        }
        // SAFETY: the caller's contract.
        unsafe { g.recvq.push_back(w) };
        g.sendq.notify_lazy(Some(w.ctx()));
        true
    }

    /// Removes a receive waiter (O(1); a no-op if it was taken).
    pub(crate) fn unregister_recv(&self, w: &Waiter<T>) {
        self.lock().recvq.remove(w);
    }

    /// A send arm's poll: a permit if the arm can fire now.
    pub(crate) fn poll_send(&self) -> Option<Permit<T>> {
        let mut g = self.lock();
        if g.closed || g.rx_gone {
            return Some(Permit::Closed);
        }
        if let Some(c) = g.recvq.claim_receiver(None) {
            return Some(Permit::Receiver(c));
        }
        if g.has_room(self.cap) {
            g.reserved += 1;
            return Some(Permit::Slot);
        }
        None
    }

    /// Queues the lazy send waiter `w` (null slot) of a select arm, unless the channel
    /// is ready (then false).
    ///
    /// # Safety
    /// As [`register_recv`](Self::register_recv).
    pub(crate) unsafe fn register_send(&self, w: &Waiter<T>) -> bool {
        let mut g = self.lock();
        let ctx = w.ctx();
        if g.closed || g.rx_gone || g.has_room(self.cap) || g.recvq.has_live(Some(ctx), false) {
            return false;
        }
        // SAFETY: the caller's contract.
        unsafe { g.sendq.push_back(w) };
        true
    }

    /// Removes a send waiter (O(1); a no-op if it was taken).
    pub(crate) fn unregister_send(&self, w: &Waiter<T>) {
        self.lock().sendq.remove(w);
    }

    /// Completes a fired send arm with its value.
    pub(crate) fn complete(&self, permit: Permit<T>, v: T) -> Result<(), T> {
        match permit {
            Permit::Receiver(mut c) => {
                c.put(v);
                c.finish().wake();
                Ok(())
            }
            Permit::Slot => {
                let mut g = self.lock();
                g.reserved -= 1;
                match g.send_now(v, self.cap) {
                    SendNow::Done(w) => {
                        drop(g);
                        wake(&w);
                        Ok(())
                    }
                    // Closed after the reservation: the send linearizes after close.
                    SendNow::Closed(v) => {
                        let w = Self::refill(&mut g);
                        drop(g);
                        wake(&w);
                        Err(v)
                    }
                    SendNow::Full(_) => unreachable!("chan: a reserved slot was taken"),
                }
            }
            Permit::Closed => Err(v),
        }
    }

    /// Gives back a permit that was not used (its arm's value expression panicked).
    pub(crate) fn release(&self, permit: Permit<T>) {
        match permit {
            // Dropping the claim abandons it: the receiver retries.
            Permit::Receiver(c) => drop(c),
            Permit::Slot => {
                let mut g = self.lock();
                g.reserved -= 1;
                let w = Self::refill(&mut g);
                drop(g);
                wake(&w);
            }
            Permit::Closed => {}
        }
    }

    /// A slot was freed without a pop: move the first waiting sender's value in.
    fn refill(g: &mut Inner<T, B>) -> Option<Wake> {
        if g.closed || g.rx_gone {
            return None;
        }
        g.sendq.claim_sender(None).map(|mut c| {
            g.buf.push(c.take());
            c.finish()
        })
    }
}
