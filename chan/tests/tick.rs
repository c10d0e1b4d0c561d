//! `time::tick`.

use std::time::{Duration, Instant};

use goro_chan::time::tick;

#[test]
fn ticks_are_spaced_by_the_period() {
    let rx = tick(Duration::from_millis(5));
    let t0 = Instant::now();
    let mut last = t0;
    for i in 1..=5 {
        let at = rx.recv().unwrap();
        assert!(at >= t0 + Duration::from_millis(5) * i - Duration::from_millis(1));
        assert!(at >= last);
        last = at;
    }
}

#[test]
fn slow_readers_miss_ticks() {
    goro_runtime::run(|| {
        let rx = tick(Duration::from_millis(2));
        goro_runtime::sleep(Duration::from_millis(40));
        // At most one tick is buffered.
        assert!(rx.len() <= 1);
        assert_eq!(rx.capacity(), 1);
        rx.recv().unwrap();
        let t = Instant::now();
        rx.recv().unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
    });
}

#[test]
#[should_panic(expected = "non-positive interval for goro::time::tick")]
fn zero_period_panics() {
    let _ = tick(Duration::ZERO);
}

#[test]
fn dropping_the_receiver_stops_the_ticker() {
    let rx = tick(Duration::from_millis(1));
    rx.recv().unwrap();
    drop(rx);
    // The chain ends at the next firing; nothing to observe but the absence of a crash.
    std::thread::sleep(Duration::from_millis(10));
}

/// A ticker re-arms itself from its timer action, which may run on sysmon's thread:
/// the next timer still belongs to the ticker's own runtime (so that runtime's
/// deadlock detection sees it pending).
#[test]
fn a_ticker_re_arms_on_its_own_runtime() {
    let rt = goro_runtime::Runtime::builder().procs(1).build().unwrap();
    let pending: Vec<usize> = rt.block_on(|| {
        let t = goro_chan::time::tick(Duration::from_millis(3));
        (0..3)
            .map(|_| {
                t.recv().unwrap();
                goro_runtime::stats().timers
            })
            .collect()
    });
    assert!(pending.iter().all(|&n| n >= 1), "pending timers after each tick: {pending:?}");
}
