//! Crash tests: scenarios run in a child process (this test binary re-executed with
//! `GORO_TESTPROG=<scenario>`), and the parent checks exit status and stderr.
//! Deadlock reports, panics, bad environment variables, `GORO_SCHEDTRACE`.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use goro::park::{self, WaitReason};

/// How long a scenario may run before the parent kills it and fails (a hang, such as
/// a deadlock nobody reports, must fail the test, not stall the suite).
const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// Runs `scenario` in a child process with extra environment variables.
fn testprog(scenario: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["testprog_entry", "--exact", "--nocapture", "--test-threads=1"]);
    cmd.env("GORO_TESTPROG", scenario);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(SCENARIO_LIMIT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let out = rx.recv().unwrap().unwrap();
            panic!("{scenario}: still running after {SCENARIO_LIMIT:?}; stderr: {}", stderr(&out));
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `scenario`, checks that it succeeded and printed every needle; its stderr.
fn expect_ok(scenario: &str, env: &[(&str, &str)], needles: &[&str]) -> String {
    expect(scenario, env, true, needles)
}

/// Runs `scenario`, checks that it failed and printed every needle; its stderr.
fn expect_fail(scenario: &str, env: &[(&str, &str)], needles: &[&str]) -> String {
    expect(scenario, env, false, needles)
}

fn expect(scenario: &str, env: &[(&str, &str)], success: bool, needles: &[&str]) -> String {
    let o = testprog(scenario, env);
    let e = stderr(&o);
    assert_eq!(o.status.success(), success, "{scenario}: {e}");
    for n in needles {
        assert!(e.contains(n), "{scenario}: no {n:?} in: {e}");
    }
    e
}

/// The number printed after `key` (`handoffs=3`).
fn number_after(e: &str, key: &str) -> u64 {
    e.split(key).nth(1).and_then(|s| s.split_whitespace().next()?.parse().ok()).expect(key)
}

/// The child's entry point; a no-op in the parent.
#[test]
fn testprog_entry() {
    let Ok(scenario) = std::env::var("GORO_TESTPROG") else { return };
    match scenario.as_str() {
        "deadlock_main" => goro::run(|| park::park(WaitReason::ChanReceive)),
        "deadlock_many" => goro::run(|| {
            let a = goro::spawn(|| park::park(WaitReason::SyncMutexLock));
            let _b = goro::spawn(|| park::park(WaitReason::Select));
            goro::sleep(Duration::from_millis(5));
            a.join().unwrap();
        }),
        "no_deadlock_while_sleeping" => goro::run(|| {
            let _blocked = goro::spawn(|| park::park(WaitReason::ChanSend));
            goro::sleep(Duration::from_millis(50));
            eprintln!("main woke");
        }),
        "no_deadlock_with_thread" => goro::run(|| {
            let u = park::unparker();
            std::thread::spawn(move || {
                park::note_plain_thread();
                std::thread::sleep(Duration::from_millis(100));
                u.unpark();
            });
            park::park(WaitReason::ChanReceive);
            eprintln!("main woke");
        }),
        "no_deadlock_with_busy_new_thread" => goro::run(|| {
            let u = park::unparker();
            // This thread never touched the runtime: it is seen running by the kernel.
            std::thread::spawn(move || {
                busy_for(Duration::from_millis(100));
                u.unpark();
            });
            park::park(WaitReason::ChanReceive);
            eprintln!("main woke");
        }),
        "idle_has_no_wakeups" => {
            goro::run(|| {
                let hs: Vec<_> = (0..100).map(|i| goro::spawn(move || i)).collect();
                for h in hs {
                    h.join().unwrap();
                }
                goro::sleep(Duration::from_millis(5));
            });
            std::thread::sleep(Duration::from_millis(50));
            let before = runtime_thread_switches();
            std::thread::sleep(Duration::from_millis(300));
            let after = runtime_thread_switches();
            eprintln!("wakeups={}", after - before);
        }
        "deadlock_after_thread_exits" => goro::run(|| {
            let u = park::unparker();
            // A busy thread that could wake main, but exits without doing so.
            std::thread::spawn(move || {
                busy_for(Duration::from_millis(100));
                drop(u);
            });
            park::park(WaitReason::ChanReceive);
        }),
        "deadlock_after_registered_thread_exits" => goro::run(|| {
            let u = park::unparker();
            // A thread that takes part (registered, so counted as running while it
            // sleeps) and exits without waking main: its exit must trigger the check.
            std::thread::spawn(move || {
                park::note_plain_thread();
                std::thread::sleep(Duration::from_millis(100));
                drop(u);
            });
            park::park(WaitReason::ChanReceive);
        }),
        "deadlock_after_a_timer_fires" => goro::run(|| {
            // The timer fires on sysmon while every P is idle and wakes nobody.
            let _after = goro::time::after(Duration::from_millis(20));
            park::park(WaitReason::ChanReceive);
        }),
        "leftover_goroutines_are_fine" => {
            goro::run(|| {
                goro::spawn(|| park::park(WaitReason::ChanReceive));
            });
            std::thread::sleep(Duration::from_millis(50));
            eprintln!("clean exit");
        }
        "goroutine_panic" => goro::run(|| {
            let e = goro::spawn(|| panic!("oops in a goroutine")).join().unwrap_err();
            eprintln!("joined: {e}");
        }),
        "main_panic" => goro::run(|| panic!("main goroutine failed")),
        "procs" => eprintln!("procs={}", goro::procs()),
        "schedtrace" => goro::run(|| goro::sleep(Duration::from_millis(60))),
        "goro_main" => attr_main(),
        "stack_overflow" => goro::run(|| {
            fn down(n: u64) -> u64 {
                let buf = std::hint::black_box([n; 64]);
                if n == u64::MAX {
                    return 0;
                }
                down(n + 1) + buf[3]
            }
            let h = goro::spawn(|| down(0));
            h.join().unwrap();
        }),
        "runtime_drop" => {
            for _ in 0..20 {
                let rt = goro::Runtime::builder().procs(2).build().unwrap();
                rt.block_on(|| {
                    goro::spawn(|| goro::sleep(Duration::from_millis(1))).join().unwrap()
                });
            }
            std::thread::sleep(Duration::from_millis(100));
            let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
            eprintln!("threads={threads}");
        }
        "hog_handoff" => {
            let rt = goro::Runtime::builder().procs(1).build().unwrap();
            let st = rt.block_on(|| {
                let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let s2 = stop.clone();
                let spinner = goro::spawn(move || {
                    while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::black_box(0u64);
                    }
                });
                goro::yield_now();
                for _ in 0..10 {
                    goro::sleep(Duration::from_millis(1));
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                spinner.join().unwrap();
                goro::stats()
            });
            eprintln!("slept 10 times; handoffs={}", st.handoffs);
        }
        "thread_limit" => {
            // Every spinner that keeps its thread costs an M once its P is handed
            // off: the third M is over the limit of 2.
            let rt = goro::Runtime::builder().procs(1).max_threads(2).build().unwrap();
            rt.block_on(|| {
                for _ in 0..3 {
                    goro::spawn(|| loop {
                        std::hint::black_box(0u64);
                    });
                }
                goro::sleep(Duration::from_secs(30));
                eprintln!("limit never reached");
            });
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// Keeps the calling thread running (never asleep in the kernel) for `d`.
fn busy_for(d: Duration) {
    let t = std::time::Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        x = std::hint::black_box(x + 1);
    }
}

/// Context switches of the runtime's threads (`goro-*`), from /proc.
fn runtime_thread_switches() -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("goro-") {
            continue;
        }
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        for l in status.lines() {
            if l.starts_with("voluntary_ctxt_switches")
                || l.starts_with("nonvoluntary_ctxt_switches")
            {
                n += l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    n
}

#[goro::main]
fn attr_main() {
    assert!(goro::current_id().is_some());
    eprintln!("in goro::main, id {}", goro::current_id().unwrap());
}

#[test]
fn deadlock_of_main_is_reported() {
    expect_fail(
        "deadlock_main",
        &[],
        &["all goroutines are asleep - deadlock!", "goroutine 1 [chan receive]:"],
    );
}

#[test]
fn deadlock_lists_every_blocked_goroutine() {
    expect_fail(
        "deadlock_many",
        &[],
        &[
            "all goroutines are asleep - deadlock!",
            "goroutine 1 [join]:",
            "goroutine 2 [sync.Mutex.Lock]:",
            "goroutine 3 [select]:",
        ],
    );
}

#[test]
fn no_false_deadlock_while_a_timer_is_pending() {
    expect_ok("no_deadlock_while_sleeping", &[], &["main woke"]);
}

#[test]
fn no_false_deadlock_while_a_plain_thread_takes_part() {
    expect_ok("no_deadlock_with_thread", &[], &["main woke"]);
}

#[test]
fn no_false_deadlock_while_an_unregistered_thread_runs() {
    expect_ok("no_deadlock_with_busy_new_thread", &[], &["main woke"]);
}

#[test]
fn an_idle_runtime_does_not_wake_up() {
    let e = expect_ok("idle_has_no_wakeups", &[], &[]);
    let n = number_after(&e, "wakeups=");
    assert!(n <= 2, "{e}");
}

#[test]
fn deadlock_is_reported_once_a_busy_thread_is_gone() {
    expect_fail(
        "deadlock_after_thread_exits",
        &[],
        &["all goroutines are asleep - deadlock!", "goroutine 1 [chan receive]:"],
    );
}

#[test]
fn deadlock_is_reported_once_a_registered_thread_is_gone() {
    expect_fail(
        "deadlock_after_registered_thread_exits",
        &[],
        &["all goroutines are asleep - deadlock!", "goroutine 1 [chan receive]:"],
    );
}

#[test]
fn deadlock_is_reported_once_the_last_timer_fired() {
    expect_fail(
        "deadlock_after_a_timer_fires",
        &[],
        &["all goroutines are asleep - deadlock!", "goroutine 1 [chan receive]:"],
    );
}

#[test]
fn goroutines_left_behind_are_not_a_deadlock() {
    expect_ok("leftover_goroutines_are_fine", &[], &["clean exit"]);
}

#[test]
fn goroutine_panic_is_printed_with_its_id() {
    expect_ok(
        "goroutine_panic",
        &[],
        &[
            "goroutine 2 panicked at",
            "oops in a goroutine",
            "joined: goroutine 2 panicked: oops in a goroutine",
        ],
    );
}

#[test]
fn main_goroutine_panic_fails_the_process() {
    expect_fail("main_panic", &[], &["goroutine 1 panicked at", "main goroutine failed"]);
}

#[test]
fn maxprocs_from_environment() {
    let o = testprog("procs", &[("GORO_MAXPROCS", "3")]);
    assert!(stderr(&o).contains("procs=3"), "{}", stderr(&o));
}

#[test]
fn bad_environment_is_a_clear_startup_error() {
    for (var, val) in [
        ("GORO_MAXPROCS", "abc"),
        ("GORO_MAXPROCS", "0"),
        ("GORO_STACK_SIZE", "12345"),
        ("GORO_SCHEDTRACE", "x"),
    ] {
        let o = testprog("procs", &[(var, val)]);
        let e = stderr(&o);
        assert!(!o.status.success(), "{var}={val}: {e}");
        assert!(e.contains(var) && e.contains(val), "{var}={val}: {e}");
    }
}

#[test]
fn schedtrace_prints_lines() {
    let e = expect_ok("schedtrace", &[("GORO_SCHEDTRACE", "10")], &[]);
    assert!(e.contains("SCHED ") && e.contains("gomaxprocs="), "{e}");
}

#[test]
fn goroutine_stack_overflow_is_a_fatal_error_naming_it() {
    expect_fail(
        "stack_overflow",
        &[],
        &["runtime: goroutine 2 stack exceeds 262144-byte limit", "fatal error: stack overflow"],
    );
}

/// The hog hand-off with the owner-side fence instead of `membarrier` (what old
/// kernels and checkers get).
#[test]
fn hog_handoff_works_without_membarrier() {
    let e = expect_ok("hog_handoff", &[("GORO_NO_MEMBARRIER", "1")], &[]);
    let n = number_after(&e, "handoffs=");
    assert!(n >= 1, "{e}");
}

#[test]
fn exceeding_the_thread_limit_is_a_fatal_error_naming_it() {
    expect_fail(
        "thread_limit",
        &[],
        &["runtime: program exceeds 2-thread limit", "fatal error: thread exhaustion"],
    );
}

#[test]
fn max_threads_zero_is_rejected() {
    let e = goro::Runtime::builder().procs(1).max_threads(0).build().unwrap_err();
    assert!(e.to_string().contains("max_threads 0"), "{e}");
}

#[test]
fn dropping_a_runtime_stops_its_threads() {
    let e = expect_ok("runtime_drop", &[], &[]);
    let n = number_after(&e, "threads=");
    // 20 runtimes of 2 Ps each would leave 40+ threads; their Ms and sysmon exit.
    assert!(n < 10, "{e}");
}

#[test]
fn goro_main_attribute_runs_main_as_a_goroutine() {
    expect_ok("goro_main", &[], &["in goro::main, id 1"]);
}
