//! select2: two producer goroutines send N/2 values each on their own channel; one
//! consumer receives all N with a two-arm `select!`. Unbuffered and capacity 128;
//! ns per value. Peer in the same run: crossbeam-channel's `select!` with plain threads.
//! Go peer: benches/go/chan_peers.go `select2`.
//!
//! Also in the same run (`select2/<unbuffered|cap128>/<peer>`), on as many worker
//! threads as goro has Ps (`common::procs`):
//!
//! - `tokio`: two producer tasks over `tokio::sync::mpsc` and a consumer task in a loop
//!   of `tokio::select!` over both receivers. tokio has no unbuffered channel: the
//!   unbuffered row uses capacity 1, its smallest.
//!
//! No may peer: may 0.3's `select!` loses values. It runs each arm in a coroutine of a
//! `cqueue` and cancels the others once one arm has fired. Tried over two
//! `may::sync::mpmc` and over two `may::sync::mpsc` receivers: with both producers
//! finished, the consumer had received 10 of 20 values (500 of 1,000 at N = 1,000) and
//! waited for ever. By may's source, a losing arm whose `recv` had already returned a
//! value is cancelled in `EventSender::send` (it checks for cancellation before the
//! arm's body runs), which drops the value.
//!
//! Under `cargo test` the peers run with N = 1,000 (`common::peer_n`).

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

/// tokio: `tokio::select!` over two `mpsc::channel(cap.max(1))` receivers.
fn tokio_select(rt: &tokio::runtime::Runtime, cap: usize, n: u64) -> f64 {
    common::median_ns(5, n, || {
        rt.block_on(async move {
            tokio::spawn(async move {
                let (a_tx, mut a_rx) = tokio::sync::mpsc::channel::<u64>(cap.max(1));
                let (b_tx, mut b_rx) = tokio::sync::mpsc::channel::<u64>(cap.max(1));
                // Keep both channels open: `recv` on a closed channel returns at once.
                let (_a, _b) = (a_tx.clone(), b_tx.clone());
                let t = Instant::now();
                let ha = tokio::spawn(async move {
                    for i in 0..n / 2 {
                        a_tx.send(i).await.unwrap();
                    }
                });
                let hb = tokio::spawn(async move {
                    for i in 0..n / 2 {
                        b_tx.send(i).await.unwrap();
                    }
                });
                let mut sum = 0u64;
                for _ in 0..(n / 2) * 2 {
                    tokio::select! {
                        v = a_rx.recv() => sum += v.unwrap(),
                        v = b_rx.recv() => sum += v.unwrap(),
                    }
                }
                ha.await.unwrap();
                hb.await.unwrap();
                std::hint::black_box(sum);
                t.elapsed()
            })
            .await
            .unwrap()
        })
    })
}

fn main() {
    let n = common::n_or(1_000_000);
    common::report("select2/unbuffered", run(0, n), "ns/msg");
    common::report("select2/cap128", run(128, n), "ns/msg");
    common::report("select2/unbuffered/crossbeam_threads", crossbeam(0, n / 10), "ns/msg");
    common::report("select2/cap128/crossbeam_threads", crossbeam(128, n), "ns/msg");

    let pn = common::peer_n(n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common::procs())
        .build()
        .unwrap();
    common::report("select2/unbuffered/tokio", tokio_select(&rt, 0, pn), "ns/msg");
    common::report("select2/cap128/tokio", tokio_select(&rt, 128, pn), "ns/msg");
}
