//! Channel flavors. Each file exports `Channel<T>` with the same method set
//! (proto.rs holds the shared protocol):
//!
//! - [`zero`]: unbuffered (`bounded(0)`, Go's `make(chan T)`): direct handoff only;
//! - [`array`]: buffered (`bounded(n)`): a FIFO ring of `n` slots;
//! - [`never()`]: Go's nil channel, never ready;
//! - [`after`], [`tick`]: channels fed by runtime timers (`time::after`, `Timer`,
//!   `time::tick`); they are `array` channels of capacity 1 that never close.

pub(crate) mod after;
pub(crate) mod array;
pub(crate) mod never;
pub(crate) mod tick;
pub(crate) mod zero;
