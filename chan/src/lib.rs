//! goro-chan: Go's channels for goroutines and threads (DESIGN.md §8).
//!
//! - [`bounded`]`(0)`: unbuffered (Go's `make(chan T)`), direct handoff;
//!   [`bounded`]`(n)`: buffered FIFO ring; [`never()`]: Go's nil channel.
//! - [`Sender`] / [`Receiver`]: `send`, `recv`, `try_*`, `*_timeout`, `close`, `len`...;
//!   a channel also closes when its last `Sender` drops; when its last `Receiver`
//!   drops, sends fail and give the value back.
//! - [`select!`]: any number of `recv`/`send` arms, `default`, `default(timeout)`.
//! - [`time`]: `after`, `tick`, `Timer`, on the runtime's timers.
//!
//! Blocking parks the goroutine (through `goro_runtime::park`), or the thread when
//! called outside a goroutine, so channels work between goroutines, between threads,
//! and across the two.
//!
//! ```
//! let (tx, rx) = goro_chan::bounded(0);
//! let t = std::thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! });
//! assert_eq!(rx.iter().collect::<Vec<i32>>(), vec![0, 1, 2]);
//! t.join().unwrap();
//! ```
//!
//! Layout: chan.rs (public handles), proto.rs (the shared channel protocol), waitq.rs
//! (waiters and their queue), select.rs (`select!`), flavors/ (one file per flavor),
//! err.rs (error types).

mod chan;
mod err;
mod flavors;
mod proto;
mod select;
mod waitq;

pub use chan::{bounded, never, IntoIter, Iter, Receiver, Sender, TryIter};
pub use err::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};

/// Time channels (Go's `time` package): [`after`](time::after), [`tick`](time::tick),
/// [`Timer`](time::Timer).
pub mod time {
    pub use crate::flavors::after::{after, Timer};
    pub use crate::flavors::tick::tick;
}

/// Items the `select!` expansion names; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::select::{block_forever, select, Case, Mode, RecvCase, SendCase};
    pub use crate::waitq::Ctx;
}
