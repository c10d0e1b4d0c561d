//! Plain OS threads that take part in the runtime (deadlock detection's blind spot).
//!
//! # Design
//! A plain thread that spawns goroutines, parks on a channel or lock, or wakes a
//! goroutine may do so again at any time, so while such a thread runs, "every
//! goroutine is blocked" proves nothing. A thread registers the first time it does
//! any of that (a thread-local guard; its destructor unregisters at thread exit), and
//! counts as *not running* while it is parked in the park API without a deadline.
//! When the last running one parks or exits, deadlock detection runs.
//! It counts as running again from the moment its unparker succeeds, before the OS
//! even schedules it (park.rs, `ThreadParker::idle`): a woken thread that the kernel
//! is slow to run is not mistaken for a blocked one.
//! [`running`] is the number of registered threads that are not parked: deadlock
//! detection stays silent unless it is 0.
//!
//! A thread that never touched the runtime yet (just spawned with a `Sender` moved
//! into it, say) is not registered. To cover it, [`unknown_thread_active`] looks at
//! the kernel's view (`/proc/self/task/*/stat`): any thread that is neither a runtime
//! thread (Ms, sysmon) nor registered nor the caller, and is running or runnable (`R`,
//! or `D`), keeps detection silent; sysmon then checks again a little later
//! (deadlock.rs), since such a thread may finish without touching the runtime. Known blind spot: an unregistered thread that is *sleeping*
//! (`std::thread::sleep`, a blocking read) and will use a channel afterwards; such a
//! thread should call `goro::park::note_plain_thread()` first.

use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;

use crate::lockorder::{self, Level};

/// Kernel thread ids of the threads whose state is known without asking the kernel:
/// the runtime's own (Ms, sysmon, schedtrace) and the registered plain threads.
static RUNTIME_TIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid(2) has no preconditions.
    unsafe { libc::gettid() }
}

/// The calling thread is one of the runtime's own (until [`runtime_thread_exit`]).
pub(crate) fn runtime_thread_start() {
    lockorder::lock(&RUNTIME_TIDS, Level::Registry).push(gettid());
}

/// The calling runtime thread is about to exit.
pub(crate) fn runtime_thread_exit() {
    let me = gettid();
    lockorder::lock(&RUNTIME_TIDS, Level::Registry).retain(|&t| t != me);
}

/// Whether some thread other than the caller and the runtime's own threads is
/// running or runnable right now (see the module docs). `false` without procfs.
pub(crate) fn unknown_thread_active() -> bool {
    let me = gettid();
    let known: Vec<i32> = lockorder::lock(&RUNTIME_TIDS, Level::Registry).clone();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return false };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if tid == me || known.contains(&tid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if matches!(stat_state(&stat), Some('R' | 'D')) {
            return true;
        }
    }
    false
}

/// The state letter of a `/proc/.../stat` line: `tid (comm) S ...` (after the last
/// ')', since a thread name may contain one).
fn stat_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// The kernel's state letter (`R`, `S`, `D`, ...) of thread `tid` of this process;
/// `None` without procfs.
pub(crate) fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat_state(&stat)
}

static RUNNING: AtomicIsize = AtomicIsize::new(0);

struct Guard {
    registered: Cell<bool>,
    /// A runtime thread (sysmon): never counts.
    exempt: Cell<bool>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.registered.get() {
            // A registered thread ends running (it never parks again): like the last
            // running one parking (park.rs), the last one exiting may leave a
            // deadlock that no other event would ever check for.
            runtime_thread_exit();
            if RUNNING.fetch_sub(1, Ordering::SeqCst) == 1 {
                super::deadlock::check_all();
            }
        }
    }
}

thread_local! {
    static GUARD: Guard = const { Guard { registered: Cell::new(false), exempt: Cell::new(false) } };
}

/// Registers the calling plain thread (idempotent).
pub(crate) fn register() {
    let _ = GUARD.try_with(|g| {
        if !g.exempt.get() && !g.registered.replace(true) {
            RUNNING.fetch_add(1, Ordering::SeqCst);
            // Registered threads are tracked by `RUNNING`; the kernel's view of them
            // (a parked thread may still show `R` for a moment) must not override it.
            runtime_thread_start();
        }
    });
}

/// Marks the calling thread as part of the runtime (sysmon): it never counts.
pub(crate) fn exempt() {
    let _ = GUARD.try_with(|g| g.exempt.set(true));
}

/// A registered thread parked without a deadline (`-1`) or was unparked (`+1`; done
/// by the unparker, on the parked thread's behalf). See `park::ThreadParker::idle`.
pub(crate) fn adjust(delta: isize) {
    RUNNING.fetch_add(delta, Ordering::SeqCst);
}

/// Registered plain threads that are not parked.
pub(crate) fn running() -> isize {
    RUNNING.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_follows_the_last_parenthesis() {
        assert_eq!(stat_state("42 (goro-m0) S 1 2 3"), Some('S'));
        assert_eq!(stat_state("42 (a) b) (c) R 1"), Some('R'));
        assert_eq!(stat_state("garbage"), None);
        // This thread is running while it asks.
        assert_eq!(thread_state(gettid()), Some('R'));
    }
}
