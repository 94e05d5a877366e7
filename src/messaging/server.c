/*
 * Servers: oslo's MessageHandlingServer (the part shared with the
 * notification listener: executors, start/stop/wait) and the RPC server on
 * top of it (RPCServer._process_incoming: acknowledge on receipt, dispatch,
 * reply with the result or the failure).
 *
 * A request's outcome may be set from any thread — by the method while it
 * runs, or later after keel_messaging_request_defer() — so its state is an
 * atomic word: INVOKING while the method runs, DEFERRED, COMPLETED. Whoever
 * sees the request both completed and no longer invoking posts it back to
 * the loop, exactly once, where the reply is sent and the request freed.
 * Results are serialized (serialize_entity) on the thread that completes.
 *
 * Call-monitor heartbeats: a call with _timeout t gets an `ending: false`
 * reply every int(t)/2 seconds while it is in the server, as oslo's
 * watchdog sends them — and only then (spec §6.1: a heartbeat the caller
 * did not ask for breaks a Python client).
 */
#include <stdarg.h>
#include <string.h>

#include "server.h"

/* ---- duplicate check ---- */

bool keel__messaging_dupcache_seen(const keel__messaging_dupcache_t *c, const char *id)
{
    for (size_t i = 0; id && i < KEEL__MESSAGING_DUP_CHECK_SIZE; i++)
        if (c->ids[i] && strcmp(c->ids[i], id) == 0)
            return true;
    return false;
}

void keel__messaging_dupcache_add(keel__messaging_dupcache_t *c, const char *id)
{
    if (id == NULL || keel__messaging_dupcache_seen(c, id))
        return;
    char *copy = keel__strdup(id);
    if (copy == NULL)
        return;
    keel__free(c->ids[c->next]);
    c->ids[c->next] = copy;
    c->next = (c->next + 1) % KEEL__MESSAGING_DUP_CHECK_SIZE;
}

void keel__messaging_dupcache_clear(keel__messaging_dupcache_t *c)
{
    for (size_t i = 0; i < KEEL__MESSAGING_DUP_CHECK_SIZE; i++) {
        keel__free(c->ids[i]);
        c->ids[i] = NULL;
    }
    c->next = 0;
}

/* ---- MessageHandlingServer ---- */

static void on_incoming(keel__messaging_listener_t *l, keel__messaging_incoming_t *in, void *data)
{
    keel__messaging_srv_t *srv = data;
    srv->ops->incoming(srv, in);
}

int keel__messaging_srv_init(keel__messaging_srv_t *srv, keel_messaging_transport_t *t, const keel__messaging_srv_ops_t *ops,
                             keel_messaging_executor_t executor)
{
    if (executor != KEEL_MESSAGING_EXECUTOR_THREADING && executor != KEEL_MESSAGING_EXECUTOR_BLOCKING &&
        executor != KEEL_MESSAGING_EXECUTOR_LOOP)
        return KEEL_EINVAL;
    memset(srv, 0, sizeof(*srv));
    srv->t = t;
    srv->ops = ops;
    srv->executor = executor;
    srv->state = KEEL__SRV_NEW;
    t->servers++;
    return 0;
}

int keel__messaging_srv_start(keel__messaging_srv_t *srv)
{
    if (srv->state == KEEL__SRV_RUNNING)
        return 0;
    if (srv->state != KEEL__SRV_NEW)
        return KEEL_EINVAL; /* oslo cannot restart a stopped server either without reset() */
    if (srv->executor == KEEL_MESSAGING_EXECUTOR_THREADING && !srv->pool_ready) {
        int64_t n = srv->t->opts.executor_thread_pool_size;
        int rc = keel__messaging_pool_init(&srv->pool, n > 0 ? (size_t)n : 1);
        if (rc != 0)
            return rc;
        srv->pool_ready = true;
    }
    int rc = srv->ops->listen(srv, on_incoming, srv, &srv->listener);
    if (rc != 0)
        return rc;
    srv->state = KEEL__SRV_RUNNING;
    return 0;
}

static void run_wait(keel__messaging_task_t *task)
{
    keel__messaging_srv_t *srv = keel_container_of(task, keel__messaging_srv_t, wait_task);
    srv->wait_task_posted = false;
    if (!srv->waiting || srv->state != KEEL__SRV_STOPPED || srv->inflight > 0)
        return;
    srv->waiting = false;
    srv->wait_cb(srv, srv->wait_data);
}

static void check_wait(keel__messaging_srv_t *srv)
{
    if (!srv->waiting || srv->wait_task_posted || srv->state != KEEL__SRV_STOPPED || srv->inflight > 0)
        return;
    srv->wait_task.run = run_wait;
    srv->wait_task_posted = keel__messaging_post(srv->t, &srv->wait_task) == 0;
}

static void on_listener_stopped(keel__messaging_listener_t *l, void *data)
{
    keel__messaging_srv_t *srv = data;
    srv->state = KEEL__SRV_STOPPED;
    check_wait(srv);
}

void keel__messaging_srv_stop(keel__messaging_srv_t *srv)
{
    if (srv->state == KEEL__SRV_NEW) {
        srv->state = KEEL__SRV_STOPPED;
        check_wait(srv);
        return;
    }
    if (srv->state != KEEL__SRV_RUNNING)
        return;
    srv->state = KEEL__SRV_STOPPING;
    srv->listener->ops->listener_stop(srv->listener, on_listener_stopped, srv);
}

int keel__messaging_srv_wait(keel__messaging_srv_t *srv, keel__messaging_srv_wait_cb cb, void *data)
{
    if (cb == NULL)
        return KEEL_EINVAL;
    if (srv->waiting)
        return KEEL_EBUSY;
    srv->waiting = true;
    srv->wait_cb = cb;
    srv->wait_data = data;
    check_wait(srv);
    return 0;
}

int keel__messaging_srv_destroy(keel__messaging_srv_t *srv)
{
    bool idle = srv->state == KEEL__SRV_NEW ||
                (srv->state == KEEL__SRV_STOPPED && srv->inflight == 0 && !srv->waiting && !srv->wait_task_posted);
    if (!idle)
        return KEEL_EBUSY;
    if (srv->listener)
        srv->listener->ops->listener_free(srv->listener);
    srv->listener = NULL;
    if (srv->pool_ready)
        keel__messaging_pool_destroy(&srv->pool);
    srv->pool_ready = false;
    keel__messaging_dupcache_clear(&srv->dups);
    srv->t->servers--;
    return 0;
}

static void run_on_pool(keel__messaging_work_t *work)
{
    keel__messaging_job_t *job = keel_container_of(work, keel__messaging_job_t, work);
    job->srv->ops->invoke(job);
}

void keel__messaging_srv_submit(keel__messaging_srv_t *srv, keel__messaging_job_t *job)
{
    job->srv = srv;
    srv->inflight++;
    switch (srv->executor) {
    case KEEL_MESSAGING_EXECUTOR_BLOCKING:
        if (srv->busy) {
            job->next = NULL;
            if (srv->backlog_tail)
                srv->backlog_tail->next = job;
            else
                srv->backlog = job;
            srv->backlog_tail = job;
            return;
        }
        srv->busy = true;
        srv->ops->invoke(job);
        return;
    case KEEL_MESSAGING_EXECUTOR_LOOP:
        srv->ops->invoke(job);
        return;
    case KEEL_MESSAGING_EXECUTOR_THREADING:
        job->work.run = run_on_pool;
        if (keel__messaging_pool_submit(&srv->pool, &job->work) != 0)
            srv->ops->invoke(job); /* no thread could start: run it here rather than lose it */
        return;
    }
}

static void run_finish(keel__messaging_task_t *task)
{
    keel__messaging_job_t *job = keel_container_of(task, keel__messaging_job_t, task);
    keel__messaging_srv_t *srv = job->srv;
    srv->ops->finish(job); /* frees the job */
    srv->inflight--;
    if (srv->executor == KEEL_MESSAGING_EXECUTOR_BLOCKING) {
        srv->busy = false;
        keel__messaging_job_t *next = srv->backlog;
        if (next != NULL) {
            srv->backlog = next->next;
            if (srv->backlog == NULL)
                srv->backlog_tail = NULL;
            srv->busy = true;
            srv->ops->invoke(next);
        }
    }
    check_wait(srv);
}

void keel__messaging_srv_done(keel__messaging_job_t *job)
{
    job->task.run = run_finish;
    /* Servers are freed before their transport closes, so posting cannot fail while jobs exist. */
    int rc = keel__messaging_post(job->srv->t, &job->task);
    KEEL_ASSERT(rc == 0);
}

/* ---- the RPC server ---- */

struct keel_messaging_rpc_server_s {
    keel__messaging_srv_t srv;
    keel_messaging_target_t target;
    keel_messaging_endpoint_t *endpoints; /* the caller's, plus the ping endpoint when enabled */
    size_t nendpoints;
    keel_messaging_access_policy_t access_policy;
    const keel_messaging_serializer_t *serializer;
    keel_messaging_rpc_server_wait_cb wait_cb;
    void *wait_data;
};

enum { REQ_INVOKING = 1, REQ_DEFERRED = 2, REQ_COMPLETED = 4 };

typedef struct heartbeat_s {
    uv_timer_t timer;
    keel_messaging_request_t *req; /* NULL once the request finished */
} heartbeat_t;

struct keel_messaging_request_s {
    keel__messaging_job_t job;
    keel_messaging_rpc_server_t *server;
    const keel_messaging_endpoint_t *endpoint;
    const keel_messaging_method_t *method;
    const char *method_name; /* in job.in->u.message */
    json_t *args;            /* deserialized, set by invoke */
    json_t *ctxt;            /* deserialized, set by invoke */
    bool is_call;
    int state; /* REQ_* bits, atomic */
    json_t *result;
    keel_messaging_error_t *failure;
    heartbeat_t *heartbeat;
};

static keel_log_t *log_server(void)
{
    static keel_log_t *l;
    if (l == NULL)
        l = keel_log_get("oslo_messaging.rpc.server");
    return l;
}

static void ping(keel_messaging_request_t *req, void *data)
{
    keel_messaging_request_reply(req, json_string("pong"));
}

static const keel_messaging_method_t ping_methods[] = {{.name = "oslo_rpc_server_ping", .fn = ping, .exposed = true}, {0}};

/* Posts the request back to the loop once it is completed and its method returned. */
static void maybe_post(keel_messaging_request_t *req, int state)
{
    if ((state & REQ_COMPLETED) && !(state & REQ_INVOKING))
        keel__messaging_srv_done(&req->job);
}

/* Sets the outcome unless one was set; takes result and failure either way. */
static int complete(keel_messaging_request_t *req, json_t *result, keel_messaging_error_t *failure)
{
    int state = __atomic_load_n(&req->state, __ATOMIC_ACQUIRE);
    if (state & REQ_COMPLETED) {
        json_decref(result);
        keel_messaging_error_free(failure);
        return KEEL_EINVAL;
    }
    req->result = result;
    req->failure = failure;
    for (;;) {
        if (__atomic_compare_exchange_n(&req->state, &state, state | REQ_COMPLETED, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
        if (state & REQ_COMPLETED) {
            /* Two threads raced to complete: the first one wins. */
            req->result = NULL;
            req->failure = NULL;
            json_decref(result);
            keel_messaging_error_free(failure);
            return KEEL_EINVAL;
        }
    }
    maybe_post(req, state | REQ_COMPLETED);
    return 0;
}

/* A failure for what went wrong before or around the method (serializer, memory). */
static void complete_with_code(keel_messaging_request_t *req, int rc)
{
    keel_messaging_error_t *e = NULL;
    if (rc == KEEL_MESSAGING_ESERIALIZE)
        keel_messaging_error_new(&e, "SerializationError", "keel.messaging", "%s", keel_messaging_strerror(rc));
    else
        keel_messaging_error_new(&e, rc == KEEL_ENOMEM ? "MemoryError" : "RuntimeError", NULL, "%s", keel_messaging_strerror(rc));
    complete(req, NULL, e);
}

int keel_messaging_request_reply(keel_messaging_request_t *req, json_t *result)
{
    if (req == NULL) {
        json_decref(result);
        return KEEL_EINVAL;
    }
    if (__atomic_load_n(&req->state, __ATOMIC_ACQUIRE) & REQ_COMPLETED) {
        json_decref(result);
        return KEEL_EINVAL;
    }
    /* _do_dispatch(): serializer.serialize_entity(ctxt, result) where the result was made. */
    json_t *ser = NULL;
    int rc = keel__messaging_ser_entity(req->server->serializer, false, req->ctxt, result ? result : json_null(), &ser);
    json_decref(result);
    if (rc != 0) {
        complete_with_code(req, rc);
        return 0;
    }
    return complete(req, ser, NULL);
}

int keel_messaging_request_fail_error(keel_messaging_request_t *req, keel_messaging_error_t *error)
{
    if (req == NULL || error == NULL) {
        keel_messaging_error_free(error);
        return KEEL_EINVAL;
    }
    return complete(req, NULL, error);
}

int keel_messaging_request_fail(keel_messaging_request_t *req, const char *exc_class, const char *exc_module, const char *fmt, ...)
{
    keel_buf_t b;
    keel_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    int rc = fmt ? keel_buf_vprintf(&b, fmt, ap) : 0;
    va_end(ap);
    keel_messaging_error_t *e = NULL;
    if (req == NULL) {
        keel_buf_free(&b);
        return KEEL_EINVAL;
    }
    if (rc == 0)
        rc = keel__messaging_error_make(&e, exc_class, exc_module, b.base ? b.base : "");
    keel_buf_free(&b);
    if (rc == KEEL_EINVAL)
        return KEEL_EINVAL;
    if (rc != 0) {
        complete_with_code(req, rc);
        return 0;
    }
    return complete(req, NULL, e);
}

int keel_messaging_request_defer(keel_messaging_request_t *req)
{
    int state = __atomic_load_n(&req->state, __ATOMIC_ACQUIRE);
    for (;;) {
        if (!(state & REQ_INVOKING) || (state & REQ_DEFERRED))
            return KEEL_EINVAL;
        if (__atomic_compare_exchange_n(&req->state, &state, state | REQ_DEFERRED, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 0;
    }
}

const char *keel_messaging_request_method(const keel_messaging_request_t *req)
{
    return req->method_name;
}

json_t *keel_messaging_request_args(const keel_messaging_request_t *req)
{
    return req->args;
}

json_t *keel_messaging_request_arg(const keel_messaging_request_t *req, const char *name)
{
    return json_object_get(req->args, name);
}

json_t *keel_messaging_request_context(const keel_messaging_request_t *req)
{
    return req->ctxt;
}

const keel_messaging_endpoint_t *keel_messaging_request_endpoint(const keel_messaging_request_t *req)
{
    return req->endpoint;
}

bool keel_messaging_request_is_call(const keel_messaging_request_t *req)
{
    return req->is_call;
}

/* Runs where the executor puts it: deserialize, then the method (RPCDispatcher._do_dispatch). */
static void rpc_invoke(keel__messaging_job_t *job)
{
    keel_messaging_request_t *req = (keel_messaging_request_t *)job;
    if (req->method == NULL) {
        /* Dispatch already failed; only the reply is left. */
        maybe_post(req, __atomic_load_n(&req->state, __ATOMIC_ACQUIRE));
        return;
    }
    const keel__messaging_unpacked_t *u = &job->in->u;
    const keel_messaging_serializer_t *ser = req->server->serializer;
    json_t *ctxt = NULL, *args = json_object();
    int rc = args ? keel__messaging_ser_context(ser, true, u->ctxt, &ctxt) : KEEL_ENOMEM;
    /* The endpoint sees client_timeout in its context, as oslo's RpcContext adds it. */
    if (rc == 0 &&
        json_object_set_new(ctxt, "client_timeout", u->client_timeout ? json_incref(u->client_timeout) : json_null()) != 0)
        rc = KEEL_ENOMEM;
    json_t *raw = json_object_get(u->message, "args");
    const char *key;
    json_t *v;
    if (rc == 0 && json_is_object(raw)) {
        json_object_foreach(raw, key, v)
        {
            json_t *d = NULL;
            if ((rc = keel__messaging_ser_entity(ser, true, ctxt, v, &d)) != 0)
                break;
            if (json_object_set_new(args, key, d) != 0) {
                rc = KEEL_ENOMEM;
                break;
            }
        }
    }
    req->ctxt = ctxt;
    req->args = args;
    if (rc != 0) {
        __atomic_and_fetch(&req->state, ~REQ_INVOKING, __ATOMIC_ACQ_REL);
        complete_with_code(req, rc);
        return;
    }
    /* What the method logs carries the caller's request id, as oslo.context's store does. */
    keel_messaging_context_apply_log(ctxt);
    req->method->fn(req, req->endpoint->data);
    keel_log_context_clear();
    int state = __atomic_load_n(&req->state, __ATOMIC_ACQUIRE);
    for (;;) {
        int next = state & ~REQ_INVOKING;
        if (__atomic_compare_exchange_n(&req->state, &state, next, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            state = next;
            break;
        }
    }
    if (state & REQ_COMPLETED)
        maybe_post(req, state);
    else if (!(state & REQ_DEFERRED))
        keel_messaging_request_reply(req, NULL); /* returned None */
}

static void on_heartbeat_closed(uv_handle_t *h)
{
    keel__free(h->data);
}

static void on_heartbeat(uv_timer_t *timer)
{
    heartbeat_t *hb = timer->data;
    if (hb->req == NULL)
        return;
    keel__messaging_incoming_t *in = hb->req->job.in;
    KEEL_LOG_DEBUG(log_server(), "Sending call-monitor heartbeat for active call to %s", hb->req->method_name);
    in->listener->ops->reply(in, NULL, NULL, false);
}

static void rpc_finish(keel__messaging_job_t *job)
{
    keel_messaging_request_t *req = (keel_messaging_request_t *)job;
    keel__messaging_incoming_t *in = job->in;
    const keel__messaging_driver_ops_t *ops = in->listener->ops;
    if (req->heartbeat) {
        req->heartbeat->req = NULL;
        uv_timer_stop(&req->heartbeat->timer);
        uv_close((uv_handle_t *)&req->heartbeat->timer, on_heartbeat_closed);
    }
    keel_buf_t text;
    keel_buf_init(&text);
    if (req->failure != NULL) {
        keel_messaging_error_t *e = req->failure;
        const char *m = req->method_name ? req->method_name : "";
        size_t ml = strlen(m);
        bool quiet =
            e->expected || (strcmp(e->exc_class, "NoSuchMethod") == 0 && ml >= 14 && strcmp(m + ml - 14, "_ignore_errors") == 0);
        if (quiet)
            KEEL_LOG_DEBUG(log_server(), "Expected exception during message handling (%s)", e->message);
        else
            KEEL_LOG_ERR(log_server(), KEEL_LOG_LEVEL_ERROR, e->message, e->traceback, "Exception during message handling");
        if (keel_messaging_error_serialize(e, &text) != 0)
            KEEL_LOG_ERROR(log_server(), "Can not send reply for message: out of memory");
    }
    if (req->is_call && (req->failure == NULL || text.base != NULL))
        ops->reply(in, req->failure ? NULL : req->result, req->failure ? text.base : NULL, true);
    keel_buf_free(&text);
    ops->release(in);
    json_decref(req->result);
    json_decref(req->args);
    json_decref(req->ctxt);
    keel_messaging_error_free(req->failure);
    keel__free(req);
}

/* int(client_timeout) / 2 seconds, as oslo's _watchdog computes it; 0 for none. */
static uint64_t heartbeat_ms(json_t *t)
{
    int64_t secs = 0;
    if (json_is_integer(t))
        secs = json_integer_value(t);
    else if (json_is_real(t))
        secs = (int64_t)json_real_value(t);
    else if (json_is_string(t) && keel__messaging_pyint(json_string_value(t), json_string_length(t), &secs) != 0)
        secs = 0;
    if (secs < 2)
        return 0; /* interval under a second: oslo warns and sends none */
    return (uint64_t)secs * 500u;
}

static void rpc_incoming(keel__messaging_srv_t *srv, keel__messaging_incoming_t *in)
{
    keel_messaging_rpc_server_t *s = (keel_messaging_rpc_server_t *)srv;
    const keel__messaging_driver_ops_t *ops = in->listener->ops;
    if (keel__messaging_dupcache_seen(&srv->dups, in->u.unique_id)) {
        KEEL_LOG_WARNING(log_server(), "Found duplicate message(%s). Skipping it.", in->u.unique_id);
        ops->ack(in);
        ops->release(in);
        return;
    }
    keel__messaging_dupcache_add(&srv->dups, in->u.unique_id);
    /* RPCServer acknowledges before dispatching: at-most-once (spec §6.1 step 4). */
    ops->ack(in);
    keel_messaging_request_t *req = keel__calloc(1, sizeof(*req));
    if (req == NULL) {
        KEEL_LOG_ERROR(log_server(), "Exception during message handling: out of memory");
        ops->release(in);
        return;
    }
    req->job.in = in;
    req->server = s;
    req->is_call = in->u.msg_id != NULL && in->u.reply_q != NULL;
    req->state = REQ_INVOKING;
    json_t *msg = in->u.message;
    json_t *jm = json_object_get(msg, "method"), *jns = json_object_get(msg, "namespace"), *jv = json_object_get(msg, "version");
    req->method_name = json_string_value(jm);
    /* message.get('version', '1.0'); a null version is None, which nothing serves. */
    const char *version = jv == NULL ? "1.0" : json_string_value(jv);
    bool ns_valid = jns == NULL || json_is_null(jns) || json_is_string(jns);
    keel_messaging_error_t *failure = NULL;
    int rc;
    if (jm != NULL && !json_is_string(jm) && !json_is_null(jm))
        rc = keel_messaging_error_new(&failure, "TypeError", NULL, "attribute name must be string");
    else if (jv != NULL && !json_is_string(jv) && !json_is_null(jv))
        rc = keel_messaging_error_new(&failure, "AttributeError", NULL, "object has no attribute 'split'");
    else
        rc = keel__messaging_dispatch_find(s->endpoints, s->nendpoints, s->access_policy, req->method_name, json_string_value(jns),
                                           ns_valid, version, &req->endpoint, &req->method, &failure);
    if (rc != 0) {
        req->method = NULL;
        req->endpoint = NULL;
        if (failure == NULL)
            keel_messaging_error_new(&failure, "MemoryError", NULL, "out of memory");
        /* Not INVOKING: the failure is the outcome; the executor only passes it on. */
        req->state = REQ_COMPLETED;
        req->failure = failure;
    }
    uint64_t every = req->is_call && req->method ? heartbeat_ms(in->u.client_timeout) : 0;
    if (every > 0 && (req->heartbeat = keel__calloc(1, sizeof(*req->heartbeat))) != NULL) {
        uv_timer_init(srv->t->loop, &req->heartbeat->timer);
        req->heartbeat->timer.data = req->heartbeat;
        req->heartbeat->req = req;
        uv_timer_start(&req->heartbeat->timer, on_heartbeat, every, every);
    }
    keel__messaging_srv_submit(srv, &req->job);
}

static int rpc_listen(keel__messaging_srv_t *srv, keel__messaging_incoming_cb cb, void *data, keel__messaging_listener_t **out)
{
    keel_messaging_rpc_server_t *s = (keel_messaging_rpc_server_t *)srv;
    int rc = keel__messaging_target_check_listen(&s->target);
    if (rc != 0)
        return rc;
    keel_messaging_target_t tg = s->target;
    tg.exchange = keel__messaging_exchange(srv->t, &s->target);
    return srv->t->ops->listen(srv->t->driver, &tg, cb, data, out);
}

static const keel__messaging_srv_ops_t rpc_ops = {
    .invoke = rpc_invoke,
    .finish = rpc_finish,
    .listen = rpc_listen,
    .incoming = rpc_incoming,
};

int keel_messaging_rpc_server_new(keel_messaging_rpc_server_t **out, keel_messaging_transport_t *t,
                                  const keel_messaging_target_t *target, const keel_messaging_endpoint_t *endpoints, size_t n,
                                  const keel_messaging_rpc_server_opts_t *opts)
{
    if (out == NULL || t == NULL || target == NULL || (n > 0 && endpoints == NULL) || t->closing)
        return KEEL_EINVAL;
    static const keel_messaging_rpc_server_opts_t defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    bool has_ping = false;
    for (size_t i = 0; i < n; i++)
        for (const keel_messaging_method_t *m = endpoints[i].methods; m && m->name; m++) {
            if (m->fn == NULL)
                return KEEL_EINVAL;
            has_ping = has_ping || strcmp(m->name, "oslo_rpc_server_ping") == 0;
        }
    keel_messaging_rpc_server_t *s = keel__calloc(1, sizeof(*s));
    if (s == NULL)
        return KEEL_ENOMEM;
    bool add_ping = t->opts.rpc_ping_enabled && !has_ping;
    s->nendpoints = n + (add_ping ? 1 : 0);
    s->endpoints = keel__calloc(s->nendpoints ? s->nendpoints : 1, sizeof(*s->endpoints));
    int rc = s->endpoints ? keel__messaging_target_copy(&s->target, target) : KEEL_ENOMEM;
    if (rc == 0) {
        if (n > 0)
            memcpy(s->endpoints, endpoints, n * sizeof(*endpoints));
        if (add_ping)
            s->endpoints[n] = (keel_messaging_endpoint_t){.methods = ping_methods};
        s->access_policy = opts->access_policy;
        s->serializer = opts->serializer;
        rc = keel__messaging_srv_init(&s->srv, t, &rpc_ops, opts->executor);
    }
    if (rc != 0) {
        keel__messaging_target_clear(&s->target);
        keel__free(s->endpoints);
        keel__free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int keel_messaging_rpc_server_start(keel_messaging_rpc_server_t *s)
{
    return s ? keel__messaging_srv_start(&s->srv) : KEEL_EINVAL;
}

void keel_messaging_rpc_server_stop(keel_messaging_rpc_server_t *s)
{
    if (s)
        keel__messaging_srv_stop(&s->srv);
}

static void on_rpc_wait(keel__messaging_srv_t *srv, void *data)
{
    keel_messaging_rpc_server_t *s = (keel_messaging_rpc_server_t *)srv;
    s->wait_cb(s, 0, s->wait_data);
}

int keel_messaging_rpc_server_wait(keel_messaging_rpc_server_t *s, keel_messaging_rpc_server_wait_cb cb, void *data)
{
    if (s == NULL || cb == NULL)
        return KEEL_EINVAL;
    if (s->srv.waiting)
        return KEEL_EBUSY;
    s->wait_cb = cb;
    s->wait_data = data;
    return keel__messaging_srv_wait(&s->srv, on_rpc_wait, NULL);
}

int keel_messaging_rpc_server_free(keel_messaging_rpc_server_t *s)
{
    if (s == NULL)
        return 0;
    int rc = keel__messaging_srv_destroy(&s->srv);
    if (rc != 0)
        return rc;
    keel__messaging_target_clear(&s->target);
    keel__free(s->endpoints);
    keel__free(s);
    return 0;
}
