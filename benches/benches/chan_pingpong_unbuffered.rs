//! pingpong_unbuffered: two goroutines bounce a value over two unbuffered channels,
//! N round trips; ns per round trip, at procs 1 and procs 2. Peers in the same run: a
//! pair of plain threads on goro channels (the thread parking path) and on
//! crossbeam-channel's `bounded(0)`.
//! Go peer: benches/go/chan_peers.go `pingpong` (GOMAXPROCS 1 and 2).

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

fn main() {
    let n = common::n_or(500_000);
    common::report("pingpong_unbuffered/procs1", goro_pingpong(1, n), "ns/roundtrip");
    common::report("pingpong_unbuffered/procs2", goro_pingpong(2, n), "ns/roundtrip");
    common::report("pingpong_unbuffered/threads", threads_pingpong(n / 10), "ns/roundtrip");
    common::report(
        "pingpong_unbuffered/crossbeam_threads",
        crossbeam_pingpong(n / 10),
        "ns/roundtrip",
    );
}
