//! `select!`: wait on several channel operations, fire exactly one.
//!
//! # Design
//! The macro turns each arm into a *case* object (`RecvCase`, `SendCase`) that borrows
//! its channel handle, and calls [`select`] with them. `select` loops:
//!
//! 1. *Poll* every case once, in a fresh random order; the first that can complete does
//!    (a receive takes its value; a send gets a [`Permit`]). For a random permutation,
//!    the first ready case in it is uniformly distributed over the ready cases.
//! 2. With `default`, stop there; past a `default(timeout)` deadline, stop too.
//! 3. *Register* a waiter entry on every channel, all pointing at one `Ctx` on our
//!    stack. A channel that turned ready meanwhile stops the registration: we abort
//!    our own ctx and poll again.
//! 4. *Park* until a waker claims one of our entries (or notifies, or the deadline).
//! 5. *Unregister* every entry, O(1) each by key (the claimed one is already gone), and
//!    finish the claimed case, or poll again after a notification or an abort.
//!
//! A claim is a CAS on the shared ctx, so two channels can never both fire one select
//! (waitq.rs). Receive arms wait with an empty slot that a sender fills. Send arms wait
//! *lazily*, without a value (it is built only when the arm fires): a receiver that
//! finds one notifies it, and the select, polling again, finds that receiver waiting
//! and hands over a freshly built value. One consequence: a non-blocking receive
//! (`try_recv`, or a select with `default`) does not see a value offered only by a
//! *blocked select send arm* on an unbuffered channel; a blocking receive does.
//!
//! Channel expressions are evaluated once, in order, before anything else; a send
//! arm's value expression only in the branch of the fired arm, after its permit was
//! obtained and without any lock held.
//!
//! # Invariants
//! 1. A case is registered on its channel only between steps 3 and 5 of one round; after
//!    `select` returns, none of its entries is queued anywhere.
//! 2. `select` returns `Some(i)` only for a case that completed (receive) or holds a
//!    permit (send), and at most one case per call does.
//!
//! # References
//! go/src/runtime/select.go (selectgo: pollorder, lockorder); crossbeam-channel's
//! select (the arm syntax and the register/abort/retry structure).

use std::cell::Cell;
use std::time::{Duration, Instant};

use goro_runtime::park::{self, WaitReason};

use crate::chan::{Receiver, Sender};
use crate::err::{RecvError, SendError};
use crate::proto::Permit;
use crate::waitq::{Ctx, Outcome, Waiter};

/// How a select waits when nothing is ready (chosen by the macro).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// No `default` arm: wait as long as it takes.
    Block,
    /// `default =>`: do not wait.
    NonBlock,
    /// `default(d) =>`: wait at most `d`.
    Timeout(Duration),
}

/// One arm of a select, type-erased for the engine.
#[doc(hidden)]
pub trait Case {
    /// Completes (or reserves) the operation if it is ready now.
    fn poll(&mut self) -> bool;
    /// Queues a waiter for case `case` of `ctx`; false if the channel is ready now.
    fn register(&mut self, ctx: &Ctx, case: usize) -> bool;
    /// Removes the waiter queued by `register` (a no-op if it was taken).
    fn unregister(&mut self);
    /// A waker claimed our waiter (`closed`: by closing the channel).
    fn on_selected(&mut self, closed: bool);
}

/// A receive arm: `recv(rx) -> res => ...`.
#[doc(hidden)]
#[derive(Debug)]
pub struct RecvCase<'a, T> {
    rx: &'a Receiver<T>,
    /// The slot a sender fills while we wait.
    slot: Option<T>,
    /// The arm's waiter while registered (it points at `slot`); `queued`: it went into
    /// a queue and must be removed.
    waiter: Option<Waiter<T>>,
    queued: bool,
    result: Option<Result<T, RecvError>>,
}

impl<'a, T> RecvCase<'a, T> {
    /// A case for `rx`.
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvCase { rx, slot: None, waiter: None, queued: false, result: None }
    }

    /// The result of the fired arm.
    pub fn result(&mut self) -> Result<T, RecvError> {
        self.result.take().expect("select: receive arm fired without a result")
    }
}

impl<T> Case for RecvCase<'_, T> {
    fn poll(&mut self) -> bool {
        match self.rx.poll_recv() {
            Some(r) => {
                self.result = Some(r.map_err(|()| RecvError));
                true
            }
            None => false,
        }
    }

    fn register(&mut self, ctx: &Ctx, case: usize) -> bool {
        debug_assert!(!self.queued, "select: an arm registered twice");
        let w = self.waiter.insert(Waiter::new(ctx, case, &raw mut self.slot));
        // SAFETY: the arm (so its waiter) stays where it is for the whole `select`,
        // which calls `unregister` before it returns or registers again.
        match unsafe { self.rx.register_recv(w) } {
            Some(queued) => {
                self.queued = queued;
                true
            }
            None => false,
        }
    }

    fn unregister(&mut self) {
        if std::mem::take(&mut self.queued) {
            if let Some(w) = &self.waiter {
                self.rx.unregister_recv(w);
            }
        }
    }

    fn on_selected(&mut self, closed: bool) {
        self.result = Some(if closed {
            Err(RecvError)
        } else {
            Ok(self.slot.take().expect("select: receiver woken without its value"))
        });
    }
}

/// A send arm: `send(tx, value) -> res => ...`. The value is passed to [`send`]
/// only after the arm fired.
///
/// [`send`]: SendCase::send
#[doc(hidden)]
pub struct SendCase<'a, T> {
    tx: &'a Sender<T>,
    /// The arm's lazy waiter while registered; `queued`: it went into a queue.
    waiter: Option<Waiter<T>>,
    queued: bool,
    permit: Option<Permit<T>>,
}

impl<T> std::fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendCase").field("fired", &self.permit.is_some()).finish()
    }
}

impl<'a, T> SendCase<'a, T> {
    /// A case for `tx`.
    pub fn new(tx: &'a Sender<T>) -> Self {
        SendCase { tx, waiter: None, queued: false, permit: None }
    }

    /// Completes the fired arm with its value.
    pub fn send(&mut self, v: T) -> Result<(), SendError<T>> {
        let p = self.permit.take().expect("select: send arm fired without a permit");
        self.tx.complete(p, v)
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        // Only if the value expression panicked: give the reservation back.
        if let Some(p) = self.permit.take() {
            self.tx.release(p);
        }
    }
}

impl<T> Case for SendCase<'_, T> {
    fn poll(&mut self) -> bool {
        self.permit = self.tx.poll_send();
        self.permit.is_some()
    }

    fn register(&mut self, ctx: &Ctx, case: usize) -> bool {
        debug_assert!(!self.queued, "select: an arm registered twice");
        let w = self.waiter.insert(Waiter::new(ctx, case, std::ptr::null_mut()));
        // SAFETY: as `RecvCase::register`.
        self.queued = unsafe { self.tx.register_send(w) };
        self.queued
    }

    fn unregister(&mut self) {
        if std::mem::take(&mut self.queued) {
            if let Some(w) = &self.waiter {
                self.tx.unregister_send(w);
            }
        }
    }

    fn on_selected(&mut self, closed: bool) {
        // Lazy send entries are only ever claimed by a close (waitq.rs invariant 4).
        debug_assert!(closed, "select: a lazy send arm claimed by a receiver");
        self.permit = Some(Permit::Closed);
    }
}

/// A random number from a per-thread xorshift generator. Never inlined: no
/// thread-local address may survive a park in the caller (DESIGN.md §12).
#[inline(never)]
fn random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = (seed ^ (s as *const Cell<u64> as u64).rotate_left(32)) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// Fisher-Yates shuffle of `order` (Go's `pollorder`).
fn shuffle(order: &mut [u32]) {
    for i in (1..order.len()).rev() {
        let j = ((random() >> 32) * (i as u64 + 1)) >> 32;
        order.swap(i, j as usize);
    }
}

/// Runs a select over `cases`. Returns the index of the fired case, or `None` when
/// the `default` arm (or its timeout) fires.
#[doc(hidden)]
pub fn select(cases: &mut [&mut dyn Case], mode: Mode) -> Option<usize> {
    goro_runtime::coop::check();
    let deadline = match mode {
        Mode::Timeout(d) => Instant::now().checked_add(d),
        _ => None,
    };
    let timed = matches!(mode, Mode::Timeout(_)) && deadline.is_some();
    let n = cases.len();
    if n == 0 {
        match mode {
            Mode::NonBlock => return None,
            Mode::Timeout(d) if timed => {
                goro_runtime::sleep(d);
                return None;
            }
            _ => block_forever(),
        }
    }
    let mut small = [0u32; 16];
    let mut big = Vec::new();
    let order: &mut [u32] = if n <= small.len() {
        &mut small[..n]
    } else {
        big.resize(n, 0);
        &mut big
    };
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u32;
    }
    loop {
        shuffle(order);
        for &i in order.iter() {
            if cases[i as usize].poll() {
                return Some(i as usize);
            }
        }
        if matches!(mode, Mode::NonBlock)
            || (timed && deadline.is_some_and(|d| Instant::now() >= d))
        {
            return None;
        }
        let ctx = Ctx::new();
        let mut registered = 0;
        let mut ready = false;
        for &i in order.iter() {
            if cases[i as usize].register(&ctx, i as usize) {
                registered += 1;
            } else {
                ready = true;
                break;
            }
        }
        let out = if ready {
            ctx.cancel(WaitReason::Select)
        } else {
            ctx.block(WaitReason::Select, deadline)
        };
        // Invariant 1: every entry leaves its queue before we go on.
        for &i in &order[..registered] {
            cases[i as usize].unregister();
        }
        match out {
            Outcome::Selected { case, closed } => {
                cases[case].on_selected(closed);
                return Some(case);
            }
            Outcome::Retry | Outcome::Aborted => {}
        }
    }
}

/// `select! {}`: blocks forever (Go's `select {}`), reported by deadlock detection as
/// `select (no cases)` when nothing else can run.
#[doc(hidden)]
pub fn block_forever() -> ! {
    loop {
        park::park(WaitReason::SelectNoCases);
    }
}

/// Selects over channel operations: Go's `select`, with crossbeam-channel's arm syntax.
///
/// ```
/// use std::time::Duration;
/// let (tx, rx) = goro_chan::bounded::<i32>(1);
/// let (_tx2, rx2) = goro_chan::bounded::<&str>(0);
/// tx.send(7).unwrap();
/// let got = goro_chan::select! {
///     recv(rx) -> v => v.unwrap(),
///     recv(rx2) -> s => s.map(|s| s.len() as i32).unwrap_or(-1),
///     default(Duration::from_millis(10)) => -2,
/// };
/// assert_eq!(got, 7);
/// ```
///
/// Arms:
/// - `recv(rx) -> res => body`: `res: Result<T, RecvError>`;
/// - `send(tx, value) -> res => body`: `res: Result<(), SendError<T>>`; `value` is
///   evaluated only if this arm fires;
/// - `default => body`: fires if no other arm is ready right now;
/// - `default(duration) => body`: fires if no other arm got ready within `duration`.
///
/// If several arms are ready one is chosen uniformly at random; exactly one fires, and
/// the whole `select!` evaluates to its body. Channel expressions are evaluated once,
/// in order, before waiting. Without `default` it blocks; `select! {}` blocks forever.
/// `rx`/`tx` may be a handle or a reference to one; a [`never()`](crate::never)
/// receiver turns its arm off.
#[macro_export]
macro_rules! select {
    () => {
        $crate::__private::block_forever()
    };
    // ---- parsing: collect arms as [kind case_ident (args) (pat) (body)] ------------
    (@parse [$($arms:tt)*] [$($def:tt)*] ()) => {
        $crate::select!(@emit [$($arms)*] [$($def)*])
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (recv($r:expr $(,)?) -> $p:pat => $b:block, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)* [recv __case ($r) ($p) ($b)]] [$($def)*] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (recv($r:expr $(,)?) -> $p:pat => $b:block $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)* [recv __case ($r) ($p) ($b)]] [$($def)*] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (recv($r:expr $(,)?) -> $p:pat => $b:expr, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)* [recv __case ($r) ($p) ($b)]] [$($def)*] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (recv($r:expr $(,)?) -> $p:pat => $b:expr)) => {
        $crate::select!(@parse [$($arms)* [recv __case ($r) ($p) ($b)]] [$($def)*] ())
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (send($s:expr, $v:expr $(,)?) -> $p:pat => $b:block, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)* [send __case ($s, $v) ($p) ($b)]] [$($def)*] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (send($s:expr, $v:expr $(,)?) -> $p:pat => $b:block $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)* [send __case ($s, $v) ($p) ($b)]] [$($def)*] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (send($s:expr, $v:expr $(,)?) -> $p:pat => $b:expr, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)* [send __case ($s, $v) ($p) ($b)]] [$($def)*] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] (send($s:expr, $v:expr $(,)?) -> $p:pat => $b:expr)) => {
        $crate::select!(@parse [$($arms)* [send __case ($s, $v) ($p) ($b)]] [$($def)*] ())
    };
    (@parse [$($arms:tt)*] [] (default => $b:block, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)*] [(NonBlock) ($b)] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [] (default => $b:block $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)*] [(NonBlock) ($b)] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [] (default => $b:expr, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)*] [(NonBlock) ($b)] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [] (default => $b:expr)) => {
        $crate::select!(@parse [$($arms)*] [(NonBlock) ($b)] ())
    };
    (@parse [$($arms:tt)*] [] (default($d:expr $(,)?) => $b:block, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)*] [(Timeout $d) ($b)] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [] (default($d:expr $(,)?) => $b:block $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)*] [(Timeout $d) ($b)] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [] (default($d:expr $(,)?) => $b:expr, $($rest:tt)*)) => {
        $crate::select!(@parse [$($arms)*] [(Timeout $d) ($b)] ($($rest)*))
    };
    (@parse [$($arms:tt)*] [] (default($d:expr $(,)?) => $b:expr)) => {
        $crate::select!(@parse [$($arms)*] [(Timeout $d) ($b)] ())
    };
    (@parse [$($arms:tt)*] [$($def:tt)+] (default $($rest:tt)*)) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] ($($rest:tt)+)) => {
        ::core::compile_error!(
            "select!: expected `recv(rx) -> res => body`, `send(tx, value) -> res => body`, \
             `default => body` or `default(timeout) => body`"
        )
    };

    // ---- emission ---------------------------------------------------------------------
    (@emit [$([$kind:ident $case:ident ($($args:tt)*) ($p:pat) ($b:expr)])*] [$($def:tt)*]) => {{
        // Channel (and timeout) expressions, once, in order.
        $( $crate::select!(@bind $kind $case ($($args)*)); )*
        let __mode = $crate::select!(@mode [$($def)*]);
        let __fired = $crate::__private::select(
            &mut [$( &mut $case as &mut dyn $crate::__private::Case ),*],
            __mode,
        );
        $crate::select!(@branch __fired (0usize) [$([$kind $case ($($args)*) ($p) ($b)])*] [$($def)*])
    }};

    (@bind recv $case:ident ($r:expr)) => {
        let $case = &$r;
        #[allow(unused_mut)]
        let mut $case = $crate::__private::RecvCase::new($case);
    };
    (@bind send $case:ident ($s:expr, $v:expr)) => {
        let $case = &$s;
        #[allow(unused_mut)]
        let mut $case = $crate::__private::SendCase::new($case);
    };

    (@mode []) => { $crate::__private::Mode::Block };
    (@mode [(NonBlock) ($b:expr)]) => { $crate::__private::Mode::NonBlock };
    (@mode [(Timeout $d:expr) ($b:expr)]) => { $crate::__private::Mode::Timeout($d) };

    (@branch $f:ident ($i:expr) [] []) => {
        match $f {
            _ => ::core::unreachable!("select!: no arm fired"),
        }
    };
    (@branch $f:ident ($i:expr) [] [($($m:tt)*) ($b:expr)]) => {
        match $f {
            _ => $b,
        }
    };
    (@branch $f:ident ($i:expr) [[recv $case:ident ($r:expr) ($p:pat) ($b:expr)] $($rest:tt)*] [$($def:tt)*]) => {
        if $f == ::core::option::Option::Some($i) {
            match $case.result() {
                $p => $b,
            }
        } else {
            $crate::select!(@branch $f ($i + 1usize) [$($rest)*] [$($def)*])
        }
    };
    (@branch $f:ident ($i:expr) [[send $case:ident ($s:expr, $v:expr) ($p:pat) ($b:expr)] $($rest:tt)*] [$($def:tt)*]) => {
        if $f == ::core::option::Option::Some($i) {
            match $case.send($v) {
                $p => $b,
            }
        } else {
            $crate::select!(@branch $f ($i + 1usize) [$($rest)*] [$($def)*])
        }
    };

    // ---- entry (last, so that the internal rules above match first) -------------------
    ($($t:tt)+) => {
        $crate::select!(@parse [] [] ($($t)+))
    };
}
