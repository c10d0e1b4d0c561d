//! Stack overflow report: a SIGSEGV/SIGBUS handler that recognizes a hit on one of our
//! guard regions and dies like Go does, and the per-thread `sigaltstack` it runs on.
//!
//! # Design
//! A coroutine that runs off the end of its stack touches the guard region below it
//! (arena.rs) and the kernel raises SIGSEGV. The handler cannot run on the exhausted
//! stack, so it is installed with `SA_ONSTACK` and every thread that runs coroutines gets
//! an alternate signal stack ([`ensure_thread_ready`]; a thread that already has one —
//! Rust's std installs one on its threads — keeps it). The handler looks the fault address
//! up in the lock-free arena registry; for a guard hit it writes
//!
//! ```text
//! runtime: goroutine 7 stack exceeds 262144-byte limit
//! fatal error: stack overflow
//! ```
//!
//! (`coroutine` instead of `goroutine N` when the stack has no owner id) with `write(2)`
//! from a stack buffer, then resets SIGABRT to its default, unblocks it and `abort()`s,
//! so the process dies by SIGABRT like a Go fatal error, never by SIGSEGV.
//!
//! Any other fault is chained to the handler that was installed before ours: called as
//! a `sa_sigaction` or `sa_handler` function according to its `SA_SIGINFO` flag; if it
//! was `SIG_DFL`/`SIG_IGN`, SIG_DFL is restored and the handler returns, so the faulting
//! instruction runs again and the default action kills the process with the right
//! signal (a signal sent with kill(2) is raised again instead, as returning would lose it).
//!
//! Flags: `SA_SIGINFO | SA_ONSTACK`, without `SA_NODEFER`: the signal stays blocked in the
//! handler, so a fault inside it (which would be a bug) kills the process with the
//! default action instead of recursing on the alternate stack.
//!
//! The sigaltstack is not registered with valgrind (valgrind runs signal handlers on
//! stacks it manages itself).
//!
//! # Invariants
//! 1. `PREV` is written once, under `INSTALL`, before our handler is installed for
//!    that signal, and never again; the handler only reads it.
//! 2. The handler allocates nothing, takes no lock, never panics and calls only
//!    async-signal-safe functions (`write`, `sigaction`, `pthread_sigmask`, `raise`,
//!    `abort`) — plus the previous handler, which carries its own contract.
//! 3. An alternate stack recorded in `ALTSTACK` was mapped by this thread and is
//!    unmapped only after it has been disabled (if it is still the active one).
//!
//! # References
//! go/src/runtime/signal_unix.go (sighandler, sigfwdgo), go/src/runtime/stack.go
//! (the "stack exceeds" message), Rust std sys/pal/unix/stack_overflow.rs.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

use crate::arena::{self, page_size};

/// Size of an alternate signal stack this module maps (above one guard page).
pub const ALTSTACK_SIZE: usize = 64 * 1024;

/// Signals we handle, in the order of [`PREV`].
const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// The actions installed before ours (invariant 1).
struct PrevActions(UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);

// SAFETY: invariant 1 — written once before any reader (the handler) can run, read-only
// afterwards.
unsafe impl Sync for PrevActions {}

static PREV: PrevActions =
    PrevActions(UnsafeCell::new([MaybeUninit::uninit(), MaybeUninit::uninit()]));
static INSTALL: Once = Once::new();

/// Prepares the calling thread to run code on goro stacks: installs the overflow
/// handler (once per process) and gives the thread an alternate signal stack if it has
/// none. Idempotent and cheap after the first call on a thread.
///
/// [`crate::PooledStack::acquire`] calls it on each thread that takes stacks; a runtime
/// calls it on each worker thread before switching to a goroutine.
pub fn ensure_thread_ready() {
    INSTALL.call_once(install_handlers);
    // During thread exit the thread-local may be gone: nothing to do then.
    let _ = ALTSTACK.try_with(AltStack::ensure);
}

fn install_handlers() {
    for (i, &sig) in SIGNALS.iter().enumerate() {
        // `MaybeUninit<T>` has `T`'s layout, so the array is `[sigaction; 2]` in memory.
        let slot = PREV.0.get().cast::<libc::sigaction>().wrapping_add(i);
        // SAFETY: invariant 1 — under `INSTALL`, before our handler exists, so nothing
        // reads the slot concurrently; the slot is valid for a `sigaction` write.
        let rc = unsafe { libc::sigaction(sig, ptr::null(), slot) };
        assert_eq!(rc, 0, "goro: sigaction query failed");
        // SAFETY: an all-zero `sigaction` is a valid value (empty mask, no flags).
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `action` is fully initialized; `handler` has the SA_SIGINFO signature.
        let rc = unsafe { libc::sigaction(sig, &action, ptr::null_mut()) };
        assert_eq!(rc, 0, "goro: cannot install the stack overflow handler");
    }
}

/// The SIGSEGV/SIGBUS handler (invariant 2).
extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers; SIGSEGV and
    // SIGBUS carry a fault address.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(fault) = arena::lookup(addr) {
        if fault.in_guard {
            report_overflow(fault.owner, fault.stack_len);
        }
    }
    // SAFETY: called from the handler with the arguments the kernel gave us.
    unsafe { chain(sig, info, ctx) };
}

/// Writes the Go-style report and aborts (async-signal-safe).
fn report_overflow(owner: u64, limit: usize) -> ! {
    let mut buf = [0u8; 128];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let n = bytes.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    let mut num = [0u8; 20];
    if owner == 0 {
        put(b"runtime: coroutine stack exceeds ");
    } else {
        put(b"runtime: goroutine ");
        put(format_u64(owner, &mut num));
        put(b" stack exceeds ");
    }
    put(format_u64(limit as u64, &mut num));
    put(b"-byte limit\n");
    write_stderr(&buf[..len]);
    write_stderr(b"fatal error: stack overflow\n");
    abort_by_sigabrt()
}

/// Formats `v` in decimal into the end of `buf`; returns the digits.
fn format_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// `write(2)` all of `bytes` to fd 2, retrying on EINTR and short writes.
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid buffer of its length; write is async-signal-safe.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            return;
        }
    }
}

/// Dies by SIGABRT whatever the process did to SIGABRT before.
fn abort_by_sigabrt() -> ! {
    // SAFETY: an all-zero `sigaction` with `SIG_DFL` (0) is the default action.
    let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `dfl` is a valid action; sigaction is async-signal-safe.
    unsafe { libc::sigaction(libc::SIGABRT, &dfl, ptr::null_mut()) };
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `set` is valid for writes; sigemptyset initializes it.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: `set` was initialized just above.
    unsafe { libc::sigaddset(set.as_mut_ptr(), libc::SIGABRT) };
    // SAFETY: `set` is initialized; unblocking a signal has no memory effects.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, set.as_ptr(), ptr::null_mut()) };
    // SAFETY: abort has no preconditions; it does not return.
    unsafe { libc::abort() }
}

/// Hands a fault that is not ours to the previously installed handler.
///
/// # Safety
/// Must be called from our signal handler with the kernel's arguments for `sig`.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    let slot = PREV.0.get().cast::<libc::sigaction>().wrapping_add(i);
    // SAFETY: invariant 1 — initialized before our handler was installed (the handler
    // runs only for signals in `SIGNALS`), never written again; we only read it.
    let prev = unsafe { &*slot };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // SAFETY: an all-zero `sigaction` is SIG_DFL with an empty mask.
        let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `dfl` is valid; sigaction is async-signal-safe.
        unsafe { libc::sigaction(sig, &dfl, ptr::null_mut()) };
        // SAFETY: `info` is the kernel's siginfo for this signal.
        let code = unsafe { (*info).si_code };
        if code <= 0 {
            // Sent by kill(2)/raise: returning would not re-raise it; it stays pending
            // (blocked in the handler) and kills us when the handler returns.
            // SAFETY: raise is async-signal-safe.
            unsafe { libc::raise(sig) };
        }
        return;
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the previous installer stored a three-argument handler.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the previous installer stored a one-argument handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}

/// This thread's alternate signal stack, if this module mapped it (invariant 3).
struct AltStack {
    /// Whether `ensure` already ran on this thread.
    checked: Cell<bool>,
    /// Base of our mapping (guard page included) and its length; 0 when not ours.
    map: Cell<(usize, usize)>,
}

thread_local! {
    static ALTSTACK: AltStack = const { AltStack { checked: Cell::new(false), map: Cell::new((0, 0)) } };
}

impl AltStack {
    fn ensure(&self) {
        if self.checked.get() {
            return;
        }
        self.checked.set(true);
        let mut old = MaybeUninit::<libc::stack_t>::uninit();
        // SAFETY: querying only; `old` is valid for writes.
        let rc = unsafe { libc::sigaltstack(ptr::null(), old.as_mut_ptr()) };
        // SAFETY: sigaltstack filled `old` when it succeeded.
        if rc == 0 && unsafe { old.assume_init() }.ss_flags & libc::SS_DISABLE == 0 {
            return; // the thread has one (std's, or the embedder's): keep it
        }
        let page = page_size();
        let len = ALTSTACK_SIZE + page;
        // SAFETY: a fresh anonymous mapping chosen by the kernel; it aliases nothing.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return; // overflow would then die by SIGSEGV: degraded, not unsafe
        }
        // SAFETY: the lowest page of our fresh mapping becomes the guard.
        unsafe { libc::mprotect(p, page, libc::PROT_NONE) };
        let st = libc::stack_t {
            ss_sp: (p as usize + page) as *mut libc::c_void,
            ss_flags: 0,
            ss_size: ALTSTACK_SIZE,
        };
        // SAFETY: `st` describes readable, writable memory we own for the thread's life.
        let rc = unsafe { libc::sigaltstack(&st, ptr::null_mut()) };
        if rc == 0 {
            self.map.set((p as usize, len));
        } else {
            // SAFETY: the mapping was never installed; nothing refers to it.
            unsafe { libc::munmap(p, len) };
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let (base, len) = self.map.get();
        if base == 0 {
            return;
        }
        let mut cur = MaybeUninit::<libc::stack_t>::uninit();
        // SAFETY: querying only; `cur` is valid for writes.
        let rc = unsafe { libc::sigaltstack(ptr::null(), cur.as_mut_ptr()) };
        if rc != 0 {
            return; // cannot tell whether it is still in use: leak it
        }
        // SAFETY: initialized by the successful call above.
        let cur = unsafe { cur.assume_init() };
        if cur.ss_flags & libc::SS_ONSTACK != 0 {
            return; // running on it (cannot happen in a TLS destructor): leak it
        }
        if cur.ss_sp as usize == base + page_size() && cur.ss_flags & libc::SS_DISABLE == 0 {
            let off =
                libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
            // SAFETY: disabling the alternate stack has no memory effects.
            unsafe { libc::sigaltstack(&off, ptr::null_mut()) };
        }
        // SAFETY: invariant 3 — ours, and no longer (or never was) the active altstack.
        unsafe { libc::munmap(base as *mut libc::c_void, len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        let mut b = [0u8; 20];
        assert_eq!(format_u64(0, &mut b), b"0");
        assert_eq!(format_u64(262144, &mut b), b"262144");
        assert_eq!(format_u64(u64::MAX, &mut b), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn thread_gets_an_altstack() {
        std::thread::spawn(|| {
            ensure_thread_ready();
            let mut cur = MaybeUninit::<libc::stack_t>::uninit();
            // SAFETY: query only.
            assert_eq!(unsafe { libc::sigaltstack(ptr::null(), cur.as_mut_ptr()) }, 0);
            // SAFETY: initialized by the successful call.
            let cur = unsafe { cur.assume_init() };
            assert_eq!(cur.ss_flags & libc::SS_DISABLE, 0);
            assert!(cur.ss_size >= 4096);
        })
        .join()
        .unwrap();
    }
}
