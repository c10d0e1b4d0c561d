//! Go's `context` package: cancellation, deadlines and request-scoped values that
//! flow down a tree of [`Context`]s.
//!
//! ```
//! use goro_sync::context;
//! let (ctx, cancel) = context::with_cancel(&context::background());
//! let child = context::with_value(&ctx, 42u32);
//! cancel.cancel();
//! assert!(child.done().recv().is_err()); // closed
//! assert_eq!(child.err(), Some(context::Error::Canceled));
//! assert_eq!(child.value::<u32>(), Some(&42));
//! ```
//!
//! # Design
//!
//! A [`Context`] is an `Arc` of an immutable node. Each node records its parent (for
//! [`Context::value`] lookups) and, separately, a shortcut to its *nearest cancelable
//! ancestor or itself* (a `CancelNode`): [`with_value`] nodes share their parent's,
//! [`without_cancel`] and [`background`] have none. So `done`, `err`, `cause` and
//! `deadline` are one pointer hop, whatever the depth of value nodes above.
//!
//! A `CancelNode` (made by [`with_cancel`], [`with_cancel_cause`], [`with_deadline`],
//! [`with_timeout`]) holds, under one `std::sync::Mutex`: the error and cause once
//! cancelled, the done channel (made lazily on the first [`Context::done`], as Go
//! does), the deadline timer and its registered children (child cancel nodes and
//! [`after_func`] registrations), keyed by a unique id. A new cancel node registers with
//! its parent's cancel node (Go's `propagateCancel`); if the parent is already
//! cancelled, the child is cancelled at once with the parent's error and cause.
//!
//! Cancelling takes the lock, records error and cause, closes the done channel, takes
//! the children and the timer out, and releases the lock; only then does it cancel the
//! children (recursively), stop the timer and unregister itself from its parent. No
//! two locks are ever held at once, so there is no lock order to get wrong.
//!
//! Deadlines use the runtime's timers ([`goro_runtime::timer::TimerHandle`]); the
//! timer's action cancels the node with [`Error::DeadlineExceeded`] directly.
//!
//! # Invariants
//!
//! 1. A cancel node's error goes from `None` to `Some` once and never changes again;
//!    its cause is set in the same critical section (first cause wins).
//! 2. When `cancel` returns, the node and every descendant that was registered are
//!    cancelled (cancellation is synchronous, as in Go) and every done channel handed
//!    out is closed.
//! 3. A cancelled node is no longer in its parent's child map (no leak on a long-lived
//!    parent); a node's children map is empty once it is cancelled, and nothing is
//!    added to a cancelled node (a late child is cancelled at once instead).
//! 4. At most one lock is held at any time (children are cancelled after the parent's
//!    lock is released).
//! 5. A node's deadline is never later than its parent's: [`with_deadline`] later than
//!    the parent's deadline is [`with_cancel`].
//! 6. An [`after_func`] function runs at most once, in its own goroutine;
//!    [`AfterFuncHandle::stop`] and the cancellation race for it through one take of
//!    an `Option`, so exactly one of them wins.
//!
//! As in Go, a cancelable context that is never cancelled stays registered with its
//! parent until the parent is cancelled: always call the [`CancelFunc`]. There is no
//! reference cycle, though: a parent holds its children, a child holds its parent's
//! cancel node only weakly, so an uncancelled tree is freed once no handle (context,
//! cancel function, after-func handle, pending deadline timer) refers to it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use goro_chan::{bounded, never, Receiver, Sender};
use goro_runtime::timer::TimerHandle;

/// A cancellation cause: any shareable error.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a context is done (Go's `context.Canceled` and `context.DeadlineExceeded`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Error {
    /// The context was cancelled (Go's `context.Canceled`).
    Canceled,
    /// The context's deadline passed (Go's `context.DeadlineExceeded`).
    DeadlineExceeded,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Canceled => "context canceled",
            Error::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for Error {}

/// Carries a cancellation signal, a deadline and values across API boundaries and
/// goroutines (Go's `context.Context`). Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Context {
    node: Arc<Node>,
}

struct Node {
    /// The parent context, for value lookups (`None` for background/todo).
    parent: Option<Context>,
    /// The nearest cancelable ancestor or self (`None`: never cancelled).
    cancel: Option<Arc<CancelNode>>,
    /// A value (for `with_value` nodes).
    value: Option<(TypeId, Box<dyn Any + Send + Sync>)>,
    /// For Debug: what made this node.
    kind: &'static str,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

struct CancelNode {
    id: u64,
    deadline: Option<Instant>,
    /// The parent's cancel node, to unregister from it when cancelled.
    parent: Option<Weak<CancelNode>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    err: Option<Error>,
    cause: Option<Cause>,
    /// The done channel's halves, made on first `done()`; the sender is dropped and the
    /// channel closed on cancel.
    done_tx: Option<Sender<()>>,
    done_rx: Option<Receiver<()>>,
    children: HashMap<u64, Child>,
    timer: Option<TimerHandle>,
}

enum Child {
    Node(Arc<CancelNode>),
    AfterFunc(Arc<AfterFuncState>),
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CancelNode {
    /// Cancels this node and its descendants (invariant 2); unregisters it from its
    /// parent if `remove`.
    fn cancel(&self, remove: bool, err: Error, cause: Option<Cause>) {
        let (children, timer, cause) = {
            let mut st = lock(&self.state);
            if st.err.is_some() {
                return; // invariant 1
            }
            let cause = cause.unwrap_or_else(|| Arc::new(err));
            st.err = Some(err);
            st.cause = Some(cause.clone());
            if let Some(tx) = st.done_tx.take() {
                tx.close();
            }
            (std::mem::take(&mut st.children), st.timer.take(), cause)
        };
        for (_, child) in children {
            match child {
                Child::Node(c) => c.cancel(false, err, Some(cause.clone())),
                Child::AfterFunc(a) => a.fire(),
            }
        }
        if let Some(t) = timer {
            t.stop();
        }
        if remove {
            if let Some(p) = self.parent.as_ref().and_then(Weak::upgrade) {
                lock(&p.state).children.remove(&self.id);
            }
        }
    }

    /// Registers `child` (Go's `propagateCancel`); if this node is already cancelled,
    /// returns its error and cause instead (the caller then cancels the child).
    fn add_child(&self, id: u64, child: Child) -> Result<(), (Error, Option<Cause>, Child)> {
        let mut st = lock(&self.state);
        match st.err {
            Some(e) => Err((e, st.cause.clone(), child)),
            None => {
                st.children.insert(id, child);
                Ok(())
            }
        }
    }

    fn remove_child(&self, id: u64) {
        lock(&self.state).children.remove(&id);
    }
}

impl Context {
    fn root(kind: &'static str) -> Context {
        Context { node: Arc::new(Node { parent: None, cancel: None, value: None, kind }) }
    }

    /// A channel that is closed when this context is cancelled; for a context that can
    /// never be cancelled ([`background`], [`todo()`], [`without_cancel`]) it is
    /// [`goro_chan::never`] (Go's nil channel). Use it in `select!`:
    /// `recv(ctx.done()) -> _ => ...`.
    #[doc(alias = "Done")]
    pub fn done(&self) -> Receiver<()> {
        let Some(c) = &self.node.cancel else {
            return never();
        };
        let mut st = lock(&c.state);
        if let Some(rx) = &st.done_rx {
            return rx.clone();
        }
        let (tx, rx) = bounded(0);
        if st.err.is_some() {
            tx.close();
        } else {
            st.done_tx = Some(tx);
        }
        st.done_rx = Some(rx.clone());
        rx
    }

    /// `None` while the context is live; then why it is done.
    #[doc(alias = "Err")]
    pub fn err(&self) -> Option<Error> {
        self.node.cancel.as_ref().and_then(|c| lock(&c.state).err)
    }

    /// The cause the context was cancelled with (Go's `context.Cause`): the first cause
    /// given to a [`CancelCauseFunc`], the parent's cause when cancelled through the
    /// parent, or else the [`Error`] itself. `None` while live.
    #[doc(alias = "Cause")]
    pub fn cause(&self) -> Option<Cause> {
        self.node.cancel.as_ref().and_then(|c| lock(&c.state).cause.clone())
    }

    /// When the context will be cancelled by a deadline, if ever.
    #[doc(alias = "Deadline")]
    pub fn deadline(&self) -> Option<Instant> {
        self.node.cancel.as_ref().and_then(|c| c.deadline)
    }

    /// The value of type `V` of the nearest ancestor (or self) made by [`with_value`]
    /// with a `V` (Go's `Value`, keyed by type).
    #[doc(alias = "Value")]
    pub fn value<V: Any + Send + Sync>(&self) -> Option<&V> {
        let want = TypeId::of::<V>();
        let mut n: &Node = &self.node;
        loop {
            if let Some((t, v)) = &n.value {
                if *t == want {
                    return v.downcast_ref::<V>();
                }
            }
            n = &n.parent.as_ref()?.node;
        }
    }

    /// How many cancel nodes and after-func registrations this context's cancel node
    /// holds (for tests: it returns to 0 when children are cancelled).
    #[doc(hidden)]
    pub fn __child_count(&self) -> usize {
        self.node.cancel.as_ref().map_or(0, |c| lock(&c.state).children.len())
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("kind", &self.node.kind)
            .field("err", &self.err())
            .field("deadline", &self.deadline())
            .finish()
    }
}

/// An empty context: never cancelled, no deadline, no values (Go's
/// `context.Background`). The root of context trees.
#[doc(alias = "Background")]
pub fn background() -> Context {
    Context::root("background")
}

/// Like [`background`], for code that does not know yet which context to use (Go's
/// `context.TODO`).
#[doc(alias = "TODO")]
pub fn todo() -> Context {
    Context::root("todo")
}

/// Cancels its context (Go's `context.CancelFunc`). Idempotent; dropping it does not
/// cancel.
pub struct CancelFunc {
    node: Arc<CancelNode>,
}

impl CancelFunc {
    /// Cancels the context and its descendants with [`Error::Canceled`] before
    /// returning; later calls do nothing.
    pub fn cancel(&self) {
        self.node.cancel(true, Error::Canceled, None);
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelFunc").finish_non_exhaustive()
    }
}

/// Cancels its context with a cause (Go's `context.CancelCauseFunc`).
pub struct CancelCauseFunc {
    node: Arc<CancelNode>,
}

impl CancelCauseFunc {
    /// Cancels the context and its descendants with [`Error::Canceled`] and `cause`
    /// (`None`: the cause is the error itself). The first cancellation's cause wins.
    pub fn cancel(&self, cause: Option<Cause>) {
        self.node.cancel(true, Error::Canceled, cause);
    }
}

impl fmt::Debug for CancelCauseFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelCauseFunc").finish_non_exhaustive()
    }
}

/// Makes a cancelable child of `parent` with `deadline`, registered with the parent.
fn new_cancel(parent: &Context, deadline: Option<Instant>, kind: &'static str) -> Context {
    let node = Arc::new(CancelNode {
        id: next_id(),
        deadline,
        parent: parent.node.cancel.as_ref().map(Arc::downgrade),
        state: Mutex::new(State::default()),
    });
    if let Some(p) = &parent.node.cancel {
        if let Err((err, cause, _)) = p.add_child(node.id, Child::Node(node.clone())) {
            node.cancel(false, err, cause);
        }
    }
    Context {
        node: Arc::new(Node {
            parent: Some(parent.clone()),
            cancel: Some(node),
            value: None,
            kind,
        }),
    }
}

fn cancel_node(ctx: &Context) -> Arc<CancelNode> {
    ctx.node.cancel.clone().expect("a cancelable context")
}

/// A child of `parent` that is cancelled when its [`CancelFunc`] is called or when
/// `parent` is (Go's `context.WithCancel`).
#[doc(alias = "WithCancel")]
pub fn with_cancel(parent: &Context) -> (Context, CancelFunc) {
    let ctx = new_cancel(parent, parent.deadline(), "with_cancel");
    let node = cancel_node(&ctx);
    (ctx, CancelFunc { node })
}

/// Like [`with_cancel`], but the cancel function takes a cause, reported by
/// [`Context::cause`] (Go's `context.WithCancelCause`).
#[doc(alias = "WithCancelCause")]
pub fn with_cancel_cause(parent: &Context) -> (Context, CancelCauseFunc) {
    let ctx = new_cancel(parent, parent.deadline(), "with_cancel_cause");
    let node = cancel_node(&ctx);
    (ctx, CancelCauseFunc { node })
}

/// A child of `parent` that is also cancelled, with [`Error::DeadlineExceeded`], at
/// `at` (Go's `context.WithDeadline`). A deadline later than the parent's is the
/// parent's (the child is then like [`with_cancel`]); one already past cancels the
/// child at once.
#[doc(alias = "WithDeadline")]
pub fn with_deadline(parent: &Context, at: Instant) -> (Context, CancelFunc) {
    if let Some(pd) = parent.deadline() {
        if pd <= at {
            return with_cancel(parent); // invariant 5
        }
    }
    let ctx = new_cancel(parent, Some(at), "with_deadline");
    let node = cancel_node(&ctx);
    if at <= Instant::now() {
        node.cancel(true, Error::DeadlineExceeded, None);
    } else {
        let mut st = lock(&node.state);
        if st.err.is_none() {
            let n = node.clone();
            st.timer = Some(TimerHandle::after_fn(at, move || {
                n.cancel(true, Error::DeadlineExceeded, None);
            }));
        }
    }
    (ctx, CancelFunc { node })
}

/// [`with_deadline`] at now + `d` (Go's `context.WithTimeout`).
#[doc(alias = "WithTimeout")]
pub fn with_timeout(parent: &Context, d: Duration) -> (Context, CancelFunc) {
    match Instant::now().checked_add(d) {
        Some(at) => with_deadline(parent, at),
        None => with_cancel(parent),
    }
}

/// A child of `parent` that carries `v`, found by [`Context::value::<V>`] on it and its
/// descendants unless a nearer `with_value` of the same type shadows it (Go's
/// `context.WithValue`, keyed by type instead of by key value).
#[doc(alias = "WithValue")]
pub fn with_value<V: Any + Send + Sync>(parent: &Context, v: V) -> Context {
    Context {
        node: Arc::new(Node {
            parent: Some(parent.clone()),
            cancel: parent.node.cancel.clone(),
            value: Some((TypeId::of::<V>(), Box::new(v))),
            kind: "with_value",
        }),
    }
}

/// A child of `parent` that keeps its values but is never cancelled and has no
/// deadline (Go's `context.WithoutCancel`).
#[doc(alias = "WithoutCancel")]
pub fn without_cancel(parent: &Context) -> Context {
    Context {
        node: Arc::new(Node {
            parent: Some(parent.clone()),
            cancel: None,
            value: None,
            kind: "without_cancel",
        }),
    }
}

type AfterFn = Box<dyn FnOnce() + Send + 'static>;

struct AfterFuncState {
    f: std::sync::Mutex<Option<AfterFn>>,
}

impl AfterFuncState {
    fn take(&self) -> Option<AfterFn> {
        self.f.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The context is done: run `f` in its own goroutine, unless stopped (invariant 6).
    fn fire(&self) {
        if let Some(f) = self.take() {
            drop(goro_runtime::spawn(f));
        }
    }
}

/// Stops an [`after_func`] registration.
pub struct AfterFuncHandle {
    id: u64,
    state: Arc<AfterFuncState>,
    ctx: Option<Arc<CancelNode>>,
}

impl AfterFuncHandle {
    /// Unregisters the function. True if this call kept it from running; false if it
    /// has been started already or `stop` was called before.
    pub fn stop(&self) -> bool {
        let stopped = self.state.take().is_some();
        if stopped {
            if let Some(c) = &self.ctx {
                c.remove_child(self.id);
            }
        }
        stopped
    }
}

impl fmt::Debug for AfterFuncHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterFuncHandle").finish_non_exhaustive()
    }
}

/// Arranges for `f` to run in its own goroutine once `ctx` is done (at once if it is
/// already); never, for a context that cannot be cancelled (Go's `context.AfterFunc`).
#[doc(alias = "AfterFunc")]
pub fn after_func(ctx: &Context, f: impl FnOnce() + Send + 'static) -> AfterFuncHandle {
    let id = next_id();
    let state = Arc::new(AfterFuncState { f: Mutex::new(Some(Box::new(f))) });
    let c = ctx.node.cancel.clone();
    if let Some(c) = &c {
        if c.add_child(id, Child::AfterFunc(state.clone())).is_err() {
            state.fire();
        }
    }
    AfterFuncHandle { id, state, ctx: c }
}
