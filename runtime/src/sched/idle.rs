//! Sleeping and waking OS threads: a futex word per M, no periodic wake-ups.
//!
//! # Design
//! An idle M sleeps in `FUTEX_WAIT` on its own word until another thread hands it a P
//! (or, for a locked M, its goroutine) and wakes it with `FUTEX_WAKE`. The word is the
//! "you have been woken" flag: the waker writes the hand-over fields first, then sets
//! the word with Release; the sleeper re-checks the word after every return from the
//! system call (spurious wake-ups and signals are harmless).
//!
//! # References
//! futex(2); go/src/runtime/lock_futex.go (notesleep, notewakeup).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A one-shot wake-up flag a single thread sleeps on.
pub(crate) struct Note {
    word: AtomicU32,
}

impl Note {
    pub(crate) const fn new() -> Note {
        Note { word: AtomicU32::new(0) }
    }

    /// Sets the flag and wakes the sleeper (if any).
    pub(crate) fn wake(&self) {
        if self.word.swap(1, Ordering::Release) == 0 {
            futex_wake(&self.word);
        }
    }

    /// Sleeps until woken or `timeout` passes; returns whether it was woken. Clears the
    /// flag when it returns true.
    pub(crate) fn sleep(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if self.word.swap(0, Ordering::Acquire) == 1 {
                return true;
            }
            let left = match deadline {
                None => None,
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return false;
                    }
                    Some(d - now)
                }
            };
            futex_wait(&self.word, 0, left);
        }
    }
}

/// `FUTEX_WAIT` while `*word == expected`, at most `timeout`.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 for the duration of the call; `tsp` is null
    // or points to a timespec on this stack. The kernel only reads both.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        )
    };
}

/// `FUTEX_WAKE` one sleeper on `word`.
pub(crate) fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE does not access user memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}
