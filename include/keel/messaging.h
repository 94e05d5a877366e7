/*
 * keel/messaging.h — oslo.messaging in C: transport URLs and options,
 * targets, RPC clients and servers, notifiers and notification listeners,
 * over a driver (fake:// in memory today; rabbit:// over keel's AMQP client
 * next), with the rabbit driver's message format so that keel services and
 * Python OpenStack services can call each other
 * (docs/messaging.md, spec/oslo-messaging-wire.md).
 *
 * The concepts are oslo.messaging 14.0.3's and keep their names: a
 * Transport made from a transport URL and keel_conf options, a Target
 * (exchange, topic, namespace, version, server, fanout), an RPC client with
 * call/cast and prepare(), an RPC server with endpoints and executors, a
 * Notifier and a notification listener with filters and pools. What is
 * C-shaped is the plumbing: messages are jansson values, calls complete
 * through callbacks on one libuv loop (with blocking wrappers for other
 * threads), and errors are codes plus, for errors raised by a remote
 * endpoint, an error object.
 *
 * Threads. A transport belongs to one libuv loop and every object made from
 * it belongs to that loop: call the functions on the loop's thread unless
 * a function says otherwise. The *_sync() functions are the exception: they
 * are for other threads (workers of the threading executor, a program's own
 * threads) and block until the loop has done the work.
 *
 * Async contract (STYLE.md rule 5): if a function that takes a callback
 * returns an error, the callback never runs; otherwise it runs exactly
 * once, never from inside the call that registered it. Callbacks get the
 * object first, then the status, then data.
 *
 * JSON ownership: a json_t * argument documented as "taken" is owned by
 * the callee from the call on, also when the call fails (so
 * keel_messaging_rpc_cast(c, ctxt, "m", json_pack(...), ...) never leaks);
 * "borrowed" values stay the caller's. Values handed to callbacks are
 * borrowed for the duration of the callback: json_incref() to keep them.
 */
#ifndef KEEL_MESSAGING_H
#define KEEL_MESSAGING_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct keel_conf_s;

/* ------------------------------------------------------------------------
 * Errors
 *
 * Calls return 0 or a negative code: the KEEL_E* codes of keel/core.h
 * (KEEL_ETIMEDOUT is oslo's MessagingTimeout, KEEL_ENOMEM, KEEL_EINVAL for
 * a misuse of the API) or one of these, oslo.messaging's exceptions. They
 * sit in their own range below core's.
 */
#define KEEL_MESSAGING_ERRNO_MAP(XX)                                                                                               \
    XX(EREMOTE, -4200, "remote endpoint raised an exception")                        /* RemoteError and re-raised exceptions */    \
    XX(EVERSIONCAP, -4201, "requested version is incompatible with the version cap") /* RPCVersionCapError */                      \
    XX(ETARGET, -4202, "invalid target")                                             /* InvalidTarget */                           \
    XX(EDELIVERY, -4203, "message could not be delivered")                           /* MessageDeliveryFailure */                  \
    XX(ENOSUCHMETHOD, -4204, "endpoint does not support the RPC method")             /* NoSuchMethod */                            \
    XX(EUNSUPPORTEDVERSION, -4205, "endpoint does not support the RPC version")      /* UnsupportedVersion */                      \
    XX(EDUPLICATE, -4206, "duplicate message")                                       /* DuplicateMessageError */                   \
    XX(EURL, -4207, "invalid transport URL")                                         /* InvalidTransportURL, its ValueErrors */    \
    XX(EENVELOPE, -4208, "unsupported message envelope version")                     /* UnsupportedRpcEnvelopeVersion */           \
    XX(EDRIVER, -4209, "no such transport driver")                                   /* DriverLoadFailure */                       \
    XX(ESERIALIZE, -4210, "serializer failed")                                       /* an exception from a Serializer */

enum {
#define KEEL_MESSAGING_ERR_ENUM_(name, value, msg) KEEL_MESSAGING_##name = (value),
    KEEL_MESSAGING_ERRNO_MAP(KEEL_MESSAGING_ERR_ENUM_)
#undef KEEL_MESSAGING_ERR_ENUM_
};

/** As keel_strerror(), and knows the messaging codes too; never NULL. */
const char *keel_messaging_strerror(int err);
/** As keel_err_name(), and knows the messaging codes ("EREMOTE"). */
const char *keel_messaging_err_name(int err);

/* ------------------------------------------------------------------------
 * Transport URLs
 *
 *   driver://[user[:pass]@]host[:port][,[user[:pass]@]host[:port]...]/virtual_host?query
 *
 * Parsed exactly as oslo_messaging.TransportURL.parse() does on Python 3.11
 * (urllib.parse.urlparse, then oslo's own netloc split):
 * tests/interop/messaging_url_diff.py checks it against the real thing.
 * The result is what the URL says and no more; the defaults a driver fills
 * in (guest/guest@localhost:5672, vhost "/") come from
 * keel_messaging_url_broker().
 */

/** One host of a URL. Absent parts are NULL; port is valid when has_port. */
typedef struct keel_messaging_url_host_s {
    char *hostname; /* IPv6 without brackets; NULL when absent, "" for "[]"-like leftovers */
    char *username; /* percent-decoded */
    char *password; /* percent-decoded */
    int64_t port;   /* Python's int() of the text: may be 0 or negative */
    bool has_port;
} keel_messaging_url_host_t;

/** One query option: repeated keys are joined with ',' as oslo does. */
typedef struct keel_messaging_url_query_s {
    char *key;
    char *value;
} keel_messaging_url_query_t;

/** A parsed transport URL; owned by whoever parsed it, freed with keel_messaging_url_free(). */
typedef struct keel_messaging_url_s {
    char *transport;    /* the scheme, lower-cased: "rabbit", "fake", "kombu+memory" */
    char *virtual_host; /* the path without its first '/', percent-decoded; NULL without a path */
    keel_messaging_url_host_t *hosts;
    size_t nhosts;
    keel_messaging_url_query_t *query; /* in the order keys first appear */
    size_t nquery;
} keel_messaging_url_t;

/**
 * Parses a transport URL. On success *out is a new URL. On failure returns
 * KEEL_MESSAGING_EURL and, if why is not NULL, points *why at a static
 * text saying what oslo would have raised ("No scheme specified",
 * "Invalid IPv6 URL", "Invalid port", ...); or KEEL_ENOMEM.
 */
int keel_messaging_url_parse(const char *text, keel_messaging_url_t **out, const char **why);

/** Frees a URL; NULL does nothing. */
void keel_messaging_url_free(keel_messaging_url_t *url);

/**
 * Appends the URL as str(TransportURL) writes it (credentials and vhost
 * re-quoted, query re-encoded). With mask_password the password is
 * written as "****" (for logs). Returns 0 or KEEL_ENOMEM.
 */
int keel_messaging_url_format(const keel_messaging_url_t *url, bool mask_password, keel_buf_t *out);

/** Returns the value of a query option, or NULL. */
const char *keel_messaging_url_query_get(const keel_messaging_url_t *url, const char *key);

/**
 * What the rabbit driver connects to for host i (kombu's view of the URL):
 * missing or empty user and password are "guest", a missing host is
 * "localhost" (a URL without hosts has one such host: i = 0), a missing or
 * zero port is 5672, and the vhost is the URL's or "/" when it is missing
 * or empty. Strings are borrowed from url (or static).
 */
typedef struct keel_messaging_broker_s {
    const char *hostname;
    uint16_t port;
    const char *username;
    const char *password;
    const char *virtual_host;
} keel_messaging_broker_t;

/** Fills *out for host i. Returns 0, or KEEL_ERANGE (no such host, or a port outside 1..65535). */
int keel_messaging_url_broker(const keel_messaging_url_t *url, size_t i, keel_messaging_broker_t *out);

/* ------------------------------------------------------------------------
 * Options
 *
 * oslo.messaging's options with its names, types, defaults, deprecated
 * names and help texts (oslo_messaging.opts.list_opts(), checked by
 * tests/interop/messaging_url_diff.py):
 *
 *   [DEFAULT]  transport_url, control_exchange, rpc_response_timeout,
 *              executor_thread_pool_size, rpc_ping_enabled,
 *              rpc_conn_pool_size, conn_pool_min_size, conn_pool_ttl
 *   [oslo_messaging_notifications]  driver, transport_url, topics, retry
 *   [oslo_messaging_rabbit]  every option of the rabbit driver
 *              (amqp_durable_queues, amqp_auto_delete, ssl*, heartbeat_*,
 *              rabbit_*, kombu_*, direct_mandatory_flag, ...)
 *
 * A transport URL's query options override [oslo_messaging_rabbit] for
 * that transport only, converted with the option's type; an unknown name
 * or a bad value makes the transport fail as in oslo.
 */

/** Registers the options above in conf. Registering again is a no-op. Returns 0 or conf's error. */
int keel_messaging_register_opts(struct keel_conf_s *conf);

/**
 * As oslo's set_transport_defaults(): sets the default of control_exchange
 * (services pass their own name, e.g. "nova"). Registers the options
 * first if needed. Returns 0 or conf's error.
 */
int keel_messaging_set_transport_defaults(struct keel_conf_s *conf, const char *control_exchange);

/* ------------------------------------------------------------------------
 * Targets and versions
 */

/**
 * Where messages go or what a server listens to (oslo_messaging.Target).
 * Which fields matter depends on the role, as in oslo:
 *
 *   RPC client        topic required; exchange, namespace, version, server,
 *                     fanout optional (a call may not be fanout);
 *   RPC server        topic and server required; exchange optional;
 *   RPC endpoint      namespace and version (and legacy_namespaces);
 *   notifier          none: topics come from its options;
 *   listener          topic required; exchange optional.
 *
 * exchange NULL means the transport's control_exchange. Strings are
 * borrowed for the duration of the call that takes the target; objects
 * that keep a target copy it.
 */
typedef struct keel_messaging_target_s {
    const char *exchange;
    const char *topic;
    const char *namespace_; /* NULL: the null namespace */
    const char *version;    /* "M.N" or "M.N.R"; NULL: none ("1.0" for endpoints) */
    const char *server;
    bool fanout;
    /** Endpoints only: more namespaces accepted during a rename; NULL-terminated, may be NULL. */
    const char *const *legacy_namespaces;
} keel_messaging_target_t;

/**
 * oslo's version_is_compatible(imp_version, version): true when a server
 * implementing imp_version may serve version — same major, requested
 * minor not above the implemented one, and with equal minors the
 * revision not above. imp_version NULL accepts everything; version NULL
 * only a NULL imp_version. Parts are read with Python's int(), lazily as
 * oslo reads them. Returns 0 and sets *out, or KEEL_EVALUE when a part
 * oslo looks at is not an integer or a minor is missing.
 */
int keel_messaging_version_is_compatible(const char *imp_version, const char *version, bool *out);

/* ------------------------------------------------------------------------
 * Request context
 *
 * A context is a JSON object, what oslo.context's RequestContext.to_dict()
 * makes and the serializer of most services (RequestContextSerializer)
 * sends: on the wire each key k travels as "_context_<k>", and the
 * receiver gets the object back (plus "client_timeout" on RPC servers).
 */
struct keel_log_context_s;

/**
 * Makes the context dict RequestContext.to_dict() makes from these values:
 * user, project_id, system_scope, project, domain, user_domain,
 * project_domain, is_admin, read_only, show_deleted, auth_token,
 * request_id, global_request_id, resource_uuid, roles, user_identity,
 * is_admin_project, in that order. Returns 0 and a new object, or
 * KEEL_ENOMEM.
 */
int keel_messaging_context_from_log(const struct keel_log_context_s *lc, json_t **out);

/**
 * Makes a context dict the calling thread's keel_log context, as
 * RequestContext.from_dict() does on an oslo server: log lines written
 * while the endpoint runs carry its request_id, user and project. ctxt is
 * borrowed. Returns 0, KEEL_EINVAL (not an object) or KEEL_ENOMEM.
 */
int keel_messaging_context_apply_log(json_t *ctxt);

/* ------------------------------------------------------------------------
 * Serializer
 *
 * oslo's Serializer: hooks that turn entities (call arguments, results,
 * notification payloads) and the context into their wire form and back.
 * A NULL hook is the identity (NoOpSerializer). Each hook borrows its
 * inputs and returns 0 with a new reference in *out (json_incref(in) is
 * fine), or a negative code: the call then fails with
 * KEEL_MESSAGING_ESERIALIZE (on a server, a SerializationError reply).
 * Hooks run where the work runs: on the loop's thread, or on a worker of
 * the threading executor.
 */
typedef struct keel_messaging_serializer_s {
    int (*serialize_entity)(void *data, json_t *ctxt, json_t *entity, json_t **out);
    int (*deserialize_entity)(void *data, json_t *ctxt, json_t *entity, json_t **out);
    int (*serialize_context)(void *data, json_t *ctxt, json_t **out);
    int (*deserialize_context)(void *data, json_t *ctxt, json_t **out);
    void *data;
} keel_messaging_serializer_t;

/* ------------------------------------------------------------------------
 * Remote errors
 *
 * An exception raised by an RPC endpoint travels in the reply's "failure"
 * as the JSON text serialize_remote_exception() writes: {"class",
 * "module", "message", "tb", "args", "kwargs"}. A keel server writes it
 * from a keel_messaging_error_t; a keel client reads it back into one. As
 * in oslo's deserialize_remote_exception(), the module "exceptions" reads
 * as "builtins", and the error is "allowed" when its module is builtins or
 * one of the transport's allowed_remote_exmods: a Python client would then
 * re-raise that class, and otherwise oslo_messaging.RemoteError.
 */
typedef struct keel_messaging_error_s {
    char *exc_class;  /* "ValueError", "NoSuchMethod" */
    char *exc_module; /* "builtins", "oslo_messaging.rpc.dispatcher", "nova.exception" */
    char *message;    /* str(exception) on the raising side */
    /**
     * The remote traceback: the "tb" lines joined with "\n" as oslo joins
     * them; "" when there were none. On the sending side, NULL makes
     * keel write one line, "<class>: <message>", as Python's last line.
     */
    char *traceback;
    json_t *args;   /* the exception's args (a list); never NULL once made */
    json_t *kwargs; /* its kwargs (an object); never NULL once made */
    bool allowed;   /* received: the module is builtins or allowed (see above) */
    bool expected;  /* sending: an expected exception, logged at DEBUG, not ERROR */
} keel_messaging_error_t;

/**
 * Makes an error with class, module (NULL: "builtins") and a printf
 * message; args is [message], kwargs {}. Returns 0, KEEL_EINVAL (no
 * class) or KEEL_ENOMEM. Free with keel_messaging_error_free().
 */
int keel_messaging_error_new(keel_messaging_error_t **out, const char *exc_class, const char *exc_module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Frees an error; NULL does nothing. */
void keel_messaging_error_free(keel_messaging_error_t *e);

/** Returns a deep copy of e in *out. Returns 0 or KEEL_ENOMEM. */
int keel_messaging_error_copy(const keel_messaging_error_t *e, keel_messaging_error_t **out);

/**
 * Appends the "failure" text serialize_remote_exception() would write
 * (a class and module that both end in "_Remote" lose that suffix).
 * Returns 0 or KEEL_ENOMEM.
 */
int keel_messaging_error_serialize(const keel_messaging_error_t *e, keel_buf_t *out);

/**
 * Reads a "failure" text. allowed_exmods (NULL-terminated, may be NULL)
 * decides e->allowed. Returns 0 and a new error, KEEL_EPARSE (not a JSON
 * object) or KEEL_ENOMEM. Missing fields read as oslo reads them: message
 * "", tb [], args [], kwargs {}.
 */
int keel_messaging_error_deserialize(const char *text, size_t len, const char *const *allowed_exmods, keel_messaging_error_t **out);

/**
 * Appends what str() of the exception gives a Python client: for an
 * allowed error the message, "\n" and the traceback; otherwise
 * RemoteError's "Remote error: <class> <message>\n<traceback>.". Returns 0
 * or KEEL_ENOMEM.
 */
int keel_messaging_error_format(const keel_messaging_error_t *e, keel_buf_t *out);

/* ------------------------------------------------------------------------
 * Transports
 *
 * A transport is oslo's Transport: a driver chosen by the URL's scheme,
 * the options it was made with, and the connections it keeps. Drivers:
 *
 *   fake://   in memory, on the loop: exchanges, queues and bindings as
 *             the rabbit driver declares them (spec §4), so the whole API
 *             can be tested in one process. Transports that share a
 *             keel_messaging_fake_broker_t talk to each other; a fake://
 *             transport without one gets its own.
 *   rabbit:// (and kombu://) over keel's AMQP client (include/keel/client.h):
 *             oslo's rabbit driver on the wire, to RabbitMQ or keeld; the
 *             transport connects in the background and reconnects by
 *             itself (docs/messaging.md, "The rabbit:// driver").
 */
typedef struct keel_messaging_transport_s keel_messaging_transport_t;
typedef struct keel_messaging_fake_broker_s keel_messaging_fake_broker_t;

typedef struct keel_messaging_transport_opts_s {
    /**
     * The transport URL; NULL or "" reads conf's transport_url (with
     * .notifications, [oslo_messaging_notifications] transport_url first,
     * as get_notification_transport() does).
     */
    const char *url;
    bool notifications;
    /**
     * Modules whose exceptions a Python client would re-raise as
     * themselves (oslo's allowed_remote_exmods); NULL-terminated, copied.
     * Decides keel_messaging_error_t.allowed of errors calls return.
     */
    const char *const *allowed_remote_exmods;
    /** fake:// only: the in-memory broker to use (borrowed; must outlive the transport). */
    keel_messaging_fake_broker_t *fake_broker;
    /** If not NULL, receives a one-line message when keel_messaging_transport_new() fails. */
    keel_buf_t *error;
} keel_messaging_transport_opts_t;

/**
 * Makes a transport on loop (call on the loop's thread: the transport
 * remembers it as the thread whose calls must not block). conf may be NULL
 * (oslo's defaults); it is read now and not kept, its options registered
 * if they were not. opts may be NULL. Returns 0,
 * KEEL_MESSAGING_EURL (the URL), KEEL_ENOOPT or KEEL_EVALUE (a query
 * option), KEEL_MESSAGING_EDRIVER (no such driver), KEEL_ENOMEM, or an
 * error of libuv.
 */
int keel_messaging_transport_new(keel_messaging_transport_t **out, uv_loop_t *loop, struct keel_conf_s *conf,
                                 const keel_messaging_transport_opts_t *opts);

typedef void (*keel_messaging_transport_close_cb)(keel_messaging_transport_t *t, void *data);

/**
 * Closes a transport: calls still waiting for a reply fail with
 * KEEL_ECANCELED, then its handles are closed and cb (may be NULL) runs;
 * the transport's memory is released after cb returns. RPC servers and
 * listeners made from it must have been freed first: KEEL_EBUSY
 * otherwise (nothing happens). Clients and notifiers need not be, but must
 * not be used afterwards.
 */
int keel_messaging_transport_close(keel_messaging_transport_t *t, keel_messaging_transport_close_cb cb, void *data);

/** The transport's parsed URL (borrowed). */
const keel_messaging_url_t *keel_messaging_transport_url(const keel_messaging_transport_t *t);

/** The loop the transport runs on. */
uv_loop_t *keel_messaging_transport_loop(const keel_messaging_transport_t *t);

/**
 * Makes an in-memory broker for fake:// transports (opts.fake_broker). It
 * owns no handles; it belongs to the loop of the transports using it, and
 * they must all run on one loop. Returns 0 or KEEL_ENOMEM.
 */
int keel_messaging_fake_broker_new(keel_messaging_fake_broker_t **out);

/** Frees a broker and everything queued in it; KEEL_EBUSY while transports use it. NULL returns 0. */
int keel_messaging_fake_broker_free(keel_messaging_fake_broker_t *b);

/**
 * Appends the broker's topology, one line per entity, sorted, as
 * rabbitmqctl would list it: "exchange NAME TYPE durable=B auto_delete=B",
 * "queue NAME durable=B auto_delete=B messages=N unacked=N consumers=N",
 * "binding EXCHANGE -> QUEUE key KEY". Reply and fanout queues show their
 * random suffix as "*". For tests and debugging. Returns 0 or KEEL_ENOMEM.
 */
int keel_messaging_fake_broker_describe(const keel_messaging_fake_broker_t *b, keel_buf_t *out);

/**
 * Publishes body (len bytes, as they are) to exchange with routing_key,
 * as a raw AMQP client would: "" is the default exchange, which routes to
 * the queue named by the key. For tests that hand-craft messages. Returns
 * 0 (also when no queue took it), KEEL_ENOENT (no such exchange),
 * KEEL_ECONNREFUSED (the broker is down) or KEEL_ENOMEM.
 */
int keel_messaging_fake_broker_publish(keel_messaging_fake_broker_t *b, const char *exchange, const char *routing_key,
                                       const char *body, size_t len);

/**
 * basic.get: takes the first ready message of queue (acknowledged) and
 * appends its body to out. Returns 0, KEEL_EAGAIN (the queue is empty),
 * KEEL_ENOENT (no such queue) or KEEL_ENOMEM.
 */
int keel_messaging_fake_broker_get(keel_messaging_fake_broker_t *b, const char *queue, keel_buf_t *out);

/**
 * Makes the broker refuse (down = true) or accept publishes, to test
 * retries: a refused publish is retried as `retry` says, then fails with
 * KEEL_MESSAGING_EDELIVERY.
 */
void keel_messaging_fake_broker_set_down(keel_messaging_fake_broker_t *b, bool down);

/* ------------------------------------------------------------------------
 * RPC client
 */
typedef struct keel_messaging_rpc_client_s keel_messaging_rpc_client_t;

/** retry: -1 retries forever (oslo's None), 0 never, N at most N times. */
#define KEEL_MESSAGING_RETRY_FOREVER (-1)

typedef struct keel_messaging_rpc_client_opts_s {
    double timeout;              /* seconds a call waits; <= 0: rpc_response_timeout */
    const char *version_cap;     /* NULL: none */
    int retry;                   /* see KEEL_MESSAGING_RETRY_FOREVER */
    double call_monitor_timeout; /* <= 0: none; else the server heartbeats long calls */
    /**
     * oslo's TransportOptions(at_least_once=True): requests are published
     * mandatory, so one that no queue takes (no server listens on its
     * topic) fails with KEEL_MESSAGING_EDELIVERY (MessageUndeliverable)
     * instead of being dropped by the broker. Kept by prepare().
     */
    bool at_least_once;
    /** Borrowed; must outlive the client and the clients prepared from it. NULL: none. */
    const keel_messaging_serializer_t *serializer;
} keel_messaging_rpc_client_opts_t;

/** oslo's defaults: no timeout of its own, no cap, retry forever. */
#define KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT                                                                                        \
    {                                                                                                                              \
        .retry = KEEL_MESSAGING_RETRY_FOREVER                                                                                      \
    }

/**
 * Makes an RPC client (get_rpc_client()) for target (copied). opts NULL
 * means KEEL_MESSAGING_RPC_CLIENT_OPTS_INIT. A client is immutable: it may
 * be used from the loop's thread (async calls) and from any other thread
 * (the _sync calls) at once. As in oslo, versions are read when they are
 * used, not here. Returns 0, KEEL_EINVAL or KEEL_ENOMEM.
 */
int keel_messaging_rpc_client_new(keel_messaging_rpc_client_t **out, keel_messaging_transport_t *t,
                                  const keel_messaging_target_t *target, const keel_messaging_rpc_client_opts_t *opts);

/** What prepare() changes: the fields whose KEEL_MESSAGING_PREPARE_* bit is set in `set`. */
enum {
    KEEL_MESSAGING_PREPARE_EXCHANGE = 1u << 0,
    KEEL_MESSAGING_PREPARE_TOPIC = 1u << 1,
    KEEL_MESSAGING_PREPARE_NAMESPACE = 1u << 2,
    KEEL_MESSAGING_PREPARE_VERSION = 1u << 3,
    KEEL_MESSAGING_PREPARE_SERVER = 1u << 4,
    KEEL_MESSAGING_PREPARE_FANOUT = 1u << 5,
    KEEL_MESSAGING_PREPARE_TIMEOUT = 1u << 6,
    KEEL_MESSAGING_PREPARE_VERSION_CAP = 1u << 7,
    KEEL_MESSAGING_PREPARE_RETRY = 1u << 8,
    KEEL_MESSAGING_PREPARE_CALL_MONITOR_TIMEOUT = 1u << 9,
    KEEL_MESSAGING_PREPARE_PUBLISHER_ID = 1u << 10, /* notifiers */
};

typedef struct keel_messaging_prepare_s {
    unsigned set;
    const char *exchange, *topic, *namespace_, *version, *server; /* NULL sets None */
    bool fanout;
    double timeout;
    const char *version_cap;
    int retry;
    double call_monitor_timeout;
    const char *publisher_id; /* notifiers */
} keel_messaging_prepare_t;

/**
 * RPCClient.prepare(): a new client like base with the fields named in
 * changes->set replaced, e.g.
 *
 *   keel_messaging_rpc_client_prepare(client, &(keel_messaging_prepare_t){
 *       .set = KEEL_MESSAGING_PREPARE_VERSION | KEEL_MESSAGING_PREPARE_SERVER,
 *       .version = "2.5", .server = "host1"}, &cctxt);
 *
 * Free it with keel_messaging_rpc_client_free(). Returns 0, KEEL_EVALUE
 * ("Version must contain a major and minor integer") or KEEL_ENOMEM.
 */
int keel_messaging_rpc_client_prepare(const keel_messaging_rpc_client_t *base, const keel_messaging_prepare_t *changes,
                                      keel_messaging_rpc_client_t **out);

/**
 * Releases a client; calls in flight still complete and their callbacks
 * still get the client. NULL does nothing.
 */
void keel_messaging_rpc_client_free(keel_messaging_rpc_client_t *c);

/** The client's target (borrowed). */
const keel_messaging_target_t *keel_messaging_rpc_client_target(const keel_messaging_rpc_client_t *c);

/** can_send_version(): version (NULL: the target's) against the version cap. */
bool keel_messaging_rpc_client_can_send_version(const keel_messaging_rpc_client_t *c, const char *version);

/**
 * Outcome of a call: status 0 with the result (borrowed: json_incref() to
 * keep it; JSON null for None); KEEL_MESSAGING_EREMOTE with the remote
 * error (borrowed); KEEL_ETIMEDOUT (MessagingTimeout: no reply within the
 * timeout, or no heartbeat within call_monitor_timeout);
 * KEEL_MESSAGING_EDELIVERY (retries used up); KEEL_MESSAGING_ESERIALIZE;
 * KEEL_ECANCELED (the transport closed).
 */
typedef void (*keel_messaging_call_cb)(keel_messaging_rpc_client_t *c, int status, json_t *result,
                                       const keel_messaging_error_t *error, void *data);

/**
 * RPCClient.call(): sends method with args (a JSON object of keyword
 * arguments, taken; NULL is {}) and the context ctxt (borrowed, may be
 * NULL) to the target and waits for the reply. Returns 0 (cb will run), or
 * at once: KEEL_MESSAGING_ETARGET (no topic, or fanout — a call cannot be
 * fanout), KEEL_MESSAGING_EVERSIONCAP (the target's version is above the
 * cap; nothing was sent), KEEL_MESSAGING_ESERIALIZE, KEEL_EINVAL,
 * KEEL_ENOMEM, KEEL_ECANCELED (the transport is closing).
 */
int keel_messaging_rpc_call(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args,
                            keel_messaging_call_cb cb, void *data);

/** Outcome of a cast: 0 once the driver has sent it (a broker confirm), or an error as for calls. */
typedef void (*keel_messaging_cast_cb)(keel_messaging_rpc_client_t *c, int status, void *data);

/**
 * RPCClient.cast(): sends without waiting for a reply; with a fanout
 * target every server on the topic gets a copy. cb may be NULL (a failure
 * is then logged). Returns as keel_messaging_rpc_call().
 */
int keel_messaging_rpc_cast(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args,
                            keel_messaging_cast_cb cb, void *data);

/**
 * Blocking call for any thread but the loop's (which must be running):
 * returns what the callback would have said. On 0, *result (may be NULL
 * to discard) is a new reference; on KEEL_MESSAGING_EREMOTE, *error (may
 * be NULL) is an error to free. The JSON values passed in are used by the
 * loop's thread during the call. On the loop's thread: KEEL_EINVAL.
 */
int keel_messaging_rpc_call_sync(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args, json_t **result,
                                 keel_messaging_error_t **error);

/** Blocking cast for any thread but the loop's; returns the cast's status. */
int keel_messaging_rpc_cast_sync(keel_messaging_rpc_client_t *c, json_t *ctxt, const char *method, json_t *args);

/* ------------------------------------------------------------------------
 * RPC server
 *
 * An RPC server listens on a target (topic and server; it also gets the
 * topic's fanout messages) and dispatches each request to the first
 * endpoint, in the order given, whose target accepts the request's
 * namespace and version and which has the method (spec §8). A method runs
 * with a request handle and finishes it with keel_messaging_request_reply()
 * or keel_messaging_request_fail(); returning without either is a None
 * result, unless it called keel_messaging_request_defer() to finish later.
 */
typedef struct keel_messaging_rpc_server_s keel_messaging_rpc_server_t;
typedef struct keel_messaging_request_s keel_messaging_request_t;

typedef void (*keel_messaging_method_fn)(keel_messaging_request_t *req, void *data);

/** One RPC method of an endpoint. */
typedef struct keel_messaging_method_s {
    const char *name;
    keel_messaging_method_fn fn;
    /** For KEEL_MESSAGING_ACCESS_EXPLICIT: the method is exposed (oslo's @expose). */
    bool exposed;
} keel_messaging_method_t;

/**
 * An endpoint: its target (namespace_, version and legacy_namespaces are
 * read; a zero target is oslo's endpoint without one: the null namespace,
 * version 1.0), its methods (ended by an entry with a NULL name) and the
 * data every method gets. Borrowed: it must outlive the server.
 */
typedef struct keel_messaging_endpoint_s {
    keel_messaging_target_t target;
    const keel_messaging_method_t *methods;
    void *data;
} keel_messaging_endpoint_t;

/**
 * Where methods run (oslo's executors, in C):
 *
 *   THREADING  on a pool of up to executor_thread_pool_size threads that
 *              the server starts as work arrives (oslo's default);
 *              replies go back through the loop;
 *   BLOCKING   on the loop's thread, one request at a time: the next
 *              request waits until the current one is finished, even a
 *              deferred one;
 *   LOOP       on the loop's thread as requests arrive; a method that
 *              defers lets the next one start (the C form of eventlet's
 *              green threads).
 */
typedef enum {
    KEEL_MESSAGING_EXECUTOR_THREADING = 0,
    KEEL_MESSAGING_EXECUTOR_BLOCKING,
    KEEL_MESSAGING_EXECUTOR_LOOP,
} keel_messaging_executor_t;

/** oslo's RPC access policies: which method names may be called. */
typedef enum {
    KEEL_MESSAGING_ACCESS_DEFAULT = 0, /* not names starting with '_' (DefaultRPCAccessPolicy) */
    KEEL_MESSAGING_ACCESS_LEGACY,      /* every method (LegacyRPCAccessPolicy) */
    KEEL_MESSAGING_ACCESS_EXPLICIT,    /* only methods marked exposed (ExplicitRPCAccessPolicy) */
} keel_messaging_access_policy_t;

typedef struct keel_messaging_rpc_server_opts_s {
    keel_messaging_executor_t executor;
    keel_messaging_access_policy_t access_policy;
    /** Borrowed; must outlive the server. NULL: none. */
    const keel_messaging_serializer_t *serializer;
} keel_messaging_rpc_server_opts_t;

/**
 * get_rpc_server(): makes a server for target (copied; topic and server
 * are required when it starts) and endpoints (borrowed, n of them). opts
 * may be NULL (threading executor, default access policy). With
 * rpc_ping_enabled the server also answers oslo_rpc_server_ping with
 * "pong". Returns 0, KEEL_EINVAL (a method without a function) or
 * KEEL_ENOMEM.
 */
int keel_messaging_rpc_server_new(keel_messaging_rpc_server_t **out, keel_messaging_transport_t *t,
                                  const keel_messaging_target_t *target, const keel_messaging_endpoint_t *endpoints, size_t n,
                                  const keel_messaging_rpc_server_opts_t *opts);

/**
 * Starts consuming: the queues topic and topic.server and a fanout queue
 * (oslo's ServerListenError cases: KEEL_MESSAGING_ETARGET without topic or
 * server; driver errors). Returns 0 or an error; a second start is a no-op.
 */
int keel_messaging_rpc_server_start(keel_messaging_rpc_server_t *s);

/** Stops taking new requests; requests already taken run to their end. Idempotent. */
void keel_messaging_rpc_server_stop(keel_messaging_rpc_server_t *s);

typedef void (*keel_messaging_rpc_server_wait_cb)(keel_messaging_rpc_server_t *s, int status, void *data);

/**
 * Runs cb (status 0) once the server is stopped and every request it took
 * is finished and replied to (oslo's wait()). Only one wait at a time:
 * KEEL_EBUSY otherwise.
 */
int keel_messaging_rpc_server_wait(keel_messaging_rpc_server_t *s, keel_messaging_rpc_server_wait_cb cb, void *data);

/**
 * Frees a server that never started or whose wait completed (in its
 * callback or later); KEEL_EBUSY otherwise. NULL returns 0.
 */
int keel_messaging_rpc_server_free(keel_messaging_rpc_server_t *s);

/* The request a method runs for. Every accessor borrows from the request. */

/** The method name. */
const char *keel_messaging_request_method(const keel_messaging_request_t *req);
/** The keyword arguments, deserialized: an object, never NULL. */
json_t *keel_messaging_request_args(const keel_messaging_request_t *req);
/** One argument, or NULL. */
json_t *keel_messaging_request_arg(const keel_messaging_request_t *req, const char *name);
/** The context, deserialized, with "client_timeout" added as oslo adds it. */
json_t *keel_messaging_request_context(const keel_messaging_request_t *req);
/** The endpoint that matched. */
const keel_messaging_endpoint_t *keel_messaging_request_endpoint(const keel_messaging_request_t *req);
/** True for a call (the caller waits for the result), false for a cast. */
bool keel_messaging_request_is_call(const keel_messaging_request_t *req);

/**
 * Finishes the request with result (taken; NULL is None). May be called
 * once, from any thread; afterwards the request may be gone. Returns 0,
 * or KEEL_EINVAL if the request was already finished (result released).
 */
int keel_messaging_request_reply(keel_messaging_request_t *req, json_t *result);

/**
 * Finishes the request with an exception: class, module (NULL:
 * "builtins") and a printf message, as serialize_remote_exception() would
 * describe it. A cast's failure is only logged. As keel_messaging_request_reply().
 */
int keel_messaging_request_fail(keel_messaging_request_t *req, const char *exc_class, const char *exc_module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * Finishes the request with an error object (taken, also on failure):
 * kwargs, args, a traceback, or expected = true (oslo's
 * @expected_exceptions: logged at DEBUG instead of as an exception).
 */
int keel_messaging_request_fail_error(keel_messaging_request_t *req, keel_messaging_error_t *error);

/**
 * Called by a method that will finish the request later (from any thread,
 * once). Returns 0, or KEEL_EINVAL when not called from within the method
 * or called twice.
 */
int keel_messaging_request_defer(keel_messaging_request_t *req);

/* ------------------------------------------------------------------------
 * Notifications
 *
 * Priorities are oslo's, in its order. The routing key and the listener's
 * method use the lower-case name ("info"); the body's "priority" field is
 * upper case ("INFO").
 */
#define KEEL_MESSAGING_PRIORITY_MAP(XX)                                                                                            \
    XX(AUDIT, "audit", "AUDIT")                                                                                                    \
    XX(DEBUG, "debug", "DEBUG")                                                                                                    \
    XX(INFO, "info", "INFO")                                                                                                       \
    XX(WARN, "warn", "WARN")                                                                                                       \
    XX(ERROR, "error", "ERROR")                                                                                                    \
    XX(CRITICAL, "critical", "CRITICAL")                                                                                           \
    XX(SAMPLE, "sample", "SAMPLE")

typedef enum {
#define KEEL_MESSAGING_PRIORITY_ENUM_(name, lower, upper) KEEL_MESSAGING_##name,
    KEEL_MESSAGING_PRIORITY_MAP(KEEL_MESSAGING_PRIORITY_ENUM_)
#undef KEEL_MESSAGING_PRIORITY_ENUM_
        KEEL_MESSAGING_PRIORITY_COUNT
} keel_messaging_priority_t;

/** "info" for KEEL_MESSAGING_INFO; NULL out of range. */
const char *keel_messaging_priority_name(keel_messaging_priority_t p);
/** Reads a priority in any case ("INFO", "info"). Returns 0 or KEEL_EINVAL. */
int keel_messaging_priority_parse(const char *name, keel_messaging_priority_t *out);

typedef struct keel_messaging_notifier_s keel_messaging_notifier_t;

/** retry taken from [oslo_messaging_notifications] retry. */
#define KEEL_MESSAGING_RETRY_CONF (-1000000)

typedef struct keel_messaging_notifier_opts_s {
    /** The "publisher_id" of every notification, e.g. "compute.host1"; NULL is None. */
    const char *publisher_id;
    /**
     * Drivers, NULL-terminated: "messagingv2" (the 2.0 envelope), "messaging"
     * (the bare 1.0 dict), "log" (one keel_log line per notification on
     * logger oslo.messaging.notification.<event_type>), "noop". NULL reads
     * [oslo_messaging_notifications] driver, which is empty by default: a
     * notifier then sends nothing, as in oslo. Unknown names are logged and
     * skipped.
     */
    const char *const *drivers;
    /** NULL-terminated; NULL reads [oslo_messaging_notifications] topics (["notifications"]). */
    const char *const *topics;
    int retry; /* KEEL_MESSAGING_RETRY_CONF, or as for RPC clients */
    /** Borrowed; must outlive the notifier and those prepared from it. */
    const keel_messaging_serializer_t *serializer;
} keel_messaging_notifier_opts_t;

#define KEEL_MESSAGING_NOTIFIER_OPTS_INIT                                                                                          \
    {                                                                                                                              \
        .retry = KEEL_MESSAGING_RETRY_CONF                                                                                         \
    }

/**
 * Makes a Notifier (opts NULL: KEEL_MESSAGING_NOTIFIER_OPTS_INIT); the
 * transport is usually one made with .notifications = true. Every string
 * is copied. Immutable, like RPC clients. Returns 0, KEEL_EINVAL or
 * KEEL_ENOMEM.
 */
int keel_messaging_notifier_new(keel_messaging_notifier_t **out, keel_messaging_transport_t *t,
                                const keel_messaging_notifier_opts_t *opts);

/**
 * Notifier.prepare(): a notifier like base with publisher_id and/or retry
 * changed (KEEL_MESSAGING_PREPARE_PUBLISHER_ID, KEEL_MESSAGING_PREPARE_RETRY
 * in changes->set; other fields are ignored). Returns 0, KEEL_EINVAL or KEEL_ENOMEM.
 */
int keel_messaging_notifier_prepare(const keel_messaging_notifier_t *base, const keel_messaging_prepare_t *changes,
                                    keel_messaging_notifier_t **out);

/** Releases a notifier; notifications in flight still complete. NULL does nothing. */
void keel_messaging_notifier_free(keel_messaging_notifier_t *n);

/** is_enabled(): false only when the drivers are exactly ["noop"] (oslo's rule). */
bool keel_messaging_notifier_is_enabled(const keel_messaging_notifier_t *n);

typedef void (*keel_messaging_notify_cb)(keel_messaging_notifier_t *n, int status, void *data);

/**
 * Sends a notification (Notifier.info() and friends): payload (taken)
 * through serialize_entity, the context (borrowed, may be NULL) cut to
 * oslo's whitelist of keys then through serialize_context, in a message
 * with a fresh message_id, publisher_id, event_type, the upper-case
 * priority and a UTC timestamp, to every driver and topic. cb (may be
 * NULL) gets 0 once every send is done or the first error (errors are
 * logged either way, as oslo logs and swallows them). Returns 0, KEEL_EINVAL,
 * KEEL_MESSAGING_ESERIALIZE, KEEL_ENOMEM or KEEL_ECANCELED at once.
 */
int keel_messaging_notify(keel_messaging_notifier_t *n, json_t *ctxt, keel_messaging_priority_t priority, const char *event_type,
                          json_t *payload, keel_messaging_notify_cb cb, void *data);

/** Blocking keel_messaging_notify() for any thread but the loop's. */
int keel_messaging_notify_sync(keel_messaging_notifier_t *n, json_t *ctxt, keel_messaging_priority_t priority,
                               const char *event_type, json_t *payload);

/* ------------------------------------------------------------------------
 * Notification listener
 */
typedef struct keel_messaging_listener_s keel_messaging_listener_t;

/** What an endpoint method returns (NotificationResult). */
typedef enum {
    KEEL_MESSAGING_HANDLED = 0,
    KEEL_MESSAGING_REQUEUE,
} keel_messaging_notification_result_t;

/** One notification as an endpoint sees it; everything is borrowed for the call. */
typedef struct keel_messaging_notification_s {
    keel_messaging_priority_t priority;
    json_t *ctxt;             /* deserialized, with "client_timeout" added as oslo adds it */
    const char *publisher_id; /* NULL when absent */
    const char *event_type;   /* NULL when absent */
    json_t *payload;          /* deserialized; JSON null when absent */
    json_t *metadata;         /* {"message_id": ..., "timestamp": ...} as received */
} keel_messaging_notification_t;

typedef keel_messaging_notification_result_t (*keel_messaging_notification_fn)(const keel_messaging_notification_t *n, void *data);

/**
 * NotificationFilter: regular expressions matched at the start of the
 * value (Python's re.match), compiled with PCRE2 (UTF, Unicode classes).
 * A value that is absent or not a string does not match. context,
 * metadata and payload are NULL-terminated lists of key, regex pairs.
 */
typedef struct keel_messaging_filter_s {
    const char *publisher_id;
    const char *event_type;
    const char *const *context;
    const char *const *metadata;
    const char *const *payload;
} keel_messaging_filter_t;

/**
 * An endpoint: a method per priority it handles (on[KEEL_MESSAGING_INFO]
 * = ...), an optional filter_rule, and the data its methods get. The
 * listener consumes only the priorities some endpoint handles. Borrowed:
 * it must outlive the listener.
 */
typedef struct keel_messaging_notification_endpoint_s {
    keel_messaging_notification_fn on[KEEL_MESSAGING_PRIORITY_COUNT];
    const keel_messaging_filter_t *filter;
    void *data;
} keel_messaging_notification_endpoint_t;

typedef struct keel_messaging_listener_opts_s {
    keel_messaging_executor_t executor;
    /**
     * Listeners with the same pool share one queue named after it
     * (competing consumers); each pool gets its own copy of every
     * notification. NULL: the N.P queues shared by all listeners without a pool.
     */
    const char *pool;
    /** REQUEUE puts the message back (basic.reject requeue); false (oslo's default) acknowledges it anyway. */
    bool allow_requeue;
    const keel_messaging_serializer_t *serializer;
    /** If not NULL, receives why keel_messaging_listener_new() failed (a bad regex). */
    keel_buf_t *error;
} keel_messaging_listener_opts_t;

/**
 * get_notification_listener(): listens on targets (copied; each needs a
 * topic, exchange optional) for the priorities the endpoints implement.
 * Each notification goes to the endpoints implementing its priority, in
 * order, skipping those whose filter does not match, until one returns
 * REQUEUE. Returns 0, KEEL_EINVAL, KEEL_EVALUE (a filter regex does not
 * compile) or KEEL_ENOMEM.
 */
int keel_messaging_listener_new(keel_messaging_listener_t **out, keel_messaging_transport_t *t,
                                const keel_messaging_target_t *targets, size_t ntargets,
                                const keel_messaging_notification_endpoint_t *endpoints, size_t n,
                                const keel_messaging_listener_opts_t *opts);

/**
 * Starts consuming. Returns 0 (a second start is a no-op),
 * KEEL_MESSAGING_ETARGET (a target without a topic), or a driver error.
 */
int keel_messaging_listener_start(keel_messaging_listener_t *l);

/** Stops taking notifications; those taken run to their end and are acknowledged or requeued. Idempotent. */
void keel_messaging_listener_stop(keel_messaging_listener_t *l);

typedef void (*keel_messaging_listener_wait_cb)(keel_messaging_listener_t *l, int status, void *data);

/** Runs cb (status 0) once the listener is stopped and every notification it took is done. KEEL_EBUSY if a wait is pending. */
int keel_messaging_listener_wait(keel_messaging_listener_t *l, keel_messaging_listener_wait_cb cb, void *data);

/** Frees a listener never started or whose wait completed; KEEL_EBUSY otherwise. NULL returns 0. */
int keel_messaging_listener_free(keel_messaging_listener_t *l);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_MESSAGING_H */
