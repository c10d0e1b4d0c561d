//! The public `Sender` and `Receiver`: a `match` over the flavors.
//!
//! # Design
//! A handle is an `Arc` of its flavor's channel. The channel counts live senders and
//! receivers: the last `Sender` dropped closes the channel (Rust's convention; timer
//! channels opt out), the last `Receiver` dropped makes every send fail with its value
//! (std's and crossbeam's rule). `never()` has no channel at all.
//!
//! # Invariants
//! 1. `senders` (`receivers`) equals the number of live `Sender` (`Receiver`) handles of
//!    a zero or array channel; it reaches 0 exactly once.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::err::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::flavors::{array, never, zero};
use crate::proto::{Buffer, Channel, Permit};
use crate::waitq::Waiter;

pub(crate) enum Flavor<T> {
    Zero(Arc<zero::Channel<T>>),
    Array(Arc<array::Channel<T>>),
}

impl<T> Clone for Flavor<T> {
    fn clone(&self) -> Self {
        match self {
            Flavor::Zero(c) => Flavor::Zero(c.clone()),
            Flavor::Array(c) => Flavor::Array(c.clone()),
        }
    }
}

/// Calls the same method on whichever flavor `$f` is.
macro_rules! dispatch {
    ($f:expr, $c:ident => $e:expr) => {
        match $f {
            Flavor::Zero($c) => $e,
            Flavor::Array($c) => $e,
        }
    };
}

/// Creates a channel of capacity `cap`: `bounded(0)` is Go's unbuffered channel
/// (`make(chan T)`), `bounded(n)` a buffered one (`make(chan T, n)`).
///
/// ```
/// let (tx, rx) = goro_chan::bounded(1);
/// tx.send(5).unwrap();
/// assert_eq!(rx.recv(), Ok(5));
/// ```
#[doc(alias = "make")]
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    with_flavor(cap, true)
}

/// A channel whose last `Sender` does not close it (timer channels, as in Go).
pub(crate) fn with_flavor<T>(cap: usize, close_on_drop: bool) -> (Sender<T>, Receiver<T>) {
    let f = if cap == 0 {
        Flavor::Zero(Arc::new(Channel::new(0, close_on_drop)))
    } else {
        Flavor::Array(Arc::new(Channel::new(cap, close_on_drop)))
    };
    (Sender { flavor: f.clone() }, Receiver { flavor: RxFlavor::Chan(f) })
}

/// A receiver that is never ready: Go's nil channel. Useful to switch a `select!` arm
/// off. Receiving from it blocks forever.
#[doc(alias = "nil")]
pub fn never<T>() -> Receiver<T> {
    Receiver { flavor: RxFlavor::Never(never::Channel) }
}

/// The sending half of a channel. `Clone + Send + Sync` when `T: Send`.
pub struct Sender<T> {
    flavor: Flavor<T>,
}

pub(crate) enum RxFlavor<T> {
    Chan(Flavor<T>),
    Never(never::Channel),
}

/// The receiving half of a channel. `Clone + Send + Sync` when `T: Send`.
pub struct Receiver<T> {
    flavor: RxFlavor<T>,
}

// SAFETY: the channel moves `T`s between threads under its lock (and through waiter
// slots, waitq.rs invariants 1-2); nothing hands out `&T`, so `T: Send` suffices, as
// for std's and crossbeam's channels.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: as above; every method takes `&self` and synchronizes internally.
unsafe impl<T: Send> Sync for Sender<T> {}
// SAFETY: as for `Sender`.
unsafe impl<T: Send> Send for Receiver<T> {}
// SAFETY: as for `Sender`.
unsafe impl<T: Send> Sync for Receiver<T> {}

fn counted<T, B: Buffer<T>>(c: &Channel<T, B>, sender: bool) -> &std::sync::atomic::AtomicUsize {
    if sender {
        &c.senders
    } else {
        &c.receivers
    }
}

fn deadline_of(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

impl<T> Sender<T> {
    /// Sends `v`, blocking (parking the goroutine, or the thread) until a receiver or a
    /// buffer slot takes it. Fails only if the channel is closed or every receiver is
    /// gone, giving the value back. Go's `ch <- v` (which would panic on a closed
    /// channel).
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        goro_runtime::coop::check();
        dispatch!(&self.flavor, c => c.send(v, None)).map_err(|e| SendError(e.into_inner()))
    }

    /// Sends without blocking: `Full(v)` if no receiver waits and no slot is free.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        goro_runtime::coop::check();
        dispatch!(&self.flavor, c => c.try_send(v))
    }

    /// Sends, waiting at most `d`.
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        goro_runtime::coop::check();
        dispatch!(&self.flavor, c => c.send(v, deadline_of(d)))
    }

    /// Sends, waiting until `deadline` at the latest.
    pub fn send_deadline(&self, v: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        goro_runtime::coop::check();
        dispatch!(&self.flavor, c => c.send(v, Some(deadline)))
    }

    /// Closes the channel (Go's `close(ch)`): blocked and future sends fail with their
    /// value; receivers drain what is buffered, then get `RecvError`. Returns true if
    /// this call closed it, false if it was already closed (Go would panic).
    pub fn close(&self) -> bool {
        dispatch!(&self.flavor, c => c.close())
    }

    /// Whether the channel is closed, or every receiver is gone (sends would fail).
    pub fn is_closed(&self) -> bool {
        dispatch!(&self.flavor, c => c.is_closed())
    }

    /// Values buffered (Go's `len(ch)`).
    pub fn len(&self) -> usize {
        dispatch!(&self.flavor, c => c.len())
    }

    /// The capacity (Go's `cap(ch)`); 0 for an unbuffered channel.
    pub fn capacity(&self) -> usize {
        dispatch!(&self.flavor, c => c.capacity())
    }

    /// Whether nothing is buffered (always true for an unbuffered channel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full (always true for an unbuffered channel).
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Whether two senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        match (&self.flavor, &other.flavor) {
            (Flavor::Zero(a), Flavor::Zero(b)) => Arc::ptr_eq(a, b),
            (Flavor::Array(a), Flavor::Array(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Waiter entries queued on the channel (dead ones included). For tests of waiter
    /// removal; not a stable API.
    #[doc(hidden)]
    pub fn __waiters(&self) -> usize {
        dispatch!(&self.flavor, c => c.waiters())
    }

    pub(crate) fn poll_send(&self) -> Option<Permit<T>> {
        dispatch!(&self.flavor, c => c.poll_send())
    }

    /// Queues a select arm's lazy send waiter unless the channel is ready (false).
    ///
    /// # Safety
    /// As `Channel::register_send`.
    pub(crate) unsafe fn register_send(&self, w: &Waiter<T>) -> bool {
        // SAFETY: the caller's contract.
        dispatch!(&self.flavor, c => unsafe { c.register_send(w) })
    }

    pub(crate) fn unregister_send(&self, w: &Waiter<T>) {
        dispatch!(&self.flavor, c => c.unregister_send(w))
    }

    pub(crate) fn complete(&self, permit: Permit<T>, v: T) -> Result<(), SendError<T>> {
        dispatch!(&self.flavor, c => c.complete(permit, v)).map_err(SendError)
    }

    pub(crate) fn release(&self, permit: Permit<T>) {
        dispatch!(&self.flavor, c => c.release(permit))
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        dispatch!(&self.flavor, c => counted(c, true).fetch_add(1, Ordering::Relaxed));
        Sender { flavor: self.flavor.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        dispatch!(&self.flavor, c => {
            // Invariant 1: AcqRel so the last one sees every other handle's operations.
            if counted(c, true).fetch_sub(1, Ordering::AcqRel) == 1 && c.close_on_drop {
                c.close();
            }
        })
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> Receiver<T> {
    /// Receives a value, blocking (parking the goroutine, or the thread) until one
    /// arrives. `Err(RecvError)` once the channel is closed and drained. Go's `<-ch`.
    pub fn recv(&self) -> Result<T, RecvError> {
        goro_runtime::coop::check();
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.recv(None)).map_err(|_| RecvError),
            RxFlavor::Never(n) => n.recv(),
        }
    }

    /// Receives without blocking.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        goro_runtime::coop::check();
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.try_recv()),
            RxFlavor::Never(n) => n.try_recv().map(|()| unreachable!()),
        }
    }

    /// Receives, waiting at most `d`.
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        goro_runtime::coop::check();
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.recv(deadline_of(d))),
            RxFlavor::Never(n) => Err(n.recv_timeout(d)),
        }
    }

    /// Receives, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// A blocking iterator: `for v in rx.iter()` (or `for v in &rx`) ends when the
    /// channel is closed and drained (Go's `for v := range ch`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator over the values available right now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Closes the channel (see [`Sender::close`]). Returns true if this call closed it.
    ///
    /// # Panics
    /// On a [`never()`] receiver, with Go's `close of nil channel`.
    pub fn close(&self) -> bool {
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.close()),
            RxFlavor::Never(_) => panic!("close of nil channel"),
        }
    }

    /// Whether the channel is closed (a [`never()`] receiver never is).
    pub fn is_closed(&self) -> bool {
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.is_closed()),
            RxFlavor::Never(_) => false,
        }
    }

    /// Values buffered (Go's `len(ch)`).
    pub fn len(&self) -> usize {
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.len()),
            RxFlavor::Never(_) => 0,
        }
    }

    /// The capacity (Go's `cap(ch)`).
    pub fn capacity(&self) -> usize {
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.capacity()),
            RxFlavor::Never(_) => 0,
        }
    }

    /// Whether nothing is buffered (always true for an unbuffered channel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full (always true for an unbuffered channel).
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Whether two receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        match (&self.flavor, &other.flavor) {
            (RxFlavor::Chan(Flavor::Zero(a)), RxFlavor::Chan(Flavor::Zero(b))) => Arc::ptr_eq(a, b),
            (RxFlavor::Chan(Flavor::Array(a)), RxFlavor::Chan(Flavor::Array(b))) => {
                Arc::ptr_eq(a, b)
            }
            _ => false,
        }
    }

    /// Waiter entries queued on the channel (dead ones included). For tests of waiter
    /// removal; not a stable API.
    #[doc(hidden)]
    pub fn __waiters(&self) -> usize {
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.waiters()),
            RxFlavor::Never(_) => 0,
        }
    }

    pub(crate) fn poll_recv(&self) -> Option<Result<T, ()>> {
        match &self.flavor {
            RxFlavor::Chan(f) => dispatch!(f, c => c.poll_recv()),
            RxFlavor::Never(_) => None,
        }
    }

    /// Queues a select arm's receive waiter: `None` if the channel is ready now;
    /// `Some(queued)` otherwise, `queued` false for a never channel (nothing to remove
    /// later).
    ///
    /// # Safety
    /// As `Channel::register_recv`.
    pub(crate) unsafe fn register_recv(&self, w: &Waiter<T>) -> Option<bool> {
        match &self.flavor {
            // SAFETY: the caller's contract.
            RxFlavor::Chan(f) => dispatch!(f, c => unsafe { c.register_recv(w) }).then_some(true),
            RxFlavor::Never(_) => Some(false),
        }
    }

    pub(crate) fn unregister_recv(&self, w: &Waiter<T>) {
        if let RxFlavor::Chan(f) = &self.flavor {
            dispatch!(f, c => c.unregister_recv(w))
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        match &self.flavor {
            RxFlavor::Chan(f) => {
                dispatch!(f, c => counted(c, false).fetch_add(1, Ordering::Relaxed));
                Receiver { flavor: RxFlavor::Chan(f.clone()) }
            }
            RxFlavor::Never(n) => Receiver { flavor: RxFlavor::Never(*n) },
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let RxFlavor::Chan(f) = &self.flavor {
            dispatch!(f, c => {
                if counted(c, false).fetch_sub(1, Ordering::AcqRel) == 1 {
                    c.disconnect_receivers();
                }
            })
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// Blocking iterator of [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator of [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator: `for v in rx`.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
