//! `select!`: syntax, one-arm and multi-arm, default and timeouts, fairness, exactly-once
//! delivery, waiter removal, lazy send values.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use goro_chan::{bounded, never, select, RecvError, SendError};

#[test]
fn one_arm_recv_and_send() {
    let (tx, rx) = bounded::<i32>(1);
    let r = select! {
        send(tx, 5) -> res => res,
    };
    assert_eq!(r, Ok(()));
    let v = select! {
        recv(rx) -> v => v.unwrap() * 2,
    };
    assert_eq!(v, 10);
}

#[test]
fn syntax_forms() {
    let (tx, rx) = bounded::<i32>(4);
    let (tx2, rx2) = bounded::<&'static str>(4);
    tx.send(1).unwrap();
    // Block bodies without commas, expression bodies with, trailing comma.
    let seen;
    select! {
        recv(rx) -> v => { seen = v.unwrap(); }
        recv(rx2) -> _ => unreachable!()
    }
    assert_eq!(seen, 1);
    let x = select! {
        recv(rx2) -> r => r.map(str::len).unwrap_or(0),
        send(tx2, "abc") -> r => { r.unwrap(); 3 },
    };
    assert_eq!(x, 3);
    // A reference to a handle works too, and expressions that build handles.
    let rx_ref = &rx2;
    let y = select! { recv(rx_ref) -> r => r.unwrap(), default => "none" };
    assert_eq!(y, "abc");
    let z = select! { recv(never::<u8>()) -> _ => 1, default => 2 };
    assert_eq!(z, 2);
    // `default` only.
    let w = select! { default => 4 };
    assert_eq!(w, 4);
}

#[test]
fn default_never_fires_while_an_arm_is_ready() {
    let (tx, rx) = bounded::<u32>(1);
    let (_tx2, rx2) = bounded::<u32>(0);
    for i in 0..10_000 {
        tx.send(i).unwrap();
        let got = select! {
            recv(rx2) -> _ => panic!("rx2 is empty"),
            recv(rx) -> v => v.unwrap(),
            default => panic!("default fired with a value buffered"),
        };
        assert_eq!(got, i);
    }
    // Closed channels are ready too.
    tx.close();
    let r = select! { recv(rx) -> r => r, default => panic!("closed is ready") };
    assert_eq!(r, Err(RecvError));
}

#[test]
fn default_timeout() {
    let (_tx, rx) = bounded::<u32>(0);
    let t0 = Instant::now();
    let r = select! {
        recv(rx) -> _ => 1,
        default(Duration::from_millis(20)) => 2,
    };
    assert_eq!(r, 2);
    assert!(t0.elapsed() >= Duration::from_millis(20));
    assert_eq!(rx.__waiters(), 0);
    // A value arriving before the timeout wins, in goroutines too.
    let r = goro_runtime::run(move || {
        let (tx, rx) = bounded::<u32>(0);
        goro_runtime::spawn(move || {
            goro_runtime::sleep(Duration::from_millis(2));
            tx.send(7).unwrap();
        });
        select! {
            recv(rx) -> v => v.unwrap(),
            default(Duration::from_secs(10)) => 0,
        }
    });
    assert_eq!(r, 7);
}

#[test]
fn fairness_among_ready_arms() {
    const TRIALS: usize = 10_000;
    const ARMS: usize = 4;
    let chans: Vec<_> = (0..ARMS).map(|_| bounded::<()>(1)).collect();
    let mut counts = [0usize; ARMS];
    for _ in 0..TRIALS {
        for (tx, _) in &chans {
            let _ = tx.try_send(());
        }
        let i = select! {
            recv(chans[0].1) -> _ => 0,
            recv(chans[1].1) -> _ => 1,
            recv(chans[2].1) -> _ => 2,
            recv(chans[3].1) -> _ => 3,
        };
        counts[i] += 1;
    }
    let p = 1.0 / ARMS as f64;
    let mean = TRIALS as f64 * p;
    let sigma = (TRIALS as f64 * p * (1.0 - p)).sqrt();
    for c in counts {
        assert!((c as f64 - mean).abs() <= 10.0 * sigma, "counts {counts:?} not uniform");
    }
}

#[test]
fn send_value_is_built_only_when_the_arm_fires() {
    let built = Cell::new(0);
    let make = |v: i32| {
        built.set(built.get() + 1);
        v
    };
    let (tx_full, _rx_full) = bounded::<i32>(0);
    let (tx, rx) = bounded::<i32>(1);
    for _ in 0..100 {
        select! {
            send(tx_full, make(1)) -> _ => panic!("no receiver"),
            send(tx, make(2)) -> r => r.unwrap(),
        }
        assert_eq!(rx.recv(), Ok(2));
    }
    assert_eq!(built.get(), 100);
    let r = select! { send(tx_full, make(3)) -> _ => 0, default => 1 };
    assert_eq!(r, 1);
    assert_eq!(built.get(), 100);
}

#[test]
fn send_arm_on_closed_channel_returns_the_value() {
    let (tx, rx) = bounded::<String>(0);
    rx.close();
    let r = select! { send(tx, "x".to_string()) -> r => r };
    assert_eq!(r, Err(SendError("x".to_string())));
}

#[test]
fn same_channel_in_several_arms() {
    let (tx, rx) = bounded::<u32>(0);
    let h = thread::spawn(move || {
        let mut hits = [0; 2];
        for _ in 0..1000 {
            select! {
                recv(rx) -> v => { v.unwrap(); hits[0] += 1; }
                recv(rx) -> v => { v.unwrap(); hits[1] += 1; }
            }
        }
        hits
    });
    for i in 0..1000 {
        tx.send(i).unwrap();
    }
    let hits = h.join().unwrap();
    assert_eq!(hits[0] + hits[1], 1000);
}

#[test]
fn send_and_recv_on_one_unbuffered_channel_does_not_match_itself() {
    let (tx, rx) = bounded::<u32>(0);
    let r = select! {
        send(tx, 1) -> _ => 1,
        recv(rx) -> _ => 2,
        default(Duration::from_millis(10)) => 3,
    };
    assert_eq!(r, 3);
    assert_eq!(tx.__waiters(), 0);
}

#[test]
fn blocked_select_sender_pairs_with_a_blocking_receiver() {
    goro_runtime::run(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (tx2, _rx2) = bounded::<u32>(0);
        let h = goro_runtime::spawn(move || {
            for i in 0..1000 {
                select! {
                    send(tx, i) -> r => r.unwrap(),
                    send(tx2, i) -> _ => panic!("nobody receives on rx2"),
                }
            }
        });
        for i in 0..1000 {
            assert_eq!(rx.recv(), Ok(i));
        }
        h.join().unwrap();
    });
}

#[test]
fn four_way_sender_delivers_each_value_once() {
    const N: usize = if cfg!(miri) { 100 } else { 100_000 };
    let rt = goro_runtime::Runtime::builder().procs(2).build().unwrap();
    let seen = rt.block_on(|| {
        let chans: Vec<_> = (0..4).map(|_| bounded::<usize>(0)).collect();
        let txs: Vec<_> = chans.iter().map(|c| c.0.clone()).collect();
        let receivers: Vec<_> = chans
            .into_iter()
            .map(|(_, rx)| goro_runtime::spawn(move || rx.iter().collect::<Vec<_>>()))
            .collect();
        let [a, b, c, d] = <[_; 4]>::try_from(txs).unwrap();
        goro_runtime::spawn(move || {
            for i in 0..N {
                select! {
                    send(a, i) -> r => r.unwrap(),
                    send(b, i) -> r => r.unwrap(),
                    send(c, i) -> r => r.unwrap(),
                    send(d, i) -> r => r.unwrap(),
                }
            }
        })
        .join()
        .unwrap();
        receivers.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    let mut all = HashSet::new();
    let mut total = 0;
    for v in &seen {
        total += v.len();
        for &x in v {
            assert!(all.insert(x), "{x} delivered twice");
        }
    }
    assert_eq!(total, N);
    assert_eq!(all.len(), N);
}

#[test]
fn no_waiter_is_left_behind() {
    const ROUNDS: usize = if cfg!(miri) { 100 } else { 100_000 };
    let rt = goro_runtime::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let chans: Vec<_> = (0..3).map(|_| bounded::<usize>(0)).collect();
        let (idle_tx, idle_rx) = bounded::<usize>(0);
        let txs: Vec<_> = chans.iter().map(|c| c.0.clone()).collect();
        let feeder = goro_runtime::spawn(move || {
            for i in 0..ROUNDS {
                txs[i % 3].send(i).unwrap();
            }
        });
        let (r0, r1, r2) = (&chans[0].1, &chans[1].1, &chans[2].1);
        let mut got = 0;
        for _ in 0..ROUNDS {
            select! {
                recv(r0) -> v => got += v.is_ok() as usize,
                recv(r1) -> v => got += v.is_ok() as usize,
                recv(r2) -> v => got += v.is_ok() as usize,
                recv(idle_rx) -> _ => unreachable!(),
                send(idle_tx, 0) -> _ => unreachable!(),
            }
        }
        feeder.join().unwrap();
        assert_eq!(got, ROUNDS);
        for (tx, rx) in &chans {
            assert_eq!(tx.__waiters(), 0);
            assert_eq!(rx.__waiters(), 0);
        }
        assert_eq!(idle_tx.__waiters(), 0);
    });
}

#[test]
fn threads_and_goroutines_in_one_select() {
    let (tx_t, rx_t) = bounded::<u32>(0);
    let t = thread::spawn(move || {
        for i in 0..500 {
            tx_t.send(i).unwrap();
        }
    });
    let n = goro_runtime::run(move || {
        let (tx_g, rx_g) = bounded::<u32>(0);
        goro_runtime::spawn(move || {
            for i in 0..500 {
                tx_g.send(i).unwrap();
            }
        });
        // A closed arm is switched off by replacing it with `never()` (Go: nil channel).
        let (mut a, mut b) = (rx_t, rx_g);
        let mut n = 0;
        let mut open = 2;
        while open > 0 {
            select! {
                recv(a) -> v => if v.is_ok() { n += 1 } else { a = never(); open -= 1 },
                recv(b) -> v => if v.is_ok() { n += 1 } else { b = never(); open -= 1 },
            }
        }
        n
    });
    assert_eq!(n, 1000);
    t.join().unwrap();
}

#[test]
fn select_in_loop_with_break() {
    let (tx, rx) = bounded::<u32>(8);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    tx.close();
    let mut sum = 0;
    loop {
        select! {
            recv(rx) -> v => match v {
                Ok(v) => sum += v,
                Err(_) => break,
            },
        }
    }
    assert_eq!(sum, 10);
}

#[test]
fn concurrent_closers_wake_selects() {
    let stats = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<u32>(0);
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            let s = stats.clone();
            let (_keep, idle) = bounded::<u32>(0);
            thread::spawn(move || {
                let _keep = _keep;
                select! {
                    recv(rx) -> r => { assert!(r.is_err()); s.fetch_add(1, Ordering::SeqCst); }
                    recv(idle) -> _ => unreachable!(),
                }
            })
        })
        .collect();
    while rx.__waiters() < 4 {
        thread::sleep(Duration::from_millis(1));
    }
    drop(tx);
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(stats.load(Ordering::SeqCst), 4);
}

fn boom() -> u32 {
    panic!("the value expression panicked")
}

#[test]
fn a_panicking_send_value_gives_its_reservation_back() {
    // Buffered: the reserved slot is released.
    let (tx, rx) = bounded::<u32>(1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        select! { send(tx, boom()) -> _ => () }
    }));
    assert!(r.is_err());
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(rx.recv(), Ok(1));
    // Unbuffered: the claimed receiver retries and gets the next value.
    let rx2 = rx.clone();
    let (tx0, rx0) = bounded::<u32>(0);
    let h = thread::spawn(move || rx0.recv());
    while tx0.__waiters() == 0 {
        thread::sleep(Duration::from_millis(1));
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        select! { send(tx0, boom()) -> _ => () }
    }));
    assert!(r.is_err());
    tx0.send(2).unwrap();
    assert_eq!(h.join().unwrap(), Ok(2));
    drop(rx2);
}
