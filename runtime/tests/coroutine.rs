//! Standalone coroutines: generators, inputs, panics, forced unwinding on drop,
//! backtraces, stack sizes and overflow (in a subprocess).

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::rc::Rc;

use goro_runtime::coroutine::{Coroutine, CoroutineResult, Yielder};

#[test]
fn generator_yields_then_returns() {
    let mut co = Coroutine::new(|y: &Yielder<(), u32>, ()| {
        let mut sum = 0;
        for i in 0..10 {
            y.suspend(i);
            sum += i;
        }
        sum
    });
    let mut seen = Vec::new();
    loop {
        match co.resume(()) {
            CoroutineResult::Yield(v) => seen.push(v),
            CoroutineResult::Return(sum) => {
                assert_eq!(sum, 45);
                break;
            }
        }
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert!(co.done());
}

#[test]
fn inputs_arrive_in_order() {
    let mut co = Coroutine::new(|y: &Yielder<String, usize>, first: String| {
        let mut all = first;
        loop {
            let next = y.suspend(all.len());
            if next.is_empty() {
                return all;
            }
            all.push_str(&next);
        }
    });
    assert_eq!(co.resume("ab".into()), CoroutineResult::Yield(2));
    assert_eq!(co.resume("cde".into()), CoroutineResult::Yield(5));
    assert_eq!(co.resume(String::new()), CoroutineResult::Return("abcde".to_string()));
}

#[test]
fn panic_is_caught_at_root_and_reraised_by_resume() {
    let mut co = Coroutine::new(|y: &Yielder<(), ()>, ()| {
        y.suspend(());
        panic!("boom inside {}", "coroutine");
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(()));
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .expect("string payload");
    assert_eq!(msg, "boom inside coroutine");
    assert!(co.done(), "a panicked coroutine is finished");
    let again = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    let msg = again.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("finished coroutine"), "{msg}");
}

struct SetOnDrop(Rc<Cell<u32>>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_a_suspended_coroutine_unwinds_its_stack() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut co = Coroutine::new(move |y: &Yielder<(), ()>, ()| {
        let _a = SetOnDrop(d.clone());
        let inner = || {
            let _b = SetOnDrop(d.clone());
            y.suspend(());
            unreachable!("resumed after drop");
        };
        inner();
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(()));
    assert_eq!(drops.get(), 0);
    drop(co);
    // _a, _b and the closure's captured Rc clone's owner all ran.
    assert_eq!(drops.get(), 2);
    assert_eq!(Rc::strong_count(&drops), 1, "captured Rc released");
}

#[test]
fn dropping_a_fresh_coroutine_drops_its_closure() {
    let drops = Rc::new(Cell::new(0));
    let guard = SetOnDrop(drops.clone());
    let co = Coroutine::new(move |_: &Yielder<(), ()>, ()| {
        let _keep = &guard;
        unreachable!("never resumed");
    });
    assert!(!co.started());
    drop(co);
    assert_eq!(drops.get(), 1);
}

struct YieldOnDrop<'a>(&'a Yielder<(), u8>, Rc<Cell<u32>>);
impl Drop for YieldOnDrop<'_> {
    fn drop(&mut self) {
        // A destructor that suspends during the forced unwind: the unwind goes on.
        let r = panic::catch_unwind(AssertUnwindSafe(|| self.0.suspend(9)));
        assert!(r.is_err(), "suspend during a forced unwind must not return");
        self.1.set(self.1.get() + 1);
    }
}

#[test]
fn suspend_during_forced_unwind_keeps_unwinding() {
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let mut co = Coroutine::new(move |y: &Yielder<(), u8>, ()| {
        let _g = YieldOnDrop(y, h.clone());
        y.suspend(1);
        0u8
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(1));
    drop(co);
    assert_eq!(hits.get(), 1);
}

#[test]
fn resume_a_finished_coroutine_panics() {
    let mut co = Coroutine::new(|_: &Yielder<(), ()>, ()| 5);
    assert_eq!(co.resume(()), CoroutineResult::Return(5));
    assert!(panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).is_err());
}

#[test]
fn nested_coroutines() {
    let mut outer = Coroutine::new(|y: &Yielder<(), u64>, ()| {
        let mut inner = Coroutine::new(|yi: &Yielder<(), u64>, ()| {
            for i in 0..5 {
                yi.suspend(i * 10);
            }
            99
        });
        loop {
            match inner.resume(()) {
                CoroutineResult::Yield(v) => {
                    y.suspend(v + 1);
                }
                CoroutineResult::Return(v) => return v,
            }
        }
    });
    let mut got = Vec::new();
    let ret = loop {
        match outer.resume(()) {
            CoroutineResult::Yield(v) => got.push(v),
            CoroutineResult::Return(v) => break v,
        }
    };
    assert_eq!(got, vec![1, 11, 21, 31, 41]);
    assert_eq!(ret, 99);
}

#[test]
fn large_and_zero_sized_values_cross_the_switch() {
    let mut co = Coroutine::new(|y: &Yielder<[u64; 512], [u64; 512]>, mut a: [u64; 512]| {
        for round in 0..3u64 {
            for (i, v) in a.iter_mut().enumerate() {
                *v = *v * 2 + i as u64 + round;
            }
            a = y.suspend(a);
        }
        [(); 0]
    });
    let mut a = [1u64; 512];
    for round in 0..3u64 {
        let expect: Vec<u64> =
            a.iter().enumerate().map(|(i, v)| v * 2 + i as u64 + round).collect();
        match co.resume(a) {
            CoroutineResult::Yield(got) => {
                assert_eq!(&got[..], &expect[..]);
                a = got;
            }
            CoroutineResult::Return(_) => panic!("returned early"),
        }
    }
    assert!(matches!(co.resume(a), CoroutineResult::Return([])));
}

#[test]
fn deep_recursion_within_the_limit() {
    #[inline(never)]
    fn recurse(n: u32, buf: &mut [u8; 1024]) -> u64 {
        let mut local = [0u8; 1024];
        local[0] = n as u8;
        buf[n as usize % 1024] = local[0];
        if n == 0 {
            local[0] as u64
        } else {
            recurse(n - 1, &mut local) + u64::from(std::hint::black_box(local)[0])
        }
    }
    // 150 frames of 1-3 KiB each (more in debug builds) on a 1 MiB stack.
    let mut co =
        Coroutine::with_stack_size(1 << 20, |_: &Yielder<(), ()>, ()| recurse(150, &mut [0; 1024]))
            .unwrap();
    assert!(matches!(co.resume(()), CoroutineResult::Return(_)));
}

#[test]
fn backtrace_inside_a_coroutine_stops_at_its_root() {
    let mut co = Coroutine::new(|_: &Yielder<(), ()>, ()| {
        let bt = std::backtrace::Backtrace::force_capture();
        bt.to_string()
    });
    let CoroutineResult::Return(text) = co.resume(()) else { panic!("no return") };
    let frames = text
        .lines()
        .filter(|l| l.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit()))
        .count();
    assert!(frames > 0, "empty backtrace:\n{text}");
    assert!(frames < 64, "backtrace walked past the coroutine root ({frames} frames):\n{text}");
    assert!(
        !text.contains("backtrace_inside_a_coroutine_stops_at_its_root::h"),
        "walked into the resumer:\n{text}"
    );
}

#[test]
fn bad_stack_sizes_are_errors_naming_the_value() {
    for bad in [0usize, 1000, 12345, 3 << 20, 2 << 30] {
        let err = match Coroutine::with_stack_size(bad, |_: &Yielder<(), ()>, ()| ()) {
            Ok(_) => panic!("stack size {bad} accepted"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&bad.to_string()), "{err} does not name {bad}");
    }
    for good in [16 << 10, 64 << 10, 1 << 20] {
        let mut co = Coroutine::with_stack_size(good, |_: &Yielder<(), ()>, ()| 1).unwrap();
        assert_eq!(co.resume(()), CoroutineResult::Return(1));
    }
}

#[test]
fn many_coroutines_alive_at_once() {
    let log = Rc::new(RefCell::new(0u64));
    let mut cos: Vec<_> = (0..10_000u64)
        .map(|i| {
            let log = log.clone();
            Coroutine::new(move |y: &Yielder<(), ()>, ()| {
                y.suspend(());
                *log.borrow_mut() += i;
            })
        })
        .collect();
    for co in &mut cos {
        assert_eq!(co.resume(()), CoroutineResult::Yield(()));
    }
    for co in cos.iter_mut().rev() {
        assert_eq!(co.resume(()), CoroutineResult::Return(()));
    }
    assert_eq!(*log.borrow(), (0..10_000).sum::<u64>());
}

#[test]
fn create_run_drop_in_a_loop_reuses_stacks() {
    for i in 0..100_000u32 {
        let mut co = Coroutine::new(move |y: &Yielder<u32, u32>, a: u32| y.suspend(a + 1) + i);
        assert_eq!(co.resume(1), CoroutineResult::Yield(2));
        assert_eq!(co.resume(3), CoroutineResult::Return(3 + i));
    }
}

// ---- crash scenarios, run in a subprocess ---------------------------------------

const SCENARIO: &str = "GORO_COROUTINE_SCENARIO";

#[test]
fn scenario_runner() {
    let Ok(which) = std::env::var(SCENARIO) else { return };
    match which.as_str() {
        "overflow" => {
            #[inline(never)]
            fn forever(n: u64) -> u64 {
                let pad = std::hint::black_box([n; 64]);
                if pad[5] == u64::MAX {
                    return 0;
                }
                forever(n + 1) + pad[3]
            }
            let mut co = Coroutine::new(|_: &Yielder<(), ()>, ()| {
                forever(0);
            });
            co.resume(());
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn run_scenario(name: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "scenario_runner", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, name)
        .output()
        .unwrap()
}

#[test]
fn stack_overflow_reports_and_aborts() {
    use std::os::unix::process::ExitStatusExt;
    let out = run_scenario("overflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "status {:?}, stderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("runtime: coroutine stack exceeds 262144-byte limit"),
        "stderr:\n{stderr}"
    );
    assert!(stderr.contains("fatal error: stack overflow"), "stderr:\n{stderr}");
}
