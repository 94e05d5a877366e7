/*
 * cmd_messaging.c — `keel rpc` and `keel notify`: an operator's hands on
 * the message bus (issue 4): call or cast any RPC method of any service,
 * run a diagnostic RPC server, send a notification, print the
 * notifications passing by. The command line goes through keel_conf, so
 * --config-file and every oslo.messaging option ([oslo_messaging_rabbit]
 * ...) work as they do for a service.
 *
 *   keel rpc call URL TOPIC METHOD [--server S] [--args JSON] [--timeout T]
 *   keel rpc cast URL TOPIC METHOD [--server S] [--args JSON] [--fanout]
 *   keel rpc serve URL TOPIC [--server S]
 *   keel notify send URL --publisher-id P --event-type E --priority info --payload JSON
 *   keel notify listen URL [--topic notifications] [--pool P] [--count N] [--requeue N]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <keel/conf.h>
#include <keel/log.h>
#include <keel/messaging.h>

#include "commands.h"

/* ---- what every subcommand shares ---- */

typedef struct {
    const char *prog; /* "keel rpc call" */
    keel_conf_t *conf;
    uv_loop_t loop;
    keel_messaging_transport_t *transport;
    bool loop_ready;
    uv_signal_t sigint, sigterm;
    bool signals;
    void (*on_signal)(void *data);
    void *signal_data;
    int status; /* the exit status */
} session_t;

static const char *opt_str(const session_t *s, const char *name)
{
    const keel_conf_value_t *v;
    if (keel_conf_get(s->conf, NULL, name, &v) != 0 || v->kind != KEEL_CONF_VSTR)
        return NULL;
    return v->u.s;
}

static bool opt_bool(const session_t *s, const char *name)
{
    const keel_conf_value_t *v;
    return keel_conf_get(s->conf, NULL, name, &v) == 0 && v->kind == KEEL_CONF_VBOOL && v->u.b;
}

static double opt_float(const session_t *s, const char *name, double fallback)
{
    const keel_conf_value_t *v;
    if (keel_conf_get(s->conf, NULL, name, &v) != 0)
        return fallback;
    if (v->kind == KEEL_CONF_VFLOAT)
        return v->u.f;
    if (v->kind == KEEL_CONF_VINT)
        return (double)v->u.i;
    return fallback;
}

/* A NULL-terminated array of a MULTI option's items (borrowed from conf), or NULL when empty. */
static const char **opt_multi(const session_t *s, const char *name)
{
    const keel_conf_value_t *v;
    if (keel_conf_get(s->conf, NULL, name, &v) != 0 || v->kind != KEEL_CONF_VLIST || v->len == 0)
        return NULL;
    const char **out = calloc(v->len + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < v->len; i++)
        out[i] = v->u.items[i].u.s;
    return out;
}

/*
 * Reads a JSON option: NULL when unset, else a new reference. An object is
 * required when must_be_object. Sets s->status 2 and says why on failure.
 */
static int opt_json(session_t *s, const char *name, bool must_be_object, json_t **out)
{
    *out = NULL;
    const char *text = opt_str(s, name);
    if (text == NULL)
        return 0;
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (v == NULL) {
        fprintf(stderr, "%s: --%s is not JSON: %s (column %d)\n", s->prog, name, err.text, err.column);
        s->status = 2;
        return KEEL_EVALUE;
    }
    if (must_be_object && !json_is_object(v)) {
        fprintf(stderr, "%s: --%s must be a JSON object\n", s->prog, name);
        json_decref(v);
        s->status = 2;
        return KEEL_EVALUE;
    }
    *out = v;
    return 0;
}

/* Prints v as Python's json.dumps() would (", " and ": " separators), then a newline. */
static void print_json(FILE *f, const json_t *v)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    fprintf(f, "%s\n", text != NULL ? text : "null");
    free(text);
    fflush(f);
}

static const keel_conf_opt_t common_opts[] = {
    {.name = "url", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_POSITIONAL | KEEL_CONF_REQUIRED, .metavar = "URL",
     .help = "Transport URL, e.g. rabbit://guest:guest@127.0.0.1:5672/ (oslo.messaging's grammar)."},
};

/* Options of one subcommand, then the shared ones, then oslo.messaging's and logging's; parses argv. */
static int session_open(session_t *s, const char *prog, const char *description, const keel_conf_opt_t *opts, size_t n,
                        int argc, char **argv)
{
    memset(s, 0, sizeof(*s));
    s->prog = prog;
    s->status = 1;
    if (keel_conf_new(&s->conf) != 0 || keel_conf_register_cli_opts(s->conf, NULL, common_opts, 1) != 0 ||
        keel_conf_register_cli_opts(s->conf, NULL, opts, n) != 0 || keel_messaging_register_opts(s->conf) != 0 ||
        keel_log_register_opts(s->conf) != 0) {
        fprintf(stderr, "%s: %s\n", prog, s->conf != NULL ? keel_conf_error(s->conf) : "out of memory");
        return KEEL_ENOMEM;
    }
    static const char *const no_files[] = {NULL};
    keel_conf_setup_t setup = {.project = "keel",
                               .prog = prog,
                               .version = KEEL_VERSION,
                               .description = description,
                               .default_config_files = no_files,
                               .default_config_dirs = no_files};
    argv[0] = (char *)prog;
    int rc = keel_conf_parse(s->conf, argc, argv, &setup);
    if (rc == KEEL_EEXIT) {
        s->status = 0;
        return rc;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, keel_conf_error(s->conf));
        s->status = rc == KEEL_EUSAGE ? 2 : 1;
        return rc;
    }
    rc = keel_log_setup(s->conf, "keel");
    if (rc != 0) {
        fprintf(stderr, "%s: logging: %s\n", prog, keel_strerror(rc));
        return rc;
    }
    return 0;
}

/* Makes the loop and the transport from the URL argument. */
static int session_connect(session_t *s, bool notifications)
{
    int rc = uv_loop_init(&s->loop);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", s->prog, uv_strerror(rc));
        return rc;
    }
    s->loop_ready = true;
    keel_buf_t why;
    keel_buf_init(&why);
    keel_messaging_transport_opts_t o = {.url = opt_str(s, "url"), .notifications = notifications, .error = &why};
    rc = keel_messaging_transport_new(&s->transport, &s->loop, s->conf, &o);
    if (rc != 0) {
        if (why.len > 0)
            fprintf(stderr, "%s: %.*s\n", s->prog, (int)why.len, why.base);
        else
            fprintf(stderr, "%s: %s\n", s->prog, keel_messaging_strerror(rc));
        s->transport = NULL;
    }
    keel_buf_free(&why);
    return rc;
}

static void transport_closed(keel_messaging_transport_t *t, void *data)
{
    (void)t;
    session_t *s = data;
    s->transport = NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    session_t *s = h->data;
    if (s->on_signal != NULL) {
        void (*fn)(void *) = s->on_signal;
        s->on_signal = NULL; /* a second ^C while stopping does nothing more */
        fn(s->signal_data);
    }
}

/* SIGINT and SIGTERM call fn(data) once: a server's graceful stop. */
static void session_on_signal(session_t *s, void (*fn)(void *data), void *data)
{
    s->on_signal = fn;
    s->signal_data = data;
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_unref((uv_handle_t *)&s->sigint);
    uv_unref((uv_handle_t *)&s->sigterm);
    s->signals = true;
}

/*
 * The work is done: closes the transport and the signal handles, so that
 * uv_run() returns once they are closed. Called from callbacks, and by
 * session_close() for what is still open.
 */
static void session_end(session_t *s)
{
    if (s->transport != NULL && keel_messaging_transport_close(s->transport, transport_closed, s) != 0) {
        fprintf(stderr, "%s: the transport is still in use\n", s->prog);
        uv_stop(&s->loop);
    }
    if (s->signals) {
        uv_close((uv_handle_t *)&s->sigint, NULL);
        uv_close((uv_handle_t *)&s->sigterm, NULL);
        s->signals = false;
    }
}

/* Frees the session, first running the loop until what session_end() closed is closed. */
static void session_close(session_t *s)
{
    if (s->loop_ready) {
        session_end(s);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    keel_conf_free(s->conf);
}

/* ---- keel rpc call / cast ---- */

static const keel_conf_opt_t send_opts[] = {
    {.name = "topic", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_POSITIONAL | KEEL_CONF_REQUIRED, .metavar = "TOPIC",
     .help = "The topic the service listens on (e.g. compute, conductor)."},
    {.name = "method", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_POSITIONAL | KEEL_CONF_REQUIRED, .metavar = "METHOD",
     .help = "The RPC method to run."},
    {.name = "server", .type = KEEL_CONF_STRING, .metavar = "S", .help = "Send to this server of the topic only."},
    {.name = "args", .type = KEEL_CONF_STRING, .metavar = "JSON", .default_value = "{}",
     .help = "Keyword arguments of the method, a JSON object."},
    {.name = "context", .type = KEEL_CONF_STRING, .metavar = "JSON",
     .help = "The request context, a JSON object (oslo.context's to_dict(): request_id, user, project_id, roles, ...)."},
    {.name = "exchange", .type = KEEL_CONF_STRING, .metavar = "X", .help = "Exchange (default: control_exchange)."},
    {.name = "namespace", .type = KEEL_CONF_STRING, .metavar = "NS", .help = "The endpoint namespace to address."},
    {.name = "target-version", .type = KEEL_CONF_STRING, .metavar = "M.N", .help = "The RPC API version the request asks for."},
    {.name = "timeout", .type = KEEL_CONF_FLOAT, .metavar = "T",
     .help = "Seconds a call waits for its reply (default: rpc_response_timeout)."},
    {.name = "retry", .type = KEEL_CONF_INT, .default_value = "-1", .metavar = "N",
     .help = "Connection retries before giving up: -1 forever, 0 none."},
    {.name = "fanout", .type = KEEL_CONF_BOOL, .default_value = "false",
     .help = "cast only: every server on the topic gets a copy."},
};

typedef struct {
    session_t s;
    keel_messaging_rpc_client_t *client;
} sender_t;

static void call_done(keel_messaging_rpc_client_t *c, int status, json_t *result, const keel_messaging_error_t *error,
                      void *data)
{
    (void)c;
    sender_t *x = data;
    if (status == 0) {
        print_json(stdout, result);
        x->s.status = 0;
    } else if (status == KEEL_MESSAGING_EREMOTE && error != NULL) {
        keel_buf_t b;
        keel_buf_init(&b);
        if (keel_messaging_error_format(error, &b) == 0)
            fprintf(stderr, "%s: %s.%s: %.*s\n", x->s.prog, error->exc_module, error->exc_class, (int)b.len, b.base);
        keel_buf_free(&b);
    } else if (status == KEEL_ETIMEDOUT) {
        fprintf(stderr, "%s: no reply within the timeout (MessagingTimeout)\n", x->s.prog);
    } else {
        fprintf(stderr, "%s: %s\n", x->s.prog, keel_messaging_strerror(status));
    }
    keel_messaging_rpc_client_free(x->client);
    x->client = NULL;
    session_end(&x->s);
}

static void cast_done(keel_messaging_rpc_client_t *c, int status, void *data)
{
    (void)c;
    sender_t *x = data;
    if (status == 0)
        x->s.status = 0;
    else
        fprintf(stderr, "%s: %s\n", x->s.prog, keel_messaging_strerror(status));
    keel_messaging_rpc_client_free(x->client);
    x->client = NULL;
    session_end(&x->s);
}

static int rpc_send(int argc, char **argv, bool call)
{
    sender_t x;
    session_t *s = &x.s;
    x.client = NULL;
    const char *prog = call ? "keel rpc call" : "keel rpc cast";
    const char *what = call ? "Calls an RPC method and prints its result as JSON; a remote exception goes to stderr (exit 1)."
                            : "Casts an RPC method: sends it without waiting for a result.";
    if (session_open(s, prog, what, send_opts, sizeof(send_opts) / sizeof(send_opts[0]), argc, argv) != 0)
        goto out;
    json_t *args = NULL, *ctxt = NULL;
    if (opt_json(s, "args", true, &args) != 0 || opt_json(s, "context", true, &ctxt) != 0) {
        json_decref(args);
        goto out;
    }
    if (call && opt_bool(s, "fanout")) {
        fprintf(stderr, "%s: a call cannot be fanout\n", prog);
        s->status = 2;
        json_decref(args);
        json_decref(ctxt);
        goto out;
    }
    if (session_connect(s, false) != 0) {
        json_decref(args);
        json_decref(ctxt);
        goto out;
    }
    keel_messaging_target_t target = {.exchange = opt_str(s, "exchange"),
                                      .topic = opt_str(s, "topic"),
                                      .namespace_ = opt_str(s, "namespace"),
                                      .version = opt_str(s, "target-version"),
                                      .server = opt_str(s, "server"),
                                      .fanout = opt_bool(s, "fanout")};
    keel_messaging_rpc_client_opts_t co = KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT;
    co.timeout = opt_float(s, "timeout", 0);
    co.retry = (int)keel_conf_get_int(s->conf, NULL, "retry", -1);
    int rc = keel_messaging_rpc_client_new(&x.client, s->transport, &target, &co);
    if (rc == 0)
        rc = call ? keel_messaging_rpc_call(x.client, ctxt, opt_str(s, "method"), args, call_done, &x)
                  : keel_messaging_rpc_cast(x.client, ctxt, opt_str(s, "method"), args, cast_done, &x);
    else
        json_decref(args);
    json_decref(ctxt);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, keel_messaging_strerror(rc));
        keel_messaging_rpc_client_free(x.client);
        x.client = NULL;
    } else {
        uv_run(&s->loop, UV_RUN_DEFAULT); /* until the callback has run and nothing else is pending */
    }
out:
    session_close(s);
    return s->status;
}

/* ---- keel rpc serve: the diagnostic endpoint ---- */

static const keel_conf_opt_t serve_opts[] = {
    {.name = "topic", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_POSITIONAL | KEEL_CONF_REQUIRED, .metavar = "TOPIC",
     .help = "The topic to serve."},
    {.name = "server", .type = KEEL_CONF_STRING, .metavar = "S", .help = "This server's name on the topic (default: the host name)."},
    {.name = "exchange", .type = KEEL_CONF_STRING, .metavar = "X", .help = "Exchange (default: control_exchange)."},
    {.name = "namespace", .type = KEEL_CONF_STRING, .metavar = "NS", .help = "The endpoint's namespace."},
    {.name = "target-version", .type = KEEL_CONF_STRING, .metavar = "M.N", .default_value = "1.0",
     .help = "The RPC API version the endpoint implements."},
};

typedef struct {
    session_t s;
    keel_messaging_rpc_server_t *server;
} server_t;

typedef struct {
    uv_timer_t timer;
    keel_messaging_request_t *req;
    double seconds;
} sleeper_t;

static void log_request(keel_messaging_request_t *req)
{
    json_t *line = json_pack("{s:s, s:O, s:O, s:b}", "method", keel_messaging_request_method(req), "args",
                             keel_messaging_request_args(req), "context", keel_messaging_request_context(req), "call",
                             keel_messaging_request_is_call(req));
    if (line != NULL)
        print_json(stdout, line);
    json_decref(line);
}

/* echo(**kwargs): returns its arguments. */
static void m_echo(keel_messaging_request_t *req, void *data)
{
    (void)data;
    log_request(req);
    keel_messaging_request_reply(req, json_incref(keel_messaging_request_args(req)));
}

/*
 * fail(message, exception="ValueError", module="builtins"): raises that
 * exception with that message. A Python client re-raises a builtins class
 * as itself, another module's class only when the module is in its
 * allowed_remote_exmods (else oslo_messaging.RemoteError): so an operator
 * can check what a client makes of, say, nova.exception.InstanceNotFound.
 */
static void m_fail(keel_messaging_request_t *req, void *data)
{
    (void)data;
    log_request(req);
    json_t *m = keel_messaging_request_arg(req, "message");
    json_t *cls = keel_messaging_request_arg(req, "exception");
    json_t *mod = keel_messaging_request_arg(req, "module");
    if ((cls != NULL && !json_is_string(cls)) || (mod != NULL && !json_is_null(mod) && !json_is_string(mod))) {
        keel_messaging_request_fail(req, "TypeError", NULL, "fail() needs exception and module as strings");
        return;
    }
    const char *exc_class = json_is_string(cls) && json_string_length(cls) > 0 ? json_string_value(cls) : "ValueError";
    const char *exc_module = json_is_string(mod) && json_string_length(mod) > 0 ? json_string_value(mod) : NULL;
    if (json_is_string(m)) {
        keel_messaging_request_fail(req, exc_class, exc_module, "%s", json_string_value(m));
    } else {
        char *text = m != NULL ? json_dumps(m, JSON_ENCODE_ANY) : NULL;
        keel_messaging_request_fail(req, exc_class, exc_module, "%s", text != NULL ? text : "fail() called");
        free(text);
    }
}

static void sleeper_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sleeper_done(uv_timer_t *t)
{
    sleeper_t *z = t->data;
    keel_messaging_request_reply(z->req, json_real(z->seconds));
    uv_close((uv_handle_t *)&z->timer, sleeper_closed);
}

/* sleep(seconds): answers after that long without holding up other requests; returns the seconds. */
static void m_sleep(keel_messaging_request_t *req, void *data)
{
    server_t *v = data;
    log_request(req);
    json_t *a = keel_messaging_request_arg(req, "seconds");
    if (!json_is_number(a) || json_number_value(a) < 0 || json_number_value(a) > 86400) {
        keel_messaging_request_fail(req, "ValueError", NULL, "sleep() needs seconds, a number from 0 to 86400");
        return;
    }
    sleeper_t *z = malloc(sizeof(*z));
    if (z == NULL || keel_messaging_request_defer(req) != 0) {
        free(z);
        keel_messaging_request_fail(req, "MemoryError", NULL, "out of memory");
        return;
    }
    z->req = req;
    z->seconds = json_number_value(a);
    uv_timer_init(&v->s.loop, &z->timer);
    z->timer.data = z;
    uv_timer_start(&z->timer, sleeper_done, (uint64_t)(z->seconds * 1000.0 + 0.5), 0);
}

static const keel_messaging_method_t serve_methods[] = {
    {.name = "echo", .fn = m_echo},
    {.name = "fail", .fn = m_fail},
    {.name = "sleep", .fn = m_sleep},
    {0},
};

static void server_waited(keel_messaging_rpc_server_t *srv, int status, void *data)
{
    (void)status;
    server_t *v = data;
    keel_messaging_rpc_server_free(srv);
    v->server = NULL;
    v->s.status = 0;
    fprintf(stderr, "%s: stopped\n", v->s.prog);
    session_end(&v->s);
}

static void server_stop(void *data)
{
    server_t *v = data;
    keel_messaging_rpc_server_stop(v->server);
    if (keel_messaging_rpc_server_wait(v->server, server_waited, v) != 0)
        uv_stop(&v->s.loop);
}

static int rpc_serve(int argc, char **argv)
{
    server_t v;
    session_t *s = &v.s;
    v.server = NULL;
    if (session_open(s, "keel rpc serve",
                     "Serves a diagnostic endpoint on TOPIC: echo(**kwargs) returns its arguments, fail(message[, exception, "
                     "module]) raises ValueError(message) (or that exception class of that module), sleep(seconds) "
                     "answers after that long. Prints one JSON line per request; "
                     "SIGINT or SIGTERM stops it after the requests in progress.",
                     serve_opts, sizeof(serve_opts) / sizeof(serve_opts[0]), argc, argv) != 0)
        goto out;
    if (session_connect(s, false) != 0)
        goto out;
    char host[256];
    const char *server_name = opt_str(s, "server");
    if (server_name == NULL) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        server_name = host;
    }
    keel_messaging_target_t target = {.exchange = opt_str(s, "exchange"), .topic = opt_str(s, "topic"), .server = server_name};
    keel_messaging_endpoint_t endpoint = {
        .target = {.namespace_ = opt_str(s, "namespace"), .version = opt_str(s, "target-version")},
        .methods = serve_methods,
        .data = &v};
    keel_messaging_rpc_server_opts_t so = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP};
    int rc = keel_messaging_rpc_server_new(&v.server, s->transport, &target, &endpoint, 1, &so);
    if (rc == 0)
        rc = keel_messaging_rpc_server_start(v.server);
    if (rc != 0) {
        fprintf(stderr, "keel rpc serve: %s\n", keel_messaging_strerror(rc));
        keel_messaging_rpc_server_free(v.server);
        v.server = NULL;
        goto out;
    }
    fprintf(stderr, "keel rpc serve: serving topic %s, server %s\n", target.topic, server_name);
    session_on_signal(s, server_stop, &v);
    uv_run(&s->loop, UV_RUN_DEFAULT);
out:
    session_close(s);
    return s->status;
}

int keel_cmd_rpc(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "call") == 0)
        return rpc_send(argc - 1, argv + 1, true);
    if (argc >= 2 && strcmp(argv[1], "cast") == 0)
        return rpc_send(argc - 1, argv + 1, false);
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return rpc_serve(argc - 1, argv + 1);
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    fputs("usage: keel rpc call URL TOPIC METHOD [--server S] [--args JSON] [--timeout T] ...\n"
          "       keel rpc cast URL TOPIC METHOD [--server S] [--args JSON] [--fanout] ...\n"
          "       keel rpc serve URL TOPIC [--server S] ...\n\n"
          "RPC over oslo.messaging's wire format; `keel rpc SUBCOMMAND --help` lists the options.\n",
          help ? stdout : stderr);
    return help ? 0 : 2;
}

/* ---- keel notify send / listen ---- */

static const keel_conf_opt_t send_notify_opts[] = {
    {.name = "publisher-id", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_REQUIRED, .metavar = "P",
     .help = "publisher_id of the notification, e.g. compute.host1."},
    {.name = "event-type", .type = KEEL_CONF_STRING, .flags = KEEL_CONF_REQUIRED, .metavar = "E",
     .help = "event_type, e.g. compute.instance.create.end."},
    {.name = "priority", .type = KEEL_CONF_STRING, .default_value = "info", .metavar = "P",
     .choices = (const char *const[]){"audit", "debug", "info", "warn", "error", "critical", "sample", NULL},
     .help = "The notification's priority."},
    {.name = "payload", .type = KEEL_CONF_STRING, .default_value = "{}", .metavar = "JSON", .help = "The payload, any JSON value."},
    {.name = "context", .type = KEEL_CONF_STRING, .metavar = "JSON", .help = "The request context, a JSON object."},
    {.name = "topic", .type = KEEL_CONF_MULTI, .metavar = "T",
     .help = "Topic to send to; repeatable (default: [oslo_messaging_notifications] topics, i.e. notifications)."},
    {.name = "notification-driver", .type = KEEL_CONF_STRING, .default_value = "messagingv2", .metavar = "D",
     .choices = (const char *const[]){"messagingv2", "messaging", "log", "noop", NULL},
     .help = "messagingv2 (the 2.0 envelope, what services send), messaging (the bare 1.0 dict), log or noop."},
    {.name = "retry", .type = KEEL_CONF_INT, .default_value = "-1", .metavar = "N",
     .help = "Connection retries before giving up: -1 forever, 0 none."},
};

typedef struct {
    session_t s;
    keel_messaging_notifier_t *notifier;
} notifier_t;

static void notify_done(keel_messaging_notifier_t *n, int status, void *data)
{
    notifier_t *x = data;
    if (status == 0)
        x->s.status = 0;
    else
        fprintf(stderr, "%s: %s\n", x->s.prog, keel_messaging_strerror(status));
    keel_messaging_notifier_free(n);
    x->notifier = NULL;
    session_end(&x->s);
}

static int notify_send(int argc, char **argv)
{
    notifier_t x;
    session_t *s = &x.s;
    x.notifier = NULL;
    const char **topics = NULL;
    if (session_open(s, "keel notify send", "Sends one notification, as a service's Notifier does.", send_notify_opts,
                     sizeof(send_notify_opts) / sizeof(send_notify_opts[0]), argc, argv) != 0)
        goto out;
    json_t *payload, *ctxt;
    if (opt_json(s, "payload", false, &payload) != 0)
        goto out;
    if (opt_json(s, "context", true, &ctxt) != 0) {
        json_decref(payload);
        goto out;
    }
    keel_messaging_priority_t prio;
    keel_messaging_priority_parse(opt_str(s, "priority"), &prio); /* choices made it valid */
    if (session_connect(s, true) != 0) {
        json_decref(payload);
        json_decref(ctxt);
        goto out;
    }
    topics = opt_multi(s, "topic");
    const char *drivers[] = {opt_str(s, "notification-driver"), NULL};
    keel_messaging_notifier_opts_t no = KEEL_MESSAGING_NOTIFIER_OPTS_INIT;
    no.publisher_id = opt_str(s, "publisher-id");
    no.drivers = drivers;
    no.topics = topics;
    no.retry = (int)keel_conf_get_int(s->conf, NULL, "retry", -1);
    int rc = keel_messaging_notifier_new(&x.notifier, s->transport, &no);
    if (rc == 0)
        rc = keel_messaging_notify(x.notifier, ctxt, prio, opt_str(s, "event-type"), payload, notify_done, &x);
    else
        json_decref(payload);
    json_decref(ctxt);
    if (rc != 0) {
        fprintf(stderr, "keel notify send: %s\n", keel_messaging_strerror(rc));
        keel_messaging_notifier_free(x.notifier);
    } else {
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
out:
    session_close(s);
    free(topics);
    return s->status;
}

static const keel_conf_opt_t listen_opts[] = {
    {.name = "topic", .type = KEEL_CONF_MULTI, .metavar = "T",
     .help = "Topic to listen on; repeatable (default: notifications)."},
    {.name = "exchange", .type = KEEL_CONF_STRING, .metavar = "X", .help = "Exchange (default: control_exchange)."},
    {.name = "pool", .type = KEEL_CONF_STRING, .metavar = "P",
     .help = "Listen in this pool: a queue of its own that gets a copy of every notification, shared by the pool's listeners."},
    {.name = "count", .type = KEEL_CONF_INT, .default_value = "0", .metavar = "N", .flags = KEEL_CONF_HAS_MIN,
     .help = "Exit after N notifications (0: run until SIGINT or SIGTERM)."},
    {.name = "requeue", .type = KEEL_CONF_INT, .default_value = "0", .metavar = "N", .flags = KEEL_CONF_HAS_MIN,
     .help = "Give the first N notifications back to the broker (REQUEUE) instead of printing them, saying so on "
             "stderr: the broker redelivers them, to this or another listener of the queue."},
};

typedef struct {
    session_t s;
    keel_messaging_listener_t *listener;
    int64_t left;    /* notifications still to print; < 0: no limit */
    int64_t requeue; /* notifications still to requeue before printing any */
} listener_t;

static void listener_waited(keel_messaging_listener_t *l, int status, void *data)
{
    (void)status;
    listener_t *x = data;
    keel_messaging_listener_free(l);
    x->listener = NULL;
    x->s.status = 0;
    session_end(&x->s);
}

static void listener_stop(void *data)
{
    listener_t *x = data;
    keel_messaging_listener_stop(x->listener);
    if (keel_messaging_listener_wait(x->listener, listener_waited, x) != 0)
        uv_stop(&x->s.loop);
}

/* Prints one notification as a JSON line; runs on the loop (LOOP executor). */
static keel_messaging_notification_result_t on_notification(const keel_messaging_notification_t *n, void *data)
{
    listener_t *x = data;
    if (x->left == 0)
        return KEEL_MESSAGING_REQUEUE; /* after the last one: give it back for someone else */
    if (x->requeue > 0) {
        x->requeue--;
        json_t *id = n->metadata != NULL ? json_object_get(n->metadata, "message_id") : NULL;
        fprintf(stderr, "%s: requeued %s %s, message_id %s\n", x->s.prog, keel_messaging_priority_name(n->priority),
                n->event_type != NULL ? n->event_type : "(none)", json_is_string(id) ? json_string_value(id) : "(none)");
        fflush(stderr);
        return KEEL_MESSAGING_REQUEUE;
    }
    json_t *line = json_pack("{s:s, s:s?, s:s?, s:O, s:O, s:O}", "priority", keel_messaging_priority_name(n->priority),
                             "publisher_id", n->publisher_id, "event_type", n->event_type, "payload", n->payload, "metadata",
                             n->metadata, "ctxt", n->ctxt);
    if (line != NULL)
        print_json(stdout, line);
    json_decref(line);
    if (x->left > 0 && --x->left == 0 && x->s.on_signal != NULL) {
        x->s.on_signal = NULL;
        listener_stop(x);
    }
    return KEEL_MESSAGING_HANDLED;
}

static int notify_listen(int argc, char **argv)
{
    listener_t x;
    session_t *s = &x.s;
    x.listener = NULL;
    const char **topics = NULL;
    keel_messaging_target_t *targets = NULL;
    if (session_open(s, "keel notify listen",
                     "Prints every notification on the topics as one JSON line: priority, publisher_id, event_type, "
                     "payload, metadata, ctxt.",
                     listen_opts, sizeof(listen_opts) / sizeof(listen_opts[0]), argc, argv) != 0)
        goto out;
    int64_t count = keel_conf_get_int(s->conf, NULL, "count", 0);
    x.left = count > 0 ? count : -1;
    x.requeue = keel_conf_get_int(s->conf, NULL, "requeue", 0);
    if (session_connect(s, true) != 0)
        goto out;
    static const char *const default_topics[] = {"notifications", NULL};
    topics = opt_multi(s, "topic");
    const char *const *names = topics != NULL ? topics : default_topics;
    size_t nt = 0;
    while (names[nt] != NULL)
        nt++;
    targets = calloc(nt, sizeof(*targets));
    if (targets == NULL)
        goto out;
    for (size_t i = 0; i < nt; i++)
        targets[i] = (keel_messaging_target_t){.exchange = opt_str(s, "exchange"), .topic = names[i]};
    keel_messaging_notification_endpoint_t endpoint = {.data = &x};
    for (int p = 0; p < KEEL_MESSAGING_PRIORITY_COUNT; p++)
        endpoint.on[p] = on_notification;
    keel_messaging_listener_opts_t lo = {.executor = KEEL_MESSAGING_EXECUTOR_LOOP, .pool = opt_str(s, "pool"), .allow_requeue = true};
    int rc = keel_messaging_listener_new(&x.listener, s->transport, targets, nt, &endpoint, 1, &lo);
    if (rc == 0)
        rc = keel_messaging_listener_start(x.listener);
    if (rc != 0) {
        fprintf(stderr, "keel notify listen: %s\n", keel_messaging_strerror(rc));
        keel_messaging_listener_free(x.listener);
        x.listener = NULL;
        goto out;
    }
    fprintf(stderr, "keel notify listen: listening\n");
    session_on_signal(s, listener_stop, &x);
    uv_run(&s->loop, UV_RUN_DEFAULT);
out:
    session_close(s);
    free(targets);
    free(topics);
    return s->status;
}

int keel_cmd_notify(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "send") == 0)
        return notify_send(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "listen") == 0)
        return notify_listen(argc - 1, argv + 1);
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    fputs("usage: keel notify send URL --publisher-id P --event-type E [--priority info] [--payload JSON] ...\n"
          "       keel notify listen URL [--topic notifications] [--pool P] [--count N] [--requeue N] ...\n\n"
          "Notifications over oslo.messaging's wire format; `keel notify SUBCOMMAND --help` lists the options.\n",
          help ? stdout : stderr);
    return help ? 0 : 2;
}
