//! Once: exactly once, concurrent callers wait, panics count as done.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{panic_message, rt};
use goro_sync::{Once, WaitGroup};

#[test]
fn runs_once_and_waiters_wait() {
    rt(4).block_on(|| {
        let once = Arc::new(Once::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let wg = WaitGroup::new();
        for _ in 0..50 {
            let (once, calls, finished) = (once.clone(), calls.clone(), finished.clone());
            wg.go(move || {
                once.call_once(|| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    goro_runtime::sleep(Duration::from_millis(20));
                    finished.store(true, Ordering::SeqCst);
                });
                // Whoever returns saw f finish.
                assert!(finished.load(Ordering::SeqCst));
            });
        }
        wg.wait();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn threads_and_goroutines_share_a_once() {
    let once = Arc::new(Once::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let r = rt(2);
    let mut hs = Vec::new();
    for _ in 0..4 {
        let (once, calls) = (once.clone(), calls.clone());
        hs.push(std::thread::spawn(move || {
            once.call_once(|| {
                std::thread::sleep(Duration::from_millis(10));
                calls.fetch_add(1, Ordering::SeqCst);
            })
        }));
    }
    let gs: Vec<_> = (0..4)
        .map(|_| {
            let (once, calls) = (once.clone(), calls.clone());
            r.spawn(move || {
                once.call_once(|| {
                    calls.fetch_add(1, Ordering::SeqCst);
                })
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    gs.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn panic_propagates_and_counts_as_done() {
    let once = Once::new();
    let e =
        catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("init failed")))).unwrap_err();
    assert_eq!(panic_message(&*e), "init failed");
    assert!(once.is_completed());
    let mut ran = false;
    once.call_once(|| ran = true);
    assert!(!ran, "a later call ran f again");
}

#[test]
fn panic_releases_concurrent_waiters() {
    rt(2).block_on(|| {
        let once = Arc::new(Once::new());
        let o = once.clone();
        let first = goro_runtime::spawn(move || {
            o.call_once(|| {
                goro_runtime::sleep(Duration::from_millis(20));
                panic!("f panics");
            })
        });
        goro_runtime::sleep(Duration::from_millis(5));
        let wg = WaitGroup::new();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (once, ran) = (once.clone(), ran.clone());
            wg.go(move || {
                once.call_once(|| {
                    ran.fetch_add(1, Ordering::SeqCst);
                })
            });
        }
        wg.wait();
        assert!(first.join().is_err());
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn static_once() {
    static ONCE: Once = Once::new();
    static N: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..3 {
        ONCE.call_once(|| {
            N.fetch_add(1, Ordering::SeqCst);
        });
    }
    assert_eq!(N.load(Ordering::SeqCst), 1);
    assert_eq!(format!("{ONCE:?}"), "Once { done: true, .. }");
}
