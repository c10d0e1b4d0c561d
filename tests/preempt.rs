//! Preemption (DESIGN.md §5-6): time slices, the hog hand-off and `blocking`.
//!
//! Each scenario runs on its own `procs = 1` runtime, so a goroutine that never
//! reaches a runtime call would stop everything else on it without the hog
//! hand-off. Spinners stop through an atomic flag (no runtime call in their loop).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan;
use goro::Runtime;

/// A `procs = 1` runtime, and a watchdog: without the hand-off these scenarios
/// hang rather than fail, so the test process exits with a message after 60 s.
fn rt1() -> Runtime {
    static WATCHDOG: std::sync::Once = std::sync::Once::new();
    WATCHDOG.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(60));
            eprintln!("preempt tests: still running after 60 s (a goroutine starved)");
            std::process::exit(101);
        });
    });
    Runtime::builder().procs(1).build().unwrap()
}

/// A call-free loop until `stop` is set; returns its iteration count.
fn spin(stop: &AtomicBool) -> u64 {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n = black_box(n + 1);
    }
    n
}

/// Starts a call-free spinner on the current runtime and yields so it gets the P.
fn start_spinner() -> (Arc<AtomicBool>, goro::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let h = goro::spawn(move || spin(&s2));
    goro::yield_now();
    (stop, h)
}

#[test]
fn a_spinning_goroutine_does_not_stop_a_sleeper() {
    let rt = rt1();
    let (handoffs, n) = rt.block_on(|| {
        let (stop, h) = start_spinner();
        let t = Instant::now();
        let mut n = 0;
        while n < 20 && t.elapsed() < Duration::from_secs(20) {
            goro::sleep(Duration::from_millis(1));
            n += 1;
        }
        stop.store(true, Ordering::Relaxed);
        assert!(h.join().unwrap() > 0);
        (goro::stats().handoffs, n)
    });
    assert_eq!(n, 20);
    assert!(handoffs >= 1, "the spinner's P was never handed off");
}

#[test]
fn a_spinning_goroutine_does_not_stop_a_ticker() {
    let rt = rt1();
    let ticks = rt.block_on(|| {
        let (stop, h) = start_spinner();
        let tick = goro::time::tick(Duration::from_millis(2));
        let t = Instant::now();
        let mut ticks = 0;
        while ticks < 20 && t.elapsed() < Duration::from_secs(20) {
            tick.recv().unwrap();
            ticks += 1;
        }
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
        ticks
    });
    assert_eq!(ticks, 20);
}

#[test]
fn a_spinning_goroutine_does_not_stop_a_ping_pong_pair() {
    let rt = rt1();
    rt.block_on(|| {
        let (stop, h) = start_spinner();
        let (ping_tx, ping_rx) = chan::bounded::<u32>(0);
        let (pong_tx, pong_rx) = chan::bounded::<u32>(0);
        let echo = goro::spawn(move || {
            for v in ping_rx.iter() {
                pong_tx.send(v + 1).unwrap();
            }
        });
        for i in 0..1000 {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i + 1);
        }
        drop(ping_tx);
        echo.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    });
}

/// A goroutine counting `yield_now` calls, and how far it got while `block` ran in
/// another goroutine.
fn counter_progress_during(block: fn()) -> (u64, goro::Stats) {
    let rt = rt1();
    rt.block_on(move || {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, s2) = (count.clone(), stop.clone());
        let counter = goro::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                c2.fetch_add(1, Ordering::Relaxed);
                goro::yield_now();
            }
        });
        goro::sleep(Duration::from_millis(5));
        let c3 = count.clone();
        let blocker = goro::spawn(move || {
            let before = c3.load(Ordering::Relaxed);
            block();
            c3.load(Ordering::Relaxed) - before
        });
        let during = blocker.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        counter.join().unwrap();
        (during, goro::stats())
    })
}

#[test]
fn an_unwrapped_blocking_call_does_not_stop_a_yielding_counter() {
    let (during, st) = counter_progress_during(|| std::thread::sleep(Duration::from_millis(300)));
    assert!(during > 100, "the counter advanced only {during} times in 300 ms");
    assert!(st.handoffs >= 1, "{st:?}");
}

#[test]
fn a_blocking_call_hands_its_p_off() {
    let (during, st) = counter_progress_during(|| {
        goro::blocking(|| std::thread::sleep(Duration::from_millis(300)))
    });
    assert!(during > 100, "the counter advanced only {during} times in 300 ms");
    assert!(st.handoffs >= 1, "{st:?}");
}

#[test]
fn blocking_returns_the_value_and_works_on_plain_threads() {
    assert_eq!(goro::blocking(|| 7), 7);
    let rt = rt1();
    let v = rt.block_on(|| {
        let a = goro::blocking(|| 40);
        // A runtime call inside ends the blocking section early; it still works.
        let b = goro::blocking(|| goro::spawn(|| 2).join().unwrap());
        a + b
    });
    assert_eq!(v, 42);
}

#[test]
fn a_panic_inside_blocking_reaches_join() {
    let rt = rt1();
    let r = rt.block_on(|| {
        goro::spawn(|| goro::blocking(|| -> u32 { panic!("inside blocking") })).join()
    });
    let e = r.unwrap_err().into_panic();
    assert_eq!(e.downcast_ref::<&str>(), Some(&"inside blocking"));
}

#[test]
fn a_long_loop_with_coop_check_is_preempted() {
    let rt = rt1();
    let st = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let h = goro::spawn(move || {
            let mut n = 0u64;
            while !s2.load(Ordering::Relaxed) {
                n = black_box(n + 1);
                goro::coop::check();
            }
            n
        });
        goro::yield_now();
        // Each wake-up of ours waits for the spinner's slice to end at a check. (A
        // hand-off can still happen when the kernel keeps the spinner's thread off
        // the CPU past the grace period, as when tests run in parallel on few cores;
        // then a later slice ends at a check.)
        let t = Instant::now();
        while goro::stats().preemptions == 0 && t.elapsed() < Duration::from_secs(10) {
            goro::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
        goro::stats()
    });
    assert!(st.preemptions >= 1, "{st:?}");
}

/// Go's PingPongHog: two pairs passing a token and doing a lot of work per turn,
/// two pairs doing little; on one P each side gets a fair share of the time.
#[test]
fn hog_pairs_and_light_pairs_share_the_processor() {
    let rt = rt1();
    let (hog, light) = rt.block_on(|| {
        let done = Arc::new(AtomicBool::new(false));
        let hog = Arc::new(AtomicU64::new(0));
        let light = Arc::new(AtomicU64::new(0));
        let mut hs = Vec::new();
        for (work, counter) in [(1_000_000u64, &hog), (1_000, &light)] {
            let (tx, rx) = chan::bounded::<bool>(0);
            for _ in 0..2 {
                let (tx, rx, counter, done) =
                    (tx.clone(), rx.clone(), counter.clone(), done.clone());
                hs.push(goro::spawn(move || {
                    while let Ok(true) = rx.recv() {
                        if done.load(Ordering::Relaxed) {
                            break;
                        }
                        let mut local = 0u64;
                        for _ in 0..work {
                            local = black_box(local + 1);
                        }
                        counter.fetch_add(local, Ordering::Relaxed);
                        if tx.send(true).is_err() {
                            break;
                        }
                    }
                    tx.close();
                }));
            }
            tx.send(true).unwrap();
        }
        goro::sleep(Duration::from_millis(300));
        done.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
        (hog.load(Ordering::Relaxed), light.load(Ordering::Relaxed))
    });
    assert!(hog > 0 && light > 0, "hog {hog}, light {light}");
    assert!(hog / light <= 20 && light / hog <= 20, "hog {hog}, light {light}");
}

/// Sysmon polls every 20 us while it has just acted, but backs off to 10 ms while
/// nothing needs it (here: one goroutine spinning with nothing else to run).
#[test]
fn sysmon_backs_off_while_nothing_needs_it() {
    let rt = rt1();
    let (wakeups, handoffs) = rt.block_on(|| {
        let before = goro::stats().sysmon_wakeups;
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_millis(300) {
            n = black_box(n + 1);
        }
        let st = goro::stats();
        (st.sysmon_wakeups - before, st.handoffs)
    });
    // 50 quick passes, then doubling up to 10 ms: well under 200 in 300 ms (at a
    // fixed 20 us it would be thousands).
    eprintln!("sysmon woke {wakeups} times in 300 ms");
    assert!(wakeups < 200, "sysmon woke {wakeups} times in 300 ms");
    assert_eq!(handoffs, 0, "nothing else wanted the P");
}
