/*
 * conf.c — the option registry (groups, entries, overrides, hooks) and the
 * parse/reload entry points. Parsing itself is split by concern: files and
 * the namespace in namespace.c, the command line in argparse.c, values and
 * interpolation in resolve.c.
 *
 * Values are resolved eagerly at parse time, unlike oslo.config which
 * converts on first access: a C service learns about a bad value when it
 * starts, with the file and line, not in the middle of a request. Since a
 * parse either resolves everything or keeps the previous values, readers
 * never observe a half-parsed configuration.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"
#include "types.h"

/* Names oslo.config reserves in DEFAULT (ConfigOpts.disallow_names). */
static const char *const reserved_names[] = {"project", "prog", "version", "usage", "default_config_files", "default_config_dirs",
                                             NULL};
/* Options oslo.config registers itself in DEFAULT. */
static const char *const builtin_names[] = {"config_file", "config_dir", "config_source", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

int keel__conf_errorf(keel_conf_t *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_buf_reset(&c->error);
    if (keel_buf_vprintf(&c->error, fmt, ap) != 0)
        err = KEEL_ENOMEM;
    va_end(ap);
    return err;
}

static void default_warn(void *data, const char *message)
{
    fprintf(stderr, "WARNING keel.conf: %s\n", message);
}

void keel__conf_warnf(keel_conf_t *c, const char *fmt, ...)
{
    keel_buf_t b;
    keel_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    int rc = keel_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc == 0) {
        /* oslo emits each deprecation once per parse; so do we. */
        for (size_t i = 0; i < c->warned.len; i++)
            if (strcmp(c->warned.items[i], b.base) == 0)
                goto out;
        char *copy = keel__strdup(b.base);
        if (copy != NULL && keel_vec_push(&c->warned, copy) != 0)
            keel__free(copy);
        c->warn(c->warn_data, b.base);
    }
out:
    keel_buf_free(&b);
}

void keel_conf_set_warning_handler(keel_conf_t *c, keel_conf_warn_cb cb, void *data)
{
    c->warn = cb ? cb : default_warn;
    c->warn_data = cb ? data : NULL;
}

const char *keel_conf_error(const keel_conf_t *c)
{
    return c->error.base ? c->error.base : "";
}

const char *keel__conf_group_label(const conf_group_t *g)
{
    return g->name;
}

static conf_group_t *group_new(const char *name)
{
    conf_group_t *g = keel__calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->name = keel__strdup(name);
    if (g->name == NULL) {
        keel__free(g);
        return NULL;
    }
    keel_vec_init(&g->entries);
    return g;
}

static void entry_free(conf_entry_t *e)
{
    for (size_t i = 0; i < e->n_names; i++) {
        keel__free(e->names[i].group);
        keel__free(e->names[i].name);
    }
    keel__free(e->names);
    keel__free(e->dest);
    keel__free(e->override_text);
    keel__free(e->default_text);
    keel__conf_value_clear(&e->value);
    keel__free(e);
}

static void group_free(conf_group_t *g)
{
    keel_vec_free(&g->entries);
    keel__free(g->name);
    keel__free(g->title);
    keel__free(g->help);
    keel__free(g);
}

int keel_conf_new(keel_conf_t **out)
{
    keel_conf_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return KEEL_ENOMEM;
    keel_vec_init(&c->groups);
    keel_vec_init(&c->entries);
    keel_vec_init(&c->cli_order);
    keel_vec_init(&c->hooks);
    keel_vec_init(&c->warned);
    keel_buf_init(&c->error);
    c->warn = default_warn;
    conf_group_t *def = group_new(KEEL__CONF_DEFAULT);
    if (def == NULL || keel_vec_push(&c->groups, def) != 0) {
        if (def != NULL)
            group_free(def);
        keel__free(c);
        return KEEL_ENOMEM;
    }
    *out = c;
    return 0;
}

static void free_strv(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        keel__free(*p);
    keel__free(v);
}

static void forget_setup(keel_conf_t *c)
{
    for (int i = 0; i < c->argc; i++)
        keel__free(c->argv[i]);
    keel__free(c->argv);
    c->argv = NULL;
    c->argc = 0;
    keel__free(c->prog);
    keel__free(c->version);
    keel__free(c->usage);
    keel__free(c->description);
    free_strv(c->default_files);
    free_strv(c->default_dirs);
    c->prog = c->version = c->usage = c->description = NULL;
    c->default_files = c->default_dirs = NULL;
}

void keel_conf_free(keel_conf_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->entries.len; i++)
        entry_free(c->entries.items[i]);
    for (size_t i = 0; i < c->groups.len; i++)
        group_free(c->groups.items[i]);
    for (size_t i = 0; i < c->hooks.len; i++)
        keel__free(c->hooks.items[i]);
    for (size_t i = 0; i < c->warned.len; i++)
        keel__free(c->warned.items[i]);
    keel_vec_free(&c->entries);
    keel_vec_free(&c->groups);
    keel_vec_free(&c->cli_order);
    keel_vec_free(&c->hooks);
    keel_vec_free(&c->warned);
    keel__conf_ns_free(c->ns);
    forget_setup(c);
    keel_buf_free(&c->error);
    keel__free(c);
}

static bool is_default_group(const char *group)
{
    return group == NULL || strcmp(group, KEEL__CONF_DEFAULT) == 0;
}

conf_group_t *keel__conf_find_group(const keel_conf_t *c, const char *name)
{
    if (is_default_group(name))
        return c->groups.items[0];
    for (size_t i = 1; i < c->groups.len; i++) {
        conf_group_t *g = c->groups.items[i];
        if (strcmp(g->name, name) == 0)
            return g;
    }
    return NULL;
}

conf_entry_t *keel__conf_find_entry(const conf_group_t *g, const char *dest)
{
    for (size_t i = 0; i < g->entries.len; i++) {
        conf_entry_t *e = g->entries.items[i];
        if (strcmp(e->dest, dest) == 0)
            return e;
    }
    return NULL;
}

conf_entry_t *keel__conf_find_deprecated(const keel_conf_t *c, const char *group, const char *dest)
{
    const char *want = group ? group : KEEL__CONF_DEFAULT;
    /* oslo keeps one map, so the last registration of a former name wins. */
    for (size_t i = c->entries.len; i-- > 0;) {
        conf_entry_t *e = c->entries.items[i];
        for (size_t j = 1; j < e->n_names; j++) {
            const conf_name_t *n = &e->names[j];
            if (n->name == NULL || !n->explicit_name)
                continue;
            const char *ng = n->group ? n->group : KEEL__CONF_DEFAULT;
            if (strcmp(ng, want) == 0 && strcmp(n->name, dest) == 0)
                return e;
        }
    }
    return NULL;
}

static conf_group_t *get_or_make_group(keel_conf_t *c, const char *name)
{
    conf_group_t *g = keel__conf_find_group(c, name);
    if (g != NULL)
        return g;
    g = group_new(name);
    if (g == NULL)
        return NULL;
    if (keel_vec_push(&c->groups, g) != 0) {
        group_free(g);
        return NULL;
    }
    return g;
}

int keel_conf_register_group(keel_conf_t *c, const char *group, const char *title, const char *help)
{
    conf_group_t *g = get_or_make_group(c, group);
    if (g == NULL)
        return KEEL_ENOMEM;
    char *t = title ? keel__strdup(title) : NULL;
    char *h = help ? keel__strdup(help) : NULL;
    if ((title && t == NULL) || (help && h == NULL)) {
        keel__free(t);
        keel__free(h);
        return KEEL_ENOMEM;
    }
    keel__free(g->title);
    keel__free(g->help);
    g->title = t;
    g->help = h;
    return 0;
}

static char *underscored(const char *s)
{
    char *d = keel__strdup(s);
    if (d != NULL)
        for (char *p = d; *p; p++)
            if (*p == '-')
                *p = '_';
    return d;
}

static int add_name(conf_entry_t *e, const char *group, const char *name, bool explicit_name)
{
    conf_name_t *names = keel__realloc(e->names, (e->n_names + 1) * sizeof(*names));
    if (names == NULL)
        return KEEL_ENOMEM;
    e->names = names;
    conf_name_t *n = &names[e->n_names];
    n->group = group ? keel__strdup(group) : NULL;
    n->name = keel__strdup(name);
    n->explicit_name = explicit_name;
    if ((group && n->group == NULL) || n->name == NULL) {
        keel__free(n->group);
        keel__free(n->name);
        return KEEL_ENOMEM;
    }
    e->n_names++;
    return 0;
}

/* Opt.__init__'s deprecated_opts list, then _get_from_namespace's names:
 * each former (group, name), plus an underscore twin for dashed names. */
static int add_deprecated(conf_entry_t *e, const char *dgroup, const char *dname)
{
    if (dgroup == NULL && dname == NULL)
        return 0;
    int rc = add_name(e, dgroup, dname ? dname : e->dest, dname != NULL);
    if (rc == 0 && dname != NULL && strchr(dname, '-') != NULL) {
        char *u = underscored(dname);
        if (u == NULL)
            return KEEL_ENOMEM;
        rc = add_name(e, dgroup, u, true);
        keel__free(u);
    }
    return rc;
}

static int build_names(conf_entry_t *e)
{
    const keel_conf_opt_t *o = e->opt;
    int rc = add_name(e, NULL, e->dest, true);
    for (const keel_conf_deprecated_t *d = o->deprecated_opts; rc == 0 && d && (d->name || d->group); d++)
        rc = add_deprecated(e, d->group, d->name);
    if (rc == 0)
        rc = add_deprecated(e, o->deprecated_group, o->deprecated_name);
    return rc;
}

/* Opt._default_is_ref: a default that interpolates is checked when used. */
static bool default_is_ref(const char *text)
{
    for (const char *p = text; *p; p++) {
        if (p[0] == '\\' && p[1] == '$')
            p++;
        else if (p[0] == '$' && p[1] == '$')
            p++;
        else if (p[0] == '$')
            return true;
    }
    return false;
}

static int check_default(keel_conf_t *c, const char *group, const keel_conf_opt_t *o)
{
    keel_buf_t why;
    keel_buf_init(&why);
    int rc = 0;
    keel_conf_type_t t = o->type == KEEL_CONF_MULTI ? o->item_type : o->type;
    if (o->type == KEEL_CONF_MULTI) {
        for (const char *const *d = o->default_multi; rc == 0 && d && *d; d++) {
            if (default_is_ref(*d))
                continue;
            keel_conf_value_t v = {0};
            rc = keel__conf_convert(o, t, *d, strlen(*d), &v, &why);
            keel__conf_value_clear(&v);
        }
    } else if (o->default_value != NULL && !default_is_ref(o->default_value)) {
        keel_conf_value_t v = {0};
        rc = keel__conf_convert(o, t, o->default_value, strlen(o->default_value), &v, &why);
        keel__conf_value_clear(&v);
    }
    if (rc == KEEL_EVALUE)
        rc = keel__conf_errorf(c, KEEL_EVALUE, "default of [%s] %s is not a valid %s: %s", group, o->name,
                               keel_conf_type_name(o->type), why.base ? why.base : "");
    keel_buf_free(&why);
    return rc;
}

/* What oslo_config.types constructors reject: a range with max below min,
 * port bounds outside 0..65535, choices outside the range, choices
 * together with a regex. */
static int check_row(keel_conf_t *c, const keel_conf_opt_t *o)
{
    keel_conf_type_t t = o->type == KEEL_CONF_MULTI ? o->item_type : o->type;
    bool has_min = o->flags & KEEL_CONF_HAS_MIN, has_max = o->flags & KEEL_CONF_HAS_MAX;
    double min = o->min, max = o->max;
    if (t == KEEL_CONF_STRING && o->choices && o->choices[0] && o->regex)
        return keel__conf_errorf(c, KEEL_EINVAL, "option %s: 'choices' and 'regex' cannot both be specified", o->name);
    if (t != KEEL_CONF_INT && t != KEEL_CONF_PORT && t != KEEL_CONF_FLOAT)
        return 0;
    if (t == KEEL_CONF_PORT) {
        if (has_min && min < 0)
            return keel__conf_errorf(c, KEEL_EINVAL, "option %s: Min value cannot be less than 0", o->name);
        if (has_max && max > 65535)
            return keel__conf_errorf(c, KEEL_EINVAL, "option %s: Max value cannot be more than 65535", o->name);
        if (!has_min)
            min = 0, has_min = true;
        if (!has_max)
            max = 65535, has_max = true;
    }
    if (has_min && has_max && max < min)
        return keel__conf_errorf(c, KEEL_EINVAL, "option %s: Max value is less than min value", o->name);
    for (const char *const *ch = o->choices; ch && *ch; ch++) {
        char *end;
        double v = strtod(*ch, &end);
        if (end == *ch)
            continue;
        if ((has_min && v < min) || (has_max && v > max))
            return keel__conf_errorf(c, KEEL_EINVAL, "option %s: Choices [%s] are out of bounds", o->name, *ch);
    }
    return 0;
}

static int register_one(keel_conf_t *c, const char *group, const keel_conf_opt_t *o, bool cli)
{
    if (o->name == NULL || o->name[0] == '\0' || o->name[0] == '_' || (unsigned)o->type >= KEEL_CONF_TYPE_COUNT_)
        return keel__conf_errorf(c, KEEL_EINVAL, "illegal option name or type: %s", o->name ? o->name : "(null)");
    if (o->type == KEEL_CONF_MULTI && o->item_type == KEEL_CONF_MULTI)
        return keel__conf_errorf(c, KEEL_EINVAL, "option %s: multi items cannot be multi", o->name);
    if (is_default_group(group) && in_list(reserved_names, o->name))
        return keel__conf_errorf(c, KEEL_EINVAL, "Name %s was reserved for oslo.config.", o->name);
    if ((o->flags & KEEL_CONF_POSITIONAL) && o->type == KEEL_CONF_BOOL)
        return keel__conf_errorf(c, KEEL_EINVAL, "option %s: positional boolean args not supported", o->name);
    if (cli && c->parsed)
        return keel__conf_errorf(c, KEEL_EBUSY, "option %s: arguments already parsed, cannot register CLI option", o->name);
    int bad = check_row(c, o);
    if (bad != 0)
        return bad;

    conf_group_t *g = get_or_make_group(c, group);
    if (g == NULL)
        return KEEL_ENOMEM;
    char *dest = o->dest ? keel__strdup(o->dest) : underscored(o->name);
    if (dest == NULL)
        return KEEL_ENOMEM;
    if (is_default_group(group) && in_list(builtin_names, dest)) {
        keel__free(dest);
        return keel__conf_errorf(c, KEEL_EDUPLICATE, "duplicate option: %s (registered by the config module itself)", o->name);
    }
    conf_entry_t *old = keel__conf_find_entry(g, dest);
    if (old != NULL) {
        keel__free(dest);
        if (old->opt != o)
            return keel__conf_errorf(c, KEEL_EDUPLICATE, "duplicate option: %s", o->name);
        if (cli && !old->cli) /* registered before as a plain option: now also CLI */
            goto add_cli;
        return 0;
    }
    int rc = check_default(c, keel__conf_group_label(g), o);
    if (rc != 0) {
        keel__free(dest);
        return rc;
    }

    conf_entry_t *e = keel__calloc(1, sizeof(*e));
    if (e == NULL) {
        keel__free(dest);
        return KEEL_ENOMEM;
    }
    e->opt = o;
    e->group = g;
    e->dest = dest;
    rc = build_names(e);
    if (rc == 0)
        rc = keel_vec_push(&c->entries, e);
    if (rc == 0 && (rc = keel_vec_push(&g->entries, e)) != 0)
        c->entries.len--;
    if (rc != 0) {
        entry_free(e);
        return rc;
    }
    old = e;
    if (c->parsed) {
        /* Registered after parse: resolve now against the files already read. */
        rc = keel__conf_resolve_entry(c, c->ns, e);
        if (rc != 0)
            return rc;
    }
    if (!cli)
        return 0;
add_cli:
    old->cli = true;
    /* oslo's deque: positionals keep their order, other options go in front. */
    if (old->opt->flags & KEEL_CONF_POSITIONAL)
        return keel_vec_push(&c->cli_order, old);
    return keel_vec_insert(&c->cli_order, 0, old);
}

static int register_many(keel_conf_t *c, const char *group, const keel_conf_opt_t *opts, size_t n, bool cli)
{
    keel_buf_reset(&c->error);
    for (size_t i = 0; i < n; i++) {
        int rc = register_one(c, group, &opts[i], cli);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int keel_conf_register_opts(keel_conf_t *c, const char *group, const keel_conf_opt_t *opts, size_t n)
{
    return register_many(c, group, opts, n, false);
}

int keel_conf_register_cli_opts(keel_conf_t *c, const char *group, const keel_conf_opt_t *opts, size_t n)
{
    return register_many(c, group, opts, n, true);
}

/* ---- parse and reload ---- */

static char **copy_strv(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = keel__calloc(n + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = keel__strdup(v[i]);
        if (out[i] == NULL) {
            free_strv(out);
            return NULL;
        }
    }
    return out;
}

static int dup_opt(char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    *dst = keel__strdup(src);
    return *dst ? 0 : KEEL_ENOMEM;
}

/* Resolves ~ the way os.path.expanduser does for the current user. */
static int search_path(keel_buf_t *b, const char *dir, const char *base, const char *ext)
{
    keel_buf_reset(b);
    int rc = 0;
    if (dir[0] == '~') {
        const char *home = getenv("HOME");
        rc = keel_buf_puts(b, home ? home : "");
        dir++;
    }
    if (rc == 0)
        rc = keel_buf_printf(b, "%s/%s%s", dir, base, ext);
    return rc;
}

/* cfg._find_config_files: the first existing ~/.P/, ~/, /etc/P/, /etc/
 * copy of project and of prog. */
static char **find_defaults(const char *project, const char *prog, const char *ext)
{
    const char *names[2] = {project, prog};
    const char *found[3] = {NULL, NULL, NULL};
    char *owned[2] = {NULL, NULL};
    size_t n = 0;
    keel_buf_t b;
    keel_buf_init(&b);
    for (int k = 0; k < 2; k++) {
        if (names[k] == NULL || names[k][0] == '\0')
            continue;
        char dirs[4][512];
        int nd = 0;
        if (project)
            snprintf(dirs[nd++], sizeof(dirs[0]), "~/.%s", project);
        snprintf(dirs[nd++], sizeof(dirs[0]), "~");
        if (project)
            snprintf(dirs[nd++], sizeof(dirs[0]), "/etc/%s", project);
        snprintf(dirs[nd++], sizeof(dirs[0]), "/etc");
        for (int d = 0; d < nd; d++) {
            if (search_path(&b, dirs[d], names[k], ext) != 0)
                break;
            if (access(b.base, F_OK) == 0) {
                owned[n] = keel_buf_steal(&b);
                found[n] = owned[n];
                n++;
                break;
            }
        }
    }
    keel_buf_free(&b);
    char **v = copy_strv(found);
    keel__free(owned[0]);
    keel__free(owned[1]);
    return v;
}

static int save_setup(keel_conf_t *c, int argc, char *const *argv, const keel_conf_setup_t *s)
{
    static const keel_conf_setup_t none = {0};
    if (s == NULL)
        s = &none;
    forget_setup(c);
    c->argv = keel__calloc((size_t)argc + 1, sizeof(char *));
    if (c->argv == NULL)
        return KEEL_ENOMEM;
    for (int i = 0; i < argc; i++) {
        c->argv[i] = keel__strdup(argv[i]);
        if (c->argv[i] == NULL)
            return KEEL_ENOMEM;
        c->argc = i + 1;
    }
    const char *prog = s->prog;
    if (prog == NULL && argc > 0) {
        prog = strrchr(argv[0], '/');
        prog = prog ? prog + 1 : argv[0];
    }
    int rc = dup_opt(&c->prog, prog ? prog : "keel");
    if (rc == 0)
        rc = dup_opt(&c->version, s->version);
    if (rc == 0)
        rc = dup_opt(&c->usage, s->usage);
    if (rc == 0)
        rc = dup_opt(&c->description, s->description);
    if (rc != 0)
        return rc;
    /* A prog of "x.py" searches for x.conf, as oslo strips the suffix. */
    char prog_base[256];
    snprintf(prog_base, sizeof(prog_base), "%s", c->prog);
    size_t pl = strlen(prog_base);
    if (pl > 3 && strcmp(prog_base + pl - 3, ".py") == 0)
        prog_base[pl - 3] = '\0';
    c->default_files = s->default_config_files ? copy_strv(s->default_config_files) : find_defaults(s->project, prog_base, ".conf");
    c->default_dirs = s->default_config_dirs ? copy_strv(s->default_config_dirs) : find_defaults(s->project, prog_base, ".conf.d");
    c->no_env = s->no_env;
    return (c->default_files && c->default_dirs) ? 0 : KEEL_ENOMEM;
}

static bool argv_has(const keel_conf_t *c, const char *opt)
{
    size_t n = strlen(opt);
    for (int i = 1; i < c->argc; i++)
        if (strncmp(c->argv[i], opt, n) == 0 && (c->argv[i][n] == '\0' || c->argv[i][n] == '='))
            return true;
    return false;
}

static int join_paths(keel_conf_t *c, int err, const char *what, const keel_vec_t *paths)
{
    keel_buf_t b;
    keel_buf_init(&b);
    for (size_t i = 0; i < paths->len; i++)
        keel_buf_printf(&b, "%s%s", i ? "," : "", (char *)paths->items[i]);
    err = keel__conf_errorf(c, err, "%s: %s", what, b.base ? b.base : "");
    keel_buf_free(&b);
    return err;
}

/* ConfigOpts._parse_config_files: default files and directories unless the
 * command line names its own, then the command line itself. */
static int build_namespace(keel_conf_t *c, bool quiet, conf_ns_t **out)
{
    conf_ns_t *ns = keel__conf_ns_new();
    if (ns == NULL)
        return KEEL_ENOMEM;
    int rc = 0;
    if (!argv_has(c, "--config-file"))
        for (char **f = c->default_files; rc == 0 && *f; f++)
            rc = keel__conf_ns_parse_file(c, ns, *f);
    if (rc == 0 && !argv_has(c, "--config-dir"))
        for (char **d = c->default_dirs; rc == 0 && *d; d++)
            rc = keel__conf_ns_parse_dir(c, ns, *d, false);
    if (rc == 0)
        rc = keel__conf_argparse(c, ns, quiet);
    if (rc == 0 && ns->not_found.len > 0)
        rc = join_paths(c, KEEL_ENOENT, "Failed to find some config files", &ns->not_found);
    if (rc == 0 && ns->denied.len > 0)
        rc = join_paths(c, KEEL_EACCES, "Failed to open some config files", &ns->denied);
    if (rc != 0) {
        keel__conf_ns_free(ns);
        return rc;
    }
    *out = ns;
    return 0;
}

/* Moves every entry's value out (to restore on failure) and marks all
 * entries unresolved. */
static keel_conf_value_t *stash_values(keel_conf_t *c)
{
    keel_conf_value_t *saved = keel__calloc(c->entries.len + 1, sizeof(*saved));
    if (saved == NULL)
        return NULL;
    for (size_t i = 0; i < c->entries.len; i++) {
        conf_entry_t *e = c->entries.items[i];
        saved[i] = e->value;
        e->value = (keel_conf_value_t){0};
        e->state = ENTRY_UNRESOLVED;
    }
    return saved;
}

static void restore_values(keel_conf_t *c, keel_conf_value_t *saved)
{
    for (size_t i = 0; i < c->entries.len; i++) {
        conf_entry_t *e = c->entries.items[i];
        keel__conf_value_clear(&e->value);
        e->value = saved[i];
        e->state = ENTRY_RESOLVED;
    }
    keel__free(saved);
}

static void drop_values(keel_conf_t *c, keel_conf_value_t *saved)
{
    for (size_t i = 0; i < c->entries.len; i++)
        keel__conf_value_clear(&saved[i]);
    keel__free(saved);
}

int keel_conf_parse(keel_conf_t *c, int argc, char *const *argv, const keel_conf_setup_t *setup)
{
    keel_buf_reset(&c->error);
    for (size_t i = 0; i < c->warned.len; i++)
        keel__free(c->warned.items[i]);
    c->warned.len = 0;
    int rc = save_setup(c, argc, argv, setup);
    if (rc != 0)
        return rc;
    conf_ns_t *ns = NULL;
    rc = build_namespace(c, false, &ns);
    if (rc != 0)
        return rc;
    keel_conf_value_t *saved = stash_values(c);
    if (saved == NULL) {
        keel__conf_ns_free(ns);
        return KEEL_ENOMEM;
    }
    rc = keel__conf_resolve_all(c, ns);
    if (rc != 0) {
        restore_values(c, saved);
        keel__conf_ns_free(ns);
        return rc;
    }
    drop_values(c, saved);
    keel__conf_ns_free(c->ns);
    c->ns = ns;
    c->parsed = true;
    return 0;
}

int keel_conf_on_mutate(keel_conf_t *c, keel_conf_mutate_cb cb, void *data)
{
    conf_hook_t *h = keel__malloc(sizeof(*h));
    if (h == NULL)
        return KEEL_ENOMEM;
    h->cb = cb;
    h->data = data;
    int rc = keel_vec_push(&c->hooks, h);
    if (rc != 0)
        keel__free(h);
    return rc;
}

int keel_conf_reload(keel_conf_t *c)
{
    keel_buf_reset(&c->error);
    if (!c->parsed)
        return keel__conf_errorf(c, KEEL_EINVAL, "reload before parse");
    conf_ns_t *ns = NULL;
    int rc = build_namespace(c, true, &ns);
    if (rc != 0)
        return rc;
    keel_conf_value_t *old = stash_values(c);
    if (old == NULL) {
        keel__conf_ns_free(ns);
        return KEEL_ENOMEM;
    }
    rc = keel__conf_resolve_all(c, ns);
    if (rc != 0) {
        restore_values(c, old);
        keel__conf_ns_free(ns);
        return rc;
    }
    /* Keep immutable values as they were; collect mutable changes. */
    keel_vec_t changed;
    keel_vec_init(&changed);
    for (size_t i = 0; i < c->entries.len; i++) {
        conf_entry_t *e = c->entries.items[i];
        if (keel__conf_value_equal(&e->value, &old[i]))
            continue;
        if (e->opt->flags & KEEL_CONF_MUTABLE) {
            if (keel_vec_push(&changed, (void *)(uintptr_t)i) != 0)
                rc = KEEL_ENOMEM;
            continue;
        }
        keel__conf_warnf(c, "Ignoring change to immutable option %s.%s", keel__conf_group_label(e->group), e->opt->name);
        keel_conf_value_t tmp = e->value;
        e->value = old[i];
        old[i] = tmp;
    }
    for (size_t k = 0; k < changed.len; k++) {
        size_t i = (size_t)(uintptr_t)changed.items[k];
        conf_entry_t *e = c->entries.items[i];
        for (size_t h = 0; h < c->hooks.len; h++) {
            conf_hook_t *hook = c->hooks.items[h];
            hook->cb(c, keel__conf_group_label(e->group), e->opt->name, &old[i], &e->value, hook->data);
        }
    }
    keel_vec_free(&changed);
    drop_values(c, old);
    keel__conf_ns_free(c->ns);
    c->ns = ns;
    return rc;
}

/* ---- access ---- */

static conf_entry_t *lookup(const keel_conf_t *c, const char *group, const char *name, int *err)
{
    conf_group_t *g = keel__conf_find_group(c, group);
    if (g == NULL) {
        *err = KEEL_ENOGROUP;
        return NULL;
    }
    conf_entry_t *e = keel__conf_find_entry(g, name);
    if (e == NULL) {
        char *u = underscored(name);
        if (u != NULL)
            e = keel__conf_find_entry(g, u);
        keel__free(u);
    }
    *err = e ? 0 : KEEL_ENOOPT;
    return e;
}

int keel_conf_get(const keel_conf_t *c, const char *group, const char *name, const keel_conf_value_t **out)
{
    int err;
    conf_entry_t *e = lookup(c, group, name, &err);
    if (e == NULL)
        return err;
    *out = &e->value;
    return 0;
}

static const keel_conf_value_t *must_get(const keel_conf_t *c, const char *group, const char *name, keel_conf_vkind_t kind)
{
    const keel_conf_value_t *v = NULL;
    int rc = keel_conf_get(c, group, name, &v);
    if (rc != 0) {
        fprintf(stderr, "keel_conf: option [%s] %s is not registered\n", group ? group : KEEL__CONF_DEFAULT, name);
        KEEL_ASSERT(rc == 0);
    }
    KEEL_ASSERT(v->kind == kind || v->kind == KEEL_CONF_VNONE);
    return v;
}

const char *keel_conf_get_str(const keel_conf_t *c, const char *group, const char *name)
{
    const keel_conf_value_t *v = must_get(c, group, name, KEEL_CONF_VSTR);
    return v->kind == KEEL_CONF_VSTR ? v->u.s : NULL;
}

bool keel_conf_get_bool(const keel_conf_t *c, const char *group, const char *name)
{
    const keel_conf_value_t *v = must_get(c, group, name, KEEL_CONF_VBOOL);
    return v->kind == KEEL_CONF_VBOOL && v->u.b;
}

int64_t keel_conf_get_int(const keel_conf_t *c, const char *group, const char *name, int64_t fallback)
{
    const keel_conf_value_t *v = must_get(c, group, name, KEEL_CONF_VINT);
    return v->kind == KEEL_CONF_VINT ? v->u.i : fallback;
}

double keel_conf_get_float(const keel_conf_t *c, const char *group, const char *name, double fallback)
{
    const keel_conf_value_t *v = must_get(c, group, name, KEEL_CONF_VFLOAT);
    return v->kind == KEEL_CONF_VFLOAT ? v->u.f : fallback;
}

/* set_override / set_default: the text must convert now (oslo enforces the
 * type when the override is set); the value changes at once. */
static int set_text(keel_conf_t *c, const char *group, const char *name, const char *text, bool is_override)
{
    keel_buf_reset(&c->error);
    int err;
    conf_entry_t *e = lookup(c, group, name, &err);
    if (e == NULL)
        return keel__conf_errorf(c, err, "no such option [%s] %s", group ? group : KEEL__CONF_DEFAULT, name);
    char *copy = NULL;
    if (text != NULL && (copy = keel__strdup(text)) == NULL)
        return KEEL_ENOMEM;
    char **slot = is_override ? &e->override_text : &e->default_text;
    char *prev = *slot;
    bool prev_has = e->has_default_text;
    *slot = copy;
    if (!is_override)
        e->has_default_text = text != NULL;
    keel_conf_value_t old = e->value;
    e->value = (keel_conf_value_t){0};
    e->state = ENTRY_UNRESOLVED;
    int rc = keel__conf_resolve_entry(c, c->ns, e);
    if (rc != 0) {
        keel__conf_value_clear(&e->value);
        e->value = old;
        e->state = ENTRY_RESOLVED;
        *slot = prev;
        if (!is_override)
            e->has_default_text = prev_has;
        keel__free(copy);
        return rc;
    }
    keel__conf_value_clear(&old);
    keel__free(prev);
    return 0;
}

int keel_conf_set_override(keel_conf_t *c, const char *group, const char *name, const char *text)
{
    return set_text(c, group, name, text, true);
}

int keel_conf_set_default(keel_conf_t *c, const char *group, const char *name, const char *text)
{
    return set_text(c, group, name, text, false);
}

size_t keel_conf_config_files(const keel_conf_t *c, const char **out, size_t max)
{
    size_t n = 0;
    conf_attr_t *a = c->ns ? keel__conf_ns_attr(c->ns, "config_file", false) : NULL;
    if (a != NULL && a->kind == ATTR_LIST) {
        for (size_t i = 0; i < a->list.len; i++, n++)
            if (n < max)
                out[n] = ((conf_text_t *)a->list.items[i])->text;
        return n;
    }
    for (char **f = c->default_files; f && *f; f++, n++)
        if (n < max)
            out[n] = *f;
    return n;
}

void keel_conf_foreach(const keel_conf_t *c, keel_conf_visit_cb cb, void *data)
{
    for (size_t i = 0; i < c->groups.len; i++) {
        conf_group_t *g = c->groups.items[i];
        for (size_t j = 0; j < g->entries.len; j++) {
            conf_entry_t *e = g->entries.items[j];
            cb(data, g->name, e->opt, &e->value);
        }
    }
}

void keel_conf_print_help(const keel_conf_t *c, FILE *f)
{
    keel__conf_help(c, f);
}
