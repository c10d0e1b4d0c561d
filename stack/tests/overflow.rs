//! Overflow and fault handling, each scenario in a child process (the child dies).

mod common;

use std::os::unix::process::ExitStatusExt;

use common::{run_child, SCENARIO_ENV};
use goro_stack::{PooledStack, DEFAULT_STACK_SIZE};

const ENTRY: &str = "subprocess_entry";

/// Recurses forever (each frame keeps 512 live bytes), until the guard stops it.
#[cfg(target_arch = "x86_64")]
extern "C" fn recurse(depth: usize) {
    let buf = [depth as u8; 512];
    std::hint::black_box(&buf);
    if std::hint::black_box(depth) == usize::MAX {
        return;
    }
    recurse(depth + 1);
    std::hint::black_box(&buf);
}

#[cfg(target_arch = "x86_64")]
fn overflow_on_pooled_stack(owner: u64) {
    let s = PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap();
    s.set_owner_id(owner);
    // SAFETY: `recurse` never unwinds; it overflows into the guard on purpose.
    unsafe { common::run_on_stack(&s, recurse, 0) };
    unreachable!("recursion returned");
}

/// The child side: does nothing unless a scenario is selected.
#[test]
fn subprocess_entry() {
    let Ok(scenario) = std::env::var(SCENARIO_ENV) else { return };
    match scenario.as_str() {
        #[cfg(target_arch = "x86_64")]
        "overflow7" => overflow_on_pooled_stack(7),
        #[cfg(target_arch = "x86_64")]
        "overflow0" => overflow_on_pooled_stack(0),
        "segv" => {
            drop(PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap()); // handler installed
                                                                     // SAFETY: none — this read faults on purpose (address 16 is never mapped).
            let v = unsafe { std::ptr::read_volatile(16 as *const u64) };
            unreachable!("read {v} from address 16");
        }
        "exhaust" => {
            assert_eq!(goro_stack::guard_mode(), goro_stack::GuardMode::Mprotect);
            let mut held = Vec::new();
            let err = loop {
                match PooledStack::acquire(DEFAULT_STACK_SIZE) {
                    Ok(s) => held.push(s),
                    Err(e) => break e,
                }
                assert!(held.len() < 1_000_000, "no limit reached");
            };
            println!("EXHAUSTED after {} stacks: {err}", held.len());
            // Still alive and usable: pooled stacks come back without new mappings.
            let n = held.len();
            drop(held);
            let again: Vec<_> =
                (0..n).map(|_| PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap()).collect();
            println!("REACQUIRED {}", again.len());
        }
        "badenv" => {
            let _ = goro_stack::guard_mode();
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn overflow_reports_goroutine_and_aborts() {
    for mode in ["", "madvise", "mprotect"] {
        let out = run_child(ENTRY, "overflow7", &[("GORO_STACK_GUARD", mode)]);
        let err = stderr(&out);
        assert!(
            err.contains("runtime: goroutine 7 stack exceeds 262144-byte limit\n"),
            "{mode}: {err}"
        );
        assert!(err.contains("fatal error: stack overflow\n"), "{mode}: {err}");
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{mode}: {:?} {err}", out.status);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn overflow_without_owner_says_coroutine() {
    let out = run_child(ENTRY, "overflow0", &[]);
    let err = stderr(&out);
    assert!(err.contains("runtime: coroutine stack exceeds 262144-byte limit\n"), "{err}");
    assert!(err.contains("fatal error: stack overflow\n"), "{err}");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{:?}", out.status);
}

#[test]
fn other_faults_keep_their_default_signal() {
    let out = run_child(ENTRY, "segv", &[]);
    let err = stderr(&out);
    assert!(!err.contains("stack overflow"), "{err}");
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{:?} {err}", out.status);
}

#[test]
fn mprotect_mode_fails_cleanly_at_the_map_count() {
    if goro_stack::running_on_valgrind() {
        eprintln!("skipped under valgrind: tens of thousands of mappings");
        return;
    }
    let out = run_child(ENTRY, "exhaust", &[("GORO_STACK_GUARD", "mprotect")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{text}\n{}", out.status, stderr(&out));
    let line = text.lines().find(|l| l.contains("EXHAUSTED")).expect("no EXHAUSTED line");
    eprintln!("{line}");
    assert!(line.contains("vm.max_map_count"), "{line}");
    assert!(text.contains("REACQUIRED"), "{text}");
}

#[test]
fn bad_guard_env_is_a_clear_error() {
    let out = run_child(ENTRY, "badenv", &[("GORO_STACK_GUARD", "bogus")]);
    let err = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("GORO_STACK_GUARD") && err.contains("bogus"), "{err}");
}
