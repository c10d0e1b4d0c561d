//! yield: two goroutines on one P (procs 1) call `yield_now` N times each; ns per
//! yield (Go peer: benches/go/yield.go, `runtime.Gosched` with GOMAXPROCS=1). Peers in
//! the same run, also on one worker thread:
//!
//! - `yield_may`: two may 0.3 coroutines, `may::config().set_workers(1)`,
//!   `may::coroutine::yield_now`;
//! - `yield_tokio`: two tasks on a current_thread runtime, `tokio::task::yield_now`.
//!
//! Under `cargo test` the peers run with N = 1,000 (`common::peer_n`).

#[path = "sched_common/mod.rs"]
mod common;

use std::time::Instant;

fn main() {
    let n = common::n_or(2_000_000);
    let rt = goro::Runtime::builder().procs(1).build().unwrap();
    let ns = common::median_ns(5, 2 * n, || {
        rt.block_on(move || {
            let t = Instant::now();
            let h = goro::spawn(move || {
                for _ in 0..n {
                    goro::yield_now();
                }
            });
            for _ in 0..n {
                goro::yield_now();
            }
            h.join().unwrap();
            t.elapsed()
        })
    });
    common::report("yield", ns, "ns/yield");

    let n = common::peer_n(n);

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ns = common::median_ns(5, 2 * n, || {
        rt.block_on(async move {
            let yielder = move || async move {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
            };
            let t = Instant::now();
            let (a, b) = (tokio::spawn(yielder()), tokio::spawn(yielder()));
            a.await.unwrap();
            b.await.unwrap();
            t.elapsed()
        })
    });
    common::report("yield_tokio", ns, "ns/yield");

    may::config().set_workers(1);
    // may last (common::may_peer).
    let ns = common::may_peer("yield_may", || {
        common::median_ns(5, 2 * n, || {
            may::go!(move || {
                let t = Instant::now();
                let h = may::go!(move || {
                    for _ in 0..n {
                        may::coroutine::yield_now();
                    }
                });
                for _ in 0..n {
                    may::coroutine::yield_now();
                }
                h.join().unwrap();
                t.elapsed()
            })
            .join()
            .unwrap()
        })
    });
    common::report("yield_may", ns, "ns/yield");
}
