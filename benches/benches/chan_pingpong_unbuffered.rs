//! pingpong_unbuffered: two goroutines bounce a value over two unbuffered channels,
//! N round trips; ns per round trip, at procs 1 and procs 2. Peers in the same run: a
//! pair of plain threads on goro channels (the thread parking path) and on
//! crossbeam-channel's `bounded(0)`.
//! Go peer: benches/go/chan_peers.go `pingpong` (GOMAXPROCS 1 and 2).
//!
//! Also in the same run, at procs 1 and 2 (`pingpong_unbuffered/procs<P>/<peer>`):
//!
//! - `may`: two may 0.3 coroutines over two `may::sync::mpsc` channels (may has no
//!   bounded or rendezvous channel: its channels are unbounded queues; here at most one
//!   value is ever in flight, so the scenario is the same), `may::config().set_workers(P)`.
//!   may's worker count is fixed once its scheduler starts, so each P runs in a fresh
//!   child process of this binary (`GORO_BENCH_CHAN_PEER=may<P>`).
//! - `tokio`: two tasks over two `tokio::sync::mpsc::channel(1)` (tokio has no
//!   unbuffered channel; capacity 1 is its smallest), on a current_thread runtime for
//!   procs 1 and a 2-worker multi-thread runtime for procs 2.
//!
//! Under `cargo test` the peers run with N = 1,000 (`common::peer_n`).

#[path = "sched_common/mod.rs"]
mod common;

use std::time::Instant;

use goro::chan::bounded;

fn goro_pingpong(procs: usize, n: u64) -> f64 {
    let rt = goro::Runtime::builder().procs(procs).build().unwrap();
    common::median_ns(5, n, || {
        rt.block_on(move || {
            let (ping_tx, ping_rx) = bounded::<u64>(0);
            let (pong_tx, pong_rx) = bounded::<u64>(0);
            let h = goro::spawn(move || {
                for v in &ping_rx {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            let t = Instant::now();
            for i in 0..n {
                ping_tx.send(i).unwrap();
                pong_rx.recv().unwrap();
            }
            let e = t.elapsed();
            drop(ping_tx);
            h.join().unwrap();
            e
        })
    })
}

fn threads_pingpong(n: u64) -> f64 {
    common::median_ns(3, n, || {
        let (ping_tx, ping_rx) = bounded::<u64>(0);
        let (pong_tx, pong_rx) = bounded::<u64>(0);
        let h = std::thread::spawn(move || {
            for v in &ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        });
        let t = Instant::now();
        for i in 0..n {
            ping_tx.send(i).unwrap();
            pong_rx.recv().unwrap();
        }
        let e = t.elapsed();
        drop(ping_tx);
        h.join().unwrap();
        e
    })
}

fn crossbeam_pingpong(n: u64) -> f64 {
    common::median_ns(3, n, || {
        let (ping_tx, ping_rx) = crossbeam_channel::bounded::<u64>(0);
        let (pong_tx, pong_rx) = crossbeam_channel::bounded::<u64>(0);
        let h = std::thread::spawn(move || {
            for v in &ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        });
        let t = Instant::now();
        for i in 0..n {
            ping_tx.send(i).unwrap();
            pong_rx.recv().unwrap();
        }
        let e = t.elapsed();
        drop(ping_tx);
        h.join().unwrap();
        e
    })
}

/// may: coroutines over `may::sync::mpsc` (unbounded), on may's `workers` threads.
fn may_pingpong(n: u64) -> f64 {
    common::median_ns(5, n, || {
        may::go!(move || {
            let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
            let h = may::go!(move || {
                for v in &ping_rx {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            let t = Instant::now();
            for i in 0..n {
                ping_tx.send(i).unwrap();
                pong_rx.recv().unwrap();
            }
            let e = t.elapsed();
            drop(ping_tx);
            h.join().unwrap();
            e
        })
        .join()
        .unwrap()
    })
}

/// tokio: two tasks over `mpsc::channel(1)`, both spawned on `rt` (with a multi-thread
/// runtime, `block_on`'s own future would run outside the workers).
fn tokio_pingpong(rt: &tokio::runtime::Runtime, n: u64) -> f64 {
    common::median_ns(5, n, || {
        rt.block_on(async move {
            tokio::spawn(async move {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let h = tokio::spawn(async move {
                    while let Some(v) = ping_rx.recv().await {
                        pong_tx.send(v + 1).await.unwrap();
                    }
                });
                let t = Instant::now();
                for i in 0..n {
                    ping_tx.send(i).await.unwrap();
                    pong_rx.recv().await.unwrap();
                }
                let e = t.elapsed();
                drop(ping_tx);
                h.await.unwrap();
                e
            })
            .await
            .unwrap()
        })
    })
}

/// Selects the may peer a child process measures (`may1`, `may2`).
const PEER_VAR: &str = "GORO_BENCH_CHAN_PEER";

fn main() {
    let n = common::n_or(500_000);
    if let Ok(peer) = std::env::var(PEER_VAR) {
        let procs: usize = peer.strip_prefix("may").and_then(|p| p.parse().ok()).unwrap();
        may::config().set_workers(procs);
        let name = format!("pingpong_unbuffered/procs{procs}/may");
        let ns = common::may_peer(&name, || may_pingpong(common::peer_n(n)));
        common::report(&name, ns, "ns/roundtrip");
        return;
    }
    common::report("pingpong_unbuffered/procs1", goro_pingpong(1, n), "ns/roundtrip");
    common::report("pingpong_unbuffered/procs2", goro_pingpong(2, n), "ns/roundtrip");
    common::report("pingpong_unbuffered/threads", threads_pingpong(n / 10), "ns/roundtrip");
    common::report(
        "pingpong_unbuffered/crossbeam_threads",
        crossbeam_pingpong(n / 10),
        "ns/roundtrip",
    );

    let pn = common::peer_n(n);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    common::report("pingpong_unbuffered/procs1/tokio", tokio_pingpong(&rt, pn), "ns/roundtrip");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    common::report("pingpong_unbuffered/procs2/tokio", tokio_pingpong(&rt, pn), "ns/roundtrip");
    drop(rt);
    common::rerun_with(PEER_VAR, "may1");
    common::rerun_with(PEER_VAR, "may2");
}
