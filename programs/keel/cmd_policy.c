/*
 * cmd_policy.c — `keel policy`: the policy module from the command line.
 *
 *   keel policy check --policy FILE --access TOKEN.json [--target T.json] [--rule R] [--is_admin]
 *                     [--enforcer_config svc.conf]
 *   keel policy check --policy FILE --batch [--defaults D.yaml ...] [--policy-dir DIR ...]
 *                     [--enforce-scope] [--enforce-new-defaults] [--default-rule NAME]
 *                     [--config-file keel.conf]
 *   keel policy show --policy FILE [--defaults D.yaml ...]
 *   keel policy explain --policy FILE --rule R [--access TOKEN.json | --credentials C.json] [--target T.json]
 *   keel policy lint --policy FILE [--defaults D.yaml ...]
 *   keel policy convert --policy-file F.json [--defaults D.yaml ...] [--output-file OUT]
 *   keel policy sample --defaults D.yaml ... [--output-file OUT] [--exclude-deprecated]
 *
 * `check` without --batch is oslopolicy-checker: the access file is a
 * Keystone token ({"token": {...}}) turned into credentials the way the
 * checker does, and every rule whose name has a ':' (or just --rule) is
 * called directly, printing "passed: NAME" or "failed: NAME". With --batch
 * it reads JSON lines {"rule", "target", "credentials"} and prints one
 * {"allowed": true|false} per line, deciding as Enforcer.enforce() does;
 * a request oslo.policy would raise on adds "error". Defaults files (for
 * lint, convert and sample) describe rules registered in code as data:
 * {"namespace": N, "rules": [{"name", "check_str", "description",
 * "operations", "scope_types", "deprecated_rule", ...}]}.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "keel/conf.h"
#include "keel/policy.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("keel policy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* ---- arguments --------------------------------------------------------- */

typedef struct {
    const char *name; /* "--policy" */
    bool flag;
    bool multi;
    const char *value;
    bool set;
    const char *values[32];
    size_t nvalues;
} arg_t;

/* Accepts --name VALUE and --name=VALUE; returns 0 or prints usage error. */
static int parse_args(int argc, char **argv, arg_t *args, size_t nargs)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        arg_t *hit = NULL;
        for (size_t k = 0; k < nargs; k++)
            if (strlen(args[k].name) == nl && strncmp(args[k].name, a, nl) == 0)
                hit = &args[k];
        if (hit == NULL)
            return fail("%s: unknown argument %s", argv[0], a);
        hit->set = true;
        if (hit->flag) {
            if (eq)
                return fail("%s: %s takes no value", argv[0], hit->name);
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL)
            return fail("%s: %s needs a value", argv[0], hit->name);
        if (hit->multi) {
            if (hit->nvalues == sizeof(hit->values) / sizeof(hit->values[0]))
                return fail("%s: too many %s", argv[0], hit->name);
            hit->values[hit->nvalues++] = v;
        }
        hit->value = v;
    }
    return 0;
}

static json_t *load_json_file(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (j == NULL)
        fail("%s:%d: %s", path, err.line, err.text);
    return j;
}

/* ---- defaults files ---------------------------------------------------- */

/*
 * A defaults file describes rules registered in code: {"namespace": N,
 * "rules": [...]}, a list of those, or a bare list of rules (the namespace
 * is then the file name). JSON or YAML. The rows point into the documents,
 * which stay loaded until defaults_free().
 */
typedef struct {
    json_t *docs;
    const char **names;
    keel_policy_default_t **rows;
    size_t *counts;
    size_t n;
    keel_vec_t owned;
} defaults_t;

static void defaults_free(defaults_t *d)
{
    for (size_t i = 0; i < d->owned.len; i++)
        free(d->owned.items[i]);
    keel_vec_free(&d->owned);
    for (size_t i = 0; i < d->n; i++)
        free(d->rows[i]);
    free(d->rows);
    free(d->names);
    free(d->counts);
    json_decref(d->docs);
}

static void *own(defaults_t *d, void *p)
{
    if (p && keel_vec_push(&d->owned, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int load_row(defaults_t *d, const json_t *r, keel_policy_default_t *row, const char *file)
{
    memset(row, 0, sizeof(*row));
    row->name = jstr(r, "name");
    row->check_str = jstr(r, "check_str");
    if (row->name == NULL || row->check_str == NULL)
        return fail("%s: every rule needs a name and a check_str", file);
    row->description = jstr(r, "description");
    row->deprecated_for_removal = json_is_true(json_object_get(r, "deprecated_for_removal"));
    row->deprecated_reason = jstr(r, "deprecated_reason");
    row->deprecated_since = jstr(r, "deprecated_since");
    const json_t *ops = json_object_get(r, "operations");
    if (ops) {
        row->documented = true;
        row->n_operations = json_array_size(ops);
        keel_policy_operation_t *o = own(d, calloc(row->n_operations + 1, sizeof(*o)));
        if (o == NULL)
            return fail("out of memory");
        for (size_t i = 0; i < row->n_operations; i++) {
            o[i].path = jstr(json_array_get(ops, i), "path");
            o[i].method = jstr(json_array_get(ops, i), "method");
        }
        row->operations = o;
    }
    const json_t *sc = json_object_get(r, "scope_types");
    if (json_is_array(sc)) {
        const char **list = own(d, calloc(json_array_size(sc) + 1, sizeof(char *)));
        if (list == NULL)
            return fail("out of memory");
        for (size_t i = 0; i < json_array_size(sc); i++)
            list[i] = json_string_value(json_array_get(sc, i));
        row->scope_types = list;
    }
    const json_t *dep = json_object_get(r, "deprecated_rule");
    if (json_is_object(dep)) {
        keel_policy_deprecated_rule_t *dr = own(d, calloc(1, sizeof(*dr)));
        if (dr == NULL)
            return fail("out of memory");
        dr->name = jstr(dep, "name");
        dr->check_str = jstr(dep, "check_str");
        dr->deprecated_reason = jstr(dep, "deprecated_reason");
        dr->deprecated_since = jstr(dep, "deprecated_since");
        row->deprecated_rule = dr;
    }
    return 0;
}

static int add_namespace(defaults_t *d, const char *ns, const json_t *rules, const char *file)
{
    if (!json_is_array(rules))
        return fail("%s: \"rules\" must be a list", file);
    const char **names = realloc(d->names, (d->n + 1) * sizeof(*names));
    if (names)
        d->names = names;
    keel_policy_default_t **rows = realloc(d->rows, (d->n + 1) * sizeof(*rows));
    if (rows)
        d->rows = rows;
    size_t *counts = realloc(d->counts, (d->n + 1) * sizeof(*counts));
    if (counts)
        d->counts = counts;
    if (!names || !rows || !counts)
        return fail("out of memory");
    size_t n = json_array_size(rules);
    d->rows[d->n] = calloc(n + 1, sizeof(keel_policy_default_t));
    if (d->rows[d->n] == NULL)
        return fail("out of memory");
    d->names[d->n] = ns;
    d->counts[d->n] = n;
    d->n++;
    for (size_t i = 0; i < n; i++)
        if (load_row(d, json_array_get(rules, i), &d->rows[d->n - 1][i], file) != 0)
            return 2;
    return 0;
}

static int load_defaults(defaults_t *d, const char *const *files, size_t nfiles)
{
    memset(d, 0, sizeof(*d));
    keel_vec_init(&d->owned);
    d->docs = json_array();
    for (size_t f = 0; f < nfiles; f++) {
        keel_buf_t data, err;
        keel_buf_init(&data);
        keel_buf_init(&err);
        int rc = keel_read_file(files[f], &data);
        if (rc != 0) {
            keel_buf_free(&data);
            return fail("%s: %s", files[f], keel_strerror(rc));
        }
        /* A bare list is not a policy document: wrap it before parsing. */
        json_t *doc = json_loadb(data.base ? data.base : "", data.len, JSON_DECODE_ANY, NULL);
        if (doc == NULL) {
            rc = keel_policy_parse_document(data.base ? data.base : "", data.len, &doc, &err);
            if (rc != 0) {
                fail("%s: %s", files[f], err.base ? err.base : keel_strerror(rc));
                keel_buf_free(&data);
                keel_buf_free(&err);
                return 2;
            }
        }
        keel_buf_free(&data);
        keel_buf_free(&err);
        json_array_append_new(d->docs, doc);
        const char *base = strrchr(files[f], '/') ? strrchr(files[f], '/') + 1 : files[f];
        if (json_is_object(doc)) {
            const char *ns = jstr(doc, "namespace");
            rc = add_namespace(d, ns ? ns : base, json_object_get(doc, "rules"), files[f]);
        } else if (json_is_array(doc) && json_array_size(doc) > 0 && json_object_get(json_array_get(doc, 0), "rules")) {
            size_t i;
            json_t *x;
            json_array_foreach(doc, i, x)
            {
                const char *ns = jstr(x, "namespace");
                if (rc == 0)
                    rc = add_namespace(d, ns ? ns : base, json_object_get(x, "rules"), files[f]);
            }
        } else {
            rc = add_namespace(d, base, doc, files[f]);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int register_all(keel_policy_enforcer_t *e, const defaults_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        int rc = keel_policy_register_defaults(e, d->rows[i], d->counts[i]);
        if (rc != 0)
            return fail("%s", keel_policy_last_error(e));
    }
    return 0;
}

/* ---- opening a policy ---------------------------------------------------- */

typedef struct {
    const char *default_rule;
    const char *const *policy_dirs; /* NULL: none (or the config file's) */
    bool enforce_scope, enforce_new_defaults;
    const defaults_t *defaults;
    bool allow_missing;
    const char *config_file; /* [oslo_policy] options from here */
    bool only_file;          /* no policy_dirs even if the config names some */
} open_opts_t;

/* The config file's values must outlive the enforcer: one per process. */
static keel_conf_t *g_conf;
static keel_policy_opts_storage_t g_storage;

static void conf_release(void)
{
    if (g_conf) {
        keel_policy_opts_storage_free(&g_storage);
        keel_conf_free(g_conf);
        g_conf = NULL;
    }
}

static int opts_from_config_file(const char *path, keel_policy_opts_t *o)
{
    static const char *const none[] = {NULL};
    char *argv[] = {"keel-policy", "--config-file", (char *)path, NULL};
    keel_conf_setup_t setup = {.prog = "keel-policy", .default_config_files = none, .default_config_dirs = none};
    int rc = keel_conf_new(&g_conf);
    if (rc == 0)
        rc = keel_policy_register_opts(g_conf);
    if (rc == 0)
        rc = keel_conf_parse(g_conf, 3, argv, &setup);
    if (rc != 0)
        return fail("%s", g_conf ? keel_conf_error(g_conf) : keel_strerror(rc));
    rc = keel_policy_opts_from_conf(g_conf, NULL, o, &g_storage);
    return rc == 0 ? 0 : fail("%s: %s", path, keel_strerror(rc));
}

static keel_policy_enforcer_t *open_policy_with(const char *path, const open_opts_t *oo)
{
    keel_policy_opts_t o;
    static const char *const no_dirs[] = {NULL};
    keel_policy_opts_init(&o);
    if (oo->config_file && opts_from_config_file(oo->config_file, &o) != 0)
        return NULL;
    if (path)
        o.policy_file = path;
    if (oo->policy_dirs && oo->policy_dirs[0])
        o.policy_dirs = oo->policy_dirs;
    else if (!oo->config_file || oo->only_file)
        o.policy_dirs = no_dirs;
    if (oo->default_rule)
        o.policy_default_rule = oo->default_rule;
    o.enforce_scope |= oo->enforce_scope;
    o.enforce_new_defaults |= oo->enforce_new_defaults;
    keel_policy_enforcer_t *e;
    if (keel_policy_enforcer_new(&e, &o) != 0) {
        fail("out of memory");
        return NULL;
    }
    if (oo->defaults && register_all(e, oo->defaults) != 0) {
        keel_policy_enforcer_free(e);
        return NULL;
    }
    if (path && access(path, R_OK) != 0 && !oo->allow_missing) {
        fail("%s: %s", path, strerror(errno));
        keel_policy_enforcer_free(e);
        return NULL;
    }
    int rc = keel_policy_load_rules(e, true);
    if (rc != 0) {
        const char *msg = keel_policy_last_error(e);
        fail("%s: %s", path ? path : "policy", msg[0] ? msg : keel_strerror(rc));
        keel_policy_enforcer_free(e);
        return NULL;
    }
    return e;
}

static keel_policy_enforcer_t *open_policy(const char *path, const char *default_rule)
{
    open_opts_t oo = {.default_rule = default_rule};
    return open_policy_with(path, &oo);
}

/* Python truthiness of a JSON value. */
static bool truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_TRUE:
        return true;
    default:
        return false;
    }
}

/* shell.tool(): a Keystone token as the checker turns it into credentials. */
static json_t *token_to_creds(const json_t *access, bool is_admin)
{
    json_t *tok = json_object_get(access, "token");
    if (!json_is_object(tok)) {
        fail("the access file has no \"token\" object");
        return NULL;
    }
    json_t *c = json_deep_copy(tok);
    json_t *roles = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(tok, "roles"), i, r)
    {
        json_t *nm = json_object_get(r, "name");
        json_array_append(roles, nm ? nm : json_null());
    }
    json_object_set_new(c, "roles", roles);
    json_t *user = json_object_get(tok, "user");
    json_t *uid = json_object_get(user, "id");
    if (uid == NULL) {
        json_decref(c);
        fail("the token has no user id");
        return NULL;
    }
    json_object_set(c, "user_id", uid);
    json_t *project = json_object_get(tok, "project");
    if (project && truthy(project)) {
        json_t *pid = json_object_get(project, "id");
        if (pid == NULL) {
            json_decref(c);
            fail("the token's project has no id");
            return NULL;
        }
        json_object_set(c, "project_id", pid);
    }
    json_t *sys = json_object_get(tok, "system");
    if (sys && truthy(sys))
        json_object_set_new(c, "system_scope", json_string("all"));
    json_object_set_new(c, "is_admin", json_boolean(is_admin));
    return c;
}

/* shell.flatten(): nested objects become dotted keys. */
static void flatten_into(json_t *out, const json_t *d, const char *prefix)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)d, k, v)
    {
        char key[1024];
        snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_object(v))
            flatten_into(out, v, key);
        else
            json_object_set(out, key, v);
    }
}

static json_t *checker_target(const char *path, const json_t *creds)
{
    json_t *t = json_object();
    if (path) {
        json_t *raw = load_json_file(path);
        if (raw == NULL) {
            json_decref(t);
            return NULL;
        }
        if (json_is_object(raw))
            flatten_into(t, raw, "");
        json_decref(raw);
    } else {
        json_object_set(t, "user_id", json_object_get(creds, "user_id"));
        json_t *p = json_object_get(creds, "project_id");
        if (p)
            json_object_set(t, "project_id", p);
    }
    return t;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void try_rule(keel_policy_enforcer_t *e, const char *name, const json_t *target, const json_t *creds)
{
    keel_policy_result_t res = {0};
    int rc = keel_policy_check(e, name, target, creds, &res);
    if (rc == 0)
        printf("passed: %s\n", name);
    else if (rc == KEEL_EACCES)
        printf("failed: %s\n", name);
    else {
        keel_buf_t s;
        keel_buf_init(&s);
        const keel_policy_rule_t *r = keel_policy_get_rule(e, name);
        if (r)
            keel_policy_rule_str(r, &s);
        printf("%s\nexception: %s\n", res.message, s.base ? s.base : name);
        keel_buf_free(&s);
    }
}

/* ---- check ------------------------------------------------------------- */

static int emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL)
        return fail("out of memory");
    fputs(s, stdout);
    fputc('\n', stdout);
    free(s);
    return 0;
}

static int batch(keel_policy_enforcer_t *e)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n == 0 || (n == 1 && line[0] == '\n'))
            continue;
        json_error_t jerr;
        json_t *req = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &jerr);
        json_t *out = json_object();
        const char *rule = req ? json_string_value(json_object_get(req, "rule")) : NULL;
        json_t *target = req ? json_object_get(req, "target") : NULL;
        json_t *creds = req ? json_object_get(req, "credentials") : NULL;
        if (rule == NULL || !json_is_object(target) || !json_is_object(creds)) {
            json_object_set_new(out, "allowed", json_false());
            json_object_set_new(out, "error", json_string(req ? "a request needs rule, target and credentials" : jerr.text));
        } else {
            keel_policy_result_t res = {0};
            int rc = keel_policy_enforce(e, rule, target, creds, &res);
            json_object_set_new(out, "allowed", json_boolean(rc == 0));
            if (rc != 0 && rc != KEEL_EACCES)
                json_object_set_new(out, "error", json_string(res.message[0] ? res.message : keel_strerror(rc)));
        }
        json_decref(req);
        if (emit(out) != 0)
            break;
    }
    free(line);
    fflush(stdout);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    arg_t a[] = {{.name = "--policy"},
                 {.name = "--access"},
                 {.name = "--target"},
                 {.name = "--rule"},
                 {.name = "--is_admin", .flag = true},
                 {.name = "--batch", .flag = true},
                 {.name = "--enforcer_config"},
                 {.name = "--defaults", .multi = true},
                 {.name = "--policy-dir", .multi = true},
                 {.name = "--enforce-scope", .flag = true},
                 {.name = "--enforce-new-defaults", .flag = true},
                 {.name = "--default-rule"},
                 {.name = "--config-file"}};
    if (parse_args(argc, argv, a, sizeof(a) / sizeof(a[0])) != 0)
        return 2;
    if (!a[0].set)
        return fail("check: --policy is required");
    int status = 0;
    if (a[5].set) {
        /* Enforcer.enforce() semantics, with the enforcer's options. */
        defaults_t d = {0};
        keel_vec_init(&d.owned);
        if (a[7].nvalues && load_defaults(&d, a[7].values, a[7].nvalues) != 0) {
            defaults_free(&d);
            return 2;
        }
        const char *dirs[33] = {NULL};
        for (size_t i = 0; i < a[8].nvalues; i++)
            dirs[i] = a[8].values[i];
        open_opts_t oo = {.default_rule = a[11].value,
                          .policy_dirs = dirs,
                          .enforce_scope = a[9].set,
                          .enforce_new_defaults = a[10].set,
                          .defaults = &d,
                          .allow_missing = a[7].nvalues > 0,
                          .config_file = a[12].value};
        keel_policy_enforcer_t *e = open_policy_with(a[0].value, &oo);
        if (e == NULL) {
            defaults_free(&d);
            return 1;
        }
        status = batch(e);
        keel_policy_enforcer_free(e);
        defaults_free(&d);
        conf_release();
        return status;
    }
    /* oslopolicy-checker: --enforcer_config gives the [oslo_policy] options
     * (what http: checks use); the rules come from --policy alone. */
    open_opts_t oo = {.default_rule = "default", .config_file = a[6].value, .only_file = true};
    keel_policy_enforcer_t *e = open_policy_with(a[0].value, &oo);
    if (e == NULL)
        return 1;
    if (!a[1].set) {
        keel_policy_enforcer_free(e);
        return fail("check: --access is required (or --batch)");
    }
    json_t *access = load_json_file(a[1].value);
    json_t *creds = access ? token_to_creds(access, a[4].set) : NULL;
    json_t *target = creds ? checker_target(a[2].value, creds) : NULL;
    if (target == NULL) {
        status = 1;
    } else if (a[3].set) {
        try_rule(e, a[3].value, target, creds);
    } else {
        size_t n = keel_policy_rule_count(e), m = 0;
        const char **names = calloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; names && i < n; i++)
            if (strchr(keel_policy_rule_name(e, i), ':'))
                names[m++] = keel_policy_rule_name(e, i);
        if (names)
            qsort(names, m, sizeof(char *), name_cmp);
        for (size_t i = 0; names && i < m; i++)
            try_rule(e, names[i], target, creds);
        free(names);
    }
    json_decref(target);
    json_decref(creds);
    json_decref(access);
    keel_policy_enforcer_free(e);
    conf_release();
    return status;
}

/* ---- explain ----------------------------------------------------------- */

static int cmd_explain(int argc, char **argv)
{
    arg_t a[] = {{.name = "--policy"}, {.name = "--rule"}, {.name = "--access"}, {.name = "--credentials"}, {.name = "--target"}};
    if (parse_args(argc, argv, a, sizeof(a) / sizeof(a[0])) != 0)
        return 2;
    if (!a[0].set || !a[1].set || (!a[2].set && !a[3].set))
        return fail("explain: --policy, --rule and --access or --credentials are required");
    keel_policy_enforcer_t *e = open_policy(a[0].value, NULL);
    if (e == NULL)
        return 1;
    json_t *creds = NULL, *target = NULL;
    if (a[2].set) {
        json_t *access = load_json_file(a[2].value);
        creds = access ? token_to_creds(access, false) : NULL;
        json_decref(access);
    } else {
        creds = load_json_file(a[3].value);
    }
    if (creds && a[4].set)
        target = load_json_file(a[4].value);
    else if (creds)
        target = json_object();
    int status = 1;
    if (creds && target) {
        keel_buf_t tr;
        keel_buf_init(&tr);
        keel_policy_result_t res = {.trace = &tr};
        int rc = keel_policy_enforce(e, a[1].value, target, creds, &res);
        fputs(tr.base ? tr.base : "", stdout);
        if (rc == 0)
            printf("allowed\n");
        else if (rc == KEEL_EACCES)
            printf("denied: %s\n", res.message);
        else
            printf("error: %s\n", res.message[0] ? res.message : keel_strerror(rc));
        keel_buf_free(&tr);
        status = rc == 0 ? 0 : rc == KEEL_EACCES ? 1 : 2;
    }
    json_decref(creds);
    json_decref(target);
    keel_policy_enforcer_free(e);
    return status;
}

/* ---- show ---------------------------------------------------------------- */

static int cmd_show(int argc, char **argv)
{
    arg_t a[] = {{.name = "--policy"}, {.name = "--defaults", .multi = true}};
    if (parse_args(argc, argv, a, sizeof(a) / sizeof(a[0])) != 0)
        return 2;
    if (!a[0].set)
        return fail("show: --policy is required");
    defaults_t d = {0};
    keel_vec_init(&d.owned);
    if (a[1].nvalues && load_defaults(&d, a[1].values, a[1].nvalues) != 0) {
        defaults_free(&d);
        return 2;
    }
    open_opts_t oo = {.defaults = &d, .allow_missing = a[1].nvalues > 0};
    keel_policy_enforcer_t *e = open_policy_with(a[0].value, &oo);
    int status = 1;
    if (e) {
        keel_buf_t out;
        keel_buf_init(&out);
        if (keel_policy_rules_str(e, &out) == 0) {
            puts(out.base ? out.base : "");
            status = 0;
        }
        keel_buf_free(&out);
    }
    keel_policy_enforcer_free(e);
    defaults_free(&d);
    return status;
}

/* ---- lint -------------------------------------------------------------- */

static void print_finding(void *data, const char *name, const char *kind, const char *detail)
{
    int *count = data;
    (*count)++;
    printf("%s: %s: %s\n", name, kind, detail);
}

static int cmd_lint(int argc, char **argv)
{
    arg_t a[] = {{.name = "--policy"}, {.name = "--defaults", .multi = true}, {.name = "--config-file"}};
    if (parse_args(argc, argv, a, sizeof(a) / sizeof(a[0])) != 0)
        return 2;
    if (!a[0].set)
        return fail("lint: --policy is required");
    defaults_t d = {0};
    keel_vec_init(&d.owned);
    if (a[1].nvalues && load_defaults(&d, a[1].values, a[1].nvalues) != 0) {
        defaults_free(&d);
        return 2;
    }
    open_opts_t oo = {.defaults = &d, .allow_missing = a[1].nvalues > 0, .config_file = a[2].value};
    keel_policy_enforcer_t *e = open_policy_with(a[0].value, &oo);
    int status = 2;
    if (e) {
        int count = 0;
        int rc = keel_policy_lint(e, print_finding, &count);
        if (rc == 0 || rc == KEEL_EVALUE) {
            printf("%d finding%s in %zu rules\n", count, count == 1 ? "" : "s", keel_policy_rule_count(e));
            status = count ? 1 : 0;
        } else {
            fail("lint: %s", keel_strerror(rc));
        }
    }
    keel_policy_enforcer_free(e);
    defaults_free(&d);
    conf_release();
    return status;
}

/* ---- sample, convert ----------------------------------------------------- */

static FILE *open_output(const char *path)
{
    if (path == NULL)
        return stdout;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fail("%s: %s", path, strerror(errno));
    return f;
}

static int cmd_sample(int argc, char **argv)
{
    arg_t a[] = {{.name = "--defaults", .multi = true}, {.name = "--output-file"}, {.name = "--exclude-deprecated", .flag = true}};
    if (parse_args(argc, argv, a, sizeof(a) / sizeof(a[0])) != 0)
        return 2;
    if (!a[0].nvalues)
        return fail("sample: at least one --defaults file is required");
    defaults_t d = {0};
    keel_vec_init(&d.owned);
    int status = 2;
    if (load_defaults(&d, a[0].values, a[0].nvalues) == 0) {
        /* Registering checks the rows as oslo.policy's constructors would. */
        keel_policy_enforcer_t *e;
        if (keel_policy_enforcer_new(&e, NULL) == 0 && register_all(e, &d) == 0) {
            FILE *f = open_output(a[1].value);
            int rc = f ? keel_policy_write_sample(f, d.names, (const keel_policy_default_t *const *)d.rows, d.counts, d.n, a[2].set)
                       : KEEL_EIO;
            if (f && f != stdout)
                fclose(f);
            status = rc == 0 ? 0 : (f ? fail("sample: %s", keel_strerror(rc)) : 2);
        }
        keel_policy_enforcer_free(e);
    }
    defaults_free(&d);
    return status;
}

static int cmd_convert(int argc, char **argv)
{
    arg_t a[] = {{.name = "--policy-file"}, {.name = "--defaults", .multi = true}, {.name = "--output-file"}};
    if (parse_args(argc, argv, a, sizeof(a) / sizeof(a[0])) != 0)
        return 2;
    if (!a[0].set)
        return fail("convert: --policy-file is required");
    defaults_t d = {0};
    keel_vec_init(&d.owned);
    if (a[1].nvalues && load_defaults(&d, a[1].values, a[1].nvalues) != 0) {
        defaults_free(&d);
        return 2;
    }
    keel_buf_t text;
    keel_buf_init(&text);
    int rc = keel_read_file(a[0].value, &text);
    int status = 2;
    if (rc != 0) {
        fail("%s: %s", a[0].value, keel_strerror(rc));
    } else {
        FILE *f = open_output(a[2].value);
        const char *why = NULL;
        rc = f ? keel_policy_convert_json_to_yaml(f, text.base ? text.base : "", text.len, d.names,
                                                  (const keel_policy_default_t *const *)d.rows, d.counts, d.n, &why)
               : KEEL_EIO;
        if (f && f != stdout)
            fclose(f);
        status = rc == 0 ? 0 : (f ? fail("%s: %s", a[0].value, why ? why : keel_strerror(rc)) : 2);
    }
    keel_buf_free(&text);
    defaults_free(&d);
    return status;
}

/* ---- dispatch ---------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: keel policy COMMAND [OPTIONS]\n\n"
          "commands:\n"
          "  check    decide rules for a token (oslopolicy-checker), or --batch JSON lines\n"
          "  explain  show the decision trace of one rule\n"
          "  show     print the rules in force as oslo.policy's str(Rules)\n"
          "  lint     undefined references, cycles, rules that never pass or always raise\n"
          "  convert  a JSON policy file to YAML (oslopolicy-convert-json-to-yaml)\n"
          "  sample   a sample policy file for registered defaults (oslopolicy-sample-generator)\n",
          f);
}

int keel_cmd_policy(int argc, char **argv)
{
    if (argc < 2 || argv[1] == NULL) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        usage(stdout);
        return 0;
    }
    char name[64];
    snprintf(name, sizeof(name), "keel policy %s", sub);
    argv[1] = name;
    if (strcmp(sub, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(sub, "explain") == 0)
        return cmd_explain(argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return cmd_show(argc - 1, argv + 1);
    if (strcmp(sub, "lint") == 0)
        return cmd_lint(argc - 1, argv + 1);
    if (strcmp(sub, "sample") == 0)
        return cmd_sample(argc - 1, argv + 1);
    if (strcmp(sub, "convert") == 0)
        return cmd_convert(argc - 1, argv + 1);
    fprintf(stderr, "keel policy: unknown command '%s'\n", sub);
    usage(stderr);
    return 2;
}
