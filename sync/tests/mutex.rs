//! Mutex: mutual exclusion under procs 1, 2, 4 with random yields, starvation mode,
//! plain threads, mixed threads and goroutines.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rt, Rng};
use goro_sync::{Mutex, WaitGroup};

const GOROUTINES: usize = 100;

/// The tests of this file load every CPU; run them one at a time so that the timing
/// bounds measure the mutex, not an oversubscribed machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
const N: usize = if cfg!(debug_assertions) { 1_000 } else { 10_000 };

/// A counter that detects overlapping critical sections: it is read, then
/// (sometimes after a yield) written back incremented.
struct Counter {
    value: u64,
    inside: bool,
}

fn exclusion(procs: usize) {
    let total = rt(procs).block_on(|| {
        let m = Arc::new(Mutex::new(Counter { value: 0, inside: false }));
        let wg = WaitGroup::new();
        for i in 0..GOROUTINES {
            let m = m.clone();
            wg.go(move || {
                let mut rng = Rng::new(i as u64 + 1);
                for _ in 0..N {
                    let mut g = m.lock();
                    assert!(!g.inside, "two goroutines inside the critical section");
                    g.inside = true;
                    let v = g.value;
                    if rng.one_in(64) {
                        goro_runtime::yield_now();
                    }
                    g.value = v + 1;
                    g.inside = false;
                    drop(g);
                    if rng.one_in(16) {
                        goro_runtime::yield_now();
                    }
                }
            });
        }
        wg.wait();
        let v = m.lock().value;
        v
    });
    assert_eq!(total, (GOROUTINES * N) as u64);
}

#[test]
fn mutual_exclusion_procs_1() {
    let _serial = serial();
    exclusion(1);
}

#[test]
fn mutual_exclusion_procs_2() {
    let _serial = serial();
    exclusion(2);
}

#[test]
fn mutual_exclusion_procs_4() {
    let _serial = serial();
    exclusion(4);
}

#[test]
fn plain_threads() {
    let _serial = serial();
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    let mut g = m.lock();
                    *g += 1;
                    if i % 100 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(Arc::into_inner(m).unwrap().into_inner(), 4 * N as u64);
}

#[test]
fn mixed_threads_and_goroutines() {
    let _serial = serial();
    let m = Arc::new(Mutex::new(0u64));
    let r = rt(2);
    let gs: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            r.spawn(move || {
                for i in 0..N {
                    *m.lock() += 1;
                    if i % 50 == 0 {
                        goro_runtime::yield_now();
                    }
                }
            })
        })
        .collect();
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..N {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    for g in gs {
        g.join().unwrap();
    }
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 8 * N as u64);
}

#[test]
fn goroutine_waits_for_thread_holder() {
    let _serial = serial();
    // A thread holds the lock; a goroutine parks on it (its P stays free for others).
    let m = Arc::new(Mutex::new(0));
    let g = m.lock();
    let r = rt(1);
    let m2 = m.clone();
    let h = r.spawn(move || {
        *m2.lock() += 1;
    });
    // The single P is not blocked: another goroutine still runs.
    assert_eq!(r.spawn(|| 7).join().unwrap(), 7);
    std::thread::sleep(Duration::from_millis(10));
    assert!(!h.is_finished());
    drop(g);
    h.join().unwrap();
    assert_eq!(*m.lock(), 1);
}

/// Holds the lock ~20 µs, then re-locks at once: the barging loop.
fn barge(m: &Mutex<u64>) {
    let mut g = m.lock();
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(20) {
        std::hint::spin_loop();
    }
    *g += 1;
}

/// Two plain threads barging on `m` until `stop` (after 5 ms to get going).
fn thread_bargers(m: &Arc<Mutex<u64>>, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let hs = (0..2)
        .map(|_| {
            let (m, stop) = (m.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    barge(&m);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    hs
}

/// Starvation mode's promise: no wait behind the bargers reaches 100 ms.
fn assert_bounded(max_wait: Duration) {
    eprintln!("max wait {max_wait:?}");
    assert!(max_wait < Duration::from_millis(100), "a waiter waited {max_wait:?}");
}

/// 20 lock attempts (1 ms apart) behind the barging loop; the longest wait.
fn waiter(m: &Mutex<u64>, sleep: fn(Duration)) -> Duration {
    let mut max_wait = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let g = m.lock();
        max_wait = max_wait.max(t.elapsed());
        drop(g);
        sleep(Duration::from_millis(1));
    }
    max_wait
}

/// Goroutine bargers and a goroutine waiter. The bargers offer a safe point every 32
/// rounds (~0.7 ms): a waiter made runnable into a barger's `runnext` would otherwise
/// wait for the barger's time slice to end (up to 10 ms, or a hog hand-off), which
/// measures the scheduler, not the mutex.
fn starvation(procs: usize, bargers: usize) {
    let max_wait = rt(procs).block_on(move || {
        let m = Arc::new(Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let wg = WaitGroup::new();
        for _ in 0..bargers {
            let (m, stop) = (m.clone(), stop.clone());
            wg.go(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    barge(&m);
                    i += 1;
                    if i.is_multiple_of(32) {
                        goro_runtime::yield_now();
                    }
                }
            });
        }
        goro_runtime::sleep(Duration::from_millis(5));
        let max_wait = waiter(&m, goro_runtime::sleep);
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        max_wait
    });
    assert_bounded(max_wait);
}

#[test]
fn starvation_mode_bounds_wait_thread_bargers_goroutine_waiter() {
    let _serial = serial();
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hs = thread_bargers(&m, &stop);
    let m2 = m.clone();
    let max_wait = rt(2).block_on(move || waiter(&m2, goro_runtime::sleep));
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    assert_bounded(max_wait);
}

#[test]
fn starvation_mode_bounds_wait_procs_2() {
    let _serial = serial();
    starvation(2, 2);
}

#[test]
fn starvation_mode_bounds_wait_procs_4() {
    let _serial = serial();
    starvation(4, 3);
}

#[test]
fn starvation_mode_bounds_wait_plain_threads() {
    let _serial = serial();
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hs = thread_bargers(&m, &stop);
    let max_wait = waiter(&m, std::thread::sleep);
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    assert_bounded(max_wait);
}

#[test]
fn try_lock_and_accessors() {
    let _serial = serial();
    let mut m = Mutex::new(vec![1]);
    {
        let g = m.try_lock().expect("unlocked");
        assert!(m.try_lock().is_none());
        assert_eq!(format!("{m:?}"), "Mutex { data: <locked>, .. }");
        drop(g);
    }
    m.get_mut().push(2);
    assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2], .. }");
    assert_eq!(Mutex::<u8>::default().into_inner(), 0);
    assert_eq!(m.into_inner(), [1, 2]);
}

#[test]
fn panic_unlocks_without_poison() {
    let _serial = serial();
    let m = Arc::new(Mutex::new(1));
    let m2 = m.clone();
    let r = std::thread::spawn(move || {
        let _g = m2.lock();
        panic!("boom");
    })
    .join();
    assert!(r.is_err());
    assert_eq!(*m.try_lock().expect("unlocked by unwinding"), 1);
}

#[test]
fn guard_moves_to_another_goroutine() {
    let _serial = serial();
    // Go allows unlocking from another goroutine; here the guard travels.
    let n = rt(2).block_on(|| {
        let m: &'static Mutex<u32> = Box::leak(Box::new(Mutex::new(0)));
        let mut g = m.lock();
        *g = 5;
        goro_runtime::spawn(move || {
            *g += 1;
            drop(g);
        })
        .join()
        .unwrap();
        let v = *m.lock();
        v
    });
    assert_eq!(n, 6);
}

#[test]
fn many_waiters_all_get_in() {
    let _serial = serial();
    // Every parked waiter is eventually woken (no lost wake-ups).
    let count = Arc::new(AtomicU64::new(0));
    let c2 = count.clone();
    rt(4).block_on(move || {
        let m = Arc::new(Mutex::new(()));
        let g = m.lock();
        let wg = WaitGroup::new();
        for _ in 0..1000 {
            let (m, c) = (m.clone(), c2.clone());
            wg.go(move || {
                let _g = m.lock();
                c.fetch_add(1, Ordering::Relaxed);
            });
        }
        goro_runtime::sleep(Duration::from_millis(20));
        drop(g);
        wg.wait();
    });
    assert_eq!(count.load(Ordering::Relaxed), 1000);
}
