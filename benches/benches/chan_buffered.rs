//! chan_buffered: N values through a buffered channel of capacity 128, one producer and
//! one consumer goroutine (spsc), and 4 producers x 4 consumers (mpmc); ns per value.
//! procs = available parallelism (GORO_MAXPROCS), as Go's default GOMAXPROCS.
//! Peer in the same run: crossbeam-channel `bounded(128)` with plain threads.
//! Go peer: benches/go/chan_peers.go `spsc`, `mpmc`.
//!
//! Also in the same run (`chan_buffered/<spsc|mpmc4x4>/<peer>`), on as many worker
//! threads as goro has Ps (`common::procs`):
//!
//! - `may`: may 0.3 coroutines over `may::sync::spsc` (spsc) and `may::sync::mpmc`
//!   (mpmc 4x4). may has no bounded channel: these are unbounded queues, so may's
//!   producers never block on a full buffer as the others' do at 128.
//! - `tokio` (spsc only): two tasks over `tokio::sync::mpsc::channel(128)` on a
//!   multi-thread runtime. tokio has no multi-consumer channel; 4 consumers sharing one
//!   receiver behind a lock would measure the lock, not a channel, so mpmc 4x4 has no
//!   tokio figure.
//!
//! Under `cargo test` the peers run with N = 1,000 (`common::peer_n`).

#[path = "sched_common/mod.rs"]
mod common;

use std::time::Instant;

use goro::chan::bounded;

fn run(p: usize, c: usize, n: u64) -> f64 {
    let rt = goro::Runtime::builder().build().unwrap();
    common::median_ns(5, n, || {
        rt.block_on(move || {
            let (tx, rx) = bounded::<u64>(128);
            let t = Instant::now();
            let per = n / p as u64;
            let ps: Vec<_> = (0..p)
                .map(|_| {
                    let tx = tx.clone();
                    goro::spawn(move || {
                        for i in 0..per {
                            tx.send(i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let cs: Vec<_> = (0..c)
                .map(|_| {
                    let rx = rx.clone();
                    goro::spawn(move || rx.iter().count())
                })
                .collect();
            for h in ps {
                h.join().unwrap();
            }
            let got: usize = cs.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(got as u64, per * p as u64);
            t.elapsed()
        })
    })
}

fn crossbeam(p: usize, c: usize, n: u64) -> f64 {
    common::median_ns(5, n, || {
        let (tx, rx) = crossbeam_channel::bounded::<u64>(128);
        let t = Instant::now();
        let per = n / p as u64;
        let ps: Vec<_> = (0..p)
            .map(|_| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        tx.send(i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let cs: Vec<_> = (0..c)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || rx.iter().count())
            })
            .collect();
        for h in ps {
            h.join().unwrap();
        }
        let got: usize = cs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(got as u64, per * p as u64);
        t.elapsed()
    })
}

/// may spsc: one producer and one consumer coroutine over `may::sync::spsc` (unbounded).
fn may_spsc(n: u64) -> f64 {
    common::median_ns(5, n, || {
        may::go!(move || {
            let (tx, rx) = may::sync::spsc::channel::<u64>();
            let t = Instant::now();
            let p = may::go!(move || {
                for i in 0..n {
                    tx.send(i).unwrap();
                }
            });
            let c = may::go!(move || rx.iter().count());
            p.join().unwrap();
            assert_eq!(c.join().unwrap() as u64, n);
            t.elapsed()
        })
        .join()
        .unwrap()
    })
}

/// may mpmc: `p` producers and `c` consumers over `may::sync::mpmc` (unbounded).
fn may_mpmc(p: usize, c: usize, n: u64) -> f64 {
    common::median_ns(5, n, || {
        may::go!(move || {
            let (tx, rx) = may::sync::mpmc::channel::<u64>();
            let t = Instant::now();
            let per = n / p as u64;
            let ps: Vec<_> = (0..p)
                .map(|_| {
                    let tx = tx.clone();
                    may::go!(move || {
                        for i in 0..per {
                            tx.send(i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let cs: Vec<_> = (0..c)
                .map(|_| {
                    let rx = rx.clone();
                    may::go!(move || rx.iter().count())
                })
                .collect();
            drop(rx);
            for h in ps {
                h.join().unwrap();
            }
            let got: usize = cs.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(got as u64, per * p as u64);
            t.elapsed()
        })
        .join()
        .unwrap()
    })
}

/// tokio spsc: a producer and a consumer task over `mpsc::channel(128)`.
fn tokio_spsc(n: u64) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common::procs())
        .build()
        .unwrap();
    common::median_ns(5, n, || {
        rt.block_on(async move {
            tokio::spawn(async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(128);
                let t = Instant::now();
                let p = tokio::spawn(async move {
                    for i in 0..n {
                        tx.send(i).await.unwrap();
                    }
                });
                let c = tokio::spawn(async move {
                    let mut got = 0u64;
                    while rx.recv().await.is_some() {
                        got += 1;
                    }
                    got
                });
                p.await.unwrap();
                assert_eq!(c.await.unwrap(), n);
                t.elapsed()
            })
            .await
            .unwrap()
        })
    })
}

fn main() {
    let n = common::n_or(2_000_000);
    common::report("chan_buffered/spsc", run(1, 1, n), "ns/msg");
    common::report("chan_buffered/mpmc4x4", run(4, 4, n), "ns/msg");
    common::report("chan_buffered/spsc/crossbeam_threads", crossbeam(1, 1, n), "ns/msg");
    common::report("chan_buffered/mpmc4x4/crossbeam_threads", crossbeam(4, 4, n), "ns/msg");

    let pn = common::peer_n(n);
    common::report("chan_buffered/spsc/tokio", tokio_spsc(pn), "ns/msg");
    // may last (common::may_peer).
    may::config().set_workers(common::procs());
    let ns = common::may_peer("chan_buffered/spsc/may", || may_spsc(pn));
    common::report("chan_buffered/spsc/may", ns, "ns/msg");
    let ns = common::may_peer("chan_buffered/mpmc4x4/may", || may_mpmc(4, 4, pn));
    common::report("chan_buffered/mpmc4x4/may", ns, "ns/msg");
}
