/*
 * client_loop.c — keel's side of the daemon round-trip benchmark: starts
 * keel-rootwrap-daemon through keel_rootwrap_client_new(), runs a command
 * N times through keel_rootwrap_execute() after a warm-up, and prints one
 * parseable line: "keel_daemon_roundtrip_us mean=... median=... n=...".
 *
 * usage: client_loop DAEMON CONFIG N COMMAND [ARGS...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel/rootwrap.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s DAEMON CONFIG N COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[3]);
    keel_rootwrap_client_t *c = NULL;
    if (n <= 0 || keel_rootwrap_client_new(&c, (char *[]){argv[1], argv[2], NULL}) != 0)
        return 2;
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    char **cmd = argv + 4;
    size_t ncmd = (size_t)argc - 4;
    for (int i = 0; i < 20; i++) {
        int rc = keel_rootwrap_execute(c, cmd, ncmd, NULL, 0, &r);
        if (rc != 0 || r.returncode != 0) {
            fprintf(stderr, "client_loop: %s (returncode %d): %s\n", keel_strerror(rc), r.returncode, r.err.base ? r.err.base : "");
            return 1;
        }
    }
    double *t = malloc(sizeof(double) * (size_t)n), sum = 0;
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        if (keel_rootwrap_execute(c, cmd, ncmd, NULL, 0, &r) != 0)
            return 1;
        t[i] = now_us() - t0;
        sum += t[i];
    }
    qsort(t, (size_t)n, sizeof(double), cmp);
    printf("keel_daemon_roundtrip_us mean=%.1f median=%.1f n=%d\n", sum / n, t[n / 2], n);
    free(t);
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
    return 0;
}
