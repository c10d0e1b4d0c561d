//! goro-sync: Go's `sync` package for goroutines (DESIGN.md §9): [`Mutex`] (with Go's
//! starvation mode), [`RwMutex`] (writer preference), [`WaitGroup`], [`Once`], [`Cond`]
//! and a weighted [`Semaphore`] (`golang.org/x/sync/semaphore`).
//! Go's `context` package is [`context`] (cancellation trees, deadlines, values).
//!
//! Every blocking call parks the goroutine, not the OS thread under it, through the
//! runtime's parking API (`goro_runtime::park`), with Go's wait reasons (a deadlock
//! report says `sync.Mutex.Lock`, `sync.WaitGroup.Wait`, ...). The same calls work on
//! plain OS threads, which then sleep, so goroutines and threads can share any of these.
//!
//! Layering (one file per concept):
//! - `waitq.rs`: the intrusive FIFO waiter queue (Go's `sudog` list) and its spin lock;
//! - `rtsema.rs`: Go's runtime semaphore (`semacquire`/`semrelease` with handoff);
//! - `mutex.rs`, `rwmutex.rs`, `waitgroup.rs`: Go's algorithms over that semaphore;
//! - `once.rs`, `cond.rs`, `sema.rs`: `Once` over the raw mutex, `Cond` and
//!   `Semaphore` directly over a wait queue.
//!
//! Go's unlock-misuse errors (`sync: unlock of unlocked mutex`, `sync: RUnlock of
//! unlocked RWMutex`) cannot happen: only guards unlock. None of the locks poisons:
//! a panic unlocks during unwinding, like Go's `defer mu.Unlock()`.
//!
//! Known limits (runtime support still missing, see the runtime's issue 3):
//! - A lock's fast path is not a preemption safe point: the runtime has no cheap
//!   "past my slice?" check yet, so a goroutine that only locks and unlocks in a loop
//!   keeps its P until it parks.
//! - Deadlock detection cannot see a plain OS thread that holds a lock taken on the
//!   fast path and has never parked or woken anybody (the runtime's documented blind
//!   spot for unregistered threads): a goroutine waiting for such a holder could be
//!   reported as deadlocked. Threads register the first time they park or wake.

mod cond;
pub mod context;
mod mutex;
mod once;
mod rtsema;
mod rwmutex;
mod rwslots;
mod sema;
mod waitgroup;
mod waitq;

pub use cond::Cond;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use rwmutex::{RwMutex, RwMutexReadGuard, RwMutexWriteGuard};
pub use sema::Semaphore;
pub use waitgroup::WaitGroup;

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn auto_traits() {
        send_sync::<Mutex<Vec<u8>>>();
        send_sync::<RwMutex<Vec<u8>>>();
        send_sync::<WaitGroup>();
        send_sync::<Once>();
        send_sync::<Cond>();
        send_sync::<Semaphore>();
        send_sync::<MutexGuard<'static, u8>>();
        send_sync::<RwMutexReadGuard<'static, u8>>();
        send_sync::<RwMutexWriteGuard<'static, u8>>();
        // A mutex makes a Send-only type shareable, as std's does.
        send_sync::<Mutex<std::cell::Cell<u8>>>();
        send::<MutexGuard<'static, std::cell::Cell<u8>>>();
    }
}
