//! Raw context switch: one round trip (two switches) between the bench thread and a
//! context on an mmap'd stack, with nothing around it (no coroutine bookkeeping).
//!
//! Reports criterion's ns per round trip, then the median TSC ticks per switch over
//! 21 runs of 1,000,000 round trips (x86_64 only; TSC ticks at a constant rate, which
//! on most machines is close to the nominal clock).

// criterion_group!/criterion_main! generate undocumented public items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::ptr;

use criterion::{criterion_group, criterion_main, Criterion};
use goro_asm::{switch, Context};

#[repr(C)]
struct Pair {
    main: Context,
    coro: Context,
}

unsafe extern "C" fn bounce(mut transfer: usize, data: *mut u8) -> ! {
    let pair = data.cast::<Pair>();
    loop {
        // SAFETY: `pair` outlives the context; main is suspended while we run.
        transfer = unsafe { switch(&raw mut (*pair).coro, &raw const (*pair).main, transfer + 1) };
    }
}

struct Bouncer {
    pair: Box<Pair>,
    stack: *mut u8,
}

const STACK: usize = 64 * 1024;

impl Bouncer {
    fn new() -> Bouncer {
        // SAFETY: fresh anonymous mapping.
        let stack = unsafe {
            libc::mmap(
                ptr::null_mut(),
                STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(stack, libc::MAP_FAILED);
        let stack = stack.cast::<u8>();
        let mut pair = Box::new(Pair { main: Context::empty(), coro: Context::empty() });
        let data = (&raw mut *pair).cast::<u8>();
        // SAFETY: 16-aligned top of our mapping; `bounce` never returns; the boxed pair
        // lives as long as the Bouncer, which outlives every switch into the context.
        pair.coro = unsafe { Context::new(stack.wrapping_add(STACK), bounce, data) };
        Bouncer { pair, stack }
    }

    #[inline(always)]
    fn round_trip(&mut self, v: usize) -> usize {
        // SAFETY: the context is suspended in `bounce`'s loop (or fresh).
        unsafe { switch(&raw mut self.pair.main, &raw const self.pair.coro, v) }
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        // SAFETY: the context is suspended and never resumed again; nothing refers to
        // its stack any more.
        unsafe { libc::munmap(self.stack.cast(), STACK) };
    }
}

fn raw_switch(c: &mut Criterion) {
    let mut b = Bouncer::new();
    c.bench_function("raw_switch_round_trip", |bench| bench.iter(|| b.round_trip(black_box(1))));

    #[cfg(target_arch = "x86_64")]
    {
        const N: u64 = 1_000_000;
        let mut runs: Vec<f64> = (0..21)
            .map(|_| {
                // SAFETY: rdtsc has no preconditions.
                let t0 = unsafe { core::arch::x86_64::_rdtsc() };
                for i in 0..N {
                    black_box(b.round_trip(i as usize));
                }
                // SAFETY: as above.
                let t1 = unsafe { core::arch::x86_64::_rdtsc() };
                (t1 - t0) as f64 / (2 * N) as f64
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "raw_switch: median {:.1} TSC ticks per switch (21 runs of {N} round trips)",
            runs[10]
        );
    }
}

criterion_group!(benches, raw_switch);
criterion_main!(benches);
