//! Runtime invariant failures: Go's second error tier (`fatal error: ...`, then abort).
//!
//! # Design
//! A broken runtime invariant cannot be recovered from by unwinding: the stack that
//! would unwind may belong to a goroutine in the middle of a switch. So `fatal!` writes
//! its message with a raw `write(2)` (no allocation, no lock), then `abort()`s.
//! User mistakes are not fatal errors: they panic with Go's text (STYLE.md §7).

/// Writes `runtime: <detail>` lines (if any) and `fatal error: <msg>` to stderr, then
/// aborts the process. Never unwinds, never allocates.
#[cold]
#[inline(never)]
pub fn fatal(msg: &'static str) -> ! {
    write_stderr(b"fatal error: ");
    write_stderr(msg.as_bytes());
    write_stderr(b"\n");
    std::process::abort()
}

/// `runtime: program exceeds N-thread limit` / `fatal error: thread exhaustion` (Go's
/// words), then abort.
#[cold]
#[inline(never)]
pub(crate) fn fatal_thread_limit(limit: usize) -> ! {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = limit;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    write_stderr(b"runtime: program exceeds ");
    write_stderr(&digits[i..]);
    write_stderr(b"-thread limit (RuntimeBuilder::max_threads)\n");
    fatal("thread exhaustion")
}

/// Writes bytes to stderr with a raw system call (async-signal-safe, no lock).
pub(crate) fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a live byte slice; write(2) reads at most `rest.len()` bytes.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// `fatal!("msg")`: a broken runtime invariant; see [`fatal`].
#[macro_export]
#[doc(hidden)]
macro_rules! fatal {
    ($msg:literal) => {
        $crate::fatal::fatal($msg)
    };
}
