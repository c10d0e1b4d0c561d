//! park_1m: create N goroutines that all park; report creation ns per goroutine,
//! (VmRSS + VmPTE) bytes per parked goroutine, and new mappings per goroutine
//! (Go peer: benches/go/park_1m.go). Then wakes and joins them all.
//!
//! Peers, each in a fresh child process of this binary (`GORO_BENCH_PARK_PEER`), so
//! that no heap freed by an earlier scenario hides the memory of a later one; two
//! worker threads like goro's procs(2) and Go's GOMAXPROCS(2):
//!
//! - `park_1m_*_may`: may 0.3 coroutines (32 KiB stacks by default) waiting on one
//!   `may::sync::SyncFlag`, the gate Go's closed channel is. may maps every stack on its
//!   own (one mapping plus a guard page: two entries of `/proc/self/maps`), so N is cut
//!   to what `vm.max_map_count` allows; `park_1m_n_may` says which N was measured.
//! - `park_1m_*_tokio`: tokio tasks each awaiting a `tokio::sync::oneshot` receiver
//!   (the senders kept in a Vec, as goro keeps the unparkers).
//!
//! Under `cargo test` the peers run with N = 1,000 (`common::peer_n`).

#[path = "sched_common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::park::{self, WaitReason};

/// Selects the peer a child process measures.
const PEER_VAR: &str = "GORO_BENCH_PARK_PEER";

fn main() {
    let n = common::n_or(1_000_000) as usize;
    match std::env::var(PEER_VAR).as_deref() {
        Ok("may") => {
            return common::may_peer("park_1m/may", || park_may(common::peer_n(n as u64) as usize))
        }
        Ok("tokio") => return park_tokio(common::peer_n(n as u64) as usize),
        _ => {}
    }
    park_goro(n);
    for peer in ["may", "tokio"] {
        common::rerun_with(PEER_VAR, peer);
    }
}

fn park_goro(n: usize) {
    let mut b = goro::Runtime::builder().procs(2);
    if let Some(sz) = std::env::var("GORO_BENCH_STACK").ok().and_then(|v| v.parse().ok()) {
        b = b.stack_size(sz);
    }
    let rt = b.build().unwrap();
    rt.block_on(move || {
        let parked = Arc::new(AtomicUsize::new(0));
        let wakers: Arc<Mutex<Vec<park::Unparker>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let done = Arc::new(AtomicUsize::new(0));
        let rss0 = common::status_bytes("VmRSS:");
        let pte0 = common::status_bytes("VmPTE:");
        let maps0 = common::mappings();
        let t = Instant::now();
        for _ in 0..n {
            let (p, w, d) = (parked.clone(), wakers.clone(), done.clone());
            // Detached, like Go's `go`: the peer keeps no handle either.
            drop(goro::spawn(move || {
                let mut g = w.lock().unwrap();
                g.push(park::unparker());
                p.fetch_add(1, Ordering::Relaxed);
                park::park_with(WaitReason::ChanReceive, move || {
                    drop(g);
                    true
                });
                d.fetch_add(1, Ordering::Relaxed);
            }));
        }
        let created = t.elapsed();
        while parked.load(Ordering::Relaxed) < n {
            goro::sleep(Duration::from_millis(5));
        }
        let all_parked = t.elapsed();
        let rss1 = common::status_bytes("VmRSS:");
        let pte1 = common::status_bytes("VmPTE:");
        let maps1 = common::mappings();
        common::report("park_1m_create", created.as_nanos() as f64 / n as f64, "ns/goroutine");
        common::report(
            "park_1m_all_parked",
            all_parked.as_nanos() as f64 / n as f64,
            "ns/goroutine",
        );
        common::report(
            "park_1m_mem",
            ((rss1 + pte1) - (rss0 + pte0)) as f64 / n as f64,
            "bytes/goroutine",
        );
        common::report("park_1m_rss", (rss1 - rss0) as f64 / n as f64, "bytes/goroutine");
        common::report("park_1m_pte", (pte1 - pte0) as f64 / n as f64, "bytes/goroutine");
        common::report(
            "park_1m_maps",
            (maps1 as f64 - maps0 as f64) / n as f64,
            "mappings/goroutine",
        );
        for u in wakers.lock().unwrap().drain(..) {
            u.unpark();
        }
        while done.load(Ordering::Relaxed) < n {
            goro::sleep(Duration::from_millis(5));
        }
    });
}

/// VmRSS, VmPTE and mapping count at one instant.
struct Snapshot {
    rss: u64,
    pte: u64,
    maps: usize,
}

impl Snapshot {
    fn now() -> Snapshot {
        Snapshot {
            rss: common::status_bytes("VmRSS:"),
            pte: common::status_bytes("VmPTE:"),
            maps: common::mappings(),
        }
    }
}

/// Prints a peer's lines, named `park_1m_<what>_<peer>`, per task of `n`.
fn report_peer(peer: &str, n: usize, created: Duration, all_parked: Duration, s0: &Snapshot) {
    let s1 = Snapshot::now();
    let per = |v: f64| v / n as f64;
    let line = |what: &str, v: f64, unit: &str| {
        common::report(&format!("park_1m_{what}_{peer}"), per(v), unit);
    };
    line("create", created.as_nanos() as f64, "ns/task");
    line("all_parked", all_parked.as_nanos() as f64, "ns/task");
    line("mem", (s1.rss + s1.pte) as f64 - (s0.rss + s0.pte) as f64, "bytes/task");
    line("rss", s1.rss as f64 - s0.rss as f64, "bytes/task");
    line("pte", s1.pte as f64 - s0.pte as f64, "bytes/task");
    line("maps", s1.maps as f64 - s0.maps as f64, "mappings/task");
}

/// may: N coroutines parked on one `SyncFlag`, N cut to fit `vm.max_map_count`
/// (`common::may_max_tasks`).
fn park_may(n: usize) {
    let n = n.min(common::may_max_tasks() as usize);
    common::report("park_1m_n_may", n as f64, "tasks");
    may::config().set_workers(2);
    may::go!(move || {
        let gate = Arc::new(may::sync::SyncFlag::new());
        let parked = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let s0 = Snapshot::now();
        let t = Instant::now();
        for _ in 0..n {
            let (g, p, d) = (gate.clone(), parked.clone(), done.clone());
            // Detached: the handle is dropped at once.
            drop(may::go!(move || {
                p.fetch_add(1, Ordering::Relaxed);
                g.wait();
                d.fetch_add(1, Ordering::Relaxed);
            }));
        }
        let created = t.elapsed();
        while parked.load(Ordering::Relaxed) < n {
            may::coroutine::sleep(Duration::from_millis(5));
        }
        report_peer("may", n, created, t.elapsed(), &s0);
        gate.fire();
        while done.load(Ordering::Relaxed) < n {
            may::coroutine::sleep(Duration::from_millis(5));
        }
    })
    .join()
    .unwrap();
}

/// tokio: N tasks each awaiting a oneshot on a 2-worker multi-thread runtime.
fn park_tokio(n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async move {
        tokio::spawn(async move {
            let parked = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicUsize::new(0));
            let mut wakers = Vec::with_capacity(n);
            let s0 = Snapshot::now();
            let t = Instant::now();
            for _ in 0..n {
                let (p, d) = (parked.clone(), done.clone());
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                wakers.push(tx);
                // Detached: the JoinHandle is dropped at once.
                drop(tokio::spawn(async move {
                    p.fetch_add(1, Ordering::Relaxed);
                    let _ = rx.await;
                    d.fetch_add(1, Ordering::Relaxed);
                }));
            }
            let created = t.elapsed();
            while parked.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            report_peer("tokio", n, created, t.elapsed(), &s0);
            for tx in wakers {
                let _ = tx.send(());
            }
            while done.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    });
}
