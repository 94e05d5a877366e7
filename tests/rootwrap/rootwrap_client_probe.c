/*
 * rootwrap_client_probe.c — keel's side of the daemon comparison in
 * tests/interop/rootwrap_e2e.py: starts keel-rootwrap-daemon through
 * keel_rootwrap_client_new() and runs each case (a JSON line with
 * hex-encoded "args" and optional "stdin") through keel_rootwrap_execute(),
 * printing "returncode out-hex err-hex" per line, or "error NAME".
 *
 * usage: rootwrap_client_probe DAEMON CONFIG < cases
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/rootwrap.h"

static char *unhex(const char *h, size_t *len)
{
    size_t n = strlen(h) / 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        s[i] = (char)v;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

static void put_hex(const keel_buf_t *b)
{
    if (b->len == 0)
        fputc('-', stdout);
    for (size_t i = 0; i < b->len; i++)
        printf("%02x", (unsigned char)b->base[i]);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DAEMON CONFIG < cases\n", argv[0]);
        return 2;
    }
    keel_rootwrap_client_t *c = NULL;
    if (keel_rootwrap_client_new(&c, (char *[]){argv[1], argv[2], NULL}) != 0)
        return 1;
    char *line = NULL;
    size_t cap = 0;
    keel_rootwrap_result_t r;
    keel_rootwrap_result_init(&r);
    while (getline(&line, &cap, stdin) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *a = json_object_get(j, "args");
        size_t n = json_array_size(a), len;
        char **args = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            args[i] = unhex(json_string_value(json_array_get(a, i)), &len);
        json_t *in = json_object_get(j, "stdin");
        char *data = in ? unhex(json_string_value(in), &len) : NULL;
        int rc = keel_rootwrap_execute(c, args, n, data, data ? len : 0, &r);
        if (rc != 0) {
            printf("error %s\n", keel_err_name(rc));
        } else {
            printf("%d ", r.returncode);
            put_hex(&r.out);
            fputc(' ', stdout);
            put_hex(&r.err);
            fputc('\n', stdout);
        }
        fflush(stdout);
        for (size_t i = 0; i < n; i++)
            free(args[i]);
        free(args);
        free(data);
        json_decref(j);
    }
    free(line);
    keel_rootwrap_result_free(&r);
    keel_rootwrap_client_free(c);
    return 0;
}
