//! RwMutex: exclusion, shared readers, writer preference, plain threads.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rt, Rng};
use goro_sync::{RwMutex, WaitGroup};

const N: usize = if cfg!(debug_assertions) { 1_000 } else { 10_000 };

fn readers_and_writers(procs: usize) {
    rt(procs).block_on(|| {
        // `state`: >0 readers inside, -1 a writer inside.
        let state = Arc::new(AtomicI64::new(0));
        let m = Arc::new(RwMutex::new(0u64));
        let wg = WaitGroup::new();
        for i in 0..16u64 {
            let (m, state) = (m.clone(), state.clone());
            wg.go(move || {
                let mut rng = Rng::new(i + 7);
                for _ in 0..N {
                    if rng.one_in(10) {
                        let mut g = m.write();
                        assert_eq!(state.swap(-1, Ordering::SeqCst), 0, "writer overlaps");
                        *g += 1;
                        if rng.one_in(8) {
                            goro_runtime::yield_now();
                        }
                        assert_eq!(state.swap(0, Ordering::SeqCst), -1);
                    } else {
                        let g = m.read();
                        assert!(
                            state.fetch_add(1, Ordering::SeqCst) >= 0,
                            "reader overlaps a writer"
                        );
                        let _ = *g;
                        if rng.one_in(8) {
                            goro_runtime::yield_now();
                        }
                        state.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            });
        }
        wg.wait();
    });
}

#[test]
fn exclusion_procs_1() {
    readers_and_writers(1);
}

#[test]
fn exclusion_procs_2() {
    readers_and_writers(2);
}

#[test]
fn exclusion_procs_4() {
    readers_and_writers(4);
}

#[test]
fn readers_share() {
    // Two readers inside at once: each waits for the other to arrive.
    rt(2).block_on(|| {
        let m = Arc::new(RwMutex::new(()));
        let inside = Arc::new(AtomicUsize::new(0));
        let wg = WaitGroup::new();
        for _ in 0..2 {
            let (m, inside) = (m.clone(), inside.clone());
            wg.go(move || {
                let _g = m.read();
                inside.fetch_add(1, Ordering::SeqCst);
                while inside.load(Ordering::SeqCst) < 2 {
                    goro_runtime::yield_now();
                }
            });
        }
        wg.wait();
    });
}

fn writer_not_starved(procs: usize) {
    let waited = rt(procs).block_on(|| {
        let m = Arc::new(RwMutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let wg = WaitGroup::new();
        // Overlapping readers: without writer preference the reader count never
        // drops to zero.
        for _ in 0..8 {
            let (m, stop) = (m.clone(), stop.clone());
            wg.go(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = m.read();
                    let _ = *g;
                    goro_runtime::sleep(Duration::from_micros(200));
                }
            });
        }
        goro_runtime::sleep(Duration::from_millis(10));
        let t = Instant::now();
        *m.write() += 1;
        let waited = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        waited
    });
    assert!(waited < Duration::from_millis(100), "writer waited {waited:?}");
}

#[test]
fn writer_gets_in_while_readers_keep_arriving_procs_1() {
    writer_not_starved(1);
}

#[test]
fn writer_gets_in_while_readers_keep_arriving_procs_4() {
    writer_not_starved(4);
}

#[test]
fn waiting_writer_blocks_new_readers() {
    let m = Arc::new(RwMutex::new(()));
    let r1 = m.read();
    let m2 = m.clone();
    let w = std::thread::spawn(move || {
        let _g = m2.write();
    });
    // Wait until the writer has announced itself.
    let t = Instant::now();
    while m.try_read().is_some() {
        assert!(t.elapsed() < Duration::from_secs(5), "writer never announced itself");
        std::thread::yield_now();
    }
    assert!(m.try_write().is_none());
    drop(r1);
    w.join().unwrap();
    assert!(m.try_read().is_some());
}

#[test]
fn plain_threads_and_goroutines() {
    let m = Arc::new(RwMutex::new(0u64));
    let r = rt(2);
    let gs: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            r.spawn(move || {
                for i in 0..N {
                    if i % 4 == 0 {
                        *m.write() += 1;
                    } else {
                        let _ = *m.read();
                    }
                }
            })
        })
        .collect();
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    if i % 4 == 0 {
                        *m.write() += 1;
                    } else {
                        let _ = *m.read();
                    }
                }
            })
        })
        .collect();
    gs.into_iter().for_each(|h| h.join().unwrap());
    ts.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*m.read(), 8 * (N as u64).div_ceil(4));
}

#[test]
fn accessors() {
    let mut m = RwMutex::new(String::from("a"));
    m.get_mut().push('b');
    {
        let _w = m.write();
        assert_eq!(format!("{m:?}"), "RwMutex { data: <locked>, .. }");
        assert!(m.try_read().is_none());
        assert!(m.try_write().is_none());
    }
    assert_eq!(format!("{m:?}"), "RwMutex { data: \"ab\", .. }");
    assert_eq!(m.into_inner(), "ab");
    assert_eq!(RwMutex::<u8>::default().into_inner(), 0);
}

#[test]
fn readers_not_starved_by_writers() {
    // Writers hammer the lock; readers queued behind a writer get in when it leaves,
    // before the next writer (Go's alternation), so every reader finishes its rounds.
    rt(4).block_on(|| {
        let m = Arc::new(RwMutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let writers = WaitGroup::new();
        for _ in 0..3 {
            let (m, stop) = (m.clone(), stop.clone());
            writers.go(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut g = m.write();
                    *g += 1;
                    goro_runtime::yield_now();
                }
            });
        }
        let readers = WaitGroup::new();
        let t = Instant::now();
        for _ in 0..4 {
            let m = m.clone();
            readers.go(move || {
                for _ in 0..200 {
                    let _ = *m.read();
                }
            });
        }
        readers.wait();
        let took = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        writers.wait();
        assert!(took < Duration::from_secs(5), "readers took {took:?}");
    });
}
