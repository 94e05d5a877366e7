/*
 * keel/log.h — oslo.log in C: levels, named loggers with hierarchical
 * levels, a request context carried per thread, oslo's text and JSON line
 * formats, and stdout/stderr, file and syslog outputs, configured either
 * from a plain struct (keel_log_configure) or from keel_conf with oslo.log's
 * own option names (keel_log_register_opts + keel_log_setup).
 *
 * Design: like Python's logging, the logger tree is process-wide. Loggers
 * are created once and live until exit, so a module keeps the pointer it got
 * from keel_log_get() in a static. Each logger caches its effective level,
 * so a disabled call (KEEL_LOG_DEBUG and friends) costs one load and one
 * branch and never evaluates its arguments. An enabled call formats into
 * per-thread buffers that are reused, so steady-state logging does not
 * allocate (JSON lines do, through jansson). Every line is written whole
 * under one mutex, so lines of different threads never interleave.
 *
 * The output is byte-compatible with oslo.log 5.0 (ContextFormatter,
 * JSONFormatter, ColorHandler, WatchedFileHandler, OSSysLogHandler) for the
 * same options; docs/logging.md lists the few deliberate differences.
 *
 * Thread safety: every function may be called from any thread, except that
 * keel_log_register_opts() follows keel_conf's rules for the conf it gets.
 */
#ifndef KEEL_LOG_H
#define KEEL_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Levels: Python logging's numbers, plus oslo.log's TRACE (5). Any integer
 * is a valid threshold; a message logged at a level without a name shows as
 * "Level N", as in Python.
 */
#define KEEL_LOG_LEVEL_MAP(XX)                                                                                                     \
    XX(CRITICAL, 50)                                                                                                               \
    XX(ERROR, 40)                                                                                                                  \
    XX(WARNING, 30)                                                                                                                \
    XX(INFO, 20)                                                                                                                   \
    XX(DEBUG, 10)                                                                                                                  \
    XX(TRACE, 5)                                                                                                                   \
    XX(NOTSET, 0)

enum {
#define KEEL_LOG_LEVEL_ENUM_(name, value) KEEL_LOG_LEVEL_##name = (value),
    KEEL_LOG_LEVEL_MAP(KEEL_LOG_LEVEL_ENUM_)
#undef KEEL_LOG_LEVEL_ENUM_
};

/**
 * A named logger. Only `name` is public; the rest belongs to the library.
 * Loggers are never freed.
 */
typedef struct keel_log_s keel_log_t;
struct keel_log_s {
    /** Dotted name ("keel.amqp.connection"); "root" for the root logger. */
    const char *name;
    int _effective; /* effective level, read with an atomic load */
    int _level;     /* level set on this logger, KEEL_LOG_LEVEL_NOTSET if none */
    keel_log_t *_next;
};

/**
 * Returns the logger called name, creating it on first use; NULL, "" and
 * "root" name the root logger. As oslo.log's getLogger, a name starting with
 * "oslo_" is renamed "oslo." + rest. Never returns NULL: if memory runs out
 * the root logger is returned.
 */
keel_log_t *keel_log_get(const char *name);

/**
 * Sets the level of the logger called name (created if needed; NULL or ""
 * is the root logger). KEEL_LOG_LEVEL_NOTSET makes it inherit again: the
 * effective level of "a.b.c" is that of the nearest of "a.b.c", "a.b", "a",
 * root that has a level, as in Python logging. Returns 0 or KEEL_ENOMEM.
 */
int keel_log_set_level(const char *name, int level);

/** Returns the effective level of a logger. */
int keel_log_effective_level(const keel_log_t *log);

/** True when a message at level would be written: the cheap check. */
static inline bool keel_log_enabled(const keel_log_t *log, int level)
{
    return level >= __atomic_load_n(&log->_effective, __ATOMIC_RELAXED);
}

/**
 * Returns the static name of a level ("WARNING"), or NULL for a level that
 * has none.
 */
const char *keel_log_level_name(int level);

/**
 * Parses a level as Python's Logger.setLevel() and oslo.log's
 * default_log_levels accept it: an integer (int() syntax: spaces, sign,
 * underscores between digits) or one of CRITICAL, FATAL, ERROR, WARN,
 * WARNING, INFO, DEBUG, TRACE, NOTSET (case matters). Returns 0 and sets
 * *out, or KEEL_EVALUE.
 */
int keel_log_level_parse(const char *text, int *out);

/**
 * Writes one record. file, line and func say where it comes from (the
 * macros pass __FILE__, __LINE__, __func__); fmt and the arguments are
 * printf's. Checks the level itself, so it may be called directly, but the
 * macros below avoid evaluating arguments for a disabled level.
 */
void keel_log_emit(keel_log_t *log, int level, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void keel_log_vemit(keel_log_t *log, int level, const char *file, int line, const char *func, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/**
 * As keel_log_emit(), with an error attached, as oslo.log logs a record
 * with exc_info. error_summary (may be NULL), for WARNING and above, is
 * appended to the text line as ": <summary>" (or fills %(error_summary)s)
 * and is the JSON "error_summary". traceback (may be NULL) is a multi-line
 * text written after the line, each line behind logging_exception_prefix;
 * in JSON it is the "traceback" list. Both are borrowed for the call.
 */
void keel_log_emit_error(keel_log_t *log, int level, const char *file, int line, const char *func, const char *error_summary,
                         const char *traceback, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

#define KEEL_LOG(log, level, ...)                                                                                                  \
    do {                                                                                                                           \
        keel_log_t *keel_log_l_ = (log);                                                                                           \
        int keel_log_v_ = (level);                                                                                                 \
        if (keel_log_enabled(keel_log_l_, keel_log_v_))                                                                            \
            keel_log_emit(keel_log_l_, keel_log_v_, __FILE__, __LINE__, __func__, __VA_ARGS__);                                    \
    } while (0)

#define KEEL_LOG_TRACE(log, ...) KEEL_LOG(log, KEEL_LOG_LEVEL_TRACE, __VA_ARGS__)
#define KEEL_LOG_DEBUG(log, ...) KEEL_LOG(log, KEEL_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define KEEL_LOG_INFO(log, ...) KEEL_LOG(log, KEEL_LOG_LEVEL_INFO, __VA_ARGS__)
#define KEEL_LOG_WARNING(log, ...) KEEL_LOG(log, KEEL_LOG_LEVEL_WARNING, __VA_ARGS__)
#define KEEL_LOG_ERROR(log, ...) KEEL_LOG(log, KEEL_LOG_LEVEL_ERROR, __VA_ARGS__)
#define KEEL_LOG_CRITICAL(log, ...) KEEL_LOG(log, KEEL_LOG_LEVEL_CRITICAL, __VA_ARGS__)

/** Logs with an error summary and optional traceback (keel_log_emit_error). */
#define KEEL_LOG_ERR(log, level, summary, traceback, ...)                                                                          \
    do {                                                                                                                           \
        keel_log_t *keel_log_l_ = (log);                                                                                           \
        int keel_log_v_ = (level);                                                                                                 \
        if (keel_log_enabled(keel_log_l_, keel_log_v_))                                                                            \
            keel_log_emit_error(keel_log_l_, keel_log_v_, __FILE__, __LINE__, __func__, (summary), (traceback), __VA_ARGS__);      \
    } while (0)

/*
 * Request context: what oslo.context's RequestContext.get_logging_values()
 * gives the formatter. Every string may be NULL (Python's None). Initialise
 * with KEEL_LOG_CONTEXT_INIT, which sets is_admin_project as oslo.context
 * defaults it (true).
 */
typedef struct keel_log_context_s {
    const char *request_id; /* the context format is used only when set */
    const char *global_request_id;
    const char *user_id;           /* %(user)s */
    const char *project_id;        /* %(project)s, %(project_id)s */
    const char *domain_id;         /* %(domain)s */
    const char *user_domain_id;    /* %(user_domain)s */
    const char *project_domain_id; /* %(project_domain)s */
    const char *user_name;
    const char *project_name;
    const char *domain_name;
    const char *user_domain_name;
    const char *project_domain_name;
    const char *system_scope;
    const char *resource_uuid; /* fills %(instance)s via instance_uuid_format */
    const char *auth_token;    /* never logged: shown as "***" when set */
    const char *const *roles;  /* NULL-terminated; NULL is an empty list */
    bool is_admin;
    bool read_only;
    bool show_deleted;
    bool is_admin_project;
} keel_log_context_t;

#define KEEL_LOG_CONTEXT_INIT                                                                                                      \
    {                                                                                                                              \
        .is_admin_project = true                                                                                                   \
    }

/**
 * Makes ctx the calling thread's context: every string and the roles are
 * copied, so ctx may go away after the call. Replaces any earlier context.
 * Returns 0 or KEEL_ENOMEM (the thread then has no context).
 */
int keel_log_context_set(const keel_log_context_t *ctx);

/** Forgets the calling thread's context. */
void keel_log_context_clear(void);

/**
 * Returns the calling thread's context copy, or NULL. Valid until the
 * thread's next keel_log_context_set() or _clear().
 */
const keel_log_context_t *keel_log_context_get(void);

/** Length of a request id, as oslo.context generates them: "req-" + UUID4. */
#define KEEL_LOG_REQUEST_ID_LEN 40

/** Writes a new "req-<uuid4>" and a NUL to out. Returns 0 or -errno. */
int keel_log_request_id_generate(char out[KEEL_LOG_REQUEST_ID_LEN + 1]);

/**
 * Names the calling thread for %(threadName)s and JSON "thread_name" (copied,
 * up to 63 bytes). Without a name the main thread is "MainThread", as in
 * Python, and others are "Thread-<kernel tid>".
 */
void keel_log_thread_name_set(const char *name);

/*
 * Configuration from a plain struct. Fields mirror oslo.log's options; a
 * NULL string means oslo's default for that option and false is oslo's
 * default for every bool, so a zeroed struct is oslo.log's default setup
 * (text lines on stdout, root level INFO, oslo's default_log_levels).
 */
typedef struct keel_log_config_s {
    bool debug;      /* root level DEBUG instead of INFO */
    bool use_stderr; /* write to stderr */
    bool use_syslog; /* also write to syslog(3) */
    bool use_json;   /* JSON lines instead of text */
    const char *log_file;
    const char *log_dir;
    const char *syslog_log_facility; /* "LOG_USER", "local0", ... */
    const char *log_date_format;     /* strftime(3); "" = Python's default */
    const char *logging_context_format_string;
    const char *logging_default_format_string;
    const char *logging_debug_format_suffix; /* "" disables it */
    const char *logging_exception_prefix;
    const char *logging_user_identity_format;
    const char *instance_format;
    const char *instance_uuid_format;
    /** "logger=LEVEL" items, NULL-terminated; NULL = oslo's default list. */
    const char *const *default_log_levels;
    /** %(project)s and %(version)s without a context; NULL = "unknown". */
    const char *project;
    const char *version;
    /** Program name for syslog and log_dir/<name>.log; NULL = argv[0]'s basename. */
    const char *binary_name;
    /**
     * oslo's ColorHandler ends each stdout/stderr line with "\033[00m" and
     * sets %(color)s; true leaves both out. Not an oslo option.
     */
    bool no_color;
} keel_log_config_t;

/**
 * Applies a configuration, all or nothing: on error the previous setup
 * stays in force and keel_log_error() says why. May be called again (after
 * a config reload); levels set on loggers before are kept, as in oslo.log.
 * Until the first call, WARNING and above go to stderr in oslo's default
 * text format. cfg NULL means a zeroed struct. Returns 0, KEEL_EVALUE (a
 * format string, level or facility is wrong), -errno from opening the log
 * file, or KEEL_ENOMEM.
 */
int keel_log_configure(const keel_log_config_t *cfg);

/** keel_log_configure(NULL): oslo.log's defaults, no conf needed. */
int keel_log_setup_defaults(void);

/** The message of the last failed keel_log_configure()/keel_log_setup(), or "". */
const char *keel_log_error(void);

/**
 * Reopens the log file by its path (after logrotate moved it). Returns 0
 * (also when no file is configured) or -errno; on error the old file stays
 * open.
 */
int keel_log_reopen(void);

/**
 * Closes outputs and returns to the state before the first setup; loggers
 * and their levels remain. For tests and orderly exit.
 */
void keel_log_shutdown(void);

/*
 * keel_conf glue: oslo.log's options with its names, types, defaults and
 * help texts (oslo_log/_options.py).
 */
struct keel_conf_s;

/**
 * Registers oslo.log's options in DEFAULT (debug and the log-* ones as
 * command-line options too, so call before keel_conf_parse()), routes
 * conf's warnings to logger "keel.conf", and adds a mutate hook so a reload
 * that changes `debug` changes the root level. Returns 0 or conf's error.
 */
int keel_log_register_opts(struct keel_conf_s *conf);

/**
 * Configures logging from conf's values (oslo.log's setup()); product_name
 * fills %(project)s. Options oslo.log has and keel does not implement
 * (log_config_append, watch_log_file, use_journal, log rotation, rate
 * limits, publish_errors) are logged as warnings when set. Returns as
 * keel_log_configure(), or KEEL_ENOOPT if the options were not registered.
 */
int keel_log_setup(const struct keel_conf_s *conf, const char *product_name);

/**
 * Logs every option's value at level as oslo.config's log_opt_values(): a
 * banner, the command line (from /proc/self/cmdline) and config files, then
 * "name = value" (name padded to 30) for DEFAULT sorted by name, then each
 * group's options sorted as "group.name"; secret options show "****".
 */
void keel_log_opt_values(const struct keel_conf_s *conf, keel_log_t *log, int level);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_LOG_H */
