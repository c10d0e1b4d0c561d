//! `time::after` and `Timer`.

use std::time::{Duration, Instant};

use goro_chan::time::{after, Timer};
use goro_chan::{bounded, select, TryRecvError};

#[test]
fn after_fires_once_after_the_duration() {
    let t0 = Instant::now();
    let rx = after(Duration::from_millis(10));
    let at = rx.recv().unwrap();
    assert!(at >= t0 + Duration::from_millis(10));
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Never closes: nothing more, ever.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(!rx.is_closed());
}

#[test]
fn after_in_select_as_a_timeout() {
    let r = goro_runtime::run(|| {
        let (_tx, rx) = bounded::<u32>(0);
        select! {
            recv(rx) -> _ => "value",
            recv(after(Duration::from_millis(5))) -> _ => "timeout",
        }
    });
    assert_eq!(r, "timeout");
}

#[test]
fn many_afters_in_goroutines() {
    goro_runtime::run(|| {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| {
                goro_runtime::spawn(move || {
                    let d = Duration::from_micros(i * 10);
                    let t0 = Instant::now();
                    after(d).recv().unwrap();
                    assert!(t0.elapsed() >= d);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn timer_stop_before_firing() {
    let t = Timer::new(Duration::from_millis(50));
    assert!(t.stop());
    assert!(!t.stop());
    assert!(t.receiver().recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn timer_stop_after_firing_leaves_no_value() {
    let t = Timer::new(Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(20));
    assert!(!t.stop(), "it already fired");
    assert_eq!(t.receiver().try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn timer_reset() {
    let t = Timer::new(Duration::from_secs(3600));
    let t0 = Instant::now();
    assert!(t.reset(Duration::from_millis(5)));
    t.receiver().recv().unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(5));
    // Fired, value taken: not active; re-arm.
    assert!(!t.reset(Duration::from_millis(1)));
    std::thread::sleep(Duration::from_millis(20));
    // Fired and unread: reset drops the stale value.
    assert!(!t.reset(Duration::from_secs(3600)));
    assert_eq!(t.receiver().try_recv(), Err(TryRecvError::Empty));
    assert!(t.stop());
}

#[test]
fn timer_reset_races_never_deliver_stale_values() {
    goro_runtime::run(|| {
        let t = Timer::new(Duration::from_micros(1));
        for i in 0..200u32 {
            let armed_at = Instant::now();
            t.reset(Duration::from_micros(u64::from(i % 7)));
            let fired = t.receiver().recv().unwrap();
            assert!(fired >= armed_at, "a value of an older arming was received");
        }
    });
}
