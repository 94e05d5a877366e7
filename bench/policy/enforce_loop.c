/*
 * enforce_loop.c — keel's side of the policy benchmark (bench/policy/compare.py
 * runs it next to oslo.policy and prints both): time per enforce() of each
 * given request, allocations per enforce(), and the time to load a policy
 * file. Prints one JSON line per measure.
 *
 *   policy_enforce --policy FILE --cases CASES.json [--load FILE] [--ms 300]
 *
 * CASES.json is a list of {"name", "rule", "target", "credentials"}; each is
 * run in a loop for about --ms milliseconds and reported as nanoseconds per
 * call. The allocator is replaced by a counting one so "allocs" says how
 * many keel allocations one decision made.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../alloc_count.h"
#include "keel/policy.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static keel_policy_enforcer_t *open_file(const char *path)
{
    keel_policy_opts_t o;
    static const char *const none[] = {NULL};
    keel_policy_opts_init(&o);
    o.policy_file = path;
    o.policy_dirs = none;
    keel_policy_enforcer_t *e;
    if (keel_policy_enforcer_new(&e, &o) != 0 || keel_policy_load_rules(e, false) != 0) {
        fprintf(stderr, "policy_enforce: cannot load %s\n", path);
        exit(1);
    }
    return e;
}

int main(int argc, char **argv)
{
    const char *policy = NULL, *cases_path = NULL, *load = NULL;
    double ms = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--policy") == 0)
            policy = argv[i + 1];
        else if (strcmp(argv[i], "--cases") == 0)
            cases_path = argv[i + 1];
        else if (strcmp(argv[i], "--load") == 0)
            load = argv[i + 1];
        else if (strcmp(argv[i], "--ms") == 0)
            ms = atof(argv[i + 1]);
    }
    if (policy == NULL || cases_path == NULL) {
        fprintf(stderr, "usage: policy_enforce --policy FILE --cases CASES.json [--load FILE] [--ms 300]\n");
        return 2;
    }
    alloc_count_install();
    json_error_t err;
    json_t *cases = json_load_file(cases_path, 0, &err);
    if (!json_is_array(cases)) {
        fprintf(stderr, "policy_enforce: %s: %s\n", cases_path, err.text);
        return 1;
    }
    keel_policy_enforcer_t *e = open_file(policy);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *rule = json_string_value(json_object_get(c, "rule"));
        json_t *target = json_object_get(c, "target"), *creds = json_object_get(c, "credentials");
        int expect = keel_policy_enforce(e, rule, target, creds, NULL);
        /* Calibrate, then time a batch long enough to read. */
        unsigned long n = 1000;
        double t;
        for (;;) {
            double t0 = now();
            for (unsigned long k = 0; k < n; k++)
                if (keel_policy_enforce(e, rule, target, creds, NULL) != expect)
                    return 3;
            t = now() - t0;
            if (t * 1000 >= ms || n > (1ul << 30))
                break;
            n = t > 0 ? (unsigned long)((double)n * ms / 1000 / t * 1.1) + 1 : n * 10;
        }
        unsigned long a0 = allocs;
        keel_policy_enforce(e, rule, target, creds, NULL);
        printf("{\"measure\": \"%s\", \"ns_per_op\": %.1f, \"iterations\": %lu, \"allocs_per_op\": %lu, \"allowed\": %s}\n", name,
               t / (double)n * 1e9, n, allocs - a0, expect == 0 ? "true" : "false");
    }
    keel_policy_enforcer_free(e);
    if (load) {
        double best = 1e9;
        for (int k = 0; k < 20; k++) {
            double t0 = now();
            keel_policy_enforcer_t *l = open_file(load);
            double t = now() - t0;
            if (t < best)
                best = t;
            if (k == 0)
                printf("{\"measure\": \"load_rules\", \"rules\": %zu", keel_policy_rule_count(l));
            keel_policy_enforcer_free(l);
        }
        printf(", \"ms\": %.3f}\n", best * 1e3);
    }
    json_decref(cases);
    return 0;
}
