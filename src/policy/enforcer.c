/*
 * enforcer.c — oslo.policy's Enforcer: where rules come from (the policy
 * file, policy_dirs, rules registered in code, deprecated defaults), the
 * scope check, enforce() and authorize(), and check_rules().
 *
 * Design: the enforcer holds three name-indexed sets — the rules in force,
 * the rules read from files (file_rules, needed by the deprecated-rule
 * logic) and the registered defaults — and mirrors Enforcer.load_rules()
 * step by step, including its mtime caches, so a deployment that relies on
 * policy.d overrides or on deprecated defaults gets the same rules. Unlike
 * oslo.policy, enforce() does not stat the policy file on every call: it
 * loads once, and the program calls keel_policy_load_rules() to pick up
 * changes (on SIGHUP or a timer), so decisions stay lock- and syscall-free.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_int.h"

typedef struct reg_s {
    char *name, *check_str, *description;
    bool documented;
    keel_policy_operation_t *ops;
    size_t nops;
    char **scopes; /* NULL = None; else NULL-terminated */
    bool has_dep;
    keel_policy_deprecated_rule_t dep;
    bool deprecated_for_removal;
    char *deprecated_reason, *deprecated_since;
    keel_policy_rule_t *check, *dep_check;
} reg_t;

typedef struct mtime_s {
    char *path;
    struct timespec mtime;
} mtime_t;

struct keel_policy_enforcer_s {
    keel_policy_opts_t opts;
    char *policy_file;
    char *policy_path;
    keel__pol_ruleset_t rules;
    keel__pol_ruleset_t file_rules;
    keel__pol_ruleset_t reg_index; /* name -> check; entry i is regs[i] */
    reg_t *regs;
    size_t nregs, capregs;
    mtime_t *files; /* _file_cache */
    size_t nfiles;
    mtime_t *dirs; /* _policy_dir_mtimes */
    size_t ndirs;
    bool use_conf, need_check_rule, loaded;
    bool informed_no_policy_file;
    keel_buf_t err;
};

static const char *const default_dirs[] = {"policy.d", NULL};

void keel_policy_opts_init(keel_policy_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->policy_file = "policy.json";
    o->policy_default_rule = "default";
    o->policy_dirs = default_dirs;
    o->remote_content_type = "application/x-www-form-urlencoded";
    o->remote_timeout = 60;
}

int keel_policy_enforcer_new(keel_policy_enforcer_t **out, const keel_policy_opts_t *opts)
{
    keel_policy_enforcer_t *e = keel__calloc(1, sizeof(*e));
    if (e == NULL)
        return KEEL_ENOMEM;
    if (opts)
        e->opts = *opts;
    else
        keel_policy_opts_init(&e->opts);
    keel__pol_ruleset_init(&e->rules);
    keel__pol_ruleset_init(&e->file_rules);
    keel__pol_ruleset_init(&e->reg_index);
    keel_buf_init(&e->err);
    e->use_conf = true;
    e->need_check_rule = true;
    int rc = keel__pol_ruleset_set_default(&e->rules, e->opts.policy_default_rule);
    if (rc == 0 && e->opts.policy_file) {
        e->policy_file = keel__strdup(e->opts.policy_file);
        if (e->policy_file == NULL)
            rc = KEEL_ENOMEM;
    }
    if (rc != 0) {
        keel_policy_enforcer_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static void reg_free(reg_t *r)
{
    keel__free(r->name);
    keel__free(r->check_str);
    keel__free(r->description);
    for (size_t i = 0; i < r->nops; i++) {
        keel__free((char *)r->ops[i].path);
        keel__free((char *)r->ops[i].method);
    }
    keel__free(r->ops);
    if (r->scopes)
        for (char **s = r->scopes; *s; s++)
            keel__free(*s);
    keel__free(r->scopes);
    keel__free((char *)r->dep.name);
    keel__free((char *)r->dep.check_str);
    keel__free((char *)r->dep.deprecated_reason);
    keel__free((char *)r->dep.deprecated_since);
    keel__free(r->deprecated_reason);
    keel__free(r->deprecated_since);
    keel_policy_rule_free(r->check);
    keel_policy_rule_free(r->dep_check);
}

void keel_policy_enforcer_free(keel_policy_enforcer_t *e)
{
    if (e == NULL)
        return;
    keel__pol_ruleset_free(&e->rules);
    keel__pol_ruleset_free(&e->file_rules);
    keel__pol_ruleset_free(&e->reg_index);
    for (size_t i = 0; i < e->nregs; i++)
        reg_free(&e->regs[i]);
    keel__free(e->regs);
    for (size_t i = 0; i < e->nfiles; i++)
        keel__free(e->files[i].path);
    keel__free(e->files);
    for (size_t i = 0; i < e->ndirs; i++)
        keel__free(e->dirs[i].path);
    keel__free(e->dirs);
    keel__free(e->policy_file);
    keel__free(e->policy_path);
    keel_buf_free(&e->err);
    keel__free(e);
}

int keel_policy_set_policy_file(keel_policy_enforcer_t *e, const char *path)
{
    char *p = keel__strdup(path);
    if (p == NULL)
        return KEEL_ENOMEM;
    keel__free(e->policy_file);
    e->policy_file = p;
    keel__free(e->policy_path);
    e->policy_path = NULL;
    return 0;
}

const char *keel_policy_last_error(const keel_policy_enforcer_t *e)
{
    return e->err.base ? e->err.base : "";
}

static int set_error(keel_policy_enforcer_t *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_error(keel_policy_enforcer_t *e, int rc, const char *fmt, ...)
{
    keel_buf_reset(&e->err);
    va_list ap;
    va_start(ap, fmt);
    keel_buf_vprintf(&e->err, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- registered defaults ----------------------------------------------- */

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = keel__strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

static int register_one(keel_policy_enforcer_t *e, const keel_policy_default_t *d)
{
    if (d->name == NULL || d->check_str == NULL)
        return set_error(e, KEEL_EINVAL, "a rule default needs a name and a check string");
    if (keel__pol_ruleset_find(&e->reg_index, d->name, strlen(d->name)) >= 0)
        return set_error(e, KEEL_EDUPLICATE, "Policy %s is already registered", d->name);
    if (d->deprecated_for_removal && (d->deprecated_reason == NULL || d->deprecated_since == NULL))
        return set_error(e, KEEL_EINVAL,
                         "%s deprecated without deprecated_reason or deprecated_since. Both must be supplied if "
                         "deprecating a policy",
                         d->name);
    if (d->scope_types)
        for (size_t i = 0; d->scope_types[i]; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(d->scope_types[i], d->scope_types[j]) == 0)
                    return set_error(e, KEEL_EINVAL, "scope_types must be a list of unique strings.");
    if (d->documented) {
        if (d->description == NULL || d->description[0] == '\0')
            return set_error(e, KEEL_EINVAL, "Invalid policy rule default: Description is required.");
        if (d->operations == NULL || d->n_operations == 0)
            return set_error(e, KEEL_EINVAL, "Invalid policy rule default: Operations list must not be empty.");
        for (size_t i = 0; i < d->n_operations; i++) {
            if (d->operations[i].path == NULL)
                return set_error(e, KEEL_EINVAL, "Invalid policy rule default: Operation must contain a path.");
            if (d->operations[i].method == NULL)
                return set_error(e, KEEL_EINVAL, "Invalid policy rule default: Operation must contain a method.");
        }
    }
    if (d->deprecated_rule && (d->deprecated_rule->name == NULL || d->deprecated_rule->check_str == NULL))
        return set_error(e, KEEL_EINVAL, "%s: a deprecated rule needs a name and a check string", d->name);
    if (e->nregs == e->capregs) {
        size_t nc = e->capregs ? e->capregs * 2 : 16;
        reg_t *r = keel__realloc(e->regs, nc * sizeof(*r));
        if (r == NULL)
            return KEEL_ENOMEM;
        e->regs = r;
        e->capregs = nc;
    }
    reg_t *r = &e->regs[e->nregs];
    memset(r, 0, sizeof(*r));
    bool oom = false;
    r->name = dup_or_null(d->name, &oom);
    r->check_str = dup_or_null(d->check_str, &oom);
    r->description = dup_or_null(d->description, &oom);
    r->documented = d->documented;
    r->deprecated_for_removal = d->deprecated_for_removal;
    r->deprecated_reason = dup_or_null(d->deprecated_reason, &oom);
    r->deprecated_since = dup_or_null(d->deprecated_since, &oom);
    if (d->n_operations && d->operations) {
        r->ops = keel__calloc(d->n_operations, sizeof(*r->ops));
        oom |= r->ops == NULL;
        for (size_t i = 0; r->ops && i < d->n_operations; i++) {
            r->ops[i].path = dup_or_null(d->operations[i].path, &oom);
            r->ops[i].method = dup_or_null(d->operations[i].method, &oom);
            r->nops++;
        }
    }
    if (d->scope_types) {
        size_t n = 0;
        while (d->scope_types[n])
            n++;
        r->scopes = keel__calloc(n + 1, sizeof(char *));
        oom |= r->scopes == NULL;
        for (size_t i = 0; r->scopes && i < n; i++)
            r->scopes[i] = dup_or_null(d->scope_types[i], &oom);
    }
    if (d->deprecated_rule) {
        r->has_dep = true;
        r->dep.name = dup_or_null(d->deprecated_rule->name, &oom);
        r->dep.check_str = dup_or_null(d->deprecated_rule->check_str, &oom);
        r->dep.deprecated_reason = dup_or_null(d->deprecated_rule->deprecated_reason, &oom);
        r->dep.deprecated_since = dup_or_null(d->deprecated_rule->deprecated_since, &oom);
    }
    int rc = oom ? KEEL_ENOMEM : 0;
    if (rc == 0)
        rc = keel_policy_rule_parse(d->check_str, strlen(d->check_str), &r->check);
    if (rc == 0 && r->has_dep)
        rc = keel_policy_rule_parse(r->dep.check_str, strlen(r->dep.check_str), &r->dep_check);
    if (rc == 0)
        rc = keel__pol_ruleset_set(&e->reg_index, r->name, strlen(r->name), r->check);
    if (rc != 0) {
        reg_free(r);
        return rc == KEEL_EINVAL ? set_error(e, rc, "%s: rule nested too deeply", d->name) : rc;
    }
    e->nregs++;
    return 0;
}

int keel_policy_register_defaults(keel_policy_enforcer_t *e, const keel_policy_default_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = register_one(e, &rows[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const reg_t *find_reg(const keel_policy_enforcer_t *e, const char *name)
{
    int32_t i = keel__pol_ruleset_find(&e->reg_index, name, strlen(name));
    return i < 0 ? NULL : &e->regs[i];
}

/* ---- files ------------------------------------------------------------- */

static bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static bool is_absolute(const char *p)
{
    return p[0] == '/';
}

/* oslo.config's find_file(): the first search directory that has name. */
static char *find_file(const keel_policy_enforcer_t *e, const char *name)
{
    if (is_absolute(name) || e->opts.search_dirs == NULL)
        return path_exists(name) ? keel__strdup(name) : NULL;
    for (const char *const *d = e->opts.search_dirs; *d; d++) {
        keel_buf_t b;
        keel_buf_init(&b);
        if (keel_buf_printf(&b, "%s%s%s", *d, (*d)[0] && (*d)[strlen(*d) - 1] == '/' ? "" : "/", name) != 0)
            return NULL;
        if (path_exists(b.base))
            return keel_buf_steal(&b);
        keel_buf_free(&b);
    }
    return NULL;
}

static int ts_cmp(struct timespec a, struct timespec b)
{
    if (a.tv_sec != b.tv_sec)
        return a.tv_sec < b.tv_sec ? -1 : 1;
    if (a.tv_nsec != b.tv_nsec)
        return a.tv_nsec < b.tv_nsec ? -1 : 1;
    return 0;
}

static mtime_t *cache_slot(mtime_t **arr, size_t *n, const char *path, bool create)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i].path, path) == 0)
            return &(*arr)[i];
    if (!create)
        return NULL;
    mtime_t *a = keel__realloc(*arr, (*n + 1) * sizeof(*a));
    if (a == NULL)
        return NULL;
    *arr = a;
    char *p = keel__strdup(path);
    if (p == NULL)
        return NULL;
    a[*n].path = p;
    a[*n].mtime = (struct timespec){0, 0};
    return &a[(*n)++];
}

static int read_error(keel_policy_enforcer_t *e, const char *path, int rc)
{
    return set_error(e, rc, "%s: %s", path, keel_strerror(rc));
}

/* Enforcer._load_policy_file(): returns 1 when the rules changed, 0 when the
 * file was unchanged, or an error. */
static int load_policy_file(keel_policy_enforcer_t *e, const char *path, bool force, bool overwrite)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return read_error(e, path, keel_from_errno(errno));
    mtime_t *slot = cache_slot(&e->files, &e->nfiles, path, true);
    if (slot == NULL)
        return KEEL_ENOMEM;
    bool reloaded = force || slot->mtime.tv_sec == 0 || ts_cmp(st.st_mtim, slot->mtime) > 0;
    if (!reloaded && e->rules.n > 0)
        return 0;
    keel_buf_t data;
    keel_buf_init(&data);
    int rc = keel_read_file(path, &data);
    if (rc != 0) {
        keel_buf_free(&data);
        return read_error(e, path, rc);
    }
    slot->mtime = st.st_mtim;
    json_t *doc = NULL;
    keel_buf_t why;
    keel_buf_init(&why);
    rc = keel__pol_parse_document(data.base ? data.base : "", data.len, &doc, &why);
    if (rc == 0) {
        keel__pol_ruleset_t tmp;
        keel__pol_ruleset_init(&tmp);
        rc = keel__pol_ruleset_load_doc(&tmp, doc, true, &why);
        if (rc == 0) {
            /* set_rules(rules, overwrite) and _record_file_rules(data, overwrite) */
            if (overwrite) {
                keel__pol_ruleset_clear(&e->rules);
                keel__pol_ruleset_clear(&e->file_rules);
            }
            for (size_t i = 0; i < tmp.n && rc == 0; i++) {
                const char *nm = tmp.entries[i].name;
                rc = keel__pol_ruleset_set(&e->rules, nm, strlen(nm), tmp.entries[i].rule);
                if (rc == 0)
                    rc = keel__pol_ruleset_set(&e->file_rules, nm, strlen(nm), tmp.entries[i].rule);
            }
            e->use_conf = true;
            e->need_check_rule = true;
        }
        keel__pol_ruleset_free(&tmp);
    }
    json_decref(doc);
    if (rc == KEEL_EPARSE || rc == KEEL_EINVAL)
        set_error(e, rc, "%s: %s", path, why.base ? why.base : "invalid policy");
    keel_buf_free(&why);
    keel_buf_free(&data);
    return rc == 0 ? 1 : rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files (not directories) of path, sorted, without dot-files. */
static int list_dir(keel_policy_enforcer_t *e, const char *path, keel_vec_t *out, struct timespec *newest)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return set_error(e, keel_from_errno(errno), "%s is not a directory", path);
    struct stat st;
    if (newest && stat(path, &st) == 0)
        *newest = st.st_mtim;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        keel_buf_t full;
        keel_buf_init(&full);
        if (keel_buf_printf(&full, "%s/%s", path, de->d_name) != 0) {
            rc = KEEL_ENOMEM;
            break;
        }
        bool isdir = stat(full.base, &st) == 0 && S_ISDIR(st.st_mode);
        if (newest && stat(full.base, &st) == 0 && ts_cmp(st.st_mtim, *newest) > 0)
            *newest = st.st_mtim;
        if (out && !isdir && de->d_name[0] != '.') {
            char *p = keel_buf_steal(&full);
            if (p == NULL || keel_vec_push(out, p) != 0) {
                keel__free(p);
                rc = KEEL_ENOMEM;
            }
        }
        keel_buf_free(&full);
    }
    closedir(d);
    if (out && rc == 0)
        qsort(out->items, out->len, sizeof(void *), name_cmp);
    return rc;
}

/* Enforcer._handle_deprecated_rule() */
static int deprecated_check(keel_policy_enforcer_t *e, const reg_t *r, keel_policy_rule_t **out)
{
    *out = NULL;
    const char *old = r->dep.name;
    bool new_in_files = keel__pol_ruleset_find(&e->file_rules, r->name, strlen(r->name)) >= 0;
    int32_t fi = keel__pol_ruleset_find(&e->file_rules, old, strlen(old));
    if (strcmp(old, r->name) != 0 && fi >= 0) {
        /* The operator overrode the old name: keep their rule under the new
         * name, unless it merely aliases the new rule. */
        keel_buf_t s, alias;
        keel_buf_init(&s);
        keel_buf_init(&alias);
        int rc = keel_policy_rule_str(e->file_rules.entries[fi].rule, &s);
        if (rc == 0)
            rc = keel_buf_printf(&alias, "rule:%s", r->name);
        bool differs = rc == 0 && strcmp(s.base ? s.base : "", alias.base) != 0;
        keel_buf_free(&s);
        keel_buf_free(&alias);
        if (rc != 0)
            return rc;
        if (differs && !new_in_files) {
            *out = keel__pol_rule_ref(e->file_rules.entries[fi].rule);
            return 0;
        }
    }
    if (!e->opts.enforce_new_defaults && strcmp(r->dep.check_str, r->check_str) != 0 && !new_in_files)
        return keel__pol_rule_or2(r->check, r->dep_check, out);
    *out = keel__pol_rule_ref(r->check);
    return 0;
}

static int add_registered(keel_policy_enforcer_t *e)
{
    for (size_t i = 0; i < e->nregs; i++) {
        const reg_t *r = &e->regs[i];
        if (keel__pol_ruleset_find(&e->rules, r->name, strlen(r->name)) >= 0)
            continue;
        keel_policy_rule_t *check;
        int rc;
        if (r->has_dep) {
            rc = deprecated_check(e, r, &check);
        } else {
            check = keel__pol_rule_ref(r->check);
            rc = 0;
        }
        if (rc == 0)
            rc = keel__pol_ruleset_set(&e->rules, r->name, strlen(r->name), check);
        keel_policy_rule_free(check);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int keel_policy_load_rules(keel_policy_enforcer_t *e, bool force)
{
    int rc = 0;
    if (force)
        e->use_conf = true;
    if (e->use_conf) {
        bool changed = false;
        if (e->policy_path == NULL && e->policy_file) {
            e->policy_path = find_file(e, e->policy_file);
            if (e->policy_path == NULL)
                e->informed_no_policy_file = true;
        }
        if (e->policy_path) {
            rc = load_policy_file(e, e->policy_path, force, true);
            if (rc < 0)
                return rc;
            changed = rc == 1;
        }
        bool force_dirs = force || changed;
        keel_vec_t existing;
        keel_vec_init(&existing);
        rc = 0;
        for (const char *const *d = e->opts.policy_dirs; d && *d && rc == 0; d++) {
            char *abs = find_file(e, *d);
            if (abs == NULL)
                continue;
            if (keel_vec_push(&existing, abs) != 0) {
                keel__free(abs);
                rc = KEEL_ENOMEM;
                break;
            }
            struct timespec newest = {0, 0};
            rc = list_dir(e, abs, NULL, &newest);
            if (rc != 0)
                break;
            mtime_t *slot = cache_slot(&e->dirs, &e->ndirs, abs, true);
            if (slot == NULL) {
                rc = KEEL_ENOMEM;
                break;
            }
            if (ts_cmp(newest, slot->mtime) > 0) {
                slot->mtime = newest;
                force_dirs = true;
            }
        }
        if (rc == 0 && force_dirs && existing.len > 0) {
            if (e->policy_path) {
                if (!changed) {
                    rc = load_policy_file(e, e->policy_path, true, true);
                    rc = rc < 0 ? rc : 0;
                }
            } else {
                keel__pol_ruleset_clear(&e->rules);
            }
            for (size_t i = 0; i < existing.len && rc == 0; i++) {
                keel_vec_t files;
                keel_vec_init(&files);
                rc = list_dir(e, existing.items[i], &files, NULL);
                for (size_t k = 0; k < files.len && rc == 0; k++) {
                    rc = load_policy_file(e, files.items[k], true, false);
                    rc = rc < 0 ? rc : 0;
                }
                for (size_t k = 0; k < files.len; k++)
                    keel__free(files.items[k]);
                keel_vec_free(&files);
            }
        }
        for (size_t i = 0; i < existing.len; i++)
            keel__free(existing.items[i]);
        keel_vec_free(&existing);
        if (rc != 0)
            return rc;
        rc = add_registered(e);
        if (rc != 0)
            return rc;
        if (e->need_check_rule) {
            /* oslo.policy logs these; keel's callers ask keel_policy_check_rules(). */
            e->need_check_rule = false;
        }
    }
    rc = keel__pol_ruleset_link(&e->rules);
    if (rc == 0)
        e->loaded = true;
    return rc;
}

static int set_rules_doc(keel_policy_enforcer_t *e, const json_t *doc, bool overwrite)
{
    keel_buf_t why;
    keel_buf_init(&why);
    int rc = keel__pol_ruleset_load_doc(&e->rules, doc, overwrite, &why);
    if (rc == KEEL_EINVAL || rc == KEEL_EPARSE)
        set_error(e, rc, "%s", why.base ? why.base : "invalid rules");
    keel_buf_free(&why);
    if (rc != 0)
        return rc;
    e->use_conf = false;
    e->need_check_rule = true;
    rc = keel__pol_ruleset_link(&e->rules);
    if (rc == 0)
        e->loaded = true;
    return rc;
}

int keel_policy_set_rules_text(keel_policy_enforcer_t *e, const char *data, size_t len, bool overwrite)
{
    json_t *doc = NULL;
    keel_buf_t why;
    keel_buf_init(&why);
    int rc = keel__pol_parse_document(data, len, &doc, &why);
    if (rc == KEEL_EPARSE)
        set_error(e, rc, "%s", why.base ? why.base : "invalid policy");
    keel_buf_free(&why);
    if (rc != 0)
        return rc;
    rc = set_rules_doc(e, doc, overwrite);
    json_decref(doc);
    return rc;
}

int keel_policy_set_rules_json(keel_policy_enforcer_t *e, const json_t *rules, bool overwrite)
{
    if (!json_is_object(rules))
        return set_error(e, KEEL_EINVAL, "Rules must be an instance of dict or Rules");
    return set_rules_doc(e, rules, overwrite);
}

/* ---- decisions --------------------------------------------------------- */

static void result_msg(keel_policy_result_t *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void result_msg(keel_policy_result_t *res, const char *fmt, ...)
{
    if (res == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

static void eval_init(keel_policy_enforcer_t *e, keel__eval_t *ev, const json_t *target, const json_t *creds,
                      keel_policy_result_t *res)
{
    /* Field by field: zeroing the whole struct was a visible cost. */
    ev->rs = &e->rules;
    ev->target = target;
    ev->creds = creds;
    ev->system = NULL;
    ev->current_rule = NULL;
    ev->opts = &e->opts;
    ev->trace = res ? res->trace : NULL;
    ev->depth = 0;
    ev->why = NULL;
    /* enforce(): creds['system'] = creds['system_scope'] when that is set. */
    const json_t *ss = json_is_object(creds) ? json_object_get(creds, "system_scope") : NULL;
    if (ss && keel__pol_truthy(ss))
        ev->system = ss;
}

static int ensure_loaded(keel_policy_enforcer_t *e)
{
    if (e->loaded && e->rules.linked)
        return 0;
    if (!e->loaded)
        return keel_policy_load_rules(e, false);
    return keel__pol_ruleset_link(&e->rules);
}

/* Enforcer._enforce_scope(); returns true when the scope is acceptable. */
static bool scope_ok(keel_policy_enforcer_t *e, const reg_t *r, const keel__eval_t *ev, keel_policy_result_t *res)
{
    const json_t *sys = ev->system ? ev->system : json_object_get(ev->creds, "system");
    const char *token_scope = "project";
    if (sys && keel__pol_truthy(sys))
        token_scope = "system";
    else {
        const json_t *dom = json_object_get(ev->creds, "domain_id");
        if (dom && keel__pol_truthy(dom))
            token_scope = "domain";
    }
    for (char **s = r->scopes; *s; s++)
        if (strcmp(*s, token_scope) == 0)
            return true;
    if (ev->trace)
        keel_buf_printf(ev->trace, "scope: the token is %s-scoped, %s wants %s%s\n", token_scope, r->name, r->scopes[0],
                        r->scopes[1] ? " (or another listed scope)" : "");
    if (!e->opts.enforce_scope)
        return true;
    if (res) {
        keel_buf_t b;
        keel_buf_init(&b);
        keel_buf_puts(&b, "[");
        for (char **s = r->scopes; *s; s++)
            keel_buf_printf(&b, "%s'%s'", s == r->scopes ? "" : ", ", *s);
        keel_buf_puts(&b, "]");
        result_msg(res, "\"%s\": \"%s\" requires a scope of %s, request was made with %s scope.", r->name, r->check_str,
                   b.base ? b.base : "[]", token_scope);
        res->invalid_scope = true;
        keel_buf_free(&b);
    }
    return false;
}

static int finish(int r, const keel__eval_t *ev, const char *what, keel_policy_result_t *res)
{
    if (r > 0)
        return 0;
    if (r == 0) {
        result_msg(res, "%s is disallowed by policy", what);
        return KEEL_EACCES;
    }
    if (r == KEEL_EVALUE)
        result_msg(res, "%s", ev->why ? ev->why : "a check raised");
    return r;
}

int keel_policy_enforce(keel_policy_enforcer_t *e, const char *rule, const json_t *target, const json_t *creds,
                        keel_policy_result_t *res)
{
    if (res) {
        res->message[0] = '\0';
        res->invalid_scope = false;
    }
    if (!json_is_object(creds)) {
        result_msg(res, "Invalid context object: the credentials must be a dict");
        return KEEL_EINVAL;
    }
    int rc = ensure_loaded(e);
    if (rc != 0) {
        result_msg(res, "%s", keel_policy_last_error(e));
        return rc;
    }
    keel__eval_t ev;
    eval_init(e, &ev, target, creds, res);
    ev.current_rule = rule;
    if (ev.trace)
        keel_buf_printf(ev.trace, "enforce %s\n", rule);
    if (e->rules.n == 0) {
        if (ev.trace)
            keel_buf_puts(ev.trace, "no rules are loaded -> false\n");
        return finish(0, &ev, rule, res);
    }
    int32_t idx = keel__pol_ruleset_lookup(&e->rules, rule, strlen(rule));
    if (idx < 0) {
        if (ev.trace)
            keel_buf_printf(ev.trace, "no rule %s and no default rule -> false\n", rule);
        return finish(0, &ev, rule, res);
    }
    const reg_t *reg = find_reg(e, rule);
    if (reg && reg->scopes && reg->scopes[0] && !scope_ok(e, reg, &ev, res)) {
        if (ev.trace)
            keel_buf_puts(ev.trace, "scope check failed -> false\n");
        if (res)
            return KEEL_EACCES;
        return KEEL_EACCES;
    }
    const keel__entry_t *en = &e->rules.entries[idx];
    if (ev.trace && strcmp(en->name, rule) != 0)
        keel_buf_printf(ev.trace, "no rule %s: using the default rule %s\n", rule, en->name);
    if (ev.trace) {
        keel_buf_printf(ev.trace, "rule %s = ", en->name);
        keel_policy_rule_str(en->rule, ev.trace);
        keel_buf_putc(ev.trace, '\n');
        ev.depth = 1;
    }
    int r = keel__pol_eval_rule(&ev, en->rule, en->resolved);
    if (ev.trace)
        keel_buf_printf(ev.trace, "%s -> %s\n", rule, r > 0 ? "allowed" : r == 0 ? "denied" : "error");
    return finish(r, &ev, rule, res);
}

int keel_policy_enforce_rule(keel_policy_enforcer_t *e, const keel_policy_rule_t *rule, const json_t *target, const json_t *creds,
                             keel_policy_result_t *res)
{
    if (res) {
        res->message[0] = '\0';
        res->invalid_scope = false;
    }
    int rc = ensure_loaded(e);
    if (rc != 0) {
        result_msg(res, "%s", keel_policy_last_error(e));
        return rc;
    }
    keel__eval_t ev;
    eval_init(e, &ev, target, creds, res);
    int r = keel__pol_eval_rule(&ev, rule, NULL);
    if (r == 0 && res) {
        keel_buf_t s;
        keel_buf_init(&s);
        keel_policy_rule_str(rule, &s);
        result_msg(res, "%s is disallowed by policy", s.base ? s.base : "");
        keel_buf_free(&s);
        return KEEL_EACCES;
    }
    return finish(r, &ev, "rule", res);
}

int keel_policy_authorize(keel_policy_enforcer_t *e, const char *rule, const json_t *target, const json_t *creds,
                          keel_policy_result_t *res)
{
    if (find_reg(e, rule) == NULL) {
        result_msg(res, "Policy %s has not been registered", rule);
        return KEEL_ENOENT;
    }
    return keel_policy_enforce(e, rule, target, creds, res);
}

int keel_policy_check(keel_policy_enforcer_t *e, const char *name, const json_t *target, const json_t *creds,
                      keel_policy_result_t *res)
{
    if (res) {
        res->message[0] = '\0';
        res->invalid_scope = false;
    }
    int rc = ensure_loaded(e);
    if (rc != 0) {
        result_msg(res, "%s", keel_policy_last_error(e));
        return rc;
    }
    int32_t idx = keel__pol_ruleset_lookup(&e->rules, name, strlen(name));
    if (idx < 0) {
        result_msg(res, "KeyError: '%s'", name);
        return KEEL_ENOENT;
    }
    keel__eval_t ev;
    eval_init(e, &ev, target, creds, res);
    ev.system = NULL; /* the checker calls the rule, not enforce() */
    ev.current_rule = name;
    const keel__entry_t *en = &e->rules.entries[idx];
    if (ev.trace) {
        keel_buf_printf(ev.trace, "rule %s = ", en->name);
        keel_policy_rule_str(en->rule, ev.trace);
        keel_buf_putc(ev.trace, '\n');
        ev.depth = 1;
    }
    return finish(keel__pol_eval_rule(&ev, en->rule, en->resolved), &ev, name, res);
}

/* ---- introspection ----------------------------------------------------- */

size_t keel_policy_rule_count(const keel_policy_enforcer_t *e)
{
    return e->rules.n;
}

const char *keel_policy_rule_name(const keel_policy_enforcer_t *e, size_t i)
{
    if (i >= e->rules.n)
        return NULL;
    const char *nm = e->rules.entries[i].name;
    return nm[0] == KEEL__POL_NONSTR_KEY ? nm + 1 : nm;
}

const keel_policy_rule_t *keel_policy_rule_at(const keel_policy_enforcer_t *e, size_t i)
{
    return i < e->rules.n ? e->rules.entries[i].rule : NULL;
}

const keel_policy_rule_t *keel_policy_get_rule(const keel_policy_enforcer_t *e, const char *name)
{
    int32_t i = keel__pol_ruleset_find(&e->rules, name, strlen(name));
    return i < 0 ? NULL : e->rules.entries[i].rule;
}

int keel_policy_rules_str(keel_policy_enforcer_t *e, keel_buf_t *out)
{
    int rc = ensure_loaded(e);
    if (rc != 0)
        return rc;
    json_t *obj = json_object();
    if (obj == NULL)
        return KEEL_ENOMEM;
    keel_buf_t s;
    keel_buf_init(&s);
    for (size_t i = 0; i < e->rules.n && rc == 0; i++) {
        const keel__entry_t *en = &e->rules.entries[i];
        keel_buf_reset(&s);
        if (en->rule->nodes[0].type != KEEL__CK_TRUE)
            rc = keel_policy_rule_str(en->rule, &s);
        const char *nm = en->name[0] == KEEL__POL_NONSTR_KEY ? en->name + 1 : en->name;
        if (rc == 0 && json_object_set_new_nocheck(obj, nm, json_stringn_nocheck(s.base ? s.base : "", s.len)) != 0)
            rc = KEEL_ENOMEM;
    }
    keel_buf_free(&s);
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, NULL, 0);
    if (rc == 0)
        rc = keel__pol_json_dumps(&b, obj, 4);
    if (rc == 0)
        rc = keel_buf_append(out, b.base ? b.base : "", b.len);
    keel__pol_sbuf_free(&b);
    json_decref(obj);
    return rc;
}

int keel_policy_parse_document(const char *data, size_t len, json_t **out, keel_buf_t *err)
{
    keel_buf_t tmp;
    keel_buf_init(&tmp);
    int rc = keel__pol_parse_document(data, len, out, err ? err : &tmp);
    keel_buf_free(&tmp);
    return rc;
}

/* _undefined_check: RuleCheck names not in the rules, through and/or only. */
static bool undefined_check(const keel__pol_ruleset_t *rs, const keel_policy_rule_t *r, uint32_t i)
{
    const keel__node_t *n = &r->nodes[i];
    if (n->type == KEEL__CK_RULE) {
        const char *nm = r->refs[r->leaves[n->leaf].ref];
        return keel__pol_ruleset_find(rs, nm, strlen(nm)) < 0;
    }
    if (n->type == KEEL__CK_AND || n->type == KEEL__CK_OR)
        for (uint32_t k = i + 1; k < n->end; k = r->nodes[k].end)
            if (undefined_check(rs, r, k))
                return true;
    return false;
}

typedef struct seen_s {
    const char **names;
    size_t n;
} seen_t;

static bool seen_has(const seen_t *s, const char *nm)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], nm) == 0)
            return true;
    return false;
}

/* _cycle_check: `seen` is shared down a rule reference and copied for each
 * child of an and/or, exactly as oslo.policy does. */
static int cycle_check(const keel__pol_ruleset_t *rs, const keel_policy_rule_t *r, uint32_t i, seen_t *seen, int depth)
{
    const keel__node_t *n = &r->nodes[i];
    if (depth > KEEL__MAX_EVAL_DEPTH)
        return 1;
    if (n->type == KEEL__CK_RULE) {
        const char *nm = r->refs[r->leaves[n->leaf].ref];
        if (seen_has(seen, nm))
            return 1;
        const char **grown = keel__realloc(seen->names, (seen->n + 1) * sizeof(char *));
        if (grown == NULL)
            return KEEL_ENOMEM;
        seen->names = grown;
        seen->names[seen->n++] = nm;
        int32_t t = keel__pol_ruleset_find(rs, nm, strlen(nm));
        if (t >= 0) {
            int c = cycle_check(rs, rs->entries[t].rule, 0, seen, depth + 1);
            if (c != 0)
                return c;
        }
    }
    if (n->type == KEEL__CK_AND || n->type == KEEL__CK_OR) {
        for (uint32_t k = i + 1; k < n->end; k = r->nodes[k].end) {
            seen_t copy = {keel__malloc((seen->n + 1) * sizeof(char *)), seen->n};
            if (copy.names == NULL)
                return KEEL_ENOMEM;
            memcpy(copy.names, seen->names, seen->n * sizeof(char *));
            int c = cycle_check(rs, r, k, &copy, depth + 1);
            keel__free(copy.names);
            if (c != 0)
                return c;
        }
    }
    return 0;
}

int keel_policy_check_rules(keel_policy_enforcer_t *e, keel_policy_finding_cb cb, void *data)
{
    int rc = ensure_loaded(e);
    if (rc != 0)
        return rc;
    bool violation = false;
    for (size_t i = 0; i < e->rules.n; i++) {
        const keel__entry_t *en = &e->rules.entries[i];
        if (undefined_check(&e->rules, en->rule, 0)) {
            violation = true;
            if (cb)
                cb(data, en->name, "undefined", "references a rule that is not defined");
        }
        seen_t seen = {0};
        int c = cycle_check(&e->rules, en->rule, 0, &seen, 0);
        keel__free(seen.names);
        if (c < 0)
            return c;
        if (c) {
            violation = true;
            if (cb)
                cb(data, en->name, "cycle", "is part of a cyclical reference");
        }
    }
    return violation ? KEEL_EVALUE : 0;
}

/* Registered defaults, for the sample and lint tools in this module. */
size_t keel__pol_enforcer_nregs(const keel_policy_enforcer_t *e);
size_t keel__pol_enforcer_nregs(const keel_policy_enforcer_t *e)
{
    return e->nregs;
}

int keel__pol_enforcer_ensure_loaded(keel_policy_enforcer_t *e);
int keel__pol_enforcer_ensure_loaded(keel_policy_enforcer_t *e)
{
    return ensure_loaded(e);
}

const keel__pol_ruleset_t *keel__pol_enforcer_rules(const keel_policy_enforcer_t *e);
const keel__pol_ruleset_t *keel__pol_enforcer_rules(const keel_policy_enforcer_t *e)
{
    return &e->rules;
}
