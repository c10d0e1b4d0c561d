//! Loom model of the local run queue: owner push/pop against a concurrent thief.
//!
//! Run: `RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//! cargo test -p goro-runtime --lib --release loom_`.

use crate::sched::runq::{RunQueue, CAP};
use loom::sync::Arc;
use loom::thread;

fn item(i: usize) -> *mut u8 {
    i as *mut u8
}

#[test]
fn loom_runq_push_pop_steal() {
    loom::model(|| {
        let q = Arc::new(RunQueue::<u8>::new());
        let q2 = q.clone();
        let thief = thread::spawn(move || {
            let mine = RunQueue::<u8>::new();
            let mut got = Vec::new();
            if let Some(x) = q2.steal_into(&mine) {
                got.push(x as usize);
            }
            while let Some(x) = mine.pop() {
                got.push(x as usize);
            }
            got
        });
        let mut got = Vec::new();
        for i in 1..=CAP + 1 {
            if let Some(o) = q.push(item(i)) {
                got.extend(o.items[..o.len].iter().map(|&p| p as usize));
            }
        }
        if let Some(x) = q.pop() {
            got.push(x as usize);
        }
        got.extend(thief.join().unwrap());
        while let Some(x) = q.pop() {
            got.push(x as usize);
        }
        got.sort_unstable();
        let want: Vec<usize> = (1..=CAP + 1).collect();
        assert_eq!(got, want);
    });
}

/// The ring has wrapped around; the owner pops and pushes while two thieves steal.
#[test]
fn loom_runq_wraparound_two_thieves() {
    loom::model(|| {
        let q = Arc::new(RunQueue::<u8>::new());
        // Wrap: push and pop CAP - 1 items so head and tail sit near the ring's end.
        for i in 0..CAP - 1 {
            assert!(q.push(item(100 + i)).is_none());
            assert_eq!(q.pop().map(|p| p as usize), Some(100 + i));
        }
        for i in 1..=3 {
            assert!(q.push(item(i)).is_none());
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let q2 = q.clone();
                thread::spawn(move || {
                    let mine = RunQueue::<u8>::new();
                    let mut got = Vec::new();
                    if let Some(x) = q2.steal_into(&mine) {
                        got.push(x as usize);
                    }
                    while let Some(x) = mine.pop() {
                        got.push(x as usize);
                    }
                    got
                })
            })
            .collect();
        let mut got = Vec::new();
        if let Some(x) = q.pop() {
            got.push(x as usize);
        }
        assert!(q.push(item(4)).is_none());
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        while let Some(x) = q.pop() {
            got.push(x as usize);
        }
        got.sort_unstable();
        assert_eq!(got, vec![1, 2, 3, 4]);
    });
}
