/*
 * control.c — keeld's control socket, what `keel add_user` and the other
 * rabbitmqctl-like commands talk to. A UNIX stream socket in a directory
 * only keeld's user may enter (0700), so only that user (or root) can
 * administer the broker. One JSON request per line, one JSON reply per
 * line:
 *
 *   {"cmd": "add_user", "args": ["alice", "secret"], "vhost": "/"}
 *   {"ok": true, "result": ...}   or   {"ok": false, "error": "..."}
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_int.h"

typedef struct {
    uv_pipe_t pipe;
    keel_broker_t *broker;
    keel_buf_t in;
    keel_buf_t out;
    uv_write_t req;
    bool writing, closing;
} ctl_client_t;

static void client_closed(uv_handle_t *h)
{
    ctl_client_t *c = h->data;
    keel_buf_free(&c->in);
    keel_buf_free(&c->out);
    keel__free(c);
}

static void client_close(ctl_client_t *c)
{
    if (!c->closing) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->pipe, client_closed);
    }
}

static const struct {
    const char *name;
    keel_broker_list_t what;
} lists[] = {
    {"list_users", KEEL_BROKER_LIST_USERS},
    {"list_vhosts", KEEL_BROKER_LIST_VHOSTS},
    {"list_permissions", KEEL_BROKER_LIST_PERMISSIONS},
    {"list_queues", KEEL_BROKER_LIST_QUEUES},
    {"list_exchanges", KEEL_BROKER_LIST_EXCHANGES},
    {"list_bindings", KEEL_BROKER_LIST_BINDINGS},
    {"list_connections", KEEL_BROKER_LIST_CONNECTIONS},
    {"list_channels", KEEL_BROKER_LIST_CHANNELS},
    {"list_consumers", KEEL_BROKER_LIST_CONSUMERS},
};

static const char *arg(json_t *args, size_t i)
{
    return json_string_value(json_array_get(args, i));
}

/* Runs one request; returns the reply object. */
static json_t *run(keel_broker_t *b, json_t *req)
{
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    json_t *args = json_object_get(req, "args");
    const char *vhost = json_string_value(json_object_get(req, "vhost"));
    size_t n = json_array_size(args);
    char why[512] = "";
    int rc = KEEL_EINVAL;
    if (cmd == NULL)
        return json_pack("{s:b, s:s}", "ok", 0, "error", "no command");
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (strcmp(cmd, lists[i].name) == 0) {
            keel_buf_t out;
            keel_buf_init(&out);
            rc = keel_broker_list(b, lists[i].what, vhost, &out);
            json_t *reply =
                rc == 0 ? json_pack("{s:b, s:o}", "ok", 1, "result", json_loads(out.base, 0, NULL))
                        : json_pack("{s:b, s:s}", "ok", 0, "error", rc == KEEL_ENOENT ? "no such vhost" : keel_strerror(rc));
            keel_buf_free(&out);
            return reply;
        }
    }
    if (strcmp(cmd, "add_user") == 0 && n == 2)
        rc = keel_broker_add_user(b, arg(args, 0), arg(args, 1), why, sizeof(why));
    else if (strcmp(cmd, "delete_user") == 0 && n == 1)
        rc = keel_broker_delete_user(b, arg(args, 0), why, sizeof(why));
    else if (strcmp(cmd, "change_password") == 0 && n == 2)
        rc = keel_broker_change_password(b, arg(args, 0), arg(args, 1), why, sizeof(why));
    else if (strcmp(cmd, "set_user_tags") == 0 && n >= 1) {
        char tags[512] = "";
        for (size_t i = 1; i < n; i++)
            snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s%s", i > 1 ? "," : "", arg(args, i) ? arg(args, i) : "");
        rc = keel_broker_set_user_tags(b, arg(args, 0), tags, why, sizeof(why));
    } else if (strcmp(cmd, "add_vhost") == 0 && n == 1)
        rc = keel_broker_add_vhost(b, arg(args, 0), why, sizeof(why));
    else if (strcmp(cmd, "delete_vhost") == 0 && n == 1)
        rc = keel_broker_delete_vhost(b, arg(args, 0), why, sizeof(why));
    else if (strcmp(cmd, "set_permissions") == 0 && n == 4)
        rc = keel_broker_set_permissions(b, vhost ? vhost : "/", arg(args, 0), arg(args, 1), arg(args, 2), arg(args, 3), why,
                                         sizeof(why));
    else if (strcmp(cmd, "clear_permissions") == 0 && n == 1)
        rc = keel_broker_clear_permissions(b, vhost ? vhost : "/", arg(args, 0), why, sizeof(why));
    else if (strcmp(cmd, "status") == 0)
        return json_pack("{s:b, s:{s:i, s:I, s:I}}", "ok", 1, "result", "connections", (int)b->n_conns, "bytes_received",
                         (json_int_t)b->rx_bytes, "bytes_sent", (json_int_t)b->tx_bytes);
    else {
        snprintf(why, sizeof(why), "unknown command or wrong number of arguments: %s", cmd);
        rc = KEEL_EINVAL;
    }
    if (rc == 0)
        return json_pack("{s:b}", "ok", 1);
    return json_pack("{s:b, s:s}", "ok", 0, "error", why[0] ? why : keel_strerror(rc));
}

static void on_written(uv_write_t *req, int status)
{
    ctl_client_t *c = req->data;
    c->writing = false;
    keel_buf_reset(&c->out);
    if (status < 0)
        client_close(c);
}

static void reply(ctl_client_t *c, json_t *r)
{
    char *text = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    if (text == NULL || c->writing) {
        free(text);
        client_close(c);
        return;
    }
    keel_buf_puts(&c->out, text);
    keel_buf_putc(&c->out, '\n');
    free(text);
    uv_buf_t buf = uv_buf_init(c->out.base, (unsigned)c->out.len);
    c->req.data = c;
    c->writing = true;
    if (uv_write(&c->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) != 0)
        client_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    ctl_client_t *c = h->data;
    if (keel_buf_reserve(&c->in, 4096) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(c->in.base + c->in.len, (unsigned)(c->in.cap - c->in.len - 1));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ctl_client_t *c = s->data;
    if (nread < 0) {
        client_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    c->in.base[c->in.len] = '\0';
    char *nl = memchr(c->in.base, '\n', c->in.len);
    if (nl == NULL) {
        if (c->in.len > 1u << 20)
            client_close(c);
        return;
    }
    *nl = '\0';
    json_error_t err;
    json_t *req = json_loads(c->in.base, 0, &err);
    keel_buf_reset(&c->in);
    if (req == NULL) {
        reply(c, json_pack("{s:b, s:s}", "ok", 0, "error", "request is not JSON"));
        return;
    }
    reply(c, run(c->broker, req));
    json_decref(req);
}

static void on_connection(uv_stream_t *server, int status)
{
    keel_broker_t *b = server->data;
    if (status != 0)
        return;
    ctl_client_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->broker = b;
    keel_buf_init(&c->in);
    keel_buf_init(&c->out);
    uv_pipe_init(b->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        client_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

int keel_broker_control_path(uint16_t port, char *out, size_t size)
{
    int n = snprintf(out, size, "/tmp/keel-%u/keeld-%u.sock", (unsigned)getuid(), (unsigned)port);
    return n > 0 && (size_t)n < size ? 0 : KEEL_ERANGE;
}

int keel_broker_control_listen(keel_broker_t *b, const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return keel_from_errno(errno);
        /* a directory someone else made could let them in: refuse it */
        struct stat st;
        if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0)
            return KEEL_EACCES;
    }
    unlink(path);
    uv_pipe_init(b->loop, &b->control, 0);
    b->control.data = b;
    b->control_open = true;
    int rc = uv_pipe_bind(&b->control, path);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&b->control, 16, on_connection);
    if (rc == 0)
        chmod(path, 0600);
    return rc;
}
