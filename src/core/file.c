/*
 * file.c — whole-file reads for the small text files keel parses (config,
 * policy, filters). Streams and sockets go through libuv instead.
 */
#include <fcntl.h>
#include <unistd.h>

#include "keel/core.h"

int keel_read_file(const char *path, keel_buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return keel_from_errno(errno);
    keel_buf_reset(out);
    int rc = 0;
    for (;;) {
        rc = keel_buf_reserve(out, 4096);
        if (rc != 0)
            break;
        ssize_t n = read(fd, out->base + out->len, out->cap - out->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = keel_from_errno(errno);
            break;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->base[out->len] = '\0';
    }
    close(fd);
    return rc;
}
