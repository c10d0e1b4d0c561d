//! timers: 100,000 goroutines each sleep a random 0-10 ms and record how late they woke;
//! p50/p99/max lateness in µs, plus the same with `time::after` receives.
//! Go peer: benches/go/chan_peers.go `timers`.
//!
//! Also in the same run, the sleep variant only (`timers/sleep/<p50|p99|max>/<peer>`),
//! on as many worker threads as goro has Ps (`common::procs`), each task spawned by a
//! task of its own runtime:
//!
//! - `tokio`: N tasks in `tokio::time::sleep` on a multi-thread runtime.
//! - `may`: may 0.3 coroutines in `may::coroutine::sleep`, at most
//!   `common::may_max_tasks` of them (about 31,000 here: may maps a stack per coroutine
//!   and `vm.max_map_count` caps the mappings), printed as `timers/sleep/n_may`.
//!
//! Under `cargo test` the peers run with N = 1,000 (`common::peer_n`).

#[path = "sched_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

fn run(n: u64, use_after: bool) -> Vec<u64> {
    let rt = goro::Runtime::builder().build().unwrap();
    rt.block_on(move || {
        let hs: Vec<_> = durations(n)
            .into_iter()
            .map(|d| {
                goro::spawn(move || {
                    let t = Instant::now();
                    if use_after {
                        goro::time::after(d).recv().unwrap();
                    } else {
                        goro::sleep(d);
                    }
                    (t.elapsed().saturating_sub(d)).as_micros() as u64
                })
            })
            .collect();
        let mut late: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        late.sort_unstable();
        late
    })
}

/// N sleep durations, 0-10 ms, the same sequence for every runtime.
fn durations(n: u64) -> Vec<Duration> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            Duration::from_micros(seed % 10_000)
        })
        .collect()
}

fn tokio_sleep(n: u64) -> Vec<u64> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common::procs())
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async move {
        tokio::spawn(async move {
            let hs: Vec<_> = durations(n)
                .into_iter()
                .map(|d| {
                    tokio::spawn(async move {
                        let t = Instant::now();
                        tokio::time::sleep(d).await;
                        (t.elapsed().saturating_sub(d)).as_micros() as u64
                    })
                })
                .collect();
            let mut late = Vec::with_capacity(hs.len());
            for h in hs {
                late.push(h.await.unwrap());
            }
            late.sort_unstable();
            late
        })
        .await
        .unwrap()
    })
}

fn may_sleep(n: u64) -> Vec<u64> {
    may::config().set_workers(common::procs());
    may::go!(move || {
        let hs: Vec<_> = durations(n)
            .into_iter()
            .map(|d| {
                may::go!(move || {
                    let t = Instant::now();
                    may::coroutine::sleep(d);
                    (t.elapsed().saturating_sub(d)).as_micros() as u64
                })
            })
            .collect();
        let mut late: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        late.sort_unstable();
        late
    })
    .join()
    .unwrap()
}

fn pct(v: &[u64], p: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * p) as usize] as f64
}

fn main() {
    let n = common::n_or(100_000);
    for (name, after) in [("timers/sleep", false), ("timers/after", true)] {
        let late = run(n, after);
        common::report(&format!("{name}/p50"), pct(&late, 0.5), "us_late");
        common::report(&format!("{name}/p99"), pct(&late, 0.99), "us_late");
        common::report(&format!("{name}/max"), pct(&late, 1.0), "us_late");
    }

    let pn = common::peer_n(n);
    let n_may = pn.min(common::may_max_tasks());
    if n_may < pn {
        common::report("timers/sleep/n_may", n_may as f64, "tasks");
    }
    let tokio = tokio_sleep(pn);
    let may = common::may_peer("timers/sleep/may", || may_sleep(n_may));
    for (peer, late) in [("tokio", tokio), ("may", may)] {
        for (p, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            common::report(&format!("timers/sleep/{p}/{peer}"), pct(&late, q), "us_late");
        }
    }
}
