//! Preemption and blocking calls at procs 1 (DESIGN.md §5-6), against Go 1.19 (peers:
//! benches/go/preempt_latency and benches/go/syscall_handoff; driver:
//! benches/go/preempt_run.sh). One `name value unit` line per result, medians of 5 runs.
//!
//! - `preempt_latency`: a goroutine spins in a call-free loop (a counter and a Relaxed
//!   load of a stop flag, no runtime call) while the main goroutine sleeps 1 ms over
//!   and over for T = 2 s. Lateness of each wake-up (actual sleep minus 1 ms): p50,
//!   p99 and max in ms (`preempt_p50`, `preempt_p99`, `preempt_max`), and the number
//!   of wake-ups (`preempt_wakeups`). Only the hog handoff can let the sleeper run.
//! - `syscall_handoff`: a goroutine calls `yield_now` in a loop and counts its
//!   iterations; another goroutine makes one blocking call of W = 200 ms. Result: the
//!   counter's rate during the call as % of its undisturbed rate over the W just before
//!   (`syscall_wrapped_pct`: the call is `goro::blocking(|| std::thread::sleep(W))`,
//!   the P is retaken after ~20 µs; `syscall_unwrapped_pct`: a bare
//!   `std::thread::sleep(W)`, caught by the hog handoff after one 10 ms slice). The
//!   counter times the undisturbed window itself while the main goroutine waits on a
//!   channel, so no sleeping goroutine's timer is pending in one window and not in the
//!   other (see the Go peer). Also the counter's longest stall from the end of that
//!   window to the end of the call, in ms (`syscall_wrapped_stall`,
//!   `syscall_unwrapped_stall`): the time the P took to reach another M, which the
//!   rate measures only through the noise of two 200 ms windows. The counter reads the
//!   clock every 1024 iterations, so stalls are seen to within about that many
//!   iterations.
//!
//! Run by `cargo bench` (which passes `--bench`: `common::bench_mode`) at full size.
//! `cargo test --all-targets` runs it without `--bench`: then T and W are 50 ms and
//! each scenario runs once, so the test run stays well under a second. An optional
//! argument other than `--bench` selects the scenarios whose name contains it.

#[path = "sched_common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the spinner may run past T before it gives up: only reached when the
/// sleeper is starved (a runtime bug), and then keeps the bench from hanging.
const WATCHDOG: Duration = Duration::from_secs(2);

struct Config {
    runs: usize,
    /// preempt_latency: how long the sleeper sleeps 1 ms over and over.
    t: Duration,
    /// syscall_handoff: the undisturbed window and the blocking call.
    w: Duration,
    /// syscall_handoff: how long the counter runs before its undisturbed window.
    warm: Duration,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `p`-quantile of sorted `v` (the same index rule as the Go peers).
fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() - 1) as f64 * p) as usize]
}

/// One preempt_latency run: the sorted lateness of every wake-up in ms, and whether
/// the spinner hit its watchdog.
fn preempt_run(rt: &goro::Runtime, t: Duration) -> (Vec<f64>, bool) {
    rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let starved = Arc::new(AtomicBool::new(false));
        let spinner = {
            let (stop, starved) = (stop.clone(), starved.clone());
            goro::spawn(move || {
                let start = Instant::now();
                let mut x = 0u64;
                while !stop.load(Relaxed) {
                    x = black_box(x + 1);
                    // A clock read every 2^20 iterations (a vDSO call, no runtime
                    // call): the watchdog only.
                    if x & 0xf_ffff == 0 && start.elapsed() > t + WATCHDOG {
                        starved.store(true, Relaxed);
                        break;
                    }
                }
                x
            })
        };
        let mut late = Vec::new();
        let start = Instant::now();
        while start.elapsed() < t {
            let t0 = Instant::now();
            goro::sleep(Duration::from_millis(1));
            late.push(t0.elapsed().as_secs_f64() * 1e3 - 1.0);
        }
        stop.store(true, Relaxed);
        black_box(spinner.join().unwrap());
        late.sort_by(f64::total_cmp);
        (late, starved.load(Relaxed))
    })
}

fn preempt_latency(rt: &goro::Runtime, cfg: &Config) {
    let (mut p50, mut p99, mut max, mut n) = (vec![], vec![], vec![], vec![]);
    for _ in 0..cfg.runs {
        let (late, starved) = preempt_run(rt, cfg.t);
        if starved {
            eprintln!(
                "preempt_latency: the spinner ran {WATCHDOG:?} past T and stopped itself: \
                 the sleeper was starved"
            );
        }
        p50.push(pct(&late, 0.5));
        p99.push(pct(&late, 0.99));
        max.push(pct(&late, 1.0));
        n.push(late.len() as f64);
    }
    println!("preempt_p50 {:.3} ms", median(p50));
    println!("preempt_p99 {:.3} ms", median(p99));
    println!("preempt_max {:.3} ms", median(max));
    println!("preempt_wakeups {:.0} count", median(n));
}

/// One syscall_handoff run: the counter's rate during the call as % of its
/// undisturbed rate, and its longest stall after the undisturbed window in ms.
fn syscall_run(rt: &goro::Runtime, cfg: &Config, wrapped: bool) -> (f64, f64) {
    let (w, warm) = (cfg.w, cfg.warm);
    rt.block_on(move || {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = goro::chan::bounded::<f64>(1);
        let counter = {
            let (count, stop) = (count.clone(), stop.clone());
            goro::spawn(move || {
                let start = Instant::now();
                let mut window: Option<(u64, Instant)> = None;
                // After the undisturbed window: the last checkpoint, the longest gap.
                let mut measured: Option<Instant> = None;
                let mut stall = Duration::ZERO;
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    goro::yield_now();
                    n += 1;
                    count.store(n, Relaxed);
                    if !n.is_multiple_of(1024) {
                        continue;
                    }
                    let now = Instant::now();
                    if let Some(last) = measured {
                        stall = stall.max(now - last);
                        measured = Some(now);
                        continue;
                    }
                    match window {
                        None if now - start >= warm => window = Some((n, now)),
                        Some((c0, t0)) if now - t0 >= w => {
                            let rate = (n - c0) as f64 / (now - t0).as_secs_f64();
                            tx.send(rate).unwrap();
                            measured = Some(now);
                        }
                        _ => {}
                    }
                }
                stall
            })
        };
        let base = rx.recv().unwrap();
        let blocker = {
            let count = count.clone();
            goro::spawn(move || {
                let (c0, t0) = (count.load(Relaxed), Instant::now());
                if wrapped {
                    goro::blocking(|| std::thread::sleep(w));
                } else {
                    std::thread::sleep(w);
                }
                let (c1, t1) = (count.load(Relaxed), Instant::now());
                (c1 - c0) as f64 / (t1 - t0).as_secs_f64()
            })
        };
        let during = blocker.join().unwrap();
        stop.store(true, Relaxed);
        let stall = counter.join().unwrap();
        (100.0 * during / base, stall.as_secs_f64() * 1e3)
    })
}

fn syscall_handoff(rt: &goro::Runtime, cfg: &Config) {
    for (name, wrapped) in [("syscall_wrapped", true), ("syscall_unwrapped", false)] {
        let (pct, stall): (Vec<f64>, Vec<f64>) =
            (0..cfg.runs).map(|_| syscall_run(rt, cfg, wrapped)).unzip();
        println!("{name}_pct {:.1} %", median(pct));
        println!("{name}_stall {:.3} ms", median(stall));
    }
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let cfg = if common::bench_mode() {
        Config {
            runs: 5,
            t: Duration::from_secs(2),
            w: Duration::from_millis(200),
            warm: Duration::from_millis(20),
        }
    } else {
        Config {
            runs: 1,
            t: Duration::from_millis(50),
            w: Duration::from_millis(50),
            warm: Duration::from_millis(5),
        }
    };
    let rt = goro::Runtime::builder().procs(1).build().unwrap();
    if "preempt_latency".contains(&filter) {
        preempt_latency(&rt, &cfg);
    }
    if "syscall_handoff".contains(&filter) {
        syscall_handoff(&rt, &cfg);
    }
}
