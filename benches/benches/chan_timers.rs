//! timers: 100,000 goroutines each sleep a random 0-10 ms and record how late they woke;
//! p50/p99/max lateness in µs, plus the same with `time::after` receives.
//! Go peer: benches/go/chan_peers.go `timers`.

#[path = "sched_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

fn run(n: u64, use_after: bool) -> Vec<u64> {
    let rt = goro::Runtime::builder().build().unwrap();
    rt.block_on(move || {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let hs: Vec<_> = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let d = Duration::from_micros(seed % 10_000);
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
}
