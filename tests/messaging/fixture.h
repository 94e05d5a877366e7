/*
 * A loop, a fake broker and transports on it, for the messaging tests that
 * go through the public API end to end. fx_finish() closes everything and
 * asserts that uv_loop_close() returns 0, so a leaked handle fails the test.
 */
#ifndef KEEL_TESTS_MESSAGING_FIXTURE_H
#define KEEL_TESTS_MESSAGING_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/conf.h"
#include "keel/messaging.h"
#include "test_helpers.h"

#define FX_MAX_TRANSPORTS 4

typedef struct fx_s {
    uv_loop_t loop;
    keel_messaging_fake_broker_t *broker;
    keel_messaging_transport_t *t; /* the first transport */
    keel_messaging_transport_t *extra[FX_MAX_TRANSPORTS];
    size_t nextra;
    int closed;
} fx_t;

static inline void fx_on_closed(keel_messaging_transport_t *t, void *data)
{
    ((fx_t *)data)->closed++;
}

/* A transport on the fixture's broker; conf may be NULL. */
static inline keel_messaging_transport_t *fx_transport_conf(fx_t *f, const char *url, keel_conf_t *conf, const char *const *exmods)
{
    keel_messaging_transport_t *t = NULL;
    keel_buf_t err;
    keel_buf_init(&err);
    keel_messaging_transport_opts_t o = {.url = url, .fake_broker = f->broker, .allowed_remote_exmods = exmods, .error = &err};
    int rc = keel_messaging_transport_new(&t, &f->loop, conf, &o);
    if (rc != 0)
        fail_msg("transport %s: %s (%s)", url, keel_messaging_strerror(rc), err.base ? err.base : "");
    keel_buf_free(&err);
    return t;
}

static inline keel_messaging_transport_t *fx_transport(fx_t *f)
{
    assert_true(f->nextra < FX_MAX_TRANSPORTS);
    keel_messaging_transport_t *t = fx_transport_conf(f, "fake://", NULL, NULL);
    f->extra[f->nextra++] = t;
    return t;
}

static inline void fx_init(fx_t *f)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(keel_messaging_fake_broker_new(&f->broker), 0);
    f->t = fx_transport_conf(f, "fake://", NULL, NULL);
}

/* Runs the loop until *flag or ms elapse; fails the test on timeout. */
static inline void fx_wait(fx_t *f, const volatile bool *flag, uint64_t ms)
{
    if (!run_until(&f->loop, flag, ms))
        fail_msg("timed out after %llu ms", (unsigned long long)ms);
}

/* Lets the loop run for ms, to show that nothing (more) happens. */
static inline void fx_idle(fx_t *f, uint64_t ms)
{
    bool never = false;
    run_until(&f->loop, &never, ms);
}

static inline void fx_finish(fx_t *f)
{
    int expect = 0;
    if (f->t) {
        assert_int_equal(keel_messaging_transport_close(f->t, fx_on_closed, f), 0);
        expect++;
    }
    for (size_t i = 0; i < f->nextra; i++) {
        assert_int_equal(keel_messaging_transport_close(f->extra[i], fx_on_closed, f), 0);
        expect++;
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->closed, expect);
    assert_int_equal(keel_messaging_fake_broker_free(f->broker), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* A parsed conf with the messaging options and ini's values. */
static inline keel_conf_t *fx_conf(const char *ini)
{
    static const char *const no_files[] = {NULL};
    keel_conf_t *c;
    assert_int_equal(keel_conf_new(&c), 0);
    assert_int_equal(keel_messaging_register_opts(c), 0);
    char path[] = "/tmp/keel-msg-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
    close(fd);
    char *argv[] = {"test", "--config-file", path, NULL};
    int rc = keel_conf_parse(c, 3, argv, &(keel_conf_setup_t){.default_config_dirs = no_files, .no_env = true});
    unlink(path);
    if (rc != 0)
        fail_msg("%s", keel_conf_error(c));
    return c;
}

/* ---- a server to talk to ---- */

typedef struct fx_server_s {
    keel_messaging_rpc_server_t *s;
    bool waited;
} fx_server_t;

static inline void fx_on_wait(keel_messaging_rpc_server_t *s, int status, void *data)
{
    assert_int_equal(status, 0);
    *(bool *)data = true;
}

static inline keel_messaging_rpc_server_t *fx_server(fx_t *f, keel_messaging_transport_t *t, const keel_messaging_target_t *target,
                                                     const keel_messaging_endpoint_t *eps, size_t n,
                                                     keel_messaging_executor_t executor)
{
    keel_messaging_rpc_server_t *s = NULL;
    keel_messaging_rpc_server_opts_t o = {.executor = executor};
    assert_int_equal(keel_messaging_rpc_server_new(&s, t ? t : f->t, target, eps, n, &o), 0);
    assert_int_equal(keel_messaging_rpc_server_start(s), 0);
    return s;
}

/* stop(), wait(), free(): oslo's orderly shutdown. */
static inline void fx_server_stop(fx_t *f, keel_messaging_rpc_server_t *s)
{
    bool waited = false;
    keel_messaging_rpc_server_stop(s);
    assert_int_equal(keel_messaging_rpc_server_wait(s, fx_on_wait, &waited), 0);
    fx_wait(f, &waited, 5000);
    assert_int_equal(keel_messaging_rpc_server_free(s), 0);
}

/* ---- call results ---- */

typedef struct fx_result_s {
    bool done;
    int status;
    json_t *result;
    keel_messaging_error_t *error;
    keel_messaging_rpc_client_t *client;
} fx_result_t;

static inline void fx_on_call(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error,
                              void *data)
{
    fx_result_t *r = data;
    assert_false(r->done);
    r->done = true;
    r->status = status;
    r->client = c;
    r->result = json_incref(result);
    if (error)
        assert_int_equal(keel_messaging_error_copy(error, &r->error), 0);
}

static inline void fx_on_cast(keel_messaging_rpc_client_t *c, int status, void *data)
{
    fx_result_t *r = data;
    assert_false(r->done);
    r->done = true;
    r->status = status;
    r->client = c;
}

static inline void fx_result_clear(fx_result_t *r)
{
    json_decref(r->result);
    keel_messaging_error_free(r->error);
    memset(r, 0, sizeof(*r));
}

/* Calls and waits for the outcome (the callback must run within ms). */
static inline void fx_call(fx_t *f, keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args, fx_result_t *r,
                           uint64_t ms)
{
    memset(r, 0, sizeof(*r));
    int rc = keel_messaging_rpc_call(c, ctxt, method, args, fx_on_call, r);
    if (rc != 0)
        fail_msg("call %s: %s", method, keel_messaging_strerror(rc));
    assert_false(r->done); /* never from inside the call */
    fx_wait(f, &r->done, ms);
}

static inline keel_messaging_rpc_client_t *fx_client(keel_messaging_transport_t *t, const keel_messaging_target_t *target)
{
    keel_messaging_rpc_client_t *c = NULL;
    assert_int_equal(keel_messaging_rpc_client_new(&c, t, target, NULL), 0);
    return c;
}

#endif
