//! spawn_join: spawn N goroutines that return at once, then join them all; ns per
//! goroutine (Go peer: benches/go/spawn_join.go, `go` + WaitGroup). Peers in the same
//! run: may and tokio are not dependencies yet (see README), std threads are too slow
//! to matter at N = 1M.

#[path = "sched_common/mod.rs"]
mod common;

use std::time::Instant;

fn main() {
    let n = common::n_or(1_000_000);
    let ns = common::median_ns(5, n, || {
        goro::run(move || {
            let t = Instant::now();
            let hs: Vec<_> = (0..n).map(|i| goro::spawn(move || i)).collect();
            for h in hs {
                std::hint::black_box(h.join().unwrap());
            }
            t.elapsed()
        })
    });
    common::report("spawn_join", ns, "ns/goroutine");
}
