//! Architecture dispatch: exactly one routine file per supported target.
//!
//! Each architecture module assembles its `.S` file with `global_asm!`, which defines
//! the routines declared in `crate::ffi` (`goro_asm_init`, `goro_asm_resume`,
//! `goro_asm_suspend`, `goro_asm_switch`, plus the internal `goro_asm_resume_point` and
//! `goro_asm_start`), and exports the frame constants and the call sites `resume`,
//! `suspend` and `switch`.

cfg_if::cfg_if! {
    if #[cfg(target_arch = "x86_64")] {
        mod x86_64;
        pub use self::x86_64::*;
    } else if #[cfg(target_arch = "aarch64")] {
        mod aarch64;
        pub use self::aarch64::*;
    } else {
        compile_error!("asm: unsupported target (goro supports x86_64 and aarch64)");
    }
}
