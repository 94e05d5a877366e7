/*
 * alloc_count.h — for benchmarks only: replaces keel's allocator with one
 * that counts calls, so a benchmark can report allocations per operation
 * next to its time (the hot paths promise none).
 *
 * Header-only because each benchmark is one program; include it once.
 */
#ifndef KEEL_BENCH_ALLOC_COUNT_H
#define KEEL_BENCH_ALLOC_COUNT_H

#include <stdlib.h>

#include "keel/core.h"

/* Calls into keel's allocator since the program started. */
static unsigned long allocs;

static void *count_malloc(size_t n)
{
    allocs++;
    return malloc(n);
}

static void *count_realloc(void *p, size_t n)
{
    allocs++;
    return realloc(p, n);
}

static void *count_calloc(size_t c, size_t n)
{
    allocs++;
    return calloc(c, n);
}

/* Call before keel allocates anything. */
static inline void alloc_count_install(void)
{
    keel_replace_allocator(count_malloc, count_realloc, count_calloc, free);
}

#endif /* KEEL_BENCH_ALLOC_COUNT_H */
