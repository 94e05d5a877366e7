/*
 * oslo.messaging's options as keel_conf rows: names, types, defaults,
 * bounds, deprecated names and help texts as oslo_messaging.opts.list_opts()
 * gives them (tests/interop/messaging_url_diff.py compares the two), so a
 * nova.conf or neutron.conf means the same to keel. Only the rabbit
 * driver's group is here of the driver groups: the AMQP 1.0 and Kafka
 * drivers have no keel counterpart.
 *
 * URL query options are converted by keel_conf itself: they are set as
 * overrides on a scratch registry holding only [oslo_messaging_rabbit], so
 * "?heartbeat_rate=x" fails with the same message and for the same reasons
 * as "heartbeat_rate = x" in a config file, and an unknown name is
 * KEEL_ENOOPT as oslo's NoSuchOptError.
 */
#include <stddef.h>
#include <string.h>

#include "messaging_int.h"

static const char *const failover_choices[] = {"round-robin", "shuffle", NULL};
static const char *const login_choices[] = {"PLAIN", "AMQPLAIN", "EXTERNAL", "RABBIT-CR-DEMO", NULL};

static const keel_conf_opt_t default_opts[] = {
    {.name = "rpc_conn_pool_size",
     .type = KEEL_CONF_INT,
     .default_value = "30",
     .flags = KEEL_CONF_HAS_MIN,
     .min = 1,
     .deprecated_group = "DEFAULT",
     .help = "Size of RPC connection pool."},
    {.name = "conn_pool_min_size",
     .type = KEEL_CONF_INT,
     .default_value = "2",
     .help = "The pool size limit for connections expiration policy"},
    {.name = "conn_pool_ttl",
     .type = KEEL_CONF_INT,
     .default_value = "1200",
     .help = "The time-to-live in sec of idle connections in the pool"},
    {.name = "executor_thread_pool_size",
     .type = KEEL_CONF_INT,
     .default_value = "64",
     .deprecated_name = "rpc_thread_pool_size",
     .help = "Size of executor thread pool when executor is threading or eventlet."},
    {.name = "rpc_response_timeout",
     .type = KEEL_CONF_INT,
     .default_value = "60",
     .help = "Seconds to wait for a response from a call."},
    {.name = "transport_url",
     .type = KEEL_CONF_STRING,
     .default_value = "rabbit://",
     .flags = KEEL_CONF_SECRET,
     .help = "The network address and optional user credentials for connecting to the messaging backend, in URL format. "
             "The expected format is:\n\ndriver://[user:pass@]host:port[,[userN:passN@]hostN:portN]/virtual_host?query\n\n"
             "Example: rabbit://rabbitmq:password@127.0.0.1:5672//\n\nFor full details on the fields in the URL see the "
             "documentation of oslo_messaging.TransportURL at "
             "https://docs.openstack.org/oslo.messaging/latest/reference/transport.html"},
    {.name = "control_exchange",
     .type = KEEL_CONF_STRING,
     .default_value = "openstack",
     .help = "The default exchange under which topics are scoped. May be overridden by an exchange name specified in the "
             "transport_url option."},
    {.name = "rpc_ping_enabled",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Add an endpoint to answer to ping calls. Endpoint is named oslo_rpc_server_ping"},
};

static const keel_conf_deprecated_t topics_deprecated[] = {
    {.group = "rpc_notifier2", .name = "topics"},
    {.group = "DEFAULT", .name = "notification_topics"},
    {NULL, NULL},
};

static const char *const no_drivers[] = {NULL};

static const keel_conf_opt_t notify_opts[] = {
    {.name = "driver",
     .type = KEEL_CONF_MULTI,
     .default_multi = no_drivers,
     .deprecated_name = "notification_driver",
     .deprecated_group = "DEFAULT",
     .help = "The Drivers(s) to handle sending notifications. Possible values are messaging, messagingv2, routing, log, test, "
             "noop"},
    {.name = "transport_url",
     .type = KEEL_CONF_STRING,
     .flags = KEEL_CONF_SECRET,
     .deprecated_name = "notification_transport_url",
     .deprecated_group = "DEFAULT",
     .help = "A URL representing the messaging driver to use for notifications. If not set, we fall back to the same "
             "configuration used for RPC."},
    {.name = "topics",
     .type = KEEL_CONF_LIST,
     .default_value = "notifications",
     .deprecated_opts = topics_deprecated,
     .help = "AMQP topic used for OpenStack notifications."},
    {.name = "retry",
     .type = KEEL_CONF_INT,
     .default_value = "-1",
     .help = "The maximum number of attempts to re-send a notification message which failed to be delivered due to a "
             "recoverable error. 0 - No retry, -1 - indefinite"},
};

static const keel_conf_opt_t rabbit_opts[] = {
    {.name = "amqp_durable_queues",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Use durable queues in AMQP. If rabbit_quorum_queue is enabled, queues will be durable and this value will be "
             "ignored."},
    {.name = "amqp_auto_delete",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .deprecated_group = "DEFAULT",
     .help = "Auto-delete queues in AMQP."},
    {.name = "ssl",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .deprecated_name = "rabbit_use_ssl",
     .help = "Connect over SSL."},
    {.name = "ssl_version",
     .type = KEEL_CONF_STRING,
     .default_value = "",
     .deprecated_name = "kombu_ssl_version",
     .help = "SSL version to use (valid only if SSL enabled). Valid values are TLSv1 and SSLv23. SSLv2, SSLv3, TLSv1_1, and "
             "TLSv1_2 may be available on some distributions."},
    {.name = "ssl_key_file",
     .type = KEEL_CONF_STRING,
     .default_value = "",
     .deprecated_name = "kombu_ssl_keyfile",
     .help = "SSL key file (valid only if SSL enabled)."},
    {.name = "ssl_cert_file",
     .type = KEEL_CONF_STRING,
     .default_value = "",
     .deprecated_name = "kombu_ssl_certfile",
     .help = "SSL cert file (valid only if SSL enabled)."},
    {.name = "ssl_ca_file",
     .type = KEEL_CONF_STRING,
     .default_value = "",
     .deprecated_name = "kombu_ssl_ca_certs",
     .help = "SSL certification authority file (valid only if SSL enabled)."},
    {.name = "ssl_enforce_hostname_verification",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "When true, verify the broker hostname against the certificate when ``ssl_ca_file`` is set. When false (default "
             "on stable branches), ``ssl`` with ``ssl_ca_file`` still validates the certificate chain but does not verify the "
             "broker hostname. ``ssl=true`` without ``ssl_ca_file`` never enables hostname verification."},
    {.name = "ssl_enforce_fips_mode",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Global toggle for enforcing the OpenSSL FIPS mode. This feature requires Python support. This is available in "
             "Python 3.9 in all environments and may have been backported to older Python versions on select environments. "
             "If the Python executable used does not support OpenSSL FIPS mode, an exception will be raised."},
    {.name = "heartbeat_in_pthread",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Run the health check heartbeat thread through a native python thread by default. If this option is equal to "
             "False then the health check heartbeat will inherit the execution model from the parent process. For example "
             "if the parent process has monkey patched the stdlib by using eventlet/greenlet then the heartbeat will be run "
             "through a green thread. This option should be set to True only for the wsgi services."},
    {.name = "kombu_reconnect_delay",
     .type = KEEL_CONF_FLOAT,
     .default_value = "1.0",
     .flags = KEEL_CONF_HAS_MIN | KEEL_CONF_HAS_MAX,
     .min = 0.0,
     .max = 4.5,
     .deprecated_group = "DEFAULT",
     .help = "How long to wait (in seconds) before reconnecting in response to an AMQP consumer cancel notification."},
    {.name = "kombu_compression",
     .type = KEEL_CONF_STRING,
     .help = "EXPERIMENTAL: Possible values are: gzip, bz2. If not set compression will not be used. This option may not be "
             "available in future versions."},
    {.name = "kombu_missing_consumer_retry_timeout",
     .type = KEEL_CONF_INT,
     .default_value = "60",
     .deprecated_name = "kombu_reconnect_timeout",
     .help = "How long to wait a missing client before abandoning to send it its replies. This value should not be longer "
             "than rpc_response_timeout."},
    {.name = "kombu_failover_strategy",
     .type = KEEL_CONF_STRING,
     .default_value = "round-robin",
     .choices = failover_choices,
     .help = "Determines how the next RabbitMQ node is chosen in case the one we are currently connected to becomes "
             "unavailable. Takes effect only if more than one RabbitMQ node is provided in config."},
    {.name = "rabbit_login_method",
     .type = KEEL_CONF_STRING,
     .default_value = "AMQPLAIN",
     .choices = login_choices,
     .deprecated_group = "DEFAULT",
     .help = "The RabbitMQ login method."},
    {.name = "rabbit_retry_interval",
     .type = KEEL_CONF_INT,
     .default_value = "1",
     .help = "How frequently to retry connecting with RabbitMQ."},
    {.name = "rabbit_retry_backoff",
     .type = KEEL_CONF_INT,
     .default_value = "2",
     .deprecated_group = "DEFAULT",
     .help = "How long to backoff for between retries when connecting to RabbitMQ."},
    {.name = "rabbit_interval_max",
     .type = KEEL_CONF_INT,
     .default_value = "30",
     .help = "Maximum interval of RabbitMQ connection retries. Default is 30 seconds."},
    {.name = "rabbit_ha_queues",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .deprecated_group = "DEFAULT",
     .help = "Try to use HA queues in RabbitMQ (x-ha-policy: all). If you change this option, you must wipe the RabbitMQ "
             "database. In RabbitMQ 3.0, queue mirroring is no longer controlled by the x-ha-policy argument when declaring "
             "a queue. If you just want to make sure that all queues (except those with auto-generated names) are mirrored "
             "across all nodes, run: \"rabbitmqctl set_policy HA '^(?!amq\\.).*' '{\"ha-mode\": \"all\"}' \""},
    {.name = "rabbit_quorum_queue",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Use quorum queues in RabbitMQ (x-queue-type: quorum). The quorum queue is a modern queue type for RabbitMQ "
             "implementing a durable, replicated FIFO queue based on the Raft consensus algorithm. It is available as of "
             "RabbitMQ 3.8.0. If set this option will conflict with the HA queues (``rabbit_ha_queues``) aka mirrored "
             "queues, in other words the HA queues should be disabled, quorum queues durable by default so the "
             "amqp_durable_queues opion is ignored when this option enabled."},
    {.name = "rabbit_quorum_delivery_limit",
     .type = KEEL_CONF_INT,
     .default_value = "0",
     .help = "Each time a message is redelivered to a consumer, a counter is incremented. Once the redelivery count exceeds "
             "the delivery limit the message gets dropped or dead-lettered (if a DLX exchange has been configured) Used only "
             "when rabbit_quorum_queue is enabled, Default 0 which means dont set a limit."},
    {.name = "rabbit_quroum_max_memory_length",
     .type = KEEL_CONF_INT,
     .default_value = "0",
     .help = "By default all messages are maintained in memory if a quorum queue grows in length it can put memory pressure "
             "on a cluster. This option can limit the number of messages in the quorum queue. Used only when "
             "rabbit_quorum_queue is enabled, Default 0 which means dont set a limit."},
    {.name = "rabbit_quroum_max_memory_bytes",
     .type = KEEL_CONF_INT,
     .default_value = "0",
     .help = "By default all messages are maintained in memory if a quorum queue grows in length it can put memory pressure "
             "on a cluster. This option can limit the number of memory bytes used by the quorum queue. Used only when "
             "rabbit_quorum_queue is enabled, Default 0 which means dont set a limit."},
    {.name = "rabbit_transient_queues_ttl",
     .type = KEEL_CONF_INT,
     .default_value = "1800",
     .flags = KEEL_CONF_HAS_MIN,
     .min = 1,
     .help = "Positive integer representing duration in seconds for queue TTL (x-expires). Queues which are unused for the "
             "duration of the TTL are automatically deleted. The parameter affects only reply and fanout queues."},
    {.name = "rabbit_qos_prefetch_count",
     .type = KEEL_CONF_INT,
     .default_value = "0",
     .help = "Specifies the number of messages to prefetch. Setting to zero allows unlimited messages."},
    {.name = "heartbeat_timeout_threshold",
     .type = KEEL_CONF_INT,
     .default_value = "60",
     .help = "Number of seconds after which the Rabbit broker is considered down if heartbeat's keep-alive fails (0 disables "
             "heartbeat)."},
    {.name = "heartbeat_rate",
     .type = KEEL_CONF_INT,
     .default_value = "2",
     .help = "How often times during the heartbeat_timeout_threshold we check the heartbeat."},
    {.name = "direct_mandatory_flag",
     .type = KEEL_CONF_BOOL,
     .default_value = "true",
     .flags = KEEL_CONF_DEPRECATED_FOR_REMOVAL,
     .deprecated_reason = "Mandatory flag no longer deactivable.",
     .help = "(DEPRECATED) Enable/Disable the RabbitMQ mandatory flag for direct send. The direct send is used as reply, so "
             "the MessageUndeliverable exception is raised in case the client queue does not exist.MessageUndeliverable "
             "exception will be used to loop for a timeout to lets a chance to sender to recover.This flag is deprecated and "
             "it will not be possible to deactivate this functionality anymore"},
    {.name = "enable_cancel_on_failover",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Enable x-cancel-on-ha-failover flag so that rabbitmq server will cancel and notify consumerswhen queue is down"},
};

#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

int keel_messaging_register_opts(struct keel_conf_s *conf)
{
    int rc = keel_conf_register_opts(conf, NULL, default_opts, NOPTS(default_opts));
    if (rc == 0)
        rc = keel_conf_register_opts(conf, KEEL__MESSAGING_NOTIFY_GROUP, notify_opts, NOPTS(notify_opts));
    if (rc == 0)
        rc = keel_conf_register_opts(conf, KEEL__MESSAGING_RABBIT_GROUP, rabbit_opts, NOPTS(rabbit_opts));
    return rc;
}

int keel_messaging_set_transport_defaults(struct keel_conf_s *conf, const char *control_exchange)
{
    int rc = keel_messaging_register_opts(conf);
    if (rc == 0)
        rc = keel_conf_set_default(conf, NULL, "control_exchange", control_exchange);
    return rc;
}

/* Where each rabbit option lands in keel__messaging_rabbit_opts_t. */
typedef enum { F_BOOL, F_INT, F_FLOAT, F_STR } field_kind_t;
typedef struct {
    const char *name;
    field_kind_t kind;
    size_t offset;
} field_t;

#define FIELD(name, kind)                                                                                                          \
    {                                                                                                                              \
#name, kind, offsetof(keel__messaging_rabbit_opts_t, name)                                                                 \
    }
static const field_t rabbit_fields[] = {
    FIELD(amqp_durable_queues, F_BOOL),
    FIELD(amqp_auto_delete, F_BOOL),
    FIELD(ssl, F_BOOL),
    FIELD(ssl_version, F_STR),
    FIELD(ssl_key_file, F_STR),
    FIELD(ssl_cert_file, F_STR),
    FIELD(ssl_ca_file, F_STR),
    FIELD(ssl_enforce_hostname_verification, F_BOOL),
    FIELD(ssl_enforce_fips_mode, F_BOOL),
    FIELD(heartbeat_in_pthread, F_BOOL),
    FIELD(kombu_reconnect_delay, F_FLOAT),
    FIELD(kombu_compression, F_STR),
    FIELD(kombu_missing_consumer_retry_timeout, F_INT),
    FIELD(kombu_failover_strategy, F_STR),
    FIELD(rabbit_login_method, F_STR),
    FIELD(rabbit_retry_interval, F_INT),
    FIELD(rabbit_retry_backoff, F_INT),
    FIELD(rabbit_interval_max, F_INT),
    FIELD(rabbit_ha_queues, F_BOOL),
    FIELD(rabbit_quorum_queue, F_BOOL),
    FIELD(rabbit_quorum_delivery_limit, F_INT),
    FIELD(rabbit_quroum_max_memory_length, F_INT),
    FIELD(rabbit_quroum_max_memory_bytes, F_INT),
    FIELD(rabbit_transient_queues_ttl, F_INT),
    FIELD(rabbit_qos_prefetch_count, F_INT),
    FIELD(heartbeat_timeout_threshold, F_INT),
    FIELD(heartbeat_rate, F_INT),
    FIELD(direct_mandatory_flag, F_BOOL),
    FIELD(enable_cancel_on_failover, F_BOOL),
};
#undef FIELD

_Static_assert(NOPTS(rabbit_fields) == NOPTS(rabbit_opts), "every rabbit option has a field");

static int dup_or_null(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return 0;
    return (*out = keel__strdup(s)) ? 0 : KEEL_ENOMEM;
}

/* Copies one rabbit option's value from conf into the struct. */
static int load_field(keel__messaging_rabbit_opts_t *r, const keel_conf_t *conf, const field_t *f)
{
    void *slot = (char *)r + f->offset;
    switch (f->kind) {
    case F_BOOL:
        *(bool *)slot = keel_conf_get_bool(conf, KEEL__MESSAGING_RABBIT_GROUP, f->name);
        return 0;
    case F_INT:
        *(int64_t *)slot = keel_conf_get_int(conf, KEEL__MESSAGING_RABBIT_GROUP, f->name, 0);
        return 0;
    case F_FLOAT:
        *(double *)slot = keel_conf_get_float(conf, KEEL__MESSAGING_RABBIT_GROUP, f->name, 0);
        return 0;
    case F_STR: {
        char **s = slot;
        keel__free(*s);
        return dup_or_null(keel_conf_get_str(conf, KEEL__MESSAGING_RABBIT_GROUP, f->name), s);
    }
    }
    return KEEL_EINVAL;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        keel__free(*p);
    keel__free(v);
}

static int load_strv(const keel_conf_t *conf, const char *group, const char *name, char ***out)
{
    const keel_conf_value_t *v = NULL;
    int rc = keel_conf_get(conf, group, name, &v);
    if (rc != 0)
        return rc;
    size_t n = v->kind == KEEL_CONF_VLIST ? v->len : 0;
    char **list = keel__calloc(n + 1, sizeof(*list));
    if (list == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((list[i] = keel__strdup(v->u.items[i].kind == KEEL_CONF_VSTR ? v->u.items[i].u.s : "")) == NULL) {
            free_strv(list);
            return KEEL_ENOMEM;
        }
    *out = list;
    return 0;
}

/* A private registry with the options registered and nothing read: the defaults. */
static int scratch_conf(keel_conf_t **out, bool rabbit_only)
{
    keel_conf_t *c;
    int rc = keel_conf_new(&c);
    if (rc != 0)
        return rc;
    rc = rabbit_only ? keel_conf_register_opts(c, KEEL__MESSAGING_RABBIT_GROUP, rabbit_opts, NOPTS(rabbit_opts))
                     : keel_messaging_register_opts(c);
    /* Values are resolved by a parse; this one reads no file, environment or argument. */
    static const char *const no_files[] = {NULL};
    char *argv[] = {"keel", NULL};
    if (rc == 0)
        rc = keel_conf_parse(
            c, 1, argv, &(keel_conf_setup_t){.default_config_files = no_files, .default_config_dirs = no_files, .no_env = true});
    if (rc != 0) {
        keel_conf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/*
 * Sets each query option on a scratch registry and copies the converted
 * values into o. '$' is doubled so the text is taken literally, as oslo's
 * ConfigOptsProxy converts it with the option's type alone.
 */
static int apply_query(keel__messaging_opts_t *o, const keel_messaging_url_t *url, char **why)
{
    keel_conf_t *c;
    int rc = scratch_conf(&c, true);
    if (rc != 0)
        return rc;
    keel_buf_t text;
    keel_buf_init(&text);
    for (size_t i = 0; rc == 0 && i < url->nquery; i++) {
        const keel_messaging_url_query_t *q = &url->query[i];
        const field_t *f = NULL;
        for (size_t k = 0; k < NOPTS(rabbit_fields); k++)
            if (strcmp(rabbit_fields[k].name, q->key) == 0)
                f = &rabbit_fields[k];
        if (f == NULL) {
            /* oslo: NoSuchOptError: no such option bogus in group [oslo_messaging_rabbit] */
            rc = KEEL_ENOOPT;
            if (why != NULL) {
                keel_buf_t m;
                keel_buf_init(&m);
                if (keel_buf_printf(&m, "no such option %s in group [%s]", q->key, KEEL__MESSAGING_RABBIT_GROUP) == 0)
                    *why = keel_buf_steal(&m);
                keel_buf_free(&m);
            }
            break;
        }
        keel_buf_reset(&text);
        for (const char *p = q->value; rc == 0 && *p; p++)
            rc = *p == '$' ? keel_buf_puts(&text, "$$") : keel_buf_putc(&text, *p);
        if (rc == 0 && (rc = keel_buf_reserve(&text, 1)) == 0)
            rc = keel_conf_set_override(c, KEEL__MESSAGING_RABBIT_GROUP, q->key, text.base);
        if (rc != 0 && rc != KEEL_ENOMEM && why) {
            keel_buf_t m;
            keel_buf_init(&m);
            if (keel_buf_printf(&m, "transport URL option %s=%s: %s", q->key, q->value, keel_conf_error(c)) == 0)
                *why = keel_buf_steal(&m);
            keel_buf_free(&m);
        }
        if (rc == 0)
            rc = load_field(&o->rabbit, c, f);
    }
    keel_buf_free(&text);
    keel_conf_free(c);
    return rc;
}

int keel__messaging_opts_load(keel__messaging_opts_t *o, struct keel_conf_s *conf, const keel_messaging_url_t *url, char **why)
{
    memset(o, 0, sizeof(*o));
    if (why)
        *why = NULL;
    keel_conf_t *own = NULL;
    int rc;
    if (conf == NULL) {
        if ((rc = scratch_conf(&own, false)) != 0)
            return rc;
        conf = own;
    } else if ((rc = keel_messaging_register_opts(conf)) != 0) {
        return rc;
    }
    /* A conf not parsed yet has no values: its defaults are still oslo's. */
    const char *conf_url = keel_conf_get_str(conf, NULL, "transport_url");
    const char *exchange = keel_conf_get_str(conf, NULL, "control_exchange");
    rc = dup_or_null(conf_url ? conf_url : "rabbit://", &o->transport_url);
    if (rc == 0)
        rc = dup_or_null(exchange ? exchange : "openstack", &o->control_exchange);
    o->rpc_response_timeout = keel_conf_get_int(conf, NULL, "rpc_response_timeout", 60);
    o->executor_thread_pool_size = keel_conf_get_int(conf, NULL, "executor_thread_pool_size", 64);
    o->rpc_ping_enabled = keel_conf_get_bool(conf, NULL, "rpc_ping_enabled");
    o->rpc_conn_pool_size = keel_conf_get_int(conf, NULL, "rpc_conn_pool_size", 30);
    o->conn_pool_min_size = keel_conf_get_int(conf, NULL, "conn_pool_min_size", 2);
    o->conn_pool_ttl = keel_conf_get_int(conf, NULL, "conn_pool_ttl", 1200);
    if (rc == 0)
        rc = load_strv(conf, KEEL__MESSAGING_NOTIFY_GROUP, "driver", &o->notify_drivers);
    if (rc == 0)
        rc = dup_or_null(keel_conf_get_str(conf, KEEL__MESSAGING_NOTIFY_GROUP, "transport_url"), &o->notify_transport_url);
    if (rc == 0)
        rc = load_strv(conf, KEEL__MESSAGING_NOTIFY_GROUP, "topics", &o->notify_topics);
    o->notify_retry = keel_conf_get_int(conf, KEEL__MESSAGING_NOTIFY_GROUP, "retry", -1);
    for (size_t k = 0; rc == 0 && k < NOPTS(rabbit_fields); k++)
        rc = load_field(&o->rabbit, conf, &rabbit_fields[k]);
    if (rc == 0 && url != NULL && url->nquery > 0)
        rc = apply_query(o, url, why);
    keel_conf_free(own);
    if (rc != 0)
        keel__messaging_opts_clear(o);
    return rc;
}

void keel__messaging_opts_clear(keel__messaging_opts_t *o)
{
    keel__free(o->transport_url);
    keel__free(o->control_exchange);
    free_strv(o->notify_drivers);
    keel__free(o->notify_transport_url);
    free_strv(o->notify_topics);
    for (size_t k = 0; k < NOPTS(rabbit_fields); k++)
        if (rabbit_fields[k].kind == F_STR)
            keel__free(*(char **)((char *)&o->rabbit + rabbit_fields[k].offset));
    memset(o, 0, sizeof(*o));
}
