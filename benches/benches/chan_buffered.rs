//! chan_buffered: N values through a buffered channel of capacity 128, one producer and
//! one consumer goroutine (spsc), and 4 producers x 4 consumers (mpmc); ns per value.
//! procs = available parallelism (GORO_MAXPROCS), as Go's default GOMAXPROCS.
//! Peer in the same run: crossbeam-channel `bounded(128)` with plain threads.
//! Go peer: benches/go/chan_peers.go `spsc`, `mpmc`.

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

fn main() {
    let n = common::n_or(2_000_000);
    common::report("chan_buffered/spsc", run(1, 1, n), "ns/msg");
    common::report("chan_buffered/mpmc4x4", run(4, 4, n), "ns/msg");
    common::report("chan_buffered/spsc/crossbeam_threads", crossbeam(1, 1, n), "ns/msg");
    common::report("chan_buffered/mpmc4x4/crossbeam_threads", crossbeam(4, 4, n), "ns/msg");
}
