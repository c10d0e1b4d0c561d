//! Cond: FIFO signal, broadcast, plain threads, binding to one mutex.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use common::{panic_message, rt};
use goro_sync::{Cond, Mutex, WaitGroup};

struct State {
    queued: usize,
    woken: Vec<usize>,
    go: bool,
}

fn fifo(procs: usize) {
    const W: usize = 20;
    let order = rt(procs).block_on(|| {
        let pair =
            Arc::new((Mutex::new(State { queued: 0, woken: Vec::new(), go: false }), Cond::new()));
        let wg = WaitGroup::new();
        for i in 0..W {
            let p = pair.clone();
            wg.go(move || {
                let (m, c) = &*p;
                let mut g = m.lock();
                g.queued += 1;
                // Queued before the mutex is released: the main goroutine can see
                // `queued == i + 1` only once we wait.
                g = c.wait(g);
                g.woken.push(i);
            });
            // Start the next waiter only after this one is queued.
            loop {
                if pair.0.lock().queued == i + 1 {
                    break;
                }
                goro_runtime::yield_now();
            }
        }
        let (m, c) = &*pair;
        for k in 0..W {
            c.signal();
            // Wait until the signalled waiter has recorded itself.
            loop {
                if m.lock().woken.len() == k + 1 {
                    break;
                }
                goro_runtime::yield_now();
            }
        }
        wg.wait();
        let woken = std::mem::take(&mut m.lock().woken);
        woken
    });
    assert_eq!(order, (0..W).collect::<Vec<_>>(), "signal is not FIFO");
}

#[test]
fn signal_is_fifo_procs_1() {
    fifo(1);
}

#[test]
fn signal_is_fifo_procs_4() {
    fifo(4);
}

#[test]
fn broadcast_wakes_all() {
    rt(4).block_on(|| {
        let pair =
            Arc::new((Mutex::new(State { queued: 0, woken: Vec::new(), go: false }), Cond::new()));
        let wg = WaitGroup::new();
        for i in 0..100 {
            let p = pair.clone();
            wg.go(move || {
                let (m, c) = &*p;
                let mut g = m.lock();
                g.queued += 1;
                g = c.wait_while(g, |s| !s.go);
                g.woken.push(i);
            });
        }
        loop {
            if pair.0.lock().queued == 100 {
                break;
            }
            goro_runtime::sleep(Duration::from_millis(1));
        }
        pair.0.lock().go = true;
        pair.1.broadcast();
        wg.wait();
        assert_eq!(pair.0.lock().woken.len(), 100);
    });
}

#[test]
fn signal_without_waiters_is_a_no_op() {
    let c = Cond::new();
    c.signal();
    c.broadcast();
    let m = Mutex::new(());
    // Nothing was stored: a later wait still blocks until signalled.
    let pair = Arc::new((m, c));
    let p = pair.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        let _g = p.0.lock();
        p.1.signal();
    });
    let g = pair.0.lock();
    let _g = pair.1.wait(g);
    t.join().unwrap();
}

#[test]
fn threads_and_goroutines_producer_consumer() {
    let pair = Arc::new((Mutex::new(Vec::<u32>::new()), Cond::new()));
    let r = rt(2);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let p = pair.clone();
            r.spawn(move || {
                let mut got = 0;
                while got < 500 {
                    let mut g = p.1.wait_while(p.0.lock(), |q| q.is_empty());
                    g.pop();
                    got += 1;
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let p = pair.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    p.0.lock().push(i);
                    p.1.signal();
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|h| h.join().unwrap());
    // A consumer may miss a signal sent while it held the lock; broadcast until done.
    while consumers.iter().any(|h| !h.is_finished()) {
        pair.1.broadcast();
        std::thread::sleep(Duration::from_millis(1));
    }
    consumers.into_iter().for_each(|h| h.join().unwrap());
    assert!(pair.0.lock().is_empty());
}

#[test]
fn two_mutexes_panic() {
    let c = Arc::new(Cond::new());
    let a = Arc::new(Mutex::new(()));
    let c2 = c.clone();
    let a2 = a.clone();
    let t = std::thread::spawn(move || {
        let g = a2.lock();
        drop(c2.wait(g));
    });
    std::thread::sleep(Duration::from_millis(10));
    let b = Mutex::new(());
    let e = catch_unwind(AssertUnwindSafe(|| drop(c.wait(b.lock())))).unwrap_err();
    assert_eq!(panic_message(&*e), "sync: Cond used with two different mutexes");
    // `b` was not left locked by the failed wait.
    assert!(b.try_lock().is_some());
    let _g = a.lock();
    c.signal();
    drop(_g);
    t.join().unwrap();
}
