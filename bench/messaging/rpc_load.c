/*
 * rpc_load.c — keel's side of the messaging benchmark
 * (bench/messaging/compare.py runs it next to oslo.messaging): an RPC
 * server and a client that measure, over any transport URL,
 *
 *   sequential calls  one call at a time, each waiting for its reply:
 *                     calls per second and the latency percentiles;
 *   casts             as fast as the transport takes them (a window of
 *                     casts in flight, each completing on its confirm),
 *                     timed until the server has received the last one.
 *
 * The server's endpoint has echo(**kwargs) (returns its arguments),
 * noop() (counts casts) and wait_count(n) (answers once n casts have
 * arrived), which is how the client learns that the casts are all there.
 * bench/messaging/oslo_load.py has the same endpoint and client in Python.
 *
 *   rpc_load server URL TOPIC
 *   rpc_load client URL TOPIC [--calls N] [--casts N] [--size B] [--window W]
 *   rpc_load both URL TOPIC [...]     server and client on one loop (fake://)
 *
 * The client prints one JSON line per measure; the server runs until
 * SIGTERM or SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keel/messaging.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the server ---- */

typedef struct {
    uv_loop_t *loop;
    keel_messaging_transport_t *transport;
    keel_messaging_rpc_server_t *server;
    long casts; /* noop()s received */
    keel_messaging_request_t *waiting;
    long waiting_for;
    uv_signal_t sigterm, sigint;
} server_t;

static void m_echo(keel_messaging_request_t *req, void *data)
{
    (void)data;
    keel_messaging_request_reply(req, json_incref(keel_messaging_request_args(req)));
}

static void m_noop(keel_messaging_request_t *req, void *data)
{
    server_t *s = data;
    s->casts++;
    if (s->waiting != NULL && s->casts >= s->waiting_for) {
        keel_messaging_request_reply(s->waiting, json_integer(s->casts));
        s->waiting = NULL;
    }
    (void)req;
}

static void m_wait_count(keel_messaging_request_t *req, void *data)
{
    server_t *s = data;
    json_t *n = keel_messaging_request_arg(req, "n");
    long want = json_is_integer(n) ? (long)json_integer_value(n) : 0;
    if (s->casts >= want) {
        long got = s->casts;
        s->casts = 0; /* the next round counts from zero */
        keel_messaging_request_reply(req, json_integer(got));
        return;
    }
    if (s->waiting != NULL || keel_messaging_request_defer(req) != 0) {
        keel_messaging_request_fail(req, "RuntimeError", NULL, "one wait_count() at a time");
        return;
    }
    s->waiting = req;
    s->waiting_for = want;
}

static const keel_messaging_method_t server_methods[] = {
    {.name = "echo", .fn = m_echo},
    {.name = "noop", .fn = m_noop},
    {.name = "wait_count", .fn = m_wait_count},
    {0},
};

static void server_waited(keel_messaging_rpc_server_t *srv, int status, void *data)
{
    (void)status;
    server_t *s = data;
    keel_messaging_rpc_server_free(srv);
    s->server = NULL;
    keel_messaging_transport_close(s->transport, NULL, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
}

static void server_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    server_t *s = h->data;
    uv_signal_stop(&s->sigterm);
    uv_signal_stop(&s->sigint);
    keel_messaging_rpc_server_stop(s->server);
    keel_messaging_rpc_server_wait(s->server, server_waited, s);
}

static keel_messaging_endpoint_t server_endpoint = {.methods = server_methods};

static int server_start(server_t *s, uv_loop_t *loop, keel_messaging_transport_t *t, const char *topic)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->transport = t;
    server_endpoint.data = s;
    keel_messaging_target_t target = {.topic = topic, .server = "bench"};
    keel_messaging_rpc_server_opts_t so = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP};
    int rc = keel_messaging_rpc_server_new(&s->server, t, &target, &server_endpoint, 1, &so);
    if (rc == 0)
        rc = keel_messaging_rpc_server_start(s->server);
    return rc;
}

/* ---- the client ---- */

typedef struct {
    keel_messaging_rpc_client_t *client;
    json_t *args;
    long calls, casts, window;
    size_t size;
    /* the phase in progress */
    long done, sent, in_flight;
    uint64_t t0, sent_at;
    uint64_t *lat;
    int failures;
    void (*next)(void *c);
    keel_messaging_transport_t *transport;
    server_t *local_server; /* both: stopped at the end */
} client_t;

static void phase_warmup(client_t *c);
static void phase_calls(client_t *c);
static void phase_casts(client_t *c);
static void finish(client_t *c);

static void print_result(const client_t *c, const char *mode, long n, uint64_t elapsed_ns, uint64_t *lat)
{
    double secs = (double)elapsed_ns / 1e9;
    printf("{\"impl\": \"keel\", \"mode\": \"%s\", \"n\": %ld, \"size\": %zu, \"seconds\": %.4f, \"rate\": %.1f", mode, n, c->size,
           secs, (double)n / secs);
    if (lat != NULL && n > 0) {
        qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
        printf(", \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f", (double)lat[n / 2] / 1e3,
               (double)lat[(size_t)((double)n * 0.99)] / 1e3, (double)lat[n - 1] / 1e3);
    }
    printf(", \"failures\": %d}\n", c->failures);
    fflush(stdout);
}

static void warm_done(keel_messaging_rpc_client_t *rc, int status, json_t *result, const keel_messaging_error_t *e, void *data)
{
    (void)rc;
    (void)result;
    (void)e;
    client_t *c = data;
    if (status != 0 && now_ns() - c->t0 > 60ull * 1000000000u) {
        fprintf(stderr, "rpc_load: the server did not answer within 60 s: %s\n", keel_messaging_strerror(status));
        c->failures++;
        finish(c);
        return;
    }
    if (status == 0)
        c->done++;
    if (c->done >= 200) {
        phase_calls(c);
        return;
    }
    phase_warmup(c);
}

/* Calls echo until 200 have been answered: the server's queues exist and both sides are warm. */
static void phase_warmup(client_t *c)
{
    keel_messaging_rpc_client_t *quick = NULL;
    keel_messaging_prepare_t p = {.set = KEEL_MESSAGING_PREPARE_TIMEOUT, .timeout = 1.0};
    if (keel_messaging_rpc_client_prepare(c->client, &p, &quick) != 0 ||
        keel_messaging_rpc_call(quick, NULL, "echo", json_incref(c->args), warm_done, c) != 0) {
        c->failures++;
        finish(c);
    }
    keel_messaging_rpc_client_free(quick);
}

static void call_done(keel_messaging_rpc_client_t *rc, int status, json_t *result, const keel_messaging_error_t *e, void *data)
{
    (void)rc;
    (void)e;
    client_t *c = data;
    uint64_t t = now_ns();
    if (status != 0 || !json_is_object(result))
        c->failures++;
    c->lat[c->done++] = t - c->sent_at;
    if (c->done == c->calls) {
        print_result(c, "call", c->calls, t - c->t0, c->lat);
        phase_casts(c);
        return;
    }
    c->sent_at = now_ns();
    if (keel_messaging_rpc_call(c->client, NULL, "echo", json_incref(c->args), call_done, c) != 0) {
        c->failures++;
        finish(c);
    }
}

static void phase_calls(client_t *c)
{
    c->done = 0;
    if (c->calls == 0) {
        phase_casts(c);
        return;
    }
    c->t0 = c->sent_at = now_ns();
    if (keel_messaging_rpc_call(c->client, NULL, "echo", json_incref(c->args), call_done, c) != 0) {
        c->failures++;
        finish(c);
    }
}

static void counted(keel_messaging_rpc_client_t *rc, int status, json_t *result, const keel_messaging_error_t *e, void *data)
{
    (void)rc;
    (void)e;
    client_t *c = data;
    uint64_t t = now_ns();
    if (status != 0 || json_integer_value(result) < c->casts) {
        fprintf(stderr, "rpc_load: wait_count: %s, %lld casts arrived of %ld\n", keel_messaging_strerror(status),
                (long long)json_integer_value(result), c->casts);
        c->failures++;
    }
    print_result(c, "cast", c->casts, t - c->t0, NULL);
    finish(c);
}

static void send_casts(client_t *c);

static void cast_done(keel_messaging_rpc_client_t *rc, int status, void *data)
{
    (void)rc;
    client_t *c = data;
    c->in_flight--;
    if (status != 0)
        c->failures++;
    c->done++;
    if (c->done == c->casts) {
        keel_messaging_rpc_client_t *slow = NULL;
        keel_messaging_prepare_t p = {.set = KEEL_MESSAGING_PREPARE_TIMEOUT, .timeout = 300};
        if (keel_messaging_rpc_client_prepare(c->client, &p, &slow) != 0 ||
            keel_messaging_rpc_call(slow, NULL, "wait_count", json_pack("{s:I}", "n", (json_int_t)c->casts), counted, c) != 0) {
            c->failures++;
            finish(c);
        }
        keel_messaging_rpc_client_free(slow);
        return;
    }
    send_casts(c);
}

static void send_casts(client_t *c)
{
    while (c->sent < c->casts && c->in_flight < c->window) {
        c->sent++;
        c->in_flight++;
        if (keel_messaging_rpc_cast(c->client, NULL, "noop", json_incref(c->args), cast_done, c) != 0) {
            c->failures++;
            c->in_flight--;
            c->done++;
        }
    }
}

static void phase_casts(client_t *c)
{
    if (c->casts == 0) {
        finish(c);
        return;
    }
    c->done = c->sent = c->in_flight = 0;
    c->t0 = now_ns();
    send_casts(c);
}

static void finish(client_t *c)
{
    keel_messaging_rpc_client_free(c->client);
    c->client = NULL;
    if (c->local_server != NULL)
        server_signal(&c->local_server->sigterm, SIGTERM);
    keel_messaging_transport_close(c->transport, NULL, NULL);
}

/* ---- main ---- */

static int usage(void)
{
    fprintf(stderr, "usage: rpc_load server|client|both URL TOPIC [--calls N] [--casts N] [--size B] [--window W]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    const char *role = argv[1], *url = argv[2], *topic = argv[3];
    client_t c = {.calls = 10000, .casts = 100000, .window = 1000, .size = 16};
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--calls") == 0)
            c.calls = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--casts") == 0)
            c.casts = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--size") == 0)
            c.size = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--window") == 0)
            c.window = atol(argv[i + 1]);
        else
            return usage();
    }
    bool serve = strcmp(role, "server") == 0 || strcmp(role, "both") == 0;
    bool call = strcmp(role, "client") == 0 || strcmp(role, "both") == 0;
    if (!serve && !call)
        return usage();
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_messaging_fake_broker_t *fake = NULL;
    if (strncmp(url, "fake:", 5) == 0 && keel_messaging_fake_broker_new(&fake) != 0)
        return 1;
    keel_buf_t why;
    keel_buf_init(&why);
    keel_messaging_transport_opts_t to = {.url = url, .fake_broker = fake, .error = &why};

    static server_t s;
    keel_messaging_transport_t *st = NULL, *ct = NULL;
    int rc = 0;
    if (serve) {
        rc = keel_messaging_transport_new(&st, &loop, NULL, &to);
        if (rc == 0)
            rc = server_start(&s, &loop, st, topic);
        if (rc != 0) {
            fprintf(stderr, "rpc_load: server: %s %.*s\n", keel_messaging_strerror(rc), (int)why.len, why.base ? why.base : "");
            return 1;
        }
        uv_signal_init(&loop, &s.sigterm);
        uv_signal_init(&loop, &s.sigint);
        s.sigterm.data = s.sigint.data = &s;
        uv_signal_start(&s.sigterm, server_signal, SIGTERM);
        uv_signal_start(&s.sigint, server_signal, SIGINT);
        if (!call) {
            uv_unref((uv_handle_t *)&s.sigterm);
            uv_unref((uv_handle_t *)&s.sigint);
            fprintf(stderr, "rpc_load: serving %s\n", topic);
        }
    }
    if (call) {
        rc = keel_messaging_transport_new(&ct, &loop, NULL, &to);
        keel_messaging_target_t target = {.topic = topic};
        keel_messaging_rpc_client_opts_t co = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
        co.timeout = 30;
        if (rc == 0)
            rc = keel_messaging_rpc_client_new(&c.client, ct, &target, &co);
        if (rc != 0) {
            fprintf(stderr, "rpc_load: client: %s %.*s\n", keel_messaging_strerror(rc), (int)why.len, why.base ? why.base : "");
            return 1;
        }
        char *payload = malloc(c.size + 1);
        memset(payload, 'x', c.size);
        payload[c.size] = '\0';
        c.args = json_pack("{s:s}", "payload", payload);
        free(payload);
        c.lat = calloc((size_t)c.calls + 1, sizeof(*c.lat));
        c.transport = ct;
        c.local_server = serve ? &s : NULL;
        c.t0 = now_ns();
        phase_warmup(&c);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    keel_messaging_fake_broker_free(fake);
    keel_buf_free(&why);
    json_decref(c.args);
    free(c.lat);
    return c.failures != 0;
}
