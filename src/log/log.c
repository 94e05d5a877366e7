/*
 * log.c — loggers and their levels, setup, and the path of one log call:
 * level check, record, text or JSON line, outputs.
 *
 * Design choices:
 *  - The logger tree is Python's: a logger's effective level is the level of
 *    the nearest existing ancestor (by dotted name) that has one. Levels
 *    change rarely, so every change recomputes the effective level of every
 *    logger under the registry lock and stores it in the logger, and the
 *    hot-path check is one relaxed atomic load.
 *  - The active configuration (compiled formats, outputs) is swapped whole
 *    under a writer-preferring rwlock; a log call holds it for reading while
 *    it formats, so setup never frees formats in use and callers format in
 *    parallel. Writes go out under a separate mutex, one whole line at a
 *    time, in oslo's handler order: file, stream, syslog.
 *  - Per-thread buffers (message, line, scratch) are kept between calls, so
 *    an enabled call allocates only while its buffers are still growing.
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"

/* oslo_log/_options.py defaults. */
#define DEFAULT_DATE_FORMAT "%Y-%m-%d %H:%M:%S"
#define DEFAULT_CONTEXT_FORMAT                                                                                                     \
    "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(global_request_id)s %(request_id)s %(user_identity)s] "         \
    "%(instance)s%(message)s"
#define DEFAULT_DEFAULT_FORMAT "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(instance)s%(message)s"
#define DEFAULT_DEBUG_SUFFIX "%(funcName)s %(pathname)s:%(lineno)d"
#define DEFAULT_EXCEPTION_PREFIX "%(asctime)s.%(msecs)03d %(process)d ERROR %(name)s %(instance)s"
#define DEFAULT_USER_IDENTITY "%(user)s %(project)s %(domain)s %(system_scope)s %(user_domain)s %(project_domain)s"
#define DEFAULT_INSTANCE_FORMAT "[instance: %(uuid)s] "

static const char *const default_levels[] = {"amqp=WARN",
                                             "amqplib=WARN",
                                             "boto=WARN",
                                             "qpid=WARN",
                                             "sqlalchemy=WARN",
                                             "suds=INFO",
                                             "oslo.messaging=INFO",
                                             "oslo_messaging=INFO",
                                             "iso8601=WARN",
                                             "requests.packages.urllib3.connectionpool=WARN",
                                             "urllib3.connectionpool=WARN",
                                             "websocket=WARN",
                                             "requests.packages.urllib3.util.retry=WARN",
                                             "urllib3.util.retry=WARN",
                                             "keystonemiddleware=WARN",
                                             "routes.middleware=WARN",
                                             "stevedore=WARN",
                                             "taskflow=WARN",
                                             "keystoneauth=WARN",
                                             "oslo.cache=INFO",
                                             "oslo_policy=INFO",
                                             "dogpile.core.dogpile=INFO",
                                             NULL};

/* ---- loggers and levels ---- */

#define NBUCKETS 256
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static keel_log_t *buckets[NBUCKETS];
/* Python's root logger starts at WARNING. */
static keel_log_t root_logger = {.name = "root", ._effective = KEEL_LOG_LEVEL_WARNING, ._level = KEEL_LOG_LEVEL_WARNING};

static unsigned hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a: names come from the program, not from peers */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % NBUCKETS;
}

static keel_log_t *find_locked(const char *s, size_t n)
{
    for (keel_log_t *l = buckets[hash_name(s, n)]; l; l = l->_next)
        if (strncmp(l->name, s, n) == 0 && l->name[n] == '\0')
            return l;
    return NULL;
}

static bool is_root_name(const char *name)
{
    return name == NULL || name[0] == '\0' || strcmp(name, "root") == 0;
}

/*
 * The nearest existing logger above name, found as Logger.manager's
 * _fixupParents does: prefixes ending before each '.', searching each time
 * left of the character before the last dot found.
 */
static keel_log_t *parent_locked(const char *name)
{
    const char *dot = strrchr(name, '.');
    ptrdiff_t i = dot ? dot - name : -1;
    while (i > 0) {
        keel_log_t *l = find_locked(name, (size_t)i);
        if (l)
            return l;
        ptrdiff_t j = -1;
        for (ptrdiff_t k = i - 2; k >= 0; k--)
            if (name[k] == '.') {
                j = k;
                break;
            }
        i = j;
    }
    return &root_logger;
}

/* Logger.getEffectiveLevel: walk up while the level is NOTSET (0). */
static int effective_locked(keel_log_t *l)
{
    while (l != &root_logger) {
        if (l->_level != KEEL_LOG_LEVEL_NOTSET)
            return l->_level;
        l = parent_locked(l->name);
    }
    return root_logger._level;
}

static void recompute_locked(void)
{
    __atomic_store_n(&root_logger._effective, root_logger._level, __ATOMIC_RELAXED);
    for (size_t b = 0; b < NBUCKETS; b++)
        for (keel_log_t *l = buckets[b]; l; l = l->_next)
            __atomic_store_n(&l->_effective, effective_locked(l), __ATOMIC_RELAXED);
}

/* Finds or creates a logger by exact name. Returns NULL on OOM. */
static keel_log_t *get_locked(const char *name, size_t n)
{
    keel_log_t *l = find_locked(name, n);
    if (l)
        return l;
    l = keel__calloc(1, sizeof(*l) + n + 1);
    if (l == NULL)
        return NULL;
    char *copy = (char *)(l + 1);
    memcpy(copy, name, n);
    copy[n] = '\0';
    l->name = copy;
    l->_level = KEEL_LOG_LEVEL_NOTSET;
    unsigned h = hash_name(copy, n);
    l->_next = buckets[h];
    buckets[h] = l;
    /* A new logger can become the parent of existing ones, but it has no level: nothing else changes. */
    l->_effective = effective_locked(l);
    return l;
}

keel_log_t *keel_log_get(const char *name)
{
    if (is_root_name(name))
        return &root_logger;
    char local[128];
    const char *n = name;
    size_t len = strlen(name);
    char *heap = NULL;
    if (strncmp(name, "oslo_", 5) == 0) { /* oslo_log.log.getLogger's rename */
        if (len + 1 <= sizeof(local)) {
            n = local;
        } else if ((heap = keel__malloc(len + 1)) != NULL) {
            n = heap;
        } else {
            return &root_logger;
        }
        memcpy((char *)n, "oslo.", 5);
        memcpy((char *)n + 5, name + 5, len - 4);
    }
    pthread_mutex_lock(&reg_lock);
    keel_log_t *l = get_locked(n, len);
    pthread_mutex_unlock(&reg_lock);
    keel__free(heap);
    return l ? l : &root_logger;
}

int keel_log_set_level(const char *name, int level)
{
    int rc = 0;
    pthread_mutex_lock(&reg_lock);
    keel_log_t *l = is_root_name(name) ? &root_logger : get_locked(name, strlen(name));
    if (l == NULL) {
        rc = KEEL_ENOMEM;
    } else {
        l->_level = level;
        recompute_locked();
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

int keel_log_effective_level(const keel_log_t *log)
{
    return __atomic_load_n(&log->_effective, __ATOMIC_RELAXED);
}

const char *keel_log_level_name(int level)
{
    switch (level) {
#define KEEL_LOG_LEVEL_NAME_(name, value)                                                                                          \
    case value:                                                                                                                    \
        return #name;
        KEEL_LOG_LEVEL_MAP(KEEL_LOG_LEVEL_NAME_)
#undef KEEL_LOG_LEVEL_NAME_
    }
    return NULL;
}

int keel_log_level_parse(const char *text, int *out)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"CRITICAL", 50}, {"FATAL", 50}, {"ERROR", 40}, {"WARN", 30}, {"WARNING", 30},
                 {"INFO", 20},     {"DEBUG", 10}, {"TRACE", 5},  {"NOTSET", 0}};
    /* int(): surrounding whitespace, a sign, digits with single '_' between them. */
    const char *p = text;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        p++;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    long long v = 0;
    bool digits = false, ok = *p >= '0' && *p <= '9';
    for (; ok && *p; p++) {
        if (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p - '0');
            digits = true;
            if (v > 1000000000)
                ok = false;
        } else if (*p == '_' && p[1] >= '0' && p[1] <= '9' && p[-1] >= '0' && p[-1] <= '9') {
            continue;
        } else {
            break;
        }
    }
    if (ok && digits) {
        while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
            p++;
        if (*p == '\0') {
            *out = (int)(neg ? -v : v);
            return 0;
        }
    }
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
        if (strcmp(text, names[k].name) == 0) {
            *out = names[k].level;
            return 0;
        }
    return KEEL_EVALUE;
}

/* ---- clock ---- */

static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* time.time(): nanoseconds as a double, divided once. */
    return (double)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec) / 1e9;
}

static double (*clock_now)(void) = real_now;
static double start_time;

/* logging._startTime is taken when the module loads; this is keel's equivalent. */
__attribute__((constructor)) static void take_start_time(void)
{
    start_time = real_now();
}

void keel__log_set_clock(double (*now)(void), double start)
{
    clock_now = now ? now : real_now;
    start_time = now ? start : real_now();
}

unsigned long keel__log_thread_ident(void)
{
    return (unsigned long)pthread_self();
}

/* ---- per-thread state ---- */

typedef struct tls_s {
    keel_buf_t msg, line, alt, aux, exc;
    char name[64];
    bool named;
    /* asctime of the last second formatted, per configuration generation */
    int64_t asc_sec;
    uint64_t asc_gen;
    char asc[128];
} tls_t;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static _Thread_local tls_t *t_tls;

static void tls_free(void *p)
{
    tls_t *t = p;
    if (t == NULL)
        return;
    keel_buf_free(&t->msg);
    keel_buf_free(&t->line);
    keel_buf_free(&t->alt);
    keel_buf_free(&t->aux);
    keel_buf_free(&t->exc);
    keel__free(t);
}

static void tls_make_key(void)
{
    (void)pthread_key_create(&tls_key, tls_free);
}

static tls_t *tls_get(void)
{
    if (t_tls)
        return t_tls;
    pthread_once(&tls_once, tls_make_key);
    tls_t *t = keel__calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->asc_sec = INT64_MIN;
    (void)pthread_setspecific(tls_key, t);
    t_tls = t;
    return t;
}

void keel_log_thread_name_set(const char *name)
{
    tls_t *t = tls_get();
    if (t == NULL)
        return;
    t->named = name != NULL;
    if (name)
        snprintf(t->name, sizeof(t->name), "%s", name);
}

static const char *thread_name(tls_t *t)
{
    if (!t->named) {
        pid_t tid = (pid_t)syscall(SYS_gettid);
        if (tid == getpid())
            snprintf(t->name, sizeof(t->name), "MainThread");
        else
            snprintf(t->name, sizeof(t->name), "Thread-%d", (int)tid);
        t->named = true;
    }
    return t->name;
}

/* ---- configuration ---- */

typedef struct cfg_s {
    uint64_t gen;
    keel__log_fmt_t ctx_fmt, def_fmt, suffix, exc_prefix, identity, inst_uuid;
    bool has_suffix;
    bool uses_asctime, uses_isotime, uses_color;
    char *datefmt;
    bool json, stream, syslog, color;
    int stream_fd;
    char *file_path;
    int facility;
    char *ident;
    char *project, *version;
    char *hostname; /* NULL: gethostname failed (JSON null) */
} cfg_t;

static pthread_rwlock_t cfg_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static cfg_t *g_cfg;       /* NULL until the first setup: then boot_cfg is used */
static cfg_t *boot_cfg;    /* pre-setup: stderr, no colour codes */
static uint64_t g_gen = 1; /* configuration generation, for the asctime cache */
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_file_fd = -1;   /* under write_lock */
static char *g_file_path;    /* under write_lock */
static bool g_syslog_open;   /* under cfg_lock (write) */
static char *g_syslog_ident; /* openlog keeps the pointer: freed only when replaced */

static _Thread_local char t_error[512];

const char *keel_log_error(void)
{
    return t_error;
}

int keel__log_set_error(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_error, sizeof(t_error), fmt, ap);
    va_end(ap);
    return rc;
}

static void cfg_free(cfg_t *c)
{
    if (c == NULL)
        return;
    keel__log_fmt_free(&c->ctx_fmt);
    keel__log_fmt_free(&c->def_fmt);
    keel__log_fmt_free(&c->suffix);
    keel__log_fmt_free(&c->exc_prefix);
    keel__log_fmt_free(&c->identity);
    keel__log_fmt_free(&c->inst_uuid);
    keel__free(c->datefmt);
    keel__free(c->file_path);
    keel__free(c->ident);
    keel__free(c->project);
    keel__free(c->version);
    keel__free(c->hostname);
    keel__free(c);
}

static int compile_opt(keel__log_fmt_t *f, const char *opt, const char *text, keel__log_ns_t ns)
{
    char err[400];
    int rc = keel__log_fmt_compile(f, text, ns, err, sizeof(err));
    if (rc == KEEL_EVALUE)
        return keel__log_set_error(rc, "%s: %s", opt, err);
    if (rc != 0)
        return keel__log_set_error(rc, "%s: %s", opt, keel_strerror(rc));
    return 0;
}

/* oslo.log's _find_facility: upper-case, "LOG_" prefixed, one of the known names. */
static int find_facility(const char *name, int *out)
{
    static const struct {
        const char *name;
        int value;
    } facilities[] = {
        {"LOG_KERN", LOG_KERN},     {"LOG_USER", LOG_USER},     {"LOG_MAIL", LOG_MAIL},         {"LOG_DAEMON", LOG_DAEMON},
        {"LOG_AUTH", LOG_AUTH},     {"LOG_SYSLOG", LOG_SYSLOG}, {"LOG_LPR", LOG_LPR},           {"LOG_NEWS", LOG_NEWS},
        {"LOG_UUCP", LOG_UUCP},     {"LOG_CRON", LOG_CRON},     {"LOG_AUTHPRIV", LOG_AUTHPRIV}, {"LOG_FTP", LOG_FTP},
        {"LOG_LOCAL0", LOG_LOCAL0}, {"LOG_LOCAL1", LOG_LOCAL1}, {"LOG_LOCAL2", LOG_LOCAL2},     {"LOG_LOCAL3", LOG_LOCAL3},
        {"LOG_LOCAL4", LOG_LOCAL4}, {"LOG_LOCAL5", LOG_LOCAL5}, {"LOG_LOCAL6", LOG_LOCAL6},     {"LOG_LOCAL7", LOG_LOCAL7}};
    char up[64];
    size_t k = 0;
    if (strncasecmp(name, "LOG_", 4) != 0) {
        memcpy(up, "LOG_", 4);
        k = 4;
    }
    for (const char *p = name; *p && k + 1 < sizeof(up); p++)
        up[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    up[k] = '\0';
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcmp(up, facilities[i].name) == 0) {
            *out = facilities[i].value;
            return 0;
        }
    return keel__log_set_error(KEEL_EVALUE,
                               "syslog facility must be one of: 'LOG_KERN', 'LOG_USER', 'LOG_MAIL', 'LOG_DAEMON', 'LOG_AUTH', "
                               "'LOG_SYSLOG', 'LOG_LPR', 'LOG_NEWS', 'LOG_UUCP', 'LOG_CRON', 'LOG_AUTHPRIV', 'LOG_FTP', "
                               "'LOG_LOCAL0', 'LOG_LOCAL1', 'LOG_LOCAL2', 'LOG_LOCAL3', 'LOG_LOCAL4', 'LOG_LOCAL5', "
                               "'LOG_LOCAL6', 'LOG_LOCAL7'");
}

static const char *binary_name(const keel_log_config_t *in)
{
    return in->binary_name ? in->binary_name : program_invocation_short_name;
}

/* _get_log_file_path: log_file alone, log_dir joined with log_file (os.path.join), or log_dir/<binary>.log. */
static int log_file_path(const keel_log_config_t *in, char **out)
{
    const char *file = in->log_file && *in->log_file ? in->log_file : NULL;
    const char *dir = in->log_dir && *in->log_dir ? in->log_dir : NULL;
    keel_buf_t b;
    keel_buf_init(&b);
    *out = NULL;
    if (!file && !dir)
        return 0;
    int rc = 0;
    if (file && (!dir || file[0] == '/')) {
        rc = keel_buf_puts(&b, file);
    } else {
        const char *leaf = file ? file : binary_name(in);
        rc = keel_buf_puts(&b, dir);
        if (rc == 0 && dir[strlen(dir) - 1] != '/')
            rc = keel_buf_putc(&b, '/');
        rc = rc ? rc : keel_buf_puts(&b, leaf);
        if (rc == 0 && !file)
            rc = keel_buf_puts(&b, ".log");
    }
    if (rc == 0 && (*out = keel_buf_steal(&b)) == NULL)
        rc = KEEL_ENOMEM;
    keel_buf_free(&b);
    return rc;
}

static int open_log_file(const char *path)
{
    /* WatchedFileHandler opens with mode 'a': create with 0666 less the umask. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    return fd < 0 ? keel_from_errno(errno) : fd;
}

static char *dup_or(const char *s, const char *fallback)
{
    return keel__strdup(s ? s : fallback);
}

/* Builds a configuration from in; opens nothing. Returns 0 or an error with t_error set. */
static int cfg_build(const keel_log_config_t *in, cfg_t **out)
{
    cfg_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return keel__log_set_error(KEEL_ENOMEM, "out of memory");
    int rc;
    const char *suffix = in->logging_debug_format_suffix ? in->logging_debug_format_suffix : DEFAULT_DEBUG_SUFFIX;
    if ((rc = compile_opt(&c->ctx_fmt, "logging_context_format_string",
                          in->logging_context_format_string ? in->logging_context_format_string : DEFAULT_CONTEXT_FORMAT,
                          KEEL__LOG_NS_RECORD)) != 0 ||
        (rc = compile_opt(&c->def_fmt, "logging_default_format_string",
                          in->logging_default_format_string ? in->logging_default_format_string : DEFAULT_DEFAULT_FORMAT,
                          KEEL__LOG_NS_RECORD)) != 0 ||
        (rc = compile_opt(&c->suffix, "logging_debug_format_suffix", suffix, KEEL__LOG_NS_RECORD)) != 0 ||
        (rc = compile_opt(&c->exc_prefix, "logging_exception_prefix",
                          in->logging_exception_prefix ? in->logging_exception_prefix : DEFAULT_EXCEPTION_PREFIX,
                          KEEL__LOG_NS_RECORD)) != 0 ||
        (rc = compile_opt(&c->identity, "logging_user_identity_format",
                          in->logging_user_identity_format ? in->logging_user_identity_format : DEFAULT_USER_IDENTITY,
                          KEEL__LOG_NS_CONTEXT)) != 0 ||
        (rc = compile_opt(&c->inst_uuid, "instance_uuid_format",
                          in->instance_uuid_format ? in->instance_uuid_format : DEFAULT_INSTANCE_FORMAT, KEEL__LOG_NS_UUID)) != 0)
        goto fail;
    if (in->instance_format) { /* only checked: C callers have no instance objects to format */
        keel__log_fmt_t f;
        if ((rc = compile_opt(&f, "instance_format", in->instance_format, KEEL__LOG_NS_UUID)) != 0)
            goto fail;
        keel__log_fmt_free(&f);
    }
    c->has_suffix = suffix[0] != '\0';
    uint64_t uses = c->ctx_fmt.uses | c->def_fmt.uses | c->exc_prefix.uses | (c->has_suffix ? c->suffix.uses : 0);
    c->uses_asctime = (uses >> KEEL__LOG_K_ASCTIME) & 1;
    c->uses_isotime = (uses >> KEEL__LOG_K_ISOTIME) & 1;
    c->uses_color = ((uses >> KEEL__LOG_K_COLOR) & 1) || ((uses >> KEEL__LOG_K_RESET_COLOR) & 1);
    c->json = in->use_json;
    c->syslog = in->use_syslog;
    c->facility = LOG_USER;
    if (in->use_syslog && (rc = find_facility(in->syslog_log_facility ? in->syslog_log_facility : "LOG_USER", &c->facility)) != 0)
        goto fail;
    if ((rc = log_file_path(in, &c->file_path)) != 0) {
        keel__log_set_error(rc, "out of memory");
        goto fail;
    }
    /* oslo: stderr if use_stderr; stdout if there is no file and no stderr (journal is not supported). */
    c->stream = in->use_stderr || c->file_path == NULL;
    c->stream_fd = in->use_stderr ? STDERR_FILENO : STDOUT_FILENO;
    c->color = !in->no_color;
    c->datefmt = dup_or(in->log_date_format, DEFAULT_DATE_FORMAT);
    c->ident = keel__strdup(binary_name(in));
    c->project = dup_or(in->project, "unknown");
    c->version = dup_or(in->version, "unknown");
    char host[256];
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        if ((c->hostname = keel__strdup(host)) == NULL)
            rc = KEEL_ENOMEM;
    }
    if (rc || !c->datefmt || !c->ident || !c->project || !c->version) {
        rc = keel__log_set_error(KEEL_ENOMEM, "out of memory");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    cfg_free(c);
    return rc;
}

/* The pre-setup configuration: oslo's default text format to stderr, no colour codes. */
static void boot_build(void)
{
    cfg_t *c = NULL;
    keel_log_config_t in = {.use_stderr = true, .no_color = true};
    if (cfg_build(&in, &c) == 0)
        boot_cfg = c;
}

static cfg_t *active_cfg(void)
{
    if (g_cfg)
        return g_cfg;
    pthread_once(&boot_once, boot_build);
    return boot_cfg;
}

/* One parsed default_log_levels item. */
typedef struct level_pair_s {
    char *name;
    int level;
} level_pair_t;

static void pairs_free(level_pair_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        keel__free(p[k].name);
    keel__free(p);
}

/*
 * default_log_levels as oslo applies them: "logger=LEVEL" split at the first
 * '=', the level an int() or a level name. oslo raises ValueError from
 * setup() on a bad item; keel reports it and changes nothing.
 */
static int parse_levels(const char *const *items, level_pair_t **out, size_t *nout)
{
    size_t n = 0;
    while (items[n])
        n++;
    level_pair_t *p = keel__calloc(n ? n : 1, sizeof(*p));
    if (p == NULL)
        return keel__log_set_error(KEEL_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        const char *eq = strchr(items[k], '=');
        const char *lv = eq ? eq + 1 : "";
        if (keel_log_level_parse(lv, &p[k].level) != 0) {
            pairs_free(p, n);
            return keel__log_set_error(KEEL_EVALUE, "default_log_levels: Unknown level: '%s' in '%s'", lv, items[k]);
        }
        size_t len = eq ? (size_t)(eq - items[k]) : strlen(items[k]);
        if ((p[k].name = keel__strndup(items[k], len)) == NULL) {
            pairs_free(p, n);
            return keel__log_set_error(KEEL_ENOMEM, "out of memory");
        }
    }
    *out = p;
    *nout = n;
    return 0;
}

int keel_log_configure(const keel_log_config_t *cfg)
{
    static const keel_log_config_t zero;
    const keel_log_config_t *in = cfg ? cfg : &zero;
    t_error[0] = '\0';
    cfg_t *c = NULL;
    level_pair_t *pairs = NULL;
    size_t npairs = 0;
    int fd = -1;
    int rc = cfg_build(in, &c);
    if (rc != 0)
        return rc;
    rc = parse_levels(in->default_log_levels ? in->default_log_levels : default_levels, &pairs, &npairs);
    if (rc != 0)
        goto fail_levels;
    if (c->file_path && (fd = open_log_file(c->file_path)) < 0) {
        rc = keel__log_set_error(fd, "cannot open log file %s: %s", c->file_path, keel_strerror(fd));
        goto fail_open;
    }
    char *path_copy = c->file_path ? keel__strdup(c->file_path) : NULL;
    if (c->file_path && path_copy == NULL) {
        rc = keel__log_set_error(KEEL_ENOMEM, "out of memory");
        goto fail_path;
    }

    /* Nothing can fail from here on: swap everything in. */
    pthread_rwlock_wrlock(&cfg_lock);
    cfg_t *old = g_cfg;
    c->gen = ++g_gen;
    g_cfg = c;
    pthread_mutex_lock(&write_lock);
    int old_fd = g_file_fd;
    char *old_path = g_file_path;
    g_file_fd = fd;
    g_file_path = path_copy;
    pthread_mutex_unlock(&write_lock);
    char *old_ident = NULL;
    if (c->syslog) {
        old_ident = g_syslog_ident;
        g_syslog_ident = keel__strdup(c->ident);
        openlog(g_syslog_ident ? g_syslog_ident : "keel", 0, c->facility);
        g_syslog_open = true;
    } else if (g_syslog_open) {
        closelog();
        g_syslog_open = false;
    }
    pthread_rwlock_unlock(&cfg_lock);

    /* _refresh_root_level, then default_log_levels in order. */
    pthread_mutex_lock(&reg_lock);
    root_logger._level = in->debug ? KEEL_LOG_LEVEL_DEBUG : KEEL_LOG_LEVEL_INFO;
    for (size_t k = 0; k < npairs; k++) {
        keel_log_t *l = is_root_name(pairs[k].name) ? &root_logger : get_locked(pairs[k].name, strlen(pairs[k].name));
        if (l) /* on OOM the logger keeps inheriting: nothing better to do */
            l->_level = pairs[k].level;
    }
    recompute_locked();
    pthread_mutex_unlock(&reg_lock);

    pairs_free(pairs, npairs);
    cfg_free(old);
    keel__free(old_path);
    keel__free(old_ident);
    if (old_fd >= 0)
        close(old_fd);
    return 0;

fail_path:
    close(fd);
fail_open:
    pairs_free(pairs, npairs);
fail_levels:
    cfg_free(c);
    return rc;
}

int keel_log_setup_defaults(void)
{
    return keel_log_configure(NULL);
}

int keel_log_reopen(void)
{
    int rc = 0;
    pthread_mutex_lock(&write_lock);
    if (g_file_path) {
        int fd = open_log_file(g_file_path);
        if (fd < 0) {
            rc = fd;
        } else {
            if (g_file_fd >= 0)
                close(g_file_fd);
            g_file_fd = fd;
        }
    }
    pthread_mutex_unlock(&write_lock);
    return rc;
}

void keel_log_shutdown(void)
{
    pthread_rwlock_wrlock(&cfg_lock);
    cfg_t *old = g_cfg;
    g_cfg = NULL;
    g_gen++;
    pthread_mutex_lock(&write_lock);
    if (g_file_fd >= 0)
        close(g_file_fd);
    g_file_fd = -1;
    keel__free(g_file_path);
    g_file_path = NULL;
    pthread_mutex_unlock(&write_lock);
    if (g_syslog_open) {
        closelog();
        g_syslog_open = false;
    }
    keel__free(g_syslog_ident);
    g_syslog_ident = NULL;
    pthread_rwlock_unlock(&cfg_lock);
    cfg_free(old);
}

/* ---- one record ---- */

static const char *level_color(int level)
{
    switch (level) { /* oslo_log.handlers.ColorHandler.LEVEL_COLORS */
    case KEEL_LOG_LEVEL_TRACE:
        return "\033[00;35m";
    case KEEL_LOG_LEVEL_DEBUG:
        return "\033[00;32m";
    case KEEL_LOG_LEVEL_INFO:
        return "\033[00;36m";
    case KEEL_LOG_LEVEL_INFO + 1: /* AUDIT */
        return "\033[01;36m";
    case KEEL_LOG_LEVEL_WARNING:
        return "\033[01;33m";
    case KEEL_LOG_LEVEL_ERROR:
    case KEEL_LOG_LEVEL_CRITICAL:
        return "\033[01;31m";
    }
    return "";
}

#define RESET_COLOR "\033[00m"

static void set_str(keel__log_val_t *out, keel__log_type_t t, const char *s)
{
    *out = (keel__log_val_t){.type = t, .s = s, .len = s ? strlen(s) : 0};
}

void keel__log_record_lookup(void *data, int key, keel__log_val_t *out)
{
    const keel__log_record_t *r = data;
    switch (key) {
    case KEEL__LOG_K_NAME:
        return set_str(out, KEEL__LOG_T_STR, r->name);
    case KEEL__LOG_K_LEVELNO:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_INT, .i = r->levelno};
        return;
    case KEEL__LOG_K_LEVELNAME:
        return set_str(out, KEEL__LOG_T_STR, r->levelname);
    case KEEL__LOG_K_PATHNAME:
        return set_str(out, KEEL__LOG_T_STR, r->pathname);
    case KEEL__LOG_K_FILENAME:
        return set_str(out, KEEL__LOG_T_STR, r->filename);
    case KEEL__LOG_K_MODULE:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_STR, .s = r->filename, .len = r->module_len};
        return;
    case KEEL__LOG_K_LINENO:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_INT, .i = r->lineno};
        return;
    case KEEL__LOG_K_FUNCNAME:
        return set_str(out, KEEL__LOG_T_STR, r->funcname);
    case KEEL__LOG_K_CREATED:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_FLOAT, .f = r->created};
        return;
    case KEEL__LOG_K_MSECS:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_FLOAT, .f = r->msecs};
        return;
    case KEEL__LOG_K_RELATIVE:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_FLOAT, .f = r->relative};
        return;
    case KEEL__LOG_K_THREAD:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_INT, .i = (int64_t)r->thread};
        return;
    case KEEL__LOG_K_THREADNAME:
        return set_str(out, KEEL__LOG_T_STR, r->thread_name);
    case KEEL__LOG_K_PROCESS:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_INT, .i = r->process};
        return;
    case KEEL__LOG_K_PROCESSNAME:
        return set_str(out, KEEL__LOG_T_STR, "MainProcess");
    case KEEL__LOG_K_MESSAGE:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_STR, .s = r->message, .len = r->message_len};
        return;
    case KEEL__LOG_K_ASCTIME:
        return set_str(out, KEEL__LOG_T_STR, r->asctime ? r->asctime : "");
    case KEEL__LOG_K_MSG:
        return set_str(out, KEEL__LOG_T_STR, r->msg);
    case KEEL__LOG_K_EXC_TEXT:
        return set_str(out, KEEL__LOG_T_STRN, r->exc_text);
    case KEEL__LOG_K_STACK_INFO:
        return set_str(out, KEEL__LOG_T_STRN, NULL);
    case KEEL__LOG_K_PROJECT:
        return set_str(out, KEEL__LOG_T_STRN, r->ctx ? r->ctx->project_id : r->project);
    case KEEL__LOG_K_VERSION:
        return set_str(out, KEEL__LOG_T_STR, r->version);
    case KEEL__LOG_K_INSTANCE:
        return set_str(out, KEEL__LOG_T_STR, r->instance);
    case KEEL__LOG_K_COLOR:
        return set_str(out, KEEL__LOG_T_STR, r->color);
    case KEEL__LOG_K_RESET_COLOR:
        return set_str(out, KEEL__LOG_T_STR, r->reset_color);
    case KEEL__LOG_K_USER_IDENTITY:
        return set_str(out, KEEL__LOG_T_STR, r->user_identity);
    case KEEL__LOG_K_RESOURCE:
        return set_str(out, KEEL__LOG_T_STR, "");
    case KEEL__LOG_K_ISOTIME:
        return set_str(out, KEEL__LOG_T_STR, r->isotime ? r->isotime : "");
    case KEEL__LOG_K_ERROR_SUMMARY:
        return set_str(out, KEEL__LOG_T_STR, r->error_summary);
    }
    if (r->ctx)
        return keel__log_context_lookup((void *)r->ctx, key, out);
    /* ContextFormatter's defaults without a context; other context keys do not exist then. */
    if (key == KEEL__LOG_K_USER_NAME || key == KEEL__LOG_K_PROJECT_NAME || key == KEEL__LOG_K_GLOBAL_REQUEST_ID)
        return set_str(out, KEEL__LOG_T_STR, "");
    set_str(out, KEEL__LOG_T_STR, "-");
}

/* The NS_UUID lookup: %(uuid)s of instance_uuid_format. */
static void uuid_lookup(void *data, int key, keel__log_val_t *out)
{
    set_str(out, KEEL__LOG_T_STR, data);
}

/* time.strftime(datefmt, time.localtime(created)), or Python's default with ",mmm". */
static const char *asctime_of(tls_t *t, const cfg_t *c, double created, double msecs)
{
    int64_t sec = (int64_t)floor(created);
    if (c->datefmt[0] != '\0' && t->asc_sec == sec && t->asc_gen == c->gen)
        return t->asc;
    time_t tt = (time_t)sec;
    struct tm tm;
    localtime_r(&tt, &tm);
    const char *f = c->datefmt[0] ? c->datefmt : "%Y-%m-%d %H:%M:%S";
    size_t n = strftime(t->asc, sizeof(t->asc), f, &tm);
    if (n == 0)
        t->asc[0] = '\0';
    if (c->datefmt[0] == '\0') {
        snprintf(t->asc + n, sizeof(t->asc) - n, ",%03d", (int)msecs);
        t->asc_sec = INT64_MIN;
    } else {
        t->asc_sec = sec;
        t->asc_gen = c->gen;
    }
    return t->asc;
}

/* datetime.fromtimestamp(created).replace(tzinfo=tzlocal()).isoformat(), as oslo's _compute_iso_time. */
static void isotime_of(double created, char *buf, size_t len)
{
    double ip;
    double frac = modf(created, &ip);
    int64_t sec = (int64_t)ip;
    long us = lrint(frac * 1e6); /* round half to even, as datetime does */
    if (us >= 1000000) {
        sec++;
        us -= 1000000;
    } else if (us < 0) {
        sec--;
        us += 1000000;
    }
    time_t tt = (time_t)sec;
    struct tm tm;
    localtime_r(&tt, &tm);
    char base[64];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    int off = (int)tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    off = abs(off) % 86400;
    char tz[32];
    if (off % 60)
        snprintf(tz, sizeof(tz), "%c%02d:%02d:%02d", sign, off / 3600, off / 60 % 60, off % 60);
    else
        snprintf(tz, sizeof(tz), "%c%02d:%02d", sign, off / 3600, off / 60 % 60);
    if (us || created == ip)
        snprintf(buf, len, "%s.%06d%s", base, (int)us, tz);
    else
        snprintf(buf, len, "%s%s", base, tz);
}

/*
 * ContextFormatter.format for one output: the context or default format,
 * ": <error summary>", the debug suffix, then the traceback lines behind
 * the exception prefix.
 */
static int format_text(const cfg_t *c, keel__log_record_t *r, keel_buf_t *out, keel_buf_t *exc)
{
    const keel__log_fmt_t *fmt = r->ctx && r->ctx->request_id && r->ctx->request_id[0] ? &c->ctx_fmt : &c->def_fmt;
    int rc = 0;
    r->exc_text = NULL;
    if (r->traceback) {
        /* formatException(): every line of the traceback behind the prefix, before the line itself is formatted. */
        keel_buf_reset(exc);
        const char *p = r->traceback;
        for (bool first = true; rc == 0; first = false) {
            const char *nl = strchr(p, '\n');
            if (!first)
                rc = keel_buf_putc(exc, '\n');
            rc = rc ? rc : keel__log_fmt_render(&c->exc_prefix, keel__log_record_lookup, r, exc);
            rc = rc ? rc : keel_buf_append(exc, p, nl ? (size_t)(nl - p) : strlen(p));
            if (!nl)
                break;
            p = nl + 1;
        }
        if (rc != 0)
            return rc;
        r->exc_text = exc->base;
    }
    const char *summary = r->error_summary;
    if (fmt->has_error_summary_s && summary[0] == '\0')
        r->error_summary = "-";
    rc = keel__log_fmt_render(fmt, keel__log_record_lookup, r, out);
    bool composed_empty = fmt->text[0] == '\0';
    if (rc == 0 && !fmt->has_error_summary_s && summary[0]) {
        rc = keel_buf_puts(out, ": ");
        rc = rc ? rc : keel_buf_puts(out, summary);
        composed_empty = false;
    }
    r->error_summary = summary;
    if (rc == 0 && r->levelno == KEEL_LOG_LEVEL_DEBUG && c->has_suffix) {
        rc = keel_buf_putc(out, ' ');
        rc = rc ? rc : keel__log_fmt_render(&c->suffix, keel__log_record_lookup, r, out);
        composed_empty = false;
    }
    /* logging.PercentStyle turns an empty format (after the additions above) into "%(message)s". */
    if (rc == 0 && composed_empty)
        rc = keel_buf_append(out, r->message, r->message_len);
    if (rc == 0 && r->exc_text) {
        /* Formatter.format: a newline unless the line ends with one, then the exception text. */
        if (out->len == 0 || out->base[out->len - 1] != '\n')
            rc = keel_buf_putc(out, '\n');
        rc = rc ? rc : keel_buf_append(out, exc->base, exc->len);
    }
    return rc;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* like logging's handleError, a failed write must not take the service down */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* oslo_log.handlers.SYSLOG_MAP by level name; anything else is 7. */
static int syslog_priority(int level)
{
    switch (level) {
    case KEEL_LOG_LEVEL_CRITICAL:
        return LOG_CRIT;
    case KEEL_LOG_LEVEL_ERROR:
        return LOG_ERR;
    case KEEL_LOG_LEVEL_WARNING:
        return LOG_WARNING;
    case KEEL_LOG_LEVEL_INFO:
        return LOG_INFO;
    }
    return LOG_DEBUG;
}

/*
 * Writes the line(s): plain is the text without colour, colored the one a
 * stream handler formats (the same buffer when no format uses %(color)s).
 */
static void write_outputs(const cfg_t *c, int level, keel_buf_t *plain, keel_buf_t *colored)
{
    bool reset = c->stream && c->color;
    /* Room for the terminators, so each output is a single write(2). */
    if (keel_buf_reserve(plain, sizeof(RESET_COLOR)) != 0 || keel_buf_reserve(colored, sizeof(RESET_COLOR)) != 0)
        return;
    pthread_mutex_lock(&write_lock);
    if (g_file_fd >= 0) {
        plain->base[plain->len] = '\n';
        write_all(g_file_fd, plain->base, plain->len + 1);
        plain->base[plain->len] = '\0';
    }
    if (c->stream) {
        size_t n = colored->len;
        if (reset) {
            memcpy(colored->base + n, RESET_COLOR, sizeof(RESET_COLOR) - 1);
            n += sizeof(RESET_COLOR) - 1;
        }
        colored->base[n++] = '\n';
        write_all(c->stream_fd, colored->base, n);
        colored->base[colored->len] = '\0';
    }
    pthread_mutex_unlock(&write_lock);
    if (c->syslog) /* the record's colour stays set after the stream handler, as in Python */
        syslog(syslog_priority(level), "%s", (c->stream && c->color ? colored : plain)->base);
}

/* Formats fmt/ap into t->msg without allocating once the buffer is big enough. */
static int format_message(keel_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    keel_buf_reset(b);
    if (b->cap == 0 && keel_buf_reserve(b, 256) != 0)
        return KEEL_ENOMEM;
    va_copy(cp, ap);
    int n = vsnprintf(b->base, b->cap, fmt, cp);
    va_end(cp);
    if (n < 0)
        return KEEL_EINVAL;
    if ((size_t)n >= b->cap) {
        if (keel_buf_reserve(b, (size_t)n) != 0)
            return KEEL_ENOMEM;
        va_copy(cp, ap);
        vsnprintf(b->base, (size_t)n + 1, fmt, cp);
        va_end(cp);
    }
    b->len = (size_t)n;
    return 0;
}

/* os.path.splitext(filename)[0] length: the last '.' not leading the name. */
static size_t module_len(const char *filename)
{
    const char *dot = strrchr(filename, '.');
    const char *p = filename;
    while (*p == '.')
        p++;
    return dot && dot >= p ? (size_t)(dot - filename) : strlen(filename);
}

static void emit(keel_log_t *log, int level, const char *file, int line, const char *func, const char *summary,
                 const char *traceback, const char *fmt, va_list ap)
{
    if (!keel_log_enabled(log, level))
        return;
    double now = clock_now();
    tls_t *t = tls_get();
    if (t == NULL)
        return;
    pthread_rwlock_rdlock(&cfg_lock);
    const cfg_t *c = active_cfg();
    if (c == NULL || format_message(&t->msg, fmt, ap) != 0)
        goto out;
    keel__log_record_t r = {0};
    r.name = log->name;
    r.levelno = level;
    r.levelname = keel_log_level_name(level);
    if (r.levelname == NULL) {
        snprintf(r.levelbuf, sizeof(r.levelbuf), "Level %d", level);
        r.levelname = r.levelbuf;
    }
    r.pathname = file ? file : "(unknown file)";
    const char *slash = strrchr(r.pathname, '/');
    r.filename = slash ? slash + 1 : r.pathname;
    r.module_len = module_len(r.filename);
    r.funcname = func ? func : "(unknown function)";
    r.lineno = line;
    r.created = now;
    r.msecs = (double)(int64_t)((now - (double)(int64_t)now) * 1000);
    r.relative = (now - start_time) * 1000;
    r.thread = keel__log_thread_ident();
    r.thread_name = thread_name(t);
    r.process = (int)getpid();
    r.message = t->msg.base;
    r.message_len = t->msg.len;
    r.msg = fmt;
    r.ctx = keel_log_context_get();
    r.project = c->project;
    r.version = c->version;
    r.color = "";
    r.reset_color = "";
    r.error_summary = summary && level >= KEEL_LOG_LEVEL_WARNING ? summary : "";
    r.traceback = traceback;
    r.instance = "";
    r.user_identity = "";
    char iso[128];
    if (c->json) {
        r.asctime = asctime_of(t, c, now, r.msecs);
        keel_buf_reset(&t->line);
        va_list cp;
        va_copy(cp, ap);
        int rc = keel__log_json(&r, c->hostname, cp, &t->line);
        va_end(cp);
        if (rc == 0)
            write_outputs(c, level, &t->line, &t->line);
        goto out;
    }
    if (c->uses_asctime)
        r.asctime = asctime_of(t, c, now, r.msecs);
    if (c->uses_isotime) {
        isotime_of(now, iso, sizeof(iso));
        r.isotime = iso;
    }
    /* ContextFormatter: the instance from the context's resource_uuid, user_identity from the context. */
    keel_buf_reset(&t->aux);
    if (r.ctx) {
        size_t ident_off = 0;
        bool has_instance = r.ctx->resource_uuid && r.ctx->resource_uuid[0];
        int rc = 0;
        if (has_instance) {
            rc = keel__log_fmt_render(&c->inst_uuid, uuid_lookup, (void *)r.ctx->resource_uuid, &t->aux);
            rc = rc ? rc : keel_buf_putc(&t->aux, '\0');
            ident_off = t->aux.len;
        }
        rc = rc ? rc : keel__log_fmt_render(&c->identity, keel__log_context_lookup, (void *)r.ctx, &t->aux);
        if (rc != 0)
            goto out;
        r.instance = has_instance ? t->aux.base : "";
        r.user_identity = t->aux.base + ident_off;
    }
    keel_buf_reset(&t->line);
    if (format_text(c, &r, &t->line, &t->exc) != 0)
        goto out;
    keel_buf_t *colored = &t->line;
    if (c->uses_color && c->stream && c->color) {
        r.color = level_color(level);
        r.reset_color = RESET_COLOR;
        keel_buf_reset(&t->alt);
        if (format_text(c, &r, &t->alt, &t->exc) != 0)
            goto out;
        colored = &t->alt;
    }
    write_outputs(c, level, &t->line, colored);
out:
    pthread_rwlock_unlock(&cfg_lock);
}

void keel_log_vemit(keel_log_t *log, int level, const char *file, int line, const char *func, const char *fmt, va_list ap)
{
    emit(log, level, file, line, func, NULL, NULL, fmt, ap);
}

void keel_log_emit(keel_log_t *log, int level, const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(log, level, file, line, func, NULL, NULL, fmt, ap);
    va_end(ap);
}

void keel_log_emit_error(keel_log_t *log, int level, const char *file, int line, const char *func, const char *error_summary,
                         const char *traceback, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(log, level, file, line, func, error_summary, traceback, fmt, ap);
    va_end(ap);
}
