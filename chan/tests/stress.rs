//! Mixed stress: goroutines (procs 4) and plain threads run random `select!`s with send
//! and receive arms over shared channels of capacities 0, 1 and 4 (lazy send arms
//! meet blocked receivers, buffered slots, timeouts). Every value sent is received
//! exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use goro_chan::{bounded, select, Receiver, Sender};

const PER_WORKER: u64 = if cfg!(miri) { 50 } else { 3_000 };
const WORKERS: u64 = 6;

struct Shared {
    txs: Vec<Sender<u64>>,
    rxs: Vec<Receiver<u64>>,
    got: Mutex<Vec<u64>>,
    received: AtomicU64,
}

fn rand(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Sends its own `PER_WORKER` values and receives whatever comes, with random selects.
fn worker(s: &Shared, id: u64) {
    let mut seed = 0x9e37_79b9_7f4a_7c15 ^ (id + 1).wrapping_mul(0x2545_f491);
    let mut next = 0;
    let mut mine = Vec::new();
    while next < PER_WORKER {
        let a = (rand(&mut seed) % 3) as usize;
        let b = (rand(&mut seed) % 3) as usize;
        let v = id * PER_WORKER + next;
        let (ta, rb) = (&s.txs[a], &s.rxs[b]);
        select! {
            send(ta, v) -> r => { r.unwrap(); next += 1; }
            recv(rb) -> r => mine.push(r.unwrap()),
            default(Duration::from_millis(1)) => {}
        }
    }
    s.received.fetch_add(mine.len() as u64, Ordering::Relaxed);
    s.got.lock().unwrap().extend(mine);
}

#[test]
fn every_value_once() {
    let chans: Vec<_> = [0, 1, 4].iter().map(|&c| bounded::<u64>(c)).collect();
    let shared = Arc::new(Shared {
        txs: chans.iter().map(|c| c.0.clone()).collect(),
        rxs: chans.iter().map(|c| c.1.clone()).collect(),
        got: Mutex::new(Vec::new()),
        received: AtomicU64::new(0),
    });
    // A drainer keeps receiving so that senders always make progress.
    let rxs: Vec<_> = chans.iter().map(|c| c.1.clone()).collect();
    drop(chans);
    let drainer = std::thread::spawn(move || {
        let mut got = Vec::new();
        let (a, b, c) = (&rxs[0], &rxs[1], &rxs[2]);
        let mut closed = 0;
        while closed < 3 {
            let r = select! {
                recv(a) -> r => r,
                recv(b) -> r => r,
                recv(c) -> r => r,
            };
            match r {
                Ok(v) => got.push(v),
                Err(_) => {
                    closed += 1;
                    // All closed: drain the buffered rest without select.
                    if closed == 1 {
                        for rx in &rxs {
                            got.extend(rx.iter());
                        }
                        closed = 3;
                    }
                }
            }
        }
        got
    });
    let rt = goro_runtime::Runtime::builder().procs(4).build().unwrap();
    let s2 = shared.clone();
    let threads: Vec<_> = (WORKERS..WORKERS + 2)
        .map(|id| {
            let s = shared.clone();
            std::thread::spawn(move || worker(&s, id))
        })
        .collect();
    rt.block_on(move || {
        let hs: Vec<_> = (0..WORKERS)
            .map(|id| {
                let s = s2.clone();
                goro_runtime::spawn(move || worker(&s, id))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    let shared = Arc::try_unwrap(shared).ok().expect("workers are done");
    for tx in &shared.txs {
        tx.close();
    }
    let mut all = shared.got.into_inner().unwrap();
    drop(shared.rxs);
    all.extend(drainer.join().unwrap());
    let total = (WORKERS + 2) * PER_WORKER;
    assert_eq!(all.len() as u64, total, "values lost or duplicated");
    let set: HashSet<u64> = all.into_iter().collect();
    assert_eq!(set.len() as u64, total, "a value was delivered twice");
}
