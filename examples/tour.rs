//! A tour of goro: `cargo run --release --example tour`.
//!
//! Each section shows one capability. It grows with the project.

use std::time::{Duration, Instant};

use goro::coroutine::{Coroutine, CoroutineResult, Yielder};

fn main() {
    generator();
    switch_cost();
    lazy_stacks();
    goroutines();
    channels();
    locks();
    no_starvation();
    deadlock();
}

/// A generator: a coroutine that yields the Fibonacci numbers below a bound.
fn generator() {
    println!("== 1. A generator on a goro stack");
    let mut fib = Coroutine::new(|y: &Yielder<u64, u64>, bound: u64| {
        let (mut a, mut b) = (0u64, 1u64);
        let mut count = 0;
        while a < bound {
            y.suspend(a);
            (a, b) = (b, a + b);
            count += 1;
        }
        count
    });
    let mut values = Vec::new();
    let mut input = 1000;
    let count = loop {
        match fib.resume(input) {
            CoroutineResult::Yield(v) => values.push(v),
            CoroutineResult::Return(n) => break n,
        }
        input = 0; // only the first resume's input reaches the function
    };
    println!("   fibonacci below 1000: {values:?}");
    println!("   the coroutine returned its count: {count}\n");
}

/// What a switch costs: resume + suspend, round trips per second.
fn switch_cost() {
    println!("== 2. The cost of a context switch");
    let mut co = Coroutine::new(|y: &Yielder<u64, u64>, mut x: u64| loop {
        x = y.suspend(x.wrapping_mul(3));
    });
    const N: u64 = 5_000_000;
    let mut acc = 0u64;
    let start = Instant::now();
    for i in 0..N {
        if let CoroutineResult::Yield(v) = co.resume(i) {
            acc = acc.wrapping_add(v);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / N as f64;
    println!(
        "   {N} round trips (resume + suspend = 2 switches): {ns:.2} ns each (checksum {acc})"
    );
    println!("   the routine saves rbx rbp r12-r15, MXCSR and the x87 control word (x86_64),");
    println!("   or x19-x28, fp, lr, d8-d15 and FPCR (aarch64); see asm/src/arch/*.S");
    println!("   (for real numbers: cargo bench -p goro-benches --bench coroutine)\n");
}

/// Stacks are reserved, not committed: 10,000 suspended coroutines cost about a page each.
fn lazy_stacks() {
    println!("== 3. Lazily committed stacks");
    let before = rss_kib();
    let mut cos: Vec<Coroutine<(), u32, ()>> = (0..10_000u32)
        .map(|i| {
            Coroutine::new(move |y: &Yielder<(), u32>, ()| {
                y.suspend(i);
            })
        })
        .collect();
    for co in &mut cos {
        co.resume(());
    }
    let after = rss_kib();
    let stats = goro::stack::stats();
    println!("   10,000 suspended coroutines, 256 KiB maximum stack each");
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "   resident memory grew by {} KiB: {:.1} KiB per coroutine",
            a.saturating_sub(b),
            (a.saturating_sub(b)) as f64 / 10_000.0
        );
    }
    println!(
        "   stack pool: {} arenas, {} MiB of address space reserved, {} stacks in use, guards by {:?}",
        stats.arenas,
        stats.reserved_bytes >> 20,
        stats.slots_in_use,
        stats.guard_mode
    );
    drop(cos);
    println!("   dropping them unwinds each stack and returns it to the pool\n");
}

/// VmRSS of this process in KiB, from /proc/self/status.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// 100,000 goroutines: spawn, sleep, join, and what the scheduler did.
fn goroutines() {
    println!("== 4. A hundred thousand goroutines");
    let t = Instant::now();
    let total = goro::run(move || {
        let hs: Vec<_> = (0..100_000u64)
            .map(|i| {
                goro::go! {
                    goro::sleep(Duration::from_millis(500));
                    i
                }
            })
            .collect();
        println!("   spawned {} goroutines, all asleep: {:?}", hs.len(), t.elapsed());
        let st = goro::stats();
        println!(
            "   live goroutines {}, procs {}, threads {}, stack memory resident {} KiB",
            st.goroutines,
            st.procs,
            st.threads,
            st.stack_resident_bytes / 1024
        );
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    println!("   joined them all: sum {total} in {:?}", t.elapsed());
    for (i, p) in goro::stats().per_proc.iter().enumerate() {
        println!("   P{i}: {} schedules, {} steals", p.schedtick, p.steals);
    }
    println!();
}

/// Go's channels and select: a pipeline, a timeout, and a closed channel.
fn channels() {
    use goro::chan::bounded;
    println!("== 5. Channels and select");
    goro::run(|| {
        // A pipeline: numbers -> squares -> sum, each stage a goroutine.
        let (num_tx, num_rx) = bounded::<u64>(0);
        let (sq_tx, sq_rx) = bounded::<u64>(16);
        goro::go! {
            for i in 1..=100 {
                num_tx.send(i).unwrap();
            }
            // dropping the last Sender closes the channel
        };
        goro::go! {
            for v in &num_rx {
                sq_tx.send(v * v).unwrap();
            }
        };
        let sum: u64 = sq_rx.iter().sum();
        println!("   sum of the squares of 1..=100 through two channels: {sum}");

        // select with a timeout: nothing arrives on `quiet` within 20 ms.
        let (_keep, quiet) = bounded::<&str>(0);
        let got = goro::select! {
            recv(quiet) -> v => format!("received {v:?}"),
            recv(goro::time::after(Duration::from_millis(20))) -> _ => "timed out after 20 ms".to_string(),
        };
        println!("   select: {got}");

        // A send on a closed channel hands the value back.
        let (tx, rx) = bounded::<String>(1);
        rx.close();
        let err = tx.send("lost?".to_string()).unwrap_err();
        println!("   send on a closed channel returned the value: {:?}", err.0);
    });
    println!();
}

/// Goroutine-aware locks: 100 goroutines increment one counter under a Mutex.
fn locks() {
    use std::sync::Arc;
    println!("== 6. Mutex and WaitGroup");
    let n = goro::run(|| {
        let counter = Arc::new(goro::sync::Mutex::new(0u64));
        let wg = goro::sync::WaitGroup::new();
        for _ in 0..100 {
            let c = counter.clone();
            wg.go(move || {
                for _ in 0..1000 {
                    *c.lock() += 1;
                }
            });
        }
        wg.wait();
        let n = *counter.lock();
        n
    });
    println!("   100 goroutines x 1000 increments = {n}\n");
}

/// No goroutine can starve the others: on one P, a goroutine spinning in a loop with
/// no runtime call loses its P to another thread after its time slice, and a thread
/// blocked in a system call hands its P off.
fn no_starvation() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    println!("== 7. No goroutine can starve the others (procs = 1)");
    let rt = goro::Runtime::builder().procs(1).build().expect("runtime");
    let (late, st) = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let spinner = goro::spawn(move || {
            let mut n = 0u64;
            while !s2.load(Ordering::Relaxed) {
                n = std::hint::black_box(n + 1); // no runtime call in here
            }
            n
        });
        goro::yield_now(); // the spinner takes the only P
        let mut late = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            goro::sleep(Duration::from_millis(1));
            late.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        // A blocking call wrapped in `goro::blocking` hands the P off at once.
        goro::blocking(|| std::thread::sleep(Duration::from_millis(20)));
        stop.store(true, Ordering::Relaxed);
        spinner.join().expect("spinner");
        (late, goro::stats())
    });
    let max = late.iter().max().copied().unwrap_or_default();
    let mut sorted = late.clone();
    sorted.sort();
    println!(
        "   50 sleeps of 1 ms beside a call-free spinner: median {:.2} ms late, worst {:.2} ms",
        sorted[sorted.len() / 2].as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    println!("   (the spinner keeps its thread; after its time slice its P went to another)");
    println!("   P hand-offs: {}, threads: {}\n", st.handoffs, st.threads);
}

/// What a deadlock looks like: the runtime proves nobody can wake the main goroutine.
fn deadlock() {
    println!("== 8. A deadlock report");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // print the report once, below
    let r = std::panic::catch_unwind(|| {
        goro::run(|| {
            let m = std::sync::Arc::new(goro::sync::Mutex::new(()));
            let m2 = m.clone();
            let _held = m.lock();
            goro::spawn(move || drop(m2.lock()));
            let (_tx, rx) = goro::chan::bounded::<u8>(0);
            let _ = rx.recv();
        })
    });
    std::panic::set_hook(hook);
    if let Err(p) = r {
        let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
        for line in msg.lines().filter(|l| !l.is_empty()) {
            println!("   {line}");
        }
    }
}
