/*
 * messaging_probe — answers one JSON request per stdin line with one JSON
 * line on stdout, for tests/interop/messaging_url_diff.py, which asks
 * oslo.messaging the same questions:
 *
 *   {"op": "url", "url": TEXT}    the parsed URL and its str(), or the error
 *   {"op": "query", "url": TEXT}  the [oslo_messaging_rabbit] values the URL's
 *                                 query options give, or the error
 *   {"op": "opts"}                every registered option: group, name, type,
 *                                 default, bounds, deprecations, help
 *   {"op": "dumps", "value": V, "version": 1|2}
 *                                 the body keel writes for V (bare or enveloped)
 *   {"op": "unpack", "body": TEXT} the body read back: inner message, context, ids
 *   {"op": "failure_in", "text": TEXT, "allowed": [MODULE...]}
 *                                 a reply's failure as keel reads it
 *   {"op": "failure_out", "class", "module", "message", "traceback", "kwargs"}
 *                                 the failure text keel writes
 * (tests/interop/messaging_wire_diff.py asks the last four.)
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "keel/conf.h"
#include "keel/messaging.h"
#include "messaging_int.h"

static json_t *opt_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *probe_url(const char *text)
{
    keel_messaging_url_t *url;
    const char *why = NULL;
    int rc = keel_messaging_url_parse(text, &url, &why);
    if (rc != 0)
        return json_pack("{s:b,s:s,s:s}", "ok", 0, "error", keel_messaging_err_name(rc), "why", why ? why : "");
    json_t *hosts = json_array();
    for (size_t i = 0; i < url->nhosts; i++) {
        const keel_messaging_url_host_t *h = &url->hosts[i];
        json_array_append_new(hosts, json_pack("{s:o,s:o,s:o,s:o}", "hostname", opt_str(h->hostname), "port",
                                               h->has_port ? json_integer(h->port) : json_null(), "username", opt_str(h->username),
                                               "password", opt_str(h->password)));
    }
    json_t *query = json_array();
    for (size_t i = 0; i < url->nquery; i++)
        json_array_append_new(query, json_pack("[s,s]", url->query[i].key, url->query[i].value));
    keel_buf_t b;
    keel_buf_init(&b);
    keel_messaging_url_format(url, false, &b);
    json_t *out = json_pack("{s:b,s:s,s:o,s:o,s:o,s:s}", "ok", 1, "transport", url->transport, "virtual_host",
                            opt_str(url->virtual_host), "hosts", hosts, "query", query, "str", b.base ? b.base : "");
    keel_buf_free(&b);
    keel_messaging_url_free(url);
    return out;
}

static json_t *probe_query(const char *text)
{
    keel_messaging_url_t *url;
    int rc = keel_messaging_url_parse(text, &url, NULL);
    if (rc != 0)
        return json_pack("{s:b,s:s}", "ok", 0, "error", keel_messaging_err_name(rc));
    keel__messaging_opts_t o;
    char *why = NULL;
    rc = keel__messaging_opts_load(&o, NULL, url, &why);
    json_t *out;
    if (rc != 0) {
        out = json_pack("{s:b,s:s,s:s}", "ok", 0, "error", keel_messaging_err_name(rc), "why", why ? why : "");
    } else {
        /* Read the values back through a registry, so every option is reported by name. */
        const keel__messaging_rabbit_opts_t *r = &o.rabbit;
        json_t *v = json_object();
#define B(n) json_object_set_new(v, #n, json_boolean(r->n))
#define I(n) json_object_set_new(v, #n, json_integer(r->n))
#define F(n) json_object_set_new(v, #n, json_real(r->n))
#define S(n) json_object_set_new(v, #n, opt_str(r->n))
        B(amqp_durable_queues), B(amqp_auto_delete), B(ssl), S(ssl_version), S(ssl_key_file), S(ssl_cert_file), S(ssl_ca_file),
            B(ssl_enforce_hostname_verification), B(ssl_enforce_fips_mode), B(heartbeat_in_pthread), F(kombu_reconnect_delay),
            S(kombu_compression), I(kombu_missing_consumer_retry_timeout), S(kombu_failover_strategy), S(rabbit_login_method),
            I(rabbit_retry_interval), I(rabbit_retry_backoff), I(rabbit_interval_max), B(rabbit_ha_queues), B(rabbit_quorum_queue),
            I(rabbit_quorum_delivery_limit), I(rabbit_quroum_max_memory_length), I(rabbit_quroum_max_memory_bytes),
            I(rabbit_transient_queues_ttl), I(rabbit_qos_prefetch_count), I(heartbeat_timeout_threshold), I(heartbeat_rate),
            B(direct_mandatory_flag), B(enable_cancel_on_failover);
#undef B
#undef I
#undef F
#undef S
        out = json_pack("{s:b,s:o}", "ok", 1, "values", v);
        keel__messaging_opts_clear(&o);
    }
    keel__free(why);
    keel_messaging_url_free(url);
    return out;
}

static const char *type_class(keel_conf_type_t t)
{
    switch (t) {
    case KEEL_CONF_STRING:
        return "StrOpt";
    case KEEL_CONF_BOOL:
        return "BoolOpt";
    case KEEL_CONF_INT:
        return "IntOpt";
    case KEEL_CONF_FLOAT:
        return "FloatOpt";
    case KEEL_CONF_LIST:
        return "ListOpt";
    case KEEL_CONF_MULTI:
        return "MultiStrOpt";
    default:
        return keel_conf_type_name(t);
    }
}

static void visit(void *data, const char *group, const keel_conf_opt_t *opt, const keel_conf_value_t *value)
{
    json_t *list = data;
    keel_buf_t b;
    keel_buf_init(&b);
    keel_conf_value_to_json(value, &b);
    json_t *def = json_loads(b.base ? b.base : "null", JSON_DECODE_ANY, NULL);
    keel_buf_free(&b);
    json_t *dep = json_array();
    if (opt->deprecated_name || opt->deprecated_group)
        json_array_append_new(dep, json_pack("[o,o]", opt_str(opt->deprecated_group), opt_str(opt->deprecated_name)));
    for (const keel_conf_deprecated_t *d = opt->deprecated_opts; d && (d->group || d->name); d++)
        json_array_append_new(dep, json_pack("[o,o]", opt_str(d->group), opt_str(d->name)));
    json_t *choices = json_null();
    if (opt->choices) {
        choices = json_array();
        for (const char *const *c = opt->choices; *c; c++)
            json_array_append_new(choices, json_string(*c));
    }
    json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:b,s:b,s:o,s:s}", "group", group, "name", opt->name,
                                          "type", type_class(opt->type), "default", def ? def : json_null(), "deprecated", dep,
                                          "min", (opt->flags & KEEL_CONF_HAS_MIN) ? json_real(opt->min) : json_null(), "max",
                                          (opt->flags & KEEL_CONF_HAS_MAX) ? json_real(opt->max) : json_null(), "choices", choices,
                                          "secret", (opt->flags & KEEL_CONF_SECRET) != 0, "deprecated_for_removal",
                                          (opt->flags & KEEL_CONF_DEPRECATED_FOR_REMOVAL) != 0, "deprecated_reason",
                                          opt_str(opt->deprecated_reason), "help", opt->help ? opt->help : ""));
}

static json_t *probe_opts(void)
{
    keel_conf_t *c;
    static const char *const no_files[] = {NULL};
    char *argv[] = {"probe", NULL};
    if (keel_conf_new(&c) != 0 || keel_messaging_register_opts(c) != 0 ||
        keel_conf_parse(c, 1, argv,
                        &(keel_conf_setup_t){.default_config_files = no_files, .default_config_dirs = no_files, .no_env = true}) !=
            0)
        return json_pack("{s:b}", "ok", 0);
    json_t *list = json_array();
    keel_conf_foreach(c, visit, list);
    keel_conf_free(c);
    return json_pack("{s:b,s:o}", "ok", 1, "opts", list);
}

static json_t *probe_dumps(json_t *req)
{
    json_t *v = json_object_get(req, "value");
    int version = (int)json_integer_value(json_object_get(req, "version"));
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = keel__messaging_serialize_msg(v ? v : json_null(), version == 1 ? 1 : 2, &b);
    json_t *out = rc == 0 ? json_pack("{s:b,s:s%}", "ok", 1, "body", b.base ? b.base : "", b.len)
                          : json_pack("{s:b,s:s}", "ok", 0, "error", keel_messaging_err_name(rc));
    keel_buf_free(&b);
    return out;
}

static json_t *probe_unpack(json_t *req)
{
    json_t *body = json_object_get(req, "body");
    json_t *inner = NULL;
    int rc = keel__messaging_deserialize_msg(json_string_value(body), json_string_length(body), &inner);
    keel__messaging_unpacked_t u;
    if (rc == 0)
        rc = keel__messaging_unpack(inner, &u);
    if (rc != 0)
        return json_pack("{s:b,s:s}", "ok", 0, "error", keel_messaging_err_name(rc));
    json_t *out =
        json_pack("{s:b,s:O,s:O,s:o,s:o,s:o,s:O?}", "ok", 1, "message", u.message, "ctxt", u.ctxt, "msg_id", opt_str(u.msg_id),
                  "reply_q", opt_str(u.reply_q), "unique_id", opt_str(u.unique_id), "timeout", u.client_timeout);
    if (u.client_timeout == NULL)
        json_object_set_new(out, "timeout_absent", json_true());
    keel__messaging_unpacked_clear(&u);
    return out;
}

static json_t *probe_failure_in(json_t *req)
{
    json_t *text = json_object_get(req, "text"), *allowed = json_object_get(req, "allowed");
    const char *mods[16] = {0};
    for (size_t i = 0; i < json_array_size(allowed) && i < 15; i++)
        mods[i] = json_string_value(json_array_get(allowed, i));
    keel_messaging_error_t *e = NULL;
    int rc = keel_messaging_error_deserialize(json_string_value(text), json_string_length(text), mods, &e);
    if (rc != 0)
        return json_pack("{s:b,s:s}", "ok", 0, "error", keel_messaging_err_name(rc));
    keel_buf_t b;
    keel_buf_init(&b);
    keel_messaging_error_format(e, &b);
    json_t *out = json_pack("{s:b,s:s,s:s,s:s,s:s,s:O,s:O,s:b,s:s}", "ok", 1, "class", e->exc_class, "module", e->exc_module,
                            "message", e->message, "traceback", e->traceback, "args", e->args, "kwargs", e->kwargs, "allowed",
                            e->allowed, "str", b.base ? b.base : "");
    keel_buf_free(&b);
    keel_messaging_error_free(e);
    return out;
}

static json_t *probe_failure_out(json_t *req)
{
    keel_messaging_error_t *e = NULL;
    int rc = keel_messaging_error_new(&e, json_string_value(json_object_get(req, "class")),
                                      json_string_value(json_object_get(req, "module")), "%s",
                                      json_string_value(json_object_get(req, "message")));
    if (rc != 0)
        return json_pack("{s:b,s:s}", "ok", 0, "error", keel_messaging_err_name(rc));
    const char *tb = json_string_value(json_object_get(req, "traceback"));
    if (tb)
        e->traceback = keel__strdup(tb);
    json_t *kwargs = json_object_get(req, "kwargs");
    if (json_is_object(kwargs)) {
        json_decref(e->kwargs);
        e->kwargs = json_incref(kwargs);
    }
    keel_buf_t b;
    keel_buf_init(&b);
    rc = keel_messaging_error_serialize(e, &b);
    json_t *out = json_pack("{s:b,s:s}", "ok", rc == 0, "text", b.base ? b.base : "");
    keel_buf_free(&b);
    keel_messaging_error_free(e);
    return out;
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t err;
        json_t *req = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &err);
        json_t *out;
        const char *op = req ? json_string_value(json_object_get(req, "op")) : NULL;
        const char *url = req ? json_string_value(json_object_get(req, "url")) : NULL;
        if (op && strcmp(op, "url") == 0 && url)
            out = probe_url(url);
        else if (op && strcmp(op, "query") == 0 && url)
            out = probe_query(url);
        else if (op && strcmp(op, "opts") == 0)
            out = probe_opts();
        else if (op && strcmp(op, "dumps") == 0)
            out = probe_dumps(req);
        else if (op && strcmp(op, "unpack") == 0)
            out = probe_unpack(req);
        else if (op && strcmp(op, "failure_in") == 0)
            out = probe_failure_in(req);
        else if (op && strcmp(op, "failure_out") == 0)
            out = probe_failure_out(req);
        else
            out = json_pack("{s:b,s:s}", "ok", 0, "error", "bad request");
        char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        puts(text);
        fflush(stdout);
        free(text);
        json_decref(out);
        json_decref(req);
    }
    free(line);
    return 0;
}
