/*
 * client.c — the client's life cycle: options, the order hosts are tried
 * in and the sleep between rounds (kombu's failover strategies and
 * retry_over_time intervals), what happens when a connection ends (fail
 * what was in flight, reconnect or give up), and closing.
 *
 * Work that must not happen inside an application's call — running
 * callbacks, freeing channels, failing everything on close — is queued and
 * done by one uv_prepare handle, which runs once per loop turn before the
 * loop polls. The same handle writes the turn's output in one write.
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

void keel_client_opts_init(keel_client_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->heartbeat = 60;
    o->frame_max = 131072;
    o->channel_max = 2047;
    o->failover = KEEL_CLIENT_FAILOVER_ROUND_ROBIN;
    o->retry_interval_ms = 1000;
    o->retry_backoff_ms = 2000;
    o->retry_interval_max_ms = 30000;
    o->connect_timeout_ms = 5000;
    o->close_timeout_ms = 3000;
    o->offline_publish = KEEL_CLIENT_OFFLINE_QUEUE;
    o->offline_queue_max = 16u << 20;
    o->ssl_verify = true;
}

int64_t keel__client_now(keel_client_t *c)
{
    return (int64_t)uv_now(c->loop);
}

int keel__client_reply_status(uint16_t code)
{
    switch (code) {
    case KEEL_AMQP_REPLY_SUCCESS:
        return 0;
    case KEEL_AMQP_NOT_FOUND:
        return KEEL_ENOENT;
    case KEEL_AMQP_ACCESS_REFUSED:
    case KEEL_AMQP_NOT_ALLOWED:
        return KEEL_EACCES;
    case KEEL_AMQP_RESOURCE_LOCKED:
        return KEEL_EBUSY;
    case KEEL_AMQP_PRECONDITION_FAILED:
        return KEEL_EVALUE;
    case KEEL_AMQP_CONNECTION_FORCED:
        return KEEL_ECONNRESET;
    default:
        return KEEL_EPROTO;
    }
}

/* ---- options ---- */

static const char *own(keel_client_t *c, const char *s, int *rc)
{
    if (s == NULL || *rc != 0)
        return NULL;
    char *p = keel__strdup(s);
    if (p == NULL || keel_vec_push(&c->owned, p) != 0) {
        keel__free(p);
        *rc = KEEL_ENOMEM;
        return NULL;
    }
    return p;
}

static bool short_ok(const char *s)
{
    return s == NULL || strlen(s) <= 255;
}

static int copy_opts(keel_client_t *c, const keel_client_opts_t *in)
{
    int rc = 0;
    c->opts = *in;
    static const keel_client_host_t local = {"127.0.0.1", 0};
    const keel_client_host_t *hosts = in->n_hosts ? in->hosts : &local;
    size_t n = in->n_hosts ? in->n_hosts : 1;
    if (hosts == NULL)
        return KEEL_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (hosts[i].host != NULL && (hosts[i].host[0] == '\0' || strlen(hosts[i].host) > 255))
            return KEEL_EINVAL;
    if (!short_ok(in->vhost) || !short_ok(in->product) || !short_ok(in->version))
        return KEEL_EINVAL;
    c->hosts = keel__calloc(n, sizeof(*c->hosts));
    c->order = keel__calloc(n, sizeof(*c->order));
    if (c->hosts == NULL || c->order == NULL)
        return KEEL_ENOMEM;
    c->n_hosts = n;
    for (size_t i = 0; i < n; i++) {
        c->hosts[i].host = own(c, hosts[i].host ? hosts[i].host : "127.0.0.1", &rc);
        c->hosts[i].port = hosts[i].port ? hosts[i].port : (in->ssl ? 5671 : KEEL_AMQP_PORT);
        c->order[i] = i;
    }
    c->opts.hosts = c->hosts;
    c->opts.n_hosts = n;
    c->opts.user = own(c, in->user ? in->user : "guest", &rc);
    c->opts.password = own(c, in->password ? in->password : "guest", &rc);
    c->opts.vhost = own(c, in->vhost ? in->vhost : "/", &rc);
    c->opts.product = own(c, in->product ? in->product : "keel", &rc);
    c->opts.version = own(c, in->version ? in->version : KEEL_CLIENT_VERSION, &rc);
    c->opts.connection_name = own(c, in->connection_name, &rc);
    c->opts.ssl_ca_file = own(c, in->ssl_ca_file, &rc);
    c->opts.ssl_cert_file = own(c, in->ssl_cert_file, &rc);
    c->opts.ssl_key_file = own(c, in->ssl_key_file, &rc);
    c->opts.ssl_server_name = own(c, in->ssl_server_name, &rc);
    if (c->opts.frame_max != 0 && c->opts.frame_max < KEEL_AMQP_FRAME_MIN_SIZE)
        c->opts.frame_max = KEEL_AMQP_FRAME_MIN_SIZE;
    return rc;
}

/* Fisher-Yates with the kernel's randomness; a failed read keeps the order. */
static void shuffle(keel_client_t *c)
{
    for (size_t i = c->n_hosts; i > 1; i--) {
        uint32_t r;
        if (keel_random_bytes(&r, sizeof(r)) != 0)
            return;
        size_t j = r % i;
        size_t t = c->order[i - 1];
        c->order[i - 1] = c->order[j];
        c->order[j] = t;
    }
}

/* ---- life cycle ---- */

static void on_prepare(uv_prepare_t *h);
static void on_retry(uv_timer_t *t);
static void on_connect_timeout(uv_timer_t *t);
static void on_close_timeout(uv_timer_t *t);

static void free_client(keel_client_t *c)
{
    for (size_t i = 0; i < c->owned.len; i++)
        keel__free(c->owned.items[i]);
    keel_vec_free(&c->owned);
    keel_vec_free(&c->rec_batch);
    keel__free(c->hosts);
    keel__free(c->order);
    keel__free(c->channels);
    keel_buf_free(&c->out);
    keel_buf_free(&c->server_props);
    keel__free(c->in);
    keel_map_free(&c->consumers);
    keel__ctls_ctx_free(c->tls_ctx);
    keel__free(c);
}

int keel_client_new(keel_client_t **out, uv_loop_t *loop, const keel_client_opts_t *opts)
{
    if (out == NULL || loop == NULL)
        return KEEL_EINVAL;
    keel_client_opts_t defaults;
    if (opts == NULL) {
        keel_client_opts_init(&defaults);
        opts = &defaults;
    }
    keel_client_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return KEEL_ENOMEM;
    c->loop = loop;
    keel_vec_init(&c->owned);
    keel_vec_init(&c->rec_batch);
    keel_buf_init(&c->out);
    keel_buf_init(&c->server_props);
    keel_map_init(&c->consumers);
    keel_list_init(&c->channel_list);
    keel_list_init(&c->assembling);
    keel_list_init(&c->zombies);
    keel_list_init(&c->topo);
    int rc = copy_opts(c, opts);
    if (rc != 0)
        goto fail;
    if (c->opts.ssl && (rc = keel__ctls_ctx_new(&c->tls_ctx, &c->opts)) != 0)
        goto fail;
    if (c->opts.failover == KEEL_CLIENT_FAILOVER_SHUFFLE)
        shuffle(c);
    /* Handles last: after this nothing fails, so no handle needs an async close here. */
    uv_timer_init(loop, &c->retry_timer);
    uv_timer_init(loop, &c->connect_timer);
    uv_timer_init(loop, &c->heartbeat_timer);
    uv_timer_init(loop, &c->close_timer);
    uv_prepare_init(loop, &c->prepare);
    c->retry_timer.data = c->connect_timer.data = c->heartbeat_timer.data = c->close_timer.data = c;
    c->prepare.data = c;
    c->open_handles = 5;
    c->state = CL_IDLE;
    *out = c;
    return 0;

fail:
    free_client(c);
    return rc;
}

uv_loop_t *keel_client_loop(const keel_client_t *c)
{
    return c->loop;
}

bool keel__client_connected(const keel_client_t *c)
{
    return c->state == CL_OPEN && !c->recovering;
}

bool keel_client_is_connected(const keel_client_t *c)
{
    return c != NULL && keel__client_connected(c);
}

int keel_client_info(const keel_client_t *c, keel_client_info_t *info)
{
    if (c == NULL || info == NULL)
        return KEEL_EINVAL;
    if (c->connections == 0)
        return KEEL_ENOENT;
    memset(info, 0, sizeof(*info));
    info->host = c->order[c->order_pos];
    info->channel_max = c->channel_max;
    info->frame_max = c->frame_max;
    info->heartbeat = c->heartbeat;
    info->blocked = c->blocked;
    info->connections = c->connections;
    info->product = c->server_product;
    info->version = c->server_version;
    return 0;
}

void keel__client_event(keel_client_t *c, keel_client_event_type_t type, int status, const keel_client_event_t *ev)
{
    if (c->opts.on_event == NULL)
        return;
    keel_client_event_t e = {0};
    if (ev != NULL)
        e = *ev;
    e.type = type;
    if (ev == NULL)
        e.host = c->order[c->order_pos];
    c->opts.on_event(c, status, &e, c->opts.event_data);
}

void keel__client_wake(keel_client_t *c)
{
    if (c->prepare_active)
        return;
    /* after finish() the handle is closing: nothing may start it again */
    if (c->state == CL_CLOSED && !c->finish_scheduled)
        return;
    uv_prepare_start(&c->prepare, on_prepare);
    c->prepare_active = true;
}

/* ---- connecting ---- */

static void attempt(keel_client_t *c)
{
    c->state = CL_CONNECTING;
    size_t h = c->order[c->order_pos];
    uv_timer_start(&c->connect_timer, on_connect_timeout, c->opts.connect_timeout_ms ? c->opts.connect_timeout_ms : 5000, 0);
    int rc = keel__cconn_start(c, h);
    if (rc != 0)
        keel__client_conn_lost(c, rc, 0, (keel_amqp_str_t){0});
}

static void on_retry(uv_timer_t *t)
{
    keel_client_t *c = t->data;
    if (c->state == CL_WAITING)
        attempt(c);
}

static void on_connect_timeout(uv_timer_t *t)
{
    keel_client_t *c = t->data;
    if (c->state == CL_CONNECTING)
        keel__client_conn_lost(c, KEEL_ETIMEDOUT, 0, (keel_amqp_str_t){0});
}

int keel_client_connect(keel_client_t *c, keel_client_cb cb, void *data)
{
    if (c == NULL)
        return KEEL_EINVAL;
    if (c->state == CL_CLOSING || c->state == CL_CLOSED)
        return KEEL_ECANCELED;
    if (c->connect_called)
        return KEEL_EBUSY;
    c->connect_called = true;
    c->connect_cb = cb;
    c->connect_data = data;
    c->connect_cb_pending = true;
    /* The first attempt starts from the loop, so that its failure events
     * never run inside this call. */
    c->state = CL_WAITING;
    uv_timer_start(&c->retry_timer, on_retry, 0, 0);
    return 0;
}

/* kombu's retry_over_time: interval_start, + interval_step per round, up to interval_max. */
static uint64_t backoff_ms(const keel_client_t *c, uint32_t round)
{
    uint64_t d = (uint64_t)c->opts.retry_interval_ms + (uint64_t)round * c->opts.retry_backoff_ms;
    if (d > c->opts.retry_interval_max_ms)
        d = c->opts.retry_interval_max_ms;
    return d;
}

/* An attempt failed before the connection opened: next host, or sleep after a full round. */
static void attempt_failed(keel_client_t *c, int status)
{
    c->last_error = status;
    c->state = CL_WAITING;
    keel__client_event(c, KEEL_CLIENT_EVENT_CONNECT_FAILED, status, NULL);
    if (c->state != CL_WAITING)
        return; /* closed from the callback */
    c->failures++;
    if (c->opts.max_retries != 0 && c->failures >= c->opts.max_retries) {
        keel__client_fail(c, status, 0, (keel_amqp_str_t){0});
        return;
    }
    uint64_t delay = 0;
    if (++c->tried >= c->n_hosts) {
        /* kombu's completes_cycle: every host failed once, sleep before the next round */
        delay = backoff_ms(c, c->round);
        c->round++;
        c->tried = 0;
        if (c->opts.failover == KEEL_CLIENT_FAILOVER_SHUFFLE) {
            shuffle(c);
            c->order_pos = 0;
        } else {
            c->order_pos = (c->order_pos + 1) % c->n_hosts;
        }
    } else {
        c->order_pos = (c->order_pos + 1) % c->n_hosts;
    }
    uv_timer_start(&c->retry_timer, on_retry, delay, 0);
}

/* Fails the queue of everything sent on the connection that just ended. */
static void channels_conn_lost(keel_client_t *c, int status)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->channel_list)
    {
        keel_client_channel_t *ch = keel_container_of(pos, keel_client_channel_t, link);
        keel__cchan_conn_lost(ch, status);
    }
    keel__crecov_reset(c);
}

void keel__client_conn_lost(keel_client_t *c, int status, uint16_t reply_code, keel_amqp_str_t reply_text)
{
    if (c->state == CL_CLOSING) {
        keel__client_close_done(c);
        return;
    }
    if (c->state != CL_OPEN && c->state != CL_CONNECTING)
        return;
    bool was_open = c->state == CL_OPEN;
    /* not connected from here on, also for the callbacks run below */
    c->state = CL_WAITING;
    keel__cconn_detach(c);
    uv_timer_stop(&c->connect_timer);
    uv_timer_stop(&c->heartbeat_timer);
    channels_conn_lost(c, KEEL_ECONNRESET);
    if (c->state != CL_WAITING)
        return; /* closed from a callback */
    if (!was_open) {
        attempt_failed(c, status);
        return;
    }
    c->state = CL_WAITING;
    keel_client_event_t ev = {.host = c->order[c->order_pos], .reply_code = reply_code, .reply_text = reply_text};
    keel__client_event(c, KEEL_CLIENT_EVENT_DISCONNECTED, status, &ev);
    if (c->state != CL_WAITING)
        return;
    /* As kombu: the same host first, then the others; sleep only after a full round. */
    c->tried = 0;
    c->round = 0;
    c->failures = 0;
    uv_timer_start(&c->retry_timer, on_retry, 0, 0);
}

static void kill_channels(keel_client_t *c, int status)
{
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &c->channel_list)
    {
        keel_client_channel_t *ch = keel_container_of(pos, keel_client_channel_t, link);
        if (ch->internal)
            keel__cchan_free(ch);
        else
            keel__cchan_kill(ch, status);
    }
}

void keel__client_fail(keel_client_t *c, int status, uint16_t reply_code, keel_amqp_str_t reply_text)
{
    if (c->state == CL_CLOSING || c->state == CL_CLOSED || c->state == CL_FAILED)
        return;
    keel__cconn_detach(c);
    uv_timer_stop(&c->connect_timer);
    uv_timer_stop(&c->heartbeat_timer);
    uv_timer_stop(&c->retry_timer);
    c->state = CL_FAILED;
    c->fail_status = status;
    channels_conn_lost(c, KEEL_ECONNRESET);
    kill_channels(c, status);
    keel_client_event_t ev = {.host = c->order[c->order_pos], .reply_code = reply_code, .reply_text = reply_text};
    keel__client_event(c, KEEL_CLIENT_EVENT_FAILED, status, &ev);
    if (c->connect_cb_pending && c->state == CL_FAILED) {
        c->connect_cb_pending = false;
        if (c->connect_cb)
            c->connect_cb(c, status, c->connect_data);
    }
}

void keel__client_opened(keel_client_t *c)
{
    uv_timer_stop(&c->connect_timer);
    c->state = CL_OPEN;
    c->connections++;
    c->tried = 0;
    c->round = 0;
    c->failures = 0;
    c->blocked = false;
    keel__cconn_heartbeat_start(c);
    keel__crecov_start(c);
}

void keel__client_recovered(keel_client_t *c)
{
    c->recovering = false;
    bool first = !c->ever_connected;
    c->ever_connected = true;
    keel_client_event_t ev = {.host = c->order[c->order_pos], .first = first};
    keel__client_event(c, first ? KEEL_CLIENT_EVENT_CONNECTED : KEEL_CLIENT_EVENT_RECONNECTED, 0, &ev);
    if (c->connect_cb_pending && c->state == CL_OPEN) {
        c->connect_cb_pending = false;
        if (c->connect_cb)
            c->connect_cb(c, 0, c->connect_data);
    }
}

/* ---- closing ---- */

static void maybe_closed(keel_client_t *c)
{
    if (c->state != CL_CLOSED || c->open_handles > 0 || c->live_xports > 0 || c->finish_scheduled)
        return;
    keel_client_cb cb = c->close_cb;
    c->close_cb = NULL;
    if (cb != NULL)
        cb(c, 0, c->close_data);
}

void keel__client_xport_gone(keel_client_t *c)
{
    c->live_xports--;
    maybe_closed(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    keel_client_t *c = h->data;
    c->open_handles--;
    maybe_closed(c);
}

/* Runs from the prepare callback: fail everything, then close the handles. */
static void finish(keel_client_t *c)
{
    c->finish_scheduled = false;
    keel__cconn_detach(c);
    uv_timer_stop(&c->connect_timer);
    uv_timer_stop(&c->heartbeat_timer);
    uv_timer_stop(&c->retry_timer);
    uv_timer_stop(&c->close_timer);
    channels_conn_lost(c, KEEL_ECANCELED);
    while (!keel_list_empty(&c->zombies)) {
        keel_client_channel_t *ch = keel_container_of(c->zombies.next, keel_client_channel_t, zlink);
        keel_list_remove(&ch->zlink);
        ch->zombie = false;
        keel__cchan_finish(ch, ch->finish_status);
    }
    while (!keel_list_empty(&c->channel_list)) {
        keel_client_channel_t *ch = keel_container_of(c->channel_list.next, keel_client_channel_t, link);
        if (ch->zombie) {
            keel_list_remove(&ch->zlink);
            ch->zombie = false;
        }
        keel__cchan_finish(ch, KEEL_ECANCELED);
    }
    keel__ctopo_clear(c);
    if (c->connect_cb_pending) {
        c->connect_cb_pending = false;
        if (c->connect_cb)
            c->connect_cb(c, KEEL_ECANCELED, c->connect_data);
    }
    if (c->prepare_active) {
        uv_prepare_stop(&c->prepare);
        c->prepare_active = false;
    }
    uv_close((uv_handle_t *)&c->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->connect_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->heartbeat_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->close_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->prepare, on_handle_closed);
}

static void schedule_finish(keel_client_t *c)
{
    c->state = CL_CLOSED;
    c->finish_scheduled = true;
    keel__client_wake(c);
}

void keel__client_close_done(keel_client_t *c)
{
    if (c->state != CL_CLOSING)
        return;
    uv_timer_stop(&c->close_timer);
    keel__cconn_detach(c);
    schedule_finish(c);
}

static void on_close_timeout(uv_timer_t *t)
{
    keel__client_close_done(t->data);
}

int keel_client_close(keel_client_t *c, keel_client_cb cb, void *data)
{
    if (c == NULL)
        return KEEL_EINVAL;
    if (c->state == CL_CLOSING || c->state == CL_CLOSED)
        return KEEL_EBUSY;
    c->close_cb = cb;
    c->close_data = data;
    uv_timer_stop(&c->retry_timer);
    if (c->state == CL_OPEN && c->x != NULL) {
        keel_amqp_method_t m = {.id = KEEL_AMQP_CONNECTION_CLOSE};
        m.connection_close.reply_code = KEEL_AMQP_REPLY_SUCCESS;
        m.connection_close.reply_text = KEEL_AMQP_STR("Goodbye");
        if (keel__cconn_send(c, 0, &m) == 0) {
            c->state = CL_CLOSING;
            uv_timer_stop(&c->heartbeat_timer);
            uv_timer_start(&c->close_timer, on_close_timeout, c->opts.close_timeout_ms ? c->opts.close_timeout_ms : 3000, 0);
            keel__client_wake(c);
            return 0;
        }
    }
    schedule_finish(c);
    return 0;
}

void keel_client_free(keel_client_t *c)
{
    if (c == NULL)
        return;
    free_client(c);
}

/* ---- the prepare handle ---- */

static void on_prepare(uv_prepare_t *h)
{
    keel_client_t *c = h->data;
    while (!keel_list_empty(&c->zombies)) {
        keel_client_channel_t *ch = keel_container_of(c->zombies.next, keel_client_channel_t, zlink);
        keel_list_remove(&ch->zlink);
        ch->zombie = false;
        keel__cchan_finish(ch, ch->finish_status);
    }
    if (c->finish_scheduled) {
        finish(c);
        return;
    }
    keel__crecov_check(c);
    keel__cconn_flush(c);
    if (keel_list_empty(&c->zombies) && !c->finish_scheduled) {
        uv_prepare_stop(&c->prepare);
        c->prepare_active = false;
    }
}
