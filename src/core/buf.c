/*
 * buf.c — growable byte buffers and pointer vectors. Growth doubles so a
 * sequence of appends costs amortised O(1); the text stays NUL-terminated so
 * it can be passed to C string functions without a copy.
 */
#include <stdio.h>
#include <string.h>

#include "keel/core.h"

void keel_buf_init(keel_buf_t *b)
{
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
}

void keel_buf_free(keel_buf_t *b)
{
    keel__free(b->base);
    keel_buf_init(b);
}

void keel_buf_reset(keel_buf_t *b)
{
    b->len = 0;
    if (b->base != NULL)
        b->base[0] = '\0';
}

int keel_buf_reserve(keel_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return KEEL_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = keel__realloc(b->base, cap);
    if (p == NULL)
        return KEEL_ENOMEM;
    b->base = p;
    b->cap = cap;
    b->base[b->len] = '\0';
    return 0;
}

int keel_buf_append(keel_buf_t *b, const void *data, size_t len)
{
    int rc = keel_buf_reserve(b, len);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->base + b->len, data, len);
    b->len += len;
    b->base[b->len] = '\0';
    return 0;
}

int keel_buf_puts(keel_buf_t *b, const char *s)
{
    return keel_buf_append(b, s, strlen(s));
}

int keel_buf_putc(keel_buf_t *b, char c)
{
    return keel_buf_append(b, &c, 1);
}

int keel_buf_vprintf(keel_buf_t *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return KEEL_EINVAL;
    int rc = keel_buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int keel_buf_printf(keel_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = keel_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *keel_buf_steal(keel_buf_t *b)
{
    if (b->base == NULL)
        return keel__strdup("");
    char *p = b->base;
    keel_buf_init(b);
    return p;
}

void keel_vec_init(keel_vec_t *v)
{
    v->items = NULL;
    v->len = 0;
    v->cap = 0;
}

void keel_vec_free(keel_vec_t *v)
{
    keel__free(v->items);
    keel_vec_init(v);
}

int keel_vec_insert(keel_vec_t *v, size_t index, void *item)
{
    KEEL_ASSERT(index <= v->len);
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void **p = keel__realloc(v->items, cap * sizeof(*p));
        if (p == NULL)
            return KEEL_ENOMEM;
        v->items = p;
        v->cap = cap;
    }
    memmove(v->items + index + 1, v->items + index, (v->len - index) * sizeof(*v->items));
    v->items[index] = item;
    v->len++;
    return 0;
}

int keel_vec_push(keel_vec_t *v, void *item)
{
    return keel_vec_insert(v, v->len, item);
}
