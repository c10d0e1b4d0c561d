//! Semaphore: weighted FIFO, try_acquire, misuse panics.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use common::{panic_message, rt};
use goro_sync::{Semaphore, WaitGroup};

#[test]
fn large_request_at_head_blocks_smaller_later_ones() {
    rt(2).block_on(|| {
        let s = Arc::new(Semaphore::new(10));
        let log = Arc::new(StdMutex::new(Vec::new()));
        s.acquire(10);
        let wg = WaitGroup::new();
        {
            let (s, log) = (s.clone(), log.clone());
            wg.go(move || {
                s.acquire(8);
                log.lock().unwrap().push("big");
            });
        }
        goro_runtime::sleep(Duration::from_millis(20));
        {
            let (s, log) = (s.clone(), log.clone());
            wg.go(move || {
                s.acquire(1);
                log.lock().unwrap().push("small");
            });
        }
        goro_runtime::sleep(Duration::from_millis(20));
        s.release(5);
        // 5 free, but the head wants 8: the 1-unit request waits behind it, and so
        // does try_acquire.
        goro_runtime::sleep(Duration::from_millis(20));
        assert!(log.lock().unwrap().is_empty());
        assert!(!s.try_acquire(1));
        assert_eq!(s.available(), 5);
        // 8 free: the head gets them; the small one still does not fit (0 free).
        s.release(3);
        goro_runtime::sleep(Duration::from_millis(20));
        assert_eq!(*log.lock().unwrap(), ["big"]);
        assert_eq!(s.available(), 0);
        s.release(2);
        wg.wait();
        assert_eq!(*log.lock().unwrap(), ["big", "small"]);
        assert_eq!(s.available(), 1);
        s.release(9);
        assert_eq!(s.available(), 10);
    });
}

#[test]
fn bounds_concurrency() {
    let max = rt(4).block_on(|| {
        let s = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let wg = WaitGroup::new();
        for i in 0..200 {
            let (s, inside, max) = (s.clone(), inside.clone(), max.clone());
            wg.go(move || {
                let w = 1 + i % 3;
                s.acquire(w);
                let n = inside.fetch_add(w, Ordering::SeqCst) + w;
                max.fetch_max(n, Ordering::SeqCst);
                goro_runtime::yield_now();
                inside.fetch_sub(w, Ordering::SeqCst);
                s.release(w);
            });
        }
        wg.wait();
        max.load(Ordering::SeqCst)
    });
    assert!(max <= 3, "{max} units held at once");
}

#[test]
fn threads_and_goroutines() {
    let s = Arc::new(Semaphore::new(2));
    let r = rt(2);
    let count = Arc::new(AtomicUsize::new(0));
    let gs: Vec<_> = (0..4)
        .map(|_| {
            let (s, count) = (s.clone(), count.clone());
            r.spawn(move || {
                for _ in 0..200 {
                    s.acquire(1);
                    count.fetch_add(1, Ordering::SeqCst);
                    s.release(1);
                }
            })
        })
        .collect();
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let (s, count) = (s.clone(), count.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    s.acquire(2);
                    count.fetch_add(1, Ordering::SeqCst);
                    s.release(2);
                }
            })
        })
        .collect();
    gs.into_iter().for_each(|h| h.join().unwrap());
    ts.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(count.load(Ordering::SeqCst), 1600);
    assert_eq!(s.available(), 2);
}

#[test]
fn acquire_more_than_size_panics() {
    let s = Semaphore::new(4);
    let e = catch_unwind(AssertUnwindSafe(|| s.acquire(5))).unwrap_err();
    let msg = panic_message(&*e);
    assert!(msg.contains('5') && msg.contains('4'), "{msg}");
    assert!(!s.try_acquire(5));
    assert!(s.try_acquire(4));
}

#[test]
fn release_more_than_held_panics() {
    let s = Semaphore::new(4);
    s.acquire(1);
    let e = catch_unwind(AssertUnwindSafe(|| s.release(2))).unwrap_err();
    assert_eq!(panic_message(&*e), "semaphore: released more than held");
    s.release(1);
    assert_eq!(s.available(), 4);
    assert_eq!(format!("{s:?}"), "Semaphore { size: 4, available: 4 }");
}

#[test]
fn acquire_parks_the_goroutine_not_the_thread() {
    // One P: if `acquire` blocked the thread, the releasing goroutine could never run.
    rt(1).block_on(|| {
        let s = Arc::new(Semaphore::new(1));
        s.acquire(1);
        let s2 = s.clone();
        let h = goro_runtime::spawn(move || {
            s2.acquire(1);
            s2.release(1);
        });
        goro_runtime::yield_now();
        s.release(1);
        h.join().unwrap();
        assert_eq!(s.available(), 1);
    });
}
