/*
 * broker.c — a keeld instance: options, the listening socket, the
 * once-per-loop-turn work (deliveries due, output to write), users and
 * vhosts administration, and the definitions file.
 *
 * A uv_check handle runs after each poll: it makes the deliveries queued
 * while frames were handled and writes each connection's output once. A
 * uv_idle handle, started only while such work is pending, keeps the next
 * poll from blocking, so a busy broker batches without adding latency.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "broker_int.h"

void keel_broker_opts_init(keel_broker_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->bind_host = "127.0.0.1";
    o->port = 5672;
    o->channel_max = 2047;
    o->frame_max = 131072;
    o->heartbeat = 60;
    o->max_message_size = 128u * 1024 * 1024;
    o->output_high_water = 4u * 1024 * 1024;
    o->loopback_only_guest = true;
}

static const keel_conf_opt_t cli_opts[] = {
    {.name = "bind-host",
     .type = KEEL_CONF_HOST,
     .default_value = "127.0.0.1",
     .help = "Address keeld listens on for AMQP clients."},
    {.name = "port", .type = KEEL_CONF_PORT, .default_value = "5672", .help = "Port keeld listens on for AMQP clients."},
    {.name = "data-dir",
     .type = KEEL_CONF_STRING,
     .help = "Directory for keeld's state (users, vhosts, permissions); unset: keep nothing on disk."},
};

static const keel_conf_opt_t tuning_opts[] = {
    {.name = "heartbeat",
     .type = KEEL_CONF_INT,
     .default_value = "60",
     .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX,
     .min = 0,
     .max = 65535,
     .help = "Heartbeat timeout in seconds offered to clients (connection.tune); 0 disables heartbeats."},
    {.name = "frame_max",
     .type = KEEL_CONF_INT,
     .default_value = "131072",
     .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX,
     .min = 4096,
     .max = 2147483647,
     .help = "Largest frame in octets offered to clients."},
    {.name = "channel_max",
     .type = KEEL_CONF_INT,
     .default_value = "2047",
     .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX,
     .min = 1,
     .max = 65535,
     .help = "Most channels per connection offered to clients."},
    {.name = "max_message_size",
     .type = KEEL_CONF_INT,
     .default_value = "134217728",
     .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX,
     .min = 1,
     .max = 536870912,
     .help = "Largest message body in octets a publisher may send."},
    {.name = "loopback_users",
     .type = KEEL_CONF_LIST,
     .default_value = "guest",
     .help = "Users who may connect only from the loopback interface (RabbitMQ's loopback_users); empty: none."},
};

int keel_broker_register_opts(keel_conf_t *conf)
{
    int rc = keel_conf_register_cli_opts(conf, NULL, cli_opts, sizeof(cli_opts) / sizeof(cli_opts[0]));
    if (rc == 0)
        rc = keel_conf_register_group(conf, "broker", "broker options", "Tuning of keeld's AMQP listener.");
    if (rc == 0)
        rc = keel_conf_register_opts(conf, "broker", tuning_opts, sizeof(tuning_opts) / sizeof(tuning_opts[0]));
    return rc;
}

void keel_broker_opts_from_conf(const keel_conf_t *conf, keel_broker_opts_t *o)
{
    keel_broker_opts_init(o);
    o->bind_host = keel_conf_get_str(conf, NULL, "bind_host");
    o->port = (uint16_t)keel_conf_get_int(conf, NULL, "port", 5672);
    o->data_dir = keel_conf_get_str(conf, NULL, "data_dir");
    o->heartbeat = (uint16_t)keel_conf_get_int(conf, "broker", "heartbeat", 60);
    o->frame_max = (uint32_t)keel_conf_get_int(conf, "broker", "frame_max", 131072);
    o->channel_max = (uint16_t)keel_conf_get_int(conf, "broker", "channel_max", 2047);
    o->max_message_size = (uint64_t)keel_conf_get_int(conf, "broker", "max_message_size", 134217728);
    const keel_conf_value_t *v;
    o->loopback_only_guest = true;
    if (keel_conf_get(conf, "broker", "loopback_users", &v) == 0 && v->kind == KEEL_CONF_VLIST) {
        o->loopback_only_guest = false;
        for (size_t i = 0; i < v->len; i++)
            if (v->u.items[i].kind == KEEL_CONF_VSTR && strcmp(v->u.items[i].u.s, "guest") == 0)
                o->loopback_only_guest = true;
    }
}

/* ---- loop-turn work ---- */

void keel__broker_idle_cb(uv_idle_t *h)
{
    (void)h; /* only keeps poll from blocking while work is pending */
}

static void on_check(uv_check_t *h)
{
    keel_broker_t *b = h->data;
    keel__broker_run_deliveries(b);
    while (!keel_list_empty(&b->flush_conns)) {
        conn_t *c = keel_container_of(b->flush_conns.next, conn_t, flush_link);
        keel__conn_flush(c); /* removes it from the list */
    }
    if (keel_list_empty(&b->dirty_queues))
        uv_idle_stop(&b->deliver_idle);
}

/* ---- definitions file ---- */

static void set_why(char *why, size_t why_len, const char *fmt, const char *arg)
{
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, fmt, arg);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

static int unbase64(const char *in, uint8_t *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(b64, *in);
        if (p == NULL)
            return -1;
        acc = acc << 6 | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)o;
}

static int save_definitions(keel_broker_t *b)
{
    if (b->data_dir == NULL)
        return 0;
    json_t *root = json_object(), *users = json_array(), *vhosts = json_array(), *perms = json_array();
    size_t pos = 0;
    void *v;
    while (keel_map_next(&b->users, &pos, NULL, NULL, &v)) {
        user_t *u = v;
        char hash[64] = "";
        if (u->has_password) {
            uint8_t raw[36];
            memcpy(raw, u->salt, 4);
            memcpy(raw + 4, u->hash, 32);
            base64(raw, sizeof(raw), hash);
        }
        json_array_append_new(users, json_pack("{s:s, s:s, s:s, s:s}", "name", u->name, "password_hash", hash, "hashing_algorithm",
                                               "rabbit_password_hashing_sha256", "tags", u->tags));
        size_t pp = 0;
        const void *vname;
        void *pv;
        while (keel_map_next(&u->perms, &pp, &vname, NULL, &pv)) {
            perm_t *p = pv;
            json_array_append_new(perms, json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", u->name, "vhost", (const char *)vname,
                                                   "configure", p->configure, "write", p->write, "read", p->read));
        }
    }
    pos = 0;
    while (keel_map_next(&b->vhosts, &pos, NULL, NULL, &v))
        json_array_append_new(vhosts, json_pack("{s:s}", "name", ((vhost_t *)v)->name));
    json_object_set_new(root, "users", users);
    json_object_set_new(root, "vhosts", vhosts);
    json_object_set_new(root, "permissions", perms);
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/definitions.json", b->data_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int rc = json_dump_file(root, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 && rename(tmp, path) == 0 ? 0 : KEEL_EIO;
    json_decref(root);
    return rc;
}

static int load_definitions(keel_broker_t *b)
{
    if (b->data_dir == NULL)
        return 0;
    char path[4096];
    snprintf(path, sizeof(path), "%s/definitions.json", b->data_dir);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (root == NULL)
        return keel_read_file(path, &(keel_buf_t){0}) == KEEL_ENOENT ? 0 : KEEL_EPARSE;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(root, "vhosts"), i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        vhost_t *v;
        if (name && keel__vhost_find(b, name, strlen(name)) == NULL)
            keel__vhost_new(b, name, &v);
    }
    json_array_foreach(json_object_get(root, "users"), i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *hash = json_string_value(json_object_get(item, "password_hash"));
        const char *tags = json_string_value(json_object_get(item, "tags"));
        if (name == NULL)
            continue;
        user_t *u = keel__user_find(b, name, strlen(name));
        if (u == NULL && keel__user_add(b, name, NULL, tags) == 0)
            u = keel__user_find(b, name, strlen(name));
        uint8_t raw[40];
        if (u != NULL && hash && unbase64(hash, raw, sizeof(raw)) == 36) {
            memcpy(u->salt, raw, 4);
            memcpy(u->hash, raw + 4, 32);
            u->has_password = true;
        }
    }
    json_array_foreach(json_object_get(root, "permissions"), i, item)
    {
        char why[256];
        const char *s[5];
        static const char *const keys[] = {"user", "vhost", "configure", "write", "read"};
        bool ok = true;
        for (int k = 0; k < 5; k++)
            ok = ok && (s[k] = json_string_value(json_object_get(item, keys[k]))) != NULL;
        if (ok)
            keel__perm_set(b, s[0], s[1], s[2], s[3], s[4], why, sizeof(why));
    }
    json_decref(root);
    return 0;
}

/* ---- life cycle ---- */

int keel_broker_new(keel_broker_t **out, uv_loop_t *loop, const keel_broker_opts_t *opts)
{
    keel_broker_t *b = keel__calloc(1, sizeof(*b));
    if (b == NULL)
        return KEEL_ENOMEM;
    b->loop = loop;
    if (opts)
        b->opts = *opts;
    else
        keel_broker_opts_init(&b->opts);
    b->bind_host = keel__strdup(b->opts.bind_host ? b->opts.bind_host : "127.0.0.1");
    b->data_dir = b->opts.data_dir ? keel__strdup(b->opts.data_dir) : NULL;
    b->opts.bind_host = b->bind_host;
    b->opts.data_dir = b->data_dir;
    keel_map_init(&b->vhosts);
    keel_map_init(&b->users);
    keel_list_init(&b->conns);
    keel_list_init(&b->dirty_queues);
    keel_list_init(&b->flush_conns);
    uv_check_init(loop, &b->deliver_check);
    uv_idle_init(loop, &b->deliver_idle);
    b->deliver_check.data = b->deliver_idle.data = b;
    uv_check_start(&b->deliver_check, on_check);
    uv_unref((uv_handle_t *)&b->deliver_check);
    vhost_t *v;
    char why[256];
    int rc = b->bind_host ? keel__vhost_new(b, "/", &v) : KEEL_ENOMEM;
    if (rc == 0)
        rc = keel__user_add(b, "guest", "guest", "administrator");
    if (rc == 0)
        rc = keel__perm_set(b, "guest", "/", ".*", ".*", ".*", why, sizeof(why));
    if (rc == 0)
        rc = load_definitions(b);
    if (rc != 0) {
        keel_broker_close(b, NULL, NULL);
        keel_broker_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status == 0)
        keel__conn_accept(server->data, server);
}

int keel_broker_listen(keel_broker_t *b)
{
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(b->bind_host, b->opts.port, (struct sockaddr_in *)&addr);
    if (rc != 0)
        rc = uv_ip6_addr(b->bind_host, b->opts.port, (struct sockaddr_in6 *)&addr);
    if (rc != 0)
        return rc;
    uv_tcp_init(b->loop, &b->listener);
    b->listener.data = b;
    b->listening = true;
    rc = uv_tcp_bind(&b->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&b->listener, 511, on_connection);
    return rc;
}

uint16_t keel_broker_port(const keel_broker_t *b)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (!b->listening || uv_tcp_getsockname(&b->listener, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void keel_broker_close(keel_broker_t *b, keel_broker_close_cb cb, void *data)
{
    b->closing = true;
    b->close_cb = cb;
    b->close_data = data;
    if (b->listening) {
        uv_close((uv_handle_t *)&b->listener, NULL);
        b->listening = false;
    }
    if (b->control_open) {
        uv_close((uv_handle_t *)&b->control, NULL);
        b->control_open = false;
    }
    while (!keel_list_empty(&b->conns)) {
        conn_t *c = keel_container_of(b->conns.next, conn_t, link);
        if (c->state == CONN_OPEN)
            keel__conn_error(c, KEEL_AMQP_CONNECTION_FORCED, 0, "broker shutdown");
        keel__conn_close(c);
    }
    /* vhosts hold queue timers: delete them now so their handles close */
    while (b->vhosts.len > 0) {
        size_t pos = 0;
        void *v;
        keel_map_next(&b->vhosts, &pos, NULL, NULL, &v);
        keel_map_remove(&b->vhosts, ((vhost_t *)v)->name, strlen(((vhost_t *)v)->name));
        keel__vhost_free(v);
    }
    uv_close((uv_handle_t *)&b->deliver_check, NULL);
    uv_close((uv_handle_t *)&b->deliver_idle, NULL);
    if (cb != NULL)
        cb(b, data);
}

void keel_broker_free(keel_broker_t *b)
{
    if (b == NULL)
        return;
    size_t pos = 0;
    void *u;
    while (keel_map_next(&b->users, &pos, NULL, NULL, &u))
        keel__user_free(u);
    keel_map_free(&b->users);
    keel_map_free(&b->vhosts);
    keel__free(b->bind_host);
    keel__free(b->data_dir);
    keel__free(b);
}

/* ---- administration ---- */

static bool valid_name(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= 255;
}

int keel_broker_add_user(keel_broker_t *b, const char *name, const char *password, char *why, size_t why_len)
{
    if (!valid_name(name)) {
        set_why(why, why_len, "invalid user name '%s'", name ? name : "");
        return KEEL_EINVAL;
    }
    int rc = keel__user_add(b, name, password, "");
    if (rc == KEEL_EEXIST)
        set_why(why, why_len, "user '%s' already exists", name);
    return rc ? rc : save_definitions(b);
}

int keel_broker_delete_user(keel_broker_t *b, const char *name, char *why, size_t why_len)
{
    int rc = keel__user_delete(b, name);
    if (rc == KEEL_ENOENT)
        set_why(why, why_len, "no such user '%s'", name);
    return rc ? rc : save_definitions(b);
}

int keel_broker_change_password(keel_broker_t *b, const char *name, const char *password, char *why, size_t why_len)
{
    int rc = keel__user_set_password(b, name, password);
    if (rc == KEEL_ENOENT)
        set_why(why, why_len, "no such user '%s'", name);
    return rc ? rc : save_definitions(b);
}

int keel_broker_set_user_tags(keel_broker_t *b, const char *name, const char *tags, char *why, size_t why_len)
{
    user_t *u = keel__user_find(b, name, strlen(name));
    if (u == NULL) {
        set_why(why, why_len, "no such user '%s'", name);
        return KEEL_ENOENT;
    }
    char *t = keel__strdup(tags ? tags : "");
    if (t == NULL)
        return KEEL_ENOMEM;
    keel__free(u->tags);
    u->tags = t;
    return save_definitions(b);
}

int keel_broker_add_vhost(keel_broker_t *b, const char *name, char *why, size_t why_len)
{
    if (!valid_name(name)) {
        set_why(why, why_len, "invalid vhost name '%s'", name ? name : "");
        return KEEL_EINVAL;
    }
    if (keel__vhost_find(b, name, strlen(name)) != NULL) {
        set_why(why, why_len, "vhost '%s' already exists", name);
        return KEEL_EEXIST;
    }
    vhost_t *v;
    int rc = keel__vhost_new(b, name, &v);
    return rc ? rc : save_definitions(b);
}

int keel_broker_delete_vhost(keel_broker_t *b, const char *name, char *why, size_t why_len)
{
    vhost_t *v = keel__vhost_find(b, name, strlen(name));
    if (v == NULL) {
        set_why(why, why_len, "no such vhost '%s'", name);
        return KEEL_ENOENT;
    }
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &b->conns)
    {
        conn_t *c = keel_container_of(pos, conn_t, link);
        if (c->vhost == v) {
            keel__conn_error(c, KEEL_AMQP_CONNECTION_FORCED, 0, "vhost '%s' is deleted", name);
            keel__conn_close(c);
        }
    }
    size_t p = 0;
    void *u;
    while (keel_map_next(&b->users, &p, NULL, NULL, &u))
        keel__perm_clear(b, ((user_t *)u)->name, name);
    keel_map_remove(&b->vhosts, v->name, strlen(v->name));
    keel__vhost_free(v);
    return save_definitions(b);
}

int keel_broker_set_permissions(keel_broker_t *b, const char *vhost, const char *user, const char *configure, const char *write,
                                const char *read, char *why, size_t why_len)
{
    char buf[512];
    int rc = keel__perm_set(b, user, vhost, configure, write, read, buf, sizeof(buf));
    if (rc != 0)
        set_why(why, why_len, "%s", buf);
    return rc ? rc : save_definitions(b);
}

int keel_broker_clear_permissions(keel_broker_t *b, const char *vhost, const char *user, char *why, size_t why_len)
{
    int rc = keel__perm_clear(b, user, vhost);
    if (rc == KEEL_ENOENT)
        set_why(why, why_len, "no permissions for user '%s' in that vhost", user);
    return rc ? rc : save_definitions(b);
}

/* ---- listing ---- */

static json_t *str_n(const char *s, size_t n)
{
    return json_stringn(s, n);
}

static void list_queues(vhost_t *v, json_t *arr)
{
    size_t pos = 0;
    void *item;
    while (keel_map_next(&v->queues, &pos, NULL, NULL, &item)) {
        queue_t *q = item;
        size_t ready = keel__queue_ready(q);
        json_array_append_new(arr,
                              json_pack("{s:o, s:I, s:I, s:I, s:I, s:b, s:b, s:b}", "name", str_n(q->name, q->name_len), "messages",
                                        (json_int_t)(ready + q->unacked), "messages_ready", (json_int_t)ready,
                                        "messages_unacknowledged", (json_int_t)q->unacked, "consumers", (json_int_t)q->n_consumers,
                                        "durable", q->durable, "auto_delete", q->auto_delete, "exclusive", q->exclusive));
    }
}

static void list_exchanges(vhost_t *v, json_t *arr)
{
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:b, s:b, s:b}", "name", "", "type", "direct", "durable", 1, "auto_delete", 0, "internal", 0));
    size_t pos = 0;
    void *item;
    while (keel_map_next(&v->exchanges, &pos, NULL, NULL, &item)) {
        exchange_t *x = item;
        json_array_append_new(arr, json_pack("{s:o, s:s, s:b, s:b, s:b}", "name", str_n(x->name, x->name_len), "type",
                                             keel__exchange_type_name(x->type), "durable", x->durable, "auto_delete",
                                             x->auto_delete, "internal", x->internal));
    }
}

static void list_bindings(vhost_t *v, json_t *arr)
{
    /* the default exchange's implicit bindings first, as rabbitmqctl */
    size_t pos = 0;
    void *item;
    while (keel_map_next(&v->queues, &pos, NULL, NULL, &item)) {
        queue_t *q = item;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:s, s:o}", "source_name", "", "source_kind", "exchange",
                                             "destination_name", str_n(q->name, q->name_len), "destination_kind", "queue",
                                             "routing_key", str_n(q->name, q->name_len)));
    }
    pos = 0;
    while (keel_map_next(&v->exchanges, &pos, NULL, NULL, &item)) {
        exchange_t *x = item;
        keel_link_t *l, *tmp;
        keel_list_foreach_safe(l, tmp, &x->bindings)
        {
            binding_t *bd = keel_container_of(l, binding_t, by_source);
            const char *dname = bd->kind == DEST_QUEUE ? ((queue_t *)bd->dest)->name : ((exchange_t *)bd->dest)->name;
            size_t dlen = bd->kind == DEST_QUEUE ? ((queue_t *)bd->dest)->name_len : ((exchange_t *)bd->dest)->name_len;
            json_array_append_new(arr, json_pack("{s:o, s:s, s:o, s:s, s:o}", "source_name", str_n(x->name, x->name_len),
                                                 "source_kind", "exchange", "destination_name", str_n(dname, dlen),
                                                 "destination_kind", bd->kind == DEST_QUEUE ? "queue" : "exchange", "routing_key",
                                                 str_n(bd->key, bd->key_len)));
        }
    }
}

static void list_consumers(vhost_t *v, json_t *arr)
{
    size_t pos = 0;
    void *item;
    while (keel_map_next(&v->queues, &pos, NULL, NULL, &item)) {
        queue_t *q = item;
        keel_link_t *l, *tmp;
        keel_list_foreach_safe(l, tmp, &q->consumers)
        {
            consumer_t *c = keel_container_of(l, consumer_t, by_queue);
            json_array_append_new(arr, json_pack("{s:o, s:o, s:s, s:i, s:b, s:b, s:i}", "queue_name", str_n(q->name, q->name_len),
                                                 "consumer_tag", str_n(c->tag, c->tag_len), "channel_pid", c->channel->conn->peer,
                                                 "channel", c->channel->id, "ack_required", !c->no_ack, "exclusive", c->exclusive,
                                                 "prefetch_count", c->prefetch));
        }
    }
}

int keel_broker_list(keel_broker_t *b, keel_broker_list_t what, const char *vhost, keel_buf_t *out)
{
    const char *vname = vhost ? vhost : "/";
    vhost_t *v = keel__vhost_find(b, vname, strlen(vname));
    json_t *arr = json_array();
    size_t pos = 0;
    void *item;
    switch (what) {
    case KEEL_BROKER_LIST_USERS:
        while (keel_map_next(&b->users, &pos, NULL, NULL, &item))
            json_array_append_new(arr, json_pack("{s:s, s:s}", "user", ((user_t *)item)->name, "tags", ((user_t *)item)->tags));
        break;
    case KEEL_BROKER_LIST_VHOSTS:
        while (keel_map_next(&b->vhosts, &pos, NULL, NULL, &item))
            json_array_append_new(arr, json_pack("{s:s}", "name", ((vhost_t *)item)->name));
        break;
    case KEEL_BROKER_LIST_CONNECTIONS: {
        keel_link_t *l, *tmp;
        keel_list_foreach_safe(l, tmp, &b->conns)
        {
            conn_t *c = keel_container_of(l, conn_t, link);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i, s:s}", "user", c->user_name ? c->user_name : "", "peer_host",
                                                 c->peer, "vhost", c->vhost ? c->vhost->name : "", "channels", (int)c->n_channels,
                                                 "state", c->state == CONN_OPEN ? "running" : "starting"));
        }
        break;
    }
    case KEEL_BROKER_LIST_CHANNELS: {
        keel_link_t *l, *tmp;
        keel_list_foreach_safe(l, tmp, &b->conns)
        {
            conn_t *c = keel_container_of(l, conn_t, link);
            for (size_t i = 0; c->channels && i <= c->channel_max; i++) {
                channel_t *ch = c->channels[i];
                if (ch != NULL)
                    json_array_append_new(arr,
                                          json_pack("{s:s, s:i, s:s, s:I, s:b, s:b}", "connection", c->peer, "number", (int)i,
                                                    "user", c->user_name ? c->user_name : "", "messages_unacknowledged",
                                                    (json_int_t)ch->unacked_len, "confirm", ch->confirm, "transactional", ch->tx));
            }
        }
        break;
    }
    case KEEL_BROKER_LIST_PERMISSIONS:
        if (v == NULL)
            break;
        while (keel_map_next(&b->users, &pos, NULL, NULL, &item)) {
            user_t *u = item;
            perm_t *p = keel_map_get(&u->perms, vname, strlen(vname));
            if (p != NULL)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "user", u->name, "configure", p->configure, "write",
                                                     p->write, "read", p->read));
        }
        break;
    case KEEL_BROKER_LIST_QUEUES:
        if (v)
            list_queues(v, arr);
        break;
    case KEEL_BROKER_LIST_EXCHANGES:
        if (v)
            list_exchanges(v, arr);
        break;
    case KEEL_BROKER_LIST_BINDINGS:
        if (v)
            list_bindings(v, arr);
        break;
    case KEEL_BROKER_LIST_CONSUMERS:
        if (v)
            list_consumers(v, arr);
        break;
    }
    bool needs_vhost = what != KEEL_BROKER_LIST_USERS && what != KEEL_BROKER_LIST_VHOSTS && what != KEEL_BROKER_LIST_CONNECTIONS &&
                       what != KEEL_BROKER_LIST_CHANNELS;
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (text == NULL)
        return KEEL_ENOMEM;
    int rc = (needs_vhost && v == NULL) ? KEEL_ENOENT : keel_buf_puts(out, text);
    free(text);
    return rc;
}
