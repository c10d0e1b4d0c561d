//! Stress: randomised spawn/yield/sleep/join/park under procs 1, 2 and 4; the
//! "switch, then release" invariant hammered by park/unpark ping-pong across Ps;
//! goroutine migration with thread-locals; a million goroutines (release only).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goro_runtime::park::{self, WaitReason};
use goro_runtime::{self as goro, Runtime};

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

const SCALE: u64 = if cfg!(debug_assertions) { 1 } else { 4 };

fn tree(seed: u64, depth: u32, total: Arc<AtomicU64>) -> u64 {
    let mut s = seed | 1;
    let mut hs = Vec::new();
    let mut sum = 1;
    for _ in 0..(rng(&mut s) % 4) {
        match rng(&mut s) % 5 {
            0 => goro::yield_now(),
            1 => goro::sleep(Duration::from_micros(rng(&mut s) % 300)),
            _ if depth > 0 => {
                let t = total.clone();
                let child = rng(&mut s);
                hs.push(goro::spawn(move || tree(child, depth - 1, t)));
            }
            _ => {}
        }
    }
    total.fetch_add(1, Ordering::Relaxed);
    for h in hs {
        sum += h.join().unwrap();
        if rng(&mut s).is_multiple_of(3) {
            goro::yield_now();
        }
    }
    sum
}

fn stress(procs: usize) {
    let rt = Runtime::builder().procs(procs).build().unwrap();
    for round in 0..(3 * SCALE) {
        let total = Arc::new(AtomicU64::new(0));
        let t2 = total.clone();
        let n = rt.block_on(move || {
            let hs: Vec<_> = (0..20u64)
                .map(|i| {
                    let t = t2.clone();
                    goro::spawn(move || tree(i * 7919 + round, 5, t))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(n, total.load(Ordering::Relaxed));
    }
}

#[test]
fn random_mix_procs_1() {
    stress(1);
}

#[test]
fn random_mix_procs_2() {
    stress(2);
}

#[test]
fn random_mix_procs_4() {
    stress(4);
}

/// The procs of the `_all_cores` tests: `GORO_STRESS_PROCS` if set (a many-core
/// machine can ask for 16), else twice the available parallelism.
fn many_procs() -> usize {
    match std::env::var("GORO_STRESS_PROCS") {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("GORO_STRESS_PROCS={v:?} is not a number")),
        Err(_) => 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

#[test]
fn random_mix_all_cores() {
    stress(many_procs());
}

/// Goroutines park and unpark each other in a ring as fast as they can under procs 4:
/// a goroutine resumed before its context was saved would crash or corrupt counts.
#[test]
fn park_unpark_ring_procs_4() {
    ring(4);
}

#[test]
fn park_unpark_ring_all_cores() {
    ring(many_procs());
}

fn ring(procs: usize) {
    let rt = Runtime::builder().procs(procs).build().unwrap();
    const N: usize = 16;
    let rounds = 2000 * SCALE as usize;
    rt.block_on(move || {
        let slots: Arc<Vec<std::sync::Mutex<Option<park::Unparker>>>> =
            Arc::new((0..N).map(|_| std::sync::Mutex::new(None)).collect());
        let turn = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let slots = slots.clone();
                let turn = turn.clone();
                goro::spawn(move || {
                    for r in 0..rounds {
                        let want = r * N + i;
                        loop {
                            let mut slot = slots[i].lock().unwrap();
                            if turn.load(Ordering::Acquire) == want {
                                break;
                            }
                            *slot = Some(park::unparker());
                            park::park_with(WaitReason::ChanReceive, move || {
                                drop(slot);
                                true
                            });
                        }
                        turn.store(want + 1, Ordering::Release);
                        let next = (i + 1) % N;
                        let u = slots[next].lock().unwrap().take();
                        if let Some(u) = u {
                            u.unpark();
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(turn.load(Ordering::Acquire), rounds * N);
    });
}

thread_local! {
    static TL_ID: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Goroutines migrate between threads at every yield/sleep; `current_id` must stay
/// right (the runtime's thread-locals are read through non-inlined accessors).
#[test]
fn current_id_survives_migration() {
    let rt = Runtime::builder().procs(4).build().unwrap();
    let migrations = rt.block_on(|| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                goro::spawn(|| {
                    let me = goro::current_id().unwrap();
                    let mut moved = 0;
                    let mut last = std::thread::current().id();
                    for i in 0..(2000 * SCALE) {
                        if i.is_multiple_of(8) {
                            goro::sleep(Duration::from_micros(10));
                        } else {
                            goro::yield_now();
                        }
                        assert_eq!(goro::current_id(), Some(me));
                        let now = std::thread::current().id();
                        if now != last {
                            moved += 1;
                            last = now;
                        }
                    }
                    TL_ID.with(|c| c.set(me as usize));
                    moved
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert!(migrations > 0, "no goroutine ever changed threads");
}

/// `lock_os_thread`: the goroutine stays on its thread across parks and yields, and
/// other goroutines keep running meanwhile.
#[test]
fn lock_os_thread_pins_the_goroutine() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let others = Arc::new(AtomicUsize::new(0));
        let o2 = others.clone();
        let bg: Vec<_> = (0..4)
            .map(|_| {
                let o = o2.clone();
                goro::spawn(move || {
                    for _ in 0..200 {
                        o.fetch_add(1, Ordering::Relaxed);
                        goro::sleep(Duration::from_micros(50));
                    }
                })
            })
            .collect();
        let h = goro::spawn(|| {
            goro::lock_os_thread();
            let t = std::thread::current().id();
            for i in 0..200u32 {
                if i.is_multiple_of(2) {
                    goro::yield_now();
                } else {
                    goro::sleep(Duration::from_micros(100));
                }
                assert_eq!(std::thread::current().id(), t);
            }
            goro::unlock_os_thread();
        });
        h.join().unwrap();
        for b in bg {
            b.join().unwrap();
        }
        assert_eq!(others.load(Ordering::Relaxed), 800);
    });
}

/// A goroutine that parks while unwinding (a Drop that waits) stays on its thread,
/// so `std::thread::panicking()` stays true for it and false for others.
#[test]
fn park_while_panicking_stays_on_thread() {
    struct WaitOnDrop;
    impl Drop for WaitOnDrop {
        fn drop(&mut self) {
            let t = std::thread::current().id();
            for _ in 0..20 {
                goro::sleep(Duration::from_micros(200));
                assert!(std::thread::panicking());
                assert_eq!(std::thread::current().id(), t);
            }
        }
    }
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let bg: Vec<_> = (0..4)
            .map(|_| {
                goro::spawn(|| {
                    for _ in 0..100 {
                        assert!(!std::thread::panicking());
                        goro::sleep(Duration::from_micros(100));
                    }
                })
            })
            .collect();
        let h = goro::spawn(|| {
            let _w = WaitOnDrop;
            panic!("unwinding through a parking destructor");
        });
        assert!(h.join().is_err());
        for b in bg {
            b.join().unwrap();
        }
    });
}

/// One million goroutines spawned and joined.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn spawn_join_one_million() {
    let n = goro::run(|| {
        let hs: Vec<_> = (0..1_000_000u64).map(|i| goro::spawn(move || i & 1)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(n, 500_000);
}

/// One million goroutines parked at once (at the default `vm.max_map_count`).
#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn one_million_parked_at_once() {
    const N: usize = 1_000_000;
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let parked = Arc::new(AtomicUsize::new(0));
        let wakers: Arc<std::sync::Mutex<Vec<park::Unparker>>> =
            Arc::new(std::sync::Mutex::new(Vec::with_capacity(N)));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (p, w) = (parked.clone(), wakers.clone());
                goro::spawn(move || {
                    let mut g = w.lock().unwrap();
                    g.push(park::unparker());
                    p.fetch_add(1, Ordering::Relaxed);
                    park::park_with(WaitReason::ChanReceive, move || {
                        drop(g);
                        true
                    });
                })
            })
            .collect();
        while parked.load(Ordering::Relaxed) < N {
            goro::sleep(Duration::from_millis(10));
        }
        assert_eq!(goro::num_goroutine(), N + 1);
        let st = goro::stats();
        assert!(st.stacks_in_use >= N, "{st:?}");
        for u in wakers.lock().unwrap().drain(..) {
            u.unpark();
        }
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// Goroutines mixing call-free spins (hogs), `blocking` and unwrapped blocking calls
/// with yields, sleeps, spawns and `coop::check`: Ps are taken from running Ms and
/// handed back all the time. Every goroutine finishes with the right count, and the
/// current goroutine id stays right across every hand-off.
fn preemption_mix(procs: usize) {
    let rt = Runtime::builder().procs(procs).build().unwrap();
    let n = 48u64;
    let steps = 30 * SCALE;
    let (done, st) = rt.block_on(move || {
        let total = Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let total = total.clone();
                goro::spawn(move || {
                    let me = goro::current_id().unwrap();
                    if i.is_multiple_of(8) {
                        goro::lock_os_thread();
                    }
                    let mut s = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    for _ in 0..steps {
                        match rng(&mut s) % 10 {
                            0 => {
                                // Mostly short; one in eight runs past a time slice.
                                let us = if rng(&mut s).is_multiple_of(8) { 12_000 } else { 2_000 };
                                let until = std::time::Instant::now()
                                    + Duration::from_micros(rng(&mut s) % us);
                                while std::time::Instant::now() < until {
                                    std::hint::spin_loop();
                                }
                            }
                            1 => goro::blocking(|| {
                                std::thread::sleep(Duration::from_micros(rng(&mut s) % 500))
                            }),
                            2 => std::thread::sleep(Duration::from_micros(rng(&mut s) % 300)),
                            3 => goro::coop::check(),
                            4 => goro::sleep(Duration::from_micros(rng(&mut s) % 200)),
                            5 => assert_eq!(goro::spawn(move || i).join().unwrap(), i),
                            _ => goro::yield_now(),
                        }
                        assert_eq!(goro::current_id(), Some(me));
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                    if i.is_multiple_of(8) {
                        goro::unlock_os_thread();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        // Sysmon counts an M as running without a P just before its CAS that takes
        // the P, and uncounts it if the CAS fails (preempt.rs invariant 3): a snapshot
        // can catch that instant. An M really left without a P stays counted.
        let t = std::time::Instant::now();
        let mut st = goro::stats();
        while st.running_without_p != 0 && t.elapsed() < Duration::from_secs(1) {
            goro::sleep(Duration::from_millis(1));
            st = goro::stats();
        }
        (total.load(Ordering::Relaxed), st)
    });
    assert_eq!(done, n * steps);
    assert_eq!(st.running_without_p, 0, "{st:?}");
    assert!(st.handoffs > 0, "no P was ever handed off: {st:?}");
    eprintln!("procs {procs}: {} hand-offs, {} preemptions", st.handoffs, st.preemptions);
}

#[test]
fn preemption_mix_procs_1() {
    preemption_mix(1);
}

#[test]
fn preemption_mix_procs_2() {
    preemption_mix(2);
}

#[test]
fn preemption_mix_procs_4() {
    preemption_mix(4);
}

#[test]
#[ignore = "many-core stress: GORO_STRESS_PROCS=16 cargo test --release -- --ignored"]
fn preemption_mix_all_cores() {
    preemption_mix(many_procs());
}
