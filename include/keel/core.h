/*
 * keel/core.h — what every keel module shares: error codes, the allocator
 * hook, growable byte buffers and a few string helpers.
 *
 * Errors follow libuv: 0 is success, failure is a negative KEEL_E* code.
 * System failures are passed through as -errno, so KEEL_ENOMEM == -ENOMEM;
 * keel's own conditions live below -4000 where no errno reaches.
 */
#ifndef KEEL_CORE_H
#define KEEL_CORE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The one list of error codes: name, value, message. It makes the enum,
 * keel_strerror() and keel_err_name() (STYLE.md rule 10).
 */
#define KEEL_ERRNO_MAP(XX)                                                                                                      \
    XX(ENOMEM, -ENOMEM, "out of memory")                                                                                      \
    XX(EINVAL, -EINVAL, "invalid argument")                                                                                   \
    XX(ENOENT, -ENOENT, "no such file or directory")                                                                          \
    XX(EEXIST, -EEXIST, "already exists")                                                                                     \
    XX(EBUSY, -EBUSY, "resource busy")                                                                                        \
    XX(ERANGE, -ERANGE, "value out of range")                                                                                 \
    XX(EACCES, -EACCES, "permission denied")                                                                                  \
    XX(EIO, -EIO, "i/o error")                                                                                                \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                                                   \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                                                    \
    XX(ECANCELED, -ECANCELED, "operation canceled")                                                                           \
    XX(EPROTO, -EPROTO, "protocol error")                                                                                     \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                                                                          \
    XX(ENOTDIR, -ENOTDIR, "not a directory")                                                                                  \
    XX(EPIPE, -EPIPE, "broken pipe")                                                                                          \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                                                     \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                                                                   \
    XX(EOF, -4095, "end of file")                                                                                             \
    XX(EPARSE, -4094, "syntax error")                                                                                         \
    XX(EVALUE, -4093, "invalid value")                                                                                        \
    XX(ENOOPT, -4092, "no such option")                                                                                       \
    XX(ENOGROUP, -4091, "no such option group")                                                                               \
    XX(EREQUIRED, -4090, "required option not set")                                                                           \
    XX(EDUPLICATE, -4089, "duplicate definition")                                                                             \
    XX(EUSAGE, -4088, "bad command line")                                                                                     \
    XX(EEXIT, -4087, "program asked to exit")

typedef enum {
#define KEEL_ERR_ENUM_(name, value, msg) KEEL_##name = (value),
    KEEL_ERRNO_MAP(KEEL_ERR_ENUM_)
#undef KEEL_ERR_ENUM_
} keel_errno_t;

/** Returns a static message for a KEEL_E* code or -errno; never NULL. */
const char *keel_strerror(int err);

/** Returns the static name of a code ("ENOMEM"), or "UNKNOWN". */
const char *keel_err_name(int err);

/** Maps a positive errno to its keel code (-errno). */
static inline int keel_from_errno(int e)
{
    return e > 0 ? -e : e;
}

/*
 * Allocation. All keel memory goes through these so tests can fail the Nth
 * allocation and programs can install abort-on-OOM. keel__free keeps errno.
 */
typedef void *(*keel_malloc_fn)(size_t size);
typedef void *(*keel_realloc_fn)(void *ptr, size_t size);
typedef void *(*keel_calloc_fn)(size_t count, size_t size);
typedef void (*keel_free_fn)(void *ptr);

/**
 * Replaces the allocator for the whole process. Call before any other keel
 * function. Returns 0, or KEEL_EINVAL if any function is NULL.
 */
int keel_replace_allocator(keel_malloc_fn m, keel_realloc_fn r, keel_calloc_fn c, keel_free_fn f);

void *keel__malloc(size_t size);
void *keel__realloc(void *ptr, size_t size);
void *keel__calloc(size_t count, size_t size);
void keel__free(void *ptr);
/** Returns a NUL-terminated copy to release with keel__free, or NULL on OOM. */
char *keel__strdup(const char *s);
/** Copies len bytes of s and appends a NUL; release with keel__free. */
char *keel__strndup(const char *s, size_t len);

/** Returns the byte offset of a member's struct, for intrusive containers. */
#define keel_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/*
 * Intrusive doubly linked list, libuv's queue.h shape: a keel_link_t is
 * both the head of a list and the link embedded in each element (get the
 * element back with keel_container_of). An unlinked link points at itself,
 * so removing twice is harmless.
 */
typedef struct keel_link_s {
    struct keel_link_s *next, *prev;
} keel_link_t;

static inline void keel_list_init(keel_link_t *h)
{
    h->next = h->prev = h;
}
static inline bool keel_list_empty(const keel_link_t *h)
{
    return h->next == h;
}
/** Appends n at the tail of the list h. */
static inline void keel_list_push(keel_link_t *h, keel_link_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}
/** Unlinks n from its list (if any) and leaves it pointing at itself. */
static inline void keel_list_remove(keel_link_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}
/** Walks the list at head; pos may be removed on the way (tmp holds the next). */
#define keel_list_foreach_safe(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

/** Always-on assertion for invariants whose failure would lose or corrupt data. */
#define KEEL_ASSERT(cond)                                                                                                      \
    do {                                                                                                                       \
        if (!(cond))                                                                                                           \
            keel__assert_fail(#cond, __FILE__, __LINE__);                                                                      \
    } while (0)
_Noreturn void keel__assert_fail(const char *expr, const char *file, int line);

/*
 * keel_buf_t: a growable byte buffer, always NUL-terminated after len so
 * its text can be handed to C string functions. Embeddable; init/free pair.
 * Appends return 0 or KEEL_ENOMEM and leave the buffer unchanged on error.
 */
typedef struct keel_buf_s {
    char *base;
    size_t len;
    size_t cap;
} keel_buf_t;

/** Makes an empty buffer; allocates nothing. */
void keel_buf_init(keel_buf_t *b);
/** Releases the storage; the buffer is empty and reusable afterwards. */
void keel_buf_free(keel_buf_t *b);
/** Empties the buffer, keeping its storage. */
void keel_buf_reset(keel_buf_t *b);
/** Ensures room for extra more bytes (plus the NUL). */
int keel_buf_reserve(keel_buf_t *b, size_t extra);
int keel_buf_append(keel_buf_t *b, const void *data, size_t len);
int keel_buf_puts(keel_buf_t *b, const char *s);
int keel_buf_putc(keel_buf_t *b, char c);
int keel_buf_printf(keel_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int keel_buf_vprintf(keel_buf_t *b, const char *fmt, va_list ap);
/**
 * Hands the text to the caller (release with keel__free) and leaves the
 * buffer empty. Returns "" (allocated) for an empty buffer; NULL on OOM.
 */
char *keel_buf_steal(keel_buf_t *b);

/*
 * keel_vec_t: a growable array of pointers; the vector never owns what the
 * pointers point to unless its user says so.
 */
typedef struct keel_vec_s {
    void **items;
    size_t len;
    size_t cap;
} keel_vec_t;

void keel_vec_init(keel_vec_t *v);
/** Releases the array itself, not the items. */
void keel_vec_free(keel_vec_t *v);
/** Appends item; returns 0 or KEEL_ENOMEM. */
int keel_vec_push(keel_vec_t *v, void *item);
/** Inserts item at index (0 <= index <= len); returns 0 or KEEL_ENOMEM. */
int keel_vec_insert(keel_vec_t *v, size_t index, void *item);

/*
 * keel_map_t: a hash table from byte-string keys to pointers, open
 * addressing with linear probing. Keys are borrowed: the caller keeps each
 * key's bytes alive and unchanged while it is in the map (typically the key
 * is the name stored inside the value). Hashing is SipHash-2-4 with a
 * per-map random key, so names chosen by network peers cannot be made to
 * collide. Embeddable; init/free pair.
 */
typedef struct keel_map_slot_s {
    const void *key; /* NULL: empty; (void *)1 with len SIZE_MAX: deleted */
    size_t len;
    uint64_t hash;
    void *value;
} keel_map_slot_t;

typedef struct keel_map_s {
    keel_map_slot_t *slots;
    size_t cap;  /* 0 or a power of two */
    size_t len;  /* live entries */
    size_t used; /* live + deleted slots */
    uint64_t k0, k1;
} keel_map_t;

/** Makes an empty map with a fresh random hash key; allocates nothing. */
void keel_map_init(keel_map_t *m);
/** Releases the table (not the keys or values). */
void keel_map_free(keel_map_t *m);
/** Returns the value stored under key, or NULL. */
void *keel_map_get(const keel_map_t *m, const void *key, size_t len);
/**
 * Stores value under key (borrowed), replacing and returning through *old
 * (may be NULL) any previous value. Returns 0 or KEEL_ENOMEM (map unchanged).
 */
int keel_map_put(keel_map_t *m, const void *key, size_t len, void *value, void **old);
/** Removes key; returns its value or NULL if absent. Never allocates. */
void *keel_map_remove(keel_map_t *m, const void *key, size_t len);
/**
 * Iterates: start with *pos = 0; each call returns true and the next entry,
 * or false at the end. The map must not change during the walk except by
 * keel_map_remove() of the entry just returned.
 */
bool keel_map_next(const keel_map_t *m, size_t *pos, const void **key, size_t *len, void **value);

/** SipHash-2-4 of len bytes with the 128-bit key (k0, k1). */
uint64_t keel_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len);

/** Fills buf with len random bytes from the kernel; returns 0 or -errno. */
int keel_random_bytes(void *buf, size_t len);

/**
 * A random (version 4, RFC 4122) UUID's 16 bytes, as Python's uuid.uuid4().
 * Cut from a per-thread pool of kernel random bytes, refilled 32 UUIDs at
 * a time and emptied in a forked child. Returns 0 or -errno from getrandom().
 */
int keel_uuid4(unsigned char out[16]);

/*
 * File helpers.
 */

/**
 * Reads a whole file into a buffer (NUL-terminated). Returns 0, KEEL_ENOMEM
 * or -errno from open/read (KEEL_ENOENT, KEEL_EACCES, ...).
 */
int keel_read_file(const char *path, keel_buf_t *out);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_CORE_H */
