//! sync scenarios, goro against std in the same run (Go peer:
//! benches/go/sync_mutex/main.go; driver: benches/go/sync_run.sh). ns per operation,
//! median of 5 runs; one line per scenario and implementation: `name value unit`.
//!
//! - `mutex_contended`: 4 workers share one mutex, lock + increment + unlock.
//! - `rwmutex_read_heavy`: 4 workers share one RwMutex; 1 op in 100 is a write, the
//!   others read-lock, do a little local work, and unlock (Go's
//!   `BenchmarkRWMutexWrite100`).
//! - `rwmutex_read_only`: the same without writes: 4 readers on one RwMutex, how far
//!   reads scale over the cores.
//! - `mutex_uncontended`: 4 workers, each with its own (padded) mutex.
//!
//! Workers are goroutines on a runtime with the default procs (available
//! parallelism, as Go's GOMAXPROCS) for goro, OS threads for std and parking_lot 0.12
//! (`parking_lot_*`), and tasks on a tokio multi-thread runtime with as many workers as
//! goro has Ps for `tokio::sync::{Mutex, RwLock}` (`tokio_*`, every lock an `.await`).
//! Under `cargo test` the parking_lot and tokio peers run with N = 1,000
//! (`common::peer_n`).

#[path = "sched_common/mod.rs"]
mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKERS: u64 = 4;

/// Runs `work(worker_index)` on `WORKERS` goroutines and times them all.
fn goro_workers(rt: &goro::Runtime, work: impl Fn(u64) + Send + Sync + 'static) -> Duration {
    let work = Arc::new(work);
    rt.block_on(move || {
        let t = Instant::now();
        let hs: Vec<_> = (0..WORKERS)
            .map(|i| {
                let work = work.clone();
                goro::spawn(move || work(i))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        t.elapsed()
    })
}

/// Runs `work(worker_index)` on `WORKERS` OS threads and times them all.
fn thread_workers(work: impl Fn(u64) + Send + Sync + 'static) -> Duration {
    let work = Arc::new(work);
    let t = Instant::now();
    let hs: Vec<_> = (0..WORKERS)
        .map(|i| {
            let work = work.clone();
            std::thread::spawn(move || work(i))
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    t.elapsed()
}

/// Runs `work(worker_index)` on `WORKERS` tokio tasks, spawned from a task as goro's
/// workers are spawned from a goroutine, and times them all.
fn tokio_workers<F, Fut>(rt: &tokio::runtime::Runtime, work: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let t = Instant::now();
            let hs: Vec<_> = (0..WORKERS).map(|i| tokio::spawn(work(i))).collect();
            for h in hs {
                h.await.unwrap();
            }
            t.elapsed()
        })
        .await
        .unwrap()
    })
}

#[repr(align(128))]
struct Padded<T>(T);

fn read_work(v: u64) -> u64 {
    // Go's localWork = 0 variant does no extra work; keep the read side just as light.
    std::hint::black_box(v)
}

fn main() {
    let n = common::n_or(4_000_000);
    let per = n / WORKERS;
    let rt = goro::Runtime::builder().build().unwrap();
    // The peers' N (1,000 under `cargo test`) and their tokio runtime.
    let pn = common::peer_n(n);
    let pper = pn / WORKERS;
    let trt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common::procs())
        .build()
        .unwrap();

    // mutex_contended
    let ns = common::median_ns(5, n, || {
        let m = Arc::new(goro::sync::Mutex::new(0u64));
        goro_workers(&rt, move |_| {
            for _ in 0..per {
                *m.lock() += 1;
            }
        })
    });
    common::report("mutex_contended", ns, "ns/op");
    let ns = common::median_ns(5, n, || {
        let m = Arc::new(std::sync::Mutex::new(0u64));
        thread_workers(move |_| {
            for _ in 0..per {
                *m.lock().unwrap() += 1;
            }
        })
    });
    common::report("std_mutex_contended", ns, "ns/op");
    let ns = common::median_ns(5, pn, || {
        let m = Arc::new(parking_lot::Mutex::new(0u64));
        thread_workers(move |_| {
            for _ in 0..pper {
                *m.lock() += 1;
            }
        })
    });
    common::report("parking_lot_mutex_contended", ns, "ns/op");
    let ns = common::median_ns(5, pn, || {
        let m = Arc::new(tokio::sync::Mutex::new(0u64));
        tokio_workers(&trt, move |_| {
            let m = m.clone();
            async move {
                for _ in 0..pper {
                    *m.lock().await += 1;
                }
            }
        })
    });
    common::report("tokio_mutex_contended", ns, "ns/op");

    // rwmutex_read_heavy (1 write in 100 ops) and rwmutex_read_only (no writes)
    for (name, every) in [("rwmutex_read_heavy", 100), ("rwmutex_read_only", 0)] {
        let writes = move |i: u64| every != 0 && i.is_multiple_of(every);
        let ns = common::median_ns(5, n, || {
            let m = Arc::new(goro::sync::RwMutex::new(0u64));
            goro_workers(&rt, move |_| {
                for i in 0..per {
                    if writes(i) {
                        *m.write() += 1;
                    } else {
                        read_work(*m.read());
                    }
                }
            })
        });
        common::report(name, ns, "ns/op");
        let ns = common::median_ns(5, n, || {
            let m = Arc::new(std::sync::RwLock::new(0u64));
            thread_workers(move |_| {
                for i in 0..per {
                    if writes(i) {
                        *m.write().unwrap() += 1;
                    } else {
                        read_work(*m.read().unwrap());
                    }
                }
            })
        });
        common::report(&format!("std_{name}"), ns, "ns/op");
        let ns = common::median_ns(5, pn, || {
            let m = Arc::new(parking_lot::RwLock::new(0u64));
            thread_workers(move |_| {
                for i in 0..pper {
                    if writes(i) {
                        *m.write() += 1;
                    } else {
                        read_work(*m.read());
                    }
                }
            })
        });
        common::report(&format!("parking_lot_{name}"), ns, "ns/op");
        let ns = common::median_ns(5, pn, || {
            let m = Arc::new(tokio::sync::RwLock::new(0u64));
            tokio_workers(&trt, move |_| {
                let m = m.clone();
                async move {
                    for i in 0..pper {
                        if writes(i) {
                            *m.write().await += 1;
                        } else {
                            read_work(*m.read().await);
                        }
                    }
                }
            })
        });
        common::report(&format!("tokio_{name}"), ns, "ns/op");
    }

    // mutex_uncontended
    let ns = common::median_ns(5, n, || {
        let ms: Arc<Vec<Padded<goro::sync::Mutex<u64>>>> =
            Arc::new((0..WORKERS).map(|_| Padded(goro::sync::Mutex::new(0))).collect());
        goro_workers(&rt, move |w| {
            let m = &ms[w as usize].0;
            for _ in 0..per {
                *m.lock() += 1;
            }
        })
    });
    common::report("mutex_uncontended", ns, "ns/op");
    let ns = common::median_ns(5, n, || {
        let ms: Arc<Vec<Padded<std::sync::Mutex<u64>>>> =
            Arc::new((0..WORKERS).map(|_| Padded(std::sync::Mutex::new(0))).collect());
        thread_workers(move |w| {
            let m = &ms[w as usize].0;
            for _ in 0..per {
                *m.lock().unwrap() += 1;
            }
        })
    });
    common::report("std_mutex_uncontended", ns, "ns/op");
    let ns = common::median_ns(5, pn, || {
        let ms: Arc<Vec<Padded<parking_lot::Mutex<u64>>>> =
            Arc::new((0..WORKERS).map(|_| Padded(parking_lot::Mutex::new(0))).collect());
        thread_workers(move |w| {
            let m = &ms[w as usize].0;
            for _ in 0..pper {
                *m.lock() += 1;
            }
        })
    });
    common::report("parking_lot_mutex_uncontended", ns, "ns/op");
    let ns = common::median_ns(5, pn, || {
        let ms: Arc<Vec<Padded<tokio::sync::Mutex<u64>>>> =
            Arc::new((0..WORKERS).map(|_| Padded(tokio::sync::Mutex::new(0))).collect());
        tokio_workers(&trt, move |w| {
            let ms = ms.clone();
            async move {
                let m = &ms[w as usize].0;
                for _ in 0..pper {
                    *m.lock().await += 1;
                }
            }
        })
    });
    common::report("tokio_mutex_uncontended", ns, "ns/op");
}
