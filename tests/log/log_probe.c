/*
 * log_probe.c — runs one logging case for tests/interop/log_format_diff.py:
 *
 *     log_probe CASE.json
 *
 * The case gives a keel_log_config_t (as oslo.log option names), an
 * optional request context, and a list of calls (logger, level, printf
 * format with typed arguments, source location, creation time, optional
 * error summary and traceback). The probe configures keel, makes the calls
 * with the clock pinned to each call's time, and writes its pid and thread
 * ident to the case's "meta" file so the reference run can use the same.
 * The log output goes where the configuration sends it (stdout, stderr or
 * a file); the probe itself prints nothing else there.
 *
 * printf arguments cannot be built at run time, so calls are dispatched on
 * their argument signature ("s" string, "d" int, "f" double), up to three.
 *
 *     log_probe --opt-values [ARGS...]
 *
 * registers oslo.log's options and a few test options (the same the harness
 * registers in oslo.config), parses ARGS with keel_conf, sets logging up
 * with keel_log_setup() and runs keel_log_opt_values() at INFO.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keel/conf.h"
#include "keel/log.h"
#include "log_int.h"

static double pinned_time;
static double pinned(void)
{
    return pinned_time;
}

static const char *opt_str(json_t *conf, const char *key)
{
    json_t *v = json_object_get(conf, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool opt_bool(json_t *conf, const char *key)
{
    return json_is_true(json_object_get(conf, key));
}

static const char *ctx_str(json_t *ctx, const char *key)
{
    json_t *v = json_object_get(ctx, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

typedef struct call_s {
    keel_log_t *log;
    int level;
    const char *file, *func, *summary, *traceback, *fmt;
    int line;
} call_t;

#define EMIT(c, ...)                                                                                                               \
    keel_log_emit_error((c)->log, (c)->level, (c)->file, (c)->line, (c)->func, (c)->summary, (c)->traceback, __VA_ARGS__)

/* The -Wformat-nonliteral family does not apply: formats come from the case on purpose. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"

static int dispatch(const call_t *c, const char *sig, const char **sv, const int *iv, const double *fv)
{
#define ARG_s(i) sv[i]
#define ARG_d(i) iv[i]
#define ARG_f(i) fv[i]
#define T1(a)                                                                                                                      \
    if (strcmp(sig, #a) == 0) {                                                                                                    \
        EMIT(c, c->fmt, ARG_##a(0));                                                                                               \
        return 0;                                                                                                                  \
    }
#define T2(a, b)                                                                                                                   \
    if (strcmp(sig, #a #b) == 0) {                                                                                                 \
        EMIT(c, c->fmt, ARG_##a(0), ARG_##b(1));                                                                                   \
        return 0;                                                                                                                  \
    }
#define T3(a, b, d)                                                                                                                \
    if (strcmp(sig, #a #b #d) == 0) {                                                                                              \
        EMIT(c, c->fmt, ARG_##a(0), ARG_##b(1), ARG_##d(2));                                                                       \
        return 0;                                                                                                                  \
    }
#define L2(a) T2(a, s) T2(a, d) T2(a, f)
#define L3b(a, b) T3(a, b, s) T3(a, b, d) T3(a, b, f)
#define L3a(a) L3b(a, s) L3b(a, d) L3b(a, f)
    if (sig[0] == '\0') {
        EMIT(c, c->fmt, 0); /* the unused argument keeps the call well-formed for a format with no conversions */
        return 0;
    }
    T1(s) T1(d) T1(f);
    L2(s) L2(d) L2(f);
    L3a(s) L3a(d) L3a(f);
    return -1;
}

/* The options tests/interop/log_format_diff.py registers in oslo.config too. */
static const keel_conf_opt_t db_opts[] = {
    {.name = "connection", .type = KEEL_CONF_STRING, .default_value = "sqlite://", .help = "DB URL."},
    {.name = "password", .type = KEEL_CONF_STRING, .default_value = "hunter2", .flags = KEEL_CONF_SECRET},
    {.name = "pool", .type = KEEL_CONF_LIST, .default_value = "a,b"},
    {.name = "timeout", .type = KEEL_CONF_FLOAT, .default_value = "1.5"},
    {.name = "retries", .type = KEEL_CONF_INT, .default_value = "3"},
    {.name = "mapping", .type = KEEL_CONF_DICT, .default_value = "k:v"},
};
static const keel_conf_opt_t api_opts[] = {
    {.name = "enabled", .type = KEEL_CONF_BOOL, .default_value = "true"},
    {.name = "hosts", .type = KEEL_CONF_MULTI},
    {.name = "token", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_SECRET},
};

static int opt_values(int argc, char **argv)
{
    static const char *const none[] = {NULL};
    keel_conf_setup_t setup = {.prog = "log_probe", .default_config_files = none, .default_config_dirs = none, .no_env = true};
    keel_conf_t *conf;
    if (keel_conf_new(&conf) != 0)
        return 2;
    int status = 2;
    if (keel_log_register_opts(conf) != 0 || keel_conf_register_opts(conf, "db", db_opts, 6) != 0 ||
        keel_conf_register_opts(conf, "api", api_opts, 3) != 0)
        goto out;
    if (keel_conf_parse(conf, argc, argv, &setup) != 0) {
        fprintf(stderr, "log_probe: %s\n", keel_conf_error(conf));
        goto out;
    }
    if (keel_log_setup(conf, "probe") != 0) {
        fprintf(stderr, "log_probe: %s\n", keel_log_error());
        goto out;
    }
    keel_log_opt_values(conf, keel_log_get("probe"), KEEL_LOG_LEVEL_INFO);
    status = 0;
out:
    keel_conf_free(conf);
    keel_log_shutdown();
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--opt-values") == 0)
        return opt_values(argc - 1, argv + 1);
    if (argc != 2) {
        fprintf(stderr, "usage: log_probe CASE.json\n");
        return 2;
    }
    json_error_t jerr;
    json_t *tcase = json_load_file(argv[1], 0, &jerr);
    if (tcase == NULL) {
        fprintf(stderr, "log_probe: %s: %s\n", argv[1], jerr.text);
        return 2;
    }
    json_t *conf = json_object_get(tcase, "conf");
    keel_log_config_t cfg = {
        .debug = opt_bool(conf, "debug"),
        .use_stderr = opt_bool(conf, "use_stderr"),
        .use_json = opt_bool(conf, "use_json"),
        .log_file = opt_str(conf, "log_file"),
        .log_dir = opt_str(conf, "log_dir"),
        .log_date_format = opt_str(conf, "log_date_format"),
        .logging_context_format_string = opt_str(conf, "logging_context_format_string"),
        .logging_default_format_string = opt_str(conf, "logging_default_format_string"),
        .logging_debug_format_suffix = opt_str(conf, "logging_debug_format_suffix"),
        .logging_exception_prefix = opt_str(conf, "logging_exception_prefix"),
        .logging_user_identity_format = opt_str(conf, "logging_user_identity_format"),
        .instance_uuid_format = opt_str(conf, "instance_uuid_format"),
        .project = opt_str(tcase, "project"),
        .version = opt_str(tcase, "version"),
        .binary_name = opt_str(tcase, "binary_name"),
    };
    json_t *levels = json_object_get(conf, "default_log_levels");
    const char *items[64] = {0};
    if (json_is_array(levels)) {
        for (size_t k = 0; k < json_array_size(levels) && k < 63; k++)
            items[k] = json_string_value(json_array_get(levels, k));
        cfg.default_log_levels = items;
    }
    int rc = keel_log_configure(&cfg);
    int status = 0;
    FILE *meta = fopen(json_string_value(json_object_get(tcase, "meta")), "w");
    if (meta == NULL) {
        status = 2;
        goto out;
    }
    fprintf(meta, "{\"pid\": %d, \"thread\": %lu, \"setup\": %d, \"error\": \"%s\"}\n", (int)getpid(), keel__log_thread_ident(), rc,
            rc ? keel_err_name(rc) : "");
    fclose(meta);
    if (rc != 0)
        goto out; /* a refused setup is a result: the harness compares it */

    json_t *ctx = json_object_get(tcase, "context");
    if (json_is_object(ctx)) {
        const char *roles[16] = {0};
        json_t *jr = json_object_get(ctx, "roles");
        for (size_t k = 0; k < json_array_size(jr) && k < 15; k++)
            roles[k] = json_string_value(json_array_get(jr, k));
        keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
        c.request_id = ctx_str(ctx, "request_id");
        c.global_request_id = ctx_str(ctx, "global_request_id");
        c.user_id = ctx_str(ctx, "user_id");
        c.project_id = ctx_str(ctx, "project_id");
        c.domain_id = ctx_str(ctx, "domain_id");
        c.user_domain_id = ctx_str(ctx, "user_domain_id");
        c.project_domain_id = ctx_str(ctx, "project_domain_id");
        c.user_name = ctx_str(ctx, "user_name");
        c.project_name = ctx_str(ctx, "project_name");
        c.domain_name = ctx_str(ctx, "domain_name");
        c.user_domain_name = ctx_str(ctx, "user_domain_name");
        c.project_domain_name = ctx_str(ctx, "project_domain_name");
        c.system_scope = ctx_str(ctx, "system_scope");
        c.resource_uuid = ctx_str(ctx, "resource_uuid");
        c.auth_token = ctx_str(ctx, "auth_token");
        c.roles = jr ? roles : NULL;
        c.is_admin = opt_bool(ctx, "is_admin");
        c.read_only = opt_bool(ctx, "read_only");
        c.show_deleted = opt_bool(ctx, "show_deleted");
        if (json_object_get(ctx, "is_admin_project"))
            c.is_admin_project = opt_bool(ctx, "is_admin_project");
        if (keel_log_context_set(&c) != 0) {
            status = 2;
            goto out;
        }
    }

    keel__log_set_clock(pinned, json_real_value(json_object_get(tcase, "start")));
    json_t *calls = json_object_get(tcase, "calls");
    for (size_t k = 0; k < json_array_size(calls); k++) {
        json_t *jc = json_array_get(calls, k);
        call_t c = {
            .log = keel_log_get(json_string_value(json_object_get(jc, "logger"))),
            .level = (int)json_integer_value(json_object_get(jc, "level")),
            .file = json_string_value(json_object_get(jc, "file")),
            .line = (int)json_integer_value(json_object_get(jc, "line")),
            .func = json_string_value(json_object_get(jc, "func")),
            .summary = ctx_str(jc, "error_summary"),
            .traceback = ctx_str(jc, "traceback"),
            .fmt = json_string_value(json_object_get(jc, "msg")),
        };
        pinned_time = json_real_value(json_object_get(jc, "created"));
        json_t *args = json_object_get(jc, "args");
        char sig[4] = {0};
        const char *sv[3] = {0};
        int iv[3] = {0};
        double fv[3] = {0};
        for (size_t a = 0; a < json_array_size(args) && a < 3; a++) {
            json_t *v = json_array_get(args, a);
            if (json_is_string(v)) {
                sig[a] = 's', sv[a] = json_string_value(v);
            } else if (json_is_integer(v)) {
                sig[a] = 'd', iv[a] = (int)json_integer_value(v);
            } else {
                sig[a] = 'f', fv[a] = json_number_value(v);
            }
        }
        if (json_array_size(args) > 3 || dispatch(&c, sig, sv, iv, fv) != 0) {
            fprintf(stderr, "log_probe: call %zu: at most 3 arguments of s, d, f\n", k);
            status = 2;
            goto out;
        }
    }
out:
    keel_log_context_clear();
    json_decref(tcase);
    keel_log_shutdown();
    return status;
}
