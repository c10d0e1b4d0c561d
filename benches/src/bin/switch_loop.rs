//! Runs N coroutine switch round trips (or N create+run+drop cycles) with goro or
//! corosensei, for instruction counting under callgrind (`benches/callgrind.sh`).
//!
//! Usage: `switch_loop <goro|corosensei> <round_trip|create> <N>`

use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: switch_loop <goro|corosensei> <round_trip|create> <N>";
    let (Some(which), Some(what), Some(n)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let n: usize = n.parse().unwrap_or_else(|_| {
        eprintln!("bad N {n:?}; {usage}");
        std::process::exit(2)
    });
    let mut acc = 0usize;
    match (which.as_str(), what.as_str()) {
        ("goro", "round_trip") => {
            let mut co = goro::coroutine::Coroutine::new(
                |y: &goro::coroutine::Yielder<usize, usize>, mut x: usize| loop {
                    x = y.suspend(x + 1);
                },
            );
            for i in 0..n {
                acc = acc.wrapping_add(co.resume(black_box(i)).as_yield().unwrap());
            }
        }
        ("corosensei", "round_trip") => {
            let mut co = corosensei::Coroutine::new(
                |y: &corosensei::Yielder<usize, usize>, mut x: usize| loop {
                    x = y.suspend(x + 1);
                },
            );
            for i in 0..n {
                acc = acc.wrapping_add(co.resume(black_box(i)).as_yield().unwrap());
            }
        }
        ("goro", "create") => {
            for i in 0..n {
                let mut co = goro::coroutine::Coroutine::new(
                    |_: &goro::coroutine::Yielder<usize, ()>, x: usize| x + 1,
                );
                acc = acc.wrapping_add(co.resume(black_box(i)).as_return().unwrap());
            }
        }
        ("corosensei", "create") => {
            let mut stack = Some(corosensei::stack::DefaultStack::new(256 * 1024).unwrap());
            for i in 0..n {
                let mut co = corosensei::Coroutine::with_stack(
                    stack.take().unwrap(),
                    |_: &corosensei::Yielder<usize, ()>, x: usize| x + 1,
                );
                acc = acc.wrapping_add(co.resume(black_box(i)).as_return().unwrap());
                stack = Some(co.into_stack());
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
    black_box(acc);
}
