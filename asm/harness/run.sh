#!/usr/bin/env bash
# Builds the aarch64 context-switch harness and runs it under qemu-user.
#
# The harness (harness.c + regs.S) is linked with the very same
# ../src/arch/aarch64.S that the Rust crate assembles with global_asm!, as a static
# aarch64 binary, and run with qemu-aarch64. Build output goes to
# $CARGO_TARGET_DIR/asm-harness (default: <workspace>/target/asm-harness), never into
# the source tree.
#
# Environment:
#   CC_AARCH64         cross compiler   (default: aarch64-linux-gnu-gcc)
#   QEMU_AARCH64       emulator         (default: qemu-aarch64; on an aarch64 host the
#                                        binary runs natively when this is empty and
#                                        qemu is absent)
#   GORO_REQUIRE_QEMU  when set, a missing compiler or emulator is an error (CI);
#                      when unset, it is a notice and the script exits 0.
#
# Exit status: 0 when every test passed (or the tools are missing and not required),
# non-zero otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${CARGO_TARGET_DIR:-$root/target}/asm-harness"

cc="${CC_AARCH64:-aarch64-linux-gnu-gcc}"
qemu="${QEMU_AARCH64-qemu-aarch64}"

missing=()
command -v "$cc" >/dev/null 2>&1 || missing+=("$cc (Debian/Ubuntu: gcc-aarch64-linux-gnu)")
if [ -n "$qemu" ] && ! command -v "$qemu" >/dev/null 2>&1; then
    if [ "$(uname -m)" = aarch64 ]; then
        qemu=""    # native aarch64 host: run the binary directly
    else
        missing+=("$qemu (Debian/Ubuntu: qemu-user)")
    fi
fi
if [ "${#missing[@]}" -gt 0 ]; then
    for m in "${missing[@]}"; do
        echo "asm/harness: missing tool: $m" >&2
    done
    if [ -n "${GORO_REQUIRE_QEMU:-}" ]; then
        echo "asm/harness: GORO_REQUIRE_QEMU is set: failing" >&2
        exit 1
    fi
    echo "asm/harness: NOTICE: aarch64 harness SKIPPED (set GORO_REQUIRE_QEMU=1 to make this an error)" >&2
    exit 0
fi

mkdir -p "$out"
# -static: no aarch64 sysroot needed at run time (no qemu -L).
# -fno-omit-frame-pointer / -fasynchronous-unwind-tables: the frame-chain and
# unwinder tests walk the harness's own frames down to goro_asm_start.
# -Wa,--fatal-warnings: the .S files must assemble cleanly, as under LLVM.
"$cc" -O2 -g -static \
    -Wall -Wextra -Werror -Wa,--fatal-warnings \
    -fno-omit-frame-pointer -fasynchronous-unwind-tables \
    -o "$out/harness" \
    "$here/harness.c" "$here/regs.S" "$root/asm/src/arch/aarch64.S"

echo "asm/harness: built $out/harness with $("$cc" -dumpfullversion 2>/dev/null || echo "$cc")"
if [ -n "$qemu" ]; then
    exec "$qemu" "$out/harness"
else
    exec "$out/harness"
fi
