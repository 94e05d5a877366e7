/*
 * wire.h — internal to the rootwrap module (never installed): the
 * daemon's wire protocol, shared by daemon.c and client.c. The protocol
 * itself is documented in docs/rootwrap.md ("Daemon protocol").
 *
 * Every integer is an unsigned 32-bit big-endian number; byte strings
 * are a length then the bytes. One request at a time per connection.
 */
#ifndef KEEL_ROOTWRAP_WIRE_H
#define KEEL_ROOTWRAP_WIRE_H

#include "keel/core.h"

#define KEEL__RW_MAGIC "KRW1"
#define KEEL__RW_TOKEN_LEN 32
#define KEEL__RW_OK "OK\0\0"

enum { KEEL__RW_REQ_RUN = 1, KEEL__RW_REQ_SHUTDOWN = 2 };
enum { KEEL__RW_ST_DONE = 0, KEEL__RW_ST_FAILED = 1 };

/* Limits a daemon enforces on requests (the client checks them too). */
#define KEEL__RW_MAX_ARGS 4096u
#define KEEL__RW_MAX_ARG (128u * 1024u)
#define KEEL__RW_MAX_ARGS_TOTAL (4u * 1024u * 1024u)
#define KEEL__RW_MAX_STDIN (64u * 1024u * 1024u)

/** Writes all of buf (MSG_NOSIGNAL on sockets). Returns 0 or -errno. */
int keel__rw_write_all(int fd, const void *buf, size_t len);

/** Reads exactly len bytes. Returns 0, KEEL_EOF on a clean end before any byte, KEEL_EPROTO if cut short, or -errno. */
int keel__rw_read_all(int fd, void *buf, size_t len);

/** Reads a big-endian u32. */
int keel__rw_read_u32(int fd, uint32_t *v);

/** Appends a big-endian u32 / a length-prefixed string to b. */
int keel__rw_put_u32(keel_buf_t *b, uint32_t v);
int keel__rw_put_bytes(keel_buf_t *b, const void *s, size_t len);

/** Reads a length-prefixed string of at most max bytes into out (NUL-terminated). */
int keel__rw_read_bytes(int fd, uint32_t max, keel_buf_t *out);

#endif
