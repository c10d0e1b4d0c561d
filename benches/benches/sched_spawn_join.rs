//! spawn_join: spawn N goroutines that return at once, then join them all; ns per
//! goroutine (Go peer: benches/go/spawn_join.go, `go` + WaitGroup). Peers in the same
//! run, each with as many worker threads as goro has Ps (`common::procs`), spawning from
//! a task of their own runtime as goro spawns from a goroutine:
//!
//! - `spawn_join_tokio`: tokio multi-thread runtime (`tokio::spawn` + `.await`), N = 1M.
//! - `spawn_join_may`: may 0.3 coroutines (`go!` + `JoinHandle::join`). may cannot
//!   hold 1M coroutines alive at once under the default `vm.max_map_count` (two map
//!   entries per stack, `common::may_max_tasks`), and all N may be alive before the
//!   first join, so it runs at the largest N that fits (`spawn_join_n_may`, about 30k),
//!   and goro is measured again at that N (`spawn_join_goro_n_may`) for the ratio.
//!
//! std threads are too slow to matter at N = 1M. Under `cargo test` the peers run with
//! N = 1,000 (`common::peer_n`).

#[path = "sched_common/mod.rs"]
mod common;

use std::time::Instant;

/// ns per goroutine of goro's spawn + join of `n` goroutines, median of 5 runs.
fn goro_spawn_join(n: u64) -> f64 {
    common::median_ns(5, n, || {
        goro::run(move || {
            let t = Instant::now();
            let hs: Vec<_> = (0..n).map(|i| goro::spawn(move || i)).collect();
            for h in hs {
                std::hint::black_box(h.join().unwrap());
            }
            t.elapsed()
        })
    })
}

fn main() {
    let n = common::n_or(1_000_000);
    common::report("spawn_join", goro_spawn_join(n), "ns/goroutine");

    let n = common::peer_n(n);
    let procs = common::procs();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(procs).build().unwrap();
    let ns = common::median_ns(5, n, || {
        rt.block_on(async move {
            tokio::spawn(async move {
                let t = Instant::now();
                let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
                for h in hs {
                    std::hint::black_box(h.await.unwrap());
                }
                t.elapsed()
            })
            .await
            .unwrap()
        })
    });
    common::report("spawn_join_tokio", ns, "ns/task");
    drop(rt);

    let n_may = n.min(common::may_max_tasks());
    if n_may < n {
        common::report("spawn_join_n_may", n_may as f64, "tasks");
        common::report("spawn_join_goro_n_may", goro_spawn_join(n_may), "ns/goroutine");
    }
    may::config().set_workers(procs);
    let ns = common::may_peer("spawn_join_may", || {
        common::median_ns(5, n_may, || {
            may::go!(move || {
                let t = Instant::now();
                let hs: Vec<_> = (0..n_may).map(|i| may::go!(move || i)).collect();
                for h in hs {
                    std::hint::black_box(h.join().unwrap());
                }
                t.elapsed()
            })
            .join()
            .unwrap()
        })
    });
    common::report("spawn_join_may", ns, "ns/task");
}
