/*
 * C harness for the aarch64 context switch (../src/arch/aarch64.S), run under
 * qemu-aarch64 by run.sh.
 *
 * The Rust crate pulls the .S file in with global_asm!; this program assembles the very
 * same text with aarch64-linux-gnu-gcc and drives it from C, so the routines are tested
 * on machines that have no aarch64 hardware. regs.S holds the two probes that need
 * exact register contents (see its header).
 *
 * Tests ("resume" means the pair goro_asm_resume / goro_asm_suspend)
 *   init_frame_layout          every word of the initial frame; nothing written
 *                              outside it
 *   init_rounds_unaligned_top  an unaligned stack_top is rounded down to 16
 *   entry_state_switch         transfer and data arrive; at entry sp == top (16-aligned),
 *   entry_state_resume         x29 == 0, x30 inside goro_asm_start; initial FPCR is
 *                              the creator's, and the creator gets its own back; first
 *                              entered by switch / by resume
 *   ping_pong                  main <-> coroutine by switch, transfer values both ways
 *   resume_ping_pong           main <-> child by resume/suspend, transfer values
 *   nested_resume              main resumes a, a resumes b; b suspends to a, a to main
 *   ring                       main -> a -> b -> main, direct coroutine-to-coroutine
 *   mixed_resume_switch        one context continued by resume or by switch at random
 *                              (suspended frames from suspend and switch alike), with
 *                              a different FPCR on each side each round
 *   registers_fixed            x19-x30, sp, d8-d15, FPCR survive a switch in both
 *                              directions (distinct fixed values, two FPCRs)
 *   registers_random           the same with random values, many rounds, including
 *                              rounds where both sides share an FPCR
 *   resume_registers_fixed     the same through resume (parent: x19-x30, sp, d8-d15,
 *   resume_registers_random    FPCR; its x30 is the return address) and suspend
 *                              (child: x19-x29, sp, d8-d15, FPCR), suspend entered
 *                              by `bl` and by `adr x30; br` (Rust's way) in turn
 *   fpcr_per_context           parent and child each keep their own rounding mode
 *                              across resume/suspend, and a new child starts with its
 *                              creator's
 *   deep_stack                 a coroutine uses most of its stack (guard page below)
 *   unwind_stops_at_root       _Unwind_Backtrace from a coroutine ends cleanly in
 *   unwind_stops_at_root_resumed  goro_asm_start (its CFI), and the x29 chain ends
 *                              with fp == 0 and a return address inside
 *                              goro_asm_start; entered by switch / by resume
 *   start_fde                  "return address - 1" lookups for the two return
 *                              addresses that point into goro_asm_start find its FDE
 *   entry_return_traps         an entry that returns hits `brk` (SIGTRAP), in a child
 *
 * Output: one "ok"/"FAIL" line per test, mismatch details (register names), and a
 * final "N passed, M failed" line; the exit status is non-zero on any failure.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unwind.h>

/* ---- the routine under test (../src/arch/aarch64.S) ---- */

typedef void (*entry_fn)(uintptr_t transfer, void *data);

typedef uintptr_t (*routine_fn)(void **from_sp, void *to_sp, uintptr_t transfer);

extern void *goro_asm_init(void *stack_top, entry_fn entry, void *data);
extern uintptr_t goro_asm_switch(void **from_sp, void *to_sp, uintptr_t transfer);
extern uintptr_t goro_asm_resume(void **parent_sp, void *child_sp, uintptr_t transfer);
extern uintptr_t goro_asm_suspend(void **self_sp, void *parent_sp, uintptr_t transfer);
extern char goro_asm_start[], goro_asm_resume_point[];

/* Frame layout, as documented in aarch64.S (GORO_FRAME_*). */
enum {
    FRAME_RESUME = 0, FRAME_FPCR = 8, FRAME_FP = 16, FRAME_LR = 24, FRAME_X19 = 32,
    FRAME_X20 = 40, FRAME_X21 = 48, FRAME_D8 = 112, FRAME_SIZE = 176,
};

/* ---- the probes (regs.S) ---- */

struct regset {
    uint64_t x[10];       /* x19..x28 */
    uint64_t fp;          /* x29 */
    uint64_t lr;          /* x30 */
    uint64_t sp;
    uint64_t fpcr;
    uint64_t d[8];        /* d8..d15, raw bits */
    uint64_t ret;         /* value the routine returned */
    uint64_t lr_expected; /* address right after the probe's call */
    uint64_t sp_expected; /* probe's sp before the call */
};
_Static_assert(offsetof(struct regset, x) == 0, "HRS_X19");
_Static_assert(offsetof(struct regset, fp) == 80, "HRS_FP");
_Static_assert(offsetof(struct regset, lr) == 88, "HRS_LR");
_Static_assert(offsetof(struct regset, sp) == 96, "HRS_SP");
_Static_assert(offsetof(struct regset, fpcr) == 104, "HRS_FPCR");
_Static_assert(offsetof(struct regset, d) == 112, "HRS_D8");
_Static_assert(offsetof(struct regset, ret) == 176, "HRS_RET");
_Static_assert(offsetof(struct regset, lr_expected) == 184, "HRS_LR_EXP");
_Static_assert(offsetof(struct regset, sp_expected) == 192, "HRS_SP_EXP");

extern uintptr_t harness_call_checked(void **from_sp, void *to_sp, uintptr_t transfer,
                                      const struct regset *load, struct regset *out,
                                      routine_fn routine, uintptr_t no_link);
extern void harness_entry_probe(uintptr_t transfer, void *data);

struct entry_seen {
    uint64_t sp, fp, lr, fpcr, count;
};
_Static_assert(offsetof(struct entry_seen, count) == 32, "HES_COUNT");
struct entry_seen harness_entry_seen;

/* ---- small helpers ---- */

/* FPCR fields that qemu implements and that are safe to flip: RMode (23:22), FZ (24),
 * DN (25), AHP (26). Trap-enable bits are left alone (traps are optional). */
#define FPCR_RMODE_RP (1u << 22)
#define FPCR_RMODE_RM (2u << 22)
#define FPCR_RMODE_RZ (3u << 22)
#define FPCR_FZ (1u << 24)
#define FPCR_DN (1u << 25)
#define FPCR_AHP (1u << 26)
#define FPCR_TEST_MASK (FPCR_RMODE_RZ | FPCR_FZ | FPCR_DN | FPCR_AHP)

static uint64_t get_fpcr(void) {
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}

static void set_fpcr(uint64_t v) {
    __asm__ volatile("msr fpcr, %0" : : "r"(v) : "memory");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static int failures_in_test; /* mismatches reported by the running test */

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            failures_in_test++;                                                \
            printf("    %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

/* An mmap'd stack with a PROT_NONE guard page below it. */
struct stack {
    unsigned char *base; /* start of the mapping (guard page) */
    size_t len;
};

static struct stack stack_new(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    if (mprotect(p, 4096, PROT_NONE) != 0) {
        perror("mprotect");
        exit(2);
    }
    return (struct stack){p, len};
}

static void *stack_top(struct stack s) { return s.base + s.len; }

static void stack_free(struct stack s) { munmap(s.base, s.len); }

static int in_start(uint64_t addr) {
    /* A return address into goro_asm_start lies after its first instruction and
     * within its three instructions (mov, blr, brk). */
    uint64_t t = (uint64_t)(uintptr_t)goro_asm_start;
    return addr > t && addr <= t + 12;
}

/* Compares a register set found after a call with what was loaded before it. x30 is
 * checked only where the routine returns (goro_asm_resume); switch and suspend are
 * continued with a `br`, after which x30 is dead. */
static void compare_regs(const char *side, const struct regset *want, const struct regset *got,
                         uint64_t want_ret, int check_lr) {
    static const char *const xn[10] = {"x19", "x20", "x21", "x22", "x23",
                                       "x24", "x25", "x26", "x27", "x28"};
    for (int i = 0; i < 10; i++)
        CHECK(got->x[i] == want->x[i], "%s: %s = %#llx, want %#llx", side, xn[i],
              (unsigned long long)got->x[i], (unsigned long long)want->x[i]);
    CHECK(got->fp == want->fp, "%s: x29 = %#llx, want %#llx", side,
          (unsigned long long)got->fp, (unsigned long long)want->fp);
    CHECK(!check_lr || got->lr == got->lr_expected, "%s: x30 = %#llx, want %#llx", side,
          (unsigned long long)got->lr, (unsigned long long)got->lr_expected);
    CHECK(got->sp == got->sp_expected, "%s: sp = %#llx, want %#llx", side,
          (unsigned long long)got->sp, (unsigned long long)got->sp_expected);
    for (int i = 0; i < 8; i++)
        CHECK(got->d[i] == want->d[i], "%s: d%d = %#llx, want %#llx", side, 8 + i,
              (unsigned long long)got->d[i], (unsigned long long)want->d[i]);
    CHECK(got->fpcr == want->fpcr, "%s: FPCR = %#llx, want %#llx", side,
          (unsigned long long)got->fpcr, (unsigned long long)want->fpcr);
    CHECK(got->ret == want_ret, "%s: transfer = %#llx, want %#llx", side,
          (unsigned long long)got->ret, (unsigned long long)want_ret);
}

static void fill_regs(struct regset *r, uint64_t fpcr) {
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 10; i++) r->x[i] = rnd();
    r->fp = rnd();
    for (int i = 0; i < 8; i++) r->d[i] = rnd();
    r->fpcr = fpcr;
}

/* ---- init_frame_layout, init_rounds_unaligned_top ---- */

static void dummy_entry(uintptr_t transfer, void *data) {
    (void)transfer;
    (void)data;
    abort(); /* never switched to */
}

static void check_frame(unsigned char *buf, size_t buflen, size_t top_off, size_t aligned_off) {
    memset(buf, 0xa5, buflen);
    void *data = (void *)0x1234567890abcdefull;
    uint64_t fpcr = get_fpcr();
    unsigned char *sp = goro_asm_init(buf + top_off, dummy_entry, data);
    CHECK(sp == buf + aligned_off - FRAME_SIZE, "sp = top - %td, want top - %d",
          buf + top_off - sp, FRAME_SIZE);
    if (sp != buf + aligned_off - FRAME_SIZE) return;
    uint64_t w[FRAME_SIZE / 8];
    memcpy(w, sp, sizeof w);
    CHECK(w[FRAME_RESUME / 8] == (uint64_t)(uintptr_t)goro_asm_resume_point,
          "resume slot = %#llx, want goro_asm_resume_point", (unsigned long long)w[0]);
    CHECK(w[FRAME_FPCR / 8] == fpcr, "FPCR slot = %#llx, want %#llx",
          (unsigned long long)w[FRAME_FPCR / 8], (unsigned long long)fpcr);
    CHECK(w[FRAME_FP / 8] == 0, "x29 slot = %#llx, want 0", (unsigned long long)w[FRAME_FP / 8]);
    CHECK(w[FRAME_LR / 8] == (uint64_t)(uintptr_t)goro_asm_start,
          "continuation slot = %#llx, want goro_asm_start", (unsigned long long)w[FRAME_LR / 8]);
    CHECK(w[FRAME_X19 / 8] == (uint64_t)(uintptr_t)dummy_entry, "x19 slot is not entry");
    CHECK(w[FRAME_X20 / 8] == (uint64_t)(uintptr_t)data, "x20 slot is not data");
    for (int i = FRAME_X21 / 8; i < FRAME_SIZE / 8; i++)
        CHECK(w[i] == 0, "slot +%d = %#llx, want 0", i * 8, (unsigned long long)w[i]);
    /* Nothing outside the frame was written. */
    for (unsigned char *p = buf; p < buf + buflen; p++) {
        if (p >= sp && p < sp + FRAME_SIZE) continue;
        if (*p != 0xa5) {
            CHECK(0, "byte at top%+td written outside the frame", p - (buf + top_off));
            break;
        }
    }
}

static void test_init_frame_layout(void) {
    _Alignas(16) static unsigned char buf[512];
    check_frame(buf, sizeof buf, 256 + 64, 256 + 64);
}

static void test_init_rounds_unaligned_top(void) {
    _Alignas(16) static unsigned char buf[512];
    for (size_t mis = 1; mis < 16; mis++) check_frame(buf, sizeof buf, 320 + mis, 320);
}

/* ---- entry_state_switch, entry_state_resume ---- */

/* How main continues a context, and so how the context must go back. */
enum how { BY_SWITCH, BY_RESUME };

struct probe_data {
    entry_fn c_entry; /* first word: where harness_entry_probe continues */
    void *main_sp;
    void *coro_sp;
    enum how how;
    uintptr_t got_transfer;
    void *got_data;
    uint64_t fpcr_in_body;
};

/* Goes back to main the way main came: suspend to a parent, switch otherwise. */
static uintptr_t back_to_main(enum how how, void **self_sp, void *main_sp, uintptr_t t) {
    return how == BY_RESUME ? goro_asm_suspend(self_sp, main_sp, t)
                            : goro_asm_switch(self_sp, main_sp, t);
}

static uintptr_t continue_coro(enum how how, void **main_sp, void *coro_sp, uintptr_t t) {
    return how == BY_RESUME ? goro_asm_resume(main_sp, coro_sp, t)
                            : goro_asm_switch(main_sp, coro_sp, t);
}

static void entry_state_body(uintptr_t transfer, void *data) {
    struct probe_data *pd = data;
    pd->got_transfer = transfer;
    pd->got_data = data;
    pd->fpcr_in_body = get_fpcr();
    back_to_main(pd->how, &pd->coro_sp, pd->main_sp, transfer + 1);
    abort(); /* never continued */
}

static void run_entry_state(enum how how) {
    const uint64_t creator_fpcr = FPCR_RMODE_RZ | FPCR_FZ;
    struct stack s = stack_new(64 * 1024);
    for (int variant = 0; variant < 2; variant++) {
        struct probe_data pd = {.c_entry = entry_state_body, .how = how};
        uint64_t fpcr0 = get_fpcr();
        /* variant 0: created under a non-default FPCR, then entered under the default
         * one; variant 1: created and entered under the same FPCR. */
        uint64_t create_fpcr = variant == 0 ? creator_fpcr : fpcr0;
        set_fpcr(create_fpcr);
        uint64_t want_fpcr = get_fpcr(); /* as the hardware keeps it */
        pd.coro_sp = goro_asm_init(stack_top(s), harness_entry_probe, &pd);
        set_fpcr(fpcr0);
        uint64_t count0 = harness_entry_seen.count;
        uintptr_t t = 0x5eed0000u + (uintptr_t)variant;
        uintptr_t r = continue_coro(how, &pd.main_sp, pd.coro_sp, t);
        CHECK(harness_entry_seen.count == count0 + 1, "entry probe did not run");
        CHECK(r == t + 1, "returned %#lx, want %#lx", (unsigned long)r, (unsigned long)t + 1);
        CHECK(pd.got_transfer == t, "transfer at entry = %#lx, want %#lx",
              (unsigned long)pd.got_transfer, (unsigned long)t);
        CHECK(pd.got_data == &pd, "data at entry = %p, want %p", pd.got_data, (void *)&pd);
        CHECK(harness_entry_seen.sp % 16 == 0, "sp at entry = %#llx, not 16-byte aligned",
              (unsigned long long)harness_entry_seen.sp);
        CHECK(harness_entry_seen.sp == (uint64_t)(uintptr_t)stack_top(s),
              "sp at entry = top - %lld, want top",
              (long long)((uint64_t)(uintptr_t)stack_top(s) - harness_entry_seen.sp));
        CHECK(harness_entry_seen.fp == 0, "x29 at entry = %#llx, want 0",
              (unsigned long long)harness_entry_seen.fp);
        CHECK(in_start(harness_entry_seen.lr), "x30 at entry = %#llx, not in goro_asm_start",
              (unsigned long long)harness_entry_seen.lr);
        CHECK(harness_entry_seen.fpcr == want_fpcr, "FPCR at entry = %#llx, want creator's %#llx",
              (unsigned long long)harness_entry_seen.fpcr, (unsigned long long)want_fpcr);
        CHECK(pd.fpcr_in_body == want_fpcr, "FPCR in entry body = %#llx, want %#llx",
              (unsigned long long)pd.fpcr_in_body, (unsigned long long)want_fpcr);
        CHECK(get_fpcr() == fpcr0, "creator's FPCR after coming back = %#llx, want %#llx",
              (unsigned long long)get_fpcr(), (unsigned long long)fpcr0);
    }
    stack_free(s);
}

static void test_entry_state_switch(void) { run_entry_state(BY_SWITCH); }

static void test_entry_state_resume(void) { run_entry_state(BY_RESUME); }

/* ---- ping_pong, resume_ping_pong ---- */

enum { PING_PONG_ROUNDS = 200000 };

struct pp {
    void *main_sp, *coro_sp;
    enum how how;
    int bad; /* coroutine-side mismatches */
};

static void ping_pong_entry(uintptr_t t, void *data) {
    struct pp *p = data;
    for (uintptr_t i = 0;; i++) {
        if (t != i * 7 + 3) p->bad++;
        t = back_to_main(p->how, &p->coro_sp, p->main_sp, ~t);
    }
}

static void run_ping_pong(enum how how) {
    struct stack s = stack_new(64 * 1024);
    struct pp p = {.how = how};
    p.coro_sp = goro_asm_init(stack_top(s), ping_pong_entry, &p);
    for (uintptr_t i = 0; i < PING_PONG_ROUNDS; i++) {
        uintptr_t r = continue_coro(how, &p.main_sp, p.coro_sp, i * 7 + 3);
        if (r != ~(i * 7 + 3)) {
            CHECK(0, "round %lu: main got %#lx", (unsigned long)i, (unsigned long)r);
            break;
        }
    }
    CHECK(p.bad == 0, "coroutine saw %d wrong transfer values", p.bad);
    stack_free(s);
}

static void test_ping_pong(void) { run_ping_pong(BY_SWITCH); }

static void test_resume_ping_pong(void) { run_ping_pong(BY_RESUME); }

/* ---- nested_resume ---- */

enum { NEST_ROUNDS = 20000 };

struct nest {
    void *main_sp, *a_sp, *a_as_parent_sp, *b_sp;
    int bad_b;
    uintptr_t expect_b;
};

static void nest_a(uintptr_t t, void *data) {
    struct nest *n = data;
    for (;;) {
        n->expect_b = t + 1;
        uintptr_t from_b = goro_asm_resume(&n->a_as_parent_sp, n->b_sp, t + 1);
        t = goro_asm_suspend(&n->a_sp, n->main_sp, from_b + 1);
    }
}

static void nest_b(uintptr_t t, void *data) {
    struct nest *n = data;
    for (;;) {
        if (t != n->expect_b) n->bad_b++;
        t = goro_asm_suspend(&n->b_sp, n->a_as_parent_sp, t * 2);
    }
}

static void test_nested_resume(void) {
    struct stack sa = stack_new(64 * 1024), sb = stack_new(64 * 1024);
    struct nest n = {0};
    n.a_sp = goro_asm_init(stack_top(sa), nest_a, &n);
    n.b_sp = goro_asm_init(stack_top(sb), nest_b, &n);
    for (uintptr_t i = 0; i < NEST_ROUNDS; i++) {
        uintptr_t v = rnd() >> 2;
        uintptr_t r = goro_asm_resume(&n.main_sp, n.a_sp, v);
        if (r != (v + 1) * 2 + 1) {
            CHECK(0, "round %lu: main got %#lx, want %#lx", (unsigned long)i, (unsigned long)r,
                  (unsigned long)((v + 1) * 2 + 1));
            break;
        }
    }
    CHECK(n.bad_b == 0, "b saw %d wrong transfer values", n.bad_b);
    stack_free(sa);
    stack_free(sb);
}

/* ---- ring ---- */

enum { RING_ROUNDS = 50000 };

struct ring {
    void *main_sp, *a_sp, *b_sp;
    int bad_a, bad_b;
    uintptr_t expect_a; /* what a must receive next */
};

static void ring_a(uintptr_t t, void *data) {
    struct ring *r = data;
    for (;;) {
        if (t != r->expect_a) r->bad_a++;
        t = goro_asm_switch(&r->a_sp, r->b_sp, t * 3 + 1); /* straight to b */
    }
}

static void ring_b(uintptr_t t, void *data) {
    struct ring *r = data;
    for (;;) {
        if (t != r->expect_a * 3 + 1) r->bad_b++;
        t = goro_asm_switch(&r->b_sp, r->main_sp, t ^ 0xffff);
    }
}

static void test_ring(void) {
    struct stack sa = stack_new(64 * 1024), sb = stack_new(64 * 1024);
    struct ring r = {0};
    r.a_sp = goro_asm_init(stack_top(sa), ring_a, &r);
    r.b_sp = goro_asm_init(stack_top(sb), ring_b, &r);
    for (uintptr_t i = 0; i < RING_ROUNDS; i++) {
        r.expect_a = rnd();
        uintptr_t got = goro_asm_switch(&r.main_sp, r.a_sp, r.expect_a);
        if (got != ((r.expect_a * 3 + 1) ^ 0xffff)) {
            CHECK(0, "round %lu: main got %#lx", (unsigned long)i, (unsigned long)got);
            break;
        }
    }
    CHECK(r.bad_a == 0 && r.bad_b == 0, "a saw %d, b saw %d wrong values", r.bad_a, r.bad_b);
    stack_free(sa);
    stack_free(sb);
}

/* ---- mixed_resume_switch ---- */

enum { MIXED_ROUNDS = 20000 };

struct mixed {
    void *main_sp, *coro_sp;
    enum how how;          /* how main continued the coroutine this round */
    uintptr_t expect;      /* transfer the coroutine must receive */
    uint64_t coro_fpcr;    /* FPCR the coroutine installs before going back */
    uint64_t coro_fpcr_set; /* FPCR it installed last round */
    int coro_ran;          /* coro_fpcr_set is valid */
    int bad_t, bad_fpcr;
};

static void mixed_entry(uintptr_t t, void *data) {
    struct mixed *m = data;
    for (;;) {
        if (t != m->expect) m->bad_t++;
        if (m->coro_ran && get_fpcr() != m->coro_fpcr_set) m->bad_fpcr++;
        set_fpcr(m->coro_fpcr);
        m->coro_fpcr_set = get_fpcr(); /* as the hardware keeps it */
        m->coro_ran = 1;
        t = back_to_main(m->how, &m->coro_sp, m->main_sp, t ^ 0x5a5a);
    }
}

static void test_mixed_resume_switch(void) {
    struct stack s = stack_new(64 * 1024);
    struct mixed m = {0};
    uint64_t fpcr0 = get_fpcr();
    m.coro_sp = goro_asm_init(stack_top(s), mixed_entry, &m);
    for (int i = 0; i < MIXED_ROUNDS; i++) {
        m.how = rnd() & 1 ? BY_RESUME : BY_SWITCH;
        m.expect = rnd();
        m.coro_fpcr = i % 3 == 0 ? 0 : rnd() & FPCR_TEST_MASK;
        uint64_t main_fpcr = i % 5 == 0 ? m.coro_fpcr : rnd() & FPCR_TEST_MASK;
        set_fpcr(main_fpcr);
        uintptr_t r = continue_coro(m.how, &m.main_sp, m.coro_sp, m.expect);
        uint64_t after = get_fpcr();
        set_fpcr(fpcr0);
        CHECK(r == (m.expect ^ 0x5a5a), "round %d (%s): main got %#lx", i,
              m.how == BY_RESUME ? "resume" : "switch", (unsigned long)r);
        CHECK(after == main_fpcr, "round %d (%s): main's FPCR %#llx, want %#llx", i,
              m.how == BY_RESUME ? "resume" : "switch", (unsigned long long)after,
              (unsigned long long)main_fpcr);
        if (failures_in_test > 10) break;
    }
    CHECK(m.bad_t == 0, "coroutine saw %d wrong transfer values", m.bad_t);
    CHECK(m.bad_fpcr == 0, "coroutine lost its FPCR %d times", m.bad_fpcr);
    stack_free(s);
}

/* ---- registers_*, resume_registers_* ---- */

/* Both sides run harness_call_checked: main with set A (switch or resume), the
 * coroutine with set B (switch or suspend). */
struct regs_test {
    void *main_sp, *coro_sp;
    enum how how;
    struct regset load_b;   /* written by main before each round, copied by the coroutine */
    uintptr_t to_main;      /* transfer the coroutine hands main this round */
    uintptr_t expect_coro;  /* transfer main hands the coroutine this round */
    int coro_failures;
    int rounds_checked;     /* coroutine-side rounds compared */
};

static void regs_entry(uintptr_t t, void *data) {
    struct regs_test *rt = data;
    for (uintptr_t round = 0;; round++) {
        /* Keep a private copy: main rewrites load_b for its next round while our probe
         * is suspended. */
        struct regset load = rt->load_b, out;
        if (t != rt->expect_coro) {
            printf("    coroutine: received %#lx, want %#lx\n", (unsigned long)t,
                   (unsigned long)rt->expect_coro);
            rt->coro_failures++;
        }
        int before = failures_in_test;
        if (rt->how == BY_RESUME)
            /* Odd rounds enter suspend the way Rust does (no link), even ones with bl. */
            t = harness_call_checked(&rt->coro_sp, rt->main_sp, rt->to_main, &load, &out,
                                     goro_asm_suspend, round & 1);
        else
            t = harness_call_checked(&rt->coro_sp, rt->main_sp, rt->to_main, &load, &out,
                                     goro_asm_switch, 0);
        compare_regs(rt->how == BY_RESUME ? "child side (suspend)" : "coroutine side", &load,
                     &out, rt->expect_coro, 0);
        rt->coro_failures += failures_in_test - before;
        failures_in_test = before; /* counted by main through coro_failures */
        rt->rounds_checked++;
    }
}

static const uint64_t fixed_fpcr_a = FPCR_RMODE_RZ | FPCR_FZ;
static const uint64_t fixed_fpcr_b = FPCR_RMODE_RP | FPCR_DN | FPCR_AHP;

static void run_regs(enum how how, int rounds, int randomize) {
    struct stack s = stack_new(256 * 1024);
    static struct regs_test rt;
    memset(&rt, 0, sizeof rt);
    rt.how = how;
    rt.coro_sp = goro_asm_init(stack_top(s), regs_entry, &rt);
    uint64_t fpcr0 = get_fpcr();
    for (int i = 0; i <= rounds; i++) {
        struct regset load_a, out_a;
        if (randomize) {
            /* Every fourth round both sides share an FPCR (the no-write path). */
            uint64_t fa = rnd() & FPCR_TEST_MASK;
            uint64_t fb = i % 4 == 0 ? fa : rnd() & FPCR_TEST_MASK;
            fill_regs(&load_a, fa);
            fill_regs(&rt.load_b, fb);
        } else {
            memset(&load_a, 0, sizeof load_a);
            memset(&rt.load_b, 0, sizeof rt.load_b);
            for (int k = 0; k < 10; k++) {
                load_a.x[k] = 0xa19a19a100000000ull + 19 + k;   /* "a" x19.. */
                rt.load_b.x[k] = 0xb19b19b100000000ull + 19 + k;
            }
            load_a.fp = 0xa29a29a2a29a29a2ull;
            rt.load_b.fp = 0xb29b29b2b29b29b2ull;
            for (int k = 0; k < 8; k++) {
                double da = 1.5 + k, db = -1000.25 - k;
                memcpy(&load_a.d[k], &da, 8);
                memcpy(&rt.load_b.d[k], &db, 8);
            }
            load_a.fpcr = fixed_fpcr_a;
            rt.load_b.fpcr = fixed_fpcr_b;
        }
        uintptr_t to_coro = rnd();
        rt.expect_coro = to_coro;
        rt.to_main = rnd();
        /* Round 0 starts the coroutine; in later rounds this also continues the
         * coroutine's probe from the previous round, which then checks its registers. */
        harness_call_checked(&rt.main_sp, rt.coro_sp, to_coro, &load_a, &out_a,
                             how == BY_RESUME ? goro_asm_resume : goro_asm_switch, 0);
        compare_regs(how == BY_RESUME ? "parent side (resume)" : "main side", &load_a, &out_a,
                     rt.to_main, how == BY_RESUME);
        if (failures_in_test + rt.coro_failures > 20) {
            printf("    (stopping after 20 mismatches)\n");
            break;
        }
    }
    CHECK(rt.rounds_checked == rounds, "coroutine checked %d rounds, want %d",
          rt.rounds_checked, rounds);
    CHECK(rt.coro_failures == 0, "%d mismatches on the coroutine side", rt.coro_failures);
    CHECK(get_fpcr() == fpcr0, "main's FPCR not restored by the probe");
    stack_free(s);
}

static void test_registers_fixed(void) { run_regs(BY_SWITCH, 4, 0); }

static void test_registers_random(void) { run_regs(BY_SWITCH, 5000, 1); }

static void test_resume_registers_fixed(void) { run_regs(BY_RESUME, 4, 0); }

static void test_resume_registers_random(void) { run_regs(BY_RESUME, 5000, 1); }

/* ---- fpcr_per_context ---- */

static const uint64_t fpcr_down = FPCR_RMODE_RM;
static const uint64_t fpcr_up = FPCR_RMODE_RP | FPCR_FZ;

struct fpcr_pc {
    void *main_sp, *coro_sp;
};

/* Child: reports the FPCR it finds, installs `up`, suspends, and repeats. */
static void fpcr_child(uintptr_t t, void *data) {
    struct fpcr_pc *f = data;
    (void)t;
    for (;;) {
        uint64_t found = get_fpcr();
        set_fpcr(fpcr_up);
        goro_asm_suspend(&f->coro_sp, f->main_sp, found);
    }
}

static void test_fpcr_per_context(void) {
    struct stack s = stack_new(64 * 1024);
    struct fpcr_pc f = {0};
    uint64_t saved = get_fpcr();
    f.coro_sp = goro_asm_init(stack_top(s), fpcr_child, &f);
    set_fpcr(fpcr_down);
    uint64_t first = goro_asm_resume(&f.main_sp, f.coro_sp, 0);
    uint64_t parent_after = get_fpcr();
    uint64_t second = goro_asm_resume(&f.main_sp, f.coro_sp, 0);
    uint64_t parent_after_2 = get_fpcr();
    set_fpcr(saved);
    CHECK(first == saved, "a new child starts with FPCR %#llx, want its creator's %#llx",
          (unsigned long long)first, (unsigned long long)saved);
    CHECK(parent_after == fpcr_down, "parent's FPCR %#llx after resume, want its own %#llx",
          (unsigned long long)parent_after, (unsigned long long)fpcr_down);
    CHECK(second == fpcr_up, "child's FPCR %#llx after suspend, want its own %#llx",
          (unsigned long long)second, (unsigned long long)fpcr_up);
    CHECK(parent_after_2 == fpcr_down, "parent's FPCR %#llx after 2nd resume, want %#llx",
          (unsigned long long)parent_after_2, (unsigned long long)fpcr_down);
    stack_free(s);
}

/* ---- deep_stack ---- */

struct deep {
    void *main_sp, *coro_sp;
};

static uint64_t __attribute__((noinline)) recurse(int depth, volatile uint64_t *sink) {
    volatile uint64_t local[64]; /* 512 bytes per level, plus the frame */
    for (int i = 0; i < 64; i++) local[i] = (uint64_t)depth * 64 + (uint64_t)i;
    uint64_t sum = depth == 0 ? 0 : recurse(depth - 1, sink);
    for (int i = 0; i < 64; i++) sum += local[i];
    *sink = sum;
    return sum;
}

static void deep_entry(uintptr_t t, void *data) {
    struct deep *d = data;
    volatile uint64_t sink;
    for (;;) t = goro_asm_switch(&d->coro_sp, d->main_sp, recurse((int)t, &sink));
}

static void test_deep_stack(void) {
    /* 64 KiB mapping, 60 KiB usable: 100 levels of > 512 bytes use about 55 KiB. */
    struct stack s = stack_new(64 * 1024);
    struct deep d = {0};
    d.coro_sp = goro_asm_init(stack_top(s), deep_entry, &d);
    int depth = 100;
    uint64_t want = 0;
    for (int k = 0; k <= depth; k++)
        for (int i = 0; i < 64; i++) want += (uint64_t)k * 64 + (uint64_t)i;
    for (int round = 0; round < 3; round++) {
        uintptr_t got = goro_asm_switch(&d.main_sp, d.coro_sp, (uintptr_t)depth);
        CHECK(got == want, "recursion sum = %lu, want %lu", (unsigned long)got,
              (unsigned long)want);
    }
    stack_free(s);
}

/* ---- unwind_stops_at_root, unwind_stops_at_root_resumed ---- */

struct walk {
    void *main_sp, *coro_sp;
    enum how how;
    int frames;
    uint64_t last_ip;
    int reason;
    int fp_frames;
    uint64_t fp_last_lr;
    int fp_ended;
};

static _Unwind_Reason_Code unwind_cb(struct _Unwind_Context *ctx, void *arg) {
    struct walk *w = arg;
    uint64_t ip = _Unwind_GetIP(ctx);
    w->frames++;
    /* libgcc reports the end of the stack by calling us once more with ip == 0 after
     * the outermost frame (goro_asm_start); remember the last real frame. */
    if (ip != 0) w->last_ip = ip;
    return w->frames > 64 ? _URC_NORMAL_STOP : _URC_NO_REASON;
}

static void __attribute__((noinline)) walk_fp(struct walk *w) {
    uint64_t *fp = __builtin_frame_address(0);
    while (fp && w->fp_frames < 64) {
        w->fp_frames++;
        w->fp_last_lr = fp[1];
        fp = (uint64_t *)fp[0];
    }
    w->fp_ended = fp == NULL;
}

static void __attribute__((noinline)) walk_level(struct walk *w, int depth) {
    if (depth > 0) {
        walk_level(w, depth - 1);
        __asm__ volatile("" ::: "memory"); /* no tail call: keep the frames */
        return;
    }
    w->reason = _Unwind_Backtrace(unwind_cb, w);
    walk_fp(w);
}

static void walk_body(uintptr_t t, void *data) {
    struct walk *w = data;
    (void)t;
    walk_level(w, 3);
    back_to_main(w->how, &w->coro_sp, w->main_sp, 1);
    abort();
}

static void run_unwind(enum how how) {
    struct stack s = stack_new(128 * 1024);
    struct walk w = {.how = how};
    w.coro_sp = goro_asm_init(stack_top(s), walk_body, &w);
    continue_coro(how, &w.main_sp, w.coro_sp, 0);
    CHECK(w.reason == _URC_END_OF_STACK, "_Unwind_Backtrace returned %d, want %d (end of stack)",
          w.reason, _URC_END_OF_STACK);
    CHECK(w.frames >= 6 && w.frames <= 12, "%d frames (unwind_cb .. walk_body, goro_asm_start)",
          w.frames);
    CHECK(in_start(w.last_ip), "last frame ip %#llx is not in goro_asm_start (%p)",
          (unsigned long long)w.last_ip, (void *)goro_asm_start);
    CHECK(w.fp_ended, "frame-pointer chain did not end with fp == 0 (%d frames)", w.fp_frames);
    CHECK(w.fp_frames >= 5 && w.fp_frames <= 10, "%d frame records", w.fp_frames);
    CHECK(in_start(w.fp_last_lr), "last frame record's lr %#llx is not in goro_asm_start",
          (unsigned long long)w.fp_last_lr);
    stack_free(s);
}

static void test_unwind_stops_at_root(void) { run_unwind(BY_SWITCH); }

static void test_unwind_stops_at_root_resumed(void) { run_unwind(BY_RESUME); }

/* ---- start_fde ---- */

/* libgcc's FDE lookup (unwind-dw2-fde.h); `func` is the start of the FDE's range. */
struct dwarf_eh_bases {
    void *tbase, *dbase, *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

static void test_start_fde(void) {
    /* Unwinders look up a caller's FDE at return address - 1. Two return addresses
     * point into goro_asm_start: the symbol itself (the continuation word of a new
     * context's frame, read as a return address) and the instruction after its `blr`
     * (entry's return address). Both must find its FDE, which starts at the `nop` just
     * before the symbol. */
    uintptr_t t = (uintptr_t)goro_asm_start;
    struct dwarf_eh_bases b;
    const uintptr_t ras[2] = {t, t + 8};
    for (int i = 0; i < 2; i++) {
        memset(&b, 0, sizeof b);
        const void *fde = _Unwind_Find_FDE((void *)(ras[i] - 1), &b);
        CHECK(fde != NULL, "no FDE covers goro_asm_start+%lu - 1", (unsigned long)(ras[i] - t));
        CHECK(fde == NULL || (uintptr_t)b.func == t - 4,
              "FDE for goro_asm_start+%lu - 1 starts at %p, want %#lx",
              (unsigned long)(ras[i] - t), b.func, (unsigned long)(t - 4));
    }
}

/* ---- entry_return_traps ---- */

static void returning_entry(uintptr_t t, void *data) {
    (void)t;
    (void)data;
    /* Breaks the contract on purpose: goro_asm_start's `brk #0x1` must stop us. */
}

static void test_entry_return_traps(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        /* Keep qemu's "uncaught target signal" notice out of the report. */
        FILE *null = freopen("/dev/null", "w", stderr);
        (void)null;
        struct stack s = stack_new(64 * 1024);
        void *main_sp, *coro_sp = goro_asm_init(stack_top(s), returning_entry, NULL);
        goro_asm_resume(&main_sp, coro_sp, 0);
        _exit(0); /* not reached: the entry's return lands on brk */
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        exit(2);
    }
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTRAP,
          "child status %#x, want killed by SIGTRAP (%d)", status, SIGTRAP);
}

/* ---- driver ---- */

struct test {
    const char *name;
    void (*fn)(void);
};

static const struct test tests[] = {
    {"init_frame_layout", test_init_frame_layout},
    {"init_rounds_unaligned_top", test_init_rounds_unaligned_top},
    {"entry_state_switch", test_entry_state_switch},
    {"entry_state_resume", test_entry_state_resume},
    {"ping_pong", test_ping_pong},
    {"resume_ping_pong", test_resume_ping_pong},
    {"nested_resume", test_nested_resume},
    {"ring", test_ring},
    {"mixed_resume_switch", test_mixed_resume_switch},
    {"registers_fixed", test_registers_fixed},
    {"registers_random", test_registers_random},
    {"resume_registers_fixed", test_resume_registers_fixed},
    {"resume_registers_random", test_resume_registers_random},
    {"fpcr_per_context", test_fpcr_per_context},
    {"deep_stack", test_deep_stack},
    {"unwind_stops_at_root", test_unwind_stops_at_root},
    {"unwind_stops_at_root_resumed", test_unwind_stops_at_root_resumed},
    {"start_fde", test_start_fde},
    {"entry_return_traps", test_entry_return_traps},
};

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* FPCR test values must be kept by this CPU (or emulator): check it once. */
    uint64_t fpcr0 = get_fpcr();
    set_fpcr(FPCR_TEST_MASK);
    uint64_t kept = get_fpcr();
    set_fpcr(fpcr0);
    if (kept != FPCR_TEST_MASK) {
        printf("FPCR keeps %#llx of %#llx: cannot test FPCR here\n", (unsigned long long)kept,
               (unsigned long long)FPCR_TEST_MASK);
        return 1;
    }
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        failures_in_test = 0;
        tests[i].fn();
        if (failures_in_test == 0) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s (%d mismatches)\n", tests[i].name, failures_in_test);
        }
    }
    printf("aarch64 context switch harness: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
