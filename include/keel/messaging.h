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

#ifdef __cplusplus
}
#endif
#endif /* KEEL_MESSAGING_H */
