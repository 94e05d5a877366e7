/*
 * config.c — rootwrap.conf as wrapper.RootwrapConfig reads it, and the
 * small string-list helpers the module shares (rootwrap_int.h).
 *
 * Every check happens in oslo.rootwrap's order so the first complaint is
 * the one Python would make: the file (configparser errors), filters_path,
 * exec_dirs, syslog_log_facility, syslog_log_level, use_syslog,
 * daemon_timeout, rlimit_nofile. Python's two failure messages are kept
 * verbatim; the precise reason goes to a second buffer.
 */
#include <string.h>

#include "ini.h"
#include "pycompat/pynum.h"
#include "pycompat/pystr.h"
#include "rootwrap_int.h"

extern char **environ;

void keel__rw_strv_init(keel__rw_strv_t *sv)
{
    sv->v = NULL;
    sv->n = 0;
    sv->cap = 0;
}

void keel__rw_strv_free(keel__rw_strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        keel__free(sv->v[i]);
    keel__free(sv->v);
    keel__rw_strv_init(sv);
}

int keel__rw_strv_pushn(keel__rw_strv_t *sv, const char *s, size_t len)
{
    if (sv->n + 2 > sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        char **v = keel__realloc(sv->v, cap * sizeof(char *));
        if (!v)
            return KEEL_ENOMEM;
        sv->v = v;
        sv->cap = cap;
    }
    char *copy = keel__strndup(s, len);
    if (!copy)
        return KEEL_ENOMEM;
    sv->v[sv->n++] = copy;
    sv->v[sv->n] = NULL;
    return 0;
}

int keel__rw_strv_push(keel__rw_strv_t *sv, const char *s)
{
    return keel__rw_strv_pushn(sv, s, strlen(s));
}

void keel__rw_strv_remove(keel__rw_strv_t *sv, size_t i)
{
    keel__free(sv->v[i]);
    memmove(sv->v + i, sv->v + i + 1, (sv->n - i) * sizeof(char *));
    sv->n--;
}

int keel__rw_strv_split(keel__rw_strv_t *sv, const char *s, size_t len, char sep)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == sep) {
            int rc = keel__rw_strv_pushn(sv, s + start, i - start);
            if (rc != 0)
                return rc;
            start = i + 1;
        }
    }
    return 0;
}

char **keel__rw_strv_steal(keel__rw_strv_t *sv, size_t *n)
{
    if (!sv->v) {
        sv->v = keel__calloc(1, sizeof(char *));
        if (!sv->v)
            return NULL;
    }
    char **v = sv->v;
    *n = sv->n;
    keel__rw_strv_init(sv);
    return v;
}

const char *keel__rw_getenv(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (; envp && *envp; envp++) {
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    }
    return NULL;
}

char *const *keel__rw_environ(void)
{
    return environ;
}

void keel_rootwrap_config_free(keel_rootwrap_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_filters_path; i++)
        keel__free(cfg->filters_path[i]);
    keel__free(cfg->filters_path);
    for (size_t i = 0; i < cfg->n_exec_dirs; i++)
        keel__free(cfg->exec_dirs[i]);
    keel__free(cfg->exec_dirs);
    memset(cfg, 0, sizeof(*cfg));
}

/*
 * syslog_log_facility: getattr(SysLogHandler, NAME, None), then the
 * facility_names dictionary. Python 3.11.2's class attributes that are
 * numbers are the facility; other attributes are accepted too, and only
 * fail when a line is logged.
 */
static const struct {
    const char *name;
    int64_t value;
} facility_attrs[] = {
    {"LOG_ALERT", 1},          {"LOG_AUTH", 4},         {"LOG_AUTHPRIV", 10},  {"LOG_CONSOLE", 14},
    {"LOG_CRIT", 2},           {"LOG_CRON", 9},         {"LOG_DAEMON", 3},     {"LOG_DEBUG", 7},
    {"LOG_EMERG", 0},          {"LOG_ERR", 3},          {"LOG_FTP", 11},       {"LOG_INFO", 6},
    {"LOG_KERN", 0},           {"LOG_LOCAL0", 16},      {"LOG_LOCAL1", 17},    {"LOG_LOCAL2", 18},
    {"LOG_LOCAL3", 19},        {"LOG_LOCAL4", 20},      {"LOG_LOCAL5", 21},    {"LOG_LOCAL6", 22},
    {"LOG_LOCAL7", 23},        {"LOG_LPR", 6},          {"LOG_MAIL", 2},       {"LOG_NEWS", 7},
    {"LOG_NOTICE", 5},         {"LOG_NTP", 12},         {"LOG_SECURITY", 13},  {"LOG_SOLCRON", 15},
    {"LOG_SYSLOG", 5},         {"LOG_USER", 1},         {"LOG_UUCP", 8},       {"LOG_WARNING", 4},
    {"__basicsize__", 24},     {"__dictoffset__", -48}, {"__flags__", 546320}, {"__itemsize__", 0},
    {"__weakrefoffset__", 16}, {"append_nul", 1},
};

static const char *const facility_odd_attrs[] = {
    "__annotations__",
    "__base__",
    "__bases__",
    "__call__",
    "__class__",
    "__delattr__",
    "__dict__",
    "__dir__",
    "__doc__",
    "__eq__",
    "__format__",
    "__ge__",
    "__getattribute__",
    "__getstate__",
    "__gt__",
    "__hash__",
    "__init__",
    "__init_subclass__",
    "__instancecheck__",
    "__le__",
    "__lt__",
    "__module__",
    "__mro__",
    "__name__",
    "__ne__",
    "__new__",
    "__or__",
    "__prepare__",
    "__qualname__",
    "__reduce__",
    "__reduce_ex__",
    "__repr__",
    "__ror__",
    "__setattr__",
    "__sizeof__",
    "__str__",
    "__subclasscheck__",
    "__subclasses__",
    "__subclasshook__",
    "__weakref__",
    "_at_fork_reinit",
    "_connect_unixsocket",
    "acquire",
    "addFilter",
    "close",
    "createLock",
    "createSocket",
    "emit",
    "encodePriority",
    "facility_names",
    "filter",
    "flush",
    "format",
    "get_name",
    "handle",
    "handleError",
    "ident",
    "mapPriority",
    "mro",
    "name",
    "priority_map",
    "priority_names",
    "release",
    "removeFilter",
    "setFormatter",
    "setLevel",
    "set_name",
};

static const struct {
    const char *name;
    int64_t value;
} facility_names[] = {
    {"auth", 4},          {"authpriv", 10}, {"console", 14}, {"cron", 9},    {"daemon", 3},  {"ftp", 11},
    {"kern", 0},          {"lpr", 6},       {"mail", 2},     {"news", 7},    {"ntp", 12},    {"security", 13},
    {"solaris-cron", 15}, {"syslog", 5},    {"user", 1},     {"uucp", 8},    {"local0", 16}, {"local1", 17},
    {"local2", 18},       {"local3", 19},   {"local4", 20},  {"local5", 21}, {"local6", 22}, {"local7", 23},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Returns true if v names a facility; sets *value or *unusable. */
static bool lookup_facility(const char *v, size_t len, int64_t *value, bool *unusable)
{
    if (strlen(v) != len)
        return false; /* getattr() refuses names with NUL bytes; so does the dict */
    for (size_t i = 0; i < COUNT(facility_attrs); i++) {
        if (strcmp(v, facility_attrs[i].name) == 0) {
            *value = facility_attrs[i].value;
            return true;
        }
    }
    for (size_t i = 0; i < COUNT(facility_odd_attrs); i++) {
        if (strcmp(v, facility_odd_attrs[i]) == 0) {
            *unusable = true;
            return true;
        }
    }
    for (size_t i = 0; i < COUNT(facility_names); i++) {
        if (strcmp(v, facility_names[i].name) == 0) {
            *value = facility_names[i].value;
            return true;
        }
    }
    return false;
}

/*
 * v.upper() compared with logging's level names. Only ASCII letters and a
 * few characters whose upper case is ASCII (U+00DF, U+0131, U+017F, the
 * Latin ligatures U+FB00..U+FB06) can produce a level name.
 */
static bool level_of(const char *v, size_t len, int *level)
{
    static const struct {
        uint32_t cp;
        const char *up;
    } special[] = {{0xDF, "SS"},   {0x131, "I"},    {0x17F, "S"},    {0xFB00, "FF"}, {0xFB01, "FI"},
                   {0xFB02, "FL"}, {0xFB03, "FFI"}, {0xFB04, "FFL"}, {0xFB05, "ST"}, {0xFB06, "ST"}};
    static const struct {
        const char *name;
        int level;
    } names[] = {{"CRITICAL", 50}, {"FATAL", 50}, {"ERROR", 40}, {"WARN", 30},
                 {"WARNING", 30},  {"INFO", 20},  {"DEBUG", 10}, {"NOTSET", 0}};
    char up[16];
    size_t n = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = keel__py_next_cp(v + i, len - i, &cp);
        const char *add = NULL;
        char one[2] = {0, 0};
        if (cp >= 'a' && cp <= 'z') {
            one[0] = (char)(cp - 32);
            add = one;
        } else if (cp >= 'A' && cp <= 'Z') {
            one[0] = (char)cp;
            add = one;
        } else {
            for (size_t j = 0; j < COUNT(special); j++)
                if (special[j].cp == cp)
                    add = special[j].up;
        }
        if (!add || n + strlen(add) >= sizeof(up))
            return false;
        memcpy(up + n, add, strlen(add));
        n += strlen(add);
        i += k;
    }
    up[n] = '\0';
    for (size_t j = 0; j < COUNT(names); j++) {
        if (strcmp(up, names[j].name) == 0) {
            *level = names[j].level;
            return true;
        }
    }
    return false;
}

/* configparser's BOOLEAN_STATES after value.lower(). */
static int boolean_of(const char *v, size_t len, bool *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    char low[8];
    if (len >= sizeof(low))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c >= 0x80 || c == 0)
            return -1; /* no non-ASCII character lowers into these words */
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    low[len] = '\0';
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(low, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(low, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int bad_value(keel_buf_t *msg, keel_buf_t *detail, const char *path, const keel_buf_t *why)
{
    int rc = 0;
    if (msg) {
        rc = keel_buf_puts(msg, "Incorrect value in ");
        if (rc == 0)
            rc = keel__py_put_escaped(msg, path, strlen(path));
        if (rc == 0)
            rc = keel_buf_puts(msg, ": ");
        if (rc == 0)
            rc = keel_buf_append(msg, why->base, why->len);
    }
    if (rc == 0 && detail) {
        rc = keel__py_put_escaped(detail, path, strlen(path));
        if (rc == 0)
            rc = keel_buf_puts(detail, ": ");
        if (rc == 0)
            rc = keel_buf_append(detail, why->base, why->len);
    }
    return rc ? rc : KEEL_EVALUE;
}

static int bad_file(keel_buf_t *msg, const char *path)
{
    int rc = 0;
    if (msg) {
        rc = keel_buf_puts(msg, "Incorrect configuration file: ");
        if (rc == 0)
            rc = keel__py_put_escaped(msg, path, strlen(path));
    }
    return rc ? rc : KEEL_EPARSE;
}

/* int(value) for daemon_timeout and rlimit_nofile. */
static int read_int(const keel__rw_ini_opt_t *o, int64_t *out, keel_buf_t *why)
{
    keel__py_int_t r;
    keel__py_parse_int(o->value.base, o->value.len, &r);
    if (r.status != KEEL__PY_INT_OK) {
        int rc = keel__py_int_error(why, o->value.base, o->value.len, &r);
        return rc ? rc : KEEL_EVALUE;
    }
    *out = r.value;
    return 0;
}

int keel_rootwrap_config_load(keel_rootwrap_config_t *cfg, const char *path, char *const *envp, keel_buf_t *msg, keel_buf_t *detail)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!envp)
        envp = keel__rw_environ();
    keel_buf_t text, why;
    keel_buf_init(&text);
    keel_buf_init(&why);
    keel__rw_ini_t ini;
    keel__rw_ini_init(&ini);
    keel__rw_strv_t fp, ed;
    keel__rw_strv_init(&fp);
    keel__rw_strv_init(&ed);

    /* configparser.read() skips a file it cannot open, leaving nothing set. */
    int rc = keel_read_file(path, &text);
    if (rc == KEEL_ENOMEM)
        goto out;
    if (rc != 0) {
        keel_buf_reset(&text);
        if (detail)
            keel_buf_printf(detail, "%s: %s", path, keel_strerror(rc));
    }
    rc = keel__rw_ini_parse(&ini, path, text.base ? text.base : "", text.len, true, detail);
    if (rc == KEEL_EPARSE) {
        if (ini.error == KEEL__RW_INI_DECODE) {
            /* UnicodeDecodeError is a ValueError; its first argument is the codec. */
            keel_buf_reset(&why);
            rc = keel_buf_puts(&why, "utf-8");
            if (rc == 0)
                rc = bad_value(msg, NULL, path, &why);
        } else {
            rc = bad_file(msg, path);
        }
        goto out;
    }
    if (rc != 0)
        goto out;

    keel__rw_ini_section_t *d = &ini.defaults;
    keel__rw_ini_opt_t *o = keel__rw_ini_opt(d, "filters_path");
    if (!o) {
        if (detail)
            keel_buf_printf(detail, "%s: no filters_path in [DEFAULT]", path);
        rc = bad_file(msg, path);
        goto out;
    }
    if (memchr(o->value.base, '\0', o->value.len)) {
        /* Python would fail later, on first use; keel refuses the file now. */
        keel_buf_puts(&why, "embedded null byte in filters_path");
        rc = bad_value(msg, detail, path, &why);
        goto out;
    }
    rc = keel__rw_strv_split(&fp, o->value.base, o->value.len, ',');
    if (rc != 0)
        goto out;

    o = keel__rw_ini_opt(d, "exec_dirs");
    if (o && memchr(o->value.base, '\0', o->value.len)) {
        keel_buf_puts(&why, "embedded null byte in exec_dirs");
        rc = bad_value(msg, detail, path, &why);
        goto out;
    }
    if (o) {
        rc = keel__rw_strv_split(&ed, o->value.base, o->value.len, ',');
    } else {
        const char *pathenv = keel__rw_getenv(envp, "PATH");
        if (pathenv)
            rc = keel__rw_strv_split(&ed, pathenv, strlen(pathenv), ':');
    }
    if (rc != 0)
        goto out;

    cfg->syslog_facility = 5; /* LOG_SYSLOG */
    o = keel__rw_ini_opt(d, "syslog_log_facility");
    if (o && !lookup_facility(o->value.base, o->value.len, &cfg->syslog_facility, &cfg->syslog_facility_unusable)) {
        rc = keel_buf_puts(&why, "Unexpected syslog_log_facility: ");
        if (rc == 0)
            rc = keel__py_put_escaped(&why, o->value.base, o->value.len);
        rc = rc ? rc : bad_value(msg, detail, path, &why);
        goto out;
    }

    cfg->syslog_level = KEEL_ROOTWRAP_LOG_ERROR;
    o = keel__rw_ini_opt(d, "syslog_log_level");
    if (o && !level_of(o->value.base, o->value.len, &cfg->syslog_level)) {
        rc = keel_buf_puts(&why, "Unexpected syslog_log_level: ");
        if (rc == 0)
            rc = keel__py_repr_str(&why, o->value.base, o->value.len, 0);
        rc = rc ? rc : bad_value(msg, detail, path, &why);
        goto out;
    }

    o = keel__rw_ini_opt(d, "use_syslog");
    if (o && boolean_of(o->value.base, o->value.len, &cfg->use_syslog) != 0) {
        rc = keel_buf_puts(&why, "Not a boolean: ");
        if (rc == 0)
            rc = keel__py_put_escaped(&why, o->value.base, o->value.len);
        rc = rc ? rc : bad_value(msg, detail, path, &why);
        goto out;
    }

    cfg->daemon_timeout = 600;
    o = keel__rw_ini_opt(d, "daemon_timeout");
    if (o && (rc = read_int(o, &cfg->daemon_timeout, &why)) != 0) {
        rc = rc == KEEL_EVALUE ? bad_value(msg, detail, path, &why) : rc;
        goto out;
    }

    cfg->rlimit_nofile = 1024;
    o = keel__rw_ini_opt(d, "rlimit_nofile");
    if (o && (rc = read_int(o, &cfg->rlimit_nofile, &why)) != 0) {
        rc = rc == KEEL_EVALUE ? bad_value(msg, detail, path, &why) : rc;
        goto out;
    }

    cfg->filters_path = keel__rw_strv_steal(&fp, &cfg->n_filters_path);
    cfg->exec_dirs = keel__rw_strv_steal(&ed, &cfg->n_exec_dirs);
    if (!cfg->filters_path || !cfg->exec_dirs)
        rc = KEEL_ENOMEM;
out:
    if (rc != 0)
        keel_rootwrap_config_free(cfg);
    keel__rw_strv_free(&fp);
    keel__rw_strv_free(&ed);
    keel__rw_ini_free(&ini);
    keel_buf_free(&text);
    keel_buf_free(&why);
    return rc;
}
