/*
 * tcp_pingpong.c — the machine's floor for request/response latency: two
 * processes bouncing a 16-byte message over loopback TCP (TCP_NODELAY),
 * with nothing else in between. An RPC call through a broker crosses the
 * broker twice (request in and out, reply in and out), so twice this round
 * trip is what no broker and no client library can go under on the same
 * machine. bench/messaging/compare.py prints it beside its measures.
 *
 *   tcp_pingpong [ROUND_TRIPS]      (default 20000)
 *
 * Prints one JSON line: {"p50_us": ..., "p99_us": ..., "n": ...}.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Exact-size I/O: a 16-byte segment on loopback arrives whole, but say so. */
static int io_all(int fd, char *p, size_t n, int writing)
{
    while (n > 0) {
        ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (n <= 0) {
        fprintf(stderr, "usage: tcp_pingpong [ROUND_TRIPS]\n");
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&addr, len) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&addr, &len) != 0) {
        perror("tcp_pingpong: listen");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("tcp_pingpong: fork");
        return 1;
    }
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        char b[16];
        if (c < 0 || connect(c, (struct sockaddr *)&addr, len) != 0 || nodelay(c) != 0)
            _exit(1);
        while (io_all(c, b, sizeof(b), 0) == 0 && io_all(c, b, sizeof(b), 1) == 0) {
        }
        _exit(0);
    }
    int s = accept(ls, NULL, NULL);
    double *lat = malloc((size_t)n * sizeof(*lat));
    if (s < 0 || nodelay(s) != 0 || lat == NULL) {
        perror("tcp_pingpong: accept");
        return 1;
    }
    char b[16] = {0};
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        if (io_all(s, b, sizeof(b), 1) != 0 || io_all(s, b, sizeof(b), 0) != 0) {
            fprintf(stderr, "tcp_pingpong: the echo process went away\n");
            return 1;
        }
        lat[i] = now_us() - t0;
    }
    close(s);
    waitpid(pid, NULL, 0);
    qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
    printf("{\"p50_us\": %.1f, \"p99_us\": %.1f, \"n\": %d}\n", lat[n / 2], lat[(size_t)n * 99 / 100], n);
    free(lat);
    return 0;
}
