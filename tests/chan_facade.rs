//! The facade re-exports channels, `select!` and the time channels: `goro::chan`,
//! `goro::select!`, `goro::time::{after, tick, Timer}`.

use std::time::Duration;

use goro::chan::{bounded, never, RecvError, SendError};

#[test]
fn facade_channels_and_select() {
    let got = goro::run(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (done_tx, done_rx) = bounded::<()>(1);
        goro::spawn(move || {
            for i in 0..10 {
                tx.send(i).unwrap();
            }
            done_tx.send(()).unwrap();
        });
        let mut sum = 0;
        let nil = never::<u32>();
        loop {
            let stop = goro::select! {
                recv(rx) -> v => { sum += v.unwrap_or(0); false }
                recv(nil) -> _ => unreachable!(),
                recv(done_rx) -> _ => true,
                default(Duration::from_secs(10)) => panic!("stuck"),
            };
            if stop {
                break;
            }
        }
        sum
    });
    assert_eq!(got, 45);
}

#[test]
fn facade_time_channels() {
    let rx = goro::time::after(Duration::from_millis(1));
    assert!(rx.recv().is_ok());
    let t = goro::time::Timer::new(Duration::from_secs(60));
    assert!(t.stop());
    let ticks = goro::time::tick(Duration::from_millis(1));
    assert!(ticks.recv().is_ok());
}

#[test]
fn facade_errors() {
    let (tx, rx) = bounded::<u8>(1);
    drop(rx);
    assert_eq!(tx.send(1), Err(SendError(1)));
    let (tx, rx) = bounded::<u8>(1);
    drop(tx);
    assert_eq!(rx.recv(), Err(RecvError));
}
