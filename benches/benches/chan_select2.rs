//! select2: two producer goroutines send N/2 values each on their own channel; one
//! consumer receives all N with a two-arm `select!`. Unbuffered and capacity 128;
//! ns per value. Peer in the same run: crossbeam-channel's `select!` with plain threads.
//! Go peer: benches/go/chan_peers.go `select2`.

#[path = "sched_common/mod.rs"]
mod common;

use std::time::Instant;

use goro::chan::bounded;

fn run(cap: usize, n: u64) -> f64 {
    let rt = goro::Runtime::builder().build().unwrap();
    common::median_ns(5, n, || {
        rt.block_on(move || {
            let (a_tx, a_rx) = bounded::<u64>(cap);
            let (b_tx, b_rx) = bounded::<u64>(cap);
            // Keep both channels open: a closed channel is always ready in a select.
            let (_a, _b) = (a_tx.clone(), b_tx.clone());
            let t = Instant::now();
            let ha = goro::spawn(move || {
                for i in 0..n / 2 {
                    a_tx.send(i).unwrap();
                }
            });
            let hb = goro::spawn(move || {
                for i in 0..n / 2 {
                    b_tx.send(i).unwrap();
                }
            });
            let mut sum = 0u64;
            for _ in 0..(n / 2) * 2 {
                goro::select! {
                    recv(a_rx) -> v => sum += v.unwrap(),
                    recv(b_rx) -> v => sum += v.unwrap(),
                }
            }
            ha.join().unwrap();
            hb.join().unwrap();
            std::hint::black_box(sum);
            t.elapsed()
        })
    })
}

fn crossbeam(cap: usize, n: u64) -> f64 {
    common::median_ns(5, n, || {
        let (a_tx, a_rx) = crossbeam_channel::bounded::<u64>(cap);
        let (b_tx, b_rx) = crossbeam_channel::bounded::<u64>(cap);
        let (_a, _b) = (a_tx.clone(), b_tx.clone());
        let t = Instant::now();
        let ha = std::thread::spawn(move || {
            for i in 0..n / 2 {
                a_tx.send(i).unwrap();
            }
        });
        let hb = std::thread::spawn(move || {
            for i in 0..n / 2 {
                b_tx.send(i).unwrap();
            }
        });
        let mut sum = 0u64;
        for _ in 0..(n / 2) * 2 {
            crossbeam_channel::select! {
                recv(a_rx) -> v => sum += v.unwrap(),
                recv(b_rx) -> v => sum += v.unwrap(),
            }
        }
        ha.join().unwrap();
        hb.join().unwrap();
        std::hint::black_box(sum);
        t.elapsed()
    })
}

fn main() {
    let n = common::n_or(1_000_000);
    common::report("select2/unbuffered", run(0, n), "ns/msg");
    common::report("select2/cap128", run(128, n), "ns/msg");
    common::report("select2/unbuffered/crossbeam_threads", crossbeam(0, n / 10), "ns/msg");
    common::report("select2/cap128/crossbeam_threads", crossbeam(128, n), "ns/msg");
}
