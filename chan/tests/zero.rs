//! Unbuffered channels: handoff, FIFO waiters, close, disconnect; goroutines and threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use goro_chan::{
    bounded, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};

const COUNT: usize = if cfg!(miri) { 100 } else { 10_000 };

#[test]
fn smoke_threads() {
    let (tx, rx) = bounded(0);
    let t = thread::spawn(move || {
        for i in 0..COUNT {
            tx.send(i).unwrap();
        }
    });
    for i in 0..COUNT {
        assert_eq!(rx.recv(), Ok(i));
    }
    assert_eq!(rx.recv(), Err(RecvError));
    t.join().unwrap();
}

#[test]
fn smoke_goroutines() {
    let sum = goro_runtime::run(|| {
        let (tx, rx) = bounded::<usize>(0);
        goro_runtime::spawn(move || {
            for i in 0..COUNT {
                tx.send(i).unwrap();
            }
        });
        rx.iter().sum::<usize>()
    });
    assert_eq!(sum, COUNT * (COUNT - 1) / 2);
}

#[test]
fn goroutine_to_thread_and_back() {
    let (tx, rx) = bounded::<usize>(0);
    let (tx2, rx2) = bounded::<usize>(0);
    let t = thread::spawn(move || {
        for v in &rx {
            tx2.send(v * 2).unwrap();
        }
    });
    let total = goro_runtime::run(move || {
        let mut s = 0;
        for i in 0..1000 {
            tx.send(i).unwrap();
            s += rx2.recv().unwrap();
        }
        s
    });
    assert_eq!(total, 999 * 1000);
    t.join().unwrap();
}

#[test]
fn try_ops_need_a_partner() {
    let (tx, rx) = bounded::<i32>(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(tx.is_empty() && tx.is_full());
    assert_eq!((tx.len(), tx.capacity()), (0, 0));
    let t = thread::spawn(move || rx.recv());
    // Wait until the receiver is parked, then hand off without blocking.
    let mut v = 7;
    loop {
        match tx.try_send(v) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) => {
                v = back;
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(t.join().unwrap(), Ok(7));
}

#[test]
fn waiting_receivers_are_fifo() {
    goro_runtime::run(|| {
        let (tx, rx) = bounded::<usize>(0);
        let (done_tx, done_rx) = bounded::<(usize, usize)>(16);
        for i in 0..8 {
            let rx = rx.clone();
            let done = done_tx.clone();
            goro_runtime::spawn(move || {
                let v = rx.recv().unwrap();
                done.send((i, v)).unwrap();
            });
            // Let goroutine i park before i+1 starts.
            while tx.__waiters() < i + 1 {
                goro_runtime::yield_now();
            }
        }
        for v in 0..8 {
            tx.send(v).unwrap();
        }
        let mut got: Vec<_> = (0..8).map(|_| done_rx.recv().unwrap()).collect();
        got.sort();
        for (i, v) in got {
            assert_eq!(i, v, "receiver {i} got value {v}");
        }
    });
}

#[test]
fn close_wakes_everyone() {
    let (tx, rx) = bounded::<i32>(0);
    let rxs: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        })
        .collect();
    while tx.__waiters() < 4 {
        thread::sleep(Duration::from_millis(1));
    }
    assert!(tx.close());
    assert!(!tx.close());
    assert!(!rx.close());
    for h in rxs {
        assert_eq!(h.join().unwrap(), Err(RecvError));
    }
    assert_eq!(tx.send(3), Err(SendError(3)));
    assert!(tx.is_closed() && rx.is_closed());
}

#[test]
fn close_gives_blocked_senders_their_values() {
    let (tx, rx) = bounded::<String>(0);
    let tx2 = tx.clone();
    let h = thread::spawn(move || tx2.send("kept".to_string()));
    while rx.__waiters() < 1 {
        thread::sleep(Duration::from_millis(1));
    }
    rx.close();
    assert_eq!(h.join().unwrap(), Err(SendError("kept".to_string())));
    drop(tx);
}

#[test]
fn last_receiver_drop_fails_senders() {
    let (tx, rx) = bounded::<i32>(0);
    let tx2 = tx.clone();
    let h = thread::spawn(move || tx2.send(5));
    while tx.__waiters() < 1 {
        thread::sleep(Duration::from_millis(1));
    }
    drop(rx);
    assert_eq!(h.join().unwrap(), Err(SendError(5)));
    assert_eq!(tx.send(6), Err(SendError(6)));
    assert!(tx.is_closed());
}

#[test]
fn last_sender_drop_closes() {
    let (tx, rx) = bounded::<i32>(0);
    let h = thread::spawn(move || rx.recv());
    thread::sleep(Duration::from_millis(5));
    drop(tx);
    assert_eq!(h.join().unwrap(), Err(RecvError));
}

#[test]
fn timeouts() {
    let (tx, rx) = bounded::<i32>(0);
    assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    assert_eq!(tx.send_timeout(1, Duration::from_millis(5)), Err(SendTimeoutError::Timeout(1)));
    assert_eq!(tx.__waiters(), 0);
    goro_runtime::run(move || {
        assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
        assert_eq!(tx.send_timeout(1, Duration::from_millis(5)), Err(SendTimeoutError::Timeout(1)));
        let tx2 = tx.clone();
        goro_runtime::spawn(move || {
            goro_runtime::sleep(Duration::from_millis(2));
            tx2.send(9).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(9));
    });
}

#[test]
fn zero_sized_values() {
    let n = goro_runtime::run(|| {
        let (tx, rx) = bounded::<()>(0);
        goro_runtime::spawn(move || {
            for _ in 0..COUNT {
                tx.send(()).unwrap();
            }
        });
        rx.iter().count()
    });
    assert_eq!(n, COUNT);
}

#[test]
fn many_senders_many_receivers() {
    let sum = Arc::new(AtomicUsize::new(0));
    let s2 = sum.clone();
    goro_runtime::Runtime::builder().procs(2).build().unwrap().block_on(move || {
        let (tx, rx) = bounded::<usize>(0);
        let mut hs = Vec::new();
        for p in 0..4 {
            let tx = tx.clone();
            hs.push(goro_runtime::spawn(move || {
                for i in 0..COUNT / 4 {
                    tx.send(p * COUNT + i).unwrap();
                }
            }));
        }
        drop(tx);
        let mut rs = Vec::new();
        for _ in 0..4 {
            let rx = rx.clone();
            let s = s2.clone();
            rs.push(goro_runtime::spawn(move || {
                for v in &rx {
                    s.fetch_add(v, Ordering::Relaxed);
                }
            }));
        }
        for h in hs.into_iter().chain(rs) {
            h.join().unwrap();
        }
    });
    let expect: usize = (0..4).map(|p| (0..COUNT / 4).map(|i| p * COUNT + i).sum::<usize>()).sum();
    assert_eq!(sum.load(Ordering::Relaxed), expect);
}
