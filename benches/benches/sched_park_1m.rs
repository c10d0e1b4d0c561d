//! park_1m: create N goroutines that all park; report creation ns per goroutine,
//! (VmRSS + VmPTE) bytes per parked goroutine, and new mappings per goroutine
//! (Go peer: benches/go/park_1m.go). Then wakes and joins them all.

#[path = "sched_common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::park::{self, WaitReason};

fn main() {
    let n = common::n_or(1_000_000) as usize;
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
