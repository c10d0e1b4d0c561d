//! The parking API: goroutines and plain threads, park_with's callback, park_until,
//! stale handles; plus a tiny channel built on it (what goro-chan does for real).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro_runtime::park::{self, Unparker, WaitReason};
use goro_runtime::{self as goro, Runtime};

/// An unbounded MPMC queue whose `recv` parks (goroutine or thread).
struct Queue<T> {
    inner: Mutex<(VecDeque<T>, VecDeque<Unparker>)>,
}

impl<T> Queue<T> {
    fn new() -> Arc<Self> {
        Arc::new(Queue { inner: Mutex::new((VecDeque::new(), VecDeque::new())) })
    }

    fn send(&self, v: T) {
        let mut g = self.inner.lock().unwrap();
        g.0.push_back(v);
        let w = g.1.pop_front();
        drop(g);
        if let Some(w) = w {
            w.unpark();
        }
    }

    fn recv(&self) -> T {
        loop {
            let mut g = self.inner.lock().unwrap();
            if let Some(v) = g.0.pop_front() {
                return v;
            }
            g.1.push_back(park::unparker());
            // Release the lock only once we are switched out (gopark's unlockf).
            park::park_with(WaitReason::ChanReceive, move || {
                drop(g);
                true
            });
        }
    }
}

#[test]
fn queue_between_goroutines() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let q = Queue::new();
        let q2 = q.clone();
        let h = goro::spawn(move || (0..10_000u64).map(|_| q2.recv()).sum::<u64>());
        for i in 0..10_000u64 {
            q.send(i);
        }
        assert_eq!(h.join().unwrap(), 9999 * 10_000 / 2);
    });
}

#[test]
fn queue_between_goroutines_and_threads() {
    let q = Queue::<u64>::new();
    let back = Queue::<u64>::new();
    let (q2, back2) = (q.clone(), back.clone());
    let t = std::thread::spawn(move || {
        for _ in 0..2000 {
            let v = q2.recv();
            back2.send(v + 1);
        }
    });
    goro::run(move || {
        for i in 0..2000u64 {
            q.send(i);
            assert_eq!(back.recv(), i + 1);
        }
    });
    t.join().unwrap();
}

#[test]
fn unpark_before_park_returns_at_once() {
    goro::run(|| {
        let u = park::unparker();
        assert!(u.unpark());
        assert!(!u.unpark(), "a handle wakes at most once");
        park::park(WaitReason::Park);
    });
    let u = park::unparker();
    assert!(u.unpark());
    park::park(WaitReason::Park);
}

#[test]
fn stale_handles_do_nothing() {
    goro::run(|| {
        let old = park::unparker();
        let new = park::unparker();
        assert!(!old.unpark(), "superseded handle");
        let n2 = new.clone();
        let h = goro::spawn(move || {
            goro::sleep(Duration::from_millis(5));
            n2.unpark()
        });
        park::park(WaitReason::Park);
        assert!(h.join().unwrap());
        assert!(!new.unpark(), "handle of a finished park");
    });
}

/// A goroutine's record lives in its stack slot's header: after the goroutine exits,
/// the slot goes to later goroutines, and `scavenge` zeroes its page in between. Handles
/// taken by dead goroutines must stay inert through all of that, and never wake the
/// goroutines that now use those slots.
#[test]
fn stale_handles_survive_stack_reuse_and_scavenge() {
    const N: usize = 64;
    // A stack size of its own, so that no other test's goroutines share these slots.
    const STACK: usize = 2 << 20;
    let rt = Runtime::builder().procs(1).stack_size(STACK).build().unwrap();
    rt.block_on(|| {
        let spawn_taking_handle = || goro::spawn(park::unparker);
        let old: Vec<Unparker> =
            (0..N).map(|_| spawn_taking_handle()).map(|h| h.join().unwrap()).collect();
        // procs 1: the exited goroutines' stacks sit in this thread's cache; scavenge
        // moves them to the global pool and gives their pages (headers included) back.
        goro_stack::scavenge();
        for round in 0..2 {
            let woken = Arc::new(AtomicUsize::new(0));
            let parked: Arc<Mutex<Vec<Unparker>>> = Arc::new(Mutex::new(Vec::new()));
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let (woken, parked) = (woken.clone(), parked.clone());
                    goro::spawn(move || {
                        let mut g = parked.lock().unwrap();
                        g.push(park::unparker());
                        park::park_with(WaitReason::Park, move || {
                            drop(g);
                            true
                        });
                        woken.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            while parked.lock().unwrap().len() < N {
                goro::yield_now();
            }
            for u in &old {
                assert!(!u.unpark(), "round {round}: a dead goroutine's handle woke someone");
            }
            goro::sleep(Duration::from_millis(20));
            assert_eq!(woken.load(Ordering::SeqCst), 0, "round {round}: spurious wake-up");
            for u in parked.lock().unwrap().drain(..) {
                assert!(u.unpark());
            }
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(woken.load(Ordering::SeqCst), N);
        }
    });
}

#[test]
fn park_with_false_cancels() {
    goro::run(|| {
        let _u = park::unparker();
        let ran = AtomicBool::new(false);
        park::park_with(WaitReason::Park, || {
            ran.store(true, Ordering::SeqCst);
            false
        });
        assert!(ran.load(Ordering::SeqCst));
    });
}

#[test]
fn park_until_times_out_on_goroutines_and_threads() {
    goro::run(|| {
        let _u = park::unparker();
        let t = Instant::now();
        park::park_until(WaitReason::Select, Instant::now() + Duration::from_millis(20), || true);
        assert!(t.elapsed() >= Duration::from_millis(20));
    });
    let _u = park::unparker();
    let t = Instant::now();
    park::park_until(WaitReason::Select, Instant::now() + Duration::from_millis(20), || true);
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[test]
fn park_until_wakes_early_when_unparked() {
    goro::run(|| {
        let u = park::unparker();
        goro::spawn(move || {
            goro::sleep(Duration::from_millis(5));
            u.unpark();
        });
        let t = Instant::now();
        park::park_until(WaitReason::Select, Instant::now() + Duration::from_secs(10), || true);
        assert!(t.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn wait_reasons_have_gos_words() {
    assert_eq!(WaitReason::ChanReceive.as_str(), "chan receive");
    assert_eq!(WaitReason::ChanSend.to_string(), "chan send");
    assert_eq!(WaitReason::SelectNoCases.as_str(), "select (no cases)");
    assert_eq!(WaitReason::SyncMutexLock.as_str(), "sync.Mutex.Lock");
    assert_eq!(WaitReason::SyncWaitGroupWait.as_str(), "sync.WaitGroup.Wait");
    assert_eq!(WaitReason::Sleep.as_str(), "sleep");
}

/// Ten producer/consumer pairs on two Ps: every pair makes progress (`runnext`
/// hand-offs do not let one pair starve the others).
#[test]
fn producer_consumer_pairs_all_progress() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new((0..10).map(|_| AtomicUsize::new(0)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let mut hs = Vec::new();
        for i in 0..10 {
            let q = Queue::<u64>::new();
            let (q2, stop2) = (q.clone(), stop.clone());
            hs.push(goro::spawn(move || {
                let mut n = 0;
                while !stop2.load(Ordering::Relaxed) {
                    q2.send(n);
                    n += 1;
                    // A channel operation is a safe point; this queue is not.
                    goro::yield_now();
                }
                q2.send(u64::MAX);
            }));
            let c = counts.clone();
            hs.push(goro::spawn(move || loop {
                if q.recv() == u64::MAX {
                    break;
                }
                c[i].fetch_add(1, Ordering::Relaxed);
                // Without preemption (DESIGN.md §5, a later issue) a consumer that
                // always finds data would keep its P: make it a safe point too.
                goro::yield_now();
            }));
        }
        let t = Instant::now();
        goro::sleep(Duration::from_millis(200));
        let slept = t.elapsed();
        let st = goro::stats();
        let dump = goro::dump();
        stop.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
        for (i, c) in counts.iter().enumerate() {
            let all: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            assert!(
                c.load(Ordering::Relaxed) > 0,
                "pair {i} starved: {all:?} after {slept:?}\n{st:?}\n{dump}"
            );
        }
    });
}

/// A goroutine yielding in a loop does not starve a sleeper (procs 1).
#[test]
fn yielder_does_not_starve_sleeper() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let spinner = goro::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                goro::yield_now();
            }
        });
        let t = Instant::now();
        for _ in 0..10 {
            goro::sleep(Duration::from_millis(2));
        }
        let e = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        assert!(e < Duration::from_millis(500), "sleeper starved: {e:?}");
    });
}
