/*
 * log_int.h — internal to src/log, never installed: the record a line is
 * built from, the compiled form of Python %-format strings, and the hooks
 * the files of the module share.
 *
 * Format strings are compiled once per setup into segments (literal text or
 * one %(key)... field with its flags) so a line is rendered by a walk over
 * the segments with no parsing and no allocation. Keys are resolved at
 * compile time to ids from one table (KEEL__LOG_KEYS), which also gives each
 * key the Python type its value has in a LogRecord, so a conversion Python
 * would reject (%(name)d) fails at setup instead of losing lines later.
 */
#ifndef KEEL_LOG_INT_H
#define KEEL_LOG_INT_H

#include <stdint.h>

#include "keel/core.h"
#include "keel/log.h"

/* Python types of values: what str(), %d and JSON do with them depends on it. */
typedef enum {
    KEEL__LOG_T_STR,  /* str, never None */
    KEEL__LOG_T_STRN, /* str or None */
    KEEL__LOG_T_INT,
    KEEL__LOG_T_FLOAT,
    KEEL__LOG_T_BOOL,
    KEEL__LOG_T_LIST, /* list of str */
    KEEL__LOG_T_NONE, /* always None in keel (stack_info) */
} keel__log_type_t;

/*
 * Every key a format string may name: LogRecord attributes, what oslo.log's
 * ContextFormatter adds, and the keys of oslo.context's
 * get_logging_values() (marked C: only present when a context is set).
 * Columns: id suffix, key, type, context key.
 */
#define KEEL__LOG_KEYS(XX)                                                                                                         \
    XX(NAME, "name", STR, 0)                                                                                                       \
    XX(LEVELNO, "levelno", INT, 0)                                                                                                 \
    XX(LEVELNAME, "levelname", STR, 0)                                                                                             \
    XX(PATHNAME, "pathname", STR, 0)                                                                                               \
    XX(FILENAME, "filename", STR, 0)                                                                                               \
    XX(MODULE, "module", STR, 0)                                                                                                   \
    XX(LINENO, "lineno", INT, 0)                                                                                                   \
    XX(FUNCNAME, "funcName", STR, 0)                                                                                               \
    XX(CREATED, "created", FLOAT, 0)                                                                                               \
    XX(MSECS, "msecs", FLOAT, 0)                                                                                                   \
    XX(RELATIVE, "relativeCreated", FLOAT, 0)                                                                                      \
    XX(THREAD, "thread", INT, 0)                                                                                                   \
    XX(THREADNAME, "threadName", STR, 0)                                                                                           \
    XX(PROCESS, "process", INT, 0)                                                                                                 \
    XX(PROCESSNAME, "processName", STR, 0)                                                                                         \
    XX(MESSAGE, "message", STR, 0)                                                                                                 \
    XX(ASCTIME, "asctime", STR, 0)                                                                                                 \
    XX(MSG, "msg", STR, 0)                                                                                                         \
    XX(EXC_TEXT, "exc_text", STRN, 0)                                                                                              \
    XX(STACK_INFO, "stack_info", NONE, 0)                                                                                          \
    XX(PROJECT, "project", STRN, 0)                                                                                                \
    XX(VERSION, "version", STR, 0)                                                                                                 \
    XX(INSTANCE, "instance", STR, 0)                                                                                               \
    XX(COLOR, "color", STR, 0)                                                                                                     \
    XX(RESET_COLOR, "reset_color", STR, 0)                                                                                         \
    XX(USER_IDENTITY, "user_identity", STR, 1)                                                                                     \
    XX(RESOURCE, "resource", STR, 0)                                                                                               \
    XX(ISOTIME, "isotime", STR, 0)                                                                                                 \
    XX(ERROR_SUMMARY, "error_summary", STR, 0)                                                                                     \
    XX(USER_NAME, "user_name", STRN, 1)                                                                                            \
    XX(PROJECT_NAME, "project_name", STRN, 1)                                                                                      \
    XX(DOMAIN_NAME, "domain_name", STRN, 1)                                                                                        \
    XX(USER_DOMAIN_NAME, "user_domain_name", STRN, 1)                                                                              \
    XX(PROJECT_DOMAIN_NAME, "project_domain_name", STRN, 1)                                                                        \
    XX(USER, "user", STRN, 1)                                                                                                      \
    XX(PROJECT_ID, "project_id", STRN, 1)                                                                                          \
    XX(SYSTEM_SCOPE, "system_scope", STRN, 1)                                                                                      \
    XX(CTX_PROJECT, "project", STRN, 1)                                                                                            \
    XX(DOMAIN, "domain", STRN, 1)                                                                                                  \
    XX(USER_DOMAIN, "user_domain", STRN, 1)                                                                                        \
    XX(PROJECT_DOMAIN, "project_domain", STRN, 1)                                                                                  \
    XX(IS_ADMIN, "is_admin", BOOL, 1)                                                                                              \
    XX(READ_ONLY, "read_only", BOOL, 1)                                                                                            \
    XX(SHOW_DELETED, "show_deleted", BOOL, 1)                                                                                      \
    XX(AUTH_TOKEN, "auth_token", STRN, 1)                                                                                          \
    XX(REQUEST_ID, "request_id", STRN, 1)                                                                                          \
    XX(GLOBAL_REQUEST_ID, "global_request_id", STRN, 1)                                                                            \
    XX(RESOURCE_UUID, "resource_uuid", STRN, 1)                                                                                    \
    XX(ROLES, "roles", LIST, 1)                                                                                                    \
    XX(IS_ADMIN_PROJECT, "is_admin_project", BOOL, 1)                                                                              \
    XX(UUID, "uuid", STR, 0)

typedef enum {
#define KEEL__LOG_KEY_ENUM_(id, key, type, ctx) KEEL__LOG_K_##id,
    KEEL__LOG_KEYS(KEEL__LOG_KEY_ENUM_)
#undef KEEL__LOG_KEY_ENUM_
        KEEL__LOG_K_COUNT_,
    KEEL__LOG_K_UNKNOWN = -1,
} keel__log_key_t;

/* Which keys a format string may name, and what an unknown key does. */
typedef enum {
    KEEL__LOG_NS_RECORD,  /* the line formats: record keys; unknown is an error */
    KEEL__LOG_NS_CONTEXT, /* logging_user_identity_format: any key; unknown/falsy -> "-" */
    KEEL__LOG_NS_UUID,    /* instance_uuid_format: only %(uuid)s */
} keel__log_ns_t;

/* A value as Python would hold it. */
typedef struct keel__log_val_s {
    keel__log_type_t type; /* STRN with s == NULL is None */
    const char *s;
    size_t len;
    int64_t i; /* INT, BOOL */
    double f;
    const char *const *list;
} keel__log_val_t;

/* One piece of a compiled format string. */
typedef struct keel__log_seg_s {
    uint32_t off, len; /* literal text in fmt->text, or the key name */
    int16_t key;       /* keel__log_key_t, or -1 for a literal / unknown key */
    char conv;         /* 0 for a literal; s r a d i u o x X e E f F g G c */
    uint8_t flags;     /* KEEL__LOG_F_* */
    int32_t width;     /* -1 if none */
    int32_t prec;      /* -1 if none */
} keel__log_seg_t;

enum { KEEL__LOG_F_MINUS = 1, KEEL__LOG_F_PLUS = 2, KEEL__LOG_F_SPACE = 4, KEEL__LOG_F_ZERO = 8, KEEL__LOG_F_ALT = 16 };

typedef struct keel__log_fmt_s {
    char *text; /* owned copy of the source */
    keel__log_seg_t *segs;
    size_t n;
    uint64_t uses; /* bit k set when key k appears */
    keel__log_ns_t ns;
    bool has_error_summary_s; /* the text contains "%(error_summary)s" */
} keel__log_fmt_t;

#define KEEL__LOG_USES(f, k) (((f)->uses >> (k)) & 1u)

/**
 * Compiles a Python %-format string for a namespace. Returns 0, KEEL_ENOMEM,
 * or KEEL_EVALUE with a message in err (errlen bytes). f is zeroed first.
 */
int keel__log_fmt_compile(keel__log_fmt_t *f, const char *s, keel__log_ns_t ns, char *err, size_t errlen);
void keel__log_fmt_free(keel__log_fmt_t *f);

/** Fills *out with the value of key (never KEEL__LOG_K_UNKNOWN). */
typedef void (*keel__log_lookup_fn)(void *data, int key, keel__log_val_t *out);

/**
 * Renders f into out. For NS_CONTEXT, unknown keys and falsy values render
 * as "-" (oslo's _ReplaceFalseValue). Returns 0 or KEEL_ENOMEM.
 */
int keel__log_fmt_render(const keel__log_fmt_t *f, keel__log_lookup_fn get, void *data, keel_buf_t *out);

/** Appends Python's repr() of a float. Returns 0 or KEEL_ENOMEM. */
int keel__log_float_repr(double d, keel_buf_t *out);
/** Appends Python's repr() of a str (ascii_only: ascii()). */
int keel__log_str_repr(const char *s, size_t len, bool ascii_only, keel_buf_t *out);
/** Appends Python's str() of a value. */
int keel__log_val_str(const keel__log_val_t *v, keel_buf_t *out);

/*
 * The record one log call produces: LogRecord's attributes and what oslo's
 * formatters derive from them.
 */
typedef struct keel__log_record_s {
    const char *name;
    int levelno;
    const char *levelname; /* "Level N" is rendered into levelbuf */
    char levelbuf[24];
    const char *pathname;
    const char *filename;
    size_t module_len; /* filename without its last extension */
    const char *funcname;
    int lineno;
    double created, msecs, relative;
    unsigned long thread;
    const char *thread_name;
    int process;
    const char *message;
    size_t message_len;
    const char *msg; /* the printf format */
    const keel_log_context_t *ctx;
    const char *project, *version;
    const char *asctime;
    const char *isotime;
    const char *instance;
    const char *user_identity;
    const char *color; /* set for the stream output only, as ColorHandler does */
    const char *reset_color;
    const char *error_summary;
    const char *traceback;
    const char *exc_text; /* the traceback behind logging_exception_prefix, or NULL */
} keel__log_record_t;

/** Resolves a key against a record (the NS_RECORD lookup function). */
void keel__log_record_lookup(void *record, int key, keel__log_val_t *out);
/** Resolves a key against a context (the NS_CONTEXT lookup function). */
void keel__log_context_lookup(void *ctx, int key, keel__log_val_t *out);

/**
 * Appends the record as one JSON object (oslo's JSONFormatter keys) using
 * jansson. args is the printf argument list of the call (decoded by
 * walking msg). Returns 0, KEEL_ENOMEM.
 */
int keel__log_json(const keel__log_record_t *r, const char *hostname, va_list args, keel_buf_t *out);

/** Sets the message keel_log_error() returns on this thread; returns rc. */
int keel__log_set_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Replaces the clock (seconds since the epoch) and the start time; tests only. NULL restores. */
void keel__log_set_clock(double (*now)(void), double start);

/** Thread ident as Python's threading.get_ident() gives it. */
unsigned long keel__log_thread_ident(void);

#endif /* KEEL_LOG_INT_H */
