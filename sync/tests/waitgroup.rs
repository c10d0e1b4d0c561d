//! WaitGroup: counting, `go`, plain threads, Go's misuse panics.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{panic_message, rt};
use goro_sync::WaitGroup;

#[test]
fn wait_for_goroutines() {
    let n = rt(4).block_on(|| {
        let wg = WaitGroup::new();
        let c = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            wg.add(1);
            let (wg, c) = (wg.clone(), c.clone());
            goro_runtime::spawn(move || {
                goro_runtime::yield_now();
                c.fetch_add(1, Ordering::SeqCst);
                wg.done();
            });
        }
        wg.wait();
        c.load(Ordering::SeqCst)
    });
    assert_eq!(n, 1000);
}

#[test]
fn go_calls_done_even_on_panic() {
    rt(2).block_on(|| {
        let wg = WaitGroup::new();
        let c = Arc::new(AtomicUsize::new(0));
        for i in 0..10 {
            let c = c.clone();
            wg.go(move || {
                c.fetch_add(1, Ordering::SeqCst);
                if i == 3 {
                    panic!("goroutine panics on purpose");
                }
            });
        }
        wg.wait();
        assert_eq!(c.load(Ordering::SeqCst), 10);
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn many_waiters_and_reuse() {
    rt(2).block_on(|| {
        let wg = WaitGroup::new();
        for _round in 0..50 {
            wg.add(1);
            let done = WaitGroup::new();
            for _ in 0..5 {
                let wg = wg.clone();
                done.go(move || wg.wait());
            }
            goro_runtime::yield_now();
            wg.done();
            done.wait();
        }
    });
}

#[test]
fn plain_threads_wait_for_goroutines_and_back() {
    let wg = WaitGroup::new();
    wg.add(3);
    for _ in 0..3 {
        let wg = wg.clone();
        goro_runtime::spawn(move || {
            goro_runtime::sleep(Duration::from_millis(5));
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(wg.count(), 0);
    // A goroutine waits for threads.
    let wg2 = WaitGroup::new();
    wg2.add(2);
    let r = rt(1);
    let h = {
        let wg2 = wg2.clone();
        r.spawn(move || wg2.wait())
    };
    for _ in 0..2 {
        let wg2 = wg2.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            wg2.done();
        });
    }
    h.join().unwrap();
}

#[test]
fn wait_on_zero_returns() {
    WaitGroup::new().wait();
    WaitGroup::default().wait();
}

#[test]
fn negative_counter_panics() {
    let wg = WaitGroup::new();
    let e = catch_unwind(AssertUnwindSafe(|| wg.done())).unwrap_err();
    assert_eq!(panic_message(&*e), "sync: negative WaitGroup counter");
    let wg = WaitGroup::new();
    wg.add(2);
    let e = catch_unwind(AssertUnwindSafe(|| wg.add(-3))).unwrap_err();
    assert_eq!(panic_message(&*e), "sync: negative WaitGroup counter");
}

#[test]
fn debug_shows_counter() {
    let wg = WaitGroup::new();
    wg.add(2);
    assert_eq!(format!("{wg:?}"), "WaitGroup { counter: 2, waiters: 0 }");
}
