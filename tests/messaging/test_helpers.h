/*
 * Helpers shared by the messaging unit tests: an allocator that fails the
 * Nth allocation (STYLE.md rule 8), and running a loop until a condition
 * holds or a deadline passes, so no test can hang.
 */
#ifndef KEEL_TESTS_MESSAGING_HELPERS_H
#define KEEL_TESTS_MESSAGING_HELPERS_H

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "keel/core.h"

static long oom_fail_after = -1;

static void *oom_realloc(void *p, size_t n)
{
    if (oom_fail_after == 0)
        return NULL;
    if (oom_fail_after > 0)
        oom_fail_after--;
    return realloc(p, n);
}

static void *oom_malloc(size_t n)
{
    return oom_realloc(NULL, n);
}

static void *oom_calloc(size_t c, size_t n)
{
    void *p = oom_realloc(NULL, c * n);
    if (p)
        memset(p, 0, c * n);
    return p;
}

/* Installs the failing allocator; fail_after = -1 lets every allocation through. */
static inline void oom_install(long fail_after)
{
    oom_fail_after = fail_after;
    keel_replace_allocator(oom_malloc, oom_realloc, oom_calloc, free);
}

static inline void oom_uninstall(void)
{
    oom_fail_after = -1;
    keel_replace_allocator(malloc, realloc, calloc, free);
}

/*
 * Runs the loop one turn at a time until *flag is true or ms milliseconds
 * went by. Returns whether the flag was set.
 */
static inline bool run_until(uv_loop_t *loop, const volatile bool *flag, uint64_t ms)
{
    /* Atomic loads: some flags are set by other threads. */
    uint64_t deadline = uv_hrtime() + ms * 1000000u;
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE) && uv_hrtime() < deadline) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
            uv_sleep(1);
    }
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

#endif
