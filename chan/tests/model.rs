//! Model test: random operation sequences on channels of capacity 0-8 against a
//! reference model (a `VecDeque` plus a closed flag).
//!
//! Buffered channels are driven from one thread with operations that never block in the
//! model (a blocking op the model says would block runs with a short timeout and must
//! time out). Unbuffered channels need a partner: `HandoffTo`/`HandoffFrom` start a
//! thread (or a goroutine) that blocks in `recv`/`send`, wait until its waiter is
//! queued, and complete the handoff with a `try_` operation.

use std::collections::VecDeque;
use std::time::Duration;

use goro_chan::{
    bounded, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Send(u32),
    TrySend(u32),
    Recv,
    TryRecv,
    Close,
    CloseRx,
    Len,
    /// A partner blocks in `recv`; we `try_send` to it.
    HandoffTo(u32, bool),
    /// A partner blocks in `send`; we `try_recv` from it.
    HandoffFrom(u32, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::Send),
        4 => any::<u32>().prop_map(Op::TrySend),
        4 => Just(Op::Recv),
        4 => Just(Op::TryRecv),
        1 => Just(Op::Close),
        1 => Just(Op::CloseRx),
        2 => Just(Op::Len),
        2 => (any::<u32>(), any::<bool>()).prop_map(|(v, g)| Op::HandoffTo(v, g)),
        2 => (any::<u32>(), any::<bool>()).prop_map(|(v, g)| Op::HandoffFrom(v, g)),
    ]
}

struct Model {
    cap: usize,
    buf: VecDeque<u32>,
    closed: bool,
}

const SHORT: Duration = Duration::from_micros(200);

/// Runs `f` on a new thread, or as a goroutine, and returns a way to join it.
fn partner<T: Send + 'static>(
    goroutine: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Box<dyn FnOnce() -> T> {
    if goroutine {
        let h = goro_runtime::spawn(f);
        Box::new(move || h.join().unwrap())
    } else {
        let h = std::thread::spawn(f);
        Box::new(move || h.join().unwrap())
    }
}

fn wait_for_waiter<T>(tx: &Sender<T>) {
    while tx.__waiters() == 0 {
        std::thread::yield_now();
    }
}

fn check(cap: usize, ops: &[Op]) {
    let (tx, rx): (Sender<u32>, Receiver<u32>) = bounded(cap);
    let mut m = Model { cap, buf: VecDeque::new(), closed: false };
    for op in ops {
        match *op {
            Op::Send(v) => {
                if m.closed {
                    assert_eq!(tx.send(v), Err(SendError(v)));
                } else if m.buf.len() < m.cap {
                    assert_eq!(tx.send(v), Ok(()));
                    m.buf.push_back(v);
                } else {
                    assert_eq!(tx.send_timeout(v, SHORT), Err(SendTimeoutError::Timeout(v)));
                }
            }
            Op::TrySend(v) => {
                let r = tx.try_send(v);
                if m.closed {
                    assert_eq!(r, Err(TrySendError::Closed(v)));
                } else if m.buf.len() < m.cap {
                    assert_eq!(r, Ok(()));
                    m.buf.push_back(v);
                } else {
                    assert_eq!(r, Err(TrySendError::Full(v)));
                }
            }
            Op::Recv => match m.buf.pop_front() {
                Some(v) => assert_eq!(rx.recv(), Ok(v)),
                None if m.closed => assert_eq!(rx.recv(), Err(RecvError)),
                None => assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout)),
            },
            Op::TryRecv => {
                let want = match m.buf.pop_front() {
                    Some(v) => Ok(v),
                    None if m.closed => Err(TryRecvError::Closed),
                    None => Err(TryRecvError::Empty),
                };
                assert_eq!(rx.try_recv(), want);
            }
            Op::Close => {
                assert_eq!(tx.close(), !m.closed);
                m.closed = true;
            }
            Op::CloseRx => {
                assert_eq!(rx.close(), !m.closed);
                m.closed = true;
            }
            Op::Len => {
                assert_eq!(tx.len(), m.buf.len());
                assert_eq!(rx.len(), m.buf.len());
                assert_eq!(tx.is_empty(), m.buf.is_empty());
                assert_eq!(tx.is_full(), m.buf.len() == m.cap);
                assert_eq!(tx.capacity(), m.cap);
                assert_eq!(tx.is_closed(), m.closed);
            }
            Op::HandoffTo(v, g) => {
                // A partner receiver only blocks on an empty, open channel.
                if !m.buf.is_empty() || m.closed {
                    continue;
                }
                let rx2 = rx.clone();
                let join = partner(g, move || rx2.recv());
                wait_for_waiter(&tx);
                assert_eq!(tx.try_send(v), Ok(()));
                assert_eq!(join(), Ok(v));
            }
            Op::HandoffFrom(v, g) => {
                // A partner sender only blocks on a full, open channel.
                if m.buf.len() < m.cap || m.closed {
                    continue;
                }
                let tx2 = tx.clone();
                let join = partner(g, move || tx2.send(v));
                wait_for_waiter(&tx);
                let want = match m.buf.pop_front() {
                    Some(head) => {
                        // The freed slot is refilled from the blocked sender (FIFO).
                        m.buf.push_back(v);
                        head
                    }
                    None => v,
                };
                assert_eq!(rx.try_recv(), Ok(want));
                assert_eq!(join(), Ok(()));
            }
        }
        assert_eq!(tx.__waiters(), 0, "no waiter outlives its operation");
    }
    // Whatever is left drains in order after close.
    tx.close();
    let rest: Vec<u32> = rx.iter().collect();
    assert_eq!(rest, m.buf.iter().copied().collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn channel_matches_model(cap in 0usize..=8, ops in proptest::collection::vec(op(), 0..60)) {
        check(cap, &ops);
    }
}

#[test]
fn every_capacity_once() {
    let ops: Vec<Op> = (0..20)
        .flat_map(|i| {
            [
                Op::TrySend(i),
                Op::HandoffFrom(i, i % 2 == 0),
                Op::Recv,
                Op::HandoffTo(i, i % 3 == 0),
                Op::Len,
            ]
        })
        .chain([Op::Close, Op::Send(1), Op::TryRecv, Op::Recv])
        .collect();
    for cap in 0..=8 {
        check(cap, &ops);
    }
}
