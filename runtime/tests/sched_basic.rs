//! Scheduler basics: run, spawn, join, yield, sleep, ids, panics, Builder, Runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro_runtime::{self as goro, Builder, Runtime};

#[test]
fn run_returns_value() {
    assert_eq!(goro::run(|| 40 + 2), 42);
}

#[test]
fn run_many_times_and_from_many_threads() {
    let ts: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                for j in 0..50 {
                    assert_eq!(goro::run(move || i * 1000 + j), i * 1000 + j);
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
}

#[test]
fn spawn_join_values() {
    let sum = goro::run(|| {
        let hs: Vec<_> = (0..1000u64).map(|i| goro::spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 999 * 1000 / 2);
}

#[test]
fn go_macro_spawns() {
    let v = goro::run(|| {
        let x = 5;
        goro::go! { x * 2 }.join().unwrap()
    });
    assert_eq!(v, 10);
}

#[test]
fn ids_are_unique_and_current() {
    goro::run(|| {
        let me = goro::current_id().expect("main goroutine has an id");
        let hs: Vec<_> = (0..100).map(|_| goro::spawn(|| goro::current_id().unwrap())).collect();
        let mut ids: Vec<u64> = hs.iter().map(|h| h.id()).collect();
        for h in hs {
            let id = h.id();
            assert_eq!(h.join().unwrap(), id);
        }
        ids.push(me);
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 101);
        assert!(ids.iter().all(|&i| i > 0));
    });
    assert_eq!(goro::current_id(), None);
}

#[test]
fn nested_spawns_ten_deep() {
    fn nest(depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        goro::spawn(move || nest(depth - 1) + 1).join().unwrap()
    }
    assert_eq!(goro::run(|| nest(10)), 10);
}

#[test]
fn spawn_and_join_from_plain_threads() {
    let ts: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..200u64).map(|i| goro::spawn(move || t * 1000 + i)).collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        })
        .collect();
    for (t, th) in ts.into_iter().enumerate() {
        let want: u64 = (0..200u64).map(|i| t as u64 * 1000 + i).sum();
        assert_eq!(th.join().unwrap(), want);
    }
}

#[test]
fn panic_is_contained_and_returned_by_join() {
    goro::run(|| {
        let n = std::hint::black_box(7);
        let h = goro::spawn(move || -> u32 { panic!("boom {n}") });
        let id = h.id();
        let err = h.join().unwrap_err();
        assert_eq!(err.id(), id);
        assert!(err.to_string().contains("boom 7"), "{err}");
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom 7"));
        // The runtime keeps running.
        assert_eq!(goro::spawn(|| 1).join().unwrap(), 1);
    });
}

#[test]
fn main_goroutine_panic_is_reraised() {
    let r = std::panic::catch_unwind(|| goro::run(|| panic!("main says no")));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"main says no"));
    assert_eq!(goro::run(|| 3), 3);
}

#[test]
fn builder_spawn_name_and_stack_size() {
    goro::run(|| {
        let h = Builder::new().name("worker").stack_size(1 << 20).spawn(|| 7).unwrap();
        assert_eq!(h.join().unwrap(), 7);
        let e = Builder::new().stack_size(12345).spawn(|| ()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("12345"), "{e}");
    });
}

#[test]
fn is_finished_and_detach() {
    goro::run(|| {
        let h = goro::spawn(|| goro::sleep(Duration::from_millis(20)));
        assert!(!h.is_finished());
        h.join().unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        drop(goro::spawn(move || d.fetch_add(1, Ordering::SeqCst)));
        let t = Instant::now();
        while done.load(Ordering::SeqCst) == 0 {
            assert!(t.elapsed() < Duration::from_secs(5));
            goro::yield_now();
            goro::sleep(Duration::from_millis(1));
        }
    });
}

/// Counts its drops: a goroutine's result must be dropped exactly once, by whichever
/// side ends up owning the join packet.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn every_result_is_dropped_once_however_the_handle_goes() {
    // Handles joined, dropped at once, dropped after the goroutine finished, and
    // dropped while it may be finishing on the other P (the packet's four owners:
    // the joiner, the handle's CAS, the handle after DONE, the goroutine after
    // DETACHED). A leaked or doubly dropped result fails the count; the loom model
    // `loom_packet` checks the same protocol for use after free.
    let rt = Runtime::builder().procs(2).build().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    const N: usize = 4000;
    let (racer, handles) = std::sync::mpsc::channel::<goro::JoinHandle<(Counted, [u64; 256])>>();
    let dropper = std::thread::spawn(move || {
        for (i, h) in handles.into_iter().enumerate() {
            for _ in 0..(i * 37) % 200 {
                std::hint::spin_loop();
            }
            drop(h);
        }
    });
    rt.block_on(move || {
        let mut joined = 0;
        for i in 0..N {
            let d = d.clone();
            let h = goro::spawn(move || {
                if i % 3 == 0 {
                    goro::yield_now();
                }
                // Large, so that storing it keeps the goroutine between its two
                // swaps for a while.
                (Counted(d), [i as u64; 256])
            });
            match i % 4 {
                0 => {
                    drop(h.join().unwrap());
                    joined += 1;
                }
                1 => drop(h),
                2 => {
                    while !h.is_finished() {
                        goro::yield_now();
                    }
                    drop(h);
                }
                _ => {
                    // Dropped on a plain thread while the goroutine may be between
                    // taking its reference and publishing DONE.
                    racer.send(h).unwrap();
                }
            }
        }
        assert_eq!(joined, N / 4);
    });
    dropper.join().unwrap();
    let t = Instant::now();
    while dropped.load(Ordering::SeqCst) < N {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{} of {N} results dropped",
            dropped.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(dropped.load(Ordering::SeqCst), N);
}

#[test]
fn sleep_sleeps_and_zero_returns_at_once() {
    // `sleep(0)` returns at once: no timer, no park, so the P never switches. (Not
    // timed: a loaded machine can deschedule the thread for any length of time.)
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(|| {
        let switches =
            |st: &goro::Stats| st.per_proc[0].switches + st.per_proc[0].scheduler_switches;
        for _ in 0..5 {
            let before = goro::stats();
            goro::sleep(Duration::ZERO);
            let after = goro::stats();
            if after.handoffs != before.handoffs {
                continue; // a hog hand-off moved the P (see yield_switches_...)
            }
            assert_eq!(switches(&after), switches(&before), "{before:?}\n{after:?}");
            assert_eq!(after.timers, 0, "{after:?}");
            return;
        }
        panic!("every try had its P handed off: the machine is too loaded for this test");
    });
    goro::run(|| {
        let t = Instant::now();
        goro::sleep(Duration::from_millis(30));
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(30), "{e:?}");
        assert!(e < Duration::from_secs(5), "{e:?}");
    });
    // On a plain thread it is thread::sleep.
    let t = Instant::now();
    goro::sleep(Duration::from_millis(10));
    assert!(t.elapsed() >= Duration::from_millis(10));
}

#[test]
fn many_sleepers_each_wake_after_their_deadline() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let woke = rt.block_on(|| {
        let start = Instant::now();
        let hs: Vec<_> = (0..20u64)
            .rev()
            .map(|i| {
                goro::spawn(move || {
                    goro::sleep(Duration::from_millis(5 * i));
                    (i, start.elapsed())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    assert_eq!(woke.len(), 20);
    for (i, at) in &woke {
        assert!(*at >= Duration::from_millis(5 * i), "goroutine {i} woke early: {at:?}");
        assert!(*at < Duration::from_millis(5 * i + 2000), "goroutine {i} woke late: {at:?}");
    }
}

#[test]
fn yield_now_lets_others_run_on_one_proc() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(|| {
        let flag = Arc::new(AtomicUsize::new(0));
        let f = flag.clone();
        let h = goro::spawn(move || f.store(1, Ordering::SeqCst));
        // With one P the spawned goroutine runs only when we yield.
        while flag.load(Ordering::SeqCst) == 0 {
            goro::yield_now();
        }
        h.join().unwrap();
    });
}

#[test]
fn runtime_builder_procs_and_block_on() {
    let rt = Runtime::builder().procs(3).stack_size(64 * 1024).build().unwrap();
    assert_eq!(rt.procs(), 3);
    assert_eq!(rt.block_on(goro::procs), 3);
    assert!(Runtime::builder().procs(0).build().is_err());
    let e = Runtime::builder().stack_size(1000).build().unwrap_err();
    assert!(e.to_string().contains("1000"));
}

#[test]
fn num_goroutine_counts_live_ones() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        assert_eq!(goro::num_goroutine(), 1);
        let gate = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let g = gate.clone();
                goro::spawn(move || {
                    while g.load(Ordering::SeqCst) == 0 {
                        goro::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        assert_eq!(goro::num_goroutine(), 11);
        gate.store(1, Ordering::SeqCst);
        for h in hs {
            h.join().unwrap();
        }
        let t = Instant::now();
        while goro::num_goroutine() != 1 {
            assert!(t.elapsed() < Duration::from_secs(5));
            goro::yield_now();
        }
    });
}

#[test]
fn work_spreads_over_both_procs() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let hs: Vec<_> = (0..64)
            .map(|_| {
                goro::spawn(|| {
                    let t = Instant::now();
                    let mut x = 0u64;
                    while t.elapsed() < Duration::from_millis(5) {
                        x = x.wrapping_add(1);
                        std::hint::black_box(x);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let st = rt.stats();
    assert_eq!(st.per_proc.len(), 2);
    for p in &st.per_proc {
        assert!(p.switches > 5, "{st:?}");
    }
    assert!(st.per_proc.iter().map(|p| p.steals).sum::<u64>() > 0, "{st:?}");
}

#[test]
fn stats_has_the_documented_fields() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let st = rt.block_on(goro::stats);
    assert_eq!(st.procs, 2);
    assert_eq!(st.goroutines, 1);
    assert!(st.threads >= 1);
    assert_eq!(st.per_proc.len(), 2);
}

#[test]
fn current_id_is_none_on_plain_threads() {
    assert_eq!(goro::current_id(), None);
    assert!(goro::procs() >= 1);
}

#[test]
fn dump_lists_goroutines_with_their_state() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let h = goro::spawn(|| goro::sleep(Duration::from_secs(1)));
        let me = goro::current_id().unwrap();
        // The sleeper may take a while to get going on a loaded machine: poll.
        let start = Instant::now();
        let d = loop {
            goro::sleep(Duration::from_millis(10));
            let d = goro::dump();
            if d.contains(&format!("goroutine {} [sleep]:", h.id()))
                || start.elapsed() > Duration::from_millis(900)
            {
                break d;
            }
        };
        assert!(d.contains(&format!("goroutine {me} [running]:")), "{d}");
        assert!(d.contains(&format!("goroutine {} [sleep]:", h.id())), "{d}");
        h.join().unwrap();
    });
}

/// A pair that hands the CPU back and forth through `runnext` (every switch inherits
/// the time slice) does not starve a third goroutine on the same P.
///
/// The players pass a turn under one lock, so the protocol stays correct when both
/// run at once: on a loaded machine sysmon may take the P from a player whose thread
/// the kernel descheduled past its slice (the hog hand-off, DESIGN.md §5), and the
/// P's new M then runs the other player in parallel.
#[test]
fn runnext_ping_pong_does_not_starve_the_queue() {
    use goro::park::{self, Unparker, WaitReason};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Table {
        turn: usize,
        stop: bool,
        waiting: [Option<Unparker>; 2],
    }
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(|| {
        let table = Arc::new(Mutex::new(Table::default()));
        let rounds = Arc::new(AtomicUsize::new(0));
        let player = |me: usize| {
            let (table, rounds) = (table.clone(), rounds.clone());
            goro::spawn(move || loop {
                let mut t = table.lock().unwrap();
                if t.stop {
                    // Let the other one see `stop` too.
                    let other = t.waiting[1 - me].take();
                    drop(t);
                    if let Some(u) = other {
                        u.unpark();
                    }
                    return;
                }
                if t.turn == me {
                    // Pass the turn and wake the other one (it goes to runnext).
                    t.turn = 1 - me;
                    let other = t.waiting[1 - me].take();
                    drop(t);
                    rounds.fetch_add(1, Ordering::Relaxed);
                    if let Some(u) = other {
                        u.unpark();
                    }
                } else {
                    // Wait for the turn; the lock is released once we are parked.
                    t.waiting[me] = Some(park::unparker());
                    park::park_with(WaitReason::ChanReceive, move || {
                        drop(t);
                        true
                    });
                }
            })
        };
        let a = player(0);
        let b = player(1);
        // Let them get going, then see that a third goroutine still gets to run.
        while rounds.load(Ordering::Relaxed) == 0 {
            goro::yield_now();
        }
        let t2 = table.clone();
        let third = goro::spawn(move || t2.lock().unwrap().stop = true);
        third.join().unwrap();
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// Runtime timers: `after_fn` fires once; `stop` before the deadline prevents it.
#[test]
fn timer_handles_fire_and_stop() {
    use goro::timer::TimerHandle;
    let fired = Arc::new(AtomicUsize::new(0));
    let f2 = fired.clone();
    let t = TimerHandle::after_fn(Instant::now() + Duration::from_millis(10), move || {
        f2.fetch_add(1, Ordering::SeqCst);
    });
    let f3 = fired.clone();
    let stopped = TimerHandle::after_fn(Instant::now() + Duration::from_secs(60), move || {
        f3.fetch_add(100, Ordering::SeqCst);
    });
    assert!(stopped.stop());
    assert!(!stopped.stop());
    let start = Instant::now();
    while fired.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "timer never fired");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(t.fired());
    assert!(!t.stop());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

/// Several threads share one explicit runtime.
#[test]
fn block_on_from_many_threads_on_one_runtime() {
    let rt = Arc::new(Runtime::builder().procs(2).build().unwrap());
    let ts: Vec<_> = (0..4u64)
        .map(|i| {
            let rt = rt.clone();
            std::thread::spawn(move || {
                (0..50u64)
                    .map(|j| rt.block_on(move || goro::spawn(move || i * j).join().unwrap()))
                    .sum::<u64>()
            })
        })
        .collect();
    for (i, t) in ts.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), i as u64 * (0..50).sum::<u64>());
    }
}

/// Yielding between goroutines switches directly from one to the next: the
/// scheduler's own stack is entered only when the P has nothing local to run.
///
/// A hog hand-off (sysmon takes the P from a thread the kernel descheduled past its
/// slice, which happens on a loaded machine) moves the P to another M mid-run and
/// spoils the per-P counts, so a run with a hand-off is repeated (at most 5 runs).
#[test]
fn yield_switches_directly_between_goroutines() {
    for _ in 0..5 {
        let rt = Runtime::builder().procs(1).build().unwrap();
        rt.block_on(|| {
            let h = goro::spawn(|| {
                for _ in 0..10_000 {
                    goro::yield_now();
                }
            });
            for _ in 0..10_000 {
                goro::yield_now();
            }
            h.join().unwrap();
        });
        let st = rt.stats();
        if st.handoffs > 0 {
            continue;
        }
        let p = &st.per_proc[0];
        assert!(p.switches >= 20_000, "{st:?}");
        assert!(p.scheduler_switches < 100, "{st:?}");
        return;
    }
    panic!("every run had its P handed off: the machine is too loaded for this test");
}

/// A goroutine of one runtime waits for work on another (cross-runtime wake-ups go
/// through the owner's global queue).
#[test]
fn block_on_another_runtime_from_a_goroutine() {
    let a = Arc::new(Runtime::builder().procs(1).build().unwrap());
    let b = Arc::new(Runtime::builder().procs(2).build().unwrap());
    let b2 = b.clone();
    let v = a.block_on(move || {
        let hs: Vec<_> = (0..20u64)
            .map(|i| {
                let b = b2.clone();
                goro::spawn(move || {
                    b.block_on(move || {
                        goro::sleep(Duration::from_millis(1));
                        i
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(v, (0..20).sum::<u64>());
    drop(b);
}

/// A due timer is left to its P while that P runs goroutines, but only for a short
/// grace (sysmon.rs): a P whose goroutine never reaches a safe point still has its
/// timers fired, by sysmon.
#[test]
fn timers_of_a_p_that_never_schedules_still_fire() {
    use goro::timer::TimerHandle;
    let rt = Runtime::builder().procs(1).build().unwrap();
    let waited = rt.block_on(|| {
        let fired = Arc::new(AtomicUsize::new(0));
        let f2 = fired.clone();
        // Added from the running goroutine: the timer goes to its (only) P.
        let start = Instant::now();
        let _t = TimerHandle::after_fn(start + Duration::from_millis(1), move || {
            f2.store(1, Ordering::Release);
        });
        // No safe point in this loop, and no other work waits (no preemption).
        while fired.load(Ordering::Acquire) == 0 && start.elapsed() < Duration::from_secs(5) {
            std::hint::spin_loop();
        }
        start.elapsed()
    });
    assert!(waited < Duration::from_secs(5), "the timer of a busy P never fired");
}
