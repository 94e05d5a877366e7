/*
 * filters.c — the *.filters files and the ten filter classes of
 * oslo.rootwrap 6.3.1 (filters.py, wrapper.load_filters/match_filter).
 *
 * Design: each class is a kind tag on one struct, and each Python method
 * (match, get_exec, get_command, get_environment, exec_args) is a switch
 * on the kind, written to do exactly what the Python does, including the
 * parts that look like accidents: EnvFilter.match() pops "env" off the
 * caller's list, so later filters and the refusal message see the shorter
 * list; PathFilter compares character prefixes, not path components;
 * IpFilter indexes userargs[0] without checking it exists.
 *
 * Where Python would raise an uncaught exception the functions return
 * KEEL_EINVAL with a reason, and the caller stops as oslo-rootwrap stops.
 * wrapper.build_filter() resolves a class name with getattr() on the
 * filters module, so a line naming "__class__", "__setattr__" or "os"
 * does something in Python; the namespace table below reproduces what.
 */
#include <dirent.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ini.h"
#include "pycompat/pynum.h"
#include "pycompat/pyre.h"
#include "pycompat/pystr.h"
#include "rootwrap_int.h"

typedef enum {
    K_COMMAND,
    K_REGEXP,
    K_PATH,
    K_KILL,
    K_READFILE,
    K_IP,
    K_ENV,
    K_CHAINING,
    K_IPNETNS,
    K_CHAINREGEXP,
    K_POISON /* not a filter: oslo.rootwrap fails when it reaches it */
} kind_t;

static const char *const kind_names[] = {
    "CommandFilter", "RegExpFilter",   "PathFilter",        "KillFilter",           "ReadFileFilter", "IpFilter",
    "EnvFilter",     "ChainingFilter", "IpNetnsExecFilter", "ChainingRegExpFilter", "(not a filter)"};

/*
 * An argument pattern, compiled the first time a match needs it, as
 * Python's re compiles it on first use: most RegExpFilters are never
 * reached or stop at the argument count, and start-up time is what
 * keel-rootwrap is for. The slot is written once with compare-and-swap so
 * daemon threads can race on it; the loser frees its copy.
 */
typedef struct {
    _Atomic(uintptr_t) state; /* 0: not compiled yet; PAT_*: why not; else a keel__pyre_t * */
} pattern_t;

enum { PAT_EINVAL = 1, PAT_ERANGE = 2, PAT_ENOTSUP = 3 };

typedef struct {
    kind_t kind;
    char *name;
    char *where; /* "FILE:LINE" for messages */
    char *exec_path;
    char *run_as;
    keel__rw_strv_t args;
    char *file_path;     /* ReadFileFilter */
    pattern_t *patterns; /* RegExpFilter, ChainingRegExpFilter: one per arg */
    const char *poison;  /* K_POISON: what Python holds instead of a filter */
} filter_t;

struct keel_rootwrap_filters_s {
    filter_t **items;
    size_t n, cap;
};

static const char *const NETNS_VARS[] = {"net", "netn", "netns"};
static const char *const EXEC_VARS[] = {"e", "ex", "exe", "exec"};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* ---- filter objects --------------------------------------------------- */

static void filter_free(filter_t *f)
{
    if (!f)
        return;
    keel__free(f->name);
    keel__free(f->where);
    keel__free(f->exec_path);
    keel__free(f->run_as);
    keel__free(f->file_path);
    if (f->patterns) {
        for (size_t i = 0; i < f->args.n; i++)
            if (atomic_load(&f->patterns[i].state) > PAT_ENOTSUP)
                keel__pyre_free((keel__pyre_t *)atomic_load(&f->patterns[i].state));
        keel__free(f->patterns);
    }
    keel__rw_strv_free(&f->args);
    keel__free(f);
}

void keel_rootwrap_filters_free(keel_rootwrap_filters_t *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++)
        filter_free(fs->items[i]);
    keel__free(fs->items);
    keel__free(fs);
}

size_t keel_rootwrap_filters_count(const keel_rootwrap_filters_t *fs)
{
    return fs->n;
}

static int push_filter(keel_rootwrap_filters_t *fs, filter_t *f)
{
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        filter_t **items = keel__realloc(fs->items, cap * sizeof(*items));
        if (!items)
            return KEEL_ENOMEM;
        fs->items = items;
        fs->cap = cap;
    }
    fs->items[fs->n++] = f;
    return 0;
}

/* _extract_env(): the names of the leading NAME=VALUE arguments, as a set. */
static int extract_env(char *const *args, size_t n, keel__rw_strv_t *set)
{
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(args[i], '=');
        if (!eq)
            break;
        size_t len = (size_t)(eq - args[i]);
        bool seen = false;
        for (size_t j = 0; j < set->n && !seen; j++)
            seen = strlen(set->v[j]) == len && memcmp(set->v[j], args[i], len) == 0;
        if (!seen) {
            int rc = keel__rw_strv_pushn(set, args[i], len);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static bool same_set(const keel__rw_strv_t *a, const keel__rw_strv_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n && !found; j++)
            found = strcmp(a->v[i], b->v[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/*
 * Makes a filter of a class from the fields after the class name, as the
 * Python constructors do. Returns 0, KEEL_ENOMEM, or KEEL_EINVAL when the
 * constructor would raise TypeError (too few fields).
 */
static int make_filter(kind_t kind, char *const *fields, size_t n, filter_t **out)
{
    size_t need = kind == K_KILL || kind == K_READFILE ? 1 : 2;
    if (n < need)
        return KEEL_EINVAL;
    filter_t *f = keel__calloc(1, sizeof(*f));
    if (!f)
        return KEEL_ENOMEM;
    f->kind = kind;
    keel__rw_strv_init(&f->args);
    int rc = 0;
    const char *exec_path, *run_as;
    size_t first_arg;
    if (kind == K_KILL) {
        exec_path = "/bin/kill";
        run_as = fields[0];
        first_arg = 1;
    } else if (kind == K_READFILE) {
        f->file_path = keel__strdup(fields[0]);
        if (!f->file_path)
            rc = KEEL_ENOMEM;
        exec_path = "/bin/cat";
        run_as = "root";
        first_arg = 1;
    } else {
        exec_path = fields[0];
        run_as = fields[1];
        first_arg = 2;
    }
    f->exec_path = keel__strdup(exec_path);
    f->run_as = keel__strdup(run_as);
    if (!f->exec_path || !f->run_as)
        rc = KEEL_ENOMEM;
    for (size_t i = first_arg; rc == 0 && i < n; i++)
        rc = keel__rw_strv_push(&f->args, fields[i]);
    if (rc == 0 && kind == K_ENV) {
        /* env A=a B=b X ...: the command is the first argument after the assignments. */
        keel__rw_strv_t envs;
        keel__rw_strv_init(&envs);
        rc = extract_env(f->args.v, f->args.n, &envs);
        if (rc == 0 && strstr(f->exec_path, "env") && envs.n < f->args.n) {
            char *c = keel__strdup(f->args.v[envs.n]);
            if (!c) {
                rc = KEEL_ENOMEM;
            } else {
                keel__free(f->exec_path);
                f->exec_path = c;
            }
        }
        keel__rw_strv_free(&envs);
    }
    if (rc == 0 && (kind == K_REGEXP || kind == K_CHAINREGEXP) && f->args.n) {
        f->patterns = keel__calloc(f->args.n, sizeof(pattern_t));
        if (!f->patterns)
            rc = KEEL_ENOMEM;
        for (size_t i = 0; rc == 0 && i < f->args.n; i++)
            atomic_init(&f->patterns[i].state, 0);
    }
    if (rc != 0) {
        filter_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- the filters module's namespace, as build_filter() sees it -------- */

typedef enum {
    A_CLASS,      /* one of the ten filter classes */
    A_MODULE,     /* os, re, ...: not callable */
    A_FUNCTION,   /* _getuid, realpath: returns something without .name */
    A_POISONABLE, /* __loader__, __spec__: not callable, but a valid __getattribute__ result */
    A_VALUE,      /* strings, tuples, dicts: not callable */
    A_MODULE_CLASS,
    A_INIT,
    A_INIT_SUBCLASS,
    A_SETATTR,
    A_DELATTR,
    A_GETATTRIBUTE,
    A_METHOD /* other methods every module has: each call fails */
} attr_kind_t;

typedef struct {
    char *name;
    attr_kind_t kind;
    kind_t cls;   /* A_CLASS */
    bool in_dict; /* in the module's __dict__ (deletable, shadowable) */
    bool present;
} attr_t;

typedef struct {
    attr_t *a;
    size_t n, cap;
} ns_t;

static int ns_add(ns_t *ns, const char *name, attr_kind_t kind, kind_t cls, bool in_dict)
{
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64;
        attr_t *a = keel__realloc(ns->a, cap * sizeof(*a));
        if (!a)
            return KEEL_ENOMEM;
        ns->a = a;
        ns->cap = cap;
    }
    char *copy = keel__strdup(name);
    if (!copy)
        return KEEL_ENOMEM;
    ns->a[ns->n++] = (attr_t){copy, kind, cls, in_dict, true};
    return 0;
}

static void ns_free(ns_t *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        keel__free(ns->a[i].name);
    keel__free(ns->a);
}

static attr_t *ns_get(ns_t *ns, const char *name)
{
    for (size_t i = 0; i < ns->n; i++)
        if (ns->a[i].present && strcmp(ns->a[i].name, name) == 0)
            return &ns->a[i];
    return NULL;
}

static int ns_init(ns_t *ns)
{
    static const char *const modules[] = {"os", "pwd", "re", "shutil", "sys"};
    static const char *const values[] = {"EXEC_VARS", "NETNS_VARS", "__builtins__", "__cached__",
                                         "__doc__",   "__file__",   "__name__",     "__package__"};
    static const char *const methods[] = {"__delattr__", "__dir__",       "__eq__",   "__format__", "__ge__",  "__getstate__",
                                          "__gt__",      "__hash__",      "__le__",   "__lt__",     "__ne__",  "__new__",
                                          "__reduce__",  "__reduce_ex__", "__repr__", "__sizeof__", "__str__", "__subclasshook__"};
    int rc = 0;
    memset(ns, 0, sizeof(*ns));
    for (int k = K_COMMAND; rc == 0 && k <= K_CHAINREGEXP; k++)
        rc = ns_add(ns, kind_names[k], A_CLASS, (kind_t)k, true);
    for (size_t i = 0; rc == 0 && i < sizeof(modules) / sizeof(*modules); i++)
        rc = ns_add(ns, modules[i], A_MODULE, K_POISON, true);
    for (size_t i = 0; rc == 0 && i < sizeof(values) / sizeof(*values); i++)
        rc = ns_add(ns, values[i], A_VALUE, K_POISON, true);
    if (rc == 0)
        rc = ns_add(ns, "_getuid", A_FUNCTION, K_POISON, true);
    if (rc == 0)
        rc = ns_add(ns, "realpath", A_FUNCTION, K_POISON, true);
    if (rc == 0)
        rc = ns_add(ns, "__loader__", A_POISONABLE, K_POISON, true);
    if (rc == 0)
        rc = ns_add(ns, "__spec__", A_POISONABLE, K_POISON, true);
    /* What every module object answers through its type. */
    if (rc == 0)
        rc = ns_add(ns, "__annotations__", A_VALUE, K_POISON, false);
    if (rc == 0)
        rc = ns_add(ns, "__dict__", A_VALUE, K_POISON, false);
    if (rc == 0)
        rc = ns_add(ns, "__class__", A_MODULE_CLASS, K_POISON, false);
    if (rc == 0)
        rc = ns_add(ns, "__init__", A_INIT, K_POISON, false);
    if (rc == 0)
        rc = ns_add(ns, "__init_subclass__", A_INIT_SUBCLASS, K_POISON, false);
    if (rc == 0)
        rc = ns_add(ns, "__setattr__", A_SETATTR, K_POISON, false);
    if (rc == 0)
        rc = ns_add(ns, "__getattribute__", A_GETATTRIBUTE, K_POISON, false);
    for (size_t i = 0; rc == 0 && i < sizeof(methods) / sizeof(*methods); i++)
        rc = ns_add(ns, methods[i], strcmp(methods[i], "__delattr__") == 0 ? A_DELATTR : A_METHOD, K_POISON, false);
    return rc;
}

/* The outcome of build_filter() for one definition. */
typedef enum { B_FILTER, B_SKIP_WARN, B_SKIP_SILENT, B_POISON, B_CRASH } build_t;

/*
 * getattr(filters, name)(*args) and the ".name =" that follows, for the
 * attributes that are not filter classes. Returns B_*; may change ns.
 */
static build_t call_attr(ns_t *ns, attr_t *a, char *const *args, size_t n, const char **poison, int *rc)
{
    switch (a->kind) {
    case A_MODULE_CLASS:
        /* types.ModuleType(name[, doc]) makes a module; setting .name works. */
        if (n == 1 || n == 2) {
            *poison = "a module made by __class__";
            return B_POISON;
        }
        return B_CRASH;
    case A_INIT:
        /* module.__init__(name[, doc]) returns None: build_filter returns None. */
        return n == 1 || n == 2 ? B_SKIP_SILENT : B_CRASH;
    case A_INIT_SUBCLASS:
        return n == 0 ? B_SKIP_SILENT : B_CRASH;
    case A_SETATTR: {
        if (n != 2 || strcmp(args[0], "__class__") == 0 || strcmp(args[0], "__dict__") == 0)
            return B_CRASH;
        /* filters.NAME = "VALUE": a string, which nothing can call. */
        attr_t *t = ns_get(ns, args[0]);
        if (t && t->in_dict) {
            t->kind = A_VALUE;
        } else {
            *rc = ns_add(ns, args[0], A_VALUE, K_POISON, true);
        }
        return B_SKIP_SILENT;
    }
    case A_DELATTR: {
        attr_t *t = n == 1 ? ns_get(ns, args[0]) : NULL;
        if (!t || !t->in_dict)
            return B_CRASH;
        t->present = false;
        return B_SKIP_SILENT;
    }
    case A_GETATTRIBUTE: {
        attr_t *t = n == 1 ? ns_get(ns, args[0]) : NULL;
        if (!t)
            return B_CRASH;
        /* The result gets ".name" set: fine on classes, modules, functions, loader objects. */
        if (t->kind == A_CLASS || t->kind == A_MODULE || t->kind == A_FUNCTION || t->kind == A_POISONABLE) {
            *poison = "an object returned by __getattribute__";
            return B_POISON;
        }
        return B_CRASH;
    }
    default:
        return B_CRASH;
    }
}

/* ---- loading ---------------------------------------------------------- */

typedef struct {
    keel_rootwrap_log_fn log;
    void *log_data;
    keel_buf_t *why;
} load_ctx_t;

static int crash(load_ctx_t *c, const char *where, const char *fmt, const char *arg)
{
    if (c->why) {
        keel_buf_printf(c->why, "%s: ", where);
        keel_buf_printf(c->why, fmt, arg);
    }
    return KEEL_EINVAL;
}

static void warn_unknown(load_ctx_t *c, const char *cls)
{
    if (!c->log)
        return;
    keel_buf_t m;
    keel_buf_init(&m);
    if (keel_buf_puts(&m, "Skipping unknown filter class (") == 0 && keel__py_put_escaped(&m, cls, strlen(cls)) == 0 &&
        keel_buf_puts(&m, ") specified in filter definitions") == 0)
        c->log(c->log_data, KEEL_ROOTWRAP_LOG_WARNING, m.base);
    keel_buf_free(&m);
}

/* One "name: Class, field, ..." definition. */
static int add_definition(keel_rootwrap_filters_t *fs, ns_t *ns, load_ctx_t *c, const char *where, const char *name,
                          size_t name_len, const char *value, size_t vlen)
{
    keel__rw_strv_t def;
    keel__rw_strv_init(&def);
    filter_t *f = NULL;
    int rc = 0;
    /* [s.strip() for s in value.split(',')] */
    size_t start = 0;
    for (size_t i = 0; rc == 0 && i <= vlen; i++) {
        if (i == vlen || value[i] == ',') {
            size_t b = start, e = i;
            keel__py_strip(value, &b, &e);
            rc = keel__rw_strv_pushn(&def, value + b, e - b);
            start = i + 1;
        }
    }
    if (rc != 0)
        goto out;
    const char *cls = def.v[0];
    char *const *args = def.v + 1;
    size_t nargs = def.n - 1;
    attr_t *a = ns_get(ns, cls);
    const char *poison = NULL;
    build_t b;
    if (!a) {
        b = B_SKIP_WARN;
    } else if (a->kind == A_CLASS) {
        rc = make_filter(a->cls, args, nargs, &f);
        if (rc == KEEL_EINVAL) {
            rc =
                crash(c, where, "%s() takes more fields than this definition gives (oslo.rootwrap fails here)", kind_names[a->cls]);
            goto out;
        }
        if (rc != 0)
            goto out;
        b = B_FILTER;
    } else {
        b = call_attr(ns, a, args, nargs, &poison, &rc);
        if (rc != 0)
            goto out;
    }
    switch (b) {
    case B_SKIP_WARN:
        warn_unknown(c, cls);
        break;
    case B_SKIP_SILENT:
        break;
    case B_CRASH:
        rc = crash(c, where, "filter class %s cannot be built (oslo.rootwrap fails here)", cls);
        goto out;
    case B_POISON:
        f = keel__calloc(1, sizeof(*f));
        if (!f) {
            rc = KEEL_ENOMEM;
            goto out;
        }
        f->kind = K_POISON;
        f->poison = poison;
        keel__rw_strv_init(&f->args);
        /* fall through */
    case B_FILTER:
        f->name = keel__strndup(name, name_len);
        f->where = keel__strdup(where);
        if (!f->name || !f->where) {
            rc = KEEL_ENOMEM;
            goto out;
        }
        rc = push_filter(fs, f);
        if (rc == 0)
            f = NULL;
        break;
    }
out:
    filter_free(f);
    keel__rw_strv_free(&def);
    return rc;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* os.path.join(a, b) for a relative b. */
static int join(keel_buf_t *out, const char *a, const char *b)
{
    keel_buf_reset(out);
    int rc = keel_buf_puts(out, a);
    if (rc == 0 && out->len && out->base[out->len - 1] != '/')
        rc = keel_buf_putc(out, '/');
    return rc ? rc : keel_buf_puts(out, b);
}

/* One filter file's text: the configparser read, then each definition of [Filters]. */
static int load_text(keel_rootwrap_filters_t *fs, ns_t *ns, load_ctx_t *c, const char *path, const char *text, size_t len)
{
    keel_buf_t where;
    keel_buf_init(&where);
    keel__rw_ini_t ini;
    keel__rw_ini_init(&ini);
    int rc;
    if (memchr(text, '\0', len)) {
        /* Python keeps NUL bytes in names and fields; keel refuses such a file outright. */
        rc = crash(c, path, "%s", "contains a NUL byte; keel refuses filter files with NUL bytes");
        goto out;
    }
    rc = keel__rw_ini_parse(&ini, path, text, len, false, c->why);
    if (rc == KEEL_EPARSE) {
        if (c->why)
            keel_buf_puts(c->why, " (oslo.rootwrap fails here)");
        rc = KEEL_EINVAL;
        goto out;
    }
    if (rc != 0)
        goto out;
    keel__rw_ini_section_t *s = keel__rw_ini_section(&ini, "Filters");
    if (!s) {
        rc = crash(c, path, "no [Filters] section%s", " (oslo.rootwrap fails here)");
        goto out;
    }
    /* items("Filters"): [DEFAULT] first, overridden in place, then the rest. */
    keel__rw_ini_section_t *d = &ini.defaults;
    for (size_t pass = 0; pass < 2 && rc == 0; pass++) {
        keel__rw_ini_section_t *from = pass == 0 ? d : s;
        for (size_t i = 0; i < from->opts.len && rc == 0; i++) {
            keel__rw_ini_opt_t *o = from->opts.items[i];
            keel__rw_ini_opt_t *use = o;
            if (pass == 0) {
                keel__rw_ini_opt_t *over = keel__rw_ini_opt(s, o->name);
                if (over)
                    use = over;
            } else if (keel__rw_ini_opt(d, o->name)) {
                continue;
            }
            keel_buf_reset(&where);
            rc = keel_buf_printf(&where, "%s:%u", path, use->lineno);
            if (rc == 0)
                rc = add_definition(fs, ns, c, where.base, o->name, o->name_len, use->value.base, use->value.len);
        }
    }
out:
    keel__rw_ini_free(&ini);
    keel_buf_free(&where);
    return rc;
}

static int load_file(keel_rootwrap_filters_t *fs, ns_t *ns, load_ctx_t *c, const char *path)
{
    keel_buf_t text;
    keel_buf_init(&text);
    int rc = keel_read_file(path, &text);
    if (rc == 0)
        rc = load_text(fs, ns, c, path, text.base, text.len);
    else if (rc != KEEL_ENOMEM)
        /* configparser.read() skips it; items("Filters") then raises. */
        rc = crash(c, path, "cannot be read: %s (oslo.rootwrap fails here)", keel_strerror(rc));
    keel_buf_free(&text);
    return rc;
}

/* The built-in privsep-helper filter, made through the namespace as Python makes it. */
static int add_privsep(keel_rootwrap_filters_t *fs, ns_t *ns, load_ctx_t *c)
{
    attr_t *a = ns_get(ns, "CommandFilter");
    char *fields[] = {"privsep-helper", "root"};
    filter_t *f = NULL;
    if (!a)
        warn_unknown(c, "CommandFilter");
    if (!a || a->kind != A_CLASS)
        return crash(c, "privsep-helper", "%s", "the CommandFilter class was removed (oslo.rootwrap fails here)");
    int rc = make_filter(a->cls, fields, 2, &f);
    if (rc != 0)
        return rc;
    f->name = keel__strdup("privsep-helper");
    f->where = keel__strdup("(built-in)");
    rc = f->name && f->where ? push_filter(fs, f) : KEEL_ENOMEM;
    if (rc != 0)
        filter_free(f);
    return rc;
}

int keel__rw_filters_from_text(keel_rootwrap_filters_t **out, const char *name, const char *text, size_t len,
                               keel_rootwrap_log_fn log, void *log_data, keel_buf_t *why)
{
    keel_rootwrap_filters_t *fs = keel__calloc(1, sizeof(*fs));
    if (!fs)
        return KEEL_ENOMEM;
    load_ctx_t c = {log, log_data, why};
    ns_t ns;
    int rc = ns_init(&ns);
    if (rc == 0)
        rc = load_text(fs, &ns, &c, name, text, len);
    if (rc == 0)
        rc = add_privsep(fs, &ns, &c);
    ns_free(&ns);
    if (rc != 0) {
        keel_rootwrap_filters_free(fs);
        return rc;
    }
    *out = fs;
    return 0;
}

int keel_rootwrap_filters_load(keel_rootwrap_filters_t **out, char *const *dirs, size_t ndirs, keel_rootwrap_log_fn log,
                               void *log_data, keel_buf_t *why)
{
    keel_rootwrap_filters_t *fs = keel__calloc(1, sizeof(*fs));
    if (!fs)
        return KEEL_ENOMEM;
    load_ctx_t c = {log, log_data, why};
    ns_t ns;
    keel_buf_t path;
    keel_buf_init(&path);
    int rc = ns_init(&ns);
    for (size_t i = 0; rc == 0 && i < ndirs; i++) {
        if (!is_dir(dirs[i]))
            continue;
        DIR *dir = opendir(dirs[i]);
        if (!dir) {
            rc = crash(&c, dirs[i], "cannot be listed: %s (oslo.rootwrap fails here)", strerror(errno));
            break;
        }
        struct dirent *e;
        while (rc == 0 && (e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue; /* also skips "." and "..", which os.listdir() leaves out */
            rc = join(&path, dirs[i], e->d_name);
            if (rc == 0 && is_file(path.base))
                rc = load_file(fs, &ns, &c, path.base);
        }
        closedir(dir);
    }
    if (rc == 0)
        rc = add_privsep(fs, &ns, &c); /* and always include privsep-helper */
    ns_free(&ns);
    keel_buf_free(&path);
    if (rc != 0) {
        keel_rootwrap_filters_free(fs);
        return rc;
    }
    *out = fs;
    return 0;
}

/* ---- matching --------------------------------------------------------- */

typedef struct {
    char *const *exec_dirs;
    size_t n_exec_dirs;
    char *const *envp;
    keel_buf_t *why;
} match_ctx_t;

/* Python raised: say why and stop. */
static int fail(match_ctx_t *c, const filter_t *f, const char *what)
{
    if (c->why) {
        if (f)
            keel_buf_printf(c->why, "%s: filter %s: ", f->where, f->name);
        keel_buf_printf(c->why, "%s (oslo.rootwrap fails here)", what);
    }
    return KEEL_EINVAL;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool is_abs(const char *p)
{
    return p[0] == '/';
}

static bool is_chaining(const filter_t *f)
{
    return f->kind == K_CHAINING || f->kind == K_IPNETNS || f->kind == K_CHAINREGEXP;
}

/*
 * get_exec(): the executable, or NULL. Returns 0 or KEEL_ENOMEM; *exe is
 * owned by the caller.
 */
static int get_exec(const filter_t *f, match_ctx_t *c, char **exe)
{
    *exe = NULL;
    if (is_abs(f->exec_path)) {
        if (access(f->exec_path, X_OK) == 0) {
            *exe = keel__strdup(f->exec_path);
            return *exe ? 0 : KEEL_ENOMEM;
        }
        return 0;
    }
    keel_buf_t p;
    keel_buf_init(&p);
    int rc = 0;
    for (size_t i = 0; i < c->n_exec_dirs; i++) {
        keel_buf_reset(&p);
        if (c->exec_dirs[i][0] == '\0') {
            rc = keel_buf_puts(&p, f->exec_path);
        } else {
            rc = join(&p, c->exec_dirs[i], f->exec_path);
        }
        if (rc != 0)
            break;
        if (access(p.base, X_OK) == 0) {
            *exe = keel_buf_steal(&p);
            rc = *exe ? 0 : KEEL_ENOMEM;
            break;
        }
    }
    keel_buf_free(&p);
    return rc;
}

static bool command_match(const filter_t *f, char *const *args, size_t n)
{
    return n > 0 && (strcmp(f->exec_path, args[0]) == 0 || strcmp(base_name(f->exec_path), args[0]) == 0);
}

/* The compiled pattern of argument i (re.match(pattern + '$', arg)), compiling it if needed. */
static int get_pattern(const filter_t *f, size_t i, uintptr_t *state)
{
    pattern_t *p = &f->patterns[i];
    uintptr_t cur = atomic_load(&p->state);
    if (cur != 0) {
        *state = cur;
        return 0;
    }
    keel_buf_t pat;
    keel_buf_init(&pat);
    int rc = keel_buf_puts(&pat, f->args.v[i]);
    if (rc == 0)
        rc = keel_buf_putc(&pat, '$');
    keel__pyre_t *re = NULL;
    if (rc == 0)
        rc = keel__pyre_compile(pat.base, pat.len, &re, NULL);
    keel_buf_free(&pat);
    if (rc == KEEL_ENOMEM)
        return rc;
    uintptr_t mine = rc == KEEL_EINVAL ? PAT_EINVAL : rc == KEEL_ERANGE ? PAT_ERANGE : rc != 0 ? PAT_ENOTSUP : (uintptr_t)re;
    uintptr_t expected = 0;
    if (!atomic_compare_exchange_strong(&p->state, &expected, mine)) {
        keel__pyre_free(re); /* another thread compiled it first */
        mine = expected;
    }
    *state = mine;
    return 0;
}

/* Zips patterns with arguments; returns 1, 0, or KEEL_EINVAL/KEEL_ENOMEM. */
static int patterns_match(const filter_t *f, char *const *args, size_t n, match_ctx_t *c)
{
    size_t k = f->args.n < n ? f->args.n : n;
    for (size_t i = 0; i < k; i++) {
        uintptr_t st;
        int rc = get_pattern(f, i, &st);
        if (rc != 0)
            return rc;
        if (st == PAT_ERANGE)
            return fail(c, f, "the pattern makes Python's re raise an error other than re.error");
        if (st == PAT_EINVAL || st == PAT_ENOTSUP)
            return 0; /* re.error: a badly formed filter denies */
        int m = keel__pyre_match((const keel__pyre_t *)st, args[i], strlen(args[i]));
        if (m < 0)
            return m;
        if (m == 0)
            return 0;
    }
    return 1;
}

/*
 * os.path.realpath() of Python 3.11 (non-strict): symlinks resolved,
 * missing components kept, a loop leaves the rest unresolved. Returns 0,
 * KEEL_ENOMEM, or 1 when os.getcwd() failed with FileNotFoundError
 * (filters.realpath() then gives ''); KEEL_EINVAL for other getcwd errors.
 */
static int joinrealpath(keel_buf_t *path, const char *rest, keel_vec_t *seen_k, keel_vec_t *seen_v, int depth, bool *ok);

static int path_split_parent(keel_buf_t *path, char **name)
{
    /* posixpath.split(): head without trailing slashes (unless all slashes), tail */
    char *s = path->base;
    size_t len = path->len;
    size_t i = len;
    while (i > 0 && s[i - 1] != '/')
        i--;
    *name = keel__strdup(s + i);
    if (!*name)
        return KEEL_ENOMEM;
    size_t h = i;
    bool all_slash = true;
    for (size_t j = 0; j < h; j++)
        if (s[j] != '/')
            all_slash = false;
    if (!all_slash)
        while (h > 0 && s[h - 1] == '/')
            h--;
    path->len = h;
    if (path->base)
        path->base[h] = '\0';
    return 0;
}

static int pjoin(keel_buf_t *out, const char *name)
{
    /* posixpath.join(path, name) with a relative name */
    if (out->len == 0)
        return keel_buf_puts(out, name);
    if (out->base[out->len - 1] != '/') {
        int rc = keel_buf_putc(out, '/');
        if (rc != 0)
            return rc;
    }
    return keel_buf_puts(out, name);
}

static int joinrealpath(keel_buf_t *path, const char *rest, keel_vec_t *seen_k, keel_vec_t *seen_v, int depth, bool *ok)
{
    int rc = 0;
    if (rest[0] == '/') {
        keel_buf_reset(path);
        rc = keel_buf_putc(path, '/');
        rest++;
        if (rc != 0)
            return rc;
    }
    keel_buf_t newpath;
    keel_buf_init(&newpath);
    while (*rest) {
        const char *slash = strchr(rest, '/');
        size_t nlen = slash ? (size_t)(slash - rest) : strlen(rest);
        const char *next = slash ? slash + 1 : rest + nlen;
        if (nlen == 0 || (nlen == 1 && rest[0] == '.')) {
            rest = next;
            continue;
        }
        if (nlen == 2 && rest[0] == '.' && rest[1] == '.') {
            if (path->len) {
                char *name;
                rc = path_split_parent(path, &name);
                if (rc != 0)
                    break;
                if (strcmp(name, "..") == 0) {
                    rc = pjoin(path, "..");
                    if (rc == 0)
                        rc = pjoin(path, "..");
                }
                keel__free(name);
                if (rc != 0)
                    break;
            } else {
                rc = keel_buf_puts(path, "..");
                if (rc != 0)
                    break;
            }
            rest = next;
            continue;
        }
        keel_buf_reset(&newpath);
        rc = keel_buf_append(&newpath, path->base ? path->base : "", path->len);
        if (rc == 0) {
            char *name = keel__strndup(rest, nlen);
            rc = name ? pjoin(&newpath, name) : KEEL_ENOMEM;
            keel__free(name);
        }
        if (rc != 0)
            break;
        struct stat st;
        bool is_link = lstat(newpath.base, &st) == 0 && S_ISLNK(st.st_mode);
        if (!is_link) {
            keel_buf_reset(path);
            rc = keel_buf_append(path, newpath.base, newpath.len);
            if (rc != 0)
                break;
            rest = next;
            continue;
        }
        /* Resolve the symbolic link. */
        size_t k;
        for (k = 0; k < seen_k->len; k++)
            if (strcmp(seen_k->items[k], newpath.base) == 0)
                break;
        if (k < seen_k->len) {
            if (seen_v->items[k]) {
                keel_buf_reset(path);
                rc = keel_buf_puts(path, seen_v->items[k]);
                if (rc != 0)
                    break;
                rest = next;
                continue;
            }
            /* A loop: the resolved part plus the rest, unchanged. */
            keel_buf_reset(path);
            rc = keel_buf_append(path, newpath.base, newpath.len);
            if (rc == 0 && *next)
                rc = pjoin(path, next);
            else if (rc == 0 && slash)
                rc = pjoin(path, "");
            *ok = false;
            keel_buf_free(&newpath);
            return rc;
        }
        char *key = keel__strdup(newpath.base);
        if (!key || keel_vec_push(seen_k, key) != 0 || keel_vec_push(seen_v, NULL) != 0) {
            keel__free(key);
            rc = KEEL_ENOMEM;
            break;
        }
        size_t slot = seen_k->len - 1;
        char target[PATH_MAX + 1];
        ssize_t tl = readlink(newpath.base, target, PATH_MAX);
        if (tl < 0)
            tl = 0; /* Python would raise; a link that vanished meanwhile */
        target[tl] = '\0';
        bool sub_ok = true;
        rc = joinrealpath(path, target, seen_k, seen_v, depth + 1, &sub_ok);
        if (rc != 0)
            break;
        if (!sub_ok) {
            if (*next)
                rc = pjoin(path, next);
            else if (slash)
                rc = pjoin(path, "");
            *ok = false;
            keel_buf_free(&newpath);
            return rc;
        }
        seen_v->items[slot] = keel__strdup(path->base ? path->base : "");
        if (!seen_v->items[slot]) {
            rc = KEEL_ENOMEM;
            break;
        }
        rest = next;
    }
    keel_buf_free(&newpath);
    return rc;
}

/* posixpath.normpath() of an absolute path. */
static int normpath_abs(const char *in, keel_buf_t *out)
{
    keel_vec_t parts;
    keel_vec_init(&parts);
    keel_buf_reset(out);
    int rc = 0;
    /* POSIX allows one implementation-defined leading "//"; Python keeps exactly two. */
    size_t lead = 0;
    while (in[lead] == '/')
        lead++;
    const char *p = in;
    size_t keep = lead == 2 ? 2 : 1;
    char *copy = keel__strdup(in);
    if (!copy)
        return KEEL_ENOMEM;
    (void)p;
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            if (parts.len)
                parts.len--;
            continue;
        }
        if ((rc = keel_vec_push(&parts, tok)) != 0)
            break;
    }
    if (rc == 0)
        rc = keel_buf_append(out, "//", keep);
    for (size_t i = 0; rc == 0 && i < parts.len; i++) {
        if (i)
            rc = keel_buf_putc(out, '/');
        if (rc == 0)
            rc = keel_buf_puts(out, parts.items[i]);
    }
    keel_vec_free(&parts);
    keel__free(copy);
    return rc;
}

static int py_realpath(const char *filename, keel_buf_t *out, match_ctx_t *c)
{
    keel_buf_t path;
    keel_buf_init(&path);
    keel_vec_t sk, sv;
    keel_vec_init(&sk);
    keel_vec_init(&sv);
    bool ok = true;
    int rc = joinrealpath(&path, filename, &sk, &sv, 0, &ok);
    if (rc == 0) {
        /* abspath(): join with os.getcwd() when relative, then normpath. */
        keel_buf_t abs;
        keel_buf_init(&abs);
        if (path.len && path.base[0] == '/') {
            rc = keel_buf_append(&abs, path.base, path.len);
        } else {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof(cwd))) {
                rc = errno == ENOENT ? 1 : fail(c, NULL, "os.getcwd() failed");
            } else {
                rc = keel_buf_puts(&abs, cwd);
                if (rc == 0 && path.len)
                    rc = pjoin(&abs, path.base);
            }
        }
        if (rc == 0)
            rc = normpath_abs(abs.base ? abs.base : "/", out);
        keel_buf_free(&abs);
    }
    for (size_t i = 0; i < sk.len; i++) {
        keel__free(sk.items[i]);
        keel__free(sv.items[i]);
    }
    keel_vec_free(&sk);
    keel_vec_free(&sv);
    keel_buf_free(&path);
    return rc;
}

/* filters.realpath(): like os.path.realpath, '' when the cwd is gone. */
static int rw_realpath(const char *value, keel_buf_t *out, match_ctx_t *c)
{
    keel_buf_reset(out);
    int rc = py_realpath(value, out, c);
    if (rc == 1) {
        keel_buf_reset(out);
        rc = keel_buf_reserve(out, 0);
    }
    return rc;
}

static int path_match(const filter_t *f, char *const *args, size_t n, match_ctx_t *c)
{
    if (n < 2)
        return 0;
    char *const *arguments = args + 1;
    size_t na = n - 1;
    bool equal_args_num = f->args.n == na;
    bool exec_is_valid = command_match(f, args, n);
    size_t k = f->args.n < na ? f->args.n : na;
    bool equal_or_pass = true;
    for (size_t i = 0; i < k && equal_or_pass; i++) {
        const char *arg = f->args.v[i];
        if (!is_abs(arg))
            equal_or_pass = strcmp(arg, "pass") == 0 || strcmp(arg, arguments[i]) == 0;
    }
    bool within = true;
    keel_buf_t rp;
    keel_buf_init(&rp);
    int rc = 0;
    for (size_t i = 0; i < k && within; i++) {
        const char *arg = f->args.v[i];
        if (!is_abs(arg))
            continue;
        rc = rw_realpath(arguments[i], &rp, c);
        if (rc != 0)
            break;
        /* os.path.commonprefix([arg, rp]) == arg: a character prefix. */
        within = strncmp(rp.base, arg, strlen(arg)) == 0;
    }
    keel_buf_free(&rp);
    if (rc != 0)
        return rc;
    return equal_args_num && exec_is_valid && equal_or_pass && within;
}

/* Python's "open(path).read()" of a small /proc file, decoded as UTF-8 text. */
static int read_text(const char *path, keel_buf_t *out, bool *decode_error)
{
    int rc = keel_read_file(path, out);
    if (rc != 0)
        return rc;
    *decode_error = keel__utf8_invalid_at(out->base, out->len) < out->len;
    /* Universal newlines: "\r\n" and "\r" read as "\n". */
    size_t w = 0;
    for (size_t i = 0; i < out->len; i++) {
        char ch = out->base[i];
        if (ch == '\r') {
            if (i + 1 < out->len && out->base[i + 1] == '\n')
                i++;
            ch = '\n';
        }
        out->base[w++] = ch;
    }
    out->len = w;
    out->base[w] = '\0';
    return 0;
}

static bool exists_access_notdir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && access(p, F_OK | X_OK) == 0 && !S_ISDIR(st.st_mode);
}

/* shutil.which(cmd) with the wrapper's PATH. Sets *found to a new string or NULL. */
static int which(const char *cmd, match_ctx_t *c, char **found)
{
    *found = NULL;
    if (strchr(cmd, '/')) {
        if (exists_access_notdir(cmd)) {
            *found = keel__strdup(cmd);
            return *found ? 0 : KEEL_ENOMEM;
        }
        return 0;
    }
    const char *path = keel__rw_getenv(c->envp, "PATH");
    char cs[1024];
    if (!path) {
        size_t n = confstr(_CS_PATH, cs, sizeof(cs));
        path = n > 0 && n <= sizeof(cs) ? cs : "/bin:/usr/bin";
    }
    if (!*path)
        return 0;
    keel__rw_strv_t dirs;
    keel__rw_strv_init(&dirs);
    keel_buf_t p;
    keel_buf_init(&p);
    int rc = keel__rw_strv_split(&dirs, path, strlen(path), ':');
    for (size_t i = 0; rc == 0 && i < dirs.n; i++) {
        keel_buf_reset(&p);
        rc = dirs.v[i][0] ? join(&p, dirs.v[i], cmd) : keel_buf_puts(&p, cmd);
        if (rc == 0 && exists_access_notdir(p.base)) {
            *found = keel_buf_steal(&p);
            rc = *found ? 0 : KEEL_ENOMEM;
            break;
        }
    }
    keel_buf_free(&p);
    keel__rw_strv_free(&dirs);
    return rc;
}

/* KillFilter._program(pid): the executable of a process, or NULL. */
static int kill_program(const char *pid, const filter_t *f, match_ctx_t *c, char **out)
{
    *out = NULL;
    keel__py_int_t v;
    keel__py_parse_int(pid, strlen(pid), &v);
    if (v.status != KEEL__PY_INT_OK || v.saturated)
        return 0; /* ValueError, or a number no /proc entry has */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/%lld/exe", (long long)v.value);
    char target[PATH_MAX + 16];
    ssize_t tl = readlink(proc, target, sizeof(target) - 1);
    if (tl < 0)
        return 0;
    target[tl] = '\0'; /* also command.partition('\0')[0] */
    size_t len = strlen(target);
    static const char deleted[] = " (deleted)";
    if (len >= sizeof(deleted) - 1 && strcmp(target + len - (sizeof(deleted) - 1), deleted) == 0)
        target[len - (sizeof(deleted) - 1)] = '\0';
    if (is_file(target)) {
        *out = keel__strdup(target);
        return *out ? 0 : KEEL_ENOMEM;
    }
    /* The executable was renamed or removed: look at /proc/PID/cmdline. */
    snprintf(proc, sizeof(proc), "/proc/%lld/cmdline", (long long)v.value);
    keel_buf_t cmd;
    keel_buf_init(&cmd);
    bool bad_utf8 = false;
    int rc = read_text(proc, &cmd, &bad_utf8);
    if (rc == KEEL_ENOMEM) {
        keel_buf_free(&cmd);
        return rc;
    }
    if (rc != 0) {
        keel_buf_free(&cmd);
        return 0; /* EnvironmentError: None */
    }
    if (bad_utf8) {
        keel_buf_free(&cmd);
        return fail(c, f, "/proc/PID/cmdline is not UTF-8 (UnicodeDecodeError)");
    }
    char *found = NULL;
    rc = which(cmd.base, c, &found);
    keel_buf_free(&cmd);
    if (rc != 0)
        return rc;
    if (!found)
        return fail(c, f, "shutil.which() found nothing and os.path.isfile(None) raises TypeError");
    if (is_file(found)) {
        *out = found;
    } else {
        keel__free(found);
        *out = keel__strdup(target);
        if (!*out)
            return KEEL_ENOMEM;
    }
    return 0;
}

static int kill_match(const filter_t *f, char *const *args, size_t n, match_ctx_t *c)
{
    if (n == 0 || strcmp(args[0], "kill") != 0)
        return 0;
    const char *pid;
    if (n == 3) {
        bool accepted = false;
        for (size_t i = 1; i < f->args.n && !accepted; i++)
            accepted = strcmp(f->args.v[i], args[1]) == 0;
        if (!accepted)
            return 0;
        pid = args[2];
    } else {
        if (n != 2)
            return 0;
        if (f->args.n > 1)
            return 0;
        pid = args[1];
    }
    char *command = NULL;
    int rc = kill_program(pid, f, c, &command);
    if (rc != 0)
        return rc;
    if (!command || !*command) {
        keel__free(command);
        return 0;
    }
    if (f->args.n == 0) {
        keel__free(command);
        return fail(c, f, "KillFilter has no executable to compare (IndexError)");
    }
    const char *kill_command = f->args.v[0];
    int result;
    if (is_abs(kill_command)) {
        result = strcmp(kill_command, command) == 0;
    } else {
        result = 0;
        if (is_abs(command) && strcmp(kill_command, base_name(command)) == 0) {
            /* os.path.dirname(command) in os.environ['PATH'].split(':') */
            const char *slash = strrchr(command, '/');
            size_t dlen = (size_t)(slash - command) + 1;
            bool all_slash = true;
            for (size_t i = 0; i < dlen && all_slash; i++)
                all_slash = command[i] == '/';
            if (!all_slash)
                while (dlen > 0 && command[dlen - 1] == '/')
                    dlen--;
            const char *path = keel__rw_getenv(c->envp, "PATH");
            if (!path)
                path = "";
            const char *p = path;
            for (;;) {
                const char *colon = strchr(p, ':');
                size_t plen = colon ? (size_t)(colon - p) : strlen(p);
                if (plen == dlen && memcmp(p, command, dlen) == 0) {
                    result = 1;
                    break;
                }
                if (!colon)
                    break;
                p = colon + 1;
            }
        }
    }
    keel__free(command);
    return result;
}

static int ip_match(const filter_t *f, char *const *args, size_t n, match_ctx_t *c)
{
    if (n == 0)
        return fail(c, f, "IpFilter.match() indexes an empty argument list (IndexError)");
    if (strcmp(args[0], "ip") != 0)
        return 0;
    for (size_t i = 1; i + 1 < n; i++) {
        if (in_list(args[i], NETNS_VARS, 3))
            return !in_list(args[i + 1], EXEC_VARS, 4);
    }
    return 1;
}

static int env_match(const filter_t *f, keel__rw_strv_t *ua, match_ctx_t *c)
{
    if (ua->n == 0)
        return fail(c, f, "EnvFilter.match() indexes an empty argument list (IndexError)");
    if (strcmp(ua->v[0], "env") == 0)
        keel__rw_strv_remove(ua, 0);
    if (ua->n < f->args.n)
        return 0;
    keel__rw_strv_t user_envs, filter_envs;
    keel__rw_strv_init(&user_envs);
    keel__rw_strv_init(&filter_envs);
    int rc = extract_env(ua->v, ua->n, &user_envs);
    if (rc == 0)
        rc = extract_env(f->args.v, f->args.n, &filter_envs);
    int result = 0;
    if (rc == 0) {
        size_t at = user_envs.n;
        char *const *user_command = ua->v + at;
        size_t ncmd = at < ua->n ? 1 : 0;
        result = command_match(f, user_command, ncmd) && filter_envs.n > 0 && same_set(&user_envs, &filter_envs);
    }
    keel__rw_strv_free(&user_envs);
    keel__rw_strv_free(&filter_envs);
    return rc ? rc : result;
}

/* f.match(userargs): 1, 0, or a negative error. ua may be changed (EnvFilter). */
static int filter_match(const filter_t *f, keel__rw_strv_t *ua, match_ctx_t *c)
{
    char *const *args = ua->v;
    size_t n = ua->n;
    switch (f->kind) {
    case K_COMMAND:
    case K_CHAINING:
        return command_match(f, args, n);
    case K_REGEXP:
        if (n == 0 || f->args.n != n)
            return 0;
        return patterns_match(f, args, n, c);
    case K_CHAINREGEXP:
        if (n == 0 || f->args.n > n)
            return 0;
        return patterns_match(f, args, n, c);
    case K_PATH:
        return path_match(f, args, n, c);
    case K_KILL:
        return kill_match(f, args, n, c);
    case K_READFILE:
        return n == 2 && strcmp(args[0], "cat") == 0 && strcmp(args[1], f->file_path) == 0;
    case K_IP:
        return ip_match(f, args, n, c);
    case K_ENV:
        return env_match(f, ua, c);
    case K_IPNETNS:
        if (strcmp(f->run_as, "root") != 0 || n < 4)
            return 0;
        return strcmp(args[0], "ip") == 0 && in_list(args[1], NETNS_VARS, 3) && in_list(args[2], EXEC_VARS, 4);
    default:
        return fail(c, f, f->poison ? f->poison : "not a filter");
    }
}

/* exec_args() of the chaining filters: the command they run. */
static int exec_args(const filter_t *f, const keel__rw_strv_t *ua, keel__rw_strv_t *out)
{
    size_t from;
    if (f->kind == K_IPNETNS)
        from = 4;
    else if (f->kind == K_CHAINREGEXP)
        from = f->args.n;
    else
        return 0; /* ChainingFilter: [] */
    for (size_t i = from; i < ua->n; i++) {
        const char *a = i == from ? base_name(ua->v[i]) : ua->v[i];
        int rc = keel__rw_strv_push(out, a);
        if (rc != 0)
            return rc;
    }
    return 0;
}

enum { M_FOUND, M_NOEXEC, M_NONE };

/*
 * match_filter(): returns 0 with *result M_* and *which the filter, or a
 * negative error. list is an array of filters (a subset when chaining).
 */
static int match_filter(filter_t *const *list, size_t n, keel__rw_strv_t *ua, match_ctx_t *c, int *result, const filter_t **which)
{
    const filter_t *first_not_exec = NULL;
    for (size_t i = 0; i < n; i++) {
        const filter_t *f = list[i];
        int m = filter_match(f, ua, c);
        if (m < 0)
            return m;
        if (!m)
            continue;
        if (is_chaining(f)) {
            /* Leaf filters: same run_as, not chaining. Reading run_as of a non-filter raises. */
            filter_t **leaves = keel__calloc(n ? n : 1, sizeof(*leaves));
            if (!leaves)
                return KEEL_ENOMEM;
            size_t nl = 0;
            for (size_t j = 0; j < n; j++) {
                if (list[j]->kind == K_POISON) {
                    keel__free(leaves);
                    return fail(c, list[j], "a chaining filter reads run_as of something that is not a filter");
                }
                if (strcmp(list[j]->run_as, f->run_as) == 0 && !is_chaining(list[j]))
                    leaves[nl++] = list[j];
            }
            keel__rw_strv_t sub;
            keel__rw_strv_init(&sub);
            int rc = exec_args(f, ua, &sub);
            int r = M_NONE;
            const filter_t *w = NULL;
            if (rc == 0 && sub.n > 0)
                rc = match_filter(leaves, nl, &sub, c, &r, &w);
            bool empty = sub.n == 0;
            keel__rw_strv_free(&sub);
            keel__free(leaves);
            if (rc != 0)
                return rc;
            if (empty || r != M_FOUND)
                continue;
        }
        char *exe = NULL;
        int rc = get_exec(f, c, &exe);
        if (rc != 0)
            return rc;
        if (!exe) {
            if (!first_not_exec)
                first_not_exec = f;
            continue;
        }
        keel__free(exe);
        *result = M_FOUND;
        *which = f;
        return 0;
    }
    if (first_not_exec) {
        *result = M_NOEXEC;
        *which = first_not_exec;
        return 0;
    }
    *result = M_NONE;
    *which = NULL;
    return 0;
}

/* get_command(userargs, exec_dirs) of the filter that matched. */
static int get_command(const filter_t *f, keel__rw_strv_t *ua, match_ctx_t *c, keel__rw_strv_t *cmd)
{
    char *exe = NULL;
    int rc = get_exec(f, c, &exe);
    if (rc != 0)
        return rc;
    rc = keel__rw_strv_push(cmd, exe ? exe : f->exec_path);
    keel__free(exe);
    if (rc != 0)
        return rc;
    if (f->kind == K_PATH) {
        size_t na = ua->n - 1;
        size_t k = f->args.n < na ? f->args.n : na;
        keel_buf_t rp;
        keel_buf_init(&rp);
        for (size_t i = 0; rc == 0 && i < k; i++) {
            if (is_abs(f->args.v[i])) {
                rc = rw_realpath(ua->v[i + 1], &rp, c);
                if (rc == 0)
                    rc = keel__rw_strv_push(cmd, rp.base);
            } else {
                rc = keel__rw_strv_push(cmd, ua->v[i + 1]);
            }
        }
        keel_buf_free(&rp);
        return rc;
    }
    size_t from = 1;
    if (f->kind == K_ENV) {
        /* exec_args(): drop a leading "env", then the NAME=VALUE arguments. */
        size_t i = 0;
        if (ua->n && strcmp(ua->v[0], "env") == 0)
            i = 1;
        while (i < ua->n && strchr(ua->v[i], '='))
            i++;
        from = i + 1;
    }
    for (size_t i = from; rc == 0 && i < ua->n; i++)
        rc = keel__rw_strv_push(cmd, ua->v[i]);
    return rc;
}

/* EnvFilter.get_environment(): os.environ.copy() plus the NAME=VALUE arguments. */
static int get_environment(keel__rw_strv_t *ua, match_ctx_t *c, keel__rw_strv_t *env)
{
    int rc = 0;
    /* os.environ: "NAME=value" entries, a later duplicate replacing the value in place. */
    for (char *const *e = c->envp; rc == 0 && e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t nlen = (size_t)(eq - *e);
        size_t j;
        for (j = 0; j < env->n; j++)
            if (strncmp(env->v[j], *e, nlen + 1) == 0)
                break;
        if (j < env->n) {
            char *copy = keel__strdup(*e);
            if (!copy)
                return KEEL_ENOMEM;
            keel__free(env->v[j]);
            env->v[j] = copy;
        } else {
            rc = keel__rw_strv_push(env, *e);
        }
    }
    if (rc != 0)
        return rc;
    if (ua->n && strcmp(ua->v[0], "env") == 0)
        keel__rw_strv_remove(ua, 0);
    for (size_t i = 0; i < ua->n; i++) {
        const char *a = ua->v[i];
        const char *eq = strchr(a, '=');
        if (!eq)
            break;
        size_t nlen = (size_t)(eq - a);
        if (nlen == 0 || eq[1] == '\0')
            continue;
        size_t j;
        for (j = 0; j < env->n; j++)
            if (strncmp(env->v[j], a, nlen + 1) == 0)
                break;
        if (j < env->n) {
            char *copy = keel__strdup(a);
            if (!copy)
                return KEEL_ENOMEM;
            keel__free(env->v[j]);
            env->v[j] = copy;
        } else if ((rc = keel__rw_strv_push(env, a)) != 0) {
            return rc;
        }
    }
    return 0;
}

void keel_rootwrap_match_free(keel_rootwrap_match_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->argv && m->argv[i]; i++)
        keel__free(m->argv[i]);
    keel__free(m->argv);
    for (size_t i = 0; m->envp && m->envp[i]; i++)
        keel__free(m->envp[i]);
    keel__free(m->envp);
    for (size_t i = 0; m->userargs && m->userargs[i]; i++)
        keel__free(m->userargs[i]);
    keel__free(m->userargs);
    memset(m, 0, sizeof(*m));
}

int keel_rootwrap_match(const keel_rootwrap_filters_t *fs, char *const *exec_dirs, size_t n_exec_dirs, char *const *envp,
                        char *const *userargs, size_t n, keel_rootwrap_match_t *out, keel_buf_t *why)
{
    memset(out, 0, sizeof(*out));
    match_ctx_t c = {exec_dirs, n_exec_dirs, envp ? envp : keel__rw_environ(), why};
    keel__rw_strv_t ua, cmd, env;
    keel__rw_strv_init(&ua);
    keel__rw_strv_init(&cmd);
    keel__rw_strv_init(&env);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = keel__rw_strv_push(&ua, userargs[i]);
    int result = M_NONE;
    const filter_t *f = NULL;
    if (rc == 0)
        rc = match_filter(fs->items, fs->n, &ua, &c, &result, &f);
    if (rc != 0)
        goto fail;
    if (result == M_FOUND) {
        out->decision = KEEL_ROOTWRAP_ALLOWED;
        rc = get_command(f, &ua, &c, &cmd);
        if (rc == 0 && f->kind == K_ENV)
            rc = get_environment(&ua, &c, &env);
        if (rc != 0)
            goto fail;
        out->argv = keel__rw_strv_steal(&cmd, &out->argc);
        if (f->kind == K_ENV) {
            size_t ne;
            out->envp = keel__rw_strv_steal(&env, &ne);
        }
    } else {
        out->decision = result == M_NOEXEC ? KEEL_ROOTWRAP_NOT_EXECUTABLE : KEEL_ROOTWRAP_UNAUTHORIZED;
    }
    if (f) {
        out->filter_name = f->name;
        out->filter_class = kind_names[f->kind];
        out->exec_path = f->exec_path;
        out->run_as = f->run_as;
    }
    out->userargs = keel__rw_strv_steal(&ua, &out->n_userargs);
    if ((result == M_FOUND && !out->argv) || (f && f->kind == K_ENV && result == M_FOUND && !out->envp) || !out->userargs) {
        rc = KEEL_ENOMEM;
        goto fail;
    }
    return 0;
fail:
    keel_rootwrap_match_free(out);
    keel__rw_strv_free(&ua);
    keel__rw_strv_free(&cmd);
    keel__rw_strv_free(&env);
    return rc;
}

int keel_rootwrap_refusal_message(const keel_rootwrap_match_t *m, keel_buf_t *out)
{
    int rc;
    if (m->decision == KEEL_ROOTWRAP_NOT_EXECUTABLE) {
        rc = keel_buf_puts(out, "Executable not found: ");
        if (rc == 0)
            rc = keel__py_put_escaped(out, m->exec_path, strlen(m->exec_path));
        if (rc == 0)
            rc = keel_buf_puts(out, " (filter match = ");
        if (rc == 0)
            rc = keel__py_put_escaped(out, m->filter_name, strlen(m->filter_name));
        return rc ? rc : keel_buf_puts(out, ")");
    }
    if (m->decision != KEEL_ROOTWRAP_UNAUTHORIZED)
        return KEEL_EINVAL;
    rc = keel_buf_puts(out, "Unauthorized command: ");
    for (size_t i = 0; rc == 0 && i < m->n_userargs; i++) {
        if (i)
            rc = keel_buf_putc(out, ' ');
        if (rc == 0)
            rc = keel__py_put_escaped(out, m->userargs[i], strlen(m->userargs[i]));
    }
    return rc ? rc : keel_buf_puts(out, " (no filter matched)");
}
