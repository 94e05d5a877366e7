/*
 * alloc.c — the single allocation hook (libuv's uv_replace_allocator).
 * Library code never calls malloc directly, so a test can fail the Nth
 * allocation and a program can install an abort-on-OOM policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/core.h"

static struct {
    keel_malloc_fn malloc;
    keel_realloc_fn realloc;
    keel_calloc_fn calloc;
    keel_free_fn free;
} allocator = {malloc, realloc, calloc, free};

int keel_replace_allocator(keel_malloc_fn m, keel_realloc_fn r, keel_calloc_fn c, keel_free_fn f)
{
    if (m == NULL || r == NULL || c == NULL || f == NULL)
        return KEEL_EINVAL;
    allocator.malloc = m;
    allocator.realloc = r;
    allocator.calloc = c;
    allocator.free = f;
    return 0;
}

void *keel__malloc(size_t size)
{
    return allocator.malloc(size ? size : 1);
}

void *keel__realloc(void *ptr, size_t size)
{
    return allocator.realloc(ptr, size ? size : 1);
}

void *keel__calloc(size_t count, size_t size)
{
    return allocator.calloc(count ? count : 1, size ? size : 1);
}

void keel__free(void *ptr)
{
    /* free() may clobber errno on some libcs; callers read it after cleanup. */
    int saved = errno;
    allocator.free(ptr);
    errno = saved;
}

char *keel__strndup(const char *s, size_t len)
{
    char *p = keel__malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *keel__strdup(const char *s)
{
    return keel__strndup(s, strlen(s));
}

void keel__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "keel: assertion failed at %s:%d: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
