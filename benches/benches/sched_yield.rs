//! yield: two goroutines on one P (procs 1) call `yield_now` N times each; ns per
//! yield (Go peer: benches/go/yield.go, `runtime.Gosched` with GOMAXPROCS=1).

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
}
