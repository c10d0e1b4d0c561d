//! Context: cancellation trees, err/cause, deadlines, values, after_func, no leaks.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::rt;
use goro_sync::context::{self, Context, Error};

fn is_closed(ctx: &Context) -> bool {
    matches!(ctx.done().try_recv(), Err(goro_chan::TryRecvError::Closed))
}

#[derive(Debug)]
struct MyErr(&'static str);
impl std::fmt::Display for MyErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for MyErr {}

#[test]
fn error_display_and_traits() {
    fn traits<T: Copy + Eq + std::fmt::Debug + std::error::Error + Send + Sync>() {}
    traits::<Error>();
    fn send_sync<T: Clone + Send + Sync>() {}
    send_sync::<Context>();
    assert_eq!(Error::Canceled.to_string(), "context canceled");
    assert_eq!(Error::DeadlineExceeded.to_string(), "context deadline exceeded");
}

#[test]
fn background_is_never_done() {
    for ctx in [context::background(), context::todo()] {
        assert_eq!(ctx.err(), None);
        assert!(ctx.cause().is_none());
        assert_eq!(ctx.deadline(), None);
        assert!(matches!(ctx.done().try_recv(), Err(goro_chan::TryRecvError::Empty)));
        let h = context::after_func(&ctx, || panic!("never runs"));
        assert!(h.stop());
    }
}

#[test]
fn parent_child_grandchild() {
    let bg = context::background();
    let (p, cancel_p) = context::with_cancel(&bg);
    let (c, _cancel_c) = context::with_cancel(&p);
    let v = context::with_value(&c, 7u8);
    let (g, _cancel_g) = context::with_cancel(&v);
    let done_g = g.done();
    for x in [&p, &c, &v, &g] {
        assert_eq!(x.err(), None);
        assert!(!is_closed(x));
    }
    // Cancelling the child leaves the parent alive.
    let (c2, cancel_c2) = context::with_cancel(&p);
    cancel_c2.cancel();
    assert_eq!(c2.err(), Some(Error::Canceled));
    assert_eq!(p.err(), None);
    assert_eq!(p.__child_count(), 1);

    cancel_p.cancel();
    // Synchronous: every descendant is cancelled before cancel returns.
    for x in [&p, &c, &v, &g] {
        assert_eq!(x.err(), Some(Error::Canceled));
        assert!(is_closed(x));
    }
    assert!(done_g.recv().is_err());
    assert_eq!(p.__child_count(), 0);
    assert_eq!(c.__child_count(), 0);
    cancel_p.cancel(); // idempotent
    assert_eq!(p.err(), Some(Error::Canceled));

    // A child of a cancelled context is born cancelled.
    let (late, _cl) = context::with_cancel(&g);
    assert_eq!(late.err(), Some(Error::Canceled));
    assert!(is_closed(&late));
}

#[test]
fn dropping_cancel_func_does_not_cancel() {
    let (ctx, cancel) = context::with_cancel(&context::background());
    drop(cancel);
    assert_eq!(ctx.err(), None);
}

#[test]
fn err_cause_table() {
    let bg = context::background();

    // cancel: cause is the error.
    let (a, ca) = context::with_cancel(&bg);
    ca.cancel();
    assert_eq!(a.err(), Some(Error::Canceled));
    assert_eq!(a.cause().unwrap().to_string(), "context canceled");
    assert_eq!(a.cause().unwrap().downcast_ref::<Error>(), Some(&Error::Canceled));

    // cancel_cause with a cause; the first cause wins.
    let (b, cb) = context::with_cancel_cause(&bg);
    assert!(b.cause().is_none());
    cb.cancel(Some(Arc::new(MyErr("boom"))));
    cb.cancel(Some(Arc::new(MyErr("second"))));
    assert_eq!(b.err(), Some(Error::Canceled));
    assert_eq!(b.cause().unwrap().to_string(), "boom");
    assert!(b.cause().unwrap().downcast_ref::<MyErr>().is_some());

    // cancel_cause without a cause: cause == err.
    let (c, cc) = context::with_cancel_cause(&bg);
    cc.cancel(None);
    assert_eq!(c.err(), Some(Error::Canceled));
    assert_eq!(c.cause().unwrap().downcast_ref::<Error>(), Some(&Error::Canceled));

    // timeout: DeadlineExceeded, cause == err.
    let (d, _cd) = context::with_timeout(&bg, Duration::from_millis(20));
    assert!(d.done().recv().is_err());
    assert_eq!(d.err(), Some(Error::DeadlineExceeded));
    assert_eq!(d.cause().unwrap().downcast_ref::<Error>(), Some(&Error::DeadlineExceeded));

    // Cancelling after the deadline changes nothing.
    _cd.cancel();
    assert_eq!(d.err(), Some(Error::DeadlineExceeded));

    // A parent's cancel propagates its cause; a child's own later cause is ignored.
    let (p, cp) = context::with_cancel_cause(&bg);
    let (ch, cch) = context::with_cancel_cause(&p);
    let (gch, _) = context::with_cancel(&ch);
    cp.cancel(Some(Arc::new(MyErr("parent"))));
    cch.cancel(Some(Arc::new(MyErr("child"))));
    for x in [&ch, &gch] {
        assert_eq!(x.err(), Some(Error::Canceled));
        assert_eq!(x.cause().unwrap().to_string(), "parent");
    }
    // Born under a cancelled parent: the parent's cause too.
    let (late, _) = context::with_cancel(&p);
    assert_eq!(late.cause().unwrap().to_string(), "parent");

    // A deadline's cancel propagates DeadlineExceeded to children.
    let (dp, _cdp) = context::with_timeout(&bg, Duration::from_millis(5));
    let (dc, _cdc) = context::with_cancel(&dp);
    assert!(dc.done().recv().is_err());
    assert_eq!(dc.err(), Some(Error::DeadlineExceeded));
}

#[test]
fn deadlines() {
    let bg = context::background();
    let at = Instant::now() + Duration::from_secs(60);
    let (p, cp) = context::with_deadline(&bg, at);
    assert_eq!(p.deadline(), Some(at));
    // Inherited by with_cancel and with_value children.
    let (c, _cc) = context::with_cancel(&p);
    assert_eq!(c.deadline(), Some(at));
    assert_eq!(context::with_value(&c, 1i32).deadline(), Some(at));
    // A later deadline is the parent's.
    let (later, _cl) = context::with_deadline(&p, at + Duration::from_secs(10));
    assert_eq!(later.deadline(), Some(at));
    // An earlier one is its own.
    let earlier_at = at - Duration::from_secs(30);
    let (earlier, _ce) = context::with_deadline(&p, earlier_at);
    assert_eq!(earlier.deadline(), Some(earlier_at));
    // without_cancel drops the deadline.
    assert_eq!(context::without_cancel(&p).deadline(), None);
    // A past deadline cancels at once.
    let (past, _cpast) = context::with_deadline(&p, Instant::now() - Duration::from_millis(1));
    assert_eq!(past.err(), Some(Error::DeadlineExceeded));
    assert!(is_closed(&past));
    let (zero, _cz) = context::with_timeout(&bg, Duration::ZERO);
    assert_eq!(zero.err(), Some(Error::DeadlineExceeded));
    // Cancel before the deadline: Canceled, and the parent forgets the child.
    cp.cancel();
    assert_eq!(p.err(), Some(Error::Canceled));
    assert_eq!(earlier.err(), Some(Error::Canceled));
    // Huge timeouts do not overflow.
    let (huge, _ch) = context::with_timeout(&bg, Duration::MAX);
    assert_eq!(huge.err(), None);
}

#[test]
fn done_in_select() {
    rt(2).block_on(|| {
        let (ctx, cancel) = context::with_cancel(&context::background());
        let (tx, rx) = goro_chan::bounded::<u32>(0);
        let c2 = ctx.clone();
        let h = goro_runtime::spawn(move || {
            let mut got = 0;
            loop {
                goro_chan::select! {
                    recv(rx) -> v => got += v.unwrap(),
                    recv(c2.done()) -> _ => return (got, c2.err()),
                }
            }
        });
        for i in 1..=3 {
            tx.send(i).unwrap();
        }
        cancel.cancel();
        assert_eq!(h.join().unwrap(), (6, Some(Error::Canceled)));

        // A timeout wakes a select.
        let (t, _ct) = context::with_timeout(&context::background(), Duration::from_millis(10));
        let never = goro_chan::never::<()>();
        let r = goro_chan::select! {
            recv(never) -> _ => 0,
            recv(t.done()) -> v => { assert!(v.is_err()); 1 },
        };
        assert_eq!(r, 1);
        assert_eq!(t.err(), Some(Error::DeadlineExceeded));
    });
}

#[test]
fn after_func_semantics() {
    // Stop before cancel: true, and f never runs.
    let ran = Arc::new(AtomicBool::new(false));
    let (ctx, cancel) = context::with_cancel(&context::background());
    let r = ran.clone();
    let h = context::after_func(&ctx, move || r.store(true, Ordering::SeqCst));
    assert_eq!(ctx.__child_count(), 1);
    assert!(h.stop());
    assert_eq!(ctx.__child_count(), 0);
    assert!(!h.stop());
    cancel.cancel();
    std::thread::sleep(Duration::from_millis(20));
    assert!(!ran.load(Ordering::SeqCst));

    // Cancel, then stop: f runs, stop is false.
    let (ctx, cancel) = context::with_cancel(&context::background());
    let (tx, rx) = mpsc::channel();
    let c2 = ctx.clone();
    let h = context::after_func(&ctx, move || tx.send(c2.err()).unwrap());
    cancel.cancel();
    assert!(!h.stop());
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Some(Error::Canceled));
    assert_eq!(ctx.__child_count(), 0);

    // On an already cancelled context: runs at once.
    let (tx, rx) = mpsc::channel();
    let h = context::after_func(&ctx, move || tx.send(()).unwrap());
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(!h.stop());

    // Through a parent's deadline, inside a runtime, in its own goroutine.
    rt(2).block_on(|| {
        let (p, _cp) = context::with_timeout(&context::background(), Duration::from_millis(5));
        let (c, _cc) = context::with_cancel(&p);
        let (tx, rx) = goro_chan::bounded(1);
        let _h = context::after_func(&c, move || {
            tx.send(goro_runtime::current_id()).unwrap();
        });
        let me = goro_runtime::current_id();
        assert_ne!(rx.recv().unwrap(), me);
    });
}

#[test]
fn values_nearest_ancestor() {
    #[derive(Debug, PartialEq)]
    struct User(&'static str);
    let bg = context::background();
    let a = context::with_value(&bg, User("alice"));
    let b = context::with_value(&a, 5u64);
    let (c, cancel) = context::with_cancel(&b);
    let d = context::with_value(&c, User("bob")); // shadows
    assert_eq!(bg.value::<User>(), None);
    assert_eq!(a.value::<User>(), Some(&User("alice")));
    assert_eq!(c.value::<User>(), Some(&User("alice")));
    assert_eq!(d.value::<User>(), Some(&User("bob")));
    assert_eq!(d.value::<u64>(), Some(&5));
    assert_eq!(d.value::<u32>(), None);
    // without_cancel keeps values, not cancellation.
    let w = context::without_cancel(&d);
    let (wc, _wcc) = context::with_cancel(&w);
    cancel.cancel();
    assert_eq!(d.err(), Some(Error::Canceled));
    assert_eq!(w.err(), None);
    assert_eq!(wc.err(), None);
    assert!(w.cause().is_none());
    assert!(matches!(w.done().try_recv(), Err(goro_chan::TryRecvError::Empty)));
    assert_eq!(w.value::<User>(), Some(&User("bob")));
    assert_eq!(wc.value::<u64>(), Some(&5));
}

#[test]
fn one_cancel_reaches_100k_children() {
    let (p, cancel) = context::with_cancel(&context::background());
    let kids: Vec<_> = (0..100_000).map(|_| context::with_cancel(&p)).collect();
    let dones: Vec<_> = kids.iter().step_by(1000).map(|(c, _)| c.done()).collect();
    assert_eq!(p.__child_count(), 100_000);
    cancel.cancel();
    assert_eq!(p.__child_count(), 0);
    assert!(kids.iter().all(|(c, _)| c.err() == Some(Error::Canceled)));
    assert!(dones.iter().all(|d| d.recv().is_err()));
}

#[test]
fn no_leak_on_long_lived_parent() {
    let (p, _cancel) = context::with_cancel(&context::background());
    let v = context::with_value(&p, 1u8);
    for i in 0..1_000_000u32 {
        let (c, cancel) = context::with_cancel(&v);
        if i % 1000 == 0 {
            let _ = c.done();
            let h = context::after_func(&c, || {});
            assert!(h.stop());
        }
        cancel.cancel();
    }
    assert_eq!(p.__child_count(), 0);
    // Timeouts cancelled early unregister too.
    for _ in 0..10_000 {
        let (_c, cancel) = context::with_timeout(&p, Duration::from_secs(3600));
        cancel.cancel();
    }
    assert_eq!(p.__child_count(), 0);
}

#[test]
fn threads_and_goroutines() {
    // Plain threads.
    let (p, cancel) = context::with_cancel(&context::background());
    let woke = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..8)
        .map(|_| {
            let (p, woke) = (p.clone(), woke.clone());
            std::thread::spawn(move || {
                let (c, _cc) = context::with_cancel(&p);
                assert!(c.done().recv().is_err());
                woke.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    while p.__child_count() < 8 {
        std::thread::yield_now();
    }
    cancel.cancel();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(woke.load(Ordering::SeqCst), 8);

    // Goroutines, with a thread cancelling.
    let n = goro_runtime::run(|| {
        let (p, cancel) = context::with_timeout(&context::background(), Duration::from_secs(30));
        let hs: Vec<_> = (0..100)
            .map(|_| {
                let p = p.clone();
                goro_runtime::spawn(move || {
                    let (c, _cc) = context::with_cancel(&p);
                    let _ = c.done().recv();
                    c.err()
                })
            })
            .collect();
        while p.__child_count() < 100 {
            goro_runtime::yield_now();
        }
        std::thread::spawn(move || cancel.cancel()).join().unwrap();
        hs.into_iter().map(|h| h.join().unwrap()).filter(|e| *e == Some(Error::Canceled)).count()
    });
    assert_eq!(n, 100);
}

#[test]
fn racing_creation_and_cancel() {
    for _ in 0..20 {
        let (p, cancel) = context::with_cancel(&context::background());
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .map(|i| {
                            let (c, cc) = context::with_cancel(&p);
                            if i % 3 == 0 {
                                cc.cancel();
                            }
                            c
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        cancel.cancel();
        for t in ts {
            assert!(t.join().unwrap().iter().all(|c| c.err() == Some(Error::Canceled)));
        }
        assert_eq!(p.__child_count(), 0);
    }
}
