//! `never()`: Go's nil channel.

use std::time::{Duration, Instant};

use goro_chan::{bounded, never, select, RecvTimeoutError, TryRecvError};

#[test]
fn never_is_never_ready() {
    let rx = never::<u32>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let t0 = Instant::now();
    assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Err(RecvTimeoutError::Timeout));
    assert!(t0.elapsed() >= Duration::from_millis(10));
    assert!(!rx.is_closed());
    assert_eq!((rx.len(), rx.capacity()), (0, 0));
    assert!(rx.is_empty() && rx.is_full());
    let rx2 = rx.clone();
    assert!(!rx.same_channel(&rx2));
}

#[test]
fn never_arm_is_never_chosen() {
    let (tx, rx) = bounded::<u32>(1);
    let nil = never::<u32>();
    for i in 0..1000 {
        tx.send(i).unwrap();
        let v = select! {
            recv(nil) -> _ => unreachable!(),
            recv(rx) -> v => v.unwrap(),
        };
        assert_eq!(v, i);
    }
    let r = select! { recv(nil) -> _ => 1, default(Duration::from_millis(5)) => 2 };
    assert_eq!(r, 2);
}

#[test]
fn never_in_a_goroutine_times_out() {
    let r = goro_runtime::run(|| never::<()>().recv_timeout(Duration::from_millis(5)));
    assert_eq!(r, Err(RecvTimeoutError::Timeout));
}

#[test]
#[should_panic(expected = "close of nil channel")]
fn closing_never_panics() {
    never::<u8>().close();
}
