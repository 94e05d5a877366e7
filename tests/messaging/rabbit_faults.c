/*
 * rabbit_faults — a steady RPC load through the rabbit:// driver, for
 * tests/messaging/rabbit_faults.py, which kills and restarts the broker
 * under it (issue 4, item 5).
 *
 *   rabbit_faults URL SECONDS
 *
 * One loop, two transports (an RPC server and its clients). After the
 * server answers, every 10 ms: one call (timeout CALL_TIMEOUT s) and four
 * casts with numbered ids, half with retry -1 (wait for the broker as long
 * as it takes) and half with retry 0 (fail at the first lost connection),
 * all at_least_once (mandatory): after a restart the clients may be back
 * before the server has declared its queue again, and a cast the broker
 * cannot route must be reported, not confirmed and dropped.
 * Then it stops sending, waits for every call and cast to finish and for
 * the server to have received what was confirmed, and checks:
 *
 *   - every call returned or failed with KEEL_ETIMEDOUT, and none took
 *     longer than its timeout (plus LATE_SLACK_MS of loop jitter);
 *   - every cast was reported: confirmed (0) or failed;
 *   - every confirmed cast reached the server (else it counts as lost).
 *
 * Lines on stdout: "ready" when the load starts; "answered_after_gap
 * MONO_NS GAP_MS" when a call is answered after no call was for over
 * GAP_MS (the script matches them to the broker's return, on the same
 * CLOCK_MONOTONIC); "SUMMARY ..." with the counts. Exit 0 when the checks
 * hold, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel/messaging.h"

#define CALL_TIMEOUT 2.0
#define LATE_SLACK_MS 300
#define GAP_MS 300
#define MAX_CASTS 20000
#define MAX_CALLS 5000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct call_s {
    uint64_t start;
    bool done;
    int status;
} call_t;

typedef enum { CAST_PENDING, CAST_ACKED, CAST_FAILED } cast_state_t;

static struct {
    uv_loop_t loop;
    keel_messaging_transport_t *st, *ct;
    keel_messaging_rpc_server_t *server;
    keel_messaging_rpc_client_t *caller, *cast_forever, *cast_once, *probe;
    uv_timer_t tick;
    uint64_t started, load_ns;
    bool ready, stopping;
    call_t calls[MAX_CALLS];
    int ncalls, calls_done, ok, timeouts, other, late;
    uint64_t max_call_ms;
    uint8_t cast_state[MAX_CASTS];
    uint16_t received[MAX_CASTS];
    int ncasts, casts_done, acked, failed;
    uint64_t last_answer;
    int closed;
} F;

/* ---- the server ---- */

static void m_echo(keel_messaging_request_t *req, void *data)
{
    (void)data;
    keel_messaging_request_reply(req, json_incref(keel_messaging_request_args(req)));
}

static void m_take(keel_messaging_request_t *req, void *data)
{
    (void)data;
    json_int_t id = json_integer_value(keel_messaging_request_arg(req, "id"));
    if (id >= 0 && id < MAX_CASTS)
        F.received[id]++;
    keel_messaging_request_reply(req, NULL);
}

static const keel_messaging_method_t methods[] = {{.name = "echo", .fn = m_echo}, {.name = "take", .fn = m_take}, {0}};
static keel_messaging_endpoint_t endpoint = {.methods = methods};

/* ---- the load ---- */

static void on_call(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error, void *data)
{
    (void)c;
    (void)result;
    (void)error;
    call_t *call = data;
    uint64_t now = now_ns();
    uint64_t ms = (now - call->start) / 1000000u;
    call->done = true;
    call->status = status;
    F.calls_done++;
    if (ms > F.max_call_ms)
        F.max_call_ms = ms;
    if (ms > (uint64_t)(CALL_TIMEOUT * 1000) + LATE_SLACK_MS)
        F.late++;
    if (status == 0) {
        F.ok++;
        if (F.last_answer && (now - F.last_answer) / 1000000u > GAP_MS)
            printf("answered_after_gap %llu %llu\n", (unsigned long long)now,
                   (unsigned long long)((now - F.last_answer) / 1000000u));
        F.last_answer = now;
    } else if (status == KEEL_ETIMEDOUT) {
        F.timeouts++;
    } else {
        F.other++;
        fprintf(stderr, "call failed: %s\n", keel_messaging_strerror(status));
    }
    fflush(stdout);
}

static void on_cast(keel_messaging_rpc_client_t *c, int status, void *data)
{
    (void)c;
    intptr_t id = (intptr_t)data;
    F.cast_state[id] = status == 0 ? CAST_ACKED : CAST_FAILED;
    F.casts_done++;
    if (status == 0)
        F.acked++;
    else
        F.failed++;
}

static void send_some(void)
{
    if (F.ncalls < MAX_CALLS) {
        call_t *call = &F.calls[F.ncalls];
        call->start = now_ns();
        if (keel_messaging_rpc_call(F.caller, NULL, "echo", json_pack("{s:i}", "n", F.ncalls), on_call, call) == 0)
            F.ncalls++;
    }
    for (int i = 0; i < 4 && F.ncasts < MAX_CASTS; i++) {
        intptr_t id = F.ncasts;
        keel_messaging_rpc_client_t *c = id % 2 ? F.cast_once : F.cast_forever;
        if (keel_messaging_rpc_cast(c, NULL, "take", json_pack("{s:i}", "id", (int)id), on_cast, (void *)id) == 0)
            F.ncasts++;
    }
}

static void on_probe(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error, void *data)
{
    (void)c;
    (void)result;
    (void)error;
    (void)data;
    if (status == 0 && !F.ready) {
        F.ready = true;
        F.started = now_ns();
        F.last_answer = F.started;
        printf("ready\n");
        fflush(stdout);
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (!F.ready) {
        /* Probe until the server's queues exist. */
        static uint64_t last;
        if (now_ns() - last > 500000000u) {
            last = now_ns();
            keel_messaging_rpc_call(F.probe, NULL, "echo", NULL, on_probe, NULL);
        }
        return;
    }
    if (now_ns() - F.started < F.load_ns)
        send_some();
    else
        F.stopping = true;
}

static void on_closed(keel_messaging_transport_t *t, void *data)
{
    (void)t;
    (void)data;
    F.closed++;
}

static void on_server_waited(keel_messaging_rpc_server_t *s, int status, void *data)
{
    (void)s;
    (void)status;
    *(bool *)data = true;
}

static keel_messaging_rpc_client_t *client(const keel_messaging_target_t *tg, double timeout, int retry, bool at_least_once)
{
    keel_messaging_rpc_client_t *c;
    keel_messaging_rpc_client_opts_t o = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    o.timeout = timeout;
    o.retry = retry;
    o.at_least_once = at_least_once;
    if (keel_messaging_rpc_client_new(&c, F.ct, tg, &o) != 0)
        abort();
    return c;
}

static void on_wakeup(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until cond() or ms pass; a timer wakes it up, or an idle loop would block. */
static bool run_until(bool (*cond)(void), uint64_t ms)
{
    uv_timer_t wakeup;
    uv_timer_init(&F.loop, &wakeup);
    uv_timer_start(&wakeup, on_wakeup, 10, 10);
    uint64_t deadline = now_ns() + ms * 1000000u;
    while (!cond() && now_ns() < deadline)
        uv_run(&F.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wakeup, NULL);
    uv_run(&F.loop, UV_RUN_NOWAIT);
    return cond();
}

static bool is_stopping(void)
{
    return F.stopping;
}

static bool all_done(void)
{
    return F.calls_done == F.ncalls && F.casts_done == F.ncasts;
}

static bool all_received(void)
{
    for (int i = 0; i < F.ncasts; i++)
        if (F.cast_state[i] == CAST_ACKED && F.received[i] == 0)
            return false;
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rabbit_faults URL SECONDS\n");
        return 2;
    }
    F.load_ns = (uint64_t)(atof(argv[2]) * 1e9);
    uv_loop_init(&F.loop);
    keel_buf_t err;
    keel_buf_init(&err);
    keel_messaging_transport_opts_t to = {.url = argv[1], .error = &err};
    if (keel_messaging_transport_new(&F.st, &F.loop, NULL, &to) != 0 || keel_messaging_transport_new(&F.ct, &F.loop, NULL, &to) != 0) {
        fprintf(stderr, "transport: %s\n", err.base ? err.base : "?");
        return 2;
    }
    keel_buf_free(&err);
    char topic[64];
    snprintf(topic, sizeof(topic), "faults_%08x", (unsigned)(now_ns() & 0xffffffffu));
    keel_messaging_target_t tg = {.topic = topic, .server = "s1"};
    keel_messaging_rpc_server_opts_t so = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP};
    if (keel_messaging_rpc_server_new(&F.server, F.st, &tg, &endpoint, 1, &so) != 0 || keel_messaging_rpc_server_start(F.server) != 0)
        return 2;
    keel_messaging_target_t ctg = {.topic = topic};
    F.caller = client(&ctg, CALL_TIMEOUT, KEEL_MESSAGING_RETRY_FOREVER, false);
    F.probe = client(&ctg, 0.5, KEEL_MESSAGING_RETRY_FOREVER, false);
    F.cast_forever = client(&ctg, CALL_TIMEOUT, KEEL_MESSAGING_RETRY_FOREVER, true);
    F.cast_once = client(&ctg, CALL_TIMEOUT, 0, true);
    uv_timer_init(&F.loop, &F.tick);
    uv_timer_start(&F.tick, on_tick, 10, 10);

    bool ok = run_until(is_stopping, 20000 + F.load_ns / 1000000u);
    uv_timer_stop(&F.tick);
    /* Everything sent must end: calls by their timeout, casts once the broker is back. */
    bool finished = ok && run_until(all_done, 20000);
    bool received = finished && run_until(all_received, 5000);
    int lost = 0, failed_but_received = 0, dups = 0, calls_hung = F.ncalls - F.calls_done, casts_hung = F.ncasts - F.casts_done;
    int received_unique = 0;
    for (int i = 0; i < F.ncasts; i++) {
        if (F.received[i])
            received_unique++;
        if (F.received[i] > 1)
            dups++;
        if (F.cast_state[i] == CAST_ACKED && F.received[i] == 0)
            lost++;
        if (F.cast_state[i] == CAST_FAILED && F.received[i] > 0)
            failed_but_received++;
    }
    printf("SUMMARY ready=%d calls=%d ok=%d timeout=%d other=%d calls_hung=%d late=%d max_call_ms=%llu "
           "casts=%d acked=%d failed=%d casts_hung=%d received=%d acked_lost=%d failed_but_received=%d duplicated=%d\n",
           F.ready, F.ncalls, F.ok, F.timeouts, F.other, calls_hung, F.late, (unsigned long long)F.max_call_ms, F.ncasts, F.acked,
           F.failed, casts_hung, received_unique, lost, failed_but_received, dups);
    fflush(stdout);

    keel_messaging_rpc_client_free(F.caller);
    keel_messaging_rpc_client_free(F.probe);
    keel_messaging_rpc_client_free(F.cast_forever);
    keel_messaging_rpc_client_free(F.cast_once);
    bool waited = false;
    keel_messaging_rpc_server_stop(F.server);
    keel_messaging_rpc_server_wait(F.server, on_server_waited, &waited);
    while (!waited && uv_run(&F.loop, UV_RUN_ONCE))
        ;
    keel_messaging_rpc_server_free(F.server);
    uv_close((uv_handle_t *)&F.tick, NULL);
    keel_messaging_transport_close(F.st, on_closed, NULL);
    keel_messaging_transport_close(F.ct, on_closed, NULL);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    int rc_close = uv_loop_close(&F.loop);
    bool pass = F.ready && finished && received && F.other == 0 && F.late == 0 && calls_hung == 0 && casts_hung == 0 &&
                lost == 0 && rc_close == 0;
    (void)received;
    return pass ? 0 : 1;
}
