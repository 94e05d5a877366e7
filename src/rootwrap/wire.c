/*
 * wire.c — reading and writing the daemon protocol's integers and strings
 * (wire.h). Sockets are written with MSG_NOSIGNAL so a peer that goes away
 * is an EPIPE, never a SIGPIPE that kills a service using the client.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

int keel__rw_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return keel_from_errno(errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int keel__rw_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return keel_from_errno(errno);
        }
        if (n == 0)
            return got == 0 ? KEEL_EOF : KEEL_EPROTO;
        got += (size_t)n;
    }
    return 0;
}

int keel__rw_read_u32(int fd, uint32_t *v)
{
    unsigned char b[4];
    int rc = keel__rw_read_all(fd, b, 4);
    if (rc == 0)
        *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return rc;
}

int keel__rw_put_u32(keel_buf_t *b, uint32_t v)
{
    unsigned char t[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    return keel_buf_append(b, t, 4);
}

int keel__rw_put_bytes(keel_buf_t *b, const void *s, size_t len)
{
    if (len > UINT32_MAX)
        return KEEL_ERANGE;
    int rc = keel__rw_put_u32(b, (uint32_t)len);
    return rc ? rc : keel_buf_append(b, s, len);
}

int keel__rw_read_bytes(int fd, uint32_t max, keel_buf_t *out)
{
    uint32_t len;
    int rc = keel__rw_read_u32(fd, &len);
    if (rc != 0)
        return rc == KEEL_EOF ? KEEL_EPROTO : rc;
    if (len > max)
        return KEEL_EPROTO;
    keel_buf_reset(out);
    rc = keel_buf_reserve(out, len);
    if (rc != 0)
        return rc;
    rc = keel__rw_read_all(fd, out->base, len);
    if (rc != 0)
        return rc == KEEL_EOF ? KEEL_EPROTO : rc;
    out->len = len;
    out->base[len] = '\0';
    return 0;
}
