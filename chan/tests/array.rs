//! Buffered channels: FIFO ring, full channel with waiting senders, close and drain,
//! drop counting, prime sieve, goroutine chain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use goro_chan::{bounded, Receiver, RecvError, SendError, TryRecvError, TrySendError};

const COUNT: usize = if cfg!(miri) { 100 } else { 10_000 };

#[test]
fn fifo_ring() {
    let (tx, rx) = bounded(3);
    assert_eq!(tx.capacity(), 3);
    assert!(tx.is_empty() && !tx.is_full());
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    assert!(tx.is_full());
    assert_eq!(tx.len(), 3);
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert_eq!(rx.recv(), Ok(0));
    tx.send(3).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn close_then_drain() {
    let (tx, rx) = bounded(4);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert!(tx.close());
    assert_eq!(tx.send(3), Err(SendError(3)));
    assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn full_channel_senders_stay_fifo() {
    goro_runtime::run(|| {
        let (tx, rx) = bounded::<usize>(2);
        tx.send(100).unwrap();
        tx.send(101).unwrap();
        for i in 0..6 {
            let tx = tx.clone();
            goro_runtime::spawn(move || tx.send(i).unwrap());
            while rx.__waiters() < i + 1 {
                goro_runtime::yield_now();
            }
        }
        drop(tx);
        let got: Vec<_> = rx.iter().collect();
        assert_eq!(got, vec![100, 101, 0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn threads_spsc_and_mpmc() {
    let (tx, rx) = bounded::<usize>(16);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..COUNT {
                    tx.send(p * COUNT + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut last = [None::<usize>; 4];
                let mut n = 0;
                for v in &rx {
                    // Values of one producer arrive in order at each consumer.
                    let p = v / COUNT;
                    assert!(last[p].is_none_or(|l| l < v));
                    last[p] = Some(v);
                    n += 1;
                }
                n
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let total: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, 4 * COUNT);
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn buffered_values_are_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let (tx, rx) = bounded(8);
        for _ in 0..5 {
            tx.send(Counted(drops.clone())).unwrap();
        }
        drop(rx.recv().unwrap());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(tx);
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    }
    // Last receiver gone first: the values go with it, a later send fails with its value.
    let (tx, rx) = bounded(8);
    for _ in 0..3 {
        tx.send(Counted(drops.clone())).unwrap();
    }
    drop(rx);
    assert_eq!(drops.load(Ordering::SeqCst), 8);
    let e = tx.send(Counted(drops.clone())).unwrap_err();
    assert_eq!(drops.load(Ordering::SeqCst), 8);
    drop(e);
    assert_eq!(drops.load(Ordering::SeqCst), 9);
    drop(tx);
    assert_eq!(drops.load(Ordering::SeqCst), 9);
    // Closed with values left, never drained.
    let (tx, rx) = bounded(4);
    tx.send(Counted(drops.clone())).unwrap();
    tx.close();
    drop((tx, rx));
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn zero_sized_values() {
    let (tx, rx) = bounded::<()>(3);
    for _ in 0..3 {
        tx.send(()).unwrap();
    }
    assert!(tx.is_full());
    assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
    drop(tx);
    assert_eq!(rx.iter().count(), 3);
}

fn sieve_filter(input: Receiver<u64>, prime: u64, out: goro_chan::Sender<u64>) {
    for v in &input {
        if v % prime != 0 && out.send(v).is_err() {
            return;
        }
    }
}

#[test]
fn prime_sieve() {
    let primes = goro_runtime::Runtime::builder().procs(2).build().unwrap().block_on(|| {
        let (tx, mut rx) = bounded::<u64>(0);
        goro_runtime::spawn(move || {
            for i in 2.. {
                if tx.send(i).is_err() {
                    return;
                }
            }
        });
        let mut primes = Vec::new();
        for _ in 0..100 {
            let p = rx.recv().unwrap();
            primes.push(p);
            let (tx2, rx2) = bounded(0);
            let input = std::mem::replace(&mut rx, rx2);
            goro_runtime::spawn(move || sieve_filter(input, p, tx2));
        }
        // Dropping the last receiver unwinds the whole chain.
        drop(rx);
        primes
    });
    assert_eq!(&primes[..10], &[2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
    assert_eq!(primes[99], 541);
}

#[test]
fn chain_of_10000_goroutines() {
    let out = goro_runtime::Runtime::builder().procs(2).build().unwrap().block_on(|| {
        let (first_tx, mut rx) = bounded::<usize>(0);
        for _ in 0..10_000 {
            let (tx, next_rx) = bounded(0);
            let input = std::mem::replace(&mut rx, next_rx);
            goro_runtime::spawn(move || {
                let v = input.recv().unwrap();
                tx.send(v + 1).unwrap();
            });
        }
        first_tx.send(0).unwrap();
        rx.recv().unwrap()
    });
    assert_eq!(out, 10_000);
}

#[test]
fn blocked_receivers_get_closed_after_drain() {
    let (tx, rx) = bounded::<i32>(1);
    let h = thread::spawn(move || (rx.recv(), rx.recv()));
    tx.send(1).unwrap();
    thread::sleep(Duration::from_millis(5));
    tx.close();
    assert_eq!(h.join().unwrap(), (Ok(1), Err(RecvError)));
}
